/*  libFuzzer driver for protocol/shape. The answer is fed in the pieces the
    input chooses, and again in one piece: shaping must not depend on how the
    upstream split it (same text, calls, finish reason and result).

    Input: byte 0 = flags (bits 0-1 response_format, 2 tools, 3-4
    tool_choice, 5 parallel, 6 stop strings, 7 a small held cap), byte 1 =
    max_tokens (255: none), then pieces [n][n bytes] where n's top bit makes
    the piece reasoning instead of text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/abuf.h"
#include "protocol/shape.h"

typedef struct {
    abuf_t text;
    abuf_t calls; /* name \0 arguments \0 … */
    size_t n_calls;
} out_t;

static void s_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    out_t *o = arg;
    if (len == 0)
        __builtin_trap(); /* no empty deltas */
    if (kind == DELTA_TEXT)
        abuf_append(&o->text, text, len);
}

static void s_call(void *arg, size_t index, const openai_tool_call_t *call)
{
    out_t *o = arg;
    if (index != o->n_calls++ || strncmp(call->id, "call_", 5) != 0 || strlen(call->id) != 29)
        __builtin_trap();
    abuf_append(&o->calls, call->name, strlen(call->name) + 1);
    abuf_append(&o->calls, call->arguments, strlen(call->arguments) + 1);
}

static const shape_sink_t SINK = {s_delta, s_call};

static openai_tool_t TOOLS[] = {
    {"get_weather", NULL, NULL, false},
    {"f", NULL, NULL, false},
};
static char *STOPS[] = {"END", "\n\n", "\xC3\xA9", "``"};
static const char *SCHEMA = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\","
                            "\"items\":{\"type\":\"number\"}}},\"required\":[\"a\"]}";

static int s_shape(const openai_request_t *r, size_t cap, const uint8_t *p, size_t n, bool whole,
                   out_t *o, const char **fr, char *err, size_t errlen)
{
    shape_t *s = shape_new(r, cap, &SINK, o);
    if (!s)
        return -2;
    abuf_t all = ABUF_INIT;
    size_t i = 0;
    bool cut = false;
    while (i < n && !cut) {
        size_t len = p[i] & 0x7f;
        delta_kind_t kind = (p[i] & 0x80) ? DELTA_REASONING : DELTA_TEXT;
        i++;
        if (len > n - i)
            len = n - i;
        if (whole && kind == DELTA_TEXT)
            abuf_append(&all, p + i, len);
        else if (shape_feed(s, kind, (const char *)p + i, len) == SHAPE_CUT)
            cut = true;
        i += len;
    }
    if (whole && all.len)
        shape_feed(s, DELTA_TEXT, all.data, all.len);
    abuf_free(&all);
    int rc = shape_end(s, fr, err, errlen);
    if (rc == SHAPE_INVALID) {
        size_t alen = 0;
        const char *a = shape_answer(s, &alen);
        if (!a || strlen(err) == 0)
            __builtin_trap();
        shape_flush(s, fr);
    }
    shape_destroy(&s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t f = data[0];
    openai_request_t r;
    memset(&r, 0, sizeof r);
    r.format = (openai_format_t)(f & 3) == 3 ? OPENAI_FORMAT_TEXT : (openai_format_t)(f & 3);
    r.format_schema = (char *)SCHEMA;
    r.format_strict = true;
    if (f & 4) {
        r.tools = TOOLS;
        r.n_tools = 2;
        r.tool_choice = (openai_tool_choice_t)((f >> 3) & 3);
        r.tool_choice_name = "f";
    }
    r.parallel_tool_calls = f & 32;
    if (f & 64) {
        memcpy(r.stop, STOPS, sizeof STOPS);
        r.n_stop = 4;
    }
    size_t cap = (f & 128) ? 64 : 0;
    r.max_tokens = data[1] == 255 ? -1 : data[1];

    out_t a = {ABUF_INIT, ABUF_INIT, 0}, b = {ABUF_INIT, ABUF_INIT, 0};
    const char *fa = NULL, *fb = NULL;
    char ea[320], eb[320];
    int ra = s_shape(&r, cap, data + 2, size - 2, false, &a, &fa, ea, sizeof ea);
    int rb = s_shape(&r, cap, data + 2, size - 2, true, &b, &fb, eb, sizeof eb);
    if (ra != -2 && rb != -2) {
        if (ra != rb || strcmp(fa, fb) != 0 || a.text.len != b.text.len ||
            (a.text.len && memcmp(a.text.data, b.text.data, a.text.len) != 0) ||
            a.calls.len != b.calls.len ||
            (a.calls.len && memcmp(a.calls.data, b.calls.data, a.calls.len) != 0))
            __builtin_trap();
        if (ra == SHAPE_INVALID && strcmp(ea, eb) != 0)
            __builtin_trap();
    }
    abuf_free(&a.text);
    abuf_free(&a.calls);
    abuf_free(&b.text);
    abuf_free(&b.calls);
    return 0;
}
