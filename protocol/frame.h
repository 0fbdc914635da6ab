/*  frame — the JSON frames of LINK-PROTOCOL.md (node ⇄ userscript).

    Decoding is for tab → node frames; encoding for node → tab frames (and,
    for the fake link in tests, the tab side too). Pure: jansson only.
    A decoded frame borrows its strings from an owned json_t root; free it with
    frame_clear. Unknown `type`s decode as FRAME_UNKNOWN (to be ignored);
    missing or mistyped required fields are MALFORMED. */
#ifndef ARENA_FRAME_H
#define ARENA_FRAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"

#define FRAME_PROTOCOL_VERSION "1"
#define FRAME_MAX (16u * 1024 * 1024)
#define FRAME_MAX_ID 128

typedef enum {
    FRAME_UNKNOWN = 0,
    /* tab → node */
    FRAME_HELLO,
    FRAME_HEAD,
    FRAME_CHUNK,
    FRAME_DONE,
    FRAME_FAIL,
    FRAME_PAGE, /* reply, with html */
    FRAME_STATE,
    FRAME_PONG,
    FRAME_CAPTURED,
    /* node → tab */
    LINK_WELCOME,
    FRAME_FETCH,
    FRAME_ABORT,
    FRAME_PAGE_REQ, /* {"type":"page","id"} without html */
    FRAME_RELOAD,
    FRAME_PING,
} frame_type_t;

typedef enum {
    FRAME_OK = 0,
    FRAME_MALFORMED = -1,
    FRAME_TOOBIG = -2,
} frame_rc_t;

typedef struct {
    frame_type_t type;
    json_t *root;   /* owned */
    const char *id; /* head, chunk, done, fail, page, fetch, abort */
    /* hello */
    const char *token, *tab, *version, *href, *ua;
    /* head */
    int status;
    const char *content_type; /* headers["content-type"], may be NULL */
    const char *retry_after;  /* headers["retry-after"], may be NULL */
    char *upload; /* how image attachments went up: "signed" | "inline"; NULL when absent
                     or not 1..32 of [a-z0-9_-] (owned, freed by frame_clear) */
    /* chunk data / page html */
    const char *data;
    size_t data_len;
    /* fail */
    const char *stage; /* "recaptcha" | "upload" | "fetch" | "aborted" (not checked here) */
    const char *message;
    /* state */
    bool challenge, recaptcha;
    int logged_in; /* -1 absent (or not a boolean), 0 false, 1 true */
    char *account; /* the account's hash: exactly 32 lowercase hex, else NULL (owned) */
    /* ping / pong */
    long long t;
    /* fetch (decoded by the fake link) */
    const char *url, *method, *body;
    size_t body_len;
    json_t *headers;                               /* borrowed */
    const char *rc_field, *rc_action, *rc_sitekey; /* recaptcha, NULL when absent */
    const char *request_id; /* optional: the client's x-request-id, NULL when absent or not
                               1..FRAME_MAX_ID printable ASCII without space */
    /* welcome */
    const char *node;
} frame_t;

/*  Decodes one frame. err (may be NULL) receives a reason on failure.
    Optional fields added after version 1 (state's logged_in and account,
    head's upload, fetch's request_id) never make a frame malformed: a value of another shape
    reads as absent. */
frame_rc_t frame_decode(const char *buf, size_t len, frame_t *out, char *err, size_t errlen);
void frame_clear(frame_t *f);
const char *frame_type_name(frame_type_t t);

/*  Node → tab encoders: append one frame to out, 0 or -1. */
typedef struct {
    const char *field;   /* "recaptchaV3Token" */
    const char *action;  /* "chat_submit" */
    const char *sitekey; /* NULL: the page finds its own */
} frame_recaptcha_t;

int frame_encode_welcome(abuf_t *out, const char *node);
int frame_encode_fetch(abuf_t *out, const char *id, const char *url, const char *method,
                       const char *content_type, const char *body, size_t body_len,
                       const frame_recaptcha_t *rc);
/*  fetch with "request_id" (the client's x-request-id, for the tab's logs;
    NULL: left out). */
int frame_encode_fetch_ex(abuf_t *out, const char *id, const char *url, const char *method,
                          const char *content_type, const char *body, size_t body_len,
                          const frame_recaptcha_t *rc, const char *request_id);
int frame_encode_abort(abuf_t *out, const char *id);
int frame_encode_page_req(abuf_t *out, const char *id);
int frame_encode_reload(abuf_t *out);
int frame_encode_ping(abuf_t *out, long long t);

/*  Tab → node encoders (the fake link and tests). */
int frame_encode_hello(abuf_t *out, const char *token, const char *tab, const char *href,
                       const char *ua);
int frame_encode_head(abuf_t *out, const char *id, int status, const char *content_type,
                      const char *retry_after);
int frame_encode_chunk(abuf_t *out, const char *id, const char *data, size_t len);
int frame_encode_done(abuf_t *out, const char *id);
int frame_encode_fail(abuf_t *out, const char *id, const char *stage, const char *message);
int frame_encode_page(abuf_t *out, const char *id, const char *href, const char *html, size_t len);
int frame_encode_state(abuf_t *out, bool challenge, bool recaptcha);
/*  head with "upload" (NULL: left out). */
int frame_encode_head_ex(abuf_t *out, const char *id, int status, const char *content_type,
                         const char *retry_after, const char *upload);

typedef struct {
    bool challenge, recaptcha;
    int logged_in;       /* -1: left out */
    const char *account; /* NULL: left out; else 32 lowercase hex (-1 otherwise) */
} frame_state_t;

/*  state with logged_in and account. */
int frame_encode_state_ex(abuf_t *out, const frame_state_t *st);
/*  1 when s is an account hash: exactly 32 lowercase hex characters. */
bool frame_account_ok(const char *s);
int frame_encode_pong(abuf_t *out, long long t);

#endif
