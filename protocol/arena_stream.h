/*  arena_stream — incremental parser of LMArena response bodies
    (ARENA-UPSTREAM.md, "Response body").

    Lines are `<P><C>:<JSON>` with P in {a,b} and an optional "data: " prefix.
    The parser keeps the partial tail between feeds, so chunks may split lines
    and UTF-8 sequences anywhere. Every complete line is parsed with a real
    JSON parser and reported as one event. A line longer than max_line is a
    TOOBIG error; a line that is not of the format is reported as
    ARENA_EV_UNKNOWN and skipped (the upstream adds line kinds over time). */
#ifndef ARENA_ARENA_STREAM_H
#define ARENA_ARENA_STREAM_H

#include <stddef.h>

#include "protocol/delta.h"

typedef enum {
    ARENA_EV_DELTA,       /* text, reasoning, image URL or citation text: see delta */
    ARENA_EV_ERROR,       /* a3:"message" */
    ARENA_EV_FINISH,      /* ad:{finishReason, usage} */
    ARENA_EV_ARENA_ERROR, /* a0:"hasArenaError" sentinel */
    ARENA_EV_META,        /* ae/af/routed_model and other metadata */
    ARENA_EV_UNKNOWN,     /* not of the line format, skipped */
} arena_ev_kind_t;

typedef struct {
    arena_ev_kind_t kind;
    char participant;   /* 'a' or 'b' ('\0' for UNKNOWN) */
    delta_kind_t delta; /* for ARENA_EV_DELTA */
    const char *text;   /* delta text, image URL, error message; borrowed */
    size_t len;
    const char *finish_reason; /* OpenAI names: stop, length, content_filter, error, unknown */
    usage_t usage;             /* for ARENA_EV_FINISH; -1 where absent */
} arena_event_t;

typedef enum {
    ARENA_STREAM_OK = 0,
    ARENA_STREAM_TOOBIG = -2, /* a line exceeded max_line */
    ARENA_STREAM_ABORT = -3,  /* the callback returned non-zero */
} arena_stream_rc_t;

/*  Return non-zero from the callback to stop parsing (ARENA_STREAM_ABORT). */
typedef int(arena_stream_cb)(void *arg, const arena_event_t *ev);

typedef struct _arena_stream_t arena_stream_t;

/*  max_line: longest accepted line in bytes (0: 16 MiB). */
arena_stream_t *arena_stream_new(size_t max_line);
void arena_stream_destroy(arena_stream_t **self_p);
int arena_stream_feed(arena_stream_t *self, const char *data, size_t len, arena_stream_cb *cb,
                      void *arg);
/*  End of body: parses a final line without a newline. */
int arena_stream_finish(arena_stream_t *self, arena_stream_cb *cb, void *arg);
/*  Counters since creation. */
size_t arena_stream_content_deltas(const arena_stream_t *self); /* text/reasoning/image */

/*  Upstream failure classes of ARENA-UPSTREAM.md, "Failures and what to do". */
typedef enum {
    ARENA_FAIL_NONE = 0,   /* 2xx: parse the body */
    ARENA_FAIL_RATE_LIMIT, /* 429 */
    ARENA_FAIL_RECAPTCHA,  /* 403 recaptcha validation failed */
    ARENA_FAIL_CLOUDFLARE, /* 403/503 challenge page */
    ARENA_FAIL_SESSION,    /* 401 no access to evaluation session */
    ARENA_FAIL_LOCKED,     /* 400 message already has feedback */
    ARENA_FAIL_DUPLICATE,  /* 400 duplicate ids: retry with fresh ids */
    ARENA_FAIL_SHAPE,      /* 400 ZodError: request shape drifted */
    ARENA_FAIL_MODERATION, /* 422 */
    ARENA_FAIL_TOO_LARGE,  /* 413 */
    ARENA_FAIL_OTHER,      /* any other non-2xx */
    /* 2026 (ARENA-UPSTREAM-2026.md, "Errors seen") */
    ARENA_FAIL_MODE,           /* 400 '<mode>' mode is not allowed …: permanent */
    ARENA_FAIL_NOT_SELECTABLE, /* 400 model not available for user selection: permanent */
    ARENA_FAIL_NEXT_TURN,      /* 400 Bad next turn request: permanent */
    ARENA_FAIL_STALE_MODEL,    /* 404 Models not found: a stale catalog row (a twin) */
    ARENA_FAIL_ACCOUNT_FLAG,   /* 429 prompt failed: the account is flagged */
    ARENA_FAIL_LOGIN,          /* 401 other than the session one: not logged in */
} arena_fail_t;

/*  Classifies a finished non-2xx (or 2xx) upstream response from its status,
    content-type and (a prefix of) its body. */
arena_fail_t arena_classify(int status, const char *content_type, const char *body, size_t len);
const char *arena_fail_name(arena_fail_t f);
/*  1 when a retry on another target (or with fresh ids) may succeed. */
int arena_fail_retryable(arena_fail_t f);
/*  1 when the site refused the request itself: the same request fails the
    same way on every tab and peer (mode, model not selectable, shape,
    follow-up into a battle, locked message, moderation, size). */
int arena_fail_permanent(arena_fail_t f);
/*  The field a ZodError body names: the first issue's "path" joined with
    "." (e.g. "userMessage.content"), also when the issue list is JSON text
    escaped inside a string. "" when there is none. */
void arena_zod_field(const char *body, size_t len, char *out, size_t outlen);
/*  Parses a Retry-After value (delta-seconds or an HTTP-date) into
    milliseconds from now_unix_ms; -1 when absent or malformed. */
long long arena_retry_after_ms(const char *value, long long now_unix_ms);
/*  A short human message extracted from an upstream error body (the JSON
    "error"/"message" field or the first text), written to out. */
void arena_error_message(const char *body, size_t len, char *out, size_t outlen);

#endif
