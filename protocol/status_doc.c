/*  status_doc — see status_doc.h. */
#include "protocol/status_doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/utf8.h"

#define S_MAX_EXACT 9007199254740992.0 /* 2^53: larger numbers are not trusted */

struct _status_doc_store_t {
    json_t *root; /* every string of the document points into it */
};

/* ==== rendering ============================================================ */

/*  Each setter returns 0, or -1 when the value or the key could not be made. */
static int s_set(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new(obj, key, v) : -1;
}

static int s_num(json_t *obj, const char *key, int64_t v)
{
    if (v == STATUS_DOC_ABSENT)
        return 0;
    return s_set(obj, key, v == STATUS_DOC_NULL ? json_null() : json_integer((json_int_t)v));
}

/*  A JSON string of v; bytes that are not UTF-8 (a field cut short by its
    producer) become U+FFFD rather than failing the whole document. */
static json_t *s_jstr(const char *v)
{
    json_t *j = json_string(v);
    size_t len = strlen(v);
    if (j || utf8_valid(v, len))
        return j; /* NULL here: out of memory */
    abuf_t clean = ABUF_INIT;
    const unsigned char *p = (const unsigned char *)v;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        size_t n = utf8_decode(p + i, len - i, NULL);
        rc = n ? abuf_append(&clean, p + i, n) : abuf_puts(&clean, "\xEF\xBF\xBD");
        i += n ? n : 1;
    }
    j = rc == 0 ? json_stringn(clean.data ? clean.data : "", clean.len) : NULL;
    abuf_free(&clean);
    return j;
}

/*  A string that is missing when NULL. */
static int s_str(json_t *obj, const char *key, const char *v)
{
    return v ? s_set(obj, key, s_jstr(v)) : 0;
}

/*  A string that is null when NULL. */
static int s_nstr(json_t *obj, const char *key, const char *v)
{
    return s_set(obj, key, v ? s_jstr(v) : json_null());
}

static json_t *s_model_json(const status_doc_model_t *m, bool local)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= s_str(o, "name", m->name);
    rc |= s_str(o, "arena_id", m->arena_id);
    rc |= s_str(o, "modality", m->modality);
    rc |= s_num(o, "cooled_remaining_ms", m->cooled_remaining_ms);
    rc |= s_nstr(o, "reason", m->reason);
    if (local)
        rc |= s_nstr(o, "display_name", m->display_name);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *s_account_json(const status_doc_account_t *a, bool local)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= s_str(o, "id", a->id);
    rc |= s_set(o, "known", json_boolean(a->known));
    if (local) {
        rc |= s_num(o, "next_slot_ms", a->next_slot_ms);
        rc |= s_num(o, "next_slot_at_ms", a->next_slot_at_ms);
        rc |= s_num(o, "flag_remaining_ms", a->flag_remaining_ms);
        rc |= s_nstr(o, "reason", a->reason);
    } else {
        rc |= s_num(o, "flag_remaining_ms", a->flag_remaining_ms);
        json_t *starts = json_array();
        rc |= s_set(o, "starts_ago_ms", starts);
        for (size_t k = 0; starts && k < a->n_starts; k++)
            rc |= json_array_append_new(starts, json_integer((json_int_t)a->starts_ago_ms[k]));
        rc |= s_num(o, "next_slot_ms", a->next_slot_ms);
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *s_tab_json(const status_doc_tab_t *t)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= s_str(o, "id", t->id);
    rc |= s_str(o, "href", t->href);
    rc |= s_str(o, "account", t->account);
    rc |= s_set(o, "account_known", json_boolean(t->account_known));
    rc |= s_set(o, "logged_in", t->logged_in < 0 ? json_null() : json_boolean(t->logged_in));
    rc |= s_set(o, "login_required", json_boolean(t->login_required));
    rc |= s_set(o, "challenged", json_boolean(t->challenged));
    rc |= s_num(o, "inflight", t->inflight);
    rc |= s_num(o, "connected_ms", t->connected_ms);
    rc |= s_nstr(o, "hint", t->hint);
    rc |= s_nstr(o, "images", t->images);
    json_t *drift = t->has_drift ? json_object() : json_null();
    rc |= s_set(o, "last_unrecognised", drift);
    if (t->has_drift && drift) {
        rc |= s_num(drift, "at_ms", t->drift_at_ms);
        rc |= s_num(drift, "status", t->drift_status);
        rc |= s_str(drift, "kind", t->drift_kind);
        rc |= s_str(drift, "body", t->drift_body);
        rc |= s_str(drift, "field", t->drift_field);
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *s_mesh_json(const status_doc_mesh_t *m)
{
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I}",
        "bytes_in", (json_int_t)m->bytes_in, "bytes_out", (json_int_t)m->bytes_out, "msgs_in",
        (json_int_t)m->msgs_in, "msgs_out", (json_int_t)m->msgs_out, "ping_req_sent",
        (json_int_t)m->ping_req_sent, "ping_req_served", (json_int_t)m->ping_req_served,
        "ping_req_refused", (json_int_t)m->ping_req_refused, "indirect_acks",
        (json_int_t)m->indirect_acks, "stale_acks", (json_int_t)m->stale_acks, "forged",
        (json_int_t)m->forged, "records_applied", (json_int_t)m->records_applied, "records_refused",
        (json_int_t)m->records_refused, "records_sent", (json_int_t)m->records_sent,
        "discover_heard", (json_int_t)m->discover_heard, "discover_dialed",
        (json_int_t)m->discover_dialed, "discover_forged", (json_int_t)m->discover_forged,
        "discover_malformed", (json_int_t)m->discover_malformed);
}

/*  An object of numbers: {"k0": v0, "k1": v1, …}. */
static json_t *s_nums(const char *const *keys, const int64_t *v, size_t n)
{
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    for (size_t i = 0; i < n; i++)
        rc |= s_num(o, keys[i], v[i]);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/*  The local node's "tabs": {"list": […]}. */
static int s_tab_list(json_t *tabs, const status_doc_node_t *n)
{
    json_t *list = json_array();
    int rc = s_set(tabs, "list", list);
    for (size_t i = 0; list && i < n->n_tabs; i++)
        rc |= json_array_append_new(list, s_tab_json(&n->tabs[i]));
    return rc ? -1 : 0;
}

static json_t *s_node_json(const status_doc_node_t *n)
{
    static const char *const tab_keys[] = {"count", "healthy"};
    static const char *const load_keys[] = {"inflight", "queued", "capacity"};
    static const char *const stats_keys[] = {"ok", "failed", "p50_ms"};
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= s_str(o, "id", n->id);
    rc |= s_str(o, "name", n->name);
    rc |= s_set(o, "self", json_boolean(n->local));
    rc |= s_str(o, "address", n->address);
    rc |= s_str(o, "http", n->http);
    rc |= s_str(o, "state", n->state);
    rc |= s_num(o, "age_ms", n->age_ms);
    rc |= s_num(o, "uptime_ms", n->uptime_ms);
    rc |= s_num(o, "incarnation", n->incarnation);
    json_t *tabs = s_nums(tab_keys, (int64_t[]){n->tabs_count, n->tabs_healthy}, 2);
    rc |= s_set(o, "tabs", tabs);
    if (tabs && n->local && n->has_tab_list)
        rc |= s_tab_list(tabs, n);
    rc |= s_set(o, "load", s_nums(load_keys, (int64_t[]){n->inflight, n->queued, n->capacity}, 3));
    rc |= s_set(o, "stats", s_nums(stats_keys, (int64_t[]){n->ok, n->failed, n->p50_ms}, 3));
    rc |= s_num(o, "node_cooled_remaining_ms", n->node_cooled_remaining_ms);
    rc |= s_num(o, "catalog_updated_ms", n->catalog_updated_ms);
    if (n->has_models) {
        json_t *models = json_array();
        rc |= s_set(o, "models", models);
        for (size_t i = 0; models && i < n->n_models; i++)
            rc |= json_array_append_new(models, s_model_json(&n->models[i], n->local));
    }
    rc |= s_nstr(o, "reported_by", n->reported_by);
    rc |= s_set(o, "indirect", json_boolean(n->indirect));
    if (n->has_accounts) {
        json_t *accounts = json_array();
        rc |= s_set(o, "accounts", accounts);
        for (size_t i = 0; accounts && i < n->n_accounts; i++)
            rc |= json_array_append_new(accounts, s_account_json(&n->accounts[i], n->local));
    }
    if (n->local) {
        json_t *pace = n->has_pace ? json_object() : json_null();
        rc |= s_set(o, "pace", pace);
        if (n->has_pace && pace) {
            rc |= s_num(pace, "interval_s", n->pace_interval_s);
            rc |= s_str(pace, "window", n->pace_window);
        }
    }
    rc |= s_num(o, "paced_remaining_ms", n->paced_remaining_ms);
    if (n->local) {
        rc |= s_str(o, "arena_mode", n->arena_mode);
        if (n->has_mesh)
            rc |= s_set(o, "mesh", s_mesh_json(&n->mesh));
    }
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *status_doc_to_json(const status_doc_t *doc)
{
    json_t *root = json_object();
    int rc = root ? 0 : -1;
    rc |= s_str(root, "self", doc->self);
    rc |= s_num(root, "generated_ms", doc->generated_ms);
    if (doc->has_nodes) {
        json_t *nodes = json_array();
        rc |= s_set(root, "nodes", nodes);
        for (size_t i = 0; nodes && i < doc->n_nodes; i++)
            rc |= json_array_append_new(nodes, s_node_json(&doc->nodes[i]));
    }
    if (doc->has_routing) {
        json_t *routing = json_object();
        rc |= s_set(root, "routing", routing);
        for (size_t i = 0; routing && i < doc->n_routing; i++) {
            const status_doc_route_t *r = &doc->routing[i];
            if (!r->model || !utf8_valid(r->model, strlen(r->model)))
                continue; /* not a key JSON can hold: left out */
            json_t *o = json_object();
            int orc = o ? 0 : -1;
            orc |= s_nstr(o, "node", r->node);
            orc |= s_str(o, "state", r->state);
            orc |= s_str(o, "why", r->why);
            orc |= s_num(o, "retry_ms", r->retry_ms);
            if (orc) {
                json_decref(o);
                rc = -1;
                break;
            }
            rc |= json_object_set_new(routing, r->model, o);
        }
    }
    if (rc) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int status_doc_render(const status_doc_t *doc, abuf_t *out)
{
    json_t *root = status_doc_to_json(doc);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    int rc = text ? abuf_puts(out, text) : -1;
    free(text);
    json_decref(root);
    return rc;
}

/* ==== parsing ============================================================== */

typedef struct {
    bool oom;
} s_parse_t;

static int64_t s_get_num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key); /* NULL when obj is not an object */
    if (json_is_null(v))
        return STATUS_DOC_NULL;
    if (!json_is_number(v))
        return STATUS_DOC_ABSENT;
    double d = json_number_value(v);
    if (!(d >= -S_MAX_EXACT && d <= S_MAX_EXACT))
        return STATUS_DOC_ABSENT;
    return (int64_t)d;
}

/*  A number where null means nothing either: absent. */
static int64_t s_get_val(const json_t *obj, const char *key)
{
    int64_t v = s_get_num(obj, key);
    return v == STATUS_DOC_NULL ? STATUS_DOC_ABSENT : v;
}

static uint64_t s_get_count(const json_t *obj, const char *key)
{
    int64_t v = s_get_num(obj, key);
    return v >= 0 ? (uint64_t)v : 0;
}

/*  Borrowed from the tree (it lives as long as the document). Stops at an
    embedded NUL. */
static const char *s_get_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) > STATUS_DOC_MAX_STR)
        return NULL;
    return json_string_value(v);
}

static bool s_get_true(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/*  Room for min(size, cap) entries of a list; *dropped counts the rest. */
static void *s_alloc_list(s_parse_t *p, const json_t *arr, size_t cap, size_t size, size_t *want,
                          size_t *dropped)
{
    size_t total = json_array_size(arr);
    *want = total < cap ? total : cap;
    *dropped = total - *want;
    if (*want == 0)
        return NULL;
    void *list = calloc(*want, size);
    if (!list)
        p->oom = true;
    return list;
}

static void s_parse_model(const json_t *m, status_doc_model_t *out)
{
    out->name = s_get_str(m, "name");
    out->arena_id = s_get_str(m, "arena_id");
    out->modality = s_get_str(m, "modality");
    out->cooled_remaining_ms = s_get_val(m, "cooled_remaining_ms");
    out->reason = s_get_str(m, "reason");
    out->display_name = s_get_str(m, "display_name");
}

static void s_parse_account(s_parse_t *p, const json_t *a, status_doc_account_t *out)
{
    out->id = s_get_str(a, "id");
    out->known = s_get_true(a, "known");
    out->next_slot_ms = s_get_num(a, "next_slot_ms");
    out->next_slot_at_ms = s_get_val(a, "next_slot_at_ms");
    out->flag_remaining_ms = s_get_val(a, "flag_remaining_ms");
    out->reason = s_get_str(a, "reason");
    const json_t *starts = json_object_get(a, "starts_ago_ms");
    size_t want, dropped;
    int64_t *list = s_alloc_list(p, starts, STATUS_DOC_MAX_STARTS, sizeof *list, &want, &dropped);
    for (size_t k = 0; list && k < want; k++) {
        const json_t *v = json_array_get(starts, k);
        double d = json_number_value(v); /* 0 for a non-number */
        if (json_is_number(v) && d >= -S_MAX_EXACT && d <= S_MAX_EXACT)
            list[out->n_starts++] = (int64_t)d;
    }
    out->starts_ago_ms = list;
}

static void s_parse_tab(const json_t *t, status_doc_tab_t *out)
{
    out->id = s_get_str(t, "id");
    out->href = s_get_str(t, "href");
    out->account = s_get_str(t, "account");
    out->account_known = s_get_true(t, "account_known");
    const json_t *li = json_object_get(t, "logged_in");
    out->logged_in = json_is_boolean(li) ? json_is_true(li) : -1;
    out->login_required = s_get_true(t, "login_required");
    out->challenged = s_get_true(t, "challenged");
    out->inflight = s_get_val(t, "inflight");
    out->connected_ms = s_get_val(t, "connected_ms");
    out->hint = s_get_str(t, "hint");
    out->images = s_get_str(t, "images");
    const json_t *d = json_object_get(t, "last_unrecognised");
    out->has_drift = json_is_object(d);
    out->drift_at_ms = s_get_val(d, "at_ms");
    out->drift_status = s_get_val(d, "status");
    out->drift_kind = s_get_str(d, "kind");
    out->drift_body = s_get_str(d, "body");
    out->drift_field = s_get_str(d, "field");
}

static void s_parse_lists(s_parse_t *p, const json_t *obj, status_doc_node_t *n)
{
    const json_t *arr = json_object_get(obj, "models");
    size_t want, dropped;
    if ((n->has_models = json_is_array(arr))) {
        status_doc_model_t *list =
            s_alloc_list(p, arr, STATUS_DOC_MAX_MODELS, sizeof *list, &want, &n->models_dropped);
        for (size_t i = 0; list && i < want; i++) {
            const json_t *m = json_array_get(arr, i);
            if (json_is_object(m))
                s_parse_model(m, &list[n->n_models++]);
            else
                n->models_dropped++;
        }
        n->models = list;
    }
    arr = json_object_get(obj, "accounts");
    if ((n->has_accounts = json_is_array(arr))) {
        status_doc_account_t *list = s_alloc_list(p, arr, STATUS_DOC_MAX_ACCOUNTS, sizeof *list,
                                                  &want, &n->accounts_dropped);
        for (size_t i = 0; list && i < want; i++) {
            const json_t *a = json_array_get(arr, i);
            if (json_is_object(a))
                s_parse_account(p, a, &list[n->n_accounts++]);
            else
                n->accounts_dropped++;
        }
        n->accounts = list;
    }
    arr = json_object_get(json_object_get(obj, "tabs"), "list");
    if ((n->has_tab_list = json_is_array(arr))) {
        status_doc_tab_t *list =
            s_alloc_list(p, arr, STATUS_DOC_MAX_TABS, sizeof *list, &want, &n->tabs_dropped);
        for (size_t i = 0; list && i < want; i++) {
            const json_t *t = json_array_get(arr, i);
            if (json_is_object(t))
                s_parse_tab(t, &list[n->n_tabs++]);
            else
                n->tabs_dropped++;
        }
        n->tabs = list;
    }
    (void)dropped;
}

static void s_parse_node(s_parse_t *p, const json_t *obj, status_doc_node_t *n)
{
    n->local = s_get_true(obj, "self");
    n->id = s_get_str(obj, "id");
    n->name = s_get_str(obj, "name");
    n->address = s_get_str(obj, "address");
    n->http = s_get_str(obj, "http");
    n->state = s_get_str(obj, "state");
    n->age_ms = s_get_num(obj, "age_ms");
    n->uptime_ms = s_get_val(obj, "uptime_ms");
    n->incarnation = s_get_val(obj, "incarnation");
    const json_t *tabs = json_object_get(obj, "tabs");
    n->tabs_count = s_get_val(tabs, "count");
    n->tabs_healthy = s_get_val(tabs, "healthy");
    const json_t *load = json_object_get(obj, "load");
    n->inflight = s_get_val(load, "inflight");
    n->queued = s_get_val(load, "queued");
    n->capacity = s_get_val(load, "capacity");
    const json_t *stats = json_object_get(obj, "stats");
    n->ok = s_get_val(stats, "ok");
    n->failed = s_get_val(stats, "failed");
    n->p50_ms = s_get_val(stats, "p50_ms");
    n->node_cooled_remaining_ms = s_get_val(obj, "node_cooled_remaining_ms");
    n->catalog_updated_ms = s_get_val(obj, "catalog_updated_ms");
    n->reported_by = s_get_str(obj, "reported_by");
    n->indirect = s_get_true(obj, "indirect");
    n->paced_remaining_ms = s_get_val(obj, "paced_remaining_ms");
    const json_t *pace = json_object_get(obj, "pace");
    n->has_pace = json_is_object(pace);
    n->pace_interval_s = s_get_val(pace, "interval_s");
    n->pace_window = s_get_str(pace, "window");
    n->arena_mode = s_get_str(obj, "arena_mode");
    const json_t *mesh = json_object_get(obj, "mesh");
    if ((n->has_mesh = json_is_object(mesh)))
        n->mesh = (status_doc_mesh_t){
            .bytes_in = s_get_count(mesh, "bytes_in"),
            .bytes_out = s_get_count(mesh, "bytes_out"),
            .msgs_in = s_get_count(mesh, "msgs_in"),
            .msgs_out = s_get_count(mesh, "msgs_out"),
            .ping_req_sent = s_get_count(mesh, "ping_req_sent"),
            .ping_req_served = s_get_count(mesh, "ping_req_served"),
            .ping_req_refused = s_get_count(mesh, "ping_req_refused"),
            .indirect_acks = s_get_count(mesh, "indirect_acks"),
            .stale_acks = s_get_count(mesh, "stale_acks"),
            .forged = s_get_count(mesh, "forged"),
            .records_applied = s_get_count(mesh, "records_applied"),
            .records_refused = s_get_count(mesh, "records_refused"),
            .records_sent = s_get_count(mesh, "records_sent"),
            .discover_heard = s_get_count(mesh, "discover_heard"),
            .discover_dialed = s_get_count(mesh, "discover_dialed"),
            .discover_forged = s_get_count(mesh, "discover_forged"),
            .discover_malformed = s_get_count(mesh, "discover_malformed"),
        };
    s_parse_lists(p, obj, n);
}

status_doc_rc_t status_doc_parse(const uint8_t *buf, size_t len, status_doc_t **out, char *err,
                                 size_t err_len)
{
    *out = NULL;
    if (len > STATUS_DOC_MAX_TEXT) {
        if (err && err_len)
            snprintf(err, err_len, "a status document of %zu bytes (more than %zu)", len,
                     STATUS_DOC_MAX_TEXT);
        return STATUS_DOC_TOOBIG;
    }
    json_error_t jerr;
    /* reals for every number: an integer beyond int64 is "unknown", not a syntax error */
    json_t *root =
        json_loadb((const char *)buf, len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        if (err && err_len)
            snprintf(err, err_len, "malformed JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                     jerr.column);
        return STATUS_DOC_MALFORMED;
    }
    s_parse_t p = {0};
    status_doc_t *doc = calloc(1, sizeof *doc);
    status_doc_store_t *store = calloc(1, sizeof *store);
    if (!doc || !store) {
        free(doc);
        free(store);
        json_decref(root);
        goto nomem;
    }
    store->root = root;
    doc->store = store;
    doc->self = s_get_str(root, "self");
    doc->generated_ms = s_get_val(root, "generated_ms");
    const json_t *nodes = json_object_get(root, "nodes");
    if ((doc->has_nodes = json_is_array(nodes))) {
        size_t want;
        status_doc_node_t *list =
            s_alloc_list(&p, nodes, STATUS_DOC_MAX_NODES, sizeof *list, &want, &doc->nodes_dropped);
        doc->nodes = list;
        for (size_t i = 0; list && i < want && !p.oom; i++) {
            const json_t *obj = json_array_get(nodes, i);
            if (json_is_object(obj))
                s_parse_node(&p, obj, &list[doc->n_nodes++]);
            else
                doc->nodes_dropped++;
        }
    }
    const json_t *routing = json_object_get(root, "routing");
    if ((doc->has_routing = json_is_object(routing))) {
        size_t total = json_object_size(routing);
        size_t want = total < STATUS_DOC_MAX_ROUTES ? total : STATUS_DOC_MAX_ROUTES;
        doc->routing_dropped = total - want;
        status_doc_route_t *list = want ? calloc(want, sizeof *list) : NULL;
        p.oom |= want && !list;
        doc->routing = list;
        const char *model;
        json_t *r;
        json_object_foreach((json_t *)routing, model, r)
        {
            if (!list || doc->n_routing == want)
                break;
            if (!json_is_object(r) || strlen(model) > STATUS_DOC_MAX_STR) {
                doc->routing_dropped++;
                continue;
            }
            list[doc->n_routing++] = (status_doc_route_t){
                .model = model,
                .node = s_get_str(r, "node"),
                .state = s_get_str(r, "state"),
                .why = s_get_str(r, "why"),
                .retry_ms = s_get_val(r, "retry_ms"),
            };
        }
    }
    if (p.oom) {
        status_doc_destroy(&doc);
        goto nomem;
    }
    *out = doc;
    return STATUS_DOC_OK;
nomem:
    if (err && err_len)
        snprintf(err, err_len, "out of memory");
    return STATUS_DOC_NOMEM;
}

void status_doc_destroy(status_doc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    status_doc_t *self = *self_p;
    *self_p = NULL;
    if (!self->store)
        return; /* built by a caller: nothing here is ours */
    {
        for (size_t i = 0; i < self->n_nodes; i++) {
            const status_doc_node_t *n = &self->nodes[i];
            for (size_t k = 0; k < n->n_accounts; k++)
                free((void *)n->accounts[k].starts_ago_ms);
            free((void *)n->models);
            free((void *)n->accounts);
            free((void *)n->tabs);
        }
        free((void *)self->nodes);
        free((void *)self->routing);
        json_decref(self->store->root);
        free(self->store);
    }
    free(self);
}
