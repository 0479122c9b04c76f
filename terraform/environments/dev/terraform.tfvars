# Example values for the dev environment; replace the account-specific ones.
maturity    = "iac"
stage       = "dev"
aws_region  = "us-west-2"
aws_profile = ""

# Empty: Terraform creates least-privilege roles; or give an existing execution role.
lambda_role_arn = ""

jwt_secret_arn        = "arn:aws:secretsmanager:us-west-2:123456789012:secret:labcas/workflow/api/jwt-AbCdEf"
config_parameter_name = "/labcas/workflow/api/config"
s3_bucket_staging     = "labcas-staging-dev"
engine                = "mwaa"
mwaa_env_name         = "labcas-airflow-dev"
allow_origin          = "https://edrn-labcas.jpl.nasa.gov"

# The subnets and security group of the MWAA environment (private endpoint reachable from there).
vpc_subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
vpc_security_group_ids = ["sg-0123456789abcdef0"]
