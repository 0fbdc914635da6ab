/*  forward — requests that cross one mesh hop: the *peer target* of the
    dispatcher on the origin, and the execution of forwarded requests on the
    node that owns the tabs (docs/mesh-protocol.md, forwarding).

    Origin side: forward_start sends `fwd` {rid, model, request, stream,
    deadline} to a peer; the peer answers `chunk` seq 0 with no deltas when it
    has accepted (within accept_ms, else the attempt fails, retryable), then
    `chunk`s in order, then one `end` or `fail`, or `reject` when it cannot
    take the request (retryable). Deltas reach the same exec_sink_t as a
    local tab's, so the dispatcher treats both targets alike. A peer that
    dies or leaves fails its attempts at once; `cancel` goes out when the
    client leaves.

    Executor side: a `fwd` is run in one of this node's own tabs (never
    forwarded again: one hop) or rejected (unknown model, cooling, no free
    tab, bad request; the mesh attaches our state to the `reject`); a
    duplicate of one that runs is ignored. Its deltas go back as `chunk`s,
    one per delta, and a `cancel` aborts the tab's fetch. A tab that sends no
    content within the shorter of first_byte_ms and the `fwd`'s deadline_ms
    is stopped and the request fails (retryable). `end` and `fail` carry the
    number of chunks sent before them: the origin turns an `end` whose count
    does not match what arrived into a failure, and a chunk that cannot be
    sent turns the final `end` into a `fail`, so a cut answer never looks
    complete. Owned by the node thread. */
#ifndef ARENA_FORWARD_H
#define ARENA_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "mesh/mesh.h"
#include "node/catalog.h"
#include "node/cooldown.h"
#include "node/tabs.h"
#include "protocol/openai.h"

#define FORWARD_DEFAULT_ACCEPT_MS 2000 /* forward_config_t.accept_ms when 0 */

typedef struct _forward_t forward_t;
typedef struct _fwd_t fwd_t;

typedef struct {
    mesh_t *mesh;          /* borrowed */
    tabs_t *tabs;          /* borrowed: executor side */
    catalog_t *catalog;    /* borrowed */
    cooldown_t *cooldowns; /* borrowed */
    const char *node_id;
    long long accept_ms;            /* the peer must accept within this, default 2000 */
    long long idle_ms;              /* silence allowed once accepted, default 180000 */
    long long first_byte_ms;        /* executor: our --first-byte-timeout; 0: none of our own */
    size_t max_remote;              /* forwarded requests we run for peers at once, default 1024 */
    void (*on_capacity)(void *arg); /* an attempt ended: queued work may start */
    void *arg;
} forward_config_t;

forward_t *forward_new(const forward_config_t *cfg);
/*  Aborts everything both ways (cancels out, fails in) and frees. */
void forward_destroy(forward_t **self_p);

/*  Origin side. NULL with err filled when nothing could be sent (the peer is
    unknown or its pipe is full: 503, retryable). */
fwd_t *forward_start(forward_t *self, const char *peer_id, const openai_request_t *req,
                     long long deadline_ms, const exec_sink_t *sink, void *arg,
                     openai_error_t *err);
/*  The client left: `cancel` to the peer; no sink call follows. */
void forward_abort(forward_t *self, fwd_t **fwd_p);
const char *forward_peer(const fwd_t *fwd);

/*  Everything mesh hands to on_forward. */
void forward_handle(forward_t *self, const mesh_msg_t *msg);
/*  A peer died or left: its attempts fail (retryable before content), the
    requests it forwarded to us are aborted. */
void forward_peer_gone(forward_t *self, const char *peer_id);
/*  Timeouts (accept, silence); call on the node's tick. */
void forward_tick(forward_t *self);

typedef struct {
    size_t outgoing; /* our requests running on peers */
    size_t incoming; /* peers' requests running in our tabs */
} forward_stats_t;
void forward_stats(const forward_t *self, forward_stats_t *out);

#endif
