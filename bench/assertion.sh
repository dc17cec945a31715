#!/usr/bin/env bash
# Verify with Remote-Assertion against verify without it, in one release binary, alternating
# wrk rounds. "with": nginx's auth-request as the guide's block asks it (X-Original-URL), so the
# answer carries the token (signed once per session and origin, then reused for 30 s);
# "without": the same request with an empty Host and no original URL, so no origin is known
# and the token step is skipped; everything else (the session check, the Remote-* headers) is
# the same. Each round's line: round, with/without, req/s, p50, p99, non-2xx answers, and the
# server's processor time per request in µs. Usage: bench/assertion.sh BIN [ROUNDS] [SECONDS]
set -euo pipefail
BIN=$1 R=${2:-3} D=${3:-5}
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
W=$(mktemp -d /tmp/deskward-assertion.XXXX)
P=28421
DESKWARD_ADMIN_PASSWORD=bench-password-2026 "$BIN" account create --name Bench --slug bench \
   --admin-name Admin --admin-email admin@bench.example --database-url "sqlite://$W/d.db" >/dev/null
"$BIN" serve --database-url "sqlite://$W/d.db" --bind 127.0.0.1:$P --path-prefix /deskward \
   --trusted-proxy 127.0.0.1/32 --public-url https://desk.example/deskward > "$W/log" 2>&1 &
PID=$!
trap 'kill $PID' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$P/deskward/healthz && break; sleep 0.1; done
curl -s -D "$W/h" -o /dev/null -H 'content-type: application/json' \
   -d '{"email":"admin@bench.example","password":"bench-password-2026"}' http://127.0.0.1:$P/deskward/api/v1/auth/login
C=$(awk 'tolower($1)=="set-cookie:" && $2 ~ /^deskward_session=/ {sub(/;.*/,"",$2); print $2}' "$W/h" | tr -d '\r')
URL=http://127.0.0.1:$P/deskward/api/v1/verify/auth-request
curl -s -D - -o /dev/null -H "cookie: $C" -H "X-Original-URL: https://app.example/inbox" "$URL" | grep -qi '^remote-assertion: ey'
! curl -s -D - -o /dev/null -H "cookie: $C" -H "Host;" "$URL" | grep -qi '^remote-assertion'
echo "# with: Remote-Assertion sent; without: not sent (checked)"
for round in $(seq 1 "$R"); do
  for v in with without; do
    if [ $v = with ]; then h="X-Original-URL: https://app.example/inbox"; else h="Host: "; fi
    c0=$(cpu_ticks $PID)
    out=$(wrk -t1 -c32 -d${D}s --latency -H "cookie: $C" -H "$h" "$URL")
    c1=$(cpu_ticks $PID)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    # The server's processor time per request (µs): less disturbed by other load than the rate.
    us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    echo "$round $v $rps $p50 $p99 ${non2xx:-0} $us"
  done
done | tee "$W/results.txt"
awk '{ s[$2] += $3; n[$2]++; u[$2] += $7 } END {
  printf "with / without = %.3f   (target >= 0.9)\n", (s["with"]/n["with"]) / (s["without"]/n["without"])
  printf "server processor time per request: with %.1f us, without %.1f us: without / with = %.3f\n", u["with"]/n["with"], u["without"]/n["without"], (u["without"]/n["without"]) / (u["with"]/n["with"]) }' "$W/results.txt"
echo "work dir: $W"
