/*  forward — see forward.h. */
#include "node/forward.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/uuid7.h"

struct _fwd_t {
    char rid[UUID_STR_LEN];
    char peer[WIRE_MAX_ID + 1];
    const target_sink_t *sink;
    void *arg;
    uint64_t serial; /* order of start: what a sweep began with is older */
    bool accepted;
    size_t content;
    uint64_t next_seq;
    long long started_ms;
    long long last_ms;
};

struct _forward_t {
    forward_config_t cfg;
    zhashx_t *out; /* rid → fwd_t */
    uint64_t next_serial;
};

forward_t *forward_new(const forward_config_t *cfg)
{
    forward_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.accept_ms <= 0)
        self->cfg.accept_ms = FORWARD_DEFAULT_ACCEPT_MS;
    if (self->cfg.idle_ms <= 0)
        self->cfg.idle_ms = TARGET_DEFAULT_IDLE_MS;
    self->out = zhashx_new();
    if (!self->out) {
        free(self);
        return NULL;
    }
    return self;
}

static void s_send(forward_t *self, const char *peer, wire_msg_t *msg)
{
    if (mesh_send(self->cfg.mesh, peer, msg) < 0)
        alog_warn_rl("mesh: %s to %s not sent (peer gone or pipe full)", wire_type_name(msg->type),
                     peer);
}

static void s_send_cancel(forward_t *self, const char *peer, const char *rid)
{
    wire_msg_t m = {.type = WIRE_CANCEL, .rid = (char *)rid};
    s_send(self, peer, &m);
}

/*  The error codes of INTERFACES.md as static strings (a peer's are not). */
static const char *s_static_code(const char *code)
{
    static const char *const known[] = {"invalid_request", "request_too_large", "model_not_found",
                                        "rate_limited",    "content_rejected",  "no_capacity",
                                        "upstream_error"};
    for (size_t i = 0; code && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(code, known[i]) == 0)
            return known[i];
    return "upstream_error";
}

/*  Ends an outgoing attempt with a failure: unlink, report, free. */
static void s_out_fail(forward_t *self, fwd_t *f, const char *code, bool retryable,
                       long long cooled_ms, const char *message)
{
    zhashx_delete(self->out, f->rid);
    target_fail_t fail = {0};
    fail.cls = strcmp(code, "rate_limited") == 0 ? ARENA_FAIL_RATE_LIMIT : ARENA_FAIL_OTHER;
    fail.after_content = f->content > 0;
    fail.retryable = retryable; /* the dispatcher applies the first-byte rule */
    fail.cooled_ms = cooled_ms;
    openai_error_set(&fail.err, s_static_code(code), NULL, "%s", message);
    f->sink->fail(f->arg, &fail);
    free(f);
    if (self->cfg.on_capacity)
        self->cfg.on_capacity(self->cfg.arg);
}

fwd_t *forward_start(forward_t *self, const char *peer_id, const openai_request_t *req,
                     long long deadline_ms, const target_sink_t *sink, void *arg,
                     openai_error_t *err)
{
    fwd_t *f = calloc(1, sizeof *f);
    abuf_t body = ABUF_INIT;
    if (!f || strlen(peer_id) > WIRE_MAX_ID || openai_request_write(req, &body) < 0) {
        free(f);
        abuf_free(&body);
        openai_error_set(err, "no_capacity", NULL, "cannot forward this request");
        return NULL;
    }
    uuid7_generate(f->rid);
    snprintf(f->peer, sizeof f->peer, "%s", peer_id);
    f->sink = sink;
    f->arg = arg;
    f->started_ms = f->last_ms = zclock_mono();
    f->next_seq = 0;
    f->serial = self->next_serial++;
    wire_msg_t m = {.type = WIRE_FWD,
                    .rid = f->rid,
                    .model = req->model,
                    .request = body.data,
                    .request_len = body.len,
                    .stream = req->stream,
                    .deadline_ms = deadline_ms,
                    .attempt = 1};
    int rc = mesh_send(self->cfg.mesh, peer_id, &m);
    abuf_free(&body);
    if (rc < 0) {
        free(f);
        openai_error_set(err, "no_capacity", NULL, "peer %s cannot be reached now", peer_id);
        return NULL;
    }
    if (zhashx_insert(self->out, f->rid, f) < 0) { /* a rid taken: never, but never two */
        s_send_cancel(self, peer_id, f->rid);
        free(f);
        openai_error_set(err, "no_capacity", NULL, "cannot forward this request");
        return NULL;
    }
    return f;
}

void forward_abort(forward_t *self, fwd_t **fwd_p)
{
    fwd_t *f = *fwd_p;
    if (!f)
        return;
    *fwd_p = NULL;
    s_send_cancel(self, f->peer, f->rid);
    zhashx_delete(self->out, f->rid);
    free(f);
    if (self->cfg.on_capacity)
        self->cfg.on_capacity(self->cfg.arg);
}

const char *forward_peer(const fwd_t *fwd)
{
    return fwd->peer;
}

/*  chunk / end / fail / reject for one of our attempts. */
static void s_out_msg(forward_t *self, const wire_msg_t *msg)
{
    fwd_t *f = msg->rid ? zhashx_lookup(self->out, msg->rid) : NULL;
    if (!f || strcmp(f->peer, msg->from) != 0)
        return; /* late (after abort or timeout), or not from the peer we asked */
    f->last_ms = zclock_mono();
    switch (msg->type) {
    case WIRE_CHUNK:
        if (msg->chunk_seq != f->next_seq) {
            s_send_cancel(self, f->peer, f->rid);
            s_out_fail(self, f, "upstream_error", true, 0, "the peer's stream lost a piece");
            return;
        }
        f->next_seq++;
        f->accepted = true;
        for (size_t i = 0; i < msg->n_deltas; i++) {
            const wire_delta_t *d = &msg->deltas[i];
            if (d->kind != DELTA_CITATION && d->len)
                f->content++;
            f->sink->delta(f->arg, d->kind, d->text, d->len);
            /* The sink may have aborted us (client gone): stop if so. */
            if (zhashx_lookup(self->out, msg->rid) != f)
                return;
        }
        break;
    case WIRE_END: {
        if (msg->has_chunks && msg->chunks != f->next_seq) {
            /* The last chunk(s) went missing: never a cut answer that looks whole. */
            char why[160];
            snprintf(why, sizeof why,
                     "the peer's stream lost a piece: it sent %" PRIu64 " chunks, %" PRIu64
                     " arrived",
                     msg->chunks, f->next_seq);
            s_out_fail(self, f, "upstream_error", true, 0, why);
            break;
        }
        zhashx_delete(self->out, f->rid);
        usage_t usage = {msg->prompt_tokens, msg->completion_tokens};
        f->sink->end(f->arg, msg->finish_reason ? msg->finish_reason : "stop", &usage);
        free(f);
        if (self->cfg.on_capacity)
            self->cfg.on_capacity(self->cfg.arg);
        break;
    }
    case WIRE_FAIL:
        if (msg->has_chunks && msg->chunks != f->next_seq)
            alog_debug("peer %s failed %s after %" PRIu64 " chunks, %" PRIu64 " arrived", f->peer,
                       f->rid, msg->chunks, f->next_seq); /* it fails anyway */
        s_out_fail(self, f, msg->code ? msg->code : "upstream_error", msg->retryable,
                   msg->cooled_remaining_ms, msg->message ? msg->message : "the peer failed");
        break;
    case WIRE_REJECT: {
        char why[200];
        snprintf(why, sizeof why, "peer %s cannot take it: %s", f->peer,
                 msg->reason ? msg->reason : "no reason given");
        s_out_fail(self, f, "no_capacity", true, 0, why);
        break;
    }
    default:
        break;
    }
}

void forward_handle(forward_t *self, const wire_msg_t *msg)
{
    if (!msg->from)
        return;
    switch (msg->type) {
    case WIRE_CHUNK:
    case WIRE_END:
    case WIRE_FAIL:
    case WIRE_REJECT:
        s_out_msg(self, msg);
        break;
    default:
        break;
    }
}

/*  The oldest attempt started before serial `before` that matches: sinks
    may start new attempts while these fail, so each sweep looks again
    after every failure and leaves what started meanwhile alone. No
    allocation: a sweep cannot fail half-way. */
static fwd_t *s_next_victim(forward_t *self, uint64_t before, const char *peer_id, long long now)
{
    for (fwd_t *f = zhashx_first(self->out); f; f = zhashx_next(self->out)) {
        if (f->serial >= before)
            continue;
        if (peer_id ? strcmp(f->peer, peer_id) == 0
                    : (!f->accepted && now - f->started_ms > self->cfg.accept_ms) ||
                          (f->accepted && now - f->last_ms > self->cfg.idle_ms))
            return f;
    }
    return NULL;
}

void forward_peer_gone(forward_t *self, const char *peer_id)
{
    uint64_t before = self->next_serial;
    for (fwd_t *f; (f = s_next_victim(self, before, peer_id, 0));)
        s_out_fail(self, f, "upstream_error", true, 0, "the peer serving this request went away");
}

void forward_tick(forward_t *self)
{
    long long now = zclock_mono();
    uint64_t before = self->next_serial;
    for (fwd_t *f; (f = s_next_victim(self, before, NULL, now));) {
        bool accepted = f->accepted;
        s_send_cancel(self, f->peer, f->rid);
        s_out_fail(self, f, "upstream_error", true, 0,
                   accepted ? "the peer stopped sending mid-answer"
                            : "the peer did not accept the request in time");
    }
}

void forward_stats(const forward_t *self, forward_stats_t *out)
{
    out->outgoing = zhashx_size(self->out);
}

void forward_destroy(forward_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    forward_t *self = *self_p;
    for (fwd_t *f = zhashx_first(self->out); f; f = zhashx_next(self->out)) {
        s_send_cancel(self, f->peer, f->rid);
        free(f);
    }
    zhashx_destroy(&self->out);
    free(self);
    *self_p = NULL;
}

/* ---- the peer target (node/target.h) ---- */

static void *s_target_start(void *impl, const char *id, const target_req_t *req,
                            const target_sink_t *sink, void *arg, openai_error_t *err)
{
    return forward_start(impl, id, req->req, req->deadline_ms, sink, arg, err);
}

static void s_target_abort(void *impl, void **attempt_p)
{
    fwd_t *f = *attempt_p;
    forward_abort(impl, &f);
    *attempt_p = NULL;
}

static const char *s_target_id(const void *attempt)
{
    return forward_peer(attempt);
}

const target_ops_t forward_target_ops = {TARGET_PEER, "peer", s_target_start, s_target_abort,
                                         s_target_id};
