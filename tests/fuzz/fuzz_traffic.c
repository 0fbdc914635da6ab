/*  libFuzzer driver: node/traffic's reader of untrusted input, GET
    /mesh/traffic's query (name=value pairs split on '&' and the first '=',
    as libmicrohttpd hands them over). It is accepted with since -1 or in
    0..2^53, or refused with a 400 invalid_request naming a parameter; and
    whatever the input, a traffic history fed its bytes as error kinds and
    TTFB samples renders a JSON document that parses, whose bucket counts
    are never negative. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/traffic.h"

#define S_PAIRS 8

static void s_query(char *q)
{
    const char *names[S_PAIRS], *values[S_PAIRS];
    size_t n = 0;
    for (char *p = q, *amp; p && n < S_PAIRS; p = amp) {
        amp = strchr(p, '&');
        if (amp)
            *amp++ = '\0';
        char *eq = strchr(p, '=');
        if (eq)
            *eq++ = '\0';
        names[n] = p;
        values[n++] = eq;
    }
    long long since = 7;
    openai_error_t err;
    memset(&err, 0, sizeof err);
    if (traffic_query_parse(names, values, n, &since, &err) == 0) {
        if (since != -1 && (since < 0 || since > (1LL << 53)))
            abort();
    } else if (!err.code || strcmp(err.code, "invalid_request") != 0 || !err.param[0]) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    if (!q)
        abort();
    memcpy(q, data, size);
    q[size] = '\0';
    char *kinds = strdup(q);
    s_query(q);
    free(q);

    /* the same bytes as what ended requests said: kinds and TTFBs */
    long long t0 = 1796600000000LL;
    traffic_t *t = traffic_new(t0);
    if (!t)
        abort();
    long long now = t0;
    size_t i = 0;
    for (char *k = kinds, *next; k && i < 64; k = next, i++) {
        next = strchr(k, '\n');
        if (next)
            *next++ = '\0';
        now += (unsigned char)k[0] * 997LL;
        traffic_record(t, now, k[0] ? k : NULL, (long long)strlen(k) * 37 - 100);
    }
    abuf_t out = ABUF_INIT;
    if (traffic_render(t, "fuzz-node", now, size % 3 ? -1 : t0, &out) != 0)
        abort();
    json_t *doc = json_loadb(out.data, out.len, 0, NULL);
    if (!doc)
        abort();
    json_t *b;
    size_t j;
    json_array_foreach(json_object_get(doc, "buckets"), j, b)
    {
        if (json_integer_value(json_object_get(b, "requests")) < 0)
            abort();
    }
    json_decref(doc);
    abuf_free(&out);
    traffic_destroy(&t);
    free(kinds);
    return 0;
}
