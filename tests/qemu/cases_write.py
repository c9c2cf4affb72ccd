"""QEMU tests of the main job: test=write and the default job of `make run`, checked on the host."""
import hashlib
import os
import re
import struct
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WRITE_LINE = re.compile(r"^write: fs: (\S+) size=(\d+) fnv1a=([0-9a-f]{16}) verified$", re.M)


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def check_image(ctx):
    """fsck.quillfs finds the image clean and `quillfs cat` gives back what the guest wrote."""
    tools = os.path.join(ctx.build, "tools")
    img = ctx.disks[0]
    r = subprocess.run([os.path.join(tools, "fsck.quillfs"), "-n", img], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "fsck.quillfs -n: status %d: %s" % (r.returncode, (r.stdout + r.stderr).strip()[-300:])
    files = WRITE_LINE.findall(ctx.output)
    if len(files) < 12:
        return False, "the guest reported %d verified files, expected 12" % len(files)
    for path, size, digest in files:
        c = subprocess.run([os.path.join(tools, "quillfs"), "cat", img, path], capture_output=True)
        if c.returncode != 0:
            return False, "quillfs cat %s: status %d %s" % (path, c.returncode, c.stderr.decode()[-200:])
        if len(c.stdout) != int(size) or "%016x" % fnv1a(c.stdout) != digest:
            return False, "%s on the host: %d bytes, fnv1a %016x; the guest wrote %s bytes, %s" % (
                path, len(c.stdout), fnv1a(c.stdout), size, digest)
    return True, ""


def other_quillfs(version):
    """A quillfs whose superblocks say another format version: one this kernel refuses to
    mount, and must not overwrite or reformat without consent either. The version is read
    before the checksum (another version may checksum differently), so only it changes."""
    def prepare(path):
        subprocess.run([os.path.join(ROOT, "build", "tools", "mkfs.quillfs"), path], check=True,
                       capture_output=True)
        with open(path, "r+b") as f:
            for block in (0, 1):
                f.seek(block * 4096 + 8)
                f.write(struct.pack("<I", version))
        with open(path + ".sha", "w") as f:
            f.write(file_digest(path))
    return prepare


newer_quillfs = other_quillfs(3)
older_quillfs = other_quillfs(1)


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_untouched(ctx):
    """The disk is byte for byte what it was before the boot."""
    img = ctx.disks[0]
    with open(img + ".sha") as f:
        before = f.read()
    return (file_digest(img) == before, "the image changed")


CASES = [
    dict(name="write-test", cmdline="test=write", disks=[dict(size="128M")],
         expect=[r"^write: raw: 64 MiB pattern .* verified", r"^TEST write PASS$", r"^quill: exit 0$"],
         check=check_image),
    dict(name="write-test-q35-4k-packed", cmdline="test=write", raw_disks=True,
         disks=[dict(size="96M")],
         qemu=["-machine", "q35", "-drive", "if=none,id=d0,format=raw,file={disk0}",
               "-device", "virtio-blk-pci,drive=d0,packed=on,logical_block_size=4096,physical_block_size=4096"],
         expect=[r"^TEST write PASS$", r"^quill: exit 0$"], check=check_image),
    # The default job (what make run boots): raw benchmarks, test=write, the file benchmark.
    dict(name="default-job", cmdline=None, disks=[dict(size="256M")], timeout=180,
         expect=[r"^jobs: default job on vda", r"^BENCH name=raw:randwrite:4k:qd1:2s .* errors=0",
                 r"^BENCH name=raw:randwrite:4k:qd32:2s .* errors=0",
                 r"^BENCH name=raw:randwrite:4k:qd1:2s:hybrid .* mode=hybrid .* errors=0",
                 r"^BENCH name=raw:randwrite:4k:qd32:2s:hybrid .* mode=hybrid .* errors=0",
                 r"^TEST write PASS$",
                 r"^BENCH name=fs:smallfiles:4k:fsync=1:2s target=fs .* durable=1", r"^quill: exit 0$"],
         check=check_image),
    # A disk that already holds a quillfs keeps it: no raw writes without overwrite=1.
    dict(name="default-job-keeps-fs", cmdline=None, timeout=180,
         disks=[dict(size="64M", prepare=lambda p: subprocess.run(
             [os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "build", "tools", "mkfs.quillfs"), p], check=True, capture_output=True))],
         expect=[r"raw benchmarks skipped to keep the file system on vda",
                 r"raw pattern skipped: it would destroy the quillfs", r"^TEST write PASS$", r"^quill: exit 0$"],
         reject=[r"^BENCH name=raw:"], check=check_image),
    # Rings smaller than QD32 (16 entries, three descriptors a request: 5 at once): the deep
    # runs go as deep as the device allows instead of failing.
    dict(name="default-job-small-ring", cmdline=None, raw_disks=True, disks=[dict(size="64M")], timeout=180,
         qemu=["-drive", "if=none,id=d0,format=raw,file={disk0}",
               "-device", "virtio-blk-pci,drive=d0,queue-size=16,indirect_desc=off"],
         expect=[r"^BENCH name=raw:randwrite:4k:qd5:2s .* qd=5 .* errors=0",
                 r"^BENCH name=raw:randwrite:4k:qd5:2s:hybrid .* errors=0", r"^TEST write PASS$",
                 r"^quill: exit 0$"],
         check=check_image),
    # A second run on the same file system (its /writetest tree exists) passes too.
    dict(name="write-test-twice", cmdline="test=write,write", disks=[dict(size="64M")],
         expect=[r"^TEST write PASS$", r"^TEST write PASS$", r"^2 passed, 0 failed$", r"^quill: exit 0$"],
         check=check_image),
    # A quillfs this kernel cannot mount (another format version) is neither overwritten by raw
    # writes nor reformatted by file runs, the write test or the default job without consent.
    dict(name="newer-quillfs-kept", cmdline="bench=randwrite:4k:qd1:50ios,fs:smallfiles:4k:50ios test=write",
         disks=[dict(size="64M", prepare=newer_quillfs)], expect_exit=1,
         expect=[r"^bench: vda holds a quillfs this kernel cannot mount .* not overwriting it",
                 r"^bench: vda holds a quillfs this kernel cannot mount .* not formatting it",
                 r"^TEST write FAIL vda holds a quillfs this kernel cannot mount", r"^quill: exit 1$"],
         reject=[r"making a quillfs", r"holds no quillfs"], check=check_untouched),
    dict(name="older-quillfs-kept", cmdline="bench=randwrite:4k:qd1:50ios,fs:smallfiles:4k:50ios test=write",
         disks=[dict(size="64M", prepare=older_quillfs)], expect_exit=1,
         expect=[r"^bench: vda holds a quillfs this kernel cannot mount .* not overwriting it",
                 r"^TEST write FAIL vda holds a quillfs this kernel cannot mount", r"^quill: exit 1$"],
         reject=[r"making a quillfs", r"holds no quillfs"], check=check_untouched),
    dict(name="newer-quillfs-default-job", cmdline=None, timeout=120,
         disks=[dict(size="64M", prepare=newer_quillfs)], expect_exit=1,
         expect=[r"raw benchmarks skipped", r"^quill: exit 1$"],
         reject=[r"^BENCH name=raw:", r"making a quillfs", r"holds no quillfs"], check=check_untouched),
    dict(name="write-test-no-disk", cmdline="test=write", expect_exit=1,
         expect=[r"^TEST write FAIL no disk", r"^quill: exit 1$"]),
]
