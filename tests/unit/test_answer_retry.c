/*  test_answer_retry — protocol/answer's one retry of an answer that failed its
    check: nothing of the failed answer reaches the client, the second
    answer does; a second failure of a response format is a 502
    invalid_model_output, of a required tool call the model's text. Whole
    and streamed chat answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/answer.h"

static openai_request_t *s_parse(const char *src)
{
    char *body = strdup(src);
    assert_non_null(body);
    for (char *c = body; *c; c++)
        if (*c == '\'')
            *c = '"';
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(body, strlen(body), NULL, &req, &err) < 0)
        fail_msg("parse: %s (%s)", err.message, err.param);
    free(body);
    return req;
}

static answer_t *s_answer(const openai_request_t *req)
{
    const answer_meta_t meta = {ANSWER_CHAT, "chatcmpl-1", 1700000000, "m", NULL, 0};
    answer_t *a = answer_new(&meta, req);
    assert_non_null(a);
    return a;
}

static void s_text(answer_t *a, abuf_t *out, const char *text)
{
    assert_int_equal(answer_delta(a, out, DELTA_TEXT, text, strlen(text)), ANSWER_MORE);
}

static json_t *s_json(const abuf_t *out)
{
    json_error_t jerr;
    json_t *root = json_loadb(out->data ? out->data : "", out->len, 0, &jerr);
    if (!root)
        fail_msg("not JSON (%s): %s", jerr.text, out->data ? out->data : "");
    return root;
}

static const char *s_path(json_t *root, const char *a, const char *b)
{
    json_t *v = json_object_get(root, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

#define JSON_OBJECT_REQ                                                                            \
    "{'model':'m','response_format':{'type':'json_object'},"                                       \
    "'messages':[{'role':'user','content':'x'}]}"

/*  A response format: the first answer fails, nothing is sent; the retry's
    answer is the body. One retry only. */
static void test_retry_then_valid(void **state)
{
    (void)state;
    openai_request_t *req = s_parse(JSON_OBJECT_REQ);
    answer_t *a = s_answer(req);
    abuf_t out = ABUF_INIT;
    s_text(a, &out, "Sure! {\"a\":");
    char err[320];
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_RETRY);
    assert_non_null(strstr(err, "not valid JSON"));
    assert_int_equal(out.len, 0);
    assert_false(answer_started(a));
    assert_string_equal(answer_retry_text(a), "Sure! {\"a\":");
    assert_int_equal(answer_retry(a, req), 0);
    s_text(a, &out, "```json\n{\"a\": 1}\n```");
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_DONE);
    assert_int_equal(answer_status(a), 200);
    json_t *root = s_json(&out);
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    assert_string_equal(s_path(choice, "message", "content"), "{\"a\": 1}");
    assert_string_equal(s_path(choice, "finish_reason", NULL), "stop");
    json_decref(root);
    assert_int_equal(answer_retry(a, req), -1); /* once */
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  Failed twice: 502 invalid_model_output naming response_format. */
static void test_retry_fails_twice(void **state)
{
    (void)state;
    openai_request_t *req = s_parse(JSON_OBJECT_REQ);
    answer_t *a = s_answer(req);
    abuf_t out = ABUF_INIT;
    char err[320];
    s_text(a, &out, "no JSON here");
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_RETRY);
    assert_int_equal(answer_retry(a, req), 0);
    s_text(a, &out, "[1, 2]");
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_DONE);
    assert_int_equal(answer_status(a), 502);
    json_t *root = s_json(&out);
    assert_string_equal(s_path(root, "error", "code"), "invalid_model_output");
    assert_string_equal(s_path(root, "error", "param"), "response_format");
    assert_non_null(strstr(s_path(root, "error", "message"), "not an object"));
    json_decref(root);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  tool_choice required: no call twice → the second answer as text. */
static void test_required_call_never_came(void **state)
{
    (void)state;
    openai_request_t *req =
        s_parse("{'model':'m','tools':[{'type':'function','function':{'name':'get_weather'}}],"
                "'tool_choice':'required','messages':[{'role':'user','content':'x'}]}");
    answer_t *a = s_answer(req);
    abuf_t out = ABUF_INIT;
    char err[320];
    s_text(a, &out, "It is sunny.");
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_RETRY);
    assert_non_null(strstr(err, "tool call was required"));
    assert_int_equal(out.len, 0);
    assert_int_equal(answer_retry(a, req), 0);
    s_text(a, &out, "Still sunny.");
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_DONE);
    assert_int_equal(answer_status(a), 200);
    json_t *root = s_json(&out);
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    assert_string_equal(s_path(choice, "message", "content"), "Still sunny.");
    assert_string_equal(s_path(choice, "finish_reason", NULL), "stop");
    json_decref(root);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  Streamed: the failed answer sends no byte (the headers can wait), the
    retry's answer is the stream. */
static void test_retry_streamed(void **state)
{
    (void)state;
    openai_request_t *req =
        s_parse("{'model':'m','stream':true,'response_format':{'type':'json_object'},"
                "'messages':[{'role':'user','content':'x'}]}");
    answer_t *a = s_answer(req);
    assert_true(answer_streaming(a));
    abuf_t out = ABUF_INIT;
    char err[320];
    s_text(a, &out, "{\"a\": ");
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_RETRY);
    assert_int_equal(out.len, 0);
    assert_false(answer_started(a));
    assert_int_equal(answer_retry(a, req), 0);
    s_text(a, &out, "{\"a\": 2}");
    assert_int_equal(out.len, 0); /* held until checked */
    assert_int_equal(answer_end(a, &out, "stop", NULL, err, sizeof err), ANSWER_DONE);
    assert_true(answer_started(a));
    assert_non_null(strstr(out.data, "\"content\":\"{\\\"a\\\": 2}\""));
    assert_non_null(strstr(out.data, "data: [DONE]\n\n"));
    assert_null(strstr(out.data, "\"error\""));
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_valid),
        cmocka_unit_test(test_retry_fails_twice),
        cmocka_unit_test(test_required_call_never_came),
        cmocka_unit_test(test_retry_streamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
