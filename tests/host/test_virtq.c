/*
 * Host tests of the split virtqueue (drivers/virtio/virtq.c) against the
 * simulated device of simdev_virtq.c: full ring, 16-bit wrap-around, direct
 * and indirect chains, event-idx and flag-based suppression, the
 * disable -> drain -> enable -> re-check sequence, and a hostile device
 * (bad ids, double completion, huge lengths, used->idx running ahead) that
 * must be caught without memory errors under ASan/UBSan.
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
#include "tests/host/simdev_virtq.h"

static struct simdev dev; /* large: static */

struct qmem {
	struct virtq vq;
	void *ring;
	void *priv;
};

static int qsetup(struct qmem *m, uint16_t size, uint16_t ind_max, bool event_idx)
{
	size_t rb = virtq_ring_bytes(size, ind_max);
	m->ring = aligned_alloc(64, (rb + 63) & ~(size_t)63);
	m->priv = malloc(virtq_priv_bytes(size));
	memset(m->ring, 0, rb);
	int err = virtq_init(&m->vq, size, m->ring, m->priv, ind_max, event_idx);
	if (err)
		return err;
	simdev_attach(&dev, &m->vq);
	return 0;
}

static void qfree(struct qmem *m)
{
	free(m->ring);
	free(m->priv);
	m->ring = m->priv = NULL;
}

static struct treq reqs[NREQ];

/* Device completes every held chain (writing all writable bytes), driver collects. */
static int complete_all(struct virtq *vq, unsigned *got)
{
	while (dev.nheld) {
		unsigned i = (unsigned)rand() % dev.nheld;
		simdev_complete(&dev, i, dev.held[i].wlen);
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

static int t_need_event(void)
{
	/* event, new, old -> want */
	static const struct { uint16_t e, n, o; int want; } v[] = {
		{0, 1, 0, 1}, {0, 0, 0, 0}, {5, 3, 0, 0}, {5, 6, 3, 1}, {5, 5, 3, 0},
		{5, 7, 6, 0}, {65535, 0, 65534, 1}, {65535, 2, 65530, 1},
		{65534, 65535, 65535, 0}, {10, 10, 10, 0}, {3, 100, 0, 1},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		HT_CHECK(virtq_need_event(v[i].e, v[i].n, v[i].o) == v[i].want,
		      "need_event(%u,%u,%u)", v[i].e, v[i].n, v[i].o);
	return 0;
}

static int t_init_rejects(void)
{
	struct virtq vq;
	static _Alignas(64) uint8_t ring[65536];
	static struct virtq_slot priv[64];
	HT_CHECK(virtq_init(&vq, 0, ring, priv, 0, false) == -EINVAL, "size 0");
	HT_CHECK(virtq_init(&vq, 48, ring, priv, 0, false) == -EINVAL, "size 48");
	HT_CHECK(virtq_init(&vq, 64, ring + 8, priv, 0, false) == -EINVAL, "misaligned ring");
	HT_CHECK(virtq_init(&vq, 64, ring, priv, 1, false) == -EINVAL, "ind_max 1");
	HT_CHECK(virtq_init(&vq, 64, ring, priv, 0, false) == 0, "size 64");
	HT_CHECK((uintptr_t)vq.used % 4 == 0 && (uintptr_t)vq.avail % 2 == 0, "part alignment");
	HT_CHECK(virtq_ring_bytes(32768, 0) > 32768 * 16, "ring bytes at max size");
	return 0;
}

static int t_basic(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 8, 0, false) == 0, "setup");
	struct virtq *vq = &m.vq;
	HT_CHECK(virtq_peek_head(vq) == 0, "peek head");
	int head = add_req(vq, &reqs[0], false);
	HT_CHECK(head == 0, "add returned %d", head);
	HT_CHECK(vq->num_free == 5, "num_free %u", vq->num_free);
	HT_CHECK(virtq_kick_prepare(vq), "first kick not wanted");
	HT_CHECK(!virtq_kick_prepare(vq), "second kick with nothing new");
	HT_CHECK(simdev_take(&dev), "device saw nothing");
	HT_CHECK(!dev.error[0], "device: %s", dev.error);
	HT_CHECK(dev.held[0].ndesc == 3 && dev.held[0].rlen == 16 && dev.held[0].wlen == 513,
	      "chain shape %u %u %u", dev.held[0].ndesc, dev.held[0].rlen, dev.held[0].wlen);
	uint32_t len = 0;
	HT_CHECK(virtq_get(vq, &len) == NULL, "completion before device answered");
	simdev_complete(&dev, 0, 513);
	HT_CHECK(virtq_pending(vq), "not pending");
	void *t = virtq_get(vq, &len);
	HT_CHECK(t == &reqs[0] && len == 513, "get %p len %u", t, len);
	HT_CHECK(reqs[0].status == 0xa5 && reqs[0].data[511] == 0xa5, "device data not seen");
	HT_CHECK(vq->num_free == 8 && vq->inflight == 0, "free %u inflight %u", vq->num_free, vq->inflight);
	HT_CHECK(virtq_get(vq, &len) == NULL, "extra completion");
	qfree(&m);
	return 0;
}

static int t_full_ring(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 64, 0, false) == 0, "setup");
	struct virtq *vq = &m.vq;
	for (int round = 0; round < 3; round++) {
		unsigned n = 0;
		int err;
		while ((err = add_req(vq, &reqs[n], n & 1)) >= 0)
			n++;
		HT_CHECK(err == -ENOSPC, "full ring returned %d", err);
		HT_CHECK(n == 21, "round %d: %u 3-descriptor chains fit in 64", round, n);
		HT_CHECK(virtq_peek_head(vq) >= 0 && vq->num_free == 1, "one descriptor left");
		virtq_kick_prepare(vq);
		HT_CHECK(simdev_take_all(&dev) == n, "device took fewer");
		HT_CHECK(!dev.error[0], "device: %s", dev.error);
		unsigned got = 0;
		if (complete_all(vq, &got))
			return -1;
		HT_CHECK(got == n, "round %d: got %u of %u", round, got, n);
		HT_CHECK(vq->num_free == 64, "free list leaked: %u", vq->num_free);
	}
	/* A chain longer than the ring is refused, not truncated. */
	struct virtq_buf big[65];
	for (int i = 0; i < 65; i++)
		big[i] = (struct virtq_buf){(uint64_t)(uintptr_t)reqs[i].data, 512};
	HT_CHECK(virtq_add(vq, big, 65, 0, &reqs[0]) == -EINVAL, "65 buffers in 64");
	HT_CHECK(virtq_add(vq, big, 64, 0, &reqs[0]) >= 0, "64 buffers in 64");
	HT_CHECK(virtq_add(vq, big, 1, 0, &reqs[1]) == -ENOSPC, "full after 64");
	HT_CHECK(virtq_add(vq, big, 0, 0, &reqs[1]) == -EINVAL, "empty chain accepted");
	qfree(&m);
	return 0;
}

static int run_wrap(uint16_t size, uint16_t ind_max, bool event_idx, unsigned total)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, size, ind_max, event_idx) == 0, "setup");
	struct virtq *vq = &m.vq;
	unsigned issued = 0, got = 0;
	uint16_t first_avail = 0;
	while (got < total) {
		unsigned batch = 1 + (unsigned)rand() % 8;
		for (unsigned k = 0; k < batch && issued < total; k++) {
			int err = add_req(vq, &reqs[issued % NREQ], issued & 1);
			if (err == -ENOSPC)
				break;
			HT_CHECK(err >= 0, "add %d", err);
			issued++;
		}
		virtq_kick_prepare(vq);
		simdev_take_all(&dev);
		HT_CHECK(!dev.error[0], "device: %s", dev.error);
		/* Complete a random part, out of order. */
		unsigned c = dev.nheld ? (unsigned)rand() % (dev.nheld + 1) : 0;
		while (c--) {
			unsigned i = (unsigned)rand() % dev.nheld;
			simdev_complete(&dev, i, dev.held[i].wlen);
		}
		uint32_t len;
		void *t;
		while ((t = virtq_get(vq, &len))) {
			HT_CHECK(((struct treq *)t)->status == 0xa5, "status");
			got++;
		}
		HT_CHECK(!vq->broken, "broken: %s", vq->why);
	}
	HT_CHECK(issued == total && vq->inflight == 0 && vq->num_free == size, "end state");
	HT_CHECK((uint16_t)(vq->avail_idx - first_avail) == (uint16_t)total, "avail idx");
	HT_CHECK(vq->last_used == (uint16_t)total, "used idx %u", vq->last_used);
	qfree(&m);
	return 0;
}

static int t_wrap(void)
{
	/* Past 65535 twice, at both ends of the size range. */
	if (run_wrap(64, 0, false, 140000))
		return -1;
	if (run_wrap(4, 0, true, 70000))
		return -1;
	return run_wrap(1024, 4, true, 140000);
}

static int t_indirect(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 16, 8, false) == 0, "setup");
	struct virtq *vq = &m.vq;
	unsigned n = 0;
	while (add_req(vq, &reqs[n], true) >= 0)
		n++;
	HT_CHECK(n == 16, "indirect: %u requests in 16 slots", n);
	virtq_kick_prepare(vq);
	HT_CHECK(simdev_take_all(&dev) == 16 && dev.indirect_seen == 16, "device saw %llu indirect",
	      (unsigned long long)dev.indirect_seen);
	HT_CHECK(!dev.error[0], "device: %s", dev.error);
	HT_CHECK(dev.held[3].ndesc == 3 && dev.held[3].wlen == 1 && dev.held[3].rlen == 528,
	      "indirect chain shape");
	unsigned got = 0;
	if (complete_all(vq, &got))
		return -1;
	HT_CHECK(got == 16 && vq->num_free == 16, "got %u free %u", got, vq->num_free);
	/* More buffers than an indirect table holds: falls back to a direct chain. */
	struct virtq_buf b[9];
	for (int i = 0; i < 9; i++)
		b[i] = (struct virtq_buf){(uint64_t)(uintptr_t)reqs[i].data, 512};
	HT_CHECK(virtq_cost(vq, 9) == 9 && virtq_cost(vq, 8) == 1 && virtq_cost(vq, 1) == 1, "cost");
	HT_CHECK(virtq_add(vq, b, 4, 5, &reqs[0]) >= 0, "direct fallback");
	HT_CHECK(vq->num_free == 7, "direct fallback took %u", 16 - vq->num_free);
	/* A single buffer needs no table. */
	HT_CHECK(virtq_add(vq, b, 0, 1, &reqs[1]) >= 0 && vq->num_free == 6, "single buffer");
	virtq_kick_prepare(vq);
	HT_CHECK(simdev_take_all(&dev) == 2 && dev.direct_seen == 2, "direct seen %llu",
	      (unsigned long long)dev.direct_seen);
	HT_CHECK(dev.held[0].wlen == 5 * 512 && dev.held[0].ndesc == 9, "direct chain shape");
	got = 0;
	while (dev.nheld)
		simdev_complete(&dev, 0, dev.held[0].wlen);
	uint32_t len;
	while (virtq_get(vq, &len))
		got++;
	HT_CHECK(got == 2 && vq->num_free == 16 && !vq->broken, "fallback completion");
	qfree(&m);
	return 0;
}

/*
 * virtq_add3() builds what virtq_add() would: the same chain shapes seen by
 * the device (indirect with a table, direct without), the same errors, and
 * completions that come back through virtq_get(), lap after lap.
 */
static int run_add3(uint16_t ind_max)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 8, ind_max, true) == 0, "setup");
	struct virtq *vq = &m.vq;
	unsigned per_lap = ind_max ? 8 : 2; /* 3 direct descriptors each without a table */
	for (unsigned lap = 0; lap < 50; lap++) {
		unsigned n = 0;
		int err;
		while ((err = add_req3(vq, &reqs[n], (n + lap) & 1)) >= 0)
			n++;
		HT_CHECK(err == -ENOSPC && n == per_lap, "lap %u: %u added, then %d", lap, n, err);
		virtq_kick_prepare(vq);
		HT_CHECK(simdev_take_all(&dev) == n, "lap %u: device took fewer", lap);
		HT_CHECK(!dev.error[0], "device: %s", dev.error);
		for (unsigned i = 0; i < dev.nheld; i++) {
			struct treq *r = (struct treq *)(uintptr_t)dev.held[i].first_addr; /* hdr comes first */
			bool write = ((unsigned)(r - reqs) + lap) & 1;
			HT_CHECK(dev.held[i].ndesc == 3 && dev.held[i].rlen == (write ? 528u : 16u) &&
					 dev.held[i].wlen == (write ? 1u : 513u),
				 "lap %u: chain %u shape %u %u %u", lap, i, dev.held[i].ndesc, dev.held[i].rlen,
				 dev.held[i].wlen);
		}
		unsigned got = 0;
		if (complete_all(vq, &got))
			return -1;
		HT_CHECK(got == n && vq->num_free == 8 && !vq->broken, "lap %u: got %u free %u", lap, got,
			 vq->num_free);
	}
	HT_CHECK(ind_max ? dev.indirect_seen && !dev.direct_seen : dev.direct_seen && !dev.indirect_seen,
		 "indirect %llu direct %llu",
		 (unsigned long long)dev.indirect_seen, (unsigned long long)dev.direct_seen);
	HT_CHECK(add_req3(vq, &reqs[0], true) >= 0, "add after laps");
	struct virtq_buf b = {(uint64_t)(uintptr_t)reqs[1].data, 512};
	HT_CHECK(virtq_add3(vq, &b, &b, true, &b, NULL) == -EINVAL, "NULL token accepted");
	virtq_break(vq, "test");
	HT_CHECK(add_req3(vq, &reqs[1], true) == -ENODEV, "broken queue accepted a request");
	qfree(&m);
	return 0;
}

static int t_add3(void)
{
	if (run_add3(8))
		return -1;
	return run_add3(0);
}

static int t_event_idx_kick(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 64, 0, true) == 0, "setup");
	struct virtq *vq = &m.vq;
	simdev_set_avail_event(&dev, 5); /* wake me when entry 5 is published */
	for (int i = 0; i < 3; i++)
		add_req(vq, &reqs[i], true);
	HT_CHECK(!virtq_kick_prepare(vq), "kicked before avail_event (idx 3, event 5)");
	for (int i = 3; i < 6; i++)
		add_req(vq, &reqs[i], true);
	HT_CHECK(virtq_kick_prepare(vq), "no kick when crossing avail_event");
	add_req(vq, &reqs[6], true);
	HT_CHECK(!virtq_kick_prepare(vq), "kick past avail_event before the device re-armed");
	/* The device takes all and re-arms at its last_avail: next add kicks. */
	simdev_take_all(&dev);
	add_req(vq, &reqs[7], true);
	HT_CHECK(virtq_kick_prepare(vq), "no kick after device re-armed");
	/* Flags are ignored with event-idx. */
	simdev_take_all(&dev);
	simdev_set_no_notify(&dev, true);
	add_req(vq, &reqs[8], true);
	HT_CHECK(virtq_kick_prepare(vq), "NO_NOTIFY honoured under event-idx");
	simdev_take_all(&dev);
	/* Wrap: event at 65535, index crossing 0. */
	qfree(&m);
	HT_CHECK(qsetup(&m, 8, 0, true) == 0, "setup");
	vq = &m.vq;
	unsigned got = 0;
	for (unsigned i = 0; i < 65534; i++) {
		add_req(vq, &reqs[0], true);
		virtq_kick_prepare(vq);
		simdev_take_all(&dev);
		if (complete_all(vq, &got))
			return -1;
	}
	simdev_set_avail_event(&dev, 65535);
	add_req(vq, &reqs[0], true); /* idx 65534 -> 65535 */
	HT_CHECK(!virtq_kick_prepare(vq), "kick before 65535 published");
	HT_CHECK(add_req(vq, &reqs[1], true) >= 0, "add"); /* idx 65535 -> 0 */
	HT_CHECK(virtq_kick_prepare(vq), "no kick crossing 65535 -> 0");
	qfree(&m);
	return 0;
}

static int t_event_idx_interrupt(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 64, 0, true) == 0, "setup");
	struct virtq *vq = &m.vq;
	for (int i = 0; i < 8; i++)
		add_req(vq, &reqs[i], true);
	virtq_kick_prepare(vq);
	simdev_take_all(&dev);
	HT_CHECK(!virtq_enable_cb(vq), "pending with nothing used");
	simdev_complete(&dev, 0, 1);
	HT_CHECK(simdev_should_interrupt(&dev), "no interrupt for the first completion");
	/* Driver is draining (callbacks disabled): further completions stay quiet. */
	virtq_disable_cb(vq);
	uint32_t len;
	HT_CHECK(virtq_get(vq, &len) != NULL, "get");
	simdev_complete(&dev, 0, 1);
	simdev_complete(&dev, 0, 1);
	HT_CHECK(!simdev_should_interrupt(&dev), "interrupt while the driver drains");
	/* Re-arm: the two that arrived meanwhile must be noticed by the re-check. */
	HT_CHECK(virtq_enable_cb(vq), "re-check missed completions");
	HT_CHECK(virtq_get(vq, &len) && virtq_get(vq, &len) && !virtq_get(vq, &len), "drain 2");
	HT_CHECK(!virtq_enable_cb(vq), "pending after drain");
	simdev_complete(&dev, 0, 1);
	HT_CHECK(simdev_should_interrupt(&dev), "no interrupt after re-arm");
	qfree(&m);
	return 0;
}

static int t_flags(void)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 64, 0, false) == 0, "setup");
	struct virtq *vq = &m.vq;
	simdev_set_no_notify(&dev, true);
	add_req(vq, &reqs[0], true);
	HT_CHECK(!virtq_kick_prepare(vq), "kick despite VIRTQ_USED_F_NO_NOTIFY");
	simdev_set_no_notify(&dev, false);
	add_req(vq, &reqs[1], true);
	HT_CHECK(virtq_kick_prepare(vq), "no kick without NO_NOTIFY");
	simdev_take_all(&dev);
	virtq_disable_cb(vq);
	HT_CHECK(m.vq.avail->flags & VIRTQ_AVAIL_F_NO_INTERRUPT, "flag not published");
	simdev_complete(&dev, 0, 1);
	HT_CHECK(!simdev_should_interrupt(&dev), "interrupt despite NO_INTERRUPT");
	HT_CHECK(virtq_enable_cb(vq), "re-check missed a completion");
	HT_CHECK(!(m.vq.avail->flags & VIRTQ_AVAIL_F_NO_INTERRUPT), "flag not cleared");
	simdev_complete(&dev, 0, 1);
	HT_CHECK(simdev_should_interrupt(&dev), "no interrupt when enabled");
	qfree(&m);
	return 0;
}

/* ---- hostile device ---- */

enum hostile { H_BAD_ID, H_NOT_HEAD, H_FREE_ID, H_DOUBLE, H_HUGE_LEN, H_LEN_PLUS1, H_IDX_JUMP,
	       H_IDX_WRAP };

static int run_hostile(enum hostile h, uint16_t ind_max, const char *name)
{
	struct qmem m;
	HT_CHECK(qsetup(&m, 16, ind_max, h & 1) == 0, "setup");
	struct virtq *vq = &m.vq;
	for (int i = 0; i < 4; i++)
		HT_CHECK(add_req(vq, &reqs[i], false) >= 0, "add");
	virtq_kick_prepare(vq);
	simdev_take_all(&dev);
	uint32_t len;
	unsigned completed_ok = 0;
	struct simdev_chain c0 = dev.held[0];
	switch (h) {
	case H_BAD_ID:
		simdev_push_raw(&dev, 16 + 1000, 1, 1);
		break;
	case H_NOT_HEAD:
		HT_CHECK(!ind_max, "direct only");
		simdev_push_raw(&dev, (uint32_t)c0.head + 1, 1, 1); /* middle of a chain */
		break;
	case H_FREE_ID:
		simdev_push_raw(&dev, 15, 1, 1); /* never handed out */
		break;
	case H_DOUBLE:
		simdev_complete(&dev, 0, c0.wlen);
		HT_CHECK(virtq_get(vq, &len) == &reqs[0], "first completion");
		completed_ok++;
		simdev_push_raw(&dev, c0.head, c0.wlen, 1);
		break;
	case H_HUGE_LEN:
		simdev_push_raw(&dev, c0.head, 0xffffffffu, 1);
		break;
	case H_LEN_PLUS1:
		simdev_push_raw(&dev, c0.head, c0.wlen + 1, 1);
		break;
	case H_IDX_JUMP:
		simdev_push_raw(&dev, c0.head, 1, 1000);
		break;
	case H_IDX_WRAP:
		simdev_push_raw(&dev, c0.head, 1, 0xffff); /* "-1": 65535 completions */
		break;
	}
	HT_CHECK(virtq_get(vq, &len) == NULL, "%s: accepted", name);
	HT_CHECK(vq->broken && vq->why, "%s: not marked broken", name);
	HT_CHECK(!virtq_pending(vq), "%s: pending on a broken queue", name);
	HT_CHECK(virtq_add(vq, (struct virtq_buf[]){{0, 1}}, 1, 0, &reqs[9]) == -ENODEV,
	      "%s: add on broken", name);
	HT_CHECK(!virtq_kick_prepare(vq), "%s: kick on broken", name);
	/* Every outstanding token comes back exactly once. */
	unsigned seen = 0, back = 0;
	void *t;
	while ((t = virtq_detach(vq))) {
		struct treq *r = t;
		unsigned i = (unsigned)(r - reqs);
		HT_CHECK(i < 4 && !(seen & (1u << i)), "%s: detach returned %u twice", name, i);
		seen |= 1u << i;
		back++;
	}
	HT_CHECK(back + completed_ok == 4, "%s: %u detached + %u completed", name, back, completed_ok);
	/* The broken queue stays quiet, whatever the device writes next. */
	simdev_complete(&dev, 1, 1);
	HT_CHECK(virtq_get(vq, &len) == NULL, "%s: completion after broken", name);
	qfree(&m);
	return 0;
}

static int t_hostile(void)
{
	static const char *names[] = {"bad id", "middle of chain", "free id", "double completion",
				      "huge length", "length+1", "idx jump", "idx wrap"};
	for (int h = H_BAD_ID; h <= H_IDX_WRAP; h++)
		if (run_hostile(h, 0, names[h]))
			return -1;
	for (int h = H_BAD_ID; h <= H_IDX_WRAP; h++)
		if (h != H_NOT_HEAD && run_hostile(h, 4, names[h]))
			return -1;
	return 0;
}

/* A hostile device whose every used entry is random must never corrupt us. */
static int t_hostile_fuzz(void)
{
	for (int round = 0; round < 2000; round++) {
		struct qmem m;
		uint16_t size = (uint16_t)(1u << (rand() % 6 + 2));
		HT_CHECK(qsetup(&m, size, (rand() & 1) ? 4 : 0, rand() & 1) == 0, "setup");
		struct virtq *vq = &m.vq;
		unsigned live = 0, detached = 0, completed = 0;
		for (int step = 0; step < 64 && !vq->broken; step++) {
			if (rand() % 3 == 0) {
				if (add_req(vq, &reqs[rand() % 64], rand() & 1) >= 0)
					live++;
				virtq_kick_prepare(vq);
				simdev_take_all(&dev);
			} else if (rand() % 4 == 0) {
				simdev_push_raw(&dev, (uint32_t)rand() % (size + 2u),
						(uint32_t)rand() % 1200, (uint16_t)(rand() % 3));
			} else if (dev.nheld) {
				simdev_complete(&dev, (unsigned)rand() % dev.nheld, 1);
			}
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
	{"virtq_need_event", t_need_event},
	{"virtq_init_rejects", t_init_rejects},
	{"virtq_basic", t_basic},
	{"virtq_full_ring", t_full_ring},
	{"virtq_wrap_65535", t_wrap},
	{"virtq_indirect", t_indirect},
	{"virtq_add3", t_add3},
	{"virtq_event_idx_kick", t_event_idx_kick},
	{"virtq_event_idx_interrupt", t_event_idx_interrupt},
	{"virtq_flags_suppression", t_flags},
	{"virtq_hostile", t_hostile},
	{"virtq_hostile_fuzz", t_hostile_fuzz},
};

int main(void)
{
	srand(12345);
	/* Each case in its own process: a crash or sanitizer report fails one case, not all. */
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		ht_run_isolated(tests[i].name, tests[i].fn);
	return ht_exit_status();
}
