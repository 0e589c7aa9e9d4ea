# SPDX-License-Identifier: MIT
# A short, bounded libFuzzer run of every fuzz target (make fuzz runs them
# longer): parsers of untrusted bytes must not crash on what it finds.  Each
# run first replays the target's committed corpus, tests/fuzz/corpus/NAME/
# (seeds, and any input that once found a bug), then mutates from it; the
# targets are ASan and UBSan builds, so a sanitizer report fails the test.

# run_fuzzer NAME RUNS: RUNS inputs of .output/NAME from its corpus (seed 1)
run_fuzzer() {
	local f=$ROOT/.output/$1 seeds=$ROOT/tests/fuzz/corpus/$1 corpus
	[[ -x $f ]] || { need "fuzz target $1 (clang with libFuzzer: libclang-rt-14-dev)"; return; }
	[[ -d $seeds ]] || fail "no corpus $seeds"
	corpus=$(mktemp -d /tmp/qs-fuzz.XXXXXX)
	defer "rm -rf $corpus"
	# new inputs go to the first directory: the committed corpus stays as it is
	(cd "$corpus" && "$f" -runs="$2" -seed=1 "$corpus" "$seeds" 2>&1 | tail -3)
}

test_fuzz_static_paths_and_ranges() { run_fuzzer fuzz_static 300000; }
test_fuzz_fcgi_records_and_cgi_headers() { run_fuzzer fuzz_fcgi 300000; }
test_fuzz_req_header_fields() { run_fuzzer fuzz_req 300000; }
# 3,000 inputs a second: a config file read through the loader's code
test_fuzz_config_file_and_values() { run_fuzzer fuzz_config 60000; }
test_fuzz_cid_decode_and_round_trip() { run_fuzzer fuzz_cid 1000000; }
test_fuzz_h1_request_heads_and_chunked_bodies() { run_fuzzer fuzz_h1 300000; }
test_fuzz_trace_ids_traceparent_and_json_escape() { run_fuzzer fuzz_trace 300000; }
test_fuzz_accept_encoding_and_types() { run_fuzzer fuzz_accept 300000; }
test_fuzz_upgrade_state_record() { run_fuzzer fuzz_upgrade_state 300000; }
test_fuzz_fpmstatus_answer() { run_fuzzer fuzz_fpmstatus 300000; }
