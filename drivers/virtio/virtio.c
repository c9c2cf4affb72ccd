/*
 * Transport-independent virtio device handling: the initialisation sequence
 * of virtio 1.2, 3.1.1, and consistent reads of device configuration (2.5.1).
 */
#include "drivers/virtio/virtio.h"

#include "kernel/kernel.h"

CMDLINE_KEY(virtio_packed, "virtio.packed", cmdline_valid_bool,
	    "0: refuse packed virtqueues (VIRTIO_F_RING_PACKED) even when offered: split rings, for comparison");

void virtio_fail(struct virtio_dev *vd, const char *name, const char *why)
{
	printf("%s: virtio device at %s failed: %s\n", name, vd->where, why);
	vd->ops->set_status(vd, vd->ops->get_status(vd) | VIRTIO_STATUS_FAILED);
	vd->broken = true;
}

int virtio_negotiate(struct virtio_dev *vd, const char *name, uint64_t wanted)
{
	const struct virtio_ops *o = vd->ops;
	if (o->set_status(vd, 0)) {
		/* It may still be using what firmware gave it: it gets nothing from us. */
		virtio_fail(vd, name, "its reset did not complete within 1 s (status never read 0): not attached");
		return -ETIMEDOUT;
	}
	o->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	o->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t offered = o->get_features(vd);
	if (vd->legacy) {
		/* 3.1.2: 32 feature bits, accepted as written; no FEATURES_OK to confirm them. */
		vd->features = offered & wanted & 0xffffffffull;
		o->set_features(vd, vd->features);
		return 0;
	}
	if (!((offered >> VIRTIO_F_VERSION_1) & 1)) {
		virtio_fail(vd, name, "device does not offer VIRTIO_F_VERSION_1");
		return -ENODEV;
	}
	if (!cmdline_flag("virtio.packed", true))
		wanted &= ~(1ull << VIRTIO_F_RING_PACKED);
	/*
	 * 6.1 recommends accepting both; a device may refuse FEATURES_OK
	 * without them (QEMU's iommu_platform=on does). ACCESS_PLATFORM: the
	 * device reaches memory through bus addresses, which are physical
	 * ones here: Quill programs no IOMMU, so one left disabled by firmware
	 * passes them through. ORDER_PLATFORM: the ring barriers must be those
	 * for hardware devices, which arch/x86_64/barrier.h's are.
	 */
	wanted |= (1ull << VIRTIO_F_ACCESS_PLATFORM) | (1ull << VIRTIO_F_ORDER_PLATFORM);
	vd->features = offered & (wanted | (1ull << VIRTIO_F_VERSION_1));
	/* In-order completion is implemented for packed rings only (virtq_packed.c). */
	if (!virtio_has(vd, VIRTIO_F_RING_PACKED))
		vd->features &= ~(1ull << VIRTIO_F_IN_ORDER);
	o->set_features(vd, vd->features);
	o->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	if (!(o->get_status(vd) & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_fail(vd, name, "device refused our feature subset (FEATURES_OK did not stick)");
		return -EIO;
	}
	return 0;
}

int virtio_intr_setup(struct virtio_dev *vd, const char *name, unsigned nq, bool poll,
		      virtio_queue_fn qfn, virtio_config_fn cfn, void *ctx)
{
	static const struct {
		enum virtio_irq_plan plan;
		const char *what;
	} ladder[] = {
		{VIRTIO_IRQ_MSIX_PER_QUEUE, "an MSI-X vector per queue"},
		{VIRTIO_IRQ_MSIX_SHARED, "one MSI-X vector shared by the queues"},
		{VIRTIO_IRQ_INTX, "INTx"},
	};
	const char *refused = NULL;
	for (unsigned i = 0; i < ARRAY_SIZE(ladder) && !poll; i++) {
		int err = vd->ops->intr_setup(vd, nq, ladder[i].plan, qfn, cfn, ctx);
		if (!err) {
			if (refused)
				printf("%s: the device at %s refused %s: interrupts by %s\n", name, vd->where,
				       refused, ladder[i].what);
			return 0;
		}
		if (err == -EIO && !refused)
			refused = ladder[i].what;
	}
	if (!poll)
		printf("%s: no usable interrupt at %s (MSI-X %s, no INTx line): polling\n", name, vd->where,
		       refused ? "refused" : "absent");
	if (vd->ops->intr_setup(vd, nq, VIRTIO_IRQ_CONFIG_ONLY, qfn, cfn, ctx))
		vd->intr_mode = VIRTIO_INTR_POLL; /* not even configuration changes: they go unseen */
	return 0;
}

void virtio_intr_release(struct virtio_dev *vd)
{
	vd->ops->intr_release(vd);
}

void virtio_driver_ok(struct virtio_dev *vd)
{
	uint8_t fok = vd->legacy ? 0 : VIRTIO_STATUS_FEATURES_OK;
	vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | fok |
					VIRTIO_STATUS_DRIVER_OK);
}

/*
 * One pass over the fields lying wholly inside [off, off + len), each read
 * with its own width (4.1.3.1: an 8-bit field with an 8-bit access, 16 with
 * 16, 32 with 32; a 64-bit field as two 32-bit accesses, low half first).
 * Bytes no field covers (reserved, or past the device's configuration) are 0.
 */
static void virtio_config_read_fields(struct virtio_dev *vd, const struct virtio_config_field *fields,
				      unsigned nfields, unsigned off, uint8_t *out, unsigned len)
{
	memset(out, 0, len);
	for (unsigned i = 0; i < nfields; i++) {
		unsigned at = fields[i].off, width = fields[i].width;
		if (at < off || at - off > len || width > len - (at - off) || at + width > vd->config_len)
			continue;
		uint8_t *dst = out + (at - off);
		for (unsigned part = 0; part < width; part += 4) {
			unsigned w = width < 4 ? width : 4;
			uint32_t v = vd->ops->config_read(vd, at + part, w);
			for (unsigned k = 0; k < w; k++)
				dst[part + k] = (uint8_t)(v >> (8 * k));
		}
	}
}

#define VIRTIO_SNAPSHOT_MAX 64 /* legacy: bytes compared across two passes */

int virtio_config_snapshot(struct virtio_dev *vd, const struct virtio_config_field *fields,
			   unsigned nfields, unsigned off, void *buf, unsigned len)
{
	uint8_t *out = buf;
	for (int tries = 0; tries < 64; tries++) {
		uint8_t gen = vd->ops->config_generation(vd);
		virtio_config_read_fields(vd, fields, nfields, off, out, len);
		if (vd->legacy && len <= VIRTIO_SNAPSHOT_MAX) {
			/*
			 * No generation counter before 1.0: a field wider than one
			 * access (capacity) may change between its halves. Two passes
			 * that agree are taken as a consistent snapshot.
			 */
			uint8_t again[VIRTIO_SNAPSHOT_MAX];
			virtio_config_read_fields(vd, fields, nfields, off, again, len);
			if (memcmp(again, out, len) == 0)
				return 0;
			continue;
		}
		if (vd->ops->config_generation(vd) == gen)
			return 0;
	}
	return -EIO;
}

static const char *virtio_common_feature(unsigned bit)
{
	switch (bit) {
	case VIRTIO_F_INDIRECT_DESC: return "INDIRECT_DESC";
	case VIRTIO_F_EVENT_IDX: return "EVENT_IDX";
	case VIRTIO_F_VERSION_1: return "VERSION_1";
	case VIRTIO_F_ACCESS_PLATFORM: return "ACCESS_PLATFORM";
	case VIRTIO_F_RING_PACKED: return "RING_PACKED";
	case VIRTIO_F_IN_ORDER: return "IN_ORDER";
	case VIRTIO_F_ORDER_PLATFORM: return "ORDER_PLATFORM";
	default: return NULL;
	}
}

void virtio_feature_names(uint64_t f, const char *(*devname)(unsigned bit), char *buf,
			  unsigned len)
{
	unsigned n = 0;
	buf[0] = 0;
	for (unsigned bit = 0; bit < 64 && n < len; bit++) {
		if (!((f >> bit) & 1))
			continue;
		const char *name = devname ? devname(bit) : NULL;
		if (!name)
			name = virtio_common_feature(bit);
		int w = name ? snprintf(buf + n, len - n, "%s%s", n ? " " : "", name)
			     : snprintf(buf + n, len - n, "%sbit%u", n ? " " : "", bit);
		if (w < 0)
			break;
		n += (unsigned)w;
	}
}
