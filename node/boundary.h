/*  boundary — the browser boundary's decisions on a request's headers
    (docs/operations.md, "The HTTP front end and the browser"): is Host one
    of the node's names, may a web origin change state here, may the
    userscript go to this fetch, is the body declared JSON, is a credential
    free of control characters. http.c asks them before reading a body.
    Pure: no state, no allocation; any thread. Strings may be NULL (the
    header is absent). */
#ifndef ARENA_BOUNDARY_H
#define ARENA_BOUNDARY_H

#include <stdbool.h>
#include <stddef.h>

#include "node/config.h"

#define BOUNDARY_HOST_MAX 300 /* longest Host (or --http-name) considered */

/*  Where a request came in. */
typedef struct {
    int port;               /* the node's HTTP port */
    const char *bound;      /* the --http address as bound ("127.0.0.1", "::") */
    const char *local;      /* the connection's local address as Host names it
                               ("127.0.0.1", "[::1]"), or NULL when unknown */
    bool local_loopback;    /* local is a loopback address */
    const strlist_t *names; /* --http-name: NAME or NAME:PORT each; may be NULL */
} boundary_where_t;

/*  host → name (with its brackets for IPv6) and port (0 when absent).
    false when malformed or longer than namelen - 1. */
bool boundary_split_host(const char *host, char *name, size_t namelen, int *port);

/*  Host is one of the node's own names: a --http-name (any port unless it
    names one), or with the node's port (80 when Host has none): the bound
    address, the connection's local address, and localhost / 127.0.0.1 /
    [::1] when that is a loopback address. NULL (HTTP/1.0 without Host: no
    browser) passes. */
bool boundary_host_ok(const boundary_where_t *w, const char *host);

/*  The CORS setting allows origin: listed (case-insensitive) or "*"; an
    empty list means any when keys are configured, none when not. An origin
    with a control character or longer than BOUNDARY_HOST_MAX is never
    allowed (it is echoed in Access-Control-Allow-Origin). */
bool boundary_cors_allows(const strlist_t *cors, bool keys, const char *origin);

/*  The request headers a preflight allows when the browser names none or
    names them badly: what the openai, AI SDK and LangChain clients send. */
#define BOUNDARY_CORS_ALLOW_HEADERS                                                                \
    "Authorization, Content-Type, Accept, OpenAI-Beta, OpenAI-Organization, OpenAI-Project, "      \
    "X-Stainless-Arch, X-Stainless-Lang, X-Stainless-OS, X-Stainless-Package-Version, "            \
    "X-Stainless-Retry-Count, X-Stainless-Runtime, X-Stainless-Runtime-Version, "                  \
    "X-Stainless-Timeout, X-Stainless-Helper-Method, X-Stainless-Poll-Helper, "                    \
    "X-Stainless-Custom-Poll-Interval, X-Stainless-Async, X-Stainless-Raw-Response"
/*  The answer headers a page may read (Access-Control-Expose-Headers). */
#define BOUNDARY_CORS_EXPOSE_HEADERS                                                               \
    "x-request-id, retry-after, retry-after-ms, x-ratelimit-limit-requests, "                      \
    "x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "       \
    "x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, x-arena-ignored"
#define BOUNDARY_CORS_MAX_AGE "7200" /* seconds a preflight is cached (Chromium's cap) */
#define BOUNDARY_TOKENS_MAX 2048     /* longest Access-Control-Request-Headers reflected */

/*  list is a comma-separated list of header names (RFC 9110 tokens, spaces
    and tabs around the commas), not empty, at most BOUNDARY_TOKENS_MAX
    bytes: safe to reflect in Access-Control-Allow-Headers. */
bool boundary_header_tokens(const char *list);

/*  A state-changing request (POST …) may go on: Origin absent, the node's
    own ("http://" + Host) or allowed by the CORS setting; Sec-Fetch-Site
    absent, "same-origin", "none", or the Origin allowed. */
bool boundary_origin_ok(const strlist_t *cors, bool keys, const char *host, const char *origin,
                        const char *site);

/*  The userscript (it holds the link token) may be served to this fetch:
    Sec-Fetch-Dest absent, "document" or "empty"; and Sec-Fetch-Site absent,
    "none" or "same-origin", or else a navigation to a document (a person
    following a link: the linking page cannot read it) or a cors-mode fetch
    (unreadable without a CORS header, which the userscript never has; a
    userscript manager's own request may be one). Never as a script, worker,
    style …, nor a no-cors load from another site. */
bool boundary_userscript_ok(const char *dest, const char *mode, const char *site);

/*  Content-Type is application/json, parameters allowed. */
bool boundary_json_type(const char *content_type);

/*  s[0..len) has no control character (NUL included). */
bool boundary_printable(const char *s, size_t len);

/*  "Bearer KEY" (scheme case-insensitive) → the key; false otherwise. */
bool boundary_bearer(const char *h, size_t len, const char **key, size_t *keylen);

#endif
