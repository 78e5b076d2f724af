#!/usr/bin/env bash
# The Orleans cluster benchmark (docs/benchmarks.md, "Orleans hosting"): 10,000 simulated users' events appended
# through real local silos (1, then 3; loopback TCP, in-memory storage), RecommendAsync p50/p99 cold (history read)
# and warm (cached per-user context), managed memory per active user. Prepares the model in out/cluster if missing.
# Usage: scripts/cluster-bench.sh [users]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build samples/GenRec.OrleansCluster -c Release -v q -nologo >/dev/null
dotnet samples/GenRec.OrleansCluster/bin/Release/net10.0/linux-x64/GenRec.OrleansCluster.dll bench --users "${1:-10000}" 2>&1 | grep -v -E "onnxruntime|^\s*$|^\[m"
