output "api_url" {
  description = "Base URL of the API stage."
  value       = module.api_gateway.invoke_url
}

output "ui_url" {
  description = "The web app, served by the same API (its page; the stage routes /ui/{proxy+} only)."
  value       = "${module.api_gateway.invoke_url}/ui/index.html"
}

output "rest_api_id" {
  description = "REST API id."
  value       = module.api_gateway.rest_api_id
}

output "api_function_name" {
  description = "API function name (for logs: /aws/lambda/<name>)."
  value       = module.api_function.function_name
}

output "api_function_version" {
  description = "Version of the API function the alias points at."
  value       = module.api_function.version
}

output "authorizer_function_name" {
  description = "Authorizer function name."
  value       = module.authorizer_function.function_name
}

output "authorizer_function_version" {
  description = "Version of the authorizer the alias points at."
  value       = module.authorizer_function.version
}

output "access_log_group" {
  description = "The stage's access log (one JSON line per request)."
  value       = module.api_gateway.access_log_group_name
}

output "execution_log_group" {
  description = "The stage's execution log (API Gateway's own errors)."
  value       = module.api_gateway.execution_log_group_name
}
