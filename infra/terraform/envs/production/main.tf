# Production: ap-northeast-1 (Tokyo) across three zones, warm standby in ap-northeast-3 (Osaka).
#
#   primary  VPC (3 AZ) - ALB + WAF - ECS Fargate api/worker - RDS PostgreSQL Multi-AZ
#            - Elastic Cloud (3 zones, PrivateLink) - S3 (KMS, versioned, private)
#   standby  VPC (3 AZ) - cross-region RDS replica - S3 replicas - ECS services at 0 tasks,
#            ALB + WAF ready - AWS Backup copies - replicated secrets and images
#   global   Route 53 failover records and health checks, CloudFront for the IVR fallback

locals {
  name = "support-${var.environment}"
  tags = {
    Project     = "support"
    Environment = var.environment
    ManagedBy   = "terraform"
    DataClass   = "personal"
  }
  buckets = {
    attachments = { noncurrent_version_days = 90 }
    recordings  = { noncurrent_version_days = 90 }
    ivr         = { noncurrent_version_days = 30 }
    backups     = { noncurrent_version_days = 35 } # `support backup create` archives
  }
  secrets = {
    "database-app"  = "JSON {username, password} of the application's PostgreSQL role (owner of the schema)"
    "search-url"    = "SUPPORT_SEARCH_URL: https://<api-key-id>:<api-key>@<PrivateLink endpoint>:443"
    "mail-accounts" = "SUPPORT_MAIL_ACCOUNTS: JSON list of IMAP accounts (with their passwords)"
    "smtp"          = "JSON {username, password}: SES SMTP credentials or the customer's relay"
    "twilio"        = "JSON {account_sid, auth_token} of the Twilio account (webhook signature checks)"
  }
  secret_environment = {
    DB_USER                   = "${module.secrets.arns["database-app"]}:username::"
    DB_PASSWORD               = "${module.secrets.arns["database-app"]}:password::"
    SUPPORT_SEARCH_URL        = module.secrets.arns["search-url"]
    SUPPORT_MAIL_ACCOUNTS     = module.secrets.arns["mail-accounts"]
    SUPPORT_SMTP_USERNAME     = "${module.secrets.arns["smtp"]}:username::"
    SUPPORT_SMTP_PASSWORD     = "${module.secrets.arns["smtp"]}:password::"
    SUPPORT_TWILIO_AUTH_TOKEN = "${module.secrets.arns["twilio"]}:auth_token::"
  }
  # The same secrets, replicated: their ARNs differ only by region.
  standby_secret_environment = {
    for k, v in local.secret_environment : k => replace(v, ":${var.primary_region}:", ":${var.standby_region}:")
  }
  environment = {
    SUPPORT_SMTP_HOST               = var.use_ses ? module.mail.smtp_host : var.smtp_host
    SUPPORT_SMTP_PORT               = "587"
    SUPPORT_SMTP_SECURITY           = "starttls"
    SUPPORT_MAIL_FROM               = var.mail_from
    SUPPORT_COOKIE_SECURE           = "true"
    SUPPORT_MAIL_ADDRESSES          = jsonencode(var.mail_addresses)
    SUPPORT_S3_ATTACHMENTS_BUCKET   = module.storage.bucket_names["attachments"]
    SUPPORT_S3_RECORDINGS_BUCKET    = module.storage.bucket_names["recordings"]
    SUPPORT_IVR_FALLBACK_URL        = module.ivr_fallback.fallback_url
  }
}

# --- keys ------------------------------------------------------------------------------------

module "kms_data" {
  source             = "../../modules/kms"
  alias              = "${local.name}-data"
  description        = "support ${var.environment}: database, buckets, secrets, images, backups"
  service_principals = ["cloudfront.amazonaws.com"]
}

module "kms_logs" {
  source                = "../../modules/kms"
  alias                 = "${local.name}-logs"
  description           = "support ${var.environment}: CloudWatch log groups"
  allow_cloudwatch_logs = true
}

module "kms_alerts" {
  source             = "../../modules/kms"
  alias              = "${local.name}-alerts"
  description        = "support ${var.environment}: SNS alarm topics"
  service_principals = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "events.rds.amazonaws.com", "backup.amazonaws.com", "ses.amazonaws.com"]
}

module "kms_data_standby" {
  source             = "../../modules/kms"
  providers          = { aws = aws.standby }
  alias              = "${local.name}-data"
  description        = "support ${var.environment} standby: replica database, buckets, secrets, backups"
  service_principals = ["cloudfront.amazonaws.com"]
}

module "kms_logs_standby" {
  source                = "../../modules/kms"
  providers             = { aws = aws.standby }
  alias                 = "${local.name}-logs"
  description           = "support ${var.environment} standby: CloudWatch log groups"
  allow_cloudwatch_logs = true
}

module "kms_alerts_standby" {
  source             = "../../modules/kms"
  providers          = { aws = aws.standby }
  alias              = "${local.name}-alerts"
  description        = "support ${var.environment} standby: SNS alarm topics"
  service_principals = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
}

module "kms_alerts_us_east_1" {
  source             = "../../modules/kms"
  providers          = { aws = aws.us_east_1 }
  alias              = "${local.name}-alerts"
  description        = "support ${var.environment}: Route 53 health-check alarm topic"
  service_principals = ["cloudwatch.amazonaws.com"]
}

# --- network -----------------------------------------------------------------------------------

module "network" {
  source             = "../../modules/network"
  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = ["${var.primary_region}a", "${var.primary_region}c", "${var.primary_region}d"]
  logs_kms_key_arn   = module.kms_logs.key_arn
}

module "network_standby" {
  source             = "../../modules/network"
  providers          = { aws = aws.standby }
  name               = "${local.name}-standby"
  cidr_block         = var.standby_vpc_cidr
  availability_zones = ["${var.standby_region}a", "${var.standby_region}b", "${var.standby_region}c"]
  nat_gateway_per_az = false
  logs_kms_key_arn   = module.kms_logs_standby.key_arn
}

# --- data ------------------------------------------------------------------------------------

module "storage" {
  source              = "../../modules/storage"
  providers           = { aws = aws, aws.standby = aws.standby }
  name_prefix         = "${var.bucket_prefix}-${var.environment}"
  buckets             = local.buckets
  cloudfront_readers  = { ivr = module.ivr_fallback.distribution_arn }
  kms_key_arn         = module.kms_data.key_arn
  standby_kms_key_arn = module.kms_data_standby.key_arn
}

module "secrets" {
  source              = "../../modules/secrets"
  name_prefix         = "support/${var.environment}"
  secrets             = local.secrets
  kms_key_arn         = module.kms_data.key_arn
  standby_region      = var.standby_region
  standby_kms_key_arn = module.kms_data_standby.key_arn
}

module "database" {
  source                     = "../../modules/database"
  providers                  = { aws = aws, aws.standby = aws.standby }
  name                       = local.name
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.data_subnet_ids
  client_security_group_ids  = [module.compute.tasks_security_group_id]
  engine_version             = var.postgres_version
  instance_class             = var.db_instance_class
  kms_key_arn                = module.kms_data.key_arn
  standby_backup_kms_key_arn = module.kms_data_standby.key_arn
  alarm_topic_arn            = module.monitoring.topic_arn
}

module "database_standby" {
  source                    = "../../modules/database_replica"
  providers                 = { aws = aws.standby }
  name                      = "${local.name}-standby"
  source_db_arn             = module.database.instance_arn
  vpc_id                    = module.network_standby.vpc_id
  subnet_ids                = module.network_standby.data_subnet_ids
  client_security_group_ids = [module.compute_standby.tasks_security_group_id]
  instance_class            = var.db_instance_class
  parameter_group_family    = "postgres${split(".", var.postgres_version)[0]}"
  kms_key_arn               = module.kms_data_standby.key_arn
}

module "search" {
  source                    = "../../modules/search"
  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.data_subnet_ids
  client_security_group_ids = [module.compute.tasks_security_group_id]
  privatelink_service_name  = var.elastic_privatelink_service_name
  privatelink_domain        = var.elastic_privatelink_domain
  tags                      = local.tags
}

# --- mail, IVR fallback -------------------------------------------------------------------------

module "mail" {
  source               = "../../modules/mail"
  name                 = local.name
  use_ses              = var.use_ses
  domain               = var.mail_domain
  zone_id              = var.route53_zone_id
  dmarc_report_address = var.dmarc_report_address
  events_topic_arn     = module.monitoring.topic_arn
}

module "ivr_fallback" {
  source                              = "../../modules/ivr_fallback"
  name                                = local.name
  twiml_path                          = var.ivr_fallback_twiml_path
  bucket_name                         = module.storage.bucket_names["ivr"]
  bucket_regional_domain_name         = module.storage.bucket_regional_domain_names["ivr"]
  replica_bucket_regional_domain_name = module.storage.replica_bucket_regional_domain_names["ivr"]
  kms_key_arn                         = module.kms_data.key_arn
  domain_name                         = var.ivr_fallback_domain_name
  certificate_arn                     = aws_acm_certificate_validation.ivr_fallback.certificate_arn
}

# --- compute -------------------------------------------------------------------------------------

module "waf" {
  source           = "../../modules/waf"
  name             = local.name
  logs_kms_key_arn = module.kms_logs.key_arn
}

module "waf_standby" {
  source           = "../../modules/waf"
  providers        = { aws = aws.standby }
  name             = "${local.name}-standby"
  logs_kms_key_arn = module.kms_logs_standby.key_arn
}

module "compute" {
  source             = "../../modules/compute"
  name               = local.name
  vpc_id             = module.network.vpc_id
  vpc_cidr_block     = module.network.vpc_cidr_block
  public_subnet_ids  = module.network.public_subnet_ids
  private_subnet_ids = module.network.private_subnet_ids
  certificate_arn    = aws_acm_certificate_validation.api.certificate_arn
  web_acl_arn        = module.waf.web_acl_arn
  access_log_bucket  = module.storage.log_bucket_name
  image_tag          = var.image_tag
  environment        = local.environment
  secret_environment = local.secret_environment
  database_host      = module.database.endpoint
  bucket_arns        = [module.storage.bucket_arns["attachments"], module.storage.bucket_arns["recordings"]]
  kms_key_arn        = module.kms_data.key_arn
  logs_kms_key_arn   = module.kms_logs.key_arn
}

# Images pushed to Tokyo appear in Osaka too: the standby can start without a build.
resource "aws_ecr_replication_configuration" "this" {
  replication_configuration {
    rule {
      destination {
        region      = var.standby_region
        registry_id = data.aws_caller_identity.current.account_id
      }
      repository_filter {
        filter      = local.name
        filter_type = "PREFIX_MATCH"
      }
    }
  }
}

data "aws_caller_identity" "current" {}

# Warm standby: everything defined, no task running until docs/runbooks/region-failover.md.
module "compute_standby" {
  source               = "../../modules/compute"
  providers            = { aws = aws.standby }
  name                 = local.name
  vpc_id               = module.network_standby.vpc_id
  vpc_cidr_block       = module.network_standby.vpc_cidr_block
  public_subnet_ids    = module.network_standby.public_subnet_ids
  private_subnet_ids   = module.network_standby.private_subnet_ids
  certificate_arn      = aws_acm_certificate_validation.api_standby.certificate_arn
  web_acl_arn          = module.waf_standby.web_acl_arn
  access_log_bucket    = module.storage.standby_log_bucket_name
  image_tag            = var.image_tag
  environment          = local.environment
  secret_environment   = local.standby_secret_environment
  database_host        = module.database_standby.endpoint
  bucket_arns          = values(module.storage.replica_bucket_arns)
  kms_key_arn          = module.kms_data_standby.key_arn
  logs_kms_key_arn     = module.kms_logs_standby.key_arn
  api_desired_count    = 0
  api_min_count        = 0
  worker_desired_count = 0
  worker_min_count     = 0
}

# --- monitoring, DNS, backups -----------------------------------------------------------------

module "monitoring" {
  source                  = "../../modules/monitoring"
  providers               = { aws = aws, aws.standby = aws.standby }
  name                    = local.name
  alarm_emails            = var.alarm_emails
  pager_https_endpoints   = var.pager_https_endpoints
  kms_key_arn             = module.kms_alerts.key_arn
  standby_kms_key_arn     = module.kms_alerts_standby.key_arn
  alb_arn_suffix          = module.compute.alb_arn_suffix
  target_group_arn_suffix = module.compute.target_group_arn_suffix
  cluster_name            = module.compute.cluster_name
  service_names           = module.compute.service_names
  worker_log_group_name   = module.compute.log_group_names["worker"]
  db_identifier           = module.database.identifier
  replica_identifier      = module.database_standby.identifier
}

module "dns" {
  source                                = "../../modules/dns"
  providers                             = { aws = aws, aws.us_east_1 = aws.us_east_1 }
  name                                  = local.name
  zone_id                               = var.route53_zone_id
  api_domain_name                       = var.api_domain_name
  primary_alb_dns_name                  = module.compute.alb_dns_name
  primary_alb_zone_id                   = module.compute.alb_zone_id
  standby_alb_dns_name                  = module.compute_standby.alb_dns_name
  standby_alb_zone_id                   = module.compute_standby.alb_zone_id
  ivr_fallback_domain_name              = var.ivr_fallback_domain_name
  ivr_fallback_distribution_domain_name = module.ivr_fallback.distribution_domain_name
  ivr_fallback_distribution_zone_id     = module.ivr_fallback.distribution_hosted_zone_id
  us_east_1_kms_key_arn                 = module.kms_alerts_us_east_1.key_arn
  alarm_emails                          = var.alarm_emails
  pager_https_endpoints                 = var.pager_https_endpoints
}

module "backup" {
  source              = "../../modules/backup"
  providers           = { aws = aws, aws.standby = aws.standby }
  name                = local.name
  resource_arns       = concat([module.database.instance_arn], values(module.storage.bucket_arns))
  kms_key_arn         = module.kms_data.key_arn
  standby_kms_key_arn = module.kms_data_standby.key_arn
  alarm_topic_arn     = module.monitoring.topic_arn
}
