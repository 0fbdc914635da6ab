/*  fake_directive — the `[[fake:NAME key=value …]]` scenario directives of
    the fake link; see fake_arena.h. Pure; any thread.

    Grammar (docs/testing.md):
        directive := "[[fake:" spec "]]"
        spec      := NAME { WS KEY "=" VALUE }
        NAME, KEY := 1..31 of [a-z0-9_-]
        VALUE     := bare | quoted
        bare      := 1.. bytes, none of whitespace, '"', ']'
        quoted    := '"' { any byte but '"' and '\' | '\"' | '\\' | '\n' } '"'
    A "]]" inside a quoted value does not end the directive. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/fake_arena.h"

static const char s_open[] = "[[fake:";

__attribute__((format(printf, 3, 4))) static int s_err(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int s_is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*  Reads a NAME/KEY at *p into out. */
static int s_name(const char **p, const char *end, char out[FAKE_DIRECTIVE_NAME_MAX])
{
    size_t n = 0;
    while (*p < end && s_is_name_char(**p)) {
        if (n + 1 >= FAKE_DIRECTIVE_NAME_MAX)
            return -1;
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    return n ? 0 : -1;
}

/*  Reads a VALUE at *p into a new string. */
static char *s_value(const char **p, const char *end)
{
    const char *s = *p;
    char *out = malloc((size_t)(end - s) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    if (s < end && *s == '"') {
        for (s++; s < end && *s != '"'; s++) {
            if (*s == '\\' && s + 1 < end) {
                s++;
                out[n++] = *s == 'n' ? '\n' : *s;
            } else {
                out[n++] = *s;
            }
        }
        if (s >= end) {
            free(out);
            return NULL;
        }
        s++; /* closing quote */
    } else {
        while (s < end && !s_is_space(*s) && *s != '"' && *s != ']')
            out[n++] = *s++;
        if (n == 0) {
            free(out);
            return NULL;
        }
    }
    out[n] = '\0';
    *p = s;
    return out;
}

/*  1 when word occurs in the space-separated list. */
static int s_in_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        size_t m = strcspn(p, " ");
        if (m == n && strncmp(p, word, n) == 0)
            return 1;
        p += m;
    }
    return 0;
}

static int s_check_keys(const fake_directive_t *d, char *err, size_t errlen)
{
    const char *keys = fake_scenario_keys(d->name);
    if (!keys)
        return s_err(err, errlen, "unknown scenario \"%s\"", d->name);
    for (size_t i = 0; i < d->n_kv; i++) {
        if (!s_in_list(keys, d->kv[i].key))
            return s_err(err, errlen, "scenario %s takes no key \"%s\" (keys: %s)", d->name,
                         d->kv[i].key, keys);
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->kv[i].key, d->kv[j].key) == 0)
                return s_err(err, errlen, "key \"%s\" given twice", d->kv[i].key);
    }
    return 0;
}

/*  Parses the inside of the brackets: [s, end). */
static int s_parse_spec(const char *s, const char *end, fake_directive_t *out, char *err,
                        size_t errlen)
{
    while (s < end && s_is_space(*s))
        s++;
    while (end > s && s_is_space(end[-1]))
        end--;
    if ((size_t)(end - s) > FAKE_DIRECTIVE_MAX)
        return s_err(err, errlen, "directive longer than %d bytes", FAKE_DIRECTIVE_MAX);
    out->raw = strndup(s, (size_t)(end - s));
    if (!out->raw)
        return s_err(err, errlen, "out of memory");
    const char *p = s;
    if (s_name(&p, end, out->name) < 0)
        return s_err(err, errlen, "bad scenario name in \"%s\"", out->raw);
    for (;;) {
        const char *ws = p;
        while (p < end && s_is_space(*p))
            p++;
        if (p == end)
            break;
        if (p == ws)
            return s_err(err, errlen, "expected a space before \"%.20s\"", p);
        if (out->n_kv == FAKE_DIRECTIVE_MAX_KEYS)
            return s_err(err, errlen, "more than %d keys", FAKE_DIRECTIVE_MAX_KEYS);
        fake_kv_t *kv = &out->kv[out->n_kv];
        if (s_name(&p, end, kv->key) < 0 || p == end || *p != '=')
            return s_err(err, errlen, "expected key=value at \"%.20s\"", ws);
        p++;
        kv->value = s_value(&p, end);
        if (!kv->value)
            return s_err(err, errlen, "bad or empty value for \"%s\"", kv->key);
        out->n_kv++;
    }
    return s_check_keys(out, err, errlen);
}

int fake_directive_parse(const char *spec, fake_directive_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!spec)
        return s_err(err, errlen, "no directive");
    const char *s = spec, *end = spec + strlen(spec);
    while (s < end && s_is_space(*s))
        s++;
    while (end > s && s_is_space(end[-1]))
        end--;
    size_t open = sizeof s_open - 1;
    if ((size_t)(end - s) >= open + 2 && strncmp(s, s_open, open) == 0 && end[-1] == ']' &&
        end[-2] == ']') {
        s += open;
        end -= 2;
    }
    if (s_parse_spec(s, end, out, err, errlen) < 0) {
        fake_directive_clear(out);
        return -1;
    }
    return 0;
}

/*  The "]]" closing a directive whose inside starts at p, skipping quoted
    values; NULL when there is none. */
static const char *s_closing(const char *p, const char *end)
{
    int quoted = 0;
    for (; p < end; p++) {
        if (quoted && *p == '\\') {
            p++;
        } else if (*p == '"') {
            quoted = !quoted;
        } else if (!quoted && *p == ']' && p + 1 < end && p[1] == ']') {
            return p;
        }
    }
    return NULL;
}

int fake_directive_find(const char *text, size_t len, fake_directive_t *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *end = text + len, *p = text;
    const char *last = NULL, *last_close = NULL;
    size_t open = sizeof s_open - 1;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), s_open, open);
        if (!hit)
            break;
        last = hit + open;
        last_close = s_closing(last, end);
        p = last_close ? last_close + 2 : end;
    }
    if (!last)
        return 0;
    if (!last_close)
        return s_err(err, errlen, "unterminated directive \"%.40s\"", last - open);
    if (s_parse_spec(last, last_close, out, err, errlen) < 0) {
        fake_directive_clear(out);
        return -1;
    }
    return 1;
}

void fake_directive_clear(fake_directive_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_kv; i++)
        free(d->kv[i].value);
    free(d->raw);
    memset(d, 0, sizeof *d);
}

const char *fake_directive_get(const fake_directive_t *d, const char *key)
{
    for (size_t i = 0; i < d->n_kv; i++)
        if (strcmp(d->kv[i].key, key) == 0)
            return d->kv[i].value;
    return NULL;
}
