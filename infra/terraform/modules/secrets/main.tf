# Secrets Manager secrets the containers read. Terraform creates the secrets, never their
# values: operators put them with `aws secretsmanager put-secret-value` (docs/runbooks), so no
# password, token or key is in the code or in the Terraform state.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.80" }
  }
}

resource "aws_secretsmanager_secret" "this" {
  # checkov:skip=CKV2_AWS_57:These hold third-party credentials (IMAP, SMTP, Twilio, Elastic API key, the app's DB role) rotated by their providers' procedures in docs/runbooks; the RDS master password is rotated by RDS itself.
  for_each                = var.secrets
  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 30

  dynamic "replica" {
    for_each = var.standby_kms_key_arn == null ? [] : [1]
    content {
      region     = var.standby_region
      kms_key_id = var.standby_kms_key_arn
    }
  }

  tags = var.tags
}
