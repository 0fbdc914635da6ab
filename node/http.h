/*  http — the libmicrohttpd front end: the OpenAI API and the node's pages.

    MHD runs in external-epoll mode inside the node thread's zloop: its epoll
    fd is a zloop poller and MHD_run is called on readiness and on the node's
    tick. Requests waiting for a job are suspended; the dispatcher's sink
    resumes them. Response headers go out only with the first content delta
    (the first-byte rule); a stream then drains through a content reader that
    suspends when its buffer is empty. Suspended connections are checked for
    a client that left (a peek at the socket on every tick), which cancels the
    job end to end.

    Every request is admitted or refused on its headers alone, before any of
    its body is read: connection limit (503), Host (421), route (404/405),
    cross-origin state changes and script inclusion of the userscript (403),
    API key (401), Content-Type (415), size (413) and the node-wide budget of
    body bytes in flight (503). A refusal is answered at once and the
    connection closed, so a client without a key costs no body buffer.
    OPTIONS on an API route is a CORS preflight (204, or 403 for an origin
    --cors-origin does not allow), answered without a key. Every answer has
    an x-request-id; every answer on an API path, Vary: Origin and, for an
    allowed origin, Access-Control-Allow-Origin (errors and streams too).
    Owned by the node thread. */
#ifndef ARENA_HTTP_H
#define ARENA_HTTP_H

#include <czmq.h>
#include <stddef.h>

#include "node/config.h"
#include "node/dispatch.h"
#include "node/traffic.h"
#include "node/usage.h"
#include "node/metrics.h"
#include "node/audit.h"
#include "node/keys.h"
#include "node/tiers.h"
#include "node/limits.h"
#include "node/routes.h"
#include "protocol/abuf.h"

typedef struct _http_t http_t;

typedef struct {
    const char *host;
    int port; /* 0: pick */
    size_t max_body;
    int max_connections;
    const strlist_t *api_keys; /* --api-key: keys of the "config" tier */
    keys_t *keys;              /* borrowed: the key table (node/keys.h); NULL: none */
    tiers_t *tiers;            /* borrowed: the tier table (node/tiers.h); NULL: the defaults */
    const char *admin_key;     /* the admin API's key (node/admin.h); NULL: no admin API.
                                  No keys of any kind: no auth */
    /* the browser boundary (docs/operations.md, "Security"): */
    const strlist_t *http_names;   /* Host names answered beside the node's own address */
    const strlist_t *cors_origins; /* web origins that may call; empty: any with keys, else none */
    size_t body_budget;            /* request body bytes in flight, all clients; 0: max_body * 2 */
    openai_limits_t limits;
    /* Responses output items kept for item_reference (node/items): how
       long, how many bytes; 0: none kept, every reference a 400 */
    int responses_keep_s;
    size_t responses_keep_bytes;
    size_t stream_buffer; /* unsent stream bytes per client; 0: 32 MiB */
    dispatch_t *dispatch; /* borrowed */
    /* every chat, Responses and images request is recorded here when it
       ends (borrowed; NULL: none) */
    metrics_t *metrics;
    bool metrics_public; /* GET /metrics without a key (--metrics-public) */
    /* the audit log: key changes and authentication failures (borrowed;
       NULL: none) */
    audit_t *audit;
    /* usage (node/usage.h): every chat, Responses and images request this
       node admitted is recorded when it ends, and GET /v1/usage answers
       from it (borrowed; NULL: nothing recorded, /v1/usage a 404) */
    usage_meter_t *usage;
    const char *node_id; /* this node's id: usage's served_by for its own tabs */
    /* the last hour of traffic (node/traffic.h): every chat, Responses and
       images request is recorded when it ends, GET /mesh/traffic answers
       from it (borrowed; NULL: nothing recorded, /mesh/traffic a 404) */
    traffic_t *traffic;
    /* a key's remaining limits in GET /v1/usage (the mesh-wide limits of
       node/limits.h when connected); NULL: "remaining": null */
    int (*usage_remaining)(void *arg, const char *key, const tier_t *tier, usage_remaining_t *out);
    void *usage_remaining_arg;
    /* the body of every route of node/routes.h but ROUTE_CHAT, written by the
       node; returns the HTTP status (*content_type starts as application/json).
       param: a prefix route's parameter (routes_param, percent-decoded by
       MHD: ROUTE_MODEL's model id), else NULL */
    int (*render)(void *arg, route_id_t route, const char *param, abuf_t *out,
                  const char **content_type);
    /* mesh-wide limits of table keys (node/limits.h; borrowed; NULL: none
       enforced): peers' counts of a key (fills out, returns how many), and
       a count rose (the node's state should go out soon) */
    limits_t *key_limits;
    size_t (*key_peers)(void *arg, const char *key, limits_peer_t *out, size_t max);
    void (*on_counted)(void *arg);
    void *arg;
} http_config_t;

/*  Binds and adds MHD to loop. NULL on failure (logged). */
http_t *http_new(const http_config_t *cfg, zloop_t *loop);
/*  Resumes and ends every request, stops MHD. */
void http_destroy(http_t **self_p);
int http_port(const http_t *self);
/*  Call on the node's tick: runs MHD timers and looks for clients gone. */
void http_tick(http_t *self);
/*  Runs MHD now if a suspended connection was resumed since its last run;
    call after handling events that feed jobs (link frames). */
void http_kick(http_t *self);
/*  Runs MHD (and again while resumes keep arriving, bounded). */
void http_run(http_t *self);
/*  Stops accepting new connections (shutdown). */
void http_quiesce(http_t *self);
/*  Requests in progress (waiting or streaming). */
size_t http_active(const http_t *self);

#endif
