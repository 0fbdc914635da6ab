/*  repl_usage — the hourly usage rollups (node/usage.h) as a table of the
    mesh's replicated-record layer (mesh.h, mesh_table_add; issue #11,
    item 4; docs/usage.md, "Replication").

    Table "usage": record key = ORIGIN/KEY/MODEL/HOUR_MS (a model may hold
    '/', the other parts may not: the last '/' splits the hour), payload =
    usage_rollup_encode of the rollup, version = the rollup's version_ms,
    writer = its origin. Only the origin writes a rollup: this node seals
    (signs) its own rollups, and a rollup from a peer is taken only when
    the node that signed it is the rollup's origin (a member cannot forge
    another's usage), then goes through usage_rollup_apply. The signed
    forms are kept in the store (store_record_put), so a node hands on the
    rollups of an origin that is down to a node that comes later.

    Coalesced: a rollup of the current hour changes at every request, so
    this node's changes are not pushed one by one: every push_ms (a loop
    timer) the rollups changed since are sealed and each pushed once;
    anti-entropy repairs what a push missed. The table is incremental
    (mesh_table_update): a change costs two hashes, not a recomputation
    of the summary of every rollup.

    Retention: a rollup older than --usage-rollup-keep (its hour before
    the cut usage_prune uses) is ignored when it comes from a peer, and
    once the cut passes it this node's copies leave the table, the store
    of signed forms and the usage tables. Owned by the node thread. */
#ifndef ARENA_REPL_USAGE_H
#define ARENA_REPL_USAGE_H

#include <czmq.h>
#include <stdint.h>

#include "mesh/mesh.h"
#include "node/store.h"
#include "node/usage.h"
#include "protocol/ident.h"
#include "protocol/wire.h"

#define REPL_USAGE "usage"
#define REPL_USAGE_BUCKETS 1024 /* about one per 20 rollups of a large mesh */
#define REPL_USAGE_PUSH_MS 1000 /* this node's changed rollups are pushed this often */

typedef struct _repl_usage_t repl_usage_t;

typedef struct {
    mesh_t *mesh;         /* borrowed, as are store and usage */
    store_t *store;       /* the signed forms */
    usage_meter_t *usage; /* the rollups */
    zloop_t *loop;        /* the push timer (NULL: the caller calls repl_usage_tick) */
    const char *node_id;  /* this node: the origin of its rollups */
    const uint8_t *sk;    /* IDENT_SK_LEN bytes, copied */
    int rollup_keep_days; /* --usage-rollup-keep */
    int push_ms;          /* 0: REPL_USAGE_PUSH_MS */
} repl_usage_config_t;

/*  Registers the table (the rollups held now make its first summary;
    this node's own whose signed form is missing or older are sealed).
    NULL on failure. */
repl_usage_t *repl_usage_new(const repl_usage_config_t *cfg);
void repl_usage_destroy(repl_usage_t **self_p);

/*  Seals and pushes this node's rollups changed since the last tick and
    drops those past retention at now_ms (the timer calls it). Records
    pushed, or -1. */
int repl_usage_tick(repl_usage_t *self, long long now_ms);

/*  The table's merge rule (what the mesh calls for a verified record from
    a peer), for tests: MESH_REC_INVALID for a record that is not a rollup
    or whose signer is not its origin, MESH_REC_IGNORED for one of this
    node's origin, one past retention or one no newer than ours. */
mesh_rec_rc_t repl_usage_merge(repl_usage_t *self, const wire_record_t *r);

/*  The table's batch callback (mesh_table_config_t.batch): the merges of
    one `records` message in one transaction (begin true, then false). */
void repl_usage_batch(void *arg, bool begin);

/*  The record key of a rollup into out (cap >= WIRE_MAX_RKEY + 1). 0, or
    -1. */
int repl_usage_rkey(const usage_rollup_t *r, char *out, size_t cap);

/*  Rollups in the table now. */
size_t repl_usage_count(const repl_usage_t *self);

#endif
