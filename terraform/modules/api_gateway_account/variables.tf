variable "role_name" {
  description = "Name of the role API Gateway writes CloudWatch logs with."
  type        = string
}

variable "tags" {
  description = "Tags of the role."
  type        = map(string)
  default     = {}
}
