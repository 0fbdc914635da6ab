/*  Unit tests: protocol/arena_sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/arena_sources.h"

typedef struct {
    const char *name;
    const char *args;
    int count;
    const char *expect; /* exact output, NULL: nothing appended */
} case_t;

static const case_t s_cases[] = {
    {"one object", "{\"url\":\"https://example.test/a\",\"title\":\"A\"}", 1,
     "\n\nSources:\n1. [A](https://example.test/a)\n"},
    {"two objects joined",
     "{\"url\":\"https://a.test/\",\"title\":\"A\"}{\"url\":\"http://b.test/x\"}", 2,
     "\n\nSources:\n1. [A](https://a.test/)\n2. [http://b.test/x](http://b.test/x)\n"},
    {"nested array",
     "{\"results\":[{\"url\":\"https://a.test/1\",\"title\":\"One\"},"
     "{\"url\":\"https://a.test/2\",\"title\":\"Two\"}]}",
     2, "\n\nSources:\n1. [One](https://a.test/1)\n2. [Two](https://a.test/2)\n"},
    {"duplicates once",
     "{\"url\":\"https://a.test/\"}{\"url\":\"https://a.test/\",\"title\":\"B\"}", 1,
     "\n\nSources:\n1. [https://a.test/](https://a.test/)\n"},
    {"brackets and parens escaped", "{\"url\":\"https://a.test/x_(y)\",\"title\":\"[x]\\ny\"}", 1,
     "\n\nSources:\n1. [(x) y](https://a.test/x_%28y%29)\n"},
    {"not http", "{\"url\":\"javascript:alert(1)\",\"title\":\"x\"}", 0, NULL},
    {"url with space", "{\"url\":\"https://a.test/a b\"}", 0, NULL},
    {"no url", "{\"query\":\"weather\"}", 0, NULL},
    {"garbage", "{{{[[[\"", 0, NULL},
    {"empty", "", 0, NULL},
    {"text around", "noise {\"url\":\"https://a.test/\",\"title\":\"T\"} trailing {", 1,
     "\n\nSources:\n1. [T](https://a.test/)\n"},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const case_t *c = &s_cases[i];
        abuf_t out = ABUF_INIT;
        abuf_puts(&out, "answer");
        int n = arena_sources_render(c->args, strlen(c->args), &out);
        if (n != c->count)
            fail_msg("%s: %d sources, expected %d", c->name, n, c->count);
        if (c->expect) {
            if (strcmp(out.data + 6, c->expect) != 0)
                fail_msg("%s: got [%s]", c->name, out.data + 6);
        } else {
            assert_string_equal(out.data, "answer");
        }
        abuf_free(&out);
    }
}

static void test_cap(void **state)
{
    (void)state;
    abuf_t args = ABUF_INIT, out = ABUF_INIT;
    for (int i = 0; i < ARENA_SOURCES_MAX + 10; i++)
        abuf_printf(&args, "{\"url\":\"https://a.test/%d\"}", i);
    assert_int_equal(arena_sources_render(args.data, args.len, &out), ARENA_SOURCES_MAX);
    abuf_free(&args);
    abuf_free(&out);
}

static void test_out_full_leaves_out_unchanged(void **state)
{
    (void)state;
    abuf_t out = ABUF_INIT;
    out.max = 16;
    abuf_puts(&out, "answer");
    const char *args = "{\"url\":\"https://example.test/long-enough\",\"title\":\"A\"}";
    assert_int_equal(arena_sources_render(args, strlen(args), &out), -1);
    assert_string_equal(out.data, "answer");
    abuf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_out_full_leaves_out_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
