/*  libFuzzer driver for protocol/arena_stream: the input (after one control
    byte) is fed whole and again in pieces whose sizes derive from the control
    byte; both runs must report the same events and the same result, and
    every delta/error text must be valid for its length. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/abuf.h"
#include "protocol/arena_stream.h"

static int s_digest(void *arg, const arena_event_t *ev)
{
    abuf_t *b = arg;
    if (ev->text == NULL && ev->len != 0)
        __builtin_trap();
    if (ev->kind == ARENA_EV_FINISH && ev->finish_reason == NULL)
        __builtin_trap();
    abuf_printf(b, "%d %c %d %lld %lld %s %zu:", (int)ev->kind,
                ev->participant ? ev->participant : '-', (int)ev->delta, ev->usage.prompt_tokens,
                ev->usage.completion_tokens, ev->kind == ARENA_EV_FINISH ? ev->finish_reason : "",
                ev->len);
    abuf_append(b, ev->text, ev->len);
    abuf_puts(b, "\n");
    return 0;
}

/*  Feeds data in pieces of 1..16 bytes, the sizes cycling through a pattern
    seeded by ctl, then finishes. Returns the first non-OK code. */
static int s_run(const uint8_t *data, size_t len, uint8_t ctl, size_t max_line, abuf_t *out,
                 size_t *deltas)
{
    arena_stream_t *s = arena_stream_new(max_line);
    if (!s)
        return 1;
    int rc = ARENA_STREAM_OK;
    size_t pos = 0;
    unsigned step = ctl;
    while (pos < len && rc == ARENA_STREAM_OK) {
        size_t n = ctl == 0 ? len : (step % 16) + 1;
        step = step * 33u + 7u;
        if (n > len - pos)
            n = len - pos;
        rc = arena_stream_feed(s, (const char *)data + pos, n, s_digest, out);
        pos += n;
    }
    if (rc == ARENA_STREAM_OK)
        rc = arena_stream_finish(s, s_digest, out);
    *deltas = arena_stream_content_deltas(s);
    arena_stream_destroy(&s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    /* small limits exercise TOOBIG; 0 is the 16 MiB default */
    size_t max_line = (ctl & 0x80) ? (size_t)(ctl & 0x7F) + 4 : 0;
    abuf_t whole = ABUF_INIT, pieces = ABUF_INIT;
    size_t d1 = 0, d2 = 0;
    int rc1 = s_run(data + 1, size - 1, 0, max_line, &whole, &d1);
    int rc2 = s_run(data + 1, size - 1, ctl | 1, max_line, &pieces, &d2);
    if (rc1 != rc2 || d1 != d2 || whole.len != pieces.len ||
        (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0))
        __builtin_trap();
    abuf_free(&whole);
    abuf_free(&pieces);
    return 0;
}
