/*  cooldown — see cooldown.h. A small array: a node has few models. */
#include "node/cooldown.h"

#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "protocol/alog.h"

#define COOLDOWN_MAX 4096

struct _cooldown_t {
    store_t *store; /* borrowed, may be NULL */
    store_cooldown_t *items;
    size_t n, cap;
    cooldown_start_fn *on_start; /* may be NULL */
    void *on_start_arg;
};

cooldown_t *cooldown_new(store_t *store, long long now_ms)
{
    cooldown_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    if (store) {
        store_cooldown_t *loaded = NULL;
        size_t n = 0;
        if (store_cooldowns_load(store, now_ms, &loaded, &n) == 0) {
            self->items = loaded;
            self->n = self->cap = n;
        }
        store_cooldowns_prune(store, now_ms);
    }
    return self;
}

void cooldown_destroy(cooldown_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->items);
    free(*self_p);
    *self_p = NULL;
}

static store_cooldown_t *s_find(cooldown_t *self, const char *node_id, const char *model)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->items[i].node_id, node_id) == 0 &&
            strcmp(self->items[i].model, model) == 0)
            return &self->items[i];
    return NULL;
}

long long cooldown_set(cooldown_t *self, const char *node_id, const char *model,
                       long long remaining_ms, const char *reason, long long now_ms)
{
    if (strlen(node_id) >= UUID_STR_LEN || strlen(model) >= sizeof self->items[0].model)
        return 0;
    if (remaining_ms < COOLDOWN_MIN_MS)
        remaining_ms = COOLDOWN_MIN_MS;
    if (remaining_ms > COOLDOWN_MAX_MS)
        remaining_ms = COOLDOWN_MAX_MS;
    long long until = now_ms + remaining_ms;
    store_cooldown_t *c = s_find(self, node_id, model);
    bool started = !c || c->until_ms <= now_ms;
    if (!c) {
        if (self->n == self->cap) {
            if (self->cap >= COOLDOWN_MAX) {
                alog_warn_rl("cooldown table full; dropping cooldown for %s", model);
                return 0;
            }
            size_t cap = self->cap ? self->cap * 2 : 16;
            store_cooldown_t *p = realloc(self->items, cap * sizeof *p);
            if (!p)
                return 0;
            self->items = p;
            self->cap = cap;
        }
        c = &self->items[self->n++];
        memset(c, 0, sizeof *c);
        strcpy(c->node_id, node_id);
        strcpy(c->model, model);
    } else if (c->until_ms >= until) {
        return c->until_ms - now_ms;
    }
    c->until_ms = until;
    snprintf(c->reason, sizeof c->reason, "%s", reason ? reason : "");
    if (self->store)
        store_cooldown_set(self->store, c);
    if (started && self->on_start)
        self->on_start(self->on_start_arg, c, now_ms);
    return remaining_ms;
}

void cooldown_on_start(cooldown_t *self, cooldown_start_fn *fn, void *arg)
{
    self->on_start = fn;
    self->on_start_arg = arg;
}

long long cooldown_remaining(cooldown_t *self, const char *node_id, const char *model,
                             long long now_ms, const char **reason_out)
{
    long long best = 0;
    for (size_t i = 0; i < self->n; i++) {
        store_cooldown_t *c = &self->items[i];
        if (strcmp(c->node_id, node_id) != 0)
            continue;
        if (strcmp(c->model, model) != 0 && strcmp(c->model, COOLDOWN_ALL) != 0)
            continue;
        long long left = c->until_ms - now_ms;
        if (left > best) {
            best = left;
            if (reason_out)
                *reason_out = c->reason;
        }
    }
    return best;
}

void cooldown_prune(cooldown_t *self, long long now_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n; i++)
        if (self->items[i].until_ms > now_ms)
            self->items[kept++] = self->items[i];
    if (kept != self->n && self->store)
        store_cooldowns_prune(self->store, now_ms);
    self->n = kept;
}

void cooldown_each(cooldown_t *self, long long now_ms, cooldown_each_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->n; i++) {
        store_cooldown_t *c = &self->items[i];
        if (c->until_ms > now_ms)
            fn(arg, c->node_id, c->model, c->until_ms - now_ms, c->reason);
    }
}
