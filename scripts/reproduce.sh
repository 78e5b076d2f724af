#!/usr/bin/env bash
# Re-runs the headline figures of docs/benchmarks.md and prints each beside the documented one (issue 13).
# Every row is one `genrec eval` (test NDCG@10 unless the row says valid); about 40 minutes on 2 cores, plus
# about 60 for the two TIGER full-run models, trained afresh under $OUT/full (scripts/tiger-seeds.sh, seed 42:
# training is deterministic for a seed on the CPU, so the seed-42 rows of docs/benchmarks.md come out again).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=samples/data/movielens-small/ratings.csv.gz
OUT=${OUT:-out/reproduce}
mkdir -p "$OUT"
dotnet build tools/GenRec.Cli -v q -nologo >/dev/null
GENREC="dotnet tools/GenRec.Cli/bin/Debug/net10.0/linux-x64/genrec.dll"
CACHE="$OUT/cache"

# name | documented NDCG@10 | genrec eval arguments
ROWS=(
  "popularity (test)|0.0197|--model popularity --target test"
  "itemcf (test)|0.0551|--model itemcf --target test"
  "dlrm (test)|0.0737|--model dlrm --target test"
  "dlrm (valid)|0.0926|--model dlrm --target valid"
  "hstu-rank, cascade top 200 (test)|0.0758|--model hstu-rank --target test"
  "neural-dlrm (test)|0.0797|--model neural-dlrm --target test"
  "dlrm-hstu-blend (test)|0.0818|--model dlrm-hstu-blend --target test"
  "dlrm-fused (test)|0.0742|--model dlrm-fused --fuse-hstu-cache $CACHE --target test"
  "dlrm-fused-hstu-blend (test)|0.0821|--model dlrm-fused-hstu-blend --fuse-hstu-cache $CACHE --target test"
)

printf '| figure | documented NDCG@10 | measured NDCG@10 | difference |\n|---|---|---|---|\n'
for row in "${ROWS[@]}"; do
  IFS='|' read -r name documented arguments <<< "$row"
  log="$OUT/$(echo "$name" | tr -c 'a-z0-9' '-').log"
  # shellcheck disable=SC2086
  measured=$($GENREC eval --data $DATA --top 100 $arguments 2> "$log" | tail -1 | python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["NDCG@10"])')
  difference=$(python3 -c "print(f'{$measured - $documented:+.4f}')")
  printf '| %s | %s | %s | %s |\n' "$name" "$documented" "$measured" "$difference"
done

# TIGER (seed 42 of the full run), trained from the tokenizer on.
TIGER_ROWS=(
  "TIGER decoder-only, seed 42 (test)|0.0332|decoder-only"
  "TIGER encoder-decoder, seed 42 (test)|0.0393|encoder-decoder"
)
for row in "${TIGER_ROWS[@]}"; do
  IFS='|' read -r name documented arch <<< "$row"
  scripts/tiger-seeds.sh "$arch" 42 "$OUT/full" > "$OUT/tiger-$arch.md" 2> "$OUT/tiger-$arch.log"
  measured=$(python3 -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["NDCG@10"])' "$OUT/full/$arch.eval.json")
  difference=$(python3 -c "print(f'{$measured - $documented:+.4f}')")
  printf '| %s | %s | %s | %s |\n' "$name" "$documented" "$measured" "$difference"
done
