/*  libFuzzer driver for arena_classify, arena_error_message, arena_zod_field
    and arena_retry_after_ms: the first two bytes are the HTTP status, the rest
    the body (and, NUL-terminated, a Retry-After value). Checks the bounds
    the header promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/arena_stream.h"

/*  Well-formed UTF-8 and no control characters. */
static int s_clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7F)
            return 0;
        int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
        if (n == 0)
            return 0;
        for (int k = 1; k < n; k++)
            if ((p[k] & 0xC0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

static void s_message(const char *body, size_t len, size_t outlen)
{
    char out[300];
    memset(out, 'X', sizeof out);
    arena_error_message(body, len, out, outlen);
    if (outlen == 0) {
        if (out[0] != 'X')
            __builtin_trap();
        return;
    }
    if (memchr(out, '\0', outlen) == NULL || out[outlen] != 'X' || !s_clean_utf8(out))
        __builtin_trap();
}

/*  The field: NUL-terminated within outlen, nothing written past it, and
    only printable ASCII or UTF-8 continuation of what the body held. */
static void s_zod(const char *body, size_t len, size_t outlen)
{
    char out[80];
    memset(out, 'X', sizeof out);
    arena_zod_field(body, len, out, outlen);
    if (outlen == 0) {
        if (out[0] != 'X')
            __builtin_trap();
        return;
    }
    const char *nul = memchr(out, '\0', outlen);
    if (!nul || out[outlen] != 'X')
        __builtin_trap();
    for (const char *p = out; p < nul; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int status = (int)((data[0] << 8 | data[1]) % 1000);
    const char *body = (const char *)data + 2;
    size_t len = size - 2;

    arena_fail_t f = arena_classify(status, "text/html", body, len);
    if (status >= 200 && status <= 299 && f != ARENA_FAIL_NONE)
        __builtin_trap();
    if (strcmp(arena_fail_name(f), "invalid") == 0)
        __builtin_trap();
    if (arena_fail_retryable(f) && arena_fail_permanent(f))
        __builtin_trap(); /* nothing is both */

    static const size_t zodlens[] = {0, 1, 2, 7, 64};
    for (size_t i = 0; i < sizeof zodlens / sizeof zodlens[0]; i++)
        s_zod(body, len, zodlens[i]);

    static const size_t outlens[] = {0, 1, 2, 3, 5, 64, 299};
    for (size_t i = 0; i < sizeof outlens / sizeof outlens[0]; i++)
        s_message(body, len, outlens[i]);

    char *value = malloc(len + 1);
    if (!value)
        return 0;
    memcpy(value, body, len);
    value[len] = '\0';
    long long ms = arena_retry_after_ms(value, 1700000000000LL);
    if (ms < -1 || ms > 7LL * 24 * 3600 * 1000)
        __builtin_trap();
    free(value);
    return 0;
}
