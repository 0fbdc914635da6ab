/*  abuf — see abuf.h. */
#include "protocol/abuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int abuf_reserve(abuf_t *b, size_t extra)
{
    if (extra > ((size_t)-1) / 2 - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (b->max && need - 1 > b->max)
        return -1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int abuf_append(abuf_t *b, const void *data, size_t len)
{
    if (abuf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int abuf_puts(abuf_t *b, const char *s)
{
    return abuf_append(b, s, strlen(s));
}

int abuf_printf(abuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return abuf_append(b, small, (size_t)n);
    if (abuf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int abuf_json_escape(abuf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t start_len = b->len;
    size_t run = 0; /* start of the pending run of plain bytes */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20) {
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0';
                u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = '\0';
                esc = u;
            }
        }
        if (!esc)
            continue;
        if (abuf_append(b, s + run, i - run) < 0 || abuf_puts(b, esc) < 0)
            goto err;
        run = i + 1;
    }
    if (abuf_append(b, s + run, len - run) < 0)
        goto err;
    return 0;
err:
    b->len = start_len;
    if (b->data)
        b->data[b->len] = '\0';
    return -1;
}

void abuf_consume(abuf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void abuf_reset(abuf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void abuf_free(abuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *abuf_steal(abuf_t *b, size_t *len_out)
{
    if (!b->data) {
        if (abuf_reserve(b, 0) < 0)
            return NULL;
        b->data[0] = '\0';
    }
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
