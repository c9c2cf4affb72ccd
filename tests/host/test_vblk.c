/*
 * Host tests of the virtio-blk driver (drivers/blk/virtio_blk.c, built as is
 * with tests/host/simdev_shim in front of arch/) over a fake virtio transport
 * and a simulated block device on a RAM disk. The device checks what the
 * driver sends (header, data direction, seg_max/size_max, alignment, range)
 * and completes in random order; it can answer with errors, bad status
 * bytes, bad used ids, or not at all. What QEMU cannot be made to do is
 * tested here: small seg_max/size_max, a hostile device, the watchdog on a
 * fake clock.
 *
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/host/hosttest.h"

#include "drivers/blk/blk.h"
#include "drivers/blk/virtio_blk.h"
#include "drivers/virtio/virtio.h"
#include "tests/host/simdev_packed.h"
#include "tests/host/simdev_virtq.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- the kernel services the driver uses ---- */

/* The console: what the driver printed since the last console_clear(), passed on to stdout. */
static char t_console[32768];
static size_t t_console_len;

int printf(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	if (len < sizeof(t_console) - t_console_len) {
		memcpy(t_console + t_console_len, line, len + 1);
		t_console_len += len;
	}
	fputs(line, stdout);
	return n;
}

static void console_clear(void)
{
	t_console_len = 0;
	t_console[0] = 0;
}

/* Lines of the console since console_clear() that contain needle. */
static unsigned console_count(const char *needle)
{
	unsigned n = 0;
	for (const char *p = t_console; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

uint64_t simdev_tsc;
bool simdev_irqs_masked;
static const char *t_cmd_poll, *t_cmd_timeout;

void *kzalloc(size_t n);
void *kzalloc(size_t n)
{
	return calloc(1, n);
}

void kfree(void *p);
void kfree(void *p)
{
	free(p);
}

uint64_t frames_alloc(size_t npages, uint64_t align);
uint64_t frames_alloc(size_t npages, uint64_t align)
{
	void *p = aligned_alloc(align, npages * 4096);
	if (p)
		memset(p, 0, npages * 4096);
	return (uint64_t)(uintptr_t)p;
}

void frames_free(uint64_t phys, size_t npages);
void frames_free(uint64_t phys, size_t npages)
{
	free((void *)(uintptr_t)phys);
}

const char *cmdline_get(const char *key);
const char *cmdline_get(const char *key)
{
	if (!strcmp(key, "blk.poll"))
		return t_cmd_poll;
	if (!strcmp(key, "blk.timeout_ms"))
		return t_cmd_timeout;
	return NULL;
}

bool cmdline_flag(const char *key, bool dflt);
bool cmdline_flag(const char *key, bool dflt)
{
	const char *v = cmdline_get(key);
	return v ? !strcmp(v, "1") : dflt;
}

int cmdline_parse_uint(const char *v, uint64_t *out);
int cmdline_parse_uint(const char *v, uint64_t *out)
{
	char *end;
	*out = strtoull(v, &end, 0);
	return *end ? -EINVAL : 0;
}

int cmdline_valid_bool(const char *v);
int cmdline_valid_bool(const char *v)
{
	return 0;
}

int cmdline_valid_uint(const char *v);
int cmdline_valid_uint(const char *v)
{
	return 0;
}

int irq_register(int vector, void (*handler)(void *), void *ctx)
{
	return 0;
}

static int t_vectors_taken; /* irq_alloc_vector() less irq_free_vector() */

int irq_alloc_vector(void)
{
	t_vectors_taken++;
	return 100;
}

void irq_free_vector(int vector)
{
	t_vectors_taken--;
}

void lapic_timer_oneshot_ns(int vector, uint64_t ns)
{
}

uint64_t time_ns(void)
{
	return simdev_tsc;
}

void udelay(uint64_t us)
{
	simdev_tsc += us * 1000;
}

/* ---- the fake transport and the simulated device ---- */

enum fake_mode { FAKE_OK, FAKE_HOLD, FAKE_BAD_STATUS, FAKE_BAD_ID, FAKE_STARVE };
/* What the device puts in a used length: the bytes it wrote, the whole chain's length, or junk. */
enum fake_used_len { USED_LEN_WRITTEN, USED_LEN_CHAIN, USED_LEN_HUGE };

struct fake {
	struct virtio_dev vd;
	uint8_t status;
	uint64_t offered, accepted;
	uint64_t required;       /* FEATURES_OK fails unless the driver accepts these (QEMU: iommu_platform=on) */
	bool refuse_features, unstable_config;
	bool reset_stuck;         /* a reset never completes: status never reads 0, the rings stay live */
	unsigned irq_refuse;      /* 1 << plan: intr_setup plans whose vectors the device refuses */
	bool no_intx;             /* no INTx line either */
	enum virtio_irq_plan irq_plan;
	bool irq_held;            /* interrupts set up and not released */
	unsigned irq_releases;
	bool refuse_queue;        /* queue_setup fails (the queue is unusable) */
	bool refuse_driver_ok;    /* DRIVER_OK answered with DEVICE_NEEDS_RESET */
	unsigned resets_failed;
	uint8_t gen;
	struct virtio_blk_config cfg;
	uint16_t qmax;
	struct virtq *vq;
	virtio_queue_fn qfn;
	virtio_config_fn cfn;
	void *ctx;
	uint8_t *disk;
	uint64_t disk_bytes;
	enum fake_mode mode;
	enum fake_used_len used_len;
	bool used_no_write;       /* packed: used descriptors without VIRTQ_DESC_F_WRITE */
	uint64_t ioerr_sector;   /* IN/OUT touching it fail with IOERR (UINT64_MAX: none) */
	bool unsupp_get_id;
	unsigned notifies, interrupts, requests, flushes, discards, wzs;
	uint64_t delay_ns;        /* completes only this long after requests arrive (fake clock) */
	uint64_t arrived;         /* when the held requests began to wait */
	uint64_t pauses;          /* cpu_pause() calls: how long the driver spun */
	uint32_t max_segs_seen, max_seg_len_seen;
	uint64_t order[4096];     /* first sector of each data request, in take order */
	unsigned config_reads;
	char bad_config_access[64]; /* the first configuration read that is not one field at its width */
	bool tear_capacity;       /* the next read of capacity's low half changes it to torn_capacity */
	uint64_t torn_capacity;
	unsigned norder;
	char err[200];            /* first protocol violation by the driver */
};

static struct fake fk;
static struct simdev sd;   /* the device side of a split ring ... */
static struct psim psd;    /* ... or of a packed one (the driver chose: vq->packed) */
static bool fake_packed;   /* setup() offers VIRTIO_F_RING_PACKED */

/* ---- the simulated device's ring, split or packed ---- */

static bool dev_packed(void)
{
	return fk.vq && fk.vq->packed;
}

static unsigned dev_nheld(void)
{
	return dev_packed() ? psd.nheld : sd.nheld;
}

static const char *dev_error(void)
{
	return dev_packed() ? psd.error : sd.error;
}

static void dev_take_all(void)
{
	if (dev_packed())
		psim_take_all(&psd);
	else
		simdev_take_all(&sd);
}

/* The buffers of held chain i in order (at most max); returns how many. */
static unsigned dev_bufs(unsigned i, struct simdev_buf *out, unsigned max)
{
	if (!dev_packed())
		return simdev_bufs(&sd, i, out, max);
	const struct psim_chain *c = &psd.held[i];
	unsigned n = c->nbufs < max ? c->nbufs : max;
	for (unsigned k = 0; k < n && k < PSIM_MAX_BUFS; k++)
		out[k] = (struct simdev_buf){(void *)(uintptr_t)c->buf[k].addr, c->buf[k].len,
					     c->buf[k].writable};
	return n;
}

static void dev_complete_raw(unsigned i, uint32_t len)
{
	if (!dev_packed()) {
		simdev_complete_raw(&sd, i, len);
		return;
	}
	uint16_t pos = psd.used_pos;
	psim_complete_raw(&psd, i, len);
	if (fk.used_no_write) /* as QEMU 7.2 writes used descriptors: never WRITE, whatever len says */
		psd.desc[pos].flags &= (uint16_t)~VIRTQ_DESC_F_WRITE;
}

/* Bytes of every buffer of held chain i, readable and writable: what old devices put in used len. */
static uint32_t dev_chain_bytes(unsigned i)
{
	struct simdev_buf b[300];
	unsigned n = dev_bufs(i, b, 300);
	uint32_t total = 0;
	for (unsigned k = 0; k < n; k++)
		total += b[k].len;
	return total;
}

static void dev_push_bad_id(void)
{
	if (dev_packed())
		psim_push_raw(&psd, 9999, 1, psd.used_wrap, 1);
	else
		simdev_push_raw(&sd, 9999, 1, 1);
}

static bool dev_should_interrupt(void)
{
	return dev_packed() ? psim_should_interrupt(&psd) : simdev_should_interrupt(&sd);
}

static uint64_t dev_indirect_seen(void)
{
	return dev_packed() ? psd.indirect_seen : sd.indirect_seen;
}

static struct fake *fake(struct virtio_dev *vd)
{
	return vd->transport;
}

static uint8_t f_get_status(struct virtio_dev *vd)
{
	return fake(vd)->status;
}

static int f_set_status(struct virtio_dev *vd, uint8_t st)
{
	struct fake *f = fake(vd);
	if (st == 0) {
		if (f->reset_stuck) {
			/* The transport's bounded wait for status 0, in vain; the device goes on. */
			simdev_tsc += 1000000000ull;
			f->resets_failed++;
			return -ETIMEDOUT;
		}
		f->status = 0;
		f->vq = NULL;
		return 0;
	}
	if ((st & VIRTIO_STATUS_FEATURES_OK) && !(f->status & VIRTIO_STATUS_FEATURES_OK) &&
	    (f->refuse_features || (f->accepted & ~f->offered) || (f->required & ~f->accepted)))
		st &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	f->status = st | (f->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	if ((st & VIRTIO_STATUS_DRIVER_OK) && f->refuse_driver_ok)
		f->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	return 0;
}

static uint64_t f_get_features(struct virtio_dev *vd)
{
	return fake(vd)->offered;
}

static void f_set_features(struct virtio_dev *vd, uint64_t f)
{
	fake(vd)->accepted = f;
}

static uint8_t f_generation(struct virtio_dev *vd)
{
	struct fake *f = fake(vd);
	return f->unstable_config ? f->gen++ : f->gen;
}

/*
 * virtio 1.2, 5.2.4, written out from the specification: each field's offset
 * and width. 4.1.3.1: a driver reads each with an access of its own width, a
 * 64-bit field as two 32-bit accesses; nothing else is a field.
 */
static const struct {
	unsigned off, width;
} spec_blk_fields[] = {
	{0, 8},                                   /* capacity */
	{8, 4}, {12, 4},                          /* size_max, seg_max */
	{16, 2}, {18, 1}, {19, 1},                /* geometry: cylinders, heads, sectors */
	{20, 4},                                  /* blk_size */
	{24, 1}, {25, 1}, {26, 2}, {28, 4},       /* topology */
	{32, 1}, {34, 2},                         /* writeback, num_queues */
	{36, 4}, {40, 4}, {44, 4}, {48, 4}, {52, 4}, /* discard, write zeroes limits */
	{56, 1},                                  /* write_zeroes_may_unmap */
};

static bool spec_blk_access(unsigned off, unsigned width)
{
	for (size_t i = 0; i < sizeof(spec_blk_fields) / sizeof(spec_blk_fields[0]); i++) {
		unsigned f = spec_blk_fields[i].off, w = spec_blk_fields[i].width;
		if (w == 8 ? width == 4 && (off == f || off == f + 4) : off == f && width == w)
			return true;
	}
	return false;
}

static uint32_t f_config_read(struct virtio_dev *vd, unsigned off, unsigned width)
{
	struct fake *f = fake(vd);
	uint32_t v = 0;
	f->config_reads++;
	if (!spec_blk_access(off, width) && !f->bad_config_access[0])
		snprintf(f->bad_config_access, sizeof(f->bad_config_access), "%u-byte read at offset %u",
			 width, off);
	if (off + width <= sizeof(fk.cfg))
		memcpy(&v, (uint8_t *)&f->cfg + off, width);
	if (f->tear_capacity && off == 0 && width == 4) {
		/* The capacity changes between its two halves (a resize racing the read). */
		f->tear_capacity = false;
		f->cfg.capacity = f->torn_capacity;
		f->gen++;
	}
	return v;
}

static uint16_t f_queue_max(struct virtio_dev *vd, unsigned q)
{
	return q == 0 ? fake(vd)->qmax : 0;
}

static int f_queue_setup(struct virtio_dev *vd, unsigned q, struct virtq *vq)
{
	if (fake(vd)->refuse_queue)
		return -EINVAL;
	fake(vd)->vq = vq;
	if (vq->packed)
		psim_attach(&psd, vq);
	else
		simdev_attach(&sd, vq);
	return 0;
}

static void f_notify(struct virtio_dev *vd, unsigned q)
{
	fake(vd)->notifies++;
}

/*
 * Interrupts the way the driver asks, as a PCI function with MSI-X and an
 * INTx line would set them up; the device may refuse a plan's vectors (as
 * one reading back VIRTIO_MSI_NO_VECTOR) or have no INTx line.
 */
static int f_intr_setup(struct virtio_dev *vd, unsigned nq, enum virtio_irq_plan plan, virtio_queue_fn qfn,
			virtio_config_fn cfn, void *ctx)
{
	struct fake *f = fake(vd);
	if (f->irq_held && !f->err[0])
		snprintf(f->err, sizeof(f->err), "intr_setup (plan %u) over interrupts already set up", plan);
	if (f->irq_refuse & (1u << plan))
		return -EIO;
	if (plan == VIRTIO_IRQ_INTX && f->no_intx)
		return -ENODEV;
	f->qfn = qfn;
	f->cfn = cfn;
	f->ctx = ctx;
	f->irq_plan = plan;
	f->irq_held = true;
	vd->intr_mode = plan == VIRTIO_IRQ_INTX ? VIRTIO_INTR_INTX
			: plan == VIRTIO_IRQ_CONFIG_ONLY ? VIRTIO_INTR_POLL : VIRTIO_INTR_MSIX;
	return 0;
}

static void f_intr_release(struct virtio_dev *vd)
{
	struct fake *f = fake(vd);
	f->irq_held = false;
	f->irq_releases++;
	vd->intr_mode = VIRTIO_INTR_POLL;
}

static const struct virtio_ops fake_ops = {
	.get_status = f_get_status,
	.set_status = f_set_status,
	.get_features = f_get_features,
	.set_features = f_set_features,
	.config_generation = f_generation,
	.config_read = f_config_read,
	.queue_max = f_queue_max,
	.queue_setup = f_queue_setup,
	.notify = f_notify,
	.intr_setup = f_intr_setup,
	.intr_release = f_intr_release,
};

static void fake_fail(const char *what, uint64_t a)
{
	if (!fk.err[0])
		snprintf(fk.err, sizeof(fk.err), "%s (%llu)", what, (unsigned long long)a);
}

static bool has(uint64_t features, unsigned bit)
{
	return (features >> bit) & 1;
}

/* Carry out held chain i on the RAM disk; returns the used length, *statusp the status byte. */
static uint32_t fake_execute(unsigned i, uint8_t **statusp)
{
	struct simdev_buf b[300];
	unsigned n = dev_bufs(i, b, 300);
	/* A blk_size that is no block size at all: the device takes the protocol's 512-byte unit. */
	uint32_t bs = fk.cfg.blk_size;
	bool bs_ok = bs >= 512 && bs <= 65536 && !(bs & (bs - 1));
	uint32_t lbs = has(fk.accepted, VIRTIO_BLK_F_BLK_SIZE) && bs_ok ? bs : 512;
	if (n < 2 || b[0].writable || b[0].len != sizeof(struct virtio_blk_req_hdr) ||
	    !b[n - 1].writable || b[n - 1].len != 1) {
		fake_fail("chain is not header .. status", n);
		*statusp = NULL;
		return 0;
	}
	struct virtio_blk_req_hdr *h = b[0].p;
	uint8_t *status = b[n - 1].p;
	*statusp = status;
	struct simdev_buf *data = &b[1];
	unsigned nd = n - 2;
	uint64_t total = 0;
	for (unsigned k = 0; k < nd; k++) {
		total += data[k].len;
		if (data[k].len > fk.max_seg_len_seen)
			fk.max_seg_len_seen = data[k].len;
		/* A size_max below a sector is taken as one sector (the driver's smallest piece). */
		if (has(fk.accepted, VIRTIO_BLK_F_SIZE_MAX) && data[k].len > MAX(fk.cfg.size_max, 512u))
			fake_fail("segment larger than size_max", data[k].len);
	}
	fk.requests++;
	*status = VIRTIO_BLK_S_OK;
	switch (h->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool in = h->type == VIRTIO_BLK_T_IN;
		if (nd > fk.max_segs_seen)
			fk.max_segs_seen = nd;
		if (has(fk.accepted, VIRTIO_BLK_F_SEG_MAX) && nd > MAX(fk.cfg.seg_max, 1u))
			fake_fail("more data segments than seg_max", nd);
		if (nd == 0 || total % lbs || (h->sector * 512) % lbs)
			fake_fail("data not a whole number of aligned blocks", h->sector);
		if (h->sector * 512 + total > fk.disk_bytes)
			fake_fail("request beyond capacity", h->sector);
		if (!in && has(fk.accepted, VIRTIO_BLK_F_RO))
			fake_fail("write to a read-only device", h->sector);
		if (fk.ioerr_sector >= h->sector && fk.ioerr_sector < h->sector + total / 512) {
			*status = VIRTIO_BLK_S_IOERR;
			return 1;
		}
		uint64_t off = h->sector * 512;
		for (unsigned k = 0; k < nd && !fk.err[0]; k++) {
			if (data[k].writable != in)
				fake_fail("data buffer of the wrong direction", k);
			else if (in)
				memcpy(data[k].p, fk.disk + off, data[k].len);
			else
				memcpy(fk.disk + off, data[k].p, data[k].len);
			off += data[k].len;
		}
		return in ? (uint32_t)total + 1 : 1;
	}
	case VIRTIO_BLK_T_FLUSH:
		fk.flushes++;
		return 1;
	case VIRTIO_BLK_T_GET_ID:
		if (fk.unsupp_get_id) {
			*status = VIRTIO_BLK_S_UNSUPP;
			return 1;
		}
		if (nd != 1 || !data[0].writable)
			fake_fail("GET_ID without one writable buffer", nd);
		memcpy(data[0].p, "fake-serial-0123456789", data[0].len < 20 ? data[0].len : 20);
		return data[0].len + 1;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool wz = h->type == VIRTIO_BLK_T_WRITE_ZEROES;
		struct virtio_blk_discard_write_zeroes *r = data[0].p;
		uint32_t max = wz ? fk.cfg.max_write_zeroes_sectors : fk.cfg.max_discard_sectors;
		if (nd != 1 || data[0].writable || data[0].len != sizeof(*r))
			fake_fail("discard/write-zeroes without one range", nd);
		else if (r->num_sectors > max)
			fake_fail("range above max sectors", r->num_sectors);
		else if ((r->sector + r->num_sectors) * 512 > fk.disk_bytes)
			fake_fail("range beyond capacity", r->sector);
		else if (wz)
			memset(fk.disk + r->sector * 512, 0, (size_t)r->num_sectors * 512);
		wz ? fk.wzs++ : fk.discards++;
		return 1;
	}
	default:
		*status = VIRTIO_BLK_S_UNSUPP;
		return 1;
	}
}

/* The device gets some time: take what is available, finish some of it, maybe interrupt. */
static void fake_run(void)
{
	if (!fk.vq || (fk.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		return;
	unsigned before = dev_nheld();
	dev_take_all();
	/* The order requests reach the device in (held[] keeps arrival order at its end). */
	for (unsigned i = before; i < dev_nheld() && fk.norder < 4096; i++) {
		struct simdev_buf b[2];
		if (dev_bufs(i, b, 2) == 2 && !b[0].writable &&
		    b[0].len == sizeof(struct virtio_blk_req_hdr))
			fk.order[fk.norder++] = ((struct virtio_blk_req_hdr *)b[0].p)->sector;
	}
	if (dev_error()[0] && !fk.err[0])
		snprintf(fk.err, sizeof(fk.err), "ring: %s", dev_error());
	if (before == 0 && dev_nheld())
		fk.arrived = simdev_tsc;
	if (fk.mode == FAKE_HOLD || !dev_nheld() || simdev_tsc - fk.arrived < fk.delay_ns)
		return;
	unsigned todo = 1 + (unsigned)rand() % dev_nheld();
	while (todo-- && dev_nheld()) {
		unsigned i = (unsigned)rand() % dev_nheld();
		if (fk.mode == FAKE_STARVE) { /* never the chain holding sector 0 */
			struct simdev_buf b[1];
			dev_bufs(i, b, 1);
			if (((struct virtio_blk_req_hdr *)b[0].p)->sector == 0)
				continue;
		}
		if (fk.mode == FAKE_BAD_ID) {
			dev_push_bad_id();
			break;
		}
		uint8_t *status;
		uint32_t len = fake_execute(i, &status);
		if (fk.mode == FAKE_BAD_STATUS && status)
			*status = 7;
		if (fk.used_len == USED_LEN_CHAIN)
			len = dev_chain_bytes(i);
		else if (fk.used_len == USED_LEN_HUGE)
			len = 0xffffffffu;
		dev_complete_raw(i, len);
	}
	if (dev_should_interrupt() && fk.vd.intr_mode != VIRTIO_INTR_POLL) {
		fk.interrupts++;
		/* A shared vector or line does not say which queue. */
		fk.qfn(fk.ctx, fk.irq_plan == VIRTIO_IRQ_MSIX_PER_QUEUE ? 0 : VIRTIO_QUEUE_ANY);
	}
}

/*
 * With t_irq_after_rdtsc, every clock read made with interrupts enabled is
 * followed at once by the device's turn and its interrupt, one tick later:
 * whatever the handler stamps is newer than the value the reader holds.
 */
static bool t_irq_after_rdtsc, t_in_rdtsc_irq;

uint64_t simdev_rdtsc(void)
{
	uint64_t t = simdev_tsc;
	if (t_irq_after_rdtsc && !simdev_irqs_masked && !t_in_rdtsc_irq) {
		t_in_rdtsc_irq = true;
		simdev_tsc++;
		fake_run();
		t_in_rdtsc_irq = false;
	}
	return t;
}

void wait_for_interrupt(bool (*pending)(void *ctx), void *ctx);
void wait_for_interrupt(bool (*pending)(void *ctx), void *ctx)
{
	if (pending && pending(ctx))
		return;
	simdev_tsc += 20000; /* 20 us asleep */
	simdev_irqs_masked = false;
	fake_run();
}

void simdev_pause(void)
{
	fk.pauses++;
	simdev_tsc += 1000;
	fake_run();
}

/* ---- set-up ---- */

#define F(b) (1ull << (b))
#define ALL_FEATURES                                                                         \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_INDIRECT_DESC) | F(VIRTIO_F_EVENT_IDX) |         \
	 F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_SIZE_MAX) | F(VIRTIO_BLK_F_BLK_SIZE) |      \
	 F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES) |     \
	 F(VIRTIO_BLK_F_TOPOLOGY) | F(VIRTIO_BLK_F_CONFIG_WCE))

struct fake_opts {
	uint64_t features;
	uint16_t qmax;
	uint32_t seg_max, size_max, blk_size;
	uint64_t disk_bytes;
	bool legacy; /* the transport says legacy: 32 bits, no FEATURES_OK, 4096-aligned used ring */
	void (*prepare)(struct fake *f); /* the test's last word on the fresh device, before attach */
};

/* A fresh fake device; attach the driver to it. */
static int setup(struct fake_opts o, struct blk_dev **bd)
{
	free(fk.disk);
	memset(&fk, 0, sizeof(fk));
	t_irq_after_rdtsc = false; /* a failed race test must not leak its interrupts into the next */
	fk.vd.ops = &fake_ops;
	fk.vd.transport = &fk;
	strcpy(fk.vd.where, "fake");
	fk.vd.device_id = VIRTIO_ID_BLOCK;
	fk.vd.config_len = sizeof(fk.cfg);
	fk.vd.legacy = o.legacy;
	fk.vd.ring_flags = o.legacy ? VIRTQ_LEGACY : 0;
	fk.offered = (o.features ? o.features : ALL_FEATURES) | (fake_packed ? F(VIRTIO_F_RING_PACKED) : 0);
	fk.qmax = o.qmax ? o.qmax : 64;
	fk.disk_bytes = o.disk_bytes ? o.disk_bytes : (4u << 20);
	fk.disk = calloc(1, fk.disk_bytes);
	fk.ioerr_sector = UINT64_MAX;
	fk.cfg.capacity = fk.disk_bytes / 512;
	fk.cfg.seg_max = o.seg_max ? o.seg_max : 126;
	fk.cfg.size_max = o.size_max ? o.size_max : (1u << 20);
	fk.cfg.blk_size = o.blk_size ? o.blk_size : 512;
	fk.cfg.writeback = 1;
	fk.cfg.max_discard_sectors = 16;
	fk.cfg.max_discard_seg = 1;
	fk.cfg.max_write_zeroes_sectors = 24;
	fk.cfg.max_write_zeroes_seg = 1;
	if (o.prepare)
		o.prepare(&fk);
	console_clear();
	return vblk_attach(&fk.vd, "vda", bd);
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 9));
}

static uint8_t *buffer(size_t n)
{
	uint8_t *p = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
	memset(p, 0, n);
	return p;
}

/* ---- tests ---- */

static int t_attach(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach failed");
	HT_CHECK(fk.status == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK), "status %#x", fk.status);
	HT_CHECK(fk.accepted == ALL_FEATURES, "accepted %#llx", (unsigned long long)fk.accepted);
	HT_CHECK(bd->capacity == 8192 && bd->lbs == 512, "capacity %llu lbs %u",
	      (unsigned long long)bd->capacity, bd->lbs);
	HT_CHECK(bd->flags == (BLK_F_FLUSH | BLK_F_DISCARD | BLK_F_WRITE_ZEROES | BLK_F_GET_ID),
	      "flags %#x", bd->flags);
	char line[512];
	vblk_describe(bd, line, sizeof(line));
	HT_CHECK(strstr(line, "queue 64 (indirect), msix") && strstr(line, "EVENT_IDX"), "line: %.200s", line);
	/* Features the device offers but we do not use are left alone. */
	HT_CHECK(setup((struct fake_opts){.features = ALL_FEATURES | F(VIRTIO_BLK_F_GEOMETRY) | F(38)}, &bd) == 0,
		 "attach");
	HT_CHECK(fk.accepted == ALL_FEATURES, "accepted unknown features %#llx",
	      (unsigned long long)fk.accepted);
	return 0;
}

/*
 * A device that needs VIRTIO_F_ACCESS_PLATFORM and VIRTIO_F_ORDER_PLATFORM
 * accepted (point 3; it may fail FEATURES_OK without them, 6.2, as QEMU's
 * iommu_platform=on does): both accepted, named on the boot line, I/O works.
 * On a legacy device, whose features end at bit 31, neither exists.
 */
static void platform_required(struct fake *f)
{
	f->required = F(VIRTIO_F_ACCESS_PLATFORM) | F(VIRTIO_F_ORDER_PLATFORM);
}

static int t_platform_features(void)
{
	struct blk_dev *bd;
	int err = setup((struct fake_opts){.features = ALL_FEATURES | F(VIRTIO_F_ACCESS_PLATFORM) |
							 F(VIRTIO_F_ORDER_PLATFORM),
					   .prepare = platform_required},
			&bd);
	HT_CHECK(err == 0, "attach: %d (%s)", err, t_console);
	HT_CHECK(fk.accepted == (ALL_FEATURES | F(VIRTIO_F_ACCESS_PLATFORM) | F(VIRTIO_F_ORDER_PLATFORM)),
		 "accepted %#llx", (unsigned long long)fk.accepted);
	char line[512];
	vblk_describe(bd, line, sizeof(line));
	HT_CHECK(strstr(line, "ACCESS_PLATFORM ORDER_PLATFORM"), "line: %.300s", line);
	uint8_t *w = buffer(65536), *r = buffer(65536);
	pattern(w, 65536, 11);
	HT_CHECK(blk_write(bd, 0, w, 65536) == 0 && blk_read(bd, 0, r, 65536) == 0 && !memcmp(r, w, 65536),
		 "I/O (%s)", fk.err);
	HT_CHECK(setup((struct fake_opts){.features = (ALL_FEATURES & ~F(VIRTIO_F_VERSION_1)) |
							F(VIRTIO_F_ACCESS_PLATFORM) | F(VIRTIO_F_ORDER_PLATFORM),
					  .legacy = true},
		       &bd) == 0 &&
			 fk.accepted == (ALL_FEATURES & ~F(VIRTIO_F_VERSION_1)),
		 "legacy: accepted %#llx", (unsigned long long)fk.accepted);
	free(w);
	free(r);
	return 0;
}

static int t_attach_failures(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.features = ALL_FEATURES & ~F(VIRTIO_F_VERSION_1)}, &bd) ==
		      -ENODEV && (fk.status & VIRTIO_STATUS_FAILED), "legacy-only device accepted");
	memset(&fk, 0, sizeof(fk));
	fk.refuse_features = true;
	fk.vd.ops = &fake_ops;
	fk.vd.transport = &fk;
	fk.offered = ALL_FEATURES;
	HT_CHECK(vblk_attach(&fk.vd, "vda", &bd) == -EIO && (fk.status & VIRTIO_STATUS_FAILED),
	      "FEATURES_OK refusal not caught");
	HT_CHECK(setup((struct fake_opts){.qmax = 2}, &bd) == -EINVAL, "queue of 2 accepted");
	/* 4 KiB blocks cannot be sent in requests of at most 4 sectors (seg_max 4, size_max 100). */
	HT_CHECK(setup((struct fake_opts){.blk_size = 4096, .seg_max = 4, .size_max = 100}, &bd) == -EINVAL &&
			 (fk.status & VIRTIO_STATUS_FAILED),
		 "4 KiB blocks in requests of 2 KiB accepted");
	free(fk.disk);
	memset(&fk, 0, sizeof(fk));
	fk.unstable_config = true;
	fk.vd.ops = &fake_ops;
	fk.vd.transport = &fk;
	fk.vd.config_len = sizeof(fk.cfg);
	fk.offered = ALL_FEATURES;
	fk.qmax = 64;
	HT_CHECK(vblk_attach(&fk.vd, "vda", &bd) == -EIO, "ever-changing config accepted");
	/* A queue size that is not a power of two: the driver uses the largest one below. */
	HT_CHECK(setup((struct fake_opts){.qmax = 100}, &bd) == 0 && vblk_queue_size(bd) == 64,
	      "queue size from 100");
	return 0;
}

/* A write far larger than seg_max * size_max, then read back: split, in order, whole. */
static int t_split(uint64_t features, uint16_t qmax)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.features = features, .qmax = qmax, .seg_max = 4,
				       .size_max = 4096}, &bd) == 0, "attach");
	HT_CHECK(bd->max_req_bytes == 16384, "max part %u", bd->max_req_bytes);
	uint32_t len = (1u << 20) + 3 * 512;
	uint8_t *w = buffer(len), *r = buffer(len);
	pattern(w, len, 1);
	HT_CHECK(blk_write(bd, 24, w, len) == 0, "write");
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	HT_CHECK(!memcmp(fk.disk + 24 * 512, w, len), "disk content differs");
	HT_CHECK(fk.max_segs_seen <= 4 && fk.max_seg_len_seen <= 4096, "segments %u of up to %u bytes",
	      fk.max_segs_seen, fk.max_seg_len_seen);
	HT_CHECK(fk.requests >= len / 16384, "only %u device requests", fk.requests);
	HT_CHECK(blk_read(bd, 24, r, len) == 0, "read");
	HT_CHECK(!memcmp(r, w, len), "read back differs");
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	free(w);
	free(r);
	return 0;
}

static int t_split_indirect(void)
{
	return t_split(ALL_FEATURES, 64);
}

static int t_split_direct(void)
{
	/* 8 descriptors: at most 6 data segments per request, fewer when the ring is busy. */
	return t_split(ALL_FEATURES & ~F(VIRTIO_F_INDIRECT_DESC) & ~F(VIRTIO_F_EVENT_IDX), 8);
}

/* Over a legacy transport: no VERSION_1, no FEATURES_OK, the legacy ring layout; same I/O. */
static int t_legacy(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.features = ALL_FEATURES & ~F(VIRTIO_F_VERSION_1), .legacy = true},
		       &bd) == 0, "attach");
	HT_CHECK(fk.status == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK),
		 "status %#x", fk.status);
	HT_CHECK(fk.accepted == (ALL_FEATURES & ~F(VIRTIO_F_VERSION_1)), "accepted %#llx",
		 (unsigned long long)fk.accepted);
	HT_CHECK(fk.vq && fk.vq->device_addr % 4096 == 0 && fk.vq->desc_addr % 4096 == 0,
		 "legacy layout: used ring at %#llx", (unsigned long long)fk.vq->device_addr);
	uint8_t *w = buffer(65536), *r = buffer(65536);
	pattern(w, 65536, 7);
	HT_CHECK(blk_write(bd, 8, w, 65536) == 0 && blk_read(bd, 8, r, 65536) == 0, "I/O");
	HT_CHECK(!memcmp(r, w, 65536) && !fk.err[0], "read back differs (%s)", fk.err);
	free(w);
	free(r);
	return 0;
}

static unsigned q_done;
static void q_done_fn(struct blk_req *r)
{
	q_done++;
	((struct blk_req *)r)->ctx = (void *)((uintptr_t)r->ctx + 1);
}

/* 1000 requests at once on a 16-entry ring: software queue, issue in order, each done once. */
static int t_queue(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.qmax = 16}, &bd) == 0, "attach");
	enum { N = 1000 };
	static struct blk_req req[N];
	uint8_t *buf = buffer(N * 512);
	pattern(buf, N * 512, 2);
	q_done = 0;
	for (unsigned k = 0; k < N; k++) {
		blk_req_init(&req[k], BLK_OP_WRITE, k * 3, buf + k * 512, 512, q_done_fn, NULL);
		HT_CHECK(blk_submit(bd, &req[k]) == 0, "submit %u", k);
	}
	HT_CHECK(q_done == 0, "completion inside blk_submit");
	blk_kick(bd);
	while (q_done < N)
		HT_CHECK(bd->ops->wait(bd) == 0 || q_done == N, "wait failed at %u", q_done);
	for (unsigned k = 0; k < N; k++) {
		HT_CHECK(req[k].ctx == (void *)1, "request %u completed %lu times", k, (unsigned long)(uintptr_t)req[k].ctx);
		HT_CHECK(req[k].status == 0, "request %u: %d", k, req[k].status);
		HT_CHECK(!memcmp(fk.disk + k * 3 * 512, buf + k * 512, 512), "sector %u", k * 3);
	}
	for (unsigned k = 0; k < N; k++)
		HT_CHECK(fk.order[k] == k * 3, "device saw request %u out of order (sector %llu)", k,
		      (unsigned long long)fk.order[k]);
	HT_CHECK(bd->inflight == 0 && !fk.err[0], "inflight %u, device: %s", bd->inflight, fk.err);
	HT_CHECK(fk.notifies < N / 4, "%u notifications for %u requests", fk.notifies, N);
	free(buf);
	return 0;
}

static int t_status_errors(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	uint8_t *buf = buffer(8192);
	fk.ioerr_sector = 100;
	HT_CHECK(blk_write(bd, 96, buf, 8192) == -EIO, "IOERR not -EIO");
	HT_CHECK(blk_write(bd, 0, buf, 8192) == 0, "next write failed");
	fk.unsupp_get_id = true;
	struct blk_req r;
	blk_req_init(&r, BLK_OP_GET_ID, 0, buf, 20, NULL, NULL);
	HT_CHECK(blk_sync(bd, &r) == -EOPNOTSUPP, "UNSUPP not -EOPNOTSUPP");
	fk.unsupp_get_id = false;
	HT_CHECK(blk_sync(bd, &r) == 0 && !memcmp(buf, "fake-serial-01234567", 20), "GET_ID");
	HT_CHECK(!bd->broken && bd->stats.errors == 2, "broken %d errors %llu", bd->broken,
	      (unsigned long long)bd->stats.errors);
	free(buf);
	return 0;
}

/*
 * A misbehaving device: everything outstanding fails with -ENODEV, exactly
 * once. With sg, each request is three segments that go as two device
 * requests (seg_max 4, size_max 4096), so requests die with parts done,
 * parts on the ring and parts not yet issued.
 */
static int t_hostile_with(enum fake_mode mode, const char *what, bool sg)
{
	struct blk_dev *bd;
	struct fake_opts o = {.qmax = 16};
	if (sg) {
		o.seg_max = 4;
		o.size_max = 4096;
	}
	HT_CHECK(setup(o, &bd) == 0, "attach");
	enum { N = 40, SG_BYTES = 20480 };
	static struct blk_req req[N];
	static struct blk_seg segs[N][3];
	uint8_t *buf = buffer(N * (sg ? SG_BYTES : 4096));
	q_done = 0;
	for (unsigned k = 0; k < N; k++) {
		if (sg) {
			/* 8 KiB, 4 KiB, 8 KiB: the middle piece first in memory */
			uint8_t *at = buf + (size_t)k * SG_BYTES;
			segs[k][0] = (struct blk_seg){at + 4096, 8192};
			segs[k][1] = (struct blk_seg){at, 4096};
			segs[k][2] = (struct blk_seg){at + 12288, 8192};
			blk_req_init_sg(&req[k], BLK_OP_WRITE, (uint64_t)k * (SG_BYTES / 512), segs[k], 3,
					q_done_fn, NULL);
		} else {
			blk_req_init(&req[k], BLK_OP_WRITE, k * 8, buf + k * 4096, 4096, q_done_fn, NULL);
		}
		HT_CHECK(blk_submit(bd, &req[k]) == 0, "submit");
	}
	blk_kick(bd);
	fk.mode = mode;
	while (q_done < N)
		if (bd->ops->wait(bd) && q_done < N)
			HT_CHECK(0, "%s: wait gave up with %u of %u done", what, q_done, N);
	HT_CHECK(bd->broken && bd->inflight == 0, "%s: broken %d inflight %u", what, bd->broken, bd->inflight);
	unsigned nodev = 0;
	for (unsigned k = 0; k < N; k++) {
		HT_CHECK(req[k].ctx == (void *)1, "%s: request %u done %lu times", what, k,
		      (unsigned long)(uintptr_t)req[k].ctx);
		nodev += req[k].status == -ENODEV;
	}
	HT_CHECK(nodev == N, "%s: %u of %u failed with -ENODEV", what, nodev, N);
	HT_CHECK(fk.status & VIRTIO_STATUS_FAILED, "%s: device not set FAILED", what);
	HT_CHECK(blk_write(bd, 0, buf, 4096) == -ENODEV, "%s: write after broken", what);
	free(buf);
	return 0;
}

static int t_hostile(enum fake_mode mode, const char *what)
{
	return t_hostile_with(mode, what, false);
}

static int t_bad_status(void)
{
	return t_hostile(FAKE_BAD_STATUS, "status byte 7");
}

static int t_bad_id(void)
{
	return t_hostile(FAKE_BAD_ID, "used id 9999");
}

static int t_sg_bad_status(void)
{
	return t_hostile_with(FAKE_BAD_STATUS, "status byte 7, segments", true);
}

static int t_sg_bad_id(void)
{
	return t_hostile_with(FAKE_BAD_ID, "used id 9999, segments", true);
}

static int t_watchdog(void)
{
	uint64_t t0 = simdev_tsc;
	t_cmd_timeout = "2000";
	int err = t_hostile(FAKE_HOLD, "silent device");
	t_cmd_timeout = NULL;
	if (err)
		return err;
	uint64_t waited = simdev_tsc - t0;
	HT_CHECK(waited >= 2000000000ull && waited < 3000000000ull, "watchdog after %llu ms",
	      (unsigned long long)(waited / 1000000));
	return 0;
}

/* One request starved while the others complete: the per-request watchdog. */
static int t_watchdog_starved(void)
{
	struct blk_dev *bd;
	t_cmd_timeout = "1000";
	int err = setup((struct fake_opts){0}, &bd);
	t_cmd_timeout = NULL;
	HT_CHECK(err == 0, "attach");
	uint8_t *buf = buffer(8192);
	static struct blk_req starved;
	blk_req_init(&starved, BLK_OP_WRITE, 0, buf, 4096, q_done_fn, NULL);
	q_done = 0;
	fk.mode = FAKE_STARVE;
	HT_CHECK(blk_submit(bd, &starved) == 0, "submit");
	blk_kick(bd);
	int i, rc = 0;
	for (i = 0; i < 100000 && !bd->broken; i++)
		rc = blk_write(bd, 8, buf + 4096, 4096);
	HT_CHECK(bd->broken && starved.status == -ENODEV && q_done == 1,
		 "after %d other writes (last %d): broken %d, starved status %d", i, rc, bd->broken,
		 starved.status);
	free(buf);
	return 0;
}

/* Keeps a request going: done() puts it back on the ring, as the benchmark loop does. */
static struct blk_dev *race_bd;
static unsigned race_left;
static int race_err;

static void race_done(struct blk_req *r)
{
	if (r->status) {
		race_err = r->status;
		return;
	}
	if (!race_left)
		return;
	race_left--;
	blk_req_init(r, BLK_OP_WRITE, r->sector, r->buf, r->len, race_done, NULL);
	int err = blk_submit(race_bd, r);
	if (err)
		race_err = err;
}

/*
 * Interrupts landing between a waiter's clock read and its watchdog look:
 * the completions they stamp are newer than the waiter's `now`, which must
 * not read as a device silent for 2^64 ticks. Every wait mode, a device
 * that answers after a few ticks.
 */
static int t_watchdog_race(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	uint8_t *buf = buffer(4096);
	t_irq_after_rdtsc = true;
	static const uint8_t modes[] = {BLK_WAIT_IRQ, BLK_WAIT_POLL, BLK_WAIT_HYBRID};
	int rc = 0, i = 0;
	/* Which clock read the completion follows depends on the delay: try each. */
	for (unsigned m = 0; m < 3 && !rc; m++) {
		bd->wait_mode = modes[m];
		for (fk.delay_ns = 0; fk.delay_ns < 16 && !rc; fk.delay_ns++)
			for (i = 0; i < 100 && !rc; i++)
				rc = blk_write(bd, (uint64_t)(i % 64) * 8, buf, 4096);
	}
	fk.delay_ns = 0;
	HT_CHECK(rc == 0 && !bd->broken, "write %d: %d, broken %d", i, rc, bd->broken);
	/*
	 * The per-request look (twice a second): requests that the interrupt
	 * completes and done() resubmits carry stamps newer than `now` too. The
	 * clock jumps 600 ms before each wait so that look runs every time.
	 */
	static struct blk_req reqs[4];
	race_bd = bd;
	race_left = 4000;
	race_err = 0;
	for (unsigned k = 0; k < 4; k++) {
		blk_req_init(&reqs[k], BLK_OP_WRITE, k * 8, buf, 4096, race_done, NULL);
		HT_CHECK(blk_submit(bd, &reqs[k]) == 0, "submit %u", k);
	}
	blk_kick(bd);
	for (fk.delay_ns = 0; (race_left || bd->inflight) && !race_err && !bd->broken;
	     fk.delay_ns = (fk.delay_ns + 1) % 16) {
		bd->wait_mode = modes[race_left % 3];
		simdev_tsc += 600000000;
		fk.arrived = simdev_tsc; /* what it holds finishes delay_ns after the jump */
		rc = bd->ops->wait(bd);
		if (rc && bd->inflight)
			break;
		blk_kick(bd);
	}
	fk.delay_ns = 0;
	t_irq_after_rdtsc = false;
	HT_CHECK(!race_err && !bd->broken && !race_left && !bd->inflight,
		 "queue loop: error %d, broken %d, %u left, %u in flight", race_err, bd->broken, race_left,
		 bd->inflight);
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	free(buf);
	return 0;
}

static int t_poll(void)
{
	struct blk_dev *bd;
	t_cmd_poll = "1";
	int err = setup((struct fake_opts){0}, &bd);
	t_cmd_poll = NULL;
	HT_CHECK(err == 0, "attach");
	HT_CHECK(!strcmp(vblk_intr_mode(bd), "poll"), "mode %s", vblk_intr_mode(bd));
	uint8_t *buf = buffer(65536);
	pattern(buf, 65536, 3);
	HT_CHECK(blk_write(bd, 0, buf, 65536) == 0 && blk_flush(bd) == 0, "write, flush");
	HT_CHECK(fk.interrupts == 0 && fk.flushes == 1, "interrupts %u flushes %u", fk.interrupts, fk.flushes);
	HT_CHECK(!memcmp(fk.disk, buf, 65536), "content");
	free(buf);
	return 0;
}

/* bd->wait_mode, switched between requests on a device with interrupts. */
static int t_wait_modes(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	uint8_t *buf = buffer(4096);
	bd->wait_mode = BLK_WAIT_POLL;
	for (int i = 0; i < 100; i++)
		HT_CHECK(blk_write(bd, (uint64_t)i * 8, buf, 4096) == 0, "poll write %d", i);
	HT_CHECK(fk.interrupts == 0, "%u interrupts while polling", fk.interrupts);
	bd->wait_mode = BLK_WAIT_HYBRID;
	for (int i = 0; i < 100; i++)
		HT_CHECK(blk_write(bd, (uint64_t)i * 8, buf, 4096) == 0, "hybrid write %d", i);
	bd->wait_mode = BLK_WAIT_IRQ;
	unsigned before = fk.interrupts;
	for (int i = 0; i < 100; i++)
		HT_CHECK(blk_write(bd, (uint64_t)i * 8, buf, 4096) == 0, "irq write %d", i);
	HT_CHECK(fk.interrupts >= before + 90, "only %u interrupts for 100 sleeping writes",
		 fk.interrupts - before);
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	free(buf);
	return 0;
}

/* HYBRID follows the device: spins through fast completions, sleeps at once on slow ones. */
static int t_hybrid_adapts(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	uint8_t *buf = buffer(4096);
	bd->wait_mode = BLK_WAIT_HYBRID;
	static const uint64_t delays[] = {10000, 1000000, 10000};
	for (int phase = 0; phase < 3; phase++) {
		fk.delay_ns = delays[phase];
		for (int i = 0; i < 100; i++)
			HT_CHECK(blk_write(bd, (uint64_t)i * 8, buf, 4096) == 0, "write %d", i);
		unsigned irq0 = fk.interrupts;
		uint64_t p0 = fk.pauses;
		for (int i = 0; i < 50; i++)
			HT_CHECK(blk_write(bd, (uint64_t)i * 8, buf, 4096) == 0, "write %d", i);
		unsigned irqs = fk.interrupts - irq0;
		uint64_t spun_us = (fk.pauses - p0) / 50; /* one pause is 1 us on the fake clock */
		if (fk.delay_ns < 100000) /* fast: caught by spinning, hardly an interrupt */
			HT_CHECK(irqs <= 5 && spun_us >= 10, "phase %d (10 us device): %u interrupts, %llu us spun per write",
				 phase, irqs, (unsigned long long)spun_us);
		else /* slow: sleep after the minimum spin, woken by the interrupt */
			HT_CHECK(irqs >= 45 && spun_us <= 10, "phase %d (1 ms device): %u interrupts, %llu us spun per write",
				 phase, irqs, (unsigned long long)spun_us);
	}
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	free(buf);
	return 0;
}

static int t_read_only(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.features = ALL_FEATURES | F(VIRTIO_BLK_F_RO)}, &bd) == 0,
	      "attach");
	uint8_t *buf = buffer(4096);
	HT_CHECK(bd->flags & BLK_F_RO, "not read-only");
	HT_CHECK(blk_write(bd, 0, buf, 4096) == -EROFS, "write not refused");
	struct blk_req r;
	blk_req_init(&r, BLK_OP_DISCARD, 0, NULL, 4096, NULL, NULL);
	HT_CHECK(blk_sync(bd, &r) == -EROFS, "discard not refused");
	HT_CHECK(blk_read(bd, 0, buf, 4096) == 0, "read");
	HT_CHECK(fk.requests == 1 && !fk.err[0], "device saw %u requests: %s", fk.requests, fk.err);
	free(buf);
	return 0;
}

static int t_4k_blocks(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.blk_size = 4096}, &bd) == 0, "attach");
	HT_CHECK(bd->lbs == 4096, "lbs %u", bd->lbs);
	uint8_t *buf = buffer(16384);
	pattern(buf, 16384, 4);
	HT_CHECK(blk_write(bd, 8, buf, 16384) == 0, "aligned write");
	HT_CHECK(blk_write(bd, 8, buf, 512) == -EINVAL, "512-byte write accepted");
	HT_CHECK(blk_write(bd, 4, buf, 4096) == -EINVAL, "misaligned sector accepted");
	HT_CHECK(!memcmp(fk.disk + 4096, buf, 16384) && !fk.err[0], "content / device: %s", fk.err);
	free(buf);
	return 0;
}

static int t_flush(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.features = ALL_FEATURES & ~F(VIRTIO_BLK_F_FLUSH)}, &bd) == 0,
	      "attach");
	HT_CHECK(blk_flush(bd) == 0 && fk.flushes == 0, "flush without FLUSH reached the device");
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	HT_CHECK(blk_flush(bd) == 0 && fk.flushes == 1, "flush with FLUSH: %u", fk.flushes);
	return 0;
}

static int t_discard_zeroes(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	memset(fk.disk, 0xee, 65536);
	struct blk_req r;
	blk_req_init(&r, BLK_OP_WRITE_ZEROES, 8, NULL, 32768, NULL, NULL);
	HT_CHECK(blk_sync(bd, &r) == 0, "write-zeroes");
	HT_CHECK(fk.wzs == 3, "64 sectors in %u write-zeroes of at most 24", fk.wzs);
	for (unsigned k = 0; k < 65536; k++)
		HT_CHECK(fk.disk[k] == ((k >= 4096 && k < 4096 + 32768) ? 0 : 0xee), "byte %u", k);
	blk_req_init(&r, BLK_OP_DISCARD, 0, NULL, 65536, NULL, NULL);
	HT_CHECK(blk_sync(bd, &r) == 0 && fk.discards == 8, "discard in %u parts", fk.discards);
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	return 0;
}

static int t_config_change(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	fk.cfg.capacity = 16384;
	fk.gen++;
	fk.cfn(fk.ctx);
	HT_CHECK(bd->capacity == 16384, "capacity %llu", (unsigned long long)bd->capacity);
	/* DEVICE_NEEDS_RESET with a request outstanding: it fails, nothing hangs. */
	uint8_t *buf = buffer(4096);
	struct blk_req r;
	blk_req_init(&r, BLK_OP_READ, 0, buf, 4096, q_done_fn, NULL);
	q_done = 0;
	fk.mode = FAKE_HOLD;
	HT_CHECK(blk_submit(bd, &r) == 0, "submit");
	blk_kick(bd);
	fk.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	fk.cfn(fk.ctx);
	HT_CHECK(q_done == 1 && r.status == -ENODEV && bd->broken, "done %u status %d broken %d", q_done,
	      r.status, bd->broken);
	free(buf);
	return 0;
}

/*
 * 4.1.3.1: every configuration field is read with an access of its own
 * width (a 64-bit one as two 32-bit halves), at attach and on a
 * configuration change, modern and legacy; a capacity that changes between
 * its halves is read again (the generation counter, 2.5.1; two agreeing
 * passes on legacy).
 */
static int t_config_widths(void)
{
	for (int legacy = 0; legacy < 2; legacy++) {
		struct blk_dev *bd;
		struct fake_opts o = {0};
		if (legacy) {
			o.features = ALL_FEATURES & ~F(VIRTIO_F_VERSION_1);
			o.legacy = true;
		}
		HT_CHECK(setup(o, &bd) == 0, "attach (legacy %d)", legacy);
		HT_CHECK(fk.config_reads > 0 && !fk.bad_config_access[0], "attach (legacy %d): %s", legacy,
			 fk.bad_config_access);
		fk.tear_capacity = true;
		fk.torn_capacity = 0x100000000ull; /* 2 TiB: the high half changes too */
		fk.cfg.capacity = 0xfffffff8ull;
		fk.gen++;
		fk.cfn(fk.ctx);
		HT_CHECK(bd->capacity == 0x100000000ull, "legacy %d: capacity %#llx after a torn read", legacy,
			 (unsigned long long)bd->capacity);
		HT_CHECK(!fk.bad_config_access[0], "config change (legacy %d): %s", legacy, fk.bad_config_access);
	}
	return 0;
}

/* What qemu-storage-daemon's vhost-user-blk export reports (size_max 0), and worse. */
static void cfg_out_of_range(struct fake *f)
{
	struct virtio_blk_config *c = &f->cfg;
	c->size_max = 0;
	c->seg_max = 0;
	c->blk_size = 3000;
	c->topology.physical_block_exp = 40;
	c->writeback = 7;
	c->num_queues = 0;
}

static void cfg_tiny_discard(struct fake *f)
{
	struct virtio_blk_config *c = &f->cfg;
	c->max_discard_sectors = 1;
	c->max_write_zeroes_sectors = 7;
	c->capacity = 8193; /* not whole 4 KiB blocks */
}

static void cfg_huge_capacity(struct fake *f)
{
	f->cfg.capacity = ~0ull;
}

/*
 * Configuration values outside what the driver takes (point 1): each is
 * clamped or ignored, said once on the console, and the device works with
 * what the driver uses instead; the device sees requests within its stated
 * limits as clamped (a sector per segment, one segment per request).
 */
static int t_config_out_of_range(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.features = ALL_FEATURES | F(VIRTIO_BLK_F_MQ), .prepare = cfg_out_of_range},
		       &bd) == 0,
		 "attach refused: %s", t_console);
	static const char *const said[] = {"size_max = 0:", "seg_max = 0:", "blk_size = 3000:",
					   "physical_block_exp = 40:", "writeback = 7:", "num_queues = 0:"};
	for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++)
		HT_CHECK(console_count(said[i]) == 1, "'%s' said %u times", said[i], console_count(said[i]));
	HT_CHECK(bd->lbs == 512 && bd->pbs == 512 && bd->max_req_bytes == 512 && vblk_queue_count(bd) == 1,
		 "lbs %u pbs %u max request %u, %u queues", bd->lbs, bd->pbs, bd->max_req_bytes,
		 vblk_queue_count(bd));
	uint8_t *w = buffer(65536), *r = buffer(65536);
	pattern(w, 65536, 9);
	HT_CHECK(blk_write(bd, 16, w, 65536) == 0 && blk_read(bd, 16, r, 65536) == 0 && blk_flush(bd) == 0,
		 "I/O");
	HT_CHECK(!memcmp(r, w, 65536) && !fk.err[0], "read back differs (%s)", fk.err);
	HT_CHECK(fk.max_seg_len_seen == 512 && fk.max_segs_seen == 1 && fk.requests >= 256,
		 "segments of up to %u bytes, %u per request, %u requests", fk.max_seg_len_seen,
		 fk.max_segs_seen, fk.requests);
	fk.cfn(fk.ctx); /* a configuration change reads capacity (and the cache mode), not the limits */
	for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++)
		HT_CHECK(console_count(said[i]) == 1, "'%s' said again", said[i]);

	/* Discard and write-zeroes limits below one block: not used; capacity rounded to whole blocks. */
	HT_CHECK(setup((struct fake_opts){.blk_size = 4096, .prepare = cfg_tiny_discard}, &bd) == 0, "attach");
	HT_CHECK(console_count("max_discard_sectors = 1:") == 1 && console_count("max_write_zeroes_sectors = 7:") == 1 &&
			 console_count("capacity = 8193:") == 1,
		 "console: %s", t_console);
	HT_CHECK(!(bd->flags & (BLK_F_DISCARD | BLK_F_WRITE_ZEROES)) && bd->capacity == 8192,
		 "flags %#x capacity %llu", bd->flags, (unsigned long long)bd->capacity);
	struct blk_req q;
	blk_req_init(&q, BLK_OP_DISCARD, 0, NULL, 4096, NULL, NULL);
	HT_CHECK(blk_sync(bd, &q) == -EOPNOTSUPP && fk.discards == 0, "discard reached the device");
	HT_CHECK(blk_write(bd, 8, w, 8192) == 0 && !fk.err[0], "write: %s", fk.err);

	/* A capacity no disk has (more than 2^54 sectors, 8 EiB): the device is refused, saying why. */
	HT_CHECK(setup((struct fake_opts){.prepare = cfg_huge_capacity}, &bd) != 0 &&
			 console_count("capacity beyond 2^54 sectors: out of range") == 1,
		 "attached, or did not say why; console: %s", t_console);
	free(w);
	free(r);
	return 0;
}

/* A write and a read of 64 KiB, each as 16 requests at once; 0, or why not. */
static const char *used_len_io(struct blk_dev *bd)
{
	static char why[200];
	static struct blk_req req[16];
	uint8_t *w = buffer(65536), *r = buffer(65536);
	pattern(w, 65536, 13);
	q_done = 0;
	for (unsigned k = 0; k < 16; k++)
		blk_req_init(&req[k], BLK_OP_WRITE, 64 + k * 8, w + k * 4096, 4096, q_done_fn, NULL);
	for (unsigned k = 0; k < 16; k++)
		blk_submit(bd, &req[k]);
	blk_kick(bd);
	while (q_done < 16 && bd->ops->wait(bd) == 0)
		;
	int err = q_done < 16 ? -ENODEV : 0;
	for (unsigned k = 0; k < 16 && !err; k++)
		err = req[k].status;
	if (!err)
		err = blk_read(bd, 64, r, 65536);
	snprintf(why, sizeof(why), "I/O: %d, broken %d, content %s", err, bd->broken,
		 memcmp(r, w, 65536) ? "differs" : "same");
	bool ok = !err && !bd->broken && !memcmp(r, w, 65536);
	free(w);
	free(r);
	return ok ? NULL : why;
}

/*
 * Used lengths (point 4). On the legacy interface old devices put the whole
 * chain's length (or anything) there and drivers ignore it (2.7.8.1,
 * 5.2.6.3): I/O goes on. In a packed used descriptor without WRITE the
 * length is reserved (2.8.3, 2.8.4; QEMU 7.2 never sets WRITE): ignored.
 * Where it means something (a modern split ring, packed with WRITE), a
 * length beyond the writable bytes still breaks the device.
 */
static int t_used_len(void)
{
	static const struct {
		bool legacy, packed, no_write;
		enum fake_used_len len;
		bool tolerated;
		const char *what;
	} cases[] = {
		{true, false, false, USED_LEN_CHAIN, true, "legacy, whole chain's length"},
		{true, false, false, USED_LEN_HUGE, true, "legacy, 0xffffffff"},
		{false, true, true, USED_LEN_HUGE, true, "packed without WRITE, 0xffffffff"},
		{false, false, false, USED_LEN_CHAIN, false, "modern split, whole chain's length"},
		{false, true, false, USED_LEN_HUGE, false, "packed with WRITE, 0xffffffff"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct blk_dev *bd;
		fake_packed = cases[c].packed;
		struct fake_opts o = {0};
		if (cases[c].legacy) {
			o.features = ALL_FEATURES & ~F(VIRTIO_F_VERSION_1);
			o.legacy = true;
		}
		int err = setup(o, &bd);
		fake_packed = false;
		HT_CHECK(err == 0, "%s: attach", cases[c].what);
		HT_CHECK(fk.vq && fk.vq->packed == cases[c].packed, "%s: ring", cases[c].what);
		fk.used_len = cases[c].len;
		fk.used_no_write = cases[c].no_write;
		const char *why = used_len_io(bd);
		if (cases[c].tolerated)
			HT_CHECK(!why && !fk.err[0], "%s: %s %s", cases[c].what, why ? why : "", fk.err);
		else
			HT_CHECK(why && bd->broken && console_count("used length beyond the chain's writable bytes"),
				 "%s: not caught (%s)", cases[c].what, t_console);
	}
	return 0;
}

static void reset_never_completes(struct fake *f)
{
	f->reset_stuck = true;
}

/*
 * A device whose reset never completes (point 5). At attach: not attached,
 * said so. After the watchdog: the requests on its rings are never handed
 * back, even when the device later writes into their buffers and signals
 * them; requests it never saw fail with -ENODEV; new requests fail at once
 * and waits return -ENODEV instead of hanging. Reads, so that the late
 * device writes into the buffers it kept.
 */
static int t_reset_stuck(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.prepare = reset_never_completes}, &bd) == -ETIMEDOUT &&
			 (fk.status & VIRTIO_STATUS_FAILED) && console_count("its reset did not complete") == 1,
		 "attached a device that never finished its reset: %s", t_console);

	t_cmd_timeout = "1000";
	int err = setup((struct fake_opts){.qmax = 16, .features = ALL_FEATURES & ~F(VIRTIO_F_INDIRECT_DESC)}, &bd);
	t_cmd_timeout = NULL;
	HT_CHECK(err == 0, "attach");
	enum { N = 12 }; /* 5 fit a 16-entry ring as 3 descriptors each; 7 wait in the driver */
	static struct blk_req req[N];
	uint8_t *buf = buffer(N * 4096);
	memset(buf, 0x11, N * 4096);
	q_done = 0;
	fk.mode = FAKE_HOLD;
	for (unsigned k = 0; k < N; k++) {
		blk_req_init(&req[k], BLK_OP_READ, k * 8, buf + k * 4096, 4096, q_done_fn, NULL);
		HT_CHECK(blk_submit(bd, &req[k]) == 0, "submit %u", k);
	}
	blk_kick(bd);
	fake_run();
	unsigned on_ring = dev_nheld();
	HT_CHECK(on_ring == 5, "%u requests reached the device", on_ring);
	fk.reset_stuck = true;
	while (bd->ops->wait(bd) == 0)
		;
	HT_CHECK(bd->broken && fk.resets_failed == 1 && console_count("its reset did not complete") == 1,
		 "broken %d, %u failed resets; console: %s", bd->broken, fk.resets_failed, t_console);
	unsigned failed = 0;
	for (unsigned k = 0; k < N; k++) {
		bool held = k < on_ring;
		HT_CHECK(req[k].ctx == (void *)(uintptr_t)(held ? 0 : 1), "request %u (%s) completed %lu times", k,
			 held ? "on the ring" : "never sent", (unsigned long)(uintptr_t)req[k].ctx);
		failed += !held && req[k].status == -ENODEV;
	}
	HT_CHECK(failed == N - on_ring && bd->inflight == on_ring, "%u failed, %u in flight", failed, bd->inflight);
	HT_CHECK(blk_read(bd, 0, buf, 4096) == -ENODEV && bd->ops->wait(bd) == -ENODEV, "a dead device took more");

	/* The device wakes up and finishes what it held: its writes land, nothing is handed back. */
	fk.mode = FAKE_OK;
	for (int i = 0; i < 8 && dev_nheld(); i++)
		fake_run();
	HT_CHECK(dev_nheld() == 0 && fk.interrupts > 0, "device finished %u of %u, %u interrupts",
		 on_ring - dev_nheld(), on_ring, fk.interrupts);
	HT_CHECK(buf[0] == fk.disk[0] && buf[0] != 0x11, "the late device did not write its buffer");
	HT_CHECK(bd->ops->wait(bd) == -ENODEV && bd->inflight == on_ring, "wait, %u in flight", bd->inflight);
	for (unsigned k = 0; k < on_ring; k++)
		HT_CHECK(req[k].ctx == NULL, "request %u handed back after the device wrote it", k);
	free(buf); /* only now: the test knows the device is done with it */
	return 0;
}

static void refuse_per_queue(struct fake *f)
{
	f->irq_refuse = 1u << VIRTIO_IRQ_MSIX_PER_QUEUE;
}

static void refuse_msix(struct fake *f)
{
	f->irq_refuse = (1u << VIRTIO_IRQ_MSIX_PER_QUEUE) | (1u << VIRTIO_IRQ_MSIX_SHARED);
}

static void refuse_all(struct fake *f)
{
	refuse_msix(f);
	f->no_intx = true;
}

/*
 * A device that refuses queue vectors (point 6): one MSI-X vector per queue
 * refused -> one shared vector; MSI-X refused -> INTx; no INTx line either
 * -> polling. Each says why once, and I/O completes by the interrupt (or by
 * polling), 64 sleeping writes.
 */
static int t_irq_fallback(void)
{
	static const struct {
		void (*prepare)(struct fake *f);
		enum virtio_irq_plan plan;
		const char *mode, *said;
	} cases[] = {
		{refuse_per_queue, VIRTIO_IRQ_MSIX_SHARED, "msix",
		 "refused an MSI-X vector per queue: interrupts by one MSI-X vector shared by the queues"},
		{refuse_msix, VIRTIO_IRQ_INTX, "intx", "refused an MSI-X vector per queue: interrupts by INTx"},
		{refuse_all, VIRTIO_IRQ_CONFIG_ONLY, "poll", "no usable interrupt at fake (MSI-X refused, no INTx line): polling"},
	};
	uint8_t *buf = buffer(4096);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct blk_dev *bd;
		HT_CHECK(setup((struct fake_opts){.prepare = cases[c].prepare}, &bd) == 0, "case %zu: attach: %s", c,
			 t_console);
		HT_CHECK(fk.irq_plan == cases[c].plan && !strcmp(vblk_intr_mode(bd), cases[c].mode) &&
				 console_count(cases[c].said) == 1,
			 "case %zu: plan %u, mode %s; console: %s", c, fk.irq_plan, vblk_intr_mode(bd), t_console);
		bd->wait_mode = BLK_WAIT_IRQ;
		for (int i = 0; i < 64; i++)
			HT_CHECK(blk_write(bd, (uint64_t)i * 8, buf, 4096) == 0, "case %zu: write %d", c, i);
		bool polled = cases[c].plan == VIRTIO_IRQ_CONFIG_ONLY;
		HT_CHECK(polled ? fk.interrupts == 0 && (bd->flags & BLK_F_POLLED) : fk.interrupts >= 60,
			 "case %zu: %u interrupts for 64 sleeping writes", c, fk.interrupts);
		HT_CHECK(!fk.err[0] && !bd->broken, "case %zu: %s", c, fk.err);
	}
	free(buf);
	return 0;
}

static void queue_refused(struct fake *f)
{
	f->refuse_queue = true;
}

static void driver_ok_refused(struct fake *f)
{
	f->refuse_driver_ok = true;
}

/*
 * An attach that fails after the interrupts were set up gives them back
 * (point 6): the transport's vectors and handlers, and the driver's own
 * timer vector; a failed device must not signal a vector reused by another.
 */
static int t_irq_release(void)
{
	static const struct {
		void (*prepare)(struct fake *f);
		const char *why;
	} cases[] = {
		{queue_refused, "queue setup refused"},
		{driver_ok_refused, "device rejected DRIVER_OK"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct blk_dev *bd;
		t_vectors_taken = 0;
		HT_CHECK(setup((struct fake_opts){.prepare = cases[c].prepare}, &bd) < 0 &&
				 (fk.status & VIRTIO_STATUS_FAILED) && console_count(cases[c].why) == 1,
			 "%s: attached anyway; console: %s", cases[c].why, t_console);
		HT_CHECK(!fk.irq_held && fk.irq_releases == 1, "%s: interrupts still set up (%u releases)",
			 cases[c].why, fk.irq_releases);
		HT_CHECK(t_vectors_taken == 0, "%s: %d vectors still taken", cases[c].why, t_vectors_taken);
	}
	return 0;
}

static void writethrough(struct fake *f)
{
	f->cfg.writeback = 0;
}

/*
 * The write-cache mode (CONFIG_WCE's writeback field, point 6): a
 * writethrough device needs no FLUSH; a configuration change to
 * write-back makes BLK_F_FLUSH set and flushes reach the device; back to
 * writethrough it stays set (the cache may still hold writes from before).
 */
static int t_config_wce(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.prepare = writethrough}, &bd) == 0, "attach");
	char line[512];
	vblk_describe(bd, line, sizeof(line));
	HT_CHECK(!(bd->flags & BLK_F_FLUSH) && strstr(line, ", writethrough,"), "flags %#x, line %.200s", bd->flags,
		 line);
	HT_CHECK(blk_flush(bd) == 0 && fk.flushes == 0, "a writethrough device was sent FLUSH");
	fk.cfg.writeback = 1;
	fk.gen++;
	fk.cfn(fk.ctx);
	vblk_describe(bd, line, sizeof(line));
	HT_CHECK((bd->flags & BLK_F_FLUSH) && strstr(line, ", write-back,") &&
			 console_count("vda: write cache now write-back") == 1,
		 "after the switch to write-back: flags %#x; console: %s", bd->flags, t_console);
	HT_CHECK(blk_flush(bd) == 0 && fk.flushes == 1, "FLUSH did not reach a write-back device");
	fk.cfg.writeback = 0;
	fk.gen++;
	fk.cfn(fk.ctx);
	HT_CHECK((bd->flags & BLK_F_FLUSH) && console_count("vda: write cache now writethrough") == 1,
		 "after the switch back: flags %#x; console: %s", bd->flags, t_console);
	HT_CHECK(blk_flush(bd) == 0 && fk.flushes == 2 && !fk.err[0], "flush after the switch back (%s)", fk.err);
	return 0;
}

/* ---- scatter-gather ---- */

/*
 * total bytes as pieces of pool for a request: between the fewest pieces of
 * at most max_piece bytes and max_nsegs of them, random lengths (multiples
 * of 512), each in its own slot of max_piece + 512 bytes, the slots in
 * shuffled order and some pieces 512 bytes into theirs. Returns how many.
 */
static unsigned sg_layout(uint8_t *pool, uint32_t total, uint32_t max_piece, unsigned max_nsegs,
			  struct blk_seg *segs)
{
	uint32_t sectors = total / 512, cap = max_piece / 512;
	unsigned lo = (sectors + cap - 1) / cap, hi = sectors < max_nsegs ? sectors : max_nsegs;
	unsigned n = lo + (unsigned)rand() % (hi - lo + 1);
	uint32_t len[BLK_MAX_SEGS];
	unsigned slot[BLK_MAX_SEGS];
	for (unsigned i = 0; i < n; i++) {
		len[i] = 1;
		slot[i] = i;
	}
	for (uint32_t left = sectors - n; left;) {
		unsigned i = (unsigned)rand() % n;
		uint32_t add = 1 + (uint32_t)rand() % cap;
		add = add < cap - len[i] ? add : cap - len[i];
		add = add < left ? add : left;
		len[i] += add;
		left -= add;
	}
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)rand() % i, t = slot[i - 1];
		slot[i - 1] = slot[j];
		slot[j] = t;
	}
	for (unsigned i = 0; i < n; i++)
		segs[i] = (struct blk_seg){pool + (size_t)slot[i] * (max_piece + 512) + 512 * (rand() % 2),
					   len[i] * 512};
	return n;
}

static void sg_gather(const struct blk_seg *segs, unsigned n, uint8_t *out)
{
	for (unsigned i = 0; i < n; i++) {
		memcpy(out, segs[i].buf, segs[i].len);
		out += segs[i].len;
	}
}

/* Submit reqs[0..n) at once, one kick, wait for every one; 0 or a failure. */
static int sg_batch(struct blk_dev *bd, struct blk_req *reqs, unsigned n)
{
	q_done = 0;
	for (unsigned k = 0; k < n; k++)
		HT_CHECK(blk_submit(bd, &reqs[k]) == 0, "submit %u", k);
	blk_kick(bd);
	while (q_done < n)
		HT_CHECK(bd->ops->wait(bd) == 0 || q_done == n, "wait failed at %u of %u", q_done, n);
	for (unsigned k = 0; k < n; k++)
		HT_CHECK(reqs[k].status == 0, "request %u: %d", k, reqs[k].status);
	HT_CHECK(bd->inflight == 0 && !fk.err[0], "inflight %u, device: %s", bd->inflight, fk.err);
	return 0;
}

/*
 * Rounds of scatter-gather writes, then reads of the same ranges cut into
 * other pieces, SG_BATCH requests in flight at once (each in its own part of
 * the disk): the device must see each request's data as its segments in
 * order (the fake device checks seg_max, size_max and whole blocks per
 * device request), and reads must fill the segments in order.
 */
enum { SG_BATCH = 6, SG_ROUNDS = 20 };
static int t_sg_io(struct fake_opts o, uint32_t max_piece, unsigned max_nsegs)
{
	struct blk_dev *bd;
	HT_CHECK(setup(o, &bd) == 0, "attach");
	uint32_t lbs = bd->lbs;
	size_t region = (size_t)max_nsegs * (max_piece + 512);
	uint8_t *wpool = buffer(region * SG_BATCH), *rpool = buffer(region * SG_BATCH);
	static struct blk_seg wsegs[SG_BATCH][BLK_MAX_SEGS], rsegs[SG_BATCH][BLK_MAX_SEGS];
	static struct blk_req req[SG_BATCH];
	uint64_t area = (fk.disk_bytes / SG_BATCH) & ~(uint64_t)(lbs - 1);
	uint64_t most = (uint64_t)max_nsegs * max_piece < area ? (uint64_t)max_nsegs * max_piece : area;
	uint8_t *want = malloc(most), *got = malloc(most);
	uint64_t requests = 0;
	for (unsigned round = 0; round < SG_ROUNDS; round++) {
		uint32_t total[SG_BATCH];
		unsigned wn[SG_BATCH], rn[SG_BATCH];
		pattern(wpool, region * SG_BATCH, round);
		for (unsigned b = 0; b < SG_BATCH; b++) {
			total[b] = lbs * (1 + (uint32_t)(rand() % (most / lbs)));
			wn[b] = sg_layout(wpool + region * b, total[b], max_piece, max_nsegs, wsegs[b]);
			uint64_t at = b * area + lbs * (uint64_t)(rand() % ((area - total[b]) / lbs + 1));
			blk_req_init_sg(&req[b], BLK_OP_WRITE, at / 512, wsegs[b], wn[b], q_done_fn, NULL);
			HT_CHECK(req[b].len == total[b], "blk_req_init_sg: len %u, want %u", req[b].len, total[b]);
		}
		uint32_t before = fk.requests;
		if (sg_batch(bd, req, SG_BATCH))
			return -1;
		requests += fk.requests - before;
		for (unsigned b = 0; b < SG_BATCH; b++) {
			sg_gather(wsegs[b], wn[b], want);
			HT_CHECK(!memcmp(fk.disk + req[b].sector * 512, want, total[b]),
				 "round %u: write %u (%u bytes in %u pieces) is not its pieces in order", round, b,
				 total[b], wn[b]);
		}
		memset(rpool, 0, region * SG_BATCH);
		for (unsigned b = 0; b < SG_BATCH; b++) {
			rn[b] = sg_layout(rpool + region * b, total[b], max_piece, max_nsegs, rsegs[b]);
			blk_req_init_sg(&req[b], BLK_OP_READ, req[b].sector, rsegs[b], rn[b], q_done_fn, NULL);
		}
		if (sg_batch(bd, req, SG_BATCH))
			return -1;
		for (unsigned b = 0; b < SG_BATCH; b++) {
			sg_gather(rsegs[b], rn[b], got);
			HT_CHECK(!memcmp(fk.disk + req[b].sector * 512, got, total[b]),
				 "round %u: read %u (%u bytes in %u pieces) differs from the disk", round, b, total[b],
				 rn[b]);
		}
	}
	HT_CHECK(requests > SG_ROUNDS * SG_BATCH, "only %llu device requests: nothing was split",
		 (unsigned long long)requests);
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	free(want);
	free(got);
	free(wpool);
	free(rpool);
	return 0;
}

/* Small limits: segments split between descriptors (size_max) and requests between parts (seg_max). */
static int t_sg_split_indirect(void)
{
	return t_sg_io((struct fake_opts){.seg_max = 4, .size_max = 4096}, 16384, 40);
}

/* An 8-entry ring without indirect descriptors: parts as long as the free descriptors allow. */
static int t_sg_split_direct(void)
{
	return t_sg_io((struct fake_opts){.features = ALL_FEATURES & ~F(VIRTIO_F_INDIRECT_DESC) &
							~F(VIRTIO_F_EVENT_IDX),
					  .qmax = 8, .seg_max = 4, .size_max = 4096},
		       16384, 40);
}

/* 4 KiB blocks of 512-byte pieces: blocks straddle segments, descriptors and parts. */
static int t_sg_4k(void)
{
	return t_sg_io((struct fake_opts){.blk_size = 4096, .seg_max = 8, .size_max = 2048}, 6144, 48);
}

static int t_sg_4k_direct(void)
{
	return t_sg_io((struct fake_opts){.features = ALL_FEATURES & ~F(VIRTIO_F_INDIRECT_DESC),
					  .blk_size = 4096, .qmax = 16, .seg_max = 14, .size_max = 4096},
		       3072, 64);
}

/* QEMU-like limits, BLK_MAX_SEGS pieces: parts of the driver's most descriptors. */
static int t_sg_many(void)
{
	return t_sg_io((struct fake_opts){.qmax = 256, .seg_max = 254, .disk_bytes = 16u << 20}, 8192,
		       BLK_MAX_SEGS);
}

/*
 * The fsync'd write's shape (a record sector and a data block) and the
 * like go to the device as one request, through one indirect table when
 * negotiated (direct descriptors otherwise), and read back the same way.
 */
static int t_sg_whole_with(uint64_t features, bool indirect)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.features = features, .size_max = 8192}, &bd) == 0, "attach");
	uint8_t *pool = buffer(1 << 20);
	pattern(pool, 1 << 20, 5);
	static const struct {
		uint32_t at[3], len[3];
		unsigned n;
	} shapes[] = {
		{{65536, 4096}, {512, 4096}, 2},
		{{8192, 200704, 4096}, {512, 4096, 512}, 3},
		{{131072, 0}, {4096, 512}, 2},
		{{32768, 65536, 98304}, {8192, 8192, 1024}, 3},
	};
	uint64_t sector = 0;
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		struct blk_seg w[3], r[3];
		uint8_t want[20480], got[20480];
		for (unsigned i = 0; i < shapes[k].n; i++) {
			w[i] = (struct blk_seg){pool + shapes[k].at[i], shapes[k].len[i]};
			r[i] = (struct blk_seg){pool + (512u << 10) + shapes[k].at[i], shapes[k].len[i]};
		}
		struct blk_req req;
		blk_req_init_sg(&req, BLK_OP_WRITE, sector, w, shapes[k].n, NULL, NULL);
		unsigned requests = fk.requests;
		uint64_t ind = dev_indirect_seen();
		HT_CHECK(blk_sync(bd, &req) == 0, "shape %zu: write", k);
		HT_CHECK(fk.requests == requests + 1, "shape %zu: %u device requests for one write", k,
			 fk.requests - requests);
		/* (The split-ring device counts a chain each time it walks it.) */
		HT_CHECK((dev_indirect_seen() > ind) == indirect, "shape %zu: %s descriptors expected", k,
			 indirect ? "indirect" : "direct");
		sg_gather(w, shapes[k].n, want);
		HT_CHECK(!memcmp(fk.disk + sector * 512, want, req.len), "shape %zu: the disk is not the pieces in order", k);
		blk_req_init_sg(&req, BLK_OP_READ, sector, r, shapes[k].n, NULL, NULL);
		HT_CHECK(blk_sync(bd, &req) == 0 && fk.requests == requests + 2, "shape %zu: read", k);
		sg_gather(r, shapes[k].n, got);
		HT_CHECK(!memcmp(got, want, req.len), "shape %zu: read back differs", k);
		sector += req.len / 512 + 8;
	}
	HT_CHECK(!fk.err[0], "device: %s", fk.err);
	free(pool);
	return 0;
}

static int t_sg_whole(void)
{
	return t_sg_whole_with(ALL_FEATURES, true);
}

static int t_sg_whole_direct(void)
{
	return t_sg_whole_with(ALL_FEATURES & ~F(VIRTIO_F_INDIRECT_DESC), false);
}

/*
 * 4 KiB blocks and seg_max 4: a block in more than four pieces cannot be
 * one device request. Such a list is refused at submission, before any of
 * it reaches the device; lists whose every block fits go through.
 */
static int t_sg_unfit(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){.blk_size = 4096, .seg_max = 4, .size_max = 4096}, &bd) == 0,
		 "attach");
	uint8_t *pool = buffer(1 << 20);
	static const struct {
		uint32_t len[10];
		unsigned n;
		bool fits;
	} lists[] = {
		{{512, 512, 512, 512, 512, 512, 512, 512}, 8, false},
		{{2048, 2048}, 2, true},
		{{512, 512, 512, 512, 2048}, 5, false},
		{{12288, 512, 512, 512, 512, 2048}, 6, false},
		{{12288, 1024, 3072, 8192}, 4, true},
		{{3584, 512, 512, 512, 512, 2560}, 6, true},
		{{1024, 1024, 1024, 1024}, 4, true},
	};
	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		struct blk_seg segs[10];
		for (unsigned i = 0; i < lists[k].n; i++)
			segs[i] = (struct blk_seg){pool + 65536 * i, lists[k].len[i]};
		struct blk_req req;
		blk_req_init_sg(&req, BLK_OP_WRITE, 0, segs, lists[k].n, NULL, NULL);
		unsigned requests = fk.requests;
		int err = blk_sync(bd, &req);
		HT_CHECK(err == (lists[k].fits ? 0 : -EINVAL), "list %zu: %d", k, err);
		HT_CHECK(lists[k].fits || fk.requests == requests, "list %zu: refused, yet the device saw it", k);
	}
	HT_CHECK(!fk.err[0] && !bd->broken, "device: %s", fk.err);
	free(pool);
	return 0;
}

/* The same driver over a packed ring: offered, taken, and nothing above the ring changes. */
static int t_packed_attach(void)
{
	struct blk_dev *bd;
	HT_CHECK(setup((struct fake_opts){0}, &bd) == 0, "attach");
	HT_CHECK(fk.vq && fk.vq->packed && has(fk.accepted, VIRTIO_F_RING_PACKED), "packed not taken");
	return 0;
}

#define ON_PACKED(fn)                    \
	static int fn##_packed(void)     \
	{                                \
		fake_packed = true;      \
		return t_packed_attach() ? -1 : fn(); \
	}
ON_PACKED(t_split_indirect)
ON_PACKED(t_split_direct)
ON_PACKED(t_queue)
ON_PACKED(t_status_errors)
ON_PACKED(t_bad_status)
ON_PACKED(t_bad_id)
ON_PACKED(t_watchdog_starved)
ON_PACKED(t_watchdog_race)
ON_PACKED(t_wait_modes)
ON_PACKED(t_discard_zeroes)
ON_PACKED(t_sg_bad_status)
ON_PACKED(t_sg_bad_id)
ON_PACKED(t_sg_split_indirect)
ON_PACKED(t_sg_split_direct)
ON_PACKED(t_sg_4k)
ON_PACKED(t_sg_4k_direct)
ON_PACKED(t_sg_whole)
ON_PACKED(t_sg_whole_direct)

/* blk_check() as the contract in blk.h states it, written plainly, for comparison. */
static int blk_check_reference(const struct blk_dev *dev, const struct blk_req *req)
{
	if (dev->broken)
		return -ENODEV;
	bool data = req->op == BLK_OP_READ || req->op == BLK_OP_WRITE;
	if (req->op > BLK_OP_GET_ID)
		return -EINVAL;
	if (req->op == BLK_OP_FLUSH)
		return req->nsegs ? -EINVAL : 0;
	if ((req->op == BLK_OP_DISCARD && !(dev->flags & BLK_F_DISCARD)) ||
	    (req->op == BLK_OP_WRITE_ZEROES && !(dev->flags & BLK_F_WRITE_ZEROES)) ||
	    (req->op == BLK_OP_GET_ID && !(dev->flags & BLK_F_GET_ID)))
		return -EOPNOTSUPP;
	if (req->nsegs && !data)
		return -EINVAL;
	if (req->op == BLK_OP_GET_ID)
		return req->buf && req->len ? 0 : -EINVAL;
	if (data && req->nsegs) {
		if (req->nsegs > BLK_MAX_SEGS || !req->segs)
			return -EINVAL;
		uint64_t sum = 0;
		for (uint32_t i = 0; i < req->nsegs; i++) {
			const struct blk_seg *g = &req->segs[i];
			if (!g->buf || (uintptr_t)g->buf % BLK_SECTOR_SIZE || g->len == 0 || g->len % BLK_SECTOR_SIZE)
				return -EINVAL;
			sum += g->len;
		}
		if (sum != req->len)
			return -EINVAL;
	} else if (data && (!req->buf || (uintptr_t)req->buf % BLK_SECTOR_SIZE)) {
		return -EINVAL;
	}
	if (req->op != BLK_OP_READ && (dev->flags & BLK_F_RO))
		return -EROFS;
	if (req->len == 0 || req->len % dev->lbs || (req->sector * BLK_SECTOR_SIZE) % dev->lbs)
		return -EINVAL;
	if (req->sector >= dev->capacity || req->len / BLK_SECTOR_SIZE > dev->capacity - req->sector)
		return -ERANGE;
	return 0;
}

/* blk_check()'s fast path for reads and writes agrees with the contract on every edge. */
static int t_blk_check(void)
{
	static uint8_t buf[8192] __attribute__((aligned(4096)));
	const uint32_t lens[] = {0, 1, 511, 512, 1024, 4095, 4096, 8192, 1u << 20};
	const uint64_t sectors[] = {0, 1, 7, 8, 1000, 8184, 8191, 8192, 8193, UINT64_MAX >> 9, UINT64_MAX};
	void *bufs[] = {NULL, buf, buf + 1, buf + 512, buf + 4096};
	unsigned compared = 0;
	for (unsigned lbs = 512; lbs <= 4096; lbs *= 8)
		for (uint32_t flags = 0; flags < 32; flags++)
			for (int broken = 0; broken < 2; broken++) {
				struct blk_dev dev = {.lbs = lbs, .pbs = lbs, .capacity = 8192, .flags = flags,
						      .broken = broken};
				for (unsigned op = 0; op <= BLK_OP_GET_ID + 1; op++)
					for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
						for (size_t sc = 0; sc < sizeof(sectors) / sizeof(sectors[0]); sc++)
							for (size_t b = 0; b < sizeof(bufs) / sizeof(bufs[0]); b++) {
								struct blk_req r = {.op = (uint8_t)op,
										    .sector = sectors[sc],
										    .buf = bufs[b], .len = lens[l]};
								int got = blk_check(&dev, &r);
								int want = blk_check_reference(&dev, &r);
								HT_CHECK(got == want,
									 "op %u lbs %u flags %#x broken %d sector %llu len %u "
									 "buf +%td: %d, contract says %d",
									 op, lbs, flags, broken,
									 (unsigned long long)sectors[sc], lens[l],
									 bufs[b] ? (uint8_t *)bufs[b] - buf : -1, got, want);
								compared++;
							}
			}
	HT_CHECK(compared > 100000, "only %u cases", compared);
	return 0;
}

/* blk_check() of segment lists against the contract, on every op, edge and device kind. */
static int t_blk_check_sg(void)
{
	static uint8_t buf[16384] __attribute__((aligned(4096)));
	static struct blk_seg many[BLK_MAX_SEGS + 1];
	for (unsigned i = 0; i <= BLK_MAX_SEGS; i++)
		many[i] = (struct blk_seg){buf, 512};
	const struct {
		struct blk_seg segs[3];
		uint32_t nsegs;
		bool many;
	} lists[] = {
		{{{buf, 512}}, 1, false},
		{{{buf + 4096, 4096}, {buf, 512}}, 2, false},
		{{{buf, 3584}, {buf + 8192, 512}, {buf + 4096, 4096}}, 3, false},
		{{{buf + 8, 512}}, 1, false},
		{{{buf, 512}, {buf + 4096, 0}}, 2, false},
		{{{buf, 700}, {buf + 4096, 324}}, 2, false},
		{{{NULL, 512}}, 1, false},
		{{{0}}, BLK_MAX_SEGS, true},
		{{{0}}, BLK_MAX_SEGS + 1, true},
		{{{0}}, 8, false}, /* segs NULL */
	};
	const uint32_t lens[] = {0, 512, 1024, 4096, 4608, 8192, 1u << 17};
	const uint64_t sectors[] = {0, 1, 8, 8184, 8191, 8192, UINT64_MAX};
	unsigned compared = 0;
	for (unsigned lbs = 512; lbs <= 4096; lbs *= 8)
		for (uint32_t flags = 0; flags < 32; flags++)
			for (unsigned op = 0; op <= BLK_OP_GET_ID + 1; op++)
				for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++)
					for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
						for (size_t sc = 0; sc < sizeof(sectors) / sizeof(sectors[0]); sc++) {
							struct blk_dev dev = {.lbs = lbs, .pbs = lbs, .capacity = 8192,
									      .flags = flags};
							struct blk_req r = {.op = (uint8_t)op, .sector = sectors[sc],
									    .buf = buf, .len = lens[l],
									    .segs = lists[k].many ? many : lists[k].segs,
									    .nsegs = lists[k].nsegs};
							if (k == sizeof(lists) / sizeof(lists[0]) - 1)
								r.segs = NULL;
							int got = blk_check(&dev, &r), want = blk_check_reference(&dev, &r);
							HT_CHECK(got == want,
								 "op %u lbs %u flags %#x sector %llu len %u list %zu: %d, "
								 "contract says %d",
								 op, lbs, flags, (unsigned long long)sectors[sc], lens[l], k, got,
								 want);
							compared++;
						}
	HT_CHECK(compared > 50000, "only %u cases", compared);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{"blk_check", t_blk_check},
	{"vblk_attach", t_attach},
	{"vblk_attach_failures", t_attach_failures},
	{"vblk_platform_features", t_platform_features},
	{"vblk_split_indirect", t_split_indirect},
	{"vblk_split_direct", t_split_direct},
	{"vblk_software_queue", t_queue},
	{"vblk_legacy", t_legacy},
	{"vblk_status_errors", t_status_errors},
	{"vblk_hostile_status", t_bad_status},
	{"vblk_hostile_used_id", t_bad_id},
	{"vblk_watchdog", t_watchdog},
	{"vblk_watchdog_starved", t_watchdog_starved},
	{"vblk_watchdog_race", t_watchdog_race},
	{"vblk_poll", t_poll},
	{"vblk_wait_modes", t_wait_modes},
	{"vblk_hybrid_adapts", t_hybrid_adapts},
	{"vblk_read_only", t_read_only},
	{"vblk_4k_blocks", t_4k_blocks},
	{"vblk_flush", t_flush},
	{"vblk_discard_write_zeroes", t_discard_zeroes},
	{"vblk_config_change", t_config_change},
	{"vblk_config_widths", t_config_widths},
	{"vblk_config_wce", t_config_wce},
	{"vblk_config_out_of_range", t_config_out_of_range},
	{"vblk_used_len", t_used_len},
	{"vblk_reset_stuck", t_reset_stuck},
	{"vblk_irq_fallback", t_irq_fallback},
	{"vblk_irq_release", t_irq_release},
	{"vblk_packed_split_indirect", t_split_indirect_packed},
	{"vblk_packed_split_direct", t_split_direct_packed},
	{"vblk_packed_software_queue", t_queue_packed},
	{"vblk_packed_status_errors", t_status_errors_packed},
	{"vblk_packed_hostile_status", t_bad_status_packed},
	{"vblk_packed_hostile_used_id", t_bad_id_packed},
	{"vblk_packed_watchdog_starved", t_watchdog_starved_packed},
	{"vblk_packed_watchdog_race", t_watchdog_race_packed},
	{"vblk_packed_wait_modes", t_wait_modes_packed},
	{"vblk_packed_discard_write_zeroes", t_discard_zeroes_packed},
	{"blk_check_sg", t_blk_check_sg},
	{"vblk_sg_split_indirect", t_sg_split_indirect},
	{"vblk_sg_split_direct", t_sg_split_direct},
	{"vblk_sg_4k", t_sg_4k},
	{"vblk_sg_4k_direct", t_sg_4k_direct},
	{"vblk_sg_many", t_sg_many},
	{"vblk_sg_whole", t_sg_whole},
	{"vblk_sg_whole_direct", t_sg_whole_direct},
	{"vblk_sg_unfit", t_sg_unfit},
	{"vblk_sg_hostile_status", t_sg_bad_status},
	{"vblk_sg_hostile_used_id", t_sg_bad_id},
	{"vblk_packed_sg_split_indirect", t_sg_split_indirect_packed},
	{"vblk_packed_sg_split_direct", t_sg_split_direct_packed},
	{"vblk_packed_sg_4k", t_sg_4k_packed},
	{"vblk_packed_sg_4k_direct", t_sg_4k_direct_packed},
	{"vblk_packed_sg_whole", t_sg_whole_packed},
	{"vblk_packed_sg_whole_direct", t_sg_whole_direct_packed},
	{"vblk_packed_sg_hostile_status", t_sg_bad_status_packed},
	{"vblk_packed_sg_hostile_used_id", t_sg_bad_id_packed},
};

/* Drivers are never detached: each case leaves its device behind on purpose. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

int main(void)
{
	srand(4321);
	/* Each case in its own process: a crash or sanitizer report fails one case, not all. */
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		ht_run_isolated(tests[i].name, tests[i].fn);
	return ht_exit_status();
}
