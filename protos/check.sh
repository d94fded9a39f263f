#!/usr/bin/env bash
# Checks that the generated Go code under protos/ is fresh: it regenerates
# every .proto into a temporary folder with gen.sh and compares the result
# with the committed *.pb.go files, both ways (a stale file with no .proto
# left fails too). It needs protoc (Debian's protobuf-compiler, 3.21); where
# protoc is absent, as on a CI machine that starts with only Go, it says so
# and skips rather than fails.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v protoc >/dev/null 2>&1; then
  echo "proto-check: SKIPPED, protoc is not installed (apt-get install protobuf-compiler); generated code not compared"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
./gen.sh "$tmp/fresh"
mkdir -p "$tmp/committed"
find . -name '*.pb.go' -not -path './*/testdata/*' -exec cp --parents {} "$tmp/committed/" \;
if ! diff -ru "$tmp/committed" "$tmp/fresh" >"$tmp/diff"; then
  sed -e "s#$tmp/committed/#protos/#g" -e "s#$tmp/fresh/#generated/#g" "$tmp/diff" | head -n 60
  echo "proto-check: the generated code under protos/ is stale; run 'make proto' and commit the result" >&2
  exit 1
fi
echo "proto-check: generated code is fresh ($(protoc --version))"
