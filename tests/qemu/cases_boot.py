"""QEMU tests of the boot foundation: machines, memory sizes, CPUs, faults, the command line."""

BOOT_EXPECT = [
    r"^Quill: ",
    r"^mem: \d+ MiB RAM, \d+ MiB free",
    r"^tsc: \d+\.\d+ MHz \(calibrated against the PIT\)",
    r"^TEST lib PASS$",
    r"^TEST alloc PASS$",
    r"^TEST timer PASS$",
    r"^TEST interrupts PASS$",
    r"^TEST ioapic PASS$",
    r"^TEST paging PASS$",
    r"^TEST csum PASS$",
    r"^\d+ passed, 0 failed$",
    r"^quill: exit 0$",
]


def boot(name, qemu, cmdline="test=all", **kw):
    return dict(name=name, cmdline=cmdline, qemu=qemu, expect=BOOT_EXPECT, **kw)


CASES = [
    boot("boot-default", []),
    boot("boot-m128", ["-m", "128M"]),
    boot("boot-m4G", ["-m", "4G"]),
    boot("boot-q35", ["-machine", "q35"]),
    boot("boot-q35-m4G", ["-machine", "q35", "-m", "4G"]),
    boot("boot-cpu-qemu64", ["-cpu", "qemu64"]),
    boot("boot-cpu-max", ["-cpu", "max"]),
    boot("boot-iso-default-cmdline", [], cmdline=None),
    dict(name="fault-report", cmdline="test=fault", expect_exit=3,
         expect=[r"CPU exception 14: #PF page fault",
                 r"CR2=0x00007ffdeadbe000",
                 r"RIP=0x[0-9a-f]{16}",
                 r"RAX=[0-9a-f]{16} RBX=",
                 r"backtrace",
                 r"#1 0x[0-9a-f]+ ktest_run_one",
                 r"^quill: exit 3$"]),
    dict(name="doublefault-report", cmdline="test=doublefault", expect_exit=3,
         expect=[r"CPU exception 8: #DF double fault", r"^quill: exit 3$"]),
    # Too long for the kernel: the boot line is cut before its newline, the refusal has its own line.
    dict(name="cmdline-too-long", cmdline="bench=randwrite:" + "x" * 2100, expect_exit=2,
         expect=[r"^boot: loader .* \(cut: the rest is not shown\)$",
                 r"^cmdline: command line is 2116 bytes; at most 2047 are accepted$", r"^quill: exit 2$"]),
    dict(name="cmdline-unknown-key", cmdline="bogus=1", expect_exit=2,
         expect=[r"cmdline: unknown key 'bogus'", r"^quill: exit 2$"]),
    dict(name="cmdline-not-key-value", cmdline="test=all justaword", expect_exit=2,
         expect=[r"cmdline: 'justaword' is not a key=value word", r"^quill: exit 2$"]),
    dict(name="cmdline-empty-value", cmdline="test=", expect_exit=2,
         expect=[r"cmdline: bad value '' for key 'test'", r"^quill: exit 2$"]),
    dict(name="test-unknown-name", cmdline="test=nosuchtest", expect_exit=1,
         expect=[r"^TEST nosuchtest FAIL no such test", r"^0 passed, 1 failed$", r"^quill: exit 1$"]),
]
