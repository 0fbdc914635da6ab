/*  arena_payload — builds the LMArena `create-evaluation` request body from a
    normalized OpenAI request (ARENA-UPSTREAM.md, "Current style").

    Fresh UUIDv7 ids every call; history flattened into one user message
    (system prompt first, then each turn with its role, clearly delimited);
    image_url parts become experimental_attachments; modality from the
    model's output capability. The reCAPTCHA token is minted in the page, so
    it is not part of this body (the fetch frame says where to put it). */
#ifndef ARENA_ARENA_PAYLOAD_H
#define ARENA_ARENA_PAYLOAD_H

#include <stddef.h>

#include "protocol/abuf.h"
#include "protocol/openai.h"
#include "protocol/uuid7.h"

typedef enum {
    ARENA_MODALITY_CHAT = 0,
    ARENA_MODALITY_IMAGE,
    ARENA_MODALITY_SEARCH
} arena_modality_t;

const char *arena_modality_name(arena_modality_t m); /* "chat" | "image" | "search" */

#define ARENA_CREATE_EVALUATION_PATH "/nextjs-api/stream/create-evaluation"
#define ARENA_CONTENT_TYPE "text/plain;charset=UTF-8"
#define ARENA_RECAPTCHA_FIELD "recaptchaV3Token"
#define ARENA_RECAPTCHA_ACTION "chat_submit"
/*  The fallback site key (since 2026-05-16); the page's own key, read from
    its enterprise.js?render= tag by the userscript, wins over it. */
#define ARENA_RECAPTCHA_SITEKEY "6LeTGMcsAAAAALuIlkVwIxaAuZA8VledA6d3Nnb0"

/*  The chat mode of a new conversation. The site refuses "direct" for a new
    conversation since 2026 ("'direct' mode is not allowed when starting a new
    conversation"); its own page sends "direct-battle". arena-node's
    --arena-mode setting chooses it (the next change of the site is then a
    change of configuration). */
#define ARENA_MODE_DEFAULT "direct-battle"
/*  The site's origin (--arena-origin's default) */
#define ARENA_ORIGIN_DEFAULT "https://lmarena.ai"
#define ARENA_MODE_MAX 32

/*  1 when mode is a plausible mode token: 1..31 bytes of [a-z0-9-]. */
int arena_mode_valid(const char *mode);
/*  1 when the site's page sends modelBMessageId for mode: the two-model
    modes ("battle", "side-by-side", and the 2025 "direct"); the page's own
    "direct-battle" body leaves it out (capture of 2026-06-01). */
int arena_mode_has_b(const char *mode);

typedef struct {
    size_t max_prompt_chars;     /* flattened content, default 113000 */
    size_t max_attachment_bytes; /* one data: URI, default 5 MiB */
} arena_payload_limits_t;

void arena_payload_limits_default(arena_payload_limits_t *lim);

typedef struct {
    char session_id[UUID_STR_LEN];
    char user_message_id[UUID_STR_LEN];
    char model_a_message_id[UUID_STR_LEN];
    char model_b_message_id[UUID_STR_LEN]; /* "" when the mode sends none */
} arena_ids_t;

/*  Appends the JSON body to out. mode NULL: ARENA_MODE_DEFAULT. Returns 0,
    or -1 with err filled (413 request_too_large for a prompt or attachment
    over the limits, 400 invalid_request otherwise). ids_out may be NULL. */
int arena_payload_build(const openai_request_t *req, const char *model_arena_id,
                        arena_modality_t modality, const char *mode,
                        const arena_payload_limits_t *lim, abuf_t *out, arena_ids_t *ids_out,
                        openai_error_t *err);

/*  The flattened prompt alone (what goes in userMessage.content), appended
    to out; 0, or -1 (out unchanged). Format:
      - exactly one message, a user message without a name: its content
        verbatim;
      - otherwise blocks separated by a blank line: first "System:\n" with every
        system/developer content without a name in order (joined by a blank
        line), then each other message in order as "User:\n…", "Assistant:\n…",
        "Tool:\n…" or (a named system message, e.g. example dialogue)
        "System (example_user):\n…"; a name shows in the label: "User (Alice):\n…";
        messages with empty content are left out. For example
        "System:\nBe brief.\n\nUser:\nHi\n\nAssistant:\nHello!\n\nUser:\nAnd you?" */
int arena_payload_flatten(const openai_request_t *req, abuf_t *out);

#endif
