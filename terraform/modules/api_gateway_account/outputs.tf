output "cloudwatch_role_arn" {
  description = "The role API Gateway writes CloudWatch logs with."
  value       = aws_api_gateway_account.this.cloudwatch_role_arn
}
