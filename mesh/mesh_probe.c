/*  mesh_probe — liveness probes: the ping, its one retry, and indirect
    probes through other members (ping-req, after SWIM), with every ack
    matched to what it answers.

    An announced peer silent for ping_ms gets a ping. Unanswered for
    ping_timeout_ms, it gets a second one and, at the same moment, a
    ping-req {seq, target} goes to up to MESH__HELPERS other members that
    are alive and speak to us directly. (SWIM waits for the direct ping
    only; waiting for our retry as well would leave no time before
    suspect_ms: see docs/mesh-protocol.md, failure detection.) A helper
    pings the target with a seq of its own and, when the target acks within
    the helper's ping_timeout_ms, sends the requester an ack carrying the
    requester's seq. Every seq we send comes from one counter, so the
    requester knows that seq as its ping-req through that helper: the
    relayed ack is news of the target. It keeps an announced target alive
    (or brings it back from suspect) but it is no direct message: it
    announces nothing, says nothing of our own link (mesh_send still needs
    it), and ends no silence of the target's own.

    Bounds: a ring of MESH__SENT pings and ping-reqs awaiting an ack per
    peer; one open indirect probe per target (a new one, at most one per
    ping cycle, replaces it); MESH__HELPERS helpers per probe; as a helper,
    MESH__RELAYS ping-reqs about one target at once. A helper serves only
    members it reached, about targets it reached that are alive or suspect
    to it (never itself or the asker), and never passes a ping-req on: it
    pings, or refuses. An ack that answers nothing open (late, superseded,
    unknown) is news of its sender only. Runs on the loop's thread. */
#include "mesh/mesh_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ bookkeeping */

static void s_sent_add(mesh__peer_t *p, uint64_t seq, const char *target, int64_t until)
{
    mesh__sent_t *s = &p->sent[p->sent_next++ % MESH__SENT]; /* the oldest goes */
    s->seq = seq;
    s->until = until;
    snprintf(s->target, sizeof s->target, "%s", target);
}

/*  Takes what seq answers off p's ring into *out; false when nothing open
    matches (unknown, overwritten, or too late). */
static bool s_sent_take(mesh__peer_t *p, uint64_t seq, int64_t now, mesh__sent_t *out)
{
    for (size_t i = 0; seq && i < MESH__SENT; i++) {
        mesh__sent_t *s = &p->sent[i];
        if (s->seq != seq)
            continue;
        *out = *s;
        s->seq = 0;
        return now <= out->until;
    }
    return false;
}

int64_t mesh__peer_alive_at(const mesh__peer_t *p)
{
    return p->indirect_at > p->last_heard ? p->indirect_at : p->last_heard;
}

bool mesh__indirect_only(const mesh_t *self, const mesh__peer_t *p, int64_t now)
{
    return p->announced && p->liveness == MESH_PEER_ALIVE && p->indirect_at > p->last_heard &&
           now - p->last_heard > self->suspect_ms;
}

/* ---------------------------------------------------------------- probing */

/*  The seq of a ping sent to p, 0 when it could not go. */
static uint64_t s_ping(mesh_t *self, mesh__peer_t *p)
{
    wire_msg_t m = {.type = WIRE_PING, .seq = ++self->ping_seq};
    return mesh__send(self, p, &m) == 0 ? m.seq : 0;
}

static void s_ping_direct(mesh_t *self, mesh__peer_t *p, int64_t now)
{
    uint64_t seq = s_ping(self, p);
    if (seq)
        s_sent_add(p, seq, "", now + self->ping_ms);
}

/*  q may probe t for us: reached, alive, heard from directly within
    suspect_ms (its ack must reach us) and linked. */
static bool s_helper_ok(const mesh_t *self, const mesh__peer_t *q, const mesh__peer_t *t,
                        int64_t now)
{
    return q != t && q->announced && q->liveness == MESH_PEER_ALIVE &&
           now - q->last_heard <= self->suspect_ms && mesh__linked(q);
}

/*  Up to MESH__HELPERS helpers for t, drawn uniformly (reservoir sampling). */
static size_t s_pick_helpers(mesh_t *self, const mesh__peer_t *t, int64_t now, mesh__peer_t **out)
{
    size_t seen = 0;
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *q = self->peers[i];
        if (!s_helper_ok(self, q, t, now))
            continue;
        if (seen < MESH__HELPERS) {
            out[seen] = q;
        } else {
            uint32_t j = randombytes_uniform((uint32_t)seen + 1);
            if (j < MESH__HELPERS)
                out[j] = q;
        }
        seen++;
    }
    return seen < MESH__HELPERS ? seen : MESH__HELPERS;
}

/*  Opens a new indirect probe of t (closing the previous one). */
static void s_probe_indirect(mesh_t *self, mesh__peer_t *t, int64_t now)
{
    mesh__peer_t *helpers[MESH__HELPERS];
    size_t n = s_pick_helpers(self, t, now, helpers);
    if (n == 0)
        return;
    t->probe_seq = ++self->ping_seq;
    t->probe_until = now + self->ping_ms;
    t->probe_acks = 0;
    for (size_t i = 0; i < n; i++) {
        wire_msg_t m = {.type = WIRE_PING_REQ, .seq = t->probe_seq, .target = t->id};
        if (mesh__send(self, helpers[i], &m) < 0)
            continue;
        s_sent_add(helpers[i], t->probe_seq, t->id, t->probe_until);
        self->stats.ping_req_sent++;
    }
}

void mesh__probe(mesh_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n_peers; i++) {
        mesh__peer_t *p = self->peers[i];
        if (!p->announced || !p->dealer ||
            (p->liveness != MESH_PEER_ALIVE && p->liveness != MESH_PEER_SUSPECT))
            continue;
        if (now - p->last_heard >= self->ping_ms && now - p->ping_at >= self->ping_ms) {
            s_ping_direct(self, p, now);
            p->ping_at = now;
            p->ping_retried = false;
        } else if (!p->ping_retried && p->ping_at > p->last_heard &&
                   now - p->ping_at >= self->ping_timeout_ms) {
            s_ping_direct(self, p, now); /* one more try before the silence counts */
            p->ping_retried = true;
            s_probe_indirect(self, p, now); /* and others try too */
        }
    }
}

/* ------------------------------------------------------------------- acks */

/*  As a helper: t acked seq. When that answers a ping we run for a
    requester, in time, the requester gets its ack. True when seq was ours
    for a requester (in time or not). */
static bool s_relay_back(mesh_t *self, mesh__peer_t *t, uint64_t seq, int64_t now)
{
    for (size_t i = 0; seq && i < MESH__RELAYS; i++) {
        mesh__relay_t *r = &t->relays[i];
        if (r->seq != seq)
            continue;
        mesh__relay_t done = *r;
        r->seq = 0;
        mesh__peer_t *q = mesh__peer_find(self, done.requester);
        if (now > done.until || !q || !q->dealer) {
            self->stats.stale_acks++;
            return true;
        }
        wire_msg_t ack = {.type = WIRE_ACK, .seq = done.asked_seq};
        mesh__send(self, q, &ack);
        return true;
    }
    return false;
}

/*  by relayed an ack for our ping-req `seq` about target. */
static void s_vouched(mesh_t *self, const mesh__peer_t *by, const char *target, uint64_t seq,
                      int64_t now)
{
    mesh__peer_t *t = mesh__peer_find(self, target);
    if (!t || !t->announced || t->probe_seq != seq || now > t->probe_until ||
        (t->liveness != MESH_PEER_ALIVE && t->liveness != MESH_PEER_SUSPECT)) {
        self->stats.stale_acks++;
        return;
    }
    t->indirect_at = now;
    t->reached_by = ++t->probe_acks;
    self->stats.indirect_acks++;
    alog_debug("mesh: %s reached %s for us", by->id, t->id);
    if (t->liveness == MESH_PEER_SUSPECT)
        mesh__peer_set(self, t, MESH_PEER_ALIVE);
}

void mesh__on_ack(mesh_t *self, mesh__peer_t *p, uint64_t seq)
{
    int64_t now = mesh__now();
    if (s_relay_back(self, p, seq, now))
        return;
    mesh__sent_t s;
    if (!s_sent_take(p, seq, now, &s)) {
        self->stats.stale_acks++;
        alog_debug("mesh: an ack from %s answers nothing open (seq %" PRIu64 ")", p->id, seq);
        return;
    }
    if (s.target[0])
        s_vouched(self, p, s.target, seq, now);
}

/* -------------------------------------------------------------- ping-req */

/*  Why we do not probe `target` for asker; NULL: we do, *t_out is it. */
static const char *s_refusal(const mesh_t *self, const mesh__peer_t *asker, const char *target,
                             mesh__peer_t **t_out)
{
    if (!asker->announced || !asker->dealer)
        return "the asker is not a member we reached";
    if (streq(target, self->id) || streq(target, asker->id))
        return "the target is us or the asker";
    mesh__peer_t *t = mesh__peer_find(self, target);
    if (!t)
        return "unknown target";
    if (!t->announced)
        return "a target we have not reached";
    if (t->liveness != MESH_PEER_ALIVE && t->liveness != MESH_PEER_SUSPECT)
        return "the target is dead or left";
    *t_out = t;
    return NULL;
}

/*  A slot of t's relays for asker: the one it already holds (its newer
    probe replaces the older), else a free or expired one; NULL when full. */
static mesh__relay_t *s_relay_slot(mesh__peer_t *t, const char *asker, int64_t now)
{
    mesh__relay_t *free_slot = NULL;
    for (size_t i = 0; i < MESH__RELAYS; i++) {
        mesh__relay_t *r = &t->relays[i];
        bool open = r->seq && now <= r->until;
        if (open && streq(r->requester, asker))
            return r;
        if (!open && !free_slot)
            free_slot = r;
    }
    return free_slot;
}

void mesh__on_ping_req(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m)
{
    int64_t now = mesh__now();
    const char *target = m->target ? m->target : "";
    mesh__peer_t *t = NULL;
    mesh__relay_t *slot = NULL;
    uint64_t seq = 0;
    const char *why = s_refusal(self, p, target, &t);
    if (!why && !(slot = s_relay_slot(t, p->id, now)))
        why = "too many probes of that target at once";
    if (!why && !(seq = s_ping(self, t)))
        why = "our link to the target is down";
    if (why) {
        self->stats.ping_req_refused++;
        alog_debug("mesh: refused a ping-req from %s about %s: %s", p->id, target, why);
        return;
    }
    *slot = (mesh__relay_t){.seq = seq, .asked_seq = m->seq, .until = now + self->ping_timeout_ms};
    snprintf(slot->requester, sizeof slot->requester, "%s", p->id);
    self->stats.ping_req_served++;
}
