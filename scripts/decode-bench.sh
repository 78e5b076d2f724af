#!/usr/bin/env bash
# Parallel decoding (issue 17, item 3), docs/benchmarks.md "Parallel decoding": `genrec bench decode` compares drafts
# per beam (the draft graph scores every item the beam search can still reach in one run) with step-by-step beam search
# on the same trained models, quality, batch-1 latency and throughput side by side in each run:
#  1. the full run's decoder-only model (scripts/tiger-full-run.sh, or only its decoder-only half:
#     scripts/tiger-seeds.sh decoder-only 42), beam 100 as genrec eval: validation (to choose), then test (to report);
#  2. the serving table's shape (encoder-decoder, d 64, 2 + 2 layers, history 50; one epoch on the full run's IDs, as
#     scripts/speed-run.sh trains it) at beam 64, the shape of issue 17's throughput goal.
# Run it on an idle machine (about 25 minutes on 2 cores, with the one-epoch model's training).
# Usage: scripts/decode-bench.sh [full-run-dir] [out]
set -euo pipefail
cd "$(dirname "$0")/.."
full=${1:-out/full}
out=${2:-out/decode}
data=samples/data/movielens-small/ratings.csv.gz
mkdir -p "$out"
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
[ -f "$full/decoder-only/manifest.json" ] || { echo "no $full/decoder-only: run scripts/tiger-seeds.sh decoder-only 42 $full first" >&2; exit 2; }
for target in valid test; do
  echo "== decoder-only, $target target" >&2
  $cli bench decode --data "$data" --model-path "$full/decoder-only" --target "$target" --drafts 0,1,2,4,64 --out "$out/do-$target.json" 2>"$out/do-$target.log" | tee "$out/do-$target.md"
done
if [ ! -f "$out/encoder-decoder-1/manifest.json" ]; then
  echo "== a one-epoch encoder-decoder of the served shape" >&2
  $cli train tiger --data "$data" --index "$full/ids.sid" --arch encoder-decoder --epochs 1 --min-epochs 1 --out "$out/encoder-decoder-1" >/dev/null 2>"$out/ed.train.log"
fi
echo "== encoder-decoder (one epoch), beam 64, validation target" >&2
$cli bench decode --data "$data" --model-path "$out/encoder-decoder-1" --target valid --beam 64 --top 64 --drafts 0,1,2,4,64 --out "$out/ed-valid.json" 2>"$out/ed-valid.log" | tee "$out/ed-valid.md"
