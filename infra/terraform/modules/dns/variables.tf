variable "name" {
  description = "Name prefix."
  type        = string
}

variable "zone_id" {
  description = "Route 53 public hosted zone of the service domain."
  type        = string
}

variable "api_domain_name" {
  description = "Host name of the API and console (e.g. desk.example.jp)."
  type        = string
}

variable "primary_alb_dns_name" {
  description = "DNS name of the primary region's load balancer."
  type        = string
}

variable "primary_alb_zone_id" {
  description = "Hosted zone of the primary load balancer."
  type        = string
}

variable "standby_alb_dns_name" {
  description = "DNS name of the standby region's load balancer."
  type        = string
}

variable "standby_alb_zone_id" {
  description = "Hosted zone of the standby load balancer."
  type        = string
}

variable "ivr_fallback_domain_name" {
  description = "Host name of the IVR fallback TwiML."
  type        = string
}

variable "ivr_fallback_distribution_domain_name" {
  description = "CloudFront domain of the IVR fallback."
  type        = string
}

variable "ivr_fallback_distribution_zone_id" {
  description = "CloudFront hosted zone id."
  type        = string
}

variable "us_east_1_kms_key_arn" {
  description = "Customer KMS key in us-east-1 for the health-check topic."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses that receive health-check alarms."
  type        = list(string)
}

variable "pager_https_endpoints" {
  description = "HTTPS endpoints of the paging service."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
