# SPDX-License-Identifier: MIT
# The access log (--access-log), request ids, W3C trace context and
# --log-format json, end to end: exactly one JSON line per request over
# HTTP/3 (gtlsclient, quicsteer-load), HTTP/2 and HTTP/1.1 (curl), for
# static files, PHP, errors and 0-RTT; ids and traceparent given, absent,
# invalid and hostile; the file reopened on SIGUSR1 after logrotate moved
# it; a full disk drops and counts lines without stopping anything.

GTLS=${GTLS:-gtlsclient}
LOAD=.output/quicsteer-load

al_need() {
	need_root_bpf || return
	command -v "$GTLS" >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	curl -V 2>/dev/null | grep -q 'HTTP2' || { need "curl with HTTP2"; return; }
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	[[ -x $LOAD ]] || { need "$LOAD (make)"; return; }
	AL=$(mktemp -d /tmp/qs-test-al.XXXXXX)
	defer "rm -rf $AL"
	chmod 711 "$AL"                  # the workers (www-data) reach the log's directory
	install -d -m 0755 "$AL/logs"
	install -d -m 0777 "$AL/w"       # what PHP saw
	ALOG=$AL/logs/access.log
	make_docroot
	printf 'hello\n' >"$QS_DOCROOT/hi.txt"
	# ids.php: the request id and trace context PHP got, as one JSON line
	cat >"$QS_DOCROOT/ids.php" <<PHP
<?php
\$k = ['REQUEST_ID', 'HTTP_X_REQUEST_ID', 'HTTP_TRACEPARENT', 'HTTP_TRACESTATE', 'TRACE_ID',
	'SPAN_ID', 'PARENT_SPAN_ID'];
\$o = [];
foreach (\$k as \$n) \$o[\$n] = \$_SERVER[\$n] ?? null;
\$j = json_encode(\$o, JSON_UNESCAPED_SLASHES);
file_put_contents('$AL/w/seen', \$j . "\n", FILE_APPEND | LOCK_EX);
echo \$j, "\n";
PHP
	chmod -R a+rX "$QS_DOCROOT"
	return 0
}

al_start() { # NAME ARGS...
	local name=$1
	shift
	qs_start "$name" 2 --fastcgi managed --php-max-children 2 --access-log "$ALOG" "$@"
}

# the lines once the workers flushed them (at least once a second)
al_wait_lines() { # N [FILE]
	local f=${2:-$ALOG}
	wait_until 5 al_has "$1" "$f" || fail "$(wc -l <"$f") lines in $f, $1 expected: $(cat "$f")"
}
al_has() { [[ $(wc -l <"$2") -ge $1 ]]; }
log_says() { [[ $(grep -c "$1" "$QS_LOG") == "$2" ]]; } # PATTERN N: N lines of the server's log
dropped_at_least() { (($(workers_sum access_log_dropped) >= $1)); }

# curl over TCP: c PROTO ARGS... PATH (PROTO: --http2 or --http1.1)
c() {
	local proto=$1 path=${*: -1}
	curl -sk "$proto" --max-time 20 --resolve "qs:$QS_PORT:127.0.0.1" "${@:2:$#-2}" \
		"https://qs:$QS_PORT$path"
}

# h3 PATH...: GETs over HTTP/3, one connection; gtlsclient's output
h3() {
	local u=() p
	for p in "$@"; do u+=("https://127.0.0.1:$QS_PORT$p"); done
	timeout 20 "$GTLS" --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "${u[@]}" 2>&1
}

# every line is one JSON object with every field, of the right type
al_check_schema() {
	local f=${1:-$ALOG} bad
	bad=$(jq -c 'select(
		(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$") | not) or
		(.request_id | type) != "string" or
		(.trace_id | test("^[0-9a-f]{32}$") | not) or (.span_id | test("^[0-9a-f]{16}$") | not) or
		(.client != "127.0.0.1") or (.client_port | type) != "number" or
		(.migrated | type) != "boolean" or
		([.protocol] | inside(["h3", "h2", "h1.1", "h1.0"]) | not) or
		(.status | type) != "number" or (.bytes_in | type) != "number" or
		(.bytes_out | type) != "number" or (.duration_ms | type) != "number" or
		([.upstream] | inside(["static", "php", "internal"]) | not) or
		((.upstream == "php") != (.upstream_ms != null) and .upstream_ms != null) or
		(.worker | type) != "number" or (.generation != 0) or
		(.tls_resumed | type) != "boolean" or (.early_data | type) != "boolean" or
		(.aborted | type) != "boolean")' "$f" 2>&1)
	[[ -z $bad ]] || fail "lines not as they should be: $bad"
}

# field values of the lines, one line each: al_fields 'JQ'
al_fields() { jq -r "$1" "$ALOG" | sort; }

test_accesslog_one_line_per_request_each_protocol() {
	local out exp got
	al_need || return
	al_start alp
	# HTTP/3: a file, a missing one, a malformed path, PHP
	out=$(h3 /hi.txt /nope /%zz /ids.php)
	assert_eq "h3 statuses" "200 404 400 200" "$(gtls_statuses <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
	# HTTP/2 and HTTP/1.1 the same, and a malformed request each
	for p in --http2 --http1.1; do
		assert_eq "$p file" 200 "$(c $p -o /dev/null -w '%{http_code}' /hi.txt)"
		assert_eq "$p missing" 404 "$(c $p -o /dev/null -w '%{http_code}' /nope)"
		assert_eq "$p malformed path" 400 "$(c $p -o /dev/null -w '%{http_code}' /%zz)"
		assert_eq "$p PHP" 200 "$(c $p -o /dev/null -w '%{http_code}' /ids.php)"
	done
	# HTTP/1.1 the server refuses before any handler: a raw space in the target
	assert_eq "h1 syntax" 400 "$(c --http1.1 -o /dev/null -w '%{http_code}' \
		--request-target '/a b' /)"
	# a POST to PHP with a body over HTTP/2
	assert_eq "h2 POST" 200 "$(c --http2 -o /dev/null -w '%{http_code}' \
		--data-binary 'twelve bytes' /ids.php)"
	al_wait_lines 14
	assert_eq "lines" 14 "$(wc -l <"$ALOG")"
	al_check_schema
	exp=$(cat <<'E'
h1.1 GET /%zz 400 static
h1.1  null 400 internal
h1.1 GET /hi.txt 200 static
h1.1 GET /ids.php 200 php
h1.1 GET /nope 404 static
h2 GET /%zz 400 static
h2 GET /hi.txt 200 static
h2 GET /ids.php 200 php
h2 GET /nope 404 static
h2 POST /ids.php 200 php
h3 GET /%zz 400 static
h3 GET /hi.txt 200 static
h3 GET /ids.php 200 php
h3 GET /nope 404 static
E
)
	got=$(al_fields '"\(.protocol) \(.method) \(.path) \(.status) \(.upstream)"')
	assert_eq "protocol, method, path, status, upstream" \
		"$(sort <<<"$exp")" "$(sort <<<"$got")"
	assert_eq "file bytes out, each protocol" "6 6 6" \
		"$(jq -r 'select(.path == "/hi.txt") | .bytes_out' "$ALOG" | tr '\n' ' ' | sed 's/ $//')"
	assert_eq "POST bytes in" 12 "$(jq -r 'select(.method == "POST") | .bytes_in' "$ALOG")"
	assert_eq "upstream_ms (php-fpm's time) on PHP lines only" 4 "$(jq -r 'select(.upstream_ms != null) | .upstream' "$ALOG" |
		grep -c php)"
	assert_eq "nothing aborted" 0 "$(jq -r 'select(.aborted) | .path' "$ALOG" | wc -l)"
	assert_eq "nothing dropped" 0 "$(workers_sum access_log_dropped)"
	# the file the loader made: the workers', 0640
	assert_eq "owner and mode" "www-data 640" "$(stat -c '%U %a' "$ALOG")"
}

TID=4bf92f3577b34da6a3ce929d0e0e4736
PID=00f067aa0ba902b7

# hdr FILE NAME: a response field's value from curl's -D dump
hdr() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | tail -1; }

test_accesslog_request_id_and_traceparent_round_trip() {
	local seen tp span line
	al_need || return
	al_start alids
	# given and sane: kept, echoed, seen by PHP, logged; our span a child of theirs
	c --http2 -D "$AL/h" -o "$AL/b" -H "x-request-id: abc-123" \
		-H "traceparent: 00-$TID-$PID-01" -H "tracestate: k=v" /ids.php
	seen=$(cat "$AL/b")
	tp=$(hdr "$AL/h" traceparent)
	span=${tp:36:16}
	assert_eq "x-request-id echoed" abc-123 "$(hdr "$AL/h" x-request-id)"
	[[ $tp =~ ^00-$TID-[0-9a-f]{16}-01$ && $span != "$PID" ]] ||
		fail "response traceparent $tp: not a child span of $PID in trace $TID" || return
	assert_eq "what PHP saw" \
		"abc-123 abc-123 $tp k=v $TID $span $PID" \
		"$(jq -r '"\(.REQUEST_ID) \(.HTTP_X_REQUEST_ID) \(.HTTP_TRACEPARENT) \(.HTTP_TRACESTATE) \(.TRACE_ID) \(.SPAN_ID) \(.PARENT_SPAN_ID)"' <<<"$seen")"
	# not given: generated, valid, the same everywhere
	c --http1.1 -D "$AL/h" -o "$AL/b" /ids.php
	seen=$(cat "$AL/b")
	assert_eq "a trace we started, in the response" "" "$(hdr "$AL/h" traceparent)"
	tp=$(jq -r .HTTP_TRACEPARENT <<<"$seen")
	[[ $(hdr "$AL/h" x-request-id) =~ ^[0-9a-f]{32}$ ]] ||
		fail "generated x-request-id $(hdr "$AL/h" x-request-id)" || return
	[[ $tp =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-03$ && $tp != 00-00000000000000000000000000000000-* ]] ||
		fail "new trace's traceparent $tp" || return
	assert_eq "what PHP saw, nothing given" \
		"$(hdr "$AL/h" x-request-id) null $tp ${tp:3:32} ${tp:36:16} null" \
		"$(jq -r '"\(.REQUEST_ID) \(.HTTP_X_REQUEST_ID) \(.HTTP_TRACEPARENT) \(.TRACE_ID) \(.SPAN_ID) \(.PARENT_SPAN_ID)"' <<<"$seen")"
	# invalid: replaced; the client's own value still reaches PHP as HTTP_X_REQUEST_ID;
	# a trace we restart drops its tracestate
	c --http2 -D "$AL/h" -o "$AL/b" -H "x-request-id: bad id;rm" \
		-H "traceparent: 00-${TID^^}-$PID-01" -H "tracestate: k=v" /ids.php
	seen=$(cat "$AL/b")
	[[ $(hdr "$AL/h" x-request-id) =~ ^[0-9a-f]{32}$ ]] ||
		fail "invalid x-request-id not replaced: $(hdr "$AL/h" x-request-id)" || return
	[[ $(jq -r .TRACE_ID <<<"$seen") != "$TID" && $(jq -r .PARENT_SPAN_ID <<<"$seen") == null ]] ||
		fail "an uppercase traceparent was continued: $seen" || return
	assert_eq "the client's id and tracestate" "bad id;rm null $(hdr "$AL/h" x-request-id)" \
		"$(jq -r '"\(.HTTP_X_REQUEST_ID) \(.HTTP_TRACESTATE) \(.REQUEST_ID)"' <<<"$seen")"
	# a later version is read as 00; what we pass on is 00
	c --http1.1 -D "$AL/h" -o "$AL/b" -H "traceparent: 01-$TID-$PID-00-future" /ids.php
	[[ $(hdr "$AL/h" traceparent) =~ ^00-$TID-[0-9a-f]{16}-00$ ]] ||
		fail "version 01 not continued: $(hdr "$AL/h" traceparent)" || return
	# HTTP/3
	"$LOAD" -k -n 1 -H "x-request-id:h3-id-1" -H "traceparent:00-$TID-$PID-01" \
		"https://127.0.0.1:$QS_PORT/ids.php" >/dev/null || fail "HTTP/3 request failed" || return
	seen=$(tail -1 "$AL/w/seen")
	assert_eq "what PHP saw over HTTP/3" "h3-id-1 $TID $PID" \
		"$(jq -r '"\(.REQUEST_ID) \(.TRACE_ID) \(.PARENT_SPAN_ID)"' <<<"$seen")"
	# the access log says the same as PHP, line for line
	al_wait_lines 5
	al_check_schema
	while read -r line; do
		jq -e -s --argjson s "$line" 'any(.[]; .request_id == $s.REQUEST_ID and
			.trace_id == $s.TRACE_ID and .span_id == $s.SPAN_ID and
			.parent_id == $s.PARENT_SPAN_ID)' "$ALOG" >/dev/null ||
			fail "no access log line agrees with what PHP saw: $line; $(cat "$ALOG")" || return
	done <"$AL/w/seen"
	assert_eq "ids unique" 5 "$(jq -r .request_id "$ALOG" | sort -u | wc -l)"
}

# 0-RTT over HTTP/3 (gtlsclient resumes with the session and transport
# parameters of the first connection) and a client that migrates
test_accesslog_0rtt_and_migration() {
	local s out
	al_need || return
	s=$AL/c
	al_start al0rtt
	for i in 1 2; do
		out=$(cd "$AL" && timeout 15 "$GTLS" --exit-on-all-streams-close --no-quic-dump \
			--no-http-dump --timeout=5s --session-file="$s.sess" --tp-file="$s.tp" \
			--wait-for-ticket 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/hi.txt" 2>&1)
		assert_eq "GET $i" 200 "$(gtls_statuses <<<"$out")"
	done
	assert_eq "0-RTT accepted" 1 "$(workers_sum early_accepted)"
	"$LOAD" -k -n 4 --migrate-after 1 "https://127.0.0.1:$QS_PORT/hi.txt" >/dev/null ||
		fail "migrating client failed" || return
	al_wait_lines 6
	al_check_schema
	assert_eq "resumed, early: first, 0-RTT" "false false
true true" "$(jq -s -r 'sort_by(.time) | .[:2][] | "\(.tls_resumed) \(.early_data)"' "$ALOG")"
	assert_ge "lines of a migrated connection" 1 \
		"$(jq -r 'select(.migrated) | .path' "$ALOG" | wc -l)"
	assert_eq "migrations counted" "$(workers_sum migrations)" \
		"$(jq -r 'select(.migrated) | .client_port' "$ALOG" | sort -u | wc -l)"
}

# logrotate: the file is moved, a new one made ("create"), the workers get
# SIGUSR1; the lines before are in the old file, those after in the new one
test_accesslog_reopen_on_sigusr1() {
	local pid
	al_need || return
	al_start alrot
	c --http2 -o /dev/null /hi.txt
	c --http1.1 -o /dev/null /hi.txt
	al_wait_lines 2
	mv "$ALOG" "$ALOG.1"
	install -m 0640 -o www-data -g www-data /dev/null "$ALOG"
	c --http2 -o /dev/null /nope	# still the old file
	al_wait_lines 3 "$ALOG.1"
	for pid in $(worker_stats_json | jq '.[].value.pid'); do
		kill -USR1 "$pid"
	done
	wait_until 5 log_says "access log .* reopened" 2 ||
		fail "workers did not say they reopened: $(cat "$QS_LOG")" || return
	assert_eq "workers still running" 2 "$(workers_running)"
	for p in /hi.txt /ids.php /nope; do
		c --http2 -o /dev/null "$p"
	done
	h3 /hi.txt >/dev/null
	al_wait_lines 4
	assert_eq "old file" 3 "$(wc -l <"$ALOG.1")"
	assert_eq "new file" 4 "$(wc -l <"$ALOG")"
	al_check_schema "$ALOG.1"
	al_check_schema "$ALOG"
	# a reopen that fails (the file is gone) keeps the old one
	mv "$ALOG" "$ALOG.2"
	for pid in $(worker_stats_json | jq '.[].value.pid'); do
		kill -USR1 "$pid"
	done
	wait_until 5 log_says "cannot reopen the access log" 2 ||
		fail "no warning for a failed reopen" || return
	c --http1.1 -o /dev/null /hi.txt
	al_wait_lines 5 "$ALOG.2"
}

# logrotate without "create": quicsteerctl reopen-logs makes the file again
# for the workers (the loader, as root) before they reopen it
test_accesslog_reopen_logs_recreates_the_file() {
	al_need || return
	al_start alctl
	c --http2 -o /dev/null /hi.txt
	al_wait_lines 1
	mv "$ALOG" "$ALOG.1"
	"$ROOT/quicsteerctl" -i "$QS_INST" reopen-logs >/dev/null || fail "reopen-logs failed" || return
	wait_until 5 log_says "access log .* reopened" 2 ||
		fail "workers did not reopen: $(cat "$QS_LOG")" || return
	assert_eq "the new file: the workers', 0640" "www-data 640" "$(stat -c '%U %a' "$ALOG")"
	c --http1.1 -o /dev/null /nope
	h3 /hi.txt >/dev/null
	al_wait_lines 2
	assert_eq "old file" 1 "$(wc -l <"$ALOG.1")"
	assert_eq "new file" "/hi.txt /nope" "$(jq -r .path "$ALOG" | sort | tr '\n' ' ' | sed 's/ $//')"
}

# hostile ids and paths: the request is answered (or refused) as without
# them, its line is valid JSON, the worker goes on
test_accesslog_hostile_ids_and_paths() {
	local big out
	al_need || return
	al_start alhost
	big=$(head -c 100000 /dev/zero | tr '\0' a)
	# HTTP/1.1 and HTTP/3: 431 (curl may see the connection close while it
	# still sends); HTTP/2: nghttp2 refuses the stream (REFUSED_STREAM: not
	# processed, RFC 9113 8.7) before it begins, so there is no request to log
	c --http1.1 -o /dev/null -H "x-request-id: $big" /hi.txt || true
	c --http2 -o /dev/null -H "x-request-id: $big" /hi.txt || true
	"$LOAD" -k -n 1 --any-status -H "x-request-id:@100000" \
		"https://127.0.0.1:$QS_PORT/hi.txt" >/dev/null || true
	# 60 KB of garbage: under --max-header-bytes, so the request runs, a new trace
	assert_eq "garbage traceparent" 200 "$(c --http2 -o /dev/null -w '%{http_code}' \
		-H "traceparent: 00-$(head -c 30000 /dev/urandom | base64 -w0 | head -c 60000)" /ids.php)"
	assert_eq "x-request-id of 65 bytes" 200 "$(c --http1.1 -D "$AL/h" -o /dev/null \
		-w '%{http_code}' -H "x-request-id: $(head -c 65 /dev/zero | tr '\0' b)" /hi.txt)"
	[[ $(hdr "$AL/h" x-request-id) =~ ^[0-9a-f]{32}$ ]] || fail "65 bytes kept" || return
	# quotes, backslashes, UTF-8 and bytes that are not: logged as given, escaped
	c --http2 -o /dev/null --request-target $'/q"b\\s/\xc3\xa9/\xff?x="1"' /
	out=$(h3 /hi.txt)
	assert_eq "still serving" 200 "$(gtls_statuses <<<"$out")"
	al_wait_lines 6
	al_check_schema
	assert_eq "the huge ones refused" "h1.1 431
h3 431" "$(jq -r 'select(.status == 431) | "\(.protocol) \(.status)"' "$ALOG" | sort)"
	assert_eq "the odd path, read back" $'/q"b\\s/\xc3\xa9/\xc3\xbf?x="1"' \
		"$(jq -r 'select(.path | startswith("/q")) | .path' "$ALOG")"
	assert_eq "lines" 6 "$(wc -l <"$ALOG")"
}

# a full disk: lines are dropped and counted, requests go on, logging
# resumes once there is room
test_accesslog_full_disk_drops_and_counts() {
	local i
	al_need || return
	mount -t tmpfs -o size=16k,mode=0755 tmpfs "$AL/logs" || { need "tmpfs mounts"; return; }
	defer "umount $AL/logs"
	al_start alfull
	dd if=/dev/zero of="$AL/logs/fill" bs=1k count=64 2>/dev/null || true
	for i in 1 2 3 4 5; do
		assert_eq "GET $i on a full disk" 200 "$(c --http2 -o /dev/null -w '%{http_code}' /hi.txt)"
	done
	wait_until 5 dropped_at_least 5 ||
		fail "dropped lines not counted: $(workers_sum access_log_dropped)" || return
	assert_eq "dropped, all of them" 5 "$(workers_sum access_log_dropped)"
	rm "$AL/logs/fill"
	c --http1.1 -o /dev/null /hi.txt
	al_wait_lines 1
	assert_eq "the line after" /hi.txt "$(jq -r .path "$ALOG")"
	assert_eq "dropped, no more" 5 "$(workers_sum access_log_dropped)"
	grep -q "access_log_dropped" "$QS_LOG" || fail "the drop was not logged"
}

# --log-format json: every line of the server's own log is an object
test_accesslog_server_log_json() {
	local pid
	al_need || return
	al_start aljson --log-format json
	pid=$(worker_stats_json | jq '.[0].value.pid')
	kill -USR1 "$pid"
	wait_until 5 grep -q reopened "$QS_LOG" || fail "no reopen line" || return
	jq -e -s 'length > 1 and all(.[]; (keys == ["level", "msg", "pid", "time", "worker"]) and
		(.time | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z$")) and (.pid | type) == "number")' \
		"$QS_LOG" >/dev/null || fail "not JSON lines: $(head -5 "$QS_LOG")" || return
	assert_eq "the loader's worker field" null \
		"$(jq -r 'select(.msg | startswith("instance")) | .worker' "$QS_LOG")"
	assert_eq "the worker's" "0/$(worker_stats_json | jq -r --argjson p "$pid" \
		'.[] | select(.value.pid == $p) | .key' | head -1)" \
		"$(jq -r 'select(.msg | contains("reopened")) | .worker' "$QS_LOG")"
}

# the loader's checks: a directory that does not exist, one the workers
# cannot search; named with the fix, exit 1
test_accesslog_loader_refuses_unusable_paths() {
	local rc
	al_need || return
	for d in "$AL/missing" "$AL/private"; do
		[[ $d == */private ]] && install -d -m 0700 "$d"
		rc=0
		timeout 20 "$QS" --foreground --instance "t$$-alerr" --workers 1 \
			--log-file "$AL/err.log" "${QS_ARGS[@]}" --listen 127.0.0.1:$((20000 + RANDOM % 30000)) \
			--access-log "$d/access.log" >/dev/null 2>&1 || rc=$?
		assert_eq "exit status for $d" 1 "$rc"
	done
	grep -q "directory $AL/missing does not exist: create it (mkdir -p $AL/missing)" \
		"$AL/err.log" || fail "no fix named: $(cat "$AL/err.log")" || return
	grep -q "the workers (user www-data) cannot open the access log $AL/private/access.log" \
		"$AL/err.log" || fail "no fix named: $(cat "$AL/err.log")"
}
