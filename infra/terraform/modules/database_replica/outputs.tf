output "identifier" {
  description = "Identifier of the replica (what the failover runbook promotes)."
  value       = aws_db_instance.this.identifier
}

output "endpoint" {
  description = "Host name of the replica."
  value       = aws_db_instance.this.address
}

output "instance_arn" {
  description = "ARN of the replica."
  value       = aws_db_instance.this.arn
}
