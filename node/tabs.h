/*  tabs — the node's own browser tabs (through browser_link) and the fetch
    jobs running in them: the *local target* of the dispatcher
    (tabs_target_ops, node/target.h).

    An exec is one attempt of one request in one tab: the create-evaluation
    payload goes out as a `fetch` frame, the body comes back as head/chunk/
    done frames and is parsed into deltas, and a non-2xx answer is
    classified (ARENA-UPSTREAM.md failures table) into the verdict its sink
    gets (target_fail_t: class, Retry-After, model, the tab's account). What
    is the tab's own state is handled here: Cloudflare marks the tab
    challenged and reloads it, a 401 rests it until it says it is logged in,
    an unrecognised answer is kept as its drift, a 404 stale row goes to
    on_stale. What a failure costs in cooldowns (model, node, account) is the
    dispatcher's decision (node/verdict); tabs only read the account flags.
    Each exec reports exactly one end or fail to its sink, never after
    tabs_exec_abort. Owned by the node thread. */
#ifndef ARENA_TABS_H
#define ARENA_TABS_H

#include <stdbool.h>
#include <stddef.h>

#include "browser_link/link.h"
#include "node/cooldown.h"
#include "node/pace.h"
#include "node/target.h"
#include "protocol/arena_catalog.h"
#include "protocol/arena_stream.h"
#include "protocol/openai.h"

typedef struct _tabs_t tabs_t;
typedef struct _exec_t exec_t;

typedef struct {
    link_t *link;           /* borrowed */
    cooldown_t *cooldowns;  /* borrowed: read for the accounts' flags */
    int tab_jobs;           /* concurrent fetches per tab */
    size_t max_error_body;  /* bytes kept of a non-2xx body, default 64 KiB */
    const char *arena_mode; /* mode of a new conversation; NULL: the default */
    pace_t *pace;           /* borrowed; NULL: no pacing */
    /* LMArena answered 404 Models not found for this catalog row */
    void (*on_stale)(void *arg, const char *model, const char *arena_id);
    /* a tab's account or login changed, a pace slot was taken: the node
       republishes its state (urgent) */
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
    (err->status 413/400: the request itself; 503: the tab is gone, its
    queue is full, or out of memory). */
exec_t *tabs_exec_start(tabs_t *self, const char *tab_id, const openai_request_t *req,
                        const arena_model_t *model, const target_sink_t *sink, void *arg,
                        openai_error_t *err);
/*  Stops an attempt: `abort` goes to the tab, no sink call follows. */
void tabs_exec_abort(tabs_t *self, exec_t **exec_p);
/*  Back-pressure: while any exec of a tab is paused, the link stops reading
    that tab's connection (link_pause; its other jobs wait too). Frames read
    already still arrive. An exec's end or abort resumes it. */
void tabs_exec_pause(tabs_t *self, exec_t *exec, bool paused);
const char *tabs_exec_tab(const exec_t *exec);
/*  The job id its frames carry (logs, tests). */
const char *tabs_exec_id(const exec_t *exec);

/*  The same three as target ops (impl: the tabs_t; req->model required). */
extern const target_ops_t tabs_target_ops;

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
