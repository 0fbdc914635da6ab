/*  fuzz_openai_responses — openai_responses_parse (POST /v1/responses) on
    arbitrary bytes with the default limits. An accepted request is written
    in the chat form a peer receives and must parse back equal (under limits
    a little wider: instructions add a message, and the chat form nests tool
    schemas and image parts one level deeper); then it is lowered and
    flattened. References are resolved through a lookup that knows some
    ids (msg_k…, rs_k…, fc_k…: a message whose text is the id, reasoning, a
    call) and not others, as node/items answers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/arena_payload.h"
#include "protocol/openai.h"
#include "protocol/prompt.h"
#include "tests/fuzz/fuzz_openai_round_trip.h"

static bool s_find(void *arg, const char *id, openai_item_t *out)
{
    (void)arg;
    if (strncmp(id, "msg_k", 5) == 0)
        *out = (openai_item_t){OPENAI_ITEM_MESSAGE, id, id, NULL, NULL};
    else if (strncmp(id, "rs_k", 4) == 0)
        *out = (openai_item_t){OPENAI_ITEM_REASONING, id, "notes", NULL, NULL};
    else if (strncmp(id, "fc_k", 4) == 0)
        *out = (openai_item_t){OPENAI_ITEM_CALL, id, "{\"a\":1}", "call_k", "f"};
    else
        return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    openai_limits_t lim;
    openai_limits_default(&lim);
    openai_request_t *req = NULL;
    openai_error_t err;
    openai_items_t items = {s_find, NULL, 86400};
    if (openai_responses_parse_ex((const char *)data, size, &lim, &items, &req, &err) < 0) {
        if (req || (err.status != 400 && err.status != 500) || !err.code || !err.type)
            abort();
        abuf_t out = ABUF_INIT;
        if (openai_render_error(&out, &err) < 0)
            abort();
        abuf_free(&out);
        return 0;
    }
    if (req->n_messages == 0 || !req->model)
        abort();
    openai_limits_t wide = lim;
    wide.max_messages += 2;
    wide.max_depth += 2;
    wide.max_parts += 1;
    fuzz_openai_round_trip(req, &wide);
    if (prompt_lower(req, &err) == 0) {
        fuzz_openai_round_trip(req, &wide);
        abuf_t flat = ABUF_INIT;
        if (arena_payload_flatten(req, &flat) < 0)
            abort();
        abuf_free(&flat);
    }
    openai_request_destroy(&req);
    return 0;
}
