/*  dispatch — see dispatch.h. */
#include "node/dispatch.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/verdict.h"
#include "protocol/alog.h"

#include <sodium.h>

#define DISPATCH_MAX_TRIED 16
#define DISPATCH_SAMPLES 256
#define DISPATCH_SCAN_MS 10 /* timeouts are looked for at most this often */
#define DISPATCH_BUSY_RETRY_AFTER_MS 5000

typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_STREAMING, JOB_ENDED } job_state_t;

struct _job_t {
    dispatch_t *owner;
    job_t *prev, *next;   /* all jobs */
    job_t *qprev, *qnext; /* queued jobs: by priority (higher first), FIFO within one */
    bool in_queue;
    job_state_t state;
    openai_request_t *req;
    job_sink_t sink;
    void *arg;
    dispatch_opts_t opts;    /* peer: not kept */
    long long first_byte_ms; /* the attempt's limit for its first content; 0: none */
    long long idle_ms;       /* silence allowed after it; 0: none */
    target_t target;         /* the attempt, on a local tab or a peer */
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
    bool stale_retried;      /* a 404 stale row was retried once on its fresh twin */
    target_fail_t last_fail; /* its borrowed pointers NULL */
};

struct _dispatch_t {
    dispatch_config_t cfg;
    verdict_t *verdict;
    job_t *head;
    job_t *qhead, *qtail;
    size_t running, queued;
    size_t running_local_only; /* of running */
    bool wake;
    long long scanned_ms; /* the last timeout scan (mono) */
    unsigned long long ok, failed;
    long long samples[DISPATCH_SAMPLES];
    size_t n_samples, sample_pos;
};

static const target_sink_t s_target_sink;

dispatch_t *dispatch_new(const dispatch_config_t *cfg)
{
    dispatch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.retries < 0)
        self->cfg.retries = 0;
    verdict_config_t vc = {
        .cooldowns = cfg->cooldowns,
        .node_id = cfg->node_id,
        .cooldown_default_ms = cfg->cooldown_default_ms,
        .recaptcha_backoff_ms = cfg->recaptcha_backoff_ms,
        .recaptcha_backoff_max_ms = cfg->recaptcha_backoff_max_ms,
        .on_cooled = cfg->on_cooled,
        .arg = cfg->arg,
    };
    self->verdict = verdict_new(&vc);
    if (!self->verdict) {
        free(self);
        return NULL;
    }
    return self;
}

/*  The job leaves the running count. */
static void s_running_dec(dispatch_t *self, const job_t *job)
{
    self->running--;
    if (job->opts.local_only)
        self->running_local_only--;
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
    /* after the last job of the same or a higher priority */
    job_t *after = self->qtail;
    while (after && after->opts.priority < job->opts.priority)
        after = after->qprev;
    job->qprev = after;
    job->qnext = after ? after->qnext : self->qhead;
    if (job->qnext)
        job->qnext->qprev = job;
    else
        self->qtail = job;
    if (after)
        after->qnext = job;
    else
        self->qhead = job;
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
        s_running_dec(self, job);
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

/*  Final failure: one sink call, then the job is gone. */
static void s_job_fail(dispatch_t *self, job_t *job, const target_fail_t *f,
                       long long retry_after_ms)
{
    target_abort(&job->target);
    job_sink_t sink = job->sink;
    void *arg = job->arg;
    void (*fail)(void *, const target_fail_t *) = job->opts.fail;
    target_fail_t copy = *f; /* f may live in the job (last_fail) */
    if (!job->opts.local_only)
        self->failed++;
    s_job_free(self, job);
    if (fail)
        fail(arg, &copy);
    else
        sink.error(arg, &copy.err, retry_after_ms);
}

/*  Final error that no attempt caused: not retryable elsewhere. */
static void s_job_error(dispatch_t *self, job_t *job, const openai_error_t *err,
                        long long retry_after_ms)
{
    target_fail_t f = {.cls = ARENA_FAIL_OTHER, .retry_after_ms = -1, .err = *err};
    s_job_fail(self, job, &f, retry_after_ms);
}

/*  A local-only job that cannot run now. Returns false (the job is gone). */
static bool s_job_reject(dispatch_t *self, job_t *job, const char *reason)
{
    void (*reject)(void *, const char *) = job->opts.reject;
    void *arg = job->arg;
    s_job_free(self, job);
    reject(arg, reason);
    return false;
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
    else if (strcmp(job->last_fail.err.code, "no_capacity") == 0)
        retry = DISPATCH_BUSY_RETRY_AFTER_MS;
    s_job_fail(self, job, &job->last_fail, retry);
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

static void s_offer_peers(dispatch_t *self, const char *model, char *const *tried_peers,
                          size_t n_tried_peers, s_offer_t *o)
{
    if (!self->cfg.mesh || !self->cfg.forward)
        return;
    mesh_peer_view_t views[DISPATCH_MAX_PEERS];
    size_t n = mesh_peers(self->cfg.mesh, views, DISPATCH_MAX_PEERS);
    if (n > DISPATCH_MAX_PEERS)
        n = DISPATCH_MAX_PEERS;
    for (size_t i = 0; i < n; i++) {
        const wire_state_t *st = views[i].state;
        if (views[i].liveness != MESH_PEER_ALIVE || !st || st->leaving)
            continue;
        for (size_t k = 0; k < st->n_models; k++) {
            const wire_model_t *m = &st->models[k];
            if (strcmp(m->name, model) != 0)
                continue;
            o->served = true;
            long long cool = m->cooled_remaining_ms > st->node_cooled_remaining_ms
                                 ? m->cooled_remaining_ms
                                 : st->node_cooled_remaining_ms;
            cool -= views[i].state_age_ms;
            s_offer_cool(o, cool, m->reason && m->reason[0] ? m->reason : "rate limit");
            bool untried = !s_in(tried_peers, n_tried_peers, st->id);
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

static void s_started(dispatch_t *self, job_t *job, const char *peer)
{
    s_unqueue(self, job);
    job->state = JOB_RUNNING;
    job->attempts++;
    job->attempt_ms = zclock_mono();
    self->running++;
    if (job->opts.local_only)
        self->running_local_only++;
    if (job->sink.attempt)
        job->sink.attempt(job->arg, peer != NULL);
    if (job->sink.attempt_at)
        job->sink.attempt_at(job->arg, peer);
}

/*  Starts an attempt in a local tab: 0, or -1 with err filled. */
static int s_start_tab(dispatch_t *self, job_t *job, const char *tab, const arena_model_t *model,
                       openai_error_t *err)
{
    target_req_t treq = {.req = job->req, .model = model};
    if (target_start(&job->target, &tabs_target_ops, self->cfg.tabs, tab, &treq, &s_target_sink,
                     job, err) < 0)
        return -1;
    s_started(self, job, NULL);
    return 0;
}

/*  A peer's request: one of our tabs now, or a reject (docs/mesh-protocol.md,
    "The executor"). Returns true while the job lives. */
static bool s_route_local_only(dispatch_t *self, job_t *job)
{
    const arena_model_t *model = catalog_find(self->cfg.catalog, job->req->model);
    const char *tab = NULL;
    if (!model)
        return s_job_reject(self, job, "model not served here");
    if (cooldown_remaining(self->cfg.cooldowns, self->cfg.node_id, model->name, zclock_time(),
                           NULL) > 0)
        return s_job_reject(self, job, "model cooling here");
    if (tabs_pick(self->cfg.tabs, NULL, 0, &tab) != TABS_PICK_OK)
        return s_job_reject(self, job, "no free tab here");
    openai_error_t err;
    if (s_start_tab(self, job, tab, model, &err) == 0)
        return true;
    if (err.status == 503)
        return s_job_reject(self, job, "no free tab here");
    s_job_error(self, job, &err, 0);
    return false;
}

/*  What routing sees for one model now: this node's catalog row, the
    offer (served where, cooling, the peers with a free slot), and the
    local tab an attempt would start on. No side effects: s_route acts on
    it, dispatch_peek only reports it. tried / tried_peers: the targets a
    job already failed on (excluded). */
typedef struct {
    const arena_model_t *model; /* this node's row; NULL: not served here */
    s_offer_t offer;
    bool local_uncooled; /* served here and neither cooling nor flagged */
    tabs_pick_t pick;    /* this node's tabs when local_uncooled, else TABS_PICK_NONE */
    const char *tab;     /* pick OK: the tab (borrowed until the next event) */
} s_plan_t;

static void s_plan(dispatch_t *self, const char *name, char *const *tried, size_t n_tried,
                   char *const *tried_peers, size_t n_tried_peers, s_plan_t *p)
{
    long long now = zclock_time();
    memset(p, 0, sizeof *p);
    p->pick = TABS_PICK_NONE;
    p->model = catalog_find(self->cfg.catalog, name);
    const char *reason = NULL;
    if (p->model) {
        p->offer.served = true;
        long long cool = cooldown_remaining(self->cfg.cooldowns, self->cfg.node_id, p->model->name,
                                            now, &reason);
        const char *flag_reason = NULL;
        long long flag = tabs_flag_ms(self->cfg.tabs, now, &flag_reason);
        if (flag > cool) { /* every local tab's account is flagged */
            cool = flag;
            reason = flag_reason;
        }
        s_offer_cool(&p->offer, cool, reason && reason[0] ? reason : "rate limit");
        p->local_uncooled = cool <= 0;
    }
    s_offer_peers(self, name, tried_peers, n_tried_peers, &p->offer);
    if (p->local_uncooled)
        p->pick = tabs_pick(self->cfg.tabs, (const char *const *)tried, n_tried, &p->tab);
}

/*  Chooses a target and starts an attempt, or queues, or ends the job.
    Returns true while the job lives. */
static bool s_route(dispatch_t *self, job_t *job)
{
    if (job->opts.local_only)
        return s_route_local_only(self, job);
    s_plan_t plan;
    s_plan(self, job->req->model, job->tried, job->n_tried, job->tried_peers, job->n_tried_peers,
           &plan);
    const arena_model_t *model = plan.model;
    s_offer_t *offer = &plan.offer;
    bool local_uncooled = plan.local_uncooled;
    if (!offer->served && job->stale_retried && job->attempts <= self->cfg.retries + 1) {
        /* the row LMArena no longer knows was the last one: wait (bounded by
           the queue timeout) for the page re-read to bring its fresh twin */
        if (s_enqueue(self, job) == 0)
            return true;
    }
    if (!offer->served && job->has_fail) {
        /* It was served until its target failed (a peer lost before the
           first byte): the attempt's failure, not a 404 SDKs take as final. */
        s_job_fail_final(self, job);
        return false;
    }
    if (!offer->served) {
        s_error_code(self, job, "model_not_found", 0,
                     "model '%s' is not served by any node of this mesh", job->req->model);
        return false;
    }
    if (!offer->uncooled) {
        s_error_code(self, job, "rate_limited", offer->earliest,
                     "every session for model '%s' is cooling down (%s); retry in %lld s",
                     job->req->model, offer->reason, (offer->earliest + 999) / 1000);
        return false;
    }
    tabs_pick_t pick = plan.pick;
    if (local_uncooled) {
        if (pick == TABS_PICK_OK) {
            openai_error_t err;
            if (s_start_tab(self, job, plan.tab, model, &err) == 0)
                return true;
            if (err.status != 503) {
                s_job_error(self, job, &err, 0);
                return false;
            }
            pick = TABS_PICK_BUSY;
        }
    }
    for (const char *peer; (peer = s_choose_peer(offer));) {
        openai_error_t err;
        target_req_t treq = {.req = job->req, .deadline_ms = self->cfg.first_byte_timeout_ms};
        if (target_start(&job->target, &forward_target_ops, self->cfg.forward, peer, &treq,
                         &s_target_sink, job, &err) == 0) {
            s_started(self, job, peer);
            return true;
        }
        /* That peer cannot be reached now: drop it from this offer. */
        s_remember(job->tried_peers, &job->n_tried_peers, peer);
        size_t k = 0;
        for (size_t i = 0; i < offer->n_peers; i++)
            if (strcmp(offer->peers[i], peer) != 0) {
                offer->peers[k] = offer->peers[i];
                offer->load[k++] = offer->load[i];
            }
        offer->n_peers = k;
    }
    bool local_waits = local_uncooled && pick == TABS_PICK_BUSY;
    bool peers_wait = offer->peer_waits;
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

/*  The shorter of two limits, 0 meaning none. */
static long long s_limit(long long a, long long b)
{
    if (a <= 0)
        return b > 0 ? b : 0;
    return b > 0 && b < a ? b : a;
}

job_t *dispatch_submit_opts(dispatch_t *self, openai_request_t **req_p, const job_sink_t *sink,
                            void *arg, const dispatch_opts_t *opts)
{
    job_t *job = calloc(1, sizeof *job);
    if (!job) {
        openai_request_destroy(req_p);
        if (opts && opts->local_only) {
            opts->reject(arg, "out of memory");
            return NULL;
        }
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
    job->first_byte_ms = self->cfg.first_byte_timeout_ms;
    job->idle_ms = self->cfg.idle_timeout_ms;
    if (opts) {
        job->opts = *opts;
        job->opts.peer = NULL;
        if (opts->local_only) {
            job->first_byte_ms = s_limit(self->cfg.first_byte_timeout_ms, opts->deadline_ms);
            job->idle_ms = 0;
            alog_debug("peer %s forwards a request for %s", opts->peer ? opts->peer : "?",
                       job->req->model);
        }
    }
    job->started_ms = zclock_mono();
    job->next = self->head;
    if (self->head)
        self->head->prev = job;
    self->head = job;
    return s_route(self, job) ? job : NULL;
}

job_t *dispatch_submit(dispatch_t *self, openai_request_t **req_p, const job_sink_t *sink,
                       void *arg)
{
    return dispatch_submit_opts(self, req_p, sink, arg, NULL);
}

void dispatch_cancel(dispatch_t *self, job_t **job_p)
{
    job_t *job = *job_p;
    if (!job)
        return;
    *job_p = NULL;
    alog_debug("client gone: aborting its attempt");
    target_abort(&job->target);
    s_job_free(self, job);
}

void dispatch_pause(dispatch_t *self, job_t *job, bool paused)
{
    if (job && target_is(&job->target, TARGET_TAB))
        tabs_exec_pause(self->cfg.tabs, job->target.attempt, paused);
}

void dispatch_destroy(dispatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_t *self = *self_p;
    dispatch_fail_all(self, "the node is shutting down");
    while (self->head) { /* peers' requests node/remote did not end */
        target_fail_t f = {.cls = ARENA_FAIL_OTHER, .retryable = true, .retry_after_ms = -1};
        openai_error_set(&f.err, "no_capacity", NULL, "the serving node is shutting down");
        s_job_fail(self, self->head, &f, DISPATCH_BUSY_RETRY_AFTER_MS);
    }
    verdict_destroy(&self->verdict);
    free(self);
    *self_p = NULL;
}

/* ---- the sink handed to attempts (local tabs and peers alike) ---- */

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
    if (target_is(&job->target, TARGET_TAB))
        verdict_success(self->verdict); /* a tab answered well */
    target_done(&job->target);
    job_sink_t sink = job->sink;
    void *sink_arg = job->arg;
    if (!job->opts.local_only) {
        self->ok++;
        s_sample(self, zclock_mono() - job->started_ms);
    }
    s_job_free(self, job);
    sink.end(sink_arg, finish_reason, usage);
}

static void s_on_fail(void *arg, const target_fail_t *verdict)
{
    job_t *job = arg;
    dispatch_t *self = job->owner;
    /* what a local tab saw costs what the policy says (cooldowns) */
    target_fail_t v = *verdict;
    /* The first-byte rule, here and nowhere else: once content reached the
       client, no other target may try (targets only report what they saw). */
    if (job->state == JOB_STREAMING) {
        v.after_content = true;
        v.retryable = false;
    }
    bool on_peer = target_is(&job->target, TARGET_PEER);
    if (!on_peer)
        verdict_apply(self->verdict, &v);
    v.model = v.tab = v.account = NULL; /* borrowed for this call only */
    const target_fail_t *f = &v;
    char where[WIRE_MAX_ID + 1];
    snprintf(where, sizeof where, "%s", target_id(&job->target));
    const char *kind = target_running(&job->target) ? job->target.ops->name : "target";
    target_done(&job->target);
    s_running_dec(self, job);
    job->state = JOB_QUEUED; /* between attempts; s_route decides */
    job->last_fail = v;
    job->has_fail = true;
    alog_info("attempt %d for %s on %s %s failed (%s): %s", job->attempts, job->req->model, kind,
              where[0] ? where : "?", arena_fail_name(f->cls), f->err.message);
    bool stale_again = f->stale && job->stale_retried;
    if (f->stale)
        job->stale_retried = true;
    if (job->opts.local_only || !f->retryable || stale_again ||
        (job->attempts > self->cfg.retries && !f->stale)) {
        job->state = JOB_ENDED;
        s_job_fail_final(self, job);
        return;
    }
    /* Cooled models and challenged tabs drop out by themselves; other failures
       exclude the target for this request, except those a fresh id set cures. */
    bool same_tab_ok = f->fresh_ids || f->stale || f->cls == ARENA_FAIL_DUPLICATE ||
                       f->cls == ARENA_FAIL_RECAPTCHA;
    if (on_peer)
        s_remember(job->tried_peers, &job->n_tried_peers, where);
    else if (!same_tab_ok)
        s_remember(job->tried, &job->n_tried, where);
    job->deadline_ms = 0;
    s_route(self, job);
}

static const target_sink_t s_target_sink = {s_on_delta, s_on_end, s_on_fail};

void dispatch_wake(dispatch_t *self)
{
    self->wake = true;
}

static void s_timeout(dispatch_t *self, job_t *job, const char *what)
{
    /* A silent peer is done for this request; a silent tab may do better
       with fresh ids (it may be the only one). */
    if (target_is(&job->target, TARGET_PEER))
        s_remember(job->tried_peers, &job->n_tried_peers, target_id(&job->target));
    target_abort(&job->target);
    s_running_dec(self, job);
    target_fail_t f = {0};
    f.cls = ARENA_FAIL_OTHER;
    f.retry_after_ms = -1;
    f.retryable = job->state == JOB_RUNNING;
    f.after_content = job->state == JOB_STREAMING;
    if (job->opts.local_only) /* the origin reads it: say which node was silent */
        openai_error_set(&f.err, "upstream_error", NULL,
                         "the serving node's tab sent nothing within %lld ms", job->first_byte_ms);
    else
        openai_error_set(&f.err, "upstream_error", NULL, "LMArena %s", what);
    job->state = JOB_QUEUED;
    job->last_fail = f;
    job->has_fail = true;
    if (job->opts.local_only || !f.retryable || job->attempts > self->cfg.retries) {
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
        const wire_state_t *st = views[i].state;
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
    /* Timeouts (at most every DISPATCH_SCAN_MS: this runs after every event
       batch, and a scan walks every job). Collect first: routing may free
       or re-link jobs. */
    bool scan = now - self->scanned_ms >= DISPATCH_SCAN_MS || now < self->scanned_ms;
    if (scan)
        self->scanned_ms = now;
    for (job_t *job = scan ? self->head : NULL, *next; job; job = next) {
        next = job->next;
        bool attempt = target_running(&job->target);
        if (job->state == JOB_RUNNING && attempt && job->first_byte_ms > 0 &&
            now - job->attempt_ms > job->first_byte_ms) {
            s_timeout(self, job, "sent nothing in time");
            self->wake = true;
            self->scanned_ms = now - DISPATCH_SCAN_MS; /* the next poll scans again */
            break; /* the list may have changed; the next poll continues */
        }
        if (job->state == JOB_STREAMING && attempt && job->idle_ms > 0 &&
            now - job->last_event_ms > job->idle_ms) {
            s_timeout(self, job, "stopped sending mid-answer");
            self->wake = true;
            self->scanned_ms = now - DISPATCH_SCAN_MS;
            break;
        }
    }
    for (job_t *job = scan ? self->qhead : NULL, *next; job; job = next) {
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
    /* Start queued work in queue order (priority, then FIFO) while targets take it. */
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
    /* a sink may end or start other jobs: look from the head after each */
    for (job_t *job = self->head; job;) {
        if (job->opts.local_only) {
            job = job->next;
            continue;
        }
        s_error_code(self, job, "no_capacity", DISPATCH_BUSY_RETRY_AFTER_MS, "%s", message);
        job = self->head;
    }
}

static int s_cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

void dispatch_stats(const dispatch_t *self, dispatch_stats_t *out)
{
    out->running = self->running - self->running_local_only;
    out->queued = self->queued;
    out->for_peers = self->running_local_only;
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

int dispatch_model_kind(dispatch_t *self, const char *model, char *ratios, size_t len)
{
    if (ratios && len)
        ratios[0] = '\0';
    const arena_model_t *local = model ? catalog_find(self->cfg.catalog, model) : NULL;
    if (local) {
        if (ratios && len && local->aspect_ratios)
            snprintf(ratios, len, "%s", local->aspect_ratios);
        return (int)local->modality;
    }
    if (!model || !self->cfg.mesh)
        return -1;
    mesh_peer_view_t views[DISPATCH_MAX_PEERS];
    size_t n = mesh_peers(self->cfg.mesh, views, DISPATCH_MAX_PEERS);
    if (n > DISPATCH_MAX_PEERS)
        n = DISPATCH_MAX_PEERS;
    for (size_t i = 0; i < n; i++) {
        const wire_state_t *st = views[i].state;
        if (views[i].liveness != MESH_PEER_ALIVE || !st || st->leaving)
            continue;
        for (size_t k = 0; k < st->n_models; k++) {
            const wire_model_t *m = &st->models[k];
            if (strcmp(m->name, model) != 0)
                continue;
            const char *kind = m->modality ? m->modality : "chat";
            return strcmp(kind, "image") == 0    ? (int)ARENA_MODALITY_IMAGE
                   : strcmp(kind, "search") == 0 ? (int)ARENA_MODALITY_SEARCH
                                                 : (int)ARENA_MODALITY_CHAT;
        }
    }
    return -1;
}

void dispatch_peek(dispatch_t *self, const char *model, dispatch_peek_t *out)
{
    memset(out, 0, sizeof *out);
    s_plan_t plan;
    s_plan(self, model ? model : "", NULL, 0, NULL, 0, &plan);
    const s_offer_t *o = &plan.offer;
    if (!o->served) {
        out->state = DISPATCH_PEEK_NONE;
        snprintf(out->why, sizeof out->why, "no node of the mesh serves it");
        return;
    }
    if (!o->uncooled) {
        out->state = DISPATCH_PEEK_COOLING;
        out->retry_ms = o->earliest;
        snprintf(out->why, sizeof out->why,
                 "every node serving it is cooling down (%.120s): refused for %lld s",
                 o->reason ? o->reason : "rate limit", (o->earliest + 999) / 1000);
        return;
    }
    if (plan.pick == TABS_PICK_OK) {
        out->state = DISPATCH_PEEK_LOCAL;
        snprintf(out->node, sizeof out->node, "%s", self->cfg.node_id);
        snprintf(out->why, sizeof out->why, "a tab of this node is free (local tabs come first)");
        return;
    }
    bool paced = plan.pick == TABS_PICK_BUSY && tabs_pace_ms(self->cfg.tabs, zclock_time()) > 0;
    const char *here = !plan.model            ? "not served here"
                       : !plan.local_uncooled ? "cooling here"
                       : paced                ? "this node's accounts wait for their pace slot"
                       : plan.pick == TABS_PICK_BUSY ? "this node's tabs are busy"
                                                     : "no usable tab here";
    if (o->n_peers) {
        size_t best = 0;
        for (size_t i = 1; i < o->n_peers; i++)
            if (o->load[i] < o->load[best])
                best = i;
        out->state = DISPATCH_PEEK_PEER;
        out->candidates = o->n_peers;
        snprintf(out->node, sizeof out->node, "%s", o->peers[best]);
        if (o->n_peers == 1)
            snprintf(out->why, sizeof out->why, "%s; the one peer with a free slot", here);
        else
            snprintf(out->why, sizeof out->why,
                     "%s; the least loaded of %zu peers with a free slot", here, o->n_peers);
        return;
    }
    out->state = DISPATCH_PEEK_QUEUE;
    snprintf(out->why, sizeof out->why,
             "%s, and no peer has a free slot: it would wait in the queue", here);
}
