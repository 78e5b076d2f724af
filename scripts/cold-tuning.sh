#!/usr/bin/env bash
# Chooses the fresh-items channel's share of a hybrid list (issue 15) without reading a test target: on the cold-start
# split for tuning (--cold-start 0.2 --cold-tuning: every user's test target dropped, the cold-start split made again
# from what remains with the next seed, so its held-out targets are the canonical validation targets, some of them
# cold), it trains the semantic IDs, TIGER (decoder-only) and the dense model as scripts/hybrid-run.sh does, then
# evaluates hybrid-fresh at each share and picks the one with the best all-users HR@50 (the rule is fixed here, before
# any figure is seen). The chosen share is then evaluated on the real cold-start split's test target with the models of
# scripts/hybrid-run.sh (run that first), and on the canonical split.
# Usage: scripts/cold-tuning.sh [tuning-out] [hybrid-run-out]   (about an hour on 2 cores, most of it TIGER)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/cold-tuning}
runs=${2:-out/hybrid}
data=samples/data/movielens-small/ratings.csv.gz
shares="0 0.1 0.2 0.3 0.4 0.5"
mkdir -p "$out" "$runs/cache"
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
tune="--cold-start 0.2 --cold-tuning"

# 1. Semantic IDs, TIGER and the dense model of the tuning split (one thread each, side by side).
[ -f "$out/ids.sid" ] || $cli tokenize --data "$data" --embedding both --method rqkmeans --cache "$runs/cache" $tune --out "$out/ids.sid" >/dev/null 2>"$out/tokenize.log"
pids=()
if [ ! -f "$out/tiger/manifest.json" ]; then
  echo "== tuning split: train tiger (decoder-only)" >&2
  OMP_NUM_THREADS=1 $cli train tiger --data "$data" --index "$out/ids.sid" --arch decoder-only $tune --out "$out/tiger" \
    2>"$out/tiger.train.log" | tail -n 1 > "$out/tiger.train.json" &
  pids+=($!)
fi
if [ ! -f "$out/dense/manifest.json" ]; then
  echo "== tuning split: train dense" >&2
  OMP_NUM_THREADS=1 $cli train dense --data "$data" --cache "$runs/cache" $tune --out "$out/dense" \
    2>"$out/dense.train.log" | tail -n 1 > "$out/dense.train.json" &
  pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p"; done

# 2. hybrid-fresh at each share on the tuning split's held-out (= canonical validation) targets, then at 0.2 with the
#    fresh items placed after the union's first 10, 20, 30 or 40 (--fresh-after; the shares above interleave from the top).
for after in 10 20 30 40; do
  result="$out/after-$after.json"
  [ -f "$result" ] && continue
  echo "== tuning split: hybrid-fresh --fresh-share 0.2 --fresh-after $after" >&2
  $cli eval --data "$data" --model hybrid-fresh --model-path "$out/tiger" --dense-path "$out/dense" $tune --fresh-share 0.2 --fresh-after "$after" --target test --top 100 \
    2>"$out/after-$after.log" | tail -n 1 > "$result.tmp" && mv "$result.tmp" "$result"
done
for share in $shares; do
  result="$out/share-$share.json"
  [ -f "$result" ] && continue
  echo "== tuning split: hybrid-fresh --fresh-share $share" >&2
  $cli eval --data "$data" --model hybrid-fresh --model-path "$out/tiger" --dense-path "$out/dense" $tune --fresh-share "$share" --target test --top 100 \
    2>"$out/share-$share.log" | tail -n 1 > "$result.tmp" && mv "$result.tmp" "$result"
done

chosen=$(python3 - "$out" $shares <<'PY'
import json, sys
out, shares = sys.argv[1], sys.argv[2:]
rows = [(s, json.load(open(f"{out}/share-{s}.json"))) for s in shares]
print("| fresh share | fresh after | all users: HR@50 | NDCG@10 | cold-target users: HR@50 | NDCG@10 | users / cold |", file=sys.stderr)
print("|---|---|---|---|---|---|---|", file=sys.stderr)
for label, after, r in [(s, 0, r) for s, r in rows] + [("0.2", a, json.load(open(f"{out}/after-{a}.json"))) for a in (10, 20, 30, 40)]:
    c = r["cold_users"]
    print(f"| {label} | {after} | {r['HR@50']:.4f} | {r['NDCG@10']:.4f} | {c['HR@50']:.4f} | {c['NDCG@10']:.4f} | {r['users']} / {c['users']} |", file=sys.stderr)
best = max(rows, key=lambda p: (p[1]["HR@50"], -float(p[0])))  # ties: the smaller share; the placements above are reported, not chosen from
print(best[0])
PY
)
echo "chosen on the tuning split (best all-users HR@50): --fresh-share $chosen" >&2

# 3. The chosen share on the real test targets: the cold-start split and the canonical split (models of hybrid-run.sh).
for split in cold full; do
  f=""; [ "$split" = cold ] && f="--cold-start 0.2"
  result="$out/test-$split-$chosen.json"
  [ -f "$result" ] && continue
  echo "== $split split, test target: hybrid-fresh --fresh-share $chosen" >&2
  $cli eval --data "$data" --model hybrid-fresh --model-path "$runs/$split/tiger" --dense-path "$runs/$split/dense" $f --fresh-share "$chosen" --target test --top 100 \
    --recs-out "$out/test-$split-$chosen.tsv" 2>"$out/test-$split-$chosen.log" | tail -n 1 > "$result.tmp" && mv "$result.tmp" "$result"
done
cat "$out/test-cold-$chosen.json" "$out/test-full-$chosen.json"
