#!/bin/bash
# SPDX-License-Identifier: MIT
# make run: start quicsteerd in the foreground on UDP 4433 (all addresses,
# IPv4 and IPv6), one worker per CPU, instance "demo".  Ctrl-C stops it and
# removes its pins.  QS_ARGS adds flags, e.g. QS_ARGS="--workers 4".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-4433}
INST=${INSTANCE:-demo}

cat <<MSG
quicsteerd: starting instance '$INST' on udp [::]:$PORT (Ctrl-C stops it)
  inspect:      sudo scripts/inspect.sh $INST
  send traffic: sudo .output/qs-send --instance $INST --to 127.0.0.1:$PORT --count 1000 --ports 50
  (the HTTP/3 worker and the PHP app come with the next issues: today the
   workers count and classify datagrams; see README.md)
MSG
# shellcheck disable=SC2086
exec "$ROOT/quicsteerd" --foreground --instance "$INST" --listen "[::]:$PORT" ${QS_ARGS:-}
