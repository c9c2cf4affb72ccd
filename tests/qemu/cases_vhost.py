"""QEMU tests on virtio-blk devices that QEMU does not implement itself:
vhost-user-blk-pci, whose virtqueues a separate process serves from shared
guest memory (QEMU keeps the PCI transport and the configuration space).

qemu-storage-daemon (QEMU's own vhost-user-blk export): test=blk, test=fs
(the image then checked on the host with fsck.quillfs -n and `quillfs cat`)
and a short benchmark, on a transitional device and a modern-only one.

Guest RAM must be shared with the back-end: a memfd memory backend as the
machine's RAM (-machine memory-backend=, QEMU 5.0 on; its size must be -m,
512 MiB from tools/quill-run). The back-end's socket is waited for before
QEMU starts, and the back-end is stopped after QEMU ends, whatever happened
(tests/run, services).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import benchlib  # noqa: E402
import cases_blk  # noqa: E402
import cases_fs  # noqa: E402

SHARED_RAM = ["-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-machine", "memory-backend=mem"]
TRANSITIONAL, MODERN, LEGACY = "", ",disable-legacy=on", ",disable-modern=on"
PCI_ID = {TRANSITIONAL: "1001", MODERN: "1042", LEGACY: "1001"}
REJECT = [r"CPU exception", r"device broken"]


def vhost_device(sock, opts="", addr=None):
    """QEMU arguments for a vhost-user-blk-pci device on the back-end at sock."""
    return SHARED_RAM + ["-chardev", "socket,id=vu,path=" + sock,
                         "-device", "vhost-user-blk-pci,chardev=vu%s%s" % (opts, ",addr=%s" % addr if addr else "")]


def qsd(image="{disk0}", sock="{tmp}/qsd.sock"):
    """qemu-storage-daemon exporting image as vhost-user-blk on sock."""
    return dict(name="qsd", ready=sock, argv=[
        "qemu-storage-daemon",
        "--blockdev", "driver=file,node-name=file0,filename=" + image,
        "--blockdev", "driver=raw,node-name=disk0,file=file0",
        "--export", "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=%s,writable=on" % sock])


def variant_name(opts):
    return {TRANSITIONAL: "transitional", MODERN: "modern", LEGACY: "legacy"}[opts]


def variant_expect(opts, dev="vda"):
    """The device is what the case asked for: its PCI id, and the transport the driver took."""
    exp = [r"^pci: 00:0[0-9a-f]\.0 1af4:%s " % PCI_ID[opts]]
    if opts == LEGACY:
        exp.append(r"^virtio-pci 00:0[0-9a-f]\.0: no modern interface: legacy I/O registers")
    else:
        exp.append(r"^%s: virtio-blk .*features .*VERSION_1" % dev)
    return exp


def bench_sane(specs):
    """Each run in specs printed one sane BENCH line (tools/benchlib.py; never speed)."""
    return lambda ctx: benchlib.check_runs(ctx.output, specs)


# ---- qemu-storage-daemon, transitional and modern-only ----

QSD_BENCH = ["raw:randwrite:4k:qd1:200ios", "raw:randread:4k:qd8:200ios", "raw:flushwrite:4k:qd4:100ios"]


def qsd_cases(opts):
    v = variant_name(opts)
    dev = vhost_device("{tmp}/qsd.sock", opts)
    return [
        dict(name="vhost-qsd-blk-" + v, cmdline="test=blk", raw_disks=True, disks=[dict(size="32M")],
             services=[qsd()], qemu=dev, expect=cases_blk.BLK_EXPECT + variant_expect(opts),
             reject=cases_blk.NO_BREAKAGE, check=cases_blk.pattern_check, timeout=120),
        dict(name="vhost-qsd-fs-" + v, cmdline="test=fs", raw_disks=True, disks=[dict(size="64M")],
             services=[qsd()], qemu=dev, expect=cases_fs.FS_EXPECT + variant_expect(opts),
             reject=REJECT, check=cases_fs.check_tree, timeout=120),
        dict(name="vhost-qsd-bench-" + v, cmdline="bench=" + ",".join(QSD_BENCH), raw_disks=True,
             disks=[dict(size="32M")], services=[qsd()], qemu=dev, expect=variant_expect(opts) + [
                 r"^quill: exit 0$"], reject=REJECT, check=bench_sane(QSD_BENCH), timeout=120),
    ]


CASES = qsd_cases(TRANSITIONAL) + qsd_cases(MODERN)
