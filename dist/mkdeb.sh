#!/bin/bash
# SPDX-License-Identifier: MIT
# make deb: build quicsteer_VERSION_ARCH.deb from the built tree with
# dpkg-deb (no debhelper: the layout is small and every file is named
# here).  Usage: dist/mkdeb.sh [OUTDIR]   (default .output/deb)
#
# Layout: quicsteerd and quicsteerctl in /usr/sbin (the BPF objects are
# inside quicsteerd, as skeletons: nothing to install for them), the units
# in /lib/systemd/system, /etc/quicsteer/quicsteer.conf (a conffile: every
# option commented out at its default, from quicsteerd --help-config, and
# the package's few settings), the demo site in /usr/share/quicsteer/www,
# scripts/tune-sysctl.sh as /usr/sbin/quicsteer-tune-sysctl, man pages, docs.
# No certificate: the postinst makes a self-signed one when there is none.
#
# Depends are computed by dpkg-shlibdeps from the binaries (OpenSSL 3.5 and
# ngtcp2 are linked statically); by hand only what the maintainer scripts
# run (useradd, openssl) and php-fpm, a Recommends: the packaged config runs
# a managed pool, and a static-only or remote-pool site needs none.
#
# Version: VERSION, and for a commit that is not tagged vVERSION,
# ~gitDATE.HASH (before the release VERSION in dpkg's order), then the
# Debian revision -1.  SOURCE_DATE_EPOCH (the commit's time by default)
# dates the changelog, the man pages and every file, so the same commit
# gives the same package.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/.output/deb}
MAN_DIR=${MAN_DIR:-$ROOT/.output/man}
cd "$ROOT"

die() { echo "mkdeb: $*" >&2; exit 1; }

for f in quicsteerd quicsteerctl "$MAN_DIR/quicsteerd.8" "$MAN_DIR/quicsteerctl.8"; do
	[[ -s $f ]] || die "$f is missing: run 'make deb', which builds it first"
done
for t in dpkg-deb dpkg-shlibdeps; do
	command -v "$t" >/dev/null || die "$t not found (apt install dpkg-dev)"
done

upstream=$(cat VERSION)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
if git rev-parse -q --verify "refs/tags/v$upstream" >/dev/null &&
   [[ $(git rev-parse HEAD) == $(git rev-parse "v$upstream^{commit}") ]]; then
	version=$upstream-1
else
	hash=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
	version=$upstream~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S).$hash-1
fi
[[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]] ||
	echo "mkdeb: warning: the tree has uncommitted changes; $version does not name them" >&2
arch=$(dpkg --print-architecture)

stage=$(mktemp -d /tmp/qs-mkdeb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/root
doc=$pkg/usr/share/doc/quicsteer

install -d -m 755 "$pkg/DEBIAN" "$pkg/usr/sbin" "$pkg/lib/systemd/system" \
	"$pkg/etc/quicsteer" "$pkg/usr/share/quicsteer/www" "$pkg/usr/share/man/man8" "$doc"
install -m 755 quicsteerd quicsteerctl "$pkg/usr/sbin/"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
	"$pkg/usr/sbin/quicsteerd" "$pkg/usr/sbin/quicsteerctl"
install -m 755 scripts/tune-sysctl.sh "$pkg/usr/sbin/quicsteer-tune-sysctl"
install -m 644 www/* "$pkg/usr/share/quicsteer/www/"

# the units: the template as written, quicsteer.service its instance
# "default" with the default config file
install -m 644 dist/systemd/quicsteer@.service "$pkg/lib/systemd/system/"
{
	echo "# SPDX-License-Identifier: MIT"
	echo "# quicsteer, instance \"default\", configured in /etc/quicsteer/quicsteer.conf."
	echo "# More instances: quicsteer@NAME.service, with /etc/quicsteer/NAME.conf."
	echo "# Why each setting is here: docs/operations.md, \"systemd\"."
	sed -e 's|/etc/quicsteer/%i\.conf|/etc/quicsteer/quicsteer.conf|' -e 's|%i|default|g' \
		-e '1,/^\[Unit\]/{/^\[Unit\]/!d}' dist/systemd/quicsteer@.service
} >"$pkg/lib/systemd/system/quicsteer.service"
chmod 644 "$pkg/lib/systemd/system/quicsteer.service"

# the config file: every option at its default, the package's settings first
./quicsteerd --help-config |
	awk -v settings=dist/debian/conf-settings '
		{ print }
		/^\[quicsteer\]$/ { while ((getline l < settings) > 0) print l
				   print "\n# ---- every option, commented out at its default ----" }' \
	>"$pkg/etc/quicsteer/quicsteer.conf"
chmod 644 "$pkg/etc/quicsteer/quicsteer.conf"

# quicsteer-tune-sysctl's page: its --help, as it is laid out
{
	printf '.TH QUICSTEER\\-TUNE\\-SYSCTL 8 %s "quicsteer %s" "System Administration"\n' \
		"$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" "$upstream"
	printf '.SH NAME\nquicsteer\\-tune\\-sysctl \\- raise the UDP buffer limits for quicsteer\n'
	printf '.SH DESCRIPTION\n.nf\n'
	"$pkg/usr/sbin/quicsteer-tune-sysctl" --help |
		sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^[.']/\\\\&&/"
	printf '.fi\n.SH SEE ALSO\n.BR quicsteerd (8),\n.BR sysctl (8)\n'
} >"$MAN_DIR/quicsteer-tune-sysctl.8"
for m in quicsteerd quicsteerctl quicsteer-tune-sysctl; do
	gzip -9n <"$MAN_DIR/$m.8" >"$pkg/usr/share/man/man8/$m.8.gz"
done
install -m 644 dist/debian/copyright "$doc/"
install -D -m 644 dist/debian/lintian-overrides "$pkg/usr/share/lintian/overrides/quicsteer"
for src in README.md docs/operations.md docs/configuration.md; do
	gzip -9n <"$src" >"$doc/${src##*/}.gz"
done
# the maintainer: DEBFULLNAME and DEBEMAIL, as Debian's tools take it, or
# the repository's committer
maint="${DEBFULLNAME:-$(git config user.name || echo quicsteer)} <${DEBEMAIL:-$(git config user.email || echo "root@$(hostname -f)")}>"
{
	echo "quicsteer ($version) unstable; urgency=medium"
	echo
	echo "  * Built by make deb from commit $(git rev-parse HEAD 2>/dev/null || echo unknown)."
	echo
	echo " -- $maint  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"

# the libraries' packages, as dpkg-shlibdeps finds them (it reads a
# debian/control, even when told the package)
mkdir -p "$stage/debian"
printf 'Source: quicsteer\n\nPackage: quicsteer\nArchitecture: any\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O -e root/usr/sbin/quicsteerd -e root/usr/sbin/quicsteerctl 2>"$stage/shlibdeps.err") ||
	{ cat "$stage/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
shlibs=${shlibs#shlibs:Depends=}
[[ -n $shlibs ]] || die "dpkg-shlibdeps found no dependency"

for s in postinst prerm postrm; do
	install -m 755 "dist/debian/$s" "$pkg/DEBIAN/$s"
done
echo /etc/quicsteer/quicsteer.conf >"$pkg/DEBIAN/conffiles"
cat >"$pkg/DEBIAN/control" <<EOF
Package: quicsteer
Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $shlibs, passwd, openssl
Recommends: php-fpm
Section: httpd
Priority: optional
Description: HTTP/3 and HTTPS server for PHP with eBPF connection steering
 quicsteer serves HTTP/3 (QUIC), HTTP/2 and HTTP/1.1 from one worker per
 CPU, its static files itself and PHP through php-fpm.  An eBPF
 SK_REUSEPORT program steers every QUIC datagram to the worker that owns
 its connection ID, so connections survive client address changes and
 reloads without dropping.
 .
 The quicsteer.service unit serves a demo site on port 4433 with a
 self-signed certificate; /etc/quicsteer/quicsteer.conf lists every option.
EOF
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles" "$pkg/DEBIAN/md5sums"
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
rm -f "$OUT"/quicsteer_*.deb	# one package here: the one just built
deb=$OUT/quicsteer_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "mkdeb: wrote $deb"
