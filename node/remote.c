/*  remote — see remote.h. */
#include "node/remote.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/utf8.h"

#define REMOTE_KEY_MAX (2 * WIRE_MAX_ID + 2)

/*  One request a peer sent us, from its `fwd` to its final answer. */
typedef struct {
    char key[REMOTE_KEY_MAX]; /* peer|rid */
    char peer[WIRE_MAX_ID + 1];
    char rid[WIRE_MAX_ID + 1];
    remote_t *owner;
    job_t *job;   /* the dispatcher's job once it runs */
    uint64_t seq; /* chunks sent so far (the acceptance included) */
    bool lost;    /* a chunk could not be sent: the answer cannot end well */
} incoming_t;

struct _remote_t {
    remote_config_t cfg;
    zhashx_t *in; /* peer|rid → incoming_t */
};

remote_t *remote_new(const remote_config_t *cfg)
{
    remote_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.max_remote == 0)
        self->cfg.max_remote = REMOTE_DEFAULT_MAX;
    self->in = zhashx_new();
    if (!self->in) {
        free(self);
        return NULL;
    }
    return self;
}

static void s_send(remote_t *self, const char *peer, wire_msg_t *msg)
{
    if (mesh_send(self->cfg.mesh, peer, msg) < 0)
        alog_warn_rl("mesh: %s to %s not sent (peer gone or pipe full)", wire_type_name(msg->type),
                     peer);
}

static void s_reject(remote_t *self, const char *peer, const char *rid, const char *reason)
{
    wire_msg_t m = {.type = WIRE_REJECT, .rid = (char *)rid, .reason = (char *)reason};
    s_send(self, peer, &m);
}

/*  The codec carries fail messages as valid UTF-8 without control
    characters; upstream text (or a parser's echo of a hostile body) may not
    be: whatever is not becomes '?' (one per invalid byte, one per control
    character). */
static void s_utf8_clean(const char *in, char *out, size_t outlen)
{
    size_t o = 0, left = strlen(in);
    const unsigned char *p = (const unsigned char *)in;
    while (left > 0 && o + 5 < outlen) {
        uint32_t cp = 0;
        size_t n = utf8_decode(p, left, &cp);
        if (n == 0) {
            out[o++] = '?';
            n = 1;
        } else if (utf8_is_control(cp)) {
            out[o++] = '?';
        } else {
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
        left -= n;
    }
    out[o] = '\0';
}

/*  `fail` for rid after `chunks` chunks. */
static void s_fail_msg(remote_t *self, const char *peer, const char *rid, const openai_error_t *e,
                       bool retryable, long long cooled_ms, uint64_t chunks)
{
    char message[sizeof e->message];
    s_utf8_clean(e->message, message, sizeof message);
    wire_msg_t m = {.type = WIRE_FAIL,
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

static void s_in_free(remote_t *self, incoming_t *in)
{
    zhashx_delete(self->in, in->key);
    free(in);
}

/* ---- the job's sink: the answer goes back over the mesh ---- */

static void s_on_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    incoming_t *in = arg;
    wire_delta_t d = {kind, (char *)text, len};
    wire_msg_t m = {
        .type = WIRE_CHUNK, .rid = in->rid, .chunk_seq = in->seq++, .deltas = &d, .n_deltas = 1};
    if (mesh_send(in->owner->cfg.mesh, in->peer, &m) < 0)
        in->lost = true;
}

static void s_on_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    incoming_t *in = arg;
    remote_t *self = in->owner;
    if (in->lost) {
        /* A piece never left: an `end` would hand the client a cut answer. */
        openai_error_t e;
        openai_error_set(&e, "upstream_error", NULL,
                         "part of the answer could not be relayed from the serving node");
        s_fail_msg(self, in->peer, in->rid, &e, false, 0, in->seq);
        s_in_free(self, in);
        return;
    }
    wire_msg_t m = {.type = WIRE_END,
                    .rid = in->rid,
                    .finish_reason = (char *)finish_reason,
                    .prompt_tokens = usage->prompt_tokens,
                    .completion_tokens = usage->completion_tokens,
                    .has_chunks = true,
                    .chunks = in->seq};
    s_send(self, in->peer, &m);
    s_in_free(self, in);
}

static void s_on_fail(void *arg, const target_fail_t *f)
{
    incoming_t *in = arg;
    remote_t *self = in->owner;
    s_fail_msg(self, in->peer, in->rid, &f->err, f->retryable, f->cooled_ms, in->seq);
    s_in_free(self, in);
}

/*  Not used while s_on_fail is set (dispatch_opts_t.fail); kept complete. */
static void s_on_error(void *arg, const openai_error_t *err, long long retry_after_ms)
{
    (void)retry_after_ms;
    incoming_t *in = arg;
    remote_t *self = in->owner;
    s_fail_msg(self, in->peer, in->rid, err, false, 0, in->seq);
    s_in_free(self, in);
}

static void s_on_reject(void *arg, const char *reason)
{
    incoming_t *in = arg;
    remote_t *self = in->owner;
    s_reject(self, in->peer, in->rid, reason);
    s_in_free(self, in);
}

static const job_sink_t s_job_sink = {s_on_delta, s_on_end, s_on_error};

/* ---- messages ---- */

static void s_fwd(remote_t *self, const wire_msg_t *msg)
{
    if (!msg->rid || !msg->model || !msg->request)
        return;
    char key[REMOTE_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", msg->from, msg->rid);
    if (zhashx_lookup(self->in, key)) {
        /* A duplicate while the first one runs: whatever the load, it is
           not refused (the origin would fail a request that runs). */
        alog_debug("peer %s sent %s again: it runs already", msg->from, msg->rid);
        return;
    }
    if (zhashx_size(self->in) >= self->cfg.max_remote) {
        s_reject(self, msg->from, msg->rid, "too many forwarded requests running here");
        return;
    }
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(msg->request, msg->request_len, &self->cfg.limits, &req, &err) < 0) {
        s_fail_msg(self, msg->from, msg->rid, &err, false, 0, 0);
        return;
    }
    incoming_t *in = calloc(1, sizeof *in);
    if (!in) {
        openai_request_destroy(&req);
        s_reject(self, msg->from, msg->rid, "out of memory");
        return;
    }
    in->owner = self;
    snprintf(in->peer, sizeof in->peer, "%s", msg->from);
    snprintf(in->rid, sizeof in->rid, "%s", msg->rid);
    snprintf(in->key, sizeof in->key, "%s", key);
    if (zhashx_insert(self->in, in->key, in) < 0) {
        free(in);
        openai_request_destroy(&req);
        s_reject(self, msg->from, msg->rid, "out of memory");
        return;
    }
    dispatch_opts_t opts = {.local_only = true,
                            .deadline_ms = msg->deadline_ms,
                            .peer = msg->from,
                            .reject = s_on_reject,
                            .fail = s_on_fail};
    /* On NULL the sink has answered (reject or fail) and freed `in`. */
    job_t *job = dispatch_submit_opts(self->cfg.dispatch, &req, &s_job_sink, in, &opts);
    if (!job)
        return;
    in->job = job;
    /* chunk seq 0 without deltas: accepted (the tab has it) */
    wire_msg_t ok = {.type = WIRE_CHUNK, .rid = in->rid, .chunk_seq = in->seq++};
    s_send(self, in->peer, &ok);
}

static void s_cancel(remote_t *self, const wire_msg_t *msg)
{
    char key[REMOTE_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", msg->from, msg->rid ? msg->rid : "");
    incoming_t *in = zhashx_lookup(self->in, key);
    if (!in)
        return;
    alog_debug("peer %s cancelled forwarded request %s", in->peer, in->rid);
    dispatch_cancel(self->cfg.dispatch, &in->job);
    s_in_free(self, in);
}

void remote_handle(remote_t *self, const wire_msg_t *msg)
{
    if (!msg->from)
        return;
    if (msg->type == WIRE_FWD)
        s_fwd(self, msg);
    else if (msg->type == WIRE_CANCEL)
        s_cancel(self, msg);
}

/*  The first request of peer_id (any peer when NULL). */
static incoming_t *s_first_of(remote_t *self, const char *peer_id)
{
    for (incoming_t *in = zhashx_first(self->in); in; in = zhashx_next(self->in))
        if (!peer_id || strcmp(in->peer, peer_id) == 0)
            return in;
    return NULL;
}

void remote_peer_gone(remote_t *self, const char *peer_id)
{
    /* No allocation; dispatch_cancel calls no sink, so nothing is added. */
    for (incoming_t *in; (in = s_first_of(self, peer_id));) {
        dispatch_cancel(self->cfg.dispatch, &in->job);
        s_in_free(self, in);
    }
}

size_t remote_running(const remote_t *self)
{
    return zhashx_size(self->in);
}

void remote_destroy(remote_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    remote_t *self = *self_p;
    for (incoming_t *in; (in = s_first_of(self, NULL));) {
        openai_error_t e;
        openai_error_set(&e, "no_capacity", NULL, "the serving node is shutting down");
        s_fail_msg(self, in->peer, in->rid, &e, true, 0, in->seq);
        dispatch_cancel(self->cfg.dispatch, &in->job);
        s_in_free(self, in);
    }
    zhashx_destroy(&self->in);
    free(self);
    *self_p = NULL;
}
