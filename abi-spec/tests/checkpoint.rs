//! The checkpoint format: pinned encoding, round trips, and robustness of the reader
//! against truncated and corrupted input.

use abi_spec::checkpoint::*;
use abi_spec::ValType::{self, *};

const HASH: [u8; 32] = [0xab; 32];

struct Owned {
    memory: Vec<u8>,
    gtypes: Vec<ValType>,
    gslots: Vec<u64>,
    t0: Vec<u32>,
    t1: Vec<u32>,
    f0: (Vec<ValType>, Vec<u64>),
    f1: (Vec<ValType>, Vec<u64>),
}

fn owned() -> Owned {
    let mut memory = vec![0u8; 2 * 65536];
    // Chunks 1 and 2 are adjacent (one run), chunk 20 stands alone; the rest is zero.
    memory[4096] = 1;
    memory[2 * 4096 + 4095] = 2;
    memory[20 * 4096 + 7] = 0x7f;
    Owned {
        memory,
        gtypes: vec![I32, I64, F32, F64, V128, FuncRef, FuncRef, ExternRef],
        gslots: vec![
            0xdead_beef_8000_0001, // high half is garbage the writer drops
            u64::MAX,
            0x3fc0_0000,
            0x7ff8_0000_0000_0001, // a NaN payload survives
            0x0706_0504_0302_0100,
            0x0f0e_0d0c_0b0a_0908,
            3,
            u32::MAX as u64,
            u32::MAX as u64,
        ],
        t0: vec![u32::MAX, 2, 3],
        t1: vec![u32::MAX; 2],
        f0: (vec![I32, I64], vec![7, 1 << 40]),
        f1: (vec![F32, FuncRef, I32], vec![0x4049_0fdb, 1, 42]),
    }
}

static ARGS: [&[u8]; 2] = [b"app.wasm", b"--fast"];
static ENV: [&[u8]; 1] = [b"HOME=/home/u"];
static PREOPENS: [&[u8]; 2] = [b".", b"/data"];
static DROPPED_DATA: [bool; 3] = [true, false, true];
static DROPPED_ELEM: [bool; 9] = [false, false, false, false, false, false, false, false, true];

fn fds() -> Vec<FdRef<'static>> {
    let stdio = |fd, kind| FdRef {
        fd,
        kind,
        preopen: None,
        path: b"",
        oflags: 0,
        fdflags: 0,
        rights_base: 0x1ff,
        rights_inheriting: 0,
        offset: 0,
    };
    vec![
        stdio(0, FdKind::Stdin),
        stdio(1, FdKind::Stdout),
        stdio(2, FdKind::Stderr),
        FdRef {
            fd: 3,
            kind: FdKind::PreopenDir,
            preopen: Some(0),
            ..stdio(3, FdKind::Stdin)
        },
        FdRef {
            fd: 7,
            kind: FdKind::File,
            preopen: Some(1),
            path: b"logs/out.txt",
            oflags: 9,
            fdflags: 1,
            rights_base: 0x20_0066,
            rights_inheriting: 0,
            offset: 12345,
        },
    ]
}

fn with<R>(isa: Isa, f: impl FnOnce(&CheckpointRef) -> R) -> R {
    let o = owned();
    let tables = [
        TableRef {
            elem: FuncRef,
            max: Some(10),
            entries: &o.t0,
        },
        TableRef {
            elem: ExternRef,
            max: None,
            entries: &o.t1,
        },
    ];
    let frames = [
        FrameRef {
            func: 4,
            point: 2,
            values: Slots {
                types: &o.f0.0,
                slots: &o.f0.1,
            },
        },
        FrameRef {
            func: 5,
            point: 0,
            values: Slots {
                types: &o.f1.0,
                slots: &o.f1.1,
            },
        },
    ];
    let fds = fds();
    let ck = CheckpointRef {
        module_hash: HASH,
        source_isa: isa,
        memory: &o.memory,
        globals: Slots {
            types: &o.gtypes,
            slots: &o.gslots,
        },
        tables: &tables,
        dropped_data: &DROPPED_DATA,
        dropped_elem: &DROPPED_ELEM,
        frames: &frames,
        wasi: WasiRef {
            args: &ARGS,
            env: &ENV,
            preopens: &PREOPENS,
            fds: &fds,
            free_fds: &[6, 5],
            monotonic_ns: 1_000_000_007,
        },
    };
    f(&ck)
}

fn write(ck: &CheckpointRef) -> Vec<u8> {
    let mut out = vec![];
    write_checkpoint(&mut out, ck).unwrap();
    out
}

fn sample() -> Vec<u8> {
    with(Isa::Aarch64, write)
}

/// `hexdump -C`-like, with repeated lines folded into `*`.
fn hexdump(b: &[u8]) -> String {
    let mut s = String::new();
    let mut prev: Option<&[u8]> = None;
    let mut folded = false;
    for (i, line) in b.chunks(16).enumerate() {
        if prev == Some(line) {
            if !folded {
                s.push_str("*\n");
                folded = true;
            }
            continue;
        }
        folded = false;
        prev = Some(line);
        s.push_str(&format!("{:08x} ", i * 16));
        for x in line {
            s.push_str(&format!(" {x:02x}"));
        }
        s.push('\n');
    }
    s.push_str(&format!("{:08x}\n", b.len()));
    s
}

#[test]
fn encoding_is_pinned() {
    insta::assert_snapshot!(hexdump(&sample()));
}

#[test]
fn isa_changes_only_its_byte() {
    let a = with(Isa::X86_64, write);
    for isa in [Isa::Aarch64, Isa::Riscv64] {
        let b = with(isa, write);
        assert_eq!(a.len(), b.len());
        let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert_eq!(diff, vec![ISA_OFFSET]);
        assert_eq!(read_checkpoint(&b).unwrap().source_isa, isa);
    }
}

#[test]
fn round_trip() {
    let bytes = sample();
    let v = read_checkpoint(&bytes).unwrap();
    assert_eq!(
        (v.format_version, v.abi_version),
        (3, abi_spec::ABI_VERSION)
    );
    assert_eq!(v.module_hash, HASH);
    assert!(check_module(&v, &HASH).is_ok());
    assert_eq!(
        check_module(&v, &[0; 32]).unwrap_err().message(),
        "checkpoint is of another module"
    );

    let o = owned();
    assert_eq!(v.memory.size, o.memory.len() as u64);
    assert_eq!(v.memory.nonzero_bytes, 3 * 4096);
    let mut mem = vec![0u8; v.memory.size as usize];
    let runs: Vec<_> = v.memory.runs.iter().collect();
    assert_eq!(
        runs.iter()
            .map(|r| (r.offset, r.bytes.len()))
            .collect::<Vec<_>>(),
        [(4096, 8192), (20 * 4096, 4096)]
    );
    for r in runs {
        mem[r.offset as usize..][..r.bytes.len()].copy_from_slice(r.bytes);
    }
    assert_eq!(mem, o.memory);

    let globals: Vec<Value> = v.globals.iter().collect();
    let mut v128 = [0u8; 16];
    for (i, b) in v128.iter_mut().enumerate() {
        *b = i as u8;
    }
    assert_eq!(
        globals,
        [
            Value::I32(0x8000_0001),
            Value::I64(u64::MAX),
            Value::F32(0x3fc0_0000),
            Value::F64(0x7ff8_0000_0000_0001),
            Value::V128(v128),
            Value::FuncRef(Some(3)),
            Value::FuncRef(None),
            Value::NullExternRef,
        ]
    );

    let tables: Vec<_> = v.tables.iter().collect();
    assert_eq!(tables.len(), 2);
    assert_eq!(
        (tables[0].elem, tables[0].len, tables[0].max),
        (FuncRef, 3, Some(10))
    );
    assert_eq!(
        tables[0].entries().collect::<Vec<_>>(),
        [None, Some(2), Some(3)]
    );
    assert_eq!(tables[0].get(1), Some(Some(2)));
    assert_eq!(tables[0].get(3), None);
    assert_eq!(
        (tables[1].elem, tables[1].len, tables[1].max),
        (ExternRef, 2, None)
    );

    assert_eq!(v.dropped_data.len, 3);
    assert_eq!(
        (0..3).map(|i| v.dropped_data.is_set(i)).collect::<Vec<_>>(),
        DROPPED_DATA
    );
    assert_eq!(
        (0..9).map(|i| v.dropped_elem.is_set(i)).collect::<Vec<_>>(),
        DROPPED_ELEM
    );
    assert!(!v.dropped_elem.is_set(9));
    assert_eq!(v.dropped_elem.count_set(), 1);

    let frames: Vec<_> = v.frames.iter().collect();
    assert_eq!(
        frames.iter().map(|f| (f.func, f.point)).collect::<Vec<_>>(),
        [(4, 2), (5, 0)]
    );
    assert_eq!(
        frames[0].values().collect::<Vec<_>>(),
        [Value::I32(7), Value::I64(1 << 40)]
    );
    assert_eq!(frames[1].types().collect::<Vec<_>>(), [F32, FuncRef, I32]);
    assert_eq!(
        frames[1].values().collect::<Vec<_>>(),
        [
            Value::F32(0x4049_0fdb),
            Value::FuncRef(Some(1)),
            Value::I32(42)
        ]
    );
    // The same values as the format's slots, and the type codes beside them.
    assert_eq!(frames[0].slots().collect::<Vec<_>>(), [7, 1 << 40]);
    assert_eq!(frames[1].slots().collect::<Vec<_>>(), [0x4049_0fdb, 1, 42]);
    assert_eq!(
        frames[1].type_codes(),
        [F32 as u8, FuncRef as u8, I32 as u8]
    );

    let w = v.wasi;
    assert_eq!(w.args.iter().collect::<Vec<_>>(), ARGS);
    assert_eq!(w.env.iter().collect::<Vec<_>>(), ENV);
    assert_eq!(w.preopens.iter().collect::<Vec<_>>(), PREOPENS);
    let fds: Vec<_> = w.fds.iter().collect();
    let want: Vec<_> = self::fds()
        .iter()
        .map(|f| FdRecord {
            fd: f.fd,
            kind: f.kind,
            preopen: f.preopen,
            path: f.path,
            oflags: f.oflags,
            fdflags: f.fdflags,
            rights_base: f.rights_base,
            rights_inheriting: f.rights_inheriting,
            offset: f.offset,
        })
        .collect();
    assert_eq!(fds, want);
    assert_eq!(w.free_fds.iter().collect::<Vec<_>>(), vec![6, 5]);
    assert_eq!(w.monotonic_ns, 1_000_000_007);
}

#[test]
fn empty_state_round_trips() {
    let ck = CheckpointRef {
        module_hash: [0; 32],
        source_isa: Isa::Riscv64,
        memory: &[],
        globals: Slots::default(),
        tables: &[],
        dropped_data: &[],
        dropped_elem: &[],
        frames: &[],
        wasi: WasiRef::default(),
    };
    let bytes = write(&ck);
    assert_eq!(
        bytes.len(),
        HEADER_SIZE + 6 * 12 + 8 + 4 + 4 + 8 + 4 + 20 + 8 + TRAILER_SIZE
    );
    let v = read_checkpoint(&bytes).unwrap();
    assert_eq!(
        (v.memory.size, v.memory.runs.len(), v.frames.len()),
        (0, 0, 0)
    );
}

#[test]
fn sparse_memory_costs_only_its_non_zero_pages() {
    let mut mem = vec![0u8; 64 << 20];
    mem[(32 << 20) + 5] = 1;
    let ck = with(Isa::X86_64, |ck| {
        write(&CheckpointRef {
            memory: &mem,
            ..*ck
        })
    });
    let v = read_checkpoint(&ck).unwrap();
    assert_eq!(v.memory.size, 64 << 20);
    assert_eq!(v.memory.nonzero_bytes, 4096);
    assert!(ck.len() < 8192);
}

#[test]
fn writer_refuses_state_it_cannot_encode() {
    let bad = |f: &dyn Fn(&CheckpointRef) -> Result<(), WriteError<std::convert::Infallible>>| {
        with(Isa::X86_64, |ck| match f(ck) {
            Err(WriteError::Invalid(m)) => m,
            r => panic!("{r:?}"),
        })
    };
    let put = |ck: &CheckpointRef| write_checkpoint(&mut vec![], ck);
    let ext = [ExternRef];
    let one = [5u64];
    assert_eq!(
        bad(&|ck| put(&CheckpointRef {
            globals: Slots {
                types: &ext,
                slots: &one
            },
            ..*ck
        })),
        "a non-null externref cannot be checkpointed"
    );
    let fr = [FuncRef];
    let ptr = [0x5555_0000_1000u64];
    let frames = [FrameRef {
        func: 0,
        point: 0,
        values: Slots {
            types: &fr,
            slots: &ptr,
        },
    }];
    assert_eq!(
        bad(&|ck| put(&CheckpointRef {
            frames: &frames,
            ..*ck
        })),
        "funcref value is not a function index"
    );
    let v128 = [V128];
    assert_eq!(
        bad(&|ck| put(&CheckpointRef {
            globals: Slots {
                types: &v128,
                slots: &one
            },
            ..*ck
        })),
        "fewer value slots than types"
    );
    let mem = [0u8; 4096];
    assert_eq!(
        bad(&|ck| put(&CheckpointRef {
            memory: &mem,
            ..*ck
        })),
        "memory size is not a multiple of 64 KiB"
    );
    let mut fds = fds();
    fds.swap(0, 1);
    assert_eq!(
        bad(&|ck| put(&CheckpointRef {
            wasi: WasiRef {
                fds: &fds,
                ..ck.wasi
            },
            ..*ck
        })),
        "fds are not in increasing order"
    );
    for free in [&[5, 7][..], &[6, 5, 6][..]] {
        assert_eq!(
            bad(&|ck| put(&CheckpointRef {
                wasi: WasiRef {
                    free_fds: free,
                    ..ck.wasi
                },
                ..*ck
            })),
            "a free fd is open or listed twice",
            "{free:?}"
        );
    }
}

#[test]
fn every_prefix_is_truncated() {
    let bytes = sample();
    for n in 0..bytes.len() {
        assert_eq!(
            read_checkpoint(&bytes[..n]).err(),
            Some(FormatError::Truncated),
            "prefix of {n} bytes"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(read_checkpoint(&long).is_err());
}

#[test]
fn every_corruption_is_detected() {
    let bytes = sample();
    // Every byte of the framing and small sections; every 64th of the memory contents.
    let mem = HEADER_SIZE + 12 + 8 + 16..globals_payload(&bytes) - 12;
    for i in (0..bytes.len()).filter(|i| !mem.contains(i) || i % 64 == 0) {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            match read_checkpoint(&b) {
                // The source ISA is informational and not covered by the checksum.
                Ok(v) => assert!(i == ISA_OFFSET && v.source_isa as u8 == b[i]),
                Err(e) => assert!(!e.message().is_empty(), "byte {i}"),
            }
        }
    }
    let mut b = bytes.clone();
    b[HEADER_SIZE + 40] ^= 4;
    assert_eq!(read_checkpoint(&b).err(), Some(FormatError::Checksum));
}

#[test]
fn header_errors() {
    let bytes = sample();
    assert_eq!(
        read_checkpoint(b"#!/bin/sh\nexit 0\n").err(),
        Some(FormatError::NotCheckpoint)
    );
    assert_eq!(read_checkpoint(b"WASM").err(), Some(FormatError::Truncated));
    let mut b = bytes.clone();
    b[8] = 1;
    let e = read_checkpoint(&b).unwrap_err();
    assert_eq!(e, FormatError::UnsupportedVersion(1));
    assert_eq!(
        e.to_string(),
        "checkpoint format version 1 is not supported (this is 3)"
    );
    let mut b = bytes.clone();
    b[12] = 9;
    assert_eq!(read_checkpoint(&b).err(), Some(FormatError::AbiMismatch(9)));
    assert_eq!(
        FormatError::Checksum.message(),
        "checkpoint is corrupted (checksum mismatch)"
    );
}

/// Recomputes the trailer so a deliberate change reaches the structural checks.
fn reseal(mut b: Vec<u8>) -> Vec<u8> {
    let n = b.len() - TRAILER_SIZE;
    let h = checksum(&b[..n]);
    b[n..].copy_from_slice(&h.to_le_bytes());
    b
}

#[test]
fn malformed_but_intact_files_are_refused() {
    let bytes = sample();
    let err = |b: Vec<u8>| read_checkpoint(&reseal(b)).unwrap_err().message();
    // Section tags: first section is MEMORY at HEADER_SIZE.
    let mut b = bytes.clone();
    b[HEADER_SIZE] = 9;
    assert_eq!(err(b), "checkpoint is malformed (unknown section)");
    let mut b = bytes.clone();
    b[HEADER_SIZE] = tag::GLOBALS as u8;
    assert_eq!(err(b), "checkpoint is malformed (sections out of order)");
    let mut b = bytes.clone();
    b[ISA_OFFSET + 1] = 1;
    assert_eq!(err(b), "checkpoint is malformed (non-zero header padding)");
    let mut b = bytes.clone();
    b.insert(b.len() - TRAILER_SIZE, 0);
    assert_eq!(
        err(b),
        "checkpoint is malformed (bytes after the last section)"
    );
    // Memory size not a multiple of 64 KiB.
    let mut b = bytes.clone();
    b[HEADER_SIZE + 12] = 1;
    assert_eq!(
        err(b),
        "checkpoint is malformed (memory size not a multiple of 64 KiB)"
    );
    // Globals: the first value type byte and its padding.
    let g = globals_payload(&bytes);
    let mut b = bytes.clone();
    b[g + 4] = 7;
    assert_eq!(err(b), "checkpoint is malformed (bad value type)");
    let mut b = bytes.clone();
    b[g + 4 + 1 + 7] = 1;
    assert_eq!(err(b), "checkpoint is malformed (non-zero value padding)");
    let mut b = bytes.clone();
    b[g] = 9; // more globals than the section holds
    assert_eq!(
        err(b),
        "checkpoint is malformed (section shorter than its contents)"
    );
    let mut b = bytes.clone();
    b[g] = 7; // fewer
    assert_eq!(
        err(b),
        "checkpoint is malformed (section longer than its contents)"
    );
}

#[test]
fn frame_values_with_bad_padding_are_refused() {
    // The second frame: function 5 at point 0, values (f32, funcref, i32).
    let bytes = sample();
    let mut header = vec![];
    for w in [5u32, 0, 3] {
        header.extend_from_slice(&w.to_le_bytes());
    }
    header.extend_from_slice(&[F32 as u8, FuncRef as u8, I32 as u8]);
    let at = bytes
        .windows(header.len())
        .position(|w| w == header.as_slice())
        .expect("the frame record")
        + header.len();
    let err = |b: Vec<u8>| read_checkpoint(&reseal(b)).unwrap_err().message();
    // The high half of each 32-bit value's slot must be zero.
    for value in 0..3 {
        let mut b = bytes.clone();
        b[at + value * 8 + 4] = 1;
        assert_eq!(err(b), "checkpoint is malformed (non-zero value padding)");
    }
    // The low half is the value: any bits.
    let mut b = bytes.clone();
    b[at + 16] = 0xff;
    let b = reseal(b);
    let v = read_checkpoint(&b).expect("an i32 of any bits");
    let last = v.frames.iter().last().unwrap();
    assert_eq!(last.slots().last(), Some(0xff));
}

/// Offset of the GLOBALS payload (after MEMORY).
fn globals_payload(b: &[u8]) -> usize {
    let mem_len = u64::from_le_bytes(b[HEADER_SIZE + 4..HEADER_SIZE + 12].try_into().unwrap());
    HEADER_SIZE + 12 + mem_len as usize + 12
}

/// Walks every view of an accepted checkpoint (the iterators must not panic either).
fn walk(v: &CheckpointView) -> usize {
    let mut n = v.memory.runs.iter().map(|r| r.bytes.len()).sum::<usize>();
    n += v.globals.iter().count();
    for t in v.tables.iter() {
        n += t.entries().count() + t.get(t.len).is_some() as usize;
    }
    n += (0..=v.dropped_data.len)
        .filter(|&i| v.dropped_data.is_set(i))
        .count();
    n += v.dropped_elem.count_set() as usize;
    for f in v.frames.iter() {
        n += f.types().count() + f.values().count();
    }
    let w = &v.wasi;
    n += w
        .args
        .iter()
        .chain(w.env.iter())
        .chain(w.preopens.iter())
        .count();
    n + w.fds.iter().count()
}

#[test]
fn resealed_corruptions_never_panic() {
    // With the checksum fixed up, every flip reaches the structural checks.
    let bytes = sample();
    let mem = HEADER_SIZE + 12 + 8 + 16..globals_payload(&bytes) - 12;
    let (mut accepted, mut refused) = (0, 0);
    for i in (0..bytes.len() - TRAILER_SIZE).filter(|i| !mem.contains(i) || i % 64 == 0) {
        for mask in [0x01u8, 0x02, 0x10, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            match read_checkpoint(&reseal(b)) {
                Ok(v) => {
                    walk(&v);
                    accepted += 1;
                }
                Err(e) => {
                    assert!(
                        e.message().starts_with("checkpoint") || e.message().starts_with("not a")
                    );
                    refused += 1;
                }
            }
        }
    }
    assert!(accepted > 0 && refused > 0);
}

#[test]
fn garbage_never_panics() {
    // Deterministic pseudo-random sections behind a valid header.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let head = sample()[..HEADER_SIZE].to_vec();
    for _ in 0..2000 {
        let mut b = head.clone();
        for (k, t) in tag::ORDER.iter().enumerate() {
            let len = (rnd() % 40) as usize;
            b.extend(t.to_le_bytes());
            b.extend((len as u64).to_le_bytes());
            b.extend((0..len).map(|_| {
                let r = rnd();
                // Mostly small numbers so that counts and types are sometimes valid.
                if r % 3 == 0 {
                    (r >> 8) as u8
                } else {
                    (r >> 8) as u8 % (k as u8 + 3)
                }
            }));
        }
        b.extend([0; 8]);
        if let Ok(v) = read_checkpoint(&reseal(b)) {
            walk(&v);
        }
    }
}

/// The runtime tells the writer which chunks the kernel never mapped; chunks that hint
/// skips are left unread, and the output is byte for byte the same as without it.
#[test]
fn untouched_chunk_hint_changes_nothing() {
    with(Isa::X86_64, |ck| {
        let plain = write(ck);
        let nonzero = |i: usize| ck.memory[i * 4096..(i + 1) * 4096].iter().any(|&b| b != 0);
        let mut hinted = vec![];
        let untouched = |i: usize| !nonzero(i);
        write_checkpoint_hinted(&mut hinted, ck, &untouched).unwrap();
        assert_eq!(hinted, plain);
        // Only chunks 1, 2 and 20 hold data (see `owned`); every other chunk was skipped.
        assert_eq!(
            (0..32).filter(|&i| !untouched(i)).collect::<Vec<_>>(),
            vec![1, 2, 20]
        );
    });
}

/// The checksum as SPEC.md §3.1 words it, one word at a time.
fn spec_checksum(bytes: &[u8]) -> u64 {
    let fold = |h: u64, w: u64| (h ^ w).wrapping_mul(0x100000001b3).rotate_left(29);
    let mut lanes = [0u64; 4];
    for (j, l) in lanes.iter_mut().enumerate() {
        *l = 0xcbf29ce484222325u64 + j as u64;
    }
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        lanes[i % 4] = fold(lanes[i % 4], u64::from_le_bytes(w));
    }
    let mut h = lanes[0];
    for l in &lanes[1..] {
        h = fold(h, *l);
    }
    h ^= bytes.len() as u64;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51afd7ed558ccd);
    h ^ (h >> 33)
}

/// The streamed checksum equals the specified one for every length and however the
/// input is cut into pieces (the writer feeds it headers, values and memory runs).
#[test]
fn checksum_matches_spec_however_streamed() {
    let data: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for len in 0..data.len() {
        let input = &data[..len];
        let expected = spec_checksum(input);
        for piece in [1, 3, 7, 8, 9, 31, 32, 33, 100] {
            let mut c = Checksum::new();
            for p in input.chunks(piece) {
                c.update(p);
            }
            assert_eq!(c.finish(), expected, "length {len}, pieces of {piece}");
        }
    }
}

#[test]
fn zero_scan_sees_every_byte() {
    // Lengths that are not whole 256-byte blocks or 16-byte words exercise the tails.
    for len in [0, 1, 15, 16, 255, 256, 300, 4095, 4096] {
        let mut chunk = vec![0u8; len];
        assert!(is_zero(&chunk), "len {len}");
        for at in 0..len {
            chunk[at] = 0x80;
            assert!(!is_zero(&chunk), "len {len}, byte {at}");
            chunk[at] = 0;
        }
    }
}

/// What a streamed read of `b` yields: the runs it placed, and what [`walk`] counts of
/// the view (with the runs' bytes, which the view itself no longer has).
/// The runs a reader placed (offset, bytes), and what [`walk`] counts with them.
type ReadBack = (Vec<(u64, Vec<u8>)>, usize);

/// A checkpoint whose length is not known until it ends (a migration stream's segment).
struct Unsized<'a>(&'a [u8]);

impl Source for Unsized<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), FormatError> {
        self.0.fill(buf)
    }
    fn left(&self) -> Option<u64> {
        None
    }
    fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        out.extend_from_slice(std::mem::take(&mut self.0));
        Ok(())
    }
}

fn read_streamed(b: &[u8]) -> Result<ReadBack, FormatError> {
    read_streamed_from(b)
}

fn read_streamed_from<S: Source>(src: S) -> Result<ReadBack, FormatError> {
    let mut s = stream(src)?;
    let mut runs: Vec<(u64, Vec<u8>)> = vec![];
    loop {
        let mut placed = None;
        let more = s.next_run(|offset, len| {
            placed = Some((offset, vec![0u8; len as usize]));
            // Read into a buffer the test keeps: the reader fills exactly `len` bytes.
            placed.as_mut().map(|(_, v)| &mut v[..])
        });
        if let Some(run) = placed {
            runs.push(run);
        }
        if !more? {
            break;
        }
    }
    let mut rest = vec![];
    let v = match s.rest_len() {
        Some(n) => {
            rest.resize(n as usize, 0);
            s.finish(&mut rest)?
        }
        None => {
            s.read_rest(&mut rest)?;
            s.finish_read(&rest)?
        }
    };
    assert!(v.memory.runs.is_empty());
    assert_eq!(
        v.memory.nonzero_bytes,
        runs.iter().map(|r| r.1.len() as u64).sum::<u64>()
    );
    let seen = walk(&v) + runs.iter().map(|r| r.1.len()).sum::<usize>();
    Ok((runs, seen))
}

/// The streamed reader accepts exactly what `read_checkpoint` accepts, with the same
/// contents, and refuses the rest with the same error (or, for a file whose checksum
/// matches but whose structure does not, as malformed too).
fn same_as_whole(b: &[u8], what: &str) {
    let whole = read_checkpoint(b).map(|v| {
        let runs: Vec<(u64, Vec<u8>)> = v
            .memory
            .runs
            .iter()
            .map(|r| (r.offset, r.bytes.to_vec()))
            .collect();
        (runs, walk(&v))
    });
    let streamed = read_streamed(b);
    // Of unknown length, the same, but that a file shorter than a header is truncated
    // (a file's first bytes may say it is no checkpoint at all), and that a length
    // running past the end of a file, which its size shows at once, is found only
    // later, as whatever it makes of what follows (the checksum, a malformed run).
    let unsized_ = read_streamed_from(Unsized(b));
    match (&streamed, &unsized_) {
        (Ok(s), Ok(u)) => assert_eq!(s, u, "{what}, of unknown length"),
        (Err(s), Err(u)) if s == u => {}
        (Err(_), Err(FormatError::Truncated)) if b.len() < HEADER_SIZE => {}
        (Err(FormatError::Truncated), Err(_)) => {}
        _ => panic!(
            "{what}: streamed {:?}, of unknown length {:?}",
            streamed.as_ref().err(),
            unsized_.as_ref().err()
        ),
    }
    match (&whole, &streamed) {
        (Ok(w), Ok(s)) => assert_eq!(w, s, "{what}"),
        (Err(w), Err(s)) if w == s => {}
        // An intact file (checksum right) with two defects: the streamed reader meets
        // the memory section's before the framing of the sections after it.
        (Err(FormatError::Malformed(_)), Err(FormatError::Malformed(_))) => {}
        _ => panic!(
            "{what}: whole {:?}, streamed {:?}",
            whole.as_ref().err(),
            streamed.as_ref().err()
        ),
    }
}

#[test]
fn streamed_reads_what_the_whole_reader_reads() {
    let bytes = sample();
    same_as_whole(&bytes, "intact");
    let (runs, _) = read_streamed(&bytes).unwrap();
    assert!(!runs.is_empty());
    for n in 0..bytes.len() {
        same_as_whole(&bytes[..n], &format!("prefix of {n} bytes"));
    }
    let mut long = bytes.clone();
    long.push(0);
    same_as_whole(&long, "a byte more");
    let mem = HEADER_SIZE + 12 + 8 + 16..globals_payload(&bytes) - 12;
    for i in (0..bytes.len()).filter(|i| !mem.contains(i) || i % 64 == 0) {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            same_as_whole(&b, &format!("byte {i} ^ {mask:#x}"));
            if i < bytes.len() - TRAILER_SIZE {
                same_as_whole(&reseal(b), &format!("byte {i} ^ {mask:#x}, resealed"));
            }
        }
    }
}
