#!/usr/bin/env bash
# Serving speed (issue 17), docs/benchmarks.md "Serving runtime" and "HSTU": the machine's float peak (bench peak), the
# generative serving grid with its FLOP-count check (bench serve) and HSTU ranking with and without the micro-batcher
# (bench hstu), and recommend-after-append (bench append). Latency does not depend on the weights' values, so the models are trained one epoch only, in the shapes
# the quality runs use: TIGER encoder-decoder on the full run's semantic IDs (content + collaborative, balanced
# RQ-KMeans) and HSTU with the cascade's cross features. Run it on an idle machine (about 25 minutes on 2 cores).
# Usage: scripts/speed-run.sh [out]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/speed}
data=samples/data/movielens-small/ratings.csv.gz
mkdir -p "$out/cache"
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
[ -f "$out/ids.sid" ] || $cli tokenize --data "$data" --embedding both --method rqkmeans --cache "$out/cache" --out "$out/ids.sid" >/dev/null 2>"$out/tokenize.log"
if [ ! -f "$out/encoder-decoder/manifest.json" ] || [ ! -f "$out/hstu/manifest.json" ]; then
  echo "== one-epoch models of the served shapes (side by side, one thread each)" >&2
  OMP_NUM_THREADS=1 $cli train tiger --data "$data" --index "$out/ids.sid" --arch encoder-decoder --epochs 1 --min-epochs 1 --out "$out/encoder-decoder" >/dev/null 2>"$out/ed.train.log" &
  OMP_NUM_THREADS=1 $cli train hstu --data "$data" --hstu-epochs 1 --out "$out/hstu" >/dev/null 2>"$out/hstu.train.log" &
  wait
fi
[ -f "$out/hstu-onnx/manifest.json" ] || $cli export --kind hstu --model-path "$out/hstu" --out "$out/hstu-onnx" >/dev/null 2>"$out/hstu-export.log"
echo "== bench peak" >&2
$cli bench peak 2>"$out/peak.log" | tee "$out/peak.md"
echo "== bench serve" >&2
$cli bench serve --data "$data" --model-path "$out/encoder-decoder" --out "$out/serve.json" 2>"$out/serve.log" | tee "$out/serve.md"
echo "== bench hstu" >&2
$cli bench hstu --data "$data" --model-path "$out/hstu" --onnx-path "$out/hstu-onnx" >"$out/hstu-bench.json" 2>"$out/hstu-bench.log"
tr '\r' '\n' < "$out/hstu-bench.log" | sed -n '/candidates  runtime/,$p'
# Recommend-after-append (bench append): an HSTU whose window holds 256 events (one epoch, ids and side features, no
# cross features, 16 windows per step), the kept state extended by the new event against the history encoded again,
# at histories of 50 and 200 events (about 5 minutes of training). A 1,024-event window (history 1,000) did not
# finish one epoch in 30 minutes on 2 cores (its 2,048-token attention), so it is not run here.
if [ ! -f "$out/hstu-256-onnx/manifest.json" ]; then
  echo "== an HSTU with a 256-event window" >&2
  [ -f "$out/hstu-256/manifest.json" ] || $cli train hstu --data "$data" --hstu-epochs 1 --hstu-no-cross --hstu-max-history 256 --hstu-batch 16 --out "$out/hstu-256" >/dev/null 2>"$out/hstu-256.train.log"
  $cli export --kind hstu --model-path "$out/hstu-256" --out "$out/hstu-256-onnx" >/dev/null 2>"$out/hstu-256-export.log"
fi
echo "== bench append" >&2
$cli bench append --data "$data" --onnx-path "$out/hstu-256-onnx" --histories 50,200 >"$out/append.json" 2>"$out/append.log"
tr '\r' '\n' < "$out/append.log" | sed -n '/^ *history  requests/,$p'
