//! The libm functions Cranelift calls instead of inlining a rounding instruction: on
//! x86_64 without SSE4.1 (`roundss`/`roundsd`), `f32/f64.floor|ceil|trunc|nearest`
//! become calls to `floorf`, `floor`, `ceilf`, `ceil`, `truncf`, `trunc`, `nearbyintf`
//! and `nearbyint`. There is no libm, so here they are, by bit manipulation (core has
//! no float rounding in `no_std`).
//!
//! NaN in gives NaN out (`x + x` quiets a signalling NaN and keeps a canonical one
//! canonical); signed zeros and infinities pass through as IEEE 754 requires.

macro_rules! rounding {
    ($t:ty, $bits:ty, $mant:expr, $trunc:ident, $floor:ident, $ceil:ident, $nearest:ident) => {
        #[no_mangle]
        pub extern "C" fn $trunc(x: $t) -> $t {
            let bits = x.to_bits();
            let exp_bits = (<$t>::MAX_EXP * 2 - 1) as $bits; // all-ones exponent field
            let exp = ((bits >> $mant) & exp_bits) as i32 - (<$t>::MAX_EXP - 1);
            if exp == <$t>::MAX_EXP {
                return x + x; // NaN or infinity
            }
            if exp >= $mant {
                return x; // already an integer
            }
            if exp < 0 {
                return <$t>::from_bits(bits & (1 << (<$bits>::BITS - 1))); // ±0
            }
            let frac: $bits = ((1 as $bits) << ($mant - exp)) - 1;
            <$t>::from_bits(bits & !frac)
        }

        #[no_mangle]
        pub extern "C" fn $floor(x: $t) -> $t {
            let t = $trunc(x);
            // `x < 0` is false for NaN, so NaN keeps trunc's result.
            if x < 0.0 && t != x { t - 1.0 } else { t }
        }

        #[no_mangle]
        pub extern "C" fn $ceil(x: $t) -> $t {
            let t = $trunc(x);
            if x > 0.0 && t != x { t + 1.0 } else { t }
        }

        /// Round half to even: adding and subtracting 2^mant leaves the value rounded by
        /// the FPU's default mode (no fast-math, so the pair is not folded away).
        #[no_mangle]
        pub extern "C" fn $nearest(x: $t) -> $t {
            let two_m = (1u64 << $mant) as $t;
            let a = <$t>::from_bits(x.to_bits() & !(1 << (<$bits>::BITS - 1)));
            if a != a {
                return x + x;
            }
            if a >= two_m {
                return x;
            }
            let r = core::hint::black_box(a + two_m) - two_m;
            <$t>::from_bits(r.to_bits() | (x.to_bits() & (1 << (<$bits>::BITS - 1))))
        }
    };
}

rounding!(f64, u64, 52, trunc, floor, ceil, nearbyint);
rounding!(f32, u32, 23, truncf, floorf, ceilf, nearbyintf);
