"""S3 and moto fixtures (owned by the storage work)."""
