#!/usr/bin/env bash
# Checks the deployment examples in this folder, on 127.0.0.1 only:
#   - strata.service: `systemd-analyze verify` (with ExecStart pointing at the built binary);
#   - serve.json: `strata serve --config serve.json` starts with it (data and port overridden);
#   - nginx-strata.conf: `nginx -t` in a temporary prefix, then through it over TLS (self-signed
#     certificate): health, readiness and a token's session answered while the second upstream
#     server is down (nginx moves on to the first), /metrics not exposed by the proxy;
#   - SIGTERM: the server exits 0.
# Needs nginx, openssl, curl and systemd-analyze (each missing tool is named, and fails the check).
#   Tools/deploy/check.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/Tools/deploy"
strata="${STRATA_BIN:-$root/.build/debug/strata}"
[ -x "$strata" ] || (cd "$root" && swift build --product strata >/dev/null)
for tool in nginx openssl curl systemd-analyze python3; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (Debian: apt-get install nginx openssl curl systemd)"; exit 1; }
done
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# 1. The systemd unit.
sed -e "s#/usr/local/bin/strata#$strata#" "$here/strata.service" > "$work/strata.service"
if ! out=$(systemd-analyze verify --man=no "$work/strata.service" 2>&1); then
    echo "FAIL: systemd-analyze verify strata.service:"; echo "$out"; exit 1
fi
# Any warning about the unit fails the check (warnings about other units of this machine do not).
if echo "$out" | grep -q "strata.service"; then
    echo "FAIL: systemd-analyze verify strata.service:"; echo "$out"; exit 1
fi
echo "strata.service: systemd-analyze verify OK"

# 2. Two upstream ports: the first runs strata, the second stays down.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up1=$(free_port); up2=$(free_port); tls=$(free_port)
mkdir -p "$work/nginx" "$work/data"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
sed -e "s#listen 443 ssl;#listen 127.0.0.1:$tls ssl;#" \
    -e "s#/etc/ssl/strata/fullchain.pem#$work/cert.pem#" -e "s#/etc/ssl/strata/privkey.pem#$work/key.pem#" \
    -e "s#/var/log/nginx/strata.access.log#$work/nginx/access.log#" \
    -e "s#127.0.0.1:7070#127.0.0.1:$up1#" -e "s#127.0.0.1:7071#127.0.0.1:$up2#" \
    "$here/nginx-strata.conf" > "$work/site.conf"
# The substitutions all took: nothing of the production paths and ports is left.
if grep -n -e "listen 443" -e "/etc/ssl" -e "/var/log" -e ":7070" -e ":7071" "$work/site.conf"; then
    echo "FAIL: nginx-strata.conf changed; update the substitutions in check.sh"; exit 1
fi
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 256; }
http {
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    include $work/site.conf;
}
CONF
nginx -t -p "$work/nginx" -c "$work/nginx.conf" 2>&1 | grep -q "test is successful" || {
    nginx -t -p "$work/nginx" -c "$work/nginx.conf"; echo "FAIL: nginx -t"; exit 1; }
echo "nginx-strata.conf: nginx -t OK"

# 3. serve.json, with the data directory and port given on the command line.
"$strata" server project add palmyra --data "$work/data" >/dev/null
token=$("$strata" server token create --project palmyra --researcher Khaled --data "$work/data" 2>/dev/null)
"$strata" serve --config "$here/serve.json" --data "$work/data" --port "$up1" 2>"$work/serve.log" & serve=$!
pids+=($serve)
nginx -p "$work/nginx" -c "$work/nginx.conf" & pids+=($!)
c() { curl -s --max-time 10 --cacert "$work/cert.pem" "$@"; }
for _ in $(seq 100); do [ "$(c -o /dev/null -w '%{http_code}' "https://127.0.0.1:$tls/healthz")" = 200 ] && break; sleep 0.1; done
for i in 1 2 3 4; do
    [ "$(c -o /dev/null -w '%{http_code}' "https://127.0.0.1:$tls/readyz")" = 200 ] || { echo "FAIL: /readyz through nginx ($i)"; exit 1; }
    [ "$(c -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "https://127.0.0.1:$tls/v1/projects/palmyra/session")" = 200 ] \
        || { echo "FAIL: session through nginx ($i)"; exit 1; }
done
echo "through nginx with one of two upstream servers down: /readyz and session 200, 4 times each"
[ "$(c -o /dev/null -w '%{http_code}' "https://127.0.0.1:$tls/metrics")" = 404 ] || { echo "FAIL: /metrics exposed by the proxy"; exit 1; }
direct=$(curl -s "http://127.0.0.1:$up1/metrics")
echo "$direct" | grep -q 'strata_http_requests_total{route="/v1/projects/{project}/session",method="GET",status="200"} 4' \
    || { echo "FAIL: the server's own /metrics does not count the 4 sessions:"; echo "$direct" | grep requests_total; exit 1; }
echo "/metrics: 404 through the proxy, on the server's own port it counts the 4 sessions"
# serve.json asks for JSON logs: every line is a JSON object, none holds the token.
python3 - "$work/serve.log" "$token" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "empty log"
for l in lines:
    json.loads(l)
    assert sys.argv[2] not in l, "token in the log"
print(f"serve.json: JSON log, {len(lines)} lines, no token")
PY
kill -TERM "$serve"
status=0; wait "$serve" || status=$?
[ "$status" = 0 ] || { echo "FAIL: strata serve exited $status after SIGTERM"; exit 1; }
echo "SIGTERM: strata serve exited 0"
echo "deploy examples OK: $(nginx -v 2>&1 | sed 's/.*\///'), systemd $(systemd-analyze --version | head -1 | cut -d' ' -f2)"
