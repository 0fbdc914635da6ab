/*  status_doc — the `GET /mesh/status` document, defined once: the struct
    below, its one renderer (struct → JSON) and its one parser (JSON text →
    struct). arena-node builds the struct and renders it; arena-mesh parses
    it. docs/http-api.md shows the document.

    Two shapes of node entry: the answering node's own ("local", rendered
    with "self": true) carries its tabs list, catalog time, pace, mode and
    mesh counters, its models their display name and its accounts the pace
    view (next slot, reason); a peer's entry carries its accounts' starts.
    The renderer writes the keys in one fixed order for each shape.

    Presence: a number field set to STATUS_DOC_ABSENT is left out of the
    document (the parser gives it to a key that is missing, not a number, or
    beyond ±2^53), STATUS_DOC_NULL is JSON null. A NULL string is JSON null
    for the keys that may be null (reason, display_name, reported_by, hint,
    images) and a missing key for the others. A key of the wrong type is as
    if missing. Lists are capped (STATUS_DOC_MAX_*); what is beyond a cap, or
    not an object, is counted in *_dropped. Strings longer than
    STATUS_DOC_MAX_STR are refused (as if missing).

    Ownership: a parsed document owns everything in it (status_doc_destroy);
    a document built by a caller borrows what the caller points it at.
    Pure: jansson only, no state; any thread. */
#ifndef ARENA_STATUS_DOC_H
#define ARENA_STATUS_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/abuf.h"

#define STATUS_DOC_ABSENT INT64_MIN     /* number: no key */
#define STATUS_DOC_NULL (INT64_MIN + 1) /* number: JSON null */

#define STATUS_DOC_MAX_TEXT ((size_t)32 * 1024 * 1024) /* a longer text is TOOBIG */
#define STATUS_DOC_MAX_NODES 2048                      /* 1 + a mesh's peers, with room */
#define STATUS_DOC_MAX_MODELS 4096                     /* per node */
#define STATUS_DOC_MAX_ACCOUNTS 64                     /* per node (WIRE_MAX_ACCOUNTS) */
#define STATUS_DOC_MAX_STARTS 1000                     /* per account (WIRE_MAX_STARTS) */
#define STATUS_DOC_MAX_TABS 1024                       /* per node */
#define STATUS_DOC_MAX_STR (64 * 1024)                 /* bytes of one string */
#define STATUS_DOC_MAX_ROUTES 16384                    /* models in "routing" */

typedef enum {
    STATUS_DOC_OK = 0,
    STATUS_DOC_MALFORMED = -1, /* not JSON (err says where) */
    STATUS_DOC_TOOBIG = -2,    /* longer than STATUS_DOC_MAX_TEXT */
    STATUS_DOC_NOMEM = -3,
} status_doc_rc_t;

typedef struct {
    const char *name, *arena_id, *modality;
    int64_t cooled_remaining_ms;
    const char *reason;       /* nullable */
    const char *display_name; /* nullable; rendered for the local node's models only */
} status_doc_model_t;

typedef struct {
    const char *id;
    bool known;
    int64_t next_slot_ms;    /* local: until its next pace slot; peer: null with --pace off */
    int64_t next_slot_at_ms; /* local only */
    int64_t flag_remaining_ms;
    const char *reason;           /* local only; nullable */
    const int64_t *starts_ago_ms; /* peer only */
    size_t n_starts;
} status_doc_account_t;

typedef struct {
    const char *id, *href, *account;
    bool account_known;
    int logged_in; /* -1: null, 0, 1 */
    bool login_required, challenged;
    int64_t inflight, connected_ms;
    const char *hint;   /* nullable */
    const char *images; /* nullable */
    bool has_drift;     /* false: "last_unrecognised": null */
    int64_t drift_at_ms, drift_status;
    const char *drift_kind, *drift_body, *drift_field;
} status_doc_tab_t;

typedef struct {
    uint64_t bytes_in, bytes_out, msgs_in, msgs_out, ping_req_sent, ping_req_served,
        ping_req_refused, indirect_acks, stale_acks;
    uint64_t forged; /* messages refused for a state that was not its owner's word */
    /* replicated records (keys, tiers: mesh_stats_t.records_*): taken by a
       table's merge, refused, sent (pushes and repairs) */
    uint64_t records_applied, records_refused, records_sent;
    /* LAN discovery (--discover; mesh_discover_stats_t): beacons heard,
       members dialed, beacons of another mesh, junk */
    uint64_t discover_heard, discover_dialed, discover_forged, discover_malformed;
} status_doc_mesh_t;

typedef struct {
    bool local; /* the answering node's own entry ("self": true) */
    const char *id, *name, *address, *http, *state;
    int64_t age_ms; /* null: never heard from directly */
    int64_t uptime_ms, incarnation;
    int64_t tabs_count, tabs_healthy;
    int64_t inflight, queued, capacity;
    int64_t ok, failed, p50_ms;
    int64_t node_cooled_remaining_ms;
    int64_t catalog_updated_ms; /* local */
    bool has_models;            /* "models" is a list */
    const status_doc_model_t *models;
    size_t n_models, models_dropped;
    const char *reported_by; /* nullable */
    bool indirect;
    bool has_accounts; /* "accounts" is a list */
    const status_doc_account_t *accounts;
    size_t n_accounts, accounts_dropped;
    int64_t paced_remaining_ms;
    /* local only */
    bool has_tab_list;
    const status_doc_tab_t *tabs;
    size_t n_tabs, tabs_dropped;
    bool has_pace; /* false: "pace": null (--pace off) */
    int64_t pace_interval_s;
    const char *pace_window;
    const char *arena_mode;
    bool has_mesh;
    status_doc_mesh_t mesh;
} status_doc_node_t;

/*  "routing": where a request for a model, sent to the answering node,
    would go right now (node/dispatch.h, dispatch_peek). */
typedef struct {
    const char *model; /* the key */
    const char *node;  /* nullable: no node would take it now */
    const char *state; /* "local" | "peer" | "queue" | "cooling" | "none" */
    const char *why;
    int64_t retry_ms; /* "cooling" only (else absent): until the first node is back */
} status_doc_route_t;

typedef struct _status_doc_store_t status_doc_store_t;

typedef struct {
    const char *self; /* id of the answering node */
    int64_t generated_ms;
    bool has_nodes; /* "nodes" is a list */
    const status_doc_node_t *nodes;
    size_t n_nodes, nodes_dropped;
    bool has_routing; /* "routing" is an object: model → route */
    const status_doc_route_t *routing;
    size_t n_routing, routing_dropped;
    status_doc_store_t *store; /* a parsed document's memory; NULL when built by a caller */
} status_doc_t;

/*  The document as JSON (a new reference), NULL when out of memory. */
json_t *status_doc_to_json(const status_doc_t *doc);
/*  Appends the compact JSON text. 0, or -1 (out of memory). */
int status_doc_render(const status_doc_t *doc, abuf_t *out);

/*  Parses a status document from untrusted bytes. On STATUS_DOC_OK *out is
    the caller's (status_doc_destroy); otherwise *out is NULL and err (may be
    NULL) holds one line, "malformed JSON: <why> (line L, column C)" for
    STATUS_DOC_MALFORMED. Only JSON syntax fails: a document of any other
    shape parses, with what it lacks absent (a top level that is not an
    object has no "nodes"). */
status_doc_rc_t status_doc_parse(const uint8_t *buf, size_t len, status_doc_t **out, char *err,
                                 size_t err_len);
/*  Frees a parsed document; a document built by a caller (store NULL) is
    the caller's, and only *self_p is cleared. */
void status_doc_destroy(status_doc_t **self_p);

#endif
