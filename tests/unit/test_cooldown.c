/*  test_cooldown — rate-limit cooldowns per (node, model) and per node ("*")
    over a real store in a mkdtemp directory: the 5 s floor, no shortening,
    counting down with now_ms, prune, cooldown_each, persistence across a
    destroy and a store reopen, and the bounds on what it accepts. Times are
    synthetic unix ms so nothing sleeps. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node/cooldown.h"
#include "node/store.h"
#include "tests/support/test_tmpdir.h"

#define T0 1700000000000LL /* a fixed "now", unix ms */
#define NODE_A "0190a0a0-0000-7000-8000-00000000000a"
#define NODE_B "0190a0a0-0000-7000-8000-00000000000b"

typedef struct {
    char root[256];
    char err[512];
    store_t *store;
    cooldown_t *cd;
} fx_t;

static void s_store_open(fx_t *fx)
{
    fx->store = store_open(fx->root, fx->err, sizeof fx->err);
    if (!fx->store)
        fail_msg("store_open: %s", fx->err);
}

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(test_tmpdir_make(fx->root, sizeof fx->root, "test_cooldown"), 0);
    s_store_open(fx);
    fx->cd = cooldown_new(fx->store, T0);
    assert_non_null(fx->cd);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    cooldown_destroy(&fx->cd);
    store_destroy(&fx->store);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

/*  Closes the cooldown table and the store, then opens both again at now. */
static void s_reopen(fx_t *fx, long long now)
{
    cooldown_destroy(&fx->cd);
    assert_null(fx->cd);
    store_destroy(&fx->store);
    s_store_open(fx);
    fx->cd = cooldown_new(fx->store, now);
    assert_non_null(fx->cd);
}

/* ---- cooldown_each collector ---- */

#define EACH_MAX 16

typedef struct {
    char node_id[UUID_STR_LEN];
    char model[256];
    long long remaining_ms;
    char reason[64];
} seen_t;

typedef struct {
    seen_t items[EACH_MAX];
    size_t n;
} each_t;

static void s_each(void *arg, const char *node_id, const char *model, long long remaining_ms,
                   const char *reason)
{
    each_t *e = arg;
    assert_true(e->n < EACH_MAX);
    seen_t *s = &e->items[e->n++];
    snprintf(s->node_id, sizeof s->node_id, "%s", node_id);
    snprintf(s->model, sizeof s->model, "%s", model);
    snprintf(s->reason, sizeof s->reason, "%s", reason);
    s->remaining_ms = remaining_ms;
}

static const seen_t *s_seen(const each_t *e, const char *node_id, const char *model)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->items[i].node_id, node_id) == 0 && strcmp(e->items[i].model, model) == 0)
            return &e->items[i];
    return NULL;
}

static void s_collect(cooldown_t *cd, long long now, each_t *e)
{
    memset(e, 0, sizeof *e);
    cooldown_each(cd, now, s_each, e);
}

/*  Rows in the store running at `now` (0: every row, expired or not). */
static size_t s_store_rows(store_t *st, long long now)
{
    store_cooldown_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_cooldowns_load(st, now, &rows, &n), 0);
    free(rows);
    return n;
}

/* ---- tests ---- */

static void test_set_and_remaining(void **state)
{
    fx_t *fx = *state;
    const char *reason = NULL;
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m1", T0, &reason), 0);
    assert_null(reason);

    assert_int_equal(cooldown_set(fx->cd, NODE_A, "m1", 60000, "rate_limited", T0), 60000);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m1", T0, &reason), 60000);
    assert_non_null(reason);
    assert_string_equal(reason, "rate_limited");
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m1", T0, NULL), 60000);

    /* other models and other nodes are not cooled */
    reason = NULL;
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m2", T0, &reason), 0);
    assert_null(reason);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_B, "m1", T0, NULL), 0);

    /* a NULL reason is stored as "" */
    assert_int_equal(cooldown_set(fx->cd, NODE_B, "m2", 7000, NULL, T0), 7000);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_B, "m2", T0, &reason), 7000);
    assert_string_equal(reason, "");
}

static void test_minimum(void **state)
{
    fx_t *fx = *state;
    static const struct {
        long long asked, in_force;
    } cases[] = {
        {-100000, COOLDOWN_MIN_MS},
        {-1, COOLDOWN_MIN_MS},
        {0, COOLDOWN_MIN_MS},
        {1, COOLDOWN_MIN_MS},
        {4999, COOLDOWN_MIN_MS},
        {5000, 5000},
        {5001, 5001},
        {1800000, 1800000},
        {COOLDOWN_MAX_MS, COOLDOWN_MAX_MS},
        {COOLDOWN_MAX_MS + 1, COOLDOWN_MAX_MS},
        {INT64_MAX, COOLDOWN_MAX_MS}, /* a hostile peer's flag: no overflow */
    };
    assert_int_equal(COOLDOWN_MIN_MS, 5000);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char model[32];
        snprintf(model, sizeof model, "min-%zu", i);
        long long got = cooldown_set(fx->cd, NODE_A, model, cases[i].asked, "t", T0);
        if (got != cases[i].in_force)
            fail_msg("case %zu: asked %lld, set returned %lld, want %lld", i, cases[i].asked, got,
                     cases[i].in_force);
        assert_int_equal(cooldown_remaining(fx->cd, NODE_A, model, T0, NULL), cases[i].in_force);
    }
}

static void test_never_shortened(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(cooldown_set(fx->cd, NODE_A, "m", 60000, "first", T0), 60000);
    /* 1 s later, a 10 s cooldown: the running one (59 s left) stays */
    assert_int_equal(cooldown_set(fx->cd, NODE_A, "m", 10000, "second", T0 + 1000), 59000);
    const char *reason = NULL;
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m", T0 + 1000, &reason), 59000);
    assert_string_equal(reason, "first");
    /* an equal deadline changes nothing either */
    assert_int_equal(cooldown_set(fx->cd, NODE_A, "m", 59000, "same", T0 + 1000), 59000);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m", T0 + 30000, NULL), 30000);

    /* a longer one extends it, with its reason */
    assert_int_equal(cooldown_set(fx->cd, NODE_A, "m", 120000, "longer", T0 + 2000), 120000);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m", T0 + 2000, &reason), 120000);
    assert_string_equal(reason, "longer");

    /* once it has run out, a short one is a fresh cooldown */
    long long later = T0 + 2000 + 120000 + 1;
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m", later, NULL), 0);
    assert_int_equal(cooldown_set(fx->cd, NODE_A, "m", 6000, "again", later), 6000);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m", later, &reason), 6000);
    assert_string_equal(reason, "again");

    /* the store holds the deadline in force, not the refused shorter one */
    s_reopen(fx, later);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m", later, &reason), 6000);
    assert_string_equal(reason, "again");
}

static void test_whole_node(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(cooldown_set(fx->cd, NODE_A, COOLDOWN_ALL, 30000, "recaptcha", T0), 30000);
    static const char *const models[] = {"m1", "gpt-5-high", "fake-chat", "*"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        const char *reason = NULL;
        assert_int_equal(cooldown_remaining(fx->cd, NODE_A, models[i], T0, &reason), 30000);
        assert_string_equal(reason, "recaptcha");
        /* only node A */
        assert_int_equal(cooldown_remaining(fx->cd, NODE_B, models[i], T0, NULL), 0);
    }
    /* the longer of (node, model) and (node, "*") wins, with its reason */
    cooldown_set(fx->cd, NODE_A, "m1", 90000, "rate_limited", T0);
    const char *reason = NULL;
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m1", T0, &reason), 90000);
    assert_string_equal(reason, "rate_limited");
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m2", T0, &reason), 30000);
    assert_string_equal(reason, "recaptcha");
    cooldown_set(fx->cd, NODE_A, "m3", 10000, "rate_limited", T0);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m3", T0, &reason), 30000);
    assert_string_equal(reason, "recaptcha");
    /* after the node cooldown ends, m1's own one still runs */
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m2", T0 + 30000, NULL), 0);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m1", T0 + 30000, NULL), 60000);
}

static void test_counts_down(void **state)
{
    fx_t *fx = *state;
    cooldown_set(fx->cd, NODE_A, "m", 20000, "rate_limited", T0);
    static const struct {
        long long at, left;
    } cases[] = {
        {0, 20000}, {1, 19999}, {5000, 15000}, {19999, 1}, {20000, 0}, {20001, 0}, {3600000, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long got = cooldown_remaining(fx->cd, NODE_A, "m", T0 + cases[i].at, NULL);
        if (got != cases[i].left)
            fail_msg("at +%lld ms: %lld left, want %lld", cases[i].at, got, cases[i].left);
    }
}

static void test_each(void **state)
{
    fx_t *fx = *state;
    each_t e;
    s_collect(fx->cd, T0, &e);
    assert_int_equal(e.n, 0);

    cooldown_set(fx->cd, NODE_A, "m1", 10000, "rate_limited", T0);
    cooldown_set(fx->cd, NODE_A, COOLDOWN_ALL, 20000, "recaptcha", T0);
    cooldown_set(fx->cd, NODE_B, "m1", 30000, "peer", T0);

    s_collect(fx->cd, T0 + 1000, &e);
    assert_int_equal(e.n, 3);
    const seen_t *s = s_seen(&e, NODE_A, "m1");
    assert_non_null(s);
    assert_int_equal(s->remaining_ms, 9000);
    assert_string_equal(s->reason, "rate_limited");
    s = s_seen(&e, NODE_A, COOLDOWN_ALL);
    assert_non_null(s);
    assert_int_equal(s->remaining_ms, 19000);
    assert_string_equal(s->reason, "recaptcha");
    s = s_seen(&e, NODE_B, "m1");
    assert_non_null(s);
    assert_int_equal(s->remaining_ms, 29000);
    assert_string_equal(s->reason, "peer");

    /* expired entries are skipped even before a prune */
    s_collect(fx->cd, T0 + 10000, &e);
    assert_int_equal(e.n, 2);
    assert_null(s_seen(&e, NODE_A, "m1"));
    s_collect(fx->cd, T0 + 30000, &e);
    assert_int_equal(e.n, 0);
}

static void test_prune(void **state)
{
    fx_t *fx = *state;
    cooldown_set(fx->cd, NODE_A, "short", 5000, "rate_limited", T0);
    cooldown_set(fx->cd, NODE_A, "long", 60000, "rate_limited", T0);
    cooldown_set(fx->cd, NODE_B, COOLDOWN_ALL, 8000, "recaptcha", T0);
    assert_int_equal(s_store_rows(fx->store, 0), 3);

    cooldown_prune(fx->cd, T0 + 4999); /* nothing expired yet */
    each_t e;
    s_collect(fx->cd, T0 + 4999, &e);
    assert_int_equal(e.n, 3);
    assert_int_equal(s_store_rows(fx->store, 0), 3);

    cooldown_prune(fx->cd, T0 + 10000);
    /* forgotten in memory: even an earlier "now" does not bring them back */
    s_collect(fx->cd, T0, &e);
    assert_int_equal(e.n, 1);
    assert_non_null(s_seen(&e, NODE_A, "long"));
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "short", T0, NULL), 0);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_B, "x", T0, NULL), 0);
    /* and in the store */
    assert_int_equal(s_store_rows(fx->store, 0), 1);

    /* a pruned slot can be set again */
    assert_int_equal(cooldown_set(fx->cd, NODE_A, "short", 7000, "again", T0 + 10000), 7000);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "short", T0 + 10000, NULL), 7000);
    assert_int_equal(s_store_rows(fx->store, 0), 2);
}

static void test_persistence(void **state)
{
    fx_t *fx = *state;
    cooldown_set(fx->cd, NODE_A, "gone", 5000, "rate_limited", T0);
    cooldown_set(fx->cd, NODE_A, "kept", 60000, "rate_limited", T0);
    cooldown_set(fx->cd, NODE_A, COOLDOWN_ALL, 40000, "recaptcha", T0);
    cooldown_set(fx->cd, NODE_B, "kept", 90000, "peer says", T0);

    /* a restart 10 s later: the running ones come back, counting from then */
    long long now = T0 + 10000;
    s_reopen(fx, now);
    each_t e;
    s_collect(fx->cd, now, &e);
    assert_int_equal(e.n, 3);
    assert_null(s_seen(&e, NODE_A, "gone"));
    const char *reason = NULL;
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "kept", now, &reason), 50000);
    assert_string_equal(reason, "rate_limited");
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "other", now, &reason), 30000);
    assert_string_equal(reason, "recaptcha");
    assert_int_equal(cooldown_remaining(fx->cd, NODE_B, "kept", now, &reason), 80000);
    assert_string_equal(reason, "peer says");
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "gone", now, NULL), 30000); /* "*" only */
    /* loading dropped the expired row from the store too */
    assert_int_equal(s_store_rows(fx->store, 0), 3);

    /* a restart after everything ran out loads nothing */
    now = T0 + 90000;
    s_reopen(fx, now);
    s_collect(fx->cd, T0, &e);
    assert_int_equal(e.n, 0);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_B, "kept", T0, NULL), 0);
    assert_int_equal(s_store_rows(fx->store, 0), 0);
}

static void test_without_store(void **state)
{
    (void)state;
    cooldown_t *cd = cooldown_new(NULL, T0);
    assert_non_null(cd);
    assert_int_equal(cooldown_set(cd, NODE_A, "m", 1000, "r", T0), COOLDOWN_MIN_MS);
    assert_int_equal(cooldown_remaining(cd, NODE_A, "m", T0, NULL), COOLDOWN_MIN_MS);
    cooldown_prune(cd, T0 + COOLDOWN_MIN_MS);
    assert_int_equal(cooldown_remaining(cd, NODE_A, "m", T0, NULL), 0);
    cooldown_destroy(&cd);
    assert_null(cd);
    cooldown_destroy(&cd); /* idempotent */
    cooldown_destroy(NULL);
}

static void test_bounds(void **state)
{
    fx_t *fx = *state;
    char model[300], node[UUID_STR_LEN + 8];
    /* a model name of 255 bytes fits; 256 does not and is refused (0) */
    memset(model, 'm', sizeof model);
    model[255] = '\0';
    assert_int_equal(cooldown_set(fx->cd, NODE_A, model, 10000, "r", T0), 10000);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, model, T0, NULL), 10000);
    model[255] = 'm';
    model[256] = '\0';
    assert_int_equal(cooldown_set(fx->cd, NODE_A, model, 10000, "r", T0), 0);
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, model, T0, NULL), 0);
    /* an over-long node id is refused */
    memset(node, 'n', sizeof node);
    node[sizeof node - 1] = '\0';
    assert_int_equal(cooldown_set(fx->cd, node, "m", 10000, "r", T0), 0);
    assert_int_equal(cooldown_remaining(fx->cd, node, "m", T0, NULL), 0);
    /* an over-long reason is truncated, not refused */
    char reason[200];
    memset(reason, 'r', sizeof reason);
    reason[sizeof reason - 1] = '\0';
    assert_int_equal(cooldown_set(fx->cd, NODE_A, "m", 10000, reason, T0), 10000);
    const char *got = NULL;
    assert_int_equal(cooldown_remaining(fx->cd, NODE_A, "m", T0, &got), 10000);
    assert_int_equal(strlen(got), sizeof((store_cooldown_t *)0)->reason - 1);
    assert_int_equal(strncmp(got, reason, strlen(got)), 0);
    /* only what was accepted reached the store */
    assert_int_equal(s_store_rows(fx->store, 0), 2);
}

static void test_table_full(void **state)
{
    (void)state;
    /* Bounded: at most 4096 entries; the next distinct one is refused, and
       pruning expired ones makes room again. No store: this is about memory. */
    cooldown_t *cd = cooldown_new(NULL, T0);
    assert_non_null(cd);
    char model[32];
    for (int i = 0; i < 4096; i++) {
        snprintf(model, sizeof model, "m%d", i);
        long long ms = i == 0 ? 5000 : 60000;
        assert_int_equal(cooldown_set(cd, NODE_A, model, ms, "r", T0), ms);
    }
    assert_int_equal(cooldown_set(cd, NODE_A, "one-more", 60000, "r", T0), 0);
    assert_int_equal(cooldown_remaining(cd, NODE_A, "one-more", T0, NULL), 0);
    /* an existing entry can still be extended */
    assert_int_equal(cooldown_set(cd, NODE_A, "m1", 90000, "r", T0), 90000);
    cooldown_prune(cd, T0 + 5000); /* m0 expired */
    assert_int_equal(cooldown_set(cd, NODE_A, "one-more", 60000, "r", T0 + 5000), 60000);
    cooldown_destroy(&cd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_and_remaining, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_minimum, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_never_shortened, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_whole_node, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_counts_down, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_each, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prune, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_persistence, s_setup, s_teardown),
        cmocka_unit_test(test_without_store),
        cmocka_unit_test_setup_teardown(test_bounds, s_setup, s_teardown),
        cmocka_unit_test(test_table_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
