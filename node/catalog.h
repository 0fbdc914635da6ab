/*  catalog — the models this node's tabs can serve, as learnt from the
    LMArena page (protocol/arena_catalog) and kept in the store so a restart
    serves /v1/models before any tab is back. Owned by the node thread.

    Policy from the configuration: an allow-list (when not empty, only those
    catalog models are served) and aliases (ALIAS=MODEL: MODEL, when the page
    lists it, is also served as ALIAS, allowed or not — an alias is an
    explicit choice). Lookups and listings apply both; the page's catalog is
    stored whole, so changing the policy needs no new page. */
#ifndef ARENA_CATALOG_H
#define ARENA_CATALOG_H

#include <stddef.h>

#include "node/store.h"
#include "protocol/arena_catalog.h"

typedef struct _catalog_t catalog_t;

catalog_t *catalog_new(store_t *store);
void catalog_destroy(catalog_t **self_p);
/*  Takes the models of cat (cat is emptied). An empty cat keeps the current
    catalog and returns -1 (the caller logs it). */
int catalog_replace(catalog_t *self, arena_catalog_t *cat);
/*  Sets the policy; the lists are copied. "ALIAS=MODEL" items. 0 or -1. */
int catalog_set_policy(catalog_t *self, const char *const *aliases, size_t n_aliases,
                       const char *const *allow, size_t n_allow);
/*  The model served under name (an alias resolves to its target), or NULL. */
const arena_model_t *catalog_find(const catalog_t *self, const char *name);
/*  What is served, for listings: entry i's public name in *name_out (the
    alias for an alias) and its model. i < catalog_served_count(). */
size_t catalog_served_count(const catalog_t *self);
const arena_model_t *catalog_served_at(const catalog_t *self, size_t i, const char **name_out);
/*  The page's catalog as stored, policy not applied. */
size_t catalog_size(const catalog_t *self);
const arena_model_t *catalog_at(const catalog_t *self, size_t i);
/*  Unix seconds of the last replace (or of the load). */
long long catalog_updated(const catalog_t *self);
/*  The same in unix milliseconds (arena-mesh models --refresh waits on it). */
long long catalog_updated_ms(const catalog_t *self);

#endif
