# Example environment: the LabCAS Workflow API on API Gateway + Lambda, with the web app
# served by the same API under /ui/.
#
#   python scripts/build_lambda.py                    # build/lambda/{function,layer}.zip
#   cd terraform/environments/dev
#   terraform init -backend-config=backend.hcl
#   terraform plan -out plan.bin && terraform apply plan.bin

terraform {
  # 1.10: S3 state locking with a lock file (use_lockfile in backend.hcl).
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state; the bucket, key and locking are in backend.hcl (`terraform init -backend-config=backend.hcl`).
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
  # Maturity and stage in every name: two stages of one maturity can share an account.
  prefix       = "labcas-workflow-${var.maturity}-${var.stage}"
  api_name     = "${local.prefix}-api"
  authz_name   = "${local.prefix}-authorizer"
  artifacts    = abspath(var.artifacts_dir != "" ? var.artifacts_dir : "${path.root}/../../../build/lambda")
  openapi_path = abspath("${path.root}/../../../docs/openapi.yml")
  create_roles = var.lambda_role_arn == ""
  in_vpc       = length(var.vpc_subnet_ids) > 0

  # API Gateway stops waiting for the API function after var.api_timeout seconds (the
  # integration timeout, at most 29 s); the function's own timeout is one second shorter, so
  # Lambda ends a slow invocation before the gateway gives up on it and no work goes on
  # behind a 504 the caller already has.
  api_function_timeout = var.api_timeout - 1

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

  # The web app is served by the API (same origin); its previews fetch presigned URLs of the
  # staging bucket from that origin, and from allow_origin when it is hosted there too.
  api_origin = regex("^https://[^/]+", module.api_gateway.invoke_url)
}

module "iam" {
  source = "../../modules/iam"
  count  = local.create_roles ? 1 : 0

  name_prefix              = local.prefix
  aws_region               = var.aws_region
  api_function_name        = local.api_name
  authorizer_function_name = local.authz_name
  config_parameter_name    = var.config_parameter_name
  jwt_secret_arn           = var.jwt_secret_arn
  kms_key_arns             = var.kms_key_arns
  engine                   = var.engine
  mwaa_env_name            = var.mwaa_env_name
  mwaa_airflow_role        = var.mwaa_airflow_role
  staging_bucket           = var.s3_bucket_staging
  in_vpc                   = local.in_vpc
}

module "layer" {
  source = "../../modules/lambda_layer"

  name     = "${local.prefix}-deps"
  zip_path = "${local.artifacts}/layer.zip"
}

module "api_function" {
  source = "../../modules/lambda_function"

  name                 = local.api_name
  description          = "LabCAS Workflow API (${var.maturity}, ${var.stage})"
  handler              = "labcas_workflow_api.aws.api.handler"
  zip_path             = "${local.artifacts}/function.zip"
  role_arn             = local.create_roles ? module.iam[0].api_role_arn : var.lambda_role_arn
  layer_arns           = [module.layer.arn]
  memory_size          = var.api_memory_size
  timeout              = local.api_function_timeout
  environment          = local.api_environment
  subnet_ids           = var.vpc_subnet_ids
  security_group_ids   = var.vpc_security_group_ids
  reserved_concurrency = var.api_reserved_concurrency
  snap_start           = var.snap_start
  log_retention_days   = var.log_retention_days
}

module "authorizer_function" {
  source = "../../modules/lambda_function"

  name        = local.authz_name
  description = "LabCAS JWT authorizer (${var.maturity}, ${var.stage})"
  handler     = "labcas_workflow_api.aws.authorizer.handler"
  zip_path    = "${local.artifacts}/function.zip"
  role_arn    = local.create_roles ? module.iam[0].authorizer_role_arn : var.lambda_role_arn
  layer_arns  = [module.layer.arn]
  memory_size = var.authorizer_memory_size
  # The authorizer reads SSM and Secrets Manager at most once per cache period. One read
  # takes at most 2 tries x (1 s connect + 3 s read) + 1 s pause = 9 s
  # (src/labcas_workflow_api/access_source.py), within these 10 s less the 1 s kept to
  # answer; a cold start's second read gets what the first left (deadline.py), so a silent
  # service is a 500 from the authorizer, not a Lambda timeout.
  timeout            = 10
  environment        = local.common_environment
  subnet_ids         = var.vpc_subnet_ids
  security_group_ids = var.vpc_security_group_ids
  snap_start         = var.snap_start
  log_retention_days = var.log_retention_days
}

# Once per account and region (see docs/deploy-aws.md): the role API Gateway logs with.
module "api_gateway_account" {
  source = "../../modules/api_gateway_account"
  count  = var.manage_api_gateway_account ? 1 : 0

  role_name = "${local.prefix}-apigw-logs"
}

module "api_gateway" {
  source = "../../modules/api_gateway"

  name                        = local.api_name
  openapi_path                = local.openapi_path
  stage_name                  = var.stage
  allow_origin                = var.allow_origin
  api_invoke_arn              = module.api_function.alias_invoke_arn
  api_function_name           = module.api_function.function_name
  api_alias_name              = module.api_function.alias_name
  authorizer_invoke_arn       = module.authorizer_function.alias_invoke_arn
  authorizer_function_name    = module.authorizer_function.function_name
  authorizer_alias_name       = module.authorizer_function.alias_name
  authorizer_ttl_seconds      = var.authorizer_ttl_seconds
  integration_timeout_seconds = var.api_timeout
  minimum_compression_size    = var.minimum_compression_size
  log_retention_days          = var.log_retention_days

  depends_on = [module.api_gateway_account]
}

# Presigned URLs of the staging bucket are fetched by the web app (previews): GET and HEAD
# from its origins. This resource holds the bucket's whole CORS configuration.
resource "aws_s3_bucket_cors_configuration" "staging" {
  count  = var.manage_staging_cors ? 1 : 0
  bucket = var.s3_bucket_staging

  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = distinct(concat([local.api_origin, var.allow_origin], var.staging_cors_extra_origins))
    allowed_headers = ["Range"]
    expose_headers  = ["Content-Length", "Content-Range", "Content-Type", "ETag"]
    max_age_seconds = 3000
  }
}
