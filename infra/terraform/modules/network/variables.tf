variable "name" {
  description = "Name prefix of every network resource (e.g. support-production)."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 range of the VPC; split into /20s per tier and zone, so at least a /16."
  type        = string
  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && tonumber(split("/", var.cidr_block)[1]) <= 16
    error_message = "cidr_block must be a valid IPv4 CIDR of /16 or larger."
  }
}

variable "availability_zones" {
  description = "Availability zones to span (three for production)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4
    error_message = "Give two to four availability zones (three in production)."
  }
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per zone (true, production) or one shared (false, cheaper standby)."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs."
  type        = number
  default     = 365
  validation {
    condition     = contains([90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "Use a CloudWatch Logs retention value of at least 90 days."
  }
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
