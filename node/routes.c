/*  routes — see routes.h. */
#include "node/routes.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

/*  Indexed by id: routes_get() is a lookup, and the order is the table's. */
static const route_t s_routes[ROUTE_COUNT] = {
    [ROUTE_HEALTH] = {ROUTE_HEALTH, "GET", "/health", false, "health", false, false, false, true,
                      false},
    [ROUTE_MODELS] = {ROUTE_MODELS, "GET", "/v1/models", true, "models", false, false, false, true,
                      false},
    [ROUTE_MESH_STATUS] = {ROUTE_MESH_STATUS, "GET", "/mesh/status", true, "mesh_status", false,
                           false, false, true, true},
    [ROUTE_USERSCRIPT] = {ROUTE_USERSCRIPT, "GET", "/userscript.user.js", true, "userscript", true,
                          false, false, false, false},
    [ROUTE_INDEX] = {ROUTE_INDEX, "GET", "/", false, "index", false, false, false, false, false},
    [ROUTE_REFRESH_MODELS] = {ROUTE_REFRESH_MODELS, "POST", "/mesh/refresh-models", true,
                              "refresh_models", false, false, false, true, false},
    [ROUTE_CHAT] = {ROUTE_CHAT, "POST", "/v1/chat/completions", true, "chat", false, true, false,
                    true, false},
    [ROUTE_MODEL] = {ROUTE_MODEL, "GET", "/v1/models/", true, "model", false, false, true, true,
                     false},
    [ROUTE_RESPONSES] = {ROUTE_RESPONSES, "POST", "/v1/responses", true, "responses", false, true,
                         false, true, false},
    [ROUTE_IMAGES] = {ROUTE_IMAGES, "POST", "/v1/images/generations", true, "images", false, true,
                      false, true, false},
    [ROUTE_METRICS] = {ROUTE_METRICS, "GET", "/metrics", true, "metrics", false, false, false,
                       false, true},
    [ROUTE_USAGE] = {ROUTE_USAGE, "GET", "/v1/usage", false, "usage", false, false, false, true,
                     false},

    /* the admin API (routes_admin: the admin key only; node/admin.c) */
    [ROUTE_ADMIN_KEYS_CREATE] = {ROUTE_ADMIN_KEYS_CREATE, "POST", "/admin/keys", false,
                                 "admin_keys_create", false, true, false, false, false},
    [ROUTE_ADMIN_KEYS_LIST] = {ROUTE_ADMIN_KEYS_LIST, "GET", "/admin/keys", false,
                               "admin_keys_list", false, false, false, false, false},
    [ROUTE_ADMIN_KEY_REVOKE] = {ROUTE_ADMIN_KEY_REVOKE, "DELETE", "/admin/keys/", false,
                                "admin_key_revoke", false, false, true, false, false},
    [ROUTE_ADMIN_KEY_TIER] = {ROUTE_ADMIN_KEY_TIER, "POST", "/admin/keys/", false, "admin_key_tier",
                              false, true, true, false, false},
    [ROUTE_ADMIN_AUDIT] = {ROUTE_ADMIN_AUDIT, "GET", "/admin/audit", false, "admin_audit", false,
                           false, false, false, false},
    [ROUTE_ADMIN_TIERS_LIST] = {ROUTE_ADMIN_TIERS_LIST, "GET", "/admin/tiers", false,
                                "admin_tiers_list", false, false, false, false, false},
    [ROUTE_ADMIN_TIER_PUT] = {ROUTE_ADMIN_TIER_PUT, "PUT", "/admin/tiers/", false, "admin_tier_put",
                              false, true, true, false, false},
    [ROUTE_ASSET_CHART] = {ROUTE_ASSET_CHART, "GET", "/assets/chart.js", false, "asset_chart",
                           false, false, false, false, false},
    [ROUTE_MESH_TRAFFIC] = {ROUTE_MESH_TRAFFIC, "GET", "/mesh/traffic", true, "mesh_traffic", false,
                            false, false, true, true},
    [ROUTE_EXTENSION] = {ROUTE_EXTENSION, "GET", "/extension.zip", true, "extension", true, false,
                         false, false, false},
};

static bool s_matches(const route_t *r, const char *path, bool prefixes)
{
    if (r->prefix != prefixes)
        return false;
    if (!r->prefix)
        return strcmp(path, r->path) == 0;
    size_t n = strlen(r->path);
    return strncmp(path, r->path, n) == 0 && path[n] != '\0';
}

routes_rc_t routes_resolve(const char *method, const char *path, const route_t **route)
{
    *route = NULL;
    for (int prefixes = 0; prefixes < 2; prefixes++) {
        for (size_t i = 0; i < ROUTE_COUNT; i++) {
            const route_t *r = &s_routes[i];
            if (!s_matches(r, path, prefixes))
                continue;
            bool head_as_get = strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0;
            if (strcmp(method, r->method) == 0 || head_as_get) {
                *route = r;
                return ROUTES_OK;
            }
            if (!*route)
                *route = r; /* the path's first route, unless another takes the method */
        }
        if (*route)
            return (*route)->cors && strcmp(method, "OPTIONS") == 0 ? ROUTES_PREFLIGHT
                                                                    : ROUTES_BAD_METHOD;
    }
    return ROUTES_NOT_FOUND;
}

const char *routes_param(const route_t *route, const char *path)
{
    return route->prefix ? path + strlen(route->path) : NULL;
}

const route_t *routes_get(route_id_t id)
{
    assert(id >= 0 && id < ROUTE_COUNT); /* programmer error */
    return &s_routes[id];
}

const route_t *routes_table(size_t *n)
{
    *n = ROUTE_COUNT;
    return s_routes;
}

bool routes_admin(const route_t *route)
{
    return strncmp(route->path, "/admin/", 7) == 0;
}
