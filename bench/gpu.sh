#!/usr/bin/env bash
# The GPU check, for a Linux machine with a GPU: installs what the machine lacks, prints the
# WebGPU adapter, runs the webgpu tests on it, and the train-step benchmark at three sizes on
# webgpu and, for comparison, on wasm.
#
#   bench/gpu.sh [--sizes bench,mid,gpt2] [--wasm-sizes LIST] [--steps N] [--wasm-steps N] [--no-install]
#
# Dawn (the `webgpu` npm package) reaches the GPU through Vulkan: the Vulkan loader (libvulkan1)
# and the GPU vendor's Vulkan driver. In a container, NVIDIA's Vulkan driver is only there when
# the container gets the "graphics" capability (NVIDIA_DRIVER_CAPABILITIES=all or
# compute,utility,graphics): the default compute,utility exposes CUDA but no Vulkan.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=bench,mid,gpt2
wasm_sizes=
steps=10
wasm_steps=3
install=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --wasm-sizes) wasm_sizes=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --wasm-steps) wasm_steps=$2; shift 2 ;;
    --no-install) install=no; shift ;;
    *) echo "bench/gpu.sh: unknown argument $1 (--sizes, --wasm-sizes, --steps, --wasm-steps, --no-install)" >&2; exit 2 ;;
  esac
done
say() { printf '== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else return 1; fi; }

say "machine"
uname -srm
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"

command -v node >/dev/null 2>&1 || { echo "bench/gpu.sh: Node.js is not installed (needs Node ≥ 20.19: the webgpu package is an ES module loaded with require)" >&2; exit 1; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  { echo "bench/gpu.sh: Node $(node --version) is too old: the webgpu package needs Node ≥ 20.19" >&2; exit 1; }

if [ "$install" = yes ]; then
  say "dependencies"
  [ -d node_modules/webgpu ] && [ -d node_modules/@tensorflow/tfjs-backend-webgpu ] || npm ci --no-audit --no-fund
  if ! ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; then
    echo "installing the Vulkan loader (libvulkan1)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan1 >/dev/null ||
      { echo "bench/gpu.sh: the Vulkan loader libvulkan1 is missing and could not be installed (needs root or sudo, and apt-get)" >&2; exit 1; }
  fi
fi
# The build needs no npm: TypeScript's compiler from node_modules, as `npm run build` runs it.
node node_modules/typescript/bin/tsc -p tsconfig.build.json

say "Vulkan drivers"
icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null || true)
echo "${icds:-no Vulkan driver manifests (icd.d/*.json) in /usr/share/vulkan, /etc/vulkan or /usr/local/share/vulkan}"
# Some GPU containers mount the driver (manifest included) under /usr/local/nvidia, where the
# Vulkan loader does not look: add that manifest to the loader's list.
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nv_icd" ] && ! grep -qs nvidia $icds /dev/null; then
  export VK_ADD_DRIVER_FILES=$nv_icd
  icds="$icds $nv_icd"
  echo "NVIDIA's Vulkan driver manifest is mounted at $nv_icd: using it"
fi
if command -v nvidia-smi >/dev/null 2>&1 && ! grep -qs nvidia $icds /dev/null; then
  # The driver's Vulkan library may be mounted without its manifest: point the loader at it.
  if ldconfig -p | grep 'libGLX_nvidia\.so\.0' >/dev/null; then
    manifest=$(mktemp -d)/nvidia_icd.json
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libGLX_nvidia.so.0", "api_version": "1.3.0"}}\n' >"$manifest"
    export VK_ADD_DRIVER_FILES=$manifest
    echo "NVIDIA's Vulkan library libGLX_nvidia.so.0 is present without a manifest: using $manifest"
  else
    echo "NO VULKAN DRIVER FOR THE NVIDIA GPU IS EXPOSED: nvidia-smi sees the GPU, but neither nvidia_icd.json nor libGLX_nvidia.so.0 is here."
    echo "In a container, start it with NVIDIA_DRIVER_CAPABILITIES=all (or compute,utility,graphics) so that the NVIDIA container toolkit"
    echo "mounts the Vulkan driver; on a host, install the driver's Vulkan part (Debian/Ubuntu: the nvidia-driver's libnvidia-gl / nvidia-vulkan-icd package)."
  fi
fi

say "backend"
node dist/cli/main.js backend
STEPAGENT_BACKEND=webgpu node dist/cli/main.js backend --json >/tmp/stepagent-backend.json 2>/dev/null ||
  { echo "bench/gpu.sh: WebGPU is not available here:"; STEPAGENT_BACKEND=webgpu node dist/cli/main.js backend || true; exit 1; }
node -e 'const a = require("/tmp/stepagent-backend.json").adapter; console.log(`webgpu adapter: ${a.vendor} / ${a.architecture} / ${a.description} — ${a.software ? "SOFTWARE (no GPU driver in use)" : "hardware"}`)'
if command -v nvidia-smi >/dev/null 2>&1 && node -e 'process.exit(require("/tmp/stepagent-backend.json").adapter.software ? 0 : 1)'; then
  echo "bench/gpu.sh: nvidia-smi sees a GPU but WebGPU found only a software adapter: the loader found no NVIDIA Vulkan driver (see the Vulkan drivers section above)" >&2
  exit 1
fi

say "webgpu tests (test/gpu, test/backend/webgpu_select)"
node --import tsx --test --test-reporter=spec test/gpu/webgpu.test.ts test/backend/webgpu_select.test.ts

say "train-step benchmark: webgpu"
node --import tsx bench/gpu_train.ts --sizes "$sizes" --backends webgpu --steps "$steps" --profile
say "train-step benchmark: wasm (same machine, $(node -e 'console.log(require("os").availableParallelism())') threads)"
node --import tsx bench/gpu_train.ts --sizes "${wasm_sizes:-$sizes}" --backends wasm --steps "$wasm_steps"
