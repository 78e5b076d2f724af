#!/usr/bin/env bash
# Streaming ingestion (docs/benchmarks.md, "Ingestion from a Redis stream"): every MovieLens rating, in time order,
# written to a Redis stream and ingested by one and by three local silos (one consumer group), the sessions in memory
# and in Redis (append-only), events/s end to end. Needs a Redis server (localhost:6379, or the first argument).
# About two minutes.
# Usage: scripts/ingest-bench.sh [host:port]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build samples/GenRec.OrleansCluster -c Release -v q -nologo >/dev/null
dotnet samples/GenRec.OrleansCluster/bin/Release/net10.0/linux-x64/GenRec.OrleansCluster.dll bench-ingest --redis "${1:-localhost:6379}" 2>&1 | grep -E "^\||silo\(s\)|MovieLens ratings"
