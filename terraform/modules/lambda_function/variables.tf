variable "name" {
  description = "Function name (contains the maturity)."
  type        = string
}

variable "description" {
  description = "Function description."
  type        = string
  default     = ""
}

variable "handler" {
  description = "Python handler, e.g. labcas_workflow_api.aws.api.handler."
  type        = string
}

variable "zip_path" {
  description = "Path of function.zip built by scripts/build_lambda.py."
  type        = string
}

variable "role_arn" {
  description = "Execution role of the function."
  type        = string
}

variable "layer_arns" {
  description = "Layers (the dependency layer)."
  type        = list(string)
  default     = []
}

variable "runtime" {
  description = "Lambda runtime (SnapStart for Python needs python3.12 or later)."
  type        = string
  default     = "python3.13"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13 (the layer's wheels and SnapStart for Python)."
  }
}

variable "snap_start" {
  description = "SnapStart on published versions (faster cold starts; Python is billed for caching and restores)."
  type        = bool
  default     = true
}

variable "alias_name" {
  description = "Alias API Gateway invokes; it follows every published version."
  type        = string
  default     = "live"
}

variable "memory_size" {
  description = "Memory (MB); CPU grows with it, and so does cold-start speed."
  type        = number
  default     = 512
}

variable "timeout" {
  description = "Timeout (s); keep it below the API Gateway integration timeout (at most 29 s)."
  type        = number

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 28
    error_message = "timeout must be 1 to 28 s: strictly below API Gateway's 29 s integration timeout."
  }
}

variable "environment" {
  description = "Environment variables (LABCAS_* settings)."
  type        = map(string)
  default     = {}
}

variable "subnet_ids" {
  description = "VPC subnets; empty: no VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "VPC security groups (with subnet_ids)."
  type        = list(string)
  default     = []
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions; null: use the account's unreserved pool."
  type        = number
  default     = null
}

variable "tracing_mode" {
  description = "X-Ray tracing mode (Active or PassThrough)."
  type        = string
  default     = "Active"
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "Customer KMS key for the environment and the log group; null: AWS-managed."
  type        = string
  default     = null
}

variable "code_signing_config_arn" {
  description = "Code signing configuration; null: none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the function."
  type        = map(string)
  default     = {}
}
