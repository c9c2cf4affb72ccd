"""Every virtio-blk QEMU case of cases_blk.py again, on the device
configurations issue 6 asks for: packed rings (packed=on), the legacy
transport (disable-modern=on) and four request queues (num-queues=4), each on
the default machine (pc) and on -machine q35, plus the plain device (split
ring, modern, one queue) on q35. Case names are BASE@VARIANT: blk-intx@packed,
blk-intx@q35-packed, blk-intx@q35 (`tests/run -k @` runs them all).

A variant is one `-global virtio-blk-pci.PROP=VALUE`, so it reaches every
virtio-blk device of a case however the case attaches it (-drive if=virtio
or -device), while a property the case sets on its own -device still wins.
Each variant adds the boot line that proves it took effect (RING_PACKED in
the features; "no modern interface: legacy I/O"; "4 queues"; on q35 the ECAM
line) to every case, failing ones included. The legacy variant rewrites what
it changes on purpose: no VERSION_1 in the features (and VERSION_1 anywhere
is an error), device id 1af4:1001 instead of 1af4:1042.

Skipped, because the variant cannot express the case (SKIP below):
  all      blk-no-disk: there is no virtio-blk device for the property to
           reach, so it would be the base case again (it does run on q35).
  packed   blk-packed, blk-packed-refused, blk-resize-packed,
           blk-resize-shrink-packed: the case already sets packed=on.
           blk-legacy, blk-legacy-intx: a legacy device has no packed ring
           (RING_PACKED is feature bit 34; legacy features are 32 bits).
           blk-needs-reset, blk-needs-reset-intx: QEMU 7.2's packed ring
           reports "bogus descriptor" for the unmappable buffer and then
           re-polls the queue forever holding its global lock, so the guest
           never runs again (QEMU hangs, not Quill; checked by hand).
  legacy   blk-legacy, blk-legacy-intx: the case already sets
           disable-modern=on. blk-packed, blk-packed-refused,
           blk-resize-packed, blk-resize-shrink-packed: no packed ring on a
           legacy device (above). blk-modern-only: disable-legacy=on and
           disable-modern=on together leave no interface (QEMU refuses to
           start). blk-bar-above-4g: the BAR it puts above 4 GiB is the
           modern interface's 64-bit BAR 4, which a legacy device does not
           have (the rest of the case passes, but proves nothing about it).
  mq4      blk-mq, blk-mq-intx, blk-mq-vectors-3, blk-mq-one: the case already
           sets num-queues=4.
  q35-*    blk-q35, blk-q35-intx, blk-q35-root-port, blk-bar-above-4g: the
           case already runs on q35, so its pc variant is the same run.

Adapted, because QEMU behaves differently on the variant (ADAPT below):
  legacy   blk-needs-reset, blk-needs-reset-intx: QEMU 7.2 sets
           DEVICE_NEEDS_RESET only on a VERSION_1 device; a legacy one just
           stops answering the queue. The driver's watchdog must then declare
           it dead: the case runs with blk.timeout_ms=3000 and expects
           "device broken: watchdog" (and the test's -ENODEV) instead.
           blk-q35-root-port: on a PCI Express port QEMU makes the device
           modern-only unless told otherwise ("device cannot work as neither
           modern nor legacy mode is enabled"), so the case adds
           -global virtio-blk-pci.disable-legacy=off; the legacy device then
           gets its I/O BAR behind the root port and the case runs as is.

Time: 261 cases (46 base cases x 7 variants, less the skips), 303 s with
2 jobs on this 2-core machine when otherwise quiet (5m50s in another run);
each case takes 1-8 s and keeps the base case's timeout of 120-180 s, so a
loaded machine slows the set down but does not fail it.
"""
import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "cases_blk_base", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases_blk.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

ON_Q35 = ("blk-q35", "blk-q35-intx", "blk-q35-root-port", "blk-bar-above-4g")
PACKED_CASES = ("blk-packed", "blk-packed-refused", "blk-resize-packed", "blk-resize-shrink-packed")
NEEDS_RESET = ("blk-needs-reset", "blk-needs-reset-intx")
SKIP = {
    # variant: {case: reason}; "*" applies to every -global variant, "q35" to every q35 one.
    "*": {"blk-no-disk": "no virtio-blk device for the property to reach"},
    "q35": {n: "already on q35: the same run as its pc variant" for n in ON_Q35},
    "packed": dict(
        {n: "already sets packed=on" for n in PACKED_CASES},
        **{n: "a legacy device has no packed ring" for n in ("blk-legacy", "blk-legacy-intx")},
        **{n: "QEMU 7.2 hangs (packed ring, unmappable buffer)" for n in NEEDS_RESET}),
    "legacy": dict(
        {n: "already sets disable-modern=on" for n in ("blk-legacy", "blk-legacy-intx")},
        **{n: "a legacy device has no packed ring" for n in PACKED_CASES},
        **{"blk-modern-only": "disable-legacy=on with disable-modern=on: no interface left",
           "blk-bar-above-4g": "its 64-bit BAR is the modern interface's"}),
    "mq4": {n: "already sets num-queues=4"
            for n in ("blk-mq", "blk-mq-intx", "blk-mq-vectors-3", "blk-mq-one")},
}


def legacy_needs_reset(case):
    """QEMU flags DEVICE_NEEDS_RESET only on VERSION_1 devices: the watchdog catches it."""
    case["cmdline"] = case["cmdline"].replace("blk.timeout_ms=20000", "blk.timeout_ms=3000")
    case["expect"] = [rx.replace("device needs reset", "watchdog") for rx in case["expect"]]
    return case


def legacy_root_port(case):
    """On a PCIe port QEMU's disable-legacy=auto means on: ask for the legacy interface."""
    case["qemu"] = case["qemu"] + ["-global", "virtio-blk-pci.disable-legacy=off"]
    return case


ADAPT = {"legacy": dict({n: legacy_needs_reset for n in NEEDS_RESET},
                        **{"blk-q35-root-port": legacy_root_port})}

VARIANTS = {
    # name: (-global property or None, boot-line proof, expectation rewrites, extra rejects)
    "packed": ("packed=on", r"^vda: .*features .*RING_PACKED", (), ()),
    "legacy": ("disable-modern=on", r"^virtio-pci [0-9a-f:.]+: no modern interface: legacy I/O",
               ((" VERSION_1", ""), ("1af4:1042", "1af4:1001")), (r"VERSION_1",)),
    "mq4": ("num-queues=4", r"^vda: .*, 4 queues, ", (), ()),
    "plain": (None, None, (), ()),
}
Q35_PROOF = r"^pci: ECAM at 0x[0-9a-f]+, buses 0-\d+"


def variant(case, vname, q35):
    prop, proof, rewrites, rejects = VARIANTS[vname]
    name = case["name"]
    for key in (("*",) if prop else ()) + (vname, "q35" if q35 else ""):
        if name in SKIP.get(key, {}):
            return None
    c = dict(case)
    c["name"] = "%s@%s" % (name, "-".join((["q35"] if q35 else []) + ([vname] if prop else [])))
    qemu = list(case.get("qemu", []))
    if q35:
        qemu = ["-machine", "q35"] + qemu
    if prop:
        qemu += ["-global", "virtio-blk-pci." + prop]
    c["qemu"] = qemu
    expect = list(case.get("expect", []))
    for old, new in rewrites:
        expect = [rx.replace(old, new) for rx in expect]
    expect += [p for p in (proof, Q35_PROOF if q35 else None) if p and p not in expect]
    c["expect"] = expect
    c["reject"] = list(case.get("reject", [])) + list(rejects)
    adapt = ADAPT.get(vname, {}).get(name)
    return adapt(c) if adapt else c


def build():
    names = {c["name"] for c in base.CASES}
    stale = {n for table in list(SKIP.values()) + list(ADAPT.values()) for n in table} - names
    assert not stale, "cases_blk_variants.py names cases cases_blk.py lacks: %s" % sorted(stale)
    cases = []
    for vname in VARIANTS:
        for q35 in (False, True):
            if vname == "plain" and not q35:
                continue
            for case in base.CASES:
                c = variant(case, vname, q35)
                if c:
                    cases.append(c)
    return cases


CASES = build()
