terraform {
  required_version = ">= 1.5"

  required_providers {
    # Floor: every resource and argument the module uses exists in 5.0.0; the youngest of them,
    # aws_dynamodb_table's deletion_protection_enabled (AWS launched table deletion protection in March
    # 2023), arrived in the 4.x series. Nothing the 6.0 upgrade guide removes or deprecates is used (the
    # region comes from an ARN, see main.tf). Tested: 5.100 only; 5.0-5.99 and 6.x are admitted, untested.
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
    # 2.5.0 added glob patterns to archive_file's `excludes` (the module excludes "**/__pycache__" and
    # "**/*.pyc"); output_file_mode is older (2.2.0). A 3.0 may change both.
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.5, < 3.0"
    }
  }
}
