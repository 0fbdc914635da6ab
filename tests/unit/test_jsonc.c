/*  Unit tests of protocol/jsonc: comments and trailing commas stripped outside
    strings, strings left intact, error positions that match the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/jsonc.h"

static const struct {
    const char *text;
    const char *compact; /* expected json_dumps(JSON_COMPACT|JSON_SORT_KEYS) */
} OK_CASES[] = {
    {"{\"a\":1}", "{\"a\":1}"},
    {"{\"a\":1} // trailing comment", "{\"a\":1}"},
    {"// first\n{\"a\":1}", "{\"a\":1}"},
    {"/* block */ {\"a\" /* in */ : /* between */ 1}", "{\"a\":1}"},
    {"/* multi\n   line\n */{\"a\":1}", "{\"a\":1}"},
    {"/**/{\"a\":1}/***/", "{\"a\":1}"},
    {"/* a * star / slash */{\"a\":1}", "{\"a\":1}"},
    {"{\"url\":\"http://x.test/a\"}", "{\"url\":\"http://x.test/a\"}"},
    {"{\"a\":\"// not a comment\"}", "{\"a\":\"// not a comment\"}"},
    {"{\"a\":\"/* not */ either\"}", "{\"a\":\"/* not */ either\"}"},
    {"{\"a\":\"quote \\\" // still string\"} // comment", "{\"a\":\"quote \\\" // still string\"}"},
    {"{\"a\":\"back\\\\\"} // comment after an escaped backslash", "{\"a\":\"back\\\\\"}"},
    {"{\"a\":\"trailing, ]\"}", "{\"a\":\"trailing, ]\"}"},
    {"{\"a\":[1,2,],}", "{\"a\":[1,2]}"},
    {"[1, /* c */ ]", "[1]"},
    {"{\"a\":1,\n// c\n}", "{\"a\":1}"},
    {"{\"a\":{\"b\":true,},\"c\":[\"x\",],}", "{\"a\":{\"b\":true},\"c\":[\"x\"]}"},
    {"[[],{},]", "[[],{}]"},
    {"{\"a\":1,\r\n}\r\n", "{\"a\":1}"},
    {"\xEF\xBB\xBF{\"bom\":1}", "{\"bom\":1}"},
    {"\"scalar\" // ok", "\"scalar\""},
    {"// \xC3\xA9\xE2\x98\x95 comment\n[\"\xC3\xA9\"]", "[\"\xC3\xA9\"]"},
    {"[1]// no newline at end", "[1]"},
};

static const struct {
    const char *text;
    const char *error_prefix; /* "line L column C" */
    const char *error_has;
} ERR_CASES[] = {
    {"{\"a\":1} /* open", "line 1 column 9", "unterminated block comment"},
    {"{\n  \"a\": 1\n} /*\n*/ /* again\n", "line 4 column 4", "unterminated block comment"},
    {"", "line 1", "end of file"},
    {"// only a comment\n", "line 2", "end of file"},
    {"[,]", "line 1", ""},
    {"[1,,]", "line 1", ""},
    {"{\"a\":,}", "line 1", ""},
    {"{,}", "line 1", ""},
    {"[1 / 2]", "line 1", ""},
    {"{\n// c\n/* multi\nline */\n\"a\": }", "line 5", ""},
    {"{\"a\":\"unterminated // x}\n", "line 1", ""},
    {"{\"a\":1}\n/* one */ /* two */ x", "line 2", ""},
};

static void test_ok(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof OK_CASES / sizeof OK_CASES[0]; i++) {
        char err[256];
        json_t *v = jsonc_loadb(OK_CASES[i].text, strlen(OK_CASES[i].text), err, sizeof err);
        if (!v)
            fail_msg("case %zu: %s: %s", i, OK_CASES[i].text, err);
        char *dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        assert_non_null(dump);
        if (strcmp(dump, OK_CASES[i].compact) != 0)
            fail_msg("case %zu: got %s want %s", i, dump, OK_CASES[i].compact);
        assert_string_equal(err, "");
        free(dump);
        json_decref(v);
    }
}

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ERR_CASES / sizeof ERR_CASES[0]; i++) {
        char err[256];
        memset(err, 'X', sizeof err);
        json_t *v = jsonc_loadb(ERR_CASES[i].text, strlen(ERR_CASES[i].text), err, sizeof err);
        if (v)
            fail_msg("case %zu: %s parsed", i, ERR_CASES[i].text);
        if (strncmp(err, ERR_CASES[i].error_prefix, strlen(ERR_CASES[i].error_prefix)) != 0 ||
            !strstr(err, ERR_CASES[i].error_has))
            fail_msg("case %zu: error \"%s\", want \"%s…%s\"", i, err, ERR_CASES[i].error_prefix,
                     ERR_CASES[i].error_has);
    }
}

/*  Stripping keeps every line and character column where it was: the error
    position is the one jansson gives for the same text with the comments
    blanked by hand. */
static void test_positions_match(void **state)
{
    (void)state;
    static const struct {
        const char *jsonc;
        const char *blanked;
    } cases[] = {
        {"{\n  // note\n  \"a\": [1, 2,],\n  /* x */ \"b\": ?\n}",
         "{\n         \n  \"a\": [1, 2 ],\n          \"b\": ?\n}"},
        {"/* \xC3\xA9\xE2\x98\x95 */ x", "         x"},
        {"[ /* one\ntwo */ 1, oops ]", "[       \n       1, oops ]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256];
        json_error_t want;
        assert_null(jsonc_loadb(cases[i].jsonc, strlen(cases[i].jsonc), err, sizeof err));
        assert_null(json_loads(cases[i].blanked, JSON_DECODE_ANY, &want));
        char expect[256];
        snprintf(expect, sizeof expect, "line %d column %d: %s", want.line, want.column, want.text);
        if (strcmp(err, expect) != 0)
            fail_msg("case %zu: got \"%s\" want \"%s\"", i, err, expect);
    }
}

static void test_bounds(void **state)
{
    (void)state;
    /* no error buffer is fine */
    json_t *v = jsonc_loadb("[1,]", 4, NULL, 0);
    assert_non_null(v);
    json_decref(v);
    assert_null(jsonc_loadb("[1", 2, NULL, 0));
    /* a tiny error buffer is still terminated */
    char err[8];
    memset(err, 'X', sizeof err);
    assert_null(jsonc_loadb("/*", 2, err, sizeof err));
    assert_int_equal(strlen(err), sizeof err - 1);
    /* NULL text */
    char big[64];
    assert_null(jsonc_loadb(NULL, 3, big, sizeof big));
    assert_string_equal(big, "line 1 column 1: no input");
    /* an absurd length is refused before anything is read */
    assert_null(jsonc_loadb("[]", (size_t)65 * 1024 * 1024, big, sizeof big));
    assert_string_equal(big, "line 1 column 1: input larger than 64 MiB");
    /* only len bytes are read: the comma-stripped prefix parses */
    v = jsonc_loadb("[1,] garbage", 4, big, sizeof big);
    assert_non_null(v);
    json_decref(v);
    /* a NUL byte inside a comment is blanked with it */
    static const char nul[] = "[1 /* \0 */]";
    v = jsonc_loadb(nul, sizeof nul - 1, big, sizeof big);
    assert_non_null(v);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_positions_match),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
