#!/usr/bin/env bash
# Issue 8: HSTU generative ranking, every figure of docs/benchmarks.md's HSTU section in one go (~20 min on 2 cores;
# SWEEP=1 adds the validation runs that chose the epoch counts, ~20 min more).
# Trains HSTU once (on the DLRM cascade's ranking queries and cross features), evaluates it as a ranker over the
# cascade's top 200 (TorchSharp and ONNX Runtime), as a retriever over the whole catalogue, the feature ablations,
# and the speed of one-pass (M-FALCON) scoring against a pass per candidate. Output: out/hstu/*.json and *.log.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=samples/data/movielens-small/ratings.csv.gz
OUT=out/hstu
mkdir -p "$OUT"
dotnet build tools/GenRec.Cli -c Release -v q -nologo
GENREC="dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll"
run() { local name=$1; shift; echo "== $name: genrec $*" >&2; $GENREC "$@" 2> "$OUT/$name.log" | tail -1 | tee "$OUT/$name.json"; }

if [ "${SWEEP:-0}" = 1 ]; then
  # How the default epoch count was chosen: validation NDCG@10 on the same candidates (not the test target).
  for e in 3 5 7 10; do run valid-e$e eval --data $DATA --model hstu-rank --hstu-epochs $e --target valid --top 100; done
  run valid-dlrm eval --data $DATA --model dlrm-200 --target valid --top 100
  for e in 5 10 20; do
    run train-r$e train hstu --data $DATA --hstu-epochs $e --out $OUT/model-r$e
    run valid-retrieval-e$e eval --data $DATA --model hstu --model-path $OUT/model-r$e --target valid --top 100
  done
fi
run train train hstu --data $DATA --out $OUT/model
run export export --kind hstu --model-path $OUT/model --out $OUT/onnx
run recall-200 eval --data $DATA --model recall-200 --target test --top 100 --recs-out $OUT/recall-200.tsv
run dlrm-200 eval --data $DATA --model dlrm-200 --target test --top 100 --recs-out $OUT/dlrm-200.tsv
run hstu-rank eval --data $DATA --model hstu-rank --model-path $OUT/model --target test --top 100 --recs-out $OUT/hstu-rank.tsv
run hstu-onnx-200 eval --data $DATA --model hstu-onnx-200 --model-path $OUT/onnx --target test --top 100 --recs-out $OUT/hstu-onnx-200.tsv
# Retrieval: epochs chosen on validation for that use (20; docs/benchmarks.md).
run train-retrieval train hstu --data $DATA --hstu-epochs 20 --out $OUT/model-retrieval
run hstu-retrieval eval --data $DATA --model hstu --model-path $OUT/model-retrieval --target test --top 100 --recs-out $OUT/hstu-retrieval.tsv
run hstu-no-cross eval --data $DATA --model hstu-rank --hstu-no-cross --target test --top 100 --recs-out $OUT/hstu-no-cross.tsv
run hstu-ids-only eval --data $DATA --model hstu-rank --hstu-no-cross --hstu-no-side --target test --top 100 --recs-out $OUT/hstu-ids-only.tsv
run ab ab --data $DATA --arms dlrm,hstu-rank --hstu-path $OUT/model --out $OUT/ab
run bench bench hstu --data $DATA --model-path $OUT/model --onnx-path $OUT/onnx
if [ -f ../shared/eval/score.py ]; then
  # The independent scorer on the retrieval lists (it must agree with hstu-retrieval.json).
  python3 ../shared/eval/score.py $OUT/hstu-retrieval.tsv --target test --name hstu-retrieval | tee $OUT/hstu-retrieval.scorer.json
  # Paired per-user differences against the DLRM ranker on the same candidates.
  python3 ../shared/eval/se.py --target test $OUT/dlrm-200.tsv $OUT/hstu-rank.tsv $OUT/hstu-no-cross.tsv $OUT/hstu-ids-only.tsv $OUT/recall-200.tsv | tee $OUT/paired.txt
fi
echo "done: $OUT" >&2
