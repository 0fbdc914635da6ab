/*  ident — see ident.h. */
#include "protocol/ident.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Domain tags: an id hash and a state signature can never be taken for
   anything else made with the same key or hash. */
static const char s_id_tag[] = "arenamesh node id v1";
static const char s_state_tag[] = "arenamesh signed state v1";
static const char s_record_tag[] = "arenamesh signed record v1"; /* replicated records */

int ident_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

int ident_keypair(const uint8_t *seed, uint8_t pk[IDENT_PK_LEN], uint8_t sk[IDENT_SK_LEN])
{
    if (seed)
        return crypto_sign_ed25519_seed_keypair(pk, sk, seed) == 0 ? 0 : -1;
    return crypto_sign_ed25519_keypair(pk, sk) == 0 ? 0 : -1;
}

void ident_sk_pk(const uint8_t sk[IDENT_SK_LEN], uint8_t pk[IDENT_PK_LEN])
{
    crypto_sign_ed25519_sk_to_pk(pk, sk);
}

void ident_id(const uint8_t pk[IDENT_PK_LEN], char out[IDENT_ID_LEN])
{
    uint8_t h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)s_id_tag, sizeof s_id_tag);
    crypto_generichash_update(&st, pk, IDENT_PK_LEN);
    crypto_generichash_final(&st, h, sizeof h);
    h[6] = (uint8_t)(0x80 | (h[6] & 0x0f)); /* version 8 */
    h[8] = (uint8_t)(0x80 | (h[8] & 0x3f)); /* RFC 9562 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < sizeof h; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 0x0f];
    }
    out[o] = '\0';
}

bool ident_id_matches(const char *id, const uint8_t pk[IDENT_PK_LEN])
{
    if (!id || !pk)
        return false;
    char want[IDENT_ID_LEN];
    ident_id(pk, want);
    return strcmp(id, want) == 0;
}

/*  tag || blob, the bytes a signature covers (tag with its NUL). */
static uint8_t *s_tagged_as(const char *tag, size_t taglen, const uint8_t *blob, size_t len,
                            size_t *n)
{
    *n = taglen + len;
    uint8_t *m = malloc(*n);
    if (!m)
        return NULL;
    memcpy(m, tag, taglen);
    if (len)
        memcpy(m + taglen, blob, len);
    return m;
}

static uint8_t *s_tagged(const uint8_t *blob, size_t len, size_t *n)
{
    return s_tagged_as(s_state_tag, sizeof s_state_tag, blob, len, n);
}

int ident_sign_state(const uint8_t sk[IDENT_SK_LEN], const uint8_t *blob, size_t len,
                     uint8_t sig[IDENT_SIG_LEN])
{
    size_t n;
    uint8_t *m = s_tagged(blob, len, &n);
    if (!m)
        return -1;
    int rc = crypto_sign_ed25519_detached(sig, NULL, m, n, sk);
    free(m);
    return rc == 0 ? 0 : -1;
}

bool ident_verify_state(const uint8_t pk[IDENT_PK_LEN], const uint8_t *blob, size_t len,
                        const uint8_t sig[IDENT_SIG_LEN])
{
    size_t n;
    uint8_t *m = s_tagged(blob, len, &n);
    if (!m)
        return false;
    bool ok = crypto_sign_ed25519_verify_detached(sig, m, n, pk) == 0;
    free(m);
    return ok;
}

int ident_sign_record(const uint8_t sk[IDENT_SK_LEN], const uint8_t *blob, size_t len,
                      uint8_t sig[IDENT_SIG_LEN])
{
    size_t n;
    uint8_t *m = s_tagged_as(s_record_tag, sizeof s_record_tag, blob, len, &n);
    if (!m)
        return -1;
    int rc = crypto_sign_ed25519_detached(sig, NULL, m, n, sk);
    free(m);
    return rc == 0 ? 0 : -1;
}

bool ident_verify_record(const uint8_t pk[IDENT_PK_LEN], const uint8_t *blob, size_t len,
                         const uint8_t sig[IDENT_SIG_LEN])
{
    size_t n;
    uint8_t *m = s_tagged_as(s_record_tag, sizeof s_record_tag, blob, len, &n);
    if (!m)
        return false;
    bool ok = crypto_sign_ed25519_verify_detached(sig, m, n, pk) == 0;
    free(m);
    return ok;
}
