/*  cooldown — rate-limit cooldowns per (node id, model), model "*" meaning
    the whole node (ARCHITECTURE.md, Cooldowns).

    Deadlines are wall-clock unix ms so they survive a restart through the
    store; the mesh will carry them as remaining ms. Owned by the node thread. */
#ifndef ARENA_COOLDOWN_H
#define ARENA_COOLDOWN_H

#include <stddef.h>

#include "node/store.h"

#define COOLDOWN_ALL "*"
#define COOLDOWN_MIN_MS 5000LL
#define COOLDOWN_MAX_MS (7LL * 24 * 3600 * 1000) /* the longest Retry-After honoured */

typedef struct _cooldown_t cooldown_t;

/*  store may be NULL (nothing persisted). Loads the running cooldowns. */
cooldown_t *cooldown_new(store_t *store, long long now_ms);
void cooldown_destroy(cooldown_t **self_p);

/*  Cools (node_id, model) for remaining_ms (raised to COOLDOWN_MIN_MS,
    lowered to COOLDOWN_MAX_MS: a peer's account flag is taken over here). A
    shorter cooldown never shortens a running longer one. Persists. Returns
    the remaining ms now in force. */
long long cooldown_set(cooldown_t *self, const char *node_id, const char *model,
                       long long remaining_ms, const char *reason, long long now_ms);
/*  Called when a cooldown starts (not when a running one is lengthened):
    the audit log's cooldown_started. fn NULL: none. */
typedef void(cooldown_start_fn)(void *arg, const store_cooldown_t *c, long long now_ms);
void cooldown_on_start(cooldown_t *self, cooldown_start_fn *fn, void *arg);
/*  Remaining ms for (node_id, model), counting a whole-node cooldown; 0 when
    not cooling. reason_out (may be NULL) borrows the reason. */
long long cooldown_remaining(cooldown_t *self, const char *node_id, const char *model,
                             long long now_ms, const char **reason_out);
/*  Forgets expired entries (memory and store). */
void cooldown_prune(cooldown_t *self, long long now_ms);

typedef void(cooldown_each_fn)(void *arg, const char *node_id, const char *model,
                               long long remaining_ms, const char *reason);
void cooldown_each(cooldown_t *self, long long now_ms, cooldown_each_fn *fn, void *arg);

#endif
