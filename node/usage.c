/*  usage — see usage.h. */
#include "node/usage.h"

#include <czmq.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/shape.h"

#define S_PENDING_MAX (4 * USAGE_BATCH_MAX) /* rows kept while the store fails */

struct _usage_meter_t {
    store_t *store;
    sqlite3 *db;
    char node_id[USAGE_NODE_MAX + 1];
    int keep_days, rollup_keep_days;
    usage_price_t *prices;
    size_t n_prices;
    usage_row_t *rows; /* pending */
    size_t n_rows, cap_rows;
    usage_rollup_t *deltas; /* pending additions to this node's rollups */
    size_t n_deltas, cap_deltas;
    sqlite3_stmt *ins_row, *add_rollup;
    sqlite3_stmt *get_rollup, *put_rollup; /* usage_rollup_apply's, prepared at first use */
};

/* ---- prices ------------------------------------------------------------ */

static int s_price_number(const char *s, size_t n, double *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.'))
            return -1;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (!end || *end || !isfinite(v) || v < 0 || v > 1000000)
        return -1;
    *out = v;
    return 0;
}

int usage_price_parse(const char *s, usage_price_t *out)
{
    if (!s || !out)
        return -1;
    const char *eq = strrchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) > USAGE_MODEL_MAX)
        return -1;
    const char *slash = strchr(eq + 1, '/');
    if (!slash)
        return -1;
    for (const char *p = s; p < eq; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f)
            return -1;
    usage_price_t p = {0};
    memcpy(p.model, s, (size_t)(eq - s));
    if (s_price_number(eq + 1, (size_t)(slash - eq - 1), &p.prompt) != 0 ||
        s_price_number(slash + 1, strlen(slash + 1), &p.completion) != 0)
        return -1;
    *out = p;
    return 0;
}

long long usage_cost_nusd(const usage_price_t *price, long long prompt_tokens,
                          long long completion_tokens)
{
    if (!price)
        return 0;
    /* dollars per million tokens = thousandths of a nano-dollar per token */
    double n = (double)(prompt_tokens > 0 ? prompt_tokens : 0) * price->prompt * 1000.0 +
               (double)(completion_tokens > 0 ? completion_tokens : 0) * price->completion * 1000.0;
    return (long long)llround(n);
}

const usage_price_t *usage_price(const usage_meter_t *self, const char *model)
{
    for (size_t i = 0; self && model && i < self->n_prices; i++)
        if (strcmp(self->prices[i].model, model) == 0)
            return &self->prices[i];
    return NULL;
}

long long usage_estimate_tokens(const char *text, size_t len)
{
    return (long long)((shape_estimate_quarters(text, len) + 3) / 4);
}

/* ---- life -------------------------------------------------------------- */

static int s_fail(usage_meter_t *self, const char *what)
{
    alog_warn("usage: %s: %s", what, sqlite3_errmsg(self->db));
    return -1;
}

usage_meter_t *usage_new(const usage_config_t *cfg)
{
    if (!cfg || !cfg->store || !cfg->node_id || !cfg->node_id[0] ||
        strlen(cfg->node_id) > USAGE_NODE_MAX || cfg->keep_days < 1 || cfg->rollup_keep_days < 1 ||
        cfg->n_prices > USAGE_PRICES_MAX)
        return NULL;
    usage_meter_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = cfg->store;
    self->db = store_sqlite(cfg->store);
    strcpy(self->node_id, cfg->node_id);
    self->keep_days = cfg->keep_days;
    self->rollup_keep_days = cfg->rollup_keep_days;
    if (cfg->n_prices) {
        self->prices = calloc(cfg->n_prices, sizeof *self->prices);
        if (!self->prices) {
            usage_destroy(&self);
            return NULL;
        }
    }
    for (size_t i = 0; i < cfg->n_prices; i++) {
        usage_price_t p;
        if (usage_price_parse(cfg->prices[i], &p) != 0) {
            alog_error("usage: bad price \"%.100s\" (MODEL=PROMPT/COMPLETION)", cfg->prices[i]);
            usage_destroy(&self);
            return NULL;
        }
        usage_price_t *have = (usage_price_t *)usage_price(self, p.model);
        if (have)
            *have = p; /* the last one of a model wins */
        else
            self->prices[self->n_prices++] = p;
    }
    if (sqlite3_prepare_v2(self->db,
                           "INSERT INTO usage_rows (at_ms, key, model, served_by, status,"
                           " prompt_tokens, completion_tokens, estimated, ttfb_ms, duration_ms,"
                           " cost_nusd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, &self->ins_row, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            self->db,
            "INSERT INTO usage_rollups (origin, key, model, hour_ms, version_ms, requests,"
            " errors, prompt_tokens, completion_tokens, estimated, cost_nusd, ttfb_ms_sum,"
            " ttfb_count, duration_ms_sum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
            " ?11, ?12, ?13, ?14) ON CONFLICT (origin, key, model, hour_ms) DO UPDATE SET"
            " version_ms = max(version_ms + 1, excluded.version_ms),"
            " requests = requests + excluded.requests, errors = errors + excluded.errors,"
            " prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
            " completion_tokens = completion_tokens + excluded.completion_tokens,"
            " estimated = estimated + excluded.estimated,"
            " cost_nusd = cost_nusd + excluded.cost_nusd,"
            " ttfb_ms_sum = ttfb_ms_sum + excluded.ttfb_ms_sum,"
            " ttfb_count = ttfb_count + excluded.ttfb_count,"
            " duration_ms_sum = duration_ms_sum + excluded.duration_ms_sum",
            -1, &self->add_rollup, NULL) != SQLITE_OK) {
        s_fail(self, "prepare");
        usage_destroy(&self);
        return NULL;
    }
    usage_prune(self, zclock_time());
    return self;
}

void usage_destroy(usage_meter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    usage_meter_t *self = *self_p;
    if (self->ins_row && self->add_rollup)
        usage_flush(self);
    sqlite3_finalize(self->ins_row);
    sqlite3_finalize(self->add_rollup);
    sqlite3_finalize(self->get_rollup);
    sqlite3_finalize(self->put_rollup);
    free(self->prices);
    free(self->rows);
    free(self->deltas);
    free(self);
    *self_p = NULL;
}

/* ---- recording --------------------------------------------------------- */

static bool s_name_ok(const char *s, size_t max, bool empty_ok)
{
    size_t n = strnlen(s, max + 1);
    if (n > max || (n == 0 && !empty_ok))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

static long long s_hour(long long ms)
{
    return ms - ((ms % USAGE_HOUR_MS) + USAGE_HOUR_MS) % USAGE_HOUR_MS;
}

int usage_record(usage_meter_t *self, const usage_row_t *row)
{
    if (!self || !row || !s_name_ok(row->key, USAGE_KEY_MAX, false) ||
        !s_name_ok(row->model, USAGE_MODEL_MAX, true) ||
        !s_name_ok(row->served_by, USAGE_NODE_MAX, true))
        return -1;
    if (self->n_rows >= S_PENDING_MAX) {
        alog_warn_rl("usage: %zu rows wait for the store: a request was not recorded",
                     self->n_rows);
        return -1;
    }
    if (self->n_rows == self->cap_rows) {
        size_t cap = self->cap_rows ? self->cap_rows * 2 : 64;
        usage_row_t *grown = realloc(self->rows, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->rows = grown;
        self->cap_rows = cap;
    }
    long long hour = s_hour(row->at_ms);
    usage_rollup_t *d = NULL;
    for (size_t i = 0; i < self->n_deltas && !d; i++)
        if (self->deltas[i].hour_ms == hour && strcmp(self->deltas[i].key, row->key) == 0 &&
            strcmp(self->deltas[i].model, row->model) == 0)
            d = &self->deltas[i];
    if (!d) {
        if (self->n_deltas == self->cap_deltas) {
            size_t cap = self->cap_deltas ? self->cap_deltas * 2 : 16;
            usage_rollup_t *grown = realloc(self->deltas, cap * sizeof *grown);
            if (!grown)
                return -1;
            self->deltas = grown;
            self->cap_deltas = cap;
        }
        d = &self->deltas[self->n_deltas++];
        memset(d, 0, sizeof *d);
        strcpy(d->origin, self->node_id);
        strcpy(d->key, row->key);
        strcpy(d->model, row->model);
        d->hour_ms = hour;
    }
    usage_row_t *r = &self->rows[self->n_rows++];
    *r = *row;
    r->cost_nusd =
        usage_cost_nusd(usage_price(self, row->model), row->prompt_tokens, row->completion_tokens);
    d->requests++;
    d->errors += row->status >= 400;
    d->prompt_tokens += row->prompt_tokens > 0 ? row->prompt_tokens : 0;
    d->completion_tokens += row->completion_tokens > 0 ? row->completion_tokens : 0;
    d->estimated += row->estimated;
    d->cost_nusd += r->cost_nusd;
    if (row->ttfb_ms >= 0) {
        d->ttfb_ms_sum += row->ttfb_ms;
        d->ttfb_count++;
    }
    d->duration_ms_sum += row->duration_ms > 0 ? row->duration_ms : 0;
    if (self->n_rows >= USAGE_BATCH_MAX)
        usage_flush(self);
    return 0;
}

size_t usage_pending(const usage_meter_t *self)
{
    return self ? self->n_rows : 0;
}

static int s_exec(usage_meter_t *self, const char *sql)
{
    return sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : s_fail(self, sql);
}

static int s_step(usage_meter_t *self, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : s_fail(self, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int s_write_row(usage_meter_t *self, const usage_row_t *r)
{
    sqlite3_stmt *st = self->ins_row;
    sqlite3_bind_int64(st, 1, r->at_ms);
    sqlite3_bind_text(st, 2, r->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->served_by, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, r->status);
    sqlite3_bind_int64(st, 6, r->prompt_tokens);
    sqlite3_bind_int64(st, 7, r->completion_tokens);
    sqlite3_bind_int(st, 8, r->estimated);
    sqlite3_bind_int64(st, 9, r->ttfb_ms);
    sqlite3_bind_int64(st, 10, r->duration_ms);
    sqlite3_bind_int64(st, 11, r->cost_nusd);
    return s_step(self, st, "write a usage row");
}

static void s_bind_rollup(sqlite3_stmt *st, const usage_rollup_t *d)
{
    sqlite3_bind_text(st, 1, d->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, d->hour_ms);
    sqlite3_bind_int64(st, 5, d->version_ms);
    sqlite3_bind_int64(st, 6, d->requests);
    sqlite3_bind_int64(st, 7, d->errors);
    sqlite3_bind_int64(st, 8, d->prompt_tokens);
    sqlite3_bind_int64(st, 9, d->completion_tokens);
    sqlite3_bind_int64(st, 10, d->estimated);
    sqlite3_bind_int64(st, 11, d->cost_nusd);
    sqlite3_bind_int64(st, 12, d->ttfb_ms_sum);
    sqlite3_bind_int64(st, 13, d->ttfb_count);
    sqlite3_bind_int64(st, 14, d->duration_ms_sum);
}

int usage_flush(usage_meter_t *self)
{
    if (!self)
        return -1;
    if (self->n_rows == 0)
        return 0;
    if (s_exec(self, "BEGIN") != 0)
        return -1;
    long long now = zclock_time();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->n_rows; i++)
        rc = s_write_row(self, &self->rows[i]);
    for (size_t i = 0; rc == 0 && i < self->n_deltas; i++) {
        self->deltas[i].version_ms = now;
        s_bind_rollup(self->add_rollup, &self->deltas[i]);
        rc = s_step(self, self->add_rollup, "add to a usage rollup");
    }
    if (rc == 0 && s_exec(self, "COMMIT") == 0) {
        int n = (int)self->n_rows;
        self->n_rows = 0;
        self->n_deltas = 0;
        return n;
    }
    if (!sqlite3_get_autocommit(self->db))
        s_exec(self, "ROLLBACK");
    return -1;
}

int usage_prune(usage_meter_t *self, long long now_ms)
{
    if (!self)
        return -1;
    usage_flush(self);
    sqlite3_stmt *st = NULL;
    int total = 0;
    static const char *const sql[2] = {"DELETE FROM usage_rows WHERE at_ms < ?1",
                                       "DELETE FROM usage_rollups WHERE hour_ms < ?1"};
    long long cut[2] = {now_ms - self->keep_days * USAGE_DAY_MS,
                        s_hour(now_ms - self->rollup_keep_days * USAGE_DAY_MS)};
    for (int i = 0; i < 2; i++) {
        if (sqlite3_prepare_v2(self->db, sql[i], -1, &st, NULL) != SQLITE_OK)
            return s_fail(self, "prepare prune");
        sqlite3_bind_int64(st, 1, cut[i]);
        int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : s_fail(self, "prune");
        sqlite3_finalize(st);
        if (rc != 0)
            return -1;
        total += sqlite3_changes(self->db);
    }
    if (total > 0)
        alog_info("usage: pruned %d row(s) past retention (rows %d days, rollups %d days)", total,
                  self->keep_days, self->rollup_keep_days);
    return total;
}

/* ---- rollups as records ------------------------------------------------ */

#define S_NUMBERS 11 /* hour, version and the nine counters */

static void s_numbers(const usage_rollup_t *r, long long v[S_NUMBERS])
{
    long long n[S_NUMBERS] = {r->hour_ms,    r->version_ms,     r->requests,
                              r->errors,     r->prompt_tokens,  r->completion_tokens,
                              r->estimated,  r->cost_nusd,      r->ttfb_ms_sum,
                              r->ttfb_count, r->duration_ms_sum};
    memcpy(v, n, sizeof n);
}

static void s_set_numbers(usage_rollup_t *r, const long long v[S_NUMBERS])
{
    r->hour_ms = v[0];
    r->version_ms = v[1];
    r->requests = v[2];
    r->errors = v[3];
    r->prompt_tokens = v[4];
    r->completion_tokens = v[5];
    r->estimated = v[6];
    r->cost_nusd = v[7];
    r->ttfb_ms_sum = v[8];
    r->ttfb_count = v[9];
    r->duration_ms_sum = v[10];
}

static bool s_rollup_ok(const usage_rollup_t *r)
{
    if (!s_name_ok(r->origin, USAGE_NODE_MAX, false) || !s_name_ok(r->key, USAGE_KEY_MAX, false) ||
        !s_name_ok(r->model, USAGE_MODEL_MAX, true) || r->hour_ms < 0 ||
        r->hour_ms % USAGE_HOUR_MS != 0 || r->version_ms < 0)
        return false;
    long long v[S_NUMBERS];
    s_numbers(r, v);
    for (int i = 2; i < S_NUMBERS; i++)
        if (v[i] < 0)
            return false;
    return r->errors <= r->requests && r->estimated <= r->requests && r->ttfb_count <= r->requests;
}

size_t usage_rollup_encode(const usage_rollup_t *r, uint8_t *out, size_t cap)
{
    if (!r || !out || !s_rollup_ok(r) || cap < USAGE_ROLLUP_WIRE_MAX)
        return 0;
    size_t at = 0;
    out[at++] = USAGE_ROLLUP_VERSION;
    const char *strs[3] = {r->origin, r->key, r->model};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(strs[i]);
        out[at++] = (uint8_t)(n >> 8);
        out[at++] = (uint8_t)n;
        memcpy(out + at, strs[i], n);
        at += n;
    }
    long long v[S_NUMBERS];
    s_numbers(r, v);
    for (int i = 0; i < S_NUMBERS; i++) {
        uint64_t u = (uint64_t)v[i];
        for (int b = 7; b >= 0; b--)
            out[at++] = (uint8_t)(u >> (b * 8));
    }
    return at;
}

int usage_rollup_decode(const uint8_t *buf, size_t len, usage_rollup_t *out)
{
    if (!buf || !out || len < 1 || buf[0] != USAGE_ROLLUP_VERSION)
        return -1;
    usage_rollup_t r;
    memset(&r, 0, sizeof r);
    size_t at = 1;
    char *strs[3] = {r.origin, r.key, r.model};
    size_t caps[3] = {USAGE_NODE_MAX, USAGE_KEY_MAX, USAGE_MODEL_MAX};
    for (int i = 0; i < 3; i++) {
        if (len - at < 2)
            return -1;
        size_t n = ((size_t)buf[at] << 8) | buf[at + 1];
        at += 2;
        if (n > caps[i] || len - at < n || memchr(buf + at, 0, n))
            return -1;
        memcpy(strs[i], buf + at, n);
        strs[i][n] = '\0';
        at += n;
    }
    if (len - at != (size_t)S_NUMBERS * 8)
        return -1;
    long long v[S_NUMBERS];
    for (int i = 0; i < S_NUMBERS; i++) {
        uint64_t u = 0;
        for (int b = 0; b < 8; b++)
            u = (u << 8) | buf[at++];
        v[i] = (long long)u;
    }
    s_set_numbers(&r, v);
    if (!s_rollup_ok(&r))
        return -1;
    *out = r;
    return 0;
}

int usage_rollup_cmp(const usage_rollup_t *a, const usage_rollup_t *b)
{
    if (a->version_ms != b->version_ms)
        return a->version_ms > b->version_ms ? 1 : -1;
    if (a->requests != b->requests)
        return a->requests > b->requests ? 1 : -1;
    uint8_t ea[USAGE_ROLLUP_WIRE_MAX], eb[USAGE_ROLLUP_WIRE_MAX];
    size_t na = usage_rollup_encode(a, ea, sizeof ea), nb = usage_rollup_encode(b, eb, sizeof eb);
    int c = memcmp(ea, eb, na < nb ? na : nb);
    if (c == 0 && na != nb)
        c = na > nb ? 1 : -1;
    return c > 0 ? 1 : c < 0 ? -1 : 0;
}

bool usage_rollup_merge(usage_rollup_t *have, const usage_rollup_t *incoming)
{
    if (!have || !incoming || !s_rollup_ok(incoming) || usage_rollup_cmp(incoming, have) <= 0)
        return false;
    *have = *incoming;
    return true;
}

static void s_rollup_row(sqlite3_stmt *st, usage_rollup_t *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->origin, sizeof r->origin, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(r->key, sizeof r->key, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(r->model, sizeof r->model, "%s", (const char *)sqlite3_column_text(st, 2));
    long long v[S_NUMBERS];
    for (int i = 0; i < S_NUMBERS; i++)
        v[i] = sqlite3_column_int64(st, 3 + i);
    s_set_numbers(r, v);
}

#define S_ROLLUP_COLUMNS                                                                           \
    "origin, key, model, hour_ms, version_ms, requests, errors, prompt_tokens,"                    \
    " completion_tokens, estimated, cost_nusd, ttfb_ms_sum, ttfb_count, duration_ms_sum"

int usage_rollup_apply(usage_meter_t *self, const usage_rollup_t *r)
{
    if (!self || !r || !s_rollup_ok(r))
        return -1;
    if (strcmp(r->origin, self->node_id) == 0)
        return 0;
    /* prepared once: a peer's message applies up to 256 of them */
    if (!self->get_rollup &&
        sqlite3_prepare_v2(self->db,
                           "SELECT " S_ROLLUP_COLUMNS " FROM usage_rollups WHERE origin = ?1"
                           " AND key = ?2 AND model = ?3 AND hour_ms = ?4",
                           -1, &self->get_rollup, NULL) != SQLITE_OK)
        return s_fail(self, "prepare rollup read");
    if (!self->put_rollup &&
        sqlite3_prepare_v2(self->db,
                           "INSERT OR REPLACE INTO usage_rollups (" S_ROLLUP_COLUMNS
                           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                           -1, &self->put_rollup, NULL) != SQLITE_OK)
        return s_fail(self, "prepare rollup write");
    sqlite3_stmt *st = self->get_rollup;
    sqlite3_bind_text(st, 1, r->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, r->hour_ms);
    usage_rollup_t have;
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found)
        s_rollup_row(st, &have);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (found && !usage_rollup_merge(&have, r))
        return 0;
    s_bind_rollup(self->put_rollup, r);
    return s_step(self, self->put_rollup, "write a rollup") == 0 ? 1 : -1;
}

int usage_rollup_get(usage_meter_t *self, const char *origin, const char *key, const char *model,
                     long long hour_ms, usage_rollup_t *out)
{
    if (!self || !origin || !key || !model || !out)
        return -1;
    usage_flush(self);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT " S_ROLLUP_COLUMNS " FROM usage_rollups WHERE origin = ?1"
                           " AND key = ?2 AND model = ?3 AND hour_ms = ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return s_fail(self, "prepare rollup read");
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, hour_ms);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    if (rc == 0)
        s_rollup_row(st, out);
    sqlite3_finalize(st);
    return rc;
}

int usage_rollups_since(usage_meter_t *self, long long since_version_ms, usage_rollup_t **out,
                        size_t *n)
{
    if (!self || !out || !n)
        return -1;
    *out = NULL;
    *n = 0;
    usage_flush(self);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT " S_ROLLUP_COLUMNS
                           " FROM usage_rollups INDEXED BY usage_rollups_version"
                           " WHERE version_ms >= ?1"
                           " ORDER BY origin, key, model, hour_ms",
                           -1, &st, NULL) != SQLITE_OK)
        return s_fail(self, "prepare rollups");
    sqlite3_bind_int64(st, 1, since_version_ms);
    size_t cap = 0;
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            usage_rollup_t *grown = realloc(*out, cap * sizeof *grown);
            if (!grown) {
                rc = -1;
                break;
            }
            *out = grown;
        }
        s_rollup_row(st, &(*out)[(*n)++]);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = s_fail(self, "read rollups");
    sqlite3_finalize(st);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- the query --------------------------------------------------------- */

static bool s_key_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > USAGE_KEY_MAX)
        return false;
    if (strcmp(s, USAGE_NO_KEY) == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int usage_query_parse(const char *const *names, const char *const *values, size_t n, bool admin,
                      usage_query_t *out, openai_error_t *err)
{
    usage_query_t q = {.range = USAGE_RANGE_DAY};
    bool seen[3] = {false, false, false};
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i] ? names[i] : "";
        const char *v = values[i] ? values[i] : "";
        int which = strcmp(name, "range") == 0     ? 0
                    : strcmp(name, "details") == 0 ? 1
                    : strcmp(name, "key") == 0     ? 2
                                                   : -1;
        if (which < 0) {
            openai_error_set(err, "invalid_request", name[0] ? name : "query",
                             "unknown parameter '%.60s': use range, details and (with the admin "
                             "key) key",
                             name);
            return -1;
        }
        if (seen[which]) {
            openai_error_set(err, "invalid_request", name, "parameter '%s' given twice", name);
            return -1;
        }
        seen[which] = true;
        if (which == 0) {
            if (strcmp(v, "day") == 0)
                q.range = USAGE_RANGE_DAY;
            else if (strcmp(v, "week") == 0)
                q.range = USAGE_RANGE_WEEK;
            else if (strcmp(v, "month") == 0)
                q.range = USAGE_RANGE_MONTH;
            else {
                openai_error_set(err, "invalid_request", "range",
                                 "range must be day, week or month, not '%.40s'", v);
                return -1;
            }
        } else if (which == 1) {
            if (strcmp(v, "true") == 0)
                q.details = true;
            else if (strcmp(v, "false") == 0)
                q.details = false;
            else {
                openai_error_set(err, "invalid_request", "details",
                                 "details must be true or false, not '%.40s'", v);
                return -1;
            }
        } else {
            if (!admin) {
                openai_error_set(err, "invalid_request", "key",
                                 "key is for the admin key: a user key sees its own usage");
                return -1;
            }
            if (!s_key_name_ok(v)) {
                openai_error_set(err, "invalid_request", "key",
                                 "key must be a key name (1..64 of A-Z a-z 0-9 . _ -)");
                return -1;
            }
            strcpy(q.key, v);
            q.has_key = true;
        }
    }
    *out = q;
    return 0;
}

static const char *const s_range_names[] = {"day", "week", "month"};
static const int s_range_days[] = {1, 7, 30};

typedef struct {
    long long requests, errors, prompt, completion, estimated, cost, ttfb_sum, ttfb_n, dur_sum;
    long long last_ms; /* the latest version of the rollups summed: 0 none */
} s_sums_t;

/*  A rollup's version is the unix ms of the last batch write that added a
    request to it (its origin's clock; only a request bumps it), so the
    greatest is when the key's latest request was recorded, mesh-wide. */
#define S_SUMS_SQL                                                                                 \
    "sum(requests), sum(errors), sum(prompt_tokens), sum(completion_tokens), sum(estimated),"      \
    " sum(cost_nusd), sum(ttfb_ms_sum), sum(ttfb_count), sum(duration_ms_sum),"                    \
    " max(CASE WHEN requests > 0 THEN version_ms END)"

static void s_sums_read(sqlite3_stmt *st, int col, s_sums_t *s)
{
    s->requests = sqlite3_column_int64(st, col);
    s->errors = sqlite3_column_int64(st, col + 1);
    s->prompt = sqlite3_column_int64(st, col + 2);
    s->completion = sqlite3_column_int64(st, col + 3);
    s->estimated = sqlite3_column_int64(st, col + 4);
    s->cost = sqlite3_column_int64(st, col + 5);
    s->ttfb_sum = sqlite3_column_int64(st, col + 6);
    s->ttfb_n = sqlite3_column_int64(st, col + 7);
    s->dur_sum = sqlite3_column_int64(st, col + 8);
    s->last_ms = sqlite3_column_int64(st, col + 9); /* NULL (none): 0 */
}

static void s_sums_add(s_sums_t *a, const s_sums_t *b)
{
    a->requests += b->requests;
    a->errors += b->errors;
    a->prompt += b->prompt;
    a->completion += b->completion;
    a->estimated += b->estimated;
    a->cost += b->cost;
    a->ttfb_sum += b->ttfb_sum;
    a->ttfb_n += b->ttfb_n;
    a->dur_sum += b->dur_sum;
    if (b->last_ms > a->last_ms)
        a->last_ms = b->last_ms;
}

static json_t *s_sums_json(const s_sums_t *s)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o, s:o}", "requests",
                     (json_int_t)s->requests, "errors", (json_int_t)s->errors, "prompt_tokens",
                     (json_int_t)s->prompt, "completion_tokens", (json_int_t)s->completion,
                     "total_tokens", (json_int_t)(s->prompt + s->completion), "estimated_requests",
                     (json_int_t)s->estimated, "cost_usd", (double)s->cost / 1e9, "avg_ttfb_ms",
                     s->ttfb_n ? json_integer((json_int_t)(s->ttfb_sum / s->ttfb_n)) : json_null(),
                     "avg_duration_ms",
                     s->requests ? json_integer((json_int_t)(s->dur_sum / s->requests))
                                 : json_null());
}

static json_t *s_limits_json(const usage_report_t *rep, const char *key, const char *tier_name)
{
    const tier_t *t = tier_name ? tiers_find(rep->tiers, tier_name) : NULL;
    if (!t)
        return json_null();
    json_t *remaining = json_null();
    usage_remaining_t left;
    if (rep->remaining && rep->remaining(rep->arg, key, t, &left) == 0)
        remaining =
            json_pack("{s:I, s:I, s:I, s:I}", "requests_per_minute", (json_int_t)left.per_minute,
                      "requests_per_hour", (json_int_t)left.per_hour, "requests_per_day",
                      (json_int_t)left.per_day, "tokens_per_day", (json_int_t)left.tokens_per_day);
        /* a limit of 0 is none: null */
#define S_LIM(v) ((v) > 0 ? json_integer((json_int_t)(v)) : json_null())
    return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "tier", t->name, "requests_per_minute",
                     S_LIM(t->per_minute), "requests_per_hour", S_LIM(t->per_hour),
                     "requests_per_day", S_LIM(t->per_day), "tokens_per_day",
                     S_LIM(t->tokens_per_day), "concurrent", S_LIM(t->concurrent), "remaining",
                     remaining ? remaining : json_null());
#undef S_LIM
}

/*  Runs one grouped query over the rollups in [from, …) of key (NULL:
    all); group: the extra columns selected first ("" none). */
static sqlite3_stmt *s_group(usage_meter_t *self, const char *group, const char *key,
                             long long from)
{
    char sql[512];
    bool grouped = group[0] != '\0';
    snprintf(sql, sizeof sql,
             "SELECT %s%s" S_SUMS_SQL " FROM usage_rollups WHERE hour_ms >= ?1%s%s%s%s%s", group,
             grouped ? ", " : "", key ? " AND key = ?2" : "", grouped ? " GROUP BY " : "", group,
             grouped ? " ORDER BY " : "", group);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        s_fail(self, "prepare usage query");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, from);
    if (key)
        sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
    return st;
}

static json_t *s_key_json(usage_meter_t *self, const usage_report_t *rep, const char *key,
                          const char *tier, long long from, long long bucket_ms, s_sums_t *total)
{
    s_sums_t sums = {0};
    sqlite3_stmt *st = s_group(self, "", key, from);
    if (!st)
        return NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        s_sums_read(st, 0, &sums);
    sqlite3_finalize(st);
    s_sums_add(total, &sums);
    json_t *k = json_pack("{s:s, s:o, s:o, s:o, s:o}", "key", key, "tier",
                          tier ? json_string(tier) : json_null(), "last_ms",
                          sums.last_ms > 0 ? json_integer((json_int_t)sums.last_ms) : json_null(),
                          "totals", s_sums_json(&sums), "limits", s_limits_json(rep, key, tier));
    if (!k || !rep->q->details)
        return k;
    json_t *models = json_array(), *buckets = json_array();
    json_object_set_new(k, "models", models);
    json_object_set_new(k, "buckets", buckets);
    st = s_group(self, "model", key, from);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        s_sums_t s;
        s_sums_read(st, 1, &s);
        json_t *m = s_sums_json(&s);
        json_object_set_new(m, "model", json_string((const char *)sqlite3_column_text(st, 0)));
        json_object_set_new(m, "buckets", json_array());
        json_array_append_new(models, m);
    }
    sqlite3_finalize(st);
    /* each model's buckets: the same order (model, then time), walked in step */
    char group[64];
    snprintf(group, sizeof group, "model, hour_ms / %lld", bucket_ms);
    st = s_group(self, group, key, from);
    size_t at = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *model = (const char *)sqlite3_column_text(st, 0);
        while (at < json_array_size(models) &&
               strcmp(json_string_value(json_object_get(json_array_get(models, at), "model")),
                      model ? model : "") != 0)
            at++;
        if (at == json_array_size(models))
            break; /* cannot happen: the same rows, grouped finer */
        s_sums_t s;
        s_sums_read(st, 2, &s);
        json_t *b = s_sums_json(&s);
        json_object_set_new(b, "start_ms",
                            json_integer((json_int_t)(sqlite3_column_int64(st, 1) * bucket_ms)));
        json_array_append_new(json_object_get(json_array_get(models, at), "buckets"), b);
    }
    sqlite3_finalize(st);
    snprintf(group, sizeof group, "hour_ms / %lld", bucket_ms);
    st = s_group(self, group, key, from);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        s_sums_t s;
        s_sums_read(st, 1, &s);
        json_t *b = s_sums_json(&s);
        json_object_set_new(b, "start_ms",
                            json_integer((json_int_t)(sqlite3_column_int64(st, 0) * bucket_ms)));
        json_array_append_new(buckets, b);
    }
    sqlite3_finalize(st);
    return k;
}

static const char *s_tier_of(const usage_report_t *rep, const char *key)
{
    for (size_t i = 0; i < rep->n_subjects; i++)
        if (rep->subjects[i].name && strcmp(rep->subjects[i].name, key) == 0)
            return rep->subjects[i].tier;
    return NULL;
}

int usage_render(usage_meter_t *self, const usage_report_t *rep, abuf_t *out)
{
    if (!self || !rep || !rep->q || !out)
        return -1;
    usage_flush(self);
    int r = (int)rep->q->range;
    long long now_hour = s_hour(rep->now_ms);
    long long from = now_hour - (s_range_days[r] * 24LL - 1) * USAGE_HOUR_MS;
    long long bucket_ms = r == USAGE_RANGE_DAY ? USAGE_HOUR_MS : USAGE_DAY_MS;
    s_sums_t total = {0};
    json_t *keys = json_array();
    if (!keys)
        return -1;
    int rc = 0;
    if (rep->all_keys) {
        sqlite3_stmt *st = s_group(self, "key", NULL, from);
        while (st && rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            char key[USAGE_KEY_MAX + 1];
            snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(st, 0));
            json_t *k = s_key_json(self, rep, key, s_tier_of(rep, key), from, bucket_ms, &total);
            rc = k ? json_array_append_new(keys, k) : -1;
        }
        if (!st)
            rc = -1;
        sqlite3_finalize(st);
    } else {
        for (size_t i = 0; rc == 0 && i < rep->n_subjects; i++) {
            json_t *k = s_key_json(self, rep, rep->subjects[i].name, rep->subjects[i].tier, from,
                                   bucket_ms, &total);
            rc = k ? json_array_append_new(keys, k) : -1;
        }
    }
    json_t *doc = rc == 0 ? json_pack("{s:s, s:s, s:I, s:I, s:s, s:o, s:o}", "object", "usage",
                                      "range", s_range_names[r], "from_ms", (json_int_t)from,
                                      "to_ms", (json_int_t)rep->now_ms, "bucket",
                                      bucket_ms == USAGE_HOUR_MS ? "hour" : "day", "totals",
                                      s_sums_json(&total), "keys", keys)
                          : NULL;
    if (!doc) {
        if (rc != 0)
            json_decref(keys);
        return -1;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        return -1;
    abuf_reset(out);
    rc = abuf_puts(out, text);
    free(text);
    return rc;
}
