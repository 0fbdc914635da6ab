/*  keys — the node's table of API keys (issue #11, item 1; docs/keys.md).

    A record names a key, keeps only its hash (BLAKE2b-256, libsodium's
    crypto_generichash; the key itself is shown once at creation and never
    stored or logged), its tier (node/tiers.h), an optional expiry and model
    allow-list, who made it and when, and what replication needs: a version
    (unix ms of the last change and the node id that made it) and a
    tombstone for a revoked key, which stays so that an older copy of the
    record arriving later cannot bring it back.

    Every change goes through keys_merge's rule, so a record from another
    node (the gossip of the next step) is applied exactly as a local change
    is: the record with the greater (version_ms, revoked, version_node) wins,
    compared in that order — a newer change wins; at the same millisecond a
    tombstone beats a live record; then the greater node id (strcmp) breaks
    the tie; an identical version changes nothing. A total order, so every
    node that has seen the same records holds the same table.

    Records are written through to the store (node/store.h) before the
    table in memory changes; a failed write changes nothing. Owned by the
    node thread; not thread-safe. */
#ifndef ARENA_KEYS_H
#define ARENA_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "node/store.h"
#include "node/tiers.h"

typedef store_key_t keys_record_t;
typedef struct _keys_t keys_t;

#define KEYS_PREFIX "ak-"
#define KEYS_RANDOM_BYTES 32
#define KEYS_KEY_LEN 47 /* "ak-" + 43 base64url characters + NUL */
#define KEYS_NAME_MAX 64
#define KEYS_MODEL_MAX 200 /* bytes of one model name in an allow-list */

typedef enum {
    KEYS_OK = 0,
    KEYS_EXISTS,   /* create: the name is taken (a revoked name too: names are not reused) */
    KEYS_UNKNOWN,  /* no live key of that name */
    KEYS_BAD_NAME, /* not 1..64 of [A-Za-z0-9._-], or a reserved config-N name */
    KEYS_BAD_TIER, /* not a tier of node/tiers.h (or the config tier) */
    KEYS_BAD_MODELS,
    KEYS_BAD_EXPIRY, /* not after now */
    KEYS_FAIL,       /* the store refused the write, or memory ran out */
} keys_rc_t;

typedef enum {
    KEYS_MERGE_APPLIED = 0, /* the record replaced (or added) the table's */
    KEYS_MERGE_IGNORED,     /* the table's record is as new or newer */
    KEYS_MERGE_INVALID,     /* malformed record: refused */
    KEYS_MERGE_FAILED,      /* the store refused the write */
} keys_merge_t;

/*  The table, loaded from store (NULL: in memory only, for tests).
    node_id is the id written as version_node and created_by. */
keys_t *keys_new(store_t *store, const char *node_id);
void keys_destroy(keys_t **self_p);

/*  The node's tier table, which create and set-tier check a tier against
    (NULL: the defaults of node/tiers.h). Borrowed. */
void keys_set_tiers(keys_t *self, const tiers_t *tiers);
/*  Called after each local change (create, revoke, set-tier) with the
    record as stored: the node replicates it (node/repl.h). A record
    merged from a peer (keys_merge) does not call it. */
void keys_set_hook(keys_t *self, void (*fn)(void *arg, const keys_record_t *rec), void *arg);

/*  1..64 of [A-Za-z0-9._-]. */
bool keys_name_ok(const char *name);
/*  A comma-separated allow-list: "" (any model) or 1..64 names of 1..200
    printable bytes without spaces or commas, within keys_record_t.models. */
bool keys_models_ok(const char *list);
/*  The stored form of a key. */
void keys_hash(const char *key, size_t len, unsigned char out[STORE_KEY_HASH_LEN]);
/*  A new key: "ak-" + 32 random bytes in base64url without padding. */
void keys_generate(char out[KEYS_KEY_LEN]);

/*  Makes a key (key gets it, to show once) and its record (out, may be
    NULL). expires_ms 0: never. models "": any. */
keys_rc_t keys_create(keys_t *self, const char *name, const char *tier, long long expires_ms,
                      const char *models, long long now_ms, char key[KEYS_KEY_LEN],
                      keys_record_t *out);
/*  Revokes a live key: its record becomes a tombstone. */
keys_rc_t keys_revoke(keys_t *self, const char *name, long long now_ms);
/*  Moves a live key to another tier. */
keys_rc_t keys_set_tier(keys_t *self, const char *name, const char *tier, long long now_ms);

/*  <0, 0, >0 as a's version is older than, the same as, newer than b's. */
int keys_version_cmp(const keys_record_t *a, const keys_record_t *b);
/*  Applies a record made elsewhere (or here) by the rule above. */
keys_merge_t keys_merge(keys_t *self, const keys_record_t *rec);

/*  The record (live or not) whose stored hash is digest (keys_hash of the
    key), or NULL: O(1), through an index by digest kept in step with every
    change (create, revoke, set-tier, merge, load). The index is a hash
    table keyed by the digest's first bytes; a lookup's time depends only
    on the digest asked for and on the digests stored near it. A caller
    holds a key, not a digest: to steer a lookup to a stored record's slot
    (or to learn anything about the stored digests from its time) an
    attacker would need a key whose BLAKE2b-256 digest lands there, which
    is a preimage search; and a stored digest learnt would not open
    anything (the key, 32 random bytes, is what is checked). Digests are
    compared with sodium_memcmp. */
const keys_record_t *keys_lookup(const keys_t *self,
                                 const unsigned char digest[STORE_KEY_HASH_LEN]);
/*  The live record (not revoked, not expired at now_ms) whose key is
    key[0..len), or NULL: keys_hash, then keys_lookup. */
const keys_record_t *keys_check(const keys_t *self, const char *key, size_t len, long long now_ms);
/*  Bumped by every change of the table: a record pointer (keys_lookup,
    keys_check, keys_find, keys_at) stays valid while it is unchanged. */
unsigned long long keys_generation(const keys_t *self);
/*  The record of a name (live or not), or NULL. */
const keys_record_t *keys_find(const keys_t *self, const char *name);
bool keys_live(const keys_record_t *rec, long long now_ms);
/*  The record lets model be used (its allow-list is empty or names it). */
bool keys_model_allowed(const keys_record_t *rec, const char *model);
/*  Records in name order; borrowed until the next change. */
size_t keys_count(const keys_t *self);
const keys_record_t *keys_at(const keys_t *self, size_t i);

#endif
