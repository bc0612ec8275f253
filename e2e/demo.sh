#!/usr/bin/env bash
# make demo: the whole keyless flow on a fresh machine, with nothing but
# mosaicd. Starts mosaicd with the log, CA (+ certificate log), TSA and the
# INSECURE development OIDC issuer, signs a file with an ephemeral key using
# the unmodified sigstore-go client, then verifies the bundle offline.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(mkdir -p "${BIN:-bin}" && cd "${BIN:-bin}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mosaic-demo.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "${DEMO_KEEP:-}" = "" ]; then rm -rf "$work"; else echo "demo files kept in $work"; fi
}
trap cleanup EXIT

echo "== building mosaicd and the demo client (sigstore-go)"
go build -o "$BIN/" ./cmd/...
(cd e2e/interop && go build -o "$BIN/keyless-demo" ./cmd/keyless-demo)

echo "== mosaicd ca init: root, issuing CA, TSA certificate, certificate-log key"
"$BIN/mosaicd" ca init --dir "$work/keyless" | sed 's/^/   /'

echo "== starting mosaicd: log + CA + TSA + development OIDC issuer"
"$BIN/mosaicd" serve --listen 127.0.0.1:0 --storage "file:$work/log" --init --keyless-dir "$work/keyless" --dev-oidc \
  >"$work/stdout" 2>"$work/mosaicd.log" &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^mosaicd serving \([^ ]*\) on .*/\1/p' "$work/stdout" 2>/dev/null || true)
  [ -n "$url" ] && "$BIN/keyless-demo" ready --url "$url" 2>/dev/null && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$work/mosaicd.log" >&2; echo "mosaicd exited" >&2; exit 1; fi
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/mosaicd.log" >&2; echo "mosaicd did not start" >&2; exit 1; }
echo "   serving $url"

echo "hello from the Mosaic keyless demo, $(date -u +%FT%TZ)" > "$work/artifact.txt"
"$BIN/keyless-demo" sign --url "$url" --file "$work/artifact.txt" --email demo@mosaic.example --out "$work"

echo "== stopping mosaicd: verification below is offline"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
"$BIN/keyless-demo" verify --trusted-root "$work/trusted_root.json" --bundle "$work/artifact.txt.sigstore.json" \
  --file "$work/artifact.txt" --email demo@mosaic.example --issuer "$url/dev-oidc"
echo "hello, tampered" > "$work/tampered.txt"
if "$BIN/keyless-demo" verify --trusted-root "$work/trusted_root.json" --bundle "$work/artifact.txt.sigstore.json" \
  --file "$work/tampered.txt" --email demo@mosaic.example --issuer "$url/dev-oidc" 2>"$work/tampered.err"; then
  echo "a tampered file verified" >&2; exit 1
fi
echo "   a tampered file is refused: $(head -c 160 "$work/tampered.err")"
echo "== demo OK"
