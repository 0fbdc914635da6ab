/*  remote — the requests peers send us: the executor's half of forwarding
    (docs/mesh-protocol.md, forwarding, "The executor"); the origin's half
    is node/forward.

    A `fwd` is checked here (a duplicate of one that runs is the same
    request, never a second job, however busy the node is; past max_remote
    at once: `reject`), its request is parsed with the node's own limits
    (the HTTP front end's), and it enters
    the dispatcher as a local-only submission: the dispatcher alone picks
    the tab, owns the first-byte deadline (the shorter of ours and the
    `fwd`'s deadline_ms) and decides what a failure costs. What it cannot
    run now comes back as `reject` with the reason (model not served here,
    model cooling here, no free tab here); a request that is not valid, or
    that no tab could ever send, as `fail` (not retryable). Once the tab has
    it, `chunk` seq 0 with no deltas says it is accepted; then `chunk`s,
    each carrying every delta that waited (up to REMOTE_CHUNK_BYTES), then
    one `end` or `fail` carrying the number of chunks sent before it.

    Flow control (docs/mesh-protocol.md, "Flow control"): when the `fwd` carries
    "credit", a chunk with deltas goes out only while credit is left; each
    `credit` {rid, n} from the origin allows n more (with "ack": n beyond
    the ack). Deltas wait in the
    request's buffer meanwhile; past pause_bytes of them the tab is asked to
    stop reading (dispatch_pause), and reads again once they left. Nothing
    is dropped: what the peer's pipe refuses (mesh_send -1) stays and goes
    at the next flush, the final message too, after every delta (and a
    `reject` or `fail` for a `fwd` that does not run). A delta
    that could not be kept (memory) turns the `end` into a `fail`, so a cut
    answer never looks complete. `cancel` aborts the job; a peer that dies
    or leaves has its jobs aborted; nothing answers either. Every `fail`
    message is cleaned to valid UTF-8 without control characters.

    Acks and resends (docs/mesh-protocol.md, "Acks and resends"): for an
    origin that acks (`credit` with "ack"; the credit is then counted from
    the ack), the chunks sent and not acked (at most REMOTE_MAX_UNACKED)
    and the `end`/`fail` stay until acked (`cancel` acks the final word)
    and go again, same seq and deltas, when no ack came for REMOTE_RTO_MS
    (backing off) or the `fwd` comes again; a request whose origin said
    nothing for giveup_ms is aborted (its tab reads again). Owned by the
    node thread. */
#ifndef ARENA_REMOTE_H
#define ARENA_REMOTE_H

#include <stddef.h>

#include "mesh/mesh.h"
#include "node/dispatch.h"
#include "node/metrics.h"
#include "protocol/openai.h"

#define REMOTE_DEFAULT_MAX 1024                 /* remote_config_t.max_remote when 0 */
#define REMOTE_DEFAULT_PAUSE_BYTES (64u * 1024) /* remote_config_t.pause_bytes when 0 */
#define REMOTE_CHUNK_BYTES (256u * 1024)        /* delta text in one chunk (one delta may exceed) */
#define REMOTE_MAX_UNACKED 64 /* data chunks sent and not acked, per request, at most */
#define REMOTE_RTO_MS                                                                              \
    1500 /* no ack for this: what was not acked goes again (×2 each time, to ×8) */
#define REMOTE_GIVEUP_MS 30000 /* an acking origin silent this long: its request is given up */

typedef struct _remote_t remote_t;

typedef struct {
    mesh_t *mesh;           /* borrowed */
    dispatch_t *dispatch;   /* borrowed */
    openai_limits_t limits; /* the node's request limits (those of node/http) */
    size_t max_remote;      /* forwarded requests run for peers at once, default 1024 */
    size_t pause_bytes;     /* waiting delta bytes of one request that pause its tab */
    long long giveup_ms;    /* an acking origin silent this long: its request is given up
                               (its tab read again); 0: REMOTE_GIVEUP_MS */
    metrics_t *metrics;     /* borrowed; NULL: none. Each request that entered the
                               dispatcher is counted once, origin "peer" */
} remote_config_t;

remote_t *remote_new(const remote_config_t *cfg);
/*  Fails what it runs for peers (retryable no_capacity, "the serving node is
    shutting down"), aborts their jobs and frees. Before dispatch_destroy. */
void remote_destroy(remote_t **self_p);

/*  `fwd`, `cancel` and `credit` from mesh's on_forward (anything else is
    ignored). */
void remote_handle(remote_t *self, const wire_msg_t *msg);
/*  Sends what the deltas since the last flush allow (one chunk per request
    for all its waiting deltas): call after every event batch. */
void remote_flush(remote_t *self);
/*  Sends again what a full pipe refused; call on the node's tick. */
void remote_tick(remote_t *self);
/*  A peer died or left: the requests it sent us are aborted. */
void remote_peer_gone(remote_t *self, const char *peer_id);
/*  Peers' requests running here. */
size_t remote_running(const remote_t *self);

typedef struct {
    size_t running;   /* peers' requests here */
    size_t buffered;  /* delta bytes waiting (for credit, or a pipe with room) */
    uint64_t chunks;  /* chunks with deltas sent */
    uint64_t deltas;  /* deltas they carried */
    uint64_t refused; /* sends the peer's pipe refused (retried later, never dropped) */
    uint64_t pauses;  /* times a tab was asked to stop reading for a request */
    uint64_t resent;  /* chunks and ends/fails sent again (not acked in time, or a duplicate fwd) */
    uint64_t given_up; /* requests given up: their origin said nothing for REMOTE_GIVEUP_MS */
} remote_stats_t;
void remote_stats(const remote_t *self, remote_stats_t *out);

#endif
