/*
 * virtio-blk (virtio 1.2, 5.2) behind the block interface of blk.h.
 * Transport-independent: it sees its device through struct virtio_dev only.
 */
#ifndef DRIVERS_BLK_VIRTIO_BLK_H
#define DRIVERS_BLK_VIRTIO_BLK_H

#include "drivers/blk/blk.h"

struct virtio_dev;

/*
 * Negotiate, set up the request queues (one, or num_queues with MQ) and
 * interrupts (blk.poll=1: none),
 * DRIVER_OK, and fill in a block device called name (not yet registered).
 * 0, or a negative error after setting FAILED and printing why.
 */
int vblk_attach(struct virtio_dev *vd, const char *name, struct blk_dev **out);
/* One line for the boot log: capacity, block sizes, queue, interrupts, features. */
void vblk_describe(const struct blk_dev *bd, char *buf, unsigned len);
/* The driver's own view, for tests: negotiated feature bits, queue size, interrupt mode name. */
uint64_t vblk_features(const struct blk_dev *bd);
uint16_t vblk_queue_size(const struct blk_dev *bd);
const char *vblk_intr_mode(const struct blk_dev *bd);
/* Request queues in use, and virtio requests put on queue q so far. */
unsigned vblk_queue_count(const struct blk_dev *bd);
uint64_t vblk_queue_parts(const struct blk_dev *bd, unsigned q);

#endif
