/*  libFuzzer driver: protocol/beacon's decoder, which reads what anyone on
    the LAN broadcasts. Every input is refused (malformed or forged) or
    decodes into an id and an endpoint in bounds that encode back to the
    very same bytes; the dial address made from it with any sender address
    is a valid HOST:PORT or refused. The key is fixed: inputs that pass the
    tag come from the seed corpus (made with it) and their mutations. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/beacon.h"
#include "protocol/hostport.h"

#define S_SECRET "fuzz-beacon-secret"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t key[BEACON_KEY_BYTES];
    static int ready;
    if (!ready) {
        beacon_key(S_SECRET, key);
        ready = 1;
    }
    char id[BEACON_ID_MAX + 1], endpoint[BEACON_ENDPOINT_MAX + 1];
    beacon_rc_t rc = beacon_decode(key, data, size, id, endpoint);
    if (rc != BEACON_OK) {
        if ((rc != BEACON_MALFORMED && rc != BEACON_FORGED) || id[0] || endpoint[0])
            abort();
        /* the same bytes as a sender address: refused or a valid address */
        char from[64], dial[HOSTPORT_MAX + 1];
        size_t n = size < sizeof from - 1 ? size : sizeof from - 1;
        memcpy(from, data, n);
        from[n] = '\0';
        if (beacon_dial_address("0.0.0.0:5104", from, dial, sizeof dial) == 0) {
            hostport_t hp;
            if (hostport_parse(dial, strlen(dial), &hp) < 0 || hp.port != 5104)
                abort();
        }
        return 0;
    }
    size_t ni = strlen(id), ne = strlen(endpoint);
    if (ni == 0 || ni > BEACON_ID_MAX || ne == 0 || ne > BEACON_ENDPOINT_MAX)
        abort();
    uint8_t again[BEACON_MAX];
    size_t len = 0;
    if (beacon_encode(key, id, endpoint, again, &len) != BEACON_OK || len != size ||
        memcmp(again, data, size) != 0)
        abort();
    char dial[HOSTPORT_MAX + 1];
    if (beacon_dial_address(endpoint, "10.0.0.7", dial, sizeof dial) < 0)
        abort(); /* a decoded endpoint is always dialable from an IPv4 sender */
    hostport_t hp;
    if (hostport_parse(dial, strlen(dial), &hp) < 0)
        abort();
    return 0;
}
