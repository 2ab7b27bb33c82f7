/* libbzip2 (crates.io bzip2-sys, fetched at bench time) compressing and decompressing
 * N MiB of generated text in memory, block size 9; the round trip is checked.
 * Usage: bzip2_bench [N] */
#include <stdio.h>
#include <stdlib.h>
#include "bzlib.h"
#include "gen.h"

/* BZ_NO_STDIO builds leave this hook to the program. */
void bz_internal_error(int code) { printf("bzip2 internal error %d\n", code); exit(3); }

int main(int argc, char **argv) {
    size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 8) << 20;
    unsigned char *in = malloc(n), *d = malloc(n);
    unsigned clen = (unsigned)(n + n / 100 + 600), dlen = (unsigned)n;
    char *c = malloc(clen);
    gen_text(in, n);
    if (BZ2_bzBuffToBuffCompress(c, &clen, (char *)in, (unsigned)n, 9, 0, 0) != BZ_OK) { puts("compress failed"); return 1; }
    if (BZ2_bzBuffToBuffDecompress((char *)d, &dlen, c, clen, 0, 0) != BZ_OK || dlen != n || memcmp(in, d, n)) {
        puts("round trip failed"); return 1;
    }
    printf("bzip2 n=%zu compressed=%u sum=%08x\n", n, clen, gen_sum((unsigned char *)c, clen));
    return 0;
}
