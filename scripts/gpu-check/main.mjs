// Entry point of scripts/gpu-check.sh: pack here; on the GPU machine, node-llama-cpp's worker
// (run = build + check) and llama.cpp's server engine (run-server = build-server + check-server).
import { pack } from './pack.mjs';
import { COMMANDS, runCheck } from './run.mjs';

const usage = `Usage: scripts/gpu-check.sh pack [--list] | run | build | check | run-server | build-server | check-server

  pack          here: stage the app's CLI and worker, the GPU check's own measuring script, the
                node_modules they load, node-llama-cpp's llama.cpp source and the test model into
                .gpu-check/freehold-gpu-check.tar.gz (at most 64 MiB); --list prints the packages only

On a machine with an NVIDIA GPU and a CUDA toolkit, from the repository root with the archive
present, in this order; each command takes at most 10 minutes and ends with one line,
"gpu-check <command>: ok …" or "gpu-check <command>: FAIL at <step>: <reason>":

  run           build, then check (node-llama-cpp's worker engine)
  build         unpack (a fresh start: what earlier commands built goes), detect the GPU, build
                node-llama-cpp's CUDA backend for its architecture only
  check         the app's own CLI and worker against that build: detection and its reason, all
                layers offloaded, the per-GPU VRAM cap, a streamed reply, the pp512/tg128 benchmark
  run-server    build-server, then check-server (llama.cpp's server engine, and both engines)
  build-server  after build: llama.cpp's llama-server and ggml-rpc-server for CUDA from the same source
                ("freehold engines --build --backend cuda"), and the 0.7B bench model (random
                weights, Q8_0) written meanwhile
  check-server  after both builds: a reply on each engine with every layer on the GPU; a vision reply
                (a tiny random projector) on the GPU; plan and load on a named device (CUDA0); a
                per-GPU cap, as llama.cpp reports it and as nvidia-smi measures it; 4 streams
                against one on each engine (the 0.7B model; at least 2.5x); each engine against a
                plain llama-server on the same GPU; speculative decoding (prompt lookup on the
                worker, the model as its own draft on the server) and the tokens it accepted

Environment: GPU_CHECK_ARCHIVE (the archive; pack writes it there too), GPU_CHECK_DIR (where it is
unpacked; default $TMPDIR/freehold-gpu-check), GPU_CHECK_OUT (a folder that receives the logs and
result-<command>.json), GPU_CHECK_ARCH (CUDA architectures, e.g. 90, instead of asking nvidia-smi),
GPU_CHECK_VRAM_CAP_MIB (the worker's cap; default 1024), GPU_CHECK_DEVICE (default CUDA0),
GPU_CHECK_DEVICE_CAP_MIB (the server's per-GPU cap on the 0.7B model; default 256),
GPU_CHECK_CAP_SLACK_MIB (how far nvidia-smi may see it over the cap; default 16),
GPU_CHECK_MIN_PARALLEL_RATIO (default 2.5), GPU_CHECK_MIN_PEER_RATIO (default 0.5),
GPU_CHECK_MEASURE_ROUNDS and GPU_CHECK_MEASURE_TOKENS (default 5 and 128 on a GPU),
GPU_CHECK_STEP_TIMEOUT_S (default 600 a step, 540 for each build), GPU_CHECK_RUN_LIMIT_S (default
590 a command), FREEHOLD_ENGINES_DIR (where llama-server is built; default GPU_CHECK_DIR/engines),
GPU_CHECK_ALLOW_CPU=1 (a dry run without a GPU: skips the CUDA builds and the GPU assertions, runs
the rest on the CPU with one thread). NODE_LLAMA_CPP_CMAKE_OPTION_<NAME>=<value> passes more CMake
options to node-llama-cpp's build (e.g. GGML_CUDA_FA=OFF builds faster, without FlashAttention kernels).`;

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'pack') await pack({ listOnly: args.includes('--list') });
  else if (command !== undefined && Object.hasOwn(COMMANDS, command)) process.exitCode = await runCheck(command);
  else {
    console.log(usage);
    process.exitCode = command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
} catch (error) {
  console.log(`gpu-check ${command}: FAIL at ${command}: ${error.message}`);
  process.exitCode = 1;
}
