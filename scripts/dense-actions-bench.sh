#!/usr/bin/env bash
# Does the dense retriever gain from reading actions? (docs/benchmarks.md, "The dense retriever reading actions"): on a
# simulated multi-behaviour log (genrec synth, seed 42; targets each user's last click or purchase, as
# scripts/pipeline-bench.sh), the same dense retriever (sampled softmax, 1,024 negatives) is trained twice, its user
# tower reading the history's items only (--dense-actions off) and the items with their actions (on), and both are
# evaluated on every user, validation target and test target; the shared se.py gives the paired differences (on − off)
# on the split genrec writes. About 15 minutes on 2 cores at the default size and one epoch.
# Usage: scripts/dense-actions-bench.sh [folder] [events] [epochs]   e.g. scripts/dense-actions-bench.sh /tmp/da 300000 3
# GENREC_DENSE_POSITIVES=Click,Purchase: both arms learn only those events as next items (--dense-positives).
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-/tmp/genrec-dense-actions-bench}"
size="${2:-1000000}"
epochs="${3:-1}"
se="${GENREC_SHARED_EVAL:-../shared/eval}/se.py"
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
genrec() { dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll "$@"; }
log="$folder/log-$size"
mkdir -p "$folder"
[ -f "$log/schema.json" ] || genrec synth --out "$log" --size "$size" --format parquet >/dev/null 2>&1
positives=()
[ -z "${GENREC_DENSE_POSITIVES:-}" ] || positives=(--dense-positives "$GENREC_DENSE_POSITIVES")
data=(--events "$log/events.parquet" --items "$log/items.parquet" --schema "$log/schema.json" --target-actions Click,Purchase)
for actions in off on; do
  [ -f "$folder/dense-$actions/manifest.json" ] || genrec train dense "${data[@]}" --cache "$folder/cache" --out "$folder/dense-$actions" \
    --dense-epochs "$epochs" --dense-eval-users 2000 --dense-negatives 1024 --dense-actions "$actions" "${positives[@]}" 2>"$folder/train-$actions.log" | tail -1
  for target in valid test; do
    genrec eval "${data[@]}" --model dense --dense-path "$folder/dense-$actions" --target "$target" \
      --recs-out "$folder/$target-$actions.tsv" --split-out "$folder/split" 2>"$folder/eval-$target-$actions.log" | tail -1
  done
done
for target in valid test; do
  echo "$target target:"
  python3 "$se" --split "$folder/split" --target "$target" "$folder/$target-off.tsv" "$folder/$target-on.tsv"
done
