/*  delta — the unit of a streamed answer, shared by the LMArena stream parser,
    the dispatcher, the mesh relay and the OpenAI renderer. */
#ifndef ARENA_DELTA_H
#define ARENA_DELTA_H

typedef enum {
    DELTA_TEXT = 0,      /* answer text */
    DELTA_REASONING = 1, /* reasoning text (delta.reasoning_content) */
    DELTA_IMAGE = 2,     /* a generated image URL */
    DELTA_CITATION = 3,  /* search citation tool-call argument text */
} delta_kind_t;

/*  Token counts; -1 where the upstream did not say. */
typedef struct {
    long long prompt_tokens;
    long long completion_tokens;
} usage_t;

#define USAGE_UNKNOWN                                                                              \
    {                                                                                              \
        -1, -1                                                                                     \
    }

#endif
