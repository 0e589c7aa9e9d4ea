#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench-resume: what session tickets and 0-RTT buy, side by side in one run.
#   1. Handshakes per second of ONE worker (--workers 1), full against resumed:
#      quicsteer-load --reconnect keeps CONNS connection loops busy, each
#      connection doing its handshake, one GET of a 1 KB file and a close; in
#      resumed mode every connection resumes the ticket of the first one.  The
#      worker's CPU time per handshake (/proc/PID/stat) is printed too: on a
#      small machine the load generator competes with the worker for the same
#      CPUs, and the CPU cost per handshake is the figure that does not depend
#      on who wins.  Target: resumed >= 2x full.  The same pair again with a
#      client that offers only an X25519 key share (not OpenSSL 3.5's hybrid
#      X25519MLKEM768) shows what the post-quantum key exchange weighs in it.
#   2. Time to first byte with a 50 ms round trip: quicsteerd in one network
#      namespace, the client in another, a veth pair between them (198.18.0.0/15,
#      the benchmarking range), 25 ms of netem delay on each side.  One full
#      handshake connection after another, then resumed ones without and with
#      0-RTT; medians.  Target: the 0-RTT first byte one RTT earlier (about 1
#      RTT against 2).  On a kernel without netem (CONFIG_NET_SCH_NETEM) a UDP
#      relay in the client namespace delays each datagram 25 ms each way
#      instead, and the report says so.
# A benchmark, not a test: it fails (exit 1) only when a measurement fails
# (a request errs, the server does not come up, no handshake resumes); targets
# are printed as MET/MISSED.
#
# Env: ROUNDS (3), SECONDS_PER_RUN (4), CONNS (16), TTFB_RUNS (10)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QS=$ROOT/quicsteerd
LOAD=$ROOT/.output/quicsteer-load
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-4}
CONNS=${CONNS:-16}
TTFB_RUNS=${TTFB_RUNS:-10}
DELAY_MS=25
RTT_MS=$((2 * DELAY_MS))
INST=benchres$$
PIN=/sys/fs/bpf/quicsteer/$INST
HZ=$(getconf CLK_TCK)
NS_S=qsb-srv-$$ NS_C=qsb-cli-$$
VETH_S=qsbs$$ VETH_C=qsbc$$
ADDR_S=198.18.0.1 ADDR_C=198.18.0.2
NS_PORT=4433

die() { echo "bench-resume: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (sudo make bench-resume)"
[[ -x $LOAD ]] || die "$LOAD missing: build it with 'make $LOAD' (needs scripts/setup.sh)"
[[ -x $QS ]] || die "$QS is not built (make)"
for t in jq bpftool ip tc nsenter; do
	command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh"
done
# (whole outputs first: grep -q closing the pipe early would fail it under pipefail)
[[ $("$QS" --help 2>&1) == *--ticket-keys* ]] ||
	die "'$QS --help' does not mention --ticket-keys: this quicsteerd has no session tickets"
[[ $("$LOAD" --help 2>&1) == *--early-data* ]] ||
	die "$LOAD has no --early-data: rebuild it (make $LOAD)"

TMP=$(mktemp -d /tmp/qs-bench-resume.XXXXXX)
srv_pid= relay_pid= netns_made=
stop_server() {
	if [[ -n $srv_pid ]] && kill -0 "$srv_pid" 2>/dev/null; then
		kill -TERM "$srv_pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$srv_pid" 2>/dev/null || true
	fi
	[[ -z $srv_pid ]] || wait "$srv_pid" 2>/dev/null || true
	srv_pid=
	rm -rf "$PIN" "/run/quicsteer/$INST"
}
cleanup() {
	stop_server
	if [[ -n $relay_pid ]]; then
		kill -TERM "$relay_pid" 2>/dev/null || true
		wait "$relay_pid" 2>/dev/null || true
	fi
	if [[ -n $netns_made ]]; then
		# deleting a namespace deletes the veth end in it, and so the pair
		ip netns del "$NS_S" 2>/dev/null || true
		ip netns del "$NS_C" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Docroot: world-readable, since quicsteer's workers run as www-data.
WWW=$TMP/www
mkdir -p "$WWW"
head -c 1024 /dev/urandom >"$WWW/1k.bin"
chmod 755 "$TMP" "$WWW"
chmod 644 "$WWW/1k.bin"

[[ -s $ROOT/certs/server.crt ]] || "$ROOT/scripts/gen-certs.sh" >/dev/null
CERT=$ROOT/certs/server.crt KEY=$ROOT/certs/server.key

# in_ns NS CMD...: run CMD in network namespace NS only (same mounts: the pins
# under /sys/fs/bpf stay visible; 'ip netns exec' would remount /sys)
in_ns() {
	local ns=$1
	shift
	if [[ -z $ns ]]; then
		"$@"
	else
		nsenter --net="/run/netns/$ns" -- "$@"
	fi
}

# (until the loader has pinned the map, bpftool answers {"error": ...}: no workers)
stats_json() { bpftool -j map dump pinned "$PIN/qs_worker_stats" 2>/dev/null | jq -c 'arrays'; }
# counter FIELD: summed over the instance's workers
counter() { stats_json | jq "[.[] | .formatted.value.$1] | add // 0"; }
worker_pid() { stats_json | jq -r '[.[] | .formatted.value | select(.pid > 0) | .pid] | first // empty'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# start_server NS LISTEN URL: quicsteerd with one worker in namespace NS ("" for
# this one), up when its worker runs and URL answers from the client side.
start_server() {
	local ns=$1 listen=$2 url=$3 client_ns=${4:-} log=$TMP/server.log
	: >"$log"
	# --retry never: the handshakes themselves are measured, not the Retry defence
	# that --retry auto turns on above 2000 new connections per second and worker
	local cmd=("$QS" --foreground --instance "$INST" --workers 1 --retry never
		--listen "$listen" --cert "$CERT" --key "$KEY" --docroot "$WWW" --log-file "$log")
	# not through in_ns: a backgrounded function is a subshell, and $! must be
	# quicsteerd itself (nsenter execs it)
	if [[ -z $ns ]]; then
		"${cmd[@]}" >>"$log" 2>&1 &
	else
		nsenter --net="/run/netns/$ns" -- "${cmd[@]}" >>"$log" 2>&1 &
	fi
	srv_pid=$!
	for _ in $(seq 100); do
		if ! kill -0 "$srv_pid" 2>/dev/null; then
			echo "bench-resume: quicsteerd exited at start; its log:" >&2
			tail -n 20 "$log" >&2
			srv_pid=
			return 1
		fi
		if [[ -n $(worker_pid) ]] &&
			in_ns "$client_ns" "$LOAD" -k -t 1 -n 1 --expect-size 1024 "$url/1k.bin" \
				>/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench-resume: quicsteerd does not answer GET $url/1k.bin after 10 s; its log:" >&2
	tail -n 20 "$log" >&2
	return 1
}

# load NS ARGS...: one quicsteer-load run (JSON on stdout); 1 when it failed
load() {
	local ns=$1 json rc=0
	shift
	json=$(in_ns "$ns" "$LOAD" -k --json --expect-size 1024 "$@" 2>"$TMP/load.err") || rc=$?
	if ((rc != 0)) || [[ -z $json ]]; then
		echo "bench-resume: quicsteer-load $* failed (exit $rc):" >&2
		head -n 5 "$TMP/load.err" >&2
		return 1
	fi
	echo "$json"
}

# gtls_ms ARGS...: one gtlsclient connection to the namespaced server; prints the
# time from its start to the first response byte on stream 0, in ms (ngtcp2's
# log timestamps, 1 ms resolution), or nothing
gtls_ms() {
	local hp=${NS_URL#https://}
	timeout 15 nsenter --net="/run/netns/$NS_C" -- gtlsclient --no-http-dump \
		--exit-on-all-streams-close --timeout=5s "$@" "${hp%:*}" "${hp##*:}" \
		https://localhost/1k.bin 2>&1 |
		awk '!seen && / frm rx .* STREAM\(0x[0-9a-f]+\) id=0x0 / { sub(/^I0*/, "", $1); print $1 + 0; seen = 1 }'
	return 0 # (read to the end: an early exit would kill gtlsclient with SIGPIPE mid-run)
}

# The same first-byte times seen by another client (ngtcp2's gtlsclient on GnuTLS),
# so that the figures above do not rest on quicsteer-load alone.
gtls_check() {
	local full="" zero="" v e0 i
	if ! command -v gtlsclient >/dev/null; then
		echo "  gtlsclient cross-check: skipped (gtlsclient missing: scripts/setup.sh installs it)"
		return 0
	fi
	for ((i = 0; i < TTFB_RUNS; i++)); do
		v=$(gtls_ms)
		[[ -z $v ]] || full+="$v "
	done
	gtls_ms --session-file="$TMP/gtls.session" --tp-file="$TMP/gtls.tp" --wait-for-ticket \
		>/dev/null
	e0=$(counter early_accepted)
	for ((i = 0; i < TTFB_RUNS; i++)); do
		v=$(gtls_ms --session-file="$TMP/gtls.session" --tp-file="$TMP/gtls.tp")
		[[ -z $v ]] || zero+="$v "
	done
	sleep 0.2 # the last Finished, as above
	e0=$(($(counter early_accepted) - e0))
	if [[ -z $full || -z $zero ]]; then
		echo "  gtlsclient cross-check FAILED: no response from the server to gtlsclient" >&2
		failed=1
		return 0
	fi
	GTLS_FULL=$(med "$full") GTLS_ZERO=$(med "$zero")
	printf '  gtlsclient (GnuTLS): full handshake median %.0f ms (%d runs), resumed + 0-RTT %.0f ms (%d runs, %d with 0-RTT accepted by the worker)\n' \
		"$GTLS_FULL" "$(wc -w <<<"$full")" "$GTLS_ZERO" "$(wc -w <<<"$zero")" "$e0"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }

failed=0

# ---- 1. handshakes per second, one worker, loopback --------------------------
port_free() { [[ -z $(ss -Hlun "sport = :$1") ]]; }
PORT=
for _ in $(seq 100); do
	p=$((20000 + RANDOM % 30000))
	port_free "$p" && { PORT=$p; break; }
done
[[ -n $PORT ]] || die "no free UDP port found on 127.0.0.1"
URL=https://127.0.0.1:$PORT

echo "bench-resume: 1. handshakes/s of one worker: quicsteerd --workers 1 --retry never on" \
	"127.0.0.1, $(nproc) CPUs shared with the client; $CONNS connection loops, each" \
	"connection = handshake + GET 1 KB + close; $ROUNDS rounds x ${DUR} s per mode"
declare -A hps cpu
# handshake_rounds MODE...: the modes against a server started with $CERT/$KEY
handshake_rounds() {
	local -a order=("$@") modes
	local i
if start_server "" "127.0.0.1:$PORT" "$URL"; then
	wpid=$(worker_pid)
	# warm-up (not counted): caches, CPU frequency, the worker's first allocations
	load "" -c "$CONNS" -d 0.5 --reconnect "$URL/1k.bin" >/dev/null || true
	load "" -c "$CONNS" -d 0.5 --reconnect --resume "$URL/1k.bin" >/dev/null || true
	for ((r = 1; r <= ROUNDS; r++)); do
		modes=("${order[@]}")
		# alternate the order: drift hurts every mode alike
		if ! ((r % 2)); then
			modes=()
			for ((i = ${#order[@]} - 1; i >= 0; i--)); do modes+=("${order[i]}"); done
		fi
		for mode in "${modes[@]}"; do
			args=(-c "$CONNS" -d "$DUR" --reconnect)
			[[ $mode != resumed* ]] || args+=(--resume)
			[[ $mode != *-x25519 ]] || args+=(--groups X25519)
			f0=$(counter hs_full) r0=$(counter hs_resumed) t0=$(ticks "$wpid")
			if ! json=$(load "" "${args[@]}" "$URL/1k.bin"); then
				printf '  round %d %-14s FAILED (see above)\n' "$r" "$mode"
				failed=1
				continue
			fi
			t1=$(ticks "$wpid") f1=$(counter hs_full) r1=$(counter hs_resumed)
			nf=$((f1 - f0)) nr=$((r1 - r0))
			if [[ $mode == resumed* ]] && ((nr * 10 < (nf + nr) * 9)); then
				printf '  round %d %-14s FAILED: the worker resumed only %d of %d handshakes\n' \
					"$r" "$mode" "$nr" $((nf + nr))
				failed=1
				continue
			fi
			read -r h cc < <(jq -r '"\(.handshakes_per_s) \(.client_cpu_s / .elapsed_s * 100)"' <<<"$json")
			us=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n=$((nf + nr)) 'BEGIN { print n ? t / hz * 1e6 / n : 0 }')
			hps[$mode]+="$h " cpu[$mode]+="$us "
			printf '  round %d %-14s %6.0f handshakes/s  worker CPU %4.0f us/handshake  (worker: %d full, %d resumed; client CPU %3.0f%%)\n' \
				"$r" "$mode" "$h" "$us" "$nf" "$nr" "$cc"
		done
	done
else
	failed=1
fi
stop_server
}
handshake_rounds full resumed full-x25519 resumed-x25519
# The same with an RSA-2048 certificate (most of the web's): its signature is
# what a full handshake pays and a resumed one does not.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$TMP/rsa.key" -out "$TMP/rsa.crt" >"$TMP/openssl-rsa.log" 2>&1 ||
	die "openssl could not make an RSA certificate: $(tail -n 3 "$TMP/openssl-rsa.log")"
chmod 644 "$TMP/rsa.key" # a throwaway key the workers can read
echo "  with an RSA-2048 certificate:"
CERT=$TMP/rsa.crt KEY=$TMP/rsa.key handshake_rounds full-rsa resumed-rsa

# ---- 2. time to first byte over a 50 ms round trip ----------------------------
echo
netns_made=1
ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add "$VETH_S" type veth peer name "$VETH_C"
ip link set "$VETH_S" netns "$NS_S"
ip link set "$VETH_C" netns "$NS_C"
ip -n "$NS_S" addr add "$ADDR_S/24" dev "$VETH_S"
ip -n "$NS_C" addr add "$ADDR_C/24" dev "$VETH_C"
for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
ip -n "$NS_S" link set "$VETH_S" up
ip -n "$NS_C" link set "$VETH_C" up

if tc -n "$NS_S" qdisc add dev "$VETH_S" root netem delay "${DELAY_MS}ms" 2>"$TMP/tc.err" &&
	tc -n "$NS_C" qdisc add dev "$VETH_C" root netem delay "${DELAY_MS}ms" 2>>"$TMP/tc.err"; then
	how="netem delay ${DELAY_MS} ms on each end of the veth pair"
	NS_URL=https://$ADDR_S:$NS_PORT
	ping_ms=$(in_ns "$NS_C" ping -n -q -c 3 -i 0.2 "$ADDR_S" 2>/dev/null |
		awk -F/ '/^rtt/ { print $5 }') || true
	[[ -z ${ping_ms:-} ]] || how+=" (ping: $ping_ms ms)"
else
	# No netem in this kernel: a relay in the client namespace holds every datagram
	# DELAY_MS in each direction; the client talks to it, it to the server.
	command -v python3 >/dev/null ||
		die "tc netem failed ($(head -n 1 "$TMP/tc.err")) and python3 (for the delay relay) is missing"
	cat >"$TMP/relay.py" <<'EOF'
# UDP relay: LISTEN_PORT on 127.0.0.1 -> UP_HOST:UP_PORT, every datagram held
# DELAY_MS in each direction (one upstream socket per client address).
import heapq, selectors, socket, sys, time

port, up_host, up_port, delay = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000
front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.bind(("127.0.0.1", port))
front.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(front, selectors.EVENT_READ)
upstream, client_of, due, seq = {}, {}, [], 0
print("ready", flush=True)
while True:
    timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
    for key, _ in sel.select(timeout):
        sock = key.fileobj
        while True:
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, ConnectionRefusedError):
                break
            if sock is front:
                up = upstream.get(addr)
                if up is None:
                    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    up.setblocking(False)
                    up.connect((up_host, up_port))
                    upstream[addr], client_of[up] = up, addr
                    sel.register(up, selectors.EVENT_READ)
                dest = (up, None)
            else:
                dest = (front, client_of[sock])
            heapq.heappush(due, (time.monotonic() + delay, seq, dest, data))
            seq += 1
    now = time.monotonic()
    while due and due[0][0] <= now:
        _, _, (sock, addr), data = heapq.heappop(due)
        try:
            if addr is None:
                sock.send(data)
            else:
                sock.sendto(data, addr)
        except OSError:
            pass
EOF
	nsenter --net="/run/netns/$NS_C" -- python3 "$TMP/relay.py" "$NS_PORT" "$ADDR_S" \
		"$NS_PORT" "$DELAY_MS" >"$TMP/relay.out" 2>&1 &
	relay_pid=$!
	for _ in $(seq 50); do
		grep -q ready "$TMP/relay.out" && break
		sleep 0.1
	done
	grep -q ready "$TMP/relay.out" || die "the delay relay did not start: $(tail -n 3 "$TMP/relay.out")"
	how="NO netem in this kernel ($(head -n 1 "$TMP/tc.err")): a UDP relay in the client"
	how+=" namespace holds each datagram ${DELAY_MS} ms each way"
	NS_URL=https://127.0.0.1:$NS_PORT
fi

echo "bench-resume: 2. time to first byte (connection start to the first response field)," \
	"quicsteerd in netns $NS_S ($ADDR_S), the client in $NS_C ($ADDR_C)," \
	"RTT $RTT_MS ms: $how; $TTFB_RUNS connections one after another per kind, medians"
declare -A ttfb
if start_server "$NS_S" "$ADDR_S:$NS_PORT" "$NS_URL" "$NS_C"; then
	e0=$(counter early_accepted)
	# full: every connection a new session; resumed: the first connection (full,
	# not counted) brings the ticket the other TTFB_RUNS resume
	for kind in full resumed zero; do
		case $kind in
		full) args=(-n "$TTFB_RUNS") field=ttfb_full_ms ;;
		resumed) args=(-n $((TTFB_RUNS + 1)) --resume) field=ttfb_resumed_ms ;;
		zero) args=(-n $((TTFB_RUNS + 1)) --resume --early-data) field=ttfb_resumed_ms ;;
		esac
		if ! json=$(load "$NS_C" -c 1 -t 5 --reconnect "${args[@]}" "$NS_URL/1k.bin"); then
			failed=1
			continue
		fi
		read -r n p50 lo hi acc < <(jq -r --arg f "$field" \
			'"\(.[$f].n) \(.[$f].p50) \(.[$f].min) \(.[$f].max) \(.early_data.accepted)"' <<<"$json")
		if ((n != TTFB_RUNS)); then
			echo "bench-resume: $kind: $n of $TTFB_RUNS connections of that kind" \
				"(handshakes: $(jq -c '{full: .handshakes_full, resumed: .handshakes_resumed}' <<<"$json"))" >&2
			failed=1
			continue
		fi
		ttfb[$kind]=$p50
		[[ $kind != zero ]] || zero_acc=$acc
		printf '  %-24s median %7.1f ms = %4.2f RTT  (min %.1f, max %.1f ms)%s\n' \
			"$(case $kind in full) echo "full handshake" ;; resumed) echo "resumed, 1-RTT request" ;;
				zero) echo "resumed + 0-RTT request" ;; esac)" \
			"$p50" "$(awk -v x="$p50" -v r="$RTT_MS" 'BEGIN { print x / r }')" "$lo" "$hi" \
			"$([[ $kind == zero ]] && echo "  0-RTT accepted $acc/$((TTFB_RUNS))")"
	done
	# the worker completes a handshake when the client's Finished arrives, half a
	# round trip after the client is done: give the last one time to land
	sleep 0.2
	echo "  (the worker counted $(($(counter early_accepted) - e0)) handshakes with 0-RTT accepted)"
	gtls_check
else
	failed=1
fi
stop_server

# ---- summary -----------------------------------------------------------------
echo
echo "summary (medians; targets MET/MISSED):"
if [[ -n ${hps[full]:-} && -n ${hps[resumed]:-} ]]; then
	awk -v hf="$(med "${hps[full]}")" -v hr="$(med "${hps[resumed]}")" \
		-v cf="$(med "${cpu[full]}")" -v cr="$(med "${cpu[resumed]}")" 'BEGIN {
		printf "  one worker, full handshakes      %7.0f /s   %4.0f us worker CPU each\n", hf, cf
		printf "  one worker, resumed handshakes   %7.0f /s   %4.0f us worker CPU each\n", hr, cr
		r1 = hf ? hr / hf : 0; r2 = cr ? cf / cr : 0
		printf "  resumed/full handshakes per second     %5.2fx   target >= 2x   %s\n", r1, (r1 >= 2 ? "MET" : "MISSED")
		printf "  full/resumed worker CPU per handshake  %5.2fx   target >= 2x   %s\n", r2, (r2 >= 2 ? "MET" : "MISSED")
	}'
	if [[ -n ${hps[full-x25519]:-} && -n ${hps[resumed-x25519]:-} ]]; then
		awk -v hf="$(med "${hps[full-x25519]}")" -v hr="$(med "${hps[resumed-x25519]}")" \
			-v cf="$(med "${cpu[full-x25519]}")" -v cr="$(med "${cpu[resumed-x25519]}")" 'BEGIN {
			printf "  (X25519-only client: full %.0f/s, %.0f us; resumed %.0f/s, %.0f us: %.2fx handshakes/s, %.2fx CPU)\n", hf, cf, hr, cr, hf ? hr / hf : 0, cr ? cf / cr : 0
		}'
	fi
	if [[ -n ${hps[full-rsa]:-} && -n ${hps[resumed-rsa]:-} ]]; then
		awk -v hf="$(med "${hps[full-rsa]}")" -v hr="$(med "${hps[resumed-rsa]}")" \
			-v cf="$(med "${cpu[full-rsa]}")" -v cr="$(med "${cpu[resumed-rsa]}")" 'BEGIN {
			r1 = hf ? hr / hf : 0; r2 = cr ? cf / cr : 0
			printf "  RSA-2048 certificate: full %.0f/s, %.0f us; resumed %.0f/s, %.0f us\n", hf, cf, hr, cr
			printf "  RSA-2048: resumed/full handshakes per second   %5.2fx   target >= 2x   %s\n", r1, (r1 >= 2 ? "MET" : "MISSED")
			printf "  RSA-2048: full/resumed worker CPU per handshake %5.2fx   target >= 2x   %s\n", r2, (r2 >= 2 ? "MET" : "MISSED")
		}'
	fi
else
	echo "  handshakes per second: no figures (see above)   MISSED"
fi
if [[ -n ${ttfb[full]:-} && -n ${ttfb[zero]:-} ]]; then
	awk -v f="${ttfb[full]}" -v z="${ttfb[zero]}" -v r="$RTT_MS" -v acc="${zero_acc:-0}" -v n="$TTFB_RUNS" 'BEGIN {
		d = (f - z) / r
		printf "  first byte: full %.1f ms (%.2f RTT), 0-RTT %.1f ms (%.2f RTT, %d/%d accepted)\n", f, f / r, z, z / r, acc, n
		printf "  0-RTT first byte earlier by %.1f ms = %.2f RTT   target: 1 RTT earlier (>= 0.75)   %s\n", f - z, d, (d >= 0.75 ? "MET" : "MISSED")
	}'
	[[ -z ${GTLS_FULL:-} ]] ||
		awk -v f="$GTLS_FULL" -v z="$GTLS_ZERO" -v r="$RTT_MS" 'BEGIN {
			printf "  (gtlsclient: full %.0f ms = %.2f RTT, 0-RTT %.0f ms = %.2f RTT: earlier by %.2f RTT)\n", f, f / r, z, z / r, (f - z) / r
		}'
else
	echo "  first byte: no figures (see above)   MISSED"
fi
echo
echo "notes: a 'handshake' here is a whole short connection (handshake, one 1 KB GET, close),"
echo "  as a returning browser makes; the load generator shares the machine's $(nproc) CPUs with"
echo "  the worker, so handshakes/s is bounded by both and the CPU per handshake is the"
echo "  worker's own cost.  Resumption still runs an (EC)DHE key exchange (psk_dhe_ke, what"
echo "  browsers offer; OpenSSL 3.5 clients send an X25519MLKEM768 key share): it saves the"
echo "  certificate and its signature, not the key exchange."
if ((failed)); then
	echo "bench-resume: some measurements FAILED (see above)" >&2
	exit 1
fi
