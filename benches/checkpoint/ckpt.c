/* Checkpoint/restore workload for `cargo xtask bench` (measure d).
 * Usage: ckpt MIB dense|sparse DEPTH
 * Grows linear memory by MIB MiB (memory.grow, outside malloc) and fills it: `dense`
 * writes every byte (non-zero), `sparse` one 8-byte word per 64 KiB page. Then it
 * recurses DEPTH frames deep, prints "ready" and, in the innermost frame, spins until
 * the file /ck/go exists (a WASI path_filestat_get per iteration; a migration point at
 * each loop header). The bench sends SIGUSR1 after "ready" to checkpoint there, or
 * creates /ck/go first for an uninterrupted run that passes the same point and ends;
 * a restored run (go present) leaves the loop at once and finishes the same way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t *mem;
static size_t len;
static volatile uint64_t spins;

__attribute__((noinline)) static uint64_t dive(int depth) {
    /* volatile slot read after the call: no tail call, no accumulator loop */
    volatile uint64_t pad = (uint64_t)depth;
    if (depth > 1) return dive(depth - 1) + pad;
    printf("ready\n");
    fflush(stdout);
    while (access("/ck/go", F_OK) != 0) spins++;
    return mem[len / 2] + pad;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: ckpt MIB dense|sparse DEPTH\n"); return 2; }
    size_t mib = (size_t)atoi(argv[1]);
    int dense = strcmp(argv[2], "dense") == 0, depth = atoi(argv[3]);
    size_t pages = mib * 16;
    size_t old = __builtin_wasm_memory_grow(0, pages);
    if (old == (size_t)-1) { fprintf(stderr, "memory.grow(%zu) failed\n", pages); return 1; }
    mem = (uint8_t *)(old * 65536);
    len = pages * 65536;
    uint64_t *w = (uint64_t *)mem;
    if (dense)
        for (size_t i = 0; i < len / 8; i++) w[i] = (i * 0x9E3779B97F4A7C15ull) | 0x0101010101010101ull;
    else
        for (size_t p = 0; p < pages; p++) w[p * 8192] = p + 1;
    uint64_t r = dive(depth);
    printf("done %llu\n", (unsigned long long)r);
    return 0;
}
