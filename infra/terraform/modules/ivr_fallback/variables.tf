variable "name" {
  description = "Name prefix."
  type        = string
}

variable "twiml_path" {
  description = "Path of the fallback TwiML file written by `support ivr fallback-twiml --out FILE`."
  type        = string
  validation {
    condition     = endswith(var.twiml_path, ".xml")
    error_message = "twiml_path must name the .xml file written by `support ivr fallback-twiml`."
  }
}

variable "object_key" {
  description = "Key of the TwiML object in the bucket (and the path Twilio fetches)."
  type        = string
  default     = "fallback.xml"
}

variable "bucket_name" {
  description = "Private bucket holding the TwiML (the storage module's \"ivr\" bucket)."
  type        = string
}

variable "bucket_regional_domain_name" {
  description = "Regional domain name of that bucket."
  type        = string
}

variable "replica_bucket_regional_domain_name" {
  description = "Regional domain name of its replica in the standby region (failover origin)."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer KMS key encrypting the object."
  type        = string
}

variable "domain_name" {
  description = "Host name Twilio fetches the fallback from (e.g. ivr-fallback.desk.example.jp)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name, in us-east-1 (CloudFront's region)."
  type        = string
  validation {
    condition     = can(regex("^arn:aws:acm:us-east-1:", var.certificate_arn))
    error_message = "CloudFront needs an ACM certificate from us-east-1."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
