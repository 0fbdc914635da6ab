/*  arena-mesh — the operator's view of an ArenaMesh (status, models) and its
    key table (keys: tools/keys_cmd), its tiers (tiers: tools/tiers_cmd), its
    audit log (audit: tools/audit_cmd) and its usage (usage: tools/usage_cmd);
    tools/admin_cli holds what the admin commands share.

    A thin shell over tools/status_view: it owns only the process-wide pieces,
    the signal handling (SIGINT/SIGTERM stop a --watch; the flag below is the
    one variable a handler may touch) and libcurl's global initialisation. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tools/audit_cmd.h"
#include "tools/keys_cmd.h"
#include "tools/tiers_cmd.h"
#include "tools/status_view.h"
#include "tools/usage_cmd.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_install_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    s_install_handlers();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("arena-mesh: cannot initialise libcurl\n", stderr);
        return MESH_EXIT_FAIL;
    }
    int rc = usage_cmd_is_usage(argc, argv)
                 ? usage_cmd_main(argc, argv, getenv("ARENA_NODE"), getenv("ARENA_ADMIN_KEY"),
                                  getenv("ARENA_API_KEY"), &s_stop, stdout, stderr)
             : audit_cmd_is_audit(argc, argv)
                 ? audit_cmd_main(argc, argv, getenv("ARENA_NODE"), getenv("ARENA_ADMIN_KEY"),
                                  getenv("ARENA_API_KEY"), &s_stop, stdout, stderr)
             : tiers_cmd_is_tiers(argc, argv)
                 ? tiers_cmd_main(argc, argv, getenv("ARENA_NODE"), getenv("ARENA_ADMIN_KEY"),
                                  &s_stop, stdout, stderr)
             : keys_cmd_is_keys(argc, argv)
                 ? keys_cmd_main(argc, argv, getenv("ARENA_NODE"), getenv("ARENA_ADMIN_KEY"),
                                 &s_stop, stdout, stderr)
                 : status_view_main(argc, argv, getenv("ARENA_NODE"), getenv("ARENA_API_KEY"),
                                    &s_stop, stdout, stderr, isatty(STDOUT_FILENO) == 1);
    curl_global_cleanup();
    return rc;
}
