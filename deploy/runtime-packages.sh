#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries the given binaries load (their runtime
# dependencies), one per line: the images install exactly these, so the list cannot drift from the build.
set -euo pipefail
for lib in $(ldd "$@" | awk '/=> \//{print $3}' | sort -u); do
  # usrmerge: ldd may name /lib/... while dpkg knows /usr/lib/... (or the reverse), and a symlink's target.
  for cand in "$lib" "/usr$lib" "${lib#/usr}" "$(readlink -f "$lib")"; do
    if pkg=$(dpkg -S "$cand" 2>/dev/null | head -n1) && [ -n "$pkg" ]; then echo "${pkg%%:*}"; break; fi
  done
done | sort -u
