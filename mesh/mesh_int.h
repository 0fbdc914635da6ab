/*  mesh internals shared by the files of mesh/ (not part of the API).

    mesh.c        lifecycle, the public calls, the tick (liveness, pings, gossip)
    mesh_peer.c   the peer table: entries, dialing, liveness changes, forgetting
    mesh_wire.c   encoding and sending, reading the sockets, message handling
    mesh_probe.c  pings, indirect probes through other members (ping-req), acks
    mesh_curve.c  CURVE keys from the secret, the ZAP handler, socket monitors
    mesh_addr.c   HOST:PORT parsing and the loopback rule

    Everything runs on the thread that owns the zloop. Sockets are never
    destroyed while zloop may still hold them in its current poll set: they
    go to a graveyard that the next tick empties (mesh__grave). */
#ifndef ARENA_MESH_INT_H
#define ARENA_MESH_INT_H

#include <stdint.h>

#include "mesh/mesh.h"
#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "protocol/hostport.h"
#include "protocol/ident.h"

#define MESH__SNDHWM 1000 /* messages queued per DEALER before mesh_send says full */
#define MESH__RCVHWM 1000 /* messages queued per inbound connection */
/*  Healing a partition (docs/mesh-protocol.md, "healing"): a connection
    silent for MESH__HEARTBEAT_TIMEOUT_MS is dropped (a TCP connection
    whose packets were dropped would otherwise wait out the kernel's
    retransmission back-off, seconds after the network is back), a connect
    or handshake not done within MESH__CONNECT_TIMEOUT_MS is given up and
    tried afresh, and the redial backs off to MESH__RECONNECT_MAX_MS only:
    a fresh SYN goes out at least every 1.5 s while a peer is away. */
#define MESH__RECONNECT_MS 100          /* first redial of a lost connection… */
#define MESH__RECONNECT_MAX_MS 500      /* …backing off up to this */
#define MESH__CONNECT_TIMEOUT_MS 1000   /* a TCP connect, then the ZMTP/CURVE handshake */
#define MESH__HEARTBEAT_IVL_MS 500      /* ZMTP PING on a quiet connection… */
#define MESH__HEARTBEAT_TIMEOUT_MS 1500 /* …closed when nothing answers this long */
/*  Sockets: one DEALER per peer, plus a handshake monitor (our PAIR and the
    one libzmq opens) while CURVE is unproven; the ROUTER, its monitor and
    the ZAP handler; the rest of the process keeps MESH__SOCKS_RESERVE of
    libzmq's limit, and every socket needs file descriptors (a mailbox, a
    connection, the peer's connection to our ROUTER). */
#define MESH__SOCKS_PER_PEER 3
#define MESH__SOCKS_OWN 6
#define MESH__SOCKS_RESERVE 64
#define MESH__FDS_PER_SOCK 2
#define MESH__FDS_RESERVE 256
#define MESH__BATCH 64            /* messages read per readiness callback */
#define MESH__SLACK_MS 1000       /* remaining-ms drift that mesh_set_local ignores */
#define MESH__LEAVE_LINGER_MS 250 /* how long a closing DEALER may flush its leave */
#define MESH__MAX_SEEDS 64
#define MESH__ZAP_RETRY_MS 500
#define MESH__HOST_MAX HOSTPORT_HOST_MAX /* host part of HOST:PORT */
#define MESH__SENT 8    /* our pings and ping-reqs awaiting an ack, per peer (a ring) */
#define MESH__HELPERS 2 /* members asked to probe one silent peer for us */
#define MESH__RELAYS 4  /* as a helper: ping-reqs about one target run at once */
/*  A state's version and incarnation are the owner's unix ms (or a little
    more, see mesh.c): one further ahead of our clock than this is refused. */
#define MESH__AHEAD_MS (24LL * 3600 * 1000)

/*  A ping or ping-req of ours awaiting its ack (seq 0: a free slot). */
typedef struct {
    uint64_t seq;
    int64_t until;                /* an ack arriving later is stale */
    char target[WIRE_MAX_ID + 1]; /* "": a ping of this peer; else a ping-req about target */
} mesh__sent_t;

/*  As a helper: a ping-req about this peer that we run (seq 0: a free slot). */
typedef struct {
    uint64_t seq;       /* our ping of the target */
    uint64_t asked_seq; /* the requester's seq: our ack carries it back */
    int64_t until;      /* the target must ack by then (our ping_timeout_ms) */
    char requester[WIRE_MAX_ID + 1];
} mesh__relay_t;

typedef struct {
    char id[WIRE_MAX_ID + 1];         /* "" while a seed has not answered */
    char endpoint[WIRE_MAX_NAME + 1]; /* HOST:PORT we dial */
    zsock_t *dealer;                  /* identity = our id; NULL once it left */
    zsock_t *monitor;                 /* handshake watch while CURVE dialing is unproven */
    wire_state_t state;
    bool has_state;
    mesh_liveness_t liveness;
    bool announced; /* reached: heard directly, has a state, our link was up */
    bool listed;    /* the node knows it (mesh_peers): announced, or shown unreachable */
    bool heard;     /* a direct message arrived since the last dial */
    bool persisted; /* in the node's store (from `known` or on_persist) */
    bool hinted;    /* dialed at an address from another member's hello.peers, not yet
                       at the one its own signed state gives (mesh_wire.c, s_apply) */
    bool silent_logged;
    char reporter[WIRE_MAX_ID + 1]; /* not announced: who last reported it alive, "" none */
    int64_t reported_at;            /* when (0: never) */
    int64_t asked_at;   /* as a reporter: the last digest we sent it to hear its reports */
    int64_t last_heard; /* monotonic ms of the last direct message (or the dial) */
    int64_t state_at;   /* when `state` arrived */
    int64_t dialed_at;
    int64_t since;    /* last liveness change */
    int64_t hello_at; /* last hello sent */
    int64_t ping_at;  /* last ping sent */
    bool ping_retried;
    /* probing (mesh_probe.c) */
    mesh__sent_t sent[MESH__SENT];
    unsigned sent_next;
    mesh__relay_t relays[MESH__RELAYS];
    uint64_t probe_seq;   /* our open indirect probe of it (0: none) */
    int64_t probe_until;  /* relayed acks count until then (or until the next probe) */
    unsigned probe_acks;  /* helpers that answered the open probe so far */
    unsigned reached_by;  /* helpers that answered the last answered probe */
    int64_t indirect_at;  /* last relayed ack that vouched for it (0: never) */
    bool indirect_logged; /* this episode of "reached through others only" was warned about */
    bool hello_due;       /* a hello waits for the connection */
    int seed;             /* index into the seeds, -1 */
    uint64_t malformed;
    alog_rl_t rl;
} mesh__peer_t;

typedef struct {
    char endpoint[WIRE_MAX_NAME + 1];
    char id[WIRE_MAX_ID + 1]; /* who answered there; "" not yet */
    bool self;                /* it is our own address */
} mesh__seed_t;

typedef struct {
    char id[WIRE_MAX_ID + 1];
    uint64_t version;
    int64_t until;
} mesh__tomb_t;

/*  A replicated table (mesh_records.c). */
typedef struct {
    mesh_table_config_t cfg;
    char name[WIRE_MAX_TABLE + 1];
    uint64_t *sum; /* cfg.buckets hashes */
    uint64_t root; /* XOR of all */
    bool dirty;    /* sum must be computed again */
    uint64_t turn; /* records sent by repairs so far: where the next one starts */
} mesh__table_t;

struct _mesh_t {
    zloop_t *loop;
    char id[WIRE_MAX_ID + 1];
    char endpoint[WIRE_MAX_NAME + 1]; /* advertised HOST:PORT */
    int port;
    /* timing */
    int gossip_ms, fanout, ping_ms, ping_timeout_ms, suspect_ms, dead_ms, forget_ms, tick_ms;
    /* callbacks */
    void (*on_forward)(void *arg, const wire_msg_t *msg);
    void (*on_peer)(void *arg, const char *id, mesh_liveness_t liveness);
    void (*on_persist)(void *arg, const char *id, const char *endpoint, bool forget);
    void *arg;
    /* sockets */
    zsock_t *router;
    zsock_t *router_mon;
    zsock_t *zap;             /* REP on the ZAP endpoint (NULL without a secret) */
    bool zap_bound;           /* false: another mesh of this process answers ZAP for now */
    zcert_t *cert;            /* CURVE pair; NULL without a secret */
    uint8_t sk[IDENT_SK_LEN]; /* our signing key (self->id is ident_id of its pk) */
    int tick_fd;              /* timerfd polled by zloop (see mesh.c) */
    zmq_pollitem_t tick_item;
    unsigned mon_seq;
    size_t n_socks;   /* sockets of this mesh open now (a monitor counts two) */
    size_t max_socks; /* libzmq's limit and the fd limit, less the reserves */
    zsock_t **grave;
    size_t n_grave, cap_grave;
    /* peers */
    mesh__peer_t **peers;
    size_t n_peers;
    /* bounds (mesh_config_t) */
    size_t max_peers;                 /* entries in the table */
    int max_new;                      /* new entries one message may make */
    int new_left;                     /* left for the message being handled */
    char intro_from[WIRE_MAX_ID + 1]; /* its sender */
    int dial_rate;                    /* new entries dialed per second */
    double dial_tokens;               /* token bucket of dial_rate, at most dial_rate */
    int64_t dial_at;                  /* when the bucket was last filled */
    bool local_only;                  /* loopback only: the secret is this machine's own */
    zhashx_t *by_id;                  /* id -> mesh__peer_t* (entries with an id) */
    mesh__seed_t seeds[MESH__MAX_SEEDS];
    size_t n_seeds;
    char **known; /* "ID@HOST:PORT", dialed at the first tick */
    size_t n_known;
    mesh__tomb_t *tombs;
    size_t n_tombs;
    zhashx_t *logged; /* endpoints whose CURVE refusal was logged */
    bool server_logged;
    /* our state */
    wire_state_t local;
    int64_t local_at;
    bool started, left;
    int64_t next_gossip, next_seed_check, next_zap_try, last_refute;
    uint64_t table_hash;   /* of every version we know, at the last gossip round */
    int64_t table_changed; /* when that hash last changed (ms) */
    uint64_t rounds;       /* gossip rounds so far */
    uint64_t ping_seq;
    abuf_t tx;
    mesh__table_t *tables[MESH_MAX_TABLES];
    size_t n_tables;
    mesh_stats_t stats;
    alog_rl_t rl_unknown, rl_send, rl_self, rl_full, rl_learn, rl_rate, rl_sock;
};

/* time */
int64_t mesh__now(void);  /* monotonic ms */
int64_t mesh__wall(void); /* unix ms */

/* mesh_addr.c: endpoints follow protocol/hostport's one rule */
/*  "HOST:PORT" or "[V6]:PORT" → the bare host (at most hostlen - 1
    characters) and the port (may be 0). 0 or -1. */
int mesh__split(const char *ep, char *host, size_t hostlen, int *port);
/*  hostport_is_loopback. */
bool mesh__is_loopback(const char *host);
int mesh__tcp(const char *host, int port, char *out, size_t outlen);
/*  A HOST:PORT we may dial: well formed, port > 0, loopback when local_only. */
bool mesh__dialable(const mesh_t *self, const char *ep);

/* mesh_curve.c */
zcert_t *mesh__curve_cert(const char *secret);
void mesh__curve_server(mesh_t *self, zsock_t *sock);
void mesh__curve_client(mesh_t *self, zsock_t *sock);
int mesh__zap_start(mesh_t *self);
void mesh__zap_try_bind(mesh_t *self);
/*  A PAIR socket receiving `events` of sock (NULL on failure). */
zsock_t *mesh__monitor_new(mesh_t *self, zsock_t *sock, int events);
void mesh__monitor_stop(mesh_t *self, zsock_t *sock, zsock_t **mon_p);
int mesh__on_router_monitor(zloop_t *loop, zsock_t *mon, void *arg);
int mesh__on_dealer_monitor(zloop_t *loop, zsock_t *mon, void *arg);

/* mesh_peer.c */
/*  A socket of type for this mesh, counted; NULL (logged, rate-limited) when
    it would pass the mesh's share of libzmq's or the process's limits:
    czmq would abort instead of failing. */
zsock_t *mesh__sock_new(mesh_t *self, int type);
/*  A socket of this mesh is closed (or graved): n sockets fewer. */
void mesh__sock_gone(mesh_t *self, size_t n);
/*  The heartbeat, connect and handshake timeouts that heal a partition fast. */
void mesh__sock_heal(zsock_t *sock);
/*  The start of a message from member `from` (its connection's identity):
    it may make max_new entries. */
void mesh__intro_reset(mesh_t *self, const char *from);
/*  A new entry learned from a member (a state, a hello, a hello's peer list):
    within the per-message allowance and the dial rate, else NULL (counted,
    logged rate-limited; gossip brings it again later). A node introducing
    itself (id is the sender) takes the place of an entry known by hearsay
    only when the table is full. */
mesh__peer_t *mesh__peer_learn(mesh_t *self, const char *id, const char *endpoint);
mesh__peer_t *mesh__peer_find(const mesh_t *self, const char *id);
mesh__peer_t *mesh__peer_by_dealer(const mesh_t *self, const zsock_t *dealer);
mesh__peer_t *mesh__peer_by_monitor(const mesh_t *self, const zsock_t *mon);
mesh__peer_t *mesh__placeholder_at(const mesh_t *self, const char *endpoint);
/*  A new entry (id may be "" for a seed), dialed. NULL when full or on error. */
mesh__peer_t *mesh__peer_add(mesh_t *self, const char *id, const char *endpoint);
int mesh__peer_rekey(mesh_t *self, mesh__peer_t *p, const char *id);
int mesh__peer_dial(mesh_t *self, mesh__peer_t *p, const char *endpoint);
void mesh__peer_hangup(mesh_t *self, mesh__peer_t *p, int linger_ms);
void mesh__peer_remove(mesh_t *self, mesh__peer_t *p, bool forget);
void mesh__peer_set(mesh_t *self, mesh__peer_t *p, mesh_liveness_t l);
void mesh__peer_news(mesh_t *self, mesh__peer_t *p);
void mesh__peer_announce(mesh_t *self, mesh__peer_t *p);
/*  `by` reports p alive: it relays p's state, or lists p in its hello.
    Recorded for an entry not announced (see mesh.c, s_sweep_unreached). */
void mesh__peer_vouch(mesh__peer_t *p, const mesh__peer_t *by);
/*  The last sign that p lives: a direct message since our last dial, or a
    report (0: none). */
int64_t mesh__peer_vouched_at(const mesh__peer_t *p);
bool mesh__linked(const mesh__peer_t *p); /* our DEALER to p is connected */
/*  The one warning of an episode in which p stays alive through helpers only. */
void mesh__peer_warn_indirect(mesh__peer_t *p);
/*  We vouch for p's state to others: announced and alive or suspect, or not
    announced but heard from directly within dead_ms (never on hearsay). */
bool mesh__relayable(const mesh_t *self, const mesh__peer_t *p, int64_t now);
bool mesh__tomb_blocks(mesh_t *self, const char *id, uint64_t version);
void mesh__tomb_expire(mesh_t *self, int64_t now);
void mesh__grave(mesh_t *self, zsock_t **sock_p);
void mesh__grave_flush(mesh_t *self);

/* mesh_wire.c */
int mesh__send(mesh_t *self, mesh__peer_t *p, wire_msg_t *msg);
/*  A reject, with our current state attached (msg->states is ignored). */
int mesh__send_reject(mesh_t *self, mesh__peer_t *p, wire_msg_t *msg);
void mesh__send_hello(mesh_t *self, mesh__peer_t *p);
void mesh__flush_hello(mesh_t *self, mesh__peer_t *p);
/*  Our version of every state we vouch for (mesh__relayable); with hearsay,
    also of those we hold on hearsay only (not reached, not dead). */
void mesh__send_digest(mesh_t *self, mesh__peer_t *p, bool hearsay);
void mesh__send_states(mesh_t *self, mesh__peer_t *p, wire_type_t type, const wire_state_t **sts,
                       const int64_t *ages, size_t n);
void mesh__push_local(mesh_t *self);
/*  Signs self->local as it is now (after each version change). */
void mesh__seal_local(mesh_t *self);
/*  leave, with our state (leaving set, signed) as its proof, to p. */
int mesh__send_leave(mesh_t *self, mesh__peer_t *p);
int mesh__on_router(zloop_t *loop, zsock_t *sock, void *arg);
int mesh__on_dealer(zloop_t *loop, zsock_t *sock, void *arg);

/* mesh_probe.c */
/*  The pings due now: a peer silent for ping_ms gets one; unanswered for
    ping_timeout_ms, one more and a ping-req to up to MESH__HELPERS others. */
void mesh__probe(mesh_t *self, int64_t now);
/*  An ack from p: passed on when it answers a ping we run for a requester,
    news of a probed target when it answers our ping-req, else nothing more
    than the news of p itself. */
void mesh__on_ack(mesh_t *self, mesh__peer_t *p, uint64_t seq);
/*  A ping-req from p: its target pinged on p's behalf, or refused. */
void mesh__on_ping_req(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m);
/*  The last sign that announced p lives: a direct message or a relayed ack. */
int64_t mesh__peer_alive_at(const mesh__peer_t *p);
/*  p is alive only through helpers: nothing direct for suspect_ms. */
bool mesh__indirect_only(const mesh_t *self, const mesh__peer_t *p, int64_t now);

/* mesh_records.c */
/*  A tsum (root only) of every table to p: a gossip round's anti-entropy. */
void mesh__records_gossip(mesh_t *self, mesh__peer_t *p);
void mesh__on_tsum(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m);
void mesh__on_records(mesh_t *self, mesh__peer_t *p, const wire_msg_t *m);
void mesh__records_free(mesh_t *self);

/* mesh.c */
void mesh__bump_local(mesh_t *self);
/*  A new incarnation (and version) of our state, pushed to every peer; at most
    once per suspect_ms unless forced. */
void mesh__refute(mesh_t *self, bool force);

#endif
