/*
 * In-kernel tests. KTEST(name) (kernel/kernel.h) puts a struct ktest in the
 * "ktests" linker section; test=<name>[,<name>...] or test=all runs them and
 * prints one TEST line each and a closing "N passed, M failed".
 */
#include "kernel/kernel.h"

extern const struct ktest __start_ktests[], __stop_ktests[];

static int ktest_valid_list(const char *v)
{
	return *v ? 0 : -EINVAL;
}
CMDLINE_KEY(test, "test", ktest_valid_list,
	    "test=all or test=NAME[,NAME...]: run in-kernel tests (test=list lists them)");

static const struct ktest *ktest_find(const char *name, size_t len)
{
	for (const struct ktest *t = __start_ktests; t < __stop_ktests; t++)
		if (strlen(t->name) == len && !strncmp(t->name, name, len))
			return t;
	return NULL;
}

static bool ktest_run_one(const struct ktest *t)
{
	char reason[160] = "";
	int rc = t->fn(reason, sizeof(reason));
	if (rc == 0) {
		printf("TEST %s PASS\n", t->name);
		return true;
	}
	printf("TEST %s FAIL %s\n", t->name, reason[0] ? reason : "(no reason given)");
	return false;
}

int ktest_run(const char *list)
{
	unsigned passed = 0, failed = 0;
	if (!strcmp(list, "list")) {
		for (const struct ktest *t = __start_ktests; t < __stop_ktests; t++)
			printf("ktest: %s%s\n", t->name, t->explicit_only ? " (only when named)" : "");
		return 0;
	}
	if (!strcmp(list, "all")) {
		for (const struct ktest *t = __start_ktests; t < __stop_ktests; t++) {
			if (t->explicit_only)
				continue;
			if (ktest_run_one(t))
				passed++;
			else
				failed++;
		}
	} else {
		const char *p = list;
		while (*p) {
			const char *end = strchr(p, ',');
			size_t len = end ? (size_t)(end - p) : strlen(p);
			const struct ktest *t = ktest_find(p, len);
			if (!t) {
				printf("TEST %.*s FAIL no such test (test=list lists them)\n", (int)len, p);
				failed++;
			} else if (ktest_run_one(t)) {
				passed++;
			} else {
				failed++;
			}
			p += len;
			if (*p == ',')
				p++;
		}
	}
	printf("%u passed, %u failed\n", passed, failed);
	return (int)failed;
}
