# SPDX-License-Identifier: MIT
# The worker's layers depend one way: handler/ -> http/ -> quic/, and only
# worker.c wires them together.  A handler never sees the transport, the
# transport and the protocols never name a handler.

W=user/worker

# layer_grep PATTERN FILES...: matching lines, one per line ("" if none)
layer_grep() {
	local pat=$1
	shift
	grep -nE "$pat" "$@" 2>/dev/null || true
}

test_layers_handlers_never_see_ngtcp2_or_nghttp3() {
	local hits
	hits=$(layer_grep 'ngtcp2|nghttp3|NGTCP2|NGHTTP3|worker/quic/|worker/http/h3\.h' \
		"$ROOT"/$W/handler/*.[ch])
	[[ -z $hits ]] || fail "transport names under handler/: $hits"
}

test_layers_transport_and_protocols_name_no_handler() {
	local hits
	hits=$(layer_grep '[Pp][Hh][Pp]|[Ff]ast[Cc][Gg][Ii]|fcgi|filecache|qs_static|worker/handler/' \
		"$ROOT"/$W/quic/*.[ch] "$ROOT"/$W/http/*.[ch])
	[[ -z $hits ]] || fail "handler names in quic/ or http/: $hits"
	hits=$(layer_grep 'worker/http/|worker/handler/' "$ROOT"/$W/quic/*.[ch])
	[[ -z $hits ]] || fail "quic/ includes a layer above it: $hits"
}

test_layers_worker_includes_no_loader_header() {
	local hits
	hits=$(layer_grep '#include "loader/' "$ROOT"/$W/*.[ch] "$ROOT"/$W/*/*.[ch])
	[[ -z $hits ]] || fail "the worker includes loader headers: $hits"
}
