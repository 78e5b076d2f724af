#!/usr/bin/env bash
# The documented full generative-retrieval run on the bundled MovieLens data: semantic IDs from content +
# collaborative embeddings (MiniLM ‖ item2vec → balanced RQ-KMeans, 3 × 256 + 1; the best ids of
# scripts/tiger-ablations.sh), then TIGER decoder-only and encoder-decoder with the defaults (d 64, 2 layers, 2 heads,
# MLP 256, history 50, ≤ 40 epochs, early stopping and the kept epoch on the validation log-likelihood), seed 42, each timed with peak memory,
# evaluated on the test target with beam 100 and checked with the shared scorer. Leaves out/full/<arch>, the models
# scripts/onnx-eval.sh and scripts/serve-bench.sh read. For mean ± sd over seeds: scripts/tiger-seeds.sh.
# Usage: scripts/tiger-full-run.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/full}
for arch in decoder-only encoder-decoder; do scripts/tiger-seeds.sh "$arch" 42 "$out"; done
