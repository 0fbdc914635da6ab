/*  test_forward — forwarding across one real mesh hop, in one process: the
    origin's half (node/forward.c) and the executor's (node/remote.c, which
    runs a peer's request through the dispatcher as a local-only job).

    Two nodes wired as node/node.c wires them (cooldowns, catalog, the real
    browser link, tabs, mesh, forward, dispatcher, remote; no HTTP): A is the
    origin (its attempts are started with forward_start directly) and has no
    tab, B is the executor with one fake tab
    (tests/support/fake_link) on its browser link. A third member, P, is a
    raw peer made of one ROUTER and one DEALER per node that speaks the wire
    format directly (wire_msg_encode/decode): for A it plays an executor
    that stays silent, skips or repeats chunks, ends with a chunk count that
    does not add up, rejects with a state of its own and answers oddly; for B
    it plays an origin that sends hostile `fwd`s, duplicates (also while B is
    full), short deadlines and cancels, goes deaf mid-answer and leaves.

    Everything runs in one zloop driven by the test: every wait polls a
    predicate with a deadline of a few seconds. Callbacks only record (the
    asserts run outside the loop). forward_tick and dispatch_poll run every
    20 ms, as node.c runs them on its 100 ms tick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <jansson.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser_link/link.h"
#include "mesh/mesh.h"
#include "node/catalog.h"
#include "node/cooldown.h"
#include "node/dispatch.h"
#include "node/forward.h"
#include "node/remote.h"
#include "node/tabs.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/wire.h"
#include "protocol/openai.h"
#include "protocol/uuid7.h"
#include "tests/support/fake_arena.h"
#include "tests/support/fake_link.h"
#include "tests/support/test_mesh_env.h"

#define T_TOKEN "forward-test-token-5e1f"
#define T_ORIGIN FAKE_LINK_DEFAULT_ORIGIN
#define T_WAIT_MS 4000  /* bound on every wait */
#define T_TICK_MS 20    /* forward_tick period */
#define T_SETTLE_MS 250 /* "nothing more happens": time given to a wrong message */
#define T_DEADLINE_MS 30000
#define T_MODEL "fake-chat"
#define T_MODEL_2 "fake-chat-2"
#define T_PEER ((char *)tmesh_id("peer-p")) /* the raw peer's node id */
#define T_RECS 4
#define T_STALL "[[fake:stall]]"
#define T_ABSENT (-2) /* a token count that is not checked */

/* ================================================================ the sink */

/*  What the origin's target_sink_t saw of one attempt. */
typedef struct {
    forward_t *owner;
    fwd_t *fwd;      /* the attempt while it runs */
    size_t abort_at; /* > 0: the delta callback aborts the attempt at this delta */
    bool aborted;
    size_t n_deltas;
    abuf_t text, reasoning, image, citation;
    abuf_t kinds; /* one letter per delta: T(ext) R(easoning) I(mage) C(itation) */
    int n_end, n_fail;
    int late; /* calls after the final one or after an abort */
    char finish[32];
    usage_t usage;
    target_fail_t fail;
    long long final_ms;
    /* peek: at the fail call, what the origin's mesh holds of that peer */
    mesh_t *peek_mesh;
    const char *peek_id;
    const char *peek_model;
    bool peeked;
    uint64_t peek_version;
    long long peek_cool; /* the model's or the whole node's cooldown left, aged to now */
} rec_t;

/*  What r->peek_mesh holds of r->peek_id now (the state a routing decision
    made at this moment would see). */
static void s_peek(rec_t *r)
{
    mesh_peer_view_t v[8];
    size_t k = mesh_peers(r->peek_mesh, v, 8);
    for (size_t i = 0; i < k && i < 8; i++) {
        const wire_state_t *st = v[i].state;
        if (strcmp(v[i].id, r->peek_id) != 0 || !st)
            continue;
        long long cool = st->node_cooled_remaining_ms;
        for (size_t m = 0; m < st->n_models; m++)
            if (strcmp(st->models[m].name, r->peek_model) == 0 &&
                st->models[m].cooled_remaining_ms > cool)
                cool = st->models[m].cooled_remaining_ms;
        cool -= v[i].state_age_ms;
        r->peeked = true;
        r->peek_version = st->version;
        r->peek_cool = cool > 0 ? cool : 0;
    }
}

static void s_rec_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    rec_t *r = arg;
    if (r->n_end || r->n_fail || r->aborted) {
        r->late++;
        return;
    }
    r->n_deltas++;
    abuf_t *to = kind == DELTA_TEXT        ? &r->text
                 : kind == DELTA_REASONING ? &r->reasoning
                 : kind == DELTA_IMAGE     ? &r->image
                                           : &r->citation;
    if (abuf_append(to, text, len) < 0 || abuf_append(&r->kinds, &"TRIC"[kind & 3], 1) < 0)
        r->late++; /* out of memory: reported as a wrong call */
    if (r->abort_at && r->n_deltas == r->abort_at) {
        r->aborted = true;
        forward_abort(r->owner, &r->fwd); /* the client left, as node/http.c may do here */
    }
}

static void s_rec_end(void *arg, const char *finish_reason, const usage_t *usage)
{
    rec_t *r = arg;
    if (r->n_end || r->n_fail || r->aborted) {
        r->late++;
        return;
    }
    r->n_end++;
    r->fwd = NULL;
    snprintf(r->finish, sizeof r->finish, "%s", finish_reason ? finish_reason : "(null)");
    r->usage = usage ? *usage : (usage_t)USAGE_UNKNOWN;
    r->final_ms = zclock_mono();
}

static void s_rec_fail(void *arg, const target_fail_t *f)
{
    rec_t *r = arg;
    if (r->n_end || r->n_fail || r->aborted) {
        r->late++;
        return;
    }
    r->n_fail++;
    r->fwd = NULL;
    r->fail = *f;
    if (r->peek_mesh)
        s_peek(r);
    r->final_ms = zclock_mono();
}

static const target_sink_t s_rec_sink = {s_rec_delta, s_rec_end, s_rec_fail};

static void s_rec_clear(rec_t *r)
{
    abuf_free(&r->text);
    abuf_free(&r->reasoning);
    abuf_free(&r->image);
    abuf_free(&r->citation);
    abuf_free(&r->kinds);
    memset(r, 0, sizeof *r); /* every abuf_t back to ABUF_INIT */
}

static const char *s_str(const abuf_t *b)
{
    return b->data ? b->data : "";
}

/* ================================================================ the env */

typedef struct _env_t env_t;

typedef struct {
    int tab_jobs; /* 0: 4 */
    long long accept_ms, idle_ms, first_byte_ms;
    size_t max_remote;   /* 0 (and the times): the modules' defaults; first_byte_ms 0: none */
    size_t max_messages; /* the node's --max-messages; 0: the default */
    size_t pause_bytes;  /* remote_config_t.pause_bytes; 0: the default */
    long long giveup_ms; /* remote_config_t.giveup_ms; 0: the default */
} opts_t;

/*  One node as node/node.c builds it, minus the dispatcher and HTTP. */
typedef struct {
    env_t *env;
    char id[UUID_STR_LEN];
    cooldown_t *cooldowns;
    catalog_t *catalog;
    link_t *link;
    tabs_t *tabs;
    mesh_t *mesh;
    forward_t *fwd;
    dispatch_t *dispatch;
    remote_t *remote;
    fake_link_t *fake; /* B's browser */
    size_t capacity;   /* forward's on_capacity calls */
    size_t gone;       /* peers reported dead or left (→ forward_peer_gone) */
} node_t;

/*  The raw peer: its inbox, and a DEALER to each node's inbox. */
typedef struct {
    zsock_t *router;
    int port;
    char ep[32];
    zsock_t *dealer[2]; /* to A, to B */
    wire_msg_t *rx;     /* forwarding messages received, in order */
    size_t n_rx, cap_rx;
    bool rx_lost; /* out of memory while keeping one */
} peer_t;

struct _env_t {
    zloop_t *loop;
    int tick;
    bool started;
    node_t a, b;
    peer_t p;
    rec_t recs[T_RECS];
};

/* ------------------------------------------------------------ node wiring */

static int s_on_link(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)sock;
    node_t *n = arg;
    link_event_t ev;
    for (int budget = 256; budget > 0 && link_recv(n->link, &ev) == 0; budget--) {
        tabs_handle_event(n->tabs, &ev);
        link_event_clear(&ev);
    }
    remote_flush(n->remote);
    return 0;
}

static void s_on_catalog(void *arg, arena_catalog_t *cat)
{
    node_t *n = arg;
    catalog_replace(n->catalog, cat);
}

static void s_on_capacity(void *arg)
{
    node_t *n = arg;
    n->capacity++;
}

static void s_on_forward(void *arg, const wire_msg_t *msg)
{
    node_t *n = arg;
    if (msg->type == WIRE_FWD || msg->type == WIRE_CANCEL || msg->type == WIRE_CREDIT) {
        if (n->remote)
            remote_handle(n->remote, msg);
    } else if (n->fwd) {
        forward_handle(n->fwd, msg);
    }
}

/*  As node.c: a dead or departed peer fails its attempts and ours for it. */
static void s_on_peer(void *arg, const char *id, mesh_liveness_t liveness)
{
    node_t *n = arg;
    if (liveness != MESH_PEER_DEAD && liveness != MESH_PEER_LEFT)
        return;
    n->gone++;
    if (n->fwd)
        forward_peer_gone(n->fwd, id);
    if (n->remote)
        remote_peer_gone(n->remote, id);
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    env_t *env = arg;
    node_t *nodes[] = {&env->a, &env->b};
    for (size_t i = 0; i < 2; i++) {
        if (nodes[i]->fwd)
            forward_tick(nodes[i]->fwd);
        remote_tick(nodes[i]->remote);
        if (nodes[i]->dispatch)
            dispatch_poll(nodes[i]->dispatch);
    }
    return 0;
}

static void s_node_start(env_t *env, node_t *n, const char *name, const char *seed, const opts_t *o)
{
    n->env = env;
    char name_id[UUID_STR_LEN];
    uuid4_generate(name_id); /* a fresh name: its key's id is the node id */
    snprintf(n->id, sizeof n->id, "%s", tmesh_id(name_id));
    n->cooldowns = cooldown_new(NULL, zclock_time());
    n->catalog = catalog_new(NULL);
    assert_non_null(n->cooldowns);
    assert_non_null(n->catalog);

    n->link = tmesh_link_new(name, T_TOKEN, T_ORIGIN);
    assert_non_null(n->link);
    assert_int_equal(zloop_reader(env->loop, link_pipe(n->link), s_on_link, n), 0);
    tabs_config_t tc = {.link = n->link,
                        .cooldowns = n->cooldowns,
                        .tab_jobs = o->tab_jobs ? o->tab_jobs : 4,
                        .on_catalog = s_on_catalog,
                        .arg = n};
    n->tabs = tabs_new(&tc);
    assert_non_null(n->tabs);

    const char *seeds[] = {seed};
    mesh_config_t mc = tmesh_config_fast(n->id, s_on_forward, s_on_peer, n);
    mc.seeds = seeds;
    mc.n_seeds = seed ? 1 : 0;
    n->mesh = tmesh_node_new(&mc, env->loop, name);
    assert_non_null(n->mesh);

    forward_config_t fc = {.mesh = n->mesh,
                           .accept_ms = o->accept_ms,
                           .idle_ms = o->idle_ms,
                           .on_capacity = s_on_capacity,
                           .arg = n};
    n->fwd = forward_new(&fc);
    assert_non_null(n->fwd);
    dispatch_config_t dc = {.tabs = n->tabs,
                            .cooldowns = n->cooldowns,
                            .catalog = n->catalog,
                            .mesh = n->mesh,
                            .forward = n->fwd,
                            .node_id = n->id,
                            .retries = 2,
                            .queue_max = 16,
                            .queue_timeout_ms = 5000,
                            .first_byte_timeout_ms = o->first_byte_ms,
                            .idle_timeout_ms = o->idle_ms};
    n->dispatch = dispatch_new(&dc);
    assert_non_null(n->dispatch);
    remote_config_t rc = {.mesh = n->mesh,
                          .dispatch = n->dispatch,
                          .max_remote = o->max_remote,
                          .pause_bytes = o->pause_bytes,
                          .giveup_ms = o->giveup_ms};
    openai_limits_default(&rc.limits);
    if (o->max_messages)
        rc.limits.max_messages = o->max_messages;
    n->remote = remote_new(&rc);
    assert_non_null(n->remote);
}

/* ------------------------------------------------------------ the raw peer */

static int s_node_index(env_t *env, const char *id)
{
    if (id && strcmp(id, env->a.id) == 0)
        return 0;
    if (id && strcmp(id, env->b.id) == 0)
        return 1;
    return -1;
}

/*  Sends m from P to node `to` (0: A, 1: B). 0 or -1. */
static int s_peer_send(env_t *env, int to, wire_msg_t *m)
{
    return tmesh_send_as(env->p.dealer[to], T_PEER, m);
}

static void s_peer_keep(env_t *env, wire_msg_t *m)
{
    peer_t *p = &env->p;
    int from = s_node_index(env, m->from);
    if (m->type == WIRE_PING && from >= 0) {
        wire_msg_t ack = {.type = WIRE_ACK, .seq = m->seq};
        s_peer_send(env, from, &ack); /* a lost ack is a late one: the next ping retries */
    }
    if (!WIRE_IS_FORWARDING(m->type)) {
        wire_msg_clear(m);
        return;
    }
    if (p->n_rx == p->cap_rx) {
        size_t cap = p->cap_rx ? p->cap_rx * 2 : 64;
        wire_msg_t *rx = realloc(p->rx, cap * sizeof *rx);
        if (!rx) {
            p->rx_lost = true;
            wire_msg_clear(m);
            return;
        }
        p->rx = rx;
        p->cap_rx = cap;
    }
    p->rx[p->n_rx++] = *m;
}

static int s_peer_on(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    env_t *env = arg;
    wire_msg_t m;
    if (tmesh_recv(sock, &m) == 0)
        s_peer_keep(env, &m);
    return 0;
}

/*  P's inbox on port (0: any). */
static void s_peer_listen(env_t *env, int port)
{
    peer_t *p = &env->p;
    p->router = zsock_new(ZMQ_ROUTER);
    assert_non_null(p->router);
    zsock_set_linger(p->router, 0);
    zcert_t *cert = mesh_cert_new(TMESH_SECRET); /* the nodes dial P with CURVE */
    assert_non_null(cert);
    mesh_curve_apply(p->router, cert, true);
    zcert_destroy(&cert);
    if (port) {
        /* Again on the port of a ROUTER just closed: libzmq lets go of the
           listener in its I/O thread, a moment later. Retry for up to 2 s. */
        int64_t until = zclock_mono() + 2000;
        while ((p->port = zsock_bind(p->router, "tcp://127.0.0.1:%d", port)) < 0 &&
               zclock_mono() < until)
            zclock_sleep(20);
    } else {
        p->port = mesh_bind_tcp(p->router, "tcp://127.0.0.1:*");
    }
    if (p->port <= 0)
        fail_msg("P cannot listen on port %d: %s", port, zmq_strerror(zmq_errno()));
    snprintf(p->ep, sizeof p->ep, "127.0.0.1:%d", p->port);
    assert_int_equal(zloop_reader(env->loop, p->router, s_peer_on, env), 0);
}

static void s_peer_deafen(env_t *env)
{
    zloop_reader_end(env->loop, env->p.router);
    zsock_destroy(&env->p.router);
}

/*  Member id (listening on endpoint) introduces itself on dealer. */
static void s_hello_as(zsock_t *dealer, const char *id, const char *endpoint)
{
    wire_model_t model = {.name = T_MODEL, .arena_id = "a-1", .modality = "chat", .reason = ""};
    assert_int_equal(tmesh_send_hello(dealer, id, endpoint, &model, 0, 4), 0);
}

static void s_peer_start(env_t *env)
{
    peer_t *p = &env->p;
    s_peer_listen(env, 0);
    const node_t *nodes[2] = {&env->a, &env->b};
    for (int i = 0; i < 2; i++) {
        p->dealer[i] = tmesh_dealer_new(T_PEER, mesh_endpoint(nodes[i]->mesh));
        assert_non_null(p->dealer[i]);
        assert_int_equal(zloop_reader(env->loop, p->dealer[i], s_peer_on, env), 0);
        s_hello_as(p->dealer[i], T_PEER, p->ep);
    }
}

static void s_peer_stop(env_t *env)
{
    peer_t *p = &env->p;
    if (p->router)
        s_peer_deafen(env);
    for (int i = 0; i < 2; i++)
        if (p->dealer[i]) {
            zloop_reader_end(env->loop, p->dealer[i]);
            zsock_destroy(&p->dealer[i]);
        }
    for (size_t i = 0; i < p->n_rx; i++)
        wire_msg_clear(&p->rx[i]);
    free(p->rx);
    memset(p, 0, sizeof *p);
}

/*  The n-th (0-based) message of type t for rid (any rid when NULL) P got. */
static const wire_msg_t *s_peer_nth(const env_t *env, wire_type_t t, const char *rid, size_t n)
{
    for (size_t i = 0; i < env->p.n_rx; i++) {
        const wire_msg_t *m = &env->p.rx[i];
        if (m->type == t && (!rid || (m->rid && strcmp(m->rid, rid) == 0)) && n-- == 0)
            return m;
    }
    return NULL;
}

static size_t s_peer_count(const env_t *env, wire_type_t t, const char *rid)
{
    size_t n = 0;
    while (s_peer_nth(env, t, rid, n))
        n++;
    return n;
}

/* ------------------------------------------------------------------ waits */

typedef bool(s_pred_fn)(env_t *env, const void *arg);

typedef struct {
    env_t *env;
    s_pred_fn *pred;
    const void *arg;
    long long deadline;
    bool ok, done;
} waiter_t;

static int s_wait_tick(zloop_t *loop, int timer_id, void *arg)
{
    waiter_t *w = arg;
    if (w->pred && w->pred(w->env, w->arg))
        w->ok = true;
    if (w->ok || zclock_mono() >= w->deadline) {
        w->done = true;
        zloop_timer_end(loop, timer_id);
        return -1;
    }
    return 0;
}

/*  Runs the loop until pred holds (true) or ms pass (false). */
static bool s_until(env_t *env, s_pred_fn *pred, const void *arg, long long ms)
{
    if (pred && pred(env, arg))
        return true;
    waiter_t w = {env, pred, arg, zclock_mono() + ms, false, false};
    int id = zloop_timer(env->loop, 2, 0, s_wait_tick, &w);
    assert_true(id >= 0);
    zloop_start(env->loop);
    if (!w.done)
        zloop_timer_end(env->loop, id); /* the loop stopped for another reason */
    return w.ok;
}

static void s_spin(env_t *env, long long ms)
{
    s_until(env, NULL, NULL, ms);
}

#define S_WAIT(env, pred, arg, what)                                                               \
    do {                                                                                           \
        if (!s_until((env), (pred), (arg), T_WAIT_MS))                                             \
            fail_msg("%s: not within %d ms", (what), T_WAIT_MS);                                   \
    } while (0)

static bool s_alive(node_t *n, const char *id)
{
    mesh_peer_view_t v[8];
    size_t k = mesh_peers(n->mesh, v, 8);
    for (size_t i = 0; i < k && i < 8; i++)
        if (strcmp(v[i].id, id) == 0)
            return v[i].liveness == MESH_PEER_ALIVE;
    return false;
}

/*  B's tab is connected, healthy and idle. */
static bool s_tab_ready(env_t *env, const void *arg)
{
    (void)arg;
    tabs_stats_t ts;
    tabs_stats(env->b.tabs, &ts);
    return ts.tabs == 1 && ts.healthy == 1 && ts.inflight == 0;
}

static bool s_ready(env_t *env, const void *arg)
{
    return s_alive(&env->a, env->b.id) && s_alive(&env->a, T_PEER) && s_alive(&env->b, env->a.id) &&
           s_alive(&env->b, T_PEER) && s_tab_ready(env, arg) &&
           catalog_find(env->b.catalog, T_MODEL) && catalog_find(env->b.catalog, T_MODEL_2);
}

static bool s_rec_final(env_t *env, const void *arg)
{
    (void)env;
    const rec_t *r = arg;
    return r->n_end || r->n_fail;
}

static void s_wait_final(env_t *env, rec_t *r)
{
    if (!s_until(env, s_rec_final, r, T_WAIT_MS))
        fail_msg("the attempt did not end within %d ms (%zu deltas)", T_WAIT_MS, r->n_deltas);
}

typedef struct {
    wire_type_t type;
    const char *rid;
    size_t n;
} peer_wait_t;

static bool s_peer_has(env_t *env, const void *arg)
{
    const peer_wait_t *w = arg;
    return s_peer_count(env, w->type, w->rid) >= w->n;
}

/*  Waits until P holds n messages of type for rid; returns the n-th. */
static const wire_msg_t *s_peer_wait(env_t *env, wire_type_t type, const char *rid, size_t n)
{
    peer_wait_t w = {type, rid, n};
    if (!s_until(env, s_peer_has, &w, T_WAIT_MS))
        fail_msg("P did not get %zu %s for %s within %d ms", n, wire_type_name(type),
                 rid ? rid : "any rid", T_WAIT_MS);
    return s_peer_nth(env, type, rid, n - 1);
}

/*  P's final answer (end, fail or reject) for rid. */
static bool s_peer_final(env_t *env, const void *arg)
{
    const char *rid = arg;
    return s_peer_count(env, WIRE_END, rid) || s_peer_count(env, WIRE_FAIL, rid) ||
           s_peer_count(env, WIRE_REJECT, rid);
}

typedef struct {
    size_t out, in;
} stats_want_t;

/*  out: our attempts on peers (forward); in: peers' requests we run (remote). */
static bool s_stats_are(node_t *n, size_t out, size_t in)
{
    forward_stats_t st;
    forward_stats(n->fwd, &st);
    return st.outgoing == out && remote_running(n->remote) == in;
}

static bool s_b_stats(env_t *env, const void *arg)
{
    const stats_want_t *w = arg;
    return s_stats_are(&env->b, w->out, w->in);
}

static void s_wait_b_incoming(env_t *env, size_t in)
{
    stats_want_t w = {0, in};
    if (!s_until(env, s_b_stats, &w, T_WAIT_MS))
        fail_msg("B runs %zu forwarded request(s), not %zu", remote_running(env->b.remote), in);
}

static void s_assert_stats(node_t *n, size_t out, size_t in)
{
    forward_stats_t st;
    forward_stats(n->fwd, &st);
    assert_int_equal(st.outgoing, out);
    assert_int_equal(remote_running(n->remote), in);
}

static void s_counters(env_t *env, fake_link_counters_t *c)
{
    fake_link_counters(env->b.fake, c);
}

static bool s_aborts_reached(env_t *env, const void *arg)
{
    fake_link_counters_t c;
    s_counters(env, &c);
    return c.aborts >= *(const unsigned long *)arg;
}

/*  Waits until B's fake tab has seen n aborts in all. */
static void s_wait_aborts(env_t *env, unsigned long n)
{
    if (!s_until(env, s_aborts_reached, &n, T_WAIT_MS)) {
        fake_link_counters_t c;
        s_counters(env, &c);
        fail_msg("the tab saw %lu abort(s), not %lu", c.aborts, n);
    }
}

/* -------------------------------------------------------------- fixtures */

static void s_env_start(env_t *env, const opts_t *o)
{
    env->loop = zloop_new();
    assert_non_null(env->loop);
    env->started = true;
    s_node_start(env, &env->a, "node-a", NULL, o);
    s_node_start(env, &env->b, "node-b", mesh_endpoint(env->a.mesh), o);
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/link", link_port(env->b.link));
    fake_link_config_t fc = {.url = url, .origin = T_ORIGIN, .token = T_TOKEN, .tabs = 1};
    env->b.fake = fake_link_new(&fc);
    assert_non_null(env->b.fake);
    env->tick = zloop_timer(env->loop, T_TICK_MS, 0, s_on_tick, env);
    assert_true(env->tick >= 0);
    s_peer_start(env);
    S_WAIT(env, s_ready, NULL, "A, B and P joined, B's tab and catalog ready");
}

static void s_node_stop(env_t *env, node_t *n)
{
    if (n->link)
        zloop_reader_end(env->loop, link_pipe(n->link));
    tabs_destroy(&n->tabs);
    link_destroy(&n->link);
    catalog_destroy(&n->catalog);
    cooldown_destroy(&n->cooldowns);
}

/*  Takes down whatever s_env_start built, in node.c's order (the browser
    first, so nothing answers meanwhile); also after a failed assert. */
static void s_env_stop(env_t *env)
{
    if (!env->started)
        return;
    fake_link_destroy(&env->b.fake);
    remote_destroy(&env->a.remote);
    remote_destroy(&env->b.remote);
    dispatch_destroy(&env->a.dispatch);
    dispatch_destroy(&env->b.dispatch);
    forward_destroy(&env->a.fwd);
    forward_destroy(&env->b.fwd);
    /* Leave while every inbox still listens, so closing lingers on nothing. */
    if (env->a.mesh)
        mesh_leave(env->a.mesh);
    if (env->b.mesh)
        mesh_leave(env->b.mesh);
    mesh_destroy(&env->a.mesh);
    mesh_destroy(&env->b.mesh);
    s_peer_stop(env);
    s_node_stop(env, &env->a);
    s_node_stop(env, &env->b);
    if (env->tick >= 0)
        zloop_timer_end(env->loop, env->tick);
    zloop_destroy(&env->loop);
    for (size_t i = 0; i < T_RECS; i++)
        s_rec_clear(&env->recs[i]);
    memset(env, 0, sizeof *env);
    env->tick = -1;
}

static int s_setup(void **state)
{
    env_t *env = calloc(1, sizeof *env);
    assert_non_null(env);
    env->tick = -1;
    *state = env;
    return 0;
}

static int s_teardown(void **state)
{
    env_t *env = *state;
    s_env_stop(env);
    free(env);
    return 0;
}

/* ------------------------------------------------------------ requests */

/*  A chat request body for model with one user message. */
static char *s_body(const char *model, const char *prompt)
{
    json_t *j = json_pack("{s:s,s:b,s:[{s:s,s:s}]}", "model", model, "stream", 1, "messages",
                          "role", "user", "content", prompt);
    assert_non_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    return text;
}

static openai_request_t *s_request(const char *model, const char *prompt)
{
    char *text = s_body(model, prompt);
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse(text, strlen(text), NULL, &req, &err) != 0)
        fail_msg("openai_request_parse: %s", err.message);
    free(text);
    return req;
}

/*  Starts recs[i] on A towards peer, with the deadline_ms the `fwd` carries. */
static rec_t *s_start_dl(env_t *env, size_t i, const char *peer, const char *model,
                         const char *prompt, long long deadline_ms)
{
    rec_t *r = &env->recs[i];
    assert_null(r->fwd); /* never reuse a running attempt's record */
    s_rec_clear(r);
    r->owner = env->a.fwd;
    openai_request_t *req = s_request(model, prompt);
    openai_error_t err;
    r->fwd = forward_start(env->a.fwd, peer, req, deadline_ms, &s_rec_sink, r, &err);
    openai_request_destroy(&req);
    if (!r->fwd)
        fail_msg("forward_start to %s: %s", peer, err.message);
    assert_string_equal(forward_peer(r->fwd), peer);
    return r;
}

/*  Starts recs[i] on A towards peer. */
static rec_t *s_start(env_t *env, size_t i, const char *peer, const char *model, const char *prompt)
{
    return s_start_dl(env, i, peer, model, prompt, T_DEADLINE_MS);
}

/*  P sends a `fwd` with body and deadline_ms to B. */
static void s_peer_fwd_dl(env_t *env, const char *rid, const char *body, size_t len,
                          long long deadline_ms)
{
    wire_msg_t m = {.type = WIRE_FWD,
                    .rid = (char *)rid,
                    .model = T_MODEL,
                    .request = (char *)body,
                    .request_len = len,
                    .stream = true,
                    .deadline_ms = deadline_ms,
                    .attempt = 1};
    assert_int_equal(s_peer_send(env, 1, &m), 0);
}

/*  P sends a `fwd` for prompt to B granting `credit` chunks. */
static void s_peer_fwd_credit(env_t *env, const char *rid, const char *prompt, uint32_t credit)
{
    char *body = s_body(T_MODEL, prompt);
    wire_msg_t m = {.type = WIRE_FWD,
                    .rid = (char *)rid,
                    .model = T_MODEL,
                    .request = body,
                    .request_len = strlen(body),
                    .stream = true,
                    .deadline_ms = T_DEADLINE_MS,
                    .attempt = 1,
                    .has_credit = true,
                    .credit = credit,
                    .client = "00112233aabbccdd"};
    assert_int_equal(s_peer_send(env, 1, &m), 0);
    free(body);
}

/*  P grants B n more chunks of rid. */
static void s_peer_credit(env_t *env, const char *rid, uint32_t n)
{
    wire_msg_t m = {.type = WIRE_CREDIT, .rid = (char *)rid, .has_credit = true, .credit = n};
    assert_int_equal(s_peer_send(env, 1, &m), 0);
}

/*  P sends a `fwd` with body to B. */
static void s_peer_fwd(env_t *env, const char *rid, const char *body, size_t len)
{
    s_peer_fwd_dl(env, rid, body, len, T_DEADLINE_MS);
}

static void s_peer_fwd_prompt(env_t *env, const char *rid, const char *prompt)
{
    char *body = s_body(T_MODEL, prompt);
    s_peer_fwd(env, rid, body, strlen(body));
    free(body);
}

/*  P answers A with a chunk (text NULL: no delta). */
static void s_peer_chunk(env_t *env, const char *rid, uint64_t seq, delta_kind_t kind,
                         const char *text)
{
    wire_delta_t d = {kind, (char *)text, text ? strlen(text) : 0};
    wire_msg_t m = {
        .type = WIRE_CHUNK, .rid = (char *)rid, .chunk_seq = seq, .deltas = &d, .n_deltas = !!text};
    assert_int_equal(s_peer_send(env, 0, &m), 0);
}

static void s_peer_end(env_t *env, const char *rid)
{
    wire_msg_t m = {.type = WIRE_END,
                    .rid = (char *)rid,
                    .finish_reason = "stop",
                    .prompt_tokens = 1,
                    .completion_tokens = 1};
    assert_int_equal(s_peer_send(env, 0, &m), 0);
}

/*  The n-th (0-based) `fwd` P got with a rid not seen in an earlier one (A
    sends a `fwd` again, same rid, while it is not accepted); NULL if none. */
static const wire_msg_t *s_peer_fwd_distinct(const env_t *env, size_t n)
{
    for (size_t i = 0; i < env->p.n_rx; i++) {
        const wire_msg_t *m = &env->p.rx[i];
        if (m->type != WIRE_FWD || !m->rid)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = env->p.rx[k].type == WIRE_FWD && env->p.rx[k].rid &&
                   strcmp(env->p.rx[k].rid, m->rid) == 0;
        if (!seen && n-- == 0)
            return m;
    }
    return NULL;
}

static bool s_peer_has_fwd(env_t *env, const void *arg)
{
    return s_peer_fwd_distinct(env, *(const size_t *)arg) != NULL;
}

/*  The rid of the n-th (1-based) request A forwarded to P (its first `fwd`). */
static const char *s_peer_fwd_rid(env_t *env, size_t n)
{
    size_t k = n - 1;
    if (!s_until(env, s_peer_has_fwd, &k, T_WAIT_MS))
        fail_msg("P did not get %zu forwarded requests within %d ms", n, T_WAIT_MS);
    const wire_msg_t *m = s_peer_fwd_distinct(env, k);
    assert_string_equal(m->from, env->a.id);
    return m->rid;
}

/* ------------------------------------------------------------- asserts */

static void s_expect_fail(const rec_t *r, const char *code, bool retryable, bool after_content,
                          const char *needle)
{
    assert_int_equal(r->late, 0);
    assert_int_equal(r->n_end, 0);
    assert_int_equal(r->n_fail, 1);
    assert_null(r->fwd);
    if (code)
        assert_string_equal(r->fail.err.code, code);
    assert_int_equal(r->fail.err.status, openai_error_status(r->fail.err.code));
    /* a target reports the failure's kind and whether content went out; the
       dispatcher alone turns "after content" into "no retry" */
    assert_int_equal(r->fail.retryable && !r->fail.after_content, retryable);
    assert_int_equal(r->fail.after_content, after_content);
    if (needle && !strstr(r->fail.err.message, needle))
        fail_msg("\"%s\" is not in the error \"%s\"", needle, r->fail.err.message);
}

/*  Valid UTF-8 without control characters (C0, DEL and C1: Unicode's Cc). */
static bool s_clean_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80         ? 1
                   : (*p >> 5) == 6  ? 2
                   : (*p >> 4) == 14 ? 3
                   : (*p >> 3) == 30 ? 4
                                     : 0;
        if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) ||
            (n == 2 && *p == 0xC2 && p[1] < 0xA0))
            return false;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

static size_t s_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/*  kinds is one run of each letter of order, in that order ("RT": R…RT…T). */
static bool s_kinds_in_order(const char *kinds, const char *order)
{
    for (const char *k = kinds; *k; k++) {
        while (*order && *order != *k)
            order++;
        if (!*order)
            return false;
    }
    return true;
}

/* ================================================================ tests */

/*  A forwarded request's deltas reach the origin's sink intact, in order,
    then exactly one end with the tab's finish reason and usage. */
static void test_relay(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const struct {
        const char *name, *model, *prompt;
        const char *text, *reasoning, *image; /* NULL: not checked */
        bool citations;
        size_t min_deltas;
        const char *order; /* kinds in this order */
        const char *finish;
        long long pt, ct;
        size_t chars; /* > 0: the text has this many characters */
    } cases[] = {
        {"text piece by piece", T_MODEL,
         "[[fake:text text=\"0123456789abcdefghijklmnopqrstuvwxyz\" piece=1 finish=length pt=12 "
         "ct=34]]",
         "0123456789abcdefghijklmnopqrstuvwxyz", NULL, NULL, false, 36, "T", "length", 12, 34, 0},
        {"reasoning before the answer", T_MODEL,
         "[[fake:reasoning thinking=\"Weighing it up.\" text=\"Here it is.\" piece=2]]",
         "Here it is.", "Weighing it up.", NULL, false, 14, "RT", "stop", T_ABSENT, T_ABSENT, 0},
        {"UTF-8 cut around every character", T_MODEL,
         "[[fake:text text=\"h\xc3\xa9llo \xe2\x80\x93 \xe4\xbd\xa0\xe5\xa5\xbd "
         "\xf0\x9f\x99\x82\" split=utf8]]",
         "h\xc3\xa9llo \xe2\x80\x93 \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x99\x82", NULL, NULL, false,
         1, "T", "stop", T_ABSENT, T_ABSENT, 0},
        {"an image", "fake-image", "[[fake:image]]", NULL, NULL, FAKE_ARENA_IMAGE_URL, false, 1,
         NULL, "stop", T_ABSENT, T_ABSENT, 0},
        {"search with citations", "fake-search", "[[fake:search]]", FAKE_ARENA_ANSWER, NULL, NULL,
         true, 2, NULL, "stop", T_ABSENT, T_ABSENT, 0},
        {"a long answer", T_MODEL, "[[fake:long chars=60000]]", NULL, NULL, NULL, false, 100, "T",
         "stop", T_ABSENT, 15000, 60000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  relay: %s\n", cases[i].name);
        fake_link_counters_t c0, c1;
        s_counters(env, &c0);
        size_t cap = env->a.capacity;
        rec_t *r = s_start(env, 0, env->b.id, cases[i].model, cases[i].prompt);
        s_assert_stats(&env->a, 1, 0);
        s_wait_final(env, r);
        if (r->n_fail)
            fail_msg("%s: failed: %s", cases[i].name, r->fail.err.message);
        assert_int_equal(r->n_end, 1);
        assert_int_equal(r->late, 0);
        assert_null(r->fwd);
        assert_true(r->n_deltas >= cases[i].min_deltas);
        if (cases[i].text)
            assert_string_equal(s_str(&r->text), cases[i].text);
        assert_string_equal(s_str(&r->reasoning), cases[i].reasoning ? cases[i].reasoning : "");
        if (cases[i].image)
            assert_string_equal(s_str(&r->image), cases[i].image);
        assert_int_equal(r->citation.len > 0, cases[i].citations);
        if (cases[i].order && !s_kinds_in_order(s_str(&r->kinds), cases[i].order))
            fail_msg("%s: deltas out of order: %s", cases[i].name, s_str(&r->kinds));
        if (cases[i].chars)
            assert_int_equal(s_utf8_chars(r->text.data, r->text.len), cases[i].chars);
        assert_string_equal(r->finish, cases[i].finish);
        if (cases[i].pt != T_ABSENT)
            assert_int_equal(r->usage.prompt_tokens, cases[i].pt);
        if (cases[i].ct != T_ABSENT)
            assert_int_equal(r->usage.completion_tokens, cases[i].ct);
        /* both sides forget it (B once A acked the end); A's on_capacity said so once */
        s_assert_stats(&env->a, 0, 0);
        s_wait_b_incoming(env, 0);
        assert_int_equal(env->a.capacity, cap + 1);
        s_counters(env, &c1);
        assert_int_equal(c1.fetches, c0.fetches + 1);
        /* nothing trails the end */
        s_spin(env, 50);
        assert_int_equal(r->late, 0);
    }
}

/*  What P got of rid from B, checked: chunk i has seq i, the first (the
    acceptance) no delta; the deltas' texts joined into text (NULL: not
    kept), their number into *n_deltas. Returns the number of chunks. */
static size_t s_peer_stream(const env_t *env, const char *rid, abuf_t *text, size_t *n_deltas)
{
    size_t n = s_peer_count(env, WIRE_CHUNK, rid);
    *n_deltas = 0;
    for (size_t i = 0; i < n; i++) {
        const wire_msg_t *m = s_peer_nth(env, WIRE_CHUNK, rid, i);
        assert_int_equal(m->chunk_seq, i);
        if (i == 0)
            assert_int_equal(m->n_deltas, 0);
        for (size_t k = 0; k < m->n_deltas; k++)
            if (text)
                assert_int_equal(abuf_append(text, m->deltas[k].text, m->deltas[k].len), 0);
        *n_deltas += m->n_deltas;
    }
    return n;
}

/*  P sees the executor's side of the wire: `chunk` seq 0 without deltas
    (accepted), `chunk`s with seq 1, 2, … carrying every delta in order
    (those of one event batch share a chunk), then one `end` counting the
    chunks. */
static void test_executor_wire(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    s_peer_fwd_prompt(env, "wire-1", "[[fake:text text=\"abcdef\" piece=2 pt=3 ct=4]]");
    const wire_msg_t *end = s_peer_wait(env, WIRE_END, "wire-1", 1);
    assert_string_equal(end->from, env->b.id);
    assert_string_equal(end->finish_reason, "stop");
    assert_int_equal(end->prompt_tokens, 3);
    assert_int_equal(end->completion_tokens, 4);
    abuf_t text = ABUF_INIT;
    size_t n_deltas = 0;
    size_t n = s_peer_stream(env, "wire-1", &text, &n_deltas);
    assert_true(n >= 2 && n <= 4);
    assert_true(end->has_chunks); /* the acceptance and the pieces' chunks went before it */
    assert_int_equal(end->chunks, n);
    assert_int_equal(n_deltas, 3); /* "ab", "cd", "ef": the pieces stay pieces */
    assert_string_equal(s_str(&text), "abcdef");
    abuf_free(&text);
    /* the end came after every chunk */
    assert_true(end > s_peer_nth(env, WIRE_CHUNK, "wire-1", n - 1));
    assert_int_equal(s_peer_count(env, WIRE_FAIL, "wire-1"), 0);
    s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
}

/*  Credit: B sends chunks with deltas only within what the origin granted
    (the acceptance is free); without credit its deltas wait, the tab is
    paused past pause_bytes (so the deltas waiting stay bounded however long
    the answer), and the `end` waits behind them. Each grant lets the
    waiting deltas out (batched), and the answer arrives whole, its chunk
    count matching. Fails on a B without flow control: every piece arrives
    at once, the `end` right after. */
static void test_credit(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){.pause_bytes = 40});
    enum { pieces = 40, piece = 26 };
    char answer[pieces * piece + 1];
    for (size_t i = 0; i < pieces * piece; i++)
        answer[i] = (char)('a' + i % piece);
    answer[pieces * piece] = '\0';
    char prompt[sizeof answer + 64];
    snprintf(prompt, sizeof prompt, "[[fake:drip ms=10 count=%d text=\"%s\"]]", pieces, answer);
    s_peer_fwd_credit(env, "credit-1", prompt, 1);
    s_peer_wait(env, WIRE_CHUNK, "credit-1", 2); /* accepted, and one chunk of credit */
    /* time for every piece to be made, were the tab not held */
    s_spin(env, (long long)pieces * 10 + 4 * T_SETTLE_MS);
    assert_int_equal(s_peer_count(env, WIRE_CHUNK, "credit-1"), 2);
    assert_int_equal(
        s_peer_count(env, WIRE_END, "credit-1") + s_peer_count(env, WIRE_FAIL, "credit-1"), 0);
    remote_stats_t rs;
    remote_stats(env->b.remote, &rs);
    assert_true(rs.pauses >= 1);
    /* held: what waits is what was read before the pause took, not the answer */
    if (rs.buffered >= pieces * piece / 2)
        fail_msg("B holds %zu bytes of a %d-byte answer: its tab was not paused", rs.buffered,
                 pieces * piece);
    /* one chunk more per grant, each carrying every delta that waited */
    s_peer_credit(env, "credit-1", 1);
    s_peer_wait(env, WIRE_CHUNK, "credit-1", 3);
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(s_peer_count(env, WIRE_CHUNK, "credit-1"), 3);
    /* then enough for the rest */
    s_peer_credit(env, "credit-1", 1000);
    const wire_msg_t *end = s_peer_wait(env, WIRE_END, "credit-1", 1);
    abuf_t text = ABUF_INIT;
    size_t n_deltas = 0;
    size_t n = s_peer_stream(env, "credit-1", &text, &n_deltas);
    assert_int_equal(end->chunks, n);
    assert_int_equal(n_deltas, pieces);
    assert_string_equal(s_str(&text), answer);
    abuf_free(&text);
    assert_int_equal(s_peer_count(env, WIRE_FAIL, "credit-1"), 0);
    s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
    remote_stats(env->b.remote, &rs);
    assert_int_equal(rs.buffered, 0);
}

/*  The origin's half of flow control: its `fwd` carries a first credit
    (FORWARD_WINDOW at most) and the client key id the request came with;
    P, playing a correct executor, sends a chunk only while credit is left,
    and A's `credit` messages keep it going to the end of a long answer.
    Fails on an origin without flow control: no credit ever comes and P
    never gets past its first grant. */
static void test_origin_grants_credit(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    rec_t *r = &env->recs[0];
    s_rec_clear(r);
    r->owner = env->a.fwd;
    openai_request_t *req = s_request(T_MODEL, "grant me");
    snprintf(req->client, sizeof req->client, "%s", "0123456789abcdef");
    snprintf(req->request_id, sizeof req->request_id, "%s",
             "req_0190a000-0000-7000-8000-00000000000f");
    openai_error_t err;
    r->fwd = forward_start(env->a.fwd, T_PEER, req, T_DEADLINE_MS, &s_rec_sink, r, &err);
    openai_request_destroy(&req);
    assert_non_null(r->fwd);
    const wire_msg_t *fwd = s_peer_wait(env, WIRE_FWD, NULL, 1);
    char rid[WIRE_MAX_ID + 1];
    snprintf(rid, sizeof rid, "%s", fwd->rid);
    assert_true(fwd->has_credit);
    assert_true(fwd->credit >= 1 && fwd->credit <= FORWARD_WINDOW);
    assert_non_null(fwd->client);
    assert_string_equal(fwd->client, "0123456789abcdef");
    assert_non_null(fwd->request_id); /* the client's x-request-id, for both nodes' logs */
    assert_string_equal(fwd->request_id, "req_0190a000-0000-7000-8000-00000000000f");
    uint64_t granted = fwd->credit;
    s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL); /* the acceptance costs no credit */
    const uint64_t pieces = 60;
    size_t grants = 0;
    for (uint64_t k = 1; k <= pieces; k++) {
        while (k > granted) {
            const wire_msg_t *c = s_peer_wait(env, WIRE_CREDIT, rid, grants + 1);
            granted += c->credit;
            grants++;
        }
        s_peer_chunk(env, rid, k, DELTA_TEXT, "x");
    }
    wire_msg_t end = {.type = WIRE_END,
                      .rid = rid,
                      .finish_reason = "stop",
                      .prompt_tokens = 1,
                      .completion_tokens = 1,
                      .has_chunks = true,
                      .chunks = pieces + 1};
    assert_int_equal(s_peer_send(env, 0, &end), 0);
    s_wait_final(env, r);
    assert_int_equal(r->n_end, 1);
    assert_int_equal(r->n_deltas, pieces);
    assert_true(grants >= 2);
    /* the grants never ran far ahead of what arrived */
    assert_true(granted <= pieces + FORWARD_WINDOW);
    s_assert_stats(&env->a, 0, 0);
}

/*  The executor refuses with `reject` (the origin sees a retryable
    no_capacity before any content) and starts nothing in its tab. */
static void test_executor_refuses(void **state)
{
    env_t *env = *state;
    static const struct {
        const char *name;
        opts_t opts;
        const char *cool; /* cooled on B first: a model, or the whole node */
        size_t busy;      /* stalled forwarded requests started first */
        const char *model;
        const char *reason;
    } cases[] = {
        {"model not served there", {0}, NULL, 0, "no-such-model", "model not served here"},
        {"model cooling there", {0}, T_MODEL_2, 0, T_MODEL_2, "model cooling here"},
        {"whole node cooling there", {0}, COOLDOWN_ALL, 0, T_MODEL, "model cooling here"},
        {"no free tab there", {.tab_jobs = 1}, NULL, 1, T_MODEL, "no free tab here"},
        {"max_remote reached there",
         {.max_remote = 2},
         NULL,
         2,
         T_MODEL,
         "too many forwarded requests running here"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  refusal: %s\n", cases[i].name);
        s_env_start(env, &cases[i].opts);
        if (cases[i].cool)
            cooldown_set(env->b.cooldowns, env->b.id, cases[i].cool, 60000, "rate_limited",
                         zclock_time());
        for (size_t k = 0; k < cases[i].busy; k++)
            s_start(env, 1 + k, env->b.id, T_MODEL, T_STALL);
        s_wait_b_incoming(env, cases[i].busy);
        size_t cap = env->a.capacity;
        rec_t *r = s_start(env, 0, env->b.id, cases[i].model, "hello");
        s_wait_final(env, r);
        s_expect_fail(r, "no_capacity", true, false, cases[i].reason);
        assert_int_equal(r->n_deltas, 0);
        assert_int_equal(r->fail.cls, ARENA_FAIL_OTHER);
        assert_int_equal(env->a.capacity, cap + 1);
        /* only the busy ones reached the tab and still run */
        fake_link_counters_t c;
        s_counters(env, &c);
        assert_int_equal(c.fetches, cases[i].busy);
        s_assert_stats(&env->a, cases[i].busy, 0);
        s_assert_stats(&env->b, 0, cases[i].busy);
        s_env_stop(env);
    }
}

/*  A failure in B's tab goes back as `fail` with its code, whether it may
    be retried and its cooldown; content already relayed makes it final. */
static void test_executor_fails(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const struct {
        const char *name, *model, *prompt;
        const char *code; /* NULL: not checked */
        bool retryable, after_content;
        arena_fail_t cls;
        bool fetched;       /* the tab was asked */
        long long cooled_s; /* > 0: the failure carries this cooldown */
    } cases[] = {
        {"upstream 429", T_MODEL_2, "[[fake:ratelimit retry=30]]", "rate_limited", true, false,
         ARENA_FAIL_RATE_LIMIT, true, 30},
        {"moderation", T_MODEL, "[[fake:moderation]]", "content_rejected", false, false,
         ARENA_FAIL_OTHER, true, 0},
        {"upstream 500", T_MODEL, "[[fake:error500]]", "upstream_error", true, false,
         ARENA_FAIL_OTHER, true, 0},
        {"tab lost mid-answer", T_MODEL, "[[fake:midclose after=2]]", NULL, false, true,
         ARENA_FAIL_OTHER, true, 0},
        {"nothing to send upstream", T_MODEL, "", "invalid_request", false, false, ARENA_FAIL_OTHER,
         false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  executor failure: %s\n", cases[i].name);
        S_WAIT(env, s_tab_ready, NULL, "B's tab back and idle");
        fake_link_counters_t c0, c1;
        s_counters(env, &c0);
        rec_t *r = s_start(env, 0, env->b.id, cases[i].model, cases[i].prompt);
        s_wait_final(env, r);
        s_expect_fail(r, cases[i].code, cases[i].retryable, cases[i].after_content, NULL);
        assert_int_equal(r->fail.cls, cases[i].cls);
        assert_int_equal(r->text.len > 0, cases[i].after_content);
        if (cases[i].cooled_s) {
            assert_true(r->fail.cooled_ms > (cases[i].cooled_s - 2) * 1000);
            assert_true(r->fail.cooled_ms <= cases[i].cooled_s * 1000);
        } else {
            assert_int_equal(r->fail.cooled_ms, 0);
        }
        s_counters(env, &c1);
        assert_int_equal(c1.fetches, c0.fetches + (cases[i].fetched ? 1 : 0));
        s_assert_stats(&env->a, 0, 0);
        s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
    }
    /* the 429 cooled the model on B: the next request for it is refused there */
    assert_true(cooldown_remaining(env->b.cooldowns, env->b.id, T_MODEL_2, zclock_time(), NULL) >
                0);
    rec_t *r = s_start(env, 0, env->b.id, T_MODEL_2, "again");
    s_wait_final(env, r);
    s_expect_fail(r, "no_capacity", true, false, "model cooling here");
}

/* ---- hostile `fwd` bodies ---- */

static void s_make_deep(abuf_t *b)
{
    abuf_puts(b, "{\"model\":\"fake-chat\",\"messages\":");
    for (int i = 0; i < 10000; i++)
        abuf_puts(b, "[");
    for (int i = 0; i < 10000; i++)
        abuf_puts(b, "]");
    abuf_puts(b, "}");
}

static void s_make_many(abuf_t *b)
{
    abuf_puts(b, "{\"model\":\"fake-chat\",\"messages\":[");
    for (int i = 0; i < 2000; i++)
        abuf_printf(b, "%s{\"role\":\"user\",\"content\":\"m%d\"}", i ? "," : "", i);
    abuf_puts(b, "]}");
}

static void s_make_long_model(abuf_t *b)
{
    abuf_puts(b, "{\"model\":\"");
    for (int i = 0; i < 300; i++)
        abuf_puts(b, "m");
    abuf_puts(b, "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
}

/*  A `fwd` whose request is not a valid request: `fail` with the parse
    error (not retryable), a clean message, and no tab is touched. */
static void test_executor_bad_requests(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const char nul_body[] = "{\"model\":\"fake-chat\",\0\"messages\":[]}";
    static const struct {
        const char *name;
        const char *body;
        size_t len; /* 0: strlen(body) */
        void (*make)(abuf_t *b);
    } cases[] = {
        {"empty body", "", 0, NULL},
        {"not JSON", "not json at all", 0, NULL},
        {"an array", "[1,2,3]", 0, NULL},
        {"no model", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, NULL},
        {"no messages", "{\"model\":\"fake-chat\"}", 0, NULL},
        {"messages not a list", "{\"model\":\"fake-chat\",\"messages\":\"hi\"}", 0, NULL},
        {"stream not a boolean",
         "{\"model\":\"fake-chat\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"hi\"}]}",
         0, NULL},
        {"unknown role",
         "{\"model\":\"fake-chat\",\"messages\":[{\"role\":\"root\",\"content\":1}]}", 0, NULL},
        {"duplicate keys",
         "{\"model\":\"fake-chat\",\"model\":\"fake-chat-2\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"hi\"}]}",
         0, NULL},
        {"control characters in a token", "{\"model\":\x01\x02\x7f}", 0, NULL},
        {"invalid UTF-8", "{\"model\":\"fake\xff\xfe\xc0\",\"messages\":[]}", 0, NULL},
        {"NUL inside", nul_body, sizeof nul_body - 1, NULL},
        {"model name too long", NULL, 0, s_make_long_model},
        {"nested 10000 deep", NULL, 0, s_make_deep},
        {"2000 messages", NULL, 0, s_make_many},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  bad request: %s\n", cases[i].name);
        abuf_t made = ABUF_INIT;
        const char *body = cases[i].body;
        size_t len = cases[i].len ? cases[i].len : body ? strlen(body) : 0;
        if (cases[i].make) {
            cases[i].make(&made);
            assert_non_null(made.data);
            body = made.data;
            len = made.len;
        }
        char rid[32];
        snprintf(rid, sizeof rid, "bad-%zu", i);
        s_peer_fwd(env, rid, body, len);
        abuf_free(&made);
        assert_true(s_until(env, s_peer_final, rid, T_WAIT_MS));
        const wire_msg_t *f = s_peer_nth(env, WIRE_FAIL, rid, 0);
        if (!f)
            fail_msg("%s: no `fail` (reject %zu, end %zu)", cases[i].name,
                     s_peer_count(env, WIRE_REJECT, rid), s_peer_count(env, WIRE_END, rid));
        assert_false(f->retryable);
        if (strcmp(f->code, "invalid_request") != 0 && strcmp(f->code, "request_too_large") != 0)
            fail_msg("%s: code %s", cases[i].name, f->code);
        assert_int_equal(f->status, openai_error_status(f->code));
        assert_int_equal(f->cooled_remaining_ms, 0);
        assert_true(f->has_chunks); /* no chunk went before it */
        assert_int_equal(f->chunks, 0);
        assert_true(f->message[0] != '\0');
        if (!s_clean_text(f->message))
            fail_msg("%s: the message is not clean text", cases[i].name);
        assert_int_equal(s_peer_count(env, WIRE_CHUNK, rid), 0);
        assert_int_equal(s_peer_count(env, WIRE_REJECT, rid), 0);
        assert_int_equal(s_peer_count(env, WIRE_END, rid), 0);
    }
    s_spin(env, 50);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 0);
    s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
    assert_int_equal(s_peer_count(env, WIRE_FAIL, NULL), sizeof cases / sizeof cases[0]);
}

/*  A peer's request is held to this node's own limits (here --max-messages
    3), not to the defaults: 4 messages fail as the HTTP front end would
    refuse them, 3 run. */
static void test_executor_own_limits(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){.max_messages = 3});
    static const char four[] =
        "{\"model\":\"" T_MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
        "{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"c\"},"
        "{\"role\":\"user\",\"content\":\"d\"}]}";
    s_peer_fwd(env, "lim-4", four, strlen(four));
    assert_true(s_until(env, s_peer_final, "lim-4", T_WAIT_MS));
    const wire_msg_t *f = s_peer_nth(env, WIRE_FAIL, "lim-4", 0);
    assert_non_null(f);
    assert_false(f->retryable);
    assert_int_equal(f->status, 400);
    if (!strstr(f->message, "messages"))
        fail_msg("the refusal does not name messages: \"%s\"", f->message);
    assert_int_equal(s_peer_count(env, WIRE_CHUNK, "lim-4"), 0);

    static const char three[] =
        "{\"model\":\"" T_MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
        "{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":\"user\",\"content\":\"c\"}]}";
    s_peer_fwd(env, "lim-3", three, strlen(three));
    assert_true(s_until(env, s_peer_final, "lim-3", T_WAIT_MS));
    assert_int_equal(s_peer_count(env, WIRE_END, "lim-3"), 1);
    assert_int_equal(s_peer_count(env, WIRE_FAIL, "lim-3"), 0);
}

/*  docs/mesh-protocol.md: "fail.msg is cleaned to valid UTF-8 without
    control characters" — C0, DEL and the C1 controls U+0080..U+009F (valid
    UTF-8, e.g. NEL "\xc2\x85") alike (node/remote.c, with protocol/utf8.h's
    rule). jansson echoes the offending token in its parse error, so a
    peer's `fwd` body puts them in the `fail` B sends. */
static void test_fail_message_has_no_control_characters(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const struct {
        const char *name, *body;
    } cases[] = {
        {"C0 control", "{\"model\":\x01}"},
        {"DEL", "{\"model\":\x7f}"},
        {"C1 control (NEL)", "{\"model\":\xc2\x85}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  fail message: %s\n", cases[i].name);
        char rid[32];
        snprintf(rid, sizeof rid, "ctl-%zu", i);
        s_peer_fwd(env, rid, cases[i].body, strlen(cases[i].body));
        const wire_msg_t *f = s_peer_wait(env, WIRE_FAIL, rid, 1);
        assert_string_equal(f->code, "invalid_request");
        if (!s_clean_text(f->message))
            fail_msg("%s: the fail message carries a control character: \"%s\"", cases[i].name,
                     f->message);
    }
}

/*  A `fwd` sent twice runs once; `cancel` aborts the tab's job and nothing
    answers it. */
static void test_executor_duplicate_and_cancel(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    s_peer_fwd_prompt(env, "dup-1", T_STALL);
    s_peer_fwd_prompt(env, "dup-1", T_STALL);
    s_peer_wait(env, WIRE_CHUNK, "dup-1", 1);
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(s_peer_count(env, WIRE_CHUNK, "dup-1"), 1);
    assert_false(s_peer_final(env, "dup-1"));
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.fetches, 1);
    s_assert_stats(&env->b, 0, 1);

    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "dup-1"};
    assert_int_equal(s_peer_send(env, 1, &cancel), 0);
    s_wait_aborts(env, 1);
    s_wait_b_incoming(env, 0);
    /* again, and for a rid never sent: nothing happens */
    assert_int_equal(s_peer_send(env, 1, &cancel), 0);
    wire_msg_t stray = {.type = WIRE_CANCEL, .rid = "never-sent"};
    assert_int_equal(s_peer_send(env, 1, &stray), 0);
    s_spin(env, T_SETTLE_MS);
    assert_false(s_peer_final(env, "dup-1"));
    s_counters(env, &c);
    assert_int_equal(c.aborts, 1);
    assert_int_equal(c.fetches, 1);
    s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
}

/*  A peer that never accepts fails the attempt after accept_ms (retryable,
    no content) with a `cancel`; a late answer is ignored. The `fwd` it got
    carries the request as sent. */
static void test_accept_timeout(void **state)
{
    env_t *env = *state;
    const long long accept_ms = 300;
    s_env_start(env, &(opts_t){.accept_ms = accept_ms});
    size_t cap = env->a.capacity;
    long long t0 = zclock_mono();
    rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "are you there?");
    s_assert_stats(&env->a, 1, 0);

    const wire_msg_t *fwd = s_peer_wait(env, WIRE_FWD, NULL, 1);
    assert_string_equal(fwd->from, env->a.id);
    assert_true(uuid_is_valid(fwd->rid));
    assert_string_equal(fwd->model, T_MODEL);
    assert_true(fwd->stream);
    assert_int_equal(fwd->deadline_ms, T_DEADLINE_MS);
    assert_int_equal(fwd->attempt, 1);
    openai_request_t *sent = NULL, *want = s_request(T_MODEL, "are you there?");
    assert_int_equal(openai_request_parse(fwd->request, fwd->request_len, NULL, &sent, NULL), 0);
    assert_true(openai_request_equal(sent, want));
    openai_request_destroy(&sent);
    openai_request_destroy(&want);
    char rid[WIRE_MAX_ID + 1];
    snprintf(rid, sizeof rid, "%s", fwd->rid);

    s_wait_final(env, r);
    long long took = r->final_ms - t0;
    s_expect_fail(r, "no_capacity", true, false, "did not accept");
    assert_int_equal(r->n_deltas, 0);
    if (took < accept_ms || took > accept_ms + 1000)
        fail_msg("failed after %lld ms, accept_ms is %lld", took, accept_ms);
    s_peer_wait(env, WIRE_CANCEL, rid, 1);
    s_assert_stats(&env->a, 0, 0);
    assert_int_equal(env->a.capacity, cap + 1);

    /* the answer comes too late: nothing reaches the sink */
    s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL);
    s_peer_chunk(env, rid, 1, DELTA_TEXT, "late");
    s_peer_end(env, rid);
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(r->late, 0);
    assert_int_equal(r->n_deltas, 0);
}

/*  A `fwd` lost while the link is made again (heartbeat cut under loss):
    later `fwd`s pass and are answered, ours is not. That alone does not fail
    it: past accept_ms it goes again (FORWARD_LATE_REFWDS times) and an
    acceptance of one of those saves it. Only when later `fwd`s are still
    answered after those does it fail, well before the stall bound. */
static void test_accept_passed_over(void **state)
{
    env_t *env = *state;
    const long long accept_ms = 1000;
    s_env_start(env, &(opts_t){.accept_ms = accept_ms});
    const size_t sends = 1 + FORWARD_FWD_RESENDS; /* the fwd and its resends within accept_ms */

    /* r0 is passed over: r1, sent after r0's resends, is answered at once */
    rec_t *r0 = s_start(env, 0, T_PEER, T_MODEL, "lost on the way");
    char rid0[WIRE_MAX_ID + 1];
    snprintf(rid0, sizeof rid0, "%s", s_peer_fwd_rid(env, 1));
    s_peer_wait(env, WIRE_FWD, rid0, sends);
    rec_t *r1 = s_start(env, 1, T_PEER, T_MODEL, "passes");
    char rid1[WIRE_MAX_ID + 1];
    snprintf(rid1, sizeof rid1, "%s", s_peer_fwd_rid(env, 2));
    s_peer_chunk(env, rid1, 0, DELTA_TEXT, NULL);
    /* past accept_ms r0 goes again instead of failing; its acceptance saves it */
    s_peer_wait(env, WIRE_FWD, rid0, sends + 1);
    assert_int_equal(r0->n_fail, 0);
    s_peer_chunk(env, rid0, 0, DELTA_TEXT, NULL);
    s_peer_chunk(env, rid0, 1, DELTA_TEXT, "whole after all");
    s_peer_end(env, rid0);
    s_wait_final(env, r0);
    assert_int_equal(r0->n_fail, 0);
    assert_int_equal(r0->n_end, 1);
    assert_string_equal(s_str(&r0->text), "whole after all");
    s_peer_end(env, rid1);
    s_wait_final(env, r1);
    assert_int_equal(r1->n_end, 1);

    /* r2 is really not taken: later fwds are answered after each of its
       late resends too, and it fails then, not at the stall bound */
    long long t0 = zclock_mono();
    rec_t *r2 = s_start(env, 2, T_PEER, T_MODEL, "never taken");
    char rid2[WIRE_MAX_ID + 1];
    snprintf(rid2, sizeof rid2, "%s", s_peer_fwd_rid(env, 3));
    for (size_t i = 0; i <= FORWARD_LATE_REFWDS; i++) {
        s_peer_wait(env, WIRE_FWD, rid2, sends + i);
        rec_t *r = s_start(env, 3, T_PEER, T_MODEL, "answered");
        char rid[WIRE_MAX_ID + 1];
        snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, 4 + i));
        s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL);
        s_peer_end(env, rid);
        s_wait_final(env, r);
        assert_int_equal(r->n_end, 1);
    }
    s_wait_final(env, r2);
    long long took = zclock_mono() - t0;
    s_expect_fail(r2, "no_capacity", true, false, "did not accept");
    assert_int_equal(s_peer_count(env, WIRE_FWD, rid2), sends + FORWARD_LATE_REFWDS);
    if (took >= FORWARD_ACCEPT_STALL * accept_ms)
        fail_msg("failed after %lld ms: the stall bound, not the evidence", took);
}

/*  Once accepted, only silence longer than idle_ms fails the attempt (not
    accept_ms, not a slow but steady stream); retryable only before content. */
static void test_idle_timeout(void **state)
{
    env_t *env = *state;
    const long long accept_ms = 200, idle_ms = 500;
    s_env_start(env, &(opts_t){.accept_ms = accept_ms, .idle_ms = idle_ms});
    static const struct {
        const char *name;
        size_t pieces; /* sent 150 ms apart after the acceptance */
        bool retryable, after_content;
    } cases[] = {
        {"accepted, then nothing", 0, true, false},
        {"silent mid-answer", 5, false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  idle: %s\n", cases[i].name);
        rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "slow one");
        char rid[WIRE_MAX_ID + 1];
        snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, i + 1));
        s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL);
        long long last = zclock_mono();
        for (size_t k = 0; k < cases[i].pieces; k++) {
            s_spin(env, 150);
            s_peer_chunk(env, rid, k + 1, DELTA_TEXT, "a");
            last = zclock_mono();
        }
        s_spin(env, 50); /* the last piece arrives */
        assert_int_equal(r->n_deltas, cases[i].pieces);
        assert_int_equal(r->n_fail + r->n_end, 0);
        s_wait_final(env, r);
        long long quiet = r->final_ms - last;
        s_expect_fail(r, cases[i].pieces ? "upstream_error" : "no_capacity", cases[i].retryable,
                      cases[i].after_content, "stopped sending mid-answer");
        if (quiet < idle_ms || quiet > idle_ms + 1000)
            fail_msg("%s: failed after %lld ms of silence, idle_ms is %lld", cases[i].name, quiet,
                     idle_ms);
        s_peer_wait(env, WIRE_CANCEL, rid, 1);
        s_assert_stats(&env->a, 0, 0);
    }
}

/*  Chunks out of order (a resend after a lost connection: a repeat, or one
    past a chunk that was lost) are dropped, and the origin acks what it
    holds (`credit` with "ack": the next seq it wants); the missing chunks
    come again and the answer ends whole, each delta once. An `end` whose
    count says chunks are missing waits for them too. The end is acked with
    a `cancel`. Fails on an origin that fails the attempt at a gap or a
    repeat ("lost a piece"). */
static bool s_peer_acked(env_t *env, const void *arg)
{
    const wire_msg_t *want = arg;
    for (size_t i = 0; i < env->p.n_rx; i++) {
        const wire_msg_t *m = &env->p.rx[i];
        if (m->type == WIRE_CREDIT && m->rid && strcmp(m->rid, want->rid) == 0 && m->has_ack &&
            m->ack == want->ack)
            return true;
    }
    return false;
}

static void test_chunk_gap(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    typedef struct {
        uint64_t seq;
        const char *text; /* NULL: no delta */
    } step_t;
    static const struct {
        const char *name;
        step_t before[4]; /* then the ack below */
        size_t n_before;
        uint64_t ack;
        step_t after[4]; /* then `end` with the count `chunks` */
        size_t n_after;
        uint64_t chunks;
        const char *text; /* the whole answer */
    } cases[] = {
        {"a chunk skipped",
         {{0, NULL}, {1, "He"}, {3, "lo"}},
         3,
         2,
         {{2, "l"}, {3, "lo"}},
         2,
         4,
         "Hello"},
        {"a chunk repeated", {{0, NULL}, {1, "He"}, {1, "He"}}, 3, 2, {{2, "llo"}}, 1, 3, "Hello"},
        {"going backwards",
         {{0, NULL}, {1, "a"}, {2, "b"}, {1, "a"}},
         4,
         3,
         {{3, "c"}},
         1,
         4,
         "abc"},
        {"no acceptance first", {{1, "He"}}, 1, 0, {{0, NULL}, {1, "He"}}, 2, 2, "He"},
        {"acceptance repeated", {{0, NULL}, {0, NULL}}, 2, 1, {{1, "Hi"}}, 1, 2, "Hi"},
        {"the end before a lost chunk", {{0, NULL}, {1, "a"}}, 2, 2, {{2, "b"}}, 1, 3, "ab"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  gap: %s\n", cases[i].name);
        rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "count to three");
        char rid[WIRE_MAX_ID + 1];
        snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, i + 1));
        for (size_t k = 0; k < cases[i].n_before; k++)
            s_peer_chunk(env, rid, cases[i].before[k].seq, DELTA_TEXT, cases[i].before[k].text);
        if (i == 5) { /* its end overtakes chunk 2: it waits for it */
            wire_msg_t end = {.type = WIRE_END,
                              .rid = rid,
                              .finish_reason = "stop",
                              .has_chunks = true,
                              .chunks = cases[i].chunks};
            assert_int_equal(s_peer_send(env, 0, &end), 0);
        }
        wire_msg_t want = {.rid = rid, .ack = cases[i].ack};
        S_WAIT(env, s_peer_acked, &want, "the origin's ack of what it holds");
        assert_int_equal(r->n_end + r->n_fail, 0); /* it waits for what is missing */
        for (size_t k = 0; k < cases[i].n_after; k++)
            s_peer_chunk(env, rid, cases[i].after[k].seq, DELTA_TEXT, cases[i].after[k].text);
        wire_msg_t end = {.type = WIRE_END,
                          .rid = rid,
                          .finish_reason = "stop",
                          .has_chunks = true,
                          .chunks = cases[i].chunks};
        assert_int_equal(s_peer_send(env, 0, &end), 0);
        s_wait_final(env, r);
        if (r->n_fail)
            fail_msg("%s: failed: %s", cases[i].name, r->fail.err.message);
        assert_int_equal(r->n_end, 1);
        assert_string_equal(s_str(&r->text), cases[i].text);
        s_peer_wait(env, WIRE_CANCEL, rid, 1); /* the end's ack */
        /* a late resend of the end: acked again, nothing reaches the client */
        assert_int_equal(s_peer_send(env, 0, &end), 0);
        s_peer_wait(env, WIRE_CANCEL, rid, 2);
        s_spin(env, 50);
        assert_int_equal(r->late, 0);
        s_assert_stats(&env->a, 0, 0);
    }
}

/*  How the origin reads the executor's final word: `end` with finish and
    usage; `fail` codes (unknown ones become upstream_error), retry, cooldown;
    `reject`. Retryable only while no content (a citation or an empty delta
    is not content) reached the client. */
static void test_peer_answers(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const struct {
        const char *name;
        const char *content; /* a delta before the final word; NULL: none (not even accepted) */
        delta_kind_t kind;
        wire_type_t type;
        const char *code; /* fail */
        bool retry;       /* fail */
        long long cool_ms;
        /* expected (want_code NULL: an end) */
        const char *want_code;
        bool retryable, after_content;
        arena_fail_t cls;
        const char *needle;
    } cases[] = {
        {"end", "Hi", DELTA_TEXT, WIRE_END, NULL, false, 0, NULL, false, false, 0, NULL},
        {"rate limited", NULL, DELTA_TEXT, WIRE_FAIL, "rate_limited", true, 7000, "rate_limited",
         true, false, ARENA_FAIL_RATE_LIMIT, "peer says no"},
        {"unknown code", NULL, DELTA_TEXT, WIRE_FAIL, "teapot_error", true, 0, "upstream_error",
         true, false, ARENA_FAIL_OTHER, "peer says no"},
        {"not retryable", NULL, DELTA_TEXT, WIRE_FAIL, "content_rejected", false, 0,
         "content_rejected", false, false, ARENA_FAIL_OTHER, "peer says no"},
        {"retryable, after content", "Hi", DELTA_TEXT, WIRE_FAIL, "upstream_error", true, 0,
         "upstream_error", false, true, ARENA_FAIL_OTHER, "peer says no"},
        {"retryable, after a citation only", "[1] source", DELTA_CITATION, WIRE_FAIL,
         "upstream_error", true, 0, "upstream_error", true, false, ARENA_FAIL_OTHER, NULL},
        {"retryable, after an empty delta", "", DELTA_TEXT, WIRE_FAIL, "upstream_error", true, 0,
         "upstream_error", true, false, ARENA_FAIL_OTHER, NULL},
        {"reject", NULL, DELTA_TEXT, WIRE_REJECT, NULL, false, 0, "no_capacity", true, false,
         ARENA_FAIL_OTHER, "busy-here"},
        {"reject after content", "Hi", DELTA_TEXT, WIRE_REJECT, NULL, false, 0, "no_capacity",
         false, true, ARENA_FAIL_OTHER, "busy-here"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  peer answer: %s\n", cases[i].name);
        rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "tell me");
        char rid[WIRE_MAX_ID + 1];
        snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, i + 1));
        if (cases[i].content) {
            s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL);
            s_peer_chunk(env, rid, 1, cases[i].kind, cases[i].content);
        }
        /* a final word for another request is not ours */
        wire_msg_t stray = {.type = WIRE_END, .rid = "stray-rid", .finish_reason = "stop"};
        assert_int_equal(s_peer_send(env, 0, &stray), 0);
        wire_msg_t m = {.type = cases[i].type,
                        .rid = rid,
                        .finish_reason = "length",
                        .prompt_tokens = 5,
                        .completion_tokens = 9,
                        .status = 502,
                        .code = (char *)cases[i].code,
                        .message = "peer says no",
                        .retryable = cases[i].retry,
                        .cooled_remaining_ms = cases[i].cool_ms,
                        .reason = "busy-here"};
        assert_int_equal(s_peer_send(env, 0, &m), 0);
        s_wait_final(env, r);
        assert_int_equal(r->n_deltas, cases[i].content ? 1 : 0);
        if (!cases[i].want_code) {
            assert_int_equal(r->n_end, 1);
            assert_int_equal(r->n_fail, 0);
            assert_string_equal(r->finish, "length");
            assert_int_equal(r->usage.prompt_tokens, 5);
            assert_int_equal(r->usage.completion_tokens, 9);
            assert_string_equal(s_str(&r->text), cases[i].content);
        } else {
            s_expect_fail(r, cases[i].want_code, cases[i].retryable, cases[i].after_content,
                          cases[i].needle);
            assert_int_equal(r->fail.cls, cases[i].cls);
            assert_int_equal(r->fail.cooled_ms, cases[i].cool_ms);
        }
        s_assert_stats(&env->a, 0, 0);
        /* the final word is acked by a `cancel` (the executor forgets it) */
        s_peer_wait(env, WIRE_CANCEL, rid, 1);
        s_spin(env, 50);
        assert_int_equal(s_peer_count(env, WIRE_CANCEL, rid), 1);
    }
    s_spin(env, 50);
    for (size_t i = 0; i < T_RECS; i++)
        assert_int_equal(env->recs[i].late, 0);
}

/*  A chunk may carry several deltas: each reaches the sink, in order; a
    sink that aborts the attempt in the middle of one gets no more. */
static void test_chunk_many_deltas(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    wire_delta_t first[] = {{DELTA_REASONING, "think", 5}, {DELTA_TEXT, "a", 1}};
    wire_delta_t second[] = {
        {DELTA_TEXT, "b", 1}, {DELTA_CITATION, "[1]", 3}, {DELTA_TEXT, "c", 1}};

    rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "several at once");
    char rid[WIRE_MAX_ID + 1];
    snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, 1));
    wire_msg_t m0 = {
        .type = WIRE_CHUNK, .rid = rid, .chunk_seq = 0, .deltas = first, .n_deltas = 2};
    wire_msg_t m1 = {
        .type = WIRE_CHUNK, .rid = rid, .chunk_seq = 1, .deltas = second, .n_deltas = 3};
    assert_int_equal(s_peer_send(env, 0, &m0), 0);
    assert_int_equal(s_peer_send(env, 0, &m1), 0);
    s_peer_end(env, rid);
    s_wait_final(env, r);
    assert_int_equal(r->n_end, 1);
    assert_int_equal(r->late, 0);
    assert_string_equal(s_str(&r->kinds), "RTTCT");
    assert_string_equal(s_str(&r->text), "abc");
    assert_string_equal(s_str(&r->reasoning), "think");
    assert_string_equal(s_str(&r->citation), "[1]");

    /* the client leaves at the second delta of a three-delta chunk */
    r = s_start(env, 0, T_PEER, T_MODEL, "cut me off");
    r->abort_at = 2;
    snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, 2));
    wire_delta_t three[] = {{DELTA_TEXT, "x", 1}, {DELTA_TEXT, "y", 1}, {DELTA_TEXT, "z", 1}};
    wire_msg_t m = {.type = WIRE_CHUNK, .rid = rid, .chunk_seq = 0, .deltas = three, .n_deltas = 3};
    assert_int_equal(s_peer_send(env, 0, &m), 0);
    s_peer_wait(env, WIRE_CANCEL, rid, 1);
    s_peer_end(env, rid);
    s_spin(env, T_SETTLE_MS);
    assert_true(r->aborted);
    assert_null(r->fwd);
    assert_int_equal(r->late, 0);
    assert_string_equal(s_str(&r->text), "xy");
    assert_int_equal(r->n_end + r->n_fail, 0);
    s_assert_stats(&env->a, 0, 0);
}

/*  Only the member asked may answer: the same rid from another member (Q,
    known to A) is ignored, and the real answer still comes through. */
static void test_other_sender_ignored(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "who answers?");
    char rid[WIRE_MAX_ID + 1];
    snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, 1));

    char ep[32];
    zsock_t *inbox = tmesh_inbox_new(ep, sizeof ep); /* Q's, never read */
    assert_non_null(inbox);
    zsock_t *q = tmesh_dealer_new("peer-q", mesh_endpoint(env->a.mesh));
    assert_non_null(q);
    s_hello_as(q, "peer-q", ep);
    s_spin(env, 100);
    mesh_stats_t before, after;
    mesh_stats(env->a.mesh, &before);
    wire_delta_t d = {DELTA_TEXT, "forged", 6};
    wire_msg_t forged[] = {
        {.type = WIRE_CHUNK, .rid = rid, .chunk_seq = 0},
        {.type = WIRE_CHUNK, .rid = rid, .chunk_seq = 1, .deltas = &d, .n_deltas = 1},
        {.type = WIRE_END, .rid = rid, .finish_reason = "stop"},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(tmesh_send_as(q, "peer-q", &forged[i]), 0);
    s_spin(env, T_SETTLE_MS);
    mesh_stats(env->a.mesh, &after);
    zsock_destroy(&q);
    zsock_destroy(&inbox);
    /* they reached forward_handle (not dropped by the mesh) and did nothing */
    assert_true(after.rx >= before.rx + 3);
    assert_int_equal(after.dropped, before.dropped);
    assert_int_equal(after.malformed, before.malformed);
    assert_int_equal(r->n_deltas + (size_t)r->n_end + (size_t)r->n_fail + (size_t)r->late, 0);
    s_assert_stats(&env->a, 1, 0);

    s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL);
    s_peer_chunk(env, rid, 1, DELTA_TEXT, "real");
    s_peer_end(env, rid);
    s_wait_final(env, r);
    assert_int_equal(r->n_end, 1);
    assert_string_equal(s_str(&r->text), "real");
}

/*  A chunk B cannot send (P's inbox went away mid-answer: its pipe refuses)
    is kept, never dropped: once P listens again every piece arrives in
    order, then the `end`, its chunk count matching. Fails on a B that
    drops what mesh_send refuses (it then says `fail` "could not be
    relayed"). */
static void test_lost_chunk(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    const size_t pieces = 12;
    char prompt[64];
    snprintf(prompt, sizeof prompt, "[[fake:drip ms=200 count=%zu]]", pieces);
    s_peer_fwd_prompt(env, "lost-1", prompt);
    s_peer_wait(env, WIRE_CHUNK, "lost-1", 2); /* accepted, and a first piece */

    mesh_stats_t st;
    mesh_stats(env->b.mesh, &st);
    uint64_t refused = st.send_full;
    int port = env->p.port;
    s_peer_deafen(env);
    long long deadline = zclock_mono() + T_WAIT_MS;
    do {
        s_spin(env, 10);
        mesh_stats(env->b.mesh, &st);
    } while (st.send_full == refused && zclock_mono() < deadline);
    if (st.send_full == refused)
        fail_msg("B never failed to send a chunk while P was away");
    s_peer_listen(env, port); /* back: B's link reconnects */

    if (!s_until(env, s_peer_final, "lost-1", 4 * T_WAIT_MS))
        fail_msg("no final word for the answer");
    assert_int_equal(s_peer_count(env, WIRE_FAIL, "lost-1"), 0);
    const wire_msg_t *end = s_peer_nth(env, WIRE_END, "lost-1", 0);
    assert_non_null(end);
    abuf_t text = ABUF_INIT;
    size_t n_deltas = 0;
    size_t n = s_peer_stream(env, "lost-1", &text, &n_deltas);
    assert_true(end->has_chunks);
    assert_int_equal(end->chunks, n);
    assert_int_equal(n_deltas, pieces);
    assert_string_equal(s_str(&text), FAKE_ARENA_ANSWER); /* whole: nothing lost */
    abuf_free(&text);
    s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
    remote_stats_t rs;
    remote_stats(env->b.remote, &rs);
    assert_true(rs.refused > 0);
    fake_link_counters_t c;
    s_counters(env, &c);
    assert_int_equal(c.done, 1);
}

/*  An answer to a `fwd` that will not run (`reject`, or `fail` for a
    request that is not valid) is kept when the origin's pipe refuses it and
    goes once the origin is back, as a running request's final message does. Fails on an executor
   that drops it: the origin then learns nothing and waits for its accept timeout. */
static void test_refusal_kept(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    /* a stream keeps B sending, so that B finds P's link down */
    s_peer_fwd_prompt(env, "refused-0", "[[fake:drip ms=50 count=100]]");
    s_peer_wait(env, WIRE_CHUNK, "refused-0", 2);
    mesh_stats_t st;
    mesh_stats(env->b.mesh, &st);
    uint64_t refused = st.send_full;
    int port = env->p.port;
    s_peer_deafen(env);
    long long deadline = zclock_mono() + T_WAIT_MS;
    do {
        s_spin(env, 10);
        mesh_stats(env->b.mesh, &st);
    } while (st.send_full == refused && zclock_mono() < deadline);
    if (st.send_full == refused)
        fail_msg("B never found P's link down");
    remote_stats_t rs0, rs1;
    remote_stats(env->b.remote, &rs0);
    char *body = s_body("no-such-model", "hi");
    s_peer_fwd(env, "refused-1", body, strlen(body)); /* reject: not served */
    free(body);
    s_peer_fwd(env, "refused-2", "{not json", 9); /* fail: not a request */
    deadline = zclock_mono() + T_WAIT_MS;
    do {
        s_spin(env, 10);
        remote_stats(env->b.remote, &rs1);
    } while (rs1.running < rs0.running + 2 && zclock_mono() < deadline);
    if (rs1.running < rs0.running + 2)
        fail_msg("B did not keep the answers it could not send (%zu kept)",
                 rs1.running - rs0.running);
    s_peer_listen(env, port);
    const wire_msg_t *rej = s_peer_wait(env, WIRE_REJECT, "refused-1", 1);
    assert_string_equal(rej->reason, "model not served here");
    const wire_msg_t *fail = s_peer_wait(env, WIRE_FAIL, "refused-2", 1);
    assert_false(fail->retryable);
    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "refused-0"};
    assert_int_equal(s_peer_send(env, 1, &cancel), 0);
    s_wait_b_incoming(env, 0);
}

/*  forward_abort (the client left): `cancel` goes to the executor, which
    aborts the tab's job; no sink call follows, before or after acceptance,
    from outside or from inside the sink. */
static void test_abort(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const struct {
        const char *name;
        bool at_once;    /* before the peer even got the `fwd` */
        size_t abort_at; /* from inside the sink at this delta */
    } cases[] = {
        {"after the first piece", false, 0},
        {"from inside the sink", false, 2},
        {"before the peer accepted", true, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  abort: %s\n", cases[i].name);
        S_WAIT(env, s_tab_ready, NULL, "B's tab idle");
        fake_link_counters_t c0, c1;
        s_counters(env, &c0);
        size_t cap = env->a.capacity;
        rec_t *r = s_start(env, 0, env->b.id, T_MODEL, "[[fake:drip ms=100 count=30]]");
        r->abort_at = cases[i].abort_at;
        if (cases[i].at_once) {
            r->aborted = true;
            forward_abort(env->a.fwd, &r->fwd);
        } else if (cases[i].abort_at) {
            long long deadline = zclock_mono() + T_WAIT_MS;
            while (!r->aborted && zclock_mono() < deadline)
                s_spin(env, 10);
            assert_true(r->aborted);
        } else {
            long long deadline = zclock_mono() + T_WAIT_MS;
            while (r->n_deltas == 0 && zclock_mono() < deadline)
                s_spin(env, 10);
            assert_true(r->n_deltas > 0);
            r->aborted = true;
            forward_abort(env->a.fwd, &r->fwd);
        }
        assert_null(r->fwd);
        s_assert_stats(&env->a, 0, 0);
        assert_int_equal(env->a.capacity, cap + 1);
        s_wait_aborts(env, c0.aborts + 1);
        s_wait_b_incoming(env, 0);
        s_counters(env, &c1);
        assert_int_equal(c1.fetches, c0.fetches + 1);
        size_t seen = r->n_deltas;
        s_spin(env, T_SETTLE_MS);
        assert_int_equal(r->late, 0);
        assert_int_equal(r->n_deltas, seen);
        assert_int_equal(r->n_end + r->n_fail, 0);
        if (cases[i].abort_at)
            assert_int_equal(seen, cases[i].abort_at);
        if (cases[i].at_once)
            assert_int_equal(seen, 0);
    }
}

/*  forward_peer_gone fails the origin's attempts on that peer at once
    (retryable before content), remote_peer_gone aborts what the peer
    forwarded to us; the same through the mesh when the peer says leave. */
static void test_peer_gone(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    rec_t *r0 = s_start(env, 0, env->b.id, T_MODEL, T_STALL);
    rec_t *r1 = s_start(env, 1, env->b.id, T_MODEL, T_STALL);
    rec_t *r2 = s_start(env, 2, T_PEER, T_MODEL, "on P");
    s_peer_chunk(env, s_peer_fwd_rid(env, 1), 0, DELTA_TEXT, NULL);
    s_wait_b_incoming(env, 2);
    s_spin(env, 50); /* P's acceptance arrives */
    s_assert_stats(&env->a, 3, 0);

    size_t cap = env->a.capacity;
    forward_peer_gone(env->a.fwd, env->b.id);
    /* at once, without a loop turn */
    /* before content: no_capacity (503 with Retry-After if no one else takes it) */
    s_expect_fail(r0, "no_capacity", true, false, "went away");
    s_expect_fail(r1, "no_capacity", true, false, "went away");
    assert_int_equal(r2->n_end + r2->n_fail, 0);
    assert_int_equal(env->a.capacity, cap + 2);
    s_assert_stats(&env->a, 1, 0);
    s_assert_stats(&env->b, 0, 2); /* B learns nothing from A's view */

    forward_peer_gone(env->b.fwd, env->a.id);
    s_assert_stats(&env->b, 0, 2); /* B's own attempts: none; A's requests still run */
    remote_peer_gone(env->b.remote, env->a.id);
    s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
    s_wait_aborts(env, 2);
    s_spin(env, T_SETTLE_MS);
    assert_int_equal(r0->late + r1->late, 0);

    /* P forwards to B, then leaves: both nodes hear it through the mesh */
    s_peer_fwd_prompt(env, "gone-p", T_STALL);
    s_peer_wait(env, WIRE_CHUNK, "gone-p", 1);
    s_assert_stats(&env->b, 0, 1);
    for (int to = 0; to < 2; to++)
        assert_int_equal(tmesh_send_leave(env->p.dealer[to], T_PEER, env->p.ep), 0);
    s_wait_final(env, r2);
    s_expect_fail(r2, "no_capacity", true, false, "went away");
    s_wait_aborts(env, 3);
    s_wait_b_incoming(env, 0);
    assert_true(env->a.gone >= 1);
    assert_true(env->b.gone >= 1);
    s_assert_stats(&env->a, 0, 0);
}

/*  forward_stats counts our requests on peers and peers' requests in our
    tabs, up and back down to 0 whichever way each ends. */
static void test_stats(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    s_assert_stats(&env->a, 0, 0);
    s_wait_b_incoming(env, 0); /* its final acked (A's cancel) */
    rec_t *r0 = s_start(env, 0, env->b.id, T_MODEL, T_STALL);
    rec_t *r1 = s_start(env, 1, env->b.id, T_MODEL, T_STALL);
    rec_t *r2 = s_start(env, 2, T_PEER, T_MODEL, "on P");
    s_assert_stats(&env->a, 3, 0);
    s_peer_fwd_prompt(env, "st-1", T_STALL);
    s_wait_b_incoming(env, 3);
    s_assert_stats(&env->a, 3, 0);

    /* P ends ours */
    const char *rid = s_peer_fwd_rid(env, 1);
    s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL);
    s_peer_end(env, rid);
    s_wait_final(env, r2);
    assert_int_equal(r2->n_end, 1);
    s_assert_stats(&env->a, 2, 0);
    /* we abort one on B */
    r0->aborted = true;
    forward_abort(env->a.fwd, &r0->fwd);
    s_assert_stats(&env->a, 1, 0);
    s_wait_b_incoming(env, 2);
    /* P cancels its own */
    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "st-1"};
    assert_int_equal(s_peer_send(env, 1, &cancel), 0);
    s_wait_b_incoming(env, 1);
    /* the last one */
    r1->aborted = true;
    forward_abort(env->a.fwd, &r1->fwd);
    s_wait_b_incoming(env, 0);
    s_assert_stats(&env->a, 0, 0);
    s_wait_aborts(env, 3);
    forward_abort(env->a.fwd, &r1->fwd); /* NULL: nothing */
    s_assert_stats(&env->a, 0, 0);
}

/*  forward_start refuses what it cannot send (NULL, 503 no_capacity) and
    counts nothing. */
static void test_start_refused(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    char too_long[WIRE_MAX_ID + 2];
    memset(too_long, 'x', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const char *peers[] = {"no-such-peer", env->a.id, too_long, ""};
    openai_request_t *req = s_request(T_MODEL, "hi");
    rec_t *r = &env->recs[0];
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
        openai_error_t err;
        memset(&err, 0, sizeof err);
        fwd_t *f = forward_start(env->a.fwd, peers[i], req, T_DEADLINE_MS, &s_rec_sink, r, &err);
        assert_null(f);
        assert_string_equal(err.code, "no_capacity");
        assert_int_equal(err.status, 503);
    }
    s_spin(env, 50);
    s_assert_stats(&env->a, 0, 0);
    assert_int_equal(env->a.capacity, 0);
    assert_int_equal(r->n_deltas + (size_t)r->n_end + (size_t)r->n_fail, 0);
    assert_int_equal(s_peer_count(env, WIRE_FWD, NULL), 0);

    /* a peer that left is not a target any more */
    assert_int_equal(tmesh_send_leave(env->p.dealer[0], T_PEER, env->p.ep), 0);
    long long deadline = zclock_mono() + T_WAIT_MS;
    while (env->a.gone == 0 && zclock_mono() < deadline)
        s_spin(env, 10);
    assert_int_equal(env->a.gone, 1);
    openai_error_t err;
    assert_null(forward_start(env->a.fwd, T_PEER, req, T_DEADLINE_MS, &s_rec_sink, r, &err));
    openai_request_destroy(&req);
    s_assert_stats(&env->a, 0, 0);
}

/*  Shutting down with work in flight: the executor (remote_destroy) fails
    what it runs for peers (retryable no_capacity, "shutting down") and
    aborts the tab's jobs; the origin (forward_destroy) cancels its attempts
    without calling their sinks. Everything is freed (ASan). */
static void test_destroy_in_flight(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    rec_t *r0 = s_start(env, 0, env->b.id, T_MODEL, T_STALL);
    rec_t *r1 = s_start(env, 1, T_PEER, T_MODEL, "on P");
    char rid1[WIRE_MAX_ID + 1];
    snprintf(rid1, sizeof rid1, "%s", s_peer_fwd_rid(env, 1));
    s_peer_chunk(env, rid1, 0, DELTA_TEXT, NULL);
    s_peer_fwd_prompt(env, "d-1", T_STALL);
    s_peer_wait(env, WIRE_CHUNK, "d-1", 1);
    s_wait_b_incoming(env, 2);

    remote_destroy(&env->b.remote);
    assert_null(env->b.remote);
    const wire_msg_t *f = s_peer_wait(env, WIRE_FAIL, "d-1", 1);
    assert_string_equal(f->code, "no_capacity");
    assert_true(f->retryable);
    assert_non_null(strstr(f->message, "shutting down"));
    assert_true(f->has_chunks);
    assert_int_equal(f->chunks, 1); /* the acceptance */
    s_wait_final(env, r0);
    s_expect_fail(r0, "no_capacity", true, false, "shutting down");
    s_wait_aborts(env, 2);

    size_t cap = env->a.capacity;
    forward_destroy(&env->a.fwd);
    r1->fwd = NULL; /* freed with A's forward_t */
    s_peer_wait(env, WIRE_CANCEL, rid1, 1);
    s_spin(env, 50);
    assert_int_equal(r1->n_end + r1->n_fail + r1->late, 0);
    assert_int_equal(env->a.capacity, cap);
    forward_destroy(&env->a.fwd); /* NULL: nothing */
}

/* ---- the executor's state in `reject` ---- */

/*  B tells its mesh what it offers, as node.c does after every change: both
    chat models with their cooldowns left, and the whole node's. */
static void s_publish_b(env_t *env)
{
    static const char *const names[] = {T_MODEL, T_MODEL_2};
    node_t *n = &env->b;
    long long now = zclock_time();
    wire_model_t models[2];
    for (size_t i = 0; i < 2; i++) {
        const char *reason = NULL;
        long long left = cooldown_remaining(n->cooldowns, n->id, names[i], now, &reason);
        models[i] = (wire_model_t){.name = (char *)names[i],
                                   .arena_id = "a-1",
                                   .modality = "chat",
                                   .cooled_remaining_ms = left > 0 ? left : 0,
                                   .reason = (char *)(left > 0 && reason ? reason : "")};
    }
    long long node = cooldown_remaining(n->cooldowns, n->id, COOLDOWN_ALL, now, NULL);
    wire_state_t st = {.name = "node-b",
                       .http = "http://127.0.0.1:1",
                       .tabs = 1,
                       .tabs_healthy = 1,
                       .capacity = 4,
                       .p50_ms = -1,
                       .node_cooled_remaining_ms = node > 0 ? node : 0,
                       .models = models,
                       .n_models = 2};
    mesh_set_local(n->mesh, &st, false);
}

/*  A `reject` carries the executor's own state as its mesh holds it, aged
    to now, whatever the reason: the cooldown that caused it travels with it. */
static void test_reject_carries_state(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    cooldown_set(env->b.cooldowns, env->b.id, T_MODEL_2, 60000, "rate_limited", zclock_time());
    s_publish_b(env);
    static const struct {
        const char *rid, *model, *reason;
    } cases[] = {
        {"rs-cool", T_MODEL_2, "model cooling here"},
        {"rs-unknown", "no-such-model", "model not served here"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  reject state: %s\n", cases[i].reason);
        char *body = s_body(cases[i].model, "hi");
        s_peer_fwd(env, cases[i].rid, body, strlen(body));
        free(body);
        const wire_msg_t *rj = s_peer_wait(env, WIRE_REJECT, cases[i].rid, 1);
        assert_string_equal(rj->reason, cases[i].reason);
        assert_int_equal(rj->n_states, 1);
        const wire_state_t *st = &rj->states[0];
        assert_string_equal(st->id, env->b.id);
        assert_string_equal(st->endpoint, mesh_endpoint(env->b.mesh));
        assert_string_equal(st->name, "node-b");
        assert_int_equal(st->capacity, 4);
        assert_int_equal(st->n_models, 2);
        assert_string_equal(st->models[0].name, T_MODEL);
        assert_int_equal(st->models[0].cooled_remaining_ms, 0);
        assert_string_equal(st->models[1].name, T_MODEL_2);
        assert_string_equal(st->models[1].reason, "rate_limited");
        long long left = st->models[1].cooled_remaining_ms;
        if (left <= 55000 || left > 60000)
            fail_msg("the cooldown travels as %lld ms left", left);
    }
    assert_int_equal(s_peer_count(env, WIRE_CHUNK, NULL), 0);
}

/*  The state a `reject` carries reaches the origin's table as a push from
    the rejecting peer would, before the origin's sink hears of the reject
    (so its very next routing decision sees it): a newer version replaces
    what it held, cooldowns turned into local deadlines; an older one is
    ignored; a reject without a state (another implementation) fails the
    attempt all the same. P never pushes: every change comes from a reject. */
static void test_reject_state_applied(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const struct {
        const char *name;
        bool with_state;
        uint64_t version;
        long long cool_ms; /* T_MODEL's cooldown in the state sent */
        /* what A holds of P when its sink hears of the reject */
        uint64_t want_version;
        long long want_cool; /* about this much left (0: none) */
    } cases[] = {
        {"a newer state: the model cools there", true, 5, 30000, 5, 30000},
        {"an older state is ignored", true, 3, 0, 5, 30000},
        {"no state", false, 0, 0, 5, 30000},
        {"a newer state: the cooldown is over", true, 6, 0, 6, 0},
    };
    rec_t before = {.peek_mesh = env->a.mesh, .peek_id = T_PEER, .peek_model = T_MODEL};
    s_peek(&before); /* P's hello: version 1, nothing cooling */
    assert_true(before.peeked);
    assert_int_equal(before.peek_version, 1);
    assert_int_equal(before.peek_cool, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  reject state applied: %s\n", cases[i].name);
        rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "anyone there?");
        r->peek_mesh = env->a.mesh;
        r->peek_id = T_PEER;
        r->peek_model = T_MODEL;
        char rid[WIRE_MAX_ID + 1];
        snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, i + 1));
        wire_model_t model = {.name = T_MODEL,
                              .arena_id = "a-1",
                              .modality = "chat",
                              .cooled_remaining_ms = cases[i].cool_ms,
                              .reason = cases[i].cool_ms ? "rate_limited" : ""};
        wire_state_t st = {.id = T_PEER,
                           .name = T_PEER,
                           .endpoint = env->p.ep,
                           .http = "http://127.0.0.1:1",
                           .incarnation = 1,
                           .version = cases[i].version,
                           .tabs = 1,
                           .tabs_healthy = 1,
                           .capacity = 4,
                           .p50_ms = -1,
                           .models = &model,
                           .n_models = 1};
        wire_msg_t m = {.type = WIRE_REJECT,
                        .rid = rid,
                        .reason = "cooling-here",
                        .states = cases[i].with_state ? &st : NULL,
                        .n_states = cases[i].with_state ? 1 : 0};
        assert_int_equal(s_peer_send(env, 0, &m), 0);
        s_wait_final(env, r);
        s_expect_fail(r, "no_capacity", true, false, "cooling-here");
        assert_true(r->peeked);
        assert_int_equal(r->peek_version, cases[i].want_version);
        if (cases[i].want_cool &&
            (r->peek_cool <= cases[i].want_cool - 3000 || r->peek_cool > cases[i].want_cool))
            fail_msg("%s: A sees %lld ms of cooldown, not about %lld", cases[i].name, r->peek_cool,
                     cases[i].want_cool);
        if (!cases[i].want_cool)
            assert_int_equal(r->peek_cool, 0);
        s_assert_stats(&env->a, 0, 0);
    }
}

/*  A duplicate `fwd` while the first one runs is ignored even when B is full
    (its tab's slots, or max_remote): a `reject` would make the origin fail a
    request that runs. Another rid is still refused. */
static void test_executor_duplicate_when_full(void **state)
{
    env_t *env = *state;
    static const struct {
        const char *name;
        opts_t opts;
        const char *reason; /* for another rid */
    } cases[] = {
        {"the tab is full", {.tab_jobs = 1}, "no free tab here"},
        {"max_remote reached", {.max_remote = 1}, "too many forwarded requests running here"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  duplicate while full: %s\n", cases[i].name);
        s_env_start(env, &cases[i].opts);
        s_peer_fwd_prompt(env, "full-1", T_STALL);
        s_peer_wait(env, WIRE_CHUNK, "full-1", 1);
        s_wait_b_incoming(env, 1);
        s_peer_fwd_prompt(env, "full-1", T_STALL); /* the duplicate */
        s_peer_fwd_prompt(env, "full-2", T_STALL); /* B is full indeed */
        const wire_msg_t *rj = s_peer_wait(env, WIRE_REJECT, "full-2", 1);
        assert_string_equal(rj->reason, cases[i].reason);
        s_spin(env, T_SETTLE_MS);
        assert_int_equal(s_peer_count(env, WIRE_CHUNK, "full-1"), 1);
        assert_false(s_peer_final(env, "full-1"));
        fake_link_counters_t c;
        s_counters(env, &c);
        assert_int_equal(c.fetches, 1);
        s_assert_stats(&env->b, 0, 1);
        wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "full-1"};
        assert_int_equal(s_peer_send(env, 1, &cancel), 0);
        s_wait_aborts(env, 1);
        s_wait_b_incoming(env, 0);
        assert_false(s_peer_final(env, "full-1"));
        s_env_stop(env);
    }
}

/* ---- chunk counts in `end` and `fail` ---- */

/*  `end` and `fail` carry the number of chunks sent before them. An `end`
    counting fewer chunks than arrived fails the attempt, retryable only if
    no content reached the client: never a cut answer that looks complete
    (one counting more waits for the missing chunks: test_chunk_gap). An
    `end` without a count (another implementation) is taken as before; a
    `fail` stays what it says. */
static void test_end_chunk_count(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    static const struct {
        const char *name;
        const char *pieces[3]; /* sent as seq 1, 2 … after the acceptance (seq 0) */
        wire_type_t type;
        bool has_count;
        uint64_t count;
        /* expected (code NULL: an end) */
        const char *code;
        bool retryable, after_content;
        const char *text, *needle;
    } cases[] = {
        {"the count matches", {"He", "llo"}, WIRE_END, true, 3, NULL, false, false, "Hello", NULL},
        {"more arrived than it sent",
         {"He", "llo"},
         WIRE_END,
         true,
         2,
         "upstream_error",
         false,
         true,
         "Hello",
         "lost a piece"},
        {"no count", {"He"}, WIRE_END, false, 0, NULL, false, false, "He", NULL},
        {"a fail whose count differs",
         {NULL},
         WIRE_FAIL,
         true,
         5,
         "rate_limited",
         true,
         false,
         "",
         "peer says no"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  chunk count: %s\n", cases[i].name);
        rec_t *r = s_start(env, 0, T_PEER, T_MODEL, "count them");
        char rid[WIRE_MAX_ID + 1];
        snprintf(rid, sizeof rid, "%s", s_peer_fwd_rid(env, i + 1));
        s_peer_chunk(env, rid, 0, DELTA_TEXT, NULL);
        uint64_t seq = 1;
        for (size_t k = 0; k < 3 && cases[i].pieces[k]; k++)
            s_peer_chunk(env, rid, seq++, DELTA_TEXT, cases[i].pieces[k]);
        wire_msg_t m = {.type = cases[i].type,
                        .rid = rid,
                        .finish_reason = "stop",
                        .prompt_tokens = 1,
                        .completion_tokens = 2,
                        .status = 429,
                        .code = "rate_limited",
                        .message = "peer says no",
                        .retryable = true,
                        .has_chunks = cases[i].has_count,
                        .chunks = cases[i].count};
        assert_int_equal(s_peer_send(env, 0, &m), 0);
        s_wait_final(env, r);
        assert_string_equal(s_str(&r->text), cases[i].text);
        if (!cases[i].code) {
            assert_int_equal(r->n_end, 1);
            assert_int_equal(r->n_fail, 0);
            assert_string_equal(r->finish, "stop");
        } else {
            s_expect_fail(r, cases[i].code, cases[i].retryable, cases[i].after_content,
                          cases[i].needle);
        }
        /* it has ended there: only the final word's ack (a `cancel`) */
        s_peer_wait(env, WIRE_CANCEL, rid, 1);
        s_spin(env, 50);
        assert_int_equal(s_peer_count(env, WIRE_CANCEL, rid), 1);
        s_assert_stats(&env->a, 0, 0);
    }
    s_spin(env, 50);
    assert_int_equal(env->recs[0].late, 0);
}

/* ---- the first-byte deadline on the executor ---- */

/*  The executor gives its tab until the shorter of its own first-byte
    timeout (first_byte_ms) and the `fwd`'s deadline_ms for the first
    content. Past it the tab's job is aborted and the request fails,
    retryable (nothing reached the client), as the origin's own first-byte
    timeout would fail it. Content in time lifts the limit; with both 0
    there is none. */
static void test_first_byte_deadline(void **state)
{
    env_t *env = *state;
    static const struct {
        const char *name;
        long long own_ms, deadline_ms;
        const char *prompt;
        bool via_a;         /* A is the origin (else P) */
        long long limit_ms; /* > 0: fails after this long; 0: ends well */
    } cases[] = {
        {"the deadline passes before the first byte", 0, 300, "[[fake:text ttfb=3000]]", false,
         300},
        {"our own limit is shorter", 300, 30000, "[[fake:text ttfb=3000]]", false, 300},
        {"the deadline is shorter", 30000, 300, "[[fake:text ttfb=3000]]", false, 300},
        {"the first byte in time, the answer longer", 0, 400, "[[fake:drip ms=150 count=6]]", false,
         0},
        {"no deadline, no limit of our own", 0, 0, "[[fake:text ttfb=800]]", false, 0},
        {"an origin node sees a retryable failure", 0, 300, "[[fake:text ttfb=3000]]", true, 300},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  first byte: %s\n", cases[i].name);
        s_env_start(env, &(opts_t){.first_byte_ms = cases[i].own_ms});
        char needle[64];
        snprintf(needle, sizeof needle, "sent nothing within %lld ms", cases[i].limit_ms);
        long long t0 = zclock_mono();
        if (cases[i].via_a) {
            rec_t *r =
                s_start_dl(env, 0, env->b.id, T_MODEL, cases[i].prompt, cases[i].deadline_ms);
            s_wait_final(env, r);
            s_expect_fail(r, "upstream_error", true, false, needle);
            assert_int_equal(r->n_deltas, 0);
        } else {
            char *body = s_body(T_MODEL, cases[i].prompt);
            s_peer_fwd_dl(env, "fb-1", body, strlen(body), cases[i].deadline_ms);
            free(body);
            if (!s_until(env, s_peer_final, "fb-1", T_WAIT_MS))
                fail_msg("%s: no final word", cases[i].name);
            long long took = zclock_mono() - t0;
            size_t chunks = s_peer_count(env, WIRE_CHUNK, "fb-1");
            const wire_msg_t *f = s_peer_nth(env, WIRE_FAIL, "fb-1", 0);
            const wire_msg_t *end = s_peer_nth(env, WIRE_END, "fb-1", 0);
            if (cases[i].limit_ms) {
                if (!f)
                    fail_msg("%s: no `fail`", cases[i].name);
                assert_string_equal(f->code, "upstream_error");
                assert_true(f->retryable);
                assert_non_null(strstr(f->message, needle));
                assert_true(f->has_chunks);
                assert_int_equal(f->chunks, 1); /* the acceptance */
                assert_int_equal(chunks, 1);
                if (took < cases[i].limit_ms || took > cases[i].limit_ms + 1000)
                    fail_msg("%s: failed after %lld ms", cases[i].name, took);
            } else {
                if (!end)
                    fail_msg("%s: no `end` (%s)", cases[i].name, f ? f->message : "?");
                assert_true(end->has_chunks);
                assert_int_equal(end->chunks, chunks);
                assert_true(chunks > 1);
            }
        }
        if (cases[i].limit_ms)
            s_wait_aborts(env, 1);
        s_wait_b_incoming(env, 0);
        s_env_stop(env);
    }
}

/*  An origin that dies, leaves or just falls silent while B holds its
    request's tab paused (no credit came): B aborts the request, the tab
    reads again, and the tab's other work goes on. Here A's request on the
    same tab (its answer stuck behind the held WebSocket) completes whole.
    Fails on an executor that waits for a silent origin's credit for ever:
    the tab stays held and A's request stalls. */
static void test_paused_tab_origin_gone(void **state)
{
    env_t *env = *state;
    for (int leave = 0; leave < 2; leave++) {
        fprintf(stderr, "  paused tab: the origin %s\n", leave ? "leaves" : "falls silent");
        s_env_start(env, &(opts_t){.pause_bytes = 40, .giveup_ms = 1500});
        enum { pieces = 40, piece = 26 };
        char answer[pieces * piece + 1];
        for (size_t i = 0; i < pieces * piece; i++)
            answer[i] = (char)('a' + i % piece);
        answer[pieces * piece] = '\0';
        char prompt[sizeof answer + 64];
        snprintf(prompt, sizeof prompt, "[[fake:drip ms=10 count=%d text=\"%s\"]]", pieces, answer);
        s_peer_fwd_credit(env, "held-1", prompt, 1);
        s_peer_wait(env, WIRE_CHUNK, "held-1", 2); /* accepted, and one chunk of credit */
        /* an ack (no credit more): the origin speaks the acking protocol */
        wire_msg_t ack = {.type = WIRE_CREDIT,
                          .rid = "held-1",
                          .has_credit = true,
                          .credit = 0,
                          .has_ack = true,
                          .ack = 2};
        assert_int_equal(s_peer_send(env, 1, &ack), 0);
        remote_stats_t rs;
        for (long long until = zclock_mono() + T_WAIT_MS; zclock_mono() < until;) {
            remote_stats(env->b.remote, &rs);
            if (rs.pauses)
                break;
            s_spin(env, 20);
        }
        assert_true(rs.pauses >= 1);
        /* A's request on the same (held) tab */
        rec_t *r = s_start(env, 0, env->b.id, T_MODEL, "[[fake:text text=\"after\"]]");
        if (leave)
            assert_int_equal(tmesh_send_leave(env->p.dealer[1], T_PEER, env->p.ep), 0);
        if (!s_until(env, s_rec_final, r, 3 * T_WAIT_MS))
            fail_msg("A's request on the held tab did not end (%zu deltas)", r->n_deltas);
        assert_int_equal(r->n_end, 1);
        assert_string_equal(s_str(&r->text), "after");
        stats_want_t w = {0, 0};
        if (!s_until(env, s_b_stats, &w, T_WAIT_MS))
            fail_msg("B still runs %zu forwarded request(s)", remote_running(env->b.remote));
        assert_false(s_peer_final(env, "held-1")); /* nothing more went to the gone origin */
        s_env_stop(env);
    }
}

/* ---- loss between origin and executor ---- */

/*  P as an origin on a link that loses messages, B the real executor. */
typedef struct {
    const char *rid;
    size_t seen;      /* P's rx handled so far */
    uint64_t next;    /* the next seq P wants */
    bool got_seq[64]; /* a seq arrived once already (its first arrival may be lost) */
    abuf_t text;
    size_t n_deltas;
    unsigned credits; /* credits P meant to send (every second one is lost) */
    unsigned lost;    /* messages lost, both ways */
    long long rx_ms, credit_ms;
    bool refwd; /* the `fwd` went again (its acceptance was lost) */
    const wire_msg_t *end;
    char body[512];
} lossy_t;

/*  P's (lossy) credit with its ack: every second one never leaves. */
static void s_lossy_credit(env_t *env, lossy_t *l)
{
    l->credit_ms = zclock_mono();
    if (l->credits++ % 2 == 1) {
        l->lost++;
        return;
    }
    wire_msg_t m = {.type = WIRE_CREDIT,
                    .rid = (char *)l->rid,
                    .has_credit = true,
                    .credit = 4,
                    .has_ack = true,
                    .ack = l->next};
    assert_int_equal(s_peer_send(env, 1, &m), 0);
}

/*  Handles what P got since the last call, as an origin would, losing the
    first arrival of the acceptance and of every third chunk; re-acks after
    a second of silence, as an origin does. true once the end came after
    every chunk. */
static bool s_lossy_step(env_t *env, const void *arg)
{
    lossy_t *l = (lossy_t *)arg;
    long long now = zclock_mono();
    for (; l->seen < env->p.n_rx; l->seen++) {
        const wire_msg_t *m = &env->p.rx[l->seen];
        if (!m->rid || strcmp(m->rid, l->rid) != 0)
            continue;
        l->rx_ms = now;
        if (m->type == WIRE_CHUNK) {
            uint64_t seq = m->chunk_seq;
            bool first = seq < 64 && !l->got_seq[seq];
            if (seq < 64)
                l->got_seq[seq] = true;
            if (first && seq % 3 == 0) { /* lost on the way */
                l->lost++;
                if (seq == 0 && !l->refwd) { /* no acceptance: the `fwd` again, same rid */
                    l->refwd = true;
                    s_peer_fwd_credit(env, l->rid, l->body, 4);
                }
                continue;
            }
            if (seq != l->next) { /* a repeat, or past a lost one: dropped, acked */
                s_lossy_credit(env, l);
                continue;
            }
            for (size_t k = 0; k < m->n_deltas; k++)
                assert_int_equal(abuf_append(&l->text, m->deltas[k].text, m->deltas[k].len), 0);
            l->n_deltas += m->n_deltas;
            l->next++;
            s_lossy_credit(env, l);
        } else if (m->type == WIRE_END) {
            if (m->has_chunks && m->chunks == l->next) {
                l->end = m;
                wire_msg_t ack = {.type = WIRE_CANCEL, .rid = (char *)l->rid};
                assert_int_equal(s_peer_send(env, 1, &ack), 0); /* the end's ack */
                return true;
            }
        } else if (m->type == WIRE_FAIL || m->type == WIRE_REJECT) {
            fail_msg("B ended %s with %s", l->rid, wire_type_name(m->type));
        }
    }
    if (now - l->rx_ms >= 1000 && now - l->credit_ms >= 1000)
        s_lossy_credit(env, l); /* silence: the last ack again */
    return false;
}

/*  A forwarded stream over a link that loses messages both ways (the
    acceptance, every third chunk the first time it goes, every second
    credit) still arrives whole and in order, each delta once, its `end`
    counting the chunks: B keeps what P has not acked and sends it again
    when no ack comes, answers the `fwd` sent again (its acceptance lost) as
    the same request (the tab fetches it once), and forgets the request
    once P acks its end. Fails on an executor that sends each chunk once: P
    never gets the first chunk it lost. */
static void test_lossy_origin(void **state)
{
    env_t *env = *state;
    s_env_start(env, &(opts_t){0});
    enum { pieces = 12, piece = 10 };
    char answer[pieces * piece + 1];
    for (size_t i = 0; i < pieces * piece; i++)
        answer[i] = (char)('a' + (i * 7) % 26);
    answer[pieces * piece] = '\0';
    fake_link_counters_t c0, c1;
    s_counters(env, &c0);
    lossy_t l = {.rid = "lossy-1", .rx_ms = zclock_mono(), .credit_ms = zclock_mono()};
    snprintf(l.body, sizeof l.body, "[[fake:drip ms=30 count=%d text=\"%s\"]]", pieces, answer);
    s_peer_fwd_credit(env, l.rid, l.body, 4);
    if (!s_until(env, s_lossy_step, &l, 40000))
        fail_msg(
            "the stream did not arrive whole over the lossy link: %zu deltas, next seq %" PRIu64
            ", %u lost",
            l.n_deltas, l.next, l.lost);
    assert_true(l.refwd);
    assert_true(l.lost >= 4);
    assert_string_equal(s_str(&l.text), answer);
    assert_int_equal(l.n_deltas, pieces);
    assert_int_equal(l.end->chunks, l.next);
    s_counters(env, &c1);
    assert_int_equal(c1.fetches, c0.fetches + 1); /* the duplicate `fwd` did not run twice */
    remote_stats_t rs;
    remote_stats(env->b.remote, &rs);
    assert_true(rs.resent >= 2);
    s_wait_b_incoming(env, 0); /* the acked end: B forgets it */
    abuf_free(&l.text);
}

int main(void)
{
    alog_set_level(getenv("TEST_FORWARD_VERBOSE") ? ALOG_DEBUG : ALOG_ERROR);
#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_relay),
        T(test_executor_wire),
        T(test_credit),
        T(test_origin_grants_credit),
        T(test_executor_refuses),
        T(test_reject_carries_state),
        T(test_reject_state_applied),
        T(test_executor_fails),
        T(test_executor_bad_requests),
        T(test_executor_own_limits),
        T(test_fail_message_has_no_control_characters),
        T(test_executor_duplicate_and_cancel),
        T(test_executor_duplicate_when_full),
        T(test_accept_timeout),
        T(test_accept_passed_over),
        T(test_idle_timeout),
        T(test_chunk_gap),
        T(test_peer_answers),
        T(test_end_chunk_count),
        T(test_chunk_many_deltas),
        T(test_other_sender_ignored),
        T(test_lost_chunk),
        T(test_refusal_kept),
        T(test_first_byte_deadline),
        T(test_abort),
        T(test_peer_gone),
        T(test_stats),
        T(test_start_refused),
        T(test_destroy_in_flight),
        T(test_lossy_origin),
        T(test_paused_tab_origin_gone),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
