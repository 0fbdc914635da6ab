/*  fuzz_responses — the answer renderers on arbitrary upstream bytes. The
    input is a script of steps (one byte: what; one byte: length; that many
    bytes) fed to a streaming and a non-streaming Responses writer and to
    the chat tool-call renderers. Every SSE event and body must be strict
    JSON (jansson rejects invalid UTF-8), the events' sequence numbers must
    run 0, 1, 2, …, and the stream's last event must carry exactly the
    non-streaming object. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/openai.h"
#include "protocol/responses.h"

static void s_check_json(const char *p, size_t len)
{
    json_t *v = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!v)
        abort();
    json_decref(v);
}

/*  Every `event: NAME\ndata: {…}\n\n` decodes, in sequence. */
static void s_check_events(const abuf_t *b)
{
    const char *p = b->data, *end = b->data + b->len;
    long long seq = 0;
    while (p < end) {
        const char *stop = strstr(p, "\n\n");
        const char *data = strstr(p, "\ndata: ");
        if (!stop || !data || data > stop || strncmp(p, "event: ", 7) != 0)
            abort();
        json_t *v = json_loadb(data + 7, (size_t)(stop - data - 7),
                               JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
        if (!v || json_integer_value(json_object_get(v, "sequence_number")) != seq++)
            abort();
        json_decref(v);
        p = stop + 2;
    }
}

/*  Every `data: {…}\n\n` chunk decodes. */
static void s_check_chunks(const abuf_t *b)
{
    const char *p = b->data, *end = b->data + b->len;
    while (p < end) {
        const char *stop = strstr(p, "\n\n");
        if (!stop || strncmp(p, "data: ", 6) != 0)
            abort();
        s_check_json(p + 6, (size_t)(stop - p - 6));
        p = stop + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char model[16] = "m";
    if (size > 0) {
        /* a model name of hostile bytes (no NUL) */
        size_t n = data[0] % sizeof model;
        for (size_t i = 0; i < n && 1 + i < size; i++)
            model[i] = data[1 + i] ? (char)data[1 + i] : '?';
        model[n < sizeof model ? n : sizeof model - 1] = '\0';
    }
    const responses_meta_t meta = {"resp_fuzz", 1, model, model, NULL};
    responses_writer_t *ws = responses_writer_new(&meta);
    responses_writer_t *wb = responses_writer_new(&meta);
    if (!ws || !wb)
        abort();
    const openai_render_ctx_t ctx = {"chatcmpl-fuzz", 1, model};
    abuf_t sse = ABUF_INIT, chat = ABUF_INIT;
    openai_tool_call_t calls[8];
    char *owned[16];
    size_t n_calls = 0, n_owned = 0;
    size_t at = 0;
    uint8_t last = 0;
    while (at + 2 <= size) {
        uint8_t what = data[at];
        size_t len = data[at + 1];
        at += 2;
        if (len > size - at)
            len = size - at;
        const char *bytes = (const char *)data + at;
        at += len;
        last = what;
        if (what % 5 == 3) {
            /* a tool call: name and arguments halves, NUL-free copies */
            if (n_calls == 8)
                continue;
            char *name = malloc(len / 2 + 1), *args = malloc(len - len / 2 + 1);
            if (!name || !args)
                abort();
            memcpy(name, bytes, len / 2);
            name[len / 2] = '\0';
            memcpy(args, bytes + len / 2, len - len / 2);
            args[len - len / 2] = '\0';
            owned[n_owned++] = name;
            owned[n_owned++] = args;
            openai_tool_call_t *c = &calls[n_calls];
            *c = (openai_tool_call_t){(what & 0x80) ? NULL : name, name, args};
            if (responses_writer_tool_call(ws, &sse, c) < 0 ||
                responses_writer_tool_call(wb, NULL, c) < 0 ||
                openai_render_sse_tool_call(&chat, &ctx, n_calls == 0, n_calls, c) < 0)
                abort();
            n_calls++;
            continue;
        }
        delta_kind_t kind = what % 5 == 0   ? DELTA_TEXT
                            : what % 5 == 1 ? DELTA_REASONING
                            : what % 5 == 2 ? DELTA_IMAGE
                                            : DELTA_CITATION;
        if (responses_writer_delta(ws, &sse, kind, bytes, len) < 0 ||
            responses_writer_delta(wb, NULL, kind, bytes, len) < 0 ||
            openai_render_sse_delta(&chat, &ctx, false, kind, bytes, len) < 0)
            abort();
    }
    static const char *const reasons[] = {"stop", "length", "content_filter", "tool_calls", NULL};
    usage_t usage = {(long long)size - 3, (long long)at - 3};
    if (last % 7 == 6) {
        openai_error_t err;
        openai_error_set(&err, "upstream_error", model, "failed: %s", model);
        if (responses_writer_fail(ws, &sse, &err) < 0 || responses_writer_fail(wb, NULL, &err) < 0)
            abort();
    } else if (responses_writer_finish(ws, &sse, reasons[last % 5], &usage) < 0 ||
               responses_writer_finish(wb, NULL, reasons[last % 5], &usage) < 0) {
        abort();
    }
    s_check_events(&sse);
    abuf_t body = ABUF_INIT;
    if (responses_writer_render(wb, &body) < 0)
        abort();
    s_check_json(body.data, body.len);
    /* the last event ends with `"response":BODY}\n\n` */
    if (sse.len < body.len + 3 ||
        memcmp(sse.data + sse.len - body.len - 3, body.data, body.len) != 0)
        abort();

    s_check_chunks(&chat);
    abuf_t whole = ABUF_INIT;
    const openai_answer_t ans = {.content = model,
                                 .content_len = strlen(model),
                                 .tool_calls = calls,
                                 .n_tool_calls = n_calls,
                                 .finish_reason = reasons[last % 5],
                                 .usage = &usage};
    if (openai_render_answer(&whole, &ctx, &ans) < 0)
        abort();
    s_check_json(whole.data, whole.len);

    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    abuf_free(&whole);
    abuf_free(&body);
    abuf_free(&chat);
    abuf_free(&sse);
    responses_writer_destroy(&ws);
    responses_writer_destroy(&wb);
    return 0;
}
