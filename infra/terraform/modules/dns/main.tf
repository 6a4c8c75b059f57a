# Route 53: the API host name fails over from the primary load balancer to the standby one when
# the primary's health check fails, and the health checks page (their metrics exist only in
# us-east-1, so the alarm and its encrypted topic live there). The IVR fallback host name
# points at its CloudFront distribution.

locals {
  # live: the process answers (/healthz) - drives DNS failover; an Elastic outage alone must
  # not move the service to the other region. ready: database and search answer (/readyz) -
  # pages the on-call.
  health_checks = {
    primary = { fqdn = var.primary_alb_dns_name, path = "/healthz" }
    standby = { fqdn = var.standby_alb_dns_name, path = "/healthz" }
    ready   = { fqdn = var.primary_alb_dns_name, path = "/readyz" }
  }
}

resource "aws_route53_health_check" "api" {
  for_each          = local.health_checks
  fqdn              = each.value.fqdn
  port              = 443
  type              = "HTTPS"
  resource_path     = each.value.path
  request_interval  = 30
  failure_threshold = 3
  measure_latency   = true
  enable_sni        = true
  regions           = ["ap-northeast-1", "ap-southeast-1", "us-west-2"]
  tags              = merge(var.tags, { Name = "${var.name}-api-${each.key}" })
}

resource "aws_route53_record" "api_primary" {
  zone_id         = var.zone_id
  name            = var.api_domain_name
  type            = "A"
  set_identifier  = "primary"
  health_check_id = aws_route53_health_check.api["primary"].id
  failover_routing_policy {
    type = "PRIMARY"
  }
  alias {
    name                   = var.primary_alb_dns_name
    zone_id                = var.primary_alb_zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "api_standby" {
  zone_id         = var.zone_id
  name            = var.api_domain_name
  type            = "A"
  set_identifier  = "standby"
  health_check_id = aws_route53_health_check.api["standby"].id
  failover_routing_policy {
    type = "SECONDARY"
  }
  alias {
    name                   = var.standby_alb_dns_name
    zone_id                = var.standby_alb_zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "ivr_fallback" {
  zone_id = var.zone_id
  name    = var.ivr_fallback_domain_name
  type    = "A"
  alias {
    name                   = var.ivr_fallback_distribution_domain_name
    zone_id                = var.ivr_fallback_distribution_zone_id
    evaluate_target_health = false
  }
}

resource "aws_sns_topic" "health" {
  provider          = aws.us_east_1
  name              = "${var.name}-health-checks"
  kms_master_key_id = var.us_east_1_kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "health_email" {
  for_each  = toset(var.alarm_emails)
  provider  = aws.us_east_1
  topic_arn = aws_sns_topic.health.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "health_pager" {
  for_each               = toset(var.pager_https_endpoints)
  provider               = aws.us_east_1
  topic_arn              = aws_sns_topic.health.arn
  protocol               = "https"
  endpoint               = each.value
  endpoint_auto_confirms = true
}

resource "aws_cloudwatch_metric_alarm" "api_health" {
  for_each = {
    primary = "API: https://${var.api_domain_name}/healthz does not answer from outside (tasks down or the region is down); DNS fails over to the standby. Runbook: docs/runbooks/region-failover.md"
    ready   = "API: /readyz fails from outside (database or search not ready). Runbooks: docs/runbooks/database-point-in-time-restore.md, region-failover.md"
  }
  provider            = aws.us_east_1
  alarm_name          = "${var.name}-api-health-check-${each.key}"
  alarm_description   = each.value
  namespace           = "AWS/Route53"
  metric_name         = "HealthCheckStatus"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions          = { HealthCheckId = aws_route53_health_check.api[each.key].id }
  alarm_actions       = [aws_sns_topic.health.arn]
  ok_actions          = [aws_sns_topic.health.arn]
  tags                = var.tags
}
