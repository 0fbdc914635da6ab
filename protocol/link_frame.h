/*  link_frame — the JSON frames of LINK-PROTOCOL.md (node ⇄ userscript).

    Decoding is for tab → node frames; encoding for node → tab frames (and,
    for the fake link in tests, the tab side too). Pure: jansson only.
    A decoded frame borrows its strings from an owned json_t root; free it with
    link_frame_clear. Unknown `type`s decode as LINK_UNKNOWN (to be ignored);
    missing or mistyped required fields are MALFORMED. */
#ifndef ARENA_LINK_FRAME_H
#define ARENA_LINK_FRAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"

#define LINK_PROTOCOL_VERSION "1"
#define LINK_MAX_FRAME (16u * 1024 * 1024)
#define LINK_MAX_ID 128

typedef enum {
    LINK_UNKNOWN = 0,
    /* tab → node */
    LINK_HELLO,
    LINK_HEAD,
    LINK_CHUNK,
    LINK_DONE,
    LINK_FAIL,
    LINK_PAGE, /* reply, with html */
    LINK_STATE,
    LINK_PONG,
    LINK_CAPTURED,
    /* node → tab */
    LINK_WELCOME,
    LINK_FETCH,
    LINK_ABORT,
    LINK_PAGE_REQ, /* {"type":"page","id"} without html */
    LINK_RELOAD,
    LINK_PING,
} link_type_t;

typedef enum {
    LINK_OK = 0,
    LINK_MALFORMED = -1,
    LINK_TOOBIG = -2,
} link_rc_t;

typedef struct {
    link_type_t type;
    json_t *root;   /* owned */
    const char *id; /* head, chunk, done, fail, page, fetch, abort */
    /* hello */
    const char *token, *tab, *version, *href, *ua;
    /* head */
    int status;
    const char *content_type; /* headers["content-type"], may be NULL */
    const char *retry_after;  /* headers["retry-after"], may be NULL */
    char *upload; /* how image attachments went up: "signed" | "inline"; NULL when absent
                     or not 1..32 of [a-z0-9_-] (owned, freed by link_frame_clear) */
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
    /* welcome */
    const char *node;
} link_frame_t;

/*  Decodes one frame. err (may be NULL) receives a reason on failure.
    Optional fields added after version 1 (state's logged_in and account,
    head's upload) never make a frame malformed: a value of another shape
    reads as absent. */
link_rc_t link_frame_decode(const char *buf, size_t len, link_frame_t *out, char *err,
                            size_t errlen);
void link_frame_clear(link_frame_t *f);
const char *link_type_name(link_type_t t);

/*  Node → tab encoders: append one frame to out, 0 or -1. */
typedef struct {
    const char *field;   /* "recaptchaV3Token" */
    const char *action;  /* "chat_submit" */
    const char *sitekey; /* NULL: the page finds its own */
} link_recaptcha_t;

int link_encode_welcome(abuf_t *out, const char *node);
int link_encode_fetch(abuf_t *out, const char *id, const char *url, const char *method,
                      const char *content_type, const char *body, size_t body_len,
                      const link_recaptcha_t *rc);
int link_encode_abort(abuf_t *out, const char *id);
int link_encode_page_req(abuf_t *out, const char *id);
int link_encode_reload(abuf_t *out);
int link_encode_ping(abuf_t *out, long long t);

/*  Tab → node encoders (the fake link and tests). */
int link_encode_hello(abuf_t *out, const char *token, const char *tab, const char *href,
                      const char *ua);
int link_encode_head(abuf_t *out, const char *id, int status, const char *content_type,
                     const char *retry_after);
int link_encode_chunk(abuf_t *out, const char *id, const char *data, size_t len);
int link_encode_done(abuf_t *out, const char *id);
int link_encode_fail(abuf_t *out, const char *id, const char *stage, const char *message);
int link_encode_page(abuf_t *out, const char *id, const char *href, const char *html, size_t len);
int link_encode_state(abuf_t *out, bool challenge, bool recaptcha);
/*  head with "upload" (NULL: left out). */
int link_encode_head_ex(abuf_t *out, const char *id, int status, const char *content_type,
                        const char *retry_after, const char *upload);

typedef struct {
    bool challenge, recaptcha;
    int logged_in;       /* -1: left out */
    const char *account; /* NULL: left out; else 32 lowercase hex (-1 otherwise) */
} link_state_t;

/*  state with logged_in and account. */
int link_encode_state_ex(abuf_t *out, const link_state_t *st);
/*  1 when s is an account hash: exactly 32 lowercase hex characters. */
bool link_account_ok(const char *s);
int link_encode_pong(abuf_t *out, long long t);

#endif
