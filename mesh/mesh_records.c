/*  mesh_records — replicated tables of signed records (mesh.h,
    mesh_table_add; docs/mesh-protocol.md, "Replicated records").

    The summary of a table: each record's hash h = BLAKE2b-64(key, version,
    writer, tomb) is XORed into its bucket, chosen by BLAKE2b-64(key) modulo
    the bucket count; the root is the XOR of all of them. XOR undoes
    itself, so an incremental table (mesh_table_update) changes the summary
    by the old and new hash of the one record that changed. Two nodes holding
    the same versions have the same summary whatever order the records came
    in. Anti-entropy, per table, with each peer a gossip round picks:

        A → B  tsum {root}                     (every round: a few bytes)
        B → A  tsum {root, buckets, want}      (only when the roots differ)
        A → B  records of the buckets that differ, then tsum {root, buckets}
        B → A  records of the buckets that differ

    so what travels is the records of the differing buckets, not the table.
    One `records` message holds at most WIRE_MAX_RECORDS records and
    S_RECORDS_BYTES bytes; the rest go in later rounds (each repair starts
    at another differing bucket, so a large difference is covered over a few
    rounds). Runs on the loop's thread. */
#include "mesh/mesh_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/*  Bytes of signed records one message carries at most (well below
    WIRE_MSG_MAX: the envelope of each record adds a little). */
#define S_RECORDS_BYTES (WIRE_MSG_MAX / 2)

static uint64_t s_h64(const void *a, size_t alen, const void *b, size_t blen)
{
    uint8_t out[8];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof out);
    crypto_generichash_update(&st, a, alen);
    if (blen)
        crypto_generichash_update(&st, b, blen);
    crypto_generichash_final(&st, out, sizeof out);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | out[i];
    return v;
}

static size_t s_bucket(const mesh__table_t *t, const char *key)
{
    return (size_t)(s_h64(key, strlen(key), NULL, 0) & (t->cfg.buckets - 1));
}

/*  The bucket of v: the table's hint, else its key's. */
static size_t s_vbucket(const mesh__table_t *t, const mesh_rec_version_t *v)
{
    return v->bucket1 && v->bucket1 <= t->cfg.buckets ? v->bucket1 - 1 : s_bucket(t, v->key);
}

static uint64_t s_rec_hash(const mesh_rec_version_t *v)
{
    uint8_t tail[8 + 1];
    for (int i = 0; i < 8; i++)
        tail[i] = (uint8_t)(v->version_ms >> (8 * i));
    tail[8] = v->tomb ? 1 : 0;
    size_t kl = strlen(v->key), nl = v->node ? strlen(v->node) : 0;
    /* key NUL node NUL version tomb: no two records share the bytes */
    size_t n = kl + 1 + nl + 1 + sizeof tail;
    uint8_t buf[WIRE_MAX_RKEY + WIRE_MAX_ID + 2 + sizeof tail];
    if (kl > WIRE_MAX_RKEY || nl > WIRE_MAX_ID)
        return 0;
    memcpy(buf, v->key, kl + 1);
    memcpy(buf + kl + 1, v->node ? v->node : "", nl + 1);
    memcpy(buf + kl + nl + 2, tail, sizeof tail);
    return s_h64(buf, n, NULL, 0);
}

static mesh__table_t *s_table(const mesh_t *self, const char *name)
{
    for (size_t i = 0; name && i < self->n_tables; i++)
        if (strcmp(self->tables[i]->name, name) == 0)
            return self->tables[i];
    return NULL;
}

/* ----------------------------------------------------------------- summary */

static void s_sum_one(void *ctx, const mesh_rec_version_t *v)
{
    mesh__table_t *t = ctx;
    if (!v || !v->key)
        return;
    uint64_t h = s_rec_hash(v);
    t->sum[s_vbucket(t, v)] ^= h;
    t->root ^= h;
}

static void s_summarize(mesh__table_t *t)
{
    if (!t->dirty)
        return;
    memset(t->sum, 0, t->cfg.buckets * sizeof *t->sum);
    t->root = 0;
    t->cfg.each(t->cfg.arg, s_sum_one, t);
    t->dirty = false;
}

/* ------------------------------------------------------------ registration */

static bool s_name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > WIRE_MAX_TABLE)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)n[i] < 0x21 || (unsigned char)n[i] > 0x7e)
            return false;
    return true;
}

int mesh_table_add(mesh_t *self, const mesh_table_config_t *cfg)
{
    if (!self || !cfg || !s_name_ok(cfg->name) || !cfg->merge || !cfg->each || !cfg->fetch ||
        s_table(self, cfg->name) || self->n_tables >= MESH_MAX_TABLES)
        return -1;
    unsigned nb = cfg->buckets ? cfg->buckets : MESH_DEFAULT_BUCKETS;
    if (nb > WIRE_MAX_BUCKETS || (nb & (nb - 1)) != 0)
        return -1;
    mesh__table_t *t = calloc(1, sizeof *t);
    if (!t || !(t->sum = calloc(nb, sizeof *t->sum))) {
        free(t);
        return -1;
    }
    t->cfg = *cfg;
    t->cfg.buckets = nb;
    snprintf(t->name, sizeof t->name, "%s", cfg->name);
    t->cfg.name = t->name;
    t->dirty = true;
    self->tables[self->n_tables++] = t;
    return 0;
}

void mesh_table_update(mesh_t *self, const char *table, const mesh_rec_version_t *was,
                       const mesh_rec_version_t *now)
{
    mesh__table_t *t = self ? s_table(self, table) : NULL;
    if (!t || t->dirty)
        return; /* the next summary is computed whole anyway */
    s_sum_one(t, was);
    s_sum_one(t, now);
}

void mesh_table_changed(mesh_t *self, const char *table)
{
    mesh__table_t *t = self ? s_table(self, table) : NULL;
    if (t)
        t->dirty = true;
}

int mesh_table_bucket(mesh_t *self, const char *table, const char *key)
{
    mesh__table_t *t = self && key ? s_table(self, table) : NULL;
    return t ? (int)s_bucket(t, key) : -1;
}

int mesh_table_summary(mesh_t *self, const char *table, uint64_t *root, uint64_t *buckets,
                       size_t max)
{
    mesh__table_t *t = self ? s_table(self, table) : NULL;
    if (!t)
        return -1;
    s_summarize(t);
    if (root)
        *root = t->root;
    for (size_t i = 0; buckets && i < max && i < t->cfg.buckets; i++)
        buckets[i] = t->sum[i];
    return 0;
}

void mesh__records_free(mesh_t *self)
{
    for (size_t i = 0; i < self->n_tables; i++) {
        free(self->tables[i]->sum);
        free(self->tables[i]);
    }
    self->n_tables = 0;
}

/* -------------------------------------------------------------- sending */

/*  Peers a push reaches now: announced, linked, alive or suspect. */
static bool s_pushable(const mesh__peer_t *p)
{
    return p->announced && p->dealer &&
           (p->liveness == MESH_PEER_ALIVE || p->liveness == MESH_PEER_SUSPECT);
}

int mesh_record_push(mesh_t *self, const wire_record_t *rec)
{
    mesh__table_t *t = self && rec ? s_table(self, rec->table) : NULL;
    if (!t || !rec->sealed)
        return -1;
    if (!t->cfg.incremental)
        t->dirty = true;
    if (self->left)
        return 0;
    wire_msg_t m = {.type = WIRE_RECORDS, .records = (wire_record_t *)rec, .n_records = 1};
    for (size_t i = 0; i < self->n_peers; i++)
        if (s_pushable(self->peers[i]) && mesh__send(self, self->peers[i], &m) == 0)
            self->stats.records_sent++;
    return 0;
}

static void s_send_tsum(mesh_t *self, mesh__peer_t *p, mesh__table_t *t, bool buckets, bool want)
{
    s_summarize(t);
    wire_msg_t m = {.type = WIRE_TSUM,
                    .table = t->name,
                    .root = t->root,
                    .buckets = buckets ? t->sum : NULL,
                    .n_buckets = buckets ? t->cfg.buckets : 0,
                    .want = want};
    mesh__send(self, p, &m);
}

void mesh__records_gossip(mesh_t *self, mesh__peer_t *p)
{
    for (size_t i = 0; i < self->n_tables; i++)
        s_send_tsum(self, p, self->tables[i], false, false);
}

/*  Keys of the records in differing buckets (gathered by s_pick_one). */
typedef struct {
    mesh__table_t *t;
    const bool *diff;
    char **keys;
    size_t n, cap;
    bool oom;
} s_pick_t;

static void s_pick_one(void *ctx, const mesh_rec_version_t *v)
{
    s_pick_t *pk = ctx;
    if (pk->oom || !v || !v->key || !pk->diff[s_vbucket(pk->t, v)])
        return;
    if (pk->n == pk->cap) {
        size_t ncap = pk->cap ? pk->cap * 2 : 64;
        char **grown = realloc(pk->keys, ncap * sizeof *grown);
        if (!grown) {
            pk->oom = true;
            return;
        }
        pk->keys = grown, pk->cap = ncap;
    }
    if (!(pk->keys[pk->n] = strdup(v->key)))
        pk->oom = true;
    else
        pk->n++;
}

/*  Our records of the buckets where theirs differ, in one bounded message
    starting at a rotating place among them. */
static void s_send_diff(mesh_t *self, mesh__peer_t *p, mesh__table_t *t, const uint64_t *theirs)
{
    bool *diff = calloc(t->cfg.buckets, sizeof *diff);
    if (!diff)
        return;
    size_t n_diff = 0;
    for (size_t i = 0; i < t->cfg.buckets; i++)
        if ((diff[i] = theirs[i] != t->sum[i]))
            n_diff++;
    s_pick_t pk = {.t = t, .diff = diff};
    if (n_diff)
        t->cfg.each(t->cfg.arg, s_pick_one, &pk);
    wire_record_t *recs =
        pk.n ? calloc(pk.n < WIRE_MAX_RECORDS ? pk.n : WIRE_MAX_RECORDS, sizeof *recs) : NULL;
    size_t n = 0, bytes = 0;
    size_t start = pk.n ? (size_t)(t->turn % pk.n) : 0; /* after what went last time */
    for (size_t j = 0; recs && j < pk.n && n < WIRE_MAX_RECORDS; j++) {
        const char *key = pk.keys[(start + j) % pk.n];
        if (t->cfg.fetch(t->cfg.arg, key, &recs[n]) < 0 || !recs[n].sealed || !recs[n].table ||
            strcmp(recs[n].table, t->name) != 0) {
            wire_record_clear(&recs[n]);
            continue;
        }
        if (bytes + recs[n].sealed_len > S_RECORDS_BYTES) {
            wire_record_clear(&recs[n]);
            break;
        }
        bytes += recs[n].sealed_len;
        n++;
    }
    t->turn += n;
    if (n) {
        wire_msg_t m = {.type = WIRE_RECORDS, .records = recs, .n_records = n};
        if (mesh__send(self, p, &m) == 0)
            self->stats.records_sent += n;
    }
    for (size_t i = 0; i < n; i++)
        wire_record_clear(&recs[i]);
    free(recs);
    for (size_t i = 0; i < pk.n; i++)
        free(pk.keys[i]);
    free(pk.keys);
    free(diff);
}

/* -------------------------------------------------------------- receiving */

void mesh__on_tsum(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m)
{
    mesh__table_t *t = s_table(self, m->table);
    if (!t) {
        self->stats.dropped++;
        return;
    }
    s_summarize(t);
    if (m->root == t->root)
        return; /* the same versions: nothing to say */
    if (!m->n_buckets) {
        s_send_tsum(self, p, t, true, true);
        return;
    }
    if (m->n_buckets != t->cfg.buckets) {
        self->stats.dropped++;
        alog_warn_rl("mesh: table %s: %s uses %" PRIu32 " buckets, we %u (a different version?)",
                     t->name, p->endpoint, m->n_buckets, t->cfg.buckets);
        return;
    }
    s_send_diff(self, p, t, m->buckets);
    if (m->want)
        s_send_tsum(self, p, t, true, false);
}

void mesh__on_records(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m)
{
    (void)p;
    uint64_t limit = (uint64_t)(mesh__wall() + MESH__AHEAD_MS);
    bool begun[MESH_MAX_TABLES] = {false};
    for (size_t i = 0; i < m->n_records; i++) {
        const wire_record_t *r = &m->records[i];
        mesh__table_t *t = s_table(self, r->table);
        for (size_t j = 0; t && t->cfg.batch && j < self->n_tables; j++)
            if (self->tables[j] == t && !begun[j]) {
                begun[j] = true;
                t->cfg.batch(t->cfg.arg, true);
            }
        if (!t || r->version_ms > limit) {
            self->stats.records_refused++;
            alog_warn_rl("mesh: refused record %.64s/%.64s by %.64s from %s: %s", r->table, r->key,
                         r->node, p->endpoint,
                         t ? "its version is more than a day ahead of our clock" : "no such table");
            continue;
        }
        switch (t->cfg.merge(t->cfg.arg, r)) {
        case MESH_REC_APPLIED:
            self->stats.records_applied++;
            if (!t->cfg.incremental)
                t->dirty = true;
            break;
        case MESH_REC_INVALID:
            self->stats.records_refused++;
            alog_warn_rl("mesh: table %s refused record %.64s by %.64s from %s", t->name, r->key,
                         r->node, p->endpoint);
            break;
        default:
            break;
        }
    }
    for (size_t j = 0; j < self->n_tables; j++)
        if (begun[j])
            self->tables[j]->cfg.batch(self->tables[j]->cfg.arg, false);
}
