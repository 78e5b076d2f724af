#!/usr/bin/env bash
# Issue 13: generative signals fused into the DLRM cascade, and the neural DLRM control — every figure of
# docs/benchmarks.md's "Generative signals in the cascade" section (~120 min on 2 cores). Output: out/fusion/.
# 1. The A/B harness on test and on validation, all arms side by side in one run each (latency included).
# 2. The same on a second split the project builds itself: the ratings before 2012-01-01 (nothing tuned there).
# 3. The feature ablation: the fused cascade with each HSTU feature left out, on validation and test.
# 4. The generative arms against the neural DLRM control (test), one run.
# 5. TIGER's features in the fused cascade (TIGER trained without the ranker's pseudo-targets), beside HSTU's and alone.
# The held-out HSTU behind the fused features is trained once per split and re-read (--fuse-hstu-cache).
# Built like `dotnet run --project tools/GenRec.Cli` (Debug), as the README's commands are.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=samples/data/movielens-small/ratings.csv.gz
OUT=${OUT:-out/fusion}
mkdir -p "$OUT"
dotnet build tools/GenRec.Cli -v q -nologo
GENREC="dotnet tools/GenRec.Cli/bin/Debug/net10.0/linux-x64/genrec.dll"
ARMS=dlrm,neural-dlrm,hstu-rank,dlrm-hstu-blend,dlrm-fused,dlrm-fused-hstu-blend
CACHE="$OUT/cache"
ab() { local name=$1; shift; echo "== ab $name: genrec ab $*" >&2; $GENREC ab --data $DATA --arms $ARMS --fuse-hstu-cache "$CACHE" --out "$OUT/$name" "$@" 2> "$OUT/$name.log" | tee "$OUT/$name.txt"; }
run() { local name=$1; shift; echo "== $name: genrec $*" >&2; $GENREC "$@" 2> "$OUT/$name.log" | tail -1 | tee "$OUT/$name.json"; }

ab ab-test --target test
ab ab-valid --target valid
ab ab-before2012-test --target test --before 2012-01-01
ab ab-before2012-valid --target valid --before 2012-01-01

for target in valid test; do
  run dlrm-$target eval --data $DATA --model dlrm --target $target --recs-out "$OUT/dlrm-$target.tsv"
  run fused-$target eval --data $DATA --model dlrm-fused --fuse-hstu-cache "$CACHE" --target $target --recs-out "$OUT/fused-$target.tsv"
  for feature in hstu_next_logprob hstu_next_log_rank hstu_interacts hstu_rates; do
    run fused-without-$feature-$target eval --data $DATA --model dlrm-fused --fuse-hstu-cache "$CACHE" --fuse-drop $feature \
      --target $target --recs-out "$OUT/fused-without-$feature-$target.tsv"
  done
  if [ -f ../shared/eval/se.py ]; then
    python3 ../shared/eval/se.py --target $target "$OUT/dlrm-$target.tsv" "$OUT/fused-$target.tsv" "$OUT"/fused-without-*-$target.tsv | tee "$OUT/se-$target.txt"
  fi
done

ARMS=neural-dlrm,dlrm,dlrm-hstu-blend,dlrm-fused-hstu-blend ab ab-neural-test --target test --control neural-dlrm

# TIGER decoder-only with its defaults on the full run's semantic IDs (content + collaborative, balanced RQ-KMeans),
# without each user's last 3 train interactions; tokenized here unless scripts/tiger-full-run.sh left out/full/ids.sid.
dotnet build tools/GenRec.Cli -c Release -v q -nologo
RELEASE="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
IDS=out/full/ids.sid
[ -f "$IDS" ] || { mkdir -p out/full; $RELEASE tokenize --data $DATA --embedding both --method rqkmeans --cache out/full/cache --out "$IDS" 2> "$OUT/tokenize.log"; }
[ -f "$OUT/tiger-holdout/manifest.json" ] || $RELEASE train tiger --data $DATA --index "$IDS" --hold-out-last 3 --out "$OUT/tiger-holdout" 2> "$OUT/tiger-holdout.train.log" | tail -1 | tee "$OUT/tiger-holdout.train.json"
for target in valid test; do
  for features in hstu,tiger tiger; do
    run fused-${features/,/-}-$target eval --data $DATA --model dlrm-fused --fuse-features $features --fuse-tiger "$OUT/tiger-holdout" \
      --fuse-hstu-cache "$CACHE" --target $target --recs-out "$OUT/fused-${features/,/-}-$target.tsv"
  done
  if [ -f ../shared/eval/se.py ]; then
    python3 ../shared/eval/se.py --target $target "$OUT/fused-$target.tsv" "$OUT/fused-hstu-tiger-$target.tsv" "$OUT/fused-tiger-$target.tsv" | tee "$OUT/se-tiger-$target.txt"
  fi
done
