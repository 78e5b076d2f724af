#!/usr/bin/env bash
# The chaos run (docs/benchmarks.md, "Chaos"): three silos on a Redis server of their own (append-only file, fsync at
# every write), 32 callers mixing appends and recommendations through the recall adapter with a cascade recall as
# fallback; a silo killed every 60 s and replaced, the Redis server killed and restarted once; loopback only. The same
# test as the suite's short version (tests/GenRec.Orleans.Tests/ChaosTests.cs), run for 5 minutes (or the first
# argument, in seconds). Needs redis-server on the PATH. Writes out/chaos/report.md and prints it.
# Usage: scripts/chaos.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/chaos
export GENREC_CHAOS_SECONDS="${1:-300}" GENREC_CHAOS_KILL_EVERY=60 GENREC_CHAOS_PAUSE_MS=0 GENREC_CHAOS_REPORT="$PWD/out/chaos/report.md"
rm -f "$GENREC_CHAOS_REPORT"
dotnet test tests/GenRec.Orleans.Tests -c Release --filter "FullyQualifiedName~ChaosTests" -v q -nologo 2>&1 | grep -E "Passed!|Failed!|error" || true
cat "$GENREC_CHAOS_REPORT"
