#!/usr/bin/env bash
# Make a local stand-in for an official Debian image from Debian's packages, and tag it.
#   container/standin.sh SUITE TAG [PACKAGE,...]
# e.g. `standin.sh trixie docker.io/library/debian:trixie-slim` gives the base the Dockerfile
# names; extra packages make the "fresh machine" image of ./dev fresh.
#
# The official debian:*-slim images are made by debuerreotype from the same packages: the
# minbase variant, with documentation, man pages and translations kept out by dpkg and the
# apt settings below. Two additions are for this test machine only, never for production:
# the host's extra CA certificates (its package registries are reached through a proxy
# that re-signs TLS), and a pip.conf pointing pip at the bundle that trusts them.
set -euo pipefail
suite=$1 tag=$2 extra=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Apt sources as the official images write them (deb822), so a Dockerfile can edit them the same way.
cat > "$work/debian.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
dpkgopts=()
while read -r opt; do dpkgopts+=(--dpkgopt="$opt"); done < <(grep -v '^#' "$here/standin/dpkg-slim")
mmdebstrap --quiet --variant=minbase ${extra:+--include="$extra"} "${dpkgopts[@]}" \
  --customize-hook='cd "$1" && rm -rf usr/share/groff/* usr/share/info/* usr/share/linda/* usr/share/lintian/overrides/* usr/share/locale/* usr/share/man/*
    find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete && find usr/share/doc -mindepth 1 -type d -empty -delete' \
  --customize-hook="rm -f \"\$1/etc/apt/sources.list\" && cp \"$work/debian.sources\" \"\$1/etc/apt/sources.list.d/debian.sources\"" \
  --customize-hook="mv \"\$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap\" \"\$1/etc/dpkg/dpkg.cfg.d/docker\"" \
  --customize-hook="cp \"$here\"/standin/apt.conf.d/* \"\$1/etc/apt/apt.conf.d/\"" \
  --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates" && cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true' \
  --customize-hook='if [ -x "$1/usr/sbin/update-ca-certificates" ]; then chroot "$1" update-ca-certificates >/dev/null 2>&1;
    else mkdir -p "$1/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"; fi' \
  --customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/var/log/apt/*' \
  "$suite" "$work/root.tar"
podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  "$work/root.tar" "$tag" >/dev/null
echo "Debian $suite minbase${extra:+ + $extra}, $(podman image inspect --format '{{.Size}}' "$tag" | numfmt --to=si)B" >&2
