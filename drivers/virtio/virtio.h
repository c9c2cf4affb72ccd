/*
 * drivers/virtio: what a virtio device driver sees of its transport.
 *
 *   virtio.c      the initialisation sequence (3.1.1), feature names,
 *                 consistent config snapshots (2.5.1, generation counter)
 *   virtq.c       split virtqueues and the interface of virtq.h
 *   virtq_packed.c  packed virtqueues behind the same interface
 *   virtio_pci.c  the PCI transports behind struct virtio_ops: modern (4.1.4)
 *                 and legacy (4.1.4.8, I/O BAR 0)
 *
 * A device driver (virtio-blk) includes this header and virtq.h, never a PCI
 * one: the transport is a small table of functions (as OpenBSD's virtio_ops).
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_H
#define DRIVERS_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/virtio/virtq.h"

struct virtio_dev;

/*
 * Interrupt callbacks, run in interrupt context (queue: which virtqueue, or
 * VIRTIO_QUEUE_ANY when a shared line only says "some queue": INTx).
 */
#define VIRTIO_QUEUE_ANY (~0u)
typedef void (*virtio_queue_fn)(void *ctx, unsigned queue);
typedef void (*virtio_config_fn)(void *ctx);

enum virtio_intr_mode {
	VIRTIO_INTR_POLL,  /* no queue interrupts at all */
	VIRTIO_INTR_MSIX,  /* MSI-X: configuration and queue vectors */
	VIRTIO_INTR_INTX,  /* shared line, ISR register says why */
};

/* The ways of interrupting a transport is asked to set up (virtio_intr_setup() tries them in turn). */
enum virtio_irq_plan {
	VIRTIO_IRQ_MSIX_PER_QUEUE, /* MSI-X: entry 0 configuration, entry 1 + q queue q */
	VIRTIO_IRQ_MSIX_SHARED,    /* MSI-X: entry 0 configuration, entry 1 every queue */
	VIRTIO_IRQ_INTX,           /* the PCI interrupt line, shared; the ISR says why */
	VIRTIO_IRQ_CONFIG_ONLY,    /* no queue interrupt (polling); MSI-X entry 0 for configuration */
};

struct virtio_ops {
	uint8_t (*get_status)(struct virtio_dev *vd);
	/*
	 * Writing 0 resets the device and waits (1 s at most) until it reads
	 * back 0: 0, or -ETIMEDOUT when it never does (the device may still
	 * be using its queues and everything they point to).
	 */
	int (*set_status)(struct virtio_dev *vd, uint8_t status);
	uint64_t (*get_features)(struct virtio_dev *vd);
	void (*set_features)(struct virtio_dev *vd, uint64_t features);
	uint8_t (*config_generation)(struct virtio_dev *vd);
	/* Device-specific configuration: one access of `width` (1, 2, 4) bytes at off, as asked. */
	uint32_t (*config_read)(struct virtio_dev *vd, unsigned off, unsigned width);
	/* Largest size of queue q (0: no such queue). */
	uint16_t (*queue_max)(struct virtio_dev *vd, unsigned q);
	/* Tell the device where vq lives and enable it: 0, -EINVAL, -EIO. */
	int (*queue_setup)(struct virtio_dev *vd, unsigned q, struct virtq *vq);
	void (*notify)(struct virtio_dev *vd, unsigned q);
	/*
	 * Set up interrupts for nq queues the one way `plan` says (before
	 * queue_setup), and set vd->intr_mode. Every vector is written to the
	 * device and read back. 0; -EIO when the device refused a vector
	 * (it reads back VIRTIO_MSI_NO_VECTOR); another error when this way is
	 * not available (too few MSI-X entries, no INTx line). On failure
	 * nothing of it stays set up.
	 */
	int (*intr_setup)(struct virtio_dev *vd, unsigned nq, enum virtio_irq_plan plan,
			  virtio_queue_fn qfn, virtio_config_fn cfn, void *ctx);
	/*
	 * Undo intr_setup: no vector left in the device, MSI-X and INTx off
	 * at the function, vectors and handlers given back; intr_mode POLL.
	 */
	void (*intr_release)(struct virtio_dev *vd);
};

struct virtio_dev {
	const struct virtio_ops *ops;
	void *transport;
	char where[16];        /* transport address, "00:04.0" */
	uint16_t device_id;    /* VIRTIO_ID_* */
	uint32_t config_len;   /* bytes of device-specific configuration */
	uint64_t features;     /* negotiated */
	enum virtio_intr_mode intr_mode;
	/*
	 * Legacy (0.9.5) interface: 32 feature bits, no VERSION_1 and no
	 * FEATURES_OK step (virtio 1.2, 3.1.2); set by the transport.
	 */
	bool legacy;
	/* virtq_setup() flags the transport needs (VIRTQ_LEGACY): a driver ORs them in. */
	unsigned ring_flags;
	bool broken;
};

static inline bool virtio_has(const struct virtio_dev *vd, unsigned bit)
{
	return (vd->features >> bit) & 1;
}

/*
 * Reset, ACKNOWLEDGE, DRIVER, read features, write (offered & wanted),
 * FEATURES_OK and check it stuck (3.1.1 steps 1-6). VERSION_1 is required,
 * except on a legacy device (3.1.2: 32 bits, no FEATURES_OK step);
 * ACCESS_PLATFORM and ORDER_PLATFORM are accepted whenever offered.
 * 0, or a negative error after virtio_fail() with the reason.
 */
int virtio_negotiate(struct virtio_dev *vd, const char *name, uint64_t wanted);
/*
 * Interrupts for nq queues, as Linux's vp_find_vqs() falls back: one MSI-X
 * vector per queue, else one shared by the queues, else INTx, else none
 * (polling); `poll` asks for none (configuration changes by MSI-X if it can).
 * Says on the console why when the device refused a way. Always 0: a
 * device can be polled; vd->intr_mode says what came of it.
 */
int virtio_intr_setup(struct virtio_dev *vd, const char *name, unsigned nq, bool poll,
		      virtio_queue_fn qfn, virtio_config_fn cfn, void *ctx);
/* After a failed attach: give back what virtio_intr_setup() took. */
void virtio_intr_release(struct virtio_dev *vd);
/* Step 8: DRIVER_OK. */
void virtio_driver_ok(struct virtio_dev *vd);
/* Set FAILED and say why (name: the driver's device name). */
void virtio_fail(struct virtio_dev *vd, const char *name, const char *why);
/*
 * One field of a device's configuration layout (5.x, "Device configuration
 * layout"): where it is and how wide (1, 2, 4 or 8 bytes). A device driver
 * describes its structure with a table of these, so every field is read
 * with its own width, as 4.1.3.1 requires of modern devices.
 */
struct virtio_config_field {
	uint16_t off;
	uint8_t width;
};

/*
 * Read the fields lying wholly inside [off, off + len) of the device
 * configuration into buf (buf[0] is offset off; bytes no field covers are
 * 0), retrying until the generation counter is the same before and after
 * (2.5.1; a legacy device: until two passes agree). 0 or -EIO.
 */
int virtio_config_snapshot(struct virtio_dev *vd, const struct virtio_config_field *fields,
			   unsigned nfields, unsigned off, void *buf, unsigned len);
/* Append the names of the feature bits set in f (for the boot line). */
void virtio_feature_names(uint64_t f, const char *(*devname)(unsigned bit), char *buf,
			  unsigned len);

#endif
