/*  test_fake_link — the fake browser link (tests/support/fake_*.c).

    Pure parts first: directives, the scripted LMArena's validation and
    scenario bodies, the catalog page. Then the tab side over real
    WebSockets: each wire test starts a minimal libwebsockets server in this
    process that plays the node (checks Origin and the hello token, sends
    welcome, sends frames the test builds with link_encode_*, records every
    frame the tab sends) and a fake_link_t pointed at it. Every wait is
    bounded. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol/abuf.h"
#include "protocol/arena_catalog.h"
#include "protocol/frame.h"
#include "protocol/uuid7.h"
#include "tests/support/fake_arena.h"
#include "tests/support/fake_link.h"

#define T_WAIT_MS 5000
#define T_TOKEN "test-token-5f1e"
#define T_ORIGIN "https://lmarena.ai"
#define T_MAX_CONNS 16

static long long t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ================================================================ helpers */

#define T_ACCOUNT_A "0123456789abcdef0123456789abcdef"
#define T_ACCOUNT_B "fedcba9876543210fedcba9876543210"

/*  A valid 2025 create-evaluation body for model with content (fresh ids):
    mode "direct" and all four ids. */
static json_t *t_body25(const char *model, const char *content)
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
    return b;
}

/*  The 2026 page's body: mode "direct-battle", no modelBMessageId. */
static json_t *t_body(const char *model, const char *content)
{
    json_t *b = t_body25(model, content);
    char mid[UUID_STR_LEN];
    fake_link_model_id(model, NULL, mid);
    json_object_set_new(b, "mode", json_string("direct-battle"));
    json_object_set_new(b, "modelAId", json_string(mid));
    json_object_del(b, "modelBMessageId");
    return b;
}

/*  text without its participant-B lines (b… or data: b…). */
static char *t_strip_b(const char *text)
{
    abuf_t out = ABUF_INIT;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
        const char *s = strncmp(p, "data: ", 6) == 0 ? p + 6 : p;
        if (*s != 'b')
            assert_int_equal(abuf_append(&out, p, n), 0);
        p += n;
    }
    assert_int_equal(abuf_append(&out, "", 0), 0);
    return abuf_steal(&out, NULL);
}

/*  Joins the JSON strings of every `code` line of an upstream body. */
static char *t_join(const char *body, size_t len, const char *code)
{
    abuf_t out = ABUF_INIT;
    size_t cl = strlen(code);
    for (const char *p = body, *end = body + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *s = p;
        if ((size_t)(le - s) > 6 && strncmp(s, "data: ", 6) == 0)
            s += 6;
        if ((size_t)(le - s) > cl + 1 && strncmp(s, code, cl) == 0 && s[cl] == ':') {
            json_t *v = json_loadb(s + cl + 1, (size_t)(le - s - cl - 1), JSON_DECODE_ANY, NULL);
            assert_true(json_is_string(v));
            assert_int_equal(abuf_append(&out, json_string_value(v), json_string_length(v)), 0);
            json_decref(v);
        }
        p = nl ? nl + 1 : end;
    }
    assert_int_equal(abuf_append(&out, "", 0), 0); /* NUL-terminated even when empty */
    return abuf_steal(&out, NULL);
}

static int t_is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* ============================================================ directives */

typedef struct {
    const char *text;
    int rc;
    const char *name, *key, *value;
} dir_case_t;

static void test_directive_find(void **state)
{
    (void)state;
    static const dir_case_t cases[] = {
        {"Say hi [[fake:ratelimit retry=3]]", 1, "ratelimit", "retry", "3"},
        {"no directive at all", 0, NULL, NULL, NULL},
        {"[[fake:text]] then later [[fake:echo]]", 1, "echo", NULL, NULL},
        {"User:\n[[fake:ratelimit]]\n\nUser:\n[[fake:text text=\"x\"]]", 1, "text", "text", "x"},
        {"[[fake:text text=\"a ]] b\" piece=2]]", 1, "text", "text", "a ]] b"},
        {"[[fake:text text=\"say \\\"hi\\\"\"]]", 1, "text", "text", "say \"hi\""},
        {"[[fake:text text=\"two\\nlines\"]]", 1, "text", "text", "two\nlines"},
        {"[[fake:  drip   ms=5  count=2 ]]", 1, "drip", "count", "2"},
        {"[[fake:nope]]", -1, NULL, NULL, NULL},
        {"[[fake:text bogus=1]]", -1, NULL, NULL, NULL},
        {"[[fake:text text=]]", -1, NULL, NULL, NULL},
        {"[[fake:text", -1, NULL, NULL, NULL},
        {"[[fake:text piece=1 piece=2]]", -1, NULL, NULL, NULL},
        {"[[fake:Text]]", -1, NULL, NULL, NULL},
        {"[[fake:text text=\"unterminated]]", -1, NULL, NULL, NULL},
        {"[[fake:text piece=2text=1]]", 1, "text", "piece", "2text=1"},
        {"old [[fake:ratelimit]] new [[fake:text", -1, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_directive_t d;
        char err[200] = "";
        int rc = fake_directive_find(cases[i].text, strlen(cases[i].text), &d, err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d (%s)", i, cases[i].text, rc, cases[i].rc, err);
        if (rc < 0)
            assert_true(err[0] != '\0');
        if (rc == 1) {
            assert_string_equal(d.name, cases[i].name);
            if (cases[i].key)
                assert_string_equal(fake_directive_get(&d, cases[i].key), cases[i].value);
        }
        fake_directive_clear(&d);
    }
}

static void test_directive_parse_and_check(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int rc;
    } cases[] = {
        {"ratelimit retry=3", 0},
        {"[[fake:ratelimit retry=3]]", 0},
        {"  text  ", 0},
        {"ratelimit retry=none", 0},
        {"text piece=4 prefix=data split=1 seed=9 finish=length ttfb=5", 0},
        {"text split=utf8 gap=20", 0},
        {"long chars=10 split=utf8", 0},
        {"text split=bytes", -1},
        {"text gap=soon", -1},
        {"drip gap=5", -1},
        {"", -1},
        {"drip ms=abc", -1},
        {"drip count=0", -1},
        {"text finish=done", -1},
        {"text prefix=sse", -1},
        {"midclose after=100", -1},
        {"long chars=999999999", -1},
        {"ratelimit retry=-1", -1},
        {"stall bogus=1", -1},
        {"text text=x y=1", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[200] = "";
        int rc = fake_link_directive_check(cases[i].spec, err, sizeof err);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d (%s)", i, cases[i].spec, rc, cases[i].rc, err);
    }
}

/* ================================================== the arena, directly */

static fake_arena_t *t_arena_era(const char *era)
{
    fake_arena_config_t cfg = {T_ORIGIN, NULL, 0, NULL, 0, 0, era};
    char err[200];
    fake_arena_t *a = fake_arena_new(&cfg, err, sizeof err);
    assert_non_null(a);
    return a;
}

static fake_arena_t *t_arena(void)
{
    return t_arena_era(NULL);
}

typedef struct {
    const char *url, *method, *content_type;
    bool no_recaptcha;
    const char *action, *sitekey;
    const char *force, *fallback;
    const char *account;
} t_req_opts_t;

/*  Runs a body (stolen; a JSON string value is sent as raw text). */
static void t_handle(fake_arena_t *a, json_t *body, const t_req_opts_t *o, fake_outcome_t *out)
{
    static const t_req_opts_t none;
    if (!o)
        o = &none;
    char *text =
        json_is_string(body) ? strdup(json_string_value(body)) : json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *headers = json_pack("{s:s}", "Content-Type",
                                o->content_type ? o->content_type : FAKE_ARENA_CONTENT_TYPE);
    fake_request_t req = {o->url ? o->url : FAKE_ARENA_PATH,
                          o->method ? o->method : "POST",
                          headers,
                          text,
                          strlen(text),
                          o->no_recaptcha ? NULL : FAKE_ARENA_RC_FIELD,
                          o->action ? o->action : FAKE_ARENA_RC_ACTION,
                          o->sitekey,
                          o->force,
                          o->fallback,
                          o->account};
    assert_int_equal(fake_arena_handle(a, &req, out), 0);
    json_decref(headers);
    free(text);
}

/*  The plan's chunks glued back together. */
static char *t_glue(const fake_plan_t *p)
{
    abuf_t out = ABUF_INIT;
    for (size_t i = 0; i < p->n_chunks; i++)
        assert_int_equal(abuf_append(&out, p->body.data + p->chunks[i].off, p->chunks[i].len), 0);
    assert_int_equal(abuf_append(&out, "", 0), 0); /* NUL-terminated even when empty */
    return abuf_steal(&out, NULL);
}

typedef struct {
    const char *content;
    int status;
    const char *ctype_prefix;
    const char *body;   /* exact glued body, or NULL */
    const char *needle; /* substring of the glued body, or NULL */
    int n_chunks;       /* -1: any */
    fake_end_t end;
    const char *retry_after;
} body_case_t;

#define T_FIN(p, c)                                                                                \
    "ad:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":" #p ",\"completionTokens\":" #c    \
    "}}\n"

static void test_scenario_bodies(void **state)
{
    (void)state;
    /* Content "Hi there" plus the directive: the prompt-token count is
       ceil(chars / 4) of the whole content. */
    static const body_case_t cases[] = {
        {"Hello?", 200, "text/plain",
         "a0:\"Hello fr\"\na0:\"om the fa\"\na0:\"ke arena.\"\n" T_FIN(2, 7), NULL, 4,
         FAKE_END_DONE, ""},
        {"[[fake:text prefix=data]]", 200, "text/plain",
         "data: a0:\"Hello fr\"\ndata: a0:\"om the fa\"\ndata: a0:\"ke arena.\"\n"
         "data: " T_FIN(7, 7),
         NULL, 4, FAKE_END_DONE, ""},
        {"[[fake:text piece=5]]", 200, "text/plain",
         "a0:\"Hello\"\na0:\" from\"\na0:\" the \"\na0:\"fake \"\na0:\"arena\"\na0:\".\"\n" T_FIN(
             6, 7),
         NULL, 7, FAKE_END_DONE, ""},
        {"[[fake:text text=\"a\\\"b\" finish=length]]", 200, "text/plain",
         "a0:\"a\"\na0:\"\\\"\"\na0:\"b\"\nad:{\"finishReason\":\"length\",\"usage\":"
         "{\"promptTokens\":10,\"completionTokens\":7}}\n",
         NULL, 4, FAKE_END_DONE, ""},
        {"[[fake:usage pt=123 ct=45]]", 200, "text/plain",
         "a0:\"Hello fr\"\na0:\"om the fa\"\na0:\"ke arena.\"\n" T_FIN(123, 45), NULL, 4,
         FAKE_END_DONE, ""},
        {"[[fake:reasoning]]", 200, "text/plain",
         "ag:\"Thinki\"\nag:\"ng abo\"\nag:\"ut it.\"\na0:\"Hello fr\"\na0:\"om the fa\"\n"
         "a0:\"ke arena.\"\n" T_FIN(5, 7),
         NULL, 7, FAKE_END_DONE, ""},
        {"[[fake:image]]", 200, "text/plain",
         "a2:[{\"type\":\"image\",\"image\":\"https://images.fake-arena.test/1.png\"}]\n"
         "ad:{\"finishReason\":\"stop\"}\n",
         NULL, 2, FAKE_END_DONE, ""},
        {"[[fake:search]]", 200, "text/plain",
         "a0:\"Hello fr\"\na0:\"om the fa\"\na0:\"ke arena.\"\nac:{\"toolCallId\":\"t1\","
         "\"argsTextDelta\":\"{\\\"url\\\":\\\"https://example.test/"
         "a\\\",\\\"title\\\":\\\"A\\\"}\"}"
         "\n" T_FIN(4, 7),
         NULL, 5, FAKE_END_DONE, ""},
        {"[[fake:empty]]", 200, "text/plain", "ad:{\"finishReason\":\"stop\"}\n", NULL, 1,
         FAKE_END_DONE, ""},
        {"[[fake:arenaerror]]", 200, "text/plain",
         "a0:\"hasArenaError\"\na3:\"Something went wrong\"\n", NULL, 2, FAKE_END_DONE, ""},
        {"[[fake:ratelimit]]", 429, "application/json", "{\"error\":\"Too many requests\"}", NULL,
         1, FAKE_END_DONE, "1"},
        {"[[fake:ratelimit retry=7]]", 429, "application/json", "{\"error\":\"Too many requests\"}",
         NULL, 1, FAKE_END_DONE, "7"},
        {"[[fake:ratelimit retry=none]]", 429, "application/json",
         "{\"error\":\"Too many requests\"}", NULL, 1, FAKE_END_DONE, ""},
        {"[[fake:recaptcha]]", 403, "application/json",
         "{\"error\":\"recaptcha validation failed\"}", NULL, 1, FAKE_END_DONE, ""},
        {"[[fake:cloudflare]]", 403, "text/html", NULL, "<title>Just a moment...</title>", 1,
         FAKE_END_DONE, ""},
        {"[[fake:cloudflare]]", 403, "text/html", NULL, "Enable JavaScript and cookies to continue",
         1, FAKE_END_DONE, ""},
        {"[[fake:moderation]]", 422, "application/json", NULL,
         "{\"error\":\"Request rejected: Content violates our terms of use.", 1, FAKE_END_DONE, ""},
        {"[[fake:toolarge]]", 413, "application/json", "{\"error\":\"Payload too large\"}", NULL, 1,
         FAKE_END_DONE, ""},
        {"[[fake:error500]]", 500, "application/json", "{\"error\":\"Internal error\"}", NULL, 1,
         FAKE_END_DONE, ""},
        {"[[fake:midclose]]", 200, "text/plain", "a0:\"Hello fr\"\na0:\"om the fa\"\n", NULL, 2,
         FAKE_END_CLOSE, ""},
        {"[[fake:midclose after=0 wait=0]]", 200, "text/plain", "", NULL, 0, FAKE_END_CLOSE, ""},
        {"[[fake:stall]]", 200, "text/plain", "", NULL, 0, FAKE_END_STALL, ""},
        {"[[fake:drip ms=10 count=4]]", 200, "text/plain",
         "a0:\"Hello \"\na0:\"from th\"\na0:\"e fake\"\na0:\" arena.\"\n" T_FIN(7, 4), NULL, 5,
         FAKE_END_DONE, ""},
        {"[[fake:nosuch]]", 500, "application/json", NULL, "fake-link: bad directive", 1,
         FAKE_END_DONE, ""},
    };
    /* The table is 2025's (no participant B); 2026 answers the same with B's
       lines woven in (only 200 answers that end normally). */
    fake_arena_t *a = t_arena_era("2025"), *a26 = t_arena();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const body_case_t *c = &cases[i];
        fake_outcome_t out, out26;
        t_handle(a, t_body25("fake-chat", c->content), NULL, &out);
        t_handle(a26, t_body("fake-chat", c->content), NULL, &out26);
        char *glued = t_glue(&out.plan), *glued26 = t_glue(&out26.plan);
        char *stripped = t_strip_b(glued), *stripped26 = t_strip_b(glued26);
        assert_string_equal(stripped, glued); /* 2025: no b lines */
        if (strcmp(stripped26, glued) != 0 || out26.plan.status != out.plan.status)
            fail_msg("case %zu (%s): 2026 without B\n%s\nwant\n%s", i, c->content, stripped26,
                     glued);
        bool with_b = c->status == 200 && c->end == FAKE_END_DONE;
        if (with_b != (strstr(glued26, "bg:\"") != NULL) ||
            with_b != (strstr(glued26, "bd:{\"finishReason\":\"stop\"") != NULL))
            fail_msg("case %zu (%s): B lines %s expected:\n%s", i, c->content, with_b ? "" : "not",
                     glued26);
        free(stripped);
        free(stripped26);
        free(glued26);
        fake_outcome_clear(&out26);
        if (out.plan.status != c->status ||
            strncmp(out.plan.content_type, c->ctype_prefix, strlen(c->ctype_prefix)) != 0)
            fail_msg("case %zu (%s): status %d type %s", i, c->content, out.plan.status,
                     out.plan.content_type);
        if (c->body && strcmp(glued, c->body) != 0)
            fail_msg("case %zu (%s): body\n%s\nwant\n%s", i, c->content, glued, c->body);
        if (c->needle && !strstr(glued, c->needle))
            fail_msg("case %zu (%s): body lacks %s:\n%s", i, c->content, c->needle, glued);
        if (c->n_chunks >= 0 && out.plan.n_chunks != (size_t)c->n_chunks)
            fail_msg("case %zu (%s): %zu chunks, want %d", i, c->content, out.plan.n_chunks,
                     c->n_chunks);
        assert_int_equal(out.plan.end, c->end);
        assert_string_equal(out.plan.retry_after, c->retry_after);
        free(glued);
        fake_outcome_clear(&out);
    }
    fake_arena_destroy(&a);
    fake_arena_destroy(&a26);
}

static void test_scenario_pacing_and_echo(void **state)
{
    (void)state;
    fake_arena_t *a = t_arena_era("2025"); /* A's chunks only */
    fake_outcome_t out;

    /* drip: every text chunk waits ms, the finish goes at once. */
    t_handle(a, t_body25("fake-chat", "[[fake:drip ms=25 count=30]]"), NULL, &out);
    assert_int_equal(out.plan.n_chunks, 31);
    for (size_t i = 0; i < 30; i++)
        assert_int_equal(out.plan.chunks[i].delay_ms, 25);
    assert_int_equal(out.plan.chunks[30].delay_ms, 0);
    char *text = t_join(out.plan.body.data, out.plan.body.len, "a0");
    assert_string_equal(text, "Hello from the fake arena. Hello from the fake arena.");
    free(text);
    fake_outcome_clear(&out);

    /* ttfb delays the head; midclose drops at once unless wait= says otherwise. */
    t_handle(a, t_body25("fake-chat", "[[fake:text ttfb=250]]"), NULL, &out);
    assert_int_equal(out.plan.head_delay_ms, 250);
    assert_int_equal(out.plan.end_delay_ms, 0);
    fake_outcome_clear(&out);
    t_handle(a, t_body25("fake-chat", "[[fake:midclose]]"), NULL, &out);
    assert_int_equal(out.plan.end_delay_ms, 0);
    fake_outcome_clear(&out);
    t_handle(a, t_body25("fake-chat", "[[fake:midclose wait=7]]"), NULL, &out);
    assert_int_equal(out.plan.end_delay_ms, 7);
    fake_outcome_clear(&out);

    /* echo: the answer is the upstream body, token included. */
    json_t *body = t_body25("fake-chat", "Echo me [[fake:echo]]");
    json_t *sent = json_deep_copy(body);
    t_handle(a, body, NULL, &out);
    text = t_join(out.plan.body.data, out.plan.body.len, "a0");
    json_t *echoed = json_loads(text, 0, NULL);
    assert_non_null(echoed);
    assert_true(json_equal(echoed, out.body)); /* the event's body is what LMArena got */
    const char *token = json_string_value(json_object_get(out.recaptcha, "token"));
    assert_non_null(token);
    assert_string_equal(json_string_value(json_object_get(echoed, FAKE_ARENA_RC_FIELD)), token);
    json_object_del(echoed, FAKE_ARENA_RC_FIELD);
    assert_true(json_equal(echoed, sent));
    json_decref(echoed);
    json_decref(sent);
    free(text);
    fake_outcome_clear(&out);

    /* recaptcha times=2 fails twice per directive text, then answers. */
    static const int want[] = {403, 403, 200, 200};
    for (int i = 0; i < 4; i++) {
        t_handle(a, t_body25("fake-chat", "[[fake:recaptcha times=2]]"), NULL, &out);
        assert_int_equal(out.plan.status, want[i]);
        fake_outcome_clear(&out);
    }
    t_handle(a, t_body25("fake-chat", "[[fake:recaptcha times=2 text=other]]"), NULL, &out);
    assert_int_equal(out.plan.status, 403);
    fake_outcome_clear(&out);

    /* text then="…": the first fetch of this exact directive answers text,
       every later one then; another directive text counts apart. */
    static const char *const said[] = {"first", "second", "second"};
    for (int i = 0; i < 3; i++) {
        t_handle(a, t_body25("fake-chat", "Q [[fake:text text=first then=second]]"), NULL, &out);
        assert_int_equal(out.plan.status, 200);
        text = t_join(out.plan.body.data, out.plan.body.len, "a0");
        assert_string_equal(text, said[i]);
        free(text);
        fake_outcome_clear(&out);
    }
    t_handle(a, t_body25("fake-chat", "Q [[fake:text text=first then=\"an other\"]]"), NULL, &out);
    text = t_join(out.plan.body.data, out.plan.body.len, "a0");
    assert_string_equal(text, "first");
    free(text);
    fake_outcome_clear(&out);
    t_handle(a, t_body25("fake-chat", "Q [[fake:text text=first then=\"an other\"]]"), NULL, &out);
    text = t_join(out.plan.body.data, out.plan.body.len, "a0");
    assert_string_equal(text, "an other");
    free(text);
    fake_outcome_clear(&out);
    /* without then= the text scenario is not counted: always text */
    for (int i = 0; i < 2; i++) {
        t_handle(a, t_body25("fake-chat", "Q [[fake:text text=first]]"), NULL, &out);
        text = t_join(out.plan.body.data, out.plan.body.len, "a0");
        assert_string_equal(text, "first");
        free(text);
        fake_outcome_clear(&out);
    }
    fake_arena_destroy(&a);
}

static void test_scenario_split_and_long(void **state)
{
    (void)state;
    fake_arena_t *a = t_arena_era("2025");
    fake_outcome_t whole, split;
    t_handle(a, t_body25("fake-chat", "[[fake:text text=\"héllo wörld 漢字 😀 done\"]]"), NULL,
             &whole);
    t_handle(a,
             t_body25("fake-chat", "[[fake:text text=\"héllo wörld 漢字 😀 done\" split=1 seed=7]]"),
             NULL, &split);
    char *g1 = t_glue(&whole.plan), *g2 = t_glue(&split.plan);
    /* Same bytes but the prompt-token count (the directive is longer). */
    assert_memory_equal(g1, g2, strlen(g1) - 40);
    assert_true(split.plan.n_chunks > whole.plan.n_chunks);
    size_t mid_line = 0;
    for (size_t i = 0; i < split.plan.n_chunks; i++) {
        const fake_chunk_t *c = &split.plan.chunks[i];
        assert_true(c->len > 0);
        assert_false(t_is_cont((unsigned char)split.plan.body.data[c->off]));
        mid_line += split.plan.body.data[c->off + c->len - 1] != '\n';
    }
    assert_true(mid_line > 0);
    free(g1);
    free(g2);
    fake_outcome_clear(&whole);
    fake_outcome_clear(&split);

    /* long: N code points of mixed UTF-8 in ~8 KiB chunks cut mid-line. */
    fake_outcome_t lo;
    t_handle(a, t_body25("fake-chat", "[[fake:long chars=20000]]"), NULL, &lo);
    char *text = t_join(lo.plan.body.data, lo.plan.body.len, "a0");
    assert_int_equal(fake_utf8_chars(text, strlen(text)), 20000);
    assert_non_null(strstr(text, "é"));
    assert_non_null(strstr(text, "漢"));
    assert_non_null(strstr(text, "😀"));
    size_t total = 0;
    mid_line = 0;
    for (size_t i = 0; i < lo.plan.n_chunks; i++) {
        const fake_chunk_t *c = &lo.plan.chunks[i];
        assert_true(c->len <= 8192 + 3);
        assert_false(t_is_cont((unsigned char)lo.plan.body.data[c->off]));
        mid_line += lo.plan.body.data[c->off + c->len - 1] != '\n';
        total += c->len;
    }
    assert_int_equal(total, lo.plan.body.len);
    assert_true(mid_line > 0);
    assert_true(lo.plan.n_chunks >= 3);
    free(text);
    fake_outcome_clear(&lo);
    fake_arena_destroy(&a);
}

/* ----------------------------------------------------- validation table */

typedef struct {
    const char *what;
    const char *del;   /* top-level key to delete, or NULL */
    const char *patch; /* JSON object merged into the body, or NULL */
    t_req_opts_t req;
    int status;         /* 0: a page-side fail */
    const char *needle; /* in the body (or the fail message) */
    const char *stage;  /* page-side fail stage */
} val_case_t;

static const val_case_t s_val_cases[] = {
    {"valid", NULL, NULL, {0}, 200, "a0:", NULL},
    {"no id",
     "id",
     NULL,
     {0},
     400,
     "ZodError: [{\"code\":\"invalid_type\",\"expected\":\"string\","
     "\"received\":\"undefined\",\"path\":[\"id\"]",
     NULL},
    {"no userMessageId", "userMessageId", NULL, {0}, 400, "\"path\":[\"userMessageId\"]", NULL},
    {"no modelAMessageId",
     "modelAMessageId",
     NULL,
     {0},
     400,
     "\"path\":[\"modelAMessageId\"]",
     NULL},
    {"no modelBMessageId",
     "modelBMessageId",
     NULL,
     {0},
     400,
     "\"path\":[\"modelBMessageId\"]",
     NULL},
    {"no modelAId", "modelAId", NULL, {0}, 400, "\"path\":[\"modelAId\"]", NULL},
    {"no mode", "mode", NULL, {0}, 400, "\"path\":[\"mode\"]", NULL},
    {"no modality", "modality", NULL, {0}, 400, "\"path\":[\"modality\"]", NULL},
    {"no userMessage", "userMessage", NULL, {0}, 400, "\"path\":[\"userMessage\"]", NULL},
    {"id not a uuid", NULL, "{\"id\":\"not-a-uuid\"}", {0}, 400, "Invalid uuid", NULL},
    {"id a v4 uuid",
     NULL,
     "{\"userMessageId\":\"2f1c3b6e-1a2b-4c3d-8e4f-5a6b7c8d9e0f\"}",
     {0},
     400,
     "Invalid uuid",
     NULL},
    {"id a number", NULL, "{\"modelBMessageId\":7}", {0}, 400, "received\":\"number", NULL},
    {"mode battle", NULL, "{\"mode\":\"battle\"}", {0}, 400, "invalid_enum_value", NULL},
    {"modality video", NULL, "{\"modality\":\"video\"}", {0}, 400, "invalid_enum_value", NULL},
    {"content a number",
     NULL,
     "{\"userMessage\":{\"content\":5,\"metadata\":{}}}",
     {0},
     400,
     "\"path\":[\"userMessage\",\"content\"]",
     NULL},
    {"no metadata",
     NULL,
     "{\"userMessage\":{\"content\":\"x\"}}",
     {0},
     400,
     "\"path\":[\"userMessage\",\"metadata\"]",
     NULL},
    {"attachments an object",
     NULL,
     "{\"userMessage\":{\"content\":\"x\",\"metadata\":{},\"experimental_attachments\":{}}}",
     {0},
     400,
     "experimental_attachments",
     NULL},
    {"attachment without url",
     NULL,
     "{\"userMessage\":{\"content\":\"x\",\"metadata\":{},\"experimental_attachments\":"
     "[{\"name\":\"a.png\",\"contentType\":\"image/png\"}]}}",
     {0},
     400,
     "\"path\":[\"userMessage\",\"experimental_attachments\",0,\"url\"]",
     NULL},
    {"attachment ok",
     NULL,
     "{\"userMessage\":{\"content\":\"x\",\"metadata\":{},\"experimental_attachments\":"
     "[{\"name\":\"a.png\",\"contentType\":\"image/png\",\"url\":\"data:image/"
     "png;base64,AA==\"}]}}",
     {0},
     200,
     "a0:",
     NULL},
    {"unknown model",
     NULL,
     "{\"modelAId\":\"2f1c3b6e-1a2b-4c3d-8e4f-5a6b7c8d9e0f\"}",
     {0},
     400,
     "model 2f1c3b6e-1a2b-4c3d-8e4f-5a6b7c8d9e0f not found",
     NULL},
    {"wrong modality", NULL, "{\"modality\":\"image\"}", {0}, 400, "Invalid modality", NULL},
    {"not a body", NULL, NULL, {.no_recaptcha = true}, 400, "ZodError", NULL},
    {"url", NULL, NULL, {.url = "/api/stream/create-evaluation"}, 404, "could not be found", NULL},
    {"absolute url", NULL, NULL, {.url = T_ORIGIN FAKE_ARENA_PATH}, 200, "a0:", NULL},
    {"method", NULL, NULL, {.method = "PUT"}, 405, "Method Not Allowed", NULL},
    {"content type",
     NULL,
     NULL,
     {.content_type = "application/json"},
     400,
     "Unsupported content-type",
     NULL},
    {"no recaptcha", NULL, NULL, {.no_recaptcha = true}, 403, "recaptcha validation failed", NULL},
    {"token for another action",
     NULL,
     NULL,
     {.action = "login"},
     403,
     "recaptcha validation failed",
     NULL},
    {"own sitekey", NULL, NULL, {.sitekey = FAKE_ARENA_SITEKEY_2025}, 200, "a0:", NULL},
    {"wrong sitekey", NULL, NULL, {.sitekey = "6LcWrongKey"}, 0, "Invalid site key", "recaptcha"},
    {"the 2026 sitekey",
     NULL,
     NULL,
     {.sitekey = FAKE_ARENA_SITEKEY_2026},
     0,
     "Invalid site key",
     "recaptcha"},
    {"mode direct-battle",
     NULL,
     "{\"mode\":\"direct-battle\"}",
     {0},
     400,
     "invalid_enum_value",
     NULL},
    {"forced", NULL, NULL, {.force = "toolarge"}, 413, "Payload too large", NULL},
    {"fallback", NULL, NULL, {.fallback = "moderation"}, 422, "Request rejected", NULL},
};

/*  Runs a validation table against an arena of era with bodies from mk. */
static void t_val_table(const val_case_t *cases, size_t n, const char *era,
                        json_t *(*mk)(const char *, const char *))
{
    fake_arena_t *a = t_arena_era(era);
    for (size_t i = 0; i < n; i++) {
        const val_case_t *c = &cases[i];
        json_t *body = mk("fake-chat", "Hi");
        if (c->del)
            json_object_del(body, c->del);
        if (c->patch) {
            json_t *patch = json_loads(c->patch, 0, NULL);
            assert_int_equal(json_object_update(body, patch), 0);
            json_decref(patch);
        }
        if (strcmp(c->what, "not a body") == 0) {
            json_decref(body);
            body = json_string("this is not JSON");
        }
        fake_outcome_t out;
        t_handle(a, body, &c->req, &out);
        char *glued = t_glue(&out.plan);
        /* JSON error bodies are searched in their decoded "error" string. */
        json_t *ej = json_loads(glued, 0, NULL);
        const char *msg = json_string_value(json_object_get(ej, "error"));
        if (msg) {
            char *copy = strdup(msg);
            free(glued);
            glued = copy;
        }
        json_decref(ej);
        if (c->status == 0) {
            assert_int_equal(out.plan.end, FAKE_END_FAIL);
            assert_string_equal(out.plan.fail_stage, c->stage);
            assert_non_null(strstr(out.plan.fail_message, c->needle));
        } else if (out.plan.status != c->status || !strstr(glued, c->needle)) {
            fail_msg("case %zu (%s): status %d body %s; want %d with %s", i, c->what,
                     out.plan.status, glued, c->status, c->needle);
        }
        assert_int_equal(out.rejected, c->status != 200 && !c->req.force && !c->req.fallback);
        free(glued);
        fake_outcome_clear(&out);
    }
    fake_arena_destroy(&a);
}

static void test_validation_table(void **state)
{
    (void)state;
    /* The 2025 schema and steps (the 2026 differences follow). */
    t_val_table(s_val_cases, sizeof s_val_cases / sizeof s_val_cases[0], "2025", t_body25);
}

/*  2026 (the default): the modes of the site's Zod enum with "direct"
    refused for a new conversation, modelBMessageId optional for
    direct-battle, the new site key. */
static const val_case_t s_val_cases_2026[] = {
    {"valid direct-battle without modelBMessageId", NULL, NULL, {0}, 200, "a0:", NULL},
    {"mode direct",
     NULL,
     "{\"mode\":\"direct\"}",
     {0},
     400,
     "'direct' mode is not allowed when starting a new conversation",
     NULL},
    {"mode bogus",
     NULL,
     "{\"mode\":\"bogus\"}",
     {0},
     400,
     "Invalid enum value. Expected 'direct' | 'direct-battle' | 'side-by-side' | 'battle', "
     "received 'bogus'",
     NULL},
    {"no mode", "mode", NULL, {0}, 400, "\"path\":[\"mode\"]", NULL},
    {"with a fresh modelBMessageId",
     NULL,
     "{\"modelBMessageId\":\"0190b2c3-d4e5-7f60-8123-456789abcdef\"}",
     {0},
     200,
     "a0:",
     NULL},
    {"modelBMessageId a v4 uuid",
     NULL,
     "{\"modelBMessageId\":\"2f1c3b6e-1a2b-4c3d-8e4f-5a6b7c8d9e0f\"}",
     {0},
     400,
     "Invalid uuid",
     NULL},
    {"modelBMessageId a number",
     NULL,
     "{\"modelBMessageId\":7}",
     {0},
     400,
     "received\":\"number",
     NULL},
    {"battle needs modelBMessageId",
     NULL,
     "{\"mode\":\"battle\"}",
     {0},
     400,
     "\"path\":[\"modelBMessageId\"],\"message\":\"Required\"",
     NULL},
    {"side-by-side needs modelBMessageId",
     NULL,
     "{\"mode\":\"side-by-side\"}",
     {0},
     400,
     "\"path\":[\"modelBMessageId\"]",
     NULL},
    {"side-by-side with modelBMessageId",
     NULL,
     "{\"mode\":\"side-by-side\",\"modelBMessageId\":\"0190b2c3-d4e5-7f60-8123-456789abcdf0\"}",
     {0},
     200,
     "a0:",
     NULL},
    {"no userMessageId", "userMessageId", NULL, {0}, 400, "\"path\":[\"userMessageId\"]", NULL},
    {"own sitekey", NULL, NULL, {.sitekey = FAKE_ARENA_SITEKEY_2026}, 200, "a0:", NULL},
    {"the 2025 sitekey",
     NULL,
     NULL,
     {.sitekey = FAKE_ARENA_SITEKEY_2025},
     0,
     "Invalid site key",
     "recaptcha"},
    {"no recaptcha", NULL, NULL, {.no_recaptcha = true}, 403, "recaptcha validation failed", NULL},
    {"unknown model",
     NULL,
     "{\"modelAId\":\"2f1c3b6e-1a2b-4c3d-8e4f-5a6b7c8d9e0f\"}",
     {0},
     400,
     "model 2f1c3b6e-1a2b-4c3d-8e4f-5a6b7c8d9e0f not found",
     NULL},
};

static void test_validation_2026(void **state)
{
    (void)state;
    t_val_table(s_val_cases_2026, sizeof s_val_cases_2026 / sizeof s_val_cases_2026[0], NULL,
                t_body);
    /* The twin: the stale row's id is 404 "Models not found: <id>", the
       live row's answers; the hidden row is not for users. */
    char stale[UUID_STR_LEN], live[UUID_STR_LEN], hidden[UUID_STR_LEN];
    fake_link_model_uuid7(FAKE_ARENA_TWIN, FAKE_LINK_UUID7_STALE_MS, stale);
    fake_link_model_id(FAKE_ARENA_TWIN, NULL, live);
    fake_link_model_id(FAKE_ARENA_HIDDEN, NULL, hidden);
    char want_stale[128];
    snprintf(want_stale, sizeof want_stale, "{\"error\":\"Models not found: %s\"}", stale);
    static const char want_hidden[] =
        "{\"error\":\"Selected model is not available for user selection\"}";
    const struct {
        const char *era, *id;
        int status;
        const char *body; /* exact, or NULL */
    } rows[] = {
        {NULL, stale, 404, want_stale},   {NULL, live, 200, NULL},
        {NULL, hidden, 400, want_hidden}, {"2025", live, 400, NULL}, /* no such rows in 2025 */
        {"2025", hidden, 400, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fake_arena_t *a = t_arena_era(rows[i].era);
        json_t *b = rows[i].era ? t_body25("fake-chat", "Hi") : t_body("fake-chat", "Hi");
        json_object_set_new(b, "modelAId", json_string(rows[i].id));
        fake_outcome_t out;
        t_handle(a, b, NULL, &out);
        char *glued = t_glue(&out.plan);
        if (out.plan.status != rows[i].status || (rows[i].body && strcmp(glued, rows[i].body)))
            fail_msg("row %zu: %d %s", i, out.plan.status, glued);
        if (rows[i].era && !strstr(glued, "Invalid modelAId"))
            fail_msg("row %zu: %s", i, glued);
        assert_int_equal(out.rejected, rows[i].status != 200);
        free(glued);
        fake_outcome_clear(&out);
        fake_arena_destroy(&a);
    }
    /* The era's name is checked. */
    fake_arena_config_t cfg = {T_ORIGIN, NULL, 0, NULL, 0, 0, "2024"};
    char err[200] = "";
    assert_null(fake_arena_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "2024"));
    fake_era_t era;
    assert_int_equal(fake_era_parse(NULL, &era), 0);
    assert_int_equal(era, FAKE_ERA_2026);
    assert_int_equal(fake_era_parse("2025", &era), 0);
    assert_int_equal(era, FAKE_ERA_2025);
    assert_int_equal(fake_era_parse("", &era), -1);
    /* Switching at run time: the next request follows the new era. */
    fake_arena_t *a = t_arena();
    assert_string_equal(fake_arena_sitekey(a), FAKE_ARENA_SITEKEY_2026);
    fake_arena_set_era(a, FAKE_ERA_2025);
    assert_int_equal(fake_arena_era(a), FAKE_ERA_2025);
    assert_string_equal(fake_arena_sitekey(a), FAKE_ARENA_SITEKEY_2025);
    fake_outcome_t out;
    t_handle(a, t_body25("fake-chat", "Hi"), NULL, &out);
    assert_int_equal(out.plan.status, 200);
    fake_outcome_clear(&out);
    t_handle(a, t_body("fake-chat", "Hi"), NULL, &out);
    assert_int_equal(out.plan.status, 400);
    fake_outcome_clear(&out);
    fake_arena_destroy(&a);
}

#define T_TEXT_2026(p)                                                                             \
    "a0:\"Hello fr\"\nbg:\"B weighs it.\"\na0:\"om the fa\"\nb0:\"Participant B \"\n"              \
    "a0:\"ke arena.\"\nb0:\"must never rea\"\nb0:\"ch the "                                        \
    "client.\"\nbd:{\"finishReason\":\"stop\","                                                    \
    "\"usage\":{\"promptTokens\":" #p ",\"completionTokens\":11}}\n" T_FIN(p, 7)

/*  Participant B of a 2026 direct-battle: woven between A's lines, with
    bfail=1 failing while A completes; never in 2025. */
static void test_participant_b(void **state)
{
    (void)state;
    fake_arena_t *a = t_arena();
    fake_outcome_t out;
    t_handle(a, t_body("fake-chat", "Hello?"), NULL, &out);
    char *glued = t_glue(&out.plan);
    assert_string_equal(glued, T_TEXT_2026(2));
    assert_int_equal(out.plan.n_chunks, 9); /* one line per chunk */
    char *b = t_join(out.plan.body.data, out.plan.body.len, "b0");
    assert_string_equal(b, FAKE_ARENA_B_ANSWER);
    free(b);
    free(glued);
    fake_outcome_clear(&out);

    t_handle(a, t_body("fake-chat", "Hey [[fake:text bfail=1]]"), NULL, &out);
    glued = t_glue(&out.plan);
    assert_string_equal(glued, "a0:\"Hello fr\"\nbg:\"B weighs it.\"\na0:\"om the fa\"\n"
                               "b0:\"Participant B \"\na0:\"ke arena.\"\nb3:\"B failed\"\n"
                               "b0:\"hasArenaError\"\n" T_FIN(7, 7));
    char *text = t_join(out.plan.body.data, out.plan.body.len, "a0");
    assert_string_equal(text, FAKE_ARENA_ANSWER); /* A completes */
    free(text);
    free(glued);
    fake_outcome_clear(&out);

    /* Paced chunks keep their delays; B's go right after A's. */
    t_handle(a, t_body("fake-chat", "[[fake:drip ms=20 count=4]]"), NULL, &out);
    size_t a_lines = 0;
    for (size_t i = 0; i < out.plan.n_chunks; i++) {
        const fake_chunk_t *c = &out.plan.chunks[i];
        bool is_a = out.plan.body.data[c->off] == 'a';
        a_lines += is_a;
        assert_int_equal(c->delay_ms, is_a && a_lines <= 4 ? 20 : 0);
    }
    assert_int_equal(a_lines, 5);
    fake_outcome_clear(&out);
    /* Format keys apply to B too; failures and midclose carry none. */
    t_handle(a, t_body("fake-chat", "[[fake:text prefix=data]]"), NULL, &out);
    assert_non_null(strstr(out.plan.body.data, "\ndata: bg:\"B weighs it.\"\n"));
    fake_outcome_clear(&out);
    t_handle(a, t_body("fake-chat", "[[fake:long chars=3000]]"), NULL, &out);
    b = t_join(out.plan.body.data, out.plan.body.len, "b0");
    assert_string_equal(b, FAKE_ARENA_B_ANSWER);
    free(b);
    fake_outcome_clear(&out);
    assert_int_equal(fake_link_directive_check("text bfail=2", NULL, 0), -1);
    assert_int_equal(fake_link_directive_check("stall bfail=1", NULL, 0), 0);
    fake_arena_destroy(&a);

    /* 2025: A's lines only, bfail or not. */
    a = t_arena_era("2025");
    t_handle(a, t_body25("fake-chat", "Hey [[fake:text bfail=1]]"), NULL, &out);
    glued = t_glue(&out.plan);
    assert_string_equal(glued, "a0:\"Hello fr\"\na0:\"om the fa\"\na0:\"ke arena.\"\n" T_FIN(7, 7));
    free(glued);
    fake_outcome_clear(&out);
    fake_arena_destroy(&a);
}

/*  promptfailed: 429 {"error":"prompt failed"} without Retry-After; with
    times=N only the first N fetches of that directive. */
static void test_promptfailed(void **state)
{
    (void)state;
    static const char *const eras[] = {NULL, "2025"};
    for (size_t e = 0; e < 2; e++) {
        fake_arena_t *a = t_arena_era(eras[e]);
        static const int want[] = {429, 429, 200};
        for (int i = 0; i < 3; i++) {
            fake_outcome_t out;
            const char *content = "Hi [[fake:promptfailed times=2]]";
            t_handle(a, eras[e] ? t_body25("fake-chat", content) : t_body("fake-chat", content),
                     NULL, &out);
            char *glued = t_glue(&out.plan);
            assert_int_equal(out.plan.status, want[i]);
            if (want[i] == 429) {
                assert_string_equal(glued, "{\"error\":\"prompt failed\"}");
                assert_string_equal(out.plan.content_type, "application/json");
                assert_false(out.rejected); /* the site's answer, not validation */
            } else {
                assert_non_null(strstr(glued, "a0:\"Hello fr\""));
            }
            assert_string_equal(out.plan.retry_after, "");
            assert_string_equal(out.scenario, "promptfailed");
            free(glued);
            fake_outcome_clear(&out);
        }
        fake_outcome_t out;
        t_handle(a,
                 eras[e] ? t_body25("fake-chat", "[[fake:promptfailed]]")
                         : t_body("fake-chat", "[[fake:promptfailed]]"),
                 NULL, &out);
        assert_int_equal(out.plan.status, 429);
        fake_outcome_clear(&out);
        fake_arena_destroy(&a);
    }
}

/*  Sends one fresh request of account; its status (pace_violation copied). */
static int t_paced(fake_arena_t *a, const char *account, bool *violation)
{
    t_req_opts_t o = {.account = account};
    fake_outcome_t out;
    t_handle(a, t_body("fake-chat", "Hi"), &o, &out);
    int status = out.plan.status;
    if (violation)
        *violation = out.pace_violation;
    if (status == 429) {
        char *glued = t_glue(&out.plan);
        assert_string_equal(glued, "{\"error\":\"prompt failed\"}");
        assert_string_equal(out.plan.retry_after, "");
        assert_true(out.rejected);
        assert_non_null(strstr(out.reason, "pace"));
        free(glued);
    }
    fake_outcome_clear(&out);
    return status;
}

static void test_pace(void **state)
{
    (void)state;
    fake_arena_t *a = t_arena();
    bool v = true;
    /* Off by default. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(t_paced(a, NULL, &v), 200);
    assert_false(v);
    /* The interval rule, per account; no account is "default". */
    fake_pace_t iv = {60000, 0, 0};
    assert_int_equal(fake_arena_set_pace(a, &iv), 0);
    assert_int_equal(t_paced(a, T_ACCOUNT_A, &v), 200);
    assert_int_equal(t_paced(a, T_ACCOUNT_A, &v), 429);
    assert_true(v);
    assert_int_equal(t_paced(a, T_ACCOUNT_B, &v), 200);
    assert_false(v);
    assert_int_equal(t_paced(a, NULL, NULL), 200);
    assert_int_equal(t_paced(a, FAKE_ARENA_ACCOUNT_DEFAULT, NULL), 429);
    assert_int_equal(t_paced(a, "", NULL), 429);
    /* A violation does not count: once interval_ms has passed since the
       last accepted one, the account is served again. */
    fake_pace_t short_iv = {60, 0, 0};
    assert_int_equal(fake_arena_set_pace(a, &short_iv), 0);
    long long t0 = t_now_ms();
    assert_int_equal(t_paced(a, T_ACCOUNT_A, NULL), 200);
    int status;
    while ((status = t_paced(a, T_ACCOUNT_A, NULL)) == 429)
        if (t_now_ms() - t0 > T_WAIT_MS)
            fail_msg("still paced after %d ms", T_WAIT_MS);
        else
            usleep(5000);
    assert_int_equal(status, 200);
    assert_true(t_now_ms() - t0 >= 60);
    /* The window rule: at most COUNT accepted within window_ms. */
    fake_pace_t win = {0, 2, 60000};
    assert_int_equal(fake_arena_set_pace(a, &win), 0);
    assert_int_equal(t_paced(a, T_ACCOUNT_A, NULL), 200);
    assert_int_equal(t_paced(a, T_ACCOUNT_A, NULL), 200);
    assert_int_equal(t_paced(a, T_ACCOUNT_A, &v), 429);
    assert_true(v);
    assert_int_equal(t_paced(a, T_ACCOUNT_B, NULL), 200);
    /* Off again; bad rules are refused and change nothing. */
    fake_pace_t bad[] = {
        {0, 2, 0}, {0, FAKE_ARENA_MAX_PACE_WINDOW + 1, 10}, {FAKE_ARENA_MAX_PACE_MS + 1, 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fake_arena_set_pace(a, &bad[i]), -1);
    assert_int_equal(t_paced(a, T_ACCOUNT_A, NULL), 429);
    assert_int_equal(fake_arena_set_pace(a, NULL), 0);
    assert_int_equal(t_paced(a, T_ACCOUNT_A, NULL), 200);
    /* More accounts than remembered: the oldest are forgotten, bounded. */
    assert_int_equal(fake_arena_set_pace(a, &iv), 0);
    char name[32];
    for (int i = 0; i <= FAKE_ARENA_MAX_ACCOUNTS; i++) {
        snprintf(name, sizeof name, "acct-%d", i);
        assert_int_equal(t_paced(a, name, NULL), 200);
    }
    assert_int_equal(t_paced(a, "acct-0", NULL), 200); /* evicted: a new account */
    assert_int_equal(t_paced(a, name, NULL), 429);
    fake_arena_destroy(&a);
}

static void test_duplicates_and_attachment_limits(void **state)
{
    (void)state;
    fake_arena_t *a = t_arena_era("2025"); /* four ids per body */
    fake_outcome_t out;
    json_t *body = t_body25("fake-chat", "Hi");
    t_handle(a, json_deep_copy(body), NULL, &out);
    assert_int_equal(out.plan.status, 200);
    fake_outcome_clear(&out);
    /* The very same body again: its session id was used. */
    t_handle(a, json_deep_copy(body), NULL, &out);
    assert_int_equal(out.plan.status, 400);
    assert_non_null(strstr(out.plan.body.data, "duplicate evaluation session id"));
    fake_outcome_clear(&out);
    /* A fresh session id but an old message id. */
    char fresh[UUID_STR_LEN];
    uuid7_generate(fresh);
    json_object_set_new(body, "id", json_string(fresh));
    t_handle(a, json_deep_copy(body), NULL, &out);
    assert_int_equal(out.plan.status, 400);
    assert_non_null(strstr(out.plan.body.data, "duplicate message id"));
    fake_outcome_clear(&out);
    json_decref(body);
    /* Two equal ids inside one body. */
    body = t_body25("fake-chat", "Hi");
    json_object_set(body, "modelBMessageId", json_object_get(body, "modelAMessageId"));
    t_handle(a, body, NULL, &out);
    assert_int_equal(out.plan.status, 400);
    assert_non_null(strstr(out.plan.body.data, "duplicate"));
    fake_outcome_clear(&out);
    /* A refused request's ids are not remembered... */
    body = t_body25("fake-chat", "Hi");
    json_t *good_model = json_incref(json_object_get(body, "modelAId"));
    json_object_set_new(body, "modelAId", json_string("2f1c3b6e-1a2b-4c3d-8e4f-5a6b7c8d9e0f"));
    t_handle(a, json_deep_copy(body), NULL, &out);
    assert_int_equal(out.plan.status, 400);
    fake_outcome_clear(&out);
    json_object_set_new(body, "modelAId", good_model);
    t_handle(a, body, NULL, &out);
    assert_int_equal(out.plan.status, 200);
    fake_outcome_clear(&out);
    /* ...but an accepted one's are, even when its scenario then fails
       (every attempt must use fresh ids). */
    body = t_body25("fake-chat", "[[fake:ratelimit]]");
    t_handle(a, json_deep_copy(body), NULL, &out);
    assert_int_equal(out.plan.status, 429);
    fake_outcome_clear(&out);
    t_handle(a, body, NULL, &out);
    assert_int_equal(out.plan.status, 400);
    fake_outcome_clear(&out);
    /* Image input only where the model takes it; attachments up to 5 MiB. */
    body = t_body25("fake-chat-2", "Hi");
    json_array_append_new(
        json_object_get(json_object_get(body, "userMessage"), "experimental_attachments"),
        json_pack("{s:s,s:s,s:s}", "name", "a.png", "contentType", "image/png", "url",
                  "data:image/png;base64,AA=="));
    t_handle(a, body, NULL, &out);
    assert_int_equal(out.plan.status, 400);
    assert_non_null(strstr(out.plan.body.data, "does not support image input"));
    fake_outcome_clear(&out);
    char *big = malloc(FAKE_ARENA_MAX_ATTACHMENT + 2);
    assert_non_null(big);
    memset(big, 'A', FAKE_ARENA_MAX_ATTACHMENT + 1);
    big[FAKE_ARENA_MAX_ATTACHMENT + 1] = '\0';
    body = t_body25("fake-chat", "Hi");
    json_array_append_new(
        json_object_get(json_object_get(body, "userMessage"), "experimental_attachments"),
        json_pack("{s:s,s:s,s:s}", "name", "a.png", "contentType", "image/png", "url", big));
    free(big);
    t_handle(a, body, NULL, &out);
    assert_int_equal(out.plan.status, 413);
    fake_outcome_clear(&out);
    /* Modality must follow the model. */
    body = t_body25("fake-image", "Draw");
    json_object_set_new(body, "modality", json_string("image"));
    t_handle(a, body, NULL, &out);
    assert_int_equal(out.plan.status, 200);
    fake_outcome_clear(&out);
    fake_arena_destroy(&a);
}

static void test_id_memory_is_bounded(void **state)
{
    (void)state;
    fake_arena_config_t cfg = {T_ORIGIN, NULL, 0, NULL, 0, 64, NULL};
    char err[200];
    fake_arena_t *a = fake_arena_new(&cfg, err, sizeof err);
    assert_non_null(a);
    json_t *first = t_body("fake-chat", "Hi");
    fake_outcome_t out;
    t_handle(a, json_deep_copy(first), NULL, &out);
    assert_int_equal(out.plan.status, 200);
    fake_outcome_clear(&out);
    for (int i = 0; i < 40; i++) { /* 160 ids: more than the memory of 64 */
        t_handle(a, t_body("fake-chat", "Hi"), NULL, &out);
        assert_int_equal(out.plan.status, 200);
        fake_outcome_clear(&out);
    }
    t_handle(a, first, NULL, &out); /* forgotten by now */
    assert_int_equal(out.plan.status, 200);
    fake_outcome_clear(&out);
    fake_arena_destroy(&a);
}

/* ------------------------------------------------------------- the page */

/*  Concatenates the decoded strings of every self.__next_f.push([1,"…"]). */
static char *t_flight(const char *html)
{
    static const char marker[] = "self.__next_f.push([1,\"";
    abuf_t out = ABUF_INIT;
    for (const char *p = strstr(html, marker); p; p = strstr(p, marker)) {
        const char *s = p + sizeof marker - 2, *e = s + 1;
        while (*e && *e != '"')
            e += *e == '\\' ? 2 : 1;
        json_t *v = json_loadb(s, (size_t)(e - s + 1), JSON_DECODE_ANY, NULL);
        assert_true(json_is_string(v));
        assert_int_equal(abuf_append(&out, json_string_value(v), json_string_length(v)), 0);
        json_decref(v);
        p = e;
    }
    assert_int_equal(abuf_append(&out, "", 0), 0);
    return abuf_steal(&out, NULL);
}

/*  The props object of flight row `N:["$","$L…",null,{…}]`. */
static json_t *t_row_props(const char *flight, const char *row)
{
    /* at the start of a line: "6:" also occurs inside "16:9" */
    size_t n = strlen(row);
    const char *p = strncmp(flight, row, n) == 0 ? flight : NULL;
    for (const char *q = flight; !p && (q = strchr(q, '\n')) != NULL; q++)
        if (strncmp(q + 1, row, n) == 0)
            p = q + 1;
    assert_non_null(p);
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    size_t skip = strlen(row);
    json_t *arr = json_loadb(p + skip, (size_t)(nl - p - skip), 0, NULL);
    assert_true(json_is_array(arr));
    json_t *props = json_incref(json_array_get(arr, 3));
    json_decref(arr);
    return props;
}

static void test_page_catalog(void **state)
{
    (void)state;
    fake_link_model_t extra[] = {{"Evil </script><b>&", NULL, "chat", "", false}};
    fake_arena_config_t cfg = {T_ORIGIN, extra, 1, NULL, 0, 0, "2025"};
    char err[200];
    fake_arena_t *a = fake_arena_new(&cfg, err, sizeof err);
    assert_non_null(a);
    abuf_t html = ABUF_INIT;
    assert_int_equal(fake_arena_page(a, &html), 0);
    assert_null(strstr(html.data, "</script><b>")); /* escaped inside the script */
    assert_non_null(strstr(html.data, "<title>LMArena</title>"));
    assert_non_null(strstr(html.data, "?render=" FAKE_ARENA_SITEKEY_2025 "\""));
    assert_null(strstr(html.data, FAKE_ARENA_SITEKEY_2026));
    char *flight = t_flight(html.data);
    json_t *props = t_row_props(flight, "6:");
    json_t *models = json_object_get(props, "initialModels");
    assert_string_equal(json_string_value(json_object_get(props, "initialMode")), "direct");
    assert_int_equal(json_array_size(models), 5);
    static const struct {
        const char *name, *out_key;
        bool image_in;
    } want[] = {{"fake-chat", "text", true},
                {"fake-chat-2", "text", false},
                {"fake-image", "image", true},
                {"fake-search", "search", false},
                {"Evil </script><b>&", "text", false}};
    for (size_t i = 0; i < 5; i++) {
        json_t *m = json_array_get(models, i);
        char id[UUID_STR_LEN];
        fake_link_model_uuid(want[i].name, id);
        assert_string_equal(json_string_value(json_object_get(m, "publicName")), want[i].name);
        assert_string_equal(json_string_value(json_object_get(m, "id")), id);
        assert_true(uuid_is_valid(id));
        json_t *caps = json_object_get(m, "capabilities");
        json_t *in = json_object_get(caps, "inputCapabilities");
        json_t *outc = json_object_get(caps, "outputCapabilities");
        assert_true(json_is_true(json_object_get(in, "text")));
        assert_int_equal(json_is_true(json_object_get(in, "image")), want[i].image_in);
        assert_non_null(json_object_get(outc, want[i].out_key));
        assert_int_equal(json_object_size(outc), 1);
        /* anonymous models carry no organization */
        assert_int_equal(json_object_get(m, "organization") != NULL, i < 4);
        /* 2025 rows: none of the 2026 keys */
        assert_null(json_object_get(m, "displayName"));
        assert_null(json_object_get(m, "userSelectable"));
        assert_null(json_object_get(m, "name"));
    }
    json_t *img =
        json_object_get(json_object_get(json_object_get(json_array_get(models, 2), "capabilities"),
                                        "outputCapabilities"),
                        "image");
    assert_string_equal(json_string_value(json_array_get(json_object_get(img, "aspectRatios"), 0)),
                        "1:1");
    json_decref(props);
    /* The node's own catalog parser reads the same five. */
    arena_catalog_t cat = {0};
    assert_int_equal(arena_catalog_extract(html.data, html.len, 0, &cat), 5);
    assert_string_equal(cat.models[0].name, "fake-chat");
    assert_true(cat.models[0].input_image);
    assert_int_equal(cat.models[2].modality, ARENA_MODALITY_IMAGE);
    assert_int_equal(cat.models[3].modality, ARENA_MODALITY_SEARCH);
    assert_null(cat.models[4].organization);
    arena_catalog_clear(&cat);
    free(flight);
    abuf_free(&html);
    fake_arena_destroy(&a);

    /* Stable ids: the same name always gives the same v4-looking uuid. */
    char x[UUID_STR_LEN], y[UUID_STR_LEN];
    fake_link_model_uuid("fake-chat", x);
    fake_link_model_uuid("fake-chat", y);
    assert_string_equal(x, y);
    assert_int_equal(x[14], '4');
    fake_link_model_uuid("fake-chat-2", y);
    assert_string_not_equal(x, y);
}

/*  The UUIDv7 time of a canonical UUID text, in ms. */
static long long t_uuid7_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return strtoll(hex, NULL, 16);
}

static void test_page_catalog_2026(void **state)
{
    (void)state;
    fake_link_model_t extra[] = {
        {"my-model_x", NULL, "chat", NULL, false},
        {"pinned", "11111111-2222-4333-8444-555555555555", "chat", NULL, false}};
    fake_arena_config_t cfg = {T_ORIGIN, extra, 2, NULL, 0, 0, NULL};
    char err[200];
    fake_arena_t *a = fake_arena_new(&cfg, err, sizeof err);
    assert_non_null(a);
    abuf_t html = ABUF_INIT;
    assert_int_equal(fake_arena_page(a, &html), 0);
    assert_non_null(strstr(html.data, "enterprise.js?render=" FAKE_ARENA_SITEKEY_2026 "\""));
    assert_null(strstr(html.data, FAKE_ARENA_SITEKEY_2025));
    char *flight = t_flight(html.data);
    json_t *props = t_row_props(flight, "6:");
    assert_string_equal(json_string_value(json_object_get(props, "initialMode")), "direct-battle");
    json_t *models = json_object_get(props, "initialModels");
    static const struct {
        const char *name, *display;
        bool selectable;
        long long base_ms;
    } want[] = {
        {"fake-chat", "Fake Chat", true, FAKE_LINK_UUID7_BASE_MS},
        {"fake-chat-2", "Fake Chat 2", true, FAKE_LINK_UUID7_BASE_MS},
        {"fake-image", "Fake Image", true, FAKE_LINK_UUID7_BASE_MS},
        {"fake-search", "Fake Search", true, FAKE_LINK_UUID7_BASE_MS},
        {FAKE_ARENA_TWIN, "Fake Twin", true, FAKE_LINK_UUID7_STALE_MS}, /* stale, first */
        {FAKE_ARENA_TWIN, "Fake Twin", true, FAKE_LINK_UUID7_BASE_MS},  /* live */
        {FAKE_ARENA_HIDDEN, "Fake Hidden", false, FAKE_LINK_UUID7_BASE_MS},
        {"my-model_x", "My Model X", true, FAKE_LINK_UUID7_BASE_MS},
        {"pinned", "Pinned", true, 0},
    };
    size_t n = sizeof want / sizeof want[0];
    assert_int_equal(json_array_size(models), n);
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(models, i);
        static const char *const keys[] = {"id",           "publicName",    "name",
                                           "displayName",  "organization",  "provider",
                                           "capabilities", "userSelectable"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!json_object_get(m, keys[k]))
                fail_msg("row %zu (%s) lacks %s", i, want[i].name, keys[k]);
        assert_string_equal(json_string_value(json_object_get(m, "publicName")), want[i].name);
        assert_string_equal(json_string_value(json_object_get(m, "name")), want[i].name);
        assert_string_equal(json_string_value(json_object_get(m, "displayName")), want[i].display);
        assert_int_equal(json_is_true(json_object_get(m, "userSelectable")), want[i].selectable);
        const char *id = json_string_value(json_object_get(m, "id"));
        char expect[UUID_STR_LEN];
        if (want[i].base_ms) {
            fake_link_model_uuid7(want[i].name, want[i].base_ms, expect);
            assert_int_equal(id[14], '7'); /* a version 7 UUID */
            assert_true(strchr("89ab", id[19]) != NULL);
            long long ms = t_uuid7_ms(id);
            assert_true(ms >= want[i].base_ms && ms < want[i].base_ms + 86400000LL);
        } else {
            snprintf(expect, sizeof expect, "%s", extra[1].id); /* an explicit id stays */
        }
        assert_string_equal(id, expect);
    }
    /* The live twin is the newer row; both share the publicName. */
    assert_true(t_uuid7_ms(json_string_value(json_object_get(json_array_get(models, 5), "id"))) >
                t_uuid7_ms(json_string_value(json_object_get(json_array_get(models, 4), "id"))));
    char live[UUID_STR_LEN];
    fake_link_model_id(FAKE_ARENA_TWIN, NULL, live);
    assert_string_equal(json_string_value(json_object_get(json_array_get(models, 5), "id")), live);
    fake_link_model_id(FAKE_ARENA_TWIN, "2026", live);
    assert_string_equal(json_string_value(json_object_get(json_array_get(models, 5), "id")), live);
    /* The second flight row lists them again (parsers de-duplicate). */
    json_t *props2 = t_row_props(flight, "9:");
    assert_true(json_equal(json_object_get(props2, "models"), models));
    json_decref(props2);
    json_decref(props);
    /* The node's parser still reads the default rows with their v7 ids. */
    arena_catalog_t cat = {0};
    assert_true(arena_catalog_extract(html.data, html.len, 0, &cat) >= 4);
    for (size_t i = 0; i < 4; i++) {
        char id[UUID_STR_LEN];
        fake_link_model_id(want[i].name, NULL, id);
        assert_string_equal(cat.models[i].name, want[i].name);
        assert_string_equal(cat.models[i].id, id);
    }
    arena_catalog_clear(&cat);
    free(flight);
    abuf_free(&html);
    fake_arena_destroy(&a);
    /* Deterministic: the same name and base always give the same id. */
    char x[UUID_STR_LEN], y[UUID_STR_LEN];
    fake_link_model_uuid7("fake-chat", FAKE_LINK_UUID7_BASE_MS, x);
    fake_link_model_uuid7("fake-chat", FAKE_LINK_UUID7_BASE_MS, y);
    assert_string_equal(x, y);
    fake_link_model_id("fake-chat", "2025", y);
    assert_string_not_equal(x, y);
    assert_int_equal(y[14], '4');
}

static void test_models_file(void **state)
{
    (void)state;
    static const char good[] =
        "[{\"name\":\"my-model\",\"modality\":\"image\",\"image_input\":true},"
        "{\"name\":\"fake-chat\",\"id\":\"11111111-2222-4333-8444-555555555555\","
        "\"organization\":\"acme\"}]";
    fake_models_t m;
    char err[200];
    assert_int_equal(fake_models_build(NULL, 0, good, strlen(good), &m, err, sizeof err), 0);
    assert_int_equal(m.n, 5);
    assert_string_equal(m.models[0].id, "11111111-2222-4333-8444-555555555555");
    assert_string_equal(m.models[0].organization, "acme");
    assert_string_equal(m.models[4].name, "my-model");
    assert_string_equal(m.models[4].modality, "image");
    assert_true(m.models[4].image_input);
    fake_models_free(&m);
    static const char *const bad[] = {
        "{}",
        "[{\"id\":\"11111111-2222-4333-8444-555555555555\"}]",
        "[{\"name\":\"x\",\"modality\":\"video\"}]",
        "[{\"name\":\"x\",\"id\":\"nope\"}]",
        "[{\"name\":\"x\",\"image_input\":\"yes\"}]",
        "[{\"name\":\"\"}]",
        "[1]",
        "[",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (fake_models_build(NULL, 0, bad[i], strlen(bad[i]), &m, err, sizeof err) != -1)
            fail_msg("models file %s accepted", bad[i]);
        assert_true(err[0] != '\0');
        assert_null(m.models);
    }
}

/* ================================================= the node, in-process */

typedef struct {
    struct lws *wsi; /* NULL once closed */
    bool hello, closed;
    int close_code; /* the tab's close frame, or 1006 when it vanished */
    json_t *hello_frame;
    char origin[128];
    json_t *frames; /* every frame after hello, in order */
    json_t *outq;   /* strings to send */
    int close_with; /* >0: close with this code */
    abuf_t rx;
} ts_conn_t;

typedef struct {
    struct lws_context *ctx;
    pthread_t thread;
    atomic_bool stop;
    int port;
    pthread_mutex_t mtx; /* everything below */
    pthread_cond_t cond;
    bool ctx_gone;
    ts_conn_t conns[T_MAX_CONNS];
    size_t n_conns;
    char pending_origin[128];
    int bad_origins;
} tsrv_t;

typedef struct {
    int slot; /* conns index + 1 */
} ts_pss_t;

/*  A mutex another thread takes (the server's, the event sink's) is
    error-checking, so that teardown can release it when a failed assertion
    left the test body without unlocking it (cmocka unwinds with longjmp):
    otherwise joining that thread would wait forever instead of failing. */
static void t_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(m, &ma);
    pthread_mutexattr_destroy(&ma);
}

/*  Each thread's record of the locks it holds (t_lock/t_unlock), so that
    teardown can release one a failed assertion left held — and only then:
    unlocking a mutex this thread does not hold is an error of its own. */
#define T_MAX_HELD 4
static _Thread_local pthread_mutex_t *t_held[T_MAX_HELD];
static _Thread_local size_t t_n_held;

static void t_lock(pthread_mutex_t *m)
{
    pthread_mutex_lock(m);
    if (t_n_held < T_MAX_HELD)
        t_held[t_n_held++] = m;
}

static void t_forget(pthread_mutex_t *m)
{
    for (size_t i = 0; i < t_n_held; i++)
        if (t_held[i] == m) {
            t_held[i] = t_held[--t_n_held];
            return;
        }
}

static void t_unlock(pthread_mutex_t *m)
{
    t_forget(m);
    pthread_mutex_unlock(m);
}

/*  Unlocks m if this thread still holds it. */
static void t_mutex_release(pthread_mutex_t *m)
{
    for (size_t i = 0; i < t_n_held; i++)
        if (t_held[i] == m) {
            t_unlock(m);
            return;
        }
}

static void ts_queue(tsrv_t *srv, ts_conn_t *c, const char *text)
{
    json_array_append_new(c->outq, json_string(text));
    (void)srv;
}

static int ts_on_frame(tsrv_t *srv, ts_conn_t *c, struct lws *wsi)
{
    json_t *f = json_loadb(c->rx.data, c->rx.len, 0, NULL);
    abuf_reset(&c->rx);
    if (!f)
        return 0;
    t_lock(&srv->mtx);
    if (!c->hello) {
        const char *type = json_string_value(json_object_get(f, "type"));
        const char *token = json_string_value(json_object_get(f, "token"));
        if (!type || strcmp(type, "hello") != 0 || !token || strcmp(token, T_TOKEN) != 0) {
            t_unlock(&srv->mtx);
            json_decref(f);
            lws_close_reason(wsi, 4401, (unsigned char *)"bad token", 9);
            return -1;
        }
        c->hello = true;
        c->hello_frame = f;
        abuf_t b = ABUF_INIT;
        frame_encode_welcome(&b, "test-node");
        ts_queue(srv, c, b.data);
        abuf_free(&b);
        lws_callback_on_writable(wsi);
    } else {
        json_array_append_new(c->frames, f);
    }
    pthread_cond_broadcast(&srv->cond);
    t_unlock(&srv->mtx);
    return 0;
}

static int ts_writeable(tsrv_t *srv, ts_conn_t *c, struct lws *wsi)
{
    t_lock(&srv->mtx);
    int code = c->close_with;
    char *text = NULL;
    if (!code && json_array_size(c->outq)) {
        text = strdup(json_string_value(json_array_get(c->outq, 0)));
        json_array_remove(c->outq, 0);
    }
    bool more = json_array_size(c->outq) > 0;
    t_unlock(&srv->mtx);
    if (code) {
        lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)"bye", 3);
        return -1;
    }
    if (text) {
        size_t n = strlen(text);
        unsigned char *buf = malloc(LWS_PRE + n);
        memcpy(buf + LWS_PRE, text, n);
        int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
        free(buf);
        free(text);
        if (w < (int)n)
            return -1;
    }
    if (more)
        lws_callback_on_writable(wsi);
    return 0;
}

static int ts_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    tsrv_t *srv = lws_context_user(lws_get_context(wsi));
    ts_pss_t *pss = user;
    /* Only WebSocket reasons carry our per-session data. */
    ts_conn_t *c = NULL;
    if (reason == LWS_CALLBACK_RECEIVE || reason == LWS_CALLBACK_SERVER_WRITEABLE ||
        reason == LWS_CALLBACK_WS_PEER_INITIATED_CLOSE || reason == LWS_CALLBACK_CLOSED)
        c = pss && pss->slot > 0 && pss->slot <= T_MAX_CONNS ? &srv->conns[pss->slot - 1] : NULL;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char origin[128] = "";
        lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
        t_lock(&srv->mtx);
        snprintf(srv->pending_origin, sizeof srv->pending_origin, "%s", origin);
        int bad = strcmp(origin, T_ORIGIN) != 0;
        srv->bad_origins += bad;
        pthread_cond_broadcast(&srv->cond);
        t_unlock(&srv->mtx);
        return bad;
    }
    case LWS_CALLBACK_ESTABLISHED:
        t_lock(&srv->mtx);
        if (srv->n_conns == T_MAX_CONNS) {
            t_unlock(&srv->mtx);
            return -1;
        }
        c = &srv->conns[srv->n_conns++];
        c->wsi = wsi;
        c->frames = json_array();
        c->outq = json_array();
        snprintf(c->origin, sizeof c->origin, "%s", srv->pending_origin);
        pss->slot = (int)srv->n_conns;
        t_unlock(&srv->mtx);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!c || abuf_append(&c->rx, in, len) < 0)
            return -1;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi))
            return ts_on_frame(srv, c, wsi);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c ? ts_writeable(srv, c, wsi) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && len >= 2) {
            t_lock(&srv->mtx);
            c->close_code = ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1];
            t_unlock(&srv->mtx);
        }
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (c) {
            t_lock(&srv->mtx);
            c->closed = true;
            c->wsi = NULL;
            if (!c->close_code)
                c->close_code = 1006;
            pthread_cond_broadcast(&srv->cond);
            t_unlock(&srv->mtx);
        }
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        t_lock(&srv->mtx);
        for (size_t i = 0; i < srv->n_conns; i++)
            if (srv->conns[i].wsi &&
                (json_array_size(srv->conns[i].outq) || srv->conns[i].close_with))
                lws_callback_on_writable(srv->conns[i].wsi);
        t_unlock(&srv->mtx);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols s_ts_protocols[] = {
    {"link", ts_cb, sizeof(ts_pss_t), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *ts_run(void *arg)
{
    tsrv_t *srv = arg;
    while (!atomic_load(&srv->stop))
        lws_service(srv->ctx, 0);
    return NULL;
}

static void ts_start(tsrv_t *srv)
{
    memset(srv, 0, sizeof *srv);
    t_mutex_init(&srv->mtx);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cond, &ca);
    pthread_condattr_destroy(&ca);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.user = srv;
    info.port = 0;
    info.iface = "127.0.0.1";
    info.protocols = s_ts_protocols;
    info.vhost_name = "test-node";
    srv->ctx = lws_create_context(&info);
    assert_non_null(srv->ctx);
    struct lws_vhost *vh = lws_create_vhost(srv->ctx, &info);
    assert_non_null(vh);
    srv->port = lws_get_vhost_listen_port(vh);
    assert_true(srv->port > 0);
    assert_int_equal(pthread_create(&srv->thread, NULL, ts_run, srv), 0);
}

static void ts_wake(tsrv_t *srv)
{
    lws_cancel_service(srv->ctx); /* the context lives until ts_stop joins */
}

static void ts_stop(tsrv_t *srv)
{
    t_mutex_release(&srv->mtx); /* held when an assertion failed under it */
    atomic_store(&srv->stop, true);
    ts_wake(srv);
    pthread_join(srv->thread, NULL);
    lws_context_destroy(srv->ctx);
    for (size_t i = 0; i < srv->n_conns; i++) {
        ts_conn_t *c = &srv->conns[i];
        json_decref(c->hello_frame);
        json_decref(c->frames);
        json_decref(c->outq);
        abuf_free(&c->rx);
    }
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->mtx);
}

typedef bool(ts_pred_fn)(tsrv_t *srv, const void *arg);

/*  Waits (bounded) until pred holds; pred runs under srv->mtx. */
static bool ts_wait(tsrv_t *srv, ts_pred_fn *pred, const void *arg, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    long long ns = until.tv_nsec + (long long)timeout_ms * 1000000LL;
    until.tv_sec += ns / 1000000000LL;
    until.tv_nsec = ns % 1000000000LL;
    t_lock(&srv->mtx);
    bool ok;
    while (!(ok = pred(srv, arg)))
        if (pthread_cond_timedwait(&srv->cond, &srv->mtx, &until) != 0) {
            ok = pred(srv, arg);
            break;
        }
    t_unlock(&srv->mtx);
    return ok;
}

static void ts_send(tsrv_t *srv, size_t slot, const char *text)
{
    t_lock(&srv->mtx);
    assert_true(slot < srv->n_conns);
    ts_queue(srv, &srv->conns[slot], text);
    t_unlock(&srv->mtx);
    ts_wake(srv);
}

static void ts_send_abuf(tsrv_t *srv, size_t slot, abuf_t *b)
{
    ts_send(srv, slot, b->data);
    abuf_free(b);
}

static bool ts_pred_hellos(tsrv_t *srv, const void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < srv->n_conns; i++)
        n += srv->conns[i].hello;
    return n >= *(const size_t *)arg;
}

static bool ts_pred_bad_origins(tsrv_t *srv, const void *arg)
{
    return srv->bad_origins >= *(const int *)arg;
}

static bool ts_pred_closed(tsrv_t *srv, const void *arg)
{
    size_t slot = *(const size_t *)arg;
    return slot < srv->n_conns && srv->conns[slot].closed;
}

/*  The conn slot whose hello carried tab id, the most recent one. */
static size_t ts_slot_of(tsrv_t *srv, const char *tab)
{
    size_t slot = (size_t)-1;
    t_lock(&srv->mtx);
    for (size_t i = 0; i < srv->n_conns; i++)
        if (srv->conns[i].hello && !srv->conns[i].closed &&
            strcmp(json_string_value(json_object_get(srv->conns[i].hello_frame, "tab")), tab) == 0)
            slot = i;
    t_unlock(&srv->mtx);
    assert_true(slot != (size_t)-1);
    return slot;
}

typedef struct {
    size_t slot;
    const char *type, *id; /* id NULL: any */
    long long t;           /* pong: this t; -1 any */
} ts_find_t;

static bool s_frame_is(json_t *f, const ts_find_t *q)
{
    const char *type = json_string_value(json_object_get(f, "type"));
    const char *id = json_string_value(json_object_get(f, "id"));
    if (!type || strcmp(type, q->type) != 0)
        return false;
    if (q->id && (!id || strcmp(id, q->id) != 0))
        return false;
    return q->t < 0 || json_integer_value(json_object_get(f, "t")) == q->t;
}

static bool ts_pred_frame(tsrv_t *srv, const void *arg)
{
    const ts_find_t *q = arg;
    if (q->slot >= srv->n_conns)
        return false;
    json_t *frames = srv->conns[q->slot].frames;
    for (size_t i = 0; i < json_array_size(frames); i++)
        if (s_frame_is(json_array_get(frames, i), q))
            return true;
    return false;
}

/*  The first frame of type (and id) from slot, a new reference; NULL on timeout. */
static json_t *ts_frame(tsrv_t *srv, size_t slot, const char *type, const char *id, long long t)
{
    ts_find_t q = {slot, type, id, t};
    if (!ts_wait(srv, ts_pred_frame, &q, T_WAIT_MS))
        return NULL;
    json_t *found = NULL;
    t_lock(&srv->mtx);
    json_t *frames = srv->conns[slot].frames;
    for (size_t i = 0; i < json_array_size(frames) && !found; i++)
        if (s_frame_is(json_array_get(frames, i), &q))
            found = json_incref(json_array_get(frames, i));
    t_unlock(&srv->mtx);
    return found;
}

/*  Everything a job sent, once it ended (done or fail). */
typedef struct {
    int status;
    char ctype[128], retry[32];
    bool has_head, has_retry;
    abuf_t body;
    size_t n_chunks;
    char end[8], stage[32];
    size_t first_chunk_at, end_at; /* positions in the slot's frames */
} t_result_t;

static bool ts_pred_ended(tsrv_t *srv, const void *arg)
{
    const ts_find_t *q = arg;
    ts_find_t done = {q->slot, "done", q->id, -1}, fail = {q->slot, "fail", q->id, -1};
    return ts_pred_frame(srv, &done) || ts_pred_frame(srv, &fail);
}

static void ts_result(tsrv_t *srv, size_t slot, const char *id, t_result_t *r)
{
    memset(r, 0, sizeof *r);
    ts_find_t q = {slot, NULL, id, -1};
    if (!ts_wait(srv, ts_pred_ended, &q, T_WAIT_MS))
        fail_msg("job %s did not end within %d ms", id, T_WAIT_MS);
    t_lock(&srv->mtx);
    json_t *frames = srv->conns[slot].frames;
    r->first_chunk_at = (size_t)-1;
    for (size_t i = 0; i < json_array_size(frames); i++) {
        json_t *f = json_array_get(frames, i);
        const char *type = json_string_value(json_object_get(f, "type"));
        const char *fid = json_string_value(json_object_get(f, "id"));
        if (!fid || strcmp(fid, id) != 0)
            continue;
        if (strcmp(type, "head") == 0) {
            json_t *h = json_object_get(f, "headers");
            r->has_head = true;
            r->status = (int)json_integer_value(json_object_get(f, "status"));
            snprintf(r->ctype, sizeof r->ctype, "%s",
                     json_string_value(json_object_get(h, "content-type")) ?: "");
            const char *ra = json_string_value(json_object_get(h, "retry-after"));
            r->has_retry = ra != NULL;
            snprintf(r->retry, sizeof r->retry, "%s", ra ? ra : "");
        } else if (strcmp(type, "chunk") == 0) {
            json_t *d = json_object_get(f, "data");
            abuf_append(&r->body, json_string_value(d), json_string_length(d));
            if (r->n_chunks++ == 0)
                r->first_chunk_at = i;
        } else if (strcmp(type, "done") == 0 || strcmp(type, "fail") == 0) {
            snprintf(r->end, sizeof r->end, "%s", type);
            snprintf(r->stage, sizeof r->stage, "%s",
                     json_string_value(json_object_get(f, "stage")) ?: "");
            r->end_at = i;
        }
    }
    if (!r->body.data)
        abuf_append(&r->body, "", 0);
    t_unlock(&srv->mtx);
}

/* ------------------------------------------------------------- fixture */

typedef struct {
    tsrv_t srv;
    fake_link_t *fake;
    const char *sitekey; /* what t_fetch asks the page to mint with: the era's */
    pthread_mutex_t ev_mtx;
    pthread_cond_t ev_cond;
    json_t *events;
} fx_t;

static void fx_on_event(void *arg, const json_t *ev)
{
    fx_t *fx = arg;
    t_lock(&fx->ev_mtx);
    json_array_append_new(fx->events, json_deep_copy(ev)); /* ev is not ours to share */
    pthread_cond_broadcast(&fx->ev_cond);
    t_unlock(&fx->ev_mtx);
}

static int fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    t_mutex_init(&fx->ev_mtx);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fx->ev_cond, &ca);
    pthread_condattr_destroy(&ca);
    fx->events = json_array();
    ts_start(&fx->srv);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    t_mutex_release(&fx->ev_mtx); /* the fake's thread takes it while it runs */
    fake_link_destroy(&fx->fake);
    ts_stop(&fx->srv);
    json_decref(fx->events);
    pthread_cond_destroy(&fx->ev_cond);
    pthread_mutex_destroy(&fx->ev_mtx);
    free(fx);
    return 0;
}

/*  Starts the fake on the test server with cfg (url/token/events filled in). */
static fake_link_t *fx_fake(fx_t *fx, fake_link_config_t cfg, bool wait)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/link", fx->srv.port);
    cfg.url = url;
    if (!cfg.token)
        cfg.token = T_TOKEN;
    cfg.on_event = fx_on_event;
    cfg.on_event_arg = fx;
    fx->sitekey =
        cfg.era && strcmp(cfg.era, "2025") == 0 ? FAKE_ARENA_SITEKEY_2025 : FAKE_ARENA_SITEKEY_2026;
    fake_link_t *fake = fake_link_new(&cfg);
    assert_non_null(fake);
    if (wait) {
        size_t n = cfg.tabs ? cfg.tabs : 1;
        assert_int_equal(fake_link_wait_ready(fake, n, T_WAIT_MS), 0);
        assert_true(ts_wait(&fx->srv, ts_pred_hellos, &n, T_WAIT_MS));
    }
    return fake;
}

static void fx_start(fx_t *fx, size_t tabs)
{
    fx->fake = fx_fake(fx, (fake_link_config_t){.tabs = tabs}, true);
}

typedef struct {
    const char *ev, *id;
    long long tab; /* -1: any */
    size_t after;  /* skip this many events */
} fx_find_t;

static json_t *s_event_match(json_t *events, const fx_find_t *q)
{
    for (size_t i = q->after; i < json_array_size(events); i++) {
        json_t *e = json_array_get(events, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        if (strcmp(json_string_value(json_object_get(e, "ev")), q->ev) != 0)
            continue;
        if (q->id && (!id || strcmp(id, q->id) != 0))
            continue;
        if (q->tab >= 0 && json_integer_value(json_object_get(e, "tab")) != q->tab)
            continue;
        return e;
    }
    return NULL;
}

/*  The first matching event (a new reference), waiting up to T_WAIT_MS. */
static json_t *fx_event(fx_t *fx, const char *ev, const char *id, long long tab)
{
    fx_find_t q = {ev, id, tab, 0};
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += T_WAIT_MS / 1000;
    t_lock(&fx->ev_mtx);
    json_t *e;
    while (!(e = s_event_match(fx->events, &q)))
        if (pthread_cond_timedwait(&fx->ev_cond, &fx->ev_mtx, &until) != 0) {
            e = s_event_match(fx->events, &q);
            break;
        }
    json_incref(e);
    t_unlock(&fx->ev_mtx);
    if (!e)
        fail_msg("no %s event (id %s, tab %lld) within %d ms", ev, id ? id : "-", tab, T_WAIT_MS);
    return e;
}

static size_t fx_count(fx_t *fx, const char *ev)
{
    size_t n = 0;
    t_lock(&fx->ev_mtx);
    for (size_t i = 0; i < json_array_size(fx->events); i++)
        n += strcmp(json_string_value(json_object_get(json_array_get(fx->events, i), "ev")), ev) ==
             0;
    t_unlock(&fx->ev_mtx);
    return n;
}

/*  Waits (bounded) until the counter at offset reaches want: a frame can
    reach the server a moment before the fake counts it. */
static unsigned long t_counter(fake_link_t *fake, size_t offset, unsigned long want)
{
    long long until = t_now_ms() + T_WAIT_MS;
    fake_link_counters_t n;
    unsigned long v;
    for (;;) {
        fake_link_counters(fake, &n);
        memcpy(&v, (const char *)&n + offset, sizeof v);
        if (v >= want || t_now_ms() >= until)
            return v;
        usleep(2000);
    }
}

#define T_COUNTER(fake, field, want) t_counter(fake, offsetof(fake_link_counters_t, field), want)

/*  Sends a fetch job carrying body (stolen) to slot. */
static void t_fetch(fx_t *fx, size_t slot, const char *job, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    abuf_t b = ABUF_INIT;
    frame_recaptcha_t rc = {FAKE_ARENA_RC_FIELD, FAKE_ARENA_RC_ACTION, fx->sitekey};
    assert_int_equal(frame_encode_fetch(&b, job, FAKE_ARENA_PATH, "POST", FAKE_ARENA_CONTENT_TYPE,
                                        text, strlen(text), &rc),
                     0);
    free(text);
    ts_send_abuf(&fx->srv, slot, &b);
}

/* ============================================================ wire tests */

static void test_hello(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    t_lock(&fx->srv.mtx);
    ts_conn_t *c = &fx->srv.conns[0];
    assert_string_equal(c->origin, T_ORIGIN); /* sent raw, not http://-prefixed */
    json_t *h = c->hello_frame;
    assert_string_equal(json_string_value(json_object_get(h, "token")), T_TOKEN);
    assert_string_equal(json_string_value(json_object_get(h, "tab")),
                        fake_link_tab_id(fx->fake, 0));
    assert_true(uuid_is_valid(fake_link_tab_id(fx->fake, 0)));
    assert_string_equal(json_string_value(json_object_get(h, "version")), "1");
    assert_string_equal(json_string_value(json_object_get(h, "href")), T_ORIGIN "/");
    assert_string_equal(json_string_value(json_object_get(h, "ua")), "fake-link/1");
    t_unlock(&fx->srv.mtx);
    json_t *e = fx_event(fx, "welcome", NULL, 0);
    assert_string_equal(json_string_value(json_object_get(e, "node")), "test-node");
    assert_string_equal(json_string_value(json_object_get(e, "tab_id")),
                        fake_link_tab_id(fx->fake, 0));
    assert_true(json_integer_value(json_object_get(e, "t_ms")) > 0);
    json_decref(e);
    json_decref(fx_event(fx, "connected", NULL, 0));
    fake_link_counters_t n;
    fake_link_counters(fx->fake, &n);
    assert_int_equal(n.connects, 1);
    assert_int_equal(n.welcomes, 1);
    assert_int_equal(fake_link_ready_tabs(fx->fake), 1);
    assert_null(fake_link_tab_id(fx->fake, 1));
    /* Without an account no state frame: the first frame after hello is the
       pong to our first ping. */
    abuf_t b = ABUF_INIT;
    frame_encode_ping(&b, 7);
    ts_send_abuf(&fx->srv, 0, &b);
    json_decref(ts_frame(&fx->srv, 0, "pong", NULL, 7));
    t_lock(&fx->srv.mtx);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(fx->srv.conns[0].frames, 0), "type")),
        "pong");
    t_unlock(&fx->srv.mtx);
}

static void test_ping_pong(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    abuf_t b = ABUF_INIT;
    frame_encode_ping(&b, 424242);
    ts_send_abuf(&fx->srv, 0, &b);
    json_t *pong = ts_frame(&fx->srv, 0, "pong", NULL, 424242);
    assert_non_null(pong);
    json_decref(pong);
    json_decref(fx_event(fx, "ping", NULL, 0));
    fake_link_counters_t n;
    fake_link_counters(fx->fake, &n);
    assert_int_equal(n.pings, 1);
}

static void test_page_reply(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    abuf_t b = ABUF_INIT;
    frame_encode_page_req(&b, "P1");
    ts_send_abuf(&fx->srv, 0, &b);
    json_t *page = ts_frame(&fx->srv, 0, "page", "P1", -1);
    assert_non_null(page);
    assert_string_equal(json_string_value(json_object_get(page, "href")), T_ORIGIN "/");
    const char *html = json_string_value(json_object_get(page, "html"));
    assert_non_null(strstr(html, "self.__next_f.push([1,\""));
    char *flight = t_flight(html);
    json_t *props = t_row_props(flight, "6:");
    json_t *models = json_object_get(props, "initialModels");
    static const char *const names[] = {"fake-chat",      "fake-chat-2",   "fake-image",
                                        "fake-search",    FAKE_ARENA_TWIN, FAKE_ARENA_TWIN,
                                        FAKE_ARENA_HIDDEN};
    assert_int_equal(json_array_size(models), 7); /* the 2026 page */
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(models, i), "publicName")), names[i]);
    assert_non_null(strstr(html, "?render=" FAKE_ARENA_SITEKEY_2026 "\""));
    arena_catalog_t cat = {0};
    assert_true(arena_catalog_extract(html, strlen(html), 0, &cat) >= 4);
    assert_string_equal(cat.models[0].name, "fake-chat");
    arena_catalog_clear(&cat);
    json_decref(props);
    free(flight);
    json_decref(page);
    json_decref(fx_event(fx, "page", "P1", 0));
}

static void test_text_scenario(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    t_fetch(fx, 0, "J1", t_body("fake-chat", "Say hello."));
    t_result_t r;
    ts_result(&fx->srv, 0, "J1", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain; charset=utf-8");
    assert_false(r.has_retry);
    assert_string_equal(r.body.data, T_TEXT_2026(3)); /* participant B woven in */
    assert_int_equal(r.n_chunks, 9);
    assert_string_equal(r.end, "done");
    abuf_free(&r.body);
    json_t *e = fx_event(fx, "fetch", "J1", 0);
    assert_string_equal(json_string_value(json_object_get(e, "scenario")), "text");
    json_t *body = json_object_get(e, "body");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "userMessage"), "content")),
        "Say hello.");
    const char *token =
        json_string_value(json_object_get(json_object_get(e, "recaptcha"), "token"));
    assert_non_null(token);
    assert_string_equal(json_string_value(json_object_get(body, FAKE_ARENA_RC_FIELD)), token);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "recaptcha"), "action")),
        FAKE_ARENA_RC_ACTION);
    json_decref(e);
    e = fx_event(fx, "end", "J1", 0);
    assert_string_equal(json_string_value(json_object_get(e, "how")), "done");
    json_decref(e);
    fake_link_counters_t n;
    fake_link_counters(fx->fake, &n);
    assert_int_equal(n.fetches, 1);
    assert_int_equal(n.done, 1);
    assert_int_equal(n.rejected, 0);
}

static void test_ratelimit(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    t_fetch(fx, 0, "R1", t_body("fake-chat", "x [[fake:ratelimit retry=7]]"));
    t_fetch(fx, 0, "R2", t_body("fake-chat", "x [[fake:ratelimit retry=none]]"));
    t_result_t r;
    ts_result(&fx->srv, 0, "R1", &r);
    assert_int_equal(r.status, 429);
    assert_true(r.has_retry);
    assert_string_equal(r.retry, "7");
    assert_string_equal(r.ctype, "application/json");
    assert_string_equal(r.body.data, "{\"error\":\"Too many requests\"}");
    assert_string_equal(r.end, "done");
    abuf_free(&r.body);
    ts_result(&fx->srv, 0, "R2", &r);
    assert_int_equal(r.status, 429);
    assert_false(r.has_retry);
    abuf_free(&r.body);
}

static void test_duplicate_ids(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    json_t *body = t_body("fake-chat", "Hi");
    t_fetch(fx, 0, "D1", json_deep_copy(body));
    t_result_t r;
    ts_result(&fx->srv, 0, "D1", &r);
    assert_int_equal(r.status, 200);
    abuf_free(&r.body);
    t_fetch(fx, 0, "D2", body);
    ts_result(&fx->srv, 0, "D2", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.data, "duplicate"));
    assert_string_equal(r.end, "done");
    abuf_free(&r.body);
    json_t *e = fx_event(fx, "rejected", "D2", 0);
    assert_int_equal(json_integer_value(json_object_get(e, "status")), 400);
    json_decref(e);
}

static void test_missing_field(void **state)
{
    fx_t *fx = *state;
    fx->fake = fx_fake(fx, (fake_link_config_t){.era = "2025"}, true); /* B's id required */
    json_t *body = t_body25("fake-chat", "Hi");
    json_object_del(body, "modelBMessageId");
    t_fetch(fx, 0, "M1", body);
    t_result_t r;
    ts_result(&fx->srv, 0, "M1", &r);
    assert_int_equal(r.status, 400);
    json_t *err = json_loads(r.body.data, 0, NULL);
    const char *msg = json_string_value(json_object_get(err, "error"));
    assert_non_null(msg);
    assert_memory_equal(msg, "ZodError: ", 10);
    assert_non_null(strstr(msg, "modelBMessageId"));
    json_decref(err);
    abuf_free(&r.body);
    fake_link_counters_t n;
    fake_link_counters(fx->fake, &n);
    assert_int_equal(n.rejected, 1);
}

static void test_abort_stall(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    t_fetch(fx, 0, "S1", t_body("fake-chat", "[[fake:stall]]"));
    json_t *head = ts_frame(&fx->srv, 0, "head", "S1", -1);
    assert_non_null(head);
    assert_int_equal(json_integer_value(json_object_get(head, "status")), 200);
    json_decref(head);
    usleep(150 * 1000);
    ts_find_t done = {0, "done", "S1", -1};
    assert_false(ts_wait(&fx->srv, ts_pred_frame, &done, 0));
    abuf_t b = ABUF_INIT;
    frame_encode_abort(&b, "S1");
    ts_send_abuf(&fx->srv, 0, &b);
    t_result_t r;
    ts_result(&fx->srv, 0, "S1", &r);
    assert_string_equal(r.end, "fail");
    assert_string_equal(r.stage, "aborted");
    assert_int_equal(r.n_chunks, 0);
    abuf_free(&r.body);
    json_decref(fx_event(fx, "abort", "S1", 0));
    json_t *e = fx_event(fx, "end", "S1", 0);
    assert_string_equal(json_string_value(json_object_get(e, "how")), "aborted");
    json_decref(e);
    /* An abort for a job that is gone is recorded and answered by nothing. */
    frame_encode_abort(&b, "S1");
    ts_send_abuf(&fx->srv, 0, &b);
    assert_int_equal(T_COUNTER(fx->fake, aborts, 2), 2);
    usleep(50 * 1000);
    fake_link_counters_t n;
    fake_link_counters(fx->fake, &n);
    assert_int_equal(n.failed, 1);
    assert_int_equal(fx_count(fx, "end"), 1);
    t_lock(&fx->srv.mtx);
    size_t fails = 0;
    for (size_t i = 0; i < json_array_size(fx->srv.conns[0].frames); i++)
        fails += strcmp(json_string_value(
                            json_object_get(json_array_get(fx->srv.conns[0].frames, i), "type")),
                        "fail") == 0;
    t_unlock(&fx->srv.mtx);
    assert_int_equal(fails, 1);
}

static void test_midclose_and_reconnect(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    t_fetch(fx, 0, "C1", t_body("fake-chat", "[[fake:midclose after=2]]"));
    size_t slot = 0;
    assert_true(ts_wait(&fx->srv, ts_pred_closed, &slot, T_WAIT_MS));
    t_lock(&fx->srv.mtx);
    json_t *frames = fx->srv.conns[0].frames;
    size_t heads = 0, chunks = 0, ends = 0;
    for (size_t i = 0; i < json_array_size(frames); i++) {
        const char *t = json_string_value(json_object_get(json_array_get(frames, i), "type"));
        heads += strcmp(t, "head") == 0;
        chunks += strcmp(t, "chunk") == 0;
        ends += strcmp(t, "done") == 0 || strcmp(t, "fail") == 0;
    }
    int code = fx->srv.conns[0].close_code;
    t_unlock(&fx->srv.mtx);
    assert_int_equal(heads, 1);
    assert_int_equal(chunks, 2);
    assert_int_equal(ends, 0);
    assert_int_equal(code, 1006); /* no close frame: the tab vanished */
    json_t *e = fx_event(fx, "end", "C1", 0);
    assert_string_equal(json_string_value(json_object_get(e, "how")), "closed");
    json_decref(e);
    e = fx_event(fx, "closed", NULL, 0);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 1006);
    json_decref(e);
    /* It comes back with the same tab id. */
    size_t two = 2;
    assert_true(ts_wait(&fx->srv, ts_pred_hellos, &two, T_WAIT_MS));
    assert_int_equal(fake_link_wait_ready(fx->fake, 1, T_WAIT_MS), 0);
    t_lock(&fx->srv.mtx);
    assert_string_equal(json_string_value(json_object_get(fx->srv.conns[1].hello_frame, "tab")),
                        fake_link_tab_id(fx->fake, 0));
    t_unlock(&fx->srv.mtx);
    t_fetch(fx, 1, "C2", t_body("fake-chat", "Hi again"));
    t_result_t r;
    ts_result(&fx->srv, 1, "C2", &r);
    assert_int_equal(r.status, 200);
    abuf_free(&r.body);
}

static void test_concurrent_jobs(void **state)
{
    fx_t *fx = *state;
    fx->fake = fx_fake(fx, (fake_link_config_t){.era = "2025"}, true); /* A's chunks only */
    t_fetch(fx, 0, "A", t_body25("fake-chat", "[[fake:drip ms=30 count=5]]"));
    t_fetch(fx, 0, "B", t_body25("fake-chat", "[[fake:drip ms=30 count=5 text=\"Second one!\"]]"));
    t_result_t a, b;
    ts_result(&fx->srv, 0, "A", &a);
    ts_result(&fx->srv, 0, "B", &b);
    assert_string_equal(a.end, "done");
    assert_string_equal(b.end, "done");
    assert_int_equal(a.n_chunks, 6);
    assert_int_equal(b.n_chunks, 6);
    char *ta = t_join(a.body.data, a.body.len, "a0");
    char *tb = t_join(b.body.data, b.body.len, "a0");
    assert_string_equal(ta, "Hello from the fake arena.");
    assert_string_equal(tb, "Second one!");
    /* Interleaved: B's stream started before A finished. */
    assert_true(b.first_chunk_at < a.end_at);
    assert_true(a.first_chunk_at < b.end_at);
    free(ta);
    free(tb);
    abuf_free(&a.body);
    abuf_free(&b.body);
}

static void test_last_directive_wins(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    t_fetch(fx, 0, "L1",
            t_body("fake-chat", "User:\nfirst [[fake:ratelimit]]\n\nAssistant:\nok\n\nUser:\n"
                                "second [[fake:text text=\"second wins\"]]"));
    t_result_t r;
    ts_result(&fx->srv, 0, "L1", &r);
    assert_int_equal(r.status, 200);
    char *text = t_join(r.body.data, r.body.len, "a0");
    assert_string_equal(text, "second wins");
    free(text);
    abuf_free(&r.body);
    json_t *e = fx_event(fx, "fetch", "L1", 0);
    assert_string_equal(json_string_value(json_object_get(e, "scenario")), "text");
    json_decref(e);
}

static void test_force_and_default(void **state)
{
    fx_t *fx = *state;
    const char *force[] = {"ratelimit retry=9"};
    const char *scen[] = {NULL, "[[fake:error500]]"};
    fx->fake = fx_fake(fx,
                       (fake_link_config_t){.tabs = 2,
                                            .tab_force = force,
                                            .n_tab_force = 1,
                                            .tab_scenario = scen,
                                            .n_tab_scenario = 2},
                       true);
    size_t s0 = ts_slot_of(&fx->srv, fake_link_tab_id(fx->fake, 0));
    size_t s1 = ts_slot_of(&fx->srv, fake_link_tab_id(fx->fake, 1));
    t_fetch(fx, s0, "F1", t_body("fake-chat", "[[fake:text]]"));
    t_fetch(fx, s1, "F2", t_body("fake-chat", "no directive"));
    t_fetch(fx, s1, "F3", t_body("fake-chat", "[[fake:text]]"));
    static const struct {
        const char *id;
        int status;
    } want[] = {{"F1", 429}, {"F2", 500}, {"F3", 200}};
    for (size_t i = 0; i < 3; i++) {
        t_result_t r;
        ts_result(&fx->srv, i == 0 ? s0 : s1, want[i].id, &r);
        assert_int_equal(r.status, want[i].status);
        abuf_free(&r.body);
    }
    json_t *e = fx_event(fx, "fetch", "F1", 0);
    assert_string_equal(json_string_value(json_object_get(e, "scenario")), "ratelimit");
    json_decref(e);
    /* At run time: lift the force, set a bad one (refused). */
    assert_int_equal(fake_link_set_force(fx->fake, 0, NULL), 0);
    assert_int_equal(fake_link_set_force(fx->fake, 0, "nosuch"), -1);
    assert_int_equal(fake_link_set_scenario(fx->fake, 5, "text"), -1);
    t_fetch(fx, s0, "F4", t_body("fake-chat", "hi"));
    t_result_t r;
    ts_result(&fx->srv, s0, "F4", &r);
    assert_int_equal(r.status, 200);
    abuf_free(&r.body);
}

/*  A tab with an account reports it in a state frame after every welcome;
    its fetches are paced as that account's. */
static void test_accounts_and_pace(void **state)
{
    fx_t *fx = *state;
    const char *accounts[] = {T_ACCOUNT_B};
    fx->fake = fx_fake(fx,
                       (fake_link_config_t){.tabs = 3,
                                            .account = T_ACCOUNT_A,
                                            .tab_account = accounts,
                                            .n_tab_account = 1,
                                            .pace_interval_ms = 60000},
                       true);
    const char *want[] = {T_ACCOUNT_B, T_ACCOUNT_A, T_ACCOUNT_A};
    size_t slots[3];
    for (size_t i = 0; i < 3; i++) {
        slots[i] = ts_slot_of(&fx->srv, fake_link_tab_id(fx->fake, i));
        json_t *st = ts_frame(&fx->srv, slots[i], "state", NULL, -1);
        assert_non_null(st);
        json_t *exact = json_pack("{s:s,s:b,s:b,s:s,s:b}", "type", "state", "challenge", 0,
                                  "recaptcha", 1, "account", want[i], "logged_in", 1);
        if (!json_equal(st, exact))
            fail_msg("tab %zu: state %s", i, json_dumps(st, JSON_COMPACT));
        json_decref(exact);
        json_decref(st);
        t_lock(&fx->srv.mtx); /* the first frame after hello */
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(fx->srv.conns[slots[i]].frames, 0), "type")),
                            "state");
        t_unlock(&fx->srv.mtx);
    }
    /* Tab 0 (account B) twice: the second within the interval is refused;
       tabs 1 and 2 share account A. */
    static const struct {
        size_t tab;
        const char *job;
        int status;
    } order[] = {{0, "P1", 200}, {0, "P2", 429}, {1, "P3", 200}, {2, "P4", 429}};
    for (size_t i = 0; i < 4; i++) {
        t_fetch(fx, slots[order[i].tab], order[i].job, t_body("fake-chat", "Hi"));
        t_result_t r;
        ts_result(&fx->srv, slots[order[i].tab], order[i].job, &r);
        if (r.status != order[i].status)
            fail_msg("%s: %d %s", order[i].job, r.status, r.body.data);
        if (r.status == 429) {
            assert_string_equal(r.body.data, "{\"error\":\"prompt failed\"}");
            assert_false(r.has_retry);
        }
        abuf_free(&r.body);
        json_t *e = fx_event(fx, "fetch", order[i].job, (long long)order[i].tab);
        assert_string_equal(json_string_value(json_object_get(e, "account")), want[order[i].tab]);
        json_decref(e);
    }
    json_t *e = fx_event(fx, "rejected", "P2", 0);
    assert_true(json_is_true(json_object_get(e, "pace_violation")));
    assert_int_equal(json_integer_value(json_object_get(e, "status")), 429);
    json_decref(e);
    /* A reconnected tab reports its account again. */
    assert_int_equal(fake_link_drop_tab(fx->fake, 0), 0);
    assert_true(ts_wait(&fx->srv, ts_pred_closed, &slots[0], T_WAIT_MS));
    size_t four = 4;
    assert_true(ts_wait(&fx->srv, ts_pred_hellos, &four, T_WAIT_MS));
    size_t again = ts_slot_of(&fx->srv, fake_link_tab_id(fx->fake, 0));
    json_t *st = ts_frame(&fx->srv, again, "state", NULL, -1);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "account")), T_ACCOUNT_B);
    json_decref(st);
}

/*  --era 2025: the old page and key, "direct" bodies, no participant B. */
static void test_era_2025_wire(void **state)
{
    fx_t *fx = *state;
    fx->fake = fx_fake(fx, (fake_link_config_t){.era = "2025"}, true);
    abuf_t b = ABUF_INIT;
    frame_encode_page_req(&b, "P1");
    ts_send_abuf(&fx->srv, 0, &b);
    json_t *page = ts_frame(&fx->srv, 0, "page", "P1", -1);
    assert_non_null(page);
    const char *html = json_string_value(json_object_get(page, "html"));
    assert_non_null(strstr(html, "?render=" FAKE_ARENA_SITEKEY_2025 "\""));
    assert_null(strstr(html, FAKE_ARENA_TWIN));
    json_decref(page);
    t_fetch(fx, 0, "J1", t_body25("fake-chat", "Say hello."));
    t_fetch(fx, 0, "J2", t_body("fake-chat", "Say hello."));
    fx->sitekey = FAKE_ARENA_SITEKEY_2026; /* the page announced the other key */
    t_fetch(fx, 0, "J3", t_body25("fake-chat", "Say hello."));
    t_result_t r;
    ts_result(&fx->srv, 0, "J1", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data,
                        "a0:\"Hello fr\"\na0:\"om the fa\"\na0:\"ke arena.\"\n" T_FIN(3, 7));
    abuf_free(&r.body);
    ts_result(&fx->srv, 0, "J2", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body.data, "invalid_enum_value"));
    abuf_free(&r.body);
    ts_result(&fx->srv, 0, "J3", &r);
    assert_string_equal(r.end, "fail");
    assert_string_equal(r.stage, "recaptcha");
    abuf_free(&r.body);
}

static void test_reload(void **state)
{
    fx_t *fx = *state;
    fx_start(fx, 1);
    t_fetch(fx, 0, "S1", t_body("fake-chat", "[[fake:stall]]"));
    json_decref(ts_frame(&fx->srv, 0, "head", "S1", -1));
    abuf_t b = ABUF_INIT;
    frame_encode_reload(&b);
    ts_send_abuf(&fx->srv, 0, &b);
    size_t slot = 0, two = 2;
    assert_true(ts_wait(&fx->srv, ts_pred_closed, &slot, T_WAIT_MS));
    t_lock(&fx->srv.mtx);
    assert_int_equal(fx->srv.conns[0].close_code, 1001); /* going away, like a page reload */
    t_unlock(&fx->srv.mtx);
    json_t *e = fx_event(fx, "end", "S1", 0);
    assert_string_equal(json_string_value(json_object_get(e, "how")), "closed");
    json_decref(e);
    json_decref(fx_event(fx, "reload", NULL, 0));
    assert_true(ts_wait(&fx->srv, ts_pred_hellos, &two, T_WAIT_MS));
    fake_link_counters_t n;
    fake_link_counters(fx->fake, &n);
    assert_int_equal(n.reloads, 1);
}

static void test_drop_and_no_reconnect(void **state)
{
    fx_t *fx = *state;
    fx->fake = fx_fake(fx, (fake_link_config_t){.tabs = 1, .no_reconnect = true}, true);
    assert_int_equal(fake_link_drop_tab(fx->fake, 3), -1);
    assert_int_equal(fake_link_drop_tab(fx->fake, 0), 0);
    size_t slot = 0;
    assert_true(ts_wait(&fx->srv, ts_pred_closed, &slot, T_WAIT_MS));
    t_lock(&fx->srv.mtx);
    assert_int_equal(fx->srv.conns[0].close_code, 1006);
    t_unlock(&fx->srv.mtx);
    usleep(400 * 1000); /* well past the first back-off of 100 ms */
    t_lock(&fx->srv.mtx);
    assert_int_equal(fx->srv.n_conns, 1);
    t_unlock(&fx->srv.mtx);
    assert_int_equal(fake_link_ready_tabs(fx->fake), 0);
}

static void test_bad_origin_and_token(void **state)
{
    fx_t *fx = *state;
    fx->fake = fx_fake(fx, (fake_link_config_t){.origin = "https://evil.example"}, false);
    /* Refused, then retried with back-off: the second attempt comes
       FAKE_LINK_RECONNECT_MIN_MS after the first, later on a loaded machine. */
    int two = 2;
    assert_true(ts_wait(&fx->srv, ts_pred_bad_origins, &two, T_WAIT_MS));
    assert_int_equal(fake_link_ready_tabs(fx->fake), 0);
    json_decref(fx_event(fx, "connect_error", NULL, 0));
    fake_link_destroy(&fx->fake);

    long long t0 = t_now_ms();
    fx->fake = fx_fake(fx, (fake_link_config_t){.token = "wrong", .no_reconnect = true}, false);
    json_t *e = fx_event(fx, "closed", NULL, 0);
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 4401);
    json_decref(e);
    assert_true(t_now_ms() - t0 < T_WAIT_MS);
    assert_int_equal(fx_count(fx, "welcome"), 0);
}

static void test_no_sinks_and_goaway(void **state)
{
    fx_t *fx = *state;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/link", fx->srv.port);
    fake_link_config_t cfg = {.url = url, .token = T_TOKEN}; /* no events file, no callback */
    fx->fake = fake_link_new(&cfg);
    assert_non_null(fx->fake);
    assert_int_equal(fake_link_wait_ready(fx->fake, 1, T_WAIT_MS), 0);
    size_t one = 1;
    assert_true(ts_wait(&fx->srv, ts_pred_hellos, &one, T_WAIT_MS));
    json_t *body = t_body("fake-chat", "Hi");
    json_object_del(body, "mode");
    t_fetch(fx, 0, "N1", body);
    t_fetch(fx, 0, "N2", t_body("fake-chat", "Hi"));
    t_result_t r;
    ts_result(&fx->srv, 0, "N1", &r);
    assert_int_equal(r.status, 400);
    abuf_free(&r.body);
    ts_result(&fx->srv, 0, "N2", &r);
    assert_int_equal(r.status, 200);
    abuf_free(&r.body);
    assert_int_equal(T_COUNTER(fx->fake, done, 2), 2);
    fake_link_counters_t n;
    fake_link_counters(fx->fake, &n);
    assert_int_equal(n.fetches, 2);
    assert_int_equal(n.rejected, 1);
    /* Destroying closes every tab like a browser closing: 1001. */
    fake_link_destroy(&fx->fake);
    size_t slot = 0;
    assert_true(ts_wait(&fx->srv, ts_pred_closed, &slot, T_WAIT_MS));
    t_lock(&fx->srv.mtx);
    assert_int_equal(fx->srv.conns[0].close_code, 1001);
    t_unlock(&fx->srv.mtx);
    assert_int_equal(fx_count(fx, "fetch"), 0);
}

static void test_config_errors(void **state)
{
    (void)state;
    static const fake_link_config_t bad[] = {
        {.url = "http://127.0.0.1:1/link", .token = "t"},
        {.url = "ws://127.0.0.1:99999/link", .token = "t"},
        {.url = "ws://:80/link", .token = "t"},
        {.url = "ws://127.0.0.1:1/link"},
        {.url = "ws://127.0.0.1:1/link", .token = "t", .tabs = FAKE_LINK_MAX_TABS + 1},
        {.url = "ws://127.0.0.1:1/link", .token = "t", .default_scenario = "nosuch"},
        {.url = "ws://127.0.0.1:1/link", .token = "t", .models_file = "/nonexistent/models.json"},
        {.url = "ws://127.0.0.1:1/link", .token = "t", .era = "2024"},
        {.url = "ws://127.0.0.1:1/link", .token = "t", .account = "ABCDEF"},
        {.url = "ws://127.0.0.1:1/link",
         .token = "t",
         .account = "0123456789ABCDEF0123456789ABCDEF"},
        {.url = "ws://127.0.0.1:1/link", .token = "t", .pace_window = 2},
        {.url = "ws://127.0.0.1:1/link",
         .token = "t",
         .pace_window = FAKE_ARENA_MAX_PACE_WINDOW + 1,
         .pace_window_ms = 10},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_link_t *f = fake_link_new(&bad[i]);
        if (f) {
            fake_link_destroy(&f);
            fail_msg("config %zu accepted", i);
        }
    }
    fake_link_destroy(NULL);
}

/*  The fake-link program refuses bad era, account and pace flags (exit 2). */
static void test_cli_flags(void **state)
{
    (void)state;
    const char *bin = ARENA_BINARY_DIR "/fake-link";
    if (access(bin, X_OK) != 0)
        skip(); /* built by the fake-link target, not by this test's */
    static const char *const bad[][2] = {
        {"--era", "2024"}, {"--account", "XYZ"}, {"--tab-account", "0=abc"}, {"--tab-account", "x"},
        {"--pace", "abc"}, {"--pace", "1,2"},    {"--pace", "1,2,3,4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) {
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            execl(bin, bin, "--url", "ws://127.0.0.1:1/link", "--token", "t", bad[i][0], bad[i][1],
                  (char *)NULL);
            _exit(127);
        }
        int st = 0;
        long long until = t_now_ms() + T_WAIT_MS;
        while (waitpid(pid, &st, WNOHANG) == 0) {
            if (t_now_ms() > until) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
                fail_msg("%s %s: still running", bad[i][0], bad[i][1]);
            }
            usleep(5000);
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
            fail_msg("%s %s: exit %d, want 2", bad[i][0], bad[i][1], WEXITSTATUS(st));
    }
}

int main(void)
{
    lws_set_log_level(LLL_ERR, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directive_find),
        cmocka_unit_test(test_directive_parse_and_check),
        cmocka_unit_test(test_scenario_bodies),
        cmocka_unit_test(test_scenario_pacing_and_echo),
        cmocka_unit_test(test_scenario_split_and_long),
        cmocka_unit_test(test_validation_table),
        cmocka_unit_test(test_validation_2026),
        cmocka_unit_test(test_participant_b),
        cmocka_unit_test(test_promptfailed),
        cmocka_unit_test(test_pace),
        cmocka_unit_test(test_page_catalog_2026),
        cmocka_unit_test(test_cli_flags),
        cmocka_unit_test(test_duplicates_and_attachment_limits),
        cmocka_unit_test(test_id_memory_is_bounded),
        cmocka_unit_test(test_page_catalog),
        cmocka_unit_test(test_models_file),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test_setup_teardown(test_hello, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ping_pong, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_page_reply, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_text_scenario, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_ids, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_field, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abort_stall, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_midclose_and_reconnect, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_jobs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_last_directive_wins, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_force_and_default, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_accounts_and_pace, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_era_2025_wire, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reload, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_drop_and_no_reconnect, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_origin_and_token, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_sinks_and_goaway, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
