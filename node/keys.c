/*  keys — see keys.h. The table is a sorted array (by name, binary
    search), and beside it an index by the key's digest: an open-addressing
    hash table of positions in that array, rebuilt whole after every change
    (a change is rare; a lookup is on every request). */
#include "node/keys.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/tiers.h"
#include "protocol/alog.h"

#define S_MODELS_MAX 64 /* names in one allow-list */

struct _keys_t {
    store_t *store; /* borrowed; NULL: memory only */
    char node_id[65];
    keys_record_t *recs;
    size_t n, cap;
    const tiers_t *tiers; /* the node's table; NULL: the defaults */
    void (*hook)(void *arg, const keys_record_t *rec);
    void *hook_arg;
    /* the digest index: index_cap slots (a power of two, at least twice n),
       each 0 (empty) or 1 + a position in recs; NULL: not built (memory),
       lookups walk the table */
    uint32_t *index;
    size_t index_cap;
    unsigned long long generation; /* bumped by every change of the table */
};

bool keys_name_ok(const char *name)
{
    size_t n = name ? strnlen(name, KEYS_NAME_MAX + 1) : 0;
    if (n == 0 || n > KEYS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/*  "config-N" names the --api-key keys (docs/keys.md): not for the table. */
static bool s_reserved(const char *name)
{
    return strncmp(name, "config-", 7) == 0;
}

bool keys_models_ok(const char *list)
{
    if (!list)
        return false;
    size_t len = strnlen(list, sizeof((keys_record_t *)0)->models);
    if (len >= sizeof((keys_record_t *)0)->models)
        return false;
    if (len == 0)
        return true;
    size_t names = 0, run = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)list[i];
        if (c == ',' || c == '\0') {
            if (run == 0 || run > KEYS_MODEL_MAX || ++names > S_MODELS_MAX)
                return false;
            run = 0;
            continue;
        }
        if (c <= 0x20 || c >= 0x7F)
            return false;
        run++;
    }
    return true;
}

void keys_hash(const char *key, size_t len, unsigned char out[STORE_KEY_HASH_LEN])
{
    crypto_generichash(out, STORE_KEY_HASH_LEN, (const unsigned char *)key, len, NULL, 0);
}

void keys_generate(char out[KEYS_KEY_LEN])
{
    unsigned char raw[KEYS_RANDOM_BYTES];
    randombytes_buf(raw, sizeof raw);
    memcpy(out, KEYS_PREFIX, sizeof KEYS_PREFIX - 1);
    sodium_bin2base64(out + sizeof KEYS_PREFIX - 1, KEYS_KEY_LEN - (sizeof KEYS_PREFIX - 1), raw,
                      sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

static bool s_text_fits(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

/*  A record from anywhere is well-formed. */
static bool s_record_ok(const keys_record_t *r)
{
    return keys_name_ok(r->name) && s_text_fits(r->tier, sizeof r->tier) && r->tier[0] &&
           keys_models_ok(r->models) && s_text_fits(r->created_by, sizeof r->created_by) &&
           s_text_fits(r->version_node, sizeof r->version_node) && r->version_ms > 0 &&
           r->expires_ms >= 0;
}

int keys_version_cmp(const keys_record_t *a, const keys_record_t *b)
{
    if (a->version_ms != b->version_ms)
        return a->version_ms < b->version_ms ? -1 : 1;
    if (a->revoked != b->revoked)
        return a->revoked ? 1 : -1; /* a tombstone beats a live record */
    int c = strcmp(a->version_node, b->version_node);
    return c < 0 ? -1 : c > 0;
}

static keys_record_t *s_find(const keys_t *self, const char *name, size_t *at)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(self->recs[mid].name, name);
        if (c == 0) {
            *at = mid;
            return &self->recs[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return NULL;
}

/* ---- the digest index ---- */

/*  A digest's home slot: its first 8 bytes (BLAKE2b output: uniform). */
static size_t s_slot(const unsigned char *digest, size_t cap)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)(h & (cap - 1));
}

/*  Rebuilds the index from recs (after any change). A record whose digest
    another record already has replaces it: the later one in name order
    wins, as the walk this replaces did. On no memory the index is dropped
    and lookups walk the table. */
static void s_reindex(keys_t *self)
{
    self->generation++;
    size_t cap = 16;
    while (cap < 2 * self->n)
        cap *= 2;
    if (cap != self->index_cap || !self->index) {
        uint32_t *grown = self->n < UINT32_MAX / 2 ? calloc(cap, sizeof *grown) : NULL;
        free(self->index);
        self->index = grown;
        self->index_cap = grown ? cap : 0;
        if (!grown) {
            alog_warn_rl("keys: no memory for the digest index: lookups walk the table");
            return;
        }
    } else {
        memset(self->index, 0, cap * sizeof *self->index);
    }
    for (size_t i = 0; i < self->n; i++) {
        size_t at = s_slot(self->recs[i].hash, cap);
        while (self->index[at] && memcmp(self->recs[self->index[at] - 1].hash, self->recs[i].hash,
                                         STORE_KEY_HASH_LEN) != 0)
            at = (at + 1) & (cap - 1);
        self->index[at] = (uint32_t)(i + 1);
    }
}

const keys_record_t *keys_lookup(const keys_t *self, const unsigned char digest[STORE_KEY_HASH_LEN])
{
    if (!self || !digest)
        return NULL;
    if (!self->index) { /* no index (memory): the whole table, as before it */
        const keys_record_t *hit = NULL;
        for (size_t i = 0; i < self->n; i++)
            if (sodium_memcmp(digest, self->recs[i].hash, STORE_KEY_HASH_LEN) == 0)
                hit = &self->recs[i];
        return hit;
    }
    for (size_t at = s_slot(digest, self->index_cap); self->index[at];
         at = (at + 1) & (self->index_cap - 1)) {
        const keys_record_t *r = &self->recs[self->index[at] - 1];
        if (sodium_memcmp(digest, r->hash, STORE_KEY_HASH_LEN) == 0)
            return r;
    }
    return NULL;
}

unsigned long long keys_generation(const keys_t *self)
{
    return self ? self->generation : 0;
}

/*  Writes rec through to the store, then into the table. */
static int s_put(keys_t *self, const keys_record_t *rec)
{
    if (self->store && store_key_put(self->store, rec) != 0)
        return -1;
    size_t at;
    keys_record_t *old = s_find(self, rec->name, &at);
    if (old) {
        *old = *rec;
        s_reindex(self);
        return 0;
    }
    if (self->n == self->cap) {
        size_t ncap = self->cap ? self->cap * 2 : 16;
        keys_record_t *grown = realloc(self->recs, ncap * sizeof *grown);
        if (!grown)
            return -1;
        self->recs = grown;
        self->cap = ncap;
    }
    memmove(&self->recs[at + 1], &self->recs[at], (self->n - at) * sizeof *self->recs);
    self->recs[at] = *rec;
    self->n++;
    s_reindex(self);
    return 0;
}

keys_merge_t keys_merge(keys_t *self, const keys_record_t *rec)
{
    if (!self || !rec || !s_record_ok(rec))
        return KEYS_MERGE_INVALID;
    size_t at;
    const keys_record_t *have = s_find(self, rec->name, &at);
    if (have && keys_version_cmp(rec, have) <= 0)
        return KEYS_MERGE_IGNORED;
    return s_put(self, rec) == 0 ? KEYS_MERGE_APPLIED : KEYS_MERGE_FAILED;
}

/*  The version of a local change: now, but always after the record's
    last one (two changes within one millisecond stay ordered). */
static void s_stamp(const keys_t *self, keys_record_t *r, const keys_record_t *before,
                    long long now_ms)
{
    r->version_ms = now_ms > 0 ? now_ms : 1;
    if (before && r->version_ms <= before->version_ms)
        r->version_ms = before->version_ms + 1;
    snprintf(r->version_node, sizeof r->version_node, "%s", self->node_id);
}

/*  A local change: merged by the rule, then told to the hook (which
    replicates it). */
static keys_rc_t s_apply(keys_t *self, const keys_record_t *r)
{
    keys_merge_t m = keys_merge(self, r);
    if (m != KEYS_MERGE_APPLIED)
        return KEYS_FAIL;
    if (self->hook)
        self->hook(self->hook_arg, r);
    return KEYS_OK;
}

void keys_set_tiers(keys_t *self, const tiers_t *tiers)
{
    if (self)
        self->tiers = tiers;
}

void keys_set_hook(keys_t *self, void (*fn)(void *arg, const keys_record_t *rec), void *arg)
{
    if (self) {
        self->hook = fn;
        self->hook_arg = arg;
    }
}

keys_rc_t keys_create(keys_t *self, const char *name, const char *tier, long long expires_ms,
                      const char *models, long long now_ms, char key[KEYS_KEY_LEN],
                      keys_record_t *out)
{
    if (!keys_name_ok(name) || s_reserved(name))
        return KEYS_BAD_NAME;
    if (!tiers_find(self->tiers, tier) || strcmp(tier, TIERS_CONFIG) == 0)
        return KEYS_BAD_TIER;
    if (!models || !keys_models_ok(models))
        return KEYS_BAD_MODELS;
    if (expires_ms < 0 || (expires_ms > 0 && expires_ms <= now_ms))
        return KEYS_BAD_EXPIRY;
    size_t at;
    if (s_find(self, name, &at))
        return KEYS_EXISTS;
    keys_record_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.tier, sizeof r.tier, "%s", tier);
    snprintf(r.models, sizeof r.models, "%s", models);
    snprintf(r.created_by, sizeof r.created_by, "%s", self->node_id);
    r.expires_ms = expires_ms;
    r.created_ms = now_ms;
    s_stamp(self, &r, NULL, now_ms);
    keys_generate(key);
    keys_hash(key, strlen(key), r.hash);
    keys_rc_t rc = s_apply(self, &r);
    if (rc != KEYS_OK)
        sodium_memzero(key, KEYS_KEY_LEN);
    else if (out)
        *out = r;
    return rc;
}

keys_rc_t keys_revoke(keys_t *self, const char *name, long long now_ms)
{
    size_t at;
    const keys_record_t *have = name ? s_find(self, name, &at) : NULL;
    if (!have || have->revoked)
        return KEYS_UNKNOWN;
    keys_record_t r = *have;
    r.revoked = true;
    s_stamp(self, &r, have, now_ms);
    return s_apply(self, &r);
}

keys_rc_t keys_set_tier(keys_t *self, const char *name, const char *tier, long long now_ms)
{
    size_t at;
    const keys_record_t *have = name ? s_find(self, name, &at) : NULL;
    if (!have || have->revoked)
        return KEYS_UNKNOWN;
    if (!tiers_find(self->tiers, tier) || strcmp(tier, TIERS_CONFIG) == 0)
        return KEYS_BAD_TIER;
    keys_record_t r = *have;
    snprintf(r.tier, sizeof r.tier, "%s", tier);
    s_stamp(self, &r, have, now_ms);
    return s_apply(self, &r);
}

bool keys_live(const keys_record_t *rec, long long now_ms)
{
    return rec && !rec->revoked && (rec->expires_ms == 0 || now_ms < rec->expires_ms);
}

const keys_record_t *keys_check(const keys_t *self, const char *key, size_t len, long long now_ms)
{
    if (!self || !key)
        return NULL;
    unsigned char d[STORE_KEY_HASH_LEN];
    keys_hash(key, len, d);
    const keys_record_t *hit = keys_lookup(self, d);
    return keys_live(hit, now_ms) ? hit : NULL;
}

const keys_record_t *keys_find(const keys_t *self, const char *name)
{
    size_t at;
    return self && name ? s_find(self, name, &at) : NULL;
}

bool keys_model_allowed(const keys_record_t *rec, const char *model)
{
    if (!rec || !rec->models[0])
        return true;
    if (!model)
        return false;
    size_t mlen = strlen(model);
    for (const char *p = rec->models; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == mlen && memcmp(p, model, n) == 0)
            return true;
        p += n + (comma ? 1 : 0);
    }
    return false;
}

size_t keys_count(const keys_t *self)
{
    return self ? self->n : 0;
}

const keys_record_t *keys_at(const keys_t *self, size_t i)
{
    return self && i < self->n ? &self->recs[i] : NULL;
}

keys_t *keys_new(store_t *store, const char *node_id)
{
    keys_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    snprintf(self->node_id, sizeof self->node_id, "%s", node_id ? node_id : "");
    if (!store) {
        s_reindex(self);
        return self;
    }
    keys_record_t *recs = NULL;
    size_t n = 0;
    if (store_keys_load(store, &recs, &n) != 0)
        goto err;
    self->recs = recs; /* ordered by name, as the table keeps them */
    self->n = self->cap = n;
    for (size_t i = 0; i < n; i++)
        if (!s_record_ok(&recs[i]))
            alog_warn("keys: stored record %zu is malformed", i); /* kept: refuses nothing new */
    s_reindex(self);
    return self;
err:
    free(self);
    return NULL;
}

void keys_destroy(keys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    keys_t *self = *self_p;
    free(self->recs);
    free(self->index);
    free(self);
    *self_p = NULL;
}
