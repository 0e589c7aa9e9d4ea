# SPDX-License-Identifier: MIT
# The loader as an operator meets it: flags, config file, errors that name
# the cause and the fix, stale state after a crash, daemon mode, inspect.

test_help_and_version() {
	local help
	help=$("$QS" --help)
	for flag in --config --listen --workers --instance --steering --foreground \
		--user --server-id --log-file --log-level --help --version; do
		grep -q -- "$flag" <<<"$help" || fail "--help does not mention $flag"
	done
	[[ $("$QS" --version) == "quicsteerd $(cat "$ROOT/VERSION")" ]] || fail "--version"
}

test_bad_flags_exit_2_with_reason() {
	local out status
	status=0; out=$("$QS" --listen 127.0.0.1 2>&1) || status=$?
	assert_eq "exit status" 2 "$status"
	grep -q "expected ADDR:PORT" <<<"$out" || fail "message: $out"
	status=0; out=$("$QS" --workers 99 2>&1) || status=$?
	assert_eq "exit status" 2 "$status"
	grep -q "expected 1..64" <<<"$out" || fail "message: $out"
	status=0; out=$("$QS" --fastcgi php 2>&1) || status=$?
	assert_eq "exit status" 2 "$status"
	grep -q "expected off, managed, unix:/absolute/path or tcp:HOST:PORT" <<<"$out" ||
		fail "message: $out"
	status=0; out=$("$QS" --config /nonexistent.conf 2>&1) || status=$?
	assert_eq "exit status" 2 "$status"
	grep -q "cannot read config file /nonexistent.conf" <<<"$out" || fail "message: $out"
}

test_config_file_and_flag_override() {
	local conf
	need_root_bpf || return
	conf=$(mktemp /tmp/qs-test-conf.XXXXXX)
	defer "rm -f $conf"
	make_docroot
	printf '[quicsteer]\nworkers = 3\nserver_id = c0ffee\nsteering = off\ndocroot = %s\n' \
		"$QS_DOCROOT" >"$conf"
	qs_start conf 3 --config "$conf" --steering on
	assert_eq "workers from the file" 3 "$(workers_running)"
	[[ -e $QS_PIN/qs_steer_l0 ]] || fail "--steering on (flag) did not override the file"
	send --to "127.0.0.1:$QS_PORT" --count 300 --ports 10 >/dev/null
	wait_until 10 bash -c "[[ \$(bpftool -j map dump pinned $QS_PIN/qs_steer_stats | jq '[.[0].formatted.values[].value.cid_routed] | add') == 300 ]]" ||
		fail "not routed: $(steer_stats_line)"
}

test_not_root_is_refused_clearly() {
	local out status=0
	command -v setpriv >/dev/null || { need "setpriv"; return; }
	[[ $(id -u) == 0 ]] || { need "root (to drop to nobody)"; return; }
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$QS" --foreground --instance "t$$-nonroot" --listen 127.0.0.1:1 2>&1) || status=$?
	assert_eq "exit status" 1 "$status"
	grep -q "must run as root" <<<"$out" || fail "message: $out"
	grep -q "CAP_BPF" <<<"$out" || fail "message does not name the capabilities: $out"
	[[ ! -e $PIN_ROOT/t$$-nonroot ]] || fail "left pins"
}

test_port_in_use_is_refused() {
	local port out status=0 holder
	need_root_bpf || return
	qs_start porta 2
	port=$QS_PORT
	# another instance on the same port must not join its reuseport group
	out=$(timeout 20 "$QS" --foreground --instance "t$$-portb" "${QS_ARGS[@]}" --listen "127.0.0.1:$port" 2>&1) || status=$?
	assert_eq "exit status" 1 "$status"
	grep -q "cannot listen on 127.0.0.1:$port: address already in use" <<<"$out" ||
		fail "message: $out"
	[[ ! -e $PIN_ROOT/t$$-portb ]] || fail "failed start left pins"
	[[ ! -e /run/quicsteer/t$$-portb ]] || fail "failed start left runtime dir"
	# and a plain UDP socket of someone else: bound before quicsteerd tries
	# (a python3 that starts slowly, as a version manager's shim under load
	# does, once let it start and serve: the test hung on it), and
	# quicsteerd bounded in time whatever happens
	/usr/bin/python3 -c "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $port + 1)); time.sleep(30)" &
	holder=$!
	defer "kill $holder 2>/dev/null"
	wait_until 10 bash -c "[[ -n \$(ss -Hlun 'sport = :$((port + 1))') ]]" ||
		fail "the holder did not bind UDP port $((port + 1))" || return
	status=0
	out=$(timeout 20 "$QS" --foreground --instance "t$$-portc" "${QS_ARGS[@]}" \
		--listen "127.0.0.1:$((port + 1))" 2>&1) || status=$?
	assert_eq "exit status" 1 "$status"
	grep -q "address already in use" <<<"$out" || fail "message: $out"
	kill -0 "$QS_PID" || fail "the running instance was disturbed"
}

test_same_instance_twice_is_refused() {
	local out status=0
	need_root_bpf || return
	qs_start twice 2
	out=$("$QS" --foreground --instance "$QS_INST" "${QS_ARGS[@]}" --listen "127.0.0.1:$((QS_PORT + 1))" 2>&1) || status=$?
	assert_eq "exit status" 1 "$status"
	grep -q "instance '$QS_INST' is already running (pid $QS_PID)" <<<"$out" || fail "message: $out"
	[[ -e $QS_PIN/qs_state ]] || fail "the running instance lost its pins"
}

# kill -9 the loader: workers die with it (PDEATHSIG); the next start
# finds the stale pins, says so, removes them and serves
test_stale_pins_after_crash() {
	local pids json
	need_root_bpf || return
	qs_start stale 2
	pids=$(worker_stats_json | jq -r '.[].value.pid')
	kill -KILL "$QS_PID"
	wait "$QS_PID" 2>/dev/null || true
	for p in $pids; do
		wait_until 5 is_dead "$p" || fail "worker $p outlived the loader"
	done
	[[ -e $QS_PIN ]] || fail "expected stale pins after kill -9"
	"$QS" --foreground --instance "$QS_INST" --workers 2 --listen "127.0.0.1:$QS_PORT" \
		--log-file "$QS_LOG" "${QS_ARGS[@]}" &
	QS_PID=$!
	defer "qs_kill $QS_PID"
	wait_until 10 qs_ready "$QS_PID" 2 || { cat "$QS_LOG"; fail "restart failed"; }
	grep -q "removing stale pins of instance '$QS_INST'" "$QS_LOG" || fail "not reported"
	json=$(send --to "127.0.0.1:$QS_PORT" --count 200 --ports 5)
	wait_until 10 bash -c "[[ \$(bpftool -j map dump pinned $QS_PIN/qs_steer_stats | jq '[.[0].formatted.values[].value.cid_routed] | add') == 200 ]]" ||
		fail "not routing after restart: $(steer_stats_line)"
	[[ -n $json ]]
}

test_daemon_mode_and_pid_file() {
	local inst=t$$-daemon port=$((20000 + RANDOM % 30000)) log out pid
	need_root_bpf || return
	log=$(mktemp /tmp/qs-test-daemon.XXXXXX.log)
	defer "rm -f $log"
	make_docroot
	defer_instance_cleanup "$inst"
	defer 'p=$(cat /run/quicsteer/'"$inst"'/quicsteerd.pid 2>/dev/null) && qs_kill $p' 
	out=$("$QS" --instance "$inst" --workers 2 --listen "127.0.0.1:$port" --log-file "$log" \
		"${QS_ARGS[@]}")
	grep -q "instance '$inst' running" <<<"$out" || fail "output: $out"
	pid=$(cat "/run/quicsteer/$inst/quicsteerd.pid")
	defer "qs_kill $pid"
	kill -0 "$pid" || fail "daemon not running"
	[[ -e $PIN_ROOT/$inst/qs_state ]] || fail "no pins"
	grep -q "serving HTTP/3 on udp 127.0.0.1:$port" "$log" || fail "log: $(cat "$log")"
	kill -TERM "$pid"
	wait_until 10 is_dead "$pid" || fail "daemon did not stop"
	[[ ! -e $PIN_ROOT/$inst ]] || fail "pins left"
	# a daemon that cannot start says so and exits non-zero
	local status=0
	out=$("$QS" --instance "$inst" --user no-such-user-qs --listen "127.0.0.1:$port" 2>&1) || status=$?
	assert_eq "exit status" 1 "$status"
	grep -q "user 'no-such-user-qs' for the workers does not exist" <<<"$out" || fail "message: $out"
}

test_workers_unprivileged() {
	local pid w
	need_root_bpf || return
	qs_start priv 2
	for w in 0 1; do
		pid=$(worker_stat $w pid)
		assert_eq "worker $w uid" "$(id -u www-data)" "$(awk '/^Uid:/ {print $3}' /proc/$pid/status)"
		assert_eq "worker $w CapEff" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' /proc/$pid/status)"
		# a worker holds its own sockets only, and no BPF object
		ls -l /proc/$pid/fd | grep -q "anon_inode:bpf" && fail "worker $w holds BPF fds"
		assert_eq "worker $w sockets (UDP and TCP)" 2 "$(ls -l /proc/$pid/fd | grep -c 'socket:')"
	done
}

test_inspect_prints_names() {
	local out
	need_root_bpf || return
	qs_start inspect 2
	send --to "127.0.0.1:$QS_PORT" --count 50 >/dev/null
	sleep 0.2
	out=$("$ROOT/scripts/inspect.sh" "$QS_INST")
	for word in cid_routed new_flow unroutable stale malformed "listener 0 gen 0 worker 1" \
		"config ids installed \[0\]" "qs_steer sk_reuseport"; do
		grep -q "$word" <<<"$out" || fail "inspect output lacks '$word': $out"
	done
	assert_eq "json routed" 50 "$("$ROOT/scripts/inspect.sh" "$QS_INST" --json | jq .steer_stats.cid_routed)"
	out=$("$ROOT/scripts/inspect.sh" no-such-instance 2>&1) && fail "unknown instance: exit 0"
	grep -q "no instance 'no-such-instance'" <<<"$out" || fail "unknown instance: $out"
}

# http_get PORT PATH: status line and body of GET PATH on 127.0.0.1:PORT
# (bash's /dev/tcp: no client to install), within 5 s
http_get() {
	timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1
		printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
		cat <&3' _ "$1" "$2" | tr -d '\r' | sed -n '1p; /^$/,$p' | sed '/^$/d'
}

port_closed() { ! timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1' _ "$1" 2>/dev/null; }
health_ok() { [[ $(http_get "$1" /health) == *$'\nok' ]]; } # PORT
restarted() { # WORKER OLD_PID: running again under a new pid
	local p
	p=$(worker_stat "$1" pid)
	[[ $p != "$2" && $p != 0 ]]
}

# --metrics: Prometheus text of the workers' counters and the steering
# program, /health that says which worker is down; a port in use refuses
# the start; the port is closed after SIGTERM
test_metrics_and_health_endpoint() {
	local mport out wpid n seen
	need_root_bpf || return
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	mport=$((20000 + RANDOM % 30000))
	make_docroot
	echo hello >"$QS_DOCROOT/m.txt"
	chmod a+r "$QS_DOCROOT/m.txt"
	qs_start metrics 2 --metrics "127.0.0.1:$mport"
	assert_eq "health" "HTTP/1.1 200 OK
ok" "$(http_get "$mport" /health)"
	for n in 1 2 3; do
		timeout 10 gtlsclient -q --exit-on-all-streams-close --timeout=5s 127.0.0.1 "$QS_PORT" \
			"https://127.0.0.1:$QS_PORT/m.txt" >/dev/null 2>&1 || fail "GET $n"
	done
	out=$(http_get "$mport" /metrics)
	head -1 <<<"$out" | grep -q "^HTTP/1.1 200 OK" || fail "metrics: $(head -3 <<<"$out")"
	assert_eq "worker_up lines" 2 "$(grep -c '^quicsteer_worker_up{gen="0",worker="[01]"} 1$' <<<"$out")"
	assert_eq "2xx in the metrics = the workers' counters" "$(workers_sum req_2xx)" \
		"$(awk '/^quicsteer_worker_req_2xx_total/ {s += $2} END {print s}' <<<"$out")"
	assert_eq "2xx" 3 "$(awk '/^quicsteer_worker_req_2xx_total/ {s += $2} END {print s}' <<<"$out")"
	assert_eq "steering: CID-routed = the BPF counter" "$(steer_stat cid_routed)" \
		"$(awk '/^quicsteer_steer_cid_routed_total/ {print $2}' <<<"$out")"
	grep -q '^# TYPE quicsteer_worker_conn_active gauge$' <<<"$out" || fail "conn_active type"
	assert_eq "unknown path" "HTTP/1.1 404 Not Found" "$(http_get "$mport" /nope | sed -n 1p)"
	# a worker down: /health says which.  A worker that keeps crashing is
	# restarted after a growing backoff (250 ms after the 4th crash), so
	# kill it until a health check lands in that window.
	seen=
	for n in $(seq 8); do
		wpid=$(worker_stat 1 pid)
		[[ $wpid != 0 ]] || { wait_until 5 restarted 1 0 || fail "worker 1 gone for good"; continue; }
		kill -KILL "$wpid"
		wait_until 5 is_dead "$wpid" || fail "worker did not die"
		out=$(http_get "$mport" /health)
		if [[ $out == "HTTP/1.1 503 Service Unavailable"* ]]; then
			seen=$out
			break
		fi
		wait_until 5 restarted 1 "$wpid" || fail "worker not restarted"
	done
	assert_eq "health with a worker down (after $n crashes)" "HTTP/1.1 503 Service Unavailable
worker 0/1 is not running" "$seen"
	wait_until 40 health_ok "$mport" || fail "health after the restart: $(http_get "$mport" /health)"
	# the port in use: a second instance refuses to start and says why
	out=$(timeout 10 ./quicsteerd --foreground --instance "t$$-metrics2" --workers 1 "${QS_ARGS[@]}" \
		--listen "127.0.0.1:$((QS_PORT + 1))" --metrics "127.0.0.1:$mport" 2>&1) &&
		fail "started with the metrics port in use"
	defer_instance_cleanup "t$$-metrics2"
	grep -q "metrics endpoint 127.0.0.1:$mport: Address already in use" <<<"$out" ||
		fail "no reason given: $(tail -3 <<<"$out")"
	qs_kill "$QS_PID"
	wait_until 5 port_closed "$mport" || fail "the port is still open after SIGTERM"
	return 0
}

# docs/configuration.md carries the option table quicsteerd --help-markdown
# prints, between its two markers; --help shows every option of that table
test_config_docs_match_option_table() {
	local doc=$ROOT/docs/configuration.md table help row flag n=0
	table=$("$QS" --help-markdown)
	[[ -r $doc ]] || { fail "no $doc"; return; }
	diff -u <(awk '/^<!-- END option table/ {p = 0} p; /^<!-- BEGIN option table/ {p = 1}' "$doc") \
		<(printf '%s\n' "$table") >&2 ||
		fail "docs/configuration.md's table is not quicsteerd --help-markdown (diff above:" \
			"- the doc, + the program); its 'Options' section says how to put it there"
	help=$("$QS" --help)
	while IFS= read -r row; do
		# "| `-c`, `--config FILE` | ..." -> "-c, --config FILE", as --help shows it
		row=${row//\\|/$'\x01'}	# an escaped '|' inside a cell
		flag=$(cut -d'|' -f2 <<<"$row" | tr -d '`' | tr '\001' '|' | sed 's/^ *//; s/ *$//')
		[[ $flag == -* ]] || { fail "row without a flag: $row"; continue; }
		grep -qF -- "  $flag" <<<"$help" || fail "--help does not show '$flag'"
		n=$((n + 1))
	done < <(tail -n +3 <<<"$table")
	assert_ge "options in the table" 40 "$n"
}
