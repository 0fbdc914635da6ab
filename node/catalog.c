/*  catalog — see catalog.h. What is served is derived once per change (a
    replace, a policy, a stale mark) into two arrays: one row per servable
    name sorted by name (bsearch for lookups) and the listing in order. A
    page holds about a thousand rows; deriving sorts them, O(n log n). */
#include "node/catalog.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/alog.h"

#define CATALOG_STALE_MAX 1024 /* ids remembered as stale; the oldest is forgotten */
#define CATALOG_NO_ALIAS ((size_t)-1)

typedef struct {
    char *alias;
    char *target;
} s_alias_t;

/*  One name that has a servable row: the row serving it, and where the name
    first appears on the page (the listing's order). */
typedef struct {
    const char *name; /* the row's, borrowed */
    size_t row;
    size_t first;
} s_best_t;

/*  One listing entry: a row served under its own name or under an alias. */
typedef struct {
    size_t row;
    size_t alias; /* index into aliases, or CATALOG_NO_ALIAS */
} s_served_t;

/*  What is served, derived from the rows, the stale marks and the policy. */
typedef struct {
    s_best_t *best; /* sorted by name */
    size_t n_best;
    s_served_t *served;
    size_t n_served;
} s_view_t;

struct _catalog_t {
    store_t *store; /* borrowed, may be NULL */
    arena_catalog_t cat;
    long long updated_ms;
    s_alias_t *aliases;
    size_t n_aliases;
    char **allow;
    size_t n_allow;
    s_view_t view;
    char *stale[CATALOG_STALE_MAX]; /* ids; a ring, the oldest at stale_next when full */
    size_t n_stale;
    size_t stale_next;
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

/* ---- deriving what is served ---------------------------------------------- */

static void s_view_clear(s_view_t *v)
{
    free(v->best);
    free(v->served);
    memset(v, 0, sizeof *v);
}

static int s_cmp_str_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct {
    const arena_model_t *m;
    size_t row;
    long long created_ms;
    bool servable; /* user-selectable and not stale */
} s_cand_t;

/* By name, then page order. */
static int s_cmp_cand(const void *a, const void *b)
{
    const s_cand_t *x = a, *y = b;
    int c = strcmp(x->m->name, y->m->name);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

static int s_cmp_first(const void *a, const void *b)
{
    const s_best_t *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
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

static int s_cmp_best_name(const void *key, const void *elem)
{
    return strcmp(key, ((const s_best_t *)elem)->name);
}

static const s_best_t *s_best_in(const s_view_t *v, const char *name)
{
    return v->n_best ? bsearch(name, v->best, v->n_best, sizeof *v->best, s_cmp_best_name) : NULL;
}

/*  The servable rows of cat: user-selectable and not stale. Per name the
    newest UUIDv7 wins; equal times or non-v7 ids: the later row. A name is
    listed where it first appears on the page, whichever row serves it, so
    a stale mark does not move it. 0 or -1. */
static int s_best_rows(const catalog_t *self, const arena_catalog_t *cat, s_view_t *out)
{
    int rc = -1;
    const char **stale = calloc(self->n_stale ? self->n_stale : 1, sizeof *stale);
    s_cand_t *cand = calloc(cat->n ? cat->n : 1, sizeof *cand);
    out->best = calloc(cat->n ? cat->n : 1, sizeof *out->best);
    if (!stale || !cand || !out->best)
        goto done;
    for (size_t i = 0; i < self->n_stale; i++)
        stale[i] = self->stale[i];
    qsort(stale, self->n_stale, sizeof *stale, s_cmp_str_p);
    for (size_t i = 0; i < cat->n; i++) {
        const arena_model_t *m = &cat->models[i];
        bool stale_row = self->n_stale &&
                         bsearch(&m->id, stale, self->n_stale, sizeof *stale, s_cmp_str_p) != NULL;
        cand[i] = (s_cand_t){m, i, arena_model_created_ms(m), m->user_selectable && !stale_row};
    }
    qsort(cand, cat->n, sizeof *cand, s_cmp_cand);
    for (size_t i = 0; i < cat->n;) {
        size_t k = i, win = SIZE_MAX;
        for (; k < cat->n && strcmp(cand[k].m->name, cand[i].m->name) == 0; k++)
            if (cand[k].servable && (win == SIZE_MAX || cand[k].created_ms >= cand[win].created_ms))
                win = k; /* page order within the group: a tie goes to the later row */
        if (win != SIZE_MAX)
            out->best[out->n_best++] = (s_best_t){cand[i].m->name, cand[win].row, cand[i].row};
        i = k;
    }
    rc = 0;
done:
    free(stale);
    free(cand);
    return rc;
}

/*  Derives the view of cat under self's stale marks and policy into out;
    0, or -1 (out empty) when memory runs out. */
static int s_derive(const catalog_t *self, const arena_catalog_t *cat, s_view_t *out)
{
    memset(out, 0, sizeof *out);
    s_best_t *order = NULL;
    if (s_best_rows(self, cat, out) != 0)
        goto err;
    order = malloc((out->n_best ? out->n_best : 1) * sizeof *order);
    out->served = calloc(out->n_best + self->n_aliases + 1, sizeof *out->served);
    if (!order || !out->served)
        goto err;
    memcpy(order, out->best, out->n_best * sizeof *order);
    qsort(order, out->n_best, sizeof *order, s_cmp_first);
    for (size_t i = 0; i < out->n_best; i++)
        if (s_allowed(self, order[i].name))
            out->served[out->n_served++] = (s_served_t){order[i].row, CATALOG_NO_ALIAS};
    for (size_t i = 0; i < self->n_aliases; i++) {
        const s_best_t *b = s_best_in(out, self->aliases[i].target);
        if (b)
            out->served[out->n_served++] = (s_served_t){b->row, i};
    }
    free(order);
    return 0;
err:
    free(order);
    s_view_clear(out);
    return -1;
}

/*  Re-derives the view of the current rows; on failure nothing is served
    (a stale or dropped row must never be). */
static int s_refresh(catalog_t *self)
{
    s_view_t v;
    int rc = s_derive(self, &self->cat, &v);
    if (rc != 0)
        alog_warn("catalog: out of memory: no model is served until the next change");
    s_view_clear(&self->view);
    self->view = v;
    return rc;
}

/* ---- life cycle ------------------------------------------------------------- */

catalog_t *catalog_new(store_t *store)
{
    catalog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    if (store && store_models_load(store, &self->cat) == 0)
        self->updated_ms = s_now_ms();
    if (s_refresh(self) != 0) {
        catalog_destroy(&self);
        return NULL;
    }
    return self;
}

void catalog_destroy(catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    catalog_t *self = *self_p;
    arena_catalog_clear(&self->cat);
    s_policy_clear(self);
    s_view_clear(&self->view);
    for (size_t i = 0; i < self->n_stale; i++)
        free(self->stale[i]);
    free(self);
    *self_p = NULL;
}

int catalog_replace(catalog_t *self, arena_catalog_t *cat)
{
    if (cat->n == 0)
        return -1;
    s_view_t v;
    if (s_derive(self, cat, &v) != 0)
        return -1; /* cat stays the caller's; the current catalog is kept */
    s_view_clear(&self->view);
    self->view = v;
    arena_catalog_clear(&self->cat);
    self->cat = *cat;
    cat->models = NULL;
    cat->n = 0;
    self->updated_ms = s_now_ms();
    if (self->store)
        store_models_replace(self->store, &self->cat);
    return 0;
}

static bool s_is_stale(const catalog_t *self, const char *id)
{
    for (size_t i = 0; i < self->n_stale; i++)
        if (strcmp(self->stale[i], id) == 0)
            return true;
    return false;
}

int catalog_mark_stale(catalog_t *self, const char *arena_id)
{
    const arena_model_t *row = NULL;
    for (size_t i = 0; arena_id && i < self->cat.n && !row; i++)
        if (strcmp(self->cat.models[i].id, arena_id) == 0)
            row = &self->cat.models[i];
    if (!row)
        return -1;
    if (!s_is_stale(self, arena_id)) {
        char *copy = strdup(arena_id);
        if (!copy)
            return -1;
        if (self->n_stale < CATALOG_STALE_MAX) {
            self->stale[self->n_stale++] = copy;
        } else {
            free(self->stale[self->stale_next]);
            self->stale[self->stale_next] = copy;
            self->stale_next = (self->stale_next + 1) % CATALOG_STALE_MAX;
        }
    }
    if (s_refresh(self) != 0)
        return 0;
    return s_best_in(&self->view, row->name) ? 1 : 0;
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
    return s_refresh(self);
err:
    s_policy_clear(self);
    s_refresh(self);
    return -1;
}

/*  The row serving name (policy not applied), or NULL. */
static const arena_model_t *s_lookup(const catalog_t *self, const char *name)
{
    const s_best_t *b = s_best_in(&self->view, name);
    return b ? &self->cat.models[b->row] : NULL;
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
    return self->view.n_served;
}

const arena_model_t *catalog_served_at(const catalog_t *self, size_t i, const char **name_out)
{
    if (i >= self->view.n_served)
        return NULL;
    const s_served_t *e = &self->view.served[i];
    const arena_model_t *m = &self->cat.models[e->row];
    *name_out = e->alias == CATALOG_NO_ALIAS ? m->name : self->aliases[e->alias].alias;
    return m;
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
