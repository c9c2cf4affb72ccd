/*
 * Host tests of the packed virtqueue (drivers/virtio/virtq_packed.c, through
 * the common virtq.h interface) against the simulated device of
 * simdev_packed.c: full ring (power-of-two and other sizes), wrap counters
 * across many laps with out-of-order completion, direct and indirect chains,
 * in-order batches, device and driver event suppression (flags and event
 * offsets across the wrap), the disable -> drain -> enable -> re-check
 * sequence, and a hostile device (bad IDs, double completion, lengths, wrong
 * wrap counters, used descriptors from nowhere) caught without memory errors
 * under ASan/UBSan.
 *
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/host/hosttest.h"

#include "drivers/virtio/virtq.h"
#include "tests/host/vq_testreq.h"
#include "tests/host/simdev_packed.h"

static struct psim dev; /* large: static */

struct qmem {
	struct virtq vq;
	void *ring;
	void *priv;
};

static int qsetup(struct qmem *m, uint16_t size, uint16_t ind_max, unsigned flags)
{
	flags |= VIRTQ_PACKED;
	size_t rb = virtq_bytes(size, ind_max, flags);
	m->ring = aligned_alloc(64, (rb + 63) & ~(size_t)63);
	m->priv = malloc(virtq_priv_bytes(size));
	memset(m->ring, 0, rb);
	int err = virtq_setup(&m->vq, size, m->ring, m->priv, ind_max, flags);
	if (err)
		return err;
	psim_attach(&dev, &m->vq);
	return 0;
}

static void qfree(struct qmem *m)
{
	free(m->ring);
	free(m->priv);
	m->ring = m->priv = NULL;
}

static struct treq reqs[NREQ];

static int complete_all(struct virtq *vq, unsigned *got)
{
	while (dev.nheld) {
		unsigned i = (unsigned)rand() % dev.nheld;
		psim_complete(&dev, i, dev.held[i].wlen);
	}
	uint32_t len;
	void *t;
	while ((t = virtq_get(vq, &len))) {
		struct treq *r = t;
		HT_CHECK(r->status == 0xa5, "status byte not written by device");
		(*got)++;
	}
	HT_CHECK(!vq->broken, "queue broken: %s", vq->why);
	return 0;
}

/* Complete everything held (any shape of chain) and collect it; returns how many. */
static unsigned drain(struct virtq *vq)
{
	unsigned n = 0;
	uint32_t len;
	while (dev.nheld)
		psim_complete(&dev, (unsigned)rand() % dev.nheld, 0);
	while (virtq_get(vq, &len))
		n++;
	return n;
}

static int t_init(void)
{
	struct virtq vq;
	static _Alignas(64) uint8_t ring[1 << 16];
	static uint8_t priv[64 * 16];
	HT_CHECK(virtq_setup(&vq, 0, ring, priv, 0, VIRTQ_PACKED) == -EINVAL, "size 0");
	HT_CHECK(virtq_setup(&vq, 64, ring + 8, priv, 0, VIRTQ_PACKED) == -EINVAL, "misaligned");
	HT_CHECK(virtq_setup(&vq, 64, ring, priv, 1, VIRTQ_PACKED) == -EINVAL, "ind_max 1");
	HT_CHECK(virtq_setup(&vq, 48, ring, priv, 0, VIRTQ_PACKED) == 0, "size 48 (not a power of two)");
	HT_CHECK(vq.packed && vq.avail_wrap && vq.used_wrap, "wrap counters start at 1");
	HT_CHECK(vq.desc_addr == (uintptr_t)ring && vq.driver_addr % 4 == 0 && vq.device_addr % 4 == 0 &&
			 vq.driver_addr >= vq.desc_addr + 48 * 16 && vq.device_addr != vq.driver_addr,
		 "area addresses");
	HT_CHECK(virtq_bytes(32768, 0, VIRTQ_PACKED) >= 32768 * 16 + 8, "bytes at max size");
	return 0;
}

static int t_basic(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 8, 0, 0) == 0, "setup");
	struct virtq *vq = &m.vq;
	HT_CHECK(virtq_peek_head(vq) == 0, "peek head");
	int id = add_req(vq, &reqs[0], false);
	HT_CHECK(id == 0, "add returned %d", id);
	HT_CHECK(vq->num_free == 5 && vq->next_avail == 3, "num_free %u next %u", vq->num_free, vq->next_avail);
	HT_CHECK(virtq_kick_prepare(vq), "first kick not wanted");
	HT_CHECK(!virtq_kick_prepare(vq), "second kick with nothing new");
	uint32_t len = 0;
	HT_CHECK(!virtq_pending(vq) && virtq_get(vq, &len) == NULL, "completion before the device");
	HT_CHECK(psim_take(&dev), "device saw nothing: %s", dev.error);
	HT_CHECK(dev.held[0].ndesc == 3 && dev.held[0].rlen == 16 && dev.held[0].wlen == 513 &&
			 dev.held[0].id == 0,
		 "chain shape %u %u %u", dev.held[0].ndesc, dev.held[0].rlen, dev.held[0].wlen);
	psim_complete(&dev, 0, 513);
	HT_CHECK(virtq_pending(vq), "not pending");
	void *t = virtq_get(vq, &len);
	HT_CHECK(t == &reqs[0] && len == 513, "get %p len %u", t, len);
	HT_CHECK(reqs[0].status == 0xa5 && reqs[0].data[511] == 0xa5, "device data not seen");
	HT_CHECK(vq->num_free == 8 && vq->inflight == 0 && vq->last_used == 3, "free %u inflight %u",
		 vq->num_free, vq->inflight);
	HT_CHECK(virtq_get(vq, &len) == NULL && !vq->broken, "extra completion");
	qfree(&m);
	return 0;
}

static int run_full(uint16_t size, unsigned want)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, size, 0, 0) == 0, "setup");
	struct virtq *vq = &m.vq;
	for (int round = 0; round < 5; round++) {
		unsigned n = 0;
		int err;
		while ((err = add_req(vq, &reqs[n], n & 1)) >= 0)
			n++;
		HT_CHECK(err == -ENOSPC, "full ring returned %d", err);
		HT_CHECK(n == want, "size %u round %d: %u chains fit", size, round, n);
		virtq_kick_prepare(vq);
		HT_CHECK(psim_take_all(&dev) == n, "device took fewer: %s", dev.error);
		unsigned got = 0;
		if (complete_all(vq, &got))
			return -1;
		HT_CHECK(got == n, "round %d: got %u of %u", round, got, n);
		HT_CHECK(vq->num_free == size, "descriptors leaked: %u", vq->num_free);
	}
	struct virtq_buf big[65];
	for (int i = 0; i < 65; i++)
		big[i] = (struct virtq_buf){(uint64_t)(uintptr_t)reqs[i].data, 512};
	HT_CHECK(virtq_add(vq, big, (unsigned)size + 1, 0, &reqs[0]) == -EINVAL, "longer than the ring");
	HT_CHECK(virtq_add(vq, big, size, 0, &reqs[0]) >= 0, "a chain of the whole ring");
	HT_CHECK(virtq_add(vq, big, 1, 0, &reqs[1]) == -ENOSPC, "full after the whole ring");
	HT_CHECK(virtq_add(vq, big, 0, 0, &reqs[1]) == -EINVAL, "empty chain accepted");
	virtq_kick_prepare(vq);
	HT_CHECK(psim_take(&dev) && dev.held[0].ndesc == size, "whole-ring chain: %s", dev.error);
	unsigned got = 0;
	if (complete_all(vq, &got))
		return -1;
	qfree(&m);
	return 0;
}

static int t_full_ring(void)
{
	return run_full(64, 21) || run_full(48, 16) || run_full(7, 2) ? -1 : 0;
}

/* Many laps: random batches, completed out of order; wrap counters flip every lap. */
static int run_laps(uint16_t size, uint16_t ind_max, unsigned flags, unsigned total)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, size, ind_max, flags) == 0, "setup");
	struct virtq *vq = &m.vq;
	unsigned next = 0, done = 0, flips = 0;
	bool lastw = vq->used_wrap;
	while (done < total) {
		unsigned batch = (unsigned)rand() % 8 + 1;
		for (unsigned k = 0; k < batch && next < total; k++) {
			struct treq *r = &reqs[next % NREQ];
			if (r->busy)
				break;
			int id = add_req(vq, r, next & 1);
			if (id == -ENOSPC)
				break;
			HT_CHECK(id >= 0 && id < size, "add %d", id);
			r->busy = (next & 1) ? 1 : 513; /* the writable bytes: status, or data + status */
			next++;
		}
		virtq_kick_prepare(vq);
		psim_take_all(&dev);
		HT_CHECK(!dev.error[0], "device: %s", dev.error);
		unsigned c = dev.nheld ? (unsigned)rand() % (dev.nheld + 1) : 0;
		for (unsigned k = 0; k < c; k++) {
			unsigned i = (flags & VIRTQ_IN_ORDER) ? 0 : (unsigned)rand() % dev.nheld;
			psim_complete(&dev, i, dev.held[i].wlen);
		}
		uint32_t len;
		void *t;
		while ((t = virtq_get(vq, &len))) {
			struct treq *r = t;
			HT_CHECK(r->busy && r->status == 0xa5 && len == r->busy, "bad completion size %u ind %u flags %u: busy %u status %#x len %u", size, ind_max, flags, r->busy, r->status, len);
			r->busy = 0;
			done++;
		}
		HT_CHECK(!vq->broken, "broken: %s", vq->why);
		if (vq->used_wrap != lastw) {
			flips++;
			lastw = vq->used_wrap;
		}
	}
	HT_CHECK(vq->inflight == 0 && vq->num_free == size, "leak: %u in flight, %u free", vq->inflight,
		 vq->num_free);
	HT_CHECK(flips >= total * (ind_max ? 1 : 3) / size / 2, "only %u laps in %u chains", flips, total);
	qfree(&m);
	return 0;
}

static int t_laps(void)
{
	static const uint16_t sizes[] = {4, 7, 16, 100, 256};
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (run_laps(sizes[i], 0, 0, 30000) || run_laps(sizes[i], 4, VIRTQ_EVENT_IDX, 30000) ||
		    run_laps(sizes[i], 0, VIRTQ_IN_ORDER | VIRTQ_EVENT_IDX, 30000))
			return -1;
	}
	return 0;
}

static int t_indirect(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 12, 16, 0) == 0, "setup");
	struct virtq *vq = &m.vq;
	struct virtq_buf b[20];
	for (int i = 0; i < 20; i++)
		b[i] = (struct virtq_buf){(uint64_t)(uintptr_t)reqs[i].data, 512};
	HT_CHECK(virtq_cost(vq, 10) == 1 && virtq_cost(vq, 1) == 1 && virtq_cost(vq, 17) == 17, "cost");
	/* Twelve 10-buffer chains in a 12-descriptor ring: each one descriptor. */
	for (int k = 0; k < 12; k++)
		HT_CHECK(virtq_add(vq, b, 4, 6, &reqs[100 + k]) >= 0, "indirect add %d", k);
	HT_CHECK(vq->num_free == 0 && virtq_add(vq, b, 1, 0, &reqs[99]) == -ENOSPC, "full");
	virtq_kick_prepare(vq);
	HT_CHECK(psim_take_all(&dev) == 12 && dev.indirect_seen == 12, "device: %s", dev.error);
	HT_CHECK(dev.held[3].nbufs == 10 && dev.held[3].rlen == 2048 && dev.held[3].wlen == 3072,
		 "indirect chain shape");
	HT_CHECK(drain(vq) == 12 && !vq->broken, "indirect completions");
	/* Longer than a table: direct, wrapping around the end of the ring. */
	HT_CHECK(virtq_add(vq, b, 1, 0, &reqs[1]) >= 0, "one");
	virtq_kick_prepare(vq);
	psim_take_all(&dev);
	drain(vq);
	HT_CHECK(virtq_cost(vq, 8) == 1, "8 in a 16-entry table");
	HT_CHECK(virtq_add(vq, b, 8, 0, &reqs[2]) >= 0, "8 buffers");
	qfree(&m);
	HT_CHECK(qsetup(&m, 32, 16, 0) == 0, "setup");
	vq = &m.vq;
	for (int lap = 0; lap < 6; lap++) {
		HT_CHECK(virtq_add(vq, b, 10, 7, &reqs[3]) >= 0 && vq->num_free == 15, "17 direct");
		virtq_kick_prepare(vq);
		HT_CHECK(psim_take_all(&dev) == 1 && dev.held[0].ndesc == 17, "device: %s", dev.error);
		HT_CHECK(drain(vq) == 1 && !vq->broken, "17-descriptor completion");
	}
	HT_CHECK(dev.direct_seen == 6, "direct chains across the wrap");
	qfree(&m);
	return 0;
}

/* VIRTIO_F_IN_ORDER: one used descriptor ends a batch; every earlier buffer is done. */
static int t_in_order(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 16, 0, VIRTQ_IN_ORDER) == 0, "setup");
	struct virtq *vq = &m.vq;
	for (int lap = 0; lap < 20; lap++) {
		for (int i = 0; i < 5; i++)
			HT_CHECK(add_req(vq, &reqs[i], i & 1) >= 0, "add %d", i);
		virtq_kick_prepare(vq);
		HT_CHECK(psim_take_all(&dev) == 5, "take: %s", dev.error);
		psim_complete_batch(&dev, 3, 513);
		uint32_t len;
		for (int i = 0; i < 3; i++) {
			void *t = virtq_get(vq, &len);
			HT_CHECK(t == &reqs[i], "lap %d batch %d: got %p", lap, i, t);
			HT_CHECK(reqs[i].status == 0xa5, "batch data");
		}
		HT_CHECK(virtq_get(vq, &len) == NULL && !vq->broken && vq->inflight == 2, "after batch");
		psim_complete_batch(&dev, 1, 1);   /* reqs[3]: a write, 1 writable byte */
		psim_complete_batch(&dev, 1, 513); /* reqs[4]: a read */
		HT_CHECK(virtq_get(vq, &len) == &reqs[3] && len == 1, "single 3");
		HT_CHECK(virtq_get(vq, &len) == &reqs[4] && len == 513, "single 4");
		HT_CHECK(vq->inflight == 0 && vq->num_free == 16, "leak");
	}
	qfree(&m);
	return 0;
}

/* Device event suppression: DISABLE, ENABLE, and event offsets with the wrap bit. */
static int t_kick_suppression(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 8, 0, VIRTQ_EVENT_IDX) == 0, "setup");
	struct virtq *vq = &m.vq;
	struct virtq_buf b = {(uint64_t)(uintptr_t)reqs[0].data, 512};
	uint32_t len;
	psim_set_device_event(&dev, PVIRTQ_EVENT_F_DISABLE, 0, 0);
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[0]) >= 0, "add");
	HT_CHECK(!virtq_kick_prepare(vq), "kick while disabled");
	psim_set_device_event(&dev, PVIRTQ_EVENT_F_ENABLE, 0, 0);
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[1]) >= 0, "add");
	HT_CHECK(virtq_kick_prepare(vq), "no kick while enabled");
	psim_take_all(&dev);
	/* Positions 2..4 added; the device wants to hear when position 3 (wrap 1) is. */
	psim_set_device_event(&dev, PVIRTQ_EVENT_F_DESC, 3, 1);
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[2]) >= 0, "add");
	HT_CHECK(!virtq_kick_prepare(vq), "kick before offset 3 reached");
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[3]) >= 0 && virtq_add(vq, &b, 1, 0, &reqs[4]) >= 0, "add");
	HT_CHECK(virtq_kick_prepare(vq), "no kick at offset 3");
	psim_take_all(&dev);
	HT_CHECK(drain(vq) == 5, "drain");
	/* next_avail 5 (wrap 1). Offset 1 with wrap 0 names the next lap: only after wrapping. */
	psim_set_device_event(&dev, PVIRTQ_EVENT_F_DESC, 1, 0);
	for (int i = 0; i < 3; i++)
		HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[5 + i]) >= 0, "add");
	HT_CHECK(vq->next_avail == 0 && !vq->avail_wrap, "lap ended");
	HT_CHECK(!virtq_kick_prepare(vq), "kick before next lap's offset 1");
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[8]) >= 0 && virtq_add(vq, &b, 1, 0, &reqs[9]) >= 0, "add");
	HT_CHECK(virtq_kick_prepare(vq), "no kick at next lap's offset 1");
	/* An offset of an earlier lap (already passed): no kick. */
	psim_take_all(&dev);
	HT_CHECK(drain(vq) == 5, "drain");
	psim_set_device_event(&dev, PVIRTQ_EVENT_F_DESC, 6, 1);
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[10]) >= 0, "add");
	HT_CHECK(!virtq_kick_prepare(vq), "kick for a passed offset");
	/* Nonsense offset (beyond the ring): a harmless kick, not a crash. */
	psim_set_device_event(&dev, PVIRTQ_EVENT_F_DESC, 0x7fff, 1);
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[11]) >= 0, "add");
	HT_CHECK(virtq_kick_prepare(vq), "no kick for an out-of-ring offset");
	/* Without EVENT_IDX, DESC means nothing to us: kick. */
	vq->event_idx = false;
	HT_CHECK(virtq_add(vq, &b, 1, 0, &reqs[12]) >= 0, "add");
	HT_CHECK(virtq_kick_prepare(vq), "DESC without event idx");
	HT_CHECK(!vq->broken && virtq_get(vq, &len) == NULL, "state");
	qfree(&m);
	return 0;
}

/* Driver event suppression and the re-check after re-arming. */
static int run_irq(unsigned flags)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 8, 0, flags) == 0, "setup");
	struct virtq *vq = &m.vq;
	uint32_t len;
	for (int lap = 0; lap < 10; lap++) {
		for (int i = 0; i < 2; i++)
			HT_CHECK(add_req(vq, &reqs[i], true) >= 0, "add");
		virtq_kick_prepare(vq);
		psim_take_all(&dev);
		virtq_disable_cb(vq);
		psim_complete(&dev, 0, 1);
		HT_CHECK(!psim_should_interrupt(&dev), "lap %d: interrupt while disabled", lap);
		/* Arrived while disabled: enable must report it. */
		HT_CHECK(virtq_enable_cb(vq), "lap %d: re-check missed a completion", lap);
		HT_CHECK(virtq_get(vq, &len) != NULL, "get");
		HT_CHECK(!virtq_enable_cb(vq), "nothing more pending");
		psim_complete(&dev, 0, 1);
		HT_CHECK(psim_should_interrupt(&dev), "lap %d: no interrupt once armed", lap);
		HT_CHECK(virtq_get(vq, &len) != NULL, "get");
		HT_CHECK(!virtq_enable_cb(vq), "nothing pending");
		HT_CHECK(!psim_should_interrupt(&dev), "interrupt with nothing new");
	}
	HT_CHECK(!vq->broken, "broken: %s", vq->why);
	qfree(&m);
	return 0;
}

static int t_irq_suppression(void)
{
	return run_irq(0) || run_irq(VIRTQ_EVENT_IDX) ? -1 : 0;
}

/* With event offsets the device interrupts only once it reaches our last_used (across laps). */
static int t_event_offset_interrupt(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 8, 0, VIRTQ_EVENT_IDX) == 0, "setup");
	struct virtq *vq = &m.vq;
	uint32_t len;
	for (int lap = 0; lap < 12; lap++) {
		for (int i = 0; i < 2; i++)
			HT_CHECK(add_req(vq, &reqs[i], true) >= 0, "add");
		virtq_kick_prepare(vq);
		psim_take_all(&dev);
		HT_CHECK(!virtq_enable_cb(vq), "pending before completions");
		psim_complete(&dev, 0, 1);
		HT_CHECK(psim_should_interrupt(&dev), "lap %d: first completion silent", lap);
		/* Not drained: last_used unchanged, so the second one needs no interrupt. */
		psim_complete(&dev, 0, 1);
		HT_CHECK(!psim_should_interrupt(&dev), "lap %d: second interrupt before the drain", lap);
		HT_CHECK(virtq_get(vq, &len) && virtq_get(vq, &len), "two completions");
	}
	HT_CHECK(!vq->broken, "broken: %s", vq->why);
	qfree(&m);
	return 0;
}

/* ---- hostile device ---- */

enum hostile { H_BAD_ID, H_FREE_ID, H_DOUBLE, H_HUGE_LEN, H_LEN_PLUS1, H_WRONG_WRAP, H_HALF_FLAGS,
	       H_FROM_NOWHERE, H_IN_ORDER_FREE, H_NUM };
static const char *hostile_names[H_NUM] = {"bad id", "free id", "double completion",
	"huge length", "length+1", "wrong wrap counter", "AVAIL!=USED inverted",
	"used while nothing outstanding", "in-order batch naming a free id"};

static int run_hostile(enum hostile h, uint16_t ind_max)
{
	const char *name = hostile_names[h];
	struct qmem m;
	unsigned flags = (h & 1 ? VIRTQ_EVENT_IDX : 0) | (h == H_IN_ORDER_FREE ? VIRTQ_IN_ORDER : 0);
	HT_CHECK(qsetup(&m, 16, ind_max, flags) == 0, "setup");
	struct virtq *vq = &m.vq;
	uint32_t len;
	unsigned completed_ok = 0, nreq = 4;
	if (h == H_FROM_NOWHERE) {
		/* One full lap done cleanly, then a used descriptor with nothing outstanding. */
		for (int i = 0; i < 4; i++)
			HT_CHECK(add_req(vq, &reqs[i], false) >= 0, "add");
		virtq_kick_prepare(vq);
		psim_take_all(&dev);
		unsigned got = 0;
		complete_all(vq, &got);
		completed_ok = got;
		psim_push_raw(&dev, 0, 1, dev.used_wrap, 1);
		HT_CHECK(virtq_get(vq, &len) == NULL && vq->broken, "%s: accepted", name);
		qfree(&m);
		return 0;
	}
	for (unsigned i = 0; i < nreq; i++)
		HT_CHECK(add_req(vq, &reqs[i], false) >= 0, "add");
	virtq_kick_prepare(vq);
	psim_take_all(&dev);
	struct psim_chain c0 = dev.held[0];
	switch (h) {
	case H_BAD_ID:
		psim_push_raw(&dev, 16 + 1000, 1, dev.used_wrap, 1);
		break;
	case H_FREE_ID:
	case H_IN_ORDER_FREE:
		psim_push_raw(&dev, 15, 1, dev.used_wrap, 1);
		break;
	case H_DOUBLE:
		psim_complete(&dev, 0, c0.wlen);
		HT_CHECK(virtq_get(vq, &len) == &reqs[0], "first completion");
		completed_ok++;
		psim_push_raw(&dev, c0.id, c0.wlen, dev.used_wrap, 1);
		break;
	case H_HUGE_LEN:
		psim_push_raw(&dev, c0.id, 0xffffffffu, dev.used_wrap, 1);
		break;
	case H_LEN_PLUS1:
		psim_push_raw(&dev, c0.id, c0.wlen + 1, dev.used_wrap, 1);
		break;
	case H_WRONG_WRAP:
		psim_push_raw(&dev, c0.id, 1, !dev.used_wrap, 1); /* AVAIL = USED = the other lap */
		break;
	case H_HALF_FLAGS:
		/* AVAIL != USED, but the reverse of what we wrote. */
		__atomic_store_n(&dev.desc[0].flags,
				 (uint16_t)(dev.used_wrap ? PVIRTQ_DESC_F_USED : PVIRTQ_DESC_F_AVAIL),
				 __ATOMIC_RELAXED);
		break;
	default:
		break;
	}
	HT_CHECK(virtq_get(vq, &len) == NULL, "%s: accepted", name);
	HT_CHECK(vq->broken && vq->why, "%s: not marked broken", name);
	HT_CHECK(!virtq_pending(vq), "%s: pending on a broken queue", name);
	HT_CHECK(virtq_add(vq, (struct virtq_buf[]){{0, 1}}, 1, 0, &reqs[9]) == -ENODEV,
		 "%s: add on broken", name);
	HT_CHECK(!virtq_kick_prepare(vq), "%s: kick on broken", name);
	unsigned seen = 0, back = 0;
	void *t;
	while ((t = virtq_detach(vq))) {
		unsigned i = (unsigned)((struct treq *)t - reqs);
		HT_CHECK(i < nreq && !(seen & (1u << i)), "%s: detach returned %u twice", name, i);
		seen |= 1u << i;
		back++;
	}
	HT_CHECK(back + completed_ok == nreq, "%s: %u detached + %u completed", name, back, completed_ok);
	if (dev.nheld)
		psim_complete(&dev, 0, 1);
	HT_CHECK(virtq_get(vq, &len) == NULL, "%s: completion after broken", name);
	qfree(&m);
	return 0;
}

static int t_hostile(void)
{
	for (int h = 0; h < H_NUM; h++)
		if (run_hostile(h, 0) || run_hostile(h, 4))
			return -1;
	return 0;
}

/* Random used descriptors (ids, lengths, wrap bits, skips) must never corrupt us. */
static int t_hostile_fuzz(void)
{
	for (int round = 0; round < 3000; round++) {
		struct qmem m;
		uint16_t size = (uint16_t)(rand() % 30 + 2);
		unsigned flags = (rand() & 1 ? VIRTQ_EVENT_IDX : 0) | (rand() & 1 ? VIRTQ_IN_ORDER : 0);
		HT_CHECK(qsetup(&m, size, (rand() & 1) ? 4 : 0, flags) == 0, "setup");
		struct virtq *vq = &m.vq;
		unsigned live = 0, detached = 0, completed = 0;
		for (int step = 0; step < 80 && !vq->broken; step++) {
			if (rand() % 3 == 0) {
				if (add_req(vq, &reqs[rand() % 64], rand() & 1) >= 0)
					live++;
				virtq_kick_prepare(vq);
				psim_take_all(&dev);
			} else if (rand() % 5 == 0) {
				psim_push_raw(&dev, (uint16_t)(rand() % (size + 2)), (uint32_t)rand() % 1200,
					      rand() & 1, (uint16_t)(rand() % 4));
			} else if (dev.nheld) {
				psim_complete(&dev, (flags & VIRTQ_IN_ORDER) ? 0 : (unsigned)rand() % dev.nheld, 1);
			}
			if (rand() % 4 == 0)
				virtq_enable_cb(vq);
			uint32_t len;
			while (virtq_get(vq, &len)) {
				HT_CHECK(len <= 513, "len %u accepted", len);
				completed++;
			}
		}
		while (virtq_detach(vq))
			detached++;
		if (vq->broken)
			HT_CHECK(completed + detached == live, "tokens lost: %u + %u != %u", completed,
				 detached, live);
		qfree(&m);
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{"vq_packed_init", t_init},
	{"vq_packed_basic", t_basic},
	{"vq_packed_full_ring", t_full_ring},
	{"vq_packed_wrap_laps", t_laps},
	{"vq_packed_indirect", t_indirect},
	{"vq_packed_in_order", t_in_order},
	{"vq_packed_kick_suppression", t_kick_suppression},
	{"vq_packed_irq_suppression", t_irq_suppression},
	{"vq_packed_event_offset_interrupt", t_event_offset_interrupt},
	{"vq_packed_hostile", t_hostile},
	{"vq_packed_hostile_fuzz", t_hostile_fuzz},
};

int main(void)
{
	srand(4242);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		ht_run_isolated(tests[i].name, tests[i].fn);
	return ht_exit_status();
}
