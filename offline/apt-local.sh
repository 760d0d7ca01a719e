#!/bin/bash
# apt-get against the offline bundle's own Debian packages (offline/debs) and nothing else: no
# network, and the machine's apt sources, lists and caches stay as they were. apt picks only what
# is missing, so a package the machine already has (even a newer version) is left alone.
#   offline/apt-local.sh install -y --no-install-recommends PACKAGE...
#   offline/apt-local.sh -s -o Dir::State::status=FILE install PACKAGE...   (a dry run)
set -euo pipefail
debs=$(cd "$(dirname "$0")/debs" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/sources.list.d"
# The index (Packages, Release) was written by offline/bundle.py from the debs apt downloaded and
# checked; apt checks each .deb against the SHA256 in it.
echo "deb [trusted=yes] file:$debs ./" >"$work/sources.list"
options=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/sources.list.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "APT::Get::List-Cleanup=false"
  # the private folders are root's alone; apt's _apt user need not read them
  -o "APT::Sandbox::User=root"
  # an intranet server's clock may be behind the machine that built the bundle
  -o "Acquire::Check-Date=false"
)
apt-get "${options[@]}" -qq update
DEBIAN_FRONTEND=noninteractive apt-get "${options[@]}" "$@"
