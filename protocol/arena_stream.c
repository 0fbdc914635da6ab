/*  arena_stream — see arena_stream.h.

    Owns: the partial-line tail of one response body (bounded by max_line)
    and the event counters. One parser per response; not thread-safe, no
    global state, so any number of parsers may run on separate threads.

    Errors are sticky: after TOOBIG (a line longer than max_line, or no memory
    to hold it) or ABORT (the callback asked to stop) every later feed and
    finish returns the same code, since the rest of the body can no longer be
    parsed in step. Line length counts the bytes before the '\n' (a '\r'
    included). Event text is valid only during the callback; an UNKNOWN event
    carries the raw line (after any "data: " prefix), which may be long and
    need not be UTF-8. Empty deltas are reported but not counted as content. */
#define _GNU_SOURCE /* strptime, timegm */

#include "protocol/arena_stream.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "protocol/abuf.h"
#include "protocol/utf8.h"

#define ARENA_STREAM_DEFAULT_MAX_LINE (16u * 1024u * 1024u)
#define ARENA_RETRY_AFTER_MAX_S (7LL * 24 * 3600)
#define ARENA_MESSAGE_MAX_CHARS 200
/*  Error bodies and challenge pages carry their markers near the top; only
    this much of a body is searched or parsed, so the cost stays bounded. */
#define ARENA_BODY_SCAN_MAX (256u * 1024u)

struct _arena_stream_t {
    abuf_t tail; /* bytes of the line not yet ended by '\n' */
    size_t max_line;
    size_t content_deltas;
    int state; /* ARENA_STREAM_OK or the sticky error */
};

/*  One line being reported: where events go and what they carry. */
typedef struct {
    arena_stream_t *self;
    arena_stream_cb *cb;
    void *arg;
    char participant;
} s_line_ctx_t;

arena_stream_t *arena_stream_new(size_t max_line)
{
    arena_stream_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_line = max_line ? max_line : ARENA_STREAM_DEFAULT_MAX_LINE;
    self->tail.max = self->max_line;
    self->state = ARENA_STREAM_OK;
    return self;
}

void arena_stream_destroy(arena_stream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    arena_stream_t *self = *self_p;
    abuf_free(&self->tail);
    free(self);
    *self_p = NULL;
}

size_t arena_stream_content_deltas(const arena_stream_t *self)
{
    return self ? self->content_deltas : 0;
}

/* ---- events ------------------------------------------------------------ */

static arena_event_t s_event(arena_ev_kind_t kind, char participant)
{
    arena_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.participant = participant;
    ev.usage.prompt_tokens = -1;
    ev.usage.completion_tokens = -1;
    return ev;
}

static int s_emit(s_line_ctx_t *ctx, const arena_event_t *ev)
{
    if (ev->kind == ARENA_EV_DELTA && ev->delta != DELTA_CITATION && ev->len > 0)
        ctx->self->content_deltas++;
    if (ctx->cb && ctx->cb(ctx->arg, ev) != 0)
        return ARENA_STREAM_ABORT;
    return ARENA_STREAM_OK;
}

static int s_emit_simple(s_line_ctx_t *ctx, arena_ev_kind_t kind, const char *text, size_t len)
{
    arena_event_t ev = s_event(kind, kind == ARENA_EV_UNKNOWN ? '\0' : ctx->participant);
    ev.text = text;
    ev.len = len;
    return s_emit(ctx, &ev);
}

static int s_emit_delta(s_line_ctx_t *ctx, delta_kind_t kind, const json_t *str)
{
    arena_event_t ev = s_event(ARENA_EV_DELTA, ctx->participant);
    ev.delta = kind;
    ev.text = json_string_value(str);
    ev.len = json_string_length(str);
    return s_emit(ctx, &ev);
}

/* ---- line kinds -------------------------------------------------------- */

static int s_on_text(s_line_ctx_t *ctx, const json_t *v)
{
    if (!json_is_string(v))
        return s_emit_simple(ctx, ARENA_EV_META, NULL, 0);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == strlen("hasArenaError") && memcmp(s, "hasArenaError", n) == 0)
        return s_emit_simple(ctx, ARENA_EV_ARENA_ERROR, s, n);
    return s_emit_delta(ctx, DELTA_TEXT, v);
}

static int s_on_reasoning(s_line_ctx_t *ctx, const json_t *v)
{
    if (!json_is_string(v))
        return s_emit_simple(ctx, ARENA_EV_META, NULL, 0);
    return s_emit_delta(ctx, DELTA_REASONING, v);
}

static int s_on_item(s_line_ctx_t *ctx, const json_t *item)
{
    const char *type = json_string_value(json_object_get(item, "type"));
    const json_t *url = json_object_get(item, "image");
    if (type && strcmp(type, "image") == 0 && json_is_string(url))
        return s_emit_delta(ctx, DELTA_IMAGE, url);
    return s_emit_simple(ctx, ARENA_EV_META, NULL, 0);
}

/*  a2: one event per item, so a line of images yields one delta each. */
static int s_on_items(s_line_ctx_t *ctx, const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return s_emit_simple(ctx, ARENA_EV_META, NULL, 0);
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item)
    {
        int rc = s_on_item(ctx, item);
        if (rc != ARENA_STREAM_OK)
            return rc;
    }
    return ARENA_STREAM_OK;
}

static int s_on_citation(s_line_ctx_t *ctx, const json_t *v)
{
    const json_t *args = json_object_get(v, "argsTextDelta");
    if (!json_is_string(args))
        return s_emit_simple(ctx, ARENA_EV_META, NULL, 0);
    return s_emit_delta(ctx, DELTA_CITATION, args);
}

/*  a3: a string, or (should the shape drift) an object's "message", or the
    value itself as compact JSON: an error must never be dropped. */
static int s_on_error(s_line_ctx_t *ctx, const json_t *v)
{
    const json_t *msg = json_is_string(v) ? v : json_object_get(v, "message");
    if (json_is_string(msg))
        return s_emit_simple(ctx, ARENA_EV_ERROR, json_string_value(msg), json_string_length(msg));
    char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    int rc = s_emit_simple(ctx, ARENA_EV_ERROR, dump ? dump : "upstream error",
                           dump ? strlen(dump) : strlen("upstream error"));
    free(dump);
    return rc;
}

static const char *s_finish_reason(const json_t *v)
{
    static const struct {
        const char *upstream, *openai;
    } map[] = {
        {"stop", "stop"},   {"length", "length"},   {"content-filter", "content_filter"},
        {"error", "error"}, {"unknown", "unknown"},
    };
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].upstream) == 0)
            return map[i].openai;
    return "unknown";
}

/*  A non-negative integral token count, or -1. */
static long long s_count(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 ? (long long)json_integer_value(v) : -1;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d < 9e15 && d == (double)(long long)d)
            return (long long)d;
    }
    return -1;
}

static int s_on_finish(s_line_ctx_t *ctx, const json_t *v)
{
    if (!json_is_object(v))
        return s_emit_simple(ctx, ARENA_EV_META, NULL, 0);
    arena_event_t ev = s_event(ARENA_EV_FINISH, ctx->participant);
    ev.finish_reason = s_finish_reason(json_object_get(v, "finishReason"));
    const json_t *usage = json_object_get(v, "usage");
    ev.usage.prompt_tokens = s_count(json_object_get(usage, "promptTokens"));
    ev.usage.completion_tokens = s_count(json_object_get(usage, "completionTokens"));
    return s_emit(ctx, &ev);
}

static int s_dispatch(s_line_ctx_t *ctx, char kind, const json_t *v)
{
    switch (kind) {
    case '0':
        return s_on_text(ctx, v);
    case 'g':
        return s_on_reasoning(ctx, v);
    case '2':
        return s_on_items(ctx, v);
    case 'c':
        return s_on_citation(ctx, v);
    case '3':
        return s_on_error(ctx, v);
    case 'd':
        return s_on_finish(ctx, v);
    default:
        return s_emit_simple(ctx, ARENA_EV_META, NULL, 0);
    }
}

/* ---- lines ------------------------------------------------------------- */

static int s_is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

static int s_is_kind(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*  Parses one complete line (without its '\n'). */
static int s_line(arena_stream_t *self, const char *line, size_t n, arena_stream_cb *cb, void *arg)
{
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n >= 5 && memcmp(line, "data:", 5) == 0) {
        line += 5, n -= 5;
        if (n > 0 && line[0] == ' ')
            line++, n--;
    }
    if (s_is_blank(line, n))
        return ARENA_STREAM_OK;
    s_line_ctx_t ctx = {self, cb, arg, '\0'};
    if (n < 3 || (line[0] != 'a' && line[0] != 'b') || !s_is_kind(line[1]) || line[2] != ':')
        return s_emit_simple(&ctx, ARENA_EV_UNKNOWN, line, n);
    json_error_t jerr;
    json_t *v = json_loadb(line + 3, n - 3, JSON_DECODE_ANY, &jerr);
    if (!v)
        return s_emit_simple(&ctx, ARENA_EV_UNKNOWN, line, n);
    ctx.participant = line[0];
    int rc = s_dispatch(&ctx, line[1], v);
    json_decref(v);
    return rc;
}

static int s_fail(arena_stream_t *self, int rc)
{
    self->state = rc;
    abuf_free(&self->tail);
    return rc;
}

int arena_stream_feed(arena_stream_t *self, const char *data, size_t len, arena_stream_cb *cb,
                      void *arg)
{
    if (!self)
        return ARENA_STREAM_ABORT;
    if (self->state != ARENA_STREAM_OK)
        return self->state;
    if (!data)
        len = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t seg = nl ? (size_t)(nl - (data + pos)) : len - pos;
        if (seg > self->max_line - self->tail.len)
            return s_fail(self, ARENA_STREAM_TOOBIG);
        int rc = ARENA_STREAM_OK;
        if (!nl) {
            if (abuf_append(&self->tail, data + pos, seg) < 0)
                return s_fail(self, ARENA_STREAM_TOOBIG);
        } else if (self->tail.len == 0) {
            rc = s_line(self, data + pos, seg, cb, arg);
        } else {
            if (abuf_append(&self->tail, data + pos, seg) < 0)
                return s_fail(self, ARENA_STREAM_TOOBIG);
            rc = s_line(self, self->tail.data, self->tail.len, cb, arg);
            abuf_reset(&self->tail);
        }
        if (rc != ARENA_STREAM_OK)
            return s_fail(self, rc);
        pos += seg + (nl ? 1 : 0);
    }
    return ARENA_STREAM_OK;
}

int arena_stream_finish(arena_stream_t *self, arena_stream_cb *cb, void *arg)
{
    if (!self)
        return ARENA_STREAM_ABORT;
    if (self->state != ARENA_STREAM_OK)
        return self->state;
    if (self->tail.len == 0)
        return ARENA_STREAM_OK;
    int rc = s_line(self, self->tail.data, self->tail.len, cb, arg);
    abuf_reset(&self->tail);
    return rc != ARENA_STREAM_OK ? s_fail(self, rc) : ARENA_STREAM_OK;
}

/* ---- failure classification ------------------------------------------- */

static int s_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/*  Case-insensitive (ASCII) search of needle in body[0..len); NULL if absent. */
static const char *s_find(const char *body, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (!body || n == 0 || n > len)
        return NULL;
    for (size_t i = 0; i + n <= len; i++) {
        size_t k = 0;
        while (k < n && s_lower((unsigned char)body[i + k]) == s_lower((unsigned char)needle[k]))
            k++;
        if (k == n)
            return body + i;
    }
    return NULL;
}

static int s_is_cloudflare(const char *body, size_t len)
{
    return s_find(body, len, "<title>Just a moment...</title>") ||
           s_find(body, len, "Enable JavaScript and cookies to continue") ||
           s_find(body, len, "Attention Required! | Cloudflare");
}

/*  400 bodies: the locked-message text is the most specific, then a ZodError
    (whose issue list could mention anything, "duplicate" included). */
static arena_fail_t s_classify_400(const char *body, size_t len)
{
    if (s_find(body, len, "already has feedback"))
        return ARENA_FAIL_LOCKED;
    if (s_find(body, len, "ZodError"))
        return ARENA_FAIL_SHAPE;
    if (s_find(body, len, "mode is not allowed"))
        return ARENA_FAIL_MODE;
    if (s_find(body, len, "not available for user selection"))
        return ARENA_FAIL_NOT_SELECTABLE;
    if (s_find(body, len, "Bad next turn"))
        return ARENA_FAIL_NEXT_TURN;
    if (s_find(body, len, "duplicate"))
        return ARENA_FAIL_DUPLICATE;
    return ARENA_FAIL_OTHER;
}

/*  content_type is accepted for callers' convenience but the markers decide:
    the tab does not always see the real header of a challenge page. Cloudflare
    markers are checked before "recaptcha" because a challenge page may embed a
    captcha widget. */
arena_fail_t arena_classify(int status, const char *content_type, const char *body, size_t len)
{
    if (!body)
        len = 0;
    if (len > ARENA_BODY_SCAN_MAX)
        len = ARENA_BODY_SCAN_MAX;
    if (status >= 200 && status <= 299)
        return ARENA_FAIL_NONE;
    if (status == 429)
        return s_find(body, len, "prompt failed") ? ARENA_FAIL_ACCOUNT_FLAG : ARENA_FAIL_RATE_LIMIT;
    if (s_is_cloudflare(body, len))
        return ARENA_FAIL_CLOUDFLARE;
    switch (status) {
    case 403:
        return s_find(body, len, "recaptcha") ? ARENA_FAIL_RECAPTCHA : ARENA_FAIL_OTHER;
    case 401:
        return s_find(body, len, "evaluation session") ? ARENA_FAIL_SESSION : ARENA_FAIL_LOGIN;
    case 404:
        return s_find(body, len, "models not found") || s_find(body, len, "model not found")
                   ? ARENA_FAIL_STALE_MODEL
                   : ARENA_FAIL_OTHER;
    case 400:
        return s_classify_400(body, len);
    case 422:
        return ARENA_FAIL_MODERATION;
    case 413:
        return ARENA_FAIL_TOO_LARGE;
    default:
        return ARENA_FAIL_OTHER;
    }
}

const char *arena_fail_name(arena_fail_t f)
{
    static const char *const names[] = {
        "none",           "rate_limit", "recaptcha",   "cloudflare",   "session", "locked",
        "duplicate",      "shape",      "moderation",  "too_large",    "other",   "mode",
        "not_selectable", "next_turn",  "stale_model", "account_flag", "login",
    };
    if ((unsigned)f >= sizeof names / sizeof names[0])
        return "invalid";
    return names[f];
}

/*  OTHER counts as retryable: without the status a 5xx (worth another
    target) cannot be told from a 4xx, and one extra bounded attempt is cheaper
    than failing a request a healthy target would have served. */
int arena_fail_retryable(arena_fail_t f)
{
    switch (f) {
    case ARENA_FAIL_RATE_LIMIT:
    case ARENA_FAIL_RECAPTCHA:
    case ARENA_FAIL_CLOUDFLARE:
    case ARENA_FAIL_DUPLICATE:
    case ARENA_FAIL_OTHER:
    case ARENA_FAIL_STALE_MODEL:  /* once, on the fresh row */
    case ARENA_FAIL_ACCOUNT_FLAG: /* on another account */
    case ARENA_FAIL_LOGIN:        /* on a logged-in tab */
        return 1;
    default:
        return 0;
    }
}

int arena_fail_permanent(arena_fail_t f)
{
    switch (f) {
    case ARENA_FAIL_MODE:
    case ARENA_FAIL_NOT_SELECTABLE:
    case ARENA_FAIL_NEXT_TURN:
    case ARENA_FAIL_SHAPE:
    case ARENA_FAIL_LOCKED:
    case ARENA_FAIL_MODERATION:
    case ARENA_FAIL_TOO_LARGE:
        return 1;
    default:
        return 0;
    }
}

/*  Skips blanks and backslashes (the issue list may be escaped inside a JSON
    string, its quotes then read \"). */
static size_t s_skip_noise(const char *b, size_t i, size_t len)
{
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == '\\'))
        i++;
    return i;
}

/*  Appends c to out (bounded, NUL kept). */
static void s_put_ch(char *out, size_t outlen, size_t *n, char c)
{
    if (*n + 1 < outlen) {
        out[(*n)++] = c;
        out[*n] = '\0';
    }
}

void arena_zod_field(const char *body, size_t len, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return;
    out[0] = '\0';
    if (!body)
        return;
    if (len > ARENA_BODY_SCAN_MAX)
        len = ARENA_BODY_SCAN_MAX;
    const char *p = s_find(body, len, "path");
    if (!p)
        return;
    size_t i = (size_t)(p - body) + 4, n = 0;
    i = s_skip_noise(body, i, len);
    if (i < len && body[i] == '"')
        i = s_skip_noise(body, i + 1, len);
    if (i >= len || body[i] != ':')
        return;
    i = s_skip_noise(body, i + 1, len);
    if (i >= len || body[i] != '[')
        return;
    i++;
    for (bool first = true; i < len;) {
        i = s_skip_noise(body, i, len);
        if (i >= len || body[i] == ']')
            break;
        if (body[i] == ',') {
            i++;
            continue;
        }
        if (!first)
            s_put_ch(out, outlen, &n, '.');
        first = false;
        if (body[i] == '"') {
            for (i++; i < len && body[i] != '"' && body[i] != '\\'; i++)
                if ((unsigned char)body[i] >= 0x20 && body[i] != 0x7f)
                    s_put_ch(out, outlen, &n, body[i]);
            i = s_skip_noise(body, i, len); /* the closing quote, maybe escaped */
            if (i < len && body[i] == '"')
                i++;
        } else if (body[i] >= '0' && body[i] <= '9') {
            for (; i < len && body[i] >= '0' && body[i] <= '9'; i++)
                s_put_ch(out, outlen, &n, body[i]);
        } else {
            break; /* not a path element: stop with what we have */
        }
    }
}

/* ---- Retry-After ------------------------------------------------------- */

static long long s_cap_ms(long long seconds)
{
    if (seconds > ARENA_RETRY_AFTER_MAX_S)
        seconds = ARENA_RETRY_AFTER_MAX_S;
    return seconds * 1000;
}

static long long s_delta_seconds(const char *p, size_t n)
{
    long long s = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        if (s <= ARENA_RETRY_AFTER_MAX_S)
            s = s * 10 + (p[i] - '0');
    }
    return s_cap_ms(s);
}

/*  IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 bytes). */
static long long s_http_date(const char *p, size_t n, long long now_ms)
{
    char buf[32];
    if (n != 29)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end != '\0')
        return -1;
    time_t t = timegm(&tm);
    long long ms = (long long)t * 1000 - now_ms;
    if (t <= 0 || ms <= 0)
        return 0;
    return ms > ARENA_RETRY_AFTER_MAX_S * 1000 ? ARENA_RETRY_AFTER_MAX_S * 1000 : ms;
}

long long arena_retry_after_ms(const char *value, long long now_unix_ms)
{
    if (!value)
        return -1;
    size_t n = strnlen(value, 64);
    if (n == 64)
        return -1;
    while (n > 0 && (*value == ' ' || *value == '\t'))
        value++, n--;
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0)
        return -1;
    if (value[0] >= '0' && value[0] <= '9')
        return s_delta_seconds(value, n);
    return s_http_date(value, n, now_unix_ms);
}

/* ---- error messages ---------------------------------------------------- */

/*  Writes src to out as one line of printable text: control characters
    become one space (runs collapse), invalid UTF-8 is dropped, at most
    ARENA_MESSAGE_MAX_CHARS characters, never a cut sequence, always NUL. */
static void s_put_text(const char *src, size_t n, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t o = 0, chars = 0, i = 0;
    int space = 0;
    while (i < n && chars < ARENA_MESSAGE_MAX_CHARS) {
        uint32_t cp = 0;
        size_t k = utf8_decode(p + i, n - i, &cp);
        bool ctl = cp == ' ' || utf8_is_control(cp);
        if (k == 0) {
            i++;
            continue;
        }
        if (ctl) {
            space = o > 0;
            i += k;
            continue;
        }
        size_t need = k + (space ? 1 : 0);
        if (o + need >= outlen)
            break;
        if (space)
            out[o++] = ' ', chars++, space = 0;
        memcpy(out + o, p + i, k);
        o += k, i += k, chars++;
    }
    out[o] = '\0';
}

/*  1 when p[0..n) holds something besides spaces and control characters. */
static int s_has_text(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] > 0x20 && p[i] != 0x7F)
            return 1;
    return 0;
}

static const json_t *s_nonempty(const json_t *v)
{
    if (!json_is_string(v) || !s_has_text(json_string_value(v), json_string_length(v)))
        return NULL;
    return v;
}

/*  {"error":"…"}, {"error":{"message":"…"}} or {"message":"…"}. A message
    that was found is used even when too little of it fits in out. */
static int s_message_from_json(const char *body, size_t len, char *out, size_t outlen)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len || body[i] != '{')
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    const json_t *err = json_object_get(root, "error");
    const json_t *msg = s_nonempty(err);
    if (!msg)
        msg = s_nonempty(json_object_get(err, "message"));
    if (!msg)
        msg = s_nonempty(json_object_get(root, "message"));
    if (msg)
        s_put_text(json_string_value(msg), json_string_length(msg), out, outlen);
    json_decref(root);
    return msg != NULL;
}

/*  The text of the first <title> element, when it has any. */
static int s_message_from_html(const char *body, size_t len, char *out, size_t outlen)
{
    const char *open = s_find(body, len, "<title");
    if (!open)
        return 0;
    const char *end = body + len;
    const char *gt = memchr(open, '>', (size_t)(end - open));
    if (!gt)
        return 0;
    const char *start = gt + 1;
    const char *close = s_find(start, (size_t)(end - start), "</title");
    size_t n = close ? (size_t)(close - start) : (size_t)(end - start);
    if (!s_has_text(start, n))
        return 0;
    s_put_text(start, n, out, outlen);
    return 1;
}

void arena_error_message(const char *body, size_t len, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return;
    out[0] = '\0';
    if (!body || len == 0)
        return;
    if (len > ARENA_BODY_SCAN_MAX)
        len = ARENA_BODY_SCAN_MAX;
    if (s_message_from_json(body, len, out, outlen))
        return;
    if (s_message_from_html(body, len, out, outlen))
        return;
    s_put_text(body, len, out, outlen);
}
