/*  Unit tests of protocol/uuid7: layout, version and variant bits, the
    timestamp field, ordering across milliseconds, uniqueness, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "protocol/uuid7.h"

static int s_is_lower_canonical(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        int ok =
            dash ? s[i] == '-' : ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
        if (!ok)
            return 0;
    }
    return 1;
}

/*  The 48-bit millisecond field of a v7 string. */
static unsigned long long s_unix_ms(const char *u)
{
    char hex[13];
    memcpy(hex, u, 8);
    memcpy(hex + 8, u + 9, 4);
    hex[12] = '\0';
    return strtoull(hex, NULL, 16);
}

static int s_variant_ok(const char *u)
{
    return strchr("89ab", u[19]) != NULL;
}

static void test_uuid7_layout(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        char u[UUID_STR_LEN];
        memset(u, 'X', sizeof u);
        uuid7_generate(u);
        assert_true(s_is_lower_canonical(u));
        assert_int_equal(u[14], '7');
        assert_true(s_variant_ok(u));
        assert_true(uuid_is_valid(u));
    }
}

static void test_uuid7_timestamp(void **state)
{
    (void)state;
    static const struct {
        unsigned long long ms;
        const char *prefix;
    } cases[] = {
        {0, "00000000-0000-7"},
        {1, "00000000-0001-7"},
        {0x0123456789ABULL, "01234567-89ab-7"},
        {0xFFFFFFFFFFFFULL, "ffffffff-ffff-7"},
        {0x1FFFFFFFFFFFFULL, "ffffffff-ffff-7"}, /* only 48 bits are kept */
        {1700000000123ULL, "018bcfe5-687b-7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char u[UUID_STR_LEN];
        uuid7_generate_at(u, cases[i].ms);
        assert_memory_equal(u, cases[i].prefix, strlen(cases[i].prefix));
        assert_true(s_variant_ok(u));
    }
    /* uuid7_generate uses the wall clock */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long now =
        (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
    char u[UUID_STR_LEN];
    uuid7_generate(u);
    unsigned long long got = s_unix_ms(u);
    assert_true(got >= now && got < now + 5000);
}

static void test_uuid7_ordering(void **state)
{
    (void)state;
    unsigned long long base = 1754000000000ULL;
    for (unsigned long long ms = base; ms < base + 2000; ms++) {
        char a[UUID_STR_LEN], b[UUID_STR_LEN];
        uuid7_generate_at(a, ms);
        uuid7_generate_at(b, ms + 1);
        assert_true(strcmp(a, b) < 0);
        assert_int_equal(s_unix_ms(a), ms);
    }
    /* across a carry into the higher hex group */
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid7_generate_at(a, 0xFFFFFFFFULL);
    uuid7_generate_at(b, 0x100000000ULL);
    assert_true(strcmp(a, b) < 0);
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_unique(void **state)
{
    (void)state;
    enum { N = 2000 };
    char(*ids)[UUID_STR_LEN] = calloc(2 * N, UUID_STR_LEN);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        uuid7_generate_at(ids[i], 42); /* same millisecond: random bits differ */
        uuid4_generate(ids[N + i]);
    }
    qsort(ids, 2 * N, UUID_STR_LEN, s_cmp);
    for (int i = 1; i < 2 * N; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);
    free(ids);
}

static void test_uuid4(void **state)
{
    (void)state;
    int seen_variant[4] = {0};
    for (int i = 0; i < 400; i++) {
        char u[UUID_STR_LEN];
        uuid4_generate(u);
        assert_true(s_is_lower_canonical(u));
        assert_int_equal(u[14], '4');
        assert_true(s_variant_ok(u));
        seen_variant[strchr("89ab", u[19]) - "89ab"] = 1;
    }
    /* the two free variant bits are random */
    assert_true(seen_variant[0] && seen_variant[1] && seen_variant[2] && seen_variant[3]);
}

static void test_is_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int valid;
    } cases[] = {
        {"0198a0b1-2c3d-7e4f-8a5b-6c7d8e9f0a1b", 1},
        {"0198A0B1-2C3D-7E4F-8A5B-6C7D8E9F0A1B", 1},
        {"00000000-0000-0000-0000-000000000000", 1},
        {"f47ac10b-58cc-4372-a567-0e02b2c3d479", 1},
        {"", 0},
        {"0198a0b1-2c3d-7e4f-8a5b-6c7d8e9f0a1", 0},
        {"0198a0b1-2c3d-7e4f-8a5b-6c7d8e9f0a1b0", 0},
        {"0198a0b1-2c3d-7e4f-8a5b-6c7d8e9f0a1g", 0},
        {"0198a0b12c3d-7e4f-8a5b-6c7d8e9f0a1b-", 0},
        {"0198a0b1_2c3d_7e4f_8a5b_6c7d8e9f0a1b", 0},
        {"{0198a0b1-2c3d-7e4f-8a5b-6c7d8e9f0a1b}", 0},
        {" 0198a0b1-2c3d-7e4f-8a5b-6c7d8e9f0a1b", 0},
        {"0198a0b1-2c3d-7e4f-8a5b-6c7d8e9f0a1b ", 0},
        {"0198a0b12c3d7e4f8a5b6c7d8e9f0a1b", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (uuid_is_valid(cases[i].s) != cases[i].valid)
            fail_msg("case %zu \"%s\": want %d", i, cases[i].s, cases[i].valid);
    assert_int_equal(uuid_is_valid(NULL), 0);
    /* a short string is not read past its terminator (checked under ASan) */
    char *shortp = malloc(4);
    assert_non_null(shortp);
    memcpy(shortp, "019", 4);
    assert_int_equal(uuid_is_valid(shortp), 0);
    free(shortp);
}

/*  The timestamp a v7 id carries: what twins of one model are ordered by. */
static void test_time_ms(void **state)
{
    (void)state;
    static const unsigned long long times[] = {0, 1, 1767225600000ULL, 0xFFFFFFFFFFFFULL};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char id[UUID_STR_LEN];
        uuid7_generate_at(id, times[i]);
        assert_int_equal(uuid7_time_ms(id), (long long)times[i]);
    }
    char v4[UUID_STR_LEN];
    uuid4_generate(v4);
    assert_int_equal(uuid7_time_ms(v4), 0);
    assert_int_equal(uuid7_time_ms(NULL), 0);
    assert_int_equal(uuid7_time_ms("not-a-uuid"), 0);
    assert_int_equal(uuid7_time_ms("019B7A00-0000-7000-8000-000000000000"), 0x019B7A000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_ms),         cmocka_unit_test(test_uuid7_layout),
        cmocka_unit_test(test_uuid7_timestamp), cmocka_unit_test(test_uuid7_ordering),
        cmocka_unit_test(test_unique),          cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_is_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
