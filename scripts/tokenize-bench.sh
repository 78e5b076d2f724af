#!/usr/bin/env bash
# Tokenizes the bundled MovieLens catalogue with both methods over content, collaborative and both embeddings,
# and prints a markdown table of the statistics `genrec tokenize` reports.
# Usage: scripts/tokenize-bench.sh [ratings.csv.gz] [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-samples/data/movielens-small/ratings.csv.gz}
out=${2:-out/tokenize}
mkdir -p "$out"
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"

echo "| embedding | method | dim | collisions before | after | max items per tuple | utilization L1/L2/L3 | perplexity L1/L2/L3 | reconstruction MSE | embed s | tokenize s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for embedding in content collaborative both; do
  for method in rqkmeans rqvae; do
    json=$($cli tokenize --data "$data" --embedding "$embedding" --method "$method" --levels 3 --codes 256 \
      --cache "$out/cache" --out "$out/$embedding-$method.sid" 2>"$out/$embedding-$method.log" | tail -n 1)
    python3 - "$json" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
u = "/".join(f"{x:.0%}" for x in m["utilization"])
p = "/".join(f"{x:.0f}" for x in m["perplexity"])
print(f"| {m['embedding']} | {m['method']} | {m['dimension']} | {m['collision_rate_before']:.2%} | {m['collision_rate_after']:.2%} | "
      f"{m['max_items_per_tuple']} | {u} | {p} | {m['reconstruction_mse']:.6f} | {m['embedding_seconds']} | {m['tokenizer_seconds']} |")
PY
  done
done
