/*  shape — the answer shaper: sits between the upstream deltas of one answer
    and the client renderer, and applies what the request asked of the answer
    (docs/http-api.md "How answers are shaped"):

      stop        the answer's text is cut before the first match of any stop
                  string, also one split across deltas; feed returns SHAPE_CUT.
      max_tokens  the text is cut at an estimated token count (below), never
                  inside a UTF-8 sequence; feed returns SHAPE_CUT.
      tools       (tools given, tool_choice != none) the model was asked to
                  answer {"tool_calls":[{"name":…,"arguments":{…}}]}, bare, in
                  a ```json fence or wrapped in prose; parsed at the end into
                  tool calls, else returned as text.
      response_format json_object / json_schema: the whole text is held and
                  checked at the end (valid JSON; against the schema when
                  strict, by protocol/schema), the bare JSON is returned.

    Order of the stages, per text delta: max_tokens, then stop, then holding.
    Only DELTA_TEXT is shaped: reasoning, images and citations are passed on
    at once, never held, counted or searched (OpenAI applies stop and the
    tool-call format to the content only).

    Token estimate (max_tokens, content only, reasoning not counted): in
    quarter tokens, each ASCII byte 1, each 2-byte UTF-8 sequence 2, each 3-
    or 4-byte sequence 4 (about 4 Latin characters, 2 Cyrillic/Greek/Arabic,
    1 CJK character or emoji per token); a byte that starts no valid sequence
    counts 1. The text is cut before the character that would make
    ceil(quarters / 4) exceed max_tokens.

    Holding: with tool_choice auto, text streams until a tool call starts:
    '{' ws* "\"tool_calls\"", or a ``` fence (language word, newline, ws*)
    before one. A '{' or '`' that may still begin one is kept back only until
    the next bytes rule it out (so code and braces stream); from one that
    does, the rest is held to the end. With tool_choice required or a named
    function, or any response_format but text, all text is held (so
    the caller can retry without having sent anything). Held bytes are
    capped (max_held): past the cap the held text is released as text and
    the rest streams unshaped (no tool call, no check, shape_end returns
    SHAPE_OK) — an answer that large is not a tool call or a JSON reply.

    Pure (no I/O, no threads); one shaper per answer, used from one thread.
    Tool call ids are "call_" + 24 random base62 characters from libsodium. */
#ifndef ARENA_SHAPE_H
#define ARENA_SHAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/delta.h"
#include "protocol/openai.h"

typedef struct _shape_t shape_t;

/*  Default cap on held text bytes (max_held 0). */
#define SHAPE_DEFAULT_MAX_HELD (8u * 1024u * 1024u)

/*  Where the shaped answer goes. Both called only from inside shape_feed,
    shape_end and shape_flush; the pointers are borrowed for the call. */
typedef struct {
    /* Content the client may be sent now, in order. Text deltas start and
       end on the same UTF-8 boundaries the upstream's did (the shaper only
       cuts before a character). */
    void (*delta)(void *arg, delta_kind_t kind, const char *text, size_t len);
    /* A parsed tool call (index 0, 1, … in order), only from shape_end, after
       any text. call->arguments is compact JSON text of an object. */
    void (*tool_call)(void *arg, size_t index, const openai_tool_call_t *call);
} shape_sink_t;

/*  Returns of shape_feed. */
#define SHAPE_MORE 0 /* go on feeding */
#define SHAPE_CUT 1  /* stop or max_tokens reached: abort the upstream, call shape_end */

/*  Returns of shape_end (and shape_feed's -1). */
#define SHAPE_OK 0
#define SHAPE_INVALID 1  /* the answer fails what was asked: err says why; retry-able */
#define SHAPE_ERROR (-1) /* out of memory */

/*  A shaper for one answer to req (copied: req may go before the shaper).
    Check a strict json_schema with schema_check (protocol/schema.h) when the
    request arrives and answer 400 naming response_format.json_schema.schema:
    else every answer ends SHAPE_INVALID "the schema cannot be applied".
    max_held: cap on held text bytes, 0: SHAPE_DEFAULT_MAX_HELD. sink and its
    callbacks must not be NULL; arg is passed to them. NULL on OOM. */
shape_t *shape_new(const openai_request_t *req, size_t max_held, const shape_sink_t *sink,
                   void *arg);
void shape_destroy(shape_t **self_p);

/*  One upstream delta (any split; invalid UTF-8 is passed on as it came).
    SHAPE_MORE, SHAPE_CUT (the answer is complete: abort the upstream stream
    and call shape_end; later feeds are ignored and return SHAPE_CUT), or
    SHAPE_ERROR (out of memory: end the answer with an error). */
int shape_feed(shape_t *self, delta_kind_t kind, const char *text, size_t len);

/*  The upstream ended (or was aborted after SHAPE_CUT). Releases or parses
    what is held and says how the answer finished:
      SHAPE_OK       everything went to the sink; *finish_reason is "stop",
                     "length" or "tool_calls" (static).
      SHAPE_INVALID  nothing held was sent (none of the answer, when all of it
                     is held): the answer is not valid JSON / does not match
                     the schema / has no tool call although tool_choice is
                     required or named. err holds a message for a person,
                     naming the JSON path that failed; shape_answer gives the
                     model's raw text. The caller may retry once with the error
                     stated (new shaper), then either call shape_flush to send
                     the raw answer as text or return an error.
      SHAPE_ERROR    out of memory.
    finish_reason and err may be NULL. Call it once. */
int shape_end(shape_t *self, const char **finish_reason, char *err, size_t errlen);

/*  After SHAPE_INVALID: sends the held raw answer as text and returns
    SHAPE_OK with *finish_reason "stop" or "length". */
int shape_flush(shape_t *self, const char **finish_reason);

/*  The held text (after stop/max_tokens cuts): the whole answer's text when
    shape_holds_all, else from where a tool call might start. Borrowed until
    the next call on the shaper; never NULL ("" and 0 when none). */
const char *shape_answer(const shape_t *self, size_t *len);

/*  True when the request makes the shaper hold all text to the end
    (response_format json_*, tool_choice required or named): a streaming
    caller sends nothing but reasoning/images until shape_end. */
bool shape_holds_all(const shape_t *self);

/*  The quarter tokens of the estimate above in a text (node/usage counts a
    request's tokens with it when LMArena says none: ceil(sum / 4)). A
    sequence cut at the end of text counts 1 a byte. */
unsigned long long shape_estimate_quarters(const char *text, size_t len);

#endif
