variable "name" {
  description = "Name of the cluster and prefix of its resources (e.g. support-production)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,27}$", var.name))
    error_message = "name must be 2 to 28 lowercase letters, digits or hyphens (load balancer names are short)."
  }
}

variable "vpc_id" {
  description = "VPC of the services."
  type        = string
}

variable "vpc_cidr_block" {
  description = "IPv4 range of the VPC (the tasks may reach PostgreSQL inside it)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the load balancer, one per zone."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets of the tasks, one per zone."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Spread the tasks over at least two zones."
  }
}

variable "allowed_cidrs" {
  description = "Client ranges allowed to reach the load balancer on 443 (0.0.0.0/0: Twilio webhooks come from changing addresses; the WAF and the app's login protect it)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ACM certificate of the API host name, in the region of the load balancer."
  type        = string
  validation {
    condition     = can(regex("^arn:aws:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "web_acl_arn" {
  description = "AWS WAF web ACL associated with the load balancer."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket of the load balancer's access logs (SSE-S3; objects under alb/)."
  type        = string
}

variable "image_tag" {
  description = "Tag of the image in this module's ECR repository (immutable; a git commit)."
  type        = string
  validation {
    condition     = var.image_tag != "latest" && length(var.image_tag) > 0
    error_message = "Deploy an immutable tag (the commit), never latest."
  }
}

variable "environment" {
  description = "Plain environment variables of both services (SUPPORT_* settings that are not secret)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.environment) : !can(regex("(?i)password|secret|token|key", k))])
    error_message = "Pass passwords, tokens and keys through secret_environment, never as plain variables."
  }
}

variable "secret_environment" {
  description = "Environment variable => Secrets Manager reference (ARN, or ARN:json-key:: for one key of a JSON secret)."
  type        = map(string)
  default     = {}
}

variable "database_host" {
  description = "Host name of the PostgreSQL primary."
  type        = string
}

variable "database_port" {
  description = "Port of PostgreSQL."
  type        = number
  default     = 5432
}

variable "database_name" {
  description = "Name of the application database."
  type        = string
  default     = "support"
}

variable "bucket_arns" {
  description = "Buckets the tasks read and write (attachments, recordings)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Customer KMS key of the data (buckets, secrets, registry)."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep container logs (masked JSON lines)."
  type        = number
  default     = 400
  validation {
    condition     = var.log_retention_days >= 365
    error_message = "Keep container logs at least a year (incident investigations)."
  }
}

variable "api_cpu" {
  description = "CPU units of one API task."
  type        = number
  default     = 1024
}

variable "api_memory" {
  description = "Memory (MiB) of one API task."
  type        = number
  default     = 2048
}

variable "api_min_count" {
  description = "Fewest API tasks (one per zone at least)."
  type        = number
  default     = 3
}

variable "api_max_count" {
  description = "Most API tasks."
  type        = number
  default     = 12
}

variable "api_desired_count" {
  description = "API tasks at creation (0 in a standby region until failover)."
  type        = number
  default     = 3
}

variable "api_requests_per_task" {
  description = "Target requests per minute per API task for autoscaling."
  type        = number
  default     = 600
}

variable "worker_cpu" {
  description = "CPU units of one worker task."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Memory (MiB) of one worker task."
  type        = number
  default     = 2048
}

variable "worker_min_count" {
  description = "Fewest worker tasks (two: jobs are claimed atomically, so replicas never run one twice)."
  type        = number
  default     = 2
}

variable "worker_max_count" {
  description = "Most worker tasks."
  type        = number
  default     = 6
}

variable "worker_desired_count" {
  description = "Worker tasks at creation (0 in a standby region until failover)."
  type        = number
  default     = 2
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
