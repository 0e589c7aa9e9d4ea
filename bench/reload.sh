#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-reload: what a reload costs new connections, with CID steering
# and with --steering off, in one run.  For each: quicsteerd with WORKERS
# workers, long transfers always in flight (2 downloads of 20 MB over HTTP/3
# and 2 over HTTP/2, paced by the client at 6 MB/s, so a drain lasts a few
# seconds), and new connections at a steady rate:
#   - QUIC: quicsteer-load --reconnect --conn-rate RATE (a handshake and a GET
#     each), its handshake times (from the first Initial to the handshake's
#     end) and its failures;
#   - TCP+TLS: h2load at RATE/5 connections a second (a GET each over
#     HTTP/2), its failures and its longest connect time;
# first for STEADY seconds with no reload (steady state), then during
# RELOADS reloads (`quicsteerctl reload`), then during UPGRADES binary
# upgrades (`quicsteerctl upgrade`: the loader execs the same binary, which
# adopts everything and reloads into its own workers), each action once the
# previous generation has drained and 1.5 s after that.  Target: no
# failure, and the p99 QUIC handshake during the reloads and during the
# upgrades within 2x of the steady state's.
# A benchmark, not a test: it fails (exit 1) only when a measurement fails
# (the server does not come up, an action is refused).
#
# Env: ACTION (all: reload then upgrade; reload; upgrade), RELOADS (5),
# UPGRADES (2), ACTIONS (the count of a single ACTION), STEADY (20),
# RATE (50), WORKERS (2)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
QS=$ROOT/quicsteerd
LOAD=$ROOT/.output/quicsteer-load
ACTION=${ACTION:-all}
RELOADS=${RELOADS:-5}
UPGRADES=${UPGRADES:-2}
STEADY=${STEADY:-20}
RATE=${RATE:-50}
WORKERS=${WORKERS:-2}
TCP_RATE=$((RATE / 5 > 0 ? RATE / 5 : 1))
BIG=20000000
INST=benchrl$$
PIN=/sys/fs/bpf/quicsteer/$INST
PORT=$((20000 + RANDOM % 20000))
TMP=$(mktemp -d /tmp/qs-bench-reload.XXXXXX)
qpid= lpids=()

die() { echo "bench-reload: $*" >&2; exit 1; }
case $ACTION in
reload) KINDS=(reload); RELOADS=${ACTIONS:-$RELOADS} ;;
upgrade) KINDS=(upgrade); UPGRADES=${ACTIONS:-$UPGRADES} ;;
all) KINDS=(reload upgrade) ;;
*) die "ACTION=$ACTION: expected reload, upgrade or all" ;;
esac
count_of() { [[ $1 == reload ]] && echo "$RELOADS" || echo "$UPGRADES"; } # KIND
[[ $(id -u) == 0 ]] || die "needs root (sudo make bench-reload)"
[[ -x $LOAD ]] || die "$LOAD missing: build it with 'make $LOAD' (needs scripts/setup.sh)"
[[ $("$LOAD" --help 2>&1) == *--conn-rate* ]] || die "$LOAD has no --conn-rate: rebuild it"
for t in jq curl h2load; do
	command -v "$t" >/dev/null || die "$t missing (h2load: package nghttp2-client)"
done

stop_load() {
	local p
	touch "$TMP/stop"
	for p in "${lpids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	lpids=()
	rm -f "$TMP/stop"
}
stop_server() {
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	qpid=
	rm -rf "$PIN" "/run/quicsteer/$INST"
	return 0
}
cleanup() {
	stop_load
	stop_server
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

DOC=$TMP/www
mkdir -p "$DOC"
head -c "$BIG" /dev/urandom >"$DOC/big.bin"
head -c 1024 /dev/urandom >"$DOC/1k.bin"
chmod -R a+rX "$TMP"

start_qs() { # STEERING
	"$QS" --foreground --instance "$INST" --workers "$WORKERS" --steering "$1" \
		--listen "127.0.0.1:$PORT" --cert "$ROOT/certs/server.crt" \
		--key "$ROOT/certs/server.key" --docroot "$DOC" --drain-timeout 10 \
		--log-file "$TMP/quicsteerd-$1.log" &
	qpid=$!
	wait_started bench-reload "$PIN" "$TMP/quicsteerd-$1.log"
}

# the long transfers: each loop downloads again as soon as one ends
start_transfers() {
	local i
	for i in 1 2; do
		while [[ ! -e $TMP/stop ]]; do
			"$LOAD" -k -n 1 -t 10 --rate 6M --expect-size "$BIG" \
				"https://127.0.0.1:$PORT/big.bin" >/dev/null 2>&1 ||
				echo h3 >>"$TMP/broken"
		done &
		lpids+=($!)
		while [[ ! -e $TMP/stop ]]; do
			[[ $(curl -sk --http2 --limit-rate 6M --max-time 15 -o /dev/null \
				-w '%{http_code} %{size_download}' "https://127.0.0.1:$PORT/big.bin") == \
				"200 $BIG" ]] || echo h2 >>"$TMP/broken"
		done &
		lpids+=($!)
	done
}

# The workers are the loader's only children.  Not the pids in the
# workers' counters: a bpftool dump and jq cost 80 ms of CPU, and polled
# every 50 ms during the drains they doubled the p99 handshake time.
workers() { cat "/proc/$qpid/task/$qpid/children"; }
gone() { # PID...: none of them is still running (a zombie counts as gone)
	local p
	for p in "$@"; do
		[[ -e /proc/$p && $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1) != Z ]] &&
			return 1
	done
	return 0
}
wait_gone() { # PID...
	for _ in $(seq 400); do
		gone "$@" && return 0
		sleep 0.05
	done
	die "the previous generation's workers ($*) still run after 20 s"
}

# action KIND: quicsteerctl reload, or upgrade (to the binary at the
# loader's path: this one), which answers once the new binary adopted the
# instance and started its generation
action() {
	local out
	out=$("$ROOT/quicsteerctl" -i "$INST" "$1" 2>&1) ||
		die "quicsteerctl $1 refused: $out; $(tail -3 "$TMP"/quicsteerd-*.log)"
}

# measure NAME SECONDS|KIND: new connections for that long or during the
# actions of that kind; leaves $TMP/NAME.json (QUIC) and $TMP/NAME.h2
# (h2load's lines)
measure() {
	local name=$1 what=$2 lp hp i old
	"$LOAD" -k --reconnect --conn-rate "$RATE" -c 64 -d 600 -t 5 --json \
		"https://127.0.0.1:$PORT/1k.bin" >"$TMP/$name.json" 2>/dev/null &
	lp=$!
	while [[ ! -e $TMP/stop-h2 ]]; do
		# one connection every 5/RATE s, evenly spaced, 2 s a run
		h2load -c "$((2 * TCP_RATE))" -n "$((2 * TCP_RATE))" -r 1 \
			--rate-period "$((1000 / TCP_RATE))ms" "https://127.0.0.1:$PORT/1k.bin" 2>&1 |
			grep -E '^(requests|time for connect):' || true
	done >"$TMP/$name.h2" &
	hp=$!
	if [[ $what == reload || $what == upgrade ]]; then
		for ((i = 1; i <= $(count_of "$what"); i++)); do
			old=$(workers)
			action "$what"
			# shellcheck disable=SC2086
			wait_gone $old
			sleep 1.5
		done
	else
		sleep "$what"
	fi
	kill -TERM "$lp"
	wait "$lp" || true
	touch "$TMP/stop-h2"
	wait "$hp" || true
	rm -f "$TMP/stop-h2"
}

h2_sum() { # FILE FIELD
	awk -v f="$2" '/^requests:/ {for (i = 1; i <= NF; i++) if ($i ~ "^" f) s += $(i - 1)}
		END {print s + 0}' "$1"
}
h2_connect_max() { # FILE: the longest "time for connect" of h2load's runs, ms
	awk '/^time for connect:/ {v = $5; u = $5; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; if (v > m) m = v}
		END {printf "%.1f", m}' "$1"
}

# quic_lost NAME: new QUIC connections that failed (in the handshake or
# after), or whose request did not come back whole
quic_lost() {
	jq '.connections_failed + .failed_reset + .failed_size' "$TMP/$1.json"
}

# row NAME: the figures of one measurement (h2load's failed includes its
# errored and timeout)
row() {
	local j=$TMP/$1.json f=$TMP/$1.h2
	printf '  %-14s QUIC %5d conns %4d failed (%5.2f%%) p50 %6.2f ms p99 %7.2f ms max %7.1f ms | TCP %4d conns %3d failed, connect max %s ms\n' \
		"$1" "$(jq '.handshakes_ok + .handshakes_failed' "$j")" "$(quic_lost "$1")" \
		"$(jq '(.connections_failed + .failed_reset + .failed_size) * 100 /
			([.handshakes_ok + .handshakes_failed, 1] | max)' "$j")" \
		"$(jq .handshake_ms.p50 "$j")" "$(jq .handshake_ms.p99 "$j")" \
		"$(jq .handshake_ms.max "$j")" \
		"$(h2_sum "$f" total)" "$(h2_sum "$f" failed)" "$(h2_connect_max "$f")"
}

echo "bench-reload: $WORKERS workers, new connections at $RATE/s over QUIC and $TCP_RATE/s over"
echo "  TCP+TLS (HTTP/2), 4 downloads of 20 MB in flight (2 over HTTP/3, 2 over HTTP/2,"
plan=
for kind in "${KINDS[@]}"; do
	plan+="${plan:+, then }$(count_of "$kind") x $kind"
done
echo "  6 MB/s each); ${STEADY}s steady, then $plan (each once the previous"
echo "  generation is gone, 1.5 s apart); --drain-timeout 10"
for steering in on off; do
	: >"$TMP/broken"
	start_qs "$steering"
	start_transfers
	sleep 2
	measure "$steering-steady" "$STEADY"
	for kind in "${KINDS[@]}"; do
		# a long download broken during this phase is counted for it
		wc -l <"$TMP/broken" >"$TMP/$steering-$kind.broken-before"
		measure "$steering-$kind" "$kind"
		echo $(( $(wc -l <"$TMP/broken") - $(cat "$TMP/$steering-$kind.broken-before") )) \
			>"$TMP/$steering-$kind.broken"
	done
	stop_load
	stop_server
	echo "$(wc -l <"$TMP/broken")" >"$TMP/$steering.broken"
done
echo
for steering in on off; do
	echo "steering $steering: $(cat "$TMP/$steering.broken") long downloads broken" \
		"($(for kind in "${KINDS[@]}"; do printf '%s during the %ss ' \
			"$(cat "$TMP/$steering-$kind.broken")" "$kind"; done | sed 's/ $//'))"
	row "$steering-steady"
	for kind in "${KINDS[@]}"; do
		row "$steering-$kind"
	done
done
echo
for steering in on off; do
	s=$(jq .handshake_ms.p99 "$TMP/$steering-steady.json")
	for kind in "${KINDS[@]}"; do
		r=$(jq .handshake_ms.p99 "$TMP/$steering-$kind.json")
		lost=$(($(quic_lost "$steering-$kind") + $(h2_sum "$TMP/$steering-$kind.h2" failed)))
		awk -v st="$steering" -v s="$s" -v r="$r" -v lost="$lost" -v a="$kind" 'BEGIN {
			ratio = s > 0 ? r / s : 0
			printf "steering %-3s p99 handshake during the %ss / steady: %6.2fx; new connections lost: %d", st, a, ratio, lost
			if (st == "on")
				printf "  %s", (lost == 0 && ratio <= 2.0) ? "MET" : "MISSED"
			printf "\n"
		}'
	done
done
