/*  openai — OpenAI chat-completions request parsing and validation, and the
    rendering of answers as OpenAI JSON bodies and SSE chunks.

    Pure: no sockets, no threads. The parser never trusts its input: the body
    size is the caller's bound, JSON nesting depth and message/part counts are
    checked here, and every failure fills an openai_error_t with the status and
    code of INTERFACES.md (400 invalid_request, 413 request_too_large). */
#ifndef ARENA_OPENAI_H
#define ARENA_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"
#include "protocol/delta.h"

typedef struct {
    char *url; /* data: URI or http(s) URL, validated */
} openai_image_t;

/*  A function call the assistant made (in the history a client sends back,
    or parsed from a model's answer by protocol/shape). */
typedef struct {
    char *id;        /* "call_…": the client's, or one the node made */
    char *name;      /* the function's name */
    char *arguments; /* JSON text of the arguments object */
} openai_tool_call_t;

typedef struct {
    char *role;    /* system | developer | user | assistant | tool ("function" is read as tool) */
    char *content; /* text parts joined with "\n"; never NULL ("" when none) */
    char *name;    /* the speaker's label (`name`), or a tool result's function; NULL: none */
    char *tool_call_id;             /* role tool: the call it answers; NULL: none */
    openai_tool_call_t *tool_calls; /* role assistant: the calls it made */
    size_t n_tool_calls;
    openai_image_t *images;
    size_t n_images;
} openai_message_t;

/*  A function the client offers (`tools[].function`). */
typedef struct {
    char *name;
    char *description; /* NULL: none */
    char *parameters;  /* JSON Schema text of the arguments; NULL: none */
    bool strict;
} openai_tool_t;

typedef enum {
    OPENAI_TOOL_AUTO,     /* default with tools */
    OPENAI_TOOL_NONE,     /* never call a tool */
    OPENAI_TOOL_REQUIRED, /* call at least one */
    OPENAI_TOOL_NAMED,    /* call tool_choice_name */
} openai_tool_choice_t;

typedef enum {
    OPENAI_FORMAT_TEXT,        /* default */
    OPENAI_FORMAT_JSON_OBJECT, /* response_format {"type":"json_object"} */
    OPENAI_FORMAT_JSON_SCHEMA, /* response_format {"type":"json_schema",…} */
} openai_format_t;

#define OPENAI_MAX_STOP 4 /* stop sequences, as OpenAI allows */

typedef struct {
    char *model;
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    openai_message_t *messages;
    size_t n_messages;
    size_t n_images_total;
    /* What the origin applies to the answer (protocol/shape) and states in
       the prompt (protocol/prompt); not written for a peer once lowered. */
    char *stop[OPENAI_MAX_STOP];
    size_t n_stop;
    long long max_tokens; /* max_tokens | max_completion_tokens | max_output_tokens; -1: none */
    bool logprobs;        /* asked: each choice carries "logprobs": null */
    openai_tool_t *tools;
    size_t n_tools;
    openai_tool_choice_t tool_choice;
    char *tool_choice_name;   /* OPENAI_TOOL_NAMED */
    bool parallel_tool_calls; /* default true */
    openai_format_t format;
    char *format_name;   /* json_schema.name */
    char *format_schema; /* json_schema.schema as JSON text */
    bool format_strict;  /* json_schema.strict */
    /* Who asked, as the node that took the request verified it: the hex of
       BLAKE2b-64 of the client's API key ("" on a node without keys). Not
       part of the JSON (openai_request_write, openai_request_equal). */
    char client[65];
    /* Added after the shared fields above (issue #10). */
    /* Names of the fields the client sent that the node accepts but cannot
       apply (sampling hints, extensions: "temperature,top_k,…"), comma-
       separated, for the x-arena-ignored header; names that do not fit are
       left out. Not written, not compared. */
    char ignored[160];
    /* POST /v1/images/generations: the `size` asked ("auto" or "<W>x<H>");
       "" for chat. Written as the extension field "image_size". */
    char image_size[16];
    /* Set by prompt_lower: tools, formats and the tool history are stated in
       the messages now, so a peer that receives the request must not state
       them again. Written as the extension field "arena_lowered":true. */
    bool lowered;
    /* A Responses request's `instructions`: its first message, the system
       one (echoed back as `instructions`). Not written, not compared. */
    bool instructions;
    /* The x-request-id of the HTTP request that brought it ("req_" + a
       UUIDv7), carried to a peer in `fwd` and to the tab in `job`; "" when
       unknown. Not part of the JSON, like client. */
    char request_id[48];
    /* POST /v1/responses: `store` (default true): the node may keep the
       answer's output items so that a later item_reference finds them
       (node/items). Always false for chat and images. Not written, not
       compared. */
    bool store;
} openai_request_t;

/*  The defaults of --max-json-depth and --max-messages: node/config.c's
    option table shows these macros, so the value is written once. */
#define OPENAI_DEFAULT_MAX_DEPTH 32
#define OPENAI_DEFAULT_MAX_MESSAGES 1024

typedef struct {
    size_t max_depth;     /* JSON nesting, default OPENAI_DEFAULT_MAX_DEPTH */
    size_t max_messages;  /* default OPENAI_DEFAULT_MAX_MESSAGES */
    size_t max_parts;     /* content parts per message, default 64 */
    size_t max_images;    /* image parts per request, default 16 */
    size_t max_model_len; /* default 256 */
} openai_limits_t;

void openai_limits_default(openai_limits_t *lim);

typedef struct {
    int status;        /* HTTP status: 400, 401, 404, 413, 422, 429, 502, 503 */
    const char *type;  /* "invalid_request_error", ... (static) */
    const char *code;  /* "invalid_request", "request_too_large", ... (static) */
    char param[64];    /* offending field, "" when none */
    char message[320]; /* for a person */
} openai_error_t;

/*  Fills err; code chooses type and status from the table of INTERFACES.md,
    plus not_found 404, method_not_allowed 405 (invalid_request_error) and
    internal_error 500 (server_error). An unknown code gets 400 and
    invalid_request_error and is kept by pointer, so pass a literal. */
void openai_error_set(openai_error_t *err, const char *code, const char *param, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/*  Status for an error code (400 for unknown codes). */
int openai_error_status(const char *code);

/*  Parses and validates a /v1/chat/completions body. Returns 0 and a request
    the caller frees with openai_request_destroy, or -1 with err filled
    (400 invalid_request; 500 internal_error only when memory runs out).
    lim NULL means the defaults; err may be NULL. */
int openai_request_parse(const char *body, size_t len, const openai_limits_t *lim,
                         openai_request_t **out, openai_error_t *err);
void openai_request_destroy(openai_request_t **self_p);
/*  True when both requests carry the same model, flags, messages (with
    names, tool calls and call ids), images, stop, max_tokens, logprobs,
    tools, tool choice, format, image_size and lowered (used to check that
    write → parse round-trips; client and ignored are not compared). */
bool openai_request_equal(const openai_request_t *a, const openai_request_t *b);

/*  Parses a POST /v1/responses body (the Responses API) into the same
    request: `instructions` becomes a system message first; `input` (a string
    or items: messages, function_call, function_call_output) becomes the
    messages; tools are the flat {type:"function",name,…} form; text.format
    the response format; max_output_tokens max_tokens; store (default true)
    req->store. Fields that need stored state (previous_response_id,
    conversation, background) are refused with a 400 naming them, and so is
    every item_reference here (see openai_responses_parse_ex); hints are
    listed in ignored. Same contract as openai_request_parse. */
int openai_responses_parse(const char *body, size_t len, const openai_limits_t *lim,
                           openai_request_t **out, openai_error_t *err);

/*  An output item of an earlier Responses answer, as an `item_reference`
    resolves to it (node/items keeps them). Strings are borrowed. */
typedef enum {
    OPENAI_ITEM_MESSAGE,   /* an assistant message: text */
    OPENAI_ITEM_REASONING, /* the model's notes: text is the summary (dropped, as sent inline) */
    OPENAI_ITEM_CALL,      /* a function_call: call_id, name, text = arguments */
} openai_item_kind_t;

typedef struct {
    openai_item_kind_t kind;
    const char *id;   /* "msg_…", "rs_…", "fc_…" */
    const char *text; /* NUL-terminated, valid UTF-8 */
    const char *call_id;
    const char *name;
} openai_item_t;

/*  How the Responses parser resolves `{"type":"item_reference","id":…}`:
    find(arg, id, out) fills out (borrowed until the parse returns) and
    returns true, or false when the caller has no such item (made by another
    node or another API key, or expired). keep_s, for the error message, is
    how long the caller keeps items. */
typedef struct {
    bool (*find)(void *arg, const char *id, openai_item_t *out);
    void *arg;
    long long keep_s;
} openai_items_t;

/*  openai_responses_parse with references resolved through items (NULL:
    every reference is a 400, as in openai_responses_parse). A referenced
    message becomes an assistant message, a function_call a call of one,
    reasoning is dropped as it is when sent inline. An item with no type,
    an id and no role is a reference too (OpenAI's shape). */
int openai_responses_parse_ex(const char *body, size_t len, const openai_limits_t *lim,
                              const openai_items_t *items, openai_request_t **out,
                              openai_error_t *err);

/*  Parses a POST /v1/images/generations body: `model` and `prompt` (at most
    OPENAI_IMAGE_PROMPT_MAX code points) are required, n must be 1,
    response_format "url", size "auto" or "<W>x<H>" (kept in image_size).
    The request has one user message, the prompt. */
#define OPENAI_IMAGE_PROMPT_MAX 32000
int openai_images_parse(const char *body, size_t len, const openai_limits_t *lim,
                        openai_request_t **out, openai_error_t *err);

/*  Bounds of the parsers (not settings: OpenAI's own limits or near them). */
#define OPENAI_MAX_TOOLS 128             /* tools / functions */
#define OPENAI_MAX_TOOL_CALLS 128        /* tool_calls of one message */
#define OPENAI_MAX_SCHEMA_BYTES 65536    /* a parameters / schema JSON text */
#define OPENAI_MAX_NAME 64               /* a message or function name */
#define OPENAI_MAX_ARGUMENTS_BYTES 65536 /* one tool call's arguments text */

/*  A deep copy (by write and parse, so it is what a peer would get, plus
    client, request_id and ignored); NULL when memory runs out. */
openai_request_t *openai_request_clone(const openai_request_t *req);

/*  Serializes a normalized request as compact JSON (for the mesh `fwd`), and
    back: every field above but client and ignored, in OpenAI's chat form
    (tools nested, max_completion_tokens, response_format), plus the node's
    own image_size and arena_lowered. openai_request_parse of the result
    yields an equal request (under limits no smaller than the defaults:
    image parts are written in the object form, 6 levels deep). */
int openai_request_write(const openai_request_t *req, abuf_t *out);

/*  Rendering. Every function appends to out and returns 0 or -1; on -1 out
    is left as it was. Strings are escaped and invalid UTF-8 becomes U+FFFD,
    so the output is strict JSON for any bytes. A NULL finish_reason renders
    as "stop"; usage counts of -1 (or a NULL usage) render as 0. */
typedef struct {
    const char *id;    /* "chatcmpl-…" */
    long long created; /* unix seconds */
    const char *model; /* the model name the client asked for */
} openai_render_ctx_t;

int openai_render_error(abuf_t *out, const openai_error_t *err);
/*  SSE `data: {...}\n\n` events. The first chunk of a stream carries
    role "assistant" (set first=true). Image deltas become Markdown image
    links in content; citations are not rendered here (0 is returned and
    nothing appended, so keep first=true for the next delta). */
int openai_render_sse_delta(abuf_t *out, const openai_render_ctx_t *ctx, bool first,
                            delta_kind_t kind, const char *text, size_t len);
int openai_render_sse_finish(abuf_t *out, const openai_render_ctx_t *ctx,
                             const char *finish_reason);
/*  The include_usage chunk: empty choices, usage filled. */
int openai_render_sse_usage(abuf_t *out, const openai_render_ctx_t *ctx, const usage_t *usage);
int openai_render_sse_error(abuf_t *out, const openai_error_t *err);
int openai_render_sse_done(abuf_t *out);
/*  A whole non-streaming chat.completion body. reasoning may be NULL. */
int openai_render_completion(abuf_t *out, const openai_render_ctx_t *ctx, const char *content,
                             size_t content_len, const char *reasoning, size_t reasoning_len,
                             const char *finish_reason, const usage_t *usage);

/*  One /v1/models entry. display_name (the site's label for the model,
    e.g. "GPT-5" for a codename id) is rendered only when not NULL. */
typedef struct {
    const char *id;
    long long created;
    const char *owned_by;
    const char *display_name;
} openai_model_entry_t;
int openai_render_models(abuf_t *out, const openai_model_entry_t *models, size_t n);
/*  `GET /v1/models/{id}`: the same object as one entry of the list. */
int openai_render_model(abuf_t *out, const openai_model_entry_t *model);

/*  --- Answers with tool calls (issue #10) -------------------------------

    What every chat answer carries, as OpenAI sends it: each choice has
    "logprobs": null (the node has no token probabilities; the key is never
    missing, also when the client asked logprobs:true), and a whole body's
    message has "refusal": null. No system_fingerprint (optional in every SDK,
    and the node has none to give); usage has the three counts only. */

/*  Longest run of argument bytes in one delta.tool_calls piece; longer
    arguments are split on UTF-8 character boundaries. */
#define OPENAI_TOOL_ARGS_PIECE 512

/*  The SSE chunks of one complete tool call, choice 0, `index` its place
    among this answer's calls (0, 1, …): first a piece with
    {index, id, type:"function", function:{name, arguments:""}} (with role
    "assistant" when first is true: the stream's first chunk), then the
    arguments in pieces {index, function:{arguments:"…"}} of at most
    OPENAI_TOOL_ARGS_PIECE bytes (none when arguments is empty). Clients
    concatenate the pieces by index. call->id NULL renders "call_<index>".
    End the stream with openai_render_sse_finish(…, "tool_calls"). */
int openai_render_sse_tool_call(abuf_t *out, const openai_render_ctx_t *ctx, bool first,
                                size_t index, const openai_tool_call_t *call);

/*  A whole answer for openai_render_answer. */
typedef struct {
    const char *content; /* answer text; NULL (or len 0) with tool calls: "content": null */
    size_t content_len;
    const char *reasoning; /* NULL: no reasoning_content key */
    size_t reasoning_len;
    const openai_tool_call_t *tool_calls; /* rendered as message.tool_calls */
    size_t n_tool_calls;
    /*  NULL: "stop". With tool calls, NULL and "stop" render "tool_calls";
        other reasons ("length", "content_filter") are kept. */
    const char *finish_reason;
    const usage_t *usage; /* NULL: zeros */
} openai_answer_t;

/*  A whole non-streaming chat.completion body:
    {id, object:"chat.completion", created, model, choices:[{index:0,
    message:{role:"assistant", content, refusal:null, [reasoning_content],
    [tool_calls:[{id, type:"function", function:{name, arguments}}]]},
    logprobs:null, finish_reason}], usage}. openai_render_completion is this
    without tool calls. */
int openai_render_answer(abuf_t *out, const openai_render_ctx_t *ctx, const openai_answer_t *ans);

/*  `POST /v1/images/generations`: {created, data:[{url, [revised_prompt]}]}. */
typedef struct {
    const char *url;
    const char *revised_prompt; /* NULL: no key */
} openai_image_result_t;
int openai_render_images(abuf_t *out, long long created, const openai_image_result_t *images,
                         size_t n);

/*  Building blocks shared with protocol/responses: a quoted strict-JSON
    string (invalid UTF-8 becomes U+FFFD), and the Markdown link an image
    delta becomes in answer text (`![image](URL)\n`, link breakers
    percent-encoded). Both append and return 0 or -1. */
int openai_render_json_str(abuf_t *out, const char *s, size_t len);
int openai_render_image_markdown(abuf_t *out, const char *url, size_t len);

#endif
