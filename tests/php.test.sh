# SPDX-License-Identifier: MIT
# The php-fpm pool the loader manages (--fastcgi managed): real php-fpm,
# started as the loader's child, its pool as www-data on a socket only
# www-data can open, restarted when killed, gone after SIGTERM.

phpfpm_master() { # the php-fpm child of quicsteerd
	ps -o pid=,comm= --ppid "$QS_PID" | awk '$2 ~ /^php-fpm/ {print $1}'
}

need_phpfpm() {
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	return 0
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
	wait_until 5 bash -c "[[ \$(ps -o user= --ppid $master | grep -c www-data) == 3 ]]" ||
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
