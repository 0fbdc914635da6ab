/*  test_fake_arena_server — the fake LMArena over real HTTP
    (tests/support/fake_arena_server.c), driven with libcurl the way the
    browser's fetch() would drive it: the page and its reCAPTCHA script,
    minting and spending tokens, create-evaluation's validation, scenario
    bodies streamed chunk by chunk with their pacing, stalls the client walks
    away from, connections cut mid-body, the Cloudflare modes, and the
    /__fake/ control and recording API. Each test starts its own server on
    127.0.0.1 port 0; every request has a time limit and every wait a bound. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol/abuf.h"
#include "protocol/arena_catalog.h"
#include "protocol/uuid7.h"
#include "tests/support/fake_arena.h"
#include "tests/support/fake_arena_server.h"

#define T_TIMEOUT_MS 5000 /* any one request */
#define T_WAIT_MS 3000    /* any poll of the record */
#define T_MAX_WRITES 256
#define T_CT FAKE_ARENA_CONTENT_TYPE
#define T_FIN(p, c)                                                                                \
    "ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":" #p ",\"completionTokens\":" #c    \
    "}}\n"
/* The 2026 text answer: A's lines with participant B's woven in. */
#define T_TEXT_2026(p)                                                                             \
    "a0:\"Hello fr\"\nbg:\"B weighs it.\"\na0:\"om the fa\"\nb0:\"Participant B \"\n"              \
    "a0:\"ke arena.\"\nb0:\"must never rea\"\nb0:\"ch the "                                        \
    "client.\"\nbd:{\"finishReason\":\"stop\","                                                    \
    "\"usage\":{\"promptTokens\":" #p ",\"completionTokens\":11}}\n" T_FIN(p, 7)

static long long t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void t_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ================================================================ HTTP */

typedef struct {
    long long t_ms; /* since the request started */
    size_t off, len;
} t_write_t;

typedef struct {
    CURLcode rc;
    long status;
    abuf_t body, headers;
    t_write_t writes[T_MAX_WRITES];
    size_t n_writes;
    long long t0;
} t_resp_t;

static size_t t_on_body(char *p, size_t size, size_t n, void *arg)
{
    t_resp_t *r = arg;
    if (r->n_writes < T_MAX_WRITES)
        r->writes[r->n_writes++] = (t_write_t){t_now_ms() - r->t0, r->body.len, size * n};
    return abuf_append(&r->body, p, size * n) == 0 ? size * n : 0;
}

static size_t t_on_header(char *p, size_t size, size_t n, void *arg)
{
    t_resp_t *r = arg;
    return abuf_append(&r->headers, p, size * n) == 0 ? size * n : 0;
}

#define T_USER "test-user-1" /* the logged-in session every request carries by default */

/*  "Cookie: arena-auth-prod-v1=base64-<session JSON>" for user, as the
    2026 page's Supabase client leaves it in the browser. */
static void t_cookie(const char *user, char *out, size_t cap)
{
    char json[256];
    snprintf(json, sizeof json, "{\"user\":{\"id\":\"%s\",\"is_anonymous\":false}}", user);
    char b64[512];
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)json, strlen(json),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, cap, "Cookie: arena-auth-prod-v1=base64-%s", b64);
}

typedef struct {
    const char *user;  /* the session's user id; NULL: T_USER; "": no cookie */
    const char *ctype; /* Content-Type, or NULL */
    const char *body;  /* NULL: no body */
    size_t len;        /* 0: strlen(body) */
    long timeout_ms;   /* 0: T_TIMEOUT_MS */
    bool chunked;      /* upload with Transfer-Encoding: chunked */
} t_opts_t;

static void t_http(const char *base, const char *method, const char *path, const t_opts_t *o,
                   t_resp_t *out)
{
    static const t_opts_t none;
    if (!o)
        o = &none;
    memset(out, 0, sizeof *out);
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    char ct[200];
    if (o->ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", o->ctype);
        h = curl_slist_append(h, ct);
    }
    if (o->chunked)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    char cookie[600];
    if (!o->user || o->user[0]) {
        t_cookie(o->user ? o->user : T_USER, cookie, sizeof cookie);
        h = curl_slist_append(h, cookie);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (o->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
        if (!o->chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(o->len ? o->len : strlen(o->body)));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, t_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, t_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms ? o->timeout_ms : T_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    out->t0 = t_now_ms();
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    assert_int_equal(abuf_append(&out->body, "", 0), 0); /* NUL-terminated, even empty */
    assert_int_equal(abuf_append(&out->headers, "", 0), 0);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void t_resp_free(t_resp_t *r)
{
    abuf_free(&r->body);
    abuf_free(&r->headers);
}

/*  1 when the response has the header line "name: value…" (name in any case). */
static int t_has_header(const t_resp_t *r, const char *name, const char *value_prefix)
{
    size_t n = strlen(name);
    for (const char *p = r->headers.data; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            if (strncmp(v, value_prefix, strlen(value_prefix)) == 0)
                return 1;
        }
        p = eol ? eol + 2 : NULL;
    }
    return 0;
}

/*  The "error" string of a JSON error body (a copy), or the body itself. */
static char *t_error_of(const t_resp_t *r)
{
    json_t *v = json_loads(r->body.data, 0, NULL);
    const char *e = json_string_value(json_object_get(v, "error"));
    char *out = strdup(e ? e : r->body.data);
    json_decref(v);
    return out;
}

/* ============================================================ fixtures */

typedef struct {
    fake_arena_server_t *srv;
    const char *base;
    bool era2025; /* the server plays 2025: t_mint and t_ask follow */
} fx_t;

static fx_t *t_start(const fake_arena_server_config_t *cfg)
{
    static const fake_arena_server_config_t dflt;
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    char err[300] = "";
    fx->srv = fake_arena_server_new(cfg ? cfg : &dflt, err, sizeof err);
    if (!fx->srv)
        fail_msg("server: %s", err);
    fx->base = fake_arena_server_url(fx->srv);
    return fx;
}

static void t_stop(fx_t **fx_p)
{
    fake_arena_server_destroy(&(*fx_p)->srv);
    assert_null((*fx_p)->srv);
    free(*fx_p);
    *fx_p = NULL;
}

static int fx_setup(void **state)
{
    *state = t_start(NULL);
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    t_stop(&fx);
    return 0;
}

/* ====================================================== site helpers */

/*  Mints a token through POST /__fake/recaptcha/mint (a copy). */
static char *t_mint(fx_t *fx, const char *action)
{
    char in[200];
    snprintf(in, sizeof in, "{\"sitekey\":\"%s\",\"action\":\"%s\"}",
             fx->era2025 ? FAKE_ARENA_SITEKEY_2025 : FAKE_ARENA_SITEKEY_2026, action);
    t_opts_t o = {.ctype = "application/json", .body = in};
    t_resp_t r;
    t_http(fx->base, "POST", FAKE_SERVER_MINT_PATH, &o, &r);
    assert_int_equal(r.rc, CURLE_OK);
    if (r.status != 200)
        fail_msg("mint: %ld %s", r.status, r.body.data);
    json_t *v = json_loads(r.body.data, 0, NULL);
    const char *tok = json_string_value(json_object_get(v, "token"));
    assert_non_null(tok);
    char *copy = strdup(tok);
    json_decref(v);
    t_resp_free(&r);
    return copy;
}

/*  A 2025 create-evaluation body for model with content, fresh ids, and
    token (none when NULL): mode "direct" and all four ids. */
static json_t *t_body25(const char *model, const char *content, const char *token)
{
    char ids[4][UUID_STR_LEN], mid[UUID_STR_LEN];
    for (int i = 0; i < 4; i++)
        uuid7_generate(ids[i]);
    fake_link_model_id(model, "2025", mid);
    json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:[],s:{}},s:s}", "id", ids[0], "mode",
                          "direct", "modelAId", mid, "userMessageId", ids[1], "modelAMessageId",
                          ids[2], "modelBMessageId", ids[3], "userMessage", "content", content,
                          "experimental_attachments", "metadata", "modality", "chat");
    assert_non_null(b);
    if (token)
        json_object_set_new(b, FAKE_ARENA_RC_FIELD, json_string(token));
    return b;
}

/*  The 2026 page's body: mode "direct-battle", no modelBMessageId. */
static json_t *t_body(const char *model, const char *content, const char *token)
{
    json_t *b = t_body25(model, content, token);
    char mid[UUID_STR_LEN];
    fake_link_model_id(model, NULL, mid);
    json_object_set_new(b, "mode", json_string("direct-battle"));
    json_object_set_new(b, "modelAId", json_string(mid));
    json_object_del(b, "modelBMessageId");
    return b;
}

/*  POSTs body (borrowed) to create-evaluation as the page does, as user
    (NULL: T_USER). */
static void t_post_as(fx_t *fx, const char *user, json_t *body, long timeout_ms, t_resp_t *out)
{
    char *text = json_dumps(body, JSON_COMPACT);
    assert_non_null(text);
    t_opts_t o = {.user = user, .ctype = T_CT, .body = text, .timeout_ms = timeout_ms};
    t_http(fx->base, "POST", FAKE_ARENA_PATH, &o, out);
    free(text);
}

static void t_post(fx_t *fx, json_t *body, long timeout_ms, t_resp_t *out)
{
    t_post_as(fx, NULL, body, timeout_ms, out);
}

/*  Mints a token and sends content to fake-chat as user (NULL: T_USER). */
static void t_ask_as(fx_t *fx, const char *user, const char *content, long timeout_ms,
                     t_resp_t *out)
{
    char *tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
    json_t *b =
        fx->era2025 ? t_body25("fake-chat", content, tok) : t_body("fake-chat", content, tok);
    t_post_as(fx, user, b, timeout_ms, out);
    json_decref(b);
    free(tok);
}

static void t_ask(fx_t *fx, const char *content, long timeout_ms, t_resp_t *out)
{
    t_ask_as(fx, NULL, content, timeout_ms, out);
}

/*  GET path, expecting 200 JSON (returned). */
static json_t *t_get_json(fx_t *fx, const char *path)
{
    t_resp_t r;
    t_http(fx->base, "GET", path, NULL, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_true(t_has_header(&r, "content-type", "application/json"));
    json_t *v = json_loads(r.body.data, 0, NULL);
    assert_non_null(v);
    t_resp_free(&r);
    return v;
}

/*  POST /__fake/control; returns the status (and the reply in *reply). */
static long t_control(fx_t *fx, const char *json, json_t **reply)
{
    t_opts_t o = {.ctype = "application/json", .body = json};
    t_resp_t r;
    t_http(fx->base, "POST", "/__fake/control", &o, &r);
    assert_int_equal(r.rc, CURLE_OK);
    if (reply)
        *reply = json_loads(r.body.data, 0, NULL);
    long status = r.status;
    t_resp_free(&r);
    return status;
}

/*  The last record once it is done (bounded wait); a new reference. */
static json_t *t_last_done(fx_t *fx)
{
    long long deadline = t_now_ms() + T_WAIT_MS;
    for (;;) {
        json_t *list = t_get_json(fx, "/__fake/requests");
        json_t *last = json_array_get(list, json_array_size(list) - 1);
        if (last && json_is_true(json_object_get(last, "done"))) {
            json_incref(last);
            json_decref(list);
            return last;
        }
        json_decref(list);
        if (t_now_ms() > deadline)
            fail_msg("no finished request recorded within %d ms", T_WAIT_MS);
        t_sleep_ms(20);
    }
}

static const char *t_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ============================================================== the page */

static void test_page_and_script(void **state)
{
    fx_t *fx = *state;
    static const char *const paths[] = {"/", "/c/new", "/c/0199a1b2-c3d4"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        t_resp_t r;
        t_http(fx->base, "GET", paths[i], NULL, &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_true(t_has_header(&r, "content-type", "text/html"));
        assert_non_null(strstr(r.body.data, "<title>LMArena</title>"));
        assert_non_null(strstr(r.body.data, "<script src=\"" FAKE_SERVER_RECAPTCHA_SRC
                                            "?render=" FAKE_ARENA_SITEKEY "\""));
        assert_non_null(strstr(r.body.data, "self.__next_f.push([1,"));
        assert_non_null(strstr(r.body.data, fx->base)); /* the canonical link: this origin */
        /* The node's own parser finds the catalog in the flight data. */
        arena_catalog_t cat = {0};
        assert_true(arena_catalog_extract(r.body.data, r.body.len, 0, &cat) >= 4);
        static const char *const names[] = {"fake-chat", "fake-chat-2", "fake-image",
                                            "fake-search"};
        for (size_t m = 0; m < 4; m++) {
            char id[UUID_STR_LEN];
            fake_link_model_id(names[m], NULL, id); /* the 2026 page's UUIDv7 */
            assert_string_equal(cat.models[m].name, names[m]);
            assert_string_equal(cat.models[m].id, id);
        }
        assert_int_equal(cat.models[2].modality, ARENA_MODALITY_IMAGE);
        arena_catalog_clear(&cat);
        t_resp_free(&r);
    }

    t_resp_t js;
    t_http(fx->base, "GET", FAKE_SERVER_RECAPTCHA_SRC "?render=" FAKE_ARENA_SITEKEY, NULL, &js);
    assert_int_equal(js.status, 200);
    assert_true(t_has_header(&js, "content-type", "text/javascript"));
    static const char *const needles[] = {
        "window.grecaptcha",          "enterprise", "ready:", "execute:", FAKE_SERVER_MINT_PATH,
        "\"" FAKE_ARENA_SITEKEY "\"", "action"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        if (!strstr(js.body.data, needles[i]))
            fail_msg("the reCAPTCHA script lacks %s", needles[i]);
    assert_null(strstr(js.body.data, FAKE_ARENA_SITEKEY_2025));
    t_resp_free(&js);

    static const struct {
        const char *method, *path;
        long status;
        const char *ctype;
    } others[] = {
        {"GET", "/favicon.ico", 204, "image/x-icon"},
        {"GET", "/logo.png", 404, "text/html"},
        {"GET", "/_next/static/css/fake-app.css", 200, "text/css"},
        {"POST", "/", 405, "application/json"},
        {"POST", FAKE_SERVER_RECAPTCHA_SRC, 405, "application/json"},
        {"GET", "/__fake/nope", 404, "application/json"},
        {"GET", "/__fake/reset", 405, "application/json"},
        {"HEAD", "/", 200, "text/html"},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        t_resp_t r;
        t_http(fx->base, others[i].method, others[i].path, NULL, &r);
        if (r.rc != CURLE_OK || r.status != others[i].status ||
            !t_has_header(&r, "content-type", others[i].ctype))
            fail_msg("%s %s: rc %d status %ld, want %ld %s", others[i].method, others[i].path, r.rc,
                     r.status, others[i].status, others[i].ctype);
        t_resp_free(&r);
    }
}

/* =============================================================== tokens */

typedef enum { TOK_FRESH, TOK_AGAIN, TOK_LOGIN, TOK_NONE, TOK_FORGED, TOK_EXPIRED } t_tok_t;

static void test_recaptcha_tokens(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *what;
        t_tok_t tok;
        long status;
        const char *reason; /* in the record */
    } cases[] = {
        {"minted for chat_submit", TOK_FRESH, 200, NULL},
        {"the same token again", TOK_AGAIN, 403, "already used"},
        {"minted for another action", TOK_LOGIN, 403, "for action \"login\""},
        {"no token", TOK_NONE, 403, "no recaptchaV3Token"},
        {"never minted", TOK_FORGED, 403, "unknown recaptcha token"},
        {"expired", TOK_EXPIRED, 403, "expired"},
    };
    char *last = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = NULL;
        switch (cases[i].tok) {
        case TOK_FRESH:
            tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
            break;
        case TOK_AGAIN:
            tok = strdup(last);
            break;
        case TOK_LOGIN:
            tok = t_mint(fx, "login");
            break;
        case TOK_NONE:
            break;
        case TOK_FORGED:
            tok = strdup("03AFcWeA-fake-000102030405060708090a0b0c0d0e0f.1");
            break;
        case TOK_EXPIRED:
            assert_int_equal(t_control(fx, "{\"token_ttl_ms\":200}", NULL), 200);
            tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
            t_sleep_ms(300);
            break;
        }
        json_t *body = t_body("fake-chat", "Hi", tok);
        t_resp_t r;
        t_post(fx, body, 0, &r);
        json_decref(body);
        char *err = t_error_of(&r);
        if (r.status != cases[i].status ||
            (cases[i].status == 403 && strcmp(err, "recaptcha validation failed") != 0))
            fail_msg("case %s: %ld %s", cases[i].what, r.status, r.body.data);
        json_t *rec = t_last_done(fx);
        assert_int_equal(json_is_true(json_object_get(rec, "recaptcha_token_ok")),
                         cases[i].status == 200);
        if (cases[i].reason && !strstr(t_str(rec, "reason"), cases[i].reason))
            fail_msg("case %s: reason %s", cases[i].what, t_str(rec, "reason"));
        json_decref(rec);
        free(err);
        t_resp_free(&r);
        free(last);
        last = tok;
    }
    free(last);
    /* Minted: fresh, login, expired; used: every one that reached the check. */
    json_t *counts = t_get_json(fx, "/__fake/tokens");
    assert_int_equal(json_integer_value(json_object_get(counts, "minted")), 3);
    assert_int_equal(json_integer_value(json_object_get(counts, "used")), 3);
    assert_int_equal(json_integer_value(json_object_get(counts, "live")), 0);
    assert_int_equal(json_integer_value(json_object_get(counts, "token_ttl_ms")), 200);
    json_decref(counts);

    /* Minting itself refuses another sitekey and a malformed action. */
    static const struct {
        const char *body;
        const char *needle;
    } bad[] = {
        {"{\"sitekey\":\"6LcOtherKey\",\"action\":\"chat_submit\"}", "Invalid site key"},
        {"{\"sitekey\":\"" FAKE_ARENA_SITEKEY "\",\"action\":\"chat submit\"}", "invalid action"},
        {"{\"action\":\"chat_submit\"}", "expected"},
        {"not json", "expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_opts_t o = {.ctype = "application/json", .body = bad[i].body};
        t_resp_t r;
        t_http(fx->base, "POST", FAKE_SERVER_MINT_PATH, &o, &r);
        assert_int_equal(r.status, 400);
        char *err = t_error_of(&r);
        if (!strstr(err, bad[i].needle))
            fail_msg("mint %s: %s", bad[i].body, err);
        free(err);
        t_resp_free(&r);
    }
}

/* ============================================================== answers */

static void test_text_body_exact(void **state)
{
    fx_t *fx = *state;
    t_resp_t r;
    t_ask(fx, "Hello?", 0, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, T_TEXT_2026(2)); /* participant B woven in */
    assert_true(t_has_header(&r, "content-type", "text/plain; charset=utf-8"));
    assert_true(t_has_header(&r, "transfer-encoding", "chunked"));
    t_resp_free(&r);
    json_t *rec = t_last_done(fx);
    assert_string_equal(t_str(rec, "scenario"), "text");
    assert_false(json_is_true(json_object_get(rec, "aborted")));
    assert_int_equal(json_integer_value(json_object_get(rec, "body_bytes")),
                     strlen(T_TEXT_2026(2)));
    json_decref(rec);
}

static void test_failures_table(void **state)
{
    fx_t *fx = *state;
    static const struct {
        const char *content;
        long status;
        const char *ctype;
        const char *needle;                /* in the body */
        const char *header, *header_value; /* or NULL */
    } cases[] = {
        {"[[fake:ratelimit retry=7]]", 429, "application/json", "{\"error\":\"Too many requests\"}",
         "retry-after", "7"},
        {"[[fake:ratelimit]]", 429, "application/json", "Too many requests", "retry-after", "1"},
        {"[[fake:recaptcha]]", 403, "application/json", "recaptcha validation failed", NULL, NULL},
        {"[[fake:moderation]]", 422, "application/json", "Content violates our terms of use", NULL,
         NULL},
        {"[[fake:toolarge]]", 413, "application/json", "Payload too large", NULL, NULL},
        {"[[fake:error500]]", 500, "application/json", "Internal error", NULL, NULL},
        {"[[fake:cloudflare]]", 403, "text/html", "<title>Just a moment...</title>", "cf-mitigated",
         "challenge"},
        {"[[fake:nosuch]]", 500, "application/json", "fake-arena: bad directive", NULL, NULL},
        {"[[fake:arenaerror]]", 200, "text/plain", "a0:\"hasArenaError\"\n", NULL, NULL},
        {"[[fake:arenaerror]]", 200, "text/plain", "a3:\"Something went wrong\"\n", NULL, NULL},
        {"[[fake:promptfailed]]", 429, "application/json", "{\"error\":\"prompt failed\"}", NULL,
         NULL},
        {"[[fake:empty]]", 200, "text/plain", "ad:{\"finishReason\":\"stop\"}\n", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t_resp_t r;
        t_ask(fx, cases[i].content, 0, &r);
        if (r.rc != CURLE_OK || r.status != cases[i].status ||
            !t_has_header(&r, "content-type", cases[i].ctype) ||
            !strstr(r.body.data, cases[i].needle) ||
            (cases[i].header && !t_has_header(&r, cases[i].header, cases[i].header_value)))
            fail_msg("%s: rc %d status %ld\n%s\n%s", cases[i].content, r.rc, r.status,
                     r.headers.data, r.body.data);
        /* Non-2xx answers are whole responses with a length, not streams. */
        if (r.status != 200)
            assert_true(t_has_header(&r, "content-length", ""));
        t_resp_free(&r);
    }

    /* Transport refusals, as LMArena's edge would answer. */
    char *tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
    json_t *b = t_body("fake-chat", "Hi", tok);
    char *text = json_dumps(b, JSON_COMPACT);
    static const struct {
        const char *method, *path, *ctype;
        long status;
        const char *needle;
    } transport[] = {
        {"POST", FAKE_ARENA_PATH, "application/json", 400, "Unsupported content-type"},
        {"GET", FAKE_ARENA_PATH, NULL, 405, "Method Not Allowed"},
        {"POST", "/api/stream/create-evaluation", T_CT, 404, "could not be found"},
        {"POST", "/nextjs-api/stream/post-to-evaluation/x", T_CT, 404, "could not be found"},
    };
    for (size_t i = 0; i < sizeof transport / sizeof transport[0]; i++) {
        t_opts_t o = {.ctype = transport[i].ctype, .body = text};
        t_resp_t r;
        t_http(fx->base, transport[i].method, transport[i].path, &o, &r);
        if (r.status != transport[i].status || !strstr(r.body.data, transport[i].needle))
            fail_msg("%s %s: %ld %s", transport[i].method, transport[i].path, r.status,
                     r.body.data);
        t_resp_free(&r);
    }
    free(text);
    json_decref(b);
    free(tok);
}

static void test_duplicate_ids_and_zod(void **state)
{
    fx_t *fx = *state;
    json_t *b = t_body("fake-chat", "Hi", NULL);
    static const struct {
        const char *what;
        const char *replace_key; /* id replaced by a fresh one, or NULL */
        const char *delete_key;  /* or NULL */
        long status;
        const char *needle;
    } cases[] = {
        {"first use", NULL, NULL, 200, "a0:"},
        {"same ids, fresh token", NULL, NULL, 400, "duplicate evaluation session id"},
        {"fresh session id, old message ids", "id", NULL, 400, "duplicate message id"},
        {"no userMessageId", NULL, "userMessageId", 400,
         "ZodError: [{\"code\":\"invalid_type\",\"expected\":\"string\",\"received\":"
         "\"undefined\",\"path\":[\"userMessageId\"],\"message\":\"Required\"}]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
        json_t *send = json_deep_copy(b);
        json_object_set_new(send, FAKE_ARENA_RC_FIELD, json_string(tok));
        if (cases[i].replace_key) {
            char id[UUID_STR_LEN];
            uuid7_generate(id);
            json_object_set_new(send, cases[i].replace_key, json_string(id));
        }
        if (cases[i].delete_key)
            json_object_del(send, cases[i].delete_key);
        t_resp_t r;
        t_post(fx, send, 0, &r);
        char *err = t_error_of(&r);
        if (r.status != cases[i].status || !strstr(err, cases[i].needle))
            fail_msg("%s: %ld %s", cases[i].what, r.status, r.body.data);
        free(err);
        t_resp_free(&r);
        json_decref(send);
        free(tok);
    }
    json_decref(b);
}

/* ================================================================= eras */

/*  POSTs body (stolen) with a fresh token; the response in out. */
static void t_send(fx_t *fx, json_t *body, t_resp_t *out)
{
    char *tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
    json_object_set_new(body, FAKE_ARENA_RC_FIELD, json_string(tok));
    t_post(fx, body, 0, out);
    json_decref(body);
    free(tok);
}

/*  2026 (the default): modes, modelBMessageId, the twin and hidden rows,
    participant B, the site key. */
static void test_era_2026_site(void **state)
{
    fx_t *fx = *state;
    char stale[UUID_STR_LEN], live[UUID_STR_LEN], hidden[UUID_STR_LEN], fresh[UUID_STR_LEN];
    fake_link_model_uuid7(FAKE_ARENA_TWIN, FAKE_LINK_UUID7_STALE_MS, stale);
    fake_link_model_id(FAKE_ARENA_TWIN, NULL, live);
    fake_link_model_id(FAKE_ARENA_HIDDEN, NULL, hidden);
    char want_stale[128];
    snprintf(want_stale, sizeof want_stale, "{\"error\":\"Models not found: %s\"}", stale);
    static const struct {
        const char *what, *mode;
        int b_id;          /* 0 leave out, 1 a fresh UUIDv7, 2 a v4 */
        const char *model; /* a catalog id (NULL: fake-chat) */
        long status;
        const char *body, *needle; /* exact body, or a part of it */
    } cases[] = {
        {"direct refused", "direct", 1, NULL, 400,
         "{\"error\":\"'direct' mode is not allowed when starting a new conversation\"}", NULL},
        {"direct-battle as the page sends it", "direct-battle", 0, NULL, 200, T_TEXT_2026(1), NULL},
        {"direct-battle with modelBMessageId", "direct-battle", 1, NULL, 200, NULL, "bd:{"},
        {"modelBMessageId not v7", "direct-battle", 2, NULL, 400, NULL, "Invalid uuid"},
        {"battle without modelBMessageId", "battle", 0, NULL, 400, NULL,
         "\\\"path\\\":[\\\"modelBMessageId\\\"]"},
        {"side-by-side", "side-by-side", 1, NULL, 200, NULL, "a0:"},
        {"mode bogus", "bogus", 0, NULL, 400, NULL, "invalid_enum_value"},
        {"stale twin", "direct-battle", 0, "stale", 404, NULL, NULL},
        {"live twin", "direct-battle", 0, "live", 200, NULL, "a0:"},
        {"hidden row", "direct-battle", 0, "hidden", 400,
         "{\"error\":\"Selected model is not available for user selection\"}", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *b = t_body("fake-chat", "Hi", NULL);
        json_object_set_new(b, "mode", json_string(cases[i].mode));
        if (cases[i].b_id) {
            uuid7_generate(fresh);
            json_object_set_new(b, "modelBMessageId",
                                json_string(cases[i].b_id == 1 ? fresh
                                                               : "2f1c3b6e-1a2b-4c3d-8e4f-"
                                                                 "5a6b7c8d9e0f"));
        }
        const char *model = !cases[i].model                        ? NULL
                            : strcmp(cases[i].model, "stale") == 0 ? stale
                            : strcmp(cases[i].model, "live") == 0  ? live
                                                                   : hidden;
        if (model)
            json_object_set_new(b, "modelAId", json_string(model));
        t_resp_t r;
        t_send(fx, b, &r);
        const char *body = model == stale ? want_stale : cases[i].body;
        if (r.status != cases[i].status || (body && strcmp(r.body.data, body) != 0) ||
            (cases[i].needle && !strstr(r.body.data, cases[i].needle)))
            fail_msg("%s: %ld %s", cases[i].what, r.status, r.body.data);
        t_resp_free(&r);
        json_t *rec = t_last_done(fx);
        assert_int_equal(json_integer_value(json_object_get(rec, "status")), cases[i].status);
        assert_string_equal(t_str(json_object_get(rec, "body"), "mode"), cases[i].mode);
        assert_int_equal(json_object_get(json_object_get(rec, "body"), "modelBMessageId") != NULL,
                         cases[i].b_id != 0);
        json_decref(rec);
    }
    /* bfail: B fails, A completes. */
    t_resp_t r;
    t_ask(fx, "[[fake:text bfail=1]]", 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "b3:\"" FAKE_ARENA_B_ERROR "\"\nb0:\"hasArenaError\"\n"));
    assert_non_null(strstr(r.body.data, "a0:\"ke arena.\"\n"));
    assert_non_null(strstr(r.body.data, "\nad:{\"finishReason\":\"stop\""));
    assert_null(strstr(r.body.data, "bd:"));
    t_resp_free(&r);
    /* Minting takes only the page's key; the script knows only it. */
    t_opts_t o = {.ctype = "application/json",
                  .body =
                      "{\"sitekey\":\"" FAKE_ARENA_SITEKEY_2025 "\",\"action\":\"chat_submit\"}"};
    t_http(fx->base, "POST", FAKE_SERVER_MINT_PATH, &o, &r);
    assert_int_equal(r.status, 400);
    t_resp_free(&r);
    /* promptfailed times=1: once 429 without Retry-After, then served. */
    for (int i = 0; i < 2; i++) {
        t_ask(fx, "[[fake:promptfailed times=1]]", 0, &r);
        assert_int_equal(r.status, i == 0 ? 429 : 200);
        if (i == 0) {
            assert_string_equal(r.body.data, "{\"error\":\"prompt failed\"}");
            assert_false(t_has_header(&r, "retry-after", ""));
        }
        t_resp_free(&r);
    }
    /* text then=: the first request of the directive answers text, the next then. */
    for (int i = 0; i < 2; i++) {
        t_ask(fx, "[[fake:text text=abc then=xyz]]", 0, &r);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body.data, i == 0 ? "a0:\"a" : "a0:\"x"));
        assert_null(strstr(r.body.data, i == 0 ? "a0:\"x" : "a0:\"a"));
        t_resp_free(&r);
    }
}

/*  One fake-twin request by row id: the status and body answered. */
static long t_twin_status(fx_t *fx, const char *row_id, abuf_t *body)
{
    json_t *b = t_body("fake-chat", "Hi", NULL);
    json_object_set_new(b, "modelAId", json_string(row_id));
    t_resp_t r;
    t_send(fx, b, &r);
    long status = r.status;
    if (body)
        abuf_puts(body, r.body.data ? r.body.data : "");
    t_resp_free(&r);
    return status;
}

/*  Control "twin_retired": the twin's newer row answers 404 and its older
    row serves; the page still lists both; an era switch keeps it, reset and
    false undo it; a non-boolean is refused. */
static void test_twin_retired(void **state)
{
    fx_t *fx = *state;
    char older[UUID_STR_LEN], newer[UUID_STR_LEN], want[128];
    fake_link_model_uuid7(FAKE_ARENA_TWIN, FAKE_LINK_UUID7_STALE_MS, older);
    fake_link_model_id(FAKE_ARENA_TWIN, NULL, newer);
    json_t *st = t_get_json(fx, "/__fake/control");
    assert_true(json_is_false(json_object_get(st, "twin_retired")));
    json_decref(st);
    assert_int_equal(t_control(fx, "{\"twin_retired\":1}", NULL), 400);
    assert_int_equal(t_control(fx, "{\"twin_retired\":true}", &st), 200);
    assert_true(json_is_true(json_object_get(st, "twin_retired")));
    json_decref(st);
    abuf_t body = ABUF_INIT;
    assert_int_equal(t_twin_status(fx, newer, &body), 404);
    snprintf(want, sizeof want, "{\"error\":\"Models not found: %s\"}", newer);
    assert_string_equal(body.data, want);
    abuf_free(&body);
    assert_int_equal(t_twin_status(fx, older, NULL), 200);
    t_resp_t r;
    t_http(fx->base, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    char *at_older = strstr(r.body.data, older), *at_newer = strstr(r.body.data, newer);
    assert_non_null(at_older);
    assert_non_null(at_newer);
    assert_true(at_older < at_newer); /* the page's order is unchanged */
    t_resp_free(&r);
    /* Kept across an era switch (the rows are rebuilt for 2026 again). */
    assert_int_equal(t_control(fx, "{\"era\":\"2025\"}", NULL), 200);
    assert_int_equal(t_control(fx, "{\"era\":\"2026\"}", NULL), 200);
    assert_int_equal(t_twin_status(fx, newer, NULL), 404);
    assert_int_equal(t_control(fx, "{\"twin_retired\":false}", NULL), 200);
    assert_int_equal(t_twin_status(fx, newer, NULL), 200);
    assert_int_equal(t_twin_status(fx, older, NULL), 404);
    assert_int_equal(t_control(fx, "{\"twin_retired\":true}", NULL), 200);
    assert_int_equal(fake_arena_server_reset(fx->srv), 0);
    st = t_get_json(fx, "/__fake/control");
    assert_true(json_is_false(json_object_get(st, "twin_retired")));
    json_decref(st);
    assert_int_equal(t_twin_status(fx, newer, NULL), 200);
}

/*  The 2025 site, switched on at run time: old page, key and schema. */
static void test_era_2025_site(void **state)
{
    fx_t *fx = *state;
    json_t *st = NULL;
    assert_int_equal(t_control(fx, "{\"era\":\"2025\"}", &st), 200);
    assert_string_equal(t_str(st, "era"), "2025");
    json_decref(st);
    fx->era2025 = true;
    t_resp_t r;
    t_http(fx->base, "GET", "/", NULL, &r);
    assert_non_null(strstr(r.body.data, "?render=" FAKE_ARENA_SITEKEY_2025 "\""));
    assert_null(strstr(r.body.data, FAKE_ARENA_SITEKEY_2026));
    assert_null(strstr(r.body.data, FAKE_ARENA_TWIN));
    assert_null(strstr(r.body.data, "displayName"));
    t_resp_free(&r);
    t_http(fx->base, "GET", FAKE_SERVER_RECAPTCHA_SRC, NULL, &r);
    assert_non_null(strstr(r.body.data, "\"" FAKE_ARENA_SITEKEY_2025 "\""));
    assert_null(strstr(r.body.data, FAKE_ARENA_SITEKEY_2026));
    t_resp_free(&r);
    t_ask(fx, "Hello?", 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data,
                        "a0:\"Hello fr\"\na0:\"om the fa\"\na0:\"ke arena.\"\n" T_FIN(2, 7));
    t_resp_free(&r);
    json_t *b = t_body25("fake-chat", "Hi", NULL);
    json_object_del(b, "modelBMessageId");
    t_send(fx, b, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.data, "modelBMessageId"));
    t_resp_free(&r);
    b = t_body("fake-chat", "Hi", NULL);
    char id[UUID_STR_LEN];
    fake_link_model_id("fake-chat", "2025", id);
    json_object_set_new(b, "modelAId", json_string(id));
    t_send(fx, b, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.data, "invalid_enum_value"));
    t_resp_free(&r);
    /* A token for the 2026 key cannot be minted any more. */
    t_opts_t o = {.ctype = "application/json",
                  .body =
                      "{\"sitekey\":\"" FAKE_ARENA_SITEKEY_2026 "\",\"action\":\"chat_submit\"}"};
    t_http(fx->base, "POST", FAKE_SERVER_MINT_PATH, &o, &r);
    assert_int_equal(r.status, 400);
    t_resp_free(&r);
    /* A 2025 config; reset goes back to it. */
    fake_arena_server_config_t cfg = {.era = "2025"};
    fx_t *fx25 = t_start(&cfg);
    fx25->era2025 = true;
    assert_int_equal(t_control(fx25, "{\"era\":\"2026\"}", NULL), 200);
    assert_int_equal(fake_arena_server_reset(fx25->srv), 0);
    st = t_get_json(fx25, "/__fake/control");
    assert_string_equal(t_str(st, "era"), "2025");
    json_decref(st);
    t_ask(fx25, "Hi", 0, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body.data, "\nb"));
    t_resp_free(&r);
    t_stop(&fx25);
}

/*  Pace enforcement: off by default; per account (the record says which). */
static void test_pace_http(void **state)
{
    fx_t *fx = *state;
    t_resp_t r;
    for (int i = 0; i < 2; i++) {
        t_ask(fx, "Hi", 0, &r);
        assert_int_equal(r.status, 200);
        t_resp_free(&r);
    }
    json_t *st = NULL;
    assert_int_equal(t_control(fx, "{\"pace\":{\"interval_ms\":60000}}", &st), 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(st, "pace"), "interval_ms")), 60000);
    json_decref(st);
    static const long want[] = {200, 429};
    for (int i = 0; i < 2; i++) {
        t_ask(fx, "Hi", 0, &r);
        assert_int_equal(r.status, want[i]);
        if (want[i] == 429) {
            assert_string_equal(r.body.data, "{\"error\":\"prompt failed\"}");
            assert_false(t_has_header(&r, "retry-after", ""));
        }
        t_resp_free(&r);
        json_t *rec = t_last_done(fx);
        assert_int_equal(json_is_true(json_object_get(rec, "pace_violation")), want[i] == 429);
        assert_string_equal(t_str(rec, "account"), T_USER);
        assert_int_equal(json_integer_value(json_object_get(rec, "status")), want[i]);
        json_decref(rec);
    }
    /* Another account is paced on its own. */
    t_ask_as(fx, "test-user-2", "Hi", 0, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    json_t *rec = t_last_done(fx);
    assert_string_equal(t_str(rec, "account"), "test-user-2");
    assert_false(json_is_true(json_object_get(rec, "pace_violation")));
    json_decref(rec);
    /* The window rule: 2 per minute. */
    assert_int_equal(
        t_control(fx, "{\"pace\":{\"interval_ms\":0,\"window\":2,\"window_ms\":60000}}", NULL),
        200);
    static const long want_win[] = {200, 200, 429};
    for (int i = 0; i < 3; i++) {
        t_ask(fx, "Hi", 0, &r);
        assert_int_equal(r.status, want_win[i]);
        t_resp_free(&r);
    }
    /* Off again: served. */
    assert_int_equal(t_control(fx, "{\"pace\":null}", &st), 200);
    assert_true(json_is_null(json_object_get(st, "pace")));
    json_decref(st);
    t_ask(fx, "Hi", 0, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    json_t *list = fake_arena_server_requests(fx->srv);
    size_t violations = 0;
    for (size_t i = 0; i < json_array_size(list); i++)
        violations += json_is_true(json_object_get(json_array_get(list, i), "pace_violation"));
    assert_int_equal(violations, 2);
    json_decref(list);
}

/* ============================================================ challenge */

static void t_expect_challenge(const t_resp_t *r)
{
    assert_int_equal(r->status, 403);
    assert_true(t_has_header(r, "content-type", "text/html"));
    assert_true(t_has_header(r, "cf-mitigated", "challenge"));
    assert_non_null(strstr(r->body.data, "<title>Just a moment...</title>"));
    assert_non_null(strstr(r->body.data, "Enable JavaScript and cookies to continue"));
}

static void test_challenge_modes(void **state)
{
    fx_t *fx = *state;
    t_resp_t r;
    json_t *reply = NULL;
    assert_int_equal(t_control(fx, "{\"challenge\":true}", &reply), 200);
    assert_true(json_is_true(json_object_get(reply, "challenge")));
    json_decref(reply);
    for (int i = 0; i < 2; i++) { /* it stays until turned off */
        t_http(fx->base, "GET", "/", NULL, &r);
        t_expect_challenge(&r);
        t_resp_free(&r);
        t_ask(fx, "Hi", 0, &r);
        t_expect_challenge(&r);
        t_resp_free(&r);
    }
    json_t *rec = t_last_done(fx);
    assert_true(json_is_true(json_object_get(rec, "rejected")));
    assert_non_null(strstr(t_str(rec, "reason"), "cloudflare"));
    assert_false(json_is_true(json_object_get(rec, "recaptcha_token_ok")));
    json_decref(rec);
    json_t *counts = t_get_json(fx, "/__fake/tokens");
    assert_int_equal(json_integer_value(json_object_get(counts, "used")), 0); /* never reached */
    json_decref(counts);
    assert_int_equal(t_control(fx, "{\"challenge\":false}", NULL), 200);
    t_http(fx->base, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);

    /* challenge_once: the next POST only; the page (a reload) is clean. */
    assert_int_equal(t_control(fx, "{\"challenge_once\":true}", NULL), 200);
    t_http(fx->base, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    t_ask(fx, "Hi", 0, &r);
    t_expect_challenge(&r);
    t_resp_free(&r);
    t_ask(fx, "Hi", 0, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    t_http(fx->base, "GET", "/", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.data, "<title>LMArena</title>"));
    t_resp_free(&r);
    json_t *st = t_get_json(fx, "/__fake/control");
    assert_false(json_is_true(json_object_get(st, "challenge_once")));
    assert_false(json_is_true(json_object_get(st, "challenge")));
    json_decref(st);
}

/* ============================================================== streams */

static void test_stall_records_client_abort(void **state)
{
    fx_t *fx = *state;
    t_resp_t r;
    long long t0 = t_now_ms();
    t_ask(fx, "Wait. [[fake:stall]]", 450, &r);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
    assert_int_equal(r.status, 200); /* the head came at once */
    assert_true(r.body.len >= 2);    /* keep-alive blank lines, nothing else */
    for (size_t i = 0; i < r.body.len; i++)
        assert_int_equal(r.body.data[i], '\n');
    t_resp_free(&r);
    json_t *rec = t_last_done(fx);
    assert_string_equal(t_str(rec, "scenario"), "stall");
    assert_true(json_is_true(json_object_get(rec, "aborted")));
    assert_true(t_now_ms() - t0 < 450 + T_WAIT_MS);
    json_decref(rec);
}

static void test_midclose_cuts_the_connection(void **state)
{
    fx_t *fx = *state;
    t_resp_t r;
    t_ask(fx, "[[fake:midclose after=2]]", 0, &r);
    if (r.rc == CURLE_OK)
        fail_msg("the transfer ended cleanly: %s", r.body.data);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "a0:\"Hello fr\"\na0:\"om the fa\"\n");
    t_resp_free(&r);
    json_t *rec = t_last_done(fx);
    assert_string_equal(t_str(rec, "scenario"), "midclose");
    assert_false(json_is_true(json_object_get(rec, "aborted"))); /* we cut it, not the client */
    json_decref(rec);
}

static void test_drip_and_ttfb_pacing(void **state)
{
    fx_t *fx = *state;
    t_resp_t r;
    t_ask(fx, "[[fake:drip ms=100 count=5 ttfb=150]]", 0, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    long long times[8] = {0};
    size_t n = 0;
    for (size_t i = 0; i < r.n_writes; i++)
        if (strncmp(r.body.data + r.writes[i].off, "a0:", 3) == 0 && n < 8)
            times[n++] = r.writes[i].t_ms;
    assert_int_equal(n, 5); /* each a0 chunk arrived by itself */
    assert_true(times[0] >= 150 + 100 - 30);
    for (size_t i = 1; i < n; i++)
        if (times[i] - times[i - 1] < 50)
            fail_msg("chunk %zu came %lld ms after the previous one", i, times[i] - times[i - 1]);
    assert_true(times[4] < 3000);
    t_resp_free(&r);
}

static int t_utf8_valid(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = s[i] < 0x80 ? 1 : s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC0 ? 2 : 0;
        if (!n || i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += n;
    }
    return 1;
}

static void test_split_utf8_bytes_arrive_apart(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(t_control(fx, "{\"era\":\"2025\"}", NULL), 200); /* A's lines only */
    fx->era2025 = true;
    t_resp_t r;
    t_ask(fx, "[[fake:text text=\"é漢😀\" split=utf8 gap=50]]", 0, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    /* The body is the usual one… */
    assert_true(t_utf8_valid((const unsigned char *)r.body.data, r.body.len));
    assert_non_null(strstr(r.body.data, "a0:\"é\"\na0:\"漢\"\na0:\"😀\"\nad:"));
    /* …delivered as 16 chunks: per line the head, each byte of the
       character alone, the tail; then the finish line. */
    static const size_t want[] = {4, 1, 1, 2, 4, 1, 1, 1, 2, 4, 1, 1, 1, 1, 2, 0};
    size_t n_want = sizeof want / sizeof want[0];
    if (r.n_writes != n_want)
        fail_msg("%zu reads, want %zu (chunks merged or split?)", r.n_writes, n_want);
    size_t lone = 0;
    for (size_t i = 0; i + 1 < n_want; i++) {
        assert_int_equal(r.writes[i].len, want[i]);
        const unsigned char *p = (const unsigned char *)r.body.data + r.writes[i].off;
        if (want[i] == 1) {
            assert_true(*p >= 0x80);
            assert_false(t_utf8_valid(p, 1)); /* a piece of a character, not one */
            lone++;
        }
    }
    assert_int_equal(lone, 9);
    /* …and spread over time: the server waits 50 ms between writes. A
       loaded machine may delay one read and bunch two together, so the span
       is checked, not each gap: at least half of the 14 gaps' 700 ms. */
    long long span = r.writes[n_want - 2].t_ms - r.writes[0].t_ms;
    if (span < 350)
        fail_msg("the pieces arrived within %lld ms, want >= 350", span);
    t_resp_free(&r);
}

/*  The same directive through the fake link's path (text frames) keeps every
    character whole: each multi-byte one alone in its chunk. */
static void test_split_utf8_text_mode(void **state)
{
    (void)state;
    fake_arena_config_t cfg = {FAKE_LINK_DEFAULT_ORIGIN, NULL, 0, NULL, 0, 0, "2025"};
    char err[200];
    fake_arena_t *a = fake_arena_new(&cfg, err, sizeof err);
    assert_non_null(a);
    json_t *b = t_body25("fake-chat", "[[fake:text text=\"é漢😀\" split=utf8]]", NULL);
    char *text = json_dumps(b, JSON_COMPACT);
    json_t *headers = json_pack("{s:s}", "Content-Type", T_CT);
    fake_request_t req = {
        FAKE_ARENA_PATH,      "POST", headers, text, strlen(text), FAKE_ARENA_RC_FIELD,
        FAKE_ARENA_RC_ACTION, NULL,   NULL,    NULL, NULL};
    fake_outcome_t out;
    assert_int_equal(fake_arena_handle(a, &req, &out), 0);
    assert_int_equal(out.plan.status, 200);
    static const char *const want[] = {"a0:\"", "é",     "\"\n", "a0:\"", "漢",
                                       "\"\n",  "a0:\"", "😀",    "\"\n"};
    assert_true(out.plan.n_chunks == 10);
    for (size_t i = 0; i < 9; i++) {
        const fake_chunk_t *c = &out.plan.chunks[i];
        assert_int_equal(c->len, strlen(want[i]));
        assert_memory_equal(out.plan.body.data + c->off, want[i], c->len);
    }
    fake_outcome_clear(&out);
    json_decref(headers);
    free(text);
    json_decref(b);
    fake_arena_destroy(&a);
}

typedef struct {
    fx_t *fx;
    t_resp_t r;
} t_bg_t;

static void *t_bg_stall(void *arg)
{
    t_bg_t *bg = arg;
    char *tok = t_mint(bg->fx, FAKE_ARENA_RC_ACTION);
    json_t *b = t_body("fake-chat", "[[fake:stall]]", tok);
    char *text = json_dumps(b, JSON_COMPACT);
    t_opts_t o = {.ctype = T_CT, .body = text, .timeout_ms = 1200};
    t_http(bg->fx->base, "POST", FAKE_ARENA_PATH, &o, &bg->r);
    free(text);
    json_decref(b);
    free(tok);
    return NULL;
}

/*  A sleeping stream holds no lock: other requests are served meanwhile. */
static void test_streams_run_side_by_side(void **state)
{
    fx_t *fx = *state;
    t_bg_t bg = {fx, {0}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, t_bg_stall, &bg), 0);
    t_sleep_ms(200);
    long long t0 = t_now_ms();
    t_resp_t r;
    t_ask(fx, "[[fake:text]]", 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(t_now_ms() - t0 < 800);
    t_resp_free(&r);
    pthread_join(th, NULL);
    assert_int_equal(bg.r.rc, CURLE_OPERATION_TIMEDOUT);
    t_resp_free(&bg.r);
}

/* ============================================== control and the record */

static void test_records(void **state)
{
    fx_t *fx = *state;
    char *tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
    json_t *b1 = t_body("fake-chat", "First.", tok);
    t_resp_t r;
    t_post(fx, b1, 0, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    t_ask(fx, "[[fake:ratelimit retry=3]]", 0, &r);
    t_resp_free(&r);
    t_opts_t o = {.ctype = T_CT, .body = "this is not JSON"};
    t_http(fx->base, "POST", FAKE_ARENA_PATH, &o, &r);
    assert_int_equal(r.status, 400);
    t_resp_free(&r);

    json_t *list = t_get_json(fx, "/__fake/requests");
    assert_int_equal(json_array_size(list), 3);
    json_t *a = json_array_get(list, 0), *b = json_array_get(list, 1), *c = json_array_get(list, 2);
    /* The body exactly as sent, parsed. */
    assert_true(json_equal(json_object_get(a, "body"), b1));
    assert_string_equal(t_str(json_object_get(a, "body"), FAKE_ARENA_RC_FIELD), tok);
    assert_string_equal(t_str(a, "content_type"), T_CT);
    assert_string_equal(t_str(a, "method"), "POST");
    assert_string_equal(t_str(a, "path"), FAKE_ARENA_PATH);
    assert_string_equal(t_str(a, "scenario"), "text");
    assert_int_equal(json_integer_value(json_object_get(a, "status")), 200);
    assert_false(json_is_true(json_object_get(a, "rejected")));
    assert_true(json_is_null(json_object_get(a, "reason")));
    assert_true(json_is_true(json_object_get(a, "recaptcha_token_ok")));
    assert_string_equal(t_str(a, "account"), T_USER); /* the session cookie's user */
    assert_true(json_is_false(json_object_get(a, "pace_violation")));
    assert_string_equal(t_str(json_object_get(a, "body"), "mode"), "direct-battle");
    assert_null(json_object_get(json_object_get(a, "body"), "modelBMessageId"));
    assert_true(json_is_true(json_object_get(a, "done")));
    assert_false(json_is_true(json_object_get(a, "aborted")));
    assert_true(json_integer_value(json_object_get(a, "t_ms")) <=
                json_integer_value(json_object_get(b, "t_ms")));
    assert_int_equal(json_integer_value(json_object_get(a, "n")) + 1,
                     json_integer_value(json_object_get(b, "n")));
    assert_string_equal(t_str(b, "scenario"), "ratelimit");
    assert_int_equal(json_integer_value(json_object_get(b, "status")), 429);
    assert_false(json_is_true(json_object_get(b, "rejected"))); /* a scenario, not validation */
    /* A body that is not JSON is kept as a string. */
    assert_string_equal(t_str(c, "body"), "this is not JSON");
    assert_true(json_is_true(json_object_get(c, "rejected")));
    assert_non_null(strstr(t_str(c, "reason"), "ZodError"));
    assert_true(json_is_null(json_object_get(c, "scenario")));
    for (size_t i = 0; i < 3; i++) { /* every record has these */
        json_t *rec = json_array_get(list, i);
        assert_true(json_is_integer(json_object_get(rec, "status")));
        assert_true(json_is_string(json_object_get(rec, "account")));
        assert_true(json_is_boolean(json_object_get(rec, "pace_violation")));
    }
    json_decref(list);

    /* The C view is the same list. */
    list = fake_arena_server_requests(fx->srv);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    json_decref(b1);
    free(tok);
}

static void test_control_and_directives(void **state)
{
    fx_t *fx = *state;
    static const char *const refused[] = {
        "not json",
        "[]",
        "{\"bogus\":1}",
        "{\"force\":\"nosuch\"}",
        "{\"force\":\"drip ms=abc\"}",
        "{\"default\":5}",
        "{\"challenge\":\"yes\"}",
        "{\"token_ttl_ms\":0}",
        "{\"token_ttl_ms\":3600001}",
        "{\"token_ttl_ms\":1.5}",
        "{\"force\":\"moderation\",\"bogus\":1}", /* all or nothing */
        "{\"era\":\"2024\"}",
        "{\"era\":2025}",
        "{\"era\":\"2025\",\"bogus\":1}",
        "{\"pace\":5}",
        "{\"pace\":{\"interval_ms\":-1}}",
        "{\"pace\":{\"interval_ms\":\"1\"}}",
        "{\"pace\":{\"interval\":1}}",
        "{\"pace\":{\"window\":2}}",
        "{\"pace\":{\"window\":1001,\"window_ms\":10}}",
        "{\"pace\":{\"window_ms\":86400001}}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        json_t *reply = NULL;
        if (t_control(fx, refused[i], &reply) != 400 || !t_str(reply, "error"))
            fail_msg("control %s was not refused", refused[i]);
        json_decref(reply);
    }
    json_t *st = t_get_json(fx, "/__fake/control");
    assert_true(json_is_null(json_object_get(st, "force")));
    assert_int_equal(json_integer_value(json_object_get(st, "token_ttl_ms")),
                     FAKE_SERVER_TOKEN_TTL_MS);
    assert_string_equal(t_str(st, "era"), "2026");
    assert_true(json_is_null(json_object_get(st, "pace")));
    json_decref(st);

    static const struct {
        const char *control; /* or NULL */
        const char *content;
        long status;
    } cases[] = {
        {"{\"default\":\"toolarge\"}", "No directive.", 413},
        {NULL, "Mine wins. [[fake:text]]", 200},
        {NULL, "[[fake:ratelimit]] old turn, then [[fake:moderation]]", 422},
        {"{\"force\":\"ratelimit retry=2\"}", "Ignored. [[fake:text]]", 429},
        {"{\"force\":null,\"default\":null}", "No directive.", 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].control)
            assert_int_equal(t_control(fx, cases[i].control, NULL), 200);
        t_resp_t r;
        t_ask(fx, cases[i].content, 0, &r);
        if (r.status != cases[i].status)
            fail_msg("%s: %ld, want %ld", cases[i].content, r.status, cases[i].status);
        t_resp_free(&r);
    }
    char err[200];
    assert_int_equal(
        fake_arena_server_control(fx->srv, "{\"force\":\"error500\"}", err, sizeof err), 0);
    assert_int_equal(fake_arena_server_control(fx->srv, "{\"nope\":1}", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown key"));
    t_resp_t r;
    t_ask(fx, "Hi", 0, &r);
    assert_int_equal(r.status, 500);
    t_resp_free(&r);
}

static void test_reset(void **state)
{
    fx_t *fx = *state;
    char *tok = t_mint(fx, FAKE_ARENA_RC_ACTION);
    json_t *b = t_body("fake-chat", "Hi", tok);
    t_resp_t r;
    t_post(fx, b, 0, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    char *unused = t_mint(fx, FAKE_ARENA_RC_ACTION);
    assert_int_equal(t_control(fx,
                               "{\"challenge\":true,\"challenge_once\":true,\"force\":"
                               "\"moderation\",\"token_ttl_ms\":5000,\"era\":\"2025\","
                               "\"pace\":{\"interval_ms\":60000}}",
                               NULL),
                     200);

    t_opts_t o = {.ctype = "application/json", .body = "{}"};
    t_http(fx->base, "POST", "/__fake/reset", &o, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);

    json_t *list = t_get_json(fx, "/__fake/requests");
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    json_t *counts = t_get_json(fx, "/__fake/tokens");
    assert_int_equal(json_integer_value(json_object_get(counts, "minted")), 0);
    assert_int_equal(json_integer_value(json_object_get(counts, "used")), 0);
    json_decref(counts);
    json_t *st = t_get_json(fx, "/__fake/control");
    assert_true(json_is_null(json_object_get(st, "force")));
    assert_false(json_is_true(json_object_get(st, "challenge")));
    assert_false(json_is_true(json_object_get(st, "challenge_once")));
    assert_int_equal(json_integer_value(json_object_get(st, "token_ttl_ms")),
                     FAKE_SERVER_TOKEN_TTL_MS);
    assert_string_equal(t_str(st, "era"), "2026"); /* the config's */
    assert_true(json_is_null(json_object_get(st, "pace")));
    json_decref(st);

    /* Tokens minted before are gone; ids seen before may be sent again. */
    json_object_set_new(b, FAKE_ARENA_RC_FIELD, json_string(unused));
    t_post(fx, b, 0, &r);
    assert_int_equal(r.status, 403);
    t_resp_free(&r);
    char *fresh = t_mint(fx, FAKE_ARENA_RC_ACTION);
    json_object_set_new(b, FAKE_ARENA_RC_FIELD, json_string(fresh));
    t_post(fx, b, 0, &r);
    if (r.status != 200)
        fail_msg("old ids after reset: %ld %s", r.status, r.body.data);
    t_resp_free(&r);
    assert_int_equal(fake_arena_server_reset(fx->srv), 0);
    json_decref(b);
    free(tok);
    free(unused);
    free(fresh);
}

/* ================================================================ bounds */

static void test_bounds(void **state)
{
    (void)state;
    fake_arena_server_config_t cfg = {.max_body = 2048, .max_tokens = 4, .max_requests = 3};
    fx_t *fx = t_start(&cfg);

    /* Bodies over the bound: with a Content-Length (refused before reading)
       and chunked (read, dropped, refused). */
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int chunked = 0; chunked < 2; chunked++) {
        t_opts_t o = {.ctype = T_CT, .body = big, .chunked = chunked};
        t_resp_t r;
        t_http(fx->base, "POST", FAKE_ARENA_PATH, &o, &r);
        if (r.status != 413)
            fail_msg("chunked=%d: %ld (rc %d)", chunked, r.status, r.rc);
        t_resp_free(&r);
        json_t *rec = t_last_done(fx);
        assert_int_equal(json_integer_value(json_object_get(rec, "status")), 413);
        assert_non_null(strstr(t_str(rec, "reason"), "body over 2048 bytes"));
        json_decref(rec);
    }
    /* Control bodies are bounded too (64 KiB). */
    size_t huge_len = 70 * 1024;
    char *huge = malloc(huge_len + 1);
    assert_non_null(huge);
    memset(huge, ' ', huge_len);
    huge[huge_len] = '\0';
    t_opts_t ho = {.ctype = "application/json", .body = huge};
    t_resp_t hr;
    t_http(fx->base, "POST", "/__fake/control", &ho, &hr);
    assert_int_equal(hr.status, 413);
    t_resp_free(&hr);
    free(huge);

    /* Tokens: only the newest max_tokens live. */
    char *toks[5];
    for (int i = 0; i < 5; i++)
        toks[i] = t_mint(fx, FAKE_ARENA_RC_ACTION);
    for (int i = 0; i < 5; i += 4) {
        json_t *b = t_body("fake-chat", "Hi", toks[i]);
        t_resp_t r;
        t_post(fx, b, 0, &r);
        assert_int_equal(r.status, i == 0 ? 403 : 200);
        t_resp_free(&r);
        json_decref(b);
    }
    for (int i = 0; i < 5; i++)
        free(toks[i]);

    /* The record keeps the newest max_requests: 4 requests so far, 3 kept. */
    json_t *list = t_get_json(fx, "/__fake/requests");
    assert_int_equal(json_array_size(list), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(list, i), "n")),
                         (json_int_t)(i + 2));
    json_decref(list);
    t_stop(&fx);

    /* Bad configurations are refused with a reason. */
    static const fake_arena_server_config_t bad[] = {
        {.port = 70000},
        {.token_ttl_ms = FAKE_SERVER_MAX_TOKEN_TTL_MS + 1},
        {.force_scenario = "nosuch"},
        {.default_scenario = "drip count=0"},
        {.max_requests = FAKE_SERVER_MAX_REQUESTS + 1},
        {.models_text = "{}", .models_len = 2},
        {.era = "2024"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[300] = "";
        fake_arena_server_t *s = fake_arena_server_new(&bad[i], err, sizeof err);
        if (s)
            fail_msg("bad config %zu was accepted", i);
        assert_true(err[0] != '\0');
    }
}

/*  Models from a file's text, as --models gives them, reach the page. */
static void test_models_text(void **state)
{
    (void)state;
    static const char models[] = "[{\"name\":\"my-model\",\"modality\":\"search\"}]";
    fake_arena_server_config_t cfg = {.models_text = models, .models_len = sizeof models - 1};
    fx_t *fx = t_start(&cfg);
    t_resp_t r;
    t_http(fx->base, "GET", "/", NULL, &r);
    arena_catalog_t cat = {0};
    int n = arena_catalog_extract(r.body.data, r.body.len, 0, &cat);
    assert_true(n >= 5);
    const arena_model_t *mine = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(cat.models[i].name, "my-model") == 0)
            mine = &cat.models[i];
    assert_non_null(mine);
    assert_int_equal(mine->modality, ARENA_MODALITY_SEARCH);
    char id[UUID_STR_LEN];
    fake_link_model_id("my-model", NULL, id);
    assert_string_equal(mine->id, id);
    arena_catalog_clear(&cat);
    t_resp_free(&r);
    t_stop(&fx);
}

/* =================================================================== CLI */

/*  Reads one line from fd within ms. */
static int t_read_line(int fd, char *buf, size_t cap, int ms)
{
    size_t n = 0;
    long long deadline = t_now_ms() + ms;
    while (n + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        long long left = deadline - t_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        if (read(fd, buf + n, 1) != 1)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 0;
}

/*  Waits (bounded) for pid; its exit status, or -1. */
static int t_wait_exit(pid_t pid, int ms)
{
    long long deadline = t_now_ms() + ms;
    int st;
    while (t_now_ms() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        t_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static pid_t t_spawn(const char *const argv[], int *out_fd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        close(p[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

static void test_cli(void **state)
{
    (void)state;
    const char *bin = ARENA_BINARY_DIR "/fake-arena";
    if (access(bin, X_OK) != 0)
        skip(); /* built by the fake-arena target, not by this test's */
    int fd;
    const char *const run[] = {bin, "--port", "0", "--token-ttl-ms", "5000", NULL};
    pid_t pid = t_spawn(run, &fd);
    char line[200];
    assert_int_equal(t_read_line(fd, line, sizeof line, 5000), 0);
    unsigned port = 0;
    assert_int_equal(sscanf(line, "fake-arena ready url=http://127.0.0.1:%u", &port), 1);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
    assert_string_equal(line + strlen("fake-arena ready url="), base);
    fx_t fx = {NULL, base, false};
    json_t *counts = t_get_json(&fx, "/__fake/tokens");
    assert_int_equal(json_integer_value(json_object_get(counts, "token_ttl_ms")), 5000);
    json_decref(counts);
    t_resp_t r;
    t_ask(&fx, "Hi", 0, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    kill(pid, SIGTERM);
    assert_int_equal(t_wait_exit(pid, 5000), 0);
    close(fd);

    /* --era 2025: the old key on the page, 2025 bodies served. */
    const char *const run25[] = {bin, "--port", "0", "--era", "2025", NULL};
    pid = t_spawn(run25, &fd);
    assert_int_equal(t_read_line(fd, line, sizeof line, 5000), 0);
    assert_int_equal(sscanf(line, "fake-arena ready url=http://127.0.0.1:%u", &port), 1);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", port);
    fx_t fx25 = {NULL, base, true};
    t_http(base, "GET", "/", NULL, &r);
    assert_non_null(strstr(r.body.data, "?render=" FAKE_ARENA_SITEKEY_2025 "\""));
    t_resp_free(&r);
    t_ask(&fx25, "Hi", 0, &r);
    assert_int_equal(r.status, 200);
    t_resp_free(&r);
    kill(pid, SIGTERM);
    assert_int_equal(t_wait_exit(pid, 5000), 0);
    close(fd);

    static const char *const bad[][4] = {
        {"--era", "2024", NULL, NULL}, {"--port", "x", NULL, NULL},
        {"--bogus", "1", NULL, NULL},  {"--token-ttl-ms", "0", NULL, NULL},
        {"--port", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[5] = {bin, bad[i][0], bad[i][1], NULL, NULL};
        pid = t_spawn(argv, &fd);
        assert_int_equal(t_wait_exit(pid, 5000), 2);
        close(fd);
    }
    const char *const nofile[] = {bin, "--models", "/nonexistent/models.json", NULL};
    pid = t_spawn(nofile, &fd);
    assert_int_equal(t_wait_exit(pid, 5000), 1);
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_and_script, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_recaptcha_tokens, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_text_body_exact, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failures_table, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_ids_and_zod, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_era_2026_site, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_twin_retired, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_era_2025_site, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_pace_http, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_challenge_modes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stall_records_client_abort, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_midclose_cuts_the_connection, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_drip_and_ttfb_pacing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_split_utf8_bytes_arrive_apart, fx_setup, fx_teardown),
        cmocka_unit_test(test_split_utf8_text_mode),
        cmocka_unit_test_setup_teardown(test_streams_run_side_by_side, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_records, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_control_and_directives, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reset, fx_setup, fx_teardown),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_models_text),
        cmocka_unit_test(test_cli),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
