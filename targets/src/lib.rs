//! Per-ISA facts, kept in one place: triples, Cranelift settings, how to link and how
//! to run a foreign executable. Everything else in wasmc asks this crate.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    X86_64,
    Aarch64,
    Riscv64,
}

pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Aarch64, Arch::Riscv64];

impl Arch {
    /// Short name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Rust/LLVM triple; also the name of the runtime archive's directory.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// Triple as Cranelift's `target-lexicon` spells it.
    pub fn lexicon_triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// ISA-specific Cranelift flags for the baseline CPU: code that runs on every core
    /// of the ISA. `--cpu-features` adds to these.
    pub fn baseline_isa_flags(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // x86-64-v1: SSE2 only. Cranelift needs nothing more for scalar code.
            Arch::X86_64 => &[],
            // ARMv8.0-A: no LSE, no PAuth, no BTI.
            Arch::Aarch64 => &[],
            // RV64GC: integer, multiply, atomics, float, double, compressed.
            Arch::Riscv64 => &[
                ("has_m", "true"),
                ("has_a", "true"),
                ("has_f", "true"),
                ("has_d", "true"),
                ("has_zca", "true"),
                ("has_zcd", "true"),
                ("has_zicsr", "true"),
                ("has_zifencei", "true"),
            ],
        }
    }

    /// Whether every float operation that returns a NaN returns the canonical NaN by
    /// itself. RISC-V always does; AArch64 does in FPCR's default-NaN mode, which the
    /// runtime switches on at start-up. x86-64 propagates NaN payloads and makes
    /// negative NaNs, so there the compiler canonicalises the NaNs a program can observe.
    pub fn hardware_canonical_nans(self) -> bool {
        match self {
            Arch::X86_64 => false,
            Arch::Aarch64 | Arch::Riscv64 => true,
        }
    }

    /// `-m` emulation for GNU-flavoured `ld.lld` / `rust-lld -flavor gnu`.
    pub fn lld_emulation(self) -> &'static str {
        match self {
            Arch::X86_64 => "elf_x86_64",
            Arch::Aarch64 => "aarch64linux",
            Arch::Riscv64 => "elf64lriscv",
        }
    }

    /// Debian's cross gcc driver for this ISA, the last-resort linker.
    pub fn cross_gcc(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu-gcc",
            Arch::Aarch64 => "aarch64-linux-gnu-gcc",
            Arch::Riscv64 => "riscv64-linux-gnu-gcc",
        }
    }

    /// qemu-user binary that runs a static executable of this ISA on another host.
    pub fn qemu(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-x86_64",
            Arch::Aarch64 => "qemu-aarch64",
            Arch::Riscv64 => "qemu-riscv64",
        }
    }

    /// The ISA of the machine running this code, if wasmc supports it.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            "riscv64" => Some(Arch::Riscv64),
            _ => None,
        }
    }

    /// The command prefix that runs an executable of this ISA here: nothing on the
    /// host's own ISA, qemu-user otherwise.
    pub fn runner(self) -> Option<&'static str> {
        if Some(self) == Arch::host() {
            None
        } else {
            Some(self.qemu())
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = String;

    /// Accepts the short name or any triple whose architecture is one we support and
    /// whose OS is Linux.
    fn from_str(s: &str) -> Result<Arch, String> {
        let arch = s.split('-').next().unwrap_or("");
        let found = match arch {
            "x86_64" | "amd64" | "x86-64" => Arch::X86_64,
            "aarch64" | "arm64" => Arch::Aarch64,
            "riscv64" | "riscv64gc" => Arch::Riscv64,
            _ => {
                return Err(format!(
                    "unsupported target `{s}` (supported: x86_64, aarch64, riscv64; see --list-targets)"
                ))
            }
        };
        if s.contains('-') && !s.contains("linux") {
            return Err(format!(
                "unsupported target `{s}`: wasmc produces Linux executables only"
            ));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_triples() {
        assert_eq!("aarch64".parse::<Arch>().unwrap(), Arch::Aarch64);
        assert_eq!(
            "riscv64gc-unknown-linux-gnu".parse::<Arch>().unwrap(),
            Arch::Riscv64
        );
        assert_eq!(
            "x86_64-unknown-linux-gnu".parse::<Arch>().unwrap(),
            Arch::X86_64
        );
        assert!("mips".parse::<Arch>().is_err());
        assert!("x86_64-apple-darwin".parse::<Arch>().is_err());
        for a in ALL {
            assert_eq!(a.triple().parse::<Arch>().unwrap(), a);
            assert_eq!(a.name().parse::<Arch>().unwrap(), a);
        }
    }
}
