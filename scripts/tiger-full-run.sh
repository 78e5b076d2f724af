#!/usr/bin/env bash
# The documented full generative-retrieval run on the bundled MovieLens data, timed with peak memory:
# semantic IDs from content + collaborative embeddings (MiniLM ‖ item2vec → balanced RQ-KMeans, 3 × 256 + 1; the
# best ids of scripts/tiger-ablations.sh), then TIGER decoder-only and
# encoder-decoder with the defaults (d 64, 2 layers, 2 heads, MLP 256, history 50, ≤ 40 epochs, early stopping on
# validation NDCG@10), each evaluated on the test targets with beam 100 and checked with the shared scorer.
# Usage: scripts/tiger-full-run.sh [ratings.csv.gz] [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-samples/data/movielens-small/ratings.csv.gz}
out=${2:-out/full}
mkdir -p "$out"
dotnet build src/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet src/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
[ -f "$out/ids.sid" ] || $cli tokenize --data "$data" --embedding both --method rqkmeans --cache "$out/cache" --out "$out/ids.sid" >/dev/null 2>"$out/tokenize.log"
for arch in decoder-only encoder-decoder; do
  /usr/bin/time -v $cli train tiger --data "$data" --index "$out/ids.sid" --arch "$arch" --out "$out/$arch" >"$out/$arch.train.json" 2>"$out/$arch.train.log"
  $cli eval --data "$data" --model tiger --model-path "$out/$arch" --target test --top 100 --recs-out "$out/$arch.test.tsv" >"$out/$arch.eval.json" 2>"$out/$arch.eval.log"
  echo "== $arch"
  tail -n 1 "$out/$arch.train.json"
  tail -n 1 "$out/$arch.eval.json"
  grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$out/$arch.train.log"
  grep -E "latency per request|without the trie" "$out/$arch.eval.log"
  [ -f ../shared/eval/score.py ] && python3 ../shared/eval/score.py "$out/$arch.test.tsv" | cut -c1-200
done
