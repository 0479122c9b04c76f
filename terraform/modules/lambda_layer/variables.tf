variable "name" {
  description = "Layer name (contains the maturity)."
  type        = string
}

variable "zip_path" {
  description = "Path of layer.zip built by scripts/build_lambda.py."
  type        = string
}

variable "runtime" {
  description = "Lambda runtime the wheels were chosen for."
  type        = string
  default     = "python3.13"
}

variable "description" {
  description = "Layer description."
  type        = string
  default     = "LabCAS Workflow API dependencies"
}
