output "deployment_id" {
  description = "Elastic Cloud deployment id."
  value       = ec_deployment.this.id
}

output "private_endpoint" {
  description = "HTTPS URL of Elasticsearch through PrivateLink (put it with an API key into the search-url secret)."
  value       = "https://${ec_deployment.this.alias}.es.${var.privatelink_domain}:443"
}

output "endpoint_security_group_id" {
  description = "Security group of the PrivateLink endpoint."
  value       = aws_security_group.endpoint.id
}
