/*  test_browser — the managed browser's supervision (node/browser): the
    back-off schedule, the command line, restarts after the browser exits
    or is killed, and a stop that leaves no process and no zombie. Small
    /bin/sh scripts stand in for Chromium. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/browser.h"

#define S_DEADLINE_MS 10000

static char s_dir[64];

static int s_setup(void **state)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/test_browser.XXXXXX");
    (void)state;
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    (void)state;
    return system(cmd) == 0 ? 0 : -1;
}

/*  An executable script in the test's folder; its path in out. */
static void s_script(const char *name, const char *body, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", s_dir, name);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(out, 0700), 0);
}

static browser_config_t s_cfg(const char *path)
{
    return (browser_config_t){.path = path,
                              .profile_dir = "/tmp/profile dir",
                              .ext_dir = "/tmp/ext",
                              .origin = "http://127.0.0.1:9",
                              .tabs = 2,
                              .backoff_min_ms = 50,
                              .backoff_max_ms = 200,
                              .healthy_ms = 100000,
                              .stop_grace_ms = 2000};
}

/*  Polls until the browser has exited n times (bounded). */
static void s_wait_exits(browser_t *b, unsigned n, int *delays)
{
    long long deadline = zclock_mono() + S_DEADLINE_MS;
    browser_stats_t st;
    unsigned seen = 0;
    for (;;) {
        browser_poll(b);
        browser_stats(b, &st);
        while (seen < st.exits && seen < n) {
            if (delays)
                delays[seen] = st.delay_ms; /* one exit per poll at most: read each */
            seen++;
        }
        if (st.exits >= n)
            return;
        if (zclock_mono() > deadline)
            fail_msg("only %u exit(s) of %u in %d ms", st.exits, n, S_DEADLINE_MS);
        zclock_sleep(5);
    }
}

static bool s_gone(int pid)
{
    /* no process, and no zombie either (a zombie still answers kill 0) */
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void test_backoff(void **state)
{
    browser_backoff_t b;
    browser_backoff_init(&b, 1000, 60000, 60000);
    const int want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_int_equal(browser_backoff_next(&b, 500), want[i]);
    /* a run of a minute or more: the next exit waits the least again */
    assert_int_equal(browser_backoff_next(&b, 60000), 1000);
    assert_int_equal(browser_backoff_next(&b, 10), 2000);
    /* zeros are the defaults */
    browser_backoff_init(&b, 0, 0, 0);
    assert_int_equal(b.min_ms, BROWSER_BACKOFF_MIN_MS);
    assert_int_equal(b.max_ms, BROWSER_BACKOFF_MAX_MS);
    assert_int_equal(b.healthy_ms, BROWSER_HEALTHY_MS);
    (void)state;
}

static bool s_argv_has(char **argv, const char *want)
{
    for (char **a = argv; *a; a++)
        if (strcmp(*a, want) == 0)
            return true;
    return false;
}

static void test_argv(void **state)
{
    browser_config_t c = s_cfg("/usr/bin/chromium");
    char **argv = browser_argv(&c);
    assert_non_null(argv);
    assert_string_equal(argv[0], "/usr/bin/chromium");
    assert_true(s_argv_has(argv, "--user-data-dir=/tmp/profile dir"));
    assert_true(s_argv_has(argv, "--load-extension=/tmp/ext"));
    assert_true(s_argv_has(argv, "--disable-extensions-except=/tmp/ext"));
    assert_false(s_argv_has(argv, "--headless=new"));
    assert_false(s_argv_has(argv, "--no-sandbox"));
    size_t n = 0, urls = 0;
    for (; argv[n]; n++)
        urls += strcmp(argv[n], "http://127.0.0.1:9/") == 0;
    assert_int_equal(urls, 2);
    assert_string_equal(argv[n - 1], "http://127.0.0.1:9/");
    browser_argv_free(&argv);
    assert_null(argv);
    c.headless = true;
    c.no_sandbox = true;
    c.tabs = 5;
    argv = browser_argv(&c);
    assert_true(s_argv_has(argv, "--headless=new"));
    assert_true(s_argv_has(argv, "--no-sandbox"));
    urls = 0;
    for (n = 0; argv[n]; n++)
        urls += strcmp(argv[n], "http://127.0.0.1:9/") == 0;
    assert_int_equal(urls, 1); /* headless takes one; the extension opens the others */
    browser_argv_free(&argv);
    (void)state;
}

/*  A browser that exits at once is started again after 50, 100, 200, 200 ms. */
static void test_restart_backoff(void **state)
{
    char path[256], log[256], body[512];
    snprintf(log, sizeof log, "%s/runs", s_dir);
    snprintf(body, sizeof body, "echo \"$*\" >> '%s'\nexit 3", log);
    s_script("exits", body, path, sizeof path);
    browser_config_t c = s_cfg(path);
    browser_t *b = browser_new(&c, NULL);
    assert_non_null(b);
    int delays[5];
    long long t0 = zclock_mono();
    s_wait_exits(b, 5, delays);
    long long took = zclock_mono() - t0;
    const int want[] = {50, 100, 200, 200, 200};
    assert_memory_equal(delays, want, sizeof want);
    /* four waits of 50+100+200+200 ms came between the five runs */
    assert_true(took >= 550);
    browser_stats_t st;
    browser_stats(b, &st);
    assert_true(WIFEXITED(st.last_status) && WEXITSTATUS(st.last_status) == 3);
    browser_destroy(&b);
    assert_null(b);
    browser_destroy(&b); /* idempotent */
    /* every run had the whole command line */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[1024];
    int runs = 0;
    while (fgets(line, sizeof line, f)) {
        runs++;
        if (!strstr(line, "--user-data-dir=/tmp/profile dir --load-extension=/tmp/ext") ||
            !strstr(line, "http://127.0.0.1:9/ http://127.0.0.1:9/"))
            fail_msg("run %d: %s", runs, line);
    }
    fclose(f);
    assert_true(runs >= 5);
    (void)state;
}

/*  A browser that ran past healthy_ms starts again after the least wait. */
static void test_healthy_resets(void **state)
{
    char path[256];
    s_script("lives", "sleep 0.15\nexit 1", path, sizeof path);
    browser_config_t c = s_cfg(path);
    c.healthy_ms = 100;
    browser_t *b = browser_new(&c, NULL);
    int delays[3];
    s_wait_exits(b, 3, delays);
    for (int i = 0; i < 3; i++)
        assert_int_equal(delays[i], 50);
    browser_destroy(&b);
    (void)state;
}

/*  Killed from outside (the test plays the crash): a new one starts. */
static void test_killed_restarts(void **state)
{
    char path[256];
    s_script("waits", "exec sleep 60", path, sizeof path);
    browser_config_t c = s_cfg(path);
    browser_t *b = browser_new(&c, NULL);
    browser_stats_t st;
    browser_stats(b, &st);
    int first = st.pid;
    assert_true(first > 0);
    assert_int_equal(kill(first, SIGKILL), 0);
    s_wait_exits(b, 1, NULL);
    browser_stats(b, &st);
    assert_true(WIFSIGNALED(st.last_status) && WTERMSIG(st.last_status) == SIGKILL);
    assert_true(s_gone(first)); /* reaped */
    long long deadline = zclock_mono() + S_DEADLINE_MS;
    while (st.starts < 2 && zclock_mono() < deadline) {
        zclock_sleep(5);
        browser_poll(b);
        browser_stats(b, &st);
    }
    assert_int_equal(st.starts, 2);
    assert_true(st.pid > 0 && st.pid != first);
    int second = st.pid;
    browser_destroy(&b);
    assert_true(s_gone(second));
    (void)state;
}

static char s_state_of(int pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

static int s_read_pid(const char *path)
{
    long long deadline = zclock_mono() + S_DEADLINE_MS;
    for (;;) {
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0)
            return pid;
        if (zclock_mono() > deadline)
            fail_msg("no pid in %s", path);
        zclock_sleep(10);
    }
}

/*  Stopping ends the browser and what it started (its process group), even
    when it ignores SIGTERM (after the grace period). */
static void test_stop_whole_group(void **state)
{
    char path[256], child[128], body[1024];
    snprintf(child, sizeof child, "%s/child", s_dir);
    /* the helper ignores SIGTERM: only the SIGKILL to the group ends it */
    snprintf(body, sizeof body,
             "(trap '' TERM; exec sleep 60) &\necho $! > '%s.tmp' && mv '%s.tmp' '%s'\n"
             "exec sleep 60",
             child, child, child);
    s_script("forks", body, path, sizeof path);
    browser_config_t c = s_cfg(path);
    browser_t *b = browser_new(&c, NULL);
    int helper = s_read_pid(child);
    browser_stats_t st;
    browser_stats(b, &st);
    int pid = st.pid;
    assert_int_equal(s_state_of(helper) != 0 && s_state_of(helper) != 'Z', true);
    browser_destroy(&b);
    assert_true(s_gone(pid));
    /* SIGKILL was sent; its delivery takes a moment */
    long long deadline = zclock_mono() + 2000;
    char s;
    while ((s = s_state_of(helper)) != 0 && s != 'Z' && zclock_mono() < deadline)
        zclock_sleep(10);
    if (s != 0 && s != 'Z')
        fail_msg("the browser's helper %d is still running (state %c)", helper, s);

    /* one that ignores SIGTERM: killed after the grace period */
    s_script("stubborn", "trap '' TERM\nwhile :; do sleep 0.05; done", path, sizeof path);
    c = s_cfg(path);
    c.stop_grace_ms = 300;
    b = browser_new(&c, NULL);
    browser_stats(b, &st);
    pid = st.pid;
    zclock_sleep(100); /* let the shell set its trap */
    long long t0 = zclock_mono();
    browser_destroy(&b);
    assert_true(zclock_mono() - t0 >= 300);
    assert_true(s_gone(pid));
    (void)state;
}

/*  A path that cannot be run is an exit like another (127), retried. */
static void test_missing_program(void **state)
{
    browser_config_t c = s_cfg("/nonexistent/chromium");
    browser_t *b = browser_new(&c, NULL);
    assert_non_null(b);
    s_wait_exits(b, 2, NULL);
    browser_stats_t st;
    browser_stats(b, &st);
    assert_true(WIFEXITED(st.last_status) && WEXITSTATUS(st.last_status) == 127);
    browser_destroy(&b);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_argv),
        cmocka_unit_test_setup_teardown(test_restart_backoff, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_healthy_resets, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_killed_restarts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stop_whole_group, s_setup, s_teardown),
        cmocka_unit_test(test_missing_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
