#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the test suite and prints the line to export:
#   eval "$(Tools/pg/start-test-cluster.sh)"     # sets STRATA_TEST_DATABASE_URL and STRATA_TEST_PG_DIR
#   Tools/pg/start-test-cluster.sh --stop DIR    # stops the cluster in DIR and removes it
# Uses Debian's PostgreSQL 15 (apt-get install -y postgresql) from /usr/lib/postgresql/15/bin
# (or $PG_BIN). initdb refuses to run as root, so as root the cluster belongs to the user
# `postgres`. It listens on 127.0.0.1 only, on a free port, with password authentication over
# TCP (so the tests can check that a wrong password is refused), and on a Unix socket in DIR.
# fsync is off (a throwaway cluster); PG_FSYNC=on for benchmarks.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
if [[ "${1:-}" == "--stop" ]]; then
    dir="${2:?usage: $0 --stop DIR}"
    owner="$(stat -c %U "$dir")"
    if [[ "$(id -u)" == 0 && "$owner" != root ]]; then
        runuser -u "$owner" -- "$PG_BIN/pg_ctl" -D "$dir/pg" stop -m fast >/dev/null || true
    else
        "$PG_BIN/pg_ctl" -D "$dir/pg" stop -m fast >/dev/null || true
    fi
    rm -rf "$dir"
    exit 0
fi

if [[ ! -x "$PG_BIN/initdb" ]]; then
    echo "no PostgreSQL in $PG_BIN: install it (apt-get install -y postgresql) or set PG_BIN" >&2
    exit 1
fi

# A free loopback port: ask the kernel for one (bounded retries against a race).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

dir="$(mktemp -d /tmp/strata-pg.XXXXXX)"
password="strata-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" >"$dir/pwfile"
run=()
if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
    chown -R postgres "$dir"
    run=(runuser -u postgres --)
fi
"${run[@]}" "$PG_BIN/initdb" -D "$dir/pg" -U postgres --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
}
rm -f "$dir/pwfile"
for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    if "${run[@]}" "$PG_BIN/pg_ctl" -D "$dir/pg" -w -t 30 -l "$dir/pg.log" \
        -o "-k $dir -p $port -h 127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=200" start >/dev/null; then
        echo "export STRATA_TEST_DATABASE_URL='postgres://postgres:$password@127.0.0.1:$port/postgres?sslmode=disable'"
        echo "export STRATA_TEST_PG_DIR='$dir'"
        exit 0
    fi
    echo "port $port did not work (attempt $attempt); see $dir/pg.log" >&2
done
echo "PostgreSQL did not start; its log: $dir/pg.log" >&2
exit 1
