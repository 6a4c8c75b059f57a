output "api_url" {
  description = "URL of the API and console."
  value       = module.dns.api_url
}

output "ivr_fallback_url" {
  description = "Set as each Twilio number's Voice fallback URL, method GET."
  value       = module.ivr_fallback.fallback_url
}

output "ecr_repository_url" {
  description = "Where to push the image (docker push <url>:<commit>)."
  value       = module.compute.repository_url
}

output "cluster_name" {
  description = "ECS cluster of the primary region."
  value       = module.compute.cluster_name
}

output "standby_cluster_name" {
  description = "ECS cluster of the standby region (services at 0 tasks until failover)."
  value       = module.compute_standby.cluster_name
}

output "task_definition_arns" {
  description = "Task definitions for one-off tasks (support db upgrade, support backup create)."
  value       = module.compute.task_definition_arns
}

output "database_identifier" {
  description = "RDS identifier of the primary (point-in-time restore runbook)."
  value       = module.database.identifier
}

output "database_endpoint" {
  description = "Host name of the primary database."
  value       = module.database.endpoint
}

output "database_master_secret_arn" {
  description = "Secret with the RDS master credentials (managed and rotated by RDS)."
  value       = module.database.master_user_secret_arn
}

output "standby_database_identifier" {
  description = "RDS identifier of the cross-region replica (promoted by the failover runbook)."
  value       = module.database_standby.identifier
}

output "search_private_endpoint" {
  description = "Elasticsearch URL through PrivateLink (without credentials)."
  value       = module.search.private_endpoint
}

output "secret_arns" {
  description = "Secrets whose values operators put (aws secretsmanager put-secret-value)."
  value       = module.secrets.arns
}

output "bucket_names" {
  description = "Data buckets by purpose."
  value       = module.storage.bucket_names
}

output "replica_bucket_names" {
  description = "Replica buckets in the standby region."
  value       = module.storage.replica_bucket_names
}

output "nat_public_ips" {
  description = "Source addresses of our outbound traffic (for IMAP/SMTP providers' allow lists)."
  value       = module.network.nat_public_ips
}

output "alarm_topic_arn" {
  description = "SNS topic every primary-region alarm pages through."
  value       = module.monitoring.topic_arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm by what it watches."
  value       = module.monitoring.alarm_names
}

output "backup_vault_name" {
  description = "AWS Backup vault of the primary region."
  value       = module.backup.vault_name
}

output "smtp_host" {
  description = "SMTP host the containers send through."
  value       = local.environment.SUPPORT_SMTP_HOST
}

output "health_check_ids" {
  description = "Route 53 health checks: primary and standby (/healthz, drive DNS failover), ready (/readyz, pages). Invert primary to force a failover."
  value       = module.dns.health_check_ids
}

output "private_subnet_ids" {
  description = "Private subnets of the primary region (one-off ECS tasks)."
  value       = module.network.private_subnet_ids
}

output "tasks_security_group_id" {
  description = "Security group of the tasks (one-off ECS tasks)."
  value       = module.compute.tasks_security_group_id
}
