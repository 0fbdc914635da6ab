/*  beacon — the payload of a LAN discovery beacon (mesh/mesh_discover.h,
    docs/mesh-protocol.md "LAN discovery"): who sends it, where its mesh
    listens, and a proof that the sender holds the mesh secret.

        "AMB1" | id length (1) | id | endpoint length (1) | endpoint | tag (16)

    id: the node id (printable ASCII, 1..WIRE_MAX_ID); endpoint: its mesh
    address as HOST:PORT (protocol/hostport.h); tag: BLAKE2b-128 of
    everything before it, keyed with beacon_key(secret). A beacon of another
    mesh, or forged without the secret, fails the tag. The whole fits a
    czmq beacon (UDP_FRAME_MAX, 255 bytes). A replayed beacon says nothing
    new: the mesh still proves who answers at the address (CURVE, then a
    signed hello).

    Pure: no sockets, no state; any thread. */
#ifndef ARENA_BEACON_H
#define ARENA_BEACON_H

#include <stddef.h>
#include <stdint.h>

#define BEACON_MAX 255          /* bytes of a beacon, at most (czmq's UDP_FRAME_MAX) */
#define BEACON_MAGIC "AMB1"     /* its first bytes: a filter for other LAN traffic */
#define BEACON_KEY_BYTES 32     /* beacon_key */
#define BEACON_TAG_BYTES 16     /* the proof */
#define BEACON_ID_MAX 64        /* = WIRE_MAX_ID */
#define BEACON_ENDPOINT_MAX 160 /* fits with the id, the lengths and the tag */

typedef enum {
    BEACON_OK = 0,
    BEACON_MALFORMED = -1, /* not a beacon, or a field out of its bounds */
    BEACON_FORGED = -2,    /* well formed, but the tag is not this secret's */
    BEACON_TOOBIG = -3,    /* encode: id or endpoint too long, or not valid */
} beacon_rc_t;

/*  The key beacons are tagged with, derived from the mesh secret (its own
    domain: the secret is not used as is). */
void beacon_key(const char *secret, uint8_t key[BEACON_KEY_BYTES]);

/*  A beacon for id at endpoint into out (BEACON_MAX bytes), its size in *len. */
beacon_rc_t beacon_encode(const uint8_t key[BEACON_KEY_BYTES], const char *id, const char *endpoint,
                          uint8_t *out, size_t *len);

/*  Reads data[0..len): BEACON_OK with id and endpoint filled (NUL-terminated),
    BEACON_MALFORMED or BEACON_FORGED (then id and endpoint are "" ). */
beacon_rc_t beacon_decode(const uint8_t key[BEACON_KEY_BYTES], const uint8_t *data, size_t len,
                          char id[BEACON_ID_MAX + 1], char endpoint[BEACON_ENDPOINT_MAX + 1]);

/*  The address to dial for a beacon's endpoint heard from `from` (the
    sender's IP address): the endpoint itself, but with from as its host when
    its host is a wildcard (0.0.0.0, ::) or loopback, which only the sender
    can reach. 0, or -1 when from is not a host or the result does not fit. */
int beacon_dial_address(const char *endpoint, const char *from, char *out, size_t outlen);

#endif
