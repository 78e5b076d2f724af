#!/usr/bin/env bash
# Generative retrieval ablations on the bundled MovieLens data: for each embedding (collaborative, content, both)
# and tokenizer (rqkmeans, rqvae), tokenize (cached), train TIGER with its defaults (early stopping on the validation log-likelihood),
# evaluate on the test targets with beam 100 and check the file with the shared scorer; then vary the beam width.
# Usage: scripts/tiger-ablations.sh [ratings.csv.gz] [out-dir] [epochs]
# ROWS="content-rqvae both-rqvae" runs only those rows, BEAM=0 skips the beam-width table (to split the work across runs;
# every row is computed the same way whichever others run beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-samples/data/movielens-small/ratings.csv.gz}
out=${2:-out/ablations}
epochs=${3:-40}
scorer=../shared/eval/score.py
mkdir -p "$out"
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"

row() { # printed-json scored-json train-json label
  python3 - "$@" <<'PY'
import json, sys
p, s, t, label = json.loads(sys.argv[1]), json.loads(sys.argv[2]) if sys.argv[2] else None, json.loads(sys.argv[3]), sys.argv[4]
keys = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"]
agree = "n/a"
if s:
    diff = max(abs(p[k] - s[k]) for k in keys)
    bad = sum(s[k] for k in ["missing_users", "short_lists", "history_violation_users", "users_with_duplicate_items", "unknown_items"])
    agree = "yes" if diff <= 1e-4 and bad == 0 else "NO"
cells = [label, f"{t['best_valid_NDCG@10']:.4f}"] + [f"{p[k]:.4f}" for k in keys] + [f"{p.get('invalid_rate_unconstrained', float('nan')):.1%}", f"{t['epochs']} ({t['best_epoch']})", f"{t['train_seconds']:.0f}", agree]
print("| " + " | ".join(cells) + " |", flush=True)
PY
}

echo "| ids | best valid NDCG@10 | HR@10 | NDCG@10 | HR@50 | NDCG@50 | MRR | coverage@10 | invalid w/o trie | epochs (best) | train s | scorer agrees |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for embedding in collaborative content both; do
  for method in rqkmeans rqvae; do
    name="$embedding-$method"
    if [ -n "${ROWS:-}" ] && [[ " $ROWS " != *" $name "* ]]; then continue; fi
    index="$out/$name.sid"
    [ -f "$index" ] || $cli tokenize --data "$data" --embedding "$embedding" --method "$method" --cache "$out/cache" --out "$index" >/dev/null 2>"$out/$name.tokenize.log"
    # A model already trained here (same ids, same defaults) is re-read: the script resumes after an interruption.
    if [ -f "$out/$name.train.json" ] && [ -d "$out/$name" ]; then train=$(cat "$out/$name.train.json")
    else
      train=$($cli train tiger --data "$data" --index "$index" --out "$out/$name" --epochs "$epochs" 2>"$out/$name.train.log" | tail -n 1)
      echo "$train" > "$out/$name.train.json"
    fi
    printed=$($cli eval --data "$data" --model tiger --model-path "$out/$name" --target test --top 100 --recs-out "$out/$name.test.tsv" 2>"$out/$name.eval.log" | tail -n 1)
    scored=""
    [ -f "$scorer" ] && scored=$(python3 "$scorer" "$out/$name.test.tsv" --target test)
    row "$printed" "$scored" "$train" "$embedding / $method"
  done
done

[ "${BEAM:-1}" != 0 ] || exit 0
first=collaborative-rqkmeans   # the beam table's model, whichever rows ran
[ -d "$out/$first" ] || { echo "the beam table needs $out/$first: run its row (ROWS=$first) first" >&2; exit 1; }
echo
echo "| beam (ids: $first) | HR@10 | NDCG@10 | HR@50 | NDCG@50 | MRR | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for beam in 100 200 400; do
  printed=$($cli eval --data "$data" --model tiger --model-path "$out/$first" --target test --top 100 --beam "$beam" 2>"$out/beam$beam.log" | tail -n 1)
  latency=$(grep -o 'p50 [0-9.]* ms, p99 [0-9.]* ms' "$out/beam$beam.log" | sed 's/p50 //; s/ ms, p99 / | /; s/ ms//')
  python3 - "$printed" "$beam" "$latency" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
print("| " + " | ".join([sys.argv[2]] + [f"{p[k]:.4f}" for k in ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR"]] + [sys.argv[3]]) + " |")
PY
done
