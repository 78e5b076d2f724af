#!/usr/bin/env bash
# Learn from clicks, evaluate on purchases (docs/benchmarks.md, "Actions: what the models learn from"): on a simulated
# multi-behaviour log (genrec synth, seed 42), the test targets are each user's last purchase (--target-actions
# Purchase); every model is trained and evaluated twice on the same targets, once reading every event (impressions
# included) and once reading clicks and purchases only (--context-actions Click,Purchase); the shared se.py gives the
# paired differences on the split genrec writes. About 10 minutes on 2 cores at the default size.
# Usage: scripts/actions-bench.sh [folder] [events] [models]   e.g. scripts/actions-bench.sh /tmp/ab 300000 dlrm,itemcf
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-/tmp/genrec-actions-bench}"
size="${2:-1000000}"
models="${3:-popularity,itemcf,dlrm}"
se="${GENREC_SHARED_EVAL:-../shared/eval}/se.py"
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
genrec() { dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll "$@"; }
log="$folder/log-$size"
[ -f "$log/schema.json" ] || genrec synth --out "$log" --size "$size" --format parquet >/dev/null 2>&1
data=(--events "$log/events.parquet" --items "$log/items.parquet" --schema "$log/schema.json" --target-actions Purchase)
for model in ${models//,/ }; do
  genrec eval "${data[@]}" --model "$model" --recs-out "$folder/$model-all.tsv" --split-out "$folder/split" 2>"$folder/$model-all.log" | tail -1
  genrec eval "${data[@]}" --model "$model" --context-actions Click,Purchase --recs-out "$folder/$model-clicks.tsv" 2>"$folder/$model-clicks.log" | tail -1
  python3 "$se" --split "$folder/split" "$folder/$model-all.tsv" "$folder/$model-clicks.tsv"
done
