/*  dispatch — the life of a request on the node that received it
    (ARCHITECTURE.md, "A request's life"): choose a target for the model, run
    the attempt, retry on another target while no content delta has reached
    the client (the first-byte rule), queue when every target is busy (bounded,
    with a timeout → 503), answer 429 at the earliest cooldown expiry when
    every target is cooling, time attempts out, and abort the attempt when the
    client goes away. Targets are of two kinds, alike to the dispatcher: the
    node's own tabs (node/tabs) and peers (node/forward over the mesh). Local
    tabs come first (no hop); among peers that advertise the model un-cooled
    with spare capacity, the power of two choices on load picks one.

    Each job reports to its sink: any number of delta calls, then exactly one
    end or error — never after dispatch_cancel. Owned by the node thread;
    callbacks run on it, possibly before dispatch_submit returns (then
    dispatch_submit returns NULL). */
#ifndef ARENA_DISPATCH_H
#define ARENA_DISPATCH_H

#include <stddef.h>

#include "mesh/mesh.h"
#include "node/catalog.h"
#include "node/cooldown.h"
#include "node/forward.h"
#include "node/tabs.h"
#include "protocol/openai.h"

typedef struct _dispatch_t dispatch_t;
typedef struct _job_t job_t;

typedef struct {
    void (*delta)(void *arg, delta_kind_t kind, const char *text, size_t len);
    void (*end)(void *arg, const char *finish_reason, const usage_t *usage);
    /* retry_after_ms > 0 for 429 and 503 */
    void (*error)(void *arg, const openai_error_t *err, long long retry_after_ms);
} job_sink_t;

typedef struct {
    tabs_t *tabs;          /* borrowed */
    cooldown_t *cooldowns; /* borrowed */
    catalog_t *catalog;    /* borrowed */
    mesh_t *mesh;          /* borrowed; NULL: no peers */
    forward_t *forward;    /* borrowed; NULL: no peers */
    const char *node_id;
    int retries;                /* extra attempts before the first byte */
    int queue_max;              /* waiting jobs */
    long long queue_timeout_ms; /* wait for capacity, then 503 */
    long long first_byte_timeout_ms;
    long long idle_timeout_ms; /* silence after the first byte */
} dispatch_config_t;

dispatch_t *dispatch_new(const dispatch_config_t *cfg);
/*  Fails every job (503, "node shutting down") and frees. */
void dispatch_destroy(dispatch_t **self_p);

/*  Takes the request. Returns the job, or NULL when it already ended (the
    sink's error was called, e.g. 404 unknown model). */
job_t *dispatch_submit(dispatch_t *self, openai_request_t **req_p, const job_sink_t *sink,
                       void *arg);
/*  The client is gone: abort the attempt; no sink call follows. */
void dispatch_cancel(dispatch_t *self, job_t **job_p);

/*  Capacity may have appeared (a tab connected, a slot freed): called by the
    tabs module; the work happens in dispatch_poll. */
void dispatch_wake(dispatch_t *self);
/*  Starts queued work and applies timeouts; call after every event batch
    and on a timer (≤ 100 ms). */
void dispatch_poll(dispatch_t *self);
/*  Ends every job with the given error (shutdown). */
void dispatch_fail_all(dispatch_t *self, const char *message);

typedef struct {
    size_t running;
    size_t queued;
    unsigned long long ok;
    unsigned long long failed;
    long long p50_ms; /* median duration of the last completed jobs, -1 if none */
} dispatch_stats_t;
void dispatch_stats(const dispatch_t *self, dispatch_stats_t *out);

#endif
