# SPDX-License-Identifier: MIT
# A short, bounded libFuzzer run of every fuzz target (make fuzz runs them
# longer): parsers of untrusted bytes must not crash on what it finds.

test_fuzz_static_paths_and_ranges() {
	local f=$ROOT/.output/fuzz_static corpus
	[[ -x $f ]] || { need "fuzz target (clang with libFuzzer: libclang-rt-14-dev)"; return; }
	corpus=$(mktemp -d /tmp/qs-fuzz.XXXXXX)
	defer "rm -rf $corpus"
	(cd "$corpus" && "$f" -runs=300000 -seed=1 "$corpus" 2>&1 | tail -3)
}

test_fuzz_fcgi_records_and_cgi_headers() {
	local f=$ROOT/.output/fuzz_fcgi corpus
	[[ -x $f ]] || { need "fuzz target (clang with libFuzzer: libclang-rt-14-dev)"; return; }
	corpus=$(mktemp -d /tmp/qs-fuzz.XXXXXX)
	defer "rm -rf $corpus"
	(cd "$corpus" && "$f" -runs=300000 -seed=1 "$corpus" 2>&1 | tail -3)
}
