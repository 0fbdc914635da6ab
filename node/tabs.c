/*  tabs — see tabs.h. */
#include "node/tabs.h"

#include <czmq.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/arena_payload.h"
#include "protocol/frame.h"

#define TABS_DRIFT_BODY 300  /* bytes of an unrecognised answer kept and logged */
#define TABS_DRIFT_KINDS 256 /* kinds logged once each, then counted only */
#define TABS_ACCT_PREFIX "a:"

typedef struct {
    char *id;
    char *href;
    char *ua;
    int inflight;
    int paused; /* its execs held (tabs_exec_pause): the link stops reading it while > 0 */
    bool held;  /* what the link was last told (link_pause) */
    bool challenged;
    long long connected_ms;
    char account[PACE_ACCOUNT_MAX];         /* pace key: the reported hash, else "tab:<id>" */
    char flag_id[TABS_ACCOUNT_COOLDOWN_ID]; /* its flag's cooldown id, kept with it */
    bool account_known;
    int logged_in;       /* -1 unknown, 0 no, 1 yes (state frames) */
    bool login_required; /* a 401 since the last state saying logged in */
    char upload[16];     /* how its page took images last: "signed" | "inline" */
    /* the last upstream answer we did not recognise */
    long long drift_ms;
    int drift_status;
    char drift_kind[48];
    char drift_body[TABS_DRIFT_BODY + 1];
    char drift_field[64];
} tab_t;

struct _exec_t {
    char id[24];
    tab_t *tab;
    char *model;
    char arena_id[UUID_STR_LEN];
    const target_sink_t *sink;
    void *arg;
    int status; /* 0 until head */
    char retry_after[64];
    char content_type[128];
    abuf_t errbody;
    arena_stream_t *parser;
    size_t content_deltas;
    bool finish_seen;
    char finish_reason[24];
    usage_t usage;
    bool arena_error;
    char upstream_error[200];
    tabs_t *owner;
    bool in_parser; /* inside arena_stream_feed/finish: sinks may abort us */
    bool aborted;   /* tabs_exec_abort ran meanwhile: free once the parser returns */
    bool orphan;    /* its tab went away: to be failed (s_tab_gone) */
    bool paused;    /* tabs_exec_pause: counted in its tab's paused */
};

struct _tabs_t {
    tabs_config_t cfg;
    zhashx_t *tabs;  /* tab id → tab_t */
    zhashx_t *execs; /* exec id → exec_t */
    unsigned long long next_id;
    zhashx_t *drift_logged; /* drift kinds already logged */
    abuf_t out;             /* frame scratch */
    bool unsynced;          /* a link_pause did not go: tabs_handle_event tries again */
};

static void s_tab_free(void **item)
{
    tab_t *tab = *item;
    if (!tab)
        return;
    free(tab->id);
    free(tab->href);
    free(tab->ua);
    free(tab);
    *item = NULL;
}

static void s_exec_free(exec_t **exec_p)
{
    exec_t *x = *exec_p;
    if (!x)
        return;
    arena_stream_destroy(&x->parser);
    abuf_free(&x->errbody);
    free(x->model);
    free(x);
    *exec_p = NULL;
}

tabs_t *tabs_new(const tabs_config_t *cfg)
{
    tabs_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.tab_jobs < 1)
        self->cfg.tab_jobs = 1;
    if (self->cfg.max_error_body == 0)
        self->cfg.max_error_body = 64 * 1024;
    self->tabs = zhashx_new();
    self->execs = zhashx_new();
    self->drift_logged = zhashx_new();
    if (!self->tabs || !self->execs || !self->drift_logged) {
        tabs_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->tabs, s_tab_free);
    return self;
}

void tabs_destroy(tabs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tabs_t *self = *self_p;
    if (self->execs) {
        exec_t *x = zhashx_first(self->execs);
        while (x) {
            s_exec_free(&x);
            x = zhashx_next(self->execs);
        }
        zhashx_destroy(&self->execs);
    }
    zhashx_destroy(&self->tabs);
    zhashx_destroy(&self->drift_logged);
    abuf_free(&self->out);
    free(self);
    *self_p = NULL;
}

static void s_send(tabs_t *self, const char *tab_id)
{
    if (link_send(self->cfg.link, tab_id, self->out.data, self->out.len) < 0)
        alog_warn_rl("link queue full: frame to tab %s dropped", tab_id);
}

static void s_accounts_changed(tabs_t *self)
{
    if (self->cfg.on_accounts)
        self->cfg.on_accounts(self->cfg.arg);
}

void tabs_account_cooldown_id(const char *account, char *buf, size_t size)
{
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)account, strlen(account), NULL, 0);
    char hex[sizeof h * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(buf, size, TABS_ACCT_PREFIX "%s", hex);
}

/*  The tab's pace key, and its flag's cooldown id computed once here (the
    routing checks it for every tab on every pick). */
static void s_set_account(tab_t *tab, const char *key)
{
    snprintf(tab->account, sizeof tab->account, "%s", key);
    tabs_account_cooldown_id(tab->account, tab->flag_id, sizeof tab->flag_id);
}

static long long s_flag_ms(tabs_t *self, const tab_t *tab, long long now, const char **reason)
{
    return cooldown_remaining(self->cfg.cooldowns, tab->flag_id, COOLDOWN_ALL, now, reason);
}

/*  Challenged, refused by LMArena as not logged in (401), or flagged: no
    request goes to this tab. A tab that only *says* it is logged out (its
    page shows no session cookie) still gets requests: the cookie may be
    out of the script's reach (HttpOnly) on a logged-in page, and a real
    logged-out tab costs one 401 before it rests. */
static bool s_blocked(tabs_t *self, const tab_t *tab, long long now)
{
    return tab->challenged || tab->login_required || s_flag_ms(self, tab, now, NULL) > 0;
}

static long long s_pace_ms(tabs_t *self, const tab_t *tab, long long now)
{
    return self->cfg.pace ? pace_wait_ms(self->cfg.pace, tab->account, now) : 0;
}

/*  Printable ASCII only, at most n bytes: what a log line or a status
    document may carry of an upstream body. */
static void s_printable(char *dst, size_t size, const char *src, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; src && i < n && k + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t' ? ' ' : '?');
    }
    dst[k] = '\0';
}

/*  An upstream answer we do not recognise (docs/upstream.md, "Drift"):
    kept as the tab's last one, logged once per kind. */
static void s_drift(tabs_t *self, tab_t *tab, const char *kind, int status, const char *body,
                    size_t len, const char *field)
{
    char shown[TABS_DRIFT_BODY + 1];
    s_printable(shown, sizeof shown, body, len < TABS_DRIFT_BODY ? len : TABS_DRIFT_BODY);
    if (tab) {
        tab->drift_ms = zclock_time();
        tab->drift_status = status;
        snprintf(tab->drift_kind, sizeof tab->drift_kind, "%s", kind);
        snprintf(tab->drift_body, sizeof tab->drift_body, "%s", shown);
        snprintf(tab->drift_field, sizeof tab->drift_field, "%s", field ? field : "");
    }
    if (zhashx_lookup(self->drift_logged, kind))
        return;
    if (zhashx_size(self->drift_logged) < TABS_DRIFT_KINDS)
        zhashx_insert(self->drift_logged, kind, (void *)1);
    alog_warn("LMArena answered something this node does not recognise (%s, status %d%s%s): "
              "%s — the site may have changed; see docs/upstream.md",
              kind, status, field && *field ? ", field " : "", field ? field : "", shown);
}

static void s_ask_page(tabs_t *self, tab_t *tab)
{
    char id[32];
    snprintf(id, sizeof id, "p%llu", ++self->next_id);
    abuf_reset(&self->out);
    if (frame_encode_page_req(&self->out, id) == 0)
        s_send(self, tab->id);
}

/*  Tells the link whether to read tab, when that changed. */
static void s_sync_hold(tabs_t *self, tab_t *tab)
{
    bool want = tab->paused > 0;
    if (tab->held == want)
        return;
    if (link_pause(self->cfg.link, tab->id, want) < 0) {
        alog_warn_rl("tab %s: the link did not take a %s yet", tab->id, want ? "pause" : "resume");
        self->unsynced = true;
        return;
    }
    tab->held = want;
}

void tabs_exec_pause(tabs_t *self, exec_t *x, bool paused)
{
    if (!x || x->paused == paused || (paused && !x->tab))
        return;
    x->paused = paused;
    if (!x->tab)
        return;
    x->tab->paused += paused ? 1 : -1;
    s_sync_hold(self, x->tab);
}

/*  Ends an exec: unlinks it, reports once, frees it, then lets queued work in. */
static void s_exec_finish(tabs_t *self, exec_t *x, const target_fail_t *fail)
{
    tabs_exec_pause(self, x, false);
    zhashx_delete(self->execs, x->id);
    if (x->tab)
        x->tab->inflight--;
    if (fail)
        x->sink->fail(x->arg, fail);
    else
        x->sink->end(x->arg, x->finish_reason[0] ? x->finish_reason : "stop", &x->usage);
    s_exec_free(&x);
    if (self->cfg.on_capacity)
        self->cfg.on_capacity(self->cfg.arg);
}

static void s_fail_init(target_fail_t *f, const exec_t *x, arena_fail_t cls, bool retryable)
{
    memset(f, 0, sizeof *f);
    f->cls = cls;
    f->retryable = retryable; /* the dispatcher applies the first-byte rule */
    f->after_content = x->content_deltas > 0;
    f->retry_after_ms = -1;
    f->model = x->model;
    f->tab = x->tab ? x->tab->id : NULL;
    f->account = x->tab ? x->tab->flag_id : NULL;
}

static void s_tab_gone(tabs_t *self, const char *tab_id, const char *reason)
{
    tab_t *tab = zhashx_lookup(self->tabs, tab_id);
    if (!tab)
        return;
    /* Detach its jobs first (no allocation: nothing may fail between here
       and the tab's free), then fail them one by one; a sink may start new
       jobs meanwhile, so look again after each. */
    size_t n = 0;
    for (exec_t *x = zhashx_first(self->execs); x; x = zhashx_next(self->execs))
        if (x->tab == tab) {
            x->tab = NULL;
            x->paused = false; /* its connection is gone */
            x->orphan = true;
            n++;
        }
    alog_info("tab %s gone (%s), failing %zu job(s)", tab_id, reason ? reason : "closed", n);
    zhashx_delete(self->tabs, tab_id);
    for (;;) {
        exec_t *x = zhashx_first(self->execs);
        while (x && !x->orphan)
            x = zhashx_next(self->execs);
        if (!x)
            break;
        x->orphan = false;
        target_fail_t f;
        s_fail_init(&f, x, ARENA_FAIL_OTHER, true);
        openai_error_set(&f.err, "upstream_error", NULL,
                         "the browser tab serving this request went away");
        s_exec_finish(self, x, &f);
    }
}

static void s_hello(tabs_t *self, const link_event_t *ev)
{
    /* A reconnecting tab id arrives after its GONE; be defensive anyway. */
    if (zhashx_lookup(self->tabs, ev->tab))
        s_tab_gone(self, ev->tab, "replaced");
    tab_t *tab = calloc(1, sizeof *tab);
    if (!tab)
        return;
    tab->id = strdup(ev->tab);
    tab->href = strdup(ev->href ? ev->href : "");
    tab->ua = strdup(ev->ua ? ev->ua : "");
    tab->connected_ms = zclock_time();
    tab->logged_in = -1;
    char key[PACE_ACCOUNT_MAX];
    snprintf(key, sizeof key, "tab:%s", ev->tab);
    s_set_account(tab, key);
    if (!tab->id || !tab->href || !tab->ua) {
        void *p = tab;
        s_tab_free(&p);
        return;
    }
    zhashx_insert(self->tabs, tab->id, tab);
    alog_info("tab %s connected from %s", tab->id, tab->href);
    s_ask_page(self, tab);
    if (self->cfg.on_capacity)
        self->cfg.on_capacity(self->cfg.arg);
}

static int s_on_stream_event(void *arg, const arena_event_t *ev)
{
    exec_t *x = arg;
    if (x->aborted)
        return 1;
    if (ev->kind == ARENA_EV_UNKNOWN) {
        s_drift(x->owner, x->tab, "stream line", 200, ev->text, ev->len, NULL);
        return 0;
    }
    /* direct-battle streams carry participant B too: only A is the answer */
    if (ev->participant != 'a')
        return 0;
    switch (ev->kind) {
    case ARENA_EV_DELTA:
        if (ev->len == 0)
            break; /* an empty delta is no content (and no first byte) */
        if (ev->delta != DELTA_CITATION)
            x->content_deltas++;
        x->sink->delta(x->arg, ev->delta, ev->text, ev->len);
        return x->aborted ? 1 : 0;
    case ARENA_EV_FINISH:
        x->finish_seen = true;
        snprintf(x->finish_reason, sizeof x->finish_reason, "%s",
                 ev->finish_reason ? ev->finish_reason : "stop");
        x->usage = ev->usage;
        break;
    case ARENA_EV_ERROR:
        snprintf(x->upstream_error, sizeof x->upstream_error, "%.*s", (int)ev->len, ev->text);
        break;
    case ARENA_EV_ARENA_ERROR:
        x->arena_error = true;
        break;
    default:
        break;
    }
    return 0;
}

/*  A refusal of the request itself: 502 upstream_error with the site's
    message and the field it named (error.param), never retried. */
static void s_permanent(target_fail_t *f, const char *what, const char *msg, const char *field)
{
    f->retryable = false;
    f->permanent = true;
    openai_error_set(&f->err, "upstream_error", field && *field ? field : NULL,
                     "LMArena refused the request (%s): %s", what, msg[0] ? msg : "no detail");
}

/*  A non-2xx answer: classify it (ARENA-UPSTREAM.md and ARENA-UPSTREAM-2026.md,
    "Errors seen") and act on what is this tab's own state (a challenge, a
    login, a drifting answer). What it costs in cooldowns is the
    dispatcher's decision (node/verdict): the verdict carries the answer's
    Retry-After, the model and the tab's account. */
static void s_classify_fail(tabs_t *self, exec_t *x, target_fail_t *f)
{
    const char *body = x->errbody.data ? x->errbody.data : "";
    arena_fail_t cls = arena_classify(x->status, x->content_type, body, x->errbody.len);
    char msg[200], field[64];
    arena_error_message(body, x->errbody.len, msg, sizeof msg);
    arena_zod_field(body, x->errbody.len, field, sizeof field);
    long long now = zclock_time();
    s_fail_init(f, x, cls, arena_fail_retryable(cls));
    f->answered = true;
    f->retry_after_ms = arena_retry_after_ms(x->retry_after[0] ? x->retry_after : NULL, now);
    switch (cls) {
    case ARENA_FAIL_RATE_LIMIT:
        /* the dispatcher cools the model and says for how long */
        openai_error_set(&f->err, "rate_limited", NULL, "LMArena rate-limited model %s", x->model);
        break;
    case ARENA_FAIL_ACCOUNT_FLAG:
        /* the dispatcher flags the account and says for how long */
        openai_error_set(&f->err, "rate_limited", NULL,
                         "LMArena flagged the account (prompt failed)");
        break;
    case ARENA_FAIL_RECAPTCHA:
        openai_error_set(&f->err, "upstream_error", NULL, "LMArena rejected the reCAPTCHA token");
        break;
    case ARENA_FAIL_CLOUDFLARE:
        if (x->tab) {
            x->tab->challenged = true;
            alog_warn("tab %s shows a Cloudflare challenge: reloading it; solve it in the browser",
                      x->tab->id);
            abuf_reset(&self->out);
            if (frame_encode_reload(&self->out) == 0)
                s_send(self, x->tab->id);
        }
        openai_error_set(&f->err, "upstream_error", NULL,
                         "LMArena answered with a Cloudflare challenge");
        break;
    case ARENA_FAIL_LOGIN:
        if (x->tab && !x->tab->login_required) {
            x->tab->login_required = true;
            alog_warn("tab %s is not logged in to LMArena (401): it rests until it says it is "
                      "logged in again (log in there, or reload it)",
                      x->tab->id);
            s_accounts_changed(self);
        }
        openai_error_set(&f->err, "upstream_error", NULL,
                         "the browser tab is not logged in to LMArena (401)");
        break;
    case ARENA_FAIL_STALE_MODEL:
        f->stale = true;
        alog_info("LMArena no longer knows row %s of model %s (404): re-reading the catalog",
                  x->arena_id, x->model);
        if (self->cfg.on_stale)
            self->cfg.on_stale(self->cfg.arg, x->model, x->arena_id);
        openai_error_set(&f->err, "upstream_error", NULL,
                         "LMArena no longer serves that row of model %s: %s", x->model, msg);
        break;
    case ARENA_FAIL_MODE:
        s_permanent(f, "mode not allowed; see --arena-mode", msg, "mode");
        break;
    case ARENA_FAIL_NOT_SELECTABLE:
        s_permanent(f, "model not selectable", msg, NULL);
        break;
    case ARENA_FAIL_NEXT_TURN:
        s_permanent(f, "follow-up into a battle", msg, NULL);
        break;
    case ARENA_FAIL_SHAPE:
        s_drift(self, x->tab, "400 shape", x->status, body, x->errbody.len, field);
        s_permanent(f, "request shape; its API may have changed", msg, field);
        break;
    case ARENA_FAIL_LOCKED:
        s_permanent(f, "message locked", msg, NULL);
        break;
    case ARENA_FAIL_MODERATION:
        f->permanent = true;
        openai_error_set(&f->err, "content_rejected", NULL, "LMArena refused the content: %s", msg);
        break;
    case ARENA_FAIL_TOO_LARGE:
        f->permanent = true;
        openai_error_set(&f->err, "request_too_large", NULL,
                         "LMArena refused the request as too large (attachments are limited to "
                         "about 5 MB each): %s",
                         msg);
        break;
    case ARENA_FAIL_DUPLICATE:
        openai_error_set(&f->err, "upstream_error", NULL, "LMArena refused re-sent ids: %s", msg);
        break;
    case ARENA_FAIL_SESSION:
        openai_error_set(&f->err, "upstream_error", NULL,
                         "LMArena refused access to the evaluation session: %s", msg);
        break;
    default: {
        /* 5xx is the site failing, a known kind of answer; anything else
           unclassified is drift */
        char kind[48];
        snprintf(kind, sizeof kind, "%d %s", x->status, arena_fail_name(cls));
        if (x->status < 500 || x->status > 599)
            s_drift(self, x->tab, kind, x->status, body, x->errbody.len, field);
        openai_error_set(&f->err, "upstream_error", NULL, "LMArena answered %d: %s", x->status,
                         msg);
        break;
    }
    }
}

static void s_done(tabs_t *self, exec_t *x)
{
    target_fail_t f;
    if (x->status == 0) {
        s_fail_init(&f, x, ARENA_FAIL_OTHER, true);
        openai_error_set(&f.err, "upstream_error", NULL, "the tab ended a job without a response");
        s_exec_finish(self, x, &f);
        return;
    }
    if (x->status < 200 || x->status > 299) {
        s_classify_fail(self, x, &f);
        s_exec_finish(self, x, &f);
        return;
    }
    int frc = ARENA_STREAM_OK;
    if (x->parser) {
        x->in_parser = true;
        frc = arena_stream_finish(x->parser, s_on_stream_event, x);
        x->in_parser = false;
        if (x->aborted) {
            s_exec_free(&x);
            return;
        }
    }
    if (frc != ARENA_STREAM_OK) {
        s_fail_init(&f, x, ARENA_FAIL_OTHER, true);
        openai_error_set(&f.err, "upstream_error", NULL, "LMArena sent an oversized line");
        s_exec_finish(self, x, &f);
        return;
    }
    if (x->content_deltas == 0) {
        s_fail_init(&f, x, ARENA_FAIL_OTHER, true);
        f.fresh_ids = true; /* empty or hasArenaError: the same tab may do with fresh ids */
        openai_error_set(&f.err, "upstream_error", NULL, "LMArena sent %s%s%s",
                         x->arena_error ? "an error" : "an empty answer",
                         x->upstream_error[0] ? ": " : "", x->upstream_error);
        s_exec_finish(self, x, &f);
        return;
    }
    if (x->arena_error || (x->upstream_error[0] && !x->finish_seen)) {
        s_fail_init(&f, x, ARENA_FAIL_OTHER, false);
        openai_error_set(&f.err, "upstream_error", NULL, "LMArena failed mid-answer%s%s",
                         x->upstream_error[0] ? ": " : "", x->upstream_error);
        s_exec_finish(self, x, &f);
        return;
    }
    s_exec_finish(self, x, NULL);
}

/*  What the tab says of itself: challenge, login, account. */
static void s_state(tabs_t *self, tab_t *tab, const frame_t *fr)
{
    bool freed = false, changed = false;
    if (tab->challenged != fr->challenge) {
        tab->challenged = fr->challenge;
        alog_info("tab %s %s", tab->id,
                  fr->challenge ? "shows a challenge" : "is clear of challenges");
        freed |= !fr->challenge;
    }
    if (fr->logged_in == 1 && tab->login_required) {
        /* any state saying logged in (a new session after a 401) frees it */
        tab->login_required = false;
        freed = true;
    }
    if (fr->logged_in >= 0 && fr->logged_in != tab->logged_in) {
        tab->logged_in = fr->logged_in;
        changed = true;
        if (fr->logged_in)
            alog_info("tab %s is logged in to LMArena", tab->id);
        else
            alog_warn("tab %s says it is not logged in to LMArena: log in in that tab (LMArena "
                      "refuses its requests until then)",
                      tab->id);
    }
    char key[PACE_ACCOUNT_MAX];
    if (fr->account)
        snprintf(key, sizeof key, "%s", fr->account);
    else if (fr->logged_in == 0)
        snprintf(key, sizeof key, "tab:%s", tab->id);
    else
        snprintf(key, sizeof key, "%s", tab->account); /* not said: unchanged */
    if (strcmp(key, tab->account) != 0) {
        s_set_account(tab, key);
        tab->account_known = fr->account != NULL;
        changed = true;
        alog_info("tab %s: account %s", tab->id, tab->account_known ? key : "unknown");
    }
    if (changed)
        s_accounts_changed(self);
    if ((freed || changed) && self->cfg.on_capacity)
        self->cfg.on_capacity(self->cfg.arg);
}

static void s_frame(tabs_t *self, const link_event_t *ev)
{
    frame_t fr;
    char why[128];
    if (frame_decode(ev->text, ev->len, &fr, why, sizeof why) != FRAME_OK) {
        alog_warn_rl("malformed frame from tab %s dropped: %s", ev->tab, why);
        return;
    }
    tab_t *tab = zhashx_lookup(self->tabs, ev->tab);
    exec_t *x = fr.id ? zhashx_lookup(self->execs, fr.id) : NULL;
    if (x && x->tab != tab)
        x = NULL; /* a tab may only speak for its own jobs */
    switch (fr.type) {
    case FRAME_HEAD:
        if (!x || x->status)
            break;
        x->status = fr.status;
        snprintf(x->retry_after, sizeof x->retry_after, "%s", fr.retry_after ? fr.retry_after : "");
        snprintf(x->content_type, sizeof x->content_type, "%s",
                 fr.content_type ? fr.content_type : "");
        if (fr.status >= 200 && fr.status <= 299 && !(x->parser = arena_stream_new(0))) {
            target_fail_t f; /* out of memory: the answer cannot be read */
            s_fail_init(&f, x, ARENA_FAIL_OTHER, true);
            openai_error_set(&f.err, "no_capacity", NULL, "out of memory reading the answer");
            abuf_reset(&self->out);
            if (frame_encode_abort(&self->out, x->id) == 0)
                s_send(self, ev->tab);
            s_exec_finish(self, x, &f);
            break;
        }
        if (fr.upload && tab && strcmp(fr.upload, tab->upload) != 0) {
            /* how this tab's page takes images (docs/upstream.md): said once per change */
            snprintf(tab->upload, sizeof tab->upload, "%s", fr.upload);
            alog_info("tab %s sends images %s", tab->id,
                      strcmp(fr.upload, "signed") == 0
                          ? "as signed uploads (the page's server actions)"
                          : "inline as data: URIs (no upload path found on the page)");
        }
        break;
    case FRAME_CHUNK:
        if (!x || !x->status)
            break;
        if (x->parser) {
            x->in_parser = true;
            int frc = arena_stream_feed(x->parser, fr.data, fr.data_len, s_on_stream_event, x);
            x->in_parser = false;
            if (x->aborted) {
                s_exec_free(&x);
                break;
            }
            if (frc != ARENA_STREAM_OK) {
                target_fail_t f;
                s_fail_init(&f, x, ARENA_FAIL_OTHER, true);
                openai_error_set(&f.err, "upstream_error", NULL, "LMArena sent an oversized line");
                abuf_reset(&self->out);
                if (frame_encode_abort(&self->out, x->id) == 0)
                    s_send(self, ev->tab);
                s_exec_finish(self, x, &f);
            }
        } else if (x->errbody.len < self->cfg.max_error_body) {
            size_t room = self->cfg.max_error_body - x->errbody.len;
            abuf_append(&x->errbody, fr.data, fr.data_len < room ? fr.data_len : room);
        }
        break;
    case FRAME_DONE:
        if (x)
            s_done(self, x);
        break;
    case FRAME_FAIL:
        if (x) {
            target_fail_t f;
            bool rc = fr.stage && strcmp(fr.stage, "recaptcha") == 0;
            s_fail_init(&f, x, rc ? ARENA_FAIL_RECAPTCHA : ARENA_FAIL_OTHER, true);
            openai_error_set(&f.err, "upstream_error", NULL, "the tab could not %s: %s",
                             rc ? "mint a reCAPTCHA token" : "reach LMArena",
                             fr.message ? fr.message : "no detail");
            s_exec_finish(self, x, &f);
        }
        break;
    case FRAME_PAGE: {
        arena_catalog_t cat = {0};
        int n = arena_catalog_extract(fr.data, fr.data_len, 0, &cat);
        if (n > 0 && self->cfg.on_catalog) {
            alog_info("tab %s: page lists %d model(s)", ev->tab, n);
            self->cfg.on_catalog(self->cfg.arg, &cat);
        } else {
            alog_warn("tab %s: page yielded no models; keeping the previous catalog (is the tab "
                      "on LMArena, logged in and past any check? see /mesh/status)",
                      ev->tab);
        }
        arena_catalog_clear(&cat);
        break;
    }
    case FRAME_STATE:
        if (tab)
            s_state(self, tab, &fr);
        break;
    default:
        break; /* pong, captured, unknown: nothing to do here */
    }
    frame_clear(&fr);
}

void tabs_handle_event(tabs_t *self, const link_event_t *ev)
{
    if (self->unsynced) { /* the link's command pipe was full: say it again */
        self->unsynced = false;
        for (tab_t *tab = zhashx_first(self->tabs); tab; tab = zhashx_next(self->tabs))
            s_sync_hold(self, tab);
    }
    switch (ev->kind) {
    case LINK_EV_HELLO:
        s_hello(self, ev);
        break;
    case LINK_EV_FRAME:
        s_frame(self, ev);
        break;
    case LINK_EV_GONE:
        s_tab_gone(self, ev->tab, ev->text);
        break;
    }
}

size_t tabs_refresh_catalog(tabs_t *self)
{
    size_t n = 0;
    for (tab_t *tab = zhashx_first(self->tabs); tab; tab = zhashx_next(self->tabs))
        if (!tab->challenged) {
            s_ask_page(self, tab);
            n++;
        }
    return n;
}

tabs_pick_t tabs_pick(tabs_t *self, const char *const *exclude, size_t n_exclude,
                      const char **tab_out)
{
    tab_t *best = NULL;
    bool routable = false;
    long long now = zclock_time();
    for (tab_t *tab = zhashx_first(self->tabs); tab; tab = zhashx_next(self->tabs)) {
        if (s_blocked(self, tab, now))
            continue;
        bool skip = false;
        for (size_t i = 0; i < n_exclude && !skip; i++)
            skip = strcmp(exclude[i], tab->id) == 0;
        if (skip)
            continue;
        routable = true;
        if (tab->inflight >= self->cfg.tab_jobs || s_pace_ms(self, tab, now) > 0)
            continue;
        if (!best || tab->inflight < best->inflight)
            best = tab;
    }
    if (best) {
        *tab_out = best->id;
        return TABS_PICK_OK;
    }
    return routable ? TABS_PICK_BUSY : TABS_PICK_NONE;
}

exec_t *tabs_exec_start(tabs_t *self, const char *tab_id, const openai_request_t *req,
                        const arena_model_t *model, const target_sink_t *sink, void *arg,
                        openai_error_t *err)
{
    tab_t *tab = zhashx_lookup(self->tabs, tab_id);
    if (!tab) {
        openai_error_set(err, "no_capacity", NULL, "the chosen tab is gone");
        return NULL;
    }
    exec_t *x = calloc(1, sizeof *x);
    if (!x || !(x->model = strdup(model->name))) {
        free(x);
        openai_error_set(err, "no_capacity", NULL, "out of memory");
        return NULL;
    }
    snprintf(x->id, sizeof x->id, "j%llu", ++self->next_id);
    snprintf(x->arena_id, sizeof x->arena_id, "%s", model->id ? model->id : "");
    x->owner = self;
    x->tab = tab;
    x->sink = sink;
    x->arg = arg;
    x->usage = (usage_t)USAGE_UNKNOWN;
    x->errbody.max = self->cfg.max_error_body;

    abuf_t body = ABUF_INIT;
    arena_payload_limits_t lim;
    arena_payload_limits_default(&lim);
    if (arena_payload_build(req, model->id, model->modality, self->cfg.arena_mode, &lim, &body,
                            NULL, err) < 0) {
        abuf_free(&body);
        s_exec_free(&x);
        return NULL;
    }
    frame_recaptcha_t rc = {ARENA_RECAPTCHA_FIELD, ARENA_RECAPTCHA_ACTION, ARENA_RECAPTCHA_SITEKEY};
    abuf_reset(&self->out);
    int rcode = frame_encode_fetch_ex(&self->out, x->id, ARENA_CREATE_EVALUATION_PATH, "POST",
                                      ARENA_CONTENT_TYPE, body.data, body.len, &rc,
                                      req->request_id[0] ? req->request_id : NULL);
    abuf_free(&body);
    if (rcode < 0 || link_send(self->cfg.link, tab->id, self->out.data, self->out.len) < 0) {
        openai_error_set(err, "no_capacity", NULL, "the browser link is saturated");
        s_exec_free(&x);
        return NULL;
    }
    zhashx_insert(self->execs, x->id, x);
    tab->inflight++;
    alog_info("%s: sent to tab %s as job %s (%s)", req->request_id[0] ? req->request_id : "-",
              tab->id, x->id, model->name);
    if (self->cfg.pace) {
        pace_start(self->cfg.pace, tab->account, zclock_time());
        s_accounts_changed(self);
    }
    return x;
}

void tabs_exec_abort(tabs_t *self, exec_t **exec_p)
{
    exec_t *x = *exec_p;
    if (!x)
        return;
    tabs_exec_pause(self, x, false);
    if (x->tab) {
        abuf_reset(&self->out);
        if (frame_encode_abort(&self->out, x->id) == 0)
            s_send(self, x->tab->id);
        x->tab->inflight--;
    }
    zhashx_delete(self->execs, x->id);
    x->tab = NULL;
    if (x->in_parser)
        x->aborted = true; /* s_frame/s_done free it when the parser returns */
    else
        s_exec_free(&x);
    *exec_p = NULL;
    if (self->cfg.on_capacity)
        self->cfg.on_capacity(self->cfg.arg);
}

const char *tabs_exec_tab(const exec_t *exec)
{
    return exec->tab ? exec->tab->id : "";
}

const char *tabs_exec_id(const exec_t *exec)
{
    return exec->id;
}

long long tabs_flag_ms(tabs_t *self, long long now_ms, const char **reason_out)
{
    long long least = 0;
    bool any = false;
    for (tab_t *tab = zhashx_first(self->tabs); tab; tab = zhashx_next(self->tabs)) {
        if (tab->challenged || tab->login_required)
            continue;
        any = true;
        const char *reason = NULL;
        long long ms = s_flag_ms(self, tab, now_ms, &reason);
        if (ms <= 0)
            return 0;
        if (least == 0 || ms < least) {
            least = ms;
            if (reason_out)
                *reason_out = reason;
        }
    }
    return any ? least : 0;
}

long long tabs_pace_ms(tabs_t *self, long long now_ms)
{
    long long least = -1;
    for (tab_t *tab = zhashx_first(self->tabs); tab; tab = zhashx_next(self->tabs)) {
        if (s_blocked(self, tab, now_ms))
            continue;
        long long ms = s_pace_ms(self, tab, now_ms);
        if (ms <= 0)
            return 0;
        if (least < 0 || ms < least)
            least = ms;
    }
    return least < 0 ? 0 : least;
}

static const char *s_hint(tabs_t *self, const tab_t *tab, long long now)
{
    if (tab->challenged)
        return "solve the Cloudflare check in this tab";
    if (tab->logged_in == 0 || tab->login_required)
        return "log in to LMArena in this tab";
    if (s_flag_ms(self, tab, now, NULL) > 0)
        return "LMArena flagged this account; it rests until the flag expires";
    if (tab->drift_ms)
        return "LMArena answered something unrecognised: see last_unrecognised and "
               "docs/upstream.md";
    return NULL;
}

void tabs_each(tabs_t *self, tabs_each_fn *fn, void *arg)
{
    long long now = zclock_time();
    for (tab_t *tab = zhashx_first(self->tabs); tab; tab = zhashx_next(self->tabs)) {
        tabs_tab_view_t v = {
            .id = tab->id,
            .href = tab->href,
            .account = tab->account,
            .account_known = tab->account_known,
            .logged_in = tab->logged_in,
            .login_required = tab->login_required,
            .challenged = tab->challenged,
            .inflight = tab->inflight,
            .connected_ms = tab->connected_ms,
            .hint = s_hint(self, tab, now),
            .drift_ms = tab->drift_ms,
            .drift_status = tab->drift_status,
            .drift_kind = tab->drift_kind,
            .drift_body = tab->drift_body,
            .drift_field = tab->drift_field,
            .upload = tab->upload,
        };
        fn(arg, &v);
    }
}

size_t tabs_accounts(tabs_t *self, const char **out, size_t max)
{
    size_t n = 0;
    for (tab_t *tab = zhashx_first(self->tabs); tab; tab = zhashx_next(self->tabs)) {
        bool seen = false;
        for (size_t i = 0; i < n && i < max && !seen; i++)
            seen = strcmp(out[i], tab->account) == 0;
        if (seen)
            continue;
        if (n < max)
            out[n] = tab->account;
        n++;
    }
    return n;
}

void tabs_stats(const tabs_t *self, tabs_stats_t *out)
{
    memset(out, 0, sizeof *out);
    zhashx_t *tabs = self->tabs;
    long long now = zclock_time();
    for (tab_t *tab = zhashx_first(tabs); tab; tab = zhashx_next(tabs)) {
        out->tabs++;
        out->inflight += (size_t)tab->inflight;
        if (!s_blocked((tabs_t *)self, tab, now)) {
            out->healthy++;
            out->capacity += (size_t)self->cfg.tab_jobs;
        }
    }
}

/* ---- the local target (node/target.h) ---- */

static void *s_target_start(void *impl, const char *id, const target_req_t *req,
                            const target_sink_t *sink, void *arg, openai_error_t *err)
{
    if (!req->model) {
        openai_error_set(err, "no_capacity", NULL, "no catalog row for a local tab");
        return NULL;
    }
    return tabs_exec_start(impl, id, req->req, req->model, sink, arg, err);
}

static void s_target_abort(void *impl, void **attempt_p)
{
    exec_t *x = *attempt_p;
    tabs_exec_abort(impl, &x);
    *attempt_p = NULL;
}

static const char *s_target_id(const void *attempt)
{
    return tabs_exec_tab(attempt);
}

const target_ops_t tabs_target_ops = {TARGET_TAB, "tab", s_target_start, s_target_abort,
                                      s_target_id};
