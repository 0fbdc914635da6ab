/*  test_mesh — the mesh runtime with real sockets on 127.0.0.1.

    Several mesh_t share one zloop driven from the test thread: each wait
    runs the loop until a predicate holds or a deadline passes (every wait is
    bounded). A "fake" peer made of a raw DEALER and ROUTER speaks the wire
    format directly, to see what a mesh answers and to send it hostile
    input; a "raw member" (an inbox and a DEALER to each node it joins) plays
    the target and the helpers of indirect probes. The crash test runs a node in a child process
   (this executable re-run with --mesh-child) and kills it with SIGKILL, so the others see it vanish
   without a leave. Timings are short: gossip 50 ms, ping 100 ms, suspect 400 ms, dead 1 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <sodium.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mesh/mesh.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/wire.h"
#include "tests/support/test_mesh_env.h"

extern char **environ;

#define S_GOSSIP 50
#define S_PING 100
#define S_SUSPECT 400
#define S_DEAD 1000
/*  How late a timer may fire on a loaded machine: bounds that are checked
    against the clock allow this much (never less: "not early" stays exact). */
#define S_SLACK 1000
#define S_SLOW_GOSSIP 60000 /* no anti-entropy round within a test */

/* ------------------------------------------------------------- log capture */

#define S_LOG_MAX 512
static char *s_log[S_LOG_MAX];
static size_t s_n_log;
static bool s_verbose;

static void s_sink(alog_level_t level, const char *line)
{
    if (s_n_log < S_LOG_MAX)
        s_log[s_n_log++] = strdup(line);
    if (s_verbose)
        fprintf(stderr, "%c: %s\n", "EWID"[level & 3], line);
}

static void s_log_clear(void)
{
    for (size_t i = 0; i < s_n_log; i++)
        free(s_log[i]);
    s_n_log = 0;
}

static size_t s_log_count(const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < s_n_log; i++)
        n += strstr(s_log[i], needle) != NULL;
    return n;
}

/* ------------------------------------------------------ left by a failure */

/*  What a failed test leaves behind (cmocka jumps out of it) is closed by
    the teardown, so that one failure does not spill into the next test. */
#define S_LIVE_MAX 32
static mesh_t *s_live_mesh[S_LIVE_MAX];
static zsock_t *s_live_sock[S_LIVE_MAX];

static void s_live_add(void **set, void *p)
{
    for (size_t i = 0; i < S_LIVE_MAX; i++)
        if (!set[i]) {
            set[i] = p;
            return;
        }
    fail_msg("too many live objects");
}

static void s_live_del(void **set, void *p)
{
    for (size_t i = 0; i < S_LIVE_MAX; i++)
        if (set[i] == p)
            set[i] = NULL;
}

static void s_live_sweep(zloop_t *loop)
{
    for (size_t i = 0; i < S_LIVE_MAX; i++) {
        mesh_destroy(&s_live_mesh[i]);
        if (s_live_sock[i]) {
            zloop_reader_end(loop, s_live_sock[i]);
            zsock_destroy(&s_live_sock[i]);
        }
    }
}

/* ------------------------------------------------------------------ nodes */

typedef struct {
    char id[WIRE_MAX_ID + 1];
    mesh_liveness_t l;
    int64_t at;
} ev_t;

typedef struct {
    char id[WIRE_MAX_ID + 1];
    char ep[WIRE_MAX_NAME + 1];
    bool forget;
} persist_t;

typedef struct {
    wire_type_t type;
    char rid[WIRE_MAX_ID + 1];
    char from[WIRE_MAX_ID + 1];
    uint64_t seq;
    char text[64];
} fwd_t;

typedef struct {
    const char *id;
    const char *secret;
    const char *seeds[4];
    size_t n_seeds;
    const char *known[4];
    size_t n_known;
    int forget_ms;
    const char *advertise; /* NULL: the bound address */
    int gossip_ms;         /* 0: S_GOSSIP */
} opts_t;

typedef struct {
    char id[WIRE_MAX_ID + 1];
    mesh_t *mesh;
    ev_t ev[256];
    size_t n_ev;
    persist_t persist[64];
    size_t n_persist;
    fwd_t *fwd;
    size_t n_fwd, cap_fwd;
} node_t;

static void s_on_peer(void *arg, const char *id, mesh_liveness_t l)
{
    node_t *n = arg;
    /* on_peer also reports state changes: keep liveness transitions only */
    for (size_t i = n->n_ev; i-- > 0;)
        if (streq(n->ev[i].id, id)) {
            if (n->ev[i].l == l)
                return;
            break;
        }
    if (n->n_ev < 256) {
        ev_t *e = &n->ev[n->n_ev++];
        snprintf(e->id, sizeof e->id, "%s", id);
        e->l = l;
        e->at = zclock_mono();
    }
}

static void s_on_persist(void *arg, const char *id, const char *ep, bool forget)
{
    node_t *n = arg;
    if (n->n_persist < 64) {
        persist_t *p = &n->persist[n->n_persist++];
        snprintf(p->id, sizeof p->id, "%s", id);
        snprintf(p->ep, sizeof p->ep, "%s", ep);
        p->forget = forget;
    }
}

static void s_on_forward(void *arg, const wire_msg_t *m)
{
    node_t *n = arg;
    if (n->n_fwd == n->cap_fwd) {
        n->cap_fwd = n->cap_fwd ? n->cap_fwd * 2 : 64;
        n->fwd = realloc(n->fwd, n->cap_fwd * sizeof *n->fwd);
        assert_non_null(n->fwd);
    }
    fwd_t *f = &n->fwd[n->n_fwd++];
    memset(f, 0, sizeof *f);
    f->type = m->type;
    snprintf(f->rid, sizeof f->rid, "%s", m->rid ? m->rid : "");
    snprintf(f->from, sizeof f->from, "%s", m->from);
    f->seq = m->chunk_seq;
    if (m->type == WIRE_CHUNK && m->n_deltas)
        snprintf(f->text, sizeof f->text, "%.*s", (int)m->deltas[0].len, m->deltas[0].text);
    else if (m->type == WIRE_FWD)
        snprintf(f->text, sizeof f->text, "%.*s", (int)m->request_len, m->request);
}

static void s_cfg(mesh_config_t *c, node_t *n, const opts_t *o)
{
    memset(c, 0, sizeof *c);
    c->node_id = n->id;
    c->sign_key = tmesh_key(n->id);
    c->bind_host = "127.0.0.1";
    c->seeds = o->seeds;
    c->n_seeds = o->n_seeds;
    c->known = o->known;
    c->n_known = o->n_known;
    /* no secret of its own: the machine's own, as arena-node does without
       --mesh-secret (loopback only); the raw members share it */
    c->secret = o->secret ? o->secret : TMESH_SECRET;
    c->local_only = !o->secret;
    c->advertise = o->advertise;
    c->gossip_ms = o->gossip_ms ? o->gossip_ms : S_GOSSIP;
    c->fanout = 3;
    c->ping_ms = S_PING;
    c->ping_timeout_ms = 50;
    c->suspect_ms = S_SUSPECT;
    c->dead_ms = S_DEAD;
    c->forget_ms = o->forget_ms ? o->forget_ms : 60000;
    c->on_forward = s_on_forward;
    c->on_peer = s_on_peer;
    c->on_persist = s_on_persist;
    c->arg = n;
}

/*  A plain state for node n: name = id, one model. */
static void s_state(wire_state_t *st, const char *name, wire_model_t *model, int64_t cooled)
{
    memset(st, 0, sizeof *st);
    *model = (wire_model_t){.name = "gpt-test",
                            .arena_id = "a-1",
                            .modality = "chat",
                            .cooled_remaining_ms = cooled,
                            .reason = cooled ? "rate limited" : ""};
    st->name = (char *)name;
    st->http = "http://127.0.0.1:1";
    st->tabs = 1;
    st->tabs_healthy = 1;
    st->capacity = 4;
    st->p50_ms = -1;
    st->models = model;
    st->n_models = 1;
}

static void s_node_start(zloop_t *loop, node_t *n, const opts_t *o)
{
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", tmesh_id(o->id));
    mesh_config_t c;
    s_cfg(&c, n, o);
    n->mesh = mesh_new(&c, loop);
    assert_non_null(n->mesh);
    s_live_add((void **)s_live_mesh, n->mesh);
    wire_state_t st;
    wire_model_t m;
    s_state(&st, o->id, &m, 0); /* named by the test's name for it */
    mesh_set_local(n->mesh, &st, false);
}

static void s_node_stop(node_t *n)
{
    s_live_del((void **)s_live_mesh, n->mesh);
    mesh_destroy(&n->mesh);
    free(n->fwd);
    n->fwd = NULL;
    n->n_fwd = n->cap_fwd = 0;
}

/*  n's view of peer id, NULL when it does not list it. */
static const mesh_peer_view_t *s_view(node_t *n, const char *id)
{
    id = tmesh_id(id); /* a name ("node-a") or an id */
    static mesh_peer_view_t v[64];
    size_t k = mesh_peers(n->mesh, v, 64);
    for (size_t i = 0; i < k && i < 64; i++) {
        assert_non_null(v[i].id);
        assert_non_null(v[i].endpoint);
        assert_true(!v[i].state || streq(v[i].state->id, v[i].id));
        if (streq(v[i].id, id))
            return &v[i];
    }
    return NULL;
}

static bool s_sees(node_t *n, const char *id, mesh_liveness_t l)
{
    const mesh_peer_view_t *v = s_view(n, id);
    return v && v->liveness == l;
}

static const ev_t *s_event(node_t *n, const char *id, mesh_liveness_t l)
{
    id = tmesh_id(id);
    for (size_t i = 0; i < n->n_ev; i++)
        if (streq(n->ev[i].id, id) && n->ev[i].l == l)
            return &n->ev[i];
    return NULL;
}

static bool s_persisted(node_t *n, const char *id, const char *ep, bool forget)
{
    id = tmesh_id(id);
    for (size_t i = 0; i < n->n_persist; i++)
        if (streq(n->persist[i].id, id) && n->persist[i].forget == forget &&
            (!ep || streq(n->persist[i].ep, ep)))
            return true;
    return false;
}

/* ------------------------------------------------------------------ waits */

typedef struct {
    node_t **nodes;
    size_t n;
} group_t;

/*  Every node sees every other one alive. */
static bool s_all_joined(void *arg)
{
    group_t *g = arg;
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = 0; j < g->n; j++)
            if (i != j && !s_sees(g->nodes[i], g->nodes[j]->id, MESH_PEER_ALIVE))
                return false;
    return true;
}

static void s_join(zloop_t *loop, node_t **nodes, size_t n)
{
    group_t g = {nodes, n};
    assert_true(tmesh_run_until(loop, s_all_joined, &g, 5000));
}

/* ------------------------------------------------------------ a fake peer */

typedef struct {
    char id[WIRE_MAX_ID + 1];
    zloop_t *loop;
    zsock_t *dealer; /* to the mesh under test, identity = id */
    zsock_t *router; /* what the mesh dials back */
    char ep[64];
    wire_msg_t *rx;
    size_t n_rx, cap_rx;
    bool auto_ack;
    const wire_state_t *vouch; /* answer every digest with a delta holding it */
} fake_t;

static void s_fake_answer(fake_t *f, wire_msg_t *m)
{
    abuf_t b = ABUF_INIT;
    m->from = f->id;
    assert_int_equal(tmesh_encode(m, &b), 0);
    zmq_send(zsock_resolve(f->dealer), b.data, b.len, ZMQ_DONTWAIT);
    abuf_free(&b);
}

/*  Keeps m (its contents move to f->rx), answering as f is set to. */
static void s_fake_keep(fake_t *f, wire_msg_t *m)
{
    if (m->type == WIRE_PING && f->auto_ack) {
        wire_msg_t ack = {.type = WIRE_ACK, .seq = m->seq};
        s_fake_answer(f, &ack);
    }
    if (m->type == WIRE_DIGEST && f->vouch) {
        wire_msg_t delta = {.type = WIRE_DELTA, .states = (wire_state_t *)f->vouch, .n_states = 1};
        s_fake_answer(f, &delta);
    }
    if (f->n_rx == f->cap_rx) {
        f->cap_rx = f->cap_rx ? f->cap_rx * 2 : 32;
        f->rx = realloc(f->rx, f->cap_rx * sizeof *f->rx);
        assert_non_null(f->rx);
    }
    f->rx[f->n_rx++] = *m;
}

static int s_fake_on(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    fake_t *f = arg;
    wire_msg_t m;
    if (tmesh_recv(sock, &m) == 0)
        s_fake_keep(f, &m);
    return 0;
}

static void s_fake_new(fake_t *f, zloop_t *loop, const char *id, const char *target, bool listen)
{
    memset(f, 0, sizeof *f);
    snprintf(f->id, sizeof f->id, "%s", tmesh_id(id));
    f->loop = loop;
    f->auto_ack = true;
    f->router = tmesh_inbox_new(f->ep, sizeof f->ep);
    assert_non_null(f->router);
    f->dealer = tmesh_dealer_new(id, target);
    assert_non_null(f->dealer);
    zloop_reader(loop, f->dealer, s_fake_on, f);
    if (listen)
        zloop_reader(loop, f->router, s_fake_on, f);
    s_live_add((void **)s_live_sock, f->dealer);
    s_live_add((void **)s_live_sock, f->router);
}

static void s_fake_destroy(fake_t *f)
{
    s_live_del((void **)s_live_sock, f->dealer);
    s_live_del((void **)s_live_sock, f->router);
    zloop_reader_end(f->loop, f->dealer);
    zloop_reader_end(f->loop, f->router);
    zsock_destroy(&f->dealer);
    zsock_destroy(&f->router);
    for (size_t i = 0; i < f->n_rx; i++)
        wire_msg_clear(&f->rx[i]);
    free(f->rx);
}

static void s_fake_raw(fake_t *f, const void *buf, size_t len)
{
    assert_true(zmq_send(zsock_resolve(f->dealer), buf, len, ZMQ_DONTWAIT) >= 0);
}

static void s_fake_send(fake_t *f, wire_msg_t *m)
{
    abuf_t b = ABUF_INIT;
    if (!m->from)
        m->from = f->id;
    assert_int_equal(tmesh_encode(m, &b), 0);
    s_fake_raw(f, b.data, b.len);
    abuf_free(&b);
}

static void s_fake_hello(fake_t *f, const char *endpoint)
{
    wire_model_t model;
    wire_state_t st;
    s_state(&st, "fake", &model, 0);
    st.id = f->id;
    st.endpoint = (char *)(endpoint ? endpoint : f->ep);
    st.version = 1;
    st.incarnation = 1;
    wire_msg_t m = {.type = WIRE_HELLO, .states = &st, .n_states = 1};
    s_fake_send(f, &m);
}

static const wire_msg_t *s_fake_got(fake_t *f, wire_type_t t, size_t from)
{
    for (size_t i = from; i < f->n_rx; i++)
        if (f->rx[i].type == t)
            return &f->rx[i];
    return NULL;
}

typedef struct {
    fake_t *f;
    wire_type_t t;
    size_t from;
} fake_wait_t;

static bool s_fake_has(void *arg)
{
    fake_wait_t *w = arg;
    return s_fake_got(w->f, w->t, w->from) != NULL;
}

static const wire_msg_t *s_fake_wait(fake_t *f, wire_type_t t, size_t from, int max_ms)
{
    fake_wait_t w = {f, t, from};
    tmesh_run_until(f->loop, s_fake_has, &w, max_ms);
    return s_fake_got(f, t, from);
}

/* -------------------------------------------------------------- fixtures */

static int s_setup(void **state)
{
    zloop_t *loop = zloop_new();
    assert_non_null(loop);
    *state = loop;
    s_log_clear();
    return 0;
}

static int s_teardown(void **state)
{
    zloop_t *loop = *state;
    s_live_sweep(loop);
    zloop_destroy(&loop);
    s_log_clear();
    return 0;
}

/* ------------------------------------------------------------------ tests */

/*  Three nodes through one seed learn each other; each is persisted. */
static void test_join_through_one_seed(void **state)
{
    zloop_t *loop = *state;
    node_t a, b, c;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    const char *seed = mesh_endpoint(a.mesh);
    assert_true(mesh_port(a.mesh) > 0);
    char expect[64];
    snprintf(expect, sizeof expect, "127.0.0.1:%d", mesh_port(a.mesh));
    assert_string_equal(seed, expect);
    s_node_start(loop, &b, &(opts_t){.id = "node-b", .seeds = {seed}, .n_seeds = 1});
    s_node_start(loop, &c, &(opts_t){.id = "node-c", .seeds = {seed}, .n_seeds = 1});
    node_t *all[] = {&a, &b, &c};
    s_join(loop, all, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(mesh_alive_count(all[i]->mesh), 2);
        assert_int_equal(mesh_peers(all[i]->mesh, NULL, 0), 2);
        for (size_t j = 0; j < 3; j++) {
            if (i == j)
                continue;
            const mesh_peer_view_t *v = s_view(all[i], all[j]->id);
            assert_non_null(v);
            assert_string_equal(v->state->id, all[j]->id);
            assert_string_equal(v->state->endpoint, mesh_endpoint(all[j]->mesh));
            assert_non_null(s_event(all[i], all[j]->id, MESH_PEER_ALIVE));
            assert_true(s_persisted(all[i], all[j]->id, mesh_endpoint(all[j]->mesh), false));
        }
    }
    /* b and c met only through a's hello/delta: a learned-about peer is dialed */
    mesh_stats_t st;
    mesh_stats(b.mesh, &st);
    assert_true(st.rx > 0 && st.tx > 0);
    assert_int_equal(st.malformed, 0);
    s_node_stop(&c);
    s_node_stop(&b);
    s_node_stop(&a);
}

typedef struct {
    node_t **nodes;
    size_t n;
    const char *id;
    uint32_t tabs;
    int64_t cooled; /* -1: don't check */
} seen_t;

static bool s_all_see_state(void *arg)
{
    seen_t *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        const mesh_peer_view_t *v = s_view(s->nodes[i], s->id);
        if (!v || v->state->tabs != s->tabs)
            return false;
        if (s->cooled >= 0 &&
            (v->state->n_models != 1 || v->state->models[0].cooled_remaining_ms == 0))
            return false;
    }
    return true;
}

/*  An urgent change is pushed: every node has it within a few hundred ms,
    with its cooldown as remaining ms that age correctly. Gossip is slowed to
    a minute, so only the push can bring the change within the bound. */
static void test_urgent_push(void **state)
{
    zloop_t *loop = *state;
    node_t a, b, c;
    s_node_start(loop, &a, &(opts_t){.id = "node-a", .gossip_ms = S_SLOW_GOSSIP});
    const char *seed = mesh_endpoint(a.mesh);
    s_node_start(
        loop, &b,
        &(opts_t){.id = "node-b", .seeds = {seed}, .n_seeds = 1, .gossip_ms = S_SLOW_GOSSIP});
    s_node_start(
        loop, &c,
        &(opts_t){.id = "node-c", .seeds = {seed}, .n_seeds = 1, .gossip_ms = S_SLOW_GOSSIP});
    node_t *all[] = {&a, &b, &c};
    s_join(loop, all, 3);

    wire_state_t st;
    wire_model_t m;
    s_state(&st, "node-a", &m, 30000);
    st.tabs = 7;
    int64_t t0 = zclock_mono();
    mesh_set_local(a.mesh, &st, true);
    node_t *others[] = {&b, &c};
    seen_t s = {others, 2, "node-a", 7, 1};
    assert_true(tmesh_run_until(loop, s_all_see_state, &s, 1000));
    int64_t took = zclock_mono() - t0;
    assert_true(took < 300);

    tmesh_run(loop, 200);
    for (size_t i = 0; i < 2; i++) {
        const mesh_peer_view_t *v = s_view(others[i], "node-a");
        int64_t left = v->state->models[0].cooled_remaining_ms - v->state_age_ms;
        int64_t expect = 30000 - (zclock_mono() - t0);
        assert_true(left <= expect + 50 && left >= expect - 150);
        assert_string_equal(v->state->models[0].reason, "rate limited");
    }
    /* the same values again change nothing: no new version */
    uint64_t version = s_view(&b, "node-a")->state->version;
    s_state(&st, "node-a", &m, 30000 - (zclock_mono() - t0));
    st.tabs = 7;
    mesh_set_local(a.mesh, &st, true);
    tmesh_run(loop, 150);
    assert_true(s_view(&b, "node-a")->state->version == version);
    s_node_stop(&c);
    s_node_stop(&b);
    s_node_stop(&a);
}

/*  urgent=false: nothing is pushed, the digest/delta rounds carry it. */
static void test_anti_entropy(void **state)
{
    zloop_t *loop = *state;
    node_t a, b, c;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    const char *seed = mesh_endpoint(a.mesh);
    s_node_start(loop, &b, &(opts_t){.id = "node-b", .seeds = {seed}, .n_seeds = 1});
    s_node_start(loop, &c, &(opts_t){.id = "node-c", .seeds = {seed}, .n_seeds = 1});
    node_t *all[] = {&a, &b, &c};
    s_join(loop, all, 3);

    wire_state_t st;
    wire_model_t m;
    s_state(&st, "node-c", &m, 0);
    st.tabs = 3;
    st.inflight = 2;
    mesh_set_local(c.mesh, &st, false);
    node_t *others[] = {&a, &b};
    seen_t s = {others, 2, "node-c", 3, -1};
    assert_true(tmesh_run_until(loop, s_all_see_state, &s, 2000));
    assert_int_equal(s_view(&a, "node-c")->state->inflight, 2);
    assert_int_equal(s_view(&b, "node-c")->state->inflight, 2);
    s_node_stop(&c);
    s_node_stop(&b);
    s_node_stop(&a);
}

typedef struct {
    node_t *n;
    const char *id;
    mesh_liveness_t l;
} ev_wait_t;

static bool s_has_event(void *arg)
{
    ev_wait_t *w = arg;
    return s_event(w->n, w->id, w->l) != NULL;
}

static bool s_wait_event(zloop_t *loop, node_t *n, const char *id, mesh_liveness_t l, int max_ms)
{
    ev_wait_t w = {n, id, l};
    return tmesh_run_until(loop, s_has_event, &w, max_ms);
}

static bool s_forgot(void *arg)
{
    ev_wait_t *w = arg;
    return s_persisted(w->n, w->id, NULL, true);
}

/*  The child of the crash test: a node that joins a seed and runs until it
    is killed (or 30 s pass). */
static int s_child_main(const char *id, const char *seed, const char *secret)
{
    alog_set_level(ALOG_ERROR);
    zloop_t *loop = zloop_new();
    node_t n;
    s_node_start(loop, &n, &(opts_t){.id = id, .secret = secret, .seeds = {seed}, .n_seeds = 1});
    tmesh_run(loop, 30000);
    s_node_stop(&n);
    zloop_destroy(&loop);
    return 0;
}

static bool s_got_cancel(void *arg)
{
    node_t *n = arg;
    return n->n_fwd > 0 && n->fwd[n->n_fwd - 1].type == WIRE_CANCEL;
}

typedef struct {
    node_t *from;
    const char *to_id;
    node_t *to;
    bool sent;
} sender_t;

/*  Tries to send one cancel until mesh_send takes it, then waits for it. */
static bool s_send_cancel(void *arg)
{
    sender_t *s = arg;
    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "rid-9"};
    if (!s->sent)
        s->sent = mesh_send(s->from->mesh, tmesh_id(s->to_id), &cancel) == 0;
    return s_got_cancel(s->to);
}

static pid_t s_spawn_child(const char *id, const char *seed, const char *secret)
{
    char self_exe[4096];
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    assert_true(n > 0);
    self_exe[n] = '\0';
    char *argv[] = {self_exe, "--mesh-child", (char *)id, (char *)seed, (char *)secret, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, self_exe, NULL, NULL, argv, environ), 0);
    return pid;
}

static void s_random_secret(char *out, size_t len)
{
    snprintf(out, len, "%08x%08x%08x%08x", randombytes_random(), randombytes_random(),
             randombytes_random(), randombytes_random());
}

/*  A node killed without a leave: suspect after suspect_ms without news,
    dead after dead_ms, forgotten after forget_ms (and out of the store);
    started again with the same id and only `known` peers, it rejoins. */
static void test_crash_suspect_dead_rejoin(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    /* A secret of this run only: the dead node's port may be taken by any
       process of this machine while we still greet it; none of them joins. */
    char secret[33];
    s_random_secret(secret, sizeof secret);
    s_node_start(loop, &a, &(opts_t){.id = "node-a", .secret = secret, .forget_ms = 1200});
    char seed[64];
    snprintf(seed, sizeof seed, "%s", mesh_endpoint(a.mesh));
    pid_t pid = s_spawn_child("node-crash", seed, secret);
    bool joined = s_wait_event(loop, &a, "node-crash", MESH_PEER_ALIVE, 10000);
    if (!joined)
        kill(pid, SIGKILL);
    assert_true(joined);
    char crash_ep[WIRE_MAX_NAME + 1];
    snprintf(crash_ep, sizeof crash_ep, "%s", s_view(&a, "node-crash")->state->endpoint);
    tmesh_run(loop, 300);
    assert_true(s_sees(&a, "node-crash", MESH_PEER_ALIVE));

    int64_t killed = zclock_mono();
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(s_wait_event(loop, &a, "node-crash", MESH_PEER_DEAD, 3000));
    const ev_t *sus = s_event(&a, "node-crash", MESH_PEER_SUSPECT);
    const ev_t *dead = s_event(&a, "node-crash", MESH_PEER_DEAD);
    assert_non_null(sus);
    assert_true(sus < dead); /* recorded in order */
    int64_t t_sus = sus->at - killed, t_dead = dead->at - killed;
    if (t_sus < S_SUSPECT - 250 || t_sus > S_SUSPECT + 400 || t_dead < S_DEAD - 250 ||
        t_dead > S_DEAD + 400)
        fail_msg("suspect after %lld ms, dead after %lld ms", (long long)t_sus, (long long)t_dead);
    assert_false(s_persisted(&a, "node-crash", NULL, true));

    /* forgotten after forget_ms: gone from the table and from the store */
    ev_wait_t w = {&a, "node-crash", MESH_PEER_DEAD};
    assert_true(tmesh_run_until(loop, s_forgot, &w, 3000));
    assert_null(s_view(&a, "node-crash"));
    assert_int_equal(mesh_peers(a.mesh, NULL, 0), 0);

    /* back with the same id, no seed, only what its store remembers */
    char known[128];
    snprintf(known, sizeof known, "%s@%s", tmesh_id("node-a"), seed);
    node_t again;
    s_node_start(loop, &again,
                 &(opts_t){.id = "node-crash", .secret = secret, .known = {known}, .n_known = 1});
    node_t *both[] = {&a, &again};
    s_join(loop, both, 2);
    assert_true(s_persisted(&again, "node-a", seed, false));
    assert_true(s_persisted(&a, "node-crash", mesh_endpoint(again.mesh), false));
    assert_string_not_equal(crash_ep, ""); /* (its old port, kept for the message above) */
    s_node_stop(&again);
    s_node_stop(&a);
}

/*  Killed and started again on another port before anyone suspected it: the
    others follow it to its new address at its first hello. */
static void test_fast_restart_elsewhere(void **state)
{
    zloop_t *loop = *state;
    char secret[33];
    s_random_secret(secret, sizeof secret);
    node_t a;
    s_node_start(loop, &a, &(opts_t){.id = "node-a", .secret = secret});
    char seed[64];
    snprintf(seed, sizeof seed, "%s", mesh_endpoint(a.mesh));
    pid_t pid = s_spawn_child("node-fast", seed, secret);
    bool joined = s_wait_event(loop, &a, "node-fast", MESH_PEER_ALIVE, 10000);
    int old_port = joined ? atoi(strrchr(s_view(&a, "node-fast")->state->endpoint, ':') + 1) : 0;
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(joined);
    /* its old port now belongs to something that never speaks ZeroMQ */
    int squatter = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(squatter >= 0);
    int one = 1;
    setsockopt(squatter, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)old_port)};
    sa.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(squatter, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(squatter, 8), 0);
    char known[128];
    snprintf(known, sizeof known, "%s@%s", tmesh_id("node-a"), seed);
    node_t again;
    s_node_start(loop, &again,
                 &(opts_t){.id = "node-fast", .secret = secret, .known = {known}, .n_known = 1});
    node_t *both[] = {&a, &again};
    s_join(loop, both, 2);
    assert_null(s_event(&a, "node-fast", MESH_PEER_DEAD));
    assert_string_equal(s_view(&a, "node-fast")->state->endpoint, mesh_endpoint(again.mesh));
    /* a's new link to it may take a moment: mesh_send says -1 until then */
    sender_t snd = {&a, "node-fast", &again, false};
    assert_true(tmesh_run_until(loop, s_send_cancel, &snd, 2000));
    tmesh_run(loop, S_SUSPECT + 200); /* and it stays alive both ways */
    assert_true(s_sees(&a, "node-fast", MESH_PEER_ALIVE));
    assert_true(s_sees(&again, "node-a", MESH_PEER_ALIVE));
    close(squatter);
    s_node_stop(&again);
    s_node_stop(&a);
}

/*  leave: the others see LEFT at once; the node comes back from its store. */
static void test_leave_and_restart_from_known(void **state)
{
    zloop_t *loop = *state;
    node_t a, b;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    char seed[64];
    snprintf(seed, sizeof seed, "%s", mesh_endpoint(a.mesh));
    s_node_start(loop, &b, &(opts_t){.id = "node-b", .seeds = {seed}, .n_seeds = 1});
    node_t *both[] = {&a, &b};
    s_join(loop, both, 2);

    int64_t t0 = zclock_mono();
    mesh_leave(b.mesh);
    assert_true(s_wait_event(loop, &a, "node-b", MESH_PEER_LEFT, 1000));
    assert_true(s_event(&a, "node-b", MESH_PEER_LEFT)->at - t0 < 150);
    assert_true(s_sees(&a, "node-b", MESH_PEER_LEFT));
    assert_true(s_view(&a, "node-b")->state->leaving);
    assert_int_equal(mesh_alive_count(a.mesh), 0);
    /* a left node is not sent to */
    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "r-1"};
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-b"), &cancel), -1);
    s_node_stop(&b);
    tmesh_run(loop, 100);
    assert_true(s_sees(&a, "node-b", MESH_PEER_LEFT)); /* no news from a left node */

    char known[128];
    snprintf(known, sizeof known, "%s@%s", tmesh_id("node-a"), seed);
    node_t b2;
    s_node_start(loop, &b2, &(opts_t){.id = "node-b", .known = {known}, .n_known = 1});
    node_t *again[] = {&a, &b2};
    s_join(loop, again, 2);
    assert_string_equal(s_view(&a, "node-b")->state->endpoint, mesh_endpoint(b2.mesh));
    assert_false(s_view(&a, "node-b")->state->leaving);
    assert_true(s_persisted(&a, "node-b", mesh_endpoint(b2.mesh), false));
    s_node_stop(&b2);
    s_node_stop(&a);
}

static bool s_got_fwd(void *arg)
{
    node_t *n = arg;
    return n->n_fwd > 0 && n->fwd[n->n_fwd - 1].type == WIRE_END;
}

/*  mesh_send: fwd, 300 chunks and end reach on_forward in order. */
static void test_send_in_order(void **state)
{
    zloop_t *loop = *state;
    node_t a, b;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    s_node_start(loop, &b,
                 &(opts_t){.id = "node-b", .seeds = {mesh_endpoint(a.mesh)}, .n_seeds = 1});
    node_t *both[] = {&a, &b};
    s_join(loop, both, 2);

    wire_msg_t fwd = {.type = WIRE_FWD,
                      .rid = "rid-1",
                      .model = "gpt-test",
                      .request = "{\"messages\":[]}",
                      .request_len = 15,
                      .stream = true,
                      .deadline_ms = 5000,
                      .attempt = 1};
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-b"), &fwd), 0);
    assert_null(fwd.from); /* the caller's struct is left as it was */
    for (uint64_t i = 0; i < 300; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "piece %llu", (unsigned long long)i);
        wire_delta_t d = {.kind = DELTA_TEXT, .text = text, .len = (size_t)len};
        wire_msg_t chunk = {
            .type = WIRE_CHUNK, .rid = "rid-1", .chunk_seq = i, .deltas = &d, .n_deltas = 1};
        assert_int_equal(mesh_send(a.mesh, tmesh_id("node-b"), &chunk), 0);
    }
    wire_msg_t end = {.type = WIRE_END,
                      .rid = "rid-1",
                      .finish_reason = "stop",
                      .prompt_tokens = 3,
                      .completion_tokens = 300};
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-b"), &end), 0);
    assert_true(tmesh_run_until(loop, s_got_fwd, &b, 3000));
    assert_int_equal(b.n_fwd, 302);
    assert_int_equal(b.fwd[0].type, WIRE_FWD);
    assert_string_equal(b.fwd[0].text, "{\"messages\":[]}");
    for (size_t i = 0; i < 300; i++) {
        char text[32];
        snprintf(text, sizeof text, "piece %zu", i);
        assert_int_equal(b.fwd[1 + i].type, WIRE_CHUNK);
        assert_int_equal(b.fwd[1 + i].seq, i);
        assert_string_equal(b.fwd[1 + i].text, text);
        assert_string_equal(b.fwd[1 + i].from, tmesh_id("node-a"));
        assert_string_equal(b.fwd[1 + i].rid, "rid-1");
    }
    /* refused: unknown peer, not a forwarding message, no message */
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-zzz"), &end), -1);
    wire_msg_t ping = {.type = WIRE_PING, .seq = 1};
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-b"), &ping), -1);
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-b"), NULL), -1);
    assert_int_equal(a.n_fwd, 0);
    s_node_stop(&b);
    s_node_stop(&a);
}

/*  A peer that does not read: mesh_send says -1 (back-pressure) instead of
    blocking or queueing without bound. */
static void test_send_backpressure(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    fake_t f;
    s_fake_new(&f, loop, "fake-slow", mesh_endpoint(a.mesh), false); /* its ROUTER is not read */
    zsock_set_rcvhwm(f.router, 10);
    s_fake_hello(&f, NULL);
    assert_true(s_wait_event(loop, &a, "fake-slow", MESH_PEER_ALIVE, 2000));
    size_t big = 16 * 1024;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, 'x', big);
    wire_delta_t d = {.kind = DELTA_TEXT, .text = text, .len = big};
    int rc = 0;
    size_t sent = 0;
    for (; sent < 20000 && rc == 0; sent++) {
        wire_msg_t chunk = {
            .type = WIRE_CHUNK, .rid = "rid-2", .chunk_seq = sent, .deltas = &d, .n_deltas = 1};
        rc = mesh_send(a.mesh, tmesh_id("fake-slow"), &chunk);
    }
    free(text);
    assert_int_equal(rc, -1);
    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    assert_true(st.send_full >= 1);
    s_node_stop(&a);
    s_fake_destroy(&f);
}

/*  Different secrets never meet; each side says so once. Same secret: CURVE
    nodes join as usual. */
static void test_curve_secrets(void **state)
{
    zloop_t *loop = *state;
    node_t a, b, c;
    s_node_start(loop, &a, &(opts_t){.id = "node-a", .secret = "alpha-secret"});
    char seed[64];
    snprintf(seed, sizeof seed, "%s", mesh_endpoint(a.mesh));
    s_node_start(
        loop, &c,
        &(opts_t){.id = "node-c", .secret = "alpha-secret", .seeds = {seed}, .n_seeds = 1});
    node_t *ac[] = {&a, &c};
    s_join(loop, ac, 2);
    s_node_start(loop, &b,
                 &(opts_t){.id = "node-b", .secret = "beta-secret", .seeds = {seed}, .n_seeds = 1});
    tmesh_run(loop, 2500);
    assert_null(s_view(&a, "node-b"));
    assert_null(s_view(&c, "node-b"));
    assert_int_equal(mesh_peers(b.mesh, NULL, 0), 0);
    assert_true(s_sees(&a, "node-c", MESH_PEER_ALIVE));
    char line[128];
    snprintf(line, sizeof line, "peer at %s rejected our CURVE handshake", seed);
    assert_int_equal(s_log_count(line), 1);
    assert_int_equal(s_log_count("different --mesh-secret?"), 2);
    assert_int_equal(s_log_count("failed our CURVE handshake"), 1);
    mesh_stats_t sa, sb;
    mesh_stats(a.mesh, &sa);
    mesh_stats(b.mesh, &sb);
    assert_true(sa.curve_rejected >= 1 && sb.curve_rejected >= 1);
    s_node_stop(&b);
    s_node_stop(&c);
    s_node_stop(&a);
}

/*  A CURVE client holding our public key but another key pair: ZAP says no. */
static void test_curve_zap_allow_list(void **state)
{
    zloop_t *loop = *state;
    node_t a, c;
    s_node_start(loop, &a, &(opts_t){.id = "node-a", .secret = "alpha-secret"});
    /* the ZAP handler is up: a node with the secret gets in */
    s_node_start(loop, &c,
                 &(opts_t){.id = "node-c",
                           .secret = "alpha-secret",
                           .seeds = {mesh_endpoint(a.mesh)},
                           .n_seeds = 1});
    node_t *ac[] = {&a, &c};
    s_join(loop, ac, 2);
    zcert_t *other = zcert_new(); /* a key pair that is not a's */
    zsock_t *d = zsock_new(ZMQ_DEALER);
    zsock_set_linger(d, 0);
    zsock_set_identity(d, "intruder");
    zcert_apply(other, d);
    /* derive a's public key exactly as the mesh does */
    uint8_t seed[32], pk[32], sk[32];
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, 32);
    crypto_generichash_update(&hs, (const uint8_t *)"arenamesh-curve-v1", 18);
    crypto_generichash_update(&hs, (const uint8_t *)"alpha-secret", 12);
    crypto_generichash_final(&hs, seed, 32);
    crypto_box_seed_keypair(pk, sk, seed);
    char pk_txt[41];
    zmq_z85_encode(pk_txt, pk, 32);
    zsock_set_curve_serverkey(d, pk_txt);
    assert_int_equal(zsock_connect(d, "tcp://%s", mesh_endpoint(a.mesh)), 0);
    zstr_send(d, "not even msgpack");
    tmesh_run(loop, 500);
    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    assert_int_equal(st.malformed, 0); /* never got past the handshake */
    assert_true(st.curve_rejected >= 1);
    zsock_destroy(&d);
    zcert_destroy(&other);
    s_node_stop(&c);
    s_node_stop(&a);
}

/*  No secret: refused (the mesh port is never open). The machine's own
    secret (local_only): nothing but loopback; bad configuration is refused. */
static void test_refusals(void **state)
{
    zloop_t *loop = *state;
    node_t n;
    memset(&n, 0, sizeof n);
    snprintf(n.id, sizeof n.id, "node-r");
    mesh_config_t c;
    struct {
        const char *bind, *advertise, *seed, *secret, *id;
        int suspect, dead;
        bool ok;
    } cases[] = {
        {"127.0.0.1", NULL, NULL, NULL, "node-r", 0, 0, true},
        {"0.0.0.0", NULL, NULL, NULL, "node-r", 0, 0, false},
        {"127.0.0.1", "10.0.0.1:5104", NULL, NULL, "node-r", 0, 0, false},
        {"127.0.0.1", NULL, "192.168.1.2:5104", NULL, "node-r", 0, 0, false},
        {"0.0.0.0", "10.0.0.1:0", "192.168.1.2:5104", "s3cret", "node-r", 0, 0, true},
        {"127.0.0.1", NULL, "localhost;evil:1", NULL, "node-r", 0, 0, false},
        {"127.0.0.1", NULL, "127.0.0.1:0", NULL, "node-r", 0, 0, false},
        {"127.0.0.1", "nohostport", NULL, NULL, "node-r", 0, 0, false},
        {"127.0.0.1", NULL, NULL, "", "node-r", 0, 0, false},
        {"127.0.0.1", NULL, NULL, NULL, "has space", 0, 0, false},
        {"127.0.0.1", NULL, NULL, NULL, "", 0, 0, false},
        {"127.0.0.1", NULL, NULL, NULL, "node-s", 0, 0, false}, /* not the key's id */
        {"127.0.0.1", NULL, NULL, NULL, "node-r", 500, 400, false},
        {"127.0.0.1", NULL, NULL, NULL, "node-r", -1, 0, false},
        {"::1", NULL, NULL, NULL, "node-r", 0, 0, true},
        {"127.0.0.1", NULL, NULL, "(none)", "node-r", 0, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_log_clear();
        opts_t o = {.id = cases[i].id, .secret = cases[i].secret};
        if (cases[i].seed) {
            o.seeds[0] = cases[i].seed;
            o.n_seeds = 1;
        }
        s_cfg(&c, &n, &o);
        if (o.secret && streq(o.secret, "(none)"))
            c.secret = NULL; /* no unauthenticated mesh, even on loopback */
        /* the key is node-r's: its id passes, any other id is refused */
        c.node_id = streq(cases[i].id, "node-r") ? tmesh_id("node-r") : cases[i].id;
        c.sign_key = tmesh_key("node-r");
        c.bind_host = cases[i].bind;
        c.advertise = cases[i].advertise;
        c.suspect_ms = cases[i].suspect;
        c.dead_ms = cases[i].dead;
        mesh_t *m = mesh_new(&c, loop);
        if (cases[i].ok != (m != NULL))
            fail_msg("case %zu: expected %s", i, cases[i].ok ? "success" : "refusal");
        if (m && cases[i].advertise)
            assert_int_equal(strncmp(mesh_endpoint(m), "10.0.0.1:", 9), 0);
        if (!m && !cases[i].secret && i >= 1 && i <= 3)
            assert_int_equal(s_log_count("refusing a non-loopback mesh with this machine's own"),
                             1);
        mesh_destroy(&m);
        assert_null(m);
    }
    assert_null(mesh_new(NULL, loop));
    mesh_destroy(NULL);
}

/*  Hostile bytes at the ROUTER: counted, dropped, the mesh carries on. */
static void test_hostile_input(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    const char *ep = mesh_endpoint(a.mesh);

    /* an unknown identity: garbage, huge lengths, a well-formed digest */
    fake_t x;
    s_fake_new(&x, loop, "stranger", ep, true);
    static const uint8_t garbage[] = {0xc1, 0xff, 0x00, 0x13, 0x37};
    static const uint8_t huge_str[] = {0x81, 0xa1, 't', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'};
    static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v'};
    static const uint8_t huge_arr[] = {0x83, 0xa1, 'v',  0x01, 0xa1, 't',
                                       0xdd, 0x7f, 0xff, 0xff, 0xff};
    s_fake_raw(&x, garbage, sizeof garbage);
    s_fake_raw(&x, huge_str, sizeof huge_str);
    s_fake_raw(&x, huge_map, sizeof huge_map);
    s_fake_raw(&x, huge_arr, sizeof huge_arr);
    s_fake_raw(&x, "", 0);
    zstr_sendx(x.dealer, "two", "frames", NULL);
    wire_version_t v = {.id = (char *)tmesh_id("node-a"), .version = 1};
    wire_msg_t digest = {.type = WIRE_DIGEST, .versions = &v, .n_versions = 1};
    s_fake_send(&x, &digest);
    wire_msg_t liar = {
        .type = WIRE_DIGEST, .from = (char *)tmesh_id("node-a"), .versions = &v, .n_versions = 1};
    s_fake_send(&x, &liar); /* "from" is not its identity */
    /* a hello advertising an address we may not dial without a secret */
    s_fake_hello(&x, "10.9.9.9:5104");
    tmesh_run(loop, 300);
    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    assert_true(st.malformed >= 7);
    assert_true(st.dropped >= 2);
    assert_null(s_view(&a, "stranger"));
    assert_null(s_fake_got(&x, WIRE_DELTA, 0)); /* no answer to an unknown digest */

    /* an unknown node that pings us is asked to introduce itself */
    wire_msg_t ping = {.type = WIRE_PING, .seq = 9};
    s_fake_send(&x, &ping);
    const wire_msg_t *hello = s_fake_wait(&x, WIRE_HELLO, 0, 1000);
    assert_non_null(hello);
    assert_string_equal(hello->states[0].id, tmesh_id("node-a"));
    assert_string_equal(hello->states[0].endpoint, ep);

    /* a known peer that sends garbage: counted against it, still served */
    fake_t k;
    s_fake_new(&k, loop, "known-bad", ep, true);
    s_fake_hello(&k, NULL);
    assert_true(s_wait_event(loop, &a, "known-bad", MESH_PEER_ALIVE, 2000));
    mesh_stats(a.mesh, &st);
    uint64_t before = st.malformed;
    s_fake_raw(&k, huge_map, sizeof huge_map);
    s_fake_raw(&k, garbage, sizeof garbage);
    /* raw TCP junk that is not even ZMTP */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mesh_port(a.mesh))};
    sa.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff";
    assert_true(write(fd, junk, sizeof junk) > 0);
    tmesh_run(loop, 300);
    close(fd);
    mesh_stats(a.mesh, &st);
    assert_int_equal(st.malformed, before + 2);

    /* and the mesh still works: a real node joins */
    node_t b;
    s_node_start(loop, &b, &(opts_t){.id = "node-b", .seeds = {ep}, .n_seeds = 1});
    node_t *both[] = {&a, &b};
    s_join(loop, both, 2);
    s_node_stop(&b);
    s_node_stop(&a);
    s_fake_destroy(&k);
    s_fake_destroy(&x);
}

static uint64_t s_stat_sum(node_t **nodes, size_t n, size_t offset)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        mesh_stats_t st;
        mesh_stats(nodes[i]->mesh, &st);
        sum += *(const uint64_t *)((const char *)&st + offset);
    }
    return sum;
}

#define S_STAT(nodes, n, field) s_stat_sum(nodes, n, offsetof(mesh_stats_t, field))

typedef struct {
    node_t *n;
    size_t offset;
    uint64_t base;
} stat_wait_t;

/*  The counter at offset moved past base. */
static bool s_stat_moved(void *arg)
{
    stat_wait_t *w = arg;
    node_t *nodes[] = {w->n};
    return s_stat_sum(nodes, 1, w->offset) > w->base;
}

/*  What a mesh answers a digest with: states the asker lacks, cooldowns aged
    by the time the state spent here; second-hand states only when newer, and
    never our own. */
static void test_delta_rules(void **state)
{
    zloop_t *loop = *state;
    node_t a, b;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    const char *ep = mesh_endpoint(a.mesh);
    s_node_start(loop, &b, &(opts_t){.id = "node-b", .seeds = {ep}, .n_seeds = 1});
    node_t *both[] = {&a, &b};
    s_join(loop, both, 2);
    wire_state_t st;
    wire_model_t m;
    s_state(&st, "node-b", &m, 10000);
    mesh_set_local(b.mesh, &st, true);
    seen_t s = {(node_t *[]){&a}, 1, "node-b", 1, 1};
    assert_true(tmesh_run_until(loop, s_all_see_state, &s, 1000));
    int64_t t_set = zclock_mono();

    fake_t f;
    s_fake_new(&f, loop, "fake-asker", ep, true);
    s_fake_hello(&f, NULL);
    assert_true(s_wait_event(loop, &a, "fake-asker", MESH_PEER_ALIVE, 2000));
    tmesh_run(loop, 300);
    size_t mark = f.n_rx;
    wire_version_t unknown = {.id = (char *)tmesh_id("node-zzz"), .version = 5};
    wire_msg_t asks = {.type = WIRE_DIGEST, .versions = &unknown, .n_versions = 1};
    s_fake_send(&f, &asks);
    const wire_msg_t *d = s_fake_wait(&f, WIRE_DELTA, mark, 1000);
    assert_non_null(d);
    const wire_state_t *of_b = NULL, *of_a = NULL;
    for (size_t i = 0; i < d->n_states; i++) {
        if (streq(d->states[i].id, tmesh_id("node-b")))
            of_b = &d->states[i];
        if (streq(d->states[i].id, tmesh_id("node-a")))
            of_a = &d->states[i];
    }
    assert_non_null(of_a);
    assert_non_null(of_b);
    int64_t expect = 10000 - (zclock_mono() - t_set);
    /* b's own words, signed, and the age they had when a sent them */
    int64_t got = of_b->models[0].cooled_remaining_ms - of_b->age_ms;
    if (got > expect + 60 || got < expect - 200)
        fail_msg("relayed cooldown %lld, expected about %lld", (long long)got, (long long)expect);
    /* it holds a node we lack: a asks back with its own digest */
    assert_non_null(s_fake_wait(&f, WIRE_DIGEST, mark, 1000));

    /* Relayed states of a quiet node (a second fake, at version 5): an
       older one is ignored, a newer one taken. */
    fake_t q;
    s_fake_new(&q, loop, "fake-quiet", ep, true);
    wire_model_t qm;
    wire_state_t qs;
    s_state(&qs, "quiet", &qm, 0);
    qs.id = q.id;
    qs.endpoint = q.ep;
    qs.version = 5;
    wire_msg_t qhello = {.type = WIRE_HELLO, .states = &qs, .n_states = 1};
    s_fake_send(&q, &qhello);
    assert_true(s_wait_event(loop, &a, "fake-quiet", MESH_PEER_ALIVE, 2000));
    struct {
        uint64_t version;
        uint32_t tabs, expect;
    } relays[] = {{4, 99, 1}, {5, 98, 1}, {6, 42, 42}, {3, 97, 42}};
    for (size_t i = 0; i < sizeof relays / sizeof relays[0]; i++) {
        qs.version = relays[i].version;
        qs.tabs = relays[i].tabs;
        wire_msg_t relay = {.type = WIRE_DELTA, .states = &qs, .n_states = 1};
        s_fake_send(&f, &relay); /* from fake-asker: second-hand */
        tmesh_run(loop, 100);
        assert_int_equal(s_view(&a, "fake-quiet")->state->tabs, relays[i].expect);
    }
    s_fake_destroy(&q);

    /* A relayed state of b with a higher version and other contents is
       not b's word: signed by the relay (b's id, the relay's key) or
       carrying b's key and signature over other bytes, it is refused and
       counted, and a keeps b's own state. (Before states were signed, a
       took it and b had to move past it.) */
    uint64_t bver = s_view(&a, "node-b")->state->version;
    mesh_stats_t s0, s1;
    mesh_stats(a.mesh, &s0);
    for (int variant = 0; variant < 2; variant++) {
        wire_state_t fake_b;
        assert_int_equal(wire_state_copy(&fake_b, of_b), 0);
        fake_b.version = bver + 1000;
        fake_b.tabs = 42;
        assert_int_equal(wire_state_seal(&fake_b, tmesh_key("fake-asker")), 0);
        if (variant == 1)
            memcpy(fake_b.pk, of_b->pk, sizeof fake_b.pk); /* b's key, a wrong signature */
        wire_msg_t delta = {.type = WIRE_DELTA, .states = &fake_b, .n_states = 1};
        s_fake_send(&f, &delta);
        wire_state_clear(&fake_b);
    }
    stat_wait_t forged = {&a, offsetof(mesh_stats_t, forged), s0.forged + 1};
    assert_true(tmesh_run_until(loop, s_stat_moved, &forged, 2000));
    tmesh_run(loop, 100);
    mesh_stats(a.mesh, &s1);
    assert_int_equal(s1.forged - s0.forged, 2);
    assert_true(s_view(&a, "node-b")->state->version < bver + 1000);
    assert_int_equal(s_view(&a, "node-b")->state->tabs, 1);

    /* our own state, altered and re-signed by another: refused too, and we
       do not move past it (only our own signed states can move us) */
    wire_state_t fake_a;
    assert_int_equal(wire_state_copy(&fake_a, of_a), 0);
    fake_a.version = of_a->version + 5000;
    fake_a.tabs = 77;
    assert_int_equal(wire_state_seal(&fake_a, tmesh_key("fake-asker")), 0);
    wire_msg_t delta_a = {.type = WIRE_DELTA, .states = &fake_a, .n_states = 1};
    mark = f.n_rx;
    s_fake_send(&f, &delta_a);
    tmesh_run(loop, 300);
    mesh_stats(a.mesh, &s0);
    assert_int_equal(s0.forged - s1.forged, 1);
    for (size_t i = mark; i < f.n_rx; i++)
        for (size_t j = 0; j < f.rx[i].n_states; j++)
            assert_true(f.rx[i].states[j].version < fake_a.version);
    wire_state_clear(&fake_a);

    s_fake_destroy(&f);
    s_node_stop(&b);
    s_node_stop(&a);
}

/*  What a fake has received since mark: delta messages, and the big states
    of node-a and node-b among them (each must come whole, in one delta). */
typedef struct {
    fake_t *f;
    size_t mark;
    uint32_t n_models; /* each state's */
    size_t deltas, got_a, got_b;
} split_t;

static void s_split_count(split_t *sp)
{
    sp->deltas = sp->got_a = sp->got_b = 0;
    for (size_t i = sp->mark; i < sp->f->n_rx; i++) {
        if (sp->f->rx[i].type != WIRE_DELTA)
            continue;
        sp->deltas++;
        for (size_t j = 0; j < sp->f->rx[i].n_states; j++) {
            const wire_state_t *x = &sp->f->rx[i].states[j];
            assert_int_equal(x->n_models, sp->n_models);
            sp->got_a += streq(x->id, tmesh_id("node-a"));
            sp->got_b += streq(x->id, tmesh_id("node-b"));
        }
    }
}

static bool s_split_done(void *arg)
{
    split_t *sp = arg;
    s_split_count(sp);
    return sp->got_a >= 1 && sp->got_b >= 1;
}

/*  States too big to share one message: a delta is split in several. */
static void test_delta_split(void **state)
{
    zloop_t *loop = *state;
    enum { NM = 1000 };
    static wire_model_t models[NM];
    static char names[NM][257], ids[NM][257];
    for (size_t i = 0; i < NM; i++) {
        snprintf(names[i], sizeof names[i], "%0255zu", i);
        snprintf(ids[i], sizeof ids[i], "%0255zu", i + NM);
        models[i] = (wire_model_t){.name = names[i],
                                   .arena_id = ids[i],
                                   .modality = "chat",
                                   .reason = names[i],
                                   .cooled_remaining_ms = 60000};
    }
    node_t a, b;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    const char *ep = mesh_endpoint(a.mesh);
    s_node_start(loop, &b, &(opts_t){.id = "node-b", .seeds = {ep}, .n_seeds = 1});
    node_t *both[] = {&a, &b};
    s_join(loop, both, 2);
    wire_state_t st;
    wire_model_t m;
    s_state(&st, "node-a", &m, 0);
    st.models = models;
    st.n_models = NM;
    mesh_set_local(a.mesh, &st, true);
    st.name = "node-b";
    mesh_set_local(b.mesh, &st, true);
    fake_t f;
    s_fake_new(&f, loop, "fake-big", ep, true);
    s_fake_hello(&f, NULL);
    assert_true(s_wait_event(loop, &a, "fake-big", MESH_PEER_ALIVE, 2000));
    tmesh_run(loop, 300); /* a has b's big state by now */
    const mesh_peer_view_t *vb = s_view(&a, "node-b");
    assert_non_null(vb);
    assert_int_equal(vb->state->n_models, NM);
    split_t sp = {&f, f.n_rx, NM, 0, 0, 0};
    wire_msg_t empty = {.type = WIRE_DIGEST};
    s_fake_send(&f, &empty);
    assert_true(tmesh_run_until(loop, s_split_done, &sp, 5000)); /* both states arrived */
    tmesh_run(loop, 200);                                        /* and nothing more follows */
    s_split_count(&sp);
    assert_true(sp.deltas >= 2);
    assert_int_equal(sp.got_a, 1);
    assert_int_equal(sp.got_b, 1);
    s_fake_destroy(&f);
    s_node_stop(&b);
    s_node_stop(&a);
}

/*  A local state the wire format cannot carry is refused, the old one kept. */
static void test_local_state_refused(void **state)
{
    zloop_t *loop = *state;
    node_t a, b;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    s_node_start(loop, &b,
                 &(opts_t){.id = "node-b", .seeds = {mesh_endpoint(a.mesh)}, .n_seeds = 1});
    node_t *both[] = {&a, &b};
    s_join(loop, both, 2);
    uint64_t version = s_view(&b, "node-a")->state->version;
    wire_state_t st;
    wire_model_t m;
    s_state(&st, "node-a", &m, 0);
    m.name = ""; /* a model name must not be empty */
    st.tabs = 9;
    mesh_set_local(a.mesh, &st, true);
    char long_name[WIRE_MAX_NAME + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    s_state(&st, long_name, &m, 0);
    st.tabs = 9;
    mesh_set_local(a.mesh, &st, true);
    tmesh_run(loop, 200);
    assert_true(s_view(&b, "node-a")->state->version == version);
    assert_int_equal(s_view(&b, "node-a")->state->tabs, 1);
    assert_true(s_log_count("wire format cannot carry") >= 1);
    /* NULL name and http keep the earlier ones */
    s_state(&st, NULL, &m, 0);
    st.http = NULL;
    st.tabs = 5;
    mesh_set_local(a.mesh, &st, true);
    seen_t s = {(node_t *[]){&b}, 1, "node-a", 5, -1};
    assert_true(tmesh_run_until(loop, s_all_see_state, &s, 1000));
    assert_string_equal(s_view(&b, "node-a")->state->name, "node-a");
    assert_string_equal(s_view(&b, "node-a")->state->http, "http://127.0.0.1:1");
    s_node_stop(&b);
    s_node_stop(&a);
}

/*  A node pinged after a long silence assumes it is suspected: it bumps its
    incarnation and pushes its state. */
static void test_refutation(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    fake_t f;
    s_fake_new(&f, loop, "fake-quiet", mesh_endpoint(a.mesh), true);
    s_fake_hello(&f, NULL);
    const wire_msg_t *d = s_fake_wait(&f, WIRE_DELTA, 0, 2000); /* a's answer to the hello */
    assert_non_null(d);
    uint64_t inc = d->states[0].incarnation, ver = d->states[0].version;
    assert_true(s_wait_event(loop, &a, "fake-quiet", MESH_PEER_ALIVE, 2000));
    f.auto_ack = false;
    assert_true(s_wait_event(loop, &a, "fake-quiet", MESH_PEER_SUSPECT, 2000));
    size_t mark = f.n_rx;
    wire_msg_t ping = {.type = WIRE_PING, .seq = 1};
    s_fake_send(&f, &ping);
    const wire_msg_t *push = s_fake_wait(&f, WIRE_PUSH, mark, 3000);
    assert_non_null(push);
    assert_int_equal(push->states[0].incarnation, inc + 1);
    assert_true(push->states[0].version > ver);
    assert_non_null(s_fake_got(&f, WIRE_ACK, mark));
    assert_true(s_sees(&a, "fake-quiet", MESH_PEER_ALIVE));
    s_node_stop(&a);
    s_fake_destroy(&f);
}

/* ------------------------------------------------------------ unreachable */

/*  A loopback port where nothing listens: bound (so that nothing else takes
    it meanwhile) but never listening, so every dial is refused. */
static int s_dead_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static size_t s_digests_from(const fake_t *f, size_t mark, const char *listing, size_t *listed)
{
    size_t n = 0;
    *listed = 0;
    for (size_t i = mark; i < f->n_rx; i++) {
        if (f->rx[i].type != WIRE_DIGEST)
            continue;
        n++;
        for (size_t j = 0; j < f->rx[i].n_versions; j++)
            *listed += streq(f->rx[i].versions[j].id, tmesh_id(listing));
    }
    return n;
}

/*  A peer only another member reports, at an address where nothing listens:
    hidden for suspect_ms, then shown unreachable with one warning, never a
    target. It stays so while that member keeps reporting it: with a's
    gossip slowed down to a minute (one round at its start, before any of
    this), what keeps it are a's digests to the reporter, which leave it
    out (and are at most one per ping_ms). Once the reporter stops, it is
    dead within dead_ms, and never stored. A peer the reporter names only
    in its hello is shown too, without a state, and dies after dead_ms as
    nothing reports it again. */
static void test_unreachable_reported(void **state)
{
    zloop_t *loop = *state;
    int hole_fd;
    char hole[64];
    snprintf(hole, sizeof hole, "127.0.0.1:%d", s_dead_port(&hole_fd));
    node_t a;
    s_node_start(loop, &a, &(opts_t){.id = "node-a", .gossip_ms = 60000});
    fake_t f;
    s_fake_new(&f, loop, "fake-r", mesh_endpoint(a.mesh), true);
    s_fake_hello(&f, NULL);
    assert_true(s_wait_event(loop, &a, "fake-r", MESH_PEER_ALIVE, 2000));

    wire_model_t gm;
    wire_state_t gs;
    s_state(&gs, "ghost", &gm, 0);
    gs.id = (char *)tmesh_id("node-ghost");
    gs.endpoint = hole;
    gs.version = gs.incarnation = 7;
    wire_msg_t relay = {.type = WIRE_DELTA, .states = &gs, .n_states = 1};
    f.vouch = &gs;
    int64_t t0 = zclock_mono();
    s_fake_send(&f, &relay);
    wire_model_t fm;
    wire_state_t fs;
    s_state(&fs, "fake", &fm, 0);
    fs.id = f.id;
    fs.endpoint = f.ep;
    fs.version = fs.incarnation = 1;
    wire_peer_ref_t bare = {.id = (char *)tmesh_id("node-bare"), .endpoint = hole};
    wire_msg_t hello = {
        .type = WIRE_HELLO, .states = &fs, .n_states = 1, .peers = &bare, .n_peers = 1};
    s_fake_send(&f, &hello);
    tmesh_run(loop, S_SUSPECT / 2);
    assert_null(s_view(&a, "node-ghost")); /* hidden while we try */
    assert_null(s_view(&a, "node-bare"));
    assert_true(s_wait_event(loop, &a, "node-ghost", MESH_PEER_UNREACHABLE, 2000));
    int64_t took = s_event(&a, "node-ghost", MESH_PEER_UNREACHABLE)->at - t0;
    if (took < S_SUSPECT || took > S_SUSPECT + S_SLACK)
        fail_msg("unreachable after %lld ms", (long long)took);
    const mesh_peer_view_t *v = s_view(&a, "node-ghost");
    assert_non_null(v);
    assert_int_equal(v->liveness, MESH_PEER_UNREACHABLE);
    assert_string_equal(mesh_liveness_name(v->liveness), "unreachable");
    assert_string_equal(v->endpoint, hole);
    assert_string_equal(v->reported_by, tmesh_id("fake-r"));
    assert_int_equal(v->age_ms, -1); /* never heard directly */
    assert_non_null(v->state);
    assert_string_equal(v->state->name, "ghost");
    assert_true(s_wait_event(loop, &a, "node-bare", MESH_PEER_UNREACHABLE, 500));
    v = s_view(&a, "node-bare");
    assert_null(v->state); /* only its id and address reached us */
    assert_string_equal(v->endpoint, hole);
    assert_string_equal(v->reported_by, tmesh_id("fake-r"));
    assert_int_equal(mesh_peers(a.mesh, NULL, 0), 3);
    assert_int_equal(mesh_alive_count(a.mesh), 1);
    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "r-1"};
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-ghost"), &cancel), -1);
    char line[256];
    snprintf(line, sizeof line, "peer ghost (%s) at %s (reported by fake (%s)) has not answered in",
             tmesh_id("node-ghost"), hole, tmesh_id("fake-r"));
    assert_int_equal(s_log_count(line), 1);
    snprintf(line, sizeof line,
             "check that this machine can reach %s (firewall, VPN, that node's --advertise)", hole);
    assert_int_equal(s_log_count(line), 2); /* node-ghost's and node-bare's */

    snprintf(line, sizeof line, "peer %s at %s (reported by fake (%s))", tmesh_id("node-bare"),
             hole, tmesh_id("fake-r"));
    assert_int_equal(s_log_count(line), 1);

    /* still reported: still unreachable, well past dead_ms, no new warning;
       node-bare, named once, is dead by then */
    size_t mark = f.n_rx, listed;
    int64_t run_at = zclock_mono();
    tmesh_run(loop, S_DEAD + S_SUSPECT);
    int64_t ran = zclock_mono() - run_at; /* a loaded machine runs the loop longer */
    assert_true(s_sees(&a, "node-ghost", MESH_PEER_UNREACHABLE));
    assert_true(s_sees(&a, "node-bare", MESH_PEER_DEAD));
    size_t asks = s_digests_from(&f, mark, "node-ghost", &listed);
    if (asks < 2 || asks > (size_t)(ran / S_PING) + 2)
        fail_msg("%zu digests to the reporter in %lld ms (one per %d ms at most)", asks,
                 (long long)ran, S_PING);
    assert_int_equal(listed, 0); /* a does not vouch for what it cannot reach */
    assert_int_equal(s_log_count("has not answered in"), 2);

    /* the reporter no longer reports it: dead within dead_ms */
    f.vouch = NULL;
    int64_t t1 = zclock_mono();
    assert_true(s_wait_event(loop, &a, "node-ghost", MESH_PEER_DEAD, 3000));
    took = s_event(&a, "node-ghost", MESH_PEER_DEAD)->at - t1;
    if (took > S_DEAD + S_SLACK)
        fail_msg("dead %lld ms after the last report", (long long)took);
    assert_true(s_sees(&a, "node-ghost", MESH_PEER_DEAD)); /* listed until forgotten */
    assert_false(s_persisted(&a, "node-ghost", NULL, false));
    assert_true(s_sees(&a, "fake-r", MESH_PEER_ALIVE));
    s_node_stop(&a);
    s_fake_destroy(&f);
    close(hole_fd);
}

typedef struct {
    node_t *a, *b;
    const char *id;
} both_see_t;

static bool s_both_unreachable(void *arg)
{
    both_see_t *w = arg;
    return s_sees(w->a, w->id, MESH_PEER_UNREACHABLE) && s_sees(w->b, w->id, MESH_PEER_UNREACHABLE);
}

/*  c advertises an address where nothing listens and joins through b; a
    joins through b too. b hears c but cannot dial it back; a learns of c
    from b only. Both show c unreachable (with its address, one warning
    each), never as a target, as long as c runs. Started again with a right
    address, c is alive everywhere and reachable. */
static void test_unreachable_then_fixed(void **state)
{
    zloop_t *loop = *state;
    int hole_fd;
    char hole[64], seed[64];
    snprintf(hole, sizeof hole, "127.0.0.1:%d", s_dead_port(&hole_fd));
    node_t a, b, c;
    s_node_start(loop, &b, &(opts_t){.id = "node-b"});
    snprintf(seed, sizeof seed, "%s", mesh_endpoint(b.mesh));
    s_node_start(loop, &c,
                 &(opts_t){.id = "node-c", .advertise = hole, .seeds = {seed}, .n_seeds = 1});
    assert_string_equal(mesh_endpoint(c.mesh), hole);
    s_node_start(loop, &a, &(opts_t){.id = "node-a", .seeds = {seed}, .n_seeds = 1});
    both_see_t w = {&a, &b, "node-c"};
    assert_true(tmesh_run_until(loop, s_both_unreachable, &w, 3000));
    assert_true(s_sees(&a, "node-b", MESH_PEER_ALIVE));
    const mesh_peer_view_t *vb = s_view(&b, "node-c");
    assert_null(vb->reported_by); /* it speaks to b itself */
    assert_true(vb->age_ms >= 0 && vb->age_ms < S_SUSPECT);
    assert_string_equal(vb->endpoint, hole);
    assert_string_equal(vb->state->endpoint, hole);
    const mesh_peer_view_t *va = s_view(&a, "node-c");
    assert_string_equal(va->reported_by, tmesh_id("node-b"));
    assert_string_equal(va->endpoint, hole);
    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "r-1"};
    assert_int_equal(mesh_send(a.mesh, tmesh_id("node-c"), &cancel), -1);
    assert_int_equal(mesh_send(b.mesh, tmesh_id("node-c"), &cancel), -1);
    assert_int_equal(mesh_alive_count(a.mesh), 1);
    assert_int_equal(mesh_alive_count(b.mesh), 1);
    char seen_by_b[200], seen_by_a[200];
    snprintf(seen_by_b, sizeof seen_by_b,
             "peer node-c (%s) reaches us, but our link to it at %s has not come up in",
             tmesh_id("node-c"), hole);
    snprintf(seen_by_a, sizeof seen_by_a,
             "peer node-c (%s) at %s (reported by node-b (%s)) has not answered in",
             tmesh_id("node-c"), hole, tmesh_id("node-b"));
    assert_int_equal(s_log_count(seen_by_b), 1);
    assert_int_equal(s_log_count(seen_by_a), 1);
    tmesh_run(loop, S_DEAD + 100); /* it runs, so it stays unreachable: no dead, no new warning */
    assert_true(s_both_unreachable(&w));
    assert_null(s_event(&a, "node-c", MESH_PEER_DEAD));
    assert_null(s_event(&b, "node-c", MESH_PEER_DEAD));
    assert_int_equal(s_log_count(seen_by_b) + s_log_count(seen_by_a), 2);
    assert_false(s_persisted(&a, "node-c", NULL, false));

    /* fixed: started again with an address that works */
    s_node_stop(&c);
    s_node_start(loop, &c, &(opts_t){.id = "node-c", .seeds = {seed}, .n_seeds = 1});
    node_t *all[] = {&a, &b, &c};
    s_join(loop, all, 3);
    char reachable[128];
    snprintf(reachable, sizeof reachable, "peer node-c (%s) is reachable at", tmesh_id("node-c"));
    assert_int_equal(s_log_count(reachable), 2);
    assert_true(s_event(&a, "node-c", MESH_PEER_UNREACHABLE) <
                s_event(&a, "node-c", MESH_PEER_ALIVE));
    assert_string_equal(s_view(&a, "node-c")->endpoint, mesh_endpoint(c.mesh));
    assert_null(s_view(&a, "node-c")->reported_by);
    assert_true(s_persisted(&a, "node-c", mesh_endpoint(c.mesh), false));
    sender_t snd = {&a, "node-c", &c, false};
    assert_true(tmesh_run_until(loop, s_send_cancel, &snd, 2000));
    s_node_stop(&a);
    s_node_stop(&c);
    s_node_stop(&b);
    close(hole_fd);
}

/* ------------------------------------------------------ indirect probes */

/*  A raw member: its inbox (the nodes dial it) and a DEALER to each node it
    joins, speaking the wire format directly. It answers the pings of the
    nodes it is told to, answers a ping-req as its mode says (it never
    probes anyone), and logs every ping, ack and ping-req it gets. */
#define S_RAW_TO 4
#define S_RAW_LOG 2048

typedef enum {
    RAW_MUTE,  /* a ping-req gets nothing */
    RAW_ECHO,  /* a ping-req gets an ack with its seq (the target "answered") */
    RAW_WRONG, /* an ack with a seq never sent */
    RAW_STALE, /* an ack with the seq of the ping-req before */
} raw_mode_t;

typedef struct {
    wire_type_t type;
    char from[WIRE_MAX_ID + 1];
    char target[WIRE_MAX_ID + 1];
    uint64_t seq;
} raw_rx_t;

typedef struct {
    char id[WIRE_MAX_ID + 1];
    zloop_t *loop;
    zsock_t *router;
    char ep[64];
    zsock_t *dealer[S_RAW_TO];
    char to[S_RAW_TO][WIRE_MAX_ID + 1];
    bool ack[S_RAW_TO]; /* answers the pings of to[i] */
    size_t n_to;
    raw_mode_t mode;
    uint64_t last_req; /* RAW_STALE: the previous ping-req's seq */
    raw_rx_t rx[S_RAW_LOG];
    size_t n_rx;
} raw_t;

static int s_raw_index(const raw_t *r, const char *id)
{
    for (size_t i = 0; i < r->n_to; i++)
        if (streq(r->to[i], tmesh_id(id)))
            return (int)i;
    return -1;
}

static void s_raw_send(raw_t *r, int to, wire_msg_t *m)
{
    assert_true(to >= 0 && (size_t)to < r->n_to);
    m->from = r->id;
    abuf_t b = ABUF_INIT;
    assert_int_equal(tmesh_encode(m, &b), 0);
    zmq_send(zsock_resolve(r->dealer[to]), b.data, b.len, ZMQ_DONTWAIT);
    abuf_free(&b);
}

static void s_raw_ack(raw_t *r, int to, uint64_t seq)
{
    wire_msg_t ack = {.type = WIRE_ACK, .seq = seq};
    s_raw_send(r, to, &ack);
}

static void s_raw_on_ping_req(raw_t *r, int from, const wire_msg_t *m)
{
    uint64_t prev = r->last_req;
    r->last_req = m->seq;
    if (r->mode == RAW_ECHO)
        s_raw_ack(r, from, m->seq);
    else if (r->mode == RAW_WRONG)
        s_raw_ack(r, from, m->seq + 1000000);
    else if (r->mode == RAW_STALE && prev)
        s_raw_ack(r, from, prev);
}

static void s_raw_keep(raw_t *r, const wire_msg_t *m)
{
    if (m->type != WIRE_PING && m->type != WIRE_ACK && m->type != WIRE_PING_REQ)
        return;
    if (r->n_rx < S_RAW_LOG) {
        raw_rx_t *e = &r->rx[r->n_rx++];
        e->type = m->type;
        e->seq = m->seq;
        snprintf(e->from, sizeof e->from, "%s", m->from);
        snprintf(e->target, sizeof e->target, "%s", m->target ? m->target : "");
    }
    int from = s_raw_index(r, m->from);
    if (from < 0)
        return;
    if (m->type == WIRE_PING && r->ack[from])
        s_raw_ack(r, from, m->seq);
    else if (m->type == WIRE_PING_REQ)
        s_raw_on_ping_req(r, from, m);
}

static int s_raw_on(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    raw_t *r = arg;
    wire_msg_t m;
    if (tmesh_recv(sock, &m) == 0) {
        s_raw_keep(r, &m);
        wire_msg_clear(&m);
    }
    return 0;
}

static raw_t *s_raw_new(zloop_t *loop, const char *id)
{
    raw_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->id, sizeof r->id, "%s", tmesh_id(id));
    r->loop = loop;
    r->router = tmesh_inbox_new(r->ep, sizeof r->ep);
    assert_non_null(r->router);
    assert_int_equal(zloop_reader(loop, r->router, s_raw_on, r), 0);
    s_live_add((void **)s_live_sock, r->router);
    return r;
}

/*  r joins node n (says hello); ack: it answers n's pings. */
static void s_raw_join(raw_t *r, node_t *n, bool ack)
{
    assert_true(r->n_to < S_RAW_TO);
    size_t i = r->n_to++;
    snprintf(r->to[i], sizeof r->to[i], "%s", n->id);
    r->ack[i] = ack;
    r->dealer[i] = tmesh_dealer_new(r->id, mesh_endpoint(n->mesh));
    assert_non_null(r->dealer[i]);
    assert_int_equal(zloop_reader(r->loop, r->dealer[i], s_raw_on, r), 0);
    s_live_add((void **)s_live_sock, r->dealer[i]);
    wire_model_t model;
    wire_state_t st;
    s_state(&st, r->id, &model, 0);
    st.id = r->id;
    st.endpoint = r->ep;
    st.version = st.incarnation = 1;
    wire_msg_t hello = {.type = WIRE_HELLO, .states = &st, .n_states = 1};
    s_raw_send(r, (int)i, &hello);
}

static void s_raw_destroy(raw_t **r_p)
{
    raw_t *r = *r_p;
    for (size_t i = 0; i < r->n_to; i++) {
        s_live_del((void **)s_live_sock, r->dealer[i]);
        zloop_reader_end(r->loop, r->dealer[i]);
        zsock_destroy(&r->dealer[i]);
    }
    s_live_del((void **)s_live_sock, r->router);
    zloop_reader_end(r->loop, r->router);
    zsock_destroy(&r->router);
    free(r);
    *r_p = NULL;
}

/*  The first entry from `mark` on of this type (from: NULL any; seq 0 any). */
static const raw_rx_t *s_raw_got(const raw_t *r, size_t mark, wire_type_t type, const char *from,
                                 uint64_t seq)
{
    for (size_t i = mark; i < r->n_rx; i++) {
        const raw_rx_t *e = &r->rx[i];
        if (e->type == type && (!from || streq(e->from, tmesh_id(from))) && (!seq || e->seq == seq))
            return e;
    }
    return NULL;
}

static size_t s_raw_count(const raw_t *r, size_t mark, wire_type_t type)
{
    size_t n = 0;
    for (size_t i = mark; i < r->n_rx; i++)
        n += r->rx[i].type == type;
    return n;
}

typedef struct {
    const raw_t *r;
    size_t mark;
    wire_type_t type;
    const char *from;
    uint64_t seq;
} raw_wait_t;

static bool s_raw_has(void *arg)
{
    const raw_wait_t *w = arg;
    return s_raw_got(w->r, w->mark, w->type, w->from, w->seq) != NULL;
}

static const raw_rx_t *s_raw_wait(raw_t *r, size_t mark, wire_type_t type, const char *from,
                                  uint64_t seq, int max_ms)
{
    raw_wait_t w = {r, mark, type, from, seq};
    tmesh_run_until(r->loop, s_raw_has, &w, max_ms);
    return s_raw_got(r, mark, type, from, seq);
}

typedef struct {
    node_t **nodes;
    size_t n;
    const char *id;
    mesh_liveness_t l;
} all_see_t;

static bool s_all_see(void *arg)
{
    all_see_t *w = arg;
    for (size_t i = 0; i < w->n; i++)
        if (!s_sees(w->nodes[i], w->id, w->l))
            return false;
    return true;
}

/*  Raw member p never answers a's pings, and sends a nothing after its
    hello, but answers c's and d's. a asks two helpers (c and d) to probe
    it each ping cycle; their relayed acks keep p alive at a — never
    suspect, reached only indirectly — with one warning once a had nothing
    direct for dead_ms, naming the address and counting two helpers. At
    most two ping-reqs per ping cycle. Once p answers nobody, every node
    sees it suspect and dead within the usual bounds, and the probing
    stops. */
static void test_indirect_probe(void **state)
{
    zloop_t *loop = *state;
    node_t a, c, d;
    char seed[64];
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    snprintf(seed, sizeof seed, "%s", mesh_endpoint(a.mesh));
    s_node_start(loop, &c, &(opts_t){.id = "node-c", .seeds = {seed}, .n_seeds = 1});
    s_node_start(loop, &d, &(opts_t){.id = "node-d", .seeds = {seed}, .n_seeds = 1});
    node_t *all[] = {&a, &c, &d};
    s_join(loop, all, 3);
    raw_t *p = s_raw_new(loop, "raw-p");
    s_raw_join(p, &a, false);
    s_raw_join(p, &c, true);
    s_raw_join(p, &d, true);
    all_see_t alive = {all, 3, "raw-p", MESH_PEER_ALIVE};
    assert_true(tmesh_run_until(loop, s_all_see, &alive, 2000));

    /* reached through c and d only: alive all along, for longer than dead_ms */
    uint64_t sent0 = S_STAT(all, 1, ping_req_sent);
    uint64_t acks0 = S_STAT(all, 1, indirect_acks);
    int64_t t0 = zclock_mono();
    tmesh_run(loop, S_DEAD + S_SUSPECT);
    int64_t phase = zclock_mono() - t0;
    for (size_t i = 0; i < 3; i++)
        assert_null(s_event(all[i], "raw-p", MESH_PEER_SUSPECT));
    const mesh_peer_view_t *v = s_view(&a, "raw-p");
    assert_int_equal(v->liveness, MESH_PEER_ALIVE);
    assert_true(v->indirect);
    assert_true(v->age_ms > S_DEAD); /* nothing direct since its hello */
    assert_false(s_view(&c, "raw-p")->indirect);
    assert_false(s_view(&d, "raw-p")->indirect);
    assert_int_equal(mesh_alive_count(a.mesh), 3);
    uint64_t sent = S_STAT(all, 1, ping_req_sent) - sent0;
    uint64_t acks = S_STAT(all, 1, indirect_acks) - acks0;
    uint64_t cycles = (uint64_t)phase / S_PING + 1;
    /* at most two per cycle (one per helper); at least one, and most of
       them relayed (a loaded machine runs fewer cycles than the clock says) */
    if (sent > 2 * cycles || sent == 0 || 2 * acks < sent)
        fail_msg("%llu ping-reqs, %llu relayed acks in %llu ping cycles", (unsigned long long)sent,
                 (unsigned long long)acks, (unsigned long long)cycles);
    for (size_t i = 0; i < p->n_rx; i++) /* never asked about itself (a slow
                                              machine may ask it about others) */
        assert_false(p->rx[i].type == WIRE_PING_REQ && streq(p->rx[i].target, "raw-p"));
    char line[256];
    snprintf(line, sizeof line,
             "mesh: our link to peer %s at %s is down but 2 peers still reach it: check this "
             "machine's route to %s",
             tmesh_id("raw-p"), p->ep, p->ep);
    assert_int_equal(s_log_count(line), 1);
    assert_int_equal(s_log_count("is down but"), 1);

    /* p answers nobody now: suspect, then dead, as without helpers */
    p->ack[1] = p->ack[2] = false;
    int64_t t1 = zclock_mono();
    uint64_t sent1 = S_STAT(all, 3, ping_req_sent);
    all_see_t dead = {all, 3, "raw-p", MESH_PEER_DEAD};
    assert_true(tmesh_run_until(loop, s_all_see, &dead, S_DEAD + 2 * S_SLACK));
    int64_t took = s_event(&a, "raw-p", MESH_PEER_SUSPECT)->at - t1;
    /* never early; late only by what a loaded machine delays a timer */
    if (took < S_SUSPECT - 2 * S_PING || took > S_SUSPECT + S_SLACK)
        fail_msg("suspect %lld ms after the helpers lost it", (long long)took);
    took = s_event(&a, "raw-p", MESH_PEER_DEAD)->at - t1;
    if (took > S_DEAD + S_SLACK)
        fail_msg("dead %lld ms after the helpers lost it", (long long)took);
    uint64_t storm = S_STAT(all, 3, ping_req_sent) - sent1;
    uint64_t bound = 3 * 2 * ((uint64_t)(zclock_mono() - t1) / S_PING + 1);
    if (storm > bound)
        fail_msg("%llu ping-reqs while p died (at most %llu)", (unsigned long long)storm,
                 (unsigned long long)bound);
    uint64_t after = S_STAT(all, 3, ping_req_sent);
    tmesh_run(loop, 3 * S_PING);
    assert_int_equal(S_STAT(all, 3, ping_req_sent), after); /* the dead are not probed */
    /* every ping-req sent was answered by its helper: a node, or p itself
       (a loaded machine may have a node suspect another for a moment and
       pick p, alive then, as a helper) */
    uint64_t to_p = 0;
    for (size_t i = 0; i < p->n_rx; i++)
        to_p += p->rx[i].type == WIRE_PING_REQ;
    assert_int_equal(S_STAT(all, 3, ping_req_served) + S_STAT(all, 3, ping_req_refused) + to_p,
                     after);
    for (size_t i = 0; i < 3; i++)
        s_node_stop(all[i]);
    s_raw_destroy(&p);
}

/*  A helper probes only a target it reached, for a member it reached,
    never itself or the asker; it relays the target's ack only when it came
    within its ping timeout, and never passes a ping-req on. */
static void test_ping_req_refused(void **state)
{
    zloop_t *loop = *state;
    int hole_fd;
    char hole[64];
    snprintf(hole, sizeof hole, "127.0.0.1:%d", s_dead_port(&hole_fd));
    node_t a;
    s_node_start(loop, &a, &(opts_t){.id = "node-a"});
    raw_t *r = s_raw_new(loop, "raw-r");
    raw_t *q = s_raw_new(loop, "raw-q");
    s_raw_join(r, &a, true);
    s_raw_join(q, &a, true);
    wire_model_t gm;
    wire_state_t gs;
    s_state(&gs, "ghost", &gm, 0);
    gs.id = (char *)tmesh_id("node-hearsay");
    gs.endpoint = hole;
    gs.version = gs.incarnation = 7;
    wire_msg_t relay = {.type = WIRE_DELTA, .states = &gs, .n_states = 1};
    s_raw_send(r, 0, &relay); /* a holds a state of it, never reaches it */
    assert_true(s_wait_event(loop, &a, "raw-r", MESH_PEER_ALIVE, 2000));
    assert_true(s_wait_event(loop, &a, "raw-q", MESH_PEER_ALIVE, 2000));

    static const struct {
        const char *target;
        bool served;
    } cases[] = {
        {"raw-q", true},         {"node-nobody", false}, /* unknown */
        {"node-hearsay", false},                         /* known, never reached */
        {"raw-r", false},                                /* the asker */
        {"node-a", false},                               /* the helper itself */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mesh_stats_t s0, s1;
        mesh_stats(a.mesh, &s0);
        size_t mark_r = r->n_rx, mark_q = q->n_rx;
        uint64_t seq = 100 + i;
        wire_msg_t req = {
            .type = WIRE_PING_REQ, .seq = seq, .target = (char *)tmesh_id(cases[i].target)};
        s_raw_send(r, 0, &req);
        const raw_rx_t *ack = NULL;
        if (cases[i].served) {
            ack = s_raw_wait(r, mark_r, WIRE_ACK, "node-a", seq, 2 * S_PING);
        } else {
            stat_wait_t w = {&a, offsetof(mesh_stats_t, ping_req_refused), s0.ping_req_refused};
            assert_true(tmesh_run_until(loop, s_stat_moved, &w, 2 * S_PING));
            ack = s_raw_wait(r, mark_r, WIRE_ACK, "node-a", seq, 20);
        }
        mesh_stats(a.mesh, &s1);
        if ((ack != NULL) != cases[i].served ||
            s1.ping_req_served - s0.ping_req_served != cases[i].served ||
            s1.ping_req_refused - s0.ping_req_refused != !cases[i].served)
            fail_msg("ping-req about %s: acked %d, served %llu, refused %llu", cases[i].target,
                     ack != NULL, (unsigned long long)(s1.ping_req_served - s0.ping_req_served),
                     (unsigned long long)(s1.ping_req_refused - s0.ping_req_refused));
        if (cases[i].served) { /* q was pinged with a's own seq */
            const raw_rx_t *ping = s_raw_got(q, mark_q, WIRE_PING, "node-a", 0);
            assert_non_null(ping);
            assert_true(ping->seq != seq);
        }
    }

    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    assert_int_equal(st.ping_req_sent, 0); /* a never passed one on */
    assert_int_equal(s_raw_count(q, 0, WIRE_PING_REQ), 0);

    /* q's ack comes after a's ping timeout: not relayed, and stale at a */
    q->ack[0] = false;
    wire_msg_t hi = {.type = WIRE_PING, .seq = 1};
    s_raw_send(q, 0, &hi); /* news of q: a's own ping of it is ping_ms away */
    tmesh_run(loop, 20);   /* any ping of a's already on its way has landed */
    size_t mark_r = r->n_rx, mark_q = q->n_rx;
    mesh_stats_t s0, s1;
    mesh_stats(a.mesh, &s0);
    wire_msg_t req = {.type = WIRE_PING_REQ, .seq = 200, .target = (char *)tmesh_id("raw-q")};
    s_raw_send(r, 0, &req);
    const raw_rx_t *ping = s_raw_wait(q, mark_q, WIRE_PING, "node-a", 0, S_PING / 2);
    assert_non_null(ping);
    uint64_t ping_seq = ping->seq;
    tmesh_run(loop, 50 + 20); /* past a's ping timeout (50 ms) */
    s_raw_ack(q, 0, ping_seq);
    assert_null(s_raw_wait(r, mark_r, WIRE_ACK, "node-a", 200, 60));
    mesh_stats(a.mesh, &s1);
    assert_int_equal(s1.ping_req_served - s0.ping_req_served, 1);
    assert_true(s1.stale_acks > s0.stale_acks);
    s_node_stop(&a);
    s_raw_destroy(&r);
    s_raw_destroy(&q);
    close(hole_fd);
}

/*  An ack counts for the probed target only when its seq is that of the
    open ping-req through that helper: helpers answering with a seq never
    sent, or with the previous probe's, keep only themselves alive; the
    target turns suspect as if nobody helped. Four meshes side by side, one
    per helper behaviour. */
static void test_ack_seq_matching(void **state)
{
    zloop_t *loop = *state;
    static const struct {
        raw_mode_t mode;
        bool kept;
    } cases[] = {
        {RAW_ECHO, true},
        {RAW_WRONG, false},
        {RAW_STALE, false},
        {RAW_MUTE, false},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    node_t a[N];
    raw_t *h[N], *p[N];
    char id[N][3][32];
    for (size_t i = 0; i < N; i++) {
        snprintf(id[i][0], sizeof id[i][0], "node-a%zu", i);
        snprintf(id[i][1], sizeof id[i][1], "raw-h%zu", i);
        snprintf(id[i][2], sizeof id[i][2], "raw-p%zu", i);
        s_node_start(loop, &a[i], &(opts_t){.id = id[i][0]});
        h[i] = s_raw_new(loop, id[i][1]);
        h[i]->mode = cases[i].mode;
        s_raw_join(h[i], &a[i], true);
        p[i] = s_raw_new(loop, id[i][2]);
        s_raw_join(p[i], &a[i], false);
    }
    for (size_t i = 0; i < N; i++) {
        assert_true(s_wait_event(loop, &a[i], id[i][1], MESH_PEER_ALIVE, 2000));
        assert_true(s_wait_event(loop, &a[i], id[i][2], MESH_PEER_ALIVE, 2000));
    }
    tmesh_run(loop, S_SUSPECT + 300);
    for (size_t i = 0; i < N; i++) {
        mesh_stats_t st;
        mesh_stats(a[i].mesh, &st);
        bool suspected = s_event(&a[i], id[i][2], MESH_PEER_SUSPECT) != NULL;
        if (suspected == cases[i].kept || st.ping_req_sent == 0 ||
            (st.indirect_acks > 0) != cases[i].kept ||
            (st.stale_acks > 0) != (cases[i].mode == RAW_WRONG || cases[i].mode == RAW_STALE))
            fail_msg("helper mode %d: suspected %d, %llu ping-reqs, %llu relayed acks, %llu stale",
                     (int)cases[i].mode, suspected, (unsigned long long)st.ping_req_sent,
                     (unsigned long long)st.indirect_acks, (unsigned long long)st.stale_acks);
        assert_true(s_sees(&a[i], id[i][1], MESH_PEER_ALIVE)); /* the helper itself */
        assert_null(s_event(&a[i], id[i][1], MESH_PEER_SUSPECT));
    }
    for (size_t i = 0; i < N; i++) {
        s_node_stop(&a[i]);
        s_raw_destroy(&h[i]);
        s_raw_destroy(&p[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc == 5 && streq(argv[1], "--mesh-child"))
        return s_child_main(argv[2], argv[3], argv[4]);
    signal(SIGPIPE, SIG_IGN);
    s_verbose = getenv("MESH_TEST_VERBOSE") != NULL;
    alog_set_sink(s_sink);
    alog_set_level(s_verbose ? ALOG_DEBUG : ALOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_join_through_one_seed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_urgent_push, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_anti_entropy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_crash_suspect_dead_rejoin, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fast_restart_elsewhere, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_leave_and_restart_from_known, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_send_in_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_send_backpressure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_curve_secrets, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_curve_zap_allow_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_input, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_delta_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_delta_split, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_local_state_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refutation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_reported, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_then_fixed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_indirect_probe, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ping_req_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ack_seq_matching, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    s_log_clear();
    zsys_shutdown();
    return rc;
}
