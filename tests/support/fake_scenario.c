/*  fake_scenario — what the fake LMArena answers to a valid request: one
    builder per scenario of docs/testing.md turns a parsed directive into a
    response plan (status, headers, body in ARENA-UPSTREAM.md's line format,
    chunking and pacing, ending). A 2026 direct-battle's 200 answers also
    carry participant B's lines (b…), woven between A's. Pure; any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fake_arena.h"

#define S_TEXT_TYPE "text/plain; charset=utf-8"
#define S_JSON_TYPE "application/json"
#define S_HTML_TYPE "text/html; charset=UTF-8"
#define S_PIECES 3                  /* default pieces of an answer */
#define S_MAX_COUNT 100000          /* pieces, chunks, repeats */
#define S_MAX_MS 600000             /* any delay */
#define S_LONG_DEFAULT 200000       /* characters */
#define S_LONG_MAX 20000000         /* characters */
#define S_LONG_LINE 512             /* characters per a0 line */
#define S_LONG_CHUNK 8192           /* bytes per chunk */
#define S_SPLIT_MAX 40              /* bytes per chunk with split=1 */
#define S_MIDCLOSE_WAIT 0           /* ms between midclose's last chunk and the drop */
#define S_MAX_PLAN_CHUNKS 10000000u /* bound on one plan */

/* Keys every scenario takes, and the shared sets. */
#define S_COMMON "ttfb bfail"
#define S_FORMAT "prefix split seed gap"
#define S_ANSWER "text piece finish pt ct usage " S_FORMAT

static const char s_cloudflare_html[] =
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\">"
    "<meta http-equiv=\"X-UA-Compatible\" content=\"IE=Edge\">"
    "<meta name=\"robots\" content=\"noindex,nofollow\">"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
    "<style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;"
    "-webkit-text-size-adjust:100%;color:#313131;font-family:system-ui,-apple-system,"
    "BlinkMacSystemFont,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,\"Noto Sans\",sans-serif}"
    "body{display:flex;flex-direction:column;height:100vh;min-height:100vh}"
    ".main-content{margin:8rem auto;max-width:60rem;padding-left:1.5rem}</style>"
    "<meta http-equiv=\"refresh\" content=\"390\"></head><body class=\"no-js\">"
    "<div class=\"main-wrapper\" role=\"main\"><div class=\"main-content\">"
    "<h1 class=\"zone-name-title h1\">lmarena.ai</h1>"
    "<h2 class=\"h2\" id=\"challenge-running\">Verifying you are human. This may take a few "
    "seconds.</h2><noscript><div id=\"challenge-error-title\"><div class=\"h2\">"
    "<span class=\"icon-wrapper\"><div class=\"heading-icon warning-icon\"></div></span>"
    "<span id=\"challenge-error-text\">Enable JavaScript and cookies to continue</span>"
    "</div></div></noscript><div id=\"challenge-body-text\" class=\"core-msg spacer\">"
    "lmarena.ai needs to review the security of your connection before proceeding.</div>"
    "</div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: \"lmarena.ai\","
    "cType: 'managed',cRay: '8f3a1c2b9d4e5f60',cH: 'fake',cUPMDTk: \"\\/?__cf_chl_tk=fake\","
    "cFPWv: 'b',cITimeS: '1700000000'};var cpo=document.createElement('script');"
    "cpo.src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1?ray=8f3a1c2b9d4e5f60';"
    "document.getElementsByTagName('head')[0].appendChild(cpo);}());</script>"
    "<div class=\"footer\" role=\"contentinfo\"><div class=\"footer-inner\">"
    "<div class=\"clearfix diagnostic-wrapper\"><div class=\"ray-id\">Ray ID: "
    "<code>8f3a1c2b9d4e5f60</code></div></div><div class=\"text-center\" "
    "id=\"footer-text\">Performance &amp; security by Cloudflare</div></div></div>"
    "</body></html>";

const char *fake_scenario_cloudflare_html(void)
{
    return s_cloudflare_html;
}

static const char s_moderation[] = "Request rejected: Content violates our terms of use. Please "
                                   "review our content policy and modify your prompt.";

/* Cycled by the long scenario: ASCII, 2-, 3- and 4-byte UTF-8. */
static const char s_long_pattern[] = "The quick brown fox é 漢字 😀 jumps over the lazy dog. ";

typedef struct {
    fake_plan_t *p;
    const fake_scenario_in_t *in;
    int prefix; /* "data: " before every line */
    int bytes;  /* chunks travel as raw bytes (fake_scenario_plan_bytes) */
    int recut;  /* long: re-cut into ~8 KiB chunks once the lines are final */
    char *err;
    size_t errlen;
} s_ctx_t;

typedef int(s_run_fn)(s_ctx_t *c);

/* ---- helpers ------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static int s_fail(s_ctx_t *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *s_get(s_ctx_t *c, const char *key)
{
    return fake_directive_get(c->in->d, key);
}

/*  Reads key as a decimal in [min, max], dflt when absent. */
static int s_num(s_ctx_t *c, const char *key, unsigned long dflt, unsigned long min,
                 unsigned long max, unsigned long *out)
{
    const char *v = s_get(c, key);
    *out = dflt;
    if (!v)
        return 0;
    unsigned long n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || p - v > 12)
            return s_fail(c, "%s=%s: not a number", key, v);
        n = n * 10 + (unsigned long)(*p - '0');
    }
    if (n < min || n > max)
        return s_fail(c, "%s=%s: not in %lu..%lu", key, v, min, max);
    *out = n;
    return 0;
}

static int s_oom(s_ctx_t *c)
{
    return s_fail(c, "out of memory");
}

static size_t s_next_char(const char *s, size_t len, size_t i)
{
    for (i++; i < len && ((unsigned char)s[i] & 0xC0) == 0x80; i++)
        ;
    return i;
}

/*  First code point boundary at or after i. */
static size_t s_boundary(const char *s, size_t len, size_t i)
{
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

size_t fake_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i = s_next_char(s, len, i))
        n++;
    return n;
}

int fake_plan_add_chunk(fake_plan_t *p, size_t off, size_t len, unsigned delay_ms)
{
    if (p->n_chunks == p->cap_chunks) {
        size_t cap = p->cap_chunks ? p->cap_chunks * 2 : 16;
        if (cap > S_MAX_PLAN_CHUNKS)
            return -1;
        fake_chunk_t *c = realloc(p->chunks, cap * sizeof *c);
        if (!c)
            return -1;
        p->chunks = c;
        p->cap_chunks = cap;
    }
    p->chunks[p->n_chunks++] = (fake_chunk_t){off, len, delay_ms};
    return 0;
}

void fake_plan_clear(fake_plan_t *p)
{
    if (!p)
        return;
    abuf_free(&p->body);
    free(p->chunks);
    memset(p, 0, sizeof *p);
}

/* ---- lines --------------------------------------------------------------- */

static int s_line_open(s_ctx_t *c, const char *code, size_t *start)
{
    *start = c->p->body.len;
    if (c->prefix && abuf_puts(&c->p->body, "data: ") < 0)
        return -1;
    return abuf_printf(&c->p->body, "%s:", code);
}

static int s_line_close(s_ctx_t *c, size_t start, unsigned delay_ms)
{
    if (abuf_append(&c->p->body, "\n", 1) < 0)
        return -1;
    return fake_plan_add_chunk(c->p, start, c->p->body.len - start, delay_ms);
}

/*  code:"s" */
static int s_line_str(s_ctx_t *c, const char *code, const char *s, size_t len, unsigned delay_ms)
{
    size_t start;
    if (s_line_open(c, code, &start) < 0 || abuf_append(&c->p->body, "\"", 1) < 0 ||
        abuf_json_escape(&c->p->body, s, len) < 0 || abuf_append(&c->p->body, "\"", 1) < 0 ||
        s_line_close(c, start, delay_ms) < 0)
        return s_oom(c);
    return 0;
}

/*  code:<json> (steals v) */
static int s_line_json(s_ctx_t *c, const char *code, json_t *v, unsigned delay_ms)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    size_t start;
    int rc = text && s_line_open(c, code, &start) == 0 && abuf_puts(&c->p->body, text) == 0 &&
                     s_line_close(c, start, delay_ms) == 0
                 ? 0
                 : s_oom(c);
    free(text);
    return rc;
}

/*  Emits text as `code` lines: pieces of piece_chars code points, or else
    exactly n pieces (fewer when text has fewer characters). */
static int s_pieces(s_ctx_t *c, const char *code, const char *text, size_t len, size_t n,
                    size_t piece_chars, unsigned delay_ms)
{
    size_t total = fake_utf8_chars(text, len);
    if (piece_chars)
        n = (total + piece_chars - 1) / piece_chars;
    if (n > total)
        n = total;
    size_t at = 0, at_char = 0;
    for (size_t i = 0; i < n; i++) {
        size_t end_char = piece_chars ? at_char + piece_chars : (i + 1) * total / n;
        if (end_char > total)
            end_char = total;
        size_t end = at;
        for (; at_char < end_char; at_char++)
            end = s_next_char(text, len, end);
        if (s_line_str(c, code, text + at, end - at, delay_ms) < 0)
            return -1;
        at = end;
    }
    return 0;
}

static int s_finish_reason(s_ctx_t *c, const char **out)
{
    static const char *const ok[] = {"stop", "length", "content-filter", "error", "unknown"};
    const char *v = s_get(c, "finish");
    *out = "stop";
    if (!v)
        return 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(v, ok[i]) == 0) {
            *out = ok[i];
            return 0;
        }
    return s_fail(c, "finish=%s: not one of stop, length, content-filter, error, unknown", v);
}

/*  ad:{"finishReason":…[,"usage":{…}]}; pt < 0 leaves usage out. */
static int s_finish(s_ctx_t *c, const char *reason, long long pt, long long ct, unsigned delay_ms)
{
    json_t *v = json_pack("{s:s}", "finishReason", reason);
    if (v && pt >= 0)
        json_object_set_new(v, "usage",
                            json_pack("{s:I,s:I}", "promptTokens", (json_int_t)pt,
                                      "completionTokens", (json_int_t)ct));
    return s_line_json(c, "ad", v, delay_ms);
}

static void s_head(s_ctx_t *c, int status, const char *content_type)
{
    c->p->status = status;
    c->p->content_type = content_type;
}

/*  A non-2xx answer: one chunk with the whole body. */
static int s_whole(s_ctx_t *c, int status, const char *content_type, const char *body)
{
    s_head(c, status, content_type);
    if (abuf_puts(&c->p->body, body) < 0 || fake_plan_add_chunk(c->p, 0, c->p->body.len, 0) < 0)
        return s_oom(c);
    return 0;
}

static int s_error_json(s_ctx_t *c, int status, const char *message)
{
    json_t *v = json_pack("{s:s}", "error", message);
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    int rc = text ? s_whole(c, status, S_JSON_TYPE, text) : s_oom(c);
    free(text);
    return rc;
}

static long long s_prompt_tokens(s_ctx_t *c)
{
    return (long long)((fake_utf8_chars(c->in->content, c->in->content_len) + 3) / 4);
}

/*  The pieces of an answer: `piece` chars each, else S_PIECES pieces. */
static int s_piece_opts(s_ctx_t *c, size_t *piece)
{
    unsigned long v;
    if (s_num(c, "piece", 0, 1, 1000000, &v) < 0)
        return -1;
    *piece = v;
    return 0;
}

/*  a0 lines of text, then the finish line with usage. */
static int s_answer_text(s_ctx_t *c, const char *text, size_t len)
{
    size_t piece;
    unsigned long pt, ct, usage;
    const char *reason;
    if (s_piece_opts(c, &piece) < 0 || s_finish_reason(c, &reason) < 0 ||
        s_num(c, "pt", (unsigned long)s_prompt_tokens(c), 0, 1000000000, &pt) < 0 ||
        s_num(c, "ct", 7, 0, 1000000000, &ct) < 0 || s_num(c, "usage", 1, 0, 1, &usage) < 0)
        return -1;
    s_head(c, 200, S_TEXT_TYPE);
    if (s_pieces(c, "a0", text, len, S_PIECES, piece, 0) < 0)
        return -1;
    /* usage=0: the finish line without "usage" (LMArena may leave it out) */
    return s_finish(c, reason, usage ? (long long)pt : -1, (long long)ct, 0);
}

static int s_answer(s_ctx_t *c)
{
    const char *text = s_get(c, "text");
    if (!text)
        text = FAKE_ARENA_ANSWER;
    return s_answer_text(c, text, strlen(text));
}

/*  split=utf8: a chunk ends at every line end and around every multi-byte
    character; over bytes (HTTP) also after every byte inside one, so the
    reader gets the pieces of each character in separate chunks. */
static int s_split_utf8(s_ctx_t *c)
{
    fake_plan_t *p = c->p;
    const unsigned char *b = (const unsigned char *)p->body.data;
    p->n_chunks = 0;
    size_t start = 0;
    for (size_t i = 0; i < p->body.len; i++) {
        size_t cut = 0; /* end of the chunk after byte i, or 0 */
        if (b[i] == '\n' || (i + 1 < p->body.len && b[i + 1] >= 0xC0))
            cut = i + 1; /* a line ends, or a multi-byte character starts next */
        else if (b[i] >= 0x80 && (c->bytes || i + 1 == p->body.len || (b[i + 1] & 0xC0) != 0x80))
            cut = i + 1; /* inside a character (bytes), or at its end */
        if (i + 1 == p->body.len)
            cut = i + 1;
        if (cut && fake_plan_add_chunk(p, start, cut - start, 0) < 0)
            return s_oom(c);
        if (cut)
            start = cut;
    }
    return 0;
}

/*  split=1: re-cut the whole body into small chunks that split lines (and
    never a UTF-8 sequence), from a deterministic seed; split=utf8: see
    s_split_utf8. */
static int s_resplit(s_ctx_t *c)
{
    unsigned long split, seed;
    const char *mode = s_get(c, "split");
    if (mode && strcmp(mode, "utf8") == 0)
        return s_split_utf8(c);
    if (s_num(c, "split", 0, 0, 1, &split) < 0 || s_num(c, "seed", 1, 0, 4294967295ul, &seed) < 0)
        return -1;
    if (!split)
        return 0;
    fake_plan_t *p = c->p;
    p->n_chunks = 0;
    unsigned x = (unsigned)seed * 2654435761u + 0x9E3779B9u;
    for (size_t at = 0; at < p->body.len;) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t end = s_boundary(p->body.data, p->body.len, at + 1 + x % S_SPLIT_MAX);
        if (end > p->body.len)
            end = p->body.len;
        if (fake_plan_add_chunk(p, at, end - at, 0) < 0)
            return s_oom(c);
        at = end;
    }
    return 0;
}

/*  gap=MS: every chunk but the first waits MS after the previous one. */
static int s_gap(s_ctx_t *c)
{
    unsigned long gap;
    if (s_num(c, "gap", 0, 0, S_MAX_MS, &gap) < 0)
        return -1;
    for (size_t i = 1; gap && i < c->p->n_chunks; i++)
        c->p->chunks[i].delay_ms = (unsigned)gap;
    return 0;
}

/* ---- scenarios ----------------------------------------------------------- */

/*  then="…": the first fetch carrying this exact directive answers text,
    later ones answer then (counted per fake, as recaptcha's times=). */
static int s_sc_text(s_ctx_t *c)
{
    const char *then = s_get(c, "then");
    if (then && c->in->nth > 1)
        return s_answer_text(c, then, strlen(then));
    return s_answer(c);
}

static int s_sc_echo(s_ctx_t *c)
{
    return s_answer_text(c, c->in->upstream, c->in->upstream_len);
}

static int s_sc_reasoning(s_ctx_t *c)
{
    size_t piece;
    const char *thinking = s_get(c, "thinking");
    if (!thinking)
        thinking = FAKE_ARENA_THINKING;
    if (s_piece_opts(c, &piece) < 0 ||
        s_pieces(c, "ag", thinking, strlen(thinking), S_PIECES, piece, 0) < 0)
        return -1;
    return s_answer(c);
}

static int s_sc_image(s_ctx_t *c)
{
    const char *url = s_get(c, "url");
    s_head(c, 200, S_TEXT_TYPE);
    json_t *v =
        json_pack("[{s:s,s:s}]", "type", "image", "image", url ? url : FAKE_ARENA_IMAGE_URL);
    if (s_line_json(c, "a2", v, 0) < 0)
        return -1;
    return s_finish(c, "stop", -1, 0, 0);
}

static int s_sc_search(s_ctx_t *c)
{
    const char *url = s_get(c, "url"), *title = s_get(c, "title");
    const char *text = s_get(c, "text");
    size_t piece;
    const char *reason;
    unsigned long pt, ct;
    if (!text)
        text = FAKE_ARENA_ANSWER;
    if (s_piece_opts(c, &piece) < 0 || s_finish_reason(c, &reason) < 0 ||
        s_num(c, "pt", (unsigned long)s_prompt_tokens(c), 0, 1000000000, &pt) < 0 ||
        s_num(c, "ct", 7, 0, 1000000000, &ct) < 0)
        return -1;
    s_head(c, 200, S_TEXT_TYPE);
    if (s_pieces(c, "a0", text, strlen(text), S_PIECES, piece, 0) < 0)
        return -1;
    json_t *args = json_pack("{s:s,s:s}", "url", url ? url : "https://example.test/a", "title",
                             title ? title : "A");
    char *args_text = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    if (!args_text)
        return s_oom(c);
    json_t *v = json_pack("{s:s,s:s}", "toolCallId", "t1", "argsTextDelta", args_text);
    free(args_text);
    if (s_line_json(c, "ac", v, 0) < 0)
        return -1;
    return s_finish(c, reason, (long long)pt, (long long)ct, 0);
}

static int s_sc_ratelimit(s_ctx_t *c)
{
    const char *retry = s_get(c, "retry");
    if (!retry || strcmp(retry, "none") != 0) {
        unsigned long s;
        if (s_num(c, "retry", 1, 0, 86400, &s) < 0)
            return -1;
        snprintf(c->p->retry_after, sizeof c->p->retry_after, "%lu", s);
    }
    return s_error_json(c, 429, "Too many requests");
}

static int s_sc_promptfailed(s_ctx_t *c)
{
    unsigned long times;
    if (s_num(c, "times", (unsigned long)-1, 0, S_MAX_COUNT, &times) < 0)
        return -1;
    if (c->in->nth > times)
        return s_answer(c);
    return s_error_json(c, 429, "prompt failed");
}

static int s_sc_recaptcha(s_ctx_t *c)
{
    unsigned long times;
    if (s_num(c, "times", (unsigned long)-1, 0, S_MAX_COUNT, &times) < 0)
        return -1;
    if (c->in->nth > times)
        return s_answer(c);
    return s_error_json(c, 403, "recaptcha validation failed");
}

static int s_sc_cloudflare(s_ctx_t *c)
{
    return s_whole(c, 403, S_HTML_TYPE, s_cloudflare_html);
}

static int s_sc_moderation(s_ctx_t *c)
{
    return s_error_json(c, 422, s_moderation);
}

static int s_sc_toolarge(s_ctx_t *c)
{
    return s_error_json(c, 413, "Payload too large");
}

static int s_sc_error500(s_ctx_t *c)
{
    return s_error_json(c, 500, "Internal error");
}

static int s_sc_empty(s_ctx_t *c)
{
    s_head(c, 200, S_TEXT_TYPE);
    return s_finish(c, "stop", -1, 0, 0);
}

static int s_sc_arenaerror(s_ctx_t *c)
{
    const char *msg = s_get(c, "msg");
    if (!msg)
        msg = "Something went wrong";
    s_head(c, 200, S_TEXT_TYPE);
    if (s_line_str(c, "a0", "hasArenaError", 13, 0) < 0)
        return -1;
    return s_line_str(c, "a3", msg, strlen(msg), 0);
}

static int s_sc_midclose(s_ctx_t *c)
{
    unsigned long after, wait;
    const char *text = s_get(c, "text");
    if (!text)
        text = FAKE_ARENA_ANSWER;
    if (s_num(c, "after", 2, 0, S_MAX_COUNT, &after) < 0 ||
        s_num(c, "wait", S_MIDCLOSE_WAIT, 0, S_MAX_MS, &wait) < 0)
        return -1;
    size_t chars = fake_utf8_chars(text, strlen(text));
    if (after >= chars)
        return s_fail(c, "after=%lu: the text has only %zu characters", after, chars);
    s_head(c, 200, S_TEXT_TYPE);
    size_t pieces = after + 1 > S_PIECES ? after + 1 : S_PIECES;
    if (s_pieces(c, "a0", text, strlen(text), pieces, 0, 0) < 0)
        return -1;
    c->p->n_chunks = after; /* the rest never leaves: the tab dies first */
    c->p->end = FAKE_END_CLOSE;
    c->p->end_delay_ms = (unsigned)wait;
    return 0;
}

/*  text repeated (joined by a space) until it has at least n characters. */
static int s_repeat_to(const char *text, size_t n, abuf_t *out)
{
    size_t chars = fake_utf8_chars(text, strlen(text)), have = 0;
    if (chars == 0)
        return -1;
    while (have < n) {
        if ((have && abuf_puts(out, " ") < 0) || abuf_puts(out, text) < 0)
            return -1;
        have += chars + (have ? 1 : 0);
    }
    return 0;
}

static int s_sc_drip(s_ctx_t *c)
{
    unsigned long ms, count;
    const char *text = s_get(c, "text");
    if (!text)
        text = FAKE_ARENA_ANSWER;
    if (s_num(c, "ms", 100, 0, S_MAX_MS, &ms) < 0 ||
        s_num(c, "count", 10, 1, S_MAX_COUNT, &count) < 0)
        return -1;
    abuf_t answer = ABUF_INIT;
    if (s_repeat_to(text, count, &answer) < 0) {
        abuf_free(&answer);
        return s_fail(c, "drip needs a non-empty text");
    }
    s_head(c, 200, S_TEXT_TYPE);
    int rc = s_pieces(c, "a0", answer.data, answer.len, count, 0, (unsigned)ms);
    abuf_free(&answer);
    if (rc < 0)
        return -1;
    return s_finish(c, "stop", s_prompt_tokens(c), (long long)count, 0);
}

static int s_sc_stall(s_ctx_t *c)
{
    s_head(c, 200, S_TEXT_TYPE);
    c->p->end = FAKE_END_STALL;
    return 0;
}

/*  Appends n code points of the pattern, cycling, from *pos. */
static int s_pattern(abuf_t *out, size_t n, size_t *pos)
{
    size_t plen = sizeof s_long_pattern - 1;
    for (size_t i = 0; i < n; i++) {
        size_t end = s_next_char(s_long_pattern, plen, *pos);
        if (abuf_append(out, s_long_pattern + *pos, end - *pos) < 0)
            return -1;
        *pos = end == plen ? 0 : end;
    }
    return 0;
}

static int s_sc_long(s_ctx_t *c)
{
    unsigned long chars;
    if (s_num(c, "chars", S_LONG_DEFAULT, 0, S_LONG_MAX, &chars) < 0)
        return -1;
    s_head(c, 200, S_TEXT_TYPE);
    abuf_t line = ABUF_INIT;
    size_t pos = 0;
    for (unsigned long done = 0; done < chars; done += S_LONG_LINE) {
        size_t n = chars - done < S_LONG_LINE ? chars - done : S_LONG_LINE;
        abuf_reset(&line);
        if (s_pattern(&line, n, &pos) < 0 || s_line_str(c, "a0", line.data, line.len, 0) < 0) {
            abuf_free(&line);
            return s_oom(c);
        }
    }
    abuf_free(&line);
    c->recut = 1;
    return s_finish(c, "stop", s_prompt_tokens(c), (long long)(chars + 3) / 4, 0);
}

/*  long's chunks: ~8 KiB that split lines anywhere but inside a character. */
static int s_recut_long(s_ctx_t *c)
{
    fake_plan_t *p = c->p;
    p->n_chunks = 0;
    for (size_t at = 0; at < p->body.len;) {
        size_t end = s_boundary(p->body.data, p->body.len, at + S_LONG_CHUNK);
        if (end > p->body.len)
            end = p->body.len;
        if (fake_plan_add_chunk(p, at, end - at, 0) < 0)
            return s_oom(c);
        at = end;
    }
    return 0;
}

/*  Appends chunk k of src to w (its bytes into w's body). */
static int s_weave_add(fake_plan_t *w, const fake_plan_t *src, size_t k, unsigned delay_ms)
{
    const fake_chunk_t *ch = &src->chunks[k];
    size_t off = w->body.len;
    if (abuf_append(&w->body, src->body.data + ch->off, ch->len) < 0)
        return -1;
    return fake_plan_add_chunk(w, off, ch->len, delay_ms);
}

/*  B's lines: bg, FAKE_ARENA_B_ANSWER in 3 b0 pieces, bd; with bfail=1 bg,
    the first piece, b3 FAKE_ARENA_B_ERROR, b0 "hasArenaError". */
static int s_b_lines(s_ctx_t *c, int fail, fake_plan_t *b)
{
    s_ctx_t bc = *c;
    bc.p = b;
    static const char answer[] = FAKE_ARENA_B_ANSWER, think[] = FAKE_ARENA_B_THINKING;
    if (s_line_str(&bc, "bg", think, sizeof think - 1, 0) < 0 ||
        s_pieces(&bc, "b0", answer, sizeof answer - 1, S_PIECES, 0, 0) < 0)
        return -1;
    if (fail) {
        b->n_chunks = 2; /* bg and the first piece; the rest never comes */
        return s_line_str(&bc, "b3", FAKE_ARENA_B_ERROR, strlen(FAKE_ARENA_B_ERROR), 0) < 0 ||
                       s_line_str(&bc, "b0", "hasArenaError", 13, 0) < 0
                   ? -1
                   : 0;
    }
    long long ct = (long long)(fake_utf8_chars(answer, sizeof answer - 1) + 3) / 4;
    json_t *v = json_pack("{s:s,s:{s:I,s:I}}", "finishReason", "stop", "usage", "promptTokens",
                          (json_int_t)s_prompt_tokens(c), "completionTokens", (json_int_t)ct);
    return s_line_json(&bc, "bd", v, 0);
}

/*  A 2026 direct-battle: participant B's lines woven between A's, one after
    each of A's chunks but the last, the rest just before A's last chunk
    (its finish stays last). Only 200 answers that end normally (not
    midclose, stall); before any re-cutting, so B's lines are whole. */
static int s_participant_b(s_ctx_t *c)
{
    unsigned long fail;
    if (s_num(c, "bfail", 0, 0, 1, &fail) < 0)
        return -1;
    fake_plan_t *a = c->p;
    if (!c->in->battle || a->status != 200 || a->end != FAKE_END_DONE || a->n_chunks == 0)
        return 0;
    fake_plan_t b, w;
    memset(&b, 0, sizeof b);
    memset(&w, 0, sizeof w);
    int rc = s_b_lines(c, (int)fail, &b);
    for (size_t i = 0, k = 0; rc == 0 && i < a->n_chunks; i++) {
        bool last = i + 1 == a->n_chunks;
        while (rc == 0 && last && k < b.n_chunks)
            rc = s_weave_add(&w, &b, k++, 0);
        if (rc == 0)
            rc = s_weave_add(&w, a, i, a->chunks[i].delay_ms);
        if (rc == 0 && !last && k < b.n_chunks)
            rc = s_weave_add(&w, &b, k++, 0);
    }
    fake_plan_clear(&b);
    if (rc < 0) {
        fake_plan_clear(&w);
        return s_oom(c);
    }
    abuf_free(&a->body);
    free(a->chunks);
    a->body = w.body;
    a->chunks = w.chunks;
    a->n_chunks = w.n_chunks;
    a->cap_chunks = w.cap_chunks;
    return 0;
}

static const struct {
    const char *name;
    const char *keys;
    s_run_fn *run;
    int splittable; /* takes split=1 */
} s_scenarios[] = {
    {"text", S_COMMON " then " S_ANSWER, s_sc_text, 1},
    {"usage", S_COMMON " " S_ANSWER, s_sc_text, 1},
    {"echo", S_COMMON " piece finish pt ct " S_FORMAT, s_sc_echo, 1},
    {"reasoning", S_COMMON " thinking " S_ANSWER, s_sc_reasoning, 1},
    {"image", S_COMMON " url " S_FORMAT, s_sc_image, 1},
    {"search", S_COMMON " url title " S_ANSWER, s_sc_search, 1},
    {"ratelimit", S_COMMON " retry", s_sc_ratelimit, 0},
    {"recaptcha", S_COMMON " times " S_ANSWER, s_sc_recaptcha, 1},
    {"promptfailed", S_COMMON " times " S_ANSWER, s_sc_promptfailed, 1},
    {"cloudflare", S_COMMON, s_sc_cloudflare, 0},
    {"moderation", S_COMMON, s_sc_moderation, 0},
    {"toolarge", S_COMMON, s_sc_toolarge, 0},
    {"error500", S_COMMON, s_sc_error500, 0},
    {"empty", S_COMMON " " S_FORMAT, s_sc_empty, 1},
    {"arenaerror", S_COMMON " msg " S_FORMAT, s_sc_arenaerror, 1},
    {"midclose", S_COMMON " after wait text prefix", s_sc_midclose, 0},
    {"drip", S_COMMON " ms count text prefix", s_sc_drip, 0},
    {"stall", S_COMMON, s_sc_stall, 0},
    {"long", S_COMMON " chars " S_FORMAT, s_sc_long, 1},
};

#define S_N_SCENARIOS (sizeof s_scenarios / sizeof s_scenarios[0])

static size_t s_find(const char *name)
{
    for (size_t i = 0; i < S_N_SCENARIOS; i++)
        if (strcmp(s_scenarios[i].name, name) == 0)
            return i;
    return S_N_SCENARIOS;
}

const char *fake_scenario_keys(const char *name)
{
    size_t i = s_find(name);
    return i < S_N_SCENARIOS ? s_scenarios[i].keys : NULL;
}

static int s_plan(const fake_scenario_in_t *in, int bytes, fake_plan_t *plan, char *err,
                  size_t errlen)
{
    memset(plan, 0, sizeof *plan);
    s_ctx_t c = {plan, in, 0, bytes, 0, err, errlen};
    size_t i = s_find(in->d->name);
    if (i == S_N_SCENARIOS) {
        s_fail(&c, "unknown scenario \"%s\"", in->d->name);
        return -1;
    }
    const char *prefix = s_get(&c, "prefix");
    unsigned long ttfb;
    if (prefix && strcmp(prefix, "data") != 0 && strcmp(prefix, "none") != 0)
        s_fail(&c, "prefix=%s: only prefix=data (or none)", prefix);
    else if (s_num(&c, "ttfb", 0, 0, S_MAX_MS, &ttfb) == 0) {
        c.prefix = prefix && strcmp(prefix, "data") == 0;
        plan->head_delay_ms = (unsigned)ttfb;
        if (s_scenarios[i].run(&c) == 0 && s_participant_b(&c) == 0 &&
            (!c.recut || s_recut_long(&c) == 0) &&
            (!s_scenarios[i].splittable || plan->status != 200 ||
             (s_resplit(&c) == 0 && s_gap(&c) == 0)))
            return 0;
    }
    fake_plan_clear(plan);
    return -1;
}

int fake_scenario_plan(const fake_scenario_in_t *in, fake_plan_t *plan, char *err, size_t errlen)
{
    return s_plan(in, 0, plan, err, errlen);
}

int fake_scenario_plan_bytes(const fake_scenario_in_t *in, fake_plan_t *plan, char *err,
                             size_t errlen)
{
    return s_plan(in, 1, plan, err, errlen);
}
