# Optional least-privilege execution roles, one per function, each allowed exactly the calls
# its code makes (src/labcas_workflow_api):
#
#   authorizer: its own log group; ssm:GetParameter (access_source.py); secretsmanager:
#               GetSecretValue (auth/secrets.py); kms:Decrypt through those two services
#               when they use a customer key.
#   API:        the same, on its own log group; the staging bucket (storage/s3.py: list,
#               head/get, presign GET, put of metadata sidecars only); MWAA (engines/mwaa.py:
#               GetEnvironment, InvokeRestApi, CreateWebLoginToken) for the mwaa* engines.
#
# Neither function reads the collection buckets: a run's conf names them for the workflow,
# which runs under MWAA's own execution role.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  region    = var.aws_region

  parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${trimprefix(var.config_parameter_name, "/")}"
  mwaa_env_arn  = "arn:${local.partition}:airflow:${local.region}:${local.account}:environment/${var.mwaa_env_name}"
  mwaa_role_arn = "arn:${local.partition}:airflow:${local.region}:${local.account}:role/${var.mwaa_env_name}/${var.mwaa_airflow_role}"
  log_groups    = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda"

  staging_bucket_arn = "arn:${local.partition}:s3:::${var.staging_bucket}"

  # What the MWAA engines call: `mwaa` goes through InvokeRestApi and falls back to a web
  # login session for Airflow paths longer than InvokeRestApi takes; `mwaa-web-login` only
  # logs in. Both read the environment (Airflow version, web server host).
  mwaa_actions = {
    "mwaa"           = ["airflow:InvokeRestApi", "airflow:CreateWebLoginToken"]
    "mwaa-web-login" = ["airflow:CreateWebLoginToken"]
  }
  uses_mwaa = contains(keys(local.mwaa_actions), var.engine)
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

# What both functions read: the access config and the JWT secret (and their customer key).
data "aws_iam_policy_document" "config" {
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
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values = [
          "ssm.${local.region}.amazonaws.com",
          "secretsmanager.${local.region}.amazonaws.com",
        ]
      }
    }
  }
}

# Lambda creates and deletes the network interfaces of a function in a VPC with the
# function's role. These EC2 actions are what AWSLambdaVPCAccessExecutionRole grants, without
# its logs:* on every log group; EC2's Describe* calls have no resource-level permissions.
data "aws_iam_policy_document" "vpc" {
  #checkov:skip=CKV_AWS_111:The network-interface actions on * as in AWS's AWSLambdaVPCAccessExecutionRole, which Lambda documents for functions in a VPC; attached only when the functions run in one.
  #checkov:skip=CKV_AWS_356:Same statement: Lambda manages the interfaces it creates in the function's subnets; the managed policy grants them on * too.
  statement {
    sid = "NetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "authorizer" {
  source_policy_documents = concat(
    [data.aws_iam_policy_document.config.json],
    var.in_vpc ? [data.aws_iam_policy_document.vpc.json] : [],
  )

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_groups}/${var.authorizer_function_name}:*"]
  }
}

data "aws_iam_policy_document" "api" {
  source_policy_documents = concat(
    [data.aws_iam_policy_document.config.json],
    var.in_vpc ? [data.aws_iam_policy_document.vpc.json] : [],
  )

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_groups}/${var.api_function_name}:*"]
  }

  statement {
    sid       = "StagingList"
    actions   = ["s3:ListBucket"]
    resources = [local.staging_bucket_arn]
  }

  # GetObject also covers HeadObject and the presigned download links the API signs.
  statement {
    sid       = "StagingRead"
    actions   = ["s3:GetObject"]
    resources = ["${local.staging_bucket_arn}/*"]
  }

  # The API writes only metadata sidecars (<file>.cfg, domain/sidecar.py); widen this when it
  # writes anything else.
  statement {
    sid       = "StagingSidecars"
    actions   = ["s3:PutObject"]
    resources = ["${local.staging_bucket_arn}/*.cfg"]
  }

  dynamic "statement" {
    for_each = local.uses_mwaa ? [1] : []
    content {
      sid       = "MwaaEnvironment"
      actions   = ["airflow:GetEnvironment"]
      resources = [local.mwaa_env_arn]
    }
  }

  # InvokeRestApi and CreateWebLoginToken are granted on the Airflow role the API acts as.
  dynamic "statement" {
    for_each = local.uses_mwaa ? [1] : []
    content {
      sid       = "MwaaAirflowRole"
      actions   = local.mwaa_actions[var.engine]
      resources = [local.mwaa_role_arn]
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
  policy = data.aws_iam_policy_document.authorizer.json
}
