/*  test_repl_usage — the usage rollups as a replicated table
    (node/repl_usage.h; docs/usage.md, "Replication").

    A real store, usage meter and mesh node (no peers: the table's merge is
    called as the mesh calls it for a verified record). Covered: a rollup
    of origin X signed by node Y is refused (a member cannot forge
    another's usage) and changes nothing — the rollups, the table, the
    summary; the same rollup signed by X is taken; a copy of this node's
    own origin is ignored; a record whose key is not its payload's is
    refused. Retention: a rollup older than --usage-rollup-keep is ignored,
    and one that passes the cut leaves the table, the signed forms and the
    rollups, and is ignored when a peer offers it again. This node's own
    changes are sealed by it at a tick (and one written on the way out,
    when the table starts again), and the summary kept record by
    record (mesh_table_update) equals the one computed from scratch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/repl_usage.h"
#include "tests/support/test_mesh_env.h"
#include "tests/support/test_tmpdir.h"

#define S_KEEP_DAYS 2

typedef struct {
    char root[64];
    store_t *store;
    usage_meter_t *usage;
    zloop_t *loop;
    mesh_t *mesh;
    repl_usage_t *repl;
    long long hour; /* the current hour */
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(test_tmpdir_make(fx->root, sizeof fx->root, "test_repl_usage"), 0);
    char err[256];
    fx->store = store_open(fx->root, err, sizeof err);
    assert_non_null(fx->store);
    usage_config_t uc = {.store = fx->store,
                         .node_id = tmesh_id("node-me"),
                         .keep_days = 30,
                         .rollup_keep_days = S_KEEP_DAYS};
    fx->usage = usage_new(&uc);
    assert_non_null(fx->usage);
    fx->loop = zloop_new();
    mesh_config_t mc = tmesh_config_fast("node-me", NULL, NULL, NULL);
    fx->mesh = tmesh_node_new(&mc, fx->loop, "me");
    assert_non_null(fx->mesh);
    repl_usage_config_t rc = {.mesh = fx->mesh,
                              .store = fx->store,
                              .usage = fx->usage,
                              .node_id = tmesh_id("node-me"),
                              .sk = tmesh_key("node-me"),
                              .rollup_keep_days = S_KEEP_DAYS};
    fx->repl = repl_usage_new(&rc);
    assert_non_null(fx->repl);
    long long now = zclock_time();
    fx->hour = now - now % USAGE_HOUR_MS;
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    repl_usage_destroy(&fx->repl);
    mesh_destroy(&fx->mesh);
    zloop_destroy(&fx->loop);
    usage_destroy(&fx->usage);
    store_destroy(&fx->store);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

static usage_rollup_t s_rollup(const char *origin, long long hour, long long version, long long n)
{
    usage_rollup_t u;
    memset(&u, 0, sizeof u);
    snprintf(u.origin, sizeof u.origin, "%s", tmesh_id(origin));
    snprintf(u.key, sizeof u.key, "alice");
    snprintf(u.model, sizeof u.model, "vendor/model-1");
    u.hour_ms = hour;
    u.version_ms = version;
    u.requests = n;
    u.prompt_tokens = 10 * n;
    return u;
}

/*  The record of u as signer seals it (the mesh verified that signature:
    what is left to the table is whether signer may write u). */
typedef struct {
    wire_record_t r;
    char key[WIRE_MAX_RKEY + 1];
    uint8_t payload[USAGE_ROLLUP_WIRE_MAX];
} rec_t;

static void s_seal(rec_t *out, const usage_rollup_t *u, const char *signer)
{
    memset(out, 0, sizeof *out);
    assert_int_equal(repl_usage_rkey(u, out->key, sizeof out->key), 0);
    size_t len = usage_rollup_encode(u, out->payload, sizeof out->payload);
    assert_true(len > 0);
    out->r = (wire_record_t){.table = REPL_USAGE,
                             .key = out->key,
                             .version_ms = (uint64_t)u->version_ms,
                             .node = (char *)tmesh_id(signer),
                             .payload = out->payload,
                             .payload_len = len};
    assert_int_equal(wire_record_seal(&out->r, tmesh_key(signer)), 0);
}

static void s_unseal(rec_t *rec)
{
    free(rec->r.sealed);
    rec->r.sealed = NULL;
}

static uint64_t s_root(fx_t *fx)
{
    uint64_t root = 0;
    assert_int_equal(mesh_table_summary(fx->mesh, REPL_USAGE, &root, NULL, 0), 0);
    return root;
}

static bool s_held(fx_t *fx, const usage_rollup_t *u, usage_rollup_t *out)
{
    return usage_rollup_get(fx->usage, u->origin, u->key, u->model, u->hour_ms, out) == 0;
}

static bool s_kept(fx_t *fx, const char *key)
{
    void *env = NULL;
    size_t len = 0;
    int rc = store_record_get(fx->store, REPL_USAGE, key, &env, &len);
    free(env);
    return rc == 0;
}

/*  The summary kept record by record equals the one computed whole. */
static void s_summary_whole(fx_t *fx)
{
    static uint64_t inc[REPL_USAGE_BUCKETS], whole[REPL_USAGE_BUCKETS];
    uint64_t r1 = 0, r2 = 0;
    assert_int_equal(mesh_table_summary(fx->mesh, REPL_USAGE, &r1, inc, REPL_USAGE_BUCKETS), 0);
    mesh_table_changed(fx->mesh, REPL_USAGE);
    assert_int_equal(mesh_table_summary(fx->mesh, REPL_USAGE, &r2, whole, REPL_USAGE_BUCKETS), 0);
    assert_true(r1 == r2);
    assert_memory_equal(inc, whole, sizeof inc);
}

static void test_forged_refused(void **state)
{
    fx_t *fx = *state;
    long long now = zclock_time();
    usage_rollup_t u = s_rollup("node-x", fx->hour, now, 5), got;
    rec_t rec;

    /* X's usage, written by Y: refused, nothing changes */
    s_seal(&rec, &u, "node-y");
    uint64_t root = s_root(fx);
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_INVALID);
    s_unseal(&rec);
    assert_false(s_held(fx, &u, &got));
    assert_false(s_kept(fx, rec.key));
    assert_int_equal(repl_usage_count(fx->repl), 0);
    assert_true(s_root(fx) == root);

    /* a record whose key is not its payload's: refused */
    s_seal(&rec, &u, "node-x");
    rec.key[0] = rec.key[0] == 'a' ? 'b' : 'a';
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_INVALID);
    s_unseal(&rec);

    /* the same usage written by X: taken, its signed form kept */
    s_seal(&rec, &u, "node-x");
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_APPLIED);
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_IGNORED); /* the same again */
    s_unseal(&rec);
    assert_true(s_held(fx, &u, &got));
    assert_int_equal(got.requests, 5);
    assert_true(s_kept(fx, rec.key));
    assert_int_equal(repl_usage_count(fx->repl), 1);
    assert_true(s_root(fx) != root);

    /* Y cannot raise it either, not even with a newer version */
    usage_rollup_t more = s_rollup("node-x", fx->hour, now + 10, 500);
    s_seal(&rec, &more, "node-y");
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_INVALID);
    s_unseal(&rec);
    assert_true(s_held(fx, &u, &got));
    assert_int_equal(got.requests, 5);

    /* an hour more than a day ahead: refused */
    usage_rollup_t ahead = s_rollup("node-x", fx->hour + 2 * USAGE_DAY_MS, now, 1);
    s_seal(&rec, &ahead, "node-x");
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_INVALID);
    s_unseal(&rec);
    assert_false(s_held(fx, &ahead, &got));

    /* a copy of this node's own usage: this node is its only writer */
    usage_rollup_t mine = s_rollup("node-me", fx->hour, now, 7);
    s_seal(&rec, &mine, "node-me");
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_IGNORED);
    s_unseal(&rec);
    assert_false(s_held(fx, &mine, &got));
    s_summary_whole(fx);
}

static void test_retention(void **state)
{
    fx_t *fx = *state;
    long long now = zclock_time();
    usage_rollup_t old = s_rollup("node-x", fx->hour - (S_KEEP_DAYS + 1) * USAGE_DAY_MS, now, 3);
    usage_rollup_t recent = s_rollup("node-x", fx->hour - USAGE_DAY_MS, now, 4), got;
    rec_t rec;

    /* past retention: ignored, not stored */
    s_seal(&rec, &old, "node-x");
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_IGNORED);
    s_unseal(&rec);
    assert_false(s_held(fx, &old, &got));
    assert_false(s_kept(fx, rec.key));
    assert_int_equal(repl_usage_count(fx->repl), 0);

    /* within it: taken */
    s_seal(&rec, &recent, "node-x");
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_APPLIED);
    assert_true(s_kept(fx, rec.key));
    assert_int_equal(repl_usage_count(fx->repl), 1);

    /* two days on, the cut passes it: it leaves the table, the signed
       forms and the rollups, and a peer offering it again is ignored */
    assert_int_equal(repl_usage_tick(fx->repl, now + S_KEEP_DAYS * USAGE_DAY_MS), 0);
    assert_int_equal(repl_usage_count(fx->repl), 0);
    assert_false(s_kept(fx, rec.key));
    assert_false(s_held(fx, &recent, &got));
    assert_true(s_root(fx) == 0);
    assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_IGNORED);
    s_unseal(&rec);
    assert_false(s_held(fx, &recent, &got));
    assert_int_equal(repl_usage_count(fx->repl), 0);
    s_summary_whole(fx);
}

static void test_own_sealed(void **state)
{
    fx_t *fx = *state;
    long long now = zclock_time();
    usage_row_t row = {.key = "alice", .model = "m", .at_ms = now, .status = 200, .ttfb_ms = 5};
    for (int i = 0; i < 3; i++)
        assert_int_equal(usage_record(fx->usage, &row), 0);
    snprintf(row.model, sizeof row.model, "other/m");
    assert_int_equal(usage_record(fx->usage, &row), 0);
    for (int i = 0; i < 5; i++) { /* peers' rollups, mixed in */
        usage_rollup_t u = s_rollup("node-x", fx->hour - i * USAGE_HOUR_MS, now, i + 1);
        rec_t rec;
        s_seal(&rec, &u, "node-x");
        assert_int_equal(repl_usage_merge(fx->repl, &rec.r), MESH_REC_APPLIED);
        s_unseal(&rec);
    }
    assert_int_equal(repl_usage_tick(fx->repl, zclock_time()), 2); /* two rollups changed */
    assert_int_equal(repl_usage_tick(fx->repl, zclock_time()), 0); /* nothing since */
    assert_int_equal(repl_usage_count(fx->repl), 7);
    usage_rollup_t u = s_rollup("node-me", fx->hour, 0, 0);
    snprintf(u.model, sizeof u.model, "m");
    char key[WIRE_MAX_RKEY + 1];
    assert_int_equal(repl_usage_rkey(&u, key, sizeof key), 0);
    void *env = NULL;
    size_t len = 0;
    assert_int_equal(store_record_get(fx->store, REPL_USAGE, key, &env, &len), 0);
    wire_record_t kept;
    char err[160];
    assert_int_equal(wire_record_unpack(env, len, &kept, err, sizeof err), WIRE_MSG_OK);
    free(env);
    assert_string_equal(kept.node, tmesh_id("node-me"));
    usage_rollup_t got;
    assert_int_equal(usage_rollup_decode(kept.payload, kept.payload_len, &got), 0);
    assert_int_equal(got.requests, 3);
    wire_record_clear(&kept);
    s_summary_whole(fx);
    /* one more request: the same record, a newer version */
    assert_int_equal(usage_record(fx->usage, &row), 0);
    assert_int_equal(repl_usage_tick(fx->repl, zclock_time()), 1);
    s_summary_whole(fx);
}

/*  A change written on the way out (the batch flushed at exit, no tick
    after it) is sealed when the table starts again. */
static void test_restart_seals(void **state)
{
    fx_t *fx = *state;
    usage_row_t row = {.key = "bob", .model = "m", .at_ms = zclock_time(), .status = 200};
    assert_int_equal(usage_record(fx->usage, &row), 0);
    assert_int_equal(usage_flush(fx->usage), 1);
    usage_rollup_t u = s_rollup("node-me", fx->hour, 0, 0);
    snprintf(u.key, sizeof u.key, "bob");
    snprintf(u.model, sizeof u.model, "m");
    char key[WIRE_MAX_RKEY + 1];
    assert_int_equal(repl_usage_rkey(&u, key, sizeof key), 0);
    assert_false(s_kept(fx, key));
    repl_usage_destroy(&fx->repl);
    mesh_destroy(&fx->mesh); /* a table is registered once per mesh */
    mesh_config_t mc = tmesh_config_fast("node-me", NULL, NULL, NULL);
    fx->mesh = tmesh_node_new(&mc, fx->loop, "me");
    assert_non_null(fx->mesh);
    repl_usage_config_t rc = {.mesh = fx->mesh,
                              .store = fx->store,
                              .usage = fx->usage,
                              .node_id = tmesh_id("node-me"),
                              .sk = tmesh_key("node-me"),
                              .rollup_keep_days = S_KEEP_DAYS};
    fx->repl = repl_usage_new(&rc);
    assert_non_null(fx->repl);
    assert_true(s_kept(fx, key));
    assert_int_equal(repl_usage_count(fx->repl), 1);
    assert_int_equal(repl_usage_tick(fx->repl, zclock_time()), 0); /* nothing more to push */
    s_summary_whole(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forged_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_retention, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_own_sealed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_restart_seals, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
