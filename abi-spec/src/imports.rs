//! Host functions the runtime provides to Wasm modules (WASI preview 1).
//!
//! The compiler resolves a module's function imports against this list: a match becomes
//! a direct call of [`HostFunc::symbol`], with `*mut VmCtx` prepended to the Wasm
//! parameters; anything else is an unknown import.

use crate::ValType::{self, F32, F64, I32, I64};

pub struct HostFunc {
    pub module: &'static str,
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
}

/// Prefix of the runtime symbol of every WASI function.
pub const WASI_SYMBOL_PREFIX: &str = "wasmc_wasi_";

/// Module names under which WASI preview 1 is imported.
pub const WASI_MODULES: [&str; 2] = ["wasi_snapshot_preview1", "wasi_unstable"];

macro_rules! wasi {
    ($($name:ident ( $($p:ident),* ) -> ( $($r:ident),* );)*) => {
        /// Every WASI preview 1 function, as imported from `wasi_snapshot_preview1`.
        pub const WASI_FUNCS: &[HostFunc] = &[
            $(HostFunc {
                module: "wasi_snapshot_preview1",
                name: stringify!($name),
                params: &[$($p),*],
                results: &[$($r),*],
            },)*
        ];
    };
}

wasi! {
    args_get(I32, I32) -> (I32);
    args_sizes_get(I32, I32) -> (I32);
    environ_get(I32, I32) -> (I32);
    environ_sizes_get(I32, I32) -> (I32);
    clock_res_get(I32, I32) -> (I32);
    clock_time_get(I32, I64, I32) -> (I32);
    fd_advise(I32, I64, I64, I32) -> (I32);
    fd_allocate(I32, I64, I64) -> (I32);
    fd_close(I32) -> (I32);
    fd_datasync(I32) -> (I32);
    fd_fdstat_get(I32, I32) -> (I32);
    fd_fdstat_set_flags(I32, I32) -> (I32);
    fd_fdstat_set_rights(I32, I64, I64) -> (I32);
    fd_filestat_get(I32, I32) -> (I32);
    fd_filestat_set_size(I32, I64) -> (I32);
    fd_filestat_set_times(I32, I64, I64, I32) -> (I32);
    fd_pread(I32, I32, I32, I64, I32) -> (I32);
    fd_prestat_get(I32, I32) -> (I32);
    fd_prestat_dir_name(I32, I32, I32) -> (I32);
    fd_pwrite(I32, I32, I32, I64, I32) -> (I32);
    fd_read(I32, I32, I32, I32) -> (I32);
    fd_readdir(I32, I32, I32, I64, I32) -> (I32);
    fd_renumber(I32, I32) -> (I32);
    fd_seek(I32, I64, I32, I32) -> (I32);
    fd_sync(I32) -> (I32);
    fd_tell(I32, I32) -> (I32);
    fd_write(I32, I32, I32, I32) -> (I32);
    path_create_directory(I32, I32, I32) -> (I32);
    path_filestat_get(I32, I32, I32, I32, I32) -> (I32);
    path_filestat_set_times(I32, I32, I32, I32, I64, I64, I32) -> (I32);
    path_link(I32, I32, I32, I32, I32, I32, I32) -> (I32);
    path_open(I32, I32, I32, I32, I32, I64, I64, I32, I32) -> (I32);
    path_readlink(I32, I32, I32, I32, I32, I32) -> (I32);
    path_remove_directory(I32, I32, I32) -> (I32);
    path_rename(I32, I32, I32, I32, I32, I32) -> (I32);
    path_symlink(I32, I32, I32, I32, I32) -> (I32);
    path_unlink_file(I32, I32, I32) -> (I32);
    poll_oneoff(I32, I32, I32, I32) -> (I32);
    proc_exit(I32) -> ();
    proc_raise(I32) -> (I32);
    sched_yield() -> (I32);
    random_get(I32, I32) -> (I32);
    sock_accept(I32, I32, I32) -> (I32);
    sock_recv(I32, I32, I32, I32, I32, I32) -> (I32);
    sock_send(I32, I32, I32, I32, I32) -> (I32);
    sock_shutdown(I32, I32) -> (I32);
}

/// The print functions of the spec-test host module `spectest` (they print nothing of
/// interest; the runtime provides them as `wasmc_spectest_<name>`).
pub const SPECTEST_FUNCS: &[HostFunc] = &[
    HostFunc {
        module: "spectest",
        name: "print",
        params: &[],
        results: &[],
    },
    HostFunc {
        module: "spectest",
        name: "print_i32",
        params: &[I32],
        results: &[],
    },
    HostFunc {
        module: "spectest",
        name: "print_i64",
        params: &[I64],
        results: &[],
    },
    HostFunc {
        module: "spectest",
        name: "print_f32",
        params: &[F32],
        results: &[],
    },
    HostFunc {
        module: "spectest",
        name: "print_f64",
        params: &[F64],
        results: &[],
    },
    HostFunc {
        module: "spectest",
        name: "print_i32_f32",
        params: &[I32, F32],
        results: &[],
    },
    HostFunc {
        module: "spectest",
        name: "print_f64_f64",
        params: &[F64, F64],
        results: &[],
    },
];

/// Prefix of the runtime symbol of every spectest function.
pub const SPECTEST_SYMBOL_PREFIX: &str = "wasmc_spectest_";

/// Finds the host function a module imports as `module`.`name`.
pub fn find_host_func(module: &str, name: &str) -> Option<&'static HostFunc> {
    if module == "spectest" {
        return SPECTEST_FUNCS.iter().find(|f| f.name == name);
    }
    if !WASI_MODULES.contains(&module) {
        return None;
    }
    WASI_FUNCS.iter().find(|f| f.name == name)
}

impl HostFunc {
    /// The runtime symbol that implements this function.
    pub fn symbol_prefix(&self) -> &'static str {
        if self.module == "spectest" {
            SPECTEST_SYMBOL_PREFIX
        } else {
            WASI_SYMBOL_PREFIX
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_table_is_complete_and_unique() {
        assert_eq!(WASI_FUNCS.len(), 46);
        for (i, a) in WASI_FUNCS.iter().enumerate() {
            for b in &WASI_FUNCS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
        let w = find_host_func("wasi_snapshot_preview1", "fd_write").unwrap();
        assert_eq!(w.params, &[I32, I32, I32, I32]);
        assert!(find_host_func("env", "fd_write").is_none());
    }
}
