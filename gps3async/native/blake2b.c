/* BLAKE2b as RFC 7693 specifies it (sections 2.7, 3.1-3.3), unkeyed. */
#include "blake2b.h"

#include <string.h>

static const uint64_t INITIAL[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

/* The message word schedule of each of the twelve rounds (rounds 10 and 11 repeat 0 and 1). */
static const uint8_t SCHEDULE[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static uint64_t rotate_right(uint64_t word, unsigned bits) { return (word >> bits) | (word << (64 - bits)); }

static uint64_t load_little_endian(const uint8_t *bytes) {
    uint64_t word = 0;
    for (int i = 7; i >= 0; i--) word = (word << 8) | bytes[i];
    return word;
}

static void mix(uint64_t *v, int a, int b, int c, int d, uint64_t x, uint64_t y) {
    v[a] = v[a] + v[b] + x;
    v[d] = rotate_right(v[d] ^ v[a], 32);
    v[c] = v[c] + v[d];
    v[b] = rotate_right(v[b] ^ v[c], 24);
    v[a] = v[a] + v[b] + y;
    v[d] = rotate_right(v[d] ^ v[a], 16);
    v[c] = v[c] + v[d];
    v[b] = rotate_right(v[b] ^ v[c], 63);
}

static void compress(blake2b_state *state, int last) {
    uint64_t v[16], m[16];
    for (int i = 0; i < 8; i++) {
        v[i] = state->h[i];
        v[i + 8] = INITIAL[i];
    }
    v[12] ^= state->t[0];
    v[13] ^= state->t[1];
    if (last) v[14] = ~v[14];
    for (int i = 0; i < 16; i++) m[i] = load_little_endian(state->block + 8 * i);
    for (int round = 0; round < 12; round++) {
        const uint8_t *s = SCHEDULE[round];
        mix(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
        mix(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        mix(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        mix(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        mix(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
        mix(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
        mix(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
        mix(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) state->h[i] ^= v[i] ^ v[i + 8];
}

static void count(blake2b_state *state, size_t bytes) {
    state->t[0] += bytes;
    if (state->t[0] < bytes) state->t[1]++;
}

void blake2b_init(blake2b_state *state, size_t digest_length) {
    memset(state, 0, sizeof *state);
    memcpy(state->h, INITIAL, sizeof state->h);
    /* Parameter block: digest length, no key, fanout 1, depth 1 (sequential mode). */
    state->h[0] ^= 0x01010000ULL ^ (uint64_t)digest_length;
    state->digest_length = digest_length;
}

void blake2b_update(blake2b_state *state, const void *data, size_t length) {
    const uint8_t *bytes = data;
    while (length > 0) {
        if (state->filled == sizeof state->block) { /* only now: the last block is compressed by final */
            count(state, state->filled);
            compress(state, 0);
            state->filled = 0;
        }
        size_t room = sizeof state->block - state->filled;
        size_t take = length < room ? length : room;
        memcpy(state->block + state->filled, bytes, take);
        state->filled += take;
        bytes += take;
        length -= take;
    }
}

void blake2b_final(blake2b_state *state, uint8_t *digest) {
    count(state, state->filled);
    memset(state->block + state->filled, 0, sizeof state->block - state->filled);
    compress(state, 1);
    for (size_t i = 0; i < state->digest_length; i++) digest[i] = (uint8_t)(state->h[i / 8] >> (8 * (i % 8)));
}
