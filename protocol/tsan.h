/*  tsan — happens-before annotations for ThreadSanitizer where the ordering
    goes through a library TSan cannot see into (libzmq is not built with
    it: a message on an inproc pipe, or czmq's actor end handshake, orders
    the sender's writes before the receiver's reads, but TSan does not know).
    ARENA_TSAN_RELEASE(addr) on the sending side, ARENA_TSAN_ACQUIRE(addr) on
    the receiving side, with the same address. No-ops without TSan. */
#ifndef ARENA_TSAN_H
#define ARENA_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define ARENA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ARENA_TSAN 1
#endif
#endif

#ifdef ARENA_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define ARENA_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define ARENA_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#else
#define ARENA_TSAN_RELEASE(addr) ((void)(addr))
#define ARENA_TSAN_ACQUIRE(addr) ((void)(addr))
#endif

#endif
