# SPDX-License-Identifier: MIT
# The Debian package (make deb), its systemd units, man pages and
# scripts/tune-sysctl.sh.  There is no running systemd here: the units are
# checked by systemd-analyze verify in the installed root, and the loader
# is started as the unit would start it (its ExecStart, its capability
# bounding set, NoNewPrivileges, LimitNOFILE and LimitMEMLOCK applied with
# setpriv and prlimit).  The package is installed into a fresh root with
# dpkg --root and --force-script-chrootless (its maintainer scripts honour
# DPKG_ROOT); the host's users, /etc and units are checked untouched.

need_deb_tools() {
	local t
	for t in dpkg-deb dpkg-shlibdeps systemd-analyze groff setpriv prlimit; do
		command -v "$t" >/dev/null || { need "$t"; return; }
	done
	return 0
}

# build_deb: make deb (a no-op build after make all, then about 5 s of
# packing); sets DEB
build_deb() {
	local out
	out=$(make -C "$ROOT" --no-print-directory deb 2>&1) || { echo "$out"; fail "make deb"; return 1; }
	DEB=$(sed -n 's/^mkdeb: wrote //p' <<<"$out")
	[[ -s $DEB ]] || { echo "$out"; fail "make deb wrote no package"; }
}

# the Depends field's package names, without versions
deb_depends() {
	dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/^ *//; s/[ (].*//; /^$/d'
}

# the man pages render without a warning; each option of --help is in quicsteerd.8
test_pkg_man_pages() {
	local m err opts missing=0 o
	need_deb_tools || return
	make -C "$ROOT" --no-print-directory man >/dev/null || { fail "make man"; return; }
	for m in quicsteerd quicsteerctl; do
		err=$(groff -man -ww -z "$ROOT/.output/man/$m.8" 2>&1)
		[[ -z $err ]] || { fail "groff warns on $m.8: $err"; return; }
		if command -v mandoc >/dev/null; then
			err=$(mandoc -T lint -W warning "$ROOT/.output/man/$m.8" 2>&1)
			[[ -z $err ]] || { fail "mandoc warns on $m.8: $err"; return; }
		fi
	done
	opts=$("$QS" --help | grep -oE '^  (-[a-zA-Z], |    )--[a-z-]+' | grep -o -- '--[a-z-]*$')
	for o in $opts; do
		grep -qF -- "\\fB${o//-/\\-}\\fR" "$ROOT/.output/man/quicsteerd.8" ||
			{ echo "not in quicsteerd.8: $o"; missing=$((missing + 1)); }
	done
	assert_eq "options of --help missing from quicsteerd.8" 0 "$missing" || return
	assert_ge "options in quicsteerd.8" 40 "$(wc -w <<<"$opts")" || return
	for o in reload reload-keys keys; do
		grep -qF -- "\\fB${o//-/\\-}\\fR" "$ROOT/.output/man/quicsteerctl.8" ||
			{ fail "quicsteerctl.8 lacks the command $o"; return; }
	done
	info "$(wc -w <<<"$opts") options in quicsteerd.8; both pages render without warnings"
}

# dpkg-deb -c and -I: every file where the package says, the conffile, the
# Depends computed (the dynamic libraries, not OpenSSL: it is static)
test_pkg_deb_contents() {
	local list f deps conf out
	need_deb_tools || return
	build_deb || return
	info "$(basename "$DEB"), $(stat -c %s "$DEB") bytes"
	list=$(dpkg-deb -c "$DEB" | awk '{print $1, $NF}')
	for f in ./usr/sbin/quicsteerd ./usr/sbin/quicsteerctl ./usr/sbin/quicsteer-tune-sysctl; do
		grep -qx -- "-rwxr-xr-x $f" <<<"$list" || { fail "no executable $f"; return; }
	done
	for f in ./lib/systemd/system/quicsteer.service ./lib/systemd/system/quicsteer@.service \
		./etc/quicsteer/quicsteer.conf ./usr/share/quicsteer/www/index.html \
		./usr/share/quicsteer/www/index.php ./usr/share/man/man8/quicsteerd.8.gz \
		./usr/share/man/man8/quicsteerctl.8.gz ./usr/share/man/man8/quicsteer-tune-sysctl.8.gz \
		./usr/share/doc/quicsteer/copyright \
		./usr/share/doc/quicsteer/changelog.Debian.gz; do
		grep -qx -- "-rw-r--r-- $f" <<<"$list" || { fail "no file $f (mode 644)"; return; }
	done
	! grep -q 'server\.\(crt\|key\)' <<<"$list" || { fail "a certificate is shipped"; return; }
	dpkg-deb -c "$DEB" | awk '$2 != "root/root" { bad = 1 } END { exit bad }' ||
		{ fail "files not owned by root"; return; }
	conf=$(dpkg-deb -I "$DEB" conffiles)
	assert_eq "conffiles" /etc/quicsteer/quicsteer.conf "$conf" || return
	deps=$(deb_depends | paste -sd' ')
	info "Depends: $deps; Recommends: $(dpkg-deb -f "$DEB" Recommends)"
	for f in libbpf1 libxdp1 libinih1 libseccomp2 libnghttp2-14 libc6; do
		grep -qw -- "$f" <<<"$deps" || { fail "Depends lacks $f (dpkg-shlibdeps)"; return; }
	done
	! grep -qE 'libssl|libngtcp2' <<<"$deps" || { fail "OpenSSL or ngtcp2 is dynamic: $deps"; return; }
	dpkg-deb -f "$DEB" Recommends | grep -w php-fpm >/dev/null || { fail "php-fpm not recommended"; return; }
	# Debian's checks, when installed (it is not in the set-up: 20 s here)
	if command -v lintian >/dev/null; then
		out=$(lintian "$DEB" 2>&1 | grep -v 'running with root privileges') || true
		[[ -z $out ]] || { echo "$out"; fail "lintian complains (above)"; return; }
		info "lintian: no error, no warning"
	fi
}

# root_status ROOT: a dpkg database in ROOT holding the host's entries of
# the packages the .deb depends on, so dpkg checks them, versions included
root_status() {
	local p
	mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates" "$1/var/lib/dpkg/triggers"
	: >"$1/var/lib/dpkg/available"
	for p in $(deb_depends); do
		dpkg-query -s "$p" 2>/dev/null || { echo "the host lacks $p" >&2; return 1; }
		echo
	done >"$1/var/lib/dpkg/status"
}

# a fresh root: the users a Debian system has, a dpkg database, nothing else
make_root() {
	# not in /tmp: the unit's PrivateTmp hides it
	mkdir -p /var/cache/quicsteer
	PKG_ROOT=$(mktemp -d /var/cache/quicsteer/test-pkgroot.XXXXXX)
	defer "rm -rf $PKG_ROOT"
	chmod 755 "$PKG_ROOT"	# the workers (www-data) read the docroot under it
	mkdir -p "$PKG_ROOT/etc"
	printf 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n' \
		>"$PKG_ROOT/etc/passwd"
	printf 'root:x:0:\nwww-data:x:33:\n' >"$PKG_ROOT/etc/group"
	printf 'root:*:19000:0:99999:7:::\nwww-data:*:19000:0:99999:7:::\n' >"$PKG_ROOT/etc/shadow"
	printf 'root:*::\nwww-data:*::\n' >"$PKG_ROOT/etc/gshadow"
	root_status "$PKG_ROOT"
}

pkg_dpkg() { dpkg --root="$PKG_ROOT" --force-script-chrootless "$@"; }

# what an install must not touch on the host
host_state() {
	md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow
	ls -d /etc/quicsteer /lib/systemd/system/quicsteer* /usr/sbin/quicsteer* 2>&1 || true
}

# verify UNIT...: systemd-analyze verify in the installed root, silent
verify_units() {
	# its units need systemd's own (sysinit.target...): the host's, copied
	cp -an /lib/systemd/system/. "$PKG_ROOT/lib/systemd/system/"
	(cd / && MANPATH=$PKG_ROOT/usr/share/man systemd-analyze verify --root="$PKG_ROOT" "$@" 2>&1)
}

# unit_run UNIT INST ARGS...: run ExecStart of the installed UNIT, %i as
# INST, as systemd would: its capability bounding set, NoNewPrivileges,
# LimitNOFILE and LimitMEMLOCK; the binary and config from the root; the
# log (systemd's journal: stderr) in UNIT_LOG.  Sets UNIT_PID.
unit_run() {
	local unit=$PKG_ROOT/lib/systemd/system/$1 inst=$2 caps nofile memlock cmd
	shift 2
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr ' ' '\n' |
		sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd,)
	nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")
	memlock=$(sed -n 's/^LimitMEMLOCK=//p' "$unit" | sed 's/infinity/unlimited/')
	grep -qx 'NoNewPrivileges=yes' "$unit" || { fail "the unit lost NoNewPrivileges"; return 1; }
	[[ -n $caps && -n $nofile && -n $memlock ]] || { fail "unit: no capabilities or limits"; return 1; }
	read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' "$unit" | sed "s/%i/$inst/g")"
	cmd[0]=$PKG_ROOT${cmd[0]}
	cmd=("${cmd[@]//\/etc\/quicsteer\//$PKG_ROOT/etc/quicsteer/}")
	UNIT_CAPS=$caps UNIT_NOTE=
	# without CAP_SYS_RESOURCE (some containers) no hard limit goes up: the
	# one there is, and as many connections as fit (the loader warns else)
	if ! prlimit --nofile="$nofile:$nofile" -- true 2>/dev/null; then
		nofile=$(ulimit -Hn)
		UNIT_NOTE="LimitNOFILE not settable here (no CAP_SYS_RESOURCE): $nofile, and fewer connections"
		set -- "$@" --max-connections $(((nofile - 4096) / 16))
	fi
	if ! prlimit --memlock="$memlock:$memlock" -- true 2>/dev/null; then
		memlock=$(ulimit -Hl)
		UNIT_NOTE+="${UNIT_NOTE:+; }LimitMEMLOCK not settable here: $memlock KB"
		[[ $memlock == unlimited ]] || memlock=$((memlock * 1024))
	fi
	unit_sandbox "$unit" "$inst" prlimit --nofile="$nofile:$nofile" --memlock="$memlock:$memlock" -- \
		setpriv --bounding-set=-all,"$caps" --no-new-privs -- "${cmd[@]}" "$@" \
		2>"$UNIT_LOG" &
	UNIT_PID=$!
	defer "qs_kill $UNIT_PID"
}

# unit_sandbox UNIT INST CMD...: exec CMD (run it in the background: the
# shell becomes it, so $! is its pid) in
# a mount namespace of its own laid out as the unit's directives would:
# ProtectSystem=strict and ProtectKernelTunables (every mount read-only
# but /dev and /proc, /proc/sys read-only), ReadWritePaths=,
# RuntimeDirectory= (made here, on the host, where the loader would make
# it), PrivateTmp= (/tmp and /var/tmp empty), ProtectHome= (/home, /root,
# /run/user empty and read-only); and systemd's clean environment.  Only
# bind remounts: the host's mounts keep their flags.
unit_sandbox() {
	local unit=$1 inst=$2 rw d
	shift 2
	for d in ProtectSystem=strict PrivateTmp=yes ProtectHome=yes ProtectKernelTunables=yes; do
		grep -qx "$d" "$unit" || { fail "the unit lost $d, which the test lays out"; exit 1; }
	done
	rw=$(sed -n 's/^ReadWritePaths=//p' "$unit")
	mkdir -p "/run/quicsteer/$inst"
	exec unshare --mount --propagation private -- bash -c '
		set -e
		host_ns=$1 rw=$2 inst=$3
		shift 3
		# never on the host: that would make its / read-only
		[[ $(readlink /proc/self/ns/mnt) != "$host_ns" ]] || exit 99
		awk "{print \$5}" /proc/self/mountinfo | sort -u | while read -r m; do
			case $m in /proc|/proc/*|/dev|/dev/*) continue ;; esac
			mount -o remount,bind,ro "$m" 2>/dev/null || true
		done
		mount --bind /proc/sys /proc/sys
		mount -o remount,bind,ro /proc/sys
		for p in $rw /run/quicsteer/$inst; do
			[[ $p == -* ]] && { p=${p#-}; [[ -e $p ]] || continue; }
			mount --bind "$p" "$p"
			mount -o remount,bind,rw "$p"
		done
		for p in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$p"; done
		for p in /home /root /run/user; do
			[[ ! -d $p ]] || mount -t tmpfs -o ro,mode=0755 tmpfs "$p"
		done
		exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			${NOTIFY_SOCKET:+NOTIFY_SOCKET=$NOTIFY_SOCKET} "$@"
	' unit-sandbox "$(readlink /proc/self/ns/mnt)" "$rw" "$inst" "$@"
}

# notify_listen NAME FILE: a stand-in for systemd's notification socket
# at the abstract address @NAME: every message, line by line, into FILE
# after the sender's pid (SO_PASSCRED), as systemd's NotifyAccess=main
# tells senders apart.  Sets NOTIFY_PID.
notify_listen() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = 0
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = int.from_bytes(data[0:4], "little")
    for line in msg.decode(errors="replace").split("\n"):
        out.write("%d %s\n" % (pid, line))
' "$1" "$2" &
	NOTIFY_PID=$!
	defer "kill $NOTIFY_PID"
	wait_until 5 grep -q "@$1\$" /proc/net/unix
}

# notified FILE PID MSG: PID sent MSG (a whole line)
notified() { grep -qx "$2 $3" "$1"; }

# curl_get PORT PATH: status and body over HTTPS/TCP
curl_get() {
	curl -sk --max-time 5 -w '\n%{http_code}' "https://127.0.0.1:$1$2"
}

# dpkg --root installs the package into a fresh root (its Depends checked
# against the host's versions); the postinst makes quicsteer-php and a
# certificate there and nothing on the host; both units verify; the
# installed quicsteerd, started as quicsteer@.service starts it, serves the
# demo over TCP and HTTP/3 (PHP through its managed pool), stops cleanly;
# purge removes it all
test_pkg_install_and_serve() {
	local before out inst port body php=0 status conns files fcgi notes cmd
	need_deb_tools || return
	need_root_bpf || return
	build_deb || return
	before=$(host_state)
	make_root || { fail "the host lacks a dependency of the package"; return; }
	out=$(pkg_dpkg -i "$DEB" 2>&1) || { echo "$out"; fail "dpkg -i into the root"; return; }
	assert_eq "the host's users, /etc and units" "$before" "$(host_state)" || return
	grep -q '^quicsteer-php:x:[0-9]*:[0-9]*::/nonexistent:/usr/sbin/nologin$' \
		"$PKG_ROOT/etc/passwd" || { fail "postinst: no quicsteer-php"; return; }
	grep -q '^quicsteer-php:' "$PKG_ROOT/etc/group" || { fail "postinst: no group"; return; }
	openssl x509 -noout -in "$PKG_ROOT/etc/quicsteer/server.crt" || { fail "postinst: no certificate"; return; }
	assert_eq "the key's mode" 600 "$(stat -c %a "$PKG_ROOT/etc/quicsteer/server.key")" || return
	pkg_dpkg -s quicsteer | grep '^ /etc/quicsteer/quicsteer.conf [0-9a-f]\{32\}$' >/dev/null ||
		{ fail "dpkg does not list the conffile"; return; }
	pkg_dpkg -L quicsteer | grep -x /usr/sbin/quicsteerd >/dev/null || { fail "dpkg -L"; return; }

	# LimitNOFILE: what a worker needs at the defaults (the loader warns below it)
	conns=$("$QS" --help-config | sed -n 's/^#max_connections = //p')
	files=$("$QS" --help-config | sed -n 's/^#files_per_connection = //p')
	assert_ge "LimitNOFILE (--max-connections x --files-per-connection + 4096)" \
		$((conns * files + 4096)) "$(sed -n 's/^LimitNOFILE=//p' \
		"$PKG_ROOT/lib/systemd/system/quicsteer.service")" || return

	cp "$PKG_ROOT/lib/systemd/system/quicsteer@.service" "$PKG_ROOT/lib/systemd/system/quicsteer@t1.service"
	out=$(verify_units quicsteer.service quicsteer@t1.service)
	[[ -z $out ]] || { echo "$out"; fail "systemd-analyze verify is not silent"; return; }
	# and it would say so: a unit with a mistake
	sed 's/^KillMode=mixed/KillMode=mixd/' "$PKG_ROOT/lib/systemd/system/quicsteer@.service" \
		>"$PKG_ROOT/lib/systemd/system/quicsteer@t2.service"
	[[ -n $(verify_units quicsteer@t2.service) ]] || { fail "verify missed a bad KillMode"; return; }
	rm -f "$PKG_ROOT"/lib/systemd/system/quicsteer@t[12].service
	info "systemd-analyze verify: quicsteer.service and quicsteer@.service clean"

	# the demo as the package configures it: managed PHP, when php-fpm is here
	compgen -G "/usr/sbin/php-fpm*" >/dev/null && id quicsteer-php >/dev/null 2>&1 && php=1
	inst=t$$-pkg
	QS_PIN=$PIN_ROOT/$inst
	defer_instance_cleanup "$inst"
	UNIT_LOG=$(mktemp /tmp/qs-test-pkg.XXXXXX.log)
	defer "rm -f $UNIT_LOG"
	# Type=notify: once the loader speaks sd_notify, what it says is checked
	notes=$(mktemp /tmp/qs-test-pkg-notify.XXXXXX)
	defer "rm -f $notes"
	if grep -qa NOTIFY_SOCKET "$PKG_ROOT/usr/sbin/quicsteerd"; then
		notify_listen "qs-test-notify-$$" "$notes" || { fail "no notify listener"; return; }
		export NOTIFY_SOCKET=@qs-test-notify-$$
	fi
	# a second instance, as an admin makes one: a copy of the config
	cp "$PKG_ROOT/etc/quicsteer/quicsteer.conf" "$PKG_ROOT/etc/quicsteer/$inst.conf"
	fcgi=()
	((php)) || fcgi=(--fastcgi off)
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		unit_run quicsteer@.service "$inst" --workers 1 --listen "127.0.0.1:$port" \
			--docroot "$PKG_ROOT/usr/share/quicsteer/www" \
			--cert "$PKG_ROOT/etc/quicsteer/server.crt" --key "$PKG_ROOT/etc/quicsteer/server.key" \
			"${fcgi[@]}" || return
		wait_until 15 qs_ready "$UNIT_PID" 1 && break
		grep -q "already in use" "$UNIT_LOG" || { cat "$UNIT_LOG"; fail "did not start"; return; }
		qs_kill "$UNIT_PID"
	done
	qs_ready "$UNIT_PID" 1 || { cat "$UNIT_LOG"; fail "did not start"; return; }
	info "started with only $UNIT_CAPS${UNIT_NOTE:+; $UNIT_NOTE}"
	body=$(curl_get "$port" /)
	assert_eq "GET / over TCP" 200 "$(tail -1 <<<"$body")" || return
	grep -q "This page came over HTTP/3" <<<"$body" || { fail "not the demo page: $body"; return; }
	if ((php)); then
		body=$(curl_get "$port" /index.php)
		assert_eq "GET /index.php over TCP" 200 "$(tail -1 <<<"$body")" || return
		grep -q "<title>quicsteer demo</title>" <<<"$body" || { fail "PHP did not run: $body"; return; }
	fi
	if command -v gtlsclient >/dev/null; then
		out=$(timeout 10 gtlsclient --exit-on-all-streams-close --timeout=5s 127.0.0.1 "$port" \
			"https://127.0.0.1:$port/index.html" 2>&1 | gtls_statuses)
		assert_eq "GET /index.html over HTTP/3" 200 "$out" || return
	fi
	# ExecReload, as the unit has it
	read -r -a cmd <<<"$(sed -n 's/^ExecReload=//p' "$PKG_ROOT/lib/systemd/system/quicsteer@.service" |
		sed "s/%i/$inst/g")"
	out=$("$PKG_ROOT${cmd[0]}" "${cmd[@]:1}" 2>&1) || { echo "$out"; fail "ExecReload failed"; return; }
	info "ExecReload: $out"
	if [[ -n ${NOTIFY_SOCKET:-} ]]; then
		wait_until 5 notified "$notes" "$UNIT_PID" READY=1 ||
			{ cat "$notes"; fail "no READY=1 from the main pid"; return; }
		grep -q "^$UNIT_PID RELOADING=1" "$notes" || { cat "$notes"; fail "no RELOADING=1"; return; }
	fi
	kill -TERM "$UNIT_PID"
	wait_until 15 is_dead "$UNIT_PID" || { fail "no stop within 15 s of SIGTERM"; return; }
	status=0
	wait "$UNIT_PID" || status=$?
	assert_eq "exit status after SIGTERM" 0 "$status" || { cat "$UNIT_LOG"; return; }
	[[ ! -e $QS_PIN ]] || { fail "pins left"; return; }
	# RuntimeDirectory= is systemd's to remove; the loader empties it
	[[ -z $(ls -A "/run/quicsteer/$inst") ]] || { fail "left in the run dir: $(ls "/run/quicsteer/$inst")"; return; }
	rmdir "/run/quicsteer/$inst"
	if grep -E ' warn: ' "$UNIT_LOG"; then
		fail "warnings under the unit's settings (above)"
		return
	fi
	if [[ -n ${NOTIFY_SOCKET:-} ]]; then
		notified "$notes" "$UNIT_PID" STOPPING=1 || { cat "$notes"; fail "no STOPPING=1"; return; }
		# NotifyAccess=main: systemd drops what another process sends
		! grep -qv "^$UNIT_PID " "$notes" || { cat "$notes"; fail "not all from the main pid"; return; }
		info "sd_notify: READY=1, RELOADING=1, STOPPING=1, all from the main pid"
	else
		info "this quicsteerd does not speak sd_notify yet: Type=notify not checked"
	fi
	info "served $( ((php)) && echo "static and PHP" || echo static) over TCP$(command -v \
		gtlsclient >/dev/null && echo " and HTTP/3"), stopped with status 0, no warning"

	rm "$PKG_ROOT/etc/quicsteer/$inst.conf"
	out=$(pkg_dpkg --purge quicsteer 2>&1) || { echo "$out"; fail "dpkg --purge"; return; }
	[[ ! -e $PKG_ROOT/etc/quicsteer && ! -e $PKG_ROOT/usr/sbin/quicsteerd ]] ||
		{ fail "purge left /etc/quicsteer or the binary"; return; }
	assert_eq "the host after purge" "$before" "$(host_state)"
}

# tune-sysctl.sh on a copy of the values: --dry-run and --check change
# nothing, a run raises what is low and never lowers, --persist writes the
# file; the host's values are only read
test_pkg_tune_sysctl() {
	local fake sysd host_before out n
	fake=$(mktemp -d /tmp/qs-test-sysctl.XXXXXX)
	defer "rm -rf $fake"
	sysd=$fake/sysctl.d
	mkdir -p "$fake/net/core" "$fake/net/ipv4"
	echo 212992 >"$fake/net/core/rmem_max"
	echo 99999999 >"$fake/net/core/wmem_max"	# larger than wanted: kept
	echo 1000 >"$fake/net/core/netdev_max_backlog"
	echo "10 20 30" >"$fake/net/ipv4/udp_mem"
	host_before=$(sysctl -n net.core.rmem_max net.core.wmem_max net.core.netdev_max_backlog)
	tune() { QS_PROC_SYS=$fake QS_SYSCTL_D=$sysd "$ROOT/scripts/tune-sysctl.sh" "$@"; }

	"$ROOT/scripts/tune-sysctl.sh" --help | grep 'net.core.rmem_max = 7340032' >/dev/null ||
		{ fail "--help does not explain the values"; return; }
	out=$(tune --dry-run --persist) || { fail "--dry-run failed: $out"; return; }
	n=$(grep -c '^would set ' <<<"$out")
	assert_eq "changes --dry-run plans" 3 "$n" || { echo "$out"; return; }
	assert_eq "rmem_max after --dry-run" 212992 "$(cat "$fake/net/core/rmem_max")" || return
	[[ ! -e $sysd ]] || { fail "--dry-run --persist wrote $sysd"; return; }
	tune --check >/dev/null && { fail "--check exits 0 with changes due"; return; }

	out=$(tune --persist) || { fail "tune-sysctl failed: $out"; return; }
	assert_eq "rmem_max" 7340032 "$(cat "$fake/net/core/rmem_max")" || return
	assert_eq "wmem_max (larger: kept)" 99999999 "$(cat "$fake/net/core/wmem_max")" || return
	assert_eq "netdev_max_backlog" 8192 "$(cat "$fake/net/core/netdev_max_backlog")" || return
	read -r -a n <"$fake/net/ipv4/udp_mem"
	assert_ge "udp_mem max" $((16 * $(nproc) * 1024 * 1024 / $(getconf PAGESIZE))) "${n[2]}" || return
	grep -qx 'net.core.wmem_max = 99999999' "$sysd/60-quicsteer.conf" ||
		{ fail "--persist would lower wmem_max at boot: $(cat "$sysd/60-quicsteer.conf")"; return; }
	grep -qx 'net.core.rmem_max = 7340032' "$sysd/60-quicsteer.conf" || { fail "--persist"; return; }
	tune --check >/dev/null || { fail "--check after tuning still wants changes"; return; }
	assert_eq "the host's values" "$host_before" \
		"$(sysctl -n net.core.rmem_max net.core.wmem_max net.core.netdev_max_backlog)"
}
