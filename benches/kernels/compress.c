/* Compression: a greedy LZ77 compressor (hash chains, 64 KiB window, min match 4)
 * and its decompressor over N MiB of pseudo-random, word-based text; the round trip
 * is checked. Usage: compress [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#define WIN 65536
#define HBITS 15
#define CHAIN 32

static uint32_t rng = 7;
static uint32_t next(void) { rng = rng * 1664525u + 1013904223u; return rng >> 8; }

static size_t compress(const uint8_t *in, size_t n, uint8_t *out) {
    int32_t *head = malloc(sizeof(int32_t) << HBITS), *prev = malloc(sizeof(int32_t) * WIN);
    memset(head, 0xff, sizeof(int32_t) << HBITS);
    size_t o = 0, i = 0, lit_start = 0;
    while (i + 4 <= n) {
        uint32_t h = ((in[i] | in[i+1] << 8 | in[i+2] << 16 | (uint32_t)in[i+3] << 24) * 2654435761u) >> (32 - HBITS);
        int32_t cand = head[h];
        size_t best = 0, dist = 0;
        for (int c = 0; c < CHAIN && cand >= 0 && i - cand < WIN; c++) {
            size_t l = 0, max = n - i < 255 + 4 ? n - i : 255 + 4;
            while (l < max && in[cand + l] == in[i + l]) l++;
            if (l > best) { best = l; dist = i - cand; }
            int32_t p = prev[cand & (WIN - 1)];
            if (p >= cand) break;
            cand = p;
        }
        prev[i & (WIN - 1)] = head[h];
        head[h] = (int32_t)i;
        if (best >= 4) {
            /* token: literal count (flushed literals), then match */
            size_t lits = i - lit_start;
            while (lits > 0) {
                size_t chunk = lits > 255 ? 255 : lits;
                out[o++] = 0; out[o++] = (uint8_t)chunk;
                memcpy(out + o, in + lit_start, chunk); o += chunk; lit_start += chunk; lits -= chunk;
            }
            out[o++] = 1; out[o++] = (uint8_t)(best - 4); out[o++] = dist & 0xff; out[o++] = dist >> 8;
            for (size_t k = 1; k < best && i + k + 4 <= n; k++) { /* index the skipped positions */
                size_t j = i + k;
                uint32_t hj = ((in[j] | in[j+1] << 8 | in[j+2] << 16 | (uint32_t)in[j+3] << 24) * 2654435761u) >> (32 - HBITS);
                prev[j & (WIN - 1)] = head[hj]; head[hj] = (int32_t)j;
            }
            i += best; lit_start = i;
        } else {
            i++;
        }
    }
    size_t lits = n - lit_start;
    while (lits > 0) {
        size_t chunk = lits > 255 ? 255 : lits;
        out[o++] = 0; out[o++] = (uint8_t)chunk;
        memcpy(out + o, in + lit_start, chunk); o += chunk; lit_start += chunk; lits -= chunk;
    }
    free(head); free(prev);
    return o;
}

static size_t decompress(const uint8_t *in, size_t n, uint8_t *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        if (in[i] == 0) { size_t c = in[i + 1]; memcpy(out + o, in + i + 2, c); o += c; i += 2 + c; }
        else {
            size_t len = in[i + 1] + 4, dist = in[i + 2] | in[i + 3] << 8;
            for (size_t k = 0; k < len; k++) out[o + k] = out[o - dist + k];
            o += len; i += 4;
        }
    }
    return o;
}

int main(int argc, char **argv) {
    int mib = argc > 1 ? atoi(argv[1]) : 16;
    size_t n = (size_t)mib << 20;
    static const char *words[] = {"the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ",
        "migration ", "point ", "checkpoint ", "restore ", "memory ", "stack ", "frame ", "wasm ",
        "compile ", "native ", "\n", "and ", "of ", "a ", "to ", "in "};
    uint8_t *in = malloc(n), *c = malloc(n + n / 64 + 1024), *d = malloc(n);
    for (size_t i = 0; i < n;) {
        const char *w = words[next() % 24];
        size_t l = strlen(w);
        if (next() % 8 == 0) { in[i++] = (uint8_t)('A' + next() % 26); continue; }
        for (size_t k = 0; k < l && i < n; k++) in[i++] = (uint8_t)w[k];
    }
    size_t clen = compress(in, n, c);
    size_t dlen = 0;
    for (int rep = 0; rep < 3; rep++) dlen = decompress(c, clen, d);
    if (dlen != n || memcmp(in, d, n) != 0) { printf("round trip failed\n"); return 1; }
    uint32_t sum = 0;
    for (size_t i = 0; i < clen; i++) sum = sum * 31 + c[i];
    printf("compress n=%zu compressed=%zu sum=%08x\n", n, clen, sum);
    return 0;
}
