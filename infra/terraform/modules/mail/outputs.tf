output "smtp_host" {
  description = "SES SMTP endpoint for SUPPORT_SMTP_HOST (null when the customer's relay is used)."
  value       = var.use_ses ? "email-smtp.${data.aws_region.current.name}.amazonaws.com" : null
}

output "smtp_user_name" {
  description = "IAM user whose access key (made out of band) gives the SES SMTP credentials."
  value       = var.use_ses ? aws_iam_user.smtp[0].name : null
}

output "configuration_set" {
  description = "SES configuration set (send with the X-SES-CONFIGURATION-SET header or as identity default)."
  value       = var.use_ses ? aws_sesv2_configuration_set.this[0].configuration_set_name : null
}
