/*
 * The virtqueue driver (drivers/virtio/virtq.c, virtq_packed.c, as built for
 * every host test) against a simulated device running on its own thread, so
 * that the two sides really run at once on two CPUs and the memory ordering
 * between them is exercised, which the single-threaded simulated devices of
 * test_virtq.c and test_vq_packed.c never do: there the CPU has nothing to
 * reorder. Split and packed rings, event-idx on and off, completions by
 * interrupt (the device thread raises one by posting an event, the driver
 * thread sleeps on it and drains) and by polling.
 *
 * x86 keeps stores in order and loads in order; the one reordering it does is
 * a load passing an earlier store to another address (the store waits in the
 * store buffer). Both notification handshakes are exactly that pattern:
 *
 *   kick       driver: store avail->idx (packed: head flags), barrier_sync,
 *              load avail_event (used->flags; packed: device event)
 *              device: store avail_event (clear NO_NOTIFY; packed: device
 *              event), full fence, load avail->idx (packed: next flags)
 *   interrupt  driver: store used_event (clear NO_INTERRUPT; packed: driver
 *              event), barrier_sync, load used->idx (packed: flags at
 *              last_used)
 *              device: store used->idx (packed: used flags), full fence,
 *              load used_event (avail->flags; packed: driver event)
 *
 * Without the driver's barrier both loads can miss both stores: the driver
 * decides not to kick (or sleeps) and the device decides to sleep (or not to
 * interrupt). So this device behaves like one that is quick to go idle: it
 * works while it sees work with notifications suppressed, and when the ring
 * looks empty it publishes its event index, fences, looks at the ring exactly
 * once more and then sleeps until a kick, never polling the ring meanwhile.
 * The driver in interrupt mode likewise sleeps on the interrupt alone once
 * virtq_enable_cb() saw nothing. A lost notification then leaves both asleep
 * for good, which the driver recognises at once (the device is blocked
 * waiting for a kick that only the driver can send, while the driver waits
 * for an interrupt, or in poll mode for a completion that only the device can
 * produce) and reports with the ring state that says which notification was
 * lost, within milliseconds.
 *
 * The windows are a store's stay in the store buffer, tens to hundreds of
 * nanoseconds, and even two threads that meet on purpose see the reordering
 * only about once in a thousand tries. So the test makes many tries: the two
 * threads are pinned to two CPUs (else they often share one, and nothing is
 * concurrent), random short delays on both sides sweep their relative
 * timing, and the queue depth changes every VQT_QD_PERIOD completions: one
 * request at a time every other period (each add meets a device going idle,
 * and a lost kick is not rescued by a later add), deeper queues between them,
 * some refilled only once drained to half (the driver then sleeps with the
 * last requests in flight, and a lost interrupt for them in flags mode is not
 * rescued by a later completion).
 *
 * The device reads the ring as the spec orders it (virtio 1.2, 2.7.13, 2.8.21:
 * index or flags, read fence, entries; entries, write fence, index or flags)
 * and checks everything: descriptor shapes and addresses, a header naming a
 * request the driver issued and not yet completed, written data. The driver
 * checks every completion: status, length, the data the device wrote, each
 * request completed exactly once. Any of those failing, or the driver
 * breaking the queue, fails the case with the reason.
 *
 * The two threads share the ring without locks by design, ordered by the
 * barriers and the single-access ring accessors: ThreadSanitizer would report
 * those races, so this test runs under ASan/UBSan like the other host tests.
 *
 * VQ_THREADS_REQUESTS=N changes the requests per case (default below),
 * VQ_THREADS_ONLY=SUBSTRING runs only the cases whose name contains it.
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#define _GNU_SOURCE /* sched_getaffinity, pthread_setaffinity_np */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/host/hosttest.h"

#include "drivers/virtio/virtq.h"

#define VQT_DEFAULT_REQUESTS 100000
/* No completion at all for this long fails the case, whatever the cause. */
#define VQT_NO_PROGRESS_NS (10 * 1000000000ll)
/* How long a sleeping waiter sleeps between looks at the other side. */
#define VQT_SLICE_NS 1000000
/* Pauses a waiter spins on its event before it blocks (tens of microseconds at most). */
#define VQT_SPINS 1500
/* A new queue depth every this many completions (drv_next_depth()). */
#define VQT_QD_PERIOD 256

#define ld16(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st16(p, v) __atomic_store_n((p), (uint16_t)(v), __ATOMIC_RELAXED)
#define st32(p, v) __atomic_store_n((p), (uint32_t)(v), __ATOMIC_RELAXED)

static inline void cpu_relax(void)
{
	__builtin_ia32_pause();
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spin a random 0..mask pauses, one time in `one_in`: sweeps the two threads' relative timing. */
static void jitter(uint64_t *rng, unsigned one_in, unsigned mask)
{
	uint64_t r = ht_rand(rng);
	if (r % one_in)
		return;
	for (unsigned n = (unsigned)(r >> 32) & mask; n; n--)
		cpu_relax();
}

/*
 * Put the driver (this thread) and the device thread on two different CPUs
 * when we may use two: only then do they run at the same time, and the
 * scheduler would otherwise often wake one on the other's CPU. One CPU: no
 * pinning (the test still checks correctness, it just cannot race).
 */
static void vqt_pin(pthread_t driver, pthread_t device)
{
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) < 2)
		return;
	int cpus[2], n = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++)
		if (CPU_ISSET(cpu, &allowed))
			cpus[n++] = cpu;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpus[0], &one);
	pthread_setaffinity_np(driver, sizeof(one), &one);
	CPU_ZERO(&one);
	CPU_SET(cpus[1], &one);
	pthread_setaffinity_np(device, sizeof(one), &one);
}

/* ---- events: the kick doorbell and the interrupt line ------------------- */

/*
 * A counter one thread posts and the other waits on: spin a little, then
 * sleep on a condition variable in slices, asking give_up() after each empty
 * slice. `blocked`/`blocked_on` (under lock) say the waiter is past its spin
 * and will not return until seq moves (or it gives up): the other thread
 * reads them to recognise a lost notification.
 */
struct vqt_event {
	unsigned seq;      /* posts so far */
	unsigned sleepers; /* waiters on cond, or about to be */
	uint64_t blocks;   /* waits that went past the spin */
	bool blocked;
	unsigned blocked_on;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void event_init(struct vqt_event *e)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&e->lock, NULL);
	e->seq = e->sleepers = 0;
	e->blocks = 0;
	e->blocked = false;
	e->blocked_on = 0;
}

static void event_destroy(struct vqt_event *e)
{
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
}

static unsigned event_seq(struct vqt_event *e)
{
	return __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
}

static void event_post(struct vqt_event *e)
{
	/*
	 * seq before sleepers, against the waiter's sleepers before seq (both
	 * seq_cst): either the waiter sees the new seq or we see it sleeping
	 * and wake it under the lock it holds until it waits.
	 */
	__atomic_fetch_add(&e->seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->sleepers, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&e->lock);
		pthread_cond_broadcast(&e->cond);
		pthread_mutex_unlock(&e->lock);
	}
}

/* True when seq moved past seen; false when give_up(arg) ended the wait. */
static bool event_wait(struct vqt_event *e, unsigned seen, bool (*give_up)(void *), void *arg)
{
	for (unsigned i = 0; i < VQT_SPINS; i++) {
		if (event_seq(e) != seen)
			return true;
		cpu_relax();
	}
	pthread_mutex_lock(&e->lock);
	__atomic_fetch_add(&e->sleepers, 1, __ATOMIC_SEQ_CST);
	e->blocks++;
	e->blocked = true;
	e->blocked_on = seen;
	bool posted;
	while (!(posted = __atomic_load_n(&e->seq, __ATOMIC_SEQ_CST) != seen)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += VQT_SLICE_NS;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&e->cond, &e->lock, &ts);
		if (event_seq(e) != seen)
			continue;
		/* Without our lock: give_up() may look at the other event. */
		pthread_mutex_unlock(&e->lock);
		bool stop = give_up(arg);
		pthread_mutex_lock(&e->lock);
		if (stop)
			break;
	}
	e->blocked = false;
	__atomic_fetch_sub(&e->sleepers, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&e->lock);
	return posted;
}

/* ---- requests ----------------------------------------------------------- */

/* Shaped like a virtio-blk request: header (out), 512 bytes of data (out or in), status (in). */
struct vqt_hdr {
	uint64_t serial;
	uint32_t write;
	uint32_t seal; /* vqt_seal(serial, write): a torn or stale header does not match */
};

struct vqt_req {
	struct vqt_hdr hdr;
	uint64_t data[64];
	uint8_t status;
	/* Driver-private. */
	bool in_flight;
	uint64_t serial;
	bool write;
};

#define VQT_STATUS_OK 0
#define VQT_STATUS_UNSET 0xff

static uint32_t vqt_seal(uint64_t serial, uint32_t write)
{
	return (uint32_t)(serial * 0x9e3779b97f4a7c15ull >> 32) ^ write ^ 0x5ea1u;
}

/* Word i of request serial's data: the driver's for a write, the device's for a read. */
static uint64_t vqt_word(uint64_t serial, bool write, unsigned i)
{
	return serial * 0x9e3779b97f4a7c15ull ^ (i + 1) * 0xbf58476d1ce4e5b9ull ^ (write ? 0 : ~0ull);
}

/* ---- one case ------------------------------------------------------------ */

struct vqt_case {
	const char *name;
	unsigned flags;   /* VIRTQ_PACKED, VIRTQ_EVENT_IDX */
	bool irq;         /* completions by interrupt, else by polling */
	uint16_t size;
	uint16_t ind_max; /* 0: direct chains of three descriptors */
	unsigned pool;    /* requests the driver may have in flight at most */
};

struct vqt_held {
	struct vqt_req *req;
	uint64_t serial; /* from the header, read once when taken */
	uint16_t id;    /* split: head descriptor; packed: buffer ID */
	uint16_t ndesc; /* ring descriptors the chain took */
	bool write;
};

/* The device thread's state; the driver reads it only while the device sleeps (under kick.lock). */
struct vqt_dev {
	/* split */
	uint16_t last_avail; /* next avail entry to take */
	uint16_t used_idx;   /* our used->idx */
	uint16_t signalled;  /* used_idx at the last interrupt decision */
	/* packed */
	uint16_t avail_pos, used_pos;
	bool avail_wrap, used_wrap;
	uint64_t used_lin, signalled_lin; /* used positions advanced, ever (no wrap to reason about) */

	struct vqt_held *held;
	unsigned nheld;
	bool *id_held; /* per head / buffer ID */
	uint8_t *done; /* per serial: completed by us */
	uint64_t rng;
	uint64_t taken, completed, interrupts, sleeps;
	char error[240];
};

struct vqt {
	const struct vqt_case *c;
	uint64_t requests;
	struct virtq vq;
	void *ring, *priv;
	struct vqt_req *reqs; /* pool */
	struct vqt_dev dev;
	struct vqt_event kick, irq;
	bool stop;   /* driver -> device: finish */
	bool failed; /* device -> driver: dev.error says why */

	/* Driver-private. */
	struct vqt_req **free_reqs;
	unsigned nfree;
	unsigned qd;  /* current queue depth target */
	bool batch;   /* refill only once half the queue depth completed, else at every completion */
	uint64_t submitted, completed, kicks, interrupts_taken;
	uint64_t since_qd;
	unsigned period; /* queue depth periods so far */
	unsigned irq_seen;   /* the interrupt count the driver sleeps on */
	int64_t progress_ns; /* time of the last completion */
	uint8_t *done;       /* per serial: completed as seen by the driver */
	uint64_t rng;
	char error[400];
};

static __attribute__((format(printf, 2, 3))) void dev_fail(struct vqt *t, const char *fmt, ...)
{
	if (t->dev.error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->dev.error, sizeof(t->dev.error), fmt, ap);
	va_end(ap);
	__atomic_store_n(&t->failed, true, __ATOMIC_RELEASE);
	event_post(&t->irq); /* wake the driver to read it */
}

static __attribute__((format(printf, 2, 3))) void drv_fail(struct vqt *t, const char *fmt, ...)
{
	if (t->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
}

/* ---- the device: checks of what the driver published --------------------- */

/* The pool request whose field at addr is `field` bytes into it, or NULL. */
static struct vqt_req *dev_req_at(struct vqt *t, uint64_t addr, size_t field)
{
	uintptr_t base = (uintptr_t)t->reqs, a = (uintptr_t)addr;
	if (a < base + field)
		return NULL;
	uintptr_t off = a - base - field;
	if (off % sizeof(struct vqt_req) || off / sizeof(struct vqt_req) >= t->c->pool)
		return NULL;
	return &t->reqs[off / sizeof(struct vqt_req)];
}

struct vqt_seen_buf {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

/*
 * A chain of three buffers read from the ring: header, data, status of one
 * pool request, with the header naming a request issued and not completed.
 * Fills h->req, h->serial, h->write.
 */
static bool dev_check_chain(struct vqt *t, const struct vqt_seen_buf b[3], struct vqt_held *h)
{
	struct vqt_req *r = dev_req_at(t, b[0].addr, offsetof(struct vqt_req, hdr));
	if (!r || b[0].len != sizeof(r->hdr) || (b[0].flags & VIRTQ_DESC_F_WRITE)) {
		dev_fail(t, "chain %u: header buffer %#llx+%u flags %#x is no request's header", h->id,
			 (unsigned long long)b[0].addr, b[0].len, b[0].flags);
		return false;
	}
	/* The header's words, read after the fence that follows the index or flags that published them. */
	uint64_t serial = r->hdr.serial;
	uint32_t write = r->hdr.write, seal = r->hdr.seal;
	if (seal != vqt_seal(serial, write) || write > 1) {
		dev_fail(t, "chain %u: header of serial %llu torn or stale (seal %#x)", h->id,
			 (unsigned long long)serial, seal);
		return false;
	}
	if (serial >= t->requests || t->dev.done[serial]) {
		dev_fail(t, "chain %u: request serial %llu %s", h->id, (unsigned long long)serial,
			 serial >= t->requests ? "never issued" : "made available again after completion");
		return false;
	}
	uint16_t data_flags = write ? 0 : VIRTQ_DESC_F_WRITE;
	if (b[1].addr != (uint64_t)(uintptr_t)r->data || b[1].len != sizeof(r->data) ||
	    (b[1].flags & VIRTQ_DESC_F_WRITE) != data_flags) {
		dev_fail(t, "chain %u (serial %llu): data buffer %#llx+%u flags %#x", h->id,
			 (unsigned long long)serial, (unsigned long long)b[1].addr, b[1].len, b[1].flags);
		return false;
	}
	if (b[2].addr != (uint64_t)(uintptr_t)&r->status || b[2].len != 1 ||
	    !(b[2].flags & VIRTQ_DESC_F_WRITE)) {
		dev_fail(t, "chain %u (serial %llu): status buffer %#llx+%u flags %#x", h->id,
			 (unsigned long long)serial, (unsigned long long)b[2].addr, b[2].len, b[2].flags);
		return false;
	}
	if (write) {
		for (unsigned i = 0; i < 64; i++) {
			if (r->data[i] != vqt_word(serial, true, i)) {
				dev_fail(t, "serial %llu: written data word %u is %#llx, not the driver's",
					 (unsigned long long)serial, i, (unsigned long long)r->data[i]);
				return false;
			}
		}
	}
	if (t->dev.id_held[h->id]) {
		dev_fail(t, "chain %u made available while we still hold it", h->id);
		return false;
	}
	h->req = r;
	h->serial = serial;
	h->write = write;
	return true;
}

/* Do the request's work: read data for a read, the status; the used length. */
static uint32_t dev_execute(struct vqt *t, const struct vqt_held *h)
{
	struct vqt_req *r = h->req;
	if (!h->write)
		for (unsigned i = 0; i < 64; i++)
			r->data[i] = vqt_word(h->serial, false, i);
	r->status = VQT_STATUS_OK;
	t->dev.done[h->serial] = 1;
	return h->write ? 1 : (uint32_t)sizeof(r->data) + 1;
}

/* ---- the device: split ring ----------------------------------------------- */

static bool split_take(struct vqt *t)
{
	struct vqt_dev *d = &t->dev;
	struct virtq *vq = &t->vq;
	uint16_t aidx = ld16(&vq->avail->idx);
	if (aidx == d->last_avail)
		return false;
	if ((uint16_t)(aidx - d->last_avail) > vq->size) {
		dev_fail(t, "avail->idx %u runs %u ahead of us", aidx, (uint16_t)(aidx - d->last_avail));
		return false;
	}
	/*
	 * avail->idx before the ring entry and descriptors it publishes; pairs
	 * with the driver's barrier_producer() before it stores avail->idx.
	 */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	struct vqt_held h = {.ndesc = 1};
	h.id = ld16(&vq->avail->ring[d->last_avail & (vq->size - 1)]);
	if (h.id >= vq->size) {
		dev_fail(t, "avail entry %u: head %u out of range", d->last_avail, h.id);
		return false;
	}
	struct vqt_seen_buf b[3];
	const struct virtq_desc *x = &vq->desc[h.id];
	if (x->flags & VIRTQ_DESC_F_INDIRECT) {
		if (!vq->ind_max || x->len != 3 * sizeof(struct virtq_desc) || (x->flags & VIRTQ_DESC_F_NEXT)) {
			dev_fail(t, "head %u: indirect descriptor len %u flags %#x", h.id, x->len, x->flags);
			return false;
		}
		const struct virtq_desc *tab = (const struct virtq_desc *)(uintptr_t)x->addr;
		if ((void *)tab != (struct virtq_desc *)vq->indirect + (size_t)h.id * vq->ind_max) {
			dev_fail(t, "head %u: indirect table %p is not its own", h.id, (const void *)tab);
			return false;
		}
		for (unsigned i = 0; i < 3; i++) {
			uint16_t want = i < 2 ? VIRTQ_DESC_F_NEXT : 0;
			if ((tab[i].flags & VIRTQ_DESC_F_NEXT) != want || (want && tab[i].next != i + 1)) {
				dev_fail(t, "head %u: indirect entry %u flags %#x next %u", h.id, i, tab[i].flags,
					 tab[i].next);
				return false;
			}
			b[i] = (struct vqt_seen_buf){tab[i].addr, tab[i].len, tab[i].flags};
		}
	} else {
		uint16_t i = h.id;
		for (unsigned k = 0; k < 3; k++) {
			x = &vq->desc[i];
			uint16_t want = k < 2 ? VIRTQ_DESC_F_NEXT : 0;
			if ((x->flags & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT)) != want ||
			    (want && x->next >= vq->size)) {
				dev_fail(t, "head %u: descriptor %u of the chain: flags %#x next %u", h.id, k,
					 x->flags, x->next);
				return false;
			}
			b[k] = (struct vqt_seen_buf){x->addr, x->len, x->flags};
			i = x->next;
		}
		h.ndesc = 3;
	}
	if (!dev_check_chain(t, b, &h))
		return false;
	d->id_held[h.id] = true;
	d->held[d->nheld++] = h;
	d->last_avail++;
	d->taken++;
	return true;
}

static void split_complete(struct vqt *t, const struct vqt_held *h)
{
	struct vqt_dev *d = &t->dev;
	struct virtq_used_elem *e = &t->vq.used->ring[d->used_idx & (t->vq.size - 1)];
	uint32_t len = dev_execute(t, h);
	st32(&e->id, h->id);
	st32(&e->len, len);
	d->used_idx++;
}

/* Publish the completions written so far; true when the driver asked to hear of them. */
static bool split_publish(struct vqt *t)
{
	struct vqt_dev *d = &t->dev;
	struct virtq *vq = &t->vq;
	/*
	 * Used entries and the buffers they describe before used->idx; pairs
	 * with the driver's barrier_consumer() after it reads used->idx.
	 */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	st16(&vq->used->idx, d->used_idx);
	/*
	 * Our store of used->idx before our load of used_event (avail->flags);
	 * pairs with the driver's barrier_sync() in virtq_enable_cb() between
	 * its store of used_event (flags) and its load of used->idx (2.7.10).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = d->signalled, new = d->used_idx;
	d->signalled = new;
	if (vq->event_idx)
		return virtq_need_event(ld16(&vq->avail->ring[vq->size]), new, old);
	return !(ld16(&vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* While we work: no kicks (flags; with event-idx a stale avail_event does it). */
static void split_suppress_kicks(struct vqt *t)
{
	if (!t->vq.event_idx)
		st16(&t->vq.used->flags, VIRTQ_USED_F_NO_NOTIFY);
}

/* Ask for a kick at the next entry, fence, and look at the ring once: true if work arrived. */
static bool split_rearm_and_recheck(struct vqt *t)
{
	struct vqt_dev *d = &t->dev;
	struct virtq *vq = &t->vq;
	if (vq->event_idx)
		st16((uint16_t *)&vq->used->ring[vq->size], d->last_avail);
	else
		st16(&vq->used->flags, 0);
	/*
	 * Our store of avail_event (flags) before our load of avail->idx; pairs
	 * with the driver's barrier_sync() in virtq_kick_prepare() between its
	 * store of avail->idx and its load of avail_event (flags) (2.7.13.4).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ld16(&vq->avail->idx) != d->last_avail;
}

/* ---- the device: packed ring ---------------------------------------------- */

static bool packed_avail(uint16_t flags, bool wrap)
{
	bool a = flags & PVIRTQ_DESC_F_AVAIL, u = flags & PVIRTQ_DESC_F_USED;
	return a == wrap && u != wrap;
}

static bool packed_take(struct vqt *t)
{
	struct vqt_dev *d = &t->dev;
	struct virtq *vq = &t->vq;
	uint16_t pos = d->avail_pos;
	bool wrap = d->avail_wrap;
	uint16_t f = ld16(&vq->pdesc[pos].flags);
	if (!packed_avail(f, wrap))
		return false;
	/*
	 * The head's flags before the rest of the chain; pairs with the
	 * driver's barrier_producer() before it stores them (2.8.21.1).
	 */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	struct vqt_held h = {0};
	struct vqt_seen_buf b[3];
	const struct pvirtq_desc *x = &vq->pdesc[pos];
	if (f & VIRTQ_DESC_F_INDIRECT) {
		if (!vq->ind_max || x->len != 3 * sizeof(struct pvirtq_desc) || (f & VIRTQ_DESC_F_NEXT)) {
			dev_fail(t, "position %u: indirect descriptor len %u flags %#x", pos, x->len, f);
			return false;
		}
		h.id = x->id;
		const struct pvirtq_desc *tab = (const struct pvirtq_desc *)(uintptr_t)x->addr;
		if (h.id >= vq->size ||
		    (void *)tab != (struct pvirtq_desc *)vq->indirect + (size_t)h.id * vq->ind_max) {
			dev_fail(t, "position %u: buffer ID %u, indirect table %p not its own", pos, h.id,
				 (const void *)tab);
			return false;
		}
		for (unsigned i = 0; i < 3; i++) {
			if (tab[i].flags & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT)) {
				dev_fail(t, "buffer ID %u: indirect entry %u flags %#x", h.id, i, tab[i].flags);
				return false;
			}
			b[i] = (struct vqt_seen_buf){tab[i].addr, tab[i].len, tab[i].flags};
		}
		h.ndesc = 1;
		if (++pos == vq->size) {
			pos = 0;
			wrap = !wrap;
		}
	} else {
		for (unsigned k = 0; k < 3; k++) {
			x = &vq->pdesc[pos];
			/* The head's flags were read above; the others were stored before them. */
			f = k ? ld16(&x->flags) : f;
			uint16_t want = k < 2 ? VIRTQ_DESC_F_NEXT : 0;
			if (!packed_avail(f, wrap) || (f & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT)) != want) {
				dev_fail(t, "position %u (descriptor %u of a chain): flags %#x in lap %d", pos, k,
					 f, wrap);
				return false;
			}
			b[k] = (struct vqt_seen_buf){x->addr, x->len, f};
			h.id = x->id; /* the last descriptor's counts (2.8.6) */
			if (++pos == vq->size) {
				pos = 0;
				wrap = !wrap;
			}
		}
		h.ndesc = 3;
		if (h.id >= vq->size) {
			dev_fail(t, "chain at %u: buffer ID %u out of range", d->avail_pos, h.id);
			return false;
		}
	}
	if (!dev_check_chain(t, b, &h))
		return false;
	d->id_held[h.id] = true;
	d->held[d->nheld++] = h;
	d->avail_pos = pos;
	d->avail_wrap = wrap;
	d->taken++;
	return true;
}

static void packed_complete(struct vqt *t, const struct vqt_held *h)
{
	struct vqt_dev *d = &t->dev;
	struct virtq *vq = &t->vq;
	struct pvirtq_desc *u = &vq->pdesc[d->used_pos];
	uint32_t len = dev_execute(t, h);
	st16(&u->id, h->id);
	st32(&u->len, len);
	/*
	 * The buffers, id and len before the flags that make the descriptor
	 * used; pairs with the driver's barrier_consumer() after it reads them.
	 */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	st16(&u->flags, d->used_wrap ? PVIRTQ_DESC_F_AVAIL | PVIRTQ_DESC_F_USED : 0);
	uint32_t p = (uint32_t)d->used_pos + h->ndesc;
	if (p >= vq->size) {
		p -= vq->size;
		d->used_wrap = !d->used_wrap;
	}
	d->used_pos = (uint16_t)p;
	d->used_lin += h->ndesc;
}

static bool packed_publish(struct vqt *t)
{
	struct vqt_dev *d = &t->dev;
	struct virtq *vq = &t->vq;
	/*
	 * Our stores of used flags before our load of the driver's event
	 * structure; pairs with the driver's barrier_sync() in
	 * virtq_packed_enable_cb() between its store of that structure and its
	 * load of the flags at last_used (2.8.21.3.1).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint64_t old = d->signalled_lin, new = d->used_lin;
	d->signalled_lin = new;
	uint16_t flags = ld16(&vq->driver_ev->flags);
	if (flags == PVIRTQ_EVENT_F_DISABLE)
		return false;
	if (flags != PVIRTQ_EVENT_F_DESC || !vq->event_idx)
		return true;
	/* flags before off_wrap; pairs with the driver's barrier_producer() between them. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint16_t ow = ld16(&vq->driver_ev->off_wrap);
	uint16_t off = ow & 0x7fff;
	bool wrap = ow >> PVIRTQ_EVENT_WRAP_SHIFT;
	/*
	 * The event names a used position in our lap (same wrap counter) or in
	 * the lap before: a linear position, then "written in [old, new)?".
	 */
	uint64_t lap_start = new - d->used_pos;
	if (wrap != d->used_wrap) {
		if (lap_start < vq->size)
			return false;
		lap_start -= vq->size;
	}
	uint64_t ev = lap_start + off;
	return ev >= old && ev < new;
}

static void packed_suppress_kicks(struct vqt *t)
{
	if (!t->vq.event_idx)
		st16(&t->vq.device_ev->flags, PVIRTQ_EVENT_F_DISABLE);
}

static bool packed_rearm_and_recheck(struct vqt *t)
{
	struct vqt_dev *d = &t->dev;
	struct virtq *vq = &t->vq;
	if (vq->event_idx)
		st16(&vq->device_ev->off_wrap,
		     d->avail_pos | (uint16_t)d->avail_wrap << PVIRTQ_EVENT_WRAP_SHIFT);
	else
		st16(&vq->device_ev->flags, PVIRTQ_EVENT_F_ENABLE);
	/*
	 * Our store of the device event structure before our load of the next
	 * descriptor's flags; pairs with the driver's barrier_sync() in
	 * virtq_packed_kick_prepare() between its store of the head's flags
	 * and its load of that structure (2.8.21.3.2).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return packed_avail(ld16(&vq->pdesc[d->avail_pos].flags), d->avail_wrap);
}

/* ---- the device thread ---------------------------------------------------- */

static bool dev_take(struct vqt *t)
{
	return t->vq.packed ? packed_take(t) : split_take(t);
}

/* Complete everything held, in random order, publishing in random batches. */
static void dev_complete_held(struct vqt *t)
{
	struct vqt_dev *d = &t->dev;
	while (d->nheld) {
		unsigned batch = 1 + (unsigned)(ht_rand(&d->rng) % 3);
		jitter(&d->rng, 2, 31);
		for (; batch && d->nheld; batch--) {
			unsigned i = (unsigned)(ht_rand(&d->rng) % d->nheld);
			struct vqt_held h = d->held[i];
			d->held[i] = d->held[--d->nheld];
			d->id_held[h.id] = false;
			if (t->vq.packed)
				packed_complete(t, &h);
			else
				split_complete(t, &h);
			d->completed++;
		}
		if (t->vq.packed ? packed_publish(t) : split_publish(t)) {
			d->interrupts++;
			event_post(&t->irq);
		}
		jitter(&d->rng, 4, 31);
	}
}

static bool dev_should_stop(void *arg)
{
	struct vqt *t = arg;
	return __atomic_load_n(&t->stop, __ATOMIC_ACQUIRE);
}

static void *dev_main(void *arg)
{
	struct vqt *t = arg;
	struct vqt_dev *d = &t->dev;
	while (!dev_should_stop(t) && !d->error[0]) {
		if (t->vq.packed)
			packed_suppress_kicks(t);
		else
			split_suppress_kicks(t);
		/* Work while work is visible. */
		for (;;) {
			unsigned n = 0;
			while (!d->error[0] && dev_take(t))
				n++;
			if (!n || d->error[0])
				break;
			jitter(&d->rng, 2, 31);
			dev_complete_held(t);
		}
		if (d->error[0])
			break;
		/*
		 * Idle. The doorbell's count before re-arming: a kick for anything
		 * the re-check below misses comes after this load.
		 */
		unsigned seen = event_seq(&t->kick);
		jitter(&d->rng, 2, 63);
		if (t->vq.packed ? packed_rearm_and_recheck(t) : split_rearm_and_recheck(t))
			continue;
		d->sleeps++;
		event_wait(&t->kick, seen, dev_should_stop, t);
	}
	return NULL;
}

/* ---- the driver ------------------------------------------------------------ */

static int drv_submit_one(struct vqt *t)
{
	struct vqt_req *r = t->free_reqs[t->nfree - 1];
	uint64_t serial = t->submitted;
	bool write = ht_rand(&t->rng) & 1;
	r->hdr.serial = serial;
	r->hdr.write = write;
	r->hdr.seal = vqt_seal(serial, write);
	for (unsigned i = 0; i < 64; i++)
		r->data[i] = write ? vqt_word(serial, true, i) : 0;
	r->status = VQT_STATUS_UNSET;
	struct virtq_buf hdr = {(uint64_t)(uintptr_t)&r->hdr, sizeof(r->hdr)};
	struct virtq_buf data = {(uint64_t)(uintptr_t)r->data, sizeof(r->data)};
	struct virtq_buf status = {(uint64_t)(uintptr_t)&r->status, 1};
	int head = virtq_add3(&t->vq, &hdr, &data, !write, &status, r);
	if (head == -ENOSPC)
		return head;
	if (head < 0) {
		drv_fail(t, "virtq_add3 of serial %llu: %d (%s)", (unsigned long long)serial, head,
			 t->vq.why ? t->vq.why : "not broken");
		return head;
	}
	t->nfree--;
	r->in_flight = true;
	r->serial = serial;
	r->write = write;
	t->submitted++;
	return 0;
}

/* Fill up to the current queue depth, then kick if the device asked for it. */
static int drv_refill(struct vqt *t)
{
	jitter(&t->rng, 4, 15);
	unsigned inflight = t->c->pool - t->nfree;
	/*
	 * Batched: until at most half the depth is left in flight the driver
	 * waits without adding, so a lost interrupt for the last of them is not
	 * rescued by a later completion (as flags, unlike event-idx, would).
	 */
	bool wait_for_half = t->batch && inflight > (t->qd - 1) / 2;
	while (!wait_for_half && t->submitted < t->requests && inflight < t->qd) {
		int err = drv_submit_one(t);
		if (err == -ENOSPC)
			break;
		if (err)
			return -1;
		inflight++;
	}
	if (virtq_kick_prepare(&t->vq)) {
		t->kicks++;
		event_post(&t->kick);
	}
	return 0;
}

/*
 * Every other period one request at a time: each add then meets a device
 * that is going idle, the kick race, and a lost kick is never rescued by a
 * later one. Between them deeper queues, eager or batched (see drv_refill()),
 * for the interrupt race.
 */
static void drv_next_depth(struct vqt *t)
{
	static const struct {
		unsigned qd;
		bool batch;
	} deeper[] = {{2, true}, {3, true}, {2, true}, {4, true}, {2, true}, {8, true},
		      {2, true}, {~0u, false}, {2, true}, {4, false}, {2, true}, {~0u, true}};
	unsigned k = ++t->period;
	unsigned qd = 1;
	bool batch = false;
	if (k % 2) {
		qd = deeper[k / 2 % (sizeof(deeper) / sizeof(deeper[0]))].qd;
		batch = deeper[k / 2 % (sizeof(deeper) / sizeof(deeper[0]))].batch;
	}
	t->qd = qd < t->c->pool ? qd : t->c->pool;
	t->batch = batch;
	t->since_qd = 0;
}

static int drv_complete(struct vqt *t, struct vqt_req *r, uint32_t len)
{
	if (r < t->reqs || r >= t->reqs + t->c->pool || !r->in_flight) {
		drv_fail(t, "virtq_get returned token %p, not a request in flight", (void *)r);
		return -1;
	}
	uint64_t s = r->serial;
	uint32_t want = r->write ? 1 : (uint32_t)sizeof(r->data) + 1;
	if (r->status != VQT_STATUS_OK || len != want) {
		drv_fail(t, "serial %llu completed with status %#x length %u (want 0, %u)",
			 (unsigned long long)s, r->status, len, want);
		return -1;
	}
	if (!r->write) {
		for (unsigned i = 0; i < 64; i++) {
			if (r->data[i] != vqt_word(s, false, i)) {
				drv_fail(t, "serial %llu: read data word %u is %#llx, not the device's",
					 (unsigned long long)s, i, (unsigned long long)r->data[i]);
				return -1;
			}
		}
	}
	if (t->done[s]++) {
		drv_fail(t, "serial %llu completed twice", (unsigned long long)s);
		return -1;
	}
	r->in_flight = false;
	t->free_reqs[t->nfree++] = r;
	t->completed++;
	if (++t->since_qd == VQT_QD_PERIOD)
		drv_next_depth(t);
	return 0;
}

/* Take every completion there is (refilling as they come); -1 on a failure. */
static int drv_drain(struct vqt *t, unsigned *got)
{
	void *tok;
	uint32_t len;
	*got = 0;
	while ((tok = virtq_get(&t->vq, &len))) {
		if (drv_complete(t, tok, len))
			return -1;
		if (++*got % 4 == 0 && drv_refill(t))
			return -1;
	}
	if (t->vq.broken) {
		drv_fail(t, "queue broken: %s", t->vq.why);
		return -1;
	}
	if (*got) {
		t->progress_ns = now_ns();
		return drv_refill(t);
	}
	return 0;
}

/* Which notification the sleeping pair lost, from the ring (the device is blocked: its state holds). */
static void drv_diagnose_lost(struct vqt *t, const char *driver_waits)
{
	struct virtq *vq = &t->vq;
	struct vqt_dev *d = &t->dev;
	if (!vq->packed) {
		uint16_t aidx = ld16(&vq->avail->idx), uidx = ld16(&vq->used->idx);
		uint16_t avail_event = ld16((uint16_t *)&vq->used->ring[vq->size]);
		if (aidx != d->last_avail)
			drv_fail(t, "lost kick: the device sleeps waiting for a kick with avail->idx %u past "
				 "the %u it took (avail_event %u, used->flags %#x, %llu kicks) while the "
				 "driver waits for %s", aidx, d->last_avail, avail_event,
				 ld16(&vq->used->flags), (unsigned long long)t->kicks, driver_waits);
		else if (uidx != vq->last_used)
			drv_fail(t, "lost interrupt: used->idx %u past the driver's %u (used_event %u, "
				 "avail->flags %#x, %llu interrupts) while the device sleeps waiting for a "
				 "kick", uidx, vq->last_used, ld16(&vq->avail->ring[vq->size]),
				 ld16(&vq->avail->flags), (unsigned long long)d->interrupts);
		else
			drv_fail(t, "both sides asleep with %u requests in flight and nothing on the ring",
				 t->c->pool - t->nfree);
		return;
	}
	if (d->avail_pos != vq->next_avail || d->avail_wrap != vq->avail_wrap)
		drv_fail(t, "lost kick: the device sleeps waiting for a kick at position %u lap %d, the "
			 "driver made up to %u lap %d available (device event flags %#x off_wrap %#x, "
			 "%llu kicks) while the driver waits for %s", d->avail_pos, d->avail_wrap,
			 vq->next_avail, vq->avail_wrap, ld16(&vq->device_ev->flags),
			 ld16(&vq->device_ev->off_wrap), (unsigned long long)t->kicks, driver_waits);
	else if (virtq_pending(vq))
		drv_fail(t, "lost interrupt: a used descriptor at %u lap %d the driver has not taken "
			 "(driver event flags %#x off_wrap %#x, %llu interrupts) while the device sleeps "
			 "waiting for a kick", vq->last_used, vq->used_wrap, ld16(&vq->driver_ev->flags),
			 ld16(&vq->driver_ev->off_wrap), (unsigned long long)d->interrupts);
	else
		drv_fail(t, "both sides asleep with %u requests in flight and nothing on the ring",
			 t->c->pool - t->nfree);
}

/*
 * Called while the driver waits with requests in flight: true (and the
 * reason in t->error) when the device failed, when the device is blocked
 * waiting for a kick (only we kick, and we are waiting: that is for good), or
 * when nothing completed for VQT_NO_PROGRESS_NS.
 */
static bool drv_stuck(struct vqt *t, bool polling)
{
	if (__atomic_load_n(&t->failed, __ATOMIC_ACQUIRE))
		return true;
	/*
	 * The device blocks under kick.lock after everything it did before
	 * (completions, interrupts), so under that lock we also see all of it.
	 * Asleep, it is stuck for good unless it left us something: an
	 * interrupt posted since we began to wait, or (polling) completions
	 * not taken yet. Both read here, after its block: the wait loop's own
	 * look at the interrupt count may predate a post made just before the
	 * device went to sleep.
	 */
	pthread_mutex_lock(&t->kick.lock);
	bool device_asleep = t->kick.blocked && event_seq(&t->kick) == t->kick.blocked_on;
	bool left_us_work = polling ? virtq_pending(&t->vq) : event_seq(&t->irq) != t->irq_seen;
	if (device_asleep && !left_us_work) {
		drv_diagnose_lost(t, polling ? "a completion (polling)" : "an interrupt");
		pthread_mutex_unlock(&t->kick.lock);
		return true;
	}
	pthread_mutex_unlock(&t->kick.lock);
	if (now_ns() - t->progress_ns > VQT_NO_PROGRESS_NS) {
		drv_fail(t, "no completion for %lld s (%llu of %llu done, the device %s)",
			 VQT_NO_PROGRESS_NS / 1000000000, (unsigned long long)t->completed,
			 (unsigned long long)t->requests, device_asleep ? "asleep" : "awake");
		return true;
	}
	return false;
}

static bool drv_stuck_irq(void *arg)
{
	return drv_stuck(arg, false);
}

static int drv_run_poll(struct vqt *t)
{
	/* Never interrupted: the device must honour that too. */
	virtq_disable_cb(&t->vq);
	if (drv_refill(t))
		return -1;
	unsigned idle = 0;
	while (t->completed < t->requests) {
		unsigned got;
		if (drv_drain(t, &got))
			return -1;
		if (got) {
			idle = 0;
			continue;
		}
		cpu_relax();
		if (++idle % 4096 == 0 && now_ns() - t->progress_ns > VQT_SLICE_NS && drv_stuck(t, true))
			return -1;
	}
	return 0;
}

static int drv_run_irq(struct vqt *t)
{
	if (drv_refill(t))
		return -1;
	while (t->completed < t->requests) {
		/* The interrupt count before re-arming: one for anything the re-check misses comes after. */
		unsigned seen = event_seq(&t->irq);
		t->irq_seen = seen;
		if (!virtq_enable_cb(&t->vq)) {
			if (!event_wait(&t->irq, seen, drv_stuck_irq, t))
				return -1;
			t->interrupts_taken++;
		}
		virtq_disable_cb(&t->vq);
		unsigned got;
		if (drv_drain(t, &got))
			return -1;
		if (__atomic_load_n(&t->failed, __ATOMIC_ACQUIRE))
			return -1;
	}
	return 0;
}

static const struct vqt_case *vqt_current;

static int vqt_run_case(void)
{
	const struct vqt_case *c = vqt_current;
	static struct vqt t; /* in the forked child: fresh each case */
	memset(&t, 0, sizeof(t));
	t.c = c;
	t.requests = VQT_DEFAULT_REQUESTS;
	const char *env = getenv("VQ_THREADS_REQUESTS");
	if (env && strtoull(env, NULL, 0))
		t.requests = strtoull(env, NULL, 0);
	size_t rb = virtq_bytes(c->size, c->ind_max, c->flags);
	t.ring = aligned_alloc(4096, (rb + 4095) & ~(size_t)4095);
	t.priv = malloc(virtq_priv_bytes(c->size));
	t.reqs = aligned_alloc(64, ((sizeof(*t.reqs) * c->pool) + 63) & ~(size_t)63);
	t.free_reqs = calloc(c->pool, sizeof(*t.free_reqs));
	t.done = calloc(t.requests, 1);
	t.dev.done = calloc(t.requests, 1);
	t.dev.held = calloc(c->size, sizeof(*t.dev.held));
	t.dev.id_held = calloc(c->size, sizeof(*t.dev.id_held));
	HT_CHECK(t.ring && t.priv && t.reqs && t.free_reqs && t.done && t.dev.done && t.dev.held &&
		 t.dev.id_held, "out of memory");
	memset(t.ring, 0, rb);
	memset(t.reqs, 0, sizeof(*t.reqs) * c->pool);
	HT_CHECK(virtq_setup(&t.vq, c->size, t.ring, t.priv, c->ind_max, c->flags) == 0, "virtq_setup");
	for (unsigned i = 0; i < c->pool; i++)
		t.free_reqs[i] = &t.reqs[c->pool - 1 - i];
	t.nfree = c->pool;
	t.qd = 1;
	t.rng = 0x9e3779b97f4a7c15ull ^ (uintptr_t)c;
	t.dev.rng = 0xd1b54a32d192ed03ull ^ (uintptr_t)c;
	t.dev.avail_wrap = t.dev.used_wrap = true;
	if (c->flags & VIRTQ_PACKED) /* the device's event structure: kick us at position 0, lap 1 */
		st16(&t.vq.device_ev->flags, (c->flags & VIRTQ_EVENT_IDX) ? PVIRTQ_EVENT_F_DESC : PVIRTQ_EVENT_F_ENABLE);
	if (c->flags & VIRTQ_PACKED && (c->flags & VIRTQ_EVENT_IDX))
		st16(&t.vq.device_ev->off_wrap, 1u << PVIRTQ_EVENT_WRAP_SHIFT);
	event_init(&t.kick);
	event_init(&t.irq);
	t.progress_ns = now_ns();
	int64_t t0 = now_ns();

	pthread_t dev_thread;
	HT_CHECK(pthread_create(&dev_thread, NULL, dev_main, &t) == 0, "pthread_create");
	vqt_pin(pthread_self(), dev_thread);
	int r = c->irq ? drv_run_irq(&t) : drv_run_poll(&t);
	__atomic_store_n(&t.stop, true, __ATOMIC_RELEASE);
	event_post(&t.kick);
	pthread_join(dev_thread, NULL);
	int64_t ms = (now_ns() - t0) / 1000000;

	printf("  %s: %llu requests in %lld ms, %llu kicks, %llu interrupts (%llu taken), device "
	       "idle %llu times (blocked %llu), driver blocked %llu\n", c->name,
	       (unsigned long long)t.completed, (long long)ms, (unsigned long long)t.kicks,
	       (unsigned long long)t.dev.interrupts, (unsigned long long)t.interrupts_taken,
	       (unsigned long long)t.dev.sleeps, (unsigned long long)t.kick.blocks,
	       (unsigned long long)t.irq.blocks);
	/* The device's reason first: a driver failure after it is its consequence. */
	HT_CHECK(!t.dev.error[0], "device: %s (after %llu requests, %lld ms)", t.dev.error,
		 (unsigned long long)t.completed, (long long)ms);
	HT_CHECK(r == 0 && !t.error[0], "%s (after %llu requests, %lld ms)", t.error,
		 (unsigned long long)t.completed, (long long)ms);
	for (uint64_t s = 0; s < t.requests; s++)
		HT_CHECK(t.done[s] == 1 && t.dev.done[s] == 1, "serial %llu completed %u times (device: %u)",
			 (unsigned long long)s, t.done[s], t.dev.done[s]);
	HT_CHECK(t.dev.taken == t.requests && t.dev.completed == t.requests,
		 "device took %llu and completed %llu of %llu", (unsigned long long)t.dev.taken,
		 (unsigned long long)t.dev.completed, (unsigned long long)t.requests);
	/* Polling: used_event parked half the index space ahead is crossed once per 65536. */
	if (!c->irq)
		HT_CHECK(t.dev.interrupts <= t.requests / 0x8000 + 1,
			 "%llu interrupts while the driver polled with interrupts disabled",
			 (unsigned long long)t.dev.interrupts);
	event_destroy(&t.kick);
	event_destroy(&t.irq);
	free(t.ring);
	free(t.priv);
	free(t.reqs);
	free(t.free_reqs);
	free(t.done);
	free(t.dev.done);
	free(t.dev.held);
	free(t.dev.id_held);
	return 0;
}

int main(void)
{
	/* Small rings: the split index and the packed wrap counters go round often. */
	static const struct vqt_case cases[] = {
		{"split_irq", 0, true, 16, 4, 16},
		{"split_irq_event_idx", VIRTQ_EVENT_IDX, true, 16, 4, 16},
		{"split_poll", 0, false, 32, 0, 10},
		{"split_poll_event_idx", VIRTQ_EVENT_IDX, false, 32, 0, 10},
		{"packed_irq", VIRTQ_PACKED, true, 16, 4, 16},
		{"packed_irq_event_idx", VIRTQ_PACKED | VIRTQ_EVENT_IDX, true, 16, 4, 16},
		{"packed_poll", VIRTQ_PACKED, false, 31, 0, 10},
		{"packed_poll_event_idx", VIRTQ_PACKED | VIRTQ_EVENT_IDX, false, 31, 0, 10},
	};
	const char *only = getenv("VQ_THREADS_ONLY");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (only && !strstr(cases[i].name, only))
			continue;
		vqt_current = &cases[i];
		char name[64];
		snprintf(name, sizeof(name), "vq_threads_%s", cases[i].name);
		ht_run_isolated(name, vqt_run_case);
	}
	return ht_exit_status();
}
