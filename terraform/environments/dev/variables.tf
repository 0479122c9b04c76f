variable "maturity" {
  description = "Maturity of this deployment, part of every resource name."
  type        = string

  validation {
    condition     = contains(["poc", "iac", "ops"], var.maturity)
    error_message = "maturity must be poc, iac or ops."
  }
}

variable "stage" {
  description = "API Gateway stage name, the first path segment of the API URL, part of every resource name."
  type        = string
  default     = "dev"

  # Short enough for the longest name built from it (the IAM role <prefix>-authorizer, 64 max).
  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,24}$", var.stage))
    error_message = "stage must be 1 to 24 letters, digits or underscores."
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
  description = "Secrets Manager ARN of the LabCAS JWT secret (a plain string secret), with its 6-character suffix."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.jwt_secret_arn))
    error_message = "jwt_secret_arn must be the secret's full ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>), as `aws secretsmanager describe-secret` prints it."
  }
}

variable "s3_bucket_staging" {
  description = "Bucket receiving run outputs (out_bucket)."
  type        = string
}

variable "engine" {
  description = "LABCAS_ENGINE of the API function: mwaa (InvokeRestApi, web login for long paths), mwaa-web-login, or airflow3/airflow2 (an Airflow reached by LABCAS_ENGINE_URL)."
  type        = string
  default     = "mwaa"

  validation {
    condition     = contains(["airflow3", "airflow2", "mwaa", "mwaa-web-login"], var.engine)
    error_message = "engine must be one of airflow3, airflow2, mwaa, mwaa-web-login (the values of LABCAS_ENGINE)."
  }
}

variable "mwaa_env_name" {
  description = "MWAA environment running the workflows (mwaa and mwaa-web-login engines)."
  type        = string
  default     = ""

  validation {
    condition     = !startswith(var.engine, "mwaa") || can(regex("^[A-Za-z][0-9A-Za-z_-]{0,79}$", var.mwaa_env_name))
    error_message = "mwaa_env_name must name the MWAA environment when engine is mwaa or mwaa-web-login."
  }
}

variable "mwaa_airflow_role" {
  description = "Airflow role the API acts as on MWAA (the role part of the ARN it may InvokeRestApi/CreateWebLoginToken on)."
  type        = string
  default     = "Op"
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

  validation {
    condition     = (length(var.vpc_subnet_ids) > 0) == (length(var.vpc_security_group_ids) > 0)
    error_message = "vpc_subnet_ids and vpc_security_group_ids go together: give both or neither."
  }
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
  description = "The one origin (scheme://host[:port]) allowed to call the API from a browser (CORS); the web app served under /ui/ needs none."
  type        = string

  # It becomes the allowOrigin stage variable and the Access-Control-Allow-Origin of the
  # gateway's own answers: one origin, as browsers accept one; API Gateway refuses * in a
  # stage variable value.
  validation {
    condition     = can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.allow_origin))
    error_message = "allow_origin must be exactly one origin, scheme://host[:port] (e.g. https://edrn-labcas.jpl.nasa.gov): no *, no list, no path or trailing slash."
  }
}

variable "manage_staging_cors" {
  description = "Write the staging bucket's CORS configuration (GET/HEAD from the web app's origins); false: the bucket's CORS is managed elsewhere."
  type        = bool
  default     = true
}

variable "staging_cors_extra_origins" {
  description = "More origins allowed to GET presigned URLs of the staging bucket (e.g. another stage sharing the bucket, a custom domain)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.staging_cors_extra_origins : can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", o))])
    error_message = "each of staging_cors_extra_origins must be one origin, scheme://host[:port]."
  }
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
  description = "Seconds API Gateway waits for the API function (its integration timeout, at most 29); the function times out one second earlier."
  type        = number
  default     = 29

  validation {
    condition     = var.api_timeout >= 2 && var.api_timeout <= 29 && floor(var.api_timeout) == var.api_timeout
    error_message = "api_timeout must be a whole number of seconds from 2 to 29 (API Gateway's integration timeout limit)."
  }
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
  description = "Seconds API Gateway caches an authorizer answer per token (0: no cache)."
  type        = number
  default     = 300

  validation {
    condition     = var.authorizer_ttl_seconds >= 0 && var.authorizer_ttl_seconds <= 3600 && floor(var.authorizer_ttl_seconds) == var.authorizer_ttl_seconds
    error_message = "authorizer_ttl_seconds must be a whole number from 0 to 3600 (API Gateway's limit)."
  }
}

variable "snap_start" {
  description = "Lambda SnapStart on the published versions of both functions."
  type        = bool
  default     = true
}

variable "minimum_compression_size" {
  description = "API Gateway compresses answers of at least this many bytes for clients sending Accept-Encoding."
  type        = number
  default     = 1024

  validation {
    condition     = var.minimum_compression_size >= 0 && var.minimum_compression_size <= 10485760
    error_message = "minimum_compression_size must be from 0 to 10485760 bytes."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' and the stage's log groups (a value CloudWatch Logs accepts)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "manage_api_gateway_account" {
  description = "Create the account-level role API Gateway writes logs with (once per account and region; see docs/deploy-aws.md)."
  type        = bool
  default     = false
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
