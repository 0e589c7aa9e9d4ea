# SPDX-License-Identifier: MIT
# The loader's control plane: quicsteerctl over the control socket (status,
# reload, reload-keys, reopen-logs), the socket's limits against hostile
# clients, systemd readiness through NOTIFY_SOCKET, SIGUSR1 = reopen logs.

PY=/usr/bin/python3

ctl_need() {
	need_root_bpf || return
	[[ -x $PY ]] || { need "python3"; return; }
	CT=$(mktemp -d /tmp/qs-test-ctl.XXXXXX)
	chmod 755 "$CT"
	defer "rm -rf $CT"
	return 0
}

ctl() { "$ROOT/quicsteerctl" -i "$QS_INST" "$@"; }

# https_get PORT PATH [CURL_ARGS]: the status code of GET over TCP (TLS;
# HTTP/1.1 unless CURL_ARGS say --http2)
https_get() {
	curl -sk --http1.1 --max-time 5 -o /dev/null -w '%{http_code}' "${@:3}" "https://127.0.0.1:$1$2"
}

# mport: a free-looking port for --metrics
pick_port() { echo $((20000 + RANDOM % 30000)); }

metrics() { timeout 5 curl -s "http://127.0.0.1:$1/metrics"; }

test_ctl_status_text_and_json() {
	local mport out json pids
	ctl_need || return
	command -v gtlsclient >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	mport=$(pick_port)
	qs_start ctlst 2 --fastcgi managed --php-max-children 2 --metrics "127.0.0.1:$mport"
	assert_eq "GET over HTTP/1.1" 200 "$(https_get "$QS_PORT" /index.html)"
	assert_eq "GET over HTTP/2" 200 "$(https_get "$QS_PORT" /index.html --http2)"
	timeout 10 gtlsclient -q --exit-on-all-streams-close --timeout=5s 127.0.0.1 "$QS_PORT" \
		"https://127.0.0.1:$QS_PORT/index.html" >/dev/null 2>&1 || fail "GET over HTTP/3"
	out=$(ctl status) || fail "status: $out"
	grep -q "^instance: *$QS_INST (quicsteerd $(cat "$ROOT/VERSION"), pid $QS_PID)$" <<<"$out" ||
		fail "instance line: $out"
	grep -q "^listener: *udp 127.0.0.1:$QS_PORT (HTTP/3), tcp 127.0.0.1:$QS_PORT " <<<"$out" ||
		fail "listener line: $out"
	grep -q "^php-fpm: *managed, up (pid [1-9][0-9]*, 0 restarts)$" <<<"$out" ||
		fail "php-fpm line: $out"
	grep -q "^last reload: none$" <<<"$out" || fail "reload line: $out"
	grep -Eq "^  key [0-9a-f]{16} encrypt$" <<<"$out" || fail "ticket key line: $out"
	# every worker of the stats map, by pid, serving
	for p in $(worker_stats_json | jq -r '.[].value.pid'); do
		grep -Eq "^0 +current +[01] +$p +serving +[0-9]+ +0$" <<<"$out" ||
			fail "worker $p not listed as serving: $out"
	done
	json=$(ctl status --json) || fail "status --json: $json"
	jq -e . >/dev/null <<<"$json" || fail "not JSON: $json"
	$PY -c 'import json, sys; json.loads(sys.stdin.read())' <<<"$json" || fail "python: not JSON"
	assert_eq "instance" "$QS_INST" "$(jq -r .instance <<<"$json")"
	assert_eq "pid" "$QS_PID" "$(jq .pid <<<"$json")"
	assert_eq "listeners" "udp 127.0.0.1:$QS_PORT tcp 127.0.0.1:$QS_PORT" \
		"$(jq -r '[.listeners[] | "\(.protocol) \(.address)"] | join(" ")' <<<"$json")"
	pids=$(worker_stats_json | jq -r '[.[].value.pid] | sort | join(" ")')
	assert_eq "workers of generation 0" "$pids" \
		"$(jq -r '[.generations[0].workers[].pid] | sort | join(" ")' <<<"$json")"
	assert_eq "their states" "serving serving" \
		"$(jq -r '[.generations[0].workers[].state] | join(" ")' <<<"$json")"
	assert_eq "generation role" current "$(jq -r '.generations[0].role' <<<"$json")"
	assert_eq "new_flow = the BPF counter" "$(steer_stat new_flow)" \
		"$(jq .steering_counters.new_flow <<<"$json")"
	assert_eq "php-fpm" "managed up" "$(jq -r '.php_fpm | "\(.mode) \(.state)"' <<<"$json")"
	assert_eq "one encrypt key" "encrypt" "$(jq -r '[.tickets.keys[].role] | join(" ")' <<<"$json")"
	jq -e '.tickets.keys[0] | keys == ["name_hash", "not_after", "role"]' >/dev/null <<<"$json" ||
		fail "a ticket key shows more than its name hash, role and end: $json"
	assert_eq "no reload yet" "null 0 0" "$(jq -r '.reload | "\(.last) \(.ok) \(.failed)"' <<<"$json")"
	# /metrics: the reload counters and the requests per protocol
	out=$(metrics "$mport")
	grep -q '^quicsteer_reloads_total{result="ok"} 0$' <<<"$out" || fail "reloads_total"
	grep -q '^quicsteer_last_reload_success 1$' <<<"$out" || fail "last_reload_success"
	assert_eq "HTTP/1.1 requests" 1 "$(awk '/^quicsteer_worker_req_h1_total/ {s += $2} END {print s}' <<<"$out")"
	assert_eq "HTTP/3 requests" 1 "$(awk '/^quicsteer_worker_req_h3_total/ {s += $2} END {print s}' <<<"$out")"
	assert_eq "HTTP/2 requests" 1 "$(awk '/^quicsteer_worker_req_h2_total/ {s += $2} END {print s}' <<<"$out")"
	# commands it does not know, and arguments
	out=$(ctl frobnicate 2>&1) && fail "an unknown command succeeded"
	grep -q "unknown command 'frobnicate'" <<<"$out" || fail "unknown command: $out"
	out=$(ctl status --yaml 2>&1) && fail "status --yaml succeeded"
	grep -q "takes no argument '--yaml'" <<<"$out" || fail "bad argument: $out"
	return 0
}

test_ctl_not_running_exits_1() {
	local out inst=t$$-ctlgone
	ctl_need || return
	defer_instance_cleanup "$inst"
	out=$("$ROOT/quicsteerctl" -i "$inst" status 2>&1) && fail "status of no instance: exit 0"
	grep -q "instance '$inst' is not running (/run/quicsteer/$inst/quicsteerd.pid: No such file" <<<"$out" ||
		fail "no instance: $out"
	# a pid file left by a crash: its pid is gone, or someone else's now
	mkdir -p "/run/quicsteer/$inst"
	echo 999999999 >"/run/quicsteer/$inst/quicsteerd.pid"
	out=$("$ROOT/quicsteerctl" -i "$inst" reload 2>&1) && fail "reload with a stale pid file: exit 0"
	grep -q "is not running (stale pid file .*pid 999999999 is not quicsteerd)" <<<"$out" ||
		fail "stale pid file: $out"
	echo $$ >"/run/quicsteer/$inst/quicsteerd.pid"
	out=$("$ROOT/quicsteerctl" -i "$inst" status --json 2>&1) && fail "pid of bash: exit 0"
	grep -q "is not running (stale pid file" <<<"$out" || fail "pid of bash: $out"
	return 0
}

# A reload that cannot take its certificate, or cannot open its docroot,
# changes nothing: the running generation serves, status and /metrics say
# what went wrong; the next good reload clears it.  The certificate's name
# has a quote and a backslash: the JSON must stay JSON.
test_ctl_reload_error_keeps_serving_and_status_shows_it() {
	local mport out json c
	ctl_need || return
	c=$CT/'c"b\x.pem'
	cp "$CERT" "$c"
	cp "$KEY" "$CT/k.pem"
	mport=$(pick_port)
	qs_start ctlrl 2 --cert "$c" --key "$CT/k.pem" --metrics "127.0.0.1:$mport" \
		--drain-timeout 1
	echo "not a certificate" >"$c"
	out=$(ctl reload 2>&1) && fail "reload with a broken certificate: exit 0: $out"
	[[ $out == "refused: the certificate $c or key $CT/k.pem is unusable"* ]] ||
		fail "reload said: $out"
	assert_eq "served by generation 0" 200 "$(https_get "$QS_PORT" /index.html)"
	out=$(ctl status)
	grep -qF "refused: the certificate $c or key" <<<"$(grep -E "^last reload: [0-9T:-]+Z refused: " <<<"$out")" ||
		fail "status does not show the error: $out"
	grep -q "^reloads: *0 ok, 1 failed$" <<<"$out" || fail "reload counts: $out"
	json=$(ctl status --json)
	assert_eq "last reload" "failed 0" "$(jq -r '"\(.reload.last.result) \(.generation)"' <<<"$json")"
	[[ $(jq -r .reload.last.message <<<"$json") == "refused: the certificate $c or key"* ]] ||
		fail "JSON message: $json"
	out=$(metrics "$mport")
	grep -q '^quicsteer_reloads_total{result="failed"} 1$' <<<"$out" || fail "failed count"
	grep -q '^quicsteer_last_reload_success 0$' <<<"$out" || fail "last_reload_success"
	# a docroot that is gone
	cp "$CERT" "$c"
	mv "$QS_DOCROOT" "$QS_DOCROOT.away"
	defer "rm -rf $QS_DOCROOT.away"
	out=$(ctl reload 2>&1) && fail "reload without a docroot: exit 0: $out"
	mv "$QS_DOCROOT.away" "$QS_DOCROOT"
	grep -q "^refused: the docroot $QS_DOCROOT: No such file or directory; generation 0 keeps serving" <<<"$out" ||
		fail "reload said: $out"
	assert_eq "still served by generation 0" 200 "$(https_get "$QS_PORT" /index.html)"
	# and now a good one: generation 1, the error gone from status
	out=$(ctl reload 2>&1) || fail "reload: $out"
	grep -q "^ok: generation 1 (2 workers) takes new connections" <<<"$out" || fail "reload: $out"
	json=$(ctl status --json)
	assert_eq "after a good reload" "ok 1 1 2" \
		"$(jq -r '"\(.reload.last.result) \(.generation) \(.reload.ok) \(.reload.failed)"' <<<"$json")"
	assert_eq "generation 1's workers serve" "serving serving" \
		"$(jq -r '[.generations[] | select(.generation == 1) | .workers[].state] | join(" ")' <<<"$json")"
	assert_eq "served by generation 1" 200 "$(https_get "$QS_PORT" /index.html)"
	grep -q '^quicsteer_last_reload_success 1$' <<<"$(metrics "$mport")" || fail "success after"
	# SIGHUP still reloads (for scripts); its outcome shows in status too
	wait_until 15 bash -c "[[ \$($ROOT/quicsteerctl -i $QS_INST status --json | jq '.generations | length') == 1 ]]" ||
		fail "generation 0 did not drain"
	kill -HUP "$QS_PID"
	wait_until 10 bash -c "[[ \$($ROOT/quicsteerctl -i $QS_INST status --json | jq .generation) == 2 ]]" ||
		fail "SIGHUP: $(ctl status)"
}

# A reload whose workers never come to serve (strace makes every new
# worker's epoll_create1 fail, so each exits and is restarted) is undone
# after 20 s: the steering never switched, generation 0 serves on with the
# same worker, generation 1's workers and sockets go.
test_ctl_reload_whose_workers_never_serve_is_undone() {
	local out old spid json
	ctl_need || return
	command -v strace >/dev/null || { need strace; return; }
	qs_start ctlundo 1 --drain-timeout 1
	old=$(worker_stat 0 pid)
	strace -f -o /dev/null -p "$QS_PID" -e trace=epoll_create1 \
		-e inject=epoll_create1:error=EMFILE 2>"$CT/strace.err" &
	spid=$!
	defer "kill $spid 2>/dev/null; wait $spid 2>/dev/null"
	wait_until 5 grep -q "attached" "$CT/strace.err" || fail "strace: $(cat "$CT/strace.err")"
	out=$(ctl reload 2>&1) && fail "a reload whose workers never served succeeded: $out"
	assert_eq "answer" "failed: the workers of generation 1 did not all serve within 20 s (see the log); generation 0 keeps serving" "$out"
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	grep -q "worker 1/0.*cannot set up the event loop" "$QS_LOG" || fail "no worker error: $(tail -5 "$QS_LOG")"
	assert_eq "generation 0's worker" "$old" "$(worker_stat 0 pid)"
	assert_eq "served by it" 200 "$(https_get "$QS_PORT" /index.html)"
	assert_eq "handled by generation 0" 1 "$(worker_stat 0 req_h1)"
	wait_until 10 bash -c "[[ \$($ROOT/quicsteerctl -i $QS_INST status --json | jq '.generations | length') == 1 ]]" ||
		fail "generation 1 still there: $(ctl status)"
	json=$(ctl status --json)
	assert_eq "status" "0 failed" "$(jq -r '"\(.generation) \(.reload.last.result)"' <<<"$json")"
	assert_eq "socket slots left" "0" \
		"$(bpftool -j map dump pinned "$QS_PIN/qs_socks" | jq -r '[.[] | .formatted | select(.value != null) | .key] | join(" ")')"
	out=$(ctl reload 2>&1) || fail "the next reload: $out"
	assert_eq "served by generation 1" 200 "$(https_get "$QS_PORT" /index.html)"
}

# hostile.py PATH MODE: clients of the control socket that misbehave
ctl_hostile_py() {
	cat >"$CT/hostile.py" <<'PY'
import socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
def answer(s, limit=15):
    s.settimeout(limit)
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            return out.decode(errors="replace")
        out += d
if mode == "idle":        # hold N connections, say nothing; report when each is closed
    n = int(sys.argv[3])
    socks = [conn() for _ in range(n)]
    open(sys.argv[4], "w").write("connected\n")
    t0 = time.time()
    for s in socks:
        answer(s, 30)
    print("closed after %.1f s" % (time.time() - t0))
elif mode == "long":      # a line that never ends
    s = conn()
    s.sendall(b"status" * 100)
    print(answer(s).replace("\n", "|"))
elif mode == "slow":      # a command, one byte every 0.5 s
    s = conn()
    t0 = time.time()
    try:
        for b in b"status\n":
            s.sendall(bytes([b]))
            time.sleep(0.5)
        print("sent: " + answer(s).replace("\n", "|")[:40])
    except OSError as e:
        print("closed after %.1f s" % (time.time() - t0))
elif mode == "one":       # one command, the answer
    s = conn()
    try:
        s.sendall(sys.argv[3].encode() + b"\n")
    except OSError:       # refused and closed already: the answer waits
        pass
    print(answer(s).replace("\n", "|"))
PY
}

test_ctl_hostile_clients_do_not_stall_the_loader() {
	local mport out ipid cpid sock
	ctl_need || return
	mport=$(pick_port)
	qs_start ctlhost 2 --metrics "127.0.0.1:$mport"
	sock=/run/quicsteer/$QS_INST/control
	assert_eq "socket mode and owner" "srw------- root" "$(stat -c '%A %U' "$sock")"
	ctl_hostile_py
	# eight idle clients take every connection: a ninth waits in the
	# backlog, the loader serves on (HTTP, /metrics) and cuts the idle ones
	# off after 2 s; then the ninth gets its answer
	$PY "$CT/hostile.py" "$sock" idle 8 "$CT/idle.up" >"$CT/idle.out" 2>&1 &
	ipid=$!
	defer "kill $ipid 2>/dev/null"
	wait_until 5 test -e "$CT/idle.up" || fail "idle clients did not connect"
	ctl status >"$CT/ninth.out" 2>&1 &
	cpid=$!
	assert_eq "HTTP meanwhile" 200 "$(https_get "$QS_PORT" /index.html)"
	grep -q "^quicsteer_generation 0$" <<<"$(metrics "$mport")" || fail "/metrics meanwhile"
	wait "$ipid" || fail "idle clients: $(cat "$CT/idle.out")"
	grep -Eq "^closed after [0-9.]+ s$" "$CT/idle.out" || fail "idle: $(cat "$CT/idle.out")"
	awk '{exit !($3 >= 1.5 && $3 < 10)}' "$CT/idle.out" ||
		fail "idle clients closed after $(cat "$CT/idle.out"), expected about 2 s"
	wait "$cpid" || fail "the ninth client: $(cat "$CT/ninth.out")"
	grep -q "^instance: *$QS_INST " "$CT/ninth.out" || fail "the ninth client: $(cat "$CT/ninth.out")"
	# a request longer than a command line: an error, then closed
	out=$($PY "$CT/hostile.py" "$sock" long)
	assert_eq "long request" "ERR|request longer than the 255 bytes of a command line|" "$out"
	# a client too slow to send its line is cut off
	out=$($PY "$CT/hostile.py" "$sock" slow)
	[[ $out == "closed after"* ]] || fail "slow client: $out"
	# not root: the socket's mode refuses; with a laxer mode the peer check does
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$ROOT/quicsteerctl" \
		-i "$QS_INST" status 2>&1) && fail "nobody was served: $out"
	grep -q "Permission denied: the control socket is root's only" <<<"$out" ||
		fail "nobody: $out"
	chmod 666 "$sock"
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups $PY "$CT/hostile.py" "$sock" one status)
	assert_eq "nobody through a 0666 socket" \
		"ERR|permission denied: the control socket serves root only (uid $(id -u nobody))|" "$out"
	grep -q "control: refused a client of uid $(id -u nobody)" "$QS_LOG" || fail "not logged"
	out=$($PY "$CT/hostile.py" "$sock" one status)
	[[ $out == "OK|instance:"* ]] || fail "root after all that: $out"
	# every worker of generation 0 still the first one
	assert_eq "worker starts" "1 1" "$(worker_stats_json | jq -r '[.[].value.starts] | join(" ")')"
}

# notify.py SOCK PORT LOG: a NOTIFY_SOCKET listener.  Each message goes to
# LOG as one line (newlines as '|'); on READY=1 it first records how many
# children of the sender run their seccomp filter (a worker enters it just
# before its event loop), then a GET over TCP to PORT.
ctl_notify_py() {
	cat >"$CT/notify.py" <<'PY'
import os, socket, ssl, struct, sys
path, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
out = open(log, "a", buffering=1)
out.write("listening\n")
def sandboxed(pid):
    n = 0
    try:
        kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
    except OSError:
        return "?"
    for k in kids:
        try:
            for line in open("/proc/%s/status" % k):
                if line.startswith("Seccomp:") and line.split()[1] == "2":
                    n += 1
        except OSError:
            pass
    return "%d/%d" % (n, len(kids))
def get():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            with ctx.wrap_socket(c) as t:
                t.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return t.recv(64).split(b"\r\n")[0].decode()
    except OSError as e:
        return "error " + str(e)
first_ready = True
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = 0
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    text = msg.decode().replace("\n", "|")
    if "READY=1" in text.split("|") and first_ready:
        first_ready = False
        text += " [sandboxed %s] [GET %s]" % (sandboxed(pid), get())
    out.write(text + "\n")
PY
}

# ctl_notify_start: a docroot, a port for the server ($port) and the
# listener on $CT/notify.sock writing $log
ctl_notify_start() {
	local npid
	make_docroot
	ctl_notify_py
	port=$(pick_port)
	log=$CT/notify.log
	$PY "$CT/notify.py" "$CT/notify.sock" "$port" "$log" &
	npid=$!
	defer "kill $npid 2>/dev/null"
	wait_until 5 grep -qs listening "$log" || fail "the listener did not start"
}

test_ctl_notify_socket_readiness() {
	local port out inst=t$$-ctlnfy log
	ctl_need || return
	ctl_notify_start || return
	QS_INST=$inst QS_PIN=$PIN_ROOT/$inst QS_LOG=$CT/qs.log
	defer_instance_cleanup "$inst"
	NOTIFY_SOCKET=$CT/notify.sock "$QS" --foreground --instance "$inst" --workers 2 \
		--listen "127.0.0.1:$port" --log-file "$QS_LOG" "${QS_ARGS[@]}" &
	QS_PID=$!
	defer "qs_kill $QS_PID"
	wait_until 20 grep -q "READY=1" "$log" || fail "no READY=1: $(cat "$log"; tail -5 "$QS_LOG")"
	out=$(grep -m1 "READY=1" "$log")
	[[ $out == *"[sandboxed 2/2] [GET HTTP/1.1 200 OK]" ]] ||
		fail "READY=1 before every worker served: $out"
	grep -q "^STATUS=generation 0: 2/2 workers serving, 0 connections$" "$log" ||
		fail "no STATUS before READY: $(cat "$log")"
	# a reload: RELOADING=1 with its MONOTONIC_USEC, then READY=1
	: >"$log"
	out=$(ctl reload 2>&1) || fail "reload: $out"
	wait_until 5 grep -q "READY=1" "$log" || fail "no READY=1 after the reload: $(cat "$log")"
	grep -Eq "^RELOADING=1\|MONOTONIC_USEC=[0-9]+$" "$log" || fail "RELOADING: $(cat "$log")"
	assert_eq "order" "RELOADING READY" \
		"$(grep -Eo '^(RELOADING|READY)' "$log" | tr '\n' ' ' | sed 's/ $//')"
	wait_until 5 grep -q "^STATUS=generation 1: 2/2 workers serving" "$log" ||
		fail "STATUS after the reload: $(cat "$log")"
	# a refused one (no docroot): READY=1 all the same, STATUS says why
	wait_until 15 bash -c "[[ \$($ROOT/quicsteerctl -i $inst status --json | jq '.generations | length') == 1 ]]" ||
		fail "generation 0 did not drain"
	: >"$log"
	mv "$QS_DOCROOT" "$QS_DOCROOT.away"
	out=$(ctl reload 2>&1) && fail "a reload without a docroot succeeded: $out"
	mv "$QS_DOCROOT.away" "$QS_DOCROOT"
	wait_until 5 grep -q "READY=1" "$log" || fail "no READY=1 after a refusal: $(cat "$log")"
	grep -Eq "^RELOADING=1\|MONOTONIC_USEC=[0-9]+$" "$log" || fail "RELOADING: $(cat "$log")"
	grep -q "^STATUS=reload refused: the docroot $QS_DOCROOT" "$log" ||
		fail "STATUS of the refusal: $(cat "$log")"
	# SIGTERM: STOPPING=1
	kill -TERM "$QS_PID"
	wait_until 10 grep -q "^STOPPING=1$" "$log" || fail "no STOPPING=1: $(cat "$log")"
	wait_until 10 is_dead "$QS_PID" || fail "the loader did not stop"
	[[ ! -e /run/quicsteer/$inst ]] || fail "runtime directory left: $(ls "/run/quicsteer/$inst")"
}

# SIGUSR1 and reopen-logs: after logrotate moved the log, the loader writes
# to a new file; the workers, which get SIGUSR1 too, live on.
test_ctl_reopen_logs_and_sigusr1() {
	local out starts
	ctl_need || return
	qs_start ctllog 2
	starts=$(worker_stats_json | jq -r '[.[].value.starts] | join(" ")')
	mv "$QS_LOG" "$QS_LOG.1"
	defer "rm -f $QS_LOG.1"
	out=$(ctl reopen-logs) || fail "reopen-logs: $out"
	assert_eq "answer" "ok: log file $QS_LOG reopened; 2 workers told to reopen theirs" "$out"
	wait_until 5 grep -q "log file $QS_LOG reopened" "$QS_LOG" || fail "no new log file"
	mv "$QS_LOG" "$QS_LOG.1"
	kill -USR1 "$QS_PID"
	wait_until 5 grep -q "log file $QS_LOG reopened" "$QS_LOG" ||
		fail "SIGUSR1 did not reopen the log"
	kill -USR1 $(worker_stats_json | jq -r '.[].value.pid')
	assert_eq "HTTP after SIGUSR1" 200 "$(https_get "$QS_PORT" /index.html)"
	assert_eq "worker starts (none died of SIGUSR1)" "$starts" \
		"$(worker_stats_json | jq -r '[.[].value.starts] | join(" ")')"
	assert_eq "workers running" 2 "$(workers_running)"
	grep -q "killed by signal" "$QS_LOG" "$QS_LOG.1" && fail "a worker died: $(grep 'killed by' "$QS_LOG"*)"
	return 0
}

# Daemonized, the loader is not the process systemd started: its READY=1
# names it (MAINPID=, the pid file's pid).
test_ctl_notify_daemon_sends_mainpid() {
	local port inst=t$$-ctlnfd log out pid
	ctl_need || return
	ctl_notify_start || return
	defer_instance_cleanup "$inst"
	defer 'p=$(cat /run/quicsteer/'"$inst"'/quicsteerd.pid 2>/dev/null) && qs_kill $p'
	out=$(NOTIFY_SOCKET=$CT/notify.sock "$QS" --instance "$inst" --workers 1 \
		--listen "127.0.0.1:$port" --log-file "$CT/qs.log" "${QS_ARGS[@]}") ||
		fail "the daemon did not start: $out"
	pid=$(cat "/run/quicsteer/$inst/quicsteerd.pid")
	wait_until 5 grep -q "READY=1" "$log" || fail "no READY=1: $(cat "$log")"
	grep -q "^READY=1|MAINPID=$pid \[sandboxed 1/1\] \[GET HTTP/1.1 200 OK\]$" "$log" ||
		fail "READY=1 of the daemon (pid $pid): $(cat "$log")"
	qs_kill "$pid"
	wait_until 5 grep -q "^STOPPING=1$" "$log" || fail "no STOPPING=1: $(cat "$log")"
}

# status and --json show the last binary upgrade's outcome, as the last
# reload's: none, then ok, then a refused one with its reason, then one the
# new binary could not adopt (the resumed binary reads what it wrote).
test_ctl_status_shows_last_upgrade() {
	local out json
	ctl_need || return
	export QUICSTEER_UPGRADE_BINARY=$CT/next
	ln -sf "$QS" "$CT/next"
	qs_start ctlup 1
	out=$(ctl status) || fail "status: $out" || return
	grep -q "^last upgrade: none$" <<<"$out" || fail "before any: $(grep upgrade <<<"$out")"
	assert_eq "json before any" "0 null" "$(ctl status --json | jq -r '.upgrade | "\(.ok) \(.last)"')"
	out=$(ctl upgrade) || fail "upgrade: $out" || return
	out=$(ctl status) || fail "status: $out" || return
	grep -Eq "^last upgrade: [0-9T:-]+Z ok: the loader \(pid $QS_PID\) runs version .*; generation 1 " \
		<<<"$out" || fail "after an upgrade: $(grep upgrade <<<"$out")" || return
	grep -q "^upgrades: *1 ok$" <<<"$out" || fail "count: $(grep upgrades: <<<"$out")"
	json=$(ctl status --json)
	assert_eq "json after an upgrade" "1 ok" "$(jq -r '.upgrade | "\(.ok) \(.last.result)"' <<<"$json")"
	# refused: a binary that fails its check
	wait_until 40 bash -c "! '$ROOT/quicsteerctl' -i '$QS_INST' status | grep ' draining ' >/dev/null" ||
		fail "generation 0 does not drain" || return
	printf '#!/bin/sh\nexit 1\n' >"$CT/false.sh"
	chmod +x "$CT/false.sh"
	ln -sf "$CT/false.sh" "$CT/next"
	ctl upgrade >/dev/null 2>&1 && fail "a failing binary upgraded"
	out=$(ctl status) || fail "status: $out" || return
	grep -Eq "^last upgrade: [0-9T:-]+Z failed: the new binary $CT/next failed its check \(--check-config\), status 1" \
		<<<"$out" || fail "after a refused upgrade: $(grep upgrade <<<"$out")" || return
	json=$(ctl status --json)
	assert_eq "json after a refused one" "1 failed" "$(jq -r '.upgrade | "\(.ok) \(.last.result)"' <<<"$json")"
	jq -r .upgrade.last.message <<<"$json" | grep -q "^failed: the new binary $CT/next failed its check" ||
		fail "json message: $(jq -c .upgrade <<<"$json")"
	# passes its check, cannot adopt: the previous binary resumes and tells
	printf '#!/bin/sh\ncase " $* " in *" --check-config "*) exec %s "$@";; esac\nQUICSTEER_TEST_FAIL_ADOPT=1 exec %s "$@"\n' \
		"$QS" "$QS" >"$CT/noadopt.sh"
	chmod +x "$CT/noadopt.sh"
	ln -sf "$CT/noadopt.sh" "$CT/next"
	ctl upgrade >/dev/null 2>&1 && fail "a binary that cannot adopt upgraded"
	wait_until 15 grep -q "this binary resumed generation" "$QS_LOG" || fail "no resume" || return
	wait_until 5 bash -c "'$ROOT/quicsteerctl' -i '$QS_INST' status >/dev/null 2>&1"
	out=$(ctl status) || fail "status: $out" || return
	grep -q "^last upgrade: [0-9T:-]*Z failed: the new binary could not adopt the running instance: QUICSTEER_TEST_FAIL_ADOPT" \
		<<<"$out" || fail "after a resume: $(grep upgrade <<<"$out")"
}
