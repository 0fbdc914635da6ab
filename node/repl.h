/*  repl — the node's replicated tables (issue #11, items 1 and 2;
    docs/keys.md, "Replication"): the key table (node/keys.h) and the tier
    table (node/tiers.h) as tables of the mesh's replicated-record layer
    (mesh.h, mesh_table_add).

    A local change (the admin API on this node) is sealed with the node's
    signing key, its signed form kept in the store (store_record_put), and
    pushed to every peer at once; anti-entropy repairs what a push missed
    (a node down, a new node). A record from a peer goes through the
    table's own merge rule (keys_merge, tiers_merge), which writes the store
    before memory; its signed form is kept too, so this node can hand it on
    to a node that comes later even when the writer is gone.

    Tables on the wire: "keys" (record key = the key's name, tombstone =
    revoked, payload = the record's other fields as JSON, the key's hash
    included, never the key) and "tiers" (record key = the tier's name,
    payload = its fields as JSON, as PUT /admin/tiers/{name} takes them).

    A change from a peer is not written to this node's audit log: its row
    is in the log of the node where the admin made it (with that node's id),
    and `arena-mesh audit` gathers the rows of every node. Owned by the node
    thread. */
#ifndef ARENA_REPL_H
#define ARENA_REPL_H

#include <stdint.h>

#include "mesh/mesh.h"
#include "node/keys.h"
#include "node/store.h"
#include "node/tiers.h"
#include "protocol/ident.h"

#define REPL_KEYS "keys"
#define REPL_TIERS "tiers"
#define REPL_KEYS_BUCKETS 64 /* about one per 10 keys of a large group */
#define REPL_TIERS_BUCKETS 8

typedef struct _repl_t repl_t;

/*  Registers both tables with mesh and hooks the local changes of keys and
    tiers. Everything is borrowed and must outlive the result; sk is
    copied. NULL on failure. */
repl_t *repl_new(mesh_t *mesh, store_t *store, keys_t *keys, tiers_t *tiers, const char *node_id,
                 const uint8_t sk[IDENT_SK_LEN]);
void repl_destroy(repl_t **self_p);

/*  A key record's payload (JSON, without name, version or revoked) and the
    reverse (name, version and revoked from the record around it). For the
    codec's tests and the fuzzer: 0, or -1. */
char *repl_key_payload(const keys_record_t *rec);
int repl_key_from_record(const wire_record_t *r, keys_record_t *out);
int repl_tier_from_record(const wire_record_t *r, tier_t *out);

#endif
