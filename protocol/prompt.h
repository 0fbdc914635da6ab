/*  prompt — lowers an OpenAI request to the plain form LMArena takes: no
    tools, no response formats, one conversation of text turns.

    The upstream models have no native tools and no structured output there,
    so the node states them in the conversation and parses the answer itself
    (protocol/shape). Lowering happens once, on the node that took the
    request, before it is sent (to a tab or a peer).

    Pure: no sockets, no threads, no state; the text is deterministic for a
    given request (the unit tests check it word for word). */
#ifndef ARENA_PROMPT_H
#define ARENA_PROMPT_H

#include "protocol/openai.h"

/*  Rewrites req in place:
      - when tools are given and tool_choice is not none, or a response
        format is json_object / json_schema, a statement goes first: at the
        head of the client's leading system (or developer) message when it
        has one without a name, a blank line before the client's text, else
        as a new system message first (flattened, both read the same)
        stating the functions (name, description, parameters JSON Schema),
        the reply format for calls — ONLY a JSON object
        {"tool_calls":[{"name":…,"arguments":{…}}]}, bare or in a ```json
        fence — and the rule of tool_choice (auto: call when useful, else
        plain text; required: at least one call; named: that function) and
        of parallel_tool_calls (false: at most one call); for a format, the
        instruction to answer with one JSON object (matching the schema
        stated) only;
      - an assistant message's tool_calls become its text (after its own
        text, a blank line between): the same JSON object, arguments parsed
        as JSON where they are JSON, kept as a string otherwise;
      - a tool result's text becomes "Tool result for NAME (CALL_ID):\n…"
        (NAME from the message's name or from the call it answers);
      - tool_calls, tool_call_id and a tool message's name are cleared.
    The request keeps tools, tool_choice, format, stop and max_tokens: the
    answer side reads them. Sets req->lowered; a lowered request is left as
    it is. Returns 0, or -1 with err (may be NULL) filled: 500 internal_error
    when memory runs out (req may then be partly lowered: destroy it). */
int prompt_lower(openai_request_t *req, openai_error_t *err);

/*  For the one retry of a structured answer that failed its check: appends
    the model's answer as an assistant message and a user message stating
    `error` and asking for the answer again in the required form (tool call
    JSON or the response format, whichever req asks). 0, or -1 (500). */
int prompt_retry_note(openai_request_t *req, const char *answer, const char *error,
                      openai_error_t *err);

#endif
