/*  dispatch — the life of a request (ARCHITECTURE.md, "A request's life"):
    the one place that picks targets. For a request of a client of this node
    it chooses a target for the model, runs the attempt, retries on another
    target while no content delta has reached the client (the first-byte
    rule), queues when every target is busy (bounded, with a timeout → 503),
    answers 429 at the earliest cooldown expiry when every target is
    cooling, times attempts out, and aborts the attempt when the client goes
    away. Targets are of two kinds, alike to the dispatcher (node/target.h):
    the node's own tabs (node/tabs) and peers (node/forward over the mesh);
    a job holds one attempt at a time. Local tabs come first (no hop); among
    peers that advertise the model un-cooled with spare capacity, the power
    of two choices on load picks one.

    A local tab's failure comes as a verdict; the dispatcher decides what it
    costs (node/verdict: cooldowns of the model, the node, the account) and
    whether another target tries.

    A request a peer forwarded (node/remote) enters here too, as a
    local-only submission: one attempt in one of this node's tabs now (never
    a peer: one hop; never queued: no free tab is a reject), under the
    shorter of our first-byte timeout and the peer's deadline, without an
    idle timeout of its own (the origin watches silence).

    Each job reports to its sink: any number of delta calls, then exactly one
    end or error (or, local-only, reject or fail) — never after
    dispatch_cancel. Owned by the node thread; callbacks run on it, possibly
    before dispatch_submit returns (then dispatch_submit returns NULL). */
#ifndef ARENA_DISPATCH_H
#define ARENA_DISPATCH_H

#include <stddef.h>

#include "mesh/mesh.h"
#include "node/catalog.h"
#include "node/cooldown.h"
#include "node/forward.h"
#include "node/tabs.h"
#include "node/target.h"
#include "protocol/openai.h"

typedef struct _dispatch_t dispatch_t;
typedef struct _job_t job_t;

typedef struct {
    void (*delta)(void *arg, delta_kind_t kind, const char *text, size_t len);
    void (*end)(void *arg, const char *finish_reason, const usage_t *usage);
    /* retry_after_ms > 0 for 429 and 503 */
    void (*error)(void *arg, const openai_error_t *err, long long retry_after_ms);
    /* optional (NULL: not told): an attempt started, on a peer or on one
       of this node's tabs (node/metrics' served_by); may come several
       times (retries), the last one is where the answer came from */
    void (*attempt)(void *arg, bool on_peer);
    /* optional: as attempt, with the peer's node id (NULL: one of this
       node's tabs); borrowed for the call (node/usage's served_by) */
    void (*attempt_at)(void *arg, const char *peer);
} job_sink_t;

typedef struct {
    tabs_t *tabs;          /* borrowed */
    cooldown_t *cooldowns; /* borrowed */
    catalog_t *catalog;    /* borrowed */
    mesh_t *mesh;          /* borrowed; NULL: no peers */
    forward_t *forward;    /* borrowed; NULL: no peers */
    const char *node_id;
    int retries;                     /* extra attempts before the first byte */
    int queue_max;                   /* waiting jobs */
    long long queue_timeout_ms;      /* wait for capacity, then 503 */
    long long first_byte_timeout_ms; /* 0: none */
    long long idle_timeout_ms;       /* silence after the first byte; 0: none */
    /* the cooldown policy (node/verdict.h) */
    long long cooldown_default_ms;      /* 0: VERDICT_DEFAULT_COOLDOWN_S */
    long long recaptcha_backoff_ms;     /* 0: VERDICT_DEFAULT_RECAPTCHA_BACKOFF_S */
    long long recaptcha_backoff_max_ms; /* 0: VERDICT_DEFAULT_RECAPTCHA_BACKOFF_MAX_S */
    void (*on_cooled)(void *arg);       /* a cooldown was set: republish now */
    void *arg;
} dispatch_config_t;

dispatch_t *dispatch_new(const dispatch_config_t *cfg);
/*  Fails every job (503, "node shutting down"; a peer's a retryable
    no_capacity fail) and frees. */
void dispatch_destroy(dispatch_t **self_p);

/*  Takes the request. Returns the job, or NULL when it already ended (the
    sink's error was called, e.g. 404 unknown model). */
job_t *dispatch_submit(dispatch_t *self, openai_request_t **req_p, const job_sink_t *sink,
                       void *arg);

/*  How a job runs when it is not a plain client request. */
typedef struct {
    /* A peer's forwarded request: this node's tabs only, one attempt, now
       or never. Required with it: reject. */
    bool local_only;
    long long deadline_ms; /* > 0: the first-byte limit is at most this */
    const char *peer;      /* who asked (logs; borrowed for the call) */
    /* cannot run now (model not served, cooling, no free tab): the reason */
    void (*reject)(void *arg, const char *reason);
    /* when set, the final failure comes here with its whole verdict
       (retryable, cooled_ms…) instead of the sink's error */
    void (*fail)(void *arg, const target_fail_t *f);
    /* queue priority (the key's tier, node/tiers.h): queued jobs of a
       higher priority start first, FIFO within one priority */
    int priority;
} dispatch_opts_t;

/*  dispatch_submit with options (NULL: none). A local-only job that
    dispatch_submit_opts returns runs in a tab already. */
job_t *dispatch_submit_opts(dispatch_t *self, openai_request_t **req_p, const job_sink_t *sink,
                            void *arg, const dispatch_opts_t *opts);
/*  The client is gone: abort the attempt; no sink call follows. */
void dispatch_cancel(dispatch_t *self, job_t **job_p);

/*  Back-pressure from the job's consumer (node/remote): while paused, the
    tab running the job stops reading (tabs_exec_pause); no-op for a job
    whose attempt is not on a local tab. */
void dispatch_pause(dispatch_t *self, job_t *job, bool paused);

/*  Capacity may have appeared (a tab connected, a slot freed): called by the
    tabs module; the work happens in dispatch_poll. */
void dispatch_wake(dispatch_t *self);
/*  Starts queued work and applies timeouts; call after every event batch
    and on a timer (≤ 100 ms). */
void dispatch_poll(dispatch_t *self);
/*  Ends every job of this node's clients with the given error (shutdown);
    peers' requests are left to node/remote (remote_destroy). */
void dispatch_fail_all(dispatch_t *self, const char *message);

typedef struct {
    size_t running; /* this node's clients' jobs (not peers') */
    size_t queued;
    size_t for_peers;          /* local-only jobs running for peers */
    unsigned long long ok;     /* this node's clients' jobs */
    unsigned long long failed; /* this node's clients' jobs */
    long long p50_ms;          /* median duration of the last completed jobs, -1 if none */
} dispatch_stats_t;
void dispatch_stats(const dispatch_t *self, dispatch_stats_t *out);

typedef enum {
    DISPATCH_PEEK_LOCAL = 0, /* one of this node's tabs would take it now */
    DISPATCH_PEEK_PEER,      /* a peer with a free slot would (one mesh hop) */
    DISPATCH_PEEK_QUEUE,     /* served un-cooled, but no target is free: it would wait
                                in the queue (503 no_capacity after --queue-timeout) */
    DISPATCH_PEEK_COOLING,   /* every node serving it is cooling: 429 rate_limited */
    DISPATCH_PEEK_NONE,      /* no node serves it: 404 model_not_found */
} dispatch_peek_state_t;

typedef struct {
    dispatch_peek_state_t state;
    char node[WIRE_MAX_ID + 1]; /* LOCAL: this node's id; PEER: the peer's; else "" */
    size_t candidates;          /* PEER: the peers with a free slot */
    long long retry_ms;         /* COOLING: until the first of them is back */
    char why[256];              /* the reason, for a person */
} dispatch_peek_t;

/*  Where a request for model sent to this node would go right now, read
    as dispatch_submit routes it (the same plan: catalog, cooldowns and
    flags, the local tabs, what peers advertise) without side effects:
    nothing starts, nothing is counted. Among several peers with a free
    slot routing draws two at random and takes the lighter; the peek names
    the least loaded of them (the likeliest, not certain). A peer that
    cannot be reached when the request comes is skipped then, which a peek
    cannot know. */
void dispatch_peek(dispatch_t *self, const char *model, dispatch_peek_t *out);

/*  What model generates, as routing sees it now: this node's catalog row,
    else the first alive peer that advertises it. Returns an
    arena_modality_t, or -1 when no node serves it. ratios (len bytes; may
    be NULL) gets the local row's aspect ratios ("" when unknown: a peer's
    model, or a row without them). */
int dispatch_model_kind(dispatch_t *self, const char *model, char *ratios, size_t len);

#endif
