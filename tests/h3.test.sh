# SPDX-License-Identifier: MIT
# HTTP/3 through the real path: quicsteerd workers (ngtcp2 + nghttp3 +
# OpenSSL 3.5) on loopback, the independent client gtlsclient (Debian's
# ngtcp2-client, GnuTLS), files compared by sha256, statuses read from the
# client's own output, and the workers' counters.

GTLS=${GTLS:-gtlsclient}

need_gtls() {
	command -v "$GTLS" >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	return 0
}

# a docroot with a small page, a 10 MB random file and a file outside it
h3_docroot() {
	make_docroot
	printf 'small file\n' >"$QS_DOCROOT/small.txt"
	head -c 10000000 /dev/urandom >"$QS_DOCROOT/10m.bin"
	head -c 4000000 /dev/urandom >"$QS_DOCROOT/4m.bin"
	mkdir -p "$QS_DOCROOT/sub"
	echo "sub index" >"$QS_DOCROOT/sub/index.html"
	chmod -R a+rX "$QS_DOCROOT"
	OUTSIDE=$(mktemp /tmp/qs-test-outside.XXXXXX)
	defer "rm -f $OUTSIDE"
	echo "TOP SECRET outside the docroot" >"$OUTSIDE"
	chmod 644 "$OUTSIDE"
	DL=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $DL"
}

# statuses URL...: one ":status" per response, in stream order
statuses() {
	timeout 20 "$GTLS" --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "$@" 2>&1 |
		gtls_statuses | tr '\n' ' ' |
		sed 's/ $//'
}

# fetch DIR URL...: download quietly into DIR; status of gtlsclient
fetch() {
	local dir=$1
	shift
	(cd "$dir" && timeout 30 "$GTLS" -q --exit-on-all-streams-close --timeout=5s \
		--download="$dir" "$@")
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

test_h3_get_small_and_10mb_files() {
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start get 2
	fetch "$DL" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/small.txt" \
		"https://127.0.0.1:$QS_PORT/10m.bin" || fail "gtlsclient failed"
	assert_eq "small.txt" "$(sha "$QS_DOCROOT/small.txt")" "$(sha "$DL/small.txt")"
	assert_eq "10m.bin sha256" "$(sha "$QS_DOCROOT/10m.bin")" "$(sha "$DL/10m.bin")"
	assert_eq "2xx counted" 2 "$(workers_sum req_2xx)"
	assert_eq "one handshake" 1 "$(workers_sum handshakes)"
	info "10 MB sent in $(workers_sum tx_datagrams) datagrams"
}

test_h3_100_concurrent_streams_one_connection() {
	local st
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start streams 2
	st=$(statuses -n 100 "https://127.0.0.1:$QS_PORT/small.txt")
	assert_eq "responses" 100 "$(wc -w <<<"$st")"
	assert_eq "all 200" 100 "$(tr ' ' '\n' <<<"$st" | grep -c '^200$')"
	assert_eq "one connection" 1 "$(workers_sum conn_accepted)"
	assert_eq "2xx counted" 100 "$(workers_sum req_2xx)"
}

test_h3_head_404_405_and_ranges() {
	local out
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start head 2
	out=$(timeout 20 "$GTLS" -m HEAD --exit-on-all-streams-close --no-quic-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/10m.bin" 2>&1)
	grep -q '\[:status: 200\]' <<<"$out" || fail "HEAD status: $out"
	grep -q '\[content-length: 10000000\]' <<<"$out" || fail "HEAD content-length"
	grep -q 'body [0-9]* bytes' <<<"$out" && fail "HEAD returned a body"
	assert_eq "404" 404 "$(statuses "https://127.0.0.1:$QS_PORT/no-such-file")"
	out=$(timeout 20 "$GTLS" -m DELETE --exit-on-all-streams-close --no-quic-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/small.txt" 2>&1)
	grep -q '\[:status: 405\]' <<<"$out" || fail "DELETE: $(grep status <<<"$out")"
	grep -q '\[allow: GET, HEAD\]' <<<"$out" || fail "405 without Allow"
	assert_eq "directory index" 200 "$(statuses "https://127.0.0.1:$QS_PORT/sub/")"
}

# every response carries date and server, error answers included (the
# request layer adds them once for every handler; the second GET comes
# from the file cache)
test_h3_every_response_carries_date() {
	local out m url why
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start date 1
	for m in GET:small.txt GET:small.txt HEAD:10m.bin GET:no-such-file DELETE:small.txt \
		GET:sub/; do
		url="https://127.0.0.1:$QS_PORT/${m#*:}"
		out=$(timeout 20 "$GTLS" -m "${m%%:*}" --exit-on-all-streams-close --no-quic-dump \
			--timeout=5s 127.0.0.1 "$QS_PORT" "$url" 2>&1)
		why=$(response_date_ok "$out") || fail "$m: $why: $(grep 'http:' <<<"$out")"
	done
}

# conditional GET: 304 for a copy the client has (twice each: the second
# answer comes from the file cache), 200 for an older one; If-Range
# turns a Range for another version into the whole file
test_h3_conditional_get_and_if_range() {
	local load=.output/quicsteer-load out etag lm older i q
	need_root_bpf || return
	need_gtls || return
	[[ -x $load ]] || { need "$load (make)"; return; }
	h3_docroot
	qs_start cond 1
	out=$(timeout 20 "$GTLS" --exit-on-all-streams-close --no-quic-dump --timeout=5s \
		127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/small.txt" 2>&1)
	etag=$(sed -n 's/^http: stream 0x0 \[etag: \(.*\)\]$/\1/p' <<<"$out")
	lm=$(sed -n 's/^http: stream 0x0 \[last-modified: \(.*\)\]$/\1/p' <<<"$out")
	[[ -n $etag && -n $lm ]] || fail "no validators: $(grep 'http:' <<<"$out")"
	older=$(date -u -d "$lm - 1 second" '+%a, %d %b %Y %H:%M:%S GMT')
	q='"\(.status_2xx) \(.status_3xx) \(.body_bytes)"'
	for i in 1 2; do
		assert_eq "If-None-Match ($i)" "0 1 0" "$("$load" -k --json -n 1 \
			-H "if-none-match:$etag" "https://127.0.0.1:$QS_PORT/small.txt" | jq -r "$q")"
		assert_eq "If-None-Match, another version ($i)" "1 0 11" "$("$load" -k --json -n 1 \
			-H 'if-none-match:"other"' "https://127.0.0.1:$QS_PORT/small.txt" | jq -r "$q")"
		assert_eq "If-Modified-Since its date ($i)" "0 1 0" "$("$load" -k --json -n 1 \
			-H "if-modified-since:$lm" "https://127.0.0.1:$QS_PORT/small.txt" | jq -r "$q")"
		assert_eq "If-Modified-Since a second before ($i)" "1 0 11" "$("$load" -k --json -n 1 \
			-H "if-modified-since:$older" "https://127.0.0.1:$QS_PORT/small.txt" | jq -r "$q")"
	done
	assert_eq "Range with a matching If-Range" "1 0 5" "$("$load" -k --json -n 1 \
		-H "range:bytes=0-4" -H "if-range:$etag" "https://127.0.0.1:$QS_PORT/small.txt" |
		jq -r "$q")"
	assert_eq "Range with another version's If-Range" "1 0 11" "$("$load" -k --json -n 1 \
		-H "range:bytes=0-4" -H 'if-range:"other"' "https://127.0.0.1:$QS_PORT/small.txt" |
		jq -r "$q")"
	assert_eq "304s counted" 4 "$(workers_sum req_3xx)"
}

# --max-connections: a connection beyond the limit is refused at once
# (CONNECTION_REFUSED, not a timeout), the others keep being served
test_h3_max_connections_refuses_beyond() {
	local load=.output/quicsteer-load out t0 ms
	need_root_bpf || return
	[[ -x $load ]] || { need "$load (make)"; return; }
	h3_docroot
	qs_start maxconn 1 --max-connections 2
	t0=$(date +%s%N)
	out=$("$load" -k --json -c 3 -d 2 --timeout 5 "https://127.0.0.1:$QS_PORT/small.txt" 2>/dev/null) || true
	ms=$((($(date +%s%N) - t0) / 1000000))
	info "$(jq -c '{handshakes_ok, handshakes_failed, first_error}' <<<"$out") in $ms ms"
	assert_eq "connections served" 2 "$(jq .handshakes_ok <<<"$out")"
	assert_eq "connections refused" 1 "$(jq .handshakes_failed <<<"$out")"
	grep -q CONNECTION_REFUSED <<<"$(jq -r .first_error <<<"$out")" ||
		fail "the client was not told: $(jq -r .first_error <<<"$out")"
	assert_ge "Initials refused by the worker" 1 "$(workers_sum conn_refused)"
	assert_ge "requests served meanwhile" 100 "$(jq .status_2xx <<<"$out")"
	assert_eq "accepted" 2 "$(workers_sum conn_accepted)"
}

# a host with several addresses: listening on 0.0.0.0, every answer leaves
# from the address the client used (IP_PKTINFO), ECN-capable (ECT(0))
test_h3_answers_from_the_address_used_with_ecn() {
	local out a n bad
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start anyaddr 2 --listen "0.0.0.0:@PORT@"
	for a in 127.0.0.2 127.0.0.3; do
		out=$(timeout 20 "$GTLS" --exit-on-all-streams-close --no-quic-dump --timeout=5s \
			"$a" "$QS_PORT" "https://$a:$QS_PORT/small.txt" 2>&1)
		grep -q '\[:status: 200\]' <<<"$out" || fail "GET via $a: $(tail -3 <<<"$out")"
		n=$(grep -c '^Received packet: ' <<<"$out")
		bad=$(grep '^Received packet: ' <<<"$out" | grep -vc "remote=\[$a\]:$QS_PORT ecn=0x2 ") || true
		info "via $a: $n datagrams received, $bad from another address or without ECT(0)"
		assert_ge "datagrams the client received via $a" 2 "$n"
		assert_eq "answers not from $a or not ECT(0)" 0 "$bad"
	done
}

test_h3_path_traversal_never_leaks() {
	local rel p st
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	rel=$(basename "$OUTSIDE")
	ln -s "$OUTSIDE" "$QS_DOCROOT/escape-link"
	ln -s ../ "$QS_DOCROOT/up"
	qs_start trav 2
	for p in "/../$rel" "/%2e%2e/$rel" "/sub/../../$rel" "/%2e%2e%2f$rel" \
		"/sub/..%2f..%2f$rel" "/escape-link" "/up/$rel" "/..%5c$rel" \
		"/%00/../$rel" "//tmp/$rel" "/.%2e/$rel"; do
		st=$(statuses "https://127.0.0.1:$QS_PORT$p")
		info "$p -> ${st:-reset}"
		case $st in
		400 | 403 | 404 | "") ;;
		*) fail "$p answered $st" ;;
		esac
		(cd "$DL" && timeout 10 "$GTLS" -q --exit-on-all-streams-close --timeout=5s \
			--download="$DL" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT$p") || true
	done
	if grep -rq "TOP SECRET" "$DL"; then
		fail "a file outside the docroot leaked: $(grep -rl "TOP SECRET" "$DL")"
	fi
	assert_eq "2xx" 0 "$(workers_sum req_2xx)"
}

test_h3_workers_unprivileged_while_serving() {
	local pid
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start privh3 2
	assert_eq "GET" 200 "$(statuses "https://127.0.0.1:$QS_PORT/small.txt")"
	for w in 0 1; do
		pid=$(worker_stat $w pid)
		assert_eq "worker $w uid" "$(id -u www-data)" "$(awk '/^Uid:/ {print $2}' /proc/$pid/status)"
		assert_eq "worker $w CapEff" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' /proc/$pid/status)"
		assert_eq "worker $w NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' /proc/$pid/status)"
		# not dumpable: code running as the workers' user (PHP) cannot read
		# a worker's memory or environment, nor attach to it
		runuser -u www-data -- cat "/proc/$pid/environ" >/dev/null 2>&1 &&
			fail "www-data reads worker $w's environ"
		runuser -u www-data -- dd if="/proc/$pid/mem" bs=1 count=1 skip=4096 \
			of=/dev/null status=none 2>/dev/null &&
			fail "www-data reads worker $w's memory"
	done
	assert_eq "GET after the checks" 200 "$(statuses "https://127.0.0.1:$QS_PORT/small.txt")"
}

# --- migration: the heart of the HTTP/3 issue --------------------------------

# migrate_runs N PARALLEL EXTRA...: N downloads of 4m.bin that change their
# local address 5 ms after the handshake (mid-transfer); prints "ok failed"
migrate_runs() {
	local n=$1 par=$2 i ok=0 bad=0 j
	shift 2
	for ((i = 0; i < n; i += par)); do
		local pids=() dirs=()
		for ((j = 0; j < par && i + j < n; j++)); do
			local d="$DL/r$((i + j))"
			mkdir -p "$d"
			dirs+=("$d")
			(cd "$d" && timeout 20 "$GTLS" -q --exit-on-all-streams-close --timeout=3s \
				--change-local-addr=5ms "$@" --download="$d" 127.0.0.1 "$QS_PORT" \
				"https://127.0.0.1:$QS_PORT/4m.bin") >/dev/null 2>&1 &
			pids+=($!)
		done
		for ((j = 0; j < ${#pids[@]}; j++)); do
			wait "${pids[$j]}" || true
			if [[ -f ${dirs[$j]}/4m.bin && $(sha "${dirs[$j]}/4m.bin") == "$WANT" ]]; then
				ok=$((ok + 1))
			else
				bad=$((bad + 1))
			fi
			rm -rf "${dirs[$j]}"
		done
	done
	echo "$ok $bad"
}

migration_test() {
	local workers=$1 rebind=$2 n=50 res ok bad mig
	local extra=()
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	WANT=$(sha "$QS_DOCROOT/4m.bin")
	[[ $rebind == nat ]] && extra=(--nat-rebinding)
	qs_start "mig$workers$rebind" "$workers"
	# the NAT-rebinding emulation of gtlsclient is flaky when many run at once
	# (seen when the test was written): run those one by one, the others 5 at a time
	res=$(migrate_runs $n "$([[ $rebind == nat ]] && echo 1 || echo 5)" "${extra[@]}")
	read -r ok bad <<<"$res"
	mig=$(workers_sum migrations)
	info "$workers workers, ${rebind:-port change}: $ok of $n complete, $mig migrations" \
		"validated, foreign CIDs $(workers_sum rx_cid_foreign)"
	info "per worker (accepted/migrations): $(worker_stats_json | jq -r 'map("\(.key):\(.value.conn_accepted)/\(.value.migrations)") | join(" ")')"
	assert_eq "datagrams on a worker that did not mint their CID" 0 "$(workers_sum rx_cid_foreign)"
	# each migration is counted where the connection lives: by the worker
	# that minted its CIDs, which accepted it
	worker_stats_json | jq -e 'all(.[]; .value.migrations <= 2 * .value.conn_accepted)' >/dev/null ||
		fail "migrations counted on workers without connections"
	if [[ $rebind != nat ]]; then
		assert_eq "downloads complete with the right bytes" "$n" "$ok"
		assert_ge "migrations validated" "$n" "$mig"
		return
	fi
	# gtlsclient's --nat-rebinding emulation loses some transfers against
	# any server (it ignores packets on the new path until it is
	# validated): how quicsteer compares with gtlsserver there is
	# test_pacing_nat_rebinding_as_robust_as_gtlsserver (1 worker, 60
	# runs each).  Here steering is proven by the exact counters above;
	# the count only must not collapse with many workers
	assert_ge "migrations validated" "$ok" "$mig"
	assert_ge "completed at all" $((n / 3)) "$ok"
}

test_h3_migration_4_workers() { migration_test 4 ""; }
test_h3_migration_4_workers_nat_rebinding() { migration_test 4 nat; }
test_h3_migration_8_workers() { migration_test 8 ""; }
test_h3_migration_8_workers_nat_rebinding() { migration_test 8 nat; }

# the same with plain SO_REUSEPORT: migrated datagrams reach workers that
# do not know the connection, which answer with stateless resets
test_h3_migration_fails_with_steering_off() {
	local n=30 res ok bad
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	WANT=$(sha "$QS_DOCROOT/4m.bin")
	qs_start migoff 4 --steering off
	res=$(migrate_runs $n 5)
	read -r ok bad <<<"$res"
	info "steering off, 4 workers: $ok of $n complete, $bad failed," \
		"$(workers_sum stateless_resets) stateless resets, $(workers_sum rx_cid_foreign) foreign datagrams"
	assert_ge "failed downloads (about 3/4 expected)" $((n / 4)) "$bad"
	assert_ge "foreign datagrams" 1 "$(workers_sum rx_cid_foreign)"
}

# --- address validation, versions, hostile traffic, shutdown -------------------

test_h3_retry_always_and_new_token_across_workers() {
	local tok i before_retries issuer other acc0 acc1
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start retry 2 --retry always
	tok=$(mktemp /tmp/qs-test-token.XXXXXX)
	defer "rm -f $tok"
	rm -f "$tok"
	# every new connection without a token gets a Retry first
	for i in 1 2 3; do
		assert_eq "GET after Retry ($i)" 200 "$(statuses "https://127.0.0.1:$QS_PORT/small.txt")"
	done
	assert_eq "retries sent" 3 "$(workers_sum retries)"
	assert_eq "handshakes" 3 "$(workers_sum handshakes)"
	# a NEW_TOKEN token from one worker validates the address at the other:
	# connect from new source ports until the token's Initial lands there
	(cd "$DL" && timeout 10 "$GTLS" -q --exit-on-all-streams-close --timeout=5s \
		--token-file="$tok" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/small.txt") ||
		fail "first connection failed"
	[[ -s $tok ]] || fail "no NEW_TOKEN received"
	issuer=$( (worker_stat 0 handshakes; worker_stat 1 handshakes) | paste -sd' ')
	for i in $(seq 1 20); do
		acc0=$(worker_stat 0 conn_accepted)
		acc1=$(worker_stat 1 conn_accepted)
		before_retries=$(workers_sum retries)
		(cd "$DL" && timeout 10 "$GTLS" -q --exit-on-all-streams-close --timeout=5s \
			--token-file="$tok" 127.0.0.1 "$QS_PORT" \
			"https://127.0.0.1:$QS_PORT/small.txt") || fail "token connection $i failed"
		assert_eq "no Retry when the token is valid (connection $i)" "$before_retries" \
			"$(workers_sum retries)"
		if [[ $(worker_stat 0 conn_accepted) != "$acc0" ]]; then other=0; else other=1; fi
		info "token connection $i accepted by worker $other (handshakes before: $issuer)"
		[[ $i -gt 1 && $other != "$first" ]] && break
		first=$other
	done
	[[ $other != "$first" ]] || fail "never landed on the other worker in 20 tries"
	assert_eq "tokens rejected" 0 "$(workers_sum tokens_rejected)"

}

test_h3_quic_v2_and_version_negotiation() {
	local out
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start vers 2
	out=$(timeout 20 "$GTLS" -v v2 --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/small.txt" 2>&1)
	grep -q '\[:status: 200\]' <<<"$out" || fail "QUIC v2 GET: $(tail -5 <<<"$out")"
	# an unknown version: we answer with Version Negotiation, the client
	# picks v1 from our list and completes
	out=$(timeout 20 "$GTLS" -v 0x0a0a0a0a --preferred-versions=v1 --exit-on-all-streams-close \
		--no-quic-dump --no-http-dump --timeout=5s 127.0.0.1 "$QS_PORT" \
		"https://127.0.0.1:$QS_PORT/small.txt" 2>&1)
	assert_ge "version negotiations sent" 1 "$(workers_sum version_negotiations)"
	grep -q '\[:status: 200\]' <<<"$out" || fail "after VN: $(tail -5 <<<"$out")"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

test_h3_garbage_and_flood_memory_flat() {
	local pids before after w
	need_root_bpf || return
	not_sanitized "worker RSS figures" || return
	need_gtls || return
	h3_docroot
	qs_start flood 2
	assert_eq "GET before" 200 "$(statuses "https://127.0.0.1:$QS_PORT/small.txt")"
	pids=$(worker_stats_json | jq -r '.[].value.pid' | paste -sd' ')
	before=$(for p in $pids; do rss_kb "$p"; done | paste -sd' ')
	send --to "127.0.0.1:$QS_PORT" --kind garbage --count 2000 --ports 20 >/dev/null
	send --to "127.0.0.1:$QS_PORT" --kind truncated --count 2000 --ports 20 >/dev/null
	send --to "127.0.0.1:$QS_PORT" --kind initial --count 2000 --ports 50 >/dev/null
	# 10,000 random short-header datagrams (unknown CIDs: stateless resets, rate-limited)
	send --to "127.0.0.1:$QS_PORT" --kind short --count 10000 --ports 100 --seed 99 \
		--workers 64 --gen 3 >/dev/null
	sleep 1
	after=$(for p in $pids; do rss_kb "$p"; done | paste -sd' ')
	info "worker RSS before: $before kB, after: $after kB; resets sent" \
		"$(workers_sum stateless_resets), dropped $(workers_sum rx_dropped)"
	assert_eq "no worker restarted" "$pids" "$(worker_stats_json | jq -r '.[].value.pid' | paste -sd' ')"
	paste <(tr ' ' '\n' <<<"$before") <(tr ' ' '\n' <<<"$after") | while read -r b a; do
		(( a - b < 8192 )) || fail "RSS grew by $((a - b)) kB"
	done
	assert_eq "GET after" 200 "$(statuses "https://127.0.0.1:$QS_PORT/small.txt")"
	assert_ge "stateless resets (rate-limited, some)" 1 "$(workers_sum stateless_resets)"
	(( $(workers_sum stateless_resets) < 10000 )) || fail "stateless resets not rate-limited"

}

# SIGTERM mid-download: GOAWAY, the transfer finishes, then everything stops
test_h3_sigterm_drains_in_flight_requests() {
	local cpid status=0
	need_root_bpf || return
	need_gtls || return
	h3_docroot
	qs_start drain 2
	(cd "$DL" && timeout 30 "$GTLS" -q --exit-on-all-streams-close --timeout=5s \
		--download="$DL" 127.0.0.1 "$QS_PORT" "https://127.0.0.1:$QS_PORT/10m.bin") &
	cpid=$!
	wait_until 5 bash -c "[[ \$(source $ROOT/tests/lib.sh; QS_PIN=$QS_PIN workers_sum req_2xx) -ge 1 ]]" ||
		fail "request did not start"
	kill -TERM "$QS_PID"
	wait "$cpid" || status=$?
	assert_eq "client exit status" 0 "$status"
	assert_eq "10m.bin complete" "$(sha "$QS_DOCROOT/10m.bin")" "$(sha "$DL/10m.bin")"
	wait_until 10 is_dead "$QS_PID" || fail "quicsteerd did not stop"
	[[ ! -e $QS_PIN ]] || fail "pins left"
}
