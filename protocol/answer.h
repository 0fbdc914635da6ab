/*  answer — the answer to one API request, from the upstream's deltas to
    the bytes its client reads.

    One answer joins the shaper (protocol/shape: stop, max_tokens, tool
    calls, response formats) and the writer of the API the client called:
    chat completions (protocol/openai), the Responses API (protocol/
    responses) or images (openai_render_images), streamed as SSE or whole.
    The HTTP layer only moves the bytes this module appends to its buffer
    and acts on what the calls return: abort the upstream (ANSWER_CUT),
    submit the request again (ANSWER_RETRY), or send what is ready.

    Streams: nothing is appended until there is something the client may
    read (content, a tool call, reasoning, an image, the end), so the HTTP
    layer sends its headers with the first bytes and can still answer a
    plain JSON error before them (answer_started).

    Search citations are kept (at most ANSWER_MAX_CITATIONS bytes) and added
    as a "Sources:" list at the end of a text answer (never to a JSON or
    tool-call answer, which they would break).

    Pure: no sockets, no threads; one answer per request, used from one
    thread. */
#ifndef ARENA_ANSWER_H
#define ARENA_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"
#include "protocol/delta.h"
#include "protocol/openai.h"
#include "protocol/responses.h"

#define ANSWER_MAX_CITATIONS (64u * 1024)

typedef enum {
    ANSWER_CHAT,      /* POST /v1/chat/completions */
    ANSWER_RESPONSES, /* POST /v1/responses */
    ANSWER_IMAGES,    /* POST /v1/images/generations: never streamed */
} answer_api_t;

typedef struct {
    answer_api_t api;
    const char *id;           /* "chatcmpl-…", "resp_…" (images: unused) */
    long long created;        /* unix seconds */
    const char *model;        /* the name the client asked for */
    const char *instructions; /* Responses: echoed; NULL: none */
    size_t max_held;          /* the shaper's cap on held bytes; 0: its default */
} answer_meta_t;

typedef struct _answer_t answer_t;

/*  An answer to req (read here only: stream, include_usage and what the
    shaper needs are copied). NULL when memory runs out. */
answer_t *answer_new(const answer_meta_t *meta, const openai_request_t *req);
void answer_destroy(answer_t **self_p);

/*  Returns of answer_delta and answer_end. */
#define ANSWER_MORE 0 /* go on */
#define ANSWER_CUT                                                                                 \
    1                 /* answer_delta: complete (stop, max_tokens): abort the upstream,            \
                         then call answer_end with no usage */
#define ANSWER_DONE 2 /* answer_end: the whole answer is in out (or the body, whole) */
#define ANSWER_RETRY                                                                               \
    3                    /* answer_end: the answer failed its check; submit the request            \
                            again with answer_retry_note, then answer_retry */
#define ANSWER_FAIL (-1) /* out of memory or out's cap: end the request with an error */

/*  One upstream delta; appends to out what the client may read now.
    ANSWER_MORE, ANSWER_CUT or ANSWER_FAIL. */
int answer_delta(answer_t *self, abuf_t *out, delta_kind_t kind, const char *text, size_t len);

/*  The upstream ended (finish_reason and usage as it said; NULL: unknown),
    or was aborted after ANSWER_CUT. ANSWER_DONE: the end (a stream's last
    events, or the whole body) is in out. ANSWER_RETRY (at most once per
    answer): nothing of the failed part was sent; err says what failed. An
    answer the upstream cut (finish_reason "length" or "content_filter") is
    not checked: it is returned as it is, with that reason.
    After the retry also fails, a structured answer ends with 502
    invalid_model_output (the error in out, as a body or as a stream's last
    event), a required tool call with the model's text. ANSWER_FAIL: see
    above. */
int answer_end(answer_t *self, abuf_t *out, const char *finish_reason, const usage_t *usage,
               char *err, size_t errlen);

/*  After ANSWER_RETRY: the model's failed answer, to state in the retry
    (protocol/prompt's prompt_retry_note). Borrowed until the next call. */
const char *answer_retry_text(const answer_t *self);
/*  The retry is submitted: the answer starts over (new shaper; what the
    client already has stays). req: the retry's request (read here only). */
int answer_retry(answer_t *self, const openai_request_t *req);

/*  A failure: appended as the stream's error event (and its end) when the
    stream started, else as a whole error body (answer_started stays
    false: the caller answers err->status). */
int answer_error(answer_t *self, abuf_t *out, const openai_error_t *err);

/*  True once bytes of a stream went to out: headers (200, SSE) go with them. */
bool answer_started(const answer_t *self);
bool answer_streaming(const answer_t *self);
/*  The HTTP status of a whole body: 200, or the error's (answer_error, an
    images answer without an image). */
int answer_status(const answer_t *self);
/*  The whole answer is in out (ANSWER_DONE, or a stream's error end). */
bool answer_finished(const answer_t *self);

/*  A Responses answer's writer (its items: responses_writer_items), NULL
    for the other APIs. Borrowed. */
const responses_writer_t *answer_responses(const answer_t *self);

#endif
