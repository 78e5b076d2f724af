#!/usr/bin/env bash
# A large catalogue's index (docs/benchmarks.md, "Index distribution"): a synthetic semantic-ID index of 10 M items
# (or the first argument) published by a client as 4 MiB content-addressed chunks to three local silos on Redis while
# 8 callers append events; the time until every silo serves it, each silo's load, the callers' p50 / p99 and failures,
# the largest value written to Redis and the index grain's state. Needs a Redis server (localhost:6379, or the second
# argument) and about 12 GB of memory at 10 M items; about three minutes. Its keys are deleted afterwards.
# Usage: scripts/index-bench.sh [items] [host:port]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build samples/GenRec.OrleansCluster -c Release -v q -nologo >/dev/null
dotnet samples/GenRec.OrleansCluster/bin/Release/net10.0/linux-x64/GenRec.OrleansCluster.dll bench-index --users "${1:-10000000}" --redis "${2:-localhost:6379}" 2>&1 | grep -E "^\||synthetic index|published|loaded on this silo"
