variable "name" {
  description = "Name of the web ACL."
  type        = string
}

variable "rate_limit_per_5_minutes" {
  description = "Requests per client address per 5 minutes before it is blocked (Twilio and operators behind one NAT share an address: keep it generous)."
  type        = number
  default     = 3000
  validation {
    condition     = var.rate_limit_per_5_minutes >= 100
    error_message = "WAF rate limits start at 100 requests per 5 minutes."
  }
}

variable "log_retention_days" {
  description = "Days to keep WAF logs."
  type        = number
  default     = 365
}

variable "logs_kms_key_arn" {
  description = "KMS key for the WAF log group."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
