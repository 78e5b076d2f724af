#!/usr/bin/env bash
# The headline generative-retrieval figures as mean ± sd over training seeds (issue 13): one architecture of
# `genrec train tiger` with its defaults on the full run's semantic IDs (content + collaborative, balanced
# RQ-KMeans, 3 × 256 + 1), one model per seed, each evaluated on the test target with beam 100 and checked with the
# shared scorer; a row per seed, then the mean ± sample standard deviation of every column.
# Usage: scripts/tiger-seeds.sh [decoder-only|encoder-decoder] [seeds, comma-separated] [out-dir]
# Two architectures can run side by side on 2 cores with OMP_NUM_THREADS=1 each (train s is then that of one core).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-encoder-decoder}
seeds=${2:-42,43,44}
out=${3:-out/full}
data=samples/data/movielens-small/ratings.csv.gz
scorer=../shared/eval/score.py
mkdir -p "$out"
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
[ -f "$out/ids.sid" ] || $cli tokenize --data "$data" --embedding both --method rqkmeans --cache "$out/cache" --out "$out/ids.sid" >/dev/null 2>"$out/tokenize.log"

rows="$out/$arch.seeds.jsonl"
: > "$rows"
for seed in ${seeds//,/ }; do
  model="$out/$arch-s$seed"
  echo "== $arch seed $seed: train" >&2
  /usr/bin/time -v $cli train tiger --data "$data" --index "$out/ids.sid" --arch "$arch" --seed "$seed" --out "$model" 2>"$model.train.log" | tail -n 1 > "$model.train.json"
  $cli eval --data "$data" --model tiger --model-path "$model" --target test --top 100 --recs-out "$model.test.tsv" 2>"$model.eval.log" | tail -n 1 > "$model.eval.json"
  scored="{}"
  [ -f "$scorer" ] && scored=$(python3 "$scorer" "$model.test.tsv" --target test)
  python3 - "$seed" "$model.train.json" "$model.eval.json" "$scored" "$model.train.log" "$model.eval.log" >> "$rows" <<'PY'
import json, re, sys
seed, train, printed, scored = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), json.loads(sys.argv[4])
memory = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(sys.argv[5]).read())
latency = re.search(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms", open(sys.argv[6]).read())
keys = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"]
agree = "n/a"
if scored:
    bad = sum(scored[k] for k in ["missing_users", "short_lists", "history_violation_users", "users_with_duplicate_items", "unknown_items"])
    agree = "yes" if max(abs(printed[k] - scored[k]) for k in keys) <= 1e-4 and bad == 0 else "NO"
row = {"seed": seed, "valid": train["best_valid_NDCG@10"], "epochs": train["epochs"], "best_epoch": train["best_epoch"],
       "train_s": train["train_seconds"], "invalid": printed.get("invalid_rate_unconstrained", float("nan")), "agree": agree,
       "peak_gb": int(memory.group(1)) / 1e6 if memory else float("nan"),
       "p50": float(latency.group(1)) if latency else float("nan"), "p99": float(latency.group(2)) if latency else float("nan")}
row.update({k: printed[k] for k in keys})
print(json.dumps(row))
PY
done

# The first seed's model is the architecture's full-run model (out/full/<arch>), which scripts/onnx-eval.sh,
# scripts/serve-bench.sh and the A/B commands of docs/benchmarks.md read.
first=${seeds%%,*}
ln -sfn "$arch-s$first" "$out/$arch"
for suffix in train.json train.log eval.json eval.log test.tsv; do ln -sfn "$arch-s$first.$suffix" "$out/$arch.$suffix"; done

python3 - "$arch" "$rows" <<'PY'
import json, statistics, sys
arch, rows = sys.argv[1], [json.loads(line) for line in open(sys.argv[2])]
keys = ["valid", "HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"]
print(f"| {arch} seed | valid NDCG@10 | HR@10 | NDCG@10 | HR@50 | NDCG@50 | MRR | coverage@10 | invalid w/o trie | epochs (best) | train s | peak GB | p50 / p99 ms | scorer agrees |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join([r["seed"]] + [f"{r[k]:.4f}" for k in keys] + [f"{r['invalid']:.1%}", f"{r['epochs']} ({r['best_epoch']})", f"{r['train_s']:.0f}", f"{r['peak_gb']:.2f}", f"{r['p50']:.1f} / {r['p99']:.1f}", r["agree"]]) + " |")
def ms(k, f="{:.4f}"):
    values = [r[k] for r in rows]
    return f.format(statistics.mean(values)) + (" ± " + f.format(statistics.stdev(values)) if len(values) > 1 else "")
print("| **mean ± sd** | " + " | ".join(ms(k) for k in keys) + f" | {ms('invalid', '{:.1%}')} | {ms('epochs', '{:.1f}')} | {ms('train_s', '{:.0f}')} | {ms('peak_gb', '{:.2f}')} | {ms('p50', '{:.1f}')} / {ms('p99', '{:.1f}')} | |")
PY
