# The hot path with every feature that applies on (sourced by bench/run.sh's `hotpath` phase and
# by bench/callgrind.sh): one SQLite account served under --path-prefix /deskward behind a
# trusted loopback proxy, with --metrics-bind and --access-rules (100 rules, none matching the
# page asked for), 100 office networks in flag mode for agents and administrators, at most 10
# sessions per agent, and a signed-in agent with two-factor sign-in (TOTP) enrolled, signed in
# with a recovery code. Verify is asked as nginx asks it (X-Original-URL), so every 200 carries
# Remote-Assertion.
#
#   hotpath_rules FILE                      writes the 100 access rules
#   hotpath_serve_args DB PORT MPORT RULES  prints the `serve` arguments, one a line
#   hotpath_account BIN DB                  creates the account (admin@bench.example)
#   hotpath_agent BASE                      sets the policies up and prints the agent's cookie
#
# BASE is http://127.0.0.1:PORT/deskward. Needs curl and python3.

HOTPATH_PASSWORD=${HOTPATH_PASSWORD:-demo-password-2026}
HOTPATH_ORIGINAL="X-Original-URL: http://desk.example/inbox/7?tab=open"

hotpath_rules() {
    {
        for i in $(seq 1 60); do printf '[[rule]]\npath = "/section-%d"\nrequire = "admin"\n\n' "$i"; done
        for i in $(seq 1 30); do printf "[[rule]]\nregex = '^/report-%d/(daily|weekly)/[0-9]+\$'\nrequire = \"audit\"\n\n" "$i"; done
        for i in $(seq 1 10); do printf '[[rule]]\nhost = "*.tenant-%d.example"\npath = "/"\nrequire = "agent"\n\n' "$i"; done
    } > "$1"
}

hotpath_serve_args() {
    printf '%s\n' serve --database-url "sqlite://$1" --bind "127.0.0.1:$2" --path-prefix /deskward \
        --trusted-proxy 127.0.0.1/32 --metrics-bind "127.0.0.1:$3" --access-rules "$4"
}

hotpath_account() {
    DESKWARD_ADMIN_PASSWORD=$HOTPATH_PASSWORD "$1" account create --name "Bench Hot" --slug hot \
        --admin-name "Bench Admin" --admin-email admin@bench.example --database-url "sqlite://$2" > /dev/null
}

# _hp_login BASE EMAIL [BODY-EXTRA]: POST login; prints the session cookie (name=value), then
# the answer's body on the next line.
_hp_post_login() {
    local base=$1 path=$2 body=$3 h
    h=$(mktemp)
    local out
    out=$(curl -s --max-time 30 -D "$h" -H 'content-type: application/json' -d "$body" "$base$path")
    awk 'tolower($1) == "set-cookie:" && $2 ~ /^deskward_session=/ {sub(/;.*/, "", $2); print $2}' "$h" | tr -d '\r'
    rm -f "$h"
    printf '%s\n' "$out"
}

# _hp_call BASE COOKIE CSRF METHOD PATH BODY: a JSON call as the signed-in person; prints the body.
_hp_call() {
    curl -s --max-time 30 -X "$4" -H "Cookie: $2" -H "X-CSRF-Token: $3" -H 'content-type: application/json' \
        -d "$6" "$1$5"
}

_hp_csrf() { sed -n 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/p'; }

hotpath_agent() {
    local base=$1 out cookie csrf ranges secret code rec
    out=$(_hp_post_login "$base" /api/v1/auth/login "{\"email\":\"admin@bench.example\",\"password\":\"$HOTPATH_PASSWORD\"}")
    cookie=$(printf '%s\n' "$out" | head -1)
    csrf=$(printf '%s\n' "$out" | tail -1 | _hp_csrf)
    [ -n "$cookie" ] && [ -n "$csrf" ] || { echo "admin sign-in failed: $out" >&2; return 1; }
    # 99 ranges that miss loopback, then 127.0.0.0/8: flag mode works out the mark on every
    # activity write and passes.
    ranges=$(for i in $(seq 0 98); do printf '"10.%d.0.0/16",' "$i"; done; printf '"127.0.0.0/8"')
    _hp_call "$base" "$cookie" "$csrf" PUT /api/v1/settings/security \
        "{\"office_networks\":[$ranges],\"office_network_policy\":{\"agents\":\"flag\",\"admins\":\"flag\"},\"max_sessions_per_person\":10}" \
        | grep -q '"max_sessions_per_person":10' || { echo "security settings refused" >&2; return 1; }
    _hp_call "$base" "$cookie" "$csrf" POST /api/v1/agents \
        "{\"name\":\"Bench Agent\",\"email\":\"agent@bench.example\",\"password\":\"$HOTPATH_PASSWORD\"}" > /dev/null
    # The agent enrolls TOTP, then signs in again with it (a recovery code: no wait for the
    # next 30 s step).
    out=$(_hp_post_login "$base" /api/v1/auth/login "{\"email\":\"agent@bench.example\",\"password\":\"$HOTPATH_PASSWORD\"}")
    cookie=$(printf '%s\n' "$out" | head -1)
    csrf=$(printf '%s\n' "$out" | tail -1 | _hp_csrf)
    [ -n "$cookie" ] || { echo "agent sign-in failed: $out" >&2; return 1; }
    secret=$(_hp_call "$base" "$cookie" "$csrf" POST /api/v1/me/mfa/totp "{\"password\":\"$HOTPATH_PASSWORD\"}" |
        sed -n 's/.*"secret":"\([A-Z2-7=]*\)".*/\1/p')
    [ -n "$secret" ] || { echo "TOTP enrollment refused" >&2; return 1; }
    code=$(python3 -c '
import base64, hmac, struct, sys, time
k = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
h = hmac.new(k, struct.pack(">Q", int(time.time()) // 30), "sha1").digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000))' "$secret")
    rec=$(_hp_call "$base" "$cookie" "$csrf" POST /api/v1/me/mfa/totp/confirm "{\"code\":\"$code\"}" |
        sed -n 's/.*"recovery_codes":\["\([^"]*\)".*/\1/p')
    [ -n "$rec" ] || { echo "TOTP confirmation refused" >&2; return 1; }
    out=$(_hp_post_login "$base" /api/v1/auth/login "{\"email\":\"agent@bench.example\",\"password\":\"$HOTPATH_PASSWORD\"}")
    local challenge
    challenge=$(printf '%s\n' "$out" | tail -1 | sed -n 's/.*"challenge":"\([^"]*\)".*/\1/p')
    [ -n "$challenge" ] || { echo "no second-factor step after enrollment: $out" >&2; return 1; }
    out=$(_hp_post_login "$base" /api/v1/auth/login/mfa "{\"challenge\":\"$challenge\",\"code\":\"$rec\"}")
    cookie=$(printf '%s\n' "$out" | head -1)
    [ -n "$cookie" ] || { echo "second-factor sign-in failed: $out" >&2; return 1; }
    printf '%s\n' "$cookie"
}
