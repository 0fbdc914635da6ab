/*  libFuzzer driver: arena-mesh's reading of a node's /mesh/status document
    (untrusted: any node, or anything on that port, may answer). Parses, then
    renders every view; none may crash or emit a control byte but newline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/abuf.h"
#include "tools/status_view.h"

static void s_check_text(const abuf_t *b)
{
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        if (c < 0x20 && c != '\n')
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    status_view_t *view = status_view_parse((const char *)data, size, err, sizeof err);
    if (!view)
        return 0;
    abuf_t out = ABUF_INIT;
    if (status_view_render_status(view, &out) == 0)
        s_check_text(&out);
    abuf_reset(&out);
    if (status_view_render_models(view, &out) == 0)
        s_check_text(&out);
    abuf_reset(&out);
    status_view_render_models_json(view, &out);
    abuf_reset(&out);
    status_view_render_json_pretty((const char *)data, size, &out);
    abuf_free(&out);
    status_view_destroy(&view);
    return 0;
}
