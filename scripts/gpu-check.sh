#!/usr/bin/env bash
# The prepared GPU check (README, "Check it on an NVIDIA GPU"):
#   scripts/gpu-check.sh pack    here: writes .gpu-check/freehold-gpu-check.tar.gz (at most 64 MiB)
#   scripts/gpu-check.sh run     on the GPU machine: build + check, then one summary line
#   scripts/gpu-check.sh build   on the GPU machine: unpack, build node-llama-cpp's CUDA backend for this GPU
#   scripts/gpu-check.sh check   on the GPU machine: the app's CLI and worker on CUDA, against that build
# Everything but this Node.js check lives in scripts/gpu-check/main.mjs.
set -u
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.

if ! command -v node >/dev/null 2>&1; then
  echo "gpu-check: FAIL at preflight: node not found on PATH (Node.js 20.19 or newer is needed)"
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "gpu-check: FAIL at preflight: Node.js $(node --version) is too old (20.19 or newer is needed)"
  exit 1
fi
exec node "$here/gpu-check/main.mjs" "$@"
