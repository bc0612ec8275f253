#!/bin/bash
# The several-frontends benchmark of docs/benchmarks.md ("Several frontends
# (issue [13])"): for each N in FRONTENDS (default "1 2 3"), N mosaicd
# processes on one fresh PostgreSQL database and one SeaweedFS bucket
# (--tiles), a closed-loop write run spread over them by mosaic-load
# (--url u1,u2,...: client i writes to frontend i mod N), then a read run of
# full tiles and bundles over them, then `mosaic audit` of the whole log.
# Every 201's inclusion proof and checkpoint signature is verified by the
# load tool. It prints one Markdown table row per N per run and keeps the
# load tool's JSON reports in OUT.
#
#   docs/bench/frontends.sh                          # from the repository root
#   FRONTENDS="1 2" CLIENTS=256 DURATION=5s docs/bench/frontends.sh
#   TILES=postgres docs/bench/frontends.sh           # no bucket: tiles in PostgreSQL
#
# Needs PostgreSQL (MOSAIC_TEST_DATABASE_URL, default the local server as
# postgres) and SeaweedFS's weed ('make tools'; or MOSAIC_WEED_BIN). CPU is
# user+system from /proc/PID/stat, divided by the growth of the published
# tree (warm-up included): every mosaicd process, the PostgreSQL backends of
# the run's database (the server's shared background processes are left
# out: other sessions use them too) and the weed process.
set -euo pipefail

FRONTENDS=${FRONTENDS:-"1 2 3"}
TILES=${TILES:-s3}
CLIENTS=${CLIENTS:-1024}
DURATION=${DURATION:-15s}
READ_CLIENTS=${READ_CLIENTS:-64}
READ_DURATION=${READ_DURATION:-10s}
ADMIN=${MOSAIC_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
WEED=${MOSAIC_WEED_BIN:-$HOME/.cache/mosaic-tools/seaweedfs-$SEAWEEDFS_VERSION/weed}
OUT=${OUT:-$(mktemp -d /tmp/mosaic-frontends-XXXXXX)}
TCK=$(getconf CLK_TCK)

[ "$TILES" = postgres ] || [ -x "$WEED" ] || { echo "frontends.sh: no weed at $WEED; run 'make tools' (or set MOSAIC_WEED_BIN)" >&2; exit 1; }
mkdir -p "$OUT/bin"
go build -o "$OUT/bin/" ./cmd/mosaicd ./cmd/mosaic-load ./cmd/mosaic
BIN=$OUT/bin
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# port returns a port that was free a moment ago.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# cpu prints user+system ticks of the given PIDs, summed (gone ones count 0).
cpu() {
	local t=0 p f
	for p in "$@"; do
		f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + ${f% *} + ${f#* }))
	done
	echo "$t"
}
# dbpids prints the PIDs of the backends connected to database $1.
dbpids() { psql -qtAX "$ADMIN" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$1'"; }
size() { curl -sf "$1/api/v2/checkpoint" | sed -n 2p; }

# SeaweedFS: master, volume server, filer and S3 gateway in one process,
# as internal/s3test starts it.
WEEDPID=
if [ "$TILES" != postgres ]; then
M=$(port) MG=$(port) V=$(port) VG=$(port) F=$(port) FG=$(port) S3=$(port) S3G=$(port)
mkdir -p "$OUT/weed"
"$WEED" server -dir "$OUT/weed" -ip 127.0.0.1 -ip.bind 127.0.0.1 -master.port $M -master.port.grpc $MG \
	-volume.port $V -volume.port.grpc $VG -filer -filer.port $F -filer.port.grpc $FG \
	-s3 -s3.port $S3 -s3.port.grpc $S3G -volume.max 0 -master.volumeSizeLimitMB 64 >"$OUT/weed.log" 2>&1 &
WEEDPID=$!
PIDS+=("$WEEDPID")
fi
export AWS_ACCESS_KEY_ID=mosaic-bench AWS_SECRET_ACCESS_KEY=mosaic-bench-secret AWS_REGION=us-east-1

echo "| frontends | clients | entries/s | p50 | p99 | 201s verified | other answers | tree size | audit | mosaicd CPU / entry | PostgreSQL CPU / entry | weed CPU / entry | all three / entry | reads/s (tile, bundle) | read p50 / p99 | CPU / read (mosaicd, weed) |"
echo "|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for n in $FRONTENDS; do
	run=$OUT/n$n
	mkdir -p "$run"
	tiles=()
	if [ -n "$WEEDPID" ]; then
		bucketname=frontends-$n-$(date +%s)
		# weed without an identities file takes unsigned requests: PUT /BUCKET creates it.
		until curl -sf -m 2 -o /dev/null -X PUT "http://127.0.0.1:$S3/$bucketname"; do sleep 1; done
		tiles=(--tiles "s3://$bucketname/log?endpoint=http://127.0.0.1:$S3&region=us-east-1")
	fi
	db=mosaic_frontends_${n}_$$
	psql -qX "$ADMIN" -c "CREATE DATABASE $db" >/dev/null
	dburl=$(echo "$ADMIN" | sed "s|^\(postgres[a-z]*://[^/]*\)/[^?]*|\1/$db|")
	"$BIN/mosaicd" keygen --out "$run/key.pem" --public-url http://127.0.0.1 | sed -n '/BEGIN PUBLIC/,/END PUBLIC/p' >"$run/pub.pem"
	urls=() fe=()
	for i in $(seq 1 "$n"); do
		p=$(port)
		"$BIN/mosaicd" serve --listen 127.0.0.1:$p --public-url http://127.0.0.1:$p --storage "$dburl" "${tiles[@]}" \
			--signing-key "$run/key.pem" --log-level warn >"$run/mosaicd-$i.log" 2>&1 &
		fe+=($!)
		PIDS+=($!)
		urls+=("http://127.0.0.1:$p")
		# The first migrates and creates the log; the others join it.
		until curl -sf -o /dev/null "http://127.0.0.1:$p/readyz"; do sleep 0.2; done
	done
	list=$(IFS=,; echo "${urls[*]}")

	# Writes.
	s0=$(size "${urls[0]}")
	c0=$(cpu "${fe[@]}") w0=$(cpu $WEEDPID)
	declare -A pg0=()
	for p in $(pgrep -x postgres); do pg0[$p]=$(cpu "$p"); done
	"$BIN/mosaic-load" --url "$list" --concurrency "$CLIENTS" --duration "$DURATION" --warmup $((2 * CLIENTS)) \
		--pregenerate $((2 * CLIENTS + 60000)) --verify --log-key "$run/pub.pem" --origin 127.0.0.1 \
		--progress 5s --output json >"$run/write.json" 2>"$run/write.log" || true
	c1=$(cpu "${fe[@]}") w1=$(cpu $WEEDPID)
	pgd=0
	for p in $(dbpids "$db"); do pgd=$((pgd + $(cpu "$p") - ${pg0[$p]:-0})); done
	s1=$(size "${urls[0]}")
	grown=$((s1 - s0))
	per() { awk -v t="$1" -v n="$2" -v k="$TCK" 'BEGIN { printf "%.3f ms", n ? 1000 * t / k / n : 0 }'; }

	# Every frontend must serve the same tree.
	for u in "${urls[@]}"; do
		[ "$(size "$u")" = "$s1" ] || echo "frontends.sh: $u serves size $(size "$u"), ${urls[0]} $s1" >&2
	done
	audit=$("$BIN/mosaic" audit --url "${urls[$((n - 1))]}" --log-key "$run/pub.pem" --origin 127.0.0.1 --quiet --output json >"$run/audit.json" 2>&1 && echo ok || echo FAILED)

	# Reads: full tiles and bundles, over every frontend (served from the bucket).
	r0=$(cpu "${fe[@]}") rw0=$(cpu $WEEDPID)
	"$BIN/mosaic-load" read --url "$list" --mix tile,bundle --concurrency "$READ_CLIENTS" --duration "$READ_DURATION" \
		--log-key "$run/pub.pem" --origin 127.0.0.1 --progress 0 --output json >"$run/read.json" 2>"$run/read.log" || true
	r1=$(cpu "${fe[@]}") rw1=$(cpu $WEEDPID)
	reads=$(jq '[.kinds[].status["200"] // 0] | add' "$run/read.json")

	jq -r --arg n "$n" --arg grown "$grown" --arg audit "$audit" \
		--arg fe "$(per $((c1 - c0)) $grown)" --arg pg "$(per $pgd $grown)" --arg weed "$(per $((w1 - w0)) $grown)" \
		--arg all "$(per $((c1 - c0 + pgd + w1 - w0)) $grown)" \
		--arg rps "$(jq -r '"\(.requests_per_second | floor) (\([.kinds[] | .requests_per_second | floor] | map(tostring) | join(", ")))"' "$run/read.json")" \
		--arg rlat "$(jq -r '[.kinds[].latency] | "\(map(.p50_seconds * 1000 | floor) | map(tostring) | join("/")) ms / \(map(.p99_seconds * 1000 | floor) | map(tostring) | join("/")) ms"' "$run/read.json")" \
		--arg rcpu "$(per $((r1 - r0)) "$reads"), $(per $((rw1 - rw0)) "$reads")" \
		'"| \($n) | \(.concurrency) | \(.entries_per_second | floor) | \(.latency.p50_seconds * 1000 | floor) ms | \(.latency.p99_seconds * 1000 | floor) ms | \(.verified) of \(.status["201"] // 0) (+ \(.warmup_entries) warm-up) | \(.status | to_entries | map(select(.key != "201")) | map("\(.value) × \(.key)") | join(", ") | if . == "" then "none" else . end)\(if .transport_errors > 0 then ", \(.transport_errors) transport" else "" end) | \($grown) | \($audit) | \($fe) | \($pg) | \($weed) | \($all) | \($rps) | \($rlat) | \($rcpu) |"' \
		"$run/write.json"

	for p in "${fe[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	psql -qX "$ADMIN" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
done
echo "reports: $OUT" >&2
