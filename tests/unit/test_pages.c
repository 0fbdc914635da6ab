/*  test_pages — the index page and the userscript templating (node/pages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/pages.h"

static char *s_index(const pages_index_t *in)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(pages_index(in, &out), 0);
    abuf_append(&out, "", 0);
    return abuf_steal(&out, NULL);
}

static void s_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("want \"%s\" in:\n%s", want, text);
}

static void test_index(void **state)
{
    pages_index_t in = {
        .node_name = "desk <&\"pi\">",
        .arena_origin = NULL,
        .http_host = "127.0.0.1",
        .http_port = 5102,
        .link_host = "127.0.0.1",
        .link_port = 5103,
        .tabs = 2,
        .models = 7,
        .example_model = "claude-<opus>",
        .api_keys = false,
    };
    char *page = s_index(&in);
    s_has(page, "<!DOCTYPE html>");
    /* the name is escaped, in the title and the heading */
    s_has(page, "<title>ArenaMesh node desk &lt;&amp;&quot;pi&quot;&gt;</title>");
    s_has(page, "<h1>ArenaMesh node <em>desk &lt;&amp;&quot;pi&quot;&gt;</em></h1>");
    /* the dashboard: views, the key form, the compiled-in style and script */
    s_has(page, "<body data-tabs=\"2\" data-keys=\"0\">");
    s_has(page, "<section id=\"view-mesh\"");
    s_has(page, "<section id=\"view-models\"");
    s_has(page, "<section id=\"view-setup\" aria-labelledby=\"h-setup\">");
    s_has(page, "<a href=\"/extension.zip\" id=\"extension-zip\">"); /* the extension, by hand */
    s_has(page, "<label for=\"key\">");
    s_has(page, "<style>/* The dashboard's style");
    s_has(page, "<script>// The dashboard's core");
    assert_non_null(strstr(page, "fetch('/mesh/status'"));
    s_has(page, "AM.start();\n</script></body></html>"); /* start.js last, once */
    assert_null(strstr(strstr(page, "AM.start();") + 1, "AM.start();"));
    assert_null(strstr(page, "<&\"pi\">"));
    s_has(page, "Browser tabs connected now: <strong id=\"setup-tabs\">2</strong>; models known: "
                "<strong id=\"setup-models\">7</strong>.");
    s_has(page, "<a href=\"/userscript.user.js\">/userscript.user.js</a>");
    s_has(page, "Open LMArena (https://lmarena.ai) in a tab");
    s_has(page, "the tab talks to this node on 127.0.0.1:5103.</li>");
    s_has(page, "Base URL: <code>http://127.0.0.1:5102/v1</code>");
    s_has(page, "API key: anything (no key is configured)");
    s_has(page, "e.g. <code>claude-&lt;opus&gt;</code>");
    s_has(page, "<pre tabindex=\"0\" aria-label=\"an example request\">curl "
                "http://127.0.0.1:5102/v1/chat/completions -H");
    s_has(page, "\"model\":\"claude-&lt;opus&gt;\"");
    s_has(page, "<a href=\"/mesh/status\">/mesh/status</a>");
    s_has(page, "<a href=\"/health\">/health</a></p></section>");
    /* the setup steps are inside the setup view */
    assert_true(strstr(page, "Connect a browser tab") > strstr(page, "<section id=\"view-setup\""));
    assert_true(strstr(page, "Connect a browser tab") < strstr(page, "</section></main>"));
    size_t n = strlen(page);
    assert_true(n > 14 && strcmp(page + n - 14, "</body></html>") == 0);
    free(page);

    in.arena_origin = "https://arena.ai";
    in.api_keys = true;
    in.example_model = NULL;
    page = s_index(&in);
    s_has(page, "Open LMArena (https://arena.ai) in a tab");
    s_has(page, "data-keys=\"1\"");
    s_has(page, "API key: one of the keys given with <code>--api-key</code> or made with "
                "<code>arena-mesh keys create</code>");
    s_has(page, "e.g. <code>gpt-5-high</code>");
    free(page);
    (void)state;
}

static void test_link_host(void **state)
{
    assert_string_equal(pages_link_host("0.0.0.0"), "127.0.0.1");
    assert_string_equal(pages_link_host("::"), "127.0.0.1");
    assert_string_equal(pages_link_host("10.0.0.2"), "10.0.0.2");
    (void)state;
}

static char *s_template(const char *tmpl, size_t len, const char *url, const char *token)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(pages_userscript(tmpl, len, url, token, &out), 0);
    abuf_append(&out, "", 0);
    return abuf_steal(&out, NULL);
}

static void test_userscript_template(void **state)
{
    static const struct {
        const char *tmpl;
        const char *want;
    } cases[] = {
        {"", ""},
        {"no markers", "no markers"},
        {"u=__ARENA_LINK_URL__;t=__ARENA_LINK_TOKEN__;", "u=ws://h:1/link;t=T0k;"},
        {"__ARENA_LINK_TOKEN____ARENA_LINK_URL__", "T0kws://h:1/link"},
        /* an unknown marker stays as it is */
        {"x=__ARENA_LINK_OTHER__;", "x=__ARENA_LINK_OTHER__;"},
        {"__ARENA_LINK_", "__ARENA_LINK_"},
        {"__ARENA_LINK_URL_", "__ARENA_LINK_URL_"}, /* cut short */
        {"___ARENA_LINK_URL__", "_ws://h:1/link"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = s_template(cases[i].tmpl, strlen(cases[i].tmpl), "ws://h:1/link", "T0k");
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].want, got);
        free(got);
    }
    /* the length bounds the template: a marker past it is not read */
    char *got = s_template("a__ARENA_LINK_URL__", 1, "ws://h:1/link", "T0k");
    assert_string_equal(got, "a");
    free(got);
    (void)state;
}

/*  The userscript arena-node serves: the link URL and token filled in,
    nothing left to fill. */
static void test_userscript_embedded(void **state)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(
        pages_userscript_embedded("ws://127.0.0.1:5103/link", "tok-1234567890abcdef", &out), 0);
    abuf_append(&out, "", 0);
    s_has(out.data, "// ==UserScript==");
    s_has(out.data, "ws://127.0.0.1:5103/link");
    s_has(out.data, "tok-1234567890abcdef");
    assert_null(strstr(out.data, "__ARENA_LINK_URL__"));
    assert_null(strstr(out.data, "__ARENA_LINK_TOKEN__"));
    abuf_free(&out);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_link_host),
        cmocka_unit_test(test_userscript_template),
        cmocka_unit_test(test_userscript_embedded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
