#!/usr/bin/env bash
# syslog-ng's load generator `loggen`, without installing syslog-ng (its Debian package syslog-ng-core conflicts
# with rsyslog, which the tests need).
#
#   bench/loggen.sh --setup        download and unpack once, print the loggen path (idempotent, fast when done)
#   bench/loggen.sh ARGS...        run loggen with ARGS (setting it up first when needed)
#
# `apt-get download syslog-ng-core` into bench/out/debs/, `dpkg -x` into bench/out/syslog-ng/. loggen needs only
# a few libraries (glib, OpenSSL and its own libloggen_*); when `ldd` finds one missing, every dependency of
# syslog-ng-core that is not installed on this machine (libivykis0, libnet1, ...) is downloaded and unpacked too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/out"
debs="$out/debs"
prefix="$out/syslog-ng"
stamp="$prefix/.ready"
loggen="$prefix/usr/bin/loggen"

library_path() {
  local dirs=("$prefix/usr/lib/syslog-ng")
  local d
  for d in "$prefix"/usr/lib/*-linux-gnu "$prefix"/lib/*-linux-gnu; do
    [ -d "$d" ] && dirs+=("$d")
  done
  local IFS=:
  echo "${dirs[*]}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

download() {  # apt-get download PACKAGE... into $debs (apt-get update once if the lists are stale)
  (cd "$debs" && apt-get download -qq "$@" 2>/dev/null) && return 0
  echo "loggen.sh: apt-get download $* failed; updating the package lists once" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  (cd "$debs" && apt-get download -qq "$@")
}

missing_libraries() {  # the "not found" lines of ldd on loggen and its plugins
  local f
  for f in "$loggen" "$prefix"/usr/lib/syslog-ng/libloggen_*.so "$prefix"/usr/lib/syslog-ng/*/loggen/*.so; do
    [ -e "$f" ] || continue
    LD_LIBRARY_PATH="$(library_path)" ldd "$f" 2>/dev/null | grep "not found" || true
  done | sort -u
}

setup() {
  if [ -f "$stamp" ] && [ -x "$loggen" ]; then
    return 0
  fi
  mkdir -p "$debs" "$prefix"
  if ! ls "$debs"/syslog-ng-core_*.deb >/dev/null 2>&1; then
    echo "loggen.sh: downloading syslog-ng-core into bench/out/debs" >&2
    download syslog-ng-core
  fi
  dpkg -x "$(ls "$debs"/syslog-ng-core_*.deb | head -1)" "$prefix"
  if [ -n "$(missing_libraries)" ]; then
    local deps=() dep
    # Depends: libc6 (>= 2.34), libivykis0 (>= 0.42), a | b, ... -> the first name of each alternative
    for dep in $(dpkg-deb -f "$(ls "$debs"/syslog-ng-core_*.deb | head -1)" Depends | tr ',' '\n' \
        | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g'); do
      if ! dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "install ok installed"; then
        deps+=("$dep")
      fi
    done
    if [ "${#deps[@]}" -gt 0 ]; then
      echo "loggen.sh: downloading ${deps[*]} (not installed here)" >&2
      download "${deps[@]}"
      for deb in "${deps[@]}"; do
        dpkg -x "$(ls "$debs"/"${deb}"_*.deb | head -1)" "$prefix"
      done
    fi
    if [ -n "$(missing_libraries)" ]; then
      echo "loggen.sh: loggen still misses libraries:" >&2
      missing_libraries >&2
      exit 1
    fi
  fi
  touch "$stamp"
}

setup
if [ "${1-}" = "--setup" ]; then
  echo "$loggen"
  exit 0
fi
export SYSLOGNG_PREFIX="$prefix/usr"
LD_LIBRARY_PATH="$(library_path)"
export LD_LIBRARY_PATH
exec "$loggen" "$@"
