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

Then one broken rule per case (the back-end's --fault modes). A fault case
boots Quill with two disks: vda, a plain -drive if=virtio image, and vdb,
the misbehaving device. The command line exercises both: test=fs on vda,
then a benchmark on vdb, then reads on vda (blk.timeout_ms=3000 keeps the
watchdog cases short).
What each case asserts is the right behaviour: the kernel ends by itself
(a timeout fails the case) with a line naming vdb and what it did wrong and
a non-zero exit status, vda keeps working (the reads after the fault) and
keeps its data (fsck.quillfs -n and the files' bytes on the host), and the
back-end says it injected the fault and saw no rule broken by the driver.
The kernel cannot point test=blk or test=fs at one disk (test=blk takes
every disk and stops at the first failure, test=fs takes vda), hence the
benchmark on vdb; bench=...:vdX chooses its device.

Guest RAM must be shared with the back-end: a memfd memory backend as the
machine's RAM (-machine memory-backend=, QEMU 5.0 on; its size must be -m,
512 MiB from tools/quill-run). The back-end's socket is waited for before
QEMU starts, and the back-end is stopped after QEMU ends, whatever happened
(tests/run, services).
"""
import os
import re
import subprocess
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

# Timed, not counted: a fast export finishes 100 I/Os in under 5 ms, which the BENCH
# line's two-decimal seconds cannot show.
QSD_BENCH = ["raw:randwrite:4k:qd1:250ms", "raw:randread:4k:qd8:250ms", "raw:flushwrite:4k:qd4:250ms"]


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


# ---- one broken rule per case, beside a healthy disk ----

BAD_RUN = "raw:randwrite:4k:qd4:64ios:vdb"     # on the misbehaving device
GOOD_RUN = "raw:randread:4k:qd1:200ms:vda"     # on the healthy one, after it
FAULT_CMDLINE = "test=fs bench=%s,%s blk.timeout_ms=3000" % (BAD_RUN, GOOD_RUN)
BROKEN = r"^vdb: device broken: "


def two_disks(sock="{tmp}/vu.sock", opts=""):
    """vda: the healthy -drive if=virtio image (disk0), in the first free slot (00:03.0);
    vdb: the back-end, placed after it at 00:05.0 (QEMU creates the -drive's device last)."""
    return ["-drive", "if=virtio,format=raw,file={disk0}"] + vhost_device(sock, opts, addr="0x5")


def fault_case(name, fault, expect, after=16, expect_exit=1, cmdline=FAULT_CMDLINE, reject=(),
               check_bad=None, timeout=60):
    """The misbehaving vdb beside a healthy vda: expect the kernel to end by itself, naming vdb
    and what it did, with status expect_exit; vda's file system intact and vda still working."""
    def check(ctx):
        ok, why = backend_clean(ctx, fault)
        if not ok:
            return ok, why
        ok, why = cases_fs.check_tree(ctx)  # ctx.disks[0] is vda
        if not ok:
            return False, "vda: " + why
        ok, why = bench_sane([GOOD_RUN])(ctx)
        if not ok:
            return False, "vda after the fault: " + why
        if check_bad:
            return check_bad(ctx)
        return True, ""
    return dict(name=name, cmdline=cmdline, raw_disks=True, disks=[dict(size="32M"), dict(size="16M")],
                services=[backend(fault, after, image="{disk1}")], qemu=two_disks(), expect_exit=expect_exit,
                expect=[r"^vda: virtio-blk at 00:03\.0,", r"^TEST fs PASS$"] + list(expect)
                + [r"^quill: exit %d$" % expect_exit],
                reject=[r"CPU exception", r"^vda: device broken"] + ([r"^quill: exit 0$"] if expect_exit else [])
                + list(reject), check=check, timeout=timeout)


def bench_failed(why):
    return r"^bench %s: FAILED \(%s\)$" % (re.escape(BAD_RUN), why)


def flush_not_sent(ctx):
    st = backend_stats(ctx)
    if st["flushes"]:
        return False, "%d FLUSH requests reached a device that offers no FLUSH" % st["flushes"]
    img = ctx.disks[1]
    r = subprocess.run([cases_fs.FSCK, "-n", img], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "vdb: fsck.quillfs exit %d: %s" % (r.returncode, r.stdout.strip()[-300:])
    return True, ""


FAULTS = [
    fault_case("vhost-fault-used-id-range", "used-id-range", [BROKEN + r"used id out of range"]),
    fault_case("vhost-fault-used-id-free", "used-id-free", [BROKEN + r"used id not outstanding"]),
    # The duplicate comes in the same batch: a driver that takes it for the next request
    # on that id (resubmitted while it drains) has completed a request the device never saw.
    fault_case("vhost-fault-used-twice", "used-twice", [BROKEN + r".*(completed twice|not outstanding)"]),
    fault_case("vhost-fault-used-idx-jump", "used-idx-jump", [BROKEN + r"used->idx ahead"]),
    fault_case("vhost-fault-used-len", "used-len", [BROKEN + r"used length beyond"]),
    fault_case("vhost-fault-bad-status", "bad-status", [BROKEN + r"status byte"]),
    # Ordinary I/O errors fail the requests, not the device.
    fault_case("vhost-fault-ioerr", "ioerr",
               [r"^BENCH name=%s .*errors=[1-9]\d* first_error=I/O error$" % re.escape(BAD_RUN),
                bench_failed("I/O error")], reject=[r"^vdb: device broken"]),
    fault_case("vhost-fault-stall", "stall", [BROKEN + r"watchdog: the device stopped answering"]),
    # Not even the first request (the benchmark's look for a file system) is answered.
    fault_case("vhost-fault-stall-at-once", "stall", [BROKEN + r"watchdog: the device stopped answering"],
               after=0),
    # Completions without an interrupt: to be named, not waited out a second at a time.
    fault_case("vhost-fault-no-call", "no-call", [r"^vdb: .*interrupt"]),
    # A capacity no disk has (2^64 - 1 sectors): refused at attach, saying why.
    fault_case("vhost-fault-cfg-capacity", "cfg-capacity",
               [r"^vdb: virtio device at 00:05\.0 failed: capacity beyond 2\^54 sectors: out of range"]),
    # Limits out of range, as Linux takes them: said once, clamped, and the disk used within
    # them; the device serves every request right, so the run passes (exit 0) and earns it.
    fault_case("vhost-fault-cfg-seg-max", "cfg-seg-max",
               [r"^vdb: device configuration seg_max = 0: no data segment at all: one per request$",
                r"^BENCH name=%s .*errors=0" % re.escape(BAD_RUN)], expect_exit=0),
    fault_case("vhost-fault-cfg-size-max", "cfg-size-max",
               [r"^vdb: device configuration size_max = 1: below one sector: 512-byte segments$",
                r"^BENCH name=%s .*errors=0" % re.escape(BAD_RUN)], expect_exit=0),
    fault_case("vhost-fault-cfg-blk-size", "cfg-blk-size",
               [r"^vdb: device configuration blk_size = 3000: not a power of two",
                r"^BENCH name=%s .*errors=0" % re.escape(BAD_RUN)], expect_exit=0),
    # A configuration change to a capacity out of range while requests run.
    fault_case("vhost-fault-cfg-change", "cfg-change", [r"^vdb: .*capacity.*(out of range|too large|invalid)"]),
    # No FLUSH offered is a legal write-through device: the file system on it is durable
    # without FLUSH, and none may reach it. The case passes only when everything does.
    fault_case("vhost-fault-no-flush", "no-flush",
               [r"^vdb: virtio-blk at 00:05\.0, .*, writethrough, ",
                r"^BENCH name=fs:append:50ios:vdb .*errors=0 .*durable=1 wce=0"],
               cmdline="test=fs bench=fs:append:50ios:vdb,%s" % GOOD_RUN, expect_exit=0,
               reject=[r"^vdb: device broken", r"FAIL"], check_bad=flush_not_sent),
]

CASES = qsd_cases(TRANSITIONAL) + qsd_cases(MODERN) + OWN + FAULTS
