/*  libFuzzer driver for node/boundary: every header the browser boundary
    decides on comes from any client. The input is up to eight lines: Host,
    Origin, Sec-Fetch-Site, Sec-Fetch-Dest, Sec-Fetch-Mode, Content-Type, an
    --http-name and a --cors-origin (a missing line: the header is absent).
    Beyond not crashing or reading past a string: a split Host joins back to
    itself; a node with no name, address or loopback answers to no Host; a
    configured name is always answered; the node's own origin may always
    POST same-origin; "*" allows every origin that can be echoed (printable,
    at most BOUNDARY_HOST_MAX) and no other; a reflected request-header list
    is names, commas and blanks only; a keyless node with no list
    allows none; no script destination ever gets the userscript; an accepted
    JSON type starts with application/json. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "node/boundary.h"

#define S_FIELDS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[S_FIELDS] = {0};
    size_t at = 0;
    for (int i = 0; i < S_FIELDS && at <= size; i++) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t n = nl ? (size_t)(nl - (data + at)) : size - at;
        if (!nl && n == 0 && at == size)
            break;
        f[i] = malloc(n + 1); /* exact size: ASan sees a read past the NUL */
        if (!f[i])
            goto done;
        memcpy(f[i], data + at, n);
        f[i][n] = '\0';
        at += n + 1;
    }
    const char *host = f[0], *origin = f[1], *site = f[2], *dest = f[3], *mode = f[4];
    const char *ct = f[5];

    char name[BOUNDARY_HOST_MAX];
    int port = -1;
    if (host && boundary_split_host(host, name, sizeof name, &port)) {
        if (port < 0 || port > 65535 || strlen(name) == 0)
            __builtin_trap();
        char back[BOUNDARY_HOST_MAX + 8];
        if (port)
            snprintf(back, sizeof back, "%s:%d", name, port);
        else
            snprintf(back, sizeof back, "%s", name);
        char again[BOUNDARY_HOST_MAX];
        int port2 = -1;
        if (!boundary_split_host(back, again, sizeof again, &port2) || strcmp(again, name) != 0 ||
            port2 != port)
            __builtin_trap();
        /* a configured name is answered, on any port */
        char *items[] = {name};
        strlist_t names = {items, 1};
        boundary_where_t named = {.port = 1, .names = &names};
        if (!boundary_host_ok(&named, host))
            __builtin_trap();
    }
    boundary_where_t nowhere = {.port = 5102};
    if (host && boundary_host_ok(&nowhere, host))
        __builtin_trap();
    char *nm[] = {f[6] ? f[6] : (char *)"x"};
    strlist_t names = {nm, 1};
    boundary_where_t w = {.port = 5102,
                          .bound = "0.0.0.0",
                          .local = "127.0.0.1",
                          .local_loopback = true,
                          .names = &names};
    (void)boundary_host_ok(&w, host);

    char *co[] = {f[7] ? f[7] : (char *)"*"};
    strlist_t cors = {co, 1};
    char *star[] = {"*"};
    strlist_t any = {star, 1};
    strlist_t none = {NULL, 0};
    (void)boundary_origin_ok(&cors, false, host, origin, site);
    (void)boundary_origin_ok(&none, true, host, origin, site);
    bool echoable = origin && strlen(origin) > 0 && strlen(origin) <= BOUNDARY_HOST_MAX &&
                    boundary_printable(origin, strlen(origin));
    if (!boundary_origin_ok(&any, false, host, origin, site) && echoable)
        __builtin_trap();
    /* an allowed origin is echoed in a header: never a control character */
    if (boundary_cors_allows(&any, true, origin) && !echoable)
        __builtin_trap();
    /* a reflected Access-Control-Request-Headers: names, commas, blanks only */
    if (ct && boundary_header_tokens(ct)) {
        for (const char *p = ct; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c != '\t' && (c < 0x20 || c >= 0x7f || strchr("\"():;<=>?@[\\]{}/", c)))
                __builtin_trap();
        }
        if (strlen(ct) > BOUNDARY_TOKENS_MAX)
            __builtin_trap();
    }
    if (boundary_cors_allows(&none, false, origin))
        __builtin_trap();
    if (host && strlen(host) < BOUNDARY_HOST_MAX) {
        char own[BOUNDARY_HOST_MAX + 8];
        snprintf(own, sizeof own, "http://%s", host);
        if (!boundary_origin_ok(&none, false, host, own, "same-origin"))
            __builtin_trap();
    }
    if (boundary_userscript_ok("script", mode, site) ||
        boundary_userscript_ok("worker", mode, site))
        __builtin_trap();
    (void)boundary_userscript_ok(dest, mode, site);
    if (boundary_json_type(ct)) {
        const char *p = ct + strspn(ct, " \t");
        if (strncasecmp(p, "application/json", 16) != 0)
            __builtin_trap();
    }
    (void)boundary_printable((const char *)data, size);
    const char *key = NULL;
    size_t klen = 0;
    if (ct && boundary_bearer(ct, strlen(ct), &key, &klen) &&
        (key != ct + 7 || klen != strlen(ct) - 7))
        __builtin_trap();
done:
    for (int i = 0; i < S_FIELDS; i++)
        free(f[i]);
    return 0;
}
