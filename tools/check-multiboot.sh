#!/bin/sh
# The multiboot2 header must lie in the first 32 KiB of the kernel file, 8-byte aligned (Multiboot2 spec 3.1.1).
set -e
elf=$1
off=$(od -A d -t x4 -v -w4 "$elf" | awk '$2=="e85250d6" {print $1 + 0; exit}')
if [ -z "$off" ] || [ "$off" -ge 32768 ] || [ $((off % 8)) -ne 0 ]; then
	echo "check-multiboot: $elf: multiboot2 header not found 8-byte aligned in the first 32 KiB" >&2
	exit 1
fi
