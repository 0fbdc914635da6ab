/*  pace — see pace.h. */
#include "node/pace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PACE_OWNER_MAX 64

typedef struct {
    char id[PACE_OWNER_MAX];
    long long *at; /* unix ms, a ring of cap entries */
    size_t n, next;
} s_owner_t;

typedef struct {
    char id[PACE_ACCOUNT_MAX];
    s_owner_t owners[PACE_MAX_OWNERS]; /* [0] is always us */
    size_t n_owners;
    unsigned long long used; /* LRU stamp */
} s_account_t;

struct _pace_t {
    pace_config_t cfg;
    size_t cap; /* starts kept per owner and account */
    char self_id[PACE_OWNER_MAX];
    s_account_t *accounts[PACE_MAX_ACCOUNTS];
    size_t n_accounts;
    unsigned long long clock, version;
    long long *scratch; /* every start of one account, for the window */
};

pace_t *pace_new(const pace_config_t *cfg, const char *self_id)
{
    pace_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    if (self->cfg.window_count < 0)
        self->cfg.window_count = 0;
    if (self->cfg.window_count > PACE_MAX_WINDOW)
        self->cfg.window_count = PACE_MAX_WINDOW;
    self->cap = self->cfg.window_count > 0 ? (size_t)self->cfg.window_count : 1;
    snprintf(self->self_id, sizeof self->self_id, "%s", self_id ? self_id : "self");
    self->scratch = calloc(self->cap * PACE_MAX_OWNERS, sizeof *self->scratch);
    if (!self->scratch) {
        free(self);
        return NULL;
    }
    return self;
}

static void s_account_free(s_account_t *a)
{
    for (size_t i = 0; i < a->n_owners; i++)
        free(a->owners[i].at);
    free(a);
}

void pace_destroy(pace_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pace_t *self = *self_p;
    for (size_t i = 0; i < self->n_accounts; i++)
        s_account_free(self->accounts[i]);
    free(self->scratch);
    free(self);
    *self_p = NULL;
}

static s_owner_t *s_owner(pace_t *self, s_account_t *a, const char *owner, bool create)
{
    for (size_t i = 0; i < a->n_owners; i++)
        if (strcmp(a->owners[i].id, owner) == 0)
            return &a->owners[i];
    if (!create || a->n_owners >= PACE_MAX_OWNERS)
        return NULL;
    s_owner_t *o = &a->owners[a->n_owners];
    o->at = calloc(self->cap, sizeof *o->at);
    if (!o->at)
        return NULL;
    snprintf(o->id, sizeof o->id, "%s", owner);
    o->n = o->next = 0;
    a->n_owners++;
    return o;
}

/*  The account, created when asked (evicting the least recently used). */
static s_account_t *s_account(pace_t *self, const char *id, bool create)
{
    if (!id || !*id)
        return NULL;
    for (size_t i = 0; i < self->n_accounts; i++)
        if (strcmp(self->accounts[i]->id, id) == 0) {
            self->accounts[i]->used = ++self->clock;
            return self->accounts[i];
        }
    if (!create)
        return NULL;
    s_account_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    snprintf(a->id, sizeof a->id, "%s", id);
    a->used = ++self->clock;
    if (!s_owner(self, a, self->self_id, true)) {
        free(a);
        return NULL;
    }
    if (self->n_accounts == PACE_MAX_ACCOUNTS) {
        size_t lru = 0;
        for (size_t i = 1; i < self->n_accounts; i++)
            if (self->accounts[i]->used < self->accounts[lru]->used)
                lru = i;
        s_account_free(self->accounts[lru]);
        self->accounts[lru] = self->accounts[--self->n_accounts];
    }
    self->accounts[self->n_accounts++] = a;
    return a;
}

static void s_push(pace_t *self, s_owner_t *o, long long at)
{
    o->at[o->next] = at;
    o->next = (o->next + 1) % self->cap;
    if (o->n < self->cap)
        o->n++;
}

void pace_start(pace_t *self, const char *account, long long now_ms)
{
    s_account_t *a = s_account(self, account, true);
    if (!a)
        return;
    s_push(self, &a->owners[0], now_ms);
    self->version++;
}

static int s_cmp_desc(const void *x, const void *y)
{
    long long a = *(const long long *)x, b = *(const long long *)y;
    return (a < b) - (a > b);
}

long long pace_wait_ms(pace_t *self, const char *account, long long now_ms)
{
    s_account_t *a = s_account(self, account, false);
    if (!a)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < a->n_owners; i++)
        for (size_t k = 0; k < a->owners[i].n; k++)
            self->scratch[n++] = a->owners[i].at[k];
    if (n == 0)
        return 0;
    qsort(self->scratch, n, sizeof *self->scratch, s_cmp_desc);
    long long free_at = self->scratch[0] + self->cfg.interval_ms;
    int wc = self->cfg.window_count;
    if (wc > 0 && n >= (size_t)wc) {
        long long w = self->scratch[wc - 1] + self->cfg.window_ms;
        if (w > free_at)
            free_at = w;
    }
    return free_at > now_ms ? free_at - now_ms : 0;
}

void pace_merge(pace_t *self, const char *owner, const char *account, const long long *ago_ms,
                size_t n, long long now_ms)
{
    if (!owner || strcmp(owner, self->self_id) == 0)
        return;
    s_account_t *a = s_account(self, account, n > 0);
    if (!a)
        return;
    s_owner_t *o = s_owner(self, a, owner, n > 0);
    if (!o)
        return;
    o->n = o->next = 0;
    if (n > PACE_MAX_WINDOW)
        n = PACE_MAX_WINDOW;
    /* Oldest first, so the ring keeps the newest cap of them. */
    long long tmp[PACE_MAX_WINDOW];
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ago_ms[i] >= 0)
            tmp[m++] = now_ms - ago_ms[i];
    qsort(tmp, m, sizeof tmp[0], s_cmp_desc);
    for (size_t i = m; i-- > 0;)
        s_push(self, o, tmp[i]);
}

void pace_forget_owner(pace_t *self, const char *owner)
{
    if (!owner)
        return;
    for (size_t i = 0; i < self->n_accounts; i++) {
        s_owner_t *o = s_owner(self, self->accounts[i], owner, false);
        if (o && o != &self->accounts[i]->owners[0])
            o->n = o->next = 0;
    }
}

size_t pace_own_starts(pace_t *self, const char *account, long long now_ms, long long *ago_out,
                       size_t max)
{
    s_account_t *a = s_account(self, account, false);
    if (!a)
        return 0;
    const s_owner_t *o = &a->owners[0];
    long long horizon =
        self->cfg.window_ms > self->cfg.interval_ms ? self->cfg.window_ms : self->cfg.interval_ms;
    size_t n = 0;
    for (size_t k = 0; k < o->n; k++) {
        long long ago = now_ms - o->at[k];
        if (ago < 0)
            ago = 0;
        if (ago < horizon)
            self->scratch[n++] = ago;
    }
    /* newest first = smallest ago first */
    qsort(self->scratch, n, sizeof *self->scratch, s_cmp_desc);
    size_t out = 0;
    for (size_t i = n; i-- > 0 && out < max;)
        ago_out[out++] = self->scratch[i];
    return out;
}

long long pace_rule_wait(const pace_config_t *cfg, const long long *ago_ms, size_t n)
{
    long long tmp[PACE_MAX_WINDOW];
    size_t m = 0;
    for (size_t i = 0; i < n && m < PACE_MAX_WINDOW; i++)
        if (ago_ms[i] >= 0)
            tmp[m++] = -ago_ms[i]; /* as times relative to now */
    if (m == 0)
        return 0;
    qsort(tmp, m, sizeof tmp[0], s_cmp_desc);
    long long free_at = tmp[0] + cfg->interval_ms;
    if (cfg->window_count > 0 && m >= (size_t)cfg->window_count) {
        long long w = tmp[cfg->window_count - 1] + cfg->window_ms;
        if (w > free_at)
            free_at = w;
    }
    return free_at > 0 ? free_at : 0;
}

unsigned long long pace_version(const pace_t *self)
{
    return self->version;
}
