//! Wast values ↔ the harness protocol: arguments travel as 64-bit hex words, results
//! come back as `<ValType code>:<hex>` (funcrefs as function index + 1, 0 = null).

use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};
use wast::token::Index;
use wast::{WastArg, WastRet};

// abi_spec::ValType codes, as the runtime prints them.
const I32: u8 = 0;
const I64: u8 = 1;
const F32: u8 = 2;
const F64: u8 = 3;
const FUNCREF: u8 = 5;
const EXTERNREF: u8 = 6;

/// One result as the harness printed it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Value {
    pub ty: u8,
    pub bits: u64,
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ty {
            I32 => write!(f, "i32:{}", self.bits as u32 as i32),
            I64 => write!(f, "i64:{}", self.bits as i64),
            F32 => write!(
                f,
                "f32:{}(0x{:08x})",
                f32::from_bits(self.bits as u32),
                self.bits
            ),
            F64 => write!(f, "f64:{}(0x{:016x})", f64::from_bits(self.bits), self.bits),
            FUNCREF if self.bits == 0 => write!(f, "ref.null func"),
            FUNCREF => write!(f, "ref.func {}", self.bits - 1),
            EXTERNREF if self.bits == 0 => write!(f, "ref.null extern"),
            EXTERNREF => write!(f, "ref.extern {}", self.bits - 1),
            t => write!(f, "type{t}:0x{:x}", self.bits),
        }
    }
}

/// Parses `<ty>:0x<hex>`.
pub fn parse_value(s: &str) -> Option<Value> {
    let (ty, v) = s.split_once(':')?;
    let v = v.strip_prefix("0x").unwrap_or(v);
    Some(Value {
        ty: ty.parse().ok()?,
        bits: u64::from_str_radix(v, 16).ok()?,
    })
}

/// An argument as a protocol word; `Err` names what the harness cannot pass.
pub fn encode_arg(a: &WastArg<'_>) -> Result<u64, String> {
    let WastArg::Core(a) = a else {
        return Err("component-model argument".into());
    };
    Ok(match a {
        WastArgCore::I32(x) => *x as u32 as u64,
        WastArgCore::I64(x) => *x as u64,
        WastArgCore::F32(x) => x.bits as u64,
        WastArgCore::F64(x) => x.bits,
        WastArgCore::RefNull(_) => 0,
        // Externref host values are opaque non-zero words: N + 1 keeps 0 for null.
        WastArgCore::RefExtern(n) => *n as u64 + 1,
        other => return Err(format!("unsupported argument {other:?}")),
    })
}

fn f32_nan(p: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    match p {
        NanPattern::Value(v) => v.bits == bits,
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
    }
}

fn f64_nan(p: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    const Q: u64 = 0x7ff8_0000_0000_0000;
    match p {
        NanPattern::Value(v) => v.bits == bits,
        NanPattern::CanonicalNan => bits & !(1 << 63) == Q,
        NanPattern::ArithmeticNan => bits & Q == Q,
    }
}

fn heap_code(h: &HeapType<'_>) -> Option<u8> {
    match h {
        HeapType::Abstract {
            ty: AbstractHeapType::Func,
            ..
        } => Some(FUNCREF),
        HeapType::Abstract {
            ty: AbstractHeapType::Extern,
            ..
        } => Some(EXTERNREF),
        _ => None,
    }
}

/// Whether `v` is what `r` expects (bit-exact; NaN patterns as the spec defines them).
pub fn matches(r: &WastRet<'_>, v: Value) -> bool {
    let WastRet::Core(r) = r else { return false };
    matches_core(r, v)
}

fn matches_core(r: &WastRetCore<'_>, v: Value) -> bool {
    match r {
        WastRetCore::I32(x) => v.ty == I32 && v.bits == *x as u32 as u64,
        WastRetCore::I64(x) => v.ty == I64 && v.bits == *x as u64,
        WastRetCore::F32(p) => v.ty == F32 && f32_nan(p, v.bits as u32),
        WastRetCore::F64(p) => v.ty == F64 && f64_nan(p, v.bits),
        WastRetCore::RefNull(h) => {
            v.bits == 0
                && (v.ty == FUNCREF || v.ty == EXTERNREF)
                && h.as_ref().and_then(heap_code).is_none_or(|c| c == v.ty)
        }
        WastRetCore::RefExtern(None) => v.ty == EXTERNREF && v.bits != 0,
        WastRetCore::RefExtern(Some(n)) => v.ty == EXTERNREF && v.bits == *n as u64 + 1,
        WastRetCore::RefFunc(None) => v.ty == FUNCREF && v.bits != 0,
        WastRetCore::RefFunc(Some(Index::Num(n, _))) => v.ty == FUNCREF && v.bits == *n as u64 + 1,
        WastRetCore::Either(cases) => cases.iter().any(|c| matches_core(c, v)),
        _ => false,
    }
}

/// The expected results, for failure reports.
pub fn describe_expected(rs: &[WastRet<'_>]) -> String {
    let parts: Vec<String> = rs.iter().map(|r| describe(r)).collect();
    format!("[{}]", parts.join(", "))
}

fn describe(r: &WastRet<'_>) -> String {
    let WastRet::Core(r) = r else {
        return "component value".into();
    };
    describe_core(r)
}

fn describe_core(r: &WastRetCore<'_>) -> String {
    fn nan<T>(p: &NanPattern<T>, show: impl Fn(&T) -> String) -> String {
        match p {
            NanPattern::CanonicalNan => "nan:canonical".into(),
            NanPattern::ArithmeticNan => "nan:arithmetic".into(),
            NanPattern::Value(v) => show(v),
        }
    }
    match r {
        WastRetCore::I32(x) => format!("i32:{x}"),
        WastRetCore::I64(x) => format!("i64:{x}"),
        WastRetCore::F32(p) => format!(
            "f32:{}",
            nan(p, |v| format!(
                "{}(0x{:08x})",
                f32::from_bits(v.bits),
                v.bits
            ))
        ),
        WastRetCore::F64(p) => format!(
            "f64:{}",
            nan(p, |v| format!(
                "{}(0x{:016x})",
                f64::from_bits(v.bits),
                v.bits
            ))
        ),
        WastRetCore::Either(cs) => format!(
            "either({})",
            cs.iter().map(describe_core).collect::<Vec<_>>().join(" | ")
        ),
        other => format!("{other:?}"),
    }
}

/// Whether the runtime's trap message satisfies the message an `assert_trap` expects.
/// The spec's texts are prefixes of the reference interpreter's; engines word a few
/// differently, and wasmc reports a call through an index beyond the table as a table
/// access out of bounds, which the spec calls "undefined element".
pub fn trap_matches(expected: &str, actual: &str) -> bool {
    if actual.starts_with(expected) || expected.starts_with(actual) {
        return true;
    }
    const EQUIV: &[(&str, &str)] = &[
        ("undefined element", "out of bounds table access"),
        ("uninitialized element", "uninitialized element"),
        ("uninitialized", "uninitialized element"),
        ("indirect call", "indirect call type mismatch"),
        ("call stack exhausted", "call stack exhausted"),
        ("out of bounds memory access", "out of bounds memory access"),
        ("memory access out of bounds", "out of bounds memory access"),
    ];
    EQUIV
        .iter()
        .any(|(e, a)| expected.starts_with(e) && actual == *a)
}
