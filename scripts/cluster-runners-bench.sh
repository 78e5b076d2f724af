#!/usr/bin/env bash
# Model runners (docs/benchmarks.md, "Model runner grains"): three real local silos (loopback TCP, in-memory
# storage), every silo serving its own sessions' requests vs the sessions sending them to model runner grains on the
# third silo (marked as the model runner), side by side in one run: HSTU ranking of 200 candidates cold, after an
# append (the kept state extended) and again (reused); generative retrieval (top 10, beam 64) cold and warm.
# Prepares out/cluster (index, an 8-epoch TIGER, a one-epoch HSTU) if missing (about 5 minutes).
# Usage: scripts/cluster-runners-bench.sh [users]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build samples/GenRec.OrleansCluster -c Release -v q -nologo >/dev/null
dotnet samples/GenRec.OrleansCluster/bin/Release/net10.0/linux-x64/GenRec.OrleansCluster.dll bench-runners --users "${1:-2000}" 2>&1 | grep -v -E "onnxruntime|^\s*$|^\[m"
