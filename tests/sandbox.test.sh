# SPDX-License-Identifier: MIT
# The workers' seccomp allow-list (user/worker/sandbox.c): in force by
# default, off with --seccomp off, and enforced: a call outside the list,
# injected into a running worker with gdb (root may ptrace a non-dumpable
# process), is not executed; the worker names it in the log and dies, the
# loader says why and starts a new one.

status_field() { # PID FIELD: a field of /proc/PID/status
	awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

get_ok() { # PATH: a GET answered 200
	timeout 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT$1" 2>&1 |
		gtls_statuses | grep -qx 200
}

inject() { # PID CALL: make the worker call CALL (a C expression) through gdb
	timeout 30 gdb -p "$1" -batch -ex "call $2" 2>&1 || true
}

# killed_for CALL OLD_PID: the worker named CALL, died, and the loader said why
killed_for() {
	wait_until 10 is_dead "$2" || fail "worker $2 still runs"
	wait_until 10 grep -q "worker 0/0\[$2\] warn: seccomp: system call $1 ([0-9]*) is not in the worker's allow-list" "$QS_LOG" ||
		fail "the call is not named: $(cat "$QS_LOG")"
	wait_until 10 grep -q "worker 0/0 (pid $2) killed by its seccomp filter" "$QS_LOG" ||
		fail "the loader does not say why: $(cat "$QS_LOG")"
}

test_sandbox_workers_run_under_seccomp() {
	local pid w
	need_root_bpf || return
	command -v gtlsclient >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	qs_start sandbox 2
	for w in 0 1; do
		pid=$(worker_stat $w pid)
		assert_eq "worker $w NoNewPrivs" 1 "$(status_field "$pid" NoNewPrivs)"
		assert_eq "worker $w Seccomp (2: filter)" 2 "$(status_field "$pid" Seccomp)"
		assert_eq "worker $w Seccomp_filters" 1 "$(status_field "$pid" Seccomp_filters)"
	done
	# the loader itself runs unfiltered: it forks, loads BPF, reloads
	assert_eq "loader Seccomp" 0 "$(status_field "$QS_PID" Seccomp)"
	get_ok /index.html || fail "GET under the filter"
}

test_sandbox_off_runs_workers_unfiltered() {
	local pid
	need_root_bpf || return
	qs_start nosandbox 1 --seccomp off
	pid=$(worker_stat 0 pid)
	assert_eq "NoNewPrivs" 1 "$(status_field "$pid" NoNewPrivs)"
	assert_eq "Seccomp" 0 "$(status_field "$pid" Seccomp)"
}

test_sandbox_refused_call_is_named_and_worker_restarted() {
	local pid new out
	need_root_bpf || return
	command -v gdb >/dev/null || { need "gdb"; return; }
	command -v gtlsclient >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	qs_start sandboxkill 1
	pid=$(worker_stat 0 pid)
	# what an attacker who took over a worker would try first: run a program.
	# Without the filter the worker would become /bin/true and exit 0.
	out=$(inject "$pid" '(int)execve("/bin/true", 0, 0)')
	killed_for execve "$pid" || { echo "$out"; return 1; }
	# a new worker, filtered too, serves on the same socket
	wait_until 10 bash -c "p=\$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats key 0 0 0 0 |
		jq .formatted.value.pid); [[ \$p != $pid && \$p != 0 ]]" || fail "not restarted"
	new=$(worker_stat 0 pid)
	assert_eq "the new worker's Seccomp" 2 "$(status_field "$new" Seccomp)"
	assert_eq "starts" 2 "$(worker_stat 0 starts)"
	get_ok /index.html || fail "GET after the restart"
}

# socket() is allowed for the FastCGI pool's family only: a unix-socket pool
# gets AF_UNIX stream sockets, not AF_INET ones; static files only get none
test_sandbox_sockets_only_of_the_pools_family() {
	local pid out
	need_root_bpf || return
	command -v gdb >/dev/null || { need "gdb"; return; }
	qs_start sandboxsock 1 --fastcgi unix:/nonexistent/php.sock
	pid=$(worker_stat 0 pid)
	out=$(inject "$pid" '(int)socket(1, 0x80801, 0)')	# AF_UNIX, SOCK_STREAM|NONBLOCK|CLOEXEC
	grep -Eq '^\$1 = [0-9]+$' <<<"$out" || fail "AF_UNIX socket refused: $out"
	kill -0 "$pid" || fail "the worker died of an allowed socket()"
	out=$(inject "$pid" '(int)socket(1, 2, 0)')		# AF_UNIX, SOCK_DGRAM
	killed_for socket "$pid" || { echo "$out"; return 1; }
	qs_kill "$QS_PID"

	qs_start sandboxnosock 1
	pid=$(worker_stat 0 pid)
	out=$(inject "$pid" '(int)socket(2, 1, 0)')		# AF_INET, SOCK_STREAM
	killed_for socket "$pid" || { echo "$out"; return 1; }
}
