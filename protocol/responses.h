/*  responses — every byte of the OpenAI Responses API's answers
    (POST /v1/responses): the streaming event sequence and the whole
    `response` object, written from one state so both shapes always agree.

    A responses_writer_t is fed what the upstream answers (text, reasoning,
    image and citation deltas, tool calls the node parsed, the end or an
    error) and appends SSE events to the abuf_t given to each call:

        event: NAME\n
        data: {"type":"NAME","sequence_number":N,…}\n
        \n

    with N = 0, 1, 2, … For a non-streaming request pass out = NULL to every
    feeding call (nothing is written, the state is kept) and render the
    object at the end with responses_writer_render. The object that
    response.completed (or response.incomplete, response.failed) carries is
    byte for byte what responses_writer_render returns at that point.

    The event sequence (what openai-node's ResponseStream, @ai-sdk/openai and
    @langchain/openai parse):

        response.created, response.in_progress    (status in_progress, output [])
        per message (text; images as Markdown links):
          response.output_item.added     {output_index, item:{type:"message",
                                          id:"msg_…", status:"in_progress",
                                          role:"assistant", content:[]}}
          response.content_part.added    {item_id, output_index, content_index:0,
                                          part:{type:"output_text", text:"", …}}
          response.output_text.delta     {item_id, output_index, content_index:0,
                                          delta, logprobs:[]} …
          response.output_text.done      {…, text}
          response.content_part.done     {…, part}
          response.output_item.done      {output_index, item (status completed)}
        per reasoning text run:
          response.output_item.added     {item:{type:"reasoning", id:"rs_…", summary:[]}}
          response.reasoning_summary_part.added {item_id, output_index, summary_index:0, part}
          response.reasoning_summary_text.delta {item_id, output_index, summary_index:0, delta} …
          response.reasoning_summary_text.done  {…, text}
          response.reasoning_summary_part.done  {…, part}
          response.output_item.done
        per tool call:
          response.output_item.added     {item:{type:"function_call", id:"fc_…",
                                          call_id, name, arguments:"",
                                          status:"in_progress"}}
          response.function_call_arguments.delta {item_id, output_index, delta} …
          response.function_call_arguments.done  {item_id, output_index, name, arguments}
          response.output_item.done      {item (status completed)}
        response.completed | response.incomplete  {response: the whole object, usage}
        or, on an error: error {code, message, param} then response.failed.

    A text or reasoning delta that ends inside a UTF-8 character keeps those
    bytes back for the next delta, so the deltas concatenate to exactly the
    item's final text (invalid bytes become U+FFFD in both).

    Item ids derive from the response id ("resp_X" gives "msg_X_0",
    "rs_X_1", "fc_X_2", and "call_X_2" for a call without an id), so one
    response's ids are unique and every run renders the same bytes.

    Errors before the first byte (and for the whole non-streaming request)
    use the chat error body: openai_render_error.

    Threading: a writer belongs to one request and is used by one thread at a
    time; no shared state. Every call returns 0 or -1. On -1 (memory, out's
    cap, a call after the end) `out` is left as it was, the writer is
    spent: later feeding calls return -1, and responses_writer_render still
    works. */
#ifndef ARENA_RESPONSES_H
#define ARENA_RESPONSES_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"
#include "protocol/delta.h"
#include "protocol/openai.h"

typedef struct _responses_writer_t responses_writer_t;

typedef struct {
    const char *id;           /* "resp_…" */
    long long created_at;     /* unix seconds */
    const char *model;        /* the model name the client asked for */
    const char *instructions; /* echoed as "instructions"; NULL: null */
    /*  Echoed: tools (as {type:"function", name, description, parameters,
        strict}), tool_choice, parallel_tool_calls, text.format and
        max_output_tokens (req->max_tokens). NULL: no tools, "auto", true,
        {type:"text"}, null. */
    const openai_request_t *req;
} responses_meta_t;

/*  Everything in meta is copied (meta->req is read only here). NULL when
    memory runs out or meta/id/model is NULL. */
responses_writer_t *responses_writer_new(const responses_meta_t *meta);
void responses_writer_destroy(responses_writer_t **self_p);

/*  response.created and response.in_progress. Every feeding call starts the
    stream first if this was not called; calling it again does nothing. */
int responses_writer_start(responses_writer_t *self, abuf_t *out);

/*  One upstream delta: DELTA_TEXT and DELTA_IMAGE (as a Markdown image
    link) go to a message item, DELTA_REASONING to a reasoning item (a new
    item whenever the kind changes); DELTA_CITATION is ignored (0, nothing
    written: render sources as a text delta). An empty delta does nothing. */
int responses_writer_delta(responses_writer_t *self, abuf_t *out, delta_kind_t kind,
                           const char *text, size_t len);

/*  A complete tool call: closes the open item and writes the function_call
    item's whole sequence (arguments in pieces of at most
    OPENAI_TOOL_ARGS_PIECE bytes). */
int responses_writer_tool_call(responses_writer_t *self, abuf_t *out,
                               const openai_tool_call_t *call);

/*  The end: closes the open item and writes response.completed, or
    response.incomplete when finish_reason is "length" (incomplete_details
    {reason:"max_output_tokens"}; the item it cut gets status "incomplete")
    or "content_filter" ({reason:"content_filter"}). Any other reason
    (NULL, "stop", "tool_calls") is completed. usage NULL or -1 counts: 0. */
int responses_writer_finish(responses_writer_t *self, abuf_t *out, const char *finish_reason,
                            const usage_t *usage);

/*  A failure after the stream started: `error` {code, message, param}, then
    response.failed whose response has status "failed" and error
    {code, message}; an open item keeps what it had, status "incomplete". */
int responses_writer_fail(responses_writer_t *self, abuf_t *out, const openai_error_t *err);

/*  The whole `response` object as it stands (the non-streaming body once
    finished): {id, object:"response", created_at, status, background:false,
    error, incomplete_details, model, output:[…], instructions,
    max_output_tokens, parallel_tool_calls, previous_response_id:null,
    reasoning:{effort:null, summary:null}, store (meta->req->store: the node
    keeps the output items for item_reference), temperature:null,
    text:{format}, tool_choice, tools, top_p:null, truncation:"disabled",
    user:null, metadata:{}, usage} where usage is null until finished, then
    {input_tokens, input_tokens_details:{cached_tokens:0}, output_tokens,
    output_tokens_details:{reasoning_tokens:0}, total_tokens} (the node
    caches nothing and the upstream does not count reasoning apart). */
int responses_writer_render(const responses_writer_t *self, abuf_t *out);

/*  True once finish or fail was written. */
bool responses_writer_done(const responses_writer_t *self);

/*  The output items of a finished response (completed or incomplete, not
    failed), in order, each given to fn as the Responses parser reads an
    item_reference to it (openai_item_t: text as valid UTF-8 without NUL,
    as the client read it; strings borrowed for the call). Returns how many
    were given (0 while unfinished or when failed), or -1 when memory ran
    out or fn returned -1 (which stops the walk). */
typedef int (*responses_item_fn_t)(void *arg, const openai_item_t *item);
int responses_writer_items(const responses_writer_t *self, responses_item_fn_t fn, void *arg);

#endif
