/*  repl — see repl.h. */
#include "node/repl.h"

#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/abuf.h"
#include "protocol/alog.h"

struct _repl_t {
    mesh_t *mesh;
    store_t *store;
    keys_t *keys;
    tiers_t *tiers;
    char id[65];
    uint8_t sk[IDENT_SK_LEN];
    const void *fetching; /* the record s_fetch may seal afresh (key or tier) */
};

/* ---- payloads ---------------------------------------------------------- */

char *repl_key_payload(const keys_record_t *rec)
{
    char hex[2 * STORE_KEY_HASH_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, rec->hash, sizeof rec->hash);
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s}", "hash", hex, "tier", rec->tier,
                          "expires_ms", (json_int_t)rec->expires_ms, "models", rec->models,
                          "created_ms", (json_int_t)rec->created_ms, "created_by", rec->created_by);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return text;
}

/*  A JSON string field that fits out[cap] (empty allowed unless nonempty). */
static int s_str_field(json_t *o, const char *k, char *out, size_t cap, bool nonempty)
{
    json_t *v = json_object_get(o, k);
    const char *s = json_string_value(v);
    if (!s || strlen(s) >= cap || (nonempty && !s[0]) || json_string_length(v) != strlen(s))
        return -1;
    snprintf(out, cap, "%s", s);
    return 0;
}

static int s_int_field(json_t *o, const char *k, long long *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (long long)json_integer_value(v);
    return 0;
}

/*  The version and name of r into the fixed fields of a record. */
static int s_version(const wire_record_t *r, char *name, size_t namecap, long long *ver, char *node,
                     size_t nodecap)
{
    if (!r->key || !r->node || strlen(r->key) >= namecap || strlen(r->node) >= nodecap ||
        r->version_ms == 0 || r->version_ms > (uint64_t)LLONG_MAX)
        return -1;
    snprintf(name, namecap, "%s", r->key);
    snprintf(node, nodecap, "%s", r->node);
    *ver = (long long)r->version_ms;
    return 0;
}

static json_t *s_payload(const wire_record_t *r)
{
    if (!r->payload || r->payload_len == 0)
        return NULL;
    json_t *o = json_loadb((const char *)r->payload, r->payload_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int repl_key_from_record(const wire_record_t *r, keys_record_t *out)
{
    memset(out, 0, sizeof *out);
    if (s_version(r, out->name, sizeof out->name, &out->version_ms, out->version_node,
                  sizeof out->version_node) < 0 ||
        !keys_name_ok(out->name))
        return -1;
    out->revoked = r->tomb;
    json_t *o = s_payload(r);
    char hex[2 * STORE_KEY_HASH_LEN + 1];
    size_t bin_len = 0;
    int rc =
        o && s_str_field(o, "hash", hex, sizeof hex, true) == 0 &&
                strlen(hex) == 2 * STORE_KEY_HASH_LEN &&
                sodium_hex2bin(out->hash, sizeof out->hash, hex, strlen(hex), NULL, &bin_len,
                               NULL) == 0 &&
                bin_len == sizeof out->hash &&
                s_str_field(o, "tier", out->tier, sizeof out->tier, true) == 0 &&
                s_int_field(o, "expires_ms", &out->expires_ms) == 0 &&
                s_str_field(o, "models", out->models, sizeof out->models, false) == 0 &&
                keys_models_ok(out->models) &&
                s_int_field(o, "created_ms", &out->created_ms) == 0 &&
                s_str_field(o, "created_by", out->created_by, sizeof out->created_by, false) == 0
            ? 0
            : -1;
    json_decref(o);
    return rc;
}

int repl_tier_from_record(const wire_record_t *r, tier_t *out)
{
    memset(out, 0, sizeof *out);
    char node[sizeof out->version_node];
    if (r->tomb ||
        s_version(r, out->name, sizeof out->name, &out->version_ms, node, sizeof node) < 0 ||
        !tiers_name_ok(out->name))
        return -1;
    snprintf(out->version_node, sizeof out->version_node, "%s", node);
    char param[64], msg[256];
    /* every field is in the payload; one left out stays 0 (none) */
    return r->payload && tiers_from_json((const char *)r->payload, r->payload_len, out, param,
                                         sizeof param, msg, sizeof msg) == 0
               ? 0
               : -1;
}

/* ---- sealing ----------------------------------------------------------- */

/*  Seals (table, key, version, tomb, payload) as this node, keeps the signed
    form in the store and, when push, sends it to every peer. out (may be
    NULL) gets the signed record. 0, or -1. */
static int s_seal(repl_t *self, const char *table, const char *key, long long ver, bool tomb,
                  const char *payload, bool push, wire_record_t *out)
{
    wire_record_t r = {.table = (char *)table,
                       .key = (char *)key,
                       .version_ms = (uint64_t)ver,
                       .node = self->id,
                       .tomb = tomb,
                       .payload = (uint8_t *)payload,
                       .payload_len = payload ? strlen(payload) : 0};
    abuf_t env = ABUF_INIT;
    int rc = -1;
    if (!payload || wire_record_seal(&r, self->sk) < 0 || wire_record_pack(&r, &env) < 0) {
        alog_warn_rl("repl: cannot seal %s/%s", table, key);
        goto done;
    }
    if (store_record_put(self->store, table, key, env.data, env.len) < 0)
        alog_warn_rl("repl: cannot keep the signed form of %s/%s", table, key);
    if (push)
        mesh_record_push(self->mesh, &r);
    else
        mesh_table_changed(self->mesh, table);
    rc = 0;
    if (out) {
        char err[160];
        rc = wire_record_unpack((const uint8_t *)env.data, env.len, out, err, sizeof err) ==
                     WIRE_MSG_OK
                 ? 0
                 : -1;
    }
done:
    free(r.sealed);
    abuf_free(&env);
    return rc;
}

/*  Keeps the signed form of a record merged from a peer. */
static void s_keep(repl_t *self, const wire_record_t *r)
{
    abuf_t env = ABUF_INIT;
    if (wire_record_pack(r, &env) < 0 ||
        store_record_put(self->store, r->table, r->key, env.data, env.len) < 0)
        alog_warn_rl("repl: cannot keep the signed form of %s/%s", r->table, r->key);
    abuf_free(&env);
}

/*  The signed form kept for (table, key) when it is of exactly this
    version; else, when this node wrote that version, a fresh seal. */
static int s_fetch(repl_t *self, const char *table, const char *key, long long ver,
                   const char *node, bool tomb, const char *(*payload)(repl_t *, char **),
                   wire_record_t *out)
{
    void *env = NULL;
    size_t len = 0;
    char err[160];
    if (store_record_get(self->store, table, key, &env, &len) == 0 &&
        wire_record_unpack(env, len, out, err, sizeof err) == WIRE_MSG_OK) {
        free(env);
        if (out->version_ms == (uint64_t)ver && strcmp(out->node, node) == 0 && out->tomb == tomb)
            return 0;
        wire_record_clear(out);
    } else {
        free(env);
    }
    if (strcmp(node, self->id) != 0)
        return -1; /* another node's version we hold without its signature */
    char *text = NULL;
    payload(self, &text);
    int rc = s_seal(self, table, key, ver, tomb, text, false, out);
    free(text);
    return rc;
}

/* ---- the keys table ---------------------------------------------------- */

static void s_key_hook(void *arg, const keys_record_t *rec)
{
    repl_t *self = arg;
    char *payload = repl_key_payload(rec);
    s_seal(self, REPL_KEYS, rec->name, rec->version_ms, rec->revoked, payload, true, NULL);
    free(payload);
}

static mesh_rec_rc_t s_key_merge(void *arg, const wire_record_t *r)
{
    repl_t *self = arg;
    keys_record_t k;
    if (repl_key_from_record(r, &k) < 0)
        return MESH_REC_INVALID;
    switch (keys_merge(self->keys, &k)) {
    case KEYS_MERGE_APPLIED:
        s_keep(self, r);
        alog_info("repl: key '%s' %s by node %.8s", k.name, k.revoked ? "revoked" : "changed",
                  k.version_node);
        return MESH_REC_APPLIED;
    case KEYS_MERGE_IGNORED:
        return MESH_REC_IGNORED;
    case KEYS_MERGE_INVALID:
        return MESH_REC_INVALID;
    default:
        return MESH_REC_FAILED;
    }
}

static void s_key_each(void *arg, void (*fn)(void *ctx, const mesh_rec_version_t *v), void *ctx)
{
    repl_t *self = arg;
    for (size_t i = 0; i < keys_count(self->keys); i++) {
        const keys_record_t *r = keys_at(self->keys, i);
        mesh_rec_version_t v = {r->name, (uint64_t)r->version_ms, r->version_node, r->revoked, 0};
        fn(ctx, &v);
    }
}

static const char *s_key_text(repl_t *self, char **text)
{
    *text = repl_key_payload(self->fetching);
    return *text;
}

static int s_key_fetch(void *arg, const char *key, wire_record_t *out)
{
    repl_t *self = arg;
    const keys_record_t *r = keys_find(self->keys, key);
    if (!r)
        return -1;
    self->fetching = r;
    int rc =
        s_fetch(self, REPL_KEYS, key, r->version_ms, r->version_node, r->revoked, s_key_text, out);
    self->fetching = NULL;
    return rc;
}

/* ---- the tiers table --------------------------------------------------- */

static void s_tier_hook(void *arg, const tier_t *t)
{
    repl_t *self = arg;
    char *payload = tiers_to_json(t, false);
    s_seal(self, REPL_TIERS, t->name, t->version_ms, false, payload, true, NULL);
    free(payload);
}

static mesh_rec_rc_t s_tier_merge(void *arg, const wire_record_t *r)
{
    repl_t *self = arg;
    tier_t t;
    if (repl_tier_from_record(r, &t) < 0)
        return MESH_REC_INVALID;
    switch (tiers_merge(self->tiers, &t)) {
    case TIERS_MERGE_APPLIED:
        s_keep(self, r);
        alog_info("repl: tier '%s' changed by node %.8s", t.name, t.version_node);
        return MESH_REC_APPLIED;
    case TIERS_MERGE_IGNORED:
        return MESH_REC_IGNORED;
    case TIERS_MERGE_INVALID:
        return MESH_REC_INVALID;
    default:
        return MESH_REC_FAILED;
    }
}

static void s_tier_each(void *arg, void (*fn)(void *ctx, const mesh_rec_version_t *v), void *ctx)
{
    repl_t *self = arg;
    for (size_t i = 0; i < tiers_count(self->tiers); i++) {
        const tier_t *t = tiers_at(self->tiers, i);
        if (t->version_ms <= 0)
            continue; /* a default never changed: every node has it */
        mesh_rec_version_t v = {t->name, (uint64_t)t->version_ms, t->version_node, false, 0};
        fn(ctx, &v);
    }
}

static const char *s_tier_text(repl_t *self, char **text)
{
    *text = tiers_to_json(self->fetching, false);
    return *text;
}

static int s_tier_fetch(void *arg, const char *key, wire_record_t *out)
{
    repl_t *self = arg;
    const tier_t *t = tiers_find(self->tiers, key);
    if (!t || t->version_ms <= 0)
        return -1;
    self->fetching = t;
    int rc =
        s_fetch(self, REPL_TIERS, key, t->version_ms, t->version_node, false, s_tier_text, out);
    self->fetching = NULL;
    return rc;
}

/* ---- lifecycle --------------------------------------------------------- */

repl_t *repl_new(mesh_t *mesh, store_t *store, keys_t *keys, tiers_t *tiers, const char *node_id,
                 const uint8_t sk[IDENT_SK_LEN])
{
    if (!mesh || !keys || !tiers || !node_id || !sk)
        return NULL;
    repl_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->mesh = mesh, self->store = store, self->keys = keys, self->tiers = tiers;
    snprintf(self->id, sizeof self->id, "%s", node_id);
    memcpy(self->sk, sk, sizeof self->sk);
    mesh_table_config_t kc = {.name = REPL_KEYS,
                              .buckets = REPL_KEYS_BUCKETS,
                              .merge = s_key_merge,
                              .each = s_key_each,
                              .fetch = s_key_fetch,
                              .arg = self};
    mesh_table_config_t tc = {.name = REPL_TIERS,
                              .buckets = REPL_TIERS_BUCKETS,
                              .merge = s_tier_merge,
                              .each = s_tier_each,
                              .fetch = s_tier_fetch,
                              .arg = self};
    if (mesh_table_add(mesh, &kc) < 0 || mesh_table_add(mesh, &tc) < 0) {
        repl_destroy(&self);
        return NULL;
    }
    keys_set_hook(keys, s_key_hook, self);
    tiers_set_hook(tiers, s_tier_hook, self);
    return self;
}

void repl_destroy(repl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    repl_t *self = *self_p;
    if (self->keys)
        keys_set_hook(self->keys, NULL, NULL);
    if (self->tiers)
        tiers_set_hook(self->tiers, NULL, NULL);
    sodium_memzero(self->sk, sizeof self->sk);
    free(self);
    *self_p = NULL;
}
