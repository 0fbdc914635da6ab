/*  test_extension — the browser extension's files (node/extension) and the
    stored ZIP writer it is offered in (node/zip). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "node/extension.h"
#include "node/zip.h"
#include "tests/support/test_tmpdir.h"

#define S_URL "ws://127.0.0.1:5103/link"
#define S_TOKEN "tok-7c41d9a2b35fe0aa"
#define S_ORIGIN "http://127.0.0.1:41234"

static const extension_params_t s_params = {.link_url = S_URL,
                                            .token = S_TOKEN,
                                            .origin = S_ORIGIN,
                                            .managed = true,
                                            .tabs = 3,
                                            .stuck_ms = 45000};

static char *s_render(const extension_params_t *p, const char *name)
{
    abuf_t out = ABUF_INIT;
    assert_int_equal(extension_render(p, name, &out), 0);
    abuf_append(&out, "", 0);
    return abuf_steal(&out, NULL);
}

static void s_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("want \"%s\" in:\n%.2000s", want, text);
}

static void s_lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted))
        fail_msg("did not want \"%s\" in:\n%.2000s", unwanted, text);
}

static void test_manifest(void **state)
{
    char *text = s_render(&s_params, "manifest.json");
    json_error_t jerr;
    json_t *m = json_loads(text, 0, &jerr);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "manifest_version")), 3);
    json_t *hosts = json_object_get(m, "host_permissions");
    assert_int_equal(json_array_size(hosts), 1);
    assert_string_equal(json_string_value(json_array_get(hosts, 0)), S_ORIGIN "/*");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m, "background"), "service_worker")),
        "worker.js");
    json_t *cs = json_object_get(m, "content_scripts");
    assert_int_equal(json_array_size(cs), 2);
    /* the WebSocket's side: isolated, before the page's scripts */
    json_t *relay = json_array_get(cs, 0), *link = json_array_get(cs, 1);
    assert_string_equal(json_string_value(json_object_get(relay, "world")), "ISOLATED");
    assert_string_equal(json_string_value(json_object_get(relay, "run_at")), "document_start");
    assert_string_equal(json_string_value(json_array_get(json_object_get(relay, "js"), 0)),
                        "relay.js");
    assert_string_equal(json_string_value(json_array_get(json_object_get(relay, "matches"), 0)),
                        S_ORIGIN "/*");
    /* the userscript's code: the page's world, once the DOM is ready */
    assert_string_equal(json_string_value(json_object_get(link, "world")), "MAIN");
    assert_string_equal(json_string_value(json_object_get(link, "run_at")), "document_idle");
    assert_string_equal(json_string_value(json_array_get(json_object_get(link, "js"), 0)),
                        "link.js");
    assert_string_equal(json_string_value(json_array_get(json_object_get(link, "matches"), 0)),
                        S_ORIGIN "/*");
    json_decref(m);
    free(text);
    (void)state;
}

static void test_scripts(void **state)
{
    /* link.js: the userscript itself, with RelaySocket as its WebSocket, and no token */
    char *link = s_render(&s_params, "link.js");
    s_has(link, "(function arenaMeshLink() {");
    s_has(link, "// ==UserScript==");
    s_has(link, "class RelaySocket");
    s_has(link, "})(RelaySocket);");
    s_has(link, "const LINK_URL = '" S_URL "';");
    s_has(link, "const LINK_TOKEN = '';");
    s_lacks(link, S_TOKEN);
    s_lacks(link, "__ARENA_LINK_");
    free(link);
    /* relay.js: the WebSocket and the token */
    char *relay = s_render(&s_params, "relay.js");
    s_has(relay, "const LINK_URL = '" S_URL "';");
    s_has(relay, "const LINK_TOKEN = '" S_TOKEN "';");
    s_has(relay, "new WebSocket(LINK_URL)");
    s_lacks(relay, "__ARENA_");
    free(relay);
    char *worker = s_render(&s_params, "worker.js");
    s_has(worker, "const ORIGIN = '" S_ORIGIN "';");
    s_has(worker, "'on' === 'on'");
    s_has(worker, "Number('3')");
    s_has(worker, "Number('45000')");
    s_lacks(worker, "__ARENA_");
    free(worker);
    extension_params_t manual = s_params;
    manual.managed = false;
    worker = s_render(&manual, "worker.js");
    s_has(worker, "'off' === 'on'");
    free(worker);
    (void)state;
}

static void test_refuses(void **state)
{
    abuf_t out = ABUF_INIT;
    const char *bad_origins[] = {"lmarena.ai",  "ftp://x",      "https://",     "https://x/path",
                                 "https://a'b", "https://a b",  "https://x?q",  "https://u@x",
                                 "https://*.x", "https://x\\y", "https://x\"y", "https://\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_origins / sizeof *bad_origins; i++) {
        extension_params_t p = s_params;
        p.origin = bad_origins[i];
        for (size_t f = 0; f < EXTENSION_FILES; f++)
            if (extension_render(&p, extension_files[f], &out) != -1)
                fail_msg("origin \"%s\" accepted for %s", bad_origins[i], extension_files[f]);
    }
    extension_params_t p = s_params;
    p.token = "a'+alert(1)+'";
    assert_int_equal(extension_render(&p, "relay.js", &out), -1);
    p = s_params;
    p.link_url = "ws://x/</script>";
    assert_int_equal(extension_render(&p, "link.js", &out), -1);
    p = s_params;
    p.tabs = 0;
    assert_int_equal(extension_render(&p, "worker.js", &out), -1);
    assert_int_equal(extension_render(&s_params, "other.js", &out), -1);
    abuf_free(&out);
    (void)state;
}

static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    abuf_t b = ABUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        abuf_append(&b, buf, n);
    fclose(f);
    abuf_append(&b, "", 0);
    return abuf_steal(&b, NULL);
}

static void test_write(void **state)
{
    char tmpl[64];
    assert_int_equal(test_tmpdir_make(tmpl, sizeof tmpl, "test_extension"), 0);
    char dir[256], err[256] = "";
    snprintf(dir, sizeof dir, "%s/browser/extension", tmpl); /* parents created too */
    assert_int_equal(extension_write(&s_params, dir, err, sizeof err), 0);
    for (size_t i = 0; i < EXTENSION_FILES; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, extension_files[i]);
        char *got = s_slurp(path), *want = s_render(&s_params, extension_files[i]);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    /* written again (a restart with another link port): replaced */
    extension_params_t p = s_params;
    p.link_url = "ws://127.0.0.1:6000/link";
    assert_int_equal(extension_write(&p, dir, err, sizeof err), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/relay.js", dir);
    char *relay = s_slurp(path);
    s_has(relay, "ws://127.0.0.1:6000/link");
    free(relay);
    /* refused values write nothing new and say why */
    p.origin = "https://x/y";
    assert_int_equal(extension_write(&p, dir, err, sizeof err), -1);
    s_has(err, "cannot render");
    test_tmpdir_remove(tmpl);
    (void)state;
}

static void test_crc32(void **state)
{
    assert_int_equal(zip_crc32(0, "123456789", 9), 0xcbf43926u);
    assert_int_equal(zip_crc32(0, "", 0), 0);
    /* in pieces as at once */
    assert_int_equal(zip_crc32(zip_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
    (void)state;
}

static uint32_t s_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_zip_layout(void **state)
{
    const zip_entry_t e[] = {{"a/one.txt", "hello", 5}, {"a/empty", "", 0}};
    abuf_t out = ABUF_INIT;
    assert_int_equal(zip_stored(e, 2, &out), 0);
    const unsigned char *z = (const unsigned char *)out.data;
    assert_int_equal(s_le32(z), 0x04034b50u);
    assert_int_equal(s_le32(z + 14), zip_crc32(0, "hello", 5));
    assert_int_equal(s_le32(z + 18), 5);
    assert_int_equal(s_le32(z + 22), 5);
    assert_memory_equal(z + 30, "a/one.txt", 9);
    assert_memory_equal(z + 39, "hello", 5);
    const unsigned char *end = z + out.len - 22;
    assert_int_equal(s_le32(end), 0x06054b50u);
    assert_int_equal(end[10] | end[11] << 8, 2); /* entries */
    uint32_t dir = s_le32(end + 16);
    assert_int_equal(s_le32(z + dir), 0x02014b50u);
    assert_int_equal(s_le32(z + dir + 42), 0); /* the first entry's local header */
    abuf_free(&out);
    const zip_entry_t bad[] = {{"/abs", "x", 1}};
    assert_int_equal(zip_stored(bad, 1, &out), -1);
    abuf_free(&out);
    (void)state;
}

/*  The archive as unzip(1) reads it: every file, byte for byte. */
static void test_zip_unzip(void **state)
{
    if (access("/usr/bin/unzip", X_OK) != 0)
        skip();
    abuf_t out = ABUF_INIT;
    extension_params_t manual = s_params;
    manual.managed = false;
    assert_int_equal(extension_zip(&manual, &out), 0);
    char tmpl[64];
    assert_int_equal(test_tmpdir_make(tmpl, sizeof tmpl, "test_extension"), 0);
    char zip[300], cmd[900];
    snprintf(zip, sizeof zip, "%s/ext.zip", tmpl);
    FILE *f = fopen(zip, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(out.data, 1, out.len, f), out.len);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd '%s' && unzip -tq ext.zip >/dev/null && unzip -q ext.zip", tmpl);
    assert_int_equal(system(cmd), 0);
    for (size_t i = 0; i < EXTENSION_FILES; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s/%s", tmpl, EXTENSION_ZIP_DIR, extension_files[i]);
        char *got = s_slurp(path), *want = s_render(&manual, extension_files[i]);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    test_tmpdir_remove(tmpl);
    abuf_free(&out);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest),  cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_refuses),   cmocka_unit_test(test_write),
        cmocka_unit_test(test_crc32),     cmocka_unit_test(test_zip_layout),
        cmocka_unit_test(test_zip_unzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
