/*  forward — the *peer target* of the dispatcher (forward_target_ops,
    node/target.h): the origin's half of a request that crosses one mesh hop
    (docs/mesh-protocol.md, forwarding, "The origin"). The executor's half,
    the requests peers send us, is node/remote.

    forward_start sends `fwd` {rid, model, request, stream, deadline, credit,
    client} to a peer; the peer answers `chunk` seq 0 with no deltas when it has accepted
    (within accept_ms, else the attempt fails, retryable), then `chunk`s in
    order, then one `end` or `fail`, or `reject` when it cannot take the
    request (retryable). Deltas reach the same target_sink_t as a local
    tab's, so the dispatcher treats both targets alike; a peer's `fail`
    carries the cooldown it caused there (cooled_ms), and is never a verdict
    for this node's policy. An `end` counting fewer chunks than arrived is
    a failure, so a cut answer never looks complete. A peer that
    dies or leaves fails its attempts at once (before content: retryable
    no_capacity, so another target tries or the client gets 503 with
    Retry-After); `cancel` goes out when the client leaves.

    Flow control (docs/mesh-protocol.md, "Flow control"): the peer may send as
    many chunks with deltas as we granted (the acceptance costs none). Each
    request's window is FORWARD_PEER_CREDIT shared among our requests on
    that peer (4 to FORWARD_WINDOW chunks); once three quarters of it arrived
    and went to the sink, `credit` tops it up. All requests on one peer together
    never hold more than FORWARD_PEER_CREDIT chunks in flight, below the
    mesh's send queue (MESH__SNDHWM), so the peer's final messages always
    find room. A grant that did not fit waits for credit to return (an
    answer ends) or the tick; a request waiting for our credit is not
    timed out as silent.

    Acks and resends (docs/mesh-protocol.md, "Acks and resends"): every
    `credit` carries the ack (chunks held in order) and the credit left
    beyond it, absolute, so a lost one is made good by the next; chunks
    that repeat or come past a missing one are dropped and acked (the peer
    sends the missing ones again), an `end` counting more chunks than
    arrived waits for them, a final word is acked with `cancel`. Acks go
    within FORWARD_ACK_MS of a chunk and again after FORWARD_REACK_MS of
    silence; an unaccepted `fwd` goes again (same rid) and one the link
    refused goes at the next tick. Owned by the node thread. */
#ifndef ARENA_FORWARD_H
#define ARENA_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/mesh.h"
#include "node/target.h"
#include "protocol/openai.h"

#define FORWARD_DEFAULT_ACCEPT_MS 2000 /* forward_config_t.accept_ms when 0 */
#define FORWARD_WINDOW 16              /* chunks one request may have in flight, at most */
#define FORWARD_PEER_CREDIT 512        /* chunks in flight from one peer, all requests together */
#define FORWARD_ACK_MS 250             /* chunks that arrived are acked (a `credit`) within this */
#define FORWARD_REACK_MS 1000  /* nothing arrived for this: the last credit/ack goes again */
#define FORWARD_ACCEPT_STALL 4 /* a stalled link (peer silent) stretches accept_ms up to ×this */
#define FORWARD_FWD_RESENDS 2  /* an unaccepted `fwd` goes again, at accept_ms/3 intervals */
#define FORWARD_LATE_REFWDS 2  /* …and after accept_ms, while later ones were answered */

typedef struct _forward_t forward_t;
typedef struct _fwd_t fwd_t;

typedef struct {
    mesh_t *mesh;                   /* borrowed */
    long long accept_ms;            /* the peer must accept within this, default 2000 */
    long long idle_ms;              /* silence allowed once accepted; 0: TARGET_DEFAULT_IDLE_MS */
    void (*on_capacity)(void *arg); /* an attempt ended: queued work may start */
    void *arg;
} forward_config_t;

forward_t *forward_new(const forward_config_t *cfg);
/*  Cancels every attempt (no sink call) and frees. */
void forward_destroy(forward_t **self_p);

/*  NULL with err filled when nothing could be sent (the peer is unknown or
    its pipe is full: 503, retryable). */
fwd_t *forward_start(forward_t *self, const char *peer_id, const openai_request_t *req,
                     long long deadline_ms, const target_sink_t *sink, void *arg,
                     openai_error_t *err);
/*  The client left: `cancel` to the peer; no sink call follows. */
void forward_abort(forward_t *self, fwd_t **fwd_p);
const char *forward_peer(const fwd_t *fwd);

/*  The same three as target ops (impl: the forward_t; req->deadline_ms is
    the `fwd`'s deadline). */
extern const target_ops_t forward_target_ops;

/*  The answers to our attempts: `chunk`, `end`, `fail`, `reject` (anything
    else is ignored: `fwd` and `cancel` are node/remote's). */
void forward_handle(forward_t *self, const wire_msg_t *msg);
/*  A peer died or left: its attempts fail (retryable before content). */
void forward_peer_gone(forward_t *self, const char *peer_id);
/*  Timeouts (accept, silence); call on the node's tick. */
void forward_tick(forward_t *self);

typedef struct {
    uint64_t chunks; /* chunks that arrived for our requests */
    uint64_t deltas; /* deltas they carried */
    uint64_t grants; /* `credit` messages sent */
    uint64_t dups;   /* chunks that arrived twice (a resend): dropped, acked again */
    uint64_t gaps;   /* chunks that arrived before a missing one: dropped, acked */
    uint64_t reacks; /* acks sent again after silence */
    uint64_t refwds; /* `fwd`s sent again (no acceptance yet) */
} forward_credit_stats_t;

typedef struct {
    size_t outgoing; /* our requests running on peers */
    forward_credit_stats_t credit;
} forward_stats_t;
void forward_stats(const forward_t *self, forward_stats_t *out);

#endif
