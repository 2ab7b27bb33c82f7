//! wasmc: an ahead-of-time compiler from WebAssembly (2.0 + WASI preview 1) to static,
//! migration-ready Linux executables for x86_64, aarch64 and riscv64.
//!
//! Pipeline: [`module_info`] validates and reads the module; [`translate`] lowers each
//! function to Cranelift IR (in parallel, see [`codegen`]); [`codegen`] compiles and
//! emits one ELF object with the module descriptor the runtime reads ([`descriptor`]);
//! [`link`] links it with the embedded runtime archive.

pub mod bounded;
pub mod codegen;
pub mod control;
pub mod describe;
pub mod descriptor;
pub mod driver;
pub mod env;
pub mod error;
pub mod exports;
pub mod features;
pub mod init;
pub mod inspect;
pub mod link;
pub mod module_info;
pub mod phis;
pub mod receive;
pub mod sites;
#[cfg(test)]
mod test_ir;
pub mod translate;
pub mod vreg_order;

pub use driver::{compile, Emit, Options};
