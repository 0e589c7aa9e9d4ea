#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-encode: what response compression costs (http/encode.c).
#   1. The levels: ratio, CPU per MB and encoder memory of each coding at a
#      few levels, for the demo page (www/index.php as the server answers
#      it) and a 100 KB HTML page (the repository's docs as HTML), with the
#      encoders set up as the server sets them up (.output/qs-enc-levels).
#   2. The 100 KB page over HTTP/3 served plain, compressed on the fly
#      (Brotli, --compress-br-level) and precompressed (page.html.br made
#      with `brotli -q 11`): requests/s, bytes per response, server CPU.
#   3. The demo page through php-fpm, plain and with `accept-encoding: br,
#      zstd, gzip`.
# Rounds interleaved, medians and ratios reported; targets (compression
# costs at most 15% of the demo page's requests/s, precompressed files
# nothing measurable) as MET/MISSED.  A benchmark, not a test.
#
# Env: ROUNDS (3), SECONDS_PER_RUN (5), CONNS (8), STREAMS (8), CHILDREN (8),
#      WORKERS (2)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
LOAD=$ROOT/.output/quicsteer-load
LEVELS=$ROOT/.output/qs-enc-levels
ROUNDS=${ROUNDS:-3} DUR=${SECONDS_PER_RUN:-5} WORKERS=${WORKERS:-2}
CONNS=${CONNS:-8} STREAMS=${STREAMS:-8} CHILDREN=${CHILDREN:-8}
INST=benchenc$$ PORT=$((20000 + RANDOM % 20000))
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/qs-bench-encode.XXXXXX)
qpid= fpid=

die() { echo "bench-encode: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (sudo make bench-encode)"
[[ -x $LOAD && -x $LEVELS ]] || die "$LOAD or $LEVELS missing: make"
command -v brotli >/dev/null || die "brotli missing: run scripts/setup.sh"
cleanup() {
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	[[ -n $fpid ]] && kill -QUIT "$fpid" 2>/dev/null && wait "$fpid" 2>/dev/null
	rm -rf "$TMP" "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
	return 0
}
trap cleanup EXIT

DOC=$TMP/www
mkdir -p "$DOC"
cp "$ROOT/www/index.php" "$DOC/index.php"
# 100 KB of real text as HTML: the docs, escaped, one paragraph a block
{
	echo '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>quicsteer docs</title></head><body><main>'
	cat "$ROOT"/docs/*.md "$ROOT"/docs/*.md | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g;
		s/^#\+ \(.*\)/<h2 class="section">\1<\/h2>/; s/^$/<\/p><p class="text">/'
} >"$TMP/gen.html"
head -c 102400 "$TMP/gen.html" >"$DOC/plain.html"
cp "$DOC/plain.html" "$DOC/fly.html"
cp "$DOC/plain.html" "$DOC/pre.html"
brotli -q 11 -k "$DOC/pre.html"
chmod -R a+rX "$TMP"

start_fpm bench-encode "$CHILDREN"
"$ROOT/quicsteerd" --foreground --instance "$INST" --workers "$WORKERS" \
	--listen "127.0.0.1:$PORT" --cert "$ROOT/certs/server.crt" --key "$ROOT/certs/server.key" \
	--docroot "$DOC" --fastcgi "unix:$SOCK" --php-max-children "$CHILDREN" \
	--log-file "$TMP/quicsteerd.log" &
qpid=$!
wait_started bench-encode "/sys/fs/bpf/quicsteer/$INST" "$TMP/quicsteerd.log"

# 1. levels
curl -sk --http2 "https://127.0.0.1:$PORT/index.php" -o "$TMP/demo.html" ||
	die "cannot fetch the demo page"
echo "bench-encode: 1. levels (a fresh encoder a response, window 2^18; peak: encoder memory)"
"$LEVELS" "$TMP/demo.html" "$DOC/plain.html" | sed 's/^/  /'

# run PATH [ACCEPT-ENCODING]: "req/s bytes-per-response server-CPU-us-per-request"
run() {
	local t0 t1 out
	local hdr=()
	[[ -n ${2:-} ]] && hdr=(-H "accept-encoding:$2")
	t0=$(proc_ticks "$qpid")
	out=$("$LOAD" -k --json -c "$CONNS" -m "$STREAMS" -d "$DUR" "${hdr[@]}" \
		"https://127.0.0.1:$PORT/$1") || die "quicsteer-load failed on $1"
	t1=$(proc_ticks "$qpid")
	jq -r --argjson cpu $((t1 - t0)) --argjson hz "$HZ" \
		'"\(.req_per_s) \(.body_bytes / ([.requests_completed, 1] | max) | floor) \($cpu / $hz * 1e6 / ([.requests_completed, 1] | max) | . * 10 | floor / 10)"' <<<"$out"
}

declare -A rps bytes cpu
KINDS=(plain fly pre demo demo-enc)
echo "bench-encode: 2-3. $ROUNDS rounds x {${KINDS[*]}}, ${DUR}s each, $WORKERS workers,"
echo "  $CONNS HTTP/3 connections x $STREAMS requests in flight (demo: php-fpm, $CHILDREN children)"
for ((r = 1; r <= ROUNDS; r++)); do
	for k in "${KINDS[@]}"; do
		case $k in
		plain) read -r a b c < <(run plain.html) ;;
		fly) read -r a b c < <(run fly.html br) ;;
		pre) read -r a b c < <(run pre.html br) ;;
		demo) read -r a b c < <(run index.php) ;;
		demo-enc) read -r a b c < <(run index.php "br, zstd, gzip") ;;
		esac
		rps[$k]+="$a " bytes[$k]+="$b " cpu[$k]+="$c "
		printf '  round %d %-9s %9.0f req/s %8d bytes/response  server CPU %7.1f us/request\n' \
			"$r" "$k" "$a" "$b" "$c"
	done
done
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "medians:"
for k in "${KINDS[@]}"; do
	printf '  %-9s %9.0f req/s %8d bytes/response  server CPU %7.1f us/request\n' "$k" \
		"$(med "${rps[$k]}")" "$(med "${bytes[$k]}")" "$(med "${cpu[$k]}")"
done
awk -v p="$(med "${rps[plain]}")" -v f="$(med "${rps[fly]}")" -v q="$(med "${rps[pre]}")" \
	-v d="$(med "${rps[demo]}")" -v e="$(med "${rps[demo-enc]}")" 'BEGIN {
	printf "  100 KB on the fly / plain       %5.2fx\n", f / p
	printf "  100 KB precompressed / plain    %5.2fx   (target: nothing measurable, >= 0.95x)  %s\n", q / p, (q / p >= 0.95 ? "MET" : "MISSED")
	printf "  demo page compressed / plain    %5.2fx   (target: >= 0.85x)  %s\n", e / d, (e / d >= 0.85 ? "MET" : "MISSED")
	printf "(2 CPUs shared by php-fpm, the server and the load generator: the ratios are\n"
	printf " what this compares; req/s of a 100 KB file is bounded by bytes on loopback)\n"
}'
