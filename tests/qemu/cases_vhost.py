"""QEMU tests on virtio-blk devices that QEMU does not implement itself:
vhost-user-blk-pci, whose virtqueues a separate process serves from shared
guest memory (QEMU keeps the PCI transport and the configuration space).

qemu-storage-daemon (QEMU's own vhost-user-blk export): test=blk, test=fs
(the image then checked on the host with fsck.quillfs -n and `quillfs cat`)
and a short benchmark, on a transitional device and a modern-only one.

tests/vhost/vhost_user_blk.py (this project's back-end, Python), serving
correctly: test=blk on the transitional, modern-only and legacy-only device
and with direct descriptors, and test=fs; the back-end checks every request
against the rules a driver must follow and must have seen none broken.

Guest RAM must be shared with the back-end: a memfd memory backend as the
machine's RAM (-machine memory-backend=, QEMU 5.0 on; its size must be -m,
512 MiB from tools/quill-run). The back-end's socket is waited for before
QEMU starts, and the back-end is stopped after QEMU ends, whatever happened
(tests/run, services).
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import benchlib  # noqa: E402
import cases_blk  # noqa: E402
import cases_fs  # noqa: E402

BACKEND = os.path.join(ROOT, "tests", "vhost", "vhost_user_blk.py")
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


def backend(fault="none", after=0, image="{disk0}", sock="{tmp}/vu.sock", extra=()):
    """tests/vhost/vhost_user_blk.py serving image on sock, breaking `fault` after `after` requests."""
    return dict(name="vublk", ready=sock, exits_with_qemu=True, argv=[
        sys.executable, BACKEND, "--socket", sock, "--image", image, "--fault", fault,
        "--after", str(after)] + list(extra))


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


def backend_stats(ctx):
    """The back-end's closing counters: {"requests": N, ...}, or None."""
    svc = ctx.services.get("vublk")
    m = re.findall(r"^vublk: exit: (.*)$", svc.log() if svc else "", re.M)
    if not m:
        return None
    return {k: int(v) for k, v in (kv.split("=") for kv in m[-1].split())}


def backend_clean(ctx, fault=None):
    """The back-end ran to its end, saw no rule broken by the driver, and injected `fault`."""
    st = backend_stats(ctx)
    if st is None:
        return False, "the back-end printed no closing counters"
    log = ctx.services["vublk"].log()
    errs = re.findall(r"^vublk: (driver error: .*)$", log, re.M)
    if st["driver_errors"] or errs:
        return False, "back-end: %s" % (errs[0] if errs else "driver_errors=%d" % st["driver_errors"])
    if fault and not re.search(r"^vublk: fault %s: " % re.escape(fault), log, re.M):
        return False, "the back-end never injected the fault %s (requests=%d)" % (fault, st["requests"])
    if not fault and st["faults"]:
        return False, "the back-end injected %d faults" % st["faults"]
    return True, ""


def both(*checks):
    def check(ctx):
        for c in checks:
            ok, why, *_ = c(ctx)
            if not ok:
                return False, why
        return True, ""
    return check


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


# ---- the project's back-end, serving correctly ----

def own_blk(name, opts=TRANSITIONAL, extra=(), expect=()):
    return dict(name=name, cmdline="test=blk", raw_disks=True, disks=[dict(size="16M")],
                services=[backend(extra=extra)], qemu=vhost_device("{tmp}/vu.sock", opts),
                expect=cases_blk.BLK_EXPECT + variant_expect(opts) + [r"^blk: vda id 'quill-vublk'$"] + list(expect),
                reject=cases_blk.NO_BREAKAGE, check=both(cases_blk.pattern_check, backend_clean), timeout=120)


OWN = [
    own_blk("vhost-own-blk-transitional", expect=[r"^vda: .*queue 128 \(indirect\), msix,"]),
    own_blk("vhost-own-blk-modern", MODERN),
    own_blk("vhost-own-blk-legacy", LEGACY, expect=[r"^vda: .*\(indirect\), msix,"]),
    own_blk("vhost-own-blk-direct", extra=["--no-indirect"], expect=[r"^vda: .*, queue 128, msix,"]),
    dict(name="vhost-own-fs", cmdline="test=fs", raw_disks=True, disks=[dict(size="64M")],
         services=[backend()], qemu=vhost_device("{tmp}/vu.sock"), expect=cases_fs.FS_EXPECT,
         reject=REJECT, check=both(cases_fs.check_tree, backend_clean), timeout=120),
]


CASES = qsd_cases(TRANSITIONAL) + qsd_cases(MODERN) + OWN
