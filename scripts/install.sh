#!/bin/sh
# Installs built lodge and lodged binaries with their systemd units, man
# pages and shell completions (bash, zsh, fish) under DESTDIR/PREFIX.
# make install and make deb (scripts/mkdeb.sh) both use it, so a source
# install and the package ship the same files.
#   scripts/install.sh BINDIR DESTDIR PREFIX UNITDIR
# BINDIR holds the built lodge and lodged; UNITDIR is where systemd units
# go (/lib/systemd/system for the package; PREFIX/lib/systemd/system for a
# source install, which systemd also reads for /usr/local). The units'
# /usr/bin/ paths are rewritten to PREFIX/bin/.
set -eu
bindir=$1 destdir=$2 prefix=$3 unitdir=$4
here=$(cd "$(dirname "$0")/.." && pwd)
root=$destdir$prefix

install -d "$root/bin" "$root/share/man/man1" "$destdir$unitdir" \
	"$root/share/bash-completion/completions" "$root/share/zsh/vendor-completions" \
	"$root/share/fish/vendor_completions.d"
for b in lodge lodged; do
	install -m 0755 "$bindir/$b" "$root/bin/$b"
	# Pages for every command, from the commands themselves.
	"$bindir/$b" manpage "$root/share/man/man1"
	"$bindir/$b" completion bash >"$root/share/bash-completion/completions/$b"
	"$bindir/$b" completion zsh >"$root/share/zsh/vendor-completions/_$b"
	"$bindir/$b" completion fish >"$root/share/fish/vendor_completions.d/$b.fish"
done
# Debian's policy: man pages compressed with gzip -9n (no name, no time).
for p in "$root"/share/man/man1/lodge*.1; do
	gzip -9nf "$p"
done
chmod 0644 "$root"/share/man/man1/* "$root"/share/bash-completion/completions/* \
	"$root"/share/zsh/vendor-completions/* "$root"/share/fish/vendor_completions.d/*
for u in lodged.service lodge-containers.service; do
	sed "s|/usr/bin/|$prefix/bin/|g" "$here/packaging/systemd/$u" >"$destdir$unitdir/$u"
	chmod 0644 "$destdir$unitdir/$u"
done
