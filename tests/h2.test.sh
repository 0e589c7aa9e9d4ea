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
