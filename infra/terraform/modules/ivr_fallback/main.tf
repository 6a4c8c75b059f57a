# The IVR fallback TwiML, served to Twilio when our webhook fails (Twilio's VoiceFallbackUrl,
# method GET). The document is written by `support ivr fallback-twiml --out FILE` and uploaded
# here from var.twiml_path. The bucket stays private: CloudFront reads it through origin access
# control, and fails over to the replica in the standby region when the primary does not answer.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.80" }
  }
}

resource "aws_s3_object" "twiml" {
  bucket                 = var.bucket_name
  key                    = var.object_key
  source                 = var.twiml_path
  source_hash            = filemd5(var.twiml_path)
  content_type           = "application/xml; charset=utf-8"
  cache_control          = "max-age=300"
  server_side_encryption = "aws:kms"
  kms_key_id             = var.kms_key_arn
  tags                   = var.tags
}

resource "aws_cloudfront_origin_access_control" "this" {
  name                              = "${var.name}-ivr-fallback"
  description                       = "CloudFront reads the IVR fallback TwiML from private S3"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_response_headers_policy" "this" {
  name = "${var.name}-ivr-fallback"
  security_headers_config {
    content_type_options {
      override = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
  }
}

data "aws_cloudfront_cache_policy" "optimized" {
  name = "Managed-CachingOptimized"
}

resource "aws_cloudfront_distribution" "this" {
  # checkov:skip=CKV_AWS_68:A WAF for CloudFront must live in us-east-1; this serves one static, public-by-design TwiML file (no personal data, GET only) and Twilio must reach it during our own outages.
  # checkov:skip=CKV2_AWS_47:Same: no WAF on this static single-object distribution; there is no application behind it for Log4j payloads to reach.
  # checkov:skip=CKV_AWS_374:Twilio fetches the fallback from whichever of its regions handles the call; a geo restriction could refuse it exactly during an outage, and the document holds no personal data.
  # checkov:skip=CKV_AWS_86:CloudFront standard logs need an ACL-enabled bucket; our buckets enforce owner-only ACLs. Twilio's own call logs record each fallback fetch.
  enabled             = true
  comment             = "IVR fallback TwiML for Twilio"
  aliases             = [var.domain_name]
  default_root_object = var.object_key
  price_class         = "PriceClass_200"
  http_version        = "http2and3"

  origin_group {
    origin_id = "twiml"
    failover_criteria {
      status_codes = [403, 404, 500, 502, 503, 504]
    }
    member {
      origin_id = "primary"
    }
    member {
      origin_id = "standby"
    }
  }

  origin {
    origin_id                = "primary"
    domain_name              = var.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.this.id
  }

  origin {
    origin_id                = "standby"
    domain_name              = var.replica_bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.this.id
  }

  default_cache_behavior {
    target_origin_id           = "twiml"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = data.aws_cloudfront_cache_policy.optimized.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.this.id
  }

  restrictions {
    geo_restriction {
      # Twilio fetches from its own regions (US, Ireland, Japan, Singapore, ...).
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = var.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  tags = var.tags
}
