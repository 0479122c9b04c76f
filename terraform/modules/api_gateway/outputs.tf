output "rest_api_id" {
  description = "REST API id."
  value       = aws_api_gateway_rest_api.this.id
}

output "execution_arn" {
  description = "Execution ARN of the REST API."
  value       = aws_api_gateway_rest_api.this.execution_arn
}

output "invoke_url" {
  description = "Base URL of the stage, e.g. https://<id>.execute-api.<region>.amazonaws.com/dev"
  value       = aws_api_gateway_stage.this.invoke_url
}

output "access_log_group_name" {
  description = "The stage's access log group."
  value       = aws_cloudwatch_log_group.access.name
}

output "execution_log_group_name" {
  description = "The stage's execution (error) log group."
  value       = aws_cloudwatch_log_group.execution.name
}
