/*  test_beacon — protocol/beacon, the payload of a LAN discovery beacon:
    what a member sends decodes back for a member of the same mesh only;
    anything cut, padded, altered or out of bounds is malformed; the
    address to dial takes the sender's address only for a wildcard or
    loopback host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "protocol/beacon.h"

#define S_ID "0190c0de-aaaa-8bbb-8ccc-0123456789ab"
#define S_EP "10.231.0.1:5104"

static void s_key(const char *secret, uint8_t key[BEACON_KEY_BYTES])
{
    beacon_key(secret, key);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t key[BEACON_KEY_BYTES], b[BEACON_MAX];
    s_key("mesh-secret-1", key);
    size_t len = 0;
    assert_int_equal(beacon_encode(key, S_ID, S_EP, b, &len), BEACON_OK);
    assert_int_equal(len, 4 + 1 + strlen(S_ID) + 1 + strlen(S_EP) + BEACON_TAG_BYTES);
    assert_memory_equal(b, BEACON_MAGIC, 4);
    char id[BEACON_ID_MAX + 1], ep[BEACON_ENDPOINT_MAX + 1];
    assert_int_equal(beacon_decode(key, b, len, id, ep), BEACON_OK);
    assert_string_equal(id, S_ID);
    assert_string_equal(ep, S_EP);
    /* IPv6 and names too */
    assert_int_equal(beacon_encode(key, "n6", "[fe80::1%eth0]:5104", b, &len), BEACON_OK);
    assert_int_equal(beacon_decode(key, b, len, id, ep), BEACON_OK);
    assert_string_equal(ep, "[fe80::1%eth0]:5104");
}

/*  Another mesh's beacon, or one altered anywhere, fails the proof or the
    format: nothing of it comes out. */
static void test_other_mesh_and_tampering(void **state)
{
    (void)state;
    uint8_t key[BEACON_KEY_BYTES], other[BEACON_KEY_BYTES], b[BEACON_MAX];
    s_key("mesh-secret-1", key);
    s_key("mesh-secret-2", other);
    assert_memory_not_equal(key, other, BEACON_KEY_BYTES);
    size_t len = 0;
    assert_int_equal(beacon_encode(other, S_ID, S_EP, b, &len), BEACON_OK);
    char id[BEACON_ID_MAX + 1] = "x", ep[BEACON_ENDPOINT_MAX + 1] = "x";
    assert_int_equal(beacon_decode(key, b, len, id, ep), BEACON_FORGED);
    assert_string_equal(id, "");
    assert_string_equal(ep, "");
    /* the key is not the secret itself: a beacon keyed with the raw secret fails */
    uint8_t raw[BEACON_KEY_BYTES] = {0};
    memcpy(raw, "mesh-secret-1", strlen("mesh-secret-1"));
    assert_memory_not_equal(raw, key, BEACON_KEY_BYTES);

    assert_int_equal(beacon_encode(key, S_ID, S_EP, b, &len), BEACON_OK);
    for (size_t i = 0; i < len; i++) {
        uint8_t t[BEACON_MAX];
        memcpy(t, b, len);
        t[i] ^= 0x01;
        beacon_rc_t rc = beacon_decode(key, t, len, id, ep);
        if (rc == BEACON_OK)
            fail_msg("a beacon with byte %zu altered was accepted", i);
    }
    for (size_t n = 0; n < len; n++) /* every truncation */
        assert_int_equal(beacon_decode(key, b, n, id, ep), BEACON_MALFORMED);
    uint8_t pad[BEACON_MAX];
    memcpy(pad, b, len);
    pad[len] = 0;
    assert_int_equal(beacon_decode(key, pad, len + 1, id, ep), BEACON_MALFORMED);
    assert_int_equal(beacon_decode(key, NULL, 0, id, ep), BEACON_MALFORMED);
}

/*  What cannot be a member's id or mesh address is never encoded. */
static void test_bounds(void **state)
{
    (void)state;
    uint8_t key[BEACON_KEY_BYTES], b[BEACON_MAX];
    s_key("s", key);
    size_t len = 0;
    char long_id[BEACON_ID_MAX + 2];
    memset(long_id, 'i', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(beacon_encode(key, long_id, S_EP, b, &len), BEACON_TOOBIG);
    long_id[BEACON_ID_MAX] = '\0'; /* exactly the longest */
    assert_int_equal(beacon_encode(key, long_id, S_EP, b, &len), BEACON_OK);
    assert_true(len <= BEACON_MAX);
    static const char *const bad_ep[] = {"",      "host",   "host:0", "host:70000",
                                         "a b:1", "[::1:1", "h;x:1"};
    for (size_t i = 0; i < sizeof bad_ep / sizeof bad_ep[0]; i++)
        if (beacon_encode(key, S_ID, bad_ep[i], b, &len) != BEACON_TOOBIG)
            fail_msg("endpoint \"%s\" was encoded", bad_ep[i]);
    assert_int_equal(beacon_encode(key, "", S_EP, b, &len), BEACON_TOOBIG);
    assert_int_equal(beacon_encode(key, "a b", S_EP, b, &len), BEACON_TOOBIG);
    /* the longest id with the longest endpoint still fits a UDP beacon */
    char ep[BEACON_ENDPOINT_MAX + 1];
    memset(ep, 'h', sizeof ep);
    for (size_t i = 63; i < BEACON_ENDPOINT_MAX - 6; i += 64)
        ep[i] = '.';
    memcpy(ep + BEACON_ENDPOINT_MAX - 6, ":65535", 7);
    assert_int_equal(beacon_encode(key, long_id, ep, b, &len), BEACON_OK);
    assert_true(len <= BEACON_MAX);
}

static void test_dial_address(void **state)
{
    (void)state;
    static const struct {
        const char *endpoint, *from, *want; /* want NULL: refused */
    } cases[] = {
        {"10.231.0.1:5104", "10.231.0.9", "10.231.0.1:5104"}, /* a routable address: as it is */
        {"desk.lan:5104", "10.231.0.9", "desk.lan:5104"},
        {"0.0.0.0:5104", "10.231.0.9", "10.231.0.9:5104"}, /* a wildcard: the sender's */
        {"127.0.0.1:6000", "192.168.1.4", "192.168.1.4:6000"},
        {"localhost:6000", "192.168.1.4", "192.168.1.4:6000"},
        {"[::]:5104", "fe80::2", "[fe80::2]:5104"},
        {"[::1]:5104", "2001:db8::7", "[2001:db8::7]:5104"},
        {"0.0.0.0:5104", "", NULL},
        {"0.0.0.0:5104", "not an address", NULL},
        {"0.0.0.0:5104", "10.0.0.1;tcp://x", NULL},
        {"nonsense", "10.0.0.1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[300] = "";
        int rc = beacon_dial_address(cases[i].endpoint, cases[i].from, out, sizeof out);
        if (!cases[i].want) {
            if (rc == 0)
                fail_msg("%s from %s: want refused, got %s", cases[i].endpoint, cases[i].from, out);
        } else if (rc != 0 || strcmp(out, cases[i].want) != 0) {
            fail_msg("%s from %s: want %s, got %s (%d)", cases[i].endpoint, cases[i].from,
                     cases[i].want, out, rc);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_other_mesh_and_tampering),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_dial_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
