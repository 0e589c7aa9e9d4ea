#!/bin/bash
# SPDX-License-Identifier: MIT
# Edit the XDP guard's blocklist of a running instance: writes the key the
# README's bpftool commands spell out by hand (prefix length as a
# little-endian u32, 16 address bytes, IPv4 as ::ffff:a.b.c.d), runs
# bpftool and says what it ran.
# Usage: scripts/guard-block.sh [-n] INSTANCE add|del PREFIX
#        scripts/guard-block.sh INSTANCE list
# PREFIX: 198.18.2.0/24, 2001:db8:bad::/48, or an address (a /32 or /128).
# -n: print the bpftool command, do not run it.
set -euo pipefail

dry=0
[[ ${1:-} == -n ]] && { dry=1; shift; }
usage() { sed -n '7,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
(($# >= 2)) || usage
inst=$1 op=$2 prefix=${3:-}
map=/sys/fs/bpf/quicsteer/$inst/qs_guard_block

if [[ $op == list ]]; then
	exec "$(dirname "$0")/inspect.sh" "$inst" --json | jq -r '.xdp_guard.blocklist // [] | .[] | "\(.prefix)\thits \(.hits)"'
fi
[[ $op == add || $op == del ]] && [[ -n $prefix ]] || usage

addr=${prefix%/*}
len=
[[ $prefix == */* ]] && len=${prefix#*/}
bytes=()
if [[ $addr == *.* && $addr != *:* ]]; then
	IFS=. read -r a b c d <<<"$addr"
	for o in "$a" "$b" "$c" "$d"; do
		[[ $o =~ ^[0-9]+$ ]] && ((o <= 255)) || { echo "guard-block: '$addr' is not an IPv4 address" >&2; exit 2; }
	done
	len=${len:-32}
	[[ $len =~ ^[0-9]+$ ]] && ((len <= 32)) || { echo "guard-block: IPv4 prefix length 0..32" >&2; exit 2; }
	len=$((96 + len))
	bytes=(0 0 0 0 0 0 0 0 0 0 255 255 "$a" "$b" "$c" "$d")
elif [[ $addr == *:* ]]; then
	len=${len:-128}
	[[ $len =~ ^[0-9]+$ ]] && ((len <= 128)) || { echo "guard-block: IPv6 prefix length 0..128" >&2; exit 2; }
	# expand "::" into the missing zero groups
	head=${addr%%::*} tail=
	[[ $addr == *::* ]] && tail=${addr#*::}
	IFS=: read -r -a hg <<<"$head"
	IFS=: read -r -a tg <<<"$tail"
	[[ $addr == *::* ]] || tg=()
	[[ -n $head ]] || hg=()
	missing=$((8 - ${#hg[@]} - ${#tg[@]}))
	{ [[ $addr == *::* ]] && ((missing >= 1)); } || { [[ $addr != *::* ]] && ((missing == 0)); } ||
		{ echo "guard-block: '$addr' is not an IPv6 address" >&2; exit 2; }
	groups=("${hg[@]}")
	for ((i = 0; i < missing; i++)); do groups+=(0); done
	groups+=("${tg[@]}")
	for g in "${groups[@]}"; do
		[[ $g =~ ^[0-9a-fA-F]{1,4}$ ]] || { echo "guard-block: '$addr' is not an IPv6 address" >&2; exit 2; }
		bytes+=($((16#$g >> 8)) $((16#$g & 255)))
	done
else
	echo "guard-block: '$prefix' is not an IPv4 or IPv6 prefix" >&2
	exit 2
fi

key=$(printf '%02x 00 00 00 ' "$len"; printf '%02x ' "${bytes[@]}")
key=${key% }
if [[ $op == add ]]; then
	cmd=(bpftool map update pinned "$map" key hex $key value hex 00 00 00 00 00 00 00 00)
else
	cmd=(bpftool map delete pinned "$map" key hex $key)
fi
echo "${cmd[*]}"
((dry)) && exit 0
[[ -e $map ]] || { echo "guard-block: $map does not exist (is instance '$inst' running with --xdp-guard?)" >&2; exit 1; }
"${cmd[@]}"
