/*
 * power_log: the host half of the logged power-cut test (tests/qemu/
 * cases_fs.py, fs-power-log). QEMU ran test=fs_power (fs/fs_power_ktest.c)
 * on a disk behind its blklogwrites driver, which logged every write and
 * FLUSH the guest made. From that log and the image as it was before the
 * run, this rebuilds disk states a power cut could have left and checks
 * each one through the public quillfs API only: the checker fsck.quillfs -n
 * runs (qfs_fsck), a read-only mount, and the tree against the lines the
 * guest printed once each commit returned.
 *
 * usage: power_log --before IMG --after IMG --log LOG --console FILE
 *                  [--seed N] [--variants N] [--keep DIR]
 *
 * --after is the image QEMU left: replaying the whole log onto --before
 * must give it byte for byte (the log is read right). --keep writes two
 * sample states and the first failing one there, for fsck.quillfs.
 *
 * The log, as QEMU 7.2 writes it (block/blklogwrites.c, the format of
 * Linux's dm-log-writes; little-endian, in log sectors of 512 bytes here):
 *   sector 0: {u64 magic 0x6a736677736872, u64 version 1, u64 nr_entries,
 *             u32 sector size}, rewritten after every FLUSH entry and every
 *             log-super-update-interval entries (the test sets 1)
 *   then one entry per request: a sector {u64 sector, u64 nr_sectors,
 *             u64 flags (1 FLUSH, 2 FUA, 4 DISCARD, 8 MARK), u64 data_len}
 *             followed by nr_sectors sectors of data, none for a FLUSH
 *             (nr_sectors 0) or a DISCARD. A write-zeroes is a plain entry
 *             whose data is zeroes. QEMU never logs FUA, marks or data_len.
 * When: QEMU first performs the request on the image, then appends its
 * entry and waits for that write, and only then completes the request to
 * the guest. Entries are thus in the order requests finished on the image,
 * and every write the guest saw complete before it sent a FLUSH lies before
 * that FLUSH's entry, which is logged once the image's own flush is done.
 * A write still in flight while a FLUSH ran may also lie before it (quillfs
 * sends none then). QEMU logs no FLUSH that follows no write (the block
 * layer skips it), and none of its own while the device caches writes
 * (write-cache=on; a write-through device would have every write followed
 * by a logged FLUSH the guest never sent).
 *
 * States, for k = 1 .. the FLUSH entries in the log:
 *   flush k     every write logged before the k-th FLUSH entry
 *   variant v   flush k, plus a seeded random choice among the writes logged
 *               between it and the next FLUSH (or the end): each whole,
 *               dropped, torn per sector, a prefix, or with garbage sectors
 *               (crash_build() of blkdev_crash.c, the host crash test's)
 * The oracle for a state holding k FLUSHes: let lo be the last step the
 * guest reported with at most k flushes completed. The tree must be
 * exactly the tree after lo, or after a later step that began before the
 * next FLUSH (k-th for a flush state, (k+1)-th for a variant) had completed,
 * or a create of such a step caught empty. States older than the mount the
 * guest reported are not checked (the format may be half done). A ballast
 * the guest announced is left out of the trees; every state must hold it at
 * its size, and a flush state byte for byte (reading it all is slow).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/host/fs_test.h"

#define LOG_SECTOR 512u
#define LOG_MAGIC 0x6a736677736872ull
#define LOG_FLUSH 1u
#define LOG_FUA 2u
#define LOG_DISCARD 4u
#define LOG_MARK 8u
#define MAX_PATHS 64   /* distinct paths the guest may name */
#define MAX_STEPS 1000000
#define SHOW_FAILURES 10

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static __attribute__((format(printf, 3, 4))) int say(char *why, size_t wn, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, wn, fmt, ap);
	va_end(ap);
	return -1;
}

static int read_all(const char *path, uint8_t **out, size_t *len, char *why, size_t wn)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return say(why, wn, "%s: %s", path, strerror(e));
	}
	uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	size_t done = 0;
	while (buf && done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	if (!buf || done != (size_t)st.st_size) {
		free(buf);
		return say(why, wn, "%s: could not read its %lld bytes", path, (long long)st.st_size);
	}
	*out = buf;
	*len = done;
	return 0;
}

static int write_all(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	size_t done = 0;
	while (fd >= 0 && done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	return done == len ? 0 : -1;
}

/* ---- the log, into a crash trace ---- */

struct log_info {
	uint64_t entries, writes, flushes, discards;
	uint64_t bytes_after; /* past the last entry the superblock counts */
	uint8_t *zeroes;      /* the data of every discard */
};

/*
 * Parse the log (untrusted: every count and sector checked) into t, whose
 * base must already hold the image from before the run: each write entry
 * becomes a write completed at its entry's index (data pointing into log),
 * each FLUSH a flush covering every write before it.
 */
static int parse_log(const uint8_t *log, size_t len, struct crash_trace *t, struct log_info *li,
		     char *why, size_t wn)
{
	uint64_t dev_sectors = t->bytes / BLK_SECTOR_SIZE;
	memset(li, 0, sizeof(*li));
	if (len < LOG_SECTOR)
		return say(why, wn, "log: %zu bytes, less than its superblock's sector", len);
	if (le64(log) != LOG_MAGIC)
		return say(why, wn, "log: no blklogwrites superblock (magic %#llx)",
			   (unsigned long long)le64(log));
	if (le64(log + 8) != 1)
		return say(why, wn, "log: version %llu; only version 1 is known",
			   (unsigned long long)le64(log + 8));
	uint32_t sector_size = (uint32_t)(le64(log + 24) & 0xffffffffu);
	if (sector_size != LOG_SECTOR)
		return say(why, wn, "log: sectors of %u bytes; this reader takes log-sector-size=512, "
			   "the guest's sector", sector_size);
	uint64_t nr = le64(log + 16);
	if (nr > (len - LOG_SECTOR) / LOG_SECTOR)
		return say(why, wn, "log: the superblock counts %llu entries, the %zu-byte log has room "
			   "for at most %zu", (unsigned long long)nr, len, (len - LOG_SECTOR) / LOG_SECTOR);
	t->w = calloc(nr ? nr : 1, sizeof(*t->w));
	t->flush_cover = calloc(nr ? nr : 1, sizeof(*t->flush_cover));
	t->flush_at = calloc(nr ? nr : 1, sizeof(*t->flush_at));
	if (!t->w || !t->flush_cover || !t->flush_at)
		return say(why, wn, "log: out of memory for %llu entries", (unsigned long long)nr);
	t->capw = t->capf = nr;
	size_t off = LOG_SECTOR, largest_discard = 0;
	for (uint64_t i = 0; i < nr; i++) {
		if (len - off < LOG_SECTOR)
			return say(why, wn, "log: entry %llu of %llu would start at byte %zu, past the end",
				   (unsigned long long)i, (unsigned long long)nr, off);
		const uint8_t *e = log + off;
		uint64_t sector = le64(e), nsect = le64(e + 8), flags = le64(e + 16), data_len = le64(e + 24);
		off += LOG_SECTOR;
		for (size_t b = 32; b < LOG_SECTOR; b++)
			if (e[b])
				return say(why, wn, "log: entry %llu: byte %zu of its sector is not zero: not an "
					   "entry", (unsigned long long)i, b);
		if (flags & ~(uint64_t)(LOG_FLUSH | LOG_FUA | LOG_DISCARD | LOG_MARK))
			return say(why, wn, "log: entry %llu has unknown flags %#llx", (unsigned long long)i,
				   (unsigned long long)flags);
		if ((flags & (LOG_FUA | LOG_MARK)) || data_len)
			return say(why, wn, "log: entry %llu has FUA, a mark or data_len (flags %#llx, data_len "
				   "%llu): dm-log-writes features QEMU does not log, not read here",
				   (unsigned long long)i, (unsigned long long)flags,
				   (unsigned long long)data_len);
		if (flags & LOG_FLUSH) {
			if (flags != LOG_FLUSH || sector || nsect)
				return say(why, wn, "log: FLUSH entry %llu also has flags %#llx, sector %llu, "
					   "%llu sectors", (unsigned long long)i, (unsigned long long)flags,
					   (unsigned long long)sector, (unsigned long long)nsect);
			t->flush_cover[t->nf] = t->nw;
			t->flush_at[t->nf] = i;
			t->nf++;
			li->flushes++;
			continue;
		}
		if (nsect == 0)
			return say(why, wn, "log: entry %llu writes no sectors", (unsigned long long)i);
		if (sector >= dev_sectors || nsect > dev_sectors - sector)
			return say(why, wn, "log: entry %llu covers sectors %llu+%llu, past the %llu-sector disk",
				   (unsigned long long)i, (unsigned long long)sector,
				   (unsigned long long)nsect, (unsigned long long)dev_sectors);
		if (nsect > UINT32_MAX / BLK_SECTOR_SIZE)
			return say(why, wn, "log: entry %llu: %llu sectors in one request, more than this "
				   "reader takes", (unsigned long long)i, (unsigned long long)nsect);
		struct crash_write *w = &t->w[t->nw++];
		w->sector = sector;
		w->len = (uint32_t)(nsect * BLK_SECTOR_SIZE);
		/* Completed (and submitted, as far as the log can tell) at its own entry. */
		w->done_at = w->sub_at = i;
		if (flags & LOG_DISCARD) {
			li->discards++;
			if (w->len > largest_discard)
				largest_discard = w->len;
			continue; /* data: zeroes, set below */
		}
		if (nsect > (len - off) / LOG_SECTOR)
			return say(why, wn, "log: entry %llu claims %llu sectors of data, the log holds %zu more",
				   (unsigned long long)i, (unsigned long long)nsect, (len - off) / LOG_SECTOR);
		w->data = (uint8_t *)(uintptr_t)(log + off);
		off += w->len;
		li->writes++;
	}
	/* A discarded range may read as zeroes (file-posix punches a hole). */
	li->zeroes = calloc(1, largest_discard ? largest_discard : 1);
	if (!li->zeroes)
		return say(why, wn, "log: out of memory");
	for (size_t i = 0; i < t->nw; i++)
		if (!t->w[i].data)
			t->w[i].data = li->zeroes;
	li->entries = t->events = nr;
	li->bytes_after = len - off;
	return 0;
}

/* ---- what the guest reported ---- */

/* s[0] is the mount, s[i] the guest's step i - 1. */
struct step {
	uint64_t flushes;       /* completed when its commit returned */
	uint64_t start;         /* completed when it began */
	struct tree_entry *tree; /* the tree after it, sorted; paths interned */
	size_t n;
	uint64_t hash, mid_hash; /* mid: a create caught between open and write */
	bool has_mid;
	char *line;
};

struct report {
	struct step *s;
	size_t n, cap;
	bool mounted, done;
	uint64_t mounted_flushes, done_steps, done_flushes;
	char *paths[MAX_PATHS]; /* every path named, each string once */
	size_t npaths;
	struct tree_entry cur[MAX_PATHS];
	size_t ncur;
	struct tree_entry ballast; /* path NULL: none */
};

static char *intern(struct report *r, const char *p)
{
	for (size_t i = 0; i < r->npaths; i++)
		if (!strcmp(r->paths[i], p))
			return r->paths[i];
	if (r->npaths == MAX_PATHS)
		return NULL;
	return r->paths[r->npaths++] = strdup(p);
}

static struct tree_entry *find(struct report *r, const char *p)
{
	for (size_t i = 0; i < r->ncur; i++)
		if (!strcmp(r->cur[i].path, p))
			return &r->cur[i];
	return NULL;
}

static uint64_t cur_hash(struct report *r)
{
	struct tree_entry v[MAX_PATHS];
	memcpy(v, r->cur, r->ncur * sizeof(v[0]));
	qsort(v, r->ncur, sizeof(v[0]), tree_entry_cmp);
	return tree_list_hash(v, r->ncur);
}

/* A path the guest names: absolute, short, in a directory the model holds. */
static const char *check_path(struct report *r, const char *p)
{
	if (p[0] != '/' || strlen(p) >= 64 || strstr(p, "//") || p[strlen(p) - 1] == '/')
		return "a malformed path";
	const char *slash = strrchr(p, '/');
	if (slash != p) {
		char dir[64];
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - p), p);
		struct tree_entry *d = find(r, dir);
		if (!d || d->type != QFS_MODE_DIR)
			return "a path whose directory does not exist";
	}
	return NULL;
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Append st, with the model's tree as the tree after it. */
static void add_step(struct report *r, struct step *st, const char *line)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->s = realloc(r->s, r->cap * sizeof(*r->s));
		if (!r->s)
			abort();
	}
	st->n = r->ncur;
	st->tree = malloc((st->n ? st->n : 1) * sizeof(*st->tree));
	st->line = strdup(line);
	if (!st->tree || !st->line)
		abort();
	memcpy(st->tree, r->cur, st->n * sizeof(*st->tree));
	qsort(st->tree, st->n, sizeof(*st->tree), tree_entry_cmp);
	st->hash = tree_list_hash(st->tree, st->n);
	r->s[r->n++] = *st;
}

/* One "fs_power: step ..." line (words after "fs_power:"), applied to the model. */
static const char *apply_step(struct report *r, char **w, int nw, const char *line)
{
	uint64_t no, flushes, size = 0, hash = 0;
	if (nw < 5 || strcmp(w[0], "step") || parse_u64(w[1], 10, &no) || strcmp(w[2], "flushes") ||
	    parse_u64(w[3], 10, &flushes))
		return "not a step line";
	if (!r->mounted)
		return "a step before the mounted line";
	if (no != r->n - 1 || r->n > MAX_STEPS)
		return "steps out of order";
	uint64_t start = r->s[r->n - 1].flushes;
	if (flushes < start)
		return "the flush count went down";
	const char *op = w[4], *bad;
	int nargs = nw - 6;
	char **args = w + 6;
	if (nw < 6 || (bad = check_path(r, w[5])))
		return nw < 6 ? "no path" : bad;
	char *path = intern(r, w[5]), *to = NULL;
	if (!path)
		return "too many distinct paths";
	if (nargs >= 2 && !strcmp(args[0], "to")) {
		if ((bad = check_path(r, args[1])))
			return bad;
		if (!(to = intern(r, args[1])))
			return "too many distinct paths";
		args += 2;
		nargs -= 2;
	}
	bool content = nargs == 4 && !strcmp(args[0], "size") && !parse_u64(args[1], 10, &size) &&
		       !strcmp(args[2], "hash") && strlen(args[3]) == 16 && !parse_u64(args[3], 16, &hash);
	if (nargs && !content)
		return "malformed size and hash";
	struct tree_entry *e = find(r, path);
	bool file = e && e->type == QFS_MODE_FILE;
	if (r->ncur + 1 >= MAX_PATHS)
		return "too many entries";
	struct step st = {.flushes = flushes, .start = start};
	if (!strcmp(op, "mkdir") && !to && !nargs) {
		if (e)
			return "mkdir of an existing path";
		r->cur[r->ncur++] = (struct tree_entry){.path = path, .type = QFS_MODE_DIR};
	} else if (!strcmp(op, "create") && !to && content) {
		if (e)
			return "create of an existing path";
		e = &r->cur[r->ncur++];
		*e = (struct tree_entry){.path = path, .type = QFS_MODE_FILE, .data_hash = FNV_BASIS};
		st.mid_hash = cur_hash(r);
		st.has_mid = true;
		e->size = size;
		e->data_hash = hash;
	} else if ((!strcmp(op, "overwrite") || !strcmp(op, "append") || !strcmp(op, "truncate")) &&
		   !to && content) {
		if (!file)
			return "a write to a file that does not exist";
		e->size = size;
		e->data_hash = hash;
	} else if (!strcmp(op, "rename") && to && content) {
		struct tree_entry *t = find(r, to);
		if (!file || (t && t->type != QFS_MODE_FILE) || to == path)
			return "a rename the model cannot follow";
		if (e->size != size || e->data_hash != hash)
			return "a rename that changed the file's content";
		if (t)
			*t = r->cur[--r->ncur];
		e = find(r, path);
		e->path = to;
	} else if (!strcmp(op, "unlink") && !to && !nargs) {
		if (!file)
			return "an unlink of a file that does not exist";
		*e = r->cur[--r->ncur];
	} else {
		return "an unknown operation or arguments";
	}
	add_step(r, &st, line);
	return NULL;
}

static int parse_console(const char *text, struct report *r, char *why, size_t wn)
{
	static const char tag[] = "fs_power: ";
	unsigned lineno = 0;
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n'), *start = p;
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char line[512];
		lineno++;
		p += n + (eol != NULL);
		if (n < sizeof(tag) - 1 || memcmp(start, tag, sizeof(tag) - 1))
			continue;
		if (n >= sizeof(line))
			return say(why, wn, "console line %u: too long", lineno);
		memcpy(line, start, n);
		line[n] = 0;
		if (n && line[n - 1] == '\r')
			line[n - 1] = 0;
		char copy[512], *w[16], *save;
		int nw = 0;
		snprintf(copy, sizeof(copy), "%s", line + sizeof(tag) - 1);
		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (nw < 16)
				w[nw++] = t;
			else
				return say(why, wn, "console line %u: too many words: %s", lineno, line);
		if (r->done)
			return say(why, wn, "console line %u: after the done line: %s", lineno, line);
		if (nw == 3 && !strcmp(w[0], "mounted") && !strcmp(w[1], "flushes") &&
		    !parse_u64(w[2], 10, &r->mounted_flushes) && !r->mounted) {
			/* The empty file system the steps start from: durable once mounted. */
			r->mounted = true;
			add_step(r, &(struct step){.flushes = r->mounted_flushes}, line);
			continue;
		}
		if (nw && !strcmp(w[0], "statfs"))
			continue; /* for people: what the run made the file system do */
		if (nw == 6 && !strcmp(w[0], "ballast") && !strcmp(w[2], "size") &&
		    !parse_u64(w[3], 10, &r->ballast.size) && !strcmp(w[4], "hash") &&
		    strlen(w[5]) == 16 && !parse_u64(w[5], 16, &r->ballast.data_hash) && !r->mounted &&
		    !check_path(r, w[1]) && !r->ballast.path) {
			/* Filler outside the steps' tree, checked on its own (reading it costs). */
			if (!(r->ballast.path = intern(r, w[1])))
				return say(why, wn, "console line %u: too many distinct paths", lineno);
			tree_hash_skip = r->ballast.path;
			continue;
		}
		if (nw == 5 && !strcmp(w[0], "done") && !strcmp(w[1], "steps") &&
		    !parse_u64(w[2], 10, &r->done_steps) && !strcmp(w[3], "flushes") &&
		    !parse_u64(w[4], 10, &r->done_flushes)) {
			r->done = true;
			continue;
		}
		const char *bad = apply_step(r, w, nw, line);
		if (bad)
			return say(why, wn, "console line %u: %s: %s", lineno, bad, line);
	}
	if (!r->mounted || !r->done)
		return say(why, wn, "console: no 'fs_power: %s' line: the guest did not finish",
			   r->mounted ? "done" : "mounted");
	if (r->done_steps != r->n - 1)
		return say(why, wn, "console: the guest says %llu steps, printed %zu",
			   (unsigned long long)r->done_steps, r->n - 1);
	return 0;
}

static void report_free(struct report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->s[i].tree);
		free(r->s[i].line);
	}
	free(r->s);
	for (size_t i = 0; i < r->npaths; i++)
		free(r->paths[i]);
}

/* Steps [0, result) have field <= limit (both counts only grow). */
static size_t steps_upto(const struct report *r, bool start, uint64_t limit)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((start ? r->s[mid].start : r->s[mid].flushes) <= limit)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- checking one state ---- */

struct tally {
	uint64_t checked, failed;
	char first[800];
};

struct checker {
	struct report *rep;
	const char *keep;
	uint64_t skipped, failed;
};

static const char *step_name(size_t i, char *buf, size_t n)
{
	if (i == 0)
		return "the mount";
	snprintf(buf, n, "step %zu", i - 1);
	return buf;
}

/* The first difference between the state's tree and the tree after want (named lo). */
static void tree_diff(const struct tree_entry *got, size_t ng, const struct step *want,
		      const char *lo, char *out, size_t on)
{
	size_t i = 0, j = 0;
	while (i < ng || j < want->n) {
		int c = i == ng ? 1 : j == want->n ? -1 : strcmp(got[i].path, want->tree[j].path);
		const struct tree_entry *g = &got[i], *x = &want->tree[j];
		if (c < 0) {
			snprintf(out, on, "%s is there, %s left none", g->path, lo);
			return;
		}
		if (c > 0) {
			snprintf(out, on, "%s is missing, %s left it", x->path, lo);
			return;
		}
		if (g->type != x->type || g->size != x->size ||
		    (g->type == QFS_MODE_FILE && g->data_hash != x->data_hash)) {
			snprintf(out, on, "%s holds size %llu hash %016llx, %s left size %llu hash "
				 "%016llx", g->path, (unsigned long long)g->size,
				 (unsigned long long)g->data_hash, lo, (unsigned long long)x->size,
				 (unsigned long long)x->data_hash);
			return;
		}
		i++;
		j++;
	}
	snprintf(out, on, "same paths, sizes and hashes as after %s", lo);
}

/* The ballast is there, of its size; with whole, its bytes too. 0, 1 (differs) or -errno. */
static int check_ballast(struct qfs *fs, const struct tree_entry *b, bool whole)
{
	struct qfs_stat st;
	uint8_t *data;
	int err = qfs_stat(fs, b->path, &st);
	if (err || st.size != b->size || !whole)
		return err ? err : st.size != b->size;
	int64_t n = get_file(fs, b->path, &data);
	if (n < 0)
		return (int)n;
	bool same = (uint64_t)n == b->size && hash_bytes(FNV_BASIS, data, (size_t)n) == b->data_hash;
	free(data);
	return !same;
}

/*
 * Check the state in img, which holds k FLUSHes; steps that began with at
 * most `began` flushes completed may show; whole_ballast: read all of it.
 * 1: passed, 0: not checked (nothing reported durable yet), -1: failed,
 * why says how.
 */
static int check_state(struct report *r, uint8_t *img, uint64_t bytes, uint64_t k, uint64_t began,
		       bool whole_ballast, char *why, size_t wn)
{
	size_t lo_end = steps_upto(r, false, k);
	if (lo_end == 0)
		return 0;
	size_t lo = lo_end - 1, hi = steps_upto(r, true, began);
	hi = hi > lo_end ? hi - 1 : lo;
	struct blkdev_ram *d = blkdev_ram_new(bytes, img);
	if (!d)
		abort();
	d->dev.flags |= BLK_F_RO; /* a check that tried to write would fail */
	char first[256];
	struct qfs *fs = NULL;
	struct tree_entry *v = NULL;
	size_t n = 0;
	int ok = -1, err;
	int problems = fsck_quiet(&d->dev, first, sizeof(first));
	if (problems < 0) {
		say(why, wn, "fsck cannot mount it: %d (%s)", problems, blk_strerror(problems));
	} else if (problems) {
		say(why, wn, "fsck: %d problems, the first: %s", problems, first);
	} else if ((err = qfs_mount(&d->dev, &(struct qfs_mount_opts){.read_only = true}, &fs))) {
		say(why, wn, "mount: %d (%s)", err, blk_strerror(err));
	} else if ((err = tree_list(fs, &v, &n))) {
		say(why, wn, "reading its tree: %d (%s)", err, blk_strerror(err));
	} else if (r->ballast.path && (err = check_ballast(fs, &r->ballast, whole_ballast))) {
		say(why, wn, "%s: %s", r->ballast.path,
		    err > 0 ? "not the bytes the guest wrote" : blk_strerror(err));
	} else {
		uint64_t h = tree_list_hash(v, n);
		ok = h == r->s[lo].hash ? 1 : -1;
		for (size_t s = lo + 1; s <= hi && ok < 0; s++)
			if (h == r->s[s].hash || (r->s[s].has_mid && h == r->s[s].mid_hash))
				ok = 1;
		if (ok < 0) {
			char diff[300], lo_buf[32], hi_buf[32];
			const char *lo_name = step_name(lo, lo_buf, sizeof(lo_buf));
			tree_diff(v, n, &r->s[lo], lo_name, diff, sizeof(diff));
			say(why, wn, "%s; the tree after %s .. %s may show, it matches none (%s)", diff,
			    lo_name, step_name(hi, hi_buf, sizeof(hi_buf)), r->s[lo].line);
		}
	}
	tree_list_free(v, n);
	if (fs)
		qfs_unmount(fs);
	blkdev_ram_free(d);
	return ok;
}

static void keep_image(struct checker *c, const char *name, const uint8_t *img, uint64_t bytes)
{
	char path[4096];
	if (!c->keep)
		return;
	snprintf(path, sizeof(path), "%s/%s", c->keep, name);
	if (write_all(path, img, bytes))
		printf("power_log: could not write %s\n", path);
	else
		printf("power_log: wrote %s\n", path);
}

/* Check a state and count it; failures are printed (the first ten) and the first is kept. */
static void check_one(struct checker *c, struct tally *tl, const char *state, uint8_t *img,
		      uint64_t bytes, uint64_t k, uint64_t began, bool whole_ballast)
{
	char why[700];
	int r = check_state(c->rep, img, bytes, k, began, whole_ballast, why, sizeof(why));
	if (r == 0) {
		c->skipped++;
		return;
	}
	tl->checked++;
	if (r > 0)
		return;
	if (tl->failed++ == 0)
		snprintf(tl->first, sizeof(tl->first), "%s: %s", state, why);
	if (c->failed++ == 0) {
		char name[64];
		snprintf(name, sizeof(name), "fail-%s.img", state);
		for (char *p = name; *p; p++)
			if (*p == ' ')
				*p = '-';
		keep_image(c, name, img, bytes);
	}
	if (c->failed <= SHOW_FAILURES)
		printf("power_log: FAIL %s: %s\n", state, why);
}

static __attribute__((format(printf, 3, 4))) void test_line(const char *name, bool ok,
							     const char *fmt, ...)
{
	char buf[1000];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (ok)
		printf("power_log: %s: %s\nTEST power_log:%s PASS\n", name, buf, name);
	else
		printf("TEST power_log:%s FAIL %s\n", name, buf);
	fflush(stdout);
}

static void tally_line(const char *name, const struct tally *tl, const char *what)
{
	if (tl->failed)
		test_line(name, false, "%llu of %llu states failed, the first: %s",
			  (unsigned long long)tl->failed, (unsigned long long)tl->checked, tl->first);
	else
		test_line(name, tl->checked > 0, "%llu states %s", (unsigned long long)tl->checked,
			  tl->checked ? what : "(none reached the first reported step)");
}

static int read_console(const char *path, struct report *rep, char *why, size_t wn)
{
	uint8_t *text;
	size_t len;
	if (read_all(path, &text, &len, why, wn))
		return -1;
	char *z = realloc(text, len + 1);
	if (!z) {
		free(text);
		return say(why, wn, "out of memory");
	}
	z[len] = 0;
	int err = memchr(z, 0, len) ? say(why, wn, "%s holds a NUL byte", path)
				    : parse_console(z, rep, why, wn);
	free(z);
	return err;
}

static void usage(void)
{
	fprintf(stderr, "usage: power_log --before IMG --after IMG --log LOG --console FILE "
			"[--seed N] [--variants N] [--keep DIR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"before", required_argument, 0, 'b'}, {"after", required_argument, 0, 'a'},
		{"log", required_argument, 0, 'l'},    {"console", required_argument, 0, 'c'},
		{"seed", required_argument, 0, 's'},   {"variants", required_argument, 0, 'v'},
		{"keep", required_argument, 0, 'k'},   {0, 0, 0, 0},
	};
	const char *before = NULL, *after = NULL, *logp = NULL, *console = NULL;
	uint64_t seed = 1, variants = 4;
	struct checker c = {0};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'b': before = optarg; break;
		case 'a': after = optarg; break;
		case 'l': logp = optarg; break;
		case 'c': console = optarg; break;
		case 'k': c.keep = optarg; break;
		case 's': if (parse_u64(optarg, 0, &seed)) usage(); break;
		case 'v': if (parse_u64(optarg, 0, &variants) || variants > 1000) usage(); break;
		default: usage();
		}
	}
	if (!before || !after || !logp || !console || optind != argc)
		usage();
	char why[700];
	uint8_t *log = NULL, *after_img = NULL, *img = NULL;
	size_t log_len, after_len, before_len;
	struct crash_trace t = {0};
	struct log_info li = {0};
	struct report rep = {0};
	int status = 1;
	if (read_all(before, &t.base, &before_len, why, sizeof(why)) ||
	    read_all(after, &after_img, &after_len, why, sizeof(why)) ||
	    read_all(logp, &log, &log_len, why, sizeof(why))) {
		test_line("log", false, "%s", why);
		goto out;
	}
	t.bytes = before_len;
	if (before_len != after_len || before_len % BLK_SECTOR_SIZE || !before_len) {
		test_line("log", false, "the images before (%zu bytes) and after (%zu) differ in size or are "
			  "not whole sectors", before_len, after_len);
		goto out;
	}
	if (parse_log(log, log_len, &t, &li, why, sizeof(why))) {
		test_line("log", false, "%s", why);
		goto out;
	}
	/* The whole log replayed onto the image from before must be the image QEMU left. */
	img = malloc(t.bytes);
	if (!img)
		abort();
	uint64_t rng = seed;
	crash_build(&t, t.events, 1, &rng, img);
	size_t diff = 0;
	while (diff < t.bytes && img[diff] == after_img[diff])
		diff++;
	if (li.bytes_after)
		printf("power_log: %llu bytes of the log follow the %llu entries its superblock counts "
		       "(ignored)\n", (unsigned long long)li.bytes_after, (unsigned long long)li.entries);
	if (diff < t.bytes) {
		test_line("log", false, "replaying the log onto the image from before gives another image "
			  "than QEMU left: the first difference is in sector %zu", diff / BLK_SECTOR_SIZE);
		goto out;
	}
	if (!li.flushes) {
		test_line("log", false, "%llu writes and no FLUSH entry: the device offered no write cache "
			  "(write-cache=on?) or the guest sent no FLUSH", (unsigned long long)li.writes);
		goto out;
	}
	test_line("log", true, "%llu writes, %llu flushes, %llu discards; replayed, they give the "
		  "image QEMU left", (unsigned long long)li.writes, (unsigned long long)li.flushes,
		  (unsigned long long)li.discards);

	if (read_console(console, &rep, why, sizeof(why))) {
		test_line("console", false, "%s", why);
		goto out;
	}
	/*
	 * The oracle counts FLUSHes in the log as the guest counted them. One
	 * the guest did not send would make it demand too much; one QEMU did
	 * not log (no write before it) only makes it demand less.
	 */
	if (li.flushes > rep.done_flushes) {
		test_line("console", false, "the log holds %llu FLUSH entries, the guest completed %llu: QEMU "
			  "flushed on its own (a write-through cache?), so log and guest cannot be matched",
			  (unsigned long long)li.flushes, (unsigned long long)rep.done_flushes);
		goto out;
	}
	test_line("console", true, "%zu steps, the guest completed %llu flushes, the log holds %llu%s",
		  rep.n - 1, (unsigned long long)rep.done_flushes, (unsigned long long)li.flushes,
		  li.flushes < rep.done_flushes ? " (some followed no write: the oracle is weaker)" : "");

	c.rep = &rep;
	struct tally at_flush = {0}, unflushed = {0};
	char state[64];
	for (size_t k = 1; k <= t.nf; k++) {
		crash_build(&t, t.flush_at[k - 1] + 1, 0, &rng, img);
		snprintf(state, sizeof(state), "flush %zu", k);
		check_one(&c, &at_flush, state, img, t.bytes, k, k - 1, true);
		if (k == t.nf)
			keep_image(&c, "sample-last-flush.img", img, t.bytes);
		uint64_t next = k < t.nf ? t.flush_at[k] : t.events;
		for (uint64_t v = 0; v < variants; v++) {
			/* Each state from its own seed: one can be rebuilt alone. */
			uint64_t vr = seed ^ (k * 0x9e3779b97f4a7c15ull) ^ ((v + 1) * 0xbf58476d1ce4e5b9ull);
			if (crash_build(&t, next, 2, &vr, img) == 0)
				break; /* no write between this FLUSH and the next: nothing to vary */
			snprintf(state, sizeof(state), "flush %zu variant %llu", k, (unsigned long long)v);
			check_one(&c, &unflushed, state, img, t.bytes, k, k, false);
			if (k == t.nf / 2 && v == 0)
				keep_image(&c, "sample-middle-variant.img", img, t.bytes);
		}
	}
	tally_line("flush_states", &at_flush, "at a FLUSH: each mounts, fsck clean, with what was synced");
	tally_line("unflushed_states", &unflushed,
		   "with random subsets of the writes after a FLUSH (whole, dropped, torn, garbage): "
		   "each mounts, fsck clean, with what was synced");
	printf("power_log: %llu states checked, %llu from before the first reported step not checked; "
	       "seed %llu, %llu variants\n", (unsigned long long)(at_flush.checked + unflushed.checked),
	       (unsigned long long)c.skipped, (unsigned long long)seed, (unsigned long long)variants);
	status = c.failed || !at_flush.checked ? 1 : 0;
out:
	for (size_t i = 0; i < t.nw; i++)
		t.w[i].data = NULL; /* they point into the log */
	crash_trace_free(&t);
	free(li.zeroes);
	free(log);
	free(after_img);
	free(img);
	report_free(&rep);
	return status;
}
