#!/usr/bin/env bash
# Model runners (docs/benchmarks.md, "HSTU ranking through model runner grains"): three real local silos (loopback
# TCP, in-memory storage), HSTU ranking of 200 candidates through the user sessions, every silo ranking its own
# sessions' requests vs the sessions sending them to model runner grains on the third silo (marked as the model
# runner), side by side in one run: cold, after an append (the kept state extended), again (reused).
# Prepares out/cluster/index.sid and out/cluster/hstu (a one-epoch HSTU) if missing (about 3 minutes).
# Usage: scripts/cluster-hstu-bench.sh [users]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build samples/GenRec.OrleansCluster -c Release -v q -nologo >/dev/null
dotnet samples/GenRec.OrleansCluster/bin/Release/net10.0/linux-x64/GenRec.OrleansCluster.dll bench-hstu --users "${1:-2000}" 2>&1 | grep -v -E "onnxruntime|^\s*$|^\[m"
