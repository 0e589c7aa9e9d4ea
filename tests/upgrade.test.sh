# SPDX-License-Identifier: MIT
# Binary upgrade (SIGUSR2): the loader checks the new binary, execs it in
# its own process (same pid), which adopts the pins, sockets and workers and
# reloads into a generation of its own workers while the old one drains; a
# binary that fails its check, or cannot adopt, leaves the old one serving.

GTLS=${GTLS:-gtlsclient}

up_need() {
	need_root_bpf || return
	command -v "$GTLS" >/dev/null || { need "gtlsclient (package ngtcp2-client)"; return; }
	curl -V 2>/dev/null | grep -q 'HTTP2' || { need "curl with HTTP2"; return; }
	UP=$(mktemp -d /tmp/qs-test-up.XXXXXX)
	defer "rm -rf $UP"
	return 0
}

up_gen_running() { # GEN: workers of that generation with a live process
	worker_stats_json | jq "[.[] | select(.key / 64 | floor == $1) | select(.value.pid > 0)] | length"
}
up_gen_is() { [[ $(up_gen_running "$1") == "$2" ]]; } # GEN N
up_gen_sum() { # GEN FIELD
	worker_stats_json | jq "[.[] | select(.key / 64 | floor == $1) | .value.$2] | add // 0"
}
up_tx_over() { (( $(workers_sum tx_bytes) > $1 )); }
up_file_over() { [[ -e $1 ]] && (( $(stat -c %s "$1") > $2 )); } # FILE BYTES
up_logged() { grep -q -- "$1" "$QS_LOG"; }
up_children() { pgrep -P "$QS_PID" | sort | tr '\n' ' '; }
up_pins() { ls "$QS_PIN" | tr '\n' ' '; }
# the loader's descriptors by kind: sockets, memfds, pipes, files (not its
# anon inodes: an adopting loader holds the pinned maps, not the programs)
up_fds() {
	local f kinds=""
	for f in /proc/"$QS_PID"/fd/*; do
		kinds+="$(readlink "$f" | sed 's/:.*//; s|^/memfd.*|memfd|; s|^/.*|file|; /^anon_inode/d')"$'\n'
	done
	sort <<<"$kinds" | uniq -c | awk 'NF == 2 {printf "%s%s=%s", sep, $2, $1; sep=" "}'
}
# the loader's descriptors above stderr that a child it execs would inherit
# (what it inherited itself from the test's shell among them)
up_inheritable() {
	local f fd flags
	for f in /proc/"$QS_PID"/fdinfo/*; do
		fd=${f##*/}
		((fd > 2)) || continue
		flags=$(awk '/^flags:/ {print $2}' "$f" 2>/dev/null) || continue
		[[ -n $flags ]] && (( (8#$flags & 8#2000000) == 0 )) && echo -n "$fd "
	done
	return 0
}
up_h3() { # URL...: statuses of one QUIC connection
	timeout 20 "$GTLS" --exit-on-all-streams-close --no-quic-dump --no-http-dump \
		--timeout=5s 127.0.0.1 "$QS_PORT" "$@" 2>&1 | gtls_statuses | sort | uniq -c |
		awk '{printf "%s%sx%s", sep, $1, $2; sep=" "}'
}
up_h2() { curl -sk --http2 --max-time 30 --resolve "qs:$QS_PORT:127.0.0.1" "$@"; }

# New connections, one a 0.1 s over QUIC and one over HTTP/2, until the
# file STOP exists; a line per failure in FAILS, a line per success in OKS.
up_prober() {
	local out
	while [[ ! -e $UP/stop ]]; do
		out=$(up_h3 "https://127.0.0.1:$QS_PORT/index.html")
		[[ $out == "1x200" ]] && echo h3 >>"$UP/oks" || echo "h3: $out" >>"$UP/fails"
		if up_h2 -o /dev/null -w '%{http_code}\n' "https://qs:$QS_PORT/index.html" |
			grep -qx 200; then
			echo h2 >>"$UP/oks"
		else
			echo h2 >>"$UP/fails"
		fi
		sleep 0.1
	done
}

# up_start NAME WORKERS ARGS: an instance whose upgrades take $UP/next
up_start() {
	export QUICSTEER_UPGRADE_BINARY=$UP/next
	ln -sf "$QS" "$UP/next"
	qs_start "$@"
}

# up_wait_upgraded GEN: the upgrade into generation GEN completed, its
# workers serve, the previous generation drained away
up_wait_upgraded() {
	local prev=$(( ($1 + 3) % 4 ))
	wait_until 10 up_logged "binary upgrade: the loader (pid $QS_PID) runs version .*; generation $1" ||
		fail "no upgrade into generation $1: $(tail -5 "$QS_LOG")" || return
	wait_until 10 up_gen_is "$1" "$2" || fail "generation $1 does not run $2 workers" || return
	wait_until 40 up_gen_is "$prev" 0 || fail "generation $prev still runs" || return
}

test_upgrade_same_binary_under_load() {
	local h3pid h2pid ppid pins fds inheritable old_pids sum p i urls=()
	up_need || return
	make_docroot
	head -c 8000000 /dev/urandom >"$QS_DOCROOT/8m.bin"
	head -c 30000000 /dev/urandom >"$QS_DOCROOT/30m.bin"
	# 60 distinct paths (hard links): one file each in gtlsclient's --download
	for i in $(seq 60); do
		ln "$QS_DOCROOT/8m.bin" "$QS_DOCROOT/f$i.bin"
		urls+=("https://127.0.0.1:@PORT@/f$i.bin")
	done
	chmod -R a+rX "$QS_DOCROOT"
	sum=$(sha256sum <"$QS_DOCROOT/8m.bin" | cut -d' ' -f1)
	# the default binary: what /proc/self/exe names, i.e. make's
	unset QUICSTEER_UPGRADE_BINARY
	qs_start upgrade 2 --drain-timeout 40
	pins=$(up_pins)
	fds=$(up_fds)
	inheritable=$(up_inheritable)
	old_pids=$(up_children)
	# in flight across the upgrade: 480 MB over one QUIC connection, 30 MB
	# over HTTP/2 at 10 MB/s, new connections all along
	mkdir "$UP/dl"
	(cd "$UP" && timeout 60 "$GTLS" --exit-on-all-streams-close --no-quic-dump \
		--no-http-dump --timeout=10s --download="$UP/dl" 127.0.0.1 "$QS_PORT" \
		"${urls[@]//@PORT@/$QS_PORT}" 2>&1 | gtls_statuses | sort | uniq -c |
		awk '{printf "%s%sx%s", sep, $1, $2; sep=" "}' >"$UP/h3.out") &
	h3pid=$!
	defer "kill $h3pid 2>/dev/null; wait $h3pid 2>/dev/null || true"
	up_h2 --limit-rate 10M -o "$UP/h2.bin" "https://qs:$QS_PORT/30m.bin" &
	h2pid=$!
	defer "kill $h2pid 2>/dev/null; wait $h2pid 2>/dev/null || true"
	up_prober &
	ppid=$!
	defer "touch $UP/stop; kill $ppid 2>/dev/null; wait $ppid 2>/dev/null || true"
	wait_until 10 up_tx_over 20000000 || fail "the downloads did not start" || return
	kill -USR2 "$QS_PID"
	wait_until 10 up_logged "binary upgrade: executing" || fail "no exec" || return
	kill -0 "$h2pid" 2>/dev/null ||
		fail "the HTTP/2 download was over before the exec: $(ls -l "$UP/h2.bin")" || return
	kill -0 "$h3pid" 2>/dev/null ||
		fail "the QUIC downloads were over before the exec: $(cat "$UP/h3.out"; ls "$UP/dl" | wc -l)" || return
	up_wait_upgraded 1 2 || return
	grep -q "binary upgrade: executing $(readlink -f "$QS") in this process (pid $QS_PID)" \
		"$QS_LOG" || fail "not make's binary, or not in place: $(grep 'binary upgrade' "$QS_LOG")"
	kill -0 "$QS_PID" || fail "the loader is gone"
	wait "$h3pid" || true
	wait "$h2pid" || fail "the HTTP/2 download failed"
	touch "$UP/stop"
	wait "$ppid" || true
	assert_eq "QUIC downloads across the upgrade" "60x200" "$(cat "$UP/h3.out")"
	for i in $(seq 60); do
		p=$(sha256sum <"$UP/dl/f$i.bin" 2>/dev/null | cut -d' ' -f1)
		[[ $p == "$sum" ]] || fail "f$i.bin over HTTP/3: sha256 ${p:-missing}" || return
	done
	assert_eq "HTTP/2 download's sha256" "$(sha256sum <"$QS_DOCROOT/30m.bin" | cut -d' ' -f1)" \
		"$(sha256sum <"$UP/h2.bin" | cut -d' ' -f1)"
	assert_eq "new connections that failed" "" "$(cat "$UP/fails" 2>/dev/null || true)"
	assert_ge "new connections that succeeded" 4 "$(wc -l <"$UP/oks")"
	assert_ge "handshakes on generation 1" 2 "$(up_gen_sum 1 handshakes)"
	assert_eq "datagrams on a worker that did not mint their CID" 0 "$(workers_sum rx_cid_foreign)"
	for p in $old_pids; do
		wait_until 5 is_dead "$p" || fail "old worker $p still there" || return
	done
	assert_eq "generation 0 started once each (never restarted)" 2 "$(up_gen_sum 0 starts)"
	# nothing twice: pins, descriptors, processes are what they were
	assert_eq "pins" "$pins" "$(up_pins)"
	assert_eq "the loader's descriptors" "$fds" "$(up_fds)"
	assert_eq "children of the loader" 2 "$(pgrep -P "$QS_PID" | wc -l)"
	assert_eq "descriptors without close-on-exec" "$inheritable" "$(up_inheritable)"
	assert_eq "socket slots" "64 65" \
		"$(bpftool -j map dump pinned "$QS_PIN/qs_socks" | jq -r '[.[] | .formatted | select(.value != null) | .key] | sort | join(" ")')"
	grep -q "^ok: the loader (pid $QS_PID)" "/run/quicsteer/$QS_INST/upgrade" ||
		fail "status: $(cat "/run/quicsteer/$QS_INST/upgrade")"
}

test_upgrade_to_failing_binary_keeps_serving() {
	local pids pins fds out
	up_need || return
	up_start upfail 2
	pids=$(up_children)
	pins=$(up_pins)
	fds=$(up_fds)
	# a binary that exits 1 at once
	printf '#!/bin/sh\nexit 1\n' >"$UP/false.sh"
	chmod +x "$UP/false.sh"
	ln -sf "$UP/false.sh" "$UP/next"
	kill -USR2 "$QS_PID"
	wait_until 15 up_logged "binary upgrade refused: the new binary $UP/next failed its check (--check-config), status 1" ||
		fail "no refusal logged: $(tail -3 "$QS_LOG")" || return
	grep -q "^failed: the new binary $UP/next failed its check" "/run/quicsteer/$QS_INST/upgrade" ||
		fail "status: $(cat "/run/quicsteer/$QS_INST/upgrade")"
	# quicsteerctl upgrade: the reason and exit 1
	if out=$("$ROOT/quicsteerctl" -i "$QS_INST" upgrade 2>&1); then
		fail "quicsteerctl upgrade succeeded: $out" || return
	fi
	grep -q "^failed: the new binary $UP/next failed its check (--check-config), status 1" \
		<<<"$out" || fail "quicsteerctl upgrade said: $out" || return
	# one that succeeds but is no quicsteerd
	ln -sf /bin/true "$UP/next"
	kill -USR2 "$QS_PID"
	wait_until 15 up_logged "refused: $UP/next does not speak the upgrade protocol" ||
		fail "/bin/true taken: $(tail -3 "$QS_LOG")" || return
	# one that never finishes its check: killed after 10 s, with what it started
	printf '#!/bin/sh\nsleep 61.37\necho done\n' >"$UP/slow.sh"
	chmod +x "$UP/slow.sh"
	ln -sf "$UP/slow.sh" "$UP/next"
	kill -USR2 "$QS_PID"
	wait_until 20 up_logged "refused: the new binary $UP/next did not finish its check (--check-config) in 10 s" ||
		fail "no timeout: $(tail -3 "$QS_LOG")" || return
	wait_until 5 bash -c "! pgrep -f '^sleep 61\.37\$' >/dev/null" ||
		fail "the check's children left behind"
	# a quicsteerd that passes its check, then cannot adopt: the old one resumes
	# (and quicsteerctl hears it from the binary that could not)
	printf '#!/bin/sh\ncase " $* " in *" --check-config "*) exec %s "$@";; esac\nQUICSTEER_TEST_FAIL_ADOPT=1 exec %s "$@"\n' \
		"$QS" "$QS" >"$UP/noadopt.sh"
	chmod +x "$UP/noadopt.sh"
	ln -sf "$UP/noadopt.sh" "$UP/next"
	if out=$("$ROOT/quicsteerctl" -i "$QS_INST" upgrade 2>&1); then
		fail "quicsteerctl upgrade succeeded: $out" || return
	fi
	grep -q "^failed: the new binary could not adopt the running instance: QUICSTEER_TEST_FAIL_ADOPT" \
		<<<"$out" || fail "quicsteerctl upgrade said: $out" || return
	wait_until 15 up_logged "binary upgrade failed (see above): this binary resumed generation 0" ||
		fail "no resume: $(tail -5 "$QS_LOG")" || return
	grep -q "^failed: the new binary could not adopt the running instance: QUICSTEER_TEST_FAIL_ADOPT" \
		"/run/quicsteer/$QS_INST/upgrade" || fail "status: $(cat "/run/quicsteer/$QS_INST/upgrade")"
	assert_eq "the loader's name" quicsteerd "$(cat "/proc/$QS_PID/comm")"
	# one that stops before it adopts (as on a configuration error): resumed too
	sed 's/QUICSTEER_TEST_FAIL_ADOPT/QUICSTEER_TEST_FAIL_START/' "$UP/noadopt.sh" >"$UP/nostart.sh"
	chmod +x "$UP/nostart.sh"
	ln -sf "$UP/nostart.sh" "$UP/next"
	kill -USR2 "$QS_PID"
	wait_until 15 bash -c "[[ \$(grep -c 'this binary resumed generation 0' $QS_LOG) == 2 ]]" ||
		fail "no resume after an early stop: $(tail -5 "$QS_LOG")" || return
	# (before its configuration it knows no log file: its reason went to stderr)
	# nothing changed: the same workers serve, nothing more is open or pinned
	assert_eq "workers" "$pids" "$(up_children)"
	assert_eq "pins" "$pins" "$(up_pins)"
	assert_eq "the loader's descriptors" "$fds" "$(up_fds)"
	assert_eq "generation 1" 0 "$(up_gen_running 1)"
	out=$(up_h3 "https://127.0.0.1:$QS_PORT/index.html")
	assert_eq "served over QUIC" "1x200" "$out"
	out=$(up_h2 -o /dev/null -w '%{http_code}' "https://qs:$QS_PORT/index.html")
	assert_eq "served over HTTP/2" 200 "$out"
	# and the resumed loader still upgrades
	ln -sf "$QS" "$UP/next"
	kill -USR2 "$QS_PID"
	up_wait_upgraded 1 2 || return
}

test_upgrade_twice_then_sigterm_leaves_nothing() {
	local p pids mport out st cpid
	up_need || return
	mport=$((20000 + RANDOM % 30000))
	make_docroot
	head -c 6000000 /dev/urandom >"$QS_DOCROOT/6m.bin"
	chmod a+r "$QS_DOCROOT/6m.bin"
	up_start uptwice 2 --metrics "127.0.0.1:$mport" --drain-timeout 20
	# a download keeps generation 0 draining for 3 s after the first upgrade
	up_h2 --limit-rate 2M -o "$UP/6m.bin" "https://qs:$QS_PORT/6m.bin" &
	cpid=$!
	defer "kill $cpid 2>/dev/null; wait $cpid 2>/dev/null || true"
	wait_until 5 up_file_over "$UP/6m.bin" 500000 || fail "the download did not start" || return
	kill -USR2 "$QS_PID"
	wait_until 10 up_logged "binary upgrade: the loader (pid $QS_PID) runs version .*; generation 1" ||
		fail "no first upgrade: $(tail -3 "$QS_LOG")" || return
	kill -USR2 "$QS_PID"
	# (refused as a reload in progress instead while generation 1 starts: ~50 ms)
	wait_until 10 up_logged "binary upgrade refused: \(generation 0 is still draining\|a reload is in progress\)" ||
		fail "a second upgrade during the drain: $(tail -3 "$QS_LOG")" || return
	wait "$cpid" || fail "the download across the upgrade failed"
	up_wait_upgraded 1 2 || return
	out=$("$ROOT/quicsteerctl" -i "$QS_INST" upgrade) || fail "quicsteerctl upgrade: $out" || return
	grep -q "^ok: the loader (pid $QS_PID) runs version .*; generation 2 of its workers starts" \
		<<<"$out" || fail "quicsteerctl upgrade said: $out" || return
	up_wait_upgraded 2 2 || return
	out=$(curl -s "http://127.0.0.1:$mport/metrics")
	grep -qx "quicsteer_upgrades_total 2" <<<"$out" || fail "upgrades_total: $(grep upgrade <<<"$out")"
	grep -qx "quicsteer_upgrade_last_ok 1" <<<"$out" || fail "last_ok"
	grep -qx "quicsteer_generation 2" <<<"$out" || fail "generation"
	out=$(up_h3 "https://127.0.0.1:$QS_PORT/index.html")
	assert_eq "served by generation 2" "1x200" "$out"
	assert_eq "handshakes on generation 2" 1 "$(up_gen_sum 2 handshakes)"
	pids=$(up_children)
	kill -TERM "$QS_PID"
	wait_until 10 is_dead "$QS_PID" || fail "the loader did not stop" || return
	wait "$QS_PID"
	st=$?
	assert_eq "exit status" 0 "$st"
	for p in $pids; do
		wait_until 5 is_dead "$p" || fail "worker $p left behind" || return
	done
	[[ ! -e $QS_PIN ]] || fail "pins left: $(ls "$QS_PIN")"
	[[ ! -e /run/quicsteer/$QS_INST ]] || fail "runtime files left: $(ls "/run/quicsteer/$QS_INST")"
	up_logged "stopped; pins and runtime files removed" || fail "no clean stop logged"
}

# The managed php-fpm is adopted, not restarted: the same master serves PHP
# before and after, and stops with the loader.
test_upgrade_keeps_managed_php_fpm() {
	local master out
	up_need || return
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	make_docroot
	echo '<?php echo "php ", PHP_SAPI, "\n";' >"$QS_DOCROOT/i.php"
	chmod 644 "$QS_DOCROOT/i.php"
	up_start upphp 2 --fastcgi managed --php-max-children 2
	master=$(ps -o pid=,comm= --ppid "$QS_PID" | awk '$2 ~ /^php-fpm/ {print $1}')
	[[ -n $master ]] || fail "no php-fpm: $(tail -3 "$QS_LOG")" || return
	out=$(up_h2 "https://qs:$QS_PORT/i.php")
	assert_eq "PHP before" "php fpm-fcgi" "$out"
	kill -USR2 "$QS_PID"
	up_wait_upgraded 1 2 || return
	assert_eq "php-fpm master" "$master" \
		"$(ps -o pid=,comm= --ppid "$QS_PID" | awk '$2 ~ /^php-fpm/ {print $1}')"
	out=$(up_h2 "https://qs:$QS_PORT/i.php")
	assert_eq "PHP after, on generation 1" "php fpm-fcgi" "$out"
	out=$(up_h3 "https://127.0.0.1:$QS_PORT/i.php")
	assert_eq "PHP over QUIC" "1x200" "$out"
	qs_kill "$QS_PID"
	wait_until 5 is_dead "$master" || fail "php-fpm left behind"
	[[ ! -e /run/quicsteer/$QS_INST ]] || fail "runtime files left: $(ls "/run/quicsteer/$QS_INST")"
}
