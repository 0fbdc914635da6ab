/*  browser — see browser.h. */
#define _GNU_SOURCE
#include "node/browser.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol/alog.h"

#define S_ARGS_FIXED 12 /* the most arguments before the tabs' URLs */

struct _browser_t {
    browser_config_t cfg; /* strings owned (copies) */
    char **argv;
    zloop_t *loop;
    int timer;
    browser_backoff_t backoff;
    pid_t pid;
    long long started_mono;
    browser_stats_t stats;
};

void browser_backoff_init(browser_backoff_t *b, int min_ms, int max_ms, int healthy_ms)
{
    b->min_ms = min_ms > 0 ? min_ms : BROWSER_BACKOFF_MIN_MS;
    b->max_ms = max_ms > 0 ? max_ms : BROWSER_BACKOFF_MAX_MS;
    if (b->max_ms < b->min_ms)
        b->max_ms = b->min_ms;
    b->healthy_ms = healthy_ms > 0 ? healthy_ms : BROWSER_HEALTHY_MS;
    b->next_ms = b->min_ms;
}

int browser_backoff_next(browser_backoff_t *b, long long ran_ms)
{
    if (ran_ms >= b->healthy_ms)
        b->next_ms = b->min_ms; /* it ran a while: this exit is news, not a loop */
    int delay = b->next_ms;
    b->next_ms = delay > b->max_ms / 2 ? b->max_ms : delay * 2;
    return delay;
}

static char *s_concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

char **browser_argv(const browser_config_t *cfg)
{
    int tabs = cfg->tabs > 0 ? cfg->tabs : 1;
    char **argv = calloc((size_t)(S_ARGS_FIXED + tabs + 1), sizeof *argv);
    if (!argv)
        return NULL;
    size_t n = 0;
    bool ok = (argv[n++] = strdup(cfg->path)) != NULL;
    ok = ok && (argv[n++] = s_concat("--user-data-dir=", cfg->profile_dir));
    ok = ok && (argv[n++] = s_concat("--load-extension=", cfg->ext_dir));
    ok = ok && (argv[n++] = s_concat("--disable-extensions-except=", cfg->ext_dir));
    ok = ok && (argv[n++] = strdup("--no-first-run"));
    ok = ok && (argv[n++] = strdup("--no-default-browser-check"));
    /* a tab left in the background must still answer: no throttling of its timers */
    ok = ok && (argv[n++] = strdup("--disable-background-timer-throttling"));
    ok = ok && (argv[n++] = strdup("--disable-renderer-backgrounding"));
    if (ok && cfg->headless)
        ok = (argv[n++] = strdup("--headless=new")) != NULL;
    if (ok && cfg->no_sandbox)
        ok = (argv[n++] = strdup("--no-sandbox")) != NULL;
    /* headless Chromium takes one URL ("Multiple targets are not supported
       in headless mode"): the extension's worker opens the others */
    for (int i = 0; ok && i < (cfg->headless ? 1 : tabs); i++)
        ok = (argv[n++] = s_concat(cfg->origin, "/")) != NULL;
    if (!ok)
        browser_argv_free(&argv);
    return argv;
}

void browser_argv_free(char ***argv_p)
{
    if (!argv_p || !*argv_p)
        return;
    for (char **a = *argv_p; *a; a++)
        free(*a);
    free(*argv_p);
    *argv_p = NULL;
}

/*  The log, moved aside to LOG.1 once past BROWSER_LOG_MAX; -1 for none. */
static int s_open_log(const char *path)
{
    if (!path)
        return open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > BROWSER_LOG_MAX) {
        char old[4096];
        if (snprintf(old, sizeof old, "%s.1", path) < (int)sizeof old)
            rename(path, old);
    }
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static void s_start(browser_t *self)
{
    int out = s_open_log(self->cfg.log_path);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) {
        alog_warn("browser: cannot open %s: %s",
                  self->cfg.log_path ? self->cfg.log_path : "/dev/null", strerror(errno));
        if (out < 0)
            out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* the child of a threaded process: async-signal-safe calls only */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126); /* the node is already gone */
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        syscall(SYS_close_range, 3u, ~0u, 0u); /* the node's sockets are not the browser's */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL); /* the node ignores it; exec would keep that */
        execv(self->argv[0], self->argv);
        _exit(127);
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (pid < 0) {
        alog_warn("browser: cannot start %s: %s", self->cfg.path, strerror(errno));
        self->stats.next_start_mono = zclock_mono() + browser_backoff_next(&self->backoff, 0);
        return;
    }
    setpgid(pid, pid); /* also here: whichever runs first, the group exists before we signal it */
    self->pid = pid;
    self->started_mono = zclock_mono();
    self->stats.pid = (int)pid;
    self->stats.starts++;
    alog_info("browser: started %s (pid %d, %d tab(s) on %s%s)", self->cfg.path, (int)pid,
              self->cfg.tabs, self->cfg.origin, self->cfg.headless ? ", headless" : "");
}

static void s_describe(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "ended (status %#x)", status);
}

void browser_poll(browser_t *self)
{
    if (!self)
        return;
    long long now = zclock_mono();
    if (self->pid > 0) {
        int status = 0;
        pid_t r = waitpid(self->pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR))
            return;
        /* what it left of its group (renderers, helpers) goes with it */
        kill(-self->pid, SIGKILL);
        long long ran = now - self->started_mono;
        int delay = browser_backoff_next(&self->backoff, ran);
        char how[64];
        s_describe(status, how, sizeof how);
        alog_warn("browser: %s (pid %d) %s after %lld s; starting it again in %d ms",
                  self->cfg.path, (int)self->pid, how, ran / 1000, delay);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            alog_warn("browser: %s could not be run (see --browser-path)", self->cfg.path);
        self->pid = 0;
        self->stats.pid = 0;
        self->stats.exits++;
        self->stats.last_status = status;
        self->stats.delay_ms = delay;
        self->stats.next_start_mono = now + delay;
        return;
    }
    if (now >= self->stats.next_start_mono)
        s_start(self);
}

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    browser_poll(arg);
    return 0;
}

static void s_free_cfg(browser_config_t *c)
{
    free((char *)c->path);
    free((char *)c->profile_dir);
    free((char *)c->ext_dir);
    free((char *)c->origin);
    free((char *)c->log_path);
}

browser_t *browser_new(const browser_config_t *cfg, zloop_t *loop)
{
    browser_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->cfg.path = strdup(cfg->path ? cfg->path : BROWSER_DEFAULT_PATH);
    self->cfg.profile_dir = strdup(cfg->profile_dir);
    self->cfg.ext_dir = strdup(cfg->ext_dir);
    self->cfg.origin = strdup(cfg->origin);
    self->cfg.log_path = cfg->log_path ? strdup(cfg->log_path) : NULL;
    if (self->cfg.tabs < 1)
        self->cfg.tabs = 1;
    self->timer = -1;
    if (!self->cfg.path || !self->cfg.profile_dir || !self->cfg.ext_dir || !self->cfg.origin ||
        (cfg->log_path && !self->cfg.log_path) || !(self->argv = browser_argv(&self->cfg)))
        goto err;
    browser_backoff_init(&self->backoff, cfg->backoff_min_ms, cfg->backoff_max_ms, cfg->healthy_ms);
    if (loop) {
        self->timer = zloop_timer(loop, BROWSER_POLL_MS, 0, s_on_timer, self);
        if (self->timer < 0)
            goto err;
        self->loop = loop;
    }
    if (self->cfg.headless)
        alog_warn("browser: headless — it has no window, so nobody can log in to LMArena in it. "
                  "Log in once in a visible window: run arena-node --browser without "
                  "--browser-headless on this data directory (the profile in %s keeps the "
                  "login), then go back to headless",
                  self->cfg.profile_dir);
    s_start(self);
    return self;
err:
    browser_argv_free(&self->argv);
    s_free_cfg(&self->cfg);
    free(self);
    return NULL;
}

/*  SIGTERM to the group, SIGKILL after the grace period; reaps the browser. */
static void s_stop(browser_t *self)
{
    if (self->pid <= 0)
        return;
    pid_t pid = self->pid;
    int grace = self->cfg.stop_grace_ms > 0 ? self->cfg.stop_grace_ms : BROWSER_STOP_GRACE_MS;
    kill(-pid, SIGTERM);
    long long deadline = zclock_mono() + grace;
    int status = 0;
    pid_t r = 0;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && zclock_mono() < deadline)
        zclock_sleep(20);
    if (r == 0) {
        alog_warn("browser: pid %d still running %d ms after SIGTERM: killing it", (int)pid, grace);
        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    kill(-pid, SIGKILL); /* anything of its group still there */
    alog_info("browser: stopped (pid %d)", (int)pid);
    self->pid = 0;
    self->stats.pid = 0;
}

void browser_destroy(browser_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    browser_t *self = *self_p;
    if (self->loop && self->timer >= 0)
        zloop_timer_end(self->loop, self->timer);
    s_stop(self);
    browser_argv_free(&self->argv);
    s_free_cfg(&self->cfg);
    free(self);
    *self_p = NULL;
}

void browser_stats(const browser_t *self, browser_stats_t *out)
{
    *out = self->stats;
}
