#!/usr/bin/env bash
# The GPU checks in one go: build, the ONNX parity/contract/micro-batcher tests (TIGER and HSTU) with ONNX Runtime on
# CUDA, export of a trained model with TorchSharp-vs-ONNX-Runtime parity on real histories, a short serving benchmark,
# and HSTU's one-pass-vs-a-pass-per-candidate benchmark — all with the CUDA execution provider where a GPU and CUDA 13
# + cuDNN are present. Runs on the CPU elsewhere (the tests and commands then say why CUDA was not used), so it is also
# part of checking a CPU-only machine.
# Usage: scripts/gpu-check.sh [out-dir]        (GENREC_GPU_REQUIRED=1: fail instead of falling back to the CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/gpu-check}
data=samples/data/movielens-small/ratings.csv.gz
mkdir -p "$out"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  provider=Auto
else
  echo "no NVIDIA GPU visible: the checks run on the CPU"
  provider=Cpu
fi
[ "${GENREC_GPU_REQUIRED:-0}" = 1 ] && provider=Cuda

echo "== build"
dotnet build GenRec.Sdk.sln -c Release -v q -nologo | tail -n 3

echo "== ONNX Runtime tests (provider $provider)"
GENREC_ONNX_PROVIDER=$provider dotnet test tests/GenRec.Inference.Tests -c Release --no-build -v q -nologo 2>&1 | grep -E "Passed!|Failed" | tee "$out/tests.txt"

echo "== HSTU ONNX parity tests (provider $provider)"
GENREC_ONNX_PROVIDER=$provider dotnet test tests/GenRec.Training.Tests -c Release --no-build -v q -nologo --filter "FullyQualifiedName~HstuOnnx" 2>&1 | grep -E "Passed!|Failed" | tee "$out/hstu-tests.txt"

cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
model=out/full/encoder-decoder
if [ ! -d "$model" ]; then
  echo "== training a small model (no out/full/encoder-decoder from scripts/tiger-full-run.sh)"
  model="$out/model"
  [ -f "$out/ids.sid" ] || $cli tokenize --data "$data" --embedding collaborative --levels 2 --codes 64 --out "$out/ids.sid" >/dev/null 2>"$out/tokenize.log"
  [ -d "$model" ] || $cli train tiger --data "$data" --index "$out/ids.sid" --arch encoder-decoder --epochs 2 --dim 32 --out "$model" >/dev/null 2>"$out/train.log"
fi

echo "== export + parity on real histories (provider $provider)"
$cli export --model-path "$model" --out "$out/onnx" --data "$data" --check-users 100 --provider "$provider" 2>"$out/export.log" | tee "$out/export.json"
grep -iE "parity|cuda" "$out/export.log" || true

echo "== serving benchmark (provider $provider)"
$cli bench serve --data "$data" --model-path "$model" --beams 16,64,256 --histories 50,200 --concurrency 8,32 --single 30 --requests 64 --eager 10 --no-dlrm --provider "$provider" --out "$out/serve.json" 2>"$out/serve.log" | tee "$out/serve.md"
grep -iE "^model:|matrix multiply|cuda" "$out/serve.log" || true

echo "== HSTU: one pass for all candidates vs a pass per candidate (ONNX Runtime picks CUDA when present)"
hstu=out/hstu/model
hstu_onnx=out/hstu/onnx
if [ ! -d "$hstu_onnx" ]; then
  hstu="$out/hstu"
  hstu_onnx="$out/hstu-onnx"
  [ -d "$hstu" ] || $cli train hstu --data "$data" --hstu-epochs 1 --out "$hstu" >/dev/null 2>"$out/hstu-train.log"
  $cli export --kind hstu --model-path "$hstu" --out "$hstu_onnx" >/dev/null 2>"$out/hstu-export.log"
fi
$cli bench hstu --data "$data" --model-path "$hstu" --onnx-path "$hstu_onnx" --users 30 --alone-users 5 2>"$out/hstu-bench.log" | tee "$out/hstu-bench.json"
grep -iE "candidates|cuda|onnx|torchsharp" "$out/hstu-bench.log" | tail -n 12 || true
