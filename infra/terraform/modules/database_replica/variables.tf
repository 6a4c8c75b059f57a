variable "name" {
  description = "Identifier of the replica instance."
  type        = string
}

variable "source_db_arn" {
  description = "ARN of the primary instance to replicate."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the standby region."
  type        = string
}

variable "subnet_ids" {
  description = "Isolated data subnets of the standby region."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two availability zones."
  }
}

variable "client_security_group_ids" {
  description = "Security groups of the standby tasks allowed to connect."
  type        = list(string)
}

variable "instance_class" {
  description = "Instance class of the replica (the same as the primary, to carry the load after promotion)."
  type        = string
  default     = "db.m7g.large"
}

variable "parameter_group_family" {
  description = "Parameter group family matching the primary's major version (e.g. postgres16)."
  type        = string
  default     = "postgres16"
}

variable "backup_retention_days" {
  description = "Automated backup retention once promoted."
  type        = number
  default     = 35
  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "Keep between 7 and 35 days of automated backups."
  }
}

variable "kms_key_arn" {
  description = "Customer KMS key of the standby region."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
