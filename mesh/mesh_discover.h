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
    mesh_t *mesh;          /* dials what is found; its id and endpoint are beaconed */
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

/*  Starts beaconing; NULL with a reason in err when it cannot (no broadcast
    interface, the port in use by something that is not a beacon). */
mesh_discover_t *mesh_discover_new(const mesh_discover_config_t *cfg, char *err, size_t errlen);
void mesh_discover_destroy(mesh_discover_t **self_p);
void mesh_discover_stats(const mesh_discover_t *self, mesh_discover_stats_t *out);
/*  The host name czmq reported for the beacon's interface. */
const char *mesh_discover_host(const mesh_discover_t *self);

#endif
