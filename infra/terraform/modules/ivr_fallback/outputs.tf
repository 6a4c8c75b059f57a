output "distribution_arn" {
  description = "ARN of the distribution (the only reader the bucket policy allows)."
  value       = aws_cloudfront_distribution.this.arn
}

output "distribution_domain_name" {
  description = "CloudFront domain to alias domain_name to."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "distribution_hosted_zone_id" {
  description = "Hosted zone id for the Route 53 alias."
  value       = aws_cloudfront_distribution.this.hosted_zone_id
}

output "fallback_url" {
  description = "Set as the Twilio number's Voice fallback URL (method GET)."
  value       = "https://${var.domain_name}/${var.object_key}"
}
