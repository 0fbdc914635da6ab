/*  tabs — the node's own browser tabs (through browser_link) and the fetch
    jobs running in them: the *local target* of the dispatcher.

    An exec is one attempt of one request in one tab: the create-evaluation
    payload goes out as a `fetch` frame, the body comes back as head/chunk/
    done frames and is parsed into deltas, and a non-2xx answer is classified
    (ARENA-UPSTREAM.md failures table): 429 cools (node, model), Cloudflare
    marks the tab challenged and reloads it, repeated reCAPTCHA rejections cool
    the whole node with back-off. Each exec reports exactly one end or fail to
    its sink, never after tabs_exec_abort. Owned by the node thread. */
#ifndef ARENA_TABS_H
#define ARENA_TABS_H

#include <stdbool.h>
#include <stddef.h>

#include "browser_link/link.h"
#include "node/cooldown.h"
#include "node/pace.h"
#include "protocol/arena_catalog.h"
#include "protocol/arena_stream.h"
#include "protocol/openai.h"

typedef struct _tabs_t tabs_t;
typedef struct _exec_t exec_t;

/*  Why an attempt failed, and what the client should see if it is final. */
typedef struct {
    arena_fail_t cls;
    bool retryable;      /* another target (or fresh ids) may succeed */
    bool after_content;  /* content deltas were already delivered */
    bool fresh_ids;      /* the same tab may succeed with fresh ids (empty answer) */
    long long cooled_ms; /* > 0: this failure cooled the model (or node) that long */
    bool permanent;      /* the site refused the request itself: no other target tries */
    bool stale;          /* 404 Models not found: the row is marked stale; retry once */
    openai_error_t err;  /* status, code and message for the client */
} exec_fail_t;

typedef struct {
    void (*delta)(void *arg, delta_kind_t kind, const char *text, size_t len);
    void (*end)(void *arg, const char *finish_reason, const usage_t *usage);
    void (*fail)(void *arg, const exec_fail_t *f);
} exec_sink_t;

typedef struct {
    link_t *link;          /* borrowed */
    cooldown_t *cooldowns; /* borrowed */
    const char *node_id;
    int tab_jobs; /* concurrent fetches per tab */
    long long cooldown_default_ms;
    long long recaptcha_backoff_ms;     /* first whole-node cooldown, doubles; default 1200 s */
    long long recaptcha_backoff_max_ms; /* its ceiling; default 7200 s */
    size_t max_error_body;              /* bytes kept of a non-2xx body, default 64 KiB */
    const char *arena_mode;             /* mode of a new conversation; NULL: the default */
    pace_t *pace;                       /* borrowed; NULL: no pacing */
    /* LMArena answered 404 Models not found for this catalog row */
    void (*on_stale)(void *arg, const char *model, const char *arena_id);
    /* an account was flagged, a tab's account or login changed, a pace slot
       was taken: the node republishes its state (urgent) */
    void (*on_accounts)(void *arg);
    /* a tab's page yielded a model list (cat is the callee's to take) */
    void (*on_catalog)(void *arg, arena_catalog_t *cat);
    /* a slot freed or a tab arrived: the dispatcher may start queued work */
    void (*on_capacity)(void *arg);
    void *arg;
} tabs_config_t;

tabs_t *tabs_new(const tabs_config_t *cfg);
void tabs_destroy(tabs_t **self_p);

/*  Feeds one link event (HELLO, FRAME, GONE). */
void tabs_handle_event(tabs_t *self, const link_event_t *ev);
/*  Asks every tab that is not challenged for its page again (catalog
    refresh). Returns how many were asked. */
size_t tabs_refresh_catalog(tabs_t *self);

typedef enum {
    TABS_PICK_OK = 0,
    TABS_PICK_BUSY = 1, /* routable tabs exist but none has a free slot */
    TABS_PICK_NONE = 2, /* no routable tab */
} tabs_pick_t;

/*  Chooses the routable tab with the fewest jobs, skipping the tab ids in
    exclude. A tab that is challenged, not logged in, or whose account is
    flagged is not routable; a tab whose account waits for its pace slot is
    routable but busy. On OK, *tab_out borrows the tab id until the next
    event. */
tabs_pick_t tabs_pick(tabs_t *self, const char *const *exclude, size_t n_exclude,
                      const char **tab_out);

/*  Starts an attempt. NULL with err filled when the request cannot be sent
    (err->status 413/400: the request itself; 503: the tab's queue is full). */
exec_t *tabs_exec_start(tabs_t *self, const char *tab_id, const openai_request_t *req,
                        const arena_model_t *model, const exec_sink_t *sink, void *arg,
                        openai_error_t *err);
/*  Stops an attempt: `abort` goes to the tab, no sink call follows. */
void tabs_exec_abort(tabs_t *self, exec_t **exec_p);
const char *tabs_exec_tab(const exec_t *exec);

/*  0 when some tab is routable with an un-flagged account (or no tab is
    connected at all); else the least time left on the accounts' flags, and
    *reason_out borrows the reason. */
long long tabs_flag_ms(tabs_t *self, long long now_ms, const char **reason_out);
/*  0 when a routable tab's account has a free pace slot now (or no tab is
    routable); else ms until the earliest slot. */
long long tabs_pace_ms(tabs_t *self, long long now_ms);

/*  One tab as /mesh/status shows it. Strings are borrowed until the next
    event. */
typedef struct {
    const char *id, *href;
    const char *account; /* the pace key: the account hash, or "tab:<id>" */
    bool account_known;  /* the tab reported its account */
    int logged_in;       /* -1 unknown, 0 no, 1 yes */
    bool login_required; /* LMArena answered 401 */
    bool challenged;
    int inflight;
    long long connected_ms;
    const char *hint;       /* what a person should do, or NULL */
    long long drift_ms;     /* unix ms of the last unrecognised answer, 0: none */
    int drift_status;       /* its HTTP status (200 for a stream line) */
    const char *drift_kind; /* e.g. "400 shape", "line" */
    const char *drift_body; /* its first 300 bytes */
    const char *drift_field;
    const char *upload; /* how its page took images last: "signed", "inline", "" unknown */
} tabs_tab_view_t;

typedef void(tabs_each_fn)(void *arg, const tabs_tab_view_t *tab);
void tabs_each(tabs_t *self, tabs_each_fn *fn, void *arg);

/*  The cooldown node id that flags an account (model COOLDOWN_ALL): "a:"
    and a hash of the pace key, so it fits a cooldown's node id. */
#define TABS_ACCOUNT_COOLDOWN_ID 40
void tabs_account_cooldown_id(const char *account, char *buf, size_t size);

/*  The distinct pace keys of the connected tabs (borrowed until the next
    event): up to max; returns how many there are. */
size_t tabs_accounts(tabs_t *self, const char **out, size_t max);

typedef struct {
    size_t tabs;     /* connected */
    size_t healthy;  /* connected and not challenged */
    size_t inflight; /* running fetches */
    size_t capacity; /* healthy × tab_jobs */
} tabs_stats_t;
void tabs_stats(const tabs_t *self, tabs_stats_t *out);

#endif
