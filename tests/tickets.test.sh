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
