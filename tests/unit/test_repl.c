/*  test_repl — the replicated tier table and the payloads of replicated
    keys and tiers (node/tiers.h: tiers_merge, tiers_put, tiers_from_json,
    tiers_open; node/repl.h: the record ⇄ key and tier codec).

    The tier rule: the newer version (unix ms, then writer id) wins, an
    older or equal one changes nothing, the config tier never changes, a
    malformed tier is refused; every change is persisted before memory and
    a reopened store gives the same table. The field validation is the one
    PUT /admin/tiers/{name} uses (which field is wrong is named). A key's
    payload carries everything but the name, version and tombstone (the
    record carries those), never the key itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/keys.h"
#include "node/repl.h"
#include "node/store.h"
#include "node/tiers.h"
#include "protocol/wire.h"
#include "tests/support/test_tmpdir.h"

#define NOW 1765000000000LL

static tier_t s_tier(const char *name, long rpm, long long ver, const char *node)
{
    tier_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.per_minute = rpm;
    t.per_hour = rpm * 10;
    t.version_ms = ver;
    snprintf(t.version_node, sizeof t.version_node, "%s", node);
    return t;
}

static void test_tier_merge_rule(void **state)
{
    (void)state;
    tiers_t *t = tiers_open(NULL, "node-a");
    assert_non_null(t);
    assert_int_equal(tiers_find(t, "free")->per_minute, 10);
    tier_t a = s_tier("free", 20, NOW, "node-b");
    assert_int_equal(tiers_merge(t, &a), TIERS_MERGE_APPLIED);
    assert_int_equal(tiers_find(t, "free")->per_minute, 20);
    tier_t older = s_tier("free", 30, NOW - 1, "node-z");
    assert_int_equal(tiers_merge(t, &older), TIERS_MERGE_IGNORED);
    tier_t same = s_tier("free", 40, NOW, "node-b");
    assert_int_equal(tiers_merge(t, &same), TIERS_MERGE_IGNORED);
    tier_t tie = s_tier("free", 50, NOW, "node-c"); /* same ms: the greater id wins */
    assert_int_equal(tiers_merge(t, &tie), TIERS_MERGE_APPLIED);
    tier_t tie_low = s_tier("free", 60, NOW, "node-a");
    assert_int_equal(tiers_merge(t, &tie_low), TIERS_MERGE_IGNORED);
    assert_int_equal(tiers_find(t, "free")->per_minute, 50);
    tier_t cfg = s_tier(TIERS_CONFIG, 1, NOW + 5, "node-b");
    assert_int_equal(tiers_merge(t, &cfg), TIERS_MERGE_INVALID);
    assert_int_equal(tiers_find(t, TIERS_CONFIG)->per_minute, 0);
    tier_t bad = s_tier("gold", -1, NOW, "node-b");
    assert_int_equal(tiers_merge(t, &bad), TIERS_MERGE_INVALID);
    bad = s_tier("go ld", 1, NOW, "node-b");
    assert_int_equal(tiers_merge(t, &bad), TIERS_MERGE_INVALID);
    bad = s_tier("gold", 1, NOW, "node-b");
    bad.priority = TIERS_PRIORITY_MAX + 1;
    assert_int_equal(tiers_merge(t, &bad), TIERS_MERGE_INVALID);
    bad = s_tier("gold", 1, 0, "node-b");
    assert_int_equal(tiers_merge(t, &bad), TIERS_MERGE_INVALID);
    assert_null(tiers_find(t, "gold"));
    tier_t gold = s_tier("gold", 7, NOW, "node-b");
    assert_int_equal(tiers_merge(t, &gold), TIERS_MERGE_APPLIED);
    assert_int_equal(tiers_find(t, "gold")->per_hour, 70);
    tiers_destroy(&t);
}

static int s_hooked;
static tier_t s_hook_tier;
static void s_hook(void *arg, const tier_t *t)
{
    (void)arg;
    s_hooked++;
    s_hook_tier = *t;
}

static void test_tier_put_persisted(void **state)
{
    (void)state;
    char dir[64], err[256];
    assert_int_equal(test_tmpdir_make(dir, sizeof dir, "test_repl"), 0);
    store_t *st = store_open(dir, err, sizeof err);
    assert_non_null(st);
    tiers_t *t = tiers_open(st, "node-a");
    assert_non_null(t);
    tiers_set_hook(t, s_hook, NULL);
    tier_t gold = s_tier("gold", 7, 0, "");
    snprintf(gold.models, sizeof gold.models, "m1,m2");
    gold.priority = 6;
    tier_t out;
    assert_int_equal(tiers_put(t, &gold, NOW, &out), 0);
    assert_int_equal(s_hooked, 1);
    assert_true(out.version_ms == NOW);
    assert_string_equal(out.version_node, "node-a");
    assert_string_equal(s_hook_tier.name, "gold");
    /* a second change in the same millisecond still orders after the first */
    gold.per_minute = 8;
    assert_int_equal(tiers_put(t, &gold, NOW, &out), 0);
    assert_true(out.version_ms == NOW + 1);
    tier_t cfg = s_tier(TIERS_CONFIG, 1, 0, "");
    assert_int_equal(tiers_put(t, &cfg, NOW, NULL), -1);
    assert_int_equal(s_hooked, 2);
    tier_t free_ = *tiers_find(t, "free");
    free_.per_day = 5;
    assert_int_equal(tiers_put(t, &free_, NOW + 10, NULL), 0);
    tiers_destroy(&t);
    store_destroy(&st);

    st = store_open(dir, err, sizeof err);
    t = tiers_open(st, "node-a");
    assert_non_null(t);
    const tier_t *g = tiers_find(t, "gold");
    assert_non_null(g);
    assert_int_equal(g->per_minute, 8);
    assert_int_equal(g->per_hour, 70);
    assert_int_equal(g->priority, 6);
    assert_string_equal(g->models, "m1,m2");
    assert_true(g->version_ms == NOW + 1);
    assert_int_equal(tiers_find(t, "free")->per_day, 5);
    assert_int_equal(tiers_find(t, "free")->per_minute, 10);
    assert_int_equal(tiers_find(t, "premium")->per_minute, 60); /* defaults stay */
    /* a stale copy from a peer does not undo the reopened change */
    tier_t stale = s_tier("gold", 1, NOW, "node-z");
    assert_int_equal(tiers_merge(t, &stale), TIERS_MERGE_IGNORED);
    tiers_destroy(&t);
    /* the signed forms of records: put replaces, get gives a copy */
    void *env = NULL;
    size_t len = 0;
    assert_int_equal(store_record_get(st, "keys", "alice", &env, &len), -1);
    assert_int_equal(store_record_put(st, "keys", "alice", "\x01\x02", 2), 0);
    assert_int_equal(store_record_put(st, "keys", "alice", "\x03\x04\x05", 3), 0);
    assert_int_equal(store_record_put(st, "tiers", "alice", "\x06", 1), 0);
    assert_int_equal(store_record_get(st, "keys", "alice", &env, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(env, "\x03\x04\x05", 3);
    free(env);
    assert_int_equal(store_record_put(st, "keys", "big", "x", STORE_RECORD_MAX + 1), -1);
    assert_int_equal(store_record_put(st, "keys", "none", "x", 0), -1);
    store_destroy(&st);
    test_tmpdir_remove(dir);
}

static void s_json_bad(const char *json, const char *param)
{
    tier_t t = s_tier("x", 1, 0, "");
    tier_t before = t;
    char p[64], msg[256];
    assert_int_equal(tiers_from_json(json, strlen(json), &t, p, sizeof p, msg, sizeof msg), -1);
    assert_string_equal(p, param);
    assert_true(strlen(msg) > 10);
    assert_memory_equal(&t, &before, sizeof t); /* nothing changed */
}

static void test_tier_json(void **state)
{
    (void)state;
    tier_t t = s_tier("x", 1, 0, "");
    char p[64], msg[256];
    const char *all = "{\"per_minute\":3,\"per_hour\":30,\"per_day\":300,\"tokens_per_day\":5,"
                      "\"concurrent\":2,\"models\":[\"a\",\"b\"],\"priority\":9}";
    assert_int_equal(tiers_from_json(all, strlen(all), &t, p, sizeof p, msg, sizeof msg), 0);
    assert_int_equal(t.per_minute, 3);
    assert_int_equal(t.per_day, 300);
    assert_true(t.tokens_per_day == 5);
    assert_int_equal(t.concurrent, 2);
    assert_string_equal(t.models, "a,b");
    assert_int_equal(t.priority, 9);
    char *back = tiers_to_json(&t, false);
    tier_t u = s_tier("x", 0, 0, "");
    assert_int_equal(tiers_from_json(back, strlen(back), &u, p, sizeof p, msg, sizeof msg), 0);
    free(back);
    assert_memory_equal(&t, &u, sizeof t);
    assert_int_equal(tiers_from_json("{\"models\":null}", 15, &t, p, sizeof p, msg, sizeof msg), 0);
    assert_string_equal(t.models, "");
    s_json_bad("{\"per_minute\":-1}", "per_minute");
    s_json_bad("{\"per_hour\":\"1\"}", "per_hour");
    s_json_bad("{\"per_day\":1000000001}", "per_day");
    s_json_bad("{\"tokens_per_day\":1.5}", "tokens_per_day");
    s_json_bad("{\"concurrent\":true}", "concurrent");
    s_json_bad("{\"priority\":10}", "priority");
    s_json_bad("{\"models\":[\"\"]}", "models");
    s_json_bad("{\"models\":[\"a,b\"]}", "models");
    s_json_bad("{\"models\":\"a b\"}", "models");
    s_json_bad("{\"models\":{}}", "models");
    s_json_bad("{\"per_minute\":1,\"rpm\":1}", "rpm");
    s_json_bad("[1]", "");
    s_json_bad("{\"per_minute\":1,\"per_minute\":2}", "");
}

static void test_key_payload(void **state)
{
    (void)state;
    keys_record_t k;
    memset(&k, 0, sizeof k);
    snprintf(k.name, sizeof k.name, "alice");
    for (size_t i = 0; i < sizeof k.hash; i++)
        k.hash[i] = (unsigned char)i;
    snprintf(k.tier, sizeof k.tier, "gold");
    k.expires_ms = NOW + 99;
    snprintf(k.models, sizeof k.models, "m1,m2");
    k.created_ms = NOW - 5;
    snprintf(k.created_by, sizeof k.created_by, "node-a");
    char *payload = repl_key_payload(&k);
    assert_non_null(payload);
    wire_record_t r = {.table = REPL_KEYS,
                       .key = "alice",
                       .version_ms = NOW,
                       .node = "node-b",
                       .tomb = true,
                       .payload = (uint8_t *)payload,
                       .payload_len = strlen(payload)};
    keys_record_t back;
    assert_int_equal(repl_key_from_record(&r, &back), 0);
    assert_memory_equal(back.hash, k.hash, sizeof k.hash);
    assert_string_equal(back.tier, "gold");
    assert_true(back.expires_ms == NOW + 99);
    assert_string_equal(back.models, "m1,m2");
    assert_string_equal(back.created_by, "node-a");
    assert_true(back.version_ms == NOW);
    assert_string_equal(back.version_node, "node-b");
    assert_true(back.revoked);
    r.tomb = false;
    assert_int_equal(repl_key_from_record(&r, &back), 0);
    assert_false(back.revoked);
    free(payload);
    /* what a peer could send wrong */
    static const char *const bad[] = {
        "{}",
        "not json",
        "{\"hash\":\"00\",\"tier\":\"free\",\"expires_ms\":0,\"models\":\"\",\"created_ms\":1,"
        "\"created_by\":\"n\"}",
        "{\"hash\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
        "\"tier\":\"\",\"expires_ms\":0,\"models\":\"\",\"created_ms\":1,\"created_by\":\"n\"}",
        "{\"hash\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
        "\"tier\":\"free\",\"expires_ms\":-1,\"models\":\"\",\"created_ms\":1,\"created_by\":"
        "\"n\"}",
        "{\"hash\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
        "\"tier\":\"free\",\"expires_ms\":0,\"models\":\"a b\",\"created_ms\":1,"
        "\"created_by\":\"n\"}",
        "{\"hash\":\"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\","
        "\"tier\":\"free\",\"expires_ms\":0,\"models\":\"\",\"created_ms\":1,\"created_by\":\"n\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r.payload = (uint8_t *)bad[i];
        r.payload_len = strlen(bad[i]);
        if (repl_key_from_record(&r, &back) != -1)
            fail_msg("payload %zu accepted", i);
    }
    r.key = "bad name";
    r.payload = (uint8_t *)bad[0];
    assert_int_equal(repl_key_from_record(&r, &back), -1);
    /* tiers: a tombstone or a bad field is refused */
    const char *tp = "{\"per_minute\":4}";
    wire_record_t tr = {.table = REPL_TIERS,
                        .key = "gold",
                        .version_ms = NOW,
                        .node = "node-b",
                        .payload = (uint8_t *)tp,
                        .payload_len = strlen(tp)};
    tier_t t;
    assert_int_equal(repl_tier_from_record(&tr, &t), 0);
    assert_int_equal(t.per_minute, 4);
    assert_string_equal(t.version_node, "node-b");
    tr.tomb = true;
    assert_int_equal(repl_tier_from_record(&tr, &t), -1);
    tr.tomb = false;
    tr.payload = (uint8_t *)"{\"per_minute\":-4}";
    tr.payload_len = strlen((const char *)tr.payload);
    assert_int_equal(repl_tier_from_record(&tr, &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tier_merge_rule),
        cmocka_unit_test(test_tier_put_persisted),
        cmocka_unit_test(test_tier_json),
        cmocka_unit_test(test_key_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
