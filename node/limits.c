/*  limits — see limits.h. */
#include "node/limits.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"

/*  The windows of buckets: grain (ms), span (ms), buckets (span / grain + 1,
    so the bucket a request fell in stays whole until its span has passed). */
#define S_SEC 1000LL
#define S_MIN (60 * S_SEC)
#define S_DAY_GRAIN (5 * S_MIN)
#define S_MIN_BUCKETS 61
#define S_HOUR_BUCKETS 61
#define S_DAY_BUCKETS 289

typedef struct {
    long long grain, span;
    int n;
} s_shape_t;

static const s_shape_t s_shapes[4] = {
    [LIMITS_MINUTE] = {S_SEC, S_MIN, S_MIN_BUCKETS},
    [LIMITS_HOUR] = {S_MIN, 60 * S_MIN, S_HOUR_BUCKETS},
    [LIMITS_DAY] = {S_DAY_GRAIN, 24 * 60 * S_MIN, S_DAY_BUCKETS},
    [LIMITS_TOKENS] = {S_DAY_GRAIN, 24 * 60 * S_MIN, S_DAY_BUCKETS},
};

/*  A ring of buckets: bucket index i (now_ms / grain) lives in slot i % n,
    with its index beside it so a stale slot is known for what it is. */
typedef struct {
    long long idx[S_DAY_BUCKETS];
    long long count[S_DAY_BUCKETS];
} s_ring_t;

typedef struct {
    char name[WIRE_MAX_KEY_NAME + 1];
    s_ring_t ring[4];
    long long inflight;
} s_key_t;

struct _limits_t {
    s_key_t **keys;
    size_t n;
    bool rose;
    bool warned_full;
};

/*  A wait: the time and how many requests (or tokens) leave then. */
typedef struct {
    long long at_ms; /* from now */
    long long n;
} s_leave_t;

limits_t *limits_new(void)
{
    limits_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->keys = calloc(LIMITS_MAX_KEYS, sizeof *self->keys);
    if (!self->keys) {
        free(self);
        return NULL;
    }
    return self;
}

void limits_destroy(limits_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    limits_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        free(self->keys[i]);
    free(self->keys);
    free(self);
    *self_p = NULL;
}

const char *limits_window_name(limits_window_t w)
{
    static const char *const names[] = {"minute", "hour", "day", "tokens", "concurrent", "none"};
    return w <= LIMITS_NONE ? names[w] : "none";
}

void limits_describe(const limits_verdict_t *v, const tier_t *tier, char *out, size_t outlen)
{
    const char *t = tier ? tier->name : "?";
    switch (v->refused) {
    case LIMITS_MINUTE:
    case LIMITS_HOUR:
    case LIMITS_DAY:
        snprintf(out, outlen, "%lld requests per %s for tier %s", v->limit,
                 limits_window_name(v->refused), t);
        break;
    case LIMITS_TOKENS:
        snprintf(out, outlen, "%lld tokens per day for tier %s", v->limit, t);
        break;
    case LIMITS_CONCURRENT:
        snprintf(out, outlen, "%lld concurrent requests for tier %s", v->limit, t);
        break;
    default:
        snprintf(out, outlen, "no limit");
    }
}

/* ---- buckets ---- */

static long long s_limit_of(const tier_t *tier, limits_window_t w)
{
    switch (w) {
    case LIMITS_MINUTE:
        return tier->per_minute;
    case LIMITS_HOUR:
        return tier->per_hour;
    case LIMITS_DAY:
        return tier->per_day;
    case LIMITS_TOKENS:
        return tier->tokens_per_day;
    case LIMITS_CONCURRENT:
        return tier->concurrent;
    default:
        return 0;
    }
}

/*  The bucket at idx is still in its window at now_ms. */
static bool s_live(const s_shape_t *sh, long long idx, long long now_ms)
{
    return (idx + 1) * sh->grain + sh->span > now_ms;
}

static long long s_sum(const s_ring_t *r, limits_window_t w, long long now_ms)
{
    const s_shape_t *sh = &s_shapes[w];
    long long sum = 0;
    for (int i = 0; i < sh->n; i++)
        if (r->count[i] && s_live(sh, r->idx[i], now_ms) && r->idx[i] * sh->grain <= now_ms)
            sum += r->count[i];
    return sum;
}

static void s_add(s_ring_t *r, limits_window_t w, long long n, long long now_ms)
{
    const s_shape_t *sh = &s_shapes[w];
    long long idx = now_ms / sh->grain;
    int slot = (int)(idx % sh->n);
    if (r->idx[slot] != idx) {
        r->idx[slot] = idx;
        r->count[slot] = 0;
    }
    r->count[slot] += n;
}

/*  Own buckets as leave events (ms from now, oldest first), into out. */
static size_t s_leaves(const s_ring_t *r, limits_window_t w, long long now_ms, s_leave_t *out)
{
    const s_shape_t *sh = &s_shapes[w];
    size_t m = 0;
    for (int i = 0; i < sh->n; i++)
        if (r->count[i] && s_live(sh, r->idx[i], now_ms) && r->idx[i] * sh->grain <= now_ms)
            out[m++] = (s_leave_t){(r->idx[i] + 1) * sh->grain + sh->span - now_ms, r->count[i]};
    return m;
}

static int s_leave_cmp(const void *a, const void *b)
{
    long long x = ((const s_leave_t *)a)->at_ms, y = ((const s_leave_t *)b)->at_ms;
    return x < y ? -1 : x > y;
}

/* ---- keys ---- */

static s_key_t *s_find(const limits_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->keys[i]->name, name) == 0)
            return self->keys[i];
    return NULL;
}

static s_key_t *s_find_or_add(limits_t *self, const char *name)
{
    s_key_t *k = s_find(self, name);
    if (k)
        return k;
    if (strlen(name) > WIRE_MAX_KEY_NAME)
        return NULL;
    if (self->n >= LIMITS_MAX_KEYS) {
        if (!self->warned_full)
            alog_warn("limits: %d keys active on this node: key %s is not counted", LIMITS_MAX_KEYS,
                      name);
        self->warned_full = true;
        return NULL;
    }
    if (!(k = calloc(1, sizeof *k)))
        return NULL;
    snprintf(k->name, sizeof k->name, "%s", name);
    self->keys[self->n++] = k;
    return k;
}

static bool s_idle(const s_key_t *k, long long now_ms)
{
    if (k->inflight)
        return false;
    for (int w = 0; w < 4; w++)
        if (s_sum(&k->ring[w], (limits_window_t)w, now_ms))
            return false;
    return true;
}

/* ---- peers ---- */

static long long s_peer_count(const wire_key_count_t *c, limits_window_t w)
{
    switch (w) {
    case LIMITS_MINUTE:
        return c->minute;
    case LIMITS_HOUR:
        return c->hour;
    case LIMITS_DAY:
        return c->day;
    case LIMITS_TOKENS:
        return c->tokens;
    default:
        return c->inflight;
    }
}

/*  A peer's count of window w now: whole until everything it counted when
    its state was made has left (span + grain later), then 0. */
static long long s_peer_now(const limits_peer_t *p, limits_window_t w)
{
    if (w == LIMITS_CONCURRENT)
        return p->live ? p->counts->inflight : 0;
    const s_shape_t *sh = &s_shapes[w];
    long long age = p->age_ms < 0 ? 0 : p->age_ms;
    return age >= sh->span + sh->grain ? 0 : s_peer_count(p->counts, w);
}

/*  ms until `need` of what window w counts (own and peers') has left: own
    buckets exactly; of a peer, one leaves when its oldest does, the rest
    by span + grain after its state was made. */
static long long s_reset(const s_key_t *k, limits_window_t w, const limits_peer_t *peers,
                         size_t n_peers, long long need, long long now_ms)
{
    if (need <= 0)
        return 0;
    const s_shape_t *sh = &s_shapes[w];
    size_t cap = (size_t)sh->n + 2 * n_peers;
    s_leave_t *ev = calloc(cap ? cap : 1, sizeof *ev);
    if (!ev)
        return sh->span + sh->grain;
    size_t m = k ? s_leaves(&k->ring[w], w, now_ms, ev) : 0;
    for (size_t i = 0; i < n_peers; i++) {
        long long c = s_peer_now(&peers[i], w);
        if (c <= 0)
            continue;
        long long age = peers[i].age_ms < 0 ? 0 : peers[i].age_ms;
        long long first = peers[i].counts->reset_ms[w] - age;
        long long all = sh->span + sh->grain - age;
        ev[m++] = (s_leave_t){first > 0 ? first : 0, 1};
        if (c > 1)
            ev[m++] = (s_leave_t){all > 0 ? all : 0, c - 1};
    }
    qsort(ev, m, sizeof *ev, s_leave_cmp);
    long long at = sh->span + sh->grain, left = 0;
    for (size_t i = 0; i < m; i++) {
        left += ev[i].n;
        if (left >= need) {
            at = ev[i].at_ms;
            break;
        }
    }
    free(ev);
    return at;
}

static long long s_total(const s_key_t *k, limits_window_t w, const limits_peer_t *peers,
                         size_t n_peers, long long now_ms)
{
    long long sum = 0;
    if (k)
        sum = w == LIMITS_CONCURRENT ? k->inflight : s_sum(&k->ring[w], w, now_ms);
    for (size_t i = 0; i < n_peers; i++)
        if (peers[i].counts)
            sum += s_peer_now(&peers[i], w);
    return sum;
}

/* ---- admission ---- */

bool limits_tier_allows(const tier_t *tier, const char *model)
{
    if (!tier || !tier->models[0])
        return true;
    size_t n = model ? strlen(model) : 0;
    if (n == 0)
        return false;
    for (const char *p = tier->models; p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && memcmp(p, model, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

static bool s_limited(const tier_t *tier)
{
    return tier && strcmp(tier->name, TIERS_CONFIG) != 0 &&
           (tier->per_minute > 0 || tier->per_hour > 0 || tier->per_day > 0 ||
            tier->tokens_per_day > 0 || tier->concurrent > 0);
}

void limits_totals(const limits_t *self, const char *key, const limits_peer_t *peers,
                   size_t n_peers, long long now_ms, long long total[LIMITS_N])
{
    const s_key_t *k = self && key ? s_find(self, key) : NULL;
    for (int w = 0; w < LIMITS_N; w++)
        total[w] = s_total(k, (limits_window_t)w, peers, n_peers, now_ms);
}

void limits_remaining(const limits_t *self, const char *key, const tier_t *tier,
                      const limits_peer_t *peers, size_t n_peers, long long now_ms,
                      long long left[LIMITS_N])
{
    for (int w = 0; w < LIMITS_N; w++)
        left[w] = -1;
    if (!s_limited(tier))
        return;
    long long total[LIMITS_N];
    limits_totals(self, key, peers, n_peers, now_ms, total);
    for (int w = 0; w < LIMITS_N; w++) {
        long long lim = s_limit_of(tier, (limits_window_t)w);
        if (lim > 0)
            left[w] = lim > total[w] ? lim - total[w] : 0;
    }
}

bool limits_admit(limits_t *self, const char *key, const tier_t *tier, const limits_peer_t *peers,
                  size_t n_peers, long long now_ms, limits_verdict_t *v)
{
    memset(v, 0, sizeof *v);
    v->refused = LIMITS_NONE;
    if (!self || !key || !s_limited(tier))
        return true;
    s_key_t *k = s_find(self, key);
    long long total[LIMITS_N];
    limits_totals(self, key, peers, n_peers, now_ms, total);
    /* the first window that is full refuses (the shortest first) */
    for (int w = 0; w < LIMITS_N && v->refused == LIMITS_NONE; w++) {
        long long lim = s_limit_of(tier, (limits_window_t)w);
        if (lim > 0 && total[w] >= lim) {
            v->refused = (limits_window_t)w;
            v->limit = lim;
            v->retry_after_ms =
                w == LIMITS_CONCURRENT
                    ? LIMITS_CONCURRENT_RETRY_MS
                    : s_reset(k, (limits_window_t)w, peers, n_peers, total[w] - lim + 1, now_ms);
            if (v->retry_after_ms < 1)
                v->retry_after_ms = 1;
        }
    }
    bool admitted = v->refused == LIMITS_NONE;
    if (admitted && (k = s_find_or_add(self, key))) {
        for (int w = LIMITS_MINUTE; w <= LIMITS_DAY; w++)
            s_add(&k->ring[w], (limits_window_t)w, 1, now_ms);
        k->inflight++;
        self->rose = true;
    }
    /* the headers: the request window with the least room */
    long long add = admitted ? 1 : 0;
    for (int w = LIMITS_MINUTE; w <= LIMITS_DAY; w++) {
        long long lim = s_limit_of(tier, (limits_window_t)w);
        if (lim <= 0)
            continue;
        long long rem = lim - total[w] - add;
        if (rem < 0)
            rem = 0;
        if (!v->has_requests || rem < v->req_remaining) {
            v->has_requests = true;
            v->req_window = (limits_window_t)w;
            v->req_limit = lim;
            v->req_remaining = rem;
            v->req_reset_ms =
                s_reset(k, (limits_window_t)w, peers, n_peers, total[w] + add, now_ms);
        }
    }
    if (tier->tokens_per_day > 0) {
        v->has_tokens = true;
        v->tok_limit = tier->tokens_per_day;
        v->tok_remaining = tier->tokens_per_day - total[LIMITS_TOKENS];
        if (v->tok_remaining < 0)
            v->tok_remaining = 0;
        v->tok_reset_ms = s_reset(k, LIMITS_TOKENS, peers, n_peers, total[LIMITS_TOKENS], now_ms);
    }
    return admitted;
}

void limits_end(limits_t *self, const char *key, long long tokens, long long now_ms)
{
    if (!self || !key)
        return;
    s_key_t *k = s_find(self, key);
    if (!k)
        return;
    if (k->inflight > 0)
        k->inflight--;
    if (tokens > 0) {
        s_add(&k->ring[LIMITS_TOKENS], LIMITS_TOKENS, tokens, now_ms);
        self->rose = true;
    }
}

bool limits_take_rise(limits_t *self)
{
    if (!self)
        return false;
    bool r = self->rose;
    self->rose = false;
    return r;
}

/*  ms until the oldest thing window w counts leaves it (0: none). */
static long long s_oldest(const s_ring_t *r, limits_window_t w, long long now_ms)
{
    s_leave_t ev[S_DAY_BUCKETS];
    size_t m = s_leaves(r, w, now_ms, ev);
    long long at = 0;
    for (size_t i = 0; i < m; i++)
        if (at == 0 || ev[i].at_ms < at)
            at = ev[i].at_ms;
    return at;
}

size_t limits_snapshot(limits_t *self, long long now_ms, wire_key_count_t *out, size_t max)
{
    if (!self)
        return 0;
    size_t kept = 0, m = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_key_t *k = self->keys[i];
        if (s_idle(k, now_ms)) {
            free(k);
            continue;
        }
        self->keys[kept++] = k;
        if (m >= max)
            continue;
        wire_key_count_t *c = &out[m++];
        memset(c, 0, sizeof *c);
        c->name = k->name;
        c->minute = s_sum(&k->ring[LIMITS_MINUTE], LIMITS_MINUTE, now_ms);
        c->hour = s_sum(&k->ring[LIMITS_HOUR], LIMITS_HOUR, now_ms);
        c->day = s_sum(&k->ring[LIMITS_DAY], LIMITS_DAY, now_ms);
        c->tokens = s_sum(&k->ring[LIMITS_TOKENS], LIMITS_TOKENS, now_ms);
        c->inflight = k->inflight;
        for (int w = 0; w < 4; w++)
            c->reset_ms[w] = s_oldest(&k->ring[w], (limits_window_t)w, now_ms);
        /* what the wire carries (a count past its bound is clamped, not lost) */
        if (c->minute > WIRE_MAX_KEY_COUNT)
            c->minute = WIRE_MAX_KEY_COUNT;
        if (c->hour > WIRE_MAX_KEY_COUNT)
            c->hour = WIRE_MAX_KEY_COUNT;
        if (c->day > WIRE_MAX_KEY_COUNT)
            c->day = WIRE_MAX_KEY_COUNT;
        if (c->tokens > WIRE_MAX_KEY_TOKENS)
            c->tokens = WIRE_MAX_KEY_TOKENS;
        if (c->inflight > WIRE_MAX_KEY_COUNT)
            c->inflight = WIRE_MAX_KEY_COUNT;
    }
    self->n = kept;
    if (kept < LIMITS_MAX_KEYS)
        self->warned_full = false;
    return m;
}

size_t limits_keys(const limits_t *self)
{
    return self ? self->n : 0;
}
