# SPDX-License-Identifier: MIT
# X-Accel-Redirect (--accel-redirect PREFIX=DIR): a script hands a 50 MB
# download to the server: the file with the script's other fields, Range
# and conditional requests, over HTTP/2, HTTP/1.1 and HTTP/3; the internal
# location refused when asked for directly (even inside the docroot); the
# php-fpm child free while the download goes on; a redirect outside the
# location is the script's fault (500, logged).

accel_site() {
	make_docroot
	ACCEL=$QS_DOCROOT/protected	# inside the docroot: clients must still not reach it
	mkdir -p "$ACCEL"
	head -c 50000000 /dev/urandom >"$ACCEL/big.bin"
	cat >"$QS_DOCROOT/dl.php" <<'PHP'
<?php
header("X-Accel-Redirect: /protected/" . ($_GET["f"] ?? "big.bin"));
header("Content-Type: application/octet-stream");
header("Content-Disposition: attachment; filename=\"big.bin\"");
header("X-From-Script: yes");
echo "the script's body is dropped";
PHP
	printf '<?php header("X-Accel-Redirect: /elsewhere/x.bin");' >"$QS_DOCROOT/bad.php"
	printf '<?php echo "hi\\n";' >"$QS_DOCROOT/hi.php"
	chmod -R a+rX "$QS_DOCROOT"
	DL=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $DL"
	BIG_SHA=$(sha256sum <"$ACCEL/big.bin" | cut -d' ' -f1)
}

url() { echo "https://127.0.0.1:$QS_PORT$1"; }

test_accel_redirect_serves_the_file() {
	local h etag part
	need_root_bpf || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	accel_site
	qs_start accel 1 --fastcgi managed --php-max-children 2 \
		--accel-redirect "/protected/=$ACCEL"
	h=$(curl -sk --http2 --max-time 30 -D - -o "$DL/a" "$(url /dl.php)")
	assert_eq "HTTP/2: the file" "$BIG_SHA" "$(sha256sum <"$DL/a" | cut -d' ' -f1)" || return
	grep -qi '^content-disposition: attachment; filename="big.bin"' <<<"$h" ||
		fail "the script's fields: $h" || return
	grep -qi '^x-from-script: yes' <<<"$h" || fail "x-from-script lost" || return
	grep -qi '^content-type: application/octet-stream' <<<"$h" || fail "type: $h" || return
	grep -qi '^x-accel-redirect' <<<"$h" && fail "x-accel-redirect went to the client" && return 1
	grep -qi '^content-length: 50000000' <<<"$h" || fail "length: $h" || return
	etag=$(grep -i '^etag:' <<<"$h" | cut -d' ' -f2 | tr -d '\r')
	# Range over HTTP/1.1
	curl -sk --http1.1 --max-time 10 -r 1000-1999 -o "$DL/part" "$(url /dl.php)"
	part=$(dd if="$ACCEL/big.bin" bs=1000 skip=1 count=1 2>/dev/null | sha256sum | cut -d" " -f1)
	assert_eq "Range" "$part" "$(sha256sum <"$DL/part" | cut -d' ' -f1)" || return
	assert_eq "conditional" 304 "$(curl -sk --http2 --max-time 10 -o /dev/null \
		-w '%{http_code}' -H "if-none-match: $etag" "$(url /dl.php)")" || return
	# HTTP/3
	(cd "$DL" && timeout 30 gtlsclient -q --exit-on-all-streams-close --timeout=10s \
		--download="$DL" 127.0.0.1 "$QS_PORT" "$(url /dl.php)" >/dev/null 2>&1) || true
	assert_eq "HTTP/3: the file" "$BIG_SHA" "$(sha256sum <"$DL/dl.php" | cut -d' ' -f1)" ||
		return
	# the location itself, and a missing file
	assert_eq "direct request" 404 "$(curl -sk --http2 -o /dev/null -w '%{http_code}' \
		"$(url /protected/big.bin)")" || return
	assert_eq "direct request, no slash" 404 "$(curl -sk --http2 -o /dev/null \
		-w '%{http_code}' "$(url /protected)")" || return
	assert_eq "missing file" 404 "$(curl -sk --http2 -o /dev/null -w '%{http_code}' \
		"$(url '/dl.php?f=none.bin')")" || return
	assert_eq "outside the location" 500 "$(curl -sk --http2 -o /dev/null \
		-w '%{http_code}' "$(url /bad.php)")" || return
	grep -q "x-accel-redirect /elsewhere/x.bin is not under --accel-redirect" "$QS_LOG" ||
		fail "the 500 is not explained in the log"
}

# one php-fpm child: a slow download of the script's file holds no child
test_accel_redirect_frees_the_child() {
	local pid code
	need_root_bpf || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	accel_site
	qs_start accelfree 1 --fastcgi managed --php-max-children 1 \
		--accel-redirect "/protected/=$ACCEL"
	curl -sk --http2 --max-time 20 --limit-rate 1M -o /dev/null "$(url /dl.php)" &
	pid=$!
	defer "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	sleep 1
	kill -0 "$pid" 2>/dev/null || fail "the slow download ended early" || return
	code=$(curl -sk --http2 --max-time 3 -o /dev/null -w '%{http_code}' "$(url /hi.php)")
	assert_eq "PHP answers while the download goes on" 200 "$code"
}

test_accel_redirect_bad_option() {
	local out rc=0
	out=$("$QS" --accel-redirect protected=/srv --foreground 2>&1) || rc=$?
	((rc != 0)) || fail "started with --accel-redirect protected=/srv" || return
	[[ $out == *"expected off or PREFIX=DIR"* ]] || fail "no reason given: $out"
}
