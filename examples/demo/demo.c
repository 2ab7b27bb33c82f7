// wasmc demo: one WebAssembly program, three native executables (x86_64, aarch64,
// riscv64), identical output. It uses what real programs use: arguments, an
// environment variable, files in a preopened directory, integer and floating-point
// work in long loops, and progress lines (a live migration will later move it between
// ISAs in the middle of those loops).
//
//   usage: demo [LIMIT]   (primes below LIMIT, default 2000000); DEMO_USER=name greets
//   rebuild: make -C examples/demo   (or `cargo xtask fixtures`), i.e.
//     clang-16 --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug -Wall demo.c -o demo.wasm
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Mandelbrot set as ASCII art: float-heavy, and any difference in rounding between
// ISAs would show up as a different picture.
static void mandelbrot(void) {
    const char *shades = " .:-=+*#%@";
    for (int row = 0; row < 22; row++) {
        char line[72];
        for (int col = 0; col < 70; col++) {
            double cr = -2.2 + col * 3.0 / 70, ci = -1.2 + row * 2.4 / 22, zr = 0, zi = 0;
            int it = 0;
            while (it < 200 && zr * zr + zi * zi < 4) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            line[col] = shades[it == 200 ? 9 : it % 9];
        }
        line[70] = 0;
        printf("  |%s|\n", line);
    }
}

int main(int argc, char **argv) {
    // Line-buffered even into a pipe, so progress shows as it happens (and each hop of
    // a migration prints its own part).
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned limit = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 2000000;
    const char *user = getenv("DEMO_USER");
    printf("hello %s, counting primes below %u\n", user ? user : "stranger", limit);

    // Sieve of Eratosthenes with progress lines.
    unsigned char *composite = calloc(limit, 1);
    unsigned count = 0;
    uint64_t sum = 0;
    for (unsigned i = 2; i < limit; i++) {
        if (i % (limit / 5) == 0) printf("  progress: %u%%, %u primes so far\n", (unsigned)(i * 100ull / limit), count);
        if (composite[i]) continue;
        count++;
        sum += i;
        for (uint64_t j = (uint64_t)i * i; j < limit; j += i) composite[j] = 1;
    }
    printf("%u primes below %u, sum %llu\n", count, limit, (unsigned long long)sum);

    // Write the last primes to a file in the preopened directory, read them back.
    FILE *f = fopen("/data/primes.txt", "w");
    if (!f) {
        printf("no /data directory (run with WASMC_DIRS=HOSTDIR::/data)\n");
        return 1;
    }
    unsigned written = 0;
    for (unsigned i = limit - 1; i > 1 && written < 10; i--)
        if (!composite[i]) fprintf(f, "%u\n", i), written++;
    fclose(f);
    f = fopen("/data/primes.txt", "r");
    unsigned p, lines = 0, largest = 0;
    while (fscanf(f, "%u", &p) == 1) { lines++; if (p > largest) largest = p; }
    fclose(f);
    printf("wrote and re-read %u primes from /data/primes.txt, largest %u\n", lines, largest);

    mandelbrot();
    free(composite);
    return 0;
}
