/*  usage — what every request cost, recorded where it entered the mesh
    (issue #11, item 4; docs/usage.md). The node that admitted a client's
    request records it when it ends: key name, model, serving node, prompt
    and completion tokens (LMArena's own usage when the stream carried it,
    else an estimate, marked), time to first byte, duration, status and a
    cost from the price table. A node that served a forwarded request
    records nothing (its origin does), so a request is counted once.

    Two tables in the store:
      usage_rows     one raw row per request, local only, kept `keep_days`
                     (--usage-keep) and pruned at start-up and hourly;
      usage_rollups  per origin node × key × model × hour: sums of the rows,
                     kept `rollup_keep_days` (--usage-rollup-keep). A rollup
                     is a replicable record (usage_rollup_t): its key is
                     (origin, key, model, hour), its version the unix ms of
                     its last update (only its origin updates it, so its
                     counters only grow), usage_rollup_merge decides which
                     copy wins and usage_rollup_encode/decode give its bytes.
                     usage_rollup_apply stores a copy from another node by
                     that rule; GET /v1/usage sums the rollups of every
                     origin the node holds.

    Recording is cheap on the request path: usage_record appends to a
    pending batch in memory; the batch is written in one transaction by
    usage_flush (a loop timer every USAGE_FLUSH_MS, at USAGE_BATCH_MAX rows,
    before a query and at destroy). Owned by the node thread. */
#ifndef ARENA_USAGE_H
#define ARENA_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/store.h"
#include "node/tiers.h"
#include "protocol/abuf.h"
#include "protocol/openai.h"

#define USAGE_KEY_MAX 64    /* a key name (keys_name_ok), "-" for no key */
#define USAGE_MODEL_MAX 200 /* a model name */
#define USAGE_NODE_MAX 64   /* a node id */
#define USAGE_HOUR_MS 3600000LL
#define USAGE_DAY_MS 86400000LL
#define USAGE_NO_KEY "-"     /* the key name of a request on a node without keys */
#define USAGE_FLUSH_MS 1000  /* the pending batch is written at least this often */
#define USAGE_BATCH_MAX 512  /* … or when it holds this many rows */
#define USAGE_PRICES_MAX 256 /* models in the price table */
#define USAGE_ROLLUP_WIRE_MAX                                                                      \
    (1 + 8 + 3 * 2 + USAGE_NODE_MAX + USAGE_KEY_MAX + USAGE_MODEL_MAX + 10 * 8)
#define USAGE_ROLLUP_VERSION 1 /* first byte of the encoding */

/*  One request. */
typedef struct {
    char key[USAGE_KEY_MAX + 1];
    char model[USAGE_MODEL_MAX + 1];    /* "" when none was read */
    char served_by[USAGE_NODE_MAX + 1]; /* node id of the last attempt; "" none ran */
    long long at_ms;                    /* unix ms when it ended */
    int status;                         /* HTTP status the client got (499: left) */
    long long prompt_tokens, completion_tokens;
    bool estimated;    /* the tokens are this node's estimate, not LMArena's */
    long long ttfb_ms; /* -1: no byte went */
    long long duration_ms;
    long long cost_nusd; /* cost in billionths of a US dollar (filled by usage_record) */
} usage_row_t;

/*  The sums of one origin × key × model × hour: the replicated record. */
typedef struct {
    char origin[USAGE_NODE_MAX + 1];
    char key[USAGE_KEY_MAX + 1];
    char model[USAGE_MODEL_MAX + 1];
    long long hour_ms;          /* start of the hour, unix ms (a multiple of USAGE_HOUR_MS) */
    long long version_ms;       /* unix ms of its last update (strictly increasing per record) */
    long long requests, errors; /* errors: a status >= 400 (499 included) */
    long long prompt_tokens, completion_tokens;
    long long estimated; /* requests whose tokens are estimates */
    long long cost_nusd;
    long long ttfb_ms_sum, ttfb_count; /* requests that had a first byte */
    long long duration_ms_sum;
} usage_rollup_t;

/*  The price of a model, US dollars per million tokens. */
typedef struct {
    char model[USAGE_MODEL_MAX + 1];
    double prompt, completion;
} usage_price_t;

typedef struct _usage_meter_t usage_meter_t;

typedef struct {
    store_t *store;            /* borrowed */
    const char *node_id;       /* this node's id: the origin of its rollups */
    int keep_days;             /* raw rows (--usage-keep) */
    int rollup_keep_days;      /* rollups (--usage-rollup-keep) */
    const char *const *prices; /* "MODEL=PROMPT/COMPLETION" each (--price); may be NULL */
    size_t n_prices;
} usage_config_t;

/*  NULL on a bad argument (a malformed price: see usage_price_parse) or
    out of memory. Prunes both tables. */
usage_meter_t *usage_new(const usage_config_t *cfg);
/*  Flushes what is pending, then frees. */
void usage_destroy(usage_meter_t **self_p);

/*  "MODEL=PROMPT/COMPLETION": US dollars per million prompt and completion
    tokens, each a decimal number 0..1000000 (the last '=' splits, so a
    model name may hold one). 0, or -1. */
int usage_price_parse(const char *s, usage_price_t *out);
/*  The cost of tokens at a price, in billionths of a dollar (rounded). */
long long usage_cost_nusd(const usage_price_t *price, long long prompt_tokens,
                          long long completion_tokens);
/*  The price of a model (NULL: unknown, it costs 0). */
const usage_price_t *usage_price(const usage_meter_t *self, const char *model);

/*  Records one request (row->cost_nusd is computed here): kept pending, its
    rollup updated in memory; written by the next flush. 0, or -1 (a field
    over-long or memory). */
int usage_record(usage_meter_t *self, const usage_row_t *row);
/*  Writes what is pending in one transaction. Rows written, or -1 (the
    batch is kept for the next try, up to 4 × USAGE_BATCH_MAX rows). */
int usage_flush(usage_meter_t *self);
/*  Rows waiting for the flush. */
size_t usage_pending(const usage_meter_t *self);
/*  Deletes rows and rollups past their retention at now_ms. Rows deleted
    (both tables), or -1. */
int usage_prune(usage_meter_t *self, long long now_ms);

/*  The replication rule: >0 when a should replace b, <0 when b wins, 0 the
    same. The greater version_ms wins; at the same version (a race that
    cannot happen for one origin, which bumps its version at least 1 ms
    per update) the greater requests count, then the greater encoding. */
int usage_rollup_cmp(const usage_rollup_t *a, const usage_rollup_t *b);
/*  Merges incoming into *have (same record key assumed): true when *have
    changed. */
bool usage_rollup_merge(usage_rollup_t *have, const usage_rollup_t *incoming);
/*  Bytes of a record: a version byte, then the numbers as big-endian
    int64 and the strings length-prefixed (2 bytes). Bytes written (at most
    USAGE_ROLLUP_WIRE_MAX), or 0 when cap is too small or a field bad. */
size_t usage_rollup_encode(const usage_rollup_t *r, uint8_t *out, size_t cap);
/*  Strict: the whole buffer, lengths in range, names of printable bytes,
    counters >= 0, hour aligned. 0, or -1. */
int usage_rollup_decode(const uint8_t *buf, size_t len, usage_rollup_t *out);
/*  A record from another node (or this one): stored when it wins by
    usage_rollup_cmp over the stored copy. 1 stored, 0 ignored, -1 bad or
    store failure. A copy with this node's own origin is ignored (this node
    is the only writer of its rollups). */
int usage_rollup_apply(usage_meter_t *self, const usage_rollup_t *r);
/*  The stored rollup of (origin, key, model, hour_ms) after a flush. 0,
    or -1 (none, or the store failed). */
int usage_rollup_get(usage_meter_t *self, const char *origin, const char *key, const char *model,
                     long long hour_ms, usage_rollup_t *out);
/*  Every stored rollup updated at or after since_version_ms (for the
    replication layer's anti-entropy), in (origin, key, model, hour) order.
    The caller frees *out. 0, or -1. */
int usage_rollups_since(usage_meter_t *self, long long since_version_ms, usage_rollup_t **out,
                        size_t *n);

/*  GET /v1/usage's parameters. */
typedef enum { USAGE_RANGE_DAY = 0, USAGE_RANGE_WEEK, USAGE_RANGE_MONTH } usage_range_t;

typedef struct {
    usage_range_t range;
    bool details;
    char key[USAGE_KEY_MAX + 1]; /* ?key=: "" all (admin only) */
    bool has_key;
} usage_query_t;

/*  The query's parameters as name/value pairs (decoded): range=day|week|
    month (default day), details=true|false (default false), key=NAME (a
    key name; only when admin). Each at most once; any other name is
    refused. 0, or -1 with err (400, error.param naming the parameter). */
int usage_query_parse(const char *const *names, const char *const *values, size_t n, bool admin,
                      usage_query_t *out, openai_error_t *err);

/*  What is left of a key's limits: filled by the mesh-wide limits
    (node/limits.h) when connected; without it "remaining" is null. */
typedef struct {
    long long per_minute, per_hour, per_day; /* requests left; -1: no limit */
    long long tokens_per_day;                /* tokens left; -1: no limit */
} usage_remaining_t;

/*  A key the answer covers: its name and tier (NULL: no tier, the
    node's "-"). */
typedef struct {
    const char *name;
    const char *tier;
} usage_subject_t;

typedef struct {
    const usage_query_t *q;
    long long now_ms;
    /* the keys answered; with all_keys, every key that has rollups in the
       range is added (subjects name those with a tier) */
    const usage_subject_t *subjects;
    size_t n_subjects;
    bool all_keys;
    const tiers_t *tiers; /* the tier table: a subject's limits */
    /* optional (NULL: "remaining": null): the key's remaining limits.
       Returns 0 when *out is filled. */
    int (*remaining)(void *arg, const char *key, const tier_t *tier, usage_remaining_t *out);
    void *arg;
} usage_report_t;

/*  The answer of GET /v1/usage (docs/usage.md): flushes, sums the rollups
    of every origin in the range, and writes the JSON into out. 0, or -1. */
int usage_render(usage_meter_t *self, const usage_report_t *rep, abuf_t *out);

/*  Token estimate of a text: ceil(shape_estimate_quarters / 4). */
long long usage_estimate_tokens(const char *text, size_t len);

#endif
