/*  Unit tests of protocol/arena_stream: every line kind and failure row of
    ARENA-UPSTREAM.md, split-anywhere feeding, TOOBIG, ABORT, the classify
    table, Retry-After forms and error-message extraction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/abuf.h"
#include "protocol/arena_stream.h"

/* ---- event recorder ---------------------------------------------------- */

typedef struct {
    abuf_t log;
    int abort_at; /* 1-based event number whose callback returns 1; 0: never */
    int events;
} recorder_t;

static const char *s_delta_name(delta_kind_t d)
{
    switch (d) {
    case DELTA_TEXT:
        return "text";
    case DELTA_REASONING:
        return "reasoning";
    case DELTA_IMAGE:
        return "image";
    case DELTA_CITATION:
        return "citation";
    }
    return "?";
}

/*  One line per event, e.g. "text(a):Hello" or "finish(a):stop/12/3". */
static int s_record(void *arg, const arena_event_t *ev)
{
    recorder_t *r = arg;
    abuf_t *b = &r->log;
    switch (ev->kind) {
    case ARENA_EV_DELTA:
        abuf_printf(b, "%s(%c):", s_delta_name(ev->delta), ev->participant);
        abuf_append(b, ev->text, ev->len);
        break;
    case ARENA_EV_ERROR:
        abuf_printf(b, "error(%c):", ev->participant);
        abuf_append(b, ev->text, ev->len);
        break;
    case ARENA_EV_FINISH:
        abuf_printf(b, "finish(%c):%s/%lld/%lld", ev->participant, ev->finish_reason,
                    ev->usage.prompt_tokens, ev->usage.completion_tokens);
        break;
    case ARENA_EV_ARENA_ERROR:
        abuf_printf(b, "arena_error(%c)", ev->participant);
        break;
    case ARENA_EV_META:
        abuf_printf(b, "meta(%c)", ev->participant);
        break;
    case ARENA_EV_UNKNOWN:
        assert_int_equal(ev->participant, '\0');
        abuf_puts(b, "unknown:");
        abuf_append(b, ev->text, ev->len);
        break;
    }
    abuf_puts(b, "\n");
    r->events++;
    return r->abort_at && r->events == r->abort_at;
}

/*  Feeds body cut at the given offsets (ascending, within len), then finishes.
    Returns the first non-OK code, or OK; the events go to r. */
static int s_run(const char *body, size_t len, const size_t *cuts, size_t ncuts, size_t max_line,
                 recorder_t *r)
{
    arena_stream_t *s = arena_stream_new(max_line);
    assert_non_null(s);
    size_t pos = 0;
    int rc = ARENA_STREAM_OK;
    for (size_t i = 0; i <= ncuts && rc == ARENA_STREAM_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rc = arena_stream_feed(s, body + pos, end - pos, s_record, r);
        pos = end;
    }
    if (rc == ARENA_STREAM_OK)
        rc = arena_stream_finish(s, s_record, r);
    arena_stream_destroy(&s);
    assert_null(s);
    return rc;
}

static char *s_events(const char *body, int *rc_out)
{
    recorder_t r = {ABUF_INIT, 0, 0};
    int rc = s_run(body, strlen(body), NULL, 0, 0, &r);
    if (rc_out)
        *rc_out = rc;
    abuf_append(&r.log, "", 0); /* terminated even when no event came */
    return abuf_steal(&r.log, NULL);
}

/* ---- every line kind --------------------------------------------------- */

static const struct {
    const char *body;
    const char *events;
} LINE_CASES[] = {
    {"a0:\"Hello\"\n", "text(a):Hello\n"},
    {"b0:\"Hi there\"\n", "text(b):Hi there\n"},
    {"a0:\"caf\\u00e9 \xE2\x98\x95\"\n", "text(a):caf\xC3\xA9 \xE2\x98\x95\n"},
    {"a0:\"line\\nbreak\"\n", "text(a):line\nbreak\n"},
    {"a0:\"\"\n", "text(a):\n"},
    {"ag:\"thinking...\"\n", "reasoning(a):thinking...\n"},
    {"bg:\"hmm\"\n", "reasoning(b):hmm\n"},
    {"a2:[{\"type\":\"image\",\"image\":\"https://x.test/1.png\"}]\n",
     "image(a):https://x.test/1.png\n"},
    {"a2:[{\"type\":\"image\",\"image\":\"https://x.test/1.png\"},"
     "{\"type\":\"image\",\"image\":\"https://x.test/2.png\"}]\n",
     "image(a):https://x.test/1.png\nimage(a):https://x.test/2.png\n"},
    {"a2:[{\"type\":\"routed_model\",\"model\":\"gpt\"}]\n", "meta(a)\n"},
    {"b2:[{\"type\":\"image\",\"image\":\"u\"},{\"type\":\"routed_model\"}]\n",
     "image(b):u\nmeta(b)\n"},
    {"a2:[{\"type\":\"image\",\"image\":42}]\n", "meta(a)\n"},
    {"a2:[]\n", "meta(a)\n"},
    {"a2:{\"type\":\"image\",\"image\":\"u\"}\n", "meta(a)\n"},
    {"ac:{\"toolCallId\":\"t1\",\"argsTextDelta\":\"{\\\"url\\\":\\\"https://s\\\"}\"}\n",
     "citation(a):{\"url\":\"https://s\"}\n"},
    {"ac:{\"toolCallId\":\"t1\"}\n", "meta(a)\n"},
    {"ac:\"text\"\n", "meta(a)\n"},
    {"a3:\"An error occurred\"\n", "error(a):An error occurred\n"},
    {"b3:{\"message\":\"bad\"}\n", "error(b):bad\n"},
    {"a3:42\n", "error(a):42\n"},
    {"ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":12,\"completionTokens\":3}}\n",
     "finish(a):stop/12/3\n"},
    {"bd:{\"finishReason\":\"length\",\"usage\":{\"promptTokens\":5,\"completionTokens\":9}}\n",
     "finish(b):length/5/9\n"},
    {"ad:{\"finishReason\":\"content-filter\"}\n", "finish(a):content_filter/-1/-1\n"},
    {"ad:{\"finishReason\":\"error\"}\n", "finish(a):error/-1/-1\n"},
    {"ad:{\"finishReason\":\"unknown\"}\n", "finish(a):unknown/-1/-1\n"},
    {"ad:{\"finishReason\":\"tool-calls\"}\n", "finish(a):unknown/-1/-1\n"},
    {"ad:{\"finishReason\":7}\n", "finish(a):unknown/-1/-1\n"},
    {"ad:{}\n", "finish(a):unknown/-1/-1\n"},
    {"ad:{\"usage\":{\"promptTokens\":4},\"finishReason\":\"stop\"}\n", "finish(a):stop/4/-1\n"},
    {"ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":-3,\"completionTokens\":2.0}}\n",
     "finish(a):stop/-1/2\n"},
    {"ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":\"7\",\"completionTokens\":2.5}}\n",
     "finish(a):stop/-1/-1\n"},
    {"ad:\"stop\"\n", "meta(a)\n"},
    {"ae:{\"finishReason\":\"stop\",\"isContinued\":false}\n", "meta(a)\n"},
    {"af:{\"messageId\":\"0198-abc\"}\n", "meta(a)\n"},
    {"a9:{\"toolCallId\":\"x\"}\n", "meta(a)\n"},
    {"a0:123\n", "meta(a)\n"},
    {"ag:null\n", "meta(a)\n"},
    {"a0:\"hasArenaError\"\n", "arena_error(a)\n"},
    {"b0:\"hasArenaError\"\n", "arena_error(b)\n"},
    {"a0:\"hasArenaError \"\n", "text(a):hasArenaError \n"},
    {"data: a0:\"x\"\n", "text(a):x\n"},
    {"data:a0:\"x\"\n", "text(a):x\n"},
    {"a0:\"x\"\r\n", "text(a):x\n"},
    {"a0:  \"spaced\"  \n", "text(a):spaced\n"},
    {"\n\n \t \r\n\ndata: \n", ""},
    {"hello world\n", "unknown:hello world\n"},
    {"junk\r\n", "unknown:junk\n"},
    {"a0:\"unterminated\n", "unknown:a0:\"unterminated\n"},
    {"a0:\"x\" trailing\n", "unknown:a0:\"x\" trailing\n"},
    {"c0:\"x\"\n", "unknown:c0:\"x\"\n"},
    {"a0 \"x\"\n", "unknown:a0 \"x\"\n"},
    {"a:\"x\"\n", "unknown:a:\"x\"\n"},
    {"a0:\n", "unknown:a0:\n"},
    {"a-:\"x\"\n", "unknown:a-:\"x\"\n"},
    {"a0:\"\\u0000\"\n", "unknown:a0:\"\\u0000\"\n"},
    {"a0:\"\xC3\"\n", "unknown:a0:\"\xC3\"\n"},
    {"data: [DONE]\n", "unknown:[DONE]\n"},
    /* no final newline: finish parses the tail */
    {"a0:\"tail\"", "text(a):tail\n"},
    /* the order trap: usage after finishReason must not be lost */
    {"a0:\"A\"\nad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":1,\"completionTokens\":2}"
     "}"
     "\nb0:\"B\"\nbd:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":3,\"completionTokens\":"
     "4}}"
     "\n",
     "text(a):A\nfinish(a):stop/1/2\ntext(b):B\nfinish(b):stop/3/4\n"},
};

static void test_line_kinds(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof LINE_CASES / sizeof LINE_CASES[0]; i++) {
        int rc;
        char *got = s_events(LINE_CASES[i].body, &rc);
        if (strcmp(got, LINE_CASES[i].events) != 0 || rc != ARENA_STREAM_OK)
            fail_msg("case %zu: body %s\n got: %s\nwant: %s\nrc %d", i, LINE_CASES[i].body, got,
                     LINE_CASES[i].events, rc);
        free(got);
    }
}

/* ---- counters ---------------------------------------------------------- */

static size_t s_count(const char *body)
{
    arena_stream_t *s = arena_stream_new(0);
    assert_non_null(s);
    assert_int_equal(arena_stream_feed(s, body, strlen(body), NULL, NULL), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_finish(s, NULL, NULL), ARENA_STREAM_OK);
    size_t n = arena_stream_content_deltas(s);
    arena_stream_destroy(&s);
    return n;
}

static void test_content_deltas(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t n;
    } cases[] = {
        {"", 0},
        {"a0:\"x\"\n", 1},
        {"a0:\"x\"\nag:\"y\"\na2:[{\"type\":\"image\",\"image\":\"u\"},"
         "{\"type\":\"image\",\"image\":\"v\"}]\n",
         4},
        {"a0:\"hasArenaError\"\nad:{\"finishReason\":\"error\"}\n", 0},
        {"ac:{\"argsTextDelta\":\"q\"}\na3:\"e\"\naf:{}\nae:{}\n", 0},
        {"a0:\"\"\nag:\"\"\n", 0},
        {"junk\nb0:\"x\"", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (s_count(cases[i].body) != cases[i].n)
            fail_msg("case %zu: %zu content deltas, want %zu", i, s_count(cases[i].body),
                     cases[i].n);
    assert_int_equal(arena_stream_content_deltas(NULL), 0);
}

/* ---- split anywhere ---------------------------------------------------- */

static const char SPLIT_BODY[] =
    "af:{\"messageId\":\"0198a0b1-0000-7000-8000-000000000001\"}\n"
    "a2:[{\"type\":\"routed_model\",\"model\":\"m\"}]\r\n"
    "\n"
    "ag:\"r\xC3\xA9\xE2\x80\xA6son\"\n"
    "data: a0:\"Gr\xC3\xBC\xC3\x9F \xF0\x9F\x98\x80 \"\n"
    "a0:\"\xE6\x97\xA5\xE6\x9C\xAC\"\r\n"
    "ac:{\"toolCallId\":\"t\",\"argsTextDelta\":\"cite\"}\n"
    "not a line\n"
    "a2:[{\"type\":\"image\",\"image\":\"https://img/1\"}]\n"
    "a3:\"warn\"\n"
    "a0:\"hasArenaError\"\n"
    "ae:{\"finishReason\":\"stop\"}\n"
    "ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":10,\"completionTokens\":20}}";

static const char SPLIT_EVENTS[] = "meta(a)\n"
                                   "meta(a)\n"
                                   "reasoning(a):r\xC3\xA9\xE2\x80\xA6son\n"
                                   "text(a):Gr\xC3\xBC\xC3\x9F \xF0\x9F\x98\x80 \n"
                                   "text(a):\xE6\x97\xA5\xE6\x9C\xAC\n"
                                   "citation(a):cite\n"
                                   "unknown:not a line\n"
                                   "image(a):https://img/1\n"
                                   "error(a):warn\n"
                                   "arena_error(a)\n"
                                   "meta(a)\n"
                                   "finish(a):stop/10/20\n";

static void s_expect_split(const size_t *cuts, size_t ncuts)
{
    recorder_t r = {ABUF_INIT, 0, 0};
    int rc = s_run(SPLIT_BODY, sizeof SPLIT_BODY - 1, cuts, ncuts, 0, &r);
    assert_int_equal(rc, ARENA_STREAM_OK);
    if (strcmp(r.log.data ? r.log.data : "", SPLIT_EVENTS) != 0)
        fail_msg("cuts at %zu (%zu cuts): got\n%s", ncuts ? cuts[0] : 0, ncuts, r.log.data);
    abuf_free(&r.log);
}

static void test_split_anywhere(void **state)
{
    (void)state;
    size_t len = sizeof SPLIT_BODY - 1;
    s_expect_split(NULL, 0);
    for (size_t i = 0; i <= len; i++)
        s_expect_split(&i, 1);
    for (size_t i = 0; i < len; i += 3)
        for (size_t j = i; j <= len; j += 11) {
            size_t cuts[2] = {i, j};
            s_expect_split(cuts, 2);
        }
    size_t *every = malloc(len * sizeof *every);
    assert_non_null(every);
    for (size_t i = 0; i < len; i++)
        every[i] = i + 1;
    s_expect_split(every, len); /* one byte at a time */
    free(every);
}

/*  Empty feeds between bytes change nothing either. */
static void test_empty_feeds(void **state)
{
    (void)state;
    arena_stream_t *s = arena_stream_new(0);
    recorder_t r = {ABUF_INIT, 0, 0};
    assert_int_equal(arena_stream_feed(s, NULL, 0, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_feed(s, "a0:", 3, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_feed(s, "", 0, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_feed(s, "\"z\"\n", 4, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_finish(s, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_finish(s, s_record, &r), ARENA_STREAM_OK);
    assert_string_equal(r.log.data, "text(a):z\n");
    abuf_free(&r.log);
    arena_stream_destroy(&s);
    arena_stream_destroy(&s); /* idempotent */
    arena_stream_destroy(NULL);
}

/* ---- TOOBIG and ABORT -------------------------------------------------- */

static void test_toobig(void **state)
{
    (void)state;
    /* max_line 15: "a0:\"0123456789\"" is exactly 15 bytes, one more is too big */
    static const char body[] = "a0:\"0123456789\"\na0:\"01234567890\"\na0:\"after\"\n";
    size_t len = sizeof body - 1;
    for (size_t i = 0; i <= len; i++) {
        recorder_t r = {ABUF_INIT, 0, 0};
        int rc = s_run(body, len, &i, 1, 15, &r);
        assert_int_equal(rc, ARENA_STREAM_TOOBIG);
        assert_string_equal(r.log.data, "text(a):0123456789\n");
        abuf_free(&r.log);
    }
    /* a partial line is refused as soon as it exceeds the limit, and the
       error is sticky */
    arena_stream_t *s = arena_stream_new(8);
    recorder_t r = {ABUF_INIT, 0, 0};
    assert_int_equal(arena_stream_feed(s, "a0:\"1234", 8, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_feed(s, "5", 1, s_record, &r), ARENA_STREAM_TOOBIG);
    assert_int_equal(arena_stream_feed(s, "\n", 1, s_record, &r), ARENA_STREAM_TOOBIG);
    assert_int_equal(arena_stream_feed(s, "a0:\"x\"\n", 7, s_record, &r), ARENA_STREAM_TOOBIG);
    assert_int_equal(arena_stream_finish(s, s_record, &r), ARENA_STREAM_TOOBIG);
    assert_int_equal(r.events, 0);
    arena_stream_destroy(&s);
    /* the '\r' of CRLF counts towards the line */
    s = arena_stream_new(6);
    assert_int_equal(arena_stream_feed(s, "a0:\"x\"\n", 7, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_feed(s, "a0:\"x\"\r\n", 8, s_record, &r), ARENA_STREAM_TOOBIG);
    assert_int_equal(r.events, 1);
    arena_stream_destroy(&s);
    abuf_free(&r.log);
}

static void test_abort(void **state)
{
    (void)state;
    static const char body[] = "a0:\"1\"\na2:[{\"type\":\"image\",\"image\":\"u\"},"
                               "{\"type\":\"image\",\"image\":\"v\"}]\na0:\"3\"\n";
    for (int at = 1; at <= 3; at++) {
        arena_stream_t *s = arena_stream_new(0);
        recorder_t r = {ABUF_INIT, at, 0};
        assert_int_equal(arena_stream_feed(s, body, sizeof body - 1, s_record, &r),
                         ARENA_STREAM_ABORT);
        assert_int_equal(r.events, at);
        assert_int_equal(arena_stream_feed(s, "a0:\"x\"\n", 7, s_record, &r), ARENA_STREAM_ABORT);
        assert_int_equal(arena_stream_finish(s, s_record, &r), ARENA_STREAM_ABORT);
        assert_int_equal(r.events, at);
        abuf_free(&r.log);
        arena_stream_destroy(&s);
    }
    /* abort from the final, newline-less line */
    arena_stream_t *s = arena_stream_new(0);
    recorder_t r = {ABUF_INIT, 1, 0};
    assert_int_equal(arena_stream_feed(s, "a0:\"x\"", 6, s_record, &r), ARENA_STREAM_OK);
    assert_int_equal(arena_stream_finish(s, s_record, &r), ARENA_STREAM_ABORT);
    assert_int_equal(arena_stream_finish(s, s_record, &r), ARENA_STREAM_ABORT);
    abuf_free(&r.log);
    arena_stream_destroy(&s);
}

/* ---- classify ---------------------------------------------------------- */

static const struct {
    int status;
    const char *body;
    arena_fail_t want;
} CLASSIFY_CASES[] = {
    {200, "a0:\"x\"\n", ARENA_FAIL_NONE},
    {204, "", ARENA_FAIL_NONE},
    {200, "<title>Just a moment...</title>", ARENA_FAIL_NONE},
    {429, "{\"error\":\"Too many requests\"}", ARENA_FAIL_RATE_LIMIT},
    {429, "<title>Just a moment...</title>", ARENA_FAIL_RATE_LIMIT},
    {403, "{\"error\":\"recaptcha validation failed\"}", ARENA_FAIL_RECAPTCHA},
    {403, "{\"error\":\"reCAPTCHA Validation Failed\"}", ARENA_FAIL_RECAPTCHA},
    {403, "{\"error\":\"forbidden\"}", ARENA_FAIL_OTHER},
    {403, "<!DOCTYPE html><html><head><title>Just a moment...</title></head>",
     ARENA_FAIL_CLOUDFLARE},
    {503, "<html><title>Just a moment...</title></html>", ARENA_FAIL_CLOUDFLARE},
    {403, "<noscript>Enable JavaScript and cookies to continue</noscript>", ARENA_FAIL_CLOUDFLARE},
    {403, "<title>Attention Required! | Cloudflare</title> ... g-recaptcha", ARENA_FAIL_CLOUDFLARE},
    {520, "<TITLE>just a moment...</TITLE>", ARENA_FAIL_CLOUDFLARE},
    {401, "{\"error\":\"User does not have access to evaluation session 0198\"}",
     ARENA_FAIL_SESSION},
    {401, "", ARENA_FAIL_LOGIN},
    {401, "{\"error\":\"Unauthorized\"}", ARENA_FAIL_LOGIN},
    /* 2026 (ARENA-UPSTREAM-2026.md, "Errors seen") */
    {400, "{\"error\":\"'direct' mode is not allowed when starting a new conversation\"}",
     ARENA_FAIL_MODE},
    {400, "{\"error\":\"Selected model is not available for user selection\"}",
     ARENA_FAIL_NOT_SELECTABLE},
    {400, "{\"error\":\"Bad next turn request in Battles in Direct mode.\"}", ARENA_FAIL_NEXT_TURN},
    {404, "{\"error\":\"Models not found: 0195b2a4-7d3e-7c1a-9f00-1234567890ab\"}",
     ARENA_FAIL_STALE_MODEL},
    {429, "{\"error\":\"prompt failed\"}", ARENA_FAIL_ACCOUNT_FLAG},
    {400, "{\"error\":\"Message already has feedback, cannot retry\"}", ARENA_FAIL_LOCKED},
    {400, "{\"error\":\"duplicate key value violates unique constraint\"}", ARENA_FAIL_DUPLICATE},
    {400, "{\"error\":\"Duplicate message id\"}", ARENA_FAIL_DUPLICATE},
    {400, "{\"name\":\"ZodError\",\"issues\":[{\"message\":\"Required\"}]}", ARENA_FAIL_SHAPE},
    {400, "{\"error\":{\"name\":\"ZodError\",\"message\":\"duplicate key\"}}", ARENA_FAIL_SHAPE},
    {400, "{\"error\":\"bad request\"}", ARENA_FAIL_OTHER},
    {400, NULL, ARENA_FAIL_OTHER},
    {422, "{\"error\":\"Request rejected: Content violates our terms of use\"}",
     ARENA_FAIL_MODERATION},
    {413, "Request Entity Too Large", ARENA_FAIL_TOO_LARGE},
    {500, "{\"error\":\"Internal Server Error\"}", ARENA_FAIL_OTHER},
    {502, "Bad gateway", ARENA_FAIL_OTHER},
    {404, "not found", ARENA_FAIL_OTHER},
    {0, "", ARENA_FAIL_OTHER},
    {-1, "", ARENA_FAIL_OTHER},
    {199, "", ARENA_FAIL_OTHER},
    {300, "", ARENA_FAIL_OTHER},
};

static void test_classify(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CLASSIFY_CASES / sizeof CLASSIFY_CASES[0]; i++) {
        const char *body = CLASSIFY_CASES[i].body;
        arena_fail_t got =
            arena_classify(CLASSIFY_CASES[i].status, "text/html", body, body ? strlen(body) : 0);
        if (got != CLASSIFY_CASES[i].want)
            fail_msg("case %zu (%d %s): got %s want %s", i, CLASSIFY_CASES[i].status,
                     body ? body : "(null)", arena_fail_name(got),
                     arena_fail_name(CLASSIFY_CASES[i].want));
    }
    /* only the given length is read */
    static const char cut[] = "{\"error\":\"recaptcha\"}";
    assert_int_equal(arena_classify(403, NULL, cut, 10), ARENA_FAIL_OTHER);
    assert_int_equal(arena_classify(403, NULL, cut, sizeof cut - 1), ARENA_FAIL_RECAPTCHA);
    /* only the first 256 KiB are searched */
    static const char marker[] = "<title>Just a moment...</title>";
    size_t big = 256 * 1024 + 100;
    char *page = malloc(big);
    assert_non_null(page);
    memset(page, ' ', big);
    memcpy(page + 256 * 1024 - (sizeof marker - 1), marker, sizeof marker - 1);
    assert_int_equal(arena_classify(403, NULL, page, big), ARENA_FAIL_CLOUDFLARE);
    memset(page, ' ', big);
    memcpy(page + 256 * 1024 - (sizeof marker - 2), marker, sizeof marker - 1);
    assert_int_equal(arena_classify(403, NULL, page, big), ARENA_FAIL_OTHER);
    free(page);
}

static void test_fail_names_retryable(void **state)
{
    (void)state;
    static const struct {
        arena_fail_t f;
        const char *name;
        int retryable;
        int permanent;
    } cases[] = {
        {ARENA_FAIL_NONE, "none", 0, 0},
        {ARENA_FAIL_RATE_LIMIT, "rate_limit", 1, 0},
        {ARENA_FAIL_RECAPTCHA, "recaptcha", 1, 0},
        {ARENA_FAIL_CLOUDFLARE, "cloudflare", 1, 0},
        {ARENA_FAIL_SESSION, "session", 0, 0},
        {ARENA_FAIL_LOCKED, "locked", 0, 1},
        {ARENA_FAIL_DUPLICATE, "duplicate", 1, 0},
        {ARENA_FAIL_SHAPE, "shape", 0, 1},
        {ARENA_FAIL_MODERATION, "moderation", 0, 1},
        {ARENA_FAIL_TOO_LARGE, "too_large", 0, 1},
        {ARENA_FAIL_OTHER, "other", 1, 0},
        {ARENA_FAIL_MODE, "mode", 0, 1},
        {ARENA_FAIL_NOT_SELECTABLE, "not_selectable", 0, 1},
        {ARENA_FAIL_NEXT_TURN, "next_turn", 0, 1},
        {ARENA_FAIL_STALE_MODEL, "stale_model", 1, 0},
        {ARENA_FAIL_ACCOUNT_FLAG, "account_flag", 1, 0},
        {ARENA_FAIL_LOGIN, "login", 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(arena_fail_name(cases[i].f), cases[i].name);
        assert_int_equal(arena_fail_retryable(cases[i].f), cases[i].retryable);
        assert_int_equal(arena_fail_permanent(cases[i].f), cases[i].permanent);
        /* nothing is both */
        assert_false(cases[i].retryable && cases[i].permanent);
    }
    assert_string_equal(arena_fail_name((arena_fail_t)99), "invalid");
    assert_int_equal(arena_fail_retryable((arena_fail_t)99), 0);
}

/*  The field a ZodError names, raw or escaped inside a string. */
static void test_zod_field(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *field;
    } cases[] = {
        {"{\"name\":\"ZodError\",\"issues\":[{\"code\":\"invalid_type\",\"path\":[\"userMessage\","
         "\"content\"],\"message\":\"Required\"}]}",
         "userMessage.content"},
        {"{\"error\":\"ZodError: "
         "[{\\\"code\\\":\\\"invalid_enum_value\\\",\\\"path\\\":[\\\"mode\\\"]}]\"}",
         "mode"},
        {"{\"issues\":[{\"path\":[\"userMessage\",\"experimental_attachments\",0,\"url\"]}]}",
         "userMessage.experimental_attachments.0.url"},
        {"{\"issues\":[{\"path\": [ \"a\" , \"b\" ]}]}", "a.b"},
        {"{\"issues\":[{\"path\":[]}]}", ""},
        {"{\"error\":\"no path here\"}", ""},
        {"{\"path\":\"x\"}", ""},
        {"path", ""},
        {"{\"path\":[\"unterminated", "unterminated"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        arena_zod_field(cases[i].body, strlen(cases[i].body), out, sizeof out);
        assert_string_equal(out, cases[i].field);
    }
    char tiny[5];
    const char *b = "{\"path\":[\"userMessage\"]}";
    arena_zod_field(b, strlen(b), tiny, sizeof tiny);
    assert_string_equal(tiny, "user");
    arena_zod_field(NULL, 10, tiny, sizeof tiny);
    assert_string_equal(tiny, "");
}

/* ---- Retry-After ------------------------------------------------------- */

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define NOW_MS 784111777000LL
#define WEEK_MS (7LL * 24 * 3600 * 1000)

static void test_retry_after(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        long long want;
    } cases[] = {
        {NULL, -1},
        {"", -1},
        {"   ", -1},
        {"0", 0},
        {"120", 120000},
        {" 5\t", 5000},
        {"007", 7000},
        {"604800", WEEK_MS},
        {"604801", WEEK_MS},
        {"99999999999999999999999999999", WEEK_MS},
        {"-5", -1},
        {"+5", -1},
        {"1.5", -1},
        {"5s", -1},
        {"5 5", -1},
        {"soon", -1},
        {"Sun, 06 Nov 1994 08:50:37 GMT", 60000},
        {"Sun, 06 Nov 1994 08:49:37 GMT", 0},
        {"Sat, 05 Nov 1994 08:49:37 GMT", 0},
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Mon, 07 Nov 1994 08:49:37 GMT", 24LL * 3600 * 1000},
        {"Fri, 01 Jan 2100 00:00:00 GMT", WEEK_MS},
        {"  Sun, 06 Nov 1994 08:50:37 GMT ", 60000},
        {"Sun, 06 Nov 1994 08:50:37 UTC", -1},
        {"Sun, 06 Nov 1994 08:50:37 GMTX", -1},
        {"Sunday, 06-Nov-94 08:49:37 GMT", -1},
        {"Sun Nov  6 08:49:37 1994", -1},
        {"Sun, 32 Nov 1994 08:50:37 GMT", -1},
        {"Sun, 06 Foo 1994 08:50:37 GMT", -1},
        {"Sun, 06 Nov 1994 25:50:37 GMT", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long got = arena_retry_after_ms(cases[i].value, NOW_MS);
        if (got != cases[i].want)
            fail_msg("case %zu \"%s\": got %lld want %lld", i,
                     cases[i].value ? cases[i].value : "(null)", got, cases[i].want);
    }
    /* an overlong value is refused */
    char long_value[200];
    memset(long_value, '1', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    assert_int_equal(arena_retry_after_ms(long_value, NOW_MS), -1);
}

/* ---- error messages ---------------------------------------------------- */

static int s_valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (n == 0)
            return 0;
        for (int k = 1; k < n; k++)
            if ((p[k] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

static void test_error_message(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"error\":\"recaptcha validation failed\"}", "recaptcha validation failed"},
        {"{\"error\":{\"message\":\"nested\",\"code\":1}}", "nested"},
        {"{\"message\":\"top\"}", "top"},
        {"  {\"error\":\"\",\"message\":\"fallback\"}", "fallback"},
        {"{\"error\":\"multi\\nline\\ttext\"}", "multi line text"},
        {"{\"name\":\"ZodError\",\"issues\":[]}", "{\"name\":\"ZodError\",\"issues\":[]}"},
        {"{\"error\":", "{\"error\":"},
        {"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>x</body>",
         "Just a moment..."},
        {"<html><TITLE lang=en>\n  Attention Required! | Cloudflare\n</TITLE>",
         "Attention Required! | Cloudflare"},
        {"<html><title></title><body>Oops</body>", "<html><title></title><body>Oops</body>"},
        {"Message already has feedback, cannot retry",
         "Message already has feedback, cannot retry"},
        {"  line one\r\n\r\nline\x01two  ", "line one line two"},
        {"bad \xFF\xC0 bytes \xC3\xA9", "bad bytes \xC3\xA9"},
        /* C1 controls are controls too (U+0085 NEL, U+009F); U+00A0 is text */
        {"c1\xC2\x85next\xC2\x9F"
         "end\x7F!",
         "c1 next end !"},
        {"nb\xC2\xA0sp", "nb\xC2\xA0sp"},
        /* overlong, surrogate and past U+10FFFF: dropped byte by byte */
        {"a\xC1\xBF"
         "b\xED\xA0\x80"
         "c\xF4\x90\x80\x80"
         "d",
         "abcd"},
        {"", ""},
        {"\n\t ", ""},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(out, 'X', sizeof out);
        arena_error_message(cases[i].body, strlen(cases[i].body), out, sizeof out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\" want \"%s\"", i, out, cases[i].want);
    }
    memset(out, 'X', sizeof out);
    arena_error_message(NULL, 5, out, sizeof out);
    assert_string_equal(out, "");
    arena_error_message("x", 1, NULL, 10);
    arena_error_message("x", 1, out, 0);
}

static void test_error_message_bounds(void **state)
{
    (void)state;
    /* at most 200 characters from a long body */
    char body[1000];
    memset(body, 'a', sizeof body);
    char out[512];
    arena_error_message(body, sizeof body, out, sizeof out);
    assert_int_equal(strlen(out), 200);
    /* 200 characters, not bytes, of multi-byte text */
    abuf_t b = ABUF_INIT;
    for (int i = 0; i < 300; i++)
        abuf_puts(&b, "\xC3\xA9");
    arena_error_message(b.data, b.len, out, sizeof out);
    assert_int_equal(strlen(out), 400);
    /* a small buffer never ends mid-sequence and is always terminated */
    for (size_t outlen = 1; outlen <= 12; outlen++) {
        char small[16];
        memset(small, 'X', sizeof small);
        arena_error_message(b.data, b.len, small, outlen);
        assert_true(strlen(small) < outlen);
        assert_int_equal(strlen(small), ((outlen - 1) / 2) * 2);
        assert_true(s_valid_utf8(small));
        assert_int_equal(small[outlen], 'X'); /* nothing written past outlen */
    }
    abuf_free(&b);
    /* 4-byte sequences too */
    static const char emoji[] = "{\"error\":\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\"}";
    char small[8];
    arena_error_message(emoji, sizeof emoji - 1, small, 8);
    assert_string_equal(small, "\xF0\x9F\x98\x80");
    arena_error_message(emoji, sizeof emoji - 1, small, 4);
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_kinds),     cmocka_unit_test(test_content_deltas),
        cmocka_unit_test(test_split_anywhere), cmocka_unit_test(test_empty_feeds),
        cmocka_unit_test(test_toobig),         cmocka_unit_test(test_abort),
        cmocka_unit_test(test_classify),       cmocka_unit_test(test_fail_names_retryable),
        cmocka_unit_test(test_zod_field),      cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_error_message),  cmocka_unit_test(test_error_message_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
