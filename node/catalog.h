/*  catalog — the models this node's tabs can serve, as learnt from the
    LMArena page (protocol/arena_catalog) and kept in the store so a restart
    serves /v1/models before any tab is back. Owned by the node thread.

    The page's rows are stored whole, in page order. What is served: only
    user-selectable rows; when several rows share one publicName (2026
    "twins", the older answering 404 "Models not found"), the one whose
    UUIDv7 id is newest serves the name (equal times or non-v7 ids: the later
    row on the page) and the others are its fallbacks. A row marked stale
    (catalog_mark_stale) is never served; the marks (the last 1024 ids, in
    memory) outlive catalog_replace, so a re-read page that still lists a
    dead twin does not bring it back.

    Policy from the configuration: an allow-list (when not empty, only those
    catalog models are served) and aliases (ALIAS=MODEL: MODEL, when the page
    lists it, is also served as ALIAS, allowed or not — an alias is an
    explicit choice; it resolves to the row serving MODEL). Lookups and
    listings apply both; the page's catalog is stored whole, so changing the
    policy needs no new page.

    Returned models are borrowed until the next catalog_replace (a stale
    mark or a policy change frees no row). */
#ifndef ARENA_CATALOG_H
#define ARENA_CATALOG_H

#include <stddef.h>

#include "node/store.h"
#include "protocol/arena_catalog.h"

typedef struct _catalog_t catalog_t;

catalog_t *catalog_new(store_t *store);
void catalog_destroy(catalog_t **self_p);
/*  Takes the models of cat (cat is emptied). An empty cat keeps the current
    catalog and returns -1 (the caller logs it); so does running out of
    memory (cat is left to the caller). */
int catalog_replace(catalog_t *self, arena_catalog_t *cat);
/*  Sets the policy; the lists are copied. "ALIAS=MODEL" items. 0 or -1. */
int catalog_set_policy(catalog_t *self, const char *const *aliases, size_t n_aliases,
                       const char *const *allow, size_t n_allow);
/*  The model served under name (an alias resolves to its target), or NULL.
    Never a stale or non-selectable row. */
const arena_model_t *catalog_find(const catalog_t *self, const char *name);
/*  LMArena answered 404 "Models not found" for the row arena_id: marks it
    stale. Returns 1 when another row now serves its name (the next-newest
    selectable twin that is not stale), 0 when the name has no row left, -1
    when no row has that id. The allow-list is not consulted. */
int catalog_mark_stale(catalog_t *self, const char *arena_id);
/*  What is served, for listings: one entry per name, ordered by where the
    name first appears on the page, then the aliases whose target is served.
    Entry i's public name in *name_out (the alias for an alias) and the row
    serving it (its display_name, may be NULL, is the site's label).
    i < catalog_served_count(), else NULL. */
size_t catalog_served_count(const catalog_t *self);
const arena_model_t *catalog_served_at(const catalog_t *self, size_t i, const char **name_out);
/*  The page's catalog as stored: every row, twins, non-selectable and stale
    rows included, policy not applied. */
size_t catalog_size(const catalog_t *self);
const arena_model_t *catalog_at(const catalog_t *self, size_t i);
/*  Unix seconds of the last replace (or of the load). */
long long catalog_updated(const catalog_t *self);
/*  The same in unix milliseconds (arena-mesh models --refresh waits on it). */
long long catalog_updated_ms(const catalog_t *self);

#endif
