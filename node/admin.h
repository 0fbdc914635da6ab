/*  admin — the admin HTTP API over the key table (docs/http-api.md,
    "Admin"; docs/keys.md): create, list, revoke, re-tier. http.c admits a
    request with the admin key only and hands it here with its body; the
    answer is JSON, errors in OpenAI's shape. Bad input is refused whole:
    nothing is stored. Owned by the node thread (as the table). */
#ifndef ARENA_ADMIN_H
#define ARENA_ADMIN_H

#include <stddef.h>

#include "node/audit.h"
#include "node/keys.h"
#include "node/tiers.h"
#include "node/routes.h"
#include "protocol/abuf.h"

typedef struct {
    route_id_t route;  /* one of the ROUTE_ADMIN_* ids */
    const char *param; /* a prefix route's parameter, else NULL */
    const char *body;  /* the JSON body (POST, PUT), may be NULL */
    size_t len;
    long long now_ms;   /* wall clock, unix ms */
    size_t n_config;    /* --api-key keys, listed as config-1… */
    audit_t *audit;     /* the audit log (may be NULL: nothing logged) */
    tiers_t *tiers;     /* the tier table (node/tiers.h); NULL: the defaults */
    const char *origin; /* the client's address, for the log */
    const char *since;  /* GET /admin/audit ?since= and ?limit= (may be NULL) */
    const char *limit;
} admin_request_t;

/*  Writes the answer into out; returns its HTTP status. */
int admin_handle(keys_t *keys, const admin_request_t *req, abuf_t *out);

#endif
