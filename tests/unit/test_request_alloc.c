/*  test_request_alloc — allocation failures in the request side of the
    OpenAI API: openai_request_parse, openai_responses_parse,
    openai_images_parse, openai_request_write, prompt_lower and
    prompt_retry_note. SQLite-style sweep: the N-th allocation (and, in a
    second pass, every later one) fails, for N = 1, 2, … until a run sees no
    failure. Each failing run must end in 500 internal_error (or, for write,
    -1 with the buffer as it was) and leave nothing behind (LSan in the
    sanitizer build). Linked with -Wl,--wrap like test_alloc (CMakeLists.txt,
    test_*alloc*): what jansson allocates inside itself is untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/openai.h"
#include "protocol/prompt.h"
#include "tests/support/fail_alloc.h"

#define T_SWEEP_MAX 2000

typedef int (*parse_fn)(const char *, size_t, const openai_limits_t *, openai_request_t **,
                        openai_error_t *);

static const char s_chat[] =
    "{\"model\":\"m\",\"stop\":[\"END\",\"##\"],\"max_tokens\":5,\"temperature\":1,"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
    "\"d\",\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":{\"type\":\"function\","
    "\"function\":{\"name\":\"get_weather\"}},\"response_format\":{\"type\":\"json_schema\","
    "\"json_schema\":{\"name\":\"o\",\"schema\":{\"type\":\"object\"}}},\"messages\":["
    "{\"role\":\"system\",\"content\":\"s\"},"
    "{\"role\":\"user\",\"name\":\"Al\",\"content\":[{\"type\":\"text\",\"text\":\"q\"},"
    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.test/a.png\"}}]},"
    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":"
    "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"21\"},"
    "{\"role\":\"assistant\",\"function_call\":{\"name\":\"get_weather\",\"arguments\":\"{}\"}},"
    "{\"role\":\"function\",\"name\":\"get_weather\",\"content\":\"22\"}]}";

static const char s_responses[] =
    "{\"model\":\"m\",\"instructions\":\"i\",\"top_p\":1,\"input\":["
    "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"a\"},"
    "{\"type\":\"input_image\",\"image_url\":\"https://x.test/b.png\"}]},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"b\"}]},"
    "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},"
    "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":[{\"type\":"
    "\"input_text\",\"text\":\"r\"}]}],"
    "\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"parameters\":{}}],"
    "\"text\":{\"format\":{\"type\":\"json_object\"}}}";

static const char s_images[] =
    "{\"model\":\"m\",\"prompt\":\"a fox\",\"size\":\"1024x1024\",\"quality\":\"hd\"}";

/*  Returns how many allocations the successful run made. */
static long s_sweep_parse(parse_fn fn, const char *body, bool rest)
{
    for (long n = 1;; n++) {
        assert_true(n < T_SWEEP_MAX);
        openai_request_t *req = NULL;
        openai_error_t err;
        memset(&err, 0, sizeof err);
        fail_alloc_arm(n, rest);
        int rc = fn(body, strlen(body), NULL, &req, &err);
        long failed = fail_alloc_disarm();
        if (failed == 0) {
            assert_int_equal(rc, 0);
            openai_request_destroy(&req);
            return n - 1;
        }
        if (rc == 0) {
            /* a failure the parser could absorb: none expected */
            fail_msg("allocation %ld failed but the parse succeeded", n);
        }
        assert_null(req);
        assert_int_equal(err.status, 500);
        assert_string_equal(err.code, "internal_error");
    }
}

static void test_parse_sweeps(void **state)
{
    (void)state;
    for (int rest = 0; rest <= 1; rest++) {
        /* the wrap is in place: each body costs our code many allocations */
        assert_true(s_sweep_parse(openai_request_parse, s_chat, rest) > 30);
        assert_true(s_sweep_parse(openai_responses_parse, s_responses, rest) > 15);
        assert_true(s_sweep_parse(openai_images_parse, s_images, rest) > 3);
    }
}

static openai_request_t *s_parse(parse_fn fn, const char *body)
{
    openai_request_t *req = NULL;
    assert_int_equal(fn(body, strlen(body), NULL, &req, NULL), 0);
    return req;
}

static void test_lower_sweeps(void **state)
{
    (void)state;
    const char *bodies[] = {s_chat, s_responses};
    parse_fn fns[] = {openai_request_parse, openai_responses_parse};
    for (int rest = 0; rest <= 1; rest++)
        for (size_t b = 0; b < 2; b++)
            for (long n = 1;; n++) {
                assert_true(n < T_SWEEP_MAX);
                openai_request_t *req = s_parse(fns[b], bodies[b]);
                openai_error_t err;
                fail_alloc_arm(n, rest);
                int rc = prompt_lower(req, &err);
                if (rc == 0)
                    rc = prompt_retry_note(req, "bad", "not JSON", &err);
                long failed = fail_alloc_disarm();
                if (failed == 0) {
                    assert_int_equal(rc, 0);
                    openai_request_destroy(&req);
                    break;
                }
                assert_int_equal(rc, -1);
                assert_int_equal(err.status, 500);
                openai_request_destroy(&req); /* a partly lowered request frees */
            }
}

static void test_write_sweep(void **state)
{
    (void)state;
    openai_request_t *req = s_parse(openai_request_parse, s_chat);
    for (long n = 1;; n++) {
        assert_true(n < T_SWEEP_MAX);
        abuf_t out = ABUF_INIT;
        assert_int_equal(abuf_puts(&out, "head"), 0);
        fail_alloc_arm(n, false);
        int rc = openai_request_write(req, &out);
        long failed = fail_alloc_disarm();
        if (failed == 0) {
            assert_int_equal(rc, 0);
            abuf_free(&out);
            break;
        }
        assert_int_equal(rc, -1);
        assert_int_equal(out.len, 4);
        assert_string_equal(out.data, "head");
        abuf_free(&out);
    }
    openai_request_destroy(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_sweeps),
        cmocka_unit_test(test_lower_sweeps),
        cmocka_unit_test(test_write_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
