#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-idle: memory of idle HTTP/3 connections.  CONNS clients (10,000
# by default, each its own UDP source port: .output/quicsteer-load, 200
# handshakes at a time) complete a handshake and one 1 KB GET each, then
# stay connected and idle; the
# server's resident memory (RSS) is read before and while they idle.
# quicsteer (one worker: the worker's RSS) is measured side by side with
# ngtcp2's gtlsserver (package ngtcp2-server), on the same docroot and
# certificate, in alternating order, ROUNDS times; the medians are
# reported.  A benchmark, not a test: it fails (exit 1) only when a
# measurement fails (a server does not come up, connections fail).
#
# Env: ROUNDS (default 3), CONNS (10000), IDLE (idle phase, s; default 8)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QS=$ROOT/quicsteerd
LOAD=$ROOT/.output/quicsteer-load
GTLS=$(command -v gtlsserver || echo /usr/sbin/gtlsserver)
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-10000}
IDLE=${IDLE:-8}
INST=benchidle$$

die() { echo "bench-idle: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (sudo make bench-idle)"
[[ -x $LOAD ]] || die "$LOAD missing: build it with 'make' (needs scripts/setup.sh)"
[[ -x $GTLS ]] || die "gtlsserver missing: run scripts/setup.sh (package ngtcp2-server)"
[[ -x $QS ]] || die "$QS is not built (make)"
# the client holds a socket per connection
(( $(ulimit -n) > CONNS + 100 )) || ulimit -n $((CONNS + 1000)) ||
	die "the descriptor limit ($(ulimit -n)) is below CONNS=$CONNS: raise it"

TMP=$(mktemp -d /tmp/qs-bench-idle.XXXXXX)
srv_pid= load_pid=
cleanup() {
	[[ -n $load_pid ]] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
	if [[ -n $srv_pid ]] && kill -0 "$srv_pid" 2>/dev/null; then
		kill -TERM "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	srv_pid= load_pid=
	rm -rf "$TMP" "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

WWW=$TMP/www
mkdir -p "$WWW"
head -c 1024 /dev/urandom >"$WWW/1k.bin"
chmod 755 "$TMP" "$WWW"
chmod 644 "$WWW"/1k.bin
[[ -s $ROOT/certs/server.crt ]] || "$ROOT/scripts/gen-certs.sh" >/dev/null
CERT=$ROOT/certs/server.crt KEY=$ROOT/certs/server.key

pick_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 30000))
		[[ -z $(ss -Hlun "sport = :$p") ]] && { echo "$p"; return; }
	done
	die "no free UDP port found on 127.0.0.1"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# start CONFIG PORT: the server in the background; sets srv_pid and mem_pid
# (the process whose memory holds the connections: quicsteer's worker)
start_server() {
	local cfg=$1 port=$2 log=$TMP/server.log
	case $cfg in
	gtls)
		# idle timeout past the idle phase, as quicsteer's
		"$GTLS" --quiet --timeout=60s --htdocs "$WWW" 127.0.0.1 "$port" "$KEY" "$CERT" \
			>"$log" 2>&1 &
		srv_pid=$!
		;;
	qs)
		"$QS" --foreground --instance "$INST" --workers 1 --idle-timeout 60 \
			--listen "127.0.0.1:$port" --cert "$CERT" --key "$KEY" --docroot "$WWW" \
			>"$log" 2>&1 &
		srv_pid=$!
		;;
	esac
	for _ in $(seq 100); do
		kill -0 "$srv_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$cfg exited at start"; }
		if "$LOAD" -k -t 1 -n 1 "https://127.0.0.1:$port/1k.bin" >/dev/null 2>&1; then
			mem_pid=$srv_pid
			[[ $cfg == qs ]] && mem_pid=$(pgrep -P "$srv_pid" | head -1)
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	die "$cfg does not answer on 127.0.0.1:$port"
}

stop_server() {
	kill -TERM "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=
}

# measure CONFIG: prints "RSS_BEFORE_KB RSS_IDLE_KB CONNECTED"
measure() {
	local cfg=$1 port before idle n
	port=$(pick_port)
	start_server "$cfg" "$port"
	sleep 0.5
	before=$(rss_kb "$mem_pid")
	"$LOAD" -k --json -c "$CONNS" -m 1 -n "$CONNS" -t 60 --ramp 200 --linger "$IDLE" \
		"https://127.0.0.1:$port/1k.bin" >"$TMP/load.json" 2>"$TMP/load.err" &
	load_pid=$!
	for _ in $(seq 1200); do
		grep -q "held open and idle" "$TMP/load.err" && break
		kill -0 "$load_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "held open and idle" "$TMP/load.err" ||
		{ cat "$TMP/load.err" >&2; die "$cfg: the connections did not all complete"; }
	n=$(sed -n 's/.*requests done; \([0-9]*\) connections held.*/\1/p' "$TMP/load.err")
	sleep 2	# the last acknowledgements and the server's timers settle
	idle=$(rss_kb "$mem_pid")
	wait "$load_pid" || { cat "$TMP/load.err" >&2; die "$cfg: the load client failed"; }
	load_pid=
	stop_server
	echo "$before $idle $n"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "bench-idle: $CONNS connections, a handshake and one 1 KB GET each, then idle ${IDLE} s;"
echo "            server RSS before and while idle, $ROUNDS rounds, medians"
declare -A grow
for r in $(seq "$ROUNDS"); do
	order=(qs gtls)
	((r % 2)) || order=(gtls qs)
	for cfg in "${order[@]}"; do
		# in this shell, so that the exit trap knows the server to stop
		measure "$cfg" >"$TMP/measure"
		read -r before idle n <"$TMP/measure"
		((n == CONNS)) || die "$cfg: $n of $CONNS connections open in the idle phase"
		grow[$cfg]+="$((idle - before)) "
		printf '  round %d %-9s RSS %7d kB -> %7d kB  (+%d kB, %d connections)\n' \
			"$r" "$cfg" "$before" "$idle" "$((idle - before))" "$n"
	done
done
qs_kb=$(tr ' ' '\n' <<<"${grow[qs]}" | grep . | median)
gt_kb=$(tr ' ' '\n' <<<"${grow[gtls]}" | grep . | median)
echo
printf '%-34s %10s %14s\n' "server" "+RSS (MB)" "per conn (KB)"
awk -v q="$qs_kb" -v g="$gt_kb" -v n="$CONNS" 'BEGIN {
	printf "%-34s %10.1f %14.1f\n", "quicsteer (1 worker)", q / 1024, q / n
	printf "%-34s %10.1f %14.1f\n", "gtlsserver (ngtcp2 example)", g / 1024, g / n
	printf "ratio quicsteer / gtlsserver: %.2f\n", g ? q / g : 0
}'
