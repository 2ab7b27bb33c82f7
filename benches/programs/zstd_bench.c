/* libzstd (crates.io zstd-sys, fetched at bench time): level-3 and level-12
 * compression of N MiB of generated text and decompression; round trips are checked.
 * Usage: zstd_bench [N] */
#include <stdio.h>
#include <stdlib.h>
#include "zstd.h"
#include "gen.h"

int main(int argc, char **argv) {
    size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 16) << 20;
    unsigned char *in = malloc(n), *d = malloc(n);
    size_t cap = ZSTD_compressBound(n);
    unsigned char *c = malloc(cap);
    gen_text(in, n);
    size_t total = 0;
    uint32_t sum = 0;
    int levels[] = {3, 12};
    for (int l = 0; l < 2; l++) {
        size_t clen = ZSTD_compress(c, cap, in, n, levels[l]);
        if (ZSTD_isError(clen)) { printf("compress: %s\n", ZSTD_getErrorName(clen)); return 1; }
        size_t dlen = ZSTD_decompress(d, n, c, clen);
        if (ZSTD_isError(dlen) || dlen != n || memcmp(in, d, n)) { puts("round trip failed"); return 1; }
        total += clen;
        sum ^= gen_sum(c, clen);
    }
    printf("zstd n=%zu compressed=%zu sum=%08x\n", n, total, sum);
    return 0;
}
