/*  libFuzzer driver: protocol/status_doc, the parser of /mesh/status (any
    node, or anything on that port, may answer arena-mesh). Whatever parses
    renders; what it renders parses again and renders the same (a fixpoint:
    render and parse agree on every field), and the counts stay in bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/abuf.h"
#include "protocol/status_doc.h"

static void s_check_bounds(const status_doc_t *doc)
{
    if (doc->n_nodes > STATUS_DOC_MAX_NODES)
        abort();
    for (size_t i = 0; i < doc->n_nodes; i++) {
        const status_doc_node_t *n = &doc->nodes[i];
        if (n->n_models > STATUS_DOC_MAX_MODELS || n->n_accounts > STATUS_DOC_MAX_ACCOUNTS ||
            n->n_tabs > STATUS_DOC_MAX_TABS)
            abort();
        for (size_t k = 0; k < n->n_accounts; k++)
            if (n->accounts[k].n_starts > STATUS_DOC_MAX_STARTS)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    status_doc_t *doc = NULL, *again = NULL;
    char err[256];
    if (status_doc_parse(data, size, &doc, err, sizeof err) != STATUS_DOC_OK)
        return 0;
    s_check_bounds(doc);
    abuf_t once = ABUF_INIT, twice = ABUF_INIT;
    if (status_doc_render(doc, &once) == 0) {
        if (status_doc_parse((const uint8_t *)once.data, once.len, &again, err, sizeof err) !=
            STATUS_DOC_OK)
            abort(); /* the renderer wrote something its parser refuses */
        if (status_doc_render(again, &twice) != 0 || twice.len != once.len ||
            memcmp(once.data, twice.data, once.len) != 0)
            abort();
    }
    abuf_free(&once);
    abuf_free(&twice);
    status_doc_destroy(&again);
    status_doc_destroy(&doc);
    return 0;
}
