/*  routes — the one table of what arena-node answers over HTTP: method,
    path, route id, whether an API key is needed, whether it may come as
    ?key=, whether the body must be declared application/json. http.c resolves a request
    with it; the node renders a route by its id (node.c, a switch over every
    id: a route added here and rendered nowhere is a compile-time warning,
    and an id the renderer does not know is a 500, never some other page).
    docs/http-api.md lists the same table. Pure: no state; any thread. */
#ifndef ARENA_ROUTES_H
#define ARENA_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ROUTE_HEALTH = 0,     /* GET /health */
    ROUTE_MODELS,         /* GET /v1/models */
    ROUTE_MESH_STATUS,    /* GET /mesh/status */
    ROUTE_USERSCRIPT,     /* GET /userscript.user.js */
    ROUTE_INDEX,          /* GET / */
    ROUTE_REFRESH_MODELS, /* POST /mesh/refresh-models */
    ROUTE_CHAT,           /* POST /v1/chat/completions (http.c runs it: a job) */
    ROUTE_MODEL,          /* GET /v1/models/{id}: the rest of the path, percent-decoded */
    ROUTE_RESPONSES,      /* POST /v1/responses (http.c runs it: a job) */
    ROUTE_IMAGES,         /* POST /v1/images/generations (http.c runs it: a job) */
    ROUTE_METRICS,        /* GET /metrics: Prometheus text (keyed unless --metrics-public) */
    ROUTE_USAGE,          /* GET /v1/usage: a user key's own usage, the admin key's any
                             (http.c checks the key itself; node/usage.c answers) */

    ROUTE_ADMIN_KEYS_CREATE, /* POST /admin/keys (the admin key; node/admin.c answers) */
    ROUTE_ADMIN_KEYS_LIST,   /* GET /admin/keys */
    ROUTE_ADMIN_KEY_REVOKE,  /* DELETE /admin/keys/{name} */
    ROUTE_ADMIN_KEY_TIER,    /* POST /admin/keys/{name}/tier */
    ROUTE_ADMIN_AUDIT,       /* GET /admin/audit (node/audit.h) */
    ROUTE_ADMIN_TIERS_LIST,  /* GET /admin/tiers (node/tiers.h) */
    ROUTE_ADMIN_TIER_PUT,    /* PUT /admin/tiers/{name}: create or change */
    ROUTE_ASSET_CHART,       /* GET /assets/chart.js: Chart.js, compiled in (the dashboard's) */
    ROUTE_MESH_TRAFFIC,      /* GET /mesh/traffic: this node's last hour (http.c answers it:
                                node/traffic.c) */
    ROUTE_EXTENSION,         /* GET /extension.zip: the link as a browser extension (holds the
                                link token, as the userscript) */
    ROUTE_COUNT
} route_id_t;

typedef struct {
    route_id_t id;
    const char *method; /* "GET" (HEAD is answered as GET), "POST", "PUT" or "DELETE" */
    const char *path;   /* exact */
    bool auth;          /* needs an API key when keys are configured */
    const char *name;   /* for logs and tests: "health", "models", … */
    bool query_key;     /* the key may come as ?key= (a link a person opens) */
    bool json_body;     /* the body is JSON: Content-Type application/json required */
    bool prefix;        /* path is a prefix: what follows it (not empty) is the route's
                           parameter (routes_param) */
    bool cors;          /* an API route: answers carry CORS headers for an allowed origin,
                           OPTIONS is its preflight; false for the pages (the index, the
                           userscript: never a CORS header) */
    bool admin_reads;   /* the --admin-key is accepted too (an auth route the dashboard
                           polls: mesh status, metrics), whatever user keys exist */
} route_t;

typedef enum {
    ROUTES_OK = 0,
    ROUTES_NOT_FOUND,  /* no route has this path: 404 not_found */
    ROUTES_BAD_METHOD, /* the path is known, the method is not: 405 method_not_allowed */
    ROUTES_PREFLIGHT,  /* OPTIONS on an API route (cors): a CORS preflight */
} routes_rc_t;

/*  The route of a request; *route is set for ROUTES_OK, ROUTES_BAD_METHOD
    and ROUTES_PREFLIGHT (the route the path names), NULL for
    ROUTES_NOT_FOUND. Exact paths first, then prefixes; a path may have a
    route per method (the first of them is named for a wrong method). */
routes_rc_t routes_resolve(const char *method, const char *path, const route_t **route);
/*  The parameter of a prefix route in path (what follows the prefix), or
    NULL when the route has none. path resolved to route. */
const char *routes_param(const route_t *route, const char *path);
/*  The table entry of an id (every id has one). */
const route_t *routes_get(route_id_t id);
/*  An admin route (a path under /admin/): it needs the --admin-key, and
    only it (never a user key), whether user keys are configured or not;
    node/admin.c answers it. Its entry asks for no API key (auth false). */
bool routes_admin(const route_t *route);
/*  The whole table, in order; *n gets its length. */
const route_t *routes_table(size_t *n);

#endif
