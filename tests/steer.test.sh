# SPDX-License-Identifier: MIT
# Steering through the real kernel path: quicsteerd, its sk_reuseport
# program and real sockets on loopback.  Assertions use the program's own
# per-CPU counters and what each worker counted (which socket received).

# wait until the workers together received N datagrams
wait_received() {
	wait_until "${2:-10}" bash -c "[[ \$(source $ROOT/tests/lib.sh; QS_PIN=$QS_PIN workers_sum rx_datagrams) -ge $1 ]]"
}

# check_routed N_WORKERS TOTAL JSON: every worker counted exactly what was
# minted for it, nothing foreign, and the program routed all by CID
check_routed() {
	local n=$1 total=$2 json=$3 w minted own foreign
	wait_received "$total" || fail "workers received $(workers_sum rx_datagrams) of $total"
	for ((w = 0; w < n; w++)); do
		minted=$(jq ".per_worker[$w]" <<<"$json")
		own=$(worker_stat "$w" rx_cid_own)
		foreign=$(worker_stat "$w" rx_cid_foreign)
		info "worker $w: minted $minted, received own $own, foreign $foreign"
		assert_eq "worker $w own CIDs" "$minted" "$own"
		assert_eq "worker $w foreign CIDs" 0 "$foreign"
	done
	info "steer stats: $(steer_stats_line)"
	assert_eq "cid_routed" "$total" "$(steer_stat cid_routed)"
	assert_eq "unroutable+stale+new_flow+malformed" 0 \
		"$(($(steer_stat unroutable) + $(steer_stat stale) + $(steer_stat new_flow) + $(steer_stat malformed)))"
}

# 10,000 short-header datagrams minted for random workers, from 3 source
# addresses x 40 ports each, all land on their owner
routing_test() {
	local n=$1 json
	need_root_bpf || return
	qs_start "route$n" "$n"
	json=$(send --to "127.0.0.1:$QS_PORT" --kind short --count 10000 --seed "$n" \
		--from 127.0.0.1 --from 127.0.0.2 --from 127.0.0.3 --ports 40)
	assert_eq "sent" 10000 "$(jq .sent <<<"$json")"
	check_routed "$n" 10000 "$json"
}

test_cid_routing_2_workers() { routing_test 2; }
test_cid_routing_4_workers() { routing_test 4; }
test_cid_routing_8_workers() { routing_test 8; }

# two listeners (IPv4 and IPv6): each has its own program copy and slots
test_cid_routing_ipv4_and_ipv6() {
	local json4 json6 w total
	need_root_bpf || return
	qs_start dual 4 --listen "127.0.0.1:@PORT@" --listen "[::1]:@PORT@"
	json4=$(send --to "127.0.0.1:$QS_PORT" --count 3000 --ports 30 --seed 11)
	json6=$(send --to "[::1]:$QS_PORT" --count 3000 --ports 30 --seed 12)
	wait_received 6000 || fail "received $(workers_sum rx_datagrams) of 6000"
	for w in 0 1 2 3; do
		total=$(($(jq ".per_worker[$w]" <<<"$json4") + $(jq ".per_worker[$w]" <<<"$json6")))
		assert_eq "worker $w own (v4+v6)" "$total" "$(worker_stat $w rx_cid_own)"
		assert_eq "worker $w foreign" 0 "$(worker_stat $w rx_cid_foreign)"
	done
	assert_eq "cid_routed" 6000 "$(steer_stat cid_routed)"
}

# long-header packets (Handshake) carrying our CID, QUIC v1 and v2
test_long_header_cids_v1_v2() {
	local j1 j2
	need_root_bpf || return
	qs_start long 4
	j1=$(send --to "127.0.0.1:$QS_PORT" --kind long-ours --count 1000 --ports 20 --seed 3)
	j2=$(send --to "127.0.0.1:$QS_PORT" --kind long-ours --v2 --count 1000 --ports 20 --seed 4)
	wait_received 2000 || fail "received $(workers_sum rx_datagrams) of 2000"
	for w in 0 1 2 3; do
		assert_eq "worker $w own" \
			$(($(jq ".per_worker[$w]" <<<"$j1") + $(jq ".per_worker[$w]" <<<"$j2"))) \
			"$(worker_stat $w rx_cid_own)"
	done
	assert_eq "cid_routed" 2000 "$(steer_stat cid_routed)"
	assert_eq "rx_long" 2000 "$(workers_sum rx_long)"
}

# Initials (random client DCIDs) from one source address/port: one worker
test_initials_one_source_one_worker() {
	local json counts
	need_root_bpf || return
	qs_start init1 4
	json=$(send --to "127.0.0.1:$QS_PORT" --kind initial --count 200 --ports 1)
	wait_received 200 || fail "received $(workers_sum rx_datagrams) of 200"
	counts=$(worker_stats_json | jq -c '[.[].value.rx_long]')
	info "Initials per worker: $counts"
	assert_eq "workers that got Initials" 1 "$(jq '[.[] | select(. > 0)] | length' <<<"$counts")"
	assert_eq "the one worker got all" 200 "$(jq 'max' <<<"$counts")"
	assert_eq "new_flow" 200 "$(steer_stat new_flow)"
	assert_eq "cid_routed" 0 "$(steer_stat cid_routed)"
}

# from 1,000 sources: every worker gets at least half its share
test_initials_spread_over_workers() {
	local n=4 counts min
	need_root_bpf || return
	ulimit -n 4096
	qs_start spread $n
	send --to "127.0.0.1:$QS_PORT" --kind initial --count 1000 \
		--from 127.0.0.1 --from 127.0.0.2 --ports 500 >/dev/null
	wait_received 1000 || fail "received $(workers_sum rx_datagrams) of 1000"
	counts=$(worker_stats_json | jq -c '[.[].value.rx_long]')
	info "Initials per worker from 1000 sources: $counts (fair share $((1000 / n)))"
	min=$(jq 'min' <<<"$counts")
	assert_ge "least-loaded worker" $((1000 / n / 2)) "$min"
	assert_eq "workers" $n "$(jq 'length' <<<"$counts")"
	assert_eq "new_flow" 1000 "$(steer_stat new_flow)"
}

# empty, truncated and garbage datagrams: counted, delivered, nothing crashes
test_malformed_datagrams() {
	local pids_before pids_after total json
	need_root_bpf || return
	qs_start bad 2
	pids_before=$(worker_stats_json | jq -c '[.[].value.pid]')
	send --to "127.0.0.1:$QS_PORT" --kind empty --count 100 --ports 5 >/dev/null
	send --to "127.0.0.1:$QS_PORT" --kind truncated --count 100 --ports 5 >/dev/null
	send --to "127.0.0.1:$QS_PORT" --kind garbage --count 300 --ports 5 >/dev/null
	wait_received 500 || fail "received $(workers_sum rx_datagrams) of 500"
	info "steer stats: $(steer_stats_line)"
	total=$(($(steer_stat cid_routed) + $(steer_stat new_flow) + $(steer_stat unroutable) +
		$(steer_stat stale) + $(steer_stat malformed)))
	assert_eq "every datagram counted once" 500 "$total"
	assert_ge "malformed (empty + truncated at least)" 200 "$(steer_stat malformed)"
	assert_eq "delivered to workers" 500 "$(workers_sum rx_datagrams)"
	assert_eq "malformed seen by workers = by the program" \
		"$(steer_stat malformed)" "$(workers_sum rx_malformed)"
	pids_after=$(worker_stats_json | jq -c '[.[].value.pid]')
	assert_eq "no worker restarted" "$pids_before" "$pids_after"
	kill -0 "$QS_PID" || fail "quicsteerd died"
	# and steering still works afterwards
	json=$(send --to "127.0.0.1:$QS_PORT" --count 100 --ports 10 --seed 9)
	wait_received 600 || fail "routing after garbage"
	assert_eq "routed after garbage" 100 "$(steer_stat cid_routed)"
}

# --steering off: plain SO_REUSEPORT hashing misroutes migrated flows.
# Proves the routing assertions above can fail.
test_steering_off_misroutes() {
	local n=4 foreign own
	need_root_bpf || return
	qs_start off $n --steering off
	send --to "127.0.0.1:$QS_PORT" --count 2000 --from 127.0.0.1 --from 127.0.0.2 \
		--ports 100 --seed 5 >/dev/null
	wait_received 2000 || fail "received $(workers_sum rx_datagrams) of 2000"
	foreign=$(workers_sum rx_cid_foreign)
	own=$(workers_sum rx_cid_own)
	info "steering off: $own of 2000 on their owner, $foreign misrouted" \
		"(expected about $((2000 * (n - 1) / n)))"
	assert_eq "own + foreign" 2000 $((own + foreign))
	assert_ge "misrouted datagrams" 1000 "$foreign"
	assert_eq "program not attached: no counts" 0 "$(steer_stat cid_routed)"
}

# kill -9 a worker while the loader is paused: datagrams for it queue in
# its socket and reach the restarted worker (same id, same socket)
test_worker_restart_keeps_socket() {
	local victim old_pid new_pid own_before json
	need_root_bpf || return
	qs_start restart 2
	victim=1
	old_pid=$(worker_stat $victim pid)
	own_before=$(worker_stat $victim rx_cid_own)
	kill -STOP "$QS_PID"
	defer "kill -CONT $QS_PID"
	kill -KILL "$old_pid"
	# the paused loader cannot reap it: dead means zombie (or gone)
	wait_until 5 is_dead "$old_pid" ||
		fail "worker did not die"
	json=$(send --to "127.0.0.1:$QS_PORT" --count 500 --target $victim --ports 20)
	assert_eq "sent while the worker was dead" 500 "$(jq .sent <<<"$json")"
	sleep 0.2
	assert_eq "nothing received while dead" "$own_before" "$(worker_stat $victim rx_cid_own)"
	kill -CONT "$QS_PID"
	wait_until 10 bash -c "[[ \$(bpftool -j map lookup pinned $QS_PIN/qs_worker_stats key $victim 0 0 0 | jq .formatted.value.rx_cid_own) -ge $((own_before + 500)) ]]" ||
		fail "restarted worker received $(worker_stat $victim rx_cid_own), expected $((own_before + 500))"
	new_pid=$(worker_stat $victim pid)
	info "worker $victim: pid $old_pid -> $new_pid, starts $(worker_stat $victim starts)"
	[[ $new_pid != "$old_pid" && $new_pid != 0 ]] || fail "worker not restarted"
	assert_eq "starts" 2 "$(worker_stat $victim starts)"
	assert_eq "other worker got none of them" 0 "$(worker_stat 0 rx_cid_own)"
	assert_eq "foreign" 0 "$(workers_sum rx_cid_foreign)"
	grep -q "worker 0/1 (pid $old_pid) killed by signal 9" "$QS_LOG" ||
		fail "restart not logged"
}

# SIGTERM: no pins, no processes, no runtime files; exit status 0
test_sigterm_leaves_nothing() {
	local pids status
	need_root_bpf || return
	qs_start term 4
	pids=$(worker_stats_json | jq -r '.[].value.pid')
	kill -TERM "$QS_PID"
	status=0
	wait "$QS_PID" || status=$?
	assert_eq "exit status" 0 "$status"
	[[ ! -e $QS_PIN ]] || fail "pins left: $(ls "$QS_PIN")"
	[[ ! -e /run/quicsteer/$QS_INST ]] || fail "runtime dir left"
	for p in $pids; do
		kill -0 "$p" 2>/dev/null && fail "worker pid $p still running"
	done
	grep -q "pins and runtime files removed" "$QS_LOG" || fail "no shutdown message"
}

# two instances on different ports, side by side, independent
test_two_instances_side_by_side() {
	local pin_a port_a inst_a pid_a ja jb
	need_root_bpf || return
	qs_start side-a 2
	pin_a=$QS_PIN port_a=$QS_PORT inst_a=$QS_INST pid_a=$QS_PID
	qs_start side-b 3
	ja=$(QS_INST=$inst_a send --to "127.0.0.1:$port_a" --count 1000 --ports 10)
	jb=$(send --to "127.0.0.1:$QS_PORT" --count 1000 --ports 10)
	wait_received 1000 || fail "instance b received $(workers_sum rx_datagrams)"
	(QS_PIN=$pin_a; wait_received 1000) || fail "instance a did not receive"
	assert_eq "b routed" 1000 "$(steer_stat cid_routed)"
	assert_eq "a routed" 1000 "$(QS_PIN=$pin_a steer_stat cid_routed)"
	qs_kill "$pid_a"
	[[ ! -e $pin_a ]] || fail "a's pins left"
	jb=$(send --to "127.0.0.1:$QS_PORT" --count 500 --ports 10 --seed 77)
	wait_received 1500 || fail "b stopped working when a stopped"
	[[ -n $ja && -n $jb ]]
}
