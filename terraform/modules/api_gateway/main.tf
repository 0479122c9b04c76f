# The REST API from the reference OpenAPI document, its deployment and stage, its log groups,
# and the permissions letting API Gateway invoke the aliases of the API function and the
# authorizer.

locals {
  # Every ${...} in docs/openapi.yml is one of these keys (checked by tests/unit/test_openapi_gateway.py).
  openapi_body = templatefile(var.openapi_path, {
    api_invoke_arn         = var.api_invoke_arn
    authorizer_invoke_arn  = var.authorizer_invoke_arn
    authorizer_ttl_seconds = var.authorizer_ttl_seconds
    integration_timeout_ms = var.integration_timeout_seconds * 1000
  })
}

# binary_media_types: a run's RO-Crate as a zip, answered as binary when the Accept names it.
resource "aws_api_gateway_rest_api" "this" {
  name                     = var.name
  description              = var.description
  body                     = local.openapi_body
  put_rest_api_mode        = "overwrite"
  fail_on_warnings         = false
  binary_media_types       = ["application/zip"]
  minimum_compression_size = tostring(var.minimum_compression_size)

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }

  tags = var.tags
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  # A new deployment whenever the document or the compression setting changes (a new function
  # version needs none: the integrations name the alias, which moves).
  triggers = {
    redeployment = sha1(jsonencode([local.openapi_body, var.minimum_compression_size]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_158:Log data is encrypted at rest by CloudWatch; a customer KMS key is optional (var.kms_key_arn).
  name              = "/aws/apigateway/${var.name}/${var.stage_name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# API Gateway writes its execution log (logging_level below) to this group, creating it
# without a retention unless it already exists: create it first, with one.
resource "aws_cloudwatch_log_group" "execution" {
  #checkov:skip=CKV_AWS_158:Log data is encrypted at rest by CloudWatch; a customer KMS key is optional (var.kms_key_arn).
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${var.stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Answers depend on the caller's identity (and presigned URLs expire); a response cache would serve one user's data to another.
  #checkov:skip=CKV2_AWS_51:Browsers call this API directly; client certificates are for backend-to-backend mTLS.
  #checkov:skip=CKV2_AWS_29:A WAF web ACL is an account-level choice; attach one with aws_wafv2_web_acl_association where required.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  # Every stageVariables.<name> of docs/openapi.yml is one of these keys (same test).
  variables = {
    allowOrigin = var.allow_origin
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId      = "$context.requestId"
      ip             = "$context.identity.sourceIp"
      requestTime    = "$context.requestTime"
      httpMethod     = "$context.httpMethod"
      resourcePath   = "$context.resourcePath"
      status         = "$context.status"
      responseLength = "$context.responseLength"
      user           = "$context.authorizer.username"
      error          = "$context.error.message"
      latency        = "$context.responseLatency"
    })
  }

  depends_on = [aws_cloudwatch_log_group.execution]

  tags = var.tags
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:No response cache on purpose (per-user answers), see the stage.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  depends_on = [aws_cloudwatch_log_group.execution]
}

# API Gateway may invoke the alias (never the unqualified function), from this stage only.
resource "aws_lambda_permission" "api" {
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.api_function_name
  qualifier     = var.api_alias_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/*/*"
}

resource "aws_lambda_permission" "authorizer" {
  statement_id  = "AllowApiGatewayInvokeAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = var.authorizer_function_name
  qualifier     = var.authorizer_alias_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/authorizers/*"
}
