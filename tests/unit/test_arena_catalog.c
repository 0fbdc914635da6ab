/*  test_arena_catalog — the model list out of LMArena page HTML: the fixture
    page (tests/fixtures/arena_page.html), pages with no models, broken and
    truncated flight data, unescaped JSON in the HTML, validation of names and
    ids, the max_models bound and a 5 MB page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "protocol/abuf.h"
#include "protocol/arena_catalog.h"

#define FIXTURE ARENA_SOURCE_DIR "/tests/fixtures/arena_page.html"

typedef struct {
    const char *id;
    const char *name;
    const char *org;
    const char *provider;
    arena_modality_t modality;
    bool input_image;
} want_model_t;

/* What tests/fixtures/arena_page.html holds, in order. */
static const want_model_t s_fixture_models[] = {
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     true},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e02", "claude-opus-4-1-20250805-thinking-16k", "anthropic",
     "googleVertexAnthropic", ARENA_MODALITY_CHAT, true},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e03", "gemini-2.5-pro", "google", "google",
     ARENA_MODALITY_CHAT, true},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e04", "gemini-2.5-flash-image-preview", "google", "google",
     ARENA_MODALITY_IMAGE, true},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e05", "ppl-sonar-reasoning-pro-high", "perplexity",
     "perplexity", ARENA_MODALITY_SEARCH, false},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e06", "stealth-phoenix-1107", NULL, NULL,
     ARENA_MODALITY_CHAT, false},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e08", "deepseek-v3.1", "deepseek", "fireworks",
     ARENA_MODALITY_CHAT, false},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e09", "dall-e-3", "openai", "openai", ARENA_MODALITY_IMAGE,
     false},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e0a", "qwen3-max-preview", "alibaba", "alibaba",
     ARENA_MODALITY_CHAT, false},
};
#define N_FIXTURE (sizeof s_fixture_models / sizeof s_fixture_models[0])

/* ---- helpers -------------------------------------------------------------- */

static char *s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static bool s_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void s_assert_model(const arena_model_t *got, const want_model_t *want)
{
    if (!s_str_eq(got->name, want->name))
        fail_msg("name %s, want %s", got->name, want->name);
    assert_string_equal(got->id, want->id);
    if (!s_str_eq(got->organization, want->org) || !s_str_eq(got->provider, want->provider))
        fail_msg("%s: org %s provider %s", want->name, got->organization ? got->organization : "-",
                 got->provider ? got->provider : "-");
    assert_int_equal(got->modality, want->modality);
    assert_int_equal(got->input_image, want->input_image);
}

static const want_model_t *s_fixture_by_name(const char *name)
{
    for (size_t i = 0; i < N_FIXTURE; i++)
        if (strcmp(s_fixture_models[i].name, name) == 0)
            return &s_fixture_models[i];
    return NULL;
}

static int s_extract_str(const char *html, size_t max, arena_catalog_t *cat)
{
    return arena_catalog_extract(html, strlen(html), max, cat);
}

/* Wraps text the way Next.js does: a JSON string in a push script. */
static void s_push(abuf_t *page, int kind, const char *text)
{
    json_t *s = json_string(text);
    assert_non_null(s);
    char *lit = json_dumps(s, JSON_ENCODE_ANY);
    assert_non_null(lit);
    assert_int_equal(abuf_printf(page, "<script>self.__next_f.push([%d,%s])</script>", kind, lit),
                     0);
    free(lit);
    json_decref(s);
}

#define MODEL_JSON                                                                                 \
    "{\"id\":\"%s\",\"publicName\":\"%s\",\"organization\":\"org\",\"provider\":\"prov\","         \
    "\"capabilities\":{\"inputCapabilities\":{\"text\":true},"                                     \
    "\"outputCapabilities\":{\"text\":true}}}"

/* ---- the fixture ------------------------------------------------------------ */

static void test_fixture_page(void **state)
{
    (void)state;
    size_t len;
    char *html = s_read_file(FIXTURE, &len);
    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(html, len, 0, &cat), (int)N_FIXTURE);
    assert_int_equal(cat.n, N_FIXTURE);
    for (size_t i = 0; i < N_FIXTURE; i++)
        s_assert_model(&cat.models[i], &s_fixture_models[i]);
    arena_catalog_clear(&cat);
    assert_null(cat.models);
    assert_int_equal(cat.n, 0);
    arena_catalog_clear(&cat); /* idempotent */
    free(html);
}

static void test_max_models(void **state)
{
    (void)state;
    size_t len;
    char *html = s_read_file(FIXTURE, &len);
    for (size_t max = 1; max <= N_FIXTURE + 1; max++) {
        arena_catalog_t cat;
        size_t want = max < N_FIXTURE ? max : N_FIXTURE;
        assert_int_equal(arena_catalog_extract(html, len, max, &cat), (int)want);
        for (size_t i = 0; i < want; i++)
            s_assert_model(&cat.models[i], &s_fixture_models[i]);
        arena_catalog_clear(&cat);
    }
    free(html);
}

/* Every prefix of the page: no crash, only models that are whole and right,
   and never fewer as the prefix grows. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    size_t len;
    char *html = s_read_file(FIXTURE, &len);
    size_t prev = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        char *part = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
        assert_non_null(part);
        memcpy(part, html, cut);
        arena_catalog_t cat;
        int n = arena_catalog_extract(part, cut, 0, &cat);
        assert_true(n >= 0);
        assert_int_equal((size_t)n, cat.n);
        if (cat.n < prev)
            fail_msg("cut at %zu: %zu models, %zu at the shorter cut before", cut, cat.n, prev);
        prev = cat.n;
        for (size_t i = 0; i < cat.n; i++) {
            const want_model_t *w = s_fixture_by_name(cat.models[i].name);
            if (!w)
                fail_msg("cut at %zu: unexpected model %s", cut, cat.models[i].name);
            s_assert_model(&cat.models[i], w);
        }
        arena_catalog_clear(&cat);
        free(part);
    }
    assert_int_equal(prev, N_FIXTURE);

    /* Cut in the middle of the sonar model: the four before it are intact. */
    const char *at = strstr(html, "\\\"ppl-sonar-reasoning-pro-high"); /* in the flight data */
    assert_non_null(at);
    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(html, (size_t)(at - html), 0, &cat), 4);
    for (size_t i = 0; i < 4; i++)
        s_assert_model(&cat.models[i], &s_fixture_models[i]);
    arena_catalog_clear(&cat);
    free(html);
}

/* A push with a bad escape in the middle: what precedes it still counts, the
   other pushes are untouched. */
static void test_broken_flight(void **state)
{
    (void)state;
    size_t len;
    char *html = s_read_file(FIXTURE, &len);
    /* Break the escape right after claude's publicName in the initialModels push. */
    char *at = strstr(html, "claude-opus-4-1-20250805-thinking-16k\\\"");
    assert_non_null(at);
    at += strlen("claude-opus-4-1-20250805-thinking-16k");
    at[1] = 'x'; /* \" becomes \x */
    arena_catalog_t cat;
    int n = arena_catalog_extract(html, len, 0, &cat);
    assert_true(n >= 3);
    /* gpt-5-high precedes the damage; dall-e-3 and qwen live in a later push;
       claude is repeated there too. */
    const char *must[] = {"gpt-5-high", "claude-opus-4-1-20250805-thinking-16k", "dall-e-3",
                          "qwen3-max-preview"};
    for (size_t k = 0; k < sizeof must / sizeof must[0]; k++) {
        bool seen = false;
        for (size_t i = 0; i < cat.n; i++)
            seen |= strcmp(cat.models[i].name, must[k]) == 0;
        if (!seen)
            fail_msg("%s missing", must[k]);
    }
    for (size_t i = 0; i < cat.n; i++)
        s_assert_model(&cat.models[i], s_fixture_by_name(cat.models[i].name));
    assert_string_equal(cat.models[0].name, "gpt-5-high");
    arena_catalog_clear(&cat);
    free(html);
}

static void test_empty_pages(void **state)
{
    (void)state;
    static const char *pages[] = {
        "",
        "<!DOCTYPE html><html><body>Just a moment...</body></html>",
        "<script>self.__next_f.push([0])</script><script>self.__next_f.push([1,\"\"])</script>",
        "<script>self.__next_f.push([1,\"1:{\\\"id\\\":\\\"x\\\"}\"])</script>",
        "self.__next_f.push(",
        "self.__next_f.push([1,\"",
        "self.__next_f.push([1,\"\\",
        "self.__next_f.push([1,\"\\u12",
        "self.__next_f.push([99999,\"{}\"])",
        "{\"id\":",
        "{\"publicName\":\"x\"}",
        "\"publicName\"\"publicName\"{{{{",
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        arena_catalog_t cat = {(arena_model_t *)&cat, 99}; /* overwritten, not freed */
        assert_int_equal(s_extract_str(pages[i], 0, &cat), 0);
        assert_null(cat.models);
        assert_int_equal(cat.n, 0);
    }
    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(NULL, 0, 0, &cat), 0);
    assert_int_equal(cat.n, 0);
}

/* ---- other page shapes -------------------------------------------------------- */

/* A Pages-router page: the list as plain JSON in a script block. */
static void test_models_in_plain_html(void **state)
{
    (void)state;
    const char *page =
        "<html><head><script id=\"__NEXT_DATA__\" type=\"application/json\">"
        "{\"props\":{\"pageProps\":{\"models\":["
        "{\"capabilities\":{\"inputCapabilities\":{\"text\":true,\"image\":{\"maxCount\":4}},"
        "\"outputCapabilities\":{\"text\":true}},\"provider\":\"openai\","
        "\"organization\":\"openai\",\"publicName\":\"gpt-4o\","
        "\"id\":\"0198d7e3-2c41-7a6b-9f10-000000000001\"},"
        "{\"id\":\"0198d7e3-2c41-7a6b-9f10-000000000002\",\"publicName\":\"flux-1-kontext\","
        "\"organization\":\"bfl\",\"capabilities\":{\"inputCapabilities\":{\"text\":true},"
        "\"outputCapabilities\":{\"image\":true}}}]},\"page\":\"/\"}}"
        "</script></head><body></body></html>";
    arena_catalog_t cat;
    assert_int_equal(s_extract_str(page, 0, &cat), 2);
    const want_model_t want[] = {
        {"0198d7e3-2c41-7a6b-9f10-000000000001", "gpt-4o", "openai", "openai", ARENA_MODALITY_CHAT,
         true},
        {"0198d7e3-2c41-7a6b-9f10-000000000002", "flux-1-kontext", "bfl", NULL,
         ARENA_MODALITY_IMAGE, false},
    };
    s_assert_model(&cat.models[0], &want[0]);
    s_assert_model(&cat.models[1], &want[1]);
    arena_catalog_clear(&cat);
}

/* Flight data wins over plain HTML; pushes of other kinds and spacing are
   tolerated; a row split across pushes is joined. */
static void test_push_variants(void **state)
{
    (void)state;
    char a[512], b[512];
    snprintf(a, sizeof a, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-00000000000a", "alpha");
    snprintf(b, sizeof b, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-00000000000b", "beta");
    abuf_t page = ABUF_INIT;
    /* plain JSON first in the HTML, with a different id for alpha */
    char plain[512];
    snprintf(plain, sizeof plain, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-0000000000ff", "alpha");
    assert_int_equal(abuf_printf(&page, "<script type=\"application/json\">[%s]</script>", plain),
                     0);
    s_push(&page, 2, a);
    /* beta split across two pushes, the second with odd spacing */
    size_t half = strlen(b) / 2;
    char first[512];
    memcpy(first, b, half);
    first[half] = '\0';
    s_push(&page, 1, first);
    json_t *rest = json_string(b + half);
    char *lit = json_dumps(rest, JSON_ENCODE_ANY);
    assert_int_equal(abuf_printf(&page, "<script>self.__next_f.push( [ 1 ,\n %s ] )</script>", lit),
                     0);
    free(lit);
    json_decref(rest);

    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(page.data, page.len, 0, &cat), 2);
    assert_string_equal(cat.models[0].name, "alpha");
    assert_string_equal(cat.models[0].id, "0198d7e3-2c41-7a6b-9f10-00000000000a");
    assert_string_equal(cat.models[1].name, "beta");
    arena_catalog_clear(&cat);
    abuf_free(&page);
}

/* ---- validation, one object at a time ------------------------------------------ */

typedef struct {
    const char *json; /* one object, put in a push */
    int n;            /* models expected */
    arena_modality_t modality;
    bool input_image;
} object_case_t;

#define ID "\"id\":\"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01\""
#define CAPS(in, out)                                                                              \
    "\"capabilities\":{\"inputCapabilities\":" in ",\"outputCapabilities\":" out "}"

static const object_case_t s_object_cases[] = {
    {"{" ID ",\"publicName\":\"m\"," CAPS("{\"text\":true}", "{\"text\":true}") "}", 1,
     ARENA_MODALITY_CHAT, false},
    {"{" ID ",\"publicName\":\"m\"," CAPS("{\"image\":true}", "{\"image\":{\"a\":[1]}}") "}", 1,
     ARENA_MODALITY_IMAGE, true},
    {"{" ID ",\"publicName\":\"m\"," CAPS("{\"image\":false}", "{\"search\":true}") "}", 1,
     ARENA_MODALITY_SEARCH, false},
    {"{" ID ",\"publicName\":\"m\"," CAPS("{}", "{\"image\":false,\"search\":true}") "}", 1,
     ARENA_MODALITY_SEARCH, false},
    {"{" ID ",\"publicName\":\"m\"," CAPS("{}", "{\"video\":true}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"m\"," CAPS("{}", "{\"video\":{\"d\":[8]}}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"m\"," CAPS("{}", "{\"text\":true,\"video\":true}") "}", 1,
     ARENA_MODALITY_CHAT, false},
    {"{" ID ",\"publicName\":\"m\",\"capabilities\":{}}", 1, ARENA_MODALITY_CHAT, false},
    {"{" ID ",\"publicName\":\"m\",\"capabilities\":{\"outputCapabilities\":[]}}", 1,
     ARENA_MODALITY_CHAT, false},
    /* not models */
    {"{" ID ",\"publicName\":\"m\"}", 0, 0, false},
    {"{" ID ",\"publicName\":\"m\",\"capabilities\":true}", 0, 0, false},
    {"{\"publicName\":\"m\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{\"id\":7,\"publicName\":\"m\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{\"id\":\"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e0\",\"publicName\":\"m\"," CAPS("{}", "{}") "}",
     0, 0, false},
    {"{\"id\":\"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01x\",\"publicName\":\"m\"," CAPS("{}", "{}") "}",
     0, 0, false},
    {"{\"id\":\"0198d7e3x2c41-7a6b-9f10-1a2b3c4d5e01\",\"publicName\":\"m\"," CAPS("{}", "{}") "}",
     0, 0, false},
    /* names */
    {"{" ID ",\"publicName\":\"\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\" lead\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"trail \"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"a\\u0007b\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"a\\u0000b\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"a\\u007fb\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"a\\u0085b\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"a\\nb\"," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":7," CAPS("{}", "{}") "}", 0, 0, false},
    {"{" ID ",\"publicName\":\"mod\\u00e8le 4 \\ud83d\\ude80\"," CAPS("{}", "{}") "}", 1,
     ARENA_MODALITY_CHAT, false},
    /* nested in other structures, found by recursion */
    {"{\"a\":[[{\"b\":{" ID ",\"publicName\":\"m\"," CAPS("{}", "{}") "}}]]}", 1,
     ARENA_MODALITY_CHAT, false},
};

static void test_object_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_object_cases / sizeof s_object_cases[0]; i++) {
        const object_case_t *c = &s_object_cases[i];
        abuf_t page = ABUF_INIT;
        s_push(&page, 1, c->json);
        arena_catalog_t cat;
        int n = arena_catalog_extract(page.data, page.len, 0, &cat);
        if (n != c->n)
            fail_msg("case %zu: %d models, want %d: %s", i, n, c->n, c->json);
        if (n == 1) {
            assert_int_equal(cat.models[0].modality, c->modality);
            assert_int_equal(cat.models[0].input_image, c->input_image);
        }
        arena_catalog_clear(&cat);
        abuf_free(&page);
    }
}

static void test_name_length(void **state)
{
    (void)state;
    for (size_t len = 199; len <= 201; len++) {
        char name[256];
        memset(name, 'n', len);
        name[len] = '\0';
        char obj[768];
        snprintf(obj, sizeof obj, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01", name);
        abuf_t page = ABUF_INIT;
        s_push(&page, 1, obj);
        arena_catalog_t cat;
        assert_int_equal(arena_catalog_extract(page.data, page.len, 0, &cat), len <= 200 ? 1 : 0);
        arena_catalog_clear(&cat);
        abuf_free(&page);
    }
    /* organization/provider that fail the same rules are dropped, not the model. */
    const char *obj =
        "{" ID
        ",\"publicName\":\"m\",\"organization\":\"\",\"provider\":\"a\\tb\"," CAPS("{}", "{}") "}";
    abuf_t page = ABUF_INIT;
    s_push(&page, 1, obj);
    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(page.data, page.len, 0, &cat), 1);
    assert_null(cat.models[0].organization);
    assert_null(cat.models[0].provider);
    arena_catalog_clear(&cat);
    abuf_free(&page);
}

static void test_model_copy(void **state)
{
    (void)state;
    arena_model_t src = {strdup("0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01"),
                         strdup("m"),
                         NULL,
                         strdup("p"),
                         ARENA_MODALITY_SEARCH,
                         true};
    arena_model_t dst;
    assert_int_equal(arena_model_copy(&dst, &src), 0);
    assert_ptr_not_equal(dst.id, src.id);
    assert_string_equal(dst.id, src.id);
    assert_string_equal(dst.name, "m");
    assert_null(dst.organization);
    assert_string_equal(dst.provider, "p");
    assert_int_equal(dst.modality, ARENA_MODALITY_SEARCH);
    assert_true(dst.input_image);
    arena_model_clear(&src);
    assert_null(src.id);
    assert_string_equal(dst.name, "m"); /* independent of src */
    arena_model_clear(&dst);
    arena_model_clear(&dst);
    arena_model_clear(NULL);
}

/* ---- a 5 MB page ------------------------------------------------------------------ */

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Realistic bulk (markup, CSS braces, React rows full of {"id":…} objects,
   a hostile run of unclosed {"id":[ and "publicName" keys) with 300 models
   at the end. Not timed as an assertion; the time is printed. */
static void test_huge_page(void **state)
{
    (void)state;
    abuf_t page = ABUF_INIT;
    abuf_t rows = ABUF_INIT;
    assert_int_equal(abuf_puts(&page, "<!DOCTYPE html><html><head><style>"), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(abuf_printf(&page, ".c%d{margin:%dpx}", i, i % 7), 0);
    assert_int_equal(abuf_puts(&page, "</style></head><body>"), 0);
    for (int i = 0; i < 15000; i++)
        assert_int_equal(abuf_printf(&page, "<div class=\"c%d\"><span>item %d</span></div>", i, i),
                         0);
    for (int chunk = 0; chunk < 40; chunk++) {
        abuf_reset(&rows);
        for (int i = 0; i < 400; i++)
            assert_int_equal(abuf_printf(&rows,
                                         "%x:[\"$\",\"div\",null,{\"id\":\"row-%d\",\"children\":"
                                         "[{\"id\":%d,\"label\":\"x\"}]}]\n",
                                         i, i, i),
                             0);
        s_push(&page, 1, rows.data);
    }
    abuf_reset(&rows);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(abuf_puts(&rows, "{\"id\":[\"publicName\",{\"id\":["), 0);
    s_push(&page, 1, rows.data);
    while (page.len < 5 * 1024 * 1024 - 200000)
        assert_int_equal(abuf_puts(&page, "<p>lorem ipsum {dolor} sit amet</p>"), 0);
    abuf_reset(&rows);
    assert_int_equal(abuf_puts(&rows, "\n9:{\"initialModels\":["), 0);
    for (int i = 0; i < 300; i++) {
        char id[40], name[32];
        snprintf(id, sizeof id, "0198d7e3-2c41-7a6b-9f10-%012d", i);
        snprintf(name, sizeof name, "model-%03d", i);
        assert_int_equal(abuf_printf(&rows, i ? "," : ""), 0);
        assert_int_equal(abuf_printf(&rows, MODEL_JSON, id, name), 0);
    }
    assert_int_equal(abuf_puts(&rows, "]}\n"), 0);
    s_push(&page, 1, rows.data);
    assert_int_equal(abuf_puts(&page, "</body></html>"), 0);

    double t0 = s_now();
    arena_catalog_t cat;
    int n = arena_catalog_extract(page.data, page.len, 0, &cat);
    double dt = s_now() - t0;
    print_message("huge page: %zu bytes, %d models in %.3f s\n", page.len, n, dt);
    assert_int_equal(n, 300);
    assert_string_equal(cat.models[0].name, "model-000");
    assert_string_equal(cat.models[299].name, "model-299");
    arena_catalog_clear(&cat);
    abuf_free(&rows);
    abuf_free(&page);
}

/* Thousands of copies of one model: de-duplication stays cheap. */
static void test_many_duplicates(void **state)
{
    (void)state;
    abuf_t rows = ABUF_INIT, page = ABUF_INIT;
    char one[512];
    for (int i = 0; i < 20000; i++) {
        snprintf(one, sizeof one, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01",
                 i % 2 ? "odd" : "even");
        assert_int_equal(abuf_printf(&rows, "%s%s", i ? "," : "[", one), 0);
    }
    assert_int_equal(abuf_puts(&rows, "]"), 0);
    s_push(&page, 1, rows.data);
    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(page.data, page.len, 0, &cat), 2);
    assert_string_equal(cat.models[0].name, "even");
    assert_string_equal(cat.models[1].name, "odd");
    arena_catalog_clear(&cat);
    abuf_free(&rows);
    abuf_free(&page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_page),
        cmocka_unit_test(test_max_models),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_broken_flight),
        cmocka_unit_test(test_empty_pages),
        cmocka_unit_test(test_models_in_plain_html),
        cmocka_unit_test(test_push_variants),
        cmocka_unit_test(test_object_cases),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_model_copy),
        cmocka_unit_test(test_huge_page),
        cmocka_unit_test(test_many_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
