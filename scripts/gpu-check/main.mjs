// Entry point of scripts/gpu-check.sh: pack here, run (build, then check) on the GPU machine.
import { pack } from './pack.mjs';
import { runCheck } from './run.mjs';

const usage = `Usage: scripts/gpu-check.sh pack [--list] | run | build | check

  pack    here: stage the app's CLI and worker, the node_modules they load, node-llama-cpp's
          llama.cpp source and the test model into .gpu-check/freehold-gpu-check.tar.gz (at most
          64 MiB); --list prints the packages only
  run     on a machine with an NVIDIA GPU and a CUDA toolkit, from the repository root with the
          archive present: build, then check; ends with one line, "gpu-check: ok …" or
          "gpu-check: FAIL at <step>: <reason>"
  build   unpack, detect the GPU, build node-llama-cpp's CUDA backend for its architecture only
  check   the app's own CLI and worker against that build: detection and its reason, all layers
          offloaded, the per-GPU VRAM cap, a streamed reply, the pp512/tg128 benchmark

Environment: GPU_CHECK_ARCHIVE (the archive), GPU_CHECK_DIR (where it is unpacked; default
$TMPDIR/freehold-gpu-check), GPU_CHECK_OUT (a folder that receives the logs and result.json),
GPU_CHECK_ARCH (CUDA architectures, e.g. 90, instead of asking nvidia-smi), GPU_CHECK_VRAM_CAP_MIB
(default 1024), GPU_CHECK_STEP_TIMEOUT_S (default 600 a step, 540 for the build),
GPU_CHECK_ALLOW_CPU=1 (a dry run without a GPU: skips the CUDA build and the GPU assertions, runs
the rest on the CPU with one thread). NODE_LLAMA_CPP_CMAKE_OPTION_<NAME>=<value> passes more CMake
options to the build (e.g. GGML_CUDA_FA=OFF builds faster, without FlashAttention kernels).`;

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'pack') await pack({ listOnly: args.includes('--list') });
  else if (command === 'run' || command === 'build' || command === 'check') process.exitCode = await runCheck(command);
  else {
    console.log(usage);
    process.exitCode = command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
} catch (error) {
  console.log(`gpu-check: FAIL at ${command}: ${error.message}`);
  process.exitCode = 1;
}
