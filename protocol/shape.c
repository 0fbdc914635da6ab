/*  shape — see shape.h. Three stages per text delta: s_limit (max_tokens),
    s_stop (stop strings), s_hold (tool call / structured output holding);
    shape_end parses or checks what was held. */
#define _GNU_SOURCE /* memmem */
#include "protocol/shape.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/abuf.h"
#include "protocol/schema.h"

/* At most this many places are tried as the start of a tool-call object
   (each one a parse to its end): bounds the work on a hostile answer. */
#define SHAPE_MAX_CANDIDATES 8

struct _shape_t {
    shape_sink_t sink;
    void *arg;
    /* stop */
    char *stop[OPENAI_MAX_STOP];
    size_t stop_len[OPENAI_MAX_STOP];
    size_t *stop_fail[OPENAI_MAX_STOP]; /* KMP failure function of each */
    size_t n_stop;
    abuf_t pend; /* the longest suffix of the text that begins some stop string */
    /* max_tokens */
    long long max_tokens;
    unsigned long long quarters;
    int cont; /* continuation bytes still expected by the current sequence */
    /* tools */
    bool tools_on;
    char **tools;
    size_t n_tools;
    openai_tool_choice_t choice;
    char *choice_name;
    bool parallel;
    /* response_format */
    openai_format_t format;
    char *schema;
    bool strict;
    /* holding */
    bool hold_all;
    size_t max_held;
    bool holding;   /* text goes to held */
    bool confirmed; /* tool_choice auto: held is the start of a tool call */
    bool overflow;  /* held passed max_held: unshaped from then on */
    abuf_t held;
    abuf_t scratch;
    /* state */
    bool cut;
    bool stop_hit;
    bool limit_hit;
    bool ended;
    bool invalid; /* shape_end said SHAPE_INVALID */
};

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void s_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

shape_t *shape_new(const openai_request_t *req, size_t max_held, const shape_sink_t *sink,
                   void *arg)
{
    if (!req || !sink || !sink->delta || !sink->tool_call)
        return NULL;
    if (sodium_init() < 0)
        return NULL;
    shape_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sink = *sink;
    self->arg = arg;
    self->pend = (abuf_t)ABUF_INIT;
    self->held = (abuf_t)ABUF_INIT;
    self->scratch = (abuf_t)ABUF_INIT;
    self->max_held = max_held ? max_held : SHAPE_DEFAULT_MAX_HELD;
    for (size_t i = 0; i < req->n_stop && i < OPENAI_MAX_STOP; i++) {
        if (!req->stop[i] || !req->stop[i][0])
            continue; /* an empty stop string never matches */
        if (!(self->stop[self->n_stop] = strdup(req->stop[i])))
            goto err;
        size_t sl = strlen(req->stop[i]);
        self->stop_len[self->n_stop] = sl;
        self->n_stop++;
        size_t *fail = malloc(sl * sizeof *fail);
        if (!fail)
            goto err;
        self->stop_fail[self->n_stop - 1] = fail;
        /* fail[k]: the longest proper prefix of stop[0..k] that is also its suffix */
        const char *st = req->stop[i];
        fail[0] = 0;
        for (size_t k = 1, q = 0; k < sl; k++) {
            while (q > 0 && st[k] != st[q])
                q = fail[q - 1];
            if (st[k] == st[q])
                q++;
            fail[k] = q;
        }
    }
    self->max_tokens = req->max_tokens;
    self->tools_on = req->n_tools > 0 && req->tool_choice != OPENAI_TOOL_NONE;
    if (self->tools_on) {
        if (!(self->tools = calloc(req->n_tools, sizeof *self->tools)))
            goto err;
        for (size_t i = 0; i < req->n_tools; i++) {
            if (!(self->tools[i] = s_dup(req->tools[i].name ? req->tools[i].name : "")))
                goto err;
            self->n_tools++;
        }
        self->choice = req->tool_choice;
        if (req->tool_choice == OPENAI_TOOL_NAMED &&
            !(self->choice_name = s_dup(req->tool_choice_name ? req->tool_choice_name : "")))
            goto err;
        self->parallel = req->parallel_tool_calls;
    }
    self->format = req->format;
    if (req->format == OPENAI_FORMAT_JSON_SCHEMA && req->format_schema &&
        !(self->schema = strdup(req->format_schema)))
        goto err;
    self->strict = req->format_strict;
    self->hold_all = req->format != OPENAI_FORMAT_TEXT ||
                     (self->tools_on &&
                      (self->choice == OPENAI_TOOL_REQUIRED || self->choice == OPENAI_TOOL_NAMED));
    self->holding = self->hold_all;
    return self;
err:
    shape_destroy(&self);
    return NULL;
}

void shape_destroy(shape_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shape_t *self = *self_p;
    for (size_t i = 0; i < self->n_stop; i++) {
        free(self->stop[i]);
        free(self->stop_fail[i]);
    }
    for (size_t i = 0; i < self->n_tools; i++)
        free(self->tools[i]);
    free(self->tools);
    free(self->choice_name);
    free(self->schema);
    abuf_free(&self->pend);
    abuf_free(&self->held);
    abuf_free(&self->scratch);
    free(self);
    *self_p = NULL;
}

unsigned long long shape_estimate_quarters(const char *text, size_t len)
{
    unsigned long long quarters = 0;
    for (size_t i = 0; text && i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        size_t cont = b >= 0xC2 && b <= 0xDF   ? 1
                      : b >= 0xE0 && b <= 0xEF ? 2
                      : b >= 0xF0 && b <= 0xF4 ? 3
                                               : 0;
        size_t k = 0;
        while (k < cont && i + 1 + k < len && ((unsigned char)text[i + 1 + k] & 0xC0) == 0x80)
            k++;
        if (k < cont) {
            quarters += 1; /* starts no valid sequence */
            continue;
        }
        quarters += cont == 0 ? 1 : cont == 1 ? 2 : 4;
        i += cont;
    }
    return quarters;
}

bool shape_holds_all(const shape_t *self)
{
    return self->hold_all;
}

const char *shape_answer(const shape_t *self, size_t *len)
{
    if (len)
        *len = self->held.len;
    return self->held.data ? self->held.data : "";
}

static void s_emit(shape_t *self, const char *text, size_t len)
{
    if (len)
        self->sink.delta(self->arg, DELTA_TEXT, text, len);
}

/* ---- stage 1: max_tokens ---- */

/*  How many bytes of text fit under max_tokens (see shape.h's estimate);
    sets limit_hit when not all do. */
static size_t s_limit(shape_t *self, const char *text, size_t len)
{
    if (self->max_tokens < 0)
        return len;
    unsigned long long budget = (unsigned long long)self->max_tokens * 4;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        if (self->cont > 0 && (b & 0xC0) == 0x80) {
            self->cont--; /* the rest of a character already counted */
            continue;
        }
        unsigned w = 1;
        int cont = 0;
        if (b >= 0xC2 && b <= 0xDF) {
            w = 2;
            cont = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            w = 4;
            cont = 2;
        } else if (b >= 0xF0 && b <= 0xF4) {
            w = 4;
            cont = 3;
        }
        if (self->quarters + w > budget) {
            self->limit_hit = true;
            return i;
        }
        self->quarters += w;
        self->cont = cont;
    }
    return len;
}

/* ---- stage 3: holding ---- */

static bool s_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*  Whether h (beginning with '{' or '`') starts a tool call as shape_end
    looks for it: '{' ws* "\"tool_calls\"", or a ``` fence (a language word
    of at most 32 bytes, a newline, ws*) before one. 1: it does; 0: it may
    (h is too short to tell); -1: it does not. */
static int s_candidate(const char *h, size_t n)
{
    static const char key[] = "\"tool_calls\"";
    size_t i = 0;
    if (h[0] == '`') {
        for (int k = 0; k < 3; k++, i++) {
            if (i >= n)
                return 0;
            if (h[i] != '`')
                return -1;
        }
        for (size_t l = 0; i < n && h[i] != '\n'; i++)
            if (h[i] == '`' || ++l > 32)
                return -1;
        if (i++ >= n)
            return 0;
    }
    while (i < n && s_space(h[i]))
        i++;
    if (i >= n)
        return 0;
    if (h[i++] != '{')
        return -1;
    while (i < n && s_space(h[i]))
        i++;
    for (size_t k = 0; k < sizeof key - 1; k++, i++) {
        if (i >= n)
            return 0;
        if (h[i] != key[k])
            return -1;
    }
    return 1;
}

static int s_hold(shape_t *self, const char *text, size_t len);

static int s_held_append(shape_t *self, const char *text, size_t len)
{
    if (self->held.len + len > self->max_held) {
        /* Too big to be a tool call or a JSON reply: release and stop shaping. */
        s_emit(self, self->held.data, self->held.len);
        abuf_free(&self->held);
        self->holding = false;
        self->overflow = true;
        s_emit(self, text, len);
        return 0;
    }
    return abuf_append(&self->held, text, len);
}

static int s_hold(shape_t *self, const char *text, size_t len)
{
    if (len == 0)
        return 0;
    if (self->overflow || !self->tools_on) {
        if (!self->overflow && self->hold_all)
            return s_held_append(self, text, len);
        s_emit(self, text, len);
        return 0;
    }
    if (self->holding && (self->confirmed || self->hold_all))
        return s_held_append(self, text, len);
    /* tool_choice auto: send text until a tool call may start, keep back a
       possible start while it may still be one, hold to the end from one
       that is (s_candidate). */
    abuf_reset(&self->scratch);
    if (abuf_append(&self->scratch, self->held.data, self->held.len) < 0 ||
        abuf_append(&self->scratch, text, len) < 0)
        return -1;
    abuf_reset(&self->held);
    self->holding = false;
    const char *w = self->scratch.data;
    size_t n = self->scratch.len;
    for (size_t t = 0; t < n; t++) {
        if (w[t] != '{' && w[t] != '`')
            continue;
        int c = s_candidate(w + t, n - t);
        if (c < 0)
            continue; /* not a call's start: it goes out with the text */
        s_emit(self, w, t);
        self->holding = true;
        self->confirmed = c > 0;
        return s_held_append(self, w + t, n - t);
    }
    s_emit(self, w, n);
    return 0;
}

/* ---- stage 2: stop ---- */

static int s_stop(shape_t *self, const char *text, size_t len)
{
    if (self->n_stop == 0)
        return s_hold(self, text, len);
    if (abuf_append(&self->pend, text, len) < 0)
        return -1;
    const char *w = self->pend.data;
    size_t n = self->pend.len;
    /* the earliest full match */
    const char *hit = NULL;
    for (size_t s = 0; s < self->n_stop; s++) {
        const char *p = memmem(w, n, self->stop[s], self->stop_len[s]);
        if (p && (!hit || p < hit))
            hit = p;
    }
    if (hit) {
        self->stop_hit = true;
        int rc = s_hold(self, w, (size_t)(hit - w));
        abuf_reset(&self->pend);
        return rc;
    }
    /* keep only the longest suffix that is a proper prefix of some stop */
    size_t keep = 0;
    for (size_t s = 0; s < self->n_stop; s++) {
        /* KMP over the last len-1 bytes: the longest prefix of the stop that
           ends the text, in time linear in the stop's length */
        const char *st = self->stop[s];
        const size_t *fail = self->stop_fail[s];
        size_t win = self->stop_len[s] - 1 < n ? self->stop_len[s] - 1 : n;
        size_t q = 0;
        for (size_t k = n - win; k < n; k++) {
            while (q > 0 && w[k] != st[q])
                q = fail[q - 1];
            if (w[k] == st[q])
                q++;
        }
        if (q > keep)
            keep = q;
    }
    int rc = s_hold(self, w, n - keep);
    abuf_consume(&self->pend, n - keep);
    return rc;
}

int shape_feed(shape_t *self, delta_kind_t kind, const char *text, size_t len)
{
    if (self->cut || self->ended)
        return SHAPE_CUT;
    if (len == 0)
        return SHAPE_MORE; /* the sink never sees an empty delta */
    if (kind != DELTA_TEXT) {
        self->sink.delta(self->arg, kind, text, len);
        return SHAPE_MORE;
    }
    size_t n = s_limit(self, text, len);
    if (s_stop(self, text, n) < 0)
        return SHAPE_ERROR;
    if (self->stop_hit)
        self->limit_hit = false; /* the stop came first: that is how it ended */
    if (self->stop_hit || self->limit_hit) {
        self->cut = true;
        return SHAPE_CUT;
    }
    return SHAPE_MORE;
}

/* ---- the end: tool calls ---- */

static bool s_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s_space(s[i]))
            return false;
    return true;
}

static bool s_known(const shape_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_tools; i++)
        if (strcmp(self->tools[i], name) == 0)
            return true;
    return false;
}

typedef struct {
    openai_tool_call_t *calls;
    size_t n;
} s_calls_t;

static void s_calls_free(s_calls_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->calls[i].id);
        free(c->calls[i].name);
        free(c->calls[i].arguments);
    }
    free(c->calls);
    c->calls = NULL;
    c->n = 0;
}

static char *s_call_id(void)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char *id = malloc(5 + 24 + 1);
    if (!id)
        return NULL;
    memcpy(id, "call_", 5);
    for (size_t i = 0; i < 24; i++)
        id[5 + i] = abc[randombytes_uniform(sizeof abc - 1)];
    id[29] = 0;
    return id;
}

/*  The calls of one parsed {"tool_calls": …} object; 0, or -1 with why in err
    (a reply that does not qualify), or -2 on OOM. */
static int s_calls_of(const shape_t *self, json_t *obj, s_calls_t *out, char *err, size_t errlen)
{
    json_t *tc = json_object_get(obj, "tool_calls");
    json_t *one = NULL;
    if (json_is_object(tc)) {
        one = json_array();
        if (!one || json_array_append(one, tc) < 0) {
            json_decref(one);
            return -2;
        }
        tc = one;
    }
    int rc = -1;
    if (!json_is_array(tc) || json_array_size(tc) == 0) {
        s_set_err(err, errlen, "\"tool_calls\" is not a non-empty array");
        goto done;
    }
    out->calls = calloc(json_array_size(tc), sizeof *out->calls);
    if (!out->calls) {
        rc = -2;
        goto done;
    }
    size_t i;
    json_t *el;
    json_array_foreach(tc, i, el)
    {
        json_t *f = json_object_get(el, "function"); /* OpenAI's own shape, also taken */
        if (!json_is_object(f))
            f = el;
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!json_is_object(el) || !name) {
            s_set_err(err, errlen, "tool call %zu has no \"name\"", i);
            goto done;
        }
        if (!s_known(self, name)) {
            s_set_err(err, errlen, "tool call %zu names \"%.64s\", which is not among the tools", i,
                      name);
            goto done;
        }
        if (self->choice == OPENAI_TOOL_NAMED && strcmp(name, self->choice_name) != 0)
            continue; /* only calls of the named function count */
        json_t *raw = json_object_get(f, "arguments");
        if (json_is_null(raw))
            raw = NULL; /* no arguments: {} */
        json_t *parsed = NULL;
        json_t *args = raw;
        if (json_is_string(raw)) { /* a JSON string holding the object, as OpenAI sends it */
            parsed = json_loadb(json_string_value(raw), json_string_length(raw), 0, NULL);
            if (!parsed) {
                s_set_err(err, errlen, "the \"arguments\" of tool call %zu are not JSON", i);
                goto done;
            }
            args = parsed;
        }
        if (args && !json_is_object(args)) {
            json_decref(parsed);
            s_set_err(err, errlen, "the \"arguments\" of tool call %zu are not an object", i);
            goto done;
        }
        char *text = args ? json_dumps(args, JSON_COMPACT) : strdup("{}");
        json_decref(parsed);
        if (!text) {
            rc = -2;
            goto done;
        }
        openai_tool_call_t *c = &out->calls[out->n++];
        c->arguments = text;
        c->name = strdup(name);
        c->id = s_call_id();
        if (!c->name || !c->id) {
            rc = -2;
            goto done;
        }
        if (!self->parallel)
            break; /* parallel_tool_calls false: the first call only */
    }
    if (out->n == 0) {
        s_set_err(err, errlen, "no call of \"%.64s\"", self->choice_name ? self->choice_name : "");
        goto done;
    }
    rc = 0;
done:
    json_decref(one);
    if (rc < 0)
        s_calls_free(out);
    return rc;
}

/*  Looks for {"tool_calls": …} in held text h; on success the object spans
    [*start, *end) and the calls are in out. 0, -1 (not a tool call: err),
    -2 (OOM). */
static int s_find_calls(const shape_t *self, const char *h, size_t n, size_t *start, size_t *end,
                        s_calls_t *out, char *err, size_t errlen)
{
    static const char key[] = "\"tool_calls\"";
    int tries = 0;
    s_set_err(err, errlen, "the answer has no {\"tool_calls\": […]} object");
    char first_err[256] = "";
    for (size_t i = 0; i < n && tries < SHAPE_MAX_CANDIDATES; i++) {
        if (h[i] != '{')
            continue;
        size_t j = i + 1;
        while (j < n && s_space(h[j]))
            j++;
        if (n - j < sizeof key - 1 || memcmp(h + j, key, sizeof key - 1) != 0)
            continue;
        tries++;
        json_error_t jerr;
        json_t *obj = json_loadb(h + i, n - i, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!obj) {
            if (!first_err[0])
                snprintf(first_err, sizeof first_err, "the tool call is not valid JSON: %s",
                         jerr.text);
            continue;
        }
        char why[256];
        int rc = s_calls_of(self, obj, out, why, sizeof why);
        json_decref(obj);
        if (rc == -2)
            return -2;
        if (rc == 0) {
            *start = i;
            *end = i + (size_t)jerr.position;
            return 0;
        }
        if (!first_err[0])
            snprintf(first_err, sizeof first_err, "%s", why);
    }
    if (first_err[0])
        s_set_err(err, errlen, "%s", first_err);
    return -1;
}

/*  Drops a ```lang fence opener at the end of pre (and blanks before it). */
static size_t s_strip_opener(const char *s, size_t n)
{
    size_t e = n;
    while (e > 0 && s_space(s[e - 1]))
        e--;
    size_t w = e; /* the language word */
    while (w > 0 && !s_space(s[w - 1]) && s[w - 1] != '`')
        w--;
    if (w >= 3 && memcmp(s + w - 3, "```", 3) == 0)
        return w - 3;
    return n;
}

/*  Drops a ``` fence closer at the start of post; returns the bytes to skip. */
static size_t s_strip_closer(const char *s, size_t n)
{
    size_t b = 0;
    while (b < n && s_space(s[b]))
        b++;
    if (n - b >= 3 && memcmp(s + b, "```", 3) == 0)
        return b + 3;
    return 0;
}

/* ---- the end: structured output ---- */

/*  Finds the JSON reply in h: the whole (trimmed), else the first ``` fence's
    body, else from the first '{' to the last '}'. 0 with [*s, *e), or -1. */
static int s_find_json(const shape_t *self, const char *h, size_t n, size_t *s, size_t *e,
                       char *err, size_t errlen)
{
    size_t b = 0, t = n;
    while (b < t && s_space(h[b]))
        b++;
    while (t > b && s_space(h[t - 1]))
        t--;
    size_t cand[3][2];
    size_t nc = 0;
    cand[nc][0] = b;
    cand[nc++][1] = t;
    const char *f = memmem(h, n, "```", 3);
    if (f) {
        size_t fb = (size_t)(f - h) + 3;
        while (fb < n && h[fb] != '\n')
            fb++; /* the language word */
        const char *c = fb < n ? memmem(h + fb, n - fb, "```", 3) : NULL;
        if (c) {
            cand[nc][0] = fb;
            cand[nc++][1] = (size_t)(c - h);
        }
    }
    const char *o = memchr(h, '{', n);
    if (o) {
        size_t cb = n;
        while (cb > 0 && h[cb - 1] != '}')
            cb--;
        if (cb > (size_t)(o - h)) {
            cand[nc][0] = (size_t)(o - h);
            cand[nc++][1] = cb;
        }
    }
    json_error_t first;
    memset(&first, 0, sizeof first);
    for (size_t k = 0; k < nc; k++) {
        size_t cs = cand[k][0], ce = cand[k][1];
        while (cs < ce && s_space(h[cs]))
            cs++;
        while (ce > cs && s_space(h[ce - 1]))
            ce--;
        json_error_t jerr;
        json_t *v = json_loadb(h + cs, ce - cs, JSON_DECODE_ANY, &jerr);
        if (!v) {
            if (k == 0)
                first = jerr;
            continue;
        }
        bool obj = json_is_object(v);
        json_decref(v);
        if (self->format == OPENAI_FORMAT_JSON_OBJECT && !obj) {
            s_set_err(err, errlen, "the answer is JSON but not an object");
            return -1;
        }
        *s = cs;
        *e = ce;
        return 0;
    }
    if (t == b)
        s_set_err(err, errlen, "the answer is empty, not JSON");
    else
        s_set_err(err, errlen, "the answer is not valid JSON: %s (line %d, column %d)", first.text,
                  first.line, first.column);
    return -1;
}

static const char *s_reason(const shape_t *self)
{
    return self->stop_hit ? "stop" : self->limit_hit ? "length" : "stop";
}

int shape_end(shape_t *self, const char **finish_reason, char *err, size_t errlen)
{
    const char *fr_dummy;
    if (!finish_reason)
        finish_reason = &fr_dummy;
    *finish_reason = s_reason(self);
    s_set_err(err, errlen, "%s", "");
    if (self->ended)
        return self->invalid ? SHAPE_INVALID : SHAPE_OK;
    self->ended = true;
    /* what was kept back as a possible stop string's start is text after all */
    if (!self->stop_hit && self->pend.len) {
        if (s_hold(self, self->pend.data, self->pend.len) < 0)
            return SHAPE_ERROR;
        abuf_reset(&self->pend);
    }
    if (self->overflow || !self->held.len) {
        if (!self->overflow && self->hold_all)
            goto check; /* an empty answer still has to be a call / JSON */
        return SHAPE_OK;
    }
check:;
    const char *h = self->held.data ? self->held.data : "";
    size_t n = self->held.len;
    char why[256] = "";
    if (self->tools_on) {
        s_calls_t calls = {NULL, 0};
        size_t s = 0, e = 0;
        int rc = s_find_calls(self, h, n, &s, &e, &calls, why, sizeof why);
        if (rc == -2)
            return SHAPE_ERROR;
        if (rc == 0) {
            size_t pre = s_strip_opener(h, s);
            size_t skip = s_strip_closer(h + e, n - e);
            if (!s_blank(h, pre))
                s_emit(self, h, pre);
            if (!s_blank(h + e + skip, n - e - skip))
                s_emit(self, h + e + skip, n - e - skip);
            for (size_t i = 0; i < calls.n; i++)
                self->sink.tool_call(self->arg, i, &calls.calls[i]);
            s_calls_free(&calls);
            *finish_reason = "tool_calls";
            return SHAPE_OK;
        }
        if (self->choice == OPENAI_TOOL_REQUIRED || self->choice == OPENAI_TOOL_NAMED) {
            s_set_err(err, errlen, "a tool call was required (tool_choice %s) but %s",
                      self->choice == OPENAI_TOOL_NAMED ? "names a function" : "\"required\"", why);
            self->invalid = true;
            return SHAPE_INVALID;
        }
    }
    if (self->format != OPENAI_FORMAT_TEXT && !self->limit_hit) {
        size_t s = 0, e = 0;
        if (s_find_json(self, h, n, &s, &e, why, sizeof why) < 0) {
            s_set_err(err, errlen, "%s", why);
            self->invalid = true;
            return SHAPE_INVALID;
        }
        if (self->format == OPENAI_FORMAT_JSON_SCHEMA && self->strict && self->schema) {
            char serr[320];
            int v = schema_validate(self->schema, strlen(self->schema), h + s, e - s, serr,
                                    sizeof serr);
            if (v != 1) {
                s_set_err(err, errlen, "%s: %s",
                          v == 0 ? "the answer does not match the schema"
                                 : "the schema cannot be applied",
                          serr);
                self->invalid = true;
                return SHAPE_INVALID;
            }
        }
        s_emit(self, h + s, e - s);
        return SHAPE_OK;
    }
    /* not a tool call (or cut by max_tokens): the answer is text */
    s_emit(self, h, n);
    return SHAPE_OK;
}

int shape_flush(shape_t *self, const char **finish_reason)
{
    if (finish_reason)
        *finish_reason = s_reason(self);
    if (self->invalid) {
        self->invalid = false;
        s_emit(self, self->held.data, self->held.len);
    }
    return SHAPE_OK;
}
