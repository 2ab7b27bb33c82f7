// A live program for migration between nodes (`cargo xtask continuum`, the network
// migration tests): it fills MIB MiB of memory, then for STEPS steps rewrites KIB KiB
// of it, in 4 KiB runs at places a generator picks within its first HOT_MIB MiB (its
// working set; default all of it), and sleeps SLEEP_US microseconds, so it writes at a
// steady rate for as long as one wants. What it prints depends on the arguments only,
// never on timing: a checksum every 500 steps and of the whole memory at the end.
//
// usage: live MIB STEPS KIB SLEEP_US [HOT_MIB]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;

static uint64_t next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: live MIB STEPS KIB SLEEP_US [HOT_MIB]\n");
        return 2;
    }
    size_t words = (size_t)atol(argv[1]) * 1024 * 1024 / 8;
    long steps = atol(argv[2]);
    size_t per_step = (size_t)atol(argv[3]) * 1024 / 8;
    long sleep_us = atol(argv[4]);
    size_t hot = argc == 6 ? (size_t)atol(argv[5]) * 1024 * 1024 / 8 : words;
    if (hot == 0 || hot > words) hot = words;
    uint64_t *mem = malloc(words * 8);
    if (!mem || words == 0) {
        fprintf(stderr, "cannot allocate\n");
        return 1;
    }
    for (size_t i = 0; i < words; i++) mem[i] = next();
    printf("filled %zu MiB\n", words * 8 / (1024 * 1024));
    struct timespec pause = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
    uint64_t sum = 0;
    for (long s = 1; s <= steps; s++) {
        // A run of 512 words (4 KiB) at a time, at a random place.
        for (size_t done = 0; done < per_step; done += 512) {
            size_t at = (size_t)(next() % hot) & ~(size_t)511;
            for (size_t k = 0; k < 512 && at + k < words; k++) {
                mem[at + k] = mem[at + k] * 6364136223846793005ull + s;
                sum += mem[at + k] >> 32;
            }
        }
        if (s % 500 == 0) printf("step %ld: %016llx\n", s, (unsigned long long)sum);
        if (sleep_us > 0) nanosleep(&pause, NULL);
    }
    uint64_t all = 0;
    for (size_t i = 0; i < words; i++) all = all * 31 + mem[i];
    printf("memory checksum %016llx\n", (unsigned long long)all);
    return 0;
}
