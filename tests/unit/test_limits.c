/*  test_limits — a key's sliding windows (node/limits): the 61st request of
    a minute, a window sliding open at the exact millisecond, tokens per day,
    requests in flight released at the end, peers' counts added, a stale
    peer's counts dropped, the config tier never counted, and the snapshot
    the node gossips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "node/limits.h"

/*  A whole second (bucket edges are exact). */
#define T0 1800000000000LL

static tier_t s_tier(long per_minute, long per_hour, long per_day, long long tokens,
                     long concurrent)
{
    tier_t t = {.per_minute = per_minute,
                .per_hour = per_hour,
                .per_day = per_day,
                .tokens_per_day = tokens,
                .concurrent = concurrent};
    snprintf(t.name, sizeof t.name, "test");
    return t;
}

static void test_sixty_first_in_a_minute(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(60, 0, 0, 0, 0);
    limits_verdict_t v;
    for (int i = 0; i < 60; i++) {
        assert_true(limits_admit(l, "alice", &t, NULL, 0, T0 + i * 500, &v));
        assert_int_equal(v.refused, LIMITS_NONE);
        assert_true(v.has_requests);
        assert_int_equal(v.req_limit, 60);
        assert_int_equal(v.req_remaining, 59 - i);
        limits_end(l, "alice", 0, T0 + i * 500);
    }
    /* the 61st, 1 ms after the 60th */
    assert_false(limits_admit(l, "alice", &t, NULL, 0, T0 + 29501, &v));
    assert_int_equal(v.refused, LIMITS_MINUTE);
    assert_int_equal(v.limit, 60);
    assert_int_equal(v.req_remaining, 0);
    /* the oldest two (second 0) leave at 61 s: the first slot frees then */
    assert_int_equal(v.retry_after_ms, T0 + 61000 - (T0 + 29501));
    /* and the whole window is empty when second 29's leave */
    assert_int_equal(v.req_reset_ms, T0 + 90000 - (T0 + 29501));
    char msg[128];
    limits_describe(&v, &t, msg, sizeof msg);
    assert_string_equal(msg, "60 requests per minute for tier test");
    /* another key is not touched */
    assert_true(limits_admit(l, "bob", &t, NULL, 0, T0 + 29501, &v));
    limits_destroy(&l);
    assert_null(l);
}

static void test_window_slides_open(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(3, 0, 0, 0, 0);
    limits_verdict_t v;
    for (int i = 0; i < 3; i++) {
        assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 999, &v)); /* all in second 0 */
        limits_end(l, "k", 0, T0 + 999);
    }
    /* a request counts between 60 and 61 s: second 0 leaves at 61.000 */
    assert_false(limits_admit(l, "k", &t, NULL, 0, T0 + 60999, &v));
    assert_int_equal(v.retry_after_ms, 1);
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 61000, &v));
    assert_int_equal(v.req_remaining, 2);
    limits_destroy(&l);
}

static void test_hour_and_day(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(0, 2, 3, 0, 0);
    limits_verdict_t v;
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0, &v));
    assert_int_equal(v.req_window, LIMITS_HOUR);
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 1000, &v));
    assert_false(limits_admit(l, "k", &t, NULL, 0, T0 + 2000, &v));
    assert_int_equal(v.refused, LIMITS_HOUR);
    /* minute 0 leaves at 61 min */
    assert_int_equal(v.retry_after_ms, 61 * 60000 - 2000);
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 61 * 60000, &v));
    assert_int_equal(v.req_window, LIMITS_DAY); /* the day has no room left now */
    assert_int_equal(v.req_remaining, 0);
    assert_false(limits_admit(l, "k", &t, NULL, 0, T0 + 122 * 60000, &v));
    assert_int_equal(v.refused, LIMITS_DAY);
    /* 5 min buckets: the first leaves at 24 h 5 min */
    assert_int_equal(v.retry_after_ms, (24 * 60 + 5) * 60000LL - 122 * 60000);
    limits_destroy(&l);
}

static void test_tokens_per_day(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(0, 0, 0, 1000, 0);
    limits_verdict_t v;
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0, &v));
    assert_true(v.has_tokens);
    assert_false(v.has_requests);
    assert_int_equal(v.tok_remaining, 1000);
    limits_end(l, "k", 600, T0 + 10);
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 20, &v));
    assert_int_equal(v.tok_remaining, 400);
    limits_end(l, "k", 400, T0 + 30); /* exactly the limit */
    assert_false(limits_admit(l, "k", &t, NULL, 0, T0 + 40, &v));
    assert_int_equal(v.refused, LIMITS_TOKENS);
    assert_int_equal(v.limit, 1000);
    assert_int_equal(v.tok_remaining, 0);
    assert_int_equal(v.retry_after_ms, (24 * 60 + 5) * 60000LL - 40);
    char msg[128];
    limits_describe(&v, &t, msg, sizeof msg);
    assert_string_equal(msg, "1000 tokens per day for tier test");
    limits_destroy(&l);
}

static void test_concurrent_released(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(0, 0, 0, 0, 2);
    limits_verdict_t v;
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0, &v));
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0, &v));
    assert_false(limits_admit(l, "k", &t, NULL, 0, T0, &v));
    assert_int_equal(v.refused, LIMITS_CONCURRENT);
    assert_int_equal(v.retry_after_ms, LIMITS_CONCURRENT_RETRY_MS);
    limits_end(l, "k", 0, T0 + 5); /* one ends (success, failure or a client gone alike) */
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 6, &v));
    assert_false(limits_admit(l, "k", &t, NULL, 0, T0 + 7, &v));
    limits_end(l, "k", 0, T0 + 8);
    limits_end(l, "k", 0, T0 + 8);
    limits_end(l, "k", 0, T0 + 8); /* one more than admitted: no negative count */
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 9, &v));
    assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + 9, &v));
    assert_false(limits_admit(l, "k", &t, NULL, 0, T0 + 9, &v));
    limits_destroy(&l);
}

static void test_peers_added(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(60, 0, 0, 0, 3);
    wire_key_count_t b = {.name = "k", .minute = 50, .inflight = 1, .reset_ms = {20000}};
    wire_key_count_t c = {.name = "k", .minute = 8, .inflight = 1, .reset_ms = {40000}};
    limits_peer_t peers[] = {{&b, 1000, true}, {&c, 0, true}};
    limits_verdict_t v;
    assert_true(limits_admit(l, "k", &t, peers, 2, T0, &v)); /* 58 + 1 */
    assert_int_equal(v.req_remaining, 1);
    assert_false(limits_admit(l, "k", &t, peers, 2, T0, &v)); /* in flight: 2 + 1 */
    assert_int_equal(v.refused, LIMITS_CONCURRENT);
    limits_end(l, "k", 0, T0);
    assert_true(limits_admit(l, "k", &t, peers, 2, T0, &v)); /* 60 */
    limits_end(l, "k", 0, T0);
    assert_false(limits_admit(l, "k", &t, peers, 2, T0 + 100, &v));
    assert_int_equal(v.refused, LIMITS_MINUTE);
    /* B's oldest leaves 20 s after its state was made, 1 s ago */
    assert_int_equal(v.retry_after_ms, 20000 - 1000);
    /* a peer that is not alive: its requests in flight no longer count */
    peers[0].live = false;
    peers[1].live = false;
    t.per_minute = 0;
    assert_true(limits_admit(l, "k", &t, peers, 2, T0 + 200, &v));
    assert_true(limits_admit(l, "k", &t, peers, 2, T0 + 200, &v));
    assert_true(limits_admit(l, "k", &t, peers, 2, T0 + 200, &v));
    assert_false(limits_admit(l, "k", &t, peers, 2, T0 + 200, &v));
    limits_destroy(&l);
}

static void test_stale_peer(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(10, 20, 0, 0, 0);
    wire_key_count_t b = {.name = "k", .minute = 10, .hour = 15, .reset_ms = {30000, 30000}};
    limits_peer_t p = {&b, 60999, true};
    limits_verdict_t v;
    /* 60.999 s old: the minute may still hold all ten */
    assert_false(limits_admit(l, "k", &t, &p, 1, T0, &v));
    assert_int_equal(v.refused, LIMITS_MINUTE);
    assert_int_equal(v.retry_after_ms, 1); /* its oldest left, the rest leave by 61 s */
    /* 61 s old: everything its minute counted has left, its hour still counts */
    p.age_ms = 61000;
    assert_true(limits_admit(l, "k", &t, &p, 1, T0, &v));
    assert_int_equal(v.req_window, LIMITS_HOUR);
    assert_int_equal(v.req_remaining, 20 - 15 - 1);
    limits_destroy(&l);
}

static void test_config_tier_not_counted(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t cfg = s_tier(1, 1, 1, 1, 1);
    snprintf(cfg.name, sizeof cfg.name, "%s", TIERS_CONFIG);
    tier_t none = s_tier(0, 0, 0, 0, 0);
    limits_verdict_t v;
    for (int i = 0; i < 5; i++) {
        assert_true(limits_admit(l, "config-1", &cfg, NULL, 0, T0, &v));
        assert_false(v.has_requests);
        assert_true(limits_admit(l, "k", &none, NULL, 0, T0, &v));
        assert_true(limits_admit(l, "x", NULL, NULL, 0, T0, &v));
    }
    assert_int_equal(limits_keys(l), 0);
    assert_false(limits_take_rise(l));
    /* the defaults: free is 10 per minute */
    const tier_t *free_tier = tiers_find(NULL, "free");
    for (int i = 0; i < 10; i++)
        assert_true(limits_admit(l, "f", free_tier, NULL, 0, T0 + i, &v));
    assert_false(limits_admit(l, "f", free_tier, NULL, 0, T0 + 10, &v));
    assert_int_equal(v.refused, LIMITS_MINUTE);
    limits_destroy(&l);
}

static void test_snapshot(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(60, 1000, 10000, 100000, 5);
    limits_verdict_t v;
    assert_false(limits_take_rise(l));
    assert_true(limits_admit(l, "a", &t, NULL, 0, T0 + 500, &v));
    assert_true(limits_take_rise(l));
    assert_false(limits_take_rise(l));
    assert_true(limits_admit(l, "a", &t, NULL, 0, T0 + 2500, &v));
    assert_true(limits_admit(l, "b", &t, NULL, 0, T0 + 2500, &v));
    limits_end(l, "a", 123, T0 + 3000);
    assert_true(limits_take_rise(l));
    limits_end(l, "a", 0, T0 + 3000); /* a fall is not a rise */
    assert_false(limits_take_rise(l));
    wire_key_count_t out[4];
    assert_int_equal(limits_snapshot(l, T0 + 10000, out, 4), 2);
    assert_string_equal(out[0].name, "a");
    assert_int_equal(out[0].minute, 2);
    assert_int_equal(out[0].hour, 2);
    assert_int_equal(out[0].day, 2);
    assert_int_equal(out[0].tokens, 123);
    assert_int_equal(out[0].inflight, 0);
    assert_int_equal(out[0].reset_ms[LIMITS_MINUTE], 61000 - 10000);
    assert_int_equal(out[0].reset_ms[LIMITS_HOUR], 61 * 60000 - 10000);
    assert_int_equal(out[1].inflight, 1);
    /* a's minute is empty at 63 s, b still in flight; a gone after a day */
    assert_int_equal(limits_snapshot(l, T0 + 63000, out, 4), 2);
    assert_int_equal(out[0].minute, 0);
    assert_int_equal(out[0].hour, 2);
    limits_end(l, "b", 0, T0 + 63000);
    assert_int_equal(limits_snapshot(l, T0 + 25 * 3600000LL, out, 4), 0);
    assert_int_equal(limits_keys(l), 0);
    limits_destroy(&l);
    limits_destroy(&l);
}

static void test_tier_models(void **state)
{
    (void)state;
    tier_t t = s_tier(0, 0, 0, 0, 0);
    assert_true(limits_tier_allows(&t, "any-model")); /* no list: any */
    assert_true(limits_tier_allows(NULL, "any-model"));
    snprintf(t.models, sizeof t.models, "gpt-5-high,claude-opus-4");
    assert_true(limits_tier_allows(&t, "gpt-5-high"));
    assert_true(limits_tier_allows(&t, "claude-opus-4"));
    assert_false(limits_tier_allows(&t, "gpt-5"));          /* a prefix is not a name */
    assert_false(limits_tier_allows(&t, "claude-opus-45")); /* nor a longer one */
    assert_false(limits_tier_allows(&t, "gpt-5-high,claude-opus-4"));
    assert_false(limits_tier_allows(&t, ""));
    assert_false(limits_tier_allows(&t, NULL));
    snprintf(t.models, sizeof t.models, "a,,b");
    assert_false(limits_tier_allows(&t, "")); /* an empty entry names nothing */
    assert_true(limits_tier_allows(&t, "b"));
}

/*  What GET /v1/usage says is left: the same mesh-wide sums admission
    uses (own + peers', aged), -1 for a window without a limit, never
    below 0, all -1 for the config tier or no tier; and it counts nothing.
    After what it says is left is admitted, the next request is refused. */
static void test_remaining(void **state)
{
    (void)state;
    limits_t *l = limits_new();
    tier_t t = s_tier(10, 100, 0, 500, 2);
    long long left[LIMITS_N];
    limits_remaining(l, "k", &t, NULL, 0, T0, left);
    assert_int_equal(left[LIMITS_MINUTE], 10);
    assert_int_equal(left[LIMITS_HOUR], 100);
    assert_int_equal(left[LIMITS_DAY], -1);
    assert_int_equal(left[LIMITS_TOKENS], 500);
    assert_int_equal(left[LIMITS_CONCURRENT], 2);
    assert_int_equal(limits_keys(l), 0); /* nothing counted */
    limits_verdict_t v;
    for (int i = 0; i < 3; i++) {
        assert_true(limits_admit(l, "k", &t, NULL, 0, T0 + i, &v));
        limits_end(l, "k", 40, T0 + i);
    }
    /* a peer's 4 of this minute, and one whose minute is over (61 s old) */
    wire_key_count_t b = {.name = "k", .minute = 4, .hour = 4, .tokens = 100, .inflight = 1};
    wire_key_count_t c = {.name = "k", .minute = 50, .hour = 7, .tokens = 10};
    limits_peer_t peers[] = {{&b, 500, true}, {&c, 61000, false}};
    limits_remaining(l, "k", &t, peers, 2, T0 + 10, left);
    assert_int_equal(left[LIMITS_MINUTE], 10 - 3 - 4);
    assert_int_equal(left[LIMITS_HOUR], 100 - 3 - 4 - 7);
    assert_int_equal(left[LIMITS_DAY], -1);
    assert_int_equal(left[LIMITS_TOKENS], 500 - 120 - 100 - 10);
    assert_int_equal(left[LIMITS_CONCURRENT], 2 - 1);
    long long total[LIMITS_N];
    limits_totals(l, "k", peers, 2, T0 + 10, total);
    assert_int_equal(total[LIMITS_MINUTE], 7);
    assert_int_equal(total[LIMITS_TOKENS], 230);
    /* what it says is left is what admission lets in */
    for (long long i = 0; i < 3; i++) {
        assert_true(limits_admit(l, "k", &t, peers, 2, T0 + 20, &v));
        limits_end(l, "k", 0, T0 + 20);
    }
    assert_false(limits_admit(l, "k", &t, peers, 2, T0 + 20, &v));
    assert_int_equal(v.refused, LIMITS_MINUTE);
    limits_remaining(l, "k", &t, peers, 2, T0 + 20, left);
    assert_int_equal(left[LIMITS_MINUTE], 0);
    /* a peer past the limit: 0, not negative */
    b.minute = 40;
    limits_remaining(l, "k", &t, peers, 2, T0 + 20, left);
    assert_int_equal(left[LIMITS_MINUTE], 0);
    /* the minute slides open: own requests leave 61 s after their bucket */
    limits_remaining(l, "k", &t, NULL, 0, T0 + 61000, left);
    assert_int_equal(left[LIMITS_MINUTE], 10);
    assert_int_equal(left[LIMITS_HOUR], 100 - 6);
    /* no limits to say: the config tier, a tier without limits, no tier */
    tier_t cfg = s_tier(1, 1, 1, 1, 1);
    snprintf(cfg.name, sizeof cfg.name, "%s", TIERS_CONFIG);
    tier_t none = s_tier(0, 0, 0, 0, 0);
    const tier_t *tiers[] = {&cfg, &none, NULL};
    for (size_t i = 0; i < 3; i++) {
        limits_remaining(l, "k", tiers[i], peers, 2, T0 + 20, left);
        for (int w = 0; w < LIMITS_N; w++)
            assert_int_equal(left[w], -1);
    }
    /* an unknown key, a NULL table: the peers alone, or the whole limit */
    limits_remaining(l, "other", &t, NULL, 0, T0, left);
    assert_int_equal(left[LIMITS_MINUTE], 10);
    limits_remaining(NULL, "k", &t, peers, 1, T0, left);
    assert_int_equal(left[LIMITS_MINUTE], 0);
    limits_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sixty_first_in_a_minute),
        cmocka_unit_test(test_window_slides_open),
        cmocka_unit_test(test_hour_and_day),
        cmocka_unit_test(test_tokens_per_day),
        cmocka_unit_test(test_concurrent_released),
        cmocka_unit_test(test_peers_added),
        cmocka_unit_test(test_stale_peer),
        cmocka_unit_test(test_config_tier_not_counted),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_tier_models),
        cmocka_unit_test(test_remaining),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
