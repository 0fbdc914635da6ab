/*  test_mesh_env — scaffolding shared by the unit tests that run a mesh in
    one process (test_dispatch, test_forward, test_alloc, test_mesh): a
    node's browser link, its mesh with the tests' fast timings, and the
    sockets of a raw wire-level member (an inbox the nodes dial back, a
    DEALER into a node's inbox) that speaks the wire format directly to play
    a scripted or hostile peer. No asserts here (the library does not link
    cmocka): failures come back as NULL or -1 for the test to assert on.
    Test thread only, like the zloop. Every mesh is CURVE: the nodes of
    tmesh_config_fast and the raw members share TMESH_SECRET. */
#ifndef ARENA_TEST_MESH_ENV_H
#define ARENA_TEST_MESH_ENV_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "browser_link/link.h"
#include "mesh/mesh.h"
#include "protocol/abuf.h"
#include "protocol/wire.h"

/*  Test identities. A node id is the id of its signing key
    (protocol/ident.h), so tests name their nodes ("node-a") and take the
    id and key from the name: the key is made from BLAKE2b(name), the same
    in every process. Either the name or the id finds the entry; a string
    never seen becomes a new name (so tmesh_id(tmesh_id(x)) == tmesh_id(x)).
    Pointers stay valid until the process ends. */
const char *tmesh_id(const char *name_or_id);
const uint8_t *tmesh_key(const char *name_or_id);
/*  wire_msg_encode(m, out) with every state of m that is not sealed yet
    signed on the way by tmesh_key(its id) (m itself is left as it was). */
int tmesh_encode(const wire_msg_t *m, abuf_t *out);

/*  A node's browser link on 127.0.0.1, on a port the kernel picks, that
    lets in token from origin. NULL on failure; the caller destroys it with
    link_destroy. */
link_t *tmesh_link_new(const char *node_name, const char *token, const char *origin);

#define TMESH_SECRET "arena-test-mesh-secret"

/*  A config on 127.0.0.1 with TMESH_SECRET and the fast timings: gossip
    50 ms, fanout 3, ping 100 ms, ping timeout 100 ms, suspect 1.5 s, dead
    4 s, signing with tmesh_key(node_id) (node_id must be a tmesh_id). Seeds
    and the other fields are the caller's to add. */
mesh_config_t tmesh_config_fast(const char *node_id,
                                void (*on_forward)(void *arg, const wire_msg_t *msg),
                                void (*on_peer)(void *arg, const char *id, mesh_liveness_t l),
                                void *arg);

/*  mesh_new(cfg, loop) with a plain local state called name (no tabs, no
    models). NULL on failure; the caller destroys it with mesh_destroy. */
mesh_t *tmesh_node_new(const mesh_config_t *cfg, zloop_t *loop, const char *name);

/*  A raw member's inbox: a ROUTER (linger 0, CURVE server of TMESH_SECRET)
    bound to 127.0.0.1 on a port the kernel picks; "127.0.0.1:PORT" goes to
    ep. NULL on failure. */
zsock_t *tmesh_inbox_new(char *ep, size_t ep_size);

/*  A DEALER (linger 0, identity tmesh_id(id), CURVE client of TMESH_SECRET)
    connected to a node's inbox at endpoint (HOST:PORT). NULL on failure. */
zsock_t *tmesh_dealer_new(const char *id, const char *endpoint);

/*  The same with the CURVE pair of secret, or no CURVE at all (NULL): an
    intruder. */
zsock_t *tmesh_dealer_new_with(const char *id, const char *endpoint, const char *secret);

/*  Sends m, with from set to tmesh_id(from), on dealer without blocking
    (states sealed as tmesh_encode does). 0 or -1. */
int tmesh_send_as(zsock_t *dealer, const char *from, wire_msg_t *m);

/*  Member tmesh_id(id), listening on endpoint, says hello on dealer: version and
    incarnation 1, one healthy tab, serving model with that load. 0 or -1. */
int tmesh_send_hello(zsock_t *dealer, const char *id, const char *endpoint,
                     const wire_model_t *model, uint32_t inflight, uint32_t capacity);

/*  Member tmesh_id(id), listening on endpoint, says leave on dealer: its
    state (as tmesh_send_hello's, at version 2) saying leaving, signed, as
    a leave's proof. 0 or -1. */
int tmesh_send_leave(zsock_t *dealer, const char *id, const char *endpoint);

/*  Runs loop until pred(arg) holds (checked every 2 ms) or max_ms pass;
    true when pred held. pred NULL: just runs loop for max_ms. */
typedef bool (*tmesh_pred_fn)(void *arg);
bool tmesh_run_until(zloop_t *loop, tmesh_pred_fn pred, void *arg, int max_ms);
void tmesh_run(zloop_t *loop, int ms);

/*  Receives one message on sock and decodes its last frame into *m: 0 (*m
    is the caller's to wire_msg_clear), or -1 (nothing, or not a wire
    message). */
int tmesh_recv(zsock_t *sock, wire_msg_t *m);

#endif
