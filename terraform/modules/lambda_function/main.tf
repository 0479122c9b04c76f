# One Lambda function of the API (the API itself or the authorizer), its log group, and the
# alias API Gateway invokes: every apply that changes the code or the settings publishes a
# version, SnapStart snapshots it once initialized, and the alias moves to it.

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:Log data is encrypted at rest by CloudWatch; a customer KMS key is optional (var.kms_key_arn).
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway only; a dead-letter queue applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_173:The environment holds no secret (the JWT secret is read from Secrets Manager); a customer KMS key is optional (var.kms_key_arn).
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the deploying account may not have; optional via var.code_signing_config_arn.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is set per account with var.reserved_concurrency (a fixed value can exceed a new account's quota).
  #checkov:skip=CKV_AWS_117:VPC placement is configured with var.subnet_ids/var.security_group_ids (required where MWAA's endpoint is private).
  function_name                  = var.name
  description                    = var.description
  role                           = var.role_arn
  runtime                        = var.runtime
  architectures                  = ["x86_64"]
  handler                        = var.handler
  filename                       = var.zip_path
  source_code_hash               = filebase64sha256(var.zip_path)
  layers                         = var.layer_arns
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn
  code_signing_config_arn        = var.code_signing_config_arn
  publish                        = true

  # SnapStart works on published versions only: the alias below points at one.
  dynamic "snap_start" {
    for_each = var.snap_start ? [1] : []
    content {
      apply_on = "PublishedVersions"
    }
  }

  environment {
    variables = var.environment
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tracing_config {
    mode = var.tracing_mode
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags
}

resource "aws_lambda_alias" "live" {
  name             = var.alias_name
  description      = "The version API Gateway invokes"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version
}
