#!/usr/bin/env bash
# Flame graphs of GET /api/v1/me and of the nginx verify endpoint under wrk load, with the
# server set up as bench/hotpath.sh sets it (every feature on), metrics on and off: `perf record`
# with DWARF call graphs on the server process while `wrk -t1 -c32` runs, folded and drawn by
# bench/flamegraph.py (Python alone). Writes OUT-me-metrics.svg, OUT-verify-metrics.svg,
# OUT-me-nometrics.svg, OUT-verify-nometrics.svg.
#
#   bench/flamegraph.sh BIN OUT [SECONDS]     e.g. bench/flamegraph.sh target/release/deskward bench/flamegraphs/after
set -euo pipefail
BIN=$(realpath "$1") OUT=$2 D=${3:-4}
for t in perf wrk python3; do
    command -v "$t" >/dev/null || { echo "$t is missing (perf: apt-get install -y linux-perf)" >&2; exit 1; }
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/hotpath.sh
. "$HERE/hotpath.sh"
W=$(mktemp -d /tmp/deskward-flame.XXXX)
P=${FLAME_PORT:-28461} MP=$((P + 1))
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$W"' EXIT
hotpath_rules "$W/rules.toml"
for metrics in metrics nometrics; do
    rm -f "$W"/d.db*
    hotpath_account "$BIN" "$W/d.db"
    mapfile -t ARGS < <(hotpath_serve_args "$W/d.db" "$P" "$MP" "$W/rules.toml")
    if [ $metrics = nometrics ]; then
        # The same arguments without --metrics-bind and its address.
        mapfile -t ARGS < <(printf '%s\n' "${ARGS[@]}" | awk 'skip { skip = 0; next } $0 == "--metrics-bind" { skip = 1; next } { print }')
    fi
    "$BIN" "${ARGS[@]}" > "$W/server.log" 2>&1 &
    PID=$!
    BASE="http://127.0.0.1:$P/deskward"
    for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "$BASE/healthz" && break; sleep 0.1; done
    COOKIE=$(hotpath_agent "$BASE")
    for ep in me verify; do
        url=$([ $ep = me ] && echo "$BASE/api/v1/me" || echo "$BASE/api/v1/verify/auth-request")
        wrk -t1 -c32 -d$((D + 2))s -H "Cookie: $COOKIE" -H "$HOTPATH_ORIGINAL" "$url" > "$W/wrk.txt" &
        WRK=$!
        sleep 1
        perf record -q -F 499 --call-graph dwarf,16384 -p "$PID" -o "$W/perf.data" -- sleep "$D" 2> /dev/null
        wait $WRK
        grep -q 'Non-2xx' "$W/wrk.txt" && { echo "$ep answered non-2xx under load" >&2; exit 1; }
        perf script -i "$W/perf.data" 2> /dev/null |
            python3 "$HERE/flamegraph.py" --title "$ep, metrics ${metrics/nometrics/off}, $(basename "$OUT")" \
            > "$OUT-$ep-$metrics.svg"
        echo "$OUT-$ep-$metrics.svg: $(awk '/Requests\/sec/ {print $2}' "$W/wrk.txt") req/s during the profile, load average $(cut -d' ' -f1 /proc/loadavg)"
    done
    kill $PID; wait $PID 2>/dev/null || true; PID=
done
