# SPDX-License-Identifier: MIT
# --rate-limit: PHP requests per client address, counted over every worker
# and protocol: a burst over HTTP/3 (quicsteer-load) spends the client's
# allowance, its next request over HTTP/2 gets 429 with retry-after while
# another client (127.0.0.2) and static files are served; after the
# retry-after the client is served again.

rate_docroot() {
	make_docroot
	printf '<?php echo "php ok\\n";' >"$QS_DOCROOT/ok.php"
	chmod a+r "$QS_DOCROOT/ok.php"
}

# "STATUS RETRY-AFTER" of a GET over HTTP/2 from address FROM
get_from() { # FROM PATH
	curl -sk --http2 --interface "$1" --max-time 5 -o /dev/null -D - \
		"https://127.0.0.1:$QS_PORT$2" |
		awk 'NR == 1 { s = $2 } tolower($1) == "retry-after:" { r = $2 }
		     END { sub(/\r/, "", r); print s, (r == "" ? "-" : r) }'
}

test_ratelimit_429_shared_by_workers_and_protocols() {
	local out ok limited
	need_root_bpf || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	rate_docroot
	qs_start rate 2 --fastcgi managed --php-max-children 4 --rate-limit 2/s,10
	out=$(.output/quicsteer-load -k --json --any-status -c 4 -m 1 -n 40 -t 20 \
		"https://127.0.0.1:$QS_PORT/ok.php" 2>/dev/null) || true
	ok=$(jq .status_2xx <<<"$out")
	limited=$(jq .status_4xx <<<"$out")
	info "HTTP/3, 40 requests on 4 connections: $ok answered, $limited limited"
	# a burst of 10 and 2 a second while it runs (well under 5 s)
	((ok >= 10 && ok <= 20)) || fail "$ok of 40 let through for a burst of 10" || return
	assert_eq "the rest limited" 40 "$((ok + limited))" || return
	out=$(get_from 127.0.0.1 /ok.php)
	[[ $out == "429 "[1-9]* ]] || fail "same client over HTTP/2: $out (want 429 with retry-after)" ||
		return
	assert_eq "another client" "200 -" "$(get_from 127.0.0.2 /ok.php)" || return
	assert_eq "static files are not counted" "200 -" "$(get_from 127.0.0.1 /index.html)" ||
		return
	assert_ge "counted" "$limited" "$(workers_sum req_rate_limited)" || return
	sleep "${out#429 }"
	assert_eq "served after retry-after" "200 -" "$(get_from 127.0.0.1 /ok.php)"
}

test_ratelimit_bad_value_refused() {
	local out rc=0
	out=$("$QS" --rate-limit 10/minute --foreground 2>&1) || rc=$?
	((rc != 0)) || fail "started with --rate-limit 10/minute" || return
	[[ $out == *"--rate-limit '10/minute': expected off or RATE/s[,BURST]"* ]] ||
		fail "the error does not say what is expected: $out"
}
