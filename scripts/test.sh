#!/usr/bin/env bash
# Runs every check and test of Deskward: formatting, clippy, then the whole test suite
# (unit tests, store conformance on SQLite and PostgreSQL, HTTP and browser tests).
#
# Meant for a fresh Debian 12 machine, run as root (CI sets CI=true): it installs Chromium and
# chromedriver, nginx, Caddy, PgBouncer, openssl and certutil, promtool, and Ruby with ruby-jwt when missing, makes sure PostgreSQL answers on 127.0.0.1:5432,
# and exits non-zero when anything fails. Every step runs even after an earlier one failed, so one run reports all.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -d "${CARGO_HOME:-$HOME/.cargo}/bin" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

log() { printf '\n==> %s\n' "$*"; }
die() { printf '\ntest.sh: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# --- Chromium and chromedriver, for the browser tests ---------------------------------------
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    log "installing chromium and chromium-driver"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq >/dev/null
    as_root apt-get install -y -qq -o=Dpkg::Use-Pty=0 chromium chromium-driver >/dev/null \
        || die "apt-get install chromium chromium-driver failed"
    command -v chromium >/dev/null && command -v chromedriver >/dev/null \
        || die "chromium or chromedriver still missing after installation"
fi

# --- nginx, Caddy and PgBouncer, for the forward-auth and pool tests --------------------------
# The tests run their own instances, on loopback ports with temporary directories
# (tests/it/proxies.rs, tests/it/pool_limits.rs). The Debian services must not start while
# installing (nginx's default site would take port 80, PgBouncer's 6432), nor at boot.
have() { command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" ]]; }
if ! have nginx || ! have caddy || ! have pgbouncer; then
    log "installing nginx, caddy and pgbouncer (their services stay stopped)"
    export DEBIAN_FRONTEND=noninteractive
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\n# scripts/test.sh: no service starts while packages install\nexit 101\n' \
            | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        added_policy=1
    fi
    installed=0
    as_root apt-get update -qq >/dev/null \
        && as_root apt-get install -y -qq -o=Dpkg::Use-Pty=0 nginx caddy pgbouncer >/dev/null \
        && installed=1
    [[ "$added_policy" == 1 ]] && as_root rm -f "$policy"
    [[ "$installed" == 1 ]] || die "apt-get install nginx caddy pgbouncer failed"
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        as_root systemctl disable --now nginx caddy pgbouncer >/dev/null 2>&1 || true
    fi
    have nginx && have caddy && have pgbouncer \
        || die "nginx, caddy or pgbouncer still missing after installation"
fi

# --- openssl and certutil, for the HTTPS browser test ----------------------------------------
# tests/it/browser_https.rs issues its own certificate authority and server certificate with
# `openssl`, and makes Chromium trust that authority through an NSS database made with
# `certutil` (package libnss3-tools). With CI=true the test fails when either is missing.
if ! have openssl || ! have certutil; then
    log "installing openssl and libnss3-tools"
    as_root apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o=Dpkg::Use-Pty=0 \
            --no-install-recommends openssl libnss3-tools >/dev/null \
        || die "apt-get install openssl libnss3-tools failed"
    have openssl && have certutil || die "openssl or certutil still missing after installation"
fi

# --- ip and curl, for the lost-connection tests ---------------------------------------------
# tests/it/lost_connection.rs makes a network namespace joined by a veth pair (`ip`, package
# iproute2) and holds an event stream from inside it with `curl`; as root. With CI=true the
# test fails when either is missing instead of skipping.
if ! have ip || ! have curl; then
    log "installing iproute2 and curl"
    as_root apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o=Dpkg::Use-Pty=0 \
            --no-install-recommends iproute2 curl >/dev/null \
        || die "apt-get install iproute2 curl failed"
    have ip && have curl || die "ip or curl still missing after installation"
fi

# --- Ruby with ruby-jwt and RbNaCl, for the Remote-Assertion recipe ---------------------------
# tests/it/assertion_recipes.rs runs docs/reverse-proxy.md's Ruby recipe as written. With
# CI=true the test fails when these are missing instead of skipping.
if ! ruby -e 'require "jwt"; require "rbnacl"' >/dev/null 2>&1; then
    log "installing ruby, ruby-jwt and ruby-rbnacl"
    as_root apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o=Dpkg::Use-Pty=0 \
            --no-install-recommends ruby ruby-jwt ruby-rbnacl >/dev/null \
        || die "apt-get install ruby ruby-jwt ruby-rbnacl failed"
    ruby -e 'require "jwt"; require "rbnacl"' || die "ruby cannot load jwt and rbnacl after installation"
fi

# --- Prometheus and promtool, for the metrics tests -----------------------------------------
# tests/it/metrics*.rs check the /metrics output and docs/operations.md's alert rules with
# `promtool`, and run the `prometheus` server itself on the documented configuration (both from
# the Debian package `prometheus`; its service must not start while installing). With CI=true
# those tests fail when either is missing instead of skipping.
if ! have promtool || ! have prometheus; then
    log "installing promtool (package prometheus; its service stays stopped)"
    export DEBIAN_FRONTEND=noninteractive
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\n# scripts/test.sh: no service starts while packages install\nexit 101\n' \
            | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        added_policy=1
    fi
    installed=0
    as_root apt-get update -qq >/dev/null \
        && as_root apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends prometheus \
            >/dev/null \
        && installed=1
    [[ "$added_policy" == 1 ]] && as_root rm -f "$policy"
    [[ "$installed" == 1 ]] || die "apt-get install prometheus failed"
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    have promtool && have prometheus || die "promtool or prometheus still missing after installation"
fi

# --- PostgreSQL on 127.0.0.1:5432 ------------------------------------------------------------
pg_answers() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h 127.0.0.1 -p 5432
    else
        (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
    fi
}

if ! pg_answers; then
    log "PostgreSQL does not answer on 127.0.0.1:5432; starting it"
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$version" ]] && command -v pg_ctlcluster >/dev/null \
        || die "PostgreSQL is not installed (no cluster under /etc/postgresql); the tests need it on 127.0.0.1:5432"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start \
        || printf 'test.sh: pg_ctlcluster %s main start failed; waiting anyway\n' "$version" >&2
    for _ in $(seq 1 30); do
        pg_answers && break
        sleep 1
    done
    pg_answers || die "PostgreSQL $version did not answer on 127.0.0.1:5432 within 30 s"
fi

export DESKWARD_TEST_PG_URL="${DESKWARD_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"

# The tests connect to this database to create (and drop) one database per test.
if command -v psql >/dev/null && ! psql "$DESKWARD_TEST_PG_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
    db_name="${DESKWARD_TEST_PG_URL##*/}"
    db_name="${db_name%%\?*}"
    server_url="${DESKWARD_TEST_PG_URL%/*}/postgres"
    log "creating database $db_name for the tests"
    psql "$server_url" -Atqc "CREATE DATABASE \"$db_name\"" >/dev/null \
        || die "cannot connect to $DESKWARD_TEST_PG_URL nor create it (check user and authentication)"
fi

# --- Tools ------------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found (install Rust with rustup)"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    log "adding rustfmt and clippy"
    rustup component add rustfmt clippy
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

# --- Python checkers (schemathesis, standardwebhooks, aiosmtpd, PyJWT) in a virtual environment -------------------
# Kept under target/ (ignored by git); reinstalled when scripts/test-requirements.txt changes.
venv="target/test-venv"
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s scripts/test-requirements.txt "$venv/requirements.txt"; then
    log "installing the Python checkers into $venv"
    command -v python3 >/dev/null || die "python3 not found (the tests run schemathesis and standardwebhooks)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/test-requirements.txt \
        || die "pip install -r scripts/test-requirements.txt failed"
    cp scripts/test-requirements.txt "$venv/requirements.txt"
fi
export DESKWARD_TEST_PYTHON="$PWD/$venv/bin/python"

# --- axe-core (npm), injected into pages by the accessibility browser test ---------------------
axe_version="4.14.1"
axe_dir="target/axe"
axe_js="$axe_dir/node_modules/axe-core/axe.min.js"
if [[ ! -f "$axe_js" ]] || [[ "$(cat "$axe_dir/version" 2>/dev/null)" != "$axe_version" ]]; then
    if ! command -v npm >/dev/null; then
        log "installing npm"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -qq >/dev/null
        as_root apt-get install -y -qq -o=Dpkg::Use-Pty=0 npm >/dev/null \
            || die "apt-get install npm failed"
    fi
    log "installing axe-core $axe_version into $axe_dir"
    mkdir -p "$axe_dir"
    npm install --silent --no-audit --no-fund --prefix "$axe_dir" "axe-core@$axe_version" \
        || die "npm install axe-core@$axe_version failed"
    [[ -f "$axe_js" ]] || die "axe-core installed but $axe_js is missing"
    echo "$axe_version" >"$axe_dir/version"
fi
export DESKWARD_AXE_JS="$PWD/$axe_js"

# --- jose (npm), for the Node Remote-Assertion recipe ------------------------------------------
# tests/it/assertion_recipes.rs runs docs/reverse-proxy.md's Node recipe with this jose.
jose_version="6.2.19"
jose_dir="target/jose"
if [[ ! -f "$jose_dir/node_modules/jose/package.json" ]] \
    || [[ "$(cat "$jose_dir/version" 2>/dev/null)" != "$jose_version" ]]; then
    log "installing jose $jose_version into $jose_dir"
    mkdir -p "$jose_dir"
    npm install --silent --no-audit --no-fund --prefix "$jose_dir" "jose@$jose_version" \
        || die "npm install jose@$jose_version failed"
    [[ -f "$jose_dir/node_modules/jose/package.json" ]] || die "jose installed but missing from $jose_dir"
    echo "$jose_version" >"$jose_dir/version"
fi
export DESKWARD_JOSE_DIR="$PWD/$jose_dir"

# --- oidc-provider (npm, OpenID Certified), the identity provider of the single sign-on tests --
# tests/oidc/provider.mjs runs it on loopback (tests/it/support/oidc.rs starts it); with CI=true
# a test that cannot find it fails.
oidc_version="9.13.3"
oidc_dir="target/oidc-provider"
if [[ ! -f "$oidc_dir/node_modules/oidc-provider/package.json" ]] \
    || [[ "$(cat "$oidc_dir/version" 2>/dev/null)" != "$oidc_version" ]]; then
    command -v npm >/dev/null || die "npm not found (it installed axe-core above)"
    log "installing oidc-provider $oidc_version into $oidc_dir"
    rm -rf "$oidc_dir"
    mkdir -p "$oidc_dir"
    npm install --silent --no-audit --no-fund --prefix "$oidc_dir" "oidc-provider@$oidc_version" \
        || die "npm install oidc-provider@$oidc_version failed"
    [[ -f "$oidc_dir/node_modules/oidc-provider/package.json" ]] \
        || die "oidc-provider installed but $oidc_dir/node_modules/oidc-provider is missing"
    echo "$oidc_version" >"$oidc_dir/version"
fi
export DESKWARD_OIDC_PROVIDER_DIR="$PWD/$oidc_dir"

# --- Checks and tests --------------------------------------------------------------------------
failed=()
step() {
    local name="$1"
    shift
    log "$name: $*"
    if "$@"; then
        printf '==> %s: ok\n' "$name"
    else
        printf '==> %s: FAILED\n' "$name"
        failed+=("$name")
    fi
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --all-targets -- -D warnings
step tests cargo nextest run --profile ci --no-fail-fast

echo
if ((${#failed[@]})); then
    echo "test.sh: FAILED: ${failed[*]} (of fmt, clippy, tests)"
    exit 1
fi
echo "test.sh: all passed (fmt, clippy, tests on SQLite and PostgreSQL)"
