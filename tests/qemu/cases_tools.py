"""QEMU tests of the host tools' own arguments: what tools/quill-bench refuses before it boots
anything and how it says why a boot failed, and the disk paths tools/quill-run and
tools/quill-make-run (make run DISK=...) take or refuse. Each case's own boot is short; the
checks run the tools (most of them without booting)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")
BENCH = os.path.join(TOOLS, "quill-bench")
RUN = os.path.join(TOOLS, "quill-run")
MAKE_RUN = os.path.join(TOOLS, "quill-make-run")

# A --plan on the smallest matrix; each bad option is added to it (the last value wins).
PLAN = [BENCH, "--plan", "--repeat", "1", "--backends", "null-co", "--iothread", "off", "--event-idx", "on",
        "--qd", "1", "--bs", "4k", "--ops", "randwrite", "--modes", "irq", "--packed", "off",
        "--num-queues", "1", "--fs-backends", "", "--insn-backends", "", "--time", "100ms"]
BAD_OPTIONS = [["--qd", "abc"], ["--qd", "0"], ["--qd", "1,x"], ["--ops", "nope"], ["--ops", "smallfiles"],
               ["--ops", "mixed101"], ["--modes", "nope"], ["--modes", "irq,"], ["--bs", "1000"], ["--bs", "4q"],
               ["--bs", "0"], ["--queue-size", "7"], ["--queue-size", "2048"], ["--machine", "nope"],
               ["--time", "0s"], ["--time", "0"], ["--time", "0ms"], ["--time", "soon"], ["--iothread", "maybe"],
               ["--large-modes", "fast"], ["--variant-modes", "fast"], ["--variant-qd", "0"],
               ["--fs-runs", "smallfiles:bogus"], ["--fs-runs", "fill:fill=100"],
               ["--fs-runs", "smallfiles:fill=50"], ["--fs-runs", "append:fsync=8"], ["--time", "90000s"],
               # deeper than the ring holds: the kernel would refuse the run after booting
               ["--queue-size", "64", "--qd", "65"]]
GOOD_OPTIONS = ["--qd", "1,64", "--bs", "512,64K", "--ops", "randwrite,mixed70,flushwrite,mixed",
                "--modes", "poll,hybrid", "--large-modes", "", "--queue-size", "64,1024", "--machine", "q35",
                "--fs-backends", "writeback", "--fs-runs", "smallfiles:fsync=8:files=10,append,fill:fill=50"]
GOOD_PLANNED = ["null-co qs64 ", "null-co qs1024 ", "mixed70:512:qd64:poll:100ms", "flushwrite:64K:qd1:hybrid",
                "fs:smallfiles:fsync=8:files=10:4k:100ms", "fs:fill:fill=50", "-machine q35"]


def run(cmd, env=None, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, **(env or {})))


def check_bench_options(ctx):
    """quill-bench refuses every malformed list value up front, as a usage error (status 2,
    a message naming the option) and without planning a boot; --time 0 and 0s alike; the
    values the kernel takes still plan."""
    for bad in BAD_OPTIONS:
        r = run(PLAN + bad, timeout=60)
        boots = [l for l in r.stdout.splitlines() if l.startswith("rep ")]
        if r.returncode != 2 or boots or bad[-2] not in r.stderr:
            return False, "quill-bench --plan %s: status %d, %d boots, %r" % (
                " ".join(bad), r.returncode, len(boots), r.stderr.strip()[-200:])
    zero = [run(PLAN + ["--time", t], timeout=60) for t in ("0", "0s")]
    if zero[0].stderr.replace("'0'", "X") != zero[1].stderr.replace("'0s'", "X"):
        return False, "--time 0 and --time 0s said different things: %r, %r" % (zero[0].stderr, zero[1].stderr)
    r = run(PLAN + GOOD_OPTIONS, timeout=60)
    missing = [w for w in GOOD_PLANNED if w not in r.stdout]
    if r.returncode != 0 or missing:
        return False, "quill-bench --plan %s: status %d, %r not planned: %r" % (
            " ".join(GOOD_OPTIONS), r.returncode, missing, r.stderr.strip()[-300:])
    return True, ""


# One boot by quill-bench's own boot class, on a command line the kernel refuses (as an older
# kernel would refuse a run it does not know); prints the problems it reports.
BOOT_SCRIPT = r"""
import importlib.machinery, importlib.util, json, sys
loader = importlib.machinery.SourceFileLoader("quill_bench", sys.argv[1])
spec = importlib.util.spec_from_loader("quill_bench", loader)
qb = importlib.util.module_from_spec(spec)
loader.exec_module(qb)
a = qb.parse_args(["--insn-backends", ""])
cfg = qb.Config(backend="null-co", cache="", aio="")
b = qb.Boot(a, 1, 1, cfg, [sys.argv[2]], "bench=" + sys.argv[2], "unused.img", sys.argv[3])
b.run()
print(json.dumps(b.problems))
"""
REFUSED_RUN = "randwrite:4k:qdabc:100ms"


def check_bench_args(ctx):
    """check_bench_options(); then, when the kernel refuses its command line, quill-bench's
    problem quotes the line that says what was wrong (cmdline: bad value ...), not the end
    of the kernel's key list."""
    ok, why = check_bench_options(ctx)
    if not ok:
        return ok, why
    r = run([sys.executable, "-c", BOOT_SCRIPT, BENCH, REFUSED_RUN, os.path.join(ctx.tmp, "boot.log")])
    try:
        problems = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, "the boot script failed: %r" % (r.stdout + r.stderr).strip()[-400:]
    # The kernel's refusal: "cmdline: bad value 'RUN' for key 'bench': ...", and (newer
    # kernels, first) "bench: bad token 'qdabc'"; either says what was wrong.
    first = next((p for p in problems if p.startswith("quill-run exit status 2 ")), "")
    said = first.partition("): ")[2]
    if not said.startswith(("cmdline: bad value", "bench:")) or "qdabc" not in said:
        return False, "quill-bench's problems: %r, want one quoting the kernel's refusal of 'qdabc'" % problems
    return True, ""


def check_run_disk(ctx):
    """quill-run: a --disk that does not exist or is a directory is a usage error (2, saying
    so, before QEMU starts); a path with a comma reaches QEMU escaped and the guest finds
    the disk; quill-bench's -drive escapes it too."""
    for d, what in (("/nonexistent/disk.img", "No such file"), (ctx.tmp, "directory")):
        r = run([RUN, "--timeout", "30", "--disk", d, "--cmdline", "test=lib"], timeout=60)
        if r.returncode != 2 or what not in r.stderr or "Booting" in r.stdout:
            return False, "quill-run --disk %s: status %d, %r" % (d, r.returncode, r.stderr.strip()[-200:])
    with open(RUN) as f:
        usage = f.read().split('"""')[1]
    if "2 for a bad argument" not in usage:
        return False, "quill-run's usage text does not give status 2 for a bad argument"
    comma = os.path.join(ctx.tmp, "a,b")
    os.makedirs(comma)
    disk = os.path.join(comma, "c,d.img")
    subprocess.run(["truncate", "-s", "64M", disk], check=True)
    r = run([RUN, "--timeout", "60", "--disk", disk, "--cmdline", "test=lib"], timeout=120)
    if r.returncode != 0 or "vda: virtio-blk at" not in r.stdout:
        return False, "quill-run --disk %s: status %d, %r" % (disk, r.returncode, (r.stdout + r.stderr)[-300:])
    r = run(PLAN + ["--backends", "writeback", "--out", comma], timeout=60)
    if r.returncode != 0 or "file=%s/a,,b/disk.img," % ctx.tmp not in r.stdout:
        return False, "quill-bench --plan --out %s: status %d, %r" % (comma, r.returncode, r.stdout[-300:])
    return True, ""


def check_make_run_disk(ctx):
    """make run DISK=...: a directory or a character device is refused (2, saying why) before
    booting and without fsck; a boot whose QEMU never started is not followed by fsck; a
    path with a comma boots with the guest finding the disk."""
    for d, what in ((ctx.tmp, "is a directory"), ("/dev/null", "neither a regular file nor a block device"),
                    (os.path.join(ctx.tmp, "none.img"), "No such file")):
        r = run([MAKE_RUN, d], timeout=60)
        out = r.stdout + r.stderr
        if r.returncode != 2 or what not in r.stderr or "fsck" in out or "Booting" in out:
            return False, "make run DISK=%s: status %d, %r" % (d, r.returncode, out.strip()[-300:])
    comma = os.path.join(ctx.tmp, "e,f.img")
    subprocess.run(["truncate", "-s", "64M", comma], check=True)
    # QEMU refuses its arguments: quill-run's 125, and no fsck verdict on an untouched image.
    r = run([MAKE_RUN, comma], env={"QUILL_CMDLINE": "test=lib", "QUILL_QEMU": "-no-such-option"}, timeout=120)
    out = r.stdout + r.stderr
    if r.returncode != 125 or "fsck.quillfs" in out or "damaged" in out:
        return False, "make run with QEMU failing: status %d, %r" % (r.returncode, out.strip()[-300:])
    r = run([MAKE_RUN, comma], env={"QUILL_CMDLINE": "test=lib", "QUILL_QEMU": ""}, timeout=120)
    out = r.stdout + r.stderr
    if r.returncode != 0 or "vda: virtio-blk at" not in out:
        return False, "make run DISK=%s: status %d, %r" % (comma, r.returncode, out.strip()[-300:])
    return True, ""


CASES = [
    dict(name="tools-bench-args", cmdline="bench=" + REFUSED_RUN, expect_exit=2,
         expect=[r"^cmdline: bad value '%s' for key 'bench'" % REFUSED_RUN, r"^quill: exit 2$"],
         check=check_bench_args, timeout=60),
    dict(name="tools-run-disk", cmdline="test=lib", expect=[r"^quill: exit 0$"], check=check_run_disk, timeout=60),
    dict(name="tools-make-run-disk", cmdline="test=lib", expect=[r"^quill: exit 0$"], check=check_make_run_disk,
         timeout=60),
]
