variable "name" {
  description = "Identifier of the instance and prefix of its resources."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.name))
    error_message = "name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Isolated data subnets, one per availability zone (at least two for Multi-AZ)."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Multi-AZ needs subnets in at least two availability zones."
  }
}

variable "client_security_group_ids" {
  description = "Security groups (the API and worker tasks) allowed to connect on 5432."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL version; the image's pg_dump must be this major version or newer."
  type        = string
  default     = "16.4"
  validation {
    condition     = tonumber(split(".", var.engine_version)[0]) >= 15
    error_message = "Use PostgreSQL 15 or newer."
  }
}

variable "instance_class" {
  description = "Instance class (Graviton classes recommended)."
  type        = string
  default     = "db.m7g.large"
}

variable "database_name" {
  description = "Name of the application database."
  type        = string
  default     = "support"
}

variable "master_username" {
  description = "Master user name (its password is generated and kept by RDS in Secrets Manager)."
  type        = string
  default     = "support_admin"
}

variable "allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
  default     = 200
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 1000
  validation {
    condition     = var.max_allocated_storage_gb >= 20
    error_message = "max_allocated_storage_gb must be at least 20."
  }
}

variable "backup_retention_days" {
  description = "Days of automated backups, the point-in-time recovery window (7 to 35)."
  type        = number
  default     = 35
  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "Keep between 7 and 35 days of automated backups."
  }
}

variable "backup_window" {
  description = "Daily backup window in UTC (JST night: 17:00-18:00 UTC is 02:00-03:00 JST)."
  type        = string
  default     = "17:00-18:00"
}

variable "maintenance_window" {
  description = "Weekly maintenance window in UTC, after the backup window."
  type        = string
  default     = "sun:18:30-sun:19:30"
}

variable "kms_key_arn" {
  description = "Customer KMS key for storage, Performance Insights and the master secret."
  type        = string
}

variable "standby_backup_kms_key_arn" {
  description = "KMS key in the standby region for replicated automated backups; null to skip."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic for RDS events (failover, failure, low storage)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
