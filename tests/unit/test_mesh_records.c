/*  test_mesh_records — replicated tables over real ZeroMQ meshes in one
    process (mesh/mesh_records.c; docs/mesh-protocol.md, "Replicated
    records").

    Each node holds a small in-memory table (last writer wins by version,
    then writer id) registered with mesh_table_add. Covered: a write is
    pushed to every peer; a node that joins late gets a table larger than
    one message (WIRE_MAX_RECORDS) over several rounds; after a change that
    no push carried, anti-entropy moves only the records of the differing
    bucket, not the table; the summary is the same whatever order records
    arrive in; and a hostile member's records — a bad signature, a key that
    is not the writer's, a version more than a day ahead, an unknown table,
    a payload the table calls invalid — are refused and counted, never
    applied (a record over the codec's bounds: test_wire_records). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mesh/mesh.h"
#include "protocol/alog.h"
#include "protocol/wire.h"
#include "tests/support/test_mesh_env.h"

#define T_WAIT_MS 8000
#define T_TABLE "things"
#define T_BUCKETS 256
#define T_MAX 20100

/*  One node's table: records as the writer signed them. */
typedef struct {
    const char *name;
    mesh_t *mesh;
    wire_record_t recs[T_MAX];
    size_t n;
    size_t invalid_seen; /* payloads "bad" refused by merge */
    zhashx_t *index;     /* key -> position + 1 */
    unsigned buckets;    /* 0: T_BUCKETS */
} node_t;

static wire_record_t *s_find(node_t *n, const char *key)
{
    size_t at = n->index ? (size_t)(uintptr_t)zhashx_lookup(n->index, key) : 0;
    return at ? &n->recs[at - 1] : NULL;
}

static int s_cmp(const wire_record_t *a, const wire_record_t *b)
{
    if (a->version_ms != b->version_ms)
        return a->version_ms < b->version_ms ? -1 : 1;
    return strcmp(a->node, b->node);
}

static mesh_rec_rc_t s_merge(void *arg, const wire_record_t *r)
{
    node_t *n = arg;
    if (r->payload_len == 3 && memcmp(r->payload, "bad", 3) == 0) {
        n->invalid_seen++;
        return MESH_REC_INVALID;
    }
    wire_record_t *have = s_find(n, r->key);
    if (have && s_cmp(r, have) <= 0)
        return MESH_REC_IGNORED;
    wire_record_t copy;
    if (wire_record_copy(&copy, r) != 0)
        return MESH_REC_FAILED;
    if (have) {
        wire_record_clear(have);
        *have = copy;
    } else if (n->n < T_MAX) {
        n->recs[n->n++] = copy;
        if (!n->index)
            n->index = zhashx_new();
        zhashx_insert(n->index, copy.key, (void *)(uintptr_t)n->n);
    } else {
        wire_record_clear(&copy);
        return MESH_REC_FAILED;
    }
    return MESH_REC_APPLIED;
}

static void s_each(void *arg, void (*fn)(void *ctx, const mesh_rec_version_t *v), void *ctx)
{
    node_t *n = arg;
    for (size_t i = 0; i < n->n; i++) {
        mesh_rec_version_t v = {n->recs[i].key, n->recs[i].version_ms, n->recs[i].node,
                                n->recs[i].tomb, 0};
        fn(ctx, &v);
    }
}

static int s_fetch(void *arg, const char *key, wire_record_t *out)
{
    wire_record_t *r = s_find(arg, key);
    return r ? wire_record_copy(out, r) : -1;
}

static int s_gossip_ms; /* 0: the fast default; a test may slow gossip down */

static void s_start(node_t *n, zloop_t *loop, const char *name, const char *seed)
{
    n->name = name;
    const char *seeds[] = {seed};
    mesh_config_t c = tmesh_config_fast(tmesh_id(name), NULL, NULL, n);
    unsigned buckets = n->buckets ? n->buckets : T_BUCKETS;
    c.seeds = seeds;
    c.n_seeds = seed ? 1 : 0;
    if (s_gossip_ms)
        c.gossip_ms = s_gossip_ms;
    n->mesh = tmesh_node_new(&c, loop, name);
    assert_non_null(n->mesh);
    mesh_table_config_t tc = {.name = T_TABLE,
                              .buckets = buckets,
                              .merge = s_merge,
                              .each = s_each,
                              .fetch = s_fetch,
                              .arg = n};
    assert_int_equal(mesh_table_add(n->mesh, &tc), 0);
    assert_int_equal(mesh_table_add(n->mesh, &tc), -1); /* one table of a name */
}

/*  A record as writer signs it. */
static void s_make(wire_record_t *r, const char *writer, const char *table, const char *key,
                   uint64_t version, const char *payload)
{
    memset(r, 0, sizeof *r);
    r->table = strdup(table);
    r->key = strdup(key);
    r->node = strdup(tmesh_id(writer));
    r->version_ms = version;
    r->payload = (uint8_t *)strdup(payload);
    r->payload_len = strlen(payload);
    assert_int_equal(wire_record_seal(r, tmesh_key(writer)), 0);
}

/*  n writes key locally (merged into its own table), pushed or not. */
static void s_write(node_t *n, const char *key, uint64_t version, const char *payload, bool push)
{
    wire_record_t r;
    s_make(&r, n->name, T_TABLE, key, version, payload);
    assert_int_equal(s_merge(n, &r), MESH_REC_APPLIED);
    if (push)
        assert_int_equal(mesh_record_push(n->mesh, &r), 0);
    else
        mesh_table_changed(n->mesh, T_TABLE);
    wire_record_clear(&r);
}

static void s_free(node_t *n)
{
    mesh_destroy(&n->mesh);
    for (size_t i = 0; i < n->n; i++)
        wire_record_clear(&n->recs[i]);
    n->n = 0;
    zhashx_destroy(&n->index);
}

static mesh_stats_t s_stats(node_t *n)
{
    mesh_stats_t st;
    mesh_stats(n->mesh, &st);
    return st;
}

typedef struct {
    node_t *a, *b;
} pair_t;

static bool s_same(void *arg)
{
    pair_t *p = arg;
    uint64_t ra = 1, rb = 2;
    mesh_table_summary(p->a->mesh, T_TABLE, &ra, NULL, 0);
    mesh_table_summary(p->b->mesh, T_TABLE, &rb, NULL, 0);
    return p->a->n == p->b->n && ra == rb;
}

static bool s_alive(void *arg)
{
    pair_t *p = arg;
    mesh_peer_view_t v[8];
    size_t n = mesh_peers(p->a->mesh, v, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        if (strcmp(v[i].id, tmesh_id(p->b->name)) == 0)
            return v[i].liveness == MESH_PEER_ALIVE && v[i].state;
    return false;
}

typedef struct {
    zloop_t *loop;
    node_t a, b, c;
} env_t;

static int s_setup(void **state)
{
    env_t *env = calloc(1, sizeof *env);
    assert_non_null(env);
    env->loop = zloop_new();
    assert_non_null(env->loop);
    alog_set_level(getenv("T_VERBOSE") ? ALOG_DEBUG : ALOG_ERROR);
    s_gossip_ms = 0;
    *state = env;
    return 0;
}

static int s_teardown(void **state)
{
    env_t *env = *state;
    s_free(&env->a);
    s_free(&env->b);
    s_free(&env->c);
    zloop_destroy(&env->loop);
    free(env);
    return 0;
}

/*  A pushes to B at once; C joins late and gets 600 records (more than one
    message holds) by anti-entropy over several rounds. */
static void test_push_and_late_join(void **state)
{
    env_t *env = *state;
    s_start(&env->a, env->loop, "rec-a", NULL);
    s_start(&env->b, env->loop, "rec-b", mesh_endpoint(env->a.mesh));
    pair_t ab = {&env->a, &env->b}, ba = {&env->b, &env->a};
    assert_true(tmesh_run_until(env->loop, s_alive, &ab, T_WAIT_MS));
    assert_true(tmesh_run_until(env->loop, s_alive, &ba, T_WAIT_MS));
    s_write(&env->a, "first", 1000, "hello", true);
    assert_true(tmesh_run_until(env->loop, s_same, &ab, 2000));
    assert_non_null(s_find(&env->b, "first"));
    assert_memory_equal(s_find(&env->b, "first")->payload, "hello", 5);
    for (int i = 0; i < 600; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%04d", i);
        s_write(&env->a, key, 2000 + (uint64_t)i, "v", i % 2 == 0);
    }
    /* the unpushed half reaches B by anti-entropy */
    assert_true(tmesh_run_until(env->loop, s_same, &ab, T_WAIT_MS));
    s_start(&env->c, env->loop, "rec-c", mesh_endpoint(env->b.mesh));
    pair_t ac = {&env->a, &env->c};
    assert_true(tmesh_run_until(env->loop, s_same, &ac, T_WAIT_MS));
    assert_int_equal(env->c.n, 601);
    /* a newer version from C wins everywhere; an older one from B does not */
    s_write(&env->c, "first", 5000, "newer", true);
    assert_true(tmesh_run_until(env->loop, s_same, &ac, T_WAIT_MS));
    wire_record_t old;
    s_make(&old, "rec-b", T_TABLE, "k0001", 1, "older");
    assert_int_equal(mesh_record_push(env->b.mesh, &old), 0);
    wire_record_clear(&old);
    tmesh_run(env->loop, 300);
    assert_memory_equal(s_find(&env->a, "first")->payload, "newer", 5);
    assert_memory_equal(s_find(&env->a, "k0001")->payload, "v", 1);
}

/*  With anti-entropy out of reach (one gossip round a minute), a pushed
    record arrives at once and one written without a push does not: the
    push is what carries a change first, anti-entropy what repairs. */
static void test_push_alone(void **state)
{
    env_t *env = *state;
    s_gossip_ms = 60000;
    s_start(&env->a, env->loop, "psh-a", NULL);
    s_start(&env->b, env->loop, "psh-b", mesh_endpoint(env->a.mesh));
    pair_t ab = {&env->a, &env->b}, ba = {&env->b, &env->a};
    assert_true(tmesh_run_until(env->loop, s_alive, &ab, T_WAIT_MS));
    assert_true(tmesh_run_until(env->loop, s_alive, &ba, T_WAIT_MS));
    tmesh_run(env->loop, 200);
    s_write(&env->a, "quiet", 1000, "q", false);
    s_write(&env->a, "loud", 1001, "l", true);
    for (int64_t until = zclock_mono() + 2000; !s_find(&env->b, "loud") && zclock_mono() < until;)
        tmesh_run(env->loop, 5);
    assert_non_null(s_find(&env->b, "loud"));
    tmesh_run(env->loop, 500);
    assert_null(s_find(&env->b, "quiet"));
}

/*  Two nodes in sync with 2000 records; one record changes on A without a
    push: B gets it, and what both sent is about a bucket's worth, not the
    table. */
static void test_repair_moves_only_the_difference(void **state)
{
    env_t *env = *state;
    s_start(&env->a, env->loop, "dif-a", NULL);
    for (int i = 0; i < 2000; i++) {
        char key[32];
        snprintf(key, sizeof key, "r%05d", i);
        s_write(&env->a, key, 100 + (uint64_t)i, "x", false);
    }
    s_start(&env->b, env->loop, "dif-b", mesh_endpoint(env->a.mesh));
    pair_t ab = {&env->a, &env->b};
    assert_true(tmesh_run_until(env->loop, s_same, &ab, T_WAIT_MS));
    tmesh_run(env->loop, 300); /* in-flight repairs settle */
    uint64_t buckets_a[T_BUCKETS], buckets_b[T_BUCKETS], root_a, root_b;
    assert_int_equal(mesh_table_summary(env->a.mesh, T_TABLE, &root_a, buckets_a, T_BUCKETS), 0);
    assert_int_equal(mesh_table_summary(env->b.mesh, T_TABLE, &root_b, buckets_b, T_BUCKETS), 0);
    assert_true(root_a == root_b);
    assert_memory_equal(buckets_a, buckets_b, sizeof buckets_a);
    uint64_t sent = s_stats(&env->a).records_sent + s_stats(&env->b).records_sent;
    s_write(&env->a, "r01234", 99999, "changed", false);
    /* one bucket differs now */
    assert_int_equal(mesh_table_summary(env->a.mesh, T_TABLE, &root_a, buckets_a, T_BUCKETS), 0);
    size_t differ = 0;
    for (size_t i = 0; i < T_BUCKETS; i++)
        differ += buckets_a[i] != buckets_b[i];
    assert_int_equal(differ, 1);
    assert_true(tmesh_run_until(env->loop, s_same, &ab, T_WAIT_MS));
    assert_memory_equal(s_find(&env->b, "r01234")->payload, "changed", 7);
    tmesh_run(env->loop, 300);
    uint64_t moved = s_stats(&env->a).records_sent + s_stats(&env->b).records_sent - sent;
    /* 2000 records over 256 buckets: about 8 a bucket, sent once or twice */
    assert_true(moved >= 1);
    assert_true(moved <= 64);
}

/*  The scale the usage rollups will have: 20 000 records in 4096 buckets,
    in sync; ten change on A without a push. B gets them, and what moves is
    the records of about ten buckets (≈ 5 each), not the table. */
static void test_large_table_small_difference(void **state)
{
    env_t *env = *state;
    env->a.buckets = env->b.buckets = 4096;
    s_start(&env->a, env->loop, "big-a", NULL);
    s_start(&env->b, env->loop, "big-b", NULL); /* joined below, once both hold the table */
    for (int i = 0; i < 20000; i++) {
        char key[32];
        snprintf(key, sizeof key, "node/key-%d/model/%d", i % 97, i);
        wire_record_t r;
        s_make(&r, "big-w", T_TABLE, key, 1000 + (uint64_t)i, "{\"n\":1}");
        assert_int_equal(s_merge(&env->a, &r), MESH_REC_APPLIED);
        assert_int_equal(s_merge(&env->b, &r), MESH_REC_APPLIED);
        wire_record_clear(&r);
    }
    mesh_table_changed(env->a.mesh, T_TABLE);
    mesh_table_changed(env->b.mesh, T_TABLE);
    int64_t t0 = zclock_usecs();
    uint64_t ra = 0, rb = 1;
    mesh_table_summary(env->a.mesh, T_TABLE, &ra, NULL, 0);
    int64_t summarize_us = zclock_usecs() - t0;
    mesh_table_summary(env->b.mesh, T_TABLE, &rb, NULL, 0);
    assert_true(ra == rb);
    print_message("summary of 20000 records: %lld us\n", (long long)summarize_us);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof key, "node/key-%d/model/%d", (i * 1999) % 97, i * 1999);
        s_write(&env->a, key, 900000 + (uint64_t)i, "{\"n\":2}", false);
    }
    /* B joins A now: anti-entropy only */
    mesh_destroy(&env->b.mesh);
    s_start(&env->b, env->loop, "big-b", mesh_endpoint(env->a.mesh));
    pair_t ab = {&env->a, &env->b};
    assert_true(tmesh_run_until(env->loop, s_same, &ab, T_WAIT_MS));
    tmesh_run(env->loop, 300);
    uint64_t moved = s_stats(&env->a).records_sent + s_stats(&env->b).records_sent;
    print_message("records moved for 10 changed of 20000: %llu\n", (unsigned long long)moved);
    assert_true(moved >= 10);
    assert_true(moved <= 300);
}

/*  The summary does not depend on the order records came in. */
static void test_summary_is_order_free(void **state)
{
    env_t *env = *state;
    s_start(&env->a, env->loop, "ord-a", NULL);
    s_start(&env->b, env->loop, "ord-b", NULL); /* not joined: tables only */
    wire_record_t r[5];
    for (int i = 0; i < 5; i++) {
        char key[8];
        snprintf(key, sizeof key, "o%d", i);
        s_make(&r[i], "ord-w", T_TABLE, key, 10 + (uint64_t)i, "p");
    }
    for (int i = 0; i < 5; i++)
        assert_int_equal(s_merge(&env->a, &r[i]), MESH_REC_APPLIED);
    for (int i = 4; i >= 0; i--)
        assert_int_equal(s_merge(&env->b, &r[i]), MESH_REC_APPLIED);
    mesh_table_changed(env->a.mesh, T_TABLE);
    mesh_table_changed(env->b.mesh, T_TABLE);
    uint64_t ra = 0, rb = 1;
    mesh_table_summary(env->a.mesh, T_TABLE, &ra, NULL, 0);
    mesh_table_summary(env->b.mesh, T_TABLE, &rb, NULL, 0);
    assert_true(ra == rb && ra != 0);
    /* a different version of one record changes the root */
    wire_record_t newer;
    s_make(&newer, "ord-w", T_TABLE, "o2", 99, "p");
    assert_int_equal(s_merge(&env->b, &newer), MESH_REC_APPLIED);
    mesh_table_changed(env->b.mesh, T_TABLE);
    mesh_table_summary(env->b.mesh, T_TABLE, &rb, NULL, 0);
    assert_true(ra != rb);
    wire_record_clear(&newer);
    for (int i = 0; i < 5; i++)
        wire_record_clear(&r[i]);
    /* registration is checked */
    mesh_table_config_t bad = {
        .name = "x", .buckets = 3, .merge = s_merge, .each = s_each, .fetch = s_fetch};
    assert_int_equal(mesh_table_add(env->a.mesh, &bad), -1);
    bad.buckets = WIRE_MAX_BUCKETS * 2;
    assert_int_equal(mesh_table_add(env->a.mesh, &bad), -1);
    bad.buckets = 0;
    bad.name = "";
    assert_int_equal(mesh_table_add(env->a.mesh, &bad), -1);
}

/* ---- a hostile member ---------------------------------------------------- */

typedef struct {
    node_t *n;
    uint64_t forged, refused;
} grow_t;

static bool s_counted(void *arg)
{
    grow_t *g = arg;
    mesh_stats_t st = s_stats(g->n);
    return st.forged > g->forged || st.records_refused > g->refused;
}

/*  Sends the record as M and waits until A counts it refused; returns
    which counter grew (1 forged, 2 records_refused). */
static int s_refused(env_t *env, zsock_t *dealer, wire_record_t *r)
{
    grow_t g = {&env->a, s_stats(&env->a).forged, s_stats(&env->a).records_refused};
    wire_msg_t m = {.type = WIRE_RECORDS, .records = r, .n_records = 1};
    assert_int_equal(tmesh_send_as(dealer, "mallory", &m), 0);
    assert_true(tmesh_run_until(env->loop, s_counted, &g, T_WAIT_MS));
    tmesh_run(env->loop, 100);
    mesh_stats_t st = s_stats(&env->a);
    return st.forged > g.forged ? 1 : 2;
}

static bool s_has_mallory(void *arg)
{
    node_t *n = arg;
    mesh_peer_view_t v[8];
    size_t k = mesh_peers(n->mesh, v, 8);
    for (size_t i = 0; i < k && i < 8; i++)
        if (strcmp(v[i].id, tmesh_id("mallory")) == 0)
            return v[i].liveness == MESH_PEER_ALIVE;
    return false;
}

static void test_hostile_records_refused(void **state)
{
    env_t *env = *state;
    s_start(&env->a, env->loop, "vic-a", NULL);
    char ep[64];
    zsock_t *inbox = tmesh_inbox_new(ep, sizeof ep);
    zsock_t *dealer = tmesh_dealer_new("mallory", mesh_endpoint(env->a.mesh));
    assert_non_null(inbox);
    assert_non_null(dealer);
    wire_model_t md = {.name = "m", .arena_id = "a", .modality = "chat", .reason = ""};
    assert_int_equal(tmesh_send_hello(dealer, "mallory", ep, &md, 0, 1), 0);
    assert_true(tmesh_run_until(env->loop, s_has_mallory, &env->a, T_WAIT_MS));

    wire_record_t r;
    /* a bad signature: one byte of it flipped */
    s_make(&r, "mallory", T_TABLE, "forged", 1000, "p");
    r.sig[0] ^= 1;
    assert_int_equal(s_refused(env, dealer, &r), 1);
    wire_record_clear(&r);
    /* written "by" vic-a, signed with mallory's key */
    s_make(&r, "mallory", T_TABLE, "forged", 1000, "p");
    free(r.node);
    r.node = strdup(tmesh_id("vic-a"));
    free(r.sealed);
    r.sealed = NULL;
    assert_int_equal(wire_record_seal(&r, tmesh_key("mallory")), 0);
    assert_int_equal(s_refused(env, dealer, &r), 1);
    wire_record_clear(&r);
    /* a version two days ahead of the clock (it would outrank every later change) */
    s_make(&r, "mallory", T_TABLE, "future", (uint64_t)zclock_time() + 2ULL * 86400000, "p");
    assert_int_equal(s_refused(env, dealer, &r), 2);
    wire_record_clear(&r);
    /* a table A does not have */
    s_make(&r, "mallory", "other", "x", 1000, "p");
    assert_int_equal(s_refused(env, dealer, &r), 2);
    wire_record_clear(&r);
    /* a payload the table refuses */
    s_make(&r, "mallory", T_TABLE, "bad", 1000, "bad");
    assert_int_equal(s_refused(env, dealer, &r), 2);
    assert_int_equal(env->a.invalid_seen, 1);
    wire_record_clear(&r);
    /* nothing was applied; a genuine record of M's still is */
    assert_int_equal(env->a.n, 0);
    assert_true(s_stats(&env->a).records_applied == 0);
    s_make(&r, "mallory", T_TABLE, "fine", 1000, "ok");
    wire_msg_t m = {.type = WIRE_RECORDS, .records = &r, .n_records = 1};
    assert_int_equal(tmesh_send_as(dealer, "mallory", &m), 0);
    for (int64_t until = zclock_mono() + T_WAIT_MS; env->a.n == 0 && zclock_mono() < until;)
        tmesh_run(env->loop, 10);
    assert_int_equal(env->a.n, 1);
    wire_record_clear(&r);
    zsock_destroy(&dealer);
    zsock_destroy(&inbox);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_and_late_join, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_push_alone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_repair_moves_only_the_difference, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_summary_is_order_free, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_large_table_small_difference, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_records_refused, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
