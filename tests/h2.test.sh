# SPDX-License-Identifier: MIT
# HTTP/2 over TLS over TCP through the real path: quicsteerd workers
# (nghttp2) on the --listen port, Debian's curl (--http2) and h2load
# (nghttp2-client) as clients, /usr/bin/python3 with the h2 package
# (python3-h2) crafting floods; files compared by sha256, the workers'
# counters as the oracle.

PY=/usr/bin/python3

need_h2_clients() {
	curl -V 2>/dev/null | grep -q 'HTTP2' || { need "curl with HTTP2"; return; }
	command -v h2load >/dev/null || { need "h2load (package nghttp2-client)"; return; }
	"$PY" -c 'import h2' 2>/dev/null || { need "python3-h2"; return; }
	return 0
}

# a docroot with a small page and a 10 MB random file
h2_docroot() {
	make_docroot
	printf 'small file\n' >"$QS_DOCROOT/small.txt"
	head -c 10000000 /dev/urandom >"$QS_DOCROOT/10m.bin"
	chmod -R a+rX "$QS_DOCROOT"
	DL=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $DL"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# c2 ARGS...: curl over HTTP/2 to the instance (URLs as https://qs/PATH)
c2() {
	curl -sk --http2 --max-time 30 --resolve "qs:$QS_PORT:127.0.0.1" "$@"
}

url() { echo "https://qs:$QS_PORT/$1"; }

# rss_kb: the resident set of the instance's workers, summed (kB)
workers_rss() {
	local pid sum=0
	for pid in $(pgrep -P "$QS_PID"); do
		sum=$((sum + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
	done
	echo "$sum"
}

test_h2_get_head_range_and_304() {
	local out etag
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start h2get 2
	out=$(c2 -D - -o "$DL/small.txt" "$(url small.txt)")
	grep -q '^HTTP/2 200' <<<"$out" || fail "GET: $out" || return
	assert_eq "small.txt" "$(sha "$QS_DOCROOT/small.txt")" "$(sha "$DL/small.txt")" || return
	grep -qi "^alt-svc: h3=\":$QS_PORT\"; ma=86400" <<<"$out" || fail "no alt-svc: $out" || return
	c2 -o "$DL/10m.bin" "$(url 10m.bin)" || fail "10 MB download failed" || return
	assert_eq "10m.bin" "$(sha "$QS_DOCROOT/10m.bin")" "$(sha "$DL/10m.bin")" || return
	out=$(c2 -I "$(url 10m.bin)")
	grep -q '^HTTP/2 200' <<<"$out" || fail "HEAD: $out" || return
	grep -qi '^content-length: 10000000' <<<"$out" || fail "HEAD length: $out" || return
	assert_eq "range" "$(head -c 20 "$QS_DOCROOT/10m.bin" | tail -c 11 | sha256sum | cut -d' ' -f1)" \
		"$(c2 -r 9-19 "$(url 10m.bin)" | sha256sum | cut -d' ' -f1)" || return
	assert_eq "range status" 206 "$(c2 -r 9-19 -o /dev/null -w '%{http_code}' "$(url 10m.bin)")" || return
	etag=$(c2 -I "$(url small.txt)" | sed -n 's/^etag: \(.*\)\r$/\1/ip')
	[[ -n $etag ]] || fail "no etag" || return
	assert_eq "If-None-Match" 304 \
		"$(c2 -H "if-none-match: $etag" -o /dev/null -w '%{http_code}' "$(url small.txt)")" || return
	assert_eq "404" 404 "$(c2 -o /dev/null -w '%{http_code}' "$(url nope)")" || return
	assert_ge "req_h2 counted" 7 "$(workers_sum req_h2)"
}

# h2load: many streams on few connections, every request answered
test_h2_h2load_1000_requests() {
	local out
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start h2load 2
	out=$(timeout 60 h2load -n 1000 -c 10 -m 10 "https://127.0.0.1:$QS_PORT/small.txt" 2>&1)
	grep -q '^requests: 1000 total, 1000 started, 1000 done, 1000 succeeded' <<<"$out" ||
		fail "h2load: $(grep -E '^(requests|status codes)' <<<"$out")" || return
	out=$(timeout 60 h2load -n 40 -c 4 -m 10 "https://127.0.0.1:$QS_PORT/10m.bin" 2>&1)
	grep -q '^requests: 40 total, 40 started, 40 done, 40 succeeded' <<<"$out" ||
		fail "h2load 10m: $(grep -E '^(requests|status codes)' <<<"$out")" || return
	assert_ge "req_h2 counted" 1040 "$(workers_sum req_h2)"
}

# PHP over HTTP/2 with the managed pool: CGI facts and uploads by sha256
test_h2_php_params_and_uploads() {
	local out
	need_root_bpf || return
	need_h2_clients || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	h2_docroot
	printf '%s\n' '<?php' \
		'echo $_SERVER["SERVER_PROTOCOL"], " ", $_SERVER["HTTPS"] ?? "-", " ",' \
		'  $_SERVER["REQUEST_METHOD"], " ", hash("sha256", file_get_contents("php://input")), "\n";' \
		>"$QS_DOCROOT/env.php"
	chmod a+r "$QS_DOCROOT/env.php"
	head -c 3000000 /dev/urandom >"$DL/up.bin"
	qs_start h2php 2 --fastcgi managed --php-max-children 3
	out=$(c2 "$(url env.php)")
	assert_eq "GET env.php" "HTTP/2.0 on GET $(sha256sum </dev/null | cut -d' ' -f1)" "$out" || return
	out=$(c2 --data-binary "@$DL/up.bin" "$(url env.php)")
	assert_eq "3 MB upload" "HTTP/2.0 on POST $(sha "$DL/up.bin")" "$out" || return
	# several uploads at once on one connection
	out=$(c2 --parallel --parallel-immediate --data-binary "@$DL/up.bin" \
		"$(url env.php)" "$(url env.php)" "$(url env.php)" "$(url env.php)")
	assert_eq "4 uploads at once" 4 "$(grep -c "HTTP/2.0 on POST $(sha "$DL/up.bin")" <<<"$out")"
}

# flood KIND: a python h2 client over TLS (ALPN h2) sends it; prints what
# the server answered: "goaway CODE" or "no goaway"
flood() {
	"$PY" - "$QS_PORT" "$1" <<'PYEOF'
import socket, ssl, sys, time
import h2.connection, h2.config, h2.events, h2.frame_buffer
from hyperframe.frame import (ContinuationFrame, DataFrame, HeadersFrame, PingFrame,
                              PriorityFrame, SettingsFrame, WindowUpdateFrame)

port, kind = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="qs")
assert s.selected_alpn_protocol() == "h2"
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection()
s.sendall(c.data_to_send())
req = [(":method", "GET"), (":path", "/small.txt"), (":scheme", "https"), (":authority", "qs")]
out = b""
try:
    if kind == "rapid_reset":
        for i in range(2000):
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, req, end_stream=True)
            c.reset_stream(sid)
            out += c.data_to_send()
            if len(out) > 16384:
                s.sendall(out)
                out = b""
    elif kind == "ping":
        out = b"".join(PingFrame(0, opaque_data=b"%08d" % i).serialize() for i in range(5000))
    elif kind == "settings":
        out = b"".join(SettingsFrame(0, settings={4: 65535}).serialize() for i in range(5000))
    elif kind == "streams":
        # 20 requests at once against --max-streams 5: the rest are refused
        for i in range(20):
            c.send_headers(c.get_next_available_stream_id(), req, end_stream=True)
        out = c.data_to_send()
        s.sendall(out)
        s.settimeout(5)
        done = refused = 0
        while done + refused < 20:
            d = s.recv(65536)
            if not d:
                break
            for e in c.receive_data(d):
                if isinstance(e, h2.events.StreamEnded):
                    done += 1
                elif isinstance(e, h2.events.StreamReset):
                    refused += e.error_code == 7
            s.sendall(c.data_to_send())
        print("done", done, "refused", refused)
        sys.exit(0)
    elif kind == "stall":
        # windows wide open, 4 downloads of 10 MB, nothing read for 2 s:
        # only the TCP queue holds the server back
        c.update_settings({4: 2**31 - 1})
        c.increment_flow_control_window(2**30)
        big = [(":method", "GET"), (":path", "/10m.bin"), (":scheme", "https"), (":authority", "qs")]
        for i in range(4):
            c.send_headers(c.get_next_available_stream_id(), big, end_stream=True)
        s.sendall(c.data_to_send())
        time.sleep(2)
        s.settimeout(10)
        got, ended = {}, 0
        while ended < 4:
            d = s.recv(65536)
            if not d:
                break
            for e in c.receive_data(d):
                if isinstance(e, h2.events.DataReceived):
                    got[e.stream_id] = got.get(e.stream_id, 0) + len(e.data)
                    c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                elif isinstance(e, h2.events.StreamEnded):
                    ended += 1
            s.sendall(c.data_to_send())
        print(" ".join(str(got.get(i, 0)) for i in (1, 3, 5, 7)))
        sys.exit(0)
    elif kind == "idle":
        # one request, then idle and not reading until the server goes
        c.send_headers(c.get_next_available_stream_id(), req, end_stream=True)
        s.sendall(c.data_to_send())
        time.sleep(8)
    elif kind == "window_update":
        # 1-byte window increments, on the connection and a stream
        c.send_headers(c.get_next_available_stream_id(), req, end_stream=True)
        out = c.data_to_send()
        out += b"".join(WindowUpdateFrame(i % 2, window_increment=1).serialize()
                        for i in range(5000))
    elif kind == "priority":
        out = b"".join(PriorityFrame(2 * i + 1, depends_on=0, stream_weight=16).serialize()
                       for i in range(5000))
    elif kind == "empty_data":
        # a POST whose body comes as empty DATA frames that never end
        post = [(":method", "POST"), (":path", "/small.txt"), (":scheme", "https"),
                (":authority", "qs")]
        c.send_headers(1, post, end_stream=False)
        out = c.data_to_send()
        out += b"".join(DataFrame(1, data=b"").serialize() for i in range(5000))
    elif kind == "continuation":
        # a HEADERS frame without END_HEADERS, then empty CONTINUATION frames
        out = HeadersFrame(1, data=c.encoder.encode(req)).serialize()
        out += b"".join(ContinuationFrame(1, data=b"").serialize() for i in range(1000))
    s.sendall(out)
except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
    pass
s.settimeout(5)
deadline = time.time() + 10
try:
    while time.time() < deadline:
        d = s.recv(65536)
        if not d:
            break
        for e in c.receive_data(d):
            if isinstance(e, h2.events.ConnectionTerminated):
                print("goaway", e.error_code.name if hasattr(e.error_code, "name") else e.error_code)
                sys.exit(0)
except Exception:
    pass
print("no goaway")
PYEOF
}

flood_test() { # KIND
	local out floods rss0 rss1
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start "h2$1" 1
	c2 -o /dev/null "$(url small.txt)" || fail "first GET" || return
	rss0=$(workers_rss)
	for _ in 1 2 3; do
		out=$(flood "$1")
		assert_eq "$1 flood answered" "goaway ENHANCE_YOUR_CALM" "$out" || return
	done
	floods=$(workers_sum h2_floods)
	assert_eq "h2_floods" 3 "$floods" || return
	# the worker still serves, and did not grow
	assert_eq "GET after the floods" 200 "$(c2 -o /dev/null -w '%{http_code}' "$(url small.txt)")" || return
	qs_sanitized && return	# ASan's quarantine swells RSS
	rss1=$(workers_rss)
	info "worker RSS ${rss0} kB before, ${rss1} kB after"
	((rss1 < rss0 + 20000)) || fail "RSS grew from $rss0 to $rss1 kB"
}

# a client that opens its windows wide and does not read: the worker stops
# framing at the TCP queue's mark, and everything arrives once it reads
test_h2_stalled_reader_backpressure() {
	local out
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start h2stall 1
	out=$(flood stall)
	assert_eq "4 x 10 MB after a stall" "10000000 10000000 10000000 10000000" "$out"
}

# SIGTERM with an idle HTTP/2 connection whose client does not read: the
# final GOAWAY goes at once, and the worker does not wait --drain-timeout
test_h2_sigterm_idle_connection_goaway_at_once() {
	local cpid out
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start h2idle 1 --drain-timeout 30
	flood idle >"$DL/idle.out" &
	cpid=$!
	defer "kill $cpid"
	wait_until 5 bash -c "[[ \$(source $ROOT/tests/lib.sh; QS_PIN=$QS_PIN workers_sum req_2xx) -ge 1 ]]" ||
		fail "request did not run" || return
	kill -TERM "$QS_PID"
	wait_until 5 is_dead "$QS_PID" || fail "quicsteerd still draining an idle connection" || return
	wait "$cpid"
	assert_eq "client saw" "goaway NO_ERROR" "$(cat "$DL/idle.out")"
}

# a download slower than --send-timeout whose client keeps taking bytes
# is not reset: file bytes framed count as the client's progress
test_h2_slow_download_outlives_send_timeout() {
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start h2slow 1 --send-timeout 2
	c2 --limit-rate 2M -o "$DL/10m.bin" "$(url 10m.bin)" || fail "curl: $?" || return
	assert_eq "10m.bin" "$(sha "$QS_DOCROOT/10m.bin")" "$(sha "$DL/10m.bin")"
}

# --max-streams bounds the streams of a connection; --max-header-bytes its header block
test_h2_concurrent_streams_and_header_limits() {
	local out big
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start h2streams 1 --max-streams 5 --max-header-bytes 8192
	out=$(flood streams)
	assert_eq "20 streams at once, 5 allowed" "done 5 refused 15" "$out" || return
	big=$(head -c 3000 /dev/zero | tr '\0' a)
	assert_eq "header block over --max-header-bytes" 431 \
		"$(c2 -H "x-a: $big" -H "x-b: $big" -H "x-c: $big" -o /dev/null -w '%{http_code}' \
			"$(url small.txt)")" || return
	assert_eq "GET after" 200 "$(c2 -o /dev/null -w '%{http_code}' "$(url small.txt)")"
}

test_h2_rapid_reset_flood_goaway() { flood_test rapid_reset; }
test_h2_ping_flood_goaway() { flood_test ping; }
test_h2_settings_flood_goaway() { flood_test settings; }
test_h2_continuation_flood_goaway() { flood_test continuation; }
test_h2_window_update_flood_goaway() { flood_test window_update; }
test_h2_priority_flood_goaway() { flood_test priority; }
test_h2_empty_data_flood_goaway() { flood_test empty_data; }

# reload with a download in flight on an HTTP/2 connection: GOAWAY, the
# download completes, new connections go to the new generation
test_h2_reload_in_flight_download_completes() {
	local cpid status=0 out
	need_root_bpf || return
	need_h2_clients || return
	h2_docroot
	qs_start h2reload 2 --drain-timeout 30
	# slowly: the reload comes while it runs
	c2 --limit-rate 2M -o "$DL/10m.bin" "$(url 10m.bin)" &
	cpid=$!
	defer "kill $cpid"
	wait_until 5 bash -c "[[ \$(source $ROOT/tests/lib.sh; QS_PIN=$QS_PIN workers_sum req_h2) -ge 1 ]]" ||
		fail "request did not start" || return
	kill -HUP "$QS_PID"
	wait_until 5 bash -c "grep -q 'reload: generation 1 (2 workers) takes new connections' $QS_LOG" ||
		fail "no reload: $(tail -5 "$QS_LOG")" || return
	assert_eq "GET after the reload" 200 "$(c2 -o /dev/null -w '%{http_code}' "$(url small.txt)")" || return
	wait "$cpid" || status=$?
	assert_eq "curl exit status" 0 "$status" || return
	assert_eq "10m.bin complete" "$(sha "$QS_DOCROOT/10m.bin")" "$(sha "$DL/10m.bin")" || return
	# the old generation's workers are gone once the connection closed
	wait_until 10 bash -c "[[ \$(source $ROOT/tests/lib.sh; QS_PIN=$QS_PIN workers_running) == 2 ]]" ||
		fail "old workers still running: $(tail -5 "$QS_LOG")"
}
