#!/usr/bin/env bash
# Alternating wrk rounds of GET /api/v1/me and GET verify/auth-request against two release
# binaries (before/after), each serving a fresh SQLite database under --path-prefix with
# metrics on; verify as nginx asks it (X-Original-URL), so a binary that signs Remote-Assertion
# does. Each round's line: round, before/after, endpoint, req/s, p99, non-2xx answers, and the
# server's processor time per request in µs (less disturbed by other load than the rate).
# Usage: compare.sh BEFORE_BIN AFTER_BIN ROUNDS
#   AFTER_ARGS   more arguments for the "after" server, e.g. AFTER_ARGS="--access-rules rules.toml"
#                with the same binary twice: verify with those rules against verify without
set -euo pipefail
B=$1 A=$2 R=${3:-3}
AFTER_ARGS=${AFTER_ARGS:-}
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
W=$(mktemp -d /tmp/deskward-compare.XXXX)
start() { # name bin port mport [more serve args...]
  local n=$1 bin=$2 p=$3 mp=$4; shift 4
  DESKWARD_ADMIN_PASSWORD=bench-password-2026 "$bin" account create --name Bench --slug bench \
     --admin-name Admin --admin-email admin@bench.example --database-url "sqlite://$W/$n.db" >/dev/null
  "$bin" serve --database-url "sqlite://$W/$n.db" --bind 127.0.0.1:$p --path-prefix /deskward \
     --trusted-proxy 127.0.0.1/32 --metrics-bind 127.0.0.1:$mp "$@" > "$W/$n.log" 2>&1 &
  echo $! > "$W/$n.pid"
  for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$p/deskward/healthz && break; sleep 0.1; done
  curl -s -D "$W/$n.h" -o /dev/null -H 'content-type: application/json' \
     -d '{"email":"admin@bench.example","password":"bench-password-2026"}' http://127.0.0.1:$p/deskward/api/v1/auth/login
  awk 'tolower($1)=="set-cookie:" && $2 ~ /^deskward_session=/ {sub(/;.*/,"",$2); print $2}' "$W/$n.h" | tr -d '\r' > "$W/$n.cookie"
}
start before "$B" 28301 28311
# shellcheck disable=SC2086 # AFTER_ARGS is a list of words
start after "$A" 28302 28312 $AFTER_ARGS
# Whether each binary signs its verify answers (Remote-Assertion): the figure to compare when
# one does and the other does not.
for n in before after; do
  p=$([ $n = before ] && echo 28301 || echo 28302)
  if curl -s -D - -o /dev/null -H "cookie: $(cat "$W/$n.cookie")" -H "X-Original-URL: http://app.example/inbox" \
       "http://127.0.0.1:$p/deskward/api/v1/verify/auth-request" | grep -qi '^remote-assertion: ey'; then
    echo "# $n: verify sends Remote-Assertion"
  else
    echo "# $n: verify sends no Remote-Assertion"
  fi
done
for round in $(seq 1 "$R"); do
  for n in before after; do
    p=$([ $n = before ] && echo 28301 || echo 28302)
    c=$(cat "$W/$n.cookie")
    for ep in me verify; do
      url=$([ $ep = me ] && echo "http://127.0.0.1:$p/deskward/api/v1/me" || echo "http://127.0.0.1:$p/deskward/api/v1/verify/auth-request")
      c0=$(cpu_ticks "$(cat "$W/$n.pid")")
      out=$(wrk -t1 -c32 -d5s --latency -H "cookie: $c" -H "X-Original-URL: http://app.example/inbox" "$url")
      c1=$(cpu_ticks "$(cat "$W/$n.pid")")
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      p99=$(echo "$out" | awk '$1=="99%" {print $2}')
      non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
      echo "$round $n $ep $rps $p99 ${non2xx:-0} $us"
    done
  done
done | tee "$W/results.txt"
kill $(cat "$W/before.pid") $(cat "$W/after.pid")
echo "work dir: $W"
