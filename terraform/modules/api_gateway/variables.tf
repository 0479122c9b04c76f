variable "name" {
  description = "REST API name (contains the maturity and the stage)."
  type        = string
}

variable "description" {
  description = "REST API description."
  type        = string
  default     = "LabCAS Workflow API"
}

variable "openapi_path" {
  description = "The reference OpenAPI document with the API Gateway extensions (docs/openapi.yml)."
  type        = string
}

variable "stage_name" {
  description = "Stage name, the first path segment of the URL (e.g. dev)."
  type        = string
}

variable "allow_origin" {
  description = "CORS origin of the browser UI (the allowOrigin stage variable): one origin, no *."
  type        = string
}

variable "api_invoke_arn" {
  description = "Invoke ARN of the API function's alias."
  type        = string
}

variable "api_function_name" {
  description = "Name of the API function."
  type        = string
}

variable "api_alias_name" {
  description = "Alias of the API function API Gateway invokes."
  type        = string
}

variable "authorizer_invoke_arn" {
  description = "Invoke ARN of the authorizer function's alias."
  type        = string
}

variable "authorizer_function_name" {
  description = "Name of the authorizer function."
  type        = string
}

variable "authorizer_alias_name" {
  description = "Alias of the authorizer function API Gateway invokes."
  type        = string
}

variable "authorizer_ttl_seconds" {
  description = "How long API Gateway caches an authorizer answer per token (0-3600)."
  type        = number
  default     = 300
}

variable "integration_timeout_seconds" {
  description = "How long API Gateway waits for the API function (at most 29 s)."
  type        = number
  default     = 29
}

variable "minimum_compression_size" {
  description = "Answers of at least this many bytes are compressed for clients that accept it."
  type        = number
  default     = 1024
}

variable "throttling_burst_limit" {
  description = "Stage-wide burst limit (requests)."
  type        = number
  default     = 100
}

variable "throttling_rate_limit" {
  description = "Stage-wide steady rate limit (requests per second)."
  type        = number
  default     = 50
}

variable "log_retention_days" {
  description = "Retention of the access and execution log groups."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Customer KMS key of the log groups; null: AWS-managed."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags."
  type        = map(string)
  default     = {}
}
