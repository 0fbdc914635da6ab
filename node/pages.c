/*  pages — see pages.h. */
#include "node/pages.h"

#include <stdio.h>
#include <string.h>

#include "protocol/arena_payload.h"

/* generated from userscript/arena-link.user.js (userscript/embed.cmake) */
extern const unsigned char arena_userscript[];
extern const size_t arena_userscript_len;
/* generated from node/dashboard/: dashboard.css; dashboard.js, view-*.js, start.js (CMakeLists.txt)
 */
extern const unsigned char arena_dashboard_css[];
extern const size_t arena_dashboard_css_len;
extern const unsigned char arena_dashboard_js[];
extern const size_t arena_dashboard_js_len;
/* generated from Debian's libjs-chart.js (CMakeLists.txt) */
extern const unsigned char arena_chartjs[];
extern const size_t arena_chartjs_len;

int pages_chartjs(abuf_t *out)
{
    return abuf_append(out, arena_chartjs, arena_chartjs_len);
}

#define S_MARK "__ARENA_LINK_"
#define S_MARK_URL "__ARENA_LINK_URL__"
#define S_MARK_TOKEN "__ARENA_LINK_TOKEN__"

const char *pages_link_host(const char *bind_host)
{
    if (strcmp(bind_host, "0.0.0.0") == 0 || strcmp(bind_host, "::") == 0)
        return "127.0.0.1";
    return bind_host;
}

/*  The first "__ARENA_LINK_" in p[0..len), or NULL. */
static const char *s_find_mark(const char *p, size_t len)
{
    size_t m = sizeof S_MARK - 1;
    for (size_t i = 0; i + m <= len; i++)
        if (p[i] == '_' && memcmp(p + i, S_MARK, m) == 0)
            return p + i;
    return NULL;
}

static bool s_starts(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

int pages_userscript(const char *tmpl, size_t len, const char *link_url, const char *token,
                     abuf_t *out)
{
    const char *p = tmpl, *end = tmpl + len;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *hit = s_find_mark(p, (size_t)(end - p));
        if (!hit)
            return abuf_append(out, p, (size_t)(end - p));
        rc = abuf_append(out, p, (size_t)(hit - p));
        if (s_starts(hit, end, S_MARK_URL)) {
            rc = rc ? rc : abuf_puts(out, link_url);
            p = hit + sizeof S_MARK_URL - 1;
        } else if (s_starts(hit, end, S_MARK_TOKEN)) {
            rc = rc ? rc : abuf_puts(out, token);
            p = hit + sizeof S_MARK_TOKEN - 1;
        } else {
            rc = rc ? rc : abuf_append(out, hit, sizeof S_MARK - 1);
            p = hit + sizeof S_MARK - 1;
        }
    }
    return rc;
}

int pages_userscript_embedded(const char *link_url, const char *token, abuf_t *out)
{
    return pages_userscript((const char *)arena_userscript, arena_userscript_len, link_url, token,
                            out);
}

static int s_html_escaped(abuf_t *out, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '<':
            rc = abuf_puts(out, "&lt;");
            break;
        case '>':
            rc = abuf_puts(out, "&gt;");
            break;
        case '&':
            rc = abuf_puts(out, "&amp;");
            break;
        case '"':
            rc = abuf_puts(out, "&quot;");
            break;
        default:
            rc = abuf_append(out, s, 1);
        }
    }
    return rc;
}

int pages_index(const pages_index_t *in, abuf_t *out)
{
    char base[300];
    snprintf(base, sizeof base, "http://%s:%d/v1", in->http_host, in->http_port);
    const char *m0 = in->example_model ? in->example_model : "gpt-5-high";
    int rc = abuf_puts(
        out, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width,"
             "initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>ArenaMesh node ");
    rc |= s_html_escaped(out, in->node_name);
    rc |= abuf_puts(out, "</title><style>");
    rc |= abuf_append(out, arena_dashboard_css, arena_dashboard_css_len);
    rc |= abuf_printf(out, "</style></head><body data-tabs=\"%zu\" data-keys=\"%d\">", in->tabs,
                      in->api_keys ? 1 : 0);
    rc |= abuf_puts(out, "<header><h1>ArenaMesh node <em>");
    rc |= s_html_escaped(out, in->node_name);
    rc |= abuf_puts(
        out,
        "</em></h1><nav aria-label=\"Views\">"
        "<button type=\"button\" data-view=\"mesh\" aria-controls=\"view-mesh\">Mesh</button>"
        "<button type=\"button\" data-view=\"models\" aria-controls=\"view-models\">Models"
        "</button><button type=\"button\" data-view=\"setup\" aria-controls=\"view-setup\">"
        "Setup</button></nav><p id=\"live\" role=\"status\" aria-live=\"polite\"></p></header>"
        "<main><form id=\"keyform\" hidden><h2>API key</h2><p id=\"keymsg\" class=\"error\">"
        "</p><label for=\"key\">API key for this mesh</label><input id=\"key\" name=\"key\" "
        "type=\"password\" autocomplete=\"off\" required><button type=\"submit\">Use this key"
        "</button><p class=\"note\">Kept in this browser tab only (session storage) and sent as "
        "<code>Authorization: Bearer</code>; never put in a URL.</p></form>"
        "<section id=\"view-mesh\" aria-labelledby=\"h-mesh\" hidden><h2 id=\"h-mesh\">Mesh"
        "</h2><p id=\"mesh-summary\" class=\"note\"></p><div id=\"nodes\" class=\"cards\">"
        "</div></section><section id=\"view-models\" aria-labelledby=\"h-models\" hidden>"
        "<h2 id=\"h-models\">Models \xc3\x97 nodes</h2><p id=\"models-summary\" class=\"note\">"
        "</p><div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-labelledby=\"h-models\">"
        "<table id=\"models\"></table></div><p class=\"note\">A cell names the node's state of "
        "the model: ok, cooling (until it may be asked again), paced (until the node's next "
        "LMArena slot), or \xe2\x80\x93 (not served there). \xe2\x80\x9cServes now\xe2\x80\x9d "
        "marks the node a request sent to this node would go to right now; the column Served "
        "now by names it, and says why (or why no node would take it).</p></section>"
        "<section id=\"view-setup\" aria-labelledby=\"h-setup\"><h2 id=\"h-setup\">Setup</h2>");
    rc |= abuf_printf(out,
                      "<p>This node serves an OpenAI-compatible API through LMArena "
                      "tabs. Browser tabs connected now: <strong id=\"setup-tabs\">%zu</strong>; "
                      "models known: <strong id=\"setup-models\">%zu</strong>.</p>",
                      in->tabs, in->models);
    rc |= abuf_puts(
        out, "<h2>Connect a browser tab</h2><ol>"
             "<li>Install the Tampermonkey (or Violentmonkey) extension in your browser.</li>"
             "<li>Open <a href=\"/userscript.user.js\">/userscript.user.js</a> and let the "
             "extension install it. It already holds this node's link address and "
             "token.</li>"
             "<li>Open LMArena (");
    rc |= s_html_escaped(out, in->arena_origin ? in->arena_origin : ARENA_ORIGIN_DEFAULT);
    rc |= abuf_puts(out, ") in a tab and log in. The tab title starts "
                         "with ✅ once it is connected to this node (⏳ while connecting).</li>"
                         "<li>If the browser asks whether the page may reach devices on your local "
                         "network, allow it: the tab talks to this node on ");
    rc |= abuf_printf(out, "%s:%d.</li></ol>", in->link_host, in->link_port);
    rc |= abuf_puts(
        out, "<p>No userscript manager? The same link as a browser extension, for any "
             "Chromium-based browser: download <a href=\"/extension.zip\" id=\"extension-zip\">"
             "extension.zip</a> (this node's link built in), unzip it, open "
             "<code>chrome://extensions</code>, turn on Developer mode, choose Load unpacked and "
             "pick the <code>arenamesh-link</code> folder. Or let the node run a browser of its "
             "own: <code>arena-node --browser</code>.</p>");
    rc |= abuf_puts(out, "<h2>Point a client at it</h2><ul><li>Base URL: <code>");
    rc |= abuf_puts(out, base);
    rc |= abuf_puts(out, "</code></li><li>API key: ");
    rc |= abuf_puts(out, in->api_keys
                             ? "one of the keys given with <code>--api-key</code> or made with "
                               "<code>arena-mesh keys create</code>"
                             : "anything (no key is configured)");
    rc |=
        abuf_puts(out, "</li><li>Model: a name from <a href=\"/v1/models\">/v1/models</a>, e.g. ");
    rc |= abuf_puts(out, "<code>");
    rc |= s_html_escaped(out, m0);
    rc |= abuf_puts(out,
                    "</code></li></ul><pre tabindex=\"0\" aria-label=\"an example request\">curl ");
    rc |= abuf_puts(out, base);
    rc |= abuf_puts(out, "/chat/completions -H 'Content-Type: application/json' \\\n  -d "
                         "'{\"model\":\"");
    rc |= s_html_escaped(out, m0);
    rc |= abuf_puts(out, "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'</pre>"
                         "<p>Mesh status: <a href=\"/mesh/status\">/mesh/status</a> · health: "
                         "<a href=\"/health\">/health</a></p></section></main><script>");
    rc |= abuf_append(out, arena_dashboard_js, arena_dashboard_js_len);
    rc |= abuf_puts(out, "</script></body></html>");
    return rc ? -1 : 0;
}
