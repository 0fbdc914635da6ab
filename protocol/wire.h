/*  wire — the node ⇄ node messages of MESH-PROTOCOL.md (docs/mesh-protocol.md)
    as msgpack maps, one per ZeroMQ message.

    Pure: msgpack-c only. The decoder never trusts its input: the size cap is
    checked first, then a bounds pre-scan walks every msgpack header and
    rejects any string, binary or container length larger than the bytes left
    (or over the per-field limits below) BEFORE msgpack-c allocates anything;
    only then is the map unpacked and each field type-checked. A decoded
    message owns its memory: free it with wire_msg_clear. */
#ifndef ARENA_WIRE_H
#define ARENA_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/abuf.h"
#include "protocol/delta.h"
#include "protocol/ident.h"

#define WIRE_MSG_VERSION 2           /* 2: states travel signed by their owner */
#define WIRE_MSG_MAX (1024u * 1024)  /* bytes of one message */
#define WIRE_MAX_PEERS 1024          /* entries in hello.peers, digest, delta */
#define WIRE_MAX_MODELS 1024         /* models of one node state */
#define WIRE_MAX_DELTAS 4096         /* deltas in one chunk */
#define WIRE_MAX_ID 64               /* node ids, request ids */
#define WIRE_MAX_NAME 256            /* node and model names, endpoints, urls */
#define WIRE_MAX_TEXT (512u * 1024)  /* one text field (request JSON, delta text) */
#define WIRE_MSG_MAX_DEPTH 16        /* nested arrays/maps, the top map included */
#define WIRE_MSG_MAX_ELEMENTS 200000 /* msgpack objects in one message, keys included */
#define WIRE_MSG_MAX_KEYS 64         /* entries of one field map (message, state, peer) */
#define WIRE_MAX_ACCOUNTS 64         /* accounts of one node state */
#define WIRE_MAX_STARTS 1000         /* recent request starts of one account */
/* A start older than 30 days is refused (aging it can then never overflow). */
#define WIRE_MAX_START_AGO_MS (30LL * 24 * 3600 * 1000)
/* A signed state's "age" (how long it was held on the way) is at most this. */
#define WIRE_MAX_AGE_MS WIRE_MAX_START_AGO_MS
/* A state's optional "key_counts" (node/limits.h): active keys, a key's
   name, a count of one window, ms until a window's oldest request leaves. */
#define WIRE_MAX_KEY_COUNTS 256
#define WIRE_MAX_KEY_NAME 64
#define WIRE_MAX_KEY_COUNT 1000000000LL            /* requests in one window */
#define WIRE_MAX_KEY_TOKENS 1000000000000000LL     /* tokens in one day */
#define WIRE_MAX_KEY_RESET_MS (25LL * 3600 * 1000) /* a day and its grain, with room */

#define WIRE_MAX_CREDIT (1u << 20) /* chunks one `fwd` or `credit` may grant */
#define WIRE_MAX_SEQ (1ull << 53)  /* a credit's ack at most (chunks one answer may have) */
/* Replicated records (tsum, records; docs/mesh-protocol.md, "Replicated records"). */
#define WIRE_MAX_TABLE 32 /* bytes of a table name (printable ASCII) */
#define WIRE_MAX_RKEY                                                                              \
    384                       /* bytes of a record key (UTF-8, no controls): a usage               \
                                 rollup's origin/key/model/hour fits */
#define WIRE_MAX_PAYLOAD 4096 /* bytes of one record's payload */
#define WIRE_MAX_RECORDS 256  /* records in one `records` message */
#define WIRE_MAX_BUCKETS 4096 /* buckets of one table summary (a power of two) */

typedef enum {
    WIRE_MSG_OK = 0,
    WIRE_MSG_MALFORMED = -1,
    WIRE_MSG_TOOBIG = -2,
    /* well formed, but a state's signature does not verify, or its key is
       not the one its id is made from (ident.h): someone else's words */
    WIRE_MSG_FORGED = -3,
} wire_msg_rc_t;

typedef enum {
    WIRE_HELLO = 1,
    WIRE_DIGEST,
    WIRE_DELTA,
    WIRE_PUSH,
    WIRE_PING,
    WIRE_ACK,
    WIRE_PING_REQ,
    WIRE_LEAVE,
    WIRE_FWD,
    WIRE_REJECT,
    WIRE_CHUNK,
    WIRE_END,
    WIRE_FAIL,
    WIRE_CANCEL,
    WIRE_CREDIT,  /* the origin lets the executor send n more chunks of rid */
    WIRE_TSUM,    /* a replicated table's summary: its root hash, maybe its buckets */
    WIRE_RECORDS, /* replicated records, each signed by its writer */
} wire_type_t;

/*  The forwarding messages (fwd … credit): on_forward's, mesh_send's. */
#define WIRE_IS_FORWARDING(t) ((t) >= WIRE_FWD && (t) <= WIRE_CREDIT)

/*  One model as its owner advertises it. */
typedef struct {
    char *name;
    char *arena_id;
    char *modality;              /* "chat" | "image" | "search" */
    int64_t cooled_remaining_ms; /* 0: not cooling */
    char *reason;                /* "" when not cooling */
    char *display_name;          /* the page's displayName; NULL: none (optional on the wire) */
} wire_model_t;

/*  One LMArena account a node has tabs on (docs/upstream.md, "Pacing"): its
    pace key (the userscript's hash, or "tab:<id>"), how long its flag still
    holds, and the request starts this node made on it, as ms ago. */
typedef struct {
    char *id;
    int64_t flag_remaining_ms; /* 0: not flagged */
    int64_t *starts_ago_ms;
    size_t n_starts;
} wire_account_t;

/*  One key's counts on the node whose state carries them (node/limits.h):
    requests admitted in the last minute, hour and day, tokens of the last
    day, requests in flight, and per window (minute, hour, day, tokens) the
    ms until its oldest counted request leaves it (0: nothing counted). */
typedef struct {
    char *name;
    int64_t minute, hour, day, tokens, inflight;
    int64_t reset_ms[4];
} wire_key_count_t;

/*  The state a node owns; only it changes it (its version grows with every
    change). Cooldowns travel as remaining ms (no clock is shared).

    On the wire a state is its owner's signed bytes: `sealed` is the
    msgpack map of the fields below exactly as the owner encoded and signed
    it (wire_state_seal), with the owner's public key and signature; relays
    send these bytes on unchanged, so what a receiver verifies is what the
    owner wrote. The decoder fills the fields from `sealed` and refuses
    (WIRE_MSG_FORGED) a state whose signature does not verify or whose id is
    not ident_id(pk). `age_ms` is the one unsigned part: how many ms the
    remaining-ms and ms-ago fields had aged when it was sent (the holder's
    own time; docs/mesh-protocol.md says what a relay can do with it). */
typedef struct {
    char *id;
    char *name;
    char *endpoint; /* mesh HOST:PORT peers dial */
    char *http;     /* http://HOST:PORT of its API */
    uint64_t incarnation;
    uint64_t version;
    uint64_t heartbeat;
    int64_t started_at_ms; /* unix ms */
    bool leaving;          /* it said leave */
    uint32_t tabs, tabs_healthy;
    uint32_t inflight, capacity;
    uint64_t ok, failed;
    int64_t p50_ms;
    int64_t node_cooled_remaining_ms;
    wire_model_t *models;
    size_t n_models;
    /* optional on the wire ("pace_ms", "accounts"): 0 / none when absent */
    int64_t paced_remaining_ms; /* until one of its routable tabs has a free pace slot */
    wire_account_t *accounts;
    size_t n_accounts;
    /* optional on the wire ("key_counts"): none when absent */
    wire_key_count_t *key_counts;
    size_t n_key_counts;
    /* the owner's signature (see above); sealed NULL: not signed, not sendable */
    uint8_t *sealed;
    size_t sealed_len;
    uint8_t pk[IDENT_PK_LEN];
    uint8_t sig[IDENT_SIG_LEN];
    int64_t age_ms;
} wire_state_t;

typedef struct {
    char *id;
    char *endpoint;
} wire_peer_ref_t;

typedef struct {
    char *id;
    uint64_t version;
} wire_version_t;

typedef struct {
    delta_kind_t kind;
    char *text;
    size_t len;
} wire_delta_t;

/*  One record of a replicated table (docs/mesh-protocol.md, "Replicated
    records"): (table, key) names it, (version_ms, node) orders its
    versions, tomb marks a deletion, payload is the table's own bytes.
    Signed by its writer `node` as a state is by its owner: `sealed` holds
    the msgpack map of the fields exactly as the writer encoded and signed
    them (wire_record_seal), pk and sig beside them; the decoder refuses
    (WIRE_MSG_FORGED) a record whose signature does not verify or whose
    node is not ident_id(pk). */
typedef struct {
    char *table;
    char *key;
    uint64_t version_ms; /* unix ms of the change */
    char *node;          /* the writer's node id */
    bool tomb;
    uint8_t *payload;
    size_t payload_len;
    uint8_t *sealed; /* NULL: not signed, not sendable */
    size_t sealed_len;
    uint8_t pk[IDENT_PK_LEN];
    uint8_t sig[IDENT_SIG_LEN];
} wire_record_t;

typedef struct {
    wire_type_t type;
    char *from; /* sender's node id */
    /* hello: state + known peers; delta/push: states; reject: the sender's
       own state, optional (n_states 0 or 1) */
    wire_state_t *states;
    size_t n_states;
    wire_peer_ref_t *peers;
    size_t n_peers;
    /* digest */
    wire_version_t *versions;
    size_t n_versions;
    /* ping / ack / ping-req */
    uint64_t seq;
    char *target; /* ping-req: the node to probe */
    /* leave (its states[0]: the sender's own, signed, with leaving set) */
    uint64_t incarnation;
    /* fwd / reject / chunk / end / fail / cancel */
    char *rid;
    char *model;
    char *request; /* fwd: normalized OpenAI request JSON text */
    size_t request_len;
    bool stream;
    int64_t deadline_ms; /* fwd: ms the origin still waits */
    uint32_t attempt;
    /* fwd, optional: the chunks the executor may send before a `credit`
       (has_credit false: no flow control, as before credit existed);
       credit: the chunks it may send more (1..WIRE_MAX_CREDIT) */
    bool has_credit;
    uint32_t credit;
    /* credit, optional: the chunks of rid the origin holds, in order (seq
       0 … ack−1; ack chunks+1 also holds the end/fail). With it, `n` is
       absolute: the executor may send chunks up to seq max(ack,1)+n−1, and
       n may be 0 (an ack alone). Without it, `n` (≥ 1) adds to the credit. */
    bool has_ack;
    uint64_t ack;
    char *client;       /* fwd, optional: the origin's verified client key id; NULL: none */
    char *request_id;   /* fwd, optional: the x-request-id the origin answers the client
                           with ("req_…"), for the logs; NULL: none */
    char *reason;       /* reject */
    uint64_t chunk_seq; /* chunk */
    wire_delta_t *deltas;
    size_t n_deltas;
    bool has_chunks;                          /* end / fail: `chunks` is present (optional) */
    uint64_t chunks;                          /* end / fail: chunks sent for rid before it */
    char *finish_reason;                      /* end */
    int64_t prompt_tokens, completion_tokens; /* end; -1 unknown */
    int status;                               /* fail: HTTP status for the client */
    char *code;                               /* fail: OpenAI error code */
    char *message;                            /* fail */
    bool retryable;                           /* fail */
    int64_t cooled_remaining_ms;              /* fail */
    /* tsum: the table, the XOR of its record hashes, and optionally the
       hash of each of its n_buckets buckets (a power of two, at most
       WIRE_MAX_BUCKETS); want: the sender asks for the receiver's buckets */
    char *table;
    uint64_t root;
    uint64_t *buckets;
    uint32_t n_buckets;
    bool want;
    /* records: at most WIRE_MAX_RECORDS, each verified */
    wire_record_t *records;
    size_t n_records;
} wire_msg_t;

const char *wire_type_name(wire_type_t t); /* "hello", "ping-req", … */

/*  Appends one encoded message. 0, or -1 (allocation, or a field over its
    limit: the encoder refuses what the decoder would refuse). */
int wire_msg_encode(const wire_msg_t *msg, abuf_t *out);
/*  Decodes one message; err (may be NULL) gets the reason on failure.
    Unknown map keys are ignored (forward compatibility), the optional ones
    (reject's "state", end's and fail's "chunks", fwd's "credit", "client"
    and "request_id", credit's "ack") may be absent; an unknown `t` or a `v` other than
    WIRE_MSG_VERSION is MALFORMED. Every state in a decoded message was
    verified against its owner's key (FORGED if not). */
wire_msg_rc_t wire_msg_decode(const uint8_t *buf, size_t len, wire_msg_t *out, char *err,
                              size_t errlen);
void wire_msg_clear(wire_msg_t *msg);
void wire_state_clear(wire_state_t *st);
/*  Deep copy (for the peer table). dst is overwritten, not freed: clear it
    first if it held a state. 0, or -1 (allocation) with dst left empty. */
int wire_state_copy(wire_state_t *dst, const wire_state_t *src);
/*  Signs st as its owner: encodes its fields (age_ms aside) into st->sealed
    and signs those bytes with sk, whose public key goes to st->pk. The
    caller makes sure st->id is ident_id of that key (receivers refuse it
    otherwise). 0, or -1 (a field over its limit, allocation). */
int wire_state_seal(wire_state_t *st, const uint8_t sk[IDENT_SK_LEN]);

/*  Signs rec as its writer: encodes table, key, version_ms, node, tomb and
    payload into rec->sealed and signs them with sk (its public key to
    rec->pk). The caller makes sure rec->node is ident_id of that key.
    0, or -1 (a field over its limit, allocation). */
int wire_record_seal(wire_record_t *rec, const uint8_t sk[IDENT_SK_LEN]);
/*  A signed record as one byte string (what a node keeps to send it on
    later): 0, or -1. */
int wire_record_pack(const wire_record_t *rec, abuf_t *out);
/*  The reverse, with every check the decoder makes (FORGED on a bad
    signature). out is the caller's to wire_record_clear. */
wire_msg_rc_t wire_record_unpack(const uint8_t *buf, size_t len, wire_record_t *out, char *err,
                                 size_t errlen);
void wire_record_clear(wire_record_t *rec);
/*  Deep copy; 0 or -1 (dst left empty). */
int wire_record_copy(wire_record_t *dst, const wire_record_t *src);

#endif
