/*  test_mesh_bound — the mesh port is never open, membership is bounded,
    partitions heal fast (docs/mesh-protocol.md, "The mesh port" and
    "Healing a partition"). Real sockets on 127.0.0.1, one zloop driven from
    the test thread, every wait bounded.

    - A member that names a thousand made-up peers in one push, hello or
      delta (once "one mesh message crashes a node": a DEALER each until
      czmq aborted) is held to the bounds: the node stays up and serves.
    - A process without the secret that speaks plain ZeroMQ to the mesh port
      (hello, then fwd) gets nothing and is never routed to; nor is one
      holding another secret.
    - A partition: both nodes reach each other through TCP relays run by
      this test (a thread); cutting them drops every byte both ways, like a
      firewall dropping packets, while the connections stay open. Once the
      nodes hold each other dead and the relays carry traffic again, both
      see each other alive within 3 s. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh/mesh.h"
#include "protocol/alog.h"
#include "protocol/wire.h"
#include "tests/support/test_mesh_env.h"

#define S_GHOSTS 1000
#define S_HEAL_MAX_MS 3000

/* ------------------------------------------------------------- log capture */

#define S_LOG_MAX 4096
static char *s_log[S_LOG_MAX];
static size_t s_n_log;

static void s_sink(alog_level_t level, const char *line)
{
    (void)level;
    if (s_n_log < S_LOG_MAX)
        s_log[s_n_log++] = strdup(line);
    if (getenv("MESH_TEST_VERBOSE"))
        fprintf(stderr, "%s\n", line);
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

/*  What a failed test leaves (cmocka jumps out of it) is closed by the
    teardown: a mesh left open would keep the process's ZAP endpoint and
    fail every later handshake. */
#define S_LIVE_MAX 8
static mesh_t *s_live[S_LIVE_MAX];

static void s_live_add(mesh_t **m)
{
    for (size_t i = 0; i < S_LIVE_MAX; i++)
        if (!s_live[i]) {
            s_live[i] = *m;
            return;
        }
    fail_msg("too many live meshes");
}

/*  The end of a mesh the test made. */
static void s_mesh_done(mesh_t **m)
{
    for (size_t i = 0; i < S_LIVE_MAX; i++)
        if (s_live[i] == *m)
            s_live[i] = NULL;
    mesh_destroy(m);
}

static void s_live_sweep(void)
{
    for (size_t i = 0; i < S_LIVE_MAX; i++)
        mesh_destroy(&s_live[i]);
}

/* ------------------------------------------------------------------ nodes */

typedef struct {
    char id[WIRE_MAX_ID + 1];
    mesh_t *mesh;
    size_t n_forward;
} node_t;

static void s_on_forward(void *arg, const wire_msg_t *msg)
{
    (void)msg;
    ((node_t *)arg)->n_forward++;
}

static void s_on_peer(void *arg, const char *id, mesh_liveness_t l)
{
    (void)arg, (void)id, (void)l;
}

static mesh_config_t s_config(node_t *n, const char *id)
{
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", tmesh_id(id));
    return tmesh_config_fast(n->id, s_on_forward, s_on_peer, n);
}

/*  The liveness n gives peer id, or -1 when it does not list it. */
static int s_liveness(node_t *n, const char *id)
{
    mesh_peer_view_t v[64];
    size_t k = mesh_peers(n->mesh, v, 64);
    for (size_t i = 0; i < k && i < 64; i++)
        if (streq(v[i].id, tmesh_id(id)))
            return (int)v[i].liveness;
    return -1;
}

typedef struct {
    node_t *n;
    const char *id;
    mesh_liveness_t l;
} sees_t;

static bool s_sees(void *arg)
{
    sees_t *s = arg;
    return s_liveness(s->n, s->id) == (int)s->l;
}

typedef struct {
    sees_t a, b;
} both_t;

static bool s_both(void *arg)
{
    both_t *w = arg;
    return s_sees(&w->a) && s_sees(&w->b);
}

/* ----------------------------------------------------------- a raw member */

/*  A member that speaks the wire format itself: a DEALER into the node, an
    inbox the node dials back (answering pings), what it received. */
typedef struct {
    char id[WIRE_MAX_ID + 1];
    char ep[64];
    zsock_t *dealer, *inbox;
    size_t n_rx;
} member_t;

static int s_member_on(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    member_t *m = arg;
    wire_msg_t msg;
    if (tmesh_recv(sock, &msg) != 0)
        return 0;
    m->n_rx++;
    if (msg.type == WIRE_PING) {
        wire_msg_t ack = {.type = WIRE_ACK, .seq = msg.seq};
        tmesh_send_as(m->dealer, m->id, &ack);
    }
    wire_msg_clear(&msg);
    return 0;
}

/*  secret: TMESH_SECRET for a member, another one or NULL (plain ZeroMQ)
    for an intruder; its inbox has the same CURVE (or none). */
static void s_member_new(member_t *m, zloop_t *loop, const char *id, const char *target,
                         const char *secret)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    if (secret && streq(secret, TMESH_SECRET)) {
        m->inbox = tmesh_inbox_new(m->ep, sizeof m->ep);
    } else {
        m->inbox = zsock_new(ZMQ_ROUTER);
        assert_non_null(m->inbox);
        zsock_set_linger(m->inbox, 0);
        if (secret) {
            zcert_t *cert = mesh_cert_new(secret);
            assert_non_null(cert);
            mesh_curve_apply(m->inbox, cert, true);
            zcert_destroy(&cert);
        }
        int port = mesh_bind_tcp(m->inbox, "tcp://127.0.0.1:*");
        assert_true(port > 0);
        snprintf(m->ep, sizeof m->ep, "127.0.0.1:%d", port);
    }
    assert_non_null(m->inbox);
    m->dealer = tmesh_dealer_new_with(id, target, secret);
    assert_non_null(m->dealer);
    zloop_reader(loop, m->dealer, s_member_on, m);
    zloop_reader(loop, m->inbox, s_member_on, m);
}

static void s_member_destroy(member_t *m, zloop_t *loop)
{
    zloop_reader_end(loop, m->dealer);
    zloop_reader_end(loop, m->inbox);
    zsock_destroy(&m->dealer);
    zsock_destroy(&m->inbox);
}

static const wire_model_t s_model = {.name = "gpt-test", .arena_id = "a-1", .modality = "chat"};

/* ------------------------------------------------------------ the flood */

/*  n made-up states: ids ghost-<tag>-<i>, each at its own closed port. */
static wire_state_t *s_ghosts(const char *tag, size_t n, char (*ids)[32], char (*eps)[32])
{
    wire_state_t *st = calloc(n, sizeof *st);
    assert_non_null(st);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], 32, "ghost-%s-%zu", tag, i);
        snprintf(eps[i], 32, "127.0.0.1:%zu", 20000 + i);
        st[i] = (wire_state_t){.id = (char *)tmesh_id(ids[i]),
                               .name = ids[i],
                               .endpoint = eps[i],
                               .http = "http://127.0.0.1:1",
                               .incarnation = 1,
                               .version = 1,
                               .p50_ms = -1};
    }
    return st;
}

typedef struct {
    member_t *m;
    size_t before;
} rx_wait_t;

static bool s_rx_more(void *arg)
{
    rx_wait_t *w = arg;
    return w->m->n_rx > w->before;
}

/*  One message of each kind naming S_GHOSTS peers, `rounds` times. */
static void s_flood(zloop_t *loop, member_t *m, int rounds)
{
    static char ids[S_GHOSTS][32], eps[S_GHOSTS][32];
    for (int r = 0; r < rounds; r++) {
        char tag[16];
        snprintf(tag, sizeof tag, "%d", r);
        wire_state_t *st = s_ghosts(tag, S_GHOSTS, ids, eps);
        wire_msg_t push = {.type = WIRE_PUSH, .states = st, .n_states = S_GHOSTS};
        assert_int_equal(tmesh_send_as(m->dealer, m->id, &push), 0);
        wire_msg_t delta = {.type = WIRE_DELTA, .states = st, .n_states = S_GHOSTS};
        for (size_t i = 0; i < S_GHOSTS; i++)
            st[i].version = 2; /* news again, for whatever the push made */
        assert_int_equal(tmesh_send_as(m->dealer, m->id, &delta), 0);
        wire_peer_ref_t *refs = calloc(S_GHOSTS, sizeof *refs);
        assert_non_null(refs);
        for (size_t i = 0; i < S_GHOSTS; i++) {
            snprintf(ids[i], 32, "ghost-h%s-%zu", tag, i);
            refs[i] = (wire_peer_ref_t){.id = (char *)tmesh_id(ids[i]), .endpoint = eps[i]};
        }
        wire_state_t self = {.id = (char *)tmesh_id(m->id),
                             .name = m->id,
                             .endpoint = m->ep,
                             .http = "http://127.0.0.1:1",
                             .incarnation = 1,
                             .version = 10 + (uint64_t)r,
                             .p50_ms = -1};
        wire_msg_t hello = {
            .type = WIRE_HELLO, .states = &self, .n_states = 1, .peers = refs, .n_peers = S_GHOSTS};
        assert_int_equal(tmesh_send_as(m->dealer, m->id, &hello), 0);
        free(refs);
        free(st);
        tmesh_run(loop, 20);
    }
}

static void s_check_bounded(node_t *a, size_t max_held)
{
    mesh_stats_t st;
    mesh_stats(a->mesh, &st);
    if (st.peers_held > max_held)
        fail_msg("%llu peers held, the bound is %zu", (unsigned long long)st.peers_held, max_held);
    assert_true(st.peers_refused > 0);
}

/*  With a small table: the node fills it and refuses the rest, politely. */
static void test_flood_small_table(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    mesh_config_t c = s_config(&a, "node-a");
    c.max_peers = 40;
    c.dial_rate = 10000; /* the table bound is the one reached here */
    a.mesh = tmesh_node_new(&c, loop, "node-a");
    assert_non_null(a.mesh);
    s_live_add(&a.mesh);
    member_t m;
    s_member_new(&m, loop, "member-m", mesh_endpoint(a.mesh), TMESH_SECRET);
    assert_int_equal(tmesh_send_hello(m.dealer, m.id, m.ep, &s_model, 0, 4), 0);
    sees_t alive = {&a, "member-m", MESH_PEER_ALIVE};
    assert_true(tmesh_run_until(loop, s_sees, &alive, 3000));

    s_flood(loop, &m, 5);
    tmesh_run(loop, 300);
    s_check_bounded(&a, 40);
    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    assert_int_equal(st.peers_held, 40); /* full, not over */
    assert_true(st.sockets <= 40 * 3 + 6);
    assert_true(s_log_count("peer table full") >= 1);
    assert_true(s_log_count("peer table full") <= 10); /* rate-limited */
    /* still up, still serving the member: it answers its pings */
    rx_wait_t w = {&m, m.n_rx};
    wire_msg_t ping = {.type = WIRE_PING, .seq = 77};
    assert_int_equal(tmesh_send_as(m.dealer, m.id, &ping), 0);
    assert_true(tmesh_run_until(loop, s_rx_more, &w, 2000));
    assert_int_equal(s_liveness(&a, "member-m"), MESH_PEER_ALIVE);
    s_member_destroy(&m, loop);
    s_mesh_done(&a.mesh);
}

/*  A table full of made-up peers (shown unreachable by now, on the
    member's word) still lets a real node in: one that introduces itself
    takes the place of an entry known by hearsay only. */
static void test_full_table_admits_a_real_node(void **state)
{
    zloop_t *loop = *state;
    node_t a, b;
    mesh_config_t ca = s_config(&a, "node-a");
    ca.max_peers = 40;
    ca.dial_rate = 10000;
    a.mesh = tmesh_node_new(&ca, loop, "node-a");
    assert_non_null(a.mesh);
    s_live_add(&a.mesh);
    member_t m;
    s_member_new(&m, loop, "member-m", mesh_endpoint(a.mesh), TMESH_SECRET);
    assert_int_equal(tmesh_send_hello(m.dealer, m.id, m.ep, &s_model, 0, 4), 0);
    sees_t alive_m = {&a, "member-m", MESH_PEER_ALIVE};
    assert_true(tmesh_run_until(loop, s_sees, &alive_m, 3000));
    s_flood(loop, &m, 3);
    tmesh_run(loop, ca.suspect_ms + 500);
    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    assert_int_equal(st.peers_held, 40);
    mesh_config_t cb = s_config(&b, "node-b");
    const char *seed[] = {mesh_endpoint(a.mesh)};
    cb.seeds = seed;
    cb.n_seeds = 1;
    b.mesh = tmesh_node_new(&cb, loop, "node-b");
    assert_non_null(b.mesh);
    s_live_add(&b.mesh);
    both_t joined = {{&a, "node-b", MESH_PEER_ALIVE}, {&b, "node-a", MESH_PEER_ALIVE}};
    assert_true(tmesh_run_until(loop, s_both, &joined, 3000));
    mesh_stats(a.mesh, &st);
    assert_true(st.peers_held <= 40);
    assert_int_equal(s_liveness(&a, "member-m"), MESH_PEER_ALIVE); /* a member is no hearsay */
    s_member_destroy(&m, loop);
    s_mesh_done(&b.mesh);
    s_mesh_done(&a.mesh);
}

/*  Bounds set as high as they go: the sockets run out first, and the node
    refuses politely instead of letting czmq abort (as it did when one push
    could open a DEALER per made-up peer). */
static void test_flood_socket_limit(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    mesh_config_t c = s_config(&a, "node-a");
    c.max_peers = MESH_MAX_PEERS_LIMIT;
    c.max_new = MESH_MAX_PEERS_LIMIT;
    c.dial_rate = 10000;
    a.mesh = tmesh_node_new(&c, loop, "node-a");
    assert_non_null(a.mesh);
    s_live_add(&a.mesh);
    member_t m;
    s_member_new(&m, loop, "member-m", mesh_endpoint(a.mesh), TMESH_SECRET);
    assert_int_equal(tmesh_send_hello(m.dealer, m.id, m.ep, &s_model, 0, 4), 0);
    sees_t alive = {&a, "member-m", MESH_PEER_ALIVE};
    assert_true(tmesh_run_until(loop, s_sees, &alive, 3000));
    s_flood(loop, &m, 3);
    tmesh_run(loop, 300);
    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    size_t limit = (size_t)zmq_ctx_get(zsys_init(), ZMQ_MAX_SOCKETS);
    if (st.sockets + 64 > limit)
        fail_msg("%llu mesh sockets, libzmq's limit is %zu", (unsigned long long)st.sockets, limit);
    assert_true(st.peers_held < MESH_MAX_PEERS_LIMIT);
    assert_true(st.peers_refused > 0);
    assert_true(s_log_count("peers fit this process's socket and open-file limits") == 1);
    rx_wait_t w = {&m, m.n_rx};
    wire_msg_t ping = {.type = WIRE_PING, .seq = 78};
    assert_int_equal(tmesh_send_as(m.dealer, m.id, &ping), 0);
    assert_true(tmesh_run_until(loop, s_rx_more, &w, 2000));
    s_member_destroy(&m, loop);
    s_mesh_done(&a.mesh);
}

/*  The defaults: one message introduces at most MESH_DEFAULT_MAX_NEW peers
    and new dials keep to MESH_DEFAULT_DIAL_RATE per second. */
static void test_flood_defaults(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    mesh_config_t c = s_config(&a, "node-a");
    a.mesh = tmesh_node_new(&c, loop, "node-a");
    assert_non_null(a.mesh);
    s_live_add(&a.mesh);
    member_t m;
    s_member_new(&m, loop, "member-m", mesh_endpoint(a.mesh), TMESH_SECRET);
    assert_int_equal(tmesh_send_hello(m.dealer, m.id, m.ep, &s_model, 0, 4), 0);
    sees_t alive = {&a, "member-m", MESH_PEER_ALIVE};
    assert_true(tmesh_run_until(loop, s_sees, &alive, 3000));
    mesh_stats_t st;
    mesh_stats(a.mesh, &st);
    uint64_t held0 = st.peers_held;

    /* one push of S_GHOSTS made-up peers */
    static char ids[S_GHOSTS][32], eps[S_GHOSTS][32];
    wire_state_t *g = s_ghosts("p", S_GHOSTS, ids, eps);
    wire_msg_t push = {.type = WIRE_PUSH, .states = g, .n_states = S_GHOSTS};
    int64_t t0 = zclock_mono();
    assert_int_equal(tmesh_send_as(m.dealer, m.id, &push), 0);
    free(g);
    tmesh_run(loop, 300);
    mesh_stats(a.mesh, &st);
    assert_int_equal(st.peers_held, held0 + MESH_DEFAULT_MAX_NEW);
    assert_true(s_log_count("too many new peers in one message") >= 1);

    /* a stream of them: the dial rate holds (a burst of one second's worth) */
    s_flood(loop, &m, 15);
    double secs = (double)(zclock_mono() - t0) / 1000.0;
    mesh_stats(a.mesh, &st);
    double most = (double)held0 + MESH_DEFAULT_DIAL_RATE * (1.0 + secs) + 1;
    if ((double)st.peers_held > most)
        fail_msg("%llu peers held after %.2f s (at most %.0f)", (unsigned long long)st.peers_held,
                 secs, most);
    s_check_bounded(&a, MESH_DEFAULT_MAX_PEERS);
    assert_true(s_log_count("faster than --mesh-dial-rate") >= 1);
    s_member_destroy(&m, loop);
    s_mesh_done(&a.mesh);
}

/*  A node that joins while the seed refuses new peers (its dial rate spent
    by a flood) says hello again and gets in once the seed has room: a
    refusal costs a joiner time, never its place. */
static void test_join_after_refusal(void **state)
{
    zloop_t *loop = *state;
    node_t a, b;
    mesh_config_t ca = s_config(&a, "node-a");
    ca.dial_rate = 1;
    a.mesh = tmesh_node_new(&ca, loop, "node-a");
    assert_non_null(a.mesh);
    s_live_add(&a.mesh);
    member_t m;
    s_member_new(&m, loop, "member-m", mesh_endpoint(a.mesh), TMESH_SECRET);
    assert_int_equal(tmesh_send_hello(m.dealer, m.id, m.ep, &s_model, 0, 4), 0);
    sees_t alive_m = {&a, "member-m", MESH_PEER_ALIVE};
    assert_true(tmesh_run_until(loop, s_sees, &alive_m, 3000));
    s_flood(loop, &m, 1); /* the bucket is empty now */
    mesh_config_t cb = s_config(&b, "node-b");
    const char *seed[] = {mesh_endpoint(a.mesh)};
    cb.seeds = seed;
    cb.n_seeds = 1;
    b.mesh = tmesh_node_new(&cb, loop, "node-b");
    assert_non_null(b.mesh);
    s_live_add(&b.mesh);
    both_t joined = {{&a, "node-b", MESH_PEER_ALIVE}, {&b, "node-a", MESH_PEER_ALIVE}};
    assert_true(tmesh_run_until(loop, s_both, &joined, cb.dead_ms + 3000));
    assert_true(s_log_count("faster than --mesh-dial-rate") >= 1);
    s_member_destroy(&m, loop);
    s_mesh_done(&b.mesh);
    s_mesh_done(&a.mesh);
}

/* ---------------------------------------------------------- the intruder */

/*  Without the secret (plain ZeroMQ, or CURVE with another secret) a
    process that says hello and then fwd gets nothing back, is not listed
    and never gets a request; a member holding the secret does (the
    control: the same steps are seen when allowed). */
static void test_intruder(void **state)
{
    zloop_t *loop = *state;
    node_t a;
    mesh_config_t c = s_config(&a, "node-a");
    a.mesh = tmesh_node_new(&c, loop, "node-a");
    assert_non_null(a.mesh);
    s_live_add(&a.mesh);
    const char *secrets[] = {NULL, "another-secret", TMESH_SECRET};
    for (size_t i = 0; i < 3; i++) {
        bool allowed = i == 2;
        char id[32];
        snprintf(id, sizeof id, "visitor-%zu", i);
        member_t x;
        s_member_new(&x, loop, id, mesh_endpoint(a.mesh), secrets[i]);
        mesh_stats_t before;
        mesh_stats(a.mesh, &before);
        assert_int_equal(tmesh_send_hello(x.dealer, x.id, x.ep, &s_model, 0, 8), 0);
        wire_msg_t fwd = {.type = WIRE_FWD,
                          .rid = "r-1",
                          .model = "gpt-test",
                          .request = "{\"messages\":[]}",
                          .request_len = 15};
        tmesh_send_as(x.dealer, x.id, &fwd);
        sees_t listed = {&a, x.id, MESH_PEER_ALIVE};
        bool in = tmesh_run_until(loop, s_sees, &listed, allowed ? 3000 : 1500);
        mesh_stats_t after;
        mesh_stats(a.mesh, &after);
        if (in != allowed)
            fail_msg("%s: listed %d", secrets[i] ? secrets[i] : "plain ZeroMQ", in);
        if (!allowed) {
            assert_int_equal(after.rx, before.rx); /* nothing got past the handshake */
            assert_true(after.curve_rejected > before.curve_rejected);
            assert_int_equal(x.n_rx, 0);
            assert_int_equal(a.n_forward, 0);
            wire_msg_t out = {.type = WIRE_FWD, .rid = "r-2", .model = "gpt-test"};
            assert_int_equal(mesh_send(a.mesh, tmesh_id(x.id), &out), -1); /* never routed to */
        } else {
            assert_true(after.rx > before.rx);
            tmesh_run(loop, 100);
            assert_int_equal(a.n_forward, 1);
        }
        s_member_destroy(&x, loop);
    }
    s_mesh_done(&a.mesh);
}

/* -------------------------------------------------------- the partition */

#define S_RELAY_PAIRS 64

/*  A TCP relay on 127.0.0.1 in front of a node's mesh port. Cut, it reads
    and drops every byte both ways and keeps every connection open (new ones
    too): what a firewall that drops packets looks like from either end,
    minus the kernel's retransmissions. */
typedef struct {
    int lfd, port, up_port;
    atomic_bool cut, stop;
    int pairs[S_RELAY_PAIRS][2];
    size_t n_pairs;
    pthread_t th;
} relay_t;

static void s_pair_close(relay_t *r, size_t i)
{
    close(r->pairs[i][0]);
    close(r->pairs[i][1]);
    r->pairs[i][0] = r->pairs[--r->n_pairs][0];
    r->pairs[i][1] = r->pairs[r->n_pairs][1];
}

static int s_connect_up(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static bool s_write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        buf += w, n -= (size_t)w;
    }
    return true;
}

static void *s_relay_main(void *arg)
{
    relay_t *r = arg;
    static _Thread_local char buf[65536];
    while (!atomic_load(&r->stop)) {
        struct pollfd p[1 + 2 * S_RELAY_PAIRS];
        p[0] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
        for (size_t i = 0; i < r->n_pairs; i++)
            for (int k = 0; k < 2; k++)
                p[1 + 2 * i + k] = (struct pollfd){.fd = r->pairs[i][k], .events = POLLIN};
        if (poll(p, 1 + 2 * r->n_pairs, 20) <= 0)
            continue;
        for (size_t i = r->n_pairs; i-- > 0;) {
            for (int k = 0; k < 2; k++) {
                if (!(p[1 + 2 * i + k].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                ssize_t n = read(r->pairs[i][k], buf, sizeof buf);
                if (n <= 0 ||
                    (!atomic_load(&r->cut) && !s_write_all(r->pairs[i][1 - k], buf, (size_t)n))) {
                    s_pair_close(r, i);
                    break;
                }
            }
        }
        if (p[0].revents & POLLIN) {
            int cfd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
            int ufd = cfd >= 0 ? s_connect_up(r->up_port) : -1;
            if (ufd < 0 || r->n_pairs == S_RELAY_PAIRS) {
                if (cfd >= 0)
                    close(cfd);
                if (ufd >= 0)
                    close(ufd);
                continue;
            }
            r->pairs[r->n_pairs][0] = cfd;
            r->pairs[r->n_pairs++][1] = ufd;
        }
    }
    while (r->n_pairs)
        s_pair_close(r, 0);
    return NULL;
}

static void s_relay_listen(relay_t *r)
{
    memset(r, 0, sizeof *r);
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(r->lfd, 64), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sa, &len), 0);
    r->port = ntohs(sa.sin_port);
}

static void s_relay_start(relay_t *r, int up_port)
{
    r->up_port = up_port;
    assert_int_equal(pthread_create(&r->th, NULL, s_relay_main, r), 0);
}

static void s_relay_stop(relay_t *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->th, NULL);
    close(r->lfd);
}

/*  Two nodes that reach each other only through relays (each advertises
    its relay); default timings, the ones the bound is promised for. */
static void test_partition_heals_fast(void **state)
{
    zloop_t *loop = *state;
    relay_t ra, rb;
    s_relay_listen(&ra);
    s_relay_listen(&rb);
    char ep_a[32], ep_b[32];
    snprintf(ep_a, sizeof ep_a, "127.0.0.1:%d", ra.port);
    snprintf(ep_b, sizeof ep_b, "127.0.0.1:%d", rb.port);
    node_t a, b;
    mesh_config_t ca = s_config(&a, "node-a"), cb = s_config(&b, "node-b");
    mesh_config_t *cs[] = {&ca, &cb};
    for (size_t i = 0; i < 2; i++) { /* the defaults of docs/mesh-protocol.md */
        cs[i]->gossip_ms = cs[i]->ping_ms = cs[i]->ping_timeout_ms = 0;
        cs[i]->suspect_ms = cs[i]->dead_ms = 0;
    }
    ca.advertise = ep_a;
    cb.advertise = ep_b;
    const char *seed_b[] = {ep_a};
    cb.seeds = seed_b;
    cb.n_seeds = 1;
    a.mesh = tmesh_node_new(&ca, loop, "node-a");
    assert_non_null(a.mesh);
    s_live_add(&a.mesh);
    s_relay_start(&ra, mesh_port(a.mesh));
    b.mesh = tmesh_node_new(&cb, loop, "node-b");
    assert_non_null(b.mesh);
    s_live_add(&b.mesh);
    s_relay_start(&rb, mesh_port(b.mesh));

    both_t alive = {{&a, "node-b", MESH_PEER_ALIVE}, {&b, "node-a", MESH_PEER_ALIVE}};
    assert_true(tmesh_run_until(loop, s_both, &alive, 5000));

    /* the partition: until both hold the other dead, then a while longer
       (past the hellos that greet a peer as it dies) */
    atomic_store(&ra.cut, true);
    atomic_store(&rb.cut, true);
    both_t dead = {{&a, "node-b", MESH_PEER_DEAD}, {&b, "node-a", MESH_PEER_DEAD}};
    assert_true(tmesh_run_until(loop, s_both, &dead, MESH_DEFAULT_DEAD_MS + 4000));
    tmesh_run(loop, MESH_DEFAULT_SUSPECT_MS + 200);
    assert_true(s_both(&dead));

    atomic_store(&ra.cut, false);
    atomic_store(&rb.cut, false);
    int64_t t0 = zclock_mono();
    bool healed = tmesh_run_until(loop, s_both, &alive, 4 * S_HEAL_MAX_MS);
    int64_t took = zclock_mono() - t0;
    print_message("alive again %lld ms after the partition healed\n", (long long)took);
    if (!healed || took > S_HEAL_MAX_MS)
        fail_msg("alive again after %lld ms (healed %d), the bound is %d ms", (long long)took,
                 healed, S_HEAL_MAX_MS);
    s_mesh_done(&b.mesh);
    s_mesh_done(&a.mesh);
    s_relay_stop(&ra);
    s_relay_stop(&rb);
}

/* ---------------------------------------------------------- secret file */

/*  The per-user secret file: made once (0600, directory 0700), read back
    the same; refused when others may read it or it holds no secret. */
static void test_secret_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/arena-secret-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], again[MESH_SECRET_MAX + 1], s1[MESH_SECRET_MAX + 1], err[512];
    snprintf(path, sizeof path, "%s/cfg/arena-mesh/mesh-secret", dir);
    assert_int_equal(mesh_secret_load(path, s1, sizeof s1, err, sizeof err), 0);
    assert_int_equal(strlen(s1), 64);
    assert_int_equal(mesh_secret_load(path, again, sizeof again, err, sizeof err), 0);
    assert_string_equal(s1, again);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/cfg/arena-mesh", dir);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(mesh_secret_load(path, again, sizeof again, err, sizeof err), -1);
    assert_non_null(strstr(err, "chmod 600"));
    /* an operator's own file: one word, white space around it ignored */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("  my-shared-secret\n\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(mesh_secret_load(path, again, sizeof again, err, sizeof err), 0);
    assert_string_equal(again, "my-shared-secret");
    char link_path[300]; /* a symlink (a dotfiles manager, a mounted secret): its target counts */
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    assert_int_equal(symlink(path, link_path), 0);
    assert_int_equal(mesh_secret_load(link_path, again, sizeof again, err, sizeof err), 0);
    assert_string_equal(again, "my-shared-secret");
    unlink(link_path);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("two words\n", f);
    fclose(f);
    assert_int_equal(mesh_secret_load(path, again, sizeof again, err, sizeof err), -1);
    assert_non_null(strstr(err, "holds no mesh secret"));
    unlink(path);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/cfg", dir);
    rmdir(sub);
    rmdir(dir);
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
    s_live_sweep();
    zloop_destroy(&loop);
    s_log_clear();
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alog_set_sink(s_sink);
    alog_set_level(getenv("MESH_TEST_DEBUG") ? ALOG_DEBUG : ALOG_INFO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secret_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_intruder, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_flood_small_table, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_flood_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_flood_socket_limit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_join_after_refusal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_full_table_admits_a_real_node, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_partition_heals_fast, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    s_log_clear();
    zsys_shutdown();
    return rc;
}
