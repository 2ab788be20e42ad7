#!/bin/sh
# Builds dist/hubd_<version>_<arch>.deb from a staging tree with
# dpkg-deb --root-owner-group: no packaging tool beyond dpkg.
#
#   build.sh ARCH BINARY VERSION OUTDIR
#
# ARCH is a Debian architecture (amd64, arm64, armhf), BINARY the static
# hubd built for it, VERSION a Debian version (see version.sh).
set -eu

die() {
	echo "deb: $*" >&2
	exit 1
}

[ $# -eq 4 ] || die "usage: build.sh ARCH BINARY VERSION OUTDIR"
arch=$1 bin=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

case "$arch" in
amd64 | arm64 | armhf) ;;
*) die "unsupported architecture '$arch' (want amd64, arm64 or armhf)" ;;
esac
case "$version" in
[0-9]*) ;;
*) die "version '$version' must start with a digit" ;;
esac
case "$version" in
*[!A-Za-z0-9.+~]*) die "version '$version' holds characters Debian does not allow" ;;
esac
[ -f "$bin" ] && [ -x "$bin" ] || die "binary '$bin' is missing or not executable"
[ -f "$top/hubd.service" ] || die "missing $top/hubd.service"
[ -f "$top/hubd.yaml" ] || die "missing $top/hubd.yaml (the example config)"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: apt-get install -y dpkg"

stage=$(mktemp -d "${TMPDIR:-/tmp}/hubd-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT INT TERM
umask 022
chmod 0755 "$stage"

install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" \
	"$stage/etc/hubd" "$stage/usr/share/doc/hubd"
# The state directory ships empty and private; postinst hands it to hubd.
install -d -m 0700 "$stage/var/lib/hubd"
install -m 0755 "$bin" "$stage/usr/bin/hubd"
install -m 0644 "$top/hubd.service" "$stage/lib/systemd/system/hubd.service"
# The config holds secrets: never world-readable, not even between unpack
# and postinst, which gives it to group hubd.
install -m 0640 "$top/hubd.yaml" "$stage/etc/hubd/hubd.yaml"
if [ -f "$top/INSTALL.md" ]; then
	install -m 0644 "$top/INSTALL.md" "$stage/usr/share/doc/hubd/INSTALL.md"
fi

for f in postinst prerm postrm; do
	install -m 0755 "$here/$f" "$stage/DEBIAN/$f"
done
install -m 0644 "$here/conffiles" "$stage/DEBIAN/conffiles"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$here/control.in" >"$stage/DEBIAN/control"
chmod 0644 "$stage/DEBIAN/control"

mkdir -p "$out"
deb="$out/hubd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
