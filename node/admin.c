/*  admin — see admin.h. */
#include "node/admin.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/tiers.h"
#include "protocol/alog.h"
#include "protocol/openai.h"

static int s_error(abuf_t *out, const char *code, int status, const char *param, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static int s_error(abuf_t *out, const char *code, int status, const char *param, const char *fmt,
                   ...)
{
    openai_error_t err;
    openai_error_set(&err, code, param, NULL);
    if (status)
        err.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    abuf_reset(out);
    openai_render_error(out, &err);
    return err.status;
}

static int s_json(abuf_t *out, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return s_error(out, "internal_error", 0, NULL, "out of memory");
    abuf_reset(out);
    int rc = abuf_puts(out, text);
    free(text);
    return rc == 0 ? status : s_error(out, "internal_error", 0, NULL, "out of memory");
}

/*  The allow-list as a JSON array, or null for any model. */
static json_t *s_models_json(const char *models)
{
    if (!models[0])
        return json_null();
    json_t *a = json_array();
    for (const char *p = models; a && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        p += n + (comma ? 1 : 0);
    }
    return a;
}

static json_t *s_record_json(const keys_record_t *r, long long now_ms)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:I, s:s, s:b, s:b, s:I}", "name", r->name, "tier",
                     r->tier, "expires", r->expires_ms ? json_integer(r->expires_ms) : json_null(),
                     "models", s_models_json(r->models), "created_ms", (json_int_t)r->created_ms,
                     "created_by", r->created_by, "revoked", r->revoked, "active",
                     keys_live(r, now_ms), "version_ms", (json_int_t)r->version_ms);
}

/*  A change made: a row in the audit log (actor "admin", tier as detail). */
static void s_audit(const admin_request_t *req, const char *kind, const char *name,
                    const char *tier)
{
    char detail[64] = "";
    if (tier[0])
        snprintf(detail, sizeof detail, "tier=%s", tier);
    if (req->audit)
        audit_append(req->audit, req->now_ms, kind, "admin", req->origin, name, detail);
}

/*  A query parameter of 1..18 digits; -1 when it is not one. */
static long long s_digits(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
        return -1;
    return strtoll(s, NULL, 10);
}

static int s_audit_list(const admin_request_t *req, abuf_t *out)
{
    long long since = req->since ? s_digits(req->since) : 0;
    long long limit = req->limit ? s_digits(req->limit) : 100;
    if (since < 0)
        return s_error(out, "invalid_request", 0, "since",
                       "since must be a time in unix milliseconds");
    if (limit < 1 || limit > AUDIT_LIMIT_MAX)
        return s_error(out, "invalid_request", 0, "limit", "limit must be 1..%d", AUDIT_LIMIT_MAX);
    if (!req->audit)
        return s_error(out, "internal_error", 0, NULL, "the audit log is not open");
    if (audit_render(req->audit, since, (size_t)limit, out) != 0)
        return s_error(out, "internal_error", 0, NULL, "the audit log could not be read");
    return 200;
}

static json_t *s_parse_body(const admin_request_t *req, abuf_t *out, int *status)
{
    json_error_t jerr;
    json_t *root = req->body && req->len
                       ? json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr)
                       : NULL;
    if (!json_is_object(root)) {
        bool parsed = root != NULL;
        json_decref(root);
        if (parsed || !req->body || !req->len)
            *status = s_error(out, "invalid_request", 0, NULL, "the body must be a JSON object");
        else
            *status = s_error(out, "invalid_request", 0, NULL,
                              "the body is not valid JSON: %.160s (line %d, column %d)", jerr.text,
                              jerr.line, jerr.column);
        return NULL;
    }
    return root;
}

/*  Only known fields: a misspelt one is an error, not a silent default. */
static const char *s_unknown_field(json_t *root, const char *const *known)
{
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        (void)v;
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok)
            return k;
    }
    return NULL;
}

static int s_tier_error(const admin_request_t *req, abuf_t *out, const char *tier)
{
    char names[160] = "";
    for (size_t i = 0; i < tiers_count(req->tiers); i++)
        if (strcmp(tiers_at(req->tiers, i)->name, TIERS_CONFIG) != 0)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     names[0] ? ", " : "", tiers_at(req->tiers, i)->name);
    return s_error(out, "invalid_request", 0, "tier", "unknown tier '%.64s' (one of: %s)",
                   tier ? tier : "", names);
}

/*  models: an array of model names → the comma-separated stored form. */
static int s_models_field(json_t *v, char *dst, size_t cap, abuf_t *out)
{
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return -s_error(out, "invalid_request", 0, "models",
                        "models must be a non-empty array of model names, or null for any");
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m)
    {
        const char *s = json_string_value(m);
        if (!s || !s[0] || strchr(s, ',') || strlen(s) + strlen(dst) + 2 > cap) {
            return -s_error(out, "invalid_request", 0, "models",
                            "models[%zu] must be a model name without commas", i);
        }
        if (dst[0])
            strcat(dst, ",");
        strcat(dst, s);
    }
    if (!keys_models_ok(dst))
        return -s_error(out, "invalid_request", 0, "models",
                        "models must name 1..64 models of 1..200 printable characters, "
                        "no spaces");
    return 0;
}

static int s_create(keys_t *keys, const admin_request_t *req, abuf_t *out)
{
    int status = 0;
    json_t *root = s_parse_body(req, out, &status);
    if (!root)
        return status;
    static const char *const known[] = {"name", "tier", "expires", "models", NULL};
    const char *extra = s_unknown_field(root, known);
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *tier = json_string_value(json_object_get(root, "tier"));
    json_t *exp = json_object_get(root, "expires");
    char models[sizeof((keys_record_t *)0)->models];
    long long expires = 0;
    if (extra)
        status = s_error(out, "invalid_request", 0, extra, "unknown field '%.64s'", extra);
    else if (!name || !keys_name_ok(name))
        status = s_error(out, "invalid_request", 0, "name",
                         "name must be 1..64 characters of A-Z a-z 0-9 . _ -");
    else if (strncmp(name, "config-", 7) == 0)
        status = s_error(out, "invalid_request", 0, "name",
                         "names config-N are the --api-key keys': choose another");
    else if (!tier || !tiers_find(req->tiers, tier) || strcmp(tier, TIERS_CONFIG) == 0)
        status = s_tier_error(req, out, tier);
    else if (exp && !json_is_null(exp) &&
             (!json_is_integer(exp) ||
              (expires = (long long)json_integer_value(exp)) <= req->now_ms))
        status = s_error(out, "invalid_request", 0, "expires",
                         "expires must be a time in the future in unix milliseconds, or null");
    else
        status = -s_models_field(json_object_get(root, "models"), models, sizeof models, out);
    if (status) {
        json_decref(root);
        return status;
    }
    char key[KEYS_KEY_LEN];
    keys_record_t rec;
    keys_rc_t rc = keys_create(keys, name, tier, expires, models, req->now_ms, key, &rec);
    if (rc == KEYS_EXISTS)
        status = s_error(out, "key_exists", 409, "name", "a key named '%s' exists%s", name,
                         keys_find(keys, name) && keys_find(keys, name)->revoked
                             ? " (revoked: names are not reused)"
                             : "");
    else if (rc != KEYS_OK)
        status = s_error(out, "internal_error", 0, NULL, "the key could not be stored");
    json_decref(root);
    if (status)
        return status;
    alog_info("admin: key '%s' created (tier %s)", rec.name, rec.tier);
    s_audit(req, "key_created", rec.name, rec.tier);
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}", "name", rec.name, "key", key, "tier", rec.tier,
                  "expires", rec.expires_ms ? json_integer(rec.expires_ms) : json_null(), "models",
                  s_models_json(rec.models), "created_ms", (json_int_t)rec.created_ms);
    sodium_memzero(key, sizeof key);
    return s_json(out, 201, doc);
}

static int s_list(keys_t *keys, const admin_request_t *req, abuf_t *out)
{
    json_t *data = json_array();
    for (size_t i = 0; data && i < req->n_config; i++) {
        char name[32];
        snprintf(name, sizeof name, "config-%zu", i + 1);
        json_array_append_new(data, json_pack("{s:s, s:s, s:n, s:n, s:s, s:b, s:b}", "name", name,
                                              "tier", TIERS_CONFIG, "expires", "models",
                                              "created_by", "config", "revoked", 0, "active", 1));
    }
    for (size_t i = 0; data && i < keys_count(keys); i++)
        json_array_append_new(data, s_record_json(keys_at(keys, i), req->now_ms));
    return s_json(out, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/*  The name in a prefix route's parameter, with the suffix it must end with
    ("" for none); NULL (404 written) when it is not one. */
static const char *s_name_param(const admin_request_t *req, const char *suffix, char *name,
                                size_t cap, abuf_t *out, int *status)
{
    const char *p = req->param ? req->param : "";
    size_t n = strlen(p), s = strlen(suffix);
    if (n <= s || strcmp(p + n - s, suffix) != 0 || n - s >= cap) {
        *status = s_error(out, "not_found", 0, NULL, "no such admin route");
        return NULL;
    }
    memcpy(name, p, n - s);
    name[n - s] = '\0';
    if (!keys_name_ok(name)) {
        *status = s_error(out, "not_found", 0, "name", "no key named '%.64s'", name);
        return NULL;
    }
    return name;
}

static int s_revoke(keys_t *keys, const admin_request_t *req, abuf_t *out)
{
    char name[KEYS_NAME_MAX + 1];
    int status = 0;
    if (!s_name_param(req, "", name, sizeof name, out, &status))
        return status;
    keys_rc_t rc = keys_revoke(keys, name, req->now_ms);
    if (rc == KEYS_UNKNOWN)
        return s_error(out, "not_found", 0, "name", "no live key named '%s'", name);
    if (rc != KEYS_OK)
        return s_error(out, "internal_error", 0, NULL, "the change could not be stored");
    alog_info("admin: key '%s' revoked", name);
    s_audit(req, "key_revoked", name, "");
    return s_json(out, 200, s_record_json(keys_find(keys, name), req->now_ms));
}

static int s_set_tier(keys_t *keys, const admin_request_t *req, abuf_t *out)
{
    char name[KEYS_NAME_MAX + 1];
    int status = 0;
    if (!s_name_param(req, "/tier", name, sizeof name, out, &status))
        return status;
    json_t *root = s_parse_body(req, out, &status);
    if (!root)
        return status;
    static const char *const known[] = {"tier", NULL};
    const char *extra = s_unknown_field(root, known);
    const char *tier = json_string_value(json_object_get(root, "tier"));
    keys_rc_t rc = KEYS_FAIL;
    if (extra)
        status = s_error(out, "invalid_request", 0, extra, "unknown field '%.64s'", extra);
    else if (!tier || !tiers_find(req->tiers, tier) || strcmp(tier, TIERS_CONFIG) == 0)
        status = s_tier_error(req, out, tier);
    else if ((rc = keys_set_tier(keys, name, tier, req->now_ms)) == KEYS_UNKNOWN)
        status = s_error(out, "not_found", 0, "name", "no live key named '%s'", name);
    else if (rc != KEYS_OK)
        status = s_error(out, "internal_error", 0, NULL, "the change could not be stored");
    if (!status) {
        alog_info("admin: key '%s' moved to tier %s", name, tier);
        s_audit(req, "key_retiered", name, tier);
    }
    json_decref(root);
    return status ? status : s_json(out, 200, s_record_json(keys_find(keys, name), req->now_ms));
}

/* ---- tiers (GET /admin/tiers, PUT /admin/tiers/{name}) ---------------- */

static int s_tiers_list(const admin_request_t *req, abuf_t *out)
{
    abuf_reset(out);
    int rc = abuf_puts(out, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; rc == 0 && i < tiers_count(req->tiers); i++) {
        char *t = tiers_to_json(tiers_at(req->tiers, i), true);
        rc = !t || (i && abuf_puts(out, ",") < 0) || abuf_puts(out, t) < 0 ? -1 : 0;
        free(t);
    }
    if (rc < 0 || abuf_puts(out, "]}") < 0)
        return s_error(out, "internal_error", 0, NULL, "out of memory");
    return 200;
}

static int s_tier_put(const admin_request_t *req, abuf_t *out)
{
    const char *name = req->param ? req->param : "";
    if (!tiers_name_ok(name))
        return s_error(out, "invalid_request", 0, "name",
                       "a tier name is 1..%d characters of A-Z a-z 0-9 . _ -", TIERS_NAME_MAX);
    if (strcmp(name, TIERS_CONFIG) == 0)
        return s_error(out, "invalid_request", 0, "name",
                       "the config tier (the --api-key keys) is built in and cannot be changed");
    if (!req->tiers)
        return s_error(out, "internal_error", 0, NULL, "the tier table is not open");
    const tier_t *have = tiers_find(req->tiers, name);
    tier_t t;
    memset(&t, 0, sizeof t);
    if (have)
        t = *have; /* a field left out keeps its value */
    snprintf(t.name, sizeof t.name, "%s", name);
    char param[64], msg[256];
    if (!req->body || !req->len)
        return s_error(out, "invalid_request", 0, NULL,
                       "the body must be a JSON object of tier fields");
    if (tiers_from_json(req->body, req->len, &t, param, sizeof param, msg, sizeof msg) != 0)
        return s_error(out, "invalid_request", 0, param[0] ? param : NULL, "%s", msg);
    tier_t stored;
    if (tiers_put(req->tiers, &t, req->now_ms, &stored) != 0)
        return s_error(out, "internal_error", 0, NULL, "the tier could not be stored");
    alog_info("admin: tier '%s' %s", name, have ? "changed" : "created");
    if (req->audit) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s rpm=%ld rph=%ld rpd=%ld", have ? "changed" : "created",
                 stored.per_minute, stored.per_hour, stored.per_day);
        audit_append(req->audit, req->now_ms, "tier_changed", "admin", req->origin, name, detail);
    }
    char *text = tiers_to_json(&stored, true);
    abuf_reset(out);
    int rc = text ? abuf_puts(out, text) : -1;
    free(text);
    if (rc < 0)
        return s_error(out, "internal_error", 0, NULL, "out of memory");
    return have ? 200 : 201;
}

int admin_handle(keys_t *keys, const admin_request_t *req, abuf_t *out)
{
    if (req->route == ROUTE_ADMIN_AUDIT)
        return s_audit_list(req, out);
    if (req->route == ROUTE_ADMIN_TIERS_LIST)
        return s_tiers_list(req, out);
    if (req->route == ROUTE_ADMIN_TIER_PUT)
        return s_tier_put(req, out);
    if (!keys)
        return s_error(out, "internal_error", 0, NULL, "the key table is not open");
    switch (req->route) {
    case ROUTE_ADMIN_KEYS_CREATE:
        return s_create(keys, req, out);
    case ROUTE_ADMIN_KEYS_LIST:
        return s_list(keys, req, out);
    case ROUTE_ADMIN_KEY_REVOKE:
        return s_revoke(keys, req, out);
    case ROUTE_ADMIN_KEY_TIER:
        return s_set_tier(keys, req, out);
    default:
        return s_error(out, "not_found", 0, NULL, "no such admin route");
    }
}
