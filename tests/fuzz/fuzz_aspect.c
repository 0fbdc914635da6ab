/*  libFuzzer driver for protocol/aspect: a client's image `size` and a
    model row's ratio list. The input is split at its first NUL into size
    and ratios. Beyond not crashing or reading past the strings: a 1 always
    names one W:H of the list (or of the default list), 0 only for "auto",
    and out is always a NUL-terminated string. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/aspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 2);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    text[size] = text[size + 1] = '\0';
    const char *sz = text;
    const char *ratios = text + strlen(text) + 1;
    if (ratios > text + size)
        ratios = text + size + 1; /* "" */
    char out[32];
    int rc = aspect_for_size(sz, ratios, out, sizeof out);
    size_t n = strnlen(out, sizeof out);
    if (n == sizeof out)
        __builtin_trap();
    if (rc == 1) {
        const char *list = *ratios ? ratios : ASPECT_DEFAULT_RATIOS;
        const char *at = strstr(list, out);
        const char *def = strstr(ASPECT_DEFAULT_RATIOS, out);
        if (n == 0 || (!at && !def) || !strchr(out, ':'))
            __builtin_trap();
    } else if (rc == 0) {
        if (strcmp(sz, "auto") != 0 || n != 0)
            __builtin_trap();
    } else if (rc != -1 || n != 0) {
        __builtin_trap();
    }
    free(text);
    return 0;
}
