/*  arena-node — a thin shell: configuration, signals, the node actor. */
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "node/config.h"
#include "node/node.h"
#include "protocol/alog.h"
#include "protocol/tsan.h"

extern char **environ;

/*  Every HTTP connection, tab and peer is a descriptor: make room for
    --max-connections, the mesh's peers (a DEALER, its connection, the
    peer's connection to us, a handshake monitor: about 6 each) plus the
    node's own (the soft limit is often 1024). */
static void s_raise_nofile(int max_connections, int max_peers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t want = (rlim_t)max_connections + 6 * (rlim_t)max_peers + 512;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
        alog_warn("only %llu file descriptors available; --max-connections %d may not be reached",
                  (unsigned long long)rl.rlim_cur, max_connections);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    config_t cfg;
    char err[512] = "";
    int rc = config_load(&cfg, argc, argv, environ, stdout, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "arena-node: %s\n", err);
        fprintf(stderr, "Try 'arena-node --help'.\n");
        return 2;
    }
    alog_set_level(cfg.log_level);
    s_raise_nofile(cfg.max_connections, cfg.mesh_max_peers);
    zsys_init();
    /* libzmq's socket limit (1024 by default) must hold 3 per peer and the
       node's own; it can only be set before the first socket */
    if (cfg.mesh_max_peers * 3 + 256 > 1024)
        zsys_set_max_sockets((size_t)cfg.mesh_max_peers * 3 + 256);
    zsys_set_logident("arena-node");
    zsys_set_logstream(stderr); /* stdout carries only the ready line */

    zactor_t *node = zactor_new(node_actor, &cfg);
    char *status = node ? zstr_recv(node) : NULL;
    char *line = status ? zstr_recv(node) : NULL;
    if (!status || strcmp(status, "READY") != 0) {
        fprintf(stderr, "arena-node: %s\n", line ? line : "start-up interrupted");
        zstr_free(&status);
        zstr_free(&line);
        zactor_destroy(&node);
        ARENA_TSAN_ACQUIRE(&cfg); /* czmq's end handshake, invisible to TSan */
        config_free(&cfg);
        return 1;
    }
    printf("%s\n", line);
    fflush(stdout);
    zstr_free(&status);
    zstr_free(&line);

    /* czmq's handler turns SIGINT/SIGTERM into zsys_interrupted. */
    zpoller_t *poller = zpoller_new(node, NULL);
    while (!zsys_interrupted) {
        if (zpoller_wait(poller, 500))
            break; /* the node ended by itself */
        if (zpoller_terminated(poller))
            break;
    }
    zpoller_destroy(&poller);
    zactor_destroy(&node);    /* graceful: drains in-flight streams first */
    ARENA_TSAN_ACQUIRE(&cfg); /* czmq's end handshake, invisible to TSan */
    config_free(&cfg);
    return 0;
}
