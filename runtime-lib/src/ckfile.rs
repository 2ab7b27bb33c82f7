//! Checkpoint files on disk: the atomic, durable write that cannot be redirected, and the
//! bounded read that cannot hang or exhaust memory.
//!
//! Writing (`WASMC_CHECKPOINT=PATH`): the bytes go to a temporary `.NAME.wasmc-tmp` in
//! PATH's directory, created with `O_CREAT|O_EXCL|O_NOFOLLOW` (so a symlink or anything
//! else planted under that name is never written through), fsynced, renamed over NAME
//! with `renameat` relative to the directory's fd, and the directory is fsynced so the
//! rename survives a crash. NAME must be absent or a regular file: a symlink, a device,
//! a FIFO or a directory there is refused, never replaced. A temporary left behind by a
//! process killed while writing is removed by the next write or start-up check.
//!
//! Reading (`WASMC_RESTORE=PATH`, and the key of `WASMC_MIGRATE_KEY_FILE`): opened with
//! `O_NONBLOCK` (a FIFO cannot block the open), refused unless a regular file of a size
//! within bounds, and read to its size at the time of opening, no further.

use crate::host::{self, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY};
use crate::sys::{self, nr};
use alloc::vec::Vec;

/// The largest checkpoint a restore reads: all of a 4 GiB linear memory plus 1 GiB for
/// tables, frames and WASI state. Anything larger cannot be a checkpoint of a module
/// wasmc compiles.
pub const MAX_CHECKPOINT_BYTES: u64 = 5 << 30;

const S_IFMT: u16 = 0o170000;
const S_IFREG: u16 = 0o100000;
const ENOENT: crate::errno::Errno = crate::errno::ENOENT;

/// An open fd, closed when dropped.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        host::close(self.0);
    }
}

/// `path` split into its directory (opened) and its last component.
fn open_parent(path: &[u8]) -> Result<(Fd, &[u8]), &'static str> {
    let (dir, name): (&[u8], &[u8]) = match path.iter().rposition(|&c| c == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Err("WASMC_CHECKPOINT must name a file");
    }
    let fd = host::openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0)
        .map_err(|_| "the directory of WASMC_CHECKPOINT cannot be opened")?;
    Ok((Fd(fd), name))
}

fn temp_name(name: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(name.len() + 12);
    t.push(b'.');
    t.extend_from_slice(name);
    t.extend_from_slice(b".wasmc-tmp");
    t
}

/// Refuses a destination that is there and is not a regular file.
fn check_destination(dir: &Fd, name: &[u8]) -> Result<(), &'static str> {
    match host::statx(dir.0, name, AT_SYMLINK_NOFOLLOW) {
        Ok(st) if st.mode & S_IFMT == S_IFREG => Ok(()),
        Ok(_) => Err("WASMC_CHECKPOINT names something other than a regular file (a symlink, device, FIFO or directory), which a checkpoint never replaces"),
        Err(ENOENT) => Ok(()),
        Err(_) => Err("WASMC_CHECKPOINT cannot be examined"),
    }
}

/// Creates the temporary exclusively, after removing a stale one (unlink removes a
/// planted symlink itself, never its target; a race that plants another makes the
/// exclusive create fail, which is refused).
fn create_temp(dir: &Fd, tmp: &[u8]) -> Result<i32, &'static str> {
    let _ = host::unlinkat(dir.0, tmp, 0);
    host::openat(dir.0, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        .map_err(|_| "cannot create a file in the directory of WASMC_CHECKPOINT")
}

/// The start-up check of a checkpoint destination: it must be a regular file or absent
/// in a directory where the temporary can be created (it is, and removed again).
pub fn check_writable(path: &[u8]) -> Result<(), &'static str> {
    let (dir, name) = open_parent(path)?;
    check_destination(&dir, name)?;
    let tmp = temp_name(name);
    let fd = create_temp(&dir, &tmp)?;
    host::close(fd);
    let _ = host::unlinkat(dir.0, &tmp, 0);
    Ok(())
}

/// Writes a checkpoint to `path` atomically and durably; `fill` writes the bytes to the
/// fd it is given. Nothing but a regular file at `path` is ever replaced.
pub fn write_atomically<E>(path: &[u8], fill: impl FnOnce(i32) -> Result<(), E>) -> Result<(), WriteFailure<E>> {
    let (dir, name) = open_parent(path).map_err(WriteFailure::Refused)?;
    check_destination(&dir, name).map_err(WriteFailure::Refused)?;
    let tmp = temp_name(name);
    let fd = create_temp(&dir, &tmp).map_err(WriteFailure::Refused)?;
    let filled = fill(fd);
    // SAFETY: fsync touches no memory.
    let synced = filled.is_ok() && unsafe { sys::syscall1(nr::FSYNC, fd as usize) } == 0;
    host::close(fd);
    let result = match filled {
        Err(e) => Err(WriteFailure::Fill(e)),
        Ok(()) if !synced => Err(WriteFailure::Refused("writing the checkpoint file failed")),
        // Checked again just before the rename: the destination may have changed while
        // the checkpoint was written.
        Ok(()) => check_destination(&dir, name)
            .and_then(|()| host::renameat(dir.0, &tmp, dir.0, name).map_err(|_| "cannot rename the checkpoint file into place"))
            .map_err(WriteFailure::Refused),
    };
    match result {
        Ok(()) => {
            // The rename is durable only once the directory itself is.
            // SAFETY: fsync touches no memory.
            unsafe { sys::syscall1(nr::FSYNC, dir.0 as usize) };
            Ok(())
        }
        Err(e) => {
            let _ = host::unlinkat(dir.0, &tmp, 0);
            Err(e)
        }
    }
}

/// Why [`write_atomically`] did not write.
pub enum WriteFailure<E> {
    Refused(&'static str),
    Fill(E),
}

/// The checkpoint at `path` opened for a streamed read (`WASMC_RESTORE`): a regular file
/// of at most [`MAX_CHECKPOINT_BYTES`], read to its size at the time of opening.
pub fn open(path: &[u8]) -> Result<FileSource, &'static str> {
    let file = open_regular(path).map_err(|e| match e {
        Open::Cannot => "cannot open the checkpoint file (WASMC_RESTORE)",
        Open::NotRegular => "WASMC_RESTORE is not a regular file",
    })?;
    let st = host::fstatx(file.0).map_err(|_| "cannot examine the checkpoint file (WASMC_RESTORE)")?;
    if st.size > MAX_CHECKPOINT_BYTES {
        return Err("WASMC_RESTORE is larger than any checkpoint can be (5 GiB)");
    }
    Ok(FileSource { file, left: st.size })
}

/// A checkpoint file being read in order, up to its size when opened.
pub struct FileSource {
    file: Fd,
    left: u64,
}

impl abi_spec::checkpoint::Source for FileSource {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), abi_spec::checkpoint::FormatError> {
        use abi_spec::checkpoint::FormatError;
        if buf.len() as u64 > self.left {
            return Err(FormatError::Truncated);
        }
        match read_into(&self.file, buf) {
            Err(()) => return Err(FormatError::Malformed("cannot read the checkpoint file")),
            // Shrunk while being read: what is missing is missing.
            Ok(n) if n < buf.len() => return Err(FormatError::Truncated),
            Ok(_) => {}
        }
        self.left -= buf.len() as u64;
        Ok(())
    }

    fn left(&self) -> Option<u64> {
        Some(self.left)
    }
}

/// Reads the pre-shared key at `path` (`WASMC_MIGRATE_KEY_FILE`): a regular file of
/// `min` to `max` bytes, used as they are.
pub fn read_key(path: &[u8], min: usize, max: usize) -> Result<Vec<u8>, &'static str> {
    let file = open_regular(path).map_err(|e| match e {
        Open::Cannot => "cannot open WASMC_MIGRATE_KEY_FILE",
        Open::NotRegular => "WASMC_MIGRATE_KEY_FILE is not a regular file",
    })?;
    let st = host::fstatx(file.0).map_err(|_| "cannot examine WASMC_MIGRATE_KEY_FILE")?;
    if st.size < min as u64 || st.size > max as u64 {
        return Err("WASMC_MIGRATE_KEY_FILE must hold 16 to 4096 bytes");
    }
    let key = read_to(&file, st.size as usize).map_err(|e| e.unwrap_or("cannot read WASMC_MIGRATE_KEY_FILE"))?;
    if key.len() < min {
        return Err("WASMC_MIGRATE_KEY_FILE must hold 16 to 4096 bytes");
    }
    Ok(key)
}

enum Open {
    Cannot,
    NotRegular,
}

/// Opens `path` for reading if it is a regular file. `O_NONBLOCK`: a FIFO cannot block
/// the open.
fn open_regular(path: &[u8]) -> Result<Fd, Open> {
    let fd = host::openat(AT_FDCWD, path, O_RDONLY | O_NONBLOCK, 0).map_err(|_| Open::Cannot)?;
    let file = Fd(fd);
    let st = host::fstatx(file.0).map_err(|_| Open::Cannot)?;
    if st.mode & S_IFMT != S_IFREG {
        return Err(Open::NotRegular);
    }
    Ok(file)
}

/// Reads `file` up to `size` bytes (its size when opened), no further. `Err(Some)`:
/// not enough memory; `Err(None)`: the read failed.
fn read_to(file: &Fd, size: usize) -> Result<Vec<u8>, Option<&'static str>> {
    let mut out = crate::heap::try_zeroed(size).ok_or(Some("not enough memory to read the file"))?;
    // Shrunk while being read: the caller refuses what is missing.
    let n = read_into(file, &mut out).map_err(|()| None)?;
    out.truncate(n);
    Ok(out)
}

/// Fills `buf` from `file`'s position on, up to the end of the file; returns how much
/// was read (less than `buf` only at the end of the file).
fn read_into(file: &Fd, buf: &mut [u8]) -> Result<usize, ()> {
    let mut at = 0;
    while at < buf.len() {
        let spare = &mut buf[at..];
        // SAFETY: the kernel writes at most `spare.len()` bytes into `spare`, which is
        // writable and ours.
        let r = unsafe { sys::syscall3(nr::READ, file.0 as usize, spare.as_mut_ptr() as usize, spare.len()) };
        match r {
            crate::print::EINTR => continue,
            0 => break,
            r if r < 0 => return Err(()),
            r => at += r as usize,
        }
    }
    Ok(at)
}
