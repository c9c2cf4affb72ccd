#!/bin/sh
# deps.sh [fuzz]: make sure the tools Quill builds and runs with are installed
# (with "fuzz": also clang and its libFuzzer runtime, for make fuzz).
# Idempotent and quick when everything is there. Missing Debian packages are
# installed with apt-get (after apt-get update) when run as root; otherwise
# the exact command to run is printed and the script fails.
set -eu

missing=""
need() { # need PACKAGE TEST...: PACKAGE is missing unless the test command succeeds
	pkg=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
	fi
}
have() { command -v "$1"; }

need make have make
need gcc have gcc
need libc6-dev test -e /usr/include/stdio.h
need binutils have objdump
need python3 have python3
need qemu-system-x86 have qemu-system-x86_64
need qemu-utils have qemu-img
need qemu-system-common have qemu-storage-daemon
need grub-common have grub-mkrescue
need grub-pc-bin test -e /usr/lib/grub/i386-pc/moddep.lst
need xorriso have xorriso
need mtools have mformat
need gnuplot-nox have gnuplot
if [ "${1:-}" = fuzz ]; then
	need clang have clang
	need libclang-rt-14-dev sh -c 'ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a'
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
echo "deps.sh: done"
