output "api_role_arn" {
  description = "Execution role of the API function."
  value       = aws_iam_role.api.arn
}

output "authorizer_role_arn" {
  description = "Execution role of the authorizer."
  value       = aws_iam_role.authorizer.arn
}
