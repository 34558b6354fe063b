#!/usr/bin/env bash
# Load on the team server from separate client processes (issue 13's Measure section), on
# 127.0.0.1 only. Builds strata in release, starts a throwaway PostgreSQL cluster (fsync on),
# and runs Tools/load/load.py against each configuration:
#   sqlite      one `strata serve --data DIR`
#   postgres    one `strata serve --database …`
#   postgres-2  two servers on one database behind nginx (round robin)
#   postgres-3  three servers on one database behind nginx
#   restart     one server on PostgreSQL, `pg_ctl restart -m fast` in the middle of the run
# Each client is a real `strata` replica in its own directory recording a note and running
# `strata sync` in a loop; the figures (JSON lines) go to Tools/load/out/results.jsonl.
#
#   Tools/load/run.sh                                   every configuration, 100 clients, 60 s each
#   CLIENTS=50 SECONDS_EACH=30 Tools/load/run.sh sqlite postgres-3
#   STRATA_BIN=.build-rel/release/strata Tools/load/run.sh restart
#
# Needs: swift (unless STRATA_BIN is given), python3, psql and PostgreSQL 15's server
# (apt-get install -y postgresql), nginx for the multi-server runs (apt-get install -y nginx),
# sqlite3 (the shell) for the SQLite run. Each missing tool is named and stops the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
clients="${CLIENTS:-100}"
seconds="${SECONDS_EACH:-60}"
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(sqlite postgres postgres-2 postgres-3 restart)
for c in "${configs[@]}"; do
    case "$c" in sqlite | postgres | postgres-2 | postgres-3 | restart) ;;
    *) echo "unknown configuration '$c': sqlite, postgres, postgres-2, postgres-3 or restart" >&2; exit 2 ;;
    esac
done
for tool in python3 psql sqlite3; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (Debian: apt-get install -y postgresql sqlite3 python3)" >&2; exit 1; }
done
if printf '%s\n' "${configs[@]}" | grep -q 'postgres-[23]'; then
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is not installed (Debian: apt-get install -y nginx)" >&2; exit 1; }
fi

strata="${STRATA_BIN:-}"
if [ -z "$strata" ]; then
    echo "building strata (release, .build-rel)..." >&2
    swift build -c release --scratch-path .build-rel --product strata >/dev/null
    strata="$root/.build-rel/release/strata"
fi
[ -x "$strata" ] || { echo "no strata binary at $strata" >&2; exit 1; }

out="$root/Tools/load/out"
mkdir -p "$out"
pg_dir=""
cleanup() { [ -z "$pg_dir" ] || Tools/pg/start-test-cluster.sh --stop "$pg_dir"; }
trap cleanup EXIT
if printf '%s\n' "${configs[@]}" | grep -q -e postgres -e restart; then
    eval "$(PG_FSYNC=on Tools/pg/start-test-cluster.sh)"
    pg_dir="$STRATA_TEST_PG_DIR"
    pg_url="$STRATA_TEST_DATABASE_URL"
fi

{
    echo "{\"machine\": {\"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\", \"cores\": $(nproc), \"load_average\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"postgres\": \"$(psql --version | cut -d' ' -f3)\", \"nginx\": \"$(nginx -v 2>&1 | sed 's/.*\///')\", \"clients\": $clients, \"seconds\": $seconds}}"
} >"$out/machine.json"
: >"$out/results.jsonl"
for c in "${configs[@]}"; do
    echo "== $c: $clients clients for $seconds s (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
    common=(--strata "$strata" --clients "$clients" --seconds "$seconds" --label "$c")
    case "$c" in
    sqlite) python3 Tools/load/load.py "${common[@]}" --storage sqlite ;;
    postgres) python3 Tools/load/load.py "${common[@]}" --storage postgres --database-url "$pg_url" --pg-dir "$pg_dir" ;;
    postgres-2) python3 Tools/load/load.py "${common[@]}" --storage postgres --database-url "$pg_url" --pg-dir "$pg_dir" --servers 2 ;;
    postgres-3) python3 Tools/load/load.py "${common[@]}" --storage postgres --database-url "$pg_url" --pg-dir "$pg_dir" --servers 3 ;;
    restart)
        python3 Tools/load/load.py "${common[@]}" --storage postgres --database-url "$pg_url" --pg-dir "$pg_dir" \
            --restart-postgres-at "$(python3 -c "print($seconds / 2)")" ;;
    esac >>"$out/results.jsonl"
done
echo "results: $out/results.jsonl" >&2
