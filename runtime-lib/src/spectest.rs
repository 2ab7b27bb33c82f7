//! The `spectest` host module's functions (`abi_spec::imports::SPECTEST_FUNCS`), which
//! the spec test suite imports. The reference interpreter prints the arguments
//! (`42 : i32`); we do the same on stdout, except in harness mode, where stdout carries
//! the harness protocol and printing would only be noise. Floats print as their bit
//! pattern in hex (no `core::fmt` in the runtime).

use crate::print::{write_all, Line, STDOUT};
use abi_spec::VmCtx;

enum V {
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
}

fn print(vals: &[V]) {
    if crate::process::harness_mode() {
        return;
    }
    let mut l = Line::new();
    for v in vals {
        match *v {
            V::I32(x) => l.idec(x as i64).s(b" : i32"),
            V::I64(x) => l.idec(x).s(b" : i64"),
            V::F32(x) => l.hex(x.to_bits() as u64).s(b" : f32"),
            V::F64(x) => l.hex(x.to_bits()).s(b" : f64"),
        };
        l.nl();
    }
    write_all(STDOUT, l.as_bytes());
}

#[no_mangle]
pub extern "C" fn wasmc_spectest_print(_vmctx: *mut VmCtx) {
    print(&[]);
}
#[no_mangle]
pub extern "C" fn wasmc_spectest_print_i32(_vmctx: *mut VmCtx, a: i32) {
    print(&[V::I32(a)]);
}
#[no_mangle]
pub extern "C" fn wasmc_spectest_print_i64(_vmctx: *mut VmCtx, a: i64) {
    print(&[V::I64(a)]);
}
#[no_mangle]
pub extern "C" fn wasmc_spectest_print_f32(_vmctx: *mut VmCtx, a: f32) {
    print(&[V::F32(a)]);
}
#[no_mangle]
pub extern "C" fn wasmc_spectest_print_f64(_vmctx: *mut VmCtx, a: f64) {
    print(&[V::F64(a)]);
}
#[no_mangle]
pub extern "C" fn wasmc_spectest_print_i32_f32(_vmctx: *mut VmCtx, a: i32, b: f32) {
    print(&[V::I32(a), V::F32(b)]);
}
#[no_mangle]
pub extern "C" fn wasmc_spectest_print_f64_f64(_vmctx: *mut VmCtx, a: f64, b: f64) {
    print(&[V::F64(a), V::F64(b)]);
}
