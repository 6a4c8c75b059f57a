variable "name_prefix" {
  description = "Globally unique prefix of the bucket names (e.g. example-support-production)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,40}$", var.name_prefix))
    error_message = "name_prefix must be 3 to 41 lowercase letters, digits or hyphens."
  }
}

variable "standby_suffix" {
  description = "Suffix of the replica bucket names (the standby region's short name)."
  type        = string
  default     = "osaka"
}

variable "buckets" {
  description = "Data buckets by purpose, with how many days old object versions are kept."
  type = map(object({
    noncurrent_version_days = number
  }))
  validation {
    condition     = alltrue([for b in values(var.buckets) : b.noncurrent_version_days >= 30])
    error_message = "Keep old object versions at least 30 days (a deletion must stay recoverable)."
  }
}

variable "cloudfront_readers" {
  description = "Bucket purpose => ARN of the CloudFront distribution allowed to read its objects (through origin access control); the bucket stays private."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "Customer KMS key of the primary region."
  type        = string
}

variable "standby_kms_key_arn" {
  description = "Customer KMS key of the standby region (encrypts the replicas)."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep S3 and ALB access logs."
  type        = number
  default     = 400
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
