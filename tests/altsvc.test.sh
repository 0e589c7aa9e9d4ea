# SPDX-License-Identifier: MIT
# A real client finds HTTP/3 through alt-svc: curl with an alt-svc cache
# file (`--alt-svc FILE`) makes its first request over TCP, stores the
# server's `alt-svc: h3=":PORT"` and makes the next ones over HTTP/3.
# Debian 12's curl has no HTTP/3, so this is the curl scripts/setup.sh
# --tests builds from Debian's curl source against the prefix's OpenSSL 3.5
# and ngtcp2 (never on PATH).  It verifies the development certificate
# (--cacert), as a client that trusts it would.

CURL_H3=${QUICSTEER_DEPS:-/var/cache/quicsteer/deps}/prefix/bin/curl

need_curl_h3() {
	need_root_bpf || return
	if [[ ! -x $CURL_H3 ]] || ! "$CURL_H3" -V 2>/dev/null | grep -q '^Features:.* HTTP3'; then
		need "curl with HTTP/3 at $CURL_H3 (scripts/setup.sh --tests builds it)"
		return
	fi
}

# alt_get CACHE PATH: one request through the alt-svc cache CACHE; prints
# "HTTP_VERSION STATUS"
alt_get() {
	"$CURL_H3" -s --max-time 20 --alt-svc "$1" --cacert "$CERT" -o /dev/null \
		-w '%{http_version} %{http_code}\n' "https://localhost:$QS_PORT$2"
}

altsvc_docroot() {
	make_docroot
	printf 'small file\n' >"$QS_DOCROOT/small.txt"
	chmod a+r "$QS_DOCROOT/small.txt"
	ALT_CACHE=$(mktemp /tmp/qs-test-altsvc.XXXXXX)
	defer "rm -f $ALT_CACHE"
}

# the first request over HTTP/2 writes the cache, the next go over HTTP/3;
# the workers' per-protocol counters agree
test_altsvc_curl_h2_then_h3() {
	local entry
	need_curl_h3 || return
	altsvc_docroot
	qs_start altsvc 2
	assert_eq "first request" "2 200" "$(alt_get "$ALT_CACHE" /small.txt)" || return
	entry=$(grep -v '^#' "$ALT_CACHE" || true)
	[[ $entry == "h2 localhost $QS_PORT h3 localhost $QS_PORT "* ]] ||
		fail "alt-svc cache: '$entry'" || return
	assert_eq "after the first" "1 0 0" \
		"$(workers_sum req_h2) $(workers_sum req_h3) $(workers_sum hs_full)" || return
	assert_eq "second request" "3 200" "$(alt_get "$ALT_CACHE" /small.txt)" || return
	assert_eq "third request" "3 200" "$(alt_get "$ALT_CACHE" /)" || return
	assert_eq "req_h2 req_h3" "1 2" "$(workers_sum req_h2) $(workers_sum req_h3)" || return
	assert_eq "QUIC handshakes" 2 "$(($(workers_sum hs_full) + $(workers_sum hs_resumed)))" || return
	assert_eq "TCP connections" 1 "$(workers_sum tcp_accepted)"
}

# --alt-svc off: nothing to cache, every request stays on TCP
test_altsvc_off_curl_stays_on_h2() {
	need_curl_h3 || return
	altsvc_docroot
	qs_start altoff 1 --alt-svc off
	assert_eq "first request" "2 200" "$(alt_get "$ALT_CACHE" /small.txt)" || return
	assert_eq "second request" "2 200" "$(alt_get "$ALT_CACHE" /small.txt)" || return
	assert_eq "alt-svc cache entries" 0 "$(grep -cv '^#' "$ALT_CACHE" || true)" || return
	assert_eq "req_h2 req_h3" "2 0" "$(workers_sum req_h2) $(workers_sum req_h3)" || return
	assert_eq "QUIC connections" 0 "$(workers_sum conn_accepted)"
}
