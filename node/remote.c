/*  remote — see remote.h. */
#include "node/remote.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/utf8.h"

#define REMOTE_KEY_MAX (2 * WIRE_MAX_ID + 2)

/*  One delta waiting in an incoming_t's buffer: its text is at off in text. */
typedef struct {
    delta_kind_t kind;
    size_t off, len;
} pending_t;

typedef enum { FINAL_NONE = 0, FINAL_END, FINAL_FAIL, FINAL_REJECT } final_t;

/*  One request a peer sent us, from its `fwd` to its final answer. */
typedef struct _incoming_t incoming_t;
struct _incoming_t {
    char key[REMOTE_KEY_MAX]; /* peer|rid */
    char peer[WIRE_MAX_ID + 1];
    char rid[WIRE_MAX_ID + 1];
    char client[WIRE_MAX_ID + 1]; /* the origin's verified client key id; "": none */
    char xrid[WIRE_MAX_ID + 1];   /* the origin's x-request-id, for the logs; "-": none */
    remote_t *owner;
    job_t *job;      /* the dispatcher's job while it runs */
    uint64_t seq;    /* chunks sent so far (the acceptance included) */
    bool lost;       /* a delta could not be kept (memory): the answer cannot end well */
    bool owe_accept; /* the job runs: chunk seq 0 (accepted) is still to go */
    bool flow;       /* the origin grants credit (its `fwd` had "credit") */
    uint64_t upto;   /* flow: chunks with a seq below it may go */
    /* reliability (docs/mesh-protocol.md, "Acks and resends"): what went and
       is not acked yet stays until the origin's ack, and goes again when no
       ack came for a while */
    bool acks;                       /* flow and the origin acks (no `credit` without "ack") */
    uint64_t acked;                  /* the chunks before this seq are acked */
    size_t n_sent;                   /* pend[0 … n_sent) went, not acked yet */
    uint32_t nd[REMOTE_MAX_UNACKED]; /* deltas of unacked data chunk seq, at seq % max */
    bool final_sent;                 /* the end/fail went, not acked yet */
    long long tx_ms;                 /* last (re)send or ack progress */
    long long heard_ms;              /* last message of the origin for it */
    unsigned rtx;                    /* resends since the last progress */
    bool paused;                     /* the tab was asked to stop reading for this job */
    abuf_t text;                     /* the pending deltas' text, back to back */
    pending_t *pend;                 /* deltas not sent yet, in order */
    size_t n_pend, cap_pend;
    final_t final;                  /* the job ended: what goes out once the deltas have */
    char finish[32];                /* FINAL_END */
    usage_t usage;                  /* FINAL_END */
    openai_error_t err;             /* FINAL_FAIL */
    bool retryable;                 /* FINAL_FAIL */
    long long cooled_ms;            /* FINAL_FAIL */
    char reason[WIRE_MAX_NAME + 1]; /* FINAL_REJECT */
    incoming_t *dnext, *dprev;      /* the dirty list: something to send */
    bool dirty;
    /* node/metrics: counted once, when its outcome is known */
    char *model;        /* as the fwd named it; NULL: not counted */
    long long t0_ms;    /* the fwd came (monotonic) */
    long long first_ms; /* its first delta, 0: none yet */
    bool ran;           /* an attempt started in one of our tabs */
    bool recorded;
};

struct _remote_t {
    remote_config_t cfg;
    zhashx_t *in;          /* peer|rid → incoming_t */
    incoming_t *dirty;     /* to flush at remote_flush */
    wire_delta_t *scratch; /* one chunk's deltas, reused */
    size_t cap_scratch;
    remote_stats_t stats;
};

/*  Data chunks (seq ≥ 1) sent and not acked. */
static uint64_t s_unacked_data(const incoming_t *in)
{
    uint64_t from = in->acked > 1 ? in->acked : 1;
    return in->seq > from ? in->seq - from : 0;
}

/*  Bytes of pending deltas not sent yet. */
static size_t s_unsent_bytes(const incoming_t *in)
{
    if (in->n_sent == 0)
        return in->text.len;
    return in->n_sent < in->n_pend ? in->text.len - in->pend[in->n_sent].off : 0;
}

remote_t *remote_new(const remote_config_t *cfg)
{
    remote_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.max_remote == 0)
        self->cfg.max_remote = REMOTE_DEFAULT_MAX;
    if (self->cfg.pause_bytes == 0)
        self->cfg.pause_bytes = REMOTE_DEFAULT_PAUSE_BYTES;
    if (self->cfg.giveup_ms <= 0)
        self->cfg.giveup_ms = REMOTE_GIVEUP_MS;
    self->in = zhashx_new();
    if (!self->in) {
        free(self);
        return NULL;
    }
    return self;
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

/*  `fail` for rid after `chunks` chunks; mesh_send's result. */
static int s_fail_msg(remote_t *self, const char *peer, const char *rid, const openai_error_t *e,
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
    return mesh_send(self->cfg.mesh, peer, &m);
}

static void s_undirty(remote_t *self, incoming_t *in)
{
    if (!in->dirty)
        return;
    if (in->dprev)
        in->dprev->dnext = in->dnext;
    else
        self->dirty = in->dnext;
    if (in->dnext)
        in->dnext->dprev = in->dprev;
    in->dnext = in->dprev = NULL;
    in->dirty = false;
}

static void s_mark_dirty(remote_t *self, incoming_t *in)
{
    if (in->dirty)
        return;
    in->dprev = NULL;
    in->dnext = self->dirty;
    if (self->dirty)
        self->dirty->dprev = in;
    self->dirty = in;
    in->dirty = true;
}

/*  Counts the request (once): status as the origin's client would read it,
    499 when the origin gave it up (cancel, gone, silent). */
static void s_record(remote_t *self, incoming_t *in, int status, bool model_known)
{
    if (in->recorded || !in->model || !self->cfg.metrics)
        return;
    in->recorded = true;
    long long now = zclock_mono();
    metrics_request_t r = {
        .route = METRICS_ROUTE_FORWARDED,
        .origin = METRICS_ORIGIN_PEER,
        .served_by = in->ran ? METRICS_SERVED_LOCAL : METRICS_SERVED_NONE,
        .model = in->model,
        .model_known = model_known,
        .status = status,
        .ttfb_s = in->first_ms ? (double)(in->first_ms - in->t0_ms) / 1000.0 : -1,
        .duration_s = (double)(now - in->t0_ms) / 1000.0,
    };
    metrics_request(self->cfg.metrics, &r);
}

static void s_in_free(remote_t *self, incoming_t *in)
{
    s_record(self, in, 499, true);
    free(in->model);
    s_undirty(self, in);
    zhashx_delete(self->in, in->key);
    abuf_free(&in->text);
    free(in->pend);
    free(in);
}

/*  The tab reads again (or stops) for this job: back-pressure. */
static void s_pause(remote_t *self, incoming_t *in, bool paused)
{
    if (in->paused == paused || (paused && !in->job))
        return;
    in->paused = paused;
    if (paused)
        self->stats.pauses++;
    if (in->job)
        dispatch_pause(self->cfg.dispatch, in->job, paused);
}

/*  Drops the first n pending deltas (acked, or sent to an origin that
    does not ack). */
static void s_consume(incoming_t *in, size_t n)
{
    if (n == 0)
        return;
    size_t used = n < in->n_pend ? in->pend[n].off : in->text.len;
    abuf_consume(&in->text, used);
    memmove(in->pend, in->pend + n, (in->n_pend - n) * sizeof *in->pend);
    in->n_pend -= n;
    in->n_sent = in->n_sent > n ? in->n_sent - n : 0;
    for (size_t i = 0; i < in->n_pend; i++)
        in->pend[i].off -= used;
}

/*  chunk seq carrying pend[first … first+n); mesh_send's result. */
static int s_chunk_out(remote_t *self, incoming_t *in, size_t first, size_t n, uint64_t seq)
{
    if (n > self->cap_scratch) {
        size_t cap = n < 64 ? 64 : n;
        wire_delta_t *d = realloc(self->scratch, cap * sizeof *d);
        if (!d)
            return -1;
        self->scratch = d;
        self->cap_scratch = cap;
    }
    for (size_t i = 0; i < n; i++) { /* text.data is NULL while only empty deltas wait */
        const pending_t *p = &in->pend[first + i];
        self->scratch[i] =
            (wire_delta_t){p->kind, in->text.data ? in->text.data + p->off : NULL, p->len};
    }
    wire_msg_t m = {.type = WIRE_CHUNK,
                    .rid = in->rid,
                    .chunk_seq = seq,
                    .deltas = n ? self->scratch : NULL,
                    .n_deltas = n};
    return mesh_send(self->cfg.mesh, in->peer, &m);
}

/*  One chunk of the deltas not sent yet (as many as fit), within credit.
    1 sent, 0 nothing to send or no credit, -1 the peer's pipe refused it. */
static int s_send_chunk(remote_t *self, incoming_t *in)
{
    if (in->n_pend == in->n_sent || (in->flow && in->seq >= in->upto) ||
        (in->acks && s_unacked_data(in) >= REMOTE_MAX_UNACKED))
        return 0;
    size_t first = in->n_sent, n = 0, bytes = 0;
    while (first + n < in->n_pend && n < WIRE_MAX_DELTAS &&
           (n == 0 || bytes + in->pend[first + n].len <= REMOTE_CHUNK_BYTES)) {
        bytes += in->pend[first + n].len;
        n++;
    }
    if (s_chunk_out(self, in, first, n, in->seq) < 0)
        return -1;
    if (in->acks) { /* kept until acked */
        in->nd[in->seq % REMOTE_MAX_UNACKED] = (uint32_t)n;
        in->n_sent += n;
        if (s_unacked_data(in) == 0) /* the first unacked one: the resend clock starts */
            in->tx_ms = zclock_mono();
    } else {
        s_consume(in, n);
    }
    in->seq++;
    self->stats.chunks++;
    self->stats.deltas += n;
    return 1;
}

/*  The final message; mesh_send's result. */
static int s_send_final(remote_t *self, incoming_t *in)
{
    if (in->final == FINAL_REJECT) {
        wire_msg_t m = {.type = WIRE_REJECT, .rid = in->rid, .reason = in->reason};
        return mesh_send(self->cfg.mesh, in->peer, &m);
    }
    if (in->final == FINAL_FAIL)
        return s_fail_msg(self, in->peer, in->rid, &in->err, in->retryable, in->cooled_ms, in->seq);
    if (in->lost) {
        /* A piece never left: an `end` would hand the client a cut answer. */
        openai_error_t e;
        openai_error_set(&e, "upstream_error", NULL,
                         "part of the answer could not be relayed from the serving node");
        return s_fail_msg(self, in->peer, in->rid, &e, false, 0, in->seq);
    }
    wire_msg_t m = {.type = WIRE_END,
                    .rid = in->rid,
                    .finish_reason = in->finish,
                    .prompt_tokens = in->usage.prompt_tokens,
                    .completion_tokens = in->usage.completion_tokens,
                    .has_chunks = true,
                    .chunks = in->seq};
    return mesh_send(self->cfg.mesh, in->peer, &m);
}

/*  Sends again what the origin has not acked: the acceptance, the data
    chunks (each as it first went: same seq, same deltas), the end/fail. */
static void s_resend(remote_t *self, incoming_t *in)
{
    static alog_rl_t rl;
    if (alog_enabled(ALOG_INFO))
        alog_rl_write(&rl, ALOG_INFO,
                      "peer %s: forwarded request %s: chunks %" PRIu64 "…%" PRIu64
                      "%s sent again (not acked; try %u)",
                      in->peer, in->rid, in->acked, in->seq, in->final_sent ? " and the end" : "",
                      in->rtx + 1);
    in->tx_ms = zclock_mono();
    in->rtx++;
    size_t off = 0;
    for (uint64_t s = in->acked; s < in->seq; s++) {
        size_t n = s == 0 ? 0 : in->nd[s % REMOTE_MAX_UNACKED];
        if (s_chunk_out(self, in, off, n, s) < 0) {
            self->stats.refused++;
            return; /* the rest at the next timeout */
        }
        off += n;
        self->stats.resent++;
    }
    if (in->final_sent) {
        if (s_send_final(self, in) < 0) {
            self->stats.refused++;
            return;
        }
        self->stats.resent++;
    }
}

/*  The origin holds the chunks before seq a (a = seq + 1: the end/fail
    too): what it holds is dropped here. true when `in` was freed. */
static bool s_acked(remote_t *self, incoming_t *in, uint64_t a)
{
    if (a <= in->acked)
        return false;
    uint64_t from = in->acked > 1 ? in->acked : 1, to = a < in->seq ? a : in->seq;
    size_t n = 0;
    for (uint64_t s = from; s < to; s++)
        n += in->nd[s % REMOTE_MAX_UNACKED];
    s_consume(in, n);
    in->acked = a;
    in->tx_ms = zclock_mono();
    in->rtx = 0;
    if (in->final_sent && a > in->seq) {
        s_in_free(self, in);
        return true;
    }
    return false;
}

/*  Sends what may go now: the acceptance, deltas within credit, then the
    final message once nothing is pending. What the peer's pipe refuses
    stays for the next flush (nothing is dropped). Frees `in` when done
    (an end or fail an acking origin has not acked yet stays: it may have
    to go again). */
static void s_flush_one(remote_t *self, incoming_t *in)
{
    s_undirty(self, in);
    if (in->final_sent)
        return;
    if (in->owe_accept) {
        wire_msg_t ok = {.type = WIRE_CHUNK, .rid = in->rid, .chunk_seq = in->seq};
        if (mesh_send(self->cfg.mesh, in->peer, &ok) < 0) {
            self->stats.refused++;
            return;
        }
        in->seq++;
        in->owe_accept = false;
        in->tx_ms = zclock_mono();
    }
    int rc;
    while ((rc = s_send_chunk(self, in)) > 0)
        ;
    if (rc < 0) {
        self->stats.refused++;
        return;
    }
    if (in->n_pend > in->n_sent) {
        if (s_unsent_bytes(in) >= self->cfg.pause_bytes)
            s_pause(self, in, true);
        return; /* waits for credit */
    }
    s_pause(self, in, false);
    if (in->final == FINAL_NONE)
        return;
    if (s_send_final(self, in) < 0) {
        self->stats.refused++;
        return;
    }
    if (in->acks && in->seq > 0) { /* it ran: kept until the origin acks its end */
        in->final_sent = true;
        if (in->seq <= in->acked)
            in->tx_ms = zclock_mono();
        return;
    }
    s_in_free(self, in);
}

/* ---- the job's sink: the answer goes back over the mesh ---- */

static void s_on_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    incoming_t *in = arg;
    remote_t *self = in->owner;
    if (!in->first_ms)
        in->first_ms = zclock_mono();
    if (in->n_pend == in->cap_pend) {
        size_t cap = in->cap_pend ? in->cap_pend * 2 : 8;
        pending_t *p = realloc(in->pend, cap * sizeof *p);
        if (!p) {
            in->lost = true;
            return;
        }
        in->pend = p;
        in->cap_pend = cap;
    }
    size_t off = in->text.len;
    if (abuf_append(&in->text, text, len) < 0) {
        in->lost = true;
        return;
    }
    in->pend[in->n_pend++] = (pending_t){kind, off, len};
    /* Sent at remote_flush: the deltas of one event batch share a chunk. */
    s_mark_dirty(self, in);
    if (s_unsent_bytes(in) >= self->cfg.pause_bytes)
        s_pause(self, in, true);
}

static void s_on_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    incoming_t *in = arg;
    in->job = NULL; /* the dispatcher frees it */
    in->paused = false;
    in->final = FINAL_END;
    snprintf(in->finish, sizeof in->finish, "%s", finish_reason ? finish_reason : "stop");
    alog_info("%s: forwarded request %s ended here (%s)", in->xrid, in->rid, in->finish);
    in->usage = *usage;
    s_record(in->owner, in, 200, true);
    s_flush_one(in->owner, in);
}

static void s_on_fail(void *arg, const target_fail_t *f)
{
    incoming_t *in = arg;
    in->job = NULL;
    in->paused = false;
    in->final = FINAL_FAIL;
    in->err = f->err;
    alog_info("%s: forwarded request %s failed here: %d %s", in->xrid, in->rid, f->err.status,
              f->err.code ? f->err.code : "");
    in->retryable = f->retryable;
    in->cooled_ms = f->cooled_ms;
    s_record(in->owner, in, f->err.status ? f->err.status : 502, true);
    s_flush_one(in->owner, in);
}

/*  Not used while s_on_fail is set (dispatch_opts_t.fail); kept complete. */
static void s_on_error(void *arg, const openai_error_t *err, long long retry_after_ms)
{
    (void)retry_after_ms;
    target_fail_t f = {.err = *err};
    s_on_fail(arg, &f);
}

static void s_on_reject(void *arg, const char *reason)
{
    incoming_t *in = arg;
    in->job = NULL;
    in->final = FINAL_REJECT;
    snprintf(in->reason, sizeof in->reason, "%s", reason);
    /* not run here: the origin tries elsewhere (counted 503) */
    s_record(in->owner, in, 503, strcmp(reason, "model not served here") != 0);
    s_flush_one(in->owner, in);
}

static void s_on_attempt(void *arg, bool on_peer)
{
    incoming_t *in = arg;
    in->ran = !on_peer; /* local-only: always one of our tabs */
}

static const job_sink_t s_job_sink = {s_on_delta, s_on_end, s_on_error, s_on_attempt, NULL};

/* ---- messages ---- */

/*  Answers a `fwd` that will not run: `reject` (reason) or `fail` (err).
    What the peer's pipe refuses is kept and sent again (remote_tick), as a
    running request's final message is; past twice max_remote kept, it is
    dropped (logged): the origin's accept timeout then ends the attempt. */
static void s_refuse(remote_t *self, const char *peer, const char *rid, const char *reason,
                     const openai_error_t *err)
{
    incoming_t tmp = {.owner = self, .final = reason ? FINAL_REJECT : FINAL_FAIL};
    snprintf(tmp.peer, sizeof tmp.peer, "%s", peer);
    snprintf(tmp.rid, sizeof tmp.rid, "%s", rid);
    snprintf(tmp.key, sizeof tmp.key, "%s|%s", peer, rid);
    if (reason)
        snprintf(tmp.reason, sizeof tmp.reason, "%s", reason);
    else
        tmp.err = *err;
    if (s_send_final(self, &tmp) == 0)
        return;
    self->stats.refused++;
    incoming_t *in = zhashx_size(self->in) < 2 * self->cfg.max_remote ? malloc(sizeof *in) : NULL;
    if (in)
        *in = tmp;
    if (!in || zhashx_insert(self->in, in->key, in) < 0) {
        free(in);
        alog_warn_rl("mesh: %s to %s not sent (peer gone or pipe full)", reason ? "reject" : "fail",
                     peer);
    }
}

static void s_fwd(remote_t *self, const wire_msg_t *msg)
{
    if (!msg->rid || !msg->model || !msg->request)
        return;
    char key[REMOTE_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", msg->from, msg->rid);
    incoming_t *dup = zhashx_lookup(self->in, key);
    if (dup) {
        /* A duplicate while the first one runs (its acceptance may have been
           lost): the same job, never a second one; whatever the load, it is
           not refused (the origin would fail a request that runs); what it
           has not acked goes again. */
        alog_debug("peer %s sent %s again: it runs already", msg->from, msg->rid);
        dup->heard_ms = zclock_mono();
        if (dup->acks && (dup->seq > dup->acked || dup->final_sent))
            s_resend(self, dup);
        return;
    }
    if (zhashx_size(self->in) >= self->cfg.max_remote) {
        s_refuse(self, msg->from, msg->rid, "too many forwarded requests running here", NULL);
        return;
    }
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(msg->request, msg->request_len, &self->cfg.limits, &req, &err) < 0) {
        s_refuse(self, msg->from, msg->rid, NULL, &err);
        return;
    }
    /* who asked, as the origin verified it (kept with the job: accounting) */
    snprintf(req->client, sizeof req->client, "%s", msg->client ? msg->client : "");
    snprintf(req->request_id, sizeof req->request_id, "%s", msg->request_id ? msg->request_id : "");
    incoming_t *in = calloc(1, sizeof *in);
    if (!in) {
        openai_request_destroy(&req);
        s_refuse(self, msg->from, msg->rid, "out of memory", NULL);
        return;
    }
    in->owner = self;
    snprintf(in->peer, sizeof in->peer, "%s", msg->from);
    snprintf(in->rid, sizeof in->rid, "%s", msg->rid);
    snprintf(in->key, sizeof in->key, "%s", key);
    snprintf(in->client, sizeof in->client, "%s", msg->client ? msg->client : "");
    snprintf(in->xrid, sizeof in->xrid, "%s", msg->request_id ? msg->request_id : "-");
    in->flow = msg->has_credit;
    in->acks = in->flow;                  /* until a `credit` without "ack" says otherwise */
    in->upto = 1 + (uint64_t)msg->credit; /* seq 0 (the acceptance) costs none */
    in->tx_ms = in->heard_ms = in->t0_ms = zclock_mono();
    in->model = strdup(req->model); /* NULL (memory): not counted */
    if (zhashx_insert(self->in, in->key, in) < 0) {
        free(in->model);
        free(in);
        openai_request_destroy(&req);
        s_refuse(self, msg->from, msg->rid, "out of memory", NULL);
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
    alog_info("%s: forwarded by peer %s as %s, runs here (client %s)", in->xrid, in->peer, in->rid,
              in->client[0] ? in->client : "none");
    /* chunk seq 0 without deltas: accepted (the tab has it) */
    in->owe_accept = true;
    s_flush_one(self, in);
}

static void s_credit(remote_t *self, const wire_msg_t *msg)
{
    char key[REMOTE_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", msg->from, msg->rid ? msg->rid : "");
    incoming_t *in = zhashx_lookup(self->in, key);
    if (!in || !in->flow)
        return;
    in->heard_ms = zclock_mono();
    if (msg->has_ack && in->acks) {
        /* n counts from the ack: a lost `credit` is made good by the next;
           one older than what we know never takes credit back */
        uint64_t top = in->seq + (in->final_sent ? 1 : 0);
        uint64_t a = msg->ack < top ? msg->ack : top;
        uint64_t upto = (a > 1 ? a : 1) + msg->credit;
        if (upto > in->upto)
            in->upto = upto;
        if (s_acked(self, in, a))
            return;
    } else if (!msg->has_ack) {
        /* an origin that does not ack: what went is its own, as before */
        in->upto += msg->credit;
        if (in->acks) {
            in->acks = false;
            s_consume(in, in->n_sent);
            in->acked = in->seq;
            if (in->final_sent) {
                s_in_free(self, in);
                return;
            }
        }
    }
    if (in->upto > in->seq + WIRE_MAX_CREDIT)
        in->upto = in->seq + WIRE_MAX_CREDIT; /* what one grant may give: never an overflow */
    s_flush_one(self, in);
}

static void s_cancel(remote_t *self, const wire_msg_t *msg)
{
    char key[REMOTE_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", msg->from, msg->rid ? msg->rid : "");
    incoming_t *in = zhashx_lookup(self->in, key);
    if (!in)
        return;
    alog_debug("peer %s cancelled forwarded request %s", in->peer, in->rid);
    in->paused = false;
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
    else if (msg->type == WIRE_CREDIT)
        s_credit(self, msg);
}

void remote_flush(remote_t *self)
{
    if (!self)
        return;
    while (self->dirty)
        s_flush_one(self, self->dirty);
}

void remote_tick(remote_t *self)
{
    if (!self)
        return;
    /* What a full pipe refused goes again (no allocation: a pass over the
       table marks, then the dirty list is flushed); what was not acked in
       time goes again (backing off); a request whose origin said nothing
       for REMOTE_GIVEUP_MS is given up. */
    long long now = zclock_mono();
    bool giveup = false;
    for (incoming_t *in = zhashx_first(self->in); in; in = zhashx_next(self->in)) {
        if (!in->final_sent && (in->owe_accept || in->final != FINAL_NONE ||
                                (in->n_pend > in->n_sent && (!in->flow || in->seq < in->upto))))
            s_mark_dirty(self, in);
        if (!in->acks)
            continue;
        if (now - in->heard_ms >= self->cfg.giveup_ms)
            giveup = true;
        else if ((in->seq > in->acked || in->final_sent) &&
                 now - in->tx_ms >= (long long)REMOTE_RTO_MS << (in->rtx < 3 ? in->rtx : 3))
            s_resend(self, in);
    }
    remote_flush(self);
    while (giveup) {
        giveup = false;
        for (incoming_t *in = zhashx_first(self->in); in; in = zhashx_next(self->in))
            if (in->acks && now - in->heard_ms >= self->cfg.giveup_ms) {
                alog_info("peer %s: forwarded request %s given up (no word from it in %lld ms)",
                          in->peer, in->rid, self->cfg.giveup_ms);
                self->stats.given_up++;
                in->paused = false;
                dispatch_cancel(self->cfg.dispatch, &in->job);
                s_in_free(self, in);
                giveup = true;
                break;
            }
    }
}

void remote_stats(const remote_t *self, remote_stats_t *out)
{
    *out = self->stats;
    out->running = zhashx_size(self->in);
    out->buffered = 0;
    for (incoming_t *in = zhashx_first(self->in); in; in = zhashx_next(self->in))
        out->buffered += in->text.len;
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
        in->paused = false;
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
        if (!in->final_sent && s_fail_msg(self, in->peer, in->rid, &e, true, 0, in->seq) < 0)
            alog_warn_rl("mesh: fail to %s not sent (peer gone or pipe full)", in->peer);
        in->paused = false;
        dispatch_cancel(self->cfg.dispatch, &in->job);
        s_in_free(self, in);
    }
    zhashx_destroy(&self->in);
    free(self->scratch);
    free(self);
    *self_p = NULL;
}
