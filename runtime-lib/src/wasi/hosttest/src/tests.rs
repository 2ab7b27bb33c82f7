use crate::errno::*;
use crate::wasi::dir::*;
use crate::wasi::fd::*;
use crate::wasi::misc::*;
use crate::wasi::path::*;
use crate::wasi::poll::*;
use abi_spec::VmCtx;
use std::os::unix::fs::symlink;
use std::sync::{Mutex, Once};

/// The WASI state is process-global: run tests one at a time over one sandbox.
static LOCK: Mutex<()> = Mutex::new(());
static INIT: Once = Once::new();
const SB: &str = "/tmp/wasmc-wasi-hosttest";
const PRE: u32 = 3;

const PATH: u32 = 0x1000;
const OUT: u32 = 0x100;
const BUF: u32 = 0x10000;
const MEM: usize = 1 << 20;

struct G {
    mem: Vec<u8>,
    vm: Box<VmCtx>,
}

impl G {
    fn new() -> G {
        let mut mem = vec![0u8; MEM];
        let vm = Box::new(VmCtx {
            mig_state: 0,
            _pad0: 0,
            depth_left: 0,
            memory_base: mem.as_mut_ptr() as u64,
            memory_size: MEM as u64,
            module: 0,
            runtime: 0,
            _reserved: 0,
            countdown: 0,
        });
        G { mem, vm }
    }
    fn vm(&mut self) -> *mut VmCtx {
        &mut *self.vm
    }
    fn put(&mut self, at: u32, b: &[u8]) {
        self.mem[at as usize..at as usize + b.len()].copy_from_slice(b);
    }
    fn u32(&self, at: u32) -> u32 {
        u32::from_le_bytes(self.mem[at as usize..at as usize + 4].try_into().unwrap())
    }
    fn u64(&self, at: u32) -> u64 {
        u64::from_le_bytes(self.mem[at as usize..at as usize + 8].try_into().unwrap())
    }
    fn bytes(&self, at: u32, n: usize) -> &[u8] {
        &self.mem[at as usize..at as usize + n]
    }
    fn path(&mut self, p: &str) -> (u32, u32) {
        self.put(PATH, p.as_bytes());
        (PATH, p.len() as u32)
    }
    fn open(&mut self, dir: u32, p: &str, oflags: u32, follow: bool) -> Result<u32, i32> {
        let (pp, pl) = self.path(p);
        let vm = self.vm();
        let r = wasmc_wasi_path_open(vm, dir, follow as u32, pp, pl, oflags, u64::MAX >> 34, u64::MAX >> 34, 0, OUT);
        if r == 0 {
            Ok(self.u32(OUT))
        } else {
            Err(r)
        }
    }
    fn write(&mut self, fd: u32, data: &[u8]) -> i32 {
        self.put(BUF, data);
        self.put(0x200, &BUF.to_le_bytes());
        self.put(0x204, &(data.len() as u32).to_le_bytes());
        let vm = self.vm();
        wasmc_wasi_fd_write(vm, fd, 0x200, 1, OUT)
    }
    fn read(&mut self, fd: u32, n: u32) -> Result<Vec<u8>, i32> {
        self.put(0x200, &BUF.to_le_bytes());
        self.put(0x204, &n.to_le_bytes());
        let vm = self.vm();
        match wasmc_wasi_fd_read(vm, fd, 0x200, 1, OUT) {
            0 => Ok(self.bytes(BUF, self.u32(OUT) as usize).to_vec()),
            e => Err(e),
        }
    }
    fn filetype(&mut self, dir: u32, p: &str, follow: bool) -> Result<u8, i32> {
        let (pp, pl) = self.path(p);
        let vm = self.vm();
        match wasmc_wasi_path_filestat_get(vm, dir, follow as u32, pp, pl, BUF) {
            0 => Ok(self.mem[BUF as usize + 16]),
            e => Err(e),
        }
    }
    fn readdir(&mut self, fd: u32, buf_len: u32) -> Vec<(u64, String, u8)> {
        let mut out = Vec::new();
        let mut cookie = 0;
        loop {
            let vm = self.vm();
            assert_eq!(wasmc_wasi_fd_readdir(vm, fd, BUF, buf_len, cookie, OUT), 0);
            let used = self.u32(OUT) as usize;
            let mut off = 0;
            let mut progressed = false;
            while off + 24 <= used {
                let b = &self.mem[BUF as usize + off..];
                let next = u64::from_le_bytes(b[0..8].try_into().unwrap());
                let nlen = u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize;
                if off + 24 + nlen > used {
                    break;
                }
                out.push((next, String::from_utf8(b[24..24 + nlen].to_vec()).unwrap(), b[20]));
                cookie = next;
                off += 24 + nlen;
                progressed = true;
            }
            if used < buf_len as usize {
                return out;
            }
            assert!(progressed, "buffer too small for one entry");
        }
    }
}

fn setup() -> std::sync::MutexGuard<'static, ()> {
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    INIT.call_once(|| {
        let _ = std::fs::remove_dir_all(SB);
        std::fs::create_dir_all(format!("{SB}/root/sub/deeper")).unwrap();
        std::fs::write(format!("{SB}/secret"), b"outside").unwrap();
        std::fs::write(format!("{SB}/root/sub/f.txt"), b"inside").unwrap();
        symlink("../..", format!("{SB}/root/sub/up2")).unwrap();
        symlink("/etc", format!("{SB}/root/abs")).unwrap();
        symlink("sub/f.txt", format!("{SB}/root/good")).unwrap();
        symlink("sub/", format!("{SB}/root/subdir_link")).unwrap();
        symlink("loop2", format!("{SB}/root/loop1")).unwrap();
        symlink("loop1", format!("{SB}/root/loop2")).unwrap();
        assert!(crate::wasi::init(Some(b"/nonexistent-wasmc")).is_err());
        assert!(crate::wasi::init(Some(b"::x")).is_err());
        crate::wasi::init(Some(format!("{SB}/root::/sb").as_bytes())).unwrap();
    });
    g
}

#[test]
fn errno_table() {
    assert_eq!(from_linux(2), ENOENT);
    assert_eq!(from_linux(13), EACCES);
    assert_eq!(from_linux(17), EEXIST);
    assert_eq!(from_linux(20), ENOTDIR);
    assert_eq!(from_linux(21), EISDIR);
    assert_eq!(from_linux(39), ENOTEMPTY);
    assert_eq!(from_linux(40), ELOOP);
    assert_eq!(from_linux(29), ESPIPE);
    assert_eq!(from_linux(95), ENOTSUP);
    assert_eq!(from_linux(9999), EIO);
    assert_eq!(check(-2), Err(ENOENT));
    assert_eq!(check(5), Ok(5));
}

#[test]
fn dirent_encoding() {
    let mut v = Vec::new();
    encode_dirent(&mut v, 7, 0x1122, 4, b"abc");
    assert_eq!(v.len(), 27);
    assert_eq!(&v[0..8], &7u64.to_le_bytes());
    assert_eq!(&v[8..16], &0x1122u64.to_le_bytes());
    assert_eq!(&v[16..20], &3u32.to_le_bytes());
    assert_eq!(&v[20..24], &[4, 0, 0, 0]);
    assert_eq!(&v[24..], b"abc");
    assert_eq!(filetype_of_dtype(4), 3);
    assert_eq!(filetype_of_dtype(10), 7);
}

#[test]
fn prestat_and_args() {
    let _l = setup();
    let mut g = G::new();
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_prestat_get(vm, PRE, OUT), 0);
    assert_eq!(g.u32(OUT + 4), 3);
    assert_eq!(wasmc_wasi_fd_prestat_dir_name(vm, PRE, BUF, 3), 0);
    assert_eq!(g.bytes(BUF, 3), b"/sb");
    assert_eq!(wasmc_wasi_fd_prestat_dir_name(vm, PRE, BUF, 2), ENAMETOOLONG as i32);
    assert_eq!(wasmc_wasi_fd_prestat_get(vm, 1, OUT), EBADF as i32);
    assert_eq!(wasmc_wasi_fd_prestat_get(vm, 4, OUT), EBADF as i32);
    assert_eq!(wasmc_wasi_args_sizes_get(vm, OUT, OUT + 4), 0);
    assert_eq!((g.u32(OUT), g.u32(OUT + 4)), (3, 19));
    assert_eq!(wasmc_wasi_args_get(vm, 0x300, BUF), 0);
    assert_eq!(g.u32(0x300), BUF);
    assert_eq!(g.u32(0x304), BUF + 5);
    assert_eq!(g.bytes(BUF, 19), b"prog\0one\0two words\0");
    assert_eq!(wasmc_wasi_environ_sizes_get(vm, OUT, OUT + 4), 0);
    assert_eq!((g.u32(OUT), g.u32(OUT + 4)), (2, 13));
    assert_eq!(wasmc_wasi_environ_get(vm, 0x300, MEM as u32 - 5), EFAULT as i32);
}

#[test]
fn file_io() {
    let _l = setup();
    let mut g = G::new();
    let fd = g.open(PRE, "new.txt", 1 | 8, false).unwrap();
    assert!(fd > PRE);
    assert_eq!(g.write(fd, b"hello world"), 0);
    assert_eq!(g.u32(OUT), 11);
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_tell(vm, fd, OUT), 0);
    assert_eq!(g.u64(OUT), 11);
    assert_eq!(wasmc_wasi_fd_seek(vm, fd, 6, 0, OUT), 0);
    assert_eq!(g.read(fd, 100).unwrap(), b"world");
    assert_eq!(wasmc_wasi_fd_seek(vm, fd, -5, 2, OUT), 0);
    assert_eq!(g.u64(OUT), 6);
    assert_eq!(wasmc_wasi_fd_seek(vm, fd, 0, 7, OUT), EINVAL as i32);
    // pread/pwrite leave the position alone.
    g.put(0x200, &BUF.to_le_bytes());
    g.put(0x204, &5u32.to_le_bytes());
    assert_eq!(wasmc_wasi_fd_pread(vm, fd, 0x200, 1, 0, OUT), 0);
    assert_eq!(g.bytes(BUF, 5), b"hello");
    g.put(BUF, b"HELLO");
    assert_eq!(wasmc_wasi_fd_pwrite(vm, fd, 0x200, 1, 0, OUT), 0);
    assert_eq!(wasmc_wasi_fd_tell(vm, fd, OUT), 0);
    assert_eq!(g.u64(OUT), 6);
    assert_eq!(wasmc_wasi_fd_filestat_get(vm, fd, BUF), 0);
    assert_eq!(g.mem[BUF as usize + 16], 4);
    assert_eq!(g.u64(BUF + 32), 11);
    assert_eq!(wasmc_wasi_fd_filestat_set_size(vm, fd, 3), 0);
    assert_eq!(wasmc_wasi_fd_filestat_get(vm, fd, BUF), 0);
    assert_eq!(g.u64(BUF + 32), 3);
    assert_eq!(wasmc_wasi_fd_filestat_set_times(vm, fd, 1_000_000_000, 2_000_000_005, 1 | 4), 0);
    assert_eq!(wasmc_wasi_fd_filestat_get(vm, fd, BUF), 0);
    assert_eq!(g.u64(BUF + 40), 1_000_000_000);
    assert_eq!(g.u64(BUF + 48), 2_000_000_005);
    assert_eq!(wasmc_wasi_fd_filestat_set_times(vm, fd, 0, 0, 1 | 2), EINVAL as i32);
    assert_eq!(wasmc_wasi_fd_sync(vm, fd), 0);
    assert_eq!(wasmc_wasi_fd_datasync(vm, fd), 0);
    assert_eq!(wasmc_wasi_fd_advise(vm, fd, 0, 0, 1), 0);
    // fdstat reports a regular file, and flags can be switched to append.
    assert_eq!(wasmc_wasi_fd_fdstat_get(vm, fd, BUF), 0);
    assert_eq!(g.mem[BUF as usize], 4);
    assert_eq!(wasmc_wasi_fd_fdstat_set_flags(vm, fd, 1), 0);
    assert_eq!(g.write(fd, b"++"), 0);
    assert_eq!(std::fs::read(format!("{SB}/root/new.txt")).unwrap(), b"HEL++");
    assert_eq!(wasmc_wasi_fd_fdstat_get(vm, fd, BUF), 0);
    assert_eq!(g.mem[BUF as usize + 2], 1);
    assert_eq!(wasmc_wasi_fd_fdstat_set_rights(vm, fd, 0, 0), 0);
    assert_eq!(wasmc_wasi_fd_fdstat_set_rights(vm, fd, 1, 0), ENOTCAPABLE as i32);
    // O_EXCL on an existing file.
    assert_eq!(g.open(PRE, "new.txt", 1 | 4, false), Err(EEXIST as i32));
    assert_eq!(wasmc_wasi_fd_close(vm, fd), 0);
    assert_eq!(wasmc_wasi_fd_close(vm, fd), EBADF as i32);
    // Bad guest pointers are EFAULT, never a crash.
    let fd = g.open(PRE, "new.txt", 0, false).unwrap();
    g.put(0x200, &(MEM as u32 - 2).to_le_bytes());
    g.put(0x204, &5u32.to_le_bytes());
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_read(vm, fd, 0x200, 1, OUT), EFAULT as i32);
    assert_eq!(wasmc_wasi_fd_read(vm, fd, MEM as u32 - 4, 1, OUT), EFAULT as i32);
    assert_eq!(wasmc_wasi_fd_read(vm, fd, 0x200, 1, u32::MAX), EFAULT as i32);
    assert_eq!(wasmc_wasi_fd_close(vm, fd), 0);
    // Directories are not files.
    assert_eq!(g.open(PRE, "sub", 0, false), Err(EISDIR as i32));
    let (pp, pl) = g.path("sub");
    let vm = g.vm();
    assert_eq!(wasmc_wasi_path_open(vm, PRE, 0, pp, pl, 0, 1 << 1, 0, 0, OUT), 0);
    assert_eq!(wasmc_wasi_fd_fdstat_get(vm, g.u32(OUT), BUF), 0);
    assert_eq!(g.mem[BUF as usize], 3);
    assert_eq!(wasmc_wasi_fd_close(vm, g.u32(OUT)), 0);
    assert_eq!(g.open(PRE, "sub/f.txt", 2, false), Err(ENOTDIR as i32));
    assert_eq!(g.open(PRE, "sub/f.txt/", 0, false), Err(ENOTDIR as i32));
    assert_eq!(g.open(PRE, "missing", 0, false), Err(ENOENT as i32));
}

#[test]
fn sandbox_escapes() {
    let _l = setup();
    let mut g = G::new();
    for p in ["..", "../secret", "/etc/passwd", "sub/../../secret", "sub/deeper/../../../secret"] {
        assert_eq!(g.open(PRE, p, 0, true), Err(ENOTCAPABLE as i32), "{p}");
    }
    // Symlinks climbing out, relative or absolute.
    assert_eq!(g.open(PRE, "sub/up2/secret", 0, true), Err(ENOTCAPABLE as i32));
    assert_eq!(g.open(PRE, "sub/up2", 0, true), Err(ENOTCAPABLE as i32));
    assert_eq!(g.open(PRE, "abs/passwd", 0, true), Err(ENOTCAPABLE as i32));
    assert_eq!(g.open(PRE, "abs", 0, true), Err(ENOTCAPABLE as i32));
    assert_eq!(g.filetype(PRE, "abs", true), Err(ENOTCAPABLE as i32));
    // ... but the links themselves can be inspected.
    assert_eq!(g.filetype(PRE, "abs", false), Ok(7));
    assert_eq!(g.open(PRE, "abs", 0, false), Err(ELOOP as i32));
    // ".." that stays inside is fine.
    assert_eq!(g.filetype(PRE, "sub/deeper/../f.txt", false), Ok(4));
    assert_eq!(g.filetype(PRE, "sub/..", false), Ok(3));
    assert_eq!(g.filetype(PRE, ".", false), Ok(3));
    // Symlink loops.
    assert_eq!(g.open(PRE, "loop1", 0, true), Err(ELOOP as i32));
    // Good links resolve; a trailing slash follows the final link.
    let fd = g.open(PRE, "good", 0, true).unwrap();
    assert_eq!(g.read(fd, 100).unwrap(), b"inside");
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_close(vm, fd), 0);
    assert_eq!(g.filetype(PRE, "subdir_link/", false), Ok(3));
    assert_eq!(g.filetype(PRE, "subdir_link/f.txt", false), Ok(4));
    // A dir fd is its own root: ".." from it is refused.
    let d = g.open(PRE, "sub", 2, false).unwrap();
    assert_eq!(g.open(d, "../sub/f.txt", 0, false), Err(ENOTCAPABLE as i32));
    assert_eq!(g.filetype(d, "f.txt", false), Ok(4));
    // Symlink creation: absolute targets refused, relative allowed; readlink.
    let (tp, tl) = (0x3000u32, 4u32);
    g.put(tp, b"/etc");
    let (pp, pl) = g.path("newlink");
    let vm = g.vm();
    assert_eq!(wasmc_wasi_path_symlink(vm, tp, tl, PRE, pp, pl), ENOTCAPABLE as i32);
    g.put(tp, b"f.txt");
    assert_eq!(wasmc_wasi_path_symlink(vm, tp, 5, d, pp, pl), 0);
    assert_eq!(wasmc_wasi_path_readlink(vm, d, pp, pl, BUF, 100, OUT), 0);
    assert_eq!(g.bytes(BUF, g.u32(OUT) as usize), b"f.txt");
    assert_eq!(wasmc_wasi_path_readlink(vm, d, pp, pl, BUF, 2, OUT), 0);
    assert_eq!(g.u32(OUT), 2);
    assert_eq!(wasmc_wasi_path_unlink_file(vm, d, pp, pl), 0);
    assert_eq!(wasmc_wasi_fd_close(vm, d), 0);
    // Not a directory fd.
    assert_eq!(g.open(1, "x", 0, false), Err(ENOTDIR as i32));
    assert_eq!(g.open(99, "x", 0, false), Err(EBADF as i32));
}

#[test]
fn directories() {
    let _l = setup();
    let mut g = G::new();
    let (pp, pl) = g.path("tree");
    let vm = g.vm();
    assert_eq!(wasmc_wasi_path_create_directory(vm, PRE, pp, pl), 0);
    assert_eq!(wasmc_wasi_path_create_directory(vm, PRE, pp, pl), EEXIST as i32);
    for i in 0..40 {
        let fd = g.open(PRE, &format!("tree/file-with-a-long-name-{i:02}"), 1, false).unwrap();
        let vm = g.vm();
        wasmc_wasi_fd_close(vm, fd);
    }
    let d = g.open(PRE, "tree", 2, false).unwrap();
    // Small buffer: many calls with cookies and truncated entries.
    let small = g.readdir(d, 64);
    let big = g.readdir(d, 65536);
    assert_eq!(small, big);
    assert_eq!(big.len(), 42);
    assert_eq!((big[0].1.as_str(), big[0].2), (".", 3));
    assert_eq!((big[1].1.as_str(), big[1].2), ("..", 3));
    for (i, e) in big.iter().enumerate() {
        assert_eq!(e.0, i as u64 + 1);
    }
    let mut names: Vec<_> = big[2..].iter().map(|e| e.1.clone()).collect();
    names.sort();
    assert_eq!(names[0], "file-with-a-long-name-00");
    assert!(big[2..].iter().all(|e| e.2 == 4));
    // Past the end.
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_readdir(vm, d, BUF, 100, 42, OUT), 0);
    assert_eq!(g.u32(OUT), 0);
    // rmdir of a non-empty dir, rename, unlink, rmdir.
    let (pp, pl) = g.path("tree");
    let vm = g.vm();
    assert_eq!(wasmc_wasi_path_remove_directory(vm, PRE, pp, pl), ENOTEMPTY as i32);
    g.put(0x3000, b"file-with-a-long-name-00");
    g.put(0x3100, b"../renamed");
    assert_eq!(wasmc_wasi_path_rename(vm, d, 0x3000, 24, d, 0x3100, 10), ENOTCAPABLE as i32);
    g.put(0x3100, b"tree2");
    assert_eq!(wasmc_wasi_path_rename(vm, d, 0x3000, 24, PRE, 0x3100, 5), 0);
    assert_eq!(g.filetype(PRE, "tree2", false), Ok(4));
    g.put(0x3200, b"tree3");
    assert_eq!(wasmc_wasi_path_link(vm, PRE, 0, 0x3100, 5, PRE, 0x3200, 5), 0);
    assert_eq!(wasmc_wasi_path_unlink_file(vm, PRE, 0x3100, 5), 0);
    assert_eq!(wasmc_wasi_path_unlink_file(vm, PRE, 0x3200, 5), 0);
    assert_eq!(wasmc_wasi_path_unlink_file(vm, PRE, pp, pl), EISDIR as i32);
    for i in 1..40 {
        let (pp, pl) = g.path(&format!("tree/file-with-a-long-name-{i:02}"));
        let vm = g.vm();
        assert_eq!(wasmc_wasi_path_unlink_file(vm, PRE, pp, pl), 0);
    }
    let (pp, pl) = g.path("tree/");
    let vm = g.vm();
    assert_eq!(wasmc_wasi_path_remove_directory(vm, PRE, pp, pl), 0);
    assert_eq!(wasmc_wasi_fd_close(vm, d), 0);
    // Readdir on the preopen itself.
    let root: Vec<String> = g.readdir(PRE, 4096).into_iter().map(|e| e.1).collect();
    assert!(root.contains(&"sub".to_string()) && root.contains(&"abs".to_string()));
    // fd_readdir on a file.
    let f = g.open(PRE, "sub/f.txt", 0, false).unwrap();
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_readdir(vm, f, BUF, 100, 0, OUT), ENOTDIR as i32);
    // renumber onto an open fd replaces it.
    let f2 = g.open(PRE, "good", 0, true).unwrap();
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_renumber(vm, f2, f), 0);
    assert_eq!(wasmc_wasi_fd_close(vm, f2), EBADF as i32);
    assert_eq!(g.read(f, 3).unwrap(), b"ins");
    let vm = g.vm();
    assert_eq!(wasmc_wasi_fd_renumber(vm, f, 77), EBADF as i32);
    assert_eq!(wasmc_wasi_fd_close(vm, f), 0);
}

#[test]
fn clocks_random_poll() {
    let _l = setup();
    let mut g = G::new();
    let vm = g.vm();
    for id in 0..4 {
        assert_eq!(wasmc_wasi_clock_res_get(vm, id, OUT), 0);
        assert!(g.u64(OUT) > 0);
        assert_eq!(wasmc_wasi_clock_time_get(vm, id, 1, OUT), 0);
    }
    assert_eq!(wasmc_wasi_clock_time_get(vm, 4, 1, OUT), EINVAL as i32);
    assert_eq!(wasmc_wasi_clock_time_get(vm, 0, 1, OUT), 0);
    assert!(g.u64(OUT) > 1_600_000_000_000_000_000);
    assert_eq!(wasmc_wasi_random_get(vm, BUF, 4096), 0);
    assert!(g.bytes(BUF, 4096).iter().any(|&b| b != 0));
    assert_eq!(wasmc_wasi_random_get(vm, MEM as u32 - 10, 11), EFAULT as i32);
    assert_eq!(wasmc_wasi_sched_yield(vm), 0);
    assert_eq!(wasmc_wasi_proc_raise(vm, 2), ENOSYS as i32);

    // Relative clock: sleeps 20ms.
    let sub = |g: &mut G, i: u32, ud: u64, tag: u8, a: u32, timeout: u64, flags: u16| {
        let s = 0x4000 + i * 48;
        g.put(s, &[0; 48]);
        g.put(s, &ud.to_le_bytes());
        g.mem[s as usize + 8] = tag;
        g.put(s + 16, &a.to_le_bytes());
        g.put(s + 24, &timeout.to_le_bytes());
        g.put(s + 40, &flags.to_le_bytes());
    };
    sub(&mut g, 0, 42, 0, 1, 20_000_000, 0);
    let t = std::time::Instant::now();
    let vm = g.vm();
    assert_eq!(wasmc_wasi_poll_oneoff(vm, 0x4000, 0x5000, 1, OUT), 0);
    assert!(t.elapsed() >= std::time::Duration::from_millis(20));
    assert_eq!(g.u32(OUT), 1);
    assert_eq!(g.u64(0x5000), 42);
    assert_eq!(g.mem[0x5000 + 10], 0);
    // Absolute realtime deadline 30ms from now.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    sub(&mut g, 0, 7, 0, 0, now + 30_000_000, 1);
    let t = std::time::Instant::now();
    let vm = g.vm();
    assert_eq!(wasmc_wasi_poll_oneoff(vm, 0x4000, 0x5000, 1, OUT), 0);
    assert!(t.elapsed() >= std::time::Duration::from_millis(25));
    assert_eq!(g.u64(0x5000), 7);
    // A readable file wins over a long timeout; a bad fd reports EBADF.
    let f = g.open(PRE, "sub/f.txt", 0, false).unwrap();
    sub(&mut g, 0, 1, 0, 1, 10_000_000_000, 0);
    sub(&mut g, 1, 2, 1, f, 0, 0);
    sub(&mut g, 2, 3, 2, 999, 0, 0);
    let t = std::time::Instant::now();
    let vm = g.vm();
    assert_eq!(wasmc_wasi_poll_oneoff(vm, 0x4000, 0x5000, 3, OUT), 0);
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    let n = g.u32(OUT);
    let evs: Vec<(u64, u16, u8, u64)> = (0..n)
        .map(|i| {
            let e = 0x5000 + i * 32;
            (g.u64(e), u16::from_le_bytes([g.mem[e as usize + 8], g.mem[e as usize + 9]]), g.mem[e as usize + 10], g.u64(e + 16))
        })
        .collect();
    assert!(evs.contains(&(2, 0, 1, 6)), "{evs:?}");
    assert!(evs.contains(&(3, EBADF, 2, 0)), "{evs:?}");
    assert_eq!(n, 2);
    assert_eq!(wasmc_wasi_poll_oneoff(vm, 0x4000, 0x5000, 0, OUT), EINVAL as i32);
    assert_eq!(wasmc_wasi_fd_close(vm, f), 0);
    assert_eq!(wasmc_wasi_sock_accept(vm, 0, 0, 0), ENOTSUP as i32);
}
