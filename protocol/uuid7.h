/*  uuid7 — UUID version 7 (time-ordered, RFC 9562) and version 4 strings,
    randomness from libsodium. Thread-safe after sodium_init(). */
#ifndef ARENA_UUID7_H
#define ARENA_UUID7_H

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/*  Writes a lower-case canonical UUIDv7 for the current time. */
void uuid7_generate(char out[UUID_STR_LEN]);
/*  Same, for a given unix time in milliseconds (for tests). */
void uuid7_generate_at(char out[UUID_STR_LEN], unsigned long long unix_ms);
void uuid4_generate(char out[UUID_STR_LEN]);
/*  1 when s is a canonical UUID string of any version, else 0. */
int uuid_is_valid(const char *s);
/*  The unix-ms timestamp a canonical version-7 UUID carries (its first 48
    bits); 0 for NULL, an invalid string or another version. */
long long uuid7_time_ms(const char *s);

#endif
