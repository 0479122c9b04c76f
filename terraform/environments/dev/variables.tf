variable "maturity" {
  description = "Maturity of this deployment, part of every resource name."
  type        = string

  validation {
    condition     = contains(["poc", "iac", "ops"], var.maturity)
    error_message = "maturity must be poc, iac or ops."
  }
}

variable "stage" {
  description = "API Gateway stage name, the first path segment of the API URL."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,128}$", var.stage))
    error_message = "stage must be letters, digits or underscores."
  }
}

variable "aws_region" {
  description = "AWS region."
  type        = string
}

variable "aws_profile" {
  description = "AWS CLI profile for credentials; empty: the default credential chain."
  type        = string
  default     = ""
}

variable "lambda_role_arn" {
  description = "Existing execution role for both functions; empty: create least-privilege roles."
  type        = string
  default     = ""
}

variable "jwt_secret_arn" {
  description = "Secrets Manager ARN of the LabCAS JWT secret (a plain string secret)."
  type        = string
}

variable "s3_bucket_staging" {
  description = "Bucket receiving run outputs (out_bucket)."
  type        = string
}

variable "mwaa_env_name" {
  description = "MWAA environment running the workflows."
  type        = string
}

variable "vpc_subnet_ids" {
  description = "Subnets of the functions (reaching MWAA, S3, SSM and Secrets Manager); empty: no VPC."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups of the functions (with vpc_subnet_ids)."
  type        = list(string)
  default     = []
}

variable "config_parameter_name" {
  description = "SSM parameter (String or SecureString) holding the access config YAML."
  type        = string
  default     = "/labcas/workflow/api/config"
}

variable "config_ttl_seconds" {
  description = "Seconds before a function re-reads the access config."
  type        = number
  default     = 60
}

variable "allow_origin" {
  description = "Origin of the browser UI allowed by CORS (one origin, or *)."
  type        = string
}

variable "engine" {
  description = "LABCAS_ENGINE of the API function (mwaa, or mwaa-web-login)."
  type        = string
  default     = "mwaa"
}

variable "collection_buckets" {
  description = "Buckets of the data selections the API may read."
  type        = list(string)
  default     = []
}

variable "kms_key_arns" {
  description = "Customer KMS keys of the SSM parameter or the secret, if any."
  type        = list(string)
  default     = []
}

variable "artifacts_dir" {
  description = "Directory with function.zip and layer.zip; empty: build/lambda of the repo."
  type        = string
  default     = ""
}

variable "api_memory_size" {
  description = "Memory (MB) of the API function."
  type        = number
  default     = 1024
}

variable "api_timeout" {
  description = "Timeout (s) of the API function (API Gateway stops waiting at 29 s)."
  type        = number
  default     = 29
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the API function; null: unreserved."
  type        = number
  default     = null
}

variable "authorizer_memory_size" {
  description = "Memory (MB) of the authorizer."
  type        = number
  default     = 512
}

variable "authorizer_ttl_seconds" {
  description = "Seconds API Gateway caches an authorizer answer per token."
  type        = number
  default     = 300
}

variable "log_retention_days" {
  description = "Retention of the functions' and the stage's log groups."
  type        = number
  default     = 365
}

variable "extra_environment" {
  description = "More LABCAS_* settings for the API function (e.g. LABCAS_PRESIGN_TTL)."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
