/*  test_wire_records — the replicated-record messages of the mesh codec
    (protocol/wire.h: tsum, records, wire_record_*; docs/mesh-protocol.md,
    "Replicated records").

    Round trips (a root-only summary, one with buckets and want, records at
    their limits, tombstones, empty payloads); the encoder refusing what
    the decoder refuses; the decoder refusing, from hand-made msgpack, every
    bound (table name, record key, payload, records per message, bucket
    count and shape, version 0) and every forgery (a flipped signature, a
    key that is not the writer's, a state's signature passed off as a
    record's); the kept form (pack/unpack); every truncation. With
    ARENA_WRITE_CORPUS=DIR set, writes the fuzzer's seeds for these types
    instead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "protocol/ident.h"
#include "protocol/wire.h"
#include "tests/support/test_mesh_env.h"
#include "tests/support/wire_msg_equal.h"

static void s_record(wire_record_t *r, const char *writer, const char *table, const char *key,
                     uint64_t version, const uint8_t *payload, size_t len, bool tomb)
{
    memset(r, 0, sizeof *r);
    r->table = strdup(table);
    r->key = strdup(key);
    r->node = strdup(tmesh_id(writer));
    r->version_ms = version;
    r->tomb = tomb;
    r->payload = malloc(len ? len : 1);
    assert_non_null(r->payload);
    if (len)
        memcpy(r->payload, payload, len);
    r->payload_len = len;
    assert_int_equal(wire_record_seal(r, tmesh_key(writer)), 0);
}

static void s_roundtrip(const wire_msg_t *m)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(wire_msg_encode(m, &b), 0);
    wire_msg_t d;
    char err[256];
    assert_int_equal(wire_msg_decode((const uint8_t *)b.data, b.len, &d, err, sizeof err),
                     WIRE_MSG_OK);
    assert_true(wire_msg_equal(m, &d));
    /* every cut is refused, never a crash */
    for (size_t cut = 0; cut<b.len; cut += b.len> 4096 ? 97 : 1) {
        wire_msg_t t;
        assert_int_not_equal(wire_msg_decode((const uint8_t *)b.data, cut, &t, NULL, 0),
                             WIRE_MSG_OK);
    }
    wire_msg_clear(&d);
    abuf_free(&b);
}

static void test_tsum_roundtrip(void **state)
{
    (void)state;
    wire_msg_t m = {.type = WIRE_TSUM, .from = "node-x", .table = "keys", .root = 0};
    s_roundtrip(&m);
    m.root = UINT64_MAX;
    uint64_t b[WIRE_MAX_BUCKETS];
    for (size_t i = 0; i < WIRE_MAX_BUCKETS; i++)
        b[i] = i * 0x9e3779b97f4a7c15ULL;
    m.buckets = b;
    for (uint32_t n = 1; n <= WIRE_MAX_BUCKETS; n *= 2) {
        m.n_buckets = n;
        m.want = n % 2 == 0;
        s_roundtrip(&m);
    }
    char table[WIRE_MAX_TABLE + 1];
    memset(table, 't', WIRE_MAX_TABLE);
    table[WIRE_MAX_TABLE] = '\0';
    m.table = table;
    s_roundtrip(&m);
}

static void test_tsum_encoder_refuses(void **state)
{
    (void)state;
    abuf_t b = ABUF_INIT;
    uint64_t bk[2 * WIRE_MAX_BUCKETS] = {0};
    wire_msg_t m = {.type = WIRE_TSUM, .from = "node-x", .table = "keys", .buckets = bk};
    m.n_buckets = 3; /* not a power of two */
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    m.n_buckets = 2 * WIRE_MAX_BUCKETS;
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    m.n_buckets = 4;
    m.buckets = NULL;
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    m.n_buckets = 0;
    char table[WIRE_MAX_TABLE + 2];
    memset(table, 't', WIRE_MAX_TABLE + 1);
    table[WIRE_MAX_TABLE + 1] = '\0';
    m.table = table;
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    m.table = NULL;
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    m.table = "has space";
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    assert_int_equal(b.len, 0);
    abuf_free(&b);
}

static void test_records_roundtrip(void **state)
{
    (void)state;
    static wire_record_t recs[WIRE_MAX_RECORDS];
    uint8_t payload[WIRE_MAX_PAYLOAD];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 31);
    char key[WIRE_MAX_RKEY + 1];
    memset(key, 'k', WIRE_MAX_RKEY);
    key[WIRE_MAX_RKEY] = '\0';
    s_record(&recs[0], "writer-1", "keys", key, UINT64_MAX >> 1, payload, sizeof payload, false);
    s_record(&recs[1], "writer-2", "tiers", "gold", 1, NULL, 0, true);
    s_record(&recs[2], "writer-3", "usage", "nöde/kéy/mödel/2026-12-07T03", 1765000000000ULL,
             (const uint8_t *)"{}", 2, false);
    wire_msg_t m = {.type = WIRE_RECORDS, .from = "node-x", .records = recs, .n_records = 3};
    s_roundtrip(&m);
    m.n_records = 0;
    s_roundtrip(&m);
    for (size_t i = 3; i < WIRE_MAX_RECORDS; i++) {
        char k[16];
        snprintf(k, sizeof k, "r%zu", i);
        s_record(&recs[i], "writer-1", "keys", k, 1000 + i, payload, 64, i % 3 == 0);
    }
    m.n_records = WIRE_MAX_RECORDS;
    s_roundtrip(&m);
    /* the kept form gives back the same record */
    for (size_t i = 0; i < 3; i++) {
        abuf_t env = ABUF_INIT;
        wire_record_t back, copy;
        char err[200];
        assert_int_equal(wire_record_pack(&recs[i], &env), 0);
        assert_int_equal(
            wire_record_unpack((const uint8_t *)env.data, env.len, &back, err, sizeof err),
            WIRE_MSG_OK);
        assert_true(wire_record_equal(&recs[i], &back));
        assert_int_equal(wire_record_copy(&copy, &back), 0);
        assert_true(wire_record_equal(&copy, &back));
        wire_record_clear(&copy);
        for (size_t cut = 0; cut < env.len; cut += 13)
            assert_int_not_equal(wire_record_unpack((const uint8_t *)env.data, cut, &copy, NULL, 0),
                                 WIRE_MSG_OK);
        wire_record_clear(&back);
        abuf_free(&env);
    }
    for (size_t i = 0; i < WIRE_MAX_RECORDS; i++)
        wire_record_clear(&recs[i]);
}

static void test_records_encoder_refuses(void **state)
{
    (void)state;
    abuf_t b = ABUF_INIT;
    wire_record_t r;
    uint8_t big[WIRE_MAX_PAYLOAD + 1] = {0};
    /* the sealer refuses what the decoder would */
    memset(&r, 0, sizeof r);
    r.table = "keys", r.key = "k", r.node = (char *)tmesh_id("w"), r.version_ms = 1;
    r.payload = big, r.payload_len = sizeof big;
    assert_int_equal(wire_record_seal(&r, tmesh_key("w")), -1);
    r.payload_len = 1;
    r.version_ms = 0;
    assert_int_equal(wire_record_seal(&r, tmesh_key("w")), -1);
    r.version_ms = 1;
    r.key = "";
    assert_int_equal(wire_record_seal(&r, tmesh_key("w")), -1);
    r.key = "line\nbreak";
    assert_int_equal(wire_record_seal(&r, tmesh_key("w")), -1);
    r.key = "k";
    r.table = "a-table-name-longer-than-32-bytes!";
    assert_int_equal(wire_record_seal(&r, tmesh_key("w")), -1);
    assert_null(r.sealed);
    /* an unsealed record is not sent, nor more than WIRE_MAX_RECORDS */
    r.table = "keys";
    wire_msg_t m = {.type = WIRE_RECORDS, .from = "node-x", .records = &r, .n_records = 1};
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    m.n_records = WIRE_MAX_RECORDS + 1;
    assert_int_equal(wire_msg_encode(&m, &b), -1);
    assert_int_equal(wire_record_pack(&r, &b), -1);
    assert_int_equal(b.len, 0);
    abuf_free(&b);
}

/* ---- hand-made msgpack ------------------------------------------------- */

static int s_write(void *data, const char *buf, size_t len)
{
    return abuf_append(data, buf, len);
}

static void s_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void s_bin(msgpack_packer *pk, const void *b, size_t n)
{
    msgpack_pack_bin_with_body(pk, b, n);
}

typedef struct {
    const char *table, *key;
    uint64_t ver;
    const char *writer; /* whose id goes in "node" */
    const char *signer; /* whose key signs */
    size_t payload;     /* bytes of "p" */
    bool state_tag;     /* signed as a state, not a record */
    bool flip;          /* one bit of the signature flipped */
    bool no_tomb;       /* "tomb" left out */
} s_rec_spec_t;

/*  A signed record envelope {"r", "pk", "sig"} built by hand. */
static void s_pack_record(msgpack_packer *out, const s_rec_spec_t *s)
{
    abuf_t sealed = ABUF_INIT;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sealed, s_write);
    msgpack_pack_map(&pk, s->no_tomb ? 5 : 6);
    s_str(&pk, "tbl");
    s_str(&pk, s->table);
    s_str(&pk, "k");
    s_str(&pk, s->key);
    s_str(&pk, "ver");
    msgpack_pack_uint64(&pk, s->ver);
    s_str(&pk, "node");
    s_str(&pk, tmesh_id(s->writer));
    if (!s->no_tomb) {
        s_str(&pk, "tomb");
        msgpack_pack_false(&pk);
    }
    s_str(&pk, "p");
    uint8_t *p = calloc(1, s->payload + 1);
    assert_non_null(p);
    s_bin(&pk, p, s->payload);
    free(p);
    uint8_t sig[IDENT_SIG_LEN], pub[IDENT_PK_LEN];
    const uint8_t *sk = tmesh_key(s->signer);
    if (s->state_tag)
        assert_int_equal(ident_sign_state(sk, (const uint8_t *)sealed.data, sealed.len, sig), 0);
    else
        assert_int_equal(ident_sign_record(sk, (const uint8_t *)sealed.data, sealed.len, sig), 0);
    if (s->flip)
        sig[7] ^= 0x10;
    ident_sk_pk(sk, pub);
    msgpack_pack_map(out, 3);
    s_str(out, "r");
    s_bin(out, sealed.data, sealed.len);
    s_str(out, "pk");
    s_bin(out, pub, sizeof pub);
    s_str(out, "sig");
    s_bin(out, sig, sizeof sig);
    abuf_free(&sealed);
}

/*  A records message of n copies of the spec'd record. */
static wire_msg_rc_t s_decode_records(const s_rec_spec_t *s, size_t n, char *err, size_t errlen)
{
    abuf_t b = ABUF_INIT;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, s_write);
    msgpack_pack_map(&pk, 4);
    s_str(&pk, "v");
    msgpack_pack_uint8(&pk, WIRE_MSG_VERSION);
    s_str(&pk, "t");
    s_str(&pk, "records");
    s_str(&pk, "from");
    s_str(&pk, "node-x");
    s_str(&pk, "recs");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        s_pack_record(&pk, s);
    wire_msg_t m;
    wire_msg_rc_t rc = wire_msg_decode((const uint8_t *)b.data, b.len, &m, err, errlen);
    wire_msg_clear(&m);
    abuf_free(&b);
    return rc;
}

static void s_expect(const s_rec_spec_t *s, size_t n, wire_msg_rc_t want, const char *why)
{
    char err[256] = "";
    wire_msg_rc_t rc = s_decode_records(s, n, err, sizeof err);
    if (rc != want)
        fail_msg("%s: got %d (%s), wanted %d", why, rc, err, want);
    if (want != WIRE_MSG_OK && !err[0])
        fail_msg("%s: refused without a reason", why);
}

static void test_records_decoder_bounds(void **state)
{
    (void)state;
    const s_rec_spec_t ok = {"keys", "alice", 1000, "w", "w", 10, false, false, false};
    s_expect(&ok, 1, WIRE_MSG_OK, "a genuine record");
    s_rec_spec_t s = ok;
    s.payload = WIRE_MAX_PAYLOAD;
    s_expect(&s, 1, WIRE_MSG_OK, "a payload at the bound");
    s.payload = WIRE_MAX_PAYLOAD + 1;
    s_expect(&s, 1, WIRE_MSG_MALFORMED, "a payload over the bound");
    s = ok;
    s_expect(&s, WIRE_MAX_RECORDS, WIRE_MSG_OK, "records at the bound");
    s_expect(&s, WIRE_MAX_RECORDS + 1, WIRE_MSG_MALFORMED, "records over the bound");
    s.table = "a-table-name-longer-than-32-bytes!";
    s_expect(&s, 1, WIRE_MSG_MALFORMED, "a table name over the bound");
    s = ok;
    char key[WIRE_MAX_RKEY + 2];
    memset(key, 'k', WIRE_MAX_RKEY + 1);
    key[WIRE_MAX_RKEY + 1] = '\0';
    s.key = key;
    s_expect(&s, 1, WIRE_MSG_MALFORMED, "a record key over the bound");
    s.key = "";
    s_expect(&s, 1, WIRE_MSG_MALFORMED, "an empty record key");
    s = ok;
    s.ver = 0;
    s_expect(&s, 1, WIRE_MSG_MALFORMED, "version 0");
    s.ver = (uint64_t)INT64_MAX + 1;
    s_expect(&s, 1, WIRE_MSG_MALFORMED, "a version past int64");
    s = ok;
    s.no_tomb = true;
    s_expect(&s, 1, WIRE_MSG_MALFORMED, "no tomb");
    /* forgeries */
    s = ok;
    s.flip = true;
    s_expect(&s, 1, WIRE_MSG_FORGED, "a flipped signature");
    s = ok;
    s.signer = "mallory";
    s_expect(&s, 1, WIRE_MSG_FORGED, "signed by another key than the writer's");
    s = ok;
    s.state_tag = true;
    s_expect(&s, 1, WIRE_MSG_FORGED, "a state's signature over a record");
}

static wire_msg_rc_t s_decode_tsum(const void *buckets, size_t blen, bool with_b)
{
    abuf_t b = ABUF_INIT;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, s_write);
    msgpack_pack_map(&pk, with_b ? 6 : 5);
    s_str(&pk, "v");
    msgpack_pack_uint8(&pk, WIRE_MSG_VERSION);
    s_str(&pk, "t");
    s_str(&pk, "tsum");
    s_str(&pk, "from");
    s_str(&pk, "node-x");
    s_str(&pk, "tbl");
    s_str(&pk, "keys");
    s_str(&pk, "root");
    msgpack_pack_uint64(&pk, 7);
    if (with_b) {
        s_str(&pk, "b");
        s_bin(&pk, buckets, blen);
    }
    wire_msg_t m;
    char err[200];
    wire_msg_rc_t rc = wire_msg_decode((const uint8_t *)b.data, b.len, &m, err, sizeof err);
    if (rc == WIRE_MSG_OK && with_b)
        assert_int_equal(m.n_buckets, blen / 8);
    wire_msg_clear(&m);
    abuf_free(&b);
    return rc;
}

static void test_tsum_decoder_bounds(void **state)
{
    (void)state;
    static uint8_t b[8 * 2 * WIRE_MAX_BUCKETS];
    assert_int_equal(s_decode_tsum(NULL, 0, false), WIRE_MSG_OK);
    assert_int_equal(s_decode_tsum(b, 8, true), WIRE_MSG_OK);
    assert_int_equal(s_decode_tsum(b, 8 * WIRE_MAX_BUCKETS, true), WIRE_MSG_OK);
    assert_int_equal(s_decode_tsum(b, 0, true), WIRE_MSG_MALFORMED);
    assert_int_equal(s_decode_tsum(b, 8 * 3, true), WIRE_MSG_MALFORMED);
    assert_int_equal(s_decode_tsum(b, 8 * 4 + 1, true), WIRE_MSG_MALFORMED);
    assert_int_equal(s_decode_tsum(b, 8 * 2 * WIRE_MAX_BUCKETS, true), WIRE_MSG_MALFORMED);
}

static void s_write_seed(const char *dir, const char *name, const wire_msg_t *m)
{
    abuf_t b = ABUF_INIT;
    assert_int_equal(wire_msg_encode(m, &b), 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
    assert_int_equal(fclose(f), 0);
    abuf_free(&b);
}

static void test_write_corpus(void **state)
{
    (void)state;
    const char *dir = getenv("ARENA_WRITE_CORPUS");
    uint64_t bk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    wire_msg_t t = {.type = WIRE_TSUM, .from = "node-x", .table = "keys", .root = 9};
    s_write_seed(dir, "tsum-empty.mp", &t);
    t.buckets = bk, t.n_buckets = 8, t.want = true;
    s_write_seed(dir, "tsum.mp", &t);
    wire_record_t r[2];
    s_record(&r[0], "writer-1", "keys", "alice", 1765000000000ULL, (const uint8_t *)"{\"a\":1}", 7,
             false);
    s_record(&r[1], "writer-2", "tiers", "gold", 1765000000001ULL, NULL, 0, true);
    wire_msg_t m = {.type = WIRE_RECORDS, .from = "node-x", .records = r, .n_records = 2};
    s_write_seed(dir, "records.mp", &m);
    m.n_records = 0;
    s_write_seed(dir, "records-empty.mp", &m);
    wire_record_clear(&r[0]);
    wire_record_clear(&r[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsum_roundtrip),
        cmocka_unit_test(test_tsum_encoder_refuses),
        cmocka_unit_test(test_records_roundtrip),
        cmocka_unit_test(test_records_encoder_refuses),
        cmocka_unit_test(test_records_decoder_bounds),
        cmocka_unit_test(test_tsum_decoder_bounds),
    };
    const struct CMUnitTest corpus[] = {
        cmocka_unit_test(test_write_corpus),
    };
    const char *dir = getenv("ARENA_WRITE_CORPUS");
    if (dir && *dir)
        return cmocka_run_group_tests(corpus, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
