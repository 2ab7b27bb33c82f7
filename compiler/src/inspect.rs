//! `wasmc inspect`: a human-readable report of a checkpoint file.
//!
//! Everything comes from the canonical format in `abi_spec::checkpoint` (so this is
//! also a check that a file is valid); the module, when given, only adds function
//! names and the guarantee that the checkpoint belongs to it.

use abi_spec::checkpoint::{read_checkpoint, FdRecord, Frame, Value};
use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

/// Describes the checkpoint at `checkpoint`; with `module`, also names functions and
/// refuses a checkpoint of another module.
pub fn inspect(checkpoint: &Path, module: Option<&Path>) -> anyhow::Result<String> {
    let bytes = std::fs::read(checkpoint)
        .with_context(|| format!("cannot read {}", checkpoint.display()))?;
    let ck =
        read_checkpoint(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", checkpoint.display()))?;
    let names = match module {
        Some(m) => {
            let wasm = std::fs::read(m).with_context(|| format!("cannot read {}", m.display()))?;
            if Sha256::digest(&wasm).as_slice() != ck.module_hash {
                bail!("checkpoint is of another module ({})", m.display());
            }
            func_names(&wasm)
        }
        None => HashMap::new(),
    };
    let func = |f: u32| match names.get(&f) {
        Some(n) => format!("{f} <{}>", crate::error::escaped(n)),
        None => f.to_string(),
    };

    let mut s = String::new();
    let o = &mut s;
    let _ = writeln!(o, "checkpoint {}", checkpoint.display());
    let _ = writeln!(
        o,
        "  format version {}, ABI version {}, written on {}",
        ck.format_version,
        ck.abi_version,
        ck.source_isa.name()
    );
    let _ = writeln!(o, "  module hash {}", hex(&ck.module_hash));
    if let Some(m) = module {
        let _ = writeln!(o, "  module {} (hash matches)", m.display());
    }

    let m = &ck.memory;
    let _ = writeln!(
        o,
        "memory: {} bytes ({} pages), {} non-zero bytes in {} runs",
        m.size,
        m.size / abi_spec::WASM_PAGE,
        m.nonzero_bytes,
        m.runs.len()
    );

    let _ = writeln!(o, "globals: {}", ck.globals.len());
    for (i, v) in ck.globals.iter().enumerate() {
        let _ = writeln!(o, "  {i}: {}", value(&v, &func));
    }

    let _ = writeln!(o, "tables: {}", ck.tables.len());
    for (i, t) in ck.tables.iter().enumerate() {
        let max = t.max.map_or("none".to_string(), |m| m.to_string());
        let set = t.entries().filter(Option::is_some).count();
        let _ = writeln!(
            o,
            "  {i}: {}, {} elements ({set} non-null), max {max}",
            t.elem.name(),
            t.len
        );
    }

    for (what, b) in [("data", ck.dropped_data), ("element", ck.dropped_elem)] {
        let dropped: Vec<String> = (0..b.len)
            .filter(|&i| b.is_set(i))
            .map(|i| i.to_string())
            .collect();
        let _ = writeln!(
            o,
            "{what} segments: {}, dropped: {}",
            b.len,
            if dropped.is_empty() {
                "none".into()
            } else {
                dropped.join(" ")
            }
        );
    }

    let _ = writeln!(o, "frames: {} (outermost first)", ck.frames.len());
    for (i, f) in ck.frames.iter().enumerate() {
        frame(o, i, &f, &func);
    }

    let w = &ck.wasi;
    let list = |l: abi_spec::checkpoint::List<'_, &[u8]>| -> String {
        l.iter()
            .map(|s| format!("{:?}", String::from_utf8_lossy(s)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(o, "wasi:");
    let _ = writeln!(o, "  args: {}", list(w.args));
    let _ = writeln!(o, "  env: {}", list(w.env));
    let _ = writeln!(o, "  preopens: {}", list(w.preopens));
    let preopens: Vec<&[u8]> = w.preopens.iter().collect();
    let _ = writeln!(o, "  open files: {}", w.fds.len());
    for f in w.fds.iter() {
        let _ = writeln!(o, "    {}", fd(&f, &preopens));
    }
    if w.free_fds.len() > 0 {
        // The order they are handed out in: the last listed first.
        let mut next: Vec<String> = w.free_fds.iter().map(|f| f.to_string()).collect();
        next.reverse();
        let _ = writeln!(o, "  closed fds, reused next first: {}", next.join(" "));
    }
    let _ = writeln!(
        o,
        "  monotonic clock: {}.{:09} s",
        w.monotonic_ns / 1_000_000_000,
        w.monotonic_ns % 1_000_000_000
    );
    Ok(s)
}

fn frame(o: &mut String, i: usize, f: &Frame, func: &dyn Fn(u32) -> String) {
    let point = match f.point {
        0 => "0 (entry)".to_string(),
        p => p.to_string(),
    };
    let _ = writeln!(
        o,
        "  #{i} func {} at point {point}, {} values",
        func(f.func),
        f.num_values()
    );
    for (k, v) in f.values().enumerate() {
        let _ = writeln!(o, "      {k}: {}", value(&v, func));
    }
}

fn value(v: &Value, func: &dyn Fn(u32) -> String) -> String {
    match *v {
        Value::I32(x) => format!("i32 {} (0x{x:x})", x as i32),
        Value::I64(x) => format!("i64 {} (0x{x:x})", x as i64),
        Value::F32(x) => format!("f32 {} (0x{x:08x})", f32::from_bits(x)),
        Value::F64(x) => format!("f64 {} (0x{x:016x})", f64::from_bits(x)),
        Value::V128(b) => format!("v128 0x{:032x}", u128::from_le_bytes(b)),
        Value::FuncRef(Some(f)) => format!("funcref {}", func(f)),
        Value::FuncRef(None) => "funcref null".into(),
        Value::NullExternRef => "externref null".into(),
    }
}

fn fd(f: &FdRecord, preopens: &[&[u8]]) -> String {
    let mut s = format!("{} {}", f.fd, f.kind.name());
    if let Some(p) = f.preopen {
        let root = preopens.get(p as usize).copied().unwrap_or(b"?");
        let mut path = String::from_utf8_lossy(root).into_owned();
        if !f.path.is_empty() {
            if !path.ends_with('/') {
                path.push('/');
            }
            path.push_str(&String::from_utf8_lossy(f.path));
        }
        let _ = write!(s, " {path:?}");
    }
    let _ = write!(
        s,
        " offset {} (oflags 0x{:x}, fdflags 0x{:x}, rights 0x{:x}/0x{:x})",
        f.offset, f.oflags, f.fdflags, f.rights_base, f.rights_inheriting
    );
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Function names from the name section; a missing or damaged one just gives none.
fn func_names(wasm: &[u8]) -> HashMap<u32, String> {
    use wasmparser::{KnownCustom, Parser, Payload};
    let mut names = HashMap::new();
    for payload in Parser::new(0).parse_all(wasm).flatten() {
        if let Payload::CustomSection(c) = payload {
            if let KnownCustom::Name(reader) = c.as_known() {
                names.extend(
                    crate::module_info::function_names(reader).map(|(i, n)| (i, n.to_string())),
                );
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_spec::checkpoint::*;
    use abi_spec::ValType::*;

    fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("wasmc-inspect-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn report() {
        let wasm = wat::parse_str(
            r#"(module (func $main (call $work (i32.const 7))) (func $work (param i32))
                 (memory 1) (table 2 funcref) (global (mut i64) (i64.const 0)))"#,
        )
        .unwrap();
        let hash: [u8; 32] = Sha256::digest(&wasm).into();
        let mut memory = vec![0u8; 65536];
        memory[100] = 1;
        let entries = [u32::MAX, 1];
        let tables = [TableRef {
            elem: FuncRef,
            max: None,
            entries: &entries,
        }];
        let (t0, s0) = ([I32], [7u64]);
        let frames = [
            FrameRef {
                func: 0,
                point: 1,
                values: Slots {
                    types: &[],
                    slots: &[],
                },
            },
            FrameRef {
                func: 1,
                point: 0,
                values: Slots {
                    types: &t0,
                    slots: &s0,
                },
            },
        ];
        let fds = [FdRef {
            fd: 4,
            kind: FdKind::File,
            preopen: Some(0),
            path: b"a.txt",
            oflags: 1,
            fdflags: 0,
            rights_base: 2,
            rights_inheriting: 0,
            offset: 10,
        }];
        let ck = CheckpointRef {
            module_hash: hash,
            source_isa: Isa::Riscv64,
            memory: &memory,
            globals: Slots {
                types: &[I64, FuncRef],
                slots: &[u64::MAX, 1],
            },
            tables: &tables,
            dropped_data: &[],
            dropped_elem: &[true],
            frames: &frames,
            wasi: WasiRef {
                free_fds: &[3, 2],
                args: &[b"app"],
                env: &[b"A=1"],
                preopens: &[b"/d"],
                fds: &fds,
                monotonic_ns: 1_500_000_000,
            },
        };
        let mut bytes = vec![];
        write_checkpoint(&mut bytes, &ck).unwrap();
        let ckp = tmp("ck", &bytes);
        let modp = tmp("m.wasm", &wasm);
        let r = inspect(&ckp, Some(&modp)).unwrap();
        let r = r
            .replace(&ckp.display().to_string(), "CK")
            .replace(&modp.display().to_string(), "M");
        let want = format!(
            "checkpoint CK
  format version 3, ABI version {}, written on riscv64
  module hash {}
  module M (hash matches)
memory: 65536 bytes (1 pages), 4096 non-zero bytes in 1 runs
globals: 2
  0: i64 -1 (0xffffffffffffffff)
  1: funcref 1 <work>
tables: 1
  0: funcref, 2 elements (1 non-null), max none
data segments: 0, dropped: none
element segments: 1, dropped: 0
frames: 2 (outermost first)
  #0 func 0 <main> at point 1, 0 values
  #1 func 1 <work> at point 0 (entry), 1 values
      0: i32 7 (0x7)
wasi:
  args: \"app\"
  env: \"A=1\"
  preopens: \"/d\"
  open files: 1
    4 file \"/d/a.txt\" offset 10 (oflags 0x1, fdflags 0x0, rights 0x2/0x0)
  closed fds, reused next first: 2 3
  monotonic clock: 1.500000000 s
",
            abi_spec::ABI_VERSION,
            hex(&hash)
        );
        assert_eq!(r, want);
        assert!(inspect(&ckp, None)
            .unwrap()
            .contains("#0 func 0 at point 1"));

        let other = tmp("other.wasm", &wat::parse_str("(module)").unwrap());
        let e = inspect(&ckp, Some(&other)).unwrap_err().to_string();
        assert!(e.starts_with("checkpoint is of another module"), "{e}");
        bytes.truncate(100);
        let cut = tmp("cut", &bytes);
        let e = inspect(&cut, None).unwrap_err().to_string();
        assert!(e.ends_with(": checkpoint is truncated"), "{e}");
        for p in [ckp, modp, other, cut] {
            let _ = std::fs::remove_file(p);
        }
    }
}
