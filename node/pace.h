/*  pace — request pacing per LMArena account (docs/upstream.md, "Pacing").

    LMArena flags accounts that start requests too fast, so every account
    gets a pace: at least interval_ms between two request starts, and at
    most window_count starts in any window_ms. An account is the hash the
    userscript reports (never the site's user id); a tab whose account
    cannot be told is its own account ("tab:<tab id>"). Two tabs, or two
    nodes, on one login share one pace: each node publishes the starts it
    made (as ms ago, in its mesh state) and merges what peers publish, so
    the next free slot of an account is computed from every start the mesh
    knows of.

    Times are unix ms (wall clock), turned into "ms ago" on the wire so
    clock skew between machines does not matter. Everything is bounded:
    at most PACE_MAX_ACCOUNTS accounts (the least recently used goes) and,
    per account, the window_count most recent starts of each owner, for at
    most PACE_MAX_OWNERS owners. Owned by the node thread. */
#ifndef ARENA_PACE_H
#define ARENA_PACE_H

#include <stdbool.h>
#include <stddef.h>

#define PACE_MAX_ACCOUNTS 256
#define PACE_MAX_OWNERS 32
#define PACE_MAX_WINDOW 1000 /* window_count ceiling (config checks it) */
#define PACE_ACCOUNT_MAX 48  /* "tab:" + a 36-byte uuid, or a 32-hex hash, with NUL */

typedef struct _pace_t pace_t;

typedef struct {
    long long interval_ms; /* 0: no minimum interval */
    int window_count;      /* 0: no window cap */
    long long window_ms;
} pace_config_t;

/*  self_id names our own starts among the owners. */
pace_t *pace_new(const pace_config_t *cfg, const char *self_id);
void pace_destroy(pace_t **self_p);

/*  A request started on account at now_ms (one of ours). */
void pace_start(pace_t *self, const char *account, long long now_ms);
/*  Ms until account may start a request (0: now). */
long long pace_wait_ms(pace_t *self, const char *account, long long now_ms);

/*  What peer `owner` published about account: its starts as ms ago (any
    order, at most PACE_MAX_WINDOW read). Replaces what owner said before. */
void pace_merge(pace_t *self, const char *owner, const char *account, const long long *ago_ms,
                size_t n, long long now_ms);
/*  A peer left or was forgotten: drop everything it said. */
void pace_forget_owner(pace_t *self, const char *owner);

/*  Our own starts of account still inside the window, as ms ago, newest
    first, at most max. Returns how many. */
size_t pace_own_starts(pace_t *self, const char *account, long long now_ms, long long *ago_out,
                       size_t max);

/*  The wait the rules of cfg give a set of starts alone (ms ago, any order,
    at most PACE_MAX_WINDOW read): what /mesh/status shows for a peer's
    account. */
long long pace_rule_wait(const pace_config_t *cfg, const long long *ago_ms, size_t n);

/*  Bumped by every pace_start: the node republishes its state (at once:
    others must not take the slot we just took) when it moves. */
unsigned long long pace_version(const pace_t *self);

#endif
