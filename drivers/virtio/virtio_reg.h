/*
 * Virtio 1.x definitions: what the specification fixes, nothing of ours.
 * Section numbers are those of "Virtual I/O Device (VIRTIO) Version 1.2"
 * (OASIS, 2022). All fields are little-endian, as x86 is.
 *
 *   device status, feature bits          2.1, 2.2, 6
 *   split virtqueue memory layout        2.7
 *   packed virtqueue memory layout       2.8
 *   legacy virtio-pci I/O registers      4.1.4.8
 *   virtio-pci capabilities, common cfg  4.1.4
 *   virtio-blk config, requests          5.2
 *
 * Freestanding: stdint only, so host tests include it as is.
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_REG_H
#define DRIVERS_VIRTIO_VIRTIO_REG_H

#include <stddef.h>
#include <stdint.h>

/* ---- 2.1 Device status field ---- */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* ---- 6 Reserved feature bits ---- */
#define VIRTIO_F_INDIRECT_DESC 28  /* 2.7.5.3 */
#define VIRTIO_F_EVENT_IDX 29      /* 2.7.7, 2.7.10 */
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33 /* addresses are the platform's bus addresses (6.1) */
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35
#define VIRTIO_F_ORDER_PLATFORM 36 /* barriers suitable for hardware devices (6.1) */
#define VIRTIO_F_NOTIFICATION_DATA 38

/* ---- 2.7.5 The virtqueue descriptor table ---- */
struct virtq_desc {
	uint64_t addr;  /* guest-physical */
	uint32_t len;
	uint16_t flags;
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2    /* device writes (otherwise reads) */
#define VIRTQ_DESC_F_INDIRECT 4 /* buffer holds a table of descriptors */
	uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc size");
_Static_assert(offsetof(struct virtq_desc, len) == 8, "virtq_desc.len");
_Static_assert(offsetof(struct virtq_desc, flags) == 12, "virtq_desc.flags");
_Static_assert(offsetof(struct virtq_desc, next) == 14, "virtq_desc.next");

/*
 * 2.7.6 The available ring: flags, idx, ring[size], then used_event
 * (only meaningful with VIRTIO_F_EVENT_IDX) at ring[size].
 */
struct virtq_avail {
	uint16_t flags;
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
	uint16_t idx;
	uint16_t ring[]; /* [size], then uint16_t used_event */
};
_Static_assert(sizeof(struct virtq_avail) == 4, "virtq_avail header");
_Static_assert(offsetof(struct virtq_avail, idx) == 2, "virtq_avail.idx");

/* 2.7.8 The used ring: flags, idx, ring[size], then avail_event at ring[size]. */
struct virtq_used_elem {
	uint32_t id;  /* head of the chain (uint32 for padding) */
	uint32_t len; /* bytes the device wrote into the chain */
};
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem size");
_Static_assert(offsetof(struct virtq_used_elem, len) == 4, "virtq_used_elem.len");

struct virtq_used {
	uint16_t flags;
#define VIRTQ_USED_F_NO_NOTIFY 1
	uint16_t idx;
	struct virtq_used_elem ring[]; /* [size], then uint16_t avail_event */
};
_Static_assert(sizeof(struct virtq_used) == 4, "virtq_used header");
_Static_assert(offsetof(struct virtq_used, ring) == 4, "virtq_used.ring");

/* 2.7.1: alignment of each part; queue size a power of two up to 32768 (2.7). */
#define VIRTQ_DESC_ALIGN 16
#define VIRTQ_AVAIL_ALIGN 2
#define VIRTQ_USED_ALIGN 4
#define VIRTQ_MAX_SIZE 32768

/*
 * 2.7.10 (event index): the other side wants a notification when its event
 * index lies in [old, new) with 16-bit wrap-around, as in the spec's
 * vring_need_event().
 */
static inline int virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---- 2.8 Packed virtqueues ---- */

/* 2.8.13 Packed descriptor: also the used descriptor the device writes back in place. */
struct pvirtq_desc {
	uint64_t addr;  /* guest-physical */
	uint32_t len;
	uint16_t id;    /* buffer ID */
	uint16_t flags; /* VIRTQ_DESC_F_NEXT/WRITE/INDIRECT as for split, plus: */
#define PVIRTQ_DESC_F_AVAIL (1u << 7)
#define PVIRTQ_DESC_F_USED (1u << 15)
};
_Static_assert(sizeof(struct pvirtq_desc) == 16, "pvirtq_desc size");
_Static_assert(offsetof(struct pvirtq_desc, len) == 8, "pvirtq_desc.len");
_Static_assert(offsetof(struct pvirtq_desc, id) == 12, "pvirtq_desc.id");
_Static_assert(offsetof(struct pvirtq_desc, flags) == 14, "pvirtq_desc.flags");

/*
 * 2.8.14 Event suppression structure: the driver area (written by the
 * driver) rules device -> driver interrupts, the device area (written by the
 * device) rules driver -> device notifications. off_wrap: descriptor offset
 * in bits 0-14, wrap counter in bit 15; meaningful only with flags DESC,
 * which needs VIRTIO_F_EVENT_IDX.
 */
struct pvirtq_event_suppress {
	uint16_t off_wrap;
	uint16_t flags;
#define PVIRTQ_EVENT_F_ENABLE 0x0
#define PVIRTQ_EVENT_F_DISABLE 0x1
#define PVIRTQ_EVENT_F_DESC 0x2
};
_Static_assert(sizeof(struct pvirtq_event_suppress) == 4, "pvirtq_event_suppress size");
_Static_assert(offsetof(struct pvirtq_event_suppress, flags) == 2, "pvirtq_event_suppress.flags");
#define PVIRTQ_EVENT_WRAP_SHIFT 15

/* 2.8.10.1: ring and event structures; any size up to 32768 (not only powers of two). */
#define PVIRTQ_DESC_ALIGN 16
#define PVIRTQ_EVENT_ALIGN 4
#define PVIRTQ_MAX_SIZE 32768

/* ---- 4.1.4 Virtio structure PCI capabilities ---- */
#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_MODERN_BASE 0x1040 /* 0x1040 + device id (4.1.2.1) */
#define VIRTIO_PCI_DEVICE_BLK_TRANSITIONAL 0x1001
#define VIRTIO_ID_BLOCK 2

/* struct virtio_pci_cap, at a vendor-specific (0x09) capability in config space */
#define VIRTIO_PCI_CAP_CFG_TYPE 3 /* byte offsets inside the capability */
#define VIRTIO_PCI_CAP_BAR 4
#define VIRTIO_PCI_CAP_ID 5
#define VIRTIO_PCI_CAP_OFFSET 8
#define VIRTIO_PCI_CAP_LENGTH 12
#define VIRTIO_PCI_CAP_LEN 16      /* minimum cap_len */
#define VIRTIO_PCI_NOTIFY_CAP_MULT 16 /* notify_off_multiplier, 4.1.4.4 */
#define VIRTIO_PCI_NOTIFY_CAP_LEN 20

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* 4.1.4.3 struct virtio_pci_common_cfg: registers, accessed with their width. */
#define VIRTIO_PCI_COMMON_DFSELECT 0x00   /* le32 device_feature_select */
#define VIRTIO_PCI_COMMON_DF 0x04         /* le32 device_feature (RO) */
#define VIRTIO_PCI_COMMON_GFSELECT 0x08   /* le32 driver_feature_select */
#define VIRTIO_PCI_COMMON_GF 0x0c         /* le32 driver_feature */
#define VIRTIO_PCI_COMMON_MSIX 0x10       /* le16 config_msix_vector */
#define VIRTIO_PCI_COMMON_NUMQ 0x12       /* le16 num_queues (RO) */
#define VIRTIO_PCI_COMMON_STATUS 0x14     /* u8 device_status */
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15 /* u8 config_generation (RO) */
#define VIRTIO_PCI_COMMON_Q_SELECT 0x16   /* le16 queue_select */
#define VIRTIO_PCI_COMMON_Q_SIZE 0x18     /* le16 queue_size */
#define VIRTIO_PCI_COMMON_Q_MSIX 0x1a     /* le16 queue_msix_vector */
#define VIRTIO_PCI_COMMON_Q_ENABLE 0x1c   /* le16 queue_enable */
#define VIRTIO_PCI_COMMON_Q_NOFF 0x1e     /* le16 queue_notify_off (RO) */
#define VIRTIO_PCI_COMMON_Q_DESCLO 0x20   /* le64 queue_desc */
#define VIRTIO_PCI_COMMON_Q_DESCHI 0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28  /* le64 queue_driver */
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO 0x30   /* le64 queue_device */
#define VIRTIO_PCI_COMMON_Q_USEDHI 0x34
#define VIRTIO_PCI_COMMON_LEN 0x38        /* bytes the region must cover */

#define VIRTIO_MSI_NO_VECTOR 0xffff

/*
 * 4.1.4.8 Legacy interface: registers in I/O BAR 0 (transitional devices
 * without modern capabilities, QEMU disable-modern=on). 32 feature bits; the
 * queue is one physically contiguous split ring of the device's fixed size,
 * its used ring aligned to 4096 (2.7.2 legacy layout), given as a page number.
 */
#define VIRTIO_PCI_LEGACY_HOST_FEATURES 0x00  /* le32, RO */
#define VIRTIO_PCI_LEGACY_GUEST_FEATURES 0x04 /* le32 */
#define VIRTIO_PCI_LEGACY_QUEUE_PFN 0x08      /* le32: ring address >> 12, 0 disables */
#define VIRTIO_PCI_LEGACY_QUEUE_NUM 0x0c      /* le16, RO: size of the selected queue */
#define VIRTIO_PCI_LEGACY_QUEUE_SEL 0x0e      /* le16 */
#define VIRTIO_PCI_LEGACY_QUEUE_NOTIFY 0x10   /* le16: queue index */
#define VIRTIO_PCI_LEGACY_STATUS 0x12         /* u8 */
#define VIRTIO_PCI_LEGACY_ISR 0x13            /* u8, read clears */
#define VIRTIO_PCI_LEGACY_CONFIG_VECTOR 0x14  /* le16, only while MSI-X is enabled */
#define VIRTIO_PCI_LEGACY_QUEUE_VECTOR 0x16   /* le16, only while MSI-X is enabled */
#define VIRTIO_PCI_LEGACY_CONFIG 0x14         /* device config without MSI-X ... */
#define VIRTIO_PCI_LEGACY_CONFIG_MSIX 0x18    /* ... and with MSI-X enabled */
#define VIRTIO_PCI_LEGACY_PFN_SHIFT 12
#define VIRTIO_PCI_LEGACY_ALIGN 4096          /* used ring alignment */
#define VIRTIO_PCI_DEVICE_TRANSITIONAL_BASE 0x1000 /* 0x1000..0x103f, id from the subsystem id */

/* 4.1.4.5 ISR status (read clears) */
#define VIRTIO_PCI_ISR_QUEUE 0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

/* ---- 5.2 Block device ---- */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* 5.2.4 Device configuration layout */
struct virtio_blk_config {
	uint64_t capacity; /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));
_Static_assert(offsetof(struct virtio_blk_config, size_max) == 8, "blk_config.size_max");
_Static_assert(offsetof(struct virtio_blk_config, seg_max) == 12, "blk_config.seg_max");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "blk_config.blk_size");
_Static_assert(offsetof(struct virtio_blk_config, topology) == 24, "blk_config.topology");
_Static_assert(offsetof(struct virtio_blk_config, writeback) == 32, "blk_config.writeback");
_Static_assert(offsetof(struct virtio_blk_config, num_queues) == 34, "blk_config.num_queues");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "blk_config.max_discard");
_Static_assert(offsetof(struct virtio_blk_config, max_write_zeroes_sectors) == 48, "blk_config.max_wz");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56, "blk_config.wz_unmap");
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config size");

/* 5.2.6 Device operation: header (device-readable) ... data ... status (writable) */
struct virtio_blk_req_hdr {
	uint32_t type;
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
	uint32_t reserved;
	uint64_t sector; /* 512-byte units whatever blk_size is */
};
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "virtio_blk_req_hdr size");
_Static_assert(offsetof(struct virtio_blk_req_hdr, sector) == 8, "virtio_blk_req_hdr.sector");

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20

/* Data of DISCARD / WRITE_ZEROES: one segment per entry. */
struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
#define VIRTIO_BLK_WZ_F_UNMAP 1
};
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "discard_write_zeroes size");
_Static_assert(offsetof(struct virtio_blk_discard_write_zeroes, num_sectors) == 8, "dwz.num_sectors");

#endif
