/*  catalog — see catalog.h. Linear lookup: a catalog holds a few hundred
    models at most and lookups are one per request. */
#include "node/catalog.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _catalog_t {
    store_t *store; /* borrowed, may be NULL */
    arena_catalog_t cat;
    long long updated;
};

catalog_t *catalog_new(store_t *store)
{
    catalog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    if (store && store_models_load(store, &self->cat) == 0)
        self->updated = (long long)time(NULL);
    return self;
}

void catalog_destroy(catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    arena_catalog_clear(&(*self_p)->cat);
    free(*self_p);
    *self_p = NULL;
}

int catalog_replace(catalog_t *self, arena_catalog_t *cat)
{
    if (cat->n == 0)
        return -1;
    arena_catalog_clear(&self->cat);
    self->cat = *cat;
    cat->models = NULL;
    cat->n = 0;
    self->updated = (long long)time(NULL);
    if (self->store)
        store_models_replace(self->store, &self->cat);
    return 0;
}

const arena_model_t *catalog_find(const catalog_t *self, const char *name)
{
    for (size_t i = 0; i < self->cat.n; i++)
        if (strcmp(self->cat.models[i].name, name) == 0)
            return &self->cat.models[i];
    return NULL;
}

size_t catalog_size(const catalog_t *self)
{
    return self->cat.n;
}

const arena_model_t *catalog_at(const catalog_t *self, size_t i)
{
    return i < self->cat.n ? &self->cat.models[i] : NULL;
}

long long catalog_updated(const catalog_t *self)
{
    return self->updated;
}
