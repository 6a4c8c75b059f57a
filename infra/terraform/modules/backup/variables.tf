variable "name" {
  description = "Name of the vaults, plan and role."
  type        = string
}

variable "resource_arns" {
  description = "What to back up: the RDS instance and the S3 buckets."
  type        = list(string)
  validation {
    condition     = length(var.resource_arns) > 0
    error_message = "Select at least one resource."
  }
}

variable "kms_key_arn" {
  description = "Customer KMS key of the primary vault."
  type        = string
}

variable "standby_kms_key_arn" {
  description = "Customer KMS key of the standby vault."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic for failed backup and copy jobs."
  type        = string
}

variable "daily_retention_days" {
  description = "Days to keep daily recovery points (and their copies)."
  type        = number
  default     = 35
  validation {
    condition     = var.daily_retention_days >= 7
    error_message = "Keep daily recovery points at least 7 days."
  }
}

variable "monthly_retention_days" {
  description = "Days to keep monthly recovery points (and their copies)."
  type        = number
  default     = 400
  validation {
    condition     = var.monthly_retention_days >= 35
    error_message = "Keep monthly recovery points longer than the daily ones (35 days or more)."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
