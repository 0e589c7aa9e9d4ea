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
		((.upstream == "php") != (.php_ms != null) and .php_ms != null) or
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
	assert_eq "php_ms on PHP lines only" 4 "$(jq -r 'select(.php_ms != null) | .upstream' "$ALOG" |
		grep -c php)"
	assert_eq "nothing aborted" 0 "$(jq -r 'select(.aborted) | .path' "$ALOG" | wc -l)"
	assert_eq "nothing dropped" 0 "$(workers_sum access_log_dropped)"
	# the file the loader made: the workers', 0640
	assert_eq "owner and mode" "www-data 640" "$(stat -c '%U %a' "$ALOG")"
}
