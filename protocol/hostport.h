/*  hostport — the one HOST:PORT rule of the project and the one loopback
    rule. What --http, --link, --mesh, --seed and --advertise accept, what the
    mesh dials (peers' gossip included, so this decodes untrusted input) and
    the host and port of an origin all follow it.

    HOST is either
      - a name or IPv4 address: 1..253 of [A-Za-z0-9.-_] without an empty
        label (no leading, trailing or double dot); '_' is allowed because
        getaddrinfo resolves such names from hosts files, mDNS and container
        networks, and ZeroMQ passes them to it; or
      - an IPv6 address in brackets, as inet_pton reads it, optionally with a
        %zone of [A-Za-z0-9.-_] ("[fe80::1%eth0]").
    Nothing else reaches a ZeroMQ endpoint (it reads "src;dst" and interface
    names in tcp endpoints, so stray characters are refused, not passed on).
    PORT is 1..5 decimal digits, 0..65535; whether 0 ("pick one") is fine is
    the caller's choice. The whole text is at most HOSTPORT_MAX characters,
    so it fits a mesh endpoint (WIRE_MAX_NAME).

    Pure: no allocation, no sockets, no state; any thread. */
#ifndef ARENA_HOSTPORT_H
#define ARENA_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

#define HOSTPORT_MAX 255      /* characters of "HOST:PORT" */
#define HOSTPORT_HOST_MAX 253 /* characters of a bare host (a DNS name's limit) */

typedef struct {
    char host[HOSTPORT_HOST_MAX + 1]; /* bare: an IPv6 address without brackets */
    int port;                         /* 0..65535 */
} hostport_t;

/*  Parses s[0..len) as "HOST:PORT" or "[V6]:PORT"; 0 and *out filled, or -1
    (out untouched). s need not be NUL-terminated; a NUL inside refuses. */
int hostport_parse(const char *s, size_t len, hostport_t *out);

/*  True when h[0..n) is a HOST as written in HOST:PORT (IPv6 in brackets). */
bool hostport_host_valid(const char *h, size_t n);

/*  p[0..n) as a port: 1..5 digits, 0..65535; the value or -1. */
int hostport_port(const char *p, size_t n);

/*  True for 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 and "localhost" (any
    case); host is bare (no brackets). NULL is not loopback. */
bool hostport_is_loopback(const char *host);

/*  Writes "HOST:PORT", brackets around an IPv6 host; 0, or -1 when it does
    not fit (out then holds a truncated string). */
int hostport_format(char *out, size_t outlen, const char *host, int port);

#endif
