/*  beacon — see beacon.h. */
#include "protocol/beacon.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "protocol/hostport.h"

#define S_MAGIC_LEN 4
#define S_DOMAIN "arenamesh lan discovery v1\n"

void beacon_key(const char *secret, uint8_t key[BEACON_KEY_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, BEACON_KEY_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)S_DOMAIN, strlen(S_DOMAIN));
    crypto_generichash_update(&st, (const unsigned char *)secret, secret ? strlen(secret) : 0);
    crypto_generichash_final(&st, key, BEACON_KEY_BYTES);
    sodium_memzero(&st, sizeof st);
}

static void s_tag(const uint8_t key[BEACON_KEY_BYTES], const uint8_t *data, size_t len,
                  uint8_t tag[BEACON_TAG_BYTES])
{
    crypto_generichash(tag, BEACON_TAG_BYTES, data, len, key, BEACON_KEY_BYTES);
}

/*  Printable ASCII without spaces, 1..max bytes. */
static bool s_printable(const uint8_t *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

static bool s_endpoint_ok(const uint8_t *s, size_t n)
{
    hostport_t hp;
    return s_printable(s, n, BEACON_ENDPOINT_MAX) && hostport_parse((const char *)s, n, &hp) == 0 &&
           hp.port > 0;
}

beacon_rc_t beacon_encode(const uint8_t key[BEACON_KEY_BYTES], const char *id, const char *endpoint,
                          uint8_t *out, size_t *len)
{
    size_t ni = id ? strlen(id) : 0, ne = endpoint ? strlen(endpoint) : 0;
    if (!s_printable((const uint8_t *)id, ni, BEACON_ID_MAX) ||
        !s_endpoint_ok((const uint8_t *)endpoint, ne))
        return BEACON_TOOBIG;
    size_t n = 0;
    memcpy(out, BEACON_MAGIC, S_MAGIC_LEN);
    n += S_MAGIC_LEN;
    out[n++] = (uint8_t)ni;
    memcpy(out + n, id, ni);
    n += ni;
    out[n++] = (uint8_t)ne;
    memcpy(out + n, endpoint, ne);
    n += ne;
    s_tag(key, out, n, out + n);
    *len = n + BEACON_TAG_BYTES;
    return BEACON_OK;
}

beacon_rc_t beacon_decode(const uint8_t key[BEACON_KEY_BYTES], const uint8_t *data, size_t len,
                          char id[BEACON_ID_MAX + 1], char endpoint[BEACON_ENDPOINT_MAX + 1])
{
    id[0] = endpoint[0] = '\0';
    if (!data || len > BEACON_MAX || len < S_MAGIC_LEN + 2 + BEACON_TAG_BYTES ||
        memcmp(data, BEACON_MAGIC, S_MAGIC_LEN) != 0)
        return BEACON_MALFORMED;
    size_t at = S_MAGIC_LEN;
    size_t ni = data[at++];
    if (at + ni + 1 > len - BEACON_TAG_BYTES)
        return BEACON_MALFORMED;
    const uint8_t *pid = data + at;
    at += ni;
    size_t ne = data[at++];
    if (at + ne != len - BEACON_TAG_BYTES)
        return BEACON_MALFORMED; /* nothing between the endpoint and the tag */
    const uint8_t *pep = data + at;
    at += ne;
    if (!s_printable(pid, ni, BEACON_ID_MAX) || !s_endpoint_ok(pep, ne))
        return BEACON_MALFORMED;
    uint8_t tag[BEACON_TAG_BYTES];
    s_tag(key, data, at, tag);
    if (sodium_memcmp(tag, data + at, BEACON_TAG_BYTES) != 0)
        return BEACON_FORGED;
    memcpy(id, pid, ni);
    id[ni] = '\0';
    memcpy(endpoint, pep, ne);
    endpoint[ne] = '\0';
    return BEACON_OK;
}

int beacon_dial_address(const char *endpoint, const char *from, char *out, size_t outlen)
{
    hostport_t hp;
    if (!endpoint || hostport_parse(endpoint, strlen(endpoint), &hp) < 0)
        return -1;
    bool wildcard = strcmp(hp.host, "0.0.0.0") == 0 || strcmp(hp.host, "::") == 0 ||
                    strcmp(hp.host, "*") == 0 || hostport_is_loopback(hp.host);
    if (!wildcard) {
        int n = snprintf(out, outlen, "%s", endpoint);
        return n < 0 || (size_t)n >= outlen ? -1 : 0;
    }
    /* from is an IP address as czmq prints it: IPv4, or IPv6 (bare) */
    char wrapped[HOSTPORT_HOST_MAX + 3];
    size_t nf = from ? strlen(from) : 0;
    if (nf == 0 || nf > HOSTPORT_HOST_MAX)
        return -1;
    if (strchr(from, ':'))
        snprintf(wrapped, sizeof wrapped, "[%s]", from);
    else
        snprintf(wrapped, sizeof wrapped, "%s", from);
    if (!hostport_host_valid(wrapped, strlen(wrapped)))
        return -1;
    return hostport_format(out, outlen, strchr(from, ':') ? from : wrapped, hp.port);
}
