/*  arena_catalog — see arena_catalog.h. Owns the reading of LMArena's model
    list out of a page's HTML.

    Two passes, flight data first (so its rows win de-duplication):
      1. every `self.__next_f.push([<n>,"…"])` string literal is decoded with
         jansson and the decoded chunks are concatenated in page order (Next.js
         may split one JSON row across two pushes); a literal that is cut short
         or broken is decoded up to the last point jansson accepts;
      2. the raw HTML itself, for pages that carry the list unescaped (a JSON
         <script> block).
    In each text a model is a JSON object with an "id" (UUID), a "publicName"
    and a "capabilities" object. Values are tried only at chosen '{' positions:
    those opening with an "id" key, and the few nearest before a "publicName"
    key. A cheap bracket scan measures the value there first and gives up past
    CATALOG_OBJ_DEPTH levels or CATALOG_WINDOW bytes, so only small whole values
    reach jansson and a failed try costs little; all tries on one text read at
    most CATALOG_BUDGET_PER_BYTE bytes per input byte, so even a hostile page
    costs linear time. Parsed values are searched recursively for models.

    Model rules: outputCapabilities "image" -> image, "search" -> search, else
    chat; video-only models are skipped (nothing can serve them); input_image
    when inputCapabilities.image is true (or an object of image options);
    publicName (and organization/provider/displayName, else NULL) 1..200
    bytes without control characters or edge spaces; user_selectable unless
    "userSelectable" is false. Every row is kept in page order (twins that
    share a publicName too); only a repeat of an id already kept is dropped,
    first wins.

    Threading: no state; any thread. */
#define _GNU_SOURCE /* memmem, memrchr */
#include "protocol/arena_catalog.h"

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/uuid7.h"

#define CATALOG_DEFAULT_MAX_MODELS 4096
#define CATALOG_NAME_MAX 200
#define CATALOG_WINDOW (64 * 1024) /* largest object handed to jansson */
#define CATALOG_OBJ_DEPTH 16       /* deepest such object (a model is ~6) */
#define CATALOG_BUDGET_PER_BYTE 32
#define CATALOG_BUDGET_BASE (1024 * 1024)
#define CATALOG_WALKBACK_BYTES 1024
#define CATALOG_WALKBACK_TRIES 8
#define CATALOG_MAX_DEPTH 64
#define CATALOG_LITERAL_RETRIES 4

static const char s_push_marker[] = "self.__next_f.push(";
static const char s_public_name_key[] = "\"publicName\"";

typedef struct {
    arena_model_t *models;
    size_t n, cap, max;
    size_t *slots;  /* hash set of ids: model index + 1, 0 when free */
    size_t n_slots; /* a power of two, or 0 */
    size_t budget;  /* bytes the tries may still read in the current text */
    bool full;      /* max models reached: stop scanning */
    bool oom;
} s_ctx_t;

/* ---- models --------------------------------------------------------------- */

void arena_model_clear(arena_model_t *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->name);
    free(m->organization);
    free(m->provider);
    free(m->display_name);
    free(m->aspect_ratios);
    memset(m, 0, sizeof *m);
}

static int s_dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

int arena_model_copy(arena_model_t *dst, const arena_model_t *src)
{
    memset(dst, 0, sizeof *dst);
    if (s_dup_opt(&dst->id, src->id) < 0 || s_dup_opt(&dst->name, src->name) < 0 ||
        s_dup_opt(&dst->organization, src->organization) < 0 ||
        s_dup_opt(&dst->provider, src->provider) < 0 ||
        s_dup_opt(&dst->display_name, src->display_name) < 0 ||
        s_dup_opt(&dst->aspect_ratios, src->aspect_ratios) < 0) {
        arena_model_clear(dst);
        return -1;
    }
    dst->modality = src->modality;
    dst->input_image = src->input_image;
    dst->user_selectable = src->user_selectable;
    return 0;
}

long long arena_model_created_ms(const arena_model_t *m)
{
    return m ? uuid7_time_ms(m->id) : 0;
}

void arena_catalog_clear(arena_catalog_t *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n; i++)
        arena_model_clear(&cat->models[i]);
    free(cat->models);
    cat->models = NULL;
    cat->n = 0;
}

/* ---- validation of one parsed object -------------------------------------- */

/* 1..CATALOG_NAME_MAX bytes, no control characters (C0, DEL, C1), no NUL, no
   space at either end. jansson has already checked the UTF-8. */
static bool s_valid_name(json_t *v)
{
    if (!json_is_string(v))
        return false;
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0 || len > CATALOG_NAME_MAX || s[0] == ' ' || s[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return false;
        if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return false;
    }
    return true;
}

static bool s_truthy(json_t *v)
{
    return v && !json_is_null(v) && !json_is_false(v);
}

/* -1: not a model; 0: a video-only model (cannot be served); 1: chat/image/search. */
static int s_modality(json_t *caps, arena_modality_t *out)
{
    json_t *outc = json_object_get(caps, "outputCapabilities");
    *out = ARENA_MODALITY_CHAT;
    if (!json_is_object(outc))
        return 1;
    if (s_truthy(json_object_get(outc, "image"))) {
        *out = ARENA_MODALITY_IMAGE;
        return 1;
    }
    if (s_truthy(json_object_get(outc, "search"))) {
        *out = ARENA_MODALITY_SEARCH;
        return 1;
    }
    if (s_truthy(json_object_get(outc, "video")) && !s_truthy(json_object_get(outc, "text")))
        return 0;
    return 1;
}

static bool s_looks_like_model(json_t *obj)
{
    return json_is_string(json_object_get(obj, "id")) &&
           json_is_string(json_object_get(obj, "publicName")) &&
           json_is_object(json_object_get(obj, "capabilities"));
}

static const char *s_opt_name(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return s_valid_name(v) ? json_string_value(v) : NULL;
}

/* 1 when s is W:H with 1..4 digits each side and neither side zero. */
static bool s_aspect_ok(const char *s)
{
    size_t w = strspn(s, "0123456789");
    if (w == 0 || w > 4 || s[w] != ':' || strspn(s, "0") >= w)
        return false;
    const char *h = s + w + 1;
    size_t hn = strspn(h, "0123456789");
    return hn > 0 && hn <= 4 && h[hn] == '\0' && strspn(h, "0") < hn;
}

/* outputCapabilities.image.aspectRatios joined into buf (ARENA_ASPECT_RATIOS_MAX
   bytes): the well-formed ones, at most ARENA_MAX_ASPECT_RATIOS; NULL: none. */
static char *s_aspect_ratios(json_t *caps, char *buf)
{
    json_t *outc = json_object_get(caps, "outputCapabilities");
    json_t *img = json_is_object(outc) ? json_object_get(outc, "image") : NULL;
    json_t *list = json_is_object(img) ? json_object_get(img, "aspectRatios") : NULL;
    size_t pos = 0, kept = 0, i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(list, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !s_aspect_ok(s) || kept == ARENA_MAX_ASPECT_RATIOS)
            continue;
        pos +=
            (size_t)snprintf(buf + pos, ARENA_ASPECT_RATIOS_MAX - pos, "%s%s", kept ? "," : "", s);
        kept++;
    }
    return kept ? buf : NULL;
}

/* Fills a borrowed view of obj (strings still owned by obj, or by aspect_buf:
   ARENA_ASPECT_RATIOS_MAX bytes); 1 when it is a servable model, 0 when it
   must be skipped. */
static int s_model_view(json_t *obj, arena_model_t *m, char *aspect_buf)
{
    json_t *id = json_object_get(obj, "id");
    json_t *name = json_object_get(obj, "publicName");
    json_t *caps = json_object_get(obj, "capabilities");
    if (json_string_length(id) != UUID_STR_LEN - 1 || !uuid_is_valid(json_string_value(id)) ||
        !s_valid_name(name))
        return 0;
    if (s_modality(caps, &m->modality) <= 0)
        return 0;
    json_t *inc = json_object_get(caps, "inputCapabilities");
    json_t *img = json_is_object(inc) ? json_object_get(inc, "image") : NULL;
    m->input_image = json_is_true(img) || json_is_object(img);
    m->id = (char *)json_string_value(id);
    m->name = (char *)json_string_value(name);
    m->organization = (char *)s_opt_name(obj, "organization");
    m->provider = (char *)s_opt_name(obj, "provider");
    m->display_name = (char *)s_opt_name(obj, "displayName");
    m->user_selectable = !json_is_false(json_object_get(obj, "userSelectable"));
    m->aspect_ratios =
        m->modality == ARENA_MODALITY_IMAGE ? s_aspect_ratios(caps, aspect_buf) : NULL;
    return 1;
}

/* ---- the list, de-duplicated by id ---------------------------------------- */

static size_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding id, or the free slot where it would go. */
static size_t s_slot(const s_ctx_t *ctx, const char *id)
{
    size_t mask = ctx->n_slots - 1;
    size_t i = s_hash(id) & mask;
    while (ctx->slots[i] && strcmp(ctx->models[ctx->slots[i] - 1].id, id) != 0)
        i = (i + 1) & mask;
    return i;
}

static int s_grow(s_ctx_t *ctx)
{
    if (ctx->n < ctx->cap)
        return 0;
    size_t cap = ctx->cap ? ctx->cap * 2 : 32;
    if (cap > ctx->max)
        cap = ctx->max;
    arena_model_t *models = realloc(ctx->models, cap * sizeof *models);
    if (!models)
        return -1;
    ctx->models = models;
    ctx->cap = cap;
    size_t n_slots = 64;
    while (n_slots < cap * 2)
        n_slots *= 2;
    if (n_slots == ctx->n_slots)
        return 0;
    size_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots)
        return -1;
    free(ctx->slots);
    ctx->slots = slots;
    ctx->n_slots = n_slots;
    for (size_t i = 0; i < ctx->n; i++)
        ctx->slots[s_slot(ctx, ctx->models[i].id)] = i + 1;
    return 0;
}

/* Keeps a copy of view unless its id is already there (first wins). */
static void s_add(s_ctx_t *ctx, const arena_model_t *view)
{
    if (ctx->n_slots && ctx->slots[s_slot(ctx, view->id)])
        return;
    if (s_grow(ctx) < 0 || arena_model_copy(&ctx->models[ctx->n], view) < 0) {
        ctx->oom = true;
        return;
    }
    ctx->slots[s_slot(ctx, view->id)] = ++ctx->n;
    if (ctx->n >= ctx->max)
        ctx->full = true;
}

/* Walks a parsed value; returns how many model-shaped objects it holds. */
static size_t s_collect(s_ctx_t *ctx, json_t *v, size_t depth)
{
    if (depth > CATALOG_MAX_DEPTH || ctx->full || ctx->oom)
        return 0;
    size_t found = 0;
    if (json_is_object(v)) {
        if (s_looks_like_model(v)) {
            arena_model_t view;
            char aspect[ARENA_ASPECT_RATIOS_MAX];
            if (s_model_view(v, &view, aspect) == 1)
                s_add(ctx, &view);
            return 1;
        }
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child)
        {
            found += s_collect(ctx, child, depth + 1);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            found += s_collect(ctx, child, depth + 1);
        }
    }
    return found;
}

/* ---- scanning one text for model objects ---------------------------------- */

static bool s_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t s_skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && s_is_ws(t[i]))
        i++;
    return i;
}

/* '{' at q opens an object whose first key is "id". */
static bool s_id_first(const char *t, size_t len, size_t q)
{
    size_t i = s_skip_ws(t, len, q + 1);
    if (len - i < 4 || memcmp(t + i, "\"id\"", 4) != 0)
        return false;
    i = s_skip_ws(t, len, i + 4);
    return i < len && t[i] == ':';
}

static void s_spend(s_ctx_t *ctx, size_t bytes)
{
    ctx->budget -= bytes < ctx->budget ? bytes : ctx->budget;
}

/* Length of the bracket-balanced value opening at q (strings and escapes
   respected), or 0 when it is deeper than CATALOG_OBJ_DEPTH, longer than
   CATALOG_WINDOW, holds a raw control character in a string, or is cut off.
   Cheap and allocation-free: it keeps big or deep containers away from jansson. */
static size_t s_extent(s_ctx_t *ctx, const char *t, size_t len, size_t q)
{
    size_t limit = len - q < CATALOG_WINDOW ? len : q + CATALOG_WINDOW;
    size_t depth = 0, i = q;
    bool in_str = false;
    for (; i < limit; i++) {
        unsigned char c = (unsigned char)t[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            else if (c < 0x20)
                break;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > CATALOG_OBJ_DEPTH)
                break;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                s_spend(ctx, i + 1 - q);
                return i + 1 - q;
            }
        }
    }
    s_spend(ctx, i - q + 1);
    return 0;
}

/* Parses the value opening at q. Returns the model-shaped objects found in
   it, or -1 when it is not one whole JSON value; *end is where it ends. */
static long s_try_at(s_ctx_t *ctx, const char *t, size_t len, size_t q, size_t *end)
{
    if (ctx->budget == 0)
        return -1;
    size_t n = s_extent(ctx, t, len, q);
    if (n == 0)
        return -1;
    s_spend(ctx, n);
    json_t *v = json_loadb(t + q, n, 0, NULL);
    if (!v)
        return -1;
    *end = q + n;
    long found = (long)s_collect(ctx, v, 0);
    json_decref(v);
    return found;
}

static const char *s_find(const char *t, size_t len, size_t from, const char *needle, size_t nlen)
{
    if (from >= len)
        return NULL;
    return memmem(t + from, len - from, needle, nlen);
}

static const char *s_find_char(const char *t, size_t len, size_t from, char c)
{
    if (from >= len)
        return NULL;
    return memchr(t + from, c, len - from);
}

/* A "publicName" key at pn not inside a parsed value yet: tries the nearest
   '{' before it, walking outwards, until one parses and holds a model that
   covers pn. */
static void s_walk_back(s_ctx_t *ctx, const char *t, size_t len, size_t pn, size_t *covered)
{
    size_t floor = pn > CATALOG_WALKBACK_BYTES ? pn - CATALOG_WALKBACK_BYTES : 0;
    if (floor < *covered)
        floor = *covered;
    size_t at = pn;
    for (int tries = 0; tries < CATALOG_WALKBACK_TRIES && at > floor; tries++) {
        const char *b = memrchr(t + floor, '{', at - floor);
        if (!b)
            return;
        at = (size_t)(b - t);
        size_t end;
        if (s_try_at(ctx, t, len, at, &end) > 0 && end > pn) {
            *covered = end;
            return;
        }
    }
}

static void s_scan(s_ctx_t *ctx, const char *t, size_t len)
{
    const size_t klen = sizeof s_public_name_key - 1;
    size_t covered = 0;
    ctx->budget = CATALOG_BUDGET_BASE + (len < SIZE_MAX / CATALOG_BUDGET_PER_BYTE
                                             ? len * CATALOG_BUDGET_PER_BYTE
                                             : SIZE_MAX - CATALOG_BUDGET_BASE);
    const char *pn = s_find(t, len, 0, s_public_name_key, klen);
    const char *brace = s_find_char(t, len, 0, '{');
    while ((brace || pn) && !ctx->full && !ctx->oom && ctx->budget) {
        if (pn && (!brace || pn < brace)) {
            size_t at = (size_t)(pn - t);
            if (at >= covered)
                s_walk_back(ctx, t, len, at, &covered);
            pn = s_find(t, len, at + 1 > covered ? at + 1 : covered, s_public_name_key, klen);
            continue;
        }
        size_t q = (size_t)(brace - t);
        size_t end;
        if (q >= covered && s_id_first(t, len, q) && s_try_at(ctx, t, len, q, &end) >= 0)
            covered = end;
        brace = s_find_char(t, len, q + 1 > covered ? q + 1 : covered, '{');
    }
}

/* ---- Next.js flight data --------------------------------------------------- */

/* After the marker: `[`, an integer, `,`, then the opening quote of the
   literal. Returns its offset, or 0 when the push has no string. */
static size_t s_push_literal(const char *h, size_t len, size_t i)
{
    i = s_skip_ws(h, len, i);
    if (i >= len || h[i] != '[')
        return 0;
    i = s_skip_ws(h, len, i + 1);
    size_t digits = 0;
    while (i < len && h[i] >= '0' && h[i] <= '9' && digits < 4)
        i++, digits++;
    i = s_skip_ws(h, len, i);
    if (digits == 0 || i >= len || h[i] != ',')
        return 0;
    i = s_skip_ws(h, len, i + 1);
    return i < len && h[i] == '"' ? i : 0;
}

/* Length of the literal's body from open + 1: up to the closing quote
   (*closed) or, when it is missing, up to a `</script` or the end. */
static size_t s_literal_body(const char *h, size_t len, size_t open, bool *closed)
{
    size_t i = open + 1;
    *closed = false;
    while (i < len) {
        if (h[i] == '\\') {
            i += 2;
        } else if (h[i] == '"') {
            *closed = true;
            break;
        } else if (h[i] == '<' && len - i >= 8 && strncasecmp(h + i, "</script", 8) == 0) {
            break;
        } else {
            i++;
        }
    }
    if (i > len)
        i = len;
    return i - (open + 1);
}

/* The largest cut <= limit of body that does not split an escape. */
static size_t s_literal_cut(const char *body, size_t n, size_t limit)
{
    size_t i = 0;
    while (i < n) {
        size_t step = body[i] != '\\' ? 1 : (i + 1 < n && body[i + 1] == 'u') ? 6 : 2;
        if (i + step > limit || i + step > n)
            break;
        i += step;
    }
    return i;
}

static int s_append_string(abuf_t *text, json_t *v)
{
    if (!json_is_string(v))
        return 0;
    return abuf_append(text, json_string_value(v), json_string_length(v));
}

/* Decodes body[0..n) as a JSON string into text, or its longest prefix that
   decodes; a push nothing of which decodes adds nothing. 0, or -1 on OOM. */
static int s_decode_literal(const char *open, size_t n, bool closed, abuf_t *text)
{
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_error_t e;
    size_t limit = n;
    if (closed) {
        json_t *v = json_loadb(open, n + 2, flags, &e);
        if (v) {
            int rc = s_append_string(text, v);
            json_decref(v);
            return rc;
        }
        limit = e.position > 1 ? (size_t)e.position - 1 : 0;
    }
    const char *body = open + 1;
    size_t prev = n + 1;
    for (int tries = 0; tries < CATALOG_LITERAL_RETRIES; tries++) {
        if (limit >= prev)
            limit = prev - 1;
        size_t cut = s_literal_cut(body, n, limit);
        if (cut == 0)
            return 0;
        char *copy = malloc(cut + 2);
        if (!copy)
            return -1;
        copy[0] = '"';
        memcpy(copy + 1, body, cut);
        copy[cut + 1] = '"';
        json_t *v = json_loadb(copy, cut + 2, flags, &e);
        free(copy);
        if (v) {
            int rc = s_append_string(text, v);
            json_decref(v);
            return rc;
        }
        prev = cut;
        limit = e.position > 1 ? (size_t)e.position - 1 : 0;
    }
    return 0;
}

/* Concatenates the decoded strings of every push in page order. */
static int s_flight_text(const char *h, size_t len, abuf_t *text)
{
    const size_t mlen = sizeof s_push_marker - 1;
    size_t pos = 0;
    const char *m;
    while ((m = s_find(h, len, pos, s_push_marker, mlen)) != NULL) {
        pos = (size_t)(m - h) + mlen;
        size_t open = s_push_literal(h, len, pos);
        if (!open)
            continue;
        bool closed;
        size_t n = s_literal_body(h, len, open, &closed);
        if (s_decode_literal(h + open, n, closed, text) < 0)
            return -1;
        pos = open + 1 + n + (closed ? 1 : 0);
    }
    return 0;
}

/* ---- entry point ------------------------------------------------------------ */

int arena_catalog_extract(const char *html, size_t len, size_t max_models, arena_catalog_t *out)
{
    out->models = NULL;
    out->n = 0;
    if (!html || len == 0)
        return 0;
    s_ctx_t ctx = {.max = max_models ? max_models : CATALOG_DEFAULT_MAX_MODELS};
    if (ctx.max > INT_MAX)
        ctx.max = INT_MAX;
    abuf_t text = ABUF_INIT;
    if (s_flight_text(html, len, &text) < 0)
        ctx.oom = true;
    if (!ctx.oom && text.len)
        s_scan(&ctx, text.data, text.len);
    abuf_free(&text);
    if (!ctx.oom && !ctx.full)
        s_scan(&ctx, html, len);
    free(ctx.slots);
    arena_catalog_t cat = {ctx.models, ctx.n};
    if (ctx.oom) {
        arena_catalog_clear(&cat);
        return -1;
    }
    if (cat.n == 0) {
        free(cat.models);
        cat.models = NULL;
    }
    *out = cat;
    return (int)cat.n;
}
