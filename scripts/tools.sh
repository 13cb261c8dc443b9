#!/usr/bin/env bash
# Command-line tools the test suite runs as an outsider would: a court or the
# defence checks a disclosure bundle with standard tools alone.
#
#   scripts/tools.sh          install whatever is missing (idempotent; quiet when nothing is)
#   scripts/tools.sh --bench  the same, and the baselines of the benches (make bench)
#
#   b3sum   (Debian package b3sum)   b3sum --check on a bundle's checksums.b3
#   qpdf    (Debian package qpdf)    qpdf --check on a bundle's PDF
#   chromium (Debian package chromium) the browser tests (tests/browser), driven by Playwright
#   with --bench:
#   hashdeep (Debian package hashdeep) bench/ingest.py's `hashdeep -r -c sha256` reference row
#   rclone   (Debian package rclone)   bench/ingest.py's s3-files baseline (`rclone copy`)
#
# (bagit.py, bench/ingest.py's make_bag baseline, is a Python dependency: in the venv.)
# sha256sum comes with coreutils. Needs root or sudo only when something is
# missing. Progress goes to stderr.
set -euo pipefail

# command -> Debian package
declare -A PACKAGES=([b3sum]=b3sum [qpdf]=qpdf [chromium]=chromium)
case "${1:-}" in
    "") ;;
    --bench) PACKAGES+=([hashdeep]=hashdeep [rclone]=rclone) ;;
    *) echo "usage: scripts/tools.sh [--bench]" >&2; exit 2 ;;
esac

say() { echo "tools: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

missing=()
for cmd in "${!PACKAGES[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGES[$cmd]}")
done
((${#missing[@]} == 0)) && exit 0

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
say "missing ${missing[*]}: installing Debian packages"
sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} yourself"
    sudo=(sudo)
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
    || die "apt-get update failed"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"

for cmd in "${!PACKAGES[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing ${PACKAGES[$cmd]}"
done
say "installed ${missing[*]}"
