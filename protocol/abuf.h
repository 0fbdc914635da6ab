/*  abuf — a growable byte buffer with an optional hard cap.

    Used by every renderer and by stream reassembly. All appends return 0 or
    -1 (allocation failure or the cap would be exceeded); on -1 the buffer is
    unchanged. The data is always NUL-terminated for convenience. */
#ifndef ARENA_ABUF_H
#define ARENA_ABUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0: unbounded */
} abuf_t;

#define ABUF_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

int abuf_reserve(abuf_t *b, size_t extra);
int abuf_append(abuf_t *b, const void *data, size_t len);
int abuf_puts(abuf_t *b, const char *s);
int abuf_printf(abuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*  Appends s as the body of a JSON string (no quotes), escaping as needed. */
int abuf_json_escape(abuf_t *b, const char *s, size_t len);
/*  Drops the first n bytes. */
void abuf_consume(abuf_t *b, size_t n);
void abuf_reset(abuf_t *b);
/*  Frees the storage and returns to ABUF_INIT (keeps max). */
void abuf_free(abuf_t *b);
/*  Hands the storage to the caller (NUL-terminated, never NULL on success). */
char *abuf_steal(abuf_t *b, size_t *len_out);

#endif
