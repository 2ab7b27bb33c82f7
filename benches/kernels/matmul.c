/* Dense linear algebra: C = A*B on N x N doubles (i-k-j loop order, the usual
 * cache-friendly form), repeated; prints a checksum. Usage: matmul [N] */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 600;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n);
    double *c = calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < n * n; i++) {
        a[i] = (double)((i * 7 + 3) % 17) / 17.0;
        b[i] = (double)((i * 11 + 5) % 23) / 23.0;
    }
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) {
                double aik = a[i * n + k];
                for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
            }
        /* feed the result back so no repetition can be skipped */
        for (int i = 0; i < n * n; i++) a[i] = c[i] * 1e-3;
    }
    double sum = 0;
    for (int i = 0; i < n * n; i++) sum += c[i];
    printf("matmul n=%d checksum=%.6e\n", n, sum);
    return 0;
}
