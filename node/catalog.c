/*  catalog — see catalog.h. Linear lookup: a catalog holds a few hundred
    models at most and lookups are one per request. */
#include "node/catalog.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *alias;
    char *target;
} s_alias_t;

struct _catalog_t {
    store_t *store; /* borrowed, may be NULL */
    arena_catalog_t cat;
    long long updated_ms;
    s_alias_t *aliases;
    size_t n_aliases;
    char **allow;
    size_t n_allow;
};

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_policy_clear(catalog_t *self)
{
    for (size_t i = 0; i < self->n_aliases; i++)
        free(self->aliases[i].alias); /* target shares the allocation */
    free(self->aliases);
    for (size_t i = 0; i < self->n_allow; i++)
        free(self->allow[i]);
    free(self->allow);
    self->aliases = NULL;
    self->allow = NULL;
    self->n_aliases = self->n_allow = 0;
}

catalog_t *catalog_new(store_t *store)
{
    catalog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    if (store && store_models_load(store, &self->cat) == 0)
        self->updated_ms = s_now_ms();
    return self;
}

void catalog_destroy(catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    arena_catalog_clear(&(*self_p)->cat);
    s_policy_clear(*self_p);
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
    self->updated_ms = s_now_ms();
    if (self->store)
        store_models_replace(self->store, &self->cat);
    return 0;
}

int catalog_set_policy(catalog_t *self, const char *const *aliases, size_t n_aliases,
                       const char *const *allow, size_t n_allow)
{
    s_policy_clear(self);
    self->aliases = calloc(n_aliases ? n_aliases : 1, sizeof *self->aliases);
    self->allow = calloc(n_allow ? n_allow : 1, sizeof *self->allow);
    if (!self->aliases || !self->allow)
        goto err;
    for (size_t i = 0; i < n_aliases; i++) {
        char *copy = strdup(aliases[i]);
        char *eq = copy ? strchr(copy, '=') : NULL;
        if (!eq) {
            free(copy);
            goto err;
        }
        *eq = '\0';
        self->aliases[self->n_aliases].alias = copy;
        self->aliases[self->n_aliases++].target = eq + 1;
    }
    for (size_t i = 0; i < n_allow; i++)
        if (!(self->allow[self->n_allow++] = strdup(allow[i])))
            goto err;
    return 0;
err:
    s_policy_clear(self);
    return -1;
}

static const arena_model_t *s_lookup(const catalog_t *self, const char *name)
{
    for (size_t i = 0; i < self->cat.n; i++)
        if (strcmp(self->cat.models[i].name, name) == 0)
            return &self->cat.models[i];
    return NULL;
}

static bool s_allowed(const catalog_t *self, const char *name)
{
    if (self->n_allow == 0)
        return true;
    for (size_t i = 0; i < self->n_allow; i++)
        if (strcmp(self->allow[i], name) == 0)
            return true;
    return false;
}

const arena_model_t *catalog_find(const catalog_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_aliases; i++)
        if (strcmp(self->aliases[i].alias, name) == 0)
            return s_lookup(self, self->aliases[i].target);
    return s_allowed(self, name) ? s_lookup(self, name) : NULL;
}

size_t catalog_served_count(const catalog_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->cat.n; i++)
        n += s_allowed(self, self->cat.models[i].name);
    for (size_t i = 0; i < self->n_aliases; i++)
        n += s_lookup(self, self->aliases[i].target) != NULL;
    return n;
}

const arena_model_t *catalog_served_at(const catalog_t *self, size_t i, const char **name_out)
{
    for (size_t k = 0; k < self->cat.n; k++) {
        if (!s_allowed(self, self->cat.models[k].name))
            continue;
        if (i-- == 0) {
            *name_out = self->cat.models[k].name;
            return &self->cat.models[k];
        }
    }
    for (size_t k = 0; k < self->n_aliases; k++) {
        const arena_model_t *m = s_lookup(self, self->aliases[k].target);
        if (!m)
            continue;
        if (i-- == 0) {
            *name_out = self->aliases[k].alias;
            return m;
        }
    }
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
    return self->updated_ms / 1000;
}

long long catalog_updated_ms(const catalog_t *self)
{
    return self->updated_ms;
}
