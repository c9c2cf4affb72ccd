"""QEMU tests of quillfs: test=fs (fs/fs_ktest.c) writes a tree on vda,
remounts, verifies and checks it in the guest; then, on the host,
fsck.quillfs must find the image clean and `quillfs cat` must return the
bytes the guest wrote. Destruction needs consent: a disk holding a quillfs
is formatted only with fs.format=1, otherwise the test works in /fstest and
leaves the rest alone. Two power cuts: fs-power-cut kills QEMU under
test=fs_crash; fs-power-log replays the write log of test=fs_power (below).
"""
import os
import re
import shutil
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "build", "tools")
MKFS, FSCK, QUILLFS = (os.path.join(TOOLS, t) for t in ("mkfs.quillfs", "fsck.quillfs", "quillfs"))

# Must match fs/fs_ktest.c.
SIZES = [0, 1, 4095, 4096, 4097, 12345, 65536, 300001, 1048573, 4 << 20, 123457, 5]
HOST_FILE = b"written on the host\n"


def ft_path(k):
    return "/fstest/d1/d2/f%d" % k if k % 3 == 2 else "/fstest/d1/f%d" % k if k % 3 == 1 else "/fstest/f%d" % k


def ft_content(k, n):
    return bytes(((o * 31 + k * 7 + (o >> 8)) & 0xFF) for o in range(n))


def cat(image, path):
    r = subprocess.run([QUILLFS, "cat", image, path], capture_output=True)
    return r.returncode, r.stdout


def check_tree(ctx, host_file_expected=None):
    """fsck clean, every file's bytes as the guest wrote them."""
    img = ctx.disks[0]
    r = subprocess.run([FSCK, "-n", img], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "fsck.quillfs exit %d: %s" % (r.returncode, r.stdout.strip()[-300:])
    for k, n in enumerate(SIZES):
        rc, data = cat(img, ft_path(k))
        if rc != 0:
            return False, "quillfs cat %s: exit %d" % (ft_path(k), rc)
        if data != ft_content(k, n):
            return False, "%s: %d bytes differ from what the guest wrote" % (ft_path(k), len(data))
    rc, data = cat(img, "/fstest/sparse")
    if rc != 0 or len(data) != (100 << 20) + 3 or data[-3:] != b"end" or any(data[:1 << 20]):
        return False, "/fstest/sparse is wrong"
    if host_file_expected is not None:
        rc, data = cat(img, "/host.txt")
        if host_file_expected and (rc != 0 or data != HOST_FILE):
            return False, "the host's file did not survive (exit %d)" % rc
        if not host_file_expected and rc == 0:
            return False, "fs.format=1 did not format: the host's file is still there"
    return True, ""


def host_image(path, seg=None):
    """A quillfs made on the host, holding one file."""
    subprocess.run([MKFS, "-f"] + (["-s", seg] if seg else []) + [path], check=True, capture_output=True)
    subprocess.run([QUILLFS, "put", path, "/host.txt"], input=HOST_FILE, check=True, capture_output=True)


def check_crash(ctx):
    """After QEMU was killed mid-loop: fsck clean, every file printed durable
    (and not unlinked before the last durable point) holds its bytes; then a
    second boot recovers, says what that cost, works on top, and they still do."""
    img = ctx.disks[0]
    durable = [int(m) for m in re.findall(r"^fs: durable (\d+)$", ctx.output, re.M)]
    if len(durable) < 20:
        return False, "only %d fsyncs before the kill" % len(durable)
    r = subprocess.run([FSCK, "-n", img], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "fsck.quillfs exit %d: %s" % (r.returncode, r.stdout.strip()[-300:])
    last = durable[-1]

    def durable_files(when):
        # fK is unlinked in the same step that makes K + 100 durable: up to `last`
        # those before last - 99 may be gone; the step after `last` may have run.
        for k in range(max(0, last - 98), last + 1):
            n = 1000 + (k * 7919) % 60000
            rc, data = cat(img, "/crash/f%d" % k)
            if rc != 0 or data != ft_content(k, n):
                return "%s: /crash/f%d (durable by %d): %s" % (
                    when, k, last, "missing" if rc else "%d bytes differ" % len(data))
        return None

    why = durable_files("after the kill")
    if why:
        return False, why
    # Boot again on the same disk: the guest's own recovery says what it did, new
    # work (test=fs in /fstest) goes on top, and what was durable stays so.
    r = subprocess.run([os.path.join(ROOT, "tools", "quill-run"), "--timeout", "120",
                        "--cmdline", "test=fs", "--disk", img], capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode != 0 or not re.search(r"^TEST fs PASS$", out, re.M):
        return False, "the boot after the kill: exit %d: %s" % (r.returncode, out.strip()[-300:])
    m = re.search(r"^fs: vda was not unmounted cleanly: recovery applied (\d+) commits .* read (\d+) KiB "
                  r"\((\d+) KiB of log\) in [\d.]+ ms$", out, re.M)
    if not m:
        return False, "the boot after the kill did not say what its recovery did"
    why = durable_files("after recovery and new work")
    if why:
        return False, why
    rc = subprocess.run([FSCK, "-n", img], capture_output=True).returncode
    if rc:
        return False, "fsck.quillfs after the second boot: exit %d" % rc
    return True, "", "recovery in the guest: %s commits, %s KiB read for %s KiB of log" % m.groups()


# The logged power cut: QEMU's blklogwrites driver logs every write and FLUSH
# of test=fs_power (fs/fs_power_ktest.c) to log.img; build/host/power_log
# (tests/host/power_log.c) then rebuilds the disk at every FLUSH and with
# random subsets of the writes after it, and checks each state against the
# steps the guest reported synced. Unlike fs-power-cut, where QEMU's page
# cache keeps every completed write, this sees a missing or misplaced FLUSH.
# write-cache=on: the guest sees a volatile cache (VIRTIO_BLK_F_FLUSH, WCE) and
# QEMU adds no FLUSH of its own. cache.no-flush=on on the two files only: the
# host's fdatasync would slow the run and mean nothing here; the guest's
# FLUSHes still reach, and are logged by, the blklogwrites node. Interval 1:
# the log's superblock counts every entry, not only those up to a FLUSH.
POWER_LOG = os.path.join(ROOT, "build", "host", "power_log")
POWER_LOG_QEMU = [
    "-blockdev", "driver=file,node-name=data,filename={disk0},cache.no-flush=on",
    "-blockdev", "driver=file,node-name=log,filename={tmp}/log.img,cache.no-flush=on",
    "-blockdev", "driver=blklogwrites,node-name=lw,file=data,log=log,log-sector-size=512,"
    "log-super-update-interval=1",
    "-device", "virtio-blk-pci,drive=lw,write-cache=on",
]


def power_log_prepare(path):
    """Before the boot: the image as it is (what the log replays onto) and an empty log."""
    shutil.copyfile(path, path + ".before")
    open(os.path.join(os.path.dirname(path), "log.img"), "wb").close()


def check_power_log(variants, seed, timeout):
    def check(ctx):
        img = ctx.disks[0]
        t0 = time.monotonic()
        console, keep = os.path.join(ctx.tmp, "console.txt"), os.path.join(ctx.tmp, "keep")
        with open(console, "w") as f:
            f.write(ctx.output)
        os.mkdir(keep)
        r = subprocess.run([POWER_LOG, "--before", img + ".before", "--after", img,
                            "--log", os.path.join(ctx.tmp, "log.img"), "--console", console,
                            "--seed", str(seed), "--variants", str(variants), "--keep", keep],
                           capture_output=True, text=True, timeout=timeout)
        lines = r.stdout.splitlines()
        fails = [l for l in lines if re.match(r"^TEST \S+ FAIL", l)]
        if r.returncode != 0 or fails or not any(re.match(r"^TEST \S+ PASS", l) for l in lines):
            tail = (r.stdout + r.stderr).strip().splitlines()[-6:]
            return False, "power_log exit %d: %s" % (r.returncode, " | ".join(fails or tail))
        # The same states through the tool users run.
        for name in sorted(os.listdir(keep)):
            f = subprocess.run([FSCK, "-n", os.path.join(keep, name)], capture_output=True, text=True)
            if f.returncode != 0:
                return False, "fsck.quillfs -n on %s: exit %d: %s" % (name, f.returncode, f.stdout.strip()[-300:])
        summary = [l for l in lines if l.startswith("power_log: ") and "states checked" in l]
        fs_did = re.findall(r"^fs_power: statfs (.*)$", ctx.output, re.M)
        return True, "", "%s; guest: %s (host side %.1f s)" % (
            summary[-1] if summary else "", fs_did[-1] if fs_did else "?", time.monotonic() - t0)
    return check


def power_log_case(name, steps, variants, timeout, check_timeout, long=False):
    # 6 MiB of ballast on the 8 MiB disk: the cleaner moves live blocks within the run.
    return dict(name=name, cmdline="test=fs_power fs_power.steps=%d fs_power.ballast=6m" % steps,
                disks=[dict(size="8M", prepare=power_log_prepare)], raw_disks=True, qemu=POWER_LOG_QEMU,
                expect=[r"^vda: virtio-blk .*, write-back, .*features .*\bFLUSH\b",
                        r"^fs_power: done steps %d flushes \d+$" % (steps + 3),
                        r"^TEST fs_power PASS$", r"^quill: exit 0$"],
                reject=REJECT, check=check_power_log(variants, 1, check_timeout), timeout=timeout, long=long)


FS_EXPECT = [r"^fs: remounted, verified, fsck clean$", r"^TEST fs PASS$", r"^quill: exit 0$"]
REJECT = [r"CPU exception", r"device broken"]


def fs_case(name, disks, cmdline="test=fs", expect=(), check=check_tree, qemu=()):
    return dict(name=name, cmdline=cmdline, disks=disks, qemu=list(qemu), expect=FS_EXPECT + list(expect),
                reject=REJECT, check=check, timeout=240)


CASES = [
    fs_case("fs-fresh-disk", [dict(size="64M")], expect=[r"^fs: formatting vda \(no quillfs on it\)$"]),
    fs_case("fs-1g-sparse-disk", [dict(size="1G")]),
    fs_case("fs-q35", [dict(size="128M")], qemu=["-machine", "q35"]),
    fs_case("fs-existing-no-consent", [dict(size="64M", prepare=host_image)],
            expect=[r"^fs: vda holds a quillfs: working in /fstest only$"],
            check=lambda ctx: check_tree(ctx, host_file_expected=True)),
    fs_case("fs-existing-consent", [dict(size="64M", prepare=host_image)], cmdline="test=fs fs.format=1",
            expect=[r"^fs: formatting vda \(fs.format=1\)$"],
            check=lambda ctx: check_tree(ctx, host_file_expected=False)),
    fs_case("fs-host-64k-segments", [dict(size="256M", prepare=lambda p: host_image(p, "64K"))],
            expect=[r"^fs: vda holds a quillfs: working in /fstest only$"],
            check=lambda ctx: check_tree(ctx, host_file_expected=True)),
    fs_case("fs-host-4m-segments", [dict(size="256M", prepare=lambda p: host_image(p, "4M"))],
            expect=[r"^fs: vda holds a quillfs: working in /fstest only$"],
            check=lambda ctx: check_tree(ctx, host_file_expected=True)),
    dict(name="fs-power-cut", cmdline="test=fs_crash", disks=[dict(size="256M")], qemu=[],
         expect=[r"^fs: durable 20$"], reject=REJECT, check=check_crash, timeout=15, expect_exit=124),
    power_log_case("fs-power-log", steps=80, variants=4, timeout=120, check_timeout=300),
    power_log_case("fs-power-log-long", steps=1500, variants=16, timeout=900, check_timeout=3000, long=True),
    fs_case("fs-no-disk", [], expect=[], check=None) | dict(
        expect=[r"^TEST fs FAIL no disk vda$", r"^quill: exit 1$"], expect_exit=1),
]
