/*  store — see store.h.

    One sqlite3 connection per store_t, opened without any process-wide
    sqlite3_config(). Statements are prepared per call (every call is rare:
    start-up, catalog refresh, a cooldown, a peer) and finalized before
    returning. Every SQLite failure is logged once at warn with
    sqlite3_errmsg and returned as -1. Text longer than the caller's field is
    refused, never truncated. The schema version lives in PRAGMA user_version;
    s_migrations[i] moves the database from version i to i + 1. */
#include "node/store.h"

#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol/alog.h"
#include "protocol/ident.h"

#define S_PATH_MAX 4096
#define S_DB_FILE "arena.db"
#define S_BUSY_MS 2000
#define S_MODELS_MAX 4096     /* matches arena_catalog_extract's default cap */
#define S_MODEL_FIELD_MAX 255 /* name/org/provider bytes; fits store_cooldown_t.model */
#define S_MODEL_ID_MAX 128
#define S_ROWS_MAX 65536 /* cooldowns or peers loaded at once */
#define S_TOKEN_BYTES 32
#define S_META_MAX 4096
#define S_NODE_ID_CAP sizeof(((store_cooldown_t *)0)->node_id)
#define S_MODEL_CAP sizeof(((store_cooldown_t *)0)->model)
#define S_PEER_ID_CAP sizeof(((store_peer_t *)0)->id)

#define S_KEY_FILE "node.key" /* the signing key's seed, hex, 0600 */

struct _store_t {
    sqlite3 *db;
    char dir[S_PATH_MAX + 1]; /* the data directory */
};

static const char *const s_migrations[] = {
    /* 0 → 1 */
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
    "CREATE TABLE models (name TEXT PRIMARY KEY NOT NULL, arena_id TEXT NOT NULL,"
    " organization TEXT, provider TEXT, modality INTEGER NOT NULL,"
    " input_image INTEGER NOT NULL, position INTEGER NOT NULL);"
    "CREATE TABLE cooldowns (node_id TEXT NOT NULL, model TEXT NOT NULL,"
    " until_ms INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (node_id, model));"
    "CREATE INDEX cooldowns_until ON cooldowns (until_ms);"
    "CREATE TABLE peers (id TEXT PRIMARY KEY NOT NULL, endpoint TEXT NOT NULL,"
    " last_seen_ms INTEGER NOT NULL);",
    /* 1 → 2: the page's rows whole (twins share a name, so the key is the
       row's position and the id is unique), with displayName and
       userSelectable; rows of schema 1 had neither and were selectable */
    "CREATE TABLE models_v2 (name TEXT NOT NULL, arena_id TEXT NOT NULL UNIQUE,"
    " organization TEXT, provider TEXT, modality INTEGER NOT NULL,"
    " input_image INTEGER NOT NULL, position INTEGER PRIMARY KEY,"
    " display_name TEXT, user_selectable INTEGER NOT NULL DEFAULT 1);"
    "INSERT OR IGNORE INTO models_v2 (name, arena_id, organization, provider, modality,"
    " input_image, position) SELECT name, arena_id, organization, provider, modality,"
    " input_image, position FROM models ORDER BY position;"
    "DROP TABLE models;"
    "ALTER TABLE models_v2 RENAME TO models;",
    /* 2 → 3: an image model's aspect ratios (issue #10, /v1/images/generations) */
    "ALTER TABLE models ADD COLUMN aspect_ratios TEXT;",
    /* 3 → 4: API keys (issue #11, node/keys.h): hashes only; a revoked
       key stays as a tombstone so an old copy cannot bring it back */
    "CREATE TABLE api_keys (name TEXT PRIMARY KEY NOT NULL, hash BLOB NOT NULL,"
    " tier TEXT NOT NULL, expires_ms INTEGER NOT NULL DEFAULT 0, models TEXT NOT NULL"
    " DEFAULT '', created_ms INTEGER NOT NULL, created_by TEXT NOT NULL,"
    " version_ms INTEGER NOT NULL, version_node TEXT NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0);",
    /* 4 → 5: the audit log (issue #11, node/audit.h): append-only, the
       triggers refuse any UPDATE, and any DELETE but of the rows more than
       STORE_AUDIT_KEEP (1000000) behind the newest (the retention bound) */
    "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,"
    " node_id TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, origin TEXT NOT NULL,"
    " subject TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE INDEX audit_at ON audit (at_ms, id);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    " WHEN old.id > (SELECT max(id) FROM audit) - 1000000"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    /* 5 → 6: tiers the operator changed or added (issue #11, node/tiers.h;
       their fields as the JSON the admin API takes), and the signed form
       of every replicated record (mesh.h, mesh_table_add) so that this
       node can send on what it learned from others */
    "CREATE TABLE tiers (name TEXT PRIMARY KEY NOT NULL, body TEXT NOT NULL,"
    " version_ms INTEGER NOT NULL, version_node TEXT NOT NULL);"
    "CREATE TABLE mesh_records (tbl TEXT NOT NULL, rkey TEXT NOT NULL, env BLOB NOT NULL,"
    " PRIMARY KEY (tbl, rkey));",
    /* 6 → 7: usage (issue #11, node/usage.h): one raw row per request this
       node admitted (local, --usage-keep) and the hourly rollups per origin
       node × key × model, replicable records (--usage-rollup-keep) */
    "CREATE TABLE usage_rows (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,"
    " key TEXT NOT NULL, model TEXT NOT NULL, served_by TEXT NOT NULL, status INTEGER NOT NULL,"
    " prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,"
    " estimated INTEGER NOT NULL, ttfb_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,"
    " cost_nusd INTEGER NOT NULL);"
    "CREATE INDEX usage_rows_at ON usage_rows (at_ms);"
    "CREATE TABLE usage_rollups (origin TEXT NOT NULL, key TEXT NOT NULL, model TEXT NOT NULL,"
    " hour_ms INTEGER NOT NULL, version_ms INTEGER NOT NULL, requests INTEGER NOT NULL,"
    " errors INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,"
    " completion_tokens INTEGER NOT NULL, estimated INTEGER NOT NULL,"
    " cost_nusd INTEGER NOT NULL, ttfb_ms_sum INTEGER NOT NULL, ttfb_count INTEGER NOT NULL,"
    " duration_ms_sum INTEGER NOT NULL, PRIMARY KEY (origin, key, model, hour_ms));"
    "CREATE INDEX usage_rollups_hour ON usage_rollups (hour_ms, key);"
    "CREATE INDEX usage_rollups_version ON usage_rollups (version_ms);",
};
#define S_SCHEMA_VERSION ((int)(sizeof s_migrations / sizeof s_migrations[0]))

/* ---- helpers ---------------------------------------------------------- */

static int s_fail(store_t *self, const char *what)
{
    alog_warn("store: %s: %s", what, sqlite3_errmsg(self->db));
    return -1;
}

static int s_exec(store_t *self, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    alog_warn("store: %s: %s", what, msg ? msg : sqlite3_errmsg(self->db));
    sqlite3_free(msg);
    return -1;
}

static sqlite3_stmt *s_prepare(store_t *self, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        s_fail(self, "prepare");
        return NULL;
    }
    return st;
}

/*  Binds a C string (NULL → SQL NULL); 0 or -1. */
static int s_bind_text(sqlite3_stmt *st, int col, const char *s)
{
    int rc = s ? sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, col);
    return rc == SQLITE_OK ? 0 : -1;
}

/*  Steps a statement that returns no rows, then finalizes it. */
static int s_step_done(store_t *self, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : s_fail(self, what);
    sqlite3_finalize(st);
    return rc;
}

/*  Copies a text column into out[outlen]; -1 when NULL or too long. */
static int s_column_copy(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
    const unsigned char *txt = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (!txt || n >= outlen)
        return -1;
    memcpy(out, txt, n);
    out[n] = '\0';
    return 0;
}

/*  1 when s is a NUL-terminated, non-empty string within cap bytes. */
static int s_field_ok(const char *s, size_t cap)
{
    return s && s[0] && strnlen(s, cap) < cap;
}

/*  Same, empty allowed. */
static int s_text_ok(const char *s, size_t cap)
{
    return s && strnlen(s, cap) < cap;
}

/*  Ends an open transaction after a failure. */
static void s_rollback(store_t *self, const char *what)
{
    if (!sqlite3_get_autocommit(self->db))
        s_exec(self, "ROLLBACK", what);
}

/* ---- open / close ----------------------------------------------------- */

static int s_mkdirs(const char *dir, char *err, size_t errlen)
{
    char path[S_PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path) {
        snprintf(err, errlen, "data directory: path is empty or longer than %d bytes",
                 S_PATH_MAX - 1);
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "data directory %s: cannot create %s: %s", dir, path,
                     strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "data directory %s: cannot create: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "data directory %s: exists but is not a directory", dir);
        return -1;
    }
    return 0;
}

static int s_user_version(store_t *self, int *out)
{
    sqlite3_stmt *st = s_prepare(self, "PRAGMA user_version");
    if (!st)
        return -1;
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = 0;
    } else
        s_fail(self, "read user_version");
    sqlite3_finalize(st);
    return rc;
}

/*  Runs each pending migration in its own transaction. */
static int s_migrate(store_t *self, char *err, size_t errlen)
{
    int version = 0;
    if (s_user_version(self, &version) != 0) {
        snprintf(err, errlen, "database: cannot read the schema version: %s",
                 sqlite3_errmsg(self->db));
        return -1;
    }
    if (version > S_SCHEMA_VERSION) {
        snprintf(err, errlen, "database: schema version %d is newer than this arena-node (%d)",
                 version, S_SCHEMA_VERSION);
        return -1;
    }
    for (; version < S_SCHEMA_VERSION; version++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
        if (s_exec(self, "BEGIN IMMEDIATE", "begin migration") != 0)
            goto fail;
        if (s_exec(self, s_migrations[version], "migrate") != 0 ||
            s_exec(self, bump, "set user_version") != 0 ||
            s_exec(self, "COMMIT", "commit migration") != 0) {
            s_rollback(self, "rollback migration");
            goto fail;
        }
    }
    return 0;
fail:
    snprintf(err, errlen, "database: migration to schema %d failed: %s", version + 1,
             sqlite3_errmsg(self->db));
    return -1;
}

/*  WAL, NORMAL sync, foreign keys, busy timeout. */
static int s_configure(store_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *st = s_prepare(self, "PRAGMA journal_mode = WAL");
    int wal = 0;
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(st, 0);
        wal = mode && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(st);
    if (!wal) {
        snprintf(err, errlen, "database: cannot switch to WAL: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    if (sqlite3_busy_timeout(self->db, S_BUSY_MS) != SQLITE_OK ||
        s_exec(self, "PRAGMA synchronous = NORMAL", "synchronous") != 0 ||
        s_exec(self, "PRAGMA foreign_keys = ON", "foreign_keys") != 0) {
        snprintf(err, errlen, "database: cannot configure: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    return 0;
}

store_t *store_open(const char *data_dir, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!data_dir) {
        snprintf(err, errlen, "data directory: none given");
        return NULL;
    }
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    if (s_mkdirs(data_dir, err, errlen) != 0)
        return NULL;
    char path[S_PATH_MAX + sizeof S_DB_FILE + 1];
    snprintf(path, sizeof path, "%s/%s", data_dir, S_DB_FILE);

    store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->dir, sizeof self->dir, "%s", data_dir);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &self->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "database %s: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        goto err;
    }
    sqlite3_extended_result_codes(self->db, 1);
    if (s_configure(self, err, errlen) != 0 || s_migrate(self, err, errlen) != 0)
        goto err;
    return self;
err:
    alog_warn("store: %s", err);
    store_destroy(&self);
    return NULL;
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->db && sqlite3_close(self->db) != SQLITE_OK)
        alog_warn("store: close: %s", sqlite3_errmsg(self->db));
    free(self);
    *self_p = NULL;
}

/* ---- meta ------------------------------------------------------------- */

int store_meta_get(store_t *self, const char *key, char *out, size_t outlen)
{
    if (!self || !s_field_ok(key, S_META_MAX) || !out || !outlen)
        return -1;
    sqlite3_stmt *st = s_prepare(self, "SELECT value FROM meta WHERE key = ?1");
    if (!st)
        return -1;
    int rc = -1;
    if (s_bind_text(st, 1, key) != 0) {
        s_fail(self, "bind meta key");
    } else {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            rc = 1;
        else if (step != SQLITE_ROW)
            s_fail(self, "read meta");
        else if (s_column_copy(st, 0, out, outlen) == 0)
            rc = 0;
        else
            alog_warn("store: meta \"%s\" is longer than %zu bytes", key, outlen - 1);
    }
    sqlite3_finalize(st);
    return rc;
}

/*  insert_only: keep an existing value (first writer wins). */
static int s_meta_put(store_t *self, const char *key, const char *value, bool insert_only)
{
    if (!self || !s_field_ok(key, S_META_MAX) || !s_text_ok(value, S_META_MAX))
        return -1;
    sqlite3_stmt *st =
        s_prepare(self, insert_only ? "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                      "ON CONFLICT (key) DO NOTHING"
                                    : "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                      "ON CONFLICT (key) DO UPDATE SET value = ?2");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, key) != 0 || s_bind_text(st, 2, value) != 0) {
        s_fail(self, "bind meta");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "write meta");
}

int store_meta_set(store_t *self, const char *key, const char *value)
{
    return s_meta_put(self, key, value, false);
}

/*  Reads key; when missing stores `fresh` (unless another writer got there
    first) and reads again, so every caller sees the one kept value. */
static int s_meta_once(store_t *self, const char *key, const char *fresh, char *out, size_t outlen)
{
    int rc = store_meta_get(self, key, out, outlen);
    if (rc != 1)
        return rc;
    if (s_meta_put(self, key, fresh, true) != 0)
        return -1;
    return store_meta_get(self, key, out, outlen) == 0 ? 0 : -1;
}

int store_node_id(store_t *self, char out[UUID_STR_LEN])
{
    if (!self || !out)
        return -1;
    char fresh[UUID_STR_LEN];
    uuid4_generate(fresh);
    if (s_meta_once(self, "node_id", fresh, out, UUID_STR_LEN) != 0)
        return -1;
    if (!uuid_is_valid(out)) {
        alog_warn("store: stored node_id \"%s\" is not a UUID", out);
        return -1;
    }
    return 0;
}

/*  Reads the seed from an existing key file: -1 (logged) when it cannot be
    read, is open to others, or does not hold 64 hex digits. */
static int s_key_read(int fd, const char *path, uint8_t seed[IDENT_SEED_LEN])
{
    struct stat sb;
    char hex[2 * IDENT_SEED_LEN + 2];
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        alog_warn("store: %s is not a regular file", path);
        return -1;
    }
    if (sb.st_mode & 077) {
        alog_warn("store: %s is readable or writable by others (mode %03o): refusing to use it "
                  "(chmod 600 it)",
                  path, (unsigned)(sb.st_mode & 0777));
        return -1;
    }
    ssize_t n = read(fd, hex, sizeof hex);
    size_t bin_len = 0;
    if (n < 2 * IDENT_SEED_LEN ||
        sodium_hex2bin(seed, IDENT_SEED_LEN, hex, (size_t)n, "\n", &bin_len, NULL) != 0 ||
        bin_len != IDENT_SEED_LEN) {
        alog_warn("store: %s does not hold a key (64 hex digits)", path);
        sodium_memzero(hex, sizeof hex);
        return -1;
    }
    sodium_memzero(hex, sizeof hex);
    return 0;
}

/*  A new seed in a new file (0600, created exclusively: two nodes sharing a
    directory cannot both write one). 0, 1 (it exists now), -1. */
static int s_key_create(const char *path, uint8_t seed[IDENT_SEED_LEN])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 1 : -1;
    char hex[2 * IDENT_SEED_LEN + 2];
    randombytes_buf(seed, IDENT_SEED_LEN);
    sodium_bin2hex(hex, sizeof hex - 1, seed, IDENT_SEED_LEN);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    bool ok = write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
    sodium_memzero(hex, sizeof hex);
    if (close(fd) != 0 || !ok) {
        unlink(path);
        return -1;
    }
    return 0;
}

int store_node_identity(store_t *self, uint8_t sk[IDENT_SK_LEN], char id[UUID_STR_LEN])
{
    if (!self || !sk || !id)
        return -1;
    char path[S_PATH_MAX + sizeof S_KEY_FILE + 2];
    snprintf(path, sizeof path, "%s/%s", self->dir, S_KEY_FILE);
    uint8_t seed[IDENT_SEED_LEN], pk[IDENT_PK_LEN];
    int rc = s_key_create(path, seed);
    if (rc == 1) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        rc = fd < 0 ? -1 : s_key_read(fd, path, seed);
        if (fd >= 0)
            close(fd);
    } else if (rc == 0) {
        alog_info("store: made a new signing key in %s", path);
    }
    if (rc != 0 || ident_keypair(seed, pk, sk) != 0) {
        alog_warn("store: cannot read or make the node's signing key %s", path);
        sodium_memzero(seed, sizeof seed);
        return -1;
    }
    sodium_memzero(seed, sizeof seed);
    char derived[IDENT_ID_LEN], old[UUID_STR_LEN];
    ident_id(pk, derived);
    int had = store_meta_get(self, "node_id", old, sizeof old);
    if (had < 0)
        return -1;
    if (had == 0 && strcmp(old, derived) != 0)
        alog_info("store: the node id moves from %s to %s, the id of its signing key (ids are "
                  "bound to keys since mesh protocol 2)",
                  old, derived);
    if ((had != 0 || strcmp(old, derived) != 0) && store_meta_set(self, "node_id", derived) != 0)
        return -1;
    snprintf(id, UUID_STR_LEN, "%s", derived);
    return 0;
}

int store_link_token(store_t *self, const char *fixed, char *out, size_t outlen)
{
    if (!self || !out || !outlen)
        return -1;
    if (fixed) {
        size_t len = strlen(fixed);
        if (len == 0 || len >= outlen) {
            alog_warn("store: fixed link token must be 1..%zu bytes", outlen - 1);
            return -1;
        }
        if (store_meta_set(self, "link_token", fixed) != 0)
            return -1;
        memcpy(out, fixed, len + 1);
        return 0;
    }
    unsigned char raw[S_TOKEN_BYTES];
    char hex[S_TOKEN_BYTES * 2 + 1];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    int rc = s_meta_once(self, "link_token", hex, out, outlen);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

/* ---- models ----------------------------------------------------------- */

static int s_model_ok(const arena_model_t *m)
{
    return s_field_ok(m->name, S_MODEL_FIELD_MAX + 1) && s_field_ok(m->id, S_MODEL_ID_MAX + 1) &&
           (!m->organization || s_text_ok(m->organization, S_MODEL_FIELD_MAX + 1)) &&
           (!m->provider || s_text_ok(m->provider, S_MODEL_FIELD_MAX + 1)) &&
           (!m->display_name || s_text_ok(m->display_name, S_MODEL_FIELD_MAX + 1)) &&
           (!m->aspect_ratios || s_text_ok(m->aspect_ratios, ARENA_ASPECT_RATIOS_MAX)) &&
           (int)m->modality >= ARENA_MODALITY_CHAT && m->modality <= ARENA_MODALITY_SEARCH;
}

static int s_model_insert(store_t *self, sqlite3_stmt *st, const arena_model_t *m, size_t pos)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (s_bind_text(st, 1, m->name) != 0 || s_bind_text(st, 2, m->id) != 0 ||
        s_bind_text(st, 3, m->organization) != 0 || s_bind_text(st, 4, m->provider) != 0 ||
        sqlite3_bind_int(st, 5, (int)m->modality) != SQLITE_OK ||
        sqlite3_bind_int(st, 6, m->input_image ? 1 : 0) != SQLITE_OK ||
        sqlite3_bind_int64(st, 7, (sqlite3_int64)pos) != SQLITE_OK ||
        s_bind_text(st, 8, m->display_name) != 0 ||
        sqlite3_bind_int(st, 9, m->user_selectable ? 1 : 0) != SQLITE_OK ||
        s_bind_text(st, 10, m->aspect_ratios) != 0)
        return s_fail(self, "bind model");
    if (sqlite3_step(st) != SQLITE_DONE) {
        alog_warn("store: insert model \"%s\": %s", m->name, sqlite3_errmsg(self->db));
        return -1;
    }
    return 0;
}

int store_models_replace(store_t *self, const arena_catalog_t *cat)
{
    if (!self || !cat || (cat->n && !cat->models))
        return -1;
    if (cat->n > S_MODELS_MAX) {
        alog_warn("store: catalog of %zu models exceeds %d", cat->n, S_MODELS_MAX);
        return -1;
    }
    for (size_t i = 0; i < cat->n; i++)
        if (!s_model_ok(&cat->models[i])) {
            alog_warn("store: model %zu has a missing, over-long or invalid field", i);
            return -1;
        }
    if (s_exec(self, "BEGIN IMMEDIATE", "begin models") != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = s_exec(self, "DELETE FROM models", "clear models");
    if (rc == 0 && !(st = s_prepare(self, "INSERT INTO models (name, arena_id, organization, "
                                          "provider, modality, input_image, position, "
                                          "display_name, user_selectable, aspect_ratios) "
                                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < cat->n; i++)
        rc = s_model_insert(self, st, &cat->models[i], i);
    sqlite3_finalize(st);
    if (rc == 0 && s_exec(self, "COMMIT", "commit models") == 0)
        return 0;
    s_rollback(self, "rollback models");
    return -1;
}

static char *s_column_dup(sqlite3_stmt *st, int col, size_t max, bool *bad)
{
    const unsigned char *txt = sqlite3_column_text(st, col);
    if (!txt)
        return NULL;
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *s = n <= max ? strndup((const char *)txt, n) : NULL;
    if (!s)
        *bad = true;
    return s;
}

/*  One row into m; 0, or -1 when a field is missing or out of bounds. */
static int s_model_row(sqlite3_stmt *st, arena_model_t *m)
{
    bool bad = false;
    memset(m, 0, sizeof *m);
    m->name = s_column_dup(st, 0, S_MODEL_FIELD_MAX, &bad);
    m->id = s_column_dup(st, 1, S_MODEL_ID_MAX, &bad);
    m->organization = s_column_dup(st, 2, S_MODEL_FIELD_MAX, &bad);
    m->provider = s_column_dup(st, 3, S_MODEL_FIELD_MAX, &bad);
    int modality = sqlite3_column_int(st, 4);
    m->modality = (arena_modality_t)modality;
    m->input_image = sqlite3_column_int(st, 5) != 0;
    m->display_name = s_column_dup(st, 6, S_MODEL_FIELD_MAX, &bad);
    m->user_selectable = sqlite3_column_int(st, 7) != 0;
    m->aspect_ratios = s_column_dup(st, 8, ARENA_ASPECT_RATIOS_MAX - 1, &bad);
    if (bad || !m->name || !m->id || modality < ARENA_MODALITY_CHAT ||
        modality > ARENA_MODALITY_SEARCH) {
        arena_model_clear(m);
        return -1;
    }
    return 0;
}

/*  Makes room for one more model; 0 or -1. */
static int s_models_grow(arena_catalog_t *cat, size_t *cap)
{
    if (cat->n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    arena_model_t *grown = realloc(cat->models, ncap * sizeof *grown);
    if (!grown)
        return -1;
    cat->models = grown;
    *cap = ncap;
    return 0;
}

int store_models_load(store_t *self, arena_catalog_t *out)
{
    if (!self || !out)
        return -1;
    out->models = NULL;
    out->n = 0;
    sqlite3_stmt *st = s_prepare(self, "SELECT name, arena_id, organization, provider, modality, "
                                       "input_image, display_name, user_selectable, "
                                       "aspect_ratios FROM models "
                                       "ORDER BY position LIMIT ?1");
    if (!st)
        return -1;
    int rc = -1, step = SQLITE_DONE;
    size_t cap = 0;
    if (sqlite3_bind_int(st, 1, S_MODELS_MAX) != SQLITE_OK) {
        s_fail(self, "bind limit");
        goto done;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (s_models_grow(out, &cap) != 0) {
            alog_warn("store: load models: out of memory");
            goto done;
        }
        if (s_model_row(st, &out->models[out->n]) == 0)
            out->n++;
        else
            alog_warn("store: load models: skipping a malformed row");
    }
    if (step != SQLITE_DONE)
        s_fail(self, "load models");
    else
        rc = 0;
done:
    sqlite3_finalize(st);
    if (rc != 0 || out->n == 0) {
        arena_catalog_clear(out);
        out->models = NULL;
        out->n = 0;
    }
    return rc;
}

/* ---- cooldowns -------------------------------------------------------- */

int store_cooldown_set(store_t *self, const store_cooldown_t *c)
{
    if (!self || !c || !s_field_ok(c->node_id, sizeof c->node_id) ||
        !s_field_ok(c->model, sizeof c->model) || !s_text_ok(c->reason, sizeof c->reason)) {
        alog_warn("store: cooldown refused: a field is missing or over-long");
        return -1;
    }
    sqlite3_stmt *st = s_prepare(self, "INSERT INTO cooldowns (node_id, model, until_ms, reason) "
                                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (node_id, model) "
                                       "DO UPDATE SET until_ms = ?3, reason = ?4");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, c->node_id) != 0 || s_bind_text(st, 2, c->model) != 0 ||
        sqlite3_bind_int64(st, 3, c->until_ms) != SQLITE_OK || s_bind_text(st, 4, c->reason) != 0) {
        s_fail(self, "bind cooldown");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "write cooldown");
}

int store_cooldown_clear(store_t *self, const char *node_id, const char *model)
{
    if (!self || !s_field_ok(node_id, S_NODE_ID_CAP) || !s_field_ok(model, S_MODEL_CAP))
        return -1;
    sqlite3_stmt *st = s_prepare(self, "DELETE FROM cooldowns WHERE node_id = ?1 AND model = ?2");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, node_id) != 0 || s_bind_text(st, 2, model) != 0) {
        s_fail(self, "bind cooldown");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "clear cooldown");
}

/*  Collects rows of a query into a malloc'd array of `size`-byte records,
    at most S_ROWS_MAX; `row` fills one record and returns -1 to skip it. */
typedef int(s_row_fn)(sqlite3_stmt *st, void *rec);

static int s_collect(store_t *self, sqlite3_stmt *st, size_t size, s_row_fn *row, void **out,
                     size_t *n, const char *what)
{
    *out = NULL;
    *n = 0;
    char *recs = NULL;
    size_t cap = 0, count = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && count < S_ROWS_MAX) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *grown = realloc(recs, ncap * size);
            if (!grown) {
                free(recs);
                alog_warn("store: %s: out of memory", what);
                return -1;
            }
            recs = grown;
            cap = ncap;
        }
        if (row(st, recs + count * size) == 0)
            count++;
        else
            alog_warn("store: %s: skipping a malformed row", what);
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        free(recs);
        return s_fail(self, what);
    }
    if (step == SQLITE_ROW)
        alog_warn("store: %s: keeping the first %d rows", what, S_ROWS_MAX);
    if (count == 0) {
        free(recs);
        recs = NULL;
    }
    *out = recs;
    *n = count;
    return 0;
}

static int s_cooldown_row(sqlite3_stmt *st, void *rec)
{
    store_cooldown_t *c = rec;
    memset(c, 0, sizeof *c);
    c->until_ms = sqlite3_column_int64(st, 2);
    return s_column_copy(st, 0, c->node_id, sizeof c->node_id) == 0 &&
                   s_column_copy(st, 1, c->model, sizeof c->model) == 0 &&
                   s_column_copy(st, 3, c->reason, sizeof c->reason) == 0
               ? 0
               : -1;
}

int store_cooldowns_load(store_t *self, long long now_ms, store_cooldown_t **out, size_t *n)
{
    if (!self || !out || !n)
        return -1;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = s_prepare(self, "SELECT node_id, model, until_ms, reason FROM cooldowns "
                                       "WHERE until_ms > ?1 ORDER BY until_ms, node_id, model");
    if (!st)
        return -1;
    int rc = -1;
    void *recs = NULL;
    if (sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK)
        s_fail(self, "bind now");
    else
        rc = s_collect(self, st, sizeof **out, s_cooldown_row, &recs, n, "load cooldowns");
    sqlite3_finalize(st);
    *out = recs;
    return rc;
}

int store_cooldowns_prune(store_t *self, long long now_ms)
{
    if (!self)
        return -1;
    sqlite3_stmt *st = s_prepare(self, "DELETE FROM cooldowns WHERE until_ms <= ?1");
    if (!st)
        return -1;
    if (sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK) {
        s_fail(self, "bind now");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "prune cooldowns");
}

/* ---- peers ------------------------------------------------------------ */

int store_peer_upsert(store_t *self, const store_peer_t *p)
{
    if (!self || !p || !s_field_ok(p->id, sizeof p->id) ||
        !s_field_ok(p->endpoint, sizeof p->endpoint)) {
        alog_warn("store: peer refused: a field is missing or over-long");
        return -1;
    }
    sqlite3_stmt *st = s_prepare(self, "INSERT INTO peers (id, endpoint, last_seen_ms) "
                                       "VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "
                                       "endpoint = ?2, last_seen_ms = ?3");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, p->id) != 0 || s_bind_text(st, 2, p->endpoint) != 0 ||
        sqlite3_bind_int64(st, 3, p->last_seen_ms) != SQLITE_OK) {
        s_fail(self, "bind peer");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "write peer");
}

int store_peer_forget(store_t *self, const char *id)
{
    if (!self || !s_field_ok(id, S_PEER_ID_CAP))
        return -1;
    sqlite3_stmt *st = s_prepare(self, "DELETE FROM peers WHERE id = ?1");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, id) != 0) {
        s_fail(self, "bind peer");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "forget peer");
}

static int s_peer_row(sqlite3_stmt *st, void *rec)
{
    store_peer_t *p = rec;
    memset(p, 0, sizeof *p);
    p->last_seen_ms = sqlite3_column_int64(st, 2);
    return s_column_copy(st, 0, p->id, sizeof p->id) == 0 &&
                   s_column_copy(st, 1, p->endpoint, sizeof p->endpoint) == 0
               ? 0
               : -1;
}

int store_peers_load(store_t *self, store_peer_t **out, size_t *n)
{
    if (!self || !out || !n)
        return -1;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = s_prepare(self, "SELECT id, endpoint, last_seen_ms FROM peers "
                                       "ORDER BY last_seen_ms DESC, id");
    if (!st)
        return -1;
    void *recs = NULL;
    int rc = s_collect(self, st, sizeof **out, s_peer_row, &recs, n, "load peers");
    sqlite3_finalize(st);
    *out = recs;
    return rc;
}

/* ---- API keys --------------------------------------------------------- */

int store_key_put(store_t *self, const store_key_t *k)
{
    if (!self || !k || !s_field_ok(k->name, sizeof k->name) ||
        !s_field_ok(k->tier, sizeof k->tier) || !s_text_ok(k->models, sizeof k->models) ||
        !s_text_ok(k->created_by, sizeof k->created_by) ||
        !s_text_ok(k->version_node, sizeof k->version_node)) {
        alog_warn("store: key refused: a field is missing or over-long");
        return -1;
    }
    sqlite3_stmt *st = s_prepare(
        self, "INSERT OR REPLACE INTO api_keys (name, hash, tier, expires_ms, models, created_ms,"
              " created_by, version_ms, version_node, revoked)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, k->name) != 0 ||
        sqlite3_bind_blob(st, 2, k->hash, sizeof k->hash, SQLITE_TRANSIENT) != SQLITE_OK ||
        s_bind_text(st, 3, k->tier) != 0 || sqlite3_bind_int64(st, 4, k->expires_ms) != SQLITE_OK ||
        s_bind_text(st, 5, k->models) != 0 ||
        sqlite3_bind_int64(st, 6, k->created_ms) != SQLITE_OK ||
        s_bind_text(st, 7, k->created_by) != 0 ||
        sqlite3_bind_int64(st, 8, k->version_ms) != SQLITE_OK ||
        s_bind_text(st, 9, k->version_node) != 0 ||
        sqlite3_bind_int(st, 10, k->revoked ? 1 : 0) != SQLITE_OK) {
        s_fail(self, "bind key");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "write key");
}

static int s_key_row(sqlite3_stmt *st, void *rec)
{
    store_key_t *k = rec;
    memset(k, 0, sizeof *k);
    if (sqlite3_column_bytes(st, 1) != (int)sizeof k->hash || !sqlite3_column_blob(st, 1))
        return -1;
    memcpy(k->hash, sqlite3_column_blob(st, 1), sizeof k->hash);
    k->expires_ms = sqlite3_column_int64(st, 3);
    k->created_ms = sqlite3_column_int64(st, 5);
    k->version_ms = sqlite3_column_int64(st, 7);
    k->revoked = sqlite3_column_int(st, 9) != 0;
    return s_column_copy(st, 0, k->name, sizeof k->name) == 0 &&
                   s_column_copy(st, 2, k->tier, sizeof k->tier) == 0 &&
                   s_column_copy(st, 4, k->models, sizeof k->models) == 0 &&
                   s_column_copy(st, 6, k->created_by, sizeof k->created_by) == 0 &&
                   s_column_copy(st, 8, k->version_node, sizeof k->version_node) == 0
               ? 0
               : -1;
}

int store_keys_load(store_t *self, store_key_t **out, size_t *n)
{
    if (!self || !out || !n)
        return -1;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = s_prepare(self, "SELECT name, hash, tier, expires_ms, models, created_ms,"
                                       " created_by, version_ms, version_node, revoked"
                                       " FROM api_keys ORDER BY name");
    if (!st)
        return -1;
    void *recs = NULL;
    int rc = s_collect(self, st, sizeof **out, s_key_row, &recs, n, "load keys");
    sqlite3_finalize(st);
    *out = recs;
    return rc;
}

/* ---- audit log -------------------------------------------------------- */

int store_audit_append(store_t *self, const store_audit_t *a)
{
    if (!self || !a || !s_field_ok(a->node_id, sizeof a->node_id) ||
        !s_field_ok(a->kind, sizeof a->kind) || !s_text_ok(a->actor, sizeof a->actor) ||
        !s_text_ok(a->origin, sizeof a->origin) || !s_text_ok(a->subject, sizeof a->subject) ||
        !s_text_ok(a->detail, sizeof a->detail)) {
        alog_warn("store: audit row refused: a field is missing or over-long");
        return -1;
    }
    sqlite3_stmt *st = s_prepare(self, "INSERT INTO audit (at_ms, node_id, kind, actor, origin,"
                                       " subject, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st)
        return -1;
    if (sqlite3_bind_int64(st, 1, a->at_ms) != SQLITE_OK || s_bind_text(st, 2, a->node_id) != 0 ||
        s_bind_text(st, 3, a->kind) != 0 || s_bind_text(st, 4, a->actor) != 0 ||
        s_bind_text(st, 5, a->origin) != 0 || s_bind_text(st, 6, a->subject) != 0 ||
        s_bind_text(st, 7, a->detail) != 0) {
        s_fail(self, "bind audit row");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "append audit row");
}

static int s_audit_row(sqlite3_stmt *st, void *rec)
{
    store_audit_t *a = rec;
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(st, 0);
    a->at_ms = sqlite3_column_int64(st, 1);
    return s_column_copy(st, 2, a->node_id, sizeof a->node_id) == 0 &&
                   s_column_copy(st, 3, a->kind, sizeof a->kind) == 0 &&
                   s_column_copy(st, 4, a->actor, sizeof a->actor) == 0 &&
                   s_column_copy(st, 5, a->origin, sizeof a->origin) == 0 &&
                   s_column_copy(st, 6, a->subject, sizeof a->subject) == 0 &&
                   s_column_copy(st, 7, a->detail, sizeof a->detail) == 0
               ? 0
               : -1;
}

int store_audit_load(store_t *self, long long since_ms, size_t limit, store_audit_t **out,
                     size_t *n)
{
    if (!self || !out || !n || limit == 0)
        return -1;
    *out = NULL;
    *n = 0;
    /* since: the oldest rows from then on; else the newest. Oldest first. */
    sqlite3_stmt *st = s_prepare(
        self, since_ms > 0 ? "SELECT id, at_ms, node_id, kind, actor, origin, subject, detail"
                             " FROM audit WHERE at_ms >= ?1 ORDER BY at_ms, id LIMIT ?2"
                           : "SELECT * FROM (SELECT id, at_ms, node_id, kind, actor, origin,"
                             " subject, detail FROM audit WHERE at_ms >= ?1"
                             " ORDER BY at_ms DESC, id DESC LIMIT ?2) ORDER BY at_ms, id");
    if (!st)
        return -1;
    if (sqlite3_bind_int64(st, 1, since_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit) != SQLITE_OK) {
        s_fail(self, "bind audit query");
        sqlite3_finalize(st);
        return -1;
    }
    void *recs = NULL;
    int rc = s_collect(self, st, sizeof **out, s_audit_row, &recs, n, "load audit");
    sqlite3_finalize(st);
    *out = recs;
    return rc;
}

int store_audit_prune(store_t *self)
{
    if (!self)
        return -1;
    sqlite3_stmt *st = s_prepare(self, "DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit)"
                                       " - ?1");
    if (!st)
        return -1;
    if (sqlite3_bind_int64(st, 1, STORE_AUDIT_KEEP) != SQLITE_OK) {
        s_fail(self, "bind audit prune");
        sqlite3_finalize(st);
        return -1;
    }
    if (s_step_done(self, st, "prune audit") != 0)
        return -1;
    int n = sqlite3_changes(self->db);
    if (n > 0)
        alog_info("store: pruned %d audit row(s) beyond the newest %d", n, STORE_AUDIT_KEEP);
    return n;
}

/* ---- tiers and replicated records ------------------------------------- */

int store_tier_put(store_t *self, const store_tier_t *t)
{
    if (!self || !t || !s_field_ok(t->name, sizeof t->name) ||
        !s_field_ok(t->body, sizeof t->body) ||
        !s_text_ok(t->version_node, sizeof t->version_node)) {
        alog_warn("store: tier refused: a field is missing or over-long");
        return -1;
    }
    sqlite3_stmt *st = s_prepare(self, "INSERT OR REPLACE INTO tiers (name, body, version_ms,"
                                       " version_node) VALUES (?1, ?2, ?3, ?4)");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, t->name) != 0 || s_bind_text(st, 2, t->body) != 0 ||
        sqlite3_bind_int64(st, 3, t->version_ms) != SQLITE_OK ||
        s_bind_text(st, 4, t->version_node) != 0) {
        s_fail(self, "bind tier");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "write tier");
}

static int s_tier_row(sqlite3_stmt *st, void *rec)
{
    store_tier_t *t = rec;
    memset(t, 0, sizeof *t);
    t->version_ms = sqlite3_column_int64(st, 2);
    return s_column_copy(st, 0, t->name, sizeof t->name) == 0 &&
                   s_column_copy(st, 1, t->body, sizeof t->body) == 0 &&
                   s_column_copy(st, 3, t->version_node, sizeof t->version_node) == 0
               ? 0
               : -1;
}

int store_tiers_load(store_t *self, store_tier_t **out, size_t *n)
{
    if (!self || !out || !n)
        return -1;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st =
        s_prepare(self, "SELECT name, body, version_ms, version_node FROM tiers ORDER BY name");
    if (!st)
        return -1;
    void *recs = NULL;
    int rc = s_collect(self, st, sizeof **out, s_tier_row, &recs, n, "load tiers");
    sqlite3_finalize(st);
    *out = recs;
    return rc;
}

int store_record_put(store_t *self, const char *tbl, const char *rkey, const void *env, size_t len)
{
    if (!self || !tbl || !rkey || !env || len == 0 || len > STORE_RECORD_MAX)
        return -1;
    sqlite3_stmt *st =
        s_prepare(self, "INSERT OR REPLACE INTO mesh_records (tbl, rkey, env) VALUES (?1, ?2, ?3)");
    if (!st)
        return -1;
    if (s_bind_text(st, 1, tbl) != 0 || s_bind_text(st, 2, rkey) != 0 ||
        sqlite3_bind_blob(st, 3, env, (int)len, SQLITE_TRANSIENT) != SQLITE_OK) {
        s_fail(self, "bind record");
        sqlite3_finalize(st);
        return -1;
    }
    return s_step_done(self, st, "write record");
}

int store_record_get(store_t *self, const char *tbl, const char *rkey, void **env, size_t *len)
{
    if (!self || !tbl || !rkey || !env || !len)
        return -1;
    *env = NULL;
    *len = 0;
    sqlite3_stmt *st = s_prepare(self, "SELECT env FROM mesh_records WHERE tbl = ?1 AND rkey = ?2");
    if (!st)
        return -1;
    int rc = -1;
    if (s_bind_text(st, 1, tbl) == 0 && s_bind_text(st, 2, rkey) == 0 &&
        sqlite3_step(st) == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (b && n > 0 && n <= STORE_RECORD_MAX && (*env = malloc((size_t)n))) {
            memcpy(*env, b, (size_t)n);
            *len = (size_t)n;
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- usage (node/usage.c runs its own statements) ---------------------- */

struct sqlite3 *store_sqlite(store_t *self)
{
    return self ? self->db : NULL;
}
