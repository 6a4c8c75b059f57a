variable "name" {
  description = "Name prefix of the topic and alarms."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses that receive every alarm (the on-call list)."
  type        = list(string)
  validation {
    condition     = length(var.alarm_emails) > 0 && alltrue([for a in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+$", a))])
    error_message = "Give at least one valid alarm address: a page that reaches nobody is no monitoring."
  }
}

variable "pager_https_endpoints" {
  description = "HTTPS endpoints of the paging service (24/365 on-call), subscribed to the topics."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for u in var.pager_https_endpoints : startswith(u, "https://")])
    error_message = "Pager endpoints must be https:// URLs."
  }
}

variable "kms_key_arn" {
  description = "Customer KMS key of the topic (its policy admits cloudwatch.amazonaws.com)."
  type        = string
}

variable "standby_kms_key_arn" {
  description = "Customer KMS key of the standby region's topic."
  type        = string
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the log-derived metrics."
  type        = string
  default     = "Support"
}

variable "alb_arn_suffix" {
  description = "Load balancer ARN suffix."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "API target group ARN suffix."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name."
  type        = string
}

variable "service_names" {
  description = "ECS service name by role: api, worker."
  type        = map(string)
  validation {
    condition     = contains(keys(var.service_names), "api") && contains(keys(var.service_names), "worker")
    error_message = "service_names needs both api and worker."
  }
}

variable "worker_log_group_name" {
  description = "Log group of the worker (JSON lines) for the mail-fetch and job metric filters."
  type        = string
}

variable "api_min_count" {
  description = "Healthy API tasks below which the API pages."
  type        = number
  default     = 2
}

variable "worker_min_count" {
  description = "Running worker tasks below which the worker pages."
  type        = number
  default     = 1
}

variable "api_5xx_per_5_minutes" {
  description = "5xx answers per 5 minutes above which the API pages."
  type        = number
  default     = 20
}

variable "api_p99_seconds" {
  description = "p99 latency (seconds) above which the API pages."
  type        = number
  default     = 2
}

variable "mail_fetch_failures_per_5_minutes" {
  description = "Failed folder fetches per 5 minutes (in 2 of 3 periods) that page."
  type        = number
  default     = 3
}

variable "job_failures_per_15_minutes" {
  description = "Failed background jobs per 15 minutes that page."
  type        = number
  default     = 10
}

variable "db_identifier" {
  description = "RDS instance identifier of the primary."
  type        = string
}

variable "db_free_storage_bytes" {
  description = "Free storage below which the database pages."
  type        = number
  default     = 21474836480
}

variable "db_freeable_memory_bytes" {
  description = "Freeable memory below which the database pages."
  type        = number
  default     = 536870912
}

variable "db_max_connections" {
  description = "Connection count above which the database pages."
  type        = number
  default     = 400
}

variable "replica_identifier" {
  description = "RDS identifier of the cross-region replica (standby region)."
  type        = string
}

variable "replica_lag_seconds" {
  description = "Replica lag above which the standby pages (the standby's RPO budget)."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
