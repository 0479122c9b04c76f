# Optional least-privilege execution roles: one for the API function, one for the authorizer.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  region    = var.aws_region

  parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${trimprefix(var.config_parameter_name, "/")}"
  mwaa_env_arn  = "arn:${local.partition}:airflow:${local.region}:${local.account}:environment/${var.mwaa_env_name}"
  mwaa_role_arn = "arn:${local.partition}:airflow:${local.region}:${local.account}:role/${var.mwaa_env_name}/${var.mwaa_airflow_role}"
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda"

  collection_bucket_arns = [for b in var.collection_buckets : "arn:${local.partition}:s3:::${b}"]
  staging_bucket_arn     = "arn:${local.partition}:s3:::${var.staging_bucket}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# What both functions need: their own logs, X-Ray, the access config and the JWT secret.
data "aws_iam_policy_document" "common" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for f in var.function_names : "${local.log_group_arn}/${f}:*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray has no resource-level permissions
  }

  statement {
    sid       = "AccessConfig"
    actions   = ["ssm:GetParameter"]
    resources = [local.parameter_arn]
  }

  statement {
    sid       = "JwtSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.jwt_secret_arn]
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptConfigAndSecret"
      actions   = ["kms:Decrypt"]
      resources = var.kms_key_arns
    }
  }
}

# The API function also drives MWAA and reads/writes the staging bucket.
data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.common.json]

  statement {
    sid       = "MwaaEnvironment"
    actions   = ["airflow:GetEnvironment"]
    resources = [local.mwaa_env_arn]
  }

  statement {
    sid       = "MwaaApi"
    actions   = ["airflow:InvokeRestApi", "airflow:CreateWebLoginToken"]
    resources = [local.mwaa_role_arn]
  }

  statement {
    sid       = "StagingList"
    actions   = ["s3:ListBucket"]
    resources = [local.staging_bucket_arn]
  }

  statement {
    sid       = "StagingObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.staging_bucket_arn}/*"]
  }

  dynamic "statement" {
    for_each = length(local.collection_bucket_arns) > 0 ? [1] : []
    content {
      sid       = "CollectionsRead"
      actions   = ["s3:ListBucket", "s3:GetObject"]
      resources = concat(local.collection_bucket_arns, [for a in local.collection_bucket_arns : "${a}/*"])
    }
  }
}

resource "aws_iam_role" "api" {
  name               = "${var.name_prefix}-api"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "api" {
  name   = "${var.name_prefix}-api"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

resource "aws_iam_role" "authorizer" {
  name               = "${var.name_prefix}-authorizer"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "authorizer" {
  name   = "${var.name_prefix}-authorizer"
  role   = aws_iam_role.authorizer.id
  policy = data.aws_iam_policy_document.common.json
}

# Functions in a VPC create and delete their network interfaces (AWS-managed policy).
resource "aws_iam_role_policy_attachment" "api_vpc" {
  count      = var.in_vpc ? 1 : 0
  role       = aws_iam_role.api.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy_attachment" "authorizer_vpc" {
  count      = var.in_vpc ? 1 : 0
  role       = aws_iam_role.authorizer.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}
