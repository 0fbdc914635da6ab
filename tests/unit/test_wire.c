/*  test_wire — the mesh message codec (protocol/wire, docs/mesh-protocol.md).

    Round trips of every type (full, empty lists, every list and string at its
    limit); the encoder refusing what the decoder refuses; every field of
    every type omitted and given the wrong type (table built from the wire
    schema below, written independently of the codec); range and limit cases;
    hostile msgpack headers (huge lengths and counts, deep nesting, too many
    objects, trailing bytes) that must be refused by the pre-scan, fast (and,
    under ASan, without any allocation over 64 MiB); every truncation of every
    sample; signed states (every part of the envelope, forged signatures
    and keys, a relay forwarding the owner's bytes). With ARENA_WRITE_CORPUS=DIR set, one more test
    writes the samples as the fuzzer's seed corpus. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <msgpack.h>

#include "protocol/ident.h"
#include "protocol/wire.h"
#include "tests/support/test_mesh_env.h"
#include "tests/support/wire_msg_equal.h"

/*  Under ASan any single allocation over 64 MiB aborts the run: a hostile
    length prefix must never reach an allocator (the largest honest one here
    is about 1 MiB). Without ASan this function is simply never called. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=64";
}

/* ----------------------------------------------------------- sample messages */

typedef enum { V_FULL, V_EMPTY, V_MAX } variant_t;

static char *s_dup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

/*  prefix, then c repeated until the string is n bytes long. */
static char *s_fill(const char *prefix, char c, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memset(d, c, n);
    size_t p = strlen(prefix);
    memcpy(d, prefix, p < n ? p : n);
    d[n] = '\0';
    return d;
}

__attribute__((format(printf, 1, 2))) static char *s_fmt(const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return s_dup(buf);
}

/*  fmt's text, then c repeated until the string is n bytes long. */
__attribute__((format(printf, 3, 4))) static char *s_idn(char c, size_t n, const char *fmt, ...)
{
    char prefix[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    return s_fill(prefix, c, n);
}

static void s_state(wire_state_t *st, const char *id, variant_t v, size_t n_models)
{
    memset(st, 0, sizeof *st);
    bool max = v == V_MAX;
    st->id = s_dup(tmesh_id(id)); /* the id of the key that signs it (tmesh_encode) */
    st->name = max ? s_fill("nœud-", 'n', WIRE_MAX_NAME) : s_dup("nœud-α");
    st->endpoint = max ? s_fill("10.0.0.1:", '9', WIRE_MAX_NAME) : s_dup("10.0.0.1:5104");
    st->http = max ? s_fill("http://h/", 'h', WIRE_MAX_NAME) : s_dup("http://10.0.0.1:5102");
    st->incarnation = max ? UINT64_MAX : v == V_EMPTY ? 0 : 3;
    st->version = max ? UINT64_MAX : v == V_EMPTY ? 0 : 42;
    st->heartbeat = max ? UINT64_MAX : v == V_EMPTY ? 0 : 1000;
    st->started_at_ms = max ? INT64_MAX : v == V_EMPTY ? 0 : 1700000000000;
    st->leaving = v == V_FULL;
    st->tabs = max ? UINT32_MAX : v == V_EMPTY ? 0 : 4;
    st->tabs_healthy = max ? UINT32_MAX : v == V_EMPTY ? 0 : 3;
    st->inflight = max ? UINT32_MAX : v == V_EMPTY ? 0 : 2;
    st->capacity = max ? UINT32_MAX : v == V_EMPTY ? 0 : 8;
    st->ok = max ? UINT64_MAX : v == V_EMPTY ? 0 : 100;
    st->failed = max ? UINT64_MAX : v == V_EMPTY ? 0 : 2;
    st->p50_ms = max ? INT64_MAX : v == V_EMPTY ? -1 : 1234;
    st->node_cooled_remaining_ms = max ? INT64_MAX : v == V_EMPTY ? 0 : 5000;
    st->n_models = n_models;
    st->models = n_models ? calloc(n_models, sizeof *st->models) : NULL;
    static const char *const modalities[] = {"chat", "image", "search"};
    for (size_t i = 0; i < n_models; i++) {
        wire_model_t *md = &st->models[i];
        md->name = s_fmt("model-%zu", i);
        md->arena_id = s_fmt("0190a1b2-c3d4-7e5f-8a9b-%012zx", i);
        md->modality = s_dup(modalities[i % 3]);
        md->cooled_remaining_ms = i % 2 ? (int64_t)(30000 + i) : 0;
        md->reason = s_dup(i % 2 ? "rate limited" : "");
        md->display_name = i % 2 ? NULL : s_fmt("Model %zu (display)", i); /* optional */
    }
    if (max && n_models)
        st->models[0].cooled_remaining_ms = INT64_MAX;
    if (v == V_FULL && n_models) { /* the optional pace fields of 2026 */
        st->paced_remaining_ms = 41000;
        st->n_accounts = 2;
        st->accounts = calloc(2, sizeof *st->accounts);
        assert_non_null(st->accounts);
        st->accounts[0].id = s_dup("0123456789abcdef0123456789abcdef");
        st->accounts[0].flag_remaining_ms = 1800000;
        st->accounts[0].n_starts = 3;
        st->accounts[0].starts_ago_ms = calloc(3, sizeof(int64_t));
        assert_non_null(st->accounts[0].starts_ago_ms);
        st->accounts[0].starts_ago_ms[0] = 1000;
        st->accounts[0].starts_ago_ms[1] = 61000;
        st->accounts[0].starts_ago_ms[2] = 125000;
        st->accounts[1].id = s_dup("tab:0190a1b2-c3d4-7e5f-8a9b-000000000001");
        /* the optional key counts of node/limits */
        st->n_key_counts = 2;
        st->key_counts = calloc(2, sizeof *st->key_counts);
        assert_non_null(st->key_counts);
        st->key_counts[0] = (wire_key_count_t){
            s_dup("alice"), 59, 120, 900, 12345, 3, {1000, 61000, 300000, 86400000}};
        st->key_counts[1] =
            (wire_key_count_t){s_dup("team.ops_1-x"), 0, 0, 1, 0, 0, {0, 0, 86700000, 0}};
    }
}

static void s_states(wire_msg_t *m, variant_t v)
{
    if (v == V_EMPTY)
        return;
    m->n_states = v == V_MAX ? WIRE_MAX_PEERS : 2;
    m->states = calloc(m->n_states, sizeof *m->states);
    assert_non_null(m->states);
    for (size_t i = 0; i < m->n_states; i++) {
        char *id = v == V_MAX ? s_idn('x', WIRE_MAX_ID, "n%04zu-", i) : s_fmt("n%zu", i);
        s_state(&m->states[i], id, V_FULL, v == V_MAX ? 0 : 3);
        free(id);
    }
    /* keep the largest list under WIRE_MSG_MAX: short names there */
    if (v == V_MAX)
        for (size_t i = 0; i < m->n_states; i++) {
            free(m->states[i].name);
            m->states[i].name = s_dup("n");
        }
}

static void s_hello(wire_msg_t *m, variant_t v)
{
    m->n_states = 1;
    m->states = calloc(1, sizeof *m->states);
    assert_non_null(m->states);
    s_state(&m->states[0], m->from, v, v == V_MAX ? WIRE_MAX_MODELS : v == V_EMPTY ? 0 : 4);
    m->n_peers = v == V_MAX ? WIRE_MAX_PEERS : v == V_EMPTY ? 0 : 3;
    m->peers = m->n_peers ? calloc(m->n_peers, sizeof *m->peers) : NULL;
    for (size_t i = 0; i < m->n_peers; i++) {
        m->peers[i].id = v == V_MAX ? s_idn('p', WIRE_MAX_ID, "p%04zu-", i) : s_fmt("peer-%zu", i);
        m->peers[i].endpoint = v == V_MAX ? s_fill("192.168.1.1:", '1', WIRE_MAX_NAME)
                                          : s_fmt("192.168.1.%zu:5104", i + 1);
    }
}

static void s_digest(wire_msg_t *m, variant_t v)
{
    m->n_versions = v == V_MAX ? WIRE_MAX_PEERS : v == V_EMPTY ? 0 : 3;
    m->versions = m->n_versions ? calloc(m->n_versions, sizeof *m->versions) : NULL;
    for (size_t i = 0; i < m->n_versions; i++) {
        m->versions[i].id =
            v == V_MAX ? s_idn('v', WIRE_MAX_ID, "v%04zu-", i) : s_fmt("node-%zu", i);
        m->versions[i].version = v == V_MAX ? UINT64_MAX - i : i * 7;
    }
}

static void s_chunk(wire_msg_t *m, variant_t v)
{
    m->chunk_seq = v == V_MAX ? UINT64_MAX : v == V_EMPTY ? 0 : 17;
    m->n_deltas = v == V_MAX ? WIRE_MAX_DELTAS : v == V_EMPTY ? 0 : 4;
    m->deltas = m->n_deltas ? calloc(m->n_deltas, sizeof *m->deltas) : NULL;
    static const char *const texts[] = {"Hello, wörld", "thinking…", "https://img/x.png",
                                        "{\"url\":\"https://a\"}"};
    for (size_t i = 0; i < m->n_deltas; i++) {
        m->deltas[i].kind = (delta_kind_t)(i % 4);
        m->deltas[i].text = v == V_MAX ? s_fill("d", 'd', 200) : s_dup(texts[i % 4]);
        m->deltas[i].len = strlen(m->deltas[i].text);
    }
}

/*  A message of type t with every field of that type set (and no other). */
static void s_build(wire_msg_t *m, wire_type_t t, variant_t v)
{
    memset(m, 0, sizeof *m);
    m->type = t;
    m->from = v == V_MAX ? s_fill("from-", 'f', WIRE_MAX_ID) : s_dup("0190a1b2-node-a");
    if (t == WIRE_HELLO || t == WIRE_REJECT || t == WIRE_LEAVE) { /* its own state: its key's id */
        char *name = m->from;
        m->from = s_dup(tmesh_id(name));
        free(name);
    }
    bool max = v == V_MAX, empty = v == V_EMPTY;
    switch (t) {
    case WIRE_HELLO:
        s_hello(m, v);
        break;
    case WIRE_DIGEST:
        s_digest(m, v);
        break;
    case WIRE_DELTA:
    case WIRE_PUSH:
        s_states(m, v);
        break;
    case WIRE_PING:
    case WIRE_ACK:
        m->seq = max ? UINT64_MAX : empty ? 0 : 99;
        break;
    case WIRE_PING_REQ:
        m->seq = max ? UINT64_MAX : empty ? 0 : 98;
        m->target = max ? s_fill("t", 't', WIRE_MAX_ID) : s_dup("node-b");
        break;
    case WIRE_LEAVE: /* with the sender's own state, which says leaving */
        m->incarnation = max ? UINT64_MAX : empty ? 0 : 5;
        m->n_states = 1;
        m->states = calloc(1, sizeof *m->states);
        assert_non_null(m->states);
        s_state(&m->states[0], m->from, v, max ? 3 : empty ? 0 : 2);
        m->states[0].leaving = true;
        break;
    case WIRE_FWD:
        m->rid = max ? s_fill("r", 'r', WIRE_MAX_ID) : s_dup("req-1");
        m->model = max ? s_fill("m", 'm', WIRE_MAX_NAME) : s_dup("gpt-4o");
        m->request = max     ? s_fill("{", ' ', WIRE_MAX_TEXT - 1024)
                     : empty ? s_dup("")
                             : s_dup("{\"model\":\"gpt-4o\",\"messages\":[]}");
        m->request_len = strlen(m->request);
        m->stream = v == V_FULL;
        m->deadline_ms = max ? INT64_MAX : empty ? 0 : 120000;
        m->attempt = max ? UINT32_MAX : empty ? 0 : 2;
        m->has_credit = !empty; /* optional */
        m->credit = max ? WIRE_MAX_CREDIT : empty ? 0 : 16;
        m->client = max ? s_fill("c", 'c', WIRE_MAX_ID) : empty ? NULL : s_dup("0123456789abcdef");
        m->request_id = max     ? s_fill("q", 'q', WIRE_MAX_ID)
                        : empty ? NULL
                                : s_dup("req_01900000-0000-7000-8000-000000000000");
        break;
    case WIRE_REJECT: /* the sender's state is optional: not in the empty sample */
        m->rid = s_dup("req-2");
        m->reason = s_dup(empty ? "" : max ? "busy busy busy" : "cooled");
        if (!empty) {
            m->n_states = 1;
            m->states = calloc(1, sizeof *m->states);
            assert_non_null(m->states);
            s_state(&m->states[0], m->from, v, max ? WIRE_MAX_MODELS : 2);
        }
        break;
    case WIRE_CHUNK:
        m->rid = s_dup("req-3");
        s_chunk(m, v);
        break;
    case WIRE_END:
        m->rid = s_dup("req-4");
        m->finish_reason = s_dup(empty ? "" : "stop");
        m->prompt_tokens = max ? INT64_MAX : empty ? -1 : 12;
        m->completion_tokens = max ? INT64_MAX : empty ? -1 : 345;
        m->has_chunks = !empty; /* optional */
        m->chunks = max ? UINT64_MAX : empty ? 0 : 346;
        break;
    case WIRE_FAIL:
        m->rid = s_dup("req-5");
        m->status = max ? 599 : empty ? 100 : 429;
        m->code = s_dup(empty ? "" : "rate_limit_exceeded");
        m->message = max ? s_fill("x", 'x', WIRE_MAX_TEXT - 1024)
                         : s_dup(empty ? "" : "model cooling\n\tfor 30 s — réessayez");
        m->retryable = v == V_FULL;
        m->cooled_remaining_ms = max ? INT64_MAX : empty ? 0 : 30000;
        m->has_chunks = !empty; /* optional */
        m->chunks = max ? UINT64_MAX : empty ? 0 : 3;
        break;
    case WIRE_CANCEL:
        m->rid = s_dup("req-6");
        break;
    case WIRE_CREDIT:
        m->rid = s_dup("req-7");
        m->has_credit = true;
        /* full: an ack alone (n 0); max: the largest; empty: no ack (n ≥ 1) */
        m->credit = max ? WIRE_MAX_CREDIT : empty ? 1 : 0;
        m->has_ack = !empty; /* optional */
        m->ack = max ? WIRE_MAX_SEQ : empty ? 0 : 2;
        break;
    case WIRE_TSUM: /* replicated records: test_wire_records.c */
    case WIRE_RECORDS:
        break;
    }
}

static bool s_bytes_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static const wire_type_t s_all_types[] = {
    WIRE_HELLO, WIRE_DIGEST,   WIRE_DELTA, WIRE_PUSH,   WIRE_PING,
    WIRE_ACK,   WIRE_PING_REQ, WIRE_LEAVE, WIRE_FWD,    WIRE_REJECT,
    WIRE_CHUNK, WIRE_END,      WIRE_FAIL,  WIRE_CANCEL, WIRE_CREDIT,
};
#define N_TYPES (sizeof s_all_types / sizeof s_all_types[0])

/*  encode → decode → equal; returns the encoding. */
static abuf_t s_roundtrip(const wire_msg_t *m)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(tmesh_encode(m, &b), 0);
    assert_true(b.len <= WIRE_MSG_MAX);
    wire_msg_t d;
    char err[256] = "";
    wire_msg_rc_t rc = wire_msg_decode((const uint8_t *)b.data, b.len, &d, err, sizeof err);
    if (rc != WIRE_MSG_OK)
        fail_msg("%s: decode of own encoding failed: %s", wire_type_name(m->type), err);
    assert_true(wire_msg_equal(m, &d));
    wire_msg_clear(&d);
    return b;
}

/* -------------------------------------------------------------- round trips */

static void test_roundtrip_every_type(void **state)
{
    static const variant_t variants[] = {V_FULL, V_EMPTY, V_MAX};
    for (size_t v = 0; v < 3; v++)
        for (size_t i = 0; i < N_TYPES; i++) {
            wire_msg_t m;
            s_build(&m, s_all_types[i], variants[v]);
            abuf_t b = s_roundtrip(&m);
            /* deterministic: encoding the decoded message gives the same bytes */
            wire_msg_t d;
            assert_int_equal(wire_msg_decode((const uint8_t *)b.data, b.len, &d, NULL, 0),
                             WIRE_MSG_OK);
            abuf_t b2 = ABUF_INIT;
            assert_int_equal(tmesh_encode(&d, &b2), 0);
            assert_true(s_bytes_eq(b.data, b.len, b2.data, b2.len));
            abuf_free(&b2);
            wire_msg_clear(&d);
            abuf_free(&b);
            wire_msg_clear(&m);
        }
}

/*  Length-carried text: any bytes, NULs and invalid UTF-8 included, up to
    WIRE_MAX_TEXT. */
static void test_roundtrip_blobs(void **state)
{
    wire_msg_t m;
    s_build(&m, WIRE_CHUNK, V_FULL);
    free(m.deltas[1].text);
    m.deltas[1].len = WIRE_MAX_TEXT;
    m.deltas[1].text = malloc(WIRE_MAX_TEXT + 1);
    for (size_t i = 0; i < WIRE_MAX_TEXT; i++)
        m.deltas[1].text[i] = (char)(i * 131);
    m.deltas[1].text[WIRE_MAX_TEXT] = '\0';
    abuf_t b = s_roundtrip(&m);
    abuf_free(&b);
    wire_msg_clear(&m);

    s_build(&m, WIRE_FWD, V_FULL);
    free(m.request);
    m.request = malloc(5);
    memcpy(m.request,
           "a\0\xff"
           "b",
           5);
    m.request_len = 4;
    b = s_roundtrip(&m);
    abuf_free(&b);
    wire_msg_clear(&m);
}

/*  The comparator must see a change in any field, or the round trips prove
    nothing. */
static void test_comparator_is_strict(void **state)
{
    wire_msg_t a, b;
    for (int k = 0; k < 16; k++) {
        wire_type_t t = k < 6    ? WIRE_HELLO
                        : k < 9  ? WIRE_CHUNK
                        : k < 12 ? WIRE_FAIL
                        : k < 14 ? WIRE_END
                                 : WIRE_REJECT;
        s_build(&a, t, V_FULL);
        s_build(&b, t, V_FULL);
        assert_true(wire_msg_equal(&a, &b));
        switch (k) {
        case 0:
            b.states[0].models[3].cooled_remaining_ms++;
            break;
        case 1:
            b.states[0].tabs_healthy++;
            break;
        case 2:
            b.peers[2].endpoint[0] = 'X';
            break;
        case 3:
            b.states[0].http[0] = 'X';
            break;
        case 4:
            b.states[0].leaving = !b.states[0].leaving;
            break;
        case 5:
            b.n_peers--;
            break;
        case 6:
            b.deltas[2].kind = DELTA_TEXT;
            break;
        case 7:
            b.deltas[1].len--;
            break;
        case 8:
            b.chunk_seq++;
            break;
        case 9:
            b.retryable = !b.retryable;
            break;
        case 10:
            b.message[0] = 'X';
            break;
        case 11:
            b.status++;
            break;
        case 12:
            b.has_chunks = false;
            break;
        case 13:
            b.chunks++;
            break;
        case 14:
            b.states[0].models[1].cooled_remaining_ms++;
            break;
        default:
            b.n_states = 0;
            break;
        }
        assert_false(wire_msg_equal(&a, &b));
        if (k == 5)
            b.n_peers++;
        if (k == 15)
            b.n_states = 1;
        wire_msg_clear(&a);
        wire_msg_clear(&b);
    }
}

/* ------------------------------------------------------- encoder refusals */

typedef void (*mutate_fn)(wire_msg_t *m);

static void m_from_long(wire_msg_t *m)
{
    free(m->from);
    m->from = s_fill("f", 'f', WIRE_MAX_ID + 1);
}
static void m_from_space(wire_msg_t *m)
{
    free(m->from);
    m->from = s_dup("a b");
}
static void m_from_null(wire_msg_t *m)
{
    free(m->from);
    m->from = NULL;
}
static void m_name_long(wire_msg_t *m)
{
    free(m->states[0].name);
    m->states[0].name = s_fill("n", 'n', WIRE_MAX_NAME + 1);
}
static void m_name_ctrl(wire_msg_t *m)
{
    m->states[0].name[1] = '\x1b';
}
static void m_name_utf8(wire_msg_t *m)
{
    m->states[0].name[1] = '\xc3'; /* a lead byte followed by ASCII */
    m->states[0].name[2] = 'x';
}
static void m_model_empty(wire_msg_t *m)
{
    m->states[0].models[1].name[0] = '\0';
}
static void m_model_cool_neg(wire_msg_t *m)
{
    m->states[0].models[0].cooled_remaining_ms = -1;
}
static void m_too_many_models(wire_msg_t *m)
{
    wire_state_t *st = &m->states[0];
    wire_state_clear(st);
    s_state(st, m->from, V_FULL, WIRE_MAX_MODELS + 1);
}
static void m_p50(wire_msg_t *m)
{
    m->states[0].p50_ms = -2;
}
static void m_hello_not_own(wire_msg_t *m)
{
    m->states[0].id[0] = 'X';
}
static void m_hello_two_states(wire_msg_t *m)
{
    m->n_states = 2; /* storage for one only: must be refused before reading */
}
static void m_reject_two_states(wire_msg_t *m)
{
    m->n_states = 2; /* storage for one only: must be refused before reading */
}
static void m_too_many_peers(wire_msg_t *m)
{
    m->n_peers = WIRE_MAX_PEERS + 1; /* refused before reading */
}
static void m_peer_ep_empty(wire_msg_t *m)
{
    m->peers[1].endpoint[0] = '\0';
}
static void m_digest_dup(wire_msg_t *m)
{
    free(m->versions[2].id);
    m->versions[2].id = s_dup(m->versions[0].id);
}
static void m_too_many_versions(wire_msg_t *m)
{
    m->n_versions = WIRE_MAX_PEERS + 1;
}
static void m_too_many_states(wire_msg_t *m)
{
    m->n_states = WIRE_MAX_PEERS + 1;
}
static void m_too_many_deltas(wire_msg_t *m)
{
    m->n_deltas = WIRE_MAX_DELTAS + 1;
}
static void m_delta_kind(wire_msg_t *m)
{
    m->deltas[0].kind = (delta_kind_t)4;
}
static void m_delta_null(wire_msg_t *m)
{
    free(m->deltas[0].text);
    m->deltas[0].text = NULL; /* with a length */
}
static void m_text_long(wire_msg_t *m)
{
    free(m->request);
    m->request = s_fill("", 'x', WIRE_MAX_TEXT + 1);
    m->request_len = WIRE_MAX_TEXT + 1;
}
static void m_deadline_neg(wire_msg_t *m)
{
    m->deadline_ms = -1;
}
static void m_model_null(wire_msg_t *m)
{
    free(m->model);
    m->model = NULL;
}
static void m_status_low(wire_msg_t *m)
{
    m->status = 99;
}
static void m_status_high(wire_msg_t *m)
{
    m->status = 600;
}
static void m_fail_cool_neg(wire_msg_t *m)
{
    m->cooled_remaining_ms = -5;
}
static void m_pt_low(wire_msg_t *m)
{
    m->prompt_tokens = -2;
}
static void m_credit_zero(wire_msg_t *m)
{
    m->credit = 0;
    m->has_ack = false; /* n 0 goes only with an ack */
}
static void m_ack_high(wire_msg_t *m)
{
    m->ack = WIRE_MAX_SEQ + 1;
}
static void m_credit_high(wire_msg_t *m)
{
    m->credit = WIRE_MAX_CREDIT + 1;
}
static void m_client_space(wire_msg_t *m)
{
    m->client[0] = ' ';
}
static void m_request_id_newline(wire_msg_t *m)
{
    m->request_id[3] = '\n';
}
static void m_type_zero(wire_msg_t *m)
{
    m->type = 0;
}
static void m_type_high(wire_msg_t *m)
{
    m->type = (wire_type_t)99;
}
static void m_rid_empty(wire_msg_t *m)
{
    m->rid[0] = '\0';
}
static void m_target_ctrl(wire_msg_t *m)
{
    m->target[0] = '\n';
}
/*  Every field within its limit, but 1024 states of over 1 KiB each. */
static void m_too_big(wire_msg_t *m)
{
    for (size_t i = 0; i < m->n_states; i++) {
        wire_state_t *st = &m->states[i];
        free(st->http);
        st->http = s_fill("http://", 'h', WIRE_MAX_NAME);
        free(st->endpoint);
        st->endpoint = s_fill("e", 'e', WIRE_MAX_NAME);
        free(st->name);
        st->name = s_fill("n", 'n', WIRE_MAX_NAME);
        st->n_models = 1;
        st->models = calloc(1, sizeof *st->models);
        st->models[0].name = s_fill("m", 'm', WIRE_MAX_NAME);
        st->models[0].arena_id = s_fill("a", 'a', WIRE_MAX_NAME);
        st->models[0].modality = s_dup("chat");
        st->models[0].reason = s_fill("r", 'r', WIRE_MAX_NAME);
    }
}

static void test_encoder_refuses(void **state)
{
    static const struct {
        const char *what;
        wire_type_t type;
        variant_t variant;
        mutate_fn mutate;
    } cases[] = {
        {"from over WIRE_MAX_ID", WIRE_PING, V_FULL, m_from_long},
        {"from with a space", WIRE_PING, V_FULL, m_from_space},
        {"from missing", WIRE_CANCEL, V_FULL, m_from_null},
        {"node name over WIRE_MAX_NAME", WIRE_PUSH, V_FULL, m_name_long},
        {"node name with ESC", WIRE_PUSH, V_FULL, m_name_ctrl},
        {"node name not UTF-8", WIRE_DELTA, V_FULL, m_name_utf8},
        {"empty model name", WIRE_HELLO, V_FULL, m_model_empty},
        {"negative model cooldown", WIRE_HELLO, V_FULL, m_model_cool_neg},
        {"too many models", WIRE_HELLO, V_FULL, m_too_many_models},
        {"p50 below -1", WIRE_PUSH, V_FULL, m_p50},
        {"hello state not the sender's", WIRE_HELLO, V_FULL, m_hello_not_own},
        {"hello with two states", WIRE_HELLO, V_FULL, m_hello_two_states},
        {"reject state not the sender's", WIRE_REJECT, V_FULL, m_hello_not_own},
        {"reject with two states", WIRE_REJECT, V_FULL, m_reject_two_states},
        {"reject state with a bad model", WIRE_REJECT, V_FULL, m_model_cool_neg},
        {"too many peers", WIRE_HELLO, V_FULL, m_too_many_peers},
        {"peer without endpoint", WIRE_HELLO, V_FULL, m_peer_ep_empty},
        {"digest id twice", WIRE_DIGEST, V_FULL, m_digest_dup},
        {"too many versions", WIRE_DIGEST, V_FULL, m_too_many_versions},
        {"too many states", WIRE_DELTA, V_FULL, m_too_many_states},
        {"too many deltas", WIRE_CHUNK, V_FULL, m_too_many_deltas},
        {"delta kind 4", WIRE_CHUNK, V_FULL, m_delta_kind},
        {"delta text NULL with a length", WIRE_CHUNK, V_FULL, m_delta_null},
        {"request over WIRE_MAX_TEXT", WIRE_FWD, V_FULL, m_text_long},
        {"negative deadline", WIRE_FWD, V_FULL, m_deadline_neg},
        {"fwd without model", WIRE_FWD, V_FULL, m_model_null},
        {"status 99", WIRE_FAIL, V_FULL, m_status_low},
        {"status 600", WIRE_FAIL, V_FULL, m_status_high},
        {"negative fail cooldown", WIRE_FAIL, V_FULL, m_fail_cool_neg},
        {"pt below -1", WIRE_END, V_FULL, m_pt_low},
        {"credit 0 without an ack", WIRE_CREDIT, V_FULL, m_credit_zero},
        {"credit ack over WIRE_MAX_SEQ", WIRE_CREDIT, V_FULL, m_ack_high},
        {"credit over WIRE_MAX_CREDIT", WIRE_CREDIT, V_FULL, m_credit_high},
        {"fwd credit over WIRE_MAX_CREDIT", WIRE_FWD, V_FULL, m_credit_high},
        {"fwd client with a space", WIRE_FWD, V_FULL, m_client_space},
        {"fwd request_id with a newline", WIRE_FWD, V_FULL, m_request_id_newline},
        {"type 0", WIRE_PING, V_FULL, m_type_zero},
        {"type 99", WIRE_PING, V_FULL, m_type_high},
        {"empty rid", WIRE_REJECT, V_FULL, m_rid_empty},
        {"target with newline", WIRE_PING_REQ, V_FULL, m_target_ctrl},
        {"over WIRE_MSG_MAX", WIRE_PUSH, V_MAX, m_too_big},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wire_msg_t m;
        s_build(&m, cases[i].type, cases[i].variant);
        wire_type_t type = m.type;
        size_t n_peers = m.n_peers, n_states = m.n_states, n_versions = m.n_versions,
               n_deltas = m.n_deltas;
        cases[i].mutate(&m);
        abuf_t b = ABUF_INIT;
        assert_int_equal(abuf_append(&b, "keep", 4), 0);
        if (tmesh_encode(&m, &b) != -1)
            fail_msg("encoder accepted: %s", cases[i].what);
        assert_true(s_bytes_eq(b.data, b.len, "keep", 4)); /* out unchanged */
        abuf_free(&b);
        m.type = type; /* undo the counts that point past the storage */
        m.n_peers = n_peers < m.n_peers ? n_peers : m.n_peers;
        m.n_states = n_states < m.n_states ? n_states : m.n_states;
        m.n_versions = n_versions < m.n_versions ? n_versions : m.n_versions;
        m.n_deltas = n_deltas < m.n_deltas ? n_deltas : m.n_deltas;
        wire_msg_clear(&m);
    }
}

/* ------------------------------------------------- raw messages (test side) */

/*  The wire schema as the spec states it, written here independently of the
    codec: each key and the kind of its value. */
typedef enum {
    K_V,        /* uint, the version: 1 */
    K_T,        /* str, the type name */
    K_UINT,     /* uint */
    K_INT,      /* int */
    K_BOOL,     /* bool */
    K_ID,       /* str, an id */
    K_STR,      /* str, a name or text */
    K_STATE,    /* map: a node state */
    K_PEERS,    /* array of {"id","ep"} */
    K_VERSIONS, /* map id → uint */
    K_STATES,   /* array of states */
    K_DELTAS,   /* array of [kind, text] */
    K_PAIR,     /* [uint, uint] */
    K_STATS,    /* [uint, uint, int] */
    K_MODELS,   /* array of [name, arena_id, modality, cool, reason] */
    K_STATUS,   /* int, an HTTP status */
} kind_t;

typedef struct {
    const char *key;
    kind_t kind;
} field_t;

#define MAX_FIELDS 16

typedef struct {
    const char *t;
    field_t fields[MAX_FIELDS];
} schema_t;

static const schema_t s_schemas[] = {
    {"hello", {{"state", K_STATE}, {"peers", K_PEERS}}},
    {"digest", {{"versions", K_VERSIONS}}},
    {"delta", {{"states", K_STATES}}},
    {"push", {{"states", K_STATES}}},
    {"ping", {{"seq", K_UINT}}},
    {"ack", {{"seq", K_UINT}}},
    {"ping-req", {{"seq", K_UINT}, {"target", K_ID}}},
    {"leave", {{"inc", K_UINT}, {"state", K_STATE}}},
    {"fwd",
     {{"rid", K_ID},
      {"model", K_STR},
      {"req", K_STR},
      {"stream", K_BOOL},
      {"deadline_ms", K_INT},
      {"attempt", K_UINT}}},
    {"reject", {{"rid", K_ID}, {"reason", K_STR}, {"state", K_STATE}}},
    {"chunk", {{"rid", K_ID}, {"seq", K_UINT}, {"d", K_DELTAS}}},
    {"end", {{"rid", K_ID}, {"finish", K_STR}, {"pt", K_INT}, {"ct", K_INT}, {"chunks", K_UINT}}},
    {"fail",
     {{"rid", K_ID},
      {"status", K_STATUS},
      {"code", K_STR},
      {"msg", K_STR},
      {"retry", K_BOOL},
      {"cool_ms", K_INT},
      {"chunks", K_UINT}}},
    {"cancel", {{"rid", K_ID}}},
};
#define N_SCHEMAS (sizeof s_schemas / sizeof s_schemas[0])

static const field_t s_common[] = {{"v", K_V}, {"t", K_T}, {"from", K_ID}};

/*  Keys of the schemas above that may be left out (a wrong value is still
    refused): "type.key". */
static const char *const s_optional[] = {"reject.state", "end.chunks", "fail.chunks"};

static bool s_is_optional(const char *t, const char *key)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", t, key);
    for (size_t i = 0; i < sizeof s_optional / sizeof s_optional[0]; i++)
        if (strcmp(s_optional[i], name) == 0)
            return true;
    return false;
}

static const field_t s_state_fields[] = {
    {"id", K_ID},
    {"name", K_STR},
    {"ep", K_STR},
    {"http", K_STR},
    {"inc", K_UINT},
    {"ver", K_UINT},
    {"hb", K_UINT},
    {"start_ms", K_INT},
    {"leaving", K_BOOL},
    {"tabs", K_PAIR},
    {"load", K_PAIR},
    {"stats", K_STATS},
    {"node_cool_ms", K_INT},
    {"models", K_MODELS},
};
#define N_STATE_FIELDS (sizeof s_state_fields / sizeof s_state_fields[0])

typedef void (*writer_t)(msgpack_packer *pk);

/*  One change to an otherwise valid message: key (at the top, or inside the
    state when in_state) gets write's value instead, or is left out when write
    is NULL; a key the schema lacks is added. */
typedef struct {
    bool in_state;
    const char *key;
    writer_t write;
} override_t;

static void p_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void s_pack_fields(msgpack_packer *pk, const field_t *f, size_t n, const char *t,
                          const override_t *ov, bool state_level);

/*  A signed state: the fields as a map in "st", signed by the key of "n1"
    (K_ID's id), with that key, the signature and an age. */
static void s_pack_state(msgpack_packer *pk, const override_t *ov)
{
    msgpack_sbuffer in;
    msgpack_sbuffer_init(&in);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &in, msgpack_sbuffer_write);
    s_pack_fields(&ipk, s_state_fields, N_STATE_FIELDS, NULL, ov, true);
    uint8_t sig[IDENT_SIG_LEN], pub[IDENT_PK_LEN];
    assert_int_equal(ident_sign_state(tmesh_key("n1"), (const uint8_t *)in.data, in.size, sig), 0);
    ident_sk_pk(tmesh_key("n1"), pub);
    msgpack_pack_map(pk, 4);
    p_str(pk, "st");
    msgpack_pack_bin_with_body(pk, in.data, in.size);
    p_str(pk, "pk");
    msgpack_pack_bin_with_body(pk, pub, sizeof pub);
    p_str(pk, "sig");
    msgpack_pack_bin_with_body(pk, sig, sizeof sig);
    p_str(pk, "age");
    msgpack_pack_uint8(pk, 0);
    msgpack_sbuffer_destroy(&in);
}

static void s_pack_valid(msgpack_packer *pk, kind_t kind, const char *t, const override_t *ov)
{
    switch (kind) {
    case K_V:
        msgpack_pack_uint8(pk, WIRE_MSG_VERSION);
        break;
    case K_T:
        p_str(pk, t);
        break;
    case K_UINT:
        msgpack_pack_uint8(pk, 7);
        break;
    case K_INT:
        msgpack_pack_int8(pk, 5);
        break;
    case K_BOOL:
        msgpack_pack_true(pk);
        break;
    case K_ID:
        p_str(pk, tmesh_id("n1"));
        break;
    case K_STR:
        p_str(pk, "x");
        break;
    case K_STATUS:
        msgpack_pack_int(pk, 502);
        break;
    case K_STATE:
        s_pack_state(pk, ov);
        break;
    case K_STATES:
        msgpack_pack_array(pk, 1);
        s_pack_state(pk, ov);
        break;
    case K_PEERS:
        msgpack_pack_array(pk, 1);
        msgpack_pack_map(pk, 2);
        p_str(pk, "id");
        p_str(pk, "n2");
        p_str(pk, "ep");
        p_str(pk, "h:1");
        break;
    case K_VERSIONS:
        msgpack_pack_map(pk, 1);
        p_str(pk, "n1");
        msgpack_pack_uint8(pk, 3);
        break;
    case K_DELTAS:
        msgpack_pack_array(pk, 1);
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint8(pk, 0);
        p_str(pk, "hi");
        break;
    case K_PAIR:
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint8(pk, 2);
        msgpack_pack_uint8(pk, 1);
        break;
    case K_STATS:
        msgpack_pack_array(pk, 3);
        msgpack_pack_uint8(pk, 2);
        msgpack_pack_uint8(pk, 1);
        msgpack_pack_int(pk, -1);
        break;
    case K_MODELS:
        msgpack_pack_array(pk, 1);
        msgpack_pack_array(pk, 5);
        p_str(pk, "m");
        p_str(pk, "a");
        p_str(pk, "chat");
        msgpack_pack_uint8(pk, 0);
        p_str(pk, "");
        break;
    }
}

static void s_pack_fields(msgpack_packer *pk, const field_t *f, size_t n, const char *t,
                          const override_t *ov, bool state_level)
{
    const override_t *mine = ov && ov->in_state == state_level ? ov : NULL;
    bool found = false;
    for (size_t i = 0; i < n && mine; i++)
        found |= strcmp(f[i].key, mine->key) == 0;
    size_t count = n;
    if (mine && found && !mine->write)
        count--;
    if (mine && !found && mine->write)
        count++;
    msgpack_pack_map(pk, count);
    for (size_t i = 0; i < n; i++) {
        if (mine && strcmp(f[i].key, mine->key) == 0) {
            if (mine->write) {
                p_str(pk, f[i].key);
                mine->write(pk);
            }
            continue;
        }
        p_str(pk, f[i].key);
        s_pack_valid(pk, f[i].kind, t, ov);
    }
    if (mine && !found && mine->write) {
        p_str(pk, mine->key);
        mine->write(pk);
    }
}

static const schema_t *s_schema(const char *t)
{
    for (size_t i = 0; i < N_SCHEMAS; i++)
        if (strcmp(s_schemas[i].t, t) == 0)
            return &s_schemas[i];
    fail_msg("no schema for %s", t);
    return NULL;
}

/*  A raw message of type t with one override (may be NULL). */
static msgpack_sbuffer s_raw(const char *t, const override_t *ov)
{
    const schema_t *sc = s_schema(t);
    field_t all[3 + MAX_FIELDS];
    size_t n = 0;
    for (size_t i = 0; i < 3; i++)
        all[n++] = s_common[i];
    for (size_t i = 0; i < MAX_FIELDS && sc->fields[i].key; i++)
        all[n++] = sc->fields[i];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    s_pack_fields(&pk, all, n, t, ov, false);
    return sb;
}

static wire_msg_rc_t s_decode_raw(const void *p, size_t n, wire_msg_t *m, char *err, size_t len)
{
    /* an exact-size copy so ASan sees any read past the end */
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, p, n);
    wire_msg_rc_t rc = wire_msg_decode(copy, n, m, err, len);
    free(copy);
    return rc;
}

/*  Decodes sb and checks rc and that the reason holds want. */
static void s_expect(const msgpack_sbuffer *sb, wire_msg_rc_t want_rc, const char *want,
                     const char *label)
{
    wire_msg_t m;
    char err[256] = "";
    wire_msg_rc_t rc = s_decode_raw(sb->data, sb->size, &m, err, sizeof err);
    if (rc != want_rc)
        fail_msg("%s: rc %d, want %d (%s)", label, rc, want_rc, err);
    if (rc != WIRE_MSG_OK) {
        static const wire_msg_t zero;
        assert_memory_equal(&m, &zero, sizeof m); /* nothing left to free */
        if (want && !strstr(err, want))
            fail_msg("%s: reason \"%s\" lacks \"%s\"", label, err, want);
    }
    wire_msg_clear(&m);
}

/* --------------------------------------------------- missing and wrong types */

static void w_nil(msgpack_packer *pk)
{
    msgpack_pack_nil(pk);
}
static void w_str7(msgpack_packer *pk)
{
    p_str(pk, "7");
}
static void w_int7(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 7);
}
static void w_map0(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 0);
}
static void w_arr0(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 0);
}
static void w_float(msgpack_packer *pk)
{
    msgpack_pack_double(pk, 1.0);
}

static writer_t s_wrong_for(kind_t k)
{
    switch (k) {
    case K_V:
    case K_UINT:
    case K_INT:
    case K_STATUS:
        return w_str7;
    case K_T:
    case K_ID:
    case K_STR:
    case K_BOOL:
        return w_int7;
    case K_STATE:
    case K_VERSIONS:
        return w_arr0;
    default:
        return w_map0;
    }
}

static void s_each_field(const char *t, const field_t *f, size_t n, bool in_state)
{
    for (size_t i = 0; i < n && f[i].key; i++) {
        char label[128], quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", f[i].key);
        const writer_t writers[] = {NULL, s_wrong_for(f[i].kind), w_nil, w_float};
        for (size_t w = 0; w < 4; w++) {
            override_t ov = {in_state, f[i].key, writers[w]};
            snprintf(label, sizeof label, "%s%s.%s writer %zu", t, in_state ? ".state" : "",
                     f[i].key, w);
            msgpack_sbuffer sb = s_raw(t, &ov);
            if (!writers[w] && !in_state && s_is_optional(t, f[i].key))
                s_expect(&sb, WIRE_MSG_OK, NULL, label); /* left out: fine */
            else
                s_expect(&sb, WIRE_MSG_MALFORMED, quoted, label);
            msgpack_sbuffer_destroy(&sb);
        }
    }
}

static void test_every_field_missing_or_wrong(void **state)
{
    for (size_t i = 0; i < N_SCHEMAS; i++) {
        const char *t = s_schemas[i].t;
        msgpack_sbuffer sb = s_raw(t, NULL); /* the untouched one is valid */
        s_expect(&sb, WIRE_MSG_OK, NULL, t);
        msgpack_sbuffer_destroy(&sb);
        s_each_field(t, s_common, 3, false);
        s_each_field(t, s_schemas[i].fields, MAX_FIELDS, false);
    }
    s_each_field("push", s_state_fields, N_STATE_FIELDS, true);
    s_each_field("hello", s_state_fields, N_STATE_FIELDS, true);
    s_each_field("reject", s_state_fields, N_STATE_FIELDS, true);
    s_each_field("leave", s_state_fields, N_STATE_FIELDS, true);
}

/* --------------------------------------------------- ranges and limits */

static void w_v1(msgpack_packer *pk) /* before states were signed */
{
    msgpack_pack_uint8(pk, 1);
}
static void w_pong(msgpack_packer *pk)
{
    p_str(pk, "pong");
}
static void w_empty(msgpack_packer *pk)
{
    p_str(pk, "");
}
static void w_space(msgpack_packer *pk)
{
    p_str(pk, "a b");
}
static void w_ctrl(msgpack_packer *pk)
{
    p_str(pk, "a\nb");
}
static void w_del(msgpack_packer *pk)
{
    p_str(pk, "a\x7f");
}
static void w_latin1(msgpack_packer *pk)
{
    p_str(pk, "caf\xe9");
}
static void w_overlong(msgpack_packer *pk)
{
    p_str(pk, "\xc0\xaf");
}
static void w_surrogate(msgpack_packer *pk)
{
    p_str(pk, "\xed\xa0\x80");
}
static void w_c1(msgpack_packer *pk) /* U+0085: a name may hold it (only C0 and DEL refused) */
{
    p_str(pk, "a\xc2\x85");
}
static void w_above_max(msgpack_packer *pk) /* U+110000 */
{
    p_str(pk, "\xf4\x90\x80\x80");
}
static void w_truncated(msgpack_packer *pk)
{
    p_str(pk, "ok\xe2\x82");
}
static void w_nul(msgpack_packer *pk)
{
    msgpack_pack_str_with_body(pk, "a\0b", 3);
}
static void w_id_max(msgpack_packer *pk)
{
    char s[WIRE_MAX_ID];
    memset(s, 'i', sizeof s);
    msgpack_pack_str_with_body(pk, s, sizeof s);
}
static void w_id_over(msgpack_packer *pk)
{
    char s[WIRE_MAX_ID + 1];
    memset(s, 'i', sizeof s);
    msgpack_pack_str_with_body(pk, s, sizeof s);
}
static void w_name_max(msgpack_packer *pk)
{
    char s[WIRE_MAX_NAME];
    memset(s, 'n', sizeof s);
    msgpack_pack_str_with_body(pk, s, sizeof s);
}
static void w_name_over(msgpack_packer *pk)
{
    char s[WIRE_MAX_NAME + 1];
    memset(s, 'n', sizeof s);
    msgpack_pack_str_with_body(pk, s, sizeof s);
}
static void w_text_over(msgpack_packer *pk)
{
    char *s = calloc(1, WIRE_MAX_TEXT + 1);
    msgpack_pack_str_with_body(pk, s, WIRE_MAX_TEXT + 1);
    free(s);
}
static void w_bin(msgpack_packer *pk)
{
    msgpack_pack_bin_with_body(pk, "{}", 2);
}
static void w_neg1(msgpack_packer *pk)
{
    msgpack_pack_int(pk, -1);
}
static void w_neg2(msgpack_packer *pk)
{
    msgpack_pack_int(pk, -2);
}
static void w_u64max(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, UINT64_MAX);
}
static void w_i64min(msgpack_packer *pk)
{
    msgpack_pack_int64(pk, INT64_MIN);
}
static void w_u32over(msgpack_packer *pk)
{
    msgpack_pack_uint64(pk, (uint64_t)UINT32_MAX + 1);
}
static void w_u32max(msgpack_packer *pk)
{
    msgpack_pack_uint32(pk, UINT32_MAX);
}
static void w_fixed_width_7(msgpack_packer *pk)
{
    msgpack_pack_fix_uint64(pk, 7); /* 0xcf + 8 bytes: still 7 */
}
static void w_signed_7(msgpack_packer *pk)
{
    msgpack_pack_fix_int32(pk, 7); /* a signed encoding of a positive value */
}
static void w_99(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 99);
}
static void w_100(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 100);
}
static void w_599(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 599);
}
static void w_600(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 600);
}
static void w_true(msgpack_packer *pk)
{
    msgpack_pack_true(pk);
}
static void w_other_id(msgpack_packer *pk) /* another node's id in a state n1 signs */
{
    p_str(pk, tmesh_id("n9"));
}
static void w_other_from(msgpack_packer *pk) /* another node sends n1's signed state */
{
    p_str(pk, tmesh_id("n9"));
}
static void w_not_leaving(msgpack_packer *pk)
{
    msgpack_pack_false(pk);
}
static void w_pair3(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    for (int i = 0; i < 3; i++)
        msgpack_pack_uint8(pk, 1);
}
static void w_pair1(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint8(pk, 1);
}
static void w_pair_str(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    p_str(pk, "a");
    msgpack_pack_uint8(pk, 1);
}
static void w_pair_u32over(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint64(pk, (uint64_t)UINT32_MAX + 1);
}
static void w_stats_p50_m2(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_int(pk, -2);
}
static void w_stats_neg_ok(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, -1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_int(pk, 1);
}
static void s_model(msgpack_packer *pk, const char *name, int64_t cool, size_t fields)
{
    msgpack_pack_array(pk, fields);
    const char *strs[] = {name, "a", "chat"};
    for (size_t i = 0; i < 3 && i < fields; i++)
        p_str(pk, strs[i]);
    if (fields > 3)
        msgpack_pack_int64(pk, cool);
    if (fields > 4)
        p_str(pk, "");
}
static void w_model4(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    s_model(pk, "m", 0, 4);
}
static void w_model_cool_neg(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    s_model(pk, "m", -1, 5);
}
static void w_model_noname(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    s_model(pk, "", 0, 5);
}
static void w_model_notarr(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    p_str(pk, "m");
}
static void w_models_max(msgpack_packer *pk)
{
    msgpack_pack_array(pk, WIRE_MAX_MODELS);
    for (size_t i = 0; i < WIRE_MAX_MODELS; i++)
        s_model(pk, "m", 0, 5);
}
static void w_models_over(msgpack_packer *pk)
{
    msgpack_pack_array(pk, WIRE_MAX_MODELS + 1);
    for (size_t i = 0; i <= WIRE_MAX_MODELS; i++)
        s_model(pk, "m", 0, 5);
}
static void s_deltas(msgpack_packer *pk, size_t n, int kind)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_int(pk, kind);
        p_str(pk, "t");
    }
}
static void w_deltas_max(msgpack_packer *pk)
{
    s_deltas(pk, WIRE_MAX_DELTAS, 3);
}
static void w_deltas_over(msgpack_packer *pk)
{
    s_deltas(pk, WIRE_MAX_DELTAS + 1, 0);
}
static void w_delta_kind4(msgpack_packer *pk)
{
    s_deltas(pk, 1, 4);
}
static void w_delta_kind_neg(msgpack_packer *pk)
{
    s_deltas(pk, 1, -1);
}
static void w_delta_short(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint8(pk, 0);
}
static void w_delta_text_int(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_array(pk, 2);
    msgpack_pack_uint8(pk, 0);
    msgpack_pack_uint8(pk, 0);
}
static void s_peers(msgpack_packer *pk, size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, 2);
        p_str(pk, "id");
        p_str(pk, "p");
        p_str(pk, "ep");
        p_str(pk, "h:1");
    }
}
static void w_peers_max(msgpack_packer *pk)
{
    s_peers(pk, WIRE_MAX_PEERS);
}
static void w_peers_over(msgpack_packer *pk)
{
    s_peers(pk, WIRE_MAX_PEERS + 1);
}
static void w_peer_no_ep(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    p_str(pk, "id");
    p_str(pk, "p");
}
static void w_peer_notmap(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, 7);
}
static void s_versions(msgpack_packer *pk, size_t n)
{
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "n%zu", i);
        p_str(pk, id);
        msgpack_pack_uint64(pk, i);
    }
}
static void w_versions_max(msgpack_packer *pk)
{
    s_versions(pk, WIRE_MAX_PEERS);
}
static void w_versions_over(msgpack_packer *pk)
{
    s_versions(pk, WIRE_MAX_PEERS + 1);
}
static void w_versions_dup(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    p_str(pk, "n1");
    msgpack_pack_uint8(pk, 1);
    p_str(pk, "n1");
    msgpack_pack_uint8(pk, 2);
}
static void w_versions_badkey(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    p_str(pk, "a b");
    msgpack_pack_uint8(pk, 1);
}
static void w_versions_intkey(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, 1);
}
static void w_versions_neg(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    p_str(pk, "n1");
    msgpack_pack_int(pk, -1);
}
static void w_states_max(msgpack_packer *pk)
{
    msgpack_pack_array(pk, WIRE_MAX_PEERS);
    for (size_t i = 0; i < WIRE_MAX_PEERS; i++)
        s_pack_state(pk, NULL);
}
static void w_states_over(msgpack_packer *pk)
{
    msgpack_pack_array(pk, WIRE_MAX_PEERS + 1);
    for (size_t i = 0; i <= WIRE_MAX_PEERS; i++)
        s_pack_state(pk, NULL);
}
static void w_state_second_bad(msgpack_packer *pk)
{
    override_t ov = {true, "tabs", w_pair1};
    msgpack_pack_array(pk, 2);
    s_pack_state(pk, NULL);
    s_pack_state(pk, &ov);
}
static void w_nested_unknown(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    p_str(pk, "deeper");
    msgpack_pack_array(pk, 2);
    msgpack_pack_nil(pk);
    msgpack_pack_double(pk, 2.5);
}

typedef struct {
    const char *t;
    bool in_state;
    const char *key;
    writer_t write;
    wire_msg_rc_t rc;
    const char *reason; /* a part of the reason; NULL when OK */
} range_case_t;

static const range_case_t s_range_cases[] = {
    /* version and type */
    {"ping", false, "v", w_v1, WIRE_MSG_MALFORMED, "version 1"},
    {"ping", false, "v", w_fixed_width_7, WIRE_MSG_MALFORMED, "version 7"},
    {"ping", false, "t", w_pong, WIRE_MSG_MALFORMED, "unknown type"},
    {"ping", false, "t", w_empty, WIRE_MSG_MALFORMED, "unknown type"},
    /* ids */
    {"ping", false, "from", w_id_max, WIRE_MSG_OK, NULL},
    {"ping", false, "from", w_id_over, WIRE_MSG_MALFORMED, "\"from\" is too long"},
    {"ping", false, "from", w_empty, WIRE_MSG_MALFORMED, "\"from\" is empty"},
    {"ping", false, "from", w_space, WIRE_MSG_MALFORMED, "\"from\" holds a byte"},
    {"ping", false, "from", w_nul, WIRE_MSG_MALFORMED, "\"from\" holds a byte"},
    {"ping-req", false, "target", w_ctrl, WIRE_MSG_MALFORMED, "\"target\" holds a byte"},
    {"cancel", false, "rid", w_latin1, WIRE_MSG_MALFORMED, "\"rid\" holds a byte"},
    {"cancel", false, "rid", w_bin, WIRE_MSG_MALFORMED, "\"rid\" is not a string"},
    /* unsigned and signed integers */
    {"ping", false, "seq", w_u64max, WIRE_MSG_OK, NULL},
    {"ping", false, "seq", w_fixed_width_7, WIRE_MSG_OK, NULL},
    {"ping", false, "seq", w_signed_7, WIRE_MSG_OK, NULL},
    {"ping", false, "seq", w_neg1, WIRE_MSG_MALFORMED, "\"seq\" is not an unsigned"},
    {"leave", false, "inc", w_true, WIRE_MSG_MALFORMED, "\"inc\" is not an unsigned"},
    {"fwd", false, "attempt", w_u32max, WIRE_MSG_OK, NULL},
    {"fwd", false, "attempt", w_u32over, WIRE_MSG_MALFORMED, "\"attempt\" is over"},
    {"fwd", false, "deadline_ms", w_neg1, WIRE_MSG_MALFORMED, "\"deadline_ms\" is below 0"},
    {"fwd", false, "deadline_ms", w_u64max, WIRE_MSG_MALFORMED, "\"deadline_ms\" is over"},
    {"end", false, "pt", w_neg1, WIRE_MSG_OK, NULL},
    {"end", false, "pt", w_neg2, WIRE_MSG_MALFORMED, "\"pt\" is below -1"},
    {"end", false, "ct", w_i64min, WIRE_MSG_MALFORMED, "\"ct\" is below -1"},
    {"fail", false, "status", w_99, WIRE_MSG_MALFORMED, "\"status\" is below 100"},
    {"fail", false, "status", w_100, WIRE_MSG_OK, NULL},
    {"fail", false, "status", w_599, WIRE_MSG_OK, NULL},
    {"fail", false, "status", w_600, WIRE_MSG_MALFORMED, "\"status\" is over 599"},
    {"fail", false, "cool_ms", w_neg1, WIRE_MSG_MALFORMED, "\"cool_ms\" is below 0"},
    {"fail", false, "retry", w_int7, WIRE_MSG_MALFORMED, "\"retry\" is not a boolean"},
    /* names and texts */
    {"fwd", false, "model", w_name_max, WIRE_MSG_OK, NULL},
    {"fwd", false, "model", w_name_over, WIRE_MSG_MALFORMED, "\"model\" is too long"},
    {"fwd", false, "model", w_empty, WIRE_MSG_MALFORMED, "\"model\" is empty"},
    {"fwd", false, "model", w_ctrl, WIRE_MSG_MALFORMED, "\"model\" holds a control"},
    {"fwd", false, "model", w_del, WIRE_MSG_MALFORMED, "\"model\" holds a control"},
    {"fwd", false, "model", w_latin1, WIRE_MSG_MALFORMED, "\"model\" is not UTF-8"},
    {"fwd", false, "model", w_overlong, WIRE_MSG_MALFORMED, "\"model\" is not UTF-8"},
    {"fwd", false, "model", w_surrogate, WIRE_MSG_MALFORMED, "\"model\" is not UTF-8"},
    {"fwd", false, "model", w_above_max, WIRE_MSG_MALFORMED, "\"model\" is not UTF-8"},
    {"fwd", false, "model", w_truncated, WIRE_MSG_MALFORMED, "\"model\" is not UTF-8"},
    {"fwd", false, "model", w_c1, WIRE_MSG_OK, NULL},
    {"fwd", false, "req", w_nul, WIRE_MSG_OK, NULL},
    {"fwd", false, "req", w_latin1, WIRE_MSG_OK, NULL},
    {"fwd", false, "req", w_bin, WIRE_MSG_MALFORMED, "\"req\" is not a string"},
    {"fwd", false, "req", w_text_over, WIRE_MSG_MALFORMED, "\"req\" is too long"},
    {"reject", false, "reason", w_empty, WIRE_MSG_OK, NULL},
    {"reject", false, "reason", w_name_over, WIRE_MSG_MALFORMED, "\"reason\" is too long"},
    {"end", false, "finish", w_empty, WIRE_MSG_OK, NULL},
    {"fail", false, "msg", w_ctrl, WIRE_MSG_OK, NULL},
    {"fail", false, "msg", w_nul, WIRE_MSG_MALFORMED, "\"msg\" holds NUL"},
    {"fail", false, "msg", w_latin1, WIRE_MSG_MALFORMED, "\"msg\" is not UTF-8"},
    {"fail", false, "msg", w_text_over, WIRE_MSG_MALFORMED, "\"msg\" is too long"},
    {"fail", false, "code", w_empty, WIRE_MSG_OK, NULL},
    /* chunk deltas */
    {"chunk", false, "d", w_deltas_max, WIRE_MSG_OK, NULL},
    {"chunk", false, "d", w_arr0, WIRE_MSG_OK, NULL},
    {"chunk", false, "d", w_deltas_over, WIRE_MSG_MALFORMED, "\"d\" has more than 4096"},
    {"chunk", false, "d", w_delta_kind4, WIRE_MSG_MALFORMED, "\"d.kind\" is over 3"},
    {"chunk", false, "d", w_delta_kind_neg, WIRE_MSG_MALFORMED, "\"d.kind\" is not an unsigned"},
    {"chunk", false, "d", w_delta_short, WIRE_MSG_MALFORMED, "\"d\" entry is not [kind, text]"},
    {"chunk", false, "d", w_delta_text_int, WIRE_MSG_MALFORMED, "\"d.text\" is not a string"},
    /* hello peers and own state */
    {"hello", false, "peers", w_peers_max, WIRE_MSG_OK, NULL},
    {"hello", false, "peers", w_arr0, WIRE_MSG_OK, NULL},
    {"hello", false, "peers", w_peers_over, WIRE_MSG_MALFORMED, "\"peers\" has more than 1024"},
    {"hello", false, "peers", w_peer_no_ep, WIRE_MSG_MALFORMED, "peer: missing \"ep\""},
    {"hello", false, "peers", w_peer_notmap, WIRE_MSG_MALFORMED, "\"peers\" entry is not a map"},
    {"hello", true, "id", w_other_id, WIRE_MSG_FORGED, "is not the one its id is made from"},
    {"hello", false, "from", w_other_from, WIRE_MSG_MALFORMED, "\"state\" is not the sender's own"},
    {"leave", false, "from", w_other_from, WIRE_MSG_MALFORMED, "\"state\" is not the sender's own"},
    {"leave", true, "leaving", w_not_leaving, WIRE_MSG_MALFORMED, "does not say leaving"},
    {"push", true, "id", w_other_id, WIRE_MSG_FORGED, "is not the one its id is made from"},
    {"push", true, "ver", w_u64max, WIRE_MSG_OK, NULL}, /* signed: the mesh judges it */
    /* optional keys: a reject's own state, the chunk count of end and fail */
    {"reject", true, "id", w_other_id, WIRE_MSG_FORGED, "is not the one its id is made from"},
    {"reject", false, "from", w_other_from, WIRE_MSG_MALFORMED,
     "\"state\" is not the sender's own"},
    {"reject", true, "models", w_models_max, WIRE_MSG_OK, NULL},
    {"reject", true, "models", w_models_over, WIRE_MSG_MALFORMED, "\"models\" has more than 1024"},
    {"reject", false, "state", w_states_max, WIRE_MSG_MALFORMED, "\"state\" is not a map"},
    {"end", false, "chunks", w_u64max, WIRE_MSG_OK, NULL},
    {"end", false, "chunks", w_signed_7, WIRE_MSG_OK, NULL},
    {"end", false, "chunks", w_neg1, WIRE_MSG_MALFORMED, "\"chunks\" is not an unsigned"},
    {"fail", false, "chunks", w_true, WIRE_MSG_MALFORMED, "\"chunks\" is not an unsigned"},
    {"fail", false, "chunks", w_nil, WIRE_MSG_MALFORMED, "\"chunks\" is not an unsigned"},
    /* digest */
    {"digest", false, "versions", w_versions_max, WIRE_MSG_OK, NULL},
    {"digest", false, "versions", w_map0, WIRE_MSG_OK, NULL},
    {"digest", false, "versions", w_versions_over, WIRE_MSG_MALFORMED,
     "\"versions\" has more than 1024"},
    {"digest", false, "versions", w_versions_dup, WIRE_MSG_MALFORMED,
     "\"versions\" has a key twice"},
    {"digest", false, "versions", w_versions_badkey, WIRE_MSG_MALFORMED,
     "\"versions\" holds a byte"},
    {"digest", false, "versions", w_versions_intkey, WIRE_MSG_MALFORMED,
     "\"versions\" has a key that is not a string"},
    {"digest", false, "versions", w_versions_neg, WIRE_MSG_MALFORMED,
     "\"versions\" is not an unsigned"},
    /* states and their fields */
    {"delta", false, "states", w_states_max, WIRE_MSG_OK, NULL},
    {"delta", false, "states", w_arr0, WIRE_MSG_OK, NULL},
    {"delta", false, "states", w_states_over, WIRE_MSG_MALFORMED, "\"states\" has more than 1024"},
    {"push", false, "states", w_state_second_bad, WIRE_MSG_MALFORMED, "state: \"tabs\" does not"},
    {"push", true, "name", w_ctrl, WIRE_MSG_MALFORMED, "state: \"name\" holds a control"},
    {"push", true, "ep", w_empty, WIRE_MSG_MALFORMED, "state: \"ep\" is empty"},
    {"push", true, "name", w_empty, WIRE_MSG_OK, NULL},
    {"push", true, "http", w_empty, WIRE_MSG_OK, NULL},
    {"push", true, "http", w_name_over, WIRE_MSG_MALFORMED, "state: \"http\" is too long"},
    {"push", true, "inc", w_u64max, WIRE_MSG_OK, NULL},
    {"push", true, "start_ms", w_neg1, WIRE_MSG_MALFORMED, "state: \"start_ms\" is below 0"},
    {"push", true, "node_cool_ms", w_neg1, WIRE_MSG_MALFORMED, "\"node_cool_ms\" is below 0"},
    {"push", true, "tabs", w_pair3, WIRE_MSG_MALFORMED, "\"tabs\" does not hold 2"},
    {"push", true, "tabs", w_pair_str, WIRE_MSG_MALFORMED, "\"tabs\" is not an unsigned"},
    {"push", true, "load", w_pair_u32over, WIRE_MSG_MALFORMED, "\"load\" is over 4294967295"},
    {"push", true, "stats", w_stats_p50_m2, WIRE_MSG_MALFORMED, "\"stats\" is below -1"},
    {"push", true, "stats", w_stats_neg_ok, WIRE_MSG_MALFORMED, "\"stats\" is not an unsigned"},
    {"push", true, "models", w_arr0, WIRE_MSG_OK, NULL},
    {"push", true, "models", w_models_max, WIRE_MSG_OK, NULL},
    {"push", true, "models", w_models_over, WIRE_MSG_MALFORMED, "\"models\" has more than 1024"},
    {"push", true, "models", w_model4, WIRE_MSG_MALFORMED, "\"models\" entry is not"},
    {"push", true, "models", w_model_notarr, WIRE_MSG_MALFORMED, "\"models\" entry is not"},
    {"push", true, "models", w_model_cool_neg, WIRE_MSG_MALFORMED,
     "\"models.cooled_remaining_ms\" is below 0"},
    {"push", true, "models", w_model_noname, WIRE_MSG_MALFORMED, "\"models.name\" is empty"},
    /* unknown keys are ignored, at any level */
    {"fwd", false, "future", w_nested_unknown, WIRE_MSG_OK, NULL},
    {"push", true, "future", w_float, WIRE_MSG_OK, NULL},
    {"ack", false, "x", w_nil, WIRE_MSG_OK, NULL},
};

static void test_ranges_and_limits(void **state)
{
    for (size_t i = 0; i < sizeof s_range_cases / sizeof s_range_cases[0]; i++) {
        const range_case_t *c = &s_range_cases[i];
        override_t ov = {c->in_state, c->key, c->write};
        char label[96];
        snprintf(label, sizeof label, "case %zu (%s%s.%s)", i, c->t, c->in_state ? ".state" : "",
                 c->key);
        msgpack_sbuffer sb = s_raw(c->t, &ov);
        s_expect(&sb, c->rc, c->reason, label);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* ------------------------------------------------------------ signed states */

/*  The envelope of a state in a push from n1, part by part: "st" (the inner
    bytes; NULL leaves the key out), "pk" and "sig" (their lengths; 0 leaves
    the key out), "age". sign_inner: the signature is n1's over exactly
    inner; else over other bytes. */
typedef struct {
    const void *inner;
    size_t inner_len;
    size_t pk_len, sig_len;
    uint64_t age;
    bool sign_inner;
    bool st_as_str;     /* "st" as a string, not binary */
    const char *signer; /* whose key signs and is sent; NULL: n1 */
} env_t;

static msgpack_sbuffer s_push_env(const env_t *e)
{
    const char *signer = e->signer ? e->signer : "n1";
    uint8_t sig[IDENT_SIG_LEN], pub[IDENT_PK_LEN + 1] = {0};
    static const uint8_t other[] = {0x80};
    assert_int_equal(ident_sign_state(tmesh_key(signer), e->sign_inner ? e->inner : other,
                                      e->sign_inner ? e->inner_len : sizeof other, sig),
                     0);
    ident_sk_pk(tmesh_key(signer), pub);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    p_str(&pk, "v");
    msgpack_pack_uint8(&pk, WIRE_MSG_VERSION);
    p_str(&pk, "t");
    p_str(&pk, "push");
    p_str(&pk, "from");
    p_str(&pk, tmesh_id("n1"));
    p_str(&pk, "states");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, (e->inner ? 1 : 0) + (e->pk_len ? 1 : 0) + (e->sig_len ? 1 : 0) + 1);
    if (e->inner) {
        p_str(&pk, "st");
        if (e->st_as_str)
            msgpack_pack_str_with_body(&pk, e->inner, e->inner_len);
        else
            msgpack_pack_bin_with_body(&pk, e->inner, e->inner_len);
    }
    if (e->pk_len) {
        p_str(&pk, "pk");
        msgpack_pack_bin_with_body(&pk, pub, e->pk_len);
    }
    if (e->sig_len) {
        p_str(&pk, "sig");
        msgpack_pack_bin_with_body(&pk, sig, e->sig_len);
    }
    p_str(&pk, "age");
    msgpack_pack_uint64(&pk, e->age);
    return sb;
}

/*  Every part of the envelope is required and checked: a missing or
    malformed part is MALFORMED, a signature that does not verify or a key
    that is not the id's is FORGED; "st" is pre-scanned like a message
    (a hostile length inside it never reaches an allocator). */
static void test_signed_state(void **state)
{
    (void)state;
    msgpack_sbuffer in;
    msgpack_sbuffer_init(&in);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &in, msgpack_sbuffer_write);
    s_pack_fields(&ipk, s_state_fields, N_STATE_FIELDS, NULL, NULL, true);
    uint8_t *trailing = malloc(in.size + 1);
    assert_non_null(trailing);
    memcpy(trailing, in.data, in.size);
    trailing[in.size] = 0xc0;
    static const uint8_t huge[] = {0xdf, 0xff, 0xff, 0xff, 0xff}; /* map32 of 2^32-1 */
    static const uint8_t huge_str[] = {0x81, 0xa2, 'i', 'd', 0xdb, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t not_map[] = {0x92, 0x01, 0x02};
    const struct {
        const char *what;
        env_t e;
        wire_msg_rc_t rc;
        const char *reason;
    } cases[] = {
        {"valid",
         {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_OK,
         NULL},
        {"age at the bound",
         {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN, (uint64_t)WIRE_MAX_AGE_MS, true, false,
          NULL},
         WIRE_MSG_OK,
         NULL},
        {"age over the bound",
         {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN, (uint64_t)WIRE_MAX_AGE_MS + 1, true, false,
          NULL},
         WIRE_MSG_MALFORMED,
         "\"age\" is over"},
        {"no st",
         {NULL, 0, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "missing \"st\""},
        {"no pk",
         {in.data, in.size, 0, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "missing \"pk\""},
        {"no sig",
         {in.data, in.size, IDENT_PK_LEN, 0, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "missing \"sig\""},
        {"short pk",
         {in.data, in.size, IDENT_PK_LEN - 1, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "\"pk\" is not 32 bytes"},
        {"long pk",
         {in.data, in.size, IDENT_PK_LEN + 1, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "\"pk\" is not 32 bytes"},
        {"short sig",
         {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN - 1, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "\"sig\" is not 64 bytes"},
        {"st a string",
         {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, true, NULL},
         WIRE_MSG_MALFORMED,
         "\"st\" is not binary"},
        {"empty st",
         {"", 0, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "\"st\" is empty"},
        {"st with trailing bytes",
         {trailing, in.size + 1, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "trailing"},
        {"st not a map",
         {not_map, sizeof not_map, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "\"st\" is not a map"},
        {"st claims 2^32 entries",
         {huge, sizeof huge, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "exceed"},
        {"st claims a 4 GiB string",
         {huge_str, sizeof huge_str, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL},
         WIRE_MSG_MALFORMED,
         "exceeds"},
        {"signature over other bytes",
         {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN, 0, false, false, NULL},
         WIRE_MSG_FORGED,
         "does not verify"},
        {"signed by another key (n1's id)",
         {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, "n9"},
         WIRE_MSG_FORGED,
         "is not the one its id is made from"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer sb = s_push_env(&cases[i].e);
        s_expect(&sb, cases[i].rc, cases[i].reason, cases[i].what);
        msgpack_sbuffer_destroy(&sb);
    }
    /* a signature with one bit off, anywhere in "sig": forged */
    env_t ok = {in.data, in.size, IDENT_PK_LEN, IDENT_SIG_LEN, 0, true, false, NULL};
    msgpack_sbuffer sb = s_push_env(&ok);
    wire_msg_t m;
    assert_int_equal(s_decode_raw(sb.data, sb.size, &m, NULL, 0), WIRE_MSG_OK);
    const uint8_t *sig_at = memmem(sb.data, sb.size, m.states[0].sig, IDENT_SIG_LEN);
    assert_non_null(sig_at);
    size_t off = (size_t)(sig_at - (const uint8_t *)sb.data);
    wire_msg_clear(&m);
    for (size_t k = 0; k < IDENT_SIG_LEN; k += 9) {
        sb.data[off + k] ^= 0x10;
        assert_int_equal(s_decode_raw(sb.data, sb.size, &m, NULL, 0), WIRE_MSG_FORGED);
        sb.data[off + k] ^= 0x10;
    }
    msgpack_sbuffer_destroy(&sb);
    free(trailing);
    msgpack_sbuffer_destroy(&in);

    /* relayed as it is: a decoded state goes out with its owner's bytes,
       whatever its decoded fields say now */
    wire_msg_t p;
    s_build(&p, WIRE_PUSH, V_FULL);
    abuf_t b = ABUF_INIT;
    assert_int_equal(tmesh_encode(&p, &b), 0);
    wire_msg_t d;
    assert_int_equal(wire_msg_decode((const uint8_t *)b.data, b.len, &d, NULL, 0), WIRE_MSG_OK);
    d.states[0].tabs = 999; /* a relay's change to its copy */
    d.states[0].age_ms = 1234;
    abuf_t b2 = ABUF_INIT;
    assert_int_equal(wire_msg_encode(&d, &b2), 0);
    wire_msg_t d2;
    assert_int_equal(wire_msg_decode((const uint8_t *)b2.data, b2.len, &d2, NULL, 0), WIRE_MSG_OK);
    assert_int_equal(d2.states[0].tabs, p.states[0].tabs);
    assert_int_equal(d2.states[0].age_ms, 1234);
    /* an unsigned state is never sent */
    free(d.states[0].sealed);
    d.states[0].sealed = NULL;
    d.states[0].sealed_len = 0;
    assert_int_equal(wire_msg_encode(&d, &b2), -1);
    wire_msg_clear(&d2);
    wire_msg_clear(&d);
    wire_msg_clear(&p);
    abuf_free(&b2);
    abuf_free(&b);
}

/* ----------------------------------------------------------- hostile bytes */

typedef struct {
    uint8_t *p;
    size_t n;
} bytes_t;

static bytes_t s_bytes(const void *head, size_t head_n, uint8_t fill, size_t fill_n)
{
    bytes_t b = {malloc(head_n + fill_n + 1), head_n + fill_n};
    assert_non_null(b.p);
    memcpy(b.p, head, head_n);
    memset(b.p + head_n, fill, fill_n);
    return b;
}

/*  n maps nested in each other: {"k":{"k":…nil}}. */
static bytes_t s_nested(size_t n, bool arrays)
{
    bytes_t b = {malloc(3 * n + 1), 0};
    for (size_t i = 0; i < n; i++) {
        if (arrays) {
            b.p[b.n++] = 0x91;
        } else {
            b.p[b.n++] = 0x81;
            b.p[b.n++] = 0xa1;
            b.p[b.n++] = 'k';
        }
    }
    b.p[b.n++] = 0xc0;
    return b;
}

/*  {"x": [nil × n]} as array32: 3 + n objects. */
static bytes_t s_many(size_t n)
{
    const uint8_t head[] = {
        0x81,      0xa1, 'x', 0xdd, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
        (uint8_t)n};
    return s_bytes(head, sizeof head, 0xc0, n);
}

static bytes_t s_valid_ping(size_t trailing)
{
    wire_msg_t m;
    s_build(&m, WIRE_PING, V_FULL);
    abuf_t a = ABUF_INIT;
    assert_int_equal(tmesh_encode(&m, &a), 0);
    wire_msg_clear(&m);
    bytes_t b = s_bytes(a.data, a.len, 0xc0, trailing);
    abuf_free(&a);
    return b;
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_hostile_headers(void **state)
{
    static const uint8_t str32[] = {0x81, 0xa1, 'v', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b'};
    static const uint8_t str32_top[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c'};
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t map32[] = {0x81, 0xa1, 'x', 0xdf, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t map16[] = {0xde, 0x00, 0x06, 0xc0, 0xc0, 0xc0, 0xc0,
                                    0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    static const uint8_t bin32[] = {0x81, 0xa1, 'x', 0xc6, 0x80, 0x00, 0x00, 0x00, 0};
    static const uint8_t ext32[] = {0x81, 0xa1, 'x', 0xc9, 0xff, 0xff, 0xff, 0xf0, 1, 0};
    static const uint8_t fixext[] = {0x81, 0xa1, 'x', 0xd8, 1, 2, 3};
    static const uint8_t str8[] = {0x81, 0xa1, 'x', 0xd9, 200, 'a'};
    static const uint8_t fixstr[] = {0x81, 0xa1, 'x', 0xbf, 'a'};
    static const uint8_t cut[] = {0x81, 0xa1, 'x', 0xdb, 0xff};
    static const uint8_t c1[] = {0x81, 0xa1, 'x', 0xc1};
    static const uint8_t u64cut[] = {0x81, 0xa1, 'x', 0xcf, 1, 2};
    static const uint8_t two[] = {0xc0, 0xc0};
    static const uint8_t list[] = {0x92, 0x01, 0x02};
    struct {
        const char *what;
        bytes_t b;
        wire_msg_rc_t rc;
        const char *reason;
    } cases[] = {
        {"str32 claiming 4 GiB", s_bytes(str32, sizeof str32, 0, 0), WIRE_MSG_MALFORMED,
         "length 4294967295 exceeds the 2 bytes left"},
        {"top-level str32 claiming 4 GiB", s_bytes(str32_top, sizeof str32_top, 0, 0),
         WIRE_MSG_MALFORMED, "exceeds"},
        {"array32 of 2^32-1 with 10 bytes", s_bytes(arr32, sizeof arr32, 0xc0, 10),
         WIRE_MSG_MALFORMED, "4294967295 elements exceed the 10 bytes left"},
        {"map32 of 2^32-1 entries", s_bytes(map32, sizeof map32, 0xc0, 64), WIRE_MSG_MALFORMED,
         "8589934590 elements exceed"},
        {"map16 of 6 entries with 11 bytes", s_bytes(map16, sizeof map16, 0, 0), WIRE_MSG_MALFORMED,
         "12 elements exceed the 11 bytes left"},
        {"bin32 claiming 2 GiB", s_bytes(bin32, sizeof bin32, 0, 0), WIRE_MSG_MALFORMED, "exceeds"},
        {"ext32 claiming 4 GiB", s_bytes(ext32, sizeof ext32, 0, 0), WIRE_MSG_MALFORMED, "exceeds"},
        {"fixext16 cut short", s_bytes(fixext, sizeof fixext, 0, 0), WIRE_MSG_MALFORMED, "exceeds"},
        {"str8 cut short", s_bytes(str8, sizeof str8, 0, 0), WIRE_MSG_MALFORMED, "exceeds"},
        {"fixstr cut short", s_bytes(fixstr, sizeof fixstr, 0, 0), WIRE_MSG_MALFORMED, "exceeds"},
        {"str32 header cut", s_bytes(cut, sizeof cut, 0, 0), WIRE_MSG_MALFORMED, "cut short"},
        {"uint64 cut", s_bytes(u64cut, sizeof u64cut, 0, 0), WIRE_MSG_MALFORMED, "exceeds"},
        {"reserved 0xc1", s_bytes(c1, sizeof c1, 0, 0), WIRE_MSG_MALFORMED, "reserved"},
        {"map nested 1000 deep", s_nested(1000, false), WIRE_MSG_MALFORMED,
         "nested deeper than 16"},
        {"array nested 17 deep", s_nested(17, true), WIRE_MSG_MALFORMED, "nested deeper than 16"},
        {"array nested 16 deep passes the scan", s_nested(16, true), WIRE_MSG_MALFORMED,
         "the message is not a map"},
        {"200001 objects", s_many(WIRE_MSG_MAX_ELEMENTS - 2), WIRE_MSG_MALFORMED,
         "more than 200000 objects"},
        {"200000 objects pass the scan", s_many(WIRE_MSG_MAX_ELEMENTS - 3), WIRE_MSG_MALFORMED,
         "missing \"v\""},
        {"two top-level objects", s_bytes(two, sizeof two, 0, 0), WIRE_MSG_MALFORMED,
         "1 trailing bytes"},
        {"a valid ping then garbage", s_valid_ping(3), WIRE_MSG_MALFORMED, "3 trailing bytes"},
        {"a valid ping", s_valid_ping(0), WIRE_MSG_OK, NULL},
        {"not a map", s_bytes(list, sizeof list, 0, 0), WIRE_MSG_MALFORMED,
         "the message is not a map"},
        {"empty", s_bytes("", 0, 0, 0), WIRE_MSG_MALFORMED, "empty"},
        {"one byte over WIRE_MSG_MAX", s_bytes("", 0, 0xc0, WIRE_MSG_MAX + 1), WIRE_MSG_TOOBIG,
         "over the 1048576-byte limit"},
        {"4 GiB claimed past WIRE_MSG_MAX", s_bytes(str32_top, sizeof str32_top, 0, WIRE_MSG_MAX),
         WIRE_MSG_TOOBIG, "limit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wire_msg_t m;
        char err[256] = "";
        double t0 = s_now();
        wire_msg_rc_t rc = wire_msg_decode(cases[i].b.p, cases[i].b.n, &m, err, sizeof err);
        double dt = s_now() - t0;
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d want %d (%s)", cases[i].what, rc, cases[i].rc, err);
        if (cases[i].reason && !strstr(err, cases[i].reason))
            fail_msg("%s: reason \"%s\" lacks \"%s\"", cases[i].what, err, cases[i].reason);
        /* refused by the walk over headers: no allocation sized by the input
           (the ASan build enforces that: max_allocation_size_mb above); the
           time is only a hang guard, generous for a loaded machine */
        if (dt > 5.0)
            fail_msg("%s: took %.3f s", cases[i].what, dt);
        wire_msg_clear(&m);
        free(cases[i].b.p);
    }
    /* a one-key map whose key is a duplicate, and one whose key is an int */
    static const uint8_t dup[] = {0x82, 0xa1, 'v', 0x01, 0xa1, 'v', 0x01};
    static const uint8_t intkey[] = {0x81, 0x01, 0x01};
    msgpack_sbuffer sb = {.size = sizeof dup, .data = (char *)dup};
    s_expect(&sb, WIRE_MSG_MALFORMED, "the message has a key twice", "dup");
    sb = (msgpack_sbuffer){.size = sizeof intkey, .data = (char *)intkey};
    s_expect(&sb, WIRE_MSG_MALFORMED, "key that is not a string", "intkey");
}

/*  A top map with more than WIRE_MSG_MAX_KEYS entries is refused (each key
    lookup is linear); exactly that many, unknown ones included, is fine. */
static void test_key_count(void **state)
{
    for (int extra = 0; extra < 2; extra++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        size_t n = WIRE_MSG_MAX_KEYS + (size_t)extra;
        msgpack_pack_map(&pk, n);
        p_str(&pk, "v");
        msgpack_pack_uint8(&pk, WIRE_MSG_VERSION);
        p_str(&pk, "t");
        p_str(&pk, "cancel");
        p_str(&pk, "from");
        p_str(&pk, "n1");
        p_str(&pk, "rid");
        p_str(&pk, "r1");
        for (size_t i = 4; i < n; i++) {
            char k[32];
            snprintf(k, sizeof k, "k%zu", i);
            p_str(&pk, k);
            msgpack_pack_nil(&pk);
        }
        s_expect(&sb, extra ? WIRE_MSG_MALFORMED : WIRE_MSG_OK, "more than 64 entries", "keys");
        msgpack_sbuffer_destroy(&sb);
    }
}

/*  Every proper prefix of every sample is MALFORMED, read with ASan watching
    the exact end of the buffer. */
static void test_truncated_everywhere(void **state)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        wire_msg_t m;
        s_build(&m, s_all_types[i], V_FULL);
        abuf_t b = ABUF_INIT;
        assert_int_equal(tmesh_encode(&m, &b), 0);
        wire_msg_clear(&m);
        for (size_t n = 0; n < b.len; n++) {
            char err[256] = "";
            wire_msg_rc_t rc = s_decode_raw(b.data, n, &m, err, sizeof err);
            if (rc != WIRE_MSG_MALFORMED)
                fail_msg("%s cut at %zu of %zu: rc %d", wire_type_name(s_all_types[i]), n, b.len,
                         rc);
            assert_true(err[0] != '\0');
        }
        assert_int_equal(s_decode_raw(b.data, b.len, &m, NULL, 0), WIRE_MSG_OK);
        wire_msg_clear(&m);
        abuf_free(&b);
    }
}

/*  A failure deep inside a list frees what was decoded so far (LeakSanitizer
    checks it under ASan) and leaves out zeroed; a tiny err buffer is fine. */
static void test_failure_cleans_up(void **state)
{
    override_t ov = {false, "states", w_state_second_bad};
    msgpack_sbuffer sb = s_raw("push", &ov);
    wire_msg_t m;
    char tiny[4];
    assert_int_equal(s_decode_raw(sb.data, sb.size, &m, tiny, sizeof tiny), WIRE_MSG_MALFORMED);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(s_decode_raw(sb.data, sb.size, &m, NULL, 0), WIRE_MSG_MALFORMED);
    static const wire_msg_t zero;
    assert_memory_equal(&m, &zero, sizeof m);
    msgpack_sbuffer_destroy(&sb);
    wire_msg_clear(NULL);
    wire_state_clear(NULL);
}

/* --------------------------------------------------------- names and copy */

static void test_type_names(void **state)
{
    static const char *const names[] = {"hello", "digest",   "delta", "push",   "ping",
                                        "ack",   "ping-req", "leave", "fwd",    "reject",
                                        "chunk", "end",      "fail",  "cancel", "credit"};
    for (size_t i = 0; i < N_TYPES; i++)
        assert_string_equal(wire_type_name(s_all_types[i]), names[i]);
    assert_string_equal(wire_type_name(0), "unknown");
    assert_string_equal(wire_type_name(WIRE_TSUM), "tsum"); /* test_wire_records */
    assert_string_equal(wire_type_name(WIRE_RECORDS), "records");
    assert_string_equal(wire_type_name((wire_type_t)(WIRE_RECORDS + 1)), "unknown");
    assert_string_equal(wire_type_name((wire_type_t)-1), "unknown");
}

static void test_state_copy(void **state)
{
    for (variant_t v = V_FULL; v <= V_MAX; v++) {
        wire_state_t a, b;
        s_state(&a, "node-a", v, v == V_EMPTY ? 0 : 5);
        assert_int_equal(wire_state_copy(&b, &a), 0);
        assert_true(mesh_state_equal(&a, &b));
        assert_true(a.id != b.id && a.name != b.name);
        if (a.n_models)
            assert_true(a.models != b.models && a.models[0].name != b.models[0].name);
        wire_state_clear(&a);
        assert_null(a.id);
        assert_int_equal(a.n_models, 0);
        /* the copy lives on (ASan would see a use after free) */
        assert_true(strlen(b.id) + strlen(b.http) > 0);
        for (size_t i = 0; i < b.n_models; i++)
            assert_true(strlen(b.models[i].name) > 0);
        wire_state_clear(&b);
    }
}

/* ----------------------------------------------------------- seed corpus */

static void s_write_seed(const char *dir, const char *name, const abuf_t *b)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    assert_int_equal(fclose(f), 0);
}

/*  Run with ARENA_WRITE_CORPUS=tests/fuzz/corpus/wire, this program only
    writes the fuzzer's seeds: one full and one empty sample of every type
    (the max samples are too big to be useful seeds). */
/*  The optional fields of 2026: a state without them (an older node's) is
    still read; bad accounts are refused. */
static void test_accounts_optional(void **state)
{
    (void)state;
    wire_msg_t m;
    s_build(&m, WIRE_PUSH, V_FULL);
    assert_true(m.states[0].n_accounts == 2 && m.states[0].paced_remaining_ms == 41000);
    abuf_t b = s_roundtrip(&m);
    wire_msg_t d;
    assert_int_equal(wire_msg_decode((const uint8_t *)b.data, b.len, &d, NULL, 0), WIRE_MSG_OK);
    assert_int_equal(d.states[0].n_accounts, 2);
    assert_int_equal(d.states[0].accounts[0].starts_ago_ms[2], 125000);
    assert_string_equal(d.states[0].models[0].display_name, "Model 0 (display)");
    assert_null(d.states[0].models[1].display_name);
    wire_msg_clear(&d);
    abuf_free(&b);
    /* without them: absent on the wire, zero after decoding */
    for (size_t i = 0; i < m.n_states; i++) {
        wire_state_t *st = &m.states[i];
        for (size_t k = 0; k < st->n_accounts; k++) {
            free(st->accounts[k].id);
            free(st->accounts[k].starts_ago_ms);
        }
        free(st->accounts);
        st->accounts = NULL;
        st->n_accounts = 0;
        st->paced_remaining_ms = 0;
    }
    b = s_roundtrip(&m);
    assert_int_equal(wire_msg_decode((const uint8_t *)b.data, b.len, &d, NULL, 0), WIRE_MSG_OK);
    assert_int_equal(d.states[0].n_accounts, 0);
    assert_null(d.states[0].accounts);
    wire_msg_clear(&d);
    abuf_free(&b);
    /* negative ages, a negative flag, an empty id, an age past the bound
       (it would overflow once aged): refused */
    static const int64_t bad[][2] = {{-1, 0}, {0, -1}, {0, 0}, {WIRE_MAX_START_AGO_MS + 1, 0}};
    for (size_t k = 0; k < 4; k++) {
        wire_state_t *st = &m.states[0];
        st->n_accounts = 1;
        st->accounts = calloc(1, sizeof *st->accounts);
        st->accounts[0].id = s_dup(k == 2 ? "" : "0123456789abcdef0123456789abcdef");
        st->accounts[0].n_starts = 1;
        st->accounts[0].starts_ago_ms = calloc(1, sizeof(int64_t));
        st->accounts[0].starts_ago_ms[0] = bad[k][0];
        st->accounts[0].flag_remaining_ms = bad[k][1];
        abuf_t out = ABUF_INIT;
        assert_int_equal(tmesh_encode(&m, &out), -1); /* the encoder refuses them too */
        abuf_free(&out);
        free(st->accounts[0].id);
        free(st->accounts[0].starts_ago_ms);
        free(st->accounts);
        st->accounts = NULL;
        st->n_accounts = 0;
    }
    /* the decoder too: the bound itself passes, one more ms is malformed
       (2592000000 ms goes out as uint32 ce 9a 7e c8 00; patched to ...01) */
    wire_state_t *st = &m.states[0];
    st->n_accounts = 1;
    st->accounts = calloc(1, sizeof *st->accounts);
    st->accounts[0].id = s_dup("0123456789abcdef0123456789abcdef");
    st->accounts[0].n_starts = 1;
    st->accounts[0].starts_ago_ms = calloc(1, sizeof(int64_t));
    st->accounts[0].starts_ago_ms[0] = WIRE_MAX_START_AGO_MS;
    abuf_t out = ABUF_INIT;
    assert_int_equal(tmesh_encode(&m, &out), 0);
    assert_int_equal(wire_msg_decode((const uint8_t *)out.data, out.len, &d, NULL, 0), WIRE_MSG_OK);
    wire_msg_clear(&d);
    static const uint8_t at_bound[] = {0xce, 0x9a, 0x7e, 0xc8, 0x00};
    uint8_t *hit = memmem(out.data, out.len, at_bound, sizeof at_bound);
    assert_non_null(hit);
    hit[4] = 0x01;
    char err[256] = "";
    assert_int_equal(wire_msg_decode((const uint8_t *)out.data, out.len, &d, err, sizeof err),
                     WIRE_MSG_MALFORMED);
    assert_non_null(strstr(err, "older than"));
    abuf_free(&out);
    wire_msg_clear(&m);
}

/*  A state's key counts (node/limits): optional, and bounded — the
    entries, the name, every count and every reset, at the bound and one
    past it, in the encoder and the decoder. */
static void s_drop_counts(wire_state_t *st)
{
    for (size_t k = 0; k < st->n_key_counts; k++)
        free(st->key_counts[k].name);
    free(st->key_counts);
    st->key_counts = NULL;
    st->n_key_counts = 0;
}

static void test_key_counts(void **state)
{
    (void)state;
    wire_msg_t m;
    s_build(&m, WIRE_PUSH, V_FULL);
    abuf_t b = s_roundtrip(&m);
    wire_msg_t d;
    assert_int_equal(wire_msg_decode((const uint8_t *)b.data, b.len, &d, NULL, 0), WIRE_MSG_OK);
    assert_int_equal(d.states[0].n_key_counts, 2);
    assert_string_equal(d.states[0].key_counts[0].name, "alice");
    assert_int_equal(d.states[0].key_counts[0].minute, 59);
    assert_int_equal(d.states[0].key_counts[0].tokens, 12345);
    assert_int_equal(d.states[0].key_counts[0].reset_ms[3], 86400000);
    wire_state_t copy;
    assert_int_equal(wire_state_copy(&copy, &d.states[0]), 0);
    assert_true(mesh_state_equal(&copy, &d.states[0]));
    wire_state_clear(&copy);
    wire_msg_clear(&d);
    abuf_free(&b);
    /* absent: an older node's state */
    for (size_t i = 0; i < m.n_states; i++)
        s_drop_counts(&m.states[i]);
    b = s_roundtrip(&m);
    assert_int_equal(wire_msg_decode((const uint8_t *)b.data, b.len, &d, NULL, 0), WIRE_MSG_OK);
    assert_int_equal(d.states[0].n_key_counts, 0);
    assert_null(d.states[0].key_counts);
    wire_msg_clear(&d);
    abuf_free(&b);
    /* each bound: the value at it encodes and decodes, one past it is
       refused by the encoder; the decoder refuses it too (patched bytes) */
    wire_state_t *st = &m.states[0];
    for (int field = 0; field < 7; field++) {
        st->n_key_counts = 1;
        st->key_counts = calloc(1, sizeof *st->key_counts);
        wire_key_count_t *kc = &st->key_counts[0];
        kc->name = s_dup("k");
        int64_t *f[] = {&kc->minute,   &kc->hour,        &kc->day,        &kc->tokens,
                        &kc->inflight, &kc->reset_ms[0], &kc->reset_ms[3]};
        int64_t max = field == 3   ? WIRE_MAX_KEY_TOKENS
                      : field >= 5 ? WIRE_MAX_KEY_RESET_MS
                                   : WIRE_MAX_KEY_COUNT;
        *f[field] = max;
        abuf_t out = ABUF_INIT;
        assert_int_equal(tmesh_encode(&m, &out), 0);
        assert_int_equal(wire_msg_decode((const uint8_t *)out.data, out.len, &d, NULL, 0),
                         WIRE_MSG_OK);
        wire_msg_clear(&d);
        /* the big-endian bytes of max, patched to max + 1 */
        uint8_t be[8];
        for (int i = 0; i < 8; i++)
            be[i] = (uint8_t)((uint64_t)max >> (56 - 8 * i));
        size_t skip = 0;
        while (skip < 4 && be[skip] == 0)
            skip++;
        uint8_t *hit = memmem(out.data, out.len, be + skip, 8 - skip);
        assert_non_null(hit);
        assert_true(hit[7 - skip] < 0xff);
        hit[7 - skip]++;
        char err[256] = "";
        assert_int_equal(wire_msg_decode((const uint8_t *)out.data, out.len, &d, err, sizeof err),
                         WIRE_MSG_MALFORMED);
        assert_non_null(strstr(err, "key_counts"));
        abuf_free(&out);
        *f[field] = max + 1;
        assert_int_equal(tmesh_encode(&m, &out), -1);
        abuf_free(&out);
        *f[field] = -1;
        assert_int_equal(tmesh_encode(&m, &out), -1);
        abuf_free(&out);
        s_drop_counts(st);
    }
    /* a name: empty or over WIRE_MAX_KEY_NAME is refused */
    st->n_key_counts = 1;
    st->key_counts = calloc(1, sizeof *st->key_counts);
    st->key_counts[0].name = s_dup("");
    abuf_t out = ABUF_INIT;
    assert_int_equal(tmesh_encode(&m, &out), -1);
    abuf_free(&out);
    free(st->key_counts[0].name);
    st->key_counts[0].name = calloc(1, WIRE_MAX_KEY_NAME + 2);
    memset(st->key_counts[0].name, 'k', WIRE_MAX_KEY_NAME + 1);
    assert_int_equal(tmesh_encode(&m, &out), -1);
    abuf_free(&out);
    s_drop_counts(st);
    /* entries: WIRE_MAX_KEY_COUNTS pass, one more is refused */
    st->n_key_counts = WIRE_MAX_KEY_COUNTS + 1;
    st->key_counts = calloc(st->n_key_counts, sizeof *st->key_counts);
    for (size_t i = 0; i < st->n_key_counts; i++)
        st->key_counts[i].name = s_fmt("key-%zu", i);
    assert_int_equal(tmesh_encode(&m, &out), -1);
    abuf_free(&out);
    st->n_key_counts = WIRE_MAX_KEY_COUNTS;
    assert_int_equal(tmesh_encode(&m, &out), 0);
    assert_int_equal(wire_msg_decode((const uint8_t *)out.data, out.len, &d, NULL, 0), WIRE_MSG_OK);
    assert_int_equal(d.states[0].n_key_counts, WIRE_MAX_KEY_COUNTS);
    wire_msg_clear(&d);
    abuf_free(&out);
    st->n_key_counts = WIRE_MAX_KEY_COUNTS + 1;
    wire_msg_clear(&m);
}

static void test_write_corpus(void **state)
{
    const char *dir = getenv("ARENA_WRITE_CORPUS");
    static const variant_t variants[] = {V_FULL, V_EMPTY};
    for (size_t v = 0; v < 2; v++)
        for (size_t i = 0; i < N_TYPES; i++) {
            wire_msg_t m;
            s_build(&m, s_all_types[i], variants[v]);
            abuf_t b = ABUF_INIT;
            assert_int_equal(tmesh_encode(&m, &b), 0);
            char name[64];
            snprintf(name, sizeof name, "%s%s.mp", wire_type_name(m.type), v ? "-empty" : "");
            s_write_seed(dir, name, &b);
            abuf_free(&b);
            wire_msg_clear(&m);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_roundtrip_blobs),
        cmocka_unit_test(test_comparator_is_strict),
        cmocka_unit_test(test_encoder_refuses),
        cmocka_unit_test(test_every_field_missing_or_wrong),
        cmocka_unit_test(test_ranges_and_limits),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_key_count),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_failure_cleans_up),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_state_copy),
        cmocka_unit_test(test_accounts_optional),
        cmocka_unit_test(test_key_counts),
        cmocka_unit_test(test_signed_state),
    };
    const struct CMUnitTest corpus[] = {
        cmocka_unit_test(test_write_corpus),
    };
    const char *dir = getenv("ARENA_WRITE_CORPUS");
    if (dir && *dir)
        return cmocka_run_group_tests(corpus, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
