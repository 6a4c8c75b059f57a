output "arns" {
  description = "Secret ARN by name (for the task definitions and the runbooks)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}
