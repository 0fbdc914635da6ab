/*  frame — the JSON frames of LINK-PROTOCOL.md; see frame.h.

    Decoding goes through jansson (a frame is one small-ish object; the size is
    checked before parsing). Encoding writes compact JSON straight into an abuf
    so the hot paths (chunk, fetch) never build a jansson tree. Every encoder
    leaves `out` unchanged when it fails. Pure: no sockets, no threads. */
#include "protocol/frame.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Longest accepted value for small text fields (token, stage, version...). */
#define S_MAX_SMALL 4096

/* ------------------------------------------------------------------ decode */

__attribute__((format(printf, 3, 4))) static frame_rc_t s_fail(char *err, size_t errlen,
                                                               const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return FRAME_MALFORMED;
}

typedef enum { S_OPTIONAL = 0, S_REQUIRED = 1 } s_need_t;

/*  Reads obj[key] as a C string without embedded NULs, at most max bytes.
    Absent optional keys leave *out NULL and succeed. */
static int s_str(json_t *obj, const char *key, s_need_t need, size_t max, const char **out,
                 char *err, size_t errlen)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (need == S_REQUIRED) {
            s_fail(err, errlen, "missing \"%s\"", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        s_fail(err, errlen, "\"%s\" is not a string", key);
        return -1;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n > max || strlen(s) != n) {
        s_fail(err, errlen, "\"%s\" is too long or holds NUL", key);
        return -1;
    }
    *out = s;
    return 0;
}

/*  A string that may hold NULs (chunk data, page html, fetch body). */
static int s_blob(json_t *obj, const char *key, s_need_t need, const char **out, size_t *len,
                  char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (need == S_REQUIRED) {
            s_fail(err, errlen, "missing \"%s\"", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        s_fail(err, errlen, "\"%s\" is not a string", key);
        return -1;
    }
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

static int s_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

/*  Job ids and tab ids: 1..FRAME_MAX_ID printable ASCII bytes. */
static int s_ident(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
    if (s_str(obj, key, S_REQUIRED, FRAME_MAX_ID, out, err, errlen) < 0)
        return -1;
    if (**out == '\0' || !s_printable(*out)) {
        s_fail(err, errlen, "\"%s\" is empty or not printable", key);
        return -1;
    }
    return 0;
}

static int s_int(json_t *obj, const char *key, long long *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        s_fail(err, errlen, "\"%s\" is missing or not an integer", key);
        return -1;
    }
    *out = (long long)json_integer_value(v);
    return 0;
}

static int s_bool(json_t *obj, const char *key, bool *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) {
        s_fail(err, errlen, "\"%s\" is missing or not a boolean", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/*  An optional object member; NULL when absent, -1 when mistyped. */
static int s_object(json_t *obj, const char *key, json_t **out, char *err, size_t errlen)
{
    *out = json_object_get(obj, key);
    if (*out && !json_is_object(*out)) {
        s_fail(err, errlen, "\"%s\" is not an object", key);
        return -1;
    }
    return 0;
}

/*  1..32 of [a-z0-9_-]: a word such as head's "upload". */
static bool s_word_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

bool frame_account_ok(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 32;
}

/*  An optional string added after version 1: an owned copy when it is a
    string that ok() accepts, else NULL (never an error but out of memory). */
static int s_opt_copy(json_t *obj, const char *key, bool (*ok)(const char *), char **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v) || !ok(s))
        return 0;
    *out = strdup(s);
    if (!*out) {
        s_fail(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int s_dec_hello(json_t *o, frame_t *f, char *err, size_t errlen)
{
    if (s_str(o, "token", S_REQUIRED, S_MAX_SMALL, &f->token, err, errlen) < 0 ||
        s_ident(o, "tab", &f->tab, err, errlen) < 0 ||
        s_str(o, "version", S_REQUIRED, S_MAX_SMALL, &f->version, err, errlen) < 0 ||
        s_str(o, "href", S_OPTIONAL, FRAME_MAX, &f->href, err, errlen) < 0 ||
        s_str(o, "ua", S_OPTIONAL, S_MAX_SMALL, &f->ua, err, errlen) < 0)
        return -1;
    return 0;
}

static int s_dec_head(json_t *o, frame_t *f, char *err, size_t errlen)
{
    long long status;
    json_t *h;
    if (s_ident(o, "id", &f->id, err, errlen) < 0 || s_int(o, "status", &status, err, errlen) < 0)
        return -1;
    if (status < 100 || status > 599) {
        s_fail(err, errlen, "status %lld out of range", status);
        return -1;
    }
    f->status = (int)status;
    if (s_object(o, "headers", &h, err, errlen) < 0)
        return -1;
    f->headers = h;
    if (h &&
        (s_str(h, "content-type", S_OPTIONAL, S_MAX_SMALL, &f->content_type, err, errlen) < 0 ||
         s_str(h, "retry-after", S_OPTIONAL, S_MAX_SMALL, &f->retry_after, err, errlen) < 0))
        return -1;
    return s_opt_copy(o, "upload", s_word_ok, &f->upload, err, errlen);
}

static int s_dec_chunk(json_t *o, frame_t *f, char *err, size_t errlen)
{
    if (s_ident(o, "id", &f->id, err, errlen) < 0 ||
        s_blob(o, "data", S_REQUIRED, &f->data, &f->data_len, err, errlen) < 0)
        return -1;
    return 0;
}

static int s_dec_id_only(json_t *o, frame_t *f, char *err, size_t errlen)
{
    return s_ident(o, "id", &f->id, err, errlen);
}

static int s_dec_fail(json_t *o, frame_t *f, char *err, size_t errlen)
{
    if (s_ident(o, "id", &f->id, err, errlen) < 0 ||
        s_str(o, "stage", S_REQUIRED, S_MAX_SMALL, &f->stage, err, errlen) < 0 ||
        s_str(o, "message", S_OPTIONAL, FRAME_MAX, &f->message, err, errlen) < 0)
        return -1;
    return 0;
}

/*  "page" is both the node's request (no html) and the tab's reply. */
static int s_dec_page(json_t *o, frame_t *f, char *err, size_t errlen)
{
    if (s_ident(o, "id", &f->id, err, errlen) < 0 ||
        s_blob(o, "html", S_OPTIONAL, &f->data, &f->data_len, err, errlen) < 0 ||
        s_str(o, "href", S_OPTIONAL, FRAME_MAX, &f->href, err, errlen) < 0)
        return -1;
    if (!f->data)
        f->type = FRAME_PAGE_REQ;
    return 0;
}

static int s_dec_state(json_t *o, frame_t *f, char *err, size_t errlen)
{
    if (s_bool(o, "challenge", &f->challenge, err, errlen) < 0 ||
        s_bool(o, "recaptcha", &f->recaptcha, err, errlen) < 0)
        return -1;
    json_t *li = json_object_get(o, "logged_in");
    f->logged_in = json_is_boolean(li) ? json_is_true(li) : -1;
    return s_opt_copy(o, "account", frame_account_ok, &f->account, err, errlen);
}

static int s_dec_t(json_t *o, frame_t *f, char *err, size_t errlen)
{
    return s_int(o, "t", &f->t, err, errlen);
}

static int s_dec_nothing(json_t *o, frame_t *f, char *err, size_t errlen)
{
    (void)o, (void)f, (void)err, (void)errlen;
    return 0;
}

static int s_dec_welcome(json_t *o, frame_t *f, char *err, size_t errlen)
{
    if (s_str(o, "node", S_REQUIRED, S_MAX_SMALL, &f->node, err, errlen) < 0 ||
        s_str(o, "version", S_REQUIRED, S_MAX_SMALL, &f->version, err, errlen) < 0)
        return -1;
    return 0;
}

static int s_dec_recaptcha(json_t *o, frame_t *f, char *err, size_t errlen)
{
    json_t *rc;
    if (s_object(o, "recaptcha", &rc, err, errlen) < 0)
        return -1;
    if (!rc)
        return 0;
    if (s_str(rc, "field", S_REQUIRED, S_MAX_SMALL, &f->rc_field, err, errlen) < 0 ||
        s_str(rc, "action", S_REQUIRED, S_MAX_SMALL, &f->rc_action, err, errlen) < 0 ||
        s_str(rc, "sitekey", S_OPTIONAL, S_MAX_SMALL, &f->rc_sitekey, err, errlen) < 0)
        return -1;
    return 0;
}

static int s_id_ok(const char *id);

static int s_dec_fetch(json_t *o, frame_t *f, char *err, size_t errlen)
{
    json_t *h;
    if (s_ident(o, "id", &f->id, err, errlen) < 0 ||
        s_str(o, "url", S_REQUIRED, FRAME_MAX, &f->url, err, errlen) < 0 ||
        s_str(o, "method", S_REQUIRED, 16, &f->method, err, errlen) < 0 ||
        s_object(o, "headers", &h, err, errlen) < 0 ||
        s_blob(o, "body", S_OPTIONAL, &f->body, &f->body_len, err, errlen) < 0 ||
        s_dec_recaptcha(o, f, err, errlen) < 0)
        return -1;
    f->headers = h;
    if (h && s_str(h, "content-type", S_OPTIONAL, S_MAX_SMALL, &f->content_type, err, errlen) < 0)
        return -1;
    /* added after version 1: another shape reads as absent */
    const char *rid = json_string_value(json_object_get(o, "request_id"));
    if (rid && s_id_ok(rid))
        f->request_id = rid;
    return 0;
}

typedef int(s_decoder_fn)(json_t *o, frame_t *f, char *err, size_t errlen);

typedef struct {
    const char *name;
    frame_type_t type;
    s_decoder_fn *decode;
} s_decoder_t;

static const s_decoder_t s_decoders[] = {
    {"hello", FRAME_HELLO, s_dec_hello},
    {"head", FRAME_HEAD, s_dec_head},
    {"chunk", FRAME_CHUNK, s_dec_chunk},
    {"done", FRAME_DONE, s_dec_id_only},
    {"fail", FRAME_FAIL, s_dec_fail},
    {"page", FRAME_PAGE, s_dec_page},
    {"state", FRAME_STATE, s_dec_state},
    {"pong", FRAME_PONG, s_dec_t},
    {"captured", FRAME_CAPTURED, s_dec_nothing},
    {"welcome", LINK_WELCOME, s_dec_welcome},
    {"fetch", FRAME_FETCH, s_dec_fetch},
    {"abort", FRAME_ABORT, s_dec_id_only},
    {"reload", FRAME_RELOAD, s_dec_nothing},
    {"ping", FRAME_PING, s_dec_t},
};

const char *frame_type_name(frame_type_t t)
{
    if (t == FRAME_PAGE_REQ)
        return "page";
    for (size_t i = 0; i < sizeof s_decoders / sizeof s_decoders[0]; i++)
        if (s_decoders[i].type == t)
            return s_decoders[i].name;
    return "unknown";
}

frame_rc_t frame_decode(const char *buf, size_t len, frame_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->logged_in = -1;
    if (err && errlen)
        err[0] = '\0';
    if (len > FRAME_MAX) {
        if (err && errlen)
            snprintf(err, errlen, "frame of %zu bytes is over the limit", len);
        return FRAME_TOOBIG;
    }
    if (!buf)
        return s_fail(err, errlen, "no frame");
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_ALLOW_NUL, &jerr);
    if (!root)
        return s_fail(err, errlen, "bad JSON: %s", jerr.text);
    out->root = root;
    if (!json_is_object(root)) {
        frame_clear(out);
        return s_fail(err, errlen, "frame is not an object");
    }
    const char *type;
    if (s_str(root, "type", S_REQUIRED, 64, &type, err, errlen) < 0) {
        frame_clear(out);
        return FRAME_MALFORMED;
    }
    for (size_t i = 0; i < sizeof s_decoders / sizeof s_decoders[0]; i++) {
        if (strcmp(type, s_decoders[i].name) != 0)
            continue;
        out->type = s_decoders[i].type;
        if (s_decoders[i].decode(root, out, err, errlen) < 0) {
            frame_clear(out);
            return FRAME_MALFORMED;
        }
        return FRAME_OK;
    }
    out->type = FRAME_UNKNOWN;
    return FRAME_OK;
}

void frame_clear(frame_t *f)
{
    if (!f)
        return;
    json_decref(f->root);
    free(f->upload);
    free(f->account);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ encode */

/*  Appends ,"key":"escaped value" (or {"key":... when first). */
static int s_kv_str(abuf_t *b, const char *key, const char *s, size_t len)
{
    if (abuf_printf(b, "\"%s\":\"", key) < 0 || abuf_json_escape(b, s, len) < 0 ||
        abuf_append(b, "\"", 1) < 0)
        return -1;
    return 0;
}

static int s_field(abuf_t *b, const char *key, const char *s)
{
    if (abuf_append(b, ",", 1) < 0)
        return -1;
    return s_kv_str(b, key, s, strlen(s));
}

/*  Appends ,"key":"..." only when s is not NULL. */
static int s_opt_field(abuf_t *b, const char *key, const char *s)
{
    return s ? s_field(b, key, s) : 0;
}

static int s_begin(abuf_t *b, const char *type)
{
    return abuf_printf(b, "{\"type\":\"%s\"", type);
}

static int s_end(abuf_t *b)
{
    return abuf_append(b, "}", 1);
}

/*  Rolls back to `mark` on failure so a failed encoder leaves no trace. */
static int s_done(abuf_t *b, size_t mark, int rc)
{
    if (rc < 0) {
        b->len = mark;
        if (b->data)
            b->data[mark] = '\0';
        return -1;
    }
    return 0;
}

static int s_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= FRAME_MAX_ID && s_printable(id);
}

static int s_id_frame(abuf_t *out, const char *type, const char *id)
{
    if (!s_id_ok(id))
        return -1;
    size_t mark = out->len;
    int rc = s_begin(out, type) < 0 || s_field(out, "id", id) < 0 || s_end(out) < 0 ? -1 : 0;
    return s_done(out, mark, rc);
}

int frame_encode_welcome(abuf_t *out, const char *node)
{
    if (!node)
        return -1;
    size_t mark = out->len;
    int rc = s_begin(out, "welcome") < 0 || s_field(out, "node", node) < 0 ||
                     s_field(out, "version", FRAME_PROTOCOL_VERSION) < 0 || s_end(out) < 0
                 ? -1
                 : 0;
    return s_done(out, mark, rc);
}

static int s_fetch_headers(abuf_t *out, const char *content_type)
{
    if (abuf_puts(out, ",\"headers\":{") < 0)
        return -1;
    if (content_type && s_kv_str(out, "content-type", content_type, strlen(content_type)) < 0)
        return -1;
    return abuf_append(out, "}", 1);
}

static int s_fetch_recaptcha(abuf_t *out, const frame_recaptcha_t *rc)
{
    if (!rc)
        return 0;
    if (abuf_puts(out, ",\"recaptcha\":{") < 0 ||
        s_kv_str(out, "field", rc->field, strlen(rc->field)) < 0 ||
        s_field(out, "action", rc->action) < 0 || s_opt_field(out, "sitekey", rc->sitekey) < 0)
        return -1;
    return abuf_append(out, "}", 1);
}

int frame_encode_fetch(abuf_t *out, const char *id, const char *url, const char *method,
                       const char *content_type, const char *body, size_t body_len,
                       const frame_recaptcha_t *rc)
{
    return frame_encode_fetch_ex(out, id, url, method, content_type, body, body_len, rc, NULL);
}

int frame_encode_fetch_ex(abuf_t *out, const char *id, const char *url, const char *method,
                          const char *content_type, const char *body, size_t body_len,
                          const frame_recaptcha_t *rc, const char *request_id)
{
    if (!s_id_ok(id) || !url || !method || (rc && (!rc->field || !rc->action)) ||
        (request_id && !s_id_ok(request_id)))
        return -1;
    size_t mark = out->len;
    int r = s_begin(out, "fetch") < 0 || s_field(out, "id", id) < 0 ||
                    s_field(out, "url", url) < 0 || s_field(out, "method", method) < 0 ||
                    s_fetch_headers(out, content_type) < 0
                ? -1
                : 0;
    if (r == 0 && body)
        r = abuf_append(out, ",", 1) < 0 || s_kv_str(out, "body", body, body_len) < 0 ? -1 : 0;
    if (r == 0)
        r = s_fetch_recaptcha(out, rc) < 0 || s_opt_field(out, "request_id", request_id) < 0 ||
                    s_end(out) < 0
                ? -1
                : 0;
    return s_done(out, mark, r);
}

int frame_encode_abort(abuf_t *out, const char *id)
{
    return s_id_frame(out, "abort", id);
}

int frame_encode_page_req(abuf_t *out, const char *id)
{
    return s_id_frame(out, "page", id);
}

int frame_encode_reload(abuf_t *out)
{
    return abuf_puts(out, "{\"type\":\"reload\"}");
}

static int s_t_frame(abuf_t *out, const char *type, long long t)
{
    return abuf_printf(out, "{\"type\":\"%s\",\"t\":%lld}", type, t);
}

int frame_encode_ping(abuf_t *out, long long t)
{
    return s_t_frame(out, "ping", t);
}

int frame_encode_hello(abuf_t *out, const char *token, const char *tab, const char *href,
                       const char *ua)
{
    if (!token || !s_id_ok(tab))
        return -1;
    size_t mark = out->len;
    int rc = s_begin(out, "hello") < 0 || s_field(out, "token", token) < 0 ||
                     s_field(out, "tab", tab) < 0 ||
                     s_field(out, "version", FRAME_PROTOCOL_VERSION) < 0 ||
                     s_opt_field(out, "href", href) < 0 || s_opt_field(out, "ua", ua) < 0 ||
                     s_end(out) < 0
                 ? -1
                 : 0;
    return s_done(out, mark, rc);
}

static int s_head_headers(abuf_t *out, const char *content_type, const char *retry_after)
{
    if (abuf_puts(out, ",\"headers\":{") < 0)
        return -1;
    const char *sep = "";
    if (content_type) {
        if (s_kv_str(out, "content-type", content_type, strlen(content_type)) < 0)
            return -1;
        sep = ",";
    }
    if (retry_after && (abuf_puts(out, sep) < 0 ||
                        s_kv_str(out, "retry-after", retry_after, strlen(retry_after)) < 0))
        return -1;
    return abuf_append(out, "}", 1);
}

int frame_encode_head(abuf_t *out, const char *id, int status, const char *content_type,
                      const char *retry_after)
{
    return frame_encode_head_ex(out, id, status, content_type, retry_after, NULL);
}

int frame_encode_head_ex(abuf_t *out, const char *id, int status, const char *content_type,
                         const char *retry_after, const char *upload)
{
    if (!s_id_ok(id) || status < 100 || status > 599 || (upload && !s_word_ok(upload)))
        return -1;
    size_t mark = out->len;
    int rc = s_begin(out, "head") < 0 || s_field(out, "id", id) < 0 ||
                     abuf_printf(out, ",\"status\":%d", status) < 0 ||
                     s_head_headers(out, content_type, retry_after) < 0 ||
                     s_opt_field(out, "upload", upload) < 0 || s_end(out) < 0
                 ? -1
                 : 0;
    return s_done(out, mark, rc);
}

int frame_encode_chunk(abuf_t *out, const char *id, const char *data, size_t len)
{
    if (!s_id_ok(id) || (!data && len))
        return -1;
    size_t mark = out->len;
    int rc = s_begin(out, "chunk") < 0 || s_field(out, "id", id) < 0 ||
                     abuf_append(out, ",", 1) < 0 ||
                     s_kv_str(out, "data", data ? data : "", len) < 0 || s_end(out) < 0
                 ? -1
                 : 0;
    return s_done(out, mark, rc);
}

int frame_encode_done(abuf_t *out, const char *id)
{
    return s_id_frame(out, "done", id);
}

int frame_encode_fail(abuf_t *out, const char *id, const char *stage, const char *message)
{
    if (!s_id_ok(id) || !stage)
        return -1;
    size_t mark = out->len;
    int rc = s_begin(out, "fail") < 0 || s_field(out, "id", id) < 0 ||
                     s_field(out, "stage", stage) < 0 || s_opt_field(out, "message", message) < 0 ||
                     s_end(out) < 0
                 ? -1
                 : 0;
    return s_done(out, mark, rc);
}

int frame_encode_page(abuf_t *out, const char *id, const char *href, const char *html, size_t len)
{
    if (!s_id_ok(id) || (!html && len))
        return -1;
    size_t mark = out->len;
    int rc = s_begin(out, "page") < 0 || s_field(out, "id", id) < 0 ||
                     s_opt_field(out, "href", href) < 0 || abuf_append(out, ",", 1) < 0 ||
                     s_kv_str(out, "html", html ? html : "", len) < 0 || s_end(out) < 0
                 ? -1
                 : 0;
    return s_done(out, mark, rc);
}

int frame_encode_state(abuf_t *out, bool challenge, bool recaptcha)
{
    frame_state_t st = {challenge, recaptcha, -1, NULL};
    return frame_encode_state_ex(out, &st);
}

int frame_encode_state_ex(abuf_t *out, const frame_state_t *st)
{
    if (st->account && !frame_account_ok(st->account))
        return -1;
    size_t mark = out->len;
    int rc = abuf_printf(out, "{\"type\":\"state\",\"challenge\":%s,\"recaptcha\":%s",
                         st->challenge ? "true" : "false", st->recaptcha ? "true" : "false");
    if (rc == 0 && st->logged_in >= 0)
        rc = abuf_printf(out, ",\"logged_in\":%s", st->logged_in ? "true" : "false");
    if (rc == 0)
        rc = s_opt_field(out, "account", st->account) < 0 || s_end(out) < 0 ? -1 : 0;
    return s_done(out, mark, rc);
}

int frame_encode_pong(abuf_t *out, long long t)
{
    return s_t_frame(out, "pong", t);
}
