/*  browser — the managed browser (arena-node --browser; docs/operations.md,
    "The managed browser"): starts Chromium on its own profile with the
    node's extension (node/extension.h) and N tabs on the arena origin,
    restarts it when it exits (back-off 1 s doubling to 60 s, back to 1 s
    once a run lasted a minute) and stops it with the node.

    The browser runs in a process group of its own (its renderers and
    helpers with it): stopping is SIGTERM to the group, SIGKILL to what is
    left after a grace period, and the browser is reaped (waitpid) — by a
    zloop timer of the node's loop while it runs, never from a signal
    handler. The child asks for SIGKILL should the thread that started it
    end first (PR_SET_PDEATHSIG), so a node that dies hard takes its browser
    with it.

    Threading: one thread (the node's) calls everything. */
#ifndef ARENA_BROWSER_H
#define ARENA_BROWSER_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _browser_t browser_t;

#define BROWSER_DEFAULT_PATH "/usr/bin/chromium"
#define BROWSER_BACKOFF_MIN_MS 1000
#define BROWSER_BACKOFF_MAX_MS 60000
#define BROWSER_HEALTHY_MS 60000 /* a run this long resets the back-off */
#define BROWSER_STOP_GRACE_MS 5000
#define BROWSER_POLL_MS 200
#define BROWSER_LOG_MAX (8 * 1024 * 1024) /* then the log is moved to LOG.1 */

typedef struct {
    const char *path;        /* the program, e.g. BROWSER_DEFAULT_PATH */
    const char *profile_dir; /* --user-data-dir (kept: the login lives there) */
    const char *ext_dir;     /* the unpacked extension to load */
    const char *origin;      /* the tabs open origin + "/" */
    int tabs;                /* tabs opened at each start (1..; headless: 1, the
                                extension's worker opens the others) */
    bool headless;           /* --headless=new */
    bool no_sandbox;         /* --no-sandbox (Chromium refuses to run as root without) */
    const char *log_path;    /* the browser's stdout and stderr; NULL: /dev/null */
    int backoff_min_ms;      /* 0: BROWSER_BACKOFF_MIN_MS */
    int backoff_max_ms;      /* 0: BROWSER_BACKOFF_MAX_MS */
    int healthy_ms;          /* 0: BROWSER_HEALTHY_MS */
    int stop_grace_ms;       /* 0: BROWSER_STOP_GRACE_MS */
} browser_config_t;

typedef struct {
    int pid;                   /* of the running browser; 0 while none runs */
    unsigned starts;           /* times started */
    unsigned exits;            /* times it ended by itself */
    int last_status;           /* waitpid status of the last exit */
    int delay_ms;              /* the wait before the start after the last exit */
    long long next_start_mono; /* while none runs: when it starts again */
} browser_stats_t;

/*  The restart back-off, on its own for tests: after a run of ran_ms, the
    wait before the next start. */
typedef struct {
    int min_ms, max_ms, healthy_ms;
    int next_ms;
} browser_backoff_t;

void browser_backoff_init(browser_backoff_t *b, int min_ms, int max_ms, int healthy_ms);
int browser_backoff_next(browser_backoff_t *b, long long ran_ms);

/*  The command line of a start, NULL-terminated (NULL when out of memory);
    free it with browser_argv_free. */
char **browser_argv(const browser_config_t *cfg);
void browser_argv_free(char ***argv_p);

/*  Copies cfg and starts the browser at once. With a loop, a timer of it
    watches the browser every BROWSER_POLL_MS; without, the caller calls
    browser_poll. NULL when out of memory (a browser that cannot start is
    not an error here: it is retried with back-off, and logged). */
browser_t *browser_new(const browser_config_t *cfg, zloop_t *loop);
/*  Stops the browser (SIGTERM, SIGKILL after the grace period, to its whole
    process group), reaps it, and frees. Accepts NULL. */
void browser_destroy(browser_t **self_p);
/*  Reaps an exited browser and schedules its restart; starts it when due. */
void browser_poll(browser_t *self);
void browser_stats(const browser_t *self, browser_stats_t *out);

#endif
