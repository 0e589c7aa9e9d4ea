#!/bin/bash
# SPDX-License-Identifier: MIT
# Test runner: C unit tests, then every test_* function of tests/*.test.sh.
# Prints PASS/FAIL/SKIP per test, a failed test's output, and ends with
# "N passed, N failed[, N skipped]".  Usage: tests/run.sh [PATTERN]
# (PATTERN: run only tests whose name contains it; QS_TEST_VERBOSE=1 shows
# the output of passing tests too; QS_TEST_LIMIT: seconds a bash test may
# take, 900).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT
cd "$ROOT"
pattern=${1:-}
passed=0 failed=0 skipped=0
failed_names=()
logdir=$(mktemp -d /tmp/qs-tests.XXXXXX)
# What ASan and UBSan report (make SANITIZE=1 builds, the fuzz targets) goes
# to files here, from every process: workers run as an unprivileged user,
# hence the sticky world-writable directory.  A report fails the test that
# was running, even when the process that made it was restarted unseen.
sandir=$(mktemp -d /tmp/qs-san.XXXXXX)
chmod 1777 "$sandir"
trap 'rm -rf "$logdir" "$sandir"' EXIT
export ASAN_OPTIONS="log_path=$sandir/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$sandir/ubsan:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# san_reports LOG: move the sanitizer reports made since the last call to
# LOG; false if there were any
san_reports() {
	local f found=0

	for f in "$sandir"/*; do
		[[ -e $f ]] || continue
		{ echo "sanitizer report $(basename "$f"):"; cat "$f"; } >>"$1"
		rm -f "$f"
		found=1
	done
	((found == 0))
}

report() { # NAME STATUS LOG
	local status=$2

	san_reports "$3" || status=1
	case $status in
	0)
		echo "PASS $1"
		passed=$((passed + 1))
		if [[ -n ${QS_TEST_VERBOSE:-} ]]; then sed 's/^/    | /' "$3"; fi
		;;
	77) echo "SKIP $1: $(grep -m1 "^skipped: " "$3" || tail -1 "$3")"; skipped=$((skipped + 1)) ;;
	*) echo "FAIL $1"; sed 's/^/    | /' "$3"; failed=$((failed + 1)); failed_names+=("$1") ;;
	esac
}

# ---- C unit tests: one PASS/FAIL line per test function -----------------
for bin in .output/test_*; do
	[[ -x $bin ]] || continue
	name=$(basename "$bin")
	[[ -z $pattern || $name == *"$pattern"* ]] || continue
	log=$logdir/$name.log
	# bounded: a test that returns early can leave its stack objects on the
	# lists of the code under test, which may then loop instead of failing
	timeout -k 5 600 "$bin" >"$log" 2>&1
	status=$?
	san_reports "$log" || status=1
	while read -r verdict fn; do
		case $verdict in
		PASS) echo "PASS $name:$fn"; passed=$((passed + 1)) ;;
		FAIL) echo "FAIL $name:$fn"; failed=$((failed + 1)); failed_names+=("$name:$fn") ;;
		esac
	done < <(grep -E '^(PASS|FAIL) ' "$log")
	if ((status != 0)) && ! grep -q '^FAIL ' "$log"; then
		report "$name" "$status" "$log"
	elif grep -q '^FAIL ' "$log"; then
		sed 's/^/    | /' "$log"
	fi
	# figures the unit tests print (false-accept rate, chi-square) are worth seeing
	grep -E '^  (false accept|unlinkable|round trip):' "$log" || true
done

# ---- the unit tests again, built with ASan and UBSan: one line each ------
# (make test builds them with make SANITIZE=1; a sanitizer report fails one)
for bin in .output-san/test_*; do
	[[ -x $bin ]] || continue
	name=san/$(basename "$bin")
	[[ -z $pattern || $name == *"$pattern"* ]] || continue
	log=$logdir/${name#san/}.san.log
	timeout -k 5 600 "$bin" >"$log" 2>&1
	report "$name" $? "$log"
done

# ---- bash tests -----------------------------------------------------------
# each bounded (QS_TEST_LIMIT seconds; the longest takes about 2 minutes)
limit=${QS_TEST_LIMIT:-900}
for file in tests/*.test.sh; do
	# shellcheck disable=SC1090
	tests=$(bash -c "source tests/lib.sh; source $file; declare -F" |
		awk '$3 ~ /^test_/ {print $3}')
	for t in $tests; do
		[[ -z $pattern || $t == *"$pattern"* ]] || continue
		log=$logdir/$t.log
		(
			# shellcheck disable=SC1090
			source tests/lib.sh
			source "$file"
			trap run_deferred EXIT
			trap 'exit 143' TERM	# stopped by the watchdog: clean up
			# name the command that stopped a test under set -e
			trap 'echo "  stopped by a failing command (status $?): $BASH_COMMAND" >&2' ERR
			set -eE
			"$t"
		) >"$log" 2>&1 </dev/null &
		tpid=$!
		# a test that hangs is stopped after $limit s and fails: its
		# children get SIGTERM (the one it waits for among them), then it
		# runs its cleanup; SIGKILL if that too hangs for a minute
		overran=0
		if ! timeout "$limit" tail --pid="$tpid" -s 0.2 -f /dev/null; then
			overran=1
			ps -o pid= --ppid "$tpid" | xargs -r kill -TERM 2>/dev/null
			kill -TERM "$tpid" 2>/dev/null
			timeout 60 tail --pid="$tpid" -s 0.2 -f /dev/null || kill -KILL "$tpid" 2>/dev/null
		fi
		wait "$tpid"
		status=$?
		if ((overran)); then
			echo "  the test ran over $limit s (QS_TEST_LIMIT): stopped" >>"$log"
			status=1
		fi
		report "$t" "$status" "$log"
	done
done

# ---- leftovers: a test that leaves anything behind fails the run ----------
# (t<pid>- of another runner that is still running is its business, not a leftover)
left=$(ls /sys/fs/bpf/quicsteer 2>/dev/null | grep -E "^t[0-9]+-" | while read -r d; do
	p=${d#t}
	p=${p%%-*}
	[[ $p != "$$" ]] && kill -0 "$p" 2>/dev/null || echo "$d"
done || true)
if [[ -n $left ]]; then
	echo "FAIL leftovers: pins left in /sys/fs/bpf/quicsteer: $left"
	failed=$((failed + 1))
fi

if ((skipped)); then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
((failed == 0))
