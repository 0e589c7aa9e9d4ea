# SPDX-License-Identifier: MIT
# The XDP guard end to end: quicsteerd in a network namespace the test
# makes, --xdp-guard on its veths, an attacker and a client in two other
# namespaces (addresses from 198.18.0.0/15).  Assertions use the guard's
# own per-CPU counters, what the workers received, and xdp-loader's view
# of the interfaces.  (The program's verdicts frame by frame are in
# tests/unit/test_guard.c, with BPF_PROG_TEST_RUN.)

GTLS=${GTLS:-gtlsclient}
XDP_OTHER_PROG=${XDP_OTHER_PROG:-/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o}

need_guard_tools() {
	need_root_bpf || return
	command -v "$GTLS" >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	command -v xdp-loader >/dev/null || { need "xdp-loader (package xdp-tools)"; return; }
	command -v nsenter >/dev/null || { need "nsenter (util-linux)"; return; }
	return 0
}

# in NS CMD...: run CMD in one of the test's namespaces (mounts stay the host's)
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# guard_net: namespaces S (server), A (attacker), C (client); veth sa<->as
# on 198.18.1.0/24 and sc<->cs on 198.18.2.0/24; the server is .1 on both.
# Sets NS_S NS_A NS_C.  Removed after the test (their veths go with them).
guard_net() {
	local id=$$$RANDOM
	id=${id: -7}
	NS_S=qsg${id}s NS_A=qsg${id}a NS_C=qsg${id}c
	for ns in $NS_S $NS_A $NS_C; do
		ip netns add "$ns"
		defer "ip netns delete $ns"
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_S" link add sa type veth peer name as netns "$NS_A"
	ip -n "$NS_S" link add sc type veth peer name cs netns "$NS_C"
	ip -n "$NS_S" addr add 198.18.1.1/24 dev sa
	ip -n "$NS_S" addr add 198.18.2.1/24 dev sc
	ip -n "$NS_A" addr add 198.18.1.2/24 dev as
	ip -n "$NS_C" addr add 198.18.2.2/24 dev cs
	ip -n "$NS_S" link set sa up
	ip -n "$NS_S" link set sc up
	ip -n "$NS_A" link set as up
	ip -n "$NS_C" link set cs up
	QS_NETNS=$NS_S
}

guard_stat() { # FIELD: summed over CPUs
	bpftool -j map dump pinned "$QS_PIN/qs_guard_stats" |
		jq "[.[0].formatted.values[].value.$1] | add"
}

guard_stats_line() {
	bpftool -j map dump pinned "$QS_PIN/qs_guard_stats" |
		jq -r '[.[0].formatted.values[].value] | reduce .[] as $v ({}; . as $a |
			reduce ($v | keys_unsorted[]) as $k ($a; .[$k] += $v[$k])) |
			to_entries | map(select(.value > 0) | "\(.key)=\(.value)") | join(" ")'
}

# xdp_progs NS IFACE: names of the XDP programs on IFACE, one per line
# (the programs under libxdp's dispatcher, or the one attached alone)
xdp_progs() {
	in_ns "$1" xdp-loader status "$2" 2>/dev/null |
		awk -v i="$2" '$1 == i && $2 != "<No" { print $2 } $1 == "=>" { print $3 }' |
		grep -v '^xdp_dispatcher$' || true
}

# xdp_id NS IFACE: id of the program the kernel runs on IFACE (dispatcher or single)
xdp_id() {
	in_ns "$1" ip -j -d link show dev "$2" | jq -r '.[0].xdp.prog.id // .[0].xdp.attached[0].prog.id // empty'
}

# fetch_from NS ADDR URL: download URL from namespace NS into $DL; status of gtlsclient
fetch_from() {
	local ns=$1 addr=$2
	shift 2
	(cd "$DL" && timeout 20 nsenter --net="/run/netns/$ns" "$GTLS" -q \
		--exit-on-all-streams-close --timeout=3s --download="$DL" "$addr" "$QS_PORT" "$@")
}

guard_docroot() {
	make_docroot
	head -c 1000000 /dev/urandom >"$QS_DOCROOT/1m.bin"
	chmod 644 "$QS_DOCROOT/1m.bin"
	DL=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $DL"
}

test_guard_no_such_interface() {
	local log status=0
	need_root_bpf || return
	make_docroot
	log=$(mktemp /tmp/qs-test-guard.XXXXXX.log)
	defer "rm -f $log"
	defer_instance_cleanup "t$$-noif"
	timeout 20 "$QS" --foreground --instance "t$$-noif" --workers 1 \
		--listen "127.0.0.1:$((20000 + RANDOM % 30000))" \
		"${QS_ARGS[@]}" --xdp-guard lo,qsgnope9 --log-file "$log" || status=$?
	assert_eq "exit status" 1 "$status"
	grep -q "no such interface 'qsgnope9' (--xdp-guard)" "$log" ||
		fail "message: $(grep warn "$log")"
	[[ ! -e $PIN_ROOT/t$$-noif ]] || fail "pins left"
	[[ -z $(xdp_id_host lo) ]] || fail "something attached to lo"
}

xdp_id_host() { ip -j -d link show dev "$1" | jq -r '.[0].xdp.prog.id // empty'; }

# Without CAP_SYS_ADMIN libxdp could attach the guard but not detach it:
# refused at start, with the capability named, and nothing attached.
test_guard_without_cap_sys_admin_is_refused() {
	local log status=0
	need_root_bpf || return
	command -v capsh >/dev/null || { need "capsh (package libcap2-bin)"; return; }
	make_docroot
	log=$(mktemp /tmp/qs-test-guard.XXXXXX.log)
	defer "rm -f $log"
	defer_instance_cleanup "t$$-nosa"
	timeout 20 capsh --drop=cap_sys_admin -- -c "exec $(printf '%q ' "$QS" --foreground \
		--instance "t$$-nosa" --workers 1 --listen "127.0.0.1:$((20000 + RANDOM % 30000))" \
		"${QS_ARGS[@]}" --xdp-guard lo --log-file "$log")" 2>"$log.err" || status=$?
	defer "rm -f $log.err"
	assert_eq "exit status" 1 "$status"
	# said before the log file is open: on stderr
	grep -q -- "--xdp-guard needs CAP_SYS_ADMIN" "$log.err" || fail "message: $(cat "$log.err")"
	[[ -z $(xdp_id_host lo) ]] || fail "something attached to lo"
	[[ ! -e $PIN_ROOT/t$$-nosa ]] || fail "pins left"
}

# 3000 forged 1200-byte Initials from one source: what passes is exactly
# what the bucket allows and exactly what reaches the workers; meanwhile a
# client in another namespace downloads normally.
test_guard_initial_flood_cut_to_rate() {
	local rate=20 burst=10 n=3000 t0 t1 json sent passed limited allowed rx long hs
	need_guard_tools || return
	guard_net
	guard_docroot
	qs_start flood 2 --listen "0.0.0.0:@PORT@" --xdp-guard sa,sc \
		--xdp-guard-rate $rate --xdp-guard-burst $burst
	assert_eq "guard on sa" qs_guard "$(xdp_progs "$NS_S" sa)"
	assert_eq "guard on sc" qs_guard "$(xdp_progs "$NS_S" sc)"
	t0=$(date +%s%N)
	json=$(in_ns "$NS_A" "$QS_SEND" --instance "$QS_INST" --to "198.18.1.1:$QS_PORT" \
		--from 198.18.1.2 --kind initial --count $n)
	sent=$(jq .sent <<<"$json")
	assert_eq "sent" $n "$sent"
	# everything sent was judged (no drop on the veth before the program)
	wait_until 5 bash -c "[[ \$(source $ROOT/tests/lib.sh; source $ROOT/tests/guard.test.sh;
		QS_PIN=$QS_PIN; echo \$((\$(guard_stat passed_initial) + \$(guard_stat rate_limited)))) == $n ]]" ||
		fail "judged $(($(guard_stat passed_initial) + $(guard_stat rate_limited))) of $n"
	t1=$(date +%s%N)
	passed=$(guard_stat passed_initial)
	limited=$(guard_stat rate_limited)
	# burst at once, then one per 1/rate s; +1 for the coarse clock's tick
	allowed=$((burst + rate * (t1 - t0) / 1000000000 + 1))
	info "flood: $n Initials in $(jq .seconds <<<"$json") s; guard: $(guard_stats_line)"
	info "bucket: burst $burst + $rate/s over $(((t1 - t0) / 1000000)) ms allows at most $allowed"
	assert_eq "passed + rate_limited" $n $((passed + limited))
	assert_ge "passed (at least the burst)" $burst "$passed"
	assert_ge "at most the bucket" "$passed" "$allowed"
	# the workers got exactly the Initials that passed, and nothing else
	wait_until 5 bash -c "[[ \$(source $ROOT/tests/lib.sh; QS_PIN=$QS_PIN workers_sum rx_long) -ge $passed ]]" || true
	sleep 0.2
	rx=$(workers_sum rx_datagrams)
	long=$(workers_sum rx_long)
	assert_eq "Initials on the workers = passed_initial" "$passed" "$long"
	assert_eq "datagrams on the workers" "$passed" "$rx"

	# the flood again, for 4 s, while a client downloads from another namespace
	in_ns "$NS_A" "$QS_SEND" --instance "$QS_INST" --to "198.18.1.1:$QS_PORT" \
		--from 198.18.1.2 --kind initial --duration 4 >"$DL/flood.json" &
	local flood=$!
	defer "kill $flood"
	for i in 1 2 3; do
		fetch_from "$NS_C" 198.18.2.1 "https://198.18.2.1:$QS_PORT/1m.bin" ||
			fail "download $i during the flood failed"
		assert_eq "download $i" "$(sha256sum <"$QS_DOCROOT/1m.bin")" "$(sha256sum <"$DL/1m.bin")"
		rm -f "$DL/1m.bin"
	done
	wait $flood || fail "flood sender failed"
	hs=$(workers_sum handshakes)
	info "second flood: $(jq .sent "$DL/flood.json") Initials; guard: $(guard_stats_line); handshakes $hs"
	assert_ge "flood cut again" $((limited + 1000)) "$(guard_stat rate_limited)"
	assert_eq "client handshakes" 3 "$hs"
	assert_eq "nothing else dropped" 0 $(($(guard_stat dropped_short) + $(guard_stat dropped_fixed_bit) +
		$(guard_stat dropped_small_initial) + $(guard_stat blocked) + $(guard_stat dropped_malformed)))
}

# the exact commands of the README
block_198_18_2_0_24() {
	bpftool map update pinned "$QS_PIN/qs_guard_block" \
		key hex 78 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff c6 12 02 00 \
		value hex 00 00 00 00 00 00 00 00
}
unblock_198_18_2_0_24() {
	bpftool map delete pinned "$QS_PIN/qs_guard_block" \
		key hex 78 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff c6 12 02 00
}

test_guard_blocklist_with_bpftool() {
	local hits
	need_guard_tools || return
	guard_net
	guard_docroot
	qs_start block 2 --listen "0.0.0.0:@PORT@" --xdp-guard sa,sc
	block_198_18_2_0_24
	fetch_from "$NS_C" 198.18.2.1 "https://198.18.2.1:$QS_PORT/index.html" >/dev/null 2>&1 || true
	[[ ! -e $DL/index.html ]] || fail "a blocked client was served"
	info "blocked: $(guard_stats_line)"
	assert_ge "blocked" 1 "$(guard_stat blocked)"
	assert_eq "passed" 0 "$(guard_stat passed)"
	assert_eq "datagrams on the workers" 0 "$(workers_sum rx_datagrams)"
	hits=$(bpftool -j map dump pinned "$QS_PIN/qs_guard_block" | jq '.[0].formatted.value.hits')
	assert_eq "the prefix's hits" "$(guard_stat blocked)" "$hits"
	# other prefixes still pass (the attacker's namespace, on the other veth),
	# within the limits the README's tuning command sets: 1/s, burst 3
	bpftool map update pinned "$QS_PIN/qs_guard_cfg" key 0 0 0 0 \
		value hex 01 00 00 00 03 00 00 00 05 00 00 00 0a 00 00 00
	in_ns "$NS_A" "$QS_SEND" --instance "$QS_INST" --to "198.18.1.1:$QS_PORT" --kind initial \
		--from 198.18.1.2 --count 5 >/dev/null
	wait_until 5 bash -c "[[ \$(source $ROOT/tests/lib.sh; QS_PIN=$QS_PIN workers_sum rx_long) == 3 ]]" ||
		fail "another prefix: $(workers_sum rx_long) of 3 Initials reached the workers"
	assert_eq "another prefix's Initials passed" 3 "$(guard_stat passed_initial)"
	assert_eq "over the tuned burst" 2 "$(guard_stat rate_limited)"
	unblock_198_18_2_0_24
	fetch_from "$NS_C" 198.18.2.1 "https://198.18.2.1:$QS_PORT/index.html" ||
		fail "not served after the prefix was removed"
	assert_eq "index.html" "$(cat "$QS_DOCROOT/index.html")" "$(cat "$DL/index.html")"
	assert_ge "passed after removal" 4 "$(guard_stat passed)"
	assert_eq "one handshake" 1 "$(workers_sum handshakes)"
	# scripts/guard-block.sh writes the same keys
	assert_eq "helper's key" "bpftool map update pinned $QS_PIN/qs_guard_block key hex 78 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff c6 12 02 00 value hex 00 00 00 00 00 00 00 00" \
		"$("$ROOT/scripts/guard-block.sh" -n "$QS_INST" add 198.18.2.0/24)"
	"$ROOT/scripts/guard-block.sh" "$QS_INST" add 2001:db8:bad::/48 >/dev/null
	assert_eq "helper add, list" "2001:db8:bad:0:0:0:0:0/48 hits 0" \
		"$("$ROOT/scripts/guard-block.sh" "$QS_INST" list | tr '\t' ' ')"
	"$ROOT/scripts/guard-block.sh" "$QS_INST" del 2001:db8:bad::/48 >/dev/null
	assert_eq "helper del" "" "$("$ROOT/scripts/guard-block.sh" "$QS_INST" list)"
}

# kill -9 leaves the guard attached (XDP outlives the process); the next
# start of the same instance replaces it: exactly one guard, a new program
test_guard_crash_then_restart_one_guard() {
	local old new
	need_guard_tools || return
	guard_net
	guard_docroot
	qs_start crash 1 --listen "0.0.0.0:@PORT@" --xdp-guard sc
	old=$(xdp_id "$NS_S" sc)
	kill -KILL "$QS_PID"
	wait "$QS_PID" 2>/dev/null || true
	assert_eq "still attached after kill -9" qs_guard "$(xdp_progs "$NS_S" sc)"
	defer "in_ns $NS_S xdp-loader unload sc --all"	# if the restart fails
	qs_start crash 1 --listen "0.0.0.0:@PORT@" --xdp-guard sc
	new=$(xdp_id "$NS_S" sc)
	info "guard program id $old before the crash, $new after the restart"
	[[ -n $new ]] || { in_ns "$NS_S" ip -d link show dev sc; grep -v debug "$QS_LOG"; }
	assert_eq "guards on sc" qs_guard "$(xdp_progs "$NS_S" sc)"
	[[ $new != "$old" ]] || fail "the stale guard is still the one attached"
	# freed once the last reference goes (the kernel frees it after an RCU grace period)
	wait_until 5 bash -c "! bpftool prog show id $old >/dev/null 2>&1" ||
		fail "the stale program still exists: $(bpftool prog show id "$old"; grep -l "prog_id:.$old\$" /proc/[0-9]*/fdinfo/* 2>/dev/null | while read -r f; do p=${f%/fdinfo/*}; echo "$f $(cat $p/comm)"; done)"
	grep -q "detached the stale XDP guard (program id $old) of instance '$QS_INST' from sc" "$QS_LOG" ||
		fail "replacement not logged"
	fetch_from "$NS_C" 198.18.2.1 "https://198.18.2.1:$QS_PORT/index.html" || fail "not served"
	qs_kill "$QS_PID"
	assert_eq "nothing attached after SIGTERM" "" "$(xdp_progs "$NS_S" sc)"
}

# another XDP program on the interface, loaded first with xdp-loader
load_other_prog() {
	[[ -r $XDP_OTHER_PROG ]] || { need "$XDP_OTHER_PROG (package xdp-tools)"; return; }
	in_ns "$NS_S" xdp-loader load -m skb sc "$XDP_OTHER_PROG" >/dev/null 2>&1 ||
		fail "xdp-loader could not load $XDP_OTHER_PROG"
	defer "in_ns $NS_S xdp-loader unload sc --all"
	OTHER=$(basename "$XDP_OTHER_PROG" .o)
	[[ $(xdp_progs "$NS_S" sc) == "$OTHER" ]] || fail "other program not attached"
	# libxdp's dispatcher (several programs per interface) needs freplace programs
	DISPATCHER=0
	[[ $(in_ns "$NS_S" ip -j -d link show dev sc | jq -r '.[0].xdp.prog.name // empty') == xdp_dispatcher ]] &&
		DISPATCHER=1
	return 0
}

# quicsteerd never detaches or replaces a program that is not its own:
# with libxdp's dispatcher the two run side by side; without it (a kernel
# that refuses freplace programs) quicsteerd refuses to start and says why
test_guard_leaves_other_xdp_program_alone() {
	local other_id status=0 log
	need_guard_tools || return
	guard_net
	guard_docroot
	load_other_prog || return
	other_id=$(xdp_id "$NS_S" sc)
	if ((DISPATCHER)); then
		qs_start other 1 --listen "0.0.0.0:@PORT@" --xdp-guard sc
		assert_eq "both attached" "$(printf '%s\n' qs_guard "$OTHER" | sort)" "$(xdp_progs "$NS_S" sc | sort)"
		qs_kill "$QS_PID"
	else
		log=$(mktemp /tmp/qs-test-guard.XXXXXX.log)
		defer "rm -f $log"
		defer_instance_cleanup "t$$-other"
		timeout 20 nsenter --net="/run/netns/$NS_S" "$QS" --foreground --instance "t$$-other" \
			--workers 1 --listen 0.0.0.0:4433 "${QS_ARGS[@]}" --xdp-guard sc --log-file "$log" ||
			status=$?
		info "no libxdp dispatcher on this kernel: $(grep -o 'cannot attach the XDP guard.*' "$log" | head -1)"
		assert_eq "exit status" 1 "$status"
		grep -q "cannot attach the XDP guard to sc (--xdp-guard): .*another XDP program is attached: '$OTHER'" "$log" ||
			fail "message: $(grep warn "$log")"
		[[ ! -e $PIN_ROOT/t$$-other ]] || fail "pins left"
	fi
	assert_eq "the other program, after quicsteerd" "$OTHER" "$(xdp_progs "$NS_S" sc)"
	assert_eq "its id" "$other_id" "$(xdp_id "$NS_S" sc)"
}

# both programs run on one interface and traffic goes through both
test_guard_shares_interface_with_other_xdp_program() {
	need_guard_tools || return
	guard_net
	guard_docroot
	load_other_prog || return
	((DISPATCHER)) || { unsupported "libxdp's multi-program dispatcher: this kernel refuses freplace (BPF_PROG_TYPE_EXT) programs, so only one XDP program fits on an interface"; return; }
	qs_start share 1 --listen "0.0.0.0:@PORT@" --xdp-guard sc
	assert_eq "both attached" "$(printf '%s\n' qs_guard "$OTHER" | sort)" "$(xdp_progs "$NS_S" sc | sort)"
	fetch_from "$NS_C" 198.18.2.1 "https://198.18.2.1:$QS_PORT/index.html" || fail "not served"
	assert_ge "guard passed" 1 "$(guard_stat passed)"
	qs_kill "$QS_PID"
	assert_eq "the other program stays" "$OTHER" "$(xdp_progs "$NS_S" sc)"
}
