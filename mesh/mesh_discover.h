/*  mesh_discover — LAN discovery (--discover): nodes of one mesh on one LAN
    find each other without a seed. A czmq zbeacon broadcasts this node's
    beacon (protocol/beacon.h: its id, its mesh address and a proof of the
    mesh secret) every interval on a UDP port, and hears the others'; a
    beacon with a good proof names a member to dial (mesh_hint). Beacons of
    other meshes, forged ones and junk are counted and dropped. Seeds and
    stored peers are dialed as before: discovery only adds members nobody
    named. docs/mesh-protocol.md, "LAN discovery". Owned by the node thread
    (its zloop). */
#ifndef ARENA_MESH_DISCOVER_H
#define ARENA_MESH_DISCOVER_H

#include <czmq.h>
#include <stdint.h>

#include "mesh/mesh.h"

#define MESH_DISCOVER_DEFAULT_PORT 5105     /* UDP, beside the default mesh port */
#define MESH_DISCOVER_DEFAULT_INTERVAL 1000 /* ms between two beacons */

typedef struct _mesh_discover_t mesh_discover_t;

typedef struct {
    zloop_t *loop;         /* the node's loop: beacons are read on it */
    const char *secret;    /* the mesh secret (only a key derived from it is kept) */
    int port;              /* UDP port; 0: MESH_DISCOVER_DEFAULT_PORT */
    int interval_ms;       /* 0: MESH_DISCOVER_DEFAULT_INTERVAL */
    const char *interface; /* NULL or "": czmq's choice (the first broadcast interface up);
                              else its name, or "*" for every interface (czmq's
                              zsys_set_interface: one setting per process) */
} mesh_discover_config_t;

typedef struct {
    uint64_t heard;     /* beacons of others heard */
    uint64_t dialed;    /* members found that were new: dialed */
    uint64_t forged;    /* a beacon whose proof is not this mesh's */
    uint64_t malformed; /* not a beacon at all, or a bad field */
} mesh_discover_stats_t;

/*  Opens the beacon on its interface (mesh_discover_host tells its
    address, which a node bound to a wildcard may advertise); NULL with a
    reason in err when it cannot (no interface can broadcast). Nothing is
    sent or heard until mesh_discover_start. */
mesh_discover_t *mesh_discover_new(const mesh_discover_config_t *cfg, char *err, size_t errlen);
/*  Beacons mesh's id and endpoint and dials the members heard. 0 or -1
    (err: the id or endpoint does not fit a beacon). */
int mesh_discover_start(mesh_discover_t *self, mesh_t *mesh, char *err, size_t errlen);
void mesh_discover_destroy(mesh_discover_t **self_p);
void mesh_discover_stats(const mesh_discover_t *self, mesh_discover_stats_t *out);
/*  The address of the beacon's interface, as czmq reports it (IPv4 text). */
const char *mesh_discover_host(const mesh_discover_t *self);

#endif
