#!/usr/bin/env bash
# Builds arena-node_VERSION_ARCH.deb from a build configured for /usr
# (`make deb` configures and builds it): the programs (stripped), the man
# pages, the systemd unit, the default configuration as a conffile, the
# Debian changelog and copyright, dependencies from dpkg-shlibdeps.
#   tools/mkdeb.sh BUILD_DIR [OUT_DIR]   → prints the package's path
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "$1" && pwd)"
out="$(cd "${2:-.}" && pwd)"
dist="$here/tools/dist/deb"

upstream="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")"
prefix="$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")"
[ "$prefix" = /usr ] || { echo "mkdeb: $build is configured for $prefix, not /usr" >&2; exit 1; }
revision="$(sed -n '1s/^arena-node (\([^)]*\)).*/\1/p' "$dist/changelog")"
[ "${revision%-*}" = "$upstream" ] ||
    { echo "mkdeb: tools/dist/deb/changelog is at $revision, the project at $upstream" >&2; exit 1; }
arch="$(dpkg --print-architecture)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
DESTDIR="$root" cmake --install "$build" >/dev/null
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    "$root/usr/bin/arena-node" "$root/usr/bin/arena-mesh"
gzip -9n "$root"/usr/share/man/man1/*.1
doc="$root/usr/share/doc/arena-node"
install -d -m 755 "$doc"
install -m 644 "$dist/copyright" "$doc/copyright"
gzip -9nc "$dist/changelog" >"$doc/changelog.Debian.gz"
chmod 644 "$doc/changelog.Debian.gz"

# the libraries the programs link, as Debian names their packages
mkdir -p "$work/src/debian"
printf 'Source: arena-node\n\nPackage: arena-node\nArchitecture: any\n' >"$work/src/debian/control"
depends="$(cd "$work/src" && dpkg-shlibdeps -O -e"$root/usr/bin/arena-node" -e"$root/usr/bin/arena-mesh" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { echo "mkdeb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d -m 755 "$root/DEBIAN"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$revision/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$dist/control.in" >"$root/DEBIAN/control"
install -m 644 "$dist/conffiles" "$root/DEBIAN/conffiles"
install -m 755 "$dist/postrm" "$root/DEBIAN/postrm"
(cd "$root" && find usr etc lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 755 {} +

deb="$out/arena-node_${revision}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
