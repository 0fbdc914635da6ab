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
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <czmq.h>
#include <jansson.h>

#include "node/boundary.h"
#include "node/http.h"
#include "node/keys.h"
#include "node/routes.h"

/*  The table as the documentation states it (docs/http-api.md): the oracle. */
static const struct {
    const char *method, *path;
    route_id_t id;
    const char *name;
    bool auth;
    int status; /* what the stub renderer (or chat, for a malformed body) answers; an
                   admin route on a server without --admin-key: 401 */
    bool admin; /* the admin key only */
} s_want[] = {
    {"GET", "/health", ROUTE_HEALTH, "health", false, 200, false},
    {"GET", "/v1/models", ROUTE_MODELS, "models", true, 200, false},
    {"GET", "/mesh/status", ROUTE_MESH_STATUS, "mesh_status", true, 200, false},
    {"GET", "/userscript.user.js", ROUTE_USERSCRIPT, "userscript", true, 200, false},
    {"GET", "/", ROUTE_INDEX, "index", false, 200, false},
    {"POST", "/mesh/refresh-models", ROUTE_REFRESH_MODELS, "refresh_models", true, 202, false},
    {"POST", "/v1/chat/completions", ROUTE_CHAT, "chat", true, 400, false},
    {"GET", "/v1/models/org/m:1.5", ROUTE_MODEL, "model", true, 200, false},
    {"POST", "/v1/responses", ROUTE_RESPONSES, "responses", true, 400, false},
    {"POST", "/v1/images/generations", ROUTE_IMAGES, "images", true, 400, false},
    {"GET", "/metrics", ROUTE_METRICS, "metrics", true, 200, false},
    /* checks the key itself (a user key or the admin key); no usage here: 404 */
    {"GET", "/v1/usage", ROUTE_USAGE, "usage", false, 404, false},
    {"POST", "/admin/keys", ROUTE_ADMIN_KEYS_CREATE, "admin_keys_create", false, 401, true},
    {"GET", "/admin/keys", ROUTE_ADMIN_KEYS_LIST, "admin_keys_list", false, 401, true},
    {"DELETE", "/admin/keys/bob", ROUTE_ADMIN_KEY_REVOKE, "admin_key_revoke", false, 401, true},
    {"POST", "/admin/keys/bob/tier", ROUTE_ADMIN_KEY_TIER, "admin_key_tier", false, 401, true},
    {"GET", "/admin/audit", ROUTE_ADMIN_AUDIT, "admin_audit", false, 401, true},
    {"GET", "/admin/tiers", ROUTE_ADMIN_TIERS_LIST, "admin_tiers_list", false, 401, true},
    {"PUT", "/admin/tiers/gold", ROUTE_ADMIN_TIER_PUT, "admin_tier_put", false, 401, true},
    {"GET", "/assets/chart.js", ROUTE_ASSET_CHART, "asset_chart", false, 200, false},
    /* http answers it from node/traffic; no traffic kept here: 404 */
    {"GET", "/mesh/traffic", ROUTE_MESH_TRAFFIC, "mesh_traffic", true, 404, false},
    {"GET", "/extension.zip", ROUTE_EXTENSION, "extension", true, 200, false},
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
        assert_int_equal(routes_admin(r), s_want[i].admin);
        assert_false(routes_admin(r) && (r->cors || r->query_key || r->auth)); /* admin key only */
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
        {"PUT", "/admin/keys", ROUTES_BAD_METHOD},
        {"DELETE", "/admin/keys", ROUTES_BAD_METHOD},
        {"GET", "/admin/keys/bob", ROUTES_BAD_METHOD},
        {"OPTIONS", "/admin/keys", ROUTES_BAD_METHOD}, /* no preflight: not for browsers */
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
static int s_render(void *arg, route_id_t route, const char *param, abuf_t *out,
                    const char **content_type)
{
    (void)arg;
    abuf_printf(out, "{\"route\":\"%s\"", routes_get(route)->name);
    if (param) {
        json_t *p = json_string(param);
        char *text = json_dumps(p, JSON_ENCODE_ANY);
        abuf_printf(out, ",\"param\":%s", text ? text : "null");
        free(text);
        json_decref(p);
    }
    abuf_puts(out, "}");
    if (route == ROUTE_INDEX)
        *content_type = "text/html; charset=utf-8";
    if (route == ROUTE_EXTENSION)
        *content_type = "application/zip";
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

/*  What a test server is started with beyond its defaults. */
typedef struct {
    strlist_t *keys, *names, *cors;
    keys_t *table;         /* the key table; NULL: none */
    const char *admin_key; /* NULL: no admin API */
    size_t body_budget;    /* 0: http's default */
    int max_connections;   /* 0: 16 */
    const char *host;      /* NULL: 127.0.0.1 */
} s_opts_t;

/*  An http_t in its own zloop thread; args: an s_opts_t. */
static void s_server(zsock_t *pipe, void *args)
{
    const s_opts_t *o = args;
    zloop_t *loop = zloop_new();
    http_config_t hc = {
        .host = o->host ? o->host : "127.0.0.1",
        .port = 0,
        .max_body = 1024,
        .max_connections = o->max_connections ? o->max_connections : 16,
        .api_keys = o->keys,
        .keys = o->table,
        .admin_key = o->admin_key,
        .http_names = o->names,
        .cors_origins = o->cors,
        .body_budget = o->body_budget,
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

static void s_start_opts(s_srv_t *srv, const s_opts_t *opts)
{
    srv->actor = zactor_new(s_server, (void *)opts);
    assert_non_null(srv->actor);
    char *port = zstr_recv(srv->actor);
    srv->port = port ? atoi(port) : -1;
    zstr_free(&port);
    assert_true(srv->port > 0);
}

static void s_start(s_srv_t *srv, strlist_t *keys)
{
    static s_opts_t opts; /* read by the server thread before s_start returns */
    opts = (s_opts_t){.keys = keys};
    s_start_opts(srv, &opts);
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
    if (body) /* what API clients send; a missing type is tested on its own */
        headers = curl_slist_append(headers, "Content-Type: application/json");
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
        bool chat = s_want[i].id == ROUTE_CHAT || s_want[i].id == ROUTE_RESPONSES ||
                    s_want[i].id == ROUTE_IMAGES; /* a job: the body is parsed */
        s_answer_t a = s_request(&srv, s_want[i].method, s_want[i].path, NULL, chat ? "{" : NULL,
                                 chat ? 1 : 0);
        if (a.status != s_want[i].status)
            fail_msg("%s %s: HTTP %ld, want %d", s_want[i].method, s_want[i].path, a.status,
                     s_want[i].status);
        if (chat)
            assert_string_equal(a.code, "invalid_request"); /* chat parsed the body */
        else if (s_want[i].admin)
            assert_string_equal(a.code, "invalid_api_key"); /* no --admin-key: no admin API */
        else if (s_want[i].id == ROUTE_USAGE || s_want[i].id == ROUTE_MESH_TRAFFIC)
            assert_string_equal(a.code, "not_found"); /* http answers it: none kept here */
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
        bool chat = s_want[i].id == ROUTE_CHAT || s_want[i].id == ROUTE_RESPONSES ||
                    s_want[i].id == ROUTE_IMAGES; /* a job: the body is parsed */
        const char *body = chat ? "{" : NULL;
        s_answer_t none = s_request(&srv, s_want[i].method, s_want[i].path, NULL, body, chat);
        s_answer_t wrong = s_request(&srv, s_want[i].method, s_want[i].path,
                                     "Authorization: Bearer k3", body, chat);
        s_answer_t right = s_request(&srv, s_want[i].method, s_want[i].path,
                                     "Authorization: Bearer k2", body, chat);
        /* /v1/usage asks a user key or the admin key itself (route auth false) */
        long want_none = s_want[i].auth || s_want[i].id == ROUTE_USAGE ? 401 : s_want[i].status;
        if (none.status != want_none || wrong.status != want_none)
            fail_msg("%s %s without a key: HTTP %ld / %ld, want %ld", s_want[i].method,
                     s_want[i].path, none.status, wrong.status, want_none);
        if (s_want[i].auth || s_want[i].id == ROUTE_USAGE)
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

/* ==== the admin API ======================================================== */

#define S_ADMIN "Authorization: Bearer admin-key-0123456789"

static char s_last_headers[4096]; /* the headers of s_json_req's last answer */

static size_t s_on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    (void)ud;
    size_t have = strlen(s_last_headers), n = size * nmemb;
    if (have + n < sizeof s_last_headers) {
        memcpy(s_last_headers + have, data, n);
        s_last_headers[have + n] = '\0';
    }
    return n;
}

/*  One request; *doc gets the JSON answer (the caller's), *status its status
    (its headers: s_last_headers). */
static json_t *s_json_req(const s_srv_t *srv, const char *method, const char *path,
                          const char *auth, const char *body, long *status)
{
    abuf_t got = ABUF_INIT;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv->port, path);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (auth)
        headers = curl_slist_append(headers, auth);
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);
    s_last_headers[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, s_on_header);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    json_t *doc = got.len ? json_loadb(got.data, got.len, 0, NULL) : NULL;
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    abuf_free(&got);
    return doc;
}

static const char *s_err_field(json_t *doc, const char *field)
{
    return json_string_value(json_object_get(json_object_get(doc, "error"), field));
}

/*  The number of records GET /admin/keys lists (config keys included). */
static size_t s_listed(const s_srv_t *srv)
{
    long st = 0;
    json_t *doc = s_json_req(srv, "GET", "/admin/keys", S_ADMIN, NULL, &st);
    assert_int_equal(st, 200);
    size_t n = json_array_size(json_object_get(doc, "data"));
    json_decref(doc);
    return n;
}

/*  The admin API end to end over a real server: only the admin key opens
    it, a key made there is a user key at once, bad input stores nothing,
    a revoked key is refused at once. */
static void test_http_admin(void **state)
{
    char *items[] = {"k1"};
    strlist_t cfg_keys = {items, 1};
    keys_t *table = keys_new(NULL, "node-t");
    static s_opts_t opts;
    opts = (s_opts_t){.keys = &cfg_keys, .table = table, .admin_key = "admin-key-0123456789"};
    s_srv_t srv;
    s_start_opts(&srv, &opts);
    long st = 0;
    json_t *doc;
    /* only the admin key opens the admin API; the admin key is no user key */
    static const char *const not_admin[] = {NULL, "Authorization: Bearer k1",
                                            "Authorization: Bearer admin-key-012345678",
                                            "Authorization: Basic admin-key-0123456789"};
    for (size_t i = 0; i < sizeof not_admin / sizeof not_admin[0]; i++) {
        doc = s_json_req(&srv, "GET", "/admin/keys", not_admin[i], NULL, &st);
        assert_int_equal(st, 401);
        assert_string_equal(s_err_field(doc, "code"), "invalid_api_key");
        json_decref(doc);
    }
    doc = s_json_req(&srv, "GET", "/admin/keys?key=admin-key-0123456789", NULL, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(doc);
    doc = s_json_req(&srv, "GET", "/v1/models", S_ADMIN, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(doc);
    /* …but it reads what the dashboard polls, which says who reads it */
    static const struct {
        const char *path, *auth;
        long status;
        const char *viewer; /* NULL: no x-arena-viewer */
    } reads[] = {
        {"/mesh/status", S_ADMIN, 200, "admin"},
        {"/mesh/status", "Authorization: Bearer k1", 200, "key"},
        {"/mesh/status", NULL, 401, NULL},
        {"/mesh/status", "Authorization: Bearer admin-key-012345678", 401, NULL},
        {"/metrics", S_ADMIN, 200, "admin"},
        {"/v1/models", "Authorization: Bearer k1", 200, NULL},
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        doc = s_json_req(&srv, "GET", reads[i].path, reads[i].auth, NULL, &st);
        json_decref(doc);
        if (st != reads[i].status)
            fail_msg("GET %s (%s): %ld, want %ld", reads[i].path, reads[i].auth, st,
                     reads[i].status);
        char want[64];
        snprintf(want, sizeof want, "x-arena-viewer: %s\r\n", reads[i].viewer);
        if (reads[i].viewer ? !strstr(s_last_headers, want)
                            : strstr(s_last_headers, "x-arena-viewer") != NULL)
            fail_msg("GET %s (%s): want viewer %s in:\n%s", reads[i].path, reads[i].auth,
                     reads[i].viewer, s_last_headers);
    }
    assert_int_equal(s_listed(&srv), 1); /* config-1 */

    /* create */
    doc = s_json_req(&srv, "POST", "/admin/keys", S_ADMIN,
                     "{\"name\":\"alice\",\"tier\":\"free\",\"models\":[\"m1\",\"m2\"]}", &st);
    assert_int_equal(st, 201);
    const char *key = json_string_value(json_object_get(doc, "key"));
    assert_non_null(key);
    assert_int_equal(strncmp(key, "ak-", 3), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "tier")), "free");
    assert_true(json_is_null(json_object_get(doc, "expires")));
    assert_int_equal(json_array_size(json_object_get(doc, "models")), 2);
    assert_true(json_is_integer(json_object_get(doc, "created_ms")));
    char user[128];
    snprintf(user, sizeof user, "Authorization: Bearer %s", key);
    char key_copy[64];
    snprintf(key_copy, sizeof key_copy, "%s", key);
    json_decref(doc);
    doc = s_json_req(&srv, "GET", "/v1/models", user, NULL, &st);
    assert_int_equal(st, 200); /* a user key at once */
    json_decref(doc);
    doc = s_json_req(&srv, "GET", "/admin/keys", user, NULL, &st);
    assert_int_equal(st, 401); /* but no admin key */
    json_decref(doc);
    /* the list: no key, no hash */
    doc = s_json_req(&srv, "GET", "/admin/keys", S_ADMIN, NULL, &st);
    char *text = json_dumps(doc, 0);
    assert_null(strstr(text, key_copy));
    assert_null(strstr(text, "hash"));
    assert_null(strstr(text, "\"key\""));
    assert_non_null(strstr(text, "\"config-1\""));
    assert_non_null(strstr(text, "\"alice\""));
    free(text);
    json_decref(doc);

    /* bad input: a clear 4xx naming the field, nothing stored */
    static const struct {
        const char *method, *path, *body;
        long status;
        const char *param; /* NULL: none checked */
    } bad[] = {
        {"POST", "/admin/keys", "{\"tier\":\"free\"}", 400, "name"},
        {"POST", "/admin/keys", "{\"name\":\"a b\",\"tier\":\"free\"}", 400, "name"},
        {"POST", "/admin/keys", "{\"name\":7,\"tier\":\"free\"}", 400, "name"},
        {"POST", "/admin/keys", "{\"name\":\"config-2\",\"tier\":\"free\"}", 400, "name"},
        {"POST", "/admin/keys",
         "{\"name\":\"x12345678901234567890123456789012345678901234567890123456789012345\","
         "\"tier\":\"free\"}",
         400, "name"},
        {"POST", "/admin/keys", "{\"name\":\"bob\"}", 400, "tier"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"gold\"}", 400, "tier"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"config\"}", 400, "tier"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"expires\":5}", 400,
         "expires"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"expires\":\"2030\"}", 400,
         "expires"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"models\":\"m1\"}", 400,
         "models"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"models\":[]}", 400,
         "models"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"models\":[\"a,b\"]}", 400,
         "models"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"models\":[\"a b\"]}", 400,
         "models"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"models\":[1]}", 400,
         "models"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"tier\":\"free\",\"teir\":\"x\"}", 400, "teir"},
        {"POST", "/admin/keys", "{\"name\":\"bob\",\"name\":\"bob2\",\"tier\":\"free\"}", 400,
         NULL},
        {"POST", "/admin/keys", "[]", 400, NULL},
        {"POST", "/admin/keys", "{", 400, NULL},
        {"POST", "/admin/keys", "", 400, NULL},
        {"POST", "/admin/keys", "{\"name\":\"alice\",\"tier\":\"free\"}", 409, "name"},
        {"POST", "/admin/keys/alice/tier", "{\"tier\":\"gold\"}", 400, "tier"},
        {"POST", "/admin/keys/alice/tier", "{}", 400, "tier"},
        {"POST", "/admin/keys/alice/tier", "{\"tier\":\"free\",\"x\":1}", 400, "x"},
        {"POST", "/admin/keys/alice/tier", "nope", 400, NULL},
        {"POST", "/admin/keys/nobody/tier", "{\"tier\":\"free\"}", 404, "name"},
        {"POST", "/admin/keys/alice", "{\"tier\":\"free\"}", 404, NULL},
        {"POST", "/admin/keys/a%20b/tier", "{\"tier\":\"free\"}", 404, NULL},
        {"DELETE", "/admin/keys/nobody", NULL, 404, "name"},
        {"DELETE", "/admin/keys/alice/tier", NULL, 404, NULL},
        {"DELETE", "/admin/keys/config-1", NULL, 404, "name"},
        {"PUT", "/admin/keys", NULL, 405, NULL},
        {"GET", "/admin/keys/alice", NULL, 405, NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        doc = s_json_req(&srv, bad[i].method, bad[i].path, S_ADMIN, bad[i].body, &st);
        if (st != bad[i].status)
            fail_msg("%s %s %s: HTTP %ld, want %ld", bad[i].method, bad[i].path,
                     bad[i].body ? bad[i].body : "", st, bad[i].status);
        assert_non_null(s_err_field(doc, "message"));
        if (bad[i].param &&
            (!s_err_field(doc, "param") || strcmp(s_err_field(doc, "param"), bad[i].param) != 0))
            fail_msg("%s %s %s: param %s, want %s", bad[i].method, bad[i].path,
                     bad[i].body ? bad[i].body : "", s_err_field(doc, "param"), bad[i].param);
        json_decref(doc);
    }
    assert_int_equal(s_listed(&srv), 2); /* config-1 and alice: nothing else stored */
    doc = s_json_req(&srv, "GET", "/admin/keys", S_ADMIN, NULL, &st);
    json_t *alice = json_array_get(json_object_get(doc, "data"), 1);
    assert_string_equal(json_string_value(json_object_get(alice, "tier")), "free");
    json_decref(doc);
    /* no Content-Type: 415, nothing stored */
    s_answer_t a = s_request(&srv, "POST", "/admin/keys", S_ADMIN, NULL, 0);
    assert_int_equal(a.status, 415);

    /* re-tier, then revoke: refused at once */
    doc =
        s_json_req(&srv, "POST", "/admin/keys/alice/tier", S_ADMIN, "{\"tier\":\"premium\"}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(doc, "tier")), "premium");
    json_decref(doc);
    doc = s_json_req(&srv, "DELETE", "/admin/keys/alice", S_ADMIN, NULL, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(doc, "revoked")));
    json_decref(doc);
    doc = s_json_req(&srv, "GET", "/v1/models", user, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(doc);
    doc = s_json_req(&srv, "DELETE", "/admin/keys/alice", S_ADMIN, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(doc);
    doc = s_json_req(&srv, "POST", "/admin/keys/alice/tier", S_ADMIN, "{\"tier\":\"free\"}", &st);
    assert_int_equal(st, 404);
    json_decref(doc);
    doc = s_json_req(&srv, "POST", "/admin/keys", S_ADMIN, "{\"name\":\"alice\",\"tier\":\"free\"}",
                     &st);
    assert_int_equal(st, 409); /* a revoked name is not reused */
    json_decref(doc);
    doc = s_json_req(&srv, "GET", "/v1/models", "Authorization: Bearer k1", NULL, &st);
    assert_int_equal(st, 200); /* the --api-key key still works */
    json_decref(doc);
    zactor_destroy(&srv.actor);
    keys_destroy(&table);
    (void)state;
}

/*  "Keys are configured" (auth asked, CORS default) when there is any key:
    an --api-key, the --admin-key, or a record in the table alone. */
static void test_http_keys_configured(void **state)
{
    keys_t *table = keys_new(NULL, "node-t");
    char key[KEYS_KEY_LEN];
    assert_int_equal(keys_create(table, "solo", "free", 0, "", 1, key, NULL), KEYS_OK);
    static s_opts_t opts;
    s_srv_t srv;
    long st = 0;
    json_t *doc;
    /* only a table key: a key is required, and that key works */
    opts = (s_opts_t){.table = table};
    s_start_opts(&srv, &opts);
    doc = s_json_req(&srv, "GET", "/v1/models", NULL, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(doc);
    char user[128];
    snprintf(user, sizeof user, "Authorization: Bearer %s", key);
    doc = s_json_req(&srv, "GET", "/v1/models", user, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(doc);
    doc = s_json_req(&srv, "GET", "/admin/keys", user, NULL, &st);
    assert_int_equal(st, 401); /* no --admin-key: no admin API */
    json_decref(doc);
    zactor_destroy(&srv.actor);
    /* only the admin key, an empty table: a key is required */
    keys_t *empty = keys_new(NULL, "node-t");
    opts = (s_opts_t){.table = empty, .admin_key = "admin-key-0123456789"};
    s_start_opts(&srv, &opts);
    doc = s_json_req(&srv, "GET", "/v1/models", NULL, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(doc);
    zactor_destroy(&srv.actor);
    /* none at all: open (loopback) */
    opts = (s_opts_t){.table = empty};
    s_start_opts(&srv, &opts);
    doc = s_json_req(&srv, "GET", "/v1/models", NULL, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(doc);
    zactor_destroy(&srv.actor);
    keys_destroy(&empty);
    keys_destroy(&table);
    (void)state;
}

/* ==== the browser boundary, over raw sockets ================================ */

/*  A connection to the server, every read and write bounded by 5 s. */
static int s_dial(const s_srv_t *srv)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void s_send(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

typedef struct {
    int status; /* 0: no answer in time */
    char text[8192];
    bool closed; /* the server closed the connection after the answer */
} s_raw_t;

/*  One answer: the status line and headers, then Content-Length bytes of
    body; a "100 Continue" first is skipped. closed: EOF followed. */
static void s_answer(int fd, s_raw_t *a, bool wait_close)
{
    memset(a, 0, sizeof *a);
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, a->text + len, sizeof a->text - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        a->text[len] = '\0';
        char *start = a->text;
        if (strncmp(start, "HTTP/1.1 100", 12) == 0) {
            char *e = strstr(start, "\r\n\r\n");
            if (!e)
                continue;
            memmove(a->text, e + 4, len - (size_t)(e + 4 - a->text) + 1);
            len -= (size_t)(e + 4 - a->text);
        }
        char *hend = strstr(a->text, "\r\n\r\n");
        const char *cl = NULL;
        for (const char *q = a->text; *q && !cl; q++)
            if (strncasecmp(q, "\r\nContent-Length:", 17) == 0)
                cl = q;
        if (hend && cl && len >= (size_t)(hend + 4 - a->text) + strtoul(cl + 17, NULL, 10))
            break;
    }
    if (len >= 12 && strncmp(a->text, "HTTP/1.", 7) == 0)
        a->status = atoi(a->text + 9);
    if (wait_close) {
        char c;
        a->closed = recv(fd, &c, 1, 0) == 0;
    }
}

/*  One request on a fresh connection (req as given: headers and body). */
static s_raw_t s_raw(const s_srv_t *srv, const char *req, size_t len)
{
    int fd = s_dial(srv);
    s_send(fd, req, len);
    s_raw_t a;
    s_answer(fd, &a, false);
    close(fd);
    return a;
}

/*  printf into a request, "@PORT@" in fmt meaning the server's port. */
static s_raw_t s_rawf(const s_srv_t *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static s_raw_t s_rawf(const s_srv_t *srv, const char *fmt, ...)
{
    char req[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(req, sizeof req, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof req);
    return s_raw(srv, req, (size_t)n);
}

static bool s_has(const s_raw_t *a, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = a->text; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return true;
    return false;
}

/*  tmpl with each '@' replaced by port. */
static void s_subst(char *out, size_t outlen, const char *tmpl, int port)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 8 < outlen; p++) {
        if (*p == '@')
            o += (size_t)snprintf(out + o, outlen - o, "%d", port);
        else
            out[o++] = *p;
    }
    out[o] = '\0';
}

#define S_EXPECT(a, want)                                                                          \
    do {                                                                                           \
        if ((a).status != (want))                                                                  \
            fail_msg("line %d: HTTP %d, want %d:\n%.600s", __LINE__, (a).status, (want),           \
                     (a).text);                                                                    \
    } while (0)

/*  Host must be one of the node's names: a DNS-rebinding page's requests
    carry the attacker's name. 421 with the OpenAI error shape. */
static void test_http_host(void **state)
{
    char *names[] = {"api.example", "pinned.example:8080"};
    strlist_t nl = {names, 2};
    s_opts_t o = {.names = &nl};
    s_srv_t srv;
    s_start_opts(&srv, &o);
    int p = srv.port;
    static const char *const good[] = {"127.0.0.1:@",      "localhost:@",        "LocalHost:@",
                                       "[::1]:@",          "api.example",        "api.example:@",
                                       "API.example:1234", "pinned.example:8080"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char host[128];
        s_subst(host, sizeof host, good[i], p);
        s_raw_t a = s_rawf(&srv, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", host);
        if (a.status != 200)
            fail_msg("Host %s: HTTP %d, want 200", host, a.status);
    }
    static const char *const bad[] = {"rebind.test:@", "127.0.0.1:1",    "127.0.0.1",
                                      "localhost",     "pinned.example", "pinned.example:@",
                                      "127.0.0.2:@",   "evil.test",      "localhost.evil.test:@",
                                      "[::1",          "127.0.0.1:@x",   ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[128];
        s_subst(host, sizeof host, bad[i], p);
        s_raw_t a = s_rawf(&srv, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", host);
        if (a.status != 421 && !(host[0] == '\0' && a.status == 400))
            fail_msg("Host \"%s\": HTTP %d, want 421:\n%.400s", host, a.status, a.text);
        if (a.status == 421 && !s_has(&a, "\"code\":\"misdirected_request\""))
            fail_msg("Host %s: not the OpenAI error shape:\n%.400s", host, a.text);
    }
    /* every path, the userscript's above all */
    s_raw_t a = s_rawf(&srv, "GET /userscript.user.js HTTP/1.1\r\nHost: rebind.test:%d\r\n\r\n", p);
    S_EXPECT(a, 421);
    assert_false(s_has(&a, "\"route\""));
    /* HTTP/1.0 without Host: no browser sends that */
    a = s_rawf(&srv, "GET /health HTTP/1.0\r\n\r\n");
    S_EXPECT(a, 200);
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  A state-changing request from a web origin the CORS setting does not
    allow is refused, whatever its Content-Type; JSON APIs want JSON. */
static void test_http_origin(void **state)
{
    s_srv_t srv;
    s_start(&srv, NULL); /* no keys: no origin is allowed by default */
    int p = srv.port;
#define S_POST                                                                                     \
    "POST /mesh/refresh-models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Length: 0\r\n\r\n"
    static const struct {
        const char *headers;
        int status;
    } cases[] = {
        {"", 202}, /* no browser */
        {"Origin: http://evil.test\r\n", 403},
        {"Origin: http://evil.test\r\nSec-Fetch-Site: cross-site\r\n", 403},
        {"Origin: null\r\n", 403},
        {"Sec-Fetch-Site: cross-site\r\n", 403},
        {"Sec-Fetch-Site: same-site\r\n", 403},
        {"Sec-Fetch-Site: same-origin\r\n", 202},
        {"Sec-Fetch-Site: none\r\n", 202},
        {"Origin: http://127.0.0.1:@\r\nSec-Fetch-Site: same-origin\r\n", 202}, /* its own */
        {"Origin: http://127.0.0.1:@\r\nSec-Fetch-Site: cross-site\r\n", 403},
        {"Origin: http://localhost:@\r\n", 403}, /* not the Host it was asked as */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char h[256], port[16];
        snprintf(port, sizeof port, "%d", p);
        const char *at = strchr(cases[i].headers, '@');
        if (at)
            snprintf(h, sizeof h, "%.*s%s%s", (int)(at - cases[i].headers), cases[i].headers, port,
                     at + 1);
        else
            snprintf(h, sizeof h, "%s", cases[i].headers);
        s_raw_t a = s_rawf(&srv, S_POST, p, h);
        if (a.status != cases[i].status)
            fail_msg("case %zu (%s): HTTP %d, want %d:\n%.400s", i, h, a.status, cases[i].status,
                     a.text);
        if (a.status == 403)
            assert_true(s_has(&a, "\"code\":\"origin_not_allowed\""));
    }
    /* the CSRF of the report: a no-cors text/plain POST of a chat */
    const char *chat = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    s_raw_t a = s_rawf(&srv,
                       "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "Origin: http://evil.test\r\nSec-Fetch-Site: cross-site\r\n"
                       "Sec-Fetch-Mode: no-cors\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       p, strlen(chat), chat);
    S_EXPECT(a, 403);
    /* without Origin (a page that could hide it cannot), the type alone refuses */
    static const char *const types[] = {
        "", "Content-Type: text/plain\r\n", "Content-Type: application/x-www-form-urlencoded\r\n",
        "Content-Type: multipart/form-data; boundary=x\r\n", "Content-Type: application/jsonx\r\n"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        a = s_rawf(&srv,
                   "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
                   "Content-Length: 1\r\n\r\n{",
                   p, types[i]);
        if (a.status != 415 || !s_has(&a, "\"code\":\"unsupported_media_type\""))
            fail_msg("type \"%s\": HTTP %d, want 415", types[i], a.status);
    }
    a = s_rawf(&srv,
               "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Content-Type: Application/JSON; charset=utf-8\r\nContent-Length: 1\r\n\r\n{",
               p);
    S_EXPECT(a, 400); /* JSON accepted, parsed, malformed */
    zactor_destroy(&srv.actor);

    /* with keys: any origin by default (the key protects) — still 401 without it */
    char *items[] = {"k1"};
    strlist_t keys = {items, 1};
    s_start(&srv, &keys);
    a = s_rawf(&srv,
               "POST /mesh/refresh-models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Origin: http://evil.test\r\nContent-Length: 0\r\n\r\n",
               srv.port);
    S_EXPECT(a, 401);
    a = s_rawf(&srv,
               "POST /mesh/refresh-models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Origin: http://evil.test\r\nAuthorization: Bearer k1\r\nContent-Length: 0\r\n\r\n",
               srv.port);
    S_EXPECT(a, 202);
    zactor_destroy(&srv.actor);

    /* --cors-origin names them */
    char *origins[] = {"http://ui.test:3000"};
    strlist_t ol = {origins, 1};
    s_opts_t o = {.cors = &ol};
    s_start_opts(&srv, &o);
    a = s_rawf(&srv,
               "POST /mesh/refresh-models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Origin: http://ui.test:3000\r\nSec-Fetch-Site: cross-site\r\n"
               "Content-Length: 0\r\n\r\n",
               srv.port);
    S_EXPECT(a, 202);
    a = s_rawf(&srv,
               "POST /mesh/refresh-models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Origin: http://ui.test:3001\r\nContent-Length: 0\r\n\r\n",
               srv.port);
    S_EXPECT(a, 403);
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  The userscript is never a script another page can run, nor fetch
    across sites; a person opening its link gets it. The extension's zip
    (the token inside too) likewise, as a download. */
static void test_http_userscript(void **state)
{
    s_srv_t srv;
    s_start(&srv, NULL);
    int p = srv.port;
#define S_GET_US "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n"
    static const struct {
        const char *headers;
        int status;
    } cases[] = {
        {"", 200}, /* a userscript manager, curl */
        {"Sec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\n", 200},
        {"Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\n",
         200}, /* a link followed from another page: the page cannot read it */
        {"Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\n", 200},
        {"Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: script\r\n",
         403},
        {"Sec-Fetch-Site: same-site\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: script\r\n", 403},
        {"Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: script\r\n",
         403},
        {"Sec-Fetch-Dest: worker\r\n", 403},
        {"Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\n",
         200}, /* unreadable there: no CORS header (checked below) */
        {"Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: empty\r\n", 403},
    };
    for (int zip = 0; zip < 2; zip++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            s_raw_t a = s_rawf(&srv, S_GET_US, zip ? "/extension.zip" : "/userscript.user.js", p,
                               cases[i].headers);
            if (a.status != cases[i].status)
                fail_msg("%s case %zu (%s): HTTP %d, want %d", zip ? "zip" : "userscript", i,
                         cases[i].headers, a.status, cases[i].status);
            if (a.status != 200)
                continue;
            if (zip) {
                assert_true(s_has(&a, "\"route\":\"extension\""));
                assert_true(s_has(&a, "\r\nContent-Type: application/zip\r\n"));
                assert_true(s_has(&a, "\r\nContent-Disposition: attachment; "
                                      "filename=\"arenamesh-link.zip\"\r\n"));
            } else {
                assert_true(s_has(&a, "\"route\":\"userscript\""));
                assert_true(s_has(&a, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
            }
            assert_true(s_has(&a, "\r\nX-Content-Type-Options: nosniff\r\n"));
            assert_true(s_has(&a, "\r\nCross-Origin-Resource-Policy: same-origin\r\n"));
            assert_false(s_has(&a, "Access-Control-"));
        }
    }
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  ?key= only where documented; a key with a control character (NUL
    included) never matches; a key that is a prefix of the right one does
    not either. */
static void test_http_key_where(void **state)
{
    char *items[] = {"k1-secret"};
    strlist_t keys = {items, 1};
    s_srv_t srv;
    s_start(&srv, &keys);
    int p = srv.port;
    s_raw_t a = s_rawf(&srv,
                       "GET /userscript.user.js?key=k1-secret HTTP/1.1\r\nHost: "
                       "127.0.0.1:%d\r\n\r\n",
                       p);
    S_EXPECT(a, 200);
    static const char *const elsewhere[] = {"GET /v1/models", "GET /mesh/status",
                                            "POST /mesh/refresh-models"};
    for (size_t i = 0; i < sizeof elsewhere / sizeof elsewhere[0]; i++) {
        a = s_rawf(&srv,
                   "%s?key=k1-secret HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 0\r\n\r\n",
                   elsewhere[i], p);
        if (a.status != 401)
            fail_msg("%s?key=: HTTP %d, want 401", elsewhere[i], a.status);
    }
    a = s_rawf(&srv,
               "GET /userscript.user.js?key=k1-secret%%00zz HTTP/1.1\r\nHost: "
               "127.0.0.1:%d\r\n\r\n",
               p);
    S_EXPECT(a, 401);
    a = s_rawf(&srv, "GET /userscript.user.js?key=k1-secre HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
               p);
    S_EXPECT(a, 401);
    /* Bearer with a control character, a prefix, an extension. A NUL:
       libmicrohttpd ends a header value at it, so what follows never
       reaches the node (docs/operations.md): "K\0zzz" is K, and the part
       after a NUL can never complete a key. */
    static const char *const bearers[] = {"k1-secret\x01",    "k1-secre",      "k1-secretX",
                                          "\tk1-secret",      "k1-sec\x7fret", "k1-\x1bsecret",
                                          "wrong\0k1-secret", "\0k1-secret",   "k1-sec\0ret"};
    static const size_t blen[] = {10, 8, 10, 10, 10, 10, 15, 10, 10};
    for (size_t i = 0; i < sizeof bearers / sizeof bearers[0]; i++) {
        char req[512];
        int n = snprintf(req, sizeof req,
                         "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Authorization: Bearer ",
                         p);
        memcpy(req + n, bearers[i], blen[i]);
        n += (int)blen[i];
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
        a = s_raw(&srv, req, (size_t)n);
        if (a.status == 200)
            fail_msg("Bearer case %zu was accepted", i);
    }
    a = s_rawf(&srv,
               "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer "
               "k1-secret\r\n\r\n",
               p);
    S_EXPECT(a, 200);
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  Without a key, the answer comes on the headers alone — 401, the body
    never sent — and the connection closes. */
static void test_http_before_body(void **state)
{
    char *items[] = {"k1"};
    strlist_t keys = {items, 1};
    s_srv_t srv;
    s_start(&srv, &keys);
    int fd = s_dial(&srv);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
                     srv.port);
    s_send(fd, req, (size_t)n);
    s_raw_t a;
    s_answer(fd, &a, true);
    S_EXPECT(a, 401);
    assert_true(s_has(&a, "\"code\":\"invalid_api_key\""));
    assert_true(a.closed);
    close(fd);
    /* too large by Content-Length: 413 before the body as well */
    fd = s_dial(&srv);
    n = snprintf(req, sizeof req,
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: "
                 "Bearer k1\r\nContent-Type: application/json\r\nContent-Length: 999999\r\n\r\n",
                 srv.port);
    s_send(fd, req, (size_t)n);
    s_answer(fd, &a, true);
    S_EXPECT(a, 413);
    assert_true(a.closed);
    close(fd);
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  Bodies in flight are bounded node-wide: past the budget, 503 with
    Retry-After at once; the budget comes back when a body is done. */
static void test_http_body_budget(void **state)
{
    char *items[] = {"k1"};
    strlist_t keys = {items, 1};
    s_opts_t o = {.keys = &keys, .body_budget = 2048};
    s_srv_t srv;
    s_start_opts(&srv, &o);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Authorization: Bearer k1\r\nContent-Type: application/json\r\n"
                     "Expect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
                     srv.port);
    int held[2];
    for (int i = 0; i < 2; i++) { /* admitted: "100 Continue" says so */
        held[i] = s_dial(&srv);
        s_send(held[i], req, (size_t)n);
        char buf[64] = "";
        ssize_t r = recv(held[i], buf, sizeof buf - 1, 0);
        assert_true(r > 0);
        assert_non_null(strstr(buf, " 100 "));
    }
    s_raw_t a = s_raw(&srv, req, (size_t)n);
    S_EXPECT(a, 503);
    assert_true(s_has(&a, "\r\nRetry-After: 1\r\n"));
    assert_true(s_has(&a, "\"code\":\"no_capacity\""));
    /* one body completes (malformed: 400): its share is free again */
    char body[1000];
    memset(body, ' ', sizeof body);
    s_send(held[0], body, sizeof body);
    s_answer(held[0], &a, false);
    S_EXPECT(a, 400);
    int fd = s_dial(&srv);
    s_send(fd, req, (size_t)n);
    char buf[64] = "";
    assert_true(recv(fd, buf, sizeof buf - 1, 0) > 0);
    assert_non_null(strstr(buf, " 100 "));
    close(fd);
    close(held[0]);
    close(held[1]);
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  Past --max-connections a new client gets a quick 503 (not a wait in
    the listen backlog); once connections close, requests are served. */
static void test_http_max_connections(void **state)
{
    s_opts_t o = {.max_connections = 4};
    s_srv_t srv;
    s_start_opts(&srv, &o);
    int held[4];
    for (int i = 0; i < 4; i++) { /* each served once, then kept open */
        held[i] = s_dial(&srv);
        char req[128];
        int n = snprintf(req, sizeof req, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                         srv.port);
        s_send(held[i], req, (size_t)n);
        s_raw_t a;
        s_answer(held[i], &a, false);
        S_EXPECT(a, 200);
    }
    for (int i = 0; i < 3; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        s_raw_t a = s_rawf(&srv, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", srv.port);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        S_EXPECT(a, 503);
        assert_true(s_has(&a, "\"code\":\"no_capacity\""));
        assert_true(s_has(&a, "\r\nRetry-After: 1\r\n"));
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        assert_true(ms < 2000);
    }
    for (int i = 0; i < 4; i++)
        close(held[i]);
    /* the server notices the closes on its own time: bounded retry */
    int status = 0;
    for (int tries = 0; tries < 100 && status != 200; tries++) {
        s_raw_t a = s_rawf(&srv, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", srv.port);
        status = a.status;
        if (status != 200)
            usleep(20000);
    }
    assert_int_equal(status, 200);
    zactor_destroy(&srv.actor);
    (void)state;
}

/* ==== CORS and x-request-id ================================================ */

/*  The value of header name in a raw answer ("" when absent), and how many
    times it appears. */
static int s_hdr(const s_raw_t *a, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    int hits = 0;
    size_t n = strlen(name);
    const char *end = strstr(a->text, "\r\n\r\n");
    for (const char *p = strstr(a->text, "\r\n"); p && (!end || p < end);
         p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) != 0 || p[2 + n] != ':')
            continue;
        const char *v = p + 3 + n;
        v += strspn(v, " ");
        size_t vl = strcspn(v, "\r");
        if (!hits++)
            snprintf(out, outlen, "%.*s", (int)vl, v);
    }
    return hits;
}

static void test_resolve_cors(void **state)
{
    const route_t *r = NULL;
    assert_int_equal(routes_resolve("OPTIONS", "/v1/chat/completions", &r), ROUTES_PREFLIGHT);
    assert_int_equal(r->id, ROUTE_CHAT);
    assert_int_equal(routes_resolve("OPTIONS", "/v1/models", &r), ROUTES_PREFLIGHT);
    assert_int_equal(routes_resolve("OPTIONS", "/health", &r), ROUTES_PREFLIGHT);
    assert_int_equal(routes_resolve("OPTIONS", "/mesh/status", &r), ROUTES_PREFLIGHT);
    assert_int_equal(routes_resolve("OPTIONS", "/v1/models/a/b", &r), ROUTES_PREFLIGHT);
    /* the pages are no API: no preflight, never a CORS header */
    assert_int_equal(routes_resolve("OPTIONS", "/userscript.user.js", &r), ROUTES_BAD_METHOD);
    assert_false(r->cors);
    assert_int_equal(routes_resolve("OPTIONS", "/", &r), ROUTES_BAD_METHOD);
    assert_false(r->cors);
    /* the one-model route: a prefix with a non-empty rest, '/' ':' '.' kept */
    assert_int_equal(routes_resolve("GET", "/v1/models/org/m:tag.1", &r), ROUTES_OK);
    assert_int_equal(r->id, ROUTE_MODEL);
    assert_string_equal(routes_param(r, "/v1/models/org/m:tag.1"), "org/m:tag.1");
    assert_int_equal(routes_resolve("GET", "/v1/models/", &r), ROUTES_NOT_FOUND);
    assert_int_equal(routes_resolve("GET", "/v1/models", &r), ROUTES_OK);
    assert_int_equal(r->id, ROUTE_MODELS); /* the exact path wins */
    assert_null(routes_param(r, "/v1/models"));
    assert_int_equal(routes_resolve("POST", "/v1/models/x", &r), ROUTES_BAD_METHOD);
    assert_int_equal(routes_resolve("GET", "/v1/modelsx", &r), ROUTES_NOT_FOUND);
    (void)state;
}

static void test_boundary_cors(void **state)
{
    char *star[] = {"*"};
    strlist_t any = {star, 1};
    strlist_t none = {NULL, 0};
    char *one[] = {"http://ui.test:3000"};
    strlist_t ui = {one, 1};
    assert_true(boundary_cors_allows(&none, true, "http://x.test"));
    assert_false(boundary_cors_allows(&none, false, "http://x.test"));
    assert_true(boundary_cors_allows(&any, false, "http://x.test"));
    assert_true(boundary_cors_allows(&ui, false, "HTTP://UI.test:3000"));
    assert_false(boundary_cors_allows(&ui, true, "http://ui.test:3001"));
    assert_false(boundary_cors_allows(&any, true, NULL));
    /* never echoed: control characters, empty, too long */
    assert_false(boundary_cors_allows(&any, true, "http://a.test\r\nSet-Cookie: x=1"));
    assert_false(boundary_cors_allows(&any, true, ""));
    char longo[BOUNDARY_HOST_MAX + 16];
    memset(longo, 'a', sizeof longo - 1);
    longo[sizeof longo - 1] = '\0';
    assert_false(boundary_cors_allows(&any, true, longo));

    static const char *const good[] = {"authorization", "Authorization, Content-Type",
                                       "x-stainless-os,x-stainless-arch", " a ,\tb ",
                                       "openai-beta, x-foo!#$%&'*+-.^_`|~"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!boundary_header_tokens(good[i]))
            fail_msg("\"%s\" refused", good[i]);
    static const char *const bad[] = {"",      ",",   "a,,b",   "a,",
                                      "a b",   "a:b", "a\r\nb", "x-a, (comment)",
                                      "\"a\"", "a;b", "a\x01",  "a,\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (boundary_header_tokens(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    assert_false(boundary_header_tokens(NULL));
    char big[BOUNDARY_TOKENS_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(boundary_header_tokens(big));
    big[BOUNDARY_TOKENS_MAX] = '\0';
    assert_true(boundary_header_tokens(big));
    (void)state;
}

#define S_ACAO "Access-Control-Allow-Origin"

/*  An answer to origin: Access-Control-Allow-Origin echoes it (want) or is
    absent (!want); API answers always say Vary: Origin. */
static void s_expect_cors(const s_raw_t *a, int line, const char *origin, bool want, bool api)
{
    char v[512];
    int n = s_hdr(a, S_ACAO, v, sizeof v);
    if (want && (n != 1 || strcmp(v, origin) != 0))
        fail_msg("line %d: Access-Control-Allow-Origin \"%s\" (x%d), want \"%s\":\n%.600s", line, v,
                 n, origin, a->text);
    if (!want && n)
        fail_msg("line %d: Access-Control-Allow-Origin \"%s\", want none:\n%.600s", line, v,
                 a->text);
    if (want) {
        s_hdr(a, "Access-Control-Expose-Headers", v, sizeof v);
        if (!strstr(v, "x-request-id") || !strstr(v, "retry-after-ms") ||
            !strstr(v, "x-ratelimit-remaining-requests"))
            fail_msg("line %d: Access-Control-Expose-Headers \"%s\"", line, v);
    }
    bool vary = false;
    const char *end = strstr(a->text, "\r\n\r\n");
    for (const char *p = strstr(a->text, "\r\n"); p && (!end || p < end); p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, "Vary:", 5) == 0)
            vary |= strncasecmp(p + 7 + strspn(p + 7, " "), "Origin", 6) == 0;
    if (api != vary)
        fail_msg("line %d: Vary: Origin %s:\n%.600s", line, vary ? "present" : "absent", a->text);
}

#define S_CORS(a, origin, want, api) s_expect_cors(&(a), __LINE__, (origin), (want), (api))

static s_raw_t s_from(const s_srv_t *srv, const char *method, const char *path, const char *origin,
                      const char *extra)
{
    return s_rawf(srv,
                  "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: %s\r\n"
                  "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: cors\r\n%s"
                  "Content-Length: 0\r\n\r\n",
                  method, path, srv->port, origin, extra ? extra : "");
}

static void test_http_cors(void **state)
{
    static const char ui[] = "http://ui.test:3000", evil[] = "http://evil.test";
    /* a keyless node: no origin by default; named with --cors-origin */
    s_srv_t srv;
    s_start(&srv, NULL);
    s_raw_t a = s_from(&srv, "GET", "/v1/models", ui, NULL);
    S_EXPECT(a, 200);
    S_CORS(a, ui, false, true);
    a = s_from(&srv, "OPTIONS", "/v1/chat/completions", ui,
               "Access-Control-Request-Method: POST\r\n");
    S_EXPECT(a, 403);
    S_CORS(a, ui, false, true);
    assert_true(s_has(&a, "\"code\":\"origin_not_allowed\""));
    zactor_destroy(&srv.actor);

    char *origins[] = {"http://ui.test:3000"};
    strlist_t ol = {origins, 1};
    s_opts_t o = {.cors = &ol};
    s_start_opts(&srv, &o);
    /* the preflight of the openai SDK's chat call */
    a = s_from(&srv, "OPTIONS", "/v1/chat/completions", ui,
               "Access-Control-Request-Method: POST\r\n"
               "Access-Control-Request-Headers: authorization,content-type,x-stainless-arch,"
               "x-stainless-retry-count,openai-organization\r\n");
    S_EXPECT(a, 204);
    S_CORS(a, ui, true, true);
    char v[1024];
    s_hdr(&a, "Access-Control-Allow-Methods", v, sizeof v);
    assert_string_equal(v, "POST, OPTIONS");
    s_hdr(&a, "Access-Control-Allow-Headers", v, sizeof v);
    assert_string_equal(v, "authorization,content-type,x-stainless-arch,x-stainless-retry-count,"
                           "openai-organization");
    s_hdr(&a, "Access-Control-Max-Age", v, sizeof v);
    assert_string_equal(v, "7200");
    /* no list asked, or a malformed one: the fixed list the SDKs need */
    static const char *const asked[] = {"", "Access-Control-Request-Headers: a b\r\n"};
    for (size_t i = 0; i < 2; i++) {
        a = s_from(&srv, "OPTIONS", "/v1/models", ui, asked[i]);
        S_EXPECT(a, 204);
        S_CORS(a, ui, true, true);
        s_hdr(&a, "Access-Control-Allow-Methods", v, sizeof v);
        assert_string_equal(v, "GET, HEAD, OPTIONS");
        s_hdr(&a, "Access-Control-Allow-Headers", v, sizeof v);
        static const char *const need[] = {"Authorization",
                                           "Content-Type",
                                           "OpenAI-Beta",
                                           "OpenAI-Organization",
                                           "OpenAI-Project",
                                           "X-Stainless-Retry-Count",
                                           "X-Stainless-Timeout",
                                           "X-Stainless-Package-Version",
                                           "X-Stainless-Runtime-Version"};
        for (size_t k = 0; k < sizeof need / sizeof need[0]; k++)
            if (!strstr(v, need[k]))
                fail_msg("Access-Control-Allow-Headers \"%s\" lacks %s", v, need[k]);
    }
    /* another origin: 403, no CORS header */
    a = s_from(&srv, "OPTIONS", "/v1/chat/completions", evil,
               "Access-Control-Request-Method: POST\r\n");
    S_EXPECT(a, 403);
    S_CORS(a, evil, false, true);
    assert_false(s_has(&a, "Access-Control-Allow-"));
    /* every API answer to the allowed origin, errors too */
    a = s_from(&srv, "GET", "/v1/models", ui, NULL);
    S_EXPECT(a, 200);
    S_CORS(a, ui, true, true);
    a = s_from(&srv, "GET", "/health", ui, NULL);
    S_CORS(a, ui, true, true);
    a = s_from(&srv, "GET", "/v1/nope", ui, NULL);
    S_EXPECT(a, 404);
    S_CORS(a, ui, true, true);
    a = s_from(&srv, "DELETE", "/v1/models", ui, NULL);
    S_EXPECT(a, 405);
    S_CORS(a, ui, true, true);
    a = s_from(&srv, "POST", "/v1/chat/completions", ui, "Content-Type: text/plain\r\n");
    S_EXPECT(a, 415);
    S_CORS(a, ui, true, true);
    a = s_from(&srv, "POST", "/v1/chat/completions", ui, "Content-Type: application/json\r\n");
    S_EXPECT(a, 400); /* an empty body, parsed */
    S_CORS(a, ui, true, true);
    a = s_from(&srv, "GET", "/v1/models", evil, NULL);
    S_EXPECT(a, 200); /* a GET is answered, but the page cannot read it */
    S_CORS(a, evil, false, true);
    /* the pages never: the userscript holds the link token */
    a = s_from(&srv, "GET", "/userscript.user.js", ui, NULL);
    S_EXPECT(a, 200);
    S_CORS(a, ui, false, false);
    a = s_from(&srv, "OPTIONS", "/userscript.user.js", ui,
               "Access-Control-Request-Method: GET\r\n");
    S_EXPECT(a, 405);
    S_CORS(a, ui, false, false);
    a = s_from(&srv, "GET", "/", ui, NULL);
    S_EXPECT(a, 200);
    S_CORS(a, ui, false, false);
    /* a rebinding page names itself in Host: 421, still readable by an allowed origin */
    a = s_rawf(&srv, "GET /v1/models HTTP/1.1\r\nHost: rebind.test:%d\r\nOrigin: %s\r\n\r\n",
               srv.port, ui);
    S_EXPECT(a, 421);
    S_CORS(a, ui, true, true);
    zactor_destroy(&srv.actor);

    /* with keys: any origin, the key protects; the preflight needs none */
    char *items[] = {"k1"};
    strlist_t keys = {items, 1};
    s_start(&srv, &keys);
    a = s_from(&srv, "OPTIONS", "/v1/chat/completions", evil,
               "Access-Control-Request-Method: POST\r\n"
               "Access-Control-Request-Headers: authorization, content-type\r\n");
    S_EXPECT(a, 204);
    S_CORS(a, evil, true, true);
    a = s_from(&srv, "GET", "/v1/models", evil, NULL);
    S_EXPECT(a, 401);
    S_CORS(a, evil, true, true);
    a = s_from(&srv, "GET", "/v1/models", evil, "Authorization: Bearer k1\r\n");
    S_EXPECT(a, 200);
    S_CORS(a, evil, true, true);
    a = s_from(&srv, "GET", "/v1/models/org%2Fm%3Atag", evil, "Authorization: Bearer k1\r\n");
    S_EXPECT(a, 200);
    S_CORS(a, evil, true, true);
    assert_true(s_has(&a, "\"param\":\"org/m:tag\"")); /* percent-decoded */
    a = s_from(&srv, "GET", "/v1/models/a+b%20c.d", evil, "Authorization: Bearer k1\r\n");
    S_EXPECT(a, 200);
    assert_true(s_has(&a, "\"param\":\"a+b c.d\"")); /* '+' is no space in a path */
    a = s_from(&srv, "GET", "/v1/models/org/m:tag", evil, NULL);
    S_EXPECT(a, 401); /* a key, as /v1/models */
    a = s_from(&srv, "GET", "/userscript.user.js?key=k1", evil, NULL);
    S_EXPECT(a, 200);
    S_CORS(a, evil, false, false);
    /* an origin that cannot be echoed is no origin */
    a = s_from(&srv, "GET", "/health", "http://a.test\x01", NULL);
    S_EXPECT(a, 200);
    assert_false(s_has(&a, S_ACAO));
    zactor_destroy(&srv.actor);
    (void)state;
}

/*  Every answer, every route and refusal, has its own x-request-id. */
static void test_http_request_id(void **state)
{
    char *items[] = {"k1"};
    strlist_t keys = {items, 1};
    s_srv_t srv;
    s_start(&srv, &keys);
    static const char *const reqs[] = {
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1:@\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:@\r\nAuthorization: Bearer k1\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:@\r\n\r\n",  /* 401 */
        "GET /v1/models HTTP/1.1\r\nHost: evil.test:@\r\n\r\n",  /* 421 */
        "GET /nope HTTP/1.1\r\nHost: 127.0.0.1:@\r\n\r\n",       /* 404 */
        "PUT /health HTTP/1.1\r\nHost: 127.0.0.1:@\r\n\r\n",     /* 405 */
        "OPTIONS /health HTTP/1.1\r\nHost: 127.0.0.1:@\r\n\r\n", /* 204 */
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:@\r\n\r\n",           /* the index */
        "GET /userscript.user.js?key=k1 HTTP/1.1\r\nHost: 127.0.0.1:@\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:@\r\nAuthorization: Bearer k1\r\n"
        "Content-Type: application/json\r\nx-request-id: req_mine\r\nContent-Length: 1\r\n\r\n{",
        "POST /mesh/refresh-models HTTP/1.1\r\nHost: 127.0.0.1:@\r\nContent-Length: 0\r\n\r\n",
    };
    static const int status[] = {200, 200, 401, 421, 404, 405, 204, 200, 200, 400, 401};
    char seen[sizeof reqs / sizeof reqs[0]][128];
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        char req[1024];
        s_subst(req, sizeof req, reqs[i], srv.port);
        s_raw_t a = s_raw(&srv, req, strlen(req));
        if (a.status != status[i])
            fail_msg("request %zu: HTTP %d, want %d:\n%.400s", i, a.status, status[i], a.text);
        char v[128];
        if (s_hdr(&a, "x-request-id", v, sizeof v) != 1 || strncmp(v, "req_", 4) != 0 ||
            strlen(v) != 4 + 36 || v[4 + 14] != '7')
            fail_msg("request %zu: x-request-id \"%s\", want one req_<uuid7>:\n%.400s", i, v,
                     a.text);
        snprintf(seen[i], sizeof seen[i], "%s", v);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(seen[k], v); /* fresh, the client's ignored */
    }
    zactor_destroy(&srv.actor);
    (void)state;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_resolve_refused),
        cmocka_unit_test(test_http_routes),
        cmocka_unit_test(test_http_refused),
        cmocka_unit_test(test_http_auth),
        cmocka_unit_test(test_http_admin),
        cmocka_unit_test(test_http_keys_configured),
        cmocka_unit_test(test_http_host),
        cmocka_unit_test(test_http_origin),
        cmocka_unit_test(test_http_userscript),
        cmocka_unit_test(test_http_key_where),
        cmocka_unit_test(test_http_before_body),
        cmocka_unit_test(test_http_body_budget),
        cmocka_unit_test(test_http_max_connections),
        cmocka_unit_test(test_resolve_cors),
        cmocka_unit_test(test_boundary_cors),
        cmocka_unit_test(test_http_cors),
        cmocka_unit_test(test_http_request_id),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
