/*  test_openai_render — the answers of issue #10 as clients read them:
    chat choices with logprobs/refusal null, tool calls streamed as
    delta.tool_calls pieces and reassembled the way openai-node's
    ChatCompletionStream does, whole bodies with message.tool_calls, one
    model object, the images answer, and the Responses API's event sequence
    replayed the way openai-node's ResponseStream accumulates it, checked
    against the non-streaming object. Every output is decoded strictly with
    jansson (invalid UTF-8 is rejected). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/openai.h"
#include "protocol/responses.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static json_t *s_decode(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        fail_msg("invalid JSON (%s): %.*s", jerr.text, (int)len, text);
    return root;
}

static const char *s_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("field %s is not a string", key);
    return json_string_value(v);
}

static long long s_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("field %s is not an integer", key);
    return json_integer_value(v);
}

static void s_has_null(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || !json_is_null(v))
        fail_msg("field %s is not present as null", key);
}

/*  Splits a chat SSE stream into its `data: {…}` payloads (an array of
    objects); [DONE] ends it. */
static json_t *s_chat_events(const abuf_t *b)
{
    json_t *all = json_array();
    const char *p = b->data, *end = b->data + b->len;
    while (p < end) {
        const char *stop = strstr(p, "\n\n");
        assert_non_null(stop);
        assert_memory_equal(p, "data: ", 6);
        p += 6;
        if (stop - p == 6 && memcmp(p, "[DONE]", 6) == 0) {
            assert_ptr_equal(stop + 2, end);
            break;
        }
        json_array_append_new(all, s_decode(p, (size_t)(stop - p)));
        p = stop + 2;
    }
    return all;
}

/*  Splits a Responses SSE stream into its events, checking that each
    `event:` name equals the payload's type and that sequence_number runs
    0, 1, 2, … */
static json_t *s_resp_events(const abuf_t *b)
{
    json_t *all = json_array();
    const char *p = b->data, *end = b->data + b->len;
    while (p < end) {
        const char *stop = strstr(p, "\n\n");
        assert_non_null(stop);
        assert_memory_equal(p, "event: ", 7);
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        assert_non_null(nl);
        char name[96];
        assert_true(nl - (p + 7) < (long)sizeof name);
        memcpy(name, p + 7, (size_t)(nl - (p + 7)));
        name[nl - (p + 7)] = '\0';
        assert_memory_equal(nl + 1, "data: ", 6);
        json_t *ev = s_decode(nl + 7, (size_t)(stop - (nl + 7)));
        assert_string_equal(s_str(ev, "type"), name);
        assert_int_equal(s_int(ev, "sequence_number"), (long long)json_array_size(all));
        json_array_append_new(all, ev);
        p = stop + 2;
    }
    return all;
}

static const openai_render_ctx_t s_ctx = {"chatcmpl-xyz", 1700000000, "gpt-4o"};

/* ------------------------------------------------------------------------ */
/* Chat completions                                                          */

/*  Every chunk choice has logprobs: null; a body's message refusal: null. */
static void test_chat_logprobs_refusal(void **state)
{
    (void)state;
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, true, DELTA_TEXT, "Hi", 2), 0);
    assert_int_equal(openai_render_sse_delta(&out, &s_ctx, false, DELTA_REASONING, "r", 1), 0);
    assert_int_equal(openai_render_sse_finish(&out, &s_ctx, "stop"), 0);
    json_t *evs = s_chat_events(&out);
    assert_int_equal(json_array_size(evs), 3);
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        json_t *choice = json_array_get(json_object_get(ev, "choices"), 0);
        s_has_null(choice, "logprobs");
    }
    json_decref(evs);

    const usage_t usage = {3, 4};
    abuf_reset(&out);
    assert_int_equal(openai_render_completion(&out, &s_ctx, "Answer", 6, NULL, 0, "stop", &usage),
                     0);
    json_t *root = s_decode(out.data, out.len);
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    s_has_null(choice, "logprobs");
    json_t *msg = json_object_get(choice, "message");
    s_has_null(msg, "refusal");
    assert_string_equal(s_str(msg, "content"), "Answer");
    assert_null(json_object_get(msg, "tool_calls"));
    assert_string_equal(s_str(choice, "finish_reason"), "stop");
    assert_int_equal(s_int(json_object_get(root, "usage"), "total_tokens"), 7);
    json_decref(root);
    abuf_free(&out);
}

/*  Arguments longer than one piece, with multi-byte characters on and
    around the piece boundary, invalid bytes and JSON specials. */
static char *s_long_args(void)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(abuf_puts(&b, "{\"city\":\"Z\xc3\xbcrich\",\"note\":\""), 0);
    while (b.len < OPENAI_TOOL_ARGS_PIECE - 2)
        assert_int_equal(abuf_puts(&b, "a"), 0);
    /* a 4-byte character straddles the first piece boundary */
    assert_int_equal(abuf_puts(&b, "\xf0\x9f\x98\x80 \\\"q\\\" \xe2\x82\xac"), 0);
    while (b.len < 3 * OPENAI_TOOL_ARGS_PIECE)
        assert_int_equal(abuf_puts(&b, "\xe2\x82\xac"), 0);
    assert_int_equal(abuf_puts(&b, "\"}"), 0);
    return abuf_steal(&b, NULL);
}

typedef struct {
    char *id, *type, *name;
    abuf_t args;
} acc_call_t;

/*  What openai-node's ChatCompletionStream does with delta.tool_calls:
    pieces grouped by index, id/type/name kept, arguments concatenated. */
static size_t s_accumulate_tool_calls(json_t *evs, acc_call_t *acc, size_t max, bool *role_seen,
                                      const char **finish)
{
    size_t n = 0, i;
    json_t *ev;
    *role_seen = false;
    *finish = NULL;
    json_array_foreach(evs, i, ev)
    {
        assert_string_equal(s_str(ev, "object"), "chat.completion.chunk");
        json_t *choice = json_array_get(json_object_get(ev, "choices"), 0);
        s_has_null(choice, "logprobs");
        json_t *delta = json_object_get(choice, "delta");
        json_t *role = json_object_get(delta, "role");
        if (role) {
            assert_int_equal(i, 0); /* only the first chunk carries the role */
            assert_string_equal(json_string_value(role), "assistant");
            *role_seen = true;
        }
        json_t *fr = json_object_get(choice, "finish_reason");
        if (json_is_string(fr))
            *finish = json_string_value(fr);
        json_t *calls = json_object_get(delta, "tool_calls");
        size_t j;
        json_t *tc;
        json_array_foreach(calls, j, tc)
        {
            size_t index = (size_t)s_int(tc, "index");
            assert_true(index < max);
            if (index >= n) {
                assert_int_equal(index, n); /* indexes arrive in order */
                n = index + 1;
                /* the first piece names the call, with empty arguments */
                json_t *fn = json_object_get(tc, "function");
                acc[index].id = strdup(s_str(tc, "id"));
                acc[index].type = strdup(s_str(tc, "type"));
                acc[index].name = strdup(s_str(fn, "name"));
                assert_string_equal(s_str(fn, "arguments"), "");
                abuf_t empty = ABUF_INIT;
                acc[index].args = empty;
                continue;
            }
            assert_null(json_object_get(tc, "id"));
            const char *piece = s_str(json_object_get(tc, "function"), "arguments");
            assert_true(strlen(piece) > 0);
            assert_int_equal(abuf_puts(&acc[index].args, piece), 0);
        }
    }
    return n;
}

static void s_acc_free(acc_call_t *acc, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(acc[i].id);
        free(acc[i].type);
        free(acc[i].name);
        abuf_free(&acc[i].args);
    }
}

static void test_chat_tool_calls_stream(void **state)
{
    (void)state;
    char *long_args = s_long_args();
    const openai_tool_call_t calls[] = {
        {"call_abc", "get_weather", long_args},
        {NULL, "noop", NULL},
        {"call_q", "quote\"d\xff", "{\"k\":\"\xc3\"}"},
    };
    for (int text_first = 0; text_first < 2; text_first++) {
        abuf_t out = ABUF_INIT;
        if (text_first)
            assert_int_equal(
                openai_render_sse_delta(&out, &s_ctx, true, DELTA_TEXT, "Checking.", 9), 0);
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(
                openai_render_sse_tool_call(&out, &s_ctx, !text_first && i == 0, i, &calls[i]), 0);
        assert_int_equal(openai_render_sse_finish(&out, &s_ctx, "tool_calls"), 0);
        assert_int_equal(openai_render_sse_done(&out), 0);

        json_t *evs = s_chat_events(&out);
        /* the long arguments came in several pieces */
        assert_true(json_array_size(evs) > 3 + 3 + 1);
        acc_call_t acc[4];
        bool role;
        const char *finish;
        size_t n = s_accumulate_tool_calls(evs, acc, 4, &role, &finish);
        assert_true(role);
        assert_non_null(finish);
        assert_string_equal(finish, "tool_calls");
        assert_int_equal(n, 3);
        assert_string_equal(acc[0].id, "call_abc");
        assert_string_equal(acc[0].type, "function");
        assert_string_equal(acc[0].name, "get_weather");
        assert_int_equal(acc[0].args.len, strlen(long_args));
        assert_string_equal(acc[0].args.data, long_args);
        json_decref(s_decode(acc[0].args.data, acc[0].args.len)); /* still one JSON text */
        assert_string_equal(acc[1].id, "call_1");
        assert_string_equal(acc[1].name, "noop");
        assert_int_equal(acc[1].args.len, 0);
        /* invalid bytes become U+FFFD, the rest is kept */
        assert_string_equal(acc[2].name, "quote\"d\xef\xbf\xbd");
        assert_string_equal(acc[2].args.data, "{\"k\":\"\xef\xbf\xbd\"}");
        s_acc_free(acc, n);
        json_decref(evs);
        abuf_free(&out);
    }
    free(long_args);
}

static void test_chat_tool_call_stream_edges(void **state)
{
    (void)state;
    const openai_tool_call_t call = {"call_1", "f", "{}"};
    abuf_t out = ABUF_INIT;
    assert_int_equal(abuf_puts(&out, "x"), 0);
    assert_int_equal(openai_render_sse_tool_call(NULL, &s_ctx, false, 0, &call), -1);
    assert_int_equal(openai_render_sse_tool_call(&out, NULL, false, 0, &call), -1);
    assert_int_equal(openai_render_sse_tool_call(&out, &s_ctx, false, 0, NULL), -1);
    /* a cap too small for the argument chunks leaves out as it was */
    out.max = 300;
    assert_int_equal(openai_render_sse_tool_call(&out, &s_ctx, false, 0, &call), -1);
    assert_string_equal(out.data, "x");
    abuf_free(&out);
}

static void test_chat_tool_calls_body(void **state)
{
    (void)state;
    const openai_tool_call_t calls[] = {
        {"call_a", "get_weather", "{\"city\":\"Paris\"}"},
        {NULL, "second", NULL},
    };
    typedef struct {
        const char *content;
        const char *reason_in, *reason_out;
    } body_case_t;
    const body_case_t cases[] = {
        {NULL, NULL, "tool_calls"},
        {"", "stop", "tool_calls"},
        {"Let me look.", "stop", "tool_calls"},
        {NULL, "length", "length"},
    };
    const usage_t usage = {10, 5};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const body_case_t *c = &cases[k];
        const openai_answer_t ans = {
            .content = c->content,
            .content_len = c->content ? strlen(c->content) : 0,
            .tool_calls = calls,
            .n_tool_calls = 2,
            .finish_reason = c->reason_in,
            .usage = &usage,
        };
        abuf_t out = ABUF_INIT;
        assert_int_equal(openai_render_answer(&out, &s_ctx, &ans), 0);
        json_t *root = s_decode(out.data, out.len);
        assert_string_equal(s_str(root, "object"), "chat.completion");
        json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
        assert_string_equal(s_str(choice, "finish_reason"), c->reason_out);
        s_has_null(choice, "logprobs");
        json_t *msg = json_object_get(choice, "message");
        assert_string_equal(s_str(msg, "role"), "assistant");
        s_has_null(msg, "refusal");
        if (c->content && c->content[0])
            assert_string_equal(s_str(msg, "content"), c->content);
        else
            s_has_null(msg, "content");
        json_t *tcs = json_object_get(msg, "tool_calls");
        assert_int_equal(json_array_size(tcs), 2);
        json_t *t0 = json_array_get(tcs, 0), *t1 = json_array_get(tcs, 1);
        assert_string_equal(s_str(t0, "id"), "call_a");
        assert_string_equal(s_str(t0, "type"), "function");
        assert_string_equal(s_str(json_object_get(t0, "function"), "name"), "get_weather");
        assert_string_equal(s_str(json_object_get(t0, "function"), "arguments"),
                            "{\"city\":\"Paris\"}");
        assert_string_equal(s_str(t1, "id"), "call_1");
        assert_string_equal(s_str(json_object_get(t1, "function"), "arguments"), "");
        json_decref(root);
        abuf_free(&out);
    }

    /* without tool calls: the old renderer's body, content "" when empty */
    const openai_answer_t plain = {.content = NULL, .finish_reason = NULL};
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_answer(&out, &s_ctx, &plain), 0);
    json_t *root = s_decode(out.data, out.len);
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    assert_string_equal(s_str(json_object_get(choice, "message"), "content"), "");
    assert_string_equal(s_str(choice, "finish_reason"), "stop");
    json_decref(root);

    const openai_answer_t bad = {.tool_calls = NULL, .n_tool_calls = 1};
    size_t len = out.len;
    assert_int_equal(openai_render_answer(&out, &s_ctx, &bad), -1);
    assert_int_equal(openai_render_answer(&out, &s_ctx, NULL), -1);
    assert_int_equal(out.len, len);
    abuf_free(&out);
}

static void test_model_and_images(void **state)
{
    (void)state;
    const openai_model_entry_t m = {"gpt-x", 1700000001, "arena", "GPT X"};
    abuf_t out = ABUF_INIT;
    assert_int_equal(openai_render_model(&out, &m), 0);
    json_t *root = s_decode(out.data, out.len);
    assert_string_equal(s_str(root, "id"), "gpt-x");
    assert_string_equal(s_str(root, "object"), "model");
    assert_int_equal(s_int(root, "created"), 1700000001);
    assert_string_equal(s_str(root, "owned_by"), "arena");
    json_decref(root);
    /* the same bytes as its entry in the list */
    abuf_t list = ABUF_INIT;
    assert_int_equal(openai_render_models(&list, &m, 1), 0);
    assert_non_null(strstr(list.data, out.data));
    abuf_free(&list);
    assert_int_equal(openai_render_model(&out, NULL), -1);

    const openai_image_result_t imgs[] = {
        {"https://img.example/a.png", "a cat, photographed"},
        {"data:image/png;base64,AAAA", NULL},
    };
    abuf_reset(&out);
    assert_int_equal(openai_render_images(&out, 1700000002, imgs, 2), 0);
    root = s_decode(out.data, out.len);
    assert_int_equal(s_int(root, "created"), 1700000002);
    json_t *data = json_object_get(root, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(s_str(json_array_get(data, 0), "url"), "https://img.example/a.png");
    assert_string_equal(s_str(json_array_get(data, 0), "revised_prompt"), "a cat, photographed");
    assert_null(json_object_get(json_array_get(data, 1), "revised_prompt"));
    json_decref(root);
    abuf_reset(&out);
    assert_int_equal(openai_render_images(&out, 1, NULL, 0), 0);
    root = s_decode(out.data, out.len);
    assert_int_equal(json_array_size(json_object_get(root, "data")), 0);
    json_decref(root);
    assert_int_equal(openai_render_images(&out, 1, NULL, 1), -1);
    abuf_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Responses API                                                             */

/*  One step of an answer, fed the same way to a streaming and a
    non-streaming writer. */
typedef struct {
    enum { STEP_DELTA, STEP_CALL } what;
    delta_kind_t kind;
    const char *text;
    size_t len;
    openai_tool_call_t call;
} step_t;

static void s_feed(responses_writer_t *w, abuf_t *out, const step_t *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const step_t *s = &steps[i];
        if (s->what == STEP_DELTA)
            assert_int_equal(responses_writer_delta(w, out, s->kind, s->text, s->len), 0);
        else
            assert_int_equal(responses_writer_tool_call(w, out, &s->call), 0);
    }
}

/*  A request as the parser fills it: two tools, a named tool choice, a
    json_schema format and max_output_tokens. */
static openai_request_t s_req(openai_tool_t *tools)
{
    openai_request_t req;
    memset(&req, 0, sizeof req);
    tools[0] = (openai_tool_t){
        "get_weather", "Weather now",
        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}", true};
    tools[1] = (openai_tool_t){"noop", NULL, "{not json", false};
    req.tools = tools;
    req.n_tools = 2;
    req.tool_choice = OPENAI_TOOL_NAMED;
    req.tool_choice_name = "get_weather";
    req.parallel_tool_calls = false;
    req.format = OPENAI_FORMAT_JSON_SCHEMA;
    req.format_name = "answer";
    req.format_schema = "{\"type\":\"object\"}";
    req.format_strict = true;
    req.max_tokens = 300;
    return req;
}

/*  The fields @ai-sdk/openai's response schema requires, and the shapes
    openai-node's types give each output item. */
static void s_check_response_shape(json_t *r)
{
    assert_true(json_is_string(json_object_get(r, "id")));
    assert_string_equal(s_str(r, "object"), "response");
    assert_true(json_is_integer(json_object_get(r, "created_at")));
    assert_true(json_is_string(json_object_get(r, "model")));
    assert_true(json_is_string(json_object_get(r, "status")));
    assert_true(json_is_array(json_object_get(r, "output")));
    assert_true(json_is_array(json_object_get(r, "tools")));
    assert_true(json_is_object(json_object_get(json_object_get(r, "text"), "format")));
    assert_non_null(json_object_get(r, "tool_choice"));
    assert_true(json_is_boolean(json_object_get(r, "parallel_tool_calls")));
    assert_non_null(json_object_get(r, "error"));
    assert_non_null(json_object_get(r, "incomplete_details"));
    assert_non_null(json_object_get(r, "usage"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r, "output"), i, it)
    {
        const char *type = s_str(it, "type");
        assert_true(strlen(s_str(it, "id")) > 0);
        if (strcmp(type, "message") == 0) {
            assert_string_equal(s_str(it, "role"), "assistant");
            s_str(it, "status");
            size_t j;
            json_t *part;
            json_array_foreach(json_object_get(it, "content"), j, part)
            {
                assert_string_equal(s_str(part, "type"), "output_text");
                s_str(part, "text");
                assert_true(json_is_array(json_object_get(part, "annotations")));
            }
        } else if (strcmp(type, "function_call") == 0) {
            s_str(it, "call_id");
            s_str(it, "name");
            s_str(it, "arguments");
            s_str(it, "status");
        } else {
            assert_string_equal(type, "reasoning");
            assert_true(json_is_array(json_object_get(it, "summary")));
        }
    }
}

/*  openai-node's ResponseStream, reduced: the snapshot starts with
    response.created, items are appended at output_index == length, parts
    at content_index == length, deltas append, done events replace; item_id
    always names the item at output_index. Returns the final snapshot's
    output (new reference) and checks each done event against it. */
static json_t *s_replay(json_t *evs)
{
    json_t *snap = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        const char *type = s_str(ev, "type");
        if (i == 0) {
            assert_string_equal(type, "response.created");
            snap = json_deep_copy(json_object_get(ev, "response"));
            assert_int_equal(json_array_size(json_object_get(snap, "output")), 0);
            continue;
        }
        json_t *output = json_object_get(snap, "output");
        json_t *item = NULL;
        if (json_object_get(ev, "output_index")) {
            size_t oi = (size_t)s_int(ev, "output_index");
            if (strcmp(type, "response.output_item.added") == 0) {
                assert_int_equal(oi, json_array_size(output));
                json_array_append(output, json_object_get(ev, "item"));
                continue;
            }
            item = json_array_get(output, oi);
            assert_non_null(item);
            if (json_object_get(ev, "item_id"))
                assert_string_equal(s_str(ev, "item_id"), s_str(item, "id"));
        }
        if (strcmp(type, "response.output_item.done") == 0) {
            json_t *done = json_object_get(ev, "item");
            assert_string_equal(s_str(done, "id"), s_str(item, "id"));
            assert_string_equal(s_str(done, "type"), s_str(item, "type"));
            json_array_set(output, (size_t)s_int(ev, "output_index"), done);
        } else if (strcmp(type, "response.content_part.added") == 0 ||
                   strcmp(type, "response.reasoning_summary_part.added") == 0) {
            bool msg = type[9] == 'c';
            json_t *parts = json_object_get(item, msg ? "content" : "summary");
            assert_int_equal(s_int(ev, msg ? "content_index" : "summary_index"),
                             json_array_size(parts));
            json_array_append(parts, json_object_get(ev, "part"));
        } else if (strcmp(type, "response.output_text.delta") == 0 ||
                   strcmp(type, "response.reasoning_summary_text.delta") == 0) {
            bool msg = type[9] == 'o';
            json_t *part =
                json_array_get(json_object_get(item, msg ? "content" : "summary"),
                               (size_t)s_int(ev, msg ? "content_index" : "summary_index"));
            assert_non_null(part);
            abuf_t t = ABUF_INIT;
            assert_int_equal(abuf_puts(&t, s_str(part, "text")), 0);
            assert_int_equal(abuf_puts(&t, s_str(ev, "delta")), 0);
            json_object_set_new(part, "text", json_string(t.data));
            abuf_free(&t);
        } else if (strcmp(type, "response.output_text.done") == 0 ||
                   strcmp(type, "response.reasoning_summary_text.done") == 0) {
            bool msg = type[9] == 'o';
            json_t *part = json_array_get(json_object_get(item, msg ? "content" : "summary"), 0);
            /* the deltas add up to exactly the final text */
            assert_string_equal(s_str(part, "text"), s_str(ev, "text"));
        } else if (strcmp(type, "response.function_call_arguments.delta") == 0) {
            abuf_t t = ABUF_INIT;
            assert_int_equal(abuf_puts(&t, s_str(item, "arguments")), 0);
            assert_int_equal(abuf_puts(&t, s_str(ev, "delta")), 0);
            json_object_set_new(item, "arguments", json_string(t.data));
            abuf_free(&t);
        } else if (strcmp(type, "response.function_call_arguments.done") == 0) {
            assert_string_equal(s_str(item, "arguments"), s_str(ev, "arguments"));
            assert_string_equal(s_str(item, "name"), s_str(ev, "name"));
        }
    }
    json_t *output = json_incref(json_object_get(snap, "output"));
    json_decref(snap);
    return output;
}

static json_t *s_types(json_t *evs)
{
    json_t *types = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) json_array_append_new(types, json_string(s_str(ev, "type")));
    return types;
}

static void s_expect_types(json_t *evs, const char *const *want, size_t n)
{
    json_t *types = s_types(evs);
    if (json_array_size(types) != n) {
        char *d = json_dumps(types, JSON_INDENT(1));
        fail_msg("got %zu events, want %zu: %s", json_array_size(types), n, d);
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(json_string_value(json_array_get(types, i)), want[i]) != 0)
            fail_msg("event %zu is %s, want %s", i, json_string_value(json_array_get(types, i)),
                     want[i]);
    json_decref(types);
}

static const responses_meta_t s_meta = {"resp_abc", 1700000100, "gpt-4o", "Be brief.", NULL};

/*  A whole answer: reasoning, text with a character split across deltas,
    an image, two tool calls. The events come in the documented order with
    sequence numbers 0…n-1; replayed, they build the same output as the
    final response; response.completed carries exactly the non-streaming
    object. */
static void test_responses_stream_matches_object(void **state)
{
    (void)state;
    char *long_args = s_long_args();
    const step_t steps[] = {
        {STEP_DELTA, DELTA_REASONING, "Think", 5, {0}},
        {STEP_DELTA, DELTA_REASONING, "ing \xe2\x82", 6, {0}},
        {STEP_DELTA, DELTA_REASONING, "\xac.", 2, {0}},
        {STEP_DELTA, DELTA_TEXT, "Price: 5 \xe2", 10, {0}},
        {STEP_DELTA, DELTA_TEXT, "\x82", 1, {0}},
        {STEP_DELTA, DELTA_TEXT, "\xac, ", 3, {0}},
        {STEP_DELTA, DELTA_CITATION, "{\"x\":1}", 7, {0}},
        {STEP_DELTA, DELTA_TEXT, "", 0, {0}},
        {STEP_DELTA, DELTA_IMAGE, "https://img.example/a b.png", 27, {0}},
        {STEP_CALL, 0, NULL, 0, {"call_w", "get_weather", long_args}},
        {STEP_CALL, 0, NULL, 0, {NULL, "noop", NULL}},
    };
    const size_t n_steps = sizeof steps / sizeof steps[0];
    openai_tool_t tools[2];
    openai_request_t req = s_req(tools);
    responses_meta_t meta = s_meta;
    meta.req = &req;
    const usage_t usage = {12, 34};

    responses_writer_t *ws = responses_writer_new(&meta);
    responses_writer_t *wb = responses_writer_new(&meta);
    assert_non_null(ws);
    assert_non_null(wb);
    abuf_t sse = ABUF_INIT;
    assert_int_equal(responses_writer_start(ws, &sse), 0);
    assert_int_equal(responses_writer_start(ws, &sse), 0); /* once only */
    s_feed(ws, &sse, steps, n_steps);
    s_feed(wb, NULL, steps, n_steps);
    assert_false(responses_writer_done(ws));
    assert_int_equal(responses_writer_finish(ws, &sse, "tool_calls", &usage), 0);
    assert_int_equal(responses_writer_finish(wb, NULL, "tool_calls", &usage), 0);
    assert_true(responses_writer_done(ws));

    json_t *evs = s_resp_events(&sse);
    /* clang-format off */
    static const char *const want[] = {
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    };
    /* clang-format on */
    s_expect_types(evs, want, sizeof want / sizeof want[0]);

    /* the non-streaming object */
    abuf_t body = ABUF_INIT;
    assert_int_equal(responses_writer_render(wb, &body), 0);
    json_t *obj = s_decode(body.data, body.len);
    s_check_response_shape(obj);

    /* response.completed carries it, byte for byte */
    json_t *last = json_array_get(evs, json_array_size(evs) - 1);
    assert_true(json_equal(json_object_get(last, "response"), obj));
    abuf_t again = ABUF_INIT;
    assert_int_equal(responses_writer_render(ws, &again), 0);
    assert_string_equal(again.data, body.data);
    assert_non_null(strstr(sse.data, body.data));

    /* replaying the events builds the same output */
    json_t *built = s_replay(evs);
    assert_true(json_equal(built, json_object_get(obj, "output")));
    json_decref(built);

    /* what is in it */
    assert_string_equal(s_str(obj, "id"), "resp_abc");
    assert_int_equal(s_int(obj, "created_at"), 1700000100);
    assert_string_equal(s_str(obj, "status"), "completed");
    s_has_null(obj, "error");
    s_has_null(obj, "incomplete_details");
    assert_string_equal(s_str(obj, "instructions"), "Be brief.");
    assert_int_equal(s_int(obj, "max_output_tokens"), 300);
    assert_true(json_is_false(json_object_get(obj, "parallel_tool_calls")));
    json_t *u = json_object_get(obj, "usage");
    assert_int_equal(s_int(u, "input_tokens"), 12);
    assert_int_equal(s_int(u, "output_tokens"), 34);
    assert_int_equal(s_int(u, "total_tokens"), 46);
    assert_int_equal(s_int(json_object_get(u, "input_tokens_details"), "cached_tokens"), 0);
    assert_int_equal(s_int(json_object_get(u, "output_tokens_details"), "reasoning_tokens"), 0);
    json_t *out = json_object_get(obj, "output");
    assert_int_equal(json_array_size(out), 4);
    json_t *rs = json_array_get(out, 0), *msg = json_array_get(out, 1);
    json_t *fc = json_array_get(out, 2), *fc2 = json_array_get(out, 3);
    assert_string_equal(s_str(rs, "id"), "rs_abc_0");
    assert_string_equal(s_str(json_array_get(json_object_get(rs, "summary"), 0), "text"),
                        "Thinking \xe2\x82\xac.");
    assert_string_equal(s_str(msg, "id"), "msg_abc_1");
    assert_string_equal(s_str(msg, "status"), "completed");
    assert_string_equal(s_str(json_array_get(json_object_get(msg, "content"), 0), "text"),
                        "Price: 5 \xe2\x82\xac, ![image](https://img.example/a%20b.png)\n");
    assert_string_equal(s_str(fc, "id"), "fc_abc_2");
    assert_string_equal(s_str(fc, "call_id"), "call_w");
    assert_string_equal(s_str(fc, "name"), "get_weather");
    assert_string_equal(s_str(fc, "arguments"), long_args);
    assert_string_equal(s_str(fc, "status"), "completed");
    assert_string_equal(s_str(fc2, "call_id"), "call_abc_3");
    assert_string_equal(s_str(fc2, "arguments"), "");

    /* what the request asked, echoed */
    json_t *tc = json_object_get(obj, "tool_choice");
    assert_string_equal(s_str(tc, "type"), "function");
    assert_string_equal(s_str(tc, "name"), "get_weather");
    json_t *fmt = json_object_get(json_object_get(obj, "text"), "format");
    assert_string_equal(s_str(fmt, "type"), "json_schema");
    assert_string_equal(s_str(fmt, "name"), "answer");
    assert_string_equal(s_str(json_object_get(fmt, "schema"), "type"), "object");
    assert_true(json_is_true(json_object_get(fmt, "strict")));
    json_t *tl = json_object_get(obj, "tools");
    assert_int_equal(json_array_size(tl), 2);
    assert_string_equal(s_str(json_array_get(tl, 0), "type"), "function");
    assert_string_equal(s_str(json_array_get(tl, 0), "name"), "get_weather");
    assert_true(json_is_object(json_object_get(json_array_get(tl, 0), "parameters")));
    s_has_null(json_array_get(tl, 1), "description");
    s_has_null(json_array_get(tl, 1), "parameters"); /* not JSON: never echoed raw */

    /* the created event: in progress, nothing yet */
    json_t *created = json_object_get(json_array_get(evs, 0), "response");
    assert_string_equal(s_str(created, "status"), "in_progress");
    s_has_null(created, "usage");
    s_check_response_shape(created);

    /* every text delta event has what @ai-sdk/openai requires */
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        if (strcmp(s_str(ev, "type"), "response.output_text.delta") == 0) {
            s_str(ev, "item_id");
            s_str(ev, "delta");
            assert_true(json_is_array(json_object_get(ev, "logprobs")));
        }
    }

    json_decref(obj);
    json_decref(evs);
    abuf_free(&again);
    abuf_free(&body);
    abuf_free(&sse);
    responses_writer_destroy(&ws);
    responses_writer_destroy(&wb);
    responses_writer_destroy(&ws); /* idempotent */
    free(long_args);
}

/*  A length cut: response.incomplete, reason max_output_tokens, the cut
    item incomplete; with no request the echo is OpenAI's defaults. */
static void test_responses_incomplete(void **state)
{
    (void)state;
    const char *reasons[] = {"length", "content_filter"};
    const char *details[] = {"max_output_tokens", "content_filter"};
    for (size_t k = 0; k < 2; k++) {
        responses_writer_t *w = responses_writer_new(&s_meta);
        abuf_t sse = ABUF_INIT;
        assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, "Once upon", 9), 0);
        assert_int_equal(responses_writer_finish(w, &sse, reasons[k], NULL), 0);
        json_t *evs = s_resp_events(&sse);
        static const char *const want[] = {
            "response.created",           "response.in_progress",
            "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.done",
            "response.content_part.done", "response.output_item.done",
            "response.incomplete",
        };
        s_expect_types(evs, want, sizeof want / sizeof want[0]);
        json_t *r = json_object_get(json_array_get(evs, 8), "response");
        s_check_response_shape(r);
        assert_string_equal(s_str(r, "status"), "incomplete");
        assert_string_equal(s_str(json_object_get(r, "incomplete_details"), "reason"), details[k]);
        assert_string_equal(s_str(json_array_get(json_object_get(r, "output"), 0), "status"),
                            "incomplete");
        assert_int_equal(s_int(json_object_get(r, "usage"), "total_tokens"), 0);
        assert_string_equal(s_str(r, "tool_choice"), "auto");
        assert_true(json_is_true(json_object_get(r, "parallel_tool_calls")));
        assert_string_equal(s_str(json_object_get(json_object_get(r, "text"), "format"), "type"),
                            "text");
        s_has_null(r, "max_output_tokens");
        assert_int_equal(json_array_size(json_object_get(r, "tools")), 0);
        /* nothing more after the end */
        size_t len = sse.len;
        assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, "x", 1), -1);
        assert_int_equal(responses_writer_finish(w, &sse, "stop", NULL), -1);
        assert_int_equal(sse.len, len);
        json_decref(evs);
        abuf_free(&sse);
        responses_writer_destroy(&w);
    }
}

/*  An upstream error mid-answer: `error` with code/message/param, then
    response.failed whose response says status failed and the error. */
static void test_responses_fail(void **state)
{
    (void)state;
    responses_writer_t *w = responses_writer_new(&s_meta);
    responses_writer_t *wb = responses_writer_new(&s_meta);
    abuf_t sse = ABUF_INIT;
    openai_error_t err;
    openai_error_set(&err, "upstream_error", "", "the tab \xff went away");
    assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, "Partial", 7), 0);
    assert_int_equal(responses_writer_fail(w, &sse, &err), 0);
    assert_int_equal(responses_writer_delta(wb, NULL, DELTA_TEXT, "Partial", 7), 0);
    assert_int_equal(responses_writer_fail(wb, NULL, &err), 0);
    assert_true(responses_writer_done(w));
    json_t *evs = s_resp_events(&sse);
    static const char *const want[] = {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "error",
        "response.failed",
    };
    s_expect_types(evs, want, sizeof want / sizeof want[0]);
    json_t *e = json_array_get(evs, 5);
    assert_string_equal(s_str(e, "code"), "upstream_error");
    assert_string_equal(s_str(e, "message"), "the tab \xef\xbf\xbd went away");
    s_has_null(e, "param");
    assert_null(json_object_get(e, "error"));
    json_t *r = json_object_get(json_array_get(evs, 6), "response");
    s_check_response_shape(r);
    assert_string_equal(s_str(r, "status"), "failed");
    assert_string_equal(s_str(json_object_get(r, "error"), "code"), "upstream_error");
    assert_string_equal(s_str(json_array_get(json_object_get(r, "output"), 0), "status"),
                        "incomplete");
    abuf_t body = ABUF_INIT;
    assert_int_equal(responses_writer_render(wb, &body), 0);
    json_t *obj = s_decode(body.data, body.len);
    assert_true(json_equal(obj, r));
    json_decref(obj);

    /* a failure before anything was sent still starts the stream */
    responses_writer_t *w2 = responses_writer_new(&s_meta);
    abuf_reset(&sse);
    openai_error_set(&err, "rate_limited", "model", "busy");
    assert_int_equal(responses_writer_fail(w2, &sse, &err), 0);
    json_decref(evs);
    evs = s_resp_events(&sse);
    static const char *const want2[] = {"response.created", "response.in_progress", "error",
                                        "response.failed"};
    s_expect_types(evs, want2, 4);
    assert_string_equal(s_str(json_array_get(evs, 2), "param"), "model");
    assert_int_equal(responses_writer_fail(w2, &sse, &err), -1);
    json_decref(evs);
    abuf_free(&body);
    abuf_free(&sse);
    responses_writer_destroy(&w);
    responses_writer_destroy(&wb);
    responses_writer_destroy(&w2);
}

/*  Invalid UTF-8 anywhere (model, ids, text, names, arguments) is still
    strict JSON, and a character the stream split is whole again. */
static void test_responses_invalid_utf8(void **state)
{
    (void)state;
    const responses_meta_t meta = {"resp_\xc3", 1, "m\xff\xfe", "i\xed\xa0\x80", NULL};
    responses_writer_t *w = responses_writer_new(&meta);
    assert_non_null(w);
    abuf_t sse = ABUF_INIT;
    const openai_tool_call_t call = {"c\x80", "n\xc0\xaf", "{\"a\":\"\xf4\x90\x80\x80\"}"};
    assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, "a\xe2\x82", 3), 0);
    assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, "\xff", 1), 0);
    assert_int_equal(responses_writer_delta(w, &sse, DELTA_REASONING, "\xf0\x9f", 2), 0);
    assert_int_equal(responses_writer_tool_call(w, &sse, &call), 0);
    assert_int_equal(responses_writer_finish(w, &sse, "stop", NULL), 0);
    json_t *evs = s_resp_events(&sse); /* every payload decodes strictly */
    json_t *built = s_replay(evs);
    json_t *r = json_object_get(json_array_get(evs, json_array_size(evs) - 1), "response");
    assert_true(json_equal(built, json_object_get(r, "output")));
    json_t *msg = json_array_get(json_object_get(r, "output"), 0);
    assert_string_equal(s_str(json_array_get(json_object_get(msg, "content"), 0), "text"),
                        "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(built);
    json_decref(evs);
    abuf_free(&sse);
    responses_writer_destroy(&w);
}

/*  Bad arguments, and a full buffer: out is left as it was and the writer
    is spent, while the object still renders. */
static void test_responses_edges(void **state)
{
    (void)state;
    responses_meta_t bad = s_meta;
    bad.id = NULL;
    assert_null(responses_writer_new(&bad));
    assert_null(responses_writer_new(NULL));
    responses_writer_destroy(NULL);
    assert_int_equal(responses_writer_start(NULL, NULL), -1);
    assert_int_equal(responses_writer_render(NULL, NULL), -1);
    assert_false(responses_writer_done(NULL));

    responses_writer_t *w = responses_writer_new(&s_meta);
    abuf_t sse = ABUF_INIT;
    assert_int_equal(responses_writer_delta(w, &sse, (delta_kind_t)99, "x", 1), -1);
    assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, NULL, 1), -1);
    assert_int_equal(responses_writer_tool_call(w, &sse, NULL), -1);
    assert_int_equal(responses_writer_fail(w, &sse, NULL), -1);
    assert_int_equal(sse.len, 0);

    assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, "ok", 2), 0);
    size_t len = sse.len;
    sse.max = sse.len + 64;
    char big[256];
    memset(big, 'b', sizeof big);
    assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, big, sizeof big), -1);
    assert_int_equal(sse.len, len);
    sse.max = 0;
    assert_int_equal(responses_writer_delta(w, &sse, DELTA_TEXT, "x", 1), -1);
    abuf_t body = ABUF_INIT;
    assert_int_equal(responses_writer_render(w, &body), 0);
    json_decref(s_decode(body.data, body.len));
    abuf_free(&body);
    abuf_free(&sse);
    responses_writer_destroy(&w);
}

/* ------------------------------------------------------------------------ */
/* Fixtures for tests/integration/render_sdk.test.mjs                        */

static int s_write(const char *dir, const char *name, const abuf_t *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(b->data, 1, b->len, f);
    return fclose(f) == 0 && n == b->len ? 0 : -1;
}

/*  The same answer in every shape, for the real SDKs to read: text, two
    tool calls (one with a node-made id), reasoning, a character split
    across deltas; plus a Responses stream that fails and one cut by
    length. Returns 0 when every file was written. */
static int s_write_fixtures(const char *dir)
{
    const openai_tool_call_t calls[] = {
        {"call_w", "get_weather", "{\"city\":\"Z\xc3\xbcrich\",\"unit\":\"c\"}"},
        {NULL, "get_time", "{\"tz\":\"UTC\"}"},
    };
    const usage_t usage = {11, 22};
    int rc = 0;
    abuf_t b = ABUF_INIT;
    rc |= openai_render_sse_delta(&b, &s_ctx, true, DELTA_TEXT, "Let me check.", 13);
    rc |= openai_render_sse_tool_call(&b, &s_ctx, false, 0, &calls[0]);
    rc |= openai_render_sse_tool_call(&b, &s_ctx, false, 1, &calls[1]);
    rc |= openai_render_sse_finish(&b, &s_ctx, "tool_calls");
    rc |= openai_render_sse_usage(&b, &s_ctx, &usage);
    rc |= openai_render_sse_done(&b);
    rc |= s_write(dir, "chat_stream.sse", &b);
    abuf_reset(&b);
    const openai_answer_t ans = {.tool_calls = calls, .n_tool_calls = 2, .usage = &usage};
    rc |= openai_render_answer(&b, &s_ctx, &ans);
    rc |= s_write(dir, "chat_body.json", &b);

    for (int stream = 0; stream < 2; stream++) {
        responses_writer_t *w = responses_writer_new(&s_meta);
        abuf_t *out = stream ? &b : NULL;
        abuf_reset(&b);
        rc |= w ? 0 : -1;
        rc |= responses_writer_delta(w, out, DELTA_REASONING, "Thinking about it.", 18);
        rc |= responses_writer_delta(w, out, DELTA_TEXT, "Hello ", 6);
        rc |= responses_writer_delta(w, out, DELTA_TEXT, "world \xe2\x82", 8);
        rc |= responses_writer_delta(w, out, DELTA_TEXT, "\xac", 1);
        rc |= responses_writer_tool_call(w, out, &calls[0]);
        rc |= responses_writer_tool_call(w, out, &calls[1]);
        rc |= responses_writer_finish(w, out, "stop", &usage);
        if (!stream)
            rc |= responses_writer_render(w, &b);
        rc |= s_write(dir, stream ? "resp_stream.sse" : "resp_body.json", &b);
        responses_writer_destroy(&w);
    }

    responses_writer_t *w = responses_writer_new(&s_meta);
    openai_error_t err;
    openai_error_set(&err, "upstream_error", NULL, "the tab went away");
    abuf_reset(&b);
    rc |= responses_writer_delta(w, &b, DELTA_TEXT, "Part", 4);
    rc |= responses_writer_fail(w, &b, &err);
    rc |= s_write(dir, "resp_fail.sse", &b);
    responses_writer_destroy(&w);

    w = responses_writer_new(&s_meta);
    abuf_reset(&b);
    rc |= responses_writer_delta(w, &b, DELTA_TEXT, "Once upon", 9);
    rc |= responses_writer_finish(w, &b, "length", &usage);
    rc |= s_write(dir, "resp_len.sse", &b);
    responses_writer_destroy(&w);
    abuf_free(&b);
    return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
    /* `test_openai_render --write-fixtures DIR`: the JS check's inputs */
    if (argc == 3 && strcmp(argv[1], "--write-fixtures") == 0)
        return s_write_fixtures(argv[2]) == 0 ? 0 : 1;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_logprobs_refusal),
        cmocka_unit_test(test_chat_tool_calls_stream),
        cmocka_unit_test(test_chat_tool_call_stream_edges),
        cmocka_unit_test(test_chat_tool_calls_body),
        cmocka_unit_test(test_model_and_images),
        cmocka_unit_test(test_responses_stream_matches_object),
        cmocka_unit_test(test_responses_incomplete),
        cmocka_unit_test(test_responses_fail),
        cmocka_unit_test(test_responses_invalid_utf8),
        cmocka_unit_test(test_responses_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
