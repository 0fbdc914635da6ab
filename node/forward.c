/*  forward — see forward.h. */
#include "node/forward.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/uuid7.h"

/*  The credit this node lent one peer: chunks it may send us, all our
    requests on it together (docs/mesh-protocol.md, "Flow control"). */
typedef struct {
    long lent;          /* granted and not arrived yet */
    size_t streams;     /* our requests running on it */
    bool short_;        /* a grant was cut by FORWARD_PEER_CREDIT: refill when credit returns */
    long long answered; /* the latest time a `fwd` of ours went that it answered */
} s_peer_t;

struct _fwd_t {
    char rid[UUID_STR_LEN];
    char peer[WIRE_MAX_ID + 1];
    s_peer_t *p;   /* its peer's credit account */
    uint32_t left; /* credit granted to this request and not used yet */
    const target_sink_t *sink;
    void *arg;
    uint64_t serial; /* order of start: what a sweep began with is older */
    bool accepted;
    size_t content;
    uint64_t next_seq;
    long long started_ms;
    long long last_ms;
    /* reliability (docs/mesh-protocol.md, "Acks and resends") */
    uint64_t acked;   /* the ack last sent */
    long long ack_ms; /* when an ack (credit) last went */
    abuf_t body;      /* the request, while a `fwd` may go again (not accepted yet) */
    char *model;      /* idem */
    bool stream;      /* idem */
    long long deadline_ms;
    char client[WIRE_MAX_ID + 1];
    char xrid[WIRE_MAX_ID + 1]; /* the client's x-request-id at this node; "": none */
    uint32_t credit0;           /* fwd's credit */
    int refwds;                 /* times the `fwd` went again */
    int late_refwds;  /* of those, sent because later `fwd`s were answered and not this one */
    bool unsent;      /* the link refused the first `fwd`: it goes at the next tick */
    long long fwd_ms; /* when it last went */
};

struct _forward_t {
    forward_config_t cfg;
    zhashx_t *out;   /* rid → fwd_t */
    zhashx_t *peers; /* peer id → s_peer_t (while requests run on it) */
    forward_credit_stats_t cs;
    uint64_t next_serial;
};

static void s_peer_free(void **item)
{
    free(*item);
    *item = NULL;
}

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
    self->peers = zhashx_new();
    if (!self->out || !self->peers) {
        zhashx_destroy(&self->out);
        zhashx_destroy(&self->peers);
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->peers, s_peer_free);
    return self;
}

static void s_fwd_free(fwd_t *f)
{
    abuf_free(&f->body);
    free(f->model);
    free(f);
}

/*  `cancel`: the executor forgets rid. Not logged when refused: a peer that
    cannot be reached has forgotten it with us (remote_peer_gone), and one
    that resends gets another. */
static void s_send_cancel(forward_t *self, const char *peer, const char *rid)
{
    wire_msg_t m = {.type = WIRE_CANCEL, .rid = (char *)rid};
    if (mesh_send(self->cfg.mesh, peer, &m) < 0)
        alog_debug("mesh: cancel to %s not sent (peer gone or pipe full)", peer);
}

/*  The window of one request on peer p: the peer's credit shared among its
    requests, between 4 and FORWARD_WINDOW chunks. */
static uint32_t s_window(const s_peer_t *p)
{
    size_t w = FORWARD_PEER_CREDIT / (p->streams ? p->streams : 1);
    return w < 4 ? 4 : w > FORWARD_WINDOW ? FORWARD_WINDOW : (uint32_t)w;
}

/*  Tops f's credit up to its window once three quarters of it are used
    (fewer `credit` messages; the deltas waiting meanwhile share a chunk),
    within what the peer may still be lent; `credit` goes out. */
static void s_grant(forward_t *self, fwd_t *f)
{
    s_peer_t *p = f->p;
    uint32_t w = s_window(p);
    if (f->left > w / 4)
        return;
    long room = FORWARD_PEER_CREDIT - p->lent;
    long n = (long)(w - f->left);
    if (n > room) {
        n = room;
        p->short_ = true;
    }
    if (n <= 0)
        return;
    /* n is absolute with an ack: all f may still receive (a lost credit is
       made good by the next one) */
    wire_msg_t m = {.type = WIRE_CREDIT,
                    .rid = f->rid,
                    .has_credit = true,
                    .credit = f->left + (uint32_t)n,
                    .has_ack = true,
                    .ack = f->next_seq};
    if (mesh_send(self->cfg.mesh, f->peer, &m) < 0) {
        p->short_ = true; /* again at the next return of credit or tick */
        return;
    }
    f->left += (uint32_t)n;
    p->lent += n;
    f->last_ms = f->ack_ms = zclock_mono(); /* it waited for us, not the peer for its tab */
    f->acked = f->next_seq;
    self->cs.grants++;
}

/*  Acks what arrived (with the credit f holds, unchanged). */
static void s_ack(forward_t *self, fwd_t *f)
{
    wire_msg_t m = {.type = WIRE_CREDIT,
                    .rid = f->rid,
                    .has_credit = true,
                    .credit = f->left,
                    .has_ack = true,
                    .ack = f->next_seq};
    if (mesh_send(self->cfg.mesh, f->peer, &m) < 0)
        return; /* again at the next tick */
    f->ack_ms = zclock_mono();
    f->acked = f->next_seq;
}

/*  Grants what was cut short on peer p (credit came back). */
static void s_refill(forward_t *self, s_peer_t *p)
{
    if (!p->short_)
        return;
    p->short_ = false;
    for (fwd_t *f = zhashx_first(self->out); f && p->lent < FORWARD_PEER_CREDIT;
         f = zhashx_next(self->out))
        if (f->p == p)
            s_grant(self, f);
}

/*  f leaves its peer's account (it ended): its unused credit returns. */
static void s_release(forward_t *self, fwd_t *f)
{
    s_peer_t *p = f->p;
    if (!p)
        return;
    f->p = NULL;
    p->lent -= f->left;
    f->left = 0;
    if (--p->streams == 0) {
        zhashx_delete(self->peers, f->peer);
        return;
    }
    s_refill(self, p);
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
    s_release(self, f);
    s_send_cancel(self, f->peer, f->rid); /* the executor forgets it (and stops resending) */
    target_fail_t fail = {0};
    fail.cls = strcmp(code, "rate_limited") == 0 ? ARENA_FAIL_RATE_LIMIT : ARENA_FAIL_OTHER;
    fail.after_content = f->content > 0;
    fail.retryable = retryable; /* the dispatcher applies the first-byte rule */
    fail.cooled_ms = cooled_ms;
    openai_error_set(&fail.err, s_static_code(code), NULL, "%s", message);
    f->sink->fail(f->arg, &fail);
    s_fwd_free(f);
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
    s_peer_t *p = zhashx_lookup(self->peers, peer_id);
    if (!p && (!(p = calloc(1, sizeof *p)) || zhashx_insert(self->peers, peer_id, p) < 0)) {
        free(p);
        free(f);
        abuf_free(&body);
        openai_error_set(err, "no_capacity", NULL, "cannot forward this request");
        return NULL;
    }
    p->streams++;
    long room = FORWARD_PEER_CREDIT - p->lent;
    uint32_t w = s_window(p);
    uint32_t credit = room <= 0 ? 0 : room < (long)w ? (uint32_t)room : w;
    if (credit < w)
        p->short_ = true;
    wire_msg_t m = {.type = WIRE_FWD,
                    .rid = f->rid,
                    .model = req->model,
                    .request = body.data,
                    .request_len = body.len,
                    .stream = req->stream,
                    .deadline_ms = deadline_ms,
                    .attempt = 1,
                    .has_credit = true,
                    .credit = credit,
                    .client = req->client[0] ? (char *)req->client : NULL,
                    .request_id = req->request_id[0] ? (char *)req->request_id : NULL};
    /* A peer that is a target but whose link is down now (a connection
       being made again) gets the `fwd` at the next ticks, within the
       accept timeout, as a lost `fwd` would go again. */
    int rc = mesh_send(self->cfg.mesh, peer_id, &m);
    bool unsent = rc < 0 && mesh_sendable(self->cfg.mesh, peer_id);
    if ((rc < 0 && !unsent) || !(f->model = strdup(req->model))) {
        abuf_free(&body);
        if (--p->streams == 0)
            zhashx_delete(self->peers, peer_id);
        if (rc == 0)
            s_send_cancel(self, peer_id, f->rid);
        free(f);
        openai_error_set(err, "no_capacity", NULL, "peer %s cannot be reached now", peer_id);
        return NULL;
    }
    f->unsent = unsent;
    /* kept until accepted: the `fwd` may go again (its acceptance lost) */
    f->body = body;
    f->stream = req->stream;
    f->deadline_ms = deadline_ms;
    snprintf(f->client, sizeof f->client, "%s", req->client);
    snprintf(f->xrid, sizeof f->xrid, "%s", req->request_id);
    alog_info("%s: forwarded to peer %s as %s", f->xrid[0] ? f->xrid : "-", peer_id, f->rid);
    f->credit0 = credit;
    f->fwd_ms = f->started_ms;
    f->p = p;
    f->left = credit;
    p->lent += credit;
    if (zhashx_insert(self->out, f->rid, f) < 0) { /* a rid taken: never, but never two */
        s_send_cancel(self, peer_id, f->rid);
        s_release(self, f);
        s_fwd_free(f);
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
    s_release(self, f);
    s_fwd_free(f);
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
    if (!f || strcmp(f->peer, msg->from) != 0) {
        /* late (after abort, timeout or end: the executor resends what it
           thinks lost), or not from the peer we asked: `cancel` tells it
           to forget the request */
        if (msg->rid && msg->type != WIRE_REJECT)
            s_send_cancel(self, msg->from, msg->rid);
        return;
    }
    f->last_ms = zclock_mono();
    if (!f->accepted && f->p && f->p->answered < f->fwd_ms)
        f->p->answered = f->fwd_ms; /* its first answer: the link carried our `fwd` */
    switch (msg->type) {
    case WIRE_CHUNK:
        if (msg->chunk_seq != f->next_seq) {
            /* a resend of what we hold, or one past a lost chunk: dropped;
               the ack says what we hold, the executor resends the rest */
            if (msg->chunk_seq < f->next_seq) {
                self->cs.dups++;
            } else {
                static alog_rl_t rl;
                self->cs.gaps++;
                if (alog_enabled(ALOG_INFO))
                    alog_rl_write(&rl, ALOG_INFO,
                                  "peer %s: chunk %" PRIu64 " of %s came before %" PRIu64
                                  " (lost on the way): waiting for it again",
                                  f->peer, msg->chunk_seq, f->rid, f->next_seq);
            }
            s_ack(self, f);
            return;
        }
        if (msg->chunk_seq > 0 && f->left > 0) { /* the acceptance costs no credit */
            f->left--;
            f->p->lent--;
        }
        f->next_seq++;
        if (!f->accepted) { /* the `fwd` will not go again */
            f->accepted = true;
            abuf_free(&f->body);
        }
        self->cs.chunks++;
        self->cs.deltas += msg->n_deltas;
        for (size_t i = 0; i < msg->n_deltas; i++) {
            const wire_delta_t *d = &msg->deltas[i];
            if (d->kind != DELTA_CITATION && d->len)
                f->content++;
            f->sink->delta(f->arg, d->kind, d->text, d->len);
            /* The sink may have aborted us (client gone): stop if so. */
            if (zhashx_lookup(self->out, msg->rid) != f)
                return;
        }
        s_grant(self, f);
        break;
    case WIRE_END: {
        if (msg->has_chunks && msg->chunks > f->next_seq) {
            /* chunks before it were lost: they come again, then the end */
            self->cs.gaps++;
            s_ack(self, f);
            return;
        }
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
        s_release(self, f);
        s_send_cancel(self, f->peer, f->rid); /* acks the end: the executor forgets it */
        usage_t usage = {msg->prompt_tokens, msg->completion_tokens};
        f->sink->end(f->arg, msg->finish_reason ? msg->finish_reason : "stop", &usage);
        s_fwd_free(f);
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

/*  f was not accepted in time: accept_ms passed and the link to its peer
    carried it (the peer answered a `fwd` we sent as late or later: one
    connection keeps order), so the peer did not take it. A connection
    made again loses what was in flight on the old one, though, so a
    later `fwd` answered proves nothing about ours: that evidence counts
    only after ours went again FORWARD_LATE_REFWDS times and a `fwd` sent
    after the last was answered. Without it (a TCP connection stalled by
    loss one way, or being made again) the `fwd` or its acceptance may
    still be on the way: it waits, up to FORWARD_ACCEPT_STALL × accept_ms;
    a peer that is really gone is failed sooner by the failure detector
    (forward_peer_gone, --dead-ms). s_passed_over: the evidence alone. */
static bool s_passed_over(const forward_t *self, const fwd_t *f, long long now)
{
    return now - f->started_ms > self->cfg.accept_ms && f->p && f->p->answered >= f->fwd_ms;
}

static bool s_accept_late(forward_t *self, const fwd_t *f, long long now)
{
    long long waited = now - f->started_ms;
    if (waited <= self->cfg.accept_ms)
        return false;
    return waited > FORWARD_ACCEPT_STALL * self->cfg.accept_ms ||
           (s_passed_over(self, f, now) && f->late_refwds >= FORWARD_LATE_REFWDS);
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
                    : (!f->accepted && s_accept_late(self, f, now)) ||
                          (f->accepted && f->left > 0 && now - f->last_ms > self->cfg.idle_ms))
            return f;
    }
    return NULL;
}

void forward_peer_gone(forward_t *self, const char *peer_id)
{
    uint64_t before = self->next_serial;
    for (fwd_t *f; (f = s_next_victim(self, before, peer_id, 0));)
        /* Before content another target may take it: no_capacity (503 with
           Retry-After when none does), never a 404 or a 502. */
        s_out_fail(self, f, f->content ? "upstream_error" : "no_capacity", true, 0,
                   "the peer serving this request went away");
}

/*  The `fwd` again, same rid: its acceptance may have been lost (the
    executor answers a duplicate as the same request, never runs it twice). */
static bool s_refwd(forward_t *self, fwd_t *f, long long now)
{
    if (!f->body.data)
        return false;
    wire_msg_t m = {.type = WIRE_FWD,
                    .rid = f->rid,
                    .model = f->model,
                    .request = f->body.data,
                    .request_len = f->body.len,
                    .stream = f->stream,
                    .deadline_ms = f->deadline_ms,
                    .attempt = 1,
                    .has_credit = true,
                    .credit = f->credit0,
                    .client = f->client[0] ? f->client : NULL,
                    .request_id = f->xrid[0] ? f->xrid : NULL};
    if (mesh_send(self->cfg.mesh, f->peer, &m) < 0) {
        if (!f->unsent) /* a resend refused counts: the accept timeout bounds them anyway */
            f->refwds++;
        return false;
    }
    f->fwd_ms = now;
    if (f->unsent) {
        f->unsent = false;
    } else {
        f->refwds++;
        self->cs.refwds++;
    }
    return true;
}

void forward_tick(forward_t *self)
{
    long long now = zclock_mono();
    /* Grants a full pipe or a short account cut (no allocation); acks what
       arrived, and again after silence (a lost credit or ack cannot hold a
       stream); the `fwd` again while not accepted. */
    for (fwd_t *f = zhashx_first(self->out); f; f = zhashx_next(self->out)) {
        if (f->p->lent < FORWARD_PEER_CREDIT)
            s_grant(self, f);
        if (!f->accepted) {
            if (f->unsent || (f->refwds < FORWARD_FWD_RESENDS &&
                              now - f->fwd_ms >= self->cfg.accept_ms / (FORWARD_FWD_RESENDS + 1)))
                s_refwd(self, f, now);
            else if (s_passed_over(self, f, now) && f->late_refwds < FORWARD_LATE_REFWDS &&
                     s_refwd(self, f, now))
                f->late_refwds++; /* later ones were answered: ours or its answer was lost */
            continue;
        }
        if (f->next_seq > f->acked && now - f->ack_ms >= FORWARD_ACK_MS)
            s_ack(self, f);
        else if (now - f->last_ms >= FORWARD_REACK_MS && now - f->ack_ms >= FORWARD_REACK_MS) {
            s_ack(self, f);
            self->cs.reacks++;
        }
    }
    uint64_t before = self->next_serial;
    for (fwd_t *f; (f = s_next_victim(self, before, NULL, now));) {
        bool accepted = f->accepted;
        /* (s_out_fail sends the `cancel`) before content another target may take it: no_capacity
         * (503) */
        s_out_fail(self, f, f->content ? "upstream_error" : "no_capacity", true, 0,
                   accepted ? "the peer stopped sending mid-answer"
                            : "the peer did not accept the request in time");
    }
}

void forward_stats(const forward_t *self, forward_stats_t *out)
{
    out->outgoing = zhashx_size(self->out);
    out->credit = self->cs;
}

void forward_destroy(forward_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    forward_t *self = *self_p;
    for (fwd_t *f = zhashx_first(self->out); f; f = zhashx_next(self->out)) {
        s_send_cancel(self, f->peer, f->rid);
        s_fwd_free(f);
    }
    zhashx_destroy(&self->out);
    zhashx_destroy(&self->peers);
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
