# TLS certificates (ACM, validated through DNS in the service's Route 53 zone): the API in
# both regions, and the IVR fallback in us-east-1 (CloudFront's region).

locals {
  certificates = {
    api          = aws_acm_certificate.api
    api_standby  = aws_acm_certificate.api_standby
    ivr_fallback = aws_acm_certificate.ivr_fallback
  }
  # The two API certificates share their validation record (same name): write it once.
  validation_records = {
    for record in flatten([
      for key, cert in local.certificates : [
        for option in cert.domain_validation_options : {
          name   = option.resource_record_name
          type   = option.resource_record_type
          record = option.resource_record_value
        }
      ]
    ]) : record.name => record...
  }
}

resource "aws_acm_certificate" "api" {
  domain_name       = var.api_domain_name
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "api_standby" {
  provider          = aws.standby
  domain_name       = var.api_domain_name
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate" "ivr_fallback" {
  provider          = aws.us_east_1
  domain_name       = var.ivr_fallback_domain_name
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each        = local.validation_records
  zone_id         = var.route53_zone_id
  name            = each.value[0].name
  type            = each.value[0].type
  records         = [each.value[0].record]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "api" {
  certificate_arn         = aws_acm_certificate.api.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_acm_certificate_validation" "api_standby" {
  provider                = aws.standby
  certificate_arn         = aws_acm_certificate.api_standby.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_acm_certificate_validation" "ivr_fallback" {
  provider                = aws.us_east_1
  certificate_arn         = aws_acm_certificate.ivr_fallback.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}
