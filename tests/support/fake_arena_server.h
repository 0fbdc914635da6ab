/*  fake_arena_server — the scripted LMArena (fake_arena.h) as a real HTTP
    server on 127.0.0.1, for end-to-end tests where a real browser loads the
    page, runs our userscript and does the site's requests with fetch().

    It owns: the page (GET / and any page path: the catalog as Next.js flight
    data and a <script src="/recaptcha/enterprise.js?render=SITEKEY"> tag), a
    fake reCAPTCHA Enterprise script whose execute() mints tokens at
    POST /__fake/recaptcha/mint (random, single-use, bound to their action,
    expiring), POST /nextjs-api/stream/create-evaluation validated by the
    engine (fresh ids, the body's token, the model…) and answered with the
    scenario's plan streamed with its chunking and delays, a Cloudflare
    challenge mode, and the JSON control/recording API under /__fake/ (see
    docs/testing.md, "Fake LMArena server").

    Threading: libmicrohttpd runs one thread per connection (so a response
    may sleep between chunks); one mutex guards the engine, the tokens, the
    modes and the record. Every function below is safe from any thread. */
#ifndef ARENA_FAKE_ARENA_SERVER_H
#define ARENA_FAKE_ARENA_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "tests/support/fake_link.h"

#define FAKE_SERVER_TOKEN_TTL_MS 120000u         /* a token lives 2 minutes */
#define FAKE_SERVER_MAX_TOKEN_TTL_MS 3600000u    /* the longest settable */
#define FAKE_SERVER_MAX_TOKENS 100000u           /* tokens kept; the oldest go first */
#define FAKE_SERVER_MAX_REQUESTS 10000u          /* requests recorded; the oldest go first */
#define FAKE_SERVER_MAX_BODY (32u * 1024 * 1024) /* one request body */
#define FAKE_SERVER_MAX_CONNECTIONS 256u
#define FAKE_SERVER_KEEPALIVE_MS 100u /* a stalled stream writes "\n" this often */
#define FAKE_SERVER_RECAPTCHA_SRC "/recaptcha/enterprise.js"
#define FAKE_SERVER_MINT_PATH "/__fake/recaptcha/mint"

typedef struct _fake_arena_server_t fake_arena_server_t;

typedef struct {
    unsigned port; /* on 127.0.0.1; 0: any free port */
    /* The catalog: the four defaults, then models, then a models file's JSON
       text (as fake-link's --models), later names replacing earlier ones. */
    const fake_link_model_t *models;
    size_t n_models;
    const char *models_text;
    size_t models_len;
    unsigned token_ttl_ms;        /* 0: FAKE_SERVER_TOKEN_TTL_MS */
    const char *force_scenario;   /* directive winning over the prompt's, or NULL */
    const char *default_scenario; /* directive when the prompt has none, or NULL */
    size_t max_tokens;            /* 0: FAKE_SERVER_MAX_TOKENS */
    size_t max_requests;          /* 0: FAKE_SERVER_MAX_REQUESTS */
    size_t max_body;              /* 0: FAKE_SERVER_MAX_BODY */
    size_t max_ids;               /* duplicate-id memory; 0: the engine's default */
    const char *era;              /* how the site behaves: "2026" (NULL) or "2025" */
} fake_arena_server_config_t;

/*  Validates the config, listens and starts serving. NULL with err. */
fake_arena_server_t *fake_arena_server_new(const fake_arena_server_config_t *cfg, char *err,
                                           size_t errlen);
/*  Stops (ending every stream and stall at once), joins, frees. Accepts NULL. */
void fake_arena_server_destroy(fake_arena_server_t **self_p);

unsigned fake_arena_server_port(const fake_arena_server_t *self);
/*  "http://127.0.0.1:PORT", borrowed for the server's life. */
const char *fake_arena_server_url(const fake_arena_server_t *self);

/*  What POST /__fake/control does, from C: a JSON object with any of
    force, default (directive or null), challenge, challenge_once (bool),
    token_ttl_ms (1..FAKE_SERVER_MAX_TOKEN_TTL_MS), era ("2026"|"2025"),
    pace ({"interval_ms","window","window_ms"} or null). All or nothing: 0,
    or -1 with err. */
int fake_arena_server_control(fake_arena_server_t *self, const char *json, char *err,
                              size_t errlen);
/*  What POST /__fake/reset does: forgets requests, ids and tokens, and
    puts the modes back to the config's (era too; pace off). */
int fake_arena_server_reset(fake_arena_server_t *self);
/*  A deep copy of GET /__fake/requests' array (the caller's to decref), or
    NULL when out of memory. */
json_t *fake_arena_server_requests(fake_arena_server_t *self);

#endif
