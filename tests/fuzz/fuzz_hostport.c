/*  libFuzzer driver for protocol/hostport: HOST:PORT is read from peers'
    gossip (every endpoint the mesh may dial goes through it). Beyond not
    crashing or reading past len: an accepted text has a NUL-terminated bare
    host that is valid again as HOST (in brackets when it holds a ':'), a
    port 0..65535, and formats back to a text that parses to the same host
    and port; the mesh's wrapper agrees with it; the loopback check takes
    any host it returns. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/mesh_int.h"
#include "protocol/hostport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan sees any read past len */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    hostport_t hp;
    memset(&hp, 0x5a, sizeof hp);
    int rc = hostport_parse(text, size, &hp);
    if (rc == 0) {
        size_t hn = strnlen(hp.host, sizeof hp.host);
        if (hn == 0 || hn > HOSTPORT_HOST_MAX || hp.port < 0 || hp.port > 65535)
            __builtin_trap();
        char back[HOSTPORT_MAX + 8];
        if (hostport_format(back, sizeof back, hp.host, hp.port) != 0)
            __builtin_trap();
        hostport_t again;
        if (hostport_parse(back, strlen(back), &again) != 0 || strcmp(again.host, hp.host) != 0 ||
            again.port != hp.port)
            __builtin_trap();
        size_t bn = strlen(back) - strlen(strrchr(back, ':'));
        if (!hostport_host_valid(back, bn))
            __builtin_trap();
        (void)hostport_is_loopback(hp.host);
    }
    /* the mesh reads NUL-terminated endpoints the same way */
    if (!memchr(text, '\0', size)) {
        char *z = malloc(size + 1);
        if (z) {
            memcpy(z, text, size);
            z[size] = '\0';
            char host[MESH__HOST_MAX + 1];
            int port = -1;
            int mrc = mesh__split(z, host, sizeof host, &port);
            if (mrc != rc || (rc == 0 && (strcmp(host, hp.host) != 0 || port != hp.port)))
                __builtin_trap();
            (void)hostport_is_loopback(z);
            free(z);
        }
    }
    (void)hostport_host_valid(text, size);
    (void)hostport_port(text, size);
    free(text);
    return 0;
}
