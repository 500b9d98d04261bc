# tflint configuration for contributors who have tflint (it cannot be installed on this project's build
# machines, which have no internet: nothing here runs in `make test`; terraform validate and checkov do).
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

plugin "aws" {
  enabled = true
  version = "0.30.0" # pin a release; newer ones add rules
  source  = "github.com/terraform-linters/tflint-ruleset-aws"
}
