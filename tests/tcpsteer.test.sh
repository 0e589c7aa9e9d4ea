# SPDX-License-Identifier: MIT
# TCP steering: the TCP group's program gives new connections to the current
# generation only, and hands what a stopping listener still holds to a live
# one (SELECT_OR_MIGRATE), so reloads under TCP load lose no connection.

ts_need() {
	need_root_bpf || return
	[[ -x /usr/bin/python3 ]] || { need python3; return; }
	TS=$(mktemp -d /tmp/qs-test-ts.XXXXXX)
	defer "rm -rf $TS"
	return 0
}

ts_churn() { # ARGS...: the churn client (tests/tools/tcp_churn.py)
	${QS_NETNS:+nsenter --net=/run/netns/$QS_NETNS} \
		/usr/bin/python3 "$ROOT/tests/tools/tcp_churn.py" "$@"
}

ts_gen_running() { # GEN: its workers with a live process
	worker_stats_json | jq "[.[] | select(.key / 64 | floor == $1) | select(.value.pid > 0)] | length"
}
ts_gen_gone() { [[ $(ts_gen_running "$1") == 0 ]]; }
ts_tcp_stat() { # FIELD: the TCP program's counter, summed over CPUs
	bpftool -j map dump pinned "$QS_PIN/qs_tcp_steer_stats" |
		jq "[.[0].formatted.values[].value.$1] | add"
}
ts_tcp_slots() {
	bpftool -j map dump pinned "$QS_PIN/qs_tcp_socks" |
		jq -r '[.[] | .formatted | select(.value != null) | .key] | sort | join(" ")'
}

# ts_reload_load STEERING: 16 clients opening TLS connections back to back
# for 9 s across 4 reloads, in a namespace of their own (tcp_migrate_req 0,
# the kernel's default, whatever the host's); leaves the client's JSON in
# $TS/churn.json
ts_reload_load() {
	local cpid gen
	QS_NETNS=qs-tr$$
	ip netns add "$QS_NETNS" || { fail "ip netns add"; return 1; }
	defer "ip netns delete $QS_NETNS"
	ip -n "$QS_NETNS" link set lo up
	make_docroot
	qs_start "tcp$1" 2 --steering "$1" --drain-timeout 1
	ts_churn 127.0.0.1 "$QS_PORT" 9 --threads 16 >"$TS/churn.json" &
	cpid=$!
	defer "kill $cpid 2>/dev/null || true"
	for gen in 1 2 3 4; do
		sleep 1.5
		# refused while the previous generation drains: try again
		wait_until 10 "$ROOT/quicsteerctl" -i "$QS_INST" reload >/dev/null 2>&1 ||
			{ fail "reload $gen: $(tail -3 "$QS_LOG")"; return 1; }
	done
	wait "$cpid" || { fail "the churn client failed"; return 1; }
	wait_until 10 ts_gen_gone 3 || { fail "generation 3 still running"; return 1; }
	info "steering $1: $(jq -c 'del(.errors)' "$TS/churn.json")"
	info "accepted $(workers_sum tcp_accepted), handshakes $(workers_sum tcp_hs_full)"
}

test_tcpsteer_reloads_under_load_lose_nothing() {
	ts_need || return
	ts_reload_load on || return
	assert_eq "connections lost across 4 reloads ($(jq -c .errors "$TS/churn.json"))" \
		0 "$(jq .lost "$TS/churn.json")" || return
	(( $(jq .ok "$TS/churn.json") > 1000 )) || fail "too little load: $(cat "$TS/churn.json")"
	# every connection any generation accepted finished its handshake
	assert_eq "handshakes of the accepted connections" \
		"$(workers_sum tcp_accepted)" "$(workers_sum tcp_hs_full)" || return
	# (and a SYN retransmitted now and then)
	assert_ge "SYNs steered by the TCP program" \
		"$(workers_sum tcp_accepted)" "$(ts_tcp_stat new_conn)" || return
	assert_eq "TCP selections failed" 0 "$(ts_tcp_stat select_failed)" || return
	# generation 4 = 0 (mod 4): only its two sockets are left in the array
	assert_eq "TCP socket slots left" "0 1" "$(ts_tcp_slots)"
}


# ts_queued STEERING: a worker that takes nothing from its queue (stopped)
# holds 20 established connections there across a reload and is killed at
# the end of its drain, in a namespace whose tcp_migrate_req is 0 (the
# kernel's default); leaves the client's JSON in $TS/churn.json
ts_queued() {
	local ns=qs-ts$$ cpid pid
	ip netns add "$ns" || { fail "ip netns add"; return 1; }
	defer "ip netns delete $ns"
	ip -n "$ns" link set lo up
	assert_eq "tcp_migrate_req in the namespace" 0 \
		"$(ip netns exec "$ns" cat /proc/sys/net/ipv4/tcp_migrate_req)" || return
	make_docroot
	QS_NETNS=$ns qs_start "tcpq$1" 1 --steering "$1" --drain-timeout 1 || return
	pid=$(worker_stat 0 pid)
	kill -STOP "$pid"
	defer "kill -CONT $pid 2>/dev/null || true"
	QS_NETNS=$ns ts_churn 127.0.0.1 "$QS_PORT" 30 --threads 20 --once >"$TS/churn.json" &
	cpid=$!
	defer "kill $cpid 2>/dev/null || true"
	wait_until 10 bash -c "ip netns exec $ns ss -Hltn 'sport = :$QS_PORT' | awk '{q += \$2} END {exit q != 20}'" ||
		{ fail "20 connections not queued: $(ip netns exec "$ns" ss -ltn)"; return 1; }
	kill -HUP "$QS_PID"
	# the stopped worker cannot drain: killed after --drain-timeout + 5 s
	wait_until 15 is_dead "$pid" || { fail "old worker $pid still there"; return 1; }
	wait "$cpid" || { fail "the churn client failed"; return 1; }
	info "steering $1: $(jq -c 'del(.errors)' "$TS/churn.json")"
}

# ... steering on: the program moves them to the new generation
test_tcpsteer_queued_connections_migrate() {
	ts_need || return
	ts_queued on || return
	assert_eq "connections completed ($(jq -c .errors "$TS/churn.json"))" \
		20 "$(jq .ok "$TS/churn.json")" || return
	assert_eq "queued connections migrated by the program" 20 "$(ts_tcp_stat migrated_child)" || return
	assert_eq "handshakes on generation 1" 20 "$(worker_stat 64 tcp_hs_full)"
}

# ... steering off (the kernel's hash, as without quicsteer's program): the
# connections queued at the closing listener are reset (so the test above
# can fail)
test_tcpsteer_off_loses_queued_connections() {
	ts_need || return
	ts_queued off || return
	assert_eq "connections lost" 20 "$(jq .lost "$TS/churn.json")"
	[[ ! -e $QS_PIN/qs_tcp_steer_l0 ]] || fail "a TCP program with --steering off"
}
