# Remote state of the dev environment: `terraform init -backend-config=backend.hcl`.
bucket         = "labcas-terraform-state"
key            = "labcas-workflow-api/iac/dev/terraform.tfstate"
region         = "us-west-2"
encrypt        = true
dynamodb_table = "labcas-terraform-locks"
