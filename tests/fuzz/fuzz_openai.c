/*  fuzz_openai — openai_request_parse on arbitrary bytes with the default
    limits. An accepted request must survive write → parse unchanged, and its
    model name must render into a completion body. Then prompt_lower: the
    lowered request (what a peer receives) must survive write → parse too,
    and flatten into a prompt. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/arena_payload.h"
#include "protocol/openai.h"
#include "protocol/prompt.h"
#include "tests/fuzz/fuzz_openai_round_trip.h"

static void s_render(const openai_request_t *req)
{
    openai_render_ctx_t ctx = {"chatcmpl-fuzz", 1, req->model};
    const openai_message_t *last = &req->messages[req->n_messages - 1];
    usage_t usage = USAGE_UNKNOWN;
    abuf_t out = ABUF_INIT;
    if (openai_render_completion(&out, &ctx, req->model, strlen(req->model), last->content,
                                 strlen(last->content), "stop", &usage) < 0 ||
        openai_render_sse_delta(&out, &ctx, true, DELTA_TEXT, last->content,
                                strlen(last->content)) < 0)
        abort();
    abuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    openai_limits_t lim;
    openai_limits_default(&lim);
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse((const char *)data, size, &lim, &req, &err) < 0) {
        /* 400 for bad input; 500 only when memory ran out */
        if (req || (err.status != 400 && err.status != 500) || !err.code || !err.type)
            abort();
        abuf_t out = ABUF_INIT;
        if (openai_render_error(&out, &err) < 0)
            abort();
        abuf_free(&out);
        return 0;
    }
    fuzz_openai_round_trip(req, &lim);
    s_render(req);
    openai_error_t lerr;
    if (prompt_lower(req, &lerr) < 0) {
        if (lerr.status != 500)
            abort();
    } else {
        /* one statement message may be added */
        openai_limits_t more = lim;
        more.max_messages++;
        fuzz_openai_round_trip(req, &more);
        abuf_t flat = ABUF_INIT;
        if (arena_payload_flatten(req, &flat) < 0)
            abort();
        abuf_free(&flat);
    }
    openai_request_destroy(&req);
    return 0;
}
