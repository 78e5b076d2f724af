#!/usr/bin/env bash
# The whole pipeline on a team-sized log (docs/benchmarks.md, "The pipeline at 10 M events"): a simulated multi-behaviour
# log (genrec synth, seed 42) read, profiled, split (leave-one-out on clicks and purchases), tokenized (content
# embeddings → RQ-KMeans), a dense retriever trained one epoch (sampled softmax, 1,024 negatives) and evaluated: the
# pipeline; then TIGER trained one epoch and evaluated, HSTU one epoch, the DLRM cascade fitted (one LambdaRank setting)
# and evaluated. Every step is its own genrec command, timed with
# /usr/bin/time (wall seconds, peak resident memory); evaluations score a sample of users (--max-users).
# Usage: scripts/pipeline-bench.sh [folder] [events] [eval-users] [tiger-eval-users]   e.g. scripts/pipeline-bench.sh /tmp/pb 1000000 5000 1000
# GENREC_STEPS picks steps (default: all): e.g. GENREC_STEPS="read tokenize dense-train dense-eval" for the pipeline only.
# GENREC_INVALID_CHECK_USERS=N: tiger-eval's unconstrained-decoding check on N users (default: every evaluated user; 0 skips).
# GENREC_DENSE_ACTIONS=auto|on|off: whether the dense retriever reads actions (default off, genrec's default).
# GENREC_HSTU_NEGATIVES=N: HSTU's next-item loss as a sampled softmax over N drawn items (default 0: the full softmax).
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-/tmp/genrec-pipeline-bench}"
size="${2:-10000000}"
users="${3:-20000}"
tiger_users="${4:-2000}"  # beam search on the CPU: about 30 ms a user
negatives="${GENREC_DENSE_NEGATIVES:-1024}"  # sampled softmax: an epoch over the whole catalogue costs ten times more
dense_actions="${GENREC_DENSE_ACTIONS:-off}"
hstu_negatives="${GENREC_HSTU_NEGATIVES:-0}"
check=()
[ -z "${GENREC_INVALID_CHECK_USERS:-}" ] || check=(--invalid-check-users "$GENREC_INVALID_CHECK_USERS")
mkdir -p "$folder"
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli=tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll
log="$folder/log-$size"
[ -f "$log/schema.json" ] || dotnet "$cli" synth --out "$log" --size "$size" --format parquet >/dev/null 2>&1
data=(--events "$log/events.parquet" --items "$log/items.parquet" --schema "$log/schema.json" --target-actions Click,Purchase)
echo "| step | command | wall s | peak memory MB | result |"
echo "|---|---|---:|---:|---|"
steps=" ${GENREC_STEPS:-read tokenize dense-train dense-eval tiger-train tiger-eval hstu-train dlrm-eval} "
step() {
  local name="$1"; shift
  [[ "$steps" == *" $name "* ]] || return 0
  local out="$folder/$name.out" err="$folder/$name.err"
  /usr/bin/time -f "%e %M" -o "$folder/$name.time" dotnet "$cli" "$@" >"$out" 2>"$err" || { echo "| $name | failed: see $err |"; tail -5 "$err" >&2; exit 1; }
  read -r wall kb < "$folder/$name.time"
  local result
  result=$(tail -1 "$out" | python3 -c 'import json,sys
try:
    r = json.loads(sys.stdin.read())
    keys = [k for k in ("users", "NDCG@10", "HR@10", "items", "collision_rate_after") if k in r]
    print(", ".join(f"{k} {r[k]}" for k in keys))
except Exception:
    print("")')
  local words="$1"
  [[ "${2:-}" == --* ]] || words="$1 $2"
  echo "| $name | genrec $words | $wall | $((kb / 1024)) | $result |"
}
step read data inspect "${data[@]}" --json
step tokenize tokenize "${data[@]}" --embedding content --cache "$folder/cache" --out "$folder/index.sid"
step dense-train train dense "${data[@]}" --cache "$folder/cache" --out "$folder/dense" --dense-epochs 1 --dense-eval-users 2000 --dense-negatives "$negatives" --dense-actions "$dense_actions"
step dense-eval eval "${data[@]}" --model dense --dense-path "$folder/dense" --max-users "$users"
step tiger-train train tiger "${data[@]}" --index "$folder/index.sid" --out "$folder/tiger" --epochs 1 --min-epochs 1 --eval-users 1000
step tiger-eval eval "${data[@]}" --model tiger --model-path "$folder/tiger" --max-users "$tiger_users" "${check[@]}"
step hstu-train train hstu "${data[@]}" --out "$folder/hstu" --hstu-epochs 1 --hstu-negatives "$hstu_negatives"
step dlrm-eval eval "${data[@]}" --model dlrm --dlrm-grid single --max-users "$users"
