#!/usr/bin/env bash
# Does TIGER gain from reading actions? (docs/benchmarks.md, "TIGER reading actions"): the same generative retrieval
# model trained twice, its token history holding the items' semantic IDs only (--actions off) and each item's action
# token after its codes (on: on MovieLens the rating's half-star bucket; on a simulated log impression, click,
# purchase …), both evaluated on the validation and the test target (beam 100); the shared se.py gives the paired
# differences (on − off).
# Usage: scripts/tiger-actions-bench.sh [folder] [movielens|EVENTS] [arch] [epochs]
#   scripts/tiger-actions-bench.sh /tmp/ta movielens decoder-only 40   the MovieLens split, the documented defaults
#   scripts/tiger-actions-bench.sh /tmp/ta-sim 300000 decoder-only 5    a 300,000-event simulated log (genrec synth,
#                                                                       seed 42), targets each user's last click or purchase
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-/tmp/genrec-tiger-actions-bench}"
source="${2:-movielens}"
arch="${3:-decoder-only}"
epochs="${4:-40}"
se="${GENREC_SHARED_EVAL:-../shared/eval}/se.py"
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli=(dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll)
genrec() { "${cli[@]}" "$@"; }
mkdir -p "$folder"
split=()
check=()
if [ "$source" = movielens ]; then
  data=(--data samples/data/movielens-small/ratings.csv.gz)
else
  check=(--invalid-check-users 0) # the unconstrained-decoding check would double each evaluation of thousands of users
  log="$folder/log-$source"
  [ -f "$log/schema.json" ] || genrec synth --out "$log" --size "$source" --format parquet >/dev/null 2>&1
  data=(--events "$log/events.parquet" --items "$log/items.parquet" --schema "$log/schema.json" --target-actions Click,Purchase)
  split=(--split "$folder/split")
fi
[ -f "$folder/ids.sid" ] || genrec tokenize "${data[@]}" --embedding both --method rqkmeans --cache "$folder/cache" --out "$folder/ids.sid" >/dev/null 2>"$folder/tokenize.log"
for actions in off on; do
  model="$folder/$arch-$actions"
  [ -f "$model/manifest.json" ] || /usr/bin/time -v "${cli[@]}" train tiger "${data[@]}" --index "$folder/ids.sid" --arch "$arch" --epochs "$epochs" \
    --actions "$actions" --out "$model" 2>"$model.train.log" | tail -1
  grep -E "Elapsed|Maximum resident" "$model.train.log" || true
  for target in valid test; do
    extra=()
    [ ${#split[@]} -eq 0 ] || extra=(--split-out "$folder/split")
    genrec eval "${data[@]}" --model tiger --model-path "$model" --target "$target" --top 100 \
      --recs-out "$folder/$target-$actions.tsv" "${extra[@]}" "${check[@]}" 2>"$folder/eval-$target-$actions.log" | tail -1
  done
done
for target in valid test; do
  echo "$target target:"
  python3 "$se" "${split[@]}" --target "$target" "$folder/$target-off.tsv" "$folder/$target-on.tsv"
done
