#!/usr/bin/env sh
# Builds the revokd binary the way releases and the container image do:
# static (no cgo), without local paths, into OUT (default ./bin/revokd).
# The Dockerfile runs this very script, and the test command runs it too
# (cmd/revokd TestBuildScript), so that the image's build is the tested one.
set -eu
cd "$(dirname "$0")/.."
out="${1:-bin/revokd}"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out" ./cmd/revokd
