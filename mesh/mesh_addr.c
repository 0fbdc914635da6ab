/*  mesh_addr — HOST:PORT endpoints of the mesh and the loopback rule, both
    those of protocol/hostport (one rule for the config check, the mesh and
    the endpoints peers gossip). Pure helpers, any thread. */
#include "mesh/mesh_int.h"

#include <stdio.h>
#include <string.h>

int mesh__split(const char *ep, char *host, size_t hostlen, int *port)
{
    hostport_t hp;
    if (!ep || hostport_parse(ep, strnlen(ep, HOSTPORT_MAX + 1), &hp) < 0)
        return -1;
    size_t hn = strlen(hp.host);
    if (hn >= hostlen)
        return -1;
    memcpy(host, hp.host, hn + 1);
    *port = hp.port;
    return 0;
}

bool mesh__is_loopback(const char *host)
{
    return hostport_is_loopback(host);
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
    return !self->local_only || mesh__is_loopback(host);
}
