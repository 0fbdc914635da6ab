/*  pages — what arena-node serves to people and browsers rather than to API
    clients: the dashboard (GET /), Chart.js (GET /assets/chart.js) and the
    userscript with this node's link URL and token filled in
    (GET /userscript.user.js). Pure rendering from the plain values below:
    no node state, no allocation but the output. */
#ifndef ARENA_PAGES_H
#define ARENA_PAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"

typedef struct {
    const char *node_name;
    const char *arena_origin; /* the LMArena origin tabs are on; NULL: https://lmarena.ai */
    const char *http_host;
    int http_port;
    const char *link_host; /* as a browser dials it: pages_link_host() */
    int link_port;
    size_t tabs;               /* connected now */
    size_t models;             /* served by this node */
    const char *example_model; /* NULL: gpt-5-high */
    bool api_keys;             /* keys are configured */
} pages_index_t;

/*  The host a browser on this machine dials for a link bound to bind_host:
    a wildcard address (0.0.0.0, ::) is 127.0.0.1. */
const char *pages_link_host(const char *bind_host);

/*  The dashboard page (node/dashboard/: style and script compiled in)
    around the setup steps. 0, or -1 when out belongs refuses the bytes. */
int pages_index(const pages_index_t *in, abuf_t *out);

/*  Chart.js (Debian's libjs-chart.js, chart.min.js), compiled into
    arena-node for the dashboard: GET /assets/chart.js. 0 or -1. */
int pages_chartjs(abuf_t *out);

/*  tmpl[0..len) with __ARENA_LINK_URL__ and __ARENA_LINK_TOKEN__ replaced;
    any other __ARENA_LINK_ marker is kept as it is. 0 or -1. */
int pages_userscript(const char *tmpl, size_t len, const char *link_url, const char *token,
                     abuf_t *out);
/*  The same over the userscript compiled into arena-node
    (userscript/arena-link.user.js). */
int pages_userscript_embedded(const char *link_url, const char *token, abuf_t *out);

#endif
