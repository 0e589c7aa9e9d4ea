#!/bin/bash
# SPDX-License-Identifier: MIT
# Print the man page quicsteerctl(8), in roff, from `quicsteerctl --help`,
# so that the page says what the program says.  The help's layout is the
# contract: "Usage: ..." first, a line of description, then entries
# indented by two spaces ("  NAME   text", continued on deeper-indented
# lines); an entry starting with '-' is an option, any other a command.
# Usage: dist/man/quicsteerctl-man.sh PATH/TO/quicsteerctl > quicsteerctl.8
# The date is SOURCE_DATE_EPOCH's when set (reproducible builds), else today's.
set -euo pipefail
ctl=${1:?usage: $0 PATH/TO/quicsteerctl}
help=$("$ctl" --help)
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)
version=$(cat "$(dirname "$0")/../../VERSION" 2>/dev/null || echo 0.0.0)

awk -v date="$date" -v version="$version" '
# roff text: "-" as \-, "\" as \e, no line that starts as a request
function roff(s,    n, i, lines, out) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	n = split(s, lines, "\n")
	for (i = 1; i <= n; i++)
		out = out (i > 1 ? "\n" : "") (lines[i] ~ /^[.\x27]/ ? "\\&" : "") lines[i]
	return out
}
function flush() {
	if (name == "")
		return
	if (kind == "opt")
		opts = opts ".TP\n\\fB" roff(name) "\\fR\n" roff(text) "\n"
	else
		cmds = cmds ".TP\n\\fB" roff(name) "\\fR\n" roff(text) "\n"
	name = ""
}
NR == 1 {
	sub(/^Usage: quicsteerctl /, "")
	synopsis = $0
	next
}
# unindented lines: the description before the first entry; after the
# entries, paragraphs (the one that starts "Exit status:" is that section)
function para_end() {
	if (para == "")
		return
	if (para ~ /^Exit status: /) {
		sub(/^Exit status: /, "", para)
		exits = roff(para)
	} else {
		notes = notes roff(para) "\n"
	}
	para = ""
}
/^  [^ ]/ {
	flush()
	para_end()
	entries = 1
	line = substr($0, 3)
	split_at = match(line, /  +/)
	if (split_at) {
		name = substr(line, 1, split_at - 1)
		text = substr(line, split_at + RLENGTH)
	} else {
		name = line
		text = ""
	}
	kind = name ~ /^-/ ? "opt" : "cmd"
	next
}
/^    / && name != "" {
	sub(/^ +/, "")
	text = text " " $0
	next
}
{
	flush()
	if (!entries)
		about = about (about == "" ? "" : "\n") $0
	else if ($0 == "")
		para_end()
	else
		para = para (para == "" ? "" : "\n") $0
}
END {
	flush()
	para_end()
	printf ".TH QUICSTEERCTL 8 %s \"quicsteer %s\" \"System Administration\"\n", date, version
	printf ".SH NAME\nquicsteerctl \\- commands for a running quicsteerd instance\n"
	printf ".SH SYNOPSIS\n.B quicsteerctl\n%s\n", roff(synopsis)
	printf ".SH DESCRIPTION\n%s\n", roff(about)
	printf ".SH COMMANDS\n%s", cmds
	printf ".SH OPTIONS\n%s", opts
	if (notes != "")
		printf ".SH NOTES\n%s", notes
	if (exits == "")
		exits = "0 on success, 1 when the instance is not running or refused, 2 on a usage error."
	printf ".SH EXIT STATUS\n%s\n", exits
	printf ".SH SEE ALSO\n.BR quicsteerd (8)\n"
}' <<<"$help"
