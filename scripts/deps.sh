#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages crrfs needs, idempotently.
#
#   scripts/deps.sh build   what building and running crrfs needs
#   scripts/deps.sh test    that, plus what the test suite uses
#   scripts/deps.sh build|test --check
#                           only list what is missing (exit 1 if anything)
#
# Design: ask dpkg first and run apt-get (update once, then install) only
# when something is missing, so a second run is quick and works offline.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

build_pkgs=(cmake make gcc pkg-config libfuse3-dev fuse3 liblmdb-dev
	    libssl-dev libinih-dev libcurl4-openssl-dev attr)
# rsync, tar, e2fsprogs (mkfs for the disk-full test on a loop device),
# util-linux (mount, losetup), procps (pgrep), git; fio, bindfs and
# gnuplot-nox for the bench/run smoke run; a Ceph RADOS Gateway (started on
# 127.0.0.1 by tests/rgw/rgw-ctl, which also uses openssl for its test CA
# and curl to see S3 answer) and Debian's AWS CLI (/usr/bin/aws) for the
# S3 replication tests.
test_pkgs=(python3 rsync tar git e2fsprogs util-linux mount procps fio
	   bindfs gnuplot-nox ceph-mon ceph-osd radosgw ceph-common awscli
	   openssl curl)

case "${1:-build}" in
build) want=("${build_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 build|test [--check]" >&2; exit 2 ;;
esac
check_only=0
[[ ${2:-} == --check ]] && check_only=1

# A package counts as present only when dpkg says "install ok installed":
# unknown to dpkg, removed with its config files left ("deinstall ok
# config-files") or half-installed all count as missing.
missing=()
for p in "${want[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $st == "install ok installed" ]] || missing+=("$p")
done
if ((check_only)); then
	if ((${#missing[@]})); then
		echo "deps.sh: missing: ${missing[*]}"
		exit 1
	fi
	echo "deps.sh: all ${#want[@]} packages installed"
	exit 0
fi
if ((${#missing[@]})); then
	if ((EUID != 0)); then
		echo "deps.sh: missing packages: ${missing[*]} (run as root)" >&2
		exit 1
	fi
	echo "deps.sh: installing ${missing[*]}"
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# FUSE needs its device; in a container it must be passed in (--device
# /dev/fuse); on a machine it comes with the module.
if [[ ! -c /dev/fuse ]]; then
	modprobe fuse 2>/dev/null || true
fi
if [[ ! -c /dev/fuse ]]; then
	echo "deps.sh: /dev/fuse is missing: load the fuse module" \
		"(or give the container --device /dev/fuse --cap-add SYS_ADMIN)" >&2
	exit 1
fi
