# Private S3 buckets (attachments, recordings, IVR fallback TwiML, ...): versioned, encrypted
# with the customer key, public access blocked, owner-enforced, TLS only, access-logged, and
# replicated to a twin bucket in the standby region (encrypted there with that region's key).

data "aws_caller_identity" "current" {}

locals {
  primary_names = { for k, v in var.buckets : k => "${var.name_prefix}-${k}" }
  replica_names = { for k, v in var.buckets : k => "${var.name_prefix}-${k}-${var.standby_suffix}" }
}

# --- server access logs (one bucket per region) ----------------------------------------------

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18:This is the access-log destination itself; logging it into itself would loop.
  # checkov:skip=CKV_AWS_144:Access logs stay in their region; the data buckets are the ones replicated.
  # checkov:skip=CKV_AWS_145:S3 server access logs and ALB access logs can only be delivered to SSE-S3 buckets.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to new log objects; they are read during investigations.
  bucket = "${var.name_prefix}-access-logs"
  tags   = var.tags
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_elb_service_account" "current" {}

data "aws_iam_policy_document" "logs" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
  statement {
    sid       = "AlbAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json
}

# --- data buckets in the primary region ------------------------------------------------------

resource "aws_s3_bucket" "primary" {
  for_each = var.buckets
  bucket   = local.primary_names[each.key]
  tags     = merge(var.tags, { Purpose = each.key })
}

resource "aws_s3_bucket_versioning" "primary" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.primary[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "primary" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.primary[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "primary" {
  for_each                = var.buckets
  bucket                  = aws_s3_bucket.primary[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "primary" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.primary[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "primary" {
  for_each      = var.buckets
  bucket        = aws_s3_bucket.primary[each.key].id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.primary_names[each.key]}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "primary" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.primary[each.key].id
  rule {
    id     = "keep-old-versions-then-expire"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = each.value.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# EventBridge gets every object event: the audit trail and any later processing subscribe there.
resource "aws_s3_bucket_notification" "primary" {
  for_each    = var.buckets
  bucket      = aws_s3_bucket.primary[each.key].id
  eventbridge = true
}

data "aws_iam_policy_document" "primary" {
  for_each = var.buckets
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.primary[each.key].arn, "${aws_s3_bucket.primary[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  dynamic "statement" {
    for_each = contains(keys(var.cloudfront_readers), each.key) ? [var.cloudfront_readers[each.key]] : []
    content {
      sid       = "CloudFrontOriginAccessControlReadsOnly"
      actions   = ["s3:GetObject"]
      resources = ["${aws_s3_bucket.primary[each.key].arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "primary" {
  for_each   = var.buckets
  bucket     = aws_s3_bucket.primary[each.key].id
  policy     = data.aws_iam_policy_document.primary[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.primary]
}

# --- replicas in the standby region -----------------------------------------------------------

resource "aws_s3_bucket" "logs_standby" {
  # checkov:skip=CKV_AWS_18:This is the standby region's access-log destination itself.
  # checkov:skip=CKV_AWS_144:Access logs stay in their region.
  # checkov:skip=CKV_AWS_145:S3 server access logs can only be delivered to SSE-S3 buckets.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to new log objects.
  # checkov:skip=CKV2_AWS_61:The lifecycle rule is aws_s3_bucket_lifecycle_configuration.logs_standby (checkov misses the provider alias).
  provider = aws.standby
  bucket   = "${var.name_prefix}-access-logs-${var.standby_suffix}"
  tags     = var.tags
}

resource "aws_s3_bucket_versioning" "logs_standby" {
  provider = aws.standby
  bucket   = aws_s3_bucket.logs_standby.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs_standby" {
  provider = aws.standby
  bucket   = aws_s3_bucket.logs_standby.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs_standby" {
  provider                = aws.standby
  bucket                  = aws_s3_bucket.logs_standby.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs_standby" {
  provider = aws.standby
  bucket   = aws_s3_bucket.logs_standby.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs_standby" {
  provider = aws.standby
  bucket   = aws_s3_bucket.logs_standby.id
  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_elb_service_account" "standby" {
  provider = aws.standby
}

data "aws_iam_policy_document" "logs_standby" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs_standby.arn, "${aws_s3_bucket.logs_standby.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs_standby.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
  statement {
    sid       = "AlbAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs_standby.arn}/alb/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.standby.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "logs_standby" {
  provider = aws.standby
  bucket   = aws_s3_bucket.logs_standby.id
  policy   = data.aws_iam_policy_document.logs_standby.json
}

resource "aws_s3_bucket" "replica" {
  # checkov:skip=CKV_AWS_144:This bucket is the cross-region replica; replicating it again would loop back.
  for_each = var.buckets
  provider = aws.standby
  bucket   = local.replica_names[each.key]
  tags     = merge(var.tags, { Purpose = each.key, ReplicaOf = local.primary_names[each.key] })
}

resource "aws_s3_bucket_versioning" "replica" {
  for_each = var.buckets
  provider = aws.standby
  bucket   = aws_s3_bucket.replica[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "replica" {
  for_each = var.buckets
  provider = aws.standby
  bucket   = aws_s3_bucket.replica[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.standby_kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "replica" {
  for_each                = var.buckets
  provider                = aws.standby
  bucket                  = aws_s3_bucket.replica[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "replica" {
  for_each = var.buckets
  provider = aws.standby
  bucket   = aws_s3_bucket.replica[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "replica" {
  for_each      = var.buckets
  provider      = aws.standby
  bucket        = aws_s3_bucket.replica[each.key].id
  target_bucket = aws_s3_bucket.logs_standby.id
  target_prefix = "s3/${local.replica_names[each.key]}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "replica" {
  for_each = var.buckets
  provider = aws.standby
  bucket   = aws_s3_bucket.replica[each.key].id
  rule {
    id     = "keep-old-versions-then-expire"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = each.value.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_notification" "replica" {
  for_each    = var.buckets
  provider    = aws.standby
  bucket      = aws_s3_bucket.replica[each.key].id
  eventbridge = true
}

data "aws_iam_policy_document" "replica" {
  for_each = var.buckets
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.replica[each.key].arn, "${aws_s3_bucket.replica[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  dynamic "statement" {
    for_each = contains(keys(var.cloudfront_readers), each.key) ? [var.cloudfront_readers[each.key]] : []
    content {
      sid       = "CloudFrontOriginAccessControlReadsOnly"
      actions   = ["s3:GetObject"]
      resources = ["${aws_s3_bucket.replica[each.key].arn}/*"]
      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "replica" {
  for_each   = var.buckets
  provider   = aws.standby
  bucket     = aws_s3_bucket.replica[each.key].id
  policy     = data.aws_iam_policy_document.replica[each.key].json
  depends_on = [aws_s3_bucket_public_access_block.replica]
}

# --- replication -------------------------------------------------------------------------------

data "aws_iam_policy_document" "replication_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "replication" {
  statement {
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [for b in aws_s3_bucket.primary : b.arn]
  }
  statement {
    actions = [
      "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging",
    ]
    resources = [for b in aws_s3_bucket.primary : "${b.arn}/*"]
  }
  statement {
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = [for b in aws_s3_bucket.replica : "${b.arn}/*"]
  }
  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  statement {
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.standby_kms_key_arn]
  }
}

resource "aws_iam_role" "replication" {
  name               = "${var.name_prefix}-s3-replication"
  assume_role_policy = data.aws_iam_policy_document.replication_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "replication" {
  name   = "replicate-to-standby"
  role   = aws_iam_role.replication.id
  policy = data.aws_iam_policy_document.replication.json
}

resource "aws_s3_bucket_replication_configuration" "primary" {
  for_each = var.buckets
  bucket   = aws_s3_bucket.primary[each.key].id
  role     = aws_iam_role.replication.arn

  rule {
    id     = "to-standby-region"
    status = "Enabled"
    filter {}
    delete_marker_replication {
      status = "Enabled"
    }
    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }
    destination {
      bucket        = aws_s3_bucket.replica[each.key].arn
      storage_class = "STANDARD"
      encryption_configuration {
        replica_kms_key_id = var.standby_kms_key_arn
      }
      # Replication Time Control: 99.99 % of objects within 15 minutes (the RPO of files).
      replication_time {
        status = "Enabled"
        time {
          minutes = 15
        }
      }
      metrics {
        status = "Enabled"
        event_threshold {
          minutes = 15
        }
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.primary, aws_s3_bucket_versioning.replica]
}
