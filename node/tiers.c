/*  tiers — see tiers.h. */
#include "node/tiers.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"

struct _tiers_t {
    tier_t *v;
    size_t n;
    store_t *store;   /* NULL: in memory only */
    char node_id[65]; /* stamps local changes */
    void (*hook)(void *arg, const tier_t *t);
    void *hook_arg;
};

/*  The defaults of the gateways this project replaces (requests per
    minute / hour / day); premium work is queued before free work. */
static const tier_t s_defaults[] = {
    {.name = "free", .per_minute = 10, .per_hour = 100, .per_day = 1000, .priority = 0},
    {.name = "premium", .per_minute = 60, .per_hour = 1000, .per_day = 10000, .priority = 5},
    {.name = "enterprise", .per_minute = 300, .per_hour = 5000, .per_day = 50000, .priority = 8},
    {.name = TIERS_CONFIG, .priority = TIERS_PRIORITY_MAX},
};
#define S_N_DEFAULTS (sizeof s_defaults / sizeof s_defaults[0])

tiers_t *tiers_new(void)
{
    tiers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->v = malloc(sizeof s_defaults);
    if (!self->v) {
        free(self);
        return NULL;
    }
    memcpy(self->v, s_defaults, sizeof s_defaults);
    self->n = S_N_DEFAULTS;
    return self;
}

void tiers_destroy(tiers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->v);
    free(*self_p);
    *self_p = NULL;
}

const tier_t *tiers_find(const tiers_t *self, const char *name)
{
    const tier_t *v = self ? self->v : s_defaults;
    size_t n = self ? self->n : S_N_DEFAULTS;
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

size_t tiers_count(const tiers_t *self)
{
    return self ? self->n : S_N_DEFAULTS;
}

const tier_t *tiers_at(const tiers_t *self, size_t i)
{
    return i < tiers_count(self) ? (self ? &self->v[i] : &s_defaults[i]) : NULL;
}

/* ---- changes and replication ------------------------------------------ */

bool tiers_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TIERS_NAME_MAX)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int tiers_version_cmp(const tier_t *a, const tier_t *b)
{
    if (a->version_ms != b->version_ms)
        return a->version_ms < b->version_ms ? -1 : 1;
    int c = strcmp(a->version_node, b->version_node);
    return c < 0 ? -1 : c > 0;
}

/*  A models list: "" or 1..64 comma-separated names of printable bytes,
    no spaces, no empty one. */
static bool s_models_ok(const char *m)
{
    if (!m[0])
        return true;
    size_t count = 1;
    for (const char *p = m; *p; p++) {
        if (*p == ',') {
            if (p == m || p[1] == '\0' || p[1] == ',')
                return false;
            count++;
        } else if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f) {
            return false;
        }
    }
    return count <= 64;
}

static bool s_tier_ok(const tier_t *t)
{
    return tiers_name_ok(t->name) && t->per_minute >= 0 && t->per_minute <= TIERS_LIMIT_MAX &&
           t->per_hour >= 0 && t->per_hour <= TIERS_LIMIT_MAX && t->per_day >= 0 &&
           t->per_day <= TIERS_LIMIT_MAX && t->tokens_per_day >= 0 &&
           t->tokens_per_day <= TIERS_LIMIT_MAX && t->concurrent >= 0 &&
           t->concurrent <= TIERS_LIMIT_MAX && t->priority >= 0 &&
           t->priority <= TIERS_PRIORITY_MAX &&
           strnlen(t->models, sizeof t->models) < sizeof t->models && s_models_ok(t->models) &&
           strnlen(t->version_node, sizeof t->version_node) < sizeof t->version_node;
}

static int s_json_int(json_t *v, long long max, long long *out)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > max)
        return -1;
    *out = (long long)x;
    return 0;
}

int tiers_from_json(const char *json, size_t len, tier_t *t, char *param, size_t paramlen,
                    char *msg, size_t msglen)
{
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    int rc = -1;
    param[0] = '\0';
    if (!json_is_object(root)) {
        snprintf(msg, msglen, "the body must be a JSON object of tier fields");
        goto done;
    }
    tier_t n = *t;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        long long x = 0;
        snprintf(param, paramlen, "%s", k);
        if (strcmp(k, "per_minute") == 0 || strcmp(k, "per_hour") == 0 ||
            strcmp(k, "per_day") == 0 || strcmp(k, "concurrent") == 0) {
            if (s_json_int(v, TIERS_LIMIT_MAX, &x) < 0) {
                snprintf(msg, msglen, "%s must be an integer 0..%lld (0: no limit)", k,
                         TIERS_LIMIT_MAX);
                goto done;
            }
            long *f = strcmp(k, "per_minute") == 0 ? &n.per_minute
                      : strcmp(k, "per_hour") == 0 ? &n.per_hour
                      : strcmp(k, "per_day") == 0  ? &n.per_day
                                                   : &n.concurrent;
            *f = (long)x;
        } else if (strcmp(k, "tokens_per_day") == 0) {
            if (s_json_int(v, TIERS_LIMIT_MAX, &x) < 0) {
                snprintf(msg, msglen, "tokens_per_day must be an integer 0..%lld (0: no limit)",
                         TIERS_LIMIT_MAX);
                goto done;
            }
            n.tokens_per_day = x;
        } else if (strcmp(k, "priority") == 0) {
            if (s_json_int(v, TIERS_PRIORITY_MAX, &x) < 0) {
                snprintf(msg, msglen, "priority must be an integer 0..%d (higher is served first)",
                         TIERS_PRIORITY_MAX);
                goto done;
            }
            n.priority = (int)x;
        } else if (strcmp(k, "models") == 0) {
            char buf[TIERS_MODELS_MAX + 1] = "";
            size_t used = 0;
            bool ok = true;
            if (json_is_string(v)) {
                ok = json_string_length(v) < sizeof buf;
                if (ok)
                    snprintf(buf, sizeof buf, "%s", json_string_value(v));
            } else if (json_is_array(v)) {
                size_t i;
                json_t *e;
                json_array_foreach(v, i, e)
                {
                    const char *s = json_string_value(e);
                    size_t sl = s ? strlen(s) : 0;
                    if (!s || !sl || strchr(s, ',') || used + sl + 2 > sizeof buf) {
                        ok = false;
                        break;
                    }
                    used +=
                        (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? "," : "", s);
                }
            } else if (!json_is_null(v)) {
                ok = false;
            }
            if (!ok || !s_models_ok(buf)) {
                snprintf(msg, msglen,
                         "models must be null (any model) or a list of 1..64 model names "
                         "(printable, no spaces or commas), at most %d bytes in all",
                         TIERS_MODELS_MAX);
                goto done;
            }
            snprintf(n.models, sizeof n.models, "%s", buf);
        } else {
            snprintf(msg, msglen, "unknown field '%.64s'", k);
            goto done;
        }
    }
    *t = n;
    param[0] = '\0';
    rc = 0;
done:
    json_decref(root);
    return rc;
}

char *tiers_to_json(const tier_t *t, bool with_meta)
{
    json_t *models = json_null();
    if (t->models[0]) {
        models = json_array();
        for (const char *p = t->models; models && *p;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            json_array_append_new(models, json_stringn(p, n));
            p += n + (comma ? 1 : 0);
        }
    }
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:i}", "per_minute", (json_int_t)t->per_minute,
                  "per_hour", (json_int_t)t->per_hour, "per_day", (json_int_t)t->per_day,
                  "tokens_per_day", (json_int_t)t->tokens_per_day, "concurrent",
                  (json_int_t)t->concurrent, "models", models, "priority", t->priority);
    if (o && with_meta) {
        json_object_set_new(o, "name", json_string(t->name));
        json_object_set_new(o, "version_ms", json_integer(t->version_ms));
        json_object_set_new(o, "version_node", json_string(t->version_node));
        json_object_set_new(o, "builtin", json_boolean(strcmp(t->name, TIERS_CONFIG) == 0));
    }
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

/*  Replaces or adds t in memory. */
static int s_set(tiers_t *self, const tier_t *t)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->v[i].name, t->name) == 0) {
            self->v[i] = *t;
            return 0;
        }
    tier_t *grown = realloc(self->v, (self->n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    self->v = grown;
    self->v[self->n++] = *t;
    return 0;
}

static int s_persist(const tiers_t *self, const tier_t *t)
{
    if (!self->store)
        return 0;
    store_tier_t row;
    memset(&row, 0, sizeof row);
    snprintf(row.name, sizeof row.name, "%s", t->name);
    char *body = tiers_to_json(t, false);
    if (!body || strlen(body) >= sizeof row.body) {
        free(body);
        return -1;
    }
    snprintf(row.body, sizeof row.body, "%s", body);
    free(body);
    row.version_ms = t->version_ms;
    snprintf(row.version_node, sizeof row.version_node, "%s", t->version_node);
    return store_tier_put(self->store, &row);
}

tiers_merge_t tiers_merge(tiers_t *self, const tier_t *t)
{
    if (!self || !t || !s_tier_ok(t) || strcmp(t->name, TIERS_CONFIG) == 0 || t->version_ms <= 0)
        return TIERS_MERGE_INVALID;
    const tier_t *have = tiers_find(self, t->name);
    if (have && tiers_version_cmp(t, have) <= 0)
        return TIERS_MERGE_IGNORED;
    if (s_persist(self, t) != 0)
        return TIERS_MERGE_FAILED;
    return s_set(self, t) == 0 ? TIERS_MERGE_APPLIED : TIERS_MERGE_FAILED;
}

int tiers_put(tiers_t *self, const tier_t *t, long long now_ms, tier_t *out)
{
    if (!self || !t || strcmp(t->name, TIERS_CONFIG) == 0)
        return -1;
    tier_t n = *t;
    const tier_t *have = tiers_find(self, t->name);
    n.version_ms = now_ms > 0 ? now_ms : 1;
    if (have && n.version_ms <= have->version_ms)
        n.version_ms = have->version_ms + 1;
    snprintf(n.version_node, sizeof n.version_node, "%s", self->node_id);
    if (tiers_merge(self, &n) != TIERS_MERGE_APPLIED)
        return -1;
    if (out)
        *out = n;
    if (self->hook)
        self->hook(self->hook_arg, &n);
    return 0;
}

void tiers_set_hook(tiers_t *self, void (*fn)(void *arg, const tier_t *t), void *arg)
{
    if (self) {
        self->hook = fn;
        self->hook_arg = arg;
    }
}

tiers_t *tiers_open(store_t *store, const char *node_id)
{
    tiers_t *self = tiers_new();
    if (!self)
        return NULL;
    self->store = store;
    snprintf(self->node_id, sizeof self->node_id, "%s", node_id ? node_id : "");
    store_tier_t *rows = NULL;
    size_t n = 0;
    if (store && store_tiers_load(store, &rows, &n) != 0) {
        tiers_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        tier_t t;
        memset(&t, 0, sizeof t);
        const tier_t *def = tiers_find(self, rows[i].name);
        if (def)
            t = *def;
        snprintf(t.name, sizeof t.name, "%s", rows[i].name);
        char param[64], msg[200];
        t.version_ms = rows[i].version_ms;
        snprintf(t.version_node, sizeof t.version_node, "%s", rows[i].version_node);
        if (strcmp(t.name, TIERS_CONFIG) == 0 ||
            tiers_from_json(rows[i].body, strlen(rows[i].body), &t, param, sizeof param, msg,
                            sizeof msg) != 0 ||
            !s_tier_ok(&t) || s_set(self, &t) != 0)
            alog_warn("tiers: stored tier '%s' is malformed: skipped", rows[i].name);
    }
    free(rows);
    return self;
}
