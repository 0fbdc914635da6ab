/*  test_store — the SQLite state: open/migrate, node id, link token, meta,
    models, cooldowns, peers, and the failures a bad data directory or a
    tampered database must produce. Every test works in its own mkdtemp
    directory. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/store.h"
#include "protocol/alog.h"
#include "tests/support/test_tmpdir.h"

typedef struct {
    char root[256];
    char data[320]; /* root/a/b: exercises mkdir -p */
    char err[512];
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(test_tmpdir_make(fx->root, sizeof fx->root, "test_store"), 0);
    snprintf(fx->data, sizeof fx->data, "%s/a/b", fx->root);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

static store_t *s_open(fx_t *fx)
{
    store_t *st = store_open(fx->data, fx->err, sizeof fx->err);
    if (!st)
        fail_msg("store_open: %s", fx->err);
    return st;
}

/*  Runs SQL on the database behind the store's back. */
static void s_sql(fx_t *fx, const char *sql)
{
    char path[512];
    snprintf(path, sizeof path, "%s/arena.db", fx->data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void s_sql_text(fx_t *fx, const char *sql, char *out, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/arena.db", fx->data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- open ------------------------------------------------------------- */

static void test_open_creates_schema(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    struct stat sb;
    assert_int_equal(stat(fx->data, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    store_destroy(&st);
    assert_null(st);
    store_destroy(&st);
    store_destroy(NULL);

    static const struct {
        const char *sql, *want;
    } rows[] = {
        {"PRAGMA journal_mode", "wal"},
        {"PRAGMA user_version", "7"},
        {"SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
         "WHERE type = 'table' ORDER BY name)",
         "api_keys,audit,cooldowns,mesh_records,meta,models,peers,sqlite_sequence,tiers,usage_"
         "rollups,"
         "usage_rows"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char got[256];
        s_sql_text(fx, rows[i].sql, got, sizeof got);
        assert_string_equal(got, rows[i].want);
    }
    /* opening again migrates nothing and keeps the data */
    st = s_open(fx);
    assert_int_equal(store_meta_set(st, "k", "v"), 0);
    store_destroy(&st);
    st = s_open(fx);
    char v[8];
    assert_int_equal(store_meta_get(st, "k", v, sizeof v), 0);
    assert_string_equal(v, "v");
    store_destroy(&st);
}

static void test_open_failures(void **state)
{
    fx_t *fx = *state;
    char file[320], under[400];
    snprintf(file, sizeof file, "%s/plain", fx->root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(under, sizeof under, "%s/sub", file);

    static const struct {
        int which; /* 0: a file, 1: below a file, 2: NULL, 3: empty */
        const char *want;
    } rows[] = {
        {0, "is not a directory"},
        {1, "cannot create"},
        {2, "none given"},
        {3, "path is empty"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *dir = rows[i].which == 0   ? file
                          : rows[i].which == 1 ? under
                          : rows[i].which == 2 ? NULL
                                               : "";
        fx->err[0] = '\0';
        store_t *st = store_open(dir, fx->err, sizeof fx->err);
        assert_null(st);
        if (!strstr(fx->err, rows[i].want))
            fail_msg("row %zu: \"%s\" lacks \"%s\"", i, fx->err, rows[i].want);
        if (dir && *dir && !strstr(fx->err, dir))
            fail_msg("row %zu: \"%s\" does not name %s", i, fx->err, dir);
    }
    assert_null(store_open(file, NULL, 0)); /* no message buffer: still clean */
}

static void test_newer_schema_refused(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    store_destroy(&st);
    s_sql(fx, "PRAGMA user_version = 99");
    assert_null(store_open(fx->data, fx->err, sizeof fx->err));
    assert_non_null(strstr(fx->err, "schema version 99 is newer"));
}

/* ---- meta, node id, link token ---------------------------------------- */

static void test_meta(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    char out[16];
    assert_int_equal(store_meta_get(st, "missing", out, sizeof out), 1);
    assert_int_equal(store_meta_set(st, "a", "one"), 0);
    assert_int_equal(store_meta_get(st, "a", out, sizeof out), 0);
    assert_string_equal(out, "one");
    assert_int_equal(store_meta_set(st, "a", "two"), 0);
    assert_int_equal(store_meta_get(st, "a", out, sizeof out), 0);
    assert_string_equal(out, "two");
    assert_int_equal(store_meta_set(st, "long", "0123456789abcdef"), 0);
    assert_int_equal(store_meta_get(st, "long", out, sizeof out), -1); /* not truncated */
    assert_int_equal(store_meta_set(st, "empty", ""), 0);
    assert_int_equal(store_meta_get(st, "empty", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(store_meta_set(st, NULL, "x"), -1);
    assert_int_equal(store_meta_set(st, "", "x"), -1);
    assert_int_equal(store_meta_set(st, "k", NULL), -1);
    assert_int_equal(store_meta_get(st, NULL, out, sizeof out), -1);
    assert_int_equal(store_meta_get(st, "a", out, 0), -1);
    assert_int_equal(store_meta_set(NULL, "k", "v"), -1);
    store_destroy(&st);
}

static void test_node_id_stable(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    char a[UUID_STR_LEN], b[UUID_STR_LEN], c[UUID_STR_LEN];
    assert_int_equal(store_node_id(st, a), 0);
    assert_true(uuid_is_valid(a));
    assert_int_equal(store_node_id(st, b), 0);
    assert_string_equal(a, b);
    store_destroy(&st);
    st = s_open(fx);
    assert_int_equal(store_node_id(st, c), 0);
    assert_string_equal(a, c);
    store_destroy(&st);

    /* another data directory is another node */
    snprintf(fx->data, sizeof fx->data, "%s/other", fx->root);
    st = s_open(fx);
    assert_int_equal(store_node_id(st, c), 0);
    assert_string_not_equal(a, c);
    store_destroy(&st);
}

static void test_node_id_corrupt(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    assert_int_equal(store_meta_set(st, "node_id", "not-a-uuid"), 0);
    char id[UUID_STR_LEN];
    assert_int_equal(store_node_id(st, id), -1);
    store_destroy(&st);
}

static int s_moves_logged; /* "the node id moves from" lines seen */

static void s_sink(alog_level_t level, const char *line)
{
    (void)level;
    if (strstr(line, "the node id moves from"))
        s_moves_logged++;
}

/*  The signing key: made once (0600) and kept, the id made from it; a
    directory with an older random id moves to the key's id; a key file
    others may read, or one that holds no key, is refused. */
static void test_node_identity(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    char old[UUID_STR_LEN];
    assert_int_equal(store_node_id(st, old), 0); /* a data dir from before keys */
    uint8_t sk[IDENT_SK_LEN], sk2[IDENT_SK_LEN], pk[IDENT_PK_LEN];
    char id[UUID_STR_LEN], id2[UUID_STR_LEN];
    s_moves_logged = 0;
    alog_set_sink(s_sink);
    assert_int_equal(store_node_identity(st, sk, id), 0);
    assert_int_equal(s_moves_logged, 1); /* said once */
    ident_sk_pk(sk, pk);
    assert_true(ident_id_matches(id, pk));
    assert_string_not_equal(id, old); /* it moved */
    char stored[UUID_STR_LEN];
    assert_int_equal(store_meta_get(st, "node_id", stored, sizeof stored), 0);
    assert_string_equal(stored, id);
    char path[512];
    snprintf(path, sizeof path, "%s/node.key", fx->data);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 65);
    store_destroy(&st);

    st = s_open(fx); /* the next start: the same key, the same id */
    assert_int_equal(store_node_identity(st, sk2, id2), 0);
    assert_memory_equal(sk, sk2, sizeof sk);
    assert_string_equal(id, id2);
    assert_int_equal(s_moves_logged, 1); /* and not again */
    alog_set_sink(NULL);

    assert_int_equal(chmod(path, 0644), 0); /* readable by others: refused */
    assert_int_equal(store_node_identity(st, sk2, id2), -1);
    assert_int_equal(chmod(path, 0600), 0);
    FILE *f = fopen(path, "w"); /* not a key */
    assert_non_null(f);
    fputs("not a key\n", f);
    fclose(f);
    assert_int_equal(store_node_identity(st, sk2, id2), -1);
    store_destroy(&st);

    /* another data directory is another node, with another key */
    snprintf(fx->data, sizeof fx->data, "%s/other", fx->root);
    st = s_open(fx);
    assert_int_equal(store_node_identity(st, sk2, id2), 0);
    assert_string_not_equal(id, id2);
    store_destroy(&st);
}

static int s_is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s))
            return 0;
    return 1;
}

static void test_link_token(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    char a[128], b[128];
    assert_int_equal(store_link_token(st, NULL, a, sizeof a), 0);
    assert_true(s_is_hex64(a));
    assert_int_equal(store_link_token(st, NULL, b, sizeof b), 0);
    assert_string_equal(a, b);
    store_destroy(&st);

    st = s_open(fx);
    assert_int_equal(store_link_token(st, NULL, b, sizeof b), 0);
    assert_string_equal(a, b);
    char small[64]; /* 64 hex chars need 65 bytes */
    assert_int_equal(store_link_token(st, NULL, small, sizeof small), -1);

    /* a fixed token wins, and is what is kept afterwards */
    assert_int_equal(store_link_token(st, "fixed-token", b, sizeof b), 0);
    assert_string_equal(b, "fixed-token");
    store_destroy(&st);
    st = s_open(fx);
    assert_int_equal(store_link_token(st, NULL, b, sizeof b), 0);
    assert_string_equal(b, "fixed-token");
    assert_int_equal(store_link_token(st, "", b, sizeof b), -1);
    assert_int_equal(store_link_token(st, "too-long-for-this", small, 8), -1);
    store_destroy(&st);

    /* a fresh directory gets a different random token */
    snprintf(fx->data, sizeof fx->data, "%s/other", fx->root);
    st = s_open(fx);
    assert_int_equal(store_link_token(st, NULL, b, sizeof b), 0);
    assert_true(s_is_hex64(b));
    assert_string_not_equal(a, b);
    store_destroy(&st);
}

/* ---- models ----------------------------------------------------------- */

static const arena_model_t s_models[] = {
    {"id-z", "zeta-model", "Zeta Org", "zeta", ARENA_MODALITY_CHAT, false, "Zeta \u00e9", true,
     NULL},
    {"id-a", "alpha-image", NULL, NULL, ARENA_MODALITY_IMAGE, false, NULL, true, "1:1,16:9"},
    {"id-m", "mid-vision", "Mid", NULL, ARENA_MODALITY_CHAT, true, "", false, NULL},
    {"id-s", "seeker", NULL, "search-co", ARENA_MODALITY_SEARCH, false, NULL, false, NULL},
    /* a twin: the same name under another id */
    {"id-z2", "zeta-model", "Zeta Org", "zeta", ARENA_MODALITY_CHAT, true, "Zeta 2", true, NULL},
};
#define N_MODELS (sizeof s_models / sizeof s_models[0])

static void s_same_str(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void s_expect_models(store_t *st, const arena_model_t *want, size_t n)
{
    arena_catalog_t got = {0};
    assert_int_equal(store_models_load(st, &got), 0);
    assert_int_equal(got.n, n);
    for (size_t i = 0; i < n; i++) {
        s_same_str(got.models[i].id, want[i].id);
        s_same_str(got.models[i].name, want[i].name);
        s_same_str(got.models[i].organization, want[i].organization);
        s_same_str(got.models[i].provider, want[i].provider);
        assert_int_equal(got.models[i].modality, want[i].modality);
        assert_int_equal(got.models[i].input_image, want[i].input_image);
        s_same_str(got.models[i].display_name, want[i].display_name);
        assert_int_equal(got.models[i].user_selectable, want[i].user_selectable);
        s_same_str(got.models[i].aspect_ratios, want[i].aspect_ratios);
    }
    if (n == 0)
        assert_null(got.models);
    arena_catalog_clear(&got);
}

static void test_models_round_trip(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    s_expect_models(st, NULL, 0);
    arena_catalog_t cat = {(arena_model_t *)s_models, N_MODELS};
    assert_int_equal(store_models_replace(st, &cat), 0);
    s_expect_models(st, s_models, N_MODELS);
    store_destroy(&st);

    st = s_open(fx);
    s_expect_models(st, s_models, N_MODELS);
    /* replacing drops what is not in the new catalog; order follows it */
    arena_model_t two[] = {s_models[3], s_models[0]};
    arena_catalog_t cat2 = {two, 2};
    assert_int_equal(store_models_replace(st, &cat2), 0);
    s_expect_models(st, two, 2);
    arena_catalog_t none = {NULL, 0};
    assert_int_equal(store_models_replace(st, &none), 0);
    s_expect_models(st, NULL, 0);
    store_destroy(&st);
}

static void test_models_rejected(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    arena_catalog_t cat = {(arena_model_t *)s_models, N_MODELS};
    assert_int_equal(store_models_replace(st, &cat), 0);

    char long_name[300];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    static const struct {
        const char *id, *name;
        int modality;
        bool long_display;
    } rows[] = {
        {"id", NULL, 0, false},   /* no name */
        {"id", "", 0, false},     /* empty name */
        {NULL, "x", 0, false},    /* no id */
        {"id", "LONG", 0, false}, /* name longer than 255 bytes */
        {"id", "x", 7, false},    /* unknown modality */
        {"id-z", "x", 0, false},  /* duplicate id: fails inside the transaction */
        {"id", "x", 0, true},     /* display name longer than 255 bytes */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        arena_model_t m[2] = {s_models[0]};
        m[1].id = (char *)rows[i].id;
        m[1].name = !rows[i].name                   ? NULL
                    : !strcmp(rows[i].name, "LONG") ? long_name
                                                    : (char *)rows[i].name;
        m[1].modality = (arena_modality_t)rows[i].modality;
        m[1].display_name = rows[i].long_display ? long_name : NULL;
        arena_catalog_t bad = {m, 2};
        if (store_models_replace(st, &bad) != -1)
            fail_msg("row %zu accepted", i);
        s_expect_models(st, s_models, N_MODELS); /* the old catalog is intact */
    }
    arena_catalog_t broken = {NULL, 3};
    assert_int_equal(store_models_replace(st, &broken), -1);
    assert_int_equal(store_models_replace(st, NULL), -1);
    store_destroy(&st);
}

static void test_models_malformed_rows_skipped(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    arena_catalog_t cat = {(arena_model_t *)s_models, 1};
    assert_int_equal(store_models_replace(st, &cat), 0);
    store_destroy(&st);
    s_sql(fx, "INSERT INTO models (name, arena_id, organization, provider, modality,"
              " input_image, position) VALUES ('bad-modality', 'i', NULL, NULL, 9, 0, 5);"
              "INSERT INTO models (name, arena_id, organization, provider, modality,"
              " input_image, position) VALUES (printf('%.300c', 'x'), 'i2', NULL, NULL, 0, 0, 6);"
              "INSERT INTO models (name, arena_id, organization, provider, modality,"
              " input_image, position, display_name) VALUES ('long-display', 'i3', NULL, NULL,"
              " 0, 0, 7, printf('%.300c', 'd'));");
    st = s_open(fx);
    s_expect_models(st, s_models, 1);
    store_destroy(&st);
}

/*  A database written by schema 1 (models keyed by name, no display name,
    no userSelectable) opens as schema 2 with its rows: selectable, no
    display name, in their order; twins and the new columns then round-trip. */
static void test_models_migrated_from_schema_1(void **state)
{
    fx_t *fx = *state;
    char mid[320];
    snprintf(mid, sizeof mid, "%s/a", fx->root);
    assert_int_equal(mkdir(mid, 0700), 0);
    assert_int_equal(mkdir(fx->data, 0700), 0);
    s_sql(fx, "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
              "CREATE TABLE models (name TEXT PRIMARY KEY NOT NULL, arena_id TEXT NOT NULL,"
              " organization TEXT, provider TEXT, modality INTEGER NOT NULL,"
              " input_image INTEGER NOT NULL, position INTEGER NOT NULL);"
              "CREATE TABLE cooldowns (node_id TEXT NOT NULL, model TEXT NOT NULL,"
              " until_ms INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (node_id, model));"
              "CREATE INDEX cooldowns_until ON cooldowns (until_ms);"
              "CREATE TABLE peers (id TEXT PRIMARY KEY NOT NULL, endpoint TEXT NOT NULL,"
              " last_seen_ms INTEGER NOT NULL);"
              "INSERT INTO meta VALUES ('node_id', '0199f7a8-0000-4000-8000-0000000000ee');"
              "INSERT INTO models VALUES ('seeker', 'id-s', NULL, 'search-co', 2, 0, 1);"
              "INSERT INTO models VALUES ('zeta-model', 'id-z', 'Zeta Org', 'zeta', 0, 0, 0);"
              "PRAGMA user_version = 1;");
    store_t *st = s_open(fx);
    char v[64];
    s_sql_text(fx, "PRAGMA user_version", v, sizeof v);
    assert_string_equal(v, "7");
    assert_int_equal(store_meta_get(st, "node_id", v, sizeof v), 0);
    assert_string_equal(v, "0199f7a8-0000-4000-8000-0000000000ee");
    const arena_model_t old[] = {
        {"id-z", "zeta-model", "Zeta Org", "zeta", ARENA_MODALITY_CHAT, false, NULL, true, NULL},
        {"id-s", "seeker", NULL, "search-co", ARENA_MODALITY_SEARCH, false, NULL, true, NULL},
    };
    s_expect_models(st, old, 2);
    arena_catalog_t cat = {(arena_model_t *)s_models, N_MODELS};
    assert_int_equal(store_models_replace(st, &cat), 0);
    store_destroy(&st);
    st = s_open(fx);
    s_expect_models(st, s_models, N_MODELS);
    store_destroy(&st);
}

/* ---- API keys --------------------------------------------------------- */

static store_key_t s_key(const char *name, const char *tier, long long version, bool revoked)
{
    store_key_t k;
    memset(&k, 0, sizeof k);
    snprintf(k.name, sizeof k.name, "%s", name);
    snprintf(k.tier, sizeof k.tier, "%s", tier);
    memset(k.hash, name[0], sizeof k.hash);
    snprintf(k.models, sizeof k.models, "%s", revoked ? "" : "gpt-4o,claude");
    snprintf(k.created_by, sizeof k.created_by, "node-a");
    snprintf(k.version_node, sizeof k.version_node, "node-b");
    k.created_ms = 1000;
    k.expires_ms = revoked ? 0 : 9000;
    k.version_ms = version;
    k.revoked = revoked;
    return k;
}

/*  A schema-3 database (before keys) opens as schema 4 with an empty key
    table and its other rows; records round-trip whole, by name, a put
    replaces, over-long fields and a row with a bad hash are refused. */
static void test_keys_migrated_and_round_trip(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    assert_int_equal(store_meta_set(st, "k", "kept"), 0);
    store_destroy(&st);
    s_sql(fx, "DROP TABLE api_keys; DROP TABLE audit; DROP TABLE tiers; DROP TABLE mesh_records;"
              " DROP TABLE usage_rows; DROP TABLE usage_rollups; PRAGMA user_version = 3;");
    st = s_open(fx);
    char v[64];
    s_sql_text(fx, "PRAGMA user_version", v, sizeof v);
    assert_string_equal(v, "7");
    assert_int_equal(store_meta_get(st, "k", v, sizeof v), 0);
    assert_string_equal(v, "kept");
    store_key_t *got = NULL;
    size_t n = 99;
    assert_int_equal(store_keys_load(st, &got, &n), 0);
    assert_int_equal(n, 0);
    assert_null(got);

    store_key_t bob = s_key("bob", "free", 2000, false), al = s_key("al", "premium", 3000, true);
    assert_int_equal(store_key_put(st, &bob), 0);
    assert_int_equal(store_key_put(st, &al), 0);
    bob.version_ms = 4000;
    snprintf(bob.tier, sizeof bob.tier, "enterprise");
    assert_int_equal(store_key_put(st, &bob), 0); /* replaces */
    store_key_t bad = s_key("x", "free", 1, false);
    memset(bad.tier, 'a', sizeof bad.tier); /* no NUL */
    assert_int_equal(store_key_put(st, &bad), -1);
    bad = s_key("x", "", 1, false);
    assert_int_equal(store_key_put(st, &bad), -1);
    store_destroy(&st);

    st = s_open(fx); /* survives a restart */
    assert_int_equal(store_keys_load(st, &got, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(&got[0], &al, sizeof al);
    assert_memory_equal(&got[1], &bob, sizeof bob);
    free(got);
    /* a row whose hash is not 32 bytes is skipped, not loaded */
    s_sql(fx, "UPDATE api_keys SET hash = x'0102' WHERE name = 'al'");
    assert_int_equal(store_keys_load(st, &got, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].name, "bob");
    free(got);
    assert_int_equal(store_keys_load(NULL, &got, &n), -1);
    assert_int_equal(store_key_put(NULL, &bob), -1);
    store_destroy(&st);
}

/* ---- cooldowns -------------------------------------------------------- */

static store_cooldown_t s_cooldown(const char *node, const char *model, long long until,
                                   const char *reason)
{
    store_cooldown_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.node_id, sizeof c.node_id, "%s", node);
    snprintf(c.model, sizeof c.model, "%s", model);
    snprintf(c.reason, sizeof c.reason, "%s", reason);
    c.until_ms = until;
    return c;
}

static void s_expect_cooldowns(store_t *st, long long now, const store_cooldown_t *want, size_t n)
{
    store_cooldown_t *got = (store_cooldown_t *)1;
    size_t count = 99;
    assert_int_equal(store_cooldowns_load(st, now, &got, &count), 0);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].node_id, want[i].node_id);
        assert_string_equal(got[i].model, want[i].model);
        assert_string_equal(got[i].reason, want[i].reason);
        assert_true(got[i].until_ms == want[i].until_ms);
    }
    if (n == 0)
        assert_null(got);
    free(got);
}

#define NODE_A "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
#define NODE_B "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c"

static void test_cooldowns(void **state)
{
    fx_t *fx = *state;
    const long long now = 1700000000000LL;
    store_cooldown_t rows[] = {
        s_cooldown(NODE_A, "gpt-x", now + 5000, "429"),
        s_cooldown(NODE_B, "*", now + 1000, "recaptcha"),
        s_cooldown(NODE_A, "old", now - 1, "429"),
        s_cooldown(NODE_B, "edge", now, "expires exactly now"),
    };
    store_t *st = s_open(fx);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        assert_int_equal(store_cooldown_set(st, &rows[i]), 0);
    store_destroy(&st);

    st = s_open(fx); /* persisted; only the running ones, soonest first */
    store_cooldown_t live[] = {rows[1], rows[0]};
    s_expect_cooldowns(st, now, live, 2);
    store_cooldown_t all[] = {rows[2], rows[3], rows[1], rows[0]};
    s_expect_cooldowns(st, 0, all, 4);

    /* upsert replaces until and reason */
    store_cooldown_t later = s_cooldown(NODE_B, "*", now + 9000, "again");
    assert_int_equal(store_cooldown_set(st, &later), 0);
    store_cooldown_t live2[] = {rows[0], later};
    s_expect_cooldowns(st, now, live2, 2);

    /* prune removes the expired ones for good */
    assert_int_equal(store_cooldowns_prune(st, now), 0);
    s_expect_cooldowns(st, 0, live2, 2);

    assert_int_equal(store_cooldown_clear(st, NODE_A, "gpt-x"), 0);
    assert_int_equal(store_cooldown_clear(st, NODE_A, "never-set"), 0);
    store_cooldown_t live3[] = {later};
    s_expect_cooldowns(st, now, live3, 1);
    assert_int_equal(store_cooldowns_prune(st, now + 100000), 0);
    s_expect_cooldowns(st, 0, NULL, 0);
    store_destroy(&st);
}

static void test_cooldowns_rejected(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    store_cooldown_t c = s_cooldown(NODE_A, "m", 1, "r");
    store_cooldown_t bad = c;
    memset(bad.model, 'x', sizeof bad.model); /* no NUL inside the field */
    assert_int_equal(store_cooldown_set(st, &bad), -1);
    bad = c;
    memset(bad.node_id, 'x', sizeof bad.node_id);
    assert_int_equal(store_cooldown_set(st, &bad), -1);
    bad = c;
    memset(bad.reason, 'x', sizeof bad.reason);
    assert_int_equal(store_cooldown_set(st, &bad), -1);
    bad = c;
    bad.node_id[0] = '\0';
    assert_int_equal(store_cooldown_set(st, &bad), -1);
    bad = c;
    bad.model[0] = '\0';
    assert_int_equal(store_cooldown_set(st, &bad), -1);
    assert_int_equal(store_cooldown_set(st, NULL), -1);
    assert_int_equal(store_cooldown_clear(st, NULL, "m"), -1);
    assert_int_equal(store_cooldown_clear(st, NODE_A, ""), -1);
    s_expect_cooldowns(st, 0, NULL, 0);
    store_destroy(&st);

    /* a row too long for the struct (written behind our back) is skipped */
    s_sql(fx, "INSERT INTO cooldowns VALUES ('n', printf('%.300c', 'x'), 5, 'r');"
              "INSERT INTO cooldowns VALUES ('n', 'ok', 6, 'r');");
    st = s_open(fx);
    store_cooldown_t ok = s_cooldown("n", "ok", 6, "r");
    s_expect_cooldowns(st, 0, &ok, 1);
    store_destroy(&st);
}

/* ---- peers ------------------------------------------------------------ */

static store_peer_t s_peer(const char *id, const char *endpoint, long long seen)
{
    store_peer_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.endpoint, sizeof p.endpoint, "%s", endpoint);
    p.last_seen_ms = seen;
    return p;
}

static void s_expect_peers(store_t *st, const store_peer_t *want, size_t n)
{
    store_peer_t *got = NULL;
    size_t count = 99;
    assert_int_equal(store_peers_load(st, &got, &count), 0);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].id, want[i].id);
        assert_string_equal(got[i].endpoint, want[i].endpoint);
        assert_true(got[i].last_seen_ms == want[i].last_seen_ms);
    }
    free(got);
}

static void test_peers(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    s_expect_peers(st, NULL, 0);
    store_peer_t a = s_peer(NODE_A, "tcp://10.0.0.1:5104", 100);
    store_peer_t b = s_peer(NODE_B, "tcp://[::1]:5104", 200);
    assert_int_equal(store_peer_upsert(st, &a), 0);
    assert_int_equal(store_peer_upsert(st, &b), 0);
    store_peer_t both[] = {b, a}; /* most recently seen first */
    s_expect_peers(st, both, 2);

    store_peer_t a2 = s_peer(NODE_A, "tcp://10.0.0.9:5104", 300);
    assert_int_equal(store_peer_upsert(st, &a2), 0);
    store_peer_t moved[] = {a2, b};
    s_expect_peers(st, moved, 2);
    store_destroy(&st);

    st = s_open(fx);
    s_expect_peers(st, moved, 2);
    assert_int_equal(store_peer_forget(st, NODE_A), 0);
    assert_int_equal(store_peer_forget(st, NODE_A), 0); /* already gone: fine */
    s_expect_peers(st, &b, 1);

    store_peer_t bad = b;
    memset(bad.endpoint, 'e', sizeof bad.endpoint);
    assert_int_equal(store_peer_upsert(st, &bad), -1);
    bad = b;
    bad.id[0] = '\0';
    assert_int_equal(store_peer_upsert(st, &bad), -1);
    assert_int_equal(store_peer_forget(st, NULL), -1);
    assert_int_equal(store_peer_upsert(st, NULL), -1);
    s_expect_peers(st, &b, 1);
    store_destroy(&st);
}

/*  A schema-4 database (before the audit log) opens as schema 5; rows are
    appended and read back oldest first (since: from then on; else the
    newest); over-long fields are refused; UPDATE and DELETE are refused by
    the schema itself. */
static void test_audit_migrated_and_append_only(void **state)
{
    fx_t *fx = *state;
    store_t *st = s_open(fx);
    store_destroy(&st);
    s_sql(fx, "DROP TABLE audit; DROP TABLE tiers; DROP TABLE mesh_records; DROP TABLE usage_rows;"
              " DROP TABLE usage_rollups;"
              " PRAGMA user_version = 4;");
    st = s_open(fx);
    char v[64];
    s_sql_text(fx, "PRAGMA user_version", v, sizeof v);
    assert_string_equal(v, "7");
    for (int i = 1; i <= 5; i++) {
        store_audit_t a = {.at_ms = i * 1000LL};
        snprintf(a.node_id, sizeof a.node_id, "node-a");
        snprintf(a.kind, sizeof a.kind, "key_created");
        snprintf(a.actor, sizeof a.actor, "admin");
        snprintf(a.subject, sizeof a.subject, "k%d", i);
        assert_int_equal(store_audit_append(st, &a), 0);
    }
    store_audit_t *got = NULL;
    size_t n = 0;
    assert_int_equal(store_audit_load(st, 3000, 10, &got, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(got[0].subject, "k3");
    assert_string_equal(got[2].subject, "k5");
    assert_true(got[0].id < got[1].id);
    free(got);
    assert_int_equal(store_audit_load(st, 0, 2, &got, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].subject, "k4");
    assert_string_equal(got[1].subject, "k5");
    free(got);
    assert_int_equal(store_audit_load(st, 2000, 2, &got, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].subject, "k2");
    free(got);
    store_audit_t bad = {.at_ms = 1};
    assert_int_equal(store_audit_append(st, &bad), -1); /* no node id, no kind */
    assert_int_equal(store_audit_load(st, 0, 0, &got, &n), -1);

    char path[512];
    snprintf(path, sizeof path, "%s/arena.db", fx->data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET kind = 'x'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s_sql_text(fx, "SELECT count(*) FROM audit WHERE kind = 'key_created'", v, sizeof v);
    assert_string_equal(v, "5");
    assert_int_equal(store_audit_prune(st), 0); /* all within the bound */

    /* the retention bound: only rows more than STORE_AUDIT_KEEP behind the
       newest go, and the schema refuses deleting any other */
    s_sql(fx, "INSERT INTO audit (id, at_ms, node_id, kind, actor, origin, subject, detail)"
              " VALUES (1000006, 9000, 'node-a', 'key_created', 'admin', '', 'k6', '')");
    assert_int_equal(store_audit_prune(st), 5); /* ids 1..5: ≤ 1000006 - 1000000 */
    s_sql_text(fx, "SELECT group_concat(subject) FROM audit", v, sizeof v);
    assert_string_equal(v, "k6");
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_schema, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_open_failures, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_meta, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_id_stable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_identity, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_id_corrupt, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_link_token, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_models_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_models_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_models_malformed_rows_skipped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_models_migrated_from_schema_1, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_migrated_and_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cooldowns, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cooldowns_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_peers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_audit_migrated_and_append_only, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
