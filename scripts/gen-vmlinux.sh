#!/bin/bash
# SPDX-License-Identifier: MIT
# Regenerate vmlinux/vmlinux.h from the running kernel's BTF.
# Usage: scripts/gen-vmlinux.sh [OUT]   (default vmlinux/vmlinux.h)
set -euo pipefail
out=${1:-vmlinux/vmlinux.h}
btf=/sys/kernel/btf/vmlinux
if [[ ! -r $btf ]]; then
	echo "gen-vmlinux: $btf missing: this kernel was built without BTF" \
	     "(CONFIG_DEBUG_INFO_BTF=y is needed)" >&2
	exit 1
fi
command -v bpftool >/dev/null || { echo "gen-vmlinux: bpftool not found (run scripts/setup.sh)" >&2; exit 1; }
tmp=$(mktemp "${out}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
bpftool btf dump file "$btf" format c >"$tmp"
# only replace when it changed, so make does not rebuild everything
if [[ -f $out ]] && cmp -s "$tmp" "$out"; then exit 0; fi
mv "$tmp" "$out"
trap - EXIT
