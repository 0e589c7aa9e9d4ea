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
	# A's register did not see B's ClientHellos: 0-RTT only where it was issued
	assert_eq "its 0-RTT refused at B" "0 1" \
		"$(tk_stat "$QS_PIN" early_accepted) $(tk_stat "$QS_PIN" early_rej_host)"
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
	assert_eq "0-RTT refused there: issued by another host" "0 1" \
		"$(tk_stat "$b_pin" early_accepted) $(tk_stat "$b_pin" early_rej_host)"
	# the ticket B issued gives 0-RTT at B
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "0-RTT with B's own ticket" 1 "$(tk_stat "$b_pin" early_accepted)"
	# another fleet's secret: the ticket names a key it does not have
	qs_start tklc 2 --ticket-keys "fleet:$TK/s2" --ticket-rotate 1h --ticket-lifetime 2h
	out=$(tk_get "$TK/d" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "full handshake at another fleet" 1 "$(tk_stat "$QS_PIN" hs_full)"
	assert_eq "unknown key counted" 1 "$(tk_stat "$QS_PIN" ticket_unknown_key)"
	assert_eq "not resumed" 0 "$(tk_stat "$QS_PIN" hs_resumed)"
}

tk_need_php() {
	compgen -G "/usr/sbin/php-fpm*" >/dev/null || { need "php-fpm"; return; }
	return 0
}

# scripts that leave a line in $TK/w/runs for every run: "early=<HTTP_EARLY_DATA>"
tk_php_docroot() {
	make_docroot
	chmod 711 "$TK"
	install -d -m 0777 "$TK/w"
	cat >"$QS_DOCROOT/count.php" <<PHP
<?php
\$e = \$_SERVER['HTTP_EARLY_DATA'] ?? '-';
file_put_contents('$TK/w/runs', "early=\$e " . \$_SERVER['REQUEST_METHOD'] . " " .
	strlen(file_get_contents('php://input')) . "\n", FILE_APPEND | LOCK_EX);
echo "early=\$e\n";
PHP
	chmod -R a+rX "$QS_DOCROOT"
}

# A UDP relay that forwards a client's datagrams to the server and back and
# records its first flight (what it sent before any answer came): the
# Initial with the ClientHello and the 0-RTT packets.  `replay` sends that
# flight again from COPIES fresh source ports (so it lands on several
# workers), as an attacker on the path would.
tk_relay_py() {
	cat >"$TK/relay.py" <<'PY'
import socket, select, struct, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
srv = ("127.0.0.1", port)
if mode == "relay":
    cap, portfile = sys.argv[3], sys.argv[4]
    cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cli.bind(("127.0.0.1", 0))
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.connect(srv)
    open(portfile, "w").write("%d\n" % cli.getsockname()[1])
    peer, answered, end = None, False, time.time() + 30
    with open(cap, "wb") as f:
        while time.time() < end:
            r, _, _ = select.select([cli, up], [], [], 0.5)
            for s in r:
                if s is cli:
                    d, peer = cli.recvfrom(65535)
                    if not answered:
                        f.write(struct.pack("!I", len(d)) + d)
                        f.flush()
                    up.send(d)
                else:
                    d = up.recv(65535)
                    answered = True
                    if peer:
                        cli.sendto(d, peer)
else:
    cap, copies = sys.argv[3], int(sys.argv[4])
    data = open(cap, "rb").read()
    flight, i = [], 0
    while i + 4 <= len(data):
        n = struct.unpack("!I", data[i:i + 4])[0]
        flight.append(data[i + 4:i + 4 + n])
        i += 4 + n
    socks = []
    for _ in range(copies):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(srv)
        for d in flight:
            s.send(d)
        socks.append(s)
    time.sleep(1)
    print(len(flight))
PY
}

test_tickets_replayed_0rtt_request_runs_once() {
	local out relay rport n
	tk_need || return
	tk_need_php || return
	tk_php_docroot
	tk_relay_py
	qs_start tkrep 4 --fastcgi managed --php-max-children 2
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	# the resumed connection goes through the relay, its GET in 0-RTT
	/usr/bin/python3 "$TK/relay.py" relay "$QS_PORT" "$TK/flight" "$TK/rport" &
	relay=$!
	defer "kill $relay 2>/dev/null; wait $relay 2>/dev/null || true"
	wait_until 5 test -s "$TK/rport" || fail "relay did not start"
	rport=$(cat "$TK/rport")
	out=$(tk_get "$TK/c" "$rport" /count.php)
	tk_expect "$out" 200
	grep -q "early=1" "$TK/dl/count.php" || fail "the 0-RTT GET was not marked: $(cat "$TK/dl/count.php")"
	assert_eq "runs after the real request" 1 "$(wc -l <"$TK/w/runs")"
	assert_eq "0-RTT accepted" 1 "$(workers_sum early_accepted)"
	# the attacker replays the first flight from 16 source ports, twice
	n=$(/usr/bin/python3 "$TK/relay.py" replay "$QS_PORT" "$TK/flight" 16)
	((n >= 1)) || fail "no first flight captured"
	/usr/bin/python3 "$TK/relay.py" replay "$QS_PORT" "$TK/flight" 16 >/dev/null
	sleep 1
	info "replayed a $n-datagram first flight 32 times: early data refused as replays: $(workers_sum early_rej_replay) (per worker: $(per_worker early_rej_replay))"
	assert_eq "the script ran" 1 "$(wc -l <"$TK/w/runs")"
	assert_ge "replays refused by the register" 1 "$(workers_sum early_rej_replay)"
	assert_eq "0-RTT accepted, all told" 1 "$(workers_sum early_accepted)"
}

# Two hosts with the same ticket keys, each with its own php-fpm and
# register: a first flight captured on its way to A (a 0-RTT GET of a
# script) and replayed to B from 16 source ports runs the script once, at
# A: B resumes A's ticket but refuses its early data (without the host id
# in the ticket, B's register, which never saw that ClientHello, admits it
# once: the script runs twice)
test_tickets_0rtt_replayed_to_another_host_runs_once() {
	local out relay rport n a_port a_pin
	tk_need || return
	tk_need_php || return
	tk_php_docroot
	tk_relay_py
	tk_keyfile "$TK/k1"
	qs_start tkxa 2 --fastcgi managed --php-max-children 2 --ticket-keys "file:$TK/k1"
	a_port=$QS_PORT a_pin=$QS_PIN
	qs_start tkxb 2 --fastcgi managed --php-max-children 2 --ticket-keys "file:$TK/k1"
	out=$(tk_get "$TK/c" "$a_port" /index.html)
	tk_expect "$out" 200
	/usr/bin/python3 "$TK/relay.py" relay "$a_port" "$TK/flight" "$TK/rport" &
	relay=$!
	defer "kill $relay 2>/dev/null; wait $relay 2>/dev/null || true"
	wait_until 5 test -s "$TK/rport" || fail "relay did not start"
	rport=$(cat "$TK/rport")
	out=$(tk_get "$TK/c" "$rport" /count.php)
	tk_expect "$out" 200
	grep -q "early=1" "$TK/dl/count.php" || fail "the 0-RTT GET was not marked: $(cat "$TK/dl/count.php")"
	assert_eq "0-RTT accepted at A" 1 "$(tk_stat "$a_pin" early_accepted)"
	n=$(/usr/bin/python3 "$TK/relay.py" replay "$QS_PORT" "$TK/flight" 16)
	((n >= 1)) || fail "no first flight captured"
	sleep 1
	info "a $n-datagram first flight for A replayed 16 times to B: early data refused as another host's: $(tk_stat "$QS_PIN" early_rej_host)"
	assert_eq "the script ran" 1 "$(wc -l <"$TK/w/runs")"
	assert_eq "0-RTT accepted at B" 0 "$(tk_stat "$QS_PIN" early_accepted)"
	assert_ge "refused at B: another host's ticket" 1 "$(tk_stat "$QS_PIN" early_rej_host)"
}

test_tickets_unsafe_0rtt_methods_wait_or_get_425() {
	local out
	tk_need || return
	tk_need_php || return
	tk_php_docroot
	head -c 3000 /dev/urandom >"$TK/body"
	qs_start tkpost 2 --fastcgi managed --php-max-children 2
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	# a POST in 0-RTT: held until the handshake completes, then run unmarked
	out=$(tk_get "$TK/c" "$QS_PORT" /count.php -m POST -d "$TK/body")
	tk_expect "$out" 200
	assert_eq "0-RTT accepted" 1 "$(workers_sum early_accepted)"
	assert_eq "deferred" 1 "$(workers_sum req_deferred)"
	assert_eq "run early" 0 "$(workers_sum req_early)"
	assert_eq "what PHP saw" "early=- POST 3000" "$(cat "$TK/w/runs")"
	# --early-data-unsafe reject: 425 Too Early, PHP never runs
	qs_start tkpost425 2 --fastcgi managed --php-max-children 2 --early-data-unsafe reject
	out=$(tk_get "$TK/d" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	out=$(tk_get "$TK/d" "$QS_PORT" /count.php -m POST -d "$TK/body")
	tk_expect "$out" 425
	assert_eq "answered 425" 1 "$(workers_sum req_too_early)"
	assert_eq "PHP runs" 1 "$(wc -l <"$TK/w/runs")"
	# a GET in 0-RTT still runs at once, marked for the application
	out=$(tk_get "$TK/d" "$QS_PORT" /count.php)
	tk_expect "$out" 200
	assert_eq "the GET, marked" "early=1 GET 0" "$(tail -1 "$TK/w/runs")"
}

test_tickets_settings_lowered_or_early_data_off_refuse_0rtt() {
	local out
	tk_need || return
	make_docroot
	tk_keyfile "$TK/k1"
	qs_start tkset 2 --ticket-keys "file:$TK/k1" --max-streams 100
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	qs_kill "$QS_PID"
	# fewer streams than the ticket promised: resumed, but no 0-RTT
	qs_start tkset2 2 --ticket-keys "file:$TK/k1" --max-streams 50
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "resumed" 1 "$(workers_sum hs_resumed)"
	assert_eq "0-RTT refused: settings" 1 "$(workers_sum early_rej_settings)"
	assert_eq "0-RTT accepted" 0 "$(workers_sum early_accepted)"
	# the renewed ticket remembers 50: 0-RTT again
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "0-RTT accepted with the new ticket" 1 "$(workers_sum early_accepted)"
	cp "$TK/c.sess" "$TK/d.sess"
	cp "$TK/c.tp" "$TK/d.tp"
	qs_kill "$QS_PID"
	# --early-data off: resumption still, 0-RTT refused by policy
	qs_start tkset3 2 --ticket-keys "file:$TK/k1" --max-streams 50 --early-data off
	out=$(tk_get "$TK/d" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "resumed (early data off)" 1 "$(workers_sum hs_resumed)"
	assert_eq "0-RTT refused: policy" 1 "$(workers_sum early_rej_policy)"
	assert_eq "0-RTT accepted (early data off)" 0 "$(workers_sum early_accepted)"
}

# every byte sequence of 8+ bytes of the key files, as hex
tk_secret_hex() { for f in "$@"; do xxd -p -c 200 "$f"; done; }

test_tickets_key_material_never_exposed() {
	local out dump hex f w pin locked
	tk_need || return
	make_docroot
	tk_keyfile "$TK/k1"
	tk_keyfile "$TK/k2"
	qs_start tkmat 2 --ticket-keys "file:$TK/k1,$TK/k2" --log-level debug
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	# also a reload, a new generation of workers (quicsteerctl waits for its
	# end: a SIGHUP did not, and the reading below once raced with it)
	./quicsteerctl -i "$QS_INST" reload >/dev/null
	./quicsteerctl -i "$QS_INST" reload-keys >/dev/null
	# everything an operator can read, as one hex string
	dump=$( {
		cat "$QS_LOG" /run/quicsteer/"$QS_INST"/* 2>/dev/null
		scripts/inspect.sh "$QS_INST"
		scripts/inspect.sh --json "$QS_INST"
		./quicsteerctl -i "$QS_INST" keys
		./quicsteerctl -i "$QS_INST" status
		./quicsteerctl -i "$QS_INST" status --json
		for pin in "$QS_PIN"/*; do bpftool -j map dump pinned "$pin" 2>/dev/null || true; done
	} | xxd -p | tr -d '\n')
	# the bpftool dumps write bytes as "0x12" tokens: join those too
	dump+=$(for pin in "$QS_PIN"/*; do bpftool -j map dump pinned "$pin" 2>/dev/null || true; done |
		grep -o '0x[0-9a-f][0-9a-f]\b' | sed 's/0x//' | tr -d '\n')
	for f in k1 k2; do
		hex=$(xxd -p -c 200 "$TK/$f")
		# any 8 bytes of the name, the HMAC key or the AES key
		for off in $(seq 0 16 144); do
			grep -q "${hex:off:16}" <<<"$dump" && fail "bytes $((off / 2))..$((off / 2 + 7)) of $f found"
		done
	done
	# the mappings that hold keys are locked and left out of core dumps
	# (but for ASan builds, where mlock does nothing)
	locked=' lo '
	qs_sanitized && locked=' '
	assert_ge "locked, undumpable mappings of the loader" 2 \
		"$(awk -v lo="$locked" '/^VmFlags:/ && index($0, lo) && / dd /' "/proc/$QS_PID/smaps" | wc -l)"
	for w in $(worker_stats_json | jq -r '.[].value.pid | select(. > 0)'); do
		assert_ge "undumpable mappings of worker $w" 2 \
			"$(awk '/^VmFlags:/ && / dd /' "/proc/$w/smaps" | wc -l)"
	done
	grep -q "^key $(tk_hash "$TK/k1") encrypt" "/run/quicsteer/$QS_INST/ticket-keys" ||
		fail "key names not listed"
}

# The key area and the ticket keys: the loader writes them, each worker maps
# them read-only from a read-only descriptor (r--s; mprotect cannot make a
# shared mapping of a read-only file writable), so a worker running hostile
# code cannot change the keys every other worker uses (they were rw-s, the
# same anonymous mapping as the loader's)
test_tickets_workers_map_the_secrets_read_only() {
	local w out
	tk_need || return
	make_docroot
	qs_start tkro 2
	assert_eq "the loader's secret mappings" "rw-s rw-s" \
		"$(awk '/memfd:quicsteer-secrets/ {print $2}' "/proc/$QS_PID/maps" | xargs)"
	for w in $(worker_stats_json | jq -r '.[].value.pid | select(. > 0)'); do
		assert_eq "worker $w's secret mappings" "r--s r--s" \
			"$(awk '/memfd:quicsteer-secrets/ {print $2}' "/proc/$w/maps" | xargs)"
		[[ -z $(find "/proc/$w/fd" -lname '/memfd:quicsteer-secrets*' 2>/dev/null) ]] ||
			fail "worker $w kept a descriptor of the secrets"
	done
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	out=$(tk_get "$TK/c" "$QS_PORT" /index.html)
	tk_expect "$out" 200
	assert_eq "resumed with 0-RTT (the workers read the keys)" 1 "$(workers_sum early_accepted)"
}
