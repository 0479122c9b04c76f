output "arn" {
  description = "Function ARN (unqualified)."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Function name."
  value       = aws_lambda_function.this.function_name
}

output "version" {
  description = "The version published by this apply."
  value       = aws_lambda_function.this.version
}

output "alias_name" {
  description = "Name of the alias API Gateway invokes."
  value       = aws_lambda_alias.live.name
}

output "alias_arn" {
  description = "ARN of the alias."
  value       = aws_lambda_alias.live.arn
}

output "alias_invoke_arn" {
  description = "ARN API Gateway uses to invoke the alias (integration and authorizer URIs)."
  value       = aws_lambda_alias.live.invoke_arn
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}
