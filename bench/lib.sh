# SPDX-License-Identifier: MIT
# Shared by the bench scripts (sourced).

# wait_started BENCH PIN_DIR LOG: wait (10 s at most) until quicsteerd has
# pinned its maps, then a moment for its workers; if it never does, show
# its log and exit 1
wait_started() {
	for _ in $(seq 200); do
		if [[ -e $2/qs_worker_stats ]]; then
			sleep 0.3
			return 0
		fi
		sleep 0.05
	done
	echo "$1: quicsteerd did not start:" >&2
	cat "$3" >&2
	exit 1
}

# start_fpm BENCH CHILDREN: a php-fpm pool of its own (pm = static, as
# www-data) on $TMP/php.sock, shared by the servers of a benchmark; sets
# SOCK and fpid (the caller's exit trap stops it); exits 1 if it does not
# start
start_fpm() {
	local fpm
	SOCK=$TMP/php.sock
	fpm=$(ls /usr/sbin/php-fpm* | sort | tail -1)
	cat >"$TMP/fpm.conf" <<EOF
[global]
pid = $TMP/fpm.pid
error_log = $TMP/fpm.log
daemonize = no
[bench]
user = www-data
group = www-data
listen = $SOCK
listen.owner = www-data
listen.group = www-data
listen.mode = 0600
listen.backlog = 511
pm = static
pm.max_children = $2
EOF
	"$fpm" --nodaemonize --fpm-config "$TMP/fpm.conf" &
	fpid=$!
	for _ in $(seq 100); do [[ -S $SOCK ]] && return 0; sleep 0.1; done
	cat "$TMP/fpm.log" >&2
	echo "$1: php-fpm did not start" >&2
	exit 1
}

# proc_ticks PID: CPU ticks (user + system, CLK_TCK a second) of PID and its children
proc_ticks() {
	local p sum=0 t
	for p in "$1" $(pgrep -P "$1" || true); do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
		sum=$((sum + t))
	done
	echo "$sum"
}
