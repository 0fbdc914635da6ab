/*  traffic — this node's traffic over the last hour, for GET /mesh/traffic
    and the dashboard's traffic view (issue #12, item 3; docs/http-api.md).

    What is counted: every client-facing API request that entered the mesh
    at this node (chat, Responses, images) when it ends — whoever served it
    (a local tab or a peer), refusals included. A peer's forwarded request
    is its origin's traffic, not ours.

    A ring of TRAFFIC_BUCKETS buckets of TRAFFIC_BUCKET_MS each (one hour),
    aligned to the wall clock (unix ms), allocated once: recording a request
    allocates nothing. Per bucket: requests that ended, errors by kind (the
    OpenAI error `code` the client got, or TRAFFIC_CLIENT_CLOSED for a
    client that left before its answer was whole; at most TRAFFIC_MAX_KINDS
    distinct kinds for the node's life, later ones count as "other"), and a
    histogram of time to first byte.

    The TTFB histogram is log-scale: bin 0 holds [0, 1) ms, bin k ≥ 1 holds
    [2^((k-1)/4), 2^(k/4)) ms (four bins per doubling), the last bin
    everything from 2^20 ms (17 min) up. A quantile (nearest rank) is the
    geometric middle of its bin, clamped to the smallest and largest sample
    of the bucket: within 9.1 % (2^(1/8) - 1) of the true sample, exact when
    every sample is the same.

    Every call takes the time (now_ms, unix ms) from its caller: tests
    inject it. A wall clock stepped back overwrites the buckets it lands on
    again. Owned by the node thread (http.c records from libmicrohttpd's
    callbacks, which run in the node's zloop, and answers GET /mesh/traffic
    there): no locks. */
#ifndef ARENA_TRAFFIC_H
#define ARENA_TRAFFIC_H

#include <stddef.h>

#include "protocol/abuf.h"
#include "protocol/openai.h"

#define TRAFFIC_BUCKET_MS 10000LL
#define TRAFFIC_BUCKETS 360 /* one hour */
#define TRAFFIC_MAX_KINDS 16
#define TRAFFIC_KIND_MAX 32 /* bytes of a kind's name; longer, or not [a-z0-9_]: "other" */
#define TRAFFIC_OTHER "other"
#define TRAFFIC_CLIENT_CLOSED "client_closed"
#define TRAFFIC_TTFB_BINS 81      /* [0, 1) ms, then four per doubling up to 2^20 ms */
#define TRAFFIC_SUMMARY_BUCKETS 6 /* "last_minute": the newest six buckets */

typedef struct _traffic_t traffic_t;

/*  Nothing before now_ms (the node's start) is listed. NULL: out of memory. */
traffic_t *traffic_new(long long now_ms);
void traffic_destroy(traffic_t **self_p);

/*  One request ended at now_ms. error: the kind the client got (an error
    code, TRAFFIC_CLIENT_CLOSED), NULL for an answer; ttfb_ms < 0: no TTFB
    sample (the caller samples answers that began, not refusals). */
void traffic_record(traffic_t *self, long long now_ms, const char *error, long long ttfb_ms);

/*  GET /mesh/traffic's query (names and values as decoded; n of them):
    since=MS (an integer, 0 ≤ MS ≤ 2^53) gives *since_ms, else it is -1.
    0, or -1 with err filled (400 invalid_request, param naming the
    parameter) for an unknown, repeated or malformed parameter. */
int traffic_query_parse(const char *const *names, const char *const *values, size_t n,
                        long long *since_ms, openai_error_t *err);

/*  Appends the document of GET /mesh/traffic (docs/http-api.md): the
    buckets of the last hour (not before traffic_new's now_ms; with
    since_ms ≥ 0 only those with start_ms ≥ since_ms), oldest first, the
    current one partial, and "last_minute" (the newest
    TRAFFIC_SUMMARY_BUCKETS buckets merged). 0, or -1 (out of memory). */
int traffic_render(const traffic_t *self, const char *node_id, long long now_ms, long long since_ms,
                   abuf_t *out);

/*  The bin of a TTFB sample, and the value a quantile in bin k reports
    before clamping (ms): what the resolution above says. */
int traffic_ttfb_bin(long long ttfb_ms);
double traffic_ttfb_mid(int bin);

#endif
