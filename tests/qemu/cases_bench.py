"""QEMU tests of the benchmarks: the BENCH line's keys and sanity (never speed), and the
host side of `make bench` (tools/quill-bench and tools/benchlib.py)."""
import os
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
    recs = {r.get("name"): r for r in benchlib.parse_output(ctx.output)}
    for spec in TINY:
        if spec not in recs:
            return False, "no BENCH line for %s" % spec
        probs = benchlib.check_bench(recs[spec], benchlib.spec_expectations(spec))
        if probs:
            return False, "%s: %s" % (spec, "; ".join(probs))
    return True, ""


def check_runner(ctx):
    """tools/quill-bench end to end on one small configuration: a CSV row per run, every
    guest count agreeing with QEMU's, a summary and a plot (speed is not checked)."""
    ok, why = check_tiny(ctx)
    if not ok:
        return ok, why
    out = os.path.join(ctx.tmp, "bench")
    try:
        r = subprocess.run([os.path.join(ctx.root, "tools", "quill-bench"), "--out", out, "--repeat", "1",
                            "--backends", "writeback", "--iothread", "off", "--event-idx", "on",
                            "--qd", "1,4", "--bs", "4k", "--ops", "randwrite,randread", "--modes", "irq",
                            "--time", "300ms"], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False, "quill-bench took more than 300 s"
    tail = " | ".join((r.stdout + r.stderr).strip().splitlines()[-6:])
    if r.returncode != 0:
        return False, "quill-bench exit status %d: %s" % (r.returncode, tail)
    for f in ("results.csv", "summary.md", "iops.svg"):
        if not os.path.exists(os.path.join(out, f)):
            return False, "quill-bench wrote no %s" % f
    rows = benchlib.read_csv(os.path.join(out, "results.csv"))
    if len(rows) != 4:
        return False, "results.csv has %d rows, want 4" % len(rows)
    for row in rows:
        if row["status"] != "ok" or row["agree"] != "yes" or row["qemu_exact"] != "yes":
            return False, "%s: status %r, guest %s vs QEMU %s" % (row["spec"], row["status"], row["ios"],
                                                                  row["qemu_reqs"])
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
    return True, ""


CASES = [
    dict(name="bench-tiny", cmdline="bench=" + ",".join(TINY), disks=[{"size": "64M"}],
         expect=[r"^BENCH name=randwrite:4k:qd4:300ms target=raw dev=vda op=randwrite bs=4096 qd=4 mode=irq ",
                 r"^quill: exit 0$"],
         check=check_runner, timeout=60),
    dict(name="bench-no-device", cmdline="bench=randwrite:4k:qd1:100ms", expect_exit=1,
         expect=[r"^BENCH name=randwrite:4k:qd1:100ms FAIL no device vda$", r"^quill: exit 1$"],
         check=check_selftest),
]
