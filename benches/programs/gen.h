/* Deterministic, compressible test data shared by the real-program drivers: words
 * drawn from a small vocabulary with some random capitals (like kernels/compress.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static uint32_t gen_rng = 7;
static uint32_t gen_next(void) { gen_rng = gen_rng * 1664525u + 1013904223u; return gen_rng >> 8; }

static void gen_text(unsigned char *buf, size_t n) {
    static const char *words[] = {"the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ",
        "migration ", "point ", "checkpoint ", "restore ", "memory ", "stack ", "frame ", "wasm ",
        "compile ", "native ", "\n", "and ", "of ", "a ", "to ", "in "};
    for (size_t i = 0; i < n;) {
        if (gen_next() % 8 == 0) { buf[i++] = (unsigned char)('A' + gen_next() % 26); continue; }
        const char *w = words[gen_next() % 24];
        for (size_t k = 0; w[k] && i < n; k++) buf[i++] = (unsigned char)w[k];
    }
}

static uint32_t gen_sum(const unsigned char *p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}
