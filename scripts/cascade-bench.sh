#!/usr/bin/env bash
# What switching generative recall on costs an existing service (docs/benchmarks.md, "Adapters"): the ExistingCascade
# sample's trained DLRM cascade served over HTTP in each adapter mode, side by side in one run. Needs a model and an
# index: by default the ones `dotnet run --project samples/GenRec.OrleansCluster -- prepare` writes to out/cluster.
# Usage: scripts/cascade-bench.sh [model folder] [index.sid]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-out/cluster/model}; index=${2:-out/cluster/index.sid}
[ -f "$model/manifest.json" ] || dotnet run --project samples/GenRec.OrleansCluster -c Release -- prepare
dotnet build samples/GenRec.ExistingCascade -c Release -v q -nologo >/dev/null
dotnet samples/GenRec.ExistingCascade/bin/Release/net10.0/linux-x64/GenRec.ExistingCascade.dll bench \
  --GenRec:Model "$model" --GenRec:Index "$index" 2>&1 | grep -v -E "onnxruntime|^\[m|^\s*$"
