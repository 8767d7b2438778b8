"""Generated protobuf code (see proto/generate.sh). Do not edit."""
