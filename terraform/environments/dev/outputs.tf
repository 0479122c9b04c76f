output "api_url" {
  description = "Base URL of the API stage."
  value       = module.api_gateway.invoke_url
}

output "rest_api_id" {
  description = "REST API id."
  value       = module.api_gateway.rest_api_id
}

output "api_function_name" {
  description = "API function name (for logs: /aws/lambda/<name>)."
  value       = module.api_function.function_name
}

output "authorizer_function_name" {
  description = "Authorizer function name."
  value       = module.authorizer_function.function_name
}
