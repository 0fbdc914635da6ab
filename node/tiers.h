/*  tiers — the named limit sets a key belongs to (issue #11, item 2;
    docs/keys.md): requests per minute, hour and day, tokens per day,
    concurrent streams, an optional model allow-list and a queue priority.

    A table the node owns (one per node, like the key table): it starts
    with the defaults of the gateways this project replaces, and the
    operator may change or add tiers (replicated across the mesh like keys:
    each record carries the version that decides which copy wins, compared
    as keys_version_cmp compares keys). The built-in `config` tier (the
    --api-key keys) is unlimited and cannot be changed. Owned by the node
    thread; not thread-safe. */
#ifndef ARENA_TIERS_H
#define ARENA_TIERS_H

#include <stdbool.h>
#include <stddef.h>

#include "node/store.h"

#define TIERS_UNLIMITED 0     /* a limit of 0: none */
#define TIERS_CONFIG "config" /* the tier of the --api-key keys */
#define TIERS_NAME_MAX 32
#define TIERS_MODELS_MAX 1024 /* bytes of the comma-separated allow-list */
#define TIERS_PRIORITY_MAX 9  /* queue priority 0..9: higher is served first */

typedef struct {
    char name[TIERS_NAME_MAX + 1];
    long per_minute, per_hour, per_day; /* requests; TIERS_UNLIMITED: none */
    long long tokens_per_day;           /* prompt + completion tokens; 0: none */
    long concurrent;                    /* requests in flight at once; 0: none */
    char models[TIERS_MODELS_MAX + 1];  /* comma-separated allow-list; "": any */
    int priority;                       /* 0..TIERS_PRIORITY_MAX; queued work of a
                                           higher priority is served first */
    /* replication (as keys_record_t's): unix ms of the last change and the
       node id that made it; 0 / "" for a built-in default never changed */
    long long version_ms;
    char version_node[65];
} tier_t;

typedef struct _tiers_t tiers_t;

/*  The table with the defaults: free 10/100/1000, premium 60/1000/10000,
    enterprise 300/5000/50000 requests per minute/hour/day, and config
    (unlimited). NULL when memory runs out. */
tiers_t *tiers_new(void);
void tiers_destroy(tiers_t **self_p);

/*  The tier of that name, or NULL (self NULL: the defaults). */
const tier_t *tiers_find(const tiers_t *self, const char *name);
/*  Tiers in table order; borrowed until the next change. */
size_t tiers_count(const tiers_t *self);
const tier_t *tiers_at(const tiers_t *self, size_t i);

/* ---- changes and replication (issue #11, item 2) ---------------------- */

#define TIERS_LIMIT_MAX 1000000000LL /* any one limit at most */

typedef enum {
    TIERS_MERGE_APPLIED = 0, /* the tier replaced (or added) the table's */
    TIERS_MERGE_IGNORED,     /* the table's is as new or newer */
    TIERS_MERGE_INVALID,     /* malformed, or the config tier: refused */
    TIERS_MERGE_FAILED,      /* the store refused the write */
} tiers_merge_t;

/*  The defaults, then the tiers stored (which replace them by name).
    store NULL: in memory only. node_id stamps local changes. */
tiers_t *tiers_open(store_t *store, const char *node_id);
/*  1..32 of [A-Za-z0-9._-]. */
bool tiers_name_ok(const char *name);
/*  <0, 0, >0 as a's version (version_ms, then version_node) is older than,
    the same as, newer than b's. */
int tiers_version_cmp(const tier_t *a, const tier_t *b);
/*  Applies a tier written elsewhere (or here): the newer version wins, the
    config tier never changes; persisted before the table changes. */
tiers_merge_t tiers_merge(tiers_t *self, const tier_t *t);
/*  A local change (create or change t->name): stamped now (after the
    tier's previous version) with this node's id, merged, then the hook
    called. 0, or -1 (invalid, config, or the store failed). out (may be
    NULL) gets the tier as stored. */
int tiers_put(tiers_t *self, const tier_t *t, long long now_ms, tier_t *out);
/*  Called after each local change (tiers_put) with the new tier. */
void tiers_set_hook(tiers_t *self, void (*fn)(void *arg, const tier_t *t), void *arg);

/*  The fields of a JSON object into *t (which holds the values a field
    left out keeps): per_minute, per_hour, per_day, tokens_per_day,
    concurrent (integers 0..TIERS_LIMIT_MAX, 0: none), models (an array of
    names, a comma-separated string, or null: any), priority
    (0..TIERS_PRIORITY_MAX). Unknown fields are refused. 0, or -1 with the
    offending field in param and a message in msg. */
int tiers_from_json(const char *json, size_t len, tier_t *t, char *param, size_t paramlen,
                    char *msg, size_t msglen);
/*  The tier as a JSON object (name, the fields, version_ms); malloc'd text
    (with_meta false: the fields only, as tiers_from_json reads them). */
char *tiers_to_json(const tier_t *t, bool with_meta);

#endif
