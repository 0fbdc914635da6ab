/*  test_routes — node/routes (the one route table) and node/http's routing
    over it, against a real libmicrohttpd server on 127.0.0.1: every route
    reaches its handler, unknown paths are 404, wrong methods 405, API keys
    are asked where the table says, bodies too large are 413. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <czmq.h>
#include <jansson.h>

#include "node/http.h"
#include "node/routes.h"

/*  The table as the documentation states it (docs/http-api.md): the oracle. */
static const struct {
    const char *method, *path;
    route_id_t id;
    const char *name;
    bool auth;
    int status; /* what the stub renderer (or chat, for a malformed body) answers */
} s_want[] = {
    {"GET", "/health", ROUTE_HEALTH, "health", false, 200},
    {"GET", "/v1/models", ROUTE_MODELS, "models", true, 200},
    {"GET", "/mesh/status", ROUTE_MESH_STATUS, "mesh_status", true, 200},
    {"GET", "/userscript.user.js", ROUTE_USERSCRIPT, "userscript", true, 200},
    {"GET", "/", ROUTE_INDEX, "index", false, 200},
    {"POST", "/mesh/refresh-models", ROUTE_REFRESH_MODELS, "refresh_models", true, 202},
    {"POST", "/v1/chat/completions", ROUTE_CHAT, "chat", true, 400},
};
#define S_N_WANT (sizeof s_want / sizeof s_want[0])

/* ==== the table ============================================================ */

static void test_table(void **state)
{
    size_t n;
    const route_t *table = routes_table(&n);
    assert_int_equal(n, ROUTE_COUNT);
    assert_int_equal(n, S_N_WANT);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(table[i].id, (route_id_t)i); /* indexed by id */
        assert_ptr_equal(routes_get(table[i].id), &table[i]);
    }
    for (size_t i = 0; i < S_N_WANT; i++) {
        const route_t *r = NULL;
        assert_int_equal(routes_resolve(s_want[i].method, s_want[i].path, &r), ROUTES_OK);
        if (r->id != s_want[i].id)
            fail_msg("%s %s: route %d, want %d", s_want[i].method, s_want[i].path, (int)r->id,
                     (int)s_want[i].id);
        assert_string_equal(r->name, s_want[i].name);
        assert_int_equal(r->auth, s_want[i].auth);
    }
    (void)state;
}

static void test_resolve_refused(void **state)
{
    static const char *const unknown[] = {"/nope", "/v1/model", "/health/", "/HEALTH",
                                          "//",    "",          "/v1",      "/mesh/status/x"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const route_t *r = (const route_t *)1;
        assert_int_equal(routes_resolve("GET", unknown[i], &r), ROUTES_NOT_FOUND);
        assert_null(r);
    }
    static const struct {
        const char *method, *path;
        routes_rc_t rc;
    } cases[] = {
        {"HEAD", "/health", ROUTES_OK},
        {"POST", "/health", ROUTES_BAD_METHOD},
        {"PUT", "/v1/models", ROUTES_BAD_METHOD},
        {"GET", "/v1/chat/completions", ROUTES_BAD_METHOD},
        {"HEAD", "/v1/chat/completions", ROUTES_BAD_METHOD},
        {"GET", "/mesh/refresh-models", ROUTES_BAD_METHOD},
        {"get", "/health", ROUTES_BAD_METHOD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const route_t *r = NULL;
        if (routes_resolve(cases[i].method, cases[i].path, &r) != cases[i].rc)
            fail_msg("%s %s: wrong answer", cases[i].method, cases[i].path);
        assert_non_null(r);
    }
    (void)state;
}

/* ==== over HTTP ============================================================ */

/*  The renderer the node would be: names the route it was asked for. */
static int s_render(void *arg, route_id_t route, abuf_t *out, const char **content_type)
{
    (void)arg;
    abuf_printf(out, "{\"route\":\"%s\"}", routes_get(route)->name);
    if (route == ROUTE_INDEX)
        *content_type = "text/html; charset=utf-8";
    return route == ROUTE_REFRESH_MODELS ? 202 : 200;
}

static int s_on_pipe(zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void)loop, (void)arg;
    char *cmd = zstr_recv(pipe);
    int rc = !cmd || strcmp(cmd, "$TERM") == 0 ? -1 : 0;
    zstr_free(&cmd);
    return rc;
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop, (void)timer_id;
    http_tick(arg);
    return 0;
}

/*  An http_t in its own zloop thread; args: the API keys (a strlist_t). */
static void s_server(zsock_t *pipe, void *args)
{
    zloop_t *loop = zloop_new();
    http_config_t hc = {
        .host = "127.0.0.1",
        .port = 0,
        .max_body = 1024,
        .max_connections = 16,
        .api_keys = args,
        .render = s_render,
    };
    openai_limits_default(&hc.limits);
    http_t *http = http_new(&hc, loop);
    zsock_signal(pipe, 0);
    zstr_sendf(pipe, "%d", http ? http_port(http) : -1);
    if (http) {
        zloop_reader(loop, pipe, s_on_pipe, NULL);
        zloop_timer(loop, 20, 0, s_on_tick, http);
        zloop_start(loop);
    }
    http_destroy(&http);
    zloop_destroy(&loop);
}

typedef struct {
    zactor_t *actor;
    int port;
} s_srv_t;

static void s_start(s_srv_t *srv, strlist_t *keys)
{
    srv->actor = zactor_new(s_server, keys);
    assert_non_null(srv->actor);
    char *port = zstr_recv(srv->actor);
    srv->port = port ? atoi(port) : -1;
    zstr_free(&port);
    assert_true(srv->port > 0);
}

static size_t s_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    return abuf_append(ud, data, size * nmemb) == 0 ? size * nmemb : 0;
}

typedef struct {
    long status;
    char ctype[128];
    char code[64];  /* error.code of an error body */
    char route[64]; /* "route" of a stub body */
} s_answer_t;

static s_answer_t s_request(const s_srv_t *srv, const char *method, const char *path,
                            const char *auth, const char *body, size_t body_len)
{
    s_answer_t a = {0};
    abuf_t got = ABUF_INIT;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv->port, path);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (auth)
        headers = curl_slist_append(headers, auth);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
    const char *ct = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(a.ctype, sizeof a.ctype, "%s", ct ? ct : "");
    json_t *root = got.len ? json_loadb(got.data, got.len, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(json_object_get(root, "error"), "code"));
    const char *route = json_string_value(json_object_get(root, "route"));
    snprintf(a.code, sizeof a.code, "%s", code ? code : "");
    snprintf(a.route, sizeof a.route, "%s", route ? route : "");
    json_decref(root);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    abuf_free(&got);
    return a;
}

/*  Each route of the table reaches its own handler. */
static void test_http_routes(void **state)
{
    s_srv_t srv;
    s_start(&srv, NULL);
    for (size_t i = 0; i < S_N_WANT; i++) {
        bool chat = s_want[i].id == ROUTE_CHAT;
        s_answer_t a = s_request(&srv, s_want[i].method, s_want[i].path, NULL, chat ? "{" : NULL,
                                 chat ? 1 : 0);
        if (a.status != s_want[i].status)
            fail_msg("%s %s: HTTP %ld, want %d", s_want[i].method, s_want[i].path, a.status,
                     s_want[i].status);
        if (chat)
            assert_string_equal(a.code, "invalid_request"); /* chat parsed the body */
        else if (strcmp(a.route, s_want[i].name) != 0)
            fail_msg("%s %s rendered route \"%s\", want \"%s\"", s_want[i].method, s_want[i].path,
                     a.route, s_want[i].name);
    }
    s_answer_t a = s_request(&srv, "GET", "/", NULL, NULL, 0);
    assert_string_equal(a.ctype, "text/html; charset=utf-8");
    a = s_request(&srv, "GET", "/v1/models?x=1", NULL, NULL, 0); /* the query is not the path */
    assert_string_equal(a.route, "models");
    a = s_request(&srv, "HEAD", "/health", NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    zactor_destroy(&srv.actor);
    (void)state;
}

static void test_http_refused(void **state)
{
    s_srv_t srv;
    s_start(&srv, NULL);
    static const struct {
        const char *method, *path;
        long status;
        const char *code;
    } cases[] = {
        {"GET", "/nope", 404, "not_found"},
        {"GET", "/v1/model", 404, "not_found"},
        {"GET", "/health/", 404, "not_found"},
        {"POST", "/index.html", 404, "not_found"},
        {"POST", "/health", 405, "method_not_allowed"},
        {"DELETE", "/mesh/status", 405, "method_not_allowed"},
        {"PUT", "/", 405, "method_not_allowed"},
        {"GET", "/mesh/refresh-models", 405, "method_not_allowed"},
        {"GET", "/v1/chat/completions", 405, "method_not_allowed"},
        {"POST", "/userscript.user.js", 405, "method_not_allowed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_answer_t a = s_request(&srv, cases[i].method, cases[i].path, NULL, NULL, 0);
        if (a.status != cases[i].status || strcmp(a.code, cases[i].code) != 0)
            fail_msg("%s %s: HTTP %ld %s, want %ld %s", cases[i].method, cases[i].path, a.status,
                     a.code, cases[i].status, cases[i].code);
        assert_string_equal(a.route, ""); /* no renderer ran */
    }
    /* a body over --max-body: 413, on a page and on chat alike */
    char big[2048];
    memset(big, 'x', sizeof big);
    s_answer_t a = s_request(&srv, "POST", "/mesh/refresh-models", NULL, big, sizeof big);
    assert_int_equal(a.status, 413);
    assert_string_equal(a.code, "request_too_large");
    a = s_request(&srv, "POST", "/v1/chat/completions", NULL, big, sizeof big);
    assert_int_equal(a.status, 413);
    assert_string_equal(a.code, "request_too_large");
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  With keys configured, a key is asked exactly where the table says. */
static void test_http_auth(void **state)
{
    char *items[] = {"k1", "k2"};
    strlist_t keys = {items, 2};
    s_srv_t srv;
    s_start(&srv, &keys);
    for (size_t i = 0; i < S_N_WANT; i++) {
        bool chat = s_want[i].id == ROUTE_CHAT;
        const char *body = chat ? "{" : NULL;
        s_answer_t none = s_request(&srv, s_want[i].method, s_want[i].path, NULL, body, chat);
        s_answer_t wrong = s_request(&srv, s_want[i].method, s_want[i].path,
                                     "Authorization: Bearer k3", body, chat);
        s_answer_t right = s_request(&srv, s_want[i].method, s_want[i].path,
                                     "Authorization: Bearer k2", body, chat);
        long want_none = s_want[i].auth ? 401 : s_want[i].status;
        if (none.status != want_none || wrong.status != want_none)
            fail_msg("%s %s without a key: HTTP %ld / %ld, want %ld", s_want[i].method,
                     s_want[i].path, none.status, wrong.status, want_none);
        if (s_want[i].auth)
            assert_string_equal(none.code, "invalid_api_key");
        assert_int_equal(right.status, s_want[i].status);
    }
    /* ?key= works too (the userscript link a person opens) */
    s_answer_t a = s_request(&srv, "GET", "/userscript.user.js?key=k1", NULL, NULL, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.route, "userscript");
    zactor_destroy(&srv.actor);
    (void)state;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_resolve_refused),
        cmocka_unit_test(test_http_routes), cmocka_unit_test(test_http_refused),
        cmocka_unit_test(test_http_auth),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
