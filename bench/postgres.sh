# bench/run.sh --database postgres (issue 18): sourced by run.sh after its helpers (start, stop,
# lg, wrk_phase, phase_figure, result, note, say) are defined. Many accounts on PostgreSQL, two
# instances behind nginx.
PG_BASE=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB="deskward_bench_$$"
PG_URL="$PG_BASE/$PG_DB"
command -v psql >/dev/null || { echo "psql is missing: apt-get install -y postgresql-client" >&2; exit 1; }
NGINX=$(command -v nginx || true)
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
[ -n "$NGINX" ] || { echo "nginx is missing: apt-get install -y nginx" >&2; exit 1; }
pg_drop() {
    [ "$KEEP" = 1 ] && { echo "kept database $PG_URL"; return 0; }
    psql -q "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap 'cleanup; pg_drop' EXIT
P_A=$P_LARGE P_B=$P_STREAMS P_LB=$P_NGX
# Each figure is taken on a shared machine: the load average goes beside it.
load() { cut -d' ' -f1-3 /proc/loadavg; }

say "PostgreSQL: a fresh database $PG_DB, the many-accounts data set (bench/seed-many.sql)"
psql -q "$PG_BASE/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null
DESKWARD_ADMIN_PASSWORD=$PASSWORD "$DW" account create --name "Bench Support" --slug bench --admin-name "Bench Admin" \
    --admin-email admin@bench.example --database-url "$PG_URL" > /dev/null 2>> "$OUT/log.txt"
t0=$(date +%s.%N)
psql -q "$PG_URL" -v ON_ERROR_STOP=1 -f "$BENCH/seed-many.sql" > "$OUT/seed.txt" 2>&1 || { cat "$OUT/seed.txt" >&2; exit 1; }
seed_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
grep -A3 'accounts | people | live' "$OUT/seed.txt" | tee -a "$OUT/log.txt"
note "seeded in $seed_s s (target < 300 s); load average $(load)"
result pg_seed_seconds "$seed_s" s

# Two instances on the one database; the seeded Online agents keep their status (a day's
# grace, as in the SQLite phases). The sweep's own log line gives each pass's time.
serve_pg() {
    local name=$1 port=$2; shift 2
    DESKWARD_LOG_FORMAT=json RUST_LOG=info,sqlx=warn,deskward::server=debug start "$name" "$port" /healthz "$DW" serve --database-url "$PG_URL" \
        --bind "127.0.0.1:$port" --presence-grace-secs 86400 "$@"
}
serve_pg pga "$P_A"
serve_pg pgb "$P_B"
mkdir -p "$WORK/nginx"; chmod 755 "$WORK" "$WORK/nginx"
cat > "$WORK/nginx/lb.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    upstream deskward { server 127.0.0.1:$P_A; server 127.0.0.1:$P_B; keepalive 64; }
    server {
        listen 127.0.0.1:$P_LB;
        location / {
            proxy_pass http://deskward;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
    }
}
NGINX
start lb "$P_LB" /healthz "$NGINX" -e stderr -p "$WORK/nginx" -c "$WORK/nginx/lb.conf"
LB="http://127.0.0.1:$P_LB"
note "instances A :$P_A and B :$P_B on $PG_DB, nginx :$P_LB round-robin in front"

if want throughput; then
say "GET /api/v1/me per instance against hello, and through nginx (two instances)"
start hello "$P_HELLO" / "$BIN/hello" --bind "127.0.0.1:$P_HELLO"
read -r ME_COOKIE _ <<< "$(deskward_login "$P_A" admin@bench.example)"
[ "$(status_of -H "Cookie: $ME_COOKIE" "http://127.0.0.1:$P_A/api/v1/me")" = 200 ]
[ "$(status_of -H "Cookie: $ME_COOKIE" "http://127.0.0.1:$P_B/api/v1/me")" = 200 ]
[ "$(status_of -H "Cookie: $ME_COOKIE" "$LB/api/v1/me")" = 200 ]
URL_hello="http://127.0.0.1:$P_HELLO/"; COOKIE_hello=""; LABEL_hello="hello (bare axum) GET /"
URL_pga="http://127.0.0.1:$P_A/api/v1/me"; COOKIE_pga="$ME_COOKIE"; LABEL_pga="instance A GET /api/v1/me"
URL_lb="$LB/api/v1/me"; COOKIE_lb="$ME_COOKIE"; LABEL_lb="nginx → A|B GET /api/v1/me"
note "load average before: $(load)"
wrk_phase pgme "$ROUNDS" hello pga lb
for t in hello pga lb; do
    result "pg_wrk_${t}_rps" "$(phase_figure pgme "$t" 3)" req/s
    result "pg_wrk_${t}_p99_ms" "$(phase_figure pgme "$t" 5)" ms
done
A=$(phase_figure pgme pga 3) H=$(phase_figure pgme hello 3)
awk -v a="$A" -v h="$H" 'BEGIN { printf "instance / hello = %.2f   (target >= 0.60)\n", a / h }' | tee "$OUT/pg-throughput.md" | tee -a "$OUT/log.txt"
awk -v a="$A" -v h="$H" 'BEGIN { printf "RESULT pg_ratio_instance_hello %.3f x\n", a / h }' >> "$RESULTS"
note "load average after: $(load)"
stop "$PID_hello"
fi

if want team; then
say "Team: first page of GET /api/v1/agents and GET /team/agents, 10,000-agent account, through nginx"
note "load average before: $(load)"
lg team --base "$LB" --requests "$TEAM_REQ"
note "load average after: $(load)"
fi
if want bulk; then
say "bulk: POST /api/v1/agents/sessions/end with 1,000 agents, through nginx"
note "load average before: $(load)"
lg bulk --base "$LB" --rounds "$BULK_ROUNDS" --size 1000
note "load average after: $(load)"
fi
if want latency; then
say "end-session latency across instances: stream on A, DELETE /api/v1/sessions/{id} on B"
note "load average before: $(load)"
lg latency --base "http://127.0.0.1:$P_A" --admin-base "http://127.0.0.1:$P_B" --iterations "$LAT_ITERS" \
    --immediate-iterations "$LAT_IMMEDIATE" --settle-ms 100 --first-agent 8500
note "load average after: $(load)"
fi

if want sweep; then
say "sweep: passes over 1,000 accounts and 200,000 live sessions; Team list p99 with and without"
stop "$PID_lb"; stop "$PID_pgb"; stop "$PID_pga"
read_passes() { grep -a 'session sweep pass' "$OUT/$1.log" | sed -n 's/.*"ms":\([0-9.e+-]*\).*/\1/p'; }
# The same paced load (one request at a time, as an administrator paging the Team list) on
# instance A without a sweep during the run (its first pass runs at start), then with a pass
# every second. A saturating load (wrk) would measure the CPU the sweep takes from two cores
# shared with PostgreSQL and the client, not what a request waits for.
SWEEP_REQ=$([ "$QUICK" = 1 ] && echo 500 || echo 3000)
for mode in quiet busy; do
    every=$([ "$mode" = quiet ] && echo 3600 || echo 1)
    serve_pg pga "$P_A" --sweep-secs "$every"
    note "instance A with --sweep-secs $every; load average before: $(load)"
    lg team --base "http://127.0.0.1:$P_A" --requests "$SWEEP_REQ" --only none,router --pages no --name "sweep_$mode"
    stop "$PID_pga"
    mv "$OUT/pga.log" "$OUT/pga-$mode.log"
done
read_passes pga-busy | sort -g > "$WORK/passes.txt"
n=$(wc -l < "$WORK/passes.txt")
note "sweep passes during the busy run: $n; ms: median $(median < "$WORK/passes.txt"), max $(tail -1 "$WORK/passes.txt")"
result pg_sweep_passes "$n" passes
result pg_sweep_pass_ms_median "$(median < "$WORK/passes.txt")" ms
result pg_sweep_pass_ms_max "$(tail -1 "$WORK/passes.txt")" ms
fig() { awk -v k="$1" '$2 == k {print $3}' "$RESULTS" | tail -1; }
for f in none router; do
    Q=$(fig "sweep_quiet_api_${f}_ms_p99") B=$(fig "sweep_busy_api_${f}_ms_p99")
    awk -v f="$f" -v q="$Q" -v b="$B" 'BEGIN { printf "Team list (%s) p99: %.3f ms without, %.3f ms with a sweep every second: %+.3f ms (target within 2 ms)\n", f, q, b, b - q }' |
        tee -a "$OUT/pg-sweep.md" | tee -a "$OUT/log.txt"
done
fi

say "summary (PostgreSQL)"
note "load average at the end: $(load)"
[ -f "$OUT/pg-throughput.md" ] && cat "$OUT/pg-throughput.md"
[ -f "$OUT/pg-sweep.md" ] && cat "$OUT/pg-sweep.md"
echo
awk '{ printf "  %-44s %12s %s\n", $2, $3, $4 }' "$RESULTS"
echo
echo "logs and figures: $OUT (results.txt, log.txt, wrk-*.txt, seed.txt)"
