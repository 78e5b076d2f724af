#!/usr/bin/env bash
# Hybrid dense + generative retrieval and cold start (issue 15), the tables of docs/benchmarks.md "Hybrid retrieval
# and cold start": on the canonical split and on the cold-start split (--cold-start 0.2: a seeded fifth of the
# catalogue made cold, its items kept only as test targets), every retriever evaluated on the test target with full
# ranking, lists checked by the shared scorer where the split is the canonical one; on the cold split the same metrics
# also for the users whose test target is cold.
# Retrievers: popularity, item-CF, the DLRM cascade, generative retrieval (TIGER on content + collaborative semantic
# IDs, balanced RQ-KMeans, as the full run makes them), the two-tower dense retriever, and their union (interleaved, and
# by reciprocal-rank fusion; equal weights, nothing tuned). Each split trains its own semantic IDs, TIGER and dense
# model on its own train part, with the commands' defaults. Resumes: a step whose output exists is not re-run.
# Usage: scripts/hybrid-run.sh [out-dir] [decoder-only|encoder-decoder]
# (decoder-only: about 45 minutes on 2 cores, the four trainings side by side; encoder-decoder: about 2 hours more)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/hybrid}
arch=${2:-decoder-only}
data=samples/data/movielens-small/ratings.csv.gz
scorer=../shared/eval/score.py
mkdir -p "$out/full" "$out/cold" "$out/cache"
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"

flags() { [ "$1" = cold ] && echo "--cold-start 0.2" || true; }

# 1. Semantic IDs, then TIGER and the dense model of each split (one thread each, side by side).
for split in full cold; do
  f=$(flags $split)
  ids="$out/$split/ids.sid"
  [ -f "$ids" ] || $cli tokenize --data "$data" --embedding both --method rqkmeans --cache "$out/cache" $f --out "$ids" >/dev/null 2>"$out/$split/tokenize.log"
done
pids=()
for split in full cold; do
  f=$(flags $split)
  if [ ! -f "$out/$split/tiger/manifest.json" ]; then
    echo "== $split: train tiger ($arch)" >&2
    OMP_NUM_THREADS=1 /usr/bin/time -v $cli train tiger --data "$data" --index "$out/$split/ids.sid" --arch "$arch" $f --out "$out/$split/tiger" \
      2>"$out/$split/tiger.train.log" | tail -n 1 > "$out/$split/tiger.train.json" &
    pids+=($!)
  fi
  if [ ! -f "$out/$split/dense/manifest.json" ]; then
    echo "== $split: train dense" >&2
    OMP_NUM_THREADS=1 /usr/bin/time -v $cli train dense --data "$data" --cache "$out/cache" $f --out "$out/$split/dense" \
      2>"$out/$split/dense.train.log" | tail -n 1 > "$out/$split/dense.train.json" &
    pids+=($!)
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

# 2. Every retriever on the test target of each split.
for split in full cold; do
  f=$(flags $split)
  for model in popularity itemcf dlrm tiger dense hybrid-union hybrid-rrf dense-new hybrid-fresh; do
    result="$out/$split/$model.json"
    [ -f "$result" ] && continue
    echo "== $split: eval $model" >&2
    paths=()
    case $model in
      tiger) paths=(--model-path "$out/$split/tiger") ;;
      dense|dense-new) paths=(--dense-path "$out/$split/dense") ;;
      hybrid-*) paths=(--model-path "$out/$split/tiger" --dense-path "$out/$split/dense") ;;
    esac
    cold=()
    [ "$split" = cold ] && cold=(--cold-users-out "$out/cold/cold-users.txt")
    $cli eval --data "$data" --model "$model" "${paths[@]}" $f "${cold[@]}" --target test --top 100 --recs-out "$out/$split/$model.tsv" \
      2>"$out/$split/$model.log" | tail -n 1 > "$result.tmp" && mv "$result.tmp" "$result"
  done
done

# 3. The tables: the canonical split (scorer check) and the cold-start split (all users, cold-target users).
python3 - "$out" "$scorer" <<'PY'
import json, math, os, re, subprocess, sys
out, scorer = sys.argv[1], sys.argv[2]
models = ["popularity", "itemcf", "dlrm", "tiger", "dense", "hybrid-union", "hybrid-rrf", "dense-new", "hybrid-fresh"]
names = {"popularity": "popularity", "itemcf": "item-CF", "dlrm": "DLRM cascade", "tiger": "generative (TIGER)", "dense": "dense (two-tower)",
         "hybrid-union": "union, interleaved", "hybrid-rrf": "union, reciprocal-rank fusion",
         "dense-new": "fresh items only (dense, no ID embedding)", "hybrid-fresh": "union + fresh-items channel (80 + 20)"}
def latency(path):
    m = re.search(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms", open(path).read())
    return f"{float(m.group(1)):.1f} / {float(m.group(2)):.1f}" if m else "n/a"
print("Canonical split, test target (full ranking, history excluded):\n")
print("| retriever | HR@10 | NDCG@10 | HR@50 | NDCG@50 | MRR | coverage@10 | p50 / p99 ms | scorer agrees |")
print("|---|---|---|---|---|---|---|---|---|")
keys = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"]
for m in models:
    r = json.load(open(f"{out}/full/{m}.json"))
    agree = "n/a"
    if os.path.exists(scorer):
        s = json.loads(subprocess.run(["python3", scorer, f"{out}/full/{m}.tsv", "--target", "test"], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        bad = sum(s[k] for k in ["missing_users", "short_lists", "history_violation_users", "users_with_duplicate_items", "unknown_items"])
        agree = "yes" if max(abs(r[k] - s[k]) for k in keys) <= 1e-4 and bad == 0 else "NO"
    print(f"| {names[m]} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + f" | {latency(f'{out}/full/{m}.log')} | {agree} |")
print("\nCold-start split (a fifth of the catalogue cold, seed 42), test target:\n")
first = json.load(open(f"{out}/cold/popularity.json"))
print(f"| retriever | all users ({first['users']}): HR@10 | HR@50 | NDCG@10 | cold-target users ({first['cold_users']['users']}): HR@10 | HR@50 | NDCG@10 |")
print("|---|---|---|---|---|---|---|")
for m in models:
    r = json.load(open(f"{out}/cold/{m}.json"))
    c = r["cold_users"]
    print(f"| {names[m]} | {r['HR@10']:.4f} | {r['HR@50']:.4f} | {r['NDCG@10']:.4f} | {c['HR@10']:.4f} | {c['HR@50']:.4f} | {c['NDCG@10']:.4f} |")

# Paired differences against generative retrieval, per user, on the cold split (its test targets are the canonical
# ones: only earlier interactions were removed). Mean difference [95 % interval, normal approximation]; * = excludes 0.
sys.path.insert(0, "scripts")
from paired import paired, per_user as per_user_of, test_targets
targets = test_targets(scorer)
cold_users = {line.strip() for line in open(f"{out}/cold/cold-users.txt") if line.strip()}
def per_user(path):
    return per_user_of(path, targets)
base = per_user(f"{out}/cold/tiger.tsv")
users = sorted(targets)
print("\nCold-start split, paired differences against generative retrieval (95 % intervals; * excludes 0):\n")
print("| retriever | all users: HR@50 | NDCG@10 | cold-target users: HR@50 | NDCG@10 |")
print("|---|---|---|---|---|")
for m in models:
    if m == "tiger":
        continue
    h, n = per_user(f"{out}/cold/{m}.tsv")
    cu = [u for u in users if u in cold_users]
    print(f"| {names[m]} | {paired(h, base[0], users)} | {paired(n, base[1], users)} | {paired(h, base[0], cu)} | {paired(n, base[1], cu)} |")
PY
