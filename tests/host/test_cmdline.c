/*
 * Host tests of kernel/cmdline.c: key=value words, keys declared with
 * CMDLINE_KEY (the linker gathers them in the cmdline_keys section here as
 * in the kernel), the validators, and cmdline_parse_uint. What the parser
 * prints (with the host's printf) is captured, so the tests also check that
 * an error names the offending word.
 *
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/kernel.h"
#include "tests/host/hosttest.h"

static int valid_even(const char *v)
{
	uint64_t n;
	if (cmdline_parse_uint(v, &n) || n % 2)
		return -EINVAL;
	return 0;
}

CMDLINE_KEY(tbool, "tbool", cmdline_valid_bool, "0 1 on off yes no true false");
CMDLINE_KEY(tuint, "tuint", cmdline_valid_uint, "decimal or 0x hex, k/m/g suffix");
CMDLINE_KEY(tany, "tany", cmdline_valid_any, "any text");
CMDLINE_KEY(tfree, "tfree", NULL, "no validator at all");
CMDLINE_KEY(teven, "teven", valid_even, "an even number (help text)");

extern const struct cmdline_key __start_cmdline_keys[], __stop_cmdline_keys[];

/* What cmdline_parse printed during the last parse(). */
static char printed[16384];

static int parse(const char *line)
{
	printed[0] = 0;
	fflush(stdout);
	int saved = dup(1);
	FILE *tmp = tmpfile();
	if (saved < 0 || !tmp) {
		fprintf(stderr, "test_cmdline: cannot capture stdout\n");
		exit(1);
	}
	dup2(fileno(tmp), 1);
	int r = cmdline_parse(line);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(tmp);
	size_t n = fread(printed, 1, sizeof(printed) - 1, tmp);
	printed[n] = 0;
	fclose(tmp);
	return r;
}

/* Key and value of entry i are k and v. */
static int entry_is(size_t i, const char *k, const char *v)
{
	const char *key, *value;
	cmdline_entry(i, &key, &value);
	return key && value && !strcmp(key, k) && !strcmp(value, v);
}

static const char *str(const char *s)
{
	return s ? s : "(NULL)";
}

static int t_keys_section(void)
{
	size_t n = (size_t)(__stop_cmdline_keys - __start_cmdline_keys);
	HT_CHECK(n == 5, "%zu keys in the cmdline_keys section, want 5", n);
	int seen = 0;
	for (const struct cmdline_key *k = __start_cmdline_keys; k < __stop_cmdline_keys; k++)
		seen += !strcmp(k->name, "tbool") + !strcmp(k->name, "teven");
	HT_CHECK(seen == 2, "tbool/teven not found in the section");
	return 0;
}

static int t_empty(void)
{
	HT_CHECK(parse("") == 0, "empty line: error");
	HT_CHECK(cmdline_count() == 0, "empty line: %zu words", cmdline_count());
	HT_CHECK(parse(NULL) == 0 && cmdline_count() == 0, "NULL line rejected or not empty");
	HT_CHECK(parse("  \t \t  ") == 0 && cmdline_count() == 0, "blank line: error or words");
	HT_CHECK(cmdline_get("tany") == NULL, "cmdline_get on an empty line: %s", cmdline_get("tany"));
	HT_CHECK(printed[0] == 0, "a good line printed \"%s\"", printed);
	return 0;
}

static int t_words(void)
{
	HT_CHECK(parse("tbool=1 tuint=0x10 tany=hello") == 0, "error: %s", printed);
	HT_CHECK(cmdline_count() == 3, "%zu words", cmdline_count());
	HT_CHECK(entry_is(0, "tbool", "1") && entry_is(1, "tuint", "0x10") && entry_is(2, "tany", "hello"),
		 "entries out of order or wrong");
	HT_CHECK(!strcmp(str(cmdline_get("tuint")), "0x10"), "tuint = %s", str(cmdline_get("tuint")));
	HT_CHECK(cmdline_get("tfree") == NULL, "an absent key has a value");
	HT_CHECK(cmdline_get("nosuchkey") == NULL, "an undeclared key has a value");
	const char *k = "x", *v = "y";
	cmdline_entry(3, &k, &v);
	HT_CHECK(k == NULL && v == NULL, "entry past the end: %s=%s", str(k), str(v));
	cmdline_entry((size_t)-1, &k, &v);
	HT_CHECK(k == NULL && v == NULL, "entry SIZE_MAX: %s=%s", str(k), str(v));
	return 0;
}

static int t_whitespace(void)
{
	HT_CHECK(parse("  \ttbool=on\t\ttany=a   tfree=b \t ") == 0, "error: %s", printed);
	HT_CHECK(cmdline_count() == 3 && entry_is(0, "tbool", "on") && entry_is(1, "tany", "a") &&
			 entry_is(2, "tfree", "b"),
		 "tabs and spaces not separators (%zu words)", cmdline_count());
	return 0;
}

static int t_repeated_key_last_wins(void)
{
	HT_CHECK(parse("tany=first tuint=1 tany=second tany=third") == 0, "error: %s", printed);
	HT_CHECK(!strcmp(str(cmdline_get("tany")), "third"), "tany = %s", str(cmdline_get("tany")));
	HT_CHECK(cmdline_count() == 4 && entry_is(0, "tany", "first") && entry_is(2, "tany", "second"),
		 "every occurrence must stay listed, in order");
	return 0;
}

static int t_value_details(void)
{
	HT_CHECK(parse("tany=a=b=c") == 0 && !strcmp(str(cmdline_get("tany")), "a=b=c"),
		 "value with '=': %s", str(cmdline_get("tany")));
	HT_CHECK(parse("tany=") == 0 && !strcmp(str(cmdline_get("tany")), ""),
		 "empty value rejected or lost: %s", printed);
	HT_CHECK(parse("tfree=whatever") == 0 && !strcmp(str(cmdline_get("tfree")), "whatever"),
		 "key without validator: %s", printed);
	HT_CHECK(parse("tuint=") == -EINVAL, "tuint accepted an empty value");
	return 0;
}

static int t_reparse_replaces(void)
{
	HT_CHECK(parse("tany=old tbool=1") == 0, "error: %s", printed);
	HT_CHECK(parse("tuint=5") == 0, "error: %s", printed);
	HT_CHECK(cmdline_count() == 1 && cmdline_get("tany") == NULL && cmdline_get("tbool") == NULL,
		 "words of the previous line survived");
	/* The parser keeps its own copy of the line. */
	char line[] = "tany=copied";
	HT_CHECK(parse(line) == 0, "error: %s", printed);
	memset(line, 'X', sizeof(line) - 1);
	HT_CHECK(!strcmp(str(cmdline_get("tany")), "copied"), "value points into the caller's line");
	return 0;
}

static int t_loader_path_skipped(void)
{
	HT_CHECK(parse("/boot/quill.elf tbool=yes") == 0, "path first: %s", printed);
	HT_CHECK(cmdline_count() == 1 && entry_is(0, "tbool", "yes"), "path counted as a word");
	HT_CHECK(parse("/boot/quill.elf") == 0 && cmdline_count() == 0, "path alone: %s", printed);
	HT_CHECK(parse("   /k") == 0 && cmdline_count() == 0, "path after spaces: %s", printed);
	/* Only the first word may be a path. */
	HT_CHECK(parse("tbool=1 /boot/quill.elf") == -EINVAL, "path as second word accepted");
	HT_CHECK(strstr(printed, "/boot/quill.elf"), "error does not name the word: %s", printed);
	HT_CHECK(parse("/a /b") == -EINVAL, "two paths accepted");
	/* A first word with '=' is a key, even when it starts with '/'. */
	HT_CHECK(parse("/x=1") == -EINVAL, "'/x=1' accepted as a path");
	return 0;
}

static int t_unknown_key(void)
{
	HT_CHECK(parse("bogus=1") == -EINVAL, "unknown key accepted");
	HT_CHECK(strstr(printed, "bogus"), "message does not name the key: \"%s\"", printed);
	/* The list of accepted keys follows, with their help. */
	HT_CHECK(strstr(printed, "tbool") && strstr(printed, "an even number (help text)"),
		 "accepted keys not listed: \"%s\"", printed);
	HT_CHECK(parse("tbool=1 bogus=1 tany=x") == -EINVAL, "unknown key among good ones accepted");
	HT_CHECK(parse("TBOOL=1") == -EINVAL, "keys must match exactly (case)");
	HT_CHECK(parse("tboo=1") == -EINVAL && parse("tbool2=1") == -EINVAL, "prefix match of keys");
	return 0;
}

static int t_every_error_reported(void)
{
	HT_CHECK(parse("first=1 tbool=1 second=2 tuint=zz") == -EINVAL, "errors accepted");
	HT_CHECK(strstr(printed, "first") && strstr(printed, "second") && strstr(printed, "zz"),
		 "not every bad word named: \"%s\"", printed);
	return 0;
}

static int t_malformed_words(void)
{
	HT_CHECK(parse("tbool") == -EINVAL, "word without '=' accepted");
	HT_CHECK(strstr(printed, "tbool"), "message does not name the word: %s", printed);
	HT_CHECK(parse("=5") == -EINVAL, "empty key accepted");
	HT_CHECK(parse("=") == -EINVAL, "lone '=' accepted");
	HT_CHECK(parse("tany=1 justaword") == -EINVAL, "word without '=' after a good one accepted");
	HT_CHECK(parse("tbool = 1") == -EINVAL, "'key = value' (spaces) accepted");
	return 0;
}

static int t_bad_values(void)
{
	HT_CHECK(parse("tbool=2") == -EINVAL, "tbool=2 accepted");
	HT_CHECK(strstr(printed, "tbool") && strstr(printed, "'2'"), "message: \"%s\"", printed);
	HT_CHECK(strstr(printed, "0 1 on off yes no true false"), "help text not shown: \"%s\"", printed);
	HT_CHECK(parse("tuint=12x") == -EINVAL, "tuint=12x accepted");
	HT_CHECK(parse("teven=3") == -EINVAL, "custom validator ignored");
	HT_CHECK(parse("teven=4") == 0, "custom validator rejected a good value: %s", printed);
	return 0;
}

static int t_flag(void)
{
	HT_CHECK(parse("tbool=1") == 0 && cmdline_flag("tbool", false) == true, "tbool=1 not true");
	HT_CHECK(parse("tbool=off") == 0 && cmdline_flag("tbool", true) == false, "tbool=off not false");
	HT_CHECK(parse("") == 0 && cmdline_flag("tbool", true) == true && cmdline_flag("tbool", false) == false,
		 "absent flag does not give the default");
	/* A value that is no boolean (possible for a key without the bool validator). */
	HT_CHECK(parse("tany=maybe") == 0 && cmdline_flag("tany", true) == true &&
			 cmdline_flag("tany", false) == false,
		 "non-boolean value does not give the default");
	HT_CHECK(parse("tbool=yes tbool=no") == 0 && cmdline_flag("tbool", true) == false,
		 "last value does not win for flags");
	return 0;
}

static int t_valid_bool(void)
{
	static const char *const good[] = {"0", "1", "on", "off", "yes", "no", "true", "false"};
	static const char *const bad[] = {"", "2", "10", "01", "y", "n", "yes ", " no", "truee",
					  "fals", "onoff", "-1"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		HT_CHECK(cmdline_valid_bool(good[i]) == 0, "'%s' rejected", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		HT_CHECK(cmdline_valid_bool(bad[i]) == -EINVAL, "'%s' accepted", bad[i]);
	HT_CHECK(cmdline_valid_any("") == 0 && cmdline_valid_any("x y") == 0, "valid_any rejected");
	return 0;
}

static int t_parse_uint_good(void)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"0", 0},
		{"7", 7},
		{"08", 8}, /* decimal, not octal */
		{"000000000000000000000000000000042", 42},
		{"4096", 4096},
		{"0x0", 0},
		{"0x10", 16},
		{"0X1f", 31},
		{"0xDeadBeef", 0xdeadbeef},
		{"1k", 1024},
		{"1K", 1024},
		{"3m", 3ull << 20},
		{"3M", 3ull << 20},
		{"2g", 2ull << 30},
		{"2G", 2ull << 30},
		{"0x10k", 16384},
		{"0k", 0},
		{"18446744073709551615", UINT64_MAX},
		{"0xffffffffffffffff", UINT64_MAX},
		{"0xFFFFFFFFFFFFFFFF", UINT64_MAX},
		{"17179869183g", 17179869183ull << 30},
		{"17592186044415m", 17592186044415ull << 20},
		{"18014398509481983k", 18014398509481983ull << 10},
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		uint64_t v = 12345;
		int r = cmdline_parse_uint(good[i].s, &v);
		HT_CHECK(r == 0 && v == good[i].v, "'%s': %d, %llu (want %llu)", good[i].s, r,
			 (unsigned long long)v, (unsigned long long)good[i].v);
		HT_CHECK(cmdline_valid_uint(good[i].s) == 0, "valid_uint rejects '%s'", good[i].s);
	}
	return 0;
}

static int t_parse_uint_bad(void)
{
	static const char *const bad[] = {
		"", "0x", "0X", "x10", "-1", "+1", " 1", "1 ", "1.5", "12a", "0xg", "0x1x",
		"k", "0xk", "1kb", "1kk", "1k1", "1t", "1e3", "0b101", "0x 1",
		"18446744073709551616",    /* 2^64 */
		"99999999999999999999",    /* overflow by far */
		"0x10000000000000000",     /* 2^64 in hex */
		"184467440737095516150",   /* overflow in the last digit */
		"17179869184g",            /* 2^34 g = 2^64 */
		"17592186044416m",         /* 2^44 m = 2^64 */
		"18014398509481984k",      /* 2^54 k = 2^64 */
		"0xffffffffffffffffk",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t v = 0;
		HT_CHECK(cmdline_parse_uint(bad[i], &v) == -EINVAL, "'%s' accepted as %llu", bad[i],
			 (unsigned long long)v);
		HT_CHECK(cmdline_valid_uint(bad[i]) == -EINVAL, "valid_uint accepts '%s'", bad[i]);
	}
	return 0;
}

static int t_length_limit(void)
{
	/* CMDLINE_MAX is 2048 bytes with the NUL: 2047 characters pass, 2048 do not. */
	static char line[4096];
	memcpy(line, "tany=", 5);
	memset(line + 5, 'v', 2047 - 5);
	line[2047] = 0;
	HT_CHECK(parse(line) == 0, "2047-byte line rejected: %.100s", printed);
	HT_CHECK(strlen(str(cmdline_get("tany"))) == 2042, "value cut");
	memset(line + 5, 'v', 2048 - 5);
	line[2048] = 0;
	HT_CHECK(parse(line) == -EINVAL, "2048-byte line accepted");
	HT_CHECK(cmdline_count() == 0, "words of a rejected line kept");
	memset(line + 5, 'v', sizeof(line) - 6);
	line[sizeof(line) - 1] = 0;
	HT_CHECK(parse(line) == -EINVAL, "4095-byte line accepted");
	return 0;
}

static int t_word_limit(void)
{
	static char line[2048];
	size_t k = 0;
	for (int i = 0; i < 64; i++)
		k += (size_t)sprintf(line + k, "tuint=%d ", i);
	HT_CHECK(parse(line) == 0 && cmdline_count() == 64, "64 words: %d words, %s",
		 (int)cmdline_count(), printed);
	HT_CHECK(entry_is(63, "tuint", "63") && !strcmp(str(cmdline_get("tuint")), "63"),
		 "64th word wrong");
	sprintf(line + k, "tany=65th");
	HT_CHECK(parse(line) == -EINVAL, "65 words accepted");
	HT_CHECK(cmdline_count() <= 64, "%zu words kept", cmdline_count());
	return 0;
}

int main(void)
{
	ht_run("cmdline_keys_section", t_keys_section);
	ht_run("cmdline_empty", t_empty);
	ht_run("cmdline_words", t_words);
	ht_run("cmdline_whitespace", t_whitespace);
	ht_run("cmdline_repeated_key_last_wins", t_repeated_key_last_wins);
	ht_run("cmdline_value_details", t_value_details);
	ht_run("cmdline_reparse_replaces", t_reparse_replaces);
	ht_run("cmdline_loader_path_skipped", t_loader_path_skipped);
	ht_run("cmdline_unknown_key", t_unknown_key);
	ht_run("cmdline_every_error_reported", t_every_error_reported);
	ht_run("cmdline_malformed_words", t_malformed_words);
	ht_run("cmdline_bad_values", t_bad_values);
	ht_run("cmdline_flag", t_flag);
	ht_run("cmdline_valid_bool", t_valid_bool);
	ht_run("cmdline_parse_uint_good", t_parse_uint_good);
	ht_run("cmdline_parse_uint_bad", t_parse_uint_bad);
	ht_run_isolated("cmdline_length_limit", t_length_limit);
	ht_run_isolated("cmdline_word_limit", t_word_limit);
	return ht_exit_status();
}
