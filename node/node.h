/*  node — one arena-node: wires the store, the browser link, the tabs, the
    dispatcher and the HTTP front end around one zloop, and runs as a czmq
    actor (STYLE.md: the node is an actor, main is a thin shell).

    The actor answers on its pipe: after start-up it sends "READY" followed by
    the ready line, or "FAILED" and a message. "$TERM" (what zactor_destroy
    sends) stops gracefully: no new connections, streams get NODE_DRAIN_MS to
    finish, the rest end with a clean error; a second "$TERM" stops at once.
    No mutable globals: several nodes can run in one process. */
#ifndef ARENA_NODE_H
#define ARENA_NODE_H

#include <czmq.h>

#include "node/config.h"

#define NODE_DRAIN_MS 2500

/*  zactor body; args is a const config_t * that must outlive the actor. */
void node_actor(zsock_t *pipe, void *args);

#endif
