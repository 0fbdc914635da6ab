/*  arena_sources — search citations. LMArena's search models stream their
    sources as tool-call argument deltas (`ac:{"toolCallId","argsTextDelta"}`,
    ARENA-UPSTREAM.md); joined, the deltas hold JSON values that carry `url`
    (and usually `title`) fields, possibly nested in arrays or objects.
    This module gathers them and renders a Markdown sources list to append to
    the answer. Pure; bounded by the caller's byte cap. */
#ifndef ARENA_ARENA_SOURCES_H
#define ARENA_ARENA_SOURCES_H

#include <stddef.h>

#include "protocol/abuf.h"

#define ARENA_SOURCES_MAX 64 /* sources listed at most */

/*  Scans the joined argument text for JSON values with http(s) `url` fields
    and appends "\n\nSources:\n1. [title](url)\n…" to out, de-duplicated by
    URL in order of appearance. Appends nothing when none is found. Returns
    the number of sources listed, or -1 when out could not grow. */
int arena_sources_render(const char *args, size_t len, abuf_t *out);

#endif
