# 死活監視: CloudWatch alarms on the API, the worker, the database and mail fetching, paging
# through an encrypted SNS topic (mail and an HTTPS pager endpoint such as PagerDuty or
# Opsgenie). Mail fetching is watched from the worker's masked JSON logs: a metric of fetch
# failures, and a heartbeat of successful folder fetches whose absence pages too.

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  ecs_services  = { api = var.api_min_count, worker = var.worker_min_count }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

data "aws_caller_identity" "current" {}

# Services that page through the topic: alarms, RDS events, AWS Backup, SES bounces.
data "aws_iam_policy_document" "alarms" {
  statement {
    sid       = "OwnerManages"
    actions   = ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:ListSubscriptionsByTopic"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "ServicesPublish"
    actions   = ["SNS:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.rds.amazonaws.com", "backup.amazonaws.com", "ses.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "pager" {
  for_each               = toset(var.pager_https_endpoints)
  topic_arn              = aws_sns_topic.alarms.arn
  protocol               = "https"
  endpoint               = each.value
  endpoint_auto_confirms = true
}

# --- API ----------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "api_no_healthy_targets" {
  alarm_name          = "${var.name}-api-no-healthy-targets"
  alarm_description   = "API: fewer healthy tasks behind the load balancer than the minimum. Runbook: docs/runbooks/region-failover.md"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.api_min_count
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.name}-api-5xx"
  alarm_description   = "API: the tasks answer 5xx."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.api_5xx_per_5_minutes
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_latency" {
  alarm_name          = "${var.name}-api-latency-p99"
  alarm_description   = "API: p99 response time above the limit for 10 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.api_p99_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# --- API and worker tasks ---------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "running_tasks" {
  for_each            = local.ecs_services
  alarm_name          = "${var.name}-${each.key}-running-tasks"
  alarm_description   = "${each.key}: fewer running tasks than the minimum (crash loop, failed deployment, zone loss)."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 5
  threshold           = each.value
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = var.service_names[each.key] }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_log_metric_filter" "worker" {
  for_each = {
    # support.mail.poller logs this (masked, no addresses) each time a folder fetch fails.
    mail_fetch_failures = "{ $.msg = \"mail fetch failed; retrying\" }"
    # support.mail.fetch logs this after every successful pass over a folder (at least every
    # IDLE_SECONDS = 60 s per folder): the heartbeat of mail fetching.
    mail_folders_fetched = "{ $.msg = \"folder fetched\" }"
    # support.jobs logs this when a background job (acknowledgement, send, report) fails.
    job_failures = "{ $.msg = \"job failed\" }"
  }
  name           = "${var.name}-${each.key}"
  log_group_name = var.worker_log_group_name
  pattern        = each.value
  metric_transformation {
    name          = each.key
    namespace     = var.metric_namespace
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "mail_fetch_failures" {
  alarm_name          = "${var.name}-mail-fetch-failures"
  alarm_description   = "Mail fetching: IMAP fetches keep failing. Runbook: docs/runbooks/mail-provider-outage.md"
  namespace           = var.metric_namespace
  metric_name         = "mail_fetch_failures"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.mail_fetch_failures_per_5_minutes
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
  depends_on          = [aws_cloudwatch_log_metric_filter.worker]
}

resource "aws_cloudwatch_metric_alarm" "mail_fetch_stalled" {
  alarm_name          = "${var.name}-mail-fetch-stalled"
  alarm_description   = "Mail fetching: no folder fetched for 15 minutes (worker down or hung, or IMAP unreachable). Runbook: docs/runbooks/mail-provider-outage.md"
  namespace           = var.metric_namespace
  metric_name         = "mail_folders_fetched"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
  depends_on          = [aws_cloudwatch_log_metric_filter.worker]
}

resource "aws_cloudwatch_metric_alarm" "job_failures" {
  alarm_name          = "${var.name}-worker-job-failures"
  alarm_description   = "Worker: background jobs (acknowledgements, sending, reports) keep failing."
  namespace           = var.metric_namespace
  metric_name         = "job_failures"
  statistic           = "Sum"
  period              = 900
  evaluation_periods  = 1
  threshold           = var.job_failures_per_15_minutes
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
  depends_on          = [aws_cloudwatch_log_metric_filter.worker]
}

# --- database -------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "database" {
  for_each = {
    cpu = {
      metric = "CPUUtilization", stat = "Average", op = "GreaterThanThreshold", threshold = 80,
      text = "Database: CPU above 80 % for 15 minutes."
    }
    free_storage = {
      metric = "FreeStorageSpace", stat = "Minimum", op = "LessThanThreshold", threshold = var.db_free_storage_bytes,
      text = "Database: free storage low (autoscaling at its ceiling?)."
    }
    freeable_memory = {
      metric = "FreeableMemory", stat = "Minimum", op = "LessThanThreshold", threshold = var.db_freeable_memory_bytes,
      text = "Database: freeable memory low."
    }
    connections = {
      metric = "DatabaseConnections", stat = "Maximum", op = "GreaterThanThreshold", threshold = var.db_max_connections,
      text = "Database: connection count near the limit."
    }
  }
  alarm_name          = "${var.name}-db-${each.key}"
  alarm_description   = "${each.value.text} Runbook: docs/runbooks/database-point-in-time-restore.md"
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  statistic           = each.value.stat
  period              = 300
  evaluation_periods  = 3
  threshold           = each.value.threshold
  comparison_operator = each.value.op
  treat_missing_data  = "breaching"
  dimensions          = { DBInstanceIdentifier = var.db_identifier }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# --- standby region ---------------------------------------------------------------------------

resource "aws_sns_topic" "standby" {
  provider          = aws.standby
  name              = "${var.name}-alarms-standby"
  kms_master_key_id = var.standby_kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "standby_email" {
  for_each  = toset(var.alarm_emails)
  provider  = aws.standby
  topic_arn = aws_sns_topic.standby.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "standby_pager" {
  for_each               = toset(var.pager_https_endpoints)
  provider               = aws.standby
  topic_arn              = aws_sns_topic.standby.arn
  protocol               = "https"
  endpoint               = each.value
  endpoint_auto_confirms = true
}

resource "aws_cloudwatch_metric_alarm" "replica_lag" {
  provider            = aws.standby
  alarm_name          = "${var.name}-db-replica-lag"
  alarm_description   = "Standby database: replication lag above the RPO budget (or replication stopped). Runbook: docs/runbooks/region-failover.md"
  namespace           = "AWS/RDS"
  metric_name         = "ReplicaLag"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.replica_lag_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  dimensions          = { DBInstanceIdentifier = var.replica_identifier }
  alarm_actions       = [aws_sns_topic.standby.arn]
  ok_actions          = [aws_sns_topic.standby.arn]
  tags                = var.tags
}
