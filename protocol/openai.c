/*  openai — see openai.h.

    Owns the validation of client /v1/chat/completions bodies into a normalized
    openai_request_t, and every byte of OpenAI-shaped output: error bodies, SSE
    chunks, whole chat.completion bodies and the model list.

    Threading: pure functions over caller-owned data; no shared state, so any
    thread may call any function.

    All rendered strings go through s_put_str, which escapes for JSON and
    replaces invalid UTF-8 with U+FFFD, so the output is strict JSON whatever
    bytes the upstream sent. A renderer that fails leaves `out` as it found it. */
#include "protocol/openai.h"
#include "protocol/utf8.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPENAI_PARAM_MAX 96 /* scratch size for field paths; err->param truncates */

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

typedef struct {
    const char *code;
    int status;
    const char *type;
} error_kind_t;

static const error_kind_t s_error_kinds[] = {
    {"invalid_request", 400, "invalid_request_error"},
    {"invalid_api_key", 401, "authentication_error"},
    {"not_found", 404, "invalid_request_error"},
    {"model_not_found", 404, "invalid_request_error"},
    {"method_not_allowed", 405, "invalid_request_error"},
    {"request_too_large", 413, "invalid_request_error"},
    {"content_rejected", 422, "invalid_request_error"},
    {"rate_limited", 429, "rate_limit_error"},
    {"internal_error", 500, "server_error"},
    {"upstream_error", 502, "server_error"},
    {"no_capacity", 503, "server_error"},
};

static const error_kind_t *s_error_kind(const char *code)
{
    if (!code)
        return NULL;
    for (size_t i = 0; i < sizeof s_error_kinds / sizeof s_error_kinds[0]; i++)
        if (strcmp(s_error_kinds[i].code, code) == 0)
            return &s_error_kinds[i];
    return NULL;
}

int openai_error_status(const char *code)
{
    const error_kind_t *kind = s_error_kind(code);
    return kind ? kind->status : 400;
}

void openai_error_set(openai_error_t *err, const char *code, const char *param, const char *fmt,
                      ...)
{
    if (!err)
        return;
    const error_kind_t *kind = s_error_kind(code);
    err->status = kind ? kind->status : 400;
    err->type = kind ? kind->type : "invalid_request_error";
    /* Unknown codes keep the caller's pointer: callers pass literals. */
    err->code = kind ? kind->code : (code ? code : "invalid_request");
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    err->message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
}

/* ------------------------------------------------------------------------ */
/* Limits and request lifetime                                               */

void openai_limits_default(openai_limits_t *lim)
{
    lim->max_depth = OPENAI_DEFAULT_MAX_DEPTH;
    lim->max_messages = OPENAI_DEFAULT_MAX_MESSAGES;
    lim->max_parts = 64;
    lim->max_images = 16;
    lim->max_model_len = 256;
}

static void s_message_clear(openai_message_t *msg)
{
    free(msg->role);
    free(msg->content);
    for (size_t i = 0; i < msg->n_images; i++)
        free(msg->images[i].url);
    free(msg->images);
    memset(msg, 0, sizeof *msg);
}

void openai_request_destroy(openai_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    openai_request_t *self = *self_p;
    for (size_t i = 0; i < self->n_messages; i++)
        s_message_clear(&self->messages[i]);
    free(self->messages);
    free(self->model);
    free(self);
    *self_p = NULL;
}

static bool s_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool s_message_equal(const openai_message_t *a, const openai_message_t *b)
{
    if (!s_str_eq(a->role, b->role) || !s_str_eq(a->content, b->content) ||
        a->n_images != b->n_images)
        return false;
    for (size_t i = 0; i < a->n_images; i++)
        if (!s_str_eq(a->images[i].url, b->images[i].url))
            return false;
    return true;
}

bool openai_request_equal(const openai_request_t *a, const openai_request_t *b)
{
    if (!a || !b)
        return a == b;
    if (!s_str_eq(a->model, b->model) || a->stream != b->stream ||
        a->include_usage != b->include_usage || a->n_messages != b->n_messages ||
        a->n_images_total != b->n_images_total)
        return false;
    for (size_t i = 0; i < a->n_messages; i++)
        if (!s_message_equal(&a->messages[i], &b->messages[i]))
            return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */

typedef struct {
    const openai_limits_t *lim;
    openai_error_t *err;
    openai_request_t *req;
} parse_ctx_t;

/*  Deepest bracket nesting outside strings, stopping as soon as it passes
    max. Linear and allocation-free, so a bracket bomb costs one scan. */
static bool s_depth_ok(const char *body, size_t len, size_t max)
{
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped byte cannot end the string */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}

static const char *s_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static int s_oom(parse_ctx_t *p)
{
    openai_error_set(p->err, "internal_error", NULL, "out of memory while parsing the request");
    return -1;
}

static int s_parse_model(parse_ctx_t *p, json_t *root)
{
    json_t *model = json_object_get(root, "model");
    if (!model)
        goto missing;
    if (!json_is_string(model)) {
        openai_error_set(p->err, "invalid_request", "model", "model must be a string, not %s",
                         s_type_name(model));
        return -1;
    }
    const char *s = json_string_value(model);
    size_t len = json_string_length(model);
    if (len == 0) {
        openai_error_set(p->err, "invalid_request", "model", "model must not be empty");
        return -1;
    }
    if (len > p->lim->max_model_len) {
        openai_error_set(p->err, "invalid_request", "model",
                         "model is %zu bytes long; at most %zu bytes are allowed", len,
                         p->lim->max_model_len);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            openai_error_set(p->err, "invalid_request", "model",
                             "model must not contain control characters");
            return -1;
        }
    }
    p->req->model = strdup(s);
    return p->req->model ? 0 : s_oom(p);
missing:
    openai_error_set(p->err, "invalid_request", "model", "missing required field: model");
    return -1;
}

/*  An optional boolean; JSON null counts as absent, as in OpenAI's API. */
static int s_parse_bool(parse_ctx_t *p, json_t *obj, const char *key, const char *param, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        openai_error_set(p->err, "invalid_request", param, "%s must be a boolean, not %s", param,
                         s_type_name(v));
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int s_parse_stream(parse_ctx_t *p, json_t *root)
{
    if (s_parse_bool(p, root, "stream", "stream", &p->req->stream) < 0)
        return -1;
    json_t *opts = json_object_get(root, "stream_options");
    if (!opts || json_is_null(opts))
        return 0;
    if (!json_is_object(opts)) {
        openai_error_set(p->err, "invalid_request", "stream_options",
                         "stream_options must be an object, not %s", s_type_name(opts));
        return -1;
    }
    return s_parse_bool(p, opts, "include_usage", "stream_options.include_usage",
                        &p->req->include_usage);
}

static bool s_is_role(const char *role)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(roles[i], role) == 0)
            return true;
    return false;
}

static bool s_is_base64(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || c == '=';
        if (!ok)
            return false;
    }
    return true;
}

/*  data:image/<subtype>;base64,<payload> with a base64 payload. */
static bool s_is_image_data_uri(const char *url)
{
    const char *prefix = "data:image/";
    size_t plen = strlen(prefix);
    if (strncasecmp(url, prefix, plen) != 0)
        return false;
    const char *s = url + plen;
    size_t sub = 0;
    while (s[sub] &&
           (s[sub] == '.' || s[sub] == '+' || s[sub] == '-' || (s[sub] >= 'a' && s[sub] <= 'z') ||
            (s[sub] >= 'A' && s[sub] <= 'Z') || (s[sub] >= '0' && s[sub] <= '9')))
        sub++;
    if (sub == 0 || sub > 64 || strncasecmp(s + sub, ";base64,", 8) != 0)
        return false;
    return s_is_base64(s + sub + 8);
}

static bool s_is_http_url(const char *url)
{
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    if (!url[skip])
        return false;
    for (const char *s = url + skip; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    return true;
}

/*  Validates one content part. On success exactly one of *text and *url is
    set, borrowed from the JSON tree. */
static int s_part_get(parse_ctx_t *p, json_t *part, const char *path, const char **text,
                      const char **url)
{
    char param[OPENAI_PARAM_MAX];
    *text = *url = NULL;
    if (!json_is_object(part)) {
        openai_error_set(p->err, "invalid_request", path, "%s must be an object, not %s", path,
                         s_type_name(part));
        return -1;
    }
    json_t *type = json_object_get(part, "type");
    snprintf(param, sizeof param, "%s.type", path);
    if (!json_is_string(type)) {
        openai_error_set(p->err, "invalid_request", param,
                         type ? "%s must be a string" : "%s is required", param);
        return -1;
    }
    const char *t = json_string_value(type);
    if (strcmp(t, "text") == 0) {
        json_t *v = json_object_get(part, "text");
        snprintf(param, sizeof param, "%s.text", path);
        if (!json_is_string(v)) {
            openai_error_set(p->err, "invalid_request", param,
                             v ? "%s must be a string" : "%s is required", param);
            return -1;
        }
        *text = json_string_value(v);
        return 0;
    }
    if (strcmp(t, "image_url") != 0) {
        openai_error_set(p->err, "invalid_request", param,
                         "%s must be \"text\" or \"image_url\"; other part types are not "
                         "supported",
                         param);
        return -1;
    }
    json_t *img = json_object_get(part, "image_url");
    json_t *u = json_is_object(img) ? json_object_get(img, "url") : img;
    snprintf(param, sizeof param, json_is_object(img) ? "%s.image_url.url" : "%s.image_url", path);
    if (!json_is_string(u)) {
        openai_error_set(p->err, "invalid_request", param,
                         u ? "%s must be a string" : "%s is required", param);
        return -1;
    }
    const char *s = json_string_value(u);
    if (!s_is_image_data_uri(s) && !s_is_http_url(s)) {
        openai_error_set(p->err, "invalid_request", param,
                         "%s must be a data:image/<type>;base64,<data> URI or an http(s) URL",
                         param);
        return -1;
    }
    *url = s;
    return 0;
}

/*  Validates every part and counts what the second pass will copy. */
static int s_parts_scan(parse_ctx_t *p, json_t *parts, size_t mi, size_t *text_bytes,
                        size_t *n_images)
{
    char path[OPENAI_PARAM_MAX];
    size_t n = json_array_size(parts);
    size_t n_text = 0;
    *text_bytes = *n_images = 0;
    if (n > p->lim->max_parts) {
        snprintf(path, sizeof path, "messages[%zu].content", mi);
        openai_error_set(p->err, "invalid_request", path,
                         "%s has %zu parts; at most %zu are allowed (max_parts)", path, n,
                         p->lim->max_parts);
        return -1;
    }
    for (size_t j = 0; j < n; j++) {
        const char *text, *url;
        snprintf(path, sizeof path, "messages[%zu].content[%zu]", mi, j);
        if (s_part_get(p, json_array_get(parts, j), path, &text, &url) < 0)
            return -1;
        if (text) {
            *text_bytes += strlen(text) + (n_text++ ? 1 : 0);
            continue;
        }
        if (p->req->n_images_total + ++*n_images > p->lim->max_images) {
            openai_error_set(p->err, "invalid_request", path,
                             "too many images: at most %zu image parts are allowed per request "
                             "(max_images)",
                             p->lim->max_images);
            return -1;
        }
    }
    return 0;
}

static int s_parse_parts(parse_ctx_t *p, json_t *parts, size_t mi, openai_message_t *msg)
{
    size_t text_bytes, n_images;
    if (s_parts_scan(p, parts, mi, &text_bytes, &n_images) < 0)
        return -1;
    msg->content = malloc(text_bytes + 1);
    if (n_images)
        msg->images = calloc(n_images, sizeof *msg->images);
    if (!msg->content || (n_images && !msg->images))
        return s_oom(p);
    size_t pos = 0;
    bool any_text = false;
    for (size_t j = 0; j < json_array_size(parts); j++) {
        const char *text, *url;
        s_part_get(p, json_array_get(parts, j), "", &text, &url); /* validated above */
        if (url) {
            msg->images[msg->n_images].url = strdup(url);
            if (!msg->images[msg->n_images++].url)
                return s_oom(p);
            continue;
        }
        if (any_text)
            msg->content[pos++] = '\n';
        size_t tl = strlen(text);
        memcpy(msg->content + pos, text, tl);
        pos += tl;
        any_text = true;
    }
    msg->content[pos] = '\0';
    p->req->n_images_total += msg->n_images;
    return 0;
}

static int s_parse_content(parse_ctx_t *p, json_t *m, size_t mi, openai_message_t *msg)
{
    char param[OPENAI_PARAM_MAX];
    snprintf(param, sizeof param, "messages[%zu].content", mi);
    json_t *content = json_object_get(m, "content");
    if (!content || json_is_null(content)) {
        if (strcmp(msg->role, "assistant") != 0 && strcmp(msg->role, "tool") != 0) {
            openai_error_set(p->err, "invalid_request", param,
                             "%s is required for role %s (only assistant and tool messages "
                             "may have null content)",
                             param, msg->role);
            return -1;
        }
        msg->content = strdup("");
    } else if (json_is_string(content)) {
        msg->content = strdup(json_string_value(content));
    } else if (json_is_array(content)) {
        return s_parse_parts(p, content, mi, msg);
    } else {
        openai_error_set(p->err, "invalid_request", param,
                         "%s must be a string, an array of content parts or null, not %s", param,
                         s_type_name(content));
        return -1;
    }
    return msg->content ? 0 : s_oom(p);
}

static int s_parse_message(parse_ctx_t *p, json_t *m, size_t mi, openai_message_t *msg)
{
    char param[OPENAI_PARAM_MAX];
    snprintf(param, sizeof param, "messages[%zu]", mi);
    if (!json_is_object(m)) {
        openai_error_set(p->err, "invalid_request", param, "%s must be an object, not %s", param,
                         s_type_name(m));
        return -1;
    }
    json_t *role = json_object_get(m, "role");
    snprintf(param, sizeof param, "messages[%zu].role", mi);
    if (!role) {
        openai_error_set(p->err, "invalid_request", param, "%s is required", param);
        return -1;
    }
    if (!json_is_string(role) || !s_is_role(json_string_value(role))) {
        openai_error_set(p->err, "invalid_request", param,
                         "%s must be one of system, developer, user, assistant, tool", param);
        return -1;
    }
    msg->role = strdup(json_string_value(role));
    if (!msg->role)
        return s_oom(p);
    return s_parse_content(p, m, mi, msg);
}

static int s_parse_messages(parse_ctx_t *p, json_t *root)
{
    json_t *msgs = json_object_get(root, "messages");
    if (!msgs) {
        openai_error_set(p->err, "invalid_request", "messages", "missing required field: messages");
        return -1;
    }
    if (!json_is_array(msgs)) {
        openai_error_set(p->err, "invalid_request", "messages", "messages must be an array, not %s",
                         s_type_name(msgs));
        return -1;
    }
    size_t n = json_array_size(msgs);
    if (n == 0) {
        openai_error_set(p->err, "invalid_request", "messages",
                         "messages must contain at least one message");
        return -1;
    }
    if (n > p->lim->max_messages) {
        openai_error_set(p->err, "invalid_request", "messages",
                         "messages has %zu entries; at most %zu are allowed (max_messages)", n,
                         p->lim->max_messages);
        return -1;
    }
    p->req->messages = calloc(n, sizeof *p->req->messages);
    if (!p->req->messages)
        return s_oom(p);
    for (size_t i = 0; i < n; i++) {
        /* Count first so destroy frees a partly filled message too. */
        p->req->n_messages++;
        if (s_parse_message(p, json_array_get(msgs, i), i, &p->req->messages[i]) < 0)
            return -1;
    }
    return 0;
}

static json_t *s_load(parse_ctx_t *p, const char *body, size_t len)
{
    if (!body || len == 0) {
        openai_error_set(p->err, "invalid_request", NULL,
                         "request body is empty; expected a JSON object");
        return NULL;
    }
    if (!s_depth_ok(body, len, p->lim->max_depth)) {
        openai_error_set(p->err, "invalid_request", NULL,
                         "JSON body is nested deeper than %zu levels (max_depth)",
                         p->lim->max_depth);
        return NULL;
    }
    json_error_t jerr;
    /* DECODE_ANY: a non-object body gets the clearer message below. */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        openai_error_set(p->err, "invalid_request", NULL,
                         "malformed JSON body: %s (line %d, column %d)", jerr.text, jerr.line,
                         jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        openai_error_set(p->err, "invalid_request", NULL,
                         "request body must be a JSON object, not %s", s_type_name(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

int openai_request_parse(const char *body, size_t len, const openai_limits_t *lim,
                         openai_request_t **out, openai_error_t *err)
{
    openai_limits_t defaults;
    openai_error_t scratch;
    if (!lim) {
        openai_limits_default(&defaults);
        lim = &defaults;
    }
    parse_ctx_t p = {lim, err ? err : &scratch, NULL};
    if (!out) {
        openai_error_set(p.err, "internal_error", NULL, "no place to store the request");
        return -1;
    }
    *out = NULL;
    json_t *root = s_load(&p, body, len);
    if (!root)
        return -1;
    p.req = calloc(1, sizeof *p.req);
    int rc = p.req ? 0 : s_oom(&p);
    if (rc == 0) {
        p.req->max_tokens = -1;
        p.req->parallel_tool_calls = true;
    }
    if (rc == 0)
        rc = s_parse_model(&p, root);
    if (rc == 0)
        rc = s_parse_stream(&p, root);
    if (rc == 0)
        rc = s_parse_messages(&p, root);
    json_decref(root);
    if (rc < 0) {
        openai_request_destroy(&p.req);
        return -1;
    }
    *out = p.req;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* JSON output helpers                                                       */

/*  Appends s as a quoted JSON string; each byte that does not start a valid
    UTF-8 sequence becomes U+FFFD. Fast path: one escape call when valid. */
static int s_put_str(abuf_t *b, const char *s, size_t len)
{
    if (!s)
        len = 0;
    if (abuf_append(b, "\"", 1) < 0)
        return -1;
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_decode(u + i, len - i, NULL);
        if (n) {
            i += n;
            continue;
        }
        if (abuf_json_escape(b, s + run, i - run) < 0 || abuf_append(b, "\xEF\xBF\xBD", 3) < 0)
            return -1;
        run = ++i;
    }
    if (len > run && abuf_json_escape(b, s + run, len - run) < 0)
        return -1;
    return abuf_append(b, "\"", 1);
}

static int s_put_cstr(abuf_t *b, const char *s)
{
    return s_put_str(b, s, s ? strlen(s) : 0);
}

/*  Restores out to mark and reports failure. */
static int s_rollback(abuf_t *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
    return -1;
}

static long long s_count(long long v)
{
    return v < 0 ? 0 : v;
}

static int s_put_usage(abuf_t *out, const usage_t *usage)
{
    long long pt = usage ? s_count(usage->prompt_tokens) : 0;
    long long ct = usage ? s_count(usage->completion_tokens) : 0;
    long long total = pt > LLONG_MAX - ct ? LLONG_MAX : pt + ct;
    return abuf_printf(out,
                       "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
                       "\"total_tokens\":%lld}",
                       pt, ct, total);
}

/*  `{"id":…,"object":OBJECT,"created":…,"model":…,` — the shared head. */
static int s_put_head(abuf_t *out, const openai_render_ctx_t *ctx, const char *object)
{
    if (abuf_puts(out, "{\"id\":") < 0 || s_put_cstr(out, ctx->id) < 0 ||
        abuf_printf(out, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object, ctx->created) <
            0 ||
        s_put_cstr(out, ctx->model) < 0)
        return -1;
    return abuf_append(out, ",", 1);
}

static int s_put_error_object(abuf_t *out, const openai_error_t *err)
{
    const char *type = err->type ? err->type : "invalid_request_error";
    const char *code = err->code ? err->code : "invalid_request";
    if (abuf_puts(out, "{\"error\":{\"message\":") < 0 ||
        s_put_str(out, err->message, strnlen(err->message, sizeof err->message)) < 0 ||
        abuf_puts(out, ",\"type\":") < 0 || s_put_cstr(out, type) < 0 ||
        abuf_puts(out, ",\"param\":") < 0)
        return -1;
    size_t plen = strnlen(err->param, sizeof err->param);
    int rc = plen ? s_put_str(out, err->param, plen) : abuf_puts(out, "null");
    if (rc < 0 || abuf_puts(out, ",\"code\":") < 0 || s_put_cstr(out, code) < 0)
        return -1;
    return abuf_puts(out, "}}");
}

/* ------------------------------------------------------------------------ */
/* Request serialization                                                     */

static int s_write_parts(abuf_t *out, const openai_message_t *msg)
{
    if (abuf_append(out, "[", 1) < 0)
        return -1;
    bool text = msg->content && msg->content[0];
    if (text && (abuf_puts(out, "{\"type\":\"text\",\"text\":") < 0 ||
                 s_put_cstr(out, msg->content) < 0 || abuf_append(out, "}", 1) < 0))
        return -1;
    for (size_t i = 0; i < msg->n_images; i++) {
        if (((text || i) && abuf_append(out, ",", 1) < 0) ||
            abuf_puts(out, "{\"type\":\"image_url\",\"image_url\":{\"url\":") < 0 ||
            s_put_cstr(out, msg->images[i].url) < 0 || abuf_puts(out, "}}") < 0)
            return -1;
    }
    return abuf_append(out, "]", 1);
}

static int s_write_message(abuf_t *out, const openai_message_t *msg)
{
    if (abuf_puts(out, "{\"role\":") < 0 || s_put_cstr(out, msg->role) < 0 ||
        abuf_puts(out, ",\"content\":") < 0)
        return -1;
    int rc = msg->n_images ? s_write_parts(out, msg) : s_put_cstr(out, msg->content);
    if (rc < 0)
        return -1;
    return abuf_append(out, "}", 1);
}

int openai_request_write(const openai_request_t *req, abuf_t *out)
{
    if (!req || !out)
        return -1;
    size_t mark = out->len;
    if (abuf_puts(out, "{\"model\":") < 0 || s_put_cstr(out, req->model) < 0 ||
        abuf_printf(out, ",\"stream\":%s,\"stream_options\":{\"include_usage\":%s},\"messages\":[",
                    req->stream ? "true" : "false", req->include_usage ? "true" : "false") < 0)
        return s_rollback(out, mark);
    for (size_t i = 0; i < req->n_messages; i++) {
        if ((i && abuf_append(out, ",", 1) < 0) || s_write_message(out, &req->messages[i]) < 0)
            return s_rollback(out, mark);
    }
    if (abuf_puts(out, "]}") < 0)
        return s_rollback(out, mark);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */

int openai_render_error(abuf_t *out, const openai_error_t *err)
{
    if (!out || !err)
        return -1;
    size_t mark = out->len;
    if (s_put_error_object(out, err) < 0)
        return s_rollback(out, mark);
    return 0;
}

int openai_render_json_str(abuf_t *out, const char *s, size_t len)
{
    if (!out || (!s && len))
        return -1;
    size_t mark = out->len;
    if (s_put_str(out, s, len) < 0)
        return s_rollback(out, mark);
    return 0;
}

/*  `![image](URL)\n` with the bytes that would end or break a Markdown link
    destination percent-encoded. */
static int s_image_markdown(abuf_t *md, const char *url, size_t len)
{
    if (abuf_puts(md, "![image](") < 0)
        return -1;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '<' && c != '>')
            continue;
        if (abuf_append(md, url + run, i - run) < 0 || abuf_printf(md, "%%%02X", c) < 0)
            return -1;
        run = i + 1;
    }
    if (abuf_append(md, url + run, len - run) < 0)
        return -1;
    return abuf_puts(md, ")\n");
}

int openai_render_image_markdown(abuf_t *out, const char *url, size_t len)
{
    if (!out || (!url && len))
        return -1;
    size_t mark = out->len;
    if (s_image_markdown(out, url ? url : "", url ? len : 0) < 0)
        return s_rollback(out, mark);
    return 0;
}

/*  `"content":"…"` (or reasoning_content) for one delta. */
static int s_put_delta_field(abuf_t *out, delta_kind_t kind, const char *text, size_t len)
{
    if (kind == DELTA_REASONING)
        return abuf_puts(out, "\"reasoning_content\":") < 0 ? -1 : s_put_str(out, text, len);
    if (kind == DELTA_TEXT)
        return abuf_puts(out, "\"content\":") < 0 ? -1 : s_put_str(out, text, len);
    abuf_t md = ABUF_INIT;
    int rc = s_image_markdown(&md, text ? text : "", text ? len : 0);
    if (rc == 0)
        rc = abuf_puts(out, "\"content\":") < 0 ? -1 : s_put_str(out, md.data, md.len);
    abuf_free(&md);
    return rc;
}

/*  `data: {head,"choices":[{"index":0,"delta":{` — a chunk up to its delta. */
static int s_put_chunk_open(abuf_t *out, const openai_render_ctx_t *ctx, bool first)
{
    if (abuf_puts(out, "data: ") < 0 || s_put_head(out, ctx, "chat.completion.chunk") < 0 ||
        abuf_puts(out, "\"choices\":[{\"index\":0,\"delta\":{") < 0)
        return -1;
    return first ? abuf_puts(out, "\"role\":\"assistant\",") : 0;
}

/*  `},"logprobs":null,"finish_reason":null}]}\n\n` — closes a delta chunk. */
static int s_put_chunk_close(abuf_t *out)
{
    return abuf_puts(out, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

int openai_render_sse_delta(abuf_t *out, const openai_render_ctx_t *ctx, bool first,
                            delta_kind_t kind, const char *text, size_t len)
{
    if (!out || !ctx || (!text && len))
        return -1;
    if (kind == DELTA_CITATION)
        return 0;
    if (kind != DELTA_TEXT && kind != DELTA_REASONING && kind != DELTA_IMAGE)
        return -1;
    size_t mark = out->len;
    if (s_put_chunk_open(out, ctx, first) < 0 || s_put_delta_field(out, kind, text, len) < 0 ||
        s_put_chunk_close(out) < 0)
        return s_rollback(out, mark);
    return 0;
}

/*  Bytes of s[0..len) to put in one piece of at most max bytes without
    cutting a UTF-8 character (a byte that starts no valid character is a
    character of its own, rendered as U+FFFD). Never 0 when len > 0. */
static size_t s_utf8_piece(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_decode((const unsigned char *)s + i, len - i, NULL);
        if (n == 0)
            n = 1;
        if (i + n > max)
            break;
        i += n;
    }
    return i ? i : 1;
}

int openai_render_sse_tool_call(abuf_t *out, const openai_render_ctx_t *ctx, bool first,
                                size_t index, const openai_tool_call_t *call)
{
    if (!out || !ctx || !call)
        return -1;
    size_t mark = out->len;
    if (s_put_chunk_open(out, ctx, first) < 0 ||
        abuf_printf(out, "\"tool_calls\":[{\"index\":%zu,\"id\":", index) < 0)
        return s_rollback(out, mark);
    int rc = call->id ? s_put_cstr(out, call->id) : abuf_printf(out, "\"call_%zu\"", index);
    if (rc < 0 || abuf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":") < 0 ||
        s_put_cstr(out, call->name) < 0 || abuf_puts(out, ",\"arguments\":\"\"}}]") < 0 ||
        s_put_chunk_close(out) < 0)
        return s_rollback(out, mark);
    const char *args = call->arguments ? call->arguments : "";
    size_t left = strlen(args);
    while (left) {
        size_t n = s_utf8_piece(args, left, OPENAI_TOOL_ARGS_PIECE);
        if (s_put_chunk_open(out, ctx, false) < 0 ||
            abuf_printf(out, "\"tool_calls\":[{\"index\":%zu,\"function\":{\"arguments\":", index) <
                0 ||
            s_put_str(out, args, n) < 0 || abuf_puts(out, "}}]") < 0 || s_put_chunk_close(out) < 0)
            return s_rollback(out, mark);
        args += n;
        left -= n;
    }
    return 0;
}

int openai_render_sse_finish(abuf_t *out, const openai_render_ctx_t *ctx, const char *finish_reason)
{
    if (!out || !ctx)
        return -1;
    size_t mark = out->len;
    if (abuf_puts(out, "data: ") < 0 || s_put_head(out, ctx, "chat.completion.chunk") < 0 ||
        abuf_puts(out, "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                       "\"finish_reason\":") < 0 ||
        s_put_cstr(out, finish_reason ? finish_reason : "stop") < 0 ||
        abuf_puts(out, "}]}\n\n") < 0)
        return s_rollback(out, mark);
    return 0;
}

int openai_render_sse_usage(abuf_t *out, const openai_render_ctx_t *ctx, const usage_t *usage)
{
    if (!out || !ctx)
        return -1;
    size_t mark = out->len;
    if (abuf_puts(out, "data: ") < 0 || s_put_head(out, ctx, "chat.completion.chunk") < 0 ||
        abuf_puts(out, "\"choices\":[],") < 0 || s_put_usage(out, usage) < 0 ||
        abuf_puts(out, "}\n\n") < 0)
        return s_rollback(out, mark);
    return 0;
}

int openai_render_sse_error(abuf_t *out, const openai_error_t *err)
{
    if (!out || !err)
        return -1;
    size_t mark = out->len;
    if (abuf_puts(out, "data: ") < 0 || s_put_error_object(out, err) < 0 ||
        abuf_puts(out, "\n\n") < 0)
        return s_rollback(out, mark);
    return 0;
}

int openai_render_sse_done(abuf_t *out)
{
    return out ? abuf_puts(out, "data: [DONE]\n\n") : -1;
}

/*  `"tool_calls":[{"id":…,"type":"function","function":{"name":…,"arguments":…}},…]` */
static int s_put_tool_calls(abuf_t *out, const openai_tool_call_t *calls, size_t n)
{
    if (abuf_puts(out, "\"tool_calls\":[") < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const openai_tool_call_t *c = &calls[i];
        if ((i && abuf_append(out, ",", 1) < 0) || abuf_puts(out, "{\"id\":") < 0)
            return -1;
        int rc = c->id ? s_put_cstr(out, c->id) : abuf_printf(out, "\"call_%zu\"", i);
        if (rc < 0 || abuf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":") < 0 ||
            s_put_cstr(out, c->name) < 0 || abuf_puts(out, ",\"arguments\":") < 0 ||
            s_put_cstr(out, c->arguments ? c->arguments : "") < 0 || abuf_puts(out, "}}") < 0)
            return -1;
    }
    return abuf_append(out, "]", 1);
}

int openai_render_answer(abuf_t *out, const openai_render_ctx_t *ctx, const openai_answer_t *ans)
{
    if (!out || !ctx || !ans || (!ans->content && ans->content_len) ||
        (!ans->tool_calls && ans->n_tool_calls))
        return -1;
    bool calls = ans->n_tool_calls > 0;
    const char *reason = ans->finish_reason ? ans->finish_reason : "stop";
    if (calls && strcmp(reason, "stop") == 0)
        reason = "tool_calls";
    size_t mark = out->len;
    if (s_put_head(out, ctx, "chat.completion") < 0 ||
        abuf_puts(out, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                       "\"content\":") < 0)
        return s_rollback(out, mark);
    int rc = calls && !ans->content_len ? abuf_puts(out, "null")
                                        : s_put_str(out, ans->content, ans->content_len);
    if (rc < 0 || abuf_puts(out, ",\"refusal\":null") < 0)
        return s_rollback(out, mark);
    if (ans->reasoning && (abuf_puts(out, ",\"reasoning_content\":") < 0 ||
                           s_put_str(out, ans->reasoning, ans->reasoning_len) < 0))
        return s_rollback(out, mark);
    if (calls && (abuf_append(out, ",", 1) < 0 ||
                  s_put_tool_calls(out, ans->tool_calls, ans->n_tool_calls) < 0))
        return s_rollback(out, mark);
    if (abuf_puts(out, "},\"logprobs\":null,\"finish_reason\":") < 0 ||
        s_put_cstr(out, reason) < 0 || abuf_puts(out, "}],") < 0 ||
        s_put_usage(out, ans->usage) < 0 || abuf_puts(out, "}") < 0)
        return s_rollback(out, mark);
    return 0;
}

int openai_render_completion(abuf_t *out, const openai_render_ctx_t *ctx, const char *content,
                             size_t content_len, const char *reasoning, size_t reasoning_len,
                             const char *finish_reason, const usage_t *usage)
{
    const openai_answer_t ans = {
        .content = content,
        .content_len = content_len,
        .reasoning = reasoning,
        .reasoning_len = reasoning_len,
        .finish_reason = finish_reason,
        .usage = usage,
    };
    return openai_render_answer(out, ctx, &ans);
}

static int s_put_model_entry(abuf_t *out, const openai_model_entry_t *m)
{
    if (abuf_puts(out, "{\"id\":") < 0 || s_put_cstr(out, m->id) < 0 ||
        abuf_printf(out, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":", m->created) < 0 ||
        s_put_cstr(out, m->owned_by) < 0)
        return -1;
    if (m->display_name &&
        (abuf_puts(out, ",\"display_name\":") < 0 || s_put_cstr(out, m->display_name) < 0))
        return -1;
    return abuf_append(out, "}", 1);
}

int openai_render_models(abuf_t *out, const openai_model_entry_t *models, size_t n)
{
    if (!out || (!models && n))
        return -1;
    size_t mark = out->len;
    if (abuf_puts(out, "{\"object\":\"list\",\"data\":[") < 0)
        return s_rollback(out, mark);
    for (size_t i = 0; i < n; i++)
        if ((i && abuf_append(out, ",", 1) < 0) || s_put_model_entry(out, &models[i]) < 0)
            return s_rollback(out, mark);
    if (abuf_puts(out, "]}") < 0)
        return s_rollback(out, mark);
    return 0;
}

int openai_render_model(abuf_t *out, const openai_model_entry_t *model)
{
    if (!out || !model)
        return -1;
    size_t mark = out->len;
    if (s_put_model_entry(out, model) < 0)
        return s_rollback(out, mark);
    return 0;
}

int openai_render_images(abuf_t *out, long long created, const openai_image_result_t *images,
                         size_t n)
{
    if (!out || (!images && n))
        return -1;
    size_t mark = out->len;
    if (abuf_printf(out, "{\"created\":%lld,\"data\":[", created) < 0)
        return s_rollback(out, mark);
    for (size_t i = 0; i < n; i++) {
        if ((i && abuf_append(out, ",", 1) < 0) || abuf_puts(out, "{\"url\":") < 0 ||
            s_put_cstr(out, images[i].url) < 0)
            return s_rollback(out, mark);
        if (images[i].revised_prompt && (abuf_puts(out, ",\"revised_prompt\":") < 0 ||
                                         s_put_cstr(out, images[i].revised_prompt) < 0))
            return s_rollback(out, mark);
        if (abuf_append(out, "}", 1) < 0)
            return s_rollback(out, mark);
    }
    if (abuf_puts(out, "]}") < 0)
        return s_rollback(out, mark);
    return 0;
}
