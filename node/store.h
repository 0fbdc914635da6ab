/*  store — the node's SQLite state in DATA/arena.db (WAL): node id, link
    token, model catalog, cooldowns, known peers. Owned by the node thread;
    not thread-safe. Times are wall-clock unix milliseconds. */
#ifndef ARENA_STORE_H
#define ARENA_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "protocol/arena_catalog.h"
#include "protocol/ident.h"
#include "protocol/uuid7.h"

typedef struct _store_t store_t;

/*  Creates data_dir (0700) when missing, opens or creates the database.
    NULL with a message in err on failure. */
store_t *store_open(const char *data_dir, char *err, size_t errlen);
void store_destroy(store_t **self_p);

/*  Small key/value metadata. get: 0 found, 1 missing, -1 error. */
int store_meta_get(store_t *self, const char *key, char *out, size_t outlen);
int store_meta_set(store_t *self, const char *key, const char *value);

/*  The node id (a UUID made once and kept). */
int store_node_id(store_t *self, char out[UUID_STR_LEN]);
/*  The node's signing key (protocol/ident.h): its seed is made once into
    DATA/node.key (0600, refused when others may read it) and loaded at every
    start; id gets ident_id of its public key, which replaces a stored node
    id that is not it (a data directory from before ids were bound to keys;
    logged once, when it moves). 0, or -1 (logged). */
int store_node_identity(store_t *self, uint8_t sk[IDENT_SK_LEN], char id[UUID_STR_LEN]);
/*  The link token: `fixed` when given (and kept), else the stored one, else a
    new random one (32 bytes, hex) that is stored. */
int store_link_token(store_t *self, const char *fixed, char *out, size_t outlen);

/*  Model catalog: replace all, or load all (caller frees with arena_catalog_clear).
    Every row of the page in its order, twins sharing a name and rows that are
    not user-selectable included; ids must be unique (a repeat fails the
    replace and keeps the old rows). display_name and user_selectable are kept;
    rows stored by schema 1 load as selectable without a display name. */
int store_models_replace(store_t *self, const arena_catalog_t *cat);
int store_models_load(store_t *self, arena_catalog_t *out);

/*  Cooldowns per (node id, model); model "*" cools the whole node. */
typedef struct {
    char node_id[UUID_STR_LEN];
    char model[256];
    long long until_ms; /* unix ms */
    char reason[64];
} store_cooldown_t;

int store_cooldown_set(store_t *self, const store_cooldown_t *c);
int store_cooldown_clear(store_t *self, const char *node_id, const char *model);
/*  Loads cooldowns that are still running at now_ms (malloc'd array). */
int store_cooldowns_load(store_t *self, long long now_ms, store_cooldown_t **out, size_t *n);
/*  Deletes the expired ones. */
int store_cooldowns_prune(store_t *self, long long now_ms);

/*  Known peers (to rejoin without a seed). */
typedef struct {
    char id[UUID_STR_LEN];
    char endpoint[300];
    long long last_seen_ms;
} store_peer_t;

int store_peer_upsert(store_t *self, const store_peer_t *p);
int store_peer_forget(store_t *self, const char *id);
int store_peers_load(store_t *self, store_peer_t **out, size_t *n);

/*  API key records (node/keys.h says what they mean): the key's hash only,
    never the key. A record is written whole; put replaces the record of
    the same name. */
#define STORE_KEY_HASH_LEN 32
typedef struct {
    char name[65]; /* 1..64 of [A-Za-z0-9._-] */
    unsigned char hash[STORE_KEY_HASH_LEN];
    char tier[33];
    long long expires_ms; /* unix ms; 0: never */
    char models[1024];    /* allowed models, comma-separated; "": any */
    long long created_ms;
    char created_by[65];   /* node id the admin request came in on */
    long long version_ms;  /* unix ms of the last change */
    char version_node[65]; /* node id that made it: breaks version ties */
    bool revoked;          /* tombstone */
} store_key_t;

int store_key_put(store_t *self, const store_key_t *k);
/*  Every record, by name (malloc'd array). */
int store_keys_load(store_t *self, store_key_t **out, size_t *n);

/*  The audit log (node/audit.h): rows are appended, never changed or
    deleted (the schema's triggers refuse it). */
typedef struct {
    long long id; /* assigned by append */
    long long at_ms;
    char node_id[65];
    char kind[32];
    char actor[65];
    char origin[96];
    char subject[256];
    char detail[512];
} store_audit_t;

int store_audit_append(store_t *self, const store_audit_t *a);
/*  Rows at or after since_ms, at most limit (> 0), oldest first: since_ms
    > 0 gives the oldest such rows, else the newest (malloc'd array). */
int store_audit_load(store_t *self, long long since_ms, size_t limit, store_audit_t **out,
                     size_t *n);
/*  The retention bound: deletes the rows more than STORE_AUDIT_KEEP behind
    the newest (by id), the only rows the schema lets go. The number
    deleted, or -1. Run at start-up (audit_new). */
#define STORE_AUDIT_KEEP 1000000 /* the migration's trigger says the same */
int store_audit_prune(store_t *self);

/*  Tiers the operator set (node/tiers.h): the fields as JSON text, and the
    version that orders changes. put replaces the row of the same name. */
typedef struct {
    char name[33];
    char body[2048];
    long long version_ms;
    char version_node[65];
} store_tier_t;
int store_tier_put(store_t *self, const store_tier_t *t);
int store_tiers_load(store_t *self, store_tier_t **out, size_t *n); /* by name, malloc'd */

/*  The signed form of a replicated record (mesh.h, wire_record_pack), by
    table and record key; put replaces it. get: 0 with a malloc'd copy, or
    -1 (none, or an error). */
#define STORE_RECORD_MAX (64 * 1024)
int store_record_put(store_t *self, const char *tbl, const char *rkey, const void *env, size_t len);
int store_record_get(store_t *self, const char *tbl, const char *rkey, void **env, size_t *len);

/*  The database handle, for node/usage.c's tables (schema 7: usage_rows,
    usage_rollups), used on the store's thread only. */
struct sqlite3 *store_sqlite(store_t *self);

#endif
