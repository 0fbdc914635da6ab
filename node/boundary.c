/*  boundary — see boundary.h. */
#include "node/boundary.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "protocol/hostport.h"

bool boundary_split_host(const char *host, char *name, size_t namelen, int *port)
{
    *port = 0;
    if (!host || namelen == 0)
        return false;
    size_t n = strlen(host);
    if (n == 0 || n >= namelen)
        return false;
    const char *end = host[0] == '[' ? strchr(host, ']') : host + strcspn(host, ":");
    if (!end)
        return false;
    if (host[0] == '[')
        end++;
    size_t hn = (size_t)(end - host);
    if (!hostport_host_valid(host, hn))
        return false;
    memcpy(name, host, hn);
    name[hn] = '\0';
    if (*end == '\0')
        return true;
    if (*end != ':')
        return false;
    *port = hostport_port(end + 1, strlen(end + 1));
    return *port > 0;
}

bool boundary_host_ok(const boundary_where_t *w, const char *host)
{
    if (!host)
        return true;
    char name[BOUNDARY_HOST_MAX];
    int port = 0;
    if (!boundary_split_host(host, name, sizeof name, &port))
        return false;
    int eff = port ? port : 80;
    for (size_t i = 0; w->names && i < w->names->n; i++) {
        char cname[BOUNDARY_HOST_MAX];
        int cport = 0;
        if (boundary_split_host(w->names->items[i], cname, sizeof cname, &cport) &&
            strcasecmp(cname, name) == 0 && (cport == 0 || cport == eff))
            return true;
    }
    if (eff != w->port)
        return false;
    if (w->bound) {
        char bound[BOUNDARY_HOST_MAX];
        snprintf(bound, sizeof bound, strchr(w->bound, ':') ? "[%s]" : "%s", w->bound);
        if (strcasecmp(name, bound) == 0)
            return true;
    }
    if (w->local && strcasecmp(name, w->local) == 0)
        return true;
    return w->local_loopback && (strcasecmp(name, "localhost") == 0 ||
                                 strcmp(name, "127.0.0.1") == 0 || strcmp(name, "[::1]") == 0);
}

bool boundary_cors_allows(const strlist_t *cors, bool keys, const char *origin)
{
    if (!origin)
        return false;
    size_t n = strlen(origin);
    if (n == 0 || n > BOUNDARY_HOST_MAX || !boundary_printable(origin, n))
        return false;
    if (!cors || cors->n == 0)
        return keys;
    for (size_t i = 0; i < cors->n; i++)
        if (strcmp(cors->items[i], "*") == 0 || strcasecmp(cors->items[i], origin) == 0)
            return true;
    return false;
}

static bool s_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool boundary_header_tokens(const char *list)
{
    if (!list || strlen(list) > BOUNDARY_TOKENS_MAX)
        return false;
    const char *p = list;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *t = p;
        while (s_tchar((unsigned char)*p))
            p++;
        if (p == t)
            return false; /* an empty name: ",," or a trailing comma */
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return true;
        if (*p++ != ',')
            return false;
    }
}

bool boundary_origin_ok(const strlist_t *cors, bool keys, const char *host, const char *origin,
                        const char *site)
{
    bool listed = boundary_cors_allows(cors, keys, origin);
    if (origin && !listed) {
        static const char scheme[] = "http://";
        if (!host || strncasecmp(origin, scheme, sizeof scheme - 1) != 0 ||
            strcasecmp(origin + sizeof scheme - 1, host) != 0)
            return false;
    }
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0 && !listed)
        return false;
    return true;
}

bool boundary_userscript_ok(const char *dest, const char *mode, const char *site)
{
    if (dest && strcmp(dest, "document") != 0 && strcmp(dest, "empty") != 0)
        return false;
    if (!site || strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0)
        return true;
    if (mode && strcmp(mode, "navigate") == 0)
        return dest && strcmp(dest, "document") == 0;
    /* a cors fetch is readable only with a CORS header, which it never gets;
       a userscript manager's own request may look like one */
    return mode && strcmp(mode, "cors") == 0 && (!dest || strcmp(dest, "empty") == 0);
}

bool boundary_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char c = ct[sizeof want - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

bool boundary_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

bool boundary_bearer(const char *h, size_t len, const char **key, size_t *keylen)
{
    if (!h || len < 7 || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    *key = h + 7;
    *keylen = len - 7;
    return true;
}
