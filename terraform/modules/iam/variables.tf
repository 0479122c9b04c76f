variable "name_prefix" {
  description = "Prefix of the role names (contains the maturity and the stage)."
  type        = string
}

variable "aws_region" {
  description = "Region of the MWAA environment, the SSM parameter and the functions."
  type        = string
}

variable "api_function_name" {
  description = "Name of the API function (its log group is /aws/lambda/<name>)."
  type        = string
}

variable "authorizer_function_name" {
  description = "Name of the authorizer function (its log group is /aws/lambda/<name>)."
  type        = string
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

variable "engine" {
  description = "LABCAS_ENGINE of the API function; the mwaa* engines get the MWAA permissions."
  type        = string
}

variable "mwaa_env_name" {
  description = "MWAA environment name (mwaa* engines)."
  type        = string
}

variable "mwaa_airflow_role" {
  description = "Airflow role the API acts as through InvokeRestApi and web login (Op, User, ...)."
  type        = string
  default     = "Op"
}

variable "staging_bucket" {
  description = "Bucket receiving run outputs."
  type        = string
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
