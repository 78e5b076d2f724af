#!/usr/bin/env bash
# Stages 2 and 3 of end-to-end generation (issue 14), the figures of docs/benchmarks.md "Preference alignment":
# the reward model and its AUCs, the stage-1 generator aligned under each setting (each compared with it on the
# validation target), the setting chosen on validation (the most reward@10 whose NDCG@10 interval against the
# stage-1 model does not lie below 0), and that setting against the stage-1 model on the test target.
# Usage: scripts/align-run.sh [stage-1 model folder] [out-dir]
# The stage-1 model is the decoder-only full-run model (scripts/tiger-seeds.sh decoder-only 42 writes out/full/decoder-only).
set -euo pipefail
cd "$(dirname "$0")/.."
stage1=${1:-out/full/decoder-only}
out=${2:-out/align}
data=samples/data/movielens-small/ratings.csv.gz
mkdir -p "$out"
[ -n "${NO_BUILD:-}" ] || dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"

echo "== reward model" >&2
[ -f "$out/reward.json" ] || $cli train reward --data "$data" --out "$out/reward" 2> "$out/reward.log" | tail -n 1 > "$out/reward.json"
cat "$out/reward.json"

# beta | learning rate
SETTINGS=("0.1|1e-3" "1|1e-3" "1|1e-4")
for setting in "${SETTINGS[@]}"; do
  IFS='|' read -r beta rate <<< "$setting"
  name="b$beta-lr$rate"
  echo "== align $name" >&2
  [ -f "$out/$name.json" ] || $cli train align --data "$data" --model-path "$stage1" --reward-path "$out/reward" --out "$out/$name" --beta "$beta" --lr "$rate" 2> "$out/$name.log" | tail -n 1 > "$out/$name.json"
done

chosen=$(python3 - "$out" "${SETTINGS[@]}" <<'PY'
import json, sys
out, settings = sys.argv[1], sys.argv[2:]
print("| beta | lr | valid NDCG@10 (stage-1 → aligned) | difference [95% CI] | valid reward@10 | difference [95% CI] | ILD@10 difference | drift log π/π_ref (rounds 2, 3) |", file=sys.stderr)
best, best_reward = None, float("-inf")
for s in settings:
    beta, rate = s.split("|")
    name = f"b{beta}-lr{rate}"
    f = json.load(open(f"{out}/{name}.json"))
    n, r, i = f["valid_NDCG@10_difference"], f["valid_reward@10_difference"], f["valid_ILD@10_difference"]
    print(f"| {beta} | {rate} | {f['valid_NDCG@10_stage1']:.4f} → {f['valid_NDCG@10_aligned']:.4f} | {n[0]:+.4f} [{n[1]:+.4f}, {n[2]:+.4f}] | "
          f"{f['valid_reward@10_stage1']:.4f} → {f['valid_reward@10_aligned']:.4f} | {r[0]:+.4f} [{r[1]:+.4f}, {r[2]:+.4f}] | {i[0]:+.4f} | "
          f"{f['round_log_ratio'][1]:.3f}, {f['round_log_ratio'][2]:.3f} |", file=sys.stderr)
    if n[2] >= 0 and r[0] > best_reward:
        best, best_reward = name, r[0]
print(best or "")
PY
)
if [ -z "$chosen" ]; then
  echo "no setting kept validation NDCG@10 (every interval lies below 0); nothing to test" >&2
  exit 0
fi

echo "== chosen on validation: $chosen; test target" >&2
$cli ab --data "$data" --arms gen-recall-replace,gen-aligned-replace --model-path "$stage1" --aligned-path "$out/$chosen" \
  --reward-path "$out/reward" --target test --out "$out/ab-test" 2> "$out/ab-test.log"
