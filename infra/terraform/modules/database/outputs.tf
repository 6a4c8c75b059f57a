output "instance_arn" {
  description = "ARN of the primary instance (source of the standby replica, AWS Backup selection)."
  value       = aws_db_instance.this.arn
}

output "identifier" {
  description = "Identifier of the primary instance (for alarms and the restore runbook)."
  value       = aws_db_instance.this.identifier
}

output "endpoint" {
  description = "Host name of the primary (follows a Multi-AZ failover)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the master credentials, managed by RDS."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.db.id
}
