/*  ident — a node's signing identity (Ed25519, libsodium): its id derived
    from its public key, and signatures over the exact bytes of the states it
    publishes (docs/mesh-protocol.md, "Identities and signed state").

    The id is a UUID-shaped string made from BLAKE2b-128 over a domain tag
    and the public key, with the version nibble 8 (RFC 9562 "custom") and the
    RFC variant bits set: 122 bits of the hash. Anyone holding (id, pk) checks
    the binding without having seen the node before; making a key whose id
    is another node's is a second preimage of 122 bits.

    Pure: libsodium only, no files, no globals (sodium_init() must have run;
    ident_init does it). Reentrant. */
#ifndef ARENA_IDENT_H
#define ARENA_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDENT_PK_LEN 32   /* Ed25519 public key */
#define IDENT_SK_LEN 64   /* Ed25519 secret key (seed and public key) */
#define IDENT_SEED_LEN 32 /* what the data directory keeps */
#define IDENT_SIG_LEN 64
#define IDENT_ID_LEN 37 /* 36 characters and the NUL */

/*  sodium_init(): 0, or -1. */
int ident_init(void);
/*  A key pair from a seed (deterministic), or from fresh randomness when
    seed is NULL. 0, or -1. */
int ident_keypair(const uint8_t *seed, uint8_t pk[IDENT_PK_LEN], uint8_t sk[IDENT_SK_LEN]);
/*  The public half of sk. */
void ident_sk_pk(const uint8_t sk[IDENT_SK_LEN], uint8_t pk[IDENT_PK_LEN]);
/*  The node id of pk (lower-case canonical UUID, version 8). */
void ident_id(const uint8_t pk[IDENT_PK_LEN], char out[IDENT_ID_LEN]);
/*  id is exactly ident_id(pk). */
bool ident_id_matches(const char *id, const uint8_t pk[IDENT_PK_LEN]);
/*  Signs a node state's encoded bytes (domain-separated from any other use
    of the key). 0, or -1 (allocation). */
int ident_sign_state(const uint8_t sk[IDENT_SK_LEN], const uint8_t *blob, size_t len,
                     uint8_t sig[IDENT_SIG_LEN]);
/*  sig is pk's signature of exactly blob[0..len) as a state. */
bool ident_verify_state(const uint8_t pk[IDENT_PK_LEN], const uint8_t *blob, size_t len,
                        const uint8_t sig[IDENT_SIG_LEN]);
/*  The same for a replicated record's encoded bytes (wire.h, wire_record_t),
    under its own domain tag: a state's signature never passes as a
    record's, nor the reverse. */
int ident_sign_record(const uint8_t sk[IDENT_SK_LEN], const uint8_t *blob, size_t len,
                      uint8_t sig[IDENT_SIG_LEN]);
bool ident_verify_record(const uint8_t pk[IDENT_PK_LEN], const uint8_t *blob, size_t len,
                         const uint8_t sig[IDENT_SIG_LEN]);

#endif
