#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-pace: a download through a bottleneck, paced against unpaced,
# BBR against CUBIC.  .output/qs-relay sits between the client
# (.output/quicsteer-load) and the server: a RATE link each way from the
# server, a QUEUE-packet queue that drops what does not fit (a shallow
# router buffer), DELAY ms each way.  Each configuration downloads a SIZE MB
# file once per round; rounds alternate the order; medians are reported:
#   - MB/s (10^6 bytes, the client's figure),
#   - the relay's drops (datagrams from the server that did not fit),
#   - the packets ngtcp2 declared lost (the worker's debug line when the
#     connection closes; not available from gtlsserver),
#   - datagrams the server sent (worker counter; the relay's count for gtlsserver).
# quicsteer runs with 1 worker, each controller of CC, --pacing on and off;
# gtlsserver (ngtcp2's example server, which paces) with each of CC as a
# reference.  A benchmark, not a test: it fails only when a measurement fails.
#
# Env: ROUNDS (default 3), CC ("bbr cubic"), SIZE (MB, 20), RATE (40mbit,
#      qs-relay's syntax), QUEUE (packets, 32), DELAY (ms each way, 10)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QS=$ROOT/quicsteerd
LOAD=$ROOT/.output/quicsteer-load
RELAY=$ROOT/.output/qs-relay
GTLS=$(command -v gtlsserver || echo /usr/sbin/gtlsserver)
ROUNDS=${ROUNDS:-3}
CC=${CC:-bbr cubic}
SIZE=${SIZE:-20}
RATE=${RATE:-40mbit}
QUEUE=${QUEUE:-32}
DELAY=${DELAY:-10}
INST=benchpace$$

die() { echo "bench-pace: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (sudo make bench-pace)"
for f in "$QS" "$LOAD" "$RELAY"; do
	[[ -x $f ]] || die "$f missing: build it with 'make' (needs scripts/setup.sh)"
done
[[ -x $GTLS ]] || die "gtlsserver missing: run scripts/setup.sh (package ngtcp2-server)"
command -v jq >/dev/null || die "jq missing: run scripts/setup.sh"

TMP=$(mktemp -d /tmp/qs-bench-pace.XXXXXX)
WWW=$TMP/www
srv_pid= relay_pid=
stop() { # PID...: SIGTERM and wait
	local p
	for p in "$@"; do
		[[ -n $p ]] || continue
		kill -TERM "$p" 2>/dev/null || continue
		wait "$p" 2>/dev/null || true
	done
}
cleanup() {
	stop "$relay_pid" "$srv_pid"
	rm -rf "$TMP" "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

mkdir "$WWW"
head -c $((SIZE * 1000000)) /dev/urandom >"$WWW/file.bin"
echo ping >"$WWW/ping.txt"
chmod 755 "$TMP" "$WWW"
chmod 644 "$WWW/file.bin" "$WWW/ping.txt"
[[ -s $ROOT/certs/server.crt ]] || "$ROOT/scripts/gen-certs.sh" >/dev/null
CERT=$ROOT/certs/server.crt KEY=$ROOT/certs/server.key

CONFIGS=()
for cc in $CC; do CONFIGS+=("qs-$cc-on" "qs-$cc-off" "gtls-$cc"); done

label() {
	case $1 in
	qs-*-on) echo "quicsteer ${1:3:-3} paced" ;;
	qs-*-off) echo "quicsteer ${1:3:-4} unpaced" ;;
	gtls-*) echo "gtlsserver ${1#gtls-}" ;;
	esac
}

# measure CONFIG: start the server and the relay, download once; prints
# "MB/s drops lost sent" ("-" where the figure does not exist)
measure() {
	local cfg=$1 port=$((20000 + RANDOM % 30000)) log=$TMP/server.log json lost=- sent cc
	: >"$log"
	if [[ $cfg == qs-* ]]; then
		IFS=- read -r _ cc pacing <<<"$cfg"
		"$QS" --foreground --instance "$INST" --workers 1 --cc "$cc" --pacing "$pacing" \
			--log-level debug --log-file "$log" --listen "127.0.0.1:$port" \
			--cert "$CERT" --key "$KEY" --docroot "$WWW" 2>>"$log" &
	else
		"$GTLS" --quiet --cc="${cfg#gtls-}" --htdocs "$WWW" 127.0.0.1 "$port" "$KEY" "$CERT" \
			>"$log" 2>&1 &
	fi
	srv_pid=$!
	rm -f "$TMP/relay.port"
	"$RELAY" --server "127.0.0.1:$port" --port-file "$TMP/relay.port" --stats-file "$TMP/relay.json" \
		--down-rate "$RATE" --down-queue-packets "$QUEUE" --delay "$DELAY" >/dev/null &
	relay_pid=$!
	for _ in $(seq 100); do
		# the server answers directly before the measured download goes through the relay
		[[ -s $TMP/relay.port ]] && "$LOAD" -k -t 1 -n 1 "https://127.0.0.1:$port/ping.txt" \
			>/dev/null 2>&1 && break
		kill -0 "$srv_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$(label "$cfg") exited at start"; }
		sleep 0.1
	done
	local before=0
	[[ $cfg == gtls-* ]] || before=$(bpftool -j map dump pinned "/sys/fs/bpf/quicsteer/$INST/qs_worker_stats" |
		jq '[.[].formatted.value.tx_datagrams] | add')
	local rport
	rport=$(cat "$TMP/relay.port")
	json=$("$LOAD" -k --json -t 10 -n 1 --expect-size "$((SIZE * 1000000))" \
		"https://127.0.0.1:$rport/file.bin" 2>"$TMP/load.err") ||
		{ head -n 5 "$TMP/load.err" >&2; die "$(label "$cfg"): the download failed"; }
	stop "$relay_pid"
	relay_pid=
	if [[ $cfg == qs-* ]]; then
		sent=$(( $(bpftool -j map dump pinned "/sys/fs/bpf/quicsteer/$INST/qs_worker_stats" |
			jq '[.[].formatted.value.tx_datagrams] | add') - before ))
	fi
	# quicsteer logs a connection when it goes: at the latest when it stops
	stop "$srv_pid"
	srv_pid=
	if [[ $cfg == qs-* ]]; then
		# the measured connection's line: the one that sent the most
		lost=$(sed -n 's/.*closed: \([0-9]*\) packets sent.*), \([0-9]*\) lost.*/\1 \2/p' "$log" |
			sort -n | tail -1 | cut -d' ' -f2)
	else
		sent=$(jq '.down.received' "$TMP/relay.json")
	fi
	rm -rf "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
	echo "$(jq .mbytes_per_s <<<"$json") $(jq .down.dropped "$TMP/relay.json") ${lost:--} $sent"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { tr ' ' '\n' <<<"$1" | { grep -v '^-*$' || true; } | median; }

declare -A mbs drops lost sent
echo "bench-pace: $ROUNDS rounds x {${CONFIGS[*]}}; $SIZE MB through qs-relay: $RATE, a" \
	"$QUEUE-packet queue, $DELAY ms each way; $(nproc) CPUs"
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${CONFIGS[@]}")
	if ((r % 2 == 0)); then
		order=()
		for ((i = ${#CONFIGS[@]} - 1; i >= 0; i--)); do order+=("${CONFIGS[i]}"); done
	fi
	for cfg in "${order[@]}"; do
		read -r m d l s < <(measure "$cfg")
		mbs[$cfg]+="$m " drops[$cfg]+="$d " lost[$cfg]+="$l " sent[$cfg]+="$s "
		printf '  round %d %-26s %6.2f MB/s  relay drops %5d  ngtcp2 lost %5s  datagrams sent %6d\n' \
			"$r" "$(label "$cfg")" "$m" "$d" "$l" "$s"
	done
done

echo
echo "medians of $ROUNDS rounds:"
printf '  %-26s %8s %12s %12s %15s\n' server MB/s "relay drops" "ngtcp2 lost" "datagrams sent"
for cfg in "${CONFIGS[@]}"; do
	l=$(med "${lost[$cfg]}")
	printf '  %-26s %8.2f %12.0f %12s %15.0f\n' "$(label "$cfg")" "$(med "${mbs[$cfg]}")" \
		"$(med "${drops[$cfg]}")" "${l:--}" "$(med "${sent[$cfg]}")"
done
echo
echo "notes: the link carries $RATE of UDP payload, so $SIZE MB take at least" \
	"$(awk -v s="$SIZE" -v r="$RATE" 'BEGIN { x = r + 0; if (r ~ /mbit$/) x *= 1e6 / 8; else if (r ~ /kbit$/) x *= 1e3 / 8; else if (r ~ /M$/) x *= 1e6; else if (r ~ /k$/) x *= 1e3; printf "%.1f", s * 1e6 / x }') s;" \
	"gtlsserver is $(dpkg-query -W -f='ngtcp2-server ${Version}' ngtcp2-server 2>/dev/null || echo 'ngtcp2-server'), which paces."
