/*  dispatch — see dispatch.h. */
#include "node/dispatch.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"

#include <sodium.h>

#define DISPATCH_MAX_TRIED 16
#define DISPATCH_SAMPLES 256
#define DISPATCH_BUSY_RETRY_AFTER_MS 5000

typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_STREAMING, JOB_ENDED } job_state_t;

struct _job_t {
    dispatch_t *owner;
    job_t *prev, *next;   /* all jobs */
    job_t *qprev, *qnext; /* queued jobs, FIFO */
    bool in_queue;
    job_state_t state;
    openai_request_t *req;
    job_sink_t sink;
    void *arg;
    exec_t *exec; /* the attempt, on a local tab … */
    fwd_t *fwd;   /* … or on a peer */
    int attempts;
    char *tried[DISPATCH_MAX_TRIED]; /* tab ids */
    size_t n_tried;
    char *tried_peers[DISPATCH_MAX_TRIED];
    size_t n_tried_peers;
    long long started_ms;    /* submit, monotonic */
    long long deadline_ms;   /* queue deadline, monotonic */
    long long attempt_ms;    /* current attempt start, monotonic */
    long long last_event_ms; /* last delta, monotonic */
    bool has_fail;
    bool stale_retried; /* a 404 stale row was retried once on its fresh twin */
    exec_fail_t last_fail;
};

struct _dispatch_t {
    dispatch_config_t cfg;
    job_t *head;
    job_t *qhead, *qtail;
    size_t running, queued;
    bool wake;
    unsigned long long ok, failed;
    long long samples[DISPATCH_SAMPLES];
    size_t n_samples, sample_pos;
};

static const exec_sink_t s_exec_sink;

dispatch_t *dispatch_new(const dispatch_config_t *cfg)
{
    dispatch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.retries < 0)
        self->cfg.retries = 0;
    return self;
}

static void s_unqueue(dispatch_t *self, job_t *job)
{
    if (!job->in_queue)
        return;
    if (job->qprev)
        job->qprev->qnext = job->qnext;
    else
        self->qhead = job->qnext;
    if (job->qnext)
        job->qnext->qprev = job->qprev;
    else
        self->qtail = job->qprev;
    job->qprev = job->qnext = NULL;
    job->in_queue = false;
    self->queued--;
}

static int s_enqueue(dispatch_t *self, job_t *job)
{
    if (job->in_queue)
        return 0;
    if (self->queued >= (size_t)self->cfg.queue_max)
        return -1;
    job->qprev = self->qtail;
    if (self->qtail)
        self->qtail->qnext = job;
    else
        self->qhead = job;
    self->qtail = job;
    job->in_queue = true;
    self->queued++;
    if (job->deadline_ms == 0)
        job->deadline_ms = zclock_mono() + self->cfg.queue_timeout_ms;
    job->state = JOB_QUEUED;
    return 0;
}

/*  Unlinks and frees; the sink is not called. */
static void s_job_free(dispatch_t *self, job_t *job)
{
    s_unqueue(self, job);
    if (job->state == JOB_RUNNING || job->state == JOB_STREAMING)
        self->running--;
    if (job->prev)
        job->prev->next = job->next;
    else if (self->head == job)
        self->head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    for (size_t i = 0; i < job->n_tried; i++)
        free(job->tried[i]);
    for (size_t i = 0; i < job->n_tried_peers; i++)
        free(job->tried_peers[i]);
    openai_request_destroy(&job->req);
    free(job);
}

static void s_sample(dispatch_t *self, long long ms)
{
    self->samples[self->sample_pos] = ms;
    self->sample_pos = (self->sample_pos + 1) % DISPATCH_SAMPLES;
    if (self->n_samples < DISPATCH_SAMPLES)
        self->n_samples++;
}

/*  Stops the running attempt, wherever it runs; no sink call follows. */
static void s_abort_attempt(dispatch_t *self, job_t *job)
{
    if (job->exec)
        tabs_exec_abort(self->cfg.tabs, &job->exec);
    if (job->fwd)
        forward_abort(self->cfg.forward, &job->fwd);
}

/*  Final error: one sink call, then the job is gone. */
static void s_job_error(dispatch_t *self, job_t *job, const openai_error_t *err,
                        long long retry_after_ms)
{
    s_abort_attempt(self, job);
    job_sink_t sink = job->sink;
    void *arg = job->arg;
    openai_error_t copy = *err; /* err may live in the job (last_fail) */
    self->failed++;
    s_job_free(self, job);
    sink.error(arg, &copy, retry_after_ms);
}

static void s_error_code(dispatch_t *self, job_t *job, const char *code, long long retry_after_ms,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void s_error_code(dispatch_t *self, job_t *job, const char *code, long long retry_after_ms,
                         const char *fmt, ...)
{
    openai_error_t err;
    char msg[sizeof err.message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    openai_error_set(&err, code, NULL, "%s", msg);
    s_job_error(self, job, &err, retry_after_ms);
}

/*  Ends a job whose attempts failed: the last failure tells the client why. */
static void s_job_fail_final(dispatch_t *self, job_t *job)
{
    long long retry = 0;
    if (strcmp(job->last_fail.err.code, "rate_limited") == 0)
        retry = job->last_fail.cooled_ms;
    s_job_error(self, job, &job->last_fail.err, retry);
}

static bool s_in(char *const *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], id) == 0)
            return true;
    return false;
}

static void s_remember(char **list, size_t *n, const char *id)
{
    if (!id || !id[0] || *n >= DISPATCH_MAX_TRIED || s_in(list, *n, id))
        return;
    char *copy = strdup(id);
    if (copy)
        list[(*n)++] = copy;
}

#define DISPATCH_MAX_PEERS 256

/*  What the mesh offers for one model: served anywhere, cooling where, and
    the peers that could take it now. */
typedef struct {
    bool served;
    bool uncooled;      /* some target has it un-cooled */
    bool peer_waits;    /* an untried peer has it un-cooled (maybe busy now) */
    long long earliest; /* smallest cooldown left where served, ms */
    const char *reason;
    const char *peers[DISPATCH_MAX_PEERS];
    double load[DISPATCH_MAX_PEERS];
    size_t n_peers;
} s_offer_t;

static void s_offer_cool(s_offer_t *o, long long left, const char *reason)
{
    if (left <= 0) {
        o->uncooled = true;
    } else if (o->earliest == 0 || left < o->earliest) {
        o->earliest = left;
        o->reason = reason;
    }
}

static void s_offer_peers(dispatch_t *self, job_t *job, s_offer_t *o)
{
    if (!self->cfg.mesh || !self->cfg.forward)
        return;
    mesh_peer_view_t views[DISPATCH_MAX_PEERS];
    size_t n = mesh_peers(self->cfg.mesh, views, DISPATCH_MAX_PEERS);
    if (n > DISPATCH_MAX_PEERS)
        n = DISPATCH_MAX_PEERS;
    for (size_t i = 0; i < n; i++) {
        const mesh_state_t *st = views[i].state;
        if (views[i].liveness != MESH_PEER_ALIVE || !st || st->leaving)
            continue;
        for (size_t k = 0; k < st->n_models; k++) {
            const mesh_model_t *m = &st->models[k];
            if (strcmp(m->name, job->req->model) != 0)
                continue;
            o->served = true;
            long long cool = m->cooled_remaining_ms > st->node_cooled_remaining_ms
                                 ? m->cooled_remaining_ms
                                 : st->node_cooled_remaining_ms;
            cool -= views[i].state_age_ms;
            s_offer_cool(o, cool, m->reason && m->reason[0] ? m->reason : "rate limit");
            bool untried = !s_in(job->tried_peers, job->n_tried_peers, st->id);
            /* a peer whose accounts wait for their pace slot is busy, not cooling */
            bool paced = st->paced_remaining_ms > views[i].state_age_ms;
            if (cool <= 0 && untried && st->tabs_healthy > 0)
                o->peer_waits = true;
            if (cool <= 0 && untried && !paced && st->tabs_healthy > 0 &&
                st->inflight < st->capacity) {
                o->peers[o->n_peers] = st->id;
                o->load[o->n_peers++] = (double)st->inflight / (double)st->capacity;
            }
            break;
        }
    }
}

/*  Power of two choices: two at random, the lighter one. */
static const char *s_choose_peer(const s_offer_t *o)
{
    if (o->n_peers == 0)
        return NULL;
    size_t a = (size_t)randombytes_uniform((uint32_t)o->n_peers);
    if (o->n_peers == 1)
        return o->peers[a];
    size_t b = (size_t)randombytes_uniform((uint32_t)o->n_peers - 1);
    if (b >= a)
        b++;
    return o->load[b] < o->load[a] ? o->peers[b] : o->peers[a];
}

static void s_started(dispatch_t *self, job_t *job)
{
    s_unqueue(self, job);
    job->state = JOB_RUNNING;
    job->attempts++;
    job->attempt_ms = zclock_mono();
    self->running++;
}

/*  Chooses a target and starts an attempt, or queues, or ends the job.
    Returns true while the job lives. */
static bool s_route(dispatch_t *self, job_t *job)
{
    long long now = zclock_time();
    const arena_model_t *model = catalog_find(self->cfg.catalog, job->req->model);
    s_offer_t offer = {0};
    const char *reason = NULL;
    bool local_uncooled = false;
    if (model) {
        offer.served = true;
        long long cool =
            cooldown_remaining(self->cfg.cooldowns, self->cfg.node_id, model->name, now, &reason);
        const char *flag_reason = NULL;
        long long flag = tabs_flag_ms(self->cfg.tabs, now, &flag_reason);
        if (flag > cool) { /* every local tab's account is flagged */
            cool = flag;
            reason = flag_reason;
        }
        s_offer_cool(&offer, cool, reason && reason[0] ? reason : "rate limit");
        local_uncooled = cool <= 0;
    }
    s_offer_peers(self, job, &offer);
    if (!offer.served && job->stale_retried && job->attempts <= self->cfg.retries + 1) {
        /* the row LMArena no longer knows was the last one: wait (bounded by
           the queue timeout) for the page re-read to bring its fresh twin */
        if (s_enqueue(self, job) == 0)
            return true;
    }
    if (!offer.served) {
        s_error_code(self, job, "model_not_found", 0,
                     "model '%s' is not served by any node of this mesh", job->req->model);
        return false;
    }
    if (!offer.uncooled) {
        s_error_code(self, job, "rate_limited", offer.earliest,
                     "every session for model '%s' is cooling down (%s); retry in %lld s",
                     job->req->model, offer.reason, (offer.earliest + 999) / 1000);
        return false;
    }
    tabs_pick_t pick = TABS_PICK_NONE;
    if (local_uncooled) {
        const char *tab = NULL;
        pick = tabs_pick(self->cfg.tabs, (const char *const *)job->tried, job->n_tried, &tab);
        if (pick == TABS_PICK_OK) {
            openai_error_t err;
            job->exec =
                tabs_exec_start(self->cfg.tabs, tab, job->req, model, &s_exec_sink, job, &err);
            if (job->exec) {
                s_started(self, job);
                return true;
            }
            if (err.status != 503) {
                s_job_error(self, job, &err, 0);
                return false;
            }
            pick = TABS_PICK_BUSY;
        }
    }
    for (const char *peer; (peer = s_choose_peer(&offer));) {
        openai_error_t err;
        long long deadline = self->cfg.first_byte_timeout_ms;
        job->fwd =
            forward_start(self->cfg.forward, peer, job->req, deadline, &s_exec_sink, job, &err);
        if (job->fwd) {
            s_started(self, job);
            return true;
        }
        /* That peer cannot be reached now: drop it from this offer. */
        s_remember(job->tried_peers, &job->n_tried_peers, peer);
        size_t k = 0;
        for (size_t i = 0; i < offer.n_peers; i++)
            if (strcmp(offer.peers[i], peer) != 0) {
                offer.peers[k] = offer.peers[i];
                offer.load[k++] = offer.load[i];
            }
        offer.n_peers = k;
    }
    bool local_waits = local_uncooled && pick == TABS_PICK_BUSY;
    bool peers_wait = offer.peer_waits;
    if (job->has_fail && !local_waits && !peers_wait) {
        s_job_fail_final(self, job); /* every target that could take it was tried */
        return false;
    }
    if (s_enqueue(self, job) < 0) {
        s_error_code(self, job, "no_capacity", DISPATCH_BUSY_RETRY_AFTER_MS,
                     "no browser tab can take this request now %s", "(the queue is full)");
        return false;
    }
    return true;
}

job_t *dispatch_submit(dispatch_t *self, openai_request_t **req_p, const job_sink_t *sink,
                       void *arg)
{
    job_t *job = calloc(1, sizeof *job);
    if (!job) {
        openai_request_destroy(req_p);
        openai_error_t err;
        openai_error_set(&err, "no_capacity", NULL, "out of memory");
        sink->error(arg, &err, DISPATCH_BUSY_RETRY_AFTER_MS);
        return NULL;
    }
    job->owner = self;
    job->req = *req_p;
    *req_p = NULL;
    job->sink = *sink;
    job->arg = arg;
    job->started_ms = zclock_mono();
    job->next = self->head;
    if (self->head)
        self->head->prev = job;
    self->head = job;
    return s_route(self, job) ? job : NULL;
}

void dispatch_cancel(dispatch_t *self, job_t **job_p)
{
    job_t *job = *job_p;
    if (!job)
        return;
    *job_p = NULL;
    alog_debug("client gone: aborting its attempt");
    s_abort_attempt(self, job);
    s_job_free(self, job);
}

void dispatch_destroy(dispatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_fail_all(*self_p, "the node is shutting down");
    free(*self_p);
    *self_p = NULL;
}

/* ---- the sink handed to attempts (local tabs now, peers later) ---- */

static void s_on_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    job_t *job = arg;
    job->last_event_ms = zclock_mono();
    if (len == 0)
        return; /* nothing to show, and no first byte */
    if (kind != DELTA_CITATION)
        job->state = JOB_STREAMING;
    job->sink.delta(job->arg, kind, text, len);
}

static void s_on_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    job_t *job = arg;
    dispatch_t *self = job->owner;
    job->exec = NULL;
    job->fwd = NULL;
    job_sink_t sink = job->sink;
    void *sink_arg = job->arg;
    self->ok++;
    s_sample(self, zclock_mono() - job->started_ms);
    s_job_free(self, job);
    sink.end(sink_arg, finish_reason, usage);
}

static void s_on_fail(void *arg, const exec_fail_t *f)
{
    job_t *job = arg;
    dispatch_t *self = job->owner;
    char *tab = job->exec ? strdup(tabs_exec_tab(job->exec)) : NULL;
    char *peer = job->fwd ? strdup(forward_peer(job->fwd)) : NULL;
    job->exec = NULL;
    job->fwd = NULL;
    self->running--;
    job->state = JOB_QUEUED; /* between attempts; s_route decides */
    job->last_fail = *f;
    job->has_fail = true;
    alog_info("attempt %d for %s on %s %s failed (%s): %s", job->attempts, job->req->model,
              peer ? "peer" : "tab",
              peer  ? peer
              : tab ? tab
                    : "?",
              arena_fail_name(f->cls), f->err.message);
    bool stale_again = f->stale && job->stale_retried;
    if (f->stale)
        job->stale_retried = true;
    if (!f->retryable || f->after_content || stale_again ||
        (job->attempts > self->cfg.retries && !f->stale)) {
        free(tab);
        free(peer);
        job->state = JOB_ENDED;
        s_job_fail_final(self, job);
        return;
    }
    /* Cooled models and challenged tabs drop out by themselves; other failures
       exclude the target for this request, except those a fresh id set cures. */
    bool same_tab_ok = f->fresh_ids || f->stale || f->cls == ARENA_FAIL_DUPLICATE ||
                       f->cls == ARENA_FAIL_RECAPTCHA;
    if (!same_tab_ok && tab)
        s_remember(job->tried, &job->n_tried, tab);
    if (peer)
        s_remember(job->tried_peers, &job->n_tried_peers, peer);
    free(tab);
    free(peer);
    job->deadline_ms = 0;
    s_route(self, job);
}

static const exec_sink_t s_exec_sink = {s_on_delta, s_on_end, s_on_fail};

void dispatch_wake(dispatch_t *self)
{
    self->wake = true;
}

static void s_timeout(dispatch_t *self, job_t *job, const char *what)
{
    /* A silent peer is done for this request; a silent tab may do better
       with fresh ids (it may be the only one). */
    if (job->fwd)
        s_remember(job->tried_peers, &job->n_tried_peers, forward_peer(job->fwd));
    s_abort_attempt(self, job);
    self->running--;
    exec_fail_t f = {0};
    f.cls = ARENA_FAIL_OTHER;
    f.retryable = job->state == JOB_RUNNING;
    f.after_content = job->state == JOB_STREAMING;
    openai_error_set(&f.err, "upstream_error", NULL, "LMArena %s", what);
    job->state = JOB_QUEUED;
    job->last_fail = f;
    job->has_fail = true;
    if (!f.retryable || job->attempts > self->cfg.retries) {
        s_job_fail_final(self, job);
        return;
    }
    job->deadline_ms = 0;
    s_route(self, job);
}

/*  > 0 when the local tabs and every alive peer with healthy tabs wait for a
    pace slot: ms until the earliest one; 0 otherwise. */
static long long s_paced_ms(dispatch_t *self)
{
    long long least = tabs_pace_ms(self->cfg.tabs, zclock_time());
    tabs_stats_t ts;
    tabs_stats(self->cfg.tabs, &ts);
    if (ts.healthy > 0 && least == 0)
        return 0; /* a local tab is free of its pace: busy for another reason */
    if (!self->cfg.mesh)
        return least;
    mesh_peer_view_t views[DISPATCH_MAX_PEERS];
    size_t n = mesh_peers(self->cfg.mesh, views, DISPATCH_MAX_PEERS);
    for (size_t i = 0; i < n && i < DISPATCH_MAX_PEERS; i++) {
        const mesh_state_t *st = views[i].state;
        if (views[i].liveness != MESH_PEER_ALIVE || !st || st->leaving || st->tabs_healthy == 0)
            continue;
        long long left = st->paced_remaining_ms - views[i].state_age_ms;
        if (left <= 0)
            return 0;
        if (least == 0 || left < least)
            least = left;
    }
    return least;
}

void dispatch_poll(dispatch_t *self)
{
    long long now = zclock_mono();
    /* Timeouts. Collect first: routing may free or re-link jobs. */
    for (job_t *job = self->head, *next; job; job = next) {
        next = job->next;
        bool attempt = job->exec || job->fwd;
        if (job->state == JOB_RUNNING && attempt &&
            now - job->attempt_ms > self->cfg.first_byte_timeout_ms) {
            s_timeout(self, job, "sent nothing in time");
            self->wake = true;
            break; /* the list may have changed; the next poll continues */
        }
        if (job->state == JOB_STREAMING && attempt &&
            now - job->last_event_ms > self->cfg.idle_timeout_ms) {
            s_timeout(self, job, "stopped sending mid-answer");
            self->wake = true;
            break;
        }
    }
    for (job_t *job = self->qhead, *next; job; job = next) {
        next = job->qnext;
        if (now >= job->deadline_ms) {
            long long paced = s_paced_ms(self);
            if (paced > 0)
                s_error_code(self, job, "no_capacity", paced,
                             "every LMArena account that could take this request is resting "
                             "between requests (pacing, see docs/upstream.md); the next slot "
                             "is in %lld s",
                             (paced + 999) / 1000);
            else
                s_error_code(self, job, "no_capacity", DISPATCH_BUSY_RETRY_AFTER_MS,
                             "no browser tab could take this request %s",
                             "within the queue timeout");
        }
    }
    if (!self->wake)
        return;
    self->wake = false;
    /* Start queued work in FIFO order while targets take it. */
    size_t budget = self->queued;
    while (self->qhead && budget--) {
        job_t *job = self->qhead;
        size_t before = self->running;
        if (!s_route(self, job))
            continue;
        if (self->running == before)
            break; /* it went back to the queue (at the tail): nothing is free */
    }
}

void dispatch_fail_all(dispatch_t *self, const char *message)
{
    while (self->head)
        s_error_code(self, self->head, "no_capacity", DISPATCH_BUSY_RETRY_AFTER_MS, "%s", message);
}

static int s_cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

void dispatch_stats(const dispatch_t *self, dispatch_stats_t *out)
{
    out->running = self->running;
    out->queued = self->queued;
    out->ok = self->ok;
    out->failed = self->failed;
    out->p50_ms = -1;
    if (self->n_samples) {
        long long tmp[DISPATCH_SAMPLES];
        memcpy(tmp, self->samples, self->n_samples * sizeof tmp[0]);
        qsort(tmp, self->n_samples, sizeof tmp[0], s_cmp_ll);
        out->p50_ms = tmp[self->n_samples / 2];
    }
}
