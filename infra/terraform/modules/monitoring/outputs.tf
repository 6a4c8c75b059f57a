output "topic_arn" {
  description = "SNS topic every alarm of the primary region pages through."
  value       = aws_sns_topic.alarms.arn
}

output "standby_topic_arn" {
  description = "SNS topic of the standby region."
  value       = aws_sns_topic.standby.arn
}

output "alarm_names" {
  description = "Every alarm, by what it watches."
  value = merge(
    {
      api_no_healthy_targets = aws_cloudwatch_metric_alarm.api_no_healthy_targets.alarm_name
      api_5xx                = aws_cloudwatch_metric_alarm.api_5xx.alarm_name
      api_latency            = aws_cloudwatch_metric_alarm.api_latency.alarm_name
      mail_fetch_failures    = aws_cloudwatch_metric_alarm.mail_fetch_failures.alarm_name
      mail_fetch_stalled     = aws_cloudwatch_metric_alarm.mail_fetch_stalled.alarm_name
      job_failures           = aws_cloudwatch_metric_alarm.job_failures.alarm_name
      replica_lag            = aws_cloudwatch_metric_alarm.replica_lag.alarm_name
    },
    { for k, a in aws_cloudwatch_metric_alarm.running_tasks : "${k}_running_tasks" => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.database : "db_${k}" => a.alarm_name },
  )
}
