# Elasticsearch as an Elastic Cloud (on AWS) deployment across three zones, in the same AWS
# region, reached only privately: an interface VPC endpoint to Elastic's PrivateLink service,
# a private DNS zone for it, and a traffic filter that admits only that endpoint.
# The index is derived data: it is rebuilt from PostgreSQL after any loss (Elastic Cloud also
# snapshots it every 30 minutes into its own repository).

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.80" }
    ec  = { source = "elastic/ec", version = ">= 0.12" }
  }
}

data "aws_region" "current" {}

data "ec_stack" "this" {
  version_regex = var.elasticsearch_version_regex
  region        = "aws-${data.aws_region.current.name}"
}

resource "aws_security_group" "endpoint" {
  name        = "${var.name}-elastic-endpoint"
  description = "HTTPS from the application tasks to the Elastic PrivateLink endpoint"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "endpoint" {
  for_each = { for pair in setproduct(var.client_security_group_ids, [443, 9243]) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id            = aws_security_group.endpoint.id
  referenced_security_group_id = each.value[0]
  ip_protocol                  = "tcp"
  from_port                    = each.value[1]
  to_port                      = each.value[1]
  description                  = "Elasticsearch over TLS from the tasks"
}

resource "aws_vpc_endpoint" "elastic" {
  vpc_id              = var.vpc_id
  service_name        = var.privatelink_service_name
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoint.id]
  private_dns_enabled = false
  tags                = merge(var.tags, { Name = "${var.name}-elastic" })
}

resource "aws_route53_zone" "elastic" {
  # checkov:skip=CKV2_AWS_38:A private zone inside the VPC; DNSSEC signing applies to public zones only.
  # checkov:skip=CKV2_AWS_39:Query logging for this private zone would only show our own tasks resolving one name.
  name    = var.privatelink_domain
  comment = "Elastic Cloud PrivateLink"
  vpc {
    vpc_id = var.vpc_id
  }
  tags = var.tags
}

resource "aws_route53_record" "elastic" {
  zone_id = aws_route53_zone.elastic.zone_id
  name    = "*.${var.privatelink_domain}"
  type    = "CNAME"
  ttl     = 60
  records = [aws_vpc_endpoint.elastic.dns_entry[0].dns_name]
}

resource "ec_deployment_traffic_filter" "vpce" {
  name   = "${var.name}-privatelink"
  region = "aws-${data.aws_region.current.name}"
  type   = "vpce"
  rule {
    source = aws_vpc_endpoint.elastic.id
  }
}

resource "ec_deployment" "this" {
  name                   = var.name
  region                 = "aws-${data.aws_region.current.name}"
  version                = data.ec_stack.this.version
  deployment_template_id = var.deployment_template_id
  traffic_filter         = [ec_deployment_traffic_filter.vpce.id]

  elasticsearch = {
    hot = {
      size        = var.hot_size
      zone_count  = 3
      autoscaling = { max_size = var.hot_max_size }
    }
  }

  kibana = {
    size       = "1g"
    zone_count = 1
  }

  tags = var.tags
}
