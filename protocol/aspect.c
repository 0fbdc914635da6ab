/*  aspect — see aspect.h. */
#include "protocol/aspect.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/*  Reads 1..5 digits at *s as a side in 1..ASPECT_MAX_SIDE; advances *s. */
static bool s_side(const char **s, long *out)
{
    size_t n = strspn(*s, "0123456789");
    if (n == 0 || n > 5)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + ((*s)[i] - '0');
    *s += n;
    *out = v;
    return v >= 1 && v <= ASPECT_MAX_SIDE;
}

/*  "W<sep>H" exactly (up to end, which is NUL or ','). */
static bool s_pair(const char **s, char sep, long *w, long *h)
{
    if (!s_side(s, w) || **s != sep)
        return false;
    (*s)++;
    return s_side(s, h);
}

int aspect_for_size(const char *size, const char *ratios, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (!size || strcmp(size, "auto") == 0)
        return 0;
    long w, h;
    const char *s = size;
    if (!s_pair(&s, 'x', &w, &h) || *s != '\0')
        return -1;
    double want = log((double)w / (double)h);
    if (!ratios || !*ratios)
        ratios = ASPECT_DEFAULT_RATIOS;
    double best = INFINITY;
    const char *best_at = NULL;
    size_t best_len = 0;
    for (const char *r = ratios; *r;) {
        const char *start = r;
        long rw, rh;
        bool ok = s_pair(&r, ':', &rw, &rh) && (*r == ',' || *r == '\0');
        r += strcspn(r, ",");
        if (ok) {
            double d = fabs(log((double)rw / (double)rh) - want);
            if (d < best) {
                best = d;
                best_at = start;
                best_len = (size_t)(r - start);
            }
        }
        if (*r == ',')
            r++;
    }
    if (!best_at && strcmp(ratios, ASPECT_DEFAULT_RATIOS) != 0)
        return aspect_for_size(size, NULL, out, outlen); /* none well-formed */
    if (!best_at || best_len + 1 > outlen)
        return -1;
    memcpy(out, best_at, best_len);
    out[best_len] = '\0';
    return 1;
}
