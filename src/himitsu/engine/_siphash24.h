/*
 * SipHash-2-4 of one 8-byte message (the 64-bit word m taken as 8 little-endian bytes) with the key
 * halves k0, k1: shared by himitsu.engine._siphash (arrays of messages) and himitsu.engine._match
 * (the signature values of a checked text's k-grams). See _siphash.c for the algorithm.
 */

#ifndef HIMITSU_SIPHASH24_H
#define HIMITSU_SIPHASH24_H

#include <stdint.h>

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3) \
    do {                         \
        v0 += v1;                \
        v1 = ROTL64(v1, 13);     \
        v1 ^= v0;                \
        v0 = ROTL64(v0, 32);     \
        v2 += v3;                \
        v3 = ROTL64(v3, 16);     \
        v3 ^= v2;                \
        v0 += v3;                \
        v3 = ROTL64(v3, 21);     \
        v3 ^= v0;                \
        v2 += v1;                \
        v1 = ROTL64(v1, 17);     \
        v1 ^= v2;                \
        v2 = ROTL64(v2, 32);     \
    } while (0)

static inline uint64_t
siphash24_u64(uint64_t k0, uint64_t k1, uint64_t m)
{
    const uint64_t b = (uint64_t)8 << 56;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k1 ^ 0x7465646279746573ULL;

    v3 ^= m;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= m;

    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;

    v2 ^= 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

#endif
