#!/usr/bin/env bash
# End-to-end generation at full size (issue 14), the figures of docs/benchmarks.md "End-to-end generation":
# the full run's semantic IDs (content + collaborative, balanced RQ-KMeans, as scripts/tiger-seeds.sh makes them), the
# end-to-end model trained with its defaults (peak memory measured), evaluated on validation and test (lists checked with
# the shared scorer), exported to ONNX (parity on 50 real histories, then served by ONNX Runtime with the same
# metrics); then the A/B harness against the DLRM cascade: on validation, the model replacing the cascade, blended into
# its list (slot quota) and fused with it (score weight) at several settings (one is chosen there), and on test the
# model and the chosen mix, with the reward model's reward@10 (stage 2, trained here) beside the accuracy figures. Resumes: a step whose output exists is not re-run.
# Usage: scripts/e2e-run.sh [out-dir] [seed]     (then scripts/align-run.sh <out-dir>/model <out-dir>/align for stage 3)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/e2e}
seed=${2:-42}
data=samples/data/movielens-small/ratings.csv.gz
scorer=../shared/eval/score.py
mkdir -p "$out" out/full
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
ids=out/full/ids.sid
[ -f "$ids" ] || $cli tokenize --data "$data" --embedding both --method rqkmeans --cache out/full/cache --out "$ids" >/dev/null 2>out/full/tokenize.log

if [ ! -f "$out/train.json" ]; then
  echo "== train (end-to-end, seed $seed)" >&2
  /usr/bin/time -v $cli train tiger --data "$data" --index "$ids" --arch end-to-end --seed "$seed" --out "$out/model" 2>"$out/train.log" | tail -n 1 > "$out/train.json"
fi

for target in valid test; do
  if [ ! -f "$out/$target.json" ]; then
    echo "== eval on $target" >&2
    $cli eval --data "$data" --model tiger --model-path "$out/model" --target "$target" --top 100 --recs-out "$out/$target.tsv" 2>"$out/$target.log" | tail -n 1 > "$out/$target.json"
  fi
done

if [ ! -f "$out/export.json" ]; then
  echo "== export to ONNX, parity, served metrics" >&2
  $cli export --model-path "$out/model" --out "$out/onnx" --data "$data" --check-users 50 2>"$out/export.log" | tail -n 1 > "$out/export.json"
  $cli eval --data "$data" --model tiger-onnx --model-path "$out/onnx" --target test --top 100 2>"$out/served.log" | tail -n 1 > "$out/served.json"
fi

python3 - "$out" "$scorer" <<'PY'
import json, os, re, subprocess, sys
out, scorer = sys.argv[1], sys.argv[2]
train = json.load(open(f"{out}/train.json"))
memory = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(f"{out}/train.log").read())
keys = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"]
print(f"parameters {train['parameters']:,}, epochs {train['epochs']} (best {train['best_epoch']}), train {train['train_seconds']:.0f} s, peak {int(memory.group(1)) / 1e6 if memory else float('nan'):.2f} GB")
print("| target | " + " | ".join(keys) + " | invalid w/o trie | p50 / p99 ms | scorer agrees |")
print("|---|" + "---|" * (len(keys) + 3))
for target in ["valid", "test"]:
    p = json.load(open(f"{out}/{target}.json"))
    agree = "n/a"
    if os.path.exists(scorer):
        s = json.loads(subprocess.run(["python3", scorer, f"{out}/{target}.tsv", "--target", target], capture_output=True, text=True, check=True).stdout)
        bad = sum(s[k] for k in ["missing_users", "short_lists", "history_violation_users", "users_with_duplicate_items", "unknown_items"])
        agree = "yes" if max(abs(p[k] - s[k]) for k in keys) <= 1e-4 and bad == 0 else "NO"
    latency = re.search(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms", open(f"{out}/{target}.log").read())
    print(f"| {target} | " + " | ".join(f"{p[k]:.4f}" for k in keys) + f" | {p.get('invalid_rate_unconstrained', float('nan')):.1%} | "
          + (f"{latency.group(1)} / {latency.group(2)}" if latency else "n/a") + f" | {agree} |")
e, served, test = json.load(open(f"{out}/export.json")), json.load(open(f"{out}/served.json")), json.load(open(f"{out}/test.json"))
latency = re.search(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms", open(f"{out}/served.log").read())
print(f"ONNX: max |Δ log-prob| {e['parity_max_abs_diff']:.1e}, same search {e['parity_same_results']}/50; test NDCG@10 TorchSharp {test['NDCG@10']:.6f} → ONNX Runtime {served['NDCG@10']:.6f}"
      + (f", p50 / p99 {latency.group(1)} / {latency.group(2)} ms" if latency else ""))
PY

numbers=(0.1 0.2 0.3 0.5)
# Stage 2, the reward model (the command scripts/align-run.sh runs; it reuses this one): its reward@10 goes beside
# the accuracy figures of both A/B tables.
if [ ! -f "$out/align/reward.json" ]; then
  echo "== reward model (stage 2)" >&2
  mkdir -p "$out/align"
  $cli train reward --data "$data" --out "$out/align/reward" 2> "$out/align/reward.log" | tail -n 1 > "$out/align/reward.json"
fi
reward=(--reward-path "$out/align/reward")
if [ ! -f "$out/ab-valid/report.json" ]; then
  echo "== A/B on validation: the model in the cascade's place, blended (slot quota) and fused (score weight) at ${numbers[*]}" >&2
  $cli ab --data "$data" --arms "dlrm,e2e-replace,$(printf 'e2e-blend:%s,' "${numbers[@]}")$(printf 'e2e-fuse:%s,' "${numbers[@]}" | sed 's/,$//')" \
    --e2e-path "$out/model" "${reward[@]}" --target valid --seed "$seed" --out "$out/ab-valid" 2>"$out/ab-valid.log" > "$out/ab-valid.txt"
fi
cat "$out/ab-valid.txt"
chosen=$(python3 - "$out/ab-valid/report.json" <<'PY'
import json, sys
arms = json.load(open(sys.argv[1]))["arms"]
def ndcg(a): return a["metrics"]["NDCG@10"]["value"]
mixes = [a for a in arms if a["name"].startswith(("e2e-blend:", "e2e-fuse:"))]
print(max(mixes, key=ndcg)["name"])
PY
)
echo "== chosen on validation: $chosen; A/B on test" >&2
if [ ! -f "$out/ab-test/report.json" ]; then
  $cli ab --data "$data" --arms "dlrm,e2e-replace,$chosen" --e2e-path "$out/model" "${reward[@]}" \
    --target test --seed "$seed" --out "$out/ab-test" 2>"$out/ab-test.log" > "$out/ab-test.txt"
fi
cat "$out/ab-test.txt"

# Served by the session grain: the exported model in a local Orleans cluster (1, then 3 silos), recommend-after-history
# p50/p99 cold (history read) and warm (cached encoder state), as scripts/cluster-bench.sh measures the TIGER.
if [ ! -f "$out/cluster.txt" ]; then
  echo "== served by the session grain (GenRec.OrleansCluster bench)" >&2
  mkdir -p "$out/cluster"
  [ -d "$out/cluster/model" ] || cp -r "$out/onnx" "$out/cluster/model"
  cp "$ids" "$out/cluster/index.sid"
  [ -n "${NO_BUILD:-}" ] || dotnet build samples/GenRec.OrleansCluster -c Release -v q -nologo >/dev/null
  dotnet samples/GenRec.OrleansCluster/bin/Release/net10.0/linux-x64/GenRec.OrleansCluster.dll bench --users 3000 --folder "$out/cluster" 2>&1 \
    | grep -v -E "onnxruntime|^\s*$|^\[m" > "$out/cluster.txt"
fi
cat "$out/cluster.txt"

# The three stages as an ablation, on test: stage 1 alone (the model in the cascade's place), stage 1 + the stage-2
# reward re-ranking its top 100 at serving time, and stage 3 (the model aligned to that reward). Needs
# scripts/align-run.sh "$out/model" "$out/align" first; ALIGNED names the setting it chose on validation.
if [ -n "${ALIGNED:-}" ] && [ ! -f "$out/ab-stages/report.json" ]; then
  echo "== three stages on test (aligned: $ALIGNED)" >&2
  $cli ab --data "$data" --arms dlrm,e2e-replace,e2e-reward-rerank,gen-aligned-replace --e2e-path "$out/model" --aligned-path "$ALIGNED" \
    --reward-path "$out/align/reward" --target test --seed "$seed" --out "$out/ab-stages" 2>"$out/ab-stages.log" > "$out/ab-stages.txt"
fi
[ ! -f "$out/ab-stages.txt" ] || cat "$out/ab-stages.txt"
