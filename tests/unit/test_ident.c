/*  Unit tests of protocol/ident: the id bound to the public key (shape,
    determinism, a different key gives a different id, a foreign key never
    matches), and state signatures (verify, any flipped bit or another key
    refused, domain separation from a plain Ed25519 signature). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "protocol/ident.h"
#include "protocol/uuid7.h"

static void s_key(uint8_t fill, uint8_t pk[IDENT_PK_LEN], uint8_t sk[IDENT_SK_LEN])
{
    uint8_t seed[IDENT_SEED_LEN];
    memset(seed, fill, sizeof seed);
    assert_int_equal(ident_keypair(seed, pk, sk), 0);
}

static void test_id_shape_and_binding(void **state)
{
    (void)state;
    uint8_t pk[IDENT_PK_LEN], sk[IDENT_SK_LEN], pk2[IDENT_PK_LEN], sk2[IDENT_SK_LEN];
    s_key(1, pk, sk);
    s_key(2, pk2, sk2);
    char id[IDENT_ID_LEN], again[IDENT_ID_LEN], id2[IDENT_ID_LEN];
    ident_id(pk, id);
    ident_id(pk, again);
    ident_id(pk2, id2);
    assert_true(uuid_is_valid(id));
    assert_int_equal(id[14], '8');           /* version 8 */
    assert_non_null(strchr("89ab", id[19])); /* RFC variant */
    assert_string_equal(id, again);          /* deterministic */
    assert_string_not_equal(id, id2);        /* keys differ, ids differ */
    assert_true(ident_id_matches(id, pk));
    assert_false(ident_id_matches(id, pk2)); /* someone else's key */
    assert_false(ident_id_matches(id2, pk));
    assert_false(ident_id_matches(NULL, pk));
    assert_false(ident_id_matches("node-a", pk));
    char upper[IDENT_ID_LEN];
    memcpy(upper, id, sizeof upper);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    assert_false(ident_id_matches(upper, pk)); /* exact bytes only */
    uint8_t pk3[IDENT_PK_LEN];
    ident_sk_pk(sk, pk3);
    assert_memory_equal(pk, pk3, IDENT_PK_LEN);
    /* a fresh random key */
    uint8_t rpk[IDENT_PK_LEN], rsk[IDENT_SK_LEN];
    assert_int_equal(ident_keypair(NULL, rpk, rsk), 0);
    char rid[IDENT_ID_LEN];
    ident_id(rpk, rid);
    assert_true(ident_id_matches(rid, rpk));
    assert_string_not_equal(rid, id);
}

static void test_sign_verify(void **state)
{
    (void)state;
    uint8_t pk[IDENT_PK_LEN], sk[IDENT_SK_LEN], pk2[IDENT_PK_LEN], sk2[IDENT_SK_LEN];
    s_key(7, pk, sk);
    s_key(8, pk2, sk2);
    const uint8_t blob[] = "\x82\xa2id\xa1x\xa3ver\x01";
    size_t len = sizeof blob - 1;
    uint8_t sig[IDENT_SIG_LEN];
    assert_int_equal(ident_sign_state(sk, blob, len, sig), 0);
    assert_true(ident_verify_state(pk, blob, len, sig));
    assert_false(ident_verify_state(pk2, blob, len, sig));    /* another key */
    assert_false(ident_verify_state(pk, blob, len - 1, sig)); /* fewer bytes */
    for (size_t i = 0; i < len; i++) {                        /* any flipped bit of the state */
        uint8_t b[sizeof blob];
        memcpy(b, blob, sizeof b);
        b[i] ^= 0x01;
        assert_false(ident_verify_state(pk, b, len, sig));
    }
    for (size_t i = 0; i < IDENT_SIG_LEN; i += 7) { /* or of the signature */
        uint8_t s2[IDENT_SIG_LEN];
        memcpy(s2, sig, sizeof s2);
        s2[i] ^= 0x80;
        assert_false(ident_verify_state(pk, blob, len, s2));
    }
    /* domain separation: a plain signature of the same bytes is no state signature */
    uint8_t plain[IDENT_SIG_LEN];
    assert_int_equal(crypto_sign_ed25519_detached(plain, NULL, blob, len, sk), 0);
    assert_false(ident_verify_state(pk, blob, len, plain));
    /* the empty state signs and verifies too (the codec refuses it elsewhere) */
    assert_int_equal(ident_sign_state(sk, NULL, 0, sig), 0);
    assert_true(ident_verify_state(pk, NULL, 0, sig));
}

int main(void)
{
    if (ident_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_shape_and_binding),
        cmocka_unit_test(test_sign_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
