# SPDX-License-Identifier: MIT
# --error-pages DIR: the operator's pages for the errors the server answers
# itself, over HTTP/3 (gtlsclient), HTTP/2 and HTTP/1.1 (curl); a page that
# cannot be used is logged and left to the built-in one; a reload takes
# new pages.

# pages: 404 and 502 of ours, a 500 too large to take, no 400
errpages_dir() {
	PAGES=$(mktemp -d /tmp/qs-test-pages.XXXXXX)
	defer "rm -rf $PAGES"
	printf '<!DOCTYPE html><p>our own 404 page</p>\n' >"$PAGES/404.html"
	printf '<!DOCTYPE html><p>php is resting: 502</p>\n' >"$PAGES/502.html"
	head -c 70000 /dev/zero | tr '\0' 'x' >"$PAGES/500.html"
	chmod 644 "$PAGES"/*
	chmod 777 "$PAGES"	# the test writes bodies there; the workers read pages
}

# "STATUS BODY-SHA256" of a GET over HTTP/VERSION (2 or 1.1)
get_tcp() { # VERSION PATH
	local code
	code=$(curl -sk "--http$1" --max-time 5 -o "$PAGES/.body" -w '%{http_code}' \
		"https://127.0.0.1:$QS_PORT$2")
	echo "$code $(sha256sum <"$PAGES/.body" | cut -d' ' -f1)"
}
page() { echo "$1 $(sha256sum <"$PAGES/$1.html" | cut -d' ' -f1)"; }

test_errpages_served_on_every_protocol() {
	local out
	need_root_bpf || return
	command -v gtlsclient >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	errpages_dir
	make_docroot
	printf '<?php echo "never";' >"$QS_DOCROOT/x.php"
	chmod a+r "$QS_DOCROOT/x.php"
	qs_start errp 1 --error-pages "$PAGES" --fastcgi unix:/nonexistent/php.sock
	assert_eq "404 over HTTP/2" "$(page 404)" "$(get_tcp 2 /missing.txt)" || return
	assert_eq "404 over HTTP/1.1" "$(page 404)" "$(get_tcp 1.1 /missing.txt)" || return
	assert_eq "502 with php-fpm down" "$(page 502)" "$(get_tcp 2 /x.php)" || return
	mkdir -p "$PAGES/h3"
	(cd "$PAGES/h3" && timeout 20 gtlsclient -q --exit-on-all-streams-close --timeout=5s \
		--download="$PAGES/h3" 127.0.0.1 "$QS_PORT" \
		"https://127.0.0.1:$QS_PORT/missing.txt" >/dev/null 2>&1) || true
	cmp -s "$PAGES/404.html" "$PAGES/h3/missing.txt" ||
		fail "404 over HTTP/3: $(head -c 200 "$PAGES/h3/missing.txt" 2>&1)" || return
	# no 400.html: the built-in page; a bad request still closes
	out=$(printf 'GET / HTTP/1.1\r\n\r\n' | timeout 5 openssl s_client -quiet \
		-connect "127.0.0.1:$QS_PORT" -alpn http/1.1 2>/dev/null | head -c 2000)
	[[ $out == "HTTP/1.1 400"*"<h1>400 Bad Request</h1>"* ]] ||
		fail "built-in 400: $out" || return
	# 70 KB: over the limit of a page, named in the log
	grep -q "500.html: larger than 64 KB" "$QS_LOG" || fail "500.html not reported" || return
	# a reload's workers read the pages again
	printf '<!DOCTYPE html><p>a new 404 page</p>\n' >"$PAGES/404.html"
	kill -HUP "$QS_PID"
	wait_until 10 bash -c "curl -sk --http2 --max-time 2 https://127.0.0.1:$QS_PORT/nope |
		grep -q 'a new 404 page'" || fail "the reload's workers serve the old page"
}

test_errpages_bad_dir_refused_at_start() {
	local out rc=0
	need_root_bpf || return
	out=$("$QS" --foreground --instance "t$$-errbad" --error-pages /nonexistent/pages 2>&1) ||
		rc=$?
	((rc != 0)) || fail "started with a missing --error-pages dir" || return
	[[ $out == *"--error-pages /nonexistent/pages: No such file or directory"* ]] ||
		fail "the error does not name the cause: $out"
}
