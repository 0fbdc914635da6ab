/*  metrics — see metrics.h. */
#include "node/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MODEL_NONE (-1)
#define S_MODEL_OTHER (-2)
#define S_HISTS (METRICS_ROUTE_COUNT * METRICS_ORIGIN_COUNT * METRICS_SERVED_COUNT)

typedef struct {
    uint8_t route, origin, served;
    int model; /* index into models, or S_MODEL_NONE / S_MODEL_OTHER */
    int status;
    uint64_t n;
} s_series_t;

typedef struct {
    uint64_t buckets[METRICS_BUCKETS]; /* not cumulative: bucket i holds (bound i-1, bound i] */
    uint64_t n;
    uint64_t sum_us;
} s_hist_t;

struct _metrics_t {
    char *models[METRICS_MAX_MODELS];
    size_t n_models;
    s_series_t *series;
    size_t n_series, cap_series;
    s_hist_t ttfb[S_HISTS], duration[S_HISTS];
    uint64_t refusals[METRICS_REFUSAL_COUNT];
    /* tier limit refusals: (tier, window) series */
    struct {
        char tier[40];
        char window[16];
        uint64_t n;
    } limit_refusals[(METRICS_MAX_TIERS + 1) * 5]; /* 5 windows, "other" too */
    size_t n_limit_refusals;
};

static const double s_bounds[METRICS_BUCKETS] = METRICS_BUCKET_BOUNDS;
static const char *const s_route_names[METRICS_ROUTE_COUNT] = {"chat", "responses", "images",
                                                               "forwarded"};
static const char *const s_origin_names[METRICS_ORIGIN_COUNT] = {"client", "peer"};
static const char *const s_served_names[METRICS_SERVED_COUNT] = {"none", "local", "peer"};
static const char *const s_refusal_names[METRICS_REFUSAL_COUNT] = {"cooldown"};
static const char *const s_peer_names[METRICS_PEER_COUNT] = {"alive", "suspect", "unreachable",
                                                             "dead", "left"};

metrics_t *metrics_new(void)
{
    return calloc(1, sizeof(metrics_t));
}

void metrics_destroy(metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics_t *self = *self_p;
    for (size_t i = 0; i < self->n_models; i++)
        free(self->models[i]);
    free(self->series);
    free(self);
    *self_p = NULL;
}

/*  The model's label slot: its index (added while there is room), "other"
    for an unknown name or past the cap, "none" for no name. */
static int s_model(metrics_t *self, const char *model, bool known)
{
    if (!model)
        return S_MODEL_NONE;
    if (!known)
        return S_MODEL_OTHER;
    for (size_t i = 0; i < self->n_models; i++)
        if (strcmp(self->models[i], model) == 0)
            return (int)i;
    if (self->n_models >= METRICS_MAX_MODELS)
        return S_MODEL_OTHER;
    char *copy = strdup(model);
    if (!copy)
        return S_MODEL_OTHER;
    self->models[self->n_models] = copy;
    return (int)self->n_models++;
}

static s_series_t *s_find(metrics_t *self, const s_series_t *key)
{
    for (size_t i = 0; i < self->n_series; i++) {
        s_series_t *s = &self->series[i];
        if (s->route == key->route && s->origin == key->origin && s->served == key->served &&
            s->model == key->model && s->status == key->status)
            return s;
    }
    return NULL;
}

static s_series_t *s_add(metrics_t *self, const s_series_t *key)
{
    if (self->n_series == self->cap_series) {
        size_t cap = self->cap_series ? self->cap_series * 2 : 32;
        s_series_t *grown = realloc(self->series, cap * sizeof *grown);
        if (!grown)
            return NULL;
        self->series = grown;
        self->cap_series = cap;
    }
    s_series_t *s = &self->series[self->n_series++];
    *s = *key;
    s->n = 0;
    return s;
}

static void s_observe(s_hist_t *h, double s)
{
    if (!(s >= 0)) /* NaN too */
        s = 0;
    size_t b = 0;
    while (b < METRICS_BUCKETS && s > s_bounds[b])
        b++;
    if (b < METRICS_BUCKETS)
        h->buckets[b]++;
    h->n++;
    h->sum_us += (uint64_t)llround(s * 1e6);
}

void metrics_request(metrics_t *self, const metrics_request_t *r)
{
    if (!self || r->route >= METRICS_ROUTE_COUNT || r->origin >= METRICS_ORIGIN_COUNT ||
        r->served_by >= METRICS_SERVED_COUNT)
        return;
    s_series_t key = {.route = (uint8_t)r->route,
                      .origin = (uint8_t)r->origin,
                      .served = (uint8_t)r->served_by,
                      .model = s_model(self, r->model, r->model_known),
                      .status = r->status};
    s_series_t *s = s_find(self, &key);
    if (!s && self->n_series >= METRICS_MAX_SERIES && key.model >= 0) {
        key.model = S_MODEL_OTHER; /* full: the model folds, the rest is bounded */
        s = s_find(self, &key);
    }
    if (!s)
        s = s_add(self, &key);
    if (s)
        s->n++;
    size_t h =
        ((size_t)r->route * METRICS_ORIGIN_COUNT + r->origin) * METRICS_SERVED_COUNT + r->served_by;
    if (r->ttfb_s >= 0)
        s_observe(&self->ttfb[h], r->ttfb_s);
    s_observe(&self->duration[h], r->duration_s);
}

void metrics_refusal(metrics_t *self, metrics_refusal_t reason)
{
    if (self && reason < METRICS_REFUSAL_COUNT)
        self->refusals[reason]++;
}

/* ---- the renderer ---- */

int metrics_label_escape(abuf_t *out, const char *s)
{
    for (; *s; s++) {
        int rc;
        if (*s == '\\')
            rc = abuf_puts(out, "\\\\");
        else if (*s == '"')
            rc = abuf_puts(out, "\\\"");
        else if (*s == '\n')
            rc = abuf_puts(out, "\\n");
        else
            rc = abuf_append(out, s, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int s_family(abuf_t *out, const char *name, const char *type, const char *help)
{
    return abuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type) < 0 ? -1 : 0;
}

/*  `name{label="value"} v` for one fixed (escaped-safe) label. */
static int s_one(abuf_t *out, const char *name, const char *label, const char *value, uint64_t v)
{
    if (!label)
        return abuf_printf(out, "%s %" PRIu64 "\n", name, v) < 0 ? -1 : 0;
    if (abuf_printf(out, "%s{%s=\"", name, label) < 0 || metrics_label_escape(out, value) < 0)
        return -1;
    return abuf_printf(out, "\"} %" PRIu64 "\n", v) < 0 ? -1 : 0;
}

static int s_gauge(abuf_t *out, const char *name, const char *help, uint64_t v)
{
    return s_family(out, name, "gauge", help) < 0 || s_one(out, name, NULL, NULL, v) < 0 ? -1 : 0;
}

static const char *s_model_name(const metrics_t *self, int model)
{
    if (model == S_MODEL_NONE)
        return "none";
    if (model == S_MODEL_OTHER || model < 0 || (size_t)model >= self->n_models)
        return "other";
    return self->models[model];
}

static int s_requests(const metrics_t *self, abuf_t *out)
{
    if (s_family(out, "arena_requests_total", "counter",
                 "API requests answered, by route, model, HTTP status, origin (client or "
                 "peer) and where they ran (served_by: local, peer, none)") < 0)
        return -1;
    for (size_t i = 0; i < self->n_series; i++) {
        const s_series_t *s = &self->series[i];
        if (abuf_printf(out, "arena_requests_total{route=\"%s\",model=\"",
                        s_route_names[s->route]) < 0 ||
            metrics_label_escape(out, s_model_name(self, s->model)) < 0 ||
            abuf_printf(out, "\",status=\"%d\",origin=\"%s\",served_by=\"%s\"} %" PRIu64 "\n",
                        s->status, s_origin_names[s->origin], s_served_names[s->served], s->n) < 0)
            return -1;
    }
    return 0;
}

static int s_histogram(abuf_t *out, const char *name, const char *help, const s_hist_t *hists)
{
    if (s_family(out, name, "histogram", help) < 0)
        return -1;
    for (size_t h = 0; h < S_HISTS; h++) {
        const s_hist_t *x = &hists[h];
        if (x->n == 0)
            continue;
        size_t served = h % METRICS_SERVED_COUNT;
        size_t origin = h / METRICS_SERVED_COUNT % METRICS_ORIGIN_COUNT;
        size_t route = h / METRICS_SERVED_COUNT / METRICS_ORIGIN_COUNT;
        char labels[128];
        snprintf(labels, sizeof labels, "route=\"%s\",origin=\"%s\",served_by=\"%s\"",
                 s_route_names[route], s_origin_names[origin], s_served_names[served]);
        uint64_t cum = 0;
        for (size_t b = 0; b < METRICS_BUCKETS; b++) {
            cum += x->buckets[b];
            if (abuf_printf(out, "%s_bucket{%s,le=\"%g\"} %" PRIu64 "\n", name, labels, s_bounds[b],
                            cum) < 0)
                return -1;
        }
        if (abuf_printf(out, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, x->n) < 0 ||
            abuf_printf(out, "%s_sum{%s} %" PRIu64 ".%06" PRIu64 "\n", name, labels,
                        x->sum_us / 1000000, x->sum_us % 1000000) < 0 ||
            abuf_printf(out, "%s_count{%s} %" PRIu64 "\n", name, labels, x->n) < 0)
            return -1;
    }
    return 0;
}

static int s_gauges(abuf_t *out, const metrics_gauges_t *g)
{
    if (s_gauge(out, "arena_tabs_connected", "browser tabs connected to this node",
                g->tabs_connected) < 0 ||
        s_gauge(out, "arena_tabs_healthy", "connected tabs that are not challenged",
                g->tabs_healthy) < 0 ||
        s_gauge(out, "arena_tab_slots",
                "fetches the healthy tabs may run at once (--tab-jobs each)", g->tab_slots) < 0 ||
        s_gauge(out, "arena_tab_fetches", "fetches running in this node's tabs", g->tab_fetches) <
            0 ||
        s_family(out, "arena_cooldowns_active", "gauge",
                 "cooldowns running on this node, by model (\"*\": the whole node)") < 0)
        return -1;
    for (size_t i = 0; i < g->n_cooldowns; i++)
        if (s_one(out, "arena_cooldowns_active", "model", g->cooldowns[i].model,
                  g->cooldowns[i].n) < 0)
            return -1;
    if (s_gauge(out, "arena_accounts", "LMArena accounts of the connected tabs", g->accounts) < 0 ||
        s_gauge(out, "arena_accounts_paced", "accounts waiting for their pace slot now",
                g->accounts_paced) < 0 ||
        s_gauge(out, "arena_accounts_flagged", "accounts resting after LMArena flagged them",
                g->accounts_flagged) < 0 ||
        s_gauge(out, "arena_queue_depth", "requests waiting for a free target", g->queue_depth) <
            0 ||
        s_family(out, "arena_requests_in_flight", "gauge",
                 "requests running now, by origin (client: this node's, peer: run for peers)") < 0)
        return -1;
    for (size_t o = 0; o < METRICS_ORIGIN_COUNT; o++)
        if (s_one(out, "arena_requests_in_flight", "origin", s_origin_names[o], g->in_flight[o]) <
            0)
            return -1;
    if (s_family(out, "arena_mesh_peers", "gauge", "mesh peers this node knows, by state") < 0)
        return -1;
    for (size_t s = 0; s < METRICS_PEER_COUNT; s++)
        if (s_one(out, "arena_mesh_peers", "state", s_peer_names[s], g->peers[s]) < 0)
            return -1;
    if (s_family(out, "arena_mesh_messages_total", "counter",
                 "mesh messages (gossip, probes, forwarding) decoded in and handed out") < 0 ||
        s_one(out, "arena_mesh_messages_total", "direction", "in", g->mesh_msgs_in) < 0 ||
        s_one(out, "arena_mesh_messages_total", "direction", "out", g->mesh_msgs_out) < 0 ||
        s_family(out, "arena_mesh_bytes_total", "counter",
                 "mesh message bytes received and sent (no framing, no TCP)") < 0 ||
        s_one(out, "arena_mesh_bytes_total", "direction", "in", g->mesh_bytes_in) < 0 ||
        s_one(out, "arena_mesh_bytes_total", "direction", "out", g->mesh_bytes_out) < 0 ||
        s_family(out, "arena_mesh_messages_refused_total", "counter",
                 "mesh messages or handshakes refused, by reason") < 0 ||
        s_one(out, "arena_mesh_messages_refused_total", "reason", "malformed", g->mesh_malformed) <
            0 ||
        s_one(out, "arena_mesh_messages_refused_total", "reason", "forged", g->mesh_forged) < 0 ||
        s_one(out, "arena_mesh_messages_refused_total", "reason", "dropped", g->mesh_dropped) < 0 ||
        s_one(out, "arena_mesh_messages_refused_total", "reason", "curve_rejected",
              g->mesh_curve_rejected) < 0 ||
        s_family(out, "arena_mesh_records_total", "counter",
                 "replicated records (keys, tiers): applied (a table's merge took them), "
                 "refused (invalid, unknown table, or a version far ahead), sent") < 0 ||
        s_one(out, "arena_mesh_records_total", "outcome", "applied", g->mesh_records_applied) < 0 ||
        s_one(out, "arena_mesh_records_total", "outcome", "refused", g->mesh_records_refused) < 0 ||
        s_one(out, "arena_mesh_records_total", "outcome", "sent", g->mesh_records_sent) < 0)
        return -1;
    return 0;
}

/*  The series of (tier, window), added when absent (NULL: no room). */
static uint64_t *s_limit_series(metrics_t *self, const char *tier, const char *window)
{
    size_t cap = sizeof self->limit_refusals / sizeof self->limit_refusals[0];
    for (size_t i = 0; i < self->n_limit_refusals; i++)
        if (strcmp(self->limit_refusals[i].tier, tier) == 0 &&
            strcmp(self->limit_refusals[i].window, window) == 0)
            return &self->limit_refusals[i].n;
    if (self->n_limit_refusals >= cap)
        return NULL;
    size_t i = self->n_limit_refusals++;
    snprintf(self->limit_refusals[i].tier, sizeof self->limit_refusals[i].tier, "%s", tier);
    snprintf(self->limit_refusals[i].window, sizeof self->limit_refusals[i].window, "%s", window);
    self->limit_refusals[i].n = 0;
    return &self->limit_refusals[i].n;
}

void metrics_limit_refusal(metrics_t *self, const char *tier, const char *window)
{
    if (!self || !tier || !window)
        return;
    /* a tier not seen yet, past METRICS_MAX_TIERS distinct ones: "other" */
    size_t tiers = 0;
    bool seen = false;
    for (size_t i = 0; i < self->n_limit_refusals && !seen; i++) {
        seen = strcmp(self->limit_refusals[i].tier, tier) == 0;
        bool first = true;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(self->limit_refusals[k].tier, self->limit_refusals[i].tier) != 0;
        tiers += first;
    }
    if (!seen && tiers >= METRICS_MAX_TIERS)
        tier = "other";
    uint64_t *n = s_limit_series(self, tier, window);
    if (n)
        (*n)++;
}

int metrics_render(const metrics_t *self, const metrics_gauges_t *g, abuf_t *out)
{
    if (s_requests(self, out) < 0 ||
        s_histogram(out, "arena_request_ttfb_seconds",
                    "time from a request's arrival to the first byte of its answer (the headers)",
                    self->ttfb) < 0 ||
        s_histogram(out, "arena_request_duration_seconds",
                    "time from a request's arrival to the end of its answer", self->duration) < 0 ||
        s_family(out, "arena_limit_refusals_total", "counter",
                 "requests refused 429 rate_limited, by reason (cooldown, or the window of a "
                 "key's tier that refused: minute, hour, day, tokens, concurrent) and tier") < 0)
        return -1;
    for (size_t r = 0; r < METRICS_REFUSAL_COUNT; r++)
        if (s_one(out, "arena_limit_refusals_total", "reason", s_refusal_names[r],
                  self->refusals[r]) < 0)
            return -1;
    for (size_t i = 0; i < self->n_limit_refusals; i++)
        if (abuf_printf(out, "arena_limit_refusals_total{reason=\"%s\",tier=\"",
                        self->limit_refusals[i].window) < 0 ||
            metrics_label_escape(out, self->limit_refusals[i].tier) < 0 ||
            abuf_printf(out, "\"} %" PRIu64 "\n", self->limit_refusals[i].n) < 0)
            return -1;
    return s_gauges(out, g);
}
