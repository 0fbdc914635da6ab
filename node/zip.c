/*  zip — see zip.h. Layout: APPNOTE.TXT 4.3 (local headers with the data,
    then the central directory, then its end record), little-endian. */
#include "node/zip.h"

#include <string.h>

#define S_LOCAL_SIG 0x04034b50u
#define S_CENTRAL_SIG 0x02014b50u
#define S_END_SIG 0x06054b50u
#define S_VERSION 20u       /* 2.0: what a stored file needs */
#define S_FLAG_UTF8 0x0800u /* names are UTF-8 */
#define S_DOS_DATE 0x0021u  /* 1980-01-01 */
#define S_NAME_MAX 0xffffu
#define S_MAX32 0xffffffffu
#define S_LOCAL_LEN 30u /* a local header without its name */

uint32_t zip_crc32(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static int s_u16(abuf_t *out, unsigned v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return abuf_append(out, b, sizeof b);
}

static int s_u32(abuf_t *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return abuf_append(out, b, sizeof b);
}

/*  The fields a local header and a central record share, from "version
    needed" to "extra field length". */
static int s_common(abuf_t *out, uint32_t crc, uint32_t size, size_t name_len)
{
    int rc = s_u16(out, S_VERSION);
    rc |= s_u16(out, S_FLAG_UTF8);
    rc |= s_u16(out, 0); /* stored */
    rc |= s_u16(out, 0); /* time 00:00:00 */
    rc |= s_u16(out, S_DOS_DATE);
    rc |= s_u32(out, crc);
    rc |= s_u32(out, size); /* compressed */
    rc |= s_u32(out, size);
    rc |= s_u16(out, (unsigned)name_len);
    rc |= s_u16(out, 0); /* no extra field */
    return rc;
}

int zip_stored(const zip_entry_t *entries, size_t n, abuf_t *out)
{
    if (n > 0xffff)
        return -1;
    size_t start = out->len;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const zip_entry_t *e = &entries[i];
        size_t name_len = strlen(e->name);
        if (name_len == 0 || name_len > S_NAME_MAX || e->name[0] == '/' || e->len > S_MAX32 ||
            out->len - start > S_MAX32)
            return -1;
        rc |= s_u32(out, S_LOCAL_SIG);
        rc |= s_common(out, zip_crc32(0, e->data, e->len), (uint32_t)e->len, name_len);
        rc |= abuf_append(out, e->name, name_len);
        rc |= abuf_append(out, e->data, e->len);
    }
    size_t dir_start = out->len - start;
    size_t offset = 0; /* of the entry's local header */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const zip_entry_t *e = &entries[i];
        size_t name_len = strlen(e->name);
        rc |= s_u32(out, S_CENTRAL_SIG);
        rc |= s_u16(out, (3u << 8) | S_VERSION); /* made by: Unix (permissions below) */
        rc |= s_common(out, zip_crc32(0, e->data, e->len), (uint32_t)e->len, name_len);
        rc |= s_u16(out, 0);                        /* no comment */
        rc |= s_u16(out, 0);                        /* disk 0 */
        rc |= s_u16(out, 0);                        /* internal attributes */
        rc |= s_u32(out, (uint32_t)0100644u << 16); /* a regular file, rw-r--r-- */
        rc |= s_u32(out, (uint32_t)offset);
        rc |= abuf_append(out, e->name, name_len);
        offset += S_LOCAL_LEN + name_len + e->len;
    }
    size_t dir_len = out->len - start - dir_start;
    if (rc || out->len - start > S_MAX32)
        return -1;
    rc |= s_u32(out, S_END_SIG);
    rc |= s_u16(out, 0); /* this disk */
    rc |= s_u16(out, 0); /* the directory's disk */
    rc |= s_u16(out, (unsigned)n);
    rc |= s_u16(out, (unsigned)n);
    rc |= s_u32(out, (uint32_t)dir_len);
    rc |= s_u32(out, (uint32_t)dir_start);
    rc |= s_u16(out, 0); /* no comment */
    return rc ? -1 : 0;
}
