/*  answer — see answer.h.

    The shaper calls back (s_on_delta, s_on_tool_call) from inside
    shape_feed/shape_end; those callbacks render into the buffer of the call
    under way (self->out), by API and by streaming or not. A rendering
    failure is remembered (self->failed) and reported by the call. */
#include "protocol/answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/arena_sources.h"
#include "protocol/responses.h"
#include "protocol/shape.h"

#define ANSWER_MAX_IMAGES 16 /* image URLs kept for an images answer */

struct _answer_t {
    answer_api_t api;
    char *id, *model;
    long long created;
    bool stream, include_usage;
    bool holds_json; /* a response_format answer: an invalid one is an error */
    size_t max_held;
    shape_t *shape;
    responses_writer_t *rw; /* ANSWER_RESPONSES */
    abuf_t *out;            /* the buffer of the call under way */
    bool failed;            /* a render into out failed */
    bool first_sent;        /* chat stream: the chunk with the role went */
    bool started, finished, retried;
    bool was_started, was_first; /* at the call's start: a failed render restores them */
    int status;                  /* of a whole body: 200, or the error's */
    /* chat, whole: what the body will hold */
    abuf_t content, reasoning;
    openai_tool_call_t *calls;
    size_t n_calls, cap_calls;
    /* images: the URLs the model drew, and its text (for an error) */
    char *images[ANSWER_MAX_IMAGES];
    size_t n_images;
    abuf_t citations;
};

/* ---- rendering, per API ---------------------------------------------- */

static void s_ctx(const answer_t *self, openai_render_ctx_t *ctx)
{
    ctx->id = self->id;
    ctx->created = self->created;
    ctx->model = self->model;
}

static void s_check(answer_t *self, int rc)
{
    if (rc < 0)
        self->failed = true;
}

/*  A stream's render into out went well: its bytes will reach the client
    (a failed render leaves out as it was, so nothing was sent: the caller
    can still answer a plain error body). */
static void s_started(answer_t *self)
{
    if (!self->stream || self->failed)
        return;
    self->started = true;
    self->first_sent = self->first_sent || self->api == ANSWER_CHAT;
}

static void s_chat_delta(answer_t *self, delta_kind_t kind, const char *text, size_t len)
{
    if (self->stream) {
        openai_render_ctx_t ctx;
        s_ctx(self, &ctx);
        s_check(self, openai_render_sse_delta(self->out, &ctx, !self->first_sent, kind, text, len));
        s_started(self);
        return;
    }
    if (kind == DELTA_REASONING)
        s_check(self, abuf_append(&self->reasoning, text, len));
    else if (kind == DELTA_IMAGE)
        s_check(self, openai_render_image_markdown(&self->content, text, len));
    else
        s_check(self, abuf_append(&self->content, text, len));
}

static void s_images_delta(answer_t *self, delta_kind_t kind, const char *text, size_t len)
{
    if (kind == DELTA_TEXT) {
        self->content.max = 4096; /* for the error message: the start is enough */
        abuf_append(&self->content, text, len);
        return;
    }
    if (kind != DELTA_IMAGE || self->n_images == ANSWER_MAX_IMAGES)
        return;
    char *url = strndup(text, len);
    if (!url)
        self->failed = true;
    else
        self->images[self->n_images++] = url;
}

static void s_on_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    answer_t *self = arg;
    switch (self->api) {
    case ANSWER_CHAT:
        s_chat_delta(self, kind, text, len);
        break;
    case ANSWER_RESPONSES:
        s_check(self,
                responses_writer_delta(self->rw, self->stream ? self->out : NULL, kind, text, len));
        s_started(self);
        break;
    case ANSWER_IMAGES:
        s_images_delta(self, kind, text, len);
        break;
    }
}

static int s_keep_call(answer_t *self, const openai_tool_call_t *call)
{
    if (self->n_calls == self->cap_calls) {
        size_t cap = self->cap_calls ? self->cap_calls * 2 : 4;
        openai_tool_call_t *grown = realloc(self->calls, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->calls = grown;
        self->cap_calls = cap;
    }
    openai_tool_call_t *c = &self->calls[self->n_calls];
    c->id = call->id ? strdup(call->id) : NULL;
    c->name = strdup(call->name ? call->name : "");
    c->arguments = strdup(call->arguments ? call->arguments : "{}");
    self->n_calls++;
    return (call->id && !c->id) || !c->name || !c->arguments ? -1 : 0;
}

static void s_on_tool_call(void *arg, size_t index, const openai_tool_call_t *call)
{
    answer_t *self = arg;
    if (self->api == ANSWER_RESPONSES) {
        s_check(self, responses_writer_tool_call(self->rw, self->stream ? self->out : NULL, call));
        s_started(self);
    } else if (self->api == ANSWER_CHAT && self->stream) {
        openai_render_ctx_t ctx;
        s_ctx(self, &ctx);
        s_check(self, openai_render_sse_tool_call(self->out, &ctx, !self->first_sent, index, call));
        s_started(self);
    } else if (self->api == ANSWER_CHAT) {
        s_check(self, s_keep_call(self, call));
    }
}

static const shape_sink_t s_sink = {s_on_delta, s_on_tool_call};

/* ---- lifetime ---------------------------------------------------------- */

answer_t *answer_new(const answer_meta_t *meta, const openai_request_t *req)
{
    if (!meta || !req || !meta->model)
        return NULL;
    answer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->api = meta->api;
    self->id = strdup(meta->id ? meta->id : "");
    self->model = strdup(meta->model);
    self->created = meta->created;
    self->status = 200;
    self->stream = req->stream && meta->api != ANSWER_IMAGES;
    self->include_usage = req->include_usage;
    self->holds_json = req->format != OPENAI_FORMAT_TEXT;
    self->max_held = meta->max_held;
    self->citations.max = ANSWER_MAX_CITATIONS;
    self->shape = shape_new(req, meta->max_held, &s_sink, self);
    if (meta->api == ANSWER_RESPONSES) {
        responses_meta_t rm = {self->id, meta->created, meta->model, meta->instructions, req};
        self->rw = responses_writer_new(&rm);
    }
    if (!self->id || !self->model || !self->shape || (meta->api == ANSWER_RESPONSES && !self->rw))
        answer_destroy(&self);
    return self;
}

void answer_destroy(answer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    answer_t *self = *self_p;
    shape_destroy(&self->shape);
    responses_writer_destroy(&self->rw);
    for (size_t i = 0; i < self->n_calls; i++) {
        free(self->calls[i].id);
        free(self->calls[i].name);
        free(self->calls[i].arguments);
    }
    free(self->calls);
    for (size_t i = 0; i < self->n_images; i++)
        free(self->images[i]);
    abuf_free(&self->content);
    abuf_free(&self->reasoning);
    abuf_free(&self->citations);
    free(self->id);
    free(self->model);
    free(self);
    *self_p = NULL;
}

/* ---- feeding ----------------------------------------------------------- */

/*  Runs with out as the render target; restores out's length when a
    render failed, so the client never reads half an event. */
static int s_begin(answer_t *self, abuf_t *out, size_t *mark)
{
    if (self->finished || !out)
        return -1;
    self->out = out;
    self->failed = false;
    self->was_started = self->started;
    self->was_first = self->first_sent;
    *mark = out->len;
    return 0;
}

static int s_done(answer_t *self, size_t mark, int rc)
{
    if (self->failed) {
        /* none of this call's bytes stay: neither does what they started */
        self->started = self->was_started;
        self->first_sent = self->was_first;
        self->out->len = mark;
        if (self->out->data)
            self->out->data[mark] = '\0';
        rc = ANSWER_FAIL;
    }
    self->out = NULL;
    return rc;
}

int answer_delta(answer_t *self, abuf_t *out, delta_kind_t kind, const char *text, size_t len)
{
    size_t mark;
    if (!self || s_begin(self, out, &mark) < 0)
        return ANSWER_FAIL;
    if (kind == DELTA_CITATION) {
        abuf_append(&self->citations, text, len); /* past the cap: dropped */
        return s_done(self, mark, ANSWER_MORE);
    }
    int rc = shape_feed(self->shape, kind, text, len);
    if (rc == SHAPE_ERROR)
        self->failed = true;
    return s_done(self, mark, rc == SHAPE_CUT ? ANSWER_CUT : ANSWER_MORE);
}

/*  The "Sources:" list of a text answer, as one more text delta. */
static void s_sources(answer_t *self, const char *finish)
{
    if (!self->citations.len || self->holds_json || strcmp(finish, "tool_calls") == 0 ||
        self->api == ANSWER_IMAGES)
        return;
    abuf_t sources = ABUF_INIT;
    if (arena_sources_render(self->citations.data, self->citations.len, &sources) > 0)
        s_on_delta(self, DELTA_TEXT, sources.data, sources.len);
    abuf_free(&sources);
}

static void s_images_end(answer_t *self)
{
    if (self->n_images == 0) {
        openai_error_t err;
        int shown = self->content.len > 200 ? 200 : (int)self->content.len;
        openai_error_set(&err, "upstream_error", NULL, "the model answered no image%s%.*s",
                         shown ? ": " : "", shown, self->content.data ? self->content.data : "");
        s_check(self, openai_render_error(self->out, &err));
        self->status = err.status;
        return;
    }
    openai_image_result_t res[ANSWER_MAX_IMAGES];
    for (size_t i = 0; i < self->n_images; i++)
        res[i] = (openai_image_result_t){self->images[i], NULL};
    s_check(self, openai_render_images(self->out, self->created, res, self->n_images));
}

static void s_render_end(answer_t *self, const char *finish, const usage_t *usage)
{
    s_sources(self, finish);
    openai_render_ctx_t ctx;
    s_ctx(self, &ctx);
    switch (self->api) {
    case ANSWER_CHAT:
        if (self->stream) {
            if (!self->first_sent) /* the role comes first, or SDKs refuse the stream */
                s_check(self, openai_render_sse_delta(self->out, &ctx, true, DELTA_TEXT, "", 0));
            s_check(self, openai_render_sse_finish(self->out, &ctx, finish));
            if (self->include_usage)
                s_check(self, openai_render_sse_usage(self->out, &ctx, usage));
            s_check(self, openai_render_sse_done(self->out));
            s_started(self);
        } else {
            openai_answer_t a = {self->content.data,
                                 self->content.len,
                                 self->reasoning.len ? self->reasoning.data : NULL,
                                 self->reasoning.len,
                                 self->calls,
                                 self->n_calls,
                                 finish,
                                 usage};
            s_check(self, openai_render_answer(self->out, &ctx, &a));
        }
        break;
    case ANSWER_RESPONSES:
        s_check(self,
                responses_writer_finish(self->rw, self->stream ? self->out : NULL, finish, usage));
        if (!self->stream)
            s_check(self, responses_writer_render(self->rw, self->out));
        s_started(self);
        break;
    case ANSWER_IMAGES:
        s_images_end(self);
        break;
    }
}

/*  The upstream's own reason wins unless the shaper cut or found calls. */
static const char *s_finish(const char *shaped, const char *upstream)
{
    if (!shaped)
        shaped = "stop";
    if (strcmp(shaped, "stop") != 0 || !upstream || !*upstream)
        return shaped;
    return upstream;
}

int answer_end(answer_t *self, abuf_t *out, const char *finish_reason, const usage_t *usage,
               char *err, size_t errlen)
{
    size_t mark;
    if (!self || s_begin(self, out, &mark) < 0)
        return ANSWER_FAIL;
    if (err && errlen)
        err[0] = '\0';
    char why[320] = "";
    const char *shaped = NULL;
    int rc = shape_end(self->shape, &shaped, why, sizeof why);
    /* the upstream cut the answer itself (its length limit, a filter): like
       a max_tokens cut it is not checked but returned as it is, with that
       finish_reason (as OpenAI does) — asking again would be cut again */
    if (rc == SHAPE_INVALID && finish_reason &&
        (strcmp(finish_reason, "length") == 0 || strcmp(finish_reason, "content_filter") == 0))
        rc = shape_flush(self->shape, &shaped);
    if (rc == SHAPE_INVALID && !self->retried) {
        if (err && errlen)
            snprintf(err, errlen, "%s", why);
        return s_done(self, mark, ANSWER_RETRY);
    }
    if (rc == SHAPE_INVALID && self->holds_json) {
        openai_error_t e;
        openai_error_set(&e, "invalid_model_output", "response_format",
                         "the model's answer failed the response_format check twice: %s", why);
        self->out = NULL;
        answer_error(self, out, &e);
        return ANSWER_DONE;
    }
    if (rc == SHAPE_INVALID) /* a required tool call that never came: the text */
        rc = shape_flush(self->shape, &shaped);
    if (rc != SHAPE_OK) {
        self->failed = true;
        return s_done(self, mark, ANSWER_FAIL);
    }
    s_render_end(self, s_finish(shaped, finish_reason), usage);
    self->finished = !self->failed;
    return s_done(self, mark, ANSWER_DONE);
}

const char *answer_retry_text(const answer_t *self)
{
    size_t len;
    return self ? shape_answer(self->shape, &len) : "";
}

int answer_retry(answer_t *self, const openai_request_t *req)
{
    if (!self || !req || self->retried)
        return -1;
    shape_t *next = shape_new(req, self->max_held, &s_sink, self);
    if (!next)
        return -1;
    shape_destroy(&self->shape);
    self->shape = next;
    self->retried = true;
    return 0;
}

int answer_error(answer_t *self, abuf_t *out, const openai_error_t *err)
{
    if (!self || !out || !err || self->finished)
        return -1;
    self->finished = true;
    if (!(self->stream && self->started)) {
        abuf_reset(out);
        self->status = err->status;
        return openai_render_error(out, err);
    }
    if (self->api == ANSWER_RESPONSES)
        return responses_writer_fail(self->rw, out, err);
    size_t mark = out->len;
    if (openai_render_sse_error(out, err) < 0 || openai_render_sse_done(out) < 0) {
        out->len = mark;
        return -1;
    }
    return 0;
}

bool answer_started(const answer_t *self)
{
    return self && self->started;
}

int answer_status(const answer_t *self)
{
    return self ? self->status : 500;
}

bool answer_streaming(const answer_t *self)
{
    return self && self->stream;
}

bool answer_finished(const answer_t *self)
{
    return self && self->finished;
}

const responses_writer_t *answer_responses(const answer_t *self)
{
    return self ? self->rw : NULL;
}
