/*  views — the JSON documents a node serves about itself: GET /health,
    GET /v1/models (and /v1/models/{id}), GET /mesh/status (protocol/status_doc built from the
    node's parts) and the answer of POST /mesh/refresh-models.

    Reads the node's parts (borrowed, they outlive the views_t); only the
    refresh asks the tabs for something. One views_t per node: its scratch
    space for the mesh's peer list is its own, so several nodes can run in
    one process. Owned by the node thread. */
#ifndef ARENA_VIEWS_H
#define ARENA_VIEWS_H

#include <stdbool.h>

#include "mesh/mesh.h"
#include "mesh/mesh_discover.h"
#include "node/catalog.h"
#include "node/config.h"
#include "node/cooldown.h"
#include "node/dispatch.h"
#include "node/pace.h"
#include "node/tabs.h"
#include "protocol/abuf.h"

/*  Peers a view looks at (a mesh knows at most WIRE_MAX_PEERS). */
#define VIEWS_MAX_PEERS 1024

typedef struct _views_t views_t;

typedef struct {
    const config_t *cfg;
    const char *node_id;
    tabs_t *tabs;
    catalog_t *catalog;
    cooldown_t *cooldowns;
    mesh_t *mesh;
    const mesh_discover_t *discover; /* NULL: no --discover */
    dispatch_t *dispatch;
    pace_t *pace;              /* NULL: --pace off */
    int http_port;             /* the port the API answers on */
    long long started_mono_ms; /* zclock_mono() at start-up */
} views_config_t;

views_t *views_new(const views_config_t *cfg);
void views_destroy(views_t **self_p);
/*  The node is leaving: its own entry of /mesh/status says "left". */
void views_set_leaving(views_t *self);

/*  Each appends a JSON body and returns the HTTP status. */
int views_health(views_t *self, abuf_t *out);
/*  Every model served anywhere in the mesh: ours first, then what alive
    peers advertise, each name once. Answered from local state only. */
int views_models(views_t *self, abuf_t *out);
/*  GET /v1/models/{id}: the entry of views_models named id (exactly), or
    404 model_not_found (param "model") when no node of the mesh serves it. */
int views_model(views_t *self, const char *id, abuf_t *out);
int views_mesh_status(views_t *self, abuf_t *out);
/*  Asks every tab for its page again: 202 {"tabs":N}. */
int views_refresh_models(views_t *self, abuf_t *out);

#endif
