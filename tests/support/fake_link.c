/*  fake_link — N fake userscript tabs over libwebsockets; see fake_link.h.

    The fake thread owns the lws client context, every tab, job and timer.
    A tab writes in LWS_CALLBACK_CLIENT_WRITEABLE only: first its control
    frames (hello, pong, page, fail), then one frame of the next due job,
    round-robin, so jobs of one tab run concurrently and a slow job never
    holds up another. Jobs advance by lws_sul timers (drip, ttfb), never by
    sleeping. Other threads touch only atomics and mutex-guarded fields and
    wake the loop with lws_cancel_service(), under wake_mtx so that it never
    races the context's destruction. */
#include "tests/support/fake_link.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/frame.h"
#include "tests/support/fake_arena.h"

#define S_PROTOCOL "fake-link"
#define S_CTRL_MAX 4096      /* queued control frames per tab */
#define S_WRITES_PER_TURN 16 /* frames per WRITEABLE callback */
#define S_RELOAD_DELAY_MS 50 /* a reloaded page connects again after this */
#define S_DEFAULT_MAX_JOBS 64
#define S_MODELS_FILE_MAX (4u * 1024 * 1024)
#define S_HOST_MAX 256
#define S_GOAWAY_MS 300 /* at most this long to close every tab at destroy */

typedef enum { TAB_IDLE = 0, TAB_CONNECTING, TAB_OPEN, TAB_WELCOMED } s_tab_state_t;
/* ABRUPT: no close frame (1006 at the node); RELOAD and GOAWAY: 1001, as a
   browser does when a page reloads or a tab closes. */
typedef enum { CLOSE_NONE = 0, CLOSE_ABRUPT, CLOSE_RELOAD, CLOSE_GOAWAY } s_closing_t;
typedef enum { JOB_HEAD = 0, JOB_CHUNKS, JOB_DONE, JOB_FAIL, JOB_CLOSE, JOB_STALLED } s_step_t;

typedef struct s_frame {
    struct s_frame *next;
    char *buf; /* LWS_PRE bytes of headroom, then the frame */
    size_t len;
} s_frame_t;

typedef struct s_tab s_tab_t;

typedef struct s_job {
    struct s_job *prev, *next;
    s_tab_t *tab;
    char id[FRAME_MAX_ID + 1];
    fake_plan_t plan;
    size_t next_chunk;
    s_step_t step;
    bool due; /* its next frame may go now */
    lws_sorted_usec_list_t sul;
} s_job_t;

struct s_tab {
    fake_link_t *owner;
    size_t idx;
    char id[UUID_STR_LEN];
    struct lws *wsi;
    s_tab_state_t state;
    s_closing_t closing;
    int peer_close_code; /* from the node's close frame, 0 when none */
    unsigned backoff_ms;
    lws_sorted_usec_list_t sul; /* (re)connect timer */
    abuf_t rx;
    bool rx_overflow;
    abuf_t tx; /* scratch for job frames */
    s_frame_t *ctrl_head, *ctrl_tail;
    size_t n_ctrl;
    s_job_t *jobs_head, *jobs_tail;
    size_t n_jobs;
    atomic_bool drop_requested;
    char *scenario, *force; /* owner->mtx */
    char *account;          /* the logged-in account's hash, or NULL (fixed) */
};

typedef struct {
    atomic_ulong connects, welcomes, closes, fetches, rejected, done, failed, aborts, reloads,
        pages, pings, dropped;
} s_counters_t;

struct _fake_link_t {
    char host[S_HOST_MAX], host_header[S_HOST_MAX + 8];
    char *path, *origin, *href, *token;
    int port;
    bool reconnect;
    size_t max_jobs;
    FILE *events;
    fake_link_event_fn *on_event;
    void *on_event_arg;
    fake_arena_t *arena;
    s_tab_t *tabs;
    size_t n_tabs;
    struct lws_context *ctx;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t wake_mtx; /* guards ctx_gone against lws_cancel_service */
    bool ctx_gone;
    pthread_mutex_t mtx; /* n_welcomed, tab scenario/force */
    pthread_cond_t cond;
    size_t n_welcomed;
    s_counters_t c;
};

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- events -------------------------------------------------------------- */

/*  A new event for tab, or NULL when nobody listens (every caller copes). */
static json_t *s_ev(s_tab_t *tab, const char *name)
{
    if (!tab->owner->events && !tab->owner->on_event)
        return NULL;
    return json_pack("{s:s,s:I,s:s}", "ev", name, "tab", (json_int_t)tab->idx, "tab_id", tab->id);
}

/*  Adds t_ms, writes one line, calls the callback; steals ev. */
static void s_emit(fake_link_t *self, json_t *ev)
{
    if (!ev)
        return;
    json_object_set_new(ev, "t_ms", json_integer(s_now_ms()));
    if (self->events) {
        char *line = json_dumps(ev, JSON_COMPACT);
        if (line) {
            fprintf(self->events, "%s\n", line);
            fflush(self->events);
            free(line);
        }
    }
    if (self->on_event)
        self->on_event(self->on_event_arg, ev);
    json_decref(ev);
}

static void s_emit_id(s_tab_t *tab, const char *name, const char *id)
{
    json_t *ev = s_ev(tab, name);
    if (ev)
        json_object_set_new(ev, "id", json_string(id));
    s_emit(tab->owner, ev);
}

static void s_emit_end(s_tab_t *tab, const char *id, const char *how)
{
    json_t *ev = s_ev(tab, "end");
    if (ev) {
        json_object_set_new(ev, "id", json_string(id));
        json_object_set_new(ev, "how", json_string(how));
    }
    s_emit(tab->owner, ev);
}

/* ---- frames -------------------------------------------------------------- */

static void s_frame_free(s_frame_t *f)
{
    if (f)
        free(f->buf);
    free(f);
}

/*  Starts a frame buffer with LWS_PRE bytes of headroom. */
static int s_frame_begin(abuf_t *b)
{
    static const char pre[LWS_PRE];
    abuf_reset(b);
    return abuf_append(b, pre, LWS_PRE);
}

/*  Queues the frame in b (built after s_frame_begin) as a control frame. */
static void s_ctrl_push(s_tab_t *tab, abuf_t *b)
{
    if (tab->n_ctrl >= S_CTRL_MAX) {
        alog_warn_rl("fake-link: tab %zu: control queue full, frame dropped", tab->idx);
        abuf_free(b);
        return;
    }
    s_frame_t *f = calloc(1, sizeof *f);
    if (!f) {
        abuf_free(b);
        return;
    }
    f->buf = abuf_steal(b, &f->len);
    if (!f->buf) {
        free(f);
        return;
    }
    if (tab->ctrl_tail)
        tab->ctrl_tail->next = f;
    else
        tab->ctrl_head = f;
    tab->ctrl_tail = f;
    tab->n_ctrl++;
    if (tab->wsi)
        lws_callback_on_writable(tab->wsi);
}

static void s_ctrl_clear(s_tab_t *tab)
{
    while (tab->ctrl_head) {
        s_frame_t *f = tab->ctrl_head;
        tab->ctrl_head = f->next;
        s_frame_free(f);
    }
    tab->ctrl_tail = NULL;
    tab->n_ctrl = 0;
}

static void s_send_fail(s_tab_t *tab, const char *id, const char *stage, const char *message)
{
    abuf_t b = ABUF_INIT;
    if (s_frame_begin(&b) == 0 && frame_encode_fail(&b, id, stage, message) == 0)
        s_ctrl_push(tab, &b);
    abuf_free(&b);
}

static int s_write(struct lws *wsi, const char *buf, size_t len)
{
    size_t n = len - LWS_PRE;
    int w = lws_write(wsi, (unsigned char *)buf + LWS_PRE, n, LWS_WRITE_TEXT);
    return w < 0 || (size_t)w < n ? -1 : 0;
}

/* ---- jobs ---------------------------------------------------------------- */

static s_job_t *s_job_find(s_tab_t *tab, const char *id)
{
    for (s_job_t *j = tab->jobs_head; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static void s_job_unlink(s_job_t *job)
{
    s_tab_t *tab = job->tab;
    if (job->prev)
        job->prev->next = job->next;
    else
        tab->jobs_head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        tab->jobs_tail = job->prev;
    job->prev = job->next = NULL;
}

static void s_job_append(s_tab_t *tab, s_job_t *job)
{
    job->prev = tab->jobs_tail;
    job->next = NULL;
    if (tab->jobs_tail)
        tab->jobs_tail->next = job;
    else
        tab->jobs_head = job;
    tab->jobs_tail = job;
}

/*  Removes, reports and frees a job. */
static void s_job_end(s_job_t *job, const char *how)
{
    s_tab_t *tab = job->tab;
    lws_sul_cancel(&job->sul);
    s_job_unlink(job);
    tab->n_jobs--;
    s_emit_end(tab, job->id, how);
    fake_plan_clear(&job->plan);
    free(job);
}

static void s_job_timer(lws_sorted_usec_list_t *sul)
{
    s_job_t *job = lws_container_of(sul, s_job_t, sul);
    job->due = true;
    if (job->tab->wsi)
        lws_callback_on_writable(job->tab->wsi);
}

/*  Makes the job due after delay_ms (now when 0). */
static void s_job_wait(s_job_t *job, unsigned delay_ms)
{
    job->due = delay_ms == 0;
    if (delay_ms)
        lws_sul_schedule(job->tab->owner->ctx, 0, &job->sul, s_job_timer,
                         (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

/*  Picks the step after the head or a chunk. */
static void s_job_advance(s_job_t *job)
{
    const fake_plan_t *p = &job->plan;
    if (job->next_chunk < p->n_chunks) {
        job->step = JOB_CHUNKS;
        s_job_wait(job, p->chunks[job->next_chunk].delay_ms);
        return;
    }
    job->step = p->end == FAKE_END_CLOSE   ? JOB_CLOSE
                : p->end == FAKE_END_STALL ? JOB_STALLED
                                           : JOB_DONE;
    if (job->step == JOB_STALLED)
        job->due = false;
    else
        s_job_wait(job, p->end_delay_ms);
}

/*  Encodes the job's next frame into tab->tx. 1 when a frame is ready,
    0 when the job wrote nothing (closing the tab), -1 on failure. */
static int s_job_frame(s_job_t *job)
{
    s_tab_t *tab = job->tab;
    const fake_plan_t *p = &job->plan;
    if (s_frame_begin(&tab->tx) < 0)
        return -1;
    switch (job->step) {
    case JOB_HEAD:
        return frame_encode_head(&tab->tx, job->id, p->status, p->content_type,
                                 p->retry_after[0] ? p->retry_after : NULL) < 0
                   ? -1
                   : 1;
    case JOB_CHUNKS: {
        const fake_chunk_t *c = &p->chunks[job->next_chunk];
        return frame_encode_chunk(&tab->tx, job->id, p->body.data + c->off, c->len) < 0 ? -1 : 1;
    }
    case JOB_DONE:
        return frame_encode_done(&tab->tx, job->id) < 0 ? -1 : 1;
    case JOB_FAIL:
        return frame_encode_fail(&tab->tx, job->id, p->fail_stage, p->fail_message) < 0 ? -1 : 1;
    case JOB_CLOSE:
        tab->closing = CLOSE_ABRUPT;
        return 0;
    case JOB_STALLED:
        break;
    }
    return 0;
}

/*  After the job's frame went out: the next step, or the end. */
static void s_job_sent(s_job_t *job)
{
    s_tab_t *tab = job->tab;
    fake_link_t *self = tab->owner;
    switch (job->step) {
    case JOB_HEAD:
        s_job_advance(job);
        break;
    case JOB_CHUNKS:
        job->next_chunk++;
        s_job_advance(job);
        break;
    case JOB_DONE:
        atomic_fetch_add(&self->c.done, 1);
        s_job_end(job, "done");
        return;
    case JOB_FAIL:
        atomic_fetch_add(&self->c.failed, 1);
        s_job_end(job, "failed");
        return;
    default:
        return;
    }
    /* Round-robin: the job that just wrote goes to the back. */
    s_job_unlink(job);
    s_job_append(tab, job);
}

static s_job_t *s_job_due(s_tab_t *tab)
{
    for (s_job_t *j = tab->jobs_head; j; j = j->next)
        if (j->due)
            return j;
    return NULL;
}

static void s_jobs_close_all(s_tab_t *tab)
{
    while (tab->jobs_head)
        s_job_end(tab->jobs_head, "closed");
}

/* ---- connections --------------------------------------------------------- */

static void s_tab_connect(s_tab_t *tab);

static void s_connect_timer(lws_sorted_usec_list_t *sul)
{
    s_tab_t *tab = lws_container_of(sul, s_tab_t, sul);
    if (!atomic_load(&tab->owner->stop))
        s_tab_connect(tab);
}

static void s_schedule_connect(s_tab_t *tab, unsigned delay_ms)
{
    lws_sul_schedule(tab->owner->ctx, 0, &tab->sul, s_connect_timer,
                     (lws_usec_t)delay_ms * LWS_US_PER_MS);
}

/*  The tab's connection is gone (closed, failed or never made): end its jobs
    and plan the next attempt. Idempotent per connection. */
static void s_tab_gone(s_tab_t *tab, struct lws *wsi, const char *why)
{
    fake_link_t *self = tab->owner;
    if (tab->state == TAB_IDLE || (wsi && tab->wsi && tab->wsi != wsi))
        return;
    s_tab_state_t was = tab->state;
    tab->state = TAB_IDLE;
    tab->wsi = NULL;
    if (was == TAB_WELCOMED) {
        pthread_mutex_lock(&self->mtx);
        self->n_welcomed--;
        pthread_cond_broadcast(&self->cond);
        pthread_mutex_unlock(&self->mtx);
    }
    s_jobs_close_all(tab);
    s_ctrl_clear(tab);
    abuf_reset(&tab->rx);
    tab->rx_overflow = false;
    if (was >= TAB_OPEN) {
        atomic_fetch_add(&self->c.closes, 1);
        int code = tab->peer_close_code           ? tab->peer_close_code
                   : tab->closing >= CLOSE_RELOAD ? LWS_CLOSE_STATUS_GOINGAWAY
                                                  : LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
        json_t *ev = s_ev(tab, "closed");
        if (ev)
            json_object_set_new(ev, "code", json_integer(code));
        s_emit(self, ev);
    } else {
        json_t *ev = s_ev(tab, "connect_error");
        if (ev)
            json_object_set_new(ev, "reason", json_string(why ? why : "connect failed"));
        s_emit(self, ev);
    }
    if (atomic_load(&self->stop))
        return;
    if (tab->closing == CLOSE_RELOAD) {
        s_schedule_connect(tab, S_RELOAD_DELAY_MS);
    } else if (self->reconnect) {
        s_schedule_connect(tab, tab->backoff_ms);
        tab->backoff_ms = tab->backoff_ms * 2 > FAKE_LINK_RECONNECT_MAX_MS
                              ? FAKE_LINK_RECONNECT_MAX_MS
                              : tab->backoff_ms * 2;
    }
}

static void s_tab_connect(s_tab_t *tab)
{
    fake_link_t *self = tab->owner;
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = self->ctx;
    i.address = self->host;
    i.port = self->port;
    i.path = self->path;
    i.host = self->host_header;
    i.origin = self->origin;
    i.local_protocol_name = S_PROTOCOL;
    i.userdata = tab;
    i.pwsi = &tab->wsi;
    tab->state = TAB_CONNECTING;
    tab->closing = CLOSE_NONE;
    tab->peer_close_code = 0;
    if (!lws_client_connect_via_info(&i) && tab->state == TAB_CONNECTING) {
        tab->wsi = NULL;
        s_tab_gone(tab, NULL, "lws_client_connect_via_info failed");
    }
}

static void s_on_established(s_tab_t *tab, struct lws *wsi)
{
    fake_link_t *self = tab->owner;
    tab->wsi = wsi;
    tab->state = TAB_OPEN;
    atomic_fetch_add(&self->c.connects, 1);
    s_emit(self, s_ev(tab, "connected"));
    abuf_t b = ABUF_INIT;
    if (s_frame_begin(&b) == 0 &&
        frame_encode_hello(&b, self->token, tab->id, self->href, FAKE_LINK_UA) == 0)
        s_ctrl_push(tab, &b);
    abuf_free(&b);
}

/* ---- node → tab frames --------------------------------------------------- */

/*  What a logged-in tab reports after every welcome: the page can mint
    tokens, shows no challenge, and whose session it holds. */
static void s_send_account_state(s_tab_t *tab)
{
    json_t *st = json_pack("{s:s,s:b,s:b,s:s,s:b}", "type", "state", "challenge", 0, "recaptcha", 1,
                           "account", tab->account, "logged_in", 1);
    char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
    json_decref(st);
    abuf_t b = ABUF_INIT;
    if (text && s_frame_begin(&b) == 0 && abuf_puts(&b, text) == 0)
        s_ctrl_push(tab, &b);
    abuf_free(&b);
    free(text);
}

static void s_on_welcome(s_tab_t *tab, const frame_t *f)
{
    fake_link_t *self = tab->owner;
    atomic_fetch_add(&self->c.welcomes, 1);
    if (tab->state == TAB_OPEN && tab->account)
        s_send_account_state(tab);
    if (tab->state == TAB_OPEN) {
        tab->state = TAB_WELCOMED;
        tab->backoff_ms = FAKE_LINK_RECONNECT_MIN_MS;
        pthread_mutex_lock(&self->mtx);
        self->n_welcomed++;
        pthread_cond_broadcast(&self->cond);
        pthread_mutex_unlock(&self->mtx);
    }
    json_t *ev = s_ev(tab, "welcome");
    if (ev)
        json_object_set_new(ev, "node", json_string(f->node));
    s_emit(self, ev);
}

static void s_on_ping(s_tab_t *tab, const frame_t *f)
{
    abuf_t b = ABUF_INIT;
    if (s_frame_begin(&b) == 0 && frame_encode_pong(&b, f->t) == 0)
        s_ctrl_push(tab, &b);
    abuf_free(&b);
    atomic_fetch_add(&tab->owner->c.pings, 1);
    json_t *ev = s_ev(tab, "ping");
    if (ev)
        json_object_set_new(ev, "t", json_integer(f->t));
    s_emit(tab->owner, ev);
}

static void s_on_page(s_tab_t *tab, const frame_t *f)
{
    fake_link_t *self = tab->owner;
    abuf_t html = ABUF_INIT, b = ABUF_INIT;
    if (fake_arena_page(self->arena, &html) == 0 && s_frame_begin(&b) == 0 &&
        frame_encode_page(&b, f->id, self->href, html.data, html.len) == 0)
        s_ctrl_push(tab, &b);
    abuf_free(&html);
    abuf_free(&b);
    atomic_fetch_add(&self->c.pages, 1);
    s_emit_id(tab, "page", f->id);
}

static void s_on_reload(s_tab_t *tab)
{
    atomic_fetch_add(&tab->owner->c.reloads, 1);
    s_emit(tab->owner, s_ev(tab, "reload"));
    tab->closing = CLOSE_RELOAD;
    lws_callback_on_writable(tab->wsi);
}

static void s_on_abort(s_tab_t *tab, const frame_t *f)
{
    atomic_fetch_add(&tab->owner->c.aborts, 1);
    s_emit_id(tab, "abort", f->id);
    s_job_t *job = s_job_find(tab, f->id);
    if (!job)
        return; /* already ended: its done/fail went out before */
    s_send_fail(tab, job->id, "aborted", "The user aborted a request.");
    atomic_fetch_add(&tab->owner->c.failed, 1);
    s_job_end(job, "aborted");
}

/*  The scenario strings of a tab, copied under the lock. */
static void s_tab_directives(s_tab_t *tab, char **force, char **fallback)
{
    pthread_mutex_lock(&tab->owner->mtx);
    *force = tab->force ? strdup(tab->force) : NULL;
    *fallback = tab->scenario ? strdup(tab->scenario) : NULL;
    pthread_mutex_unlock(&tab->owner->mtx);
}

static void s_emit_fetch(s_tab_t *tab, const char *id, const char *request_id,
                         const fake_outcome_t *out)
{
    json_t *ev = s_ev(tab, "fetch");
    if (ev) {
        json_object_set_new(ev, "id", json_string(id));
        json_object_set_new(ev, "request_id", request_id ? json_string(request_id) : json_null());
        json_object_set_new(ev, "scenario",
                            out->scenario[0] ? json_string(out->scenario) : json_null());
        json_object_set(ev, "body", out->body ? out->body : json_null());
        json_object_set(ev, "recaptcha", out->recaptcha ? out->recaptcha : json_null());
        json_object_set_new(ev, "account", tab->account ? json_string(tab->account) : json_null());
        s_emit(tab->owner, ev);
    }
    if (!out->rejected)
        return;
    atomic_fetch_add(&tab->owner->c.rejected, 1);
    ev = s_ev(tab, "rejected");
    if (ev) {
        json_object_set_new(ev, "id", json_string(id));
        json_object_set_new(ev, "status",
                            json_integer(out->plan.end == FAKE_END_FAIL ? 0 : out->plan.status));
        json_object_set_new(ev, "reason", json_string(out->reason));
        json_object_set_new(ev, "pace_violation", json_boolean(out->pace_violation));
    }
    s_emit(tab->owner, ev);
}

/*  Refuses a fetch the tab itself cannot run (a page-side failure). */
static void s_fetch_refuse(s_tab_t *tab, const char *id, const char *message)
{
    alog_warn_rl("fake-link: tab %zu: fetch %s refused: %s", tab->idx, id, message);
    fake_outcome_t none;
    memset(&none, 0, sizeof none);
    none.rejected = true;
    none.plan.end = FAKE_END_FAIL;
    snprintf(none.reason, sizeof none.reason, "%s", message);
    s_emit_fetch(tab, id, NULL, &none);
    s_send_fail(tab, id, "fetch", message);
    atomic_fetch_add(&tab->owner->c.failed, 1);
    s_emit_end(tab, id, "failed");
}

static void s_on_fetch(s_tab_t *tab, const frame_t *f)
{
    fake_link_t *self = tab->owner;
    atomic_fetch_add(&self->c.fetches, 1);
    if (s_job_find(tab, f->id)) {
        s_fetch_refuse(tab, f->id, "a job with this id is already running in this tab");
        return;
    }
    if (tab->n_jobs >= self->max_jobs) {
        s_fetch_refuse(tab, f->id, "too many concurrent fetches in this tab");
        return;
    }
    char *force, *fallback;
    s_tab_directives(tab, &force, &fallback);
    fake_request_t req = {f->url,      f->method,   f->headers,   f->body,
                          f->body_len, f->rc_field, f->rc_action, f->rc_sitekey,
                          force,       fallback,    tab->account};
    fake_outcome_t out;
    int rc = fake_arena_handle(self->arena, &req, &out);
    free(force);
    free(fallback);
    s_job_t *job = rc == 0 ? calloc(1, sizeof *job) : NULL;
    if (!job) {
        fake_outcome_clear(&out);
        s_fetch_refuse(tab, f->id, "out of memory");
        return;
    }
    s_emit_fetch(tab, f->id, f->request_id, &out);
    job->tab = tab;
    snprintf(job->id, sizeof job->id, "%s", f->id);
    job->plan = out.plan;
    memset(&out.plan, 0, sizeof out.plan);
    fake_outcome_clear(&out);
    s_job_append(tab, job);
    tab->n_jobs++;
    if (job->plan.end == FAKE_END_FAIL) {
        job->step = JOB_FAIL;
        job->due = true;
    } else {
        job->step = JOB_HEAD;
        s_job_wait(job, job->plan.head_delay_ms);
    }
    lws_callback_on_writable(tab->wsi);
}

static void s_on_frame(s_tab_t *tab, const char *buf, size_t len)
{
    frame_t f;
    char err[160];
    if (frame_decode(buf, len, &f, err, sizeof err) != FRAME_OK) {
        atomic_fetch_add(&tab->owner->c.dropped, 1);
        alog_warn_rl("fake-link: tab %zu: malformed frame dropped: %s", tab->idx, err);
        return;
    }
    switch (f.type) {
    case LINK_WELCOME:
        s_on_welcome(tab, &f);
        break;
    case FRAME_PING:
        s_on_ping(tab, &f);
        break;
    case FRAME_PAGE_REQ:
        s_on_page(tab, &f);
        break;
    case FRAME_RELOAD:
        s_on_reload(tab);
        break;
    case FRAME_ABORT:
        s_on_abort(tab, &f);
        break;
    case FRAME_FETCH:
        s_on_fetch(tab, &f);
        break;
    default:
        alog_debug("fake-link: tab %zu: ignored a %s frame", tab->idx, frame_type_name(f.type));
        break;
    }
    frame_clear(&f);
}

/* ---- lws callbacks ------------------------------------------------------- */

static int s_on_receive(s_tab_t *tab, struct lws *wsi, const char *in, size_t len)
{
    if (!tab->rx_overflow && tab->rx.len + len > FRAME_MAX) {
        tab->rx_overflow = true;
        abuf_free(&tab->rx);
    }
    if (!tab->rx_overflow && abuf_append(&tab->rx, in, len) < 0)
        return -1;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
    if (tab->rx_overflow) {
        atomic_fetch_add(&tab->owner->c.dropped, 1);
        alog_warn_rl("fake-link: tab %zu: frame over %u bytes dropped", tab->idx, FRAME_MAX);
    } else {
        s_on_frame(tab, tab->rx.data, tab->rx.len);
    }
    abuf_reset(&tab->rx);
    tab->rx_overflow = false;
    return 0;
}

/*  Writes the next frame. 1 written, 0 nothing to write, -1 failure. */
static int s_write_next(s_tab_t *tab, struct lws *wsi)
{
    if (tab->ctrl_head) {
        s_frame_t *f = tab->ctrl_head;
        tab->ctrl_head = f->next;
        if (!tab->ctrl_head)
            tab->ctrl_tail = NULL;
        tab->n_ctrl--;
        int rc = s_write(wsi, f->buf, f->len);
        s_frame_free(f);
        return rc < 0 ? -1 : 1;
    }
    s_job_t *job = s_job_due(tab);
    if (!job)
        return 0;
    int rc = s_job_frame(job);
    if (rc <= 0)
        return rc;
    if (s_write(wsi, tab->tx.data, tab->tx.len) < 0)
        return -1;
    s_job_sent(job);
    return 1;
}

static int s_on_writeable(s_tab_t *tab, struct lws *wsi)
{
    if (tab->closing == CLOSE_ABRUPT)
        return -1; /* no close frame: the node sees 1006 */
    if (tab->closing >= CLOSE_RELOAD) {
        const char *why = tab->closing == CLOSE_RELOAD ? "reload" : "tab closed";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)why, strlen(why));
        return -1;
    }
    for (int n = 0; n < S_WRITES_PER_TURN; n++) {
        int rc = s_write_next(tab, wsi);
        if (rc < 0)
            return -1;
        if (rc == 0 || tab->closing || lws_send_pipe_choked(wsi))
            break;
    }
    if (tab->ctrl_head || s_job_due(tab) || tab->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

static void s_on_wake(fake_link_t *self)
{
    for (size_t i = 0; i < self->n_tabs; i++) {
        s_tab_t *tab = &self->tabs[i];
        if (atomic_exchange(&tab->drop_requested, false) && tab->wsi && tab->state >= TAB_OPEN) {
            tab->closing = CLOSE_ABRUPT;
            lws_callback_on_writable(tab->wsi);
        }
    }
}

static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    fake_link_t *self = lws_context_user(lws_get_context(wsi));
    s_tab_t *tab = user;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (self)
            s_on_wake(self);
        return 0;
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        char **p = in;
        int n = snprintf(*p, len, "User-Agent: %s\r\n", FAKE_LINK_UA);
        if (n < 0 || (size_t)n >= len)
            return -1;
        *p += n;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (tab)
            s_tab_gone(tab, wsi, in ? (const char *)in : "connection error");
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (tab)
            s_on_established(tab, wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return tab ? s_on_receive(tab, wsi, in, len) : 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return tab && tab->wsi == wsi ? s_on_writeable(tab, wsi) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (tab && len >= 2)
            tab->peer_close_code =
                ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (tab)
            s_tab_gone(tab, wsi, "closed");
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols s_protocols[] = {
    {S_PROTOCOL, s_callback, 0, 64 * 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void s_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        alog_warn_rl("lws: %.*s", (int)n, line);
    else
        alog_debug("lws: %.*s", (int)n, line);
}

/* ---- the thread ---------------------------------------------------------- */

static void s_wake(fake_link_t *self)
{
    pthread_mutex_lock(&self->wake_mtx);
    if (self->ctx && !self->ctx_gone)
        lws_cancel_service(self->ctx);
    pthread_mutex_unlock(&self->wake_mtx);
}

static void s_goaway_timer(lws_sorted_usec_list_t *sul)
{
    (void)sul; /* only wakes lws_service */
}

/*  Closes every open tab with 1001, like closing the browser, servicing at
    most S_GOAWAY_MS for it. */
static void s_goaway(fake_link_t *self)
{
    size_t open = 0;
    for (size_t i = 0; i < self->n_tabs; i++) {
        s_tab_t *tab = &self->tabs[i];
        if (tab->wsi && tab->state >= TAB_OPEN) {
            tab->closing = CLOSE_GOAWAY;
            lws_callback_on_writable(tab->wsi);
            open++;
        }
    }
    lws_sorted_usec_list_t guard;
    memset(&guard, 0, sizeof guard);
    lws_sul_schedule(self->ctx, 0, &guard, s_goaway_timer, S_GOAWAY_MS * LWS_US_PER_MS);
    long long until = s_now_ms() + S_GOAWAY_MS;
    while (open && s_now_ms() < until) {
        lws_service(self->ctx, 0);
        open = 0;
        for (size_t i = 0; i < self->n_tabs; i++)
            open += self->tabs[i].state >= TAB_OPEN;
    }
    lws_sul_cancel(&guard);
}

static void *s_run(void *arg)
{
    fake_link_t *self = arg;
    while (!atomic_load(&self->stop))
        lws_service(self->ctx, 0);
    s_goaway(self);
    pthread_mutex_lock(&self->wake_mtx);
    self->ctx_gone = true;
    pthread_mutex_unlock(&self->wake_mtx);
    for (size_t i = 0; i < self->n_tabs; i++) {
        lws_sul_cancel(&self->tabs[i].sul);
        for (s_job_t *j = self->tabs[i].jobs_head; j; j = j->next)
            lws_sul_cancel(&j->sul);
    }
    lws_context_destroy(self->ctx); /* ctx itself is only read again under wake_mtx */
    return NULL;
}

/* ---- construction -------------------------------------------------------- */

/*  ws://host[:port][/path] into self. */
static int s_parse_url(fake_link_t *self, const char *url)
{
    static const char scheme[] = "ws://";
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0) {
        alog_error("fake-link: url \"%s\" is not ws://host:port/path", url ? url : "");
        return -1;
    }
    const char *h = url + sizeof scheme - 1, *end;
    size_t hl;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end)
            return -1;
        hl = (size_t)(end - h - 1);
        h++;
        end++;
    } else {
        hl = strcspn(h, ":/");
        end = h + hl;
    }
    if (hl == 0 || hl >= S_HOST_MAX) {
        alog_error("fake-link: url \"%s\": bad host", url);
        return -1;
    }
    memcpy(self->host, h, hl);
    self->host[hl] = '\0';
    self->port = 80;
    if (*end == ':') {
        char *stop;
        long port = strtol(end + 1, &stop, 10);
        if (stop == end + 1 || port < 1 || port > 65535 || (*stop && *stop != '/')) {
            alog_error("fake-link: url \"%s\": bad port", url);
            return -1;
        }
        self->port = (int)port;
        end = stop;
    }
    self->path = strdup(*end ? end : "/");
    snprintf(self->host_header, sizeof self->host_header, "%s:%d", self->host, self->port);
    return self->path ? 0 : -1;
}

static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        alog_error("fake-link: cannot open models file %s", path);
        return NULL;
    }
    abuf_t b = ABUF_INIT;
    b.max = S_MODELS_FILE_MAX;
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = abuf_append(&b, chunk, n);
    if (ferror(f) || rc < 0) {
        alog_error("fake-link: cannot read models file %s (or over %u bytes)", path,
                   S_MODELS_FILE_MAX);
        rc = -1;
    }
    fclose(f);
    if (rc == 0)
        rc = abuf_append(&b, "", 0); /* NUL-terminated even when empty */
    if (rc < 0) {
        abuf_free(&b);
        return NULL;
    }
    return abuf_steal(&b, len);
}

static int s_make_arena(fake_link_t *self, const fake_link_config_t *cfg)
{
    size_t len = 0;
    char *text = cfg->models_file ? s_read_file(cfg->models_file, &len) : NULL;
    if (cfg->models_file && !text)
        return -1;
    fake_arena_config_t acfg = {
        self->origin, cfg->models, cfg->n_models, text, len, cfg->max_remembered_ids, cfg->era};
    char err[300];
    self->arena = fake_arena_new(&acfg, err, sizeof err);
    free(text);
    if (!self->arena) {
        alog_error("fake-link: %s", err);
        return -1;
    }
    fake_pace_t pace = {cfg->pace_interval_ms, cfg->pace_window, cfg->pace_window_ms};
    if (fake_arena_set_pace(self->arena, &pace) < 0) {
        alog_error("fake-link: pace %u ms, %u per %u ms: out of range", pace.interval_ms,
                   pace.window, pace.window_ms);
        return -1;
    }
    return 0;
}

static int s_check_directive(const char *what, size_t idx, const char *d)
{
    char err[300];
    if (!d || fake_link_directive_check(d, err, sizeof err) == 0)
        return 0;
    alog_error("fake-link: tab %zu %s \"%s\": %s", idx, what, d, err);
    return -1;
}

static int s_make_tabs(fake_link_t *self, const fake_link_config_t *cfg)
{
    self->tabs = calloc(self->n_tabs, sizeof *self->tabs);
    if (!self->tabs)
        return -1;
    for (size_t i = 0; i < self->n_tabs; i++) {
        s_tab_t *tab = &self->tabs[i];
        tab->owner = self;
        tab->idx = i;
        tab->backoff_ms = FAKE_LINK_RECONNECT_MIN_MS;
        atomic_init(&tab->drop_requested, false);
        uuid4_generate(tab->id);
        const char *sc = i < cfg->n_tab_scenario && cfg->tab_scenario[i] ? cfg->tab_scenario[i]
                                                                         : cfg->default_scenario;
        const char *fo = i < cfg->n_tab_force ? cfg->tab_force[i] : NULL;
        if (s_check_directive("scenario", i, sc) < 0 || s_check_directive("force", i, fo) < 0)
            return -1;
        tab->scenario = sc ? strdup(sc) : NULL;
        tab->force = fo ? strdup(fo) : NULL;
        if ((sc && !tab->scenario) || (fo && !tab->force))
            return -1;
        const char *acc =
            i < cfg->n_tab_account && cfg->tab_account[i] ? cfg->tab_account[i] : cfg->account;
        if (acc && !fake_link_account_ok(acc)) {
            alog_error("fake-link: tab %zu account \"%.40s\" is not 32 lowercase hex", i, acc);
            return -1;
        }
        if (acc && !(tab->account = strdup(acc)))
            return -1;
    }
    return 0;
}

static int s_make_context(fake_link_t *self)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, s_lws_log);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = s_protocols;
    info.gid = -1;
    info.uid = -1;
    info.user = self;
    info.options = LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
    self->ctx = lws_create_context(&info);
    if (!self->ctx) {
        alog_error("fake-link: lws_create_context failed");
        return -1;
    }
    for (size_t i = 0; i < self->n_tabs; i++)
        s_schedule_connect(&self->tabs[i], 0);
    return 0;
}

static int s_copy_config(fake_link_t *self, const fake_link_config_t *cfg)
{
    if (!cfg->token) {
        alog_error("fake-link: a token is required");
        return -1;
    }
    self->n_tabs = cfg->tabs ? cfg->tabs : 1;
    if (self->n_tabs > FAKE_LINK_MAX_TABS) {
        alog_error("fake-link: %zu tabs is over the limit of %d", self->n_tabs, FAKE_LINK_MAX_TABS);
        return -1;
    }
    self->reconnect = !cfg->no_reconnect;
    self->max_jobs = cfg->max_jobs_per_tab ? cfg->max_jobs_per_tab : S_DEFAULT_MAX_JOBS;
    self->events = cfg->events;
    self->on_event = cfg->on_event;
    self->on_event_arg = cfg->on_event_arg;
    self->origin = strdup(cfg->origin ? cfg->origin : FAKE_LINK_DEFAULT_ORIGIN);
    self->token = strdup(cfg->token);
    if (!self->origin || !self->token)
        return -1;
    size_t n = strlen(self->origin) + 2;
    self->href = malloc(n);
    if (!self->href)
        return -1;
    snprintf(self->href, n, "%s/", self->origin);
    return s_parse_url(self, cfg->url);
}

fake_link_t *fake_link_new(const fake_link_config_t *cfg)
{
    fake_link_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    atomic_init(&self->stop, false);
    pthread_mutex_init(&self->wake_mtx, NULL);
    pthread_mutex_init(&self->mtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (sodium_init() < 0 || s_copy_config(self, cfg) < 0 || s_make_arena(self, cfg) < 0 ||
        s_make_tabs(self, cfg) < 0 || s_make_context(self) < 0)
        goto err;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the caller's threads */
    int rc = pthread_create(&self->thread, NULL, s_run, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        alog_error("fake-link: cannot start the thread");
        goto err;
    }
    self->started = true;
    return self;
err:
    fake_link_destroy(&self);
    return NULL;
}

void fake_link_destroy(fake_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fake_link_t *self = *self_p;
    atomic_store(&self->stop, true);
    if (self->started) {
        s_wake(self);
        pthread_join(self->thread, NULL);
    } else if (self->ctx) {
        lws_context_destroy(self->ctx);
    }
    for (size_t i = 0; self->tabs && i < self->n_tabs; i++) {
        s_tab_t *tab = &self->tabs[i];
        while (tab->jobs_head) {
            s_job_t *j = tab->jobs_head;
            s_job_unlink(j);
            fake_plan_clear(&j->plan);
            free(j);
        }
        s_ctrl_clear(tab);
        abuf_free(&tab->rx);
        abuf_free(&tab->tx);
        free(tab->scenario);
        free(tab->force);
        free(tab->account);
    }
    free(self->tabs);
    fake_arena_destroy(&self->arena);
    free(self->path);
    free(self->origin);
    free(self->href);
    free(self->token);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mtx);
    pthread_mutex_destroy(&self->wake_mtx);
    free(self);
    *self_p = NULL;
}

/* ---- any thread ---------------------------------------------------------- */

int fake_link_wait_ready(fake_link_t *self, size_t n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&self->mtx);
    while (self->n_welcomed < n && rc == 0)
        if (pthread_cond_timedwait(&self->cond, &self->mtx, &until) != 0 && self->n_welcomed < n)
            rc = -1;
    pthread_mutex_unlock(&self->mtx);
    return rc;
}

size_t fake_link_ready_tabs(fake_link_t *self)
{
    pthread_mutex_lock(&self->mtx);
    size_t n = self->n_welcomed;
    pthread_mutex_unlock(&self->mtx);
    return n;
}

size_t fake_link_tabs(fake_link_t *self)
{
    return self->n_tabs;
}

const char *fake_link_tab_id(fake_link_t *self, size_t idx)
{
    return idx < self->n_tabs ? self->tabs[idx].id : NULL;
}

void fake_link_counters(fake_link_t *self, fake_link_counters_t *out)
{
    const s_counters_t *c = &self->c;
    *out = (fake_link_counters_t){
        atomic_load(&c->connects), atomic_load(&c->welcomes), atomic_load(&c->closes),
        atomic_load(&c->fetches),  atomic_load(&c->rejected), atomic_load(&c->done),
        atomic_load(&c->failed),   atomic_load(&c->aborts),   atomic_load(&c->reloads),
        atomic_load(&c->pages),    atomic_load(&c->pings),    atomic_load(&c->dropped),
    };
}

static int s_set(fake_link_t *self, size_t idx, const char *directive, bool force)
{
    char err[300];
    if (idx >= self->n_tabs)
        return -1;
    if (directive && fake_link_directive_check(directive, err, sizeof err) < 0) {
        alog_warn("fake-link: directive \"%s\": %s", directive, err);
        return -1;
    }
    char *copy = directive ? strdup(directive) : NULL;
    if (directive && !copy)
        return -1;
    pthread_mutex_lock(&self->mtx);
    char **slot = force ? &self->tabs[idx].force : &self->tabs[idx].scenario;
    free(*slot);
    *slot = copy;
    pthread_mutex_unlock(&self->mtx);
    return 0;
}

int fake_link_set_scenario(fake_link_t *self, size_t idx, const char *directive)
{
    return s_set(self, idx, directive, false);
}

int fake_link_set_force(fake_link_t *self, size_t idx, const char *directive)
{
    return s_set(self, idx, directive, true);
}

int fake_link_drop_tab(fake_link_t *self, size_t idx)
{
    if (idx >= self->n_tabs)
        return -1;
    atomic_store(&self->tabs[idx].drop_requested, true);
    s_wake(self);
    return 0;
}

int fake_link_directive_check(const char *directive, char *err, size_t errlen)
{
    fake_directive_t d;
    if (fake_directive_parse(directive, &d, err, errlen) < 0)
        return -1;
    fake_scenario_in_t in = {&d, "", 0, "{}", 2, 1, false};
    fake_plan_t plan;
    int rc = fake_scenario_plan(&in, &plan, err, errlen);
    fake_plan_clear(&plan);
    fake_directive_clear(&d);
    return rc;
}
