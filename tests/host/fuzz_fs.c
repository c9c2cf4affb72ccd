/*
 * quillfs fuzzing: mount, fsck, walk and modify corrupted images; nothing
 * may crash, hang or trip a sanitizer, whatever the image holds.
 *
 * The base image (8 MiB, 64 KiB segments) holds directories, small, large
 * and sparse files (indirect and double indirect blocks), a checkpoint and
 * a log to roll forward. An input is a list of 5-byte records
 * {u32 offset, u8 value}: the byte at offset (modulo the used part of the
 * image: superblocks, checkpoints and the segments written) becomes value.
 *
 *   built with gcc (make test): main() generates a corpus of corruptions,
 *   bit flips in every structure (superblocks, checkpoint header, inode-map
 *   table, segment usage table, pseg headers, inodes, directory, indirect and
 *   inode-map blocks) and truncated images, and runs each; file arguments
 *   are replayed as inputs (e.g. crash files from libFuzzer)
 *   built with clang -DQFS_LIBFUZZER (make fuzz): LLVMFuzzerTestOneInput
 */
#include "tests/host/fs_test.h"
#include "fs/ondisk.h"

#define IMG (8u << 20)

static uint8_t *base;
static size_t used;          /* bytes of the base image that hold anything */
static struct qfs_disk_super bsb;

/* Block kinds of the base image, found through the pseg headers. */
enum { K_OTHER, K_SUPER, K_CPHDR, K_CPIMAP, K_CPSUT, K_PSEG, K_INODE, K_DATA, K_DIR, K_IND, K_IMAP, K_N };
static const char *kind_name[K_N] = {"other", "superblock", "checkpoint_header", "checkpoint_imap",
				     "checkpoint_sut", "pseg_header", "inode", "file_data", "dir_block",
				     "indirect", "imap_block"};
static uint8_t *kind;

static void build_base(void)
{
	struct blkdev_ram *r = ram_fs(IMG, 64 << 10);
	struct qfs *fs;
	if (!r || qfs_mount(&r->dev, NULL, &fs))
		abort();
	uint8_t *buf = malloc(1 << 20);
	fill_pattern(buf, 1 << 20, 7);
	qfs_mkdir(fs, "/a");
	qfs_mkdir(fs, "/a/b");
	put_file(fs, "/a/small", "small", 5);
	put_file(fs, "/a/b/mid", buf, 100000);
	struct qfs_file *f;
	if (qfs_open(fs, "/big", QFS_O_CREAT, &f) == 0) {
		for (int i = 0; i < 5; i++)
			qfs_write(f, (uint64_t)i << 20, buf, 1 << 20); /* into the indirect */
		qfs_write(f, 9ull << 20, buf, 8192);             /* double indirect */
		qfs_close(f);
	}
	for (int i = 0; i < 20; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/a/n%02d", i);
		put_file(fs, p, p, strlen(p));
	}
	qfs_unmount(fs); /* checkpoint */
	if (qfs_mount(&r->dev, NULL, &fs))
		abort();
	put_file(fs, "/after", buf, 20000);
	qfs_rename(fs, "/a/n03", "/a/b/moved");
	qfs_unlink(fs, "/a/n04");
	qfs_sync(fs); /* to roll forward */
	base = malloc(IMG);
	memcpy(base, r->mem, IMG);
	/* A crash now: drop the mount without its final checkpoint. */
	qfs_abandon(fs);
	blkdev_ram_free(r);
	free(buf);

	memcpy(&bsb, base, sizeof(bsb));
	kind = calloc(IMG / QFS_BLOCK_SIZE, 1);
	kind[0] = kind[1] = K_SUPER;
	uint32_t sut_block = 1 + (bsb.imap_blocks * 4 + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE;
	for (int c = 0; c < 2; c++)
		for (uint32_t b = 0; b < bsb.cp_blocks; b++)
			kind[bsb.cp_addr[c] + b] = b == 0 ? K_CPHDR : b < sut_block ? K_CPIMAP : K_CPSUT;
	uint64_t last = bsb.seg0;
	uint32_t rec = bsb.rec_bytes, per = QFS_BLOCK_SIZE / rec;
	uint8_t *ents = malloc((1 + QFS_PSEG_EXTRA) * (size_t)rec);
	for (uint32_t s = 0; s < bsb.nsegs; s++) {
		uint64_t pos = bsb.seg0 + (uint64_t)s * bsb.seg_blocks, end = pos + bsb.seg_blocks;
		while (pos + 1 < end) {
			const uint8_t *h = base + pos * QFS_BLOCK_SIZE + QFS_BLOCK_SIZE - rec;
			const struct qfs_disk_pseg *ps = (const void *)h;
			if (ps->magic != QFS_MAGIC_PSEG || ps->nblocks > QFS_PSEG_BLOCKS ||
			    ps->nextra > QFS_PSEG_EXTRA || pos + 1 + ps->nblocks + ps->nextra / per > end)
				break;
			/* Entries: the rest of the header record, then the extra records after the blocks. */
			memcpy(ents, h, rec);
			memcpy(ents + rec, base + (pos + 1 + ps->nblocks) * QFS_BLOCK_SIZE, (size_t)ps->nextra * rec);
			const struct qfs_disk_bent *e = (const void *)(ents + sizeof(*ps));
			kind[pos] = K_PSEG;
			for (uint32_t k = 0; k < ps->nblocks; k++) {
				uint32_t ino = e[k].ino, key = e[k].key;
				kind[pos + 1 + k] = ino == 0 ? K_IMAP : key == QFS_KEY_INODE ? K_INODE
						   : key >= QFS_KEY_DCHILD0 ? K_IND
						   : (ino == 1 || ino == 2 || ino == 3) ? K_DIR : K_DATA;
			}
			for (uint32_t k = 0; k <= ps->nextra / per && ps->nextra; k++)
				kind[pos + 1 + ps->nblocks + k] = K_PSEG;
			pos += 1 + ps->nblocks + ps->nextra / per;
			if (pos + (ps->nextra ? 1 : 0) > last)
				last = pos + (ps->nextra ? 1 : 0);
		}
	}
	free(ents);
	used = (size_t)last * QFS_BLOCK_SIZE;
}

static void walk(struct qfs *fs, const char *dir, int depth)
{
	struct qfs_dirent e;
	uint64_t cookie = 0;
	int n = 0;
	if (depth > 16)
		return;
	while (qfs_readdir(fs, dir, &cookie, &e) == 1 && n++ < 1000) {
		char path[600];
		snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "", e.name);
		if (e.type == QFS_MODE_DIR) {
			walk(fs, path, depth + 1);
			continue;
		}
		struct qfs_file *f;
		if (qfs_open(fs, path, 0, &f))
			continue;
		static uint8_t buf[64 << 10];
		for (uint64_t off = 0; off < (12u << 20); off += sizeof(buf))
			if (qfs_read(f, off, buf, sizeof(buf)) <= 0)
				break;
		qfs_close(f);
	}
}

static unsigned long long n_refused, n_problems, n_clean;

static void run_image(uint8_t *img, uint64_t bytes)
{
	struct blkdev_ram *r = blkdev_ram_new(bytes, img);
	struct qfs *fs;
	int p = qfs_fsck(&r->dev, false, NULL, NULL, NULL);
	if (p < 0)
		n_refused++;
	else if (p > 0)
		n_problems++;
	else
		n_clean++;
	struct qfs_mount_opts ro = {.read_only = true};
	if (qfs_mount(&r->dev, &ro, &fs) == 0) {
		walk(fs, "/", 0);
		qfs_unmount(fs);
	}
	if (qfs_mount(&r->dev, NULL, &fs) == 0) {
		static uint8_t buf[40000];
		struct qfs_file *f;
		qfs_rename(fs, "/a/b/mid", "/mid2");
		qfs_unlink(fs, "/big");
		qfs_mkdir(fs, "/z");
		if (qfs_open(fs, "/a/small", QFS_O_CREAT, &f) == 0) {
			qfs_write(f, 3, buf, sizeof(buf));
			qfs_truncate(f, 100);
			qfs_fsync(f);
			qfs_close(f);
		}
		qfs_rmdir(fs, "/a/b");
		qfs_unmount(fs);
		qfs_fsck(&r->dev, true, NULL, NULL, NULL);
	}
	blkdev_ram_free(r);
}

int fuzz_one(const uint8_t *data, size_t size)
{
	static uint8_t *img;
	if (!base)
		build_base();
	if (!img)
		img = malloc(IMG);
	memcpy(img, base, IMG);
	uint64_t bytes = IMG;
	for (size_t i = 0; i + 5 <= size; i += 5) {
		uint32_t off;
		memcpy(&off, data + i, 4);
		if (off == 0xffffffffu) { /* truncate the device */
			bytes = ((uint64_t)data[i + 4] * used / 255) & ~511ull;
			continue;
		}
		img[off % used] = data[i + 4];
	}
	run_image(img, bytes ? bytes : 512);
	return 0;
}

#ifdef QFS_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_one(data, size);
}
#else
static void rec(uint8_t *r, uint32_t off, uint8_t v)
{
	memcpy(r, &off, 4);
	r[4] = v;
}

int main(int argc, char **argv)
{
	/* Replay files given on the command line, as libFuzzer does. */
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			FILE *f = fopen(argv[i], "rb");
			if (!f)
				continue;
			static uint8_t d[1 << 20];
			size_t n = fread(d, 1, sizeof(d), f);
			fclose(f);
			fuzz_one(d, n);
			printf("TEST fuzz_replay_%d PASS\n", i);
		}
		return 0;
	}
	build_base();
	uint64_t rng = 1;
	unsigned long long images = 0;
	/* Bit flips in each structure: every byte of the first 128 of each block
	 * of that kind (headers), and random bytes elsewhere in it. */
	for (int k = 1; k < K_N; k++) {
		uint32_t nblk = 0, seen = 0;
		for (size_t b = 0; b < used / QFS_BLOCK_SIZE; b++)
			nblk += kind[b] == k;
		uint32_t stride = nblk / 24 + 1; /* at most ~24 blocks of each kind */
		for (size_t b = 0; b < used / QFS_BLOCK_SIZE; b++) {
			if (kind[b] != k || seen++ % stride)
				continue;
			int per = (k == K_DATA) ? 4 : 24;
			for (int j = 0; j < per; j++) {
				uint32_t in = j < 16 && k != K_DATA ? (uint32_t)(host_rand(&rng) % 128)
								    : (uint32_t)(host_rand(&rng) % QFS_BLOCK_SIZE);
				uint32_t off = (uint32_t)(b * QFS_BLOCK_SIZE + in);
				uint8_t r[10];
				rec(r, off, base[off] ^ (uint8_t)(1u << (host_rand(&rng) % 8)));
				/* and sometimes a second, random byte in the same block */
				uint32_t off2 = (uint32_t)(b * QFS_BLOCK_SIZE + host_rand(&rng) % QFS_BLOCK_SIZE);
				rec(r + 5, off2, (uint8_t)host_rand(&rng));
				fuzz_one(r, j % 3 == 0 ? 10 : 5);
				images++;
			}
		}
		printf("TEST fuzz_%s PASS\n", kind_name[k]);
		fflush(stdout);
	}
	/* Truncated images. */
	for (int t = 0; t <= 255; t += 5) {
		uint8_t r[5];
		rec(r, 0xffffffffu, (uint8_t)t);
		fuzz_one(r, 5);
		images++;
	}
	printf("TEST fuzz_truncated PASS\n");
	/* Random multi-byte corruption anywhere in the used area. */
	for (int i = 0; i < 300; i++) {
		uint8_t r[40];
		for (int j = 0; j < 8; j++)
			rec(r + 5 * j, (uint32_t)(host_rand(&rng) % used), (uint8_t)host_rand(&rng));
		fuzz_one(r, sizeof(r));
		images++;
	}
	printf("TEST fuzz_random PASS\n");
	printf("# fuzz: %llu corrupted images: %llu refused, %llu with problems found, %llu clean\n",
	       images, n_refused, n_problems, n_clean);
	free(base);
	free(kind);
	return 0;
}
#endif
