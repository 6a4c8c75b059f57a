# Outbound mail through Amazon SES (when var.use_ses; otherwise the customer's SMTP relay is
# configured in the containers' SUPPORT_SMTP_* settings and nothing here is created): a DKIM-
# signed domain identity with its own MAIL FROM domain and DMARC, TLS required to recipients,
# bounce and complaint events to SNS, and an SMTP-only IAM identity whose access key is made
# out of band (docs/runbooks/mail-provider-outage.md), so no credential is in state.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.80" }
  }
}

data "aws_region" "current" {}

locals {
  enabled = var.use_ses ? 1 : 0
}

resource "aws_sesv2_configuration_set" "this" {
  count                  = local.enabled
  configuration_set_name = var.name
  delivery_options {
    tls_policy = "REQUIRE"
  }
  reputation_options {
    reputation_metrics_enabled = true
  }
  sending_options {
    sending_enabled = true
  }
  suppression_options {
    suppressed_reasons = ["BOUNCE", "COMPLAINT"]
  }
  tags = var.tags
}

resource "aws_sesv2_configuration_set_event_destination" "sns" {
  count                  = local.enabled
  configuration_set_name = aws_sesv2_configuration_set.this[0].configuration_set_name
  event_destination_name = "bounces-and-complaints"
  event_destination {
    enabled              = true
    matching_event_types = ["BOUNCE", "COMPLAINT", "REJECT", "RENDERING_FAILURE"]
    sns_destination {
      topic_arn = var.events_topic_arn
    }
  }
}

resource "aws_sesv2_email_identity" "this" {
  count                  = local.enabled
  email_identity         = var.domain
  configuration_set_name = aws_sesv2_configuration_set.this[0].configuration_set_name
  dkim_signing_attributes {
    next_signing_key_length = "RSA_2048_BIT"
  }
  tags = var.tags
}

resource "aws_sesv2_email_identity_mail_from_attributes" "this" {
  count                  = local.enabled
  email_identity         = aws_sesv2_email_identity.this[0].email_identity
  mail_from_domain       = "bounce.${var.domain}"
  behavior_on_mx_failure = "USE_DEFAULT_VALUE"
}

resource "aws_route53_record" "dkim" {
  count   = var.use_ses ? 3 : 0
  zone_id = var.zone_id
  name    = "${aws_sesv2_email_identity.this[0].dkim_signing_attributes[0].tokens[count.index]}._domainkey.${var.domain}"
  type    = "CNAME"
  ttl     = 1800
  records = ["${aws_sesv2_email_identity.this[0].dkim_signing_attributes[0].tokens[count.index]}.dkim.amazonses.com"]
}

resource "aws_route53_record" "mail_from_mx" {
  count   = local.enabled
  zone_id = var.zone_id
  name    = "bounce.${var.domain}"
  type    = "MX"
  ttl     = 1800
  records = ["10 feedback-smtp.${data.aws_region.current.name}.amazonses.com"]
}

resource "aws_route53_record" "mail_from_spf" {
  count   = local.enabled
  zone_id = var.zone_id
  name    = "bounce.${var.domain}"
  type    = "TXT"
  ttl     = 1800
  records = ["v=spf1 include:amazonses.com -all"]
}

resource "aws_route53_record" "dmarc" {
  count   = local.enabled
  zone_id = var.zone_id
  name    = "_dmarc.${var.domain}"
  type    = "TXT"
  ttl     = 1800
  records = ["v=DMARC1; p=quarantine; rua=mailto:${var.dmarc_report_address}"]
}

data "aws_iam_policy_document" "send" {
  count = local.enabled
  statement {
    actions   = ["ses:SendRawEmail"]
    resources = [aws_sesv2_email_identity.this[0].arn, aws_sesv2_configuration_set.this[0].arn]
  }
}

resource "aws_iam_group" "smtp" {
  count = local.enabled
  name  = "${var.name}-ses-smtp"
}

resource "aws_iam_group_policy" "smtp" {
  count  = local.enabled
  name   = "send-from-own-domain"
  group  = aws_iam_group.smtp[0].name
  policy = data.aws_iam_policy_document.send[0].json
}

resource "aws_iam_user" "smtp" {
  # checkov:skip=CKV_AWS_273:SES SMTP authenticates with credentials derived from an IAM user's access key; SSO cannot. The user can only send raw mail from our identity.
  count = local.enabled
  name  = "${var.name}-ses-smtp"
  tags  = var.tags
}

resource "aws_iam_user_group_membership" "smtp" {
  count  = local.enabled
  user   = aws_iam_user.smtp[0].name
  groups = [aws_iam_group.smtp[0].name]
}
