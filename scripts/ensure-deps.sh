#!/usr/bin/env bash
# Makes sure gearmand, the gearman C tools and MariaDB are on this machine.
# Installs Debian's packages when missing and we are root with apt-get;
# otherwise says exactly what to install. A fast no-op when all is there.
set -euo pipefail
PATH="$PATH:/usr/sbin:/sbin"
need=()
for bin in gearmand gearman gearadmin mariadbd mariadb-install-db mariadb; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
[ ${#need[@]} -eq 0 ] && exit 0
pkgs="gearman-job-server gearman-tools mariadb-server mariadb-client"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "gearops: installing ${pkgs} (missing: ${need[*]})…" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages' own services from starting: gearops starts its own on free ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  for bin in "${need[@]}"; do
    command -v "$bin" >/dev/null 2>&1 || { echo "gearops: $bin is still missing after installing ${pkgs}" >&2; exit 1; }
  done
  exit 0
fi
echo "gearops: missing ${need[*]}. Install Debian's packages: sudo apt-get install ${pkgs}" >&2
exit 1
