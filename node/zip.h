/*  zip — a writer of stored (uncompressed) ZIP archives, enough for the
    browser extension the dashboard offers (GET /extension.zip): a handful of
    small text files. No compression, no ZIP64 (each file and the whole
    archive under 4 GiB, at most 65535 entries), fixed time stamps (1980-01-01)
    so the same files make the same bytes. Pure: no I/O, no state. */
#ifndef ARENA_ZIP_H
#define ARENA_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/abuf.h"

typedef struct {
    const char *name; /* path inside the archive, '/'-separated, no leading '/' */
    const void *data;
    size_t len;
} zip_entry_t;

/*  CRC-32 (ISO 3309, as ZIP and gzip use) of buf[0..len), continuing crc
    (start with 0). */
uint32_t zip_crc32(uint32_t crc, const void *buf, size_t len);
/*  Appends the archive of entries[0..n) to out. 0, or -1 (out refused the
    bytes, or a name or size ZIP cannot hold; out is then partly written). */
int zip_stored(const zip_entry_t *entries, size_t n, abuf_t *out);

#endif
