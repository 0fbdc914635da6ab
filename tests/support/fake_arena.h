/*  fake_arena — the scripted LMArena behind the fake link (internal to
    tests/support). It owns the page (model catalog in Next.js flight data),
    the validation of a `fetch` job as LMArena would do it (ARENA-UPSTREAM.md)
    and the scenario that turns a valid request into a response plan: status,
    headers, body, how the body is cut into chunks and paced, and how the job
    ends. It remembers every upstream id it has seen (bounded) so re-sent ids
    get LMArena's 400 "duplicate".

    No sockets, no timers: fake_link.c (tab frames) and fake_arena_server.c
    (HTTP) execute the plans. Threading: one fake_arena_t is used by one
    thread at a time (the fake link's; the server's callers hold its lock);
    the directive functions are pure. */
#ifndef ARENA_FAKE_ARENA_H
#define ARENA_FAKE_ARENA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"
#include "protocol/uuid7.h"
#include "tests/support/fake_link.h"

#define FAKE_ARENA_ANSWER "Hello from the fake arena."
#define FAKE_ARENA_THINKING "Thinking about it."
#define FAKE_ARENA_IMAGE_URL "https://images.fake-arena.test/1.png"
#define FAKE_ARENA_PATH "/nextjs-api/stream/create-evaluation"
#define FAKE_ARENA_CONTENT_TYPE "text/plain;charset=UTF-8"
#define FAKE_ARENA_RC_FIELD "recaptchaV3Token"
#define FAKE_ARENA_RC_ACTION "chat_submit"
/* The page's reCAPTCHA Enterprise site key per era (ARENA-UPSTREAM-2026.md). */
#define FAKE_ARENA_SITEKEY_2025 "6Led_uYrAAAAAKjxDIF58fgFtX3t8loNAK85bW9I"
#define FAKE_ARENA_SITEKEY_2026 "6LeTGMcsAAAAALuIlkVwIxaAuZA8VledA6d3Nnb0"
#define FAKE_ARENA_SITEKEY FAKE_ARENA_SITEKEY_2026 /* the default era's */
/* Participant B of a 2026 direct-battle answer (b… lines): never for clients. */
#define FAKE_ARENA_B_ANSWER "Participant B must never reach the client."
#define FAKE_ARENA_B_THINKING "B weighs it."
#define FAKE_ARENA_B_ERROR "B failed"
/* 2026 catalog rows beyond the defaults: a twin (a stale row, then the live
   one, same publicName) and a row users may not select. */
#define FAKE_ARENA_TWIN "fake-twin"
#define FAKE_ARENA_HIDDEN "fake-hidden"
#define FAKE_ARENA_ACCOUNT_DEFAULT "default" /* the account of a request without one */
#define FAKE_ARENA_MAX_ACCOUNTS 1024         /* accounts paced; the oldest go first */
#define FAKE_ARENA_MAX_PACE_WINDOW 1000      /* requests per pace window */
#define FAKE_ARENA_MAX_PACE_MS 86400000u     /* any pace interval or window */
#define FAKE_ARENA_RECAPTCHA_SRC "https://www.google.com/recaptcha/enterprise.js"
#define FAKE_ARENA_MAX_ATTACHMENT (5u * 1024 * 1024) /* one attachment URL, bytes */

/* ---- eras ---------------------------------------------------------------- */

/*  How the site behaves: 2026 (the default) or 2025 (ARENA-UPSTREAM.md). */
typedef enum { FAKE_ERA_2026 = 0, FAKE_ERA_2025 } fake_era_t;

/*  "2026" or "2025" (NULL: 2026) into out. 0, or -1 for anything else. */
int fake_era_parse(const char *s, fake_era_t *out);
const char *fake_era_name(fake_era_t era);
/*  The site key the era's page announces. */
const char *fake_era_sitekey(fake_era_t era);

/* ---- directives ----------------------------------------------------------- */

#define FAKE_DIRECTIVE_MAX 4096 /* bytes between the brackets */
#define FAKE_DIRECTIVE_MAX_KEYS 16
#define FAKE_DIRECTIVE_NAME_MAX 32

typedef struct {
    char key[FAKE_DIRECTIVE_NAME_MAX];
    char *value; /* owned, NUL-terminated, quotes and escapes removed */
} fake_kv_t;

typedef struct {
    char name[FAKE_DIRECTIVE_NAME_MAX];
    char *raw; /* owned: "name k=v …" as written, trimmed */
    fake_kv_t kv[FAKE_DIRECTIVE_MAX_KEYS];
    size_t n_kv;
} fake_directive_t;

/*  Parses "name k=v k=\"v\" …" or the same inside "[[fake:…]]". The scenario
    name and keys are checked against the scenario table. 0, or -1 with err. */
int fake_directive_parse(const char *spec, fake_directive_t *out, char *err, size_t errlen);
/*  Finds the LAST "[[fake:" in text and parses it. 1 found, 0 none, -1 bad
    (err filled). */
int fake_directive_find(const char *text, size_t len, fake_directive_t *out, char *err,
                        size_t errlen);
void fake_directive_clear(fake_directive_t *d);
/*  The value of key, or NULL. */
const char *fake_directive_get(const fake_directive_t *d, const char *key);

/* ---- response plans ------------------------------------------------------- */

typedef enum {
    FAKE_END_DONE = 0, /* head, chunks, done */
    FAKE_END_STALL,    /* head, chunks, then nothing until aborted */
    FAKE_END_CLOSE,    /* head, chunks, then the tab's socket closes abruptly */
    FAKE_END_FAIL,     /* no head: fail {stage, message} (page-side failure) */
} fake_end_t;

typedef struct {
    size_t off, len;
    unsigned delay_ms; /* wait before sending this chunk */
} fake_chunk_t;

typedef struct {
    int status;
    const char *content_type; /* static */
    char retry_after[24];     /* "" when absent */
    unsigned head_delay_ms;   /* wait before the head */
    unsigned end_delay_ms;    /* wait after the last chunk before the end */
    abuf_t body;
    fake_chunk_t *chunks;
    size_t n_chunks, cap_chunks;
    fake_end_t end;
    const char *fail_stage; /* FAKE_END_FAIL: "recaptcha" | "fetch" (static) */
    char fail_message[256];
} fake_plan_t;

void fake_plan_clear(fake_plan_t *p);

/* ---- scenarios (fake_scenario.c) ---------------------------------------- */

typedef struct {
    const fake_directive_t *d;
    const char *content; /* userMessage.content */
    size_t content_len;
    const char *upstream; /* the body as LMArena got it (echo) */
    size_t upstream_len;
    unsigned long nth; /* 1 for the first fetch carrying this exact directive */
    bool battle;       /* a 2026 direct-battle: 200 answers also carry participant B */
} fake_scenario_in_t;

/*  The keys scenario `name` accepts ("k1 k2 …"), or NULL when unknown. */
const char *fake_scenario_keys(const char *name);
/*  Builds the response plan of a valid request. 0, or -1 with err (a bad
    value in the directive, or out of memory); plan is then cleared. */
int fake_scenario_plan(const fake_scenario_in_t *in, fake_plan_t *plan, char *err, size_t errlen);
/*  The same for a plan whose chunks travel as raw bytes (HTTP) rather than
    text frames: split=utf8 then also cuts inside multi-byte characters. */
int fake_scenario_plan_bytes(const fake_scenario_in_t *in, fake_plan_t *plan, char *err,
                             size_t errlen);
/*  Appends one chunk [off, off+len) to the plan. 0 or -1. */
int fake_plan_add_chunk(fake_plan_t *p, size_t off, size_t len, unsigned delay_ms);

/*  The Cloudflare "Just a moment..." interstitial (static HTML). */
const char *fake_scenario_cloudflare_html(void);

/* ---- the arena ------------------------------------------------------------ */

/*  Verifies a reCAPTCHA token the body brought with it (minted by a real
    page, not by the fake): 0 valid (and now used up), or -1 with why in
    reason. Runs inside fake_arena_handle, on its caller's thread. */
typedef int(fake_token_check_fn)(void *arg, const char *token, char *reason, size_t reason_len);

typedef struct {
    const char *url, *method;
    json_t *headers; /* borrowed, may be NULL */
    const char *body;
    size_t body_len;
    const char *rc_field; /* NULL: the fetch frame had no recaptcha object */
    const char *rc_action, *rc_sitekey;
    const char *force;    /* directive that wins over the prompt's, or NULL */
    const char *fallback; /* directive when the prompt has none, or NULL */
    const char *account;  /* whose session sent it (paced per account); NULL: "default" */
} fake_request_t;

/*  What a request over real HTTP adds (fake_arena_handle_http): the body
    carries its own recaptchaV3Token (rc_field is NULL), checked by
    token_check, and the plan's chunks are sent as raw bytes. */
typedef struct {
    fake_token_check_fn *token_check; /* required */
    void *token_arg;
} fake_http_t;

typedef struct {
    fake_plan_t plan;
    char scenario[FAKE_DIRECTIVE_NAME_MAX]; /* "" when refused before one was chosen */
    bool rejected;                          /* refused by validation (not a scenario) */
    bool pace_violation;                    /* refused by the pace rules (429 prompt failed) */
    char reason[256];                       /* why, when rejected */
    json_t *body;      /* the upstream body as LMArena got it (object, or string if not JSON) */
    json_t *recaptcha; /* {field, action, sitekey?, token?} or NULL */
} fake_outcome_t;

void fake_outcome_clear(fake_outcome_t *o);

typedef struct _fake_arena_t fake_arena_t;

/*  The catalog: defaults, then extra, then the JSON array text of a models
    file (may be NULL); later names replace earlier ones. Every string is
    owned (free with fake_models_free); an id is NULL when none was given
    (each era's page derives its own). 0, or -1 with err. */
typedef struct {
    fake_link_model_t *models;
    size_t n;
} fake_models_t;

int fake_models_build(const fake_link_model_t *extra, size_t n_extra, const char *file_text,
                      size_t file_len, fake_models_t *out, char *err, size_t errlen);
void fake_models_free(fake_models_t *m);

typedef struct {
    const char *origin;              /* page origin; NULL: FAKE_LINK_DEFAULT_ORIGIN */
    const fake_link_model_t *models; /* added to the defaults */
    size_t n_models;
    const char *models_text; /* a models file's JSON text, or NULL */
    size_t models_len;
    size_t max_ids;  /* remembered ids before the oldest half is forgotten; 0: 1 << 20 */
    const char *era; /* "2026" (NULL) or "2025" */
} fake_arena_config_t;

/*  Pace rules (all 0: off): a request of an account that starts less than
    interval_ms after that account's previous accepted one, or that would
    make more than window accepted requests within window_ms, is answered
    429 {"error":"prompt failed"}. */
typedef struct {
    unsigned interval_ms;
    unsigned window; /* 0: no window rule */
    unsigned window_ms;
} fake_pace_t;

fake_arena_t *fake_arena_new(const fake_arena_config_t *cfg, char *err, size_t errlen);
void fake_arena_destroy(fake_arena_t **self_p);
/*  Runs one fetch. Always fills out (a plan to execute); -1 only when memory
    ran out (out is then cleared). */
int fake_arena_handle(fake_arena_t *self, const fake_request_t *req, fake_outcome_t *out);
/*  The same for a request that came over HTTP (see fake_http_t). */
int fake_arena_handle_http(fake_arena_t *self, const fake_request_t *req, const fake_http_t *http,
                           fake_outcome_t *out);
/*  Where the page loads reCAPTCHA Enterprise from, before "?render=<sitekey>"
    (default FAKE_ARENA_RECAPTCHA_SRC, Google's). 0, or -1 out of memory. */
int fake_arena_set_recaptcha_src(fake_arena_t *self, const char *src);
/*  Appends the page's HTML with the catalog as flight data. 0 or -1. */
int fake_arena_page(fake_arena_t *self, abuf_t *out);
/*  Switches the era (catalog, site key, schema, participant B) from the next
    request on; remembered ids stay. */
void fake_arena_set_era(fake_arena_t *self, fake_era_t era);
fake_era_t fake_arena_era(const fake_arena_t *self);
/*  2026's twin with its rows' roles swapped, as when the site retires a row:
    retired, the NEWER row (the one a node serves) answers 404 "Models not
    found" and the older row is live; the page lists both as before. Off
    after fake_arena_new. 0, or -1 out of memory (nothing changed). */
int fake_arena_set_twin_retired(fake_arena_t *self, bool retired);
bool fake_arena_twin_retired(const fake_arena_t *self);
/*  The site key the page announces (the era's), borrowed. */
const char *fake_arena_sitekey(const fake_arena_t *self);
/*  Sets the pace rules (NULL or all zero: off) and forgets every account's
    history. 0, or -1 when a value is out of range (window over
    FAKE_ARENA_MAX_PACE_WINDOW, a time over FAKE_ARENA_MAX_PACE_MS, a window
    without window_ms). */
int fake_arena_set_pace(fake_arena_t *self, const fake_pace_t *pace);

/*  Number of code points of a UTF-8 string (invalid bytes count as one). */
size_t fake_utf8_chars(const char *s, size_t len);

#endif
