/*  test_status_view — arena-mesh: parsing /mesh/status, the status table, the
    models matrix and JSON, durations, hostile documents, the command line,
    and the HTTP helper against a real libmicrohttpd server on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/status_view.h"

#define FIXTURES ARENA_SOURCE_DIR "/tests/fixtures/"

/* ==== helpers ============================================================== */

static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    abuf_t b = ABUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(abuf_append(&b, chunk, n), 0);
    fclose(f);
    abuf_append(&b, "", 0);
    return abuf_steal(&b, len);
}

static status_view_t *s_parse_fixture(const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, FIXTURES "%s", name);
    char *text = s_read_file(path, &len);
    char err[256];
    status_view_t *view = status_view_parse(text, len, err, sizeof err);
    free(text);
    if (!view)
        fail_msg("%s: %s", name, err);
    return view;
}

typedef int(render_fn)(const status_view_t *view, abuf_t *out);

static char *s_render(const status_view_t *view, render_fn *fn)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(fn(view, &out), 0);
    return abuf_steal(&out, NULL);
}

static char *s_render_text(const char *json, render_fn *fn)
{
    char err[256];
    status_view_t *view = status_view_parse(json, strlen(json), err, sizeof err);
    if (!view)
        fail_msg("parse failed: %s for %s", err, json);
    char *out = s_render(view, fn);
    status_view_destroy(&view);
    return out;
}

static void s_assert_golden(const char *got, const char *want)
{
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "--- want\n%s--- got\n%s---\n", want, got);
        fail_msg("output differs from the golden text");
    }
}

/* ==== durations and widths ================================================= */

static void test_format_duration(void **state)
{
    static const struct {
        long long ms;
        const char *want;
    } cases[] = {
        {-1, "?"},           {-123456, "?"},     {0, "0s"},
        {99, "0s"},          {100, "0.1s"},      {450, "0.4s"},
        {1000, "1s"},        {3200, "3.2s"},     {3299, "3.2s"},
        {9999, "9.9s"},      {10000, "10s"},     {12400, "12s"},
        {59999, "59s"},      {60000, "1m"},      {61000, "1m1s"},
        {300000, "5m"},      {720000, "12m"},    {1140000, "19m"},
        {1799999, "29m59s"}, {1800000, "30m"},   {3599999, "59m59s"},
        {3600000, "1h"},     {3900000, "1h5m"},  {86399999, "23h59m"},
        {86400000, "1d"},    {90000000, "1d1h"}, {9007199254740992LL, "104249991d8h"},
    };
    char buf[STATUS_VIEW_DURATION_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = status_view_format_duration(cases[i].ms, buf, sizeof buf);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%lld ms: want %s, got %s", cases[i].ms, cases[i].want, got);
    }
    char tiny[4];
    assert_string_equal(status_view_format_duration(1799999, tiny, sizeof tiny), "29m");
    (void)state;
}

static void test_display_width(void **state)
{
    static const struct {
        const char *s;
        size_t width;
    } cases[] = {
        {"", 0},
        {"desk", 4},
        {"küche-pi", 8},         /* two-byte sequence */
        {"桌面", 4},             /* CJK: wide */
        {"e\xcc\x81", 1},        /* e + combining acute */
        {"\xf0\x9f\x98\x80", 2}, /* emoji */
        {"a\xff"
         "b",
         3},                 /* invalid byte */
        {"\xe6\xa1", 2},     /* truncated sequence: each byte */
        {"\xc0\xaf", 2},     /* overlong */
        {"\xed\xa0\x80", 3}, /* surrogate */
        {"a\x1b[2J", 5},     /* ESC counts as the '?' it is shown as */
        {"…", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (status_view_display_width(cases[i].s) != cases[i].width)
            fail_msg("case %zu: want %zu, got %zu", i, cases[i].width,
                     status_view_display_width(cases[i].s));
    assert_int_equal(status_view_display_width(NULL), 0);
    (void)state;
}

/* ==== goldens on the fixtures ============================================== */

static const char s_status_1node[] =
    "NODE   ADDRESS         STATE  AGE  TABS  LOAD  MODELS  COOLED\n"
    "solo*  127.0.0.1:5104  alive  0s   1/1   0/1   2       -\n"
    "1 node: 1 alive · 1 tab · 2 models\n";

static const char s_status_3nodes[] =
    "NODE      ADDRESS         STATE    AGE   TABS  LOAD           MODELS  COOLED\n"
    "desk*     127.0.0.1:5104  alive    0s    2/2   2/2 +3 queued  4       fake-chat 29m59s\n"
    "laptop    10.0.0.7:5104   suspect  3.2s  1/2   0/2            0       ALL 19m, flux-1 12m\n"
    "küche-pi  10.0.0.9:5104   dead     12s   0/1   0/1            2       -\n"
    "3 nodes: 1 alive, 1 suspect, 1 dead · 2 tabs · 4 models (+3 unavailable)\n";

static const char s_models_1node[] = "MODEL       MODALITY  solo*\n"
                                     "fake-chat   chat      ok\n"
                                     "fake-image  image     ok\n"
                                     "2 models on 1 node · 2 available now\n";

/*  Display names: desk gives three (dall-e-3's equals its name: not shown),
    the dead küche-pi gives llama-4's. */
static const char s_models_3nodes[] =
    "MODEL                          MODALITY  desk*        laptop (suspect)  küche-pi (dead)\n"
    "claude-opus-4 (Claude Opus 4)  chat      ok           -                 -\n"
    "dall-e-3                       image     ok           -                 -\n"
    "fake-chat                      chat      cool 29m59s  cool 19m          -\n"
    "flux-1                         image     -            cool 19m          -\n"
    "gemini-2.5-pro                 chat      ok           -                 -\n"
    "gpt-5-high (GPT-5 High)        chat      ok           cool 19m          ok\n"
    "llama-4 (Llama 4 Maverick)     chat      -            -                 ok\n"
    "7 models on 3 nodes · 4 available now\n";

static void test_golden(void **state)
{
    static const struct {
        const char *fixture;
        render_fn *fn;
        const char *want;
    } cases[] = {
        {"mesh_status_1node.json", status_view_render_status, s_status_1node},
        {"mesh_status_3nodes.json", status_view_render_status, s_status_3nodes},
        {"mesh_status_1node.json", status_view_render_models, s_models_1node},
        {"mesh_status_3nodes.json", status_view_render_models, s_models_3nodes},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        status_view_t *view = s_parse_fixture(cases[i].fixture);
        char *got = s_render(view, cases[i].fn);
        s_assert_golden(got, cases[i].want);
        free(got);
        status_view_destroy(&view);
        status_view_destroy(&view); /* idempotent */
    }
    (void)state;
}

static void test_parse_fields(void **state)
{
    status_view_t *view = s_parse_fixture("mesh_status_3nodes.json");
    assert_true(view->has_nodes);
    assert_int_equal(view->node_count, 3);
    assert_int_equal(view->generated_ms, 1763800000000LL);
    const status_view_node_t *desk = &view->nodes[0], *laptop = &view->nodes[1];
    assert_true(desk->is_self);
    assert_false(laptop->is_self);
    assert_string_equal(laptop->http, "http://10.0.0.7:5102");
    assert_int_equal(laptop->node_cooled_remaining_ms, 1140000);
    assert_int_equal(desk->queued, 3);
    assert_int_equal(desk->model_count, 5);
    assert_string_equal(desk->models[4].modality, "image");

    long long rem;
    assert_int_equal(status_view_model_state(desk, &desk->models[0], &rem), MESH_CELL_OK);
    assert_int_equal(rem, 0);
    assert_int_equal(status_view_model_state(desk, &desk->models[2], &rem), MESH_CELL_COOLING);
    assert_int_equal(rem, 1799999);
    /* flux-1: its own 12m, under the node's 19m */
    assert_int_equal(status_view_model_state(laptop, &laptop->models[2], &rem), MESH_CELL_COOLING);
    assert_int_equal(rem, 1140000);
    status_view_destroy(&view);
    assert_null(view);

    /* "self" may be given only by id at the top level */
    const char *by_id = "{\"self\":\"B\",\"nodes\":[{\"id\":\"A\",\"name\":\"a\"},"
                        "{\"id\":\"B\",\"name\":\"b\"}]}";
    view = status_view_parse(by_id, strlen(by_id), NULL, 0);
    assert_non_null(view);
    assert_false(view->nodes[0].is_self);
    assert_true(view->nodes[1].is_self);
    status_view_destroy(&view);
    (void)state;
}

/*  The models JSON document: every model lists every node. */
static void test_models_json(void **state)
{
    status_view_t *view = s_parse_fixture("mesh_status_3nodes.json");
    char *text = s_render(view, status_view_render_models_json);
    status_view_destroy(&view);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        fail_msg("models JSON does not parse: %s", jerr.text);
    free(text);
    json_t *models = json_object_get(root, "models");
    assert_int_equal(json_array_size(models), 7);
    static const struct {
        size_t row;
        const char *name;
        const char *modality;
        const char *states[3];
        long long remaining[3]; /* -1: null */
        const char *display;    /* NULL: null */
    } want[] = {
        {0, "claude-opus-4", "chat", {"ok", "absent", "absent"}, {0, -1, -1}, "Claude Opus 4"},
        {1, "dall-e-3", "image", {"ok", "absent", "absent"}, {0, -1, -1}, "dall-e-3"},
        {2, "fake-chat", "chat", {"cooling", "cooling", "absent"}, {1799999, 1140000, -1}, NULL},
        {5, "gpt-5-high", "chat", {"ok", "cooling", "ok"}, {0, 1140000, 0}, "GPT-5 High"},
        {6, "llama-4", "chat", {"absent", "absent", "ok"}, {-1, -1, 0}, "Llama 4 Maverick"},
    };
    static const char *const node_names[] = {"desk", "laptop", "küche-pi"};
    static const char *const node_states[] = {"alive", "suspect", "dead"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *m = json_array_get(models, want[i].row);
        assert_string_equal(json_string_value(json_object_get(m, "name")), want[i].name);
        assert_string_equal(json_string_value(json_object_get(m, "modality")), want[i].modality);
        json_t *display = json_object_get(m, "display_name");
        if (want[i].display)
            assert_string_equal(json_string_value(display), want[i].display);
        else
            assert_true(json_is_null(display));
        json_t *nodes = json_object_get(m, "nodes");
        assert_int_equal(json_array_size(nodes), 3);
        for (size_t k = 0; k < 3; k++) {
            json_t *cell = json_array_get(nodes, k);
            json_t *rem = json_object_get(cell, "cooled_remaining_ms");
            assert_string_equal(json_string_value(json_object_get(cell, "node")), node_names[k]);
            assert_string_equal(json_string_value(json_object_get(cell, "node_state")),
                                node_states[k]);
            assert_string_equal(json_string_value(json_object_get(cell, "state")),
                                want[i].states[k]);
            if (want[i].remaining[k] < 0)
                assert_true(json_is_null(rem));
            else
                assert_int_equal(json_integer_value(rem), want[i].remaining[k]);
        }
    }
    json_decref(root);
    (void)state;
}

/* ==== pretty JSON ========================================================== */

static void test_pretty(void **state)
{
    static const char in[] = " {\"a\":[],\"b\" : { },\"c\":[1.50,{\"d\":\"x,y:\\\"z[\"}],"
                             "\"big\":1234567890123456789,\"e\":1e3,\"t\":true}\n";
    static const char want[] = "{\n"
                               "  \"a\": [],\n"
                               "  \"b\": {},\n"
                               "  \"c\": [\n"
                               "    1.5,\n"
                               "    {\n"
                               "      \"d\": \"x,y:\\\"z[\"\n"
                               "    }\n"
                               "  ],\n"
                               "  \"big\": 1234567890123456789,\n"
                               "  \"e\": 1000.0,\n"
                               "  \"t\": true\n"
                               "}\n";
    abuf_t out = ABUF_INIT;
    assert_int_equal(status_view_render_json_pretty(in, strlen(in), &out), 0);
    s_assert_golden(out.data, want);
    abuf_free(&out);

    /* every fixture survives a round trip unchanged in meaning */
    static const char *const fixtures[] = {"mesh_status_1node.json", "mesh_status_3nodes.json"};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        size_t len;
        snprintf(path, sizeof path, FIXTURES "%s", fixtures[i]);
        char *text = s_read_file(path, &len);
        assert_int_equal(status_view_render_json_pretty(text, len, &out), 0);
        json_t *a = json_loadb(text, len, 0, NULL), *b = json_loadb(out.data, out.len, 0, NULL);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        free(text);
        abuf_reset(&out);
    }

    /* not JSON, or JSON jansson cannot hold (an integer past 64 bits): refused */
    assert_int_equal(status_view_render_json_pretty("{\"a\":", 5, &out), -1);
    assert_int_equal(status_view_render_json_pretty("[12345678901234567890]", 22, &out), -1);

    /* deep nesting survives unchanged in meaning */
    abuf_t deep = ABUF_INIT;
    for (int i = 0; i < 200; i++)
        abuf_puts(&deep, "[");
    abuf_puts(&deep, "1");
    for (int i = 0; i < 200; i++)
        abuf_puts(&deep, "]");
    assert_int_equal(status_view_render_json_pretty(deep.data, deep.len, &out), 0);
    json_t *a = json_loadb(deep.data, deep.len, 0, NULL),
           *b = json_loadb(out.data, out.len, 0, NULL);
    assert_true(a && b && json_equal(a, b));
    json_decref(a);
    json_decref(b);
    abuf_free(&deep);
    abuf_free(&out);
    (void)state;
}

/* ==== malformed and hostile documents ====================================== */

static void test_malformed(void **state)
{
#define TEXT(s)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
    static const struct {
        const char *text;
        size_t len;
    } cases[] = {
        TEXT(""),
        TEXT("{"),
        TEXT("{\"nodes\":[}"),
        TEXT("nul"),
        TEXT("\"nodes\""), /* a bare string is not a status document */
        TEXT("[1,]"),
        TEXT("{} x"),
        TEXT("{\"a\":1e400}"),
        TEXT("\xff\xfe"),
        TEXT("{\"name\":\"\xc0\xaf\"}"),
        TEXT("{\"nodes\":[{\"name\":\"a\0b\"}]}"), /* a raw NUL byte */
    };
#undef TEXT
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        status_view_t *view = status_view_parse(cases[i].text, cases[i].len, err, sizeof err);
        if (view)
            fail_msg("case %zu parsed but is malformed", i);
        assert_non_null(strstr(err, "malformed JSON"));
    }
    /* nesting far beyond any real document */
    abuf_t deep = ABUF_INIT;
    for (int i = 0; i < 5000; i++)
        abuf_puts(&deep, "[");
    char err[256];
    assert_null(status_view_parse(deep.data, deep.len, err, sizeof err));
    assert_null(status_view_parse(deep.data, deep.len, NULL, 0));
    abuf_free(&deep);
    (void)state;
}

typedef struct {
    const char *json;
    const char *status; /* the exact status table, or NULL */
    const char *status_has;
    const char *models_has;
} hostile_case_t;

static const hostile_case_t s_hostile[] = {
    {"[]",
     "NODE  ADDRESS  STATE  AGE  TABS  LOAD  MODELS  COOLED\n"
     "? nodes (the answer has no \"nodes\" list)\n",
     NULL, "? models (the answer has no \"nodes\" list)"},
    {"{}", NULL, "? nodes", "? models"},
    {"{\"nodes\":{}}", NULL, "? nodes", "? models"},
    {"{\"nodes\":null}", NULL, "? nodes", "? models"},
    {"{\"nodes\":[]}", NULL, "0 nodes: 0 alive · 0 tabs · 0 models\n", "0 models on 0 nodes"},
    {"{\"nodes\":[1,\"x\",null,[]]}", NULL, "0 nodes: 0 alive · 0 tabs · 0 models · 4 more",
     "0 models on 0 nodes"},
    /* every field of the wrong type */
    {"{\"self\":7,\"nodes\":[{\"id\":1,\"name\":5,\"self\":\"yes\",\"address\":[],\"state\":{},"
     "\"age_ms\":\"3\",\"tabs\":[],\"load\":\"x\",\"models\":\"m\","
     "\"node_cooled_remaining_ms\":true}]}",
     "NODE  ADDRESS  STATE  AGE  TABS  LOAD  MODELS  COOLED\n"
     "?     ?        ?      ?    ?/?   ?/?   ?       ALL ?\n"
     "1 node: 0 alive, 1 other · 0 tabs · 0 models\n",
     NULL, "MODEL  MODALITY  ? (?)\n"},
    /* nested objects of the wrong inner types; an empty object */
    {"{\"nodes\":[{\"tabs\":{\"count\":\"2\",\"healthy\":null},\"load\":{\"inflight\":[1],"
     "\"queued\":{},\"capacity\":false}},{}]}",
     NULL,
     "?     ?        ?      ?    ?/?   ?/?   ?       ALL ?\n"
     "?     ?        ?      ?    ?/?   ?/?   ?       ALL ?\n",
     NULL},
    /* numbers: huge, negative, fractional, exactly 2^53 */
    {"{\"nodes\":[{\"name\":\"n\",\"state\":\"alive\",\"age_ms\":1e17,"
     "\"tabs\":{\"count\":9007199254740993e3,\"healthy\":-5},"
     "\"load\":{\"inflight\":1.7,\"queued\":0,\"capacity\":9007199254740992},"
     "\"node_cooled_remaining_ms\":99999999999999999999999}]}",
     "NODE  ADDRESS  STATE  AGE  TABS  LOAD                MODELS  COOLED\n"
     "n     ?        alive  ?    ?/?   1/9007199254740992  ?       ALL ?\n"
     "1 node: 1 alive · ? tabs · 0 models\n",
     NULL, NULL},
    /* hostile models: not objects, no name, bad cooldowns, terminal escapes */
    {"{\"nodes\":[{\"name\":\"n\",\"state\":\"alive\",\"node_cooled_remaining_ms\":0,"
     "\"models\":[5,{\"name\":null,\"cooled_remaining_ms\":\"soon\"},"
     "{\"name\":\"x\\u001b[2Jy\",\"modality\":\"\\u009b31m\",\"cooled_remaining_ms\":-1},"
     "{\"name\":\"ok-model\",\"cooled_remaining_ms\":0},"
     "{\"name\":\"\\u202eevil\",\"cooled_remaining_ms\":1000}]}]}",
     NULL, "1       ? ?, x?[2Jy ?, ?evil 1s\n", "x?[2Jy    ?31m      ?\n"},
    /* an embedded NUL ends the string; "self": true wins over a missing id */
    {"{\"nodes\":[{\"name\":\"a\\u0000b\",\"self\":true,\"state\":\"alive\"}]}", NULL, "a*  ",
     "MODEL  MODALITY  a*\n"},
};

static void test_hostile(void **state)
{
    for (size_t i = 0; i < sizeof s_hostile / sizeof s_hostile[0]; i++) {
        const hostile_case_t *c = &s_hostile[i];
        char *status = s_render_text(c->json, status_view_render_status);
        char *models = s_render_text(c->json, status_view_render_models);
        char *mjson = s_render_text(c->json, status_view_render_models_json);
        if (c->status)
            s_assert_golden(status, c->status);
        if (c->status_has && !strstr(status, c->status_has))
            fail_msg("case %zu: status lacks \"%s\":\n%s", i, c->status_has, status);
        if (c->models_has && !strstr(models, c->models_has))
            fail_msg("case %zu: models lacks \"%s\":\n%s", i, c->models_has, models);
        for (const char *p = status; *p; p++) /* nothing a terminal would act on */
            assert_true((unsigned char)*p >= 0x20 || *p == '\n');
        for (const char *p = models; *p; p++)
            assert_true((unsigned char)*p >= 0x20 || *p == '\n');
        json_t *root = json_loads(mjson, 0, NULL);
        if (!json_is_array(json_object_get(root, "models")))
            fail_msg("case %zu: bad models JSON:\n%s", i, mjson);
        json_decref(root);
        free(status);
        free(models);
        free(mjson);
    }
    (void)state;
}

/*  Names are clipped, wide characters keep the columns aligned. */
static void test_clip_and_align(void **state)
{
    abuf_t doc = ABUF_INIT;
    abuf_puts(&doc, "{\"nodes\":[{\"name\":\"");
    for (int i = 0; i < 300; i++)
        abuf_puts(&doc, "n");
    abuf_puts(&doc, "\",\"address\":\"a\",\"state\":\"alive\"},"
                    "{\"name\":\"桌面\",\"address\":\"b\",\"state\":\"alive\"},"
                    "{\"name\":\"e\\u0301\",\"address\":\"c\",\"state\":\"alive\"}]}");
    char *status = s_render_text(doc.data, status_view_render_status);
    abuf_free(&doc);
    /* the ADDRESS column starts at one display column on every row */
    size_t want_col = 0, lines = 0;
    for (char *line = strtok(status, "\n"); line && lines < 4; line = strtok(NULL, "\n"), lines++) {
        char *addr = lines == 0 ? strstr(line, "ADDRESS") : strstr(line, "  ") + 2;
        while (*addr == ' ')
            addr++;
        char save = *addr;
        *addr = '\0';
        size_t col = status_view_display_width(line);
        *addr = save;
        if (lines == 0)
            want_col = col;
        else if (col != want_col)
            fail_msg("row %zu: ADDRESS at column %zu, header at %zu", lines, col, want_col);
        if (lines == 1) { /* the name clipped to its column: 47 'n' and an ellipsis */
            char want[STATUS_VIEW_CELL_COLS + 8];
            memset(want, 'n', STATUS_VIEW_CELL_COLS - 1);
            strcpy(want + STATUS_VIEW_CELL_COLS - 1, "…  a");
            assert_int_equal(strncmp(line, want, strlen(want)), 0);
        }
    }
    assert_int_equal(want_col, STATUS_VIEW_CELL_COLS + 2);
    free(status);
    (void)state;
}

/*  Display names as nodes send them: the first node that gives one wins; a
    missing, null, empty or non-string one shows nothing; a hostile one is
    cleaned and clipped like a name. */
static void test_models_display_name(void **state)
{
    abuf_t doc = ABUF_INIT;
    abuf_puts(
        &doc,
        "{\"nodes\":[{\"name\":\"a\",\"state\":\"alive\",\"self\":true,\"models\":["
        "{\"name\":\"m1\",\"cooled_remaining_ms\":0},"
        "{\"name\":\"m2\",\"cooled_remaining_ms\":0,\"display_name\":null},"
        "{\"name\":\"m3\",\"cooled_remaining_ms\":0,\"display_name\":\"\"},"
        "{\"name\":\"m4\",\"cooled_remaining_ms\":0,\"display_name\":7},"
        "{\"name\":\"m5\",\"cooled_remaining_ms\":0,\"display_name\":\"Bell\\u0007\\u001b[2J\"},"
        "{\"name\":\"m6\",\"cooled_remaining_ms\":0,\"display_name\":\"");
    for (int i = 0; i < 100; i++)
        abuf_puts(&doc, "d");
    abuf_puts(&doc, "\"}]},{\"name\":\"b\",\"state\":\"alive\",\"models\":["
                    "{\"name\":\"m1\",\"cooled_remaining_ms\":0,\"display_name\":\"From B\"},"
                    "{\"name\":\"m2\",\"cooled_remaining_ms\":0,\"display_name\":\"Also B\"},"
                    "{\"name\":\"m4\",\"cooled_remaining_ms\":0}]}]}");
    char *models = s_render_text(doc.data, status_view_render_models);
    char *mjson = s_render_text(doc.data, status_view_render_models_json);
    abuf_free(&doc);
    char clipped[STATUS_VIEW_CELL_COLS + 16] = "m6 (";
    memset(clipped + 4, 'd', STATUS_VIEW_CELL_COLS - 1);
    strcpy(clipped + 4 + STATUS_VIEW_CELL_COLS - 1, "…)");
    static const char *const lines[] = {"m1 (From B) ", "m2 (Also B) ", "m3 ", "m4 ",
                                        "m5 (Bell??[2J) "};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(models, lines[i]))
            fail_msg("models lacks \"%s\":\n%s", lines[i], models);
    if (!strstr(models, clipped))
        fail_msg("models lacks the clipped m6:\n%s", models);
    assert_null(strstr(models, "m3 ("));
    assert_null(strstr(models, "m4 ("));

    json_t *root = json_loads(mjson, 0, NULL);
    json_t *rows = json_object_get(root, "models");
    assert_int_equal(json_array_size(rows), 6);
    static const char *const want[] = {"From B", "Also B", NULL, NULL, "Bell\a\x1b[2J", NULL};
    for (size_t i = 0; i < 6; i++) {
        json_t *d = json_object_get(json_array_get(rows, i), "display_name");
        if (i == 5)
            assert_int_equal(strlen(json_string_value(d)), 100);
        else if (want[i])
            assert_string_equal(json_string_value(d), want[i]);
        else
            assert_true(json_is_null(d));
    }
    json_decref(root);
    free(models);
    free(mjson);
    (void)state;
}

/*  Node, model and row caps bound the work a hostile document can cause. */
static void test_caps(void **state)
{
    abuf_t doc = ABUF_INIT;
    abuf_puts(&doc, "{\"nodes\":[");
    for (int i = 0; i < STATUS_VIEW_MAX_NODES + 44; i++)
        abuf_printf(&doc, "%s{\"name\":\"n%d\",\"state\":\"alive\"}", i ? "," : "", i);
    abuf_puts(&doc, "]}");
    status_view_t *view = status_view_parse(doc.data, doc.len, NULL, 0);
    assert_non_null(view);
    assert_int_equal(view->node_count, STATUS_VIEW_MAX_NODES);
    assert_int_equal(view->nodes_dropped, 44);
    char *status = s_render(view, status_view_render_status);
    assert_non_null(strstr(status, "256 nodes: 256 alive · ? tabs · 0 models · 44 more"));
    free(status);
    status_view_destroy(&view);

    abuf_reset(&doc);
    abuf_puts(&doc, "{\"nodes\":[{\"name\":\"a\",\"state\":\"alive\",\"tabs\":{\"healthy\":1},"
                    "\"node_cooled_remaining_ms\":0,\"models\":[");
    for (int i = 0; i < STATUS_VIEW_MAX_MODELS + 10; i++)
        abuf_printf(&doc, "%s{\"name\":\"m%05d\",\"cooled_remaining_ms\":%d}", i ? "," : "", i,
                    i < 20 ? 60000 : 0);
    abuf_puts(&doc, "]}]}");
    view = status_view_parse(doc.data, doc.len, NULL, 0);
    assert_non_null(view);
    assert_int_equal(view->nodes[0].model_count, STATUS_VIEW_MAX_MODELS);
    assert_int_equal(view->nodes[0].models_dropped, 10);
    status = s_render(view, status_view_render_status);
    /* eight cooled models listed, the other twelve counted */
    assert_non_null(strstr(status, "m00006 1m, m00007 1m, +12 more\n"));
    assert_non_null(strstr(status, "1 node: 1 alive · 1 tab · 1004 models (+20 unavailable)"));
    free(status);
    status_view_destroy(&view);
    abuf_free(&doc);
    (void)state;
}

/* ==== unreachable nodes ==================================================== */

/*  desk sees laptop alive, nas unreachable (only laptop reports it: never
    heard, "age_ms": null) and pi unreachable (it reaches desk, not the other
    way). */
static const char s_unreachable_doc[] =
    "{\"self\":\"D\",\"generated_ms\":1,\"nodes\":["
    "{\"id\":\"D\",\"name\":\"desk\",\"self\":true,\"address\":\"10.0.0.2:5104\","
    "\"state\":\"alive\",\"age_ms\":0,\"tabs\":{\"count\":1,\"healthy\":1},"
    "\"load\":{\"inflight\":0,\"queued\":0,\"capacity\":1},\"node_cooled_remaining_ms\":0,"
    "\"models\":[{\"name\":\"m1\",\"modality\":\"chat\",\"cooled_remaining_ms\":0}],"
    "\"reported_by\":null},"
    "{\"id\":\"L\",\"name\":\"laptop\",\"self\":false,\"address\":\"10.0.0.7:5104\","
    "\"state\":\"alive\",\"age_ms\":300,\"tabs\":{\"count\":1,\"healthy\":1},"
    "\"load\":{\"inflight\":0,\"queued\":0,\"capacity\":1},\"node_cooled_remaining_ms\":0,"
    "\"models\":[],\"reported_by\":null},"
    "{\"id\":\"N\",\"name\":\"nas\",\"self\":false,\"address\":\"10.0.0.9:5104\","
    "\"state\":\"unreachable\",\"age_ms\":null,\"tabs\":{\"count\":2,\"healthy\":2},"
    "\"load\":{\"inflight\":0,\"queued\":0,\"capacity\":2},\"node_cooled_remaining_ms\":0,"
    "\"models\":[{\"name\":\"m2\",\"modality\":\"chat\",\"cooled_remaining_ms\":0}],"
    "\"reported_by\":\"L\"},"
    "{\"id\":\"P\",\"name\":\"pi\\u001b[2J\",\"self\":false,\"address\":\"10.0.0.5:5104\","
    "\"state\":\"unreachable\",\"age_ms\":800,\"tabs\":{\"count\":0,\"healthy\":0},"
    "\"load\":{\"inflight\":0,\"queued\":0,\"capacity\":0},\"node_cooled_remaining_ms\":0,"
    "\"models\":[],\"reported_by\":null}]}";

static const char s_status_unreachable[] =
    "NODE    ADDRESS        STATE        AGE   TABS  LOAD  MODELS  COOLED\n"
    "desk*   10.0.0.2:5104  alive        0s    1/1   0/1   1       -\n"
    "laptop  10.0.0.7:5104  alive        0.3s  1/1   0/1   0       -\n"
    "nas     10.0.0.9:5104  unreachable  -     2/2   0/2   1       -\n"
    "pi?[2J  10.0.0.5:5104  unreachable  0.8s  0/0   0/0   0       -\n"
    "4 nodes: 2 alive, 2 unreachable · 2 tabs · 1 model (+1 unavailable)\n"
    "! nas at 10.0.0.9:5104 is unreachable from desk (reported by laptop): check that desk can "
    "reach 10.0.0.9:5104 (firewall, VPN, nas's --advertise)\n"
    "! pi?[2J at 10.0.0.5:5104 is unreachable from desk: check that desk can reach "
    "10.0.0.5:5104 (firewall, VPN, pi?[2J's --advertise)\n";

static void test_unreachable(void **state)
{
    status_view_t *view = status_view_parse(s_unreachable_doc, strlen(s_unreachable_doc), NULL, 0);
    assert_non_null(view);
    assert_int_equal(view->node_count, 4);
    const status_view_node_t *nas = &view->nodes[2], *pi = &view->nodes[3];
    assert_string_equal(nas->state, "unreachable");
    assert_true(nas->never_heard);
    assert_int_equal(nas->age_ms, STATUS_VIEW_UNKNOWN);
    assert_string_equal(nas->reported_by, "L");
    assert_false(pi->never_heard);
    assert_int_equal(pi->age_ms, 800);
    assert_null(pi->reported_by);
    assert_false(view->nodes[0].never_heard);

    char *status = s_render(view, status_view_render_status);
    s_assert_golden(status, s_status_unreachable);
    free(status);
    /* an unreachable node's models are listed, never counted as available */
    char *models = s_render(view, status_view_render_models);
    assert_non_null(strstr(models, "desk*  laptop  nas (unreachable)  pi?[2J (unreachable)\n"));
    assert_non_null(strstr(models, "2 models on 4 nodes · 1 available now\n"));
    free(models);
    status_view_destroy(&view);

    /* a reporter not in the list is named by its id; no "self" entry */
    static const char lone[] = "{\"nodes\":[{\"id\":\"N\",\"name\":\"nas\",\"address\":\"h:1\","
                               "\"state\":\"unreachable\",\"reported_by\":\"X\\u0007\"}]}";
    status = s_render_text(lone, status_view_render_status);
    assert_non_null(strstr(status, "1 node: 0 alive, 1 unreachable"));
    assert_non_null(strstr(status, "! nas at h:1 is unreachable from this node (reported by X?): "
                                   "check that this node can reach h:1"));
    free(status);
    (void)state;
}

/*  Accounts: each with its next pace slot and its flag, after the summary;
    no table when no node reports any. */
static void test_accounts(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"self\":\"A\",\"nodes\":["
        "{\"id\":\"A\",\"name\":\"desk\",\"self\":true,\"state\":\"alive\",\"accounts\":["
        "{\"id\":\"3e1f0a2b9c8d7e6f3e1f0a2b9c8d7e6f\",\"next_slot_ms\":41000,"
        "\"flag_remaining_ms\":0},"
        "{\"id\":\"tab:9f1c2d3e-0000-4000-8000-000000000001\",\"next_slot_ms\":0,"
        "\"flag_remaining_ms\":1740000}]},"
        "{\"id\":\"B\",\"name\":\"pi\",\"state\":\"alive\",\"accounts\":["
        "{\"id\":\"7a2b\\u001b[2J\",\"next_slot_ms\":null,\"flag_remaining_ms\":0}]}]}";
    status_view_t *view = status_view_parse(doc, strlen(doc), NULL, 0);
    assert_non_null(view);
    assert_int_equal(view->nodes[0].account_count, 2);
    assert_int_equal(view->nodes[0].accounts[0].next_slot_ms, 41000);
    assert_int_equal(view->nodes[0].accounts[1].flag_ms, 1740000);
    char *status = s_render(view, status_view_render_status);
    assert_non_null(strstr(status, "ACCOUNT"));
    assert_non_null(strstr(status, "NEXT SLOT"));
    assert_non_null(strstr(status, "3e1f0a2b…"));
    assert_null(strstr(status, "3e1f0a2b9")); /* the hash is shortened */
    assert_non_null(strstr(status, "41s"));
    assert_non_null(strstr(status, "tab 9f1c2d3e…"));
    assert_non_null(strstr(status, "29m"));
    assert_null(strstr(status, "\x1b")); /* a peer's control bytes are not echoed */
    free(status);
    status_view_destroy(&view);

    static const char none[] =
        "{\"nodes\":[{\"id\":\"A\",\"name\":\"desk\",\"state\":\"alive\",\"accounts\":[]}]}";
    status = s_render_text(none, status_view_render_status);
    assert_null(strstr(status, "ACCOUNT"));
    free(status);
}

/*  A peer alive only through other members' probes gets a note; the same
    flag on a suspect peer or on the node itself does not. */
static void test_indirect(void **state)
{
    static const char doc[] =
        "{\"self\":\"D\",\"nodes\":["
        "{\"id\":\"D\",\"name\":\"desk\",\"self\":true,\"address\":\"h:0\","
        "\"state\":\"alive\",\"indirect\":true},"
        "{\"id\":\"P\",\"name\":\"pi\",\"address\":\"10.0.0.8:5104\",\"state\":\"alive\","
        "\"indirect\":true},"
        "{\"id\":\"Q\",\"name\":\"nas\",\"address\":\"h:2\",\"state\":\"suspect\","
        "\"indirect\":true},"
        "{\"id\":\"L\",\"name\":\"laptop\",\"address\":\"h:3\",\"state\":\"alive\","
        "\"indirect\":false}]}";
    status_view_t *view = status_view_parse(doc, strlen(doc), NULL, 0);
    assert_non_null(view);
    assert_true(view->nodes[1].indirect);
    assert_false(view->nodes[3].indirect);
    char *status = s_render(view, status_view_render_status);
    assert_non_null(strstr(status, "! pi at 10.0.0.8:5104 is reached from desk only through other "
                                   "members: check desk's route to 10.0.0.8:5104\n"));
    assert_null(strstr(status, "! desk"));
    assert_null(strstr(status, "! nas"));
    assert_null(strstr(status, "! laptop"));
    free(status);
    status_view_destroy(&view);
    (void)state;
}

static void test_http_error_text(void **state)
{
    static const struct {
        long status;
        const char *body;
        const char *want;
    } cases[] = {
        {500,
         "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,"
         "\"code\":\"internal_error\"}}",
         "U answered HTTP 500: boom (internal_error)"},
        {401, "{\"error\":{\"message\":\"bad key\",\"code\":\"invalid_api_key\"}}",
         "U answered HTTP 401: bad key (invalid_api_key) — pass the key with --api-key or "
         "ARENA_API_KEY"},
        {404, "", "U answered HTTP 404 — is this an arena-node?"},
        {502, "Bad Gateway", "U answered HTTP 502"},
        {503, "{\"error\":\"busy\"}", "U answered HTTP 503"},
        {500, "{\"error\":{\"message\":\"a\\u001b[2Jb\",\"code\":7}}",
         "U answered HTTP 500: a?[2Jb"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        abuf_t out = ABUF_INIT;
        assert_int_equal(status_view_describe_http_error("U", cases[i].status, cases[i].body,
                                                         strlen(cases[i].body), &out),
                         0);
        s_assert_golden(out.data, cases[i].want);
        abuf_free(&out);
    }
    (void)state;
}

/* ==== command line ========================================================= */

static void test_args(void **state)
{
    static const struct {
        const char *argv[8];
        const char *env_node;
        const char *env_key;
        mesh_args_rc_t rc;
        mesh_cmd_t cmd;
        const char *url;
        bool json;
        bool watch;
        double seconds;
        const char *key; /* NULL: none */
    } cases[] = {
        {{"status"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://127.0.0.1:5102/mesh/status",
         false,
         false,
         2,
         NULL},
        {{"models", "--json"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_MODELS,
         "http://127.0.0.1:5102/mesh/status",
         true,
         false,
         2,
         NULL},
        {{"--node", "http://h:1/", "status"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://h:1/mesh/status",
         false,
         false,
         2,
         NULL},
        {{"status", "--node=h:9"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://h:9/mesh/status",
         false,
         false,
         2,
         NULL},
        {{"status", "--node", "https://x.example/arena//"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "https://x.example/arena/mesh/status",
         false,
         false,
         2,
         NULL},
        {{"status"},
         "http://env:7",
         "k1",
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://env:7/mesh/status",
         false,
         false,
         2,
         "k1"},
        {{"status", "--node", "http://flag:8", "--api-key", "k2"},
         "http://env:7",
         "k1",
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://flag:8/mesh/status",
         false,
         false,
         2,
         "k2"},
        {{"status", "--api-key=k3"},
         "",
         "",
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://127.0.0.1:5102/mesh/status",
         false,
         false,
         2,
         "k3"},
        {{"status", "--watch"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://127.0.0.1:5102/mesh/status",
         false,
         true,
         2,
         NULL},
        {{"status", "--watch", "5"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_STATUS,
         "http://127.0.0.1:5102/mesh/status",
         false,
         true,
         5,
         NULL},
        {{"--watch", "0.5", "models", "--json"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_MODELS,
         "http://127.0.0.1:5102/mesh/status",
         true,
         true,
         0.5,
         NULL},
        {{"--watch", "models"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_MODELS,
         "http://127.0.0.1:5102/mesh/status",
         false,
         true,
         2,
         NULL},
        {{"models", "--watch=3"},
         NULL,
         NULL,
         MESH_ARGS_RUN,
         MESH_CMD_MODELS,
         "http://127.0.0.1:5102/mesh/status",
         false,
         true,
         3,
         NULL},
        {.argv = {"status", "--help"}, .rc = MESH_ARGS_HELP},
        {.argv = {"-h"}, .rc = MESH_ARGS_HELP},
        {.argv = {"--version"}, .rc = MESH_ARGS_VERSION},
        {.argv = {"frob", "--version"}, .rc = MESH_ARGS_VERSION},
        /* bad usage */
        {.argv = {NULL}, .rc = MESH_ARGS_USAGE},
        {.argv = {"frob"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "models"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--bogus"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--node"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--node", "--json"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--node", "ftp://h"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--node", "http://"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--node", "http://a b"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--api-key", "a\r\nX-Evil: 1"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--api-key"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--watch", "abc"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--watch=0"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--watch=-1"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--watch=99999999"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status", "--json=1"}, .rc = MESH_ARGS_USAGE},
        {.argv = {"status"}, .env_node = "gopher://x", .rc = MESH_ARGS_USAGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[10] = {"arena-mesh"};
        int argc = 1;
        while (argc < 9 && cases[i].argv[argc - 1])
            argv[argc] = (char *)cases[i].argv[argc - 1], argc++;
        mesh_args_t a;
        char err[256];
        mesh_args_rc_t rc =
            mesh_args_parse(argc, argv, cases[i].env_node, cases[i].env_key, &a, err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: want rc %d, got %d (%s)", i, cases[i].rc, rc, err);
        if (rc == MESH_ARGS_USAGE)
            assert_true(err[0] != '\0');
        if (rc != MESH_ARGS_RUN)
            continue;
        assert_int_equal(a.cmd, cases[i].cmd);
        assert_string_equal(a.url, cases[i].url);
        assert_int_equal(a.json, cases[i].json);
        assert_int_equal(a.watch, cases[i].watch);
        assert_true(a.watch_seconds == cases[i].seconds);
        assert_int_equal(a.has_api_key, cases[i].key != NULL);
        if (cases[i].key)
            assert_string_equal(a.api_key, cases[i].key);
    }
    (void)state;
}

/* ==== a real HTTP server =================================================== */

#define BIG_BODY ((size_t)9 * 1024 * 1024)

typedef struct {
    struct MHD_Daemon *daemon;
    unsigned port;
    char *fixture;
    size_t fixture_len;
    char *big;
} server_t;

static server_t s_server;

static enum MHD_Result s_reply(struct MHD_Connection *c, unsigned status, const char *body,
                               size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/*  Streams BIG_BODY bytes of 'x' without a Content-Length. */
static ssize_t s_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos >= BIG_BODY)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = BIG_BODY - pos < max ? BIG_BODY - pos : max;
    memset(buf, 'x', n);
    return (ssize_t)n;
}

static const char s_err_body[] = "{\"error\":{\"message\":\"mesh is on fire\",\"type\":"
                                 "\"server_error\",\"param\":null,\"code\":\"internal_error\"}}";
static const char s_auth_body[] = "{\"error\":{\"message\":\"missing or wrong API key\","
                                  "\"type\":\"invalid_request_error\",\"param\":null,"
                                  "\"code\":\"invalid_api_key\"}}";

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    if (strcmp(url, "/ok/mesh/status") == 0)
        return s_reply(c, 200, s_server.fixture, s_server.fixture_len);
    if (strcmp(url, "/err/mesh/status") == 0)
        return s_reply(c, 500, s_err_body, strlen(s_err_body));
    if (strcmp(url, "/bad/mesh/status") == 0)
        return s_reply(c, 200, "{\"nodes\":[", 10);
    if (strcmp(url, "/big/mesh/status") == 0)
        return s_reply(c, 200, s_server.big, BIG_BODY);
    if (strcmp(url, "/redirect/mesh/status") == 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Location", "/ok/mesh/status");
        enum MHD_Result ret = MHD_queue_response(c, 302, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/stream/mesh/status") == 0) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, s_stream, NULL, NULL);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/auth/mesh/status") == 0) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        if (auth && strcmp(auth, "Bearer k-123") == 0)
            return s_reply(c, 200, s_server.fixture, s_server.fixture_len);
        return s_reply(c, 401, s_auth_body, strlen(s_auth_body));
    }
    return s_reply(c, 404, "", 0);
}

static int s_server_up(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, FIXTURES "mesh_status_3nodes.json");
    s_server.fixture = s_read_file(path, &s_server.fixture_len);
    s_server.big = malloc(BIG_BODY);
    assert_non_null(s_server.big);
    memset(s_server.big, ' ', BIG_BODY);
    s_server.daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, s_handler, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET,
                                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
        MHD_OPTION_END);
    if (!s_server.daemon)
        return -1;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s_server.daemon, MHD_DAEMON_INFO_BIND_PORT);
    s_server.port = info ? info->port : 0;
    return s_server.port ? 0 : -1;
}

static int s_server_down(void **state)
{
    (void)state;
    if (s_server.daemon)
        MHD_stop_daemon(s_server.daemon);
    free(s_server.fixture);
    free(s_server.big);
    memset(&s_server, 0, sizeof s_server);
    return 0;
}

static void s_url(char *buf, size_t len, const char *route)
{
    snprintf(buf, len, "http://127.0.0.1:%u/%s/mesh/status", s_server.port, route);
}

/*  A loopback port nothing listens on: bound, then closed. */
static unsigned s_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/*  A port that accepts connections into its backlog but never answers. */
static int s_silent_listener(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static long long s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void test_http_get(void **state)
{
    static const struct {
        const char *route;
        const char *api_key;
        size_t max_body;
        mesh_http_rc_t rc;
        long status;
        const char *body_or_err; /* body prefix on OK, error substring otherwise */
    } cases[] = {
        {"ok", NULL, 0, MESH_HTTP_OK, 200, "{\n  \"self\""},
        {"err", NULL, 0, MESH_HTTP_OK, 500, s_err_body},
        {"nowhere", NULL, 0, MESH_HTTP_OK, 404, ""},
        {"redirect", NULL, 0, MESH_HTTP_OK, 302, ""},
        {"auth", NULL, 0, MESH_HTTP_OK, 401, s_auth_body},
        {"auth", "wrong", 0, MESH_HTTP_OK, 401, s_auth_body},
        {"auth", "k-123", 0, MESH_HTTP_OK, 200, "{\n  \"self\""},
        {"big", NULL, 0, MESH_HTTP_TOOBIG, 0, "/big/mesh/status answered with more than 8 MiB"},
        {"stream", NULL, 0, MESH_HTTP_TOOBIG, 0,
         "/stream/mesh/status answered with more than 8 MiB"},
        {"ok", NULL, 1000, MESH_HTTP_TOOBIG, 0, "answered with more than 1000 bytes"},
        {"stream", NULL, BIG_BODY, MESH_HTTP_OK, 200, "xxxxxxxx"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[256], err[512] = "";
        s_url(url, sizeof url, cases[i].route);
        mesh_http_opts_t opts = {.api_key = cases[i].api_key, .max_body = cases[i].max_body};
        mesh_http_response_t resp;
        mesh_http_rc_t rc = mesh_http_get(url, &opts, &resp, err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): want rc %d, got %d: %s", i, url, cases[i].rc, rc, err);
        if (rc == MESH_HTTP_OK) {
            assert_int_equal(resp.status, cases[i].status);
            assert_non_null(resp.body);
            assert_int_equal(strlen(resp.body), resp.len);
            assert_memory_equal(resp.body, cases[i].body_or_err, strlen(cases[i].body_or_err));
        } else if (!strstr(err, cases[i].body_or_err)) {
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, cases[i].body_or_err);
        }
        mesh_http_response_free(&resp);
        assert_null(resp.body);
    }
    (void)state;
}

static void test_http_unreachable(void **state)
{
    char url[256], want[320], err[512];
    mesh_http_response_t resp;

    /* connection refused, named by the display URL */
    unsigned port = s_closed_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%u/mesh/status", port);
    mesh_http_opts_t opts = {.display = "http://node.example:1"};
    assert_int_equal(mesh_http_get(url, &opts, &resp, err, sizeof err), MESH_HTTP_UNREACHABLE);
    assert_string_equal(err, "cannot reach http://node.example:1: Connection refused — is "
                             "arena-node running?");
    assert_int_equal(mesh_http_get(url, NULL, &resp, err, sizeof err), MESH_HTTP_UNREACHABLE);
    snprintf(want, sizeof want, "cannot reach %s: Connection refused", url);
    assert_non_null(strstr(err, want));

    /* a silent peer: the timeout fires */
    int fd = s_silent_listener(&port);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/mesh/status", port);
    opts = (mesh_http_opts_t){.timeout_ms = 300};
    long long t0 = s_now_ms();
    assert_int_equal(mesh_http_get(url, &opts, &resp, err, sizeof err), MESH_HTTP_UNREACHABLE);
    assert_true(s_now_ms() - t0 < 3000);
    assert_non_null(strstr(err, "no answer within 300 ms — is arena-node running?"));

    /* cancel: a set flag stops the transfer at once */
    volatile sig_atomic_t cancel = 1;
    opts = (mesh_http_opts_t){.timeout_ms = 4000, .cancel = &cancel};
    t0 = s_now_ms();
    assert_int_equal(mesh_http_get(url, &opts, &resp, err, sizeof err), MESH_HTTP_CANCELLED);
    assert_true(s_now_ms() - t0 < 2000);
    close(fd);

    /* a URL curl refuses, and a scheme we refuse */
    assert_int_equal(mesh_http_get("http://[::1", NULL, &resp, err, sizeof err), MESH_HTTP_ERROR);
    assert_int_equal(mesh_http_get("file:///etc/passwd", NULL, &resp, err, sizeof err),
                     MESH_HTTP_ERROR);
    opts = (mesh_http_opts_t){.api_key = "a\nb"};
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ok/mesh/status", s_server.port);
    assert_int_equal(mesh_http_get(url, &opts, &resp, err, sizeof err), MESH_HTTP_ERROR);
    (void)state;
}

/* ==== the whole tool ======================================================= */

typedef struct {
    int rc;
    char *out;
    char *err;
} run_t;

static char *s_slurp(FILE *f)
{
    abuf_t b = ABUF_INIT;
    char chunk[4096];
    size_t n;
    rewind(f);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        abuf_append(&b, chunk, n);
    fclose(f);
    abuf_append(&b, "", 0); /* NUL-terminates an empty buffer too */
    return abuf_steal(&b, NULL);
}

static run_t s_run(const char *const *args, const char *env_node, const char *env_key,
                   const volatile sig_atomic_t *stop, bool tty)
{
    char *argv[16] = {"arena-mesh"};
    int argc = 1;
    while (argc < 15 && args[argc - 1])
        argv[argc] = (char *)args[argc - 1], argc++;
    static volatile sig_atomic_t never;
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    run_t r;
    r.rc = status_view_main(argc, argv, env_node, env_key, stop ? stop : &never, out, err, tty);
    r.out = s_slurp(out);
    r.err = s_slurp(err);
    return r;
}

static void s_run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static void test_main(void **state)
{
    char ok[128], err500[128], bad[128], big[128], auth[128], refused[128], want_refused[256];
    snprintf(ok, sizeof ok, "http://127.0.0.1:%u/ok", s_server.port);
    snprintf(err500, sizeof err500, "http://127.0.0.1:%u/err", s_server.port);
    snprintf(bad, sizeof bad, "http://127.0.0.1:%u/bad", s_server.port);
    snprintf(big, sizeof big, "http://127.0.0.1:%u/big/", s_server.port);
    snprintf(auth, sizeof auth, "127.0.0.1:%u/auth", s_server.port);
    snprintf(refused, sizeof refused, "http://127.0.0.1:%u", s_closed_port());
    snprintf(want_refused, sizeof want_refused,
             "arena-mesh: cannot reach %s: Connection refused — is arena-node running?\n", refused);
    struct {
        const char *argv[8];
        const char *env_node;
        const char *env_key;
        int rc;
        const char *out;     /* exact stdout, or NULL */
        const char *out_has; /* substring of stdout, or NULL */
        const char *err;     /* exact stderr, or NULL */
        const char *err_has;
    } cases[] = {
        {{"status", "--node", ok}, NULL, NULL, 0, s_status_3nodes, NULL, "", NULL},
        {{"models"}, ok, NULL, 0, s_models_3nodes, NULL, "", NULL},
        {{"status", "--json", "--node", ok},
         NULL,
         NULL,
         0,
         NULL,
         "\n  \"generated_ms\": "
         "1763800000000,\n",
         "",
         NULL},
        {{"models", "--json", "--node", ok},
         NULL,
         NULL,
         0,
         NULL,
         "\"state\": \"cooling\"",
         "",
         NULL},
        {{"status", "--node", refused}, NULL, NULL, 2, "", NULL, want_refused, NULL},
        {{"status", "--node", err500},
         NULL,
         NULL,
         2,
         "",
         NULL,
         NULL,
         "/err/mesh/status answered HTTP 500: mesh is on fire (internal_error)\n"},
        {{"status", "--node", bad},
         NULL,
         NULL,
         2,
         "",
         NULL,
         NULL,
         "/bad/mesh/status answered malformed JSON: "},
        {{"models", "--node", big},
         NULL,
         NULL,
         2,
         "",
         NULL,
         NULL,
         "/big/mesh/status answered with more than 8 MiB\n"},
        {{"status", "--node", auth},
         NULL,
         NULL,
         2,
         "",
         NULL,
         NULL,
         "answered HTTP 401: missing or wrong API key (invalid_api_key) — pass the key"},
        {{"status", "--node", auth}, NULL, "k-123", 0, s_status_3nodes, NULL, "", NULL},
        {{"status", "--node", auth, "--api-key", "k-123"},
         NULL,
         "nope",
         0,
         s_status_3nodes,
         NULL,
         "",
         NULL},
        {{"--version"}, NULL, NULL, 0, "arena-mesh " ARENA_VERSION "\n", NULL, "", NULL},
        {{"--help"}, NULL, NULL, 0, NULL, "usage: arena-mesh status", "", NULL},
        /* every command is named (usage and audit were missing once) */
        {{"--help"}, NULL, NULL, 0, NULL, "\n       arena-mesh usage [", "", NULL},
        {{"--help"}, NULL, NULL, 0, NULL, "\n       arena-mesh audit [", "", NULL},
        {{"frob"}, NULL, NULL, 64, "", NULL, NULL, "arena-mesh: unknown command frob\nusage:"},
        {{NULL}, NULL, NULL, 64, "", NULL, NULL, "missing command"},
        {{"status", "--node"}, NULL, NULL, 64, "", NULL, NULL, "--node needs a URL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_t r = s_run(cases[i].argv, cases[i].env_node, cases[i].env_key, NULL, false);
        if (r.rc != cases[i].rc)
            fail_msg("case %zu: want exit %d, got %d; stderr: %s", i, cases[i].rc, r.rc, r.err);
        if (cases[i].out)
            s_assert_golden(r.out, cases[i].out);
        if (cases[i].out_has && !strstr(r.out, cases[i].out_has))
            fail_msg("case %zu: stdout lacks \"%s\":\n%s", i, cases[i].out_has, r.out);
        if (cases[i].err)
            s_assert_golden(r.err, cases[i].err);
        if (cases[i].err_has && !strstr(r.err, cases[i].err_has))
            fail_msg("case %zu: stderr lacks \"%s\":\n%s", i, cases[i].err_has, r.err);
        s_run_free(&r);
    }
    (void)state;
}

/*  A watch is stopped by a signal, as a person stops it: the stopper thread
    sends SIGUSR1 to the watching thread, whose handler sets the flag (a
    flag written from another thread would be a data race). */
static volatile sig_atomic_t s_watch_stop;

static void s_on_usr1(int sig)
{
    (void)sig;
    s_watch_stop = 1;
}

typedef struct {
    pthread_t target;
    int after_ms;
} stopper_t;

static void *s_stopper(void *arg)
{
    stopper_t *s = arg;
    struct timespec ts = {0, (long)s->after_ms * 1000000L};
    nanosleep(&ts, NULL);
    pthread_kill(s->target, SIGUSR1);
    return NULL;
}

static size_t s_count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_watch(void **state)
{
    char ok[128], refused[128];
    snprintf(ok, sizeof ok, "http://127.0.0.1:%u/ok", s_server.port);
    snprintf(refused, sizeof refused, "http://127.0.0.1:%u", s_closed_port());
    static const struct {
        bool tty;
        bool json;
        bool reachable;
    } cases[] = {
        {false, false, true}, {true, false, true}, {false, true, true}, {false, false, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sigaction sa = {.sa_handler = s_on_usr1};
        sigemptyset(&sa.sa_mask);
        assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
        s_watch_stop = 0;
        stopper_t s = {pthread_self(), 800};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, s_stopper, &s), 0);
        const char *args[] = {"status",
                              "--watch",
                              "0.1",
                              "--node",
                              cases[i].reachable ? ok : refused,
                              cases[i].json ? "--json" : NULL,
                              NULL};
        run_t r = s_run(args, NULL, NULL, &s_watch_stop, cases[i].tty);
        pthread_join(th, NULL);
        assert_int_equal(r.rc, 0); /* a stopped watch is a clean exit */
        const char *frame_mark = cases[i].json ? "\"generated_ms\"" : "3 nodes: ";
        size_t frames =
            cases[i].reachable ? s_count(r.out, frame_mark) : s_count(r.err, "cannot reach");
        if (frames < 2)
            fail_msg("case %zu: %zu frames in 800 ms at 0.1 s:\n%s%s", i, frames, r.out, r.err);
        assert_int_equal(s_count(r.out, "\033[H\033[2J") > 0, cases[i].tty);
        if (!cases[i].json)
            assert_true(s_count(r.out, "arena-mesh status · http://127.0.0.1:") >= 2);
        s_run_free(&r);
    }
    (void)state;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_display_width),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_models_json),
        cmocka_unit_test(test_pretty),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_clip_and_align),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_models_display_name),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_indirect),
        cmocka_unit_test(test_accounts),
        cmocka_unit_test(test_http_error_text),
        cmocka_unit_test(test_args),
    };
    const struct CMUnitTest http[] = {
        cmocka_unit_test(test_http_get),
        cmocka_unit_test(test_http_unreachable),
        cmocka_unit_test(test_main),
        cmocka_unit_test(test_watch),
    };
    int failed = cmocka_run_group_tests_name("status_view", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("status_view_http", http, s_server_up, s_server_down);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
