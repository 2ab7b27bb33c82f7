/* Call-heavy code (worst case for function-entry migration points): naive recursive
 * Fibonacci, Ackermann(2, m) and a small-function-per-element loop that must stay a
 * real call (noinline). Usage: calls [N] (N = fib argument) */
#include <stdio.h>
#include <stdlib.h>

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static unsigned ack(unsigned m, unsigned n) {
    if (m == 0) return n + 1;
    if (n == 0) return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}
__attribute__((noinline)) static unsigned step(unsigned x) { return x * 1103515245u + 12345u; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 38;
    unsigned x = 1;
    for (long i = 0; i < (1L << (n - 10)); i++) x = step(x);
    printf("calls n=%d fib=%d ack=%u x=%u\n", n, fib(n), ack(2, 1u << (n - 27)), x);
    return 0;
}
