/* Dense linear algebra: LU factorisation (Doolittle, dot-product form, no pivoting
 * on a diagonally dominant N x N matrix of doubles), then forward and back
 * substitution for a right-hand side, repeated; prints a checksum. The inner loops
 * are the textbook dot products, carried in a local accumulator that starts at 0
 * (sum += l[i][k] * u[k][j]; u[i][j] = a[i][j] - sum), the shape that pays per
 * iteration if NaN canonicalisation is not kept out of loops.
 * Usage: lu [N] */
#include <stdio.h>
#include <stdlib.h>

static void factor(int n, const double *a, double *lu) {
    for (int i = 0; i < n; i++) {
        for (int j = i; j < n; j++) {
            double sum = 0;
            for (int k = 0; k < i; k++) sum += lu[i * n + k] * lu[k * n + j];
            lu[i * n + j] = a[i * n + j] - sum;
        }
        double pivot = lu[i * n + i];
        for (int j = i + 1; j < n; j++) {
            double sum = 0;
            for (int k = 0; k < i; k++) sum += lu[j * n + k] * lu[k * n + i];
            lu[j * n + i] = (a[j * n + i] - sum) / pivot;
        }
    }
}

static void solve(int n, const double *lu, const double *b, double *x) {
    for (int i = 0; i < n; i++) { /* L y = b, unit diagonal */
        double sum = 0;
        for (int k = 0; k < i; k++) sum += lu[i * n + k] * x[k];
        x[i] = b[i] - sum;
    }
    for (int i = n - 1; i >= 0; i--) { /* U x = y */
        double sum = 0;
        for (int k = i + 1; k < n; k++) sum += lu[i * n + k] * x[k];
        x[i] = (x[i] - sum) / lu[i * n + i];
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    double *a = malloc(sizeof(double) * n * n), *lu = malloc(sizeof(double) * n * n);
    double *b = malloc(sizeof(double) * n), *x = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) a[i * n + j] = (double)((i * 7 + j * 13 + 3) % 17) / 17.0;
        a[i * n + i] += n; /* diagonally dominant: no pivoting needed */
        b[i] = (double)((i * 11 + 5) % 23) / 23.0;
    }
    double check = 0;
    for (int rep = 0; rep < 2; rep++) {
        factor(n, a, lu);
        solve(n, lu, b, x);
        for (int i = 0; i < n; i++) check += x[i];
        /* feed the result back so no repetition can be skipped */
        for (int i = 0; i < n; i++) a[i * n + i] += x[i] * 1e-3;
    }
    printf("lu n=%d checksum=%.9e\n", n, check);
    return 0;
}
