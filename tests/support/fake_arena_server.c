/*  fake_arena_server — the scripted LMArena over real HTTP; see
    fake_arena_server.h and docs/testing.md ("Fake LMArena server").

    One libmicrohttpd daemon, one thread per connection: a streamed answer is
    a content reader that sleeps before each planned chunk (in short slices,
    watching for the client going away and for the server stopping) and
    hands MHD exactly one planned chunk per call, so each leaves as its own
    HTTP chunk. Non-2xx answers are plain responses with a Content-Length.
    The engine, the tokens, the modes and the record share one mutex; a
    request holds it only while it is checked and planned, never while it
    sleeps or writes. */
#define _GNU_SOURCE /* POLLRDHUP */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "protocol/abuf.h"
#include "protocol/alog.h"
#include "tests/support/fake_arena.h"
#include "tests/support/fake_arena_server.h"

#define S_SMALL_BODY (64u * 1024)       /* control and mint bodies */
#define S_MAX_RECORD_BYTES (256u << 20) /* request bodies kept in the record, in all */
#define S_SLICE_MS 20                   /* sleeps are cut into slices this long */
#define S_TOKEN_PREFIX "03AFcWeA-fake-" /* real tokens start "03A…" */
#define S_TOKEN_SECRET 16
#define S_TOKEN_TEXT 80
#define S_ACTION_MAX 64
#define S_HTML_TYPE "text/html; charset=utf-8"
#define S_JSON_TYPE "application/json"
#define S_CF_RAY "8f3a1c2b9d4e5f60-FRA"
/*  midclose drops the connection at least this long after its last chunk:
    a browser that gets the error right behind the data may fail the
    page's reader before handing it those chunks. */
#define S_CLOSE_FLOOR_MS 100
/*  The 2026 page's login and uploads (see "login, server actions, storage"). */
#define S_AUTH_COOKIE "arena-auth-prod-v1" /* Supabase's session, maybe split .0, .1, … */
#define S_AUTH_B64 "base64-"
#define S_AUTH_PARTS 8          /* parts .0 … .7 are read */
#define S_AUTH_MAX (64u * 1024) /* bytes of a whole session cookie */
#define S_DEFAULT_USER "fake-user-1"
#define S_MAX_USER 128 /* bytes of a user id */
#define S_ACTIONS_SRC "/_next/static/chunks/app-actions.js"
#define S_ACTION_GENERATE "7f3c9e1a5b2d4f6081a3c5e7092b4d6f8a1c3e5b" /* generateUploadUrl */
#define S_ACTION_SIGNED "40d2f6a8c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2"   /* getSignedUrl */
#define S_ACTION_DECOY "60e4b8d2f6a0c4e8b2d6f0a4c8e2b6d0f4a8c2e6"    /* another action */
#define S_STORAGE_PREFIX "/__fake/storage/"
#define S_MAX_UPLOADS 32 /* objects kept, each up to FAKE_ARENA_MAX_ATTACHMENT; the oldest go */

typedef struct {
    unsigned long long seq; /* 0: a free slot */
    uint8_t secret[S_TOKEN_SECRET];
    char action[S_ACTION_MAX];
    long long expires_ms;
    bool used;
} s_token_t;

typedef struct {
    json_t *rec;
    size_t bytes; /* the request body's share of S_MAX_RECORD_BYTES */
} s_rec_t;

/*  One object in the fake storage, from generateUploadUrl on. */
typedef struct {
    unsigned long long seq; /* 0: a free slot */
    char key[128];
    char mime[64];
    char put_sig[17], get_sig[17]; /* the presigned URLs' X-Amz-Signature */
    uint8_t *data;
    size_t len;
    bool stored; /* PUT done */
} s_upload_t;

struct _fake_arena_server_t {
    struct MHD_Daemon *mhd;
    pthread_mutex_t mtx;
    atomic_bool stopping;
    unsigned port;
    char url[64];
    size_t max_body;
    /* what reset goes back to */
    fake_models_t models;
    size_t max_ids;
    char *cfg_force, *cfg_fallback;
    unsigned cfg_ttl_ms;
    fake_era_t cfg_era;
    /* guarded by mtx */
    fake_arena_t *arena;
    char *force, *fallback;
    bool challenge, challenge_once;
    bool tokens_expired; /* every token presented is refused as expired */
    unsigned ttl_ms;
    fake_pace_t pace; /* the engine's, as last set (all 0: off) */
    s_token_t *tokens;
    size_t max_tokens;
    unsigned long long token_seq;
    unsigned long minted, used;
    s_rec_t *recs;
    size_t n_recs, max_recs, rec_bytes;
    unsigned long rec_seq;
    /* uploads (guarded by mtx) */
    bool uploads_off;    /* control "uploads": false leaves the actions' chunk off the page */
    char *csp;           /* control "csp": the page's Content-Security-Policy, or NULL */
    s_upload_t *uploads; /* S_MAX_UPLOADS, allocated at the first upload */
    unsigned long long upload_seq;
};

typedef enum {
    S_PAGE = 0,
    S_SCRIPT,
    S_CSS,
    S_FAVICON,
    S_EVAL,
    S_MINT,
    S_CONTROL,
    S_REQUESTS,
    S_RESET,
    S_TOKENS,
    S_ACTIONS_JS, /* the chunk naming the upload actions */
    S_ACTION,     /* a server action: POST to a page path with Next-Action */
    S_STORAGE,    /* /__fake/storage/<key> */
    S_UPLOADS,    /* GET /__fake/uploads */
    S_NOT_FOUND,
    S_FAKE_NOT_FOUND,
    S_BAD_METHOD,
} s_route_t;

/*  One request, from its first access call to MHD's completion notice. */
typedef struct {
    fake_arena_server_t *self;
    s_route_t route;
    int fd;
    abuf_t body;
    size_t limit;
    bool too_big, oom, answered;
    /* create-evaluation */
    json_t *record; /* a reference into the record (guarded by mtx) */
    fake_plan_t plan;
    bool cloudflare;
    size_t chunk, chunk_off;
    bool chunk_waited;
    bool token_ok, finished, closed_by_us, client_gone, stopped;
    unsigned long long sent;
    char account[S_MAX_USER + 1]; /* create-evaluation: the session's user id, "" none */
} s_req_t;

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 4))) static int s_err(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static char *s_strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- tokens (under mtx) ------------------------------------------------ */

static int s_action_ok(const char *a)
{
    size_t n = strlen(a);
    if (n >= S_ACTION_MAX)
        return 0;
    for (; *a; a++)
        if (!((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') || (*a >= '0' && *a <= '9') ||
              *a == '_' || *a == '/'))
            return 0;
    return 1;
}

/*  Mints a token for action into out. */
static void s_token_mint(fake_arena_server_t *self, const char *action, char out[S_TOKEN_TEXT])
{
    unsigned long long seq = ++self->token_seq;
    s_token_t *t = &self->tokens[seq % self->max_tokens];
    t->seq = seq;
    randombytes_buf(t->secret, sizeof t->secret);
    snprintf(t->action, sizeof t->action, "%s", action);
    t->expires_ms = s_now_ms() + self->ttl_ms;
    t->used = false;
    self->minted++;
    char hex[2 * S_TOKEN_SECRET + 1];
    sodium_bin2hex(hex, sizeof hex, t->secret, sizeof t->secret);
    snprintf(out, S_TOKEN_TEXT, "%s%s.%llu", S_TOKEN_PREFIX, hex, seq);
}

/*  The slot of a token's text, or NULL when it was never minted here (or
    its slot went to a newer token). */
static s_token_t *s_token_find(fake_arena_server_t *self, const char *text)
{
    size_t plen = sizeof S_TOKEN_PREFIX - 1, hlen = 2 * S_TOKEN_SECRET;
    if (strlen(text) >= S_TOKEN_TEXT || strncmp(text, S_TOKEN_PREFIX, plen) != 0)
        return NULL;
    const char *hex = text + plen, *dot = hex + hlen;
    if (strlen(hex) < hlen + 2 || *dot != '.')
        return NULL;
    uint8_t secret[S_TOKEN_SECRET];
    size_t got = 0;
    if (sodium_hex2bin(secret, sizeof secret, hex, hlen, NULL, &got, NULL) != 0 ||
        got != sizeof secret)
        return NULL;
    unsigned long long seq = 0;
    for (const char *p = dot + 1; *p; p++) {
        if (*p < '0' || *p > '9' || p - dot > 19)
            return NULL;
        seq = seq * 10 + (unsigned long long)(*p - '0');
    }
    s_token_t *t = &self->tokens[seq % self->max_tokens];
    if (seq == 0 || t->seq != seq || sodium_memcmp(t->secret, secret, sizeof secret) != 0)
        return NULL;
    return t;
}

/*  fake_token_check_fn: called by the engine under mtx. Checking a token
    uses it up, whatever the verdict (as reCAPTCHA's assessments do). */
static int s_token_check(void *arg, const char *text, char *reason, size_t reason_len)
{
    s_req_t *r = arg;
    fake_arena_server_t *self = r->self;
    s_token_t *t = s_token_find(self, text);
    if (!t)
        return s_err(reason, reason_len, "unknown recaptcha token (not minted here, or evicted)");
    if (t->used)
        return s_err(reason, reason_len, "recaptcha token already used");
    t->used = true;
    self->used++;
    long long late = s_now_ms() - t->expires_ms;
    if (self->tokens_expired && late <= 0)
        late = 1; /* however fast it came back */
    if (late > 0)
        return s_err(reason, reason_len, "recaptcha token expired %lld ms ago", late);
    if (strcmp(t->action, FAKE_ARENA_RC_ACTION) != 0)
        return s_err(reason, reason_len, "recaptcha token minted for action \"%s\", not %s",
                     t->action, FAKE_ARENA_RC_ACTION);
    r->token_ok = true;
    return 0;
}

/* ---- the record (under mtx) -------------------------------------------- */

static void s_record_drop_oldest(fake_arena_server_t *self)
{
    json_decref(self->recs[0].rec);
    self->rec_bytes -= self->recs[0].bytes;
    self->n_recs--;
    memmove(self->recs, self->recs + 1, self->n_recs * sizeof *self->recs);
}

/*  Appends rec (a reference is taken), dropping the oldest to stay bounded. */
static void s_record_add(fake_arena_server_t *self, json_t *rec, size_t bytes)
{
    if (bytes > S_MAX_RECORD_BYTES) {
        json_object_set_new(rec, "body", json_string("(not kept: over the record's byte bound)"));
        bytes = 0;
    }
    while (self->n_recs &&
           (self->n_recs == self->max_recs || self->rec_bytes + bytes > S_MAX_RECORD_BYTES))
        s_record_drop_oldest(self);
    self->recs[self->n_recs++] = (s_rec_t){json_incref(rec), bytes};
    self->rec_bytes += bytes;
}

static void s_record_clear(fake_arena_server_t *self)
{
    while (self->n_recs)
        s_record_drop_oldest(self);
}

/*  s as a JSON string; bytes that are not valid UTF-8 become '?'. NULL
    only when out of memory (or s is NULL). */
static json_t *s_safe_string(const char *s)
{
    if (!s)
        return NULL;
    json_t *v = json_string(s);
    if (v)
        return v;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/*  A new record for a request to path (not yet in the list). */
static json_t *s_record_new(fake_arena_server_t *self, const char *method, const char *path,
                            const char *content_type)
{
    json_t *ct = content_type ? s_safe_string(content_type) : json_null();
    return json_pack("{s:I,s:I,s:o,s:o,s:o,s:n,s:i,s:n,s:b,s:n,s:b,s:b,s:b,s:I,s:n}", "n",
                     (json_int_t)++self->rec_seq, "t_ms", (json_int_t)s_now_ms(), "method",
                     s_safe_string(method), "path", s_safe_string(path), "content_type", ct, "body",
                     "status", 0, "scenario", "rejected", 0, "reason", "aborted", 0, "done", 0,
                     "recaptcha_token_ok", 0, "body_bytes", (json_int_t)0, "end_ms");
}

/* ---- small helpers --------------------------------------------------------- */

static enum MHD_Result s_respond(struct MHD_Connection *c, unsigned status, const char *ctype,
                                 const char *body, size_t len, const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/*  Steals v. */
static enum MHD_Result s_respond_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    if (!text)
        return s_respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, S_JSON_TYPE,
                         "{\"error\":\"out of memory\"}", 25, NULL);
    enum MHD_Result rc = s_respond(c, status, S_JSON_TYPE, text, strlen(text), NULL);
    free(text);
    return rc;
}

static enum MHD_Result s_respond_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return s_respond_json(c, status, json_pack("{s:s}", "error", msg));
}

static const char *const s_cf_headers[] = {"cf-mitigated", "challenge", "server", "cloudflare",
                                           "cf-ray",       S_CF_RAY,    NULL};

static enum MHD_Result s_respond_challenge(struct MHD_Connection *c)
{
    const char *html = fake_scenario_cloudflare_html();
    return s_respond(c, MHD_HTTP_FORBIDDEN, "text/html; charset=UTF-8", html, strlen(html),
                     s_cf_headers);
}

/*  1 when the peer has closed its side (or the socket failed). */
static int s_client_gone(int fd)
{
    if (fd < 0)
        return 0;
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
        return 1;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/*  Sleeps ms in slices. 0, or -1 when the server stops or the client went
    away (flagged in r). */
static int s_pause(s_req_t *r, unsigned ms)
{
    long long end = s_now_ms() + ms;
    for (;;) {
        if (atomic_load(&r->self->stopping)) {
            r->stopped = true;
            return -1;
        }
        if (s_client_gone(r->fd)) {
            r->client_gone = true;
            return -1;
        }
        long long left = end - s_now_ms();
        if (left <= 0)
            return 0;
        struct timespec ts = {0, (left < S_SLICE_MS ? left : S_SLICE_MS) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- routes ---------------------------------------------------------------- */

static int s_is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static int s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*  A page of the site: no dot in the last segment, not an API path. */
static int s_is_page_path(const char *url)
{
    const char *last = strrchr(url, '/');
    return url[0] == '/' && last && !strchr(last, '.') && strncmp(url, "/recaptcha/", 11) != 0 &&
           strncmp(url, "/_next/", 7) != 0 && strncmp(url, "/cdn-cgi/", 9) != 0;
}

static s_route_t s_route_fake(const char *method, const char *url)
{
    static const struct {
        const char *path, *method;
        s_route_t route;
    } table[] = {
        {"/__fake/control", "GET", S_CONTROL},   {"/__fake/control", "POST", S_CONTROL},
        {"/__fake/requests", "GET", S_REQUESTS}, {"/__fake/reset", "POST", S_RESET},
        {"/__fake/tokens", "GET", S_TOKENS},     {FAKE_SERVER_MINT_PATH, "POST", S_MINT},
        {"/__fake/uploads", "GET", S_UPLOADS},
    };
    s_route_t found = S_FAKE_NOT_FOUND;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(url, table[i].path) != 0)
            continue;
        if (strcmp(method, table[i].method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(table[i].method, "GET") == 0))
            return table[i].route;
        found = S_BAD_METHOD;
    }
    return found;
}

static s_route_t s_route(const char *method, const char *url)
{
    if (strncmp(url, "/nextjs-api/", 12) == 0 || strncmp(url, "/api/", 5) == 0)
        return S_EVAL; /* the engine answers (404 for other paths) and it is recorded */
    if (strncmp(url, S_STORAGE_PREFIX, sizeof S_STORAGE_PREFIX - 1) == 0)
        return s_is_get(method) || strcmp(method, "PUT") == 0 ? S_STORAGE : S_BAD_METHOD;
    if (strncmp(url, "/__fake/", 8) == 0)
        return s_route_fake(method, url);
    s_route_t r = S_NOT_FOUND;
    if (strcmp(url, FAKE_SERVER_RECAPTCHA_SRC) == 0)
        r = S_SCRIPT;
    else if (strcmp(url, S_ACTIONS_SRC) == 0)
        r = S_ACTIONS_JS;
    else if (strncmp(url, "/_next/static/", 14) == 0 && s_ends_with(url, ".css"))
        r = S_CSS;
    else if (strcmp(url, "/favicon.ico") == 0)
        r = S_FAVICON;
    else if (s_is_page_path(url))
        r = S_PAGE;
    if (r != S_NOT_FOUND && !s_is_get(method))
        return S_BAD_METHOD;
    return r;
}

static enum MHD_Result s_serve_not_found(struct MHD_Connection *c)
{
    static const char html[] =
        "<!DOCTYPE html><html><head><title>404: This page could not be found.</title></head>"
        "<body><h1>404</h1><h2>This page could not be found.</h2></body></html>";
    return s_respond(c, MHD_HTTP_NOT_FOUND, S_HTML_TYPE, html, sizeof html - 1, NULL);
}

/* ---- login, server actions, storage (the 2026 page) -------------------------

    The page logs the browser in as a Supabase session cookie (whole or split
    into .0/.1, as since 2026); create-evaluation reads it back. Images go up
    the way the 2026 page sends them: two Next.js server actions (POST to a
    page path with a Next-Action header) around a PUT to object storage, here
    /__fake/storage/<key> with a fake presigned query. */

/*  A session cookie's user id into user (at most S_MAX_USER bytes); 1 when a
    readable session is found, with *anonymous from user.is_anonymous. */
static int s_session_user(const char *value, char *user, size_t size, bool *anonymous)
{
    size_t plen = sizeof S_AUTH_B64 - 1, vlen = strlen(value);
    if (vlen <= plen || vlen > S_AUTH_MAX || strncmp(value, S_AUTH_B64, plen) != 0)
        return 0;
    size_t cap = vlen, got = 0;
    unsigned char *json = malloc(cap);
    static const int variants[] = {
        sodium_base64_VARIANT_URLSAFE_NO_PADDING, sodium_base64_VARIANT_URLSAFE,
        sodium_base64_VARIANT_ORIGINAL_NO_PADDING, sodium_base64_VARIANT_ORIGINAL};
    int ok = 0;
    for (size_t i = 0; json && !ok && i < sizeof variants / sizeof variants[0]; i++)
        ok = sodium_base642bin(json, cap, value + plen, vlen - plen, NULL, &got, NULL,
                               variants[i]) == 0;
    json_t *session = ok ? json_loadb((const char *)json, got, 0, NULL) : NULL;
    free(json);
    json_t *u = json_object_get(session, "user");
    const char *id = json_string_value(json_object_get(u, "id"));
    int found = id && id[0] && strlen(id) <= S_MAX_USER;
    if (found) {
        snprintf(user, size, "%s", id);
        *anonymous = json_is_true(json_object_get(u, "is_anonymous"));
    }
    json_decref(session);
    return found;
}

/*  The request's auth cookie, whole or joined from .0, .1, …: its user id
    into user ("" when none or anonymous), 1 when logged in. *present (may
    be NULL) says whether the browser sent such a cookie at all. */
static int s_cookie_user(struct MHD_Connection *c, char *user, size_t size, bool *present)
{
    user[0] = '\0';
    abuf_t value = ABUF_INIT;
    const char *whole = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, S_AUTH_COOKIE);
    if (whole) {
        abuf_puts(&value, whole);
    } else {
        for (int i = 0; i < S_AUTH_PARTS; i++) {
            char name[sizeof S_AUTH_COOKIE + 8];
            snprintf(name, sizeof name, "%s.%d", S_AUTH_COOKIE, i);
            const char *part = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, name);
            if (!part || abuf_puts(&value, part) < 0)
                break;
        }
    }
    bool anonymous = false;
    if (present)
        *present = value.len > 0;
    int found = value.len && s_session_user(value.data, user, size, &anonymous);
    abuf_free(&value);
    if (found && anonymous)
        user[0] = '\0';
    return found && !anonymous;
}

/*  What a page load does to the login (its query: ?as=<id> logs in as id,
    ?as= logs out, ?split=1 splits the cookie, ?anon=1 makes the session
    anonymous). Without ?as the browser's own cookie stands, and a browser
    without one is logged in as S_DEFAULT_USER. */
typedef struct {
    bool set, clear, split, anonymous, logged_in;
    char user[S_MAX_USER + 1];
} s_login_t;

static void s_page_login(struct MHD_Connection *c, s_login_t *l)
{
    memset(l, 0, sizeof *l);
    const char *as = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "as");
    const char *split = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "split");
    const char *anon = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "anon");
    l->split = split && strcmp(split, "1") == 0;
    l->anonymous = anon && strcmp(anon, "1") == 0;
    if (as && !as[0]) {
        l->clear = true;
        return;
    }
    if (!as && !l->split && !l->anonymous) {
        bool present;
        l->logged_in = s_cookie_user(c, l->user, sizeof l->user, &present);
        if (present)
            return; /* the browser's own session stands */
    }
    snprintf(l->user, sizeof l->user, "%.*s", S_MAX_USER, as ? as : S_DEFAULT_USER);
    l->set = true;
    l->logged_in = !l->anonymous;
}

/*  "base64-" + base64url(session JSON) for user, as Supabase's SSR client
    writes it. NULL when out of memory. */
static char *s_session_cookie(const char *user, bool anonymous)
{
    char email[S_MAX_USER + 32], rnd[17], at[64];
    uint8_t raw[8];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(rnd, sizeof rnd, raw, sizeof raw);
    snprintf(email, sizeof email, "%s@fake-arena.test", user);
    snprintf(at, sizeof at, "fake-access-%s", rnd);
    json_t *s =
        json_pack("{s:s,s:s,s:i,s:I,s:s,s:{s:s,s:s,s:s,s:s,s:b}}", "access_token", at, "token_type",
                  "bearer", "expires_in", 3600, "expires_at", (json_int_t)time(NULL) + 3600,
                  "refresh_token", rnd, "user", "id", user, "aud", "authenticated", "role",
                  "authenticated", "email", email, "is_anonymous", anonymous);
    char *json = s ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    if (!json)
        return NULL;
    size_t n = strlen(json);
    size_t cap =
        sizeof S_AUTH_B64 + sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    if (out) {
        memcpy(out, S_AUTH_B64, sizeof S_AUTH_B64 - 1);
        sodium_bin2base64(out + sizeof S_AUTH_B64 - 1, cap - (sizeof S_AUTH_B64 - 1),
                          (const unsigned char *)json, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    free(json);
    return out;
}

/*  The Set-Cookie headers of a page load, as a NULL-ended name/value list
    for s_respond (strings owned by *store). 0 or -1. */
static int s_login_headers(const s_login_t *l, char *store[3], const char *headers[7])
{
    static const char *const names[3] = {S_AUTH_COOKIE, S_AUTH_COOKIE ".0", S_AUTH_COOKIE ".1"};
    char *value = l->set ? s_session_cookie(l->user, l->anonymous) : NULL;
    if (l->set && !value)
        return -1;
    /* values[i]: what names[i] is set to; NULL: removed */
    char *values[3] = {NULL, NULL, NULL};
    size_t n = value ? strlen(value) : 0;
    if (value && l->split) {
        values[1] = strndup(value, n / 2);
        values[2] = strdup(value + n / 2);
    } else if (value) {
        values[0] = strdup(value);
    }
    free(value);
    size_t h = 0;
    int rc = 0;
    for (int i = 0; i < 3 && (l->set || l->clear); i++) {
        abuf_t b = ABUF_INIT;
        if (values[i])
            rc |= abuf_printf(&b, "%s=%s; Path=/; Max-Age=31536000; SameSite=Lax", names[i],
                              values[i]);
        else
            rc |= abuf_printf(&b, "%s=; Path=/; Max-Age=0; SameSite=Lax", names[i]);
        store[i] = abuf_steal(&b, NULL);
        headers[h++] = MHD_HTTP_HEADER_SET_COOKIE;
        headers[h++] = store[i];
        rc |= store[i] ? 0 : -1;
        free(values[i]);
    }
    headers[h] = NULL;
    return rc ? -1 : 0;
}

/*  The engine's page as this server serves it: the upload actions' chunk
    (unless uploads are off) and the login state. 0 or -1. */
static int s_page_adapt(abuf_t *html, bool uploads, bool logged_in)
{
    static const char on[] = "isLoggedIn\\\":true", off[] = "isLoggedIn\\\":false";
    static const char tag[] = "<script src=\"" S_ACTIONS_SRC "\" async=\"\"></script>";
    abuf_t out = ABUF_INIT;
    const char *p = html->data, *end = html->data + html->len;
    const char *head = uploads ? strstr(p, "</head>") : NULL;
    const char *flag = logged_in ? NULL : strstr(p, on);
    int rc = 0;
    while (p < end && rc == 0) {
        const char *next = head && (!flag || head < flag) ? head : flag;
        if (!next) {
            rc = abuf_append(&out, p, (size_t)(end - p));
            break;
        }
        rc = abuf_append(&out, p, (size_t)(next - p));
        if (rc == 0 && next == head) {
            rc = abuf_puts(&out, tag);
            p = head, head = NULL;
        } else if (rc == 0) {
            rc = abuf_puts(&out, off);
            p = flag + sizeof on - 1, flag = NULL;
        }
    }
    if (rc == 0) {
        abuf_free(html);
        *html = out;
    } else {
        abuf_free(&out);
    }
    return rc;
}

/*  The client chunk that holds the upload actions, as Next.js minifies it
    (with a third action that the userscript must not take). */
static enum MHD_Result s_serve_actions_js(struct MHD_Connection *c)
{
    static const char js[] =
        "\"use strict\";(self.webpackChunk_N_E=self.webpackChunk_N_E||[]).push([[4821],{90412:"
        "(e,t,r)=>{r.d(t,{generateUploadUrl:()=>a,getSignedUrl:()=>o,createEvaluation:()=>i});"
        "var n=r(35321);let i=(0,n.createServerReference)(\"" S_ACTION_DECOY
        "\",n.callServer,void 0,n.findSourceMapURL,\"createEvaluation\"),a=(0,n."
        "createServerReference)(\"" S_ACTION_GENERATE
        "\",n.callServer,void 0,n.findSourceMapURL,\"generateUploadUrl\"),o=(0,n."
        "createServerReference)(\"" S_ACTION_SIGNED
        "\",n.callServer,void 0,n.findSourceMapURL,\"getSignedUrl\")}}]);\n"
        "//# sourceMappingURL=app-actions.js.map\n";
    return s_respond(c, MHD_HTTP_OK, "application/javascript; charset=UTF-8", js, sizeof js - 1,
                     NULL);
}

/*  A server action's answer: the React flight rows Next.js sends. Steals v. */
static enum MHD_Result s_respond_action(struct MHD_Connection *c, json_t *v)
{
    char *json = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    abuf_t b = ABUF_INIT;
    int rc =
        json ? abuf_printf(&b, "0:{\"a\":\"$@1\",\"f\":\"\",\"b\":\"fake-arena\"}\n1:%s\n", json)
             : -1;
    free(json);
    enum MHD_Result ret = rc == 0
                              ? s_respond(c, MHD_HTTP_OK, "text/x-component", b.data, b.len, NULL)
                              : s_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    abuf_free(&b);
    return ret;
}

static json_t *s_action_failure(const char *why)
{
    return json_pack("{s:b,s:s}", "success", 0, "error", why);
}

/*  Under mtx. Empties an upload slot. */
static void s_upload_forget(s_upload_t *u)
{
    free(u->data);
    memset(u, 0, sizeof *u);
}

/*  Under mtx (or at the end): forgets every upload. */
static void s_uploads_clear(fake_arena_server_t *self)
{
    for (size_t i = 0; self->uploads && i < S_MAX_UPLOADS; i++)
        s_upload_forget(&self->uploads[i]);
    self->upload_seq = 0;
}

/*  Under mtx: the slot of key, or NULL. */
static s_upload_t *s_upload_find(fake_arena_server_t *self, const char *key)
{
    for (size_t i = 0; self->uploads && i < S_MAX_UPLOADS; i++)
        if (self->uploads[i].seq && strcmp(self->uploads[i].key, key) == 0)
            return &self->uploads[i];
    return NULL;
}

static void s_upload_url(const fake_arena_server_t *self, const s_upload_t *u, const char *sig,
                         char *out, size_t size)
{
    snprintf(out, size,
             "%s" S_STORAGE_PREFIX "%s?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=fake"
             "&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=%s",
             self->url, u->key, sig);
}

/*  generateUploadUrl(filename, contentType): a new storage slot (the oldest
    goes when all are taken) with its presigned PUT URL. Under mtx. */
static json_t *s_action_generate(fake_arena_server_t *self, json_t *args)
{
    const char *name = json_string_value(json_array_get(args, 0));
    const char *mime = json_string_value(json_array_get(args, 1));
    if (json_array_size(args) != 2 || !name || !mime || !name[0] || strlen(name) > 200 ||
        strncmp(mime, "image/", 6) != 0 || strlen(mime) >= sizeof self->uploads->mime)
        return s_action_failure("Invalid file: expected [fileName, image/* contentType]");
    if (!self->uploads && !(self->uploads = calloc(S_MAX_UPLOADS, sizeof *self->uploads)))
        return NULL;
    unsigned long long seq = ++self->upload_seq;
    s_upload_t *u = &self->uploads[seq % S_MAX_UPLOADS];
    s_upload_forget(u);
    u->seq = seq;
    uint8_t raw[8];
    char id[17], safe[65];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(id, sizeof id, raw, sizeof raw);
    size_t n = 0;
    for (const char *p = name; *p && n < sizeof safe - 1; p++)
        safe[n++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                            (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'
                        ? *p
                        : '_';
    safe[n] = '\0';
    snprintf(u->key, sizeof u->key, "uploads/%s/%s", id, safe);
    snprintf(u->mime, sizeof u->mime, "%s", mime);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(u->put_sig, sizeof u->put_sig, raw, sizeof raw);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(u->get_sig, sizeof u->get_sig, raw, sizeof raw);
    char url[sizeof u->key + 256];
    s_upload_url(self, u, u->put_sig, url, sizeof url);
    return json_pack("{s:b,s:{s:s,s:s}}", "success", 1, "data", "uploadUrl", url, "key", u->key);
}

/*  getSignedUrl(key): a presigned GET URL of a stored object. Under mtx. */
static json_t *s_action_signed(fake_arena_server_t *self, json_t *args)
{
    const char *key = json_string_value(json_array_get(args, 0));
    s_upload_t *u = key && json_array_size(args) == 1 ? s_upload_find(self, key) : NULL;
    if (!u || !u->stored)
        return s_action_failure("Object not found");
    char url[sizeof u->key + 256];
    s_upload_url(self, u, u->get_sig, url, sizeof url);
    return json_pack("{s:b,s:{s:s}}", "success", 1, "data", "url", url);
}

/*  POST to a page path with a Next-Action header. */
static enum MHD_Result s_serve_action(fake_arena_server_t *self, s_req_t *r,
                                      struct MHD_Connection *c)
{
    const char *action = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Next-Action");
    bool generate = action && strcmp(action, S_ACTION_GENERATE) == 0;
    if (!generate && !(action && strcmp(action, S_ACTION_SIGNED) == 0)) {
        static const char msg[] = "Server action not found.";
        return s_respond(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", msg, sizeof msg - 1,
                         NULL);
    }
    json_t *args = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    json_t *v;
    if (!json_is_array(args)) {
        v = s_action_failure("expected a JSON array of arguments");
    } else {
        pthread_mutex_lock(&self->mtx);
        v = generate ? s_action_generate(self, args) : s_action_signed(self, args);
        pthread_mutex_unlock(&self->mtx);
    }
    json_decref(args);
    return s_respond_action(c, v);
}

static enum MHD_Result s_storage_error(struct MHD_Connection *c, unsigned status, const char *code)
{
    char xml[256];
    int n = snprintf(xml, sizeof xml,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                     "<Message>%s</Message></Error>",
                     code, code);
    return s_respond(c, status, "application/xml", xml, (size_t)n, NULL);
}

/*  PUT /__fake/storage/<key>?…&X-Amz-Signature=<put> stores the body (of
    the slot's content type); GET with the getSignedUrl signature reads it. */
static enum MHD_Result s_serve_storage(fake_arena_server_t *self, s_req_t *r,
                                       struct MHD_Connection *c, const char *method,
                                       const char *url)
{
    const char *key = url + sizeof S_STORAGE_PREFIX - 1;
    const char *sig = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "X-Amz-Signature");
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    bool put = strcmp(method, "PUT") == 0;
    pthread_mutex_lock(&self->mtx);
    s_upload_t *u = s_upload_find(self, key);
    const char *want = u ? (put ? u->put_sig : u->get_sig) : NULL;
    enum MHD_Result ret;
    if (!u) {
        ret = s_storage_error(c, MHD_HTTP_NOT_FOUND, "NoSuchKey");
    } else if (!sig || strcmp(sig, want) != 0) {
        ret = s_storage_error(c, MHD_HTTP_FORBIDDEN, "SignatureDoesNotMatch");
    } else if (put && (!ctype || strcasecmp(ctype, u->mime) != 0)) {
        ret = s_storage_error(c, MHD_HTTP_FORBIDDEN, "SignatureDoesNotMatch");
    } else if (put) {
        uint8_t *copy = malloc(r->body.len ? r->body.len : 1);
        if (copy) {
            memcpy(copy, r->body.data ? r->body.data : "", r->body.len);
            free(u->data);
            u->data = copy, u->len = r->body.len, u->stored = true;
        }
        ret = copy ? s_respond(c, MHD_HTTP_OK, "text/plain", "", 0, NULL)
                   : s_storage_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError");
    } else if (!u->stored) {
        ret = s_storage_error(c, MHD_HTTP_NOT_FOUND, "NoSuchKey");
    } else {
        ret = s_respond(c, MHD_HTTP_OK, u->mime, (const char *)u->data, u->len, NULL);
    }
    pthread_mutex_unlock(&self->mtx);
    return ret;
}

/*  GET /__fake/uploads: every storage slot, oldest first. */
static enum MHD_Result s_serve_uploads(fake_arena_server_t *self, struct MHD_Connection *c)
{
    json_t *list = json_array();
    pthread_mutex_lock(&self->mtx);
    for (unsigned long long s =
             self->upload_seq > S_MAX_UPLOADS ? self->upload_seq - S_MAX_UPLOADS + 1 : 1;
         list && self->uploads && s <= self->upload_seq; s++) {
        const s_upload_t *u = &self->uploads[s % S_MAX_UPLOADS];
        if (u->seq == s)
            json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:I}", "key", u->key,
                                                  "content_type", u->mime, "stored", u->stored,
                                                  "bytes", (json_int_t)u->len));
    }
    pthread_mutex_unlock(&self->mtx);
    return s_respond_json(c, MHD_HTTP_OK, list);
}

/*  How a create-evaluation body sent its attachments: "none", "signed"
    (every one a URL this server signed for a stored object), "inline" (every
    one a data: URI) or "mixed". Under mtx. */
static const char *s_attachments_mode(fake_arena_server_t *self, json_t *body)
{
    json_t *atts =
        json_object_get(json_object_get(body, "userMessage"), "experimental_attachments");
    size_t i, n = json_array_size(atts), signed_n = 0, inline_n = 0;
    json_t *a;
    json_array_foreach(atts, i, a)
    {
        const char *url = json_string_value(json_object_get(a, "url"));
        const char *name = json_string_value(json_object_get(a, "name"));
        if (!url)
            continue;
        if (strncasecmp(url, "data:", 5) == 0) {
            inline_n++;
            continue;
        }
        s_upload_t *u = name ? s_upload_find(self, name) : NULL;
        char want[sizeof u->key + 256];
        if (u && u->stored) {
            s_upload_url(self, u, u->get_sig, want, sizeof want);
            signed_n += strcmp(url, want) == 0;
        }
    }
    return n == 0 ? "none" : signed_n == n ? "signed" : inline_n == n ? "inline" : "mixed";
}

static enum MHD_Result s_serve_page(fake_arena_server_t *self, struct MHD_Connection *c)
{
    abuf_t html = ABUF_INIT;
    pthread_mutex_lock(&self->mtx);
    bool challenged = self->challenge, uploads = !self->uploads_off;
    int rc = challenged ? 0 : fake_arena_page(self->arena, &html);
    char *csp = s_strdup_or_null(self->csp);
    pthread_mutex_unlock(&self->mtx);
    if (challenged) {
        free(csp);
        return s_respond_challenge(c);
    }
    s_login_t login;
    s_page_login(c, &login);
    char *store[3] = {NULL, NULL, NULL};
    const char *headers[9] = {NULL};
    if (rc == 0 && (s_page_adapt(&html, uploads, login.logged_in) < 0 ||
                    s_login_headers(&login, store, headers) < 0))
        rc = -1;
    if (rc == 0 && csp) { /* after the login's pairs */
        size_t k = 0;
        while (headers[k])
            k += 2;
        headers[k] = "Content-Security-Policy";
        headers[k + 1] = csp;
    }
    enum MHD_Result ret = rc == 0
                              ? s_respond(c, MHD_HTTP_OK, S_HTML_TYPE, html.data, html.len, headers)
                              : s_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    abuf_free(&html);
    for (int i = 0; i < 3; i++)
        free(store[i]);
    free(csp);
    return ret;
}

/*  reCAPTCHA Enterprise as the page sees it: ready(cb), and execute(sitekey,
    {action}) resolving to a token minted by this server, or rejecting for
    another sitekey. */
static enum MHD_Result s_serve_script(fake_arena_server_t *self, struct MHD_Connection *c)
{
    char js[2048], sitekey[64];
    pthread_mutex_lock(&self->mtx); /* the era's key, as the page announces it */
    snprintf(sitekey, sizeof sitekey, "%s", fake_arena_sitekey(self->arena));
    pthread_mutex_unlock(&self->mtx);
    int n = snprintf(
        js, sizeof js,
        "/* fake reCAPTCHA Enterprise (fake-arena): tokens come from %s */\n"
        "(function () {\n"
        "    \"use strict\";\n"
        "    var SITEKEY = \"%s\";\n"
        "    var g = (window.grecaptcha = window.grecaptcha || {});\n"
        "    if (g.enterprise && g.enterprise.fake) return;\n"
        "    g.enterprise = {\n"
        "        fake: true,\n"
        "        ready: function (cb) {\n"
        "            Promise.resolve().then(cb);\n"
        "        },\n"
        "        execute: function (sitekey, opts) {\n"
        "            if (sitekey !== SITEKEY)\n"
        "                return Promise.reject(new Error(\"Invalid site key or not loaded in "
        "api.js: \" + sitekey));\n"
        "            var action = opts && typeof opts.action === \"string\" ? opts.action : \"\";\n"
        "            return fetch(\"%s\", {\n"
        "                method: \"POST\",\n"
        "                headers: { \"content-type\": \"application/json\" },\n"
        "                body: JSON.stringify({ sitekey: sitekey, action: action }),\n"
        "                credentials: \"same-origin\",\n"
        "                cache: \"no-store\",\n"
        "            }).then(function (r) {\n"
        "                return r.json().then(function (j) {\n"
        "                    if (!r.ok || typeof j.token !== \"string\")\n"
        "                        throw new Error(\"reCAPTCHA: \" + (j.error || r.status));\n"
        "                    return j.token;\n"
        "                });\n"
        "            });\n"
        "        },\n"
        "    };\n"
        "})();\n",
        FAKE_SERVER_MINT_PATH, sitekey, FAKE_SERVER_MINT_PATH);
    if (n < 0 || (size_t)n >= sizeof js)
        return s_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "script too long");
    return s_respond(c, MHD_HTTP_OK, "text/javascript; charset=utf-8", js, (size_t)n, NULL);
}

static enum MHD_Result s_serve_mint(fake_arena_server_t *self, s_req_t *r, struct MHD_Connection *c)
{
    json_t *in = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    const char *sitekey = json_string_value(json_object_get(in, "sitekey"));
    json_t *jaction = json_object_get(in, "action");
    const char *action = jaction ? json_string_value(jaction) : "";
    enum MHD_Result ret;
    pthread_mutex_lock(&self->mtx);
    bool own_key = sitekey && strcmp(sitekey, fake_arena_sitekey(self->arena)) == 0;
    pthread_mutex_unlock(&self->mtx);
    if (!json_is_object(in) || !sitekey || !action)
        ret = s_respond_error(c, MHD_HTTP_BAD_REQUEST,
                              "expected {\"sitekey\": string, \"action\"?: string}");
    else if (!own_key)
        ret = s_respond_error(c, MHD_HTTP_BAD_REQUEST, "Invalid site key or not loaded in api.js");
    else if (!s_action_ok(action))
        ret = s_respond_error(c, MHD_HTTP_BAD_REQUEST, "invalid action: up to 63 of [A-Za-z0-9_/]");
    else {
        char token[S_TOKEN_TEXT];
        pthread_mutex_lock(&self->mtx);
        s_token_mint(self, action, token);
        unsigned ttl = self->ttl_ms;
        pthread_mutex_unlock(&self->mtx);
        ret = s_respond_json(c, MHD_HTTP_OK,
                             json_pack("{s:s,s:s,s:I}", "token", token, "action", action,
                                       "expires_in_ms", (json_int_t)ttl));
    }
    json_decref(in);
    return ret;
}

/* ---- control (under mtx where noted) ---------------------------------------- */

/*  The modes as JSON; under mtx. */
static json_t *s_state(const fake_arena_server_t *self)
{
    const fake_pace_t *p = &self->pace;
    json_t *pace =
        p->interval_ms || p->window
            ? json_pack("{s:I,s:I,s:I}", "interval_ms", (json_int_t)p->interval_ms, "window",
                        (json_int_t)p->window, "window_ms", (json_int_t)p->window_ms)
            : json_null();
    return json_pack("{s:o,s:o,s:b,s:b,s:I,s:b,s:s,s:o,s:b,s:b}", "force",
                     self->force ? json_string(self->force) : json_null(), "default",
                     self->fallback ? json_string(self->fallback) : json_null(), "challenge",
                     self->challenge, "challenge_once", self->challenge_once, "token_ttl_ms",
                     (json_int_t)self->ttl_ms, "tokens_expired", self->tokens_expired, "era",
                     fake_era_name(fake_arena_era(self->arena)), "pace", pace, "uploads",
                     !self->uploads_off, "twin_retired", fake_arena_twin_retired(self->arena));
}

/*  A directive member: null, or a string that passes the scenario checks. */
static int s_control_directive(json_t *v, const char *key, const char **out, char *err,
                               size_t errlen)
{
    char why[300];
    if (json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return s_err(err, errlen, "%s: expected a directive string or null", key);
    if (fake_link_directive_check(json_string_value(v), why, sizeof why) < 0)
        return s_err(err, errlen, "%s: bad directive: %s", key, why);
    *out = json_string_value(v);
    return 0;
}

typedef struct {
    bool has_force, has_fallback, has_challenge, has_once, has_ttl, has_era, has_pace;
    bool has_uploads, uploads;
    bool has_twin_retired, twin_retired;
    bool has_expired, expired;
    bool has_csp;
    const char *csp; /* NULL: none */
    const char *force, *fallback;
    bool challenge, once;
    unsigned ttl;
    fake_era_t era;
    fake_pace_t pace;
} s_control_t;

/*  pace: null (off) or {"interval_ms", "window", "window_ms"} (each optional,
    0 when absent; a window needs a window_ms). */
static int s_control_pace(json_t *v, fake_pace_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return s_err(err, errlen, "pace: expected null or {interval_ms, window, window_ms}");
    const char *key;
    json_t *n;
    json_object_foreach(v, key, n)
    {
        unsigned *slot = strcmp(key, "interval_ms") == 0 ? &out->interval_ms
                         : strcmp(key, "window") == 0    ? &out->window
                         : strcmp(key, "window_ms") == 0 ? &out->window_ms
                                                         : NULL;
        if (!slot)
            return s_err(err, errlen, "pace: unknown key \"%.40s\"", key);
        if (!json_is_integer(n) || json_integer_value(n) < 0 ||
            json_integer_value(n) > FAKE_ARENA_MAX_PACE_MS)
            return s_err(err, errlen, "pace.%s: expected an integer in 0..%u", key,
                         FAKE_ARENA_MAX_PACE_MS);
        *slot = (unsigned)json_integer_value(n);
    }
    if (out->window > FAKE_ARENA_MAX_PACE_WINDOW || (out->window && !out->window_ms))
        return s_err(err, errlen, "pace: window must be 0..%d and come with a window_ms",
                     FAKE_ARENA_MAX_PACE_WINDOW);
    return 0;
}

static int s_control_parse(json_t *in, s_control_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (!json_is_object(in))
        return s_err(err, errlen, "expected a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v)
    {
        if (strcmp(key, "force") == 0) {
            c->has_force = true;
            if (s_control_directive(v, key, &c->force, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "default") == 0) {
            c->has_fallback = true;
            if (s_control_directive(v, key, &c->fallback, err, errlen) < 0)
                return -1;
        } else if (strcmp(key, "challenge") == 0 || strcmp(key, "challenge_once") == 0) {
            if (!json_is_boolean(v))
                return s_err(err, errlen, "%s: expected true or false", key);
            if (key[9] == '\0')
                c->has_challenge = true, c->challenge = json_is_true(v);
            else
                c->has_once = true, c->once = json_is_true(v);
        } else if (strcmp(key, "tokens_expired") == 0) {
            if (!json_is_boolean(v))
                return s_err(err, errlen, "tokens_expired: expected true or false");
            c->has_expired = true, c->expired = json_is_true(v);
        } else if (strcmp(key, "uploads") == 0) {
            if (!json_is_boolean(v))
                return s_err(err, errlen, "uploads: expected true or false");
            c->has_uploads = true, c->uploads = json_is_true(v);
        } else if (strcmp(key, "twin_retired") == 0) {
            if (!json_is_boolean(v))
                return s_err(err, errlen, "twin_retired: expected true or false");
            c->has_twin_retired = true, c->twin_retired = json_is_true(v);
        } else if (strcmp(key, "csp") == 0) {
            if (!json_is_null(v) && (!json_is_string(v) || json_string_length(v) > 1000 ||
                                     strpbrk(json_string_value(v), "\r\n")))
                return s_err(err, errlen, "csp: expected null or a one-line policy");
            c->has_csp = true;
            c->csp = json_is_string(v) ? json_string_value(v) : NULL;
        } else if (strcmp(key, "era") == 0) {
            if (fake_era_parse(json_is_string(v) ? json_string_value(v) : "", &c->era) < 0)
                return s_err(err, errlen, "era: expected \"2026\" or \"2025\"");
            c->has_era = true;
        } else if (strcmp(key, "pace") == 0) {
            if (s_control_pace(v, &c->pace, err, errlen) < 0)
                return -1;
            c->has_pace = true;
        } else if (strcmp(key, "token_ttl_ms") == 0) {
            json_int_t n = json_integer_value(v);
            if (!json_is_integer(v) || n < 1 || n > FAKE_SERVER_MAX_TOKEN_TTL_MS)
                return s_err(err, errlen, "token_ttl_ms: expected an integer in 1..%u",
                             FAKE_SERVER_MAX_TOKEN_TTL_MS);
            c->has_ttl = true;
            c->ttl = (unsigned)n;
        } else {
            return s_err(err, errlen,
                         "unknown key \"%.40s\" (keys: force, default, challenge, "
                         "challenge_once, token_ttl_ms, tokens_expired, era, pace, uploads, "
                         "twin_retired, csp)",
                         key);
        }
    }
    return 0;
}

/*  Replaces *slot with a copy of value (NULL clears). 0 or -1. */
static int s_set_string(char **slot, const char *value)
{
    char *copy = s_strdup_or_null(value);
    if (value && !copy)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

/*  Under mtx. */
static int s_control_apply(fake_arena_server_t *self, const s_control_t *c)
{
    if ((c->has_force && s_set_string(&self->force, c->force) < 0) ||
        (c->has_fallback && s_set_string(&self->fallback, c->fallback) < 0) ||
        (c->has_csp && s_set_string(&self->csp, c->csp) < 0))
        return -1;
    if (c->has_challenge)
        self->challenge = c->challenge;
    if (c->has_once)
        self->challenge_once = c->once;
    if (c->has_ttl)
        self->ttl_ms = c->ttl;
    if (c->has_expired)
        self->tokens_expired = c->expired;
    if (c->has_uploads)
        self->uploads_off = !c->uploads;
    if (c->has_era)
        fake_arena_set_era(self->arena, c->era);
    if (c->has_twin_retired && fake_arena_set_twin_retired(self->arena, c->twin_retired) < 0)
        return -1;
    if (c->has_pace) {
        if (fake_arena_set_pace(self->arena, &c->pace) < 0)
            return -1; /* not reached: s_control_pace checked the same bounds */
        self->pace = c->pace;
    }
    return 0;
}

/*  Parses and applies a control object; on success *state is the new state
    (the caller's). 0, or -1 with err. */
static int s_control(fake_arena_server_t *self, const char *text, size_t len, json_t **state,
                     char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *in = json_loadb(text ? text : "", len, 0, &jerr);
    s_control_t c = {0};
    int rc =
        in ? s_control_parse(in, &c, err, errlen) : s_err(err, errlen, "not JSON: %s", jerr.text);
    if (rc == 0) {
        pthread_mutex_lock(&self->mtx);
        rc = s_control_apply(self, &c) < 0 ? s_err(err, errlen, "out of memory") : 0;
        if (state)
            *state = s_state(self);
        pthread_mutex_unlock(&self->mtx);
    }
    json_decref(in);
    return rc;
}

int fake_arena_server_control(fake_arena_server_t *self, const char *json, char *err, size_t errlen)
{
    return s_control(self, json, json ? strlen(json) : 0, NULL, err, errlen);
}

static fake_arena_t *s_make_arena(fake_arena_server_t *self, char *err, size_t errlen)
{
    fake_arena_config_t acfg = {self->url,     self->models.models,         self->models.n, NULL, 0,
                                self->max_ids, fake_era_name(self->cfg_era)};
    fake_arena_t *a = fake_arena_new(&acfg, err, errlen);
    if (a && fake_arena_set_recaptcha_src(a, FAKE_SERVER_RECAPTCHA_SRC) < 0) {
        fake_arena_destroy(&a);
        s_err(err, errlen, "out of memory");
    }
    return a;
}

int fake_arena_server_reset(fake_arena_server_t *self)
{
    char err[300];
    fake_arena_t *fresh = s_make_arena(self, err, sizeof err);
    if (!fresh) {
        alog_error("fake-arena: reset: %s", err);
        return -1;
    }
    pthread_mutex_lock(&self->mtx);
    int rc = s_set_string(&self->force, self->cfg_force) == 0 &&
                     s_set_string(&self->fallback, self->cfg_fallback) == 0
                 ? 0
                 : -1;
    fake_arena_destroy(&self->arena);
    self->arena = fresh;
    self->challenge = self->challenge_once = false;
    self->tokens_expired = false;
    self->ttl_ms = self->cfg_ttl_ms;
    memset(&self->pace, 0, sizeof self->pace); /* the fresh engine paces nothing */
    memset(self->tokens, 0, self->max_tokens * sizeof *self->tokens);
    self->minted = self->used = 0;
    s_record_clear(self);
    s_uploads_clear(self);
    self->uploads_off = false;
    free(self->csp);
    self->csp = NULL;
    pthread_mutex_unlock(&self->mtx);
    return rc;
}

json_t *fake_arena_server_requests(fake_arena_server_t *self)
{
    pthread_mutex_lock(&self->mtx);
    json_t *list = json_array();
    for (size_t i = 0; list && i < self->n_recs; i++)
        if (json_array_append_new(list, json_deep_copy(self->recs[i].rec)) < 0) {
            json_decref(list);
            list = NULL;
        }
    pthread_mutex_unlock(&self->mtx);
    return list;
}

static enum MHD_Result s_serve_requests(fake_arena_server_t *self, struct MHD_Connection *c)
{
    pthread_mutex_lock(&self->mtx);
    json_t *list = json_array();
    for (size_t i = 0; list && i < self->n_recs; i++)
        json_array_append(list, self->recs[i].rec);
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    pthread_mutex_unlock(&self->mtx);
    if (!text)
        return s_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    enum MHD_Result rc = s_respond(c, MHD_HTTP_OK, S_JSON_TYPE, text, strlen(text), NULL);
    free(text);
    return rc;
}

static enum MHD_Result s_serve_tokens(fake_arena_server_t *self, struct MHD_Connection *c)
{
    pthread_mutex_lock(&self->mtx);
    long long now = s_now_ms();
    unsigned long live = 0;
    for (size_t i = 0; i < self->max_tokens; i++)
        live += self->tokens[i].seq && !self->tokens[i].used && self->tokens[i].expires_ms >= now;
    json_t *v = json_pack("{s:I,s:I,s:I,s:I}", "minted", (json_int_t)self->minted, "used",
                          (json_int_t)self->used, "live", (json_int_t)live, "token_ttl_ms",
                          (json_int_t)self->ttl_ms);
    pthread_mutex_unlock(&self->mtx);
    return s_respond_json(c, MHD_HTTP_OK, v);
}

static enum MHD_Result s_serve_control(fake_arena_server_t *self, s_req_t *r,
                                       struct MHD_Connection *c, const char *method)
{
    json_t *state = NULL;
    char err[400];
    if (s_is_get(method)) {
        pthread_mutex_lock(&self->mtx);
        state = s_state(self);
        pthread_mutex_unlock(&self->mtx);
    } else if (s_control(self, r->body.data, r->body.len, &state, err, sizeof err) < 0) {
        return s_respond_error(c, MHD_HTTP_BAD_REQUEST, err);
    }
    return s_respond_json(c, MHD_HTTP_OK, state);
}

/* ---- create-evaluation ----------------------------------------------------- */

/*  A plan answering the whole of body at once. */
static int s_plan_whole(fake_plan_t *p, int status, const char *ctype, const char *body)
{
    memset(p, 0, sizeof *p);
    p->status = status;
    p->content_type = ctype;
    if (abuf_puts(&p->body, body) < 0 || fake_plan_add_chunk(p, 0, p->body.len, 0) < 0) {
        fake_plan_clear(p);
        return -1;
    }
    return 0;
}

static void s_record_refusal(json_t *rec, int status, const char *reason)
{
    json_object_set_new(rec, "status", json_integer(status));
    json_object_set_new(rec, "rejected", json_true());
    json_object_set_new(rec, "reason", json_string(reason));
}

/*  Under mtx: Cloudflare, the size bound, then the engine. Fills r->plan and
    rec. 0, or -1 when out of memory. */
static int s_eval_plan(fake_arena_server_t *self, s_req_t *r, json_t *rec, const char *method,
                       const char *url, const char *ctype)
{
    const char *account = r->account[0] ? r->account : NULL; /* the session's user id */
    json_object_set_new(rec, "account",
                        json_string(account ? account : FAKE_ARENA_ACCOUNT_DEFAULT));
    json_object_set_new(rec, "pace_violation", json_false());
    if (self->challenge || self->challenge_once) {
        self->challenge_once = false;
        r->cloudflare = true;
        s_record_refusal(rec, 403, "cloudflare challenge (challenge mode)");
        return s_plan_whole(&r->plan, 403, "text/html; charset=UTF-8",
                            fake_scenario_cloudflare_html());
    }
    if (r->too_big || r->oom) {
        char why[80];
        snprintf(why, sizeof why, "body over %zu bytes", self->max_body);
        s_record_refusal(rec, 413, r->oom ? "out of memory" : why);
        return s_plan_whole(&r->plan, 413, S_JSON_TYPE, "{\"error\":\"Payload too large\"}");
    }
    if (!r->account[0] && fake_arena_era(self->arena) == FAKE_ERA_2026) {
        s_record_refusal(rec, 401, "not logged in (no session cookie)");
        return s_plan_whole(&r->plan, 401, S_JSON_TYPE, "{\"error\":\"Unauthorized\"}");
    }
    json_t *headers = json_object();
    if (headers && ctype)
        json_object_set_new(headers, "content-type", s_safe_string(ctype));
    fake_request_t req = {url,         method,         headers, r->body.data ? r->body.data : "",
                          r->body.len, NULL,           NULL,    NULL,
                          self->force, self->fallback, account};
    fake_http_t http = {s_token_check, r};
    fake_outcome_t out;
    int rc = headers ? fake_arena_handle_http(self->arena, &req, &http, &out) : -1;
    json_decref(headers);
    if (rc < 0)
        return -1;
    json_object_set(rec, "body", out.body ? out.body : json_null());
    json_object_set_new(rec, "status", json_integer(out.plan.status));
    json_object_set_new(rec, "scenario", out.scenario[0] ? json_string(out.scenario) : json_null());
    json_object_set_new(rec, "rejected", json_boolean(out.rejected));
    json_object_set_new(rec, "reason", out.rejected ? json_string(out.reason) : json_null());
    json_object_set_new(rec, "recaptcha_token_ok", json_boolean(r->token_ok));
    json_object_set_new(rec, "pace_violation", json_boolean(out.pace_violation));
    r->cloudflare = strcmp(out.scenario, "cloudflare") == 0;
    r->plan = out.plan;
    memset(&out.plan, 0, sizeof out.plan);
    fake_outcome_clear(&out);
    return 0;
}

/*  MHD content reader: one planned chunk (or the part of it that fits) per
    call, after its delay; then the plan's ending. */
static ssize_t s_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    s_req_t *r = cls;
    const fake_plan_t *p = &r->plan;
    while (r->chunk < p->n_chunks) {
        const fake_chunk_t *c = &p->chunks[r->chunk];
        if (!r->chunk_waited) {
            if (s_pause(r, c->delay_ms) < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            r->chunk_waited = true;
        }
        size_t n = c->len - r->chunk_off < max ? c->len - r->chunk_off : max;
        if (n == 0) { /* an empty chunk (or none fits): nothing to hand over */
            r->chunk++, r->chunk_off = 0, r->chunk_waited = false;
            continue;
        }
        memcpy(buf, p->body.data + c->off + r->chunk_off, n);
        r->chunk_off += n;
        if (r->chunk_off == c->len)
            r->chunk++, r->chunk_off = 0, r->chunk_waited = false;
        r->sent += n;
        return (ssize_t)n;
    }
    if (p->end == FAKE_END_STALL) { /* a blank line now and then, until the client goes */
        if (s_pause(r, FAKE_SERVER_KEEPALIVE_MS) < 0 || max == 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        buf[0] = '\n';
        r->sent++;
        return 1;
    }
    unsigned wait = p->end_delay_ms;
    if (p->end == FAKE_END_CLOSE && wait < S_CLOSE_FLOOR_MS)
        wait = S_CLOSE_FLOOR_MS;
    if (s_pause(r, wait) < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (p->end == FAKE_END_CLOSE) {
        r->closed_by_us = true; /* MHD drops the connection: no last chunk */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    r->finished = true;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void s_add_plan_headers(struct MHD_Response *resp, const s_req_t *r)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->plan.content_type ? r->plan.content_type : "text/plain");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->plan.retry_after[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, r->plan.retry_after);
    if (r->plan.status == 200)
        MHD_add_response_header(resp, "x-vercel-ai-data-stream", "v1");
    for (size_t i = 0; r->cloudflare && s_cf_headers[i]; i += 2)
        MHD_add_response_header(resp, s_cf_headers[i], s_cf_headers[i + 1]);
}

/*  A 200 streams through s_reader (chunked); anything else goes whole. */
static enum MHD_Result s_queue_plan(s_req_t *r, struct MHD_Connection *c)
{
    struct MHD_Response *resp;
    const fake_plan_t *p = &r->plan;
    if (p->status == 200) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, s_reader, r, NULL);
    } else {
        abuf_t whole = ABUF_INIT;
        for (size_t i = 0; i < p->n_chunks; i++)
            if (abuf_append(&whole, p->body.data + p->chunks[i].off, p->chunks[i].len) < 0) {
                abuf_free(&whole);
                return MHD_NO;
            }
        resp = MHD_create_response_from_buffer(whole.len, whole.data ? whole.data : "",
                                               MHD_RESPMEM_MUST_COPY);
        r->sent = whole.len;
        abuf_free(&whole);
    }
    if (!resp)
        return MHD_NO;
    s_add_plan_headers(resp, r);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)p->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result s_serve_eval(fake_arena_server_t *self, s_req_t *r, struct MHD_Connection *c,
                                    const char *method, const char *url)
{
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    s_cookie_user(c, r->account, sizeof r->account, NULL);
    pthread_mutex_lock(&self->mtx);
    json_t *rec = s_record_new(self, method, url, ctype);
    int rc = rec ? s_eval_plan(self, r, rec, method, url, ctype) : -1;
    if (rec)
        json_object_set_new(rec, "attachments_mode",
                            json_string(s_attachments_mode(self, json_object_get(rec, "body"))));
    if (rc == 0 && r->plan.end == FAKE_END_FAIL) /* page-side: never for HTTP requests */
        rc = -1;
    if (rc < 0 && rec &&
        s_plan_whole(&r->plan, 500, S_JSON_TYPE, "{\"error\":\"fake-arena: out of memory\"}") ==
            0) {
        s_record_refusal(rec, 500, "out of memory");
        rc = 0;
    }
    if (rec)
        s_record_add(self, rec, r->body.len);
    r->record = rec; /* our reference, for the completion notice */
    pthread_mutex_unlock(&self->mtx);
    if (rc < 0)
        return MHD_NO;
    if (s_pause(r, r->plan.head_delay_ms) < 0)
        return MHD_NO;
    return s_queue_plan(r, c);
}

/* ---- MHD callbacks --------------------------------------------------------- */

static void s_req_free(s_req_t *r)
{
    abuf_free(&r->body);
    fake_plan_clear(&r->plan);
    free(r);
}

static s_req_t *s_req_new(fake_arena_server_t *self, struct MHD_Connection *c, const char *method,
                          const char *url)
{
    s_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->self = self;
    r->route = s_route(method, url);
    r->limit = r->route == S_EVAL ? self->max_body : S_SMALL_BODY;
    if (r->route == S_STORAGE)
        r->limit = FAKE_ARENA_MAX_ATTACHMENT;
    if (r->route == S_BAD_METHOD && strcmp(method, "POST") == 0 && s_is_page_path(url) &&
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Next-Action"))
        r->route = S_ACTION;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->fd = info ? info->connect_fd : -1;
    return r;
}

static void s_req_feed(s_req_t *r, const char *data, size_t len)
{
    if (r->too_big || r->oom)
        return;
    if (len > r->limit - r->body.len) {
        r->too_big = true;
        abuf_free(&r->body);
    } else if (abuf_append(&r->body, data, len) < 0) {
        r->oom = true;
        abuf_free(&r->body);
    }
}

/*  A Content-Length over the bound is refused before reading the body. */
static int s_declared_too_big(const s_req_t *r, struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (!cl)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return *end == '\0' && (errno == ERANGE || n > r->limit);
}

static enum MHD_Result s_dispatch(fake_arena_server_t *self, s_req_t *r, struct MHD_Connection *c,
                                  const char *method, const char *url)
{
    if (r->route != S_EVAL && (r->too_big || r->oom))
        return s_respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "Payload too large");
    switch (r->route) {
    case S_PAGE:
        return s_serve_page(self, c);
    case S_SCRIPT:
        return s_serve_script(self, c);
    case S_CSS:
        return s_respond(c, MHD_HTTP_OK, "text/css; charset=utf-8", "/* fake-arena */\n", 17, NULL);
    case S_FAVICON: /* no icon, and no 404 in the browser's console */
        return s_respond(c, MHD_HTTP_NO_CONTENT, "image/x-icon", "", 0, NULL);
    case S_EVAL:
        return s_serve_eval(self, r, c, method, url);
    case S_MINT:
        return s_serve_mint(self, r, c);
    case S_CONTROL:
        return s_serve_control(self, r, c, method);
    case S_REQUESTS:
        return s_serve_requests(self, c);
    case S_RESET:
        return fake_arena_server_reset(self) == 0
                   ? s_respond_json(c, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1))
                   : s_respond_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "reset failed");
    case S_TOKENS:
        return s_serve_tokens(self, c);
    case S_ACTIONS_JS:
        return s_serve_actions_js(c);
    case S_ACTION:
        return s_serve_action(self, r, c);
    case S_STORAGE:
        return s_serve_storage(self, r, c, method, url);
    case S_UPLOADS:
        return s_serve_uploads(self, c);
    case S_FAKE_NOT_FOUND:
        return s_respond_error(c, MHD_HTTP_NOT_FOUND, "no such fake-arena endpoint");
    case S_BAD_METHOD:
        return s_respond_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
    case S_NOT_FOUND:
        break;
    }
    return s_serve_not_found(c);
}

static enum MHD_Result s_access(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    fake_arena_server_t *self = cls;
    s_req_t *r = *con_cls;
    if (!r) {
        r = s_req_new(self, c, method, url);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        if (!s_declared_too_big(r, c))
            return MHD_YES;
        r->too_big = true;
        r->answered = true;
        return s_dispatch(self, r, c, method, url);
    }
    if (*upload_size) {
        s_req_feed(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answered)
        return MHD_YES;
    r->answered = true;
    return s_dispatch(self, r, c, method, url);
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)c;
    fake_arena_server_t *self = cls;
    s_req_t *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->record) {
        bool shutdown = r->stopped || toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN;
        bool aborted = r->client_gone || (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
                                          !r->closed_by_us && !shutdown);
        pthread_mutex_lock(&self->mtx);
        json_object_set_new(r->record, "aborted", json_boolean(aborted));
        json_object_set_new(r->record, "done", json_true());
        json_object_set_new(r->record, "end_ms", json_integer(s_now_ms()));
        json_object_set_new(r->record, "body_bytes", json_integer((json_int_t)r->sent));
        json_decref(r->record);
        pthread_mutex_unlock(&self->mtx);
    }
    s_req_free(r);
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (alog_enabled(ALOG_DEBUG))
        alog_vwrite(ALOG_DEBUG, fmt, ap);
}

/* ---- life ---------------------------------------------------------------- */

static int s_config(fake_arena_server_t *self, const fake_arena_server_config_t *cfg, char *err,
                    size_t errlen)
{
    char why[300];
    if (cfg->port > 65535)
        return s_err(err, errlen, "port %u is not in 0..65535", cfg->port);
    if (cfg->token_ttl_ms > FAKE_SERVER_MAX_TOKEN_TTL_MS)
        return s_err(err, errlen, "token ttl %u ms is over %u", cfg->token_ttl_ms,
                     FAKE_SERVER_MAX_TOKEN_TTL_MS);
    if (fake_era_parse(cfg->era, &self->cfg_era) < 0)
        return s_err(err, errlen, "era \"%.20s\" is not 2026 or 2025", cfg->era);
    if (cfg->force_scenario && fake_link_directive_check(cfg->force_scenario, why, sizeof why) < 0)
        return s_err(err, errlen, "force scenario: %s", why);
    if (cfg->default_scenario &&
        fake_link_directive_check(cfg->default_scenario, why, sizeof why) < 0)
        return s_err(err, errlen, "default scenario: %s", why);
    self->cfg_ttl_ms = cfg->token_ttl_ms ? cfg->token_ttl_ms : FAKE_SERVER_TOKEN_TTL_MS;
    self->ttl_ms = self->cfg_ttl_ms;
    self->max_tokens = cfg->max_tokens ? cfg->max_tokens : FAKE_SERVER_MAX_TOKENS;
    self->max_recs = cfg->max_requests ? cfg->max_requests : FAKE_SERVER_MAX_REQUESTS;
    self->max_body = cfg->max_body ? cfg->max_body : FAKE_SERVER_MAX_BODY;
    self->max_ids = cfg->max_ids;
    if (self->max_tokens > FAKE_SERVER_MAX_TOKENS || self->max_recs > FAKE_SERVER_MAX_REQUESTS ||
        self->max_body > FAKE_SERVER_MAX_BODY)
        return s_err(err, errlen, "a bound over its maximum (tokens %u, requests %u, body %u)",
                     FAKE_SERVER_MAX_TOKENS, FAKE_SERVER_MAX_REQUESTS, FAKE_SERVER_MAX_BODY);
    self->tokens = calloc(self->max_tokens, sizeof *self->tokens);
    self->recs = calloc(self->max_recs, sizeof *self->recs);
    self->cfg_force = s_strdup_or_null(cfg->force_scenario);
    self->cfg_fallback = s_strdup_or_null(cfg->default_scenario);
    self->force = s_strdup_or_null(cfg->force_scenario);
    self->fallback = s_strdup_or_null(cfg->default_scenario);
    if (!self->tokens || !self->recs ||
        (cfg->force_scenario && (!self->cfg_force || !self->force)) ||
        (cfg->default_scenario && (!self->cfg_fallback || !self->fallback)))
        return s_err(err, errlen, "out of memory");
    return fake_models_build(cfg->models, cfg->n_models, cfg->models_text, cfg->models_len,
                             &self->models, err, errlen);
}

static int s_listen(fake_arena_server_t *self, unsigned port, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    self->mhd = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, s_access, self, MHD_OPTION_SOCK_ADDR, &sa,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)FAKE_SERVER_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)256 * 1024, MHD_OPTION_END);
    if (!self->mhd)
        return s_err(err, errlen, "cannot listen on 127.0.0.1:%u: %s", port, strerror(errno));
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : port;
    snprintf(self->url, sizeof self->url, "http://127.0.0.1:%u", self->port);
    return 0;
}

fake_arena_server_t *fake_arena_server_new(const fake_arena_server_config_t *cfg, char *err,
                                           size_t errlen)
{
    if (sodium_init() < 0) {
        s_err(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    fake_arena_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_err(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->mtx, NULL);
    atomic_init(&self->stopping, false);
    if (s_config(self, cfg, err, errlen) < 0)
        goto fail;
    /* Requests wait for the engine: its page names the origin, known once bound. */
    pthread_mutex_lock(&self->mtx);
    int rc = s_listen(self, cfg->port, err, errlen);
    if (rc == 0)
        self->arena = s_make_arena(self, err, errlen);
    bool ok = rc == 0 && self->arena; /* read under the lock: a request may reset it at once */
    pthread_mutex_unlock(&self->mtx);
    if (!ok)
        goto fail;
    alog_debug("fake-arena: listening on %s", self->url);
    return self;
fail:
    fake_arena_server_destroy(&self);
    return NULL;
}

void fake_arena_server_destroy(fake_arena_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fake_arena_server_t *self = *self_p;
    atomic_store(&self->stopping, true);
    if (self->mhd)
        MHD_stop_daemon(self->mhd);
    fake_arena_destroy(&self->arena);
    fake_models_free(&self->models);
    if (self->recs)
        s_record_clear(self);
    free(self->recs);
    s_uploads_clear(self);
    free(self->uploads);
    free(self->tokens);
    free(self->force);
    free(self->csp);
    free(self->fallback);
    free(self->cfg_force);
    free(self->cfg_fallback);
    pthread_mutex_destroy(&self->mtx);
    free(self);
    *self_p = NULL;
}

unsigned fake_arena_server_port(const fake_arena_server_t *self)
{
    return self->port;
}

const char *fake_arena_server_url(const fake_arena_server_t *self)
{
    return self->url;
}
