/*  test_arena_payload — the LMArena create-evaluation body, flattening,
    attachments and limits (ARENA-UPSTREAM.md "Current style"). Requests are
    built by hand so that this test depends on openai.c only for
    openai_error_set. */
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
#include <sodium.h>

#include "protocol/arena_payload.h"

#define MODEL_ID "0198d7e3-2c41-7a6b-9f10-1a2b3c4d5e01"
#define MAX_IMAGES 4

typedef struct {
    const char *role;
    const char *content;
    const char *images[MAX_IMAGES]; /* NULL-terminated */
} msg_spec_t;

/* ---- helpers -------------------------------------------------------------- */

static void s_req_free(openai_request_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_messages; i++) {
        openai_message_t *m = &r->messages[i];
        free(m->role);
        free(m->content);
        for (size_t j = 0; j < m->n_images; j++)
            free(m->images[j].url);
        free(m->images);
    }
    free(r->messages);
    free(r->model);
    free(r);
}

static openai_request_t *s_req_new(const msg_spec_t *specs, size_t n)
{
    openai_request_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->model = strdup("gpt-5-high");
    r->messages = calloc(n ? n : 1, sizeof *r->messages);
    assert_non_null(r->messages);
    r->n_messages = n;
    for (size_t i = 0; i < n; i++) {
        openai_message_t *m = &r->messages[i];
        m->role = strdup(specs[i].role);
        m->content = strdup(specs[i].content);
        size_t k = 0;
        while (k < MAX_IMAGES && specs[i].images[k])
            k++;
        m->images = k ? calloc(k, sizeof *m->images) : NULL;
        for (size_t j = 0; j < k; j++)
            m->images[j].url = strdup(specs[i].images[j]);
        m->n_images = k;
        r->n_images_total += k;
    }
    return r;
}

/* A request of one user message holding text and one image. */
static openai_request_t *s_req_user(const char *text, const char *image)
{
    msg_spec_t spec = {"user", text, {image, NULL}};
    return s_req_new(&spec, 1);
}

/* "data:<ctype>;base64," followed by 'A's up to total bytes. */
static char *s_data_uri(const char *ctype, size_t total)
{
    char head[96];
    int h = snprintf(head, sizeof head, "data:%s;base64,", ctype);
    assert_true(h > 0 && (size_t)h < total);
    char *s = malloc(total + 1);
    assert_non_null(s);
    memcpy(s, head, (size_t)h);
    memset(s + h, 'A', total - (size_t)h);
    s[total] = '\0';
    return s;
}

static json_t *s_build_json(const openai_request_t *req, arena_modality_t mod, arena_ids_t *ids)
{
    abuf_t out = ABUF_INIT;
    openai_error_t err = {0};
    assert_int_equal(arena_payload_build(req, MODEL_ID, mod, NULL, NULL, &out, ids, &err), 0);
    json_error_t je;
    json_t *root = json_loadb(out.data, out.len, 0, &je);
    if (!root)
        fail_msg("output is not JSON: %s: %.200s", je.text, out.data);
    abuf_free(&out);
    return root;
}

static const char *s_get_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("key %s is not a string", key);
    return json_string_value(v);
}

/* Canonical, version 7, RFC variant, and a timestamp within a minute of now. */
static void s_assert_uuid7(const char *s)
{
    assert_true(uuid_is_valid(s));
    assert_int_equal(s[14], '7');
    assert_non_null(strchr("89ab", s[19]));
    char hex[13] = {0};
    memcpy(hex, s, 8);
    memcpy(hex + 8, s + 9, 4);
    unsigned long long ms = strtoull(hex, NULL, 16);
    unsigned long long now = (unsigned long long)time(NULL) * 1000ull;
    assert_true(ms + 60000 > now && ms < now + 60000);
}

static int s_setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

/* ---- modality and defaults ------------------------------------------------- */

static void test_modality_names(void **state)
{
    (void)state;
    static const struct {
        arena_modality_t m;
        const char *name;
    } cases[] = {
        {ARENA_MODALITY_CHAT, "chat"},
        {ARENA_MODALITY_IMAGE, "image"},
        {ARENA_MODALITY_SEARCH, "search"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(arena_modality_name(cases[i].m), cases[i].name);
        openai_request_t *req = s_req_user("hi", NULL);
        json_t *root = s_build_json(req, cases[i].m, NULL);
        assert_string_equal(s_get_str(root, "modality"), cases[i].name);
        json_decref(root);
        s_req_free(req);
    }
}

static void test_limits_default(void **state)
{
    (void)state;
    arena_payload_limits_t lim;
    arena_payload_limits_default(&lim);
    assert_int_equal(lim.max_prompt_chars, 113000);
    assert_int_equal(lim.max_attachment_bytes, 5 * 1024 * 1024);
}

/* ---- the body, field by field ---------------------------------------------- */

static void test_shape(void **state)
{
    (void)state;
    openai_request_t *req = s_req_user("Hello, arena!", NULL);
    arena_ids_t ids;
    json_t *root = s_build_json(req, ARENA_MODALITY_CHAT, &ids);

    assert_true(json_is_object(root));
    /* The page's own direct-battle body: no modelBMessageId. */
    assert_int_equal(json_object_size(root), 7);
    assert_string_equal(s_get_str(root, "id"), ids.session_id);
    assert_string_equal(s_get_str(root, "mode"), "direct-battle");
    assert_string_equal(s_get_str(root, "modelAId"), MODEL_ID);
    assert_string_equal(s_get_str(root, "userMessageId"), ids.user_message_id);
    assert_string_equal(s_get_str(root, "modelAMessageId"), ids.model_a_message_id);
    assert_null(json_object_get(root, "modelBMessageId"));
    assert_string_equal(ids.model_b_message_id, "");
    assert_string_equal(s_get_str(root, "modality"), "chat");
    assert_null(json_object_get(root, ARENA_RECAPTCHA_FIELD));

    json_t *um = json_object_get(root, "userMessage");
    assert_true(json_is_object(um));
    assert_int_equal(json_object_size(um), 3);
    assert_string_equal(s_get_str(um, "content"), "Hello, arena!");
    json_t *att = json_object_get(um, "experimental_attachments");
    assert_true(json_is_array(att));
    assert_int_equal(json_array_size(att), 0);
    json_t *meta = json_object_get(um, "metadata");
    assert_true(json_is_object(meta));
    assert_int_equal(json_object_size(meta), 0);

    s_assert_uuid7(ids.session_id);
    s_assert_uuid7(ids.user_message_id);
    s_assert_uuid7(ids.model_a_message_id);
    json_decref(root);
    s_req_free(req);
}

/*  The mode is the caller's (arena-node --arena-mode); modelBMessageId goes
    up exactly for the modes whose page sends it. */
static void test_modes(void **state)
{
    (void)state;
    static const struct {
        const char *mode;
        const char *sent; /* NULL: refused */
        bool has_b;
    } cases[] = {
        {NULL, "direct-battle", false},
        {"direct-battle", "direct-battle", false},
        {"direct", "direct", true},
        {"battle", "battle", true},
        {"side-by-side", "side-by-side", true},
        {"", NULL, false},
        {"Direct", NULL, false},
        {"direct\"battle", NULL, false},
        {"a-mode-name-that-is-far-too-long-x", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = s_req_user("hi", NULL);
        abuf_t out = ABUF_INIT;
        openai_error_t err = {0};
        arena_ids_t ids;
        int rc = arena_payload_build(req, MODEL_ID, ARENA_MODALITY_CHAT, cases[i].mode, NULL, &out,
                                     &ids, &err);
        if (!cases[i].sent) {
            assert_int_equal(rc, -1);
            assert_int_equal(err.status, 400);
            assert_int_equal(out.len, 0);
        } else {
            assert_int_equal(rc, 0);
            json_t *root = json_loadb(out.data, out.len, 0, NULL);
            assert_non_null(root);
            assert_string_equal(s_get_str(root, "mode"), cases[i].sent);
            json_t *b = json_object_get(root, "modelBMessageId");
            if (cases[i].has_b) {
                assert_true(json_is_string(b));
                assert_string_equal(json_string_value(b), ids.model_b_message_id);
                s_assert_uuid7(ids.model_b_message_id);
            } else {
                assert_null(b);
            }
            json_decref(root);
        }
        assert_int_equal(arena_mode_has_b(cases[i].mode), cases[i].has_b);
        abuf_free(&out);
        s_req_free(req);
    }
}

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_ids_fresh(void **state)
{
    (void)state;
    enum { CALLS = 64, PER_CALL = 3 };
    openai_request_t *req = s_req_user("again", NULL);
    static char ids[CALLS * PER_CALL][UUID_STR_LEN];
    char *sorted[CALLS * PER_CALL];
    for (size_t c = 0; c < CALLS; c++) {
        arena_ids_t got;
        json_t *root = s_build_json(req, ARENA_MODALITY_CHAT, &got);
        const char *fields[PER_CALL] = {got.session_id, got.user_message_id,
                                        got.model_a_message_id};
        for (size_t k = 0; k < PER_CALL; k++) {
            s_assert_uuid7(fields[k]);
            memcpy(ids[c * PER_CALL + k], fields[k], UUID_STR_LEN);
            sorted[c * PER_CALL + k] = ids[c * PER_CALL + k];
        }
        assert_string_equal(s_get_str(root, "id"), got.session_id);
        json_decref(root);
    }
    qsort(sorted, CALLS * PER_CALL, sizeof sorted[0], s_cmp_str);
    for (size_t i = 1; i < CALLS * PER_CALL; i++)
        assert_string_not_equal(sorted[i - 1], sorted[i]);

    /* ids_out may be NULL. */
    abuf_t out = ABUF_INIT;
    openai_error_t err = {0};
    assert_int_equal(
        arena_payload_build(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, NULL, &out, NULL, &err), 0);
    abuf_free(&out);
    s_req_free(req);
}

/* Text with every character JSON must escape survives the round trip. */
static void test_content_escaping(void **state)
{
    (void)state;
    const char *text = "quote \" backslash \\ slash / tab \t nl \n cr \r bell \x07 "
                       "\xc3\xa9\xe2\x80\x94\xf0\x9f\x9a\x80 \xe2\x80\xa8 </script>";
    openai_request_t *req = s_req_user(text, NULL);
    json_t *root = s_build_json(req, ARENA_MODALITY_CHAT, NULL);
    assert_string_equal(s_get_str(json_object_get(root, "userMessage"), "content"), text);
    json_decref(root);
    s_req_free(req);
}

/* Appends after what out already holds; leaves it alone on failure. */
static void test_appends_and_rolls_back(void **state)
{
    (void)state;
    openai_request_t *req = s_req_user("hi", NULL);
    abuf_t out = ABUF_INIT;
    assert_int_equal(abuf_puts(&out, "prefix:"), 0);
    openai_error_t err = {0};
    assert_int_equal(
        arena_payload_build(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, NULL, &out, NULL, &err), 0);
    assert_memory_equal(out.data, "prefix:{\"id\":\"", 14);
    json_t *root = json_loads(out.data + 7, 0, NULL);
    assert_non_null(root);
    json_decref(root);

    /* A capped buffer too small for the body: 413, buffer untouched. */
    abuf_t capped = ABUF_INIT;
    capped.max = 64;
    assert_int_equal(abuf_puts(&capped, "keep"), 0);
    assert_int_equal(
        arena_payload_build(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, NULL, &capped, NULL, &err),
        -1);
    assert_int_equal(err.status, 413);
    assert_string_equal(err.code, "request_too_large");
    assert_int_equal(capped.len, 4);
    assert_string_equal(capped.data, "keep");
    abuf_free(&capped);
    abuf_free(&out);
    s_req_free(req);
}

/* ---- flattening ------------------------------------------------------------ */

typedef struct {
    const char *name;
    msg_spec_t msgs[6];
    size_t n;
    const char *want;
} flatten_case_t;

static const flatten_case_t s_flatten_cases[] = {
    {"single user: verbatim",
     {{"user", "Tell me a joke.\n\nUser:\nnot a turn", {NULL}}},
     1,
     "Tell me a joke.\n\nUser:\nnot a turn"},
    {"single user, empty", {{"user", "", {NULL}}}, 1, ""},
    {"system then user",
     {{"system", "You are terse.", {NULL}}, {"user", "Hi", {NULL}}},
     2,
     "System:\nYou are terse.\n\nUser:\nHi"},
    {"system and developer joined, first, wherever they stand",
     {{"user", "Q1", {NULL}},
      {"system", "Rule one.", {NULL}},
      {"assistant", "A1", {NULL}},
      {"developer", "Rule two.", {NULL}},
      {"user", "Q2", {NULL}}},
     5,
     "System:\nRule one.\n\nRule two.\n\nUser:\nQ1\n\nAssistant:\nA1\n\nUser:\nQ2"},
    {"multi-turn without system",
     {{"user", "Hi", {NULL}}, {"assistant", "Hello!", {NULL}}, {"user", "How are you?", {NULL}}},
     3,
     "User:\nHi\n\nAssistant:\nHello!\n\nUser:\nHow are you?"},
    {"tool results and empty messages",
     {{"system", "", {NULL}},
      {"user", "weather?", {NULL}},
      {"assistant", "", {NULL}},
      {"tool", "{\"temp\":21}", {NULL}},
      {"user", "thanks", {NULL}}},
     5,
     "User:\nweather?\n\nTool:\n{\"temp\":21}\n\nUser:\nthanks"},
    {"a lone assistant message keeps its role",
     {{"assistant", "Hm.", {NULL}}},
     1,
     "Assistant:\nHm."},
    {"system only", {{"system", "Be nice.", {NULL}}}, 1, "System:\nBe nice."},
    {"image-only user turn leaves no text block",
     {{"system", "Describe.", {NULL}}, {"user", "", {"https://x.test/a.png", NULL}}},
     2,
     "System:\nDescribe."},
};

static void test_flatten(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_flatten_cases / sizeof s_flatten_cases[0]; i++) {
        const flatten_case_t *c = &s_flatten_cases[i];
        openai_request_t *req = s_req_new(c->msgs, c->n);
        abuf_t out = ABUF_INIT;
        assert_int_equal(abuf_puts(&out, "~"), 0);
        assert_int_equal(arena_payload_flatten(req, &out), 0);
        if (strcmp(out.data + 1, c->want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", c->name, out.data + 1, c->want);
        abuf_free(&out);
        /* The body carries the same text. */
        if (c->want[0]) {
            json_t *root = s_build_json(req, ARENA_MODALITY_CHAT, NULL);
            assert_string_equal(s_get_str(json_object_get(root, "userMessage"), "content"),
                                c->want);
            json_decref(root);
        }
        s_req_free(req);
    }
}

/*  A message's name is the speaker's label; a named system message
    (SillyTavern's example dialogue) is a turn in place, not in the System
    block. Built through the parser, as a client sends it. */
static void test_flatten_names(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"model\":\"m\",\"messages\":["
         "{\"role\":\"system\",\"content\":\"You are Seraphina.\"},"
         "{\"role\":\"system\",\"name\":\"example_user\",\"content\":\"Who are you?\"},"
         "{\"role\":\"system\",\"name\":\"example_assistant\",\"content\":\"A guardian.\"},"
         "{\"role\":\"system\",\"content\":\"[Start a new chat]\"},"
         "{\"role\":\"user\",\"name\":\"Alice\",\"content\":\"Hi!\"},"
         "{\"role\":\"assistant\",\"name\":\"Seraphina\",\"content\":\"Hello.\"}]}",
         "System:\nYou are Seraphina.\n\n[Start a new chat]\n\n"
         "System (example_user):\nWho are you?\n\n"
         "System (example_assistant):\nA guardian.\n\n"
         "User (Alice):\nHi!\n\nAssistant (Seraphina):\nHello."},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"name\":\"Bob\",\"content\":\"x\"}]}",
         "User (Bob):\nx"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"name\":\"\",\"content\":\"x\"}]}",
         "x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = NULL;
        openai_error_t err;
        if (openai_request_parse(cases[i].body, strlen(cases[i].body), NULL, &req, &err) < 0)
            fail_msg("case %zu: %s", i, err.message);
        abuf_t out = ABUF_INIT;
        assert_int_equal(arena_payload_flatten(req, &out), 0);
        if (strcmp(out.data, cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, out.data, cases[i].want);
        abuf_free(&out);
        openai_request_destroy(&req);
    }
}

/* ---- attachments ------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *ctype;
} want_att_t;

static void test_attachments(void **state)
{
    (void)state;
    char *png = s_data_uri("image/png", 300);
    char *jpeg = s_data_uri("image/JPEG", 200);
    char *webp = s_data_uri("image/webp", 100);
    const msg_spec_t msgs[] = {
        {"system", "Look closely.", {NULL}},
        {"user", "first", {png, "https://cdn.example.com/photos/cat.JPG?w=200#top", NULL}},
        {"assistant", "ok", {"https://ignored.example.com/a.png", NULL}},
        {"user", "", {jpeg, "https://example.com/no-extension", webp, NULL}},
        {"user", "last", {"data:;base64,AAAA", "http://example.com/pic.gif", NULL}},
    };
    const char *urls[] = {png,
                          "https://cdn.example.com/photos/cat.JPG?w=200#top",
                          jpeg,
                          "https://example.com/no-extension",
                          webp,
                          "data:;base64,AAAA",
                          "http://example.com/pic.gif"};
    static const want_att_t want[] = {
        {"image-1.png", "image/png"}, {"image-2.jpg", "image/jpeg"},  {"image-3.jpg", "image/jpeg"},
        {"image-4.png", "image/png"}, {"image-5.webp", "image/webp"}, {"image-6.png", "image/png"},
        {"image-7.gif", "image/gif"},
    };
    openai_request_t *req = s_req_new(msgs, sizeof msgs / sizeof msgs[0]);
    json_t *root = s_build_json(req, ARENA_MODALITY_CHAT, NULL);
    json_t *att = json_object_get(json_object_get(root, "userMessage"), "experimental_attachments");
    assert_int_equal(json_array_size(att), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *a = json_array_get(att, i);
        assert_int_equal(json_object_size(a), 3);
        assert_string_equal(s_get_str(a, "name"), want[i].name);
        assert_string_equal(s_get_str(a, "contentType"), want[i].ctype);
        assert_string_equal(s_get_str(a, "url"), urls[i]);
    }
    json_decref(root);
    s_req_free(req);
    free(png);
    free(jpeg);
    free(webp);
}

/* Types outside the table: the subtype names the file. */
static void test_attachment_odd_types(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *name;
        const char *ctype;
    } cases[] = {
        {"data:image/x-portable-pixmap;base64,AA", "image-1.xportabl", "image/x-portable-pixmap"},
        {"data:image/svg+xml;utf8,<svg/>", "image-1.svg", "image/svg+xml"},
        {"data:not a type;base64,AA", "image-1.png", "image/png"},
        {"data:image/png", "image-1.png", "image/png"},
        {"https://example.com", "image-1.png", "image/png"},
        {"https://example.com/dir.v2/file", "image-1.png", "image/png"},
        {"https://example.com/a.tar.avif", "image-1.avif", "image/avif"},
        {"https://example.com/x.JPEG?next=http://h/a.gif", "image-1.jpg", "image/jpeg"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        openai_request_t *req = s_req_user("see", cases[i].url);
        json_t *root = s_build_json(req, ARENA_MODALITY_CHAT, NULL);
        json_t *a = json_array_get(
            json_object_get(json_object_get(root, "userMessage"), "experimental_attachments"), 0);
        assert_string_equal(s_get_str(a, "name"), cases[i].name);
        assert_string_equal(s_get_str(a, "contentType"), cases[i].ctype);
        assert_string_equal(s_get_str(a, "url"), cases[i].url);
        json_decref(root);
        s_req_free(req);
    }
}

/* A multi-megabyte attachment under the limit goes through intact. */
static void test_large_attachment_ok(void **state)
{
    (void)state;
    size_t size = 5 * 1024 * 1024;
    char *uri = s_data_uri("image/png", size);
    openai_request_t *req = s_req_user("big", uri);
    json_t *root = s_build_json(req, ARENA_MODALITY_IMAGE, NULL);
    json_t *a = json_array_get(
        json_object_get(json_object_get(root, "userMessage"), "experimental_attachments"), 0);
    assert_int_equal(json_string_length(json_object_get(a, "url")), size);
    assert_string_equal(s_get_str(a, "url"), uri);
    json_decref(root);
    s_req_free(req);
    free(uri);
}

static void s_assert_fails(const openai_request_t *req, const char *model_id, arena_modality_t mod,
                           const arena_payload_limits_t *lim, int status, const char *code,
                           const char *needle)
{
    abuf_t out = ABUF_INIT;
    openai_error_t err = {0};
    assert_int_equal(arena_payload_build(req, model_id, mod, NULL, lim, &out, NULL, &err), -1);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    if (needle && !strstr(err.message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
    assert_int_equal(out.len, 0);
    abuf_free(&out);
}

static void test_attachment_too_large(void **state)
{
    (void)state;
    char *small = s_data_uri("image/png", 1000);
    char *big = s_data_uri("image/png", (size_t)(6.1 * 1024 * 1024));
    const msg_spec_t msgs[] = {
        {"user", "one", {small, NULL}},
        {"assistant", "ok", {NULL}},
        {"user", "two", {big, NULL}},
    };
    openai_request_t *req = s_req_new(msgs, 3);
    s_assert_fails(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, 413, "request_too_large",
                   "image 2 is 6.1 MB; LMArena accepts about 5 MB per attachment");

    /* A custom limit is named as such; exactly at the limit passes. */
    arena_payload_limits_t lim;
    arena_payload_limits_default(&lim);
    lim.max_attachment_bytes = 999;
    s_assert_fails(req, MODEL_ID, ARENA_MODALITY_CHAT, &lim, 413, "request_too_large",
                   "image 1 is 1000 bytes; LMArena accepts about 999 bytes per attachment");
    s_req_free(req);

    lim.max_attachment_bytes = 1000;
    req = s_req_user("one", small);
    abuf_t out = ABUF_INIT;
    openai_error_t err = {0};
    assert_int_equal(
        arena_payload_build(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, &lim, &out, NULL, &err), 0);
    abuf_free(&out);
    s_req_free(req);

    /* http(s) URLs are not held to the data: limit. */
    lim.max_attachment_bytes = 10;
    req = s_req_user("one", "https://example.com/a/very/long/path/image.png");
    assert_int_equal(
        arena_payload_build(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, &lim, &out, NULL, &err), 0);
    abuf_free(&out);
    s_req_free(req);
    free(small);
    free(big);
}

static char *s_repeat(const char *unit, size_t times)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * times + 1);
    assert_non_null(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * times] = '\0';
    return s;
}

/* The prompt limit counts code points of the flattened text, not bytes. */
static void test_prompt_limit(void **state)
{
    (void)state;
    static const struct {
        const char *unit;
        size_t times;
        bool ok;
    } cases[] = {
        {"a", 113000, true},
        {"a", 113001, false},
        {"\xc3\xa9", 113000, true},         /* 226000 bytes */
        {"\xf0\x9f\x9a\x80", 113000, true}, /* 452000 bytes */
        {"\xf0\x9f\x9a\x80", 113001, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = s_repeat(cases[i].unit, cases[i].times);
        openai_request_t *req = s_req_user(text, NULL);
        if (cases[i].ok) {
            json_t *root = s_build_json(req, ARENA_MODALITY_CHAT, NULL);
            assert_string_equal(s_get_str(json_object_get(root, "userMessage"), "content"), text);
            json_decref(root);
        } else {
            s_assert_fails(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, 413, "request_too_large",
                           "113001 characters");
            s_assert_fails(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, 413, "request_too_large",
                           "about 113000 characters");
        }
        s_req_free(req);
        free(text);
    }

    /* The decoration of a multi-turn conversation counts too. */
    char *text = s_repeat("a", 112990);
    const msg_spec_t msgs[] = {{"system", "sys", {NULL}}, {"user", text, {NULL}}};
    openai_request_t *req = s_req_new(msgs, 2);
    s_assert_fails(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, 413, "request_too_large", NULL);
    arena_payload_limits_t lim = {.max_prompt_chars = 200000, .max_attachment_bytes = 0};
    abuf_t out = ABUF_INIT;
    openai_error_t err = {0};
    assert_int_equal(
        arena_payload_build(req, MODEL_ID, ARENA_MODALITY_CHAT, NULL, &lim, &out, NULL, &err), 0);
    abuf_free(&out);
    s_req_free(req);
    free(text);
}

static void test_invalid_requests(void **state)
{
    (void)state;
    openai_request_t *ok = s_req_user("hi", NULL);
    s_assert_fails(ok, "gpt-5-high", ARENA_MODALITY_CHAT, NULL, 400, "invalid_request", NULL);
    s_assert_fails(ok, NULL, ARENA_MODALITY_CHAT, NULL, 400, "invalid_request", NULL);
    s_assert_fails(ok, MODEL_ID "0", ARENA_MODALITY_CHAT, NULL, 400, "invalid_request", NULL);
    s_assert_fails(ok, MODEL_ID, (arena_modality_t)7, NULL, 400, "invalid_request", NULL);
    s_assert_fails(NULL, MODEL_ID, ARENA_MODALITY_CHAT, NULL, 400, "invalid_request", NULL);
    s_req_free(ok);

    openai_request_t *none = s_req_new(NULL, 0);
    s_assert_fails(none, MODEL_ID, ARENA_MODALITY_CHAT, NULL, 400, "invalid_request", NULL);
    s_req_free(none);

    const msg_spec_t empty[] = {{"system", "", {NULL}}, {"user", "", {NULL}}};
    openai_request_t *blank = s_req_new(empty, 2);
    s_assert_fails(blank, MODEL_ID, ARENA_MODALITY_CHAT, NULL, 400, "invalid_request",
                   "nothing to send");
    s_req_free(blank);

    /* An empty prompt with an image is fine. */
    openai_request_t *img = s_req_user("", "https://example.com/a.png");
    json_t *root = s_build_json(img, ARENA_MODALITY_CHAT, NULL);
    assert_string_equal(s_get_str(json_object_get(root, "userMessage"), "content"), "");
    json_decref(root);
    s_req_free(img);

    abuf_t out = ABUF_INIT;
    assert_int_equal(arena_payload_flatten(NULL, &out), -1);
    assert_int_equal(out.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modality_names),
        cmocka_unit_test(test_limits_default),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_ids_fresh),
        cmocka_unit_test(test_content_escaping),
        cmocka_unit_test(test_appends_and_rolls_back),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_flatten_names),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_attachment_odd_types),
        cmocka_unit_test(test_large_attachment_ok),
        cmocka_unit_test(test_attachment_too_large),
        cmocka_unit_test(test_prompt_limit),
        cmocka_unit_test(test_invalid_requests),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
