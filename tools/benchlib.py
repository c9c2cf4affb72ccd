"""Pieces of the benchmark runner (tools/quill-bench) that tests reuse.

  BENCH lines   parse_bench(), check_bench(): the kernel's one line per run
  QEMU side     Config (one QEMU configuration -> its arguments), Qmp (a small
                QMP client), blockstats(), attribute_requests() (QEMU's
                completed-request counts turned into per-run figures)
  instructions  parse_insn_log(), insns_per_run(): guest instructions per I/O
                from tools/insncount.so's marks (QEMU TCG plugin)
  outputs       write_csv(), write_summary(), write_plot()

Python 3 standard library only; the plot needs gnuplot.
"""
import csv
import json
import math
import os
import re
import socket
import stat
import statistics
import subprocess
import time
from dataclasses import dataclass

# Keys every BENCH line carries (README, Benchmark runs), and those that are numbers.
REQUIRED = ("name", "target", "dev", "op", "bs", "qd", "mode", "ios", "secs", "iops", "mibps",
            "p50_us", "p99_us", "p999_us", "max_us", "kicks_per_io", "irqs_per_io", "avg_batch",
            "busy_ns_per_io", "errors")
NUMERIC = ("bs", "qd", "ios", "secs", "iops", "mibps", "p50_us", "p99_us", "p999_us", "max_us",
           "kicks_per_io", "irqs_per_io", "avg_batch", "busy_ns_per_io", "errors")
# File-level runs (target=fs) add these (kernel/jobs/bench_fs.c); fill runs add FILL_KEYS.
FS_REQUIRED = ("dev_ios", "dev_bytes", "wa", "durable", "wce", "fsync_every", "files")
FILL_KEYS = ("fill_pct", "used_pct", "cleaned_segs")
FS_OPS = ("smallfiles", "append", "create", "fill")
AGREE_TOLERANCE = 0.02  # guest and QEMU counts further apart than this are flagged


# ---------------------------------------------------------------- BENCH lines

def parse_bench(line):
    """One console line -> dict of its key=value words (strings), or None if no BENCH line.

    "BENCH name=X FAIL reason" gives {"name": "X", "fail": "reason"}. A word that is not
    key=value continues the previous value ("first_error=device failure").
    """
    line = line.strip()
    if not line.startswith("BENCH "):
        return None
    rec, last = {}, None
    words = line.split()[1:]
    for i, word in enumerate(words):
        k, eq, v = word.partition("=")
        if word == "FAIL" and list(rec) == ["name"]:
            rec["fail"] = " ".join(words[i + 1:])
            break
        if eq and k.replace("_", "").isalnum():
            rec[k], last = v, k
        elif last:
            rec[last] += " " + word
    return rec


def parse_output(text):
    """Every BENCH line in a console transcript, in order."""
    return [r for r in (parse_bench(l) for l in text.splitlines()) if r is not None]


def number(rec, key):
    try:
        return float(rec[key])
    except (KeyError, ValueError):
        return None


def parse_duration_ms(s):
    """'2s' / '500ms' -> milliseconds, else None."""
    for suffix, scale in (("ms", 1), ("s", 1000)):
        if s.endswith(suffix) and s[:-len(suffix)].isdigit():
            return int(s[:-len(suffix)]) * scale
    return None


def parse_size(s):
    """'4k' / '64k' / '4096' / '1m' -> bytes, else None."""
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(s[-1:].lower(), 1)
    digits = s[:-1] if scale > 1 else s
    return int(digits) * scale if digits.isdigit() else None


def spec_expectations(spec):
    """What one run in bench= syntax asks for: {op, mode, bs, qd, and time_ms or ios},
    with the kernel's defaults (kernel/jobs/bench_spec.c: randwrite, irq, 4k, qd1, 2s); a
    file-level run (fs:...) adds target "fs", fsync_every (default 1) and fill_pct."""
    want = {"op": "randwrite", "mode": "irq", "bs": 4096, "qd": 1, "time_ms": 2000}
    fs = {}
    for tok in spec.split(":"):
        k, eq, v = tok.partition("=")
        if eq and k in ("fsync", "fill", "files") and v.isdigit():
            fs[{"fsync": "fsync_every", "fill": "fill_pct", "files": "files"}[k]] = int(v)
        if eq:
            tok = {"bs": v, "qd": "qd" + v, "time": v, "ios": v + "ios", "mode": v}.get(k, "")
        if tok == "fs" and "op" not in fs:
            fs["op"] = "smallfiles"
        if tok in FS_OPS:
            fs["op"] = tok
        elif tok in ("randwrite", "seqwrite", "randread", "seqread", "flushwrite"):
            want["op"] = tok
        elif tok.startswith("mixed"):
            want["op"] = "mixed"
        elif tok in ("irq", "poll", "hybrid"):
            want["mode"] = tok
        elif tok.startswith("qd") and tok[2:].isdigit():
            want["qd"] = int(tok[2:])
        elif tok.endswith("ios") and tok[:-3].isdigit():
            want["ios"] = int(tok[:-3])
            want.pop("time_ms", None)
        elif parse_duration_ms(tok) is not None:
            want["time_ms"] = parse_duration_ms(tok)
            want.pop("ios", None)
        elif parse_size(tok) is not None:
            want["bs"] = parse_size(tok)
    if fs:
        want.update(target="fs", op=fs.pop("op", "smallfiles"), fsync_every=1)
        want.update(fs)
        if want["op"] == "fill":
            want.setdefault("fill_pct", 50)
    if "ios" in want and want["ios"] < want["qd"]:
        want["qd"] = want["ios"]  # the kernel keeps only that many in flight, and says so
    return want


def check_runs(text, specs):
    """(ok, why): every run in specs printed one sane BENCH line in text (check_bench)."""
    recs = {r.get("name"): r for r in parse_output(text)}
    for spec in specs:
        if spec not in recs:
            return False, "no BENCH line for %s" % spec
        probs = check_bench(recs[spec], spec_expectations(spec))
        if probs:
            return False, "%s: %s" % (spec, "; ".join(probs))
    return True, ""


def is_fs(row):
    """A file-level run (target=fs), from its BENCH line or, failing that, its spec."""
    if row.get("target"):
        return row["target"] == "fs"
    return spec_expectations(row.get("spec") or row.get("name") or "").get("target") == "fs"


def expect_durable(want):
    """Whether the kernel calls a file-level run durable: every acknowledged write covered by
    a completed FLUSH (an fsync after each: append always, others with fsync=1)."""
    return want.get("op") == "append" or want.get("fsync_every", 1) == 1


def check_bench(rec, want=None):
    """Problems with one parsed BENCH line (empty list: sane). Never judges speed.

    want: what the run asked for (spec_expectations()); checks that the line
    reports that run, that ios matches the queue depth and the duration or
    count, and that the figures agree with each other.
    """
    if rec.get("fail"):
        return ["BENCH %s FAIL %s" % (rec.get("name"), rec["fail"])]
    probs = ["missing key %s" % k for k in REQUIRED if k not in rec]
    bad = [k for k in NUMERIC if k in rec and (number(rec, k) is None or number(rec, k) < 0)]
    probs += ["%s=%s is not a number >= 0" % (k, rec[k]) for k in bad]
    if probs:
        return probs
    n = {k: number(rec, k) for k in NUMERIC}
    if n["errors"] > 0:  # the rest would only restate it
        return ["errors=%d (%s)" % (n["errors"], rec.get("first_error", "?"))]
    if n["ios"] <= 0 or n["iops"] <= 0 or n["secs"] <= 0:
        probs.append("nothing measured: ios=%s secs=%s iops=%s" % (rec["ios"], rec["secs"], rec["iops"]))
        return probs
    if not n["p50_us"] <= n["p99_us"] <= n["p999_us"] <= n["max_us"]:
        probs.append("percentiles out of order: p50 %s p99 %s p99.9 %s max %s"
                     % (rec["p50_us"], rec["p99_us"], rec["p999_us"], rec["max_us"]))
    # secs is printed with two decimals: up to 0.005 s off, which is iops x 0.005 I/Os
    # (a run of 5 ms shows as 0.01 s), plus 0.1%.
    slack = n["iops"] * 0.005 + n["ios"] * 0.001 + 1
    if abs(n["iops"] * n["secs"] - n["ios"]) > slack:
        probs.append("iops %s x secs %s != ios %s" % (rec["iops"], rec["secs"], rec["ios"]))
    mib = n["iops"] * n["bs"] / (1 << 20)
    if abs(mib - n["mibps"]) > 0.01 * mib + 0.02:
        probs.append("mibps %s != iops x bs (%.2f)" % (rec["mibps"], mib))
    want = want or {}
    if rec.get("target") == "fs" or want.get("target") == "fs":
        probs += _check_fs(rec, n, want)
    for k in ("op", "mode"):
        if k in want and rec[k] != want[k]:
            probs.append("%s=%s, asked for %s" % (k, rec[k], want[k]))
    for k in ("bs", "qd"):
        if k in want and n[k] != want[k]:
            probs.append("%s=%s, asked for %s" % (k, rec[k], want[k]))
    qd = want.get("qd", n["qd"])
    if "ios" in want:
        if n["ios"] != want["ios"]:
            probs.append("ios=%s, asked for %d" % (rec["ios"], want["ios"]))
    elif "time_ms" in want:
        t = want["time_ms"] / 1000.0
        if n["ios"] < qd:
            probs.append("ios=%s fewer than qd=%d: not every slot completed once" % (rec["ios"], qd))
        # The run stops issuing at its deadline and drains what is in flight, which
        # takes at most the slowest request (plus slack for a host that is busy).
        if n["secs"] < t - 0.01:
            probs.append("secs=%s shorter than the %g s asked for" % (rec["secs"], t))
        if n["secs"] > t + n["max_us"] / 1e6 + max(0.25, t / 10):
            probs.append("secs=%s overran the %g s asked for by more than the slowest request"
                         % (rec["secs"], t))
    return probs


def _check_fs(rec, n, want):
    """The file-level keys of a BENCH line: present, numbers, consistent with the run."""
    keys = FS_REQUIRED + (FILL_KEYS if rec.get("op") == "fill" or want.get("op") == "fill" else ())
    probs = ["missing key %s" % k for k in keys if k not in rec]
    probs += ["%s=%s is not a number >= 0" % (k, rec[k]) for k in keys
              if k in rec and (number(rec, k) is None or number(rec, k) < 0)]
    if probs:
        return probs
    if want.get("target") == "fs" and rec.get("target") != "fs":
        probs.append("target=%s, asked for fs" % rec.get("target"))
    if number(rec, "dev_ios") <= 0:
        probs.append("dev_ios=0: the file operations reached no device")
    if rec.get("durable") not in ("0", "1"):
        probs.append("durable=%s is neither 0 nor 1" % rec["durable"])
    elif want.get("target") == "fs" and rec["durable"] != ("1" if expect_durable(want) else "0"):
        probs.append("durable=%s for a run that %s fsync after every write" % (
            rec["durable"], "does" if expect_durable(want) else "does not"))
    if "fsync_every" in want and want.get("op") != "append" and number(rec, "fsync_every") != want["fsync_every"]:
        probs.append("fsync_every=%s, asked for %d" % (rec["fsync_every"], want["fsync_every"]))
    if "fill_pct" in want and number(rec, "fill_pct") != want["fill_pct"]:
        probs.append("fill_pct=%s, asked for %d" % (rec["fill_pct"], want["fill_pct"]))
    # wa is device bytes written per file byte written, to two decimals.
    file_bytes = n["ios"] * n["bs"]
    if file_bytes > 0 and abs(number(rec, "wa") - number(rec, "dev_bytes") / file_bytes) > 0.011:
        probs.append("wa=%s != dev_bytes / (ios x bs) (%.2f)" % (rec["wa"], number(rec, "dev_bytes") / file_bytes))
    return probs


# ---------------------------------------------------------------- QEMU side

# The kernel's idle_poll_us when the command line leaves it out (kernel/event.c
# IDLE_POLL_US_DEFAULT): configurations at this value add nothing to the command line.
IDLE_POLL_DEFAULT_US = 200


def qemu_opt(value):
    """A value inside a QEMU option list (-drive file=..., -plugin PATH,...): QEMU splits
    those at commas and reads ",," as one comma."""
    return str(value).replace(",", ",,")


def disk_problem(path):
    """Why PATH cannot be a guest's disk (None if it can): it must be a regular file or a
    block device that can be read and written (quill-run --disk, make run DISK=)."""
    try:
        st = os.stat(path)
    except OSError as e:
        return "%s: %s" % (path, e.strerror)
    if stat.S_ISDIR(st.st_mode):
        return "%s is a directory; give a disk image file or a block device" % path
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return "%s is neither a regular file nor a block device" % path
    if not os.access(path, os.R_OK | os.W_OK):
        return "%s cannot be read and written" % path
    return None


@dataclass
class Config:
    """One QEMU configuration of the benchmark disk (every field is a CSV column)."""
    backend: str = "file"     # file | null-co
    cache: str = "writeback"  # file only: none | writeback | ...
    aio: str = "threads"      # file only: threads | native | io_uring
    iothread: bool = False
    event_idx: bool = True
    queue_size: int = 256     # QEMU's default
    indirect: bool = True     # QEMU's default (indirect_desc); the guest decides whether to use it
    packed: bool = False
    num_queues: int = 1       # QEMU's default is one per vCPU; one vCPU here
    accel: str = "tcg"
    machine: str = "pc"
    idle_poll_us: int = IDLE_POLL_DEFAULT_US  # the guest's: kernel command line idle_poll_us

    @property
    def name(self):
        n = "null-co" if self.backend == "null-co" else "%s/%s" % (self.cache, self.aio)
        if self.iothread:
            n += " +iothread"
        if not self.event_idx:
            n += " -event_idx"
        if self.queue_size != 256:
            n += " qs%d" % self.queue_size
        if self.packed:
            n += " packed"
        if self.num_queues != 1:
            n += " q%d" % self.num_queues
        if self.idle_poll_us != IDLE_POLL_DEFAULT_US:
            n += " idle_poll_us=%d" % self.idle_poll_us
        return n

    def kernel_args(self):
        """Words this configuration adds to the kernel's command line."""
        return "" if self.idle_poll_us == IDLE_POLL_DEFAULT_US else " idle_poll_us=%d" % self.idle_poll_us

    @property
    def family(self):
        """The name without the ring and queue settings: what packed and MQ variants share."""
        return Config(**dict(self.__dict__, packed=False, num_queues=1)).name

    @property
    def stores_data(self):
        return self.backend != "null-co"

    def qemu_args(self, image):
        """Arguments after quill-run's `--`: the disk as -device virtio-blk-pci,id=vblk0."""
        args = []
        if self.machine != "pc":
            args += ["-machine", self.machine]
        if self.backend == "null-co":
            args += ["-blockdev", "driver=null-co,node-name=d0,size=%d" % (1 << 30)]
        else:
            args += ["-drive", "if=none,id=d0,format=raw,file=%s,cache=%s,aio=%s"
                     % (qemu_opt(image), self.cache, self.aio)]
        dev = "virtio-blk-pci,id=vblk0,drive=d0"
        if self.iothread:
            args += ["-object", "iothread,id=io0"]
            dev += ",iothread=io0"
        if not self.event_idx:
            dev += ",event_idx=off"
        if not self.indirect:
            dev += ",indirect_desc=off"
        if self.queue_size != 256:
            dev += ",queue-size=%d" % self.queue_size
        if self.packed:
            dev += ",packed=on"
        if self.num_queues != 1:
            dev += ",num-queues=%d" % self.num_queues
        return args + ["-device", dev]

    def columns(self):
        onoff = lambda b: "on" if b else "off"
        return {"config": self.name, "accel": self.accel, "machine": self.machine,
                "backend": self.backend, "cache": self.cache if self.stores_data else "",
                "aio": self.aio if self.stores_data else "", "iothread": onoff(self.iothread),
                "queue_size": self.queue_size, "event_idx": onoff(self.event_idx),
                "indirect": onoff(self.indirect), "packed": onoff(self.packed),
                "num_queues": self.num_queues, "idle_poll_us": self.idle_poll_us}


def config_from_row(row):
    """The Config a results.csv row was measured with."""
    on = lambda k: row.get(k) == "on"
    return Config(backend=row["backend"], cache=row["cache"], aio=row["aio"], iothread=on("iothread"),
                  event_idx=on("event_idx"), queue_size=int(row["queue_size"]), indirect=on("indirect"),
                  packed=on("packed"), num_queues=int(row["num_queues"]), accel=row["accel"],
                  machine=row["machine"], idle_poll_us=int(row.get("idle_poll_us") or IDLE_POLL_DEFAULT_US))
    # (A results.csv from before idle polling has no such column; its configuration
    # names carry no idle_poll_us either, so the default keeps them matching.)


class QmpError(Exception):
    pass


class Qmp:
    """Just enough of QMP: connect (waiting for the socket), negotiate, run commands."""

    def __init__(self, path, wait=30.0, alive=lambda: True):
        deadline = time.monotonic() + wait
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                break
            except OSError as e:
                s.close()
                if time.monotonic() > deadline or not alive():
                    raise QmpError("cannot connect to QMP at %s: %s" % (path, e))
                time.sleep(0.05)
        s.settimeout(10)
        self.sock, self.f = s, s.makefile("rw", encoding="utf-8")
        try:
            greeting = self._read()
        except (OSError, ValueError) as e:
            self.close()
            raise QmpError("no QMP greeting: %s" % e)
        if "QMP" not in greeting:
            self.close()
            raise QmpError("no QMP greeting")
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        if not line:
            raise QmpError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        try:
            self.f.write(json.dumps(msg) + "\n")
            self.f.flush()
            while True:
                r = self._read()  # skip asynchronous events
                if "return" in r:
                    return r["return"]
                if "error" in r:
                    raise QmpError("%s: %s" % (name, r["error"].get("desc", r["error"])))
        except (OSError, ValueError) as e:
            raise QmpError("%s: %s" % (name, e))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def blockstats(qmp, dev_id="vblk0"):
    """QEMU's completed-request counters for the device with this id."""
    for e in qmp.cmd("query-blockstats"):
        qdev = e.get("qdev", "")
        if qdev == dev_id or "/%s/" % dev_id in qdev:
            st = e["stats"]
            return {k: st.get(k, 0) for k in ("rd_operations", "wr_operations", "flush_operations",
                                              "failed_rd_operations", "failed_wr_operations")}
    raise QmpError("query-blockstats lists no device %s" % dev_id)


def op_counters(op):
    """Which of QEMU's counters a guest operation shows up in."""
    if op in ("randread", "seqread"):
        return ("rd_operations",)
    if op in ("randwrite", "seqwrite", "flushwrite"):
        return ("wr_operations",)
    if op in FS_OPS:  # reads, writes and the FLUSHes of fsync: dev_ios counts all three
        return ("rd_operations", "wr_operations", "flush_operations")
    return ("rd_operations", "wr_operations")


def attribute_requests(ops, start, after):
    """QEMU's count of requests for each run of one boot.

    ops[k]: run k's operation; start: counters before the guest ran (QEMU
    started with -S); after[k]: counters read when run k's BENCH line came out
    (None if that query failed). The kernel prints the line once all of run k
    completed, then starts run k+1 at once, so after[k] may hold a few of run
    k+1's requests. Run k's count is therefore taken between two readings
    during which only runs touching other counters were going: the reading
    before (after[j], j <= k-2, with runs j+1..k-1 on other counters, or
    `start`) and after[k] (run k+1 on other counters). Alternating reads and
    writes makes every count exact; where that is impossible the count is
    marked approximate. Returns [(count or None, exact)].
    """
    out = []
    for k, op in enumerate(ops):
        keys = op_counters(op)
        touches = lambda i: any(c in keys for c in op_counters(ops[i]))
        if after[k] is None:
            out.append((None, False))
            continue
        base, exact = None, True
        for j in range(k - 2, -2, -1):
            if touches(j + 1):
                break
            if j == -1 or after[j] is not None:
                base = start if j == -1 else after[j]
                break
        if base is None:  # fall back to the previous reading
            base = start if k == 0 else after[k - 1]
            exact = k == 0
            if base is None:
                out.append((None, False))
                continue
        if k + 1 < len(ops) and touches(k + 1):
            exact = False
        out.append((sum(after[k][c] - base[c] for c in keys), exact))
    return out


def agreement(guest_ios, qemu_reqs, at_least=False):
    """'yes', 'NO' (more than AGREE_TOLERANCE apart) or '' (no QEMU count).

    at_least: QEMU's count may exceed the guest's by any amount (a file-level run: between
    two readings QEMU also serves the mount, the setup and the fill, which dev_ios leaves
    out), but may not fall short of it."""
    if qemu_reqs is None or qemu_reqs == "" or guest_ios is None or guest_ios == "":
        return ""
    g, q = float(guest_ios), float(qemu_reqs)
    if at_least:
        return "yes" if q >= g - AGREE_TOLERANCE * max(g, 1.0) else "NO"
    return "yes" if abs(g - q) <= AGREE_TOLERANCE * max(g, 1.0) else "NO"


def guest_requests(row):
    """The guest's count to hold against QEMU's: device requests (dev_ios) for a file-level
    run, I/Os for a raw one."""
    return row.get("dev_ios") if is_fs(row) else row.get("ios")


# ---------------------------------------------------------------- guest instructions

# tools/insncount.c prints one line per bench_insn_mark() call (QEMU's -d plugin log).
INSN_MARK = re.compile(r"^insncount mark (\d+) insns (\d+)\s*$")
# What a figure must lie between to be believed: behaviour, not speed (a run's loop,
# its interrupt and its completion take more than 20 instructions per I/O; a million
# means the marks bracket something else).
INSN_SANE = (20, 1000000)
# Reference guests counted on this machine kind (QEMU 7.2, TCG, a plugin like insncount,
# two boots of N and 2N 4 KiB random writes, the difference over N): (guest, QD1, QD32).
INSN_REFERENCE = (("a bare interrupt-driven guest (no OS, 3 descriptors, INTx)", 202, 94),
                  ("Linux's virtio_ring + virtio_blk + virtio_pci alone", 931, 885),
                  ("Linux 6.1 + fio (io_uring), whole guest", 20554, 13110))


def parse_insn_log(text):
    """The running instruction totals at marks 0, 1, 2, ... from tools/insncount.so's log,
    and the problems with them: marks numbered out of order, totals not increasing."""
    marks, probs = [], []
    for line in text.splitlines():
        m = INSN_MARK.match(line.strip())
        if not m:
            continue
        n, total = int(m.group(1)), int(m.group(2))
        if n != len(marks):
            probs.append("mark %d where mark %d was due" % (n, len(marks)))
            break
        if marks and total <= marks[-1]:
            probs.append("mark %d: %d instructions, not more than mark %d's %d" % (n, total, n - 1, marks[-1]))
            break
        marks.append(total)
    return marks, probs


def insns_per_run(recs, text):
    """Guest instructions of each BENCH line in recs (a boot's, in order) from the plugin's
    log: the kernel marks a run's start and end (bench_insn_mark(): kernel/jobs/bench.c, and the
    timed part of a file-level run in kernel/jobs/bench_fs.c), so marks 2k and 2k+1 bracket the
    k-th BENCH line that is not a FAIL. Returns a list
    aligned with recs of (instructions, instructions per I/O) or None, and the problems;
    when the marks do not pair up with the lines, no figure at all (never a guess)."""
    out = [None] * len(recs)
    marks, probs = parse_insn_log(text)
    # File-level runs mark their timed part too (kernel/jobs/bench_fs.c): one operation = one I/O.
    raw = [i for i, r in enumerate(recs) if not r.get("fail")]
    if probs:
        return out, probs
    if len(marks) != 2 * len(raw):
        return out, ["%d instruction marks for %d BENCH lines (want 2 per line)" % (len(marks), len(raw))]
    for k, i in enumerate(raw):
        insns = marks[2 * k + 1] - marks[2 * k]
        ios = number(recs[i], "ios")
        if not ios or ios <= 0:
            probs.append("%s: no I/Os to divide %d instructions by" % (recs[i].get("name"), insns))
            continue
        per = insns / ios
        if not INSN_SANE[0] < per < INSN_SANE[1]:
            probs.append("%s: %.1f instructions per I/O, outside %d-%d" % (recs[i].get("name"), per, *INSN_SANE))
        out[i] = (insns, per)
    return out, probs


def insn_rows(rows):
    """The rows of instruction-counting boots (the plugin slows TCG: their IOPS are not
    comparable), and the rest."""
    return [r for r in rows if r.get("plugin")], [r for r in rows if not r.get("plugin")]


def _thousands(v):
    return "-" if v is None else "{:,.0f}".format(v)


def insn_section(rows, note=None):
    """summary.md's instructions-per-I/O table: Quill's randwrite 4k irq at QD1 and QD32 per
    configuration of the plugin boots, then the reference guests' figures (INSN_REFERENCE);
    then the fsync'd 4 KiB file write's instructions per operation."""
    if not rows and not note:
        return []
    L = ["", "## Guest instructions per I/O (TCG plugin, whole guest incl. idle loop)", "",
         "Guest instructions between the kernel's marks at a run's start and end "
         "(`bench_insn_mark()`, counted by `tools/insncount.so` under TCG), divided by the run's "
         "I/Os: randwrite 4k in irq mode, a fixed number of I/Os, in a boot of its own (the "
         "plugin slows TCG, so these boots' IOPS are left out of every other table). Unlike "
         "IOPS the figure hardly moves between runs; it includes the idle loop (one `hlt` per "
         "sleep) and the interrupts.", ""]
    if note:
        L += ["%s." % (note[0].upper() + note[1:] if note.startswith("not ") else "Counted: " + note).rstrip("."),
              ""]
    pts = {}
    for r in rows:
        if r.get("op") == "randwrite" and str(r.get("bs")) == "4096" and r.get("mode") == "irq":
            pts.setdefault(r["config"], {}).setdefault(int(float(r["qd"])), []).append(r)

    def cell(rs):
        vals = [v for v in (_f(r, "insns_per_io") for r in rs) if v is not None]
        if not vals:
            return "- **no count**" if rs else "-"
        return _thousands(statistics.median(vals)) + ("" if all(_ok(r) for r in rs) else " **check!**")

    L += ["| guest | QD1 | QD32 |", "|---|---:|---:|"]
    for cfg, by_qd in pts.items():
        L.append("| Quill, %s | %s | %s |" % (cfg, cell(by_qd.get(1, [])), cell(by_qd.get(32, []))))
    L += ["| *reference guests (same machine kind, two boots of N and 2N writes):* | | |"]
    for guest, qd1, qd32 in INSN_REFERENCE:
        L.append("| %s | %s | %s |" % (guest, _thousands(qd1), _thousands(qd32)))
    fsync = {}
    for r in rows:
        if is_fs(r) and r.get("op") == "smallfiles" and str(r.get("fsync_every")) == "1":
            fsync.setdefault(r["config"], []).append(r)
    if fsync:
        L += ["", "A fsync'd 4 KiB overwrite (fs:smallfiles fsync=1: qfs_write, qfs_fsync, the "
              "device's write and FLUSH, their interrupts, the benchmark loop), per operation:", "",
              "| guest | instructions per fsync'd 4 KiB write | write amplification |", "|---|---:|---:|"]
        for cfg, rs in fsync.items():
            L.append("| Quill, %s | %s | %s |" % (cfg, cell(rs), _fmt(_median(rs, "wa"))))
    return L


# ---------------------------------------------------------------- outputs

CONFIG_COLUMNS = ("config", "accel", "machine", "backend", "cache", "aio", "iothread", "queue_size",
                  "event_idx", "indirect", "packed", "num_queues", "idle_poll_us")
RESULT_COLUMNS = ("ios", "secs", "iops", "mibps", "p50_us", "p99_us", "p999_us", "max_us",
                  "kicks_per_io", "irqs_per_io", "avg_batch", "busy_ns_per_io", "errors", "first_error")
RESULT_COLUMNS += FS_REQUIRED + FILL_KEYS
CSV_COLUMNS = (("boot", "repeat") + CONFIG_COLUMNS + ("guest_ring", "guest_queues", "spec",
                                                      "target", "dev", "op", "bs", "qd", "mode")
               + RESULT_COLUMNS + ("qemu_reqs", "qemu_exact", "agree", "plugin", "insns", "insns_per_io",
                                   "status", "qemu_cmdline"))


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in CSV_COLUMNS})


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _ok(r):
    return r.get("status") == "ok"


def _f(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError, TypeError):
        return None


def group_points(rows):
    """{(op, bs, mode): {config: {qd: [rows]}}} of the raw runs that produced figures, in first-seen order."""
    pts = {}
    for r in rows:
        if _f(r, "iops") is None or is_fs(r):
            continue
        key = (r["op"], int(float(r["bs"])), r["mode"])
        pts.setdefault(key, {}).setdefault(r["config"], {}).setdefault(int(float(r["qd"])), []).append(r)
    return pts


def _measured(rows):
    """The rows whose figures count: runs without I/O errors (a failed run's iops say nothing)."""
    return [r for r in rows if _f(r, "errors") == 0 and _f(r, "iops") is not None]


def _median(rows, k):
    vals = [v for v in (_f(r, k) for r in _measured(rows)) if v is not None]
    return statistics.median(vals) if vals else None


def _fmt(v):
    if v is None:
        return "-"
    if v >= 100000:
        return "%.0fk" % (v / 1000)
    if v >= 10000:
        return "%.1fk" % (v / 1000)
    if v >= 100:
        return "%.0f" % v
    return "%.2f" % v


def _cell(rows, k="iops"):
    vals = [v for v in (_f(r, k) for r in _measured(rows)) if v is not None]
    cell = "%s (%s-%s)" % (_fmt(statistics.median(vals)), _fmt(min(vals)), _fmt(max(vals))) if vals else "-"
    flags = ""
    if any(r.get("agree") == "NO" for r in rows):
        flags += " **count!**"
    if any(not _ok(r) for r in rows):
        flags += " **errors**" if any(_f(r, "errors") != 0 for r in rows) else " **check!**"
    return cell + flags


def _bs(bs):
    return "%dk" % (bs // 1024) if bs % 1024 == 0 else str(bs)


def _backend(r):
    return "null-co" if r["backend"] == "null-co" else "%s/%s" % (r["cache"], r["aio"])


# What one setting is worth: (label, how a row shows it, from, to).
EFFECTS = (("iothread off -> on", lambda r: r["iothread"], "off", "on"),
           ("event_idx on -> off", lambda r: r["event_idx"], "on", "off"),
           ("irq -> poll mode", lambda r: r["mode"], "irq", "poll"),
           ("irq -> hybrid mode", lambda r: r["mode"], "irq", "hybrid"),
           ("split -> packed ring", lambda r: r["packed"], "off", "on"),
           ("1 -> 4 queues", lambda r: str(r["num_queues"]), "1", "4"),
           ("idle_poll_us 0 -> %d" % IDLE_POLL_DEFAULT_US, lambda r: str(r.get("idle_poll_us") or ""), "0",
            str(IDLE_POLL_DEFAULT_US)),
           ("writeback/threads -> none/native", _backend, "writeback/threads", "none/native"),
           ("writeback/threads -> null-co", _backend, "writeback/threads", "null-co"))
POINT_FIELDS = ("backend", "cache", "aio", "iothread", "event_idx", "queue_size", "indirect", "packed",
                "num_queues", "idle_poll_us", "accel", "machine", "op", "bs", "mode", "qd")


def effects_table(rows, qds):
    """Median IOPS ratio when one setting changes and everything else stays, as the
    geometric mean over every pair of points that differ only there (4k randwrite/randread)."""
    med = {}
    for r in rows:
        if _f(r, "iops") and r.get("bs") in ("4096", 4096) and not is_fs(r):
            med.setdefault(tuple(str(r.get(k, "")) for k in POINT_FIELDS), []).append(_f(r, "iops"))
    med = {k: statistics.median(v) for k, v in med.items()}
    show = [q for q in (1, 32, 128) if q in qds]
    out = []
    for label, get, frm, to in EFFECTS:
        cells, any_pair = [], False
        for q in show:
            logs = []
            for key, v in med.items():
                r = dict(zip(POINT_FIELDS, key))
                if r["qd"] != str(q) or get(r) != frm:
                    continue
                for key2, v2 in med.items():
                    r2 = dict(zip(POINT_FIELDS, key2))
                    if get(r2) != to:
                        continue
                    same = [k for k in POINT_FIELDS if r[k] != r2[k]]
                    if all(get(dict(r, **{k: r2[k]})) != get(r) for k in same):
                        logs.append(math.log(v2 / v))
            any_pair |= bool(logs)
            cells.append("x%.2f (%d)" % (math.exp(sum(logs) / len(logs)), len(logs)) if logs else "-")
        if any_pair:
            out.append("| %s | %s |" % (label, " | ".join(cells)))
    if not out:
        return []
    return (["", "## What each setting is worth (4 KiB, median IOPS ratio)", "",
             "Geometric mean of the ratio over every pair of points that differ only in that "
             "setting (number of pairs in brackets); above x1 the change is faster.", "",
             "| change | " + " | ".join("QD%d" % q for q in show) + " |", "|---|" + "---:|" * len(show)]
            + out)


def _io_correct(r):
    """The run finished, with no I/O errors, and QEMU saw as many requests as the guest counted
    (a BENCH line failing a sanity check, say a wrong MiB/s, is reported but does not count)."""
    return _f(r, "iops") is not None and _f(r, "errors") == 0 and r.get("agree") != "NO"


def correct_configs(rows):
    """Configurations whose every raw run is _io_correct() (file-level runs are judged apart)."""
    rows = [r for r in rows if not is_fs(r)]
    bad = {r["config"] for r in rows if not _io_correct(r)}
    return [c for c in dict.fromkeys(r["config"] for r in rows) if c not in bad]


def write_summary(path, rows, meta, configs):
    """Medians and min-max per point, configurations side by side, then the guest's cost,
    the fastest configuration per depth and the host cross-check; guest instructions per I/O
    from the plugin boots (meta["instruction counts"] says how they went)."""
    insns, rows = insn_rows(rows)
    pts = group_points(rows)
    qds = sorted({int(float(r["qd"])) for r in rows if r.get("qd")})
    good = correct_configs(rows)
    stores = {c.name: c.stores_data for c in configs}
    L = ["# Quill benchmark summary", ""]
    L += ["- %s: %s" % (k, v) for k, v in meta.items()]
    L += ["", "IOPS as median (min-max) of the repeats, measured in the guest (TSC). "
          "**count!** marks a point where the guest's I/O count and QEMU's "
          "(`query-blockstats`) differ by more than %d%%; **errors** a point with failed runs; "
          "**check!** a BENCH line that failed a sanity check (see the end)."
          % round(AGREE_TOLERANCE * 100), ""]
    L += ["## Configurations", "", "| configuration | QEMU arguments (disk) |", "|---|---|"]
    for c in configs:
        L.append("| %s | `%s` |" % (c.name, " ".join(c.qemu_args("IMG"))))
    for (op, bs, mode), by_cfg in pts.items():
        L += ["", "## IOPS: %s %s, %s mode" % (op, _bs(bs), mode), ""]
        L += ["| configuration | " + " | ".join("QD%d" % q for q in qds) + " |",
              "|---|" + "---:|" * len(qds)]
        for cfg, by_qd in by_cfg.items():
            L.append("| %s | %s |" % (cfg, " | ".join(_cell(by_qd.get(q, [])) for q in qds)))
    # The guest's cost per I/O at QD32 (or the deepest depth measured below it).
    qd_busy = 32 if 32 in qds else (max(qds) if qds else None)
    if qd_busy is not None:
        keys = list(pts)
        L += ["", "## Guest CPU busy time per I/O at QD%d (ns, median)" % qd_busy, "",
              "TSC time outside the idle loop (its `hlt` and its `idle_poll_us` wait), divided by I/Os; the aim is under 2,000 ns.", "",
              "| configuration | " + " | ".join("%s %s %s" % (o, _bs(b), m) for o, b, m in keys) + " |",
              "|---|" + "---:|" * len(keys)]
        for cfg in dict.fromkeys(c for k in keys for c in pts[k]):
            cells = [_fmt(_median(pts[k].get(cfg, {}).get(qd_busy, []), "busy_ns_per_io")) for k in keys]
            L.append("| %s | %s |" % (cfg, " | ".join(cells)))
        L += ["", "## Mechanics at QD%d (median kicks/I/O, interrupts/I/O, requests per kick)" % qd_busy,
              "", "| configuration | " + " | ".join("%s %s %s" % (o, _bs(b), m) for o, b, m in keys) + " |",
              "|---|" + "---:|" * len(keys)]
        for cfg in dict.fromkeys(c for k in keys for c in pts[k]):
            cells = []
            for k in keys:
                rs = pts[k].get(cfg, {}).get(qd_busy, [])
                m = [_median(rs, x) for x in ("kicks_per_io", "irqs_per_io", "avg_batch")]
                cells.append("-" if m[0] is None else "%.2f / %.2f / %.1f" % tuple(m))
            L.append("| %s | %s |" % (cfg, " | ".join(cells)))
    # Latency at the two depths make run reports.
    for (op, bs, mode), by_cfg in pts.items():
        lat_qds = [q for q in (1, 32) if q in qds]
        if not lat_qds:
            continue
        L += ["", "## Latency: %s %s, %s mode (median p50 / p99 / max, us)" % (op, _bs(bs), mode), "",
              "| configuration | " + " | ".join("QD%d" % q for q in lat_qds) + " |",
              "|---|" + "---:|" * len(lat_qds)]
        for cfg, by_qd in by_cfg.items():
            cells = []
            for q in lat_qds:
                m = [_median(by_qd.get(q, []), k) for k in ("p50_us", "p99_us", "max_us")]
                cells.append("-" if m[0] is None else " / ".join(_fmt(v) for v in m))
            L.append("| %s | %s |" % (cfg, " | ".join(cells)))
        break  # one latency table (the first point: randwrite 4k irq in the standard matrix)
    # The fastest correct configuration per depth.
    L += ["", "## Fastest correct configuration per queue depth", "",
          "Correct: every run of the configuration finished without I/O errors and its I/O count "
          "agreed with QEMU's. *Stores data* excludes null-co, which discards writes and so "
          "cannot run `make run`'s write test.", ""]
    L += ["| point | QD | fastest (median IOPS) | fastest that stores data |", "|---|---:|---|---|"]
    best_for_run = {}
    for (op, bs, mode), by_cfg in pts.items():
        for q in qds:
            cand = [(_median(by_cfg[c].get(q, []), "iops"), c) for c in by_cfg if c in good]
            cand = [(m, c) for m, c in cand if m is not None]
            if not cand:
                continue
            top = max(cand)
            stored = [mc for mc in cand if stores.get(mc[1], True)]
            top_s = max(stored) if stored else None
            L.append("| %s %s %s | %d | %s (%s) | %s |" % (
                op, _bs(bs), mode, q, top[1], _fmt(top[0]),
                "%s (%s)" % (top_s[1], _fmt(top_s[0])) if top_s else "-"))
            if op == "randwrite" and bs == 4096 and mode == "irq" and q in (1, 32):
                for m, c in stored:
                    best_for_run.setdefault(c, {})[q] = by_cfg[c][q]
    L += ["", "## Default for `make run`", ""]
    L += make_run_default(best_for_run, configs)
    excluded = [c.name for c in configs if c.name not in good
                and c.name in {r["config"] for r in rows if not is_fs(r)}]
    if excluded:
        L += ["", "Not correct in this run, so never ranked (I/O errors or a count QEMU disagrees "
              "with; see the end): %s." % ", ".join(excluded)]
    L += insn_section(insns, meta.get("instruction counts"))
    L += effects_table(rows, qds)
    L += side_by_side(rows)
    L += fs_tables(rows)
    # Host cross-check.
    checked = [r for r in rows if r.get("agree") and not is_fs(r)]
    flagged = [r for r in rows if r.get("agree") == "NO"]
    approx = [r for r in checked if r.get("qemu_exact") == "no"]
    fs_checked = [r for r in rows if r.get("agree") and is_fs(r)]
    L += ["", "## Host cross-check (QEMU `query-blockstats`)", "",
          "%d of %d raw runs compared with QEMU's count of completed requests; %d differ by more "
          "than %d%%%s." % (len(checked), len([r for r in rows if not is_fs(r)]),
                            len([r for r in flagged if not is_fs(r)]), round(AGREE_TOLERANCE * 100),
                            "; %d counts approximate (a neighbouring run used the same counters)"
                            % len(approx) if approx else "")]
    if fs_checked:
        L += ["", "File-level runs: QEMU's reads + writes + flushes between two readings also hold "
              "the unmount, mount, setup and fill around the run, so the guest's device requests "
              "(dev_ios) are only checked not to exceed QEMU's count: %d of %d runs checked, %d fail."
              % (len(fs_checked), len([r for r in rows if is_fs(r)]),
                 len([r for r in flagged if is_fs(r)]))]
    if checked or fs_checked:
        L += ["", "| configuration | runs | guest requests | QEMU requests | largest difference |",
              "|---|---:|---:|---:|---:|"]
        for label, rs_all in (("", checked), (" (file-level, QEMU >= guest)", fs_checked)):
            for cfg in dict.fromkeys(r["config"] for r in rs_all):
                rs = [r for r in rs_all if r["config"] == cfg]
                g = lambda r: float(guest_requests(r))
                if label:  # only a shortfall counts (QEMU's count holds more than the run)
                    worst = "%.2f%% short" % (100 * max(max(g(r) - float(r["qemu_reqs"]), 0) / max(g(r), 1)
                                                        for r in rs))
                else:
                    worst = "%.2f%%" % (100 * max(abs(g(r) - float(r["qemu_reqs"])) / max(g(r), 1) for r in rs))
                L.append("| %s%s | %d | %d | %d | %s |" % (
                    cfg, label, len(rs), sum(int(g(r)) for r in rs),
                    sum(int(float(r["qemu_reqs"])) for r in rs), worst))
    if flagged:
        L += ["", "Disagreeing runs:", "",
              "| boot | configuration | run | guest requests | QEMU requests |", "|---:|---|---|---:|---:|"]
        for r in flagged:
            L.append("| %s | %s | %s | %s | %s |" % (r["boot"], r["config"], r["spec"], guest_requests(r),
                                                     r["qemu_reqs"]))
    failed = [r for r in rows if not _ok(r)]
    if failed:
        L += ["", "## Runs with problems", "",
              "The console of boot N is logs/bootNN.log; a device failure fails every later run of its boot.",
              "", "| boot | configuration | run | status |", "|---:|---|---|---|"]
        for boot in dict.fromkeys(r["boot"] for r in failed):
            rs = [r for r in failed if r["boot"] == boot]
            for r in rs[:3]:
                L.append("| %s | %s | %s | %s |" % (r["boot"], r["config"], r["spec"], r["status"]))
            if len(rs) > 3:
                L.append("| %s | %s | and %d more | |" % (boot, rs[0]["config"], len(rs) - 3))
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def _variant(r):
    """A raw row's ring and queues as the device offered them: (ring, queues)."""
    return ("packed" if r.get("packed") == "on" else "split", int(float(r.get("num_queues") or 1)))


def side_by_side(rows):
    """Split vs packed, 1 vs N queues and irq vs poll vs hybrid, one row per (family, ring,
    queues), for every family (configuration without ring and queue settings) measured with
    more than one of them or more than one mode: median IOPS per mode and queue depth."""
    raw = [r for r in rows if not is_fs(r) and _f(r, "iops") is not None and r.get("bs") in ("4096", 4096)]
    fam = lambda r: config_from_row(r).family
    groups = {}
    for r in raw:
        groups.setdefault(fam(r), {}).setdefault(_variant(r), []).append(r)
    fams = [f for f, v in groups.items() if len(v) > 1]
    if not fams:
        return []
    modes = [m for m in ("irq", "poll", "hybrid") if any(r["mode"] == m for r in raw)]
    qds = [q for q in (1, 32, 128) if any(int(float(r["qd"])) == q for f in fams for v in groups[f].values()
                                          for r in v)]
    out = ["", "## Split vs packed ring, 1 vs N queues, irq vs poll vs hybrid (4k, median IOPS)", "",
           "The device offers the ring and queues (`packed=on`, `num-queues=N`); *guest* is what the "
           "kernel took (its boot line). Medians with min-max of the repeats; - where not measured "
           "(packed and multiqueue variants run a subset of the points).", ""]
    for op in dict.fromkeys(r["op"] for r in raw):
        cols = [(m, q) for q in qds for m in modes
                if any(r["op"] == op and r["mode"] == m and int(float(r["qd"])) == q
                       for f in fams for v in groups[f].values() for r in v)]
        if not cols:
            continue
        out += ["### %s 4k" % op, "",
                "| configuration | ring | queues | guest | " + " | ".join("QD%d %s" % (q, m) for m, q in cols) + " |",
                "|---|---|---:|---|" + "---:|" * len(cols)]
        for f in fams:
            for (ring, nq), rs in sorted(groups[f].items(), key=lambda kv: (kv[0][0] != "split", kv[0][1])):
                rs = [r for r in rs if r["op"] == op]
                if not rs:
                    continue
                took = sorted({"%s q%s" % (r.get("guest_ring") or "?", r.get("guest_queues") or "?") for r in rs})
                cells = [_cell([r for r in rs if r["mode"] == m and int(float(r["qd"])) == q]) for m, q in cols]
                out.append("| %s | %s | %d | %s | %s |" % (f, ring, nq, ", ".join(took), " | ".join(cells)))
        out.append("")
    return out[:-1]


def _int(v):
    return "-" if v is None else "%.0f" % v


def _fs_label(r):
    """A file-level run's name in the tables: op and its fsync policy."""
    want = spec_expectations(r.get("spec") or "")  # a failed run printed no figures
    op, fe = r["op"], r.get("fsync_every") or str(want.get("fsync_every", "?"))
    if op == "append":
        return "append (fsync each)"
    if op == "fill":
        return "smallfiles at %s%% full" % (r.get("fill_pct") or want.get("fill_pct", "?"))
    return "%s, fsync %s" % (op, "never (sync at end)" if fe == "0" else "every write" if fe == "1"
                             else "every %s writes" % fe)


def fsync_vs_flushwrite(rows):
    """A fsync'd 4 KiB file write against what any fsync costs on the device: a raw 4 KiB
    write and a FLUSH at QD1 (flushwrite), measured in the same boots, per configuration."""
    by_cfg = {}
    for r in rows:
        if is_fs(r) and r.get("op") == "smallfiles" and str(r.get("fsync_every")) == "1":
            by_cfg.setdefault(r["config"], ([], []))[0].append(r)
        elif not is_fs(r) and r.get("op") == "flushwrite" and str(r.get("qd")) in ("1", "1.0") \
                and str(r.get("bs")) in ("4096", "4096.0"):
            by_cfg.setdefault(r["config"], ([], []))[1].append(r)
    keys = [c for c, (f, w) in by_cfg.items() if f and w]
    if not keys:
        return []
    L = ["", "### fsync'd 4 KiB writes against raw write + FLUSH (QD1, same boots)", "",
         "*fsync'd* = fs:smallfiles with fsync=1 (4 KiB overwrites at random in 64 files of 1 MiB, "
         "each followed by qfs_fsync); *write+FLUSH* = raw flushwrite 4k at QD1 on the same device "
         "(a 4 KiB write, then a FLUSH, one at a time): the floor of any fsync there. Medians "
         "(min-max) of the repeats.", "",
         "| configuration | fsync'd writes/s | write+FLUSH/s | ratio | wa |", "|---|---:|---:|---:|---:|"]
    for c in keys:
        f, w = by_cfg[c]
        mf, mw = _median(_measured(f), "iops"), _median(_measured(w), "iops")
        L.append("| %s | %s | %s | %s | %s |" % (c, _cell(f), _cell(w),
                                                  "%.2f" % (mf / mw) if mf and mw else "-", _fmt(_median(f, "wa"))))
    return L


def fs_tables(rows):
    """File-level runs: durable figures apart from volatile ones, each naming the cache mode,
    with write amplification and device requests per file operation; then the fill sweep."""
    fs = [r for r in rows if is_fs(r) and r.get("op")]
    if not fs:
        return []
    out = ["", "## File-level runs (quillfs, 4 KiB writes)", "",
           "File operations per second as median (min-max) of the repeats; latency per operation "
           "including the fsync it triggered; *wa* = device bytes written per file byte; *dev req/op* "
           "= device requests (reads + writes + flushes) per file operation. The configuration names "
           "QEMU's cache mode: with cache=unsafe QEMU drops flushes, so its durable figures are "
           "durable only for the guest, not on the host's disk. Volatile runs end with an untimed "
           "sync, counted in wa and dev req/op."]

    def per_op(r):
        return _f(r, "dev_ios") / _f(r, "ios") if _f(r, "ios") else None

    def table(title, sel, extra=()):
        keys = list(dict.fromkeys((_fs_label(r), r["config"]) for r in sel))
        if not keys:
            return []
        t = ["", title, "",
             "| run | configuration | ops/s | p50 / p99 us | wa | dev req/op |%s" % "".join(" %s |" % e[0] for e in extra),
             "|---|---|---:|---:|---:|---:|" + "---:|" * len(extra)]
        for label, cfg in keys:
            rs = [r for r in sel if _fs_label(r) == label and r["config"] == cfg]
            ok = _measured(rs)
            po = [v for v in (per_op(r) for r in ok) if v is not None]
            t.append("| %s | %s | %s | %s / %s | %s | %s |%s" % (
                label, cfg, _cell(rs), _fmt(_median(rs, "p50_us")), _fmt(_median(rs, "p99_us")),
                _fmt(_median(rs, "wa")), _fmt(statistics.median(po)) if po else "-",
                "".join(" %s |" % e[1](ok) for e in extra)))
        return t

    out += fsync_vs_flushwrite(rows)
    fill = [r for r in fs if r["op"] == "fill"]
    rest = [r for r in fs if r["op"] != "fill"]
    out += table("### Durable (every acknowledged write covered by a completed FLUSH: durable=1)",
                 [r for r in rest if r.get("durable") == "1"])
    out += table("### Volatile (durable=0: writes acknowledged before any FLUSH covers them)",
                 [r for r in rest if r.get("durable") != "1"])
    out += table("### Fill sweep (smallfiles on a file system first filled with ballast; durable=%s)"
                 % "/".join(sorted({r["durable"] for r in fill if r.get("durable")}) or "?"),
                 sorted(fill, key=lambda r: spec_expectations(r.get("spec") or "").get("fill_pct", 0)),
                 (("used %", lambda rs: _int(_median(rs, "used_pct"))),
                  ("segments cleaned", lambda rs: _int(_median(rs, "cleaned_segs")))))
    return out


def make_run_default(by_cfg, configs):
    """The configuration to suggest for `make run`, from {config: {1: rows, 32: rows}} of
    correct randwrite 4k irq runs on configurations that store data."""
    both = {c: v for c, v in by_cfg.items() if 1 in v and 32 in v and _measured(v[1]) and _measured(v[32])}
    if not both:
        return ["Not enough data (needs correct randwrite 4k irq runs at QD1 and QD32 on a "
                "configuration that stores data)."]
    med = {c: {q: _median(v[q], "iops") for q in (1, 32)} for c, v in both.items()}
    score = {c: math.sqrt(m[1] * m[32]) for c, m in med.items()}
    ranked = sorted(score, key=score.get, reverse=True)
    pick = ranked[0]
    L = ["`make run` measures 4 KiB random writes at QD1 and QD32 in interrupt mode. Of the "
         "correct configurations that store data, ranked by the geometric mean of those two medians:",
         "", "| configuration | QD1 | QD32 | geometric mean |", "|---|---:|---:|---:|"]
    for c in ranked:
        L.append("| %s | %s | %s | %s |" % ("**%s**" % c if c == pick else c, _cell(both[c][1]),
                                            _cell(both[c][32]), _fmt(score[c])))
    args = " ".join(next(x for x in configs if x.name == pick).qemu_args("build/disk.img"))
    L += ["", "Fastest: **%s** (`%s`)." % (pick, args)]
    # Within the spread? Then the ranking is not a finding.
    lo = lambda c, q: min(_f(r, "iops") for r in _measured(both[c][q]))
    hi = lambda c, q: max(_f(r, "iops") for r in _measured(both[c][q]))
    close = [c for c in ranked[1:] if all(hi(c, q) >= lo(pick, q) for q in (1, 32))]
    if close:
        L.append("Its min-max ranges overlap those of %s at both depths: on this host the "
                 "difference is within run-to-run noise, so prefer the simplest of these "
                 "(QEMU's defaults where they are among them)." % ", ".join(close))
    return L


BACKEND_COLOURS = {"writeback/threads": "#7b3294", "none/native": "#0571b0", "none/io_uring": "#4dac26",
                   "null-co": "#e66101"}


def _line_style(r):
    """Colour by backend; point and dash by iothread and event_idx, so families read at a glance."""
    colour = BACKEND_COLOURS.get(_backend(r), "#404040")
    variant = (r["iothread"] == "on") * 2 + (r["event_idx"] == "off")
    pt, dt = (7, 5, 9, 13)[variant], (1, 2, 4, 5)[variant]
    if r.get("packed") == "on":  # ring and queue variants: their family's colour, own marks
        pt, dt = 1 + (r["iothread"] == "on"), 3
    if str(r.get("num_queues") or 1) != "1":
        pt, dt = 11 + (r["iothread"] == "on"), 6
    return "lc rgb '%s' pt %d dt %d" % (colour, pt, dt)


def write_plot(path, rows, gnuplot="gnuplot"):
    """IOPS against queue depth, one line per configuration, one panel per (op, bs, mode),
    one legend for all. Returns None, or why the plot could not be made."""
    pts = group_points(insn_rows(rows)[1])
    if not pts:
        return "no figures to plot"
    panels = list(pts.items())
    cols = 1 if len(panels) == 1 else 2
    nrows = (len(panels) + cols - 1) // cols
    S = ["set terminal svg size %d,%d dynamic noenhanced font 'sans,11' background rgb 'white'"
         % (560 * cols + 360, 420 * nrows),
         "set output %s" % _gq(path),
         # The panels leave the right-hand strip to the one legend.
         "set multiplot layout %d,%d margins screen 0.08, screen %.3f, screen %.3f, screen %.3f "
         "spacing screen 0.09, screen %.3f" % (nrows, cols, 1 - 360.0 / (560 * cols + 360),
                                               0.2 / nrows, 1 - 0.14 / nrows, 0.25 / nrows),
         "set logscale x 2", "set logscale y 10", "set grid",
         "set xlabel 'queue depth'", "set ylabel 'IOPS (median, bars min-max)'", "set format y '%.0s%c'"]
    for i, ((op, bs, mode), by_cfg) in enumerate(panels):
        plots = []
        for j, (cfg, by_qd) in enumerate(by_cfg.items()):
            name = "$d%d_%d" % (i, j)
            S.append("%s << EOD" % name)
            for q in sorted(by_qd):
                vals = [_f(r, "iops") for r in _measured(by_qd[q])]
                if vals and statistics.median(vals) > 0:
                    S.append("%d %g %g %g" % (q, statistics.median(vals), max(min(vals), 1e-3), max(vals)))
            S.append("EOD")
            style = _line_style(next(iter(by_qd.values()))[0])
            plots.append("%s using 1:2:3:4 with yerrorlines %s lw 1.5 title %s" % (name, style, _gq(cfg)))
        xs = sorted({q for by_qd in by_cfg.values() for q in by_qd})
        S.append("set key at screen 0.99, screen %.3f right top font ',10' spacing 1.1" % (1 - 0.14 / nrows)
                 if i == 0 else "unset key")
        S.append("set xtics (%s)" % ", ".join("'%d' %d" % (q, q) for q in xs))
        S.append("set xrange [%g:%g]" % (xs[0] / 1.3, xs[-1] * 1.3))
        S.append("set title %s" % _gq("%s %s, %s mode" % (op, _bs(bs), mode)))
        S.append("plot " + ", ".join(plots))
    S.append("unset multiplot")
    script = path[:-4] + ".gp" if path.endswith(".svg") else path + ".gp"
    with open(script, "w") as f:
        f.write("\n".join(S) + "\n")
    try:
        r = subprocess.run([gnuplot, script], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return "cannot run gnuplot: %s (tools/deps.sh installs it)" % e
    if r.returncode != 0 or not os.path.exists(path):
        return "gnuplot failed: %s" % r.stderr.strip()[-500:]
    return None


def _gq(s):
    return "'%s'" % s.replace("'", "''")
