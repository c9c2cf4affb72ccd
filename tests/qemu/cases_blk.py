"""QEMU tests of PCI, virtio-pci and virtio-blk: the same block tests on many
device configurations, then read-only disks, error injection and a dead device.

Most cases run test=blk (drivers/blk/blk_ktest.c): GET_ID, bad requests,
4096 requests at once, a request larger than the driver's largest part,
scatter-gather requests (3 to 256 pieces, read back into other pieces),
write-zeroes/discard, then the LBA-stamped pattern over the disk (strided on
disks over 256 MiB) written at depth 32, flushed and verified. Afterwards
tools/blkpattern checks each image on the host, sector by sector (disk i
carries pass i + 1).
"""
import json
import os
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLKPATTERN = os.path.join(ROOT, "build", "tools", "blkpattern")

FEATURE_LINE = r"^vda: virtio-blk at [0-9a-f]{2}:[0-9a-f]{2}\.[0-7], \d+ sectors"
SG_LINE = r"^blk: vda scatter-gather: 4 writes and reads of 3-256 pieces ok, \d+ device requests$"
BLK_EXPECT = [FEATURE_LINE, SG_LINE, r"^TEST blk PASS$", r"^quill: exit 0$"]
NO_BREAKAGE = [r"device broken", r"failed: ", r"CPU exception"]


def pattern_check(ctx):
    """Every disk's image holds the pattern of pass (index + 1), sector by sector."""
    for i, disk in enumerate(ctx.disks):
        r = subprocess.run([BLKPATTERN, disk, str(i + 1)], capture_output=True, text=True)
        if r.returncode != 0:
            out = (r.stdout + r.stderr).strip().splitlines()
            return False, "disk%d pattern: %s" % (i, out[-1] if out else "exit %d" % r.returncode)
    return True, ""


def blk(name, qemu=(), disks=None, expect=(), cmdline="test=blk", check=pattern_check, **kw):
    """A test=blk case; `qemu` adds QEMU arguments, `expect` extra output regexes."""
    case = dict(name=name, cmdline=cmdline, qemu=list(qemu),
                disks=disks if disks is not None else [dict(size="64M")],
                expect=BLK_EXPECT + list(expect), reject=NO_BREAKAGE, timeout=180)
    if check:
        case["check"] = check
    case.update(kw)
    return case


def device(opts="", drive="d0", disk="{disk0}", drive_opts=""):
    """A -drive/-device pair for raw_disks cases."""
    return ["-drive", "if=none,id=%s,format=raw,file=%s%s" % (drive, disk, drive_opts),
            "-device", "virtio-blk-pci,drive=%s%s" % (drive, "," + opts if opts else "")]


def make_quillfs(path):
    subprocess.run([os.path.join(ROOT, "build", "tools", "mkfs.quillfs"), "-f", path],
                   check=True, capture_output=True)


def write_pattern(path):
    subprocess.run([BLKPATTERN, "--write", path, "1"], check=True, capture_output=True)


BLKDEBUG_CONF = """[inject-error]
event = "write_aio"
errno = "5"
sector = "64"

[inject-error]
event = "write_aio"
errno = "5"
sector = "1000"
"""


def blkdebug_prepare(path):
    with open(os.path.join(os.path.dirname(path), "blkdebug.conf"), "w") as f:
        f.write(BLKDEBUG_CONF)


def resize_later(path, node="d0", size=96 << 20, delay=5.0):
    """prepare hook: once QEMU serves QMP at {tmp}/qmp.sock, grow `node` after `delay` s."""
    sock_path = os.path.join(os.path.dirname(path), "qmp.sock")

    def run():
        deadline = time.time() + 60
        s = socket.socket(socket.AF_UNIX)
        while True:
            try:
                s.connect(sock_path)
                break
            except OSError:
                if time.time() > deadline:
                    return
                time.sleep(0.1)
        with s, s.makefile("rw") as f:
            f.readline()  # greeting
            for cmd in ({"execute": "qmp_capabilities"},
                        {"execute": "block_resize", "arguments": {"node-name": node, "size": size}}):
                if cmd["execute"] == "block_resize":
                    time.sleep(delay)
                f.write(json.dumps(cmd) + "\n")
                f.flush()
                f.readline()

    threading.Thread(target=run, daemon=True).start()


def resize_check(ctx, want=96 << 20):
    size = os.path.getsize(ctx.disks[0])
    return (size == want), "image is %d bytes after block_resize" % size


def resize_case(name, size_mib, qemu_opts=""):
    """blk_resize while QMP resizes the 64 MiB disk to size_mib (grow or shrink)."""
    grow = size_mib > 64
    sectors = size_mib << 11
    return dict(
        name=name, cmdline="test=blk_resize", raw_disks=True,
        disks=[dict(size="64M", prepare=lambda p: resize_later(p, size=size_mib << 20))],
        qemu=["-qmp", "unix:{tmp}/qmp.sock,server=on,wait=off",
              "-blockdev", "driver=file,filename={disk0},node-name=f0",
              "-blockdev", "driver=raw,file=f0,node-name=d0",
              "-device", "virtio-blk-pci,drive=d0" + ("," + qemu_opts if qemu_opts else "")],
        expect=[r"^vda: .* 131072 sectors \(64 MiB\)",
                r"^vda: capacity changed from 131072 to %d sectors \(%d MiB\)$" % (sectors, size_mib),
                r"^blk: vda grew: " if grow else r"^blk: vda shrank: ",
                r"^TEST blk_resize PASS$", r"^quill: exit 0$"],
        reject=NO_BREAKAGE, check=lambda ctx: resize_check(ctx, size_mib << 20), timeout=120)


CASES = [
    # The default device: -drive if=virtio (MSI-X, indirect, event-idx, queue 256).
    blk("blk-default", expect=[
        r"^vda: .* 131072 sectors \(64 MiB\), block 512/512, write-back, queue 256 \(indirect\), msix,",
        r"^vda: .*features .*FLUSH.*CONFIG_WCE.*INDIRECT_DESC EVENT_IDX VERSION_1",
        r"^blk: vda wrote pass 1: \d+ requests, 64 MiB",
        r"^blk: vda verified pass 1: \d+ requests, 64 MiB",
        r"^blk: vda 4096 writes submitted at once",
    ]),
    blk("blk-serial", raw_disks=True, qemu=device("serial=quill-disk-7"),
        expect=[r"^blk: vda id 'quill-disk-7'$"]),
    blk("blk-indirect-off", raw_disks=True, qemu=device("indirect_desc=off"),
        expect=[r"^vda: .*, queue 256, msix,"], reject=NO_BREAKAGE + [r"INDIRECT_DESC"]),
    blk("blk-event-idx-off", raw_disks=True, qemu=device("event_idx=off"),
        expect=[r"^vda: .*queue 256 \(indirect\), msix,"], reject=NO_BREAKAGE + [r"EVENT_IDX"]),
    blk("blk-no-indirect-no-event-idx", raw_disks=True,
        qemu=device("indirect_desc=off,event_idx=off,queue-size=64"),
        expect=[r"^vda: .*, queue 64, msix,"]),
    blk("blk-queue-64", raw_disks=True, qemu=device("queue-size=64"),
        expect=[r"^vda: .*queue 64 \(indirect\)"]),
    blk("blk-queue-1024", raw_disks=True, qemu=device("queue-size=1024"),
        expect=[r"^vda: .*queue 1024 \(indirect\)"]),
    blk("blk-intx", raw_disks=True, qemu=device("vectors=0"),
        expect=[r"^vda: .*\(indirect\), intx,", r"^blk: vda wrote pass 1: .* [1-9]\d* interrupts"]),
    # One MSI-X vector cannot serve configuration and a queue: INTx instead.
    blk("blk-vectors-1", raw_disks=True, qemu=device("vectors=1"), expect=[r"^vda: .*, intx,"]),
    blk("blk-q35", qemu=["-machine", "q35"],
        expect=[r"^pci: ECAM at 0x[0-9a-f]+, buses 0-\d+", r"^vda: .*, msix,"]),
    blk("blk-q35-intx", raw_disks=True, qemu=["-machine", "q35"] + device("vectors=0"),
        expect=[r"^vda: .*, intx,"]),
    # Behind bridges: the walk must recurse into secondary buses.
    blk("blk-pci-bridge", raw_disks=True,
        qemu=["-device", "pci-bridge,id=br1,chassis_nr=1"] + device("bus=br1,addr=0x5"),
        expect=[r"^vda: virtio-blk at 01:05\.0,"]),
    blk("blk-q35-root-port", raw_disks=True,
        qemu=["-machine", "q35", "-device", "pcie-root-port,id=rp1,chassis=1,slot=1"] + device("bus=rp1"),
        expect=[r"^pci: 01:00\.0 1af4:1042 ", r"^vda: virtio-blk at 01:00\.0,"]),
    blk("blk-modern-only", raw_disks=True, qemu=device("disable-legacy=on"),
        expect=[r"^pci: 00:0[0-9a-f]\.0 1af4:1042 "]),
    # Multiqueue: four request queues, each with its MSI-X vector, all used (round-robin
    # per batch); on INTx (one shared line, the ISR says "queue": every queue is drained);
    # blk.queues=1 keeps one.
    blk("blk-mq", raw_disks=True, qemu=device("num-queues=4"),
        expect=[r"^vda: .*, msix, .*, 4 queues, features .*\bMQ\b",
                r"^blk: vda requests per queue so far: [1-9]\d* [1-9]\d* [1-9]\d* [1-9]\d*$"]),
    blk("blk-mq-intx", raw_disks=True, qemu=device("num-queues=4,vectors=0"),
        expect=[r"^vda: .*, intx, .*, 4 queues,",
                r"^blk: vda requests per queue so far: [1-9]\d* [1-9]\d* [1-9]\d* [1-9]\d*$"]),
    # Three MSI-X entries for four queues: configuration on one, all queues sharing the other.
    blk("blk-mq-vectors-3", raw_disks=True, qemu=device("num-queues=4,vectors=3"),
        expect=[r"^vda: .*, msix, .*, 4 queues,",
                r"^blk: vda requests per queue so far: [1-9]\d* [1-9]\d* [1-9]\d* [1-9]\d*$"]),
    blk("blk-mq-one", cmdline="test=blk blk.queues=1", raw_disks=True, qemu=device("num-queues=4"),
        expect=[r"^vda: .*, 1 queue, features .*\bMQ\b"], reject=NO_BREAKAGE + [r"per queue"]),
    # Packed rings offered: taken; refused with virtio.packed=0 (split rings, for comparison).
    blk("blk-packed", raw_disks=True, qemu=device("packed=on,disable-legacy=on"),
        expect=[r"^vda: .*features .*RING_PACKED"]),
    blk("blk-packed-refused", cmdline="test=blk virtio.packed=0", raw_disks=True,
        qemu=device("packed=on"), reject=NO_BREAKAGE + [r"RING_PACKED"]),
    # No modern capabilities: the legacy transport in I/O BAR 0 (MSI-X, and INTx).
    blk("blk-legacy", raw_disks=True, qemu=device("disable-modern=on"),
        expect=[r"^virtio-pci 00:0[0-9a-f]\.0: no modern interface: legacy I/O registers at 0x",
                r"^vda: .*\(indirect\), msix,"], reject=NO_BREAKAGE + [r"VERSION_1"]),
    blk("blk-legacy-intx", raw_disks=True, qemu=device("disable-modern=on,vectors=0"),
        expect=[r"legacy I/O registers", r"^vda: .*\(indirect\), intx,"]),
    blk("blk-iothread", raw_disks=True,
        qemu=["-object", "iothread,id=io1"] + device("iothread=io1,queue-size=1024")),
    blk("blk-iothread-intx", raw_disks=True,
        qemu=["-object", "iothread,id=io1"] + device("iothread=io1,vectors=0")),
    blk("blk-4k-blocks", raw_disks=True,
        qemu=device("logical_block_size=4096,physical_block_size=4096"),
        expect=[r"^vda: .*, block 4096/4096,"]),
    blk("blk-4k-physical", raw_disks=True, qemu=device("physical_block_size=4096"),
        expect=[r"^vda: .*, block 512/4096,"]),
    blk("blk-two-disks", disks=[dict(size="64M"), dict(size="32M")],
        expect=[r"^vdb: virtio-blk at .* 65536 sectors \(32 MiB\)",
                r"^blk: vdb verified pass 2: \d+ requests, 32 MiB"]),
    # Four disks on INTx: some share an 8259 line, each device's ISR says which.
    blk("blk-four-disks-intx", raw_disks=True,
        disks=[dict(size="16M") for _ in range(4)],
        qemu=sum([device("vectors=0", "d%d" % i, "{disk%d}" % i) for i in range(4)], []),
        expect=[r"^vd%s: .*, intx," % c for c in "abcd"]),
    blk("blk-4G-sparse", disks=[dict(size="4G")],
        expect=[r"^vda: .* 8388608 sectors \(4096 MiB\)",
                r"^blk: vda verified pass 1: \d+ requests, 16 MiB"]),
    blk("blk-poll", cmdline="test=blk blk.poll=1", expect=[r"^vda: .*\(indirect\), poll,"]),
    blk("blk-writethrough", disks=[dict(size="64M", opts="cache=writethrough")],
        expect=[r"^vda: .*, block 512/512, writethrough, "]),
    # null-co: capacity and bad requests only, there is no content to check.
    dict(name="blk-null-co", cmdline="test=blk_id,blk_range", raw_disks=True, disks=[],
         qemu=["-blockdev", "driver=null-co,node-name=n0,size=%d" % (1 << 30),
               "-device", "virtio-blk-pci,drive=n0,serial=null0"],
         expect=[r"^vda: .* 2097152 sectors \(1024 MiB\)", r"^blk: vda id 'null0'$",
                 r"^TEST blk_range PASS$", r"^TEST blk_id PASS$", r"^quill: exit 0$"],
         reject=NO_BREAKAGE, timeout=120),
    # A read-only disk: refuses writes before the device sees them; reads the host's pattern.
    dict(name="blk-readonly", cmdline="test=blk_ro,blk_verify,blk_range",
         disks=[dict(size="16M", prepare=write_pattern, opts="readonly=on")],
         expect=[r"^vda: .*, read-only, ", r"^vda: .*features .*\bRO\b",
                 r"^blk: vda is read-only: writes refused with 'read-only device'$",
                 r"^TEST blk_ro PASS$", r"^TEST blk_verify PASS$", r"^TEST blk_range PASS$",
                 r"^quill: exit 0$"],
         reject=NO_BREAKAGE, timeout=120),
    dict(name="blk-readonly-needs-ro-disk", cmdline="test=blk_ro", expect_exit=1,
         disks=[dict(size="16M")],
         expect=[r"^TEST blk_ro FAIL no read-only disk", r"^quill: exit 1$"], timeout=120),
    # Destruction needs consent: a disk holding quillfs is left alone without overwrite=1.
    dict(name="blk-consent", cmdline="test=blk", expect_exit=1,
         disks=[dict(size="32M", prepare=make_quillfs)],
         expect=[r"^TEST blk FAIL vda holds a quillfs file system; raw tests need overwrite=1$",
                 r"^quill: exit 1$"], timeout=120),
    blk("blk-consent-overwrite", cmdline="test=blk overwrite=1",
        disks=[dict(size="32M", prepare=make_quillfs)]),
    dict(name="blk-no-disk", cmdline="test=blk", expect_exit=1, disks=[],
         expect=[r"^drivers: no virtio-blk disk found$", r"^TEST blk FAIL no block device",
                 r"^quill: exit 1$"], timeout=120),
    # blkdebug fails the writes covering two sectors: those come back -EIO, the rest succeed.
    dict(name="blk-eio-injected", cmdline="test=blk_eio", raw_disks=True,
         disks=[dict(size="16M", prepare=blkdebug_prepare)],
         qemu=["-drive", "if=none,id=d0,format=raw,werror=report,rerror=report,"
               "file=blkdebug:{tmp}/blkdebug.conf:{disk0}",
               "-device", "virtio-blk-pci,drive=d0"],
         expect=[r"^blk: vda 256 writes: [1-9]\d* ok, [1-9]\d* I/O errors, 0 other$",
                 r"^TEST blk_eio PASS$", r"^quill: exit 0$"],
         reject=NO_BREAKAGE, timeout=120),
    # The host grows, then shrinks, the disk while the guest runs: a configuration-change
    # interrupt; I/O past the old end works, past a new (smaller) end fails cleanly.
    resize_case("blk-resize", 96),
    resize_case("blk-resize-shrink", 32),
    resize_case("blk-resize-packed", 96, "packed=on"),
    resize_case("blk-resize-shrink-packed", 32, "packed=on"),
    # QEMU cannot map a buffer outside RAM: DEVICE_NEEDS_RESET and a config interrupt.
    dict(name="blk-needs-reset", cmdline="test=blk_needs_reset blk.timeout_ms=20000",
         disks=[dict(size="16M")],
         expect=[r"^vda: device broken: device needs reset", r"^TEST blk_needs_reset PASS$",
                 r"^quill: exit 0$"], timeout=120),
    dict(name="blk-needs-reset-intx", cmdline="test=blk_needs_reset blk.timeout_ms=20000",
         raw_disks=True, disks=[dict(size="16M")], qemu=device("vectors=0"),
         expect=[r"^vda: .*, intx,", r"^vda: device broken: device needs reset",
                 r"^TEST blk_needs_reset PASS$", r"^quill: exit 0$"], timeout=120),
    # A 64-bit BAR above 4 GiB (a 4 GiB test BAR pushes SeaBIOS's 64-bit window up).
    blk("blk-bar-above-4g", qemu=["-machine", "q35", "-device", "pci-testdev,membar=4G"],
        expect=[r"^pci: .* 1af4:1001 .*bar4 mem64 0x[1-9a-f][0-9a-f]{8,}\+"]),
    # A backend far too slow to answer: the watchdog declares the device dead, nothing hangs.
    dict(name="blk-watchdog", cmdline="test=blk_watchdog blk.timeout_ms=1500", raw_disks=True,
         disks=[dict(size="16M")],
         qemu=device(drive_opts=",throttling.bps-write=65536"),
         expect=[r"^vda: device broken: watchdog", r"^TEST blk_watchdog PASS$", r"^quill: exit 0$"],
         timeout=120),
]
