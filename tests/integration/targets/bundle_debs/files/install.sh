#!/bin/sh
# Runs in a container of the minbase image with --network none: apt knows only the
# bundle's repository (/repo, signed-by /bundle.asc) and installs the set from it, with
# apt's defaults (Recommends on: those not in the repository are skipped).
set -eu
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
cat >/etc/apt/sources.list.d/bundle.sources <<SOURCES
Types: deb
URIs: file:/repo
Suites: ./
Signed-By: /bundle.asc
SOURCES
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install --yes "$@"
echo "--- installed"
dpkg-query -W -f '${Package}=${Version}\n' "$@"
