# SPDX-License-Identifier: MIT
# Session tickets and 0-RTT through the real path: quicsteerd's shared ticket
# keys (auto, file:, fleet:), resumption on another worker and another
# instance, key rotation, the host-wide anti-replay register against a
# replayed first flight, the unsafe-method policy, settings remembered in
# tickets, and key material kept out of everything an operator can read.
# Client: gtlsclient (GnuTLS) with --session-file and --tp-file.

GTLS=${GTLS:-gtlsclient}

tk_need() {
	need_root_bpf || return
	command -v "$GTLS" >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	TK=$(mktemp -d /tmp/qs-test-tk.XXXXXX)
	defer "rm -rf $TK"
	return 0
}

# tk_get SESSION PORT PATH [ARGS...]: one request, the TLS session and the
# transport parameters kept in SESSION.{sess,tp} (resumed, with 0-RTT, when
# they exist); the response body lands in $TK/dl; prints the client's output
tk_get() {
	local s=$1 port=$2 path=$3
	shift 3
	rm -rf "$TK/dl"
	mkdir -p "$TK/dl"
	(cd "$TK/dl" && timeout 15 "$GTLS" --exit-on-all-streams-close --no-quic-dump \
		--timeout=5s --download="$TK/dl" --session-file="$s.sess" --tp-file="$s.tp" \
		--wait-for-ticket "$@" 127.0.0.1 "$port" "https://127.0.0.1:$port$path" 2>&1)
}

tk_status() { sed -n 's/^http: stream 0x[0-9a-f]* \[:status: \([0-9]*\)\]$/\1/p' | head -1; }

# per_worker FIELD: the field of workers 0..N-1, space-separated
per_worker() {
	worker_stats_json | jq -r "sort_by(.key) | map(.value.$1 | tostring) | join(\" \")"
}

# grew BEFORE AFTER: the index of the one worker whose count grew, or -1
grew() {
	local -a a=($1) b=($2)
	local i found=-1 n=0
	for i in "${!b[@]}"; do
		if ((b[i] > ${a[i]:-0})); then
			found=$i
			n=$((n + 1))
		fi
	done
	((n == 1)) && echo "$found" || echo -1
}

# key files in nginx's format: 80 random bytes
tk_keyfile() { head -c 80 /dev/urandom >"$1"; chmod 600 "$1"; }

test_tickets_resume_on_another_worker_with_0rtt() {
	local i try issuer resumer b_iss b_res b_early b_hs a_iss a_res a_early elsewhere=0
	local s st out same=0
	tk_need || return
	make_docroot
	printf 'hello\n' >"$QS_DOCROOT/hello.txt"
	chmod -R a+rX "$QS_DOCROOT"
	qs_start tkres 4
	for i in $(seq 40); do
		s=$TK/c$i
		b_iss=$(per_worker tickets_issued)
		out=$(tk_get "$s" "$QS_PORT" /hello.txt)
		st=$(tk_status <<<"$out")
		[[ $st == 200 && -s $s.sess ]] || fail "first connection $i: status '$st', no ticket: $out"
		issuer=$(grew "$b_iss" "$(per_worker tickets_issued)")
		((issuer >= 0)) || fail "no single worker issued the ticket of connection $i"
		# reconnect (a new source port each time) until another worker takes it
		for try in $(seq 12); do
			b_res=$(per_worker hs_resumed)
			b_early=$(per_worker early_accepted)
			b_hs=$(per_worker handshakes)
			out=$(tk_get "$s" "$QS_PORT" /hello.txt)
			st=$(tk_status <<<"$out")
			[[ $st == 200 ]] || fail "resumption $i.$try: status '$st': $out"
			cmp -s "$TK/dl/hello.txt" "$QS_DOCROOT/hello.txt" || fail "resumption $i: body"
			resumer=$(grew "$b_hs" "$(per_worker handshakes)")
			if ((resumer == issuer)); then
				same=$((same + 1))
				continue
			fi
			a_res=$(per_worker hs_resumed)
			a_early=$(per_worker early_accepted)
			[[ $(grew "$b_res" "$a_res") == "$resumer" ]] ||
				fail "connection $i: not resumed on worker $resumer (issued by $issuer): hs_resumed $b_res -> $a_res"
			[[ $(grew "$b_early" "$a_early") == "$resumer" ]] ||
				fail "connection $i: 0-RTT not accepted on worker $resumer: early_accepted $b_early -> $a_early"
			elsewhere=$((elsewhere + 1))
			break
		done
	done
	info "40 tickets resumed, with 0-RTT, on a worker other than the issuer: $elsewhere/40 ($same reconnections landed on the issuer and were retried)"
	assert_eq "resumed elsewhere" 40 "$elsewhere"
	assert_eq "0-RTT GETs run early" "$(workers_sum early_accepted)" "$(workers_sum req_early)"
	assert_eq "full handshakes" 40 "$(workers_sum hs_full)"
}

# tk_hash FILE: the name hash quicsteer shows for an nginx-format key file
tk_hash() { head -c 16 "$1" | sha256sum | cut -c1-16; }
# tk_keys INST ROLE: name hashes of the keys in force with that role
tk_keys() { awk -v r="$2" '$1 == "key" && $3 == r {print $2}' "/run/quicsteer/$1/ticket-keys"; }

# tk_stat PIN FIELD: summed over the workers of the instance pinned at PIN
tk_stat() {
	bpftool -j map dump pinned "$1/qs_worker_stats" |
		jq "[.[] | .formatted | select(.value.starts > 0) | .value.$2] | add // 0"
}

# tk_expect OUT STATUS: the response status of a tk_get
tk_expect() {
	local st
	st=$(tk_status <<<"$1")
	[[ $st == "$2" ]] || fail "status '$st', expected $2: $1"
}

test_tickets_auto_rotation_keeps_old_tickets_for_their_lifetime() {
	local k0 out t0
	tk_need || return
	make_docroot
	qs_start tkrot 2 --ticket-rotate 3s --ticket-lifetime 4s
	k0=$(tk_keys "$QS_INST" encrypt)
	[[ -n $k0 ]] || fail "no encrypt key listed: $(cat "/run/quicsteer/$QS_INST/ticket-keys")"
	t0=$(date +%s.%N)
	out=$(tk_get "$TK/a" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	cp "$TK/a.sess" "$TK/old.sess"
	cp "$TK/a.tp" "$TK/old.tp"
	# rotated: the first key only decrypts now; its ticket still resumes
	wait_until 5 grep -q "^key $k0 decrypt" "/run/quicsteer/$QS_INST/ticket-keys" ||
		fail "no rotation: $(cat "/run/quicsteer/$QS_INST/ticket-keys")"
	[[ $(tk_keys "$QS_INST" encrypt) != "$k0" ]] || fail "the encrypt key did not change"
	out=$(tk_get "$TK/a" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	info "resumed $(echo "$(date +%s.%N) - $t0" | bc) s after the ticket, after a rotation"
	assert_eq "resumed with the retired key" 1 "$(workers_sum hs_resumed)"
	assert_eq "tickets (the resumed one renewed)" 2 "$(workers_sum tickets_issued)"
	# after its window the key is gone (the ticket has expired with it: a
	# retired key decrypts for exactly a ticket lifetime).  gtlsclient will
	# not start from an expired session (GnuTLS fails before sending), so
	# the client starts afresh: a full handshake, and the request works.  A
	# live ticket whose key is gone: the fleet test (ticket_unknown_key).
	wait_until 12 bash -c "! grep -q '^key $k0 ' /run/quicsteer/$QS_INST/ticket-keys" ||
		fail "the retired key outlived its window: $(cat "/run/quicsteer/$QS_INST/ticket-keys")"
	out=$(tk_get "$TK/new" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "full handshakes" 2 "$(workers_sum hs_full)"
	assert_eq "resumed" 1 "$(workers_sum hs_resumed)"
	assert_eq "keys in force (encrypt + retired within a lifetime)" 3 \
		"$(grep -c '^key ' "/run/quicsteer/$QS_INST/ticket-keys")"
}

test_tickets_file_keys_shared_by_two_instances_sighup_and_reload_keys() {
	local a_pid a_inst a_port a_pin a_log out k1 k3
	tk_need || return
	make_docroot
	tk_keyfile "$TK/k1"
	tk_keyfile "$TK/k2"
	tk_keyfile "$TK/k3"
	cp "$TK/k1" "$TK/p1"
	cp "$TK/k2" "$TK/p2"
	k1=$(tk_hash "$TK/k1")
	k3=$(tk_hash "$TK/k3")
	qs_start tkfa 2 --ticket-keys "file:$TK/p1,$TK/p2"
	a_pid=$QS_PID a_inst=$QS_INST a_port=$QS_PORT a_pin=$QS_PIN a_log=$QS_LOG
	qs_start tkfb 2 --ticket-keys "file:$TK/p1,$TK/p2"
	assert_eq "encrypt key (A)" "$k1" "$(tk_keys "$a_inst" encrypt)"
	assert_eq "decrypt key (B)" "$(tk_hash "$TK/k2")" "$(tk_keys "$QS_INST" decrypt)"
	out=$(tk_get "$TK/c" "$a_port" /index.html)
	tk_expect "$out" 200
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "A's ticket resumed by B" 1 "$(tk_stat "$QS_PIN" hs_resumed)"
	assert_eq "with 0-RTT" 1 "$(tk_stat "$QS_PIN" early_accepted)"
	# the operator's rotation: k3 encrypts, k1 only decrypts; SIGHUP / reload-keys
	cp "$TK/k1" "$TK/p2.new" && mv "$TK/p2.new" "$TK/p2"
	cp "$TK/k3" "$TK/p1.new" && mv "$TK/p1.new" "$TK/p1"
	kill -HUP "$a_pid"
	out=$(./quicsteerctl -i "$QS_INST" reload-keys 2>&1) || fail "reload-keys: $out"
	wait_until 5 bash -c "[[ \$(awk '\$1 == \"key\" && \$3 == \"encrypt\" {print \$2}' /run/quicsteer/$a_inst/ticket-keys) == $k3 ]]" ||
		fail "A did not take the new keys: $(cat "/run/quicsteer/$a_inst/ticket-keys")"
	assert_eq "B encrypts with" "$k3" "$(tk_keys "$QS_INST" encrypt)"
	assert_eq "B decrypts with" "$k1" "$(tk_keys "$QS_INST" decrypt)"
	# tickets sealed with k1 still resume, at both, and come back sealed with k3
	out=$(tk_get "$TK/c" "$a_port" /index.html)
	tk_expect "$out" 200
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "A resumed" 1 "$(tk_stat "$a_pin" hs_resumed)"
	assert_eq "B resumed" 2 "$(tk_stat "$QS_PIN" hs_resumed)"
	assert_eq "no failed handshake: full ones" 1 "$(($(tk_stat "$a_pin" hs_full) + $(tk_stat "$QS_PIN" hs_full)))"
	# a corrupt file: refused with its name, the keys in force stay
	head -c 50 /dev/urandom >"$TK/p2"
	if out=$(./quicsteerctl -i "$QS_INST" reload-keys 2>&1); then
		fail "reload-keys accepted a 50-byte key file: $out"
	fi
	grep -q "ticket key file $TK/p2 is malformed: 50 bytes" <<<"$out" ||
		fail "reload-keys did not say why: $out"
	grep -q "ticket key file $TK/p2 is malformed: 50 bytes, expected exactly 80.*the keys in force stay" "$QS_LOG" ||
		fail "no log line naming the file: $(tail -3 "$QS_LOG")"
	assert_eq "still encrypting with" "$k3" "$(tk_keys "$QS_INST" encrypt)"
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "B resumed after the bad reload" 3 "$(tk_stat "$QS_PIN" hs_resumed)"
	grep -q "error" "$a_log" && ! grep -q "malformed" "$a_log" || true
}

test_tickets_fleet_secret_shared_and_foreign() {
	local a_port b_pin out
	tk_need || return
	make_docroot
	head -c 32 /dev/urandom >"$TK/s1"
	head -c 32 /dev/urandom >"$TK/s2"
	qs_start tkla 2 --ticket-keys "fleet:$TK/s1" --ticket-rotate 1h --ticket-lifetime 2h
	a_port=$QS_PORT
	qs_start tklb 2 --ticket-keys "fleet:$TK/s1" --ticket-rotate 1h --ticket-lifetime 2h
	b_pin=$QS_PIN
	assert_eq "the same epoch key on both" "$(tk_keys "${QS_INST/tklb/tkla}" encrypt)" \
		"$(tk_keys "$QS_INST" encrypt)"
	out=$(tk_get "$TK/c" "$a_port" /index.html)
	tk_expect "$out" 200
	cp "$TK/c.sess" "$TK/d.sess"
	cp "$TK/c.tp" "$TK/d.tp"
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "resumed by the other host" 1 "$(tk_stat "$b_pin" hs_resumed)"
	assert_eq "0-RTT there" 1 "$(tk_stat "$b_pin" early_accepted)"
	# another fleet's secret: the ticket names a key it does not have
	qs_start tklc 2 --ticket-keys "fleet:$TK/s2" --ticket-rotate 1h --ticket-lifetime 2h
	out=$(tk_get "$TK/d" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "full handshake at another fleet" 1 "$(tk_stat "$QS_PIN" hs_full)"
	assert_eq "unknown key counted" 1 "$(tk_stat "$QS_PIN" ticket_unknown_key)"
	assert_eq "not resumed" 0 "$(tk_stat "$QS_PIN" hs_resumed)"
}
