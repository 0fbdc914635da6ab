/*  answer: protocol/answer fed by hand for the three APIs (chat, Responses,
    images), streamed and whole — stop and max_tokens cuts (ANSWER_CUT and the
    finish), the one retry of a structured answer (ANSWER_RETRY, answer_retry,
    then a valid answer; twice invalid: a 502 body, or an SSE error once the
    stream started), a required tool call that never comes (its text), an
    images answer without an image (502), search citations appended to text
    answers only, and a render that does not fit out (ANSWER_FAIL, out left
    as it was). The output is read back as clients read it: JSON bodies and
    SSE events parsed with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "protocol/abuf.h"
#include "protocol/answer.h"
#include "protocol/openai.h"

#define T_CITATION "{\"url\":\"https://example.test/a\",\"title\":\"A\"}"
#define T_SOURCES "\n\nSources:\n1. [A](https://example.test/a)\n"
#define T_CALL "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]}"
#define T_TOOLS                                                                                    \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{"    \
    "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]"
#define T_SCHEMA                                                                                   \
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]" \
    ","                                                                                            \
    "\"additionalProperties\":false}"

/* ---- requests and answers ------------------------------------------------ */

/*  A request of api from the body's JSON fields after model (and messages
    or input / prompt). */
static openai_request_t *t_req(answer_api_t api, const char *fields)
{
    char body[4096];
    openai_request_t *req = NULL;
    openai_error_t err;
    const char *sep = fields && *fields ? "," : "";
    int rc;
    switch (api) {
    case ANSWER_RESPONSES:
        snprintf(body, sizeof body, "{\"model\":\"m\",\"input\":\"hi\"%s%s}", sep, fields);
        rc = openai_responses_parse(body, strlen(body), NULL, &req, &err);
        break;
    case ANSWER_IMAGES:
        snprintf(body, sizeof body, "{\"model\":\"img\",\"prompt\":\"a cat\"%s%s}", sep, fields);
        rc = openai_images_parse(body, strlen(body), NULL, &req, &err);
        break;
    default:
        snprintf(body, sizeof body,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]%s%s}", sep,
                 fields);
        rc = openai_request_parse(body, strlen(body), NULL, &req, &err);
        break;
    }
    if (rc < 0)
        fail_msg("%s: %s (%s)", body, err.message, err.param);
    return req;
}

static answer_t *t_answer(answer_api_t api, const openai_request_t *req)
{
    answer_meta_t meta = {
        api, api == ANSWER_RESPONSES ? "resp_T" : "chatcmpl-T", 1700000000, "m", NULL, 0};
    answer_t *a = answer_new(&meta, req);
    assert_non_null(a);
    return a;
}

static int t_feed(answer_t *a, abuf_t *out, delta_kind_t kind, const char *text)
{
    return answer_delta(a, out, kind, text, strlen(text));
}

static int t_end(answer_t *a, abuf_t *out, const char *finish, char *err, size_t errlen)
{
    usage_t usage = {11, 5};
    return answer_end(a, out, finish, &usage, err, errlen);
}

static json_t *t_json(const abuf_t *out)
{
    json_error_t e;
    json_t *v = json_loadb(out->data ? out->data : "", out->len, 0, &e);
    if (!v)
        fail_msg("not JSON (%s): %.*s", e.text, (int)out->len, out->data ? out->data : "");
    return v;
}

/*  The SSE events of out: an array of the data values (JSON; "[DONE]" as a
    string); each event must be a data line (after an optional event line)
    and a blank line. */
static json_t *t_events(const abuf_t *out)
{
    json_t *arr = json_array();
    const char *p = out->data ? out->data : "", *end = p + out->len;
    while (p < end) {
        const char *stop = strstr(p, "\n\n");
        if (!stop)
            fail_msg("an event without its blank line: %s", p);
        const char *data = strstr(p, "data: ");
        assert_true(data && data < stop);
        data += 6;
        if ((size_t)(stop - data) == 6 && strncmp(data, "[DONE]", 6) == 0) {
            json_array_append_new(arr, json_string("[DONE]"));
        } else {
            json_error_t e;
            json_t *v = json_loadb(data, (size_t)(stop - data), 0, &e);
            if (!v)
                fail_msg("event data is not JSON (%s): %.*s", e.text, (int)(stop - data), data);
            json_array_append_new(arr, v);
        }
        p = stop + 2;
    }
    return arr;
}

static const char *t_str(json_t *v, const char *path)
{
    json_t *cur = v;
    char key[64];
    for (const char *p = path; cur && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        cur =
            json_is_array(cur) ? json_array_get(cur, (size_t)atoi(key)) : json_object_get(cur, key);
        p += n + (p[n] == '.');
    }
    return json_string_value(cur);
}

static json_t *t_get(json_t *v, const char *path)
{
    json_t *cur = v;
    char key[64];
    for (const char *p = path; cur && *p;) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        cur =
            json_is_array(cur) ? json_array_get(cur, (size_t)atoi(key)) : json_object_get(cur, key);
        p += n + (p[n] == '.');
    }
    return cur;
}

/*  A chat stream read back: the joined content, the finish of the last
    choice chunk, how many [DONE], the role of the first chunk. */
typedef struct {
    char content[1024];
    char finish[32];
    char role[32];
    int dones;
    int errors;
    char error_code[64];
    bool usage;
    char calls[1024]; /* name(arguments) joined */
} t_chat_t;

static void t_chat_read(const abuf_t *out, t_chat_t *r)
{
    memset(r, 0, sizeof *r);
    json_t *evs = t_events(out);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        if (json_is_string(ev)) {
            r->dones++;
            continue;
        }
        assert_int_equal(r->dones, 0); /* nothing after [DONE] */
        if (json_object_get(ev, "error")) {
            r->errors++;
            snprintf(r->error_code, sizeof r->error_code, "%s", t_str(ev, "error.code"));
            continue;
        }
        if (json_object_get(ev, "usage") && !json_is_null(json_object_get(ev, "usage")))
            r->usage = true;
        json_t *c0 = t_get(ev, "choices.0");
        if (!c0)
            continue;
        assert_true(json_is_null(json_object_get(c0, "logprobs")));
        if (i == 0 && t_str(c0, "delta.role"))
            snprintf(r->role, sizeof r->role, "%s", t_str(c0, "delta.role"));
        const char *s = t_str(c0, "delta.content");
        if (s)
            strncat(r->content, s, sizeof r->content - strlen(r->content) - 1);
        json_t *calls = t_get(c0, "delta.tool_calls");
        size_t j;
        json_t *call;
        json_array_foreach(calls, j, call)
        {
            const char *name = t_str(call, "function.name"),
                       *args = t_str(call, "function.arguments");
            if (name && *name)
                strncat(r->calls, name, sizeof r->calls - strlen(r->calls) - 1);
            if (args)
                strncat(r->calls, args, sizeof r->calls - strlen(r->calls) - 1);
        }
        const char *f = t_str(c0, "finish_reason");
        if (f)
            snprintf(r->finish, sizeof r->finish, "%s", f);
    }
    json_decref(evs);
}

/*  The types of a Responses stream's events, space-separated, and the
    joined output_text deltas. */
static void t_resp_read(const abuf_t *out, char *types, size_t tlen, char *text, size_t xlen,
                        json_t **last)
{
    types[0] = text[0] = '\0';
    json_t *evs = t_events(out);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        assert_true(json_is_object(ev));
        assert_int_equal(json_integer_value(json_object_get(ev, "sequence_number")), (json_int_t)i);
        strncat(types, t_str(ev, "type"), tlen - strlen(types) - 1);
        strncat(types, " ", tlen - strlen(types) - 1);
        if (strcmp(t_str(ev, "type"), "response.output_text.delta") == 0)
            strncat(text, t_str(ev, "delta"), xlen - strlen(text) - 1);
    }
    if (last)
        *last = json_incref(json_array_get(evs, json_array_size(evs) - 1));
    json_decref(evs);
}

/* ---- stop and max_tokens --------------------------------------------------- */

/*  Chat, whole: the match split across two deltas cuts; nothing is written
    before the end; the body has the text before the match, finish stop,
    logprobs and refusal null. */
static void test_stop_chat_whole(void **state)
{
    (void)state;
    openai_request_t *req = t_req(ANSWER_CHAT, "\"stop\":[\"END\",\"STOP\"],\"logprobs\":true");
    answer_t *a = t_answer(ANSWER_CHAT, req);
    abuf_t out = ABUF_INIT;
    assert_false(answer_streaming(a));
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "abcST"), ANSWER_MORE);
    assert_int_equal(out.len, 0);
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "OP and more"), ANSWER_CUT);
    assert_int_equal(out.len, 0);
    /* after the cut the HTTP layer aborts the upstream and ends with no usage */
    assert_int_equal(answer_end(a, &out, NULL, NULL, NULL, 0), ANSWER_DONE);
    assert_true(answer_finished(a));
    assert_false(answer_started(a));
    assert_int_equal(answer_status(a), 200);
    json_t *b = t_json(&out);
    assert_string_equal(t_str(b, "choices.0.message.content"), "abc");
    assert_string_equal(t_str(b, "choices.0.finish_reason"), "stop");
    assert_true(json_is_null(t_get(b, "choices.0.logprobs")));
    assert_true(json_is_null(t_get(b, "choices.0.message.refusal")));
    assert_string_equal(t_str(b, "id"), "chatcmpl-T");
    json_decref(b);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  Chat, streamed: text before a possible match goes at once (role first),
    the partial match waits, the cut ends the stream with finish stop,
    the usage chunk (asked) and [DONE]. */
static void test_stop_chat_stream(void **state)
{
    (void)state;
    openai_request_t *req =
        t_req(ANSWER_CHAT,
              "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"stop\":\"STOP\"");
    answer_t *a = t_answer(ANSWER_CHAT, req);
    abuf_t out = ABUF_INIT;
    assert_true(answer_streaming(a));
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "abcST"), ANSWER_MORE);
    assert_true(answer_started(a));
    t_chat_t r;
    t_chat_read(&out, &r);
    assert_string_equal(r.content, "abc");
    assert_string_equal(r.role, "assistant");
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "OPxyz"), ANSWER_CUT);
    assert_int_equal(answer_end(a, &out, NULL, NULL, NULL, 0), ANSWER_DONE);
    t_chat_read(&out, &r);
    assert_string_equal(r.content, "abc");
    assert_string_equal(r.finish, "stop");
    assert_int_equal(r.dones, 1);
    assert_true(r.usage);
    assert_null(strstr(out.data, "xyz"));
    assert_true(answer_finished(a));
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  max_tokens: chat whole and streamed → "length" with the text cut at
    4 ASCII characters a token; Responses max_output_tokens → incomplete. */
static void test_max_tokens(void **state)
{
    (void)state;
    for (int stream = 0; stream < 2; stream++) {
        openai_request_t *req =
            t_req(ANSWER_CHAT, stream ? "\"max_tokens\":2,\"stream\":true" : "\"max_tokens\":2");
        answer_t *a = t_answer(ANSWER_CHAT, req);
        abuf_t out = ABUF_INIT;
        assert_int_equal(t_feed(a, &out, DELTA_REASONING, "not counted at all, however long"),
                         ANSWER_MORE);
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, "Hello"), ANSWER_MORE);
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, " from the fake"), ANSWER_CUT);
        assert_int_equal(answer_end(a, &out, NULL, NULL, NULL, 0), ANSWER_DONE);
        if (stream) {
            t_chat_t r;
            t_chat_read(&out, &r);
            assert_string_equal(r.content, "Hello fr");
            assert_string_equal(r.finish, "length");
        } else {
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "choices.0.message.content"), "Hello fr");
            assert_string_equal(t_str(b, "choices.0.message.reasoning_content"),
                                "not counted at all, however long");
            assert_string_equal(t_str(b, "choices.0.finish_reason"), "length");
            json_decref(b);
        }
        abuf_free(&out);
        answer_destroy(&a);
        openai_request_destroy(&req);
    }
    openai_request_t *req = t_req(ANSWER_RESPONSES, "\"max_output_tokens\":2,\"stream\":true");
    answer_t *a = t_answer(ANSWER_RESPONSES, req);
    abuf_t out = ABUF_INIT;
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "Hello from"), ANSWER_CUT);
    assert_int_equal(answer_end(a, &out, NULL, NULL, NULL, 0), ANSWER_DONE);
    char types[2048], text[256];
    json_t *last;
    t_resp_read(&out, types, sizeof types, text, sizeof text, &last);
    assert_string_equal(text, "Hello fr");
    assert_string_equal(t_str(last, "type"), "response.incomplete");
    assert_string_equal(t_str(last, "response.incomplete_details.reason"), "max_output_tokens");
    assert_non_null(strstr(types, "response.created "));
    json_decref(last);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  The upstream's own finish_reason is kept unless the shaper cut or found
    calls. */
static void test_upstream_finish(void **state)
{
    (void)state;
    openai_request_t *req = t_req(ANSWER_CHAT, "");
    answer_t *a = t_answer(ANSWER_CHAT, req);
    abuf_t out = ABUF_INIT;
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "partial"), ANSWER_MORE);
    assert_int_equal(t_end(a, &out, "content_filter", NULL, 0), ANSWER_DONE);
    json_t *b = t_json(&out);
    assert_string_equal(t_str(b, "choices.0.finish_reason"), "content_filter");
    assert_int_equal(json_integer_value(t_get(b, "usage.prompt_tokens")), 11);
    assert_int_equal(json_integer_value(t_get(b, "usage.completion_tokens")), 5);
    json_decref(b);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/* ---- the retry of a structured answer -------------------------------------- */

/*  Invalid, then valid on the retry: for chat whole, chat streamed and the
    Responses API streamed. Nothing of the failed answer reaches out; the
    error says what failed; answer_retry_text is the failed answer; the
    client gets the valid JSON. */
static void test_retry_then_valid(void **state)
{
    (void)state;
    static const struct {
        answer_api_t api;
        const char *fields;
        const char *bad, *good, *why;
    } cases[] = {
        {ANSWER_CHAT, "\"response_format\":{\"type\":\"json_object\"}", "nope", "{\"a\": 1}",
         "not valid JSON"},
        {ANSWER_CHAT,
         "\"stream\":true,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
         "\"c\",\"strict\":true,\"schema\":" T_SCHEMA "}}",
         "{\"town\": \"Rome\"}", "{\"city\": \"Rome\"}", "does not match the schema"},
        {ANSWER_RESPONSES,
         "\"stream\":true,\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"c\",\"strict\":"
         "true,\"schema\":" T_SCHEMA "}}",
         "Rome!", "{\"city\": \"Rome\"}", "not valid JSON"},
        {ANSWER_CHAT, "\"tool_choice\":\"required\"," T_TOOLS, "It is sunny.", T_CALL,
         "tool call was required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = t_req(cases[i].api, cases[i].fields);
        answer_t *a = t_answer(cases[i].api, req);
        abuf_t out = ABUF_INIT;
        char err[320] = "x";
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, cases[i].bad), ANSWER_MORE);
        assert_int_equal(out.len, 0);
        assert_int_equal(t_end(a, &out, "stop", err, sizeof err), ANSWER_RETRY);
        assert_int_equal(out.len, 0);
        assert_false(answer_started(a));
        assert_false(answer_finished(a));
        if (!strstr(err, cases[i].why))
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, cases[i].why);
        assert_string_equal(answer_retry_text(a), cases[i].bad);
        assert_int_equal(answer_retry(a, req), 0);
        assert_int_equal(answer_retry(a, req), -1); /* once per answer */
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, cases[i].good), ANSWER_MORE);
        assert_int_equal(t_end(a, &out, "stop", err, sizeof err), ANSWER_DONE);
        assert_true(answer_finished(a));
        assert_int_equal(answer_status(a), 200);
        assert_null(strstr(out.data, cases[i].bad));
        if (cases[i].api == ANSWER_RESPONSES) {
            char types[4096], text[256];
            json_t *last;
            t_resp_read(&out, types, sizeof types, text, sizeof text, &last);
            assert_string_equal(text, cases[i].good);
            assert_string_equal(t_str(last, "type"), "response.completed");
            json_decref(last);
        } else if (answer_streaming(a)) {
            t_chat_t r;
            t_chat_read(&out, &r);
            assert_string_equal(r.content, cases[i].good);
            assert_string_equal(r.finish, "stop");
            assert_string_equal(r.role, "assistant");
            assert_int_equal(r.dones, 1);
        } else {
            json_t *b = t_json(&out);
            if (strstr(cases[i].fields, "tool_choice")) {
                assert_string_equal(t_str(b, "choices.0.finish_reason"), "tool_calls");
                assert_string_equal(t_str(b, "choices.0.message.tool_calls.0.function.name"),
                                    "get_weather");
            } else {
                json_t *want = json_loads(cases[i].good, 0, NULL);
                json_t *got = json_loads(t_str(b, "choices.0.message.content"), 0, NULL);
                assert_true(json_equal(want, got));
                json_decref(want);
                json_decref(got);
            }
            json_decref(b);
        }
        abuf_free(&out);
        answer_destroy(&a);
        openai_request_destroy(&req);
    }
}

/*  Invalid twice: a whole body (or a stream that sent nothing yet) is a 502
    invalid_model_output body; a stream that started (reasoning went out)
    ends with an error event and [DONE] (Responses: error, response.failed).
    A required tool call that never comes ends as the model's text. */
static void test_invalid_twice(void **state)
{
    (void)state;
    static const struct {
        answer_api_t api;
        const char *fields;
        bool reasoning; /* sent first: the stream starts */
    } cases[] = {
        {ANSWER_CHAT, "\"response_format\":{\"type\":\"json_object\"}", false},
        {ANSWER_CHAT, "\"stream\":true,\"response_format\":{\"type\":\"json_object\"}", false},
        {ANSWER_CHAT, "\"stream\":true,\"response_format\":{\"type\":\"json_object\"}", true},
        {ANSWER_RESPONSES, "\"text\":{\"format\":{\"type\":\"json_object\"}}", false},
        {ANSWER_RESPONSES, "\"stream\":true,\"text\":{\"format\":{\"type\":\"json_object\"}}",
         true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = t_req(cases[i].api, cases[i].fields);
        answer_t *a = t_answer(cases[i].api, req);
        abuf_t out = ABUF_INIT;
        char err[320];
        if (cases[i].reasoning) {
            assert_int_equal(t_feed(a, &out, DELTA_REASONING, "Let me think."), ANSWER_MORE);
            assert_true(answer_started(a));
        }
        size_t sent = out.len;
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, "nope"), ANSWER_MORE);
        assert_int_equal(t_end(a, &out, "stop", err, sizeof err), ANSWER_RETRY);
        assert_int_equal(out.len, sent);
        assert_int_equal(answer_retry(a, req), 0);
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, "still nope"), ANSWER_MORE);
        assert_int_equal(t_end(a, &out, "stop", err, sizeof err), ANSWER_DONE);
        assert_true(answer_finished(a));
        assert_null(strstr(out.data, "nope"));
        if (!answer_started(a)) {
            assert_int_equal(answer_status(a), 502);
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "error.code"), "invalid_model_output");
            assert_string_equal(t_str(b, "error.param"), "response_format");
            assert_non_null(strstr(t_str(b, "error.message"), "not valid JSON"));
            json_decref(b);
        } else if (cases[i].api == ANSWER_CHAT) {
            t_chat_t r;
            t_chat_read(&out, &r);
            assert_int_equal(r.errors, 1);
            assert_string_equal(r.error_code, "invalid_model_output");
            assert_int_equal(r.dones, 1);
            assert_string_equal(r.content, "");
        } else {
            char types[4096], text[64];
            json_t *last;
            t_resp_read(&out, types, sizeof types, text, sizeof text, &last);
            assert_non_null(strstr(types, " error response.failed "));
            assert_string_equal(t_str(last, "response.error.code"), "invalid_model_output");
            json_decref(last);
        }
        abuf_free(&out);
        answer_destroy(&a);
        openai_request_destroy(&req);
    }

    /* a required call that never comes: the text, finish stop, 200 */
    openai_request_t *req =
        t_req(ANSWER_CHAT, "\"stream\":true,\"tool_choice\":\"required\"," T_TOOLS);
    answer_t *a = t_answer(ANSWER_CHAT, req);
    abuf_t out = ABUF_INIT;
    char err[320];
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "no call"), ANSWER_MORE);
    assert_int_equal(t_end(a, &out, "stop", err, sizeof err), ANSWER_RETRY);
    assert_int_equal(answer_retry(a, req), 0);
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "still no call"), ANSWER_MORE);
    assert_int_equal(t_end(a, &out, "stop", err, sizeof err), ANSWER_DONE);
    t_chat_t r;
    t_chat_read(&out, &r);
    assert_string_equal(r.content, "still no call");
    assert_string_equal(r.finish, "stop");
    assert_int_equal(r.errors, 0);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  An answer the upstream cut itself (finish length or content_filter) is
    not checked: returned as it is, with that reason, no retry — streamed
    and whole, JSON formats and required calls alike. */
static void test_upstream_cut_not_checked(void **state)
{
    (void)state;
    static const struct {
        answer_api_t api;
        const char *fields, *finish;
    } cases[] = {
        {ANSWER_CHAT, "\"response_format\":{\"type\":\"json_object\"}", "length"},
        {ANSWER_CHAT, "\"stream\":true,\"response_format\":{\"type\":\"json_object\"}",
         "content_filter"},
        {ANSWER_CHAT, "\"tool_choice\":\"required\"," T_TOOLS, "length"},
        {ANSWER_RESPONSES, "\"text\":{\"format\":{\"type\":\"json_object\"}}", "length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = t_req(cases[i].api, cases[i].fields);
        answer_t *a = t_answer(cases[i].api, req);
        abuf_t out = ABUF_INIT;
        char err[320];
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, "{\"a\": \"cut"), ANSWER_MORE);
        if (t_end(a, &out, cases[i].finish, err, sizeof err) != ANSWER_DONE)
            fail_msg("case %zu: not returned as it is", i);
        assert_int_equal(answer_status(a), 200);
        if (cases[i].api == ANSWER_RESPONSES) {
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "status"), "incomplete");
            assert_string_equal(t_str(b, "output.0.content.0.text"), "{\"a\": \"cut");
            json_decref(b);
        } else if (answer_streaming(a)) {
            t_chat_t r;
            t_chat_read(&out, &r);
            assert_string_equal(r.content, "{\"a\": \"cut");
            assert_string_equal(r.finish, cases[i].finish);
        } else {
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "choices.0.message.content"), "{\"a\": \"cut");
            assert_string_equal(t_str(b, "choices.0.finish_reason"), cases[i].finish);
            json_decref(b);
        }
        abuf_free(&out);
        answer_destroy(&a);
        openai_request_destroy(&req);
    }
}

/* ---- tool calls ------------------------------------------------------------ */

/*  tool_choice auto, streamed: prose goes at once, the call follows as
    delta.tool_calls pieces, finish tool_calls; whole: content and
    tool_calls in the message. */
static void test_tool_calls(void **state)
{
    (void)state;
    for (int stream = 0; stream < 2; stream++) {
        openai_request_t *req = t_req(ANSWER_CHAT, stream ? "\"stream\":true," T_TOOLS : T_TOOLS);
        answer_t *a = t_answer(ANSWER_CHAT, req);
        abuf_t out = ABUF_INIT;
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, "Let me see. "), ANSWER_MORE);
        assert_int_equal(out.len > 0, stream);
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, T_CALL), ANSWER_MORE);
        assert_int_equal(t_end(a, &out, "stop", NULL, 0), ANSWER_DONE);
        if (stream) {
            t_chat_t r;
            t_chat_read(&out, &r);
            assert_string_equal(r.content, "Let me see. ");
            assert_string_equal(r.calls, "get_weather{\"city\":\"Paris\"}");
            assert_string_equal(r.finish, "tool_calls");
        } else {
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "choices.0.message.content"), "Let me see. ");
            assert_string_equal(t_str(b, "choices.0.message.tool_calls.0.function.arguments"),
                                "{\"city\":\"Paris\"}");
            assert_string_equal(t_str(b, "choices.0.finish_reason"), "tool_calls");
            json_decref(b);
        }
        abuf_free(&out);
        answer_destroy(&a);
        openai_request_destroy(&req);
    }
}

/* ---- images ---------------------------------------------------------------- */

/*  An image: {created, data:[{url}]}, 200, never streamed. No image: 502
    upstream_error quoting what the model said instead. */
static void test_images(void **state)
{
    (void)state;
    openai_request_t *req = t_req(ANSWER_IMAGES, "\"size\":\"1024x1024\"");
    answer_t *a = t_answer(ANSWER_IMAGES, req);
    abuf_t out = ABUF_INIT;
    assert_false(answer_streaming(a));
    assert_int_equal(t_feed(a, &out, DELTA_IMAGE, "https://img.test/1.png"), ANSWER_MORE);
    assert_int_equal(t_feed(a, &out, DELTA_CITATION, T_CITATION), ANSWER_MORE);
    assert_int_equal(out.len, 0);
    assert_int_equal(t_end(a, &out, "stop", NULL, 0), ANSWER_DONE);
    assert_int_equal(answer_status(a), 200);
    json_t *b = t_json(&out);
    assert_int_equal(json_integer_value(json_object_get(b, "created")), 1700000000);
    assert_int_equal(json_array_size(json_object_get(b, "data")), 1);
    assert_string_equal(t_str(b, "data.0.url"), "https://img.test/1.png");
    json_decref(b);
    abuf_free(&out);
    answer_destroy(&a);

    a = t_answer(ANSWER_IMAGES, req);
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "I cannot draw that."), ANSWER_MORE);
    assert_int_equal(t_end(a, &out, "stop", NULL, 0), ANSWER_DONE);
    assert_int_equal(answer_status(a), 502);
    assert_false(answer_started(a));
    b = t_json(&out);
    assert_string_equal(t_str(b, "error.code"), "upstream_error");
    assert_non_null(strstr(t_str(b, "error.message"), "I cannot draw that."));
    json_decref(b);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/* ---- citations ------------------------------------------------------------- */

/*  Search citations end a text answer as a Sources list (chat whole and
    streamed, Responses); never a JSON answer or a tool-call answer. */
static void test_citations(void **state)
{
    (void)state;
    static const struct {
        answer_api_t api;
        const char *fields, *text;
        bool sources;
    } cases[] = {
        {ANSWER_CHAT, "", "News.", true},
        {ANSWER_CHAT, "\"stream\":true", "News.", true},
        {ANSWER_RESPONSES, "", "News.", true},
        {ANSWER_RESPONSES, "\"stream\":true", "News.", true},
        {ANSWER_CHAT, "\"response_format\":{\"type\":\"json_object\"}", "{\"a\":1}", false},
        {ANSWER_CHAT, "\"stream\":true,\"response_format\":{\"type\":\"json_object\"}", "{\"a\":1}",
         false},
        {ANSWER_RESPONSES, "\"text\":{\"format\":{\"type\":\"json_object\"}}", "{\"a\":1}", false},
        {ANSWER_CHAT, T_TOOLS, T_CALL, false},
        {ANSWER_CHAT, "\"stream\":true," T_TOOLS, T_CALL, false},
        {ANSWER_RESPONSES, "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\"}]", T_CALL,
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = t_req(cases[i].api, cases[i].fields);
        answer_t *a = t_answer(cases[i].api, req);
        abuf_t out = ABUF_INIT;
        assert_int_equal(t_feed(a, &out, DELTA_TEXT, cases[i].text), ANSWER_MORE);
        assert_int_equal(t_feed(a, &out, DELTA_CITATION, T_CITATION), ANSWER_MORE);
        assert_int_equal(t_end(a, &out, "stop", NULL, 0), ANSWER_DONE);
        bool has = strstr(out.data, "Sources:") != NULL;
        if (has != cases[i].sources)
            fail_msg("case %zu: Sources %s: %s", i, has ? "added" : "missing", out.data);
        if (cases[i].api == ANSWER_CHAT && !answer_streaming(a) && cases[i].sources) {
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "choices.0.message.content"), "News." T_SOURCES);
            json_decref(b);
        } else if (cases[i].api == ANSWER_CHAT && cases[i].sources) {
            t_chat_t r;
            t_chat_read(&out, &r);
            assert_string_equal(r.content, "News." T_SOURCES);
        } else if (cases[i].api == ANSWER_RESPONSES && !answer_streaming(a) && cases[i].sources) {
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "output.0.content.0.text"), "News." T_SOURCES);
            json_decref(b);
        }
        abuf_free(&out);
        answer_destroy(&a);
        openai_request_destroy(&req);
    }
}

/* ---- failures -------------------------------------------------------------- */

/*  A render that does not fit out's cap: ANSWER_FAIL and out exactly as it
    was (length and bytes), streamed deltas, whole bodies and the end alike. */
static void test_render_failure(void **state)
{
    (void)state;
    static const struct {
        answer_api_t api;
        const char *fields;
        bool at_end; /* whole: nothing renders before the end */
    } cases[] = {
        {ANSWER_CHAT, "\"stream\":true", false},
        {ANSWER_RESPONSES, "\"stream\":true", false},
        {ANSWER_CHAT, "", true},
        {ANSWER_RESPONSES, "", true},
        {ANSWER_IMAGES, "", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = t_req(cases[i].api, cases[i].fields);
        answer_t *a = t_answer(cases[i].api, req);
        abuf_t out = ABUF_INIT;
        assert_int_equal(abuf_puts(&out, "kept"), 0);
        out.max = 48; /* room for "kept" and a little, never a whole event or body */
        delta_kind_t kind = cases[i].api == ANSWER_IMAGES ? DELTA_IMAGE : DELTA_TEXT;
        int rc = t_feed(a, &out, kind, "https://img.test/a-long-enough-answer.png");
        if (!cases[i].at_end) {
            assert_int_equal(rc, ANSWER_FAIL);
        } else {
            assert_int_equal(rc, ANSWER_MORE);
            assert_int_equal(t_end(a, &out, "stop", NULL, 0), ANSWER_FAIL);
            assert_false(answer_finished(a));
        }
        assert_int_equal(out.len, 4);
        assert_memory_equal(out.data, "kept", 5);
        assert_false(answer_started(a)); /* nothing went out: a plain error can still answer */
        /* an error still fits as a whole body once out has room */
        out.max = 0;
        openai_error_t err;
        openai_error_set(&err, "internal_error", NULL, "the answer could not be rendered");
        if (answer_error(a, &out, &err) != 0)
            fail_msg("case %zu: answer_error failed (started %d)", i, answer_started(a));
        assert_true(answer_finished(a));
        if (!answer_started(a)) {
            assert_int_equal(answer_status(a), 500);
            json_t *b = t_json(&out);
            assert_string_equal(t_str(b, "error.code"), "internal_error");
            json_decref(b);
        }
        abuf_free(&out);
        answer_destroy(&a);
        openai_request_destroy(&req);
    }
}

/*  One call renders a piece that fits, then one that does not: the call's
    bytes all go, and so does the stream's start (the role chunk included),
    so a later answer starts afresh. */
static void test_render_failure_midway(void **state)
{
    (void)state;
    openai_request_t *req = t_req(ANSWER_CHAT, "\"stream\":true," T_TOOLS);
    answer_t *a = t_answer(ANSWER_CHAT, req);
    abuf_t out = ABUF_INIT;
    assert_int_equal(abuf_puts(&out, "kept"), 0);
    /* held from a call's start: nothing is sent yet */
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "{\"tool_calls\": [oops"), ANSWER_MORE);
    assert_int_equal(out.len, 4);
    assert_false(answer_started(a));
    /* at the end the held text is released (one chunk fits), the finish does not */
    out.max = 4 + 250;
    assert_int_equal(t_end(a, &out, "stop", NULL, 0), ANSWER_FAIL);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "kept", 5);
    assert_false(answer_started(a));
    out.max = 0;
    openai_error_t err;
    openai_error_set(&err, "internal_error", NULL, "the answer could not be rendered");
    assert_int_equal(answer_error(a, &out, &err), 0);
    assert_int_equal(answer_status(a), 500);
    json_t *b = t_json(&out);
    assert_string_equal(t_str(b, "error.code"), "internal_error");
    json_decref(b);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

/*  answer_error before the first byte is a whole body with the error's
    status (the HTTP layer answers it); after it, the stream's error event
    and [DONE]. Nothing is accepted after the end. */
static void test_error_before_and_after_start(void **state)
{
    (void)state;
    openai_request_t *req = t_req(ANSWER_CHAT, "\"stream\":true");
    openai_error_t err;
    openai_error_set(&err, "rate_limited", NULL, "slow down");
    answer_t *a = t_answer(ANSWER_CHAT, req);
    abuf_t out = ABUF_INIT;
    assert_int_equal(answer_error(a, &out, &err), 0);
    assert_false(answer_started(a));
    assert_int_equal(answer_status(a), err.status);
    json_t *b = t_json(&out);
    assert_string_equal(t_str(b, "error.message"), "slow down");
    json_decref(b);
    assert_int_equal(answer_error(a, &out, &err), -1);
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "late"), ANSWER_FAIL);
    abuf_free(&out);
    answer_destroy(&a);

    a = t_answer(ANSWER_CHAT, req);
    assert_int_equal(t_feed(a, &out, DELTA_TEXT, "Hello"), ANSWER_MORE);
    openai_error_set(&err, "upstream_error", NULL, "the tab went away");
    assert_int_equal(answer_error(a, &out, &err), 0);
    t_chat_t r;
    t_chat_read(&out, &r);
    assert_string_equal(r.content, "Hello");
    assert_int_equal(r.errors, 1);
    assert_string_equal(r.error_code, "upstream_error");
    assert_int_equal(r.dones, 1);
    abuf_free(&out);
    answer_destroy(&a);
    openai_request_destroy(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_chat_whole),
        cmocka_unit_test(test_stop_chat_stream),
        cmocka_unit_test(test_max_tokens),
        cmocka_unit_test(test_upstream_finish),
        cmocka_unit_test(test_retry_then_valid),
        cmocka_unit_test(test_invalid_twice),
        cmocka_unit_test(test_upstream_cut_not_checked),
        cmocka_unit_test(test_tool_calls),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_citations),
        cmocka_unit_test(test_render_failure),
        cmocka_unit_test(test_render_failure_midway),
        cmocka_unit_test(test_error_before_and_after_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
