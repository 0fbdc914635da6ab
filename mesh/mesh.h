/*  mesh — membership, failure detection and state dissemination among equal
    nodes over ZeroMQ (docs/mesh-protocol.md), and the transport the node's
    forwarding rides on.

    One ROUTER bound on the mesh address (the inbox) and one DEALER per known
    peer (identity = our node id), all in the node thread's zloop: no locks.
    A node joins through any seed (or the peers it stored), learns every
    member from hello/delta, probes liveness with ping/ack (suspect after
    suspect_ms without news, dead after dead_ms, refutation by incarnation;
    a peer our pings miss is probed through others with ping-req),
    shows a member that others report but that we cannot reach as
    unreachable,
    spreads its own state, signed with the node's key (protocol/ident.h),
    by push (urgent changes, at once, to every peer)
    and digest/delta anti-entropy (every gossip_ms to `fanout` random peers),
    and says leave on shutdown. Forwarding messages (fwd, reject, chunk, end,
    fail, cancel) are not interpreted here: they go to on_forward.

    Every socket uses CURVE with a key pair derived from the secret
    (libsodium) and a ZAP allow-list holding only that public key
    (mesh_curve.c: why not zauth): there is no unauthenticated mesh. A
    secret that is this machine's own (local_only: the per-user secret file
    arena-node creates, mesh_secret_load) keeps the mesh on loopback: bind,
    advertise, seeds and every address dialed. Membership is bounded: the
    peers held, the new ones one message may introduce, new dials per second
    (docs/mesh-protocol.md, "The mesh port"). Owned by the node thread. */
#ifndef ARENA_MESH_H
#define ARENA_MESH_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol/wire.h"

/*  Defaults of the timing fields of mesh_config_t (docs/mesh-protocol.md,
    failure detection); arena-node's settings start from these too. */
#define MESH_DEFAULT_GOSSIP_MS 200
#define MESH_DEFAULT_FANOUT 3
#define MESH_DEFAULT_PING_MS 1000
#define MESH_DEFAULT_PING_TIMEOUT_MS 500
#define MESH_DEFAULT_SUSPECT_MS 2000
#define MESH_DEFAULT_DEAD_MS 5500 /* "seen dead by all within 6 s", with ticks and relays */
#define MESH_DEFAULT_FORGET_MS 60000
/*  Defaults of the bounds of mesh_config_t. */
#define MESH_DEFAULT_MAX_PEERS 256 /* peers held at once (at most WIRE_MAX_PEERS - 1) */
#define MESH_DEFAULT_MAX_NEW 16    /* new peers one message may introduce */
#define MESH_DEFAULT_DIAL_RATE 20  /* new peers dialed per second (a burst of as many) */
#define MESH_MAX_PEERS_LIMIT (WIRE_MAX_PEERS - 1) /* a digest holds us too */

typedef struct _mesh_t mesh_t;

typedef enum {
    MESH_PEER_ALIVE = 0,
    MESH_PEER_SUSPECT,
    MESH_PEER_DEAD,
    MESH_PEER_LEFT,
    /*  Alive as far as the mesh knows (it spoke to us, or another member
        reports it), but our own link to it has not come up for suspect_ms:
        shown so the operator learns of it, never a target of mesh_send. */
    MESH_PEER_UNREACHABLE,
} mesh_liveness_t;

/*  "alive", "suspect", "dead", "left", "unreachable" */
const char *mesh_liveness_name(mesh_liveness_t l);

typedef struct {
    const char *node_id;      /* our id (UUID) */
    const char *bind_host;    /* mesh ROUTER bind */
    int bind_port;            /* 0: pick */
    const char *advertise;    /* HOST:PORT peers dial; NULL: bind_host:port */
    const char *const *seeds; /* HOST:PORT each */
    size_t n_seeds;
    const char *const *known; /* "ID@HOST:PORT" peers remembered from a previous run */
    size_t n_known;
    const char *secret; /* required: the CURVE pair comes from it */
    bool local_only;    /* the secret is this machine's own: loopback only */
    /* the node's signing key (IDENT_SK_LEN bytes, protocol/ident.h), copied:
       every state we publish is signed with it, and node_id must be
       ident_id of its public key (mesh_new refuses another) */
    const uint8_t *sign_key;
    /* timing (ms); 0 takes the default of docs/mesh-protocol.md */
    int gossip_ms, fanout, ping_ms, ping_timeout_ms, suspect_ms, dead_ms, forget_ms;
    /* bounds; 0 takes the default (MESH_DEFAULT_MAX_PEERS, …) */
    int max_peers, max_new, dial_rate;
    /* fwd, reject, chunk, end, fail, cancel from peer `from` (msg is the
       callee's for the call only); a reject's state is in the table by then */
    void (*on_forward)(void *arg, const wire_msg_t *msg);
    /* the liveness of a listed peer (see mesh_peers) or the state of an
       announced one changed (routing may change; a dead or left peer's
       forwarded requests fail) */
    void (*on_peer)(void *arg, const char *id, mesh_liveness_t liveness);
    /* remember or forget a peer (the node keeps them in SQLite) */
    void (*on_persist)(void *arg, const char *id, const char *endpoint, bool forget);
    void *arg;
} mesh_config_t;

/*  Binds, dials the seeds and known peers, starts the timers on loop.
    NULL on failure (logged: no or bad secret, non-loopback with a local_only
    secret, bind). */
mesh_t *mesh_new(const mesh_config_t *cfg, zloop_t *loop);
/*  Says leave to every peer (when not already done) and closes everything.
    Call it while the loop is not running, or from a reader callback (zloop
    would otherwise still call the mesh's handlers this turn). */
void mesh_destroy(mesh_t **self_p);
/*  Binds sock to "tcp://HOST:PORT" through libzmq itself, so that a "*"
    port is the kernel's choice (as for the HTTP and link listeners): czmq's
    zsock_bind scans up from 49152 instead, handing the port of a node that
    just died to the next one started on this machine, which the dead
    node's peers then dial. Returns the bound port, or -1 (zmq_errno). */
int mesh_bind_tcp(zsock_t *sock, const char *tcp);
int mesh_port(const mesh_t *self);
/*  The CURVE key pair every member holding secret derives (for tools and
    tests that speak the wire format to a mesh directly); NULL on failure.
    The caller destroys it with zcert_destroy. */
zcert_t *mesh_cert_new(const char *secret);
/*  Applies cert to sock: as a CURVE server admitting only cert's holders
    (server), or as a client of such a server. */
void mesh_curve_apply(zsock_t *sock, zcert_t *cert, bool server);

/*  The per-user mesh secret: reads the secret file at path, or when it is
    missing creates it (mode 0600, its directory 0700, 32 random bytes from
    libsodium written as 64 hex digits) unless it appears meanwhile (two
    nodes starting at once share one). Refuses a file that is not a regular
    file, that others may read or write, or that holds no secret (1..1024
    printable characters, no spaces, surrounding white space ignored).
    0 with the secret in out (outlen > 1024), or -1 with a message in err. */
int mesh_secret_load(const char *path, char *out, size_t outlen, char *err, size_t errlen);
#define MESH_SECRET_MAX 1024
const char *mesh_endpoint(const mesh_t *self); /* what peers dial */
const char *mesh_id(const mesh_t *self);       /* this node's id */
/*  A member found by other means (LAN discovery, mesh/discover.h): id says
    it listens at endpoint. Dialed like a stored peer (the CURVE handshake
    and its signed hello still prove who answers) unless it is us, known
    already, being dialed, or not dialable under this mesh's secret. 1:
    dialed, 0: nothing to do, -1: refused (malformed, not dialable, full). */
int mesh_hint(mesh_t *self, const char *id, const char *endpoint);

/*  Our own state (copied). A change bumps our version; urgent=true pushes it
    to every peer at once (a new cooldown, a lost tab), else anti-entropy
    carries it. st->id/endpoint/version/incarnation/heartbeat/leaving are
    filled by the mesh; an empty name or http keeps the previous one. Drift of
    up to 1 s in the remaining-ms fields is not a change. */
void mesh_set_local(mesh_t *self, const wire_state_t *st, bool urgent);
/*  Sends leave to every peer now (graceful shutdown). */
void mesh_leave(mesh_t *self);

/*  Sends a forwarding message to one peer; our id goes out as its "from",
    and a reject carries our current state (as set by mesh_set_local, aged
    to now) whatever msg->states holds (msg itself is left as it was). The
    receiving mesh applies that state as a push from us before its
    on_forward sees the reject. Never blocks: -1 when the peer is
    unknown or not reached yet (see mesh_peers), neither alive nor suspect
    (unreachable included), its link is down or its pipe is full, or msg is
    not a forwarding message. */
int mesh_send(mesh_t *self, const char *peer_id, wire_msg_t *msg);
/*  Whether peer_id is one mesh_send may reach (announced, alive or
    suspect), whatever its link and pipe are now: a send it refused may
    go once the link is back. */
bool mesh_sendable(const mesh_t *self, const char *peer_id);

/*  The peers as we see them. Pointers are borrowed until the next loop turn. */
typedef struct {
    const char *id;            /* never NULL */
    const char *endpoint;      /* HOST:PORT we dial (never NULL) */
    const wire_state_t *state; /* their last state (models, load, cooldowns…);
                                  NULL for an unreachable peer whose state
                                  never reached us (known by a peer list only) */
    mesh_liveness_t liveness;
    long long age_ms;        /* since we last heard from them directly; -1: never
                                since we dialed their current address */
    long long state_age_ms;  /* since `state` arrived: subtract it from the
                                remaining-ms fields to get what is left now */
    const char *reported_by; /* unreachable and never heard directly: the member
                                that last reported it; NULL otherwise */
    bool indirect;           /* alive, but only because other members still
                                reach it (relayed acks): nothing came to us
                                directly for suspect_ms, so our own link to it
                                is likely down */
} mesh_peer_view_t;

/*  Fills up to max views; returns how many peers there are (all of them, even
    beyond max). Our own node is not included. A peer counts once it was
    announced (heard from directly, state held and our own link up; it then
    stays until forgotten, whatever its liveness), or while it is shown as
    MESH_PEER_UNREACHABLE (and after that as dead, until forgotten). Only an
    alive peer may serve requests: a caller filters on liveness, and must
    allow state == NULL. */
size_t mesh_peers(mesh_t *self, mesh_peer_view_t *out, size_t max);
size_t mesh_alive_count(const mesh_t *self);

/*  Counters since mesh_new, and two gauges (for /mesh/status and tests). */
typedef struct {
    uint64_t rx;               /* messages decoded */
    uint64_t tx;               /* messages handed to ZeroMQ */
    uint64_t malformed;        /* refused by the codec, bad framing, or "from" not the
                                  connection's identity */
    uint64_t dropped;          /* well formed but not acted on: an unknown or departed
                                  sender, we left, a hello from an address we may not dial */
    uint64_t send_full;        /* mesh_send refusals: the peer's pipe full or its link down */
    uint64_t curve_rejected;   /* CURVE handshakes that failed, either side */
    uint64_t bytes_in;         /* message bytes received (every frame given to the codec) */
    uint64_t bytes_out;        /* message bytes handed to ZeroMQ (no framing, no TCP) */
    uint64_t ping_req_sent;    /* ping-reqs we sent (a silent peer probed through others) */
    uint64_t ping_req_served;  /* ping-reqs we ran for others (their target pinged) */
    uint64_t ping_req_refused; /* ping-reqs we refused (unknown or unreached target, the
                                  asker or us as target, too many at once, link down) */
    uint64_t indirect_acks;    /* relayed acks that vouched for a peer we probe */
    uint64_t stale_acks;       /* acks answering nothing open (late, unknown or
                                  superseded seq): news of their sender only */
    uint64_t forged;           /* messages refused for a state that is not its owner's
                                  word: a signature that does not verify, a key that is
                                  not its id's, or a version or incarnation far beyond
                                  any clock (docs/mesh-protocol.md) */
    uint64_t peers_refused;    /* new peers not taken: the table full, too many new
                                  in one message, the dial rate spent, no socket */
    /* replicated records (mesh_table_add; a bad signature counts in forged,
       a record over the codec's bounds in malformed) */
    uint64_t records_applied; /* records a table's merge took */
    uint64_t records_refused; /* records refused: a version more than a day ahead
                                 of our clock, an unknown table, or the table's
                                 merge called them invalid */
    uint64_t records_sent;    /* records we sent (pushes and repairs) */
    /* gauges, now */
    uint64_t peers_held; /* entries in the table (listed or not, seeds not answered yet) */
    uint64_t sockets;    /* sockets the mesh holds open (a handshake monitor counts two) */
} mesh_stats_t;
void mesh_stats(const mesh_t *self, mesh_stats_t *out);

/*  Replicated tables (mesh_records.c; docs/mesh-protocol.md, "Replicated
    records"). The node owns the records and their meaning; the mesh only
    moves them: a change is pushed at once to every peer (mesh_record_push),
    and each gossip round compares a bucketed summary of every table with
    the `fanout` peers it gossips to and sends only the records of buckets
    that differ. Records are signed by their writer (wire_record_seal with
    the node's key) and verified on arrival; relays send the writer's bytes
    on unchanged. */
typedef enum {
    MESH_REC_APPLIED = 0, /* the record replaced (or added) the table's */
    MESH_REC_IGNORED,     /* the table holds it or a newer version */
    MESH_REC_INVALID,     /* the payload makes no sense to the table: refused, counted */
    MESH_REC_FAILED,      /* the table could not keep it now (store): tried again later */
} mesh_rec_rc_t;

/*  What the summary is made of: one record's name and version. */
typedef struct {
    const char *key;
    uint64_t version_ms;
    const char *node;
    bool tomb;
    /* optional: mesh_table_bucket(key) + 1 as the table keeps it, so a
       summary or a repair need not hash the key again; 0: computed here */
    unsigned bucket1;
} mesh_rec_version_t;

#define MESH_MAX_TABLES 8
#define MESH_DEFAULT_BUCKETS 64

typedef struct {
    const char *name; /* 1..WIRE_MAX_TABLE printable ASCII; copied */
    /* buckets of the summary: a power of two up to WIRE_MAX_BUCKETS (0:
       MESH_DEFAULT_BUCKETS); every node must use the same for a table.
       Pick about one bucket per 10 records the table will hold. */
    unsigned buckets;
    /* a verified record from a peer (rec->table is this table's name);
       the callee keeps what it needs (wire_record_pack gives its signed
       form, for fetch to return later) */
    mesh_rec_rc_t (*merge)(void *arg, const wire_record_t *rec);
    /* calls fn(ctx, v) for every record the table holds, tombstones too */
    void (*each)(void *arg, void (*fn)(void *ctx, const mesh_rec_version_t *v), void *ctx);
    /* the signed record of key as held now, into out (the caller clears
       it); -1 when there is none to send */
    int (*fetch)(void *arg, const char *key, wire_record_t *out);
    void *arg;
    /* the table reports every change of a record's version itself
       (mesh_table_update, a merge's too): the summary is then kept up to
       date record by record instead of computed again from `each` after
       every merge or push (a table that changes at every request) */
    bool incremental;
    /* optional: called with true before the first record of a `records`
       message is merged into this table and with false after the last
       (a table that writes a store makes them one transaction) */
    void (*batch)(void *arg, bool begin);
} mesh_table_config_t;

/*  0, or -1 (bad config, a table of that name already, MESH_MAX_TABLES). */
int mesh_table_add(mesh_t *self, const mesh_table_config_t *cfg);
/*  Sends a signed record (one the node just wrote, sealed with its key) to
    every peer that may hear it now; the summary of its table is recomputed.
    0, or -1 (no such table, not sealed). */
int mesh_record_push(mesh_t *self, const wire_record_t *rec);
/*  The table changed other than by a merge or a push (the summary is
    computed again at the next round). */
void mesh_table_changed(mesh_t *self, const char *table);
/*  An incremental table's record changed from was (NULL: it is new) to
    now (NULL: it is gone): the summary changes by these two records only
    (two hashes, whatever the table's size). A table that is not
    incremental may call it too. */
void mesh_table_update(mesh_t *self, const char *table, const mesh_rec_version_t *was,
                       const mesh_rec_version_t *now);
/*  The summary bucket of key in table (for mesh_rec_version_t.bucket1),
    or -1 (no such table). */
int mesh_table_bucket(mesh_t *self, const char *table, const char *key);
/*  The summary of a table as the next tsum would carry it (for tests):
    0 with root and, when buckets is not NULL, up to max bucket hashes. */
int mesh_table_summary(mesh_t *self, const char *table, uint64_t *root, uint64_t *buckets,
                       size_t max);

#endif
