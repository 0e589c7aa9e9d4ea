# SPDX-License-Identifier: MIT
# HTTPS over TCP, the transport (worker/tcp/tcp.c): TLS 1.3 and 1.2 with the
# certificate of QUIC on the same address and port, ALPN, session tickets
# shared by every worker, the connection limit and the handshake timeout,
# `--tcp off`.  Clients: openssl s_client (Debian's OpenSSL 3.0, independent
# of the server's 3.5) and /usr/bin/python3's ssl module.

# s_client PORT ARGS...: one TLS connection, nothing sent, kept 0.3 s (a
# TLS 1.3 ticket comes after the handshake); its output
s_client() {
	local port=$1
	shift
	sleep 0.3 | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
		-servername localhost "$@" 2>&1 || true
}

test_tcp_tls13_and_tls12_with_alpn() {
	local out
	need_root_bpf || return
	qs_start tcptls 1
	out=$(s_client "$QS_PORT" -alpn h2,http/1.1)
	grep -q "^New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256" <<<"$out" ||
		fail "TLS 1.3: $(grep -m1 '^New' <<<"$out")"
	grep -q "^ALPN protocol: h2" <<<"$out" || fail "h2 not chosen: $(grep -m1 ALPN <<<"$out")"
	out=$(s_client "$QS_PORT" -tls1_2 -alpn http/1.1)
	grep -q "^New, TLSv1.2, Cipher is ECDHE-" <<<"$out" ||
		fail "TLS 1.2 with ECDHE: $(grep -m1 '^New' <<<"$out")"
	grep -q "^ALPN protocol: http/1.1" <<<"$out" || fail "http/1.1 not chosen"
	# TLS 1.1 and a CBC-only TLS 1.2 client are refused
	out=$(s_client "$QS_PORT" -tls1_1)
	grep -q "^New, TLSv1.1" <<<"$out" && fail "TLS 1.1 accepted"
	out=$(s_client "$QS_PORT" -tls1_2 -cipher AES128-SHA)
	grep -q "^New, TLSv1.2" <<<"$out" && fail "a cipher without forward secrecy accepted"
	assert_ge "full handshakes counted" 2 "$(workers_sum tcp_hs_full)"
	assert_ge "failed handshakes counted" 2 "$(workers_sum tcp_hs_failed)"
}

# 8 TLS sessions over TCP on 2 workers, each resumed from the ticket of the
# one before: the ticket keys are the workers' shared ones, so whichever
# worker the kernel gives a connection to resumes it
test_tcp_tickets_resume_on_any_worker() {
	local out i dir
	need_root_bpf || return
	qs_start tcptk 2
	dir=$(mktemp -d /tmp/qs-test-tcptk.XXXXXX)
	defer "rm -rf $dir"
	s_client "$QS_PORT" -sess_out "$dir/s0" >/dev/null
	for i in $(seq 1 8); do
		out=$(s_client "$QS_PORT" -sess_in "$dir/s$((i - 1))" -sess_out "$dir/s$i")
		grep -q "^Reused, TLSv1.3" <<<"$out" || fail "connection $i not resumed"
	done
	info "resumed per worker: $(worker_stats_json | jq -c '[.[].value.tcp_hs_resumed]')"
	assert_eq "resumed handshakes" 8 "$(workers_sum tcp_hs_resumed)"
	assert_eq "workers that resumed some" 2 \
		"$(worker_stats_json | jq '[.[] | select(.value.tcp_hs_resumed > 0)] | length')"
}

# --max-tcp-connections 5: 10 idle TCP connections, 5 held, the others
# closed at once and counted; after they go, a new handshake works
test_tcp_connection_limit_and_handshake_timeout() {
	local pid out
	need_root_bpf || return
	qs_start tcplim 1 --max-tcp-connections 5 --handshake-timeout 2
	/usr/bin/python3 - "$QS_PORT" <<'PY' &
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(10)]
time.sleep(4)
PY
	pid=$!
	defer "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	wait_until 5 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.tcp_refused) == 5 ))" ||
		fail "refused beyond 5: $(workers_sum tcp_refused)"
	# the 5 held say nothing: closed after --handshake-timeout
	wait_until 5 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.tcp_active) == 0 ))" ||
		fail "silent connections still open: $(workers_sum tcp_active)"
	assert_ge "timed-out handshakes counted" 5 "$(workers_sum tcp_hs_failed)"
	out=$(s_client "$QS_PORT")
	grep -q "^New, TLSv1.3" <<<"$out" || fail "no handshake after the flood"
}

test_tcp_off_listens_udp_only() {
	need_root_bpf || return
	qs_start tcpoff 1 --tcp off
	[[ -z $(ss -Hltn "sport = :$QS_PORT") ]] || fail "a TCP listener with --tcp off"
	[[ -n $(ss -Hlun "sport = :$QS_PORT") ]] || fail "no UDP socket"
}
