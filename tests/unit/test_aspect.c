/*  test_aspect — an OpenAI image size mapped to a model's aspect ratio. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "protocol/aspect.h"

static void test_maps_to_nearest(void **state)
{
    (void)state;
    const struct {
        const char *size, *ratios;
        int rc;
        const char *want;
    } rows[] = {
        {"1024x1024", "1:1,16:9,9:16", 1, "1:1"},
        {"1792x1024", "1:1,16:9,9:16", 1, "16:9"},
        {"1024x1792", "1:1,16:9,9:16", 1, "9:16"},
        {"1536x1024", "1:1,16:9,9:16", 1, "16:9"}, /* 3:2 is nearer 16:9 than 1:1 */
        {"1536x1024", NULL, 1, "3:2"},             /* the default list has 3:2 */
        {"1024x1536", "", 1, "2:3"},
        {"512x512", "1:1", 1, "1:1"},
        {"4000x1000", "1:1,4:3", 1, "4:3"},
        {"1000x4000", "1:1,4:3", 1,
         "1:1"}, /* 1:4 is as far from 1:1 as 4:1 from 1:1; 4:3 is wider */
        {"1024x1024", "bad,9:16,1:1", 1, "1:1"}, /* a bad entry is skipped */
        {"1024x1792", "bad,worse", 1, "9:16"},   /* none well-formed: the default list */
        {"auto", "1:1", 0, ""},
        {NULL, "1:1", 0, ""},
        {"", "1:1", -1, ""},
        {"1024", "1:1", -1, ""},
        {"1024x", "1:1", -1, ""},
        {"x1024", "1:1", -1, ""},
        {"0x1024", "1:1", -1, ""},
        {"1024x0", "1:1", -1, ""},
        {"99999x1", "1:1", -1, ""},
        {"1024X1024", "1:1", -1, ""},
        {"1024x1024 ", "1:1", -1, ""},
        {"-1x5", "1:1", -1, ""},
        {"16385x16385", "1:1", -1, ""},
        {"16384x1", "1:1,16:9", 1, "16:9"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[16] = "junk";
        int rc = aspect_for_size(rows[i].size, rows[i].ratios, out, sizeof out);
        if (rc != rows[i].rc || strcmp(out, rows[i].want) != 0)
            fail_msg("row %zu (%s in %s): rc %d out \"%s\", want %d \"%s\"", i,
                     rows[i].size ? rows[i].size : "NULL", rows[i].ratios ? rows[i].ratios : "NULL",
                     rc, out, rows[i].rc, rows[i].want);
    }
}

static void test_small_out(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(aspect_for_size("1792x1024", "16:9", out, sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(aspect_for_size("1024x1024", "1:1", out, sizeof out), 1);
    assert_string_equal(out, "1:1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maps_to_nearest),
        cmocka_unit_test(test_small_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
