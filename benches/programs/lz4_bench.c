/* liblz4 (crates.io lz4-sys, fetched at bench time): fast and HC (level 9) compression
 * of N MiB of generated text, then repeated decompression; round trips are checked.
 * Usage: lz4_bench [N] */
#include <stdio.h>
#include <stdlib.h>
#include "lz4.h"
#include "lz4hc.h"
#include "gen.h"

int main(int argc, char **argv) {
    int n = (argc > 1 ? atoi(argv[1]) : 4) << 20;
    char *in = malloc(n), *d = malloc(n);
    int cap = LZ4_compressBound(n);
    char *c = malloc(cap), *h = malloc(cap);
    gen_text((unsigned char *)in, n);
    int clen = LZ4_compress_default(in, c, n, cap);
    int hlen = LZ4_compress_HC(in, h, n, cap, 9);
    for (int rep = 0; rep < 4; rep++) {
        if (LZ4_decompress_safe(rep & 1 ? h : c, d, rep & 1 ? hlen : clen, n) != n || memcmp(in, d, n)) {
            puts("round trip failed"); return 1;
        }
    }
    printf("lz4 n=%d fast=%d hc=%d sum=%08x\n", n, clen, hlen, gen_sum((unsigned char *)h, hlen));
    return 0;
}
