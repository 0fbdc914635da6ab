/*  test_usage — node/usage.c over a real store in a mkdtemp directory: rows
    written in one batch with their cost, rollups summed per key × model ×
    hour, estimates marked, retention of rows and rollups, the rollup as a
    replicable record (encode/decode, the merge rule in every order, apply
    from another origin), GET /v1/usage's parameters and its sums over
    every origin (and each key's last use), and the price table. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node/store.h"
#include "node/tiers.h"
#include "node/usage.h"
#include "tests/support/test_tmpdir.h"

#define S_NODE "node-a"
#define S_HOUR(h) (1800000000000LL - 1800000000000LL % USAGE_HOUR_MS + (h)*USAGE_HOUR_MS)

typedef struct {
    char root[256];
    store_t *store;
    usage_meter_t *u;
} fx_t;

static const char *const s_prices[] = {"fake-chat=1000/2000", "cheap=0.5/1.5",
                                       "cheap=0.15/0.6" /* the last of a model wins */};

static usage_meter_t *s_meter(fx_t *fx, int keep_days, int rollup_keep_days)
{
    usage_config_t c = {fx->store, S_NODE, keep_days, rollup_keep_days, s_prices, 3};
    return usage_new(&c);
}

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(test_tmpdir_make(fx->root, sizeof fx->root, "test_usage"), 0);
    char err[256];
    fx->store = store_open(fx->root, err, sizeof err);
    assert_non_null(fx->store);
    fx->u = s_meter(fx, 30, 400);
    assert_non_null(fx->u);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    usage_destroy(&fx->u);
    assert_null(fx->u);
    usage_destroy(&fx->u);
    store_destroy(&fx->store);
    test_tmpdir_remove(fx->root);
    free(fx);
    return 0;
}

static long long s_int(fx_t *fx, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_sqlite(fx->store), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static usage_row_t s_row(const char *key, const char *model, long long at_ms, int status,
                         long long pt, long long ct, bool est)
{
    usage_row_t r = {.at_ms = at_ms,
                     .status = status,
                     .prompt_tokens = pt,
                     .completion_tokens = ct,
                     .estimated = est,
                     .ttfb_ms = status < 400 ? 100 : -1,
                     .duration_ms = 300};
    snprintf(r.key, sizeof r.key, "%s", key);
    snprintf(r.model, sizeof r.model, "%s", model);
    snprintf(r.served_by, sizeof r.served_by, "%s", "node-b");
    return r;
}

static void test_prices(void **state)
{
    (void)state;
    usage_price_t p;
    assert_int_equal(usage_price_parse("gpt-4o=2.5/10", &p), 0);
    assert_string_equal(p.model, "gpt-4o");
    assert_true(p.prompt == 2.5 && p.completion == 10);
    assert_int_equal(usage_price_parse("org/m=x=1=0/0", &p), 0); /* the last '=' splits */
    assert_string_equal(p.model, "org/m=x=1");
    static const char *const bad[] = {"",        "m",       "=1/2",        "m=1",
                                      "m=1/",    "m=/2",    "m=-1/2",      "m=1/2x",
                                      "m=1e3/2", "m 1=1/2", "m=1/2000000", "m=nan/1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (usage_price_parse(bad[i], &p) == 0)
            fail_msg("price \"%s\" accepted", bad[i]);
    /* dollars per million: 1000 prompt tokens at $2.5/M = $0.0025 = 2 500 000 n$ */
    p.prompt = 2.5;
    p.completion = 10;
    assert_int_equal(usage_cost_nusd(&p, 1000, 0), 2500000);
    assert_int_equal(usage_cost_nusd(&p, 1000, 100), 3500000);
    assert_int_equal(usage_cost_nusd(NULL, 1000, 100), 0); /* unknown model: free */
    assert_int_equal(usage_cost_nusd(&p, -1, -1), 0);
}

static void test_record_flush_rollup(void **state)
{
    fx_t *fx = *state;
    long long h0 = S_HOUR(0);
    usage_row_t rows[] = {
        s_row("alice", "fake-chat", h0 + 10, 200, 100, 10, false),
        s_row("alice", "fake-chat", h0 + 20, 200, 50, 5, true),
        s_row("alice", "fake-chat", h0 + 30, 429, 0, 0, false),
        s_row("alice", "cheap", h0 + 40, 200, 1000000, 1000000, false),
        s_row("bob", "fake-chat", h0 + USAGE_HOUR_MS + 5, 200, 7, 7, false),
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        assert_int_equal(usage_record(fx->u, &rows[i]), 0);
    assert_int_equal(usage_pending(fx->u), 5);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rows"), 0); /* not yet written */
    assert_int_equal(usage_flush(fx->u), 5);
    assert_int_equal(usage_pending(fx->u), 0);
    assert_int_equal(usage_flush(fx->u), 0);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rows"), 5);
    assert_int_equal(s_int(fx, "SELECT sum(estimated) FROM usage_rows"), 1);
    /* cost when written: 100 tokens at $1000/M + 10 at $2000/M = $0.12 */
    assert_int_equal(s_int(fx, "SELECT cost_nusd FROM usage_rows WHERE prompt_tokens = 100"),
                     120000000);
    assert_int_equal(s_int(fx, "SELECT cost_nusd FROM usage_rows WHERE model = 'cheap'"),
                     750000000); /* $0.15 + $0.60 */
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rollups"), 3);
    assert_int_equal(s_int(fx, "SELECT requests FROM usage_rollups WHERE key = 'alice' AND"
                               " model = 'fake-chat'"),
                     3);
    assert_int_equal(s_int(fx, "SELECT errors FROM usage_rollups WHERE key = 'alice' AND"
                               " model = 'fake-chat'"),
                     1);
    assert_int_equal(s_int(fx, "SELECT estimated FROM usage_rollups WHERE key = 'alice' AND"
                               " model = 'fake-chat'"),
                     1);
    assert_int_equal(s_int(fx, "SELECT prompt_tokens + completion_tokens FROM usage_rollups"
                               " WHERE key = 'alice' AND model = 'fake-chat'"),
                     165);
    assert_int_equal(s_int(fx, "SELECT ttfb_count FROM usage_rollups WHERE key = 'alice' AND"
                               " model = 'fake-chat'"),
                     2);
    assert_int_equal(s_int(fx, "SELECT hour_ms FROM usage_rollups WHERE key = 'bob'"),
                     h0 + USAGE_HOUR_MS);
    assert_int_equal(s_int(fx, "SELECT count(DISTINCT origin) FROM usage_rollups"), 1);
    long long v1 = s_int(fx, "SELECT version_ms FROM usage_rollups WHERE key = 'bob'");
    /* a later flush adds to the same rollup and bumps its version */
    assert_int_equal(usage_record(fx->u, &rows[4]), 0);
    assert_int_equal(usage_flush(fx->u), 1);
    assert_int_equal(s_int(fx, "SELECT requests FROM usage_rollups WHERE key = 'bob'"), 2);
    assert_true(s_int(fx, "SELECT version_ms FROM usage_rollups WHERE key = 'bob'") > v1);

    /* bad rows: refused, nothing pending */
    usage_row_t bad = s_row("", "m", h0, 200, 1, 1, false);
    assert_int_equal(usage_record(fx->u, &bad), -1);
    bad = s_row("k", "m", h0, 200, 1, 1, false);
    snprintf(bad.model, sizeof bad.model, "m\nx"); /* a control byte */
    assert_int_equal(usage_record(fx->u, &bad), -1);
    assert_int_equal(usage_pending(fx->u), 0);

    /* destroy writes what is pending */
    assert_int_equal(usage_record(fx->u, &rows[0]), 0);
    usage_destroy(&fx->u);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rows"), 7);
    fx->u = s_meter(fx, 30, 400);
    assert_non_null(fx->u);
}

static void test_batch_bound(void **state)
{
    fx_t *fx = *state;
    usage_row_t r = s_row("alice", "fake-chat", zclock_time(), 200, 1, 1, false);
    for (int i = 0; i < USAGE_BATCH_MAX - 1; i++)
        assert_int_equal(usage_record(fx->u, &r), 0);
    assert_int_equal(usage_pending(fx->u), USAGE_BATCH_MAX - 1);
    assert_int_equal(usage_record(fx->u, &r), 0); /* the batch is full: written */
    assert_int_equal(usage_pending(fx->u), 0);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rows"), USAGE_BATCH_MAX);
}

static void test_retention(void **state)
{
    fx_t *fx = *state;
    long long now = zclock_time();
    usage_row_t young = s_row("alice", "m", now - 29 * USAGE_DAY_MS, 200, 1, 1, false);
    usage_row_t old = s_row("alice", "m", now - 31 * USAGE_DAY_MS, 200, 1, 1, false);
    usage_row_t ancient = s_row("alice", "m", now - 401 * USAGE_DAY_MS, 200, 1, 1, false);
    assert_int_equal(usage_record(fx->u, &young), 0);
    assert_int_equal(usage_record(fx->u, &old), 0);
    assert_int_equal(usage_record(fx->u, &ancient), 0);
    assert_int_equal(usage_flush(fx->u), 3);
    /* rows past 30 days go, rollups past 400 days go */
    assert_int_equal(usage_prune(fx->u, now), 2 + 1);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rows"), 1);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rollups"), 2);
    assert_int_equal(usage_prune(fx->u, now), 0);
    /* pruned at start-up too, by the configured bounds */
    usage_destroy(&fx->u);
    fx->u = s_meter(fx, 1, 2);
    assert_non_null(fx->u);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rows"), 0);
    assert_int_equal(s_int(fx, "SELECT count(*) FROM usage_rollups"), 0);
    usage_config_t c = {fx->store, S_NODE, 0, 400, NULL, 0};
    assert_null(usage_new(&c));
    const char *const broken[] = {"broken"};
    usage_config_t c2 = {fx->store, S_NODE, 30, 400, broken, 1};
    assert_null(usage_new(&c2));
}

static usage_rollup_t s_rollup(const char *origin, const char *key, long long version,
                               long long requests)
{
    usage_rollup_t r = {.hour_ms = S_HOUR(0),
                        .version_ms = version,
                        .requests = requests,
                        .errors = requests / 3,
                        .prompt_tokens = requests * 10,
                        .completion_tokens = requests * 5,
                        .estimated = requests / 2,
                        .cost_nusd = requests * 1000,
                        .ttfb_ms_sum = requests * 50,
                        .ttfb_count = requests,
                        .duration_ms_sum = requests * 200};
    snprintf(r.origin, sizeof r.origin, "%s", origin);
    snprintf(r.key, sizeof r.key, "%s", key);
    snprintf(r.model, sizeof r.model, "%s", "fake-chat");
    return r;
}

static void test_rollup_encoding(void **state)
{
    (void)state;
    usage_rollup_t r = s_rollup("node-b", "alice", 1800000000123LL, 42), back;
    uint8_t buf[USAGE_ROLLUP_WIRE_MAX];
    size_t n = usage_rollup_encode(&r, buf, sizeof buf);
    assert_true(n > 0 && n <= USAGE_ROLLUP_WIRE_MAX);
    assert_int_equal(usage_rollup_decode(buf, n, &back), 0);
    assert_memory_equal(&r, &back, sizeof r);
    assert_int_equal(usage_rollup_cmp(&r, &back), 0);
    /* the longest fields fit the bound */
    usage_rollup_t big = r;
    memset(big.origin, 'o', USAGE_NODE_MAX);
    memset(big.key, 'k', USAGE_KEY_MAX);
    memset(big.model, 'm', USAGE_MODEL_MAX);
    assert_int_equal(usage_rollup_encode(&big, buf, sizeof buf), USAGE_ROLLUP_WIRE_MAX);
    assert_int_equal(usage_rollup_encode(&big, buf, sizeof buf - 1), 0);
    n = usage_rollup_encode(&r, buf, sizeof buf);
    /* every truncation, trailing bytes, a wrong version byte: refused */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(usage_rollup_decode(buf, k, &back), -1);
    uint8_t more[USAGE_ROLLUP_WIRE_MAX + 1];
    memcpy(more, buf, n);
    more[n] = 0;
    assert_int_equal(usage_rollup_decode(more, n + 1, &back), -1);
    buf[0] = 2;
    assert_int_equal(usage_rollup_decode(buf, n, &back), -1);
    buf[0] = USAGE_ROLLUP_VERSION;
    /* values the rule refuses: encode says 0 */
    usage_rollup_t bad = r;
    bad.hour_ms += 1; /* not on the hour */
    assert_int_equal(usage_rollup_encode(&bad, buf, sizeof buf), 0);
    bad = r;
    bad.errors = bad.requests + 1;
    assert_int_equal(usage_rollup_encode(&bad, buf, sizeof buf), 0);
    bad = r;
    bad.cost_nusd = -1;
    assert_int_equal(usage_rollup_encode(&bad, buf, sizeof buf), 0);
    bad = r;
    bad.key[0] = '\0';
    assert_int_equal(usage_rollup_encode(&bad, buf, sizeof buf), 0);
    /* a negative counter forged in the bytes: decode refuses */
    n = usage_rollup_encode(&r, buf, sizeof buf);
    buf[n - 8] = 0xff; /* duration_ms_sum's top byte */
    assert_int_equal(usage_rollup_decode(buf, n, &back), -1);
}

/*  Every order of arrival of the versions of one record ends with the
    newest: the merge rule is order-free. */
static void test_merge_every_order(void **state)
{
    (void)state;
    enum { N = 6 };
    usage_rollup_t v[N] = {
        s_rollup("node-b", "alice", 1000, 1), s_rollup("node-b", "alice", 1001, 2),
        s_rollup("node-b", "alice", 1005, 3), s_rollup("node-b", "alice", 1005, 4),
        s_rollup("node-b", "alice", 2000, 5), s_rollup("node-b", "alice", 2000, 5),
    };
    v[5].cost_nusd += 1; /* same version and count: the greater bytes win */
    const usage_rollup_t *best = &v[5];
    int idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = i;
    size_t orders = 0;
    for (;;) {
        usage_rollup_t have = v[idx[0]];
        for (int i = 1; i < N; i++)
            usage_rollup_merge(&have, &v[idx[i]]);
        assert_memory_equal(&have, best, sizeof have);
        orders++;
        /* next permutation */
        int i = N - 2;
        while (i >= 0 && idx[i] > idx[i + 1])
            i--;
        if (i < 0)
            break;
        int j = N - 1;
        while (idx[j] < idx[i])
            j--;
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        for (int a = i + 1, b = N - 1; a < b; a++, b--) {
            t = idx[a];
            idx[a] = idx[b];
            idx[b] = t;
        }
    }
    assert_int_equal(orders, 720);
    /* merge reports a change only when the incoming copy wins */
    usage_rollup_t have = v[4];
    assert_false(usage_rollup_merge(&have, &v[0]));
    assert_false(usage_rollup_merge(&have, &v[4]));
    assert_true(usage_rollup_merge(&have, &v[5]));
    assert_true(usage_rollup_cmp(&v[3], &v[2]) > 0);
    assert_true(usage_rollup_cmp(&v[2], &v[3]) < 0);
    usage_rollup_t bad = v[5];
    bad.version_ms = 9999;
    bad.errors = bad.requests + 1;
    assert_false(usage_rollup_merge(&have, &bad)); /* malformed: never taken */
}

static void test_apply_and_sum_origins(void **state)
{
    fx_t *fx = *state;
    long long now = zclock_time();
    long long hour = now - now % USAGE_HOUR_MS;
    /* this node's own request for alice */
    usage_row_t mine = s_row("alice", "fake-chat", now, 200, 10, 5, false);
    assert_int_equal(usage_record(fx->u, &mine), 0);
    /* node-b's rollup of alice, arriving in versions out of order */
    usage_rollup_t b1 = s_rollup("node-b", "alice", 100, 2),
                   b2 = s_rollup("node-b", "alice", 200, 3);
    b1.hour_ms = b2.hour_ms = hour;
    assert_int_equal(usage_rollup_apply(fx->u, &b2), 1);
    assert_int_equal(usage_rollup_apply(fx->u, &b1), 0); /* older: ignored */
    assert_int_equal(usage_rollup_apply(fx->u, &b2), 0); /* the same: ignored */
    /* a copy claiming to be this node's own rollup: ignored (only it writes them) */
    usage_rollup_t forged = s_rollup(S_NODE, "alice", now + 1000000, 99);
    forged.hour_ms = hour;
    assert_int_equal(usage_rollup_apply(fx->u, &forged), 0);
    usage_rollup_t bad = b2;
    bad.hour_ms += 7;
    assert_int_equal(usage_rollup_apply(fx->u, &bad), -1);

    usage_rollup_t *all = NULL;
    size_t n = 0;
    assert_int_equal(usage_rollups_since(fx->u, 0, &all, &n), 0); /* flushes first */
    assert_int_equal(n, 2);
    assert_string_equal(all[0].origin, S_NODE);
    assert_string_equal(all[1].origin, "node-b");
    assert_int_equal(all[1].requests, 3);
    free(all);
    assert_int_equal(usage_rollups_since(fx->u, 150, &all, &n), 0);
    assert_true(n >= 1);
    free(all);

    /* GET /v1/usage sums both origins: each request once */
    usage_query_t q = {.range = USAGE_RANGE_DAY, .details = true};
    usage_subject_t who = {"alice", "free"};
    tiers_t *tiers = tiers_new();
    usage_report_t rep = {
        .q = &q, .now_ms = now, .subjects = &who, .n_subjects = 1, .tiers = tiers};
    abuf_t out = ABUF_INIT;
    assert_int_equal(usage_render(fx->u, &rep, &out), 0);
    json_t *doc = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(doc);
    json_t *k = json_array_get(json_object_get(doc, "keys"), 0);
    json_t *tot = json_object_get(k, "totals");
    assert_int_equal(json_integer_value(json_object_get(tot, "requests")), 1 + 3);
    assert_int_equal(json_integer_value(json_object_get(tot, "prompt_tokens")), 10 + 30);
    assert_int_equal(json_integer_value(json_object_get(tot, "estimated_requests")), 1);
    json_t *lim = json_object_get(k, "limits");
    assert_int_equal(json_integer_value(json_object_get(lim, "requests_per_minute")), 10);
    assert_true(json_is_null(json_object_get(lim, "remaining")));
    assert_int_equal(json_array_size(json_object_get(k, "buckets")), 1);
    json_decref(doc);

    /* all keys; an older range leaves nothing out of the day */
    rep.all_keys = true;
    rep.n_subjects = 0;
    q.range = USAGE_RANGE_MONTH;
    assert_int_equal(usage_render(fx->u, &rep, &out), 0);
    doc = json_loadb(out.data, out.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "keys")), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "totals"), "requests")), 4);
    assert_string_equal(json_string_value(json_object_get(doc, "bucket")), "day");
    json_decref(doc);
    abuf_free(&out);
    tiers_destroy(&tiers);
}

static int s_remaining(void *arg, const char *key, const tier_t *tier, usage_remaining_t *out)
{
    (void)arg;
    (void)key;
    out->per_minute = tier->per_minute - 1;
    out->per_hour = out->per_day = out->tokens_per_day = -1;
    return 0;
}

static void test_remaining_hook(void **state)
{
    fx_t *fx = *state;
    usage_query_t q = {.range = USAGE_RANGE_WEEK};
    usage_subject_t who = {"carol", "premium"};
    usage_report_t rep = {.q = &q,
                          .now_ms = zclock_time(),
                          .subjects = &who,
                          .n_subjects = 1,
                          .remaining = s_remaining};
    abuf_t out = ABUF_INIT;
    assert_int_equal(usage_render(fx->u, &rep, &out), 0);
    json_t *doc = json_loadb(out.data, out.len, 0, NULL);
    json_t *k = json_array_get(json_object_get(doc, "keys"), 0);
    json_t *rem = json_object_get(json_object_get(k, "limits"), "remaining");
    assert_int_equal(json_integer_value(json_object_get(rem, "requests_per_minute")), 59);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(k, "totals"), "requests")),
                     0);
    json_decref(doc);
    abuf_free(&out);
}

/*  The entry of key who in the answer over range (all: the admin's list of
    every key; else who alone); the document goes to *doc_out. */
static json_t *s_key_entry(fx_t *fx, usage_range_t range, const char *who, bool all,
                           json_t **doc_out)
{
    usage_query_t q = {.range = range};
    usage_subject_t subj = {who, "free"};
    usage_report_t rep = {.q = &q,
                          .now_ms = zclock_time(),
                          .subjects = all ? NULL : &subj,
                          .n_subjects = all ? 0 : 1,
                          .all_keys = all};
    abuf_t out = ABUF_INIT;
    assert_int_equal(usage_render(fx->u, &rep, &out), 0);
    json_t *doc = json_loadb(out.data, out.len, 0, NULL);
    abuf_free(&out);
    assert_non_null(doc);
    *doc_out = doc;
    json_t *keys = json_object_get(doc, "keys");
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        if (strcmp(json_string_value(json_object_get(k, "key")), who) == 0)
            return k;
    }
    fail_msg("no entry for %s", who);
    return NULL;
}

static long long s_last_ms(fx_t *fx, usage_range_t range, const char *who, bool all)
{
    json_t *doc = NULL;
    json_t *last = json_object_get(s_key_entry(fx, range, who, all, &doc), "last_ms");
    assert_non_null(last); /* always there: a number, or null */
    long long v = json_is_null(last) ? -1 : (long long)json_integer_value(last);
    if (!json_is_null(last))
        assert_true(json_is_integer(last));
    json_decref(doc);
    return v;
}

/*  last_ms: when the key's latest request was recorded (the greatest
    version of its rollups in the range, whichever origin holds them);
    null when it has none in the range. */
static void test_last_use(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_DAY, "alice", false), -1); /* none yet */

    long long t0 = zclock_time();
    usage_row_t mine = s_row("alice", "fake-chat", t0, 200, 10, 5, false);
    assert_int_equal(usage_record(fx->u, &mine), 0);
    assert_int_equal(usage_flush(fx->u), 1);
    long long t1 = zclock_time();
    long long v = s_last_ms(fx, USAGE_RANGE_DAY, "alice", false);
    assert_true(v >= t0 && v <= t1);
    assert_int_equal(v, s_int(fx, "SELECT version_ms FROM usage_rollups WHERE key = 'alice'"));
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_DAY, "alice", true), v); /* the admin's list too */

    /* a later request on another node (its rollup replicated here): the latest of all */
    long long hour = t1 - t1 % USAGE_HOUR_MS;
    usage_rollup_t b = s_rollup("node-b", "alice", t1 + 60000, 2);
    b.hour_ms = hour;
    assert_int_equal(usage_rollup_apply(fx->u, &b), 1);
    /* an earlier one on a third node does not move it back */
    usage_rollup_t c = s_rollup("node-c", "alice", t0 - 60000, 5);
    c.hour_ms = hour;
    assert_int_equal(usage_rollup_apply(fx->u, &c), 1);
    /* a rollup without a request is no use of the key */
    usage_rollup_t empty = s_rollup("node-d", "alice", t1 + 900000, 0);
    empty.hour_ms = hour;
    assert_int_equal(usage_rollup_apply(fx->u, &empty), 1);
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_DAY, "alice", false), t1 + 60000);
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_MONTH, "alice", true), t1 + 60000);

    /* only the range counts: a rollup of three days ago is in the week, not the day */
    usage_rollup_t old = s_rollup("node-e", "alice", t1 + 120000, 1);
    old.hour_ms = hour - 72 * USAGE_HOUR_MS;
    assert_int_equal(usage_rollup_apply(fx->u, &old), 1);
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_DAY, "alice", false), t1 + 60000);
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_WEEK, "alice", false), t1 + 120000);

    /* each key its own: bob's use is not alice's */
    usage_rollup_t bob = s_rollup("node-b", "bob", t1 + 300000, 1);
    bob.hour_ms = hour;
    assert_int_equal(usage_rollup_apply(fx->u, &bob), 1);
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_DAY, "bob", true), t1 + 300000);
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_DAY, "alice", true), t1 + 60000);
    assert_int_equal(s_last_ms(fx, USAGE_RANGE_DAY, "carol", false), -1);
}

/*  details: each model's own buckets (hours for a day), summed over
    origins, in time order; a model used in one hour has one bucket. */
static void test_model_buckets(void **state)
{
    fx_t *fx = *state;
    long long now = zclock_time();
    long long hour = now - now % USAGE_HOUR_MS;
    static const struct {
        const char *origin, *model;
        int hours_ago;
        long long requests;
    } rs[] = {
        {"node-b", "m-one", 0, 2}, {"node-c", "m-one", 0, 3},  {"node-b", "m-one", 2, 4},
        {"node-b", "m-two", 1, 5}, {"node-b", "m-two", 30, 9}, /* out of the day */
    };
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        usage_rollup_t r = s_rollup(rs[i].origin, "alice", 100 + (long long)i, rs[i].requests);
        r.hour_ms = hour - rs[i].hours_ago * USAGE_HOUR_MS;
        snprintf(r.model, sizeof r.model, "%s", rs[i].model);
        assert_int_equal(usage_rollup_apply(fx->u, &r), 1);
    }
    usage_query_t q = {.range = USAGE_RANGE_DAY, .details = true};
    usage_subject_t who = {"alice", "free"};
    tiers_t *tiers = tiers_new();
    usage_report_t rep = {
        .q = &q, .now_ms = now, .subjects = &who, .n_subjects = 1, .tiers = tiers};
    abuf_t out = ABUF_INIT;
    assert_int_equal(usage_render(fx->u, &rep, &out), 0);
    json_t *doc = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(doc);
    json_t *models = json_object_get(json_array_get(json_object_get(doc, "keys"), 0), "models");
    assert_int_equal(json_array_size(models), 2);
    static const struct {
        const char *model;
        long long hours_ago[2], requests[2];
        size_t n;
    } want[] = {{"m-one", {2, 0}, {4, 2 + 3}, 2}, {"m-two", {1, 0}, {5, 0}, 1}};
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(models, i);
        assert_string_equal(json_string_value(json_object_get(m, "model")), want[i].model);
        json_t *b = json_object_get(m, "buckets");
        assert_int_equal(json_array_size(b), want[i].n);
        long long sum = 0;
        for (size_t k = 0; k < want[i].n; k++) {
            json_t *e = json_array_get(b, k);
            assert_int_equal(json_integer_value(json_object_get(e, "start_ms")),
                             hour - want[i].hours_ago[k] * USAGE_HOUR_MS);
            assert_int_equal(json_integer_value(json_object_get(e, "requests")),
                             want[i].requests[k]);
            assert_true(json_is_real(json_object_get(e, "cost_usd")));
            sum += want[i].requests[k];
        }
        assert_int_equal(json_integer_value(json_object_get(m, "requests")), sum);
    }
    json_decref(doc);
    abuf_free(&out);
    tiers_destroy(&tiers);
}

static void test_query_parse(void **state)
{
    (void)state;
    usage_query_t q;
    openai_error_t err;
    const char *n1[] = {"range", "details"}, *v1[] = {"week", "true"};
    assert_int_equal(usage_query_parse(n1, v1, 2, false, &q, &err), 0);
    assert_int_equal(q.range, USAGE_RANGE_WEEK);
    assert_true(q.details);
    assert_int_equal(usage_query_parse(NULL, NULL, 0, false, &q, &err), 0);
    assert_int_equal(q.range, USAGE_RANGE_DAY);
    assert_false(q.details);
    const char *n2[] = {"key"}, *v2[] = {"alice"};
    assert_int_equal(usage_query_parse(n2, v2, 1, true, &q, &err), 0);
    assert_true(q.has_key);
    assert_string_equal(q.key, "alice");
    static const struct {
        const char *name, *value;
        bool admin;
        const char *param;
    } bad[] = {
        {"range", "year", false, "range"},   {"range", "", false, "range"},
        {"range", "DAY", false, "range"},    {"details", "1", false, "details"},
        {"details", NULL, false, "details"}, {"key", "alice", false, "key"},
        {"key", "a b", true, "key"},         {"key", "", true, "key"},
        {"limit", "3", true, "limit"},       {"", "x", false, "query"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        if (usage_query_parse(&bad[i].name, &bad[i].value, 1, bad[i].admin, &q, &err) != -1)
            fail_msg("%s=%s accepted", bad[i].name, bad[i].value ? bad[i].value : "(none)");
        assert_int_equal(err.status, 400);
        assert_string_equal(err.param, bad[i].param);
    }
    const char *n3[] = {"range", "range"}, *v3[] = {"day", "day"};
    assert_int_equal(usage_query_parse(n3, v3, 2, false, &q, &err), -1);
    assert_string_equal(err.param, "range");
}

static void test_estimate(void **state)
{
    (void)state;
    assert_int_equal(usage_estimate_tokens("", 0), 0);
    assert_int_equal(usage_estimate_tokens("Hello from the fake arena.", 26), 7);
    assert_int_equal(usage_estimate_tokens("\xd0\x96\xd0\x96", 4), 1);         /* 2 Cyrillic: 4 q */
    assert_int_equal(usage_estimate_tokens("\xe6\x97\xa5\xe6\x97\xa5", 6), 2); /* 2 CJK */
    assert_int_equal(usage_estimate_tokens("\xe6\x97", 2), 1);                 /* cut: 1 a byte */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prices),
        cmocka_unit_test_setup_teardown(test_record_flush_rollup, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_retention, s_setup, s_teardown),
        cmocka_unit_test(test_rollup_encoding),
        cmocka_unit_test(test_merge_every_order),
        cmocka_unit_test_setup_teardown(test_apply_and_sum_origins, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_remaining_hook, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_last_use, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_model_buckets, s_setup, s_teardown),
        cmocka_unit_test(test_query_parse),
        cmocka_unit_test(test_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
