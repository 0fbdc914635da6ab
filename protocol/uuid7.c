/*  uuid7 — see uuid7.h.

    Owns nothing. Thread-safe: libsodium's sodium_init() is idempotent and
    guarded by its own lock, so it is called before every draw rather than
    kept behind a global flag. */
#include "protocol/uuid7.h"

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

static void s_random(uint8_t *buf, size_t n)
{
    if (sodium_init() < 0) {
        /* Nothing to do: randombytes_buf sets up its own source lazily and
           aborts by itself when the system has none; there is no id to make
           without randomness. */
    }
    randombytes_buf(buf, n);
}

static void s_format(char out[UUID_STR_LEN], const uint8_t b[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

void uuid7_generate_at(char out[UUID_STR_LEN], unsigned long long unix_ms)
{
    uint8_t b[16];
    s_random(b, sizeof b);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(unix_ms >> (8 * (5 - i)));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0F));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3F));
    s_format(out, b);
}

void uuid7_generate(char out[UUID_STR_LEN])
{
    struct timespec ts;
    unsigned long long ms = 0;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec >= 0)
        ms = (unsigned long long)ts.tv_sec * 1000ULL + (unsigned long long)ts.tv_nsec / 1000000ULL;
    uuid7_generate_at(out, ms);
}

void uuid4_generate(char out[UUID_STR_LEN])
{
    uint8_t b[16];
    s_random(b, sizeof b);
    b[6] = (uint8_t)(0x40 | (b[6] & 0x0F));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3F));
    s_format(out, b);
}

static int s_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int uuid_is_valid(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !s_is_hex(s[i]))
            return 0;
    }
    return s[36] == '\0';
}

long long uuid7_time_ms(const char *s)
{
    if (!s || !uuid_is_valid(s) || s[14] != '7')
        return 0;
    long long ms = 0;
    for (size_t i = 0; i < 13; i++) {
        char c = s[i];
        if (i == 8)
            continue; /* the dash */
        int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        ms = ms * 16 + v;
    }
    return ms;
}
