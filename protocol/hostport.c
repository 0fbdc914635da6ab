/*  hostport — see hostport.h. */
#include "protocol/hostport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S_ZONE_MAX 64 /* characters after '%' (interface names are far shorter) */

static bool s_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool s_name_char(char c)
{
    return s_alnum(c) || c == '-' || c == '_';
}

/*  A name or IPv4 address: labels of s_name_char joined by single dots. */
static bool s_name_valid(const char *h, size_t n)
{
    if (n == 0 || n > HOSTPORT_HOST_MAX || h[0] == '.' || h[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '.') {
            if (h[i + 1] == '.') /* i + 1 < n: the last byte is not a dot */
                return false;
        } else if (!s_name_char(h[i])) {
            return false;
        }
    }
    return true;
}

/*  The inside of "[...]": an address inet_pton reads, then maybe "%zone". */
static bool s_v6_valid(const char *h, size_t n)
{
    char addr[INET6_ADDRSTRLEN];
    const char *pct = memchr(h, '%', n);
    size_t an = pct ? (size_t)(pct - h) : n;
    if (an == 0 || an >= sizeof addr || memchr(h, '\0', an))
        return false;
    if (pct) {
        size_t zn = n - an - 1;
        if (zn == 0 || zn > S_ZONE_MAX)
            return false;
        for (size_t i = 0; i < zn; i++)
            if (!s_name_char(pct[1 + i]) && pct[1 + i] != '.')
                return false;
    }
    memcpy(addr, h, an);
    addr[an] = '\0';
    struct in6_addr a6;
    return inet_pton(AF_INET6, addr, &a6) == 1;
}

bool hostport_host_valid(const char *h, size_t n)
{
    if (!h || n == 0)
        return false;
    if (h[0] == '[')
        return n >= 2 && h[n - 1] == ']' && n - 2 <= HOSTPORT_HOST_MAX && s_v6_valid(h + 1, n - 2);
    return s_name_valid(h, n);
}

int hostport_port(const char *p, size_t n)
{
    if (!p || n == 0 || n > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v <= 65535 ? (int)v : -1;
}

int hostport_parse(const char *s, size_t len, hostport_t *out)
{
    if (!s || !out || len == 0 || len > HOSTPORT_MAX)
        return -1;
    /* the port follows the last ':'; an IPv6 host has its colons in brackets */
    size_t colon = len;
    while (colon > 0 && s[colon - 1] != ':')
        colon--;
    if (colon < 2) /* no ':' at all, or nothing before it */
        return -1;
    size_t hn = colon - 1;
    int port = hostport_port(s + colon, len - colon);
    if (port < 0 || !hostport_host_valid(s, hn))
        return -1;
    const char *h = s;
    if (h[0] == '[')
        h++, hn -= 2;
    memcpy(out->host, h, hn);
    out->host[hn] = '\0';
    out->port = port;
    return 0;
}

bool hostport_is_loopback(const char *host)
{
    if (!host)
        return false;
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

int hostport_format(char *out, size_t outlen, const char *host, int port)
{
    int n = snprintf(out, outlen, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
