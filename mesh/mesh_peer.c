/*  mesh_peer — the peer table: one entry per node we know (or per seed
    address not answered yet), its DEALER, its last state and its liveness.

    An entry is hidden from the node until it is `listed`: `announced` (heard
    from directly, holding a state, our link up), or shown as unreachable
    (others report it, or it speaks to us, but our link to it does not come
    up; see mesh.c). Then every liveness change reaches on_peer, and an
    announced peer's every new state too and its every return to alive
    on_persist. Forgotten entries leave a tombstone for forget_ms so that a
    relay of their old state does not bring them back.

    Bounds (docs/mesh-protocol.md, "The mesh port"): at most max_peers
    entries; a message from a member makes at most max_new of them and new
    entries are dialed at dial_rate per second at most (a token bucket),
    so a member naming a thousand made-up peers costs a few dials, not a
    socket each; every socket is counted against the mesh's share of
    libzmq's and the process's limits, and one that would pass it is
    refused, never asked of czmq (which aborts when libzmq says no). Seeds
    and stored peers, which the operator gave, skip the per-message and
    rate bounds but not the table's. Runs on the loop's thread. */
#include "mesh/mesh_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mesh__peer_t *mesh__peer_find(const mesh_t *self, const char *id)
{
    return id && *id ? zhashx_lookup(self->by_id, id) : NULL;
}

mesh__peer_t *mesh__peer_by_dealer(const mesh_t *self, const zsock_t *dealer)
{
    for (size_t i = 0; i < self->n_peers; i++)
        if (self->peers[i]->dealer == dealer)
            return self->peers[i];
    return NULL;
}

mesh__peer_t *mesh__peer_by_monitor(const mesh_t *self, const zsock_t *mon)
{
    for (size_t i = 0; i < self->n_peers; i++)
        if (self->peers[i]->monitor == mon)
            return self->peers[i];
    return NULL;
}

mesh__peer_t *mesh__placeholder_at(const mesh_t *self, const char *endpoint)
{
    for (size_t i = 0; i < self->n_peers; i++)
        if (!self->peers[i]->id[0] && streq(self->peers[i]->endpoint, endpoint))
            return self->peers[i];
    return NULL;
}

/* --------------------------------------------------------------- sockets */

zsock_t *mesh__sock_new(mesh_t *self, int type)
{
    if (self->n_socks + 1 > self->max_socks) {
        self->stats.peers_refused++;
        if (alog_enabled(ALOG_WARN))
            alog_rl_write(&self->rl_sock, ALOG_WARN,
                          "mesh: refusing a new socket: %zu open, the limit is %zu (raise the "
                          "open-files limit, or lower --mesh-max-peers)",
                          self->n_socks, self->max_socks);
        return NULL;
    }
    zsock_t *s = zsock_new(type);
    if (s)
        self->n_socks++;
    return s;
}

void mesh__sock_gone(mesh_t *self, size_t n)
{
    self->n_socks = self->n_socks > n ? self->n_socks - n : 0;
}

void mesh__sock_heal(zsock_t *sock)
{
    zsock_set_heartbeat_ivl(sock, MESH__HEARTBEAT_IVL_MS);
    zsock_set_heartbeat_timeout(sock, MESH__HEARTBEAT_TIMEOUT_MS);
    zsock_set_heartbeat_ttl(sock, MESH__HEARTBEAT_TIMEOUT_MS);
    zsock_set_handshake_ivl(sock, MESH__CONNECT_TIMEOUT_MS);
    zsock_set_connect_timeout(sock, MESH__CONNECT_TIMEOUT_MS);
}

/* ------------------------------------------------------------- graveyard */

void mesh__grave(mesh_t *self, zsock_t **sock_p)
{
    if (!*sock_p)
        return;
    zloop_reader_end(self->loop, *sock_p);
    mesh__sock_gone(self, 1); /* the reserve covers the grave until the next tick */
    if (self->n_grave == self->cap_grave) {
        size_t cap = self->cap_grave ? self->cap_grave * 2 : 16;
        zsock_t **g = realloc(self->grave, cap * sizeof *g);
        if (!g) {
            /* Out of memory: closing now is the lesser evil. */
            zsock_destroy(sock_p);
            return;
        }
        self->grave = g, self->cap_grave = cap;
    }
    self->grave[self->n_grave++] = *sock_p;
    *sock_p = NULL;
}

void mesh__grave_flush(mesh_t *self)
{
    for (size_t i = 0; i < self->n_grave; i++)
        zsock_destroy(&self->grave[i]);
    self->n_grave = 0;
}

/* ------------------------------------------------------------ tombstones */

bool mesh__tomb_blocks(mesh_t *self, const char *id, uint64_t version)
{
    for (size_t i = 0; i < self->n_tombs; i++) {
        mesh__tomb_t *t = &self->tombs[i];
        if (!streq(t->id, id))
            continue;
        if (version <= t->version)
            return true;
        self->tombs[i] = self->tombs[--self->n_tombs]; /* it has news: let it back */
        return false;
    }
    return false;
}

static void s_tomb_add(mesh_t *self, const mesh__peer_t *p)
{
    if (!self->tombs && !(self->tombs = calloc(WIRE_MAX_PEERS, sizeof *self->tombs)))
        return;
    size_t at = 0;
    if (self->n_tombs < WIRE_MAX_PEERS) {
        at = self->n_tombs++;
    } else {
        for (size_t i = 1; i < self->n_tombs; i++) /* full: reuse the first to expire */
            if (self->tombs[i].until < self->tombs[at].until)
                at = i;
    }
    mesh__tomb_t *t = &self->tombs[at];
    snprintf(t->id, sizeof t->id, "%s", p->id);
    t->version = p->has_state ? p->state.version : 0;
    t->until = mesh__now() + self->forget_ms;
}

static void s_tomb_clear(mesh_t *self, const char *id)
{
    for (size_t i = 0; i < self->n_tombs; i++)
        if (streq(self->tombs[i].id, id)) {
            self->tombs[i] = self->tombs[--self->n_tombs];
            return;
        }
}

void mesh__tomb_expire(mesh_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n_tombs;)
        if (self->tombs[i].until <= now)
            self->tombs[i] = self->tombs[--self->n_tombs];
        else
            i++;
}

/* ---------------------------------------------------------------- dialing */

static zsock_t *s_dealer_new(mesh_t *self, const char *endpoint)
{
    char host[MESH__HOST_MAX + 1], tcp[WIRE_MAX_NAME + 16];
    int port;
    if (mesh__split(endpoint, host, sizeof host, &port) < 0 || port == 0 ||
        mesh__tcp(host, port, tcp, sizeof tcp) < 0)
        return NULL;
    zsock_t *d = mesh__sock_new(self, ZMQ_DEALER);
    if (!d)
        return NULL;
    zsock_set_identity(d, self->id);
    zsock_set_linger(d, 0);
    zsock_set_sndhwm(d, MESH__SNDHWM);
    zsock_set_rcvhwm(d, MESH__RCVHWM);
    zsock_set_maxmsgsize(d, WIRE_MSG_MAX);
    zsock_set_reconnect_ivl(d, MESH__RECONNECT_MS);
    zsock_set_reconnect_ivl_max(d, MESH__RECONNECT_MAX_MS);
    mesh__sock_heal(d);
    /* Queue only to a live connection: nothing sent while a peer is away is
       delivered later to whatever listens on its address by then. */
    zsock_set_immediate(d, 1);
    if (strchr(host, ':'))
        zsock_set_ipv6(d, 1);
    if (self->cert)
        mesh__curve_client(self, d);
    if (zsock_connect(d, "%s", tcp) != 0) {
        zsock_destroy(&d);
        mesh__sock_gone(self, 1);
        return NULL;
    }
    return d;
}

/*  (Re)connects p to endpoint with a fresh DEALER and says hello on it. */
int mesh__peer_dial(mesh_t *self, mesh__peer_t *p, const char *endpoint)
{
    mesh__peer_hangup(self, p, 0);
    if (endpoint != p->endpoint)
        snprintf(p->endpoint, sizeof p->endpoint, "%s", endpoint);
    zsock_t *d = s_dealer_new(self, p->endpoint);
    if (!d) {
        alog_warn("mesh: cannot dial %s", p->endpoint);
        return -1;
    }
    if (self->cert)
        p->monitor = mesh__monitor_new(
            self, d,
            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    if (p->monitor)
        zloop_reader(self->loop, p->monitor, mesh__on_dealer_monitor, self);
    p->dealer = d;
    zloop_reader(self->loop, d, mesh__on_dealer, self);
    p->dialed_at = mesh__now();
    p->heard = false;
    p->silent_logged = false;
    mesh__send_hello(self, p);
    return 0;
}

/*  Closes p's DEALER (linger_ms lets a last message out). */
void mesh__peer_hangup(mesh_t *self, mesh__peer_t *p, int linger_ms)
{
    mesh__monitor_stop(self, p->dealer, &p->monitor);
    if (p->dealer) {
        zsock_set_linger(p->dealer, linger_ms);
        mesh__grave(self, &p->dealer);
    }
}

mesh__peer_t *mesh__peer_add(mesh_t *self, const char *id, const char *endpoint)
{
    if (self->n_peers >= self->max_peers) {
        self->stats.peers_refused++;
        if (alog_enabled(ALOG_WARN))
            alog_rl_write(&self->rl_full, ALOG_WARN,
                          "mesh: peer table full (%zu, --mesh-max-peers): ignoring %s at %.80s",
                          self->max_peers, id && *id ? id : "a seed", endpoint);
        return NULL;
    }
    if (!self->peers && !(self->peers = calloc(self->max_peers, sizeof *self->peers)))
        return NULL;
    mesh__peer_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->id, sizeof p->id, "%s", id ? id : "");
    snprintf(p->endpoint, sizeof p->endpoint, "%s", endpoint);
    p->liveness = MESH_PEER_ALIVE; /* hidden until announced */
    p->seed = -1;
    p->last_heard = p->since = mesh__now();
    self->peers[self->n_peers++] = p;
    if (p->id[0]) {
        s_tomb_clear(self, p->id);
        zhashx_insert(self->by_id, p->id, p);
    }
    if (mesh__peer_dial(self, p, p->endpoint) < 0) {
        mesh__peer_remove(self, p, false);
        return NULL;
    }
    return p;
}

void mesh__intro_reset(mesh_t *self, const char *from)
{
    self->new_left = self->max_new;
    snprintf(self->intro_from, sizeof self->intro_from, "%s", from ? from : "");
}

/*  The table is full and a node introduces itself: the oldest entry known
    by hearsay only (never heard from, never announced, neither a seed nor
    stored) makes room, so made-up peers cannot keep real ones out. False
    when there is none. */
static bool s_evict_hearsay(mesh_t *self)
{
    mesh__peer_t *victim = NULL;
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *q = self->peers[i];
        if (q->id[0] && !q->announced && !q->heard && q->seed < 0 && !q->persisted &&
            (!victim || q->dialed_at < victim->dialed_at))
            victim = q;
    }
    if (!victim)
        return false;
    alog_debug("mesh: dropping %s (hearsay only) to make room", victim->id);
    if (victim->listed) /* shown unreachable on reports: the node hears it go */
        mesh__peer_set(self, victim, MESH_PEER_DEAD);
    mesh__peer_remove(self, victim, false);
    return true;
}

/*  One dial of a new entry from the bucket, refilled at dial_rate per second. */
static bool s_dial_token(mesh_t *self)
{
    int64_t now = mesh__now();
    self->dial_tokens += (double)(now - self->dial_at) * self->dial_rate / 1000.0;
    if (self->dial_tokens > self->dial_rate)
        self->dial_tokens = self->dial_rate;
    self->dial_at = now;
    if (self->dial_tokens < 1.0)
        return false;
    self->dial_tokens -= 1.0;
    return true;
}

mesh__peer_t *mesh__peer_learn(mesh_t *self, const char *id, const char *endpoint)
{
    alog_rl_t *rl = &self->rl_learn;
    const char *why = NULL;
    if (self->new_left <= 0) {
        why = "too many new peers in one message (--mesh-max-new)";
    } else if (self->n_peers < self->max_peers && !s_dial_token(self)) {
        why = "new peers come faster than --mesh-dial-rate";
        rl = &self->rl_rate;
    }
    if (why) {
        self->stats.peers_refused++;
        if (alog_enabled(ALOG_WARN))
            alog_rl_write(rl, ALOG_WARN, "mesh: not taking peer %s at %.80s: %s", id, endpoint,
                          why);
        return NULL;
    }
    self->new_left--;
    if (self->n_peers >= self->max_peers && streq(id, self->intro_from))
        s_evict_hearsay(self);
    return mesh__peer_add(self, id, endpoint);
}

int mesh__peer_rekey(mesh_t *self, mesh__peer_t *p, const char *id)
{
    if (p->id[0])
        zhashx_delete(self->by_id, p->id);
    snprintf(p->id, sizeof p->id, "%s", id);
    s_tomb_clear(self, id);
    if (p->seed >= 0)
        snprintf(self->seeds[p->seed].id, sizeof self->seeds[p->seed].id, "%s", id);
    return zhashx_insert(self->by_id, p->id, p);
}

/*  Drops p; forget: it is gone for good (tombstone, and out of the node's store). */
void mesh__peer_remove(mesh_t *self, mesh__peer_t *p, bool forget)
{
    if (forget && p->id[0])
        s_tomb_add(self, p);
    if (forget && p->persisted && p->id[0] && self->on_persist)
        self->on_persist(self->arg, p->id, p->has_state ? p->state.endpoint : p->endpoint, true);
    mesh__peer_hangup(self, p, 0);
    if (p->id[0] && zhashx_lookup(self->by_id, p->id) == p)
        zhashx_delete(self->by_id, p->id);
    for (size_t i = 0; i < self->n_peers; i++)
        if (self->peers[i] == p) {
            memmove(&self->peers[i], &self->peers[i + 1],
                    (self->n_peers - i - 1) * sizeof *self->peers);
            self->n_peers--;
            break;
        }
    wire_state_clear(&p->state);
    free(p);
}

/* --------------------------------------------------------------- liveness */

bool mesh__relayable(const mesh_t *self, const mesh__peer_t *p, int64_t now)
{
    if (!p->id[0] || !p->has_state)
        return false;
    if (p->announced)
        return p->liveness == MESH_PEER_ALIVE || p->liveness == MESH_PEER_SUSPECT;
    return (p->liveness == MESH_PEER_ALIVE || p->liveness == MESH_PEER_UNREACHABLE) && p->heard &&
           now - p->last_heard <= self->dead_ms;
}

void mesh__peer_vouch(mesh__peer_t *p, const mesh__peer_t *by)
{
    if (p->announced || p == by || !by->id[0] || p->liveness == MESH_PEER_LEFT)
        return;
    p->reported_at = mesh__now();
    snprintf(p->reporter, sizeof p->reporter, "%s", by->id);
}

int64_t mesh__peer_vouched_at(const mesh__peer_t *p)
{
    int64_t heard = p->heard ? p->last_heard : 0;
    return p->reported_at > heard ? p->reported_at : heard;
}

/*  "name (id)", or the id alone while its state is unknown. */
static const char *s_who(const mesh__peer_t *p, char *buf, size_t len)
{
    if (p->has_state && p->state.name && !streq(p->state.name, p->id))
        snprintf(buf, len, "%s (%s)", p->state.name, p->id);
    else
        snprintf(buf, len, "%s", p->id);
    return buf;
}

/*  The one warning of an unreachable episode: what we cannot reach and what
    to check. */
static void s_warn_unreachable(mesh_t *self, const mesh__peer_t *p)
{
    char who[2 * WIRE_MAX_NAME + 8], by[2 * WIRE_MAX_NAME + 8];
    double secs = (double)(mesh__now() - p->dialed_at) / 1000.0;
    s_who(p, who, sizeof who);
    if (p->heard) {
        alog_warn("mesh: peer %s reaches us, but our link to it at %s has not come up in %.1f s: "
                  "check that this machine can reach %s (firewall, VPN, that node's --advertise)",
                  who, p->endpoint, secs, p->endpoint);
        return;
    }
    const mesh__peer_t *r = mesh__peer_find(self, p->reporter);
    if (r)
        s_who(r, by, sizeof by);
    else
        snprintf(by, sizeof by, "%s", p->reporter[0] ? p->reporter : "another member");
    alog_warn("mesh: peer %s at %s (reported by %s) has not answered in %.1f s: check that this "
              "machine can reach %s (firewall, VPN, that node's --advertise)",
              who, p->endpoint, by, secs, p->endpoint);
}

void mesh__peer_warn_indirect(mesh__peer_t *p)
{
    char who[2 * WIRE_MAX_NAME + 8];
    unsigned n = p->reached_by ? p->reached_by : 1;
    p->indirect_logged = true;
    alog_warn("mesh: our link to peer %s at %s is down but %u peer%s still reach%s it: check this "
              "machine's route to %s",
              s_who(p, who, sizeof who), p->endpoint, n, n == 1 ? "" : "s", n == 1 ? "es" : "",
              p->endpoint);
}

static void s_persist(mesh_t *self, mesh__peer_t *p)
{
    p->persisted = true;
    if (self->on_persist)
        self->on_persist(self->arg, p->id, p->state.endpoint, false);
}

void mesh__peer_set(mesh_t *self, mesh__peer_t *p, mesh_liveness_t l)
{
    if (p->liveness == l)
        return;
    p->liveness = l;
    p->since = mesh__now();
    if (l == MESH_PEER_UNREACHABLE)
        p->listed = true;
    if (!p->listed)
        return;
    if (l == MESH_PEER_UNREACHABLE) {
        s_warn_unreachable(self, p);
    } else {
        char who[2 * WIRE_MAX_NAME + 8];
        alog_info("mesh: peer %s is %s", s_who(p, who, sizeof who), mesh_liveness_name(l));
    }
    if (l == MESH_PEER_ALIVE && p->announced)
        s_persist(self, p);
    if (self->on_peer)
        self->on_peer(self->arg, p->id, l);
}

bool mesh__linked(const mesh__peer_t *p)
{
    return p->dealer && (zsock_events(p->dealer) & ZMQ_POLLOUT);
}

/*  The node learns of p once p has spoken to us, we hold its state and our
    own link to it is up (so that "alive" means "mesh_send can reach it"). */
void mesh__peer_announce(mesh_t *self, mesh__peer_t *p)
{
    if (p->announced || !p->heard || !p->has_state || !p->id[0] || !mesh__linked(p))
        return;
    bool was_listed = p->listed; /* shown unreachable (or dead after that) so far */
    p->announced = p->listed = true;
    p->liveness = MESH_PEER_ALIVE;
    p->since = mesh__now();
    p->reporter[0] = '\0';
    char who[2 * WIRE_MAX_NAME + 8];
    if (was_listed)
        alog_info("mesh: peer %s is reachable at %s now: alive", s_who(p, who, sizeof who),
                  p->endpoint);
    else
        alog_info("mesh: peer %s joined at %s", s_who(p, who, sizeof who), p->state.endpoint);
    s_persist(self, p);
    if (self->on_peer)
        self->on_peer(self->arg, p->id, MESH_PEER_ALIVE);
}

/*  A direct message from p: it is alive, and announced when our link is up
    too. A listed entry whose link is still down keeps its liveness: the
    sweep shows it unreachable again if that lasts (mesh.c). */
void mesh__peer_news(mesh_t *self, mesh__peer_t *p)
{
    p->last_heard = mesh__now();
    p->heard = true;
    if (p->indirect_logged) {
        char who[2 * WIRE_MAX_NAME + 8];
        p->indirect_logged = false;
        alog_info("mesh: peer %s at %s answers us directly again", s_who(p, who, sizeof who),
                  p->endpoint);
    }
    mesh__peer_announce(self, p);
    if (p->announced || !p->listed)
        mesh__peer_set(self, p, MESH_PEER_ALIVE);
}
