/*  utf8 — the one UTF-8 rule of the project (RFC 3629): overlong forms,
    surrogates, code points past U+10FFFF and truncated sequences are
    invalid. Every module that checks, cleans or measures text uses these.
    Pure: no allocation, no state. */
#ifndef ARENA_UTF8_H
#define ARENA_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Length (1..4) of the valid sequence at p, n >= 1 bytes available, and its
    code point in *cp (may be NULL); 0 when the bytes at p do not start a
    valid sequence. */
size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/*  The longest head of s[0..len) of at most max bytes that cuts no
    character (a byte that starts no valid sequence counts as a character of
    its own, as renderers replace it with U+FFFD); never 0 when len > 0 (a
    max smaller than the first character gives its first byte). For
    splitting text into pieces a client joins back. */
size_t utf8_piece(const char *s, size_t len, size_t max);

/*  True when s[0..n) is valid UTF-8 (NUL bytes included as U+0000). */
bool utf8_valid(const char *s, size_t n);

/*  True for C0 controls, DEL and C1 controls (U+0080..U+009F). */
static inline bool utf8_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

#endif
