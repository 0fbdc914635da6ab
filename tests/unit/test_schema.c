/*  schema: valijson behind a C API, on the schemas OpenAI clients send (the
    shape zod-to-json-schema writes) and on hostile ones that must be refused
    rather than crash or hang the node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/schema.h"

static char s_err[512];

static int s_check(const char *schema, const char *doc)
{
    return schema_validate(schema, strlen(schema), doc, strlen(doc), s_err, sizeof s_err);
}

/* What zod-to-json-schema writes for
   z.object({ name: z.string(), age: z.number().int().min(0),
              role: z.enum(["admin","user"]),
              tags: z.array(z.object({ k: z.string(), v: z.array(z.number()) })),
              email: z.string().email().optional() }) */
static const char *ZOD =
    "{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0},"
    "\"role\":{\"type\":\"string\",\"enum\":[\"admin\",\"user\"]},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"k\":{\"type\":\"string\"},\"v\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}},"
    "\"required\":[\"k\",\"v\"],\"additionalProperties\":false}},"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"}},"
    "\"required\":[\"name\",\"age\",\"role\",\"tags\"],\"additionalProperties\":false,"
    "\"$schema\":\"http://json-schema.org/draft-07/schema#\"}";

static void test_zod_valid(void **state)
{
    (void)state;
    assert_int_equal(s_check(ZOD, "{\"name\":\"Ann\",\"age\":3,\"role\":\"user\",\"tags\":[]}"), 1);
    assert_int_equal(s_check(ZOD, "{\"name\":\"Ann\",\"age\":3,\"role\":\"admin\","
                                  "\"tags\":[{\"k\":\"a\",\"v\":[1,2.5]}],\"email\":\"a@b.c\"}"),
                     1);
    assert_string_equal(s_err, "");
}

static void test_zod_invalid_names_the_path(void **state)
{
    (void)state;
    /* a nested array element of the wrong type */
    assert_int_equal(s_check(ZOD, "{\"name\":\"Ann\",\"age\":3,\"role\":\"user\","
                                  "\"tags\":[{\"k\":\"a\",\"v\":[1,\"x\"]}]}"),
                     0);
    assert_non_null(strstr(s_err, "$.tags[0].v[1]"));
    /* enum */
    assert_int_equal(s_check(ZOD, "{\"name\":\"Ann\",\"age\":3,\"role\":\"root\",\"tags\":[]}"), 0);
    assert_non_null(strstr(s_err, "$.role"));
    /* required */
    assert_int_equal(s_check(ZOD, "{\"name\":\"Ann\",\"role\":\"user\",\"tags\":[]}"), 0);
    assert_non_null(strstr(s_err, "age"));
    /* additionalProperties false */
    assert_int_equal(
        s_check(ZOD, "{\"name\":\"Ann\",\"age\":3,\"role\":\"user\",\"tags\":[],\"extra\":1}"), 0);
    assert_true(strlen(s_err) > 0);
    /* integer */
    assert_int_equal(s_check(ZOD, "{\"name\":\"Ann\",\"age\":3.5,\"role\":\"user\",\"tags\":[]}"),
                     0);
    assert_non_null(strstr(s_err, "$.age"));
    /* not JSON at all: the answer's fault (0), not the schema's */
    assert_int_equal(s_check(ZOD, "{\"name\":"), 0);
    assert_non_null(strstr(s_err, "not valid JSON"));
}

static void test_recursive_definitions(void **state)
{
    (void)state;
    /* zod's z.lazy tree: recursion that descends into the document is fine */
    const char *tree = "{\"$ref\":\"#/definitions/Node\",\"definitions\":{\"Node\":{"
                       "\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"number\"},"
                       "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/Node\"}}},"
                       "\"required\":[\"v\"],\"additionalProperties\":false}}}";
    assert_int_equal(s_check(tree, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3}]}]}"), 1);
    assert_int_equal(s_check(tree, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":\"x\"}]}]}"), 0);
    assert_non_null(strstr(s_err, "$.kids[0].kids[0].v"));
    assert_int_equal(schema_check(tree, strlen(tree), s_err, sizeof s_err), 0);
}

static void test_patterns(void **state)
{
    (void)state;
    const char *p = "{\"type\":\"string\",\"pattern\":\"^[a-z]+-[0-9]{2}$\"}";
    assert_int_equal(s_check(p, "\"ab-12\""), 1);
    assert_int_equal(s_check(p, "\"ab-1\""), 0);
    /* a catastrophic-backtracking pattern on a long subject returns quickly
       (polynomial engine) and does not blow the stack */
    const char *evil = "{\"type\":\"string\",\"pattern\":\"^(a|a)*(a+)+$\"}";
    size_t n = 200000;
    char *doc = malloc(n + 3);
    assert_non_null(doc);
    doc[0] = '"';
    memset(doc + 1, 'a', n);
    doc[n] = 'b'; /* no match: the worst case for backtracking */
    doc[n + 1] = '"';
    doc[n + 2] = 0;
    assert_int_equal(schema_validate(evil, strlen(evil), doc, n + 2, s_err, sizeof s_err), 0);
    free(doc);
    /* an unanchored pattern that fails late: regex_search's retry from each
       start position would be quadratic (minutes here) */
    const char *late = "{\"type\":\"string\",\"pattern\":\"a*b\"}";
    n = 200000;
    doc = malloc(n + 3);
    assert_non_null(doc);
    doc[0] = '"';
    memset(doc + 1, 'a', n);
    doc[n + 1] = '"';
    doc[n + 2] = 0;
    assert_int_equal(schema_validate(late, strlen(late), doc, n + 2, s_err, sizeof s_err), 0);
    doc[n] = 'b';
    assert_int_equal(schema_validate(late, strlen(late), doc, n + 2, s_err, sizeof s_err), 1);
    free(doc);
    /* search semantics kept: a match anywhere, '^' and '$' at the ends only,
       a top-level alternation */
    const char *alt = "{\"type\":\"string\",\"pattern\":\"^x|y$\"}";
    assert_int_equal(s_check(alt, "\"xa\""), 1);
    assert_int_equal(s_check(alt, "\"ay\""), 1);
    assert_int_equal(s_check(alt, "\"ax\""), 0);
    assert_int_equal(s_check(alt, "\"ya\""), 0);
    assert_int_equal(s_check("{\"pattern\":\"b+c\"}", "\"aabbbcdd\""), 1);
    assert_int_equal(s_check("{\"pattern\":\"a)|(b\"}", "\"b\""), -1);
    /* repetitions that libstdc++ would expand into a million states */
    assert_int_equal(s_check("{\"pattern\":\"((a{100}){100}){100}\"}", "\"a\""), -1);
    assert_non_null(strstr(s_err, "repeats too much"));
    /* a pattern's work counts against the budget: 4 MB through 40 states */
    const char *rep = "{\"type\":\"string\",\"pattern\":\"^(a|aa|aaa|b?){8}c\"}";
    n = 4000000;
    doc = malloc(n + 3);
    assert_non_null(doc);
    doc[0] = '"';
    memset(doc + 1, 'a', n);
    doc[n + 1] = '"';
    doc[n + 2] = 0;
    assert_int_equal(schema_validate(rep, strlen(rep), doc, n + 2, s_err, sizeof s_err), 0);
    assert_non_null(strstr(s_err, "too complex"));
    free(doc);
    /* refused: back-references, bad regex, patternProperties */
    assert_int_equal(s_check("{\"pattern\":\"(a)\\\\1\"}", "\"aa\""), -1);
    assert_non_null(strstr(s_err, "back-reference"));
    assert_int_equal(s_check("{\"pattern\":\"(\"}", "\"a\""), -1);
    assert_int_equal(s_check("{\"patternProperties\":{\"^a\":{}}}", "{}"), -1);
}

static void test_bad_schemas(void **state)
{
    (void)state;
    assert_int_equal(s_check("{", "{}"), -1);
    assert_non_null(strstr(s_err, "schema is not valid JSON"));
    assert_int_equal(s_check("[1]", "{}"), -1);
    assert_int_equal(s_check("{\"$ref\":\"http://example.com/s.json\"}", "{}"), -1);
    assert_non_null(strstr(s_err, "local $ref"));
    assert_int_equal(s_check("{\"$ref\":\"#/definitions/nope\"}", "{}"), -1);
    assert_int_equal(s_check("{\"type\":\"object\",\"minProperties\":\"x\"}", "{}"), -1);
}

static void test_hostile_schemas(void **state)
{
    (void)state;
    /* $ref loops that never descend into the document */
    assert_int_equal(s_check("{\"$ref\":\"#\"}", "{}"), -1);
    assert_non_null(strstr(s_err, "loop"));
    assert_int_equal(s_check("{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},"
                             "\"b\":{\"allOf\":[{\"$ref\":\"#/definitions/a\"}]}},"
                             "\"$ref\":\"#/definitions/a\"}",
                             "{}"),
                     -1);
    assert_int_equal(s_check("{\"anyOf\":[{\"not\":{\"$ref\":\"#\"}}]}", "1"), -1);

    /* deep nesting */
    char deep[4096];
    size_t k = 0;
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"not\":");
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{}");
    for (int i = 0; i < 200; i++)
        deep[k++] = '}';
    deep[k] = 0;
    assert_int_equal(s_check(deep, "{}"), -1);
    assert_non_null(strstr(s_err, "nested deeper"));

    /* exponential fan-out: each level applies the next one twice, across
       20 levels of one instance (2^20 visits) */
    char fan[8192];
    k = (size_t)snprintf(fan, sizeof fan, "{\"$ref\":\"#/definitions/d0\",\"definitions\":{");
    for (int i = 0; i < 20; i++)
        k += (size_t)snprintf(fan + k, sizeof fan - k,
                              "\"d%d\":{\"allOf\":[{\"$ref\":\"#/definitions/d%d\"},{\"$ref\":"
                              "\"#/definitions/d%d\"}]},",
                              i, i + 1, i + 1);
    k += (size_t)snprintf(fan + k, sizeof fan - k, "\"d20\":{\"type\":\"object\"}}}");
    assert_int_equal(s_check(fan, "{}"), -1); /* a same-instance chain too long */
    /* the same blow-up spread over the document's depth: 2 per level */
    const char *dbl = "{\"definitions\":{\"n\":{\"allOf\":[{\"$ref\":\"#/definitions/m\"},"
                      "{\"$ref\":\"#/definitions/m\"}]},\"m\":{\"properties\":{\"x\":{\"$ref\":"
                      "\"#/definitions/n\"}}}},\"$ref\":\"#/definitions/n\"}";
    assert_int_equal(schema_check(dbl, strlen(dbl), s_err, sizeof s_err), 0);
    char doc[4096];
    k = 0;
    for (int i = 0; i < 30; i++)
        k += (size_t)snprintf(doc + k, sizeof doc - k, "{\"x\":");
    k += (size_t)snprintf(doc + k, sizeof doc - k, "1");
    for (int i = 0; i < 30; i++)
        doc[k++] = '}';
    doc[k] = 0;
    assert_int_equal(s_check(dbl, doc), 0); /* the answer cannot be checked: 2^30 */
    assert_non_null(strstr(s_err, "too complex"));

    /* sizes */
    size_t big = SCHEMA_MAX_SCHEMA + 10;
    char *s = malloc(big);
    assert_non_null(s);
    memset(s, ' ', big);
    s[0] = '{';
    s[big - 1] = '}';
    assert_int_equal(schema_validate(s, big, "{}", 2, s_err, sizeof s_err), -1);
    free(s);
}

static void test_format_not_asserted(void **state)
{
    (void)state;
    /* valijson checks "date" with a backtracking regex whose recursion grows
       with the string: format is an annotation here */
    const char *f = "{\"type\":\"string\",\"format\":\"date\"}";
    size_t n = 500000;
    char *doc = malloc(n + 3);
    assert_non_null(doc);
    doc[0] = '"';
    memset(doc + 1, '1', n);
    doc[n + 1] = '"';
    doc[n + 2] = 0;
    assert_int_equal(schema_validate(f, strlen(f), doc, n + 2, s_err, sizeof s_err), 1);
    free(doc);
    /* a property named "format" is not the keyword */
    const char *p = "{\"type\":\"object\",\"properties\":{\"format\":{\"type\":\"string\"}},"
                    "\"required\":[\"format\"]}";
    assert_int_equal(s_check(p, "{}"), 0);
    assert_int_equal(s_check(p, "{\"format\":\"x\"}"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zod_valid),
        cmocka_unit_test(test_zod_invalid_names_the_path),
        cmocka_unit_test(test_recursive_definitions),
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_hostile_schemas),
        cmocka_unit_test(test_format_not_asserted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
