#!/bin/sh
# mkiso.sh KERNEL ISO CMDLINE: a GRUB (BIOS) ISO that boots KERNEL with multiboot2
# and CMDLINE, with GRUB itself on the serial console and no menu delay.
set -eu
kernel=$1 iso=$2 cmdline=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/quill-iso.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/iso/boot/grub"
cp "$kernel" "$work/iso/boot/quill.elf"
cat > "$work/iso/boot/grub/grub.cfg" <<CFG
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal_input serial
terminal_output serial
set timeout=0
set default=0
menuentry "Quill" {
	multiboot2 /boot/quill.elf $cmdline
	boot
}
CFG
# grub-mkrescue prints progress on stderr even on success; keep it for failures.
if ! grub-mkrescue -o "$iso.tmp" "$work/iso" >"$work/log" 2>&1; then
	cat "$work/log" >&2
	exit 1
fi
mv "$iso.tmp" "$iso"
