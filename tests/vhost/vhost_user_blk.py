#!/usr/bin/env python3
"""A vhost-user-blk back-end that serves a raw image, then breaks one rule.

QEMU's vhost-user-blk-pci device hands the virtqueues to this process: QEMU
keeps the PCI transport (configuration space, feature negotiation with the
guest, MSI-X) and this process reads the guest's rings and buffers directly
from shared guest memory, writes the used ring and signals completions
through an eventfd. That makes it a second, independent virtio-blk device
implementation whose misbehaviour we choose, for tests/qemu/cases_vhost.py.

Run by hand (guest memory must be shared with the back-end):

  tests/vhost/vhost_user_blk.py --socket /tmp/vu.sock --image disk.img \\
      [--fault MODE] [--after N] [--no-indirect] [-v] &
  tools/quill-run --cmdline 'test=blk' -- \\
      -object memory-backend-memfd,id=mem,size=512M,share=on \\
      -machine memory-backend=mem \\
      -chardev socket,id=vu,path=/tmp/vu.sock \\
      -device vhost-user-blk-pci,chardev=vu[,disable-legacy=on]

The socket appears only once it accepts connections (bound under a
temporary name, then renamed). The back-end serves one connection and exits
when QEMU closes it, or on SIGTERM/SIGINT; its last line says what it
served: "vublk: exit: requests=N ... driver_errors=N faults=N".

Protocol subset (QEMU docs/interop/vhost-user.rst), front-end requests:
  GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, RESET_DEVICE,
  SET_MEM_TABLE (regions mapped from the fds sent with SCM_RIGHTS),
  SET_VRING_NUM/ADDR/BASE, GET_VRING_BASE (stops the ring),
  SET_VRING_KICK/CALL/ERR (eventfds; the NOFD flag is honoured),
  SET_VRING_ENABLE, GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM,
  SET_SLAVE_REQ_FD, GET_CONFIG, SET_CONFIG (ignored), SET_LOG_FD (closed);
  NEED_REPLY is answered with a u64 0 (or 1 for an unknown request).
  Protocol features offered: CONFIG and SLAVE_REQ (the back-end -> front-end
  channel, used for CONFIG_CHANGE_MSG). No REPLY_ACK, MQ, inflight tracking,
  memory slots, logging or IOMMU: one request queue.
Device features offered: SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH, INDIRECT_DESC
(unless --no-indirect), VERSION_1 and VHOST_USER_F_PROTOCOL_FEATURES. No
EVENT_IDX: without a memory fence between our used->idx store and the
driver's flags load, interrupt suppression could lose a wake-up, so every
completion batch signals the call eventfd.

Virtio-blk (virtio 1.2, 5.2.6) over the split ring (2.7): IN, OUT, FLUSH,
GET_ID (serial "quill-vublk"); anything else UNSUPP. A request outside the
image, or whose data is not whole 512-byte sectors, gets IOERR, as QEMU's
own device does. Every chain is checked against the rules a driver must
follow (descriptor indexes and lengths, no loops, indirect tables, readable
descriptors before writable ones, a 16-byte header, a one-byte status at
the end, addresses inside guest RAM); a chain that breaks one counts in
driver_errors (logged "vublk: driver error: ...") and stops the ring, as
libvhost-user's vu_panic does, so the healthy cases can assert the driver
never did.

Fault modes (--fault MODE; --after N serves N requests correctly first,
0 breaks the rule at once; each injected fault is logged
"vublk: fault MODE: ..."):
  none            serve everything correctly
  used-id-range   the used entry of request N carries id queue_size + 3
  used-id-free    ... an id not in flight (the highest id not popped; a
                  driver handing out ids from the bottom never uses it at
                  low depth); request N itself is never completed
  used-twice      request N's used entry is written twice in one batch, the
                  second in place of the next request's (which is served but
                  never completed), so the batch holds no more entries than
                  requests in flight
  used-idx-jump   request N's entry, then used->idx moves queue_size + 1
                  past where it was
  used-len        request N's used length is 64 KiB past its writable bytes
  bad-status      request N is served, its status byte is 0x55
  ioerr           requests N and later fail with VIRTIO_BLK_S_IOERR (their
                  data is neither read nor written)
  stall           requests N and later are never completed: no used
                  entries, no calls (the control channel still answers)
  no-call         requests N and later complete without a call
  cfg-capacity    GET_CONFIG: capacity 2^64 - 1 sectors
  cfg-seg-max     GET_CONFIG: seg_max 0
  cfg-size-max    GET_CONFIG: size_max 1 (seg_max * size_max < one block)
  cfg-blk-size    GET_CONFIG: blk_size 3000 (not a power of two)
  cfg-change      at request N, capacity becomes 2^64 - 1 sectors and a
                  CONFIG_CHANGE_MSG goes to QEMU on the back-end channel
                  (QEMU 7.2 passes on only capacity changes: its
                  handle_config_change is "valid for resize only")
  no-flush        VIRTIO_BLK_F_FLUSH not offered; a FLUSH that arrives
                  anyway is a driver error (answered UNSUPP)
"""
import argparse
import array
import mmap
import os
import select
import signal
import socket
import struct
import sys

# Front-end -> back-end requests.
GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_LOG_BASE, SET_LOG_FD, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE = 6, 7, 8, 9, 10
GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 11, 12, 13, 14
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
SET_SLAVE_REQ_FD, GET_CONFIG, SET_CONFIG, RESET_DEVICE = 21, 24, 25, 34
NAMES = {v: k for k, v in list(globals().items()) if k.isupper() and isinstance(v, int)}
# Back-end -> front-end requests (the "slave" channel).
SLAVE_CONFIG_CHANGE_MSG = 2

VERSION, REPLY, NEED_REPLY = 0x1, 0x4, 0x8
VRING_NOFD = 0x100  # in the u64 of SET_VRING_KICK/CALL/ERR, beside the index
MAX_FDS = 8

PROTO_F_SLAVE_REQ, PROTO_F_CONFIG = 5, 9
F_PROTOCOL_FEATURES = 30

BLK_F_SIZE_MAX, BLK_F_SEG_MAX, BLK_F_BLK_SIZE, BLK_F_FLUSH = 1, 2, 6, 9
F_INDIRECT_DESC, F_VERSION_1 = 28, 32

DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4
T_IN, T_OUT, T_FLUSH, T_GET_ID = 0, 1, 4, 8
S_OK, S_IOERR, S_UNSUPP = 0, 1, 2
SERIAL = b"quill-vublk"
SEG_MAX, SIZE_MAX = 126, 1 << 20  # what QEMU's own device says at queue 128, and 1 MiB

FAULTS = ["none", "used-id-range", "used-id-free", "used-twice", "used-idx-jump", "used-len",
          "bad-status", "ioerr", "stall", "no-call", "cfg-capacity", "cfg-seg-max", "cfg-size-max",
          "cfg-blk-size", "cfg-change", "no-flush"]
ONE_SHOT = {"used-id-range", "used-id-free", "used-twice", "used-idx-jump", "used-len", "bad-status",
            "cfg-change"}
PERSISTENT = {"ioerr", "stall", "no-call"}
BAD_CAPACITY = (1 << 64) - 1


class DriverError(Exception):
    """The guest's driver broke a rule of the ring or of virtio-blk."""


class Region:
    def __init__(self, gpa, size, uva, mm, base):
        self.gpa, self.size, self.uva, self.mm, self.base = gpa, size, uva, mm, base


class Memory:
    """Guest RAM as QEMU shared it: regions by guest-physical and by QEMU-virtual address."""

    def __init__(self):
        self.regions = []

    def replace(self, regions):
        old, self.regions = self.regions, regions
        for r in old:
            r.mm.close()

    def _find(self, addr, n, key):
        for r in self.regions:
            start = r.gpa if key == "gpa" else r.uva
            if start <= addr and addr + n <= start + r.size:
                return r.mm, r.base + addr - start
        raise DriverError("%d bytes at %s %#x are not in guest RAM" % (n, key, addr))

    def check(self, gpa, n):
        self._find(gpa, n, "gpa")

    def uva(self, addr, n):
        return self._find(addr, n, "uva")

    def read(self, gpa, n):
        mm, off = self._find(gpa, n, "gpa")
        return mm[off:off + n]

    def write(self, gpa, data):
        mm, off = self._find(gpa, len(data), "gpa")
        mm[off:off + len(data)] = data


class Vring:
    def __init__(self):
        self.num = 0
        self.addr = None       # (desc, used, avail) in QEMU's virtual addresses
        self.base = 0
        self.kick = self.call = self.err = None
        self.enabled = True    # until SET_FEATURES says otherwise
        self.started = False
        self.stalled = False   # --fault stall: nothing more is completed
        self.last_avail = 0
        self.used_idx = 0


class Backend:
    def __init__(self, a):
        self.a = a
        self.fault = a.fault
        self.img = os.open(a.image, os.O_RDWR)
        self.img_bytes = os.fstat(self.img).st_size
        self.mem = Memory()
        self.vq = Vring()
        self.conn = self.slave = None
        self.features = 0
        self.protocol = 0
        self.capacity = self.img_bytes // 512
        self.seq = 0           # requests taken from the ring so far
        self.stats = dict(requests=0, reads=0, writes=0, flushes=0, get_id=0, other=0, ioerrs=0,
                          driver_errors=0, faults=0, config_changes=0)
        self.poller = select.poll()

    # ---- logging ----

    def log(self, msg):
        print("vublk: " + msg, file=sys.stderr, flush=True)

    def debug(self, msg):
        if self.a.verbose:
            self.log(msg)

    def faulted(self, msg):
        self.stats["faults"] += 1
        self.log("fault %s: %s" % (self.fault, msg))

    def summary(self):
        return "exit: " + " ".join("%s=%d" % kv for kv in self.stats.items())

    # ---- features and configuration ----

    def device_features(self):
        f = (1 << BLK_F_SIZE_MAX) | (1 << BLK_F_SEG_MAX) | (1 << BLK_F_BLK_SIZE) | (1 << F_VERSION_1)
        f |= 1 << F_PROTOCOL_FEATURES
        if self.fault != "no-flush":
            f |= 1 << BLK_F_FLUSH
        if not self.a.no_indirect:
            f |= 1 << F_INDIRECT_DESC
        return f

    def config(self):
        """struct virtio_blk_config (5.2.4), little-endian, padded to 256 bytes."""
        capacity, size_max, seg_max, blk_size = self.capacity, SIZE_MAX, SEG_MAX, 512
        if self.fault == "cfg-capacity":
            capacity = BAD_CAPACITY
        elif self.fault == "cfg-seg-max":
            seg_max = 0
        elif self.fault == "cfg-size-max":
            size_max = 1
        elif self.fault == "cfg-blk-size":
            blk_size = 3000
        cfg = struct.pack("<QIIHBBI", capacity, size_max, seg_max, 0, 0, 0, blk_size)
        cfg += struct.pack("<BBHI", 0, 0, 0, 0)   # topology
        cfg += struct.pack("<BBH", 0, 0, 1)       # writeback, unused, num_queues
        return cfg.ljust(256, b"\0")

    # ---- the control channel ----

    def recv_exact(self, n):
        data, fds = b"", []
        while len(data) < n:
            chunk, anc, _flags, _addr = self.conn.recvmsg(n - len(data), socket.CMSG_SPACE(MAX_FDS * 4))
            for level, typ, payload in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    arr = array.array("i")
                    arr.frombytes(payload[:len(payload) - len(payload) % arr.itemsize])
                    fds.extend(arr)
            if not chunk:
                for fd in fds:
                    os.close(fd)
                return None, []
            data += chunk
        return data, fds

    def reply(self, req, payload):
        self.conn.sendall(struct.pack("<III", req, VERSION | REPLY, len(payload)) + payload)

    def handle_message(self):
        hdr, fds = self.recv_exact(12)
        if hdr is None:
            return False
        req, flags, size = struct.unpack("<III", hdr)
        payload, more = self.recv_exact(size) if size else (b"", [])
        if payload is None:
            return False
        fds += more
        self.debug("%s flags %#x size %d fds %d" % (NAMES.get(req, req), flags, size, len(fds)))
        replied, ok = self.dispatch(req, payload, fds)
        if flags & NEED_REPLY and not replied:
            self.reply(req, struct.pack("<Q", 0 if ok else 1))
        return True

    def take_fd(self, fds, u64):
        """The eventfd of a SET_VRING_KICK/CALL/ERR, or None with the NOFD flag."""
        if u64 & VRING_NOFD:
            for fd in fds:
                os.close(fd)
            return None
        if len(fds) != 1:
            raise DriverError("vring fd message with %d fds" % len(fds))
        return fds[0]

    def dispatch(self, req, p, fds):
        """Handle one request; (replied, ok)."""
        vq = self.vq
        if req == GET_FEATURES:
            if self.fault == "no-flush" and not self.stats["faults"]:
                self.faulted("VIRTIO_BLK_F_FLUSH not offered")
            self.reply(req, struct.pack("<Q", self.device_features()))
            return True, True
        if req == SET_FEATURES:
            self.features = struct.unpack_from("<Q", p)[0]
            self.debug("features %#x" % self.features)
            if not vq.started:  # with protocol features a ring starts disabled
                vq.enabled = not self.features & (1 << F_PROTOCOL_FEATURES)
        elif req == GET_PROTOCOL_FEATURES:
            self.reply(req, struct.pack("<Q", (1 << PROTO_F_CONFIG) | (1 << PROTO_F_SLAVE_REQ)))
            return True, True
        elif req == SET_PROTOCOL_FEATURES:
            self.protocol = struct.unpack_from("<Q", p)[0]
        elif req == GET_QUEUE_NUM:
            self.reply(req, struct.pack("<Q", 1))
            return True, True
        elif req in (SET_OWNER,):
            pass
        elif req in (RESET_OWNER, RESET_DEVICE):
            self.drop_ring()
        elif req == SET_MEM_TABLE:
            self.set_mem_table(p, fds)
            fds = []
        elif req == SET_VRING_NUM:
            _idx, vq.num = struct.unpack_from("<II", p)
        elif req == SET_VRING_ADDR:
            _idx, _flags, desc, used, avail, _log = struct.unpack_from("<IIQQQQ", p)
            vq.addr = (desc, used, avail)
        elif req == SET_VRING_BASE:
            _idx, vq.base = struct.unpack_from("<II", p)
        elif req == GET_VRING_BASE:
            idx = struct.unpack_from("<I", p)[0]
            self.stop_ring()
            self.reply(req, struct.pack("<II", idx, vq.last_avail & 0xFFFF))
            return True, True
        elif req == SET_VRING_KICK:
            u64 = struct.unpack_from("<Q", p)[0]
            fd = self.take_fd(fds, u64)
            fds = []
            self.start_ring(fd)
        elif req in (SET_VRING_CALL, SET_VRING_ERR):
            attr = "call" if req == SET_VRING_CALL else "err"
            fd = self.take_fd(fds, struct.unpack_from("<Q", p)[0])
            fds = []
            if getattr(vq, attr) is not None:
                os.close(getattr(vq, attr))
            setattr(vq, attr, fd)
        elif req == SET_VRING_ENABLE:
            _idx, enable = struct.unpack_from("<II", p)
            vq.enabled = bool(enable)
            if vq.enabled:
                self.process()
        elif req == SET_SLAVE_REQ_FD:
            if len(fds) != 1:
                raise DriverError("SET_SLAVE_REQ_FD with %d fds" % len(fds))
            self.slave = socket.socket(fileno=fds[0])
            fds = []
        elif req == GET_CONFIG:
            offset, size, _flags = struct.unpack_from("<III", p)
            cfg = self.config()
            if self.fault.startswith("cfg-") and self.fault != "cfg-change":
                self.faulted("GET_CONFIG answered capacity %d size_max %d seg_max %d blk_size %d"
                             % struct.unpack_from("<QII4xI", cfg))
            region = cfg[offset:offset + size].ljust(size, b"\0")
            self.reply(req, struct.pack("<III", offset, size, 0) + region)
            return True, True
        elif req == SET_CONFIG:
            pass  # writeback is not offered (no CONFIG_WCE): nothing to set
        elif req == SET_LOG_FD:
            pass  # fds closed below: no dirty logging (no LOG_SHMFD, no migration)
        else:
            self.log("unexpected request %d (%s), ignored" % (req, NAMES.get(req, "?")))
            for fd in fds:
                os.close(fd)
            return False, False
        for fd in fds:
            os.close(fd)
        return False, True

    def set_mem_table(self, p, fds):
        nregions = struct.unpack_from("<I", p)[0]
        if nregions != len(fds):
            raise DriverError("SET_MEM_TABLE: %d regions, %d fds" % (nregions, len(fds)))
        regions = []
        for i in range(nregions):
            gpa, size, uva, off = struct.unpack_from("<QQQQ", p, 8 + 32 * i)
            mm = mmap.mmap(fds[i], size + off, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            os.close(fds[i])
            regions.append(Region(gpa, size, uva, mm, off))
            self.debug("region gpa %#x size %#x uva %#x offset %#x" % (gpa, size, uva, off))
        self.mem.replace(regions)

    # ---- the ring ----

    def start_ring(self, kick):
        vq = self.vq
        if vq.kick is not None:
            self.poller.unregister(vq.kick)
            os.close(vq.kick)
        vq.kick = kick
        if kick is None:
            raise DriverError("a kick without an eventfd (polling) is not supported")
        self.poller.register(kick, select.POLLIN)
        vq.last_avail = vq.base
        # The used index the ring already holds: 0 on a fresh ring, ours after a stop.
        vq.used_idx = self.ring16("used", 2)
        vq.stalled = False
        vq.started = True
        self.debug("ring started: %d entries, base %d, used %d" % (vq.num, vq.base, vq.used_idx))
        self.process()

    def drop_ring(self):
        vq = self.vq
        if vq.kick is not None:
            self.poller.unregister(vq.kick)
        for fd in (vq.kick, vq.call, vq.err):
            if fd is not None:
                os.close(fd)
        self.vq = Vring()

    def stop_ring(self):
        vq = self.vq
        if vq.started:
            vq.started = False
            vq.base = vq.last_avail

    def ring_at(self, which, off, n):
        desc, used, avail = self.vq.addr
        return self.mem.uva({"desc": desc, "used": used, "avail": avail}[which] + off, n)

    def ring16(self, which, off):
        mm, o = self.ring_at(which, off, 2)
        return struct.unpack_from("<H", mm, o)[0]

    def chain(self, head):
        """The descriptors of the chain at head, following indirect tables: [(gpa, len, writable)]."""
        vq, out, seen_write = self.vq, [], False
        table, size, idx, indirect, count = None, vq.num, head, False, 0
        while count <= size:
            count += 1
            if idx >= size:
                raise DriverError("descriptor index %d beyond a table of %d" % (idx, size))
            if table is None:
                mm, o = self.ring_at("desc", 16 * idx, 16)
                addr, ln, flags, nxt = struct.unpack_from("<QIHH", mm, o)
            else:
                addr, ln, flags, nxt = struct.unpack_from("<QIHH", table, 16 * idx)
            if flags & DESC_F_INDIRECT:
                if indirect or out:
                    raise DriverError("indirect descriptor inside a chain or an indirect table")
                if not self.features & (1 << F_INDIRECT_DESC):
                    raise DriverError("indirect descriptor without VIRTIO_F_INDIRECT_DESC")
                if flags & DESC_F_NEXT or ln == 0 or ln % 16:
                    raise DriverError("indirect descriptor with NEXT or a length of %d" % ln)
                table, size, idx, indirect, count = self.mem.read(addr, ln), ln // 16, 0, True, 0
                continue
            write = bool(flags & DESC_F_WRITE)
            if seen_write and not write:
                raise DriverError("device-readable descriptor after a device-writable one")
            seen_write |= write
            self.mem.check(addr, ln)
            out.append((addr, ln, write))
            if not flags & DESC_F_NEXT:
                return out
            idx = nxt
        raise DriverError("descriptor chain at head %d loops" % head)

    def serve(self, head, fail):
        """Carry out the request at head: (status gpa, used length, status), or DriverError."""
        descs = self.chain(head)
        rd = [(a, n) for a, n, w in descs if not w]
        wr = [(a, n) for a, n, w in descs if w]
        rbytes, wbytes = sum(n for _, n in rd), sum(n for _, n in wr)
        if rbytes < 16 or wbytes < 1:
            raise DriverError("request without a 16-byte header or a status byte (%d readable, %d writable)"
                              % (rbytes, wbytes))
        readable = b"".join(self.mem.read(a, n) for a, n in rd)
        typ, _prio, sector = struct.unpack_from("<IIQ", readable)
        # The status byte is the last writable byte; the data is everything between.
        sa, sn = wr[-1]
        status_gpa = sa + sn - 1
        data_in = wr[:-1] + ([(sa, sn - 1)] if sn > 1 else [])
        st = self.stats
        st["requests"] += 1
        if fail:
            st["ioerrs"] += 1
            return status_gpa, 1, S_IOERR
        if typ in (T_IN, T_OUT):
            n = wbytes - 1 if typ == T_IN else rbytes - 16
            if typ == T_IN and rbytes != 16:
                raise DriverError("IN request with %d readable bytes" % rbytes)
            if typ == T_OUT and wbytes != 1:
                raise DriverError("OUT request with %d writable bytes" % wbytes)
            pos = sector * 512
            if n % 512 or pos + n > self.img_bytes:
                st["ioerrs"] += 1
                return status_gpa, 1, S_IOERR
            if typ == T_OUT:
                st["writes"] += 1
                os.pwrite(self.img, readable[16:], pos)
                return status_gpa, 1, S_OK
            st["reads"] += 1
            data = os.pread(self.img, n, pos)
            o = 0
            for a, ln in data_in:
                self.mem.write(a, data[o:o + ln])
                o += ln
            return status_gpa, wbytes, S_OK
        if typ == T_FLUSH:
            if not self.features & (1 << BLK_F_FLUSH):
                raise DriverError("FLUSH without VIRTIO_BLK_F_FLUSH negotiated")
            st["flushes"] += 1
            os.fdatasync(self.img)
            return status_gpa, 1, S_OK
        if typ == T_GET_ID:
            st["get_id"] += 1
            ident = SERIAL.ljust(20, b"\0")[:wbytes - 1]
            o = 0
            for a, ln in data_in:
                self.mem.write(a, ident[o:o + ln])
                o += ln
            return status_gpa, 1 + len(ident), S_OK
        st["other"] += 1
        return status_gpa, 1, S_UNSUPP

    def process(self):
        """Take every available request, serve it, complete it (as the fault says)."""
        vq = self.vq
        try:
            while vq.started and vq.enabled and not vq.stalled and self.process_batch():
                pass
        except DriverError as e:
            self.driver_error(str(e))

    def process_batch(self):
        """One pass over the avail ring; False when it held nothing new."""
        vq = self.vq
        avail_idx = self.ring16("avail", 2)
        pending = (avail_idx - vq.last_avail) & 0xFFFF
        if pending == 0:
            return False
        if pending > vq.num:
            raise DriverError("avail->idx %d is %d entries past %d on a ring of %d"
                              % (avail_idx, pending, vq.last_avail & 0xFFFF, vq.num))
        heads = []
        for _ in range(pending):
            heads.append(self.ring16("avail", 4 + 2 * (vq.last_avail % vq.num)))
            vq.last_avail += 1
        entries, jump, call, swallow = [], 0, True, False
        for head in heads:
            n = self.seq
            self.seq += 1
            f = self.fault if n >= self.a.after and (self.fault in PERSISTENT or (
                self.fault in ONE_SHOT and n == self.a.after)) else None
            first = n == self.a.after
            if f == "stall":
                self.faulted("request %d (head %d) and every later one never completed" % (n, head))
                vq.stalled = True
            if vq.stalled:
                break
            try:
                status_gpa, length, status = self.serve(head, f == "ioerr")
            except DriverError as e:
                raise DriverError("request %d (head %d): %s" % (n, head, e))
            if f == "ioerr" and first:
                self.faulted("request %d and every later one fail with VIRTIO_BLK_S_IOERR" % n)
            if f == "bad-status":
                status = 0x55
                self.faulted("request %d (head %d) served, status byte 0x55" % (n, head))
            self.mem.write(status_gpa, bytes([status]))
            used_id, used_len = head, length
            if swallow:  # used-twice: this one's entry went to the duplicate
                swallow = False
                self.log("request %d (head %d) served, never completed (its entry was the duplicate)"
                         % (n, head))
                continue
            if f == "used-id-range":
                used_id = vq.num + 3
                self.faulted("request %d (head %d) completed as used id %d on a ring of %d"
                             % (n, head, used_id, vq.num))
            elif f == "used-id-free":
                # Not one of this batch's heads either: a driver that resubmits while it
                # drains (Quill) may already have that head in flight again.
                used_id = max(i for i in range(vq.num) if i not in heads)
                self.faulted("request %d (head %d) completed as used id %d, which is not in flight"
                             % (n, head, used_id))
            elif f == "used-len":
                used_len = length + 65536
                self.faulted("request %d (head %d) used length %d, %d bytes writable"
                             % (n, head, used_len, length))
            entries.append((used_id, used_len))
            if f == "used-twice":
                entries.append((used_id, used_len))
                swallow = True
                self.faulted("request %d (head %d) completed twice in one batch" % (n, head))
            elif f == "used-idx-jump":
                jump = vq.num + 1
                self.faulted("request %d (head %d) completed, then used->idx moved %d further"
                             % (n, head, jump))
            elif f == "no-call":
                if first:
                    self.faulted("request %d and every later one complete without a call" % n)
                call = False
            elif f == "cfg-change":
                self.config_change()
        self.complete(entries, jump, call)
        return True

    def complete(self, entries, jump, call):
        vq = self.vq
        if not entries:
            return
        for used_id, used_len in entries:
            mm, o = self.ring_at("used", 4 + 8 * (vq.used_idx % vq.num), 8)
            struct.pack_into("<II", mm, o, used_id & 0xFFFFFFFF, used_len & 0xFFFFFFFF)
            vq.used_idx += 1
        vq.used_idx += jump
        # x86 keeps stores in order: the entries are visible before the index.
        mm, o = self.ring_at("used", 2, 2)
        struct.pack_into("<H", mm, o, vq.used_idx & 0xFFFF)
        if call and vq.call is not None:
            os.write(vq.call, struct.pack("<Q", 1))

    def config_change(self):
        self.capacity = BAD_CAPACITY
        self.stats["config_changes"] += 1
        if self.slave is None:
            self.log("cannot send CONFIG_CHANGE_MSG: QEMU gave no back-end channel")
            return
        self.slave.sendall(struct.pack("<III", SLAVE_CONFIG_CHANGE_MSG, VERSION, 0))
        self.faulted("capacity now %d sectors; CONFIG_CHANGE_MSG sent" % BAD_CAPACITY)

    def driver_error(self, why):
        """The guest broke a rule: say so and stop the ring (vu_panic does the same)."""
        self.stats["driver_errors"] += 1
        self.log("driver error: " + why)
        self.vq.stalled = True

    # ---- main loop ----

    def run(self, listener):
        self.conn, _ = listener.accept()
        listener.close()
        self.poller.register(self.conn, select.POLLIN)
        while True:
            for fd, ev in self.poller.poll():
                if fd == self.conn.fileno():
                    if not self.handle_message():
                        return
                elif fd == self.vq.kick:
                    try:
                        os.read(fd, 8)
                    except BlockingIOError:
                        pass
                    self.process()


def listen(path):
    """Listen on path, which appears only once connections are accepted."""
    tmp = path + ".tmp"
    for p in (path, tmp):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(tmp)
    s.listen(1)
    os.rename(tmp, path)
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--socket", required=True, help="unix socket to listen on (QEMU connects)")
    p.add_argument("--image", required=True, help="raw disk image to serve")
    p.add_argument("--fault", default="none", choices=FAULTS)
    p.add_argument("--after", type=int, default=0, help="requests served correctly before the fault")
    p.add_argument("--no-indirect", action="store_true", help="do not offer VIRTIO_F_INDIRECT_DESC")
    p.add_argument("-v", dest="verbose", action="store_true", help="log every vhost-user message")
    a = p.parse_args()

    def stop(signum, _frame):
        raise SystemExit("signal %d" % signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    be = Backend(a)
    listener = listen(a.socket)
    be.log("serving %s (%d sectors) on %s, fault %s after %d requests"
           % (a.image, be.capacity, a.socket, a.fault, a.after))
    status = 0
    try:
        be.run(listener)
        be.log("QEMU closed the connection")
    except SystemExit as e:
        be.log("stopped by %s" % e)
    except DriverError as e:
        be.stats["driver_errors"] += 1
        be.log("driver error: %s" % e)
    except Exception as e:  # a bug of ours, not the guest's: exit non-zero
        be.log("internal error: %r" % e)
        status = 1
    finally:
        try:
            os.unlink(a.socket)
        except OSError:
            pass
    be.log(be.summary())
    return status


if __name__ == "__main__":
    sys.exit(main())
