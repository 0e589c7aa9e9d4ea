# SPDX-License-Identifier: MIT
# Reload (SIGHUP): a new generation of workers on new sockets in the same
# reuseport groups takes new connections; connections of the old generation
# keep reaching their workers (by the generation in their CIDs) until they
# finish, then the old workers drain and exit; a reload that cannot read its
# certificate changes nothing.

GTLS=${GTLS:-gtlsclient}

rl_need() {
	need_root_bpf || return
	command -v "$GTLS" >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	RL=$(mktemp -d /tmp/qs-test-rl.XXXXXX)
	defer "rm -rf $RL"
	return 0
}

# gen_running GEN: workers of that generation with a live process
gen_running() {
	worker_stats_json | jq "[.[] | select(.key / 64 | floor == $1) | select(.value.pid > 0)] | length"
}
gen_is() { [[ $(gen_running "$1") == "$2" ]]; } # GEN N: N workers of GEN run
tx_over() { (( $(workers_sum tx_bytes) > $1 )); }
gen_sum() { # GEN FIELD
	worker_stats_json | jq "[.[] | select(.key / 64 | floor == $1) | .value.$2] | add // 0"
}

rl_get() { # URL...: statuses of one connection, in order
	timeout 20 "$GTLS" --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s "$@" 2>&1 |
		gtls_statuses | sort | uniq -c |
		awk '{printf "%s%sx%s", sep, $1, $2; sep=" "}'
}

test_reload_new_generation_old_connections_finish() {
	local cpid out old_pids
	rl_need || return
	make_docroot
	head -c 4000000 /dev/urandom >"$QS_DOCROOT/4m.bin"
	chmod -R a+rX "$QS_DOCROOT"
	# 400 MB left to send when the reload comes: gtlsclient takes them at
	# 100-300 MB/s here, so the default 3 s drain cut 3 to 10 of them
	qs_start reload 2 --drain-timeout 30
	old_pids=$(worker_stats_json | jq -r '[.[].value.pid] | join(" ")')
	# a ticket from generation 0
	(cd "$RL" && timeout 15 "$GTLS" -q --exit-on-all-streams-close --timeout=5s \
		--session-file="$RL/s.sess" --tp-file="$RL/s.tp" --wait-for-ticket \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/index.html") || fail "first GET"
	# one connection with 100 downloads of 4 MB in flight across the reload
	(cd "$RL" && rl_get -n 100 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/4m.bin" \
		>"$RL/long.out") &
	cpid=$!
	wait_until 5 tx_over 20000000 ||
		fail "the long download did not start"
	kill -HUP "$QS_PID"
	wait_until 5 bash -c "grep -q 'reload: generation 1 (2 workers) takes new connections' $QS_LOG" ||
		fail "no reload: $(tail -5 "$QS_LOG")"
	wait_until 5 gen_is 1 2 ||
		fail "generation 1 not running"
	# new connections land on generation 1 and resume generation 0's ticket
	out=$(cd "$RL" && timeout 15 "$GTLS" --exit-on-all-streams-close --no-quic-dump --timeout=5s \
		--session-file="$RL/s.sess" --tp-file="$RL/s.tp" \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/index.html" 2>&1)
	grep -q '\[:status: 200\]' <<<"$out" || fail "GET after the reload: $out"
	assert_eq "handshakes on generation 1" 1 "$(gen_sum 1 handshakes)"
	assert_eq "resumed there (shared ticket keys)" 1 "$(gen_sum 1 hs_resumed)"
	wait "$cpid" || true
	assert_eq "the long connection's 100 downloads" "100x200" "$(cat "$RL/long.out")"
	# then generation 0 drains and exits; it is not restarted
	wait_until 10 gen_is 0 0 ||
		fail "generation 0 still running"
	for p in $old_pids; do
		wait_until 5 is_dead "$p" || fail "old worker $p still there"
	done
	assert_eq "generation 0 starts (no restart)" 2 "$(gen_sum 0 starts)"
	grep -q "worker 0/0 of the previous generation drained and exited" "$QS_LOG" ||
		fail "drain not logged: $(tail -5 "$QS_LOG")"
	assert_eq "datagrams on a worker that did not mint their CID" 0 "$(workers_sum rx_cid_foreign)"
	assert_eq "socket slots left" "64 65" \
		"$(bpftool -j map dump pinned "$QS_PIN/qs_socks" | jq -r '[.[] | .formatted | select(.value != null) | .key] | sort | join(" ")')"
	out=$(rl_get 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/index.html")
	assert_eq "served after the drain" "1x200" "$out"
	# and again: generation 2
	kill -HUP "$QS_PID"
	wait_until 5 bash -c "grep -q 'reload: generation 2 (2 workers)' $QS_LOG" || fail "second reload"
	wait_until 10 gen_is 1 0 && wait_until 5 gen_is 2 2 ||
		fail "generation 2: $(worker_stats_json | jq -c '[.[] | {key, pid: .value.pid}]')"
}

# A UDP relay between a client and the server that, once the server has
# sent a Retry, holds the client's datagrams (its Initial with the token)
# until the file GO exists; it writes HELD when it holds the first one.
rl_retry_relay_py() {
	cat >"$RL/relay.py" <<'PY'
import os, select, socket, sys, time
port, portfile, held_file, go_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cli.bind(("127.0.0.1", 0))
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
up.connect(("127.0.0.1", port))
open(portfile, "w").write("%d\n" % cli.getsockname()[1])
peer, retried, held, end = None, False, [], time.time() + 30
while time.time() < end:
    if held and os.path.exists(go_file):
        for d in held:
            up.send(d)
        held = None
    r, _, _ = select.select([cli, up], [], [], 0.05)
    for s in r:
        if s is cli:
            d, peer = cli.recvfrom(65535)
            if retried and held is not None:
                if not held:
                    open(held_file, "w").write("1\n")
                held.append(d)
            else:
                up.send(d)
        else:
            d = up.recv(65535)
            # a QUIC v1 long header of type Retry
            if d and d[0] & 0xf0 == 0xf0:
                retried = True
            if peer:
                cli.sendto(d, peer)
PY
}

test_reload_between_retry_and_token_initial() {
	local cpid rpid rport out
	rl_need || return
	command -v python3 >/dev/null || { need python3; return; }
	make_docroot
	head -c 8000000 /dev/urandom >"$QS_DOCROOT/8m.bin"
	chmod -R a+rX "$QS_DOCROOT"
	qs_start reloadretry 1 --retry always --drain-timeout 40
	# generation 0's worker stays busy (draining, not gone) across the test
	(cd "$RL" && rl_get -n 100 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/8m.bin" \
		>"$RL/long.out") &
	cpid=$!
	defer "kill $cpid 2>/dev/null; wait $cpid 2>/dev/null || true"
	wait_until 5 tx_over 20000000 || fail "the long download did not start"
	rl_retry_relay_py
	/usr/bin/python3 "$RL/relay.py" "$QS_PORT" "$RL/rport" "$RL/held" "$RL/go" &
	rpid=$!
	defer "kill $rpid 2>/dev/null; wait $rpid 2>/dev/null || true"
	wait_until 5 test -s "$RL/rport" || fail "relay did not start"
	rport=$(cat "$RL/rport")
	rl_get 127.0.0.1 "$rport" "https://127.0.0.1:$QS_PORT/index.html" >"$RL/retry.out" &
	wait_until 5 test -e "$RL/held" || fail "no Retry reached the client"
	assert_eq "Retry sent by generation 0" 2 "$(gen_sum 0 retries)"
	kill -HUP "$QS_PID"
	wait_until 5 gen_is 1 1 || fail "generation 1 not running"
	assert_eq "generation 0 still running (draining)" 1 "$(gen_running 0)"
	touch "$RL/go"
	wait_until 10 test -s "$RL/retry.out" || fail "the client through the relay never finished"
	assert_eq "GET whose token Initial came after the reload" "1x200" "$(cat "$RL/retry.out")"
	assert_eq "accepted by generation 1 (token from generation 0)" 1 "$(gen_sum 1 handshakes)"
	assert_eq "tokens rejected" 0 "$(workers_sum tokens_rejected)"
	assert_eq "generation 1 sent no Retry of its own" 0 "$(gen_sum 1 retries)"
	wait "$cpid" || true
	assert_eq "the long connection's downloads" "100x200" "$(cat "$RL/long.out")"
}

# ctl_reload_refused REGEX: quicsteerctl reload exits 1 saying REGEX
ctl_reload_refused() {
	local out
	if out=$(./quicsteerctl -i "$QS_INST" reload 2>&1); then
		fail "quicsteerctl reload succeeded: $out"
	fi
	grep -q "$1" <<<"$out" || fail "quicsteerctl reload said: $out"
}

test_reload_refused_without_certificate_or_while_draining() {
	local out cpid
	rl_need || return
	make_docroot
	cp certs/server.crt "$RL/c.pem"
	cp certs/server.key "$RL/k.pem"
	qs_start reloadbad 2 --cert "$RL/c.pem" --key "$RL/k.pem" --drain-timeout 10
	rm "$RL/c.pem"
	# quicsteerctl reload: SIGHUP, and the loader's answer with its reason
	ctl_reload_refused "^refused: the certificate $RL/c.pem or key $RL/k.pem is unusable"
	wait_until 5 grep -q "reload refused: the certificate or key is unusable" "$QS_LOG" ||
		fail "no refusal: $(tail -3 "$QS_LOG")"
	grep -q "cannot read the certificate $RL/c.pem" "$QS_LOG" || fail "the file is not named"
	assert_eq "generation 0 serving" 2 "$(gen_running 0)"
	assert_eq "generation 1" 0 "$(gen_running 1)"
	out=$(rl_get 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/index.html")
	assert_eq "served by generation 0" "1x200" "$out"
	# the certificate is back: reload; a second SIGHUP while it drains is refused
	cp certs/server.crt "$RL/c.pem"
	head -c 4000000 /dev/urandom >"$QS_DOCROOT/4m.bin"
	chmod a+r "$QS_DOCROOT/4m.bin"
	(cd "$RL" && rl_get -n 100 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/4m.bin" \
		>"$RL/long.out") &
	cpid=$!
	wait_until 5 tx_over 20000000 || fail "the long download did not start"
	out=$(./quicsteerctl -i "$QS_INST" reload 2>&1) || fail "quicsteerctl reload: $out"
	grep -q "^ok: generation 1 (2 workers) takes new connections" <<<"$out" ||
		fail "quicsteerctl reload said: $out"
	wait_until 5 grep -q "reload: generation 1" "$QS_LOG" || fail "reload: $(tail -3 "$QS_LOG")"
	ctl_reload_refused "^refused: generation 0 is still draining"
	wait_until 5 grep -q "reload refused: generation 0 is still draining" "$QS_LOG" ||
		fail "second SIGHUP while draining: $(tail -3 "$QS_LOG")"
	wait "$cpid" || true
	assert_eq "the download across the reload" "100x200" "$(cat "$RL/long.out")"
	wait_until 10 gen_is 0 0 ||
		fail "generation 0 did not drain"
	out=$(rl_get 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/index.html")
	assert_eq "served by generation 1" "1x200" "$out"
	assert_eq "handshakes on generation 1" 1 "$(gen_sum 1 handshakes)"
}
