output "bucket_names" {
  description = "Primary bucket name by purpose (SUPPORT_* settings of the containers)."
  value       = { for k, b in aws_s3_bucket.primary : k => b.id }
}

output "bucket_arns" {
  description = "Primary bucket ARN by purpose (IAM policies, AWS Backup)."
  value       = { for k, b in aws_s3_bucket.primary : k => b.arn }
}

output "bucket_regional_domain_names" {
  description = "Primary bucket regional domain name by purpose (CloudFront origins)."
  value       = { for k, b in aws_s3_bucket.primary : k => b.bucket_regional_domain_name }
}

output "replica_bucket_names" {
  description = "Replica bucket name by purpose, in the standby region."
  value       = { for k, b in aws_s3_bucket.replica : k => b.id }
}

output "replica_bucket_regional_domain_names" {
  description = "Replica bucket regional domain name by purpose (CloudFront failover origins)."
  value       = { for k, b in aws_s3_bucket.replica : k => b.bucket_regional_domain_name }
}

output "log_bucket_name" {
  description = "Access-log bucket of the primary region (ALB logs go under alb/)."
  value       = aws_s3_bucket.logs.id
}

output "replica_bucket_arns" {
  description = "Replica bucket ARN by purpose, in the standby region."
  value       = { for k, b in aws_s3_bucket.replica : k => b.arn }
}

output "standby_log_bucket_name" {
  description = "Access-log bucket of the standby region (the standby ALB logs under alb/)."
  value       = aws_s3_bucket.logs_standby.id
}
