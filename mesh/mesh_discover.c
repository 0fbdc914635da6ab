/*  mesh_discover — see mesh_discover.h. */
#include "mesh/mesh_discover.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "protocol/alog.h"
#include "protocol/beacon.h"
#include "protocol/hostport.h"

struct _mesh_discover_t {
    mesh_discover_config_t cfg;
    mesh_t *mesh; /* from mesh_discover_start */
    bool reading; /* its reader is on the loop */
    zactor_t *beacon;
    uint8_t key[BEACON_KEY_BYTES];
    char host[HOSTPORT_HOST_MAX + 1];
    mesh_discover_stats_t stats;
    alog_rl_t rl;
};

/*  One beacon heard: a member to dial, or something counted and dropped. */
static int s_on_beacon(zloop_t *loop, zsock_t *sock, void *arg)
{
    (void)loop;
    mesh_discover_t *self = arg;
    zmsg_t *msg = zmsg_recv(sock);
    if (!msg)
        return 0;
    char *from = zmsg_popstr(msg);
    zframe_t *data = zmsg_pop(msg);
    zmsg_destroy(&msg);
    char id[BEACON_ID_MAX + 1], endpoint[BEACON_ENDPOINT_MAX + 1];
    beacon_rc_t rc =
        data && from ? beacon_decode(self->key, zframe_data(data), zframe_size(data), id, endpoint)
                     : BEACON_MALFORMED;
    self->stats.heard++;
    if (rc == BEACON_FORGED) {
        self->stats.forged++;
        alog_rl_write(&self->rl, ALOG_WARN,
                      "discover: a beacon from %.64s is not this mesh's (another mesh, or no "
                      "secret): ignored",
                      from ? from : "?");
    } else if (rc != BEACON_OK) {
        self->stats.malformed++;
    } else {
        char dial[HOSTPORT_MAX + 1];
        if (beacon_dial_address(endpoint, from, dial, sizeof dial) < 0) {
            self->stats.malformed++;
        } else if (mesh_hint(self->mesh, id, dial) > 0) {
            self->stats.dialed++;
        }
    }
    zstr_free(&from);
    zframe_destroy(&data);
    return 0;
}

mesh_discover_t *mesh_discover_new(const mesh_discover_config_t *cfg, char *err, size_t errlen)
{
    mesh_discover_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    if (self->cfg.port <= 0)
        self->cfg.port = MESH_DISCOVER_DEFAULT_PORT;
    if (self->cfg.interval_ms <= 0)
        self->cfg.interval_ms = MESH_DISCOVER_DEFAULT_INTERVAL;
    beacon_key(cfg->secret, self->key);
    self->cfg.secret = NULL; /* the caller's, wiped after: only the key is kept */
    if (cfg->interface && *cfg->interface)
        zsys_set_interface(cfg->interface);
    self->beacon = zactor_new(zbeacon, NULL);
    if (!self->beacon) {
        snprintf(err, errlen, "cannot start the beacon");
        goto err;
    }
    zsock_send(self->beacon, "si", "CONFIGURE", self->cfg.port);
    char *host = zstr_recv(self->beacon);
    if (!host || !*host) {
        snprintf(err, errlen,
                 "no network interface can broadcast beacons%s%s (see --discover-interface)",
                 cfg->interface && *cfg->interface ? " on " : "",
                 cfg->interface && *cfg->interface ? cfg->interface : "");
        zstr_free(&host);
        goto err;
    }
    snprintf(self->host, sizeof self->host, "%s", host);
    zstr_free(&host);
    return self;
err:
    mesh_discover_destroy(&self);
    return NULL;
}

int mesh_discover_start(mesh_discover_t *self, mesh_t *mesh, char *err, size_t errlen)
{
    uint8_t payload[BEACON_MAX];
    size_t len = 0;
    if (beacon_encode(self->key, mesh_id(mesh), mesh_endpoint(mesh), payload, &len) != BEACON_OK) {
        snprintf(err, errlen, "this node's id or mesh address %s does not fit a beacon",
                 mesh_endpoint(mesh));
        return -1;
    }
    self->mesh = mesh;
    zsock_send(self->beacon, "sbi", "PUBLISH", payload, len, self->cfg.interval_ms);
    zsock_send(self->beacon, "sb", "SUBSCRIBE", BEACON_MAGIC, strlen(BEACON_MAGIC));
    if (zloop_reader(self->cfg.loop, (zsock_t *)zactor_sock(self->beacon), s_on_beacon, self) !=
        0) {
        snprintf(err, errlen, "cannot watch the beacon");
        return -1;
    }
    self->reading = true;
    alog_info("discover: beacons of %s on UDP port %d every %d ms from %s", mesh_endpoint(mesh),
              self->cfg.port, self->cfg.interval_ms, self->host);
    return 0;
}

void mesh_discover_destroy(mesh_discover_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mesh_discover_t *self = *self_p;
    if (self->beacon) {
        if (self->reading)
            zloop_reader_end(self->cfg.loop, (zsock_t *)zactor_sock(self->beacon));
        zactor_destroy(&self->beacon);
    }
    sodium_memzero(self->key, sizeof self->key);
    free(self);
    *self_p = NULL;
}

void mesh_discover_stats(const mesh_discover_t *self, mesh_discover_stats_t *out)
{
    *out = self->stats;
}

const char *mesh_discover_host(const mesh_discover_t *self)
{
    return self->host;
}
