#!/usr/bin/env bash
# Export the full-run TIGER models (scripts/tiger-full-run.sh) to ONNX, check parity with TorchSharp on real test
# histories, and evaluate the ONNX Runtime path on the test targets with the same contract as `--model tiger`
# (beam 100, top 100), checked with the shared scorer.
# Usage: scripts/onnx-eval.sh [ratings.csv.gz] [full-run dir]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-samples/data/movielens-small/ratings.csv.gz}
out=${2:-out/full}
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
cli="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
for arch in decoder-only encoder-decoder; do
  [ -d "$out/$arch" ] || { echo "error: $out/$arch is missing; run scripts/tiger-full-run.sh first" >&2; exit 2; }
  $cli export --model-path "$out/$arch" --out "$out/$arch-onnx" --data "$data" >"$out/$arch-onnx.export.json" 2>"$out/$arch-onnx.export.log"
  $cli eval --data "$data" --model tiger-onnx --model-path "$out/$arch-onnx" --target test --top 100 --recs-out "$out/$arch-onnx.test.tsv" >"$out/$arch-onnx.eval.json" 2>"$out/$arch-onnx.eval.log"
  echo "== $arch: TorchSharp eager, then ONNX Runtime"
  tail -n 1 "$out/$arch.eval.json"
  tail -n 1 "$out/$arch-onnx.eval.json"
  tail -n 1 "$out/$arch-onnx.export.json"
  grep -E "latency per request" "$out/$arch.eval.log" "$out/$arch-onnx.eval.log"
  if [ -f "$out/$arch.test.tsv" ]; then
    cmp -s "$out/$arch.test.tsv" "$out/$arch-onnx.test.tsv" && echo "recommendation files: identical" || echo "recommendation files: $(diff <(tr '\t,' '\n\n' <"$out/$arch.test.tsv") <(tr '\t,' '\n\n' <"$out/$arch-onnx.test.tsv") | grep -c '^>') of $(tr '\t,' '\n\n' <"$out/$arch.test.tsv" | wc -l) entries differ"
  fi
  [ -f ../shared/eval/score.py ] && python3 ../shared/eval/score.py "$out/$arch-onnx.test.tsv" | cut -c1-200
done
