/*  aspect — an OpenAI image `size` ("1792x1024", "auto") mapped to the
    aspect ratio an LMArena image model offers (its catalog row's
    outputCapabilities.image.aspectRatios, "1:1,16:9,9:16").

    LMArena's request carries no size: the node picks the offered ratio
    nearest to the asked one (by the logarithm of width/height, so 2:1 and
    1:2 are equally far from 1:1) and states it in the prompt
    (docs/http-api.md, "Images"). Pure; any thread. */
#ifndef ARENA_ASPECT_H
#define ARENA_ASPECT_H

#include <stddef.h>

/*  Ratios used when the model's row lists none (a peer's model, or a row
    without them): the ones OpenAI's image sizes and LMArena's models share. */
#define ASPECT_DEFAULT_RATIOS "1:1,3:2,2:3,4:3,3:4,16:9,9:16"

/*  Largest side accepted in a size, in pixels. */
#define ASPECT_MAX_SIDE 16384

/*  Maps size to one of ratios (comma-separated W:H; NULL or "" means
    ASPECT_DEFAULT_RATIOS) and writes it to out ("16:9"). Returns 1 with a
    ratio, 0 for "auto" or a NULL size (out is ""), -1 when size is not
    "auto" nor WxH with sides 1..ASPECT_MAX_SIDE (out is ""). */
int aspect_for_size(const char *size, const char *ratios, char *out, size_t outlen);

#endif
