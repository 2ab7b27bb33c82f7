//! wasmc's copy of Cranelift's x86-64 encoder (`vendor/cranelift-assembler-x64/WASMC.md`)
//! encodes `r13` or `rbp` as a base with an index, a scale of 1 and no displacement as
//! the index: a base with those registers needs a displacement byte even when it is
//! zero, which makes a three-operand `lea` and a load a cycle slower on AMD Zen 4.
//! Expected bytes are `llvm-mc -triple=x86_64 -show-encoding`'s.

use cranelift_assembler_x64::{inst, Amode, AmodeOffset, Gpr, NonRspGpr, Registers, Scale};

struct Regs;
impl Registers for Regs {
    type ReadGpr = u8;
    type ReadWriteGpr = u8;
    type WriteGpr = u8;
    type ReadXmm = u8;
    type ReadWriteXmm = u8;
    type WriteXmm = u8;
}

const RAX: u8 = 0;
const RDX: u8 = 2;
const RBP: u8 = 5;
const RSI: u8 = 6;
const R13: u8 = 13;

fn amode(base: u8, index: u8, scale: Scale, disp: i32) -> Amode<u8> {
    Amode::ImmRegRegShift {
        base,
        index: NonRspGpr::new(index),
        scale,
        simm32: AmodeOffset::new(disp),
        trap: None,
    }
}

/// `lea edx, [base + index * scale + disp]`
fn lea(base: u8, index: u8, scale: Scale, disp: i32) -> Vec<u8> {
    let mut code = vec![];
    inst::leal_rm::<Regs>::new(Gpr::new(RDX), amode(base, index, scale, disp)).encode(&mut code);
    code
}

#[test]
fn r13_or_rbp_base_with_an_index_becomes_the_index() {
    // leal (%rsi,%r13), %edx: not `0x0(%r13,%rsi,1)`, [0x41,0x8d,0x54,0x35,0x00]
    assert_eq!(lea(R13, RSI, Scale::One, 0), [0x42, 0x8d, 0x14, 0x2e]);
    // leal (%rax,%rbp), %edx
    assert_eq!(lea(RBP, RAX, Scale::One, 0), [0x8d, 0x14, 0x28]);
    // A load through the same address: movl (%rsi,%r13), %eax
    let mut code = vec![];
    inst::movl_rm::<Regs>::new(Gpr::new(RAX), amode(R13, RSI, Scale::One, 0)).encode(&mut code);
    assert_eq!(code, [0x42, 0x8b, 0x04, 0x2e]);
}

#[test]
fn other_addresses_are_encoded_as_given() {
    // A scaled index cannot move to the base: leal (%r13,%rax,4), %edx
    assert_eq!(
        lea(R13, RAX, Scale::Four, 0),
        [0x41, 0x8d, 0x54, 0x85, 0x00]
    );
    // A displacement is needed anyway: leal 8(%r13,%rsi), %edx
    assert_eq!(lea(R13, RSI, Scale::One, 8), [0x41, 0x8d, 0x54, 0x35, 0x08]);
}
