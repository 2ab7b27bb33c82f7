/* Interpreter loop: a switch-dispatched stack-machine bytecode VM (locals, arithmetic,
 * branches, calls with its own frame stack) running nested loops and a recursive
 * Fibonacci written in its bytecode. Usage: interp [N] (N = fib argument) */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

enum { PUSH, LOAD, STORE, ADD, SUB, MUL, LT, JZ, JMP, CALL, RET, DUP, POP, MOD, HALT };

/* fib(n): if n < 2 return n; return fib(n-1) + fib(n-2)     (arg in local 0) */
/* main: acc = 0; for i in 0..LOOP: acc = (acc + i*i) % 1000003; push fib(N); halt */
static int64_t prog[] = {
    /* 0: fib */
    LOAD, 0, PUSH, 2, LT, JZ, 10, LOAD, 0, RET,
    /* 10 */ LOAD, 0, PUSH, 1, SUB, CALL, 0, 1, LOAD, 0, PUSH, 2, SUB, CALL, 0, 1, ADD, RET,
    /* 28: main; local0 = i, local1 = acc */
    PUSH, 0, STORE, 0, PUSH, 0, STORE, 1,
    /* 36: loop head */ LOAD, 0, PUSH, -1 /* patched: LOOP */, LT, JZ, 70,
    /* 43 */ LOAD, 1, LOAD, 0, LOAD, 0, MUL, ADD, PUSH, 1000003, MOD, STORE, 1,
    /* 56 */ LOAD, 0, PUSH, 1, ADD, STORE, 0, JMP, 36, POP, POP, POP, POP, POP,
    /* 70 */ LOAD, 1, PUSH, -1 /* patched: N */, CALL, 0, 1, ADD, HALT,
};

static int64_t run(int64_t pc) {
    /* static: the Wasm shadow stack is only 64 KiB by default */
    static int64_t stack[4096], locals[1 << 16];
    int64_t *sp = stack, *fp = locals;
    static int64_t rets[1 << 14][2]; /* return pc, caller frame pointer */
    int rsp = 0;
    for (;;) {
        switch (prog[pc]) {
        case PUSH: *sp++ = prog[pc + 1]; pc += 2; break;
        case LOAD: *sp++ = fp[prog[pc + 1]]; pc += 2; break;
        case STORE: fp[prog[pc + 1]] = *--sp; pc += 2; break;
        case ADD: sp--; sp[-1] += sp[0]; pc++; break;
        case SUB: sp--; sp[-1] -= sp[0]; pc++; break;
        case MUL: sp--; sp[-1] *= sp[0]; pc++; break;
        case MOD: sp--; sp[-1] %= sp[0]; pc++; break;
        case LT: sp--; sp[-1] = sp[-1] < sp[0]; pc++; break;
        case JZ: pc = *--sp ? pc + 2 : prog[pc + 1]; break;
        case JMP: pc = prog[pc + 1]; break;
        case DUP: sp[0] = sp[-1]; sp++; pc++; break;
        case POP: sp--; pc++; break;
        case CALL: {
            int64_t nargs = prog[pc + 2];
            rets[rsp][0] = pc + 3; rets[rsp][1] = fp - locals; rsp++;
            fp += 8; /* fixed-size frames */
            for (int64_t k = nargs - 1; k >= 0; k--) fp[k] = *--sp;
            pc = prog[pc + 1];
            break;
        }
        case RET:
            if (rsp == 0) return sp[-1];
            rsp--; pc = rets[rsp][0]; fp = locals + rets[rsp][1];
            break;
        case HALT: return sp[-1];
        default: return -1;
        }
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 32;
    prog[39] = (int64_t)n * 200000; /* loop count grows with n too */
    prog[73] = n;
    int64_t r = run(28);
    printf("interp n=%d result=%lld\n", n, (long long)r);
    return 0;
}
