# AWS Backup: daily and monthly recovery points of the database and the buckets, in a locked,
# encrypted vault, each copied to a vault in the standby region. This is independent of RDS's
# own point-in-time recovery (35 days) and of S3 replication (which also replicates a deletion).

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  name               = "${var.name}-backup"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "backup" {
  for_each = toset([
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
  ])
  role       = aws_iam_role.backup.name
  policy_arn = each.value
}

resource "aws_backup_vault" "primary" {
  name          = var.name
  kms_key_arn   = var.kms_key_arn
  force_destroy = false
  tags          = var.tags
}

resource "aws_backup_vault" "standby" {
  provider      = aws.standby
  name          = "${var.name}-standby"
  kms_key_arn   = var.standby_kms_key_arn
  force_destroy = false
  tags          = var.tags
}

# Governance-mode lock: nobody deletes a recovery point early without a special permission.
resource "aws_backup_vault_lock_configuration" "primary" {
  backup_vault_name  = aws_backup_vault.primary.name
  min_retention_days = 7
  max_retention_days = var.monthly_retention_days
}

resource "aws_backup_vault_lock_configuration" "standby" {
  provider           = aws.standby
  backup_vault_name  = aws_backup_vault.standby.name
  min_retention_days = 7
  max_retention_days = var.monthly_retention_days
}

resource "aws_backup_vault_notifications" "primary" {
  backup_vault_name   = aws_backup_vault.primary.name
  sns_topic_arn       = var.alarm_topic_arn
  backup_vault_events = ["BACKUP_JOB_FAILED", "COPY_JOB_FAILED", "RESTORE_JOB_COMPLETED", "RESTORE_JOB_FAILED"]
}

resource "aws_backup_plan" "this" {
  name = var.name

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.primary.name
    # 03:00 JST, after RDS's own backup window.
    schedule          = "cron(0 18 * * ? *)"
    start_window      = 60
    completion_window = 360
    lifecycle {
      delete_after = var.daily_retention_days
    }
    copy_action {
      destination_vault_arn = aws_backup_vault.standby.arn
      lifecycle {
        delete_after = var.daily_retention_days
      }
    }
  }

  rule {
    rule_name         = "monthly"
    target_vault_name = aws_backup_vault.primary.name
    schedule          = "cron(0 19 1 * ? *)"
    start_window      = 60
    completion_window = 720
    # No cold storage: AWS Backup cannot move RDS or S3 recovery points to cold tiers.
    lifecycle {
      delete_after = var.monthly_retention_days
    }
    copy_action {
      destination_vault_arn = aws_backup_vault.standby.arn
      lifecycle {
        delete_after = var.monthly_retention_days
      }
    }
  }

  tags = var.tags
}

resource "aws_backup_selection" "this" {
  name         = var.name
  plan_id      = aws_backup_plan.this.id
  iam_role_arn = aws_iam_role.backup.arn
  resources    = var.resource_arns
}
