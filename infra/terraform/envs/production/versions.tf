terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.80" }
    ec  = { source = "elastic/ec", version = "~> 0.12" }
  }

  # State in S3, encrypted with a customer key, locked with a lock file. The bucket and key
  # are created once by hand (docs/runbooks/README.md); pass them with -backend-config.
  backend "s3" {
    key          = "support/production/terraform.tfstate"
    region       = "ap-northeast-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.primary_region
  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "standby"
  region = var.standby_region
  default_tags {
    tags = local.tags
  }
}

# Route 53 health-check metrics and CloudFront certificates exist only in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
  default_tags {
    tags = local.tags
  }
}

# The Elastic Cloud API key comes from the EC_API_KEY environment variable, never from code.
provider "ec" {}
