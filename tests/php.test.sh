# SPDX-License-Identifier: MIT
# The php-fpm pool the loader manages (--fastcgi managed): real php-fpm,
# started as the loader's child, its pool as quicsteer-php on a socket only
# the workers (www-data) can open, restarted when killed, gone after SIGTERM.

phpfpm_master() { # the php-fpm child of quicsteerd
	ps -o pid=,comm= --ppid "$QS_PID" | awk '$2 ~ /^php-fpm/ {print $1}'
}

need_phpfpm() {
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	return 0
}

# need_php_load: root with BPF, php-fpm and the load generator
need_php_load() {
	need_root_bpf || return
	need_phpfpm || return
	[[ -x .output/quicsteer-load ]] || { need ".output/quicsteer-load (make)"; return; }
}

# script_out_dir: $DL/w, where scripts (as the pool's user) write what they saw
script_out_dir() {
	install -d -m 0777 "$DL/w"
	chmod 711 "$DL"
}

# len_script: $QS_DOCROOT/len.php answers the length of the body it read
len_script() {
	printf '<?php echo strlen(file_get_contents("php://input")), "\\n";' >"$QS_DOCROOT/len.php"
	chmod a+r "$QS_DOCROOT/len.php"
}

# hi_script: $QS_DOCROOT/hi.php answers "hi"
hi_script() {
	printf '<?php echo "hi\\n";' >"$QS_DOCROOT/hi.php"
	chmod a+r "$QS_DOCROOT/hi.php"
}

# rss_peak PID WHILE_PID: the highest VmRSS (kB) of PID while WHILE_PID runs
rss_peak() {
	local peak rss
	peak=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
	while kill -0 "$2" 2>/dev/null; do
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
		((rss > peak)) && peak=$rss
		sleep 0.05
	done
	echo "$peak"
}

test_php_managed_pool_lifecycle() {
	local master new pool sock run
	need_root_bpf || return
	need_phpfpm || return
	qs_start php 2 --fastcgi managed --php-max-children 3
	run=/run/quicsteer/$QS_INST
	sock=$run/php-fpm.sock
	master=$(phpfpm_master)
	[[ -n $master ]] || fail "no php-fpm child of quicsteerd: $(cat "$QS_LOG")"
	# the socket: a unix socket only the workers' user may open
	assert_eq "socket owner" "www-data" "$(stat -c %U "$sock")"
	assert_eq "socket mode" "srw-------" "$(stat -c %A "$sock")"
	# 3 children, and the one of the status page's own socket (pm.status_listen)
	wait_until 5 bash -c "[[ \$(ps -o user:20= --ppid $master | grep -c quicsteer-php) == 4 ]]" ||
		fail "pool children: $(ps -o pid=,user= --ppid "$master")"
	assert_eq "pool children as root" 0 "$(ps -o user= --ppid "$master" | grep -c root || true)"
	# kill -9 the master: the loader stops its orphaned pool, starts it again
	pool=$(ps -o pid= --ppid "$master" | paste -sd' ')
	kill -KILL "$master"
	wait_until 5 bash -c "m=\$(ps -o pid=,comm= --ppid $QS_PID | awk '\$2 ~ /^php-fpm/ {print \$1}'); [[ -n \$m && \$m != $master ]]" ||
		fail "php-fpm not restarted: $(tail -5 "$QS_LOG")"
	new=$(phpfpm_master)
	grep -q "php-fpm (pid $master) killed by signal 9; restarting it" "$QS_LOG" ||
		fail "restart not logged"
	wait_until 5 test -S "$sock" || fail "no socket after restart"
	info "php-fpm $master killed, restarted as $new"
	for p in $pool; do
		wait_until 5 is_dead "$p" || fail "pool child $p of the killed master left running"
	done
	# SIGTERM: php-fpm and its pool go too, and the runtime files
	pool=$(ps -o pid= --ppid "$new" | paste -sd' ')
	kill -TERM "$QS_PID"
	wait_until 10 is_dead "$QS_PID" || fail "quicsteerd did not stop"
	for p in $new $pool; do
		wait_until 5 is_dead "$p" || fail "php-fpm process $p left running"
	done
	[[ ! -e $run ]] || fail "runtime dir left: $(ls "$run")"
}

# a docroot with scripts; qs_start with the managed pool
php_docroot() {
	make_docroot
	cat >"$QS_DOCROOT/info.php" <<'PHP'
<?php
header("X-Test: yes");
setcookie("a", "1");
setcookie("b", "2");
echo "proto=", $_SERVER["SERVER_PROTOCOL"], "\n";
echo "https=", $_SERVER["HTTPS"], "\n";
echo "worker=", $_SERVER["QUICSTEER_WORKER"], "\n";
echo "remote=", $_SERVER["REMOTE_ADDR"], "\n";
echo "method=", $_SERVER["REQUEST_METHOD"], "\n";
echo "query=", $_SERVER["QUERY_STRING"], "\n";
echo "script=", $_SERVER["SCRIPT_NAME"], "\n";
echo "path_info=", $_SERVER["PATH_INFO"] ?? "unset", "\n";
echo "doc_uri=", $_SERVER["DOCUMENT_URI"], "\n";
echo "filename=", $_SERVER["SCRIPT_FILENAME"], "\n";
$in = file_get_contents("php://input");
echo "len=", strlen($in), "\n";
echo "sha=", hash("sha256", $in), "\n";
PHP
	printf '<?php header("Location: /elsewhere"); ' >"$QS_DOCROOT/redir.php"
	printf '<?php http_response_code(418); echo "teapot";' >"$QS_DOCROOT/teapot.php"
	printf '<?php echo str_repeat("0123456789", 5000000);' >"$QS_DOCROOT/big.php"
	printf '<?php this is not php' >"$QS_DOCROOT/broken.php"
	mkdir -p "$QS_DOCROOT/dir.php"
	chmod -R a+rX "$QS_DOCROOT"
	DL=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $DL"
}

fetch_php() { # DIR PATH: GET into DIR
	(cd "$1" && timeout 20 gtlsclient -q --exit-on-all-streams-close --timeout=5s \
		--download="$1" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT$2")
}

php_status() { # URL...: statuses in order
	timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "$@" 2>&1 |
		gtls_statuses | paste -sd' '
}

test_php_get_post_redirect_status_errors() {
	local out body why
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	qs_start phpreq 2 --fastcgi managed --php-max-children 2
	out=$(timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --download="$DL" \
		--timeout=5s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/info.php?x=1&y=2" 2>&1)
	grep -q '\[:status: 200\]' <<<"$out" || fail "GET status: $(grep status <<<"$out")"
	grep -q '\[x-test: yes\]' <<<"$out" || fail "custom header lost"
	why=$(response_date_ok "$out") || fail "PHP response: $why"
	assert_eq "Set-Cookie fields" 2 "$(grep -c '\[set-cookie: ' <<<"$out")"
	body=$(cat "$DL"/info.php*)
	for want in "proto=HTTP/3" "https=on" "remote=127.0.0.1" "method=GET" "query=x=1&y=2" \
		"script=/info.php" "len=0"; do
		grep -qx "$want" <<<"$body" || fail "script saw no '$want': $body"
	done
	grep -qE '^worker=0/[01]$' <<<"$body" || fail "QUICSTEER_WORKER: $body"
	# PATH_INFO: what follows the script, split as nginx's fastcgi_split_path_info
	rm -f "$DL"/info.php*
	fetch_php "$DL" "/info.php/archive/2026/x.html?a=1" || fail "PATH_INFO request failed"
	body=$(cat "$DL"/x.html*)
	for want in "script=/info.php" "path_info=/archive/2026/x.html" "query=a=1" \
		"doc_uri=/info.php/archive/2026/x.html" "filename=$QS_DOCROOT/info.php"; do
		grep -qx "$want" <<<"$body" || fail "PATH_INFO request: no '$want': $body"
	done
	assert_eq "a .php that is a directory" 404 "$(php_status "https://127.0.0.1:$QS_PORT/dir.php/x")"
	assert_eq "not a script (.phpx)" 404 "$(php_status "https://127.0.0.1:$QS_PORT/info.phpx")"
	# POST: the script hashes the body it got
	head -c 300000 /dev/urandom >"$DL/up.bin"
	rm -f "$DL"/info.php*
	timeout 20 gtlsclient -q --exit-on-all-streams-close -m POST -d "$DL/up.bin" \
		--download="$DL" --timeout=5s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/info.php" ||
		fail "POST failed"
	grep -qx "sha=$(sha256sum "$DL/up.bin" | cut -d' ' -f1)" "$DL/info.php" ||
		fail "body sha mismatch: $(cat "$DL/info.php")"
	grep -qx "len=300000" "$DL/info.php" || fail "body length: $(cat "$DL/info.php")"
	out=$(timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/redir.php" 2>&1)
	grep -q '\[:status: 302\]' <<<"$out" || fail "redirect status: $(grep status <<<"$out")"
	grep -q '\[location: /elsewhere\]' <<<"$out" || fail "Location lost"
	assert_eq "custom status" 418 "$(php_status "https://127.0.0.1:$QS_PORT/teapot.php")"
	assert_eq "missing script" 404 "$(php_status "https://127.0.0.1:$QS_PORT/missing.php")"
	assert_eq "traversal to a script" 400 "$(php_status "https://127.0.0.1:$QS_PORT/../x.php")"
	assert_eq "PHP parse error" 500 "$(php_status "https://127.0.0.1:$QS_PORT/broken.php")"
	assert_eq "served after the error" 200 "$(php_status "https://127.0.0.1:$QS_PORT/info.php")"
}

test_php_big_response_streams_with_bounded_memory() {
	local pid before after
	need_root_bpf || return
	not_sanitized "worker RSS figures" || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	qs_start phpbig 1 --fastcgi managed --php-max-children 2
	pid=$(worker_stat 0 pid)
	before=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	timeout 30 gtlsclient -q --exit-on-all-streams-close --download="$DL" --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/big.php" || fail "download failed"
	after=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	assert_eq "50 MB from PHP" 50000000 "$(stat -c %s "$DL/big.php")"
	assert_eq "content" "$(python3 -c 'import hashlib; print(hashlib.sha256(b"0123456789" * 5000000).hexdigest())')" \
		"$(sha256sum "$DL/big.php" | cut -d' ' -f1)"
	info "worker RSS $before kB -> $after kB for a 50 MB PHP response"
	# bounded by the stream's window (4 MB at most in flight, as much again
	# queued) and the allocator's slack, never the 50 MB: about 4.6 MB on a
	# quiet machine, up to 10 MB seen with a slow client on a loaded one
	(( after - before < 16384 )) || fail "worker RSS grew by $((after - before)) kB"

}

test_php_backend_down_is_502() {
	need_root_bpf || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	qs_start phpdown 1 --fastcgi unix:/nonexistent/php.sock
	assert_eq "unreachable pool" 502 "$(php_status "https://127.0.0.1:$QS_PORT/info.php")"
	assert_eq "static still served" 200 "$(php_status "https://127.0.0.1:$QS_PORT/index.html")"
}

# php-fpm SIGKILLed with a request running: that request gets 502, the
# loader starts php-fpm again and requests succeed within 3 s
test_php_fpm_killed_mid_request() {
	local master cpid out t0 st=""
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php sleep(5); echo "late";' >"$QS_DOCROOT/slow.php"
	chmod a+r "$QS_DOCROOT/slow.php"
	qs_start phpkill 1 --fastcgi managed --php-max-children 2
	master=$(phpfpm_master)
	out=$(mktemp /tmp/qs-test-out.XXXXXX)
	defer "rm -f $out"
	(timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=10s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/slow.php" >"$out" 2>&1) &
	cpid=$!
	sleep 1
	kill -KILL "$master"
	wait "$cpid" || true
	grep -q '\[:status: 502\]' "$out" || fail "in-flight request: $(grep status "$out")"
	t0=$SECONDS
	while ((SECONDS - t0 < 3)); do
		st=$(php_status "https://127.0.0.1:$QS_PORT/info.php")
		[[ $st == 200 ]] && break
		sleep 0.1
	done
	assert_eq "served again within 3 s" 200 "$st"
	info "php-fpm $master killed mid-request: 502, then 200 after $((SECONDS - t0)) s"
}

test_php_slow_script_gets_504() {
	local st
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php sleep(4); echo "late";' >"$QS_DOCROOT/slow.php"
	chmod a+r "$QS_DOCROOT/slow.php"
	qs_start php504 1 --fastcgi managed --php-max-children 2 --fastcgi-timeout 1
	st=$(php_status "https://127.0.0.1:$QS_PORT/slow.php")
	assert_eq "slow script" 504 "$st"
	grep -q "php-fpm sent nothing for --fastcgi-timeout" "$QS_LOG" || fail "not logged"
	assert_eq "a fast one still works" 200 "$(php_status "https://127.0.0.1:$QS_PORT/info.php")"
}

# --index: static files stay static, everything else goes to the script
test_php_front_controller_and_tls_params() {
	local body
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	cat >"$QS_DOCROOT/front.php" <<'PHP'
<?php
echo "uri=", $_SERVER["REQUEST_URI"], "\n";
echo "script=", $_SERVER["SCRIPT_NAME"], "\n";
echo "query=", $_SERVER["QUERY_STRING"], "\n";
echo "tls=", $_SERVER["SSL_PROTOCOL"], "\n";
echo "reused=", $_SERVER["SSL_SESSION_REUSED"], "\n";
echo "cipher=", $_SERVER["SSL_CIPHER"], "\n";
PHP
	chmod a+r "$QS_DOCROOT/front.php"
	qs_start phpfront 1 --fastcgi managed --php-max-children 2 --index front.php
	timeout 20 gtlsclient -q --exit-on-all-streams-close --download="$DL" --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/blog/2026/hello?page=2" ||
		fail "front controller request failed"
	body=$(cat "$DL"/hello*)
	for want in "uri=/blog/2026/hello?page=2" "script=/front.php" "query=page=2" \
		"tls=TLSv1.3" "reused=."; do
		grep -qx "$want" <<<"$body" || fail "front controller saw no '$want': $body"
	done
	grep -qE '^cipher=TLS_' <<<"$body" || fail "SSL_CIPHER: $body"
	# an existing static file is served as is, not by PHP
	timeout 20 gtlsclient -q --exit-on-all-streams-close --download="$DL" --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/index.html" || fail "static failed"
	assert_eq "static file" "quicsteer test docroot" "$(cat "$DL/index.html")"
}

# more requests than the pool has children: they wait for a kept-alive
# connection of the worker's share and all complete
test_php_pool_queue_more_requests_than_children() {
	local st
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php usleep(100000); echo getmypid();' >"$QS_DOCROOT/nap.php"
	chmod a+r "$QS_DOCROOT/nap.php"
	qs_start phpqueue 1 --fastcgi managed --php-max-children 2
	st=$(timeout 30 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=10s -n 20 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/nap.php" 2>&1 |
		gtls_statuses | sort | uniq -c |
		awk '{print $2 "x" $1}' | paste -sd' ')
	assert_eq "20 requests over a pool of 2" "200x20" "$st"
	assert_eq "2xx" 20 "$(workers_sum req_2xx)"
}

# hostile requests: the answer is a 4xx or a stream reset, never a crash,
# and the worker keeps serving (quicsteer-load -H sends fields unchecked)
test_php_hostile_requests() {
	local L q pids
	need_root_bpf || return
	need_phpfpm || return
	php_docroot
	printf '<?php echo "x_a=", $_SERVER["HTTP_X_A"] ?? "-";' >"$QS_DOCROOT/h.php"
	chmod a+r "$QS_DOCROOT/h.php"
	qs_start phphostile 1 --fastcgi managed --php-max-children 2
	pids=$(worker_stat 0 pid)
	L=("$ROOT/.output/quicsteer-load" -k --any-status --json -t 3 -n 1)
	q='"\(.status_2xx) \(.status_4xx) \(.status_5xx) \(.failed_reset) \(.body_bytes)"'
	# a header block over --max-header-bytes (64 KB): 431
	assert_eq "70 KB header" "0 1 0 0 110" \
		"$("${L[@]}" -H x-big:@70000 "https://127.0.0.1:$QS_PORT/h.php" | jq -r "$q")"
	# a name PHP would read as another header's (x_a for x-a) never reaches it
	assert_eq "x_a forged" "1 0 0 0 5" \
		"$("${L[@]}" -H x_a:forged "https://127.0.0.1:$QS_PORT/h.php" | jq -r "$q")"
	assert_eq "x-a" "1 0 0 0 6" \
		"$("${L[@]}" -H x-a:ok "https://127.0.0.1:$QS_PORT/h.php" | jq -r "$q")"
	# an uppercase field name is malformed HTTP/3 (RFC 9114 4.2): stream reset
	assert_eq "uppercase name" "0 0 0 1 0" \
		"$("${L[@]}" -H X-Upper:1 "https://127.0.0.1:$QS_PORT/h.php" | jq -r "$q")"
	# malformed messages reset their stream, not the connection (nghttp3's
	# non-fatal errors): a Content-Length the body does not match, a header
	# block over the SETTINGS_MAX_FIELD_SECTION_SIZE we announced
	assert_eq "content-length mismatch" "0 0 0 1 0" \
		"$("${L[@]}" -H content-length:5 "https://127.0.0.1:$QS_PORT/h.php" | jq -r "$q")"
	assert_eq "1 MB header block" "0 0 0 1 0" \
		"$("${L[@]}" -H x-big:@1000000 "https://127.0.0.1:$QS_PORT/h.php" | jq -r "$q")"
	assert_eq "still serving" "1 0 0 0 5" \
		"$("${L[@]}" "https://127.0.0.1:$QS_PORT/h.php" | jq -r "$q")"
	assert_eq "worker not restarted" "$pids" "$(worker_stat 0 pid)"
}

# a client that vanishes mid-download: when its connection goes (idle
# timeout), its FastCGI connection is closed and nothing is left behind
test_php_client_gone_mid_download_frees_everything() {
	local cpid conns sock wpid
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php for ($i = 0; $i < 200; $i++) { echo str_repeat("y", 1000000); flush(); }' \
		>"$QS_DOCROOT/endless.php"
	chmod a+r "$QS_DOCROOT/endless.php"
	qs_start phpgone 1 --fastcgi managed --php-max-children 2 --idle-timeout 2
	sock=/run/quicsteer/$QS_INST/php-fpm.sock
	(cd "$DL" && exec gtlsclient -q --exit-on-all-streams-close --timeout=30s \
		--max-stream-data-bidi-local=65536 --max-data=65536 127.0.0.1 "$QS_PORT" \
		"https://127.0.0.1:$QS_PORT/endless.php" >/dev/null 2>&1) &
	cpid=$!
	defer "kill -KILL $cpid"
	wait_until 5 bash -c "[[ \$(ss -x state connected | grep -c '$sock') -ge 1 ]]" ||
		fail "no FastCGI connection while the script runs"
	kill -KILL "$cpid"
	# the QUIC connection idles out (2 s); its stream and FastCGI connection go
	wait_until 8 bash -c "[[ \$(ss -x state connected | grep -c '$sock') == 0 ]]" ||
		fail "FastCGI connections left: $(ss -x state connected | grep -c "$sock")"
	assert_eq "connections closed" 1 "$(workers_sum conn_closed)"
	assert_eq "still serving" 200 "$(php_status "https://127.0.0.1:$QS_PORT/info.php")"
	# the same mid-upload: a 15 MB body to a script that reads slowly
	printf '<?php $in = fopen("php://input", "rb"); while (!feof($in)) { fread($in, 65536); usleep(20000); } echo "done";' \
		>"$QS_DOCROOT/slowread.php"
	chmod a+r "$QS_DOCROOT/slowread.php"
	head -c 15000000 /dev/urandom >"$DL/up.bin"
	(cd "$DL" && exec gtlsclient -q --exit-on-all-streams-close --timeout=30s -m POST \
		-d "$DL/up.bin" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/slowread.php" \
		>/dev/null 2>&1) &
	cpid=$!
	defer "kill -KILL $cpid"
	# the script reads 3 MB/s: 15 MB take 5 s; vanish a second in
	sleep 1
	kill -0 "$cpid" 2>/dev/null || fail "the upload ended before the client vanished"
	kill -KILL "$cpid"
	# its request cannot finish: the worker closes the FastCGI connection it used
	# (the script itself may spin on its broken input until PHP's time limit)
	wpid=$(worker_stat 0 pid)
	wait_until 8 bash -c "[[ \$(ss -xp state connected | grep -c 'pid=$wpid,') == 0 ]]" ||
		fail "the worker still holds FastCGI connections: $(ss -xp state connected | grep "pid=$wpid,")"
	assert_eq "QUIC connections closed" 3 "$(workers_sum conn_closed)"
	assert_eq "still serving after" 200 "$(php_status "https://127.0.0.1:$QS_PORT/info.php")"
}

# a 15 MB upload to a script that waits 2 s before reading its body: the
# body streams to php-fpm with QUIC flow control as the backpressure, so
# the worker holds about a window, not the upload
test_php_upload_streams_with_backpressure() {
	local pid before peak cpid out
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php sleep(2); $h = hash_init("sha256"); $in = fopen("php://input", "rb"); $n = 0;
while (!feof($in)) { $b = fread($in, 65536); $n += strlen($b); hash_update($h, $b); }
echo "len=$n\\nsha=", hash_final($h), "\\n";' >"$QS_DOCROOT/upload.php"
	chmod a+r "$QS_DOCROOT/upload.php"
	head -c 15000000 /dev/urandom >"$DL/up.bin"
	qs_start phpup 1 --fastcgi managed --php-max-children 2 --max-body 16M
	pid=$(worker_stat 0 pid)
	before=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	(cd "$DL" && exec timeout 60 gtlsclient -q --exit-on-all-streams-close -m POST \
		-d "$DL/up.bin" --download="$DL" --timeout=20s 127.0.0.1 "$QS_PORT" \
		"https://127.0.0.1:$QS_PORT/upload.php") &
	cpid=$!
	peak=$(rss_peak "$pid" "$cpid")
	wait "$cpid" || fail "upload failed"
	grep -qx "len=15000000" "$DL/upload.php" || fail "length: $(cat "$DL/upload.php")"
	grep -qx "sha=$(sha256sum "$DL/up.bin" | cut -d' ' -f1)" "$DL/upload.php" ||
		fail "sha mismatch"
	info "worker RSS $before kB, peak $peak kB during a 15 MB upload to a slow script"
	((peak - before < 8192)) || fail "worker RSS grew by $((peak - before)) kB"
	# a declared body over --max-body is refused before php-fpm sees it
	head -c 17000000 /dev/zero >"$DL/over.bin"
	out=$(timeout 30 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		-m POST -d "$DL/over.bin" --timeout=10s 127.0.0.1 "$QS_PORT" \
		"https://127.0.0.1:$QS_PORT/upload.php" 2>&1)
	grep -q '\[:status: 413\]' <<<"$out" || fail "over --max-body: $(grep status <<<"$out")"
}

test_php_multipart_form_upload() {
	local load=.output/quicsteer-load boundary=qsBoundary7MA4YWxk
	need_php_load || return
	php_docroot
	script_out_dir
	cat >"$QS_DOCROOT/form.php" <<PHP
<?php
\$f = \$_FILES["photo"] ?? null;
file_put_contents("$DL/w/form.out", "name=" . (\$_POST["name"] ?? "-") . "\\n" .
	"file=" . (\$f ? \$f["name"] . " " . \$f["type"] . " " . \$f["size"] . " " .
	hash_file("sha256", \$f["tmp_name"]) : "-") . "\\nerror=" . (\$f ? \$f["error"] : "-") . "\\n");
echo "ok\\n";
PHP
	chmod a+r "$QS_DOCROOT/form.php"
	head -c 5000000 /dev/urandom >"$DL/photo.bin"
	{
		printf -- '--%s\r\nContent-Disposition: form-data; name="name"\r\n\r\nAda Lovelace\r\n' "$boundary"
		printf -- '--%s\r\nContent-Disposition: form-data; name="photo"; filename="me.bin"\r\n' "$boundary"
		printf 'Content-Type: application/octet-stream\r\n\r\n'
		cat "$DL/photo.bin"
		printf '\r\n--%s--\r\n' "$boundary"
	} >"$DL/form.body"
	qs_start phpform 2 --fastcgi managed --php-max-children 2
	"$load" -k -n 1 --data "$DL/form.body" \
		-H "content-type:multipart/form-data; boundary=$boundary" \
		"https://127.0.0.1:$QS_PORT/form.php" >/dev/null || fail "form POST failed"
	assert_eq "text field" "name=Ada Lovelace" "$(sed -n 1p "$DL/w/form.out")"
	assert_eq "file part" "file=me.bin application/octet-stream 5000000 $(sha256sum "$DL/photo.bin" | cut -d' ' -f1)" \
		"$(sed -n 2p "$DL/w/form.out")"
	assert_eq "upload error code" "error=0" "$(sed -n 3p "$DL/w/form.out")"
	# an urlencoded form
	printf 'name=Grace+Hopper&lang=COBOL%%26more' >"$DL/url.body"
	"$load" -k -n 1 --data "$DL/url.body" -H "content-type:application/x-www-form-urlencoded" \
		"https://127.0.0.1:$QS_PORT/form.php" >/dev/null || fail "urlencoded POST failed"
	assert_eq "urlencoded field" "name=Grace Hopper" "$(sed -n 1p "$DL/w/form.out")"
}

migrated() { (( $(workers_sum migrations) >= 1 )); }

test_php_cookies_head_and_address_after_migration() {
	local load=.output/quicsteer-load out p1 p2 conns
	need_php_load || return
	php_docroot
	script_out_dir
	cat >"$QS_DOCROOT/who.php" <<PHP
<?php
file_put_contents("$DL/w/who.out", \$_SERVER["REQUEST_METHOD"] . " " . \$_SERVER["REMOTE_ADDR"] . " " .
	\$_SERVER["REMOTE_PORT"] . " cookie=" . (\$_SERVER["HTTP_COOKIE"] ?? "-") . " a=" .
	(\$_COOKIE["a"] ?? "-") . " b=" . (\$_COOKIE["b"] ?? "-") . "\\n", FILE_APPEND | LOCK_EX);
header("X-Script: who");
echo "hello\\n";
PHP
	chmod a+r "$QS_DOCROOT/who.php"
	qs_start phpwho 2 --fastcgi managed --php-max-children 2
	# two cookie fields arrive joined, as RFC 9114 4.2.1 wants
	"$load" -k -n 1 -H "cookie:a=1" -H "cookie:b=2" \
		"https://127.0.0.1:$QS_PORT/who.php" >/dev/null || fail "GET with cookies failed"
	grep -q " cookie=a=1; b=2 a=1 b=2$" "$DL/w/who.out" || fail "cookies: $(cat "$DL/w/who.out")"
	# HEAD runs the script, and no body comes back
	out=$(timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump -m HEAD --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/who.php" 2>&1)
	grep -q '\[:status: 200\]' <<<"$out" || fail "HEAD status: $out"
	grep -q '\[x-script: who\]' <<<"$out" || fail "HEAD: the script's header is missing"
	grep -q "^HEAD " "$DL/w/who.out" || fail "HEAD did not reach the script"
	# one connection, two requests; the client moves to a new port in between
	: >"$DL/w/who.out"
	conns=$(workers_sum conn_accepted)
	out=$("$load" -k -c 1 -n 2 -m 1 --migrate-after 1 --json "https://127.0.0.1:$QS_PORT/who.php") ||
		fail "requests across the migration failed: $out"
	assert_eq "client migrations" 1 "$(jq .migrations <<<"$out")"
	assert_eq "connections" $((conns + 1)) "$(workers_sum conn_accepted)"
	assert_eq "requests seen" 2 "$(wc -l <"$DL/w/who.out")"
	p1=$(sed -n 1p "$DL/w/who.out" | cut -d' ' -f3)
	p2=$(sed -n 2p "$DL/w/who.out" | cut -d' ' -f3)
	[[ -n $p1 && -n $p2 && $p1 != "$p2" ]] ||
		fail "REMOTE_PORT did not follow the client: $(cat "$DL/w/who.out")"
	info "REMOTE_PORT $p1 before the migration, $p2 after, on one connection"
	wait_until 3 migrated || fail "no validated migration counted by the server"
}

test_php_response_survives_client_migration() {
	local d
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	# 2 MB in 40 flushed pieces over about 0.4 s: the client moves meanwhile
	printf '<?php for ($i = 0; $i < 40; $i++) { echo str_repeat(chr(65 + $i %% 26), 52428); flush(); usleep(10000); }
echo "\nremote_port=", $_SERVER["REMOTE_PORT"], "\n";' >"$QS_DOCROOT/slow.php"
	chmod a+r "$QS_DOCROOT/slow.php"
	qs_start phpmig 4 --fastcgi managed --php-max-children 4
	for i in 1 2 3 4 5; do
		d=$DL/m$i
		mkdir -p "$d"
		(cd "$d" && timeout 20 gtlsclient -q --exit-on-all-streams-close --timeout=5s \
			--change-local-addr=100ms --download="$d" 127.0.0.1 "$QS_PORT" \
			"https://127.0.0.1:$QS_PORT/slow.php") || fail "run $i: client failed"
		assert_eq "run $i: bytes" $((40 * 52428 + 1)) "$(head -c $((40 * 52428 + 1)) "$d/slow.php" | wc -c)"
		grep -q '^remote_port=[0-9]' "$d/slow.php" || fail "run $i: the end of the response is missing"
	done
	assert_ge "migrations seen" 5 "$(workers_sum migrations)"
	assert_eq "datagrams on a worker that did not mint their CID" 0 "$(workers_sum rx_cid_foreign)"
}

# HEAD to a script that flushes and runs on: php-fpm holds the headers of a
# HEAD until the script ends (measured: the answer takes the script's time),
# then the worker keeps the FastCGI connection (its child) for the next request
test_php_head_keeps_fastcgi_connection() {
	local wpid out ino t0 ms
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php header("X-Slow: 1"); echo "early\\n"; flush(); usleep(500000); echo "late body\\n";' \
		>"$QS_DOCROOT/slowhead.php"
	chmod a+r "$QS_DOCROOT/slowhead.php"
	qs_start phphead 1 --fastcgi managed --php-max-children 1
	wpid=$(worker_stat 0 pid)
	t0=$(date +%s%N)
	out=$(timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump -m HEAD --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/slowhead.php" 2>&1)
	ms=$((($(date +%s%N) - t0) / 1000000))
	info "HEAD answered in $ms ms"
	grep -q '\[x-slow: 1\]' <<<"$out" || fail "HEAD: $(grep 'http:' <<<"$out" | head -5)"
	grep -q 'early\|late body' <<<"$out" && fail "HEAD got a body"
	wait_until 5 bash -c "[[ \$(ss -xp state connected | grep -c 'pid=$wpid,') == 1 ]]" ||
		fail "FastCGI connections held after the HEAD: $(ss -xp state connected | grep -c "pid=$wpid,")"
	ino=$(ss -xp state connected | grep "pid=$wpid," | awk '{print $6}')
	[[ $ino =~ ^[0-9]+$ ]] || fail "no socket inode in: $(ss -xp state connected | grep "pid=$wpid,")"
	assert_eq "GET after the HEAD" 200 "$(php_status "https://127.0.0.1:$QS_PORT/slowhead.php")"
	assert_eq "the same FastCGI connection served it" "$ino" \
		"$(ss -xp state connected | grep "pid=$wpid," | awk '{print $6}')"
}

# own_pool LISTEN [CONF LINE...]: an operator's own php-fpm pool (not
# managed by quicsteerd) listening on LISTEN (a unix path or host:port);
# stopped by its PID when the test ends.  Sets POOL_DIR.
own_pool() {
	local listen=$1 fpm fpid
	shift
	POOL_DIR=$(mktemp -d /tmp/qs-test-fpm.XXXXXX)
	defer "rm -rf $POOL_DIR"
	chmod 755 "$POOL_DIR"
	fpm=$(ls /usr/sbin/php-fpm* | sort | tail -1)
	{
		printf '[global]\npid = %s/fpm.pid\nerror_log = %s/fpm.log\ndaemonize = no\n' \
			"$POOL_DIR" "$POOL_DIR"
		printf '[own]\nuser = www-data\ngroup = www-data\nlisten = %s\n' "$listen"
		printf 'listen.owner = www-data\nlisten.group = www-data\nlisten.mode = 0600\n'
		# pm static with 4 children unless the caller sets pm itself
		[[ " $* " == *" pm = "* ]] || printf 'pm = static\npm.max_children = 4\n'
		printf '%s\n' "$@"
	} >"$POOL_DIR/fpm.conf"
	"$fpm" --nodaemonize --fpm-config "$POOL_DIR/fpm.conf" &
	fpid=$!
	defer "kill -QUIT $fpid 2>/dev/null; wait $fpid 2>/dev/null || true"
	wait_until 10 grep -q "ready to handle connections" "$POOL_DIR/fpm.log" ||
		fail "php-fpm did not start: $(cat "$POOL_DIR/fpm.log")"
}

# An operator's own pool whose children retire after 3 requests
# (pm.max_requests): a child leaves right after answering, often as the
# worker hands its kept-alive connection the next request.  Such a request
# is sent again on a new connection, so no client sees a 502.
test_php_pool_with_max_requests_no_502() {
	local load=.output/quicsteer-load out
	need_php_load || return
	php_docroot
	hi_script
	own_pool /tmp/qs-test-fpm-retire.$$.sock "pm.max_requests = 3"
	defer "rm -f /tmp/qs-test-fpm-retire.$$.sock"
	qs_start phpretire 2 --fastcgi "unix:/tmp/qs-test-fpm-retire.$$.sock" --php-max-children 4
	out=$("$load" -k --json -c 4 -m 4 -n 600 --timeout 5 "https://127.0.0.1:$QS_PORT/hi.php")
	info "retried: $(workers_sum php_retries); $(jq -c '{status_2xx, status_5xx, requests_failed}' <<<"$out")"
	assert_eq "answered 200" 600 "$(jq .status_2xx <<<"$out")"
	assert_eq "5xx" 0 "$(jq .status_5xx <<<"$out")"
	assert_eq "5xx counted by the workers" 0 "$(workers_sum req_5xx)"
	assert_ge "requests sent again (the race happened)" 1 "$(workers_sum php_retries)"
}

# --fastcgi tcp:HOST:PORT, IPv4 and IPv6: an operator's pool on TCP
test_php_pool_over_tcp() {
	local load=.output/quicsteer-load out port addr
	need_php_load || return
	php_docroot
	for addr in 127.0.0.1 "[::1]"; do
		port=$((20000 + RANDOM % 30000))
		own_pool "$addr:$port"
		qs_start "phptcp$port" 1 --fastcgi "tcp:$addr:$port" --php-max-children 4
		out=$(php_status "https://127.0.0.1:$QS_PORT/info.php?via=tcp")
		assert_eq "GET over tcp:$addr:$port" 200 "$out"
		out=$("$load" -k --json -c 2 -m 4 -n 200 "https://127.0.0.1:$QS_PORT/info.php")
		assert_eq "200 requests over tcp:$addr:$port" "200 0" \
			"$(jq -r '"\(.status_2xx) \(.status_5xx)"' <<<"$out")"
		qs_kill "$QS_PID"
	done
}

# More uploads on one connection than the pool has children: the waiting
# ones hold their stream windows, never the connection's, so the running
# ones get their bodies, finish, and free the pool (this deadlocked once
# the waiting ones held more than the 6 MB connection window)
test_php_more_uploads_than_children_on_one_connection() {
	local load=.output/quicsteer-load out
	need_php_load || return
	php_docroot
	len_script
	head -c 1000000 /dev/urandom >"$DL/1m.bin"
	qs_start phpuploads 1 --fastcgi managed --php-max-children 2
	out=$("$load" -k --json -c 1 -m 40 -n 40 --timeout 15 --expect-size 8 \
		--data "$DL/1m.bin" "https://127.0.0.1:$QS_PORT/len.php" 2>/dev/null) || true
	info "$(jq -c '{status_2xx, requests_failed, first_error}' <<<"$out")"
	assert_eq "40 uploads of 1 MB over 2 children, all answered" "40 0" \
		"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
}

# Bodies without Content-Length are held whole (PHP needs the length
# first), their credit returned as they come: a worker-wide budget (48 MB)
# bounds them; beyond it a request gets 503.  40 connections each upload
# 8 MB at once: every request answered, the worker's memory bounded (it
# grew by 250 MB before the budget)
test_php_held_bodies_without_length_are_bounded() {
	local load=.output/quicsteer-load out pid before peak lpid
	need_php_load || return
	not_sanitized "worker RSS figures" || return
	php_docroot
	len_script
	head -c 8000000 /dev/urandom >"$DL/8m.bin"
	# buffering off: such bodies are held in memory (with it on they go to
	# files: test_php_buffered_upload_through_a_file)
	qs_start phpheld 1 --fastcgi managed --php-max-children 2 --php-request-buffering off
	pid=$(worker_stat 0 pid)
	before=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	"$load" -k --json -c 40 -m 1 -n 40 --timeout 30 --any-status --no-content-length \
		--data "$DL/8m.bin" "https://127.0.0.1:$QS_PORT/len.php" >"$DL/out.json" 2>/dev/null &
	lpid=$!
	peak=$(rss_peak "$pid" "$lpid")
	wait "$lpid" || true
	out=$(jq -c '{status_2xx, status_5xx, requests_failed}' "$DL/out.json")
	info "$out; worker RSS $before kB, peak $peak kB"
	assert_eq "every request answered" "40 0" \
		"$(jq -r '"\(.status_2xx + .status_5xx) \(.requests_failed)"' "$DL/out.json")"
	assert_ge "some answered 503 (budget spent)" 1 "$(jq .status_5xx "$DL/out.json")"
	assert_ge "some served" 4 "$(jq .status_2xx "$DL/out.json")"
	((peak - before < 131072)) || fail "worker RSS grew by $(((peak - before) / 1024)) MB"
	assert_eq "still serving" 200 "$(php_status "https://127.0.0.1:$QS_PORT/info.php")"
}

# An operator's pool with pm = ondemand: php-fpm counts a child waiting on a
# kept-alive connection as idle and starts none for new connections, so
# requests could wait in its backlog; --fastcgi-keepalive off gives every
# request its own connection, and every one is answered
test_php_ondemand_pool_with_keepalive_off() {
	local load=.output/quicsteer-load out sock=/tmp/qs-test-fpm-od.$$.sock i
	need_php_load || return
	php_docroot
	hi_script
	own_pool "$sock" "pm = ondemand" "pm.max_children = 4" "pm.process_idle_timeout = 1s"
	defer "rm -f $sock"
	qs_start phpod 2 --fastcgi "unix:$sock" --php-max-children 4 --fastcgi-keepalive off
	for i in 1 2 3; do
		out=$("$load" -k --json -c 2 -m 4 -n 300 --timeout 5 "https://127.0.0.1:$QS_PORT/hi.php" \
			2>/dev/null) || true
		assert_eq "round $i: 300 answered" "300 0" \
			"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
		sleep 1.5	# the idle children go; the next round starts them again
	done
	assert_eq "no FastCGI connection kept" 0 \
		"$(ss -xp state connected | grep -c "pid=$(worker_stat 0 pid),")"
}

# Response fields: 200 Set-Cookie fields arrive, every one; more than the
# worker passes on (254) is the script's error, 500, never a silent cut
test_php_many_response_fields() {
	local out
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php for ($i = 0; $i < (int)$_GET["n"]; $i++) header("Set-Cookie: c$i=$i", false); echo "ok\\n";' \
		>"$QS_DOCROOT/cookies.php"
	chmod a+r "$QS_DOCROOT/cookies.php"
	qs_start phpfields 1 --fastcgi managed --php-max-children 2
	out=$(timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/cookies.php?n=200" 2>&1)
	grep -q '\[:status: 200\]' <<<"$out" || fail "200 cookies: $(grep status <<<"$out")"
	assert_eq "Set-Cookie fields" 200 "$(grep -c '\[set-cookie: c[0-9]*=[0-9]*\]' <<<"$out")"
	grep -q '\[set-cookie: c199=199\]' <<<"$out" || fail "the last cookie is missing"
	assert_eq "300 fields" 500 "$(php_status "https://127.0.0.1:$QS_PORT/cookies.php?n=300")"
	grep -q "the script sent more than 254 header fields" "$QS_LOG" || fail "not logged"
}

# stall_uploads N: N uploads announcing 1 MB that send 20 KB and then
# nothing (for 15 s), on their own connections, in the background
stall_uploads() {
	local spid
	head -c 1000000 /dev/urandom >"$DL/1m.bin"
	.output/quicsteer-load -k --any-status -c "$1" -m 1 -d 15 -t 30 --data "$DL/1m.bin" \
		--stall-after 20000 "https://127.0.0.1:$QS_PORT/len.php" >/dev/null 2>&1 &
	spid=$!
	defer "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
	sleep 1
}

# hi_gets: 20 GETs of a script over 2 connections, 5 s at most for each answer
hi_gets() {
	.output/quicsteer-load -k --json --any-status -c 2 -m 2 -n 20 -t 5 \
		"https://127.0.0.1:$QS_PORT/hi.php" 2>/dev/null || true
}

# Twelve uploads that stall mid-body with a pool of 2 children: with
# request buffering (the default) php-fpm sees none of them, and other PHP
# requests are answered at once
test_php_stalled_uploads_do_not_hold_the_pool() {
	local out
	need_php_load || return
	php_docroot
	len_script
	hi_script
	qs_start phpstall 1 --fastcgi managed --php-max-children 2
	stall_uploads 12
	out=$(hi_gets)
	info "during 12 stalled uploads: $(jq -c '{status_2xx, requests_failed, p99_ms}' <<<"$out")"
	assert_eq "20 GETs answered, none failed" "20 0" \
		"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
	assert_eq "5xx answers" 0 "$(workers_sum req_5xx)"
}

# The same with --php-request-buffering off: the stalled uploads hold both
# children, and the GETs wait (what the default prevents; the trade-off in
# docs/configuration.md)
test_php_stalled_uploads_hold_the_pool_without_buffering() {
	local out
	need_php_load || return
	php_docroot
	len_script
	hi_script
	qs_start phpstalloff 1 --fastcgi managed --php-max-children 2 --php-request-buffering off
	stall_uploads 12
	out=$(hi_gets)
	info "buffering off, 12 stalled uploads: $(jq -c '{status_2xx, requests_failed}' <<<"$out")"
	[[ $(jq -r '.status_2xx' <<<"$out") -lt 20 ]] ||
		fail "every GET answered although the stalled uploads hold the pool"
}

# A large buffered upload goes to php-fpm whole and intact from its file
# (over --body-buffer-size), with and without Content-Length
test_php_buffered_upload_through_a_file() {
	local out
	need_php_load || return
	php_docroot
	len_script
	head -c 3000000 /dev/urandom >"$DL/3m.bin"
	qs_start phpbuf 1 --fastcgi managed --php-max-children 2 --body-buffer-size 16K
	for cl in "" --no-content-length; do
		out=$(.output/quicsteer-load -k --json -c 2 -m 2 -n 6 -t 10 --expect-size 8 \
			$cl --data "$DL/3m.bin" "https://127.0.0.1:$QS_PORT/len.php" 2>/dev/null) || true
		assert_eq "3 MB uploads ${cl:-with Content-Length}: answered" "6 0" \
			"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
	done
	out=$(cd "$DL" && timeout 20 gtlsclient -q --exit-on-all-streams-close -m POST \
		-d "$DL/3m.bin" --download="$DL" --timeout=10s 127.0.0.1 "$QS_PORT" \
		"https://127.0.0.1:$QS_PORT/info.php" && cat "$DL/info.php")
	grep -qx "sha=$(sha256sum "$DL/3m.bin" | cut -d' ' -f1)" <<<"$out" ||
		fail "the script read another body: $out"
}

# --max-body-temp 1M: two stalled uploads hold 800 KB of buffered bodies
# in files; a complete 300 KB upload that would take the worker over gets
# 503 (without the budget: 200, and uploads could fill the disk); once the
# stalled ones are gone it is answered
test_php_buffered_bodies_disk_budget() {
	local out spid
	need_php_load || return
	php_docroot
	len_script
	head -c 1000000 /dev/urandom >"$DL/1m.bin"
	head -c 300000 /dev/urandom >"$DL/300k.bin"
	qs_start phptemp 1 --fastcgi managed --php-max-children 2 --body-buffer-size 16K \
		--max-body-temp 1M
	.output/quicsteer-load -k --any-status -c 2 -m 1 -d 4 -t 30 --data "$DL/1m.bin" \
		--stall-after 400000 "https://127.0.0.1:$QS_PORT/len.php" >/dev/null 2>&1 &
	spid=$!
	defer "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
	sleep 1.5
	out=$(.output/quicsteer-load -k --json --any-status -c 1 -m 1 -n 1 -t 10 \
		--data "$DL/300k.bin" "https://127.0.0.1:$QS_PORT/len.php" 2>/dev/null) || true
	assert_eq "an upload beyond the disk budget" "0 1" \
		"$(jq -r '"\(.status_2xx) \(.status_5xx)"' <<<"$out")"
	wait "$spid" 2>/dev/null || true
	wait_until 10 bash -c "(( \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats \
		key 0 0 0 0 | jq .formatted.value.conn_active) == 0 ))" ||
		fail "the stalled uploads' connections did not close"
	out=$(.output/quicsteer-load -k --json -c 1 -m 1 -n 1 -t 10 --expect-size 7 \
		--data "$DL/300k.bin" "https://127.0.0.1:$QS_PORT/len.php" 2>/dev/null) || true
	assert_eq "the same upload once they are gone" "1 0" \
		"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
}

# --client-body-timeout: an upload that stalls mid-body gets 408 (and its
# body refused) once no byte came for the timeout
test_php_stalled_upload_gets_408() {
	local out
	need_php_load || return
	php_docroot
	len_script
	head -c 1000000 /dev/urandom >"$DL/1m.bin"
	qs_start phpbodyto 1 --fastcgi managed --php-max-children 2 --client-body-timeout 2
	out=$(.output/quicsteer-load -k --json --any-status -c 1 -m 1 -n 1 -t 15 \
		--data "$DL/1m.bin" --stall-after 20000 "https://127.0.0.1:$QS_PORT/len.php" \
		2>/dev/null) || true
	assert_eq "the stalled upload's answer: 4xx, not failed" "1 0" \
		"$(jq -r '"\(.status_4xx) \(.requests_failed)"' <<<"$out")"
	grep -q 'no body byte for --client-body-timeout (2 s): 408' "$QS_LOG" ||
		fail "not logged: $(tail -3 "$QS_LOG")"
}

# --send-timeout: a client that stops reading a large PHP response has its
# stream reset and the FastCGI connection freed: with one child, the next
# request is served
test_php_stalled_reader_frees_the_child() {
	local out spid
	need_php_load || return
	php_docroot
	hi_script
	qs_start phpsendto 1 --fastcgi managed --php-max-children 1 --send-timeout 2
	.output/quicsteer-load -k --any-status -c 1 -m 1 -n 1 -d 20 -t 30 \
		--stop-reading-after 100000 "https://127.0.0.1:$QS_PORT/big.php" >/dev/null 2>&1 &
	spid=$!
	defer "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
	wait_until 10 bash -c "grep -q 'for --send-timeout (2 s): reset' $QS_LOG" ||
		fail "the stalled reader was not reset: $(tail -3 "$QS_LOG")"
	out=$(.output/quicsteer-load -k --json --any-status -c 1 -m 1 -n 3 -t 5 \
		"https://127.0.0.1:$QS_PORT/hi.php" 2>/dev/null) || true
	assert_eq "the only child serves again" "3 0" \
		"$(jq -r '"\(.status_2xx) \(.requests_failed)"' <<<"$out")"
}

# 4,000 requests with 60 KB header blocks whose bodies never come (40
# connections x 100 streams): the worker holds at most its budget of
# request fields (64 MB) and answers the rest 503: it grew by 96 MB (315 MB
# without the budget, and refused none)
test_php_held_header_blocks_are_bounded() {
	local pid before peak lpid
	need_php_load || return
	not_sanitized "worker RSS figures" || return
	php_docroot
	len_script
	head -c 1000 /dev/urandom >"$DL/1k.bin"
	qs_start phpfields 1 --fastcgi managed --php-max-children 2
	pid=$(worker_stat 0 pid)
	before=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	.output/quicsteer-load -k --json --any-status -c 40 -m 100 -d 8 -t 30 -H x-big:@60000 \
		--data "$DL/1k.bin" --stall-after 1 "https://127.0.0.1:$QS_PORT/len.php" \
		>"$DL/out.json" 2>/dev/null &
	lpid=$!
	defer "kill $lpid 2>/dev/null; wait $lpid 2>/dev/null"
	peak=$(rss_peak "$pid" "$lpid")
	info "$(jq -c '{status_5xx, requests_failed}' "$DL/out.json"); worker RSS $before kB, peak $peak kB"
	assert_ge "requests refused 503 (budget spent)" 1 "$(jq .status_5xx "$DL/out.json")"
	((peak - before < 131072)) || fail "worker RSS grew by $(((peak - before) / 1024)) MB"
	assert_eq "still serving" 200 "$(php_status "https://127.0.0.1:$QS_PORT/info.php")"
}

# --php-max-per-connection (default: half the worker's share of the pool):
# one connection's 8 slow requests hold 2 of the 4 children, so another
# connection's request starts at once instead of behind them (the order the
# scripts started in, written by the scripts themselves)
test_php_one_connection_cannot_take_the_pool() {
	local order apid
	need_php_load || return
	php_docroot
	script_out_dir
	printf '<?php file_put_contents("%s/w/order", ($_GET["who"] ?? "?") . "\\n", FILE_APPEND | LOCK_EX); if (($_GET["who"] ?? "") === "a") sleep(3); echo "ok\\n";' \
		"$DL" >"$QS_DOCROOT/slow.php"
	chmod a+r "$QS_DOCROOT/slow.php"
	qs_start phpfair 1 --fastcgi managed --php-max-children 4
	.output/quicsteer-load -k --any-status -c 1 -m 8 -n 8 -t 30 \
		"https://127.0.0.1:$QS_PORT/slow.php?who=a" >/dev/null 2>&1 &
	apid=$!
	defer "kill $apid 2>/dev/null; wait $apid 2>/dev/null"
	wait_until 5 bash -c "[[ \$(grep -c a $DL/w/order 2>/dev/null) -ge 2 ]]" ||
		fail "connection A's requests did not start"
	sleep 0.5
	assert_eq "B answered" 200 "$(php_status "https://127.0.0.1:$QS_PORT/slow.php?who=b")"
	order=$(tr -d '\n' <"$DL/w/order")
	info "start order: $order"
	assert_eq "A's requests that started before B" 2 "$(sed 's/b.*//' <<<"$order" | tr -cd a | wc -c)"
}

# PATH_INFO reaches PHP decoded (RFC 3875 4.1.5, as nginx gives it); a
# path whose PATH_INFO has a dot segment (raw or %2e), an encoded slash or
# a control byte (NUL too) is 400 and php-fpm never sees it; REQUEST_URI
# stays the raw path
test_php_path_info_decoded_or_refused() {
	local body seen st
	need_root_bpf || return
	need_phpfpm || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	script_out_dir
	cat >"$QS_DOCROOT/pi.php" <<PHP
<?php
file_put_contents("$DL/w/seen", \$_SERVER["PATH_INFO"] . "\n", FILE_APPEND | LOCK_EX);
echo "script=", \$_SERVER["SCRIPT_NAME"], "\n";
echo "path_info=", \$_SERVER["PATH_INFO"], "\n";
echo "doc_uri=", \$_SERVER["DOCUMENT_URI"], "\n";
echo "uri=", \$_SERVER["REQUEST_URI"], "\n";
PHP
	chmod a+r "$QS_DOCROOT/pi.php"
	qs_start phppathinfo 1 --fastcgi managed --php-max-children 2
	mkdir "$DL/get"
	fetch_php "$DL/get" "/pi.php/%41%20b//caf%c3%a9/x?q=%2e%2e" || fail "decoded PATH_INFO request failed"
	body=$(cat "$DL"/get/*)
	for want in "script=/pi.php" "path_info=/A b/café/x" "doc_uri=/pi.php/A b/café/x" \
		"uri=/pi.php/%41%20b//caf%c3%a9/x?q=%2e%2e"; do
		grep -qx "$want" <<<"$body" || fail "no '$want': $body"
	done
	for p in "/pi.php/a/../../etc/passwd" "/pi.php/%2e%2e/x" "/pi.php/.%2E/x" \
		"/pi.php/a/." "/pi.php/a%2fb" "/pi.php/a%2F..%2Fb" "/pi.php/a%00b" "/pi.php/%0d%0a" \
		"/pi.php/a%5c..%5cb" "/pi.php/%zz" "/a/../pi.php/x" "/%2e%2e/pi.php/x"; do
		st=$(php_status "https://127.0.0.1:$QS_PORT$p")
		[[ $st == 400 ]] || fail "$p: $st, expected 400"
	done
	assert_eq "served after the 400s" 200 "$(php_status "https://127.0.0.1:$QS_PORT/pi.php/ok")"
	seen=$(paste -sd' ' "$DL/w/seen")
	assert_eq "the PATH_INFO values PHP saw" "/A b/café/x /ok" "$seen"
}

# A script's body is held to its own Content-Length: more is cut at it
# (logged once), less resets the stream (a clean end would pass a short
# body off as the whole); HEAD, whose body is never sent, is not short
test_php_body_held_to_its_content_length() {
	local L q
	need_php_load || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php header("Content-Length: 5"); echo "012"; flush(); echo "3456789"; flush(); echo "more";' \
		>"$QS_DOCROOT/long.php"
	printf '<?php header("Content-Length: 100"); echo "short";' >"$QS_DOCROOT/short.php"
	chmod a+r "$QS_DOCROOT"/*.php
	qs_start phpclen 1 --fastcgi managed --php-max-children 1
	L=("$ROOT/.output/quicsteer-load" -k --any-status --json -t 5 -n 1)
	q='"\(.status_2xx) \(.failed_reset) \(.requests_failed) \(.body_bytes)"'
	assert_eq "longer than its Content-Length: 200, cut" "1 0 0 5" \
		"$("${L[@]}" "https://127.0.0.1:$QS_PORT/long.php" | jq -r "$q")"
	fetch_php "$DL" /long.php || fail "GET long.php failed"
	assert_eq "the body" "01234" "$(cat "$DL/long.php")"
	assert_eq "logged once a request" 2 \
		"$(grep -c 'the script wrote more than its Content-Length of 5: the rest is dropped' "$QS_LOG")"
	assert_eq "shorter than its Content-Length: reset" "0 1 1 0" \
		"$("${L[@]}" "https://127.0.0.1:$QS_PORT/short.php" | jq -r "$q")"
	grep -q 'the script ended 95 bytes short of its Content-Length of 100: stream reset' "$QS_LOG" ||
		fail "the short body is not logged: $(tail -3 "$QS_LOG")"
	assert_eq "HEAD of the short one" "1 0 0 0" \
		"$("${L[@]}" -X HEAD "https://127.0.0.1:$QS_PORT/short.php" | jq -r "$q")"
	assert_eq "served after" "1 0 0 5" \
		"$("${L[@]}" "https://127.0.0.1:$QS_PORT/long.php" | jq -r "$q")"
}

# 204 and 304 from a script carry no body (RFC 9110 15.3.5, 15.4.5), and a
# 204 no Content-Length; the 304 keeps its validators
test_php_204_and_304_without_body() {
	local L q out
	need_php_load || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	php_docroot
	printf '<?php http_response_code(204); header("Content-Length: 1"); echo "x";' \
		>"$QS_DOCROOT/nc.php"
	printf '<?php http_response_code(304); header("ETag: \\"v1\\""); header("Cache-Control: max-age=60"); echo "body";' \
		>"$QS_DOCROOT/nm.php"
	chmod a+r "$QS_DOCROOT"/*.php
	qs_start phpnobody 1 --fastcgi managed --php-max-children 1
	L=("$ROOT/.output/quicsteer-load" -k --any-status --json -t 5 -n 1)
	q='"\(.status_2xx) \(.status_3xx) \(.requests_failed) \(.body_bytes)"'
	assert_eq "204" "1 0 0 0" "$("${L[@]}" "https://127.0.0.1:$QS_PORT/nc.php" | jq -r "$q")"
	assert_eq "304" "0 1 0 0" "$("${L[@]}" "https://127.0.0.1:$QS_PORT/nm.php" | jq -r "$q")"
	out=$(timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/nc.php" \
		"https://127.0.0.1:$QS_PORT/nm.php" 2>&1)
	grep -q '\[:status: 204\]' <<<"$out" || fail "no 204: $(grep 'http:' <<<"$out")"
	grep -q '\[content-length: ' <<<"$out" && fail "a 204 with content-length"
	grep -q '\[etag: "v1"\]' <<<"$out" || fail "the 304 lost its ETag"
	grep -q '\[cache-control: max-age=60\]' <<<"$out" || fail "the 304 lost Cache-Control"
	true
}

# What php-fpm sends on STDERR (PHP's messages) goes to the log escaped:
# no raw control byte (a terminal escape, a forged log line) gets in, each
# line is cut at 1024 characters, and a flood is rate-limited per worker
# with the count of what was not logged
test_php_stderr_escaped_and_rate_limited() {
	local L lines longest
	need_php_load || return
	php_docroot
	printf '<?php error_log("evil\\x1b[31mred\\n2026-01-01T00:00:00Z worker 0/0 warn: forged\\\\x"); echo "ok";' \
		>"$QS_DOCROOT/evil.php"
	printf '<?php for ($i = 0; $i < 20000; $i++) error_log(str_repeat("x", 90) . " $i"); echo "ok";' \
		>"$QS_DOCROOT/flood.php"
	chmod a+r "$QS_DOCROOT"/*.php
	qs_start phpstderr 1 --fastcgi managed --php-max-children 1
	L=("$ROOT/.output/quicsteer-load" -k --json -t 10 -n 1)
	assert_eq "evil.php" 1 "$("${L[@]}" "https://127.0.0.1:$QS_PORT/evil.php" | jq -r .status_2xx)"
	wait_until 5 grep -qF 'php: PHP message: evil\x1b[31mred\x0a2026-01-01T00:00:00Z worker 0/0 warn: forged\x5cx' "$QS_LOG" ||
		fail "not logged escaped: $(grep 'evil' "$QS_LOG" | cat -v)"
	assert_eq "ESC bytes in the log" 0 "$(grep -c $'\x1b' "$QS_LOG" || true)"
	assert_eq "forged lines" 0 "$(grep -c '^2026-01-01T00:00:00Z' "$QS_LOG" || true)"
	# about 2 MB of STDERR in 8 KB records: more than 50 a second
	assert_eq "flood.php" 1 "$("${L[@]}" "https://127.0.0.1:$QS_PORT/flood.php" | jq -r .status_2xx)"
	wait_until 5 grep -q 'php: [0-9]* more STDERR lines not logged (at most 50 a second' "$QS_LOG" ||
		fail "no count of what was not logged: $(tail -2 "$QS_LOG" | cut -c1-200)"
	lines=$(grep -c ': php: .*PHP message: x' "$QS_LOG")
	info "flood: $lines lines logged, $(grep -o '[0-9]* more STDERR lines' "$QS_LOG" | paste -sd+) not"
	(( lines <= 50 * 3 )) || fail "$lines lines logged"
	longest=$(grep ': php: ' "$QS_LOG" | sed 's/^.*: php: //' | awk '{ if (length > m) m = length } END { print m }')
	(( longest <= 1024 + 30 )) || fail "a line of $longest characters"
	grep -q 'x\.\.\. ([0-9]* more bytes)$' "$QS_LOG" || fail "no line says it was cut"
}

# fastcgi_finish_request(): the client has the whole answer while the
# script runs on.  php-fpm keeps that child on its kept-alive connection
# until the script ends, so a request given the connection would wait
# behind the afterwork; the worker sees its request unread there (once),
# learns the script and closes its connections from then on: later
# requests are answered at once.  A slow script that does not answer
# early is not taken for one.
test_php_fastcgi_finish_request() {
	local i t out=() slow
	need_php_load || return
	php_docroot
	script_out_dir
	cat >"$QS_DOCROOT/ffr.php" <<PHP
<?php
echo "answered\n";
fastcgi_finish_request();
sleep(2);
file_put_contents("$DL/w/after." . getmypid() . "." . uniqid(), "done");
PHP
	printf '<?php usleep(100000); echo "slow\\n";' >"$QS_DOCROOT/slow.php"
	chmod a+r "$QS_DOCROOT/ffr.php" "$QS_DOCROOT/slow.php"
	qs_start phpffr 1 --fastcgi managed --php-max-children 16
	for i in 1 2 3 4 5 6; do
		out+=("$(curl -sk --http1.1 --max-time 10 -w ' %{time_total}' \
			"https://127.0.0.1:$QS_PORT/ffr.php")")
	done
	info "6 requests (answer, seconds): $(printf '%s|' "${out[@]}" | tr '\n' ' ')"
	[[ ${out[0]} == answered* ]] || fail "first answer: ${out[0]}" || return
	t=${out[0]##* }
	(($(echo "$t < 1.5" | bc))) || fail "the first answer waited for the afterwork: $t s" || return
	# the second may wait once (that is how the script is learnt); none after it
	for i in 2 3 4 5; do
		t=${out[$i]##* }
		(($(echo "$t < 1.5" | bc))) ||
			fail "request $((i + 1)) waited behind a script's afterwork: $t s" || return
	done
	assert_eq "the script learnt once" 1 "$(workers_sum php_finishers)" || return
	wait_until 10 bash -c "(( \$(ls $DL/w | grep -c '^after') == 6 ))" ||
		fail "afterwork done $(ls "$DL/w" | grep -c '^after') of 6 times" || return
	for i in 1 2 3 4 5; do
		slow=$(curl -sk --http1.1 --max-time 10 "https://127.0.0.1:$QS_PORT/slow.php")
		[[ $slow == slow ]] || fail "slow.php: $slow" || return
	done
	assert_eq "a slow script is not one" 1 "$(workers_sum php_finishers)"
}

# ---- php-fpm's time and pool state in /metrics and quicsteerctl status ----

pst_metrics() { timeout 5 curl -s "http://127.0.0.1:$PST_MPORT/metrics"; }
pst_metric() { # NAME: its value, the sum of its series
	pst_metrics | awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $2; f = 1} END {if (f) print s}'
}
pst_status_json() { timeout 5 "$ROOT/quicsteerctl" -i "$QS_INST" status --json; }
pst_pool() { # FIELD of the pool in status --json
	pst_status_json | jq -r ".php_fpm.pool.$1"
}
pst_pool_is() { [[ $(pst_pool "$1") == "$2" ]]; }      # FIELD VALUE
pst_pool_ge() { (( $(pst_pool "$1" | sed 's/null/-1/') >= $2 )); } # FIELD MIN
sleep_script() { # $QS_DOCROOT/sleep.php?ms=N: answers after N ms
	printf '<?php usleep((int)($_GET["ms"] ?? 0) * 1000); echo "slept\\n";' >"$QS_DOCROOT/sleep.php"
	chmod a+r "$QS_DOCROOT/sleep.php"
}
pst_get() { # PATH: its status over HTTP/1.1
	curl -sk --http1.1 --max-time 20 -o /dev/null -w '%{http_code}\n' "https://127.0.0.1:$QS_PORT$1"
}

# The histogram of php-fpm's time counts every PHP request once and no
# static one, its buckets cumulative, the slow ones above their bound.
test_php_time_histogram_counts_php_requests() {
	local load=.output/quicsteer-load out prev k v count sum le25 pids=() p
	need_php_load || return
	php_docroot
	hi_script
	sleep_script
	PST_MPORT=$((20000 + RANDOM % 30000))
	qs_start phphist 2 --fastcgi managed --php-max-children 4 --metrics "127.0.0.1:$PST_MPORT"
	assert_eq "count before any request" 0 "$(pst_metric quicsteer_phpfpm_request_seconds_count)"
	out=$("$load" -k --json -c 2 -m 2 -n 40 "https://127.0.0.1:$QS_PORT/hi.php")
	assert_eq "PHP requests answered" 40 "$(jq .status_2xx <<<"$out")"
	out=$("$load" -k --json -c 2 -m 2 -n 30 "https://127.0.0.1:$QS_PORT/index.html")
	assert_eq "static requests answered" 30 "$(jq .status_2xx <<<"$out")"
	for k in 1 2 3; do
		pst_get "/sleep.php?ms=300" >"$DL/slow.$k" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	assert_eq "slow requests answered" "200 200 200" "$(cat "$DL"/slow.* | xargs)"
	out=$(pst_metrics)
	grep -q '^# TYPE quicsteer_phpfpm_request_seconds histogram$' <<<"$out" ||
		fail "no histogram TYPE line" || return
	count=$(awk '$1 == "quicsteer_phpfpm_request_seconds_count" {print $2}' <<<"$out")
	assert_eq "_count: the PHP requests, not the static ones" 43 "$count"
	assert_eq "le=+Inf = _count" "$count" \
		"$(awk '$1 == "quicsteer_phpfpm_request_seconds_bucket{le=\"+Inf\"}" {print $2}' <<<"$out")"
	assert_eq "buckets from 1 ms to 30 s" "0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 +Inf" \
		"$(sed -n 's/^quicsteer_phpfpm_request_seconds_bucket{le="\([^"]*\)"} .*/\1/p' <<<"$out" | xargs)"
	prev=0
	while read -r v; do
		assert_ge "cumulative buckets" "$prev" "$v" || return
		prev=$v
	done < <(sed -n 's/^quicsteer_phpfpm_request_seconds_bucket{.*} //p' <<<"$out")
	# the three 300 ms ones are above 0.25 s (the others are far below on any machine)
	le25=$(awk '$1 == "quicsteer_phpfpm_request_seconds_bucket{le=\"0.25\"}" {print $2}' <<<"$out")
	assert_ge "requests above 0.25 s" 3 $((count - le25))
	sum=$(awk '$1 == "quicsteer_phpfpm_request_seconds_sum" {print int($2 * 1000)}' <<<"$out")
	assert_ge "_sum (ms): at least the three sleeps" 900 "$sum"
}

# The managed pool's state comes from its status page: its size, and more
# active processes while slow requests run; in status text, --json, /metrics.
test_php_pool_state_in_status_and_metrics() {
	local out pids=() p k accepted
	need_php_load || return
	make_docroot
	sleep_script
	PST_MPORT=$((20000 + RANDOM % 30000))
	# one worker: two would each take a half share of the children, and three
	# requests on one of them would leave one waiting in that worker
	qs_start phppool 1 --fastcgi managed --php-max-children 4 --metrics "127.0.0.1:$PST_MPORT"
	wait_until 10 pst_pool_is state up || fail "pool state: $(pst_status_json | jq -c .php_fpm)" || return
	# (read right after php-fpm's start, a child may not be counted yet)
	wait_until 5 pst_pool_is total_processes 4 ||
		fail "total processes: $(pst_pool total_processes)" || return
	assert_eq "pool name and manager" "quicsteer static" \
		"$(pst_status_json | jq -r '.php_fpm.pool | "\(.name) \(.process_manager)"')"
	accepted=$(pst_pool accepted_conn)
	for k in 1 2 3; do
		pst_get "/sleep.php?ms=6000" >/dev/null &
		pids+=($!)
	done
	defer "kill ${pids[*]} 2>/dev/null"
	wait_until 8 pst_pool_ge active_processes 3 ||
		fail "active processes while 3 slow requests run: $(pst_status_json | jq -c .php_fpm.pool)" || return
	out=$(timeout 5 "$ROOT/quicsteerctl" -i "$QS_INST" status)
	grep -Eq "^pool: +quicsteer \(static\): [3-4] active, [0-1] idle, 4 total; listen queue 0; max children reached [0-9]+; accepted conn [0-9]+; slow requests 0 \([0-9]+ s ago\)$" \
		<<<"$out" || fail "status pool line: $(grep pool: <<<"$out")" || return
	assert_ge "quicsteer_phpfpm_active_processes" 3 "$(pst_metric quicsteer_phpfpm_active_processes)"
	assert_eq "quicsteer_phpfpm_total_processes" 4 "$(pst_metric quicsteer_phpfpm_total_processes)"
	assert_eq "quicsteer_phpfpm_status_up" 1 "$(pst_metric quicsteer_phpfpm_status_up)"
	for p in "${pids[@]}"; do wait "$p" || true; done
	wait_until 5 pst_pool_ge accepted_conn $((accepted + 3)) ||
		fail "accepted conn did not grow by 3: $accepted -> $(pst_pool accepted_conn)"
	# the workers never reach the status page: a hidden path is refused
	assert_eq "the status path from a client" 404 "$(pst_get /.quicsteer-fpm-status?json)"
}

# An existing pool: its state unknown without --php-status-path; with it, read
# from the pool's own socket; stopped, the query times out, killed, "down";
# status and /metrics answer at once throughout.
test_php_pool_state_external_unknown_hung_down() {
	local sock=/tmp/qs-test-fpm-st.$$.sock out master kids t0
	need_php_load || return
	make_docroot
	hi_script
	own_pool "$sock" "pm.status_path = /fpm-status"
	defer "rm -f $sock"
	PST_MPORT=$((20000 + RANDOM % 30000))
	qs_start phpext 1 --fastcgi "unix:$sock" --metrics "127.0.0.1:$PST_MPORT"
	out=$(timeout 5 "$ROOT/quicsteerctl" -i "$QS_INST" status)
	grep -q "^pool: *unknown (no status page to read: give the pool's pm.status_path with --php-status-path)$" \
		<<<"$out" || fail "pool line without a status path: $(grep pool: <<<"$out")" || return
	assert_eq "json pool state" unknown "$(pst_pool state)"
	[[ -z $(pst_metric quicsteer_phpfpm_status_up) ]] || fail "status_up without a status page"
	qs_kill "$QS_PID"
	qs_start phpext2 1 --fastcgi "unix:$sock" --php-status-path /fpm-status \
		--metrics "127.0.0.1:$PST_MPORT"
	wait_until 10 pst_pool_is state up || fail "pool state: $(pst_status_json | jq -c .php_fpm)" || return
	assert_eq "the pool's name" own "$(pst_pool name)"
	wait_until 5 pst_pool_is total_processes 4 || fail "its size: $(pst_pool total_processes)" || return
	# hung: every php-fpm process stopped, the socket still accepts
	master=$(cat "$POOL_DIR/fpm.pid")
	kids=$(pgrep -P "$master" | xargs)
	kill -STOP "$master" $kids
	defer "kill -CONT $master $kids"
	wait_until 8 pst_pool_is state failing ||
		fail "a stopped pool: $(pst_status_json | jq -c .php_fpm.pool)" || return
	assert_eq "why" "no status answer within 1000 ms (request sent)" "$(pst_pool error)"
	t0=$(date +%s%N)
	out=$(curl -s --max-time 2 "http://127.0.0.1:$PST_MPORT/metrics") || fail "metrics while the pool hangs" || return
	grep -q '^quicsteer_phpfpm_status_up 0$' <<<"$out" || fail "status_up while the pool hangs"
	grep -q '^quicsteer_phpfpm_active_processes' <<<"$out" && fail "stale pool figures in /metrics"
	info "metrics answered in $(( ($(date +%s%N) - t0) / 1000000 )) ms while php-fpm hangs"
	kill -CONT "$master" $kids
	wait_until 8 pst_pool_is state up || fail "the pool back: $(pst_status_json | jq -c .php_fpm.pool)" || return
	# down: php-fpm gone
	kill -KILL "$master" $kids
	rm -f "$sock"
	wait_until 8 pst_pool_is state down || fail "a dead pool: $(pst_status_json | jq -c .php_fpm.pool)" || return
	out=$(timeout 5 "$ROOT/quicsteerctl" -i "$QS_INST" status) || fail "status: $out" || return
	grep -q "^php-fpm: *external unix:$sock, down$" <<<"$out" || fail "php-fpm line: $(grep php-fpm: <<<"$out")"
	grep -q "^pool: *down: nothing listens on $sock: No such file or directory" <<<"$out" ||
		fail "pool line: $(grep pool: <<<"$out")"
	out=$(curl -s --max-time 2 "http://127.0.0.1:$PST_MPORT/metrics") || fail "metrics with php-fpm down" || return
	grep -q '^quicsteer_phpfpm_status_up 0$' <<<"$out" || fail "status_up with php-fpm down"
}

# A hostile "pool" on the status socket: an endless answer is cut at 16 KB,
# a 404 named; the loader's endpoints answer throughout.
test_php_pool_state_hostile_answers() {
	local sock=/tmp/qs-test-fpm-evil.$$.sock out fpid
	need_root_bpf || return
	[[ -x /usr/bin/python3 ]] || { need python3; return; }
	make_docroot
	/usr/bin/python3 - "$sock" <<'PY' &
import os, socket, struct, sys, threading
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o666)
s.listen(16)
asked = 0
held = []
def rec(t, c):
    p = (8 - len(c) % 8) % 8
    return struct.pack('>BBHHBB', 1, t, 1, len(c), p, 0) + c + b'\0' * p
def serve(c):
    # the loader's status request (the workers may connect too: ignored)
    global asked
    got = b''
    while b'/status' not in got:
        d = c.recv(4096)
        if not d:
            return
        got += d
    asked += 1
    try:
        if asked <= 2:
            c.sendall(rec(6, b'Content-Type: text/plain\r\n\r\n' + b'A' * 30000))
            held.append(c)  # and never close
        else:
            c.sendall(rec(6, b'Status: 404 Not Found\r\n\r\nFile not found.\n') +
                      rec(6, b'') + rec(3, b'\0' * 8))
            c.close()
    except OSError:
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	fpid=$!
	defer "kill $fpid; rm -f $sock"
	wait_until 5 test -S "$sock" || fail "no fake pool" || return
	PST_MPORT=$((20000 + RANDOM % 30000))
	qs_start phpevil 1 --fastcgi "unix:$sock" --php-status-path /status --metrics "127.0.0.1:$PST_MPORT"
	wait_until 8 bash -c "grep -q 'php-fpm status (.*): the status answer is larger than 16384 bytes' $QS_LOG" ||
		fail "an endless answer: $(pst_status_json | jq -c .php_fpm.pool)" || return
	out=$(curl -s --max-time 2 "http://127.0.0.1:$PST_MPORT/metrics") || fail "metrics" || return
	grep -q '^quicsteer_phpfpm_status_up 0$' <<<"$out" || fail "status_up with an endless answer"
	wait_until 10 pst_pool_is error "php-fpm answered 404: no status page at that path (pm.status_path)" ||
		fail "a 404: $(pst_status_json | jq -c .php_fpm.pool) $(grep 'php-fpm status' $QS_LOG)" || return
	assert_eq "state" failing "$(pst_pool state)"
	kill -0 "$QS_PID" || fail "the loader died"
}

# A child that waits for a CPU (here: stopped for 150 ms, past the first
# look at 20 ms) is not taken for one that runs a script on: on a loaded
# machine that once turned off keep-alive for the demo page.
test_php_busy_child_is_not_a_finisher() {
	local master kids out cpid
	need_php_load || return
	php_docroot
	printf '<?php echo "hi\n";' >"$QS_DOCROOT/hi.php"
	chmod a+r "$QS_DOCROOT/hi.php"
	qs_start phpbusy 1 --fastcgi managed --php-max-children 2
	for _ in 1 2 3; do	# the worker's connections kept alive, idle
		out=$(curl -sk --http1.1 --max-time 10 "https://127.0.0.1:$QS_PORT/hi.php")
		[[ $out == hi ]] || fail "hi.php: $out" || return
	done
	master=$(phpfpm_master)
	kids=$(ps -o pid= --ppid "$master" | tr -d ' ' | tr '\n' ' ')
	[[ -n $kids ]] || fail "no php-fpm children" || return
	defer "kill -CONT $kids 2>/dev/null || true"
	# shellcheck disable=SC2086
	kill -STOP $kids
	curl -sk --http1.1 --max-time 10 "https://127.0.0.1:$QS_PORT/hi.php" >"$DL/busy.out" &
	cpid=$!
	sleep 0.15
	# shellcheck disable=SC2086
	kill -CONT $kids
	wait "$cpid" || fail "the request across the stop failed" || return
	assert_eq "answered across the stop" hi "$(cat "$DL/busy.out")"
	sleep 0.3	# past the second look
	assert_eq "scripts learnt" 0 "$(workers_sum php_finishers)"
}
