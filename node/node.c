/*  node — see node.h. */
#include "node/node.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "browser_link/link.h"
#include "node/browser.h"
#include "node/extension.h"
#include "node/catalog.h"
#include "node/audit.h"
#include "node/usage.h"
#include "node/cooldown.h"
#include "mesh/mesh.h"
#include "mesh/mesh_discover.h"
#include "protocol/hostport.h"
#include "node/dispatch.h"
#include "node/forward.h"
#include "node/http.h"
#include "node/metrics.h"
#include "node/pace.h"
#include "node/remote.h"
#include "node/repl.h"
#include "node/repl_usage.h"
#include "node/pages.h"
#include "node/routes.h"
#include "node/store.h"
#include "node/tabs.h"
#include "node/traffic.h"
#include "node/views.h"
#include "protocol/alog.h"
#include "protocol/tsan.h"

#define NODE_TICK_MS 100
#define NODE_PRUNE_MS 10000
#define NODE_CATALOG_REFRESH_MS (10 * 60 * 1000)
/*  A rise of a key's counts (node/limits.h) is pushed to every peer at
    once, at most once per this many ms (a burst is coalesced): the push
    part of the overshoot bound of docs/keys.md, "Limits". */
#define NODE_LIMITS_PUSH_MS 50

static const char *const s_arena_origins[] = {
    "https://lmarena.ai",
    "https://*.lmarena.ai",
    "https://arena.ai",
    "https://*.arena.ai",
};

typedef struct {
    const config_t *cfg;
    zsock_t *pipe;
    zloop_t *loop;
    store_t *store;
    keys_t *keys;                   /* API keys made with the admin key (node/keys.h) */
    tiers_t *tiers;                 /* the tiers keys belong to (node/tiers.h) */
    repl_t *repl;                   /* keys and tiers replicated by the mesh (node/repl.h) */
    repl_usage_t *repl_usage;       /* usage rollups replicated (node/repl_usage.h) */
    audit_t *audit;                 /* the append-only audit log (node/audit.h) */
    usage_meter_t *usage;           /* every request's usage (node/usage.h) */
    char id[UUID_STR_LEN];          /* ident_id of sign_key's public key */
    uint8_t sign_key[IDENT_SK_LEN]; /* signs our mesh state (DATA/node.key) */
    char token[160];
    cooldown_t *cooldowns;
    catalog_t *catalog;
    const char **origins;
    link_t *link;
    tabs_t *tabs;
    dispatch_t *dispatch;
    http_t *http;
    mesh_t *mesh;
    mesh_discover_t *discover; /* --discover: LAN beacons; NULL without */
    browser_t *browser;        /* --browser: the managed Chromium; NULL without */
    forward_t *forward;
    remote_t *remote; /* peers' requests run here */
    pace_t *pace;     /* NULL: --pace off */
    views_t *views;
    metrics_t *metrics;           /* GET /metrics: what http and remote recorded */
    traffic_t *traffic;           /* GET /mesh/traffic: the last hour, as http recorded it */
    limits_t *limits;             /* mesh-wide limits of table keys (node/limits.h) */
    wire_key_count_t *key_counts; /* WIRE_MAX_KEY_COUNTS: scratch of s_publish */
    long long limits_pushed;      /* mono ms of the last urgent push of a rise */
    bool limits_due;              /* a rise waits for its push */
    int limits_timer;             /* zloop timer of that push, or -1 */
    /* scratch of one loop turn, per node (several nodes may share a process) */
    mesh_peer_view_t *peer_views;       /* NODE_MAX_PEERS */
    int64_t (*starts)[WIRE_MAX_STARTS]; /* WIRE_MAX_ACCOUNTS */
    unsigned long long pace_ver;        /* pace_version when we last published */
    unsigned long long state_sig;       /* what we last told the mesh about ourselves */
    unsigned long long cool_sig;        /* … and its cooldown deadlines alone */
    size_t state_healthy;
    long long started_ms;
    bool stopping;
    bool flushing;
    long long stop_deadline;
    long long next_prune;
    long long next_refresh;
} node_t;

static long long s_account_flag(node_t *self, const char *account, long long now,
                                const char **reason);

/* ---- callbacks from tabs ---- */

static void s_on_catalog(void *arg, arena_catalog_t *cat)
{
    node_t *self = arg;
    size_t n = cat->n;
    if (catalog_replace(self->catalog, cat) == 0)
        alog_info("model catalog updated: %zu model(s)", n);
    dispatch_wake(self->dispatch);
}

/*  LMArena answered 404 Models not found for a row: never use it again, and
    re-read the catalog from the pages (the fresh row may be new). */
static void s_on_stale(void *arg, const char *model, const char *arena_id)
{
    node_t *self = arg;
    int rc = catalog_mark_stale(self->catalog, arena_id);
    alog_info("model %s: row %s marked stale; %s", model, arena_id,
              rc == 1 ? "its twin serves it now"
                      : "no other row serves it until the page lists one");
    tabs_refresh_catalog(self->tabs);
}

static void s_on_accounts(void *arg)
{
    node_t *self = arg;
    self->state_sig = 0; /* publish at the next tick, urgently */
    self->cool_sig = 0;
}

static void s_on_capacity(void *arg)
{
    node_t *self = arg;
    if (self->dispatch)
        dispatch_wake(self->dispatch);
}

#define NODE_MAX_PEERS VIEWS_MAX_PEERS
/*  Starts published per account: enough for any sane window, and 64
    accounts of them stay far below the mesh's 1 MiB message cap. */
#define NODE_PUBLISHED_STARTS 128

/* ---- pages and views (node/routes.h) ---- */

static int s_render_index(node_t *self, abuf_t *out)
{
    tabs_stats_t ts;
    tabs_stats(self->tabs, &ts);
    const char *m0 = NULL;
    if (catalog_served_count(self->catalog))
        catalog_served_at(self->catalog, 0, &m0);
    pages_index_t in = {
        .node_name = self->cfg->name,
        .arena_origin = self->cfg->arena_origin,
        .http_host = self->cfg->http_host,
        .http_port = http_port(self->http),
        .link_host = pages_link_host(self->cfg->link_host),
        .link_port = link_port(self->link),
        .tabs = ts.tabs,
        .models = catalog_served_count(self->catalog),
        .example_model = m0,
        .api_keys = self->cfg->api_keys.n > 0 || self->cfg->admin_key || keys_count(self->keys),
    };
    return pages_index(&in, out) == 0 ? 200 : 500;
}

/*  The link's address as a browser on this machine dials it. */
static void s_link_url(node_t *self, char *url, size_t size)
{
    snprintf(url, size, "ws://%s:%d/link", pages_link_host(self->cfg->link_host),
             link_port(self->link));
}

static int s_render_userscript(node_t *self, abuf_t *out)
{
    char url[300];
    s_link_url(self, url, sizeof url);
    return pages_userscript_embedded(url, self->token, out) == 0 ? 200 : 500;
}

/*  GET /extension.zip: the extension for installing by hand (unmanaged:
    its service worker leaves the person's tabs alone). */
static int s_render_extension(node_t *self, abuf_t *out)
{
    char url[300];
    s_link_url(self, url, sizeof url);
    extension_params_t p = {.link_url = url,
                            .token = self->token,
                            .origin = self->cfg->arena_origin,
                            .managed = false,
                            .tabs = 1,
                            .stuck_ms = self->cfg->browser_stuck_s * 1000};
    return extension_zip(&p, out) == 0 ? 200 : 500;
}

/*  --browser: the extension written into DATA/browser/extension, then
    Chromium started on DATA/browser/profile (node/browser.h). */
static int s_browser_start(node_t *self, char *err, size_t errlen)
{
    const config_t *cfg = self->cfg;
    char data[PATH_MAX], ext[PATH_MAX + 32], profile[PATH_MAX + 32], log[PATH_MAX + 32];
    char url[300];
    /* absolute: Chromium resolves --load-extension on its own terms */
    if (!realpath(cfg->data_dir, data)) {
        snprintf(err, errlen, "--browser: cannot resolve %.300s: %s", cfg->data_dir,
                 strerror(errno));
        return -1;
    }
    snprintf(ext, sizeof ext, "%s/browser/extension", data);
    snprintf(profile, sizeof profile, "%s/browser/profile", data);
    snprintf(log, sizeof log, "%s/browser/chromium.log", data);
    s_link_url(self, url, sizeof url);
    extension_params_t p = {.link_url = url,
                            .token = self->token,
                            .origin = cfg->arena_origin,
                            .managed = true,
                            .tabs = cfg->browser_tabs,
                            .stuck_ms = cfg->browser_stuck_s * 1000};
    char why[256] = "";
    if (extension_write(&p, ext, why, sizeof why) != 0) {
        snprintf(err, errlen, "--browser: %s", why);
        return -1;
    }
    if (mkdir(profile, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "--browser: cannot create %.300s: %s", profile, strerror(errno));
        return -1;
    }
    browser_config_t bc = {.path = cfg->browser_path,
                           .profile_dir = profile,
                           .ext_dir = ext,
                           .origin = cfg->arena_origin,
                           .tabs = cfg->browser_tabs,
                           .headless = cfg->browser_headless,
                           .no_sandbox = geteuid() == 0,
                           .log_path = log};
    if (bc.no_sandbox)
        alog_warn("browser: arena-node runs as root, so Chromium runs without its sandbox "
                  "(--no-sandbox); run arena-node as a user of its own");
    self->browser = browser_new(&bc, self->loop);
    if (!self->browser) {
        snprintf(err, errlen, "--browser: out of memory");
        return -1;
    }
    alog_info("browser: extension in %s, profile in %s, its output in %s", ext, profile, log);
    return 0;
}

/*  Cooldowns of this node by model, for arena_cooldowns_active: at most
    METRICS_MAX_MODELS rows (the rest counted as "other"). */
typedef struct {
    node_t *self;
    metrics_cooldown_t rows[METRICS_MAX_MODELS + 1];
    size_t n;
} s_cool_rows_t;

static void s_cool_row(void *arg, const char *node_id, const char *model, long long remaining_ms,
                       const char *reason)
{
    (void)reason;
    s_cool_rows_t *c = arg;
    if (remaining_ms <= 0 || strcmp(node_id, c->self->id) != 0)
        return;
    const char *label = model;
    size_t i = 0;
    for (; i < c->n; i++)
        if (strcmp(c->rows[i].model, label) == 0)
            break;
    if (i == c->n && c->n >= METRICS_MAX_MODELS)
        label = "other";
    for (i = 0; i < c->n; i++)
        if (strcmp(c->rows[i].model, label) == 0)
            break;
    if (i == c->n)
        c->rows[c->n++] = (metrics_cooldown_t){label, 0};
    c->rows[i].n++;
}

/*  GET /metrics: the recorded counters, and gauges read now. */
static int s_render_metrics(node_t *self, abuf_t *out)
{
    long long now = zclock_time();
    metrics_gauges_t g = {0};
    tabs_stats_t ts;
    tabs_stats(self->tabs, &ts);
    g.tabs_connected = ts.tabs;
    g.tabs_healthy = ts.healthy;
    g.tab_slots = ts.capacity;
    g.tab_fetches = ts.inflight;
    dispatch_stats_t ds;
    dispatch_stats(self->dispatch, &ds);
    g.queue_depth = ds.queued;
    g.in_flight[METRICS_ORIGIN_CLIENT] = ds.running;
    g.in_flight[METRICS_ORIGIN_PEER] = ds.for_peers;
    const char *keys[WIRE_MAX_ACCOUNTS];
    size_t n_acc = tabs_accounts(self->tabs, keys, WIRE_MAX_ACCOUNTS);
    if (n_acc > WIRE_MAX_ACCOUNTS)
        n_acc = WIRE_MAX_ACCOUNTS;
    g.accounts = n_acc;
    for (size_t i = 0; i < n_acc; i++) {
        if (self->pace && pace_wait_ms(self->pace, keys[i], now) > 0)
            g.accounts_paced++;
        if (s_account_flag(self, keys[i], now, NULL) > 0)
            g.accounts_flagged++;
    }
    s_cool_rows_t *cool = calloc(1, sizeof *cool);
    if (!cool)
        return 500;
    cool->self = self;
    cooldown_each(self->cooldowns, now, s_cool_row, cool);
    g.cooldowns = cool->rows;
    g.n_cooldowns = cool->n;
    size_t n_peers = mesh_peers(self->mesh, self->peer_views, NODE_MAX_PEERS);
    if (n_peers > NODE_MAX_PEERS)
        n_peers = NODE_MAX_PEERS;
    for (size_t i = 0; i < n_peers; i++) {
        static const metrics_peer_state_t map[] = {
            [MESH_PEER_ALIVE] = METRICS_PEER_ALIVE,
            [MESH_PEER_SUSPECT] = METRICS_PEER_SUSPECT,
            [MESH_PEER_DEAD] = METRICS_PEER_DEAD,
            [MESH_PEER_LEFT] = METRICS_PEER_LEFT,
            [MESH_PEER_UNREACHABLE] = METRICS_PEER_UNREACHABLE,
        };
        mesh_liveness_t l = self->peer_views[i].liveness;
        if ((size_t)l < sizeof map / sizeof map[0])
            g.peers[map[l]]++;
    }
    mesh_stats_t ms;
    mesh_stats(self->mesh, &ms);
    g.mesh_msgs_in = ms.rx;
    g.mesh_msgs_out = ms.tx;
    g.mesh_bytes_in = ms.bytes_in;
    g.mesh_bytes_out = ms.bytes_out;
    g.mesh_malformed = ms.malformed;
    g.mesh_forged = ms.forged;
    g.mesh_dropped = ms.dropped;
    g.mesh_curve_rejected = ms.curve_rejected;
    g.mesh_records_applied = ms.records_applied;
    g.mesh_records_refused = ms.records_refused;
    g.mesh_records_sent = ms.records_sent;
    int rc = metrics_render(self->metrics, &g, out);
    free(cool);
    return rc == 0 ? 200 : 500;
}

/*  http's render callback: every route of node/routes.h but chat. */
static int s_render(void *arg, route_id_t route, const char *param, abuf_t *out,
                    const char **content_type)
{
    node_t *self = arg;
    switch (route) {
    case ROUTE_HEALTH:
        return views_health(self->views, out);
    case ROUTE_MODELS:
        return views_models(self->views, out);
    case ROUTE_MODEL:
        return views_model(self->views, param, out);
    case ROUTE_MESH_STATUS:
        return views_mesh_status(self->views, out);
    case ROUTE_REFRESH_MODELS:
        return views_refresh_models(self->views, out);
    case ROUTE_USERSCRIPT:
        *content_type = "text/plain; charset=utf-8"; /* http.c: never a script */
        return s_render_userscript(self, out);
    case ROUTE_INDEX:
        *content_type = "text/html; charset=utf-8";
        return s_render_index(self, out);
    case ROUTE_ASSET_CHART:
        *content_type = "text/javascript; charset=utf-8";
        return pages_chartjs(out) == 0 ? 200 : 500;
    case ROUTE_EXTENSION:
        *content_type = "application/zip"; /* http.c: a download, never a page */
        return s_render_extension(self, out);
    case ROUTE_METRICS:
        *content_type = METRICS_CONTENT_TYPE;
        return s_render_metrics(self, out);
    case ROUTE_CHAT: /* http runs these as jobs */
    case ROUTE_RESPONSES:
    case ROUTE_IMAGES:
    case ROUTE_ADMIN_KEYS_CREATE: /* http answers these (node/admin.c) */
    case ROUTE_ADMIN_KEYS_LIST:
    case ROUTE_ADMIN_KEY_REVOKE:
    case ROUTE_ADMIN_KEY_TIER:
    case ROUTE_ADMIN_AUDIT:
    case ROUTE_ADMIN_TIERS_LIST:
    case ROUTE_ADMIN_TIER_PUT:
    case ROUTE_USAGE:        /* http answers it (node/usage.c) */
    case ROUTE_MESH_TRAFFIC: /* http answers it (node/traffic.c) */
    case ROUTE_COUNT:
        break;
    }
    alog_error("http: no renderer for route %d", (int)route); /* programmer error */
    abuf_puts(out, "{\"error\":{\"message\":\"no renderer for this route\",\"type\":"
                   "\"server_error\",\"param\":null,\"code\":\"internal_error\"}}");
    return 500;
}

/* ---- loop handlers ---- */

static void s_publish(node_t *self);

static int s_on_link(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)sock;
    node_t *self = arg;
    link_event_t ev;
    for (int budget = 256; budget > 0 && link_recv(self->link, &ev) == 0; budget--) {
        tabs_handle_event(self->tabs, &ev);
        link_event_clear(&ev);
    }
    remote_flush(self->remote); /* the batch's deltas for peers: one chunk per request */
    dispatch_poll(self->dispatch);
    http_kick(self->http);
    s_publish(self); /* a new cooldown reaches the peers now, not at the next tick */
    return 0;
}

static void s_merge_accounts(node_t *self);
static void s_publish(node_t *self);

/* ---- mesh-wide limits (node/limits.h) ---- */

static int s_on_limits_push(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    node_t *self = arg;
    self->limits_timer = -1;
    s_publish(self);
    return 0;
}

/*  http admitted a request of a limited key (or counted its tokens). */
static void s_limits_counted(void *arg)
{
    s_publish(arg);
}

/*  Peers' counts of key, from their last states: a dead or departed peer's
    counts still stand (aged), its requests in flight do not. */
static size_t s_key_peers(void *arg, const char *key, limits_peer_t *out, size_t max)
{
    node_t *self = arg;
    if (!self->mesh)
        return 0;
    mesh_peer_view_t *views = self->peer_views;
    size_t n_peers = mesh_peers(self->mesh, views, NODE_MAX_PEERS);
    if (n_peers > NODE_MAX_PEERS)
        n_peers = NODE_MAX_PEERS;
    size_t n = 0;
    for (size_t i = 0; i < n_peers && n < max; i++) {
        const wire_state_t *st = views[i].state;
        if (!st)
            continue;
        for (size_t k = 0; k < st->n_key_counts; k++) {
            if (!st->key_counts[k].name || strcmp(st->key_counts[k].name, key) != 0)
                continue;
            out[n++] = (limits_peer_t){&st->key_counts[k], views[i].state_age_ms,
                                       views[i].liveness != MESH_PEER_DEAD &&
                                           views[i].liveness != MESH_PEER_LEFT};
            break;
        }
    }
    return n;
}

/*  GET /v1/usage's "remaining" (node/usage.h): what admission would leave
    of key's tier limits now, mesh-wide (node/limits.h). */
static int s_usage_remaining(void *arg, const char *key, const tier_t *tier, usage_remaining_t *out)
{
    node_t *self = arg;
    limits_peer_t *peers = calloc(NODE_MAX_PEERS, sizeof *peers);
    if (!peers)
        return -1;
    size_t n = s_key_peers(self, key, peers, NODE_MAX_PEERS);
    long long left[LIMITS_N];
    limits_remaining(self->limits, key, tier, peers, n, zclock_time(), left);
    free(peers);
    *out = (usage_remaining_t){.per_minute = left[LIMITS_MINUTE],
                               .per_hour = left[LIMITS_HOUR],
                               .per_day = left[LIMITS_DAY],
                               .tokens_per_day = left[LIMITS_TOKENS]};
    return 0;
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    node_t *self = arg;
    long long mono = zclock_mono();
    http_tick(self->http);
    forward_tick(self->forward);
    remote_tick(self->remote);
    dispatch_stats_t ds;
    dispatch_stats(self->dispatch, &ds);
    if (ds.queued)
        dispatch_wake(self->dispatch); /* a peer may have room now */
    s_merge_accounts(self);
    dispatch_poll(self->dispatch);
    s_publish(self);
    if (mono >= self->next_prune) {
        cooldown_prune(self->cooldowns, zclock_time());
        self->next_prune = mono + NODE_PRUNE_MS;
    }
    if (mono >= self->next_refresh) {
        tabs_refresh_catalog(self->tabs);
        self->next_refresh = mono + NODE_CATALOG_REFRESH_MS;
    }
    if (self->stopping) {
        if (http_active(self->http) == 0)
            return -1;
        if (mono >= self->stop_deadline) {
            if (self->flushing)
                return -1; /* clients that do not read their last bytes are not waited for */
            dispatch_fail_all(self->dispatch, "the node is shutting down");
            self->flushing = true;
            self->stop_deadline = mono + 500; /* a moment to flush the error events */
        }
    }
    return 0;
}

static int s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop;
    node_t *self = arg;
    char *cmd = zstr_recv(pipe);
    if (!cmd)
        return -1;
    int rc = 0;
    if (strcmp(cmd, "$TERM") == 0 && self->stopping) {
        rc = -1; /* asked twice: stop now */
    } else if (strcmp(cmd, "$TERM") == 0) {
        alog_info("stopping: no new connections, %zu request(s) in flight",
                  http_active(self->http));
        self->stopping = true;
        views_set_leaving(self->views);
        self->stop_deadline = zclock_mono() + NODE_DRAIN_MS;
        http_quiesce(self->http);
    }
    zstr_free(&cmd);
    return rc;
}

/* ---- the mesh ---- */

static void s_on_forward(void *arg, const wire_msg_t *msg)
{
    node_t *self = arg;
    if (msg->type == WIRE_FWD || msg->type == WIRE_CANCEL || msg->type == WIRE_CREDIT) {
        if (self->remote)
            remote_handle(self->remote, msg);
    } else if (self->forward) {
        forward_handle(self->forward, msg);
    }
    /* Relayed deltas go out now, not at the next tick. */
    dispatch_poll(self->dispatch);
    http_kick(self->http);
}

static void s_on_peer(void *arg, const char *id, mesh_liveness_t liveness)
{
    node_t *self = arg;
    /* The mesh logs every change itself (and warns about an unreachable
       peer); this also runs at each new state of a peer. */
    alog_debug("mesh: peer %s is %s: routing updated", id, mesh_liveness_name(liveness));
    audit_peer(self->audit, zclock_time(), id, mesh_liveness_name(liveness));
    if ((liveness == MESH_PEER_DEAD || liveness == MESH_PEER_LEFT) && self->forward)
        forward_peer_gone(self->forward, id);
    if ((liveness == MESH_PEER_DEAD || liveness == MESH_PEER_LEFT) && self->remote)
        remote_peer_gone(self->remote, id);
    if ((liveness == MESH_PEER_DEAD || liveness == MESH_PEER_LEFT) && self->pace)
        pace_forget_owner(self->pace, id);
    if (self->dispatch)
        dispatch_wake(self->dispatch);
}

/*  A cooldown started (a model upstream, a whole node, an account): a row
    in the audit log. */
static void s_on_cooldown(void *arg, const store_cooldown_t *c, long long now_ms)
{
    node_t *self = arg;
    char detail[160];
    snprintf(detail, sizeof detail, "reason=%.63s until_ms=%lld node=%.64s", c->reason, c->until_ms,
             c->node_id);
    audit_append(self->audit, now_ms, "cooldown_started", "node", "", c->model, detail);
}

static void s_on_persist(void *arg, const char *id, const char *endpoint, bool forget)
{
    node_t *self = arg;
    if (forget) {
        store_peer_forget(self->store, id);
        return;
    }
    store_peer_t p = {.last_seen_ms = zclock_time()};
    if (strlen(id) >= sizeof p.id || strlen(endpoint) >= sizeof p.endpoint)
        return;
    strcpy(p.id, id);
    strcpy(p.endpoint, endpoint);
    store_peer_upsert(self->store, &p);
}

/*  The mesh secret: --mesh-secret, else the secret file (created if missing).
    The mesh port is never open (docs/mesh-protocol.md, "The mesh port"). */
static int s_mesh_secret(const config_t *cfg, char *out, size_t outlen, char *err, size_t errlen)
{
    if (cfg->mesh_secret) {
        snprintf(out, outlen, "%s", cfg->mesh_secret);
        return 0;
    }
    if (!cfg->mesh_secret_file) {
        snprintf(err, errlen,
                 "no mesh secret: neither HOME nor XDG_CONFIG_HOME is set; give "
                 "--mesh-secret or --mesh-secret-file");
        return -1;
    }
    if (mesh_secret_load(cfg->mesh_secret_file, out, outlen, err, errlen) < 0)
        return -1;
    alog_info("mesh: secret from %s%s", cfg->mesh_secret_file,
              cfg->mesh_secret_local ? " (this user's own: the mesh stays on loopback)" : "");
    return 0;
}

static bool s_wildcard(const char *host)
{
    return !host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
           strcmp(host, "*") == 0;
}

static int s_mesh_start(node_t *self, char *err, size_t errlen)
{
    const config_t *cfg = self->cfg;
    char secret[MESH_SECRET_MAX + 1];
    if (s_mesh_secret(cfg, secret, sizeof secret, err, errlen) < 0)
        return -1;
    store_peer_t *peers = NULL;
    size_t n_peers = 0;
    if (store_peers_load(self->store, &peers, &n_peers) < 0)
        n_peers = 0;
    char **known = calloc(n_peers ? n_peers : 1, sizeof *known);
    size_t n_known = 0;
    for (size_t i = 0; known && i < n_peers; i++) {
        size_t len = strlen(peers[i].id) + strlen(peers[i].endpoint) + 2;
        if (strcmp(peers[i].id, self->id) != 0 && (known[n_known] = malloc(len)))
            snprintf(known[n_known++], len, "%s@%s", peers[i].id, peers[i].endpoint);
    }
    free(peers);
    mesh_config_t mc = {
        .node_id = self->id,
        .sign_key = self->sign_key,
        .bind_host = cfg->mesh_host,
        .bind_port = cfg->mesh_port,
        .advertise = cfg->advertise,
        .seeds = (const char *const *)cfg->seeds.items,
        .n_seeds = cfg->seeds.n,
        .known = (const char *const *)known,
        .n_known = n_known,
        .secret = secret,
        .local_only = cfg->mesh_secret_local,
        .max_peers = cfg->mesh_max_peers,
        .max_new = cfg->mesh_max_new,
        .dial_rate = cfg->mesh_dial_rate,
        .gossip_ms = cfg->gossip_interval_ms,
        .fanout = cfg->gossip_fanout,
        .ping_ms = cfg->ping_interval_ms,
        .ping_timeout_ms = cfg->ping_timeout_ms,
        .suspect_ms = cfg->suspect_after_ms,
        .dead_ms = cfg->dead_after_ms,
        .forget_ms = cfg->forget_after_ms,
        .on_forward = s_on_forward,
        .on_peer = s_on_peer,
        .on_persist = s_on_persist,
        .arg = self,
    };
    /* --discover opens its beacon first: a node bound to a wildcard with no
       --advertise advertises the beacon interface's address (what LAN
       peers can dial), not 0.0.0.0 */
    char advertise[HOSTPORT_MAX + 1];
    bool said = false; /* err says why already */
    if (cfg->discover) {
        mesh_discover_config_t dc = {.loop = self->loop,
                                     .secret = secret,
                                     .port = cfg->discover_port,
                                     .interface = cfg->discover_interface};
        char why[256];
        self->discover = mesh_discover_new(&dc, why, sizeof why);
        if (!self->discover)
            said = snprintf(err, errlen, "--discover: %s", why) > 0;
        else if (!cfg->advertise && s_wildcard(cfg->mesh_host) &&
                 hostport_format(advertise, sizeof advertise, mesh_discover_host(self->discover),
                                 cfg->mesh_port) == 0)
            mc.advertise = advertise; /* port 0: the one bound */
    }
    self->mesh = known && (!cfg->discover || self->discover) ? mesh_new(&mc, self->loop) : NULL;
    if (self->mesh && self->discover) {
        char why[256];
        if (mesh_discover_start(self->discover, self->mesh, why, sizeof why) < 0) {
            said = snprintf(err, errlen, "--discover: %s", why) > 0;
            mesh_destroy(&self->mesh);
        }
    }
    sodium_memzero(secret, sizeof secret);
    for (size_t i = 0; i < n_known; i++)
        free(known[i]);
    free(known);
    if (!self->mesh) {
        if (!said)
            snprintf(err, errlen, "cannot start the mesh on %s:%d (see the log above)",
                     cfg->mesh_host, cfg->mesh_port);
        return -1;
    }
    return 0;
}

static unsigned long long s_mix(unsigned long long h, unsigned long long v)
{
    return (h ^ v) * 1099511628211ULL;
}

static unsigned long long s_mix_str(unsigned long long h, const char *s)
{
    for (; *s; s++)
        h = s_mix(h, (unsigned char)*s);
    return s_mix(h, 0xff);
}

static long long s_account_flag(node_t *self, const char *account, long long now,
                                const char **reason)
{
    char id[TABS_ACCOUNT_COOLDOWN_ID];
    tabs_account_cooldown_id(account, id, sizeof id);
    return cooldown_remaining(self->cooldowns, id, COOLDOWN_ALL, now, reason);
}

/*  The accounts of our tabs as the mesh state carries them: flag left and
    our own recent starts (docs/upstream.md, "Pacing"). */
static size_t s_accounts(node_t *self, long long now, wire_account_t *out,
                         int64_t (*starts)[WIRE_MAX_STARTS])
{
    const char *keys[WIRE_MAX_ACCOUNTS];
    size_t n = tabs_accounts(self->tabs, keys, WIRE_MAX_ACCOUNTS);
    if (n > WIRE_MAX_ACCOUNTS)
        n = WIRE_MAX_ACCOUNTS;
    for (size_t i = 0; i < n; i++) {
        out[i] = (wire_account_t){.id = (char *)keys[i]};
        out[i].flag_remaining_ms = s_account_flag(self, keys[i], now, NULL);
        long long ago[WIRE_MAX_STARTS];
        size_t m =
            self->pace ? pace_own_starts(self->pace, keys[i], now, ago, NODE_PUBLISHED_STARTS) : 0;
        for (size_t k = 0; k < m; k++)
            starts[i][k] = ago[k];
        out[i].starts_ago_ms = starts[i];
        out[i].n_starts = m;
    }
    return n;
}

/*  What peers say of the accounts our tabs are on: their starts (for our
    pace) and their flags (a flag on one node rests the account everywhere). */
static void s_merge_accounts(node_t *self)
{
    mesh_peer_view_t *views = self->peer_views;
    const char *keys[WIRE_MAX_ACCOUNTS];
    size_t n_keys = tabs_accounts(self->tabs, keys, WIRE_MAX_ACCOUNTS);
    if (n_keys == 0)
        return;
    if (n_keys > WIRE_MAX_ACCOUNTS)
        n_keys = WIRE_MAX_ACCOUNTS;
    long long now = zclock_time();
    size_t n_peers = mesh_peers(self->mesh, views, NODE_MAX_PEERS);
    if (n_peers > NODE_MAX_PEERS)
        n_peers = NODE_MAX_PEERS;
    for (size_t i = 0; i < n_peers; i++) {
        const wire_state_t *st = views[i].state;
        if (!st || views[i].liveness == MESH_PEER_DEAD || views[i].liveness == MESH_PEER_LEFT)
            continue;
        for (size_t a = 0; a < st->n_accounts; a++) {
            const wire_account_t *ac = &st->accounts[a];
            bool ours = false;
            for (size_t k = 0; k < n_keys && !ours; k++)
                ours = strcmp(keys[k], ac->id) == 0;
            if (!ours || strncmp(ac->id, "tab:", 4) == 0)
                continue;
            long long age = views[i].state_age_ms;
            if (self->pace) {
                long long ago[WIRE_MAX_STARTS];
                size_t m = ac->n_starts < WIRE_MAX_STARTS ? ac->n_starts : WIRE_MAX_STARTS;
                for (size_t k = 0; k < m; k++)
                    ago[k] = ac->starts_ago_ms[k] + age;
                pace_merge(self->pace, views[i].id, ac->id, ago, m, now);
            }
            long long left = ac->flag_remaining_ms - age;
            if (left > 1000 && s_account_flag(self, ac->id, now, NULL) < left - 1000) {
                char id[TABS_ACCOUNT_COOLDOWN_ID];
                tabs_account_cooldown_id(ac->id, id, sizeof id);
                cooldown_set(self->cooldowns, id, COOLDOWN_ALL, left, "account_flag", now);
                alog_info("account %.12s… flagged on node %s: its tabs here rest %llds too", ac->id,
                          st->name ? st->name : views[i].id, left / 1000);
            }
        }
    }
}

/*  Tells the mesh what this node offers when that changed. Cooldowns are
    compared by deadline (second grain), so a running one does not look like
    a change every tick; a new cooldown or a lost tab is urgent. */
static void s_publish(node_t *self)
{
    long long now = zclock_time();
    /* a rise of a key's counts goes to every peer at once, but at most once
       per NODE_LIMITS_PUSH_MS: until then nothing is published (the timer
       publishes it) */
    bool limits_urgent = false;
    if (limits_take_rise(self->limits) || self->limits_due) {
        long long since = zclock_mono() - self->limits_pushed;
        if (since < NODE_LIMITS_PUSH_MS) {
            self->limits_due = true;
            if (self->limits_timer < 0)
                self->limits_timer = zloop_timer(self->loop, (size_t)(NODE_LIMITS_PUSH_MS - since),
                                                 1, s_on_limits_push, self);
            if (self->limits_timer >= 0)
                return;
        }
        self->limits_due = false;
        limits_urgent = true;
    }
    size_t n_kc = limits_snapshot(self->limits, now, self->key_counts, WIRE_MAX_KEY_COUNTS);
    tabs_stats_t ts;
    tabs_stats(self->tabs, &ts);
    dispatch_stats_t ds;
    dispatch_stats(self->dispatch, &ds);
    size_t n = catalog_served_count(self->catalog);
    if (n > WIRE_MAX_MODELS)
        n = WIRE_MAX_MODELS; /* what one state can carry */
    wire_model_t *models = calloc(n ? n : 1, sizeof *models);
    if (!models)
        return;
    long long node_cool = cooldown_remaining(self->cooldowns, self->id, COOLDOWN_ALL, now, NULL);
    long long flag_ms = tabs_flag_ms(self->tabs, now, NULL);
    if (flag_ms > node_cool)
        node_cool = flag_ms; /* every tab's account is flagged: the node rests as a whole */
    wire_account_t accounts[WIRE_MAX_ACCOUNTS];
    size_t n_acc = s_accounts(self, now, accounts, self->starts);
    unsigned long long sig = 1469598103934665603ULL;
    unsigned long long cool =
        s_mix(sig, (unsigned long long)(node_cool > 0 ? (now + node_cool) / 1000 : 0));
    sig = s_mix(sig, ts.tabs);
    sig = s_mix(sig, ts.healthy);
    sig = s_mix(sig, ts.inflight);
    sig = s_mix(sig, ts.capacity);
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        const arena_model_t *m = catalog_served_at(self->catalog, i, &name);
        const char *reason = NULL;
        long long left = cooldown_remaining(self->cooldowns, self->id, m->name, now, &reason);
        models[i].name = (char *)name;
        models[i].arena_id = m->id;
        models[i].modality = (char *)arena_modality_name(m->modality);
        models[i].cooled_remaining_ms = left;
        models[i].reason = (char *)(left > 0 && reason ? reason : "");
        models[i].display_name = m->display_name;
        sig = s_mix_str(sig, name);
        cool = s_mix(cool, (unsigned long long)(left > 0 ? (now + left) / 1000 : 0));
    }
    for (size_t i = 0; i < n_acc; i++) {
        sig = s_mix_str(sig, accounts[i].id);
        long long fl = accounts[i].flag_remaining_ms;
        cool = s_mix(cool, (unsigned long long)(fl > 0 ? (now + fl) / 1000 : 0));
    }
    long long paced = tabs_pace_ms(self->tabs, now);
    sig = s_mix(sig, (unsigned long long)(paced > 0 ? (now + paced) / 1000 : 0));
    sig = s_mix(sig, cool);
    /* A new cooldown, a lost tab or a pace slot we took must reach every
       peer at once. */
    unsigned long long pv = self->pace ? pace_version(self->pace) : 0;
    sig = s_mix(sig, pv);
    for (size_t i = 0; i < n_kc; i++) {
        const wire_key_count_t *kc = &self->key_counts[i];
        sig = s_mix_str(sig, kc->name);
        sig = s_mix(sig, (unsigned long long)kc->minute);
        sig = s_mix(sig, (unsigned long long)kc->hour);
        sig = s_mix(sig, (unsigned long long)kc->day);
        sig = s_mix(sig, (unsigned long long)kc->tokens);
        sig = s_mix(sig, (unsigned long long)kc->inflight);
    }
    bool urgent = cool != self->cool_sig || ts.healthy < self->state_healthy ||
                  pv != self->pace_ver || limits_urgent;
    if (sig != self->state_sig) {
        char endpoint[300], http[300];
        snprintf(endpoint, sizeof endpoint, "%s", mesh_endpoint(self->mesh));
        snprintf(http, sizeof http, "http://%s:%d", self->cfg->http_host, http_port(self->http));
        wire_state_t st = {
            .name = self->cfg->name,
            .endpoint = endpoint,
            .http = http,
            .started_at_ms = now - (zclock_mono() - self->started_ms),
            .tabs = (uint32_t)ts.tabs,
            .tabs_healthy = (uint32_t)ts.healthy,
            .inflight = (uint32_t)ts.inflight,
            .capacity = (uint32_t)ts.capacity,
            .ok = ds.ok,
            .failed = ds.failed,
            .p50_ms = ds.p50_ms,
            .node_cooled_remaining_ms = node_cool,
            .models = models,
            .n_models = n,
            .paced_remaining_ms = paced,
            .accounts = accounts,
            .n_accounts = n_acc,
            .key_counts = self->key_counts,
            .n_key_counts = n_kc,
        };
        mesh_set_local(self->mesh, &st, urgent);
        if (limits_urgent)
            self->limits_pushed = zclock_mono();
        self->state_sig = sig;
        self->cool_sig = cool;
        self->pace_ver = pv;
    }
    self->state_healthy = ts.healthy;
    free(models);
}

/* ---- start and stop ---- */

static void s_zsys_sink(alog_level_t level, const char *line)
{
    switch (level) {
    case ALOG_ERROR:
        zsys_error("%s", line);
        break;
    case ALOG_WARN:
        zsys_warning("%s", line);
        break;
    case ALOG_INFO:
        zsys_info("%s", line);
        break;
    default:
        zsys_debug("%s", line);
        break;
    }
}

static void s_node_destroy(node_t *self)
{
    browser_destroy(&self->browser); /* the requests it served have drained */
    if (self->http)
        http_destroy(&self->http);
    views_destroy(&self->views);
    remote_destroy(&self->remote);
    dispatch_destroy(&self->dispatch);
    forward_destroy(&self->forward);
    repl_destroy(&self->repl);
    repl_usage_destroy(&self->repl_usage);
    mesh_discover_destroy(&self->discover);
    mesh_destroy(&self->mesh);
    tabs_destroy(&self->tabs);
    pace_destroy(&self->pace);
    link_destroy(&self->link);
    catalog_destroy(&self->catalog);
    cooldown_destroy(&self->cooldowns);
    keys_destroy(&self->keys);
    tiers_destroy(&self->tiers);
    audit_destroy(&self->audit);
    usage_destroy(&self->usage); /* writes what is pending */
    store_destroy(&self->store);
    sodium_memzero(self->sign_key, sizeof self->sign_key);
    free(self->origins);
    zloop_destroy(&self->loop);
    free(self->peer_views);
    free(self->starts);
    metrics_destroy(&self->metrics);
    traffic_destroy(&self->traffic);
    limits_destroy(&self->limits);
    free(self->key_counts);
}

/*  The usage rows recorded since the last flush, in one transaction. */
static int s_on_usage_flush(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    node_t *self = arg;
    usage_flush(self->usage);
    return 0;
}

/*  Usage rows and rollups past their retention (hourly). */
static int s_on_usage_prune(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    node_t *self = arg;
    usage_prune(self->usage, zclock_time());
    return 0;
}

static int s_node_start(node_t *self, char *err, size_t errlen)
{
    const config_t *cfg = self->cfg;
    self->started_ms = zclock_mono();
    self->store = store_open(cfg->data_dir, err, errlen);
    if (!self->store)
        return -1;
    if (store_node_identity(self->store, self->sign_key, self->id) < 0 ||
        store_link_token(self->store, cfg->link_token, self->token, sizeof self->token) < 0) {
        snprintf(err, errlen, "cannot read or write the node id and link token in %s",
                 cfg->data_dir);
        return -1;
    }
    self->keys = keys_new(self->store, self->id);
    self->tiers = tiers_open(self->store, self->id);
    if (self->keys && self->tiers)
        keys_set_tiers(self->keys, self->tiers);
    self->limits = limits_new();
    self->key_counts = calloc(WIRE_MAX_KEY_COUNTS, sizeof *self->key_counts);
    self->limits_timer = -1;
    if (!self->keys || !self->tiers || !self->limits || !self->key_counts) {
        snprintf(err, errlen, "cannot load the API keys from %s", cfg->data_dir);
        return -1;
    }
    self->audit = audit_new(self->store, self->id);
    if (!self->audit) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    usage_config_t uc = {.store = self->store,
                         .node_id = self->id,
                         .keep_days = cfg->usage_keep_days,
                         .rollup_keep_days = cfg->usage_rollup_keep_days,
                         .prices = (const char *const *)cfg->prices.items,
                         .n_prices = cfg->prices.n};
    self->usage = cfg->usage_keep_days > 0 ? usage_new(&uc) : NULL; /* 0: none recorded */
    if (!self->usage && cfg->usage_keep_days > 0) {
        snprintf(err, errlen, "cannot open the usage tables in %s", cfg->data_dir);
        return -1;
    }
    self->cooldowns = cooldown_new(self->store, zclock_time());
    if (self->cooldowns)
        cooldown_on_start(self->cooldowns, s_on_cooldown, self);
    self->catalog = catalog_new(self->store);
    self->loop = zloop_new();
    self->peer_views = calloc(NODE_MAX_PEERS, sizeof *self->peer_views);
    self->starts = calloc(WIRE_MAX_ACCOUNTS, sizeof *self->starts);
    self->metrics = metrics_new();
    self->traffic = traffic_new(zclock_time());
    if (!self->cooldowns || !self->catalog || !self->loop || !self->peer_views || !self->starts ||
        !self->metrics || !self->traffic ||
        catalog_set_policy(self->catalog, (const char *const *)cfg->model_aliases.items,
                           cfg->model_aliases.n, (const char *const *)cfg->model_allow.items,
                           cfg->model_allow.n) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    zloop_set_nonstop(self->loop, true);

    size_t n_origins = 4 + cfg->link_origins.n + (cfg->arena_origin ? 1 : 0);
    self->origins = calloc(n_origins, sizeof *self->origins);
    if (!self->origins)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < 4; i++)
        self->origins[k++] = s_arena_origins[i];
    for (size_t i = 0; i < cfg->link_origins.n; i++)
        self->origins[k++] = cfg->link_origins.items[i];
    if (cfg->arena_origin)
        self->origins[k++] = cfg->arena_origin;
    link_config_t lc = {
        .bind_addr = cfg->link_host,
        .port = cfg->link_port,
        .token = self->token,
        .node_name = cfg->name,
        .origins = self->origins,
        .n_origins = k,
        .max_pending = (size_t)cfg->link_max_pending,
    };
    self->link = link_new(&lc);
    if (!self->link) {
        snprintf(err, errlen, "cannot start the browser link on %s:%d", cfg->link_host,
                 cfg->link_port);
        return -1;
    }
    if (strcmp(cfg->pace, "off") != 0) {
        int wc = 0, ws = 0;
        if (config_parse_window(cfg->pace_window, &wc, &ws) != 0) {
            snprintf(err, errlen, "bad --pace-window %s", cfg->pace_window);
            return -1;
        }
        pace_config_t pc = {cfg->pace_interval_s * 1000LL, wc, ws * 1000LL};
        self->pace = pace_new(&pc, self->id);
        if (!self->pace) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        alog_info("pacing each LMArena account: %d s between starts, at most %d in %d s",
                  cfg->pace_interval_s, wc, ws);
    }
    tabs_config_t tc = {
        .link = self->link,
        .cooldowns = self->cooldowns,
        .tab_jobs = cfg->tab_jobs,
        .arena_mode = cfg->arena_mode,
        .pace = self->pace,
        .on_stale = s_on_stale,
        .on_accounts = s_on_accounts,
        .on_catalog = s_on_catalog,
        .on_capacity = s_on_capacity,
        .arg = self,
    };
    self->tabs = tabs_new(&tc);
    if (!self->tabs || s_mesh_start(self, err, errlen) < 0)
        return -1;
    if (!(self->repl = repl_new(self->mesh, self->store, self->keys, self->tiers, self->id,
                                self->sign_key))) {
        snprintf(err, errlen, "cannot register the replicated tables with the mesh");
        return -1;
    }
    repl_usage_config_t ruc = {.mesh = self->mesh,
                               .store = self->store,
                               .usage = self->usage,
                               .loop = self->loop,
                               .node_id = self->id,
                               .sk = self->sign_key,
                               .rollup_keep_days = cfg->usage_rollup_keep_days};
    if (self->usage && !(self->repl_usage = repl_usage_new(&ruc))) {
        snprintf(err, errlen, "cannot register the usage rollups with the mesh");
        return -1;
    }
    forward_config_t fc = {
        .mesh = self->mesh,
        .accept_ms = cfg->forward_accept_timeout_ms,
        .idle_ms = cfg->stream_idle_timeout_ms,
        .on_capacity = s_on_capacity,
        .arg = self,
    };
    self->forward = forward_new(&fc);
    dispatch_config_t dc = {
        .tabs = self->tabs,
        .cooldowns = self->cooldowns,
        .catalog = self->catalog,
        .mesh = self->mesh,
        .forward = self->forward,
        .node_id = self->id,
        .retries = cfg->retries,
        .queue_max = cfg->queue_max,
        .queue_timeout_ms = cfg->queue_timeout_ms,
        .first_byte_timeout_ms = cfg->first_byte_timeout_ms,
        .idle_timeout_ms = cfg->stream_idle_timeout_ms,
        .cooldown_default_ms = cfg->cooldown_default_s * 1000LL,
        .recaptcha_backoff_max_ms = cfg->recaptcha_backoff_max_s * 1000LL,
        .on_cooled = s_on_accounts,
        .arg = self,
    };
    self->dispatch = self->forward ? dispatch_new(&dc) : NULL;
    if (!self->dispatch) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    http_config_t hc = {
        .host = cfg->http_host,
        .port = cfg->http_port,
        .max_body = cfg->max_body,
        .max_connections = cfg->max_connections,
        .api_keys = &cfg->api_keys,
        .keys = self->keys,
        .tiers = self->tiers,
        .admin_key = cfg->admin_key,
        .http_names = &cfg->http_names,
        .cors_origins = &cfg->cors_origins,
        .body_budget = cfg->body_budget,
        .responses_keep_s = cfg->responses_keep_s,
        .responses_keep_bytes = cfg->responses_keep_bytes,
        .stream_buffer = cfg->stream_buffer,
        .dispatch = self->dispatch,
        .metrics = self->metrics,
        .metrics_public = cfg->metrics_public,
        .audit = self->audit,
        .usage = self->usage,
        .node_id = self->id,
        .traffic = self->traffic,
        .render = s_render,
        .key_limits = self->limits,
        .key_peers = s_key_peers,
        .on_counted = s_limits_counted,
        .usage_remaining = s_usage_remaining,
        .usage_remaining_arg = self,
        .arg = self,
    };
    openai_limits_default(&hc.limits);
    hc.limits.max_messages = (size_t)cfg->max_messages;
    hc.limits.max_depth = (size_t)cfg->max_json_depth;
    /* peers' requests: parsed with the same limits, run by the same dispatcher */
    remote_config_t rc = {.mesh = self->mesh,
                          .dispatch = self->dispatch,
                          .limits = hc.limits,
                          .metrics = self->metrics};
    self->remote = remote_new(&rc);
    if (!self->remote) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    self->http = http_new(&hc, self->loop);
    if (!self->http) {
        snprintf(err, errlen, "cannot serve HTTP on %s:%d", cfg->http_host, cfg->http_port);
        return -1;
    }
    views_config_t vc = {
        .cfg = cfg,
        .node_id = self->id,
        .tabs = self->tabs,
        .catalog = self->catalog,
        .cooldowns = self->cooldowns,
        .mesh = self->mesh,
        .discover = self->discover,
        .dispatch = self->dispatch,
        .pace = self->pace,
        .http_port = http_port(self->http),
        .started_mono_ms = self->started_ms,
    };
    self->views = views_new(&vc);
    if (!self->views) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg->browser && s_browser_start(self, err, errlen) != 0)
        return -1;
    zloop_reader(self->loop, link_pipe(self->link), s_on_link, self);
    zloop_reader(self->loop, self->pipe, s_on_pipe, self);
    zloop_timer(self->loop, NODE_TICK_MS, 0, s_on_tick, self);
    if (self->usage) {
        zloop_timer(self->loop, USAGE_FLUSH_MS, 0, s_on_usage_flush, self);
        zloop_timer(self->loop, USAGE_HOUR_MS, 0, s_on_usage_prune, self);
    }
    self->next_prune = zclock_mono() + NODE_PRUNE_MS;
    self->next_refresh = zclock_mono() + NODE_CATALOG_REFRESH_MS;
    return 0;
}

void node_actor(zsock_t *pipe, void *args)
{
    node_t self = {.cfg = args, .pipe = pipe};
    alog_set_sink(s_zsys_sink);
    zsock_signal(pipe, 0);
    char err[512] = "";
    if (s_node_start(&self, err, sizeof err) < 0) {
        zstr_sendx(pipe, "FAILED", err[0] ? err : "start-up failed", NULL);
        s_node_destroy(&self);
        ARENA_TSAN_RELEASE(args); /* the caller frees the config after zactor_destroy */
        return;
    }
    char ready[512];
    snprintf(ready, sizeof ready, "arena-node ready name=%s http=%s:%d link=%s:%d mesh=%s:%d",
             self.cfg->name, self.cfg->http_host, http_port(self.http), self.cfg->link_host,
             link_port(self.link), self.cfg->mesh_host, mesh_port(self.mesh));
    zstr_sendx(pipe, "READY", ready, NULL);
    alog_info("node %s (%s) up; %zu model(s) in the catalog", self.cfg->name, self.id,
              catalog_size(self.catalog));
    zloop_start(self.loop);
    alog_info("node %s stopped", self.cfg->name);
    s_node_destroy(&self);
    ARENA_TSAN_RELEASE(args); /* the caller frees the config after zactor_destroy */
}
