/*
 * The virtio-pci transports behind struct virtio_ops: modern (virtio 1.2,
 * 4.1.4, memory regions found through vendor capabilities) and legacy
 * (4.1.4.8, registers in I/O BAR 0, for transitional devices that offer no
 * modern interface, QEMU disable-modern=on). Everything above the ops table
 * is shared; only register access differs.
 *
 *   probe       vendor capabilities -> common, notify, ISR, device regions,
 *               each checked to lie inside its (memory) BAR and to be long
 *               enough for what we access (4.1.4); none -> legacy, if BAR 0
 *               is I/O and the device transitional
 *   status      reset waits (bounded) for 0 to read back (4.1.4.3.2), legacy too
 *   queues      modern: select, size, three addresses, MSI-X vector (read
 *               back: the device answers VIRTIO_MSI_NO_VECTOR when it
 *               cannot), enable; notify address = notify base +
 *               queue_notify_off * multiplier. Legacy: the device's fixed
 *               size, vector, then the ring's page number (4096-aligned
 *               layout: the driver sets it up with vd->ring_flags)
 *   interrupts  one way per intr_setup call (virtio_intr_setup() falls
 *               back): MSI-X with entry 0 configuration and entry 1+q
 *               queue q, or entry 1 shared by all queues; every vector
 *               written is read back (refused: -EIO, nothing kept); INTx:
 *               the 8259 line firmware wrote in PCI_INTERRUPT_LINE, made
 *               level-triggered (ELCR), shared by every device on it, the
 *               ISR register read (and so cleared) to learn which device
 *               and why (as Linux's vp_interrupt). intr_release undoes
 *               either. Legacy device configuration moves from 0x14 to
 *               0x18 while MSI-X is on.
 */
#include "drivers/virtio/virtio_pci.h"

#include "arch/x86_64/arch.h"
#include "drivers/pci/pci_reg.h"
#include "kernel/kernel.h"

#define VPCI_RESET_TIMEOUT_US 1000000
#define VPCI_MAX_QUEUES 16
#define VPCI_PIC_LINES 16

struct vpci_dev;

struct vpci_queue {
	struct vpci_dev *vp;
	unsigned index;
	void *notify;     /* this queue's notify register */
	uint16_t entry;   /* MSI-X table entry, or VIRTIO_MSI_NO_VECTOR */
};

struct vpci_dev {
	struct virtio_dev vd;
	struct pci_dev *pd;
	uint16_t io;      /* legacy: I/O BAR 0 base, 0 for a modern device */
	uint32_t io_len;
	bool msix_on;
	bool intx_on;     /* on vpci_intx_chain[its line] */
	int vectors[VPCI_MAX_QUEUES + 2]; /* CPU vectors taken for MSI-X, given back by vpci_msix_off() */
	unsigned nvectors;
	uint8_t *common, *isr, *device, *notify_base;
	uint32_t notify_len, notify_mult, device_len;
	uint16_t num_queues;
	unsigned nq;
	struct vpci_queue q[VPCI_MAX_QUEUES];
	virtio_queue_fn qfn;
	virtio_config_fn cfn;
	void *ctx;
	struct vpci_dev *intx_next; /* next device sharing the line */
};

static struct vpci_dev *vpci_intx_chain[VPCI_PIC_LINES];

static struct vpci_dev *vpci(struct virtio_dev *vd)
{
	return vd->transport;
}

/* ---- common configuration ---- */

static uint8_t vpci_get_status(struct virtio_dev *vd)
{
	return mmio_read8(vpci(vd)->common + VIRTIO_PCI_COMMON_STATUS);
}

/*
 * After writing 0: the reset is complete when the status reads back 0
 * (4.1.4.3.2; a legacy device too, as Linux reads it back). A device that
 * never gets there within VPCI_RESET_TIMEOUT_US may still be using its
 * queues: -ETIMEDOUT.
 */
static int vpci_reset_wait(struct virtio_dev *vd)
{
	for (unsigned us = 0; us < VPCI_RESET_TIMEOUT_US; us += 10) {
		if (vd->ops->get_status(vd) == 0)
			return 0;
		udelay(10);
	}
	return -ETIMEDOUT;
}

static int vpci_set_status(struct virtio_dev *vd, uint8_t status)
{
	mmio_write8(vpci(vd)->common + VIRTIO_PCI_COMMON_STATUS, status);
	return status ? 0 : vpci_reset_wait(vd);
}

static uint64_t vpci_get_features(struct virtio_dev *vd)
{
	uint8_t *c = vpci(vd)->common;
	mmio_write32(c + VIRTIO_PCI_COMMON_DFSELECT, 0);
	uint64_t lo = mmio_read32(c + VIRTIO_PCI_COMMON_DF);
	mmio_write32(c + VIRTIO_PCI_COMMON_DFSELECT, 1);
	uint64_t hi = mmio_read32(c + VIRTIO_PCI_COMMON_DF);
	return lo | (hi << 32);
}

static void vpci_set_features(struct virtio_dev *vd, uint64_t f)
{
	uint8_t *c = vpci(vd)->common;
	mmio_write32(c + VIRTIO_PCI_COMMON_GFSELECT, 0);
	mmio_write32(c + VIRTIO_PCI_COMMON_GF, (uint32_t)f);
	mmio_write32(c + VIRTIO_PCI_COMMON_GFSELECT, 1);
	mmio_write32(c + VIRTIO_PCI_COMMON_GF, (uint32_t)(f >> 32));
}

static uint8_t vpci_config_generation(struct virtio_dev *vd)
{
	return mmio_read8(vpci(vd)->common + VIRTIO_PCI_COMMON_CFGGENERATION);
}

static uint32_t vpci_config_read(struct virtio_dev *vd, unsigned off, unsigned width)
{
	struct vpci_dev *vp = vpci(vd);
	if (!vp->device || off >= vp->device_len || width > vp->device_len - off)
		return 0; /* outside what the device exposes: reads as absent */
	switch (width) {
	case 1: return mmio_read8(vp->device + off);
	case 2: return mmio_read16(vp->device + off);
	default: return mmio_read32(vp->device + off);
	}
}

/* ---- vectors and ISR: the two register layouts ---- */

static uint8_t vpci_read_isr(struct vpci_dev *vp)
{
	return vp->io ? inb(vp->io + VIRTIO_PCI_LEGACY_ISR) : mmio_read8(vp->isr);
}

/* Write the configuration vector and return what the device kept. */
static uint16_t vpci_config_vector(struct vpci_dev *vp, uint16_t v)
{
	if (vp->io) {
		outw(vp->io + VIRTIO_PCI_LEGACY_CONFIG_VECTOR, v);
		return inw(vp->io + VIRTIO_PCI_LEGACY_CONFIG_VECTOR);
	}
	mmio_write16(vp->common + VIRTIO_PCI_COMMON_MSIX, v);
	return mmio_read16(vp->common + VIRTIO_PCI_COMMON_MSIX);
}

/* Write queue q's MSI-X entry and return what the device kept. */
static uint16_t vpci_queue_vector_set(struct vpci_dev *vp, unsigned q, uint16_t v)
{
	if (vp->io) {
		outw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_SEL, (uint16_t)q);
		outw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_VECTOR, v);
		return inw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_VECTOR);
	}
	mmio_write16(vp->common + VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)q);
	mmio_write16(vp->common + VIRTIO_PCI_COMMON_Q_MSIX, v);
	return mmio_read16(vp->common + VIRTIO_PCI_COMMON_Q_MSIX);
}

/*
 * Queue q's MSI-X entry as intr_setup chose it (none without MSI-X), read
 * back: the device answers VIRTIO_MSI_NO_VECTOR when it cannot. 0 or -EIO.
 * Leaves q selected.
 */
static int vpci_queue_vector(struct vpci_dev *vp, unsigned q)
{
	uint16_t want = vp->msix_on ? vp->q[q].entry : VIRTIO_MSI_NO_VECTOR;
	if (vp->io && !vp->msix_on) {
		outw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_SEL, (uint16_t)q);
		return 0; /* the register exists only while MSI-X is on */
	}
	uint16_t got = vpci_queue_vector_set(vp, q, want);
	if (want != VIRTIO_MSI_NO_VECTOR && got != want) {
		printf("virtio-pci %s: device refused MSI-X entry %u for queue %u\n", vp->vd.where, want, q);
		return -EIO;
	}
	return 0;
}

/* ---- legacy registers (4.1.4.8) ---- */

static uint8_t vleg_get_status(struct virtio_dev *vd)
{
	return inb(vpci(vd)->io + VIRTIO_PCI_LEGACY_STATUS);
}

static int vleg_set_status(struct virtio_dev *vd, uint8_t status)
{
	outb(vpci(vd)->io + VIRTIO_PCI_LEGACY_STATUS, status);
	return status ? 0 : vpci_reset_wait(vd);
}

static uint64_t vleg_get_features(struct virtio_dev *vd)
{
	return inl(vpci(vd)->io + VIRTIO_PCI_LEGACY_HOST_FEATURES);
}

static void vleg_set_features(struct virtio_dev *vd, uint64_t f)
{
	outl(vpci(vd)->io + VIRTIO_PCI_LEGACY_GUEST_FEATURES, (uint32_t)f);
}

static uint8_t vleg_config_generation(struct virtio_dev *vd)
{
	return 0; /* none in legacy: virtio_config_snapshot() reads once */
}

static uint32_t vleg_config_read(struct virtio_dev *vd, unsigned off, unsigned width)
{
	struct vpci_dev *vp = vpci(vd);
	unsigned base = vp->msix_on ? VIRTIO_PCI_LEGACY_CONFIG_MSIX : VIRTIO_PCI_LEGACY_CONFIG;
	if (base + off >= vp->io_len || width > vp->io_len - base - off)
		return 0; /* beyond the BAR: reads as absent */
	uint16_t port = (uint16_t)(vp->io + base + off);
	switch (width) {
	case 1: return inb(port);
	case 2: return inw(port);
	default: return inl(port);
	}
}

static uint16_t vleg_queue_max(struct virtio_dev *vd, unsigned q)
{
	struct vpci_dev *vp = vpci(vd);
	if (q >= vp->num_queues)
		return 0;
	outw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_SEL, (uint16_t)q);
	return inw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_NUM);
}

static int vleg_queue_setup(struct virtio_dev *vd, unsigned q, struct virtq *vq)
{
	struct vpci_dev *vp = vpci(vd);
	uint16_t io = vp->io;
	if (q >= vp->num_queues || vq->packed)
		return -EINVAL;
	outw(io + VIRTIO_PCI_LEGACY_QUEUE_SEL, (uint16_t)q);
	/* The size is the device's; the ring one page-aligned block below 2^44 (32-bit PFN). */
	uint64_t pfn = vq->desc_addr >> VIRTIO_PCI_LEGACY_PFN_SHIFT;
	if (vq->size != inw(io + VIRTIO_PCI_LEGACY_QUEUE_NUM) || inl(io + VIRTIO_PCI_LEGACY_QUEUE_PFN) ||
	    (vq->desc_addr & (VIRTIO_PCI_LEGACY_ALIGN - 1)) || pfn > UINT32_MAX) {
		printf("virtio-pci %s: legacy queue %u: size %u (device %u) or ring address unusable\n",
		       vd->where, q, vq->size, inw(io + VIRTIO_PCI_LEGACY_QUEUE_NUM));
		return -EINVAL;
	}
	vp->q[q].vp = vp;
	vp->q[q].index = q;
	if (vpci_queue_vector(vp, q))
		return -EIO;
	outl(io + VIRTIO_PCI_LEGACY_QUEUE_PFN, (uint32_t)pfn);
	return 0;
}

static void vleg_notify(struct virtio_dev *vd, unsigned q)
{
	outw(vpci(vd)->io + VIRTIO_PCI_LEGACY_QUEUE_NOTIFY, (uint16_t)q);
}

/* ---- queues ---- */

static uint16_t vpci_queue_max(struct virtio_dev *vd, unsigned q)
{
	struct vpci_dev *vp = vpci(vd);
	if (q >= vp->num_queues || q >= VPCI_MAX_QUEUES)
		return 0;
	mmio_write16(vp->common + VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)q);
	return mmio_read16(vp->common + VIRTIO_PCI_COMMON_Q_SIZE);
}

static void vpci_write64(uint8_t *lo, uint64_t v)
{
	mmio_write32(lo, (uint32_t)v);
	mmio_write32(lo + 4, (uint32_t)(v >> 32));
}

static int vpci_queue_setup(struct virtio_dev *vd, unsigned q, struct virtq *vq)
{
	struct vpci_dev *vp = vpci(vd);
	uint8_t *c = vp->common;
	if (q >= vp->num_queues || q >= VPCI_MAX_QUEUES)
		return -EINVAL;
	mmio_write16(c + VIRTIO_PCI_COMMON_Q_SELECT, (uint16_t)q);
	uint16_t max = mmio_read16(c + VIRTIO_PCI_COMMON_Q_SIZE);
	if (vq->size > max || mmio_read16(c + VIRTIO_PCI_COMMON_Q_ENABLE))
		return -EINVAL;
	/* 4.1.4.4: the queue's notify register must lie inside the notify region. */
	uint64_t noff = (uint64_t)mmio_read16(c + VIRTIO_PCI_COMMON_Q_NOFF) * vp->notify_mult;
	if (noff + 2 > vp->notify_len) {
		printf("virtio-pci %s: queue %u notify offset %llu outside the %u-byte region\n",
		       vd->where, q, (unsigned long long)noff, vp->notify_len);
		return -EINVAL;
	}
	vp->q[q].vp = vp;
	vp->q[q].index = q;
	vp->q[q].notify = vp->notify_base + noff;
	mmio_write16(c + VIRTIO_PCI_COMMON_Q_SIZE, vq->size);
	vpci_write64(c + VIRTIO_PCI_COMMON_Q_DESCLO, vq->desc_addr);
	vpci_write64(c + VIRTIO_PCI_COMMON_Q_AVAILLO, vq->driver_addr);
	vpci_write64(c + VIRTIO_PCI_COMMON_Q_USEDLO, vq->device_addr);
	if (vpci_queue_vector(vp, q))
		return -EIO;
	mmio_write16(c + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	return 0;
}

static void vpci_notify(struct virtio_dev *vd, unsigned q)
{
	/* 4.1.5.2: without VIRTIO_F_NOTIFICATION_DATA the value is the queue index. */
	mmio_write16(vpci(vd)->q[q].notify, (uint16_t)q);
}

/* ---- interrupts ---- */

static void vpci_msix_queue_irq(void *ctx)
{
	struct vpci_queue *q = ctx;
	q->vp->qfn(q->vp->ctx, q->index);
}

static void vpci_msix_shared_irq(void *ctx)
{
	struct vpci_dev *vp = ctx;
	vp->qfn(vp->ctx, VIRTIO_QUEUE_ANY);
}

static void vpci_msix_config_irq(void *ctx)
{
	struct vpci_dev *vp = ctx;
	vp->cfn(vp->ctx);
}

static void vpci_intx_irq(void *ctx)
{
	for (struct vpci_dev *vp = *(struct vpci_dev **)ctx; vp; vp = vp->intx_next) {
		/* Reading ISR clears it and de-asserts the line (4.1.4.5). */
		uint8_t isr = vpci_read_isr(vp);
		if (isr & VIRTIO_PCI_ISR_QUEUE)
			vp->qfn(vp->ctx, VIRTIO_QUEUE_ANY); /* the ISR does not say which */
		if (isr & VIRTIO_PCI_ISR_CONFIG)
			vp->cfn(vp->ctx);
	}
}

/* A CPU vector routed to fn, remembered in vp->vectors[] so vpci_msix_off() gives it back. */
static int vpci_vector(struct vpci_dev *vp, irq_handler_fn fn, void *ctx)
{
	int v = irq_alloc_vector();
	if (v < 0)
		return v;
	vp->vectors[vp->nvectors++] = v;
	int err = irq_register(v, fn, ctx);
	return err ? err : v;
}

/*
 * MSI-X off: no vector left in the device, MSI-X disabled, INTx kept
 * disabled (a failed device must not raise a line others may share), the
 * CPU vectors and their handlers given back.
 */
static void vpci_msix_off(struct vpci_dev *vp)
{
	if (!vp->msix_on)
		return;
	vpci_config_vector(vp, VIRTIO_MSI_NO_VECTOR);
	for (unsigned q = 0; q < vp->nq; q++) {
		vp->q[q].entry = VIRTIO_MSI_NO_VECTOR;
		vpci_queue_vector_set(vp, q, VIRTIO_MSI_NO_VECTOR);
	}
	pci_msix_disable(vp->pd);
	pci_command(vp->pd, PCI_COMMAND_INTX_DISABLE, 0);
	vp->msix_on = false;
	while (vp->nvectors)
		irq_free_vector(vp->vectors[--vp->nvectors]);
}

/*
 * MSI-X for `plan`: entry 0 for configuration changes; entry 1 + q for
 * queue q (PER_QUEUE), entry 1 for every queue (SHARED: its handler cannot
 * tell which, so all are drained, as Linux's shared-vector fallback), or
 * none (CONFIG_ONLY). Each vector written is read back. 0, -EIO when the
 * device refused one, -ENODEV when the device has too few entries.
 */
static int vpci_msix_setup(struct vpci_dev *vp, unsigned nq, enum virtio_irq_plan plan)
{
	struct pci_dev *pd = vp->pd;
	unsigned need = plan == VIRTIO_IRQ_MSIX_PER_QUEUE ? nq + 1 : plan == VIRTIO_IRQ_MSIX_SHARED ? 2 : 1;
	if (!pd->msix_cap || pd->msix_size < need)
		return -ENODEV;
	int err = pci_msix_enable(pd);
	if (err)
		return err;
	vp->msix_on = true;
	int v = vpci_vector(vp, vpci_msix_config_irq, vp);
	if (v < 0) {
		err = v;
		goto fail;
	}
	pci_msix_route(pd, 0, v);
	if (vpci_config_vector(vp, 0) != 0) {
		printf("virtio-pci %s: device refused MSI-X entry 0 for configuration changes\n", vp->vd.where);
		err = -EIO;
		goto fail;
	}
	if (plan == VIRTIO_IRQ_MSIX_SHARED) {
		if ((v = vpci_vector(vp, vpci_msix_shared_irq, vp)) < 0) {
			err = v;
			goto fail;
		}
		pci_msix_route(pd, 1, v);
	}
	for (unsigned q = 0; q < nq; q++) {
		vp->q[q].vp = vp;
		vp->q[q].index = q;
		vp->q[q].entry = VIRTIO_MSI_NO_VECTOR;
		if (plan == VIRTIO_IRQ_MSIX_SHARED) {
			vp->q[q].entry = 1;
		} else if (plan == VIRTIO_IRQ_MSIX_PER_QUEUE) {
			if ((v = vpci_vector(vp, vpci_msix_queue_irq, &vp->q[q])) < 0) {
				err = v;
				goto fail;
			}
			pci_msix_route(pd, 1 + q, v);
			vp->q[q].entry = (uint16_t)(1 + q);
		}
		if ((err = vpci_queue_vector(vp, q)))
			goto fail;
	}
	return 0;
fail:
	vpci_msix_off(vp);
	return err;
}

/* Take vp off its INTx line: the function's INTx disabled, the line masked once nobody is left on it. */
static void vpci_intx_off(struct vpci_dev *vp)
{
	if (!vp->intx_on)
		return;
	unsigned line = vp->pd->irq_line;
	pci_command(vp->pd, PCI_COMMAND_INTX_DISABLE, 0);
	uint64_t flags = irq_save();
	struct vpci_dev **p = &vpci_intx_chain[line];
	while (*p && *p != vp)
		p = &(*p)->intx_next;
	if (*p)
		*p = vp->intx_next;
	bool alone = !vpci_intx_chain[line];
	irq_restore(flags);
	if (alone) {
		pic_mask(line);
		irq_unregister(PIC_VECTOR_BASE + (int)line);
	}
	vp->intx_on = false;
}

static int vpci_intx_setup(struct vpci_dev *vp)
{
	unsigned line = vp->pd->irq_line;
	if (!vp->pd->irq_pin || line == 0 || line >= VPCI_PIC_LINES)
		return -ENODEV;
	/*
	 * PCI INTx is level-triggered and shared (PCI 3.0, 2.2.6); the 8259
	 * line must be too, whatever the firmware left in the ELCR.
	 */
	bool was_level;
	int err = pic_set_level(line, &was_level);
	if (err) {
		printf("virtio-pci %s: INTx line %u cannot be made level-triggered at the 8259 (%d)\n",
		       vp->vd.where, line, err);
		return -ENODEV;
	}
	if (!was_level)
		printf("virtio-pci %s: INTx line %u was edge-triggered at the 8259: made level-triggered (ELCR)\n",
		       vp->vd.where, line);
	pci_command(vp->pd, 0, PCI_COMMAND_INTX_DISABLE);
	uint64_t flags = irq_save();
	bool first = !vpci_intx_chain[line];
	vp->intx_next = vpci_intx_chain[line];
	vpci_intx_chain[line] = vp;
	vp->intx_on = true;
	irq_restore(flags);
	if (first) {
		err = irq_register(PIC_VECTOR_BASE + (int)line, vpci_intx_irq, &vpci_intx_chain[line]);
		if (err) {
			vpci_intx_off(vp);
			return err;
		}
		pic_unmask(line);
	}
	return 0;
}

static int vpci_intr_setup(struct virtio_dev *vd, unsigned nq, enum virtio_irq_plan plan,
			   virtio_queue_fn qfn, virtio_config_fn cfn, void *ctx)
{
	struct vpci_dev *vp = vpci(vd);
	if (nq > vp->num_queues || nq > VPCI_MAX_QUEUES)
		return -EINVAL;
	vp->nq = nq;
	vp->qfn = qfn;
	vp->cfn = cfn;
	vp->ctx = ctx;
	int err;
	switch (plan) {
	case VIRTIO_IRQ_INTX:
		err = vpci_intx_setup(vp);
		vd->intr_mode = err ? VIRTIO_INTR_POLL : VIRTIO_INTR_INTX;
		return err;
	case VIRTIO_IRQ_CONFIG_ONLY:
		vd->intr_mode = VIRTIO_INTR_POLL;
		return vpci_msix_setup(vp, nq, plan);
	default:
		err = vpci_msix_setup(vp, nq, plan);
		vd->intr_mode = err ? VIRTIO_INTR_POLL : VIRTIO_INTR_MSIX;
		return err;
	}
}

static void vpci_intr_release(struct virtio_dev *vd)
{
	struct vpci_dev *vp = vpci(vd);
	vpci_msix_off(vp);
	vpci_intx_off(vp);
	vd->intr_mode = VIRTIO_INTR_POLL;
}

static const struct virtio_ops vpci_ops = {
	.get_status = vpci_get_status,
	.set_status = vpci_set_status,
	.get_features = vpci_get_features,
	.set_features = vpci_set_features,
	.config_generation = vpci_config_generation,
	.config_read = vpci_config_read,
	.queue_max = vpci_queue_max,
	.queue_setup = vpci_queue_setup,
	.notify = vpci_notify,
	.intr_setup = vpci_intr_setup,
	.intr_release = vpci_intr_release,
};

static const struct virtio_ops vleg_ops = {
	.get_status = vleg_get_status,
	.set_status = vleg_set_status,
	.get_features = vleg_get_features,
	.set_features = vleg_set_features,
	.config_generation = vleg_config_generation,
	.config_read = vleg_config_read,
	.queue_max = vleg_queue_max,
	.queue_setup = vleg_queue_setup,
	.notify = vleg_notify,
	.intr_setup = vpci_intr_setup,
	.intr_release = vpci_intr_release,
};

/* ---- probe ---- */

bool vpci_match(const struct pci_dev *pd, uint16_t *device_id)
{
	if (pd->vendor != VIRTIO_PCI_VENDOR)
		return false;
	if (pd->device >= VIRTIO_PCI_DEVICE_MODERN_BASE && pd->device <= VIRTIO_PCI_DEVICE_MODERN_BASE + 0x3f) {
		*device_id = (uint16_t)(pd->device - VIRTIO_PCI_DEVICE_MODERN_BASE);
		return true;
	}
	if (pd->device == VIRTIO_PCI_DEVICE_BLK_TRANSITIONAL) { /* the subsystem id says 2 */
		*device_id = VIRTIO_ID_BLOCK;
		return true;
	}
	return false;
}

/* Map the region a virtio capability describes; NULL (and why) when it is not acceptable. */
static uint8_t *vpci_cap_region(struct pci_dev *pd, unsigned cap, uint32_t min_len, uint32_t *len,
				const char **why)
{
	unsigned bar = pci_read8(pd, cap + VIRTIO_PCI_CAP_BAR);
	uint32_t off = pci_read32(pd, cap + VIRTIO_PCI_CAP_OFFSET);
	uint32_t l = pci_read32(pd, cap + VIRTIO_PCI_CAP_LENGTH);
	if (bar >= PCI_NUM_BARS || pd->bar[bar].io) {
		*why = "not in a memory BAR";
		return NULL;
	}
	if (l < min_len) {
		*why = "shorter than its registers";
		return NULL;
	}
	uint8_t *p = pci_bar_region(pd, bar, off, l);
	if (!p) {
		*why = "outside its BAR (or the BAR cannot be mapped)";
		return NULL;
	}
	*len = l;
	return p;
}

/*
 * A transitional device without modern capabilities: registers in I/O BAR 0.
 * Queues are counted by selecting them until one has size 0.
 */
static int vleg_probe(struct vpci_dev *vp)
{
	struct pci_dev *pd = vp->pd;
	if (pd->device < VIRTIO_PCI_DEVICE_TRANSITIONAL_BASE ||
	    pd->device > VIRTIO_PCI_DEVICE_TRANSITIONAL_BASE + 0x3f)
		return -ENODEV;
	const struct pci_bar *b = &pd->bar[0];
	if (!b->io || b->base == 0 || b->base > 0xffff || b->size < VIRTIO_PCI_LEGACY_CONFIG ||
	    b->base + b->size > 0x10000)
		return -ENODEV;
	vp->io = (uint16_t)b->base;
	vp->io_len = (uint32_t)b->size;
	pci_command(pd, PCI_COMMAND_IO | PCI_COMMAND_MASTER, 0);
	vp->num_queues = 0;
	while (vp->num_queues < VPCI_MAX_QUEUES) {
		outw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_SEL, vp->num_queues);
		if (!inw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_NUM))
			break;
		vp->num_queues++;
	}
	vp->vd.ops = &vleg_ops;
	vp->vd.legacy = true;
	vp->vd.ring_flags = VIRTQ_LEGACY;
	vp->device_len = vp->io_len - VIRTIO_PCI_LEGACY_CONFIG_MSIX; /* what is there in either case */
	return 0;
}

int vpci_probe(struct pci_dev *pd, struct virtio_dev **out)
{
	uint16_t id;
	if (!vpci_match(pd, &id))
		return -ENODEV;
	char where[16];
	pci_name(pd, where, sizeof(where));
	if (pd->caps_bad) {
		printf("virtio-pci %s: malformed capability list\n", where);
		return -EINVAL;
	}
	struct vpci_dev *vp = kzalloc(sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->pd = pd;
	unsigned pos = 0, cap;
	const char *why = NULL;
	uint32_t len;
	while ((cap = pci_cap_find(pd, PCI_CAP_ID_VNDR, &pos))) {
		if (pci_read8(pd, cap + 2) < VIRTIO_PCI_CAP_LEN)
			continue; /* cap_len too short to be a virtio_pci_cap */
		uint8_t type = pci_read8(pd, cap + VIRTIO_PCI_CAP_CFG_TYPE);
		const char *w = NULL;
		uint8_t *p;
		/* 4.1.4: the first capability of each type the driver can use wins. */
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (vp->common)
				break;
			if ((p = vpci_cap_region(pd, cap, VIRTIO_PCI_COMMON_LEN, &len, &w)))
				vp->common = p;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (vp->notify_base)
				break;
			if (pci_read8(pd, cap + 2) < VIRTIO_PCI_NOTIFY_CAP_LEN) {
				w = "notify capability too short";
				break;
			}
			if ((p = vpci_cap_region(pd, cap, 2, &len, &w))) {
				vp->notify_base = p;
				vp->notify_len = len;
				vp->notify_mult = pci_read32(pd, cap + VIRTIO_PCI_NOTIFY_CAP_MULT);
			}
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!vp->isr && (p = vpci_cap_region(pd, cap, 1, &len, &w)))
				vp->isr = p;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (!vp->device && (p = vpci_cap_region(pd, cap, 1, &len, &w))) {
				vp->device = p;
				vp->device_len = len;
			}
			break;
		default:
			break;
		}
		if (w)
			why = w;
	}
	if (!vp->common || !vp->notify_base || !vp->isr) {
		if (!why && vleg_probe(vp) == 0) {
			printf("virtio-pci %s: no modern interface: legacy I/O registers at %#x\n", where,
			       vp->io);
			goto out_done;
		}
		printf("virtio-pci %s: %04x:%04x has no usable modern interface%s%s\n", where, pd->vendor,
		       pd->device, why ? ": a region is " : "", why ? why : "");
		kfree(vp);
		return -ENODEV;
	}
	pci_command(pd, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 0);
	vp->num_queues = mmio_read16(vp->common + VIRTIO_PCI_COMMON_NUMQ);
	vp->vd.ops = &vpci_ops;
out_done:
	vp->vd.transport = vp;
	vp->vd.device_id = id;
	vp->vd.config_len = vp->device_len;
	vp->vd.intr_mode = VIRTIO_INTR_POLL;
	for (unsigned i = 0; i < sizeof(where); i++)
		vp->vd.where[i] = where[i];
	*out = &vp->vd;
	return 0;
}
