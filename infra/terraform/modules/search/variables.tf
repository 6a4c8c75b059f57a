variable "name" {
  description = "Name of the deployment and prefix of its AWS resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC the PrivateLink endpoint lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the endpoint, one per zone."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to reach the endpoint (the tasks)."
  type        = list(string)
}

variable "privatelink_service_name" {
  description = "Elastic's PrivateLink service name for this region (Elastic Cloud docs, 'AWS PrivateLink', regional table)."
  type        = string
  validation {
    condition     = can(regex("^com\\.amazonaws\\.vpce\\.[a-z0-9-]+\\.vpce-svc-[0-9a-f]+$", var.privatelink_service_name))
    error_message = "privatelink_service_name looks like com.amazonaws.vpce.<region>.vpce-svc-<id>."
  }
}

variable "privatelink_domain" {
  description = "Elastic's PrivateLink domain for this region, e.g. vpce.ap-northeast-1.aws.elastic-cloud.com."
  type        = string
}

variable "elasticsearch_version_regex" {
  description = "Stack version to deploy (the client library is elasticsearch 9.x)."
  type        = string
  default     = "^9\\.[0-9]+\\.[0-9]+$"
}

variable "deployment_template_id" {
  description = "Elastic Cloud hardware profile."
  type        = string
  default     = "aws-general-purpose"
}

variable "hot_size" {
  description = "Memory per zone of the hot tier (e.g. 4g)."
  type        = string
  default     = "4g"
}

variable "hot_max_size" {
  description = "Autoscaling ceiling per zone of the hot tier."
  type        = string
  default     = "16g"
}

variable "tags" {
  description = "Tags for the deployment and the AWS resources."
  type        = map(string)
  default     = {}
}
