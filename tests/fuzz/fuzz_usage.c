/*  libFuzzer driver: node/usage's two readers of untrusted input.
    First byte even: the rest is a rollup record's bytes, as another node
    sends them (usage_rollup_decode): refused, or decoded into a record that
    encodes back to the very same bytes (one encoding per record), passes
    its own checks (merge with itself changes nothing) and compares equal
    to itself, and whose record key in the replicated table fits a
    record's bounds. First byte odd: the rest is GET /v1/usage's query
    (name=value pairs split on '&' and the first '='; bit 1: the admin
    key): accepted with a range and a key name in bounds, or refused with
    a 400 naming a parameter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/repl_usage.h"
#include "node/usage.h"

#define S_PAIRS 8

static void s_query(const uint8_t *data, size_t size, bool admin)
{
    char *q = malloc(size + 1);
    if (!q)
        abort();
    memcpy(q, data, size);
    q[size] = '\0';
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
        values[n++] = eq; /* NULL: a name without '=' */
    }
    usage_query_t out;
    openai_error_t err;
    memset(&err, 0, sizeof err);
    int rc = usage_query_parse(names, values, n, admin, &out, &err);
    if (rc == 0) {
        if (out.range > USAGE_RANGE_MONTH || strlen(out.key) > USAGE_KEY_MAX ||
            (out.has_key && (!admin || !out.key[0])))
            abort();
    } else if (rc != -1 || err.status != 400 || !err.param[0]) {
        abort();
    }
    free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        s_query(data + 1, size - 1, data[0] & 2);
        return 0;
    }
    usage_rollup_t r;
    if (usage_rollup_decode(data + 1, size - 1, &r) != 0)
        return 0;
    uint8_t back[USAGE_ROLLUP_WIRE_MAX];
    size_t n = usage_rollup_encode(&r, back, sizeof back);
    if (n != size - 1 || memcmp(back, data + 1, n) != 0)
        abort();
    usage_rollup_t same = r;
    if (usage_rollup_cmp(&r, &same) != 0 || usage_rollup_merge(&same, &r))
        abort();
    /* its record key (node/repl_usage.h) always fits a record's bounds,
       unless origin or key hold '/' (then the table refuses it) */
    char key[WIRE_MAX_RKEY + 1];
    int rc = repl_usage_rkey(&r, key, sizeof key);
    if (rc == 0 ? strlen(key) > WIRE_MAX_RKEY : !strchr(r.origin, '/') && !strchr(r.key, '/'))
        abort();
    return 0;
}
