/*  remote — the requests peers send us: the executor's half of forwarding
    (docs/mesh-protocol.md, forwarding, "The executor"); the origin's half
    is node/forward.

    A `fwd` is checked here (a duplicate of one that runs is ignored however
    busy the node is; past max_remote at once: `reject`), its request is
    parsed with the node's own limits (the HTTP front end's), and it enters
    the dispatcher as a local-only submission: the dispatcher alone picks
    the tab, owns the first-byte deadline (the shorter of ours and the
    `fwd`'s deadline_ms) and decides what a failure costs. What it cannot
    run now comes back as `reject` with the reason (model not served here,
    model cooling here, no free tab here); a request that is not valid, or
    that no tab could ever send, as `fail` (not retryable). Once the tab has
    it, `chunk` seq 0 with no deltas says it is accepted; then one `chunk`
    per delta, then one `end` or `fail` carrying the number of chunks sent
    before it. A chunk that could not be sent turns the `end` into a `fail`,
    so a cut answer never looks complete. `cancel` aborts the job; a peer
    that dies or leaves has its jobs aborted; nothing answers either. Every
    `fail` message is cleaned to valid UTF-8 without control characters.
    Owned by the node thread. */
#ifndef ARENA_REMOTE_H
#define ARENA_REMOTE_H

#include <stddef.h>

#include "mesh/mesh.h"
#include "node/dispatch.h"
#include "protocol/openai.h"

#define REMOTE_DEFAULT_MAX 1024 /* remote_config_t.max_remote when 0 */

typedef struct _remote_t remote_t;

typedef struct {
    mesh_t *mesh;           /* borrowed */
    dispatch_t *dispatch;   /* borrowed */
    openai_limits_t limits; /* the node's request limits (those of node/http) */
    size_t max_remote;      /* forwarded requests run for peers at once, default 1024 */
} remote_config_t;

remote_t *remote_new(const remote_config_t *cfg);
/*  Fails what it runs for peers (retryable no_capacity, "the serving node is
    shutting down"), aborts their jobs and frees. Before dispatch_destroy. */
void remote_destroy(remote_t **self_p);

/*  `fwd` and `cancel` from mesh's on_forward (anything else is ignored). */
void remote_handle(remote_t *self, const wire_msg_t *msg);
/*  A peer died or left: the requests it sent us are aborted. */
void remote_peer_gone(remote_t *self, const char *peer_id);
/*  Peers' requests running here. */
size_t remote_running(const remote_t *self);

#endif
