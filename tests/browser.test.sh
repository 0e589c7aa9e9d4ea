# SPDX-License-Identifier: MIT
# A real browser: Debian's Chromium, headless, driven over the DevTools
# protocol by puppeteer-core (tests/tools/browser/drive.js; scripts/setup.sh
# installs it with `npm ci` into the deps cache).  The development
# certificate is trusted the way a user trusts a local CA: added with
# certutil to the NSS store of the browser's HOME ($HOME/.pki/nssdb), no
# flag that skips verification.  --no-sandbox only because the tests run as
# root.  --host-resolver-rules keeps every name but localhost from resolving,
# so the browser's own background requests never leave the machine.
#
# What Chromium 156 was seen to do, asserted here so that a change shows:
# - it loads the demo over HTTP/2, posts its form and uploads a file;
# - with --origin-to-force-quic-on=localhost:PORT, the same over HTTP/3,
#   with no TCP connection at all;
# - alt-svc alone never moves it to HTTP/3 with a locally trusted CA: it
#   opens a QUIC connection to the alt-svc, refuses the certificate in the
#   handshake (a QUIC certificate must chain to a root of its built-in store
#   unless its host is named in --origin-to-force-quic-on) and marks the
#   alternative broken; the server sees a connection and no handshake;
# - with the host named for another port (localhost:9), the origin is
#   exempt from that rule and not forced: the first load goes over HTTP/2
#   and the next ones over HTTP/3 from alt-svc (--alt-svc off: never).
# Chromium sends QUIC to the first address of localhost, ::1, without
# falling back to 127.0.0.1: the server listens on both.

CHROMIUM=/usr/bin/chromium
BROWSER_NODE_MODULES=${QUICSTEER_DEPS:-/var/cache/quicsteer/deps}/browser/node_modules
DRIVE=$ROOT/tests/tools/browser/drive.js
MESSAGE="hello from chromium"

need_browser() {
	need_root_bpf || return
	[[ -x $CHROMIUM ]] || { need "chromium (Debian package chromium; scripts/setup.sh --tests)"; return; }
	command -v certutil >/dev/null || { need "certutil (package libnss3-tools; scripts/setup.sh --tests)"; return; }
	command -v node >/dev/null || { need "node (package nodejs)"; return; }
	[[ -d $BROWSER_NODE_MODULES/puppeteer-core ]] ||
		{ need "puppeteer-core in $BROWSER_NODE_MODULES (scripts/setup.sh --tests)"; return; }
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128' ||
		{ need "IPv6 loopback ::1 (Chromium sends QUIC for localhost there)"; return; }
	return 0
}

# browser_server NAME ARGS...: the demo (www/) with PHP, on 127.0.0.1 and
# ::1; a HOME whose NSS store trusts the development certificate
browser_server() {
	local name=$1
	shift
	make_docroot
	cp "$ROOT/www/index.php" "$ROOT/www/index.html" "$QS_DOCROOT/"
	chmod 644 "$QS_DOCROOT"/*
	qs_start "$name" 1 --fastcgi managed --listen "127.0.0.1:@PORT@" --listen "[::1]:@PORT@" "$@"
	BROWSER_HOME=$(mktemp -d /tmp/qs-test-browser.XXXXXX)
	defer "rm -rf $BROWSER_HOME"
	mkdir -p "$BROWSER_HOME/.pki/nssdb"
	certutil -N -d "sql:$BROWSER_HOME/.pki/nssdb" --empty-password
	certutil -A -d "sql:$BROWSER_HOME/.pki/nssdb" -n "quicsteer development" -t "C,," -i "$CERT"
}

# browser_start FLAGS...: Chromium in a session of its own (so that
# browser_stop ends its helper processes too); sets BROWSER_PID and
# BROWSER_WS, its DevTools endpoint
browser_start() {
	local profile=$BROWSER_HOME/profile lines
	HOME=$BROWSER_HOME setsid "$CHROMIUM" --headless --no-sandbox \
		--user-data-dir="$profile" --remote-debugging-port=0 \
		--no-first-run --no-default-browser-check --disable-background-networking \
		--disable-component-update --disable-sync \
		--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE localhost" \
		"$@" about:blank >"$BROWSER_HOME/chromium.log" 2>&1 &
	BROWSER_PID=$!
	defer "browser_stop $BROWSER_PID"
	wait_until 30 devtools_ready "$profile/DevToolsActivePort" ||
		fail "no DevTools endpoint from chromium: $(tail -5 "$BROWSER_HOME/chromium.log")" || return
	mapfile -t lines <"$profile/DevToolsActivePort"
	BROWSER_WS=ws://127.0.0.1:${lines[0]}${lines[1]}
}

# its port and path, two lines (the last without a newline)
devtools_ready() { [[ -n $(sed -n 2p "$1" 2>/dev/null) ]]; }

# browser_stop PID: SIGTERM, on which Chromium ends and reaps its helper
# processes; whatever is left of its process group after 5 s, SIGKILL
browser_stop() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	wait_until 5 is_dead "$pid" || true
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

# drive SCENARIO ARGS...: drive.js against the instance; its JSON lines in
# $BROWSER_HOME/steps, and shown
drive() {
	local status=0
	NODE_PATH=$BROWSER_NODE_MODULES timeout 90 node "$DRIVE" "$BROWSER_WS" \
		"https://localhost:$QS_PORT" "$@" >"$BROWSER_HOME/steps" 2>"$BROWSER_HOME/drive.err" ||
		status=$?
	jq -c '{step, status, protocol, ms, server: .page.protocol}' "$BROWSER_HOME/steps" |
		sed 's/^/  /'
	((status == 0)) || fail "drive.js $1: status $status: $(tail -3 "$BROWSER_HOME/steps" \
		"$BROWSER_HOME/drive.err")"
}

step_field() { # STEP JQ_PATH: of the last line of that step
	jq -rs --arg s "$1" "[.[] | select(.step == \$s)] | last | $2" "$BROWSER_HOME/steps"
}

# check_visit PROTO SERVER_PROTOCOL UPLOAD: the four steps of `visit` came
# over PROTO, the page saw SERVER_PROTOCOL, the form and the upload arrived
check_visit() {
	local proto=$1 sp=$2 upload=$3 s sum
	for s in index demo form upload; do
		assert_eq "$s: status" 200 "$(step_field $s .status)" || return
		assert_eq "$s: nextHopProtocol" "$proto" "$(step_field $s .protocol)" || return
	done
	for s in demo form upload; do
		assert_eq "$s: SERVER_PROTOCOL" "$sp" "$(step_field $s .page.protocol)" || return
	done
	assert_eq "form: method" POST "$(step_field form .page.method)" || return
	assert_eq "form: the field as PHP read it" "form field: $MESSAGE" \
		"$(step_field form '.page.paragraphs[] | select(startswith("form field"))')" || return
	sum=$(sha256sum "$upload" | cut -d' ' -f1)
	assert_eq "upload: as PHP received it" \
		"upload: $(basename "$upload"): $(stat -c %s "$upload") bytes, sha256 $sum" \
		"$(step_field upload '.page.paragraphs[] | select(startswith("upload"))')"
}

# protocols: the nextHopProtocol of every step, in order, on one line
protocols() {
	jq -r .protocol "$BROWSER_HOME/steps" | paste -sd' '
}

upload_file() {
	head -c 300000 /dev/urandom >"$BROWSER_HOME/upload.bin"
	echo "$BROWSER_HOME/upload.bin"
}

counters() {
	info "server: req_h2=$(workers_sum req_h2) req_h3=$(workers_sum req_h3)" \
		"tcp_accepted=$(workers_sum tcp_accepted) quic conn_accepted=$(workers_sum conn_accepted)" \
		"hs_full=$(workers_sum hs_full) hs_resumed=$(workers_sum hs_resumed)"
}

# no flag: HTTP/2, the form and an upload
test_browser_h2_form_and_upload() {
	local upload
	need_browser || return
	browser_server brh2
	upload=$(upload_file)
	browser_start || return
	info "$("$CHROMIUM" --version 2>/dev/null)"
	drive visit "$upload" || return
	counters
	check_visit h2 HTTP/2.0 "$upload" || return
	assert_ge "req_h2" 4 "$(workers_sum req_h2)" || return
	assert_eq "req_h3" 0 "$(workers_sum req_h3)"
}

# --origin-to-force-quic-on: HTTP/3 from the first request, no TCP at all
test_browser_h3_forced_form_and_upload() {
	local upload
	need_browser || return
	browser_server brh3
	upload=$(upload_file)
	browser_start --origin-to-force-quic-on="localhost:$QS_PORT" || return
	drive visit "$upload" || return
	counters
	check_visit h3 HTTP/3 "$upload" || return
	assert_ge "req_h3" 4 "$(workers_sum req_h3)" || return
	assert_ge "QUIC handshakes" 1 "$(workers_sum hs_full)" || return
	assert_eq "req_h2" 0 "$(workers_sum req_h2)" || return
	assert_eq "TCP connections" 0 "$(workers_sum tcp_accepted)"
}

# alt-svc with the locally trusted CA: Chromium tries QUIC once, refuses the
# certificate, and stays on HTTP/2 across loads, new tabs and a pause
test_browser_altsvc_local_ca_stays_on_h2() {
	local why
	need_browser || return
	browser_server bralt
	# its NetLog (only written, no behaviour changed) says why it gave up
	browser_start --log-net-log="$BROWSER_HOME/netlog.json" || return
	drive probe 5 2 700 || return
	counters
	assert_eq "protocols" "h2 h2 h2 h2 h2 h2 h2" "$(protocols)" || return
	assert_eq "req_h3" 0 "$(workers_sum req_h3)" || return
	assert_ge "QUIC connections Chromium opened to the alt-svc" 1 "$(workers_sum conn_accepted)" || return
	assert_eq "QUIC handshakes completed" 0 "$(($(workers_sum hs_full) + $(workers_sum hs_resumed)))" || return
	why=$(grep -o '"details":"TLS handshake failure[^"]*' "$BROWSER_HOME/netlog.json" | head -n 1)
	info "Chromium closed the QUIC connection: ${why#*:\"}"
	[[ $why == *"certificate unknown"* ]] || fail "no certificate failure in Chromium's NetLog: '$why'"
}

# the host named in --origin-to-force-quic-on for a port nothing serves:
# not forced, but exempt from the known-root rule, so the real origin moves
# from HTTP/2 to HTTP/3 through alt-svc
test_browser_altsvc_h3_when_host_exempt() {
	local p
	need_browser || return
	browser_server brex
	browser_start --origin-to-force-quic-on=localhost:9 || return
	drive probe 4 2 500 || return
	counters
	p=$(protocols)
	[[ $p == "h2 "*" h3" ]] || fail "protocols: expected the first h2, the last h3: $p" || return
	assert_ge "req_h2 (before alt-svc)" 1 "$(workers_sum req_h2)" || return
	assert_ge "req_h3 (after alt-svc)" 1 "$(workers_sum req_h3)" || return
	assert_ge "QUIC handshakes" 1 "$(workers_sum hs_full)"
}

# the same browser, the server with --alt-svc off: nothing tells it about
# HTTP/3, so it never tries
test_browser_altsvc_off_stays_on_h2() {
	need_browser || return
	browser_server broff --alt-svc off
	browser_start --origin-to-force-quic-on=localhost:9 || return
	drive probe 4 2 500 || return
	counters
	assert_eq "protocols" "h2 h2 h2 h2 h2 h2" "$(protocols)" || return
	assert_eq "QUIC connections" 0 "$(workers_sum conn_accepted)" || return
	assert_eq "req_h3" 0 "$(workers_sum req_h3)"
}
