#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-steer: the steering program's cost per datagram from the
# kernel's own accounting (kernel.bpf_stats_enabled: run_time_ns/run_cnt),
# net of an empty sk_reuseport program measured in the same run, and the
# loopback flood's delivered datagrams/s with steering on, off and baseline.
# Modes are interleaved over several rounds and the median is reported, so
# a noisy neighbour hurts all modes alike.  A benchmark, not a test.
#
# Env: ROUNDS (default 3), SECONDS_PER_RUN (default 4), WORKERS (default 2),
#      PORTS (source sockets per address, default 32)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
QS=$ROOT/quicsteerd
SEND=$ROOT/.output/qs-send
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-4}
WORKERS=${WORKERS:-2}
PORTS=${PORTS:-32}
INST=bench$$
PIN=/sys/fs/bpf/quicsteer/$INST
PORT=$((20000 + RANDOM % 30000))
LOG=$(mktemp /tmp/qs-bench.XXXXXX.log)
DOCROOT=$(mktemp -d /tmp/qs-bench-docroot.XXXXXX)
chmod 755 "$DOCROOT"
[[ -s $ROOT/certs/server.crt ]] || "$ROOT/scripts/gen-certs.sh" >/dev/null

[[ $(id -u) == 0 ]] || { echo "bench-steer: needs root (sudo make bench-steer)" >&2; exit 1; }

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$PIN" "/run/quicsteer/$INST"
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	rm -f "$LOG"
	rm -rf "$DOCROOT"
}
trap cleanup EXIT
sysctl -qw kernel.bpf_stats_enabled=1

rx_sum() {
	bpftool -j map dump pinned "$PIN/qs_worker_stats" |
		jq '[.[] | .formatted.value.rx_datagrams] | add'
}

prog_stats() { # prints "run_cnt run_time_ns" (0 0 without a program)
	local p
	for p in "$PIN"/qs_steer_l0 "$PIN"/qs_baseline_l0; do
		if [[ -e $p ]]; then
			bpftool -j prog show pinned "$p" | jq -r '"\(.run_cnt // 0) \(.run_time_ns // 0)"'
			return
		fi
	done
	echo "0 0"
}

# run MODE: one flood; prints "ns_per_run delivered_per_s sent_per_s"
run() {
	local mode=$1 rx0 rx1 c0 t0 c1 t1 json secs
	"$QS" --foreground --instance "$INST" --workers "$WORKERS" --steering "$mode" \
		--listen "127.0.0.1:$PORT" --log-file "$LOG" --cert "$ROOT/certs/server.crt" \
		--key "$ROOT/certs/server.key" --docroot "$DOCROOT" &
	pid=$!
	wait_started bench-steer "$PIN" "$LOG"
	rx0=$(rx_sum)
	read -r c0 t0 < <(prog_stats)
	json=$("$SEND" --instance "$INST" --to "127.0.0.1:$PORT" --kind short \
		--duration "$DUR" --from 127.0.0.1 --from 127.0.0.2 --from 127.0.0.3 \
		--ports "$PORTS" --size 100)
	sleep 0.3 # let the workers drain their queues
	rx1=$(rx_sum)
	read -r c1 t1 < <(prog_stats)
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	secs=$(jq .seconds <<<"$json")
	awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v rx=$((rx1 - rx0)) -v s="$secs" \
		-v sent="$(jq .sent <<<"$json")" \
		'BEGIN { printf "%.1f %.0f %.0f\n", c ? t / c : 0, rx / s, sent / s }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A ns rate sent
echo "bench-steer: $ROUNDS rounds x {on, off, baseline}, ${DUR}s loopback flood each," \
	"$WORKERS workers, 3 source addresses x $PORTS ports, 100-byte short-header datagrams"
for ((r = 1; r <= ROUNDS; r++)); do
	for mode in on off baseline; do
		read -r n d s < <(run $mode)
		ns[$mode]+="$n "
		rate[$mode]+="$d "
		sent[$mode]+="$s "
		printf '  round %d %-8s %7s ns/run  %9s delivered/s  %9s sent/s\n' "$r" "$mode" "$n" "$d" "$s"
	done
done

med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }
on_ns=$(med "${ns[on]}")
base_ns=$(med "${ns[baseline]}")
on_rate=$(med "${rate[on]}")
off_rate=$(med "${rate[off]}")
base_rate=$(med "${rate[baseline]}")
awk -v on="$on_ns" -v base="$base_ns" -v ron="$on_rate" -v roff="$off_rate" -v rbase="$base_rate" '
BEGIN {
	net = on - base
	ratio = roff ? 100 * ron / roff : 0
	printf "\nmedians:\n"
	printf "  steering program   %6.1f ns/run (kernel bpf_stats)\n", on
	printf "  empty program      %6.1f ns/run (same run: the accounting itself)\n", base
	printf "  steering cost net  %6.1f ns/datagram   target <= 60   %s\n", net, (net <= 60 ? "MET" : "MISSED")
	printf "  delivered rate     on %.0f/s, off %.0f/s, baseline %.0f/s\n", ron, roff, rbase
	printf "  on / off           %6.1f %%              target >= 97 %%  %s\n", ratio, (ratio >= 97 ? "MET" : "MISSED")
}'
