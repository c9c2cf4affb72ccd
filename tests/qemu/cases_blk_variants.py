"""The virtio-blk QEMU cases of cases_blk.py again, on the other device
configurations issue 6 asks for: packed rings (packed=on), the legacy
transport (disable-modern=on) and four request queues (num-queues=4), each on
the default machine (pc) and on -machine q35.

A variant is one `-global virtio-blk-pci.PROP=VALUE`, so it reaches every
virtio-blk device of a case however the case attaches it (-drive if=virtio
or -device), while a property the case sets on its own -device still wins.
Each variant adds the boot line that proves it took effect, and drops the
expectations that name what the variant changes on purpose (legacy: no
VERSION_1 feature, device id 1001 instead of 1042).

Time: the whole cross product would be about 40 cases x 6 variants, roughly
7 minutes with 2 jobs on this 2-core machine. Instead each variant runs a
representative subset, about 2 minutes in all:
  pc    every mechanism the variant touches: default device, indirect and
        event-idx off (each ring format without its optimisations), a small
        queue, INTx (8259) and a single MSI-X vector (-> INTx), behind a
        bridge, an iothread, 4K blocks, two disks, four disks sharing INTx,
        poll mode, read-only, injected EIO, live resize (grow and shrink),
        DEVICE_NEEDS_RESET, the watchdog
  q35   the machine's own paths: default (ECAM, MSI-X), INTx, two disks,
        resize (shrink)
Cases a variant cannot express are skipped: the legacy transport has no
packed rings, no modern-only device and no PCIe root port (a legacy device
needs I/O space a root port does not give), the 64-bit BAR case checks a
modern BAR, and the unmappable-buffer case cannot run on either: QEMU sets
DEVICE_NEEDS_RESET only on VERSION_1 devices (a legacy one just stops; the
watchdog case covers that), and QEMU 7.2's packed ring reports "bogus
descriptor" and then re-polls the queue forever holding its global lock,
so the guest never runs again. Cases that already set the same property are
not repeated.
"""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "cases_blk_base", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases_blk.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

PC_SUBSET = [
    "blk-default", "blk-indirect-off", "blk-event-idx-off", "blk-no-indirect-no-event-idx",
    "blk-queue-64", "blk-intx", "blk-vectors-1", "blk-pci-bridge", "blk-iothread",
    "blk-4k-blocks", "blk-two-disks", "blk-four-disks-intx", "blk-poll", "blk-readonly",
    "blk-eio-injected", "blk-resize", "blk-resize-shrink", "blk-needs-reset", "blk-watchdog",
]
Q35_SUBSET = ["blk-default", "blk-intx", "blk-two-disks", "blk-resize-shrink"]

VARIANTS = {
    # name: (-global property, boot-line proof, expectations to drop, cases to skip)
    "packed": ("packed=on", r"^vda: .*features .*RING_PACKED", (),
               ("blk-packed", "blk-legacy", "blk-legacy-intx", "blk-needs-reset")),
    "legacy": ("disable-modern=on", r"^virtio-pci [0-9a-f:.]+: no modern interface: legacy I/O",
               ("VERSION_1", "1042"),
               ("blk-packed", "blk-modern-only", "blk-q35-root-port", "blk-bar-above-4g",
                "blk-legacy", "blk-legacy-intx", "blk-needs-reset")),
    "mq4": ("num-queues=4", r"^vda: .*, 4 queues, ", (), ("blk-mq", "blk-mq-intx", "blk-mq-one")),
}


def variant(case, vname, q35):
    prop, proof, drop, skip = VARIANTS[vname]
    if case["name"] in skip:
        return None
    c = dict(case)
    c["name"] = "%s@%s%s" % (case["name"], "q35-" if q35 else "", vname)
    qemu = list(case.get("qemu", []))
    if q35 and "q35" not in qemu:
        qemu = ["-machine", "q35"] + qemu
    c["qemu"] = qemu + ["-global", "virtio-blk-pci." + prop]
    expect = [rx for rx in case.get("expect", []) if not any(d in rx for d in drop)]
    if case.get("expect_exit", 0) == 0:
        expect.append(proof)
    c["expect"] = expect
    return c


def build():
    by_name = {c["name"]: c for c in base.CASES}
    cases = []
    for vname in VARIANTS:
        for q35, subset in ((False, PC_SUBSET), (True, Q35_SUBSET)):
            for name in subset:
                c = variant(by_name[name], vname, q35)
                if c:
                    cases.append(c)
    return cases


CASES = build()
