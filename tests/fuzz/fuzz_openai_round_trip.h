/*  The check the request fuzzers share: a parsed request, written as a peer
    gets it (openai_request_write) and parsed again under lim, is the same
    request. Aborts otherwise. Header-only: each fuzzer is its own program. */
#ifndef ARENA_FUZZ_OPENAI_ROUND_TRIP_H
#define ARENA_FUZZ_OPENAI_ROUND_TRIP_H

#include <stdlib.h>

#include "protocol/abuf.h"
#include "protocol/openai.h"

static inline void fuzz_openai_round_trip(const openai_request_t *req, const openai_limits_t *lim)
{
    abuf_t out = ABUF_INIT;
    if (openai_request_write(req, &out) < 0)
        abort();
    openai_request_t *again = NULL;
    openai_error_t err;
    if (openai_request_parse(out.data, out.len, lim, &again, &err) < 0)
        abort();
    if (!openai_request_equal(req, again))
        abort();
    openai_request_destroy(&again);
    abuf_free(&out);
}

#endif
