/*  mesh_addr — HOST:PORT endpoints of the mesh and the loopback rule.

    A host is a DNS name or IPv4 address ([A-Za-z0-9.-]) or a bracketed IPv6
    address; nothing else reaches a ZeroMQ endpoint string (ZeroMQ reads
    "src;dst" and interface names in tcp endpoints, so stray characters are
    refused rather than passed on). Pure helpers, any thread. */
#include "mesh/mesh_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool s_name_ok(const char *h, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-')
            return false;
    return true;
}

static bool s_v6_ok(const char *h, size_t n)
{
    if (n < 2)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
            return false;
    return true;
}

/*  Splits "HOST:PORT" or "[V6]:PORT"; host gets the bare host (no brackets).
    The port may be 0. 0 or -1. */
int mesh__split(const char *ep, char *host, size_t hostlen, int *port)
{
    if (!ep)
        return -1;
    size_t len = strnlen(ep, MESH_MAX_NAME + 1);
    if (len == 0 || len > MESH_MAX_NAME)
        return -1;
    const char *colon = strrchr(ep, ':');
    if (!colon || colon == ep)
        return -1;
    const char *h = ep;
    size_t hn = (size_t)(colon - ep);
    bool v6 = false;
    if (ep[0] == '[') {
        if (hn < 3 || ep[hn - 1] != ']')
            return -1;
        h = ep + 1, hn -= 2, v6 = true;
    }
    if (hn >= hostlen || hn > MESH__HOST_MAX || !(v6 ? s_v6_ok(h, hn) : s_name_ok(h, hn)))
        return -1;
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    long v = strtol(p, NULL, 10);
    if (v < 0 || v > 65535)
        return -1;
    memcpy(host, h, hn);
    host[hn] = '\0';
    *port = (int)v;
    return 0;
}

bool mesh__is_loopback(const char *host)
{
    if (!host)
        return false;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

/*  "tcp://HOST:PORT", brackets around an IPv6 host; port < 0 means "*". */
int mesh__tcp(const char *host, int port, char *out, size_t outlen)
{
    bool v6 = strchr(host, ':') != NULL;
    int n = port < 0 ? snprintf(out, outlen, v6 ? "tcp://[%s]:*" : "tcp://%s:*", host)
                     : snprintf(out, outlen, v6 ? "tcp://[%s]:%d" : "tcp://%s:%d", host, port);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

bool mesh__dialable(const mesh_t *self, const char *ep)
{
    char host[MESH__HOST_MAX + 1];
    int port;
    if (mesh__split(ep, host, sizeof host, &port) < 0 || port == 0)
        return false;
    return self->cert || mesh__is_loopback(host);
}
