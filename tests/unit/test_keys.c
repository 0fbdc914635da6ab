/*  test_keys — the key table (node/keys) and the tier table (node/tiers):
    names, generation and hashing, create/revoke/re-tier, expiry, model
    allow-lists, the merge rule replication will build on, and the table
    surviving a reopen of its store. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node/keys.h"
#include "node/tiers.h"
#include "tests/support/test_tmpdir.h"

#define NOW 1800000000000LL

static void test_names(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a", "alice", "team.ops_1-x", "A9",
        "0123456789012345678901234567890123456789012345678901234567890123"};
    static const char *const bad[] = {
        "",    "a b", "a/b", "é",
        "a\n", "a:b", "a,b", "01234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(keys_name_ok(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(keys_name_ok(bad[i]));
    assert_false(keys_name_ok(NULL));
}

static void test_models_lists(void **state)
{
    (void)state;
    assert_true(keys_models_ok(""));
    assert_true(keys_models_ok("gpt-4o"));
    assert_true(keys_models_ok("gpt-4o,claude-3.5/sonnet"));
    assert_false(keys_models_ok(","));
    assert_false(keys_models_ok("a,"));
    assert_false(keys_models_ok("a,,b"));
    assert_false(keys_models_ok("a b"));
    assert_false(keys_models_ok("a\tb"));
    assert_false(keys_models_ok(NULL));
    char many[1024] = "";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sm%d", i ? "," : "", i);
    assert_false(keys_models_ok(many)); /* 65 names */
    char longname[260];
    memset(longname, 'x', 201);
    longname[201] = '\0';
    assert_false(keys_models_ok(longname));
    longname[200] = '\0';
    assert_true(keys_models_ok(longname));
}

static void test_generate_and_hash(void **state)
{
    (void)state;
    char a[KEYS_KEY_LEN], b[KEYS_KEY_LEN];
    keys_generate(a);
    keys_generate(b);
    assert_int_equal(strlen(a), KEYS_KEY_LEN - 1);
    assert_memory_equal(a, "ak-", 3);
    assert_string_not_equal(a, b);
    for (const char *p = a + 3; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    unsigned char raw[64];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof raw, a + 3, strlen(a + 3), NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(n, KEYS_RANDOM_BYTES);
    /* the stored form is BLAKE2b-256 of the key */
    unsigned char h[32], want[32];
    keys_hash("ak-x", 4, h);
    crypto_generichash(want, sizeof want, (const unsigned char *)"ak-x", 4, NULL, 0);
    assert_memory_equal(h, want, 32);
}

static void test_tiers(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        long m, h, d;
    } want[] = {{"free", 10, 100, 1000},
                {"premium", 60, 1000, 10000},
                {"enterprise", 300, 5000, 50000},
                {"config", 0, 0, 0}};
    tiers_t *tiers = tiers_new();
    assert_non_null(tiers);
    assert_int_equal(tiers_count(tiers), 4);
    for (size_t i = 0; i < 4; i++) {
        const tier_t *t = tiers_find(tiers, want[i].name);
        assert_non_null(t);
        assert_int_equal(t->per_minute, want[i].m);
        assert_int_equal(t->per_hour, want[i].h);
        assert_int_equal(t->per_day, want[i].d);
    }
    assert_null(tiers_find(tiers, "gold"));
    assert_null(tiers_find(tiers, "Free"));
    assert_null(tiers_find(tiers, NULL));
    assert_true(tiers_find(tiers, "premium")->priority > tiers_find(tiers, "free")->priority);
    tiers_destroy(&tiers);
    assert_null(tiers);
}

/*  create: the key works, only its hash is kept, names are unique (a
    revoked one too), bad input stores nothing. */
static void test_create_check_revoke(void **state)
{
    (void)state;
    keys_t *k = keys_new(NULL, "node-a");
    assert_non_null(k);
    char key[KEYS_KEY_LEN];
    keys_record_t rec;
    assert_int_equal(keys_create(k, "alice", "free", 0, "", NOW, key, &rec), KEYS_OK);
    assert_string_equal(rec.created_by, "node-a");
    assert_string_equal(rec.version_node, "node-a");
    assert_int_equal(rec.version_ms, NOW);
    assert_int_equal(rec.created_ms, NOW);
    unsigned char h[32];
    keys_hash(key, strlen(key), h);
    assert_memory_equal(rec.hash, h, 32);
    assert_null(memmem(&rec, sizeof rec, key, strlen(key))); /* never the key itself */
    const keys_record_t *got = keys_check(k, key, strlen(key), NOW + 1);
    assert_non_null(got);
    assert_string_equal(got->name, "alice");
    assert_null(keys_check(k, key, strlen(key) - 1, NOW));
    assert_null(keys_check(k, "ak-nope", 7, NOW));

    static const struct {
        const char *name, *tier, *models;
        long long expires;
        keys_rc_t rc;
    } bad[] = {
        {"alice", "free", "", 0, KEYS_EXISTS},      {"b c", "free", "", 0, KEYS_BAD_NAME},
        {"config-1", "free", "", 0, KEYS_BAD_NAME}, {"bob", "gold", "", 0, KEYS_BAD_TIER},
        {"bob", "config", "", 0, KEYS_BAD_TIER},    {"bob", "free", "a,,b", 0, KEYS_BAD_MODELS},
        {"bob", "free", "", NOW, KEYS_BAD_EXPIRY},  {"bob", "free", "", -5, KEYS_BAD_EXPIRY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(
            keys_create(k, bad[i].name, bad[i].tier, bad[i].expires, bad[i].models, NOW, key, NULL),
            bad[i].rc);
    assert_int_equal(keys_count(k), 1);

    assert_int_equal(keys_set_tier(k, "alice", "premium", NOW), KEYS_OK);
    assert_string_equal(keys_find(k, "alice")->tier, "premium");
    /* a second change within the same millisecond is still newer */
    assert_int_equal(keys_find(k, "alice")->version_ms, NOW + 1);
    assert_int_equal(keys_set_tier(k, "alice", "gold", NOW), KEYS_BAD_TIER);
    assert_int_equal(keys_set_tier(k, "nobody", "free", NOW), KEYS_UNKNOWN);
    char key2[KEYS_KEY_LEN];
    assert_int_equal(keys_create(k, "zed", "free", 0, "", NOW, key2, NULL), KEYS_OK);
    assert_int_equal(keys_revoke(k, "zed", NOW + 10), KEYS_OK);
    assert_null(keys_check(k, key2, strlen(key2), NOW + 11)); /* refused at once */
    assert_true(keys_find(k, "zed")->revoked);                /* the tombstone stays */
    assert_int_equal(keys_revoke(k, "zed", NOW + 12), KEYS_UNKNOWN);
    assert_int_equal(keys_set_tier(k, "zed", "free", NOW + 12), KEYS_UNKNOWN);
    assert_int_equal(keys_create(k, "zed", "free", 0, "", NOW + 13, key2, NULL), KEYS_EXISTS);
    assert_non_null(keys_check(k, key, strlen(key), NOW + 20)); /* alice unharmed */
    /* in name order */
    assert_string_equal(keys_at(k, 0)->name, "alice");
    assert_string_equal(keys_at(k, 1)->name, "zed");
    assert_null(keys_at(k, 2));
    keys_destroy(&k);
    assert_null(k);
    keys_destroy(&k);
}

static void test_expiry_and_models(void **state)
{
    (void)state;
    keys_t *k = keys_new(NULL, "n");
    char key[KEYS_KEY_LEN];
    keys_record_t rec;
    assert_int_equal(keys_create(k, "temp", "free", NOW + 1000, "gpt-4o,claude", NOW, key, &rec),
                     KEYS_OK);
    assert_non_null(keys_check(k, key, strlen(key), NOW + 999));
    assert_null(keys_check(k, key, strlen(key), NOW + 1000));
    assert_true(keys_live(&rec, NOW + 999));
    assert_false(keys_live(&rec, NOW + 1000));
    assert_true(keys_model_allowed(&rec, "gpt-4o"));
    assert_true(keys_model_allowed(&rec, "claude"));
    assert_false(keys_model_allowed(&rec, "gpt-4"));
    assert_false(keys_model_allowed(&rec, "claud"));
    assert_false(keys_model_allowed(&rec, "gpt-4o,claude"));
    assert_false(keys_model_allowed(&rec, NULL));
    rec.models[0] = '\0';
    assert_true(keys_model_allowed(&rec, "anything"));
    keys_destroy(&k);
}

static keys_record_t s_rec(const char *name, const char *tier, long long v, const char *node,
                           bool revoked)
{
    keys_record_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.tier, sizeof r.tier, "%s", tier);
    snprintf(r.version_node, sizeof r.version_node, "%s", node);
    snprintf(r.created_by, sizeof r.created_by, "%s", node);
    memset(r.hash, 7, sizeof r.hash);
    r.version_ms = v;
    r.created_ms = 1;
    r.revoked = revoked;
    return r;
}

/*  The merge rule: newer version wins; at the same millisecond a tombstone
    beats a live record; then the greater node id; the same version changes
    nothing. Applied in any order, the same records give the same table. */
static void test_merge_rule(void **state)
{
    (void)state;
    keys_t *k = keys_new(NULL, "n");
    keys_record_t r1 = s_rec("k", "free", 100, "node-a", false);
    assert_int_equal(keys_merge(k, &r1), KEYS_MERGE_APPLIED);
    assert_int_equal(keys_merge(k, &r1), KEYS_MERGE_IGNORED); /* same version */
    keys_record_t older = s_rec("k", "premium", 99, "node-z", false);
    assert_int_equal(keys_merge(k, &older), KEYS_MERGE_IGNORED);
    assert_string_equal(keys_find(k, "k")->tier, "free");
    keys_record_t newer = s_rec("k", "premium", 101, "node-a", false);
    assert_int_equal(keys_merge(k, &newer), KEYS_MERGE_APPLIED);
    assert_string_equal(keys_find(k, "k")->tier, "premium");
    /* same ms: the greater node id wins */
    keys_record_t tie_lo = s_rec("k", "free", 101, "node-0", false);
    keys_record_t tie_hi = s_rec("k", "enterprise", 101, "node-b", false);
    assert_int_equal(keys_merge(k, &tie_lo), KEYS_MERGE_IGNORED);
    assert_int_equal(keys_merge(k, &tie_hi), KEYS_MERGE_APPLIED);
    assert_string_equal(keys_find(k, "k")->tier, "enterprise");
    /* same ms: a tombstone beats a live record, whatever the node ids */
    keys_record_t tomb = s_rec("k", "enterprise", 101, "node-0", true);
    assert_int_equal(keys_merge(k, &tomb), KEYS_MERGE_APPLIED);
    assert_true(keys_find(k, "k")->revoked);
    keys_record_t live_hi = s_rec("k", "free", 101, "node-z", false);
    assert_int_equal(keys_merge(k, &live_hi), KEYS_MERGE_IGNORED);
    /* an old live copy arriving later cannot resurrect the key */
    assert_int_equal(keys_merge(k, &r1), KEYS_MERGE_IGNORED);
    assert_int_equal(keys_merge(k, &newer), KEYS_MERGE_IGNORED);
    assert_true(keys_find(k, "k")->revoked);
    /* a newer live record (made after the revocation) does win */
    keys_record_t after = s_rec("k", "free", 102, "node-0", false);
    assert_int_equal(keys_version_cmp(&after, &tomb), 1);
    assert_int_equal(keys_version_cmp(&tomb, &after), -1);
    assert_int_equal(keys_version_cmp(&tomb, &tomb), 0);
    /* malformed records are refused */
    keys_record_t bad = s_rec("a b", "free", 5, "n", false);
    assert_int_equal(keys_merge(k, &bad), KEYS_MERGE_INVALID);
    bad = s_rec("ok", "", 5, "n", false);
    assert_int_equal(keys_merge(k, &bad), KEYS_MERGE_INVALID);
    bad = s_rec("ok", "free", 0, "n", false);
    assert_int_equal(keys_merge(k, &bad), KEYS_MERGE_INVALID);
    bad = s_rec("ok", "free", 5, "n", false);
    snprintf(bad.models, sizeof bad.models, "a b");
    assert_int_equal(keys_merge(k, &bad), KEYS_MERGE_INVALID);
    assert_int_equal(keys_merge(k, NULL), KEYS_MERGE_INVALID);
    assert_int_equal(keys_count(k), 1);
    keys_destroy(&k);

    /* every order of the same records converges on one table */
    const keys_record_t *set[] = {&r1, &older, &newer, &tie_lo, &tie_hi, &tomb, &live_hi};
    size_t n = sizeof set / sizeof set[0];
    for (unsigned perm = 0; perm < 64; perm++) {
        keys_t *t = keys_new(NULL, "n");
        uint32_t seed = perm * 2654435761u;
        size_t order[7] = {0, 1, 2, 3, 4, 5, 6};
        for (size_t i = n - 1; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            size_t j = seed % (i + 1), tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (size_t i = 0; i < n; i++)
            keys_merge(t, set[order[i]]);
        assert_memory_equal(keys_find(t, "k"), &tomb, sizeof tomb);
        keys_destroy(&t);
    }
}

/*  Every change is written through: a reopened store gives the same table. */
static void test_persisted(void **state)
{
    (void)state;
    char dir[64], err[256];
    assert_int_equal(test_tmpdir_make(dir, sizeof dir, "test_keys"), 0);
    store_t *st = store_open(dir, err, sizeof err);
    assert_non_null(st);
    keys_t *k = keys_new(st, "node-a");
    char ka[KEYS_KEY_LEN], kb[KEYS_KEY_LEN];
    assert_int_equal(keys_create(k, "b", "free", 0, "m1", NOW, kb, NULL), KEYS_OK);
    assert_int_equal(keys_create(k, "a", "premium", NOW + 5000, "", NOW, ka, NULL), KEYS_OK);
    assert_int_equal(keys_revoke(k, "b", NOW + 1), KEYS_OK);
    keys_record_t remote = s_rec("c", "enterprise", NOW + 2, "node-z", false);
    assert_int_equal(keys_merge(k, &remote), KEYS_MERGE_APPLIED);
    keys_destroy(&k);
    store_destroy(&st);

    st = store_open(dir, err, sizeof err);
    k = keys_new(st, "node-a");
    assert_non_null(k);
    assert_int_equal(keys_count(k), 3);
    const keys_record_t *a = keys_check(k, ka, strlen(ka), NOW + 10);
    assert_non_null(a);
    assert_string_equal(a->tier, "premium");
    assert_int_equal(a->expires_ms, NOW + 5000);
    assert_null(keys_check(k, kb, strlen(kb), NOW + 10)); /* still revoked */
    assert_true(keys_find(k, "b")->revoked);
    assert_string_equal(keys_find(k, "b")->models, "m1");
    assert_memory_equal(keys_find(k, "c"), &remote, sizeof remote);
    keys_destroy(&k);
    store_destroy(&st);
    test_tmpdir_remove(dir);
}

/*  The lookup by digest (the index kept beside the table): every key of a
    table that grew through several index sizes is found, as is each one
    after revocation (keys_lookup: the tombstone; keys_check: refused),
    expiry, re-tier and merges from a peer (a new record, a newer copy
    whose key changed); a digest never stored is not; every change bumps
    the generation. */
static void test_lookup_index(void **state)
{
    (void)state;
    keys_t *k = keys_new(NULL, "node-a");
    enum { N = 300 };
    static char keys[N][KEYS_KEY_LEN];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%03d", i);
        unsigned long long g = keys_generation(k);
        assert_int_equal(
            keys_create(k, name, "free", i == 7 ? NOW + 50 : 0, "", NOW, keys[i], NULL), KEYS_OK);
        assert_true(keys_generation(k) > g);
    }
    for (int i = 0; i < N; i++) {
        unsigned char d[32];
        keys_hash(keys[i], strlen(keys[i]), d);
        char name[16];
        snprintf(name, sizeof name, "u%03d", i);
        const keys_record_t *r = keys_lookup(k, d);
        assert_non_null(r);
        assert_ptr_equal(r, keys_find(k, name));
        assert_ptr_equal(keys_check(k, keys[i], strlen(keys[i]), NOW + 1), r);
    }
    unsigned char none[32];
    keys_hash("ak-never", 8, none);
    assert_null(keys_lookup(k, none));
    assert_null(keys_lookup(k, NULL));
    assert_null(keys_lookup(NULL, none));

    /* expired: still in the index, refused by keys_check */
    unsigned char d7[32];
    keys_hash(keys[7], strlen(keys[7]), d7);
    assert_non_null(keys_lookup(k, d7));
    assert_null(keys_check(k, keys[7], strlen(keys[7]), NOW + 50));

    /* revoked: the tombstone is what the digest finds */
    unsigned char d[32];
    keys_hash(keys[3], strlen(keys[3]), d);
    unsigned long long g = keys_generation(k);
    assert_int_equal(keys_revoke(k, "u003", NOW + 10), KEYS_OK);
    assert_true(keys_generation(k) > g);
    assert_true(keys_lookup(k, d)->revoked);
    assert_null(keys_check(k, keys[3], strlen(keys[3]), NOW + 11));

    /* re-tiered: the lookup gives the new record */
    keys_hash(keys[5], strlen(keys[5]), d);
    g = keys_generation(k);
    assert_int_equal(keys_set_tier(k, "u005", "premium", NOW + 10), KEYS_OK);
    assert_true(keys_generation(k) > g);
    assert_string_equal(keys_lookup(k, d)->tier, "premium");
    assert_string_equal(keys_check(k, keys[5], strlen(keys[5]), NOW + 11)->tier, "premium");

    /* merged from a peer: a new name sorted first (every position moves) */
    keys_record_t remote = s_rec("a-first", "enterprise", NOW + 20, "node-z", false);
    char rk[KEYS_KEY_LEN];
    keys_generate(rk);
    keys_hash(rk, strlen(rk), remote.hash);
    g = keys_generation(k);
    assert_int_equal(keys_merge(k, &remote), KEYS_MERGE_APPLIED);
    assert_true(keys_generation(k) > g);
    assert_string_equal(keys_check(k, rk, strlen(rk), NOW + 21)->name, "a-first");
    for (int i = 0; i < N; i++) { /* the others found where they moved to */
        keys_hash(keys[i], strlen(keys[i]), d);
        char name[16];
        snprintf(name, sizeof name, "u%03d", i);
        assert_ptr_equal(keys_lookup(k, d), keys_find(k, name));
    }
    /* an ignored merge changes nothing */
    g = keys_generation(k);
    assert_int_equal(keys_merge(k, &remote), KEYS_MERGE_IGNORED);
    assert_int_equal(keys_generation(k), g);
    /* a newer copy of u010 with another key (a name made twice, the later
       copy won): the old key is no longer found, the new one is */
    keys_record_t newer = *keys_find(k, "u010");
    newer.version_ms = NOW + 30;
    char nk[KEYS_KEY_LEN];
    keys_generate(nk);
    keys_hash(nk, strlen(nk), newer.hash);
    assert_int_equal(keys_merge(k, &newer), KEYS_MERGE_APPLIED);
    assert_null(keys_check(k, keys[10], strlen(keys[10]), NOW + 31));
    assert_string_equal(keys_check(k, nk, strlen(nk), NOW + 31)->name, "u010");
    assert_int_equal(keys_count(k), N + 1);
    keys_destroy(&k);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_models_lists),
        cmocka_unit_test(test_generate_and_hash),
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_create_check_revoke),
        cmocka_unit_test(test_expiry_and_models),
        cmocka_unit_test(test_merge_rule),
        cmocka_unit_test(test_persisted),
        cmocka_unit_test(test_lookup_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
