#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-h3: HTTP/3 serving speed of quicsteer against ngtcp2's gtlsserver
# (package ngtcp2-server), both serving the same docroot on 127.0.0.1, measured
# with .output/quicsteer-load:
#   - requests/s and latency for a 1 KB file (CONNS connections x STREAMS
#     requests in flight, SECONDS_PER_RUN seconds),
#   - MB/s for a 100 MB file (1 connection, DOWNLOADS downloads one after another).
# quicsteer runs with each congestion controller of CC and each worker count
# of WORKERS, paced (the default), and unpaced (--pacing off, the burst-to-
# the-window loop kept for measurement) with each controller of UNPACED_CC
# at the first worker count.  Servers run one at a time; every round starts
# each configuration afresh, in alternating order, and the median of the
# rounds is reported.  Through a bottleneck (rate, shallow queue), pacing
# and the controllers are compared by make bench-pace.  A benchmark, not a test: it fails
# (exit 1) only when a measurement itself fails (a request errs, a server does
# not come up); targets are reported as MET/MISSED.
#
# Env: ROUNDS (default 3), SECONDS_PER_RUN (5), CONNS (8), STREAMS (16),
#      DOWNLOADS (3), WORKERS (quicsteer worker counts, default "1 2"),
#      CC (congestion controllers, default "bbr cubic"), UNPACED_CC (default
#      the first of CC; "" for none),
#      QS_EXTRA_ARGS (more quicsteerd options, e.g. "--access-log /tmp/a/access.log")
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"	# proc_ticks
QS=$ROOT/quicsteerd
LOAD=$ROOT/.output/quicsteer-load
GTLS=$(command -v gtlsserver || echo /usr/sbin/gtlsserver)
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-5}
CONNS=${CONNS:-8}
STREAMS=${STREAMS:-16}
DOWNLOADS=${DOWNLOADS:-3}
WORKERS=${WORKERS:-1 2}
CC=${CC:-bbr cubic}
read -r cc1 _ <<<"$CC"
UNPACED_CC=${UNPACED_CC-$cc1}
INST=benchh3$$
HZ=$(getconf CLK_TCK)
SMALL=1024
BIG=$((100 * 1024 * 1024))

die() { echo "bench-h3: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (sudo make bench-h3)"
[[ -x $LOAD ]] || die "$LOAD missing: build it with 'make $LOAD' (needs scripts/setup.sh)"
[[ -x $GTLS ]] || die "gtlsserver missing: run scripts/setup.sh (package ngtcp2-server)"
command -v jq >/dev/null || die "jq missing: run scripts/setup.sh"

TMP=$(mktemp -d /tmp/qs-bench-h3.XXXXXX)
srv_pid=
cleanup() {
	if [[ -n $srv_pid ]] && kill -0 "$srv_pid" 2>/dev/null; then
		kill -TERM "$srv_pid" 2>/dev/null || true
		wait "$srv_pid" 2>/dev/null || true
	fi
	srv_pid=
	rm -rf "$TMP" "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Docroot: world-readable, since quicsteer's workers run as www-data.
WWW=$TMP/www
mkdir -p "$WWW"
head -c "$SMALL" /dev/urandom >"$WWW/1k.bin"
head -c "$BIG" /dev/urandom >"$WWW/100m.bin"
chmod 755 "$TMP" "$WWW"
chmod 644 "$WWW"/*.bin

[[ -s $ROOT/certs/server.crt ]] || "$ROOT/scripts/gen-certs.sh" >/dev/null
CERT=$ROOT/certs/server.crt KEY=$ROOT/certs/server.key

# quicsteer serves HTTP/3 once quicsteerd knows --docroot; until then, only gtlsserver runs.
QS_SKIP=
if [[ ! -x $QS ]]; then
	QS_SKIP="$QS is not built (make)"
elif ! grep -q -- --docroot <<<"$("$QS" --help 2>&1)"; then
	QS_SKIP="'$QS --help' does not mention --docroot yet (the HTTP/3 worker is not there yet)"
fi
CONFIGS=(gtls)
if [[ -z $QS_SKIP ]]; then
	for w in $WORKERS; do
		for cc in $CC; do CONFIGS+=("qs$w-$cc"); done
	done
	read -r w1 _ <<<"$WORKERS"
	for cc in $UNPACED_CC; do CONFIGS+=("qs$w1-$cc-unpaced"); done
fi

port_free() { [[ -z $(ss -Hlun "sport = :$1") ]]; }
pick_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 30000))
		port_free "$p" && { echo "$p"; return; }
	done
	die "no free UDP port found on 127.0.0.1"
}

# CPU ticks (user + system) of a process and its children (quicsteerd's workers).
# start CONFIG PORT: start the server in the background, wait until it answers.
start_server() {
	local cfg=$1 port=$2 log=$TMP/server.log
	: >"$log"
	case $cfg in
	gtls)
		"$GTLS" --quiet --htdocs "$WWW" 127.0.0.1 "$port" "$KEY" "$CERT" >"$log" 2>&1 &
		srv_pid=$!
		;;
	qs*)
		# qs<W>-<cc>[-unpaced]
		local w cc pacing=on
		IFS=- read -r w cc _ <<<"${cfg#qs}"
		[[ $cfg != *-unpaced ]] || pacing=off
		"$QS" --foreground --instance "$INST" --workers "$w" --cc "$cc" --pacing "$pacing" \
			--listen "127.0.0.1:$port" --cert "$CERT" --key "$KEY" --docroot "$WWW" \
			${QS_EXTRA_ARGS:-} >"$log" 2>&1 &
		srv_pid=$!
		;;
	esac
	for _ in $(seq 100); do
		if ! kill -0 "$srv_pid" 2>/dev/null; then
			echo "bench-h3: $(label "$cfg") exited at start; its log:" >&2
			tail -n 20 "$log" >&2
			srv_pid=
			return 1
		fi
		if "$LOAD" -k -t 1 -n 1 --expect-size "$SMALL" "https://127.0.0.1:$port/1k.bin" \
			>/dev/null 2>&1; then
			# gtlsserver binds with SO_REUSEPORT: make sure no one else shares the port.
			if [[ $(ss -Hlun "sport = :$port" | wc -l) != 1 && $cfg == gtls ]]; then
				echo "bench-h3: another socket shares UDP port $port; not measuring" >&2
				return 1
			fi
			return 0
		fi
		sleep 0.1
	done
	echo "bench-h3: $(label "$cfg") does not answer GET /1k.bin on 127.0.0.1:$port after 10 s; its log:" >&2
	tail -n 20 "$log" >&2
	return 1
}

stop_server() {
	[[ -n $srv_pid ]] || return 0
	kill -TERM "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=
	rm -rf "/sys/fs/bpf/quicsteer/$INST" "/run/quicsteer/$INST"
}

label() {
	case $1 in
	gtls) echo "gtlsserver" ;;
	qs*)
		local w cc
		IFS=- read -r w cc _ <<<"${1#qs}"
		echo "quicsteer W=$w $cc$([[ $1 == *-unpaced ]] && echo ' unpaced')"
		;;
	esac
}

# load ARGS...: one quicsteer-load run against the server; prints its JSON plus the
# server's CPU share as "server_cpu"; returns 1 (and shows why) if the run failed.
load() {
	local t0 t1 json rc=0
	t0=$(proc_ticks "$srv_pid")
	json=$("$LOAD" -k --json "$@" 2>"$TMP/load.err") || rc=$?
	t1=$(proc_ticks "$srv_pid")
	if ((rc != 0)) || [[ -z $json ]]; then
		echo "bench-h3: quicsteer-load $* failed (exit $rc):" >&2
		head -n 5 "$TMP/load.err" >&2
		return 1
	fi
	jq -c --argjson ticks $((t1 - t0)) --argjson hz "$HZ" \
		'. + {server_cpu: (if .elapsed_s > 0 then $ticks / $hz / .elapsed_s else 0 end)}' <<<"$json"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }

declare -A rps p50 p99 mbs ccpu scpu bcpu
failed=0
echo "bench-h3: $ROUNDS rounds x {${CONFIGS[*]}} on 127.0.0.1, $(nproc) CPUs;" \
	"1 KB: $CONNS connections x $STREAMS streams for ${DUR} s; 100 MB: 1 connection x $DOWNLOADS downloads"
[[ -z $QS_SKIP ]] || echo "bench-h3: SKIP quicsteer: $QS_SKIP"
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${CONFIGS[@]}")
	if ((r % 2 == 0)); then # alternate the order so drift hurts every configuration alike
		order=()
		for ((i = ${#CONFIGS[@]} - 1; i >= 0; i--)); do order+=("${CONFIGS[i]}"); done
	fi
	for cfg in "${order[@]}"; do
		port=$(pick_port)
		if ! start_server "$cfg" "$port"; then
			stop_server
			failed=1
			continue
		fi
		url=https://127.0.0.1:$port
		# Warm-up (not counted): caches, CPU frequency, the server's first allocations.
		load -c "$CONNS" -m "$STREAMS" -d 0.5 --expect-size "$SMALL" "$url/1k.bin" >/dev/null || true
		if small=$(load -c "$CONNS" -m "$STREAMS" -d "$DUR" --expect-size "$SMALL" "$url/1k.bin") &&
			big=$(load -c 1 -m 1 -n "$DOWNLOADS" --expect-size "$BIG" "$url/100m.bin"); then
			read -r q l50 l99 cc sc < <(jq -r '"\(.req_per_s) \(.latency_ms.p50) \(.latency_ms.p99) \(.client_cpu_s / .elapsed_s) \(.server_cpu)"' <<<"$small")
			read -r m bc < <(jq -r '"\(.mbytes_per_s) \(.server_cpu)"' <<<"$big")
			rps[$cfg]+="$q " p50[$cfg]+="$l50 " p99[$cfg]+="$l99 " mbs[$cfg]+="$m "
			ccpu[$cfg]+="$cc " scpu[$cfg]+="$sc " bcpu[$cfg]+="$bc "
			printf '  round %d %-27s %8.0f req/s  p50 %6.3f p99 %6.3f ms %7.1f MB/s  CPU server %3.0f%%/%3.0f%% client %3.0f%%\n' \
				"$r" "$(label "$cfg")" "$q" "$l50" "$l99" "$m" "$(awk -v x="$sc" 'BEGIN { print 100 * x }')" \
				"$(awk -v x="$bc" 'BEGIN { print 100 * x }')" "$(awk -v x="$cc" 'BEGIN { print 100 * x }')"
		else
			printf '  round %d %-27s FAILED (see above)\n' "$r" "$(label "$cfg")"
			failed=1
		fi
		stop_server
	done
done

echo
echo "medians of $ROUNDS rounds (CPU: 100% = one CPU; server during the 1 KB / 100 MB runs, client during 1 KB):"
printf '  %-27s %12s %8s %8s %13s  %-15s %s\n' server "req/s (1 KB)" "p50 ms" "p99 ms" "MB/s (100 MB)" "server CPU" "client CPU"
for cfg in "${CONFIGS[@]}"; do
	if [[ -z ${rps[$cfg]:-} ]]; then
		printf '  %-27s %12s\n' "$(label "$cfg")" "no data"
		continue
	fi
	printf '  %-27s %12.0f %8.3f %8.3f %13.1f  %4.0f%% / %4.0f%%  %4.0f%%\n' "$(label "$cfg")" \
		"$(med "${rps[$cfg]}")" "$(med "${p50[$cfg]}")" "$(med "${p99[$cfg]}")" "$(med "${mbs[$cfg]}")" \
		"$(med "${scpu[$cfg]}" | awk '{ print 100 * $1 }')" "$(med "${bcpu[$cfg]}" | awk '{ print 100 * $1 }')" \
		"$(med "${ccpu[$cfg]}" | awk '{ print 100 * $1 }')"
done

echo
if [[ -n $QS_SKIP ]]; then
	echo "  ratio quicsteer/gtlsserver: not measured (quicsteer skipped: $QS_SKIP)"
elif [[ -z ${rps[gtls]:-} ]]; then
	echo "  ratio quicsteer/gtlsserver: no gtlsserver figures"
else
	g_rps=$(med "${rps[gtls]}") g_mbs=$(med "${mbs[gtls]}")
	for cfg in "${CONFIGS[@]}"; do
		[[ $cfg != gtls ]] || continue
		if [[ -z ${rps[$cfg]:-} ]]; then
			echo "  $(label "$cfg") / gtlsserver: no quicsteer figures   MISSED"
			continue
		fi
		awk -v q="$(med "${rps[$cfg]}")" -v g="$g_rps" -v qm="$(med "${mbs[$cfg]}")" -v gm="$g_mbs" -v w="$(label "$cfg")" 'BEGIN {
			r1 = g ? q / g : 0; r2 = gm ? qm / gm : 0
			printf "  %-27s / gtlsserver: req/s (1 KB)   %5.2fx   target >= 1.0x   %s\n", w, r1, (r1 >= 1.0 ? "MET" : "MISSED")
			printf "  %-27s / gtlsserver: MB/s (100 MB)  %5.2fx   target >= 1.0x   %s\n", w, r2, (r2 >= 1.0 ? "MET" : "MISSED")
		}'
	done
fi
echo
echo "notes: gtlsserver ($(dpkg-query -W -f='ngtcp2-server ${Version}' ngtcp2-server 2>/dev/null || echo 'ngtcp2-server'), GnuTLS) is ngtcp2's"
echo "  example server: ONE single-threaded process (CUBIC). W=1 compares per-process efficiency, W=2"
echo "  what quicsteer gets out of this machine. The load generator shares the same $(nproc) CPUs:"
echo "  with client CPU near 100% a figure is bounded by the client, not the server."
echo "  MB = 10^6 bytes; latency from sending a request to the end of its response."
if ((failed)); then
	echo "bench-h3: some measurements FAILED (see above)" >&2
	exit 1
fi
