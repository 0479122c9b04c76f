# Remote state of the dev environment: `terraform init -backend-config=backend.hcl`.
# use_lockfile: S3 native state locking (a .tflock object next to the state; Terraform >= 1.10).
bucket       = "labcas-terraform-state"
key          = "labcas-workflow-api/iac/dev/terraform.tfstate"
region       = "us-west-2"
encrypt      = true
use_lockfile = true
