# SPDX-License-Identifier: MIT
# HTTP/1.1 over TLS over TCP (http/h1.c, http/h1parse.c) end to end: Debian's
# curl for what a client does (keep-alive, uploads plain, chunked and with
# Expect: 100-continue, static files, PHP), and raw bytes from Python's ssl
# module for what a hostile one does (smuggling, pipelining, slowloris).
# The worker's own counters are the oracle; after each attack a normal
# request must still work.

need_h1() {
	need_root_bpf || return
	command -v curl >/dev/null || { need "curl"; return; }
	[[ -x /usr/bin/python3 ]] || { need "python3"; return; }
}

# h1 ARGS... URL-PATH: curl over HTTP/1.1 to the instance
h1() {
	local path=${*: -1}
	curl -sk --http1.1 --max-time 20 --resolve "localhost:$QS_PORT:127.0.0.1" "${@:1:$#-1}" \
		"https://localhost:$QS_PORT$path"
}

# raw MODE REQUEST [ARG]: REQUEST (Python escapes: \r\n, \x00) over TLS,
# prints the bytes that came back, then CLOSED (the server closed) or OPEN
# (nothing more for ARG seconds, 3 by default).  MODE trickle: REQUEST a
# byte every 0.5 s then "x" bytes until the server closes; prints the
# seconds it took.
raw() {
	/usr/bin/python3 - "$QS_PORT" "$@" <<'EOF'
import socket, ssl, sys, time
port, mode, req = int(sys.argv[1]), sys.argv[2], sys.argv[3]
arg = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
req = req.encode('latin1').decode('unicode_escape').encode('latin1')
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(['http/1.1'])
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port)), server_hostname='localhost')
t0 = time.monotonic()
if mode == 'trickle':
    try:
        for b in req + b'x' * 200:
            s.sendall(bytes([b]))
            time.sleep(0.5)
        print('OPEN')
    except OSError:
        print('CLOSED after %.1f s' % (time.monotonic() - t0))
    sys.exit(0)
s.sendall(req)
s.settimeout(arg)
out = b''
try:
    while True:
        d = s.recv(65536)
        if not d:
            out += b'\nCLOSED\n'
            break
        out += d
except socket.timeout:
    out += b'\nOPEN\n'
except OSError:
    out += b'\nCLOSED\n'
sys.stdout.write(out.decode('latin1'))
EOF
}

# the worker still answers a normal request
still_serves() {
	[[ $(h1 /index.html) == "quicsteer test docroot" ]] || fail "no answer after the attack"
}

test_h1_static_get_head_range_conditional_keepalive() {
	local out etag
	need_h1 || return
	qs_start h1static 1
	out=$(h1 -D - /index.html)
	grep -q '^HTTP/1.1 200 OK' <<<"$out" || fail "GET: $out"
	grep -q "^alt-svc: h3=\":$QS_PORT\"; ma=86400" <<<"$out" || fail "no alt-svc: $out"
	grep -q '^quicsteer test docroot$' <<<"$out" || fail "GET body: $out"
	# keep-alive: two URLs, one connection
	out=$(h1 -v "https://localhost:$QS_PORT/index.html" /index.html 2>&1 >/dev/null)
	grep -q 'Re-using existing connection' <<<"$out" || fail "connection not reused: $out"
	out=$(h1 -I /index.html)
	grep -qi '^content-length: 23' <<<"$out" || fail "HEAD: $out"
	out=$(h1 -r 0-8 -D - /index.html)
	grep -q '^HTTP/1.1 206' <<<"$out" || fail "Range: $out"
	[[ ${out: -9} == "quicsteer" ]] || fail "Range body: $out"
	etag=$(h1 -I /index.html | sed -n 's/^etag: \(.*\)\r$/\1/p')
	[[ -n $etag ]] || fail "no etag"
	out=$(h1 -D - -H "If-None-Match: $etag" /index.html)
	grep -q '^HTTP/1.1 304' <<<"$out" || fail "If-None-Match: $out"
	assert_eq "requests counted" 7 "$(workers_sum req_h1)"
}

test_h1_large_file_with_backpressure() {
	local sum
	need_h1 || return
	qs_start h1big 1
	head -c 20000000 /dev/urandom >"$QS_DOCROOT/big.bin"
	chmod 644 "$QS_DOCROOT/big.bin"
	sum=$(sha256sum <"$QS_DOCROOT/big.bin")
	# a slow reader first: the worker holds a bounded queue, not the file
	[[ $(h1 --limit-rate 4M /big.bin | sha256sum) == "$sum" ]] || fail "slow download differs"
	[[ $(h1 /big.bin | sha256sum) == "$sum" ]] || fail "download differs"
}

php_facts_script() {
	cat >"$QS_DOCROOT/facts.php" <<'EOF'
<?php
echo $_SERVER["SERVER_PROTOCOL"], " ", $_SERVER["HTTPS"], " ", $_SERVER["SSL_PROTOCOL"], " ",
	$_SERVER["REQUEST_METHOD"], " ", $_SERVER["HTTP_HOST"], " ",
	hash("sha256", file_get_contents("php://input")), "\n";
EOF
	chmod a+r "$QS_DOCROOT/facts.php"
}

test_h1_php_uploads_plain_chunked_expect() {
	local f sum out
	need_h1 || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	make_docroot
	php_facts_script
	qs_start h1php 1 --fastcgi managed
	out=$(h1 /facts.php)
	[[ $out == "HTTP/1.1 on TLSv1.3 GET localhost:$QS_PORT $(printf '' | sha256sum | cut -d' ' -f1)" ]] ||
		fail "GET facts: $out"
	f=$(mktemp /tmp/qs-test-up.XXXXXX)
	defer "rm -f $f"
	head -c 3000000 /dev/urandom >"$f"
	sum=$(sha256sum <"$f" | cut -d' ' -f1)
	out=$(h1 --data-binary @"$f" /facts.php)
	[[ $out == "HTTP/1.1 on TLSv1.3 POST localhost:$QS_PORT $sum" ]] || fail "POST: $out"
	out=$(h1 -H 'Transfer-Encoding: chunked' --data-binary @"$f" /facts.php)
	[[ $out == *" POST localhost:$QS_PORT $sum" ]] || fail "chunked POST: $out"
	out=$(h1 -v -H 'Expect: 100-continue' -T "$f" /facts.php 2>&1)
	grep -q '^< HTTP/1.1 100 Continue' <<<"$out" || fail "no 100 Continue: $out"
	grep -q " PUT localhost:$QS_PORT $sum\$" <<<"$out" || fail "PUT with Expect: $out"
	# a malformed chunk while PHP waits for the body: 400, closed
	refused 'POST /facts.php HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nfffffffffffffffff\r\n'
	refused 'POST /facts.php HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY\r\n'
	assert_eq "400s counted" 2 "$(workers_sum h1_bad_requests)"
	# an HTTP/1.0 request: the connection closes after the answer
	out=$(raw send 'GET /facts.php HTTP/1.0\r\n\r\n')
	grep -q '^HTTP/1.0 on TLSv1.3 GET  ' <<<"$out" || fail "HTTP/1.0: $out"
	[[ $(tail -1 <<<"$out") == CLOSED ]] || fail "HTTP/1.0 connection kept: $out"
}

# hostile REQUEST: 400 (or STATUS), the connection closed, counted, and the worker fine
refused() {
	local req=$1 status=${2:-400} out
	out=$(raw send "$req")
	grep -q "^HTTP/1.1 $status " <<<"$out" || { fail "$req: not $status: $out"; return; }
	grep -q '^connection: close' <<<"$out" ||
		{ fail "$req: no connection: close: $out"; return; }
	[[ $(tail -1 <<<"$out") == CLOSED ]] || { fail "$req: not closed: $out"; return; }
	still_serves
}

test_h1_smuggling_refused_and_closed() {
	local h='GET /index.html HTTP/1.1\r\nHost: localhost\r\n'
	need_h1 || return
	qs_start h1smug 1
	refused 'POST /index.html HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
	refused 'POST /index.html HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'
	refused 'POST /index.html HTTP/1.1\r\nHost: a\r\nContent-Length: 1,2\r\n\r\nhello'
	refused 'POST /index.html HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello'
	refused "${h}X-A: 1\\r\\n b\\r\\n\\r\\n"
	refused "${h}X-A: 1\\nX-B: 2\\r\\n\\r\\n"
	refused "${h}X-A: 1\\rX-B: 2\\r\\n\\r\\n"
	refused "${h}X-A: a\\x00b\\r\\n\\r\\n"
	refused 'GET /index.html HTTP/1.1\r\n\r\n'
	refused 'POST /index.html HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' 501
	refused 'GET http://evil.example/index.html HTTP/1.1\r\nHost: localhost\r\n\r\n'
	refused 'PUT /index.html HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na' 417
	assert_eq "400s counted" 10 "$(workers_sum h1_bad_requests)"
	assert_eq "the worker lives" 1 "$(workers_running)"
}

test_h1_limits_414_431() {
	local long
	need_h1 || return
	qs_start h1lim 1 --max-header-bytes 16384
	long=$(printf 'a%.0s' $(seq 9000))
	refused "GET /$long HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n" 414
	refused "GET / HTTP/1.1\\r\\nHost: a\\r\\nX-A: $long$long\\r\\n\\r\\n" 431
	refused "GET / HTTP/1.1\\r\\nHost: a\\r\\n$(for i in $(seq 101); do printf 'X-%d: 1\\r\\n' "$i"; done)\\r\\n" 431
}

test_h1_pipelined_requests_answered_in_order() {
	local out
	need_h1 || return
	qs_start h1pipe 1
	echo second >"$QS_DOCROOT/two.txt"
	chmod 644 "$QS_DOCROOT/two.txt"
	out=$(raw send 'GET /index.html HTTP/1.1\r\nHost: a\r\n\r\nGET /two.txt HTTP/1.1\r\nHost: a\r\n\r\nHEAD /two.txt HTTP/1.1\r\nHost: a\r\n\r\n' 1)
	assert_eq "three responses" 3 "$(grep -c '^HTTP/1.1 200' <<<"$out")"
	assert_eq "in order, HEAD without a body" "quicsteer test docroot second " \
		"$(grep -E '^(quicsteer test docroot|second)' <<<"$out" | tr '\n' ' ')"
	[[ $(tail -1 <<<"$out") == OPEN ]] || fail "keep-alive connection closed: $out"
}

test_h1_slowloris_and_idle_timeouts() {
	local out t0 t1
	need_h1 || return
	qs_start h1slow 1 --client-header-timeout 2 --keepalive-timeout 2
	# a header trickle: closed at --client-header-timeout, not when it ends
	out=$(raw trickle 'GET /index.html HTTP/1.1\r\nHost: a\r\nX-A: ')
	[[ $out == CLOSED* ]] || fail "slowloris not closed: $out"
	t1=${out#CLOSED after }
	t1=${t1%% *}
	awk -v t="$t1" 'BEGIN { exit !(t >= 1.5 && t < 6) }' || fail "closed after $t1 s"
	assert_eq "header timeout counted" 1 "$(workers_sum req_header_timeouts)"
	# kept alive with no request: closed at --keepalive-timeout
	t0=$(date +%s.%N)
	out=$(raw send 'GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n' 10)
	t1=$(date +%s.%N)
	grep -q '^HTTP/1.1 200' <<<"$out" || fail "no answer: $out"
	[[ $(tail -1 <<<"$out") == CLOSED ]] || fail "idle connection not closed: $out"
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.5 && b - a < 8) }' ||
		fail "idle close after $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') s"
	still_serves
}

test_h1_drain_closes_idle_keepalive_connections() {
	local out t0 t1 client
	need_h1 || return
	qs_start h1drain 1 --keepalive-timeout 60 --drain-timeout 30
	out=$(mktemp /tmp/qs-test-h1drain.XXXXXX)
	defer "rm -f $out"
	raw send 'GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n' 20 >"$out" &
	client=$!
	defer "kill $client 2>/dev/null; wait $client 2>/dev/null || true"
	sleep 1		# answered, and idle on its keep-alive connection
	# a reload: the old worker drains, and its idle keep-alive connection
	# closes now, not at --drain-timeout
	t0=$(date +%s)
	kill -HUP "$QS_PID"
	wait_until 10 is_dead "$client" || fail "not closed on drain"
	t1=$(date +%s)
	grep -q '^quicsteer test docroot' "$out" || fail "no answer: $(cat "$out")"
	[[ $(tail -1 "$out") == CLOSED ]] || fail "not closed: $(cat "$out")"
	((t1 - t0 < 10)) || fail "closed after $((t1 - t0)) s"
}

# A request answered before its body was read (405 on a static file) ends
# the connection; the client still sending its body must still read the
# answer: the worker shuts its side and drops what comes for a while
# instead of closing at once (which resets, and the client loses the
# answer).  A client that sends on and on is closed at the limits.
test_h1_early_answer_lingering_close() {
	local out
	need_h1 || return
	qs_start h1linger 1
	out=$(/usr/bin/python3 - "$QS_PORT" <<'PYEOF'
import socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
def conn():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.sendall(b"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\n")
    s.sendall(b"x" * (64 << 10))
    time.sleep(0.5)   # the server answers and ends the connection meanwhile
    return s
answered = 0
for trial in range(3):
    s = conn()
    try:
        s.sendall(b"x" * (512 << 10))
        s.settimeout(5)
        answered += s.recv(4096).startswith(b"HTTP/1.1 405")
    except OSError as e:
        print("error:", e)
print("answered", answered)
# on and on: the server stops listening after its limits
s = conn()
t0, sent = time.time(), 0
try:
    s.settimeout(10)
    while time.time() - t0 < 15:
        s.sendall(b"x" * (64 << 10))
        sent += 64 << 10
except OSError:
    pass
print("cut", "yes" if time.time() - t0 < 15 else "no")
PYEOF
)
	info "$(tr '\n' ' ' <<<"$out")"
	assert_eq "answers read while still sending" "answered 3" "$(grep answered <<<"$out")" || return
	assert_eq "an endless body is cut" "cut yes" "$(grep cut <<<"$out")" || return
	assert_eq "the worker lives" 1 "$(workers_running)"
}
