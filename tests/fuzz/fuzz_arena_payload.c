/*  libFuzzer driver: a client's chat request (untrusted) through the OpenAI
    parser and the LMArena create-evaluation builder. Whatever the builder
    accepts must be one JSON object with the fields LMArena validates, and the
    flattened prompt must be valid UTF-8 JSON text once escaped. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/arena_payload.h"
#include "protocol/openai.h"

static const char *const s_fields[] = {
    "id", "mode", "modelAId", "userMessageId", "modelAMessageId", "modality"};
/*  The first byte also picks the mode: the default (direct-battle, no
    modelBMessageId) and modes whose page sends one. */
static const char *const s_modes[] = {NULL, "direct-battle", "direct", "side-by-side", "battle"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    arena_modality_t modality = (arena_modality_t)(data[0] % 3);
    const char *mode = s_modes[(data[0] / 3) % (sizeof s_modes / sizeof s_modes[0])];
    openai_request_t *req = NULL;
    openai_error_t err;
    if (openai_request_parse((const char *)data + 1, size - 1, NULL, &req, &err) < 0)
        return 0;
    arena_payload_limits_t lim;
    arena_payload_limits_default(&lim);
    lim.max_attachment_bytes = 4096; /* reach the 413 path on small inputs */
    lim.max_prompt_chars = 2048;
    abuf_t out = ABUF_INIT;
    arena_ids_t ids;
    if (arena_payload_build(req, "0195b2a4-7d3e-7c1a-9f00-1234567890ab", modality, mode, &lim, &out,
                            &ids, &err) == 0) {
        json_error_t jerr;
        json_t *body = json_loadb(out.data, out.len, 0, &jerr);
        if (!body || !json_is_object(body))
            abort();
        for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++)
            if (!json_is_string(json_object_get(body, s_fields[i])))
                abort();
        /* modelBMessageId exactly for the modes whose page sends it */
        json_t *b = json_object_get(body, "modelBMessageId");
        if (arena_mode_has_b(mode) ? !json_is_string(b) : b != NULL)
            abort();
        if (strcmp(json_string_value(json_object_get(body, "mode")),
                   mode ? mode : ARENA_MODE_DEFAULT) != 0)
            abort();
        json_t *msg = json_object_get(body, "userMessage");
        if (!json_is_string(json_object_get(msg, "content")) ||
            !json_is_array(json_object_get(msg, "experimental_attachments")))
            abort();
        if (!uuid_is_valid(ids.session_id) ||
            strcmp(ids.session_id, json_string_value(json_object_get(body, "id"))) != 0)
            abort();
        json_decref(body);
    } else if (err.status != 413 && err.status != 400) {
        abort();
    }
    abuf_free(&out);
    openai_request_destroy(&req);
    return 0;
}
