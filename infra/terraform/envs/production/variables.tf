variable "environment" {
  description = "Environment name, part of every resource name."
  type        = string
  default     = "production"
  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.environment))
    error_message = "environment must be 2 to 12 lowercase letters or digits."
  }
}

variable "primary_region" {
  description = "Region that serves (Tokyo)."
  type        = string
  default     = "ap-northeast-1"
}

variable "standby_region" {
  description = "Region of the warm standby (Osaka): replica database, bucket replicas, backup copies."
  type        = string
  default     = "ap-northeast-3"
  validation {
    condition     = var.standby_region != var.primary_region
    error_message = "The standby must be another region than the primary."
  }
}

variable "vpc_cidr" {
  description = "IPv4 range of the primary VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "standby_vpc_cidr" {
  description = "IPv4 range of the standby VPC (must not overlap the primary's, for peering during a failover)."
  type        = string
  default     = "10.41.0.0/16"
}

variable "bucket_prefix" {
  description = "Globally unique prefix of the S3 bucket names (e.g. the operator's company name)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{2,24}$", var.bucket_prefix))
    error_message = "bucket_prefix must be 3 to 25 lowercase letters, digits or hyphens."
  }
}

variable "route53_zone_id" {
  description = "Public Route 53 zone of the service domain."
  type        = string
}

variable "api_domain_name" {
  description = "Host name of the API, console and Twilio webhooks (e.g. desk.example.jp)."
  type        = string
}

variable "ivr_fallback_domain_name" {
  description = "Host name serving the IVR fallback TwiML (e.g. ivr-fallback.desk.example.jp)."
  type        = string
}

variable "ivr_fallback_twiml_path" {
  description = "File written by `support ivr fallback-twiml --out FILE` before `terraform apply`."
  type        = string
  default     = "../../../../build/ivr-fallback.xml"
}

variable "image_tag" {
  description = "Image tag to run (the git commit pushed to ECR; immutable)."
  type        = string
}

variable "postgres_version" {
  description = "RDS PostgreSQL engine version (the image's pg_dump is of this major version)."
  type        = string
  default     = "16.4"
}

variable "db_instance_class" {
  description = "RDS instance class of the primary and the standby replica."
  type        = string
  default     = "db.m7g.large"
}

variable "elastic_privatelink_service_name" {
  description = "Elastic Cloud's PrivateLink service name for the primary region (from Elastic's PrivateLink documentation)."
  type        = string
}

variable "elastic_privatelink_domain" {
  description = "Elastic Cloud's PrivateLink domain for the primary region."
  type        = string
  default     = "vpce.ap-northeast-1.aws.elastic-cloud.com"
}

variable "use_ses" {
  description = "Send mail through Amazon SES (true) or the customer's SMTP relay (false; set smtp_host)."
  type        = bool
  default     = true
}

variable "smtp_host" {
  description = "The customer's SMTP relay, when use_ses is false (credentials go in the smtp secret)."
  type        = string
  default     = ""
  validation {
    condition     = !can(regex("[:@/]", var.smtp_host))
    error_message = "smtp_host is a bare host name: credentials belong in Secrets Manager."
  }
}

variable "mail_domain" {
  description = "Domain our mail is sent from."
  type        = string
}

variable "mail_from" {
  description = "Fallback From address (SUPPORT_MAIL_FROM)."
  type        = string
}

variable "mail_addresses" {
  description = "SUPPORT_MAIL_ADDRESSES: our addresses => the municipality each serves (null: none)."
  type        = map(string)
  default     = {}
}

variable "dmarc_report_address" {
  description = "Where DMARC aggregate reports go."
  type        = string
}

variable "alarm_emails" {
  description = "On-call addresses receiving every alarm."
  type        = list(string)
}

variable "pager_https_endpoints" {
  description = "HTTPS endpoints of the 24/365 paging service (PagerDuty, Opsgenie, ...)."
  type        = list(string)
  default     = []
}
