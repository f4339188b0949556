#!/bin/sh
# Builds lodge_VERSION_amd64.deb from built binaries with dpkg-deb (make deb).
#   scripts/mkdeb.sh VERSION BINDIR OUTDIR
# The tree is what scripts/install.sh lays out under /usr (units in
# /lib/systemd/system, as bookworm's systemd and lintian expect), plus
# Debian's control files from packaging/deb. Runtime dependencies on shared
# libraries come from dpkg-shlibdeps; the commands lodged runs are listed
# in packaging/deb/control.in.
set -eu
version=$1 bindir=$2 outdir=$3
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/root

"$here/scripts/install.sh" "$bindir" "$stage" /usr /lib/systemd/system

doc=$stage/usr/share/doc/lodge
install -d "$doc" "$stage/DEBIAN"
install -m 0644 "$here/packaging/deb/copyright" "$doc/copyright"
install -D -m 0644 "$here/packaging/deb/lintian-overrides" "$stage/usr/share/lintian/overrides/lodge"
date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")
cat >"$work/changelog" <<EOC
lodge ($version) unstable; urgency=medium

  * Built from the lodge source tree; see its git history for changes.

 -- lodge developers <lodge@lodge.invalid>  $date
EOC
gzip -9n <"$work/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# ${shlibs:Depends} the way debhelper computes it.
mkdir -p "$work/src/debian"
printf 'Source: lodge\n\nPackage: lodge\nArchitecture: amd64\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O -e"$stage/usr/bin/lodged" -e"$stage/usr/bin/lodge" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb: dpkg-shlibdeps found no library dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
	"$here/packaging/deb/control.in" >"$stage/DEBIAN/control"
for s in postinst prerm postrm; do
	install -m 0755 "$here/packaging/deb/$s" "$stage/DEBIAN/$s"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort |
	xargs md5sum >DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

mkdir -p "$outdir"
deb=$outdir/lodge_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
