/*  test_mesh_forge — only a node speaks for itself (issue #9, "Forged state
    sticks forever").

    Two real meshes, A and B (B joins through A), and a raw member M that
    the test drives: M is a member in good standing (it said hello with its
    own signed state) and tries to speak for B. Before states were signed,
    M's push claiming B's state at version 2^64-1 replaced B's entry on A
    for good (B's refutation wrapped back to its clock and always lost), and
    A routed around the real B. Now every such claim is refused and
    counted, A keeps B's own state and still routes to B, and B's own later
    changes still apply. Every node and M hold the mesh secret (the mesh is
    never open): the secret lets M in, not speak for B. One loop on the
    test thread; every wait bounded. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <czmq.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/mesh.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/wire.h"
#include "tests/support/test_mesh_env.h"

#define T_WAIT_MS 5000
#define T_SETTLE_MS 300 /* how long a refused message gets to do harm anyway */
#define T_RX_MAX 512

typedef struct {
    const char *name;
    mesh_t *mesh;
    size_t cancels; /* cancels that reached on_forward */
    char cancel_from[WIRE_MAX_ID + 1];
} node_t;

/*  The raw member: a DEALER into A (identity = its id) and the inbox A
    dials back; everything received is kept. */
typedef struct {
    zsock_t *dealer, *inbox;
    char ep[64];
    wire_msg_t rx[T_RX_MAX];
    size_t n_rx;
} raw_t;

typedef struct {
    zloop_t *loop;
    const char *secret; /* the mesh secret every node and the member hold */
    node_t a, b;
    raw_t m;
} env_t;

/*  The mesh's CURVE pair for secret: the member holds the secret like any
    node. */
static void s_curve(zsock_t *sock, const char *secret, bool server)
{
    zcert_t *cert = mesh_cert_new(secret);
    assert_non_null(cert);
    mesh_curve_apply(sock, cert, server);
    zcert_destroy(&cert);
}

static void s_on_forward(void *arg, const wire_msg_t *msg)
{
    node_t *n = arg;
    if (msg->type == WIRE_CANCEL) {
        n->cancels++;
        snprintf(n->cancel_from, sizeof n->cancel_from, "%s", msg->from);
    }
}

static int s_raw_on(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    raw_t *r = arg;
    wire_msg_t m;
    if (tmesh_recv(sock, &m) == 0) {
        if (r->n_rx < T_RX_MAX)
            r->rx[r->n_rx++] = m;
        else
            wire_msg_clear(&m);
    }
    return 0;
}

static int s_stop(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    (void)arg;
    return -1;
}

typedef bool (*pred_fn)(env_t *env, const void *arg);

/*  Runs the loop until pred holds (checked every 10 ms) or max_ms pass. */
static bool s_until(env_t *env, pred_fn pred, const void *arg, int max_ms)
{
    int64_t deadline = zclock_mono() + max_ms;
    while (!(pred && pred(env, arg))) {
        if (zclock_mono() >= deadline)
            return false;
        int t = zloop_timer(env->loop, 10, 1, s_stop, NULL);
        zloop_start(env->loop);
        zloop_timer_end(env->loop, t);
    }
    return true;
}

static void s_spin(env_t *env, int ms)
{
    s_until(env, NULL, NULL, ms);
}

static const mesh_peer_view_t *s_view(mesh_t *mesh, const char *id)
{
    static mesh_peer_view_t v[16];
    size_t n = mesh_peers(mesh, v, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcmp(v[i].id, id) == 0)
            return &v[i];
    return NULL;
}

static bool s_alive_with_state(env_t *env, const void *arg)
{
    const char *const *pair = arg; /* {observer: "a" or "b", id} */
    mesh_t *mesh = pair[0][0] == 'a' ? env->a.mesh : env->b.mesh;
    const mesh_peer_view_t *v = s_view(mesh, pair[1]);
    return v && v->liveness == MESH_PEER_ALIVE && v->state;
}

static bool s_b_serves(env_t *env, const void *arg)
{
    const mesh_peer_view_t *v = s_view(env->a.mesh, tmesh_id("node-b"));
    return v && v->state && v->state->n_models == 1 &&
           strcmp(v->state->models[0].name, (const char *)arg) == 0;
}

static const wire_state_t *s_b_from_delta(const raw_t *r, size_t mark)
{
    for (size_t i = mark; i < r->n_rx; i++)
        if (r->rx[i].type == WIRE_DELTA)
            for (size_t k = 0; k < r->rx[i].n_states; k++)
                if (strcmp(r->rx[i].states[k].id, tmesh_id("node-b")) == 0)
                    return &r->rx[i].states[k];
    return NULL;
}

static bool s_got_b(env_t *env, const void *arg)
{
    return s_b_from_delta(&env->m, *(const size_t *)arg) != NULL;
}

static void s_node_start(env_t *env, node_t *n, const char *name, const char *seed,
                         const char *model)
{
    n->name = name;
    const char *seeds[] = {seed};
    mesh_config_t c = tmesh_config_fast(tmesh_id(name), s_on_forward, NULL, n);
    c.secret = env->secret;
    c.seeds = seeds;
    c.n_seeds = seed ? 1 : 0;
    n->mesh = mesh_new(&c, env->loop);
    assert_non_null(n->mesh);
    wire_model_t md = {.name = (char *)model, .arena_id = "a-1", .modality = "chat", .reason = ""};
    wire_state_t st = {.name = (char *)name,
                       .http = "http://127.0.0.1:1",
                       .tabs = 1,
                       .tabs_healthy = 1,
                       .capacity = 4,
                       .p50_ms = -1,
                       .models = &md,
                       .n_models = 1};
    mesh_set_local(n->mesh, &st, true);
}

/*  B's state as B itself last published it (the version A holds must stay
    B's own). */
typedef struct {
    uint64_t version;
    char endpoint[WIRE_MAX_NAME + 1];
} b_truth_t;

static void s_expect_b_intact(env_t *env, const b_truth_t *truth, const char *model)
{
    const mesh_peer_view_t *v = s_view(env->a.mesh, tmesh_id("node-b"));
    assert_non_null(v);
    assert_non_null(v->state);
    assert_int_equal(v->liveness, MESH_PEER_ALIVE);
    assert_true(v->state->version == truth->version);
    assert_string_equal(v->state->endpoint, truth->endpoint);
    assert_string_equal(v->state->name, "node-b");
    assert_int_equal(v->state->n_models, 1);
    assert_string_equal(v->state->models[0].name, model);
    assert_int_equal(v->state->models[0].cooled_remaining_ms, 0);
    assert_int_equal(v->state->node_cooled_remaining_ms, 0);
    assert_false(v->state->leaving);
    /* and A still routes to the real B */
    size_t before = env->b.cancels;
    wire_msg_t cancel = {.type = WIRE_CANCEL, .rid = "still-b"};
    assert_int_equal(mesh_send(env->a.mesh, tmesh_id("node-b"), &cancel), 0);
    for (int64_t until = zclock_mono() + T_WAIT_MS;
         env->b.cancels == before && zclock_mono() < until;)
        s_spin(env, 10);
    assert_int_equal(env->b.cancels, before + 1);
    assert_string_equal(env->b.cancel_from, tmesh_id("node-a"));
}

static void s_send(raw_t *r, wire_msg_t *m)
{
    assert_int_equal(tmesh_send_as(r->dealer, "mallory", m), 0);
}

static uint64_t s_forged(const env_t *env)
{
    mesh_stats_t st;
    mesh_stats(env->a.mesh, &st);
    return st.forged;
}

static bool s_forged_past(env_t *env, const void *arg)
{
    return s_forged(env) > *(const uint64_t *)arg;
}

/*  Sends m as M and waits until A has refused it (forged grows by one),
    then gives it time to do harm anyway. */
static void s_refused(env_t *env, wire_msg_t *m, const char *what)
{
    uint64_t before = s_forged(env);
    s_send(&env->m, m);
    if (!s_until(env, s_forged_past, &before, T_WAIT_MS))
        fail_msg("A did not refuse %s", what);
    s_spin(env, T_SETTLE_MS);
    assert_true(s_forged(env) == before + 1);
}

static int s_setup(void **state)
{
    env_t *env = calloc(1, sizeof *env);
    assert_non_null(env);
    env->loop = zloop_new();
    assert_non_null(env->loop);
    alog_set_level(getenv("T_VERBOSE") ? ALOG_DEBUG : ALOG_ERROR);
    /* the mesh is never open: the member holds the secret, and it still
       does not let it speak for B */
    env->secret = TMESH_SECRET;
    *state = env;
    return 0;
}

static int s_teardown(void **state)
{
    env_t *env = *state;
    mesh_destroy(&env->a.mesh);
    mesh_destroy(&env->b.mesh);
    if (env->m.dealer)
        zloop_reader_end(env->loop, env->m.dealer);
    if (env->m.inbox)
        zloop_reader_end(env->loop, env->m.inbox);
    zsock_destroy(&env->m.dealer);
    zsock_destroy(&env->m.inbox);
    for (size_t i = 0; i < env->m.n_rx; i++)
        wire_msg_clear(&env->m.rx[i]);
    zloop_destroy(&env->loop);
    free(env);
    return 0;
}

/*  A, B and M joined; returns B's truth as A holds it. */
static b_truth_t s_join(env_t *env)
{
    s_node_start(env, &env->a, "node-a", NULL, "model-a");
    s_node_start(env, &env->b, "node-b", mesh_endpoint(env->a.mesh), "model-b");
    raw_t *m = &env->m;
    if (env->secret) { /* the member holds the secret: CURVE both ways */
        m->inbox = zsock_new(ZMQ_ROUTER);
        assert_non_null(m->inbox);
        zsock_set_linger(m->inbox, 0);
        s_curve(m->inbox, env->secret, true);
        int port = mesh_bind_tcp(m->inbox, "tcp://127.0.0.1:*");
        assert_true(port > 0);
        snprintf(m->ep, sizeof m->ep, "127.0.0.1:%d", port);
        m->dealer = zsock_new(ZMQ_DEALER);
        assert_non_null(m->dealer);
        zsock_set_linger(m->dealer, 0);
        zsock_set_identity(m->dealer, tmesh_id("mallory"));
        s_curve(m->dealer, env->secret, false);
        assert_int_equal(zsock_connect(m->dealer, "tcp://%s", mesh_endpoint(env->a.mesh)), 0);
    } else {
        m->inbox = tmesh_inbox_new(m->ep, sizeof m->ep);
        assert_non_null(m->inbox);
        m->dealer = tmesh_dealer_new("mallory", mesh_endpoint(env->a.mesh));
        assert_non_null(m->dealer);
    }
    assert_int_equal(zloop_reader(env->loop, m->inbox, s_raw_on, m), 0);
    assert_int_equal(zloop_reader(env->loop, m->dealer, s_raw_on, m), 0);
    wire_model_t md = {.name = "model-m", .arena_id = "a-9", .modality = "chat", .reason = ""};
    assert_int_equal(tmesh_send_hello(m->dealer, "mallory", m->ep, &md, 0, 4), 0);
    const char *ab[] = {"a", tmesh_id("node-b")};
    const char *ba[] = {"b", tmesh_id("node-a")};
    const char *am[] = {"a", tmesh_id("mallory")};
    assert_true(s_until(env, s_alive_with_state, ab, T_WAIT_MS));
    assert_true(s_until(env, s_alive_with_state, ba, T_WAIT_MS));
    assert_true(s_until(env, s_alive_with_state, am, T_WAIT_MS));
    s_spin(env, T_SETTLE_MS); /* B's urgent push and the gossip settle */
    b_truth_t t;
    const mesh_peer_view_t *v = s_view(env->a.mesh, tmesh_id("node-b"));
    t.version = v->state->version;
    snprintf(t.endpoint, sizeof t.endpoint, "%s", v->state->endpoint);
    return t;
}

/*  B's genuine signed state, as A relays it to M (M asks with an empty
    digest): what a hostile member can start from. The copy is the
    caller's. */
static void s_b_genuine(env_t *env, wire_state_t *out)
{
    size_t mark = env->m.n_rx;
    wire_msg_t digest = {.type = WIRE_DIGEST};
    s_send(&env->m, &digest);
    assert_true(s_until(env, s_got_b, &mark, T_WAIT_MS));
    assert_int_equal(wire_state_copy(out, s_b_from_delta(&env->m, mark)), 0);
}

/*  The forgeries of the issue, each refused, B's entry untouched, A still
    routing to B; then B's own change applies. */
static void test_forged_state_refused(void **state)
{
    env_t *env = *state;
    b_truth_t truth = s_join(env);
    wire_state_t real;
    s_b_genuine(env, &real);
    assert_true(real.version == truth.version);
    wire_model_t evil = {.name = "model-b",
                         .arena_id = "a-1",
                         .modality = "chat",
                         .cooled_remaining_ms = 3600000,
                         .reason = "rate limited"};

    for (int variant = 0; variant < 4; variant++) {
        wire_state_t f;
        assert_int_equal(wire_state_copy(&f, &real), 0);
        f.version = UINT64_MAX;
        f.incarnation = UINT64_MAX;
        free(f.endpoint); /* and B's address made M's */
        f.endpoint = strdup(env->m.ep);
        assert_non_null(f.endpoint);
        const char *what = "";
        switch (variant) {
        case 0: /* 2^64-1 under B's key and B's old signature */
            what = "B's state at 2^64-1 with B's old signature";
            assert_int_equal(wire_state_seal(&f, tmesh_key("mallory")), 0);
            memcpy(f.pk, real.pk, sizeof f.pk);
            memcpy(f.sig, real.sig, sizeof f.sig);
            break;
        case 1: /* models and cooldowns altered, signed by M as B */
            what = "B's models and cooldowns, signed by M with B's id";
            f.version = real.version + 1;
            f.incarnation = real.incarnation;
            free(f.models[0].reason);
            f.models[0].reason = strdup(evil.reason);
            f.models[0].cooled_remaining_ms = evil.cooled_remaining_ms;
            f.node_cooled_remaining_ms = 3600000;
            assert_int_equal(wire_state_seal(&f, tmesh_key("mallory")), 0);
            break;
        case 2: /* B's exact bytes and key, one byte of the state changed */
            what = "B's signed bytes with one byte changed";
            assert_int_equal(wire_state_seal(&f, tmesh_key("node-b")), 0); /* layout only */
            free(f.sealed);
            f.sealed = malloc(real.sealed_len);
            assert_non_null(f.sealed);
            memcpy(f.sealed, real.sealed, real.sealed_len);
            f.sealed_len = real.sealed_len;
            uint8_t *at = memmem(f.sealed, f.sealed_len, "model-b", 7);
            assert_non_null(at);
            at[6] = 'c'; /* still a well-formed state: "model-c" */
            memcpy(f.pk, real.pk, sizeof f.pk);
            memcpy(f.sig, real.sig, sizeof f.sig);
            break;
        default: /* B's own words at an impossible version (a key that leaked
                    or a clock far off): no state may outrank all later ones */
            what = "a state signed by B's key at 2^64-1";
            assert_int_equal(wire_state_seal(&f, tmesh_key("node-b")), 0);
            break;
        }
        wire_msg_t push = {.type = WIRE_PUSH, .states = &f, .n_states = 1};
        s_refused(env, &push, what);
        s_expect_b_intact(env, &truth, "model-b");
        wire_msg_t delta = {.type = WIRE_DELTA, .states = &f, .n_states = 1};
        s_refused(env, &delta, what);
        s_expect_b_intact(env, &truth, "model-b");
        wire_state_clear(&f);
    }

    /* B's genuine state replayed: taken as what it is, changes nothing */
    wire_msg_t replay = {.type = WIRE_PUSH, .states = &real, .n_states = 1};
    s_send(&env->m, &replay);
    s_spin(env, T_SETTLE_MS);
    s_expect_b_intact(env, &truth, "model-b");

    /* a digest claiming B, or A itself, at 2^64-1 moves nobody */
    wire_version_t claims[] = {{.id = (char *)tmesh_id("node-b"), .version = UINT64_MAX},
                               {.id = (char *)tmesh_id("node-a"), .version = UINT64_MAX}};
    wire_msg_t digest = {.type = WIRE_DIGEST, .versions = claims, .n_versions = 2};
    s_send(&env->m, &digest);
    s_spin(env, T_SETTLE_MS);
    s_expect_b_intact(env, &truth, "model-b");
    const mesh_peer_view_t *a_at_b = s_view(env->b.mesh, tmesh_id("node-a"));
    assert_non_null(a_at_b);
    assert_true(a_at_b->state->version < UINT64_MAX / 2); /* A did not jump */

    /* B's own later change still applies */
    wire_model_t md = {.name = "model-b2", .arena_id = "a-2", .modality = "chat", .reason = ""};
    wire_state_t st = {.name = "node-b",
                       .http = "http://127.0.0.1:1",
                       .tabs = 1,
                       .tabs_healthy = 1,
                       .capacity = 4,
                       .p50_ms = -1,
                       .models = &md,
                       .n_models = 1};
    mesh_set_local(env->b.mesh, &st, true);
    assert_true(s_until(env, s_b_serves, "model-b2", T_WAIT_MS));
    truth.version = s_view(env->a.mesh, tmesh_id("node-b"))->state->version;
    s_expect_b_intact(env, &truth, "model-b2");
    wire_state_clear(&real);

    /* and B's own leave is taken */
    mesh_leave(env->b.mesh);
    for (int64_t until = zclock_mono() + T_WAIT_MS; zclock_mono() < until;) {
        const mesh_peer_view_t *v = s_view(env->a.mesh, tmesh_id("node-b"));
        if (v && v->liveness == MESH_PEER_LEFT)
            break;
        s_spin(env, 10);
    }
    assert_int_equal(s_view(env->a.mesh, tmesh_id("node-b"))->liveness, MESH_PEER_LEFT);
}

/*  leave for B: only B's own signed leaving state makes A drop B. M sends
    one on a connection it names after B (what a member can do to any node
    whose link to A is not up) with a leaving state it signed itself (a
    leave whose state does not say leaving is malformed: test_wire). */
static void test_forged_leave_refused(void **state)
{
    env_t *env = *state;
    b_truth_t truth = s_join(env);
    wire_state_t real;
    s_b_genuine(env, &real);
    mesh_stats_t s0, s1;
    mesh_stats(env->a.mesh, &s0);
    zsock_t *as_b = zsock_new(ZMQ_DEALER);
    assert_non_null(as_b);
    zsock_set_linger(as_b, 0);
    zsock_set_identity(as_b, tmesh_id("node-b"));
    if (env->secret)
        s_curve(as_b, env->secret, false);
    assert_int_equal(zsock_connect(as_b, "tcp://%s", mesh_endpoint(env->a.mesh)), 0);
    wire_msg_t leave = {.type = WIRE_LEAVE, .incarnation = real.incarnation};
    /* a leaving state with B's id signed by M: forged */
    wire_state_t f;
    assert_int_equal(wire_state_copy(&f, &real), 0);
    f.leaving = true;
    f.version = real.version + 1;
    assert_int_equal(wire_state_seal(&f, tmesh_key("mallory")), 0);
    leave.states = &f;
    leave.n_states = 1;
    assert_int_equal(tmesh_send_as(as_b, "node-b", &leave), 0);
    s_spin(env, T_SETTLE_MS);
    mesh_stats(env->a.mesh, &s1);
    assert_int_equal(s1.forged, s0.forged + 1);
    zsock_destroy(&as_b);
    s_spin(env, T_SETTLE_MS);
    s_expect_b_intact(env, &truth, "model-b");
    wire_state_clear(&f);
    wire_state_clear(&real);
}

static bool s_b_joined_at_a(env_t *env, const void *arg)
{
    (void)arg;
    const mesh_peer_view_t *v = s_view(env->a.mesh, tmesh_id("node-b"));
    return v && v->liveness == MESH_PEER_ALIVE && v->state;
}

static bool s_inbox_got(env_t *env, const void *arg)
{
    (void)env;
    zsock_t *inbox = (zsock_t *)arg;
    return zsock_events(inbox) & ZMQ_POLLIN;
}

/*  An address for B that M gives in its hello's peer list, before A has
    heard of B, is only a hint: M listens there and keeps the link up, but
    once B's own signed state says where B is, A dials B there and routes to
    the real B (before, A kept the live link to M's address and sent B's
    traffic to M). */
static void test_hinted_address_replaced(void **state)
{
    env_t *env = *state;
    s_node_start(env, &env->a, "node-a", NULL, "model-a");
    raw_t *m = &env->m;
    m->inbox = tmesh_inbox_new(m->ep, sizeof m->ep);
    assert_non_null(m->inbox);
    char trap_ep[64];
    zsock_t *trap = tmesh_inbox_new(trap_ep, sizeof trap_ep); /* "B", says M */
    assert_non_null(trap);
    m->dealer = tmesh_dealer_new("mallory", mesh_endpoint(env->a.mesh));
    assert_non_null(m->dealer);
    assert_int_equal(zloop_reader(env->loop, m->inbox, s_raw_on, m), 0);
    assert_int_equal(zloop_reader(env->loop, m->dealer, s_raw_on, m), 0);
    wire_model_t md = {.name = "model-m", .arena_id = "a-9", .modality = "chat", .reason = ""};
    wire_state_t st = {.id = (char *)tmesh_id("mallory"),
                       .name = "mallory",
                       .endpoint = m->ep,
                       .http = "http://127.0.0.1:1",
                       .incarnation = 1,
                       .version = 1,
                       .tabs = 1,
                       .tabs_healthy = 1,
                       .capacity = 4,
                       .p50_ms = -1,
                       .models = &md,
                       .n_models = 1};
    wire_peer_ref_t hint = {.id = (char *)tmesh_id("node-b"), .endpoint = trap_ep};
    wire_msg_t hello = {
        .type = WIRE_HELLO, .states = &st, .n_states = 1, .peers = &hint, .n_peers = 1};
    s_send(m, &hello);
    /* A dials the hinted address (the trap's connection is up) */
    assert_true(s_until(env, s_inbox_got, trap, T_WAIT_MS));
    s_node_start(env, &env->b, "node-b", mesh_endpoint(env->a.mesh), "model-b");
    assert_true(s_until(env, s_b_joined_at_a, NULL, T_WAIT_MS));
    s_spin(env, T_SETTLE_MS);
    const mesh_peer_view_t *v = s_view(env->a.mesh, tmesh_id("node-b"));
    assert_string_equal(v->endpoint, mesh_endpoint(env->b.mesh));
    b_truth_t truth = {.version = v->state->version};
    snprintf(truth.endpoint, sizeof truth.endpoint, "%s", mesh_endpoint(env->b.mesh));
    s_expect_b_intact(env, &truth, "model-b"); /* and A's traffic for B reaches B */
    zsock_destroy(&trap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forged_state_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_forged_leave_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hinted_address_replaced, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
