output "health_check_ids" {
  description = "Route 53 health check id by region role."
  value       = { for k, h in aws_route53_health_check.api : k => h.id }
}

output "api_url" {
  description = "URL of the API and console."
  value       = "https://${var.api_domain_name}"
}
