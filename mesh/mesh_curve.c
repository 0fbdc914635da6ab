/*  mesh_curve — CURVE for the mesh: the key pair derived from the secret,
    the ZAP handler that admits only that key, and the socket monitors that
    notice a failed handshake.

    Why not zauth: czmq 4.2.1's zauth asserts when the ZAP endpoint is bound
    already, and ZAP is one endpoint per ZeroMQ context, so a second mesh in
    one process (every multi-node test) would abort. This handler is
    stateless instead: each mesh ROUTER sets its ZAP domain to its own public
    key and a CURVE client is admitted only when its public key equals the
    domain of the socket it dials, i.e. when it holds the same derived pair.
    Whichever mesh of the process binds the ZAP endpoint answers for all of
    them; the others retry the bind so one takes over when the holder goes.
    ZMQ_ZAP_ENFORCE_DOMAIN makes a ROUTER refuse every CURVE client while no
    handler is bound (fail closed). Runs on the loop's thread. */
#include "mesh/mesh_int.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_KDF_LABEL "arenamesh-curve-v1"
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* stable libzmq 4.3 honours it; its header calls it draft */
#endif

zcert_t *mesh__curve_cert(const char *secret)
{
    uint8_t seed[32], pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    crypto_generichash_state st;
    if (crypto_generichash_init(&st, NULL, 0, sizeof seed) != 0 ||
        crypto_generichash_update(&st, (const uint8_t *)S_KDF_LABEL, strlen(S_KDF_LABEL)) != 0 ||
        crypto_generichash_update(&st, (const uint8_t *)secret, strlen(secret)) != 0 ||
        crypto_generichash_final(&st, seed, sizeof seed) != 0 ||
        crypto_box_seed_keypair(pk, sk, seed) != 0)
        return NULL;
    zcert_t *cert = zcert_new_from(pk, sk);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(&st, sizeof st);
    return cert;
}

zcert_t *mesh_cert_new(const char *secret)
{
    if (!secret || !*secret || sodium_init() < 0)
        return NULL;
    return mesh__curve_cert(secret);
}

void mesh_curve_apply(zsock_t *sock, zcert_t *cert, bool server)
{
    zcert_apply(cert, sock);
    if (!server) {
        zsock_set_curve_serverkey(sock, zcert_public_txt(cert));
        return;
    }
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, zcert_public_txt(cert));
    int on = 1;
    if (zmq_setsockopt(zsock_resolve(sock), ZMQ_ZAP_ENFORCE_DOMAIN, &on, sizeof on) != 0)
        alog_debug("mesh: this libzmq lacks ZMQ_ZAP_ENFORCE_DOMAIN; CURVE relies on the "
                   "ZAP handler being bound");
}

void mesh__curve_server(mesh_t *self, zsock_t *sock)
{
    mesh_curve_apply(sock, self->cert, true);
}

void mesh__curve_client(mesh_t *self, zsock_t *sock)
{
    mesh_curve_apply(sock, self->cert, false);
}

/* ------------------------------------------------------------------- ZAP */

static void s_zap_reply(zsock_t *zap, const char *seq, bool ok)
{
    zstr_sendx(zap, "1.0", seq ? seq : "", ok ? "200" : "400", ok ? "OK" : "No access", "", "",
               NULL);
}

/*  Admits NULL (inproc and other non-mesh sockets of the process), and CURVE
    when the client key is the domain: the ROUTER's own public key. */
static bool s_zap_allows(zmsg_t *req, const char *domain, const char *mech, const char *addr)
{
    if (streq(mech, "NULL"))
        return true;
    if (!streq(mech, "CURVE"))
        return false;
    zframe_t *key = zmsg_pop(req);
    bool ok = false;
    if (key && zframe_size(key) == 32 && strlen(domain) == 40) {
        char txt[41];
        zmq_z85_encode(txt, zframe_data(key), 32);
        ok = streq(txt, domain);
    }
    zframe_destroy(&key);
    if (!ok)
        alog_debug("mesh: ZAP refused a CURVE client from %s (another key)", addr);
    return ok;
}

static int s_on_zap(zloop_t *loop, zsock_t *zap, void *arg)
{
    (void)loop, (void)arg;
    zmsg_t *req = zmsg_recv(zap);
    if (!req)
        return 0;
    char *ver = zmsg_popstr(req), *seq = zmsg_popstr(req), *domain = zmsg_popstr(req);
    char *addr = zmsg_popstr(req), *ident = zmsg_popstr(req), *mech = zmsg_popstr(req);
    bool ok = ver && seq && domain && addr && ident && mech && streq(ver, "1.0") &&
              s_zap_allows(req, domain, mech, addr);
    s_zap_reply(zap, seq, ok);
    zstr_free(&ver), zstr_free(&seq), zstr_free(&domain);
    zstr_free(&addr), zstr_free(&ident), zstr_free(&mech);
    zmsg_destroy(&req);
    return 0;
}

void mesh__zap_try_bind(mesh_t *self)
{
    if (!self->zap || self->zap_bound)
        return;
    if (zsock_bind(self->zap, S_ZAP_ENDPOINT) == 0) {
        self->zap_bound = true;
        zloop_reader(self->loop, self->zap, s_on_zap, self);
    } else if (zmq_errno() != EADDRINUSE) {
        alog_warn("mesh: cannot bind the ZAP handler: %s", zmq_strerror(zmq_errno()));
    }
}

int mesh__zap_start(mesh_t *self)
{
    self->zap = mesh__sock_new(self, ZMQ_REP);
    if (!self->zap)
        return -1;
    zsock_set_linger(self->zap, 0);
    mesh__zap_try_bind(self);
    return 0;
}

/* -------------------------------------------------------------- monitors */

zsock_t *mesh__monitor_new(mesh_t *self, zsock_t *sock, int events)
{
    char ep[96];
    if (self->n_socks + 2 > self->max_socks)
        return NULL; /* libzmq's end and ours: the handshake goes unwatched */
    snprintf(ep, sizeof ep, "inproc://arenamesh-mon-%p-%u-%08x", (void *)self, ++self->mon_seq,
             randombytes_random());
    if (zmq_socket_monitor(zsock_resolve(sock), ep, events) != 0)
        return NULL;
    self->n_socks++; /* libzmq's end, closed by monitor_stop */
    zsock_t *mon = mesh__sock_new(self, ZMQ_PAIR);
    if (mon && zsock_connect(mon, "%s", ep) != 0) {
        zsock_destroy(&mon);
        mesh__sock_gone(self, 1);
    }
    if (!mon) {
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
        mesh__sock_gone(self, 1);
        return NULL;
    }
    zsock_set_linger(mon, 0);
    return mon;
}

void mesh__monitor_stop(mesh_t *self, zsock_t *sock, zsock_t **mon_p)
{
    if (!*mon_p)
        return;
    if (sock)
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    mesh__sock_gone(self, 1); /* libzmq's end */
    mesh__grave(self, mon_p);
}

/*  One monitor event: its number; -1 when none or malformed. */
static int s_event(zsock_t *mon)
{
    zmsg_t *m = zmsg_recv(mon);
    if (!m)
        return -1;
    zframe_t *f = zmsg_first(m);
    int ev = -1;
    if (f && zframe_size(f) == 6) {
        uint16_t e;
        memcpy(&e, zframe_data(f), sizeof e);
        ev = e;
    }
    zmsg_destroy(&m);
    return ev;
}

#define S_FAILED                                                                                   \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

int mesh__on_router_monitor(zloop_t *loop, zsock_t *mon, void *arg)
{
    (void)loop;
    mesh_t *self = arg;
    int ev = s_event(mon);
    if (ev < 0 || !(ev & S_FAILED))
        return 0;
    if (!(ev & (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))) {
        /* no detail: the handshake did not finish (a timeout, a drop), as
           while a partition heals; no sign of another secret */
        alog_debug("mesh: a handshake on %s did not finish", self->endpoint);
        return 0;
    }
    self->stats.curve_rejected++;
    if (!self->server_logged) {
        self->server_logged = true;
        alog_warn("mesh: a peer connecting to %s failed our CURVE handshake — different "
                  "--mesh-secret?",
                  self->endpoint);
    } else {
        alog_debug("mesh: another failed CURVE handshake on %s", self->endpoint);
    }
    return 0;
}

int mesh__on_dealer_monitor(zloop_t *loop, zsock_t *mon, void *arg)
{
    (void)loop;
    mesh_t *self = arg;
    mesh__peer_t *p = mesh__peer_by_monitor(self, mon);
    int ev = s_event(mon);
    if (!p || ev < 0)
        return 0;
    if (ev & ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        mesh__monitor_stop(self, p->dealer, &p->monitor);
        return 0;
    }
    if (!(ev & S_FAILED))
        return 0;
    self->stats.curve_rejected++;
    if (!zhashx_lookup(self->logged, p->endpoint) && zhashx_size(self->logged) < WIRE_MAX_PEERS) {
        zhashx_insert(self->logged, p->endpoint, (void *)1);
        alog_warn("mesh: peer at %s rejected our CURVE handshake — different --mesh-secret?",
                  p->endpoint);
    }
    return 0;
}
