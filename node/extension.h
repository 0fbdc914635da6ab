/*  extension — the browser link as an unpacked Manifest V3 extension
    (docs/operations.md, "The managed browser"): the userscript's own code
    (userscript/arena-link.user.js, compiled in, wrapped by
    userscript/extension/link-head.js and link-tail.js) as a MAIN-world
    content script, an isolated-world content script holding the WebSocket
    (relay.js) and a service worker that keeps a managed browser's tabs
    (worker.js), with this node's link URL, token and arena origin filled in.

    arena-node --browser writes it into DATA/browser/extension/ and loads it
    into the Chromium it starts; GET /extension.zip offers the same files
    (unmanaged: the service worker leaves the person's tabs alone) for
    installing by hand. Rendering is pure; extension_write does file I/O. */
#ifndef ARENA_EXTENSION_H
#define ARENA_EXTENSION_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/abuf.h"

typedef struct {
    const char *link_url; /* ws://HOST:PORT/link as the browser dials it */
    const char *token;    /* the link token (relay.js only) */
    const char *origin;   /* the arena origin, e.g. https://lmarena.ai (no trailing '/') */
    bool managed;         /* the node's own browser: the worker keeps its tabs */
    int tabs;             /* managed: tabs kept open on the origin (1..) */
    int stuck_ms;         /* managed: a tab without a link this long is reloaded */
} extension_params_t;

/*  The files of the extension, in the order they are written or zipped. */
#define EXTENSION_FILES 4
extern const char *const extension_files[EXTENSION_FILES];
/*  The folder name inside GET /extension.zip. */
#define EXTENSION_ZIP_DIR "arenamesh-link"

/*  Appends file name (one of extension_files) to out. 0, or -1 for an
    unknown name, a value that cannot go into a JavaScript string literal
    (quotes, backslashes, controls, spaces, non-ASCII) or an origin that is
    not scheme://host[:port], or when out refuses the bytes. */
int extension_render(const extension_params_t *p, const char *name, abuf_t *out);
/*  Writes every file into dir (created with its parents, mode 0700 for new
    folders), each through a temporary file and a rename. 0, or -1 with a
    reason in err. */
int extension_write(const extension_params_t *p, const char *dir, char *err, size_t errlen);
/*  The files as a stored ZIP archive under EXTENSION_ZIP_DIR/. 0 or -1. */
int extension_zip(const extension_params_t *p, abuf_t *out);

#endif
