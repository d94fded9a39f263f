#!/usr/bin/env bash
# Regenerates the Go code of every .proto under protos/ into OUT (default: in
# place). The plugins are built from the versions pinned as tools in go.mod,
# so the output depends only on go.mod and protoc (Debian's protoc 3.21).
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-.}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/" google.golang.org/protobuf/cmd/protoc-gen-go \
  github.com/asynkron/protoactor-go/protobuf/protoc-gen-go-grain
mkdir -p "$out"
protoc -I . \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grain="$bin/protoc-gen-go-grain" \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grain_out="$out" --go-grain_opt=paths=source_relative \
  $(find . -name '*.proto' -not -path './*/testdata/*' | sort)
