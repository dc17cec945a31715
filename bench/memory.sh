#!/usr/bin/env bash
# Deskward's memory under what one signed-in person (or a stranger) can do (issue 12): see the
# section "Memory bounds" of BENCHMARKS.md.
#
#   bench/memory.sh [--no-build] [--bin PATH] [--sessions N] [--failures N] [--concurrency N] [--idle S] [--out DIR]
#
#   --no-build       use target/release/deskward as it is
#   --bin PATH       measure this binary instead (for example one built from an older commit)
#   --sessions N     sign-ins of the one agent, each followed by GET /api/v1/me (default 600)
#   --failures N     failed sign-ins, each from its own address and e-mail (default 200)
#   --concurrency N  failed sign-ins in flight at once (default 20)
#   --idle S         after the load, end the agent's sessions and measure again after S idle
#                    seconds: does resident memory come back down? (default 30; 0 skips)
#   --out DIR        where the log and results.txt go (default a new /tmp/deskward-memory.*)
#   BENCH_PORT       the loopback port used (default 28150)
#
# The server is a release `deskward serve` on a fresh SQLite database, with --trusted-proxy
# 127.0.0.1/32 so that each failed sign-in can come from its own X-Forwarded-For address (the
# per-address throttling would otherwise answer 429 without hashing anything). Resident memory
# is VmRSS from /proc/PID/status, read after the server has been idle for a second.
set -euo pipefail

NO_BUILD=0 BIN="" SESSIONS=600 FAILURES=200 CONCURRENCY=20 IDLE=30 OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) NO_BUILD=1 ;;
        --bin) BIN="$2"; shift ;;
        --sessions) SESSIONS="$2"; shift ;;
        --failures) FAILURES="$2"; shift ;;
        --concurrency) CONCURRENCY="$2"; shift ;;
        --idle) IDLE="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/deskward-memory.XXXXXX)
OUT=${OUT:-$WORK}
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: > "$RESULTS"
PORT=${BENCH_PORT:-28150}
BASE="http://127.0.0.1:$PORT"
PASSWORD="memory-bench-password-2026"
AGENT_PASSWORD="agent-bench-password-2026"
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }

if [ -z "$BIN" ]; then
    BIN="$ROOT/target/release/deskward"
    if [ "$NO_BUILD" = 0 ]; then
        (cd "$ROOT" && cargo build --release --bin deskward 2>&1 | tail -2)
    fi
fi
[ -x "$BIN" ] || { echo "missing $BIN (run without --no-build)" >&2; exit 1; }
if curl -s -o /dev/null --max-time 1 "$BASE/"; then
    echo "port $PORT is in use; set BENCH_PORT to another" >&2; exit 1
fi

SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -f "$WORK"/*.db "$WORK"/*.db-wal "$WORK"/*.db-shm "$WORK"/headers.*
    [ "$OUT" = "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { printf '%s\n' "$*" | tee -a "$OUT/log.txt"; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status"; }
hwm_mib() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status"; }
measure() {
    sleep 1
    local rss hwm threads
    rss=$(rss_mib) hwm=$(hwm_mib) threads=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER/status")
    note "$(printf '%-44s RSS %7s MiB   peak %7s MiB   %s threads' "$1" "$rss" "$hwm" "$threads")"
    echo "RESULT memory_${2}_rss_mib $rss MiB" >> "$RESULTS"
    echo "RESULT memory_${2}_peak_mib $hwm MiB" >> "$RESULTS"
}

if [ "$BIN" = "$ROOT/target/release/deskward" ]; then
    note "binary: $BIN (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ', with uncommitted changes in src/'))"
else
    note "binary: $BIN"
fi
note "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); cpus: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

DESKWARD_ADMIN_PASSWORD=$PASSWORD "$BIN" account create --name "Memory Bench" --slug mem \
    --admin-name "Bench Admin" --admin-email admin@mem.example \
    --database-url "sqlite://$WORK/mem.db" > /dev/null
"$BIN" serve --database-url "sqlite://$WORK/mem.db" --bind "127.0.0.1:$PORT" \
    --trusted-proxy 127.0.0.1/32 > "$OUT/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 200); do
    curl -s -o /dev/null --max-time 1 "$BASE/healthz" && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/server.log" >&2; exit 1; }
    sleep 0.1
done

# login EMAIL PASSWORD USER-AGENT HEADERS-FILE -> prints the session cookie (name=value)
login() {
    curl -s --max-time 60 -o /dev/null -D "$4" -H 'content-type: application/json' -H "user-agent: $3" \
        -d "{\"email\":\"$1\",\"password\":\"$2\"}" "$BASE/api/v1/auth/login"
    # Only the session cookie: sign-in also sets the known-device pass.
    awk 'tolower($1) == "set-cookie:" && $2 ~ /^deskward_session=/ {sub(/;.*/, "", $2); print $2}' "$4" | tr -d '\r'
}

# The agent, added by the administrator.
ADMIN_COOKIE=$(login admin@mem.example "$PASSWORD" bench "$WORK/headers.admin")
CSRF=$(curl -s -H "cookie: $ADMIN_COOKIE" "$BASE/api/v1/me" | sed -n 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/p')
added=$(curl -s -w '\n%{http_code}' -H "cookie: $ADMIN_COOKIE" -H "x-csrf-token: $CSRF" \
    -H 'content-type: application/json' \
    -d "{\"name\":\"Ann Agent\",\"email\":\"ann@mem.example\",\"password\":\"$AGENT_PASSWORD\"}" "$BASE/api/v1/agents")
status=${added##*$'\n'}
[ "$status" = 201 ] || { echo "adding the agent answered $status" >&2; exit 1; }
AGENT_ID=$(printf '%s' "$added" | sed -n 's/.*"id":"\(ag_[0-9a-f]*\)".*/\1/p' | head -1)
measure "at start (account, administrator, agent)" start

# A 400-character User-Agent: a real browser's string padded with extension tokens.
UA="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
while [ ${#UA} -lt 400 ]; do UA="$UA Ext/$((${#UA} % 97)).0"; done
UA=${UA:0:400}

note "$SESSIONS sign-ins of one agent with ${#UA}-character user agents, each followed by GET /api/v1/me on its session"
last=""
for i in $(seq 1 "$SESSIONS"); do
    cookie=$(login ann@mem.example "$AGENT_PASSWORD" "$UA" "$WORK/headers.agent")
    [ -n "$cookie" ] || { echo "sign-in $i failed" >&2; exit 1; }
    last=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "cookie: $cookie" "$BASE/api/v1/me")
    [ "${last%% *}" = 200 ] || { echo "GET /api/v1/me after sign-in $i answered $last" >&2; exit 1; }
done
note "the last /me answer: ${last#* } bytes"
measure "after $SESSIONS sessions of one person" sessions

note "$FAILURES failed sign-ins, each from its own address and unknown e-mail, $CONCURRENCY at a time"
fail_one() {
    local i=$1
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 120 -H 'content-type: application/json' \
        -H "x-forwarded-for: 10.$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))" \
        -d "{\"email\":\"nobody$i@mem.example\",\"password\":\"not the password $i\"}" "$BASE/api/v1/auth/login"
}
export -f fail_one
export BASE
codes=$(seq 1 "$FAILURES" | xargs -P "$CONCURRENCY" -I{} bash -c 'fail_one {}' | sort | uniq -c | tr '\n' ' ')
note "answers: $codes(count and status)"
measure "after $FAILURES failed sign-ins" failures

if [ "$IDLE" != 0 ]; then
    ended=$(curl -s -X DELETE -H "cookie: $ADMIN_COOKIE" -H "x-csrf-token: $CSRF" \
        "$BASE/api/v1/agents/$AGENT_ID/sessions")
    note "the agent's sessions ended: $ended; idle for $IDLE s"
    sleep "$IDLE"
    measure "after $IDLE s idle, the agent's sessions ended" idle
fi

note "results: $RESULTS"
