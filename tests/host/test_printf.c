/*
 * Host tests of kernel/printf.c, built with -DQUILL_HOST so its functions are
 * quill_vsnprintf/quill_snprintf and can run beside the C library's.
 *
 * Most cases compare the two for the same format and arguments at every
 * buffer size from 0 (NULL buffer) to one past the full length: same return
 * value (the would-be length), same bytes, same terminator. Each buffer is
 * malloc'd at its exact size, so ASan catches a write past it. The few
 * places where C leaves the output to the implementation (%p of NULL, an
 * unknown conversion, a lone '%') are checked against Quill's own rule.
 *
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tests/host/hosttest.h"

int quill_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int quill_snprintf(char *buf, size_t size, const char *fmt, ...);

#define OUT_MAX 4096

/* s as a C literal, for reasons: escapes and truncates. */
static const char *show(const char *s, size_t n)
{
	static char bufs[2][200];
	static int which;
	char *o = bufs[which ^= 1];
	size_t k = 0;
	for (size_t i = 0; i < n && k + 6 < sizeof(bufs[0]); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 32 && c < 127 && c != '\\')
			o[k++] = (char)c;
		else
			k += (size_t)sprintf(o + k, "\\x%02x", c);
	}
	if (n && k + 6 >= sizeof(bufs[0]))
		strcpy(o + k, "...");
	else
		o[k] = 0;
	return o;
}

/* Sizes worth trying for an output of n bytes: all of them while small. */
static int next_size(size_t size, size_t n)
{
	if (n < 300)
		return 1;
	return size < 4 || size + 4 > n || size % 97 == 0;
}

/*
 * Compare Quill with the C library for fmt and the arguments in ap, at every
 * buffer size. 0 when they agree, else -1 with the reason set.
 */
static int vcmp(const char *fmt, va_list ap)
{
	static char want[OUT_MAX];
	va_list a;
	va_copy(a, ap);
	int wn = vsnprintf(want, sizeof(want), fmt, a);
	va_end(a);
	if (wn < 0 || wn >= OUT_MAX)
		HT_FAIL("libc gave %d for \"%s\"; test case too long", wn, show(fmt, strlen(fmt)));
	for (size_t size = 0; size <= (size_t)wn + 2; size++) {
		if (!next_size(size, (size_t)wn))
			continue;
		char *b = size ? malloc(size) : NULL;
		if (size)
			memset(b, 0x5a, size);
		va_copy(a, ap);
		int qn = quill_vsnprintf(b, size, fmt, a);
		va_end(a);
		int bad = 0;
		size_t k = 0;
		if (qn != wn) {
			bad = 1;
		} else if (size) {
			k = (size_t)wn < size - 1 ? (size_t)wn : size - 1;
			bad = memcmp(b, want, k) != 0 || b[k] != 0;
		}
		if (bad) {
			char got[OUT_MAX];
			if (size)
				memcpy(got, b, k);
			free(b);
			HT_FAIL("\"%s\" size %zu: quill returned %d \"%s\", libc %d \"%s\"",
				show(fmt, strlen(fmt)), size, qn, size ? show(got, k) : "",
				wn, show(want, size ? k : (size_t)wn));
		}
		free(b);
	}
	return 0;
}

/* Literal formats: checked by the compiler like any printf call. */
static __attribute__((format(printf, 1, 2))) int cmp(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vcmp(fmt, ap);
	va_end(ap);
	return r;
}

/* Built formats, or flag combinations the compiler would warn about. */
static int cmpv(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vcmp(fmt, ap);
	va_end(ap);
	return r;
}

#define C(...)                                                                 \
	do {                                                                   \
		if (cmp(__VA_ARGS__))                                          \
			return -1;                                             \
	} while (0)
#define CV(...)                                                                \
	do {                                                                   \
		if (cmpv(__VA_ARGS__))                                         \
			return -1;                                             \
	} while (0)

/* Quill's own output for the implementation-defined cases. */
static int expect(const char *want, const char *fmt, ...)
{
	char b[256];
	va_list ap;
	va_start(ap, fmt);
	int n = quill_vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	if (n != (int)strlen(want) || strcmp(b, want))
		HT_FAIL("\"%s\": got %d \"%s\", want \"%s\"", show(fmt, strlen(fmt)), n,
			show(b, strlen(b)), want);
	return 0;
}

static int t_plain_text(void)
{
	C("%s", "");
	C("hello, world");
	C("100%%");
	C("a%%b%%c%%");
	C("tab\tnewline\n\x7f\x80\xff");
	return 0;
}

static int t_signed_decimal(void)
{
	static const int v[] = {0, 1, -1, 9, 10, -10, 42, -42, 99999, 123456789, -987654321,
				INT_MAX, INT_MIN, INT_MAX - 1, INT_MIN + 1};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		C("%d", v[i]);
		C("%i", v[i]);
		C("[%d|%i]", v[i], -v[i] / 2);
	}
	return 0;
}

static int t_unsigned_bases(void)
{
	static const unsigned v[] = {0, 1, 7, 8, 9, 10, 15, 16, 255, 256, 0777, 0xdeadbeef,
				     UINT_MAX, UINT_MAX - 1, 0x80000000u};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		C("%u %x %X %o", v[i], v[i], v[i], v[i]);
	return 0;
}

static int t_width_and_justify(void)
{
	C("[%5d]", 42);
	C("[%-5d]", 42);
	C("[%5d]", -42);
	C("[%-5d]", -42);
	C("[%1d]", 12345);
	C("[%05d]", 42);
	C("[%05d]", -42);
	C("[%05d]", 0);
	C("[%08x]", 0xbeefu);
	C("[%-8X]", 0xbeefu);
	C("[%012o]", 0777u);
	C("[%20u]", UINT_MAX);
	CV("[%-05d]", 42); /* '0' ignored with '-' */
	CV("[%0-5d]", -42);
	C("[%-1d]", -7);
	return 0;
}

static int t_flags_plus_space(void)
{
	C("%+d %+d %+d", 0, 5, -5);
	C("% d % d % d", 0, 5, -5);
	C("[%+6d] [% 6d] [%-+6d] [%- 6d]", 17, 17, 17, 17);
	C("[%+06d] [% 06d] [%+06d]", 17, 17, -17);
	CV("%+ d % +d", 3, 3); /* '+' wins over ' ' */
	C("%+i % i", INT_MIN, INT_MAX);
	C("%+lld", LLONG_MAX);
	return 0;
}

static int t_flag_alt(void)
{
	static const unsigned v[] = {0, 1, 7, 8, 0xff, 0x1000, UINT_MAX};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		C("%#x %#X %#o", v[i], v[i], v[i]);
		C("[%#10x] [%#-10X] [%#010x] [%#10o] [%#010o]", v[i], v[i], v[i], v[i], v[i]);
		C("[%#.5x] [%#.0x] [%#.0o] [%#.3o] [%#8.3o] [%#.1o]", v[i], v[i], v[i], v[i], v[i], v[i]);
	}
	C("%#llx %#llo %#llX", ULLONG_MAX, ULLONG_MAX, 0x1ull << 63);
	return 0;
}

static int t_int_precision(void)
{
	C("[%.0d] [%.0i] [%.0u] [%.0x] [%.0o]", 0, 0, 0u, 0u, 0u);
	C("[%5.0d] [%-5.0d] [%+.0d] [% .0d]", 0, 0, 0, 0);
	C("[%.3d] [%.3d] [%.3d]", 7, -7, 12345);
	C("[%8.3d] [%-8.3d] [%+8.3d]", 7, -7, 7);
	CV("[%08.3d] [%08.3d] [%08.0d]", 7, -7, 0); /* '0' ignored with a precision */
	C("[%.10u] [%.10x] [%.10o]", 42u, 42u, 42u);
	C("[%.25lld] [%30.25lld]", LLONG_MIN, LLONG_MIN);
	C("[%.d]", 5);
	return 0;
}

static int t_star_width_precision(void)
{
	C("[%*d]", 5, 42);
	C("[%*d]", -5, 42); /* negative width: left justify */
	C("[%-*d]", 5, 42);
	C("[%-*d]", -5, 42);
	C("[%*d]", 0, 42);
	C("[%.*d]", 3, 7);
	C("[%.*d]", -1, 7); /* negative precision: as if none */
	C("[%.*d]", 0, 0);
	C("[%0*d]", 6, -3);
	C("[%*.*d]", 8, 4, 3);
	C("[%*.*d]", -8, 4, -3);
	C("[%.*s]", 2, "hello");
	C("[%.*s]", -1, "hello");
	C("[%*s]", -6, "ab");
	C("[%*s|%*s]", 3, "a", 4, "bc");
	C("[%*c]", 4, 'x');
	return 0;
}

static int t_length_hh_h(void)
{
	static const int v[] = {0, 1, -1, 127, 128, 200, 255, 256, -128, -129, 32767, 32768,
				65535, 65536, 70000, -32769, INT_MAX, INT_MIN};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* The argument arrives as an int and is narrowed by the conversion. */
		C("%hhd %hhi %hhu %hhx %hhX %hho", (signed char)v[i], (signed char)v[i],
		  (unsigned char)v[i], (unsigned char)v[i], (unsigned char)v[i], (unsigned char)v[i]);
		C("%hd %hi %hu %hx %hX %ho", (short)v[i], (short)v[i], (unsigned short)v[i],
		  (unsigned short)v[i], (unsigned short)v[i], (unsigned short)v[i]);
		/* Not narrowed by the caller: the conversion itself must do it. */
		CV("%hhd %hhu %hd %hu", v[i], v[i], v[i], v[i]);
	}
	return 0;
}

static int t_length_l_ll(void)
{
	static const long long v[] = {0, 1, -1, INT_MAX, (long long)INT_MAX + 1, INT_MIN,
				      (long long)INT_MIN - 1, LLONG_MAX, LLONG_MIN, 1ll << 40,
				      -(1ll << 40), 1000000000000000000ll};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		C("%ld %li %lu %lx %lX %lo", (long)v[i], (long)v[i], (unsigned long)v[i],
		  (unsigned long)v[i], (unsigned long)v[i], (unsigned long)v[i]);
		C("%lld %lli %llu %llx %llX %llo", v[i], v[i], (unsigned long long)v[i],
		  (unsigned long long)v[i], (unsigned long long)v[i], (unsigned long long)v[i]);
	}
	C("%lu %llu", ULONG_MAX, ULLONG_MAX);
	return 0;
}

static int t_length_z_t_j(void)
{
	C("%zu %zx %zd %zd", SIZE_MAX, SIZE_MAX, (ssize_t)-1, (ssize_t)(SIZE_MAX / 2));
	C("%td %td %tx", PTRDIFF_MAX, PTRDIFF_MIN, (ptrdiff_t)0x1234);
	C("%jd %jd %ju %jx %jo", INTMAX_MAX, INTMAX_MIN, UINTMAX_MAX, UINTMAX_MAX, UINTMAX_MAX);
	C("[%20zu] [%-20zd] [%020jd]", (size_t)12345, (ssize_t)-12345, (intmax_t)-1);
	return 0;
}

static int t_limits_padded(void)
{
	C("[%25lld] [%-25lld] [%025lld]", LLONG_MIN, LLONG_MIN, LLONG_MIN);
	C("[%25lld] [%+025lld] [% 25lld]", LLONG_MAX, LLONG_MAX, LLONG_MAX);
	C("[%30llo] [%#30llo] [%#030llx]", ULLONG_MAX, ULLONG_MAX, ULLONG_MAX);
	C("[%d] [%d] [%ld] [%ld]", INT_MIN, INT_MAX, LONG_MIN, LONG_MAX);
	return 0;
}

static int t_strings(void)
{
	C("[%s]", "abc");
	C("[%5s] [%-5s] [%2s]", "abc", "abc", "abc");
	C("[%.2s] [%5.2s] [%-5.2s] [%.0s] [%.10s]", "abc", "abc", "abc", "abc", "abc");
	C("[%s] [%10s] [%-3s] [%.5s]", "", "", "", "");
	C("%s=%s; %s", "key", "value", "tail");
	C("[%s]", "\xff\x80 high bytes");
	return 0;
}

static int t_string_null(void)
{
	/* glibc prints "(null)" as well, as long as no precision cuts it. */
	const char *volatile null = NULL;
	C("[%s]", null);
	C("[%10s] [%-10s] [%.6s] [%.20s]", null, null, null, null);
	return 0;
}

static int t_chars(void)
{
	C("%c%c%c", 'a', 'b', 'c');
	C("[%3c] [%-3c] [%1c]", 'x', 'y', 'z');
	C("[%c]", 0); /* a NUL inside the output: counted and copied */
	C("[%c]", 255);
	C("[%c]", -1);
	C("[%c]", 0x141); /* converted to unsigned char */
	return 0;
}

static int t_pointers(void)
{
	int x;
	C("%p", (void *)&x);
	C("%p %p", (void *)1, (void *)0xfeedull);
	C("%p", (void *)UINTPTR_MAX);
	C("[%20p] [%-20p] [%3p]", (void *)&x, (void *)&x, (void *)&x);
	C("[%*p]", -24, (void *)0xabcull);
	/* NULL: C leaves it to the implementation (glibc "(nil)"); Quill prints 0. */
	if (expect("0", "%p", (void *)NULL))
		return -1;
	if (expect("[    0]", "[%5p]", (void *)NULL))
		return -1;
	return 0;
}

static int t_truncation(void)
{
	/* vcmp tries every size; these are long enough to be cut everywhere. */
	C("%s %d %x %s", "truncate me", -123456, 0xabcdefu, "end");
	C("[%40s]", "right");
	C("[%-40s]", "left");
	C("%lld%lld%lld", LLONG_MIN, LLONG_MIN, LLONG_MIN);
	/* size 0 with a NULL buffer: nothing written, the would-be length back */
	int n = quill_snprintf(NULL, 0, "%d and %s", 12345, "more");
	HT_CHECK(n == 14, "size 0 returned %d, want 14", n);
	char one = 'x';
	n = quill_snprintf(&one, 1, "abc");
	HT_CHECK(n == 3 && one == 0, "size 1 returned %d with byte %#x", n, one);
	char two[2] = {'x', 'x'};
	n = quill_snprintf(two, 2, "%s", "abc");
	HT_CHECK(n == 3 && two[0] == 'a' && two[1] == 0, "size 2 returned %d \"%s\"", n, two);
	return 0;
}

static int t_long_output(void)
{
	C("[%1000d]", 7);
	C("[%-1000d]", -7);
	C("[%.600d]", 42);
	C("[%2000s]", "x");
	C("[%*s]", 3000, "wide");
	static char big[3000];
	memset(big, 'q', sizeof(big) - 1);
	C("%s", big);
	C("%s%s", big + 1000, big + 2500);
	return 0;
}

static int t_many_arguments(void)
{
	/* More than the six register arguments: the tail comes from the stack. */
	C("%d %u %x %s %c %ld %lld %zu %p %hhd %hd %jd %s %d %d %d", -1, 2u, 3u, "four", '5', 6l,
	  7ll, (size_t)8, (void *)9, (signed char)10, (short)11, (intmax_t)12, "thirteen", 14, 15, 16);
	C("%*.*d|%-*.*s|%*c", 7, 3, -9, 8, 2, "strings", 3, 'c');
	return 0;
}

static int t_quill_specific(void)
{
	/* Unknown conversions print as written, so the mistake shows. */
	const char *volatile f1 = "%y", *volatile f2 = "a%wb", *volatile f3 = "abc%";
	if (expect("%y", f1) || expect("a%wb", f2))
		return -1;
	/* A lone '%' at the end stops the output there. */
	if (expect("abc", f3))
		return -1;
	/* quill_snprintf is the same formatter as quill_vsnprintf. */
	char b[32];
	int n = quill_snprintf(b, sizeof(b), "%s-%d", "x", 5);
	HT_CHECK(n == 3 && !strcmp(b, "x-5"), "quill_snprintf gave %d \"%s\"", n, b);
	return 0;
}

/*
 * Random formats from the grammar (flags, width, precision, length,
 * conversion), only the combinations C defines, with values that sit on the
 * edges. Each one goes through vcmp at every buffer size.
 */
static int t_random_vs_libc(void)
{
	static const long long edges[] = {0, 1, -1, 2, 7, 8, 9, 10, 15, 16, 99, 100, 127, 128, 255,
					  256, 32767, 32768, 65535, 65536, INT_MAX, INT_MIN,
					  UINT_MAX, LLONG_MAX, LLONG_MIN, 0x123456789abcdefll};
	static const char *const strs[] = {"", "a", "hello", "with space", "0123456789abcdef",
					   "\x7f\x80\xfe"};
	static const char *const lens[] = {"", "hh", "h", "l", "ll", "z", "t", "j"};
	static const char convs[] = "diuxXoscp";
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (int iter = 0; iter < 6000; iter++) {
		char fmt[64];
		size_t k = 0;
		char conv = convs[ht_rand(&rng) % (sizeof(convs) - 1)];
		bool is_int = strchr("diuxXo", conv) != NULL;
		bool is_signed = conv == 'd' || conv == 'i';
		fmt[k++] = '<';
		fmt[k++] = '%';
		uint64_t r = ht_rand(&rng);
		if (r & 1)
			fmt[k++] = '-';
		if ((r & 2) && (is_int))
			fmt[k++] = '0';
		if ((r & 4) && is_signed)
			fmt[k++] = '+';
		if ((r & 8) && is_signed)
			fmt[k++] = ' ';
		if ((r & 16) && strchr("xXo", conv))
			fmt[k++] = '#';
		int wmode = (int)(r >> 8) % 3, pmode = (int)(r >> 12) % 4;
		int w = (int)((r >> 16) % 30), p = (int)((r >> 24) % 30) - 3;
		if (wmode == 1 && w > 0)
			k += (size_t)sprintf(fmt + k, "%d", w);
		if (wmode == 2) {
			fmt[k++] = '*';
			w -= 15;
		}
		if (conv == 'c' || conv == 'p')
			pmode = 0; /* a precision there is undefined */
		if (pmode == 1)
			fmt[k++] = '.';
		if (pmode == 2)
			k += (size_t)sprintf(fmt + k, ".%d", p < 0 ? 0 : p);
		if (pmode == 3) {
			fmt[k++] = '.';
			fmt[k++] = '*';
		}
		const char *len = is_int ? lens[(r >> 32) % 8] : "";
		k += (size_t)sprintf(fmt + k, "%s%c>", len, conv);
		fmt[k] = 0;
		bool sw = wmode == 2, sp = pmode == 3;
		long long v = (r >> 40) & 1 ? edges[(r >> 41) % (sizeof(edges) / sizeof(edges[0]))]
					     : (long long)ht_rand(&rng) >> ((r >> 48) % 64);
#define CALL(x)                                                                \
	do {                                                                   \
		int rc_;                                                       \
		if (sw && sp)                                                  \
			rc_ = cmpv(fmt, w, p, x);                              \
		else if (sw)                                                   \
			rc_ = cmpv(fmt, w, x);                                 \
		else if (sp)                                                   \
			rc_ = cmpv(fmt, p, x);                                 \
		else                                                           \
			rc_ = cmpv(fmt, x);                                    \
		if (rc_)                                                       \
			return -1;                                             \
	} while (0)
		if (conv == 's')
			CALL(strs[(r >> 52) % (sizeof(strs) / sizeof(strs[0]))]);
		else if (conv == 'c')
			CALL((int)(v & 0xff));
		else if (conv == 'p')
			CALL((void *)(uintptr_t)(v ? v : 1));
		else if (!strcmp(len, "ll"))
			CALL(v);
		else if (!strcmp(len, "l") || !strcmp(len, "z") || !strcmp(len, "t") || !strcmp(len, "j"))
			CALL((long)v); /* all of them are long on x86-64 */
		else
			CALL((int)v);
#undef CALL
	}
	return 0;
}

/*
 * "%.3s" with an array of exactly 3 chars and no NUL is valid C (C11
 * 7.21.6.1p8: the array needs a NUL only when shorter than the precision).
 * Run in a child: an overread is an ASan report there, a FAIL line here.
 */
static int t_s_precision_stays_in_array(void)
{
	char *s = malloc(3);
	memcpy(s, "abc", 3);
	char b[16];
	int n = quill_snprintf(b, sizeof(b), "[%.3s]", s);
	int m = quill_snprintf(b + 8, 8, "%.2s", s + 1);
	free(s);
	HT_CHECK(n == 5 && !memcmp(b, "[abc]", 6), "got %d \"%s\"", n, b);
	HT_CHECK(m == 2 && !strcmp(b + 8, "bc"), "got %d \"%s\"", m, b + 8);
	return 0;
}

int main(void)
{
	ht_run("printf_plain_text", t_plain_text);
	ht_run("printf_signed_decimal", t_signed_decimal);
	ht_run("printf_unsigned_bases", t_unsigned_bases);
	ht_run("printf_width_and_justify", t_width_and_justify);
	ht_run("printf_flags_plus_space", t_flags_plus_space);
	ht_run("printf_flag_alt", t_flag_alt);
	ht_run("printf_int_precision", t_int_precision);
	ht_run("printf_star_width_precision", t_star_width_precision);
	ht_run("printf_length_hh_h", t_length_hh_h);
	ht_run("printf_length_l_ll", t_length_l_ll);
	ht_run("printf_length_z_t_j", t_length_z_t_j);
	ht_run("printf_limits_padded", t_limits_padded);
	ht_run("printf_strings", t_strings);
	ht_run("printf_string_null", t_string_null);
	ht_run("printf_chars", t_chars);
	ht_run("printf_pointers", t_pointers);
	ht_run("printf_truncation", t_truncation);
	ht_run("printf_long_output", t_long_output);
	ht_run("printf_many_arguments", t_many_arguments);
	ht_run("printf_quill_specific", t_quill_specific);
	ht_run("printf_random_vs_libc", t_random_vs_libc);
	ht_run_isolated("printf_s_precision_stays_in_array", t_s_precision_stays_in_array);
	return ht_exit_status();
}
