/*  test_pace — request pacing per LMArena account (node/pace): the minimum
    interval, the sliding-window cap, accounts kept apart, what peers say
    merged in and replaced, a departed peer forgotten, our own starts as
    published (ms ago, newest first, only inside the window), the version
    that makes the node republish, and the bounds. Times are synthetic unix
    ms, so nothing sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "node/pace.h"

#define T0 1800000000000LL
#define ACC_A "0123456789abcdef0123456789abcdef"
#define ACC_B "fedcba9876543210fedcba9876543210"
#define SELF "node-self"

static pace_t *s_pace(long long interval, int count, long long window)
{
    pace_config_t cfg = {interval, count, window};
    pace_t *p = pace_new(&cfg, SELF);
    assert_non_null(p);
    return p;
}

static void test_interval(void **state)
{
    (void)state;
    pace_t *p = s_pace(60000, 0, 0);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0), 0); /* never used: free */
    pace_start(p, ACC_A, T0);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0), 60000);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 59999), 1);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 60000), 0);
    /* another account is not held back */
    assert_int_equal(pace_wait_ms(p, ACC_B, T0 + 1), 0);
    pace_destroy(&p);
    assert_null(p);
    pace_destroy(&p);
}

/*  3 starts in any 390 s, and 10 s apart. */
static void test_window(void **state)
{
    (void)state;
    pace_t *p = s_pace(10000, 3, 390000);
    pace_start(p, ACC_A, T0);
    pace_start(p, ACC_A, T0 + 10000);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 10000), 10000); /* the interval */
    pace_start(p, ACC_A, T0 + 20000);
    /* the fourth waits until the first leaves the window */
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 30000), 390000 - 30000);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 390000), 0);
    pace_start(p, ACC_A, T0 + 390000);
    /* now the second start bounds the window */
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 400000), 10000 + 390000 - 400000);
    pace_destroy(&p);
}

static void test_off_parts(void **state)
{
    (void)state;
    pace_t *p = s_pace(0, 0, 0); /* nothing configured: never waits */
    for (int i = 0; i < 100; i++)
        pace_start(p, ACC_A, T0);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0), 0);
    pace_destroy(&p);
    p = s_pace(1000, 0, 0);
    assert_int_equal(pace_wait_ms(p, "", T0), 0);
    pace_start(p, NULL, T0); /* no account: ignored */
    pace_start(p, "", T0);
    assert_int_equal(pace_wait_ms(p, "", T0), 0);
    pace_destroy(&p);
}

/*  Another node's starts on the same account hold ours back; what it says
    next replaces what it said before; a departed peer is forgotten. */
static void test_merge(void **state)
{
    (void)state;
    pace_t *p = s_pace(60000, 3, 390000);
    long long ago[] = {5000};
    pace_merge(p, "peer-1", ACC_A, ago, 1, T0);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0), 55000);
    /* our own start is the newer one now */
    pace_start(p, ACC_A, T0 + 60000);
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 60000), 60000);
    /* the peer publishes again: two starts; three in the window in all */
    long long ago2[] = {70000, 1000};
    pace_merge(p, "peer-1", ACC_A, ago2, 2, T0 + 65000);
    /* starts at T0-5000, T0+60000 (ours), T0+64000: window full until
       T0-5000+390000 */
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 130000), T0 - 5000 + 390000 - (T0 + 130000));
    pace_forget_owner(p, "peer-1");
    assert_int_equal(pace_wait_ms(p, ACC_A, T0 + 130000), 0);
    /* what a peer says of our own id is never taken */
    long long mine[] = {0};
    pace_merge(p, SELF, ACC_B, mine, 1, T0);
    assert_int_equal(pace_wait_ms(p, ACC_B, T0), 0);
    /* negative ages (hostile or broken) are dropped */
    long long bad[] = {-5};
    pace_merge(p, "peer-2", ACC_B, bad, 1, T0);
    assert_int_equal(pace_wait_ms(p, ACC_B, T0), 0);
    pace_destroy(&p);
}

static void test_own_starts(void **state)
{
    (void)state;
    pace_t *p = s_pace(1000, 3, 10000);
    unsigned long long v0 = pace_version(p);
    pace_start(p, ACC_A, T0);
    pace_start(p, ACC_A, T0 + 2000);
    pace_start(p, ACC_A, T0 + 4000);
    pace_start(p, ACC_A, T0 + 6000); /* the ring keeps the newest 3 */
    assert_int_equal(pace_version(p), v0 + 4);
    long long ago[8];
    size_t n = pace_own_starts(p, ACC_A, T0 + 7000, ago, 8);
    assert_int_equal(n, 3);
    assert_int_equal(ago[0], 1000);
    assert_int_equal(ago[1], 3000);
    assert_int_equal(ago[2], 5000);
    /* only what is inside the window goes out */
    n = pace_own_starts(p, ACC_A, T0 + 14500, ago, 8);
    assert_int_equal(n, 1);
    assert_int_equal(ago[0], 8500);
    assert_int_equal(pace_own_starts(p, ACC_A, T0 + 7000, ago, 1), 1);
    assert_int_equal(pace_own_starts(p, ACC_B, T0, ago, 8), 0);
    /* peers' starts are not ours to publish */
    long long theirs[] = {100};
    pace_merge(p, "peer", ACC_B, theirs, 1, T0);
    assert_int_equal(pace_own_starts(p, ACC_B, T0, ago, 8), 0);
    pace_destroy(&p);
}

/*  The same rules applied to a peer's published starts alone. */
static void test_rule_wait(void **state)
{
    (void)state;
    pace_config_t cfg = {60000, 3, 390000};
    long long none[1] = {0};
    assert_int_equal(pace_rule_wait(&cfg, none, 0), 0);
    long long one[] = {19000};
    assert_int_equal(pace_rule_wait(&cfg, one, 1), 41000);
    long long three[] = {300000, 100000, 200000};            /* any order */
    assert_int_equal(pace_rule_wait(&cfg, three, 3), 90000); /* the oldest leaves the window */
    long long old[] = {500000};
    assert_int_equal(pace_rule_wait(&cfg, old, 1), 0);
    long long bad[] = {-1};
    assert_int_equal(pace_rule_wait(&cfg, bad, 1), 0);
}

/*  More accounts than kept: the least recently used goes, the others
    keep their pace. */
static void test_bounds(void **state)
{
    (void)state;
    pace_t *p = s_pace(60000, 0, 0);
    char acc[PACE_ACCOUNT_MAX];
    for (int i = 0; i < PACE_MAX_ACCOUNTS + 10; i++) {
        snprintf(acc, sizeof acc, "tab:%d", i);
        pace_start(p, acc, T0);
    }
    snprintf(acc, sizeof acc, "tab:%d", PACE_MAX_ACCOUNTS + 9);
    assert_int_equal(pace_wait_ms(p, acc, T0), 60000);
    assert_int_equal(pace_wait_ms(p, "tab:0", T0), 0); /* evicted */
    /* more owners than kept for one account: the extra ones are ignored */
    long long ago[] = {1};
    for (int i = 0; i < PACE_MAX_OWNERS + 5; i++) {
        char owner[32];
        snprintf(owner, sizeof owner, "peer-%d", i);
        pace_merge(p, owner, ACC_A, ago, 1, T0);
    }
    assert_int_equal(pace_wait_ms(p, ACC_A, T0), 59999);
    pace_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval),   cmocka_unit_test(test_window),
        cmocka_unit_test(test_off_parts),  cmocka_unit_test(test_merge),
        cmocka_unit_test(test_own_starts), cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_rule_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
