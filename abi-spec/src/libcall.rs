//! The runtime functions generated code calls: one list, from which come the symbol
//! names, the parameter and result types the compiler builds its Cranelift signatures
//! from (`compiler/src/env.rs`), and a Rust function-pointer type per function that the
//! runtime assigns its `extern "C"` definition to (`runtime-lib/src/contract.rs`), so a
//! changed parameter on either side stops the build instead of corrupting a call.
//!
//! Every one uses the platform C calling convention (`extern "C"`, Cranelift
//! `SystemV`) and takes `*mut VmCtx` first; the types listed are those after it.

use crate::VmCtx;

/// A parameter or result type of a runtime function (after the leading vmctx).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    I32,
    I64,
}

/// What a runtime function returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Nothing,
    Value(Arg),
    /// Never returns (`-> !`).
    Never,
}

macro_rules! rust_ty {
    (I32) => {
        i32
    };
    (I64) => {
        i64
    };
}

macro_rules! ret_of {
    () => {
        Ret::Nothing
    };
    (!) => {
        Ret::Never
    };
    ($t:ident) => {
        Ret::Value(Arg::$t)
    };
}

macro_rules! rust_ret {
    () => { () };
    (!) => { ! };
    ($t:ident) => { rust_ty!($t) };
}

macro_rules! libcalls {
    ($( $(#[doc = $doc:literal])* $name:ident = $sym:literal ($($p:ident),*) $(-> $r:tt)?; )*) => {
        /// A runtime function generated code calls.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Libcall {
            $( $(#[doc = $doc])* $name, )*
        }

        impl Libcall {
            pub const ALL: &'static [Libcall] = &[$(Libcall::$name),*];

            /// The runtime's symbol.
            pub const fn symbol(self) -> &'static str {
                match self { $(Libcall::$name => $sym,)* }
            }

            /// Parameter types after the leading `*mut VmCtx`.
            pub const fn params(self) -> &'static [Arg] {
                match self { $(Libcall::$name => &[$(Arg::$p),*],)* }
            }

            pub const fn ret(self) -> Ret {
                match self { $(Libcall::$name => ret_of!($($r)?),)* }
            }
        }

        /// The Rust type of each runtime function, for the runtime's compile-time check.
        #[allow(non_camel_case_types)]
        pub mod fn_type {
            use super::*;
            $( pub type $name = unsafe extern "C" fn(*mut VmCtx $(, rust_ty!($p))*) -> rust_ret!($($r)?); )*
        }
    };
}

libcalls! {
    /// `(delta_pages) -> old size in pages, or -1`.
    MemoryGrow = "wasmc_memory_grow" (I32) -> I32;
    /// `(dst, val, len)`.
    MemoryFill = "wasmc_memory_fill" (I32, I32, I32);
    /// `(dst, src, len)`.
    MemoryCopy = "wasmc_memory_copy" (I32, I32, I32);
    /// `(seg, dst, src, len)`.
    MemoryInit = "wasmc_memory_init" (I32, I32, I32, I32);
    /// `(seg)`.
    DataDrop = "wasmc_data_drop" (I32);
    /// `(table, init, delta) -> old size, or -1`.
    TableGrow = "wasmc_table_grow" (I32, I64, I32) -> I32;
    /// `(table, dst, val, len)`.
    TableFill = "wasmc_table_fill" (I32, I32, I64, I32);
    /// `(dst_table, src_table, dst, src, len)`.
    TableCopy = "wasmc_table_copy" (I32, I32, I32, I32, I32);
    /// `(table, seg, dst, src, len)`.
    TableInit = "wasmc_table_init" (I32, I32, I32, I32, I32);
    /// `(seg)`.
    ElemDrop = "wasmc_elem_drop" (I32);
    /// `(code, func_index)`: stops the program with a trap.
    Trap = "wasmc_trap" (I32, I32) -> !;
    /// `(tag, n) -> exception`: a new exception of tag `tag` with room for `n` payload
    /// values, which the caller stores (`eh::payload_offset`).
    ExnNew = "wasmc_exn_new" (I32, I32) -> I64;
    /// `(exception)`: unwinds to the innermost handler that catches it (`eh`).
    Throw = "wasmc_throw" (I64) -> !;

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_unique_and_prefixed() {
        for (i, a) in Libcall::ALL.iter().enumerate() {
            assert!(a.symbol().starts_with("wasmc_"), "{a:?}");
            for b in &Libcall::ALL[i + 1..] {
                assert_ne!(a.symbol(), b.symbol());
            }
        }
    }

    /// The table and the Rust types come from one list; this pins one entry of each so
    /// a slip in the macro itself shows.
    #[test]
    fn table_and_rust_types_agree() {
        assert_eq!(Libcall::TableGrow.params(), &[Arg::I32, Arg::I64, Arg::I32]);
        assert_eq!(Libcall::TableGrow.ret(), Ret::Value(Arg::I32));
        assert_eq!(Libcall::Trap.ret(), Ret::Never);
        unsafe extern "C" fn grow(_: *mut VmCtx, _: i32, _: i64, _: i32) -> i32 {
            0
        }
        let _: fn_type::TableGrow = grow;
    }
}
