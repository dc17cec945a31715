#!/usr/bin/env bash
# Instructions and allocations per request of GET /api/v1/me and of the nginx verify endpoint,
# counted by valgrind's callgrind (repeatable on a busy machine, unlike req/s): the release
# server runs under callgrind with every feature of bench/hotpath.sh on; after a warm-up the
# counters are zeroed, N requests are sent over one kept-alive connection, the counters dumped,
# and the totals divided by N. Allocations are the calls into jemalloc's allocating entry points
# (malloc, mallocx, calloc, realloc, rallocx), which every Rust allocation goes through.
#
#   bench/callgrind.sh BIN [N]      (default N 2000; BIN e.g. target/release/deskward)
#   CALLGRIND_KEEP=1                keep the work directory (the callgrind.out.* files)
set -euo pipefail
BIN=$(realpath "$1") N=${2:-2000}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/hotpath.sh
. "$HERE/hotpath.sh"
W=$(mktemp -d /tmp/deskward-callgrind.XXXX)
P=${CALLGRIND_PORT:-28451} MP=$((P + 1))
hotpath_rules "$W/rules.toml"
hotpath_account "$BIN" "$W/d.db"
mapfile -t ARGS < <(hotpath_serve_args "$W/d.db" "$P" "$MP" "$W/rules.toml")
valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.out.%p" --dump-instr=no \
    --collect-atstart=yes "$BIN" "${ARGS[@]}" > "$W/server.log" 2>&1 &
VPID=$!
trap 'kill $VPID 2>/dev/null; wait $VPID 2>/dev/null; [ "${CALLGRIND_KEEP:-0}" = 1 ] || rm -rf "$W"' EXIT
BASE="http://127.0.0.1:$P/deskward"
for _ in $(seq 1 600); do curl -s -o /dev/null --max-time 2 "$BASE/healthz" && break; sleep 0.2; done
COOKIE=$(hotpath_agent "$BASE")
ME="$BASE/api/v1/me" VERIFY="$BASE/api/v1/verify/auth-request"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$ME")" = 200 ]
curl -s -D - -o /dev/null -H "Cookie: $COOKIE" -H "$HOTPATH_ORIGINAL" "$VERIFY" | grep -qi '^remote-assertion: ey'
# send URL COUNT: COUNT GETs over one connection, each answered 200.
send() {
    local cfg="$W/curl.cfg" i
    : > "$cfg"
    for i in $(seq 1 "$2"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$1" >> "$cfg"; done
    curl -s --max-time 600 -H "Cookie: $COOKIE" -H "$HOTPATH_ORIGINAL" -w '%{http_code}\n' -K "$cfg" \
        | sort | uniq -c | awk -v n="$2" '$2 != 200 || $1 != n { print "answers: " $0 > "/dev/stderr"; bad = 1 } END { exit bad }'
}
# count LABEL URL: zero, N requests, dump; prints "LABEL instructions/request allocations/request".
count() {
    send "$2" 200 # warm: the kept /me body, the signed assertion, the metrics series
    callgrind_control --zero "$VPID" > /dev/null
    send "$2" "$N"
    callgrind_control --dump="$1" "$VPID" > /dev/null
    sleep 1
    local f
    f=$(grep -l "^desc: Trigger: dump $1\$" "$W"/callgrind.out.* | head -1)
    python3 - "$f" "$N" "$1" <<'PY'
import re, sys
path, n, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names, total, allocs, frees = {}, 0, 0, 0
ALLOC = {"_rjem_malloc", "_rjem_mallocx", "_rjem_calloc", "_rjem_realloc", "_rjem_rallocx"}
FREE = {"_rjem_free", "_rjem_sdallocx", "_rjem_dallocx"}
cfn = None
for line in open(path, errors="replace"):
    if line.startswith("summary:") or line.startswith("totals:"):
        total = int(line.split()[1])
    m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3).strip()
        if m.group(1):
            cfn = names.get(m.group(2), "")
        continue
    if line.startswith("calls=") and cfn is not None:
        c = int(line.split("=")[1].split()[0])
        if cfn in ALLOC:
            allocs += c
        elif cfn in FREE:
            frees += c
        cfn = None
print(f"{label} {total / n:.0f} instructions/request, {allocs / n:.1f} allocations/request, {frees / n:.1f} frees/request")
PY
}
count me "$ME"
count verify "$VERIFY"
