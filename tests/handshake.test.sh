# SPDX-License-Identifier: MIT
# Half-open handshakes cannot fill the connection table.  Valid client
# Initials forged on loopback (tests/tools/qs-initials: a real ClientHello
# in a correctly protected Initial, each from a new source port, never
# answered further) against a small --max-connections, a real independent
# client (gtlsclient) meanwhile, and the workers' counters as the oracle:
# Retry once unvalidated connections pass --retry-unvalidated, the
# handshake timeout, a validated client taking a half-open slot, and
# NEW_TOKEN tokens honoured once per host.

GTLS=${GTLS:-gtlsclient}
QS_INITIALS=$ROOT/.output/qs-initials

need_hs_tools() {
	command -v "$GTLS" >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	[[ -x $QS_INITIALS ]] || { need "$QS_INITIALS (make)"; return; }
	return 0
}

# forge ARGS...: forged Initials to the current instance; its JSON line
forge() {
	timeout 60 "$QS_INITIALS" --to "127.0.0.1:$QS_PORT" "$@"
}

# get [GTLS ARGS...]: one GET by a real client; its status, or how it ended
get() {
	local out st
	out=$(timeout 20 "$GTLS" --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s "$@" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/index.html" 2>&1) ||
		true
	st=$(gtls_statuses <<<"$out" | head -1)
	if [[ -n $st ]]; then
		echo "$st"
	elif grep -q 'CONNECTION_CLOSE.*error_code=' <<<"$out"; then
		echo "closed by the server: $(grep -m1 -o 'error_code=[A-Z_]*' <<<"$out")"
	else
		echo "no response: $(tail -1 <<<"$out")"
	fi
}

counters() { # NAME...: "name=value ..." summed over the workers
	local f
	for f in "$@"; do printf '%s=%s ' "$f" "$(workers_sum "$f")"; done
}

sum_ge() { # FIELD MIN
	(($(workers_sum "$1") >= $2))
}

sum_eq() { # FIELD VALUE
	[[ $(workers_sum "$1") == "$2" ]]
}

# The flood of issue 12, scaled down: 400 forged Initials at 100 per second
# (50 per worker, far below --retry-threshold's 2000) against two workers of
# 40 connections.  Without a defence the tables are full after 80 and the
# real client is refused; with the default --retry-unvalidated 25, each
# worker takes 10 half-open connections and answers the rest with Retry,
# which the real client passes.
test_handshake_forged_flood_cannot_take_the_table() {
	local flood fpid st
	need_root_bpf || return
	need_hs_tools || return
	make_docroot
	qs_start flood 2 --max-connections 40
	flood=$(mktemp /tmp/qs-test-flood.XXXXXX)
	defer "rm -f $flood"
	forge --count 400 --rate 100 >"$flood" &
	fpid=$!
	defer "kill $fpid"
	# the real client once half the flood is in: the tables would be full by then
	wait_until 10 sum_ge rx_long 200 || fail "the flood did not arrive: $(counters rx_long)"
	st=$(get)
	info "real client during the flood: $st; $(counters conn_accepted handshakes \
		conn_refused retries retry_unvalidated)"
	wait "$fpid" || fail "qs-initials: $(cat "$flood")"
	info "forged: $(cat "$flood")"
	info "after: $(counters rx_long conn_accepted conn_active conn_unvalidated handshakes \
		conn_refused retries retry_unvalidated hs_timeout)"
	assert_eq "the real client's GET during the flood" 200 "$st"
	assert_eq "forged Initials sent (one datagram each)" \
		'"initials":400,"datagrams":400' "$(grep -o '"initials":[0-9]*,"datagrams":[0-9]*' "$flood")"
	assert_eq "handshakes (the real client only)" 1 "$(workers_sum handshakes)"
	assert_eq "connections: 25% of 40 half-open per worker, and the real client" 21 \
		"$(workers_sum conn_accepted)"
	assert_eq "half-open connections now" 20 "$(workers_sum conn_unvalidated)"
	assert_eq "nobody refused" 0 "$(workers_sum conn_refused)"
	# 380 forged Initials, and the real client's first Initial(s)
	assert_ge "Retries for unvalidated connections" 381 "$(workers_sum retry_unvalidated)"
	assert_eq "every Retry was for unvalidated connections" "$(workers_sum retry_unvalidated)" \
		"$(workers_sum retries)"
}

# --handshake-timeout: with --retry never a burst of forged Initials takes
# the whole table and a real client without a token is refused; two
# seconds later (the idle timeout is 60) the half-open connections are
# gone, counted, and the table serves again.
test_handshake_timeout_drops_half_open_and_frees_the_table() {
	local out st t0 ms
	need_root_bpf || return
	need_hs_tools || return
	make_docroot
	qs_start hstimeout 1 --max-connections 16 --retry never --handshake-timeout 2 \
		--idle-timeout 60
	out=$(forge --count 16 --rate 0)
	t0=$(date +%s%N)
	wait_until 5 sum_eq conn_active 16 || fail "forged connections: $(counters conn_active)"
	st=$(get)
	info "real client with the table full: $st"
	[[ $st != 200 ]] || fail "served with a full table of half-open connections"
	assert_eq "refused (--retry never)" 1 "$(workers_sum conn_refused)"
	wait_until 10 sum_eq conn_active 0 || fail "not dropped: $(counters conn_active hs_timeout)"
	ms=$((($(date +%s%N) - t0) / 1000000))
	info "forged: $out; all dropped after $ms ms: $(counters hs_timeout conn_unvalidated)"
	assert_eq "dropped by the handshake timeout" 16 "$(workers_sum hs_timeout)"
	assert_eq "half-open connections now" 0 "$(workers_sum conn_unvalidated)"
	assert_eq "the real client after the timeout" 200 "$(get)"
	assert_eq "handshakes" 1 "$(workers_sum handshakes)"
}

# A client that proved its address (a NEW_TOKEN token) is never refused for
# half-open connections: with --retry never and a table full of them, the
# oldest makes room for it, while a client without a token is refused.
test_handshake_validated_client_takes_a_half_open_slot() {
	local tok out st
	need_root_bpf || return
	need_hs_tools || return
	make_docroot
	qs_start evict 1 --max-connections 16 --retry never
	tok=$(mktemp /tmp/qs-test-token.XXXXXX)
	defer "rm -f $tok"
	assert_eq "first GET (gets a token)" 200 "$(get --token-file="$tok")"
	[[ -s $tok ]] || fail "no NEW_TOKEN received"
	wait_until 5 sum_eq conn_active 0 || fail "first connection still open"
	out=$(forge --count 24 --rate 0)
	wait_until 5 sum_eq conn_refused 8 || fail "forged: $out; $(counters conn_active conn_refused)"
	assert_eq "table full" 16 "$(workers_sum conn_active)"
	st=$(get)
	info "a client without a token: $st"
	[[ $st != 200 ]] || fail "a client without a token was served"
	# a half-open connection younger than a first PTO (1 s) may be an
	# honest handshake: only older ones make room
	sleep 1
	assert_eq "with the token" 200 "$(get --token-file="$tok")"
	info "forged: $out; $(counters conn_accepted conn_refused hs_evicted conn_unvalidated handshakes)"
	assert_eq "half-open connections evicted" 1 "$(workers_sum hs_evicted)"
	assert_eq "half-open connections now" 15 "$(workers_sum conn_unvalidated)"
	assert_eq "refused: 8 forged, the client without a token" 9 "$(workers_sum conn_refused)"
}

# A NEW_TOKEN token validates one connection: with --retry always, a copy
# of a token used before gets a Retry (counted in tokens_reused) on either
# worker, while each fresh token skips it.
test_handshake_new_token_single_use() {
	local dir i
	need_root_bpf || return
	need_hs_tools || return
	make_docroot
	qs_start token 2 --retry always
	dir=$(mktemp -d /tmp/qs-test-tokens.XXXXXX)
	defer "rm -rf $dir"
	assert_eq "first GET, after a Retry" 200 "$(get --token-file="$dir/tok")"
	assert_eq "Retry sent" 1 "$(workers_sum retries)"
	[[ -s $dir/tok ]] || fail "no NEW_TOKEN received"
	cp "$dir/tok" "$dir/saved"
	assert_eq "GET with the token" 200 "$(get --token-file="$dir/tok")"
	assert_eq "no Retry for a fresh token" 1 "$(workers_sum retries)"
	for i in 1 2 3; do
		cp "$dir/saved" "$dir/copy$i"
		assert_eq "GET with the used token ($i)" 200 "$(get --token-file="$dir/copy$i")"
		info "used token ($i): $(counters retries tokens_reused) on workers" \
			"$(worker_stat 0 tokens_reused)/$(worker_stat 1 tokens_reused)"
	done
	assert_eq "used tokens refused" 3 "$(workers_sum tokens_reused)"
	assert_eq "a Retry for each" 4 "$(workers_sum retries)"
	# the token the second connection received is still fresh
	assert_eq "GET with the newer token" 200 "$(get --token-file="$dir/tok")"
	assert_eq "no Retry for it" 4 "$(workers_sum retries)"
	assert_eq "tokens that failed to verify" 0 "$(workers_sum tokens_rejected)"
	assert_eq "handshakes" 6 "$(workers_sum handshakes)"
}
