#!/usr/bin/env bash
# Push an OCI image layout to a registry with skopeo.
#   hack/registry/push.sh LAYOUT TAG HOST:PORT/REPO:TAG [--v2s2] [--all] [--creds USER:PASS]
# --v2s2 converts to Docker schema 2; --all copies every platform of an index.
set -euo pipefail
LAYOUT="${1:?usage: push.sh LAYOUT TAG DEST [--v2s2] [--all] [--creds USER:PASS]}"; TAG="${2:?}"; DEST="${3:?}"; shift 3
ARGS=(copy --quiet --dest-tls-verify=false)
while [ $# -gt 0 ]; do
  case "$1" in
    --v2s2) ARGS+=(--format v2s2); shift ;;
    --all) ARGS+=(--all); shift ;;
    --creds) ARGS+=(--dest-creds "$2"); shift 2 ;;
    *) echo "push.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
exec skopeo "${ARGS[@]}" "oci:$LAYOUT:$TAG" "docker://$DEST"
