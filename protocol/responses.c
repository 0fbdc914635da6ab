/*  responses — see responses.h.

    The writer keeps every output item (kind, id, raw text or arguments,
    status) and at most one open item (the last message or reasoning item,
    which deltas extend). Events and the final object are both rendered from
    these items, through openai_render_json_str, so they agree and are strict
    JSON for any bytes. What the request asked (tools, tool_choice, text
    format, …) is rendered once in responses_writer_new into `echo`. */
#include "protocol/responses.h"
#include "protocol/utf8.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    ITEM_MESSAGE,
    ITEM_REASONING,
    ITEM_CALL,
} item_kind_t;

typedef enum {
    ITEM_IN_PROGRESS,
    ITEM_COMPLETED,
    ITEM_INCOMPLETE,
} item_status_t;

typedef struct {
    item_kind_t kind;
    item_status_t status;
    char *id;      /* msg_… | rs_… | fc_… */
    abuf_t text;   /* message text, reasoning summary text or call arguments (raw bytes) */
    size_t sent;   /* bytes of text already written as deltas */
    char *call_id; /* ITEM_CALL */
    char *name;    /* ITEM_CALL */
} item_t;

typedef enum {
    RESP_NEW,
    RESP_STREAMING,
    RESP_COMPLETED,
    RESP_INCOMPLETE,
    RESP_FAILED,
} resp_state_t;

struct _responses_writer_t {
    char *id;
    char *suffix; /* id without "resp_": the tail of item ids */
    char *model;
    long long created_at;
    abuf_t echo; /* `"instructions":…,…,"metadata":{}` */
    item_t *items;
    size_t n_items, cap_items;
    bool open;  /* items[n_items - 1] takes deltas */
    bool spent; /* a call failed: no more feeding */
    resp_state_t state;
    long long seq; /* next sequence_number */
    const char *incomplete_reason;
    long long input_tokens, output_tokens;
    bool has_usage;
    char err_code[64];
    char err_message[320];
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static int s_rollback(abuf_t *out, size_t mark)
{
    if (out) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return -1;
}

static int s_str(abuf_t *out, const char *s)
{
    return openai_render_json_str(out, s, s ? strlen(s) : 0);
}

static char *s_join(const char *prefix, const char *suffix, size_t n)
{
    abuf_t b = ABUF_INIT;
    if (abuf_printf(&b, "%s_%s_%zu", prefix, suffix, n) < 0) {
        abuf_free(&b);
        return NULL;
    }
    return abuf_steal(&b, NULL);
}

/*  A JSON text from the request (a schema) re-encoded by jansson, so only
    valid JSON is ever echoed; null when absent or unreadable. */
static int s_put_raw_json(abuf_t *out, const char *text)
{
    if (!text)
        return abuf_puts(out, "null");
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        return abuf_puts(out, "null");
    char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!dump)
        return -1;
    int rc = abuf_puts(out, dump);
    free(dump);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* What the request asked, echoed                                            */

static int s_put_tools(abuf_t *out, const openai_request_t *req)
{
    if (abuf_puts(out, "\"tools\":[") < 0)
        return -1;
    for (size_t i = 0; req && i < req->n_tools; i++) {
        const openai_tool_t *t = &req->tools[i];
        if ((i && abuf_append(out, ",", 1) < 0) ||
            abuf_puts(out, "{\"type\":\"function\",\"name\":") < 0 || s_str(out, t->name) < 0 ||
            abuf_puts(out, ",\"description\":") < 0 ||
            (t->description ? s_str(out, t->description) : abuf_puts(out, "null")) < 0 ||
            abuf_puts(out, ",\"parameters\":") < 0 || s_put_raw_json(out, t->parameters) < 0 ||
            abuf_printf(out, ",\"strict\":%s}", t->strict ? "true" : "false") < 0)
            return -1;
    }
    return abuf_append(out, "]", 1);
}

static int s_put_tool_choice(abuf_t *out, const openai_request_t *req)
{
    if (abuf_puts(out, "\"tool_choice\":") < 0)
        return -1;
    switch (req ? req->tool_choice : OPENAI_TOOL_AUTO) {
    case OPENAI_TOOL_NONE:
        return abuf_puts(out, "\"none\"");
    case OPENAI_TOOL_REQUIRED:
        return abuf_puts(out, "\"required\"");
    case OPENAI_TOOL_NAMED:
        if (abuf_puts(out, "{\"type\":\"function\",\"name\":") < 0 ||
            s_str(out, req->tool_choice_name) < 0)
            return -1;
        return abuf_append(out, "}", 1);
    case OPENAI_TOOL_AUTO:
    default:
        return abuf_puts(out, "\"auto\"");
    }
}

static int s_put_text_format(abuf_t *out, const openai_request_t *req)
{
    if (abuf_puts(out, "\"text\":{\"format\":") < 0)
        return -1;
    int rc = 0;
    switch (req ? req->format : OPENAI_FORMAT_TEXT) {
    case OPENAI_FORMAT_JSON_OBJECT:
        rc = abuf_puts(out, "{\"type\":\"json_object\"}");
        break;
    case OPENAI_FORMAT_JSON_SCHEMA:
        if (abuf_puts(out, "{\"type\":\"json_schema\",\"name\":") < 0 ||
            s_str(out, req->format_name ? req->format_name : "response") < 0 ||
            abuf_puts(out, ",\"schema\":") < 0 || s_put_raw_json(out, req->format_schema) < 0 ||
            abuf_printf(out, ",\"strict\":%s}", req->format_strict ? "true" : "false") < 0)
            return -1;
        break;
    case OPENAI_FORMAT_TEXT:
    default:
        rc = abuf_puts(out, "{\"type\":\"text\"}");
        break;
    }
    return rc < 0 ? -1 : abuf_append(out, "}", 1);
}

static int s_put_echo(abuf_t *out, const responses_meta_t *meta)
{
    const openai_request_t *req = meta->req;
    if (abuf_puts(out, "\"instructions\":") < 0 ||
        (meta->instructions ? s_str(out, meta->instructions) : abuf_puts(out, "null")) < 0 ||
        abuf_puts(out, ",\"max_output_tokens\":") < 0)
        return -1;
    int rc = req && req->max_tokens >= 0 ? abuf_printf(out, "%lld", req->max_tokens)
                                         : abuf_puts(out, "null");
    if (rc < 0 ||
        abuf_printf(out, ",\"parallel_tool_calls\":%s",
                    !req || req->parallel_tool_calls ? "true" : "false") < 0 ||
        abuf_printf(out,
                    ",\"previous_response_id\":null,\"reasoning\":{\"effort\":null,"
                    "\"summary\":null},\"store\":%s,\"temperature\":null,",
                    req && req->store ? "true" : "false") < 0 ||
        s_put_text_format(out, req) < 0 || abuf_append(out, ",", 1) < 0 ||
        s_put_tool_choice(out, req) < 0 || abuf_append(out, ",", 1) < 0 ||
        s_put_tools(out, req) < 0 ||
        abuf_puts(out, ",\"top_p\":null,\"truncation\":\"disabled\",\"user\":null,"
                       "\"metadata\":{}") < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                  */

responses_writer_t *responses_writer_new(const responses_meta_t *meta)
{
    if (!meta || !meta->id || !meta->model)
        return NULL;
    responses_writer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    const char *suffix = strncmp(meta->id, "resp_", 5) == 0 ? meta->id + 5 : meta->id;
    self->id = strdup(meta->id);
    self->suffix = strdup(suffix);
    self->model = strdup(meta->model);
    self->created_at = meta->created_at;
    if (!self->id || !self->suffix || !self->model || s_put_echo(&self->echo, meta) < 0) {
        responses_writer_destroy(&self);
        return NULL;
    }
    return self;
}

void responses_writer_destroy(responses_writer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    responses_writer_t *self = *self_p;
    for (size_t i = 0; i < self->n_items; i++) {
        free(self->items[i].id);
        free(self->items[i].call_id);
        free(self->items[i].name);
        abuf_free(&self->items[i].text);
    }
    free(self->items);
    abuf_free(&self->echo);
    free(self->id);
    free(self->suffix);
    free(self->model);
    free(self);
    *self_p = NULL;
}

bool responses_writer_done(const responses_writer_t *self)
{
    return self && self->state != RESP_NEW && self->state != RESP_STREAMING;
}

/* ------------------------------------------------------------------------ */
/* Rendering the object and its items                                        */

static const char *s_status_name(item_status_t st)
{
    return st == ITEM_COMPLETED    ? "completed"
           : st == ITEM_INCOMPLETE ? "incomplete"
                                   : "in_progress";
}

/*  {"type":"output_text","text":…,"annotations":[],"logprobs":[]} */
static int s_put_text_part(abuf_t *out, const char *text, size_t len)
{
    if (abuf_puts(out, "{\"type\":\"output_text\",\"text\":") < 0 ||
        openai_render_json_str(out, text, len) < 0)
        return -1;
    return abuf_puts(out, ",\"annotations\":[],\"logprobs\":[]}");
}

static int s_put_summary_part(abuf_t *out, const char *text, size_t len)
{
    if (abuf_puts(out, "{\"type\":\"summary_text\",\"text\":") < 0 ||
        openai_render_json_str(out, text, len) < 0)
        return -1;
    return abuf_append(out, "}", 1);
}

/*  One output item; `added` renders it as output_item.added shows it
    (no content yet, empty arguments, in progress). */
static int s_put_item(abuf_t *out, const item_t *it, bool added)
{
    const char *text = it->text.data ? it->text.data : "";
    size_t len = it->text.len;
    const char *status = s_status_name(added ? ITEM_IN_PROGRESS : it->status);
    switch (it->kind) {
    case ITEM_MESSAGE:
        if (abuf_puts(out, "{\"id\":") < 0 || s_str(out, it->id) < 0 ||
            abuf_printf(out,
                        ",\"type\":\"message\",\"status\":\"%s\",\"role\":\"assistant\","
                        "\"content\":[",
                        status) < 0 ||
            (!added && s_put_text_part(out, text, len) < 0))
            return -1;
        return abuf_puts(out, "]}");
    case ITEM_REASONING:
        if (abuf_puts(out, "{\"id\":") < 0 || s_str(out, it->id) < 0 ||
            abuf_puts(out, ",\"type\":\"reasoning\",\"summary\":[") < 0 ||
            (!added && s_put_summary_part(out, text, len) < 0))
            return -1;
        return abuf_puts(out, "]}");
    case ITEM_CALL:
    default:
        if (abuf_puts(out, "{\"id\":") < 0 || s_str(out, it->id) < 0 ||
            abuf_puts(out, ",\"type\":\"function_call\",\"status\":") < 0 ||
            s_str(out, status) < 0 || abuf_puts(out, ",\"call_id\":") < 0 ||
            s_str(out, it->call_id) < 0 || abuf_puts(out, ",\"name\":") < 0 ||
            s_str(out, it->name) < 0 || abuf_puts(out, ",\"arguments\":") < 0 ||
            openai_render_json_str(out, text, added ? 0 : len) < 0)
            return -1;
        return abuf_append(out, "}", 1);
    }
}

static const char *s_state_name(resp_state_t st)
{
    switch (st) {
    case RESP_COMPLETED:
        return "completed";
    case RESP_INCOMPLETE:
        return "incomplete";
    case RESP_FAILED:
        return "failed";
    case RESP_NEW:
    case RESP_STREAMING:
    default:
        return "in_progress";
    }
}

static int s_put_usage(abuf_t *out, const responses_writer_t *self)
{
    if (!self->has_usage)
        return abuf_puts(out, "\"usage\":null");
    long long in = self->input_tokens, outc = self->output_tokens;
    long long total = in > LLONG_MAX - outc ? LLONG_MAX : in + outc;
    return abuf_printf(out,
                       "\"usage\":{\"input_tokens\":%lld,\"input_tokens_details\":{"
                       "\"cached_tokens\":0},\"output_tokens\":%lld,\"output_tokens_details\":{"
                       "\"reasoning_tokens\":0},\"total_tokens\":%lld}",
                       in, outc, total);
}

static int s_put_response(abuf_t *out, const responses_writer_t *self)
{
    if (abuf_puts(out, "{\"id\":") < 0 || s_str(out, self->id) < 0 ||
        abuf_printf(out,
                    ",\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\","
                    "\"background\":false,\"error\":",
                    self->created_at, s_state_name(self->state)) < 0)
        return -1;
    if (self->state == RESP_FAILED) {
        if (abuf_puts(out, "{\"code\":") < 0 || s_str(out, self->err_code) < 0 ||
            abuf_puts(out, ",\"message\":") < 0 || s_str(out, self->err_message) < 0 ||
            abuf_append(out, "}", 1) < 0)
            return -1;
    } else if (abuf_puts(out, "null") < 0) {
        return -1;
    }
    if (abuf_puts(out, ",\"incomplete_details\":") < 0)
        return -1;
    int rc = self->incomplete_reason
                 ? abuf_printf(out, "{\"reason\":\"%s\"}", self->incomplete_reason)
                 : abuf_puts(out, "null");
    if (rc < 0 || abuf_puts(out, ",\"model\":") < 0 || s_str(out, self->model) < 0 ||
        abuf_puts(out, ",\"output\":[") < 0)
        return -1;
    for (size_t i = 0; i < self->n_items; i++)
        if ((i && abuf_append(out, ",", 1) < 0) || s_put_item(out, &self->items[i], false) < 0)
            return -1;
    if (abuf_puts(out, "],") < 0 || abuf_append(out, self->echo.data, self->echo.len) < 0 ||
        abuf_append(out, ",", 1) < 0 || s_put_usage(out, self) < 0)
        return -1;
    return abuf_append(out, "}", 1);
}

int responses_writer_render(const responses_writer_t *self, abuf_t *out)
{
    if (!self || !out)
        return -1;
    size_t mark = out->len;
    if (s_put_response(out, self) < 0)
        return s_rollback(out, mark);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */

/*  `event: NAME\ndata: {"type":"NAME","sequence_number":N` — the caller
    adds the fields and ends with s_event_close. */
static int s_event_open(responses_writer_t *self, abuf_t *out, const char *name)
{
    return abuf_printf(out, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%lld", name,
                       name, self->seq++);
}

static int s_event_close(abuf_t *out)
{
    return abuf_puts(out, "}\n\n");
}

/*  `,"item_id":…,"output_index":N` */
static int s_put_item_ref(abuf_t *out, const item_t *it, size_t index)
{
    if (abuf_puts(out, ",\"item_id\":") < 0 || s_str(out, it->id) < 0)
        return -1;
    return abuf_printf(out, ",\"output_index\":%zu", index);
}

/*  response.output_item.added / .done */
static int s_ev_item(responses_writer_t *self, abuf_t *out, size_t index, bool added)
{
    if (s_event_open(self, out,
                     added ? "response.output_item.added" : "response.output_item.done") < 0 ||
        abuf_printf(out, ",\"output_index\":%zu,\"item\":", index) < 0 ||
        s_put_item(out, &self->items[index], added) < 0)
        return -1;
    return s_event_close(out);
}

/*  The content part / summary part added or done event. */
static int s_ev_part(responses_writer_t *self, abuf_t *out, size_t index, bool added)
{
    const item_t *it = &self->items[index];
    const char *text = added ? "" : (it->text.data ? it->text.data : "");
    size_t len = added ? 0 : it->text.len;
    bool msg = it->kind == ITEM_MESSAGE;
    const char *name = msg ? (added ? "response.content_part.added" : "response.content_part.done")
                           : (added ? "response.reasoning_summary_part.added"
                                    : "response.reasoning_summary_part.done");
    if (s_event_open(self, out, name) < 0 || s_put_item_ref(out, it, index) < 0 ||
        abuf_puts(out, msg ? ",\"content_index\":0,\"part\":" : ",\"summary_index\":0,\"part\":") <
            0 ||
        (msg ? s_put_text_part(out, text, len) : s_put_summary_part(out, text, len)) < 0)
        return -1;
    return s_event_close(out);
}

/*  One text delta event of bytes [from, to) of the open item's text. */
static int s_ev_text_delta(responses_writer_t *self, abuf_t *out, size_t index, size_t from,
                           size_t to)
{
    const item_t *it = &self->items[index];
    bool msg = it->kind == ITEM_MESSAGE;
    if (s_event_open(self, out,
                     msg ? "response.output_text.delta" : "response.reasoning_summary_text.delta") <
            0 ||
        s_put_item_ref(out, it, index) < 0 ||
        abuf_puts(out, msg ? ",\"content_index\":0,\"delta\":"
                           : ",\"summary_index\":0,\"delta\":") < 0 ||
        openai_render_json_str(out, it->text.data + from, to - from) < 0 ||
        (msg && abuf_puts(out, ",\"logprobs\":[]") < 0))
        return -1;
    return s_event_close(out);
}

static int s_ev_text_done(responses_writer_t *self, abuf_t *out, size_t index)
{
    const item_t *it = &self->items[index];
    bool msg = it->kind == ITEM_MESSAGE;
    if (s_event_open(self, out,
                     msg ? "response.output_text.done" : "response.reasoning_summary_text.done") <
            0 ||
        s_put_item_ref(out, it, index) < 0 ||
        abuf_puts(out, msg ? ",\"content_index\":0,\"text\":" : ",\"summary_index\":0,\"text\":") <
            0 ||
        openai_render_json_str(out, it->text.data ? it->text.data : "", it->text.len) < 0 ||
        (msg && abuf_puts(out, ",\"logprobs\":[]") < 0))
        return -1;
    return s_event_close(out);
}

/*  `event` with the whole response object (created, in_progress, completed,
    incomplete, failed). */
static int s_ev_response(responses_writer_t *self, abuf_t *out, const char *name)
{
    if (s_event_open(self, out, name) < 0 || abuf_puts(out, ",\"response\":") < 0 ||
        s_put_response(out, self) < 0)
        return -1;
    return s_event_close(out);
}

/* ------------------------------------------------------------------------ */
/* Feeding                                                                   */

/*  Where the bytes of text[0..len) may be cut so that no UTF-8 character
    is split: len, or the start of a trailing lead byte whose continuation
    bytes have not all arrived yet. */
static size_t s_utf8_safe_end(const char *text, size_t len)
{
    const unsigned char *u = (const unsigned char *)text;
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = u[len - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation: look further back */
        size_t need = c >= 0xC2 && c <= 0xDF   ? 2
                      : c >= 0xE0 && c <= 0xEF ? 3
                      : c >= 0xF0 && c <= 0xF4 ? 4
                                               : 1;
        return need > back ? len - back : len;
    }
    return len;
}

/*  The events that start the stream, written before anything else. */
static int s_start(responses_writer_t *self, abuf_t *out)
{
    if (self->state != RESP_NEW)
        return 0;
    self->state = RESP_STREAMING;
    if (!out)
        return 0;
    if (s_ev_response(self, out, "response.created") < 0 ||
        s_ev_response(self, out, "response.in_progress") < 0)
        return -1;
    return 0;
}

/*  Closes the open item: the held-back bytes, then the done events. */
static int s_close_open(responses_writer_t *self, abuf_t *out, item_status_t status)
{
    if (!self->open)
        return 0;
    size_t index = self->n_items - 1;
    item_t *it = &self->items[index];
    self->open = false;
    it->status = status;
    if (!out)
        return 0;
    if (it->sent < it->text.len && s_ev_text_delta(self, out, index, it->sent, it->text.len) < 0)
        return -1;
    it->sent = it->text.len;
    if (s_ev_text_done(self, out, index) < 0 || s_ev_part(self, out, index, false) < 0 ||
        s_ev_item(self, out, index, false) < 0)
        return -1;
    return 0;
}

static item_t *s_item_add(responses_writer_t *self, item_kind_t kind)
{
    if (self->n_items == self->cap_items) {
        size_t cap = self->cap_items ? self->cap_items * 2 : 4;
        item_t *items = realloc(self->items, cap * sizeof *items);
        if (!items)
            return NULL;
        self->items = items;
        self->cap_items = cap;
    }
    static const char *const prefixes[] = {"msg", "rs", "fc"};
    item_t *it = &self->items[self->n_items];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->status = ITEM_IN_PROGRESS;
    it->id = s_join(prefixes[kind], self->suffix, self->n_items);
    if (!it->id)
        return NULL;
    self->n_items++;
    return it;
}

/*  Appends raw bytes to the open item of `kind` (opening one if needed) and
    writes the delta of what may be sent. */
static int s_feed_text(responses_writer_t *self, abuf_t *out, item_kind_t kind, const char *text,
                       size_t len)
{
    if (self->open && self->items[self->n_items - 1].kind != kind &&
        s_close_open(self, out, ITEM_COMPLETED) < 0)
        return -1;
    if (!self->open) {
        if (!s_item_add(self, kind))
            return -1;
        self->open = true;
        if (out && (s_ev_item(self, out, self->n_items - 1, true) < 0 ||
                    s_ev_part(self, out, self->n_items - 1, true) < 0))
            return -1;
    }
    size_t index = self->n_items - 1;
    item_t *it = &self->items[index];
    if (abuf_append(&it->text, text, len) < 0)
        return -1;
    if (!out) {
        it->sent = it->text.len;
        return 0;
    }
    size_t end = s_utf8_safe_end(it->text.data, it->text.len);
    if (end > it->sent) {
        if (s_ev_text_delta(self, out, index, it->sent, end) < 0)
            return -1;
        it->sent = end;
    }
    return 0;
}

/*  Feeding is allowed until the end or a failed call. */
static bool s_can_feed(const responses_writer_t *self)
{
    return self && !self->spent && !responses_writer_done(self);
}

/*  A failed step: out restored, the writer spent. */
static int s_spend(responses_writer_t *self, abuf_t *out, size_t mark)
{
    self->spent = true;
    return s_rollback(out, mark);
}

int responses_writer_start(responses_writer_t *self, abuf_t *out)
{
    if (!s_can_feed(self))
        return -1;
    size_t mark = out ? out->len : 0;
    if (s_start(self, out) < 0)
        return s_spend(self, out, mark);
    return 0;
}

int responses_writer_delta(responses_writer_t *self, abuf_t *out, delta_kind_t kind,
                           const char *text, size_t len)
{
    if (!s_can_feed(self))
        return -1;
    size_t mark = out ? out->len : 0;
    if (!text && len)
        return -1;
    if (kind == DELTA_CITATION || len == 0)
        return 0;
    if (kind != DELTA_TEXT && kind != DELTA_REASONING && kind != DELTA_IMAGE)
        return -1;
    int rc = s_start(self, out);
    if (rc == 0 && kind == DELTA_IMAGE) {
        abuf_t md = ABUF_INIT;
        rc = openai_render_image_markdown(&md, text, len);
        if (rc == 0)
            rc = s_feed_text(self, out, ITEM_MESSAGE, md.data, md.len);
        abuf_free(&md);
    } else if (rc == 0) {
        rc = s_feed_text(self, out, kind == DELTA_REASONING ? ITEM_REASONING : ITEM_MESSAGE, text,
                         len);
    }
    return rc < 0 ? s_spend(self, out, mark) : 0;
}

static int s_tool_call(responses_writer_t *self, abuf_t *out, const openai_tool_call_t *call)
{
    if (s_start(self, out) < 0 || s_close_open(self, out, ITEM_COMPLETED) < 0)
        return -1;
    size_t index = self->n_items;
    item_t *it = s_item_add(self, ITEM_CALL);
    if (!it)
        return -1;
    it->call_id = call->id ? strdup(call->id) : s_join("call", self->suffix, index);
    it->name = strdup(call->name ? call->name : "");
    const char *args = call->arguments ? call->arguments : "";
    if (!it->call_id || !it->name || abuf_append(&it->text, args, strlen(args)) < 0)
        return -1;
    it->status = ITEM_COMPLETED;
    it->sent = it->text.len;
    if (!out)
        return 0;
    if (s_ev_item(self, out, index, true) < 0)
        return -1;
    for (size_t at = 0; at < it->text.len;) {
        size_t n = utf8_piece(it->text.data + at, it->text.len - at, OPENAI_TOOL_ARGS_PIECE);
        if (s_event_open(self, out, "response.function_call_arguments.delta") < 0 ||
            s_put_item_ref(out, it, index) < 0 || abuf_puts(out, ",\"delta\":") < 0 ||
            openai_render_json_str(out, it->text.data + at, n) < 0 || s_event_close(out) < 0)
            return -1;
        at += n;
    }
    if (s_event_open(self, out, "response.function_call_arguments.done") < 0 ||
        s_put_item_ref(out, it, index) < 0 || abuf_puts(out, ",\"name\":") < 0 ||
        s_str(out, it->name) < 0 || abuf_puts(out, ",\"arguments\":") < 0 ||
        openai_render_json_str(out, it->text.data ? it->text.data : "", it->text.len) < 0 ||
        s_event_close(out) < 0)
        return -1;
    return s_ev_item(self, out, index, false);
}

int responses_writer_tool_call(responses_writer_t *self, abuf_t *out,
                               const openai_tool_call_t *call)
{
    if (!s_can_feed(self))
        return -1;
    size_t mark = out ? out->len : 0;
    if (!call)
        return -1;
    if (s_tool_call(self, out, call) < 0)
        return s_spend(self, out, mark);
    return 0;
}

static long long s_count(long long v)
{
    return v < 0 ? 0 : v;
}

int responses_writer_finish(responses_writer_t *self, abuf_t *out, const char *finish_reason,
                            const usage_t *usage)
{
    if (!s_can_feed(self))
        return -1;
    size_t mark = out ? out->len : 0;
    const char *reason = NULL;
    if (finish_reason && strcmp(finish_reason, "length") == 0)
        reason = "max_output_tokens";
    else if (finish_reason && strcmp(finish_reason, "content_filter") == 0)
        reason = "content_filter";
    if (s_start(self, out) < 0 ||
        s_close_open(self, out, reason ? ITEM_INCOMPLETE : ITEM_COMPLETED) < 0)
        return s_spend(self, out, mark);
    self->incomplete_reason = reason;
    self->state = reason ? RESP_INCOMPLETE : RESP_COMPLETED;
    self->has_usage = true;
    self->input_tokens = usage ? s_count(usage->prompt_tokens) : 0;
    self->output_tokens = usage ? s_count(usage->completion_tokens) : 0;
    if (out && s_ev_response(self, out, reason ? "response.incomplete" : "response.completed") < 0)
        return s_spend(self, out, mark);
    return 0;
}

int responses_writer_fail(responses_writer_t *self, abuf_t *out, const openai_error_t *err)
{
    if (!s_can_feed(self))
        return -1;
    size_t mark = out ? out->len : 0;
    if (!err)
        return -1;
    if (s_start(self, out) < 0)
        return s_spend(self, out, mark);
    if (self->open) {
        self->items[self->n_items - 1].status = ITEM_INCOMPLETE;
        self->open = false;
    }
    const char *code = err->code ? err->code : "internal_error";
    snprintf(self->err_code, sizeof self->err_code, "%s", code);
    snprintf(self->err_message, sizeof self->err_message, "%.*s",
             (int)strnlen(err->message, sizeof err->message), err->message);
    self->state = RESP_FAILED;
    if (!out)
        return 0;
    size_t plen = strnlen(err->param, sizeof err->param);
    if (s_event_open(self, out, "error") < 0 || abuf_puts(out, ",\"code\":") < 0 ||
        s_str(out, self->err_code) < 0 || abuf_puts(out, ",\"message\":") < 0 ||
        s_str(out, self->err_message) < 0 || abuf_puts(out, ",\"param\":") < 0 ||
        (plen ? openai_render_json_str(out, err->param, plen) : abuf_puts(out, "null")) < 0 ||
        s_event_close(out) < 0 || s_ev_response(self, out, "response.failed") < 0)
        return s_spend(self, out, mark);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The finished items                                                        */

/*  A copy of len bytes of text as valid UTF-8 without NUL: what a client
    read of it (openai_render_json_str makes each byte that starts no valid
    character U+FFFD; a NUL could not come back in a request). */
static char *s_clean_text(const char *text, size_t len)
{
    abuf_t b = ABUF_INIT;
    if (abuf_append(&b, "", 0) < 0)
        return NULL;
    const unsigned char *u = (const unsigned char *)text;
    size_t run = 0, i = 0;
    while (i < len) {
        size_t n = u[i] && u[i] < 0x80 ? 1 : u[i] ? utf8_decode(u + i, len - i, NULL) : 0;
        if (n) {
            i += n;
            continue;
        }
        if (abuf_append(&b, text + run, i - run) < 0 || abuf_append(&b, "\xEF\xBF\xBD", 3) < 0) {
            abuf_free(&b);
            return NULL;
        }
        run = ++i;
    }
    if (abuf_append(&b, text + run, len - run) < 0) {
        abuf_free(&b);
        return NULL;
    }
    return abuf_steal(&b, NULL);
}

int responses_writer_items(const responses_writer_t *self, responses_item_fn_t fn, void *arg)
{
    if (!self || !fn)
        return -1;
    if (self->state != RESP_COMPLETED && self->state != RESP_INCOMPLETE)
        return 0;
    int n = 0;
    for (size_t i = 0; i < self->n_items; i++) {
        const item_t *it = &self->items[i];
        char *text = s_clean_text(it->text.data ? it->text.data : "", it->text.len);
        if (!text)
            return -1;
        static const openai_item_kind_t kinds[] = {OPENAI_ITEM_MESSAGE, OPENAI_ITEM_REASONING,
                                                   OPENAI_ITEM_CALL};
        openai_item_t item = {kinds[it->kind], it->id, text, it->call_id, it->name};
        int rc = fn(arg, &item);
        free(text);
        if (rc < 0)
            return -1;
        n++;
    }
    return n;
}
