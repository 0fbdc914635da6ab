/*  test_traffic — the node's traffic ring (node/traffic.h) with an
    injected clock: requests land in the 10 s bucket of their end, a new
    bucket starts at the boundary, an hour's window (buckets older than 360
    are gone, nothing before the node started is listed), ?since= returns
    only newer buckets, TTFB quantiles against known samples within the
    histogram's stated resolution, errors by kind (interned, capped, bad
    names as "other"), the last-minute summary, and the query parser's 400s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/traffic.h"

#define T0 1700000000000LL /* a bucket boundary (unix ms): 1700000000000 % 10000 == 0 */
#define B TRAFFIC_BUCKET_MS
#define NODE "0190a0a0-0000-7000-8000-00000000000a"

/*  The rendered document, parsed. */
static json_t *s_doc(const traffic_t *t, long long now, long long since)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(traffic_render(t, NODE, now, since, &out), 0);
    json_error_t jerr;
    json_t *doc = json_loadb(out.data, out.len, 0, &jerr);
    if (!doc)
        fail_msg("not JSON: %s: %.*s", jerr.text, (int)out.len, out.data);
    abuf_free(&out);
    return doc;
}

static json_t *s_buckets(json_t *doc)
{
    json_t *list = json_object_get(doc, "buckets");
    assert_true(json_is_array(list));
    return list;
}

/*  The bucket entry that starts at start, or NULL. */
static json_t *s_bucket(json_t *doc, long long start)
{
    json_t *list = s_buckets(doc), *e;
    size_t i;
    json_array_foreach(list, i, e)
    {
        if (json_integer_value(json_object_get(e, "start_ms")) == start)
            return e;
    }
    return NULL;
}

static long long s_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return (long long)json_integer_value(v);
}

static long long s_errors(json_t *entry, const char *kind)
{
    json_t *v = json_object_get(json_object_get(entry, "errors"), kind);
    return v ? (long long)json_integer_value(v) : 0;
}

static void test_document_shape(void **state)
{
    (void)state;
    traffic_t *t = traffic_new(T0);
    assert_non_null(t);
    traffic_record(t, T0 + 1500, NULL, 120);
    json_t *doc = s_doc(t, T0 + 2000, -1);
    assert_string_equal(json_string_value(json_object_get(doc, "object")), "traffic");
    assert_string_equal(json_string_value(json_object_get(doc, "node")), NODE);
    assert_int_equal(s_int(doc, "bucket_ms"), 10000);
    assert_int_equal(s_int(doc, "from_ms"), T0);
    assert_int_equal(s_int(doc, "to_ms"), T0 + 2000);
    json_t *list = s_buckets(doc);
    assert_int_equal(json_array_size(list), 1);
    json_t *e = json_array_get(list, 0);
    assert_int_equal(s_int(e, "start_ms"), T0);
    assert_int_equal(s_int(e, "requests"), 1);
    assert_true(json_is_object(json_object_get(e, "errors")));
    assert_int_equal(json_object_size(json_object_get(e, "errors")), 0);
    assert_int_equal(s_int(e, "ttfb_p50_ms"), 120);
    assert_int_equal(s_int(e, "ttfb_p99_ms"), 120);
    json_decref(doc);
    traffic_destroy(&t);
    assert_null(t);
    traffic_destroy(&t); /* idempotent */
}

static void test_bucket_roll_over(void **state)
{
    (void)state;
    traffic_t *t = traffic_new(T0);
    traffic_record(t, T0 + B - 1, NULL, 10); /* the last ms of the first bucket */
    traffic_record(t, T0 + B, NULL, 10);     /* the first of the second */
    traffic_record(t, T0 + B + 5, NULL, 10);
    traffic_record(t, T0 + 3 * B + 1, NULL, 10); /* a bucket skipped between */
    json_t *doc = s_doc(t, T0 + 3 * B + 2, -1);
    json_t *list = s_buckets(doc);
    assert_int_equal(json_array_size(list), 4);
    long long want[4] = {1, 2, 0, 1};
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(list, i);
        assert_int_equal(s_int(e, "start_ms"), T0 + (long long)i * B); /* oldest first */
        assert_int_equal(s_int(e, "requests"), want[i]);
    }
    /* an empty bucket has no TTFB: null, not 0 */
    assert_true(json_is_null(json_object_get(json_array_get(list, 2), "ttfb_p50_ms")));
    json_decref(doc);
    traffic_destroy(&t);
}

static void test_hour_window(void **state)
{
    (void)state;
    traffic_t *t = traffic_new(T0);
    for (long long i = 0; i < TRAFFIC_BUCKETS + 10; i++)
        traffic_record(t, T0 + i * B + 1, NULL, -1);
    long long now = T0 + (TRAFFIC_BUCKETS + 9) * B + 3;
    json_t *doc = s_doc(t, now, -1);
    json_t *list = s_buckets(doc);
    /* one hour: 360 buckets, the oldest 359 buckets before the current one */
    assert_int_equal(json_array_size(list), TRAFFIC_BUCKETS);
    long long cur = T0 + (TRAFFIC_BUCKETS + 9) * B;
    assert_int_equal(s_int(doc, "from_ms"), cur - (TRAFFIC_BUCKETS - 1) * B);
    assert_int_equal(s_int(json_array_get(list, 0), "start_ms"), cur - (TRAFFIC_BUCKETS - 1) * B);
    assert_int_equal(s_int(json_array_get(list, TRAFFIC_BUCKETS - 1), "start_ms"), cur);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        assert_int_equal(s_int(e, "requests"), 1); /* each its own, none a stale ring slot */
    }
    json_decref(doc);

    /* an hour of silence: every bucket listed, every one empty (the ring's
       slots hold an hour-old bucket that must not be shown as now) */
    long long later = now + TRAFFIC_BUCKETS * B;
    doc = s_doc(t, later, -1);
    list = s_buckets(doc);
    assert_int_equal(json_array_size(list), TRAFFIC_BUCKETS);
    json_array_foreach(list, i, e)
    {
        assert_int_equal(s_int(e, "requests"), 0);
    }
    json_decref(doc);
    traffic_destroy(&t);
}

static void test_since(void **state)
{
    (void)state;
    traffic_t *t = traffic_new(T0);
    for (long long i = 0; i < 5; i++)
        traffic_record(t, T0 + i * B + 7, NULL, 50);
    long long now = T0 + 4 * B + 9;
    json_t *doc = s_doc(t, now, T0 + 3 * B); /* the client's last bucket: sent again */
    json_t *list = s_buckets(doc);
    assert_int_equal(json_array_size(list), 2);
    assert_int_equal(s_int(json_array_get(list, 0), "start_ms"), T0 + 3 * B);
    assert_int_equal(s_int(doc, "from_ms"), T0 + 3 * B);
    json_decref(doc);
    doc = s_doc(t, now, T0 + 3 * B + 1); /* not on a boundary: the next bucket on */
    assert_int_equal(json_array_size(s_buckets(doc)), 1);
    assert_int_equal(s_int(json_array_get(s_buckets(doc), 0), "start_ms"), T0 + 4 * B);
    json_decref(doc);
    doc = s_doc(t, now, now + B); /* the future: nothing */
    assert_int_equal(json_array_size(s_buckets(doc)), 0);
    json_decref(doc);
    doc = s_doc(t, now, 0); /* since 1970: the whole window (since the node started) */
    assert_int_equal(json_array_size(s_buckets(doc)), 5);
    json_decref(doc);
    traffic_destroy(&t);
}

/*  The histogram's promise (traffic.h): within 2^(1/8) - 1 of the true
    nearest-rank quantile. */
static void s_near(long long got, double want)
{
    double tol = want * (exp2(1.0 / 8.0) - 1.0) + 0.5; /* + rounding to whole ms */
    if (fabs((double)got - want) > tol)
        fail_msg("quantile %lld, want %.1f ± %.1f", got, want, tol);
}

static void test_quantiles(void **state)
{
    (void)state;
    traffic_t *t = traffic_new(T0);
    /* 1..100 ms: p50 is 50, p99 is 99 (nearest rank) */
    for (long long ms = 1; ms <= 100; ms++)
        traffic_record(t, T0 + 10, NULL, ms);
    /* a bucket of 99 fast answers and one slow: p50 fast, p99 still fast,
       and a bucket of 98 + 2 slow: p99 is the slow one */
    for (int i = 0; i < 99; i++)
        traffic_record(t, T0 + B + 10, NULL, 200);
    traffic_record(t, T0 + B + 10, NULL, 30000);
    for (int i = 0; i < 98; i++)
        traffic_record(t, T0 + 2 * B + 10, NULL, 200);
    traffic_record(t, T0 + 2 * B + 10, NULL, 30000);
    traffic_record(t, T0 + 2 * B + 10, NULL, 30000);
    /* samples below 1 ms, and past the last bin */
    traffic_record(t, T0 + 3 * B + 10, NULL, 0);
    traffic_record(t, T0 + 4 * B + 10, NULL, 5000000);
    json_t *doc = s_doc(t, T0 + 4 * B + 20, -1);
    json_t *e = s_bucket(doc, T0);
    s_near(s_int(e, "ttfb_p50_ms"), 50);
    s_near(s_int(e, "ttfb_p99_ms"), 99);
    e = s_bucket(doc, T0 + B);
    assert_int_equal(s_int(e, "ttfb_p50_ms"), 200); /* clamped to the only fast value */
    assert_int_equal(s_int(e, "ttfb_p99_ms"), 200);
    e = s_bucket(doc, T0 + 2 * B);
    assert_int_equal(s_int(e, "ttfb_p50_ms"), 200);
    assert_int_equal(s_int(e, "ttfb_p99_ms"), 30000); /* clamped to the largest sample */
    e = s_bucket(doc, T0 + 3 * B);
    assert_int_equal(s_int(e, "ttfb_p50_ms"), 0);
    e = s_bucket(doc, T0 + 4 * B);
    assert_int_equal(s_int(e, "ttfb_p99_ms"), 5000000);
    json_decref(doc);
    traffic_destroy(&t);

    /* spread samples: every quantile within the stated resolution */
    t = traffic_new(T0);
    long long samples[200];
    for (int i = 0; i < 200; i++) {
        samples[i] = 3 + (long long)i * i; /* 3 .. 39604 ms, increasing */
        traffic_record(t, T0 + 5, NULL, samples[i]);
    }
    doc = s_doc(t, T0 + 6, -1);
    e = s_bucket(doc, T0);
    s_near(s_int(e, "ttfb_p50_ms"), (double)samples[99]);  /* rank 100 of 200 */
    s_near(s_int(e, "ttfb_p99_ms"), (double)samples[197]); /* rank 198 */
    json_decref(doc);
    traffic_destroy(&t);
}

static void test_bins(void **state)
{
    (void)state;
    assert_int_equal(traffic_ttfb_bin(-5), 0);
    assert_int_equal(traffic_ttfb_bin(0), 0);
    assert_int_equal(traffic_ttfb_bin(1), 1);
    assert_int_equal(traffic_ttfb_bin(2), 5); /* four bins per doubling */
    assert_int_equal(traffic_ttfb_bin(4), 9);
    assert_int_equal(traffic_ttfb_bin(1 << 20), TRAFFIC_TTFB_BINS - 1);
    assert_int_equal(traffic_ttfb_bin(1LL << 40), TRAFFIC_TTFB_BINS - 1);
    /* every bin's middle lies in the bin */
    for (int k = 1; k < TRAFFIC_TTFB_BINS; k++) {
        double mid = traffic_ttfb_mid(k);
        assert_true(mid >= exp2((k - 1) / 4.0) && mid < exp2(k / 4.0));
    }
}

static void test_error_kinds(void **state)
{
    (void)state;
    traffic_t *t = traffic_new(T0);
    traffic_record(t, T0 + 1, "rate_limited", -1);
    traffic_record(t, T0 + 2, "rate_limited", -1);
    traffic_record(t, T0 + 3, "no_capacity", -1);
    traffic_record(t, T0 + 4, TRAFFIC_CLIENT_CLOSED, -1);
    traffic_record(t, T0 + 5, NULL, 40);
    traffic_record(t, T0 + 6, "Bad Kind", -1);                             /* not [a-z0-9_] */
    traffic_record(t, T0 + 7, "a_very_long_error_code_past_32_chars", -1); /* too long */
    traffic_record(t, T0 + 8, "", -1);
    traffic_record(t, T0 + B + 1, "upstream_error", 900); /* mid-stream: had a first byte */
    json_t *doc = s_doc(t, T0 + B + 2, -1);
    json_t *e = s_bucket(doc, T0);
    assert_int_equal(s_int(e, "requests"), 8);
    assert_int_equal(s_errors(e, "rate_limited"), 2);
    assert_int_equal(s_errors(e, "no_capacity"), 1);
    assert_int_equal(s_errors(e, "client_closed"), 1);
    assert_int_equal(s_errors(e, "other"), 3);
    assert_int_equal(json_object_size(json_object_get(e, "errors")), 4);
    assert_int_equal(s_int(e, "ttfb_p50_ms"), 40); /* the one sample */
    e = s_bucket(doc, T0 + B);
    assert_int_equal(s_errors(e, "upstream_error"), 1);
    assert_int_equal(s_errors(e, "rate_limited"), 0); /* kinds are per bucket */
    assert_int_equal(s_int(e, "ttfb_p99_ms"), 900);
    json_decref(doc);

    /* at most TRAFFIC_MAX_KINDS names: later ones count as "other" */
    char name[32];
    for (int i = 0; i < 2 * TRAFFIC_MAX_KINDS; i++) {
        snprintf(name, sizeof name, "kind_%d", i);
        traffic_record(t, T0 + 2 * B + 1, name, -1);
    }
    doc = s_doc(t, T0 + 2 * B + 2, -1);
    e = s_bucket(doc, T0 + 2 * B);
    json_t *errors = json_object_get(e, "errors");
    assert_true(json_object_size(errors) <= TRAFFIC_MAX_KINDS);
    const char *k;
    json_t *v;
    long long sum = 0;
    json_object_foreach(errors, k, v)
    {
        sum += (long long)json_integer_value(v);
    }
    assert_int_equal(sum, 2 * TRAFFIC_MAX_KINDS); /* none lost */
    assert_true(s_errors(e, "other") > 0);
    assert_int_equal(s_errors(e, "kind_0"), 1);
    json_decref(doc);
    traffic_destroy(&t);
}

static void test_last_minute(void **state)
{
    (void)state;
    traffic_t *t = traffic_new(T0);
    traffic_record(t, T0 + 1, "rate_limited", -1); /* over a minute old at the end */
    for (long long i = 5; i <= 10; i++)            /* the newest six buckets */
        traffic_record(t, T0 + i * B + 1, i == 7 ? "upstream_error" : NULL, 100 * i);
    long long now = T0 + 10 * B + 4000;
    json_t *doc = s_doc(t, now, now); /* since does not narrow the summary */
    json_t *m = json_object_get(doc, "last_minute");
    assert_true(json_is_object(m));
    assert_int_equal(s_int(m, "from_ms"), T0 + 5 * B);
    assert_int_equal(s_int(m, "window_ms"), now - (T0 + 5 * B));
    assert_int_equal(s_int(m, "requests"), 6);
    assert_int_equal(s_errors(m, "upstream_error"), 1);
    assert_int_equal(s_errors(m, "rate_limited"), 0);
    s_near(s_int(m, "ttfb_p50_ms"), 700); /* 500..1000: rank 3 of 6 */
    s_near(s_int(m, "ttfb_p99_ms"), 1000);
    json_decref(doc);

    /* a node up for 3 s: the window is 3 s, not a minute */
    traffic_destroy(&t);
    t = traffic_new(T0 + 2 * B + 500);
    traffic_record(t, T0 + 2 * B + 900, NULL, 5);
    doc = s_doc(t, T0 + 2 * B + 3000, -1);
    m = json_object_get(doc, "last_minute");
    assert_int_equal(s_int(m, "from_ms"), T0 + 2 * B);
    assert_int_equal(s_int(m, "requests"), 1);
    assert_int_equal(json_array_size(s_buckets(doc)), 1); /* nothing before the start */
    json_decref(doc);
    traffic_destroy(&t);
}

static void test_query(void **state)
{
    (void)state;
    openai_error_t err;
    long long since = 7;
    assert_int_equal(traffic_query_parse(NULL, NULL, 0, &since, &err), 0);
    assert_int_equal(since, -1);
    const char *n1[] = {"since"}, *v1[] = {"1700000000000"};
    assert_int_equal(traffic_query_parse(n1, v1, 1, &since, &err), 0);
    assert_int_equal(since, 1700000000000LL);
    static const struct {
        const char *name, *value, *param;
    } bad[] = {
        {"until", "5", "until"},
        {"since", "", "since"},
        {"since", "-1", "since"},
        {"since", "12abc", "since"},
        {"since", " 12", "since"},
        {"since", "9007199254740993", "since"},
        {"since", "99999999999999999999999", "since"},
        {"key", "sk-x", "key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *n[] = {bad[i].name}, *v[] = {bad[i].value};
        memset(&err, 0, sizeof err);
        assert_int_equal(traffic_query_parse(n, v, 1, &since, &err), -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.code, "invalid_request");
        assert_string_equal(err.param, bad[i].param);
    }
    const char *n2[] = {"since", "since"}, *v2[] = {"1", "2"};
    assert_int_equal(traffic_query_parse(n2, v2, 2, &since, &err), -1);
    assert_string_equal(err.param, "since");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_document_shape), cmocka_unit_test(test_bucket_roll_over),
        cmocka_unit_test(test_hour_window),    cmocka_unit_test(test_since),
        cmocka_unit_test(test_quantiles),      cmocka_unit_test(test_bins),
        cmocka_unit_test(test_error_kinds),    cmocka_unit_test(test_last_minute),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
