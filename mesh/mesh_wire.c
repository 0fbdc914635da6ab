/*  mesh_wire — what goes over the sockets: encoding and sending (always
    ZMQ_DONTWAIT: a full pipe is an error for that one send), reading the
    ROUTER and the DEALERs, and what each message does to the table.

    Replies travel over our DEALER to the sender, with one exception: the
    answer to a hello (a delta holding our state) and to a ping from an
    unknown node (our hello) go back through the ROUTER on the connection
    they came from, because that is the only way a dialer that knows just an
    address (a seed) learns who answers there. Runs on the loop's thread. */
#include "mesh/mesh_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- encoding */

/*  Encodes msg into self->tx with our id as the sender (msg->from is
    restored: it stays the caller's). */
static int s_encode(mesh_t *self, wire_msg_t *msg)
{
    char *from = msg->from;
    msg->from = self->id;
    abuf_reset(&self->tx);
    int rc = wire_msg_encode(msg, &self->tx);
    msg->from = from;
    return rc;
}

static int s_send_tx(mesh_t *self, mesh__peer_t *p)
{
    if (!p->dealer)
        return -1;
    if (zmq_send(zsock_resolve(p->dealer), self->tx.data, self->tx.len, ZMQ_DONTWAIT) < 0)
        return -1; /* not connected (ZMQ_IMMEDIATE) or its pipe is full */
    self->stats.tx++;
    self->stats.bytes_out += self->tx.len;
    return 0;
}

static int s_hello_now(mesh_t *self, mesh__peer_t *p);

static int s_encode_failed(mesh_t *self, const mesh__peer_t *p, const wire_msg_t *msg)
{
    if (alog_enabled(ALOG_WARN))
        alog_rl_write(&self->rl_send, ALOG_WARN, "mesh: cannot encode a %s for %s",
                      wire_type_name(msg->type), p->endpoint);
    return -1;
}

int mesh__send(mesh_t *self, mesh__peer_t *p, wire_msg_t *msg)
{
    if (!p->dealer || (p->hello_due && s_hello_now(self, p) < 0))
        return -1;
    if (s_encode(self, msg) < 0)
        return s_encode_failed(self, p, msg);
    return s_send_tx(self, p);
}

/*  Back through the ROUTER to the connection whose identity is rid. */
static int s_reply(mesh_t *self, const char *rid, wire_msg_t *msg)
{
    if (s_encode(self, msg) < 0)
        return -1;
    void *h = zsock_resolve(self->router);
    if (zmq_send(h, rid, strlen(rid), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1; /* gone (ROUTER_MANDATORY) or full */
    if (zmq_send(h, self->tx.data, self->tx.len, ZMQ_DONTWAIT) < 0)
        return -1;
    self->stats.tx++;
    self->stats.bytes_out += self->tx.len;
    return 0;
}

/* ------------------------------------------------------------ state views */

/*  *dst = src as sent now: the owner's signed bytes with `age` ms (how
    long the remaining-ms and ms-ago fields have aged since the owner wrote
    them) beside them. The receiver ages the fields itself (it cannot change
    signed bytes, and need not). Shallow; *tmp is always NULL (kept for the
    callers' shape). */
static int s_view(const wire_state_t *src, int64_t age, wire_state_t *dst, wire_model_t **tmp)
{
    *dst = *src;
    dst->age_ms = age > 0 ? age : 0;
    *tmp = NULL;
    return src->sealed ? 0 : -1;
}

/*  Sends states as one message, or halves until each part fits the cap. */
static void s_send_split(mesh_t *self, mesh__peer_t *p, wire_type_t type, wire_state_t *v, size_t n)
{
    wire_msg_t m = {.type = type, .states = v, .n_states = n};
    if (s_encode(self, &m) == 0) {
        s_send_tx(self, p);
        return;
    }
    if (n == 1) {
        if (alog_enabled(ALOG_WARN))
            alog_rl_write(&self->rl_send, ALOG_WARN, "mesh: the state of %s does not encode",
                          v->id ? v->id : "?");
        return;
    }
    s_send_split(self, p, type, v, n / 2);
    s_send_split(self, p, type, v + n / 2, n - n / 2);
}

void mesh__send_states(mesh_t *self, mesh__peer_t *p, wire_type_t type, const wire_state_t **sts,
                       const int64_t *ages, size_t n)
{
    if (n == 0 || !p->dealer || (p->hello_due && s_hello_now(self, p) < 0))
        return;
    wire_state_t *v = calloc(n, sizeof *v);
    wire_model_t **tmp = calloc(n, sizeof *tmp);
    size_t k = 0;
    for (size_t i = 0; v && tmp && i < n; i++)
        if (s_view(sts[i], ages[i], &v[k], &tmp[k]) == 0)
            k++;
    if (v && tmp)
        s_send_split(self, p, type, v, k);
    for (size_t i = 0; tmp && i < k; i++)
        free(tmp[i]);
    free(tmp);
    free(v);
}

static int64_t s_local_age(const mesh_t *self)
{
    return mesh__now() - self->local_at;
}

/*  msg (a reject) encoded with our state, aged to now, as its "state" (the
    origin applies it before it routes again); without it in the rare case
    that both do not fit one message. msg is left as it was. */
int mesh__send_reject(mesh_t *self, mesh__peer_t *p, wire_msg_t *msg)
{
    if (!p->dealer || (p->hello_due && s_hello_now(self, p) < 0))
        return -1;
    wire_state_t *states = msg->states, view;
    size_t n_states = msg->n_states;
    wire_model_t *tmp = NULL;
    bool with = s_view(&self->local, s_local_age(self), &view, &tmp) == 0;
    msg->states = with ? &view : NULL;
    msg->n_states = with ? 1 : 0;
    int rc = s_encode(self, msg);
    if (rc < 0 && with) {
        msg->states = NULL;
        msg->n_states = 0;
        rc = s_encode(self, msg);
    }
    free(tmp);
    msg->states = states;
    msg->n_states = n_states;
    if (rc < 0)
        return s_encode_failed(self, p, msg);
    return s_send_tx(self, p);
}

void mesh__seal_local(mesh_t *self)
{
    if (wire_state_seal(&self->local, self->sk) < 0)
        alog_warn_rl("mesh: cannot sign our own state (version %" PRIu64 ")", self->local.version);
}

int mesh__send_leave(mesh_t *self, mesh__peer_t *p)
{
    wire_state_t view;
    wire_model_t *tmp;
    if (s_view(&self->local, s_local_age(self), &view, &tmp) < 0)
        return -1;
    wire_msg_t m = {
        .type = WIRE_LEAVE, .incarnation = self->local.incarnation, .states = &view, .n_states = 1};
    return mesh__send(self, p, &m);
}

void mesh__push_local(mesh_t *self)
{
    const wire_state_t *st = &self->local;
    int64_t age = s_local_age(self);
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *p = self->peers[i];
        if (p->id[0] && p->dealer &&
            (p->liveness == MESH_PEER_ALIVE || p->liveness == MESH_PEER_SUSPECT))
            mesh__send_states(self, p, WIRE_PUSH, &st, &age, 1);
    }
}

/* ------------------------------------------------------- hello and digest */

static wire_msg_t s_hello_new(mesh_t *self, const mesh__peer_t *to, wire_state_t *view,
                              wire_model_t **tmp)
{
    wire_msg_t m = {.type = WIRE_HELLO, .states = view, .n_states = 1};
    int64_t now = mesh__now();
    s_view(&self->local, s_local_age(self), view, tmp);
    m.peers = calloc(self->n_peers ? self->n_peers : 1, sizeof *m.peers);
    for (size_t i = 0; m.peers && i < self->n_peers; i++) {
        mesh__peer_t *q = self->peers[i];
        if (q == to || !q->announced || !mesh__relayable(self, q, now))
            continue;
        m.peers[m.n_peers].id = q->id;
        m.peers[m.n_peers++].endpoint = q->state.endpoint;
    }
    return m;
}

static void s_hello_free(wire_msg_t *m, wire_model_t *tmp)
{
    free(m->peers);
    free(tmp);
}

/*  DEALERs only queue to completed connections (ZMQ_IMMEDIATE), so a hello
    waits in p->hello_due until the connection is up: it goes out before
    anything else sent to p, or at the next tick. */
static int s_hello_now(mesh_t *self, mesh__peer_t *p)
{
    if (!(zsock_events(p->dealer) & ZMQ_POLLOUT))
        return -1; /* not connected yet: don't build it for nothing */
    wire_state_t view;
    wire_model_t *tmp;
    wire_msg_t m = s_hello_new(self, p, &view, &tmp);
    int rc = m.peers && s_encode(self, &m) == 0 ? s_send_tx(self, p) : -1;
    s_hello_free(&m, tmp);
    if (rc == 0)
        p->hello_due = false;
    return rc;
}

void mesh__send_hello(mesh_t *self, mesh__peer_t *p)
{
    p->hello_due = true;
    p->hello_at = mesh__now();
    if (p->dealer)
        s_hello_now(self, p);
}

void mesh__flush_hello(mesh_t *self, mesh__peer_t *p)
{
    if (p->hello_due && p->dealer)
        s_hello_now(self, p);
}

static void s_reply_hello(mesh_t *self, const char *rid)
{
    wire_state_t view;
    wire_model_t *tmp;
    wire_msg_t m = s_hello_new(self, NULL, &view, &tmp);
    s_reply(self, rid, &m);
    s_hello_free(&m, tmp);
}

/*  The answer to a hello: our state, back on the connection it came on. */
static void s_reply_state(mesh_t *self, const char *rid)
{
    wire_state_t view;
    wire_model_t *tmp;
    if (s_view(&self->local, s_local_age(self), &view, &tmp) < 0)
        return;
    wire_msg_t m = {.type = WIRE_DELTA, .states = &view, .n_states = 1};
    s_reply(self, rid, &m);
    free(tmp);
}

/*  A state held on hearsay only: not reached and not heard directly, but
    not known dead either. */
static bool s_hearsay(const mesh_t *self, const mesh__peer_t *q, int64_t now)
{
    return q->id[0] && q->has_state && !q->announced &&
           (q->liveness == MESH_PEER_ALIVE || q->liveness == MESH_PEER_UNREACHABLE) &&
           !mesh__relayable(self, q, now);
}

void mesh__send_digest(mesh_t *self, mesh__peer_t *p, bool hearsay)
{
    wire_version_t *v = calloc(self->n_peers + 1, sizeof *v);
    if (!v)
        return;
    size_t n = 0;
    int64_t now = mesh__now();
    v[n].id = self->id;
    v[n++].version = self->local.version;
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *q = self->peers[i];
        if (mesh__relayable(self, q, now) || (hearsay && s_hearsay(self, q, now))) {
            v[n].id = q->id;
            v[n++].version = q->state.version;
        }
    }
    wire_msg_t m = {.type = WIRE_DIGEST, .versions = v, .n_versions = n};
    mesh__send(self, p, &m);
    free(v);
}

/* ------------------------------------------------------------- the table */

/*  Someone holds a newer version of us than we do (we restarted within the
    same millisecond, or the clock went back): jump past it. */
static void s_self_seen(mesh_t *self, uint64_t version)
{
    if (version <= self->local.version)
        return;
    if (alog_enabled(ALOG_INFO)) /* often: another node runs with our id (a copied data dir) */
        alog_rl_write(&self->rl_self, ALOG_INFO,
                      "mesh: peers hold version %" PRIu64 " of us (ours is %" PRIu64
                      "): moving past it",
                      version, self->local.version);
    self->local.version = version;
    mesh__refute(self, true);
}

static mesh__peer_t *s_entry_for(mesh_t *self, const char *id, const char *endpoint)
{
    if (!mesh__dialable(self, endpoint))
        return NULL;
    mesh__peer_t *ph = mesh__placeholder_at(self, endpoint);
    if (ph) {
        mesh__peer_rekey(self, ph, id);
        return ph;
    }
    return mesh__peer_learn(self, id, endpoint); /* bounded: mesh_peer.c */
}

/*  p now advertises another address and our link to the old one is down (it
    restarted elsewhere). A live link is kept: the address we dialed may just
    be another name for the same place (a seed given as a host name). */
static bool s_moved(const mesh__peer_t *p, const char *endpoint)
{
    return !p->dealer || (!streq(p->endpoint, endpoint) && !mesh__linked(p));
}

/*  A state from `from` (its own when direct, a third node's when relayed). */
static void s_apply(mesh_t *self, mesh__peer_t *from, const wire_state_t *st)
{
    if (streq(st->id, self->id)) {
        s_self_seen(self, st->version);
        return;
    }
    bool direct = streq(st->id, from->id);
    mesh__peer_t *p = direct ? from : mesh__peer_find(self, st->id);
    if (!p) {
        if (mesh__tomb_blocks(self, st->id, st->version) ||
            !(p = s_entry_for(self, st->id, st->endpoint)))
            return;
    }
    if (!direct)
        mesh__peer_vouch(p, from); /* even an old version: `from` vouches for it */
    if (p->has_state && st->version <= p->state.version)
        return;
    if (!direct && p->liveness == MESH_PEER_LEFT)
        return;
    wire_state_t copy;
    if (wire_state_copy(&copy, st) < 0)
        return;
    uint64_t old_inc = p->has_state ? p->state.incarnation : 0;
    /* an address another member gave us is only a hint: the owner's signed
       state says where it is, and a live link there is no proof */
    bool unhinted = p->hinted && !streq(p->endpoint, copy.endpoint);
    p->hinted = false;
    wire_state_clear(&p->state);
    p->state = copy;
    p->has_state = true;
    p->state_at = mesh__now() - copy.age_ms; /* the age it had when it was sent */
    if (!direct && p->liveness == MESH_PEER_SUSPECT && copy.incarnation > old_inc) {
        p->last_heard = mesh__now(); /* it refuted: someone heard it lately */
        mesh__peer_set(self, p, MESH_PEER_ALIVE);
    }
    if (p->liveness != MESH_PEER_LEFT && mesh__dialable(self, copy.endpoint) &&
        ((!direct && p->liveness == MESH_PEER_DEAD) || s_moved(p, copy.endpoint) || unhinted))
        mesh__peer_dial(self, p, copy.endpoint); /* alive somewhere: try there */
    if (!p->announced)
        mesh__peer_announce(self, p);
    else if (self->on_peer)
        self->on_peer(self->arg, p->id, p->liveness);
}

/*  A peer listed in by's hello. */
static void s_learn(mesh_t *self, const mesh__peer_t *by, const wire_peer_ref_t *ref)
{
    if (streq(ref->id, self->id))
        return;
    mesh__peer_t *p = mesh__peer_find(self, ref->id);
    if (!p && !mesh__tomb_blocks(self, ref->id, UINT64_MAX)) {
        bool seed = mesh__placeholder_at(self, ref->endpoint) != NULL; /* ours: trusted */
        if ((p = s_entry_for(self, ref->id, ref->endpoint)) && !seed)
            p->hinted = true;
    }
    if (p)
        mesh__peer_vouch(p, by);
}

/* -------------------------------------------------------------- messages */

static void s_malformed(mesh_t *self, mesh__peer_t *p, const char *who, const char *why)
{
    self->stats.malformed++;
    if (p)
        p->malformed++;
    if (!alog_enabled(ALOG_WARN))
        return;
    if (p)
        alog_rl_write(&p->rl, ALOG_WARN, "mesh: malformed message from %s (%" PRIu64 " so far): %s",
                      who, p->malformed, why);
    else
        alog_rl_write(&self->rl_unknown, ALOG_WARN, "mesh: malformed message from %s: %s", who,
                      why);
}

/*  A message refused for a state that is not its owner's word. */
static void s_forged(mesh_t *self, mesh__peer_t *p, const char *who, const char *why)
{
    self->stats.forged++;
    if (p)
        p->malformed++;
    if (alog_enabled(ALOG_WARN))
        alog_rl_write(p ? &p->rl : &self->rl_unknown, ALOG_WARN,
                      "mesh: refused a message from %s: %s", who, why);
}

/*  A state whose version or incarnation is further ahead of our clock than
    any owner's clock could have made it (versions are the owner's unix ms,
    see mesh.c): signed or not, it would outrank everything its owner says
    later, so the whole message is refused. */
static bool s_implausible(const wire_msg_t *m, char *why, size_t whylen)
{
    uint64_t limit = (uint64_t)(mesh__wall() + MESH__AHEAD_MS);
    for (size_t i = 0; i < m->n_states; i++) {
        const wire_state_t *st = &m->states[i];
        if (st->version > limit || st->incarnation > limit) {
            snprintf(why, whylen,
                     "the state of %s claims version %" PRIu64 ", incarnation %" PRIu64
                     ": more than a day ahead of our clock",
                     st->id, st->version, st->incarnation);
            return true;
        }
    }
    return false;
}

static void s_dropped(mesh_t *self, const wire_msg_t *m, const char *why)
{
    self->stats.dropped++;
    alog_debug("mesh: dropped a %s from %s: %s", wire_type_name(m->type), m->from, why);
}

static bool s_forwarding(wire_type_t t)
{
    return WIRE_IS_FORWARDING(t);
}

/*  hello: learn the sender, its state and the peers it knows. p is NULL when
    the sender is new; via_dealer when it came as an answer on our DEALER. */
static void s_on_hello(mesh_t *self, mesh__peer_t *p, const char *rid, bool via_dealer,
                       const wire_msg_t *m)
{
    const wire_state_t *st = &m->states[0];
    if (!mesh__dialable(self, st->endpoint)) {
        s_dropped(self, m, "its endpoint is not one we may dial");
        return;
    }
    bool dialed = false;
    if (!p) {
        if (!(p = s_entry_for(self, m->from, st->endpoint)))
            return;
    } else if (p->liveness == MESH_PEER_DEAD || p->liveness == MESH_PEER_LEFT ||
               s_moved(p, st->endpoint)) {
        dialed = mesh__peer_dial(self, p, st->endpoint) == 0;
    }
    s_apply(self, p, st);
    mesh__peer_news(self, p);
    for (size_t i = 0; i < m->n_peers; i++)
        s_learn(self, p, &m->peers[i]);
    if (rid)
        s_reply_state(self, rid);
    else if (via_dealer && !dialed)
        mesh__send_hello(self, p); /* it answered our ping without knowing us */
}

static void s_on_digest(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m)
{
    zhashx_t *theirs = zhashx_new();
    if (!theirs)
        return;
    bool ask = false;
    for (size_t i = 0; i < m->n_versions; i++) {
        const wire_version_t *v = &m->versions[i];
        zhashx_insert(theirs, v->id, (void *)&v->version);
        if (streq(v->id, self->id))
            continue; /* a bare claim: only a signed state of ours moves us (s_apply) */
        mesh__peer_t *q = mesh__peer_find(self, v->id);
        if (q ? q->liveness != MESH_PEER_LEFT && (!q->has_state || v->version > q->state.version)
              : !mesh__tomb_blocks(self, v->id, v->version))
            ask = true;
    }
    const wire_state_t **sts = calloc(self->n_peers + 1, sizeof *sts);
    int64_t *ages = calloc(self->n_peers + 1, sizeof *ages);
    size_t n = 0;
    int64_t now = mesh__now();
    const uint64_t *have = zhashx_lookup(theirs, self->id);
    if (sts && ages && (!have || *have < self->local.version)) {
        sts[n] = &self->local;
        ages[n++] = now - self->local_at;
    }
    for (size_t i = 0; sts && ages && i < self->n_peers; i++) {
        mesh__peer_t *q = self->peers[i];
        if (q == p || !mesh__relayable(self, q, now))
            continue;
        have = zhashx_lookup(theirs, q->id);
        if (!have || *have < q->state.version) {
            sts[n] = &q->state;
            ages[n++] = now - q->state_at;
        }
    }
    mesh__send_states(self, p, WIRE_DELTA, sts, ages, n);
    if (ask)
        mesh__send_digest(self, p, true);
    free(sts);
    free(ages);
    zhashx_destroy(&theirs);
}

/*  leave: only p's own signed state saying leaving (the codec checked the
    signature, and that it is the sender's) proves it; one older than the
    state we hold is a replay from an earlier life. */
static void s_on_leave(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m)
{
    const wire_state_t *st = &m->states[0];
    if (p->has_state && (st->version < p->state.version || m->incarnation < p->state.incarnation ||
                         st->incarnation < p->state.incarnation)) {
        s_dropped(self, m, "a leave from an earlier life");
        return;
    }
    wire_state_t copy;
    if (wire_state_copy(&copy, st) == 0) {
        wire_state_clear(&p->state);
        p->state = copy;
        p->has_state = true;
        p->state_at = mesh__now() - copy.age_ms;
    }
    mesh__peer_hangup(self, p, 0);
    p->state.leaving = true;
    mesh__peer_set(self, p, MESH_PEER_LEFT);
}

static void s_dispatch(mesh_t *self, mesh__peer_t *p, const char *rid, bool via_dealer,
                       const wire_msg_t *m)
{
    if (m->type == WIRE_HELLO) {
        s_on_hello(self, p, rid, via_dealer, m);
        return;
    }
    if (m->type == WIRE_LEAVE) {
        s_on_leave(self, p, m);
        return;
    }
    bool silent = p->announced && (p->liveness != MESH_PEER_ALIVE ||
                                   mesh__now() - p->last_heard > self->suspect_ms);
    mesh__peer_news(self, p);
    switch (m->type) {
    case WIRE_DIGEST:
        s_on_digest(self, p, m);
        break;
    case WIRE_DELTA:
    case WIRE_PUSH:
        for (size_t i = 0; i < m->n_states; i++)
            s_apply(self, p, &m->states[i]);
        break;
    case WIRE_PING: {
        wire_msg_t ack = {.type = WIRE_ACK, .seq = m->seq};
        mesh__send(self, p, &ack);
        if (silent) /* it has likely been suspecting us: refute */
            mesh__refute(self, false);
        break;
    }
    case WIRE_ACK:
        mesh__on_ack(self, p, m->seq);
        break;
    case WIRE_PING_REQ:
        mesh__on_ping_req(self, p, m);
        break;
    case WIRE_TSUM:
        mesh__on_tsum(self, p, m);
        break;
    case WIRE_RECORDS:
        mesh__on_records(self, p, m);
        break;
    default:
        /* A reject's state is applied as a push from its sender, so the
           origin's next routing decision already sees why it was refused. */
        if (m->type == WIRE_REJECT && m->n_states == 1 && !self->left)
            s_apply(self, p, &m->states[0]);
        if (s_forwarding(m->type) && self->on_forward)
            self->on_forward(self->arg, m);
        break;
    }
}

/*  From our own id: one of our seeds is our own address. */
static void s_from_self(mesh_t *self, mesh__peer_t *via, const char *rid, const wire_msg_t *m)
{
    if (via && !via->id[0]) {
        if (via->seed >= 0)
            self->seeds[via->seed].self = true;
        mesh__peer_remove(self, via, false);
    } else if (rid && m->type == WIRE_HELLO) {
        s_reply_state(self, rid);
    }
}

/*  A seed answered on its placeholder: now we know who it is. */
static mesh__peer_t *s_bind(mesh_t *self, mesh__peer_t *ph, const char *id)
{
    mesh__peer_t *p = mesh__peer_find(self, id);
    if (!p) {
        mesh__peer_rekey(self, ph, id);
        return ph;
    }
    if (ph->seed >= 0)
        snprintf(self->seeds[ph->seed].id, sizeof self->seeds[ph->seed].id, "%s", id);
    mesh__peer_remove(self, ph, false); /* we reach it already */
    return p;
}

static void s_handle(mesh_t *self, mesh__peer_t *via, const char *rid, const uint8_t *buf,
                     size_t len)
{
    wire_msg_t m;
    char err[200];
    const char *who = via ? via->endpoint : rid ? rid : "an unnamed connection";
    mesh__peer_t *p = via ? via : rid ? mesh__peer_find(self, rid) : NULL;
    self->stats.bytes_in += len;
    wire_msg_rc_t rc = wire_msg_decode(buf, len, &m, err, sizeof err);
    if (rc == WIRE_MSG_FORGED) {
        s_forged(self, p, who, err);
        return;
    }
    if (rc != WIRE_MSG_OK) {
        s_malformed(self, p, who, err);
        return;
    }
    mesh__intro_reset(self, m.from);
    self->stats.rx++;
    if (s_implausible(&m, err, sizeof err)) {
        s_forged(self, p, who, err);
    } else if (!rid && !via) {
        s_malformed(self, NULL, who, "no identity");
    } else if ((rid && !streq(rid, m.from)) || (via && via->id[0] && !streq(via->id, m.from))) {
        s_malformed(self, p, who, "\"from\" is not the identity of its connection");
    } else if (streq(m.from, self->id)) {
        s_from_self(self, via, rid, &m);
    } else {
        if (via && !via->id[0])
            p = s_bind(self, via, m.from);
        if (!p && m.type == WIRE_HELLO && !self->left)
            s_on_hello(self, NULL, rid, false, &m);
        else if (!p && m.type == WIRE_PING && rid && !self->left)
            s_reply_hello(self, rid); /* it thinks we know it: make it introduce itself */
        else if (!p)
            s_dropped(self, &m, "unknown sender");
        else if (p->liveness == MESH_PEER_LEFT && m.type != WIRE_HELLO)
            s_dropped(self, &m, "the sender left");
        else if (self->left && !s_forwarding(m.type))
            s_dropped(self, &m, "we left the mesh");
        else
            s_dispatch(self, p, rid, via != NULL, &m);
    }
    wire_msg_clear(&m);
}

/* ----------------------------------------------------------------- sockets */

static void s_drain(void *h)
{
    int more = 1;
    size_t sz = sizeof more;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, h, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            return;
        }
        zmq_msg_close(&f);
        if (zmq_getsockopt(h, ZMQ_RCVMORE, &more, &sz) != 0)
            return;
    }
}

/*  The routing identity of a ROUTER frame, when it is a node id. */
static bool s_identity(zmq_msg_t *f, char *out)
{
    size_t n = zmq_msg_size(f);
    const uint8_t *d = zmq_msg_data(f);
    if (n == 0 || n > WIRE_MAX_ID)
        return false;
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x21 || d[i] > 0x7e)
            return false;
    memcpy(out, d, n);
    out[n] = '\0';
    return true;
}

/*  One frame, without waiting; false (f closed) when none is there. */
static bool s_recv(void *h, zmq_msg_t *f)
{
    zmq_msg_init(f);
    if (zmq_msg_recv(f, h, ZMQ_DONTWAIT) >= 0)
        return true;
    zmq_msg_close(f);
    return false;
}

int mesh__on_router(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    mesh_t *self = arg;
    void *h = zsock_resolve(sock);
    for (int i = 0; i < MESH__BATCH; i++) {
        zmq_msg_t f;
        if (!s_recv(h, &f))
            break;
        char rid[WIRE_MAX_ID + 1];
        bool named = s_identity(&f, rid);
        bool more = zmq_msg_more(&f);
        zmq_msg_close(&f);
        if (!more) {
            s_malformed(self, NULL, named ? rid : "an unnamed connection", "no body");
            continue;
        }
        if (!s_recv(h, &f))
            break;
        if (zmq_msg_more(&f)) {
            s_drain(h);
            s_malformed(self, named ? mesh__peer_find(self, rid) : NULL,
                        named ? rid : "an unnamed connection", "more than one frame");
        } else if (!named) {
            s_malformed(self, NULL, "an unnamed connection", "its identity is not a node id");
        } else {
            s_handle(self, NULL, rid, zmq_msg_data(&f), zmq_msg_size(&f));
        }
        zmq_msg_close(&f);
    }
    return 0;
}

int mesh__on_dealer(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    mesh_t *self = arg;
    void *h = zsock_resolve(sock);
    for (int i = 0; i < MESH__BATCH; i++) {
        zmq_msg_t f;
        if (!s_recv(h, &f))
            break;
        mesh__peer_t *p = mesh__peer_by_dealer(self, sock); /* may be gone since */
        if (zmq_msg_more(&f)) {
            s_drain(h);
            if (p)
                s_malformed(self, p, p->endpoint, "more than one frame");
        } else if (p) {
            s_handle(self, p, NULL, zmq_msg_data(&f), zmq_msg_size(&f));
        }
        zmq_msg_close(&f);
    }
    return 0;
}
