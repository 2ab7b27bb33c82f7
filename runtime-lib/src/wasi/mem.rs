//! Bounds-checked access to the guest's linear memory.
//!
//! Every guest pointer is a u32 offset into linear memory; a range that does not lie
//! entirely inside the current memory size is EFAULT. Accesses are unaligned-safe
//! because WASI does not promise the guest aligned its structures.

use crate::errno::{Errno, EFAULT};
use abi_spec::VmCtx;
use alloc::vec::Vec;

#[derive(Clone, Copy)]
pub struct Mem {
    base: *mut u8,
    size: u64,
}

impl Mem {
    /// The guest memory of a WASI call. Its fields are read through the pointer, never
    /// through a reference (a signal handler may write `mig_state` meanwhile).
    ///
    /// # Safety
    /// `vmctx` must be the live vmctx passed by generated code, whose linear memory is
    /// read-write from `memory_base` for `memory_size` bytes and does not shrink.
    pub unsafe fn new(vmctx: *mut VmCtx) -> Mem {
        // SAFETY: a live vmctx (caller); plain field reads through the pointer.
        let (base, size) = unsafe { ((*vmctx).memory_base, (*vmctx).memory_size) };
        Mem { base: base as *mut u8, size }
    }

    /// Address of `len` guest bytes at `ptr`, after the bounds check.
    pub fn ptr(&self, ptr: u32, len: u64) -> Result<*mut u8, Errno> {
        if ptr as u64 + len > self.size {
            return Err(EFAULT);
        }
        // SAFETY: `ptr` is within the `size` bytes of memory at `base` (checked above).
        let p = unsafe { self.base.add(ptr as usize) };
        // The runtime, or the kernel for it, may write here: while pre-copy tracks
        // writes, the kernel would fail with EFAULT on a page still read-only.
        crate::dirty::touch(p as usize, len as usize);
        Ok(p)
    }

    /// An element array of `count` items of `elem` bytes.
    pub fn array(&self, ptr: u32, count: u32, elem: u64) -> Result<*mut u8, Errno> {
        self.ptr(ptr, count as u64 * elem)
    }

    // Every access below goes through `ptr`, which checks that all its bytes lie inside
    // guest memory; guest memory is never a runtime allocation, so copies into or out of
    // it never overlap one.
    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        // SAFETY: 4 checked bytes; unaligned is allowed.
        Ok(u32::from_le(unsafe { (self.ptr(ptr, 4)? as *const u32).read_unaligned() }))
    }
    pub fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        // SAFETY: 8 checked bytes; unaligned is allowed.
        Ok(u64::from_le(unsafe { (self.ptr(ptr, 8)? as *const u64).read_unaligned() }))
    }
    pub fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        // SAFETY: 2 checked bytes; unaligned is allowed.
        Ok(u16::from_le(unsafe { (self.ptr(ptr, 2)? as *const u16).read_unaligned() }))
    }
    pub fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        // SAFETY: 1 checked byte.
        Ok(unsafe { *self.ptr(ptr, 1)? })
    }
    pub fn write_u32(&self, ptr: u32, v: u32) -> Result<(), Errno> {
        // SAFETY: 4 checked bytes; unaligned is allowed.
        unsafe { (self.ptr(ptr, 4)? as *mut u32).write_unaligned(v.to_le()) };
        Ok(())
    }
    pub fn write_u64(&self, ptr: u32, v: u64) -> Result<(), Errno> {
        // SAFETY: 8 checked bytes; unaligned is allowed.
        unsafe { (self.ptr(ptr, 8)? as *mut u64).write_unaligned(v.to_le()) };
        Ok(())
    }
    pub fn write_bytes(&self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        let p = self.ptr(ptr, bytes.len() as u64)?;
        // SAFETY: `bytes.len()` checked bytes at `p`, not overlapping `bytes`.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        Ok(())
    }
    /// Copies guest bytes out (paths: they are short, and the copy gets a NUL appended
    /// for the kernel without touching guest memory).
    pub fn read_vec(&self, ptr: u32, len: u32) -> Result<Vec<u8>, Errno> {
        let p = self.ptr(ptr, len as u64)?;
        let mut v = Vec::with_capacity(len as usize + 1);
        // SAFETY: `len` checked bytes, copied out at once (nothing writes guest memory
        // during a WASI call).
        v.extend_from_slice(unsafe { core::slice::from_raw_parts(p, len as usize) });
        Ok(v)
    }

    /// Translates a guest iovec/ciovec array (`{buf: u32, len: u32}` each) into host
    /// `struct iovec`s for readv/writev, checking every buffer.
    pub fn iovecs(&self, iovs: u32, count: u32) -> Result<Vec<HostIovec>, Errno> {
        self.array(iovs, count, 8)?;
        // The kernel rejects more than IOV_MAX with EINVAL; a short transfer is legal,
        // so clamp instead of failing.
        let n = core::cmp::min(count, 1024);
        let mut v = Vec::with_capacity(n as usize);
        for i in 0..n {
            let buf = self.read_u32(iovs + i * 8)?;
            let len = self.read_u32(iovs + i * 8 + 4)?;
            let p = self.ptr(buf, len as u64)?;
            v.push(HostIovec { base: p, len: len as usize });
        }
        Ok(v)
    }
}

#[repr(C)]
pub struct HostIovec {
    pub base: *mut u8,
    pub len: usize,
}
