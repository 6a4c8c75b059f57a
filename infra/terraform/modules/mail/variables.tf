variable "name" {
  description = "Name prefix."
  type        = string
}

variable "use_ses" {
  description = "Send through Amazon SES (true) or through the customer's SMTP relay (false: nothing is created)."
  type        = bool
  default     = true
}

variable "domain" {
  description = "Domain our mail is sent from (e.g. desk.example.jp)."
  type        = string
}

variable "zone_id" {
  description = "Route 53 public zone of the domain (DKIM, MAIL FROM, DMARC records)."
  type        = string
}

variable "dmarc_report_address" {
  description = "Where DMARC aggregate reports go."
  type        = string
  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+$", var.dmarc_report_address))
    error_message = "dmarc_report_address must be an e-mail address."
  }
}

variable "events_topic_arn" {
  description = "SNS topic receiving bounces and complaints."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
