variable "name_prefix" {
  description = "Prefix of the secret names (e.g. support/production)."
  type        = string
}

variable "secrets" {
  description = "Secret name (under the prefix) => what it holds."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Customer KMS key encrypting the secrets."
  type        = string
}

variable "standby_region" {
  description = "Region the secrets are replicated to, for the warm standby."
  type        = string
  default     = "ap-northeast-3"
}

variable "standby_kms_key_arn" {
  description = "KMS key of the standby region for the replicas; null: no replica."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every secret."
  type        = map(string)
  default     = {}
}
