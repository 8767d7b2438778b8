#!/usr/bin/env bash
# Regenerates strongbox/pb/*_pb2.py(i) (and the gRPC stubs of cluster.proto)
# from proto/. CI runs this and fails if the committed code differs, so never
# edit the generated files by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -I proto --python_out=. --pyi_out=. proto/strongbox/pb/*.proto
python -m grpc_tools.protoc -I proto --grpc_python_out=. proto/strongbox/pb/cluster.proto
