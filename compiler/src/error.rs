//! Every way compiling can fail, each with a one-line message for the user.

use std::fmt;

/// `text` as a one-line message shows it (`abi_spec::text`: printable ASCII as it is,
/// anything else `\xNN`), so a module's names cannot break the line or reach the
/// terminal as control characters.
pub fn escaped(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    abi_spec::text::escape(text.as_bytes(), |p| out.extend_from_slice(p));
    // Only printable ASCII comes out of the escape.
    String::from_utf8(out).expect("escaped text is ASCII")
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("input is not a WebAssembly module (it does not begin with the 8-byte header: the magic bytes 00 61 73 6d and a version)")]
    NotWasm,
    #[error("invalid module: {message} (at byte offset {offset:#x}{})", in_func(*func, func_name))]
    Invalid {
        message: String,
        offset: usize,
        func: Option<u32>,
        func_name: Option<String>,
    },
    #[error("unsupported feature: {feature}{}", in_func(*func, func_name))]
    Unsupported {
        feature: String,
        func: Option<u32>,
        func_name: Option<String>,
    },
    #[error("unknown import `{module}`.`{name}` (wasmc provides WASI preview 1; pass --trap-unknown-imports to compile it as a function that traps)")]
    UnknownImport { module: String, name: String },
    #[error(
        "unsupported import of a {what}: `{module}`.`{name}` (only function imports are supported)"
    )]
    UnsupportedImport {
        module: String,
        name: String,
        what: &'static str,
    },
    #[error(
        "import `{module}`.`{name}` is incompatible with what the host provides (type or limits)"
    )]
    IncompatibleImport { module: String, name: String },
    #[error("import `{module}`.`{name}` does not have the signature WASI preview 1 gives it")]
    ImportSignature { module: String, name: String },
    #[error("code generation failed{}: {message}", in_func(Some(*func), func_name))]
    Codegen {
        func: u32,
        func_name: Option<String>,
        message: String,
    },
}

struct InFunc<'a>(Option<u32>, &'a Option<String>);

impl fmt::Display for InFunc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(i), Some(n)) => write!(f, " in function {i} `{n}`"),
            (Some(i), None) => write!(f, " in function {i}"),
            _ => Ok(()),
        }
    }
}

fn in_func(func: Option<u32>, name: &Option<String>) -> InFunc<'_> {
    InFunc(func, name)
}

impl CompileError {
    /// Adds the name-section name of the function an error is about, once names are known.
    pub fn with_names(mut self, names: &[Option<String>]) -> Self {
        let lookup = |f: Option<u32>| f.and_then(|i| names.get(i as usize).cloned().flatten());
        match &mut self {
            CompileError::Invalid {
                func, func_name, ..
            }
            | CompileError::Unsupported {
                func, func_name, ..
            } => *func_name = lookup(*func),
            CompileError::Codegen {
                func, func_name, ..
            } => *func_name = lookup(Some(*func)),
            _ => {}
        }
        self
    }
}
