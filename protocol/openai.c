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
#include "protocol/schema.h"
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
    {"tier_unknown", 403, "permission_error"}, /* a key whose tier has not reached this node */
    {"method_not_allowed", 405, "invalid_request_error"},
    {"request_too_large", 413, "invalid_request_error"},
    {"content_rejected", 422, "invalid_request_error"},
    {"rate_limited", 429, "rate_limit_error"},
    {"internal_error", 500, "server_error"},
    {"upstream_error", 502, "server_error"},
    {"invalid_model_output", 502, "server_error"},
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

static void s_tool_call_clear(openai_tool_call_t *call)
{
    free(call->id);
    free(call->name);
    free(call->arguments);
}

static void s_message_clear(openai_message_t *msg)
{
    free(msg->role);
    free(msg->content);
    free(msg->name);
    free(msg->tool_call_id);
    for (size_t i = 0; i < msg->n_tool_calls; i++)
        s_tool_call_clear(&msg->tool_calls[i]);
    free(msg->tool_calls);
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
    for (size_t i = 0; i < self->n_stop; i++)
        free(self->stop[i]);
    for (size_t i = 0; i < self->n_tools; i++) {
        free(self->tools[i].name);
        free(self->tools[i].description);
        free(self->tools[i].parameters);
    }
    free(self->tools);
    free(self->tool_choice_name);
    free(self->format_name);
    free(self->format_schema);
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
        a->n_images != b->n_images || !s_str_eq(a->name, b->name) ||
        !s_str_eq(a->tool_call_id, b->tool_call_id) || a->n_tool_calls != b->n_tool_calls)
        return false;
    for (size_t i = 0; i < a->n_tool_calls; i++) {
        const openai_tool_call_t *x = &a->tool_calls[i], *y = &b->tool_calls[i];
        if (!s_str_eq(x->id, y->id) || !s_str_eq(x->name, y->name) ||
            !s_str_eq(x->arguments, y->arguments))
            return false;
    }
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
        a->n_images_total != b->n_images_total || a->n_stop != b->n_stop ||
        a->max_tokens != b->max_tokens || a->logprobs != b->logprobs || a->n_tools != b->n_tools ||
        a->tool_choice != b->tool_choice || !s_str_eq(a->tool_choice_name, b->tool_choice_name) ||
        a->parallel_tool_calls != b->parallel_tool_calls || a->format != b->format ||
        !s_str_eq(a->format_name, b->format_name) ||
        !s_str_eq(a->format_schema, b->format_schema) || a->format_strict != b->format_strict ||
        strcmp(a->image_size, b->image_size) != 0 || a->lowered != b->lowered)
        return false;
    for (size_t i = 0; i < a->n_stop; i++)
        if (!s_str_eq(a->stop[i], b->stop[i]))
            return false;
    for (size_t i = 0; i < a->n_tools; i++) {
        const openai_tool_t *x = &a->tools[i], *y = &b->tools[i];
        if (!s_str_eq(x->name, y->name) || !s_str_eq(x->description, y->description) ||
            !s_str_eq(x->parameters, y->parameters) || x->strict != y->strict)
            return false;
    }
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
    const openai_items_t *items; /* Responses: how item_reference resolves; NULL: never */
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

/* ------------------------------------------------------------------------ */
/* Names, tools, tool calls and formats (shared by the three parsers)        */

/*  Appends name to req->ignored ("a,b,c"); a name that does not fit, or is
    already there, is left out. */
static void s_ignore(parse_ctx_t *p, const char *name)
{
    char *list = p->req->ignored;
    size_t have = strlen(list), nlen = strlen(name);
    size_t need = nlen + (have ? 1 : 0);
    if (nlen == 0 || have + need + 1 > sizeof p->req->ignored)
        return;
    for (const char *s = list; *s;) {
        const char *comma = strchr(s, ',');
        size_t l = comma ? (size_t)(comma - s) : strlen(s);
        if (l == nlen && memcmp(s, name, l) == 0)
            return;
        s += l + (comma ? 1 : 0);
    }
    if (have)
        list[have++] = ',';
    memcpy(list + have, name, nlen + 1);
}

static bool s_key_in(const char *key, const char *const *keys)
{
    for (; *keys; keys++)
        if (strcmp(*keys, key) == 0)
            return true;
    return false;
}

/*  Lists every non-null member of obj that is not in known, prefixed. Names
    with bytes outside [A-Za-z0-9_.-] are listed as "?" so the header the
    list becomes stays a plain token list. */
static void s_ignore_rest(parse_ctx_t *p, json_t *obj, const char *prefix, const char *const *known)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (json_is_null(v) || s_key_in(key, known))
            continue;
        char name[64] = "?";
        bool plain = strlen(prefix) + strlen(key) < sizeof name;
        if (plain) {
            memcpy(name, prefix, strlen(prefix));
            memcpy(name + strlen(prefix), key, strlen(key) + 1);
        }
        for (const char *c = name; *c && plain; c++)
            plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-';
        s_ignore(p, plain ? name : "?");
    }
}

/*  400 invalid_request with fmt's %s filled by param then a; -1. */
#define S_BAD(p, param, fmt, a)                                                                    \
    (openai_error_set((p)->err, "invalid_request", (param), fmt, (param), (a)), -1)

/*  dst = base + suffix, truncated to OPENAI_PARAM_MAX (err->param truncates
    further anyway). */
static void s_join(char *dst, const char *base, const char *suffix)
{
    size_t b = strnlen(base, OPENAI_PARAM_MAX - 1);
    memmove(dst, base, b);
    size_t sl = strnlen(suffix, OPENAI_PARAM_MAX - 1 - b);
    memcpy(dst + b, suffix, sl);
    dst[b + sl] = '\0';
}

/*  ^[a-zA-Z0-9_-]{1,64}$ */
static bool s_is_fn_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > OPENAI_MAX_NAME)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

/*  A required (or optional, *out left NULL) string member, copied. max 0:
    no bound beyond the body's; ctl false: control characters refused. */
static int s_get_string(parse_ctx_t *p, json_t *obj, const char *key, const char *param,
                        bool required, size_t max, bool ctl, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return S_BAD(p, param, "%s is required%s", "");
        return 0;
    }
    if (!json_is_string(v))
        return S_BAD(p, param, "%s must be a string, not %s", s_type_name(v));
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (max && len > max) {
        openai_error_set(p->err, "invalid_request", param,
                         "%s is %zu bytes long; at most %zu are allowed", param, len, max);
        return -1;
    }
    if (strlen(s) != len)
        return S_BAD(p, param, "%s must not contain NUL characters%s", "");
    for (size_t i = 0; i < len && !ctl; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return S_BAD(p, param, "%s must not contain control characters%s", "");
    free(*out);
    *out = strdup(s);
    return *out ? 0 : s_oom(p);
}

/*  A function name member: required, ^[a-zA-Z0-9_-]{1,64}$. */
static int s_get_fn_name(parse_ctx_t *p, json_t *obj, const char *key, const char *param,
                         char **out)
{
    if (s_get_string(p, obj, key, param, true, 0, false, out) < 0)
        return -1;
    if (!s_is_fn_name(*out))
        return S_BAD(p, param,
                     "%s must be 1 to 64 letters, digits, underscores or dashes, not \"%.64s\"",
                     *out);
    return 0;
}

/*  A JSON Schema object member kept as compact JSON text (NULL: absent). */
static int s_get_schema(parse_ctx_t *p, json_t *obj, const char *key, const char *param, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return S_BAD(p, param, "%s must be an object (a JSON Schema), not %s", s_type_name(v));
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text)
        return s_oom(p);
    if (strlen(text) > OPENAI_MAX_SCHEMA_BYTES) {
        free(text);
        openai_error_set(p->err, "invalid_request", param,
                         "%s is longer than %d bytes as compact JSON", param,
                         OPENAI_MAX_SCHEMA_BYTES);
        return -1;
    }
    *out = text;
    return 0;
}

static int s_get_bool(parse_ctx_t *p, json_t *obj, const char *key, const char *param, bool *out)
{
    return s_parse_bool(p, obj, key, param, out);
}

/*  A positive integer member (null: absent → *out unchanged). */
static int s_get_positive(parse_ctx_t *p, json_t *obj, const char *key, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return S_BAD(p, key, "%s must be a positive integer%s", "");
    *out = (long long)json_integer_value(v);
    return 0;
}

/*  One tool. flat: the Responses/functions form {name,…} (type checked by
    the caller); else {type:"function",function:{name,…}}. */
static int s_parse_tool(parse_ctx_t *p, json_t *t, const char *path, bool flat, bool typed,
                        openai_tool_t *tool)
{
    char param[OPENAI_PARAM_MAX];
    if (!json_is_object(t))
        return S_BAD(p, path, "%s must be an object, not %s", s_type_name(t));
    if (typed) {
        json_t *type = json_object_get(t, "type");
        s_join(param, path, ".type");
        if (!json_is_string(type))
            return S_BAD(p, param, "%s is required and must be \"function\"%s", "");
        if (strcmp(json_string_value(type), "function") != 0)
            return S_BAD(p, param,
                         "%s \"%.40s\" is not supported: only function tools can be offered "
                         "(the node states them in the prompt; built-in tools need OpenAI's "
                         "servers)",
                         json_string_value(type));
    }
    json_t *fn = t;
    char base[OPENAI_PARAM_MAX];
    s_join(base, path, "");
    if (!flat) {
        fn = json_object_get(t, "function");
        s_join(base, path, ".function");
        if (!json_is_object(fn))
            return S_BAD(p, base, "%s is required and must be an object%s", "");
    }
    s_join(param, base, ".name");
    if (s_get_fn_name(p, fn, "name", param, &tool->name) < 0)
        return -1;
    s_join(param, base, ".description");
    if (s_get_string(p, fn, "description", param, false, OPENAI_MAX_SCHEMA_BYTES, true,
                     &tool->description) < 0)
        return -1;
    s_join(param, base, ".parameters");
    if (s_get_schema(p, fn, "parameters", param, &tool->parameters) < 0)
        return -1;
    s_join(param, base, ".strict");
    return s_get_bool(p, fn, "strict", param, &tool->strict);
}

/*  tools (or functions) into req->tools. */
static int s_parse_tools(parse_ctx_t *p, json_t *arr, const char *key, bool flat, bool typed)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return S_BAD(p, key, "%s must be an array, not %s", s_type_name(arr));
    size_t n = json_array_size(arr);
    if (n > OPENAI_MAX_TOOLS) {
        openai_error_set(p->err, "invalid_request", key,
                         "%s has %zu entries; at most %d are allowed", key, n, OPENAI_MAX_TOOLS);
        return -1;
    }
    if (n == 0)
        return 0;
    p->req->tools = calloc(n, sizeof *p->req->tools);
    if (!p->req->tools)
        return s_oom(p);
    for (size_t i = 0; i < n; i++) {
        char path[OPENAI_PARAM_MAX];
        snprintf(path, sizeof path, "%.64s[%zu]", key, i);
        p->req->n_tools++;
        if (s_parse_tool(p, json_array_get(arr, i), path, flat, typed, &p->req->tools[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->req->tools[j].name, p->req->tools[i].name) == 0)
                return S_BAD(p, path, "%s repeats the function name \"%s\"", p->req->tools[i].name);
    }
    return 0;
}

/*  tool_choice: a string, or an object naming a function either nested
    ({type:"function",function:{name}}, chat) or flat ({type,name},
    Responses). function_call (legacy): a string or {name}. */
static int s_parse_tool_choice(parse_ctx_t *p, json_t *v, const char *key, bool legacy)
{
    openai_request_t *req = p->req;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "auto") == 0)
            req->tool_choice = OPENAI_TOOL_AUTO;
        else if (strcmp(s, "none") == 0)
            req->tool_choice = OPENAI_TOOL_NONE;
        else if (strcmp(s, "required") == 0 && !legacy)
            req->tool_choice = OPENAI_TOOL_REQUIRED;
        else
            return S_BAD(p, key, "%s must be \"none\", \"auto\"%s or name a function",
                         legacy ? "" : ", \"required\"");
        return 0;
    }
    if (!json_is_object(v))
        return S_BAD(p, key, "%s must be a string or an object, not %s", s_type_name(v));
    char param[OPENAI_PARAM_MAX];
    json_t *holder = v;
    if (!legacy) {
        json_t *type = json_object_get(v, "type");
        s_join(param, key, ".type");
        if (!json_is_string(type) || strcmp(json_string_value(type), "function") != 0)
            return S_BAD(p, param, "%s must be \"function\": only function tools can be chosen%s",
                         "");
        json_t *fn = json_object_get(v, "function");
        if (fn) {
            holder = fn;
            s_join(param, key, ".function");
            if (!json_is_object(fn))
                return S_BAD(p, param, "%s must be an object, not %s", s_type_name(fn));
            s_join(param, key, ".function.name");
        } else {
            s_join(param, key, ".name");
        }
    } else {
        s_join(param, key, ".name");
    }
    if (s_get_fn_name(p, holder, "name", param, &req->tool_choice_name) < 0)
        return -1;
    req->tool_choice = OPENAI_TOOL_NAMED;
    return 0;
}

/*  After tools and tool_choice: a named or required choice needs tools. */
static int s_check_tool_choice(parse_ctx_t *p, const char *key)
{
    openai_request_t *req = p->req;
    if (req->tool_choice == OPENAI_TOOL_REQUIRED && req->n_tools == 0)
        return S_BAD(p, key, "%s is \"required\" but no tools are given%s", "");
    if (req->tool_choice != OPENAI_TOOL_NAMED)
        return 0;
    for (size_t i = 0; i < req->n_tools; i++)
        if (strcmp(req->tools[i].name, req->tool_choice_name) == 0)
            return 0;
    return S_BAD(p, key, "%s names the function \"%s\", which is not among the tools given",
                 req->tool_choice_name);
}

/*  A response format: {type:"text"|"json_object"|"json_schema", …}; the
    schema's fields are in `holder` (chat: json_schema; Responses: the
    format object itself). */
static int s_parse_format(parse_ctx_t *p, json_t *v, const char *key, bool nested)
{
    char param[OPENAI_PARAM_MAX];
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return S_BAD(p, key, "%s must be an object, not %s", s_type_name(v));
    json_t *type = json_object_get(v, "type");
    s_join(param, key, ".type");
    const char *t = json_is_string(type) ? json_string_value(type) : "";
    if (strcmp(t, "text") == 0) {
        p->req->format = OPENAI_FORMAT_TEXT;
        return 0;
    }
    if (strcmp(t, "json_object") == 0) {
        p->req->format = OPENAI_FORMAT_JSON_OBJECT;
        return 0;
    }
    if (strcmp(t, "json_schema") != 0)
        return S_BAD(p, param, "%s must be \"text\", \"json_object\" or \"json_schema\"%s", "");
    p->req->format = OPENAI_FORMAT_JSON_SCHEMA;
    json_t *holder = v;
    char base[OPENAI_PARAM_MAX];
    s_join(base, key, "");
    if (nested) {
        holder = json_object_get(v, "json_schema");
        s_join(base, key, ".json_schema");
        if (!json_is_object(holder))
            return S_BAD(p, base, "%s is required and must be an object%s", "");
    }
    s_join(param, base, ".name");
    if (s_get_fn_name(p, holder, "name", param, &p->req->format_name) < 0)
        return -1;
    s_join(param, base, ".schema");
    if (s_get_schema(p, holder, "schema", param, &p->req->format_schema) < 0)
        return -1;
    s_join(param, base, ".strict");
    if (s_get_bool(p, holder, "strict", param, &p->req->format_strict) < 0)
        return -1;
    /* a strict schema the checker cannot apply is the request's fault: say
       so now, before the model is asked (protocol/shape.h) */
    char why[200];
    const char *schema = p->req->format_schema;
    s_join(param, base, ".schema");
    if (p->req->format_strict && schema &&
        schema_check(schema, strlen(schema), why, sizeof why) < 0)
        return S_BAD(p, param, "%s cannot be applied: %s", why);
    return 0;
}

/*  stop: a string or an array of up to 4 non-empty strings ([] and null:
    none). */
static int s_parse_stop(parse_ctx_t *p, json_t *v)
{
    if (!v || json_is_null(v))
        return 0;
    json_t *one[1] = {v};
    size_t n = 1;
    if (json_is_array(v)) {
        n = json_array_size(v);
        if (n > OPENAI_MAX_STOP) {
            openai_error_set(p->err, "invalid_request", "stop",
                             "stop has %zu sequences; at most %d are allowed", n, OPENAI_MAX_STOP);
            return -1;
        }
    } else if (!json_is_string(v)) {
        return S_BAD(p, "stop", "%s must be a string or an array of strings, not %s",
                     s_type_name(v));
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : one[0];
        if (!json_is_string(s) || json_string_length(s) == 0 ||
            strlen(json_string_value(s)) != json_string_length(s))
            return S_BAD(p, "stop", "%s sequences must be non-empty strings%s", "");
        p->req->stop[i] = strdup(json_string_value(s));
        if (!p->req->stop[i])
            return s_oom(p);
        p->req->n_stop++;
    }
    return 0;
}

/*  A tool call in a client's history: {id, type:"function", function:{name,
    arguments}}. */
static int s_parse_tool_call(parse_ctx_t *p, json_t *c, const char *path, openai_tool_call_t *call)
{
    char param[OPENAI_PARAM_MAX];
    if (!json_is_object(c))
        return S_BAD(p, path, "%s must be an object, not %s", s_type_name(c));
    s_join(param, path, ".id");
    if (s_get_string(p, c, "id", param, true, 256, false, &call->id) < 0)
        return -1;
    json_t *type = json_object_get(c, "type");
    s_join(param, path, ".type");
    if (type && !json_is_null(type) &&
        (!json_is_string(type) || strcmp(json_string_value(type), "function") != 0))
        return S_BAD(p, param, "%s must be \"function\"%s", "");
    json_t *fn = json_object_get(c, "function");
    s_join(param, path, ".function");
    if (!json_is_object(fn))
        return S_BAD(p, param, "%s is required and must be an object%s", "");
    s_join(param, path, ".function.name");
    if (s_get_fn_name(p, fn, "name", param, &call->name) < 0)
        return -1;
    s_join(param, path, ".function.arguments");
    return s_get_string(p, fn, "arguments", param, true, OPENAI_MAX_ARGUMENTS_BYTES, true,
                        &call->arguments);
}

static int s_add_tool_calls(parse_ctx_t *p, openai_message_t *msg, size_t more)
{
    if (msg->n_tool_calls + more > OPENAI_MAX_TOOL_CALLS)
        return -1;
    openai_tool_call_t *grown =
        realloc(msg->tool_calls, (msg->n_tool_calls + more) * sizeof *msg->tool_calls);
    if (!grown)
        return s_oom(p);
    memset(grown + msg->n_tool_calls, 0, more * sizeof *grown);
    msg->tool_calls = grown;
    return 0;
}

/*  name, tool_calls, function_call, tool_call_id of one chat message. */
static int s_parse_message_extras(parse_ctx_t *p, json_t *m, size_t mi, openai_message_t *msg,
                                  bool legacy_function)
{
    char param[OPENAI_PARAM_MAX];
    snprintf(param, sizeof param, "messages[%zu].name", mi);
    if (legacy_function) {
        if (s_get_fn_name(p, m, "name", param, &msg->name) < 0)
            return -1;
        return 0;
    }
    if (s_get_string(p, m, "name", param, false, OPENAI_MAX_NAME, false, &msg->name) < 0)
        return -1;
    if (msg->name && !msg->name[0]) {
        free(msg->name);
        msg->name = NULL;
    }
    if (strcmp(msg->role, "tool") == 0) {
        snprintf(param, sizeof param, "messages[%zu].tool_call_id", mi);
        /* optional here (OpenAI requires it): a lowered request's results
           have none, and the node reads results in order anyway */
        return s_get_string(p, m, "tool_call_id", param, false, 256, false, &msg->tool_call_id);
    }
    if (strcmp(msg->role, "assistant") != 0)
        return 0;
    json_t *calls = json_object_get(m, "tool_calls");
    snprintf(param, sizeof param, "messages[%zu].tool_calls", mi);
    if (calls && !json_is_null(calls)) {
        if (!json_is_array(calls))
            return S_BAD(p, param, "%s must be an array, not %s", s_type_name(calls));
        size_t n = json_array_size(calls);
        if (n > OPENAI_MAX_TOOL_CALLS) {
            openai_error_set(p->err, "invalid_request", param,
                             "%s has %zu entries; at most %d are allowed", param, n,
                             OPENAI_MAX_TOOL_CALLS);
            return -1;
        }
        if (n && s_add_tool_calls(p, msg, n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char path[OPENAI_PARAM_MAX];
            snprintf(path, sizeof path, "messages[%zu].tool_calls[%zu]", mi, i);
            msg->n_tool_calls++;
            if (s_parse_tool_call(p, json_array_get(calls, i), path, &msg->tool_calls[i]) < 0)
                return -1;
        }
    }
    json_t *fc = json_object_get(m, "function_call");
    if (!fc || json_is_null(fc))
        return 0;
    snprintf(param, sizeof param, "messages[%zu].function_call", mi);
    if (!json_is_object(fc))
        return S_BAD(p, param, "%s must be an object, not %s", s_type_name(fc));
    if (msg->n_tool_calls)
        return S_BAD(p, param, "%s and tool_calls cannot both be given%s", "");
    if (s_add_tool_calls(p, msg, 1) < 0)
        return -1;
    openai_tool_call_t *call = &msg->tool_calls[msg->n_tool_calls++];
    char id[32];
    snprintf(id, sizeof id, "call_m%zu", mi);
    call->id = strdup(id);
    if (!call->id)
        return s_oom(p);
    snprintf(param, sizeof param, "messages[%zu].function_call.name", mi);
    if (s_get_fn_name(p, fc, "name", param, &call->name) < 0)
        return -1;
    snprintf(param, sizeof param, "messages[%zu].function_call.arguments", mi);
    return s_get_string(p, fc, "arguments", param, true, OPENAI_MAX_ARGUMENTS_BYTES, true,
                        &call->arguments);
}

static bool s_is_role(const char *role)
{
    static const char *const roles[] = {"system",    "developer", "user",
                                        "assistant", "tool",      "function"};
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
    s_join(param, path, ".type");
    if (!json_is_string(type)) {
        openai_error_set(p->err, "invalid_request", param,
                         type ? "%s must be a string" : "%s is required", param);
        return -1;
    }
    const char *t = json_string_value(type);
    if (strcmp(t, "text") == 0) {
        json_t *v = json_object_get(part, "text");
        s_join(param, path, ".text");
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
                         "%s must be one of system, developer, user, assistant, tool, function",
                         param);
        return -1;
    }
    /* The deprecated role function is a tool result named by `name`. */
    bool legacy = strcmp(json_string_value(role), "function") == 0;
    msg->role = strdup(legacy ? "tool" : json_string_value(role));
    if (!msg->role)
        return s_oom(p);
    if (s_parse_content(p, m, mi, msg) < 0)
        return -1;
    return s_parse_message_extras(p, m, mi, msg, legacy);
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

/*  A field the node cannot honour: 400 naming it when present and not
    null. */
static int s_refuse(parse_ctx_t *p, json_t *root, const char *key, const char *why)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    openai_error_set(p->err, "invalid_request", key, "%s is not supported: %s", key, why);
    return -1;
}

/*  The extension field image_size (written for a peer by
    openai_request_write; /v1/images/generations' size): "auto" or
    "<W>x<H>" with W and H of 1 to 5 digits. */
static int s_parse_image_size(parse_ctx_t *p, json_t *v, const char *key)
{
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    bool ok = strcmp(s, "auto") == 0;
    if (!ok) {
        size_t w = strspn(s, "0123456789");
        size_t h = s[w] == 'x' ? strspn(s + w + 1, "0123456789") : 0;
        ok = w >= 1 && w <= 5 && h >= 1 && h <= 5 && s[w + 1 + h] == '\0' && s[0] != '0' &&
             s[w + 1] != '0';
    }
    if (!ok)
        return S_BAD(p, key, "%s must be \"auto\" or \"<width>x<height>\" such as \"1024x1024\"%s",
                     "");
    snprintf(p->req->image_size, sizeof p->req->image_size, "%s", s);
    return 0;
}

static const char *const s_chat_known[] = {"model",
                                           "messages",
                                           "stream",
                                           "stream_options",
                                           "stop",
                                           "max_tokens",
                                           "max_completion_tokens",
                                           "n",
                                           "logprobs",
                                           "top_logprobs",
                                           "tools",
                                           "functions",
                                           "tool_choice",
                                           "function_call",
                                           "parallel_tool_calls",
                                           "response_format",
                                           "audio",
                                           "modalities",
                                           "prediction",
                                           "logit_bias",
                                           "web_search_options",
                                           "store",
                                           "image_size",
                                           "arena_lowered",
                                           NULL};

/*  Everything of a chat body but model, stream and messages. */
static int s_parse_chat_options(parse_ctx_t *p, json_t *root)
{
    openai_request_t *req = p->req;
    json_t *v;
    if (s_refuse(p, root, "audio", "the node answers with text only") < 0 ||
        s_refuse(p, root, "prediction", "predicted outputs need OpenAI's own models") < 0 ||
        s_refuse(p, root, "web_search_options",
                 "choose a search model instead (the node has no search options)") < 0)
        return -1;
    v = json_object_get(root, "n");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return S_BAD(p, "n", "%s must be 1: the node returns one choice per request%s", "");
    v = json_object_get(root, "modalities");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return S_BAD(p, "modalities", "%s must be an array, not %s", s_type_name(v));
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *m = json_array_get(v, i);
            if (!json_is_string(m) || strcmp(json_string_value(m), "text") != 0)
                return S_BAD(p, "modalities", "%s may only contain \"text\"%s", "");
        }
    }
    v = json_object_get(root, "logit_bias");
    if (v && !json_is_null(v) && (!json_is_object(v) || json_object_size(v) != 0))
        return S_BAD(p, "logit_bias", "%s is not supported: the node cannot bias tokens%s", "");
    v = json_object_get(root, "store");
    if (v && !json_is_null(v) && !json_is_false(v))
        return S_BAD(p, "store", "%s must be false or left out: the node keeps no completions%s",
                     "");
    /* stop and limits */
    if (s_parse_stop(p, json_object_get(root, "stop")) < 0)
        return -1;
    long long mt = -1, mct = -1;
    if (s_get_positive(p, root, "max_tokens", &mt) < 0 ||
        s_get_positive(p, root, "max_completion_tokens", &mct) < 0)
        return -1;
    if (mt > 0 && mct > 0 && mt != mct)
        return S_BAD(p, "max_completion_tokens",
                     "%s and max_tokens are both given and differ; give one%s", "");
    req->max_tokens = mct > 0 ? mct : mt;
    if (s_parse_bool(p, root, "logprobs", "logprobs", &req->logprobs) < 0)
        return -1;
    v = json_object_get(root, "top_logprobs");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 20)
            return S_BAD(p, "top_logprobs", "%s must be an integer from 0 to 20%s", "");
        if (!req->logprobs)
            return S_BAD(p, "top_logprobs", "%s needs logprobs: true%s", "");
    }
    /* tools */
    json_t *tools = json_object_get(root, "tools");
    json_t *functions = json_object_get(root, "functions");
    if (tools && !json_is_null(tools) && functions && !json_is_null(functions))
        return S_BAD(p, "functions", "%s (deprecated) and tools cannot both be given%s", "");
    if (s_parse_tools(p, tools, "tools", false, true) < 0 ||
        s_parse_tools(p, functions, "functions", true, false) < 0)
        return -1;
    json_t *choice = json_object_get(root, "tool_choice");
    json_t *fcall = json_object_get(root, "function_call");
    if (choice && !json_is_null(choice) && fcall && !json_is_null(fcall))
        return S_BAD(p, "function_call", "%s (deprecated) and tool_choice cannot both be given%s",
                     "");
    const char *choice_key = fcall && !json_is_null(fcall) ? "function_call" : "tool_choice";
    if (s_parse_tool_choice(p, choice, "tool_choice", false) < 0 ||
        s_parse_tool_choice(p, fcall, "function_call", true) < 0 ||
        s_check_tool_choice(p, choice_key) < 0)
        return -1;
    if (s_parse_bool(p, root, "parallel_tool_calls", "parallel_tool_calls",
                     &req->parallel_tool_calls) < 0)
        return -1;
    if (s_parse_format(p, json_object_get(root, "response_format"), "response_format", true) < 0)
        return -1;
    if (s_parse_image_size(p, json_object_get(root, "image_size"), "image_size") < 0 ||
        s_parse_bool(p, root, "arena_lowered", "arena_lowered", &req->lowered) < 0)
        return -1;
    v = json_object_get(root, "stream_options");
    if (json_is_object(v)) {
        static const char *const known[] = {"include_usage", NULL};
        s_ignore_rest(p, v, "stream_options.", known);
    }
    s_ignore_rest(p, root, "", s_chat_known);
    return 0;
}

static int s_parse_chat(parse_ctx_t *p, json_t *root)
{
    if (s_parse_model(p, root) < 0 || s_parse_stream(p, root) < 0 || s_parse_messages(p, root) < 0)
        return -1;
    return s_parse_chat_options(p, root);
}

/* ------------------------------------------------------------------------ */
/* The Responses API request (POST /v1/responses)                            */

static openai_message_t *s_push_message(parse_ctx_t *p, const char *role)
{
    openai_message_t *msg = &p->req->messages[p->req->n_messages++];
    msg->role = strdup(role);
    if (!msg->role) {
        s_oom(p);
        return NULL;
    }
    return msg;
}

static bool s_is_str(json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/*  A message item's content: a string, or parts input_text / output_text /
    refusal (text) and input_image (an image_url). */
static int s_responses_content(parse_ctx_t *p, json_t *content, const char *path, const char *field,
                               openai_message_t *msg)
{
    char param[OPENAI_PARAM_MAX];
    s_join(param, path, field);
    if (json_is_string(content)) {
        msg->content = strdup(json_string_value(content));
        return msg->content ? 0 : s_oom(p);
    }
    if (!json_is_array(content))
        return S_BAD(p, param, "%s must be a string or an array of parts, not %s",
                     content ? s_type_name(content) : "missing");
    size_t n = json_array_size(content);
    if (n > p->lim->max_parts) {
        openai_error_set(p->err, "invalid_request", param,
                         "%s has %zu parts; at most %zu are allowed (max_parts)", param, n,
                         p->lim->max_parts);
        return -1;
    }
    abuf_t text = ABUF_INIT;
    int rc = 0;
    for (size_t j = 0; j < n && rc == 0; j++) {
        json_t *part = json_array_get(content, j);
        snprintf(param, sizeof param, "%.64s%s[%zu]", path, field, j);
        json_t *type = json_is_object(part) ? json_object_get(part, "type") : NULL;
        const char *t = json_is_string(type) ? json_string_value(type) : "";
        const char *key = NULL;
        if (strcmp(t, "input_text") == 0 || strcmp(t, "output_text") == 0 || strcmp(t, "text") == 0)
            key = "text";
        else if (strcmp(t, "refusal") == 0)
            key = "refusal";
        if (key) {
            json_t *s = json_object_get(part, key);
            char tp[OPENAI_PARAM_MAX];
            s_join(tp, param, strcmp(key, "text") == 0 ? ".text" : ".refusal");
            if (!json_is_string(s)) {
                rc = S_BAD(p, tp, "%s is required and must be a string%s", "");
                break;
            }
            if ((text.len && abuf_append(&text, "\n", 1) < 0) ||
                abuf_append(&text, json_string_value(s), strlen(json_string_value(s))) < 0)
                rc = s_oom(p);
            continue;
        }
        if (strcmp(t, "input_image") != 0) {
            char tp[OPENAI_PARAM_MAX];
            s_join(tp, param, ".type");
            rc = S_BAD(p, tp,
                       "%s must be input_text, output_text or input_image; \"%.32s\" parts "
                       "are not supported",
                       t);
            break;
        }
        json_t *u = json_object_get(part, "image_url");
        char up[OPENAI_PARAM_MAX];
        s_join(up, param, ".image_url");
        if (json_is_object(u))
            u = json_object_get(u, "url");
        const char *url = json_is_string(u) ? json_string_value(u) : "";
        if (!s_is_image_data_uri(url) && !s_is_http_url(url)) {
            rc = S_BAD(p, up,
                       "%s must be a data:image/<type>;base64,<data> URI or an http(s) URL "
                       "(file ids need OpenAI's file store)%s",
                       "");
            break;
        }
        if (p->req->n_images_total + 1 > p->lim->max_images) {
            openai_error_set(p->err, "invalid_request", param,
                             "too many images: at most %zu image parts are allowed per request "
                             "(max_images)",
                             p->lim->max_images);
            rc = -1;
            break;
        }
        openai_image_t *grown = realloc(msg->images, (msg->n_images + 1) * sizeof *grown);
        if (!grown) {
            rc = s_oom(p);
            break;
        }
        msg->images = grown;
        msg->images[msg->n_images].url = strdup(url);
        if (!msg->images[msg->n_images].url) {
            rc = s_oom(p);
            break;
        }
        msg->n_images++;
        p->req->n_images_total++;
    }
    if (rc == 0) {
        msg->content = strdup(text.data ? text.data : "");
        if (!msg->content)
            rc = s_oom(p);
    }
    abuf_free(&text);
    return rc;
}

static int s_responses_message(parse_ctx_t *p, json_t *item, const char *path)
{
    char param[OPENAI_PARAM_MAX];
    json_t *role = json_object_get(item, "role");
    s_join(param, path, ".role");
    const char *r = json_is_string(role) ? json_string_value(role) : "";
    if (strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0 && strcmp(r, "system") != 0 &&
        strcmp(r, "developer") != 0)
        return S_BAD(p, param, "%s must be one of user, assistant, system, developer%s", "");
    openai_message_t *msg = s_push_message(p, r);
    if (!msg)
        return -1;
    return s_responses_content(p, json_object_get(item, "content"), path, ".content", msg);
}

/*  A new call of the assistant turn in progress (consecutive calls, and the
    text before them, are one turn); NULL with err filled. */
static openai_tool_call_t *s_responses_new_call(parse_ctx_t *p, const char *path)
{
    openai_request_t *req = p->req;
    openai_message_t *msg = req->n_messages ? &req->messages[req->n_messages - 1] : NULL;
    if (!msg || strcmp(msg->role, "assistant") != 0) {
        msg = s_push_message(p, "assistant");
        if (!msg)
            return NULL;
        msg->content = strdup("");
        if (!msg->content) {
            s_oom(p);
            return NULL;
        }
    }
    if (s_add_tool_calls(p, msg, 1) < 0) {
        if (msg->n_tool_calls >= OPENAI_MAX_TOOL_CALLS)
            openai_error_set(p->err, "invalid_request", path, "%s: more than 128 calls in one turn",
                             path);
        return NULL;
    }
    return &msg->tool_calls[msg->n_tool_calls++];
}

static int s_responses_call(parse_ctx_t *p, json_t *item, const char *path)
{
    char param[OPENAI_PARAM_MAX];
    openai_tool_call_t *call = s_responses_new_call(p, path);
    if (!call)
        return -1;
    s_join(param, path, ".call_id");
    if (s_get_string(p, item, "call_id", param, true, 256, false, &call->id) < 0)
        return -1;
    s_join(param, path, ".name");
    if (s_get_fn_name(p, item, "name", param, &call->name) < 0)
        return -1;
    s_join(param, path, ".arguments");
    return s_get_string(p, item, "arguments", param, true, OPENAI_MAX_ARGUMENTS_BYTES, true,
                        &call->arguments);
}

static int s_responses_output(parse_ctx_t *p, json_t *item, const char *path)
{
    char param[OPENAI_PARAM_MAX];
    openai_request_t *req = p->req;
    openai_message_t *msg = s_push_message(p, "tool");
    if (!msg)
        return -1;
    s_join(param, path, ".call_id");
    if (s_get_string(p, item, "call_id", param, true, 256, false, &msg->tool_call_id) < 0)
        return -1;
    /* the function's name, from the call it answers */
    for (size_t i = req->n_messages - 1; i-- > 0 && !msg->name;) {
        const openai_message_t *m = &req->messages[i];
        for (size_t j = 0; j < m->n_tool_calls; j++)
            if (s_str_eq(m->tool_calls[j].id, msg->tool_call_id)) {
                msg->name = strdup(m->tool_calls[j].name);
                if (!msg->name)
                    return s_oom(p);
                break;
            }
    }
    json_t *out = json_object_get(item, "output");
    s_join(param, path, ".output");
    if (!json_is_string(out) && !json_is_array(out))
        return S_BAD(p, param, "%s is required: a string or an array of parts%s", "");
    if (json_is_string(out)) {
        msg->content = strdup(json_string_value(out));
        return msg->content ? 0 : s_oom(p);
    }
    /* an array of input_text parts: same reading as a message's content */
    int rc = s_responses_content(p, out, path, ".output", msg);
    if (rc == 0 && msg->n_images)
        return S_BAD(p, param, "%s may hold text only%s", "");
    return rc;
}

/*  "24 hours", "90 minutes", "45 seconds". */
static void s_duration(char *buf, size_t size, long long s)
{
    if (s >= 3600 && s % 3600 == 0)
        snprintf(buf, size, "%lld hour%s", s / 3600, s == 3600 ? "" : "s");
    else if (s >= 60 && s % 60 == 0)
        snprintf(buf, size, "%lld minute%s", s / 60, s == 60 ? "" : "s");
    else
        snprintf(buf, size, "%lld second%s", s, s == 1 ? "" : "s");
}

/*  {"type":"item_reference","id":…}: an output item of an earlier answer
    of this node, for this client, resolved through p->items; anything else
    (another node's, another key's, expired, made up) is a 400. */
static int s_responses_ref(parse_ctx_t *p, json_t *item, const char *path)
{
    char param[OPENAI_PARAM_MAX];
    const openai_items_t *items = p->items;
    if (!items || !items->find || items->keep_s <= 0)
        return S_BAD(p, path,
                     "%s refers to a stored item, and the node keeps no responses: send the "
                     "item itself (store: false; the AI SDK: providerOptions.openai.store = "
                     "false)%s",
                     "");
    json_t *id = json_object_get(item, "id");
    s_join(param, path, ".id");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        strlen(json_string_value(id)) != json_string_length(id))
        return S_BAD(p, param, "%s is required: the id of an output item%s", "");
    openai_item_t it;
    memset(&it, 0, sizeof it);
    if (!items->find(items->arg, json_string_value(id), &it)) {
        char keep[32];
        s_duration(keep, sizeof keep, items->keep_s);
        openai_error_set(p->err, "invalid_request", path,
                         "%s refers to item \"%.48s\", which this node does not have: it keeps "
                         "the output items of its own answers for %s, for the API key that made "
                         "them; send the item itself (store: false; the AI SDK: "
                         "providerOptions.openai.store = false)",
                         path, json_string_value(id), keep);
        return -1;
    }
    switch (it.kind) {
    case OPENAI_ITEM_REASONING:
        s_ignore(p, "input.reasoning"); /* as when sent inline */
        return 0;
    case OPENAI_ITEM_CALL: {
        openai_tool_call_t *call = s_responses_new_call(p, path);
        if (!call)
            return -1;
        call->id = strdup(it.call_id ? it.call_id : "");
        call->name = strdup(it.name ? it.name : "");
        call->arguments = strdup(it.text ? it.text : "");
        return call->id && call->name && call->arguments ? 0 : s_oom(p);
    }
    case OPENAI_ITEM_MESSAGE:
    default: {
        openai_message_t *msg = s_push_message(p, "assistant");
        if (!msg)
            return -1;
        msg->content = strdup(it.text ? it.text : "");
        return msg->content ? 0 : s_oom(p);
    }
    }
}

/*  OpenAI's item reference may leave out its type: an id, no role. */
static bool s_is_bare_ref(json_t *item)
{
    return json_object_get(item, "id") && !json_object_get(item, "role") &&
           !json_object_get(item, "content");
}

static int s_responses_input(parse_ctx_t *p, json_t *root)
{
    openai_request_t *req = p->req;
    json_t *input = json_object_get(root, "input");
    json_t *instr = json_object_get(root, "instructions");
    if (!input || json_is_null(input))
        return S_BAD(p, "input", "missing required field: %s%s", "");
    if (!json_is_string(input) && !json_is_array(input))
        return S_BAD(p, "input", "%s must be a string or an array of items, not %s",
                     s_type_name(input));
    if (instr && !json_is_null(instr) && !json_is_string(instr))
        return S_BAD(p, "instructions", "%s must be a string, not %s", s_type_name(instr));
    size_t n = json_is_array(input) ? json_array_size(input) : 1;
    if (n > p->lim->max_messages) {
        openai_error_set(p->err, "invalid_request", "input",
                         "input has %zu items; at most %zu are allowed (max_messages)", n,
                         p->lim->max_messages);
        return -1;
    }
    req->messages = calloc(n + 1, sizeof *req->messages);
    if (!req->messages)
        return s_oom(p);
    if (json_is_string(instr) && json_string_length(instr)) {
        openai_message_t *msg = s_push_message(p, "system");
        if (!msg || !(msg->content = strdup(json_string_value(instr))))
            return s_oom(p);
        req->instructions = true;
    }
    if (json_is_string(input)) {
        openai_message_t *msg = s_push_message(p, "user");
        if (!msg || !(msg->content = strdup(json_string_value(input))))
            return s_oom(p);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char path[OPENAI_PARAM_MAX];
        snprintf(path, sizeof path, "input[%zu]", i);
        json_t *item = json_array_get(input, i);
        if (!json_is_object(item))
            return S_BAD(p, path, "%s must be an object, not %s", s_type_name(item));
        json_t *type = json_object_get(item, "type");
        int rc;
        if ((!type || json_is_null(type)) && s_is_bare_ref(item))
            rc = s_responses_ref(p, item, path);
        else if (!type || json_is_null(type) || s_is_str(type, "message"))
            rc = s_responses_message(p, item, path);
        else if (s_is_str(type, "function_call"))
            rc = s_responses_call(p, item, path);
        else if (s_is_str(type, "function_call_output"))
            rc = s_responses_output(p, item, path);
        else if (s_is_str(type, "reasoning")) {
            s_ignore(p, "input.reasoning"); /* the model's own notes: not sent back up */
            rc = 0;
        } else if (s_is_str(type, "item_reference"))
            rc = s_responses_ref(p, item, path);
        else {
            char tp[OPENAI_PARAM_MAX];
            s_join(tp, path, ".type");
            rc = S_BAD(p, tp,
                       "%s \"%.40s\" is not supported (message, function_call, "
                       "function_call_output and item_reference items are)",
                       json_is_string(type) ? json_string_value(type) : "?");
        }
        if (rc < 0)
            return -1;
    }
    if (req->n_messages == 0)
        return S_BAD(p, "input", "%s must contain at least one message%s", "");
    return 0;
}

static const char *const s_responses_known[] = {"model",
                                                "input",
                                                "instructions",
                                                "stream",
                                                "max_output_tokens",
                                                "tools",
                                                "tool_choice",
                                                "parallel_tool_calls",
                                                "text",
                                                "previous_response_id",
                                                "background",
                                                "conversation",
                                                "prompt",
                                                "stream_options",
                                                "store",
                                                NULL};

static int s_parse_responses(parse_ctx_t *p, json_t *root)
{
    openai_request_t *req = p->req;
    if (s_refuse(p, root, "previous_response_id",
                 "the node keeps the output items of its answers (item_reference), not whole "
                 "responses; send the conversation in input") < 0 ||
        s_refuse(p, root, "conversation",
                 "the node keeps no conversations; send the whole conversation in input") < 0 ||
        s_refuse(p, root, "prompt", "stored prompt templates live on OpenAI's servers") < 0)
        return -1;
    json_t *bg = json_object_get(root, "background");
    if (bg && !json_is_null(bg) && !json_is_false(bg))
        return S_BAD(p, "background", "%s must be false: the node runs no background responses%s",
                     "");
    req->store = true; /* OpenAI's default */
    if (s_parse_model(p, root) < 0 || s_parse_bool(p, root, "stream", "stream", &req->stream) < 0 ||
        s_parse_bool(p, root, "store", "store", &req->store) < 0)
        return -1;
    if (s_responses_input(p, root) < 0)
        return -1;
    if (s_get_positive(p, root, "max_output_tokens", &req->max_tokens) < 0)
        return -1;
    json_t *tools = json_object_get(root, "tools");
    if (tools && !json_is_null(tools)) {
        if (!json_is_array(tools))
            return S_BAD(p, "tools", "%s must be an array, not %s", s_type_name(tools));
        /* the flat form: {type:"function",name,description,parameters,strict} */
        if (s_parse_tools(p, tools, "tools", true, true) < 0)
            return -1;
    }
    if (s_parse_tool_choice(p, json_object_get(root, "tool_choice"), "tool_choice", false) < 0 ||
        s_check_tool_choice(p, "tool_choice") < 0 ||
        s_parse_bool(p, root, "parallel_tool_calls", "parallel_tool_calls",
                     &req->parallel_tool_calls) < 0)
        return -1;
    json_t *text = json_object_get(root, "text");
    if (text && !json_is_null(text)) {
        if (!json_is_object(text))
            return S_BAD(p, "text", "%s must be an object, not %s", s_type_name(text));
        if (s_parse_format(p, json_object_get(text, "format"), "text.format", false) < 0)
            return -1;
        static const char *const known[] = {"format", NULL};
        s_ignore_rest(p, text, "text.", known);
    }
    json_t *so = json_object_get(root, "stream_options");
    if (json_is_object(so)) {
        static const char *const none[] = {NULL};
        s_ignore_rest(p, so, "stream_options.", none);
    }
    s_ignore_rest(p, root, "", s_responses_known);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The images request (POST /v1/images/generations)                          */

static const char *const s_images_known[] = {"model",           "prompt", "n", "size",
                                             "response_format", "stream", NULL};

static int s_parse_images(parse_ctx_t *p, json_t *root)
{
    openai_request_t *req = p->req;
    if (s_parse_model(p, root) < 0)
        return -1;
    json_t *prompt = json_object_get(root, "prompt");
    if (!json_is_string(prompt))
        return S_BAD(p, "prompt", "%s is required and must be a string%s", "");
    const char *text = json_string_value(prompt);
    size_t chars = 0;
    for (const char *c = text; *c; c++)
        chars += ((unsigned char)*c & 0xC0) != 0x80;
    if (chars == 0 || strlen(text) != json_string_length(prompt))
        return S_BAD(p, "prompt", "%s must be a non-empty string without NUL characters%s", "");
    if (chars > OPENAI_IMAGE_PROMPT_MAX) {
        openai_error_set(p->err, "invalid_request", "prompt",
                         "prompt is %zu characters long; at most %d are allowed", chars,
                         OPENAI_IMAGE_PROMPT_MAX);
        return -1;
    }
    json_t *n = json_object_get(root, "n");
    if (n && !json_is_null(n) && !(json_is_integer(n) && json_integer_value(n) == 1))
        return S_BAD(p, "n", "%s must be 1: the node makes one image per request%s", "");
    /* a stream of partial images: the openai SDK would read this JSON as an
       empty event stream, so it is refused rather than ignored */
    json_t *st = json_object_get(root, "stream");
    if (st && !json_is_null(st) && !json_is_false(st))
        return S_BAD(p, "stream",
                     "%s must be false: the node returns the image's link once it is done (no "
                     "partial images)%s",
                     "");
    json_t *rf = json_object_get(root, "response_format");
    if (rf && !json_is_null(rf) && !s_is_str(rf, "url"))
        return S_BAD(p, "response_format",
                     "%s must be \"url\": the node returns the link the site gives%s", "");
    if (s_parse_image_size(p, json_object_get(root, "size"), "size") < 0)
        return -1;
    if (!req->image_size[0])
        snprintf(req->image_size, sizeof req->image_size, "auto");
    req->messages = calloc(1, sizeof *req->messages);
    if (!req->messages)
        return s_oom(p);
    openai_message_t *msg = s_push_message(p, "user");
    if (!msg || !(msg->content = strdup(text)))
        return s_oom(p);
    s_ignore_rest(p, root, "", s_images_known);
    return 0;
}

typedef int (*parse_fn_t)(parse_ctx_t *p, json_t *root);

static int s_parse_body_items(const char *body, size_t len, const openai_limits_t *lim,
                              const openai_items_t *items, openai_request_t **out,
                              openai_error_t *err, parse_fn_t fn)
{
    openai_limits_t defaults;
    openai_error_t scratch;
    if (!lim) {
        openai_limits_default(&defaults);
        lim = &defaults;
    }
    parse_ctx_t p = {lim, err ? err : &scratch, NULL, items};
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
        rc = fn(&p, root);
    }
    json_decref(root);
    if (rc < 0) {
        openai_request_destroy(&p.req);
        return -1;
    }
    *out = p.req;
    return 0;
}

static int s_parse_body(const char *body, size_t len, const openai_limits_t *lim,
                        openai_request_t **out, openai_error_t *err, parse_fn_t fn)
{
    return s_parse_body_items(body, len, lim, NULL, out, err, fn);
}

int openai_request_parse(const char *body, size_t len, const openai_limits_t *lim,
                         openai_request_t **out, openai_error_t *err)
{
    return s_parse_body(body, len, lim, out, err, s_parse_chat);
}

int openai_responses_parse(const char *body, size_t len, const openai_limits_t *lim,
                           openai_request_t **out, openai_error_t *err)
{
    return s_parse_body(body, len, lim, out, err, s_parse_responses);
}

int openai_responses_parse_ex(const char *body, size_t len, const openai_limits_t *lim,
                              const openai_items_t *items, openai_request_t **out,
                              openai_error_t *err)
{
    return s_parse_body_items(body, len, lim, items, out, err, s_parse_responses);
}

int openai_images_parse(const char *body, size_t len, const openai_limits_t *lim,
                        openai_request_t **out, openai_error_t *err)
{
    return s_parse_body(body, len, lim, out, err, s_parse_images);
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

static int s_write_tool_calls(abuf_t *out, const openai_message_t *msg)
{
    if (abuf_puts(out, ",\"tool_calls\":[") < 0)
        return -1;
    for (size_t i = 0; i < msg->n_tool_calls; i++) {
        const openai_tool_call_t *c = &msg->tool_calls[i];
        if ((i && abuf_append(out, ",", 1) < 0) || abuf_puts(out, "{\"id\":") < 0 ||
            s_put_cstr(out, c->id) < 0 ||
            abuf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":") < 0 ||
            s_put_cstr(out, c->name) < 0 || abuf_puts(out, ",\"arguments\":") < 0 ||
            s_put_cstr(out, c->arguments) < 0 || abuf_puts(out, "}}") < 0)
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
    if (msg->name && (abuf_puts(out, ",\"name\":") < 0 || s_put_cstr(out, msg->name) < 0))
        return -1;
    if (msg->tool_call_id &&
        (abuf_puts(out, ",\"tool_call_id\":") < 0 || s_put_cstr(out, msg->tool_call_id) < 0))
        return -1;
    if (msg->n_tool_calls && s_write_tool_calls(out, msg) < 0)
        return -1;
    return abuf_append(out, "}", 1);
}

static int s_write_tools(abuf_t *out, const openai_request_t *req)
{
    if (abuf_puts(out, ",\"tools\":[") < 0)
        return -1;
    for (size_t i = 0; i < req->n_tools; i++) {
        const openai_tool_t *t = &req->tools[i];
        if ((i && abuf_append(out, ",", 1) < 0) ||
            abuf_puts(out, "{\"type\":\"function\",\"function\":{\"name\":") < 0 ||
            s_put_cstr(out, t->name) < 0)
            return -1;
        if (t->description &&
            (abuf_puts(out, ",\"description\":") < 0 || s_put_cstr(out, t->description) < 0))
            return -1;
        /* parameters is JSON text the parser produced: written as is */
        if (t->parameters &&
            (abuf_puts(out, ",\"parameters\":") < 0 || abuf_puts(out, t->parameters) < 0))
            return -1;
        if ((t->strict && abuf_puts(out, ",\"strict\":true") < 0) || abuf_puts(out, "}}") < 0)
            return -1;
    }
    return abuf_append(out, "]", 1);
}

static int s_write_tool_choice(abuf_t *out, const openai_request_t *req)
{
    switch (req->tool_choice) {
    case OPENAI_TOOL_AUTO:
        return 0;
    case OPENAI_TOOL_NONE:
        return abuf_puts(out, ",\"tool_choice\":\"none\"");
    case OPENAI_TOOL_REQUIRED:
        return abuf_puts(out, ",\"tool_choice\":\"required\"");
    case OPENAI_TOOL_NAMED:
        if (abuf_puts(out, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":") < 0 ||
            s_put_cstr(out, req->tool_choice_name) < 0)
            return -1;
        return abuf_puts(out, "}}");
    }
    return 0;
}

static int s_write_format(abuf_t *out, const openai_request_t *req)
{
    if (req->format == OPENAI_FORMAT_JSON_OBJECT)
        return abuf_puts(out, ",\"response_format\":{\"type\":\"json_object\"}");
    if (req->format != OPENAI_FORMAT_JSON_SCHEMA)
        return 0;
    if (abuf_puts(out, ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{") < 0 ||
        abuf_puts(out, "\"name\":") < 0 || s_put_cstr(out, req->format_name) < 0)
        return -1;
    if (req->format_schema &&
        (abuf_puts(out, ",\"schema\":") < 0 || abuf_puts(out, req->format_schema) < 0))
        return -1;
    if (req->format_strict && abuf_puts(out, ",\"strict\":true") < 0)
        return -1;
    return abuf_puts(out, "}}");
}

/*  The fields after messages, each only when it differs from the default. */
static int s_write_options(abuf_t *out, const openai_request_t *req)
{
    for (size_t i = 0; i < req->n_stop; i++)
        if (abuf_puts(out, i ? "," : ",\"stop\":[") < 0 || s_put_cstr(out, req->stop[i]) < 0)
            return -1;
    if (req->n_stop && abuf_append(out, "]", 1) < 0)
        return -1;
    if (req->max_tokens > 0 &&
        abuf_printf(out, ",\"max_completion_tokens\":%lld", req->max_tokens) < 0)
        return -1;
    if (req->logprobs && abuf_puts(out, ",\"logprobs\":true") < 0)
        return -1;
    if (req->n_tools && s_write_tools(out, req) < 0)
        return -1;
    if (s_write_tool_choice(out, req) < 0)
        return -1;
    if (!req->parallel_tool_calls && abuf_puts(out, ",\"parallel_tool_calls\":false") < 0)
        return -1;
    if (s_write_format(out, req) < 0)
        return -1;
    if (req->image_size[0] &&
        (abuf_puts(out, ",\"image_size\":") < 0 || s_put_cstr(out, req->image_size) < 0))
        return -1;
    if (req->lowered && abuf_puts(out, ",\"arena_lowered\":true") < 0)
        return -1;
    return 0;
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
    if (abuf_append(out, "]", 1) < 0 || s_write_options(out, req) < 0 ||
        abuf_append(out, "}", 1) < 0)
        return s_rollback(out, mark);
    return 0;
}

openai_request_t *openai_request_clone(const openai_request_t *req)
{
    if (!req)
        return NULL;
    abuf_t b = ABUF_INIT;
    openai_request_t *copy = NULL;
    /* what was parsed once fits these: the clone never refuses it */
    openai_limits_t lim = {512, (size_t)-1 / 2, (size_t)-1 / 2, (size_t)-1 / 2, 1u << 20};
    if (openai_request_write(req, &b) == 0 &&
        openai_request_parse(b.data, b.len, &lim, &copy, NULL) == 0) {
        memcpy(copy->client, req->client, sizeof copy->client);
        memcpy(copy->request_id, req->request_id, sizeof copy->request_id);
        memcpy(copy->ignored, req->ignored, sizeof copy->ignored);
        copy->store = req->store;
    }
    abuf_free(&b);
    return copy;
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
        size_t n = utf8_piece(args, left, OPENAI_TOOL_ARGS_PIECE);
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
