#!/usr/bin/env bash
# Reading a team's event log (docs/benchmarks.md, "Reading event logs"): simulated multi-behaviour logs (genrec synth,
# seed 42) of 1M, 10M and 50M events in CSV and Parquet, each read with its catalogue 1 + 3 times (a warm-up read, then
# the median of three): events/s, managed bytes per kept event, peak working set. Needs ~4 GB of disk under the folder
# given (default /tmp/genrec-read-bench) and ~3 GB of memory; about 15 minutes on 2 cores.
# Usage: scripts/read-bench.sh [folder] [sizes...]   e.g. scripts/read-bench.sh /tmp/rb 1000000 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
folder="${1:-/tmp/genrec-read-bench}"
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000 50000000)
dotnet build tools/GenRec.Cli -c Release -v q -nologo >/dev/null
genrec() { dotnet tools/GenRec.Cli/bin/Release/net10.0/linux-x64/genrec.dll "$@"; }
echo "| events | format | file MB | events/s (median of 3) | each read | bytes per kept event | peak working set MB |"
echo "|---:|---|---:|---:|---|---:|---:|"
for size in "${sizes[@]}"; do
  for format in parquet csv; do
    out="$folder/$format-$size"
    [ -f "$out/schema.json" ] || genrec synth --out "$out" --size "$size" --format "$format" >/dev/null 2>&1
    json=$(genrec bench read --events "$out/events.$format" --items "$out/items.$format" --schema "$out/schema.json" --repeat 3 2>/dev/null | tail -1)
    python3 - "$size" "$format" "$json" <<'PY'
import json, sys
size, fmt, r = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
each = ", ".join(f"{v/1e6:.2f}M" for v in r["events_per_second"])
print(f"| {size:,} | {fmt} | {r['file_bytes']/2**20:,.0f} | {r['events_per_second_median']/1e6:.2f}M | {each} | {r['bytes_per_event_median']:.1f} | {r['peak_working_set_bytes']/2**20:,.0f} |")
PY
  done
done
