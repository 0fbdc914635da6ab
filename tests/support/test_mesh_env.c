/*  test_mesh_env — see test_mesh_env.h. */
#include "tests/support/test_mesh_env.h"

#include "protocol/abuf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_IDENTS 65536

typedef struct {
    char name[WIRE_MAX_ID + 1];
    char id[IDENT_ID_LEN];
    uint8_t sk[IDENT_SK_LEN];
} s_ident_t;

static s_ident_t *s_idents; /* test thread only; kept until exit */
static size_t s_n_idents;
static zhashx_t *s_by_name; /* name or id -> s_ident_t* (a flood test makes thousands) */

static const s_ident_t *s_ident(const char *s)
{
    s_ident_t *e = s_by_name ? zhashx_lookup(s_by_name, s) : NULL;
    if (e)
        return e;
    if (!s_idents && !(s_idents = calloc(S_IDENTS, sizeof *s_idents)))
        abort();
    if (!s_by_name && !(s_by_name = zhashx_new()))
        abort();
    if (s_n_idents == S_IDENTS || ident_init() < 0)
        abort(); /* a test bug: more names than any test uses */
    e = &s_idents[s_n_idents++];
    snprintf(e->name, sizeof e->name, "%s", s);
    uint8_t seed[IDENT_SEED_LEN], pk[IDENT_PK_LEN];
    crypto_generichash(seed, sizeof seed, (const unsigned char *)s, strlen(s), NULL, 0);
    if (ident_keypair(seed, pk, e->sk) < 0)
        abort();
    ident_id(pk, e->id);
    zhashx_insert(s_by_name, e->name, e);
    zhashx_insert(s_by_name, e->id, e);
    return e;
}

const char *tmesh_id(const char *name_or_id)
{
    return s_ident(name_or_id)->id;
}

const uint8_t *tmesh_key(const char *name_or_id)
{
    return s_ident(name_or_id)->sk;
}

int tmesh_encode(const wire_msg_t *m, abuf_t *out)
{
    wire_msg_t c = *m;
    wire_state_t *sts = NULL;
    int rc = -1;
    bool own = m->type == WIRE_HELLO || m->type == WIRE_REJECT || m->type == WIRE_LEAVE;
    if (m->n_states > WIRE_MAX_PEERS || (own && m->n_states > 1))
        return wire_msg_encode(m, out); /* refused on the count, before any state is read */
    if (m->n_states) {
        if (!(sts = calloc(m->n_states, sizeof *sts)))
            return -1;
        for (size_t i = 0; i < m->n_states; i++) {
            sts[i] = m->states[i];
            if (!m->states[i].sealed) {
                sts[i].sealed = NULL;
                if (!sts[i].id || wire_state_seal(&sts[i], tmesh_key(sts[i].id)) < 0)
                    goto done;
            }
        }
        c.states = sts;
    }
    rc = wire_msg_encode(&c, out);
done:
    for (size_t i = 0; sts && i < m->n_states; i++)
        if (!m->states[i].sealed)
            free(sts[i].sealed);
    free(sts);
    return rc;
}

link_t *tmesh_link_new(const char *node_name, const char *token, const char *origin)
{
    const char *const origins[] = {origin};
    link_config_t lc = {.bind_addr = "127.0.0.1",
                        .token = token,
                        .node_name = node_name,
                        .origins = origins,
                        .n_origins = 1};
    return link_new(&lc);
}

mesh_config_t tmesh_config_fast(const char *node_id,
                                void (*on_forward)(void *arg, const wire_msg_t *msg),
                                void (*on_peer)(void *arg, const char *id, mesh_liveness_t l),
                                void *arg)
{
    return (mesh_config_t){.node_id = tmesh_id(node_id),
                           .sign_key = tmesh_key(node_id),
                           .bind_host = "127.0.0.1",
                           .secret = TMESH_SECRET,
                           .gossip_ms = 50,
                           .fanout = 3,
                           .ping_ms = 100,
                           .ping_timeout_ms = 100,
                           .suspect_ms = 1500,
                           .dead_ms = 4000,
                           .on_forward = on_forward,
                           .on_peer = on_peer,
                           .arg = arg};
}

mesh_t *tmesh_node_new(const mesh_config_t *cfg, zloop_t *loop, const char *name)
{
    mesh_t *mesh = mesh_new(cfg, loop);
    if (!mesh)
        return NULL;
    wire_state_t st = {.name = (char *)name, .http = "http://127.0.0.1:1", .p50_ms = -1};
    mesh_set_local(mesh, &st, false);
    return mesh;
}

zsock_t *tmesh_inbox_new(char *ep, size_t ep_size)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zcert_t *cert = mesh_cert_new(TMESH_SECRET);
    if (!router || !cert) {
        zsock_destroy(&router);
        zcert_destroy(&cert);
        return NULL;
    }
    zsock_set_linger(router, 0);
    mesh_curve_apply(router, cert, true);
    zcert_destroy(&cert);
    int port = mesh_bind_tcp(router, "tcp://127.0.0.1:*");
    if (port <= 0) {
        zsock_destroy(&router);
        return NULL;
    }
    snprintf(ep, ep_size, "127.0.0.1:%d", port);
    return router;
}

zsock_t *tmesh_dealer_new(const char *id, const char *endpoint)
{
    return tmesh_dealer_new_with(id, endpoint, TMESH_SECRET);
}

zsock_t *tmesh_dealer_new_with(const char *id, const char *endpoint, const char *secret)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    if (!dealer)
        return NULL;
    zsock_set_linger(dealer, 0);
    zsock_set_identity(dealer, tmesh_id(id));
    if (secret) {
        zcert_t *cert = mesh_cert_new(secret);
        if (!cert) {
            zsock_destroy(&dealer);
            return NULL;
        }
        mesh_curve_apply(dealer, cert, false);
        zcert_destroy(&cert);
    }
    if (zsock_connect(dealer, "tcp://%s", endpoint) != 0)
        zsock_destroy(&dealer);
    return dealer;
}

int tmesh_send_as(zsock_t *dealer, const char *from, wire_msg_t *m)
{
    m->from = (char *)tmesh_id(from);
    abuf_t b = ABUF_INIT;
    int rc = tmesh_encode(m, &b);
    if (rc == 0 && zmq_send(zsock_resolve(dealer), b.data, b.len, ZMQ_DONTWAIT) < 0)
        rc = -1;
    abuf_free(&b);
    return rc;
}

int tmesh_send_hello(zsock_t *dealer, const char *id, const char *endpoint,
                     const wire_model_t *model, uint32_t inflight, uint32_t capacity)
{
    wire_state_t st = {.id = (char *)tmesh_id(id),
                       .name = (char *)id,
                       .endpoint = (char *)endpoint,
                       .http = "http://127.0.0.1:1",
                       .incarnation = 1,
                       .version = 1,
                       .tabs = 1,
                       .tabs_healthy = 1,
                       .inflight = inflight,
                       .capacity = capacity,
                       .p50_ms = -1,
                       .models = (wire_model_t *)model,
                       .n_models = 1};
    wire_msg_t m = {.type = WIRE_HELLO, .states = &st, .n_states = 1};
    return tmesh_send_as(dealer, id, &m);
}

int tmesh_send_leave(zsock_t *dealer, const char *id, const char *endpoint)
{
    wire_state_t st = {.id = (char *)tmesh_id(id),
                       .name = (char *)id,
                       .endpoint = (char *)endpoint,
                       .http = "http://127.0.0.1:1",
                       .incarnation = 1,
                       .version = 2,
                       .leaving = true,
                       .p50_ms = -1};
    wire_msg_t m = {.type = WIRE_LEAVE, .incarnation = 1, .states = &st, .n_states = 1};
    return tmesh_send_as(dealer, id, &m);
}

typedef struct {
    tmesh_pred_fn pred;
    void *arg;
    int64_t deadline;
    bool ok;
} s_waiter_t;

static int s_wait_tick(zloop_t *loop, int timer_id, void *arg)
{
    s_waiter_t *w = arg;
    if (w->pred && w->pred(w->arg))
        w->ok = true;
    if (w->ok || zclock_mono() >= w->deadline) {
        zloop_timer_end(loop, timer_id);
        return -1;
    }
    return 0;
}

bool tmesh_run_until(zloop_t *loop, tmesh_pred_fn pred, void *arg, int max_ms)
{
    if (pred && pred(arg))
        return true;
    s_waiter_t w = {pred, arg, zclock_mono() + max_ms, false};
    if (zloop_timer(loop, 2, 0, s_wait_tick, &w) < 0)
        abort(); /* a test cannot wait: nothing it checks would mean anything */
    zloop_start(loop);
    return w.ok;
}

void tmesh_run(zloop_t *loop, int ms)
{
    tmesh_run_until(loop, NULL, NULL, ms);
}

int tmesh_recv(zsock_t *sock, wire_msg_t *m)
{
    zmsg_t *z = zmsg_recv(sock);
    if (!z)
        return -1;
    zframe_t *body = zmsg_last(z);
    int rc =
        body && wire_msg_decode(zframe_data(body), zframe_size(body), m, NULL, 0) == WIRE_MSG_OK
            ? 0
            : -1;
    zmsg_destroy(&z);
    return rc;
}
