/*  test_arena_catalog — the model list out of LMArena page HTML: the fixture
    pages (tests/fixtures/arena_page.html, and arena_page_2026.html with
    displayName, userSelectable and twin rows), pages with no models, broken
    and truncated flight data, unescaped JSON in the HTML, validation of names
    and ids, de-duplication by id only, UUIDv7 times, the max_models bound and
    a 5 MB page. */
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
#define FIXTURE_2026 ARENA_SOURCE_DIR "/tests/fixtures/arena_page_2026.html"

typedef struct {
    const char *id;
    const char *name;
    const char *org;
    const char *provider;
    arena_modality_t modality;
    bool input_image;
    const char *display; /* displayName, NULL when absent */
    bool hidden;         /* userSelectable:false */
    long long created_ms;
} want_model_t;

/* What tests/fixtures/arena_page.html holds, in order. */
static const want_model_t s_fixture_models[] = {
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     true, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e02", "claude-opus-4-1-20250805-thinking-16k", "anthropic",
     "googleVertexAnthropic", ARENA_MODALITY_CHAT, true, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e03", "gemini-2.5-pro", "google", "google",
     ARENA_MODALITY_CHAT, true, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e04", "gemini-2.5-flash-image-preview", "google", "google",
     ARENA_MODALITY_IMAGE, true, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e05", "ppl-sonar-reasoning-pro-high", "perplexity",
     "perplexity", ARENA_MODALITY_SEARCH, false, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e06", "stealth-phoenix-1107", NULL, NULL,
     ARENA_MODALITY_CHAT, false, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e08", "deepseek-v3.1", "deepseek", "fireworks",
     ARENA_MODALITY_CHAT, false, NULL, false, 0},
    /* the second list's gpt-5-high: another id, so a twin row */
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5eff", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     false, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e09", "dall-e-3", "openai", "openai", ARENA_MODALITY_IMAGE,
     false, NULL, false, 0},
    {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e0a", "qwen3-max-preview", "alibaba", "alibaba",
     ARENA_MODALITY_CHAT, false, NULL, false, 0},
};
#define N_FIXTURE (sizeof s_fixture_models / sizeof s_fixture_models[0])

/* What tests/fixtures/arena_page_2026.html holds, in order. */
static const want_model_t s_fixture_2026[] = {
    {"019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     true, "GPT-5 (high)", false, 1779268443117LL},
    {"019e8423-4a8c-7b2d-8a3b-4c5d6e7f8091", "claude-opus-4-5", "anthropic", "anthropic",
     ARENA_MODALITY_CHAT, true, "Claude Opus 4.5", true, 1780333365900LL},
    {"019d7c69-c600-7c3e-9b4c-5d6e7f8091a2", "nightwhisper", "google", "google",
     ARENA_MODALITY_CHAT, true, "Gemini 3 Pro", false, 1775908800000LL},
    {"01988579-aa80-7d4f-a85d-6e7f8091a2b3", "gpt-5-high", "openai", "openai", ARENA_MODALITY_CHAT,
     true, "GPT-5 (high)", false, 1754586000000LL},
    {"019ab721-6c79-7e50-b96e-7f8091a2b3c4", "claude-opus-4-5", "anthropic", "anthropic",
     ARENA_MODALITY_CHAT, true, "Claude Opus 4.5", false, 1764009012345LL},
    {"019c1c15-e1a4-7f61-8a7f-8091a2b3c4d5", "arena-router-internal", "lmarena", "lmarena",
     ARENA_MODALITY_CHAT, false, "Arena Router", true, 1769997722020LL},
    {"01a0551d-9fff-7072-9b80-91a2b3c4d5e6", "stealth-lynx-0901", NULL, NULL, ARENA_MODALITY_CHAT,
     false, NULL, false, 1788134399999LL},
    {"019cf082-5800-7183-ac91-a2b3c4d5e6f7", "gemini-3-pro-image-preview", "google", "google",
     ARENA_MODALITY_IMAGE, true, "Nano Banana Pro", false, 1773561600000LL},
    {"019c7a87-3fd0-73a5-8eb3-c4d5e6f70819", "ppl-sonar-pro-high", "perplexity", "perplexity",
     ARENA_MODALITY_SEARCH, false, "Sonar Pro (high)", false, 1771582210000LL},
    {"019f1af9-b401-74b6-9fc4-d5e6f708192a", "deepseek-v3.2", "deepseek", "fireworks",
     ARENA_MODALITY_CHAT, false, "DeepSeek V3.2", false, 1782864000001LL},
    {"019fa8b8-9495-75c7-a0d5-e6f708192a3b", "grok-4.1-thinking", "xai", "xai", ARENA_MODALITY_CHAT,
     false, "Grok 4.1 Thinking", false, 1785242096789LL},
    {"019fa8b8-9495-76d8-b1e6-f708192a3b4c", "grok-4.1-thinking", "xai", "xai", ARENA_MODALITY_CHAT,
     false, "Grok 4.1 Thinking", false, 1785242096789LL},
    {"019df686-87ed-77e9-82f7-08192a3b4c5d", "kimi-k2", "moonshot", "moonshot", ARENA_MODALITY_CHAT,
     false, "kimi-k2", false, 1777957505005LL},
};
#define N_FIXTURE_2026 (sizeof s_fixture_2026 / sizeof s_fixture_2026[0])

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
    if (!s_str_eq(got->display_name, want->display))
        fail_msg("%s: display_name %s, want %s", want->id,
                 got->display_name ? got->display_name : "NULL",
                 want->display ? want->display : "NULL");
    if (got->user_selectable != !want->hidden)
        fail_msg("%s: user_selectable %d", want->id, got->user_selectable);
    if (want->created_ms && arena_model_created_ms(got) != want->created_ms)
        fail_msg("%s: created %lld, want %lld", want->id, arena_model_created_ms(got),
                 want->created_ms);
}

/* Rows are told apart by id: twins share a name. */
static const want_model_t *s_fixture_by_id(const char *id)
{
    for (size_t i = 0; i < N_FIXTURE; i++)
        if (strcmp(s_fixture_models[i].id, id) == 0)
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

/*  The 2026 page: every row in page order — twins sharing a publicName (older
    and newer, equal times), rows that are not user-selectable, a codename
    whose displayName differs — minus video-only rows, broken ids and exact
    repeats of an id. */
static void test_fixture_2026(void **state)
{
    (void)state;
    size_t len;
    char *html = s_read_file(FIXTURE_2026, &len);
    arena_catalog_t cat;
    assert_int_equal(arena_catalog_extract(html, len, 0, &cat), (int)N_FIXTURE_2026);
    for (size_t i = 0; i < N_FIXTURE_2026; i++)
        s_assert_model(&cat.models[i], &s_fixture_2026[i]);
    /* the repeat of the first id in the second list (another displayName) lost */
    assert_string_equal(cat.models[0].display_name, "GPT-5 (high)");
    arena_catalog_clear(&cat);

    /* every prefix: only whole, right rows, never fewer as it grows */
    size_t prev = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        char *part = malloc(cut ? cut : 1);
        assert_non_null(part);
        memcpy(part, html, cut);
        assert_true(arena_catalog_extract(part, cut, 0, &cat) >= 0);
        if (cat.n < prev)
            fail_msg("cut at %zu: %zu rows, %zu before", cut, cat.n, prev);
        prev = cat.n;
        for (size_t i = 0; i < cat.n; i++) {
            const want_model_t *w = NULL;
            for (size_t k = 0; k < N_FIXTURE_2026 && !w; k++)
                if (strcmp(s_fixture_2026[k].id, cat.models[i].id) == 0)
                    w = &s_fixture_2026[k];
            if (!w)
                fail_msg("cut at %zu: unexpected row %s", cut, cat.models[i].id);
            s_assert_model(&cat.models[i], w);
        }
        arena_catalog_clear(&cat);
        free(part);
    }
    assert_int_equal(prev, N_FIXTURE_2026);
    free(html);
}

/*  displayName and userSelectable, one object at a time. */
static void test_display_and_selectable(void **state)
{
    (void)state;
    char long_name[202];
    memset(long_name, 'd', 201);
    long_name[201] = '\0';
    const struct {
        const char *extra; /* JSON members added to a model */
        const char *display;
        bool selectable;
    } rows[] = {
        {"", NULL, true},
        {",\"displayName\":\"GPT-5\"", "GPT-5", true},
        {",\"displayName\":\"\"", NULL, true},
        {",\"displayName\":\" pad\"", NULL, true},
        {",\"displayName\":\"a\\u0007b\"", NULL, true},
        {",\"displayName\":null", NULL, true},
        {",\"displayName\":7", NULL, true},
        {",\"displayName\":\"LONG\"", NULL, true},
        {",\"displayName\":\"Mod\u00e8le \\ud83d\\ude80\"", "Mod\u00e8le \xf0\x9f\x9a\x80", true},
        {",\"userSelectable\":false", NULL, false},
        {",\"userSelectable\":true", NULL, true},
        {",\"userSelectable\":null", NULL, true},
        {",\"userSelectable\":0", NULL, true},
        {",\"userSelectable\":false,\"displayName\":\"Hidden\"", "Hidden", false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char extra[512];
        if (strstr(rows[i].extra, "LONG"))
            snprintf(extra, sizeof extra, ",\"displayName\":\"%s\"", long_name);
        else
            snprintf(extra, sizeof extra, "%s", rows[i].extra);
        char obj[1024];
        snprintf(obj, sizeof obj,
                 "{\"id\":\"019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9\",\"publicName\":\"m\"%s,"
                 "\"capabilities\":{}}",
                 extra);
        abuf_t page = ABUF_INIT;
        s_push(&page, 1, obj);
        arena_catalog_t cat;
        if (arena_catalog_extract(page.data, page.len, 0, &cat) != 1)
            fail_msg("row %zu: the model was dropped: %s", i, obj);
        if (!s_str_eq(cat.models[0].display_name, rows[i].display))
            fail_msg("row %zu: display_name %s", i,
                     cat.models[0].display_name ? cat.models[0].display_name : "NULL");
        if (cat.models[0].user_selectable != rows[i].selectable)
            fail_msg("row %zu: user_selectable %d", i, cat.models[0].user_selectable);
        arena_catalog_clear(&cat);
        abuf_free(&page);
    }
}

/*  An image row's aspectRatios: well-formed W:H kept in order (at most
    ARENA_MAX_ASPECT_RATIOS), anything else dropped; other modalities none. */
static void test_aspect_ratios(void **state)
{
    (void)state;
    const struct {
        const char *out; /* outputCapabilities */
        const char *want;
    } rows[] = {
        {"{\"image\":{\"aspectRatios\":[\"1:1\",\"16:9\",\"9:16\"]}}", "1:1,16:9,9:16"},
        {"{\"image\":{\"aspectRatios\":[\"1:1\",\"0:9\",\"16:0\",\"12345:1\",\"a:b\",\"3:2 \","
         "\"3:2:1\",\":2\",7,null,\"4:3\"]}}",
         "1:1,4:3"},
        {"{\"image\":{\"aspectRatios\":[]}}", NULL},
        {"{\"image\":{\"aspectRatios\":\"1:1\"}}", NULL},
        {"{\"image\":true}", NULL},
        {"{\"text\":true,\"image\":{\"aspectRatios\":[\"1:1\"]},\"search\":true}", "1:1"},
        {"{\"search\":true}", NULL},
        {"{\"image\":{\"aspectRatios\":[\"1:1\",\"1:2\",\"1:3\",\"1:4\",\"1:5\",\"1:6\",\"1:7\","
         "\"1:8\",\"1:9\",\"2:1\",\"3:1\",\"4:1\",\"5:1\",\"6:1\",\"7:1\",\"8:1\",\"9:1\"]}}",
         "1:1,1:2,1:3,1:4,1:5,1:6,1:7,1:8,1:9,2:1,3:1,4:1,5:1,6:1,7:1,8:1"},
        {"{\"image\":{\"aspectRatios\":[\"9999:9999\",\"1024:1792\"]}}", "9999:9999,1024:1792"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char obj[1024];
        snprintf(obj, sizeof obj,
                 "{\"id\":\"019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9\",\"publicName\":\"m\","
                 "\"capabilities\":{\"outputCapabilities\":%s}}",
                 rows[i].out);
        abuf_t page = ABUF_INIT;
        s_push(&page, 1, obj);
        arena_catalog_t cat;
        if (arena_catalog_extract(page.data, page.len, 0, &cat) != 1)
            fail_msg("row %zu: the model was dropped: %s", i, obj);
        if (!s_str_eq(cat.models[0].aspect_ratios, rows[i].want))
            fail_msg("row %zu: aspect_ratios %s, want %s", i,
                     cat.models[0].aspect_ratios ? cat.models[0].aspect_ratios : "NULL",
                     rows[i].want ? rows[i].want : "NULL");
        arena_catalog_clear(&cat);
        abuf_free(&page);
    }
}

static void test_created_ms(void **state)
{
    (void)state;
    const struct {
        const char *id;
        long long want;
    } rows[] = {
        {"019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9", 1779268443117LL},
        {"019E44A9-DBED-7A1C-89B2-C4D5E6F7A8B9", 1779268443117LL},
        {"0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01", 0x0198d7e32c41LL},
        {"ffffffff-ffff-7fff-bfff-ffffffffffff", 0xffffffffffffLL},
        {"00000000-0000-7000-8000-000000000000", 0},
        {"019e44a9-dbed-4a1c-89b2-c4d5e6f7a8b9", 0},  /* version 4 */
        {"019e44a9-dbed-1a1c-89b2-c4d5e6f7a8b9", 0},  /* version 1 */
        {"019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b", 0},   /* short */
        {"019e44a9-dbed-7a1c-89b2-c4d5e6f7a8b9a", 0}, /* long */
        {"019e44a9xdbed-7a1c-89b2-c4d5e6f7a8b9", 0},
        {"019e44a9-dbeg-7a1c-89b2-c4d5e6f7a8b9", 0},
        {"", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        arena_model_t m = {.id = (char *)rows[i].id, .name = "m"};
        if (arena_model_created_ms(&m) != rows[i].want)
            fail_msg("%s: %lld, want %lld", rows[i].id ? rows[i].id : "NULL",
                     arena_model_created_ms(&m), rows[i].want);
    }
    assert_int_equal(arena_model_created_ms(NULL), 0);
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
            const want_model_t *w = s_fixture_by_id(cat.models[i].id);
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
    for (size_t i = 0; i < cat.n; i++) {
        const want_model_t *w = s_fixture_by_id(cat.models[i].id);
        assert_non_null(w);
        s_assert_model(&cat.models[i], w);
    }
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
         true, NULL, false, 0},
        {"0198d7e3-2c41-7a6b-9f10-000000000002", "flux-1-kontext", "bfl", NULL,
         ARENA_MODALITY_IMAGE, false, NULL, false, 0},
    };
    s_assert_model(&cat.models[0], &want[0]);
    s_assert_model(&cat.models[1], &want[1]);
    arena_catalog_clear(&cat);
}

/* Flight data is read before plain HTML (its rows win a repeated id);
   pushes of other kinds and spacing are tolerated; a row split across
   pushes is joined. */
static void test_push_variants(void **state)
{
    (void)state;
    char a[512], b[512];
    snprintf(a, sizeof a, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-00000000000a", "alpha");
    snprintf(b, sizeof b, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-00000000000b", "beta");
    abuf_t page = ABUF_INIT;
    /* plain JSON first in the HTML: alpha under another id (a twin row, read
       after the flight data) and beta's id again (a repeat: dropped) */
    char plain[512], again[512];
    snprintf(plain, sizeof plain, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-0000000000ff", "alpha");
    snprintf(again, sizeof again, MODEL_JSON, "0198d7e3-2c41-7a6b-9f10-00000000000b", "beta-again");
    assert_int_equal(
        abuf_printf(&page, "<script type=\"application/json\">[%s,%s]</script>", plain, again), 0);
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
    assert_int_equal(arena_catalog_extract(page.data, page.len, 0, &cat), 3);
    assert_string_equal(cat.models[0].name, "alpha");
    assert_string_equal(cat.models[0].id, "0198d7e3-2c41-7a6b-9f10-00000000000a");
    assert_string_equal(cat.models[1].name, "beta");
    assert_string_equal(cat.models[2].name, "alpha");
    assert_string_equal(cat.models[2].id, "0198d7e3-2c41-7a6b-9f10-0000000000ff");
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
                         true,
                         strdup("Model M"),
                         true,
                         strdup("1:1,16:9")};
    arena_model_t dst;
    assert_int_equal(arena_model_copy(&dst, &src), 0);
    assert_ptr_not_equal(dst.display_name, src.display_name);
    assert_string_equal(dst.display_name, "Model M");
    assert_ptr_not_equal(dst.aspect_ratios, src.aspect_ratios);
    assert_string_equal(dst.aspect_ratios, "1:1,16:9");
    assert_true(dst.user_selectable);
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
    assert_null(dst.display_name);
    arena_model_clear(&dst);
    arena_model_clear(NULL);

    /* absent display name, not selectable */
    arena_model_t hidden = {.id = "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01", .name = "h"};
    assert_int_equal(arena_model_copy(&dst, &hidden), 0);
    assert_null(dst.display_name);
    assert_false(dst.user_selectable);
    arena_model_clear(&dst);
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

/* Thousands of copies of two rows: de-duplication by id stays cheap; one id
   under two names is one row (the first), one name under two ids two rows. */
static void test_many_duplicates(void **state)
{
    (void)state;
    for (int twins = 0; twins < 2; twins++) {
        abuf_t rows = ABUF_INIT, page = ABUF_INIT;
        char one[512];
        for (int i = 0; i < 20000; i++) {
            const char *id = twins && i % 2 ? "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e02"
                                            : "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01";
            snprintf(one, sizeof one, MODEL_JSON, id, twins ? "twin" : i % 2 ? "odd" : "even");
            assert_int_equal(abuf_printf(&rows, "%s%s", i ? "," : "[", one), 0);
        }
        assert_int_equal(abuf_puts(&rows, "]"), 0);
        s_push(&page, 1, rows.data);
        arena_catalog_t cat;
        assert_int_equal(arena_catalog_extract(page.data, page.len, 0, &cat), twins ? 2 : 1);
        assert_string_equal(cat.models[0].name, twins ? "twin" : "even");
        assert_string_equal(cat.models[0].id, "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01");
        if (twins) {
            assert_string_equal(cat.models[1].name, "twin");
            assert_string_equal(cat.models[1].id, "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e02");
        }
        arena_catalog_clear(&cat);
        abuf_free(&rows);
        abuf_free(&page);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_page),
        cmocka_unit_test(test_fixture_2026),
        cmocka_unit_test(test_display_and_selectable),
        cmocka_unit_test(test_aspect_ratios),
        cmocka_unit_test(test_created_ms),
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
