/*  wire — the mesh messages as msgpack maps; see wire.h and
    docs/mesh-protocol.md (the wire format, field by field).

    Decoding runs in three stages so that hostile input never reaches an
    allocation it chose: (1) the size cap; (2) s_scan, a walk over every
    msgpack header that checks each string/bin/ext length and each array/map
    count against the bytes left, the nesting depth and the element count,
    and refuses bytes after the one top-level object; (3) msgpack_unpack_next
    and a typed read of every field against the MESH_MAX_* limits. The
    encoder checks every field with the same rules, packs into a buffer
    capped at WIRE_MSG_MAX and runs s_scan over its own output, so it never
    writes what the decoder would refuse.

    Pure and reentrant: no globals, no threads, no sockets. */
#include "protocol/wire.h"
#include "protocol/utf8.h"

#include <inttypes.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ranges of the wire format beyond the header's limits. */
#define S_STATUS_MIN 100 /* fail.status is an HTTP status */
#define S_STATUS_MAX 599
#define S_UNKNOWN (-1) /* lowest value of pt, ct, p50_ms: unknown */
#define S_STATE_KEYS 14
#define S_MODEL_FIELDS 5

/* ------------------------------------------------------------------ errors */

typedef struct {
    char *buf;
    size_t len;
    const char *where; /* "state", "peer"…: prefixes the reason; NULL at the top */
    bool forged;       /* a state's signature or key failed (WIRE_MSG_FORGED) */
} s_err_t;

__attribute__((format(printf, 2, 3))) static int s_fail(s_err_t *e, const char *fmt, ...)
{
    if (!e->buf || !e->len)
        return -1;
    int n = e->where ? snprintf(e->buf, e->len, "%s: ", e->where) : 0;
    if (n < 0 || (size_t)n >= e->len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------- string rules */

typedef enum {
    S_ID,    /* 1..WIRE_MAX_ID bytes of printable ASCII, no space */
    S_NAME,  /* 1..WIRE_MAX_NAME bytes of UTF-8 without control characters */
    S_LABEL, /* as S_NAME, but may be empty */
    S_RKEY,  /* as S_NAME, 1..WIRE_MAX_RKEY bytes (a record's key) */
    S_MSG,   /* 0..WIRE_MAX_TEXT bytes of UTF-8 without NUL */
    S_BLOB,  /* 0..WIRE_MAX_TEXT bytes, carried as they are */
} s_cls_t;

static const size_t s_cls_max[] = {
    [S_ID] = WIRE_MAX_ID,    [S_NAME] = WIRE_MAX_NAME, [S_LABEL] = WIRE_MAX_NAME,
    [S_MSG] = WIRE_MAX_TEXT, [S_BLOB] = WIRE_MAX_TEXT, [S_RKEY] = WIRE_MAX_RKEY,
};

/*  NULL when s[0..n) fits its class, else why not ("is too long"…). */
static const char *s_check_str(const char *s, size_t n, s_cls_t cls)
{
    if (n > s_cls_max[cls])
        return "is too long";
    if ((cls == S_ID || cls == S_NAME || cls == S_RKEY) && n == 0)
        return "is empty";
    if (cls == S_BLOB)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (cls == S_ID) {
            if (c < 0x21 || c > 0x7e)
                return "holds a byte that is not printable ASCII";
            i++;
            continue;
        }
        if (c == 0)
            return "holds NUL";
        if (cls != S_MSG && (c < 0x20 || c == 0x7f))
            return "holds a control character";
        size_t k = utf8_decode(p + i, n - i, NULL);
        if (!k)
            return "is not UTF-8";
        i += k;
    }
    return NULL;
}

static char *s_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ----------------------------------------------------------------- pre-scan */

typedef enum { S_SCALAR, S_SIZED, S_ARRAY, S_MAP, S_RESERVED } s_shape_t;

typedef struct {
    uint8_t lenbytes; /* bytes of the length or count after the type byte */
    uint8_t fixed;    /* payload bytes besides the counted ones (numbers, ext type) */
    uint8_t shape;
} s_fmt_t;

/*  Type bytes 0xc0..0xdf; the fixint, fixmap, fixarray and fixstr ranges are
    decoded in s_head. */
static const s_fmt_t s_fmts[32] = {
    [0x00] = {0, 0, S_SCALAR},                              /* nil */
    [0x01] = {0, 0, S_RESERVED}, [0x02] = {0, 0, S_SCALAR}, /* false */
    [0x03] = {0, 0, S_SCALAR},                              /* true */
    [0x04] = {1, 0, S_SIZED},                               /* bin8 */
    [0x05] = {2, 0, S_SIZED},                               /* bin16 */
    [0x06] = {4, 0, S_SIZED},                               /* bin32 */
    [0x07] = {1, 1, S_SIZED},                               /* ext8: length, type, data */
    [0x08] = {2, 1, S_SIZED},                               /* ext16 */
    [0x09] = {4, 1, S_SIZED},                               /* ext32 */
    [0x0a] = {0, 4, S_SCALAR},                              /* float32 */
    [0x0b] = {0, 8, S_SCALAR},                              /* float64 */
    [0x0c] = {0, 1, S_SCALAR},                              /* uint8 */
    [0x0d] = {0, 2, S_SCALAR},                              /* uint16 */
    [0x0e] = {0, 4, S_SCALAR},                              /* uint32 */
    [0x0f] = {0, 8, S_SCALAR},                              /* uint64 */
    [0x10] = {0, 1, S_SCALAR},                              /* int8 */
    [0x11] = {0, 2, S_SCALAR},                              /* int16 */
    [0x12] = {0, 4, S_SCALAR},                              /* int32 */
    [0x13] = {0, 8, S_SCALAR},                              /* int64 */
    [0x14] = {0, 2, S_SCALAR},                              /* fixext1: type, data */
    [0x15] = {0, 3, S_SCALAR},                              /* fixext2 */
    [0x16] = {0, 5, S_SCALAR},                              /* fixext4 */
    [0x17] = {0, 9, S_SCALAR},                              /* fixext8 */
    [0x18] = {0, 17, S_SCALAR},                             /* fixext16 */
    [0x19] = {1, 0, S_SIZED},                               /* str8 */
    [0x1a] = {2, 0, S_SIZED},                               /* str16 */
    [0x1b] = {4, 0, S_SIZED},                               /* str32 */
    [0x1c] = {2, 0, S_ARRAY},                               /* array16 */
    [0x1d] = {4, 0, S_ARRAY},                               /* array32 */
    [0x1e] = {2, 0, S_MAP},                                 /* map16 */
    [0x1f] = {4, 0, S_MAP},                                 /* map32 */
};

typedef struct {
    size_t head;       /* bytes of the header */
    uint64_t payload;  /* bytes right after it that belong to it */
    uint64_t children; /* objects that follow it (a map counts keys and values) */
    bool container;
} s_item_t;

/*  Reads the header at p (avail > 0 bytes). -1: the reserved byte 0xc1, or a
    header cut short. */
static int s_head(const uint8_t *p, size_t avail, s_item_t *it)
{
    uint8_t b = p[0];
    *it = (s_item_t){.head = 1};
    if (b <= 0x7f || b >= 0xe0) /* positive and negative fixint */
        return 0;
    if (b <= 0x8f) {
        it->children = 2u * (b & 0x0fu);
        it->container = true;
        return 0;
    }
    if (b <= 0x9f) {
        it->children = b & 0x0fu;
        it->container = true;
        return 0;
    }
    if (b <= 0xbf) {
        it->payload = b & 0x1fu;
        return 0;
    }
    const s_fmt_t *f = &s_fmts[b - 0xc0];
    if (f->shape == S_RESERVED || avail < 1u + f->lenbytes)
        return -1;
    uint64_t n = 0;
    for (size_t i = 1; i <= f->lenbytes; i++)
        n = n << 8 | p[i];
    it->head = 1u + f->lenbytes;
    it->payload = f->fixed;
    if (f->shape == S_SIZED)
        it->payload += n;
    else if (f->shape == S_ARRAY || f->shape == S_MAP)
        it->children = f->shape == S_MAP ? 2 * n : n, it->container = true;
    return 0;
}

/*  Walks every header of buf[0..len) without building anything: the input
    must be exactly one msgpack object whose every length and count fits the
    bytes left, at most WIRE_MSG_MAX_DEPTH deep and WIRE_MSG_MAX_ELEMENTS big.
    After this, msgpack-c can allocate at most a small multiple of len. */
static int s_scan(const uint8_t *buf, size_t len, s_err_t *e)
{
    uint64_t due[WIRE_MSG_MAX_DEPTH + 1]; /* objects still due per open level */
    size_t depth = 0, pos = 0, elements = 0;
    due[0] = 1;
    for (;;) {
        while (depth > 0 && due[depth] == 0)
            depth--;
        if (depth == 0 && due[0] == 0)
            break;
        if (pos >= len)
            return s_fail(e, "truncated: %zu bytes end inside an object", len);
        s_item_t it;
        if (s_head(buf + pos, len - pos, &it) < 0)
            return buf[pos] == 0xc1 ? s_fail(e, "byte %zu: reserved type byte 0xc1", pos)
                                    : s_fail(e, "truncated: header at byte %zu cut short", pos);
        if (++elements > WIRE_MSG_MAX_ELEMENTS)
            return s_fail(e, "more than %d objects", WIRE_MSG_MAX_ELEMENTS);
        due[depth]--;
        size_t at = pos;
        pos += it.head;
        if (it.payload > len - pos)
            return s_fail(e, "byte %zu: length %" PRIu64 " exceeds the %zu bytes left", at,
                          it.payload, len - pos);
        pos += (size_t)it.payload;
        if (!it.container)
            continue;
        if (it.children > len - pos)
            return s_fail(e, "byte %zu: %" PRIu64 " elements exceed the %zu bytes left", at,
                          it.children, len - pos);
        if (depth + 1 > WIRE_MSG_MAX_DEPTH)
            return s_fail(e, "nested deeper than %d", WIRE_MSG_MAX_DEPTH);
        if (it.children)
            due[++depth] = it.children;
    }
    if (pos != len)
        return s_fail(e, "%zu trailing bytes after the message", len - pos);
    return 0;
}

/* ----------------------------------------------------------- field readers */

static bool s_str_eq(const msgpack_object *o, const char *s, size_t n)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

/*  A map with string keys only, none twice, at most max entries. */
static int s_map_ok(const msgpack_object *o, const char *what, uint32_t max, s_err_t *e)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return s_fail(e, "%s is not a map", what);
    const msgpack_object_map *m = &o->via.map;
    if (m->size > max)
        return s_fail(e, "%s has more than %" PRIu32 " entries", what, max);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR)
            return s_fail(e, "%s has a key that is not a string", what);
        for (uint32_t j = 0; j < i; j++)
            if (s_str_eq(&m->ptr[j].key, k->via.str.ptr, k->via.str.size))
                return s_fail(e, "%s has a key twice", what);
    }
    return 0;
}

static const msgpack_object *s_need(const msgpack_object *map, const char *key, s_err_t *e)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (s_str_eq(&map->via.map.ptr[i].key, key, n))
            return &map->via.map.ptr[i].val;
    s_fail(e, "missing \"%s\"", key);
    return NULL;
}

/*  map[key], or NULL when the key is absent (an optional key). */
static const msgpack_object *s_opt(const msgpack_object *map, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (s_str_eq(&map->via.map.ptr[i].key, key, n))
            return &map->via.map.ptr[i].val;
    return NULL;
}

static int s_as_u64(const msgpack_object *v, const char *key, uint64_t max, uint64_t *out,
                    s_err_t *e)
{
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_fail(e, "\"%s\" is not an unsigned integer", key);
    if (v->via.u64 > max)
        return s_fail(e, "\"%s\" is over %" PRIu64, key, max);
    *out = v->via.u64;
    return 0;
}

static int s_as_u32(const msgpack_object *v, const char *key, uint32_t *out, s_err_t *e)
{
    uint64_t x = 0;
    if (s_as_u64(v, key, UINT32_MAX, &x, e) < 0)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

static int s_as_i64(const msgpack_object *v, const char *key, int64_t min, int64_t *out, s_err_t *e)
{
    int64_t x;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        x = v->via.i64;
    else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
        x = (int64_t)v->via.u64;
    else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return s_fail(e, "\"%s\" is over %" PRId64, key, INT64_MAX);
    else
        return s_fail(e, "\"%s\" is not an integer", key);
    if (x < min)
        return s_fail(e, "\"%s\" is below %" PRId64, key, min);
    *out = x;
    return 0;
}

static int s_as_str(const msgpack_object *v, const char *key, s_cls_t cls, char **out, size_t *len,
                    s_err_t *e)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return s_fail(e, "\"%s\" is not a string", key);
    const char *why = s_check_str(v->via.str.ptr, v->via.str.size, cls);
    if (why)
        return s_fail(e, "\"%s\" %s", key, why);
    if (!(*out = s_dup(v->via.str.ptr, v->via.str.size)))
        return s_fail(e, "out of memory");
    if (len)
        *len = v->via.str.size;
    return 0;
}

static int s_u64(const msgpack_object *map, const char *key, uint64_t *out, s_err_t *e)
{
    const msgpack_object *v = s_need(map, key, e);
    return v ? s_as_u64(v, key, UINT64_MAX, out, e) : -1;
}

static int s_i64(const msgpack_object *map, const char *key, int64_t min, int64_t *out, s_err_t *e)
{
    const msgpack_object *v = s_need(map, key, e);
    return v ? s_as_i64(v, key, min, out, e) : -1;
}

static int s_bool(const msgpack_object *map, const char *key, bool *out, s_err_t *e)
{
    const msgpack_object *v = s_need(map, key, e);
    if (!v)
        return -1;
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
        return s_fail(e, "\"%s\" is not a boolean", key);
    *out = v->via.boolean;
    return 0;
}

static int s_str(const msgpack_object *map, const char *key, s_cls_t cls, char **out, size_t *len,
                 s_err_t *e)
{
    const msgpack_object *v = s_need(map, key, e);
    return v ? s_as_str(v, key, cls, out, len, e) : -1;
}

/*  map[key] as an array of at most max elements (exactly max when exact). */
static const msgpack_object_array *s_array(const msgpack_object *map, const char *key, uint32_t max,
                                           bool exact, s_err_t *e)
{
    const msgpack_object *v = s_need(map, key, e);
    if (!v)
        return NULL;
    if (v->type != MSGPACK_OBJECT_ARRAY) {
        s_fail(e, "\"%s\" is not an array", key);
        return NULL;
    }
    if (exact && v->via.array.size != max) {
        s_fail(e, "\"%s\" does not hold %" PRIu32 " elements", key, max);
        return NULL;
    }
    if (v->via.array.size > max) {
        s_fail(e, "\"%s\" has more than %" PRIu32 " elements", key, max);
        return NULL;
    }
    return &v->via.array;
}

/*  calloc that answers a valid empty array for n == 0. */
static int s_alloc(void **p, size_t n, size_t size, s_err_t *e)
{
    *p = NULL;
    if (n == 0)
        return 0;
    if (!(*p = calloc(n, size)))
        return s_fail(e, "out of memory");
    return 0;
}

/* ------------------------------------------------------------ decode: state */

static int s_dec_model(const msgpack_object *o, wire_model_t *md, s_err_t *e)
{
    if (o->type != MSGPACK_OBJECT_ARRAY ||
        (o->via.array.size != S_MODEL_FIELDS && o->via.array.size != S_MODEL_FIELDS + 1))
        return s_fail(e, "\"models\" entry is not [name, arena_id, modality, "
                         "cooled_remaining_ms, reason(, display_name)]");
    const msgpack_object *a = o->via.array.ptr;
    if (s_as_str(&a[0], "models.name", S_NAME, &md->name, NULL, e) < 0 ||
        s_as_str(&a[1], "models.arena_id", S_LABEL, &md->arena_id, NULL, e) < 0 ||
        s_as_str(&a[2], "models.modality", S_LABEL, &md->modality, NULL, e) < 0 ||
        s_as_i64(&a[3], "models.cooled_remaining_ms", 0, &md->cooled_remaining_ms, e) < 0 ||
        s_as_str(&a[4], "models.reason", S_LABEL, &md->reason, NULL, e) < 0)
        return -1;
    if (o->via.array.size > S_MODEL_FIELDS &&
        s_as_str(&a[5], "models.display_name", S_LABEL, &md->display_name, NULL, e) < 0)
        return -1;
    return 0;
}

static int s_dec_account(const msgpack_object *o, wire_account_t *ac, s_err_t *e)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3)
        return s_fail(e, "\"accounts\" entry is not [id, flag_ms, starts]");
    const msgpack_object *a = o->via.array.ptr;
    if (s_as_str(&a[0], "accounts.id", S_ID, &ac->id, NULL, e) < 0 ||
        s_as_i64(&a[1], "accounts.flag_ms", 0, &ac->flag_remaining_ms, e) < 0)
        return -1;
    if (a[2].type != MSGPACK_OBJECT_ARRAY || a[2].via.array.size > WIRE_MAX_STARTS)
        return s_fail(e, "\"accounts\" starts is not an array of at most %d", WIRE_MAX_STARTS);
    const msgpack_object_array *st = &a[2].via.array;
    if (s_alloc((void **)&ac->starts_ago_ms, st->size, sizeof *ac->starts_ago_ms, e) < 0)
        return -1;
    ac->n_starts = st->size;
    for (uint32_t i = 0; i < st->size; i++) {
        if (s_as_i64(&st->ptr[i], "accounts.starts", 0, &ac->starts_ago_ms[i], e) < 0)
            return -1;
        if (ac->starts_ago_ms[i] > WIRE_MAX_START_AGO_MS) /* no overflow when aged */
            return s_fail(e, "\"accounts\" start older than %lld ms", WIRE_MAX_START_AGO_MS);
    }
    return 0;
}

/*  The optional "pace_ms" and "accounts" of a state. */
static int s_dec_accounts(const msgpack_object *map, wire_state_t *st, s_err_t *e)
{
    if (s_opt(map, "pace_ms") && s_i64(map, "pace_ms", 0, &st->paced_remaining_ms, e) < 0)
        return -1;
    if (!s_opt(map, "accounts"))
        return 0;
    const msgpack_object_array *arr = s_array(map, "accounts", WIRE_MAX_ACCOUNTS, false, e);
    if (!arr || s_alloc((void **)&st->accounts, arr->size, sizeof *st->accounts, e) < 0)
        return -1;
    st->n_accounts = arr->size;
    for (uint32_t i = 0; i < arr->size; i++)
        if (s_dec_account(&arr->ptr[i], &st->accounts[i], e) < 0)
            return -1;
    return 0;
}

/*  An i64 in 0..max. */
static int s_as_bounded(const msgpack_object *v, const char *key, int64_t max, int64_t *out,
                        s_err_t *e)
{
    if (s_as_i64(v, key, 0, out, e) < 0)
        return -1;
    return *out > max ? s_fail(e, "\"%s\" is over %" PRId64, key, max) : 0;
}

/*  [name, minute, hour, day, tokens, inflight, [reset_ms × 4]] */
static int s_dec_key_count(const msgpack_object *o, wire_key_count_t *kc, s_err_t *e)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 7)
        return s_fail(e, "\"key_counts\" entry is not [name, minute, hour, day, tokens, "
                         "inflight, resets]");
    const msgpack_object *a = o->via.array.ptr;
    if (s_as_str(&a[0], "key_counts.name", S_ID, &kc->name, NULL, e) < 0 ||
        s_as_bounded(&a[1], "key_counts.minute", WIRE_MAX_KEY_COUNT, &kc->minute, e) < 0 ||
        s_as_bounded(&a[2], "key_counts.hour", WIRE_MAX_KEY_COUNT, &kc->hour, e) < 0 ||
        s_as_bounded(&a[3], "key_counts.day", WIRE_MAX_KEY_COUNT, &kc->day, e) < 0 ||
        s_as_bounded(&a[4], "key_counts.tokens", WIRE_MAX_KEY_TOKENS, &kc->tokens, e) < 0 ||
        s_as_bounded(&a[5], "key_counts.inflight", WIRE_MAX_KEY_COUNT, &kc->inflight, e) < 0)
        return -1;
    if (a[6].type != MSGPACK_OBJECT_ARRAY || a[6].via.array.size != 4)
        return s_fail(e, "\"key_counts\" resets is not an array of 4");
    for (uint32_t i = 0; i < 4; i++)
        if (s_as_bounded(&a[6].via.array.ptr[i], "key_counts.resets", WIRE_MAX_KEY_RESET_MS,
                         &kc->reset_ms[i], e) < 0)
            return -1;
    return 0;
}

/*  The optional "key_counts" of a state. */
static int s_dec_key_counts(const msgpack_object *map, wire_state_t *st, s_err_t *e)
{
    if (!s_opt(map, "key_counts"))
        return 0;
    const msgpack_object_array *arr = s_array(map, "key_counts", WIRE_MAX_KEY_COUNTS, false, e);
    if (!arr || s_alloc((void **)&st->key_counts, arr->size, sizeof *st->key_counts, e) < 0)
        return -1;
    st->n_key_counts = arr->size;
    for (uint32_t i = 0; i < arr->size; i++)
        if (s_dec_key_count(&arr->ptr[i], &st->key_counts[i], e) < 0)
            return -1;
    return 0;
}

static int s_dec_u32_pair(const msgpack_object *map, const char *key, uint32_t *a, uint32_t *b,
                          s_err_t *e)
{
    const msgpack_object_array *arr = s_array(map, key, 2, true, e);
    if (!arr)
        return -1;
    return s_as_u32(&arr->ptr[0], key, a, e) < 0 || s_as_u32(&arr->ptr[1], key, b, e) < 0 ? -1 : 0;
}

static int s_dec_stats(const msgpack_object *map, wire_state_t *st, s_err_t *e)
{
    const msgpack_object_array *arr = s_array(map, "stats", 3, true, e);
    if (!arr)
        return -1;
    if (s_as_u64(&arr->ptr[0], "stats", UINT64_MAX, &st->ok, e) < 0 ||
        s_as_u64(&arr->ptr[1], "stats", UINT64_MAX, &st->failed, e) < 0 ||
        s_as_i64(&arr->ptr[2], "stats", S_UNKNOWN, &st->p50_ms, e) < 0)
        return -1;
    return 0;
}

static int s_dec_models(const msgpack_object *map, wire_state_t *st, s_err_t *e)
{
    const msgpack_object_array *arr = s_array(map, "models", WIRE_MAX_MODELS, false, e);
    if (!arr || s_alloc((void **)&st->models, arr->size, sizeof *st->models, e) < 0)
        return -1;
    st->n_models = arr->size;
    for (uint32_t i = 0; i < arr->size; i++)
        if (s_dec_model(&arr->ptr[i], &st->models[i], e) < 0)
            return -1;
    return 0;
}

static int s_dec_state_fields(const msgpack_object *o, wire_state_t *st, s_err_t *e)
{
    if (s_str(o, "id", S_ID, &st->id, NULL, e) < 0 ||
        s_str(o, "name", S_LABEL, &st->name, NULL, e) < 0 ||
        s_str(o, "ep", S_NAME, &st->endpoint, NULL, e) < 0 ||
        s_str(o, "http", S_LABEL, &st->http, NULL, e) < 0 ||
        s_u64(o, "inc", &st->incarnation, e) < 0 || s_u64(o, "ver", &st->version, e) < 0 ||
        s_u64(o, "hb", &st->heartbeat, e) < 0 ||
        s_i64(o, "start_ms", 0, &st->started_at_ms, e) < 0 ||
        s_bool(o, "leaving", &st->leaving, e) < 0 ||
        s_dec_u32_pair(o, "tabs", &st->tabs, &st->tabs_healthy, e) < 0 ||
        s_dec_u32_pair(o, "load", &st->inflight, &st->capacity, e) < 0 ||
        s_dec_stats(o, st, e) < 0 ||
        s_i64(o, "node_cool_ms", 0, &st->node_cooled_remaining_ms, e) < 0 ||
        s_dec_models(o, st, e) < 0 || s_dec_accounts(o, st, e) < 0 ||
        s_dec_key_counts(o, st, e) < 0)
        return -1;
    return 0;
}

/*  A bin of exactly n bytes (n 0: any length up to WIRE_MSG_MAX). */
static const msgpack_object_bin *s_bin(const msgpack_object *map, const char *key, uint32_t n,
                                       s_err_t *e)
{
    const msgpack_object *v = s_need(map, key, e);
    if (!v)
        return NULL;
    if (v->type != MSGPACK_OBJECT_BIN) {
        s_fail(e, "\"%s\" is not binary", key);
        return NULL;
    }
    if (n && v->via.bin.size != n) {
        s_fail(e, "\"%s\" is not %" PRIu32 " bytes", key, n);
        return NULL;
    }
    return &v->via.bin;
}

/*  The owner's signed bytes: one msgpack map, pre-scanned like a message
    before msgpack-c builds anything from it, then read field by field. */
static int s_dec_sealed(const uint8_t *blob, size_t len, wire_state_t *st, s_err_t *e)
{
    if (len == 0)
        return s_fail(e, "\"st\" is empty");
    if (s_scan(blob, len, e) < 0)
        return -1;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&up, (const char *)blob, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        s_fail(e, "msgpack-c refused \"st\"");
    else if (s_map_ok(&up.data, "\"st\"", WIRE_MSG_MAX_KEYS, e) == 0)
        rc = s_dec_state_fields(&up.data, st, e);
    msgpack_unpacked_destroy(&up);
    return rc;
}

/*  One signed state {"st": bin, "pk": bin, "sig": bin, "age": uint}: its
    fields decoded from "st", then the key checked against the id and the
    signature against the exact bytes of "st". what names the map in errors
    ("\"state\"", "\"states\" entry"). */
static int s_dec_state(const msgpack_object *o, const char *what, wire_state_t *st, s_err_t *e)
{
    const char *outer = e->where;
    e->where = "state";
    const msgpack_object_bin *blob, *pk, *sig;
    const msgpack_object *age;
    uint64_t age_ms = 0;
    int rc = -1;
    if (s_map_ok(o, what, WIRE_MSG_MAX_KEYS, e) < 0 || !(blob = s_bin(o, "st", 0, e)) ||
        !(pk = s_bin(o, "pk", IDENT_PK_LEN, e)) || !(sig = s_bin(o, "sig", IDENT_SIG_LEN, e)) ||
        !(age = s_need(o, "age", e)) ||
        s_as_u64(age, "age", (uint64_t)WIRE_MAX_AGE_MS, &age_ms, e) < 0 ||
        s_dec_sealed((const uint8_t *)blob->ptr, blob->size, st, e) < 0)
        goto done;
    memcpy(st->pk, pk->ptr, IDENT_PK_LEN);
    memcpy(st->sig, sig->ptr, IDENT_SIG_LEN);
    st->age_ms = (int64_t)age_ms;
    if (!ident_id_matches(st->id, st->pk)) {
        e->forged = true;
        s_fail(e, "the key of \"%.64s\" is not the one its id is made from", st->id);
        goto done;
    }
    if (!ident_verify_state(st->pk, (const uint8_t *)blob->ptr, blob->size, st->sig)) {
        e->forged = true;
        s_fail(e, "the signature of \"%.64s\" does not verify", st->id);
        goto done;
    }
    if (!(st->sealed = malloc(blob->size))) {
        s_fail(e, "out of memory");
        goto done;
    }
    memcpy(st->sealed, blob->ptr, blob->size);
    st->sealed_len = blob->size;
    rc = 0;
done:
    e->where = outer;
    return rc;
}

/*  delta and push: "states", at most WIRE_MAX_PEERS of them. */
static int s_dec_states(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object_array *arr = s_array(root, "states", WIRE_MAX_PEERS, false, e);
    if (!arr || s_alloc((void **)&m->states, arr->size, sizeof *m->states, e) < 0)
        return -1;
    m->n_states = arr->size;
    for (uint32_t i = 0; i < arr->size; i++)
        if (s_dec_state(&arr->ptr[i], "\"states\" entry", &m->states[i], e) < 0)
            return -1;
    return 0;
}

/* ---------------------------------------------------------- decode: by type */

static int s_dec_peer(const msgpack_object *o, wire_peer_ref_t *p, s_err_t *e)
{
    const char *outer = e->where;
    e->where = "peer";
    int rc = s_map_ok(o, "\"peers\" entry", WIRE_MSG_MAX_KEYS, e) < 0 ||
                     s_str(o, "id", S_ID, &p->id, NULL, e) < 0 ||
                     s_str(o, "ep", S_NAME, &p->endpoint, NULL, e) < 0
                 ? -1
                 : 0;
    e->where = outer;
    return rc;
}

/*  "state": the sender's own (hello, reject) into states[0]. */
static int s_dec_own_state(const msgpack_object *st, wire_msg_t *m, s_err_t *e)
{
    if (s_alloc((void **)&m->states, 1, sizeof *m->states, e) < 0)
        return -1;
    m->n_states = 1;
    if (s_dec_state(st, "\"state\"", &m->states[0], e) < 0)
        return -1;
    if (strcmp(m->states[0].id, m->from) != 0)
        return s_fail(e, "\"state\" is not the sender's own (its id is not \"from\")");
    return 0;
}

static int s_dec_hello(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object *st = s_need(root, "state", e);
    if (!st || s_dec_own_state(st, m, e) < 0)
        return -1;
    const msgpack_object_array *arr = s_array(root, "peers", WIRE_MAX_PEERS, false, e);
    if (!arr || s_alloc((void **)&m->peers, arr->size, sizeof *m->peers, e) < 0)
        return -1;
    m->n_peers = arr->size;
    for (uint32_t i = 0; i < arr->size; i++)
        if (s_dec_peer(&arr->ptr[i], &m->peers[i], e) < 0)
            return -1;
    return 0;
}

static int s_dec_digest(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object *v = s_need(root, "versions", e);
    if (!v || s_map_ok(v, "\"versions\"", WIRE_MAX_PEERS, e) < 0 ||
        s_alloc((void **)&m->versions, v->via.map.size, sizeof *m->versions, e) < 0)
        return -1;
    m->n_versions = v->via.map.size;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        if (s_as_str(&kv->key, "versions", S_ID, &m->versions[i].id, NULL, e) < 0 ||
            s_as_u64(&kv->val, "versions", UINT64_MAX, &m->versions[i].version, e) < 0)
            return -1;
    }
    return 0;
}

static int s_dec_ping(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    return s_u64(root, "seq", &m->seq, e);
}

static int s_dec_ping_req(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    return s_u64(root, "seq", &m->seq, e) < 0 ||
                   s_str(root, "target", S_ID, &m->target, NULL, e) < 0
               ? -1
               : 0;
}

static int s_dec_leave(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object *st;
    if (s_u64(root, "inc", &m->incarnation, e) < 0 || !(st = s_need(root, "state", e)) ||
        s_dec_own_state(st, m, e) < 0)
        return -1;
    if (!m->states[0].leaving)
        return s_fail(e, "the \"state\" of a leave does not say leaving");
    return 0;
}

static int s_dec_rid(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    return s_str(root, "rid", S_ID, &m->rid, NULL, e);
}

static int s_dec_fwd(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object *v;
    if (s_dec_rid(root, m, e) < 0 || s_str(root, "model", S_NAME, &m->model, NULL, e) < 0 ||
        s_str(root, "req", S_BLOB, &m->request, &m->request_len, e) < 0 ||
        s_bool(root, "stream", &m->stream, e) < 0 ||
        s_i64(root, "deadline_ms", 0, &m->deadline_ms, e) < 0 ||
        !(v = s_need(root, "attempt", e)) || s_as_u32(v, "attempt", &m->attempt, e) < 0)
        return -1;
    if ((v = s_opt(root, "credit"))) {
        uint64_t c = 0;
        if (s_as_u64(v, "credit", WIRE_MAX_CREDIT, &c, e) < 0)
            return -1;
        m->has_credit = true;
        m->credit = (uint32_t)c;
    }
    if ((v = s_opt(root, "client")) && s_as_str(v, "client", S_ID, &m->client, NULL, e) < 0)
        return -1;
    if ((v = s_opt(root, "request_id")) &&
        s_as_str(v, "request_id", S_ID, &m->request_id, NULL, e) < 0)
        return -1;
    return 0;
}

static int s_dec_credit(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object *v;
    uint64_t n = 0;
    if (s_dec_rid(root, m, e) < 0 || !(v = s_need(root, "n", e)) ||
        s_as_u64(v, "n", WIRE_MAX_CREDIT, &n, e) < 0)
        return -1;
    if ((v = s_opt(root, "ack"))) {
        if (s_as_u64(v, "ack", WIRE_MAX_SEQ, &m->ack, e) < 0)
            return -1;
        m->has_ack = true;
    }
    if (n == 0 && !m->has_ack)
        return s_fail(e, "\"n\" is 0");
    m->has_credit = true;
    m->credit = (uint32_t)n;
    return 0;
}

static int s_dec_reject(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    if (s_dec_rid(root, m, e) < 0 || s_str(root, "reason", S_LABEL, &m->reason, NULL, e) < 0)
        return -1;
    const msgpack_object *st = s_opt(root, "state");
    return st ? s_dec_own_state(st, m, e) : 0;
}

static int s_dec_one_delta(const msgpack_object *o, wire_delta_t *d, s_err_t *e)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2)
        return s_fail(e, "\"d\" entry is not [kind, text]");
    uint64_t kind = 0;
    if (s_as_u64(&o->via.array.ptr[0], "d.kind", DELTA_CITATION, &kind, e) < 0)
        return -1;
    d->kind = (delta_kind_t)kind;
    return s_as_str(&o->via.array.ptr[1], "d.text", S_BLOB, &d->text, &d->len, e);
}

static int s_dec_chunk(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    if (s_dec_rid(root, m, e) < 0 || s_u64(root, "seq", &m->chunk_seq, e) < 0)
        return -1;
    const msgpack_object_array *arr = s_array(root, "d", WIRE_MAX_DELTAS, false, e);
    if (!arr || s_alloc((void **)&m->deltas, arr->size, sizeof *m->deltas, e) < 0)
        return -1;
    m->n_deltas = arr->size;
    for (uint32_t i = 0; i < arr->size; i++)
        if (s_dec_one_delta(&arr->ptr[i], &m->deltas[i], e) < 0)
            return -1;
    return 0;
}

/*  end / fail: the optional "chunks". */
static int s_dec_chunks(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object *v = s_opt(root, "chunks");
    if (!v)
        return 0;
    m->has_chunks = true;
    return s_as_u64(v, "chunks", UINT64_MAX, &m->chunks, e);
}

static int s_dec_end(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    if (s_dec_rid(root, m, e) < 0 ||
        s_str(root, "finish", S_LABEL, &m->finish_reason, NULL, e) < 0 ||
        s_i64(root, "pt", S_UNKNOWN, &m->prompt_tokens, e) < 0 ||
        s_i64(root, "ct", S_UNKNOWN, &m->completion_tokens, e) < 0 || s_dec_chunks(root, m, e) < 0)
        return -1;
    return 0;
}

static int s_dec_fail(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    int64_t status = 0;
    if (s_dec_rid(root, m, e) < 0 || s_i64(root, "status", S_STATUS_MIN, &status, e) < 0)
        return -1;
    if (status > S_STATUS_MAX)
        return s_fail(e, "\"status\" is over %d", S_STATUS_MAX);
    m->status = (int)status;
    if (s_str(root, "code", S_LABEL, &m->code, NULL, e) < 0 ||
        s_str(root, "msg", S_MSG, &m->message, NULL, e) < 0 ||
        s_bool(root, "retry", &m->retryable, e) < 0 ||
        s_i64(root, "cool_ms", 0, &m->cooled_remaining_ms, e) < 0 || s_dec_chunks(root, m, e) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------- decode: records */

static bool s_pow2(uint64_t n)
{
    return n && (n & (n - 1)) == 0;
}

static int s_dec_record_fields(const msgpack_object *o, wire_record_t *r, s_err_t *e)
{
    if (s_map_ok(o, "\"r\"", WIRE_MSG_MAX_KEYS, e) < 0 ||
        s_str(o, "tbl", S_ID, &r->table, NULL, e) < 0 ||
        s_str(o, "k", S_RKEY, &r->key, NULL, e) < 0 || s_u64(o, "ver", &r->version_ms, e) < 0 ||
        s_str(o, "node", S_ID, &r->node, NULL, e) < 0 || s_bool(o, "tomb", &r->tomb, e) < 0)
        return -1;
    if (strlen(r->table) > WIRE_MAX_TABLE)
        return s_fail(e, "\"tbl\" is over %d bytes", WIRE_MAX_TABLE);
    if (r->version_ms == 0 || r->version_ms > (uint64_t)INT64_MAX)
        return s_fail(e, "\"ver\" is not a time in unix ms");
    const msgpack_object_bin *p = s_bin(o, "p", 0, e);
    if (!p)
        return -1;
    if (p->size > WIRE_MAX_PAYLOAD)
        return s_fail(e, "\"p\" is over %d bytes", WIRE_MAX_PAYLOAD);
    if (!(r->payload = malloc(p->size ? p->size : 1)))
        return s_fail(e, "out of memory");
    if (p->size)
        memcpy(r->payload, p->ptr, p->size);
    r->payload_len = p->size;
    return 0;
}

/*  A record's signed bytes: pre-scanned, then read field by field. */
static int s_dec_sealed_record(const uint8_t *blob, size_t len, wire_record_t *r, s_err_t *e)
{
    if (len == 0)
        return s_fail(e, "\"r\" is empty");
    if (s_scan(blob, len, e) < 0)
        return -1;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&up, (const char *)blob, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        s_fail(e, "msgpack-c refused \"r\"");
    else
        rc = s_dec_record_fields(&up.data, r, e);
    msgpack_unpacked_destroy(&up);
    return rc;
}

/*  One signed record {"r": bin, "pk": bin, "sig": bin}: its fields from
    "r", the key checked against the writer's id, the signature against the
    exact bytes of "r". */
static int s_dec_record(const msgpack_object *o, wire_record_t *r, s_err_t *e)
{
    const char *outer = e->where;
    e->where = "record";
    const msgpack_object_bin *blob, *pk, *sig;
    int rc = -1;
    if (s_map_ok(o, "\"recs\" entry", WIRE_MSG_MAX_KEYS, e) < 0 || !(blob = s_bin(o, "r", 0, e)) ||
        !(pk = s_bin(o, "pk", IDENT_PK_LEN, e)) || !(sig = s_bin(o, "sig", IDENT_SIG_LEN, e)) ||
        s_dec_sealed_record((const uint8_t *)blob->ptr, blob->size, r, e) < 0)
        goto done;
    memcpy(r->pk, pk->ptr, IDENT_PK_LEN);
    memcpy(r->sig, sig->ptr, IDENT_SIG_LEN);
    if (!ident_id_matches(r->node, r->pk)) {
        e->forged = true;
        s_fail(e, "the key of writer \"%.64s\" is not the one its id is made from", r->node);
        goto done;
    }
    if (!ident_verify_record(r->pk, (const uint8_t *)blob->ptr, blob->size, r->sig)) {
        e->forged = true;
        s_fail(e, "the signature of \"%.64s\" by %.64s does not verify", r->key, r->node);
        goto done;
    }
    if (!(r->sealed = malloc(blob->size))) {
        s_fail(e, "out of memory");
        goto done;
    }
    memcpy(r->sealed, blob->ptr, blob->size);
    r->sealed_len = blob->size;
    rc = 0;
done:
    e->where = outer;
    return rc;
}

static int s_dec_records(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    const msgpack_object_array *arr = s_array(root, "recs", WIRE_MAX_RECORDS, false, e);
    if (!arr || s_alloc((void **)&m->records, arr->size, sizeof *m->records, e) < 0)
        return -1;
    m->n_records = arr->size;
    for (uint32_t i = 0; i < arr->size; i++)
        if (s_dec_record(&arr->ptr[i], &m->records[i], e) < 0)
            return -1;
    return 0;
}

/*  tsum: "tbl", "root", the optional "b" (8 bytes big-endian per bucket, a
    power of two of them, at most WIRE_MAX_BUCKETS) and "want". */
static int s_dec_tsum(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    if (s_str(root, "tbl", S_ID, &m->table, NULL, e) < 0 || s_u64(root, "root", &m->root, e) < 0)
        return -1;
    if (strlen(m->table) > WIRE_MAX_TABLE)
        return s_fail(e, "\"tbl\" is over %d bytes", WIRE_MAX_TABLE);
    if (s_opt(root, "want") && s_bool(root, "want", &m->want, e) < 0)
        return -1;
    if (!s_opt(root, "b"))
        return 0;
    const msgpack_object_bin *b = s_bin(root, "b", 0, e);
    if (!b)
        return -1;
    if (b->size % 8 || !s_pow2(b->size / 8) || b->size / 8 > WIRE_MAX_BUCKETS)
        return s_fail(e, "\"b\" is not 8 bytes for each of a power of two (up to %d) buckets",
                      WIRE_MAX_BUCKETS);
    m->n_buckets = b->size / 8;
    if (s_alloc((void **)&m->buckets, m->n_buckets, sizeof *m->buckets, e) < 0)
        return -1;
    const uint8_t *p = (const uint8_t *)b->ptr;
    for (uint32_t i = 0; i < m->n_buckets; i++) {
        uint64_t v = 0;
        for (int j = 0; j < 8; j++)
            v = v << 8 | p[8 * i + (uint32_t)j];
        m->buckets[i] = v;
    }
    return 0;
}

/* ------------------------------------------------------------ encode: helpers */

static int s_write(void *data, const char *buf, size_t len)
{
    return abuf_append(data, buf, len);
}

static int s_put_str(msgpack_packer *pk, const char *s, size_t n, s_cls_t cls)
{
    if (!s && n)
        return -1;
    if (s_check_str(s ? s : "", n, cls))
        return -1;
    return msgpack_pack_str_with_body(pk, s ? s : "", n) ? -1 : 0;
}

/*  A C string; NULL stands for "". */
static int s_put_cstr(msgpack_packer *pk, const char *s, s_cls_t cls)
{
    return s_put_str(pk, s, s ? strnlen(s, s_cls_max[cls] + 1) : 0, cls);
}

static int s_key(msgpack_packer *pk, const char *key)
{
    return msgpack_pack_str_with_body(pk, key, strlen(key)) ? -1 : 0;
}

static int s_kv_str(msgpack_packer *pk, const char *key, const char *s, s_cls_t cls)
{
    return s_key(pk, key) < 0 || s_put_cstr(pk, s, cls) < 0 ? -1 : 0;
}

static int s_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    return s_key(pk, key) < 0 || msgpack_pack_uint64(pk, v) ? -1 : 0;
}

static int s_put_i64(msgpack_packer *pk, int64_t v, int64_t min)
{
    return v < min || msgpack_pack_int64(pk, v) ? -1 : 0;
}

static int s_kv_i64(msgpack_packer *pk, const char *key, int64_t v, int64_t min)
{
    return s_key(pk, key) < 0 || s_put_i64(pk, v, min) < 0 ? -1 : 0;
}

static int s_kv_bool(msgpack_packer *pk, const char *key, bool v)
{
    return s_key(pk, key) < 0 || (v ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ? -1 : 0;
}

static int s_kv_u32_pair(msgpack_packer *pk, const char *key, uint32_t a, uint32_t b)
{
    return s_key(pk, key) < 0 || msgpack_pack_array(pk, 2) || msgpack_pack_uint32(pk, a) ||
                   msgpack_pack_uint32(pk, b)
               ? -1
               : 0;
}

/*  The key of an array of n entries, refused over max or without storage. */
static int s_kv_array(msgpack_packer *pk, const char *key, const void *items, size_t n, size_t max)
{
    if (n > max || (n && !items))
        return -1;
    return s_key(pk, key) < 0 || msgpack_pack_array(pk, n) ? -1 : 0;
}

/* -------------------------------------------------------------- encode: state */

static int s_put_model(msgpack_packer *pk, const wire_model_t *md)
{
    bool dn = md->display_name != NULL;
    return msgpack_pack_array(pk, S_MODEL_FIELDS + (dn ? 1 : 0)) ||
                   s_put_cstr(pk, md->name, S_NAME) < 0 ||
                   s_put_cstr(pk, md->arena_id, S_LABEL) < 0 ||
                   s_put_cstr(pk, md->modality, S_LABEL) < 0 ||
                   s_put_i64(pk, md->cooled_remaining_ms, 0) < 0 ||
                   s_put_cstr(pk, md->reason, S_LABEL) < 0 ||
                   (dn && s_put_cstr(pk, md->display_name, S_LABEL) < 0)
               ? -1
               : 0;
}

static int s_put_account(msgpack_packer *pk, const wire_account_t *ac)
{
    if (ac->n_starts > WIRE_MAX_STARTS || (ac->n_starts && !ac->starts_ago_ms) ||
        msgpack_pack_array(pk, 3) || s_put_cstr(pk, ac->id, S_ID) < 0 ||
        s_put_i64(pk, ac->flag_remaining_ms, 0) < 0 || msgpack_pack_array(pk, ac->n_starts))
        return -1;
    for (size_t i = 0; i < ac->n_starts; i++)
        if (ac->starts_ago_ms[i] > WIRE_MAX_START_AGO_MS ||
            s_put_i64(pk, ac->starts_ago_ms[i], 0) < 0)
            return -1;
    return 0;
}

static int s_put_bounded(msgpack_packer *pk, int64_t v, int64_t max)
{
    return v > max ? -1 : s_put_i64(pk, v, 0);
}

static int s_put_key_count(msgpack_packer *pk, const wire_key_count_t *kc)
{
    if (msgpack_pack_array(pk, 7) || s_put_cstr(pk, kc->name, S_ID) < 0 ||
        s_put_bounded(pk, kc->minute, WIRE_MAX_KEY_COUNT) < 0 ||
        s_put_bounded(pk, kc->hour, WIRE_MAX_KEY_COUNT) < 0 ||
        s_put_bounded(pk, kc->day, WIRE_MAX_KEY_COUNT) < 0 ||
        s_put_bounded(pk, kc->tokens, WIRE_MAX_KEY_TOKENS) < 0 ||
        s_put_bounded(pk, kc->inflight, WIRE_MAX_KEY_COUNT) < 0 || msgpack_pack_array(pk, 4))
        return -1;
    for (int i = 0; i < 4; i++)
        if (s_put_bounded(pk, kc->reset_ms[i], WIRE_MAX_KEY_RESET_MS) < 0)
            return -1;
    return 0;
}

static int s_put_state(msgpack_packer *pk, const wire_state_t *st)
{
    bool paced = st->paced_remaining_ms > 0, accounts = st->n_accounts > 0;
    bool counts = st->n_key_counts > 0;
    if (msgpack_pack_map(pk,
                         S_STATE_KEYS + (paced ? 1 : 0) + (accounts ? 1 : 0) + (counts ? 1 : 0)) ||
        s_kv_str(pk, "id", st->id, S_ID) < 0 || s_kv_str(pk, "name", st->name, S_LABEL) < 0 ||
        s_kv_str(pk, "ep", st->endpoint, S_NAME) < 0 ||
        s_kv_str(pk, "http", st->http, S_LABEL) < 0 || s_kv_u64(pk, "inc", st->incarnation) < 0 ||
        s_kv_u64(pk, "ver", st->version) < 0 || s_kv_u64(pk, "hb", st->heartbeat) < 0 ||
        s_kv_i64(pk, "start_ms", st->started_at_ms, 0) < 0 ||
        s_kv_bool(pk, "leaving", st->leaving) < 0 ||
        s_kv_u32_pair(pk, "tabs", st->tabs, st->tabs_healthy) < 0 ||
        s_kv_u32_pair(pk, "load", st->inflight, st->capacity) < 0)
        return -1;
    if (s_key(pk, "stats") < 0 || msgpack_pack_array(pk, 3) || msgpack_pack_uint64(pk, st->ok) ||
        msgpack_pack_uint64(pk, st->failed) || s_put_i64(pk, st->p50_ms, S_UNKNOWN) < 0 ||
        s_kv_i64(pk, "node_cool_ms", st->node_cooled_remaining_ms, 0) < 0 ||
        s_kv_array(pk, "models", st->models, st->n_models, WIRE_MAX_MODELS) < 0)
        return -1;
    for (size_t i = 0; i < st->n_models; i++)
        if (s_put_model(pk, &st->models[i]) < 0)
            return -1;
    if (paced && s_kv_i64(pk, "pace_ms", st->paced_remaining_ms, 0) < 0)
        return -1;
    if (accounts) {
        if (s_kv_array(pk, "accounts", st->accounts, st->n_accounts, WIRE_MAX_ACCOUNTS) < 0)
            return -1;
        for (size_t i = 0; i < st->n_accounts; i++)
            if (s_put_account(pk, &st->accounts[i]) < 0)
                return -1;
    }
    if (counts) {
        if (s_kv_array(pk, "key_counts", st->key_counts, st->n_key_counts, WIRE_MAX_KEY_COUNTS) < 0)
            return -1;
        for (size_t i = 0; i < st->n_key_counts; i++)
            if (s_put_key_count(pk, &st->key_counts[i]) < 0)
                return -1;
    }
    return 0;
}

static int s_kv_bin(msgpack_packer *pk, const char *key, const uint8_t *b, size_t n)
{
    return s_key(pk, key) < 0 || msgpack_pack_bin_with_body(pk, b, n) ? -1 : 0;
}

/*  A state as its owner signed it: the sealed bytes as they are (never a
    re-encoding), the key, the signature and the age (clamped to the
    decoder's range). Unsealed states are not sent. */
static int s_put_signed(msgpack_packer *pk, const wire_state_t *st)
{
    if (!st->sealed || st->sealed_len == 0 || st->sealed_len > WIRE_MSG_MAX)
        return -1;
    int64_t age = st->age_ms < 0 ? 0 : st->age_ms > WIRE_MAX_AGE_MS ? WIRE_MAX_AGE_MS : st->age_ms;
    return msgpack_pack_map(pk, 4) || s_kv_bin(pk, "st", st->sealed, st->sealed_len) < 0 ||
                   s_kv_bin(pk, "pk", st->pk, IDENT_PK_LEN) < 0 ||
                   s_kv_bin(pk, "sig", st->sig, IDENT_SIG_LEN) < 0 ||
                   s_kv_u64(pk, "age", (uint64_t)age) < 0
               ? -1
               : 0;
}

static int s_enc_states(msgpack_packer *pk, const wire_msg_t *m)
{
    if (s_kv_array(pk, "states", m->states, m->n_states, WIRE_MAX_PEERS) < 0)
        return -1;
    for (size_t i = 0; i < m->n_states; i++)
        if (s_put_signed(pk, &m->states[i]) < 0)
            return -1;
    return 0;
}

/* ----------------------------------------------------------- encode: by type */

/*  "state": the sender's own, states[0] (the decoder refuses another's). */
static int s_enc_own_state(msgpack_packer *pk, const wire_msg_t *m)
{
    if (m->n_states != 1 || !m->states || !m->states[0].id || !m->from ||
        strcmp(m->states[0].id, m->from) != 0)
        return -1;
    return s_key(pk, "state") < 0 || s_put_signed(pk, &m->states[0]) < 0 ? -1 : 0;
}

static int s_enc_hello(msgpack_packer *pk, const wire_msg_t *m)
{
    if (s_enc_own_state(pk, m) < 0 ||
        s_kv_array(pk, "peers", m->peers, m->n_peers, WIRE_MAX_PEERS) < 0)
        return -1;
    for (size_t i = 0; i < m->n_peers; i++)
        if (msgpack_pack_map(pk, 2) || s_kv_str(pk, "id", m->peers[i].id, S_ID) < 0 ||
            s_kv_str(pk, "ep", m->peers[i].endpoint, S_NAME) < 0)
            return -1;
    return 0;
}

static int s_enc_digest(msgpack_packer *pk, const wire_msg_t *m)
{
    if (m->n_versions > WIRE_MAX_PEERS || (m->n_versions && !m->versions))
        return -1;
    if (s_key(pk, "versions") < 0 || msgpack_pack_map(pk, m->n_versions))
        return -1;
    for (size_t i = 0; i < m->n_versions; i++) {
        const char *id = m->versions[i].id;
        for (size_t j = 0; j < i && id; j++) /* the decoder refuses a key twice */
            if (m->versions[j].id && strcmp(m->versions[j].id, id) == 0)
                return -1;
        if (s_put_cstr(pk, id, S_ID) < 0 || msgpack_pack_uint64(pk, m->versions[i].version))
            return -1;
    }
    return 0;
}

static int s_enc_ping(msgpack_packer *pk, const wire_msg_t *m)
{
    return s_kv_u64(pk, "seq", m->seq);
}

static int s_enc_ping_req(msgpack_packer *pk, const wire_msg_t *m)
{
    return s_kv_u64(pk, "seq", m->seq) < 0 || s_kv_str(pk, "target", m->target, S_ID) < 0 ? -1 : 0;
}

static int s_enc_leave(msgpack_packer *pk, const wire_msg_t *m)
{
    if (m->n_states != 1 || !m->states || !m->states[0].leaving)
        return -1;
    return s_kv_u64(pk, "inc", m->incarnation) < 0 || s_enc_own_state(pk, m) < 0 ? -1 : 0;
}

static int s_enc_rid(msgpack_packer *pk, const wire_msg_t *m)
{
    return s_kv_str(pk, "rid", m->rid, S_ID);
}

static int s_enc_fwd(msgpack_packer *pk, const wire_msg_t *m)
{
    return s_enc_rid(pk, m) < 0 || s_kv_str(pk, "model", m->model, S_NAME) < 0 ||
                   s_key(pk, "req") < 0 || s_put_str(pk, m->request, m->request_len, S_BLOB) < 0 ||
                   s_kv_bool(pk, "stream", m->stream) < 0 ||
                   s_kv_i64(pk, "deadline_ms", m->deadline_ms, 0) < 0 ||
                   s_kv_u64(pk, "attempt", m->attempt) < 0 ||
                   (m->has_credit &&
                    (m->credit > WIRE_MAX_CREDIT || s_kv_u64(pk, "credit", m->credit) < 0)) ||
                   (m->client && s_kv_str(pk, "client", m->client, S_ID) < 0) ||
                   (m->request_id && s_kv_str(pk, "request_id", m->request_id, S_ID) < 0)
               ? -1
               : 0;
}

static int s_enc_credit(msgpack_packer *pk, const wire_msg_t *m)
{
    return (m->credit == 0 && !m->has_ack) || m->credit > WIRE_MAX_CREDIT ||
                   (m->has_ack && m->ack > WIRE_MAX_SEQ) || s_enc_rid(pk, m) < 0 ||
                   s_kv_u64(pk, "n", m->credit) < 0 ||
                   (m->has_ack && s_kv_u64(pk, "ack", m->ack) < 0)
               ? -1
               : 0;
}

static int s_enc_reject(msgpack_packer *pk, const wire_msg_t *m)
{
    if (s_enc_rid(pk, m) < 0 || s_kv_str(pk, "reason", m->reason, S_LABEL) < 0)
        return -1;
    return m->n_states ? s_enc_own_state(pk, m) : 0;
}

static int s_enc_chunk(msgpack_packer *pk, const wire_msg_t *m)
{
    if (s_enc_rid(pk, m) < 0 || s_kv_u64(pk, "seq", m->chunk_seq) < 0 ||
        s_kv_array(pk, "d", m->deltas, m->n_deltas, WIRE_MAX_DELTAS) < 0)
        return -1;
    for (size_t i = 0; i < m->n_deltas; i++) {
        const wire_delta_t *d = &m->deltas[i];
        if ((unsigned)d->kind > DELTA_CITATION || msgpack_pack_array(pk, 2) ||
            msgpack_pack_uint8(pk, (uint8_t)d->kind) || s_put_str(pk, d->text, d->len, S_BLOB) < 0)
            return -1;
    }
    return 0;
}

static int s_enc_chunks(msgpack_packer *pk, const wire_msg_t *m)
{
    return m->has_chunks ? s_kv_u64(pk, "chunks", m->chunks) : 0;
}

static int s_enc_end(msgpack_packer *pk, const wire_msg_t *m)
{
    return s_enc_rid(pk, m) < 0 || s_kv_str(pk, "finish", m->finish_reason, S_LABEL) < 0 ||
                   s_kv_i64(pk, "pt", m->prompt_tokens, S_UNKNOWN) < 0 ||
                   s_kv_i64(pk, "ct", m->completion_tokens, S_UNKNOWN) < 0 ||
                   s_enc_chunks(pk, m) < 0
               ? -1
               : 0;
}

static int s_enc_fail(msgpack_packer *pk, const wire_msg_t *m)
{
    if (m->status < S_STATUS_MIN || m->status > S_STATUS_MAX)
        return -1;
    return s_enc_rid(pk, m) < 0 || s_kv_i64(pk, "status", m->status, S_STATUS_MIN) < 0 ||
                   s_kv_str(pk, "code", m->code, S_LABEL) < 0 ||
                   s_kv_str(pk, "msg", m->message, S_MSG) < 0 ||
                   s_kv_bool(pk, "retry", m->retryable) < 0 ||
                   s_kv_i64(pk, "cool_ms", m->cooled_remaining_ms, 0) < 0 || s_enc_chunks(pk, m) < 0
               ? -1
               : 0;
}

/* ------------------------------------------------------------ encode: records */

static int s_put_record_fields(msgpack_packer *pk, const wire_record_t *r)
{
    if (!r->table || strlen(r->table) > WIRE_MAX_TABLE || r->version_ms == 0 ||
        r->version_ms > (uint64_t)INT64_MAX || r->payload_len > WIRE_MAX_PAYLOAD ||
        (r->payload_len && !r->payload))
        return -1;
    return msgpack_pack_map(pk, 6) || s_kv_str(pk, "tbl", r->table, S_ID) < 0 ||
                   s_kv_str(pk, "k", r->key, S_RKEY) < 0 ||
                   s_kv_u64(pk, "ver", r->version_ms) < 0 ||
                   s_kv_str(pk, "node", r->node, S_ID) < 0 || s_kv_bool(pk, "tomb", r->tomb) < 0 ||
                   s_kv_bin(pk, "p", r->payload ? r->payload : (const uint8_t *)"",
                            r->payload_len) < 0
               ? -1
               : 0;
}

/*  A record as its writer signed it (the sealed bytes as they are). */
static int s_put_signed_record(msgpack_packer *pk, const wire_record_t *r)
{
    if (!r->sealed || r->sealed_len == 0 || r->sealed_len > WIRE_MSG_MAX)
        return -1;
    return msgpack_pack_map(pk, 3) || s_kv_bin(pk, "r", r->sealed, r->sealed_len) < 0 ||
                   s_kv_bin(pk, "pk", r->pk, IDENT_PK_LEN) < 0 ||
                   s_kv_bin(pk, "sig", r->sig, IDENT_SIG_LEN) < 0
               ? -1
               : 0;
}

static int s_enc_records(msgpack_packer *pk, const wire_msg_t *m)
{
    if (s_kv_array(pk, "recs", m->records, m->n_records, WIRE_MAX_RECORDS) < 0)
        return -1;
    for (size_t i = 0; i < m->n_records; i++)
        if (s_put_signed_record(pk, &m->records[i]) < 0)
            return -1;
    return 0;
}

static int s_enc_tsum(msgpack_packer *pk, const wire_msg_t *m)
{
    if (!m->table || strlen(m->table) > WIRE_MAX_TABLE || s_kv_str(pk, "tbl", m->table, S_ID) < 0 ||
        s_kv_u64(pk, "root", m->root) < 0 || (m->want && s_kv_bool(pk, "want", true) < 0))
        return -1;
    if (!m->n_buckets)
        return 0;
    if (!m->buckets || !s_pow2(m->n_buckets) || m->n_buckets > WIRE_MAX_BUCKETS)
        return -1;
    uint8_t *b = malloc((size_t)m->n_buckets * 8);
    if (!b)
        return -1;
    for (uint32_t i = 0; i < m->n_buckets; i++)
        for (int j = 0; j < 8; j++)
            b[8 * i + (uint32_t)j] = (uint8_t)(m->buckets[i] >> (56 - 8 * j));
    int rc = s_kv_bin(pk, "b", b, (size_t)m->n_buckets * 8);
    free(b);
    return rc;
}

/* --------------------------------------------------------------- the types */

typedef struct {
    const char *name;
    uint32_t keys; /* required map entries besides v, t and from */
    int (*decode)(const msgpack_object *root, wire_msg_t *m, s_err_t *e);
    int (*encode)(msgpack_packer *pk, const wire_msg_t *m);
} s_type_t;

static const s_type_t s_types[] = {
    [WIRE_HELLO] = {"hello", 2, s_dec_hello, s_enc_hello},
    [WIRE_DIGEST] = {"digest", 1, s_dec_digest, s_enc_digest},
    [WIRE_DELTA] = {"delta", 1, s_dec_states, s_enc_states},
    [WIRE_PUSH] = {"push", 1, s_dec_states, s_enc_states},
    [WIRE_PING] = {"ping", 1, s_dec_ping, s_enc_ping},
    [WIRE_ACK] = {"ack", 1, s_dec_ping, s_enc_ping},
    [WIRE_PING_REQ] = {"ping-req", 2, s_dec_ping_req, s_enc_ping_req},
    [WIRE_LEAVE] = {"leave", 2, s_dec_leave, s_enc_leave},
    [WIRE_FWD] = {"fwd", 6, s_dec_fwd, s_enc_fwd},
    [WIRE_REJECT] = {"reject", 2, s_dec_reject, s_enc_reject},
    [WIRE_CHUNK] = {"chunk", 3, s_dec_chunk, s_enc_chunk},
    [WIRE_END] = {"end", 4, s_dec_end, s_enc_end},
    [WIRE_FAIL] = {"fail", 6, s_dec_fail, s_enc_fail},
    [WIRE_CANCEL] = {"cancel", 1, s_dec_rid, s_enc_rid},
    [WIRE_CREDIT] = {"credit", 2, s_dec_credit, s_enc_credit},
    [WIRE_TSUM] = {"tsum", 2, s_dec_tsum, s_enc_tsum},
    [WIRE_RECORDS] = {"records", 1, s_dec_records, s_enc_records},
};

#define S_N_TYPES (sizeof s_types / sizeof s_types[0])

static const s_type_t *s_type(wire_type_t t)
{
    return (size_t)t > 0 && (size_t)t < S_N_TYPES ? &s_types[t] : NULL;
}

/*  The optional keys m carries (reject: "state"; end, fail: "chunks";
    fwd: "credit", "client", "request_id"; credit: "ack"). */
static uint32_t s_opt_keys(const wire_msg_t *m)
{
    switch (m->type) {
    case WIRE_FWD:
        return (m->has_credit ? 1u : 0u) + (m->client ? 1u : 0u) + (m->request_id ? 1u : 0u);
    case WIRE_REJECT:
        return m->n_states ? 1 : 0;
    case WIRE_END:
    case WIRE_FAIL:
        return m->has_chunks ? 1 : 0;
    case WIRE_CREDIT:
        return m->has_ack ? 1 : 0;
    case WIRE_TSUM:
        return (m->n_buckets ? 1u : 0u) + (m->want ? 1u : 0u);
    default:
        return 0;
    }
}

const char *wire_type_name(wire_type_t t)
{
    const s_type_t *ty = s_type(t);
    return ty ? ty->name : "unknown";
}

/* ------------------------------------------------------------------ decode */

static int s_dec_message(const msgpack_object *root, wire_msg_t *m, s_err_t *e)
{
    uint64_t v;
    if (s_map_ok(root, "the message", WIRE_MSG_MAX_KEYS, e) < 0 || s_u64(root, "v", &v, e) < 0)
        return -1;
    if (v != WIRE_MSG_VERSION)
        return s_fail(e, "version %" PRIu64 " is not %d", v, WIRE_MSG_VERSION);
    const msgpack_object *t = s_need(root, "t", e);
    if (!t)
        return -1;
    if (t->type != MSGPACK_OBJECT_STR)
        return s_fail(e, "\"t\" is not a string");
    for (size_t i = 1; i < S_N_TYPES; i++)
        if (s_str_eq(t, s_types[i].name, strlen(s_types[i].name)))
            m->type = (wire_type_t)i;
    if (!m->type)
        return s_fail(e, "unknown type \"t\"");
    if (s_str(root, "from", S_ID, &m->from, NULL, e) < 0)
        return -1;
    return s_types[m->type].decode(root, m, e);
}

wire_msg_rc_t wire_msg_decode(const uint8_t *buf, size_t len, wire_msg_t *out, char *err,
                              size_t errlen)
{
    s_err_t e = {err, errlen, NULL, false};
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (len > WIRE_MSG_MAX) {
        s_fail(&e, "%zu bytes is over the %u-byte limit", len, WIRE_MSG_MAX);
        return WIRE_MSG_TOOBIG;
    }
    if (!buf || len == 0) {
        s_fail(&e, "empty message");
        return WIRE_MSG_MALFORMED;
    }
    if (s_scan(buf, len, &e) < 0)
        return WIRE_MSG_MALFORMED;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return urc = msgpack_unpack_next(&up, (const char *)buf, len, &off);
    int rc = -1;
    if (urc != MSGPACK_UNPACK_SUCCESS || off != len)
        s_fail(&e, "msgpack-c refused the message (%d)", (int)urc);
    else
        rc = s_dec_message(&up.data, out, &e);
    msgpack_unpacked_destroy(&up);
    if (rc < 0) {
        wire_msg_clear(out);
        return e.forged ? WIRE_MSG_FORGED : WIRE_MSG_MALFORMED;
    }
    return WIRE_MSG_OK;
}

/* ------------------------------------------------------------------ encode */

int wire_msg_encode(const wire_msg_t *msg, abuf_t *out)
{
    const s_type_t *ty = s_type(msg->type);
    if (!ty)
        return -1;
    abuf_t b = ABUF_INIT;
    b.max = WIRE_MSG_MAX;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, s_write);
    s_err_t e = {NULL, 0, NULL, false}; /* s_scan's reason is not reported */
    int rc = msgpack_pack_map(&pk, 3 + ty->keys + s_opt_keys(msg)) ||
                     s_kv_u64(&pk, "v", WIRE_MSG_VERSION) < 0 ||
                     s_kv_str(&pk, "t", ty->name, S_NAME) < 0 ||
                     s_kv_str(&pk, "from", msg->from, S_ID) < 0 || ty->encode(&pk, msg) < 0 ||
                     s_scan((const uint8_t *)b.data, b.len, &e) < 0 ||
                     abuf_append(out, b.data, b.len) < 0
                 ? -1
                 : 0;
    abuf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ clear and copy */

void wire_state_clear(wire_state_t *st)
{
    if (!st)
        return;
    free(st->id);
    free(st->name);
    free(st->endpoint);
    free(st->http);
    for (size_t i = 0; i < st->n_models; i++) {
        free(st->models[i].name);
        free(st->models[i].arena_id);
        free(st->models[i].modality);
        free(st->models[i].reason);
        free(st->models[i].display_name);
    }
    free(st->models);
    for (size_t i = 0; i < st->n_accounts; i++) {
        free(st->accounts[i].id);
        free(st->accounts[i].starts_ago_ms);
    }
    free(st->accounts);
    for (size_t i = 0; i < st->n_key_counts; i++)
        free(st->key_counts[i].name);
    free(st->key_counts);
    free(st->sealed);
    memset(st, 0, sizeof *st);
}

void wire_msg_clear(wire_msg_t *msg)
{
    if (!msg)
        return;
    free(msg->from);
    for (size_t i = 0; i < msg->n_states; i++)
        wire_state_clear(&msg->states[i]);
    free(msg->states);
    for (size_t i = 0; i < msg->n_peers; i++) {
        free(msg->peers[i].id);
        free(msg->peers[i].endpoint);
    }
    free(msg->peers);
    for (size_t i = 0; i < msg->n_versions; i++)
        free(msg->versions[i].id);
    free(msg->versions);
    for (size_t i = 0; i < msg->n_deltas; i++)
        free(msg->deltas[i].text);
    free(msg->deltas);
    free(msg->target);
    free(msg->rid);
    free(msg->model);
    free(msg->request);
    free(msg->client);
    free(msg->request_id);
    free(msg->reason);
    free(msg->finish_reason);
    free(msg->code);
    free(msg->message);
    free(msg->table);
    free(msg->buckets);
    for (size_t i = 0; i < msg->n_records; i++)
        wire_record_clear(&msg->records[i]);
    free(msg->records);
    memset(msg, 0, sizeof *msg);
}

/*  *dst = a copy of src (NULL stays NULL). */
static int s_copy_str(char **dst, const char *src)
{
    *dst = src ? s_dup(src, strlen(src)) : NULL;
    return src && !*dst ? -1 : 0;
}

static int s_copy_model(wire_model_t *dst, const wire_model_t *src)
{
    *dst = *src;
    dst->name = dst->arena_id = dst->modality = dst->reason = dst->display_name = NULL;
    return s_copy_str(&dst->name, src->name) < 0 || s_copy_str(&dst->arena_id, src->arena_id) < 0 ||
                   s_copy_str(&dst->modality, src->modality) < 0 ||
                   s_copy_str(&dst->reason, src->reason) < 0 ||
                   s_copy_str(&dst->display_name, src->display_name) < 0
               ? -1
               : 0;
}

static int s_copy_account(wire_account_t *dst, const wire_account_t *src)
{
    *dst = *src;
    dst->id = NULL;
    dst->starts_ago_ms = NULL;
    dst->n_starts = 0;
    if (s_copy_str(&dst->id, src->id) < 0)
        return -1;
    if (src->n_starts) {
        if (!src->starts_ago_ms ||
            !(dst->starts_ago_ms = malloc(src->n_starts * sizeof *dst->starts_ago_ms)))
            return -1;
        memcpy(dst->starts_ago_ms, src->starts_ago_ms, src->n_starts * sizeof *dst->starts_ago_ms);
        dst->n_starts = src->n_starts;
    }
    return 0;
}

int wire_state_copy(wire_state_t *dst, const wire_state_t *src)
{
    *dst = *src;
    dst->id = dst->name = dst->endpoint = dst->http = NULL;
    dst->models = NULL;
    dst->n_models = 0;
    dst->accounts = NULL;
    dst->n_accounts = 0;
    dst->key_counts = NULL;
    dst->n_key_counts = 0;
    dst->sealed = NULL;
    dst->sealed_len = 0;
    if (src->sealed && src->sealed_len) {
        if (!(dst->sealed = malloc(src->sealed_len)))
            goto err;
        memcpy(dst->sealed, src->sealed, src->sealed_len);
        dst->sealed_len = src->sealed_len;
    }
    if (s_copy_str(&dst->id, src->id) < 0 || s_copy_str(&dst->name, src->name) < 0 ||
        s_copy_str(&dst->endpoint, src->endpoint) < 0 || s_copy_str(&dst->http, src->http) < 0)
        goto err;
    if (src->n_models) {
        if (!src->models || !(dst->models = calloc(src->n_models, sizeof *dst->models)))
            goto err;
        for (size_t i = 0; i < src->n_models; i++) {
            dst->n_models = i + 1; /* what clear must free, even half done */
            if (s_copy_model(&dst->models[i], &src->models[i]) < 0)
                goto err;
        }
    }
    if (src->n_accounts) {
        if (!src->accounts || !(dst->accounts = calloc(src->n_accounts, sizeof *dst->accounts)))
            goto err;
        for (size_t i = 0; i < src->n_accounts; i++) {
            dst->n_accounts = i + 1;
            if (s_copy_account(&dst->accounts[i], &src->accounts[i]) < 0)
                goto err;
        }
    }
    if (src->n_key_counts) {
        if (!src->key_counts ||
            !(dst->key_counts = calloc(src->n_key_counts, sizeof *dst->key_counts)))
            goto err;
        for (size_t i = 0; i < src->n_key_counts; i++) {
            dst->n_key_counts = i + 1;
            dst->key_counts[i] = src->key_counts[i];
            dst->key_counts[i].name = NULL;
            if (s_copy_str(&dst->key_counts[i].name, src->key_counts[i].name) < 0)
                goto err;
        }
    }
    return 0;
err:
    wire_state_clear(dst);
    return -1;
}

int wire_state_seal(wire_state_t *st, const uint8_t sk[IDENT_SK_LEN])
{
    abuf_t b = ABUF_INIT;
    b.max = WIRE_MSG_MAX;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, s_write);
    s_err_t e = {NULL, 0, NULL, false};
    uint8_t sig[IDENT_SIG_LEN];
    uint8_t *sealed = NULL;
    int rc = -1;
    if (s_put_state(&pk, st) < 0 || b.len == 0 || s_scan((const uint8_t *)b.data, b.len, &e) < 0 ||
        ident_sign_state(sk, (const uint8_t *)b.data, b.len, sig) < 0 || !(sealed = malloc(b.len)))
        goto done;
    memcpy(sealed, b.data, b.len);
    free(st->sealed);
    st->sealed = sealed;
    st->sealed_len = b.len;
    ident_sk_pk(sk, st->pk);
    memcpy(st->sig, sig, sizeof sig);
    rc = 0;
done:
    abuf_free(&b);
    return rc;
}

/* ----------------------------------------------------------------- records */

void wire_record_clear(wire_record_t *rec)
{
    if (!rec)
        return;
    free(rec->table);
    free(rec->key);
    free(rec->node);
    free(rec->payload);
    free(rec->sealed);
    memset(rec, 0, sizeof *rec);
}

static int s_copy_bytes(uint8_t **dst, const uint8_t *src, size_t n)
{
    *dst = NULL;
    if (!src)
        return 0;
    if (!(*dst = malloc(n ? n : 1)))
        return -1;
    if (n)
        memcpy(*dst, src, n);
    return 0;
}

int wire_record_copy(wire_record_t *dst, const wire_record_t *src)
{
    *dst = *src;
    dst->table = dst->key = dst->node = NULL;
    dst->payload = dst->sealed = NULL;
    if (s_copy_str(&dst->table, src->table) < 0 || s_copy_str(&dst->key, src->key) < 0 ||
        s_copy_str(&dst->node, src->node) < 0 ||
        s_copy_bytes(&dst->payload, src->payload, src->payload_len) < 0 ||
        s_copy_bytes(&dst->sealed, src->sealed, src->sealed_len) < 0) {
        wire_record_clear(dst);
        return -1;
    }
    return 0;
}

int wire_record_seal(wire_record_t *rec, const uint8_t sk[IDENT_SK_LEN])
{
    abuf_t b = ABUF_INIT;
    b.max = WIRE_MSG_MAX;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, s_write);
    s_err_t e = {NULL, 0, NULL, false};
    uint8_t sig[IDENT_SIG_LEN];
    uint8_t *sealed = NULL;
    int rc = -1;
    if (s_put_record_fields(&pk, rec) < 0 || b.len == 0 ||
        s_scan((const uint8_t *)b.data, b.len, &e) < 0 ||
        ident_sign_record(sk, (const uint8_t *)b.data, b.len, sig) < 0 || !(sealed = malloc(b.len)))
        goto done;
    memcpy(sealed, b.data, b.len);
    free(rec->sealed);
    rec->sealed = sealed;
    rec->sealed_len = b.len;
    ident_sk_pk(sk, rec->pk);
    memcpy(rec->sig, sig, sizeof sig);
    rc = 0;
done:
    abuf_free(&b);
    return rc;
}

int wire_record_pack(const wire_record_t *rec, abuf_t *out)
{
    abuf_t b = ABUF_INIT;
    b.max = WIRE_MSG_MAX;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, s_write);
    int rc = s_put_signed_record(&pk, rec) < 0 || abuf_append(out, b.data, b.len) < 0 ? -1 : 0;
    abuf_free(&b);
    return rc;
}

wire_msg_rc_t wire_record_unpack(const uint8_t *buf, size_t len, wire_record_t *out, char *err,
                                 size_t errlen)
{
    s_err_t e = {err, errlen, NULL, false};
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (!buf || len == 0 || len > WIRE_MSG_MAX) {
        s_fail(&e, "no record, or one over %u bytes", WIRE_MSG_MAX);
        return WIRE_MSG_MALFORMED;
    }
    if (s_scan(buf, len, &e) < 0)
        return WIRE_MSG_MALFORMED;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&up, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        s_fail(&e, "msgpack-c refused the record");
    else
        rc = s_dec_record(&up.data, out, &e);
    msgpack_unpacked_destroy(&up);
    if (rc < 0) {
        wire_record_clear(out);
        return e.forged ? WIRE_MSG_FORGED : WIRE_MSG_MALFORMED;
    }
    return WIRE_MSG_OK;
}
