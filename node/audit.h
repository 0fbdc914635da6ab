/*  audit — the node's append-only audit log (docs/operations.md, "Audit
    log"): who changed a key and from where, authentication failures (at
    most one row per client address per minute, with a count), peers
    joining, leaving and declared dead, cooldowns started. Rows live in the
    store (schema 5, table audit); nothing here updates or deletes one.
    Owned by the node thread. */
#ifndef ARENA_AUDIT_H
#define ARENA_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "node/store.h"
#include "protocol/abuf.h"

#define AUDIT_LIMIT_MAX 1000         /* rows in one answer */
#define AUDIT_AUTH_WINDOW_MS 60000LL /* one auth_failed row per address per window */

typedef struct _audit_t audit_t;

/*  store is borrowed; node_id is copied. Prunes the rows beyond the
    retention bound (STORE_AUDIT_KEEP). NULL on a bad argument. */
audit_t *audit_new(store_t *store, const char *node_id);
void audit_destroy(audit_t **self_p);

/*  True for one of the kinds: key_created, key_revoked, key_retiered,
    auth_failed, peer_joined, peer_left, peer_dead, cooldown_started,
    tier_changed. */
bool audit_kind_ok(const char *kind);

/*  Appends a row (actor, origin, subject, detail may be NULL: ""). 0, or -1
    on a bad kind, an over-long field or a store failure (logged). */
int audit_append(audit_t *self, long long now_ms, const char *kind, const char *actor,
                 const char *origin, const char *subject, const char *detail);

/*  An authentication failure from origin (the client's address): a row at
    the first failure of a window; later ones in the window are counted and
    the next row's detail ("failures=N") counts them with itself. 1 a row was
    written, 0 counted only, -1 error. */
int audit_auth_failed(audit_t *self, long long now_ms, const char *origin, const char *what);

/*  A peer's new liveness ("alive", "dead", "left"; others ignored): a row
    when it differs from the last one written for that peer. */
int audit_peer(audit_t *self, long long now_ms, const char *peer_id, const char *liveness);

/*  {"entries":[…]} of the rows at or after since_ms (0: the newest), at most
    limit (1..AUDIT_LIMIT_MAX), oldest first. 0, or -1. */
int audit_render(audit_t *self, long long since_ms, size_t limit, abuf_t *out);

#endif
