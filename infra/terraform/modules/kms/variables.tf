variable "alias" {
  description = "Alias of the key, without the alias/ prefix (e.g. support-production-data)."
  type        = string
  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,200}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "The alias may hold letters, digits, '/', '_' and '-', and must not start with aws/."
  }
}

variable "description" {
  description = "What the key protects, shown in the KMS console."
  type        = string
}

variable "service_principals" {
  description = "AWS service principals (e.g. sns.amazonaws.com, cloudwatch.amazonaws.com) allowed to use the key for this account's resources."
  type        = list(string)
  default     = []
}

variable "allow_cloudwatch_logs" {
  description = "Let CloudWatch Logs of this region encrypt this account's log groups with the key."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
