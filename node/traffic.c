/*  traffic — see traffic.h. */
#include "node/traffic.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SINCE 9007199254740992LL /* 2^53: what a JSON number holds exactly */

typedef struct {
    long long start_ms; /* -1: never used */
    uint32_t requests;
    uint32_t errors[TRAFFIC_MAX_KINDS];
    uint32_t ttfb_n;
    long long ttfb_min, ttfb_max;
    uint32_t ttfb[TRAFFIC_TTFB_BINS];
} s_bucket_t;

struct _traffic_t {
    long long born_ms; /* start of the bucket the node started in */
    s_bucket_t buckets[TRAFFIC_BUCKETS];
    /* kind names, interned on first sight; the last slot is TRAFFIC_OTHER */
    char kinds[TRAFFIC_MAX_KINDS][TRAFFIC_KIND_MAX + 1];
    size_t n_kinds;
};

static long long s_align(long long ms)
{
    long long r = ms % TRAFFIC_BUCKET_MS;
    return ms - (r < 0 ? r + TRAFFIC_BUCKET_MS : r);
}

static size_t s_slot(long long start_ms)
{
    long long i = (start_ms / TRAFFIC_BUCKET_MS) % TRAFFIC_BUCKETS;
    return (size_t)(i < 0 ? i + TRAFFIC_BUCKETS : i);
}

traffic_t *traffic_new(long long now_ms)
{
    traffic_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->born_ms = s_align(now_ms);
    for (size_t i = 0; i < TRAFFIC_BUCKETS; i++)
        self->buckets[i].start_ms = -1;
    snprintf(self->kinds[TRAFFIC_MAX_KINDS - 1], sizeof self->kinds[0], "%s", TRAFFIC_OTHER);
    return self;
}

void traffic_destroy(traffic_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

int traffic_ttfb_bin(long long ttfb_ms)
{
    if (ttfb_ms < 1)
        return 0;
    /* floor(4 * log2(ms)) + 1, exactly at the powers of 2^(1/4) */
    int k = (int)floor(4.0 * log2((double)ttfb_ms) + 1e-9) + 1;
    return k >= TRAFFIC_TTFB_BINS ? TRAFFIC_TTFB_BINS - 1 : k;
}

double traffic_ttfb_mid(int bin)
{
    if (bin <= 0)
        return 0.5;
    return exp2(((double)bin - 0.5) / 4.0);
}

/*  The index of a kind's name: interned while there is room, else "other". */
static size_t s_kind(traffic_t *self, const char *kind)
{
    size_t len = strlen(kind);
    bool ok = len > 0 && len <= TRAFFIC_KIND_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (kind[i] >= 'a' && kind[i] <= 'z') || (kind[i] >= '0' && kind[i] <= '9') ||
             kind[i] == '_';
    if (!ok)
        return TRAFFIC_MAX_KINDS - 1;
    for (size_t i = 0; i < self->n_kinds; i++)
        if (strcmp(self->kinds[i], kind) == 0)
            return i;
    if (strcmp(kind, TRAFFIC_OTHER) == 0 || self->n_kinds == TRAFFIC_MAX_KINDS - 1)
        return TRAFFIC_MAX_KINDS - 1;
    memcpy(self->kinds[self->n_kinds], kind, len + 1);
    return self->n_kinds++;
}

void traffic_record(traffic_t *self, long long now_ms, const char *error, long long ttfb_ms)
{
    long long start = s_align(now_ms);
    s_bucket_t *b = &self->buckets[s_slot(start)];
    if (b->start_ms != start) { /* an hour old (or a clock stepped back): reused */
        memset(b, 0, sizeof *b);
        b->start_ms = start;
    }
    if (b->requests < UINT32_MAX)
        b->requests++;
    if (error) {
        uint32_t *e = &b->errors[s_kind(self, error)];
        if (*e < UINT32_MAX)
            (*e)++;
    }
    if (ttfb_ms < 0 || b->ttfb_n == UINT32_MAX)
        return;
    if (b->ttfb_n == 0 || ttfb_ms < b->ttfb_min)
        b->ttfb_min = ttfb_ms;
    if (b->ttfb_n == 0 || ttfb_ms > b->ttfb_max)
        b->ttfb_max = ttfb_ms;
    b->ttfb_n++;
    b->ttfb[traffic_ttfb_bin(ttfb_ms)]++;
}

int traffic_query_parse(const char *const *names, const char *const *values, size_t n,
                        long long *since_ms, openai_error_t *err)
{
    *since_ms = -1;
    bool seen = false;
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i] ? names[i] : "";
        const char *v = values[i] ? values[i] : "";
        if (strcmp(name, "since") != 0) {
            openai_error_set(err, "invalid_request", name[0] ? name : "query",
                             "unknown parameter '%.60s': GET /mesh/traffic takes since=MS", name);
            return -1;
        }
        if (seen) {
            openai_error_set(err, "invalid_request", "since", "parameter 'since' given twice");
            return -1;
        }
        seen = true;
        char *end = NULL;
        errno = 0;
        long long ms = strtoll(v, &end, 10);
        if (!(v[0] >= '0' && v[0] <= '9') || *end || errno || ms > S_MAX_SINCE) {
            openai_error_set(err, "invalid_request", "since",
                             "since must be unix milliseconds (an integer from 0 to 2^53), "
                             "not '%.40s'",
                             v);
            return -1;
        }
        *since_ms = ms;
    }
    return 0;
}

/*  A merged view of some buckets: what one JSON entry says. */
typedef struct {
    unsigned long long requests;
    unsigned long long errors[TRAFFIC_MAX_KINDS];
    unsigned long long ttfb_n;
    long long ttfb_min, ttfb_max;
    unsigned long long ttfb[TRAFFIC_TTFB_BINS];
} s_sum_t;

static void s_add(s_sum_t *s, const s_bucket_t *b)
{
    s->requests += b->requests;
    for (size_t k = 0; k < TRAFFIC_MAX_KINDS; k++)
        s->errors[k] += b->errors[k];
    if (b->ttfb_n == 0)
        return;
    if (s->ttfb_n == 0 || b->ttfb_min < s->ttfb_min)
        s->ttfb_min = b->ttfb_min;
    if (s->ttfb_n == 0 || b->ttfb_max > s->ttfb_max)
        s->ttfb_max = b->ttfb_max;
    s->ttfb_n += b->ttfb_n;
    for (size_t k = 0; k < TRAFFIC_TTFB_BINS; k++)
        s->ttfb[k] += b->ttfb[k];
}

/*  The nearest-rank quantile (per mille) of the sum's TTFB samples, ms:
    JSON null when there are none. */
static json_t *s_quantile(const s_sum_t *s, unsigned per_mille)
{
    if (s->ttfb_n == 0)
        return json_null();
    unsigned long long rank = (s->ttfb_n * per_mille + 999) / 1000;
    if (rank == 0)
        rank = 1;
    unsigned long long seen = 0;
    int bin = TRAFFIC_TTFB_BINS - 1;
    for (int k = 0; k < TRAFFIC_TTFB_BINS; k++) {
        seen += s->ttfb[k];
        if (seen >= rank) {
            bin = k;
            break;
        }
    }
    double v = traffic_ttfb_mid(bin);
    if (v < (double)s->ttfb_min)
        v = (double)s->ttfb_min;
    if (v > (double)s->ttfb_max)
        v = (double)s->ttfb_max;
    return json_integer((json_int_t)llround(v));
}

/*  The entry of a sum: requests, errors by kind, TTFB p50 and p99. */
static int s_fill(const traffic_t *self, json_t *obj, const s_sum_t *s)
{
    json_t *errors = json_object();
    int rc = json_object_set_new(obj, "requests", json_integer((json_int_t)s->requests));
    rc |= json_object_set_new(obj, "errors", errors);
    for (size_t k = 0; errors && k < TRAFFIC_MAX_KINDS; k++)
        if (s->errors[k])
            rc |=
                json_object_set_new(errors, self->kinds[k], json_integer((json_int_t)s->errors[k]));
    rc |= json_object_set_new(obj, "ttfb_p50_ms", s_quantile(s, 500));
    rc |= json_object_set_new(obj, "ttfb_p99_ms", s_quantile(s, 990));
    return rc || !errors ? -1 : 0;
}

/*  The bucket that starts at start_ms, or NULL when nothing ended in it. */
static const s_bucket_t *s_at(const traffic_t *self, long long start_ms)
{
    const s_bucket_t *b = &self->buckets[s_slot(start_ms)];
    return b->start_ms == start_ms ? b : NULL;
}

int traffic_render(const traffic_t *self, const char *node_id, long long now_ms, long long since_ms,
                   abuf_t *out)
{
    long long cur = s_align(now_ms);
    long long first = cur - (TRAFFIC_BUCKETS - 1) * TRAFFIC_BUCKET_MS;
    if (first < self->born_ms)
        first = self->born_ms;
    if (since_ms >= 0) {
        long long up = s_align(since_ms);
        if (up < since_ms)
            up += TRAFFIC_BUCKET_MS;
        if (up > first)
            first = up;
    }
    json_t *root = json_object();
    json_t *list = json_array();
    json_t *minute = json_object();
    int rc = root && list && minute ? 0 : -1;
    if (rc == 0) {
        rc |= json_object_set_new(root, "object", json_string("traffic"));
        rc |= json_object_set_new(root, "node", json_string(node_id ? node_id : ""));
        rc |= json_object_set_new(root, "bucket_ms", json_integer(TRAFFIC_BUCKET_MS));
        rc |= json_object_set_new(root, "from_ms", json_integer(first));
        rc |= json_object_set_new(root, "to_ms", json_integer(now_ms));
        rc |= json_object_set_new(root, "buckets", json_incref(list));
        rc |= json_object_set_new(root, "last_minute", json_incref(minute));
    }
    for (long long start = first; rc == 0 && start <= cur; start += TRAFFIC_BUCKET_MS) {
        s_sum_t s = {0};
        const s_bucket_t *b = s_at(self, start);
        if (b)
            s_add(&s, b);
        json_t *e = json_object();
        rc |= e ? json_array_append_new(list, e) : -1;
        rc |= e ? json_object_set_new(e, "start_ms", json_integer(start)) : -1;
        rc |= e ? s_fill(self, e, &s) : -1;
    }
    /* the last minute: the newest buckets, not before the node started */
    long long m_from = cur - (TRAFFIC_SUMMARY_BUCKETS - 1) * TRAFFIC_BUCKET_MS;
    if (m_from < self->born_ms)
        m_from = self->born_ms;
    s_sum_t s = {0};
    for (long long start = m_from; start <= cur; start += TRAFFIC_BUCKET_MS) {
        const s_bucket_t *b = s_at(self, start);
        if (b)
            s_add(&s, b);
    }
    if (rc == 0) {
        rc |= json_object_set_new(minute, "from_ms", json_integer(m_from));
        rc |= json_object_set_new(minute, "window_ms",
                                  json_integer(now_ms > m_from ? now_ms - m_from : 0));
        rc |= s_fill(self, minute, &s);
    }
    char *text = rc == 0 ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(list);
    json_decref(minute);
    json_decref(root);
    if (!text)
        return -1;
    rc = abuf_puts(out, text) < 0 ? -1 : 0;
    free(text);
    return rc;
}
