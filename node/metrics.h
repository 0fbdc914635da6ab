/*  metrics — what GET /metrics shows (docs/operations.md, "Metrics"): the
    counters and histograms the node keeps of the requests it answered, and
    one pure renderer of the Prometheus text exposition format 0.0.4 that
    writes them beside a snapshot of gauges the caller reads at scrape time
    (tabs, cooldowns, accounts, queue, mesh peers and traffic).

    Cardinality is bounded: a model becomes a label value only when the
    caller says it is served somewhere (a name from the catalog, never a
    client's unknown name), and at most METRICS_MAX_MODELS distinct names
    do; any other is "other", a request that named none is "none". Series
    of arena_requests_total past METRICS_MAX_SERIES fold their model into
    "other". Owned by the node thread (http and remote record on it, the
    renderer runs on it): no locks. */
#ifndef ARENA_METRICS_H
#define ARENA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/abuf.h"

#define METRICS_MAX_MODELS 256
#define METRICS_MAX_SERIES 4096
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/*  Histogram upper bounds in seconds (the +Inf bucket comes on top). */
#define METRICS_BUCKETS 12
#define METRICS_BUCKET_BOUNDS                                                                      \
    {                                                                                              \
        0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300                                      \
    }

typedef struct _metrics_t metrics_t;

typedef enum {
    METRICS_ROUTE_CHAT = 0,  /* "chat": POST /v1/chat/completions */
    METRICS_ROUTE_RESPONSES, /* "responses": POST /v1/responses */
    METRICS_ROUTE_IMAGES,    /* "images": POST /v1/images/generations */
    METRICS_ROUTE_FORWARDED, /* "forwarded": a peer's request (its API is the origin's) */
    METRICS_ROUTE_COUNT
} metrics_route_t;

typedef enum {
    METRICS_ORIGIN_CLIENT = 0, /* "client": an HTTP client of this node */
    METRICS_ORIGIN_PEER,       /* "peer": a peer forwarded it here */
    METRICS_ORIGIN_COUNT
} metrics_origin_t;

typedef enum {
    METRICS_SERVED_NONE = 0, /* "none": answered before any target ran it */
    METRICS_SERVED_LOCAL,    /* "local": this node's tabs (the last attempt) */
    METRICS_SERVED_PEER,     /* "peer": a peer's tabs over the mesh (the last attempt) */
    METRICS_SERVED_COUNT
} metrics_served_t;

typedef struct {
    metrics_route_t route;
    metrics_origin_t origin;
    metrics_served_t served_by;
    const char *model; /* NULL: none read (refused before its body was accepted) */
    bool model_known;  /* the model is served somewhere: its name may be a label */
    int status;        /* HTTP status the client got (499: left before the headers) */
    double ttfb_s;     /* to the first byte (the headers); < 0: none went */
    double duration_s; /* to the end of the answer */
} metrics_request_t;

/*  The limit refusals (429 rate_limited) by reason; tiers add their own. */
typedef enum {
    METRICS_REFUSAL_COOLDOWN = 0, /* every target of the model cooling */
    METRICS_REFUSAL_COUNT
} metrics_refusal_t;

metrics_t *metrics_new(void);
void metrics_destroy(metrics_t **self_p);

/*  One finished request: counted, and observed in the histograms. */
void metrics_request(metrics_t *self, const metrics_request_t *r);
void metrics_refusal(metrics_t *self, metrics_refusal_t reason);
/*  A refusal by a key's tier limit (node/limits.h): the tier and the
    window that refused ("minute", "hour", "day", "tokens", "concurrent");
    arena_limit_refusals_total{reason=window,tier=tier}. Tiers past
    METRICS_MAX_TIERS count as "other". */
#define METRICS_MAX_TIERS 32
void metrics_limit_refusal(metrics_t *self, const char *tier, const char *window);

/*  Peers by state, in this order. */
typedef enum {
    METRICS_PEER_ALIVE = 0,
    METRICS_PEER_SUSPECT,
    METRICS_PEER_UNREACHABLE,
    METRICS_PEER_DEAD,
    METRICS_PEER_LEFT,
    METRICS_PEER_COUNT
} metrics_peer_state_t;

typedef struct {
    const char *model; /* "*": the whole node */
    uint64_t n;
} metrics_cooldown_t;

/*  What the node reads at scrape time (borrowed for the call). */
typedef struct {
    uint64_t tabs_connected, tabs_healthy, tab_slots, tab_fetches;
    uint64_t accounts, accounts_paced, accounts_flagged;
    uint64_t queue_depth;
    uint64_t in_flight[METRICS_ORIGIN_COUNT];
    const metrics_cooldown_t *cooldowns; /* this node's own, by model */
    size_t n_cooldowns;
    uint64_t peers[METRICS_PEER_COUNT];
    uint64_t mesh_msgs_in, mesh_msgs_out, mesh_bytes_in, mesh_bytes_out;
    uint64_t mesh_malformed, mesh_forged, mesh_dropped, mesh_curve_rejected;
    /* replicated records (mesh_stats_t.records_*) */
    uint64_t mesh_records_applied, mesh_records_refused, mesh_records_sent;
} metrics_gauges_t;

/*  Appends the whole exposition. 0, or -1 out of memory. */
int metrics_render(const metrics_t *self, const metrics_gauges_t *g, abuf_t *out);
/*  Appends s as a label value (the quotes not included): \ " and newline
    escaped as the format asks. */
int metrics_label_escape(abuf_t *out, const char *s);

#endif
