# SPDX-License-Identifier: MIT
# Helpers for the bash tests; sourced by tests/run.sh.  Each test runs in
# its own subshell; `defer CMD` registers cleanup that runs when the test
# ends, pass or fail (EXIT trap of the subshell).

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# QS_BIN_DIR: where quicsteerd comes from (make SANITIZE=1 puts an ASan and
# UBSan build in .output-san)
QS=${QS_BIN_DIR:-$ROOT}/quicsteerd
QS_SEND=$ROOT/.output/qs-send
PIN_ROOT=/sys/fs/bpf/quicsteer

CERT=$ROOT/certs/server.crt
KEY=$ROOT/certs/server.key

_deferred=()
defer() { _deferred+=("$*"); }
run_deferred() {
	local i
	for ((i = ${#_deferred[@]} - 1; i >= 0; i--)); do
		eval "${_deferred[$i]}" >/dev/null 2>&1 || true
	done
	_deferred=()
}

fail() { echo "FAIL: $*" >&2; return 1; }
info() { echo "  $*"; }

# skip (exit 77) outside CI; in CI (CI=true) what a test needs must be there
need() {
	if [[ ${CI:-} == true ]]; then
		echo "required in CI: $*" >&2
		return 1
	fi
	echo "skipped: $*" >&2
	return 77
}

# skip (exit 77) in CI too: the running kernel lacks a feature no set-up can
# add (the test runs wherever the kernel has it); the runner prints why
unsupported() {
	echo "skipped: $*" >&2
	return 77
}

# true when quicsteerd is built with ASan (QS_BIN_DIR=.output-san); not a
# pipe into grep -q, which under pipefail fails when ldd gets SIGPIPE
qs_sanitized() {
	[[ $(ldd "$QS" 2>/dev/null) == *libasan* ]]
}

# not_sanitized WHAT: skip, in CI too, a test of what an ASan build cannot
# show (its shadow memory and quarantine swell RSS; its CPU cost changes
# a sender's timing, which timing comparisons with a native server judge)
not_sanitized() {
	if qs_sanitized; then
		unsupported "$1 under ASan"
		return
	fi
	return 0
}

need_root_bpf() {
	[[ $(id -u) == 0 ]] || { need "root"; return; }
	[[ -r /sys/kernel/btf/vmlinux ]] || { need "kernel BTF"; return; }
	return 0
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	[[ "$2" == "$3" ]] || fail "$1: expected $2, got $3"
}

# assert_ge WHAT MIN ACTUAL
assert_ge() {
	(( $3 >= $2 )) || fail "$1: expected >= $2, got $3"
}

wait_until() { # wait_until TIMEOUT_S CMD...: poll every 50 ms
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}

# make_docroot: a docroot the workers (www-data) can read, removed after
# the test; sets QS_DOCROOT and QS_ARGS (cert, key, docroot flags)
make_docroot() {
	QS_DOCROOT=$(mktemp -d /tmp/qs-test-docroot.XXXXXX)
	defer "rm -rf $QS_DOCROOT"
	chmod 755 "$QS_DOCROOT"
	echo "quicsteer test docroot" >"$QS_DOCROOT/index.html"
	chmod 644 "$QS_DOCROOT/index.html"
	QS_ARGS=(--cert "$CERT" --key "$KEY" --docroot "$QS_DOCROOT")
}

# qs_start NAME WORKERS ARGS...: start an instance named t<pid>-NAME in the
# foreground (background job), wait until it serves; sets QS_PID, QS_INST,
# QS_PORT, QS_LOG, QS_PIN.  Listens on 127.0.0.1:QS_PORT unless ARGS has
# --listen (use @PORT@ there for the chosen port).  QS_NETNS=NAME runs it in
# network namespace /run/netns/NAME (nsenter: the mount namespace, so the
# pins, stays the host's).
qs_start() {
	local name=$1 workers=$2
	shift 2
	local try args=() a
	[[ -n ${QS_DOCROOT:-} ]] || make_docroot
	QS_INST=t$$-$name
	QS_PIN=$PIN_ROOT/$QS_INST
	QS_LOG=$(mktemp /tmp/qs-test-$name.XXXXXX.log)
	defer "rm -f $QS_LOG"
	defer_instance_cleanup "$QS_INST"
	for try in 1 2 3 4 5; do
		QS_PORT=$((20000 + RANDOM % 30000))
		args=()
		local has_listen=0
		for a in "$@"; do
			[[ $a == --listen ]] && has_listen=1
			args+=("${a//@PORT@/$QS_PORT}")
		done
		((has_listen)) || args+=(--listen "127.0.0.1:$QS_PORT")
		${QS_NETNS:+nsenter --net=/run/netns/$QS_NETNS} "$QS" --foreground --instance "$QS_INST" --workers "$workers" \
			--log-file "$QS_LOG" "${QS_ARGS[@]}" "${args[@]}" &
		QS_PID=$!
		defer "qs_kill $QS_PID"
		if wait_until 10 qs_ready "$QS_PID" "$workers"; then
			return 0
		fi
		if grep -q "already in use" "$QS_LOG"; then
			wait "$QS_PID" 2>/dev/null || true
			continue
		fi
		cat "$QS_LOG" >&2
		fail "quicsteerd did not start"
		return 1
	done
	fail "no free port found"
}

# after a test, even a failed one: a crashed loader's pins and run dir go too
defer_instance_cleanup() {
	defer "rm -rf $PIN_ROOT/$1 /run/quicsteer/$1; rmdir $PIN_ROOT /run/quicsteer"
}

# a process that is gone or a zombie (its parent has not reaped it yet)
is_dead() {
	[[ ! -e /proc/$1 || $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) == Z ]]
}

qs_ready() { # PID WORKERS: running, pinned, all workers up
	kill -0 "$1" 2>/dev/null || return 1
	[[ -e $QS_PIN/qs_worker_stats ]] || return 1
	[[ $(workers_running) == "$2" ]]
}

# stop by PID (never by name); wait; leave nothing behind
qs_kill() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid"
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

steer_stat() { # FIELD: summed over CPUs
	bpftool -j map dump pinned "$QS_PIN/qs_steer_stats" |
		jq "[.[0].formatted.values[].value.$1] | add"
}

steer_stats_line() {
	bpftool -j map dump pinned "$QS_PIN/qs_steer_stats" |
		jq -r '[.[0].formatted.values[].value] | reduce .[] as $v ({}; . as $a |
			reduce ($v | keys[]) as $k ($a; .[$k] += $v[$k])) |
			to_entries | map("\(.key)=\(.value)") | join(" ")'
}

worker_stats_json() { # all slots that ever started, as {key, value}
	bpftool -j map dump pinned "$QS_PIN/qs_worker_stats" |
		jq -c '[.[] | .formatted | select(.value.starts > 0)]'
}

worker_stat() { # SLOT FIELD   (slot = gen*64 + worker)
	bpftool -j map lookup pinned "$QS_PIN/qs_worker_stats" key "$1" 0 0 0 |
		jq ".formatted.value.$2"
}

workers_sum() { # FIELD summed over all workers
	worker_stats_json | jq "[.[].value.$1] | add // 0"
}

workers_running() {
	worker_stats_json 2>/dev/null | jq '[.[] | select(.value.pid > 0)] | length'
}

# send ARGS...: qs-send against the current instance; JSON on stdout
send() {
	"$QS_SEND" --instance "$QS_INST" "$@"
}

# gtlsclient's output -> one ":status" per response, in order, and
# "unfinished" when the client gave up on an idle connection: a response
# whose headers came but whose stream never ended shows as such.
gtls_statuses() {
	sed -n -e 's/^http: stream 0x[0-9a-f]* \[:status: \([0-9]*\)\]$/\1/p' \
		-e 's/^ngtcp2_conn_handle_expiry: ERR_IDLE_CLOSE$/unfinished/p'
}

# response_date_ok OUT: the gtlsclient dump has one date field, an
# IMF-fixdate within 5 s of now (RFC 9110 6.6.1), and the server field
response_date_ok() {
	local d now t
	d=$(sed -n 's/^http: stream 0x0 \[date: \(.*\)\]$/\1/p' <<<"$1")
	[[ $(grep -c '^http: stream 0x0 \[date: ' <<<"$1") == 1 ]] || { echo "no date field"; return 1; }
	[[ $d =~ ^(Mon|Tue|Wed|Thu|Fri|Sat|Sun),\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ GMT$ ]] ||
		{ echo "not an IMF-fixdate: '$d'"; return 1; }
	t=$(date -u -d "$d" +%s) now=$(date -u +%s)
	(( t >= now - 5 && t <= now + 1 )) || { echo "date $d is not now"; return 1; }
	grep -q '^http: stream 0x0 \[server: quicsteer\]$' <<<"$1" || { echo "no server field"; return 1; }
}
