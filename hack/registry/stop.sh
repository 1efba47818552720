#!/usr/bin/env bash
# Stop a registry started by hack/registry/start.sh and remove its directory.
#   hack/registry/stop.sh DIR [--keep]     (--keep leaves DIR and its images on disk)
set -euo pipefail
DIR="${1:?usage: stop.sh DIR [--keep]}"
PIDFILE="$DIR/registry.pid"
if [ -f "$PIDFILE" ]; then
  PID="$(cat "$PIDFILE")"
  if kill -0 "$PID" 2>/dev/null; then
    kill "$PID"
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
fi
[ "${2:-}" = "--keep" ] || rm -rf "$DIR"
