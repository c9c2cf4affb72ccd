"""QEMU cases for devices that follow the virtio specification but not the
defaults of QEMU's own virtio-blk-pci (drivers/STATUS.md, "every conforming
device"): each case fails on a driver without the matching fix.

  size_max 0    qemu-storage-daemon's vhost-user-blk export offers
                VIRTIO_BLK_F_SIZE_MAX with size_max 0; the driver takes one
                sector per segment, says so once and runs test=blk
  iommu         iommu_platform=on (no vIOMMU: QEMU 7.2 offers
                VIRTIO_F_ACCESS_PLATFORM on a modern-only device and fails
                FEATURES_OK unless the driver accepts it); QEMU 7.2 has no
                property for VIRTIO_F_ORDER_PLATFORM, test_vblk covers it
  ELCR          pic.elcr_reset=1 leaves every 8259 line edge-triggered, as
                firmware that never programs the ELCR would (SeaBIOS does
                program it): the INTx set-up makes its line level-triggered
                and says so once per line; four disks share two lines
  0 sectors     a disk of 0 sectors (a 0-byte raw file, null-co of size 0):
                test=blk, test=blk_pattern and test=write fail, saying the
                disk is too small, instead of passing after no I/O
"""
import importlib.util
import os
import re
import subprocess
import threading
import time

_spec = importlib.util.spec_from_file_location(
    "cases_blk_base", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases_blk.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

MEM = "512M"


def storage_daemon(path):
    """prepare hook: serve the image at `path` as a vhost-user-blk export on {tmp}/vu.sock.

    qemu-storage-daemon runs until the case's folder is gone (tests/run removes
    it once the case is over, passed or not): the thread that ends it is not a
    daemon thread, so the runner waits for it before exiting; `timeout` ends
    the daemon should the runner itself be killed first.
    """
    tmp = os.path.dirname(path)
    sock = os.path.join(tmp, "vu.sock")
    qsd = subprocess.Popen(
        ["timeout", "600", "qemu-storage-daemon",
         "--blockdev", "driver=file,node-name=file0,filename=" + path,
         "--blockdev", "driver=raw,node-name=d0,file=file0",
         "--export", "type=vhost-user-blk,id=exp0,node-name=d0,writable=on,"
                     "addr.type=unix,addr.path=" + sock],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not os.path.exists(sock) and qsd.poll() is None and time.time() < deadline:
        time.sleep(0.05)

    def reap():
        while os.path.isdir(tmp) and qsd.poll() is None:
            time.sleep(0.5)
        if qsd.poll() is None:
            qsd.terminate()
        qsd.wait()

    threading.Thread(target=reap).start()


def vhost_user_blk(opts=""):
    """QEMU arguments for a vhost-user-blk-pci device on {tmp}/vu.sock (guest RAM must be shared)."""
    return ["-m", MEM,
            "-object", "memory-backend-memfd,id=mem,size=%s,share=on" % MEM,
            "-machine", "memory-backend=mem",
            "-chardev", "socket,id=vu0,path={tmp}/vu.sock",
            "-device", "vhost-user-blk-pci,chardev=vu0" + ("," + opts if opts else "")]


def said_once(rx, then=base.pattern_check):
    """check: the console line matching rx appears exactly once, then `then`."""
    def check(ctx):
        n = len(re.findall(rx, ctx.output, re.M))
        if n != 1:
            return False, "/%s/ appears %d times, not once" % (rx, n)
        return then(ctx)
    return check


ELCR_NOTE = r"^virtio-pci [0-9a-f:.]+: INTx line (\d+) was edge-triggered at the 8259: made level-triggered \(ELCR\)$"


def elcr_once_per_line(ctx):
    """Each INTx line was made level-triggered once, by the first device on it; then the pattern check."""
    lines = re.findall(ELCR_NOTE, ctx.output, re.M)
    if not lines or len(lines) != len(set(lines)):
        return False, "ELCR set for lines %s: not once per line" % lines
    return base.pattern_check(ctx)


def zero_sectors(name, cmdline, fail, qemu):
    """A test that cannot do its work on a 0-sector disk fails and says why."""
    return dict(name=name, cmdline=cmdline, raw_disks=True, expect_exit=1,
                disks=[dict(size="0")] if "{disk0}" in " ".join(qemu) else [], qemu=qemu,
                expect=[r"^vda: virtio-blk at .*, 0 sectors \(0 MiB\)", fail, r"^quill: exit 1$"],
                reject=base.NO_BREAKAGE + [r"^TEST \S+ PASS$"], timeout=120)


SIZE_MAX_NOTE = r"^vda: device configuration size_max = 0: below one sector: 512-byte segments$"

CASES = [
    # Point 1: size_max 0 from a vhost-user-blk back-end; Linux clamps it (to 4 KiB) and goes on.
    base.blk("blk-vhost-user-size-max-0", raw_disks=True,
             disks=[dict(size="64M", prepare=storage_daemon)],
             qemu=vhost_user_blk(),
             expect=[SIZE_MAX_NOTE, r"^vda: .*, max request 16 KiB, .*features SIZE_MAX ",
                     r"^blk: vda id 'vhost_user_blk'$"],
             check=said_once(SIZE_MAX_NOTE)),
    # Point 3: ACCESS_PLATFORM accepted (bus addresses are physical ones without an IOMMU).
    base.blk("blk-iommu-platform", raw_disks=True,
             qemu=base.device("iommu_platform=on,disable-legacy=on"),
             expect=[r"^vda: .*features .*\bACCESS_PLATFORM\b"]),
    base.blk("blk-iommu-platform-packed", raw_disks=True,
             qemu=base.device("iommu_platform=on,disable-legacy=on,packed=on"),
             expect=[r"^vda: .*features .*\bACCESS_PLATFORM RING_PACKED\b"]),
    # Point 6: INTx does not rely on the firmware's ELCR.
    base.blk("blk-intx-elcr", cmdline="test=blk pic.elcr_reset=1", raw_disks=True,
             disks=[dict(size="16M") for _ in range(4)],
             qemu=sum([base.device("vectors=0", "d%d" % i, "{disk%d}" % i) for i in range(4)], []),
             expect=[r"^pic: ELCR cleared", ELCR_NOTE] + [r"^vd%s: .*, intx," % c for c in "abcd"],
             check=elcr_once_per_line),
    base.blk("blk-intx-elcr-q35", cmdline="test=blk pic.elcr_reset=1", raw_disks=True,
             qemu=["-machine", "q35"] + base.device("vectors=0"),
             expect=[r"^pic: ELCR cleared", ELCR_NOTE, r"^vda: .*, intx,"],
             check=elcr_once_per_line),
    # Point 7: tests that could not do their work fail.
    zero_sectors("blk-zero-sectors", "test=blk",
                 r"^TEST blk FAIL vda has 0 sectors, too few for the range checks \(at least 1\): nothing tested$",
                 base.device()),
    zero_sectors("blk-zero-sectors-null-co", "test=blk_pattern",
                 r"^TEST blk_pattern FAIL vda has 0 sectors, too few for the pattern \(at least 1\): nothing tested$",
                 ["-blockdev", "driver=null-co,node-name=n0,size=0", "-device", "virtio-blk-pci,drive=n0"]),
    zero_sectors("blk-zero-sectors-write", "test=write",
                 r"^TEST write FAIL raw pattern on vda: 0 sectors, not one block to write$", base.device()),
]
