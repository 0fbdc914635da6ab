/*  mesh — see mesh.h. This file: construction and destruction, the public
    calls, and the tick that drives liveness, probes and gossip.

    Versions are wall-clock based (max(version + 1, unix ms)) so that a
    restarted node, which starts again from nothing, still outranks what
    its peers remember of its previous life; incarnation starts at the
    start-up time too and grows by one per refutation. The tick runs every
    few tens of ms (at most 50) and acts on deadlines. Owned by the loop's
    thread. */
#include "mesh/mesh_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define S_DEF_GOSSIP MESH_DEFAULT_GOSSIP_MS
#define S_DEF_FANOUT MESH_DEFAULT_FANOUT
#define S_DEF_PING MESH_DEFAULT_PING_MS
#define S_DEF_PING_TIMEOUT MESH_DEFAULT_PING_TIMEOUT_MS
#define S_DEF_SUSPECT MESH_DEFAULT_SUSPECT_MS
#define S_DEF_DEAD MESH_DEFAULT_DEAD_MS
#define S_DEF_FORGET MESH_DEFAULT_FORGET_MS
#define S_MAX_MS (3600 * 1000)
#define S_MAX_FANOUT 64

int64_t mesh__now(void)
{
    return zclock_mono();
}

int64_t mesh__wall(void)
{
    return zclock_time();
}

const char *mesh_liveness_name(mesh_liveness_t l)
{
    switch (l) {
    case MESH_PEER_ALIVE:
        return "alive";
    case MESH_PEER_SUSPECT:
        return "suspect";
    case MESH_PEER_DEAD:
        return "dead";
    case MESH_PEER_LEFT:
        return "left";
    case MESH_PEER_UNREACHABLE:
        return "unreachable";
    }
    return "unknown";
}

/* ----------------------------------------------------------------- config */

static int s_pick(int v, int def, int lo, int hi, const char *name, int *out)
{
    if (v == 0)
        v = def;
    if (v < lo || v > hi) {
        alog_error("mesh: %s %d is out of range (%d..%d)", name, v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int s_timing(mesh_t *self, const mesh_config_t *cfg)
{
    if (s_pick(cfg->gossip_ms, S_DEF_GOSSIP, 1, S_MAX_MS, "gossip_ms", &self->gossip_ms) < 0 ||
        s_pick(cfg->fanout, S_DEF_FANOUT, 1, S_MAX_FANOUT, "fanout", &self->fanout) < 0 ||
        s_pick(cfg->ping_ms, S_DEF_PING, 1, S_MAX_MS, "ping_ms", &self->ping_ms) < 0 ||
        s_pick(cfg->ping_timeout_ms, S_DEF_PING_TIMEOUT, 1, S_MAX_MS, "ping_timeout_ms",
               &self->ping_timeout_ms) < 0 ||
        s_pick(cfg->suspect_ms, S_DEF_SUSPECT, 1, S_MAX_MS, "suspect_ms", &self->suspect_ms) < 0 ||
        s_pick(cfg->dead_ms, S_DEF_DEAD, 1, S_MAX_MS, "dead_ms", &self->dead_ms) < 0 ||
        s_pick(cfg->forget_ms, S_DEF_FORGET, 1, S_MAX_MS, "forget_ms", &self->forget_ms) < 0)
        return -1;
    if (self->dead_ms <= self->suspect_ms) {
        alog_error("mesh: dead_ms (%d) must be longer than suspect_ms (%d)", self->dead_ms,
                   self->suspect_ms);
        return -1;
    }
    if (self->ping_ms + self->ping_timeout_ms >= self->suspect_ms)
        alog_warn("mesh: ping_ms + ping_timeout_ms (%d ms) is not below suspect_ms (%d ms): a "
                  "silent peer is suspected before its retry and indirect probe can answer",
                  self->ping_ms + self->ping_timeout_ms, self->suspect_ms);
    int t = self->gossip_ms;
    if (self->ping_ms < t)
        t = self->ping_ms;
    if (self->ping_timeout_ms < t)
        t = self->ping_timeout_ms;
    t /= 2;
    self->tick_ms = t < 5 ? 5 : t > 50 ? 50 : t;
    return 0;
}

/*  The bounds, and the mesh's share of the socket and descriptor limits:
    max_peers shrinks (with a warning) to what they allow. */
static int s_bounds(mesh_t *self, const mesh_config_t *cfg)
{
    int max_peers, max_new, rate;
    if (s_pick(cfg->max_peers, MESH_DEFAULT_MAX_PEERS, 1, MESH_MAX_PEERS_LIMIT, "max_peers",
               &max_peers) < 0 ||
        s_pick(cfg->max_new, MESH_DEFAULT_MAX_NEW, 1, MESH_MAX_PEERS_LIMIT, "max_new", &max_new) <
            0 ||
        s_pick(cfg->dial_rate, MESH_DEFAULT_DIAL_RATE, 1, 10000, "dial_rate", &rate) < 0)
        return -1;
    self->max_new = self->new_left = max_new;
    self->dial_rate = rate;
    self->dial_tokens = rate;
    self->dial_at = mesh__now();
    size_t socks = (size_t)zmq_ctx_get(zsys_init(), ZMQ_MAX_SOCKETS);
    socks = socks > MESH__SOCKS_RESERVE ? socks - MESH__SOCKS_RESERVE : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t fds = rl.rlim_cur > MESH__FDS_RESERVE
                         ? (size_t)(rl.rlim_cur - MESH__FDS_RESERVE) / MESH__FDS_PER_SOCK
                         : 0;
        socks = fds < socks ? fds : socks;
    }
    self->max_socks = socks;
    size_t fit = socks > MESH__SOCKS_OWN ? (socks - MESH__SOCKS_OWN) / MESH__SOCKS_PER_PEER : 0;
    self->max_peers = (size_t)max_peers;
    if (fit < self->max_peers) {
        alog_warn("mesh: at most %zu peers fit this process's socket and open-file limits "
                  "(%d asked): raise them (ulimit -n) or lower --mesh-max-peers",
                  fit, max_peers);
        self->max_peers = fit;
    }
    if (self->max_peers == 0) {
        alog_error("mesh: no room for a single peer under this process's limits");
        return -1;
    }
    return 0;
}

static bool s_id_ok(const char *id)
{
    size_t n = id ? strnlen(id, WIRE_MAX_ID + 1) : 0;
    if (n == 0 || n > WIRE_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
            return false;
    return true;
}

/*  HOST:PORT with brackets around an IPv6 host. */
static void s_join(char *out, size_t len, const char *host, int port)
{
    snprintf(out, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/*  With a secret of this machine's own nothing may leave the loopback. */
static int s_policy(const mesh_config_t *cfg, const char *advertise_host)
{
    if (!cfg->local_only)
        return 0;
    bool ok = mesh__is_loopback(cfg->bind_host) && mesh__is_loopback(advertise_host);
    for (size_t i = 0; ok && i < cfg->n_seeds; i++) {
        char host[MESH__HOST_MAX + 1];
        int port;
        ok = mesh__split(cfg->seeds[i], host, sizeof host, &port) == 0 && mesh__is_loopback(host);
    }
    if (!ok)
        alog_error("mesh: refusing a non-loopback mesh with this machine's own secret: give "
                   "every node the same --mesh-secret");
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- sockets */

int mesh_bind_tcp(zsock_t *sock, const char *tcp)
{
    if (zmq_bind(zsock_resolve(sock), tcp) != 0)
        return -1;
    char *ep = zsock_last_endpoint(sock);
    const char *colon = ep ? strrchr(ep, ':') : NULL;
    long port = colon ? strtol(colon + 1, NULL, 10) : -1;
    zstr_free(&ep);
    return port > 0 && port <= 65535 ? (int)port : -1;
}

static int s_bind(mesh_t *self, const mesh_config_t *cfg)
{
    char tcp[WIRE_MAX_NAME + 16];
    if (cfg->bind_port < 0 || cfg->bind_port > 65535 ||
        mesh__tcp(cfg->bind_host, cfg->bind_port ? cfg->bind_port : -1, tcp, sizeof tcp) < 0) {
        alog_error("mesh: bad bind address %s:%d", cfg->bind_host, cfg->bind_port);
        return -1;
    }
    zsock_t *r = self->router = mesh__sock_new(self, ZMQ_ROUTER);
    if (!r)
        return -1;
    mesh__sock_heal(r);
    zsock_set_router_mandatory(r, 1);
    zsock_set_router_handover(r, 1); /* a restarted node takes its identity back */
    zsock_set_linger(r, 0);
    zsock_set_sndhwm(r, MESH__SNDHWM);
    zsock_set_rcvhwm(r, MESH__RCVHWM);
    zsock_set_maxmsgsize(r, WIRE_MSG_MAX);
    if (strchr(cfg->bind_host, ':'))
        zsock_set_ipv6(r, 1);
    if (self->cert) {
        mesh__curve_server(self, r);
        self->router_mon = mesh__monitor_new(self, r,
                                             ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    }
    self->port = mesh_bind_tcp(r, tcp);
    if (self->port < 0) {
        alog_error("mesh: cannot bind %s: %s", tcp, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static int s_advertise(mesh_t *self, const mesh_config_t *cfg, char *host, size_t hostlen)
{
    int port = 0;
    if (cfg->advertise) {
        if (mesh__split(cfg->advertise, host, hostlen, &port) < 0) {
            alog_error("mesh: bad advertise address %s (HOST:PORT)", cfg->advertise);
            return -1;
        }
    } else {
        snprintf(host, hostlen, "%s", cfg->bind_host);
        if (streq(host, "0.0.0.0") || streq(host, "::"))
            alog_warn("mesh: bound to %s without an advertise address: peers will dial %s", host,
                      host);
    }
    s_join(self->endpoint, sizeof self->endpoint, host, port ? port : self->port);
    return 0;
}

/* ---------------------------------------------------------------- seeds */

static int s_seeds(mesh_t *self, const mesh_config_t *cfg)
{
    if (cfg->n_seeds > MESH__MAX_SEEDS) {
        alog_error("mesh: at most %d seeds", MESH__MAX_SEEDS);
        return -1;
    }
    for (size_t i = 0; i < cfg->n_seeds; i++) {
        char host[MESH__HOST_MAX + 1];
        int port;
        if (mesh__split(cfg->seeds[i], host, sizeof host, &port) < 0 || port == 0) {
            alog_error("mesh: bad seed %s (HOST:PORT)", cfg->seeds[i] ? cfg->seeds[i] : "(null)");
            return -1;
        }
        bool dup = streq(cfg->seeds[i], self->endpoint);
        for (size_t j = 0; j < self->n_seeds && !dup; j++)
            dup = streq(self->seeds[j].endpoint, cfg->seeds[i]);
        if (dup)
            continue;
        mesh__seed_t *s = &self->seeds[self->n_seeds++];
        snprintf(s->endpoint, sizeof s->endpoint, "%s", cfg->seeds[i]);
    }
    if (cfg->n_known && !cfg->known)
        return -1;
    self->known = calloc(cfg->n_known ? cfg->n_known : 1, sizeof *self->known);
    if (!self->known)
        return -1;
    for (size_t i = 0; i < cfg->n_known && i < WIRE_MAX_PEERS; i++)
        if (cfg->known[i] && !(self->known[self->n_known++] = strdup(cfg->known[i])))
            return -1;
    return 0;
}

static void s_dial_seed(mesh_t *self, size_t i)
{
    mesh__peer_t *p = mesh__peer_add(self, "", self->seeds[i].endpoint);
    if (p)
        p->seed = (int)i;
}

static void s_dial_known(mesh_t *self, const char *entry)
{
    const char *at = strchr(entry, '@');
    char id[WIRE_MAX_ID + 1];
    size_t n = at ? (size_t)(at - entry) : 0;
    if (!at || n == 0 || n > WIRE_MAX_ID) {
        alog_warn("mesh: ignoring the stored peer \"%.80s\" (not ID@HOST:PORT)", entry);
        return;
    }
    memcpy(id, entry, n);
    id[n] = '\0';
    if (!s_id_ok(id) || streq(id, self->id) || mesh__peer_find(self, id))
        return;
    if (!mesh__dialable(self, at + 1)) {
        alog_warn("mesh: ignoring the stored peer %s at %.80s (not a loopback address, and no "
                  "--mesh-secret: this machine's own secret keeps the mesh on loopback)",
                  id, at + 1);
        return;
    }
    mesh__peer_t *p = mesh__peer_add(self, id, at + 1);
    if (p)
        p->persisted = true;
}

int mesh_hint(mesh_t *self, const char *id, const char *endpoint)
{
    char host[MESH__HOST_MAX + 1];
    int port;
    if (!self || !s_id_ok(id) || !endpoint || mesh__split(endpoint, host, sizeof host, &port) < 0 ||
        port == 0)
        return -1;
    if (streq(id, self->id) || streq(endpoint, self->endpoint) || mesh__peer_find(self, id) ||
        mesh__placeholder_at(self, endpoint))
        return 0;
    if (!mesh__dialable(self, endpoint))
        return -1;
    if (!mesh__peer_add(self, id, endpoint))
        return -1; /* full: the table's bound holds */
    alog_info("mesh: %s found at %s on the LAN: dialing it", id, endpoint);
    return 1;
}

/*  The first tick: the node has set our state by now, so hellos carry it. */
static void s_start(mesh_t *self)
{
    self->started = true;
    for (size_t i = 0; i < self->n_known; i++)
        s_dial_known(self, self->known[i]);
    for (size_t i = 0; i < self->n_seeds; i++)
        s_dial_seed(self, i);
    self->next_seed_check = mesh__now() + self->dead_ms;
}

/*  A seed whose node was forgotten (or never answered and was dropped) gets
    a placeholder again, so a healed partition finds its way back. */
static void s_seed_check(mesh_t *self)
{
    for (size_t i = 0; i < self->n_seeds; i++) {
        mesh__seed_t *s = &self->seeds[i];
        if (s->self || (s->id[0] && mesh__peer_find(self, s->id)) ||
            mesh__placeholder_at(self, s->endpoint))
            continue;
        s->id[0] = '\0';
        s_dial_seed(self, i);
    }
}

/* ------------------------------------------------------------- local state */

void mesh__bump_local(mesh_t *self)
{
    uint64_t wall = (uint64_t)mesh__wall();
    self->local.version = self->local.version + 1 > wall ? self->local.version + 1 : wall;
    mesh__seal_local(self);
}

void mesh__refute(mesh_t *self, bool force)
{
    int64_t now = mesh__now();
    if (!force && self->last_refute && now - self->last_refute < self->suspect_ms)
        return;
    self->last_refute = now;
    self->local.incarnation++;
    mesh__bump_local(self);
    alog_debug("mesh: refuting suspicion with incarnation %llu",
               (unsigned long long)self->local.incarnation);
    mesh__push_local(self);
}

static int s_local_init(mesh_t *self)
{
    int64_t wall = mesh__wall();
    wire_state_t *st = &self->local;
    st->id = strdup(self->id);
    st->name = strdup(self->id);
    st->endpoint = strdup(self->endpoint);
    st->http = strdup("-");
    if (!st->id || !st->name || !st->endpoint || !st->http)
        return -1;
    st->incarnation = st->version = (uint64_t)wall;
    st->started_at_ms = wall;
    st->p50_ms = -1;
    self->local_at = mesh__now();
    mesh__seal_local(self);
    return st->sealed ? 0 : -1;
}

static bool s_str_differs(const char *a, const char *b)
{
    return !streq(a ? a : "", b ? b : "");
}

/*  Remaining-ms values drift as time passes: only a real change counts. */
static bool s_cool_differs(int64_t old, int64_t age, int64_t now_value)
{
    int64_t was = old > age ? old - age : 0;
    if ((was > 0) != (now_value > 0))
        return true;
    int64_t d = was - now_value;
    return d > MESH__SLACK_MS || d < -MESH__SLACK_MS;
}

static bool s_models_differ(const wire_state_t *a, const wire_state_t *b, int64_t age)
{
    if (a->n_models != b->n_models)
        return true;
    for (size_t i = 0; i < a->n_models; i++) {
        const wire_model_t *x = &a->models[i], *y = &b->models[i];
        if (s_str_differs(x->name, y->name) || s_str_differs(x->arena_id, y->arena_id) ||
            s_str_differs(x->modality, y->modality) || s_str_differs(x->reason, y->reason) ||
            s_str_differs(x->display_name, y->display_name) ||
            s_cool_differs(x->cooled_remaining_ms, age, y->cooled_remaining_ms))
            return true;
    }
    return false;
}

/*  Starts travel as ms ago: they grow with age, flags shrink. */
static bool s_accounts_differ(const wire_state_t *a, const wire_state_t *b, int64_t age)
{
    if (a->n_accounts != b->n_accounts)
        return true;
    for (size_t i = 0; i < a->n_accounts; i++) {
        const wire_account_t *x = &a->accounts[i], *y = &b->accounts[i];
        if (s_str_differs(x->id, y->id) || x->n_starts != y->n_starts ||
            s_cool_differs(x->flag_remaining_ms, age, y->flag_remaining_ms))
            return true;
        for (size_t k = 0; k < x->n_starts; k++) {
            int64_t d = x->starts_ago_ms[k] + age - y->starts_ago_ms[k];
            if (d > MESH__SLACK_MS || d < -MESH__SLACK_MS)
                return true;
        }
    }
    return false;
}

/*  Key counts (node/limits): a count is a change; the resets travel as ms
    from now and shrink with age. */
static bool s_key_counts_differ(const wire_state_t *a, const wire_state_t *b, int64_t age)
{
    if (a->n_key_counts != b->n_key_counts)
        return true;
    for (size_t i = 0; i < a->n_key_counts; i++) {
        const wire_key_count_t *x = &a->key_counts[i], *y = &b->key_counts[i];
        if (s_str_differs(x->name, y->name) || x->minute != y->minute || x->hour != y->hour ||
            x->day != y->day || x->tokens != y->tokens || x->inflight != y->inflight)
            return true;
        for (int w = 0; w < 4; w++)
            if (s_cool_differs(x->reset_ms[w], age, y->reset_ms[w]))
                return true;
    }
    return false;
}

static bool s_differs(const mesh_t *self, const wire_state_t *b)
{
    const wire_state_t *a = &self->local;
    int64_t age = mesh__now() - self->local_at;
    return s_str_differs(a->name, b->name) || s_str_differs(a->http, b->http) ||
           a->started_at_ms != b->started_at_ms || a->tabs != b->tabs ||
           a->tabs_healthy != b->tabs_healthy || a->inflight != b->inflight ||
           a->capacity != b->capacity || a->ok != b->ok || a->failed != b->failed ||
           a->p50_ms != b->p50_ms ||
           s_cool_differs(a->node_cooled_remaining_ms, age, b->node_cooled_remaining_ms) ||
           s_cool_differs(a->paced_remaining_ms, age, b->paced_remaining_ms) ||
           s_models_differ(a, b, age) || s_accounts_differ(a, b, age) ||
           s_key_counts_differ(a, b, age);
}

/*  The wire format is the judge of what a state may hold. */
static bool s_encodable(mesh_t *self, wire_state_t *st)
{
    wire_state_t sealed;
    if (wire_state_copy(&sealed, st) < 0)
        return false;
    wire_msg_t m = {.type = WIRE_PUSH, .from = self->id, .states = &sealed, .n_states = 1};
    abuf_t b = ABUF_INIT;
    int rc = wire_state_seal(&sealed, self->sk) < 0 ? -1 : wire_msg_encode(&m, &b);
    abuf_free(&b);
    wire_state_clear(&sealed);
    return rc == 0;
}

void mesh_set_local(mesh_t *self, const wire_state_t *st, bool urgent)
{
    if (!self || !st || self->left)
        return;
    wire_state_t shape = *st, cand;
    shape.id = self->id;
    shape.endpoint = self->endpoint;
    shape.name = st->name && *st->name ? st->name : self->local.name;
    shape.http = st->http && *st->http ? st->http : self->local.http;
    shape.started_at_ms = st->started_at_ms > 0 ? st->started_at_ms : self->local.started_at_ms;
    shape.incarnation = self->local.incarnation;
    shape.version = self->local.version;
    shape.heartbeat = self->local.heartbeat;
    shape.leaving = self->local.leaving;
    if (!s_differs(self, &shape))
        return;
    if (!s_encodable(self, &shape)) {
        alog_warn_rl("mesh: ignoring a local state the wire format cannot carry (an empty or "
                     "oversized name, too many models?)");
        return;
    }
    if (wire_state_copy(&cand, &shape) < 0)
        return;
    wire_state_clear(&self->local);
    self->local = cand;
    self->local_at = mesh__now();
    mesh__bump_local(self);
    if (urgent)
        mesh__push_local(self);
}

/* ------------------------------------------------------------------ the tick */

static void s_forget(mesh_t *self, mesh__peer_t *p)
{
    if (p->listed)
        alog_info("mesh: forgetting peer %s (%s)", p->has_state ? p->state.name : p->id, p->id);
    mesh__peer_remove(self, p, true);
}

/*  Someone vouched for p within dead_ms: it spoke to us, or a member
    reported it alive. */
static bool s_vouched(const mesh_t *self, const mesh__peer_t *p, int64_t now)
{
    int64_t at = mesh__peer_vouched_at(p);
    return at > 0 && now - at <= self->dead_ms;
}

/*  p is unreachable and nothing vouched for it for suspect_ms: send the
    member that last reported it a digest without our hearsay entries. While
    it still holds p alive, its delta then carries p's state, which is a new
    report. At most one such digest per member per ping_ms, whatever the
    number of peers it reports. (Digests themselves are no reports: ours list
    hearsay too, so that a state is not sent again at every round.) */
static void s_ask_reporter(mesh_t *self, mesh__peer_t *p, int64_t now)
{
    if (!p->reporter[0] || now - mesh__peer_vouched_at(p) < self->suspect_ms)
        return;
    mesh__peer_t *r = mesh__peer_find(self, p->reporter);
    if (!r || !r->announced || !r->dealer || now - r->asked_at < self->ping_ms ||
        (r->liveness != MESH_PEER_ALIVE && r->liveness != MESH_PEER_SUSPECT))
        return;
    r->asked_at = now;
    mesh__send_digest(self, r, false);
}

/*  An entry with an id that we have not reached (no announcement yet): hidden
    while we try, shown unreachable when it lives (it spoke to us, or a member
    reports it) but our link has not come up for suspect_ms, dead once nothing
    vouched for it for dead_ms. True when p was removed. */
static bool s_sweep_unreached(mesh_t *self, mesh__peer_t *p, int64_t now)
{
    bool slow = now - p->dialed_at > self->suspect_ms;
    switch (p->liveness) {
    case MESH_PEER_ALIVE: { /* hidden: just learned of, or back */
        int64_t quiet = now - (p->reported_at > p->last_heard ? p->reported_at : p->last_heard);
        if (quiet > self->dead_ms) {
            mesh__peer_set(self, p, MESH_PEER_DEAD); /* not reported */
            mesh__send_hello(self, p);
        } else if (slow && s_vouched(self, p, now)) {
            mesh__peer_set(self, p, MESH_PEER_UNREACHABLE);
        }
        return false;
    }
    case MESH_PEER_UNREACHABLE:
        if (!s_vouched(self, p, now))
            mesh__peer_set(self, p, MESH_PEER_DEAD);
        else
            s_ask_reporter(self, p, now);
        return false;
    default: /* dead or left (never suspect: that needs an announcement) */
        if (now - p->since > self->forget_ms) {
            s_forget(self, p);
            return true;
        }
        if (slow && mesh__peer_vouched_at(p) > p->since && s_vouched(self, p, now)) {
            mesh__peer_set(self, p, MESH_PEER_UNREACHABLE); /* it lives after all */
        } else if (p->liveness == MESH_PEER_DEAD && now - p->hello_at >= self->dead_ms) {
            mesh__send_hello(self, p);
        }
        return false;
    }
}

/*  Liveness by deadlines; true when p was removed. An announced peer's
    silence ends with a direct message or a relayed ack (mesh_probe.c). */
static bool s_sweep_one(mesh_t *self, mesh__peer_t *p, int64_t now)
{
    if (!p->announced) {
        if (!p->listed && !p->silent_logged && now - p->dialed_at > self->dead_ms && !p->heard) {
            p->silent_logged = true;
            alog_info("mesh: no answer from %s yet", p->endpoint);
        }
        if (!p->id[0]) { /* a seed's placeholder waits as long as it takes… */
            if (now - p->hello_at >= self->dead_ms)
                mesh__send_hello(self, p); /* …saying hello again (a seed may have
                                              refused it: a full table, a burst) */
            return false;
        }
        mesh__peer_announce(self, p); /* when the link came up after the news */
        if (!p->announced)
            return s_sweep_unreached(self, p, now);
    }
    int64_t quiet = now - mesh__peer_alive_at(p);
    switch (p->liveness) {
    case MESH_PEER_ALIVE:
        if (quiet > self->suspect_ms) {
            mesh__peer_set(self, p, MESH_PEER_SUSPECT);
            mesh__send_hello(self, p); /* in case it forgot us */
        } else if (!p->indirect_logged && p->indirect_at > p->last_heard &&
                   now - p->last_heard > self->dead_ms) {
            mesh__peer_warn_indirect(p); /* dead but for the helpers */
        }
        break;
    case MESH_PEER_SUSPECT:
        if (quiet > self->dead_ms)
            mesh__peer_set(self, p, MESH_PEER_DEAD);
        break;
    case MESH_PEER_DEAD:
        if (now - p->since > self->forget_ms) {
            s_forget(self, p);
            return true;
        }
        /* A healed partition answers: the hello waits for the link (it goes
           out at the tick after the connection is back) and is renewed every
           ping_ms in case it went into a connection that was already dead. */
        if (now - p->hello_at >= self->ping_ms)
            mesh__send_hello(self, p);
        break;
    case MESH_PEER_LEFT:
    case MESH_PEER_UNREACHABLE: /* (only before an announcement) */
        if (now - p->since > self->forget_ms) {
            s_forget(self, p);
            return true;
        }
        break;
    }
    return false;
}

static void s_sweep(mesh_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n_peers;)
        if (!s_sweep_one(self, self->peers[i], now))
            mesh__flush_hello(self, self->peers[i++]);
}

static void s_gossip(mesh_t *self)
{
    self->local.heartbeat++;
    mesh__peer_t **c = calloc(self->n_peers ? self->n_peers : 1, sizeof *c);
    if (!c)
        return;
    size_t n = 0;
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *p = self->peers[i];
        if (p->announced && p->dealer && p->liveness == MESH_PEER_ALIVE)
            c[n++] = p;
    }
    /* A quiet mesh (no version changed for 10 rounds) gossips to one peer
       every other round: anti-entropy only repairs what a push missed, and
       at 32 nodes full-fanout digests alone were ~23 KB/s per node. */
    uint64_t h = 1469598103934665603ULL ^ self->local.version;
    for (size_t i = 0; i < self->n_peers; i++) {
        const mesh__peer_t *p = self->peers[i];
        h = (h ^ (p->has_state ? p->state.version : 0) ^ (uint64_t)p->liveness) * 1099511628211ULL;
    }
    int64_t now = mesh__now();
    if (h != self->table_hash) {
        self->table_hash = h;
        self->table_changed = now;
    }
    bool quiet = now - self->table_changed >= 10LL * self->gossip_ms;
    size_t fanout = quiet ? (self->rounds % 2 == 0) : (size_t)self->fanout;
    self->rounds++;
    size_t k = n < fanout ? n : fanout;
    for (size_t i = 0; i < k; i++) { /* the first k of a Fisher-Yates shuffle */
        size_t j = i + randombytes_uniform((uint32_t)(n - i));
        mesh__peer_t *t = c[i];
        c[i] = c[j], c[j] = t;
        mesh__send_digest(self, c[i], true);
        mesh__records_gossip(self, c[i]);
    }
    free(c);
}

static int s_on_tick(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void)loop;
    mesh_t *self = arg;
    uint64_t expirations;
    if (read(item->fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        alog_warn_rl("mesh: tick timer: %s", strerror(errno));
    mesh__grave_flush(self); /* closed by earlier turns: zloop has dropped them */
    int64_t now = mesh__now();
    if (!self->started)
        s_start(self);
    if (self->zap && !self->zap_bound && now >= self->next_zap_try) {
        mesh__zap_try_bind(self);
        self->next_zap_try = now + MESH__ZAP_RETRY_MS;
    }
    if (self->left)
        return 0;
    s_sweep(self, now);
    mesh__probe(self, now);
    if (now >= self->next_gossip) {
        s_gossip(self);
        self->next_gossip = now + self->gossip_ms;
    }
    if (now >= self->next_seed_check) {
        s_seed_check(self);
        self->next_seed_check = now + self->dead_ms;
    }
    mesh__tomb_expire(self, now);
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

/*  The tick is a timerfd polled by zloop rather than a zloop timer: czmq
    keeps an ended timer (and its argument) until its loop runs again, so a
    mesh destroyed before its loop ever ran would be called after free;
    a poller is dropped at once. */
static int s_tick_start(mesh_t *self)
{
    self->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (self->tick_fd < 0) {
        alog_error("mesh: timerfd: %s", strerror(errno));
        return -1;
    }
    struct itimerspec its = {
        .it_interval = {.tv_sec = self->tick_ms / 1000,
                        .tv_nsec = (self->tick_ms % 1000) * 1000000L},
    };
    its.it_value = its.it_interval;
    self->tick_item = (zmq_pollitem_t){.fd = self->tick_fd, .events = ZMQ_POLLIN};
    if (timerfd_settime(self->tick_fd, 0, &its, NULL) != 0 ||
        zloop_poller(self->loop, &self->tick_item, s_on_tick, self) != 0)
        return -1;
    return 0;
}

static void s_tick_stop(mesh_t *self)
{
    if (self->tick_fd < 0)
        return;
    zloop_poller_end(self->loop, &self->tick_item);
    close(self->tick_fd);
    self->tick_fd = -1;
}

mesh_t *mesh_new(const mesh_config_t *cfg, zloop_t *loop)
{
    if (!cfg || !loop || !cfg->bind_host || !*cfg->bind_host) {
        alog_error("mesh: no loop or bind address");
        return NULL;
    }
    if (!s_id_ok(cfg->node_id)) {
        alog_error("mesh: bad node id (1..%d printable characters)", WIRE_MAX_ID);
        return NULL;
    }
    if (!cfg->secret || !*cfg->secret) {
        alog_error("mesh: no mesh secret (the mesh port is never open)");
        return NULL;
    }
    if (sodium_init() < 0) {
        alog_error("mesh: libsodium failed to start");
        return NULL;
    }
    uint8_t pk[IDENT_PK_LEN];
    if (cfg->sign_key)
        ident_sk_pk(cfg->sign_key, pk);
    if (!cfg->sign_key || !ident_id_matches(cfg->node_id, pk)) {
        alog_error("mesh: the node id %s is not the one of its signing key", cfg->node_id);
        return NULL;
    }
    mesh_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char adv_host[MESH__HOST_MAX + 1];
    self->loop = loop;
    self->tick_fd = -1;
    snprintf(self->id, sizeof self->id, "%s", cfg->node_id);
    memcpy(self->sk, cfg->sign_key, sizeof self->sk);
    self->on_forward = cfg->on_forward, self->on_peer = cfg->on_peer;
    self->on_persist = cfg->on_persist, self->arg = cfg->arg;
    self->local_only = cfg->local_only;
    if (s_timing(self, cfg) < 0 || s_bounds(self, cfg) < 0)
        goto err;
    if (!(self->cert = mesh__curve_cert(cfg->secret))) {
        alog_error("mesh: cannot derive the CURVE key pair");
        goto err;
    }
    if (s_bind(self, cfg) < 0 || s_advertise(self, cfg, adv_host, sizeof adv_host) < 0 ||
        s_policy(cfg, adv_host) < 0 || s_seeds(self, cfg) < 0 || s_local_init(self) < 0)
        goto err;
    if (mesh__zap_start(self) < 0)
        goto err;
    if (!(self->by_id = zhashx_new()) || !(self->logged = zhashx_new()))
        goto err;
    if (zloop_reader(loop, self->router, mesh__on_router, self) != 0 ||
        (self->router_mon &&
         zloop_reader(loop, self->router_mon, mesh__on_router_monitor, self) != 0))
        goto err;
    if (s_tick_start(self) < 0)
        goto err;
    alog_info("mesh: node %s on %s (CURVE, %s; at most %zu peers)", self->id, self->endpoint,
              self->local_only ? "this machine's own secret, loopback only" : "shared secret",
              self->max_peers);
    return self;
err:
    mesh_destroy(&self);
    return NULL;
}

static void s_close(mesh_t *self, bool flush_leave)
{
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *p = self->peers[i];
        mesh__peer_hangup(self, p, flush_leave ? MESH__LEAVE_LINGER_MS : 0);
        wire_state_clear(&p->state);
        free(p);
    }
    self->n_peers = 0;
    if (self->router) {
        mesh__monitor_stop(self, self->router, &self->router_mon);
        mesh__grave(self, &self->router);
    }
    if (self->zap && self->zap_bound)
        zsock_unbind(self->zap, "inproc://zeromq.zap.01");
    mesh__grave(self, &self->zap);
    mesh__grave_flush(self);
}

void mesh_destroy(mesh_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mesh_t *self = *self_p;
    bool said = false;
    if (self->router && self->started && !self->left) {
        mesh_leave(self);
        said = true;
    }
    s_tick_stop(self);
    s_close(self, said);
    free(self->grave);
    free(self->peers);
    free(self->tombs);
    mesh__records_free(self);
    for (size_t i = 0; i < self->n_known; i++)
        free(self->known[i]);
    free(self->known);
    zhashx_destroy(&self->by_id);
    zhashx_destroy(&self->logged);
    zcert_destroy(&self->cert);
    wire_state_clear(&self->local);
    abuf_free(&self->tx);
    sodium_memzero(self->sk, sizeof self->sk);
    free(self);
    *self_p = NULL;
}

int mesh_port(const mesh_t *self)
{
    return self ? self->port : -1;
}

const char *mesh_id(const mesh_t *self)
{
    return self->id;
}

const char *mesh_endpoint(const mesh_t *self)
{
    return self ? self->endpoint : NULL;
}

void mesh_leave(mesh_t *self)
{
    if (!self || self->left)
        return;
    self->left = true;
    self->local.leaving = true;
    mesh__bump_local(self);
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *p = self->peers[i];
        if (!p->id[0] || !p->dealer)
            continue;
        mesh__send_leave(self, p);
    }
    alog_info("mesh: left the mesh");
}

int mesh_send(mesh_t *self, const char *peer_id, wire_msg_t *msg)
{
    if (!self || !peer_id || !msg || !WIRE_IS_FORWARDING(msg->type))
        return -1;
    mesh__peer_t *p = mesh__peer_find(self, peer_id);
    if (!p || !p->announced || (p->liveness != MESH_PEER_ALIVE && p->liveness != MESH_PEER_SUSPECT))
        return -1;
    int rc = msg->type == WIRE_REJECT ? mesh__send_reject(self, p, msg) : mesh__send(self, p, msg);
    if (rc < 0) {
        self->stats.send_full++;
        return -1;
    }
    return 0;
}

bool mesh_sendable(const mesh_t *self, const char *peer_id)
{
    const mesh__peer_t *p = self && peer_id ? mesh__peer_find(self, peer_id) : NULL;
    return p && p->announced &&
           (p->liveness == MESH_PEER_ALIVE || p->liveness == MESH_PEER_SUSPECT);
}

size_t mesh_peers(mesh_t *self, mesh_peer_view_t *out, size_t max)
{
    if (!self)
        return 0;
    int64_t now = mesh__now();
    size_t n = 0;
    for (size_t i = 0; i < self->n_peers; i++) {
        const mesh__peer_t *p = self->peers[i];
        if (!p->listed)
            continue;
        if (out && n < max)
            out[n] = (mesh_peer_view_t){
                .id = p->id,
                .endpoint = p->endpoint,
                .state = p->has_state ? &p->state : NULL,
                .liveness = p->liveness,
                .age_ms = p->heard || p->announced ? now - p->last_heard : -1,
                .state_age_ms = p->has_state ? now - p->state_at : 0,
                .reported_by = p->liveness == MESH_PEER_UNREACHABLE && !p->heard && p->reporter[0]
                                   ? p->reporter
                                   : NULL,
                .indirect = mesh__indirect_only(self, p, now)};
        n++;
    }
    return n;
}

size_t mesh_alive_count(const mesh_t *self)
{
    size_t n = 0;
    for (size_t i = 0; self && i < self->n_peers; i++)
        n += self->peers[i]->announced && self->peers[i]->liveness == MESH_PEER_ALIVE;
    return n;
}

void mesh_stats(const mesh_t *self, mesh_stats_t *out)
{
    if (!out)
        return;
    *out = self ? self->stats : (mesh_stats_t){0};
    if (self) {
        out->peers_held = self->n_peers;
        out->sockets = self->n_socks;
    }
}
