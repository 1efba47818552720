#!/usr/bin/env bash
# Start a local registry (Debian's docker-registry, distribution v2) in the background for
# development and benchmarks. State lives in one directory: config.yml, data/, registry.pid,
# registry.log (and htpasswd / cert.pem when asked for).
#
#   hack/registry/start.sh [--port N] [--dir DIR] [--htpasswd USER:PASS] [--tls]
#
# Prints shell assignments, e.g.  REGISTRY_HOST=127.0.0.1:5000 REGISTRY_DIR=/tmp/groot-registry.x
# so a caller can `eval "$(hack/registry/start.sh)"`. Stop it with hack/registry/stop.sh DIR.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${REGISTRY_BIN:-/usr/bin/docker-registry}"
PORT=""
DIR=""
HTPASSWD=""
TLS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --htpasswd) HTPASSWD="$2"; shift 2 ;;
    --tls) TLS=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "start.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ -x "$BIN" ] || { echo "start.sh: $BIN not found: install Debian's docker-registry (hack/install.sh does)" >&2; exit 1; }
[ -n "$DIR" ] || DIR="$(mktemp -d /tmp/groot-registry.XXXXXX)"
mkdir -p "$DIR/data"
if [ -z "$PORT" ]; then
  PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
fi

{
  echo 'version: 0.1'
  echo 'log: {level: error, accesslog: {disabled: true}}'
  echo 'storage:'
  echo "  filesystem: {rootdirectory: \"$DIR/data\"}"
  echo '  delete: {enabled: true}'
  echo 'http:'
  echo "  addr: 127.0.0.1:$PORT"
  echo '  secret: groot-local-registry'
} > "$DIR/config.yml"

SCHEME=http
if [ "$TLS" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$DIR/cert.pem" -days 30 \
    -subj /CN=groot-local-registry -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
  echo "  tls: {certificate: \"$DIR/cert.pem\", key: \"$DIR/key.pem\"}" >> "$DIR/config.yml"
  SCHEME=https
fi

if [ -n "$HTPASSWD" ]; then
  # docker-registry reads only bcrypt entries; libxcrypt makes them (no apache2-utils needed).
  (cd "$REPO" && node -e '
    const koffi = require("koffi");
    const lib = koffi.load("libcrypt.so.1");
    const gensalt = lib.func("char *crypt_gensalt(const char *, unsigned long, const char *, int)");
    const crypt = lib.func("char *crypt(const char *, const char *)");
    const [user, ...rest] = process.argv[1].split(":");
    process.stdout.write(`${user}:${crypt(rest.join(":"), gensalt("$2b$", 10, null, 0))}\n`);
  ' "$HTPASSWD") > "$DIR/htpasswd"
  printf 'auth:\n  htpasswd: {realm: groot-local, path: "%s"}\n' "$DIR/htpasswd" >> "$DIR/config.yml"
fi

nohup "$BIN" serve "$DIR/config.yml" >> "$DIR/registry.log" 2>&1 < /dev/null &
echo $! > "$DIR/registry.pid"

for _ in $(seq 1 100); do
  code="$(curl -s -k -o /dev/null -w '%{http_code}' "$SCHEME://127.0.0.1:$PORT/v2/" || true)"
  if [ "$code" = 200 ] || [ "$code" = 401 ]; then
    echo "REGISTRY_HOST=127.0.0.1:$PORT REGISTRY_DIR=$DIR REGISTRY_URL=$SCHEME://127.0.0.1:$PORT"
    exit 0
  fi
  if ! kill -0 "$(cat "$DIR/registry.pid")" 2>/dev/null; then break; fi
  sleep 0.1
done
echo "start.sh: docker-registry did not come up; log:" >&2
tail -20 "$DIR/registry.log" >&2
kill "$(cat "$DIR/registry.pid")" 2>/dev/null || true
exit 1
