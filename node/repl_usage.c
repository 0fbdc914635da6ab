/*  repl_usage — see repl_usage.h. */
#include "node/repl_usage.h"

#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/abuf.h"
#include "protocol/alog.h"

#define S_WINDOW_MS 5000 /* a tick looks this far back (the clock may step back a little) */

/*  One rollup of the table, by record key. */
typedef struct {
    uint64_t version_ms;
    unsigned bucket1; /* its summary bucket + 1 (mesh_table_bucket) */
    long long hour_ms;
    char origin[USAGE_NODE_MAX + 1];
} s_entry_t;

struct _repl_usage_t {
    mesh_t *mesh;
    store_t *store;
    usage_meter_t *usage;
    zloop_t *loop;
    int timer;
    char id[USAGE_NODE_MAX + 1];
    uint8_t sk[IDENT_SK_LEN];
    int keep_days;
    long long cut;     /* rollups of an hour before this are past retention */
    zhashx_t *index;   /* record key → s_entry_t */
    sqlite3_stmt *del; /* a signed form */
    bool in_batch;     /* repl_usage_batch began a transaction */
};

static long long s_hour(long long ms)
{
    return ms - ((ms % USAGE_HOUR_MS) + USAGE_HOUR_MS) % USAGE_HOUR_MS;
}

static long long s_cut(const repl_usage_t *self, long long now_ms)
{
    return s_hour(now_ms - self->keep_days * USAGE_DAY_MS); /* usage_prune's */
}

int repl_usage_rkey(const usage_rollup_t *r, char *out, size_t cap)
{
    if (!r || !out || cap < WIRE_MAX_RKEY + 1 || strchr(r->origin, '/') || strchr(r->key, '/'))
        return -1;
    int n = snprintf(out, cap, "%s/%s/%s/%lld", r->origin, r->key, r->model, r->hour_ms);
    return n > 0 && n <= WIRE_MAX_RKEY ? 0 : -1;
}

size_t repl_usage_count(const repl_usage_t *self)
{
    return self ? zhashx_size(self->index) : 0;
}

static void s_entry_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void *s_str_dup(const void *item)
{
    return strdup(item);
}

/* ---- the summary ------------------------------------------------------- */

/*  The table now holds (key, version) of origin: index and summary follow
    (mesh_table_update with the old and new version). */
static void s_index(repl_usage_t *self, const char *key, const usage_rollup_t *r)
{
    s_entry_t *e = zhashx_lookup(self->index, key);
    if (e) {
        mesh_rec_version_t was = {key, e->version_ms, e->origin, false, e->bucket1};
        mesh_rec_version_t now = {key, (uint64_t)r->version_ms, e->origin, false, e->bucket1};
        mesh_table_update(self->mesh, REPL_USAGE, &was, &now);
        e->version_ms = (uint64_t)r->version_ms;
        return;
    }
    e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->version_ms = (uint64_t)r->version_ms;
    e->hour_ms = r->hour_ms;
    int b = mesh_table_bucket(self->mesh, REPL_USAGE, key);
    e->bucket1 = b >= 0 ? (unsigned)b + 1 : 0;
    snprintf(e->origin, sizeof e->origin, "%s", r->origin);
    zhashx_insert(self->index, key, e);
    mesh_rec_version_t now = {key, e->version_ms, e->origin, false, e->bucket1};
    mesh_table_update(self->mesh, REPL_USAGE, NULL, &now);
}

/* ---- signed forms ------------------------------------------------------ */

static int s_keep(repl_usage_t *self, const wire_record_t *r)
{
    abuf_t env = ABUF_INIT;
    int rc = wire_record_pack(r, &env) == 0 &&
                     store_record_put(self->store, REPL_USAGE, r->key, env.data, env.len) == 0
                 ? 0
                 : -1;
    if (rc < 0)
        alog_warn_rl("repl: cannot keep the signed form of usage/%s", r->key);
    abuf_free(&env);
    return rc;
}

/*  Seals one of this node's rollups, keeps its signed form and (push)
    sends it to every peer. out (may be NULL) gets the signed record. */
static int s_seal(repl_usage_t *self, const char *key, const usage_rollup_t *u, bool push,
                  wire_record_t *out)
{
    uint8_t payload[USAGE_ROLLUP_WIRE_MAX];
    size_t len = usage_rollup_encode(u, payload, sizeof payload);
    wire_record_t r = {.table = REPL_USAGE,
                       .key = (char *)key,
                       .version_ms = (uint64_t)u->version_ms,
                       .node = self->id,
                       .payload = payload,
                       .payload_len = len};
    int rc = -1;
    if (len == 0 || u->version_ms <= 0 || wire_record_seal(&r, self->sk) < 0) {
        alog_warn_rl("repl: cannot seal usage/%s", key);
        goto done;
    }
    if (s_keep(self, &r) < 0)
        goto done;
    s_index(self, key, u);
    if (push)
        mesh_record_push(self->mesh, &r);
    rc = out ? wire_record_copy(out, &r) : 0;
done:
    free(r.sealed);
    return rc;
}

/*  The signed form kept for key when it is of exactly (version, node). */
static int s_kept(repl_usage_t *self, const char *key, uint64_t version, const char *node,
                  wire_record_t *out)
{
    void *env = NULL;
    size_t len = 0;
    char err[160];
    int rc = -1;
    if (store_record_get(self->store, REPL_USAGE, key, &env, &len) == 0 &&
        wire_record_unpack(env, len, out, err, sizeof err) == WIRE_MSG_OK) {
        if (out->version_ms == version && strcmp(out->node, node) == 0 && !out->tomb)
            rc = 0;
        else
            wire_record_clear(out);
    }
    free(env);
    return rc;
}

/* ---- the table's callbacks --------------------------------------------- */

mesh_rec_rc_t repl_usage_merge(repl_usage_t *self, const wire_record_t *r)
{
    usage_rollup_t u;
    char key[WIRE_MAX_RKEY + 1];
    if (!self || !r || r->tomb || !r->payload || !r->node ||
        usage_rollup_decode(r->payload, r->payload_len, &u) < 0 ||
        repl_usage_rkey(&u, key, sizeof key) < 0 || !r->key || strcmp(key, r->key) != 0 ||
        (uint64_t)u.version_ms != r->version_ms)
        return MESH_REC_INVALID;
    if (strcmp(r->node, u.origin) != 0) {
        /* signed, but by another node than the one whose usage it claims */
        alog_warn_rl("repl: refused usage/%.200s: written by node %.64s, not by its origin", r->key,
                     r->node);
        return MESH_REC_INVALID;
    }
    if (strcmp(u.origin, self->id) == 0)
        return MESH_REC_IGNORED; /* ours: this node is its only writer */
    long long now = zclock_time(), cut = s_cut(self, now);
    if (u.hour_ms > now + USAGE_DAY_MS)
        return MESH_REC_INVALID; /* an hour that has not come (the layer bounds versions alike) */
    if (u.hour_ms < (cut > self->cut ? cut : self->cut))
        return MESH_REC_IGNORED; /* past retention: pruned here, it stays so */
    switch (usage_rollup_apply(self->usage, &u)) {
    case 1:
        s_keep(self, r);
        s_index(self, key, &u);
        return MESH_REC_APPLIED;
    case 0:
        return MESH_REC_IGNORED;
    default:
        return MESH_REC_FAILED;
    }
}

static int s_scan(repl_usage_t *self, long long since_ms, bool push, bool all);

/*  The index and the summary made again from the rollups stored. */
static void s_reload(repl_usage_t *self)
{
    zhashx_purge(self->index);
    s_scan(self, 0, false, true);
    mesh_table_changed(self->mesh, REPL_USAGE);
}

void repl_usage_batch(void *arg, bool begin)
{
    repl_usage_t *self = arg;
    sqlite3 *db = store_sqlite(self->store);
    if (begin) {
        self->in_batch =
            sqlite3_get_autocommit(db) && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    } else if (self->in_batch) {
        self->in_batch = false;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            alog_warn_rl("repl: cannot write the usage rollups of a message: %s",
                         sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            s_reload(self); /* what the index took may be gone */
        }
    }
}

static mesh_rec_rc_t s_merge(void *arg, const wire_record_t *r)
{
    return repl_usage_merge(arg, r);
}

static void s_each(void *arg, void (*fn)(void *ctx, const mesh_rec_version_t *v), void *ctx)
{
    repl_usage_t *self = arg;
    for (s_entry_t *e = zhashx_first(self->index); e; e = zhashx_next(self->index)) {
        mesh_rec_version_t v = {zhashx_cursor(self->index), e->version_ms, e->origin, false,
                                e->bucket1};
        fn(ctx, &v);
    }
}

/*  The parts of a record key of this node (ORIGIN/KEY/MODEL/HOUR). */
static int s_parse(const char *rkey, const char *origin, usage_rollup_t *u)
{
    size_t ol = strlen(origin);
    if (strncmp(rkey, origin, ol) != 0 || rkey[ol] != '/')
        return -1;
    const char *k = rkey + ol + 1, *slash = strchr(k, '/'), *last = strrchr(rkey, '/');
    if (!slash || last <= slash || (size_t)(slash - k) > USAGE_KEY_MAX ||
        (size_t)(last - slash - 1) > USAGE_MODEL_MAX)
        return -1;
    memset(u, 0, sizeof *u);
    snprintf(u->origin, sizeof u->origin, "%s", origin);
    memcpy(u->key, k, (size_t)(slash - k));
    memcpy(u->model, slash + 1, (size_t)(last - slash - 1));
    char *end = NULL;
    u->hour_ms = strtoll(last + 1, &end, 10);
    return end && !*end ? 0 : -1;
}

static int s_fetch(void *arg, const char *key, wire_record_t *out)
{
    repl_usage_t *self = arg;
    const s_entry_t *e = zhashx_lookup(self->index, key);
    if (!e)
        return -1;
    if (s_kept(self, key, e->version_ms, e->origin, out) == 0)
        return 0;
    usage_rollup_t u;
    if (strcmp(e->origin, self->id) != 0 || s_parse(key, self->id, &u) < 0 ||
        usage_rollup_get(self->usage, u.origin, u.key, u.model, u.hour_ms, &u) < 0)
        return -1; /* another node's version we hold without its signature */
    return s_seal(self, key, &u, false, out);
}

/* ---- ticks ------------------------------------------------------------- */

/*  Rollups whose hour is before the cut leave the table and the store. */
static void s_expire(repl_usage_t *self, long long now_ms)
{
    long long cut = s_cut(self, now_ms);
    if (cut <= self->cut)
        return;
    self->cut = cut;
    usage_prune(self->usage, now_ms);
    zlistx_t *gone = zlistx_new();
    if (!gone)
        return;
    zlistx_set_duplicator(gone, s_str_dup);
    zlistx_set_destructor(gone, s_entry_free);
    for (s_entry_t *e = zhashx_first(self->index); e; e = zhashx_next(self->index))
        if (e->hour_ms < cut)
            zlistx_add_end(gone, (void *)zhashx_cursor(self->index));
    for (const char *key = zlistx_first(gone); key; key = zlistx_next(gone)) {
        s_entry_t *e = zhashx_lookup(self->index, key);
        mesh_rec_version_t was = {key, e->version_ms, e->origin, false, e->bucket1};
        mesh_table_update(self->mesh, REPL_USAGE, &was, NULL);
        zhashx_delete(self->index, key);
        sqlite3_bind_text(self->del, 1, REPL_USAGE, -1, SQLITE_STATIC);
        sqlite3_bind_text(self->del, 2, key, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(self->del) != SQLITE_DONE)
            alog_warn_rl("repl: cannot drop the signed form of usage/%s", key);
        sqlite3_reset(self->del);
    }
    size_t n = zlistx_size(gone);
    zlistx_destroy(&gone);
    if (n)
        alog_info("repl: %zu usage rollup(s) past retention left the table", n);
}

/*  The rollups changed since since_ms: this node's are sealed (and
    pushed) when their version is not the table's; with all, the others'
    are indexed too (start-up). */
static int s_scan(repl_usage_t *self, long long since_ms, bool push, bool all)
{
    usage_rollup_t *rs = NULL;
    size_t n = 0;
    if (usage_rollups_since(self->usage, since_ms, &rs, &n) < 0)
        return -1;
    /* the signed forms in one transaction (the flush ran in usage_rollups_since) */
    sqlite3 *db = store_sqlite(self->store);
    bool txn = n && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    int sent = 0;
    for (size_t i = 0; i < n; i++) {
        char key[WIRE_MAX_RKEY + 1];
        bool own = strcmp(rs[i].origin, self->id) == 0;
        if ((!own && !all) || repl_usage_rkey(&rs[i], key, sizeof key) < 0 ||
            rs[i].hour_ms < self->cut)
            continue;
        const s_entry_t *e = zhashx_lookup(self->index, key);
        if (e && e->version_ms == (uint64_t)rs[i].version_ms)
            continue;
        if (!own) {
            s_index(self, key, &rs[i]);
            continue;
        }
        wire_record_t kept;
        if (!push && s_kept(self, key, (uint64_t)rs[i].version_ms, self->id, &kept) == 0) {
            wire_record_clear(&kept); /* signed before the restart */
            s_index(self, key, &rs[i]);
            continue;
        }
        if (s_seal(self, key, &rs[i], push, NULL) == 0 && push)
            sent++;
    }
    if (txn && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        alog_warn_rl("repl: cannot keep the signed forms of usage: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    free(rs);
    return sent;
}

int repl_usage_tick(repl_usage_t *self, long long now_ms)
{
    if (!self)
        return -1;
    s_expire(self, now_ms);
    return s_scan(self, now_ms - S_WINDOW_MS, true, false);
}

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    repl_usage_tick(arg, zclock_time());
    return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

repl_usage_t *repl_usage_new(const repl_usage_config_t *cfg)
{
    if (!cfg || !cfg->mesh || !cfg->store || !cfg->usage || !cfg->node_id || !cfg->sk ||
        strlen(cfg->node_id) > USAGE_NODE_MAX || cfg->rollup_keep_days < 1)
        return NULL;
    repl_usage_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->mesh = cfg->mesh, self->store = cfg->store, self->usage = cfg->usage;
    self->timer = -1;
    snprintf(self->id, sizeof self->id, "%s", cfg->node_id);
    memcpy(self->sk, cfg->sk, sizeof self->sk);
    self->keep_days = cfg->rollup_keep_days;
    self->cut = s_cut(self, zclock_time());
    self->index = zhashx_new();
    if (self->index)
        zhashx_set_destructor(self->index, s_entry_free);
    mesh_table_config_t tc = {.name = REPL_USAGE,
                              .buckets = REPL_USAGE_BUCKETS,
                              .merge = s_merge,
                              .each = s_each,
                              .fetch = s_fetch,
                              .arg = self,
                              .incremental = true,
                              .batch = repl_usage_batch};
    if (!self->index ||
        sqlite3_prepare_v2(store_sqlite(self->store),
                           "DELETE FROM mesh_records WHERE tbl = ?1 AND rkey = ?2", -1, &self->del,
                           NULL) != SQLITE_OK ||
        mesh_table_add(self->mesh, &tc) < 0) {
        repl_usage_destroy(&self);
        return NULL;
    }
    s_scan(self, 0, false, true);
    mesh_table_changed(self->mesh, REPL_USAGE); /* the first summary, whole */
    if (cfg->loop) {
        self->loop = cfg->loop;
        self->timer =
            zloop_timer(cfg->loop, (size_t)(cfg->push_ms > 0 ? cfg->push_ms : REPL_USAGE_PUSH_MS),
                        0, s_on_timer, self);
    }
    return self;
}

void repl_usage_destroy(repl_usage_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    repl_usage_t *self = *self_p;
    if (self->loop && self->timer >= 0)
        zloop_timer_end(self->loop, self->timer);
    sqlite3_finalize(self->del);
    zhashx_destroy(&self->index);
    sodium_memzero(self->sk, sizeof self->sk);
    free(self);
    *self_p = NULL;
}
