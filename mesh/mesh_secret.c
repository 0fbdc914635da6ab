/*  mesh_secret — the per-user mesh secret file (mesh.h, mesh_secret_load).

    A node started without --mesh-secret still protects its mesh port with
    CURVE: its secret comes from a file only its user may read, created on
    first use with 32 random bytes from libsodium. Every node that user
    starts on that machine reads the same file, so a local mesh needs no
    setting, and a process of another user (or one that cannot read the
    file) cannot join it. The file is written under a temporary name and
    linked into place, so two nodes starting at once never read a half
    written secret: the second link fails and that node reads the first's.
    Any thread (no state). */
#include "mesh/mesh_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_RANDOM_BYTES 32

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/*  mkdir -p of path's directory, each new level 0700. */
static int s_mkdirs(const char *path, char *err, size_t errlen)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof dir)
        return s_fail(err, errlen, "mesh secret file path too long");
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return s_fail(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return s_fail(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    return 0;
}

/*  A new secret file at path, unless one appears there meanwhile (then 0:
    the caller reads that one). */
static int s_create(const char *path, char *err, size_t errlen)
{
    if (s_mkdirs(path, err, errlen) != 0)
        return -1;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.%08x.tmp", path, (long)getpid(), randombytes_random());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return s_fail(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    uint8_t raw[S_RANDOM_BYTES];
    char hex[2 * S_RANDOM_BYTES + 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    size_t len = strlen(hex);
    hex[len++] = '\n';
    bool ok = write(fd, hex, len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    sodium_memzero(hex, sizeof hex);
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && link(tmp, path) != 0 && errno != EEXIST) {
        ok = false;
        saved = errno;
    }
    unlink(tmp);
    if (!ok)
        return s_fail(err, errlen, "cannot write %s: %s", path, strerror(saved));
    return 0;
}

/*  The secret of an open file: its one word, white space around it ignored. */
static int s_read(int fd, const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    char buf[MESH_SECRET_MAX + 64];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return s_fail(err, errlen, "cannot read %s: %s", path, strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf - 1)
            break;
    }
    buf[n] = '\0';
    size_t a = 0, b = n;
    while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\n' || buf[a] == '\r'))
        a++;
    while (b > a &&
           (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\n' || buf[b - 1] == '\r'))
        b--;
    bool ok = b > a && b - a <= MESH_SECRET_MAX && b - a < outlen;
    for (size_t i = a; ok && i < b; i++)
        ok = (unsigned char)buf[i] >= 0x21 && (unsigned char)buf[i] <= 0x7e;
    if (ok) {
        memcpy(out, buf + a, b - a);
        out[b - a] = '\0';
    }
    sodium_memzero(buf, sizeof buf);
    if (!ok)
        return s_fail(err, errlen,
                      "%s holds no mesh secret (1..%d printable characters, no spaces)", path,
                      MESH_SECRET_MAX);
    return 0;
}

int mesh_secret_load(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!path || !*path || !out || outlen == 0)
        return s_fail(err, errlen, "no mesh secret file");
    if (sodium_init() < 0)
        return s_fail(err, errlen, "libsodium failed to start");
    int fd = -1;
    for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
        fd = open(path, O_RDONLY | O_CLOEXEC); /* a symlink is fine: the target is checked */
        if (fd >= 0)
            break;
        if (errno != ENOENT)
            return s_fail(err, errlen, "cannot open the mesh secret file %s: %s", path,
                          strerror(errno));
        if (attempt == 0 && s_create(path, err, errlen) != 0)
            return -1;
    }
    if (fd < 0)
        return s_fail(err, errlen, "cannot open the mesh secret file %s", path);
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0)
        s_fail(err, errlen, "cannot stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s_fail(err, errlen, "the mesh secret file %s is not a regular file", path);
    else if (st.st_uid != geteuid())
        s_fail(err, errlen, "the mesh secret file %s belongs to another user", path);
    else if (st.st_mode & 077)
        s_fail(err, errlen,
               "the mesh secret file %s may be read or written by others (mode %03o): "
               "chmod 600 it",
               path, (unsigned)(st.st_mode & 0777));
    else
        rc = s_read(fd, path, out, outlen, err, errlen);
    close(fd);
    return rc;
}
