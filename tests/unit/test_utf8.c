/*  utf8: the one rule (RFC 3629 table 3-7), on the edges every copy of it
    used to disagree about. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/utf8.h"

static size_t s_dec(const char *s, uint32_t *cp)
{
    return utf8_decode((const unsigned char *)s, strlen(s), cp);
}

static void test_valid_sequences(void **state)
{
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(s_dec("A", &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(s_dec("\xC2\x80", &cp), 2);
    assert_int_equal(cp, 0x80);
    assert_int_equal(s_dec("\xE2\x82\xAC", &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(s_dec("\xF0\x9F\x98\x80", &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(s_dec("\xF4\x8F\xBF\xBF", &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
    assert_int_equal(s_dec("\xED\x9F\xBF", &cp), 3); /* U+D7FF, last before surrogates */
    assert_true(utf8_valid("h\xC3\xA9llo \xE2\x82\xAC", 10));
    assert_true(utf8_valid("a\0b", 3));
}

static void test_invalid_sequences(void **state)
{
    (void)state;
    const char *bad[] = {
        "\x80",             /* lone continuation */
        "\xC0\xAF",         /* overlong '/' */
        "\xC1\xBF",         /* overlong */
        "\xE0\x80\xAF",     /* overlong 3-byte */
        "\xED\xA0\x80",     /* surrogate U+D800 */
        "\xF0\x80\x80\xAF", /* overlong 4-byte */
        "\xF4\x90\x80\x80", /* past U+10FFFF */
        "\xF5\x80\x80\x80", /* lead byte past F4 */
        "\xFF",             /* never valid */
        "\xE2\x82",         /* truncated */
        "\xE2\x28\xA1",     /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(s_dec(bad[i], NULL), 0);
        assert_false(utf8_valid(bad[i], strlen(bad[i])));
    }
    /* truncated by the length given, not by the bytes present */
    assert_int_equal(utf8_decode((const unsigned char *)"\xE2\x82\xAC", 2, NULL), 0);
}

static void test_controls(void **state)
{
    (void)state;
    assert_true(utf8_is_control(0));
    assert_true(utf8_is_control('\n'));
    assert_true(utf8_is_control(0x7F));
    assert_true(utf8_is_control(0x85));
    assert_true(utf8_is_control(0x9F));
    assert_false(utf8_is_control(' '));
    assert_false(utf8_is_control(0xA0));
    assert_false(utf8_is_control(0x20AC));
}

/*  utf8_piece: the longest head within max that cuts no character. */
static void test_piece(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80"; /* a é 漢 😀: 1+2+3+4 bytes */
    size_t len = strlen(s);
    const struct {
        size_t max, want;
    } rows[] = {{0, 1}, {1, 1}, {2, 1}, {3, 3}, {5, 3}, {6, 6}, {9, 6}, {10, 10}, {99, 10}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (utf8_piece(s, len, rows[i].max) != rows[i].want)
            fail_msg("max %zu: %zu, want %zu", rows[i].max, utf8_piece(s, len, rows[i].max),
                     rows[i].want);
    /* a byte that starts nothing is a character of its own */
    assert_int_equal(utf8_piece("\xff\xfe\xc3\xa9", 4, 3), 2);
    assert_int_equal(utf8_piece("", 0, 4), 0);
    assert_int_equal(utf8_piece("\xe6\xbc\xa2", 3, 2), 1); /* max below the first character */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_sequences),
        cmocka_unit_test(test_invalid_sequences),
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_piece),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
