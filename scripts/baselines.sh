#!/usr/bin/env bash
# Evaluates the classical baselines with `genrec eval` on both targets, scores every written file with the
# independent scorer (../shared/eval/score.py when present) and prints a markdown table of both.
# Usage: scripts/baselines.sh [ratings.csv.gz] [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-samples/data/movielens-small/ratings.csv.gz}
out=${2:-out/baselines}
scorer=../shared/eval/score.py
mkdir -p "$out"
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"

echo "| model | target | HR@10 | NDCG@10 | HR@50 | NDCG@50 | MRR | coverage@10 | scorer agrees | wall s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for target in test valid; do
  for model in popularity itemcf dlrm; do
    recs="$out/$model.$target.tsv"
    start=$(date +%s.%N)
    printed=$($cli eval --data "$data" --model "$model" --target "$target" --top 100 --recs-out "$recs" 2>"$out/$model.$target.log" | tail -n 1)
    wall=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
    agree="n/a (no scorer)"
    if [ -f "$scorer" ]; then
      scored=$(python3 "$scorer" "$recs" --target "$target")
      agree=$(python3 - "$printed" "$scored" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
keys = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"]
diff = max(abs(a[k] - b[k]) for k in keys)
problems = sum(b[k] for k in ["missing_users", "short_lists", "history_violation_users", "users_with_duplicate_items", "unknown_items"])
print(("yes" if diff <= 1e-4 and problems == 0 else "NO") + f" (max diff {diff:.1e})")
PY
)
    fi
    python3 - "$printed" "$model" "$target" "$agree" "$wall" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
cells = [sys.argv[2], sys.argv[3]] + [f"{m[k]:.4f}" for k in ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"]] + [sys.argv[4], sys.argv[5]]
print("| " + " | ".join(cells) + " |")
PY
  done
done
