# SPDX-License-Identifier: MIT
# The privilege split: PHP runs as --php-user (quicsteer-php), not as the
# workers' user, so it can neither signal nor read a worker; php-fpm has a
# session of its own and no terminal, the workers stdin on /dev/null and a
# process group of their own; /health sees a
# worker that is stopped or whose event loop no longer runs.

PHP_USER=quicsteer-php

need_privsep() {
	need_root_bpf || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	command -v gtlsclient >/dev/null || { need gtlsclient; return; }
	id -u "$PHP_USER" >/dev/null 2>&1 || { need "user $PHP_USER (scripts/setup.sh)"; return; }
	return 0
}

as_php_user() { setpriv --reuid="$PHP_USER" --regid="$PHP_USER" --clear-groups "$@"; }

# http_get PORT PATH: status line and body of GET PATH on 127.0.0.1:PORT
http_get() {
	timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1
		printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
		cat <&3' _ "$1" "$2" | tr -d '\r' | sed -n '1p; /^$/,$p' | sed '/^$/d'
}

health_is() { [[ $(http_get "$1" /health) == "$2" ]]; } # PORT EXPECTED
health_like() { [[ $(http_get "$1" /health) =~ $2 ]]; } # PORT REGEX

worker_state() { sed 's/.*) //' "/proc/$1/stat" | cut -c1; } # PID

# a PHP script run through the managed pool sees itself as the PHP user,
# and fails to stop or read a worker; so does a shell as that user
test_privsep_php_cannot_touch_workers() {
	local dl wpid body pid out
	need_privsep || return
	make_docroot
	# posix_kill and posix_get_last_error: the posix extension of php-fpm;
	# 19 is SIGSTOP (pcntl, which names it, is not in php-fpm)
	cat >"$QS_DOCROOT/who.php" <<'PHP'
<?php
preg_match('/^Uid:\s+(\d+)/m', file_get_contents("/proc/self/status"), $m);
echo "uid=", $m[1], "\n";
$pid = (int)$_GET["pid"];
echo "kill=", posix_kill($pid, 19) ? "sent" : posix_get_last_error(), "\n";
$f = @fopen("/proc/$pid/mem", "r");
echo "mem=", $f ? "open" : "denied", "\n";
PHP
	chmod a+r "$QS_DOCROOT/who.php"
	dl=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $dl"
	qs_start privphp 1 --fastcgi managed --php-max-children 2
	wpid=$(worker_stat 0 pid)
	defer "kill -CONT $wpid"
	(cd "$dl" && timeout 20 gtlsclient -q --exit-on-all-streams-close --timeout=5s \
		--download="$dl" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/who.php?pid=$wpid") ||
		fail "GET /who.php failed"
	body=$(cat "$dl"/who.php* 2>/dev/null)
	info "PHP says: $(paste -sd' ' <<<"$body")"
	assert_eq "PHP's uid (the PHP user, not www-data $(id -u www-data))" \
		"uid=$(id -u "$PHP_USER")" "$(grep '^uid=' <<<"$body")"
	assert_eq "PHP's SIGSTOP to the worker: EPERM" "kill=1" "$(grep '^kill=' <<<"$body")"
	assert_eq "PHP opens the worker's memory" "mem=denied" "$(grep '^mem=' <<<"$body")"
	[[ $(worker_state "$wpid") != T ]] || fail "PHP stopped the worker"
	# the same as a shell of the PHP user
	out=$(as_php_user kill -STOP "$wpid" 2>&1) && fail "$PHP_USER stopped worker $wpid"
	grep -q "Operation not permitted" <<<"$out" || fail "kill -STOP as $PHP_USER: $out"
	as_php_user dd if="/proc/$wpid/mem" bs=1 count=1 skip=4096 of=/dev/null status=none \
		2>/dev/null && fail "$PHP_USER reads worker $wpid's memory"
	assert_eq "worker NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$wpid/status")"
	# and the pool's children all run as the PHP user
	for pid in $(ps -o pid= --ppid "$(ps -o pid=,comm= --ppid "$QS_PID" |
		awk '$2 ~ /^php-fpm/ {print $1}')"); do
		assert_eq "pool child $pid uid" "$(id -u "$PHP_USER")" \
			"$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
	done
}

# started from a terminal (script(1) gives the loader one, as an operator's
# shell would): php-fpm and its children are in sessions of their own,
# without a controlling terminal, stdin on /dev/null; the workers stay in
# the loader's session (a scheduling group under autogroups) in process
# groups of their own, stdin on /dev/null, under seccomp (no ioctl)
test_privsep_children_have_no_terminal() {
	local port lpid lsid spid p pids master log try
	need_privsep || return
	command -v script >/dev/null || { need "script (util-linux)"; return; }
	make_docroot
	QS_INST=t$$-tty
	QS_PIN=$PIN_ROOT/$QS_INST
	log=$(mktemp /tmp/qs-test-tty.XXXXXX.log)
	defer "rm -f $log"
	defer_instance_cleanup "$QS_INST"
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		: >"$log"
		script -qfec "$QS --foreground --instance $QS_INST --workers 2 --log-file $log \
			--listen 127.0.0.1:$port ${QS_ARGS[*]} --fastcgi managed \
			--php-max-children 2" /dev/null >/dev/null 2>&1 &
		spid=$!
		defer "kill -TERM $spid"
		wait_until 10 bash -c "[[ -s /run/quicsteer/$QS_INST/quicsteerd.pid ]] ||
			grep -q 'already in use' $log" || break
		grep -q "already in use" "$log" || break
		wait_until 10 is_dead "$spid"
	done
	[[ -s /run/quicsteer/$QS_INST/quicsteerd.pid ]] ||
		{ fail "quicsteerd did not start: $(cat "$log")"; return; }
	lpid=$(cat "/run/quicsteer/$QS_INST/quicsteerd.pid")
	defer "qs_kill $lpid"
	wait_until 10 bash -c "[[ \$(ps -o pid= --ppid $lpid | wc -l) -ge 3 ]]" ||
		fail "children: $(ps -o pid=,comm= --ppid "$lpid")"
	lsid=$(ps -o sid= -p "$lpid" | tr -d ' ')
	[[ $(ps -o tty= -p "$lpid") == *pts* ]] ||
		{ fail "the loader has no terminal: the test cannot tell"; return; }
	master=$(ps -o pid=,comm= --ppid "$lpid" | awk '$2 ~ /^php-fpm/ {print $1}')
	[[ -n $master ]] || fail "no php-fpm child of the loader"
	# php-fpm and PHP: sessions of their own, no terminal
	pids="$master $(ps -o pid= --ppid "$master")"
	for p in $pids; do
		[[ $(ps -o sid= -p "$p" | tr -d ' ') != "$lsid" ]] ||
			fail "$(ps -o comm= -p "$p") $p is in the loader's session $lsid"
		assert_eq "$(ps -o comm= -p "$p") $p terminal" "?" "$(ps -o tty= -p "$p" | tr -d ' ')"
		assert_eq "$(ps -o comm= -p "$p") $p stdin" /dev/null "$(readlink "/proc/$p/fd/0")"
	done
	# workers: the loader's session (one scheduling group), their own
	# process group (no signal from the terminal's keys), stdin /dev/null,
	# and no ioctl under their seccomp filter
	for p in $(ps -o pid=,comm= --ppid "$lpid" | awk '$2 !~ /^php-fpm/ {print $1}'); do
		[[ $(ps -o pgid= -p "$p" | tr -d ' ') == "$p" ]] ||
			fail "worker $p is in process group $(ps -o pgid= -p "$p")"
		assert_eq "worker $p stdin" /dev/null "$(readlink "/proc/$p/fd/0")"
		assert_eq "worker $p seccomp" 2 "$(awk '/^Seccomp:/ {print $2}' "/proc/$p/status")"
		pids+=" $p"
	done
	info "loader session $lsid on $(ps -o tty= -p "$lpid"); checked $(wc -w <<<"$pids") children"
	qs_kill "$lpid"
	wait_until 10 is_dead "$spid" || fail "script(1) did not end with the loader"
}

# SIGSTOP of a worker: /health is 503 naming it, 200 again after SIGCONT
test_privsep_health_sees_stopped_worker() {
	local mport wpid
	need_root_bpf || return
	mport=$((20000 + RANDOM % 30000))
	qs_start hstop 2 --metrics "127.0.0.1:$mport"
	wait_until 5 health_is "$mport" "HTTP/1.1 200 OK
ok" || fail "health at start: $(http_get "$mport" /health)"
	wpid=$(worker_stat 1 pid)
	defer "kill -CONT $wpid"
	kill -STOP "$wpid"
	wait_until 5 health_is "$mport" "HTTP/1.1 503 Service Unavailable
worker 0/1 (pid $wpid) is stopped" || fail "health, worker stopped: $(http_get "$mport" /health)"
	kill -CONT "$wpid"
	wait_until 5 health_is "$mport" "HTTP/1.1 200 OK
ok" || fail "health after SIGCONT: $(http_get "$mport" /health)"
	assert_eq "the same worker" "$wpid" "$(worker_stat 1 pid)"
}

# freeze_pid PID: PID into a frozen cgroup of its own (cgroup v2's
# cgroup.freeze, else the v1 freezer), moved back after the test.  A
# frozen task is in state S or D, not T: only the probe can tell.
freeze_pid() {
	local v2 home cg file on off
	v2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
	if [[ -n $v2 && -w $v2 ]]; then
		home=$v2$(sed -n 's/^0:://p' "/proc/$1/cgroup")
		cg=$v2/qs-test-$$ file=cgroup.freeze on=1 off=0
	elif [[ -w /sys/fs/cgroup/freezer ]]; then
		home=/sys/fs/cgroup/freezer$(sed -n 's/^[0-9]*:freezer://p' "/proc/$1/cgroup")
		cg=/sys/fs/cgroup/freezer/qs-test-$$ file=freezer.state on=FROZEN off=THAWED
	else
		return 1
	fi
	mkdir "$cg" 2>/dev/null || return 1
	defer "echo $off >$cg/$file; echo $1 >${home%/}/cgroup.procs; rmdir $cg"
	echo "$1" >"$cg/cgroup.procs" && echo "$on" >"$cg/$file"
	THAW="echo $off >$cg/$file"
}

# a worker whose event loop does not run (frozen): /health is 503 once
# the probe is pending 3 s, 200 again when it runs
test_privsep_health_sees_hung_worker() {
	local mport wpid st
	need_root_bpf || return
	mport=$((20000 + RANDOM % 30000))
	qs_start hhung 2 --metrics "127.0.0.1:$mport"
	wait_until 5 health_is "$mport" "HTTP/1.1 200 OK
ok" || fail "health at start: $(http_get "$mport" /health)"
	wpid=$(worker_stat 0 pid)
	freeze_pid "$wpid" || { unsupported "no writable cgroup freezer (v2 or v1)"; return; }
	st=$(worker_state "$wpid")
	info "frozen worker $wpid is in state $st"
	[[ $st != T && $st != t ]] || fail "a frozen worker in state $st: the state check would do"
	wait_until 15 health_like "$mport" "^HTTP/1.1 503 Service Unavailable
worker 0/0 \\(pid $wpid\\) has not answered for [0-9]+ s$" ||
		fail "health, worker frozen: $(http_get "$mport" /health)"
	eval "$THAW"
	wait_until 5 health_is "$mport" "HTTP/1.1 200 OK
ok" || fail "health after the thaw: $(http_get "$mport" /health)"
}

# a --php-user that is root or the workers' user, or that does not exist,
# is refused with the fix; with an existing pool the option does not apply
test_privsep_php_user_refused() {
	local out status u
	need_privsep || return
	make_docroot
	for u in www-data root no-such-user-qs; do
		status=0
		out=$(timeout 10 "$QS" --foreground --instance "t$$-phpuser" --workers 1 \
			--listen "127.0.0.1:$((20000 + RANDOM % 30000))" "${QS_ARGS[@]}" \
			--fastcgi managed --php-user "$u" 2>&1) || status=$?
		defer_instance_cleanup "t$$-phpuser"
		assert_eq "exit status with --php-user $u" 1 "$status"
		case $u in
		www-data) want="--php-user 'www-data' (uid $(id -u www-data)) is the workers' user" ;;
		root) want="--php-user 'root' (uid 0) is root: give the pool a user of its own" ;;
		*) want="user '$u' for the php-fpm pool (--php-user) does not exist" ;;
		esac
		grep -qF -- "$want" <<<"$out" || fail "--php-user $u: $out"
	done
	qs_start phpext 1 --fastcgi unix:/nonexistent/php.sock --php-user www-data
}
