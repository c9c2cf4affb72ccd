/*
 * The command line: space-separated key=value words from GRUB's multiboot2
 * command line. Keys are declared with CMDLINE_KEY next to the code that
 * reads them; a word whose key nobody declared, or whose value its key's
 * validator rejects, is an error that ends the run (README, Command line: unknown keys
 * are an error, not ignored). A key may be given more than once: readers
 * that want one value take the last, readers of lists (bench=) walk them all.
 */
#include "kernel/kernel.h"

#define CMDLINE_MAX 2048
#define CMDLINE_WORDS 64

extern const struct cmdline_key __start_cmdline_keys[], __stop_cmdline_keys[];

static char cmdline_buf[CMDLINE_MAX];
static struct {
	const char *key, *value;
} words[CMDLINE_WORDS];
static size_t nwords;

static const struct cmdline_key *cmdline_find_key(const char *name)
{
	for (const struct cmdline_key *k = __start_cmdline_keys; k < __stop_cmdline_keys; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

static void cmdline_print_keys(void)
{
	printf("cmdline: accepted keys:\n");
	for (const struct cmdline_key *k = __start_cmdline_keys; k < __stop_cmdline_keys; k++)
		printf("cmdline:   %-14s %s\n", k->name, k->help);
}

int cmdline_parse(const char *line)
{
	nwords = 0;
	if (!line)
		line = "";
	size_t len = strlen(line);
	if (len >= CMDLINE_MAX) {
		printf("cmdline: command line is %zu bytes; at most %d are accepted\n", len, CMDLINE_MAX - 1);
		return -EINVAL;
	}
	memcpy(cmdline_buf, line, len + 1);
	char *p = cmdline_buf;
	bool first = true;
	int err = 0;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			*p++ = 0;
		if (!*p)
			break;
		char *word = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = 0;
		char *eq = strchr(word, '=');
		/* Some loaders put the kernel's own path first: skip it. */
		if (first && !eq && word[0] == '/') {
			first = false;
			continue;
		}
		first = false;
		if (!eq || eq == word) {
			printf("cmdline: '%s' is not a key=value word\n", word);
			err = -EINVAL;
			continue;
		}
		*eq = 0;
		const char *value = eq + 1;
		const struct cmdline_key *k = cmdline_find_key(word);
		if (!k) {
			printf("cmdline: unknown key '%s' (in '%s=%s')\n", word, word, value);
			err = -EINVAL;
			continue;
		}
		if (k->validate && k->validate(value)) {
			printf("cmdline: bad value '%s' for key '%s': %s\n", value, word, k->help);
			err = -EINVAL;
			continue;
		}
		if (nwords == CMDLINE_WORDS) {
			printf("cmdline: more than %d words\n", CMDLINE_WORDS);
			err = -EINVAL;
			continue;
		}
		words[nwords].key = word;
		words[nwords].value = value;
		nwords++;
	}
	if (err)
		cmdline_print_keys();
	return err;
}

const char *cmdline_get(const char *key)
{
	for (size_t i = nwords; i-- > 0;)
		if (!strcmp(words[i].key, key))
			return words[i].value;
	return NULL;
}

static int cmdline_bool_value(const char *v)
{
	static const char *const yes[] = {"1", "on", "yes", "true"};
	static const char *const no[] = {"0", "off", "no", "false"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcmp(v, yes[i]))
			return 1;
		if (!strcmp(v, no[i]))
			return 0;
	}
	return -1;
}

bool cmdline_flag(const char *key, bool dflt)
{
	const char *v = cmdline_get(key);
	if (!v)
		return dflt;
	int b = cmdline_bool_value(v);
	return b < 0 ? dflt : b == 1;
}

size_t cmdline_count(void)
{
	return nwords;
}

void cmdline_entry(size_t i, const char **key, const char **value)
{
	*key = i < nwords ? words[i].key : NULL;
	*value = i < nwords ? words[i].value : NULL;
}

int cmdline_valid_bool(const char *v)
{
	return cmdline_bool_value(v) < 0 ? -EINVAL : 0;
}

int cmdline_valid_any(const char *v)
{
	(void)v;
	return 0;
}

int cmdline_parse_uint(const char *v, uint64_t *out)
{
	uint64_t n = 0;
	unsigned base = 10;
	const char *p = v;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	const char *digits = p;
	for (; *p; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (n > (UINT64_MAX - d) / base)
			return -EINVAL; /* overflow */
		n = n * base + d;
	}
	if (p == digits)
		return -EINVAL;
	unsigned shift = 0;
	if (*p == 'k' || *p == 'K')
		shift = 10;
	else if (*p == 'm' || *p == 'M')
		shift = 20;
	else if (*p == 'g' || *p == 'G')
		shift = 30;
	if (shift) {
		p++;
		if (n > (UINT64_MAX >> shift))
			return -EINVAL;
		n <<= shift;
	}
	if (*p)
		return -EINVAL;
	*out = n;
	return 0;
}

int cmdline_valid_uint(const char *v)
{
	uint64_t n;
	return cmdline_parse_uint(v, &n);
}
