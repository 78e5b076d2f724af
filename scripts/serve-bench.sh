#!/usr/bin/env bash
# Serving benchmark of the ONNX Runtime path (docs/benchmarks.md, "Serving runtime"): latency p50/p99 and throughput
# for beam 16/64/256 × history 20/50/200 items, one request at a time and with 8/32/128 concurrent callers through the
# micro-batcher; TorchSharp eager decoding of the same model and the DLRM cascade measured in the same run (ratios);
# achieved GFLOP/s against the measured matrix-multiply peak. Needs a trained model folder (scripts/tiger-full-run.sh);
# the benchmark uses its shape and index (weights re-initialised: latency does not depend on their values).
# Usage: scripts/serve-bench.sh [model folder] [out.json] [extra genrec bench serve options]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-out/full/encoder-decoder}
out=${2:-out/bench/serve.json}
shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$(dirname "$out")"
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll bench serve \
  --data samples/data/movielens-small/ratings.csv.gz --model-path "$model" --out "$out" "$@"
