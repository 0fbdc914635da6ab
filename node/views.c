/*  views — see views.h. */
#include "node/views.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/openai.h"
#include "protocol/status_doc.h"

struct _views_t {
    views_config_t cfg;
    bool leaving;
    mesh_peer_view_t *peers; /* VIEWS_MAX_PEERS, scratch of one call */
    long long *ago;          /* WIRE_MAX_STARTS, scratch of one call */
};

views_t *views_new(const views_config_t *cfg)
{
    views_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->peers = calloc(VIEWS_MAX_PEERS, sizeof *self->peers);
    self->ago = calloc(WIRE_MAX_STARTS, sizeof *self->ago);
    if (!self->peers || !self->ago)
        views_destroy(&self);
    return self;
}

void views_destroy(views_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    views_t *self = *self_p;
    free(self->peers);
    free(self->ago);
    free(self);
    *self_p = NULL;
}

void views_set_leaving(views_t *self)
{
    self->leaving = true;
}

static size_t s_peers(views_t *self)
{
    size_t n = mesh_peers(self->cfg.mesh, self->peers, VIEWS_MAX_PEERS);
    return n < VIEWS_MAX_PEERS ? n : VIEWS_MAX_PEERS;
}

static long long s_left(long long remaining, long long age)
{
    return remaining > age ? remaining - age : 0;
}

static long long s_account_flag(views_t *self, const char *account, long long now,
                                const char **reason)
{
    char id[TABS_ACCOUNT_COOLDOWN_ID];
    tabs_account_cooldown_id(account, id, sizeof id);
    return cooldown_remaining(self->cfg.cooldowns, id, COOLDOWN_ALL, now, reason);
}

/* ---- /health, /v1/models, /mesh/refresh-models ---- */

int views_health(views_t *self, abuf_t *out)
{
    tabs_stats_t ts;
    tabs_stats(self->cfg.tabs, &ts);
    json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "status", ts.healthy > 0 ? "ok" : "degraded",
                          "node", self->cfg.cfg->name, "tabs", (json_int_t)ts.tabs, "peers",
                          (json_int_t)mesh_alive_count(self->cfg.mesh));
    char *s = json_dumps(j, JSON_COMPACT);
    abuf_puts(out, s ? s : "{}");
    free(s);
    json_decref(j);
    return 200;
}

/*  Every model served anywhere in the mesh, each name once: ours first,
    then what alive peers advertise. *out is allocated (free it), its
    strings borrowed from the catalog and the peer views of this call.
    -1 when out of memory. */
static int s_collect_models(views_t *self, openai_model_entry_t **out, size_t *n_out)
{
    const mesh_peer_view_t *views = self->peers;
    catalog_t *catalog = self->cfg.catalog;
    size_t n_peers = s_peers(self);
    size_t n_local = catalog_served_count(catalog), cap = n_local;
    for (size_t i = 0; i < n_peers; i++)
        if (views[i].state)
            cap += views[i].state->n_models;
    openai_model_entry_t *m = calloc(cap ? cap : 1, sizeof *m);
    if (!m)
        return -1;
    size_t n = 0;
    long long created = catalog_updated(catalog);
    for (size_t i = 0; i < n_local; i++) {
        const arena_model_t *am = catalog_served_at(catalog, i, &m[n].id);
        m[n].created = created;
        m[n].display_name = am->display_name;
        m[n++].owned_by = am->organization ? am->organization : "lmarena";
    }
    for (size_t i = 0; i < n_peers; i++) {
        const wire_state_t *st = views[i].state;
        if (!st || views[i].liveness != MESH_PEER_ALIVE)
            continue;
        for (size_t k = 0; k < st->n_models; k++) {
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = strcmp(m[j].id, st->models[k].name) == 0;
            if (seen)
                continue;
            const char *dn = st->models[k].display_name;
            m[n].id = st->models[k].name;
            m[n].created = st->started_at_ms / 1000;
            m[n].display_name = dn && *dn ? dn : NULL;
            m[n++].owned_by = "lmarena";
        }
    }
    *out = m;
    *n_out = n;
    return 0;
}

int views_models(views_t *self, abuf_t *out)
{
    openai_model_entry_t *m = NULL;
    size_t n = 0;
    if (s_collect_models(self, &m, &n) < 0)
        return 500;
    openai_render_models(out, m, n);
    free(m);
    return 200;
}

int views_model(views_t *self, const char *id, abuf_t *out)
{
    openai_model_entry_t *m = NULL;
    size_t n = 0;
    if (s_collect_models(self, &m, &n) < 0)
        return 500;
    const openai_model_entry_t *hit = NULL;
    for (size_t i = 0; id && i < n && !hit; i++)
        if (strcmp(m[i].id, id) == 0)
            hit = &m[i];
    int status = 200;
    if (hit) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:s}", "id", hit->id, "object", "model", "created",
                              (json_int_t)hit->created, "owned_by", hit->owned_by);
        if (j && hit->display_name)
            json_object_set_new(j, "display_name", json_string(hit->display_name));
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        status = s ? 200 : 500;
        abuf_puts(out, s ? s : "{}");
        free(s);
        json_decref(j);
    } else {
        openai_error_t err;
        openai_error_set(&err, "model_not_found", "model",
                         "The model '%.200s' does not exist or no node of the mesh serves it",
                         id ? id : "");
        openai_render_error(out, &err);
        status = err.status;
    }
    free(m);
    return status;
}

int views_refresh_models(views_t *self, abuf_t *out)
{
    size_t n = tabs_refresh_catalog(self->cfg.tabs);
    alog_info("model catalog refresh asked: %zu tab(s) asked for their page", n);
    abuf_printf(out, "{\"tabs\":%zu}", n);
    return 202;
}

/* ---- /mesh/status: the document (protocol/status_doc) ---- */

/*  Frees what s_local/s_peer allocated in a document they built. */
static void s_doc_free(status_doc_t *doc)
{
    for (size_t i = 0; i < doc->n_nodes; i++) {
        const status_doc_node_t *n = &doc->nodes[i];
        for (size_t k = 0; k < n->n_accounts; k++)
            free((void *)n->accounts[k].starts_ago_ms);
        free((void *)n->models);
        free((void *)n->accounts);
        free((void *)n->tabs);
    }
    free((void *)doc->nodes);
}

typedef struct {
    status_doc_tab_t *list;
    size_t n, cap;
    bool oom;
} s_tabs_t;

static void s_tab(void *arg, const tabs_tab_view_t *t)
{
    s_tabs_t *tabs = arg;
    if (tabs->n == tabs->cap) {
        size_t cap = tabs->cap ? tabs->cap * 2 : 8;
        status_doc_tab_t *list = realloc(tabs->list, cap * sizeof *list);
        if (!list) {
            tabs->oom = true;
            return;
        }
        tabs->list = list;
        tabs->cap = cap;
    }
    /* the view's strings live in the tabs until the next link event: the
       document is rendered before this turn ends */
    tabs->list[tabs->n++] = (status_doc_tab_t){
        .id = t->id,
        .href = t->href,
        .account = t->account,
        .account_known = t->account_known,
        .logged_in = t->logged_in < 0 ? -1 : t->logged_in != 0,
        .login_required = t->login_required,
        .challenged = t->challenged,
        .inflight = t->inflight,
        .connected_ms = t->connected_ms,
        .hint = t->hint,
        .images = t->upload && t->upload[0] ? t->upload : NULL,
        .has_drift = t->drift_ms != 0,
        .drift_at_ms = t->drift_ms,
        .drift_status = t->drift_status,
        .drift_kind = t->drift_kind,
        .drift_body = t->drift_body,
        .drift_field = t->drift_field,
    };
}

/*  Our served models with their cooldowns. */
static status_doc_model_t *s_local_models(views_t *self, long long now, size_t *n_out)
{
    catalog_t *catalog = self->cfg.catalog;
    size_t n = catalog_served_count(catalog);
    status_doc_model_t *models = calloc(n ? n : 1, sizeof *models);
    for (size_t i = 0; models && i < n; i++) {
        const char *name = NULL;
        const arena_model_t *m = catalog_served_at(catalog, i, &name);
        const char *reason = NULL;
        long long left =
            cooldown_remaining(self->cfg.cooldowns, self->cfg.node_id, m->name, now, &reason);
        models[i] = (status_doc_model_t){
            .name = name,
            .arena_id = m->id,
            .modality = arena_modality_name(m->modality),
            .cooled_remaining_ms = left,
            .reason = left > 0 ? reason : NULL,
            .display_name = m->display_name,
        };
    }
    *n_out = models ? n : 0;
    return models;
}

/*  Our accounts with their next free slot (pace) and flag. */
static status_doc_account_t *s_local_accounts(views_t *self, long long now, size_t *n_out)
{
    const char *keys[WIRE_MAX_ACCOUNTS];
    size_t n = tabs_accounts(self->cfg.tabs, keys, WIRE_MAX_ACCOUNTS);
    if (n > WIRE_MAX_ACCOUNTS)
        n = WIRE_MAX_ACCOUNTS;
    status_doc_account_t *accounts = calloc(n ? n : 1, sizeof *accounts);
    for (size_t i = 0; accounts && i < n; i++) {
        const char *reason = NULL;
        long long flag = s_account_flag(self, keys[i], now, &reason);
        long long wait = self->cfg.pace ? pace_wait_ms(self->cfg.pace, keys[i], now) : 0;
        accounts[i] = (status_doc_account_t){
            .id = keys[i],
            .known = strncmp(keys[i], "tab:", 4) != 0,
            .next_slot_ms = wait,
            .next_slot_at_ms = now + wait,
            .flag_remaining_ms = flag,
            .reason = flag > 0 ? reason : NULL,
        };
    }
    *n_out = accounts ? n : 0;
    return accounts;
}

/*  This node's own entry; -1 when out of memory. */
static int s_local(views_t *self, long long now, char *addr, size_t addr_len, char *http,
                   size_t http_len, status_doc_node_t *me)
{
    const config_t *cfg = self->cfg.cfg;
    tabs_stats_t ts;
    tabs_stats(self->cfg.tabs, &ts);
    dispatch_stats_t ds;
    dispatch_stats(self->cfg.dispatch, &ds);
    mesh_stats_t ms;
    mesh_stats(self->cfg.mesh, &ms);
    mesh_discover_stats_t disc = {0};
    if (self->cfg.discover)
        mesh_discover_stats(self->cfg.discover, &disc);
    snprintf(addr, addr_len, "%s", mesh_endpoint(self->cfg.mesh));
    snprintf(http, http_len, "http://%s:%d", cfg->http_host, self->cfg.http_port);
    s_tabs_t tabs = {0};
    tabs_each(self->cfg.tabs, s_tab, &tabs);
    *me = (status_doc_node_t){
        .local = true,
        .id = self->cfg.node_id,
        .name = cfg->name,
        .address = cfg->advertise ? cfg->advertise : addr,
        .http = http,
        .state = self->leaving ? "left" : "alive",
        .age_ms = 0,
        .uptime_ms = zclock_mono() - self->cfg.started_mono_ms,
        .incarnation = 0,
        .tabs_count = (int64_t)ts.tabs,
        .tabs_healthy = (int64_t)ts.healthy,
        .inflight = (int64_t)ds.running,
        .queued = (int64_t)ds.queued,
        .capacity = (int64_t)ts.capacity,
        .ok = (int64_t)ds.ok,
        .failed = (int64_t)ds.failed,
        .p50_ms = (int64_t)ds.p50_ms,
        .node_cooled_remaining_ms =
            cooldown_remaining(self->cfg.cooldowns, self->cfg.node_id, COOLDOWN_ALL, now, NULL),
        .catalog_updated_ms = catalog_updated_ms(self->cfg.catalog),
        .has_models = true,
        .reported_by = NULL,
        .indirect = false,
        .has_accounts = true,
        .paced_remaining_ms = tabs_pace_ms(self->cfg.tabs, now),
        .has_tab_list = true,
        .tabs = tabs.list,
        .n_tabs = tabs.n,
        .has_pace = self->cfg.pace != NULL,
        .pace_interval_s = cfg->pace_interval_s,
        .pace_window = cfg->pace_window,
        .arena_mode = cfg->arena_mode,
        .has_mesh = true,
        .mesh = {ms.bytes_in, ms.bytes_out, ms.rx, ms.tx, ms.ping_req_sent, ms.ping_req_served,
                 ms.ping_req_refused, ms.indirect_acks, ms.stale_acks, ms.forged,
                 ms.records_applied, ms.records_refused, ms.records_sent, disc.heard, disc.dialed,
                 disc.forged, disc.malformed},
    };
    me->models = s_local_models(self, now, &me->n_models);
    me->accounts = s_local_accounts(self, now, &me->n_accounts);
    return tabs.oom || !me->models || !me->accounts ? -1 : 0;
}

/*  A peer's accounts as this node sees them; the next slot is what our pace
    rules make of that peer's starts (null with --pace off). */
static status_doc_account_t *s_peer_accounts(views_t *self, const wire_state_t *st, long long age,
                                             size_t *n_out, bool *oom)
{
    pace_config_t pc = {0};
    int wc = 0, ws = 0;
    const config_t *cfg = self->cfg.cfg;
    if (self->cfg.pace && config_parse_window(cfg->pace_window, &wc, &ws) == 0)
        pc = (pace_config_t){cfg->pace_interval_s * 1000LL, wc, ws * 1000LL};
    size_t n = st ? st->n_accounts : 0;
    status_doc_account_t *accounts = calloc(n ? n : 1, sizeof *accounts);
    for (size_t i = 0; accounts && i < n; i++) {
        const wire_account_t *a = &st->accounts[i];
        size_t m = a->n_starts < WIRE_MAX_STARTS ? a->n_starts : WIRE_MAX_STARTS;
        int64_t *starts = calloc(m ? m : 1, sizeof *starts);
        if (!starts) {
            *oom = true;
            n = i; /* s_doc_free frees what was made */
            break;
        }
        for (size_t k = 0; k < m; k++)
            starts[k] = self->ago[k] = a->starts_ago_ms[k] + age;
        accounts[i] = (status_doc_account_t){
            .id = a->id,
            .known = strncmp(a->id, "tab:", 4) != 0,
            .flag_remaining_ms = s_left(a->flag_remaining_ms, age),
            .starts_ago_ms = starts,
            .n_starts = m,
            .next_slot_ms = self->cfg.pace ? pace_rule_wait(&pc, self->ago, m) : STATUS_DOC_NULL,
        };
    }
    *n_out = accounts ? n : 0;
    *oom |= !accounts;
    return accounts;
}

/*  A peer's entry, as this node sees it. An unreachable peer may come
    without a state (only its id and address reached us): zeros. */
static int s_peer(views_t *self, const mesh_peer_view_t *v, long long now, status_doc_node_t *out)
{
    static const wire_state_t none = {.p50_ms = -1};
    const wire_state_t *st = v->state ? v->state : &none;
    long long age = v->state_age_ms;
    /* an unreachable peer: the address we fail to dial */
    const char *address = v->liveness != MESH_PEER_UNREACHABLE && st->endpoint && *st->endpoint
                              ? st->endpoint
                              : v->endpoint;
    *out = (status_doc_node_t){
        .local = false,
        .id = v->id,
        .name = st->name && *st->name ? st->name : v->id,
        .address = address,
        .http = st->http ? st->http : "",
        .state = mesh_liveness_name(v->liveness),
        .age_ms = v->age_ms >= 0 ? v->age_ms : STATUS_DOC_NULL,
        .uptime_ms = st->started_at_ms ? now - st->started_at_ms : 0,
        .incarnation = (int64_t)st->incarnation,
        .tabs_count = st->tabs,
        .tabs_healthy = st->tabs_healthy,
        .inflight = st->inflight,
        .queued = 0,
        .capacity = st->capacity,
        .ok = (int64_t)st->ok,
        .failed = (int64_t)st->failed,
        .p50_ms = (int64_t)st->p50_ms,
        .node_cooled_remaining_ms = s_left(st->node_cooled_remaining_ms, age),
        .catalog_updated_ms = STATUS_DOC_ABSENT,
        .has_models = true,
        .reported_by = v->reported_by,
        .indirect = v->indirect,
        .has_accounts = true,
        .paced_remaining_ms = v->state ? s_left(v->state->paced_remaining_ms, age) : 0,
    };
    size_t n = v->state ? v->state->n_models : 0;
    status_doc_model_t *models = calloc(n ? n : 1, sizeof *models);
    for (size_t k = 0; models && k < n; k++) {
        const wire_model_t *mm = &v->state->models[k];
        long long left = s_left(mm->cooled_remaining_ms, age);
        models[k] = (status_doc_model_t){
            .name = mm->name,
            .arena_id = mm->arena_id ? mm->arena_id : "",
            .modality = mm->modality ? mm->modality : "chat",
            .cooled_remaining_ms = left,
            .reason = left > 0 ? mm->reason : NULL,
        };
    }
    out->models = models;
    out->n_models = models ? n : 0;
    bool oom = !models;
    out->accounts = s_peer_accounts(self, v->state, age, &out->n_accounts, &oom);
    return oom ? -1 : 0;
}

/*  "routing": for every model served anywhere in the mesh, where a request
    sent to this node would go now (dispatch_peek). The entries borrow
    from *peeks (free both) and from the model names of this call. */
static int s_routing(views_t *self, status_doc_t *doc, dispatch_peek_t **peeks)
{
    static const char *const states[] = {
        [DISPATCH_PEEK_LOCAL] = "local", [DISPATCH_PEEK_PEER] = "peer",
        [DISPATCH_PEEK_QUEUE] = "queue", [DISPATCH_PEEK_COOLING] = "cooling",
        [DISPATCH_PEEK_NONE] = "none",
    };
    openai_model_entry_t *m = NULL;
    size_t n = 0;
    if (s_collect_models(self, &m, &n) < 0)
        return -1;
    status_doc_route_t *routes = calloc(n ? n : 1, sizeof *routes);
    *peeks = calloc(n ? n : 1, sizeof **peeks);
    if (!routes || !*peeks) {
        free(m);
        free(routes);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        dispatch_peek_t *p = &(*peeks)[i];
        dispatch_peek(self->cfg.dispatch, m[i].id, p);
        routes[i] = (status_doc_route_t){
            .model = m[i].id,
            .node = p->node[0] ? p->node : NULL,
            .state = states[p->state],
            .why = p->why,
            .retry_ms = p->state == DISPATCH_PEEK_COOLING ? p->retry_ms : STATUS_DOC_ABSENT,
        };
    }
    free(m);
    doc->has_routing = true;
    doc->routing = routes;
    doc->n_routing = n;
    return 0;
}

int views_mesh_status(views_t *self, abuf_t *out)
{
    long long now = zclock_time();
    status_doc_t doc = {
        .self = self->cfg.node_id,
        .generated_ms = now,
        .has_nodes = true,
    };
    dispatch_peek_t *peeks = NULL;
    int rc = s_routing(self, &doc, &peeks); /* before s_peers: it reads the peers too */
    size_t n_peers = s_peers(self);
    status_doc_node_t *nodes = rc == 0 ? calloc(1 + n_peers, sizeof *nodes) : NULL;
    doc.nodes = nodes;
    char addr[300], http[300];
    if (nodes)
        rc = s_local(self, now, addr, sizeof addr, http, sizeof http, &nodes[doc.n_nodes++]);
    for (size_t i = 0; nodes && rc == 0 && i < n_peers; i++)
        if (self->peers[i].id)
            rc = s_peer(self, &self->peers[i], now, &nodes[doc.n_nodes++]);
    rc = !nodes ? -1 : rc ? rc : status_doc_render(&doc, out);
    s_doc_free(&doc);
    free((void *)doc.routing);
    free(peeks);
    return rc ? 500 : 200;
}
