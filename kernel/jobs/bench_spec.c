/*
 * bench= syntax: runs separated by commas, tokens within a run by colons.
 * Built into the kernel and into host tests (tests/host/test_bench.c).
 */
#include "kernel/jobs/bench.h"

#ifdef QUILL_HOST
#include <errno.h>
#include <stdio.h>
#include <string.h>
#else
#include "kernel/kernel.h"
#endif

static const struct {
	const char *name;
	uint8_t op, target;
} bench_ops[] = {
	{"randwrite", BENCH_RANDWRITE, BENCH_RAW},
	{"seqwrite", BENCH_SEQWRITE, BENCH_RAW},
	{"randread", BENCH_RANDREAD, BENCH_RAW},
	{"seqread", BENCH_SEQREAD, BENCH_RAW},
	{"mixed", BENCH_MIXED, BENCH_RAW},
	{"flushwrite", BENCH_FLUSHWRITE, BENCH_RAW},
	{"smallfiles", BENCH_FS_SMALLFILES, BENCH_FS},
	{"append", BENCH_FS_APPEND, BENCH_FS},
	{"create", BENCH_FS_CREATE, BENCH_FS},
	{"fill", BENCH_FS_FILL, BENCH_FS},
};

static const char *const bench_modes[] = {"irq", "poll", "hybrid"};

const char *bench_op_name(uint8_t op)
{
	for (size_t i = 0; i < sizeof(bench_ops) / sizeof(bench_ops[0]); i++)
		if (bench_ops[i].op == op)
			return bench_ops[i].name;
	return "?";
}

const char *bench_mode_name(uint8_t mode)
{
	return mode < 3 ? bench_modes[mode] : "?";
}

bool bench_op_writes(uint8_t op)
{
	return op != BENCH_RANDREAD && op != BENCH_SEQREAD;
}

/* "4096", "4k", "64K", "1m", "2g" -> bytes; -1 when malformed. */
static int parse_size(const char *s, size_t len, uint64_t *out)
{
	uint64_t n = 0;
	size_t i = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		uint64_t digit = (uint64_t)(s[i] - '0');
		if (n > (UINT64_MAX - digit) / 10)
			return -1;
		n = n * 10 + digit;
	}
	if (i == 0)
		return -1;
	unsigned shift = 0;
	if (i < len) {
		char c = s[i++];
		if (c == 'k' || c == 'K') shift = 10;
		else if (c == 'm' || c == 'M') shift = 20;
		else if (c == 'g' || c == 'G') shift = 30;
		else return -1;
	}
	if (i != len || (shift && n > (UINT64_MAX >> shift)))
		return -1;
	*out = n << shift;
	return 0;
}

/* "2s", "500ms" -> milliseconds, 1 ms to BENCH_MAX_MS; -1 otherwise. */
static int parse_duration(const char *s, size_t len, uint64_t *ms)
{
	uint64_t n;
	if (len > 2 && s[len - 2] == 'm' && s[len - 1] == 's') {
		if (parse_size(s, len - 2, &n))
			return -1;
	} else if (len > 1 && s[len - 1] == 's' && !parse_size(s, len - 1, &n)) {
		if (n > BENCH_MAX_MS / 1000)
			return -1;
		n *= 1000;
	} else {
		return -1;
	}
	if (n == 0 || n > BENCH_MAX_MS)
		return -1;
	*ms = n;
	return 0;
}

static bool tok_is(const char *t, size_t len, const char *word)
{
	return strlen(word) == len && !strncmp(t, word, len);
}

static bool tok_prefix(const char *t, size_t len, const char *prefix, const char **rest, size_t *rlen)
{
	size_t pl = strlen(prefix);
	if (len <= pl || strncmp(t, prefix, pl))
		return false;
	*rest = t + pl;
	*rlen = len - pl;
	return true;
}

static int bench_token(struct bench_spec *s, const char *t, size_t len, bool *target_given, char *err,
		       size_t errlen)
{
	const char *v;
	size_t vl;
	uint64_t n;
	if (tok_is(t, len, "raw") || tok_is(t, len, "fs")) {
		s->target = t[0] == 'f' ? BENCH_FS : BENCH_RAW;
		*target_given = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(bench_ops) / sizeof(bench_ops[0]); i++) {
		if (tok_is(t, len, bench_ops[i].name)) {
			s->op = bench_ops[i].op;
			s->op_given = true;
			return 0;
		}
	}
	/* mixedNN: NN% reads */
	if (tok_prefix(t, len, "mixed", &v, &vl) && !parse_size(v, vl, &n) && n <= 100) {
		s->op = BENCH_MIXED;
		s->op_given = true;
		s->read_pct = (uint8_t)n;
		return 0;
	}
	for (unsigned m = 0; m < 3; m++)
		if (tok_is(t, len, bench_modes[m])) { s->mode = (uint8_t)m; return 0; }
	if (len == 3 && t[0] == 'v' && t[1] == 'd' && t[2] >= 'a' && t[2] <= 'z') {
		memcpy(s->dev, t, 3);
		s->dev[3] = 0;
		return 0;
	}
	if (tok_prefix(t, len, "qd", &v, &vl) && !parse_size(v, vl, &n)) {
		if (n == 0 || n > 65536)
			goto bad;
		s->qd = (uint32_t)n;
		s->given |= BENCH_GIVEN_QD;
		return 0;
	}
	if (len > 3 && !strncmp(t + len - 3, "ios", 3) && !parse_size(t, len - 3, &n)) {
		if (n == 0)
			goto bad;
		s->ios = n;
		return 0;
	}
	if (!parse_duration(t, len, &n)) {
		s->time_ms = n;
		s->ios = 0;
		return 0;
	}
	if (len > 1 && t[len - 1] == 's' && t[0] >= '0' && t[0] <= '9') {
		snprintf(err, errlen, "duration '%.*s': 1ms to %us", (int)len, t, (unsigned)(BENCH_MAX_MS / 1000));
		return -EINVAL;
	}
	if (!parse_size(t, len, &n)) {
		if (n == 0 || n > (64u << 20) || n % 512)
			goto bad;
		s->bs = (uint32_t)n;
		return 0;
	}
	const char *eq = memchr(t, '=', len);
	if (eq) {
		size_t kl = (size_t)(eq - t);
		v = eq + 1;
		vl = len - kl - 1;
		if (tok_is(t, kl, "bs")) {
			if (parse_size(v, vl, &n) || n == 0 || n > (64u << 20) || n % 512) goto bad;
			s->bs = (uint32_t)n;
		} else if (tok_is(t, kl, "qd")) {
			if (parse_size(v, vl, &n) || n == 0 || n > 65536) goto bad;
			s->qd = (uint32_t)n;
			s->given |= BENCH_GIVEN_QD;
		} else if (tok_is(t, kl, "time")) {
			if (parse_duration(v, vl, &n)) goto bad;
			s->time_ms = n;
			s->ios = 0;
		} else if (tok_is(t, kl, "ios")) {
			if (parse_size(v, vl, &n) || n == 0) goto bad;
			s->ios = n;
		} else if (tok_is(t, kl, "region")) {
			if (parse_size(v, vl, &n) || n == 0) goto bad;
			s->region = n;
			s->given |= BENCH_GIVEN_REGION;
		} else if (tok_is(t, kl, "dev")) {
			if (vl == 0 || vl >= sizeof(s->dev)) goto bad;
			memcpy(s->dev, v, vl);
			s->dev[vl] = 0;
		} else if (tok_is(t, kl, "mode")) {
			unsigned m;
			for (m = 0; m < 3 && !tok_is(v, vl, bench_modes[m]); m++)
				;
			if (m == 3) goto bad;
			s->mode = (uint8_t)m;
		} else if (tok_is(t, kl, "seed")) {
			if (parse_size(v, vl, &n)) goto bad;
			s->seed = n;
		} else if (tok_is(t, kl, "read")) {
			if (parse_size(v, vl, &n) || n > 100) goto bad;
			s->read_pct = (uint8_t)n;
			s->given |= BENCH_GIVEN_READ;
		} else if (tok_is(t, kl, "fsync")) {
			if (parse_size(v, vl, &n) || n > UINT32_MAX) goto bad;
			s->fsync_every = (uint32_t)n;
			s->given |= BENCH_GIVEN_FSYNC;
		} else if (tok_is(t, kl, "files")) {
			if (parse_size(v, vl, &n) || n == 0 || n > 100000) goto bad;
			s->files = (uint32_t)n;
			s->given |= BENCH_GIVEN_FILES;
		} else if (tok_is(t, kl, "fill")) {
			if (parse_size(v, vl, &n) || n == 0 || n > 99) goto bad;
			s->fill_pct = (uint8_t)n;
			s->given |= BENCH_GIVEN_FILL;
		} else {
			goto bad;
		}
		return 0;
	}
bad:
	snprintf(err, errlen, "bad token '%.*s'", (int)len, t);
	return -EINVAL;
}

/* A setting that the run's kind does not use (it would be ignored): what to say, or NULL. */
static const char *bench_stray_key(const struct bench_spec *s)
{
	if (s->target == BENCH_RAW) {
		if (s->given & (BENCH_GIVEN_FSYNC | BENCH_GIVEN_FILES | BENCH_GIVEN_FILL))
			return "fsync=, files= and fill= are for file runs (fs:...)";
		if ((s->given & BENCH_GIVEN_READ) && s->op != BENCH_MIXED)
			return "read= is for mixed runs";
		return NULL;
	}
	if ((s->given & BENCH_GIVEN_QD) && s->qd != 1)
		return "file runs do one operation at a time (qd1)";
	if (s->given & (BENCH_GIVEN_REGION | BENCH_GIVEN_READ))
		return "region= and read= are for raw runs";
	if ((s->given & BENCH_GIVEN_FILL) && s->op != BENCH_FS_FILL)
		return "fill= is for fill runs";
	if ((s->given & BENCH_GIVEN_FSYNC) && s->op == BENCH_FS_APPEND)
		return "append runs fsync after every append";
	return NULL;
}

static void bench_defaults(struct bench_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->target = BENCH_RAW;
	s->op = BENCH_RANDWRITE;
	s->mode = BENCH_MODE_IRQ;
	s->bs = 4096;
	s->qd = 1;
	s->time_ms = 2000;
	s->seed = 1;
	s->read_pct = 50;
	s->fill_pct = 50;
	s->fsync_every = 1;
	s->files = 64;
	memcpy(s->dev, "vda", 4);
}

int bench_parse(const char *list, struct bench_spec *out, int max, char *err, size_t errlen)
{
	int n = 0;
	const char *p = list;
	if (!*p) {
		snprintf(err, errlen, "empty benchmark list");
		return -EINVAL;
	}
	while (*p) {
		const char *end = strchr(p, ',');
		size_t rl = end ? (size_t)(end - p) : strlen(p);
		if (rl == 0) {
			snprintf(err, errlen, "empty run in the list");
			return -EINVAL;
		}
		if (n == max) {
			snprintf(err, errlen, "more than %d runs", max);
			return -EINVAL;
		}
		struct bench_spec *s = &out[n];
		bench_defaults(s);
		size_t nl = rl < BENCH_NAME_MAX - 1 ? rl : BENCH_NAME_MAX - 1;
		memcpy(s->name, p, nl);
		s->name[nl] = 0;
		bool target_given = false;
		const char *t = p, *run_end = p + rl;
		while (t < run_end) {
			const char *c = memchr(t, ':', (size_t)(run_end - t));
			size_t tl = c ? (size_t)(c - t) : (size_t)(run_end - t);
			if (tl == 0 || bench_token(s, t, tl, &target_given, err, errlen)) {
				if (tl == 0)
					snprintf(err, errlen, "empty token in '%.*s'", (int)rl, p);
				return -EINVAL;
			}
			t += tl + (c ? 1 : 0);
		}
		bool fs_op = s->op >= BENCH_FS_SMALLFILES;
		if (!target_given)
			s->target = fs_op ? BENCH_FS : BENCH_RAW;
		else if (s->target == BENCH_FS && !s->op_given)
			s->op = BENCH_FS_SMALLFILES;
		else if ((s->target == BENCH_FS) != fs_op) {
			snprintf(err, errlen, "'%s' is not a %s operation", bench_op_name(s->op),
				 s->target == BENCH_FS ? "file" : "raw-device");
			return -EINVAL;
		}
		const char *stray = bench_stray_key(s);
		if (stray) {
			snprintf(err, errlen, "%s in '%s'", stray, s->name);
			return -EINVAL;
		}
		if (s->region && s->region < s->bs) {
			snprintf(err, errlen, "region smaller than the block size in '%s'", s->name);
			return -EINVAL;
		}
		n++;
		p += rl;
		if (*p == ',') {
			p++;
			if (!*p) {
				snprintf(err, errlen, "list ends with a comma");
				return -EINVAL;
			}
		}
	}
	return n;
}
