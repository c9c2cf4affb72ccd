/*
 * A request shaped like virtio-blk for the virtqueue host tests
 * (test_virtq.c, test_vq_packed.c): header (out), data (out or in), status (in).
 */
#ifndef TESTS_HOST_VQ_TESTREQ_H
#define TESTS_HOST_VQ_TESTREQ_H

#include <stdint.h>

#include "drivers/virtio/virtq.h"

struct treq {
	uint8_t hdr[16];
	uint8_t data[512];
	uint8_t status;
	unsigned id;   /* test_virtq: free for the test */
	unsigned busy; /* test_vq_packed: writable bytes while in flight */
};
#define NREQ 4096

static inline int add_req(struct virtq *vq, struct treq *r, bool write)
{
	struct virtq_buf b[3] = {
		{(uint64_t)(uintptr_t)r->hdr, sizeof(r->hdr)},
		{(uint64_t)(uintptr_t)r->data, sizeof(r->data)},
		{(uint64_t)(uintptr_t)&r->status, 1},
	};
	r->status = 0xff;
	return virtq_add(vq, b, write ? 2 : 1, write ? 1 : 2, r);
}

/* The same request through virtq_add3(), the driver's fast path. */
static inline int add_req3(struct virtq *vq, struct treq *r, bool write)
{
	struct virtq_buf hdr = {(uint64_t)(uintptr_t)r->hdr, sizeof(r->hdr)};
	struct virtq_buf data = {(uint64_t)(uintptr_t)r->data, sizeof(r->data)};
	struct virtq_buf status = {(uint64_t)(uintptr_t)&r->status, 1};
	r->status = 0xff;
	return virtq_add3(vq, &hdr, &data, !write, &status, r);
}

#endif
