/*  fake_link — a stand-in for userscript tabs on LMArena, for tests and the
    benchmark. One fake_link_t plays N tabs: each tab is one libwebsockets
    client connection to an arena-node's browser link (LINK-PROTOCOL.md) with
    a stable tab id kept across reconnects. Tabs answer ping/page/reload/abort
    and run `fetch` jobs against a scripted LMArena (fake_arena.h) that
    validates the request like LMArena would (ARENA-UPSTREAM.md) and answers
    with the scenario chosen by a `[[fake:NAME key=value …]]` directive in the
    prompt, the tab's forced scenario or its default one.

    Threading: fake_link_new starts one thread that owns the lws client
    context, every connection, timer and job. The functions below may be
    called from any thread; they only touch atomics or mutex-guarded fields,
    and wake the fake thread with lws_cancel_service() (the one lws call that
    is safe from another thread). Events are emitted on the fake thread. */
#ifndef ARENA_FAKE_LINK_H
#define ARENA_FAKE_LINK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "protocol/uuid7.h"

#define FAKE_LINK_DEFAULT_ORIGIN "https://lmarena.ai"
#define FAKE_LINK_UA "fake-link/1"
#define FAKE_LINK_MAX_TABS 1024
#define FAKE_LINK_MAX_MODELS 256
#define FAKE_LINK_RECONNECT_MIN_MS 100
#define FAKE_LINK_RECONNECT_MAX_MS 2000

typedef struct _fake_link_t fake_link_t;

/*  One model of the page's catalog. */
typedef struct {
    const char *name;         /* publicName, required */
    const char *id;           /* UUID; NULL: derived from the name per era (fake_link_model_id) */
    const char *modality;     /* "chat" (default), "image" or "search" */
    const char *organization; /* NULL: "fakeco"; "" makes an anonymous model (no key) */
    bool image_input;         /* accepts image attachments */
} fake_link_model_t;

/*  Receives every event as a JSON object, borrowed for the call, on the
    fake thread (json_deep_copy it to keep it: its reference count is not
    to be shared with other threads). Keep it short: it holds up every tab. */
typedef void(fake_link_event_fn)(void *arg, const json_t *event);

typedef struct {
    const char *url;    /* ws://host:port/path, required */
    const char *origin; /* Origin header and page origin; NULL: FAKE_LINK_DEFAULT_ORIGIN */
    const char *token;  /* sent in hello, required */
    size_t tabs;        /* 0: 1 */
    /* Scenario directives ("ratelimit retry=3" or "[[fake:ratelimit retry=3]]"):
       default_scenario applies to every tab without its own tab_scenario[i];
       the default is used when a prompt has no directive; tab_force[i] wins
       over any directive. Arrays may be shorter than tabs; NULL entries skip. */
    const char *default_scenario;
    const char *const *tab_scenario;
    size_t n_tab_scenario;
    const char *const *tab_force;
    size_t n_tab_force;
    bool no_reconnect; /* tabs stay down after a close (a `reload` still reconnects) */
    /* The page's models: the four defaults (fake-chat, fake-chat-2, fake-image,
       fake-search; in 2026 then the fake-twin rows and fake-hidden), then these, then models_file
       (a JSON array of
       {"name","id"?,"modality"?,"organization"?,"image_input"?}); a later entry
       with the same name replaces an earlier one. */
    const fake_link_model_t *models;
    size_t n_models;
    const char *models_file;
    size_t max_jobs_per_tab;      /* concurrent fetches per tab; 0: 64 */
    size_t max_remembered_ids;    /* duplicate-id memory, in ids; 0: 1 << 20 */
    FILE *events;                 /* JSON lines, flushed per line; may be NULL */
    fake_link_event_fn *on_event; /* may be NULL */
    void *on_event_arg;
    const char *era; /* how the site behaves: "2026" (NULL) or "2025" */
    /* The logged-in account of each tab (32 lowercase hex, the hash the
       userscript reports): account for every tab without its own
       tab_account[i]. A tab with one sends a state frame with it after every
       welcome, and its fetches are paced as that account's. NULL: none. */
    const char *account;
    const char *const *tab_account;
    size_t n_tab_account;
    /* Pace rules of the site (fake_arena_set_pace): all 0, off. */
    unsigned pace_interval_ms, pace_window, pace_window_ms;
} fake_link_config_t;

typedef struct {
    unsigned long connects; /* WebSocket connections established */
    unsigned long welcomes; /* welcome frames received */
    unsigned long closes;   /* connections lost or closed, any side */
    unsigned long fetches;  /* fetch frames received */
    unsigned long rejected; /* of which the fake LMArena refused (validation) */
    unsigned long done;     /* jobs ended with `done` */
    unsigned long failed;   /* jobs ended with `fail` */
    unsigned long aborts;   /* abort frames received */
    unsigned long reloads;  /* reload frames received */
    unsigned long pages;    /* page requests answered */
    unsigned long pings;    /* pings answered */
    unsigned long dropped;  /* malformed frames from the node */
} fake_link_counters_t;

/*  Validates the config, loads the models, starts the thread and begins
    connecting every tab. NULL on failure (reason logged). */
fake_link_t *fake_link_new(const fake_link_config_t *cfg);
/*  Closes every connection, joins the thread, frees. Accepts NULL. */
void fake_link_destroy(fake_link_t **self_p);

/*  Waits until at least n tabs are welcomed at the same time. 0, or -1 on
    timeout. */
int fake_link_wait_ready(fake_link_t *self, size_t n, int timeout_ms);
/*  Tabs welcomed right now. */
size_t fake_link_ready_tabs(fake_link_t *self);
size_t fake_link_tabs(fake_link_t *self);
/*  The stable tab id (a UUID) of tab idx, or NULL when out of range. */
const char *fake_link_tab_id(fake_link_t *self, size_t idx);
void fake_link_counters(fake_link_t *self, fake_link_counters_t *out);

/*  Replace tab idx's default or forced directive at run time (NULL clears).
    The directive is checked first: -1 on a bad one or a bad index. */
int fake_link_set_scenario(fake_link_t *self, size_t idx, const char *directive);
int fake_link_set_force(fake_link_t *self, size_t idx, const char *directive);
/*  Drops tab idx's connection abruptly (no close frame), like a crashed
    browser; the reconnect policy applies. 0, or -1 on a bad index. */
int fake_link_drop_tab(fake_link_t *self, size_t idx);

/*  The catalog id the 2025 page derives from a model name (a v4-looking UUID). */
void fake_link_model_uuid(const char *name, char out[UUID_STR_LEN]);

#define FAKE_LINK_UUID7_BASE_MS 1767225600000LL  /* 2026-01-01T00:00:00Z */
#define FAKE_LINK_UUID7_STALE_MS 1748736000000LL /* 2025-06-01T00:00:00Z */
/*  A UUIDv7 derived from a name: timestamp base_ms plus a hash-derived offset
    under one day, the other bits from the same hash (BLAKE2b of
    "fake-arena-model-v7:<name>"). The 2026 page's ids use
    FAKE_LINK_UUID7_BASE_MS; the stale twin's FAKE_LINK_UUID7_STALE_MS. */
void fake_link_model_uuid7(const char *name, long long base_ms, char out[UUID_STR_LEN]);
/*  The id an era's page gives a model without an explicit one ("2025":
    fake_link_model_uuid; "2026" or NULL: fake_link_model_uuid7 at
    FAKE_LINK_UUID7_BASE_MS). */
void fake_link_model_id(const char *name, const char *era, char out[UUID_STR_LEN]);
/*  1 when s is an account hash: exactly 32 lowercase hex characters. */
bool fake_link_account_ok(const char *s);
/*  Checks a directive without running it. 0, or -1 with a reason in err. */
int fake_link_directive_check(const char *directive, char *err, size_t errlen);

#endif
