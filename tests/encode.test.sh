# SPDX-License-Identifier: MIT
# Compression of responses (http/encode.c), precompressed static files and
# static cache headers (handler/files.c), through the real path: curl over
# HTTP/2 and HTTP/1.1, quicsteer-load over HTTP/3, bodies decoded with
# Debian's brotli, zstd and gzip and compared by sha256; the workers'
# counters (resp_compressed, resp_precompressed) as the oracle.

PY=/usr/bin/python3

need_encode_clients() {
	need_root_bpf || return
	curl -V 2>/dev/null | grep -q 'HTTP2' || { need "curl with HTTP2"; return; }
	local t
	for t in brotli zstd gzip; do
		command -v "$t" >/dev/null || { need "$t (Debian package $t)"; return; }
	done
	return 0
}

need_encode_php() {
	need_encode_clients || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# cu PROTO ARGS...: curl over PROTO (http2, http1.1) to the instance, URLs https://qs/PATH
cu() {
	local proto=$1
	shift
	curl -sk "--$proto" --max-time 30 --resolve "qs:$QS_PORT:127.0.0.1" "$@"
}

url() { echo "https://qs:$QS_PORT/$1"; }

# field NAME HEADERS: the value of a response field (lowercase name), CR cut
field() {
	{ grep -i "^$1:" <<<"$2" || true; } | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}

# a docroot with text of several sizes, precompressed variants and scripts
encode_docroot() {
	local i
	make_docroot
	DL=$(mktemp -d /tmp/qs-test-dl.XXXXXX)
	defer "rm -rf $DL"
	# 100 KB of HTML that compresses as a real page does (numbers vary)
	{ {
		echo '<!DOCTYPE html><html><head><title>page</title></head><body><table>'
		for ((i = 0; i < 2000; i++)); do
			echo "<tr><td class=\"n\">$i</td><td>item $((i * 7919 % 10007))</td><td>$((i * i))</td></tr>"
		done
		echo '</table></body></html>'
	} >"$DL/gen"; }
	head -c 102400 "$DL/gen" >"$QS_DOCROOT/page.html"
	head -c 4000 "$QS_DOCROOT/page.html" >"$QS_DOCROOT/small.html"	# the file cache's
	# over 1 MB: compressed as it is sent, by the request layer's filter;
	# base64 compresses to 3/4, so the client's window fills and the file
	# is read on as it takes bytes
	head -c 2000000 /dev/urandom | base64 >"$QS_DOCROOT/big.txt"
	head -c 100 "$QS_DOCROOT/page.html" >"$QS_DOCROOT/tiny.txt"	# below --compress-min-size
	head -c 20000 /dev/urandom >"$QS_DOCROOT/img.png"
	# app.js with its three variants, made by the Debian tools
	head -c 30000 "$QS_DOCROOT/page.html" | sed 's/td/var/g' >"$QS_DOCROOT/app.js"
	brotli -k -q 11 "$QS_DOCROOT/app.js"
	zstd -q -19 -k "$QS_DOCROOT/app.js"
	gzip -k -9 "$QS_DOCROOT/app.js"
	cp "$QS_DOCROOT/app.js" "$QS_DOCROOT/app.3f2a1c9e.js"
	# style.css's gzip variant is older than style.css: stale, never served
	head -c 20000 "$QS_DOCROOT/page.html" >"$QS_DOCROOT/style.css"
	echo "old content" | gzip >"$QS_DOCROOT/style.css.gz"
	touch -d '2 hours ago' "$QS_DOCROOT/style.css.gz"
	cat >"$QS_DOCROOT/page.php" <<'PHP'
<?php
header("Content-Type: text/html; charset=utf-8");
for ($i = 0; $i < 3000; $i++)
	echo "<p>line $i of the page: ", str_repeat("lorem ipsum ", $i % 7), "</p>\n";
PHP
	cat >"$QS_DOCROOT/own.php" <<'PHP'
<?php
header("Content-Type: text/plain");
header("Content-Encoding: gzip");
echo gzencode(str_repeat("already encoded by the script\n", 200));
PHP
	cat >"$QS_DOCROOT/notransform.php" <<'PHP'
<?php
header("Cache-Control: no-transform");
echo str_repeat("do not transform me\n", 200);
PHP
	printf '<?php header("Content-Type: text/html");' >"$QS_DOCROOT/empty.php"
	cat >"$QS_DOCROOT/short.php" <<'PHP'
<?php
header("Content-Length: 3");
echo "hi\n";
PHP
	# streams: a first part, a flush, 2 s of work, the rest
	cat >"$QS_DOCROOT/stream.php" <<'PHP'
<?php
echo "first part ", str_repeat("x", 100), "\n";
if (ob_get_level())
	ob_flush();	/* php.ini's output_buffering holds 4 KB */
flush();
sleep(2);
echo "second part ", str_repeat("y", 100000), "\n";
PHP
	chmod -R a+rX "$QS_DOCROOT"
}

# get PROTO CODING PATH: body into $DL/body, head into $DL/head (CODING "" : none sent)
get() {
	local ae=()
	[[ -n $2 ]] && ae=(-H "accept-encoding: $2")
	cu "$1" "${ae[@]}" -D "$DL/head" -o "$DL/body" "$(url "$3")"
}

# decode CODING: $DL/body decoded into $DL/plain
decode() {
	case $1 in
	identity) cp "$DL/body" "$DL/plain" ;;
	br) brotli -dc <"$DL/body" >"$DL/plain" ;;
	zstd) zstd -qdc <"$DL/body" >"$DL/plain" ;;
	gzip) gzip -dc <"$DL/body" >"$DL/plain" ;;
	esac
}

test_encode_every_coding_decodes_to_the_original() {
	local proto c p want n0
	need_encode_php || return
	encode_docroot
	qs_start enc 1 --fastcgi managed --php-max-children 2
	n0=$(workers_sum resp_compressed)
	for proto in http2 http1.1; do
		for p in page.php page.html small.html big.txt; do
			get "$proto" "" "$p" || fail "$proto $p: curl $?" || return
			grep -qi '^content-encoding' "$DL/head" && { fail "$p encoded unasked: $(cat "$DL/head")"; return; }
			want=$(sha "$DL/body")
			[[ $p == page.php ]] || assert_eq "$p plain" "$(sha "$QS_DOCROOT/$p")" "$want" || return
			for c in br zstd gzip; do
				get "$proto" "$c" "$p" || fail "$proto $p $c: curl $?" || return
				assert_eq "$proto $p content-encoding" "$c" \
					"$(field content-encoding "$(cat "$DL/head")")" || return
				assert_eq "$proto $p vary" "accept-encoding" \
					"$(field vary "$(cat "$DL/head")")" || return
				# a stream's length is unknown; a file's is its compressed length
				if [[ $p == page.php || $p == big.txt ]]; then
					grep -qi '^content-length' "$DL/head" &&
						{ fail "$proto $p $c kept content-length: $(cat "$DL/head")"; return; }
				else
					assert_eq "$proto $p $c length" "$(stat -c %s "$DL/body")" \
						"$(field content-length "$(cat "$DL/head")")" || return
				fi
				[[ $p == page.php ]] || [[ $(field etag "$(cat "$DL/head")") == W/* ]] ||
					fail "$proto $p $c: etag not weak: $(cat "$DL/head")" || return
				decode "$c" || fail "$proto $p: $c -d failed" || return
				assert_eq "$proto $p $c decoded" "$want" "$(sha "$DL/plain")" || return
				[[ $p == big.txt ]] || (($(stat -c %s "$DL/body") * 3 < $(stat -c %s "$DL/plain"))) ||
					fail "$proto $p $c: $(stat -c %s "$DL/body") bytes, not compressed" || return
			done
		done
	done
	# curl's own choice (--compressed) decodes too
	cu http2 --compressed -o "$DL/plain" "$(url page.html)" || fail "--compressed: $?" || return
	assert_eq "--compressed" "$(sha "$QS_DOCROOT/page.html")" "$(sha "$DL/plain")" || return
	# 2 protocols x 4 paths x 3 codings, and curl's
	assert_eq "resp_compressed" 25 $(($(workers_sum resp_compressed) - n0)) || return
	# an empty body is still a whole stream of the coding
	for c in br zstd gzip; do
		get http2 "$c" empty.php || fail "empty.php $c: curl $?" || return
		decode "$c" || fail "empty.php: $c -d failed on $(stat -c %s "$DL/body") bytes" || return
		assert_eq "empty.php $c decoded" 0 "$(stat -c %s "$DL/plain")" || return
	done
}

test_encode_http3_static_and_precompressed() {
	local load=.output/quicsteer-load size
	need_encode_clients || return
	[[ -x $load ]] || { need ".output/quicsteer-load (make)"; return; }
	encode_docroot
	qs_start enc3 1
	get http2 br page.html || fail "curl: $?" || return
	size=$(stat -c %s "$DL/body")
	assert_eq "br page.html" br "$(field content-encoding "$(cat "$DL/head")")" || return
	# the same encoder over HTTP/3: the same bytes (a file has no flushes)
	# (no blank after the colon: nghttp3 refuses a value that starts with one)
	"$load" -k -n 3 -H "accept-encoding:br" --expect-size "$size" \
		"https://127.0.0.1:$QS_PORT/page.html" >/dev/null ||
		fail "HTTP/3 br page.html is not $size bytes" || return
	"$load" -k -n 3 -H "accept-encoding:gzip, br;q=0.5" \
		--expect-size "$(stat -c %s "$QS_DOCROOT/app.js.gz")" \
		"https://127.0.0.1:$QS_PORT/app.js" >/dev/null ||
		fail "HTTP/3 app.js is not app.js.gz" || return
	# a file compressed as it is sent, its window filling: the same bytes too
	get http2 gzip big.txt || fail "curl: $?" || return
	"$load" -k -n 2 -H "accept-encoding:gzip" --expect-size "$(stat -c %s "$DL/body")" \
		"https://127.0.0.1:$QS_PORT/big.txt" >/dev/null ||
		fail "HTTP/3 gzip big.txt is not $(stat -c %s "$DL/body") bytes" || return
	"$load" -k -n 3 --expect-size 102400 "https://127.0.0.1:$QS_PORT/page.html" >/dev/null ||
		fail "HTTP/3 page.html without accept-encoding is not the file" || return
	assert_eq "resp_compressed" 7 "$(workers_sum resp_compressed)" || return
	assert_eq "resp_precompressed" 3 "$(workers_sum resp_precompressed)"
}

test_encode_qvalues_respected() {
	local ae want got
	need_encode_php || return
	encode_docroot
	qs_start encq 1 --fastcgi managed --php-max-children 2
	# among equal q-values: zstd for what is compressed as it is sent (a
	# quarter of Brotli's CPU), Brotli for a file compressed once
	get http2 'br, zstd, gzip' page.php || fail "curl: $?" || return
	assert_eq "page.php" zstd "$(field content-encoding "$(cat "$DL/head")")" || return
	get http2 'br, gzip' page.php || fail "curl: $?" || return
	assert_eq "page.php without zstd" br "$(field content-encoding "$(cat "$DL/head")")" || return
	while IFS='|' read -r ae want; do
		get http2 "$ae" small.html || fail "curl: $?" || return
		got=$(field content-encoding "$(cat "$DL/head")")
		assert_eq "accept-encoding '$ae'" "$want" "${got:-identity}" || return
	done <<'EOF'
br;q=0, gzip|gzip
br;q=0, zstd;q=0, *|gzip
gzip;q=0.5, zstd;q=0.8|zstd
br, zstd, gzip|br
gzip, zstd|zstd
*|br
BR;Q=1|br
x-gzip|gzip
*;q=0|identity
identity;q=1, br;q=0.5|identity
br;q=0.001, gzip;q=0.002|gzip
deflate, compress|identity
br;q=0, br|identity
EOF
}

test_encode_not_compressed() {
	local out
	need_encode_php || return
	encode_docroot
	qs_start encno 1 --fastcgi managed --php-max-children 2
	# Range: 206 of the original bytes
	cu http2 -H 'accept-encoding: br' -H 'range: bytes=100-199' -D "$DL/head" -o "$DL/body" \
		"$(url page.html)" || fail "curl: $?" || return
	grep -q '^HTTP/2 206' "$DL/head" || fail "range: $(cat "$DL/head")" || return
	grep -qi '^content-encoding' "$DL/head" && { fail "range encoded: $(cat "$DL/head")"; return; }
	assert_eq "range bytes" "$(tail -c +101 "$QS_DOCROOT/page.html" | head -c 100 | sha256sum | cut -d' ' -f1)" \
		"$(sha "$DL/body")" || return
	# the script's own coding stands, its bytes untouched
	get http2 br own.php || fail "curl: $?" || return
	assert_eq "own.php coding" gzip "$(field content-encoding "$(cat "$DL/head")")" || return
	decode gzip || fail "own.php is not the script's gzip" || return
	assert_eq "own.php" "$(php -r 'echo str_repeat("already encoded by the script\n", 200);' | sha256sum | cut -d' ' -f1)" \
		"$(sha "$DL/plain")" || return
	for p in notransform.php short.php tiny.txt img.png; do
		get http2 'br, gzip' "$p" || fail "curl $p: $?" || return
		grep -qi '^content-encoding' "$DL/head" && { fail "$p encoded: $(cat "$DL/head")"; return; }
		[[ $p != short.php ]] || assert_eq "short.php" "hi" "$(cat "$DL/body")" || return
	done
	# HEAD: the plain head, content-length included
	out=$(cu http2 -I -H 'accept-encoding: br' "$(url page.html)")
	grep -qi '^content-encoding' <<<"$out" && { fail "HEAD encoded: $out"; return; }
	grep -qi '^content-length: 102400' <<<"$out" || fail "HEAD length: $out" || return
	# 304 for the weak etag of a compressed answer
	get http2 br page.html || fail "curl: $?" || return
	out=$(cu http2 -D - -o /dev/null -H 'accept-encoding: br' \
		-H "if-none-match: $(field etag "$(cat "$DL/head")")" "$(url page.html)")
	grep -q '^HTTP/2 304' <<<"$out" || fail "if-none-match W/: $out" || return
	assert_eq "resp_compressed" 1 "$(workers_sum resp_compressed)"
}

test_encode_compress_off() {
	need_encode_php || return
	encode_docroot
	qs_start encoff 1 --fastcgi managed --php-max-children 2 --compress off
	for p in page.php page.html small.html; do
		get http2 'br, gzip' "$p" || fail "curl: $?" || return
		grep -qiE '^(content-encoding|vary)' "$DL/head" && { fail "$p: $(cat "$DL/head")"; return; }
	done
	# precompressed files are no compression: still served
	get http2 br app.js || fail "curl: $?" || return
	assert_eq "app.js.br" "$(sha "$QS_DOCROOT/app.js.br")" "$(sha "$DL/body")" || return
	assert_eq "resp_compressed" 0 "$(workers_sum resp_compressed)"
}

test_encode_php_stream_flushes() {
	local c t
	need_encode_php || return
	encode_docroot
	qs_start encstream 1 --fastcgi managed --php-max-children 2
	for c in identity gzip br zstd; do
		# the first bytes come while the script sleeps 2 s: printed times are
		# those of the first byte and of the end, from the request's start
		t=$(cu http2 -N -H "accept-encoding: $c" "$(url stream.php)" | "$PY" -c '
import os, sys, time
t0 = time.monotonic(); first = None; data = b""
while True:
    b = os.read(0, 65536)
    if not b: break
    if first is None: first = time.monotonic() - t0
    data += b
sys.stdout.buffer.write(b"%.2f %.2f\n" % (first, time.monotonic() - t0))
open(sys.argv[1], "wb").write(data)' "$DL/body") || fail "$c stream: $?" || return
		info "$c: first bytes after ${t% *} s, end after ${t#* } s"
		"$PY" -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if b - a >= 1.0 else 1)' $t ||
			fail "$c: the first bytes came with the end ($t): not flushed" || return
		decode "$c" || fail "$c: does not decode" || return
		head -c 10 "$DL/plain" | grep -q '^first part' || fail "$c: $(head -c 40 "$DL/plain")" || return
		assert_eq "$c stream length" 100125 "$(stat -c %s "$DL/plain")" || return
	done
}

test_encode_precompressed_variants() {
	local c ext out
	need_encode_clients || return
	encode_docroot
	qs_start encpre 1
	for c in br zstd gzip; do
		case $c in br) ext=br ;; zstd) ext=zst ;; gzip) ext=gz ;; esac
		# twice: the second from the worker's cache
		for _ in 1 2; do
			get http2 "$c" app.js || fail "curl: $?" || return
			assert_eq "app.js $c" "$(sha "$QS_DOCROOT/app.js.$ext")" "$(sha "$DL/body")" || return
			assert_eq "app.js $c coding" "$c" "$(field content-encoding "$(cat "$DL/head")")" || return
			assert_eq "app.js $c type" "text/javascript; charset=utf-8" \
				"$(field content-type "$(cat "$DL/head")")" || return
			assert_eq "app.js $c length" "$(stat -c %s "$QS_DOCROOT/app.js.$ext")" \
				"$(field content-length "$(cat "$DL/head")")" || return
			assert_eq "app.js $c vary" "accept-encoding" "$(field vary "$(cat "$DL/head")")" || return
		done
	done
	assert_eq "resp_precompressed" 6 "$(workers_sum resp_precompressed)" || return
	# the variant's own etag answers 304
	get http2 br app.js || fail "curl: $?" || return
	out=$(cu http2 -D - -o /dev/null -H 'accept-encoding: br' \
		-H "if-none-match: $(field etag "$(cat "$DL/head")")" "$(url app.js)")
	grep -q '^HTTP/2 304' <<<"$out" || fail "variant 304: $out" || return
	# Range: the original's bytes
	cu http2 -H 'accept-encoding: br' -H 'range: bytes=0-99' -o "$DL/body" "$(url app.js)" ||
		fail "curl: $?" || return
	assert_eq "range" "$(head -c 100 "$QS_DOCROOT/app.js" | sha256sum | cut -d' ' -f1)" \
		"$(sha "$DL/body")" || return
	# the stale style.css.gz is not served: style.css compressed now instead
	get http2 gzip style.css || fail "curl: $?" || return
	decode gzip || fail "style.css: not gzip" || return
	assert_eq "style.css" "$(sha "$QS_DOCROOT/style.css")" "$(sha "$DL/plain")" || return
	# and once fresh, it is
	touch "$QS_DOCROOT/style.css.gz"
	sleep 1.1	# the file cache's time to live
	get http2 gzip style.css || fail "curl: $?" || return
	assert_eq "fresh style.css.gz" "$(sha "$QS_DOCROOT/style.css.gz")" "$(sha "$DL/body")"
}

test_encode_static_cache_headers() {
	local out cc exp now t
	need_encode_php || return
	encode_docroot
	printf '<?php echo "dynamic\\n";' >"$QS_DOCROOT/dyn.php"
	chmod a+r "$QS_DOCROOT/dyn.php"
	qs_start enccache 1 --fastcgi managed --php-max-children 2
	for _ in 1 2; do	# resolved, then from the file cache
		out=$(cu http2 -D - -o /dev/null "$(url small.html)")
		assert_eq "small.html cache-control" "public, max-age=3600" "$(field cache-control "$out")" || return
		# expires: for HTTP/1.0 caches, over HTTP/1.x only
		assert_eq "HTTP/2 expires" "" "$(field expires "$out")" || return
		out=$(cu http1.1 -D - -o /dev/null "$(url small.html)")
		exp=$(field expires "$out")
		t=$(date -u -d "$exp" +%s) now=$(date -u +%s)
		((t >= now + 3595 && t <= now + 3601)) || fail "expires $exp is not in an hour" || return
	done
	out=$(cu http2 -D - -o /dev/null "$(url app.3f2a1c9e.js)")
	assert_eq "fingerprinted" "public, max-age=31536000, immutable" "$(field cache-control "$out")" || return
	out=$(cu http2 -D - -o /dev/null "$(url page.html)")	# streamed from its file
	assert_eq "page.html cache-control" "public, max-age=3600" "$(field cache-control "$out")" || return
	out=$(cu http2 -D - -o /dev/null "$(url dyn.php)")
	cc=$(field cache-control "$out")
	[[ -z $cc && -z $(field expires "$out") ]] || fail "PHP got static cache headers: $out" || return
	qs_kill "$QS_PID"
	qs_start enccache2 1 --static-cache-control ''
	out=$(cu http2 -D - -o /dev/null "$(url small.html)")
	[[ -z $(field cache-control "$out") && -z $(field expires "$out") ]] ||
		fail "--static-cache-control '': $out"
}

test_encode_hostile_accept_encoding() {
	local huge odd
	need_encode_clients || return
	encode_docroot
	qs_start enchostile 1
	huge=$(printf 'x-unknown-%d;q=0.5, ' $(seq 2000))
	get http2 "${huge}gzip;q=0.1" small.html || fail "curl: $?" || return
	assert_eq "huge accept-encoding" gzip "$(field content-encoding "$(cat "$DL/head")")" || return
	for odd in 'br;q=2' 'br;q=-1' 'br;q=0.0001' 'br;q=abc' 'br;q=' 'br;;;q' ';q=1' ',,,,' \
		'br;q=1.001' 'gzip;q=0.5;q=0' '"br"' 'br;q =0.5'; do
		get http2 "$odd" small.html || fail "curl '$odd': $?" || return
		grep -q '^HTTP/2 200' "$DL/head" || fail "'$odd': $(cat "$DL/head")" || return
		case $(field content-encoding "$(cat "$DL/head")") in
		'') ;;
		br) [[ $odd == 'br;;;q' || $odd == 'br;q =0.5' ]] || fail "'$odd' got br" || return ;;
		*) fail "'$odd': $(cat "$DL/head")"; return ;;
		esac
	done
	kill -0 "$QS_PID" || fail "the server died"
}
