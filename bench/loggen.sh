#!/usr/bin/env bash
# syslog-ng's load generator `loggen` without installing syslog-ng (Debian's syslog-ng-core conflicts with the
# rsyslog the tests need): `apt-get download` into bench/out/debs/, `dpkg -x` into bench/out/syslog-ng/, with the
# dependencies of syslog-ng-core this machine lacks when `ldd` finds a library of loggen missing.
#   bench/loggen.sh --setup    set up once (idempotent, fast when done) and print loggen's path
#   bench/loggen.sh ARGS...    run loggen with ARGS
set -euo pipefail
out="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/out"
debs="$out/debs"
prefix="$out/syslog-ng"
loggen="$prefix/usr/bin/loggen"

library_path() {
  local IFS=: dirs=("$prefix/usr/lib/syslog-ng") d
  for d in "$prefix"/usr/lib/*-linux-gnu "$prefix"/lib/*-linux-gnu; do [ -d "$d" ] && dirs+=("$d"); done
  echo "${dirs[*]}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

download() {  # apt-get download PACKAGE... into $debs; apt-get update once when the lists are stale
  echo "loggen.sh: downloading $* into bench/out/debs" >&2
  (cd "$debs" && apt-get download -qq "$@" 2>/dev/null) && return 0
  $([ "$(id -u)" -eq 0 ] || echo sudo) apt-get update -qq
  (cd "$debs" && apt-get download -qq "$@")
}

missing_libraries() {  # the "not found" lines of ldd on loggen and its plugins
  local f
  for f in "$loggen" "$prefix"/usr/lib/syslog-ng/libloggen_*.so "$prefix"/usr/lib/syslog-ng/*/loggen/*.so; do
    if [ -e "$f" ]; then LD_LIBRARY_PATH="$(library_path)" ldd "$f" 2>/dev/null | grep "not found" || true; fi
  done | sort -u
}

if [ ! -f "$prefix/.ready" ] || [ ! -x "$loggen" ]; then
  mkdir -p "$debs" "$prefix"
  ls "$debs"/syslog-ng-core_*.deb >/dev/null 2>&1 || download syslog-ng-core
  deb="$(ls "$debs"/syslog-ng-core_*.deb | head -1)"
  dpkg -x "$deb" "$prefix"
  if [ -n "$(missing_libraries)" ]; then
    deps=()  # Depends: a (>= 1), b | c, ... -> the first name of each alternative, when it is not installed
    for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g'); do
      dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "install ok installed" || deps+=("$dep")
    done
    if [ "${#deps[@]}" -gt 0 ]; then download "${deps[@]}"; fi
    for dep in "${deps[@]}"; do dpkg -x "$(ls "$debs/$dep"_*.deb | head -1)" "$prefix"; done
    if [ -n "$(missing_libraries)" ]; then
      echo "loggen.sh: loggen still misses libraries:" >&2 && missing_libraries >&2 && exit 1
    fi
  fi
  touch "$prefix/.ready"
fi
if [ "${1-}" = "--setup" ]; then echo "$loggen"; exit 0; fi
export SYSLOGNG_PREFIX="$prefix/usr" LD_LIBRARY_PATH="$(library_path)"
exec "$loggen" "$@"
