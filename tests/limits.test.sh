# SPDX-License-Identifier: MIT
# The request layer's per-connection and per-worker limits against hostile
# clients, through the real path (quicsteerd workers, the repo's HTTP/3
# client quicsteer-load): descriptors held by stalled downloads, header
# blocks that never end.

# a docroot with a 4 MB file (too large for the worker's file cache: each
# download holds a descriptor while it is sent)
limits_docroot() {
	make_docroot
	head -c 4000000 /dev/urandom >"$QS_DOCROOT/4m.bin"
	chmod -R a+rX "$QS_DOCROOT"
	DL=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $DL"
}

# descriptors a process holds now
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# highest descriptor count of PID while PID2 runs, sampled every 100 ms
fd_peak() {
	local peak=0 n
	while kill -0 "$2" 2>/dev/null; do
		n=$(fd_count "$1")
		((n > peak)) && peak=$n
		sleep 0.1
	done
	echo "$peak"
}

# Started with a descriptor limit of 256 (ulimit -S), the loader raises it to
# what --max-connections x --files-per-connection need, so the workers
# inherit it (without: 256, and 300 stalled downloads run them out)
test_limits_nofile_raised_for_the_workers() {
	need_root_bpf || return
	limits_docroot
	ulimit -Sn 256
	qs_start nofile 1 --max-connections 1000 --files-per-connection 8
	local pid soft
	pid=$(worker_stat 0 pid)
	soft=$(awk '/^Max open files/ {print $4}' "/proc/$pid/limits")
	info "worker's descriptor limit: $soft"
	assert_ge "worker RLIMIT_NOFILE" $((1000 * 8)) "$soft"
}

# 300 downloads of a 4 MB file whose client stops reading (3 connections x
# 100 streams): each connection holds at most --files-per-connection files
# open and its other requests wait their turn, so the worker's descriptors
# stay bounded (without the cap: one per download, 300 over its limit of
# 256 here, and then every other request fails); a new client's GET is
# answered meanwhile
test_limits_stalled_downloads_hold_few_descriptors() {
	need_root_bpf || return
	limits_docroot
	qs_start stalled 1 --files-per-connection 4 --send-timeout 30
	local pid lpid base peak out
	pid=$(worker_stat 0 pid)
	base=$(fd_count "$pid")
	.output/quicsteer-load -k --any-status -c 3 -m 100 -d 6 -t 30 \
		--stop-reading-after 1 "https://127.0.0.1:$QS_PORT/4m.bin" >/dev/null 2>&1 &
	lpid=$!
	defer "kill $lpid 2>/dev/null; wait $lpid 2>/dev/null"
	wait_until 10 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.req_file_waits) >= 200 ))" ||
		fail "the requests beyond the cap did not wait: $(workers_sum req_file_waits) waited"
	out=$(.output/quicsteer-load -k --json -c 1 -m 1 -n 2 -t 10 --expect-size 4000000 \
		"https://127.0.0.1:$QS_PORT/4m.bin" 2>/dev/null) || true
	assert_eq "a new client's downloads meanwhile" "2 0" \
		"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
	peak=$(fd_peak "$pid" "$lpid")
	info "worker descriptors: $base before, $peak at the peak of 300 stalled downloads"
	((peak - base <= 3 * 4 + 4)) || fail "the worker held $((peak - base)) more descriptors"
}

# 40 downloads on one connection with --files-per-connection 2: the ones
# that wait get their turn as files close, and every body is complete
test_limits_waiting_downloads_complete() {
	need_root_bpf || return
	limits_docroot
	qs_start filewait 1 --files-per-connection 2
	local out
	out=$(.output/quicsteer-load -k --json -c 1 -m 40 -n 40 -t 20 --expect-size 4000000 \
		"https://127.0.0.1:$QS_PORT/4m.bin" 2>/dev/null) || true
	assert_eq "40 complete downloads" "40 0" \
		"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
	assert_ge "requests that waited for a file slot" 30 "$(workers_sum req_file_waits)"
}

# 200 streams whose HEADERS frame never ends (20 connections x 10): reset
# after --client-header-timeout, counted; the site answers meanwhile and
# after (without the timeout they live as long as their connection)
test_limits_header_block_that_never_ends_is_reset() {
	need_root_bpf || return
	limits_docroot
	qs_start hdrto 1 --client-header-timeout 2
	local lpid out
	.output/quicsteer-load -k --any-status -c 20 -m 10 -d 8 -t 30 --stall-headers 20 \
		-H x-pad:@2000 "https://127.0.0.1:$QS_PORT/index.html" >/dev/null 2>&1 &
	lpid=$!
	defer "kill $lpid 2>/dev/null; wait $lpid 2>/dev/null"
	wait_until 15 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.req_header_timeouts) >= 200 ))" ||
		fail "streams reset for the header timeout: $(workers_sum req_header_timeouts) of 200"
	grep -q 'header block not complete after --client-header-timeout (2 s): reset' "$QS_LOG" ||
		fail "no log line for the header timeout"
	out=$(.output/quicsteer-load -k --json -c 1 -m 1 -n 3 -t 5 \
		"https://127.0.0.1:$QS_PORT/index.html" 2>/dev/null) || true
	assert_eq "served meanwhile" "3 0" "$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
}

# --max-response-memory 1M: 8 PHP responses of 4 MB whose client stops
# reading each hold up to their stream's window of queued output (256 KB
# at least); over the budget, a new request gets 503 while they run, and
# once their client is gone the bytes held (the resp_held gauge) are back
# to 0 and requests are served again
test_limits_response_memory_budget() {
	need_root_bpf || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	limits_docroot
	printf '<?php echo str_repeat("x", 4000000);' >"$QS_DOCROOT/big.php"
	chmod a+r "$QS_DOCROOT/big.php"
	qs_start respmem 1 --fastcgi managed --php-max-children 8 --php-max-per-connection 8 \
		--max-response-memory 1M
	local lpid held out
	.output/quicsteer-load -k --any-status -c 1 -m 8 -d 6 -t 30 \
		--stop-reading-after 1 "https://127.0.0.1:$QS_PORT/big.php" >/dev/null 2>&1 &
	lpid=$!
	defer "kill $lpid 2>/dev/null; wait $lpid 2>/dev/null"
	wait_until 10 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.resp_held) > 1 << 20 ))" ||
		fail "the stalled responses hold $(workers_sum resp_held) bytes, not over 1 MB"
	held=$(workers_sum resp_held)
	out=$(.output/quicsteer-load -k --json --any-status -c 1 -m 1 -n 2 -t 10 \
		"https://127.0.0.1:$QS_PORT/4m.bin" 2>/dev/null) || true
	info "held $((held >> 10)) KB for a stalled reader: new requests $(jq -c '{status_2xx, status_5xx}' <<<"$out")"
	assert_eq "new requests refused meanwhile" 2 "$(jq .status_5xx <<<"$out")"
	assert_ge "counted" 2 "$(workers_sum req_resp_budget)"
	wait "$lpid" 2>/dev/null || true
	wait_until 10 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.conn_active) == 0 ))" ||
		fail "the stalled connection did not close"
	assert_eq "bytes held once their client is gone" 0 "$(workers_sum resp_held)"
	out=$(.output/quicsteer-load -k --json -c 1 -m 1 -n 2 -t 10 --expect-size 4000000 \
		"https://127.0.0.1:$QS_PORT/4m.bin" 2>/dev/null) || true
	assert_eq "served again" "2 0" "$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
}

# The same budget over TCP: 16 HTTP/1.1 clients ask for 4 MB and read
# nothing; each connection's output queue holds up to its mark (256 KB),
# counted in resp_held, so a new request gets 503 while they stall, and
# the bytes are given back when they go
test_limits_response_memory_budget_tcp() {
	need_root_bpf || return
	limits_docroot
	qs_start respmemtcp 1 --max-response-memory 1M
	local ppid held code
	/usr/bin/python3 - "$QS_PORT" >"$DL/stall.out" 2>&1 <<'PYEOF2' &
import socket, ssl, sys, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
socks = []
for i in range(16):
    raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(b"GET /4m.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
    socks.append(s)
time.sleep(8)
PYEOF2
	ppid=$!
	defer "kill $ppid 2>/dev/null; wait $ppid 2>/dev/null"
	wait_until 10 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.resp_held) > 1 << 20 ))" ||
		fail "the stalled TCP responses hold $(workers_sum resp_held) bytes, not over 1 MB" ||
		return
	held=$(workers_sum resp_held)
	code=$(curl -sk --http1.1 -o /dev/null -w '%{http_code}' --max-time 5 \
		"https://127.0.0.1:$QS_PORT/index.html")
	info "held $((held >> 10)) KB for 16 stalled TCP readers: a new request got $code"
	assert_eq "new request refused meanwhile" 503 "$code" || return
	kill "$ppid" 2>/dev/null
	wait "$ppid" 2>/dev/null || true
	wait_until 10 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.resp_held) == 0 ))" ||
		fail "bytes held once their clients are gone: $(workers_sum resp_held)" || return
	assert_eq "served again" 200 "$(curl -sk --http1.1 -o /dev/null -w '%{http_code}' \
		--max-time 5 "https://127.0.0.1:$QS_PORT/index.html")"
}
