/*  limits — a key's tier limits, held mesh-wide (issue #11, item 3;
    docs/keys.md, "Limits").

    Each node counts what it admits, per key name, in sliding windows of
    buckets: requests per minute (1 s buckets), per hour (1 min buckets),
    per day and tokens per day (5 min buckets), and requests in flight. A
    request counted in the bucket starting at b (grain g, span S) stays in
    its window until b + g + S: between S and S + g after it arrived, never
    less (a window only ever over-counts by its grain). Only keys with
    something counted are kept (at most LIMITS_MAX_KEYS).

    Peers gossip their counts (limits_snapshot fills wire_key_count_t, see
    protocol/wire.h); admission adds them, aged by how old the peer's state
    is: a count is kept whole until its whole window has passed since the
    state was made (then it is 0), and a peer's requests in flight count
    only while it is alive (the caller's choice). Keys of the `config` tier
    (the --api-key keys) and tiers without limits are neither checked nor
    counted. Owned by the node thread; not thread-safe. */
#ifndef ARENA_LIMITS_H
#define ARENA_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "node/tiers.h"
#include "protocol/wire.h"

#define LIMITS_MAX_KEYS WIRE_MAX_KEY_COUNTS /* active keys a node counts (and gossips) */
/*  A refusal of the concurrent limit knows no time: come back after this. */
#define LIMITS_CONCURRENT_RETRY_MS 1000

typedef enum {
    LIMITS_MINUTE = 0,
    LIMITS_HOUR,
    LIMITS_DAY,
    LIMITS_TOKENS, /* tokens per day */
    LIMITS_CONCURRENT,
    LIMITS_N,
    LIMITS_NONE = LIMITS_N, /* admitted */
} limits_window_t;

typedef struct _limits_t limits_t;

/*  One peer's counts for the key being admitted, as its state said them
    (wire_key_count_t) and how old that state is now. */
typedef struct {
    const wire_key_count_t *counts;
    long long age_ms; /* mesh_peer_view_t.state_age_ms */
    bool live;        /* alive or suspect: its requests in flight count */
} limits_peer_t;

/*  What admission decided, and what the x-ratelimit-* headers say. */
typedef struct {
    limits_window_t refused;  /* LIMITS_NONE: admitted (and counted) */
    long long retry_after_ms; /* refused: when a slot may free */
    /* the request window with the least room (LIMITS_MINUTE/HOUR/DAY), its
       limit, what remains (after this request when admitted), and ms until
       it is back to full; has_requests false: the tier has no request limit */
    bool has_requests;
    limits_window_t req_window;
    long long req_limit, req_remaining, req_reset_ms;
    /* tokens per day, when the tier limits them */
    bool has_tokens;
    long long tok_limit, tok_remaining, tok_reset_ms;
    long long limit; /* refused: the limit of the window that refused */
} limits_verdict_t;

limits_t *limits_new(void);
void limits_destroy(limits_t **self_p);

/*  "minute", "hour", "day", "tokens", "concurrent" (metrics labels). */
const char *limits_window_name(limits_window_t w);
/*  The refusal's message: "60 requests per minute for tier premium". */
void limits_describe(const limits_verdict_t *v, const tier_t *tier, char *out, size_t outlen);

/*  The tier lets model be used: its allow-list (comma-separated) is empty
    or names it exactly. A NULL tier allows any model. */
bool limits_tier_allows(const tier_t *tier, const char *model);

/*  Checks own + peers' counts of key against tier at now_ms (unix ms). On
    admission the request is counted (every request window, and one in
    flight): limits_end must follow, once. true: admitted. A tier that is
    NULL, `config` or without limits admits without counting (v->has_* false). */
bool limits_admit(limits_t *self, const char *key, const tier_t *tier, const limits_peer_t *peers,
                  size_t n_peers, long long now_ms, limits_verdict_t *v);
/*  What admission would count now for key, per window (total[w] for each
    limits_window_t but LIMITS_NONE): own counts plus the peers', aged as
    limits_admit ages them; LIMITS_CONCURRENT is the requests in flight. */
void limits_totals(const limits_t *self, const char *key, const limits_peer_t *peers,
                   size_t n_peers, long long now_ms, long long total[LIMITS_N]);
/*  What is left of tier's limits for key mesh-wide now: left[w] = the
    limit - limits_totals (at least 0), or -1 where the tier sets no limit
    (every window for a NULL tier, the `config` tier, or a tier without
    limits: admission neither checks nor counts those). Counts nothing. */
void limits_remaining(const limits_t *self, const char *key, const tier_t *tier,
                      const limits_peer_t *peers, size_t n_peers, long long now_ms,
                      long long left[LIMITS_N]);
/*  An admitted request ended (answered, failed, or its client left): its
    slot in flight is free, and tokens (prompt + completion, 0 when not
    known) count in the tokens-per-day window. */
void limits_end(limits_t *self, const char *key, long long tokens, long long now_ms);

/*  A count rose (a request or tokens counted) since the last call: the
    node's state should go out soon. Clears the flag. */
bool limits_take_rise(limits_t *self);
/*  This node's counts of its active keys, for its state: up to max
    entries (names borrowed until the next call on self). Drops keys with
    nothing left counted. Returns how many were filled. */
size_t limits_snapshot(limits_t *self, long long now_ms, wire_key_count_t *out, size_t max);
/*  Keys held (for tests). */
size_t limits_keys(const limits_t *self);

#endif
