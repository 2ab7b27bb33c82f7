/* Stencil: 2-D Jacobi 5-point relaxation on an N x N float grid for T sweeps.
 * Usage: stencil [N] (T = 800) */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1024, steps = 800;
    float *u = calloc((size_t)n * n, sizeof(float)), *v = calloc((size_t)n * n, sizeof(float));
    for (int i = 0; i < n; i++) u[i] = v[i] = 1.0f; /* hot top edge */
    for (int i = 0; i < n; i++) u[i * n] = v[i * n] = 0.5f;
    for (int t = 0; t < steps; t++) {
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++)
                v[i * n + j] = 0.25f * (u[(i - 1) * n + j] + u[(i + 1) * n + j] + u[i * n + j - 1] + u[i * n + j + 1]);
        float *w = u; u = v; v = w;
    }
    double sum = 0;
    for (int i = 0; i < n * n; i++) sum += u[i];
    printf("stencil n=%d steps=%d checksum=%.6f\n", n, steps, sum);
    return 0;
}
