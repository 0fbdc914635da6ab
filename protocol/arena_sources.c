/*  arena_sources — see arena_sources.h. */
#include "protocol/arena_sources.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define SOURCES_MAX_DEPTH 8
#define SOURCES_MAX_TITLE 200
#define SOURCES_MAX_ATTEMPTS 512 /* parse starts: keeps hostile text linear-ish */

typedef struct {
    const char *urls[ARENA_SOURCES_MAX];
    size_t n;
    abuf_t *out;
    int failed;
} s_list_t;

static bool s_is_http_url(const char *u)
{
    size_t n = strlen(u);
    if (n > 2048)
        return false;
    if (strncasecmp(u, "https://", 8) != 0 && strncasecmp(u, "http://", 7) != 0)
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '<' || *p == '>')
            return false;
    return true;
}

/*  Markdown link text: brackets and newlines would break the link. */
static int s_append_title(abuf_t *out, const char *title)
{
    size_t n = 0;
    for (const char *p = title; *p && n < SOURCES_MAX_TITLE; p++, n++) {
        char c = *p;
        if (c == '[' || c == ']')
            c = c == '[' ? '(' : ')';
        else if ((unsigned char)c < 0x20)
            c = ' ';
        if (abuf_append(out, &c, 1) < 0)
            return -1;
    }
    return 0;
}

/*  Parentheses in a URL end a Markdown link early: percent-encode them. */
static int s_append_url(abuf_t *out, const char *url)
{
    for (const char *p = url; *p; p++) {
        int rc = *p == '('   ? abuf_puts(out, "%28")
                 : *p == ')' ? abuf_puts(out, "%29")
                             : abuf_append(out, p, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void s_add(s_list_t *l, json_t *obj)
{
    const char *url = json_string_value(json_object_get(obj, "url"));
    if (!url || !s_is_http_url(url) || l->n >= ARENA_SOURCES_MAX)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->urls[i], url) == 0)
            return;
    const char *title = json_string_value(json_object_get(obj, "title"));
    if (!title || !title[0])
        title = url;
    if (l->n == 0 && abuf_puts(l->out, "\n\nSources:\n") < 0)
        l->failed = 1;
    l->urls[l->n++] = url;
    if (abuf_printf(l->out, "%zu. [", l->n) < 0 || s_append_title(l->out, title) < 0 ||
        abuf_puts(l->out, "](") < 0 || s_append_url(l->out, url) < 0 ||
        abuf_puts(l->out, ")\n") < 0)
        l->failed = 1;
}

static void s_walk(s_list_t *l, json_t *v, int depth)
{
    if (depth > SOURCES_MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        s_add(l, v);
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) s_walk(l, child, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) s_walk(l, child, depth + 1);
    }
}

int arena_sources_render(const char *args, size_t len, abuf_t *out)
{
    s_list_t l = {.out = out};
    size_t start_len = out->len;
    /* Parsed values must outlive the walk: the url pointers borrow from them. */
    json_t *keep = json_array();
    if (!keep)
        return -1;
    size_t pos = 0;
    int attempts = 0;
    while (pos < len && l.n < ARENA_SOURCES_MAX && attempts++ < SOURCES_MAX_ATTEMPTS) {
        const char *p = memchr(args + pos, '{', len - pos);
        const char *q = memchr(args + pos, '[', len - pos);
        if (!p || (q && q < p))
            p = q;
        if (!p)
            break;
        size_t at = (size_t)(p - args);
        json_error_t err;
        json_t *v = json_loadb(p, len - at, JSON_DISABLE_EOF_CHECK, &err);
        if (!v) {
            pos = at + 1;
            continue;
        }
        s_walk(&l, v, 0);
        json_array_append_new(keep, v);
        pos = at + (err.position > 0 ? (size_t)err.position : 1);
    }
    json_decref(keep);
    if (l.failed) {
        out->len = start_len;
        if (out->data)
            out->data[out->len] = '\0';
        return -1;
    }
    return (int)l.n;
}
