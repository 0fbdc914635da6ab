/*  fuzz_mesh_live — a live mesh instance fed hostile messages over a real
    ZeroMQ socket.

    Once per process: a mesh A (mesh_new on its own zloop, loopback, fixed
    test signing key) and a raw member M (a DEALER into A's inbox with M's
    id, and an inbox A dials back) that said hello with its own signed state
    and answers A's pings, so A treats M as a member in good standing. Each
    input is one message from M, chosen by its first byte:

      0  the rest as raw bytes (anything at all: the codec's and the
         mesh's refusals);
      1  the rest as the "st" of one signed state (M's key, valid signature)
         in a push: hostile contents past the signature check;
      2+ a state built from the rest (id one of a few known keys', hostile
         versions, names, endpoints, models, cooldowns, leaving), signed by
         that id's key or by another's, sent as push, delta, hello, reject
         or leave.

    The loop runs until A has consumed the message (its counters moved) or
    a second passes. After each input: A never holds a state that is not
    its owner's word (every state in mesh_peers verifies against the key of
    its id, and no version is beyond the plausibility bound); the process
    must not crash or leak (ASan, LeakSanitizer, UBSan). Ids and endpoints
    come from small fixed sets so the peer table stays small. Seeds:
    corpus/mesh_live/. */
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/mesh.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/ident.h"
#include "protocol/wire.h"

#define S_KEYS 4 /* 0: A, 1: M, 2 and 3: other members (never connected) */
#define S_AHEAD_MS (24LL * 3600 * 1000 + 60000) /* the mesh's bound, and a minute */

typedef struct {
    uint8_t pk[IDENT_PK_LEN], sk[IDENT_SK_LEN];
    char id[IDENT_ID_LEN];
} s_key_t;

static struct {
    bool ready;
    zloop_t *loop;
    mesh_t *a;
    zsock_t *dealer, *inbox; /* M's */
    char ep[64];             /* M's inbox */
    s_key_t keys[S_KEYS];
    uint64_t m_version; /* M's own state's version (grows) */
    uint64_t applied;   /* inputs after which A held a newer state of M (coverage) */
} s;

static const char *const s_endpoints[] = {"127.0.0.1:1", "10.1.2.3:5104",   "[::1]:2",
                                          "localhost:3", "not an endpoint", ""};

static void s_send(const wire_msg_t *m)
{
    abuf_t b = ABUF_INIT;
    if (wire_msg_encode(m, &b) == 0)
        zmq_send(zsock_resolve(s.dealer), b.data, b.len, ZMQ_DONTWAIT);
    abuf_free(&b);
}

/*  M's hello (a fresh version each time: it may have left). */
static void s_hello(void)
{
    wire_model_t md = {.name = "m-model", .arena_id = "a", .modality = "chat", .reason = ""};
    wire_state_t st = {.id = s.keys[1].id,
                       .name = "member",
                       .endpoint = s.ep,
                       .http = "http://127.0.0.1:1",
                       .incarnation = 1,
                       .version = ++s.m_version,
                       .tabs = 1,
                       .tabs_healthy = 1,
                       .capacity = 4,
                       .p50_ms = -1,
                       .models = &md,
                       .n_models = 1};
    if (wire_state_seal(&st, s.keys[1].sk) < 0)
        abort();
    wire_msg_t m = {.type = WIRE_HELLO, .from = s.keys[1].id, .states = &st, .n_states = 1};
    s_send(&m);
    free(st.sealed);
}

/*  M answers pings (on either socket) and ignores everything else. */
static int s_on_member(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    (void)arg;
    zmsg_t *z = zmsg_recv(sock);
    if (!z)
        return 0;
    zframe_t *body = zmsg_last(z);
    wire_msg_t m;
    if (body && wire_msg_decode(zframe_data(body), zframe_size(body), &m, NULL, 0) == WIRE_MSG_OK) {
        if (m.type == WIRE_PING) {
            wire_msg_t ack = {.type = WIRE_ACK, .from = s.keys[1].id, .seq = m.seq};
            s_send(&ack);
        }
        wire_msg_clear(&m);
    }
    zmsg_destroy(&z);
    return 0;
}

static int s_stop(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    (void)arg;
    return -1;
}

static void s_run(int ms)
{
    int t = zloop_timer(s.loop, (size_t)ms, 1, s_stop, NULL);
    zloop_start(s.loop);
    zloop_timer_end(s.loop, t);
}

static uint64_t s_consumed(void)
{
    mesh_stats_t st;
    mesh_stats(s.a, &st);
    return st.rx + st.malformed + st.forged;
}

static const mesh_peer_view_t *s_view(const char *id)
{
    static mesh_peer_view_t v[64];
    size_t n = mesh_peers(s.a, v, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(v[i].id, id) == 0)
            return &v[i];
    return NULL;
}

static void s_teardown(void)
{
    if (getenv("ARENA_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_mesh_live: %llu inputs moved M's state at A\n",
                (unsigned long long)s.applied);
    mesh_destroy(&s.a);
    zsock_destroy(&s.dealer);
    zsock_destroy(&s.inbox);
    zloop_destroy(&s.loop);
}

#define S_SECRET "fuzz-mesh-live-secret"

static void s_setup(void)
{
    alog_set_level(ALOG_ERROR);
    zsys_init();
    zsys_set_linger(0);
    if (ident_init() < 0)
        abort();
    for (int i = 0; i < S_KEYS; i++) {
        uint8_t seed[IDENT_SEED_LEN];
        memset(seed, 0x11 * (i + 1), sizeof seed);
        if (ident_keypair(seed, s.keys[i].pk, s.keys[i].sk) < 0)
            abort();
        ident_id(s.keys[i].pk, s.keys[i].id);
    }
    s.loop = zloop_new();
    /* the mesh is never open: A, and M as a member, hold the secret */
    zcert_t *cert = mesh_cert_new(S_SECRET);
    if (!cert)
        abort();
    mesh_config_t c = {.node_id = s.keys[0].id,
                       .sign_key = s.keys[0].sk,
                       .secret = S_SECRET,
                       .local_only = true,
                       .bind_host = "127.0.0.1",
                       .gossip_ms = 50,
                       .ping_ms = 100,
                       .ping_timeout_ms = 100,
                       .suspect_ms = 1500,
                       .dead_ms = 4000};
    s.a = mesh_new(&c, s.loop);
    if (!s.a)
        abort();
    s.inbox = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(s.inbox, 0);
    mesh_curve_apply(s.inbox, cert, true);
    int port = mesh_bind_tcp(s.inbox, "tcp://127.0.0.1:*");
    if (port <= 0)
        abort();
    snprintf(s.ep, sizeof s.ep, "127.0.0.1:%d", port);
    s.dealer = zsock_new(ZMQ_DEALER);
    zsock_set_linger(s.dealer, 0);
    zsock_set_identity(s.dealer, s.keys[1].id);
    mesh_curve_apply(s.dealer, cert, false);
    zcert_destroy(&cert);
    if (zsock_connect(s.dealer, "tcp://%s", mesh_endpoint(s.a)) != 0)
        abort();
    zloop_reader(s.loop, s.dealer, s_on_member, NULL);
    zloop_reader(s.loop, s.inbox, s_on_member, NULL);
    s.m_version = (uint64_t)zclock_time();
    s_run(50);
    s_hello();
    for (int i = 0; i < 200; i++) { /* A knows M (1 s at most) */
        const mesh_peer_view_t *v = s_view(s.keys[1].id);
        if (v && v->liveness == MESH_PEER_ALIVE && v->state)
            break;
        s_run(5);
    }
    s.ready = true;
    atexit(s_teardown);
}

/* ------------------------------------------------------- the input, read */

typedef struct {
    const uint8_t *p;
    size_t n;
} s_in_t;

static uint8_t s_u8(s_in_t *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t s_u64(s_in_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | s_u8(in);
    return v;
}

/*  A string of the input (length byte, then bytes; NUL-terminated copy in
    buf), made printable unless the input asks for raw bytes. */
static bool s_raw_strings; /* this input's strings as they are, else printable */

static char *s_str(s_in_t *in, char *buf, size_t cap)
{
    size_t len = s_u8(in) % cap;
    if (len > in->n)
        len = in->n;
    memcpy(buf, in->p, len);
    for (size_t i = 0; i < len && !s_raw_strings; i++)
        buf[i] = (char)(0x20 + (uint8_t)buf[i] % 95);
    buf[len] = '\0';
    in->p += len;
    in->n -= len;
    return buf;
}

/*  The first byte picked a state to build: its id, signer, version, fields. */
static void s_build_state(s_in_t *in)
{
    uint8_t pick = s_u8(in);
    int id_of = pick % S_KEYS; /* signed by its own key unless bit 7 picks another */
    int signer = (pick & 0x80) ? (pick >> 2) % S_KEYS : id_of;
    uint8_t flags = s_u8(in);
    s_raw_strings = flags & 128;
    char name[64], http[64], mname[64], reason[64], ep[64];
    wire_state_t st = {0};
    st.id = s.keys[id_of].id;
    st.name = s_str(in, name, sizeof name);
    st.http = s_str(in, http, sizeof http);
    st.endpoint = (flags & 1) ? s.ep : (char *)s_endpoints[s_u8(in) % 6];
    if (flags & 2) {
        st.endpoint = s_str(in, ep, sizeof ep);
    }
    st.incarnation = (flags & 4) ? s_u64(in) : 1;
    st.version = (flags & 8) ? s_u64(in) : ++s.m_version;
    st.heartbeat = s_u64(in);
    st.started_at_ms = (int64_t)(s_u64(in) >> 1);
    st.leaving = flags & 16;
    st.tabs = s_u8(in);
    st.tabs_healthy = s_u8(in);
    st.inflight = s_u8(in);
    st.capacity = s_u8(in);
    st.p50_ms = -1;
    st.node_cooled_remaining_ms = (int64_t)(s_u64(in) >> 1);
    wire_model_t md = {.name = s_str(in, mname, sizeof mname),
                       .arena_id = "a",
                       .modality = "chat",
                       .cooled_remaining_ms = (int64_t)(s_u64(in) >> 1),
                       .reason = s_str(in, reason, sizeof reason)};
    st.models = &md;
    st.n_models = flags & 32 ? 1 : 0;
    st.age_ms = (int64_t)(s_u64(in) >> 1);
    if (wire_state_seal(&st, s.keys[signer].sk) < 0)
        return; /* a field the wire format cannot carry */
    static const wire_type_t types[] = {WIRE_PUSH, WIRE_DELTA, WIRE_HELLO, WIRE_REJECT, WIRE_LEAVE};
    wire_msg_t m = {.type = types[s_u8(in) % 5],
                    .from = s.keys[1].id,
                    .states = &st,
                    .n_states = 1,
                    .incarnation = st.incarnation,
                    .rid = "r-1",
                    .reason = "busy"};
    if (flags & 64) /* another member's own state sent as if it were M's */
        m.from = st.id;
    abuf_t b = ABUF_INIT;
    if (wire_msg_encode(&m, &b) == 0)
        zmq_send(zsock_resolve(s.dealer), b.data, b.len, ZMQ_DONTWAIT);
    abuf_free(&b);
    free(st.sealed);
}

/*  rest as the "st" bytes of a state M signs, in a push. Every uint64 42
    written in 9 bytes (cf 00 … 2a, never what an encoder writes) becomes
    M's next version, so seeds keep a version A takes (newer than M's last,
    not ahead of the clock) however old the corpus. */
static void s_signed_blob(const uint8_t *in, size_t n)
{
    static const uint8_t mark[] = {0xcf, 0, 0, 0, 0, 0, 0, 0, 0x2a};
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        return;
    if (n)
        memcpy(p, in, n);
    for (size_t i = 0; i + sizeof mark <= n; i++)
        if (memcmp(p + i, mark, sizeof mark) == 0) {
            uint64_t v = ++s.m_version;
            for (int k = 8; k >= 1; k--, v >>= 8)
                p[i + (size_t)k] = (uint8_t)v;
        }
    uint8_t sig[IDENT_SIG_LEN];
    if (ident_sign_state(s.keys[1].sk, p, n, sig) < 0) {
        free(p);
        return;
    }
    abuf_t b = ABUF_INIT;
    b.max = WIRE_MSG_MAX + 1024;
    /* {"v":2,"t":"push","from":M,"states":[{"st":bin,"pk":bin,"sig":bin,"age":0}]} by hand */
    static const uint8_t head[] = {
        0x84, 0xa1, 'v', WIRE_MSG_VERSION, 0xa1, 't', 0xa4, 'p', 'u', 's', 'h', 0xa4, 'f', 'r',
        'o',  'm',  0xd9};
    uint8_t idlen = (uint8_t)strlen(s.keys[1].id);
    static const uint8_t states[] = {0xa6, 's',  't',  'a', 't', 'e', 's',
                                     0x91, 0x84, 0xa2, 's', 't', 0xc6};
    uint8_t len32[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    static const uint8_t pk_key[] = {0xa2, 'p', 'k', 0xc4, IDENT_PK_LEN};
    static const uint8_t sig_key[] = {0xa3, 's', 'i', 'g', 0xc4, IDENT_SIG_LEN};
    static const uint8_t age[] = {0xa3, 'a', 'g', 'e', 0x00};
    if (abuf_append(&b, head, sizeof head) == 0 && abuf_append(&b, &idlen, 1) == 0 &&
        abuf_append(&b, s.keys[1].id, idlen) == 0 && abuf_append(&b, states, sizeof states) == 0 &&
        abuf_append(&b, len32, 4) == 0 && abuf_append(&b, p, n) == 0 &&
        abuf_append(&b, pk_key, sizeof pk_key) == 0 &&
        abuf_append(&b, s.keys[1].pk, IDENT_PK_LEN) == 0 &&
        abuf_append(&b, sig_key, sizeof sig_key) == 0 && abuf_append(&b, sig, sizeof sig) == 0 &&
        abuf_append(&b, age, sizeof age) == 0)
        zmq_send(zsock_resolve(s.dealer), b.data, b.len, ZMQ_DONTWAIT);
    abuf_free(&b);
    free(p);
}

/*  Nothing A holds may be other than its owner's signed word. */
static void s_check(void)
{
    mesh_peer_view_t v[64];
    size_t n = mesh_peers(s.a, v, 64);
    uint64_t bound = (uint64_t)(zclock_time() + S_AHEAD_MS);
    for (size_t i = 0; i < n && i < 64; i++) {
        const wire_state_t *st = v[i].state;
        if (!st)
            continue;
        if (strcmp(st->id, v[i].id) != 0 || !st->sealed || !ident_id_matches(st->id, st->pk) ||
            !ident_verify_state(st->pk, st->sealed, st->sealed_len, st->sig) ||
            st->version > bound || st->incarnation > bound)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s.ready)
        s_setup();
    if (size == 0)
        return 0;
    uint64_t before = s_consumed();
    const mesh_peer_view_t *was = s_view(s.keys[1].id);
    uint64_t was_version = was && was->state ? was->state->version : 0;
    s_in_t in = {data + 1, size - 1};
    if (data[0] == 0)
        zmq_send(zsock_resolve(s.dealer), data + 1, size - 1, ZMQ_DONTWAIT);
    else if (data[0] == 1)
        s_signed_blob(data + 1, size - 1);
    else
        s_build_state(&in);
    for (int i = 0; i < 200 && s_consumed() == before; i++)
        s_run(5);
    s_check();
    const mesh_peer_view_t *m = s_view(s.keys[1].id);
    if (m && m->state && m->state->version > was_version)
        s.applied++;
    if (!m || m->liveness != MESH_PEER_ALIVE) /* it left, or was taken for dead: back */
        s_hello();
    return 0;
}
