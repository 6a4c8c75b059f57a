output "web_acl_arn" {
  description = "ARN of the web ACL (associated with the load balancer)."
  value       = aws_wafv2_web_acl.this.arn
}
