#!/usr/bin/env bash
# Deskward benchmarks (issues 8, 5 and 14): see BENCHMARKS.md at the repository root.
#
#   bench/run.sh [--quick] [--no-build] [--reseed] [--rounds N] [--duration SECS] [--out DIR] [--keep]
#
#   --quick       a shorter run (1 wrk round of 5 s, fewer iterations, 2,000 streams)
#   --no-build    use the binaries already built (target/release, bench/target/release)
#   --reseed      rebuild the cached large data set (otherwise reused from bench/target/seed/)
#   --rounds N    wrk rounds per target (default 3; alternating hello, peer, peer+always_save, Deskward)
#   --duration S  seconds per wrk run (default 10)
#   --out DIR     where the logs and summary go (default: a new /tmp/deskward-bench.* directory)
#   --keep        keep the databases in the work directory
#   --only LIST   run only these phases (comma-separated: startup, throughput, team, bulk, latency,
#                 signin, streams, verify, chain, hotpath, webhooks, networks); the default is all
#                 of them
#   --database D  sqlite (default) or postgres: the many-accounts data set of issue 18 (1,000
#                 accounts, 100,000 people, 200,000 live and 5,000,000 ended sessions, 5,000,000
#                 audit entries; bench/seed-many.sql) in a fresh database on BENCH_PG_URL, two
#                 instances behind nginx; phases seed, throughput, team, bulk, latency, sweep
#   BENCH_PORT    first of the loopback ports used (default 28100; the next 10 are used too)
#   BENCH_PG_URL  the PostgreSQL server for --database postgres (default postgres://postgres@127.0.0.1:5432)
#   BULK_SIZE     agents per bulk ending in the bulk phase on SQLite (default 1000)
#   BENCH_DESKWARD the deskward binary to measure (default target/release/deskward; with
#                 --no-build, for example a build of an older commit)
#   The chain phase and --database postgres run their own nginx on loopback (apt-get install -y nginx).
#
# Everything listens on and talks to 127.0.0.1 only; every phase is bounded in time.
set -euo pipefail

QUICK=0 NO_BUILD=0 RESEED=0 ROUNDS=3 DURATION=10 OUT="" KEEP=0 ONLY="" DATABASE=sqlite
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; ROUNDS=1; DURATION=5 ;;
        --no-build) NO_BUILD=1 ;;
        --reseed) RESEED=1 ;;
        --rounds) ROUNDS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --keep) KEEP=1 ;;
        --only) ONLY="$2"; shift ;;
        --database) DATABASE="$2"; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

# want PHASE: whether --only (if given) names this phase.
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
case "$DATABASE" in
    sqlite|postgres) ;;
    *) echo "unknown database '$DATABASE' for --database (sqlite, postgres)" >&2; exit 2 ;;
esac
for phase in ${ONLY//,/ }; do
    case "$DATABASE:$phase" in
        sqlite:startup|sqlite:signin|sqlite:streams|sqlite:verify|sqlite:chain|sqlite:hotpath|sqlite:webhooks|sqlite:networks) ;;
        *:throughput|*:team|*:bulk|*:latency|postgres:seed|postgres:sweep) ;;
        *) echo "unknown phase '$phase' for --only with --database $DATABASE (sqlite: startup, throughput, team, bulk, latency, signin, streams, verify, chain, hotpath, webhooks, networks; postgres: seed, throughput, team, bulk, latency, sweep)" >&2; exit 2 ;;
    esac
done

BULK_SIZE=${BULK_SIZE:-1000}
if ! [[ "$BULK_SIZE" =~ ^[1-9][0-9]*$ ]] || [ "$BULK_SIZE" -gt 10000 ]; then
    echo "BULK_SIZE must be a whole number of agents from 1 to 10000 (the seeded team), not '$BULK_SIZE'" >&2
    exit 2
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
WORK=$(mktemp -d /tmp/deskward-bench.XXXXXX)
OUT=${OUT:-$WORK}
mkdir -p "$OUT"
RESULTS="$OUT/results.txt"
: > "$RESULTS"
DW=${BENCH_DESKWARD:-$ROOT/target/release/deskward}
BIN="$BENCH/target/release"
PASSWORD="demo-password-2026"
P0=${BENCH_PORT:-28100}
P_DESK=$P0 P_HELLO=$((P0 + 1)) P_PEER=$((P0 + 2)) P_PEER_SAVE=$((P0 + 3))
P_LARGE=$((P0 + 4)) P_STREAMS=$((P0 + 5)) P_START=$((P0 + 10))
P_GUARD=$((P0 + 6)) P_NGX=$((P0 + 7)) P_NGX_OPEN=$((P0 + 8)) P_HOOKS=$((P0 + 9)) P_RULES=$((P0 + 14))
P_HOT=$((P0 + 15)) P_HOT_METRICS=$((P0 + 16))
if [ "$QUICK" = 1 ]; then
    TEAM_REQ=30 BULK_ROUNDS=1 LAT_ITERS=100 LAT_IMMEDIATE=30 SIGNIN_BURSTS=1 STREAMS=2000 STREAM_SESSIONS=200 LOADED_ITERS=20 START_RUNS=3
else
    TEAM_REQ=200 BULK_ROUNDS=3 LAT_ITERS=1000 LAT_IMMEDIATE=200 SIGNIN_BURSTS=4 STREAMS=10000 STREAM_SESSIONS=1000 LOADED_ITERS=200 START_RUNS=5
fi

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$KEEP" = 0 ]; then
        rm -f "$WORK"/*.db "$WORK"/*.db-wal "$WORK"/*.db-shm "$WORK/sessions.txt" "$WORK/headers"
        rm -rf "$WORK/startup"
        [ "$OUT" = "$WORK" ] || rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*" | tee -a "$OUT/log.txt"; }
note() { printf '%s\n' "$*" | tee -a "$OUT/log.txt"; }
result() { echo "RESULT $1 $2 $3" >> "$RESULTS"; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# 10,000 streams need 10,000 sockets in the server and as many in the load generator.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((STREAMS + 1000)) ]; then
    note "warning: ulimit -n is $(ulimit -n); $STREAMS streams may not fit"
fi
# wrk drives the throughput, verify, chain and networks phases; the bench binaries (hello, peer,
# loadgen) every phase but networks and webhooks.
needs_wrk() { want throughput || want verify || want chain || want hotpath || want networks; }
needs_bin() {
    want startup || want throughput || want team || want bulk || want latency || want signin \
        || want streams || want verify || want chain || want hotpath
}
if needs_wrk; then
    command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
fi
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }

say "machine"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpus: $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "memory: $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "kernel: $(uname -r); $(command -v wrk >/dev/null && wrk --version 2>&1 | head -1 | cut -c1-60)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "deskward commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (with uncommitted changes in src/)')"
    echo "open files limit: $(ulimit -n)"
} | tee -a "$OUT/log.txt"

NEED=("$DW")
needs_bin && NEED+=("$BIN/hello" "$BIN/peer" "$BIN/loadgen")
if [ "$NO_BUILD" = 0 ]; then
    say "build (release)"
    (cd "$ROOT" && cargo build --release --bin deskward 2>&1 | tail -2)
    if needs_bin; then (cd "$BENCH" && cargo build --release 2>&1 | tail -2); fi
fi
for b in "${NEED[@]}"; do
    [ -x "$b" ] || { echo "missing $b (run without --no-build)" >&2; exit 1; }
done

for p in $P_DESK $P_HELLO $P_PEER $P_PEER_SAVE $P_LARGE $P_STREAMS $P_START $P_GUARD $P_NGX $P_NGX_OPEN $P_RULES $P_HOT; do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/"; then
        echo "port $p is in use; set BENCH_PORT to another base" >&2; exit 1
    fi
done

# start NAME PORT HEALTH-PATH CMD... : starts a server in the background, waits until it answers.
start() {
    local name=$1 port=$2 path=$3; shift 3
    "$@" > "$OUT/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local i
    for i in $(seq 1 200); do
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port$path"; then
            eval "PID_$name=$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$OUT/$name.log" >&2; echo "$name exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "$name did not answer on port $port within 20 s" >&2
    exit 1
}
stop() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# deskward_login PORT EMAIL [PREFIX] -> "cookie csrf"
deskward_login() {
    local body
    body=$(curl -s --max-time 30 -D "$WORK/headers" -H 'content-type: application/json' \
        -d "{\"email\":\"$2\",\"password\":\"$PASSWORD\"}" "http://127.0.0.1:$1${3:-}/api/v1/auth/login")
    local cookie csrf
    # Sign-in also sets the device pass (a second Set-Cookie): only the session cookie is sent.
    cookie=$(awk 'tolower($1) == "set-cookie:" && $2 ~ /^(__Host-)?deskward_session=/ {sub(/;.*/, "", $2); print $2}' "$WORK/headers" | tr -d '\r')
    csrf=$(printf '%s' "$body" | sed -n 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/p')
    [ -n "$cookie" ] || { echo "sign-in of $2 failed: $body" >&2; exit 1; }
    echo "$cookie $csrf"
}
# lg COMMAND ARGS...: runs the load generator; its RESULT lines go to results.txt, the rest to the log.
lg() {
    local rc
    set +e
    "$BIN/loadgen" "$@" 2>&1 | tee "$WORK/lg.txt" | grep --line-buffered -v '^RESULT' | tee -a "$OUT/log.txt"
    rc=${PIPESTATUS[0]}
    set -e
    grep '^RESULT' "$WORK/lg.txt" >> "$RESULTS" || true
    [ "$rc" = 0 ] || note "(loadgen $1 failed with status $rc; going on)"
}
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
# wrk_phase PHASE ROUNDS NAME... : alternating wrk runs against the named targets (URL_name,
# COOKIE_name and LABEL_name set by the caller, and HEADER_name, one more request header, if
# set); lines "name round rps p50 p99 non2xx" go to
# $WORK/wrk-PHASE.txt, medians come from phase_figure.
wrk_phase() {
    local phase=$1 rounds=$2; shift 2
    local round t f rps p50 p99 bad errs url cookie label header
    local -a args
    : > "$WORK/wrk-$phase.txt"
    for round in $(seq 1 "$rounds"); do
        for t in "$@"; do
            url=URL_$t cookie=COOKIE_$t label=LABEL_$t
            f="$OUT/wrk-$phase-$t-$round.txt"
            args=(-t1 -c32 "-d${DURATION}s" --latency --timeout 5s)
            [ -n "${!cookie}" ] && args+=(-H "Cookie: ${!cookie}")
            header=HEADER_$t
            [ -n "${!header:-}" ] && args+=(-H "${!header}")
            timeout $((DURATION + 30)) wrk "${args[@]}" "${!url}" > "$f"
            rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
            p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
            p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
            bad=$(awk '/Non-2xx/ {print $NF}' "$f"); bad=${bad:-0}
            errs=$(awk '/Socket errors/ {print $0}' "$f")
            echo "$t $round $rps $p50 $p99 $bad" >> "$WORK/wrk-$phase.txt"
            printf '  round %s  %-38s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms%s\n' "$round" "${!label}" "$rps" "$p50" "$p99" \
                "$([ "$bad" != 0 ] && echo "  NON-2xx: $bad")${errs:+  ($errs)}" | tee -a "$OUT/log.txt"
            sleep 1
        done
    done
}
# phase_figure PHASE NAME COLUMN: the median over the rounds of one column (3 req/s, 4 p50, 5 p99).
phase_figure() { awk -v t="$2" -v c="$3" '$1 == t {print $c}' "$WORK/wrk-$1.txt" | median; }
# wrk latency figures in ms, whatever unit wrk chose.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

if [ "$DATABASE" = postgres ]; then
    # shellcheck source=bench/postgres.sh
    . "$BENCH/postgres.sh"
    exit 0
fi

# ---------------------------------------------------------------- start-up and idle memory
DESKWARD_ADMIN_PASSWORD=$PASSWORD "$DW" account create --name "Bench Empty" --slug empty --admin-name "Bench Admin" \
    --admin-email admin@bench.example --database-url "sqlite://$WORK/empty.db" > /dev/null
if want startup; then
say "start-up time and idle memory (empty database)"
mkdir -p "$WORK/startup"
note "a fresh database file each run (schema created on start):"
lg startup --label startup_fresh --runs "$START_RUNS" --port "$P_START" --db-dir "$WORK/startup" \
    -- "$DW" serve --database-url "sqlite://{db}" --bind "127.0.0.1:{port}"
note "an existing database with one account and no session:"
lg startup --label startup_account --runs "$START_RUNS" --port "$P_START" \
    -- "$DW" serve --database-url "sqlite://$WORK/empty.db" --bind "127.0.0.1:{port}"
fi

# ---------------------------------------------------------------- HTTP throughput
if want throughput; then
say "servers for the throughput comparison"
start hello "$P_HELLO" / "$BIN/hello" --bind "127.0.0.1:$P_HELLO"
start peer "$P_PEER" /me "$BIN/peer" --bind "127.0.0.1:$P_PEER" --database "$WORK/peer.db"
start peer_save "$P_PEER_SAVE" /me "$BIN/peer" --bind "127.0.0.1:$P_PEER_SAVE" --database "$WORK/peer-save.db" --always-save
start deskward "$P_DESK" /healthz "$DW" serve --database-url "sqlite://$WORK/empty.db" --bind "127.0.0.1:$P_DESK"

peer_cookie() {
    curl -s --max-time 10 -D - -o /dev/null -X POST "http://127.0.0.1:$1/login" |
        awk 'tolower($1) == "set-cookie:" {sub(/;.*/, "", $2); print $2}' | tr -d '\r'
}
PEER_COOKIE=$(peer_cookie "$P_PEER")
PEER_SAVE_COOKIE=$(peer_cookie "$P_PEER_SAVE")
read -r DESK_COOKIE DESK_CSRF <<< "$(deskward_login "$P_DESK" admin@bench.example)"
# Each target must answer 200 with its cookie (and the peers 401 without).
[ "$(status_of "http://127.0.0.1:$P_HELLO/")" = 200 ]
[ "$(status_of -H "Cookie: $PEER_COOKIE" "http://127.0.0.1:$P_PEER/me")" = 200 ]
[ "$(status_of "http://127.0.0.1:$P_PEER/me")" = 401 ]
[ "$(status_of -H "Cookie: $PEER_SAVE_COOKIE" "http://127.0.0.1:$P_PEER_SAVE/me")" = 200 ]
[ "$(status_of -H "Cookie: $DESK_COOKIE" "http://127.0.0.1:$P_DESK/api/v1/me")" = 200 ]
[ "$(status_of "http://127.0.0.1:$P_DESK/api/v1/me")" = 401 ]
note "all four targets answer 200 with their cookie (the peer and Deskward 401 without)"

TARGETS=(hello peer peer_save deskward)
declare -A URL COOKIE LABEL
URL[hello]="http://127.0.0.1:$P_HELLO/";               COOKIE[hello]="";                     LABEL[hello]="hello (bare axum) GET /"
URL[peer]="http://127.0.0.1:$P_PEER/me";               COOKIE[peer]="$PEER_COOKIE";          LABEL[peer]="peer tower-sessions GET /me"
URL[peer_save]="http://127.0.0.1:$P_PEER_SAVE/me";     COOKIE[peer_save]="$PEER_SAVE_COOKIE"; LABEL[peer_save]="peer + always_save GET /me"
URL[deskward]="http://127.0.0.1:$P_DESK/api/v1/me";    COOKIE[deskward]="$DESK_COOKIE";      LABEL[deskward]="Deskward GET /api/v1/me"


say "wrk -t1 -c32 -d${DURATION}s --latency, $ROUNDS round(s), targets alternating"
for round in $(seq 1 "$ROUNDS"); do
    for t in "${TARGETS[@]}"; do
        f="$OUT/wrk-$t-$round.txt"
        args=(-t1 -c32 "-d${DURATION}s" --latency --timeout 5s)
        [ -n "${COOKIE[$t]}" ] && args+=(-H "Cookie: ${COOKIE[$t]}")
        timeout $((DURATION + 30)) wrk "${args[@]}" "${URL[$t]}" > "$f"
        rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
        p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
        p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
        bad=$(awk '/Non-2xx/ {print $NF}' "$f"); bad=${bad:-0}
        errs=$(awk '/Socket errors/ {print $0}' "$f")
        echo "$t $round $rps $p50 $p99 $bad" >> "$WORK/wrk.txt"
        printf '  round %s  %-30s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms%s\n' "$round" "${LABEL[$t]}" "$rps" "$p50" "$p99" \
            "$([ "$bad" != 0 ] && echo "  NON-2xx: $bad")${errs:+  ($errs)}" | tee -a "$OUT/log.txt"
        sleep 1
    done
done
result deskward_rss_after_wrk_mib "$(rss_mib "$PID_deskward")" MiB

# The ended-session check of issue 8 on the same (cached) instance: sign out, the very next request is refused.
[ "$(status_of -X POST -H "Cookie: $DESK_COOKIE" -H "X-CSRF-Token: $DESK_CSRF" "http://127.0.0.1:$P_DESK/api/v1/auth/logout")" = 204 ]
after=$(status_of -H "Cookie: $DESK_COOKIE" "http://127.0.0.1:$P_DESK/api/v1/me")
note "after sign-out, the very next GET /api/v1/me with that cookie answers $after (expected 401)"
result ended_session_next_request_status "$after" code

declare -A RPS P50 P99 EACH
for t in "${TARGETS[@]}"; do
    RPS[$t]=$(awk -v t="$t" '$1 == t {print $3}' "$WORK/wrk.txt" | median)
    P50[$t]=$(awk -v t="$t" '$1 == t {print $4}' "$WORK/wrk.txt" | median)
    P99[$t]=$(awk -v t="$t" '$1 == t {print $5}' "$WORK/wrk.txt" | median)
    EACH[$t]=$(awk -v t="$t" '$1 == t {printf "%s%.0f", (n++ ? ", " : ""), $3}' "$WORK/wrk.txt")
    result "wrk_${t}_rps" "${RPS[$t]}" req/s; result "wrk_${t}_p50_ms" "${P50[$t]}" ms; result "wrk_${t}_p99_ms" "${P99[$t]}" ms
done
{
    printf '\n| target | req/s (median of %s) | p50 ms | p99 ms | req/s each round |\n|---|---:|---:|---:|---|\n' "$ROUNDS"
    for t in "${TARGETS[@]}"; do
        printf '| %s | %.0f | %.3f | %.3f | %s |\n' "${LABEL[$t]}" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${EACH[$t]}"
    done
    echo
    awk -v d="${RPS[deskward]}" -v h="${RPS[hello]}" -v p="${RPS[peer]}" -v s="${RPS[peer_save]}" 'BEGIN {
        printf "Deskward / hello              = %.2f   (target >= 0.60)\n", d / h
        printf "Deskward / peer               = %.2f   (target >= 2.00)\n", d / p
        printf "Deskward / peer + always_save = %.2f\n", d / s
    }'
} | tee "$OUT/throughput.md" | tee -a "$OUT/log.txt"
awk -v d="${RPS[deskward]}" -v h="${RPS[hello]}" -v p="${RPS[peer]}" -v s="${RPS[peer_save]}" \
    'BEGIN { printf "RESULT ratio_deskward_hello %.3f x\nRESULT ratio_deskward_peer %.3f x\nRESULT ratio_deskward_peer_save %.3f x\n", d / h, d / p, d / s }' >> "$RESULTS"

for name in hello peer peer_save deskward; do eval "stop \$PID_$name"; done
fi

# ---------------------------------------------------------------- forward auth (issue 14)
if want verify || want chain; then
# Deskward as it runs in front of an app: under /deskward, the loopback proxy trusted.
start guarded "$P_GUARD" /deskward/healthz "$DW" serve --database-url "sqlite://$WORK/empty.db" \
    --bind "127.0.0.1:$P_GUARD" --path-prefix /deskward --trusted-proxy 127.0.0.1/32
read -r GUARD_COOKIE _ <<< "$(deskward_login "$P_GUARD" admin@bench.example /deskward)"
VERIFY="http://127.0.0.1:$P_GUARD/deskward/api/v1/verify/auth-request"
[ "$(status_of -H "Cookie: $GUARD_COOKIE" "$VERIFY")" = 200 ]
[ "$(status_of "$VERIFY")" = 401 ]
# Every 200 carries the signed identity (one token per session, reused for 30 s).
curl -s --max-time 10 -D - -o /dev/null -H "Cookie: $GUARD_COOKIE" "$VERIFY" | grep -qi '^remote-assertion: ey'
# The same Deskward (same database, so the same cookie) with 100 access rules, none of which
# matches the page asked for, so every one is tried: 60 path prefixes, 30 regular expressions,
# 10 host rules (issue 27).
{
    for i in $(seq 1 60); do printf '[[rule]]\npath = "/section-%d"\nrequire = "admin"\n\n' "$i"; done
    for i in $(seq 1 30); do printf "[[rule]]\nregex = '^/report-%d/(daily|weekly)/[0-9]+\$'\nrequire = \"audit\"\n\n" "$i"; done
    for i in $(seq 1 10); do printf '[[rule]]\nhost = "*.tenant-%d.example"\npath = "/"\nrequire = "agent"\n\n' "$i"; done
} > "$WORK/rules100.toml"
start rules "$P_RULES" /deskward/healthz "$DW" serve --database-url "sqlite://$WORK/empty.db" \
    --bind "127.0.0.1:$P_RULES" --path-prefix /deskward --trusted-proxy 127.0.0.1/32 \
    --access-rules "$WORK/rules100.toml"
start hello "$P_HELLO" / "$BIN/hello" --bind "127.0.0.1:$P_HELLO"
fi

if want verify; then
say "forward auth: the verify endpoint alone, against hello and the peer's /verify"
start peer "$P_PEER" /me "$BIN/peer" --bind "127.0.0.1:$P_PEER" --database "$WORK/peer-verify.db"
ORIGINAL="X-Original-URL: http://desk.example/inbox/7?tab=open"
[ "$(status_of -H "Cookie: $GUARD_COOKIE" -H "$ORIGINAL" "http://127.0.0.1:$P_RULES/deskward/api/v1/verify/auth-request")" = 200 ]
[ "$(status_of -H "Cookie: $GUARD_COOKIE" -H "X-Original-URL: http://desk.example/section-60/x" "http://127.0.0.1:$P_RULES/deskward/api/v1/verify/auth-request")" = 200 ]
[ "$(status_of -H "Cookie: $GUARD_COOKIE" -H "X-Original-URL: http://a.tenant-3.example/" "http://127.0.0.1:$P_RULES/deskward/api/v1/verify/auth-request")" = 403 ]
PEER_V_COOKIE=$(curl -s --max-time 10 -D - -o /dev/null -X POST "http://127.0.0.1:$P_PEER/login" |
    awk 'tolower($1) == "set-cookie:" {sub(/;.*/, "", $2); print $2}' | tr -d '\r')
[ "$(status_of -H "Cookie: $PEER_V_COOKIE" "http://127.0.0.1:$P_PEER/verify")" = 200 ]
[ "$(status_of "http://127.0.0.1:$P_PEER/verify")" = 401 ]
note "hello answers 200; the peer's /verify and Deskward's verify 200 with their cookie, 401 without"
URL_hello="http://127.0.0.1:$P_HELLO/"; COOKIE_hello=""; LABEL_hello="hello (bare axum) GET /"
URL_peer="http://127.0.0.1:$P_PEER/verify"; COOKIE_peer="$PEER_V_COOKIE"; LABEL_peer="peer tower-sessions GET /verify"
URL_verify="$VERIFY"; COOKIE_verify="$GUARD_COOKIE"; LABEL_verify="Deskward GET verify/auth-request"
HEADER_verify="$ORIGINAL"
URL_rules="http://127.0.0.1:$P_RULES/deskward/api/v1/verify/auth-request"; COOKIE_rules="$GUARD_COOKIE"
HEADER_rules="$ORIGINAL"; LABEL_rules="Deskward verify, 100 access rules"
say "wrk -t1 -c32 -d${DURATION}s --latency, $ROUNDS round(s), targets alternating"
wrk_phase verify "$ROUNDS" hello peer verify rules
for t in hello peer verify rules; do
    result "verify_wrk_${t}_rps" "$(phase_figure verify "$t" 3)" req/s
    result "verify_wrk_${t}_p50_ms" "$(phase_figure verify "$t" 4)" ms
    result "verify_wrk_${t}_p99_ms" "$(phase_figure verify "$t" 5)" ms
done
V=$(phase_figure verify verify 3) H=$(phase_figure verify hello 3) PV=$(phase_figure verify peer 3)
awk -v v="$V" -v h="$H" -v p="$PV" 'BEGIN {
    printf "verify / hello = %.2f   (target >= 0.60)\nverify / peer  = %.2f   (target >= 2.00)\n", v / h, v / p }' |
    tee "$OUT/verify.md" | tee -a "$OUT/log.txt"
awk -v v="$V" -v h="$H" -v p="$PV" \
    'BEGIN { printf "RESULT ratio_verify_hello %.3f x\nRESULT ratio_verify_peer %.3f x\n", v / h, v / p }' >> "$RESULTS"
VR=$(phase_figure verify rules 3)
awk -v r="$VR" -v v="$V" 'BEGIN { printf "verify, 100 rules / verify, none = %.2f   (target >= 0.95)\n", r / v }' |
    tee -a "$OUT/verify.md" | tee -a "$OUT/log.txt"
awk -v r="$VR" -v v="$V" 'BEGIN { printf "RESULT ratio_verify_rules100_none %.3f x\n", r / v }' >> "$RESULTS"
stop "$PID_peer"
fi

if want chain; then
say "forward auth: nginx → verify → upstream, against the same nginx → upstream without the check"
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
[ -n "$NGINX" ] || { echo "nginx is missing: apt-get install -y nginx" >&2; exit 1; }
# nginx's workers drop root privileges; they must still reach their temporary files.
mkdir -p "$WORK/nginx"; chmod 755 "$WORK" "$WORK/nginx"
# docs/reverse-proxy.md's configuration with Deskward and the upstream (hello) filled in ...
# The guarded side asks the Deskward with the 100 access rules, and every 200 carries the
# signed assertion (nginx sends X-Original-URL).
CONF=$("$DW" proxy-config nginx --listen "127.0.0.1:$P_NGX" --deskward "127.0.0.1:$P_RULES" \
    --app "127.0.0.1:$P_HELLO" --dir "$WORK/nginx")
# ... and beside it, in the same nginx, the same upstream without the check.
sed -i '$ d' "$CONF"
cat >> "$CONF" <<UNGUARDED
server {
    listen 127.0.0.1:$P_NGX_OPEN;
    location / {
        proxy_pass http://helpdesk;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$http_host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
    }
}
}
UNGUARDED
start nginx "$P_NGX" /deskward/healthz "$NGINX" -e stderr -p "$WORK/nginx" -c "$CONF"
[ "$(status_of -H "Cookie: $GUARD_COOKIE" "http://127.0.0.1:$P_NGX/")" = 200 ]
[ "$(status_of "http://127.0.0.1:$P_NGX/")" = 401 ]
[ "$(status_of "http://127.0.0.1:$P_NGX_OPEN/")" = 200 ]
note "guarded: 200 with the cookie, 401 without; unguarded: 200"
URL_open="http://127.0.0.1:$P_NGX_OPEN/"; COOKIE_open="$GUARD_COOKIE"; LABEL_open="nginx → upstream"
URL_guarded="http://127.0.0.1:$P_NGX/"; COOKIE_guarded="$GUARD_COOKIE"; LABEL_guarded="nginx → verify → upstream"
say "wrk -t1 -c32 -d${DURATION}s --latency, $ROUNDS round(s), targets alternating"
wrk_phase chain "$ROUNDS" open guarded
for t in open guarded; do
    result "chain_wrk_${t}_rps" "$(phase_figure chain "$t" 3)" req/s
    result "chain_wrk_${t}_p50_ms" "$(phase_figure chain "$t" 4)" ms
    result "chain_wrk_${t}_p99_ms" "$(phase_figure chain "$t" 5)" ms
done
G=$(phase_figure chain guarded 3) O=$(phase_figure chain open 3)
GP=$(phase_figure chain guarded 5) OP=$(phase_figure chain open 5)
awk -v g="$G" -v o="$O" -v gp="$GP" -v op="$OP" 'BEGIN {
    printf "guarded / unguarded = %.2f   (target >= 0.50)\np99 added = %.3f ms   (target < 2 ms)\n", g / o, gp - op }' |
    tee "$OUT/chain.md" | tee -a "$OUT/log.txt"
awk -v g="$G" -v o="$O" -v gp="$GP" -v op="$OP" \
    'BEGIN { printf "RESULT ratio_chain_guarded_open %.3f x\nRESULT chain_p99_added_ms %.3f ms\n", g / o, gp - op }' >> "$RESULTS"
stop "$PID_nginx"
fi
if want verify || want chain; then
    stop "$PID_rules"
    stop "$PID_guarded"
    stop "$PID_hello"
fi

# ---------------------------------------------------------------- the hot path, every feature on
if want hotpath; then
say "the hot path: hello, GET /api/v1/me and nginx's verify, every feature that applies on"
# bench/hotpath.sh: --path-prefix, a trusted loopback proxy, --metrics-bind, 100 access rules,
# 100 office networks in flag mode, at most 10 sessions per agent, an agent with TOTP enrolled;
# verify asked as nginx asks it (X-Original-URL), so every 200 carries Remote-Assertion.
# shellcheck source=bench/hotpath.sh
. "$BENCH/hotpath.sh"
hotpath_rules "$WORK/hot-rules.toml"
hotpath_account "$DW" "$WORK/hot.db"
mapfile -t HOT_ARGS < <(hotpath_serve_args "$WORK/hot.db" "$P_HOT" "$P_HOT_METRICS" "$WORK/hot-rules.toml")
start hot "$P_HOT" /deskward/healthz "$DW" "${HOT_ARGS[@]}"
start hello "$P_HELLO" / "$BIN/hello" --bind "127.0.0.1:$P_HELLO"
HOT_COOKIE=$(hotpath_agent "http://127.0.0.1:$P_HOT/deskward")
URL_hello="http://127.0.0.1:$P_HELLO/"; COOKIE_hello=""; LABEL_hello="hello (bare axum) GET /"
URL_me="http://127.0.0.1:$P_HOT/deskward/api/v1/me"; COOKIE_me="$HOT_COOKIE"; LABEL_me="Deskward GET /api/v1/me"
URL_hv="http://127.0.0.1:$P_HOT/deskward/api/v1/verify/auth-request"; COOKIE_hv="$HOT_COOKIE"
HEADER_hv="$HOTPATH_ORIGINAL"; LABEL_hv="Deskward verify (nginx, assertion)"
[ "$(status_of -H "Cookie: $HOT_COOKIE" "$URL_me")" = 200 ]
[ "$(status_of "$URL_me")" = 401 ]
curl -s --max-time 10 -D - -o /dev/null -H "Cookie: $HOT_COOKIE" -H "$HOTPATH_ORIGINAL" "$URL_hv" | grep -qi '^remote-assertion: ey'
curl -s --max-time 10 "http://127.0.0.1:$P_HOT_METRICS/metrics" | grep -q 'deskward_http_request_duration_seconds'
note "/me 200 with the cookie, 401 without; verify 200 with Remote-Assertion; metrics served"
# The issue's command: 5 s rounds whatever --duration says (--quick still runs one round).
SAVED_DURATION=$DURATION; DURATION=5
say "wrk -t1 -c32 -d5s --latency, $ROUNDS round(s), targets alternating"
wrk_phase hotpath "$ROUNDS" hello me hv
DURATION=$SAVED_DURATION
for t in hello me hv; do
    result "hotpath_wrk_${t}_rps" "$(phase_figure hotpath "$t" 3)" req/s
    result "hotpath_wrk_${t}_p99_ms" "$(phase_figure hotpath "$t" 5)" ms
done
H=$(phase_figure hotpath hello 3) M=$(phase_figure hotpath me 3) V=$(phase_figure hotpath hv 3)
MP=$(phase_figure hotpath me 5) VP=$(phase_figure hotpath hv 5)
awk -v h="$H" -v m="$M" -v v="$V" -v mp="$MP" -v vp="$VP" -v l="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
    printf "hot path: /me / hello = %.2f, verify / hello = %.2f   (target >= 0.75 each)\n", m / h, v / h
    printf "hot path: p99 /me %.3f ms, verify %.3f ms (load average after: %s)\n", mp, vp, l }' |
    tee "$OUT/hotpath.md" | tee -a "$OUT/log.txt"
awk -v h="$H" -v m="$M" -v v="$V" \
    'BEGIN { printf "RESULT ratio_hotpath_me_hello %.3f x\nRESULT ratio_hotpath_verify_hello %.3f x\n", m / h, v / h }' >> "$RESULTS"
stop "$PID_hot"
stop "$PID_hello"
fi

# ---------------------------------------------------------------- office networks (issue 16)
if want networks; then
say "office networks: GET /api/v1/me as an agent, 100 ranges under enforce against none"
P_N0=$((P0 + 12)) P_N100=$((P0 + 13))
for n in nets0 nets100; do
    DESKWARD_ADMIN_PASSWORD=$PASSWORD "$DW" account create --name "Bench $n" --slug "$n" --admin-name "Bench Admin" \
        --admin-email admin@bench.example --database-url "sqlite://$WORK/$n.db" > /dev/null
done
start nets0 "$P_N0" /healthz "$DW" serve --database-url "sqlite://$WORK/nets0.db" --bind "127.0.0.1:$P_N0"
start nets100 "$P_N100" /healthz "$DW" serve --database-url "sqlite://$WORK/nets100.db" --bind "127.0.0.1:$P_N100"
# 99 ranges that miss loopback, then 127.0.0.0/8: the agent's every request runs the whole check
# (enforce) and passes it.
RANGES=$(for i in $(seq 0 98); do printf '"10.%d.0.0/16",' "$i"; done; printf '"127.0.0.0/8"')
for port in "$P_N0" "$P_N100"; do
    # The answer's cookies come one a line (session, known-device pass), the CSRF token last.
    LOGIN=$(deskward_login "$port" admin@bench.example)
    NC=$(printf '%s\n' "$LOGIN" | head -1 | awk '{print $1}')
    NX=$(printf '%s\n' "$LOGIN" | tail -1 | awk '{print $NF}')
    curl -s -o /dev/null --max-time 10 -H "Cookie: $NC" -H "X-CSRF-Token: $NX" -H 'content-type: application/json' \
        -d "{\"name\":\"Bench Agent\",\"email\":\"agent@bench.example\",\"password\":\"$PASSWORD\"}" \
        "http://127.0.0.1:$port/api/v1/agents"
    if [ "$port" = "$P_N100" ]; then
        [ "$(status_of -X PUT -H "Cookie: $NC" -H "X-CSRF-Token: $NX" -H 'content-type: application/json' \
            -d "{\"office_networks\":[$RANGES],\"office_network_policy\":{\"agents\":\"enforce\",\"admins\":\"flag\"}}" \
            "http://127.0.0.1:$port/api/v1/settings/security")" = 200 ]
    fi
done
read -r COOKIE_n0 _ <<< "$(deskward_login "$P_N0" agent@bench.example)"
read -r COOKIE_n100 _ <<< "$(deskward_login "$P_N100" agent@bench.example)"
URL_n0="http://127.0.0.1:$P_N0/api/v1/me"; LABEL_n0="GET /api/v1/me, no ranges"
URL_n100="http://127.0.0.1:$P_N100/api/v1/me"; LABEL_n100="GET /api/v1/me, 100 ranges, enforce"
[ "$(status_of -H "Cookie: $COOKIE_n0" "$URL_n0")" = 200 ]
[ "$(status_of -H "Cookie: $COOKIE_n100" "$URL_n100")" = 200 ]
say "wrk -t1 -c32 -d${DURATION}s --latency, $ROUNDS round(s), targets alternating"
wrk_phase networks "$ROUNDS" n0 n100
for t in n0 n100; do
    result "networks_wrk_${t}_rps" "$(phase_figure networks "$t" 3)" req/s
    result "networks_wrk_${t}_p99_ms" "$(phase_figure networks "$t" 5)" ms
done
A=$(phase_figure networks n100 3) B=$(phase_figure networks n0 3)
awk -v a="$A" -v b="$B" 'BEGIN { printf "100 ranges / none = %.3f   (target >= 0.95)\n", a / b }' |
    tee "$OUT/networks.md" | tee -a "$OUT/log.txt"
awk -v a="$A" -v b="$B" 'BEGIN { printf "RESULT ratio_networks_100_none %.3f x\n", a / b }' >> "$RESULTS"
stop "$PID_nets0"
stop "$PID_nets100"
fi

# ---------------------------------------------------------------- the large data set
if want team || want bulk || want latency || want signin || want streams; then
say "large data set: 10,000 agents, 20,000 active and 200,000 ended sessions"
KEY=$(cat "$ROOT"/migrations/sqlite/* "$ROOT/src/demo.rs" | sha256sum | cut -c1-16)
SEED="$BENCH/target/seed/large-$KEY.db"
mkdir -p "$BENCH/target/seed"
if [ "$RESEED" = 1 ] || [ ! -f "$SEED" ]; then
    rm -f "$SEED" "$SEED-wal" "$SEED-shm" "$SEED.tmp" "$SEED.tmp-wal" "$SEED.tmp-shm"
    note "seeding (cached in $SEED for the next runs; takes minutes)"
    timeout 1800 "$DW" seed-large --database-url "sqlite://$SEED.tmp" | tee -a "$OUT/log.txt"
    if command -v sqlite3 >/dev/null; then sqlite3 "$SEED.tmp" 'PRAGMA wal_checkpoint(TRUNCATE);' > /dev/null; fi
    for s in "" -wal -shm; do [ -f "$SEED.tmp$s" ] && mv "$SEED.tmp$s" "$SEED$s"; done
else
    note "reusing $SEED"
fi
for s in "" -wal -shm; do [ -f "$SEED$s" ] && cp "$SEED$s" "$WORK/large.db$s"; done

fi
if want team || want bulk || want latency || want signin; then
# The seeded Online agents have no tab open; a day's grace keeps them Online (as if they had)
# for the whole run, so `status=online` lists 3,334 of them instead of none.
start large "$P_LARGE" /healthz "$DW" serve --database-url "sqlite://$WORK/large.db" --bind "127.0.0.1:$P_LARGE" \
    --presence-grace-secs 86400
LG() { lg "$@" --base "http://127.0.0.1:$P_LARGE"; }
note "server RSS at start on the large data set: $(rss_mib "$PID_large") MiB"

want team && say "Team: first page of GET /api/v1/agents and GET /team/agents"
want team && LG team --requests "$TEAM_REQ"
want bulk && say "bulk: POST /api/v1/agents/sessions/end with 1,000 agents that have active sessions"
want bulk && LG bulk --rounds "$BULK_ROUNDS" --size "$BULK_SIZE"
want latency && say "end-session latency: DELETE /api/v1/sessions/{id} → event: session_ended"
want latency && LG latency --iterations "$LAT_ITERS" --immediate-iterations "$LAT_IMMEDIATE" --settle-ms 100 --first-agent 8500
want signin && say "sign-in: bursts of 50 concurrent sign-ins under authenticated GET /api/v1/me load"
want signin && LG signin --concurrency 50 --bursts "$SIGNIN_BURSTS" --first-agent 5000
note "server RSS after these phases: $(rss_mib "$PID_large") MiB, $(awk '/^Threads/ {print $2}' /proc/"$PID_large"/status) threads"
result large_rss_after_phases_mib "$(rss_mib "$PID_large")" MiB
stop "$PID_large"
fi

if want streams; then
say "event streams: $STREAMS concurrent GET /api/v1/events on a freshly started server"
# The sessions are signed in through another server process on the same database, so that the
# measured process holds the streams but not the sign-ins' own memory (argon2's buffers).
start signer "$P_STREAMS" /healthz "$DW" serve --database-url "sqlite://$WORK/large.db" --bind "127.0.0.1:$P_STREAMS" \
    --presence-grace-secs 86400
lg login --base "http://127.0.0.1:$P_STREAMS" --count $((STREAM_SESSIONS + LOADED_ITERS)) --first-agent 0 --out "$WORK/sessions.txt"
stop "$PID_signer"
start streams "$P_STREAMS" /healthz "$DW" serve --database-url "sqlite://$WORK/large.db" --bind "127.0.0.1:$P_STREAMS" \
    --presence-grace-secs 86400 --max-connections-per-client 25000
sleep 2
lg streams --base "http://127.0.0.1:$P_STREAMS" --pid "$PID_streams" --n "$STREAMS" --sessions "$STREAM_SESSIONS" \
    --sessions-file "$WORK/sessions.txt" --latency-iterations "$LOADED_ITERS"
stop "$PID_streams"
fi

if want webhooks; then
say "webhooks: 1,000 session endings (one DELETE /api/v1/sessions/{id} each) → 1,000 session.ended deliveries to a local receiver"
timeout 600 "$DW" seed-large --database-url "sqlite://$WORK/hooks.db" --agents 1000 --active-sessions 2000 \
    --ended-sessions 0 >> "$OUT/log.txt"
start hooks "$P_HOOKS" /healthz "$DW" serve --database-url "sqlite://$WORK/hooks.db" --bind "127.0.0.1:$P_HOOKS" \
    --webhook-allow-private
# Back to back (a burst), then one every 10 ms (each delivery on its own).
for gap in 0 10; do
    python3 "$BENCH/webhooks.py" --base "http://127.0.0.1:$P_HOOKS" --count 1000 --password "$PASSWORD" \
        --gap-ms "$gap" | tee "$WORK/hooks.txt" | grep -v '^RESULT' | tee -a "$OUT/log.txt"
    grep '^RESULT' "$WORK/hooks.txt" >> "$RESULTS"
done
stop "$PID_hooks"
fi

say "summary"
note "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f "$OUT/throughput.md" ] && cat "$OUT/throughput.md"
[ -f "$OUT/verify.md" ] && cat "$OUT/verify.md"
[ -f "$OUT/chain.md" ] && cat "$OUT/chain.md"
[ -f "$OUT/hotpath.md" ] && cat "$OUT/hotpath.md"
[ -f "$OUT/networks.md" ] && cat "$OUT/networks.md"
echo
awk '{ printf "  %-44s %12s %s\n", $2, $3, $4 }' "$RESULTS"
echo
echo "logs and figures: $OUT (results.txt, log.txt, wrk-*.txt)"
