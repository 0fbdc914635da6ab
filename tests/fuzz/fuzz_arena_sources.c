/*  libFuzzer driver: protocol/arena_sources over upstream citation text. The
    rendered list must stay well-formed Markdown lines without raw controls. */
#include <stdint.h>
#include <stdlib.h>

#include "protocol/arena_sources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    abuf_t out = ABUF_INIT;
    int n = arena_sources_render((const char *)data, size, &out);
    if (n > ARENA_SOURCES_MAX)
        abort();
    for (size_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char)out.data[i];
        if (c < 0x20 && c != '\n')
            abort();
    }
    abuf_free(&out);
    return 0;
}
