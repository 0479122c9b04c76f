# Example environment: the LabCAS Workflow API on API Gateway + Lambda.
#
#   python scripts/build_lambda.py                    # build/lambda/{function,layer}.zip
#   cd terraform/environments/dev
#   terraform init -backend-config=backend.hcl
#   terraform plan -out plan.bin && terraform apply plan.bin

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }

  # Remote state; the bucket, key and lock table are in backend.hcl (`terraform init -backend-config=backend.hcl`).
  backend "s3" {}
}

provider "aws" {
  region  = var.aws_region
  profile = var.aws_profile != "" ? var.aws_profile : null

  default_tags {
    tags = local.tags
  }
}

locals {
  prefix       = "labcas-workflow-${var.maturity}"
  api_name     = "${local.prefix}-api"
  authz_name   = "${local.prefix}-authorizer"
  artifacts    = abspath(var.artifacts_dir != "" ? var.artifacts_dir : "${path.root}/../../../build/lambda")
  openapi_path = abspath("${path.root}/../../../docs/openapi.yml")
  create_roles = var.lambda_role_arn == ""
  in_vpc       = length(var.vpc_subnet_ids) > 0

  tags = merge(var.tags, {
    project  = "labcas-workflow-api"
    maturity = var.maturity
    stage    = var.stage
  })

  common_environment = {
    LABCAS_CONFIG         = "ssm:${var.config_parameter_name}"
    LABCAS_CONFIG_TTL     = tostring(var.config_ttl_seconds)
    LABCAS_JWT_SECRET_ARN = var.jwt_secret_arn
    # Cold start: pydantic would otherwise scan every installed distribution for plugins.
    PYDANTIC_DISABLE_PLUGINS = "__all__"
  }

  api_environment = merge(local.common_environment, {
    LABCAS_ENGINE          = var.engine
    LABCAS_MWAA_ENV_NAME   = var.mwaa_env_name
    LABCAS_STAGING_BUCKET  = var.s3_bucket_staging
    LABCAS_ALLOWED_ORIGINS = var.allow_origin
  }, var.extra_environment)
}

module "iam" {
  source = "../../modules/iam"
  count  = local.create_roles ? 1 : 0

  name_prefix           = local.prefix
  aws_region            = var.aws_region
  function_names        = [local.api_name, local.authz_name]
  config_parameter_name = var.config_parameter_name
  jwt_secret_arn        = var.jwt_secret_arn
  kms_key_arns          = var.kms_key_arns
  mwaa_env_name         = var.mwaa_env_name
  staging_bucket        = var.s3_bucket_staging
  collection_buckets    = var.collection_buckets
  in_vpc                = local.in_vpc
}

module "layer" {
  source = "../../modules/lambda_layer"

  name     = "${local.prefix}-deps"
  zip_path = "${local.artifacts}/layer.zip"
}

module "api_function" {
  source = "../../modules/lambda_function"

  name                 = local.api_name
  description          = "LabCAS Workflow API (${var.maturity})"
  handler              = "labcas_workflow_api.aws.api.handler"
  zip_path             = "${local.artifacts}/function.zip"
  role_arn             = local.create_roles ? module.iam[0].api_role_arn : var.lambda_role_arn
  layer_arns           = [module.layer.arn]
  memory_size          = var.api_memory_size
  timeout              = var.api_timeout
  environment          = local.api_environment
  subnet_ids           = var.vpc_subnet_ids
  security_group_ids   = var.vpc_security_group_ids
  reserved_concurrency = var.api_reserved_concurrency
  log_retention_days   = var.log_retention_days
}

module "authorizer_function" {
  source = "../../modules/lambda_function"

  name               = local.authz_name
  description        = "LabCAS JWT authorizer (${var.maturity})"
  handler            = "labcas_workflow_api.aws.authorizer.handler"
  zip_path           = "${local.artifacts}/function.zip"
  role_arn           = local.create_roles ? module.iam[0].authorizer_role_arn : var.lambda_role_arn
  layer_arns         = [module.layer.arn]
  memory_size        = var.authorizer_memory_size
  timeout            = 10
  environment        = local.common_environment
  subnet_ids         = var.vpc_subnet_ids
  security_group_ids = var.vpc_security_group_ids
  log_retention_days = var.log_retention_days
}

module "api_gateway" {
  source = "../../modules/api_gateway"

  name                     = local.api_name
  openapi_path             = local.openapi_path
  stage_name               = var.stage
  allow_origin             = var.allow_origin
  api_invoke_arn           = module.api_function.invoke_arn
  api_function_name        = module.api_function.function_name
  authorizer_invoke_arn    = module.authorizer_function.invoke_arn
  authorizer_function_name = module.authorizer_function.function_name
  authorizer_ttl_seconds   = var.authorizer_ttl_seconds
  log_retention_days       = var.log_retention_days
}
