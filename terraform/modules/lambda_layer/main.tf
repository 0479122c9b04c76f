# The dependency layer (python/ prefix) built by scripts/build_lambda.py.

resource "aws_lambda_layer_version" "this" {
  layer_name               = var.name
  description              = var.description
  filename                 = var.zip_path
  source_code_hash         = filebase64sha256(var.zip_path)
  compatible_runtimes      = [var.runtime]
  compatible_architectures = ["x86_64"]
}
