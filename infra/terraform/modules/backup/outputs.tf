output "vault_name" {
  description = "Primary backup vault."
  value       = aws_backup_vault.primary.name
}

output "standby_vault_arn" {
  description = "Backup vault of the standby region (cross-region copies)."
  value       = aws_backup_vault.standby.arn
}

output "plan_id" {
  description = "Backup plan id."
  value       = aws_backup_plan.this.id
}
