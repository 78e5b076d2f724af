#!/usr/bin/env bash
# What an append costs as the history grows (docs/benchmarks.md, "Append cost"): one local silo, 400 users whose sessions
# hold 10 and 1,000 events, 8,000 one-event appends each from 32 callers; sessions in memory (grain state) and in Redis
# (append-only), p50 / p99, appends/s and bytes Redis received per append. Needs a Redis server (localhost:6379, or the
# first argument); its benchmark keys are deleted afterwards. About two minutes.
# Usage: scripts/append-bench.sh [host:port]
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build samples/GenRec.OrleansCluster -c Release -v q -nologo >/dev/null
dotnet samples/GenRec.OrleansCluster/bin/Release/net10.0/linux-x64/GenRec.OrleansCluster.dll bench-append --redis "${1:-localhost:6379}" 2>&1 | grep -E "^\||history|users a history|÷"
