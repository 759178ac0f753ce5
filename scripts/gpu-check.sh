#!/usr/bin/env bash
# The prepared GPU check (README, "Check it on an NVIDIA GPU"):
#   scripts/gpu-check.sh pack          here: writes .gpu-check/freehold-gpu-check.tar.gz (at most 64 MiB)
# then on the GPU machine, each command within 10 minutes, each ending with one summary line:
#   scripts/gpu-check.sh run           build + check (node-llama-cpp's worker engine)
#   scripts/gpu-check.sh build         unpack, build node-llama-cpp's CUDA backend for this GPU
#   scripts/gpu-check.sh check         the app's CLI and worker on CUDA, against that build
#   scripts/gpu-check.sh run-server    build-server + check-server (llama.cpp's server engine, and both engines)
#   scripts/gpu-check.sh build-server  llama.cpp's llama-server for CUDA, and the 0.7B bench model
#   scripts/gpu-check.sh check-server  both engines on CUDA: placement, cap, vision, parallel, speculative, against llama-server
# Everything but this Node.js check lives in scripts/gpu-check/main.mjs.
set -u
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
name="gpu-check${1:+ $1}"

if ! command -v node >/dev/null 2>&1; then
  echo "$name: FAIL at preflight: node not found on PATH (Node.js 20.19 or newer is needed)"
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "$name: FAIL at preflight: Node.js $(node --version) is too old (20.19 or newer is needed)"
  exit 1
fi
exec node "$here/gpu-check/main.mjs" "$@"
