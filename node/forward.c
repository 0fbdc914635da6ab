/*  forward — see forward.h. */
#include "node/forward.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/uuid7.h"

#define FWD_KEY_MAX (2 * MESH_MAX_ID + 2)

/* ---- origin side ---- */

struct _fwd_t {
    char rid[UUID_STR_LEN];
    char peer[MESH_MAX_ID + 1];
    const exec_sink_t *sink;
    void *arg;
    bool accepted;
    size_t content;
    uint64_t next_seq;
    long long started_ms;
    long long last_ms;
};

/* ---- executor side ---- */

typedef struct {
    char key[FWD_KEY_MAX]; /* peer|rid */
    char peer[MESH_MAX_ID + 1];
    char rid[MESH_MAX_ID + 1];
    forward_t *owner;
    exec_t *exec;
    uint64_t seq;         /* chunks sent so far (the acceptance included) */
    bool lost;            /* a chunk could not be sent: the answer cannot end well */
    bool streaming;       /* content went out: the first-byte limit is over */
    long long started_ms; /* when the `fwd` arrived (monotonic) */
    long long first_byte; /* ms the tab has for its first content; 0: no limit */
} incoming_t;

struct _forward_t {
    forward_config_t cfg;
    zhashx_t *out; /* rid → fwd_t */
    zhashx_t *in;  /* peer|rid → incoming_t */
};

static const exec_sink_t s_in_sink;

forward_t *forward_new(const forward_config_t *cfg)
{
    forward_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.accept_ms <= 0)
        self->cfg.accept_ms = FORWARD_DEFAULT_ACCEPT_MS;
    if (self->cfg.idle_ms <= 0)
        self->cfg.idle_ms = 180000;
    if (self->cfg.max_remote == 0)
        self->cfg.max_remote = 1024;
    self->out = zhashx_new();
    self->in = zhashx_new();
    if (!self->out || !self->in) {
        zhashx_destroy(&self->out);
        zhashx_destroy(&self->in);
        free(self);
        return NULL;
    }
    return self;
}

static void s_send(forward_t *self, const char *peer, mesh_msg_t *msg)
{
    if (mesh_send(self->cfg.mesh, peer, msg) < 0)
        alog_warn_rl("mesh: %s to %s not sent (peer gone or pipe full)", mesh_type_name(msg->type),
                     peer);
}

static void s_send_cancel(forward_t *self, const char *peer, const char *rid)
{
    mesh_msg_t m = {.type = MESH_CANCEL, .rid = (char *)rid};
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
    exec_fail_t fail = {0};
    fail.cls = strcmp(code, "rate_limited") == 0 ? ARENA_FAIL_RATE_LIMIT : ARENA_FAIL_OTHER;
    fail.after_content = f->content > 0;
    fail.retryable = retryable && f->content == 0;
    fail.cooled_ms = cooled_ms;
    openai_error_set(&fail.err, s_static_code(code), NULL, "%s", message);
    f->sink->fail(f->arg, &fail);
    free(f);
    if (self->cfg.on_capacity)
        self->cfg.on_capacity(self->cfg.arg);
}

fwd_t *forward_start(forward_t *self, const char *peer_id, const openai_request_t *req,
                     long long deadline_ms, const exec_sink_t *sink, void *arg, openai_error_t *err)
{
    fwd_t *f = calloc(1, sizeof *f);
    abuf_t body = ABUF_INIT;
    if (!f || strlen(peer_id) > MESH_MAX_ID || openai_request_write(req, &body) < 0) {
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
    mesh_msg_t m = {.type = MESH_FWD,
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
    zhashx_insert(self->out, f->rid, f);
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
static void s_out_msg(forward_t *self, const mesh_msg_t *msg)
{
    fwd_t *f = msg->rid ? zhashx_lookup(self->out, msg->rid) : NULL;
    if (!f || strcmp(f->peer, msg->from) != 0)
        return; /* late (after abort or timeout), or not from the peer we asked */
    f->last_ms = zclock_mono();
    switch (msg->type) {
    case MESH_CHUNK:
        if (msg->chunk_seq != f->next_seq) {
            s_send_cancel(self, f->peer, f->rid);
            s_out_fail(self, f, "upstream_error", true, 0, "the peer's stream lost a piece");
            return;
        }
        f->next_seq++;
        f->accepted = true;
        for (size_t i = 0; i < msg->n_deltas; i++) {
            const mesh_delta_t *d = &msg->deltas[i];
            if (d->kind != DELTA_CITATION && d->len)
                f->content++;
            f->sink->delta(f->arg, d->kind, d->text, d->len);
            /* The sink may have aborted us (client gone): stop if so. */
            if (zhashx_lookup(self->out, msg->rid) != f)
                return;
        }
        break;
    case MESH_END: {
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
    case MESH_FAIL:
        if (msg->has_chunks && msg->chunks != f->next_seq)
            alog_debug("peer %s failed %s after %" PRIu64 " chunks, %" PRIu64 " arrived", f->peer,
                       f->rid, msg->chunks, f->next_seq); /* it fails anyway */
        s_out_fail(self, f, msg->code ? msg->code : "upstream_error", msg->retryable,
                   msg->cooled_remaining_ms, msg->message ? msg->message : "the peer failed");
        break;
    case MESH_REJECT: {
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

/* ---- executor side ---- */

static void s_in_free(forward_t *self, incoming_t *in)
{
    zhashx_delete(self->in, in->key);
    free(in);
}

static void s_reject(forward_t *self, const mesh_msg_t *fwd, const char *reason)
{
    mesh_msg_t m = {.type = MESH_REJECT, .rid = fwd->rid, .reason = (char *)reason};
    s_send(self, fwd->from, &m);
}

/*  The codec carries fail messages as valid UTF-8 without control
    characters; upstream text (or a parser's echo of a hostile body) may not
    be: replace whatever is not with '?'. */
static void s_utf8_clean(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p && o + 5 < outlen) {
        size_t n = *p < 0x80         ? 1
                   : (*p >> 5) == 6  ? 2
                   : (*p >> 4) == 14 ? 3
                   : (*p >> 3) == 30 ? 4
                                     : 0;
        bool ok = n > 0;
        for (size_t i = 1; ok && i < n; i++)
            ok = (p[i] & 0xC0) == 0x80;
        if (ok &&
            ((n == 1 && (*p < 0x20 || *p == 0x7f)) || (n == 2 && *p == 0xC2 && p[1] < 0xA0))) {
            out[o++] = '?'; /* a C0 or C1 control or DEL: one '?' for the whole character */
            p += n;
            continue;
        }
        /* no overlong forms, surrogates or code points past U+10FFFF */
        if (ok && n == 2 && *p < 0xC2)
            ok = false;
        if (ok && n == 3 && ((*p == 0xE0 && p[1] < 0xA0) || (*p == 0xED && p[1] >= 0xA0)))
            ok = false;
        if (ok && n == 4 &&
            (*p > 0xF4 || (*p == 0xF0 && p[1] < 0x90) || (*p == 0xF4 && p[1] >= 0x90)))
            ok = false;
        if (!ok) {
            out[o++] = '?';
            p++;
            continue;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    out[o] = '\0';
}

/*  `fail` for rid after `chunks` chunks. */
static void s_fail_msg(forward_t *self, const char *peer, const char *rid, const openai_error_t *e,
                       bool retryable, long long cooled_ms, uint64_t chunks)
{
    char message[sizeof e->message];
    s_utf8_clean(e->message, message, sizeof message);
    mesh_msg_t m = {.type = MESH_FAIL,
                    .rid = (char *)rid,
                    .status = e->status,
                    .code = (char *)e->code,
                    .message = message,
                    .retryable = retryable,
                    .cooled_remaining_ms = cooled_ms,
                    .has_chunks = true,
                    .chunks = chunks};
    s_send(self, peer, &m);
}

static void s_in_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    incoming_t *in = arg;
    if (len && kind != DELTA_CITATION)
        in->streaming = true; /* the first byte, as the dispatcher counts it */
    mesh_delta_t d = {kind, (char *)text, len};
    mesh_msg_t m = {
        .type = MESH_CHUNK, .rid = in->rid, .chunk_seq = in->seq++, .deltas = &d, .n_deltas = 1};
    if (mesh_send(in->owner->cfg.mesh, in->peer, &m) < 0)
        in->lost = true;
}

static void s_in_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    incoming_t *in = arg;
    forward_t *self = in->owner;
    if (in->lost) {
        /* A piece never left: an `end` would hand the client a cut answer. */
        openai_error_t e;
        openai_error_set(&e, "upstream_error", NULL,
                         "part of the answer could not be relayed from the serving node");
        s_fail_msg(self, in->peer, in->rid, &e, false, 0, in->seq);
        in->exec = NULL;
        s_in_free(self, in);
        return;
    }
    mesh_msg_t m = {.type = MESH_END,
                    .rid = in->rid,
                    .finish_reason = (char *)finish_reason,
                    .prompt_tokens = usage->prompt_tokens,
                    .completion_tokens = usage->completion_tokens,
                    .has_chunks = true,
                    .chunks = in->seq};
    s_send(self, in->peer, &m);
    in->exec = NULL;
    s_in_free(self, in);
}

static void s_in_fail(void *arg, const exec_fail_t *f)
{
    incoming_t *in = arg;
    forward_t *self = in->owner;
    s_fail_msg(self, in->peer, in->rid, &f->err, f->retryable, f->cooled_ms, in->seq);
    in->exec = NULL;
    s_in_free(self, in);
}

static const exec_sink_t s_in_sink = {s_in_delta, s_in_end, s_in_fail};

/*  How long the tab has for its first content: the shorter of our own
    first-byte timeout and the origin's deadline (0 for either: none). */
static long long s_first_byte(const forward_t *self, int64_t deadline_ms)
{
    long long own = self->cfg.first_byte_ms;
    if (deadline_ms > 0 && (own <= 0 || deadline_ms < own))
        return deadline_ms;
    return own > 0 ? own : 0;
}

/*  Runs an accepted `fwd` in tab. */
static void s_in_run(forward_t *self, const mesh_msg_t *msg, const openai_request_t *req,
                     const arena_model_t *model, const char *tab)
{
    incoming_t *in = calloc(1, sizeof *in);
    if (!in) {
        s_reject(self, msg, "out of memory");
        return;
    }
    in->owner = self;
    snprintf(in->peer, sizeof in->peer, "%s", msg->from);
    snprintf(in->rid, sizeof in->rid, "%s", msg->rid);
    snprintf(in->key, sizeof in->key, "%s|%s", in->peer, in->rid);
    in->started_ms = zclock_mono();
    in->first_byte = s_first_byte(self, msg->deadline_ms);
    zhashx_insert(self->in, in->key, in);
    openai_error_t err;
    in->exec = tabs_exec_start(self->cfg.tabs, tab, req, model, &s_in_sink, in, &err);
    if (!in->exec) {
        if (err.status == 503)
            s_reject(self, msg, "no free tab here");
        else
            s_fail_msg(self, msg->from, msg->rid, &err, false, 0, 0);
        s_in_free(self, in);
        return;
    }
    /* chunk seq 0 without deltas: accepted */
    mesh_msg_t ok = {.type = MESH_CHUNK, .rid = in->rid, .chunk_seq = in->seq++};
    s_send(self, in->peer, &ok);
}

static void s_in_fwd(forward_t *self, const mesh_msg_t *msg)
{
    if (!msg->rid || !msg->model || !msg->request)
        return;
    char key[FWD_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", msg->from, msg->rid);
    if (zhashx_lookup(self->in, key)) {
        /* A duplicate while the first one runs: whatever the load, it is
           not refused (the origin would fail a request that runs). */
        alog_debug("peer %s sent %s again: it runs already", msg->from, msg->rid);
        return;
    }
    if (zhashx_size(self->in) >= self->cfg.max_remote) {
        s_reject(self, msg, "too many forwarded requests running here");
        return;
    }
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(msg->request, msg->request_len, NULL, &req, &err) < 0) {
        s_fail_msg(self, msg->from, msg->rid, &err, false, 0, 0);
        return;
    }
    const arena_model_t *model = catalog_find(self->cfg.catalog, req->model);
    const char *tab = NULL;
    if (!model)
        s_reject(self, msg, "model not served here");
    else if (cooldown_remaining(self->cfg.cooldowns, self->cfg.node_id, model->name, zclock_time(),
                                NULL) > 0)
        s_reject(self, msg, "model cooling here");
    else if (tabs_pick(self->cfg.tabs, NULL, 0, &tab) != TABS_PICK_OK)
        s_reject(self, msg, "no free tab here");
    else
        s_in_run(self, msg, req, model, tab);
    openai_request_destroy(&req);
}

static void s_in_cancel(forward_t *self, const mesh_msg_t *msg)
{
    char key[FWD_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", msg->from, msg->rid ? msg->rid : "");
    incoming_t *in = zhashx_lookup(self->in, key);
    if (!in)
        return;
    alog_debug("peer %s cancelled forwarded request %s", in->peer, in->rid);
    tabs_exec_abort(self->cfg.tabs, &in->exec);
    s_in_free(self, in);
}

void forward_handle(forward_t *self, const mesh_msg_t *msg)
{
    if (!msg->from)
        return;
    switch (msg->type) {
    case MESH_FWD:
        s_in_fwd(self, msg);
        break;
    case MESH_CANCEL:
        s_in_cancel(self, msg);
        break;
    case MESH_CHUNK:
    case MESH_END:
    case MESH_FAIL:
    case MESH_REJECT:
        s_out_msg(self, msg);
        break;
    default:
        break;
    }
}

void forward_peer_gone(forward_t *self, const char *peer_id)
{
    /* Collect first: sinks may start new attempts while these fail. */
    zlistx_t *victims = zlistx_new();
    for (fwd_t *f = zhashx_first(self->out); f; f = zhashx_next(self->out))
        if (strcmp(f->peer, peer_id) == 0)
            zlistx_add_end(victims, f);
    for (fwd_t *f = zlistx_first(victims); f; f = zlistx_next(victims))
        s_out_fail(self, f, "upstream_error", true, 0, "the peer serving this request went away");
    zlistx_purge(victims);
    for (incoming_t *in = zhashx_first(self->in); in; in = zhashx_next(self->in))
        if (strcmp(in->peer, peer_id) == 0)
            zlistx_add_end(victims, in);
    for (incoming_t *in = zlistx_first(victims); in; in = zlistx_next(victims)) {
        tabs_exec_abort(self->cfg.tabs, &in->exec);
        s_in_free(self, in);
    }
    zlistx_destroy(&victims);
}

/*  The tab sent no content within the first-byte limit: stop it and fail
    the request, retryable (nothing reached the client), as the origin's
    own first-byte timeout would. */
static void s_in_too_slow(forward_t *self, incoming_t *in)
{
    alog_debug("forwarded request %s from %s: no first byte within %lld ms", in->rid, in->peer,
               in->first_byte);
    tabs_exec_abort(self->cfg.tabs, &in->exec);
    openai_error_t e;
    openai_error_set(&e, "upstream_error", NULL,
                     "the serving node's tab sent nothing within %lld ms", in->first_byte);
    s_fail_msg(self, in->peer, in->rid, &e, true, 0, in->seq);
    s_in_free(self, in);
}

void forward_tick(forward_t *self)
{
    long long now = zclock_mono();
    zlistx_t *late = zlistx_new();
    for (fwd_t *f = zhashx_first(self->out); f; f = zhashx_next(self->out))
        if ((!f->accepted && now - f->started_ms > self->cfg.accept_ms) ||
            (f->accepted && now - f->last_ms > self->cfg.idle_ms))
            zlistx_add_end(late, f);
    for (fwd_t *f = zlistx_first(late); f; f = zlistx_next(late)) {
        bool accepted = f->accepted;
        s_send_cancel(self, f->peer, f->rid);
        s_out_fail(self, f, "upstream_error", true, 0,
                   accepted ? "the peer stopped sending mid-answer"
                            : "the peer did not accept the request in time");
    }
    zlistx_purge(late);
    for (incoming_t *in = zhashx_first(self->in); in; in = zhashx_next(self->in))
        if (!in->streaming && in->first_byte > 0 && now - in->started_ms > in->first_byte)
            zlistx_add_end(late, in);
    for (incoming_t *in = zlistx_first(late); in; in = zlistx_next(late))
        s_in_too_slow(self, in);
    zlistx_destroy(&late);
}

void forward_stats(const forward_t *self, forward_stats_t *out)
{
    out->outgoing = zhashx_size(self->out);
    out->incoming = zhashx_size(self->in);
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
    for (incoming_t *in = zhashx_first(self->in); in; in = zhashx_next(self->in)) {
        openai_error_t e;
        openai_error_set(&e, "no_capacity", NULL, "the serving node is shutting down");
        s_fail_msg(self, in->peer, in->rid, &e, true, 0, in->seq);
        tabs_exec_abort(self->cfg.tabs, &in->exec);
        free(in);
    }
    zhashx_destroy(&self->out);
    zhashx_destroy(&self->in);
    free(self);
    *self_p = NULL;
}
