"""QEMU tests of the benchmarks: the BENCH line's keys and sanity (never speed), the host
side of `make bench` (tools/quill-bench and tools/benchlib.py), and the guest instruction
counts under the TCG plugin tools/insncount.so."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import benchlib  # noqa: E402

# Runs stopped by time and by count, every mode, both block sizes.
TINY = ["randwrite:4k:qd4:300ms", "randread:4k:qd1:500ios", "randwrite:64k:qd8:poll:200ms",
        "randread:4k:qd16:hybrid:2000ios", "seqwrite:4k:qd2:200ms"]


def check_tiny(ctx):
    """Every run printed one sane BENCH line: required keys present, iops > 0,
    p50 <= p99 <= max, ios matching the queue depth and the duration or count."""
    return benchlib.check_runs(ctx.output, TINY)


def check_runner(ctx):
    """tools/quill-bench end to end on one small configuration: a CSV row per run, every
    guest count agreeing with QEMU's, a summary and a plot (speed is not checked); with one
    packed-ring variant in hybrid mode (and its split baseline), two file-level runs after
    the write + FLUSH they are set beside, and the instruction-count boot on null-co."""
    ok, why = check_tiny(ctx)
    if not ok:
        return ok, why
    out = os.path.join(ctx.tmp, "bench")
    try:
        r = subprocess.run([os.path.join(ctx.root, "tools", "quill-bench"), "--out", out, "--repeat", "1",
                            "--backends", "writeback", "--iothread", "off", "--event-idx", "on",
                            "--qd", "1,4", "--bs", "4k", "--ops", "randwrite,randread", "--modes", "irq",
                            "--packed", "off,on", "--num-queues", "1", "--variant-backends", "writeback",
                            "--variant-iothread", "off", "--variant-qd", "4", "--variant-modes", "hybrid",
                            "--fs-backends", "writeback", "--fs-runs", "smallfiles:fsync=1,append",
                            "--insn-backends", "null-co",
                            "--time", "300ms"], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False, "quill-bench took more than 300 s"
    tail = " | ".join((r.stdout + r.stderr).strip().splitlines()[-6:])
    if r.returncode != 0:
        return False, "quill-bench exit status %d: %s" % (r.returncode, tail)
    for f in ("results.csv", "summary.md", "iops.svg"):
        if not os.path.exists(os.path.join(out, f)):
            return False, "quill-bench wrote no %s" % f
    insns, rows = benchlib.insn_rows(benchlib.read_csv(os.path.join(out, "results.csv")))
    # 4 raw runs, the split baseline's 2 hybrid runs, the packed variant's 2, the write +
    # FLUSH floor and 2 file-level runs.
    if len(rows) != 11:
        return False, "results.csv has %d rows, want 11" % len(rows)
    # The instruction-count boot: its three runs, each with a believable count.
    if len(insns) != 3 or {r["config"] for r in insns} != {"null-co"}:
        return False, "instruction-count rows: %r" % [(r["config"], r["spec"]) for r in insns]
    for row in insns:
        per_io = benchlib.number(row, "insns_per_io")
        if row["status"] != "ok" or row["plugin"] != "insncount" or per_io is None or not 20 < per_io < 1000000:
            return False, "%s under the plugin: status %r, %s instructions per I/O" % (
                row["spec"], row["status"], row["insns_per_io"] or "no")
    for row in rows:
        fs = row["target"] == "fs"
        if row["status"] != "ok" or row["agree"] != "yes" or row["qemu_exact"] != ("no" if fs else "yes"):
            return False, "%s: status %r, guest %s vs QEMU %s" % (row["spec"], row["status"],
                                                                  benchlib.guest_requests(row), row["qemu_reqs"])
        want_ring = "packed" if row["packed"] == "on" else "split"
        if row["guest_ring"] != want_ring or row["guest_queues"] != "1":
            return False, "%s (%s): the guest took a %s ring, %s queues" % (row["spec"], row["config"],
                                                                            row["guest_ring"], row["guest_queues"])
    if sorted(r["mode"] for r in rows if r["packed"] == "on") != ["hybrid", "hybrid"]:
        return False, "no packed hybrid runs in results.csv"
    if [r["durable"] for r in rows if r["target"] == "fs"] != ["1", "1"]:
        return False, "file-level runs not durable: %r" % [(r["spec"], r["durable"]) for r in rows]
    summary = open(os.path.join(out, "summary.md")).read()
    for needle in ("## Split vs packed ring", "| writeback/threads | packed | 1 | packed q1 |",
                   "### Durable", "| append (fsync each) | writeback/threads |",
                   "### fsync'd 4 KiB writes against raw write + FLUSH", "| writeback/threads | ",
                   "## Guest instructions per I/O", "| Quill, null-co | "):
        if needle not in summary:
            return False, "summary.md lacks %r" % needle
    return True, ""


def check_selftest(ctx):
    """The FAIL form of the BENCH line is parsed and judged a failure; then the runner's
    offline self-test (parser, QMP attribution, CSV, summary, plot on canned lines)."""
    recs = benchlib.parse_output(ctx.output)
    if len(recs) != 1 or not recs[0].get("fail") or not benchlib.check_bench(recs[0]):
        return False, "FAIL line parsed as %r" % recs
    r = subprocess.run([os.path.join(ctx.root, "tools", "quill-bench"), "--selftest"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return False, "quill-bench --selftest: %s" % " | ".join(r.stdout.strip().splitlines()[-5:])
    # --idle-poll is a matrix dimension on the kernel's side: each value reaches the
    # command line of its own boots (200, the kernel's default, adds nothing).
    r = subprocess.run([os.path.join(ctx.root, "tools", "quill-bench"), "--plan", "--repeat", "1",
                        "--backends", "null-co", "--iothread", "off", "--event-idx", "on", "--idle-poll", "0,200",
                        "--qd", "1", "--bs", "4k", "--ops", "randwrite", "--modes", "irq", "--packed", "off",
                        "--num-queues", "1", "--fs-backends", "", "--insn-backends", ""],
                       capture_output=True, text=True, timeout=60)
    boots = [l for l in r.stdout.splitlines() if l.startswith("rep ")]
    if r.returncode != 0 or len(boots) != 2 or "idle_poll_us=0'" not in boots[0] or "idle_poll_us" in boots[1]:
        return False, "quill-bench --plan --idle-poll 0,200: %r" % (boots or r.stderr.strip()[-300:])
    r = subprocess.run([os.path.join(ctx.root, "tools", "quill-bench"), "--plan", "--idle-poll", "100001"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0 or "--idle-poll" not in r.stderr:
        return False, "quill-bench accepted --idle-poll 100001"
    return True, ""


# Two fixed-count runs under the instruction-counting TCG plugin (tools/insncount.c).
INSN_RUNS = ["randwrite:4k:qd1:irq:500ios", "randwrite:4k:qd8:irq:2000ios"]


def insn_mark_address():
    """bench_insn_mark()'s address in build/kernel.elf ("0", which the plugin refuses, if none)."""
    try:
        out = subprocess.run(["nm", os.path.join(ROOT, "build", "kernel.elf")], capture_output=True,
                             text=True).stdout
    except OSError:
        return "0"
    for line in out.splitlines():
        w = line.split()
        if len(w) == 3 and w[2] == "bench_insn_mark":
            return "%#x" % int(w[0], 16)
    return "0"


class PluginArg:
    """-plugin's argument, made when the case boots (tests/run formats every QEMU argument
    then), so the marker address is that of the kernel being booted, even if it was rebuilt
    after the cases were loaded."""

    def format(self, **kw):
        return "%s,mark=%s" % (os.path.join(ROOT, "build", "tools", "insncount.so"), insn_mark_address())


def check_insns(ctx):
    """Two marks per BENCH line, the running count increasing at every mark, and a believable
    number of guest instructions per I/O for each run (behaviour, not speed)."""
    recs = benchlib.parse_output(ctx.output)
    if [r.get("name") for r in recs] != INSN_RUNS:
        return False, "BENCH lines for %r, want %r" % ([r.get("name") for r in recs], INSN_RUNS)
    for r in recs:
        probs = benchlib.check_bench(r, benchlib.spec_expectations(r["name"]))
        if probs:
            return False, "%s: %s" % (r["name"], "; ".join(probs))
    try:
        with open(os.path.join(ctx.tmp, "insn.log")) as f:
            text = f.read()
    except OSError as e:
        return False, "no plugin log: %s" % e
    marks, probs = benchlib.parse_insn_log(text)
    if probs:
        return False, "plugin log: %s" % "; ".join(probs)
    if len(marks) != 2 * len(recs):
        return False, "%d marks for %d BENCH lines, want 2 per line" % (len(marks), len(recs))
    if any(b <= a for a, b in zip(marks, marks[1:])):
        return False, "instruction counts do not increase: %r" % marks
    counts, probs = benchlib.insns_per_run(recs, text)
    if probs or None in counts:
        return False, "instruction counts: %s" % "; ".join(probs or ["missing"])
    for r, (insns, per_io) in zip(recs, counts):
        if not 20 < per_io < 1000000:
            return False, "%s: %.1f guest instructions per I/O (%d over %s I/Os)" % (r["name"], per_io, insns,
                                                                                       r["ios"])
    return True, ""


# Interrupt mode with the idle loop's polling off, at its default and at its longest.
IDLE_POLL_RUNS = ["randwrite:4k:qd1:irq:300ms", "randwrite:4k:qd8:irq:300ms"]


def check_idle_poll(ctx):
    """Idle polling only changes how the CPU waits: completions still come by interrupt
    (one per request at QD1, at least one per batch at depth), and every run is sane."""
    recs = {r.get("name"): r for r in benchlib.parse_output(ctx.output)}
    for spec in IDLE_POLL_RUNS:
        rec = recs.get(spec)
        if rec is None:
            return False, "no BENCH line for %s" % spec
        probs = benchlib.check_bench(rec, benchlib.spec_expectations(spec))
        if probs:
            return False, "%s: %s" % (spec, "; ".join(probs))
        irqs, batch = float(rec["irqs_per_io"]), float(rec["avg_batch"])
        low = 0.95 if rec["qd"] == "1" else 0.9 / max(batch, 1.0)
        if irqs < low:
            return False, "%s: %.3f interrupts per I/O (avg_batch %.1f): not interrupt-driven" % (
                spec, irqs, batch)
    return True, ""


def check_fill(ctx):
    """A fill run measures at the level it asked for, as df counts full (live blocks against
    live + available: quillfs's cleaning reserve left out), with a sane BENCH line, and leaves
    an image fsck.quillfs finds clean."""
    recs = benchlib.parse_output(ctx.output)
    if len(recs) != 1:
        return False, "%d BENCH lines, want 1" % len(recs)
    rec = recs[0]
    want = benchlib.spec_expectations(rec.get("name", ""))
    probs = benchlib.check_bench(rec, want)
    if probs:
        return False, "; ".join(probs)
    used = benchlib.number(rec, "used_pct")
    if used is None or not want["fill_pct"] <= used <= want["fill_pct"] + 5:
        return False, "asked for %d%% full, measured at %s%%" % (want["fill_pct"], rec.get("used_pct"))
    r = subprocess.run([os.path.join(ctx.build, "tools", "fsck.quillfs"), "-n", ctx.disks[0]],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return False, "fsck.quillfs -n: status %d: %s" % (r.returncode, (r.stdout + r.stderr).strip()[-300:])
    # The host's view of the same image: `quillfs df` counts full the same way.
    r = subprocess.run([os.path.join(ctx.build, "tools", "quillfs"), "df", ctx.disks[0]],
                       capture_output=True, text=True)
    m = re.search(r"^available to files: \d+ blocks \((\d+)% full", r.stdout, re.M)
    if r.returncode != 0 or not m or abs(int(m.group(1)) - used) > 1:
        return False, "quillfs df: status %d, %r; the guest measured %d%%" % (r.returncode, r.stdout[-300:], used)
    return True, ""


def check_fs_setup_untimed(ctx):
    """A file run's setup (creating its files) is outside the measured interval: the
    interval is no longer than the operations' own latencies added up (ios x max_us)."""
    recs = benchlib.parse_output(ctx.output)
    if len(recs) != 1:
        return False, "%d BENCH lines, want 1" % len(recs)
    r = recs[0]
    probs = benchlib.check_bench(r, benchlib.spec_expectations(r.get("name", "")))
    if probs:
        return False, "; ".join(probs)
    secs, ios, mx = float(r["secs"]), int(r["ios"]), float(r["max_us"])
    if secs * 1e6 > ios * mx * 1.05 + 2000:
        return False, "%.3f s measured for %d operations of at most %.0f us: setup was timed" % (secs, ios, mx)
    return True, ""


CASES = [
    dict(name="bench-tiny", cmdline="bench=" + ",".join(TINY), disks=[{"size": "64M"}],
         expect=[r"^BENCH name=randwrite:4k:qd4:300ms target=raw dev=vda op=randwrite bs=4096 qd=4 mode=irq ",
                 r"^quill: exit 0$"],
         check=check_runner, timeout=60),
    dict(name="bench-no-device", cmdline="bench=randwrite:4k:qd1:100ms", expect_exit=1,
         expect=[r"^BENCH name=randwrite:4k:qd1:100ms FAIL no device vda$", r"^quill: exit 1$"],
         check=check_selftest),
    dict(name="bench-insn-count", cmdline="idle_poll_us=0 bench=" + ",".join(INSN_RUNS),
         qemu=["-blockdev", "driver=null-co,node-name=d0,size=%d" % (1 << 30),
               "-device", "virtio-blk-pci,id=vblk0,drive=d0",
               "-plugin", PluginArg(), "-d", "plugin", "-D", "{tmp}/insn.log"],
         expect=[r"^BENCH name=randwrite:4k:qd1:irq:500ios target=raw ", r"^quill: exit 0$"],
         check=check_insns, timeout=60),
    *[dict(name="bench-idle-poll-%s" % v, cmdline="idle_poll_us=%s bench=%s" % (v, ",".join(IDLE_POLL_RUNS)),
           disks=[{"size": "64M"}], expect=[r"^quill: exit 0$"], check=check_idle_poll, timeout=60)
      for v in ("0", "200", "100000")],
    dict(name="cmdline-idle-poll-too-long", cmdline="idle_poll_us=100001", expect_exit=2,
         expect=[r"cmdline: bad value '100001' for key 'idle_poll_us'", r"^quill: exit 2$"]),
    dict(name="cmdline-idle-poll-not-number", cmdline="idle_poll_us=soon", expect_exit=2,
         expect=[r"cmdline: bad value 'soon' for key 'idle_poll_us'", r"^quill: exit 2$"]),
    *[dict(name="bench-fs-fill-%d" % pct, cmdline="bench=fs:fill:fill=%d:300ms" % pct,
           disks=[{"size": "64M"}], expect=[r"^quill: exit 0$"], reject=[r"takes no more"],
           check=check_fill, timeout=60)
      for pct in (50, 95)],
    # Queue depth is bounded by what the rings hold at once: a 64-entry ring holds 64
    # requests as indirect tables, 21 as three descriptors each; one more is refused.
    dict(name="bench-qd-ring-limit", cmdline="bench=randwrite:4k:qd64:100ms,randwrite:4k:qd65:100ms",
         raw_disks=True, disks=[{"size": "64M"}], expect_exit=1,
         qemu=["-drive", "if=none,id=d0,format=raw,file={disk0}", "-device", "virtio-blk-pci,drive=d0,queue-size=64"],
         expect=[r"^BENCH name=randwrite:4k:qd64:100ms target=raw .* qd=64 .* errors=0",
                 r"^bench randwrite:4k:qd65:100ms: qd 65 is more than vda's rings hold at once \(64 requests\)$",
                 r"^quill: exit 1$"]),
    dict(name="bench-qd-ring-limit-direct", cmdline="bench=randwrite:4k:qd21:100ms,randwrite:4k:qd22:100ms",
         raw_disks=True, disks=[{"size": "64M"}], expect_exit=1,
         qemu=["-drive", "if=none,id=d0,format=raw,file={disk0}",
               "-device", "virtio-blk-pci,drive=d0,queue-size=64,indirect_desc=off"],
         expect=[r"^BENCH name=randwrite:4k:qd21:100ms target=raw .* qd=21 .* errors=0",
                 r"^bench randwrite:4k:qd22:100ms: qd 22 is more than vda's rings hold at once \(21 requests\)$",
                 r"^quill: exit 1$"]),
    # The BENCH line says what ran: fewer I/Os than qd keep only that many in flight; a
    # device without a completion interrupt polls whatever the run asked; mixed runs name
    # their read share.
    dict(name="bench-says-what-ran", cmdline="blk.poll=1 bench=randwrite:4k:7ios:qd32,mixed30:100ios:qd2",
         disks=[{"size": "64M"}],
         expect=[r"^bench randwrite:4k:7ios:qd32: vda has no completion interrupt .* the run polls$",
                 r"^BENCH name=randwrite:4k:7ios:qd32 .* qd=7 mode=poll ios=7 ",
                 r"^BENCH name=mixed30:100ios:qd2 .* op=mixed .* qd=2 mode=poll ios=100 .* read_pct=30",
                 r"^quill: exit 0$"]),
    dict(name="bench-fs-setup-untimed", cmdline="bench=fs:smallfiles:files=2000:100ios", disks=[{"size": "64M"}],
         expect=[r"^quill: exit 0$"], check=check_fs_setup_untimed, timeout=120),
    # A refused run says why, before the command line's general message; keys a kind of run
    # would ignore are refused, not ignored.
    dict(name="bench-refused-with-reason", cmdline="bench=randwrite:0ios", expect_exit=2,
         expect=[r"^bench: bad token '0ios'$", r"^cmdline: bad value 'randwrite:0ios' for key 'bench'",
                 r"^quill: exit 2$"]),
    dict(name="bench-stray-key-refused", cmdline="bench=raw:randwrite:fsync=0", expect_exit=2,
         expect=[r"^bench: fsync=, files= and fill= are for file runs \(fs:\.\.\.\) in 'raw:randwrite:fsync=0'$",
                 r"^quill: exit 2$"]),
    dict(name="bench-bs-larger-than-disk", cmdline="bench=randwrite:32m:2ios", disks=[{"size": "16M"}],
         expect_exit=1,
         expect=[r"^bench randwrite:32m:2ios: block size 33554432 is larger than the 16777216 bytes used on vda$",
                 r"^quill: exit 1$"], reject=[r"^BENCH "]),
]
