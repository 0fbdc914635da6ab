/*  catalog — the models this node's tabs can serve, as learnt from the
    LMArena page (protocol/arena_catalog) and kept in the store so a restart
    serves /v1/models before any tab is back. Owned by the node thread. */
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
const arena_model_t *catalog_find(const catalog_t *self, const char *name);
size_t catalog_size(const catalog_t *self);
const arena_model_t *catalog_at(const catalog_t *self, size_t i);
/*  Unix seconds of the last replace (or of the load). */
long long catalog_updated(const catalog_t *self);

#endif
