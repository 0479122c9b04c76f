variable "name_prefix" {
  description = "Prefix of the role names (contains the maturity)."
  type        = string
}

variable "aws_region" {
  description = "Region of the MWAA environment, the SSM parameter and the functions."
  type        = string
}

variable "function_names" {
  description = "Names of the functions whose log groups the roles write."
  type        = list(string)
}

variable "config_parameter_name" {
  description = "SSM parameter holding the access config (e.g. /labcas/workflow/api/config)."
  type        = string
}

variable "jwt_secret_arn" {
  description = "Secrets Manager ARN of the JWT secret."
  type        = string
}

variable "kms_key_arns" {
  description = "Customer KMS keys encrypting the parameter or the secret, if any."
  type        = list(string)
  default     = []
}

variable "mwaa_env_name" {
  description = "MWAA environment name."
  type        = string
}

variable "mwaa_airflow_role" {
  description = "Airflow role the API acts as through InvokeRestApi (Op, User, ...)."
  type        = string
  default     = "Op"
}

variable "staging_bucket" {
  description = "Bucket receiving run outputs."
  type        = string
}

variable "collection_buckets" {
  description = "Buckets of the data selections (read only)."
  type        = list(string)
  default     = []
}

variable "in_vpc" {
  description = "Whether the functions run in a VPC (adds the network-interface permissions)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags of the roles."
  type        = map(string)
  default     = {}
}
