/*  shape: stop strings split across deltas, the max_tokens cut, tool calls
    parsed from a model's text, structured output checked, the held cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/abuf.h"
#include "protocol/shape.h"
#include "protocol/utf8.h"

typedef struct {
    abuf_t text;
    abuf_t reasoning;
    size_t n_deltas;
    bool split_char; /* a text delta ended inside a UTF-8 sequence */
    size_t n_calls;
    char names[4][64];
    char args[4][256];
    char ids[4][64];
    size_t index[4];
    bool text_after_call;
} col_t;

static void s_delta(void *arg, delta_kind_t kind, const char *text, size_t len)
{
    col_t *c = arg;
    assert_true(len > 0);
    if (kind == DELTA_TEXT) {
        if (c->n_calls)
            c->text_after_call = true;
        if (!utf8_valid(text, len))
            c->split_char = true;
        assert_int_equal(abuf_append(&c->text, text, len), 0);
        c->n_deltas++;
    } else {
        assert_int_equal(abuf_append(&c->reasoning, text, len), 0);
    }
}

static void s_call(void *arg, size_t index, const openai_tool_call_t *call)
{
    col_t *c = arg;
    assert_true(c->n_calls < 4);
    c->index[c->n_calls] = index;
    snprintf(c->names[c->n_calls], sizeof c->names[0], "%s", call->name);
    snprintf(c->args[c->n_calls], sizeof c->args[0], "%s", call->arguments);
    snprintf(c->ids[c->n_calls], sizeof c->ids[0], "%s", call->id);
    c->n_calls++;
}

static const shape_sink_t SINK = {s_delta, s_call};

static openai_tool_t TOOLS[] = {
    {"get_weather", "weather", "{\"type\":\"object\"}", false},
    {"get_time", NULL, NULL, false},
};

static openai_request_t s_req(void)
{
    openai_request_t r;
    memset(&r, 0, sizeof r);
    r.max_tokens = -1;
    r.parallel_tool_calls = true;
    return r;
}

static void s_tools(openai_request_t *r)
{
    r->tools = TOOLS;
    r->n_tools = 2;
    r->tool_choice = OPENAI_TOOL_AUTO;
}

static shape_t *s_new(const openai_request_t *r, col_t *c, size_t max_held)
{
    memset(c, 0, sizeof *c);
    shape_t *s = shape_new(r, max_held, &SINK, c);
    assert_non_null(s);
    return s;
}

static void s_free(shape_t **s, col_t *c)
{
    shape_destroy(s);
    assert_null(*s);
    abuf_free(&c->text);
    abuf_free(&c->reasoning);
}

static int s_feed(shape_t *s, const char *t)
{
    return shape_feed(s, DELTA_TEXT, t, strlen(t));
}

static const char *s_text(col_t *c)
{
    return c->text.data ? c->text.data : "";
}

/* Feeds parts, ends, checks the text and finish reason. */
static void s_run(const openai_request_t *r, const char **parts, size_t n, const char *want,
                  const char *want_finish, int want_rc)
{
    col_t c;
    shape_t *s = s_new(r, &c, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(s_feed(s, parts[i]), SHAPE_ERROR);
    const char *fr = NULL;
    char err[256];
    assert_int_equal(shape_end(s, &fr, err, sizeof err), want_rc);
    assert_string_equal(s_text(&c), want);
    assert_string_equal(fr, want_finish);
    s_free(&s, &c);
}

static void test_stop_split(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    char *stops[] = {"END"};
    r.stop[0] = stops[0];
    r.n_stop = 1;
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    /* across two deltas */
    assert_int_equal(s_feed(s, "abcE"), SHAPE_MORE);
    assert_string_equal(s_text(&c), "abc"); /* only "E" held */
    assert_int_equal(s_feed(s, "NDxyz"), SHAPE_CUT);
    assert_int_equal(s_feed(s, "more"), SHAPE_CUT); /* ignored after the cut */
    const char *fr = NULL;
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "abc");
    assert_string_equal(fr, "stop");
    s_free(&s, &c);

    /* across three deltas */
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "ab"), SHAPE_MORE);
    assert_int_equal(s_feed(s, "cE"), SHAPE_MORE);
    assert_int_equal(s_feed(s, "N"), SHAPE_MORE);
    assert_string_equal(s_text(&c), "abc");
    assert_int_equal(s_feed(s, "Dzz"), SHAPE_CUT);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "abc");
    s_free(&s, &c);

    /* no false hold: text that begins no stop string goes at once, and a
       held start that does not complete is sent at the end */
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "hello "), SHAPE_MORE);
    assert_string_equal(s_text(&c), "hello ");
    assert_int_equal(s_feed(s, "EN"), SHAPE_MORE);
    assert_string_equal(s_text(&c), "hello ");
    assert_int_equal(s_feed(s, "d"), SHAPE_MORE); /* "ENd": not the stop */
    assert_string_equal(s_text(&c), "hello ENd");
    assert_int_equal(s_feed(s, "xEN"), SHAPE_MORE);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "hello ENdxEN");
    assert_string_equal(fr, "stop");
    s_free(&s, &c);
}

static void test_stop_overlapping(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    char *stops[] = {"abcd", "bc", "aab", "\n\nUser:"};
    for (int i = 0; i < 4; i++)
        r.stop[i] = stops[i];
    r.n_stop = 4;
    const char *p1[] = {"xabcd"};
    s_run(&r, p1, 1, "x", "stop", SHAPE_OK); /* "abcd" at 1 comes first */
    const char *p0[] = {"xbcabcd"};
    s_run(&r, p0, 1, "x", "stop", SHAPE_OK); /* "bc" at 1, though listed after "abcd" */
    const char *p2[] = {"a", "a", "a", "b"};
    s_run(&r, p2, 4, "a", "stop", SHAPE_OK); /* "aab" at 1 */
    const char *p3[] = {"Hi.\n", "\nUs", "er: next"};
    s_run(&r, p3, 3, "Hi.", "stop", SHAPE_OK);
    const char *p4[] = {"Hi.\n", "\nUs", "age"};
    s_run(&r, p4, 3, "Hi.\n\nUsage", "stop", SHAPE_OK);
}

static void test_stop_long(void **state)
{
    (void)state;
    /* a long self-similar stop string, and a short one overlapping itself:
       exactly the possible start of a stop is kept back */
    size_t L = 100000;
    char *stop = malloc(L + 2);
    assert_non_null(stop);
    memset(stop, 'a', L);
    stop[L] = 'b';
    stop[L + 1] = 0;
    openai_request_t r = s_req();
    r.stop[0] = stop;
    r.n_stop = 1;
    char *stops2[] = {"abab"};
    r.stop[1] = stops2[0];
    r.n_stop = 2;
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    char piece[100];
    memset(piece, 'a', sizeof piece);
    for (size_t i = 0; i < L / sizeof piece; i++)
        assert_int_equal(shape_feed(s, DELTA_TEXT, piece, sizeof piece), SHAPE_MORE);
    assert_int_equal(c.text.len, 0); /* all of it may still be the stop */
    assert_int_equal(shape_feed(s, DELTA_TEXT, "xab", 3), SHAPE_MORE);
    assert_int_equal(c.text.len, L + 1); /* only "ab" may still begin "abab" */
    assert_int_equal(shape_feed(s, DELTA_TEXT, "ab", 2), SHAPE_CUT);
    assert_int_equal(shape_end(s, NULL, NULL, 0), SHAPE_OK);
    assert_int_equal(c.text.len, L + 1);
    s_free(&s, &c);
    free(stop);

    /* a mismatch inside the kept-back part that still leaves a shorter start
       ("abab" ends with "ab", which begins "abaab") */
    char *stops3[] = {"abaab"};
    r.stop[0] = stops3[0];
    r.n_stop = 1;
    const char *p[] = {"xabab", "aab tail"};
    s_run(&r, p, 2, "xab", "stop", SHAPE_OK);
}

static void test_stop_multibyte(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    char *stops[] = {"\xC3\xA9"}; /* é */
    r.stop[0] = stops[0];
    r.n_stop = 1;
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "caf\xC3"), SHAPE_MORE); /* the upstream split é */
    assert_string_equal(s_text(&c), "caf");
    assert_int_equal(s_feed(s, "\xA9 au lait"), SHAPE_CUT);
    assert_int_equal(shape_end(s, NULL, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "caf");
    s_free(&s, &c);

    /* è (C3 A8) starts like é: held one byte, then sent whole, never a
       delta ending inside the character */
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "caf\xC3\xA8 cr\xC3"), SHAPE_MORE);
    assert_int_equal(s_feed(s, "\xA8me"), SHAPE_MORE);
    assert_int_equal(shape_end(s, NULL, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "caf\xC3\xA8 cr\xC3\xA8me");
    assert_false(c.split_char);
    s_free(&s, &c);

    /* reasoning is not searched and passes at once */
    s = s_new(&r, &c, 0);
    assert_int_equal(shape_feed(s, DELTA_REASONING, "th\xC3\xA9", 4), SHAPE_MORE);
    assert_int_equal(c.reasoning.len, 4);
    s_free(&s, &c);
}

static void test_max_tokens(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    r.max_tokens = 2; /* 8 ASCII bytes */
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "abcde"), SHAPE_MORE);
    assert_int_equal(s_feed(s, "fghij"), SHAPE_CUT);
    const char *fr = NULL;
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "abcdefgh");
    assert_string_equal(fr, "length");
    s_free(&s, &c);

    /* é is half a token, € a whole one: 1 token holds é but not é€; the cut
       never splits a character, even one split across deltas */
    r.max_tokens = 1;
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "\xC3"), SHAPE_MORE);
    assert_int_equal(s_feed(s, "\xA9\xE2\x82\xAC"), SHAPE_CUT);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "\xC3\xA9");
    assert_string_equal(fr, "length");
    s_free(&s, &c);

    /* a cut where a per-byte count would land inside € */
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "abc\xE2\x82\xAC"), SHAPE_CUT);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "abc");
    assert_false(c.split_char);
    s_free(&s, &c);

    /* "ab" + é is exactly 1 token: no cut, and é is never split */
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "ab\xC3\xA9"), SHAPE_MORE);
    assert_int_equal(s_feed(s, "c"), SHAPE_CUT);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "ab\xC3\xA9");
    s_free(&s, &c);

    /* exactly at the limit is not a cut; the next byte is */
    r.max_tokens = 1;
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "abcd"), SHAPE_MORE);
    assert_int_equal(shape_feed(s, DELTA_REASONING, "not counted", 11), SHAPE_MORE);
    assert_int_equal(s_feed(s, "e"), SHAPE_CUT);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(s_text(&c), "abcd");
    s_free(&s, &c);
}

static const char *CALL = "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":"
                          "\"Paris\", \"days\": 2}}]}";

static void s_one_call(const char **parts, size_t n, const char *want_text)
{
    openai_request_t r = s_req();
    s_tools(&r);
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s_feed(s, parts[i]), SHAPE_MORE);
    const char *fr = NULL;
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(fr, "tool_calls");
    assert_int_equal(c.n_calls, 1);
    assert_string_equal(c.names[0], "get_weather");
    assert_string_equal(c.args[0], "{\"city\":\"Paris\",\"days\":2}");
    assert_int_equal(strlen(c.ids[0]), 29);
    assert_memory_equal(c.ids[0], "call_", 5);
    assert_string_equal(s_text(&c), want_text);
    assert_false(c.text_after_call);
    s_free(&s, &c);
}

static void test_tool_call_forms(void **state)
{
    (void)state;
    const char *bare[] = {"  {\"tool_",
                          "calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":"
                          "\"Paris\", \"days\": 2}}]}\n"};
    s_one_call(bare, 2, "  ");
    const char *fenced[] = {"``", "`json\n", CALL, "\n`", "``"};
    s_one_call(fenced, 5, "");
    const char *prose[] = {"Sure, let me check.\n", CALL, "\nDone."};
    s_one_call(prose, 3, "Sure, let me check.\n\nDone.");
    /* arguments as a JSON string holding the object (OpenAI's own form) */
    const char *str[] = {"{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":"
                         "\"{\\\"city\\\":\\\"Paris\\\",\\\"days\\\":2}\"}]}"};
    s_one_call(str, 1, "");

    /* prose goes to the client before the call starts */
    openai_request_t r = s_req();
    s_tools(&r);
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "Let me look that up `now` "), SHAPE_MORE);
    assert_string_equal(s_text(&c), "Let me look that up `now` ");
    assert_int_equal(s_feed(s, "``"), SHAPE_MORE); /* may open a fence: waits */
    assert_string_equal(s_text(&c), "Let me look that up `now` ");
    assert_int_equal(s_feed(s, "`json\n{\"tool"), SHAPE_MORE);
    assert_string_equal(s_text(&c), "Let me look that up `now` ");
    s_free(&s, &c);

    /* code and braces that cannot start a call stream on, at once */
    s = s_new(&r, &c, 0);
    const char *code = "Here:\n```python\ndef f():\n    return {1: 2}\n```\nand {x} or `y`.";
    assert_int_equal(s_feed(s, code), SHAPE_MORE);
    assert_string_equal(s_text(&c), code);
    assert_int_equal(c.n_deltas, 1); /* one piece in, one out: not cut at each brace */
    /* a possible start is kept back only until it cannot be one */
    assert_int_equal(s_feed(s, " {"), SHAPE_MORE);
    assert_int_equal(s_feed(s, "  \"tool_"), SHAPE_MORE);
    assert_int_equal(strlen(s_text(&c)), strlen(code) + 1);
    assert_int_equal(s_feed(s, "kit\": 1}"), SHAPE_MORE);
    assert_int_equal(strlen(s_text(&c)), strlen(code) + strlen(" {  \"tool_kit\": 1}"));
    /* once it is one, the rest is held to the end */
    assert_int_equal(s_feed(s, "\n{\"tool_calls\""), SHAPE_MORE);
    assert_int_equal(s_feed(s, " nothing more"), SHAPE_MORE);
    assert_int_equal(strlen(s_text(&c)), strlen(code) + strlen(" {  \"tool_kit\": 1}\n"));
    const char *fr = NULL;
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(fr, "stop");
    assert_int_equal(strlen(s_text(&c)),
                     strlen(code) + strlen(" {  \"tool_kit\": 1}\n{\"tool_calls\" nothing more"));
    s_free(&s, &c);
}

static void test_tool_calls_many(void **state)
{
    (void)state;
    const char *two =
        "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}},"
        "{\"name\":\"get_time\",\"arguments\":null}]}";
    openai_request_t r = s_req();
    s_tools(&r);
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    s_feed(s, two);
    const char *fr = NULL;
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(fr, "tool_calls");
    assert_int_equal(c.n_calls, 2);
    assert_int_equal(c.index[1], 1);
    assert_string_equal(c.names[1], "get_time");
    assert_string_equal(c.args[1], "{}");
    assert_string_not_equal(c.ids[0], c.ids[1]);
    s_free(&s, &c);

    r.parallel_tool_calls = false;
    s = s_new(&r, &c, 0);
    s_feed(s, two);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_int_equal(c.n_calls, 1);
    assert_string_equal(c.names[0], "get_weather");
    s_free(&s, &c);

    /* a named tool_choice counts only calls of that name (and holds all) */
    r.parallel_tool_calls = true;
    r.tool_choice = OPENAI_TOOL_NAMED;
    r.tool_choice_name = "get_time";
    s = s_new(&r, &c, 0);
    assert_true(shape_holds_all(s));
    s_feed(s, "Here: ");
    assert_string_equal(s_text(&c), "");
    s_feed(s, two);
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_int_equal(c.n_calls, 1);
    assert_string_equal(c.names[0], "get_time");
    assert_string_equal(s_text(&c), "Here: ");
    s_free(&s, &c);
}

static void test_tool_call_not_parsed_is_text(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    s_tools(&r);
    const char *unknown[] = {"{\"tool_calls\":[{\"name\":\"rm_rf\",\"arguments\":{}}]}"};
    s_run(&r, unknown, 1, unknown[0], "stop", SHAPE_OK);
    const char *broken[] = {"I'll call it: {\"tool_calls\":[{\"name\":\"get_weather\",",
                            "\"arguments\":{\"city\":}]}"};
    s_run(&r, broken, 2,
          "I'll call it: {\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":}]}",
          "stop", SHAPE_OK);
    const char *code[] = {"Use ```c\nint main(void) { return 0; }\n``` like so."};
    s_run(&r, code, 1, code[0], "stop", SHAPE_OK);
    const char *empty[] = {"{\"tool_calls\":[]}"};
    s_run(&r, empty, 1, empty[0], "stop", SHAPE_OK);

    /* tool_choice none: the tools are not looked for */
    r.tool_choice = OPENAI_TOOL_NONE;
    s_run(&r, (const char *[]){CALL}, 1, CALL, "stop", SHAPE_OK);

    /* required and no call: retry-able, nothing sent; flush sends it */
    r.tool_choice = OPENAI_TOOL_REQUIRED;
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    s_feed(s, "It is sunny.");
    const char *fr = NULL;
    char err[256];
    assert_int_equal(shape_end(s, &fr, err, sizeof err), SHAPE_INVALID);
    assert_non_null(strstr(err, "tool call was required"));
    assert_string_equal(s_text(&c), "");
    size_t n = 0;
    assert_string_equal(shape_answer(s, &n), "It is sunny.");
    assert_int_equal(shape_flush(s, &fr), SHAPE_OK);
    assert_string_equal(s_text(&c), "It is sunny.");
    assert_string_equal(fr, "stop");
    s_free(&s, &c);

    s = s_new(&r, &c, 0);
    s_feed(s, "{\"tool_calls\":[{\"name\":\"nope\"}]}");
    assert_int_equal(shape_end(s, &fr, err, sizeof err), SHAPE_INVALID);
    assert_non_null(strstr(err, "\"nope\", which is not among the tools"));
    s_free(&s, &c);
}

static void test_json_object(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    r.format = OPENAI_FORMAT_JSON_OBJECT;
    const char *fenced[] = {"```json\n{\"a\"", ": [1, 2]}\n```\n"};
    s_run(&r, fenced, 2, "{\"a\": [1, 2]}", "stop", SHAPE_OK);
    const char *prose[] = {"Here it is: {\"a\":1} — enjoy"};
    s_run(&r, prose, 1, "{\"a\":1}", "stop", SHAPE_OK);
    const char *bare[] = {"  {\"a\":1}\n"};
    s_run(&r, bare, 1, "{\"a\":1}", "stop", SHAPE_OK);

    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    assert_true(shape_holds_all(s));
    s_feed(s, "{\"a\": ");
    s_feed(s, "}");
    char err[256];
    assert_int_equal(shape_end(s, NULL, err, sizeof err), SHAPE_INVALID);
    assert_non_null(strstr(err, "not valid JSON"));
    assert_string_equal(s_text(&c), "");
    s_free(&s, &c);

    s = s_new(&r, &c, 0);
    s_feed(s, "[1, 2]");
    assert_int_equal(shape_end(s, NULL, err, sizeof err), SHAPE_INVALID);
    assert_non_null(strstr(err, "not an object"));
    s_free(&s, &c);

    /* a stop inside the max_tokens budget ends the answer, even when the
       same delta runs past the budget: checked (found by fuzz_shape) */
    r.max_tokens = 2;
    char *stops[] = {"E"};
    r.stop[0] = stops[0];
    r.n_stop = 1;
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "{\"a\":}Ezzzz"), SHAPE_CUT);
    assert_int_equal(shape_end(s, NULL, err, sizeof err), SHAPE_INVALID);
    s_free(&s, &c);
    r.n_stop = 0;

    /* cut by max_tokens: returned as it is, finish "length", not checked */
    r.max_tokens = 1;
    s = s_new(&r, &c, 0);
    assert_int_equal(s_feed(s, "{\"a\": 12345}"), SHAPE_CUT);
    const char *fr = NULL;
    assert_int_equal(shape_end(s, &fr, err, sizeof err), SHAPE_OK);
    assert_string_equal(fr, "length");
    assert_string_equal(s_text(&c), "{\"a\"");
    s_free(&s, &c);
}

static void test_json_schema(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    r.format = OPENAI_FORMAT_JSON_SCHEMA;
    r.format_strict = true;
    r.format_schema = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"
                      "\"temps\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}},"
                      "\"required\":[\"city\",\"temps\"],\"additionalProperties\":false}";
    const char *ok[] = {"```json\n{\"city\":\"Oslo\",", "\"temps\":[1,2.5]}\n```"};
    s_run(&r, ok, 2, "{\"city\":\"Oslo\",\"temps\":[1,2.5]}", "stop", SHAPE_OK);

    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    s_feed(s, "{\"city\":\"Oslo\",\"temps\":[1,\"warm\"]}");
    char err[320];
    assert_int_equal(shape_end(s, NULL, err, sizeof err), SHAPE_INVALID);
    assert_non_null(strstr(err, "does not match the schema"));
    assert_non_null(strstr(err, "$.temps[1]"));
    assert_string_equal(s_text(&c), "");
    size_t n = 0;
    assert_string_equal(shape_answer(s, &n), "{\"city\":\"Oslo\",\"temps\":[1,\"warm\"]}");
    s_free(&s, &c);

    /* not strict: valid JSON is enough */
    r.format_strict = false;
    const char *loose[] = {"{\"city\":1}"};
    s_run(&r, loose, 1, "{\"city\":1}", "stop", SHAPE_OK);
}

static void test_held_cap(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    r.format = OPENAI_FORMAT_JSON_OBJECT;
    col_t c;
    shape_t *s = s_new(&r, &c, 16);
    assert_int_equal(s_feed(s, "0123456789"), SHAPE_MORE);
    assert_string_equal(s_text(&c), "");
    assert_int_equal(s_feed(s, "abcdefghij"), SHAPE_MORE); /* 20 > 16: released */
    assert_string_equal(s_text(&c), "0123456789abcdefghij");
    assert_int_equal(s_feed(s, "!"), SHAPE_MORE);
    assert_string_equal(s_text(&c), "0123456789abcdefghij!");
    const char *fr = NULL;
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_string_equal(fr, "stop");
    assert_string_equal(s_text(&c), "0123456789abcdefghij!");
    s_free(&s, &c);

    /* tools auto: the same from the '{' on */
    r = s_req();
    s_tools(&r);
    s = s_new(&r, &c, 8);
    s_feed(s, "ok {\"tool_calls\":");
    assert_string_equal(s_text(&c), "ok {\"tool_calls\":");
    s_feed(s, "[]}");
    assert_int_equal(shape_end(s, &fr, NULL, 0), SHAPE_OK);
    assert_int_equal(c.n_calls, 0);
    assert_string_equal(s_text(&c), "ok {\"tool_calls\":[]}");
    s_free(&s, &c);
}

static void test_passthrough(void **state)
{
    (void)state;
    openai_request_t r = s_req();
    r.format = OPENAI_FORMAT_JSON_OBJECT;
    col_t c;
    shape_t *s = s_new(&r, &c, 0);
    assert_int_equal(shape_feed(s, DELTA_REASONING, "hmm", 3), SHAPE_MORE);
    assert_int_equal(shape_feed(s, DELTA_IMAGE, "https://x/y.png", 15), SHAPE_MORE);
    assert_int_equal(c.reasoning.len, 18); /* both at once, while text is held */
    s_free(&s, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_split),      cmocka_unit_test(test_stop_overlapping),
        cmocka_unit_test(test_stop_long),       cmocka_unit_test(test_stop_multibyte),
        cmocka_unit_test(test_max_tokens),      cmocka_unit_test(test_tool_call_forms),
        cmocka_unit_test(test_tool_calls_many), cmocka_unit_test(test_tool_call_not_parsed_is_text),
        cmocka_unit_test(test_json_object),     cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_held_cap),        cmocka_unit_test(test_passthrough),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
