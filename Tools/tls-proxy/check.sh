#!/usr/bin/env bash
# Tests the nginx TLS front (nginx.conf.template) on 127.0.0.1: a self-signed certificate,
# `strata serve` behind nginx, then health, session and a whole push and pull through TLS
# with curl, and wrong tokens refused. Needs nginx, openssl and curl; builds strata if needed.
#   Tools/tls-proxy/check.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
strata="${STRATA_BIN:-$root/.build/debug/strata}"
[ -x "$strata" ] || (cd "$root" && swift build --product strata >/dev/null)
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/nginx" "$work/data"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); tls=$(free_port)

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
sed -e "s#@PREFIX@#$work/nginx#g" -e "s#@CERT@#$work/cert.pem#g" -e "s#@KEY@#$work/key.pem#g" \
    -e "s#@LISTEN@#127.0.0.1:$tls#g" -e "s#@UPSTREAM@#127.0.0.1:$up#g" \
    "$root/Tools/tls-proxy/nginx.conf.template" > "$work/nginx.conf"
nginx -t -p "$work/nginx" -c "$work/nginx.conf" 2>&1 | grep -q "test is successful"

"$strata" server project add palmyra --data "$work/data" >/dev/null
token=$("$strata" server token create --project palmyra --researcher Khaled --role admin --data "$work/data" 2>/dev/null)
"$strata" serve --data "$work/data" --host 127.0.0.1 --port "$up" 2>"$work/serve.log" & pids+=($!)
nginx -p "$work/nginx" -c "$work/nginx.conf" & pids+=($!)
for _ in $(seq 100); do curl -sf --cacert "$work/cert.pem" "https://127.0.0.1:$tls/v1/health" >/dev/null && break; sleep 0.1; done

base="https://127.0.0.1:$tls/v1/projects/palmyra"
c() { curl -s --cacert "$work/cert.pem" "$@"; }
echo "health:  $(c "https://127.0.0.1:$tls/v1/health")"
echo "session: $(c -H "Authorization: Bearer $token" "$base/session" | head -c 120)…"
[ "$(c -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer stk_wrong' "$base/session")" = 401 ]
echo "wrong token: 401"
# Plain HTTP to the TLS port is refused by nginx.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$tls/v1/health")" = 400 ]
echo "plain HTTP on the TLS port: 400"

# A whole sync through TLS with the real client. strata trusts the system's CA bundle; for
# this test only, the self-signed certificate is added to it inside a private mount
# namespace (unshare), so the machine's trust store is not changed.
cat /etc/ssl/certs/ca-certificates.crt "$work/cert.pem" > "$work/bundle.crt"
trusted() { unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && shift && exec "$@"' "$work/bundle.crt" x "$@"; }
for who in Khaled Maria; do
    STRATA_STORE="$work/$who.strata" "$strata" init --author "$who" >/dev/null
    STRATA_STORE="$work/$who.strata" "$strata" remote add origin "https://127.0.0.1:$tls" --project palmyra --token "$token" >/dev/null
done
for i in 1 2 3; do STRATA_STORE="$work/Khaled.strata" "$strata" add note "Through TLS $i" >/dev/null; done
# Without the certificate trusted, the client refuses the server.
if STRATA_STORE="$work/Khaled.strata" "$strata" sync >"$work/untrusted.out" 2>&1; then
    echo "FAIL: synced with an untrusted certificate"; exit 1
fi
echo "untrusted certificate refused: $(head -c 160 "$work/untrusted.out")"
echo "khaled: $(trusted env STRATA_STORE="$work/Khaled.strata" "$strata" sync)"
echo "maria:  $(trusted env STRATA_STORE="$work/Maria.strata" "$strata" sync)"
n=$(STRATA_STORE="$work/Maria.strata" "$strata" list --kind note --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 3 ] || { echo "FAIL: Maria has $n notes"; exit 1; }
# Neither the token nor note text reached a log.
if grep -q -e "$token" -e "Through TLS" "$work/serve.log" "$work/nginx/access.log" "$work/nginx/error.log"; then
    echo "FAIL: token or note text in a log"; exit 1
fi
echo "no token or note text in the strata or nginx logs ($(wc -l < "$work/nginx/access.log") access-log lines)"
echo "TLS front OK: nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(openssl version | cut -d' ' -f1-2)"
