// The hostile suite's rust function (test/hostile/rust.test.ts): one crate whose handler runs the attack the event's
// `op` names, so the suite compiles once. Written as an attacker who has read the wrapper
// (deploy/images/rust/wrapper/src/main.rs) and the runner would: libc is reached through std's own linkage
// (`extern "C"`), so no crate beyond serde_json is needed. Work left behind ticks without allocating (a forked
// child of a threaded process must not touch malloc's locks): a timestamp in memory and in /tmp/leak.log, and a
// LEAKED-WORK line on stderr, which the next call's probe looks for.
use std::ffi::{c_char, c_int, c_long, CStr};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Map, Value};

extern "C" {
    fn fork() -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn getppid() -> c_int;
    fn getuid() -> u32;
    fn syscall(n: c_long, ...) -> c_long;
    fn write(fd: c_int, buf: *const u8, n: usize) -> isize;
    fn open(path: *const c_char, flags: c_int, mode: c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn clock_gettime(clock: c_int, ts: *mut [i64; 2]) -> c_int;
    /// The wrapper's: this call's context as JSON.
    fn weft_context_json() -> *const c_char;
}

#[cfg(target_arch = "x86_64")]
const SYS_EXIT: c_long = 60;
#[cfg(target_arch = "aarch64")]
const SYS_EXIT: c_long = 93;
#[cfg(target_arch = "x86_64")]
const SYS_GETTID: c_long = 186;
#[cfg(target_arch = "aarch64")]
const SYS_GETTID: c_long = 178;
const O_WRONLY_APPEND_CREAT: c_int = 0o1 | 0o2000 | 0o100;
const FORGED: &str = "FORGED-BY-HANDLER";

/// Calls this process has run: with concurrency 1 in a container of its own, the nth call is the runner's run id n.
static CALLS: AtomicU64 = AtomicU64::new(0);
/// The newest ticks, in memory (a ring; no allocation, so forked children may tick too).
static TICKS: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];
static TICK_AT: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug)]
pub struct Boom(String);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A panic payload whose drop panics again: whoever drops it after catching the first panic is hit by a second.
struct NastyPayload;

impl Drop for NastyPayload {
    fn drop(&mut self) {
        panic!("the panic payload's drop panics too");
    }
}

fn now_ms() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: clock_gettime writes a struct timespec (two 64-bit fields on 64-bit Linux) into ts.
    unsafe { clock_gettime(0, &mut ts) };
    (ts[0] as u64) * 1000 + (ts[1] as u64) / 1_000_000
}

fn raw_write(fd: c_int, data: &[u8]) -> bool {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: the pointer and length describe the live slice.
        let n = unsafe { write(fd, data[off..].as_ptr(), data.len() - off) };
        if n <= 0 {
            return false;
        }
        off += n as usize;
    }
    true
}

/// One unit of leaked work, without allocating: a timestamp in memory and in /tmp/leak.log, a line on stderr.
fn tick() {
    let now = now_ms();
    TICKS[TICK_AT.fetch_add(1, Ordering::Relaxed) % TICKS.len()].store(now, Ordering::Relaxed);
    let mut digits = [0u8; 24];
    let mut i = digits.len() - 1;
    digits[i] = b'\n';
    let mut n = now;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { open(c"/tmp/leak.log".as_ptr(), O_WRONLY_APPEND_CREAT, 0o644) };
    if fd >= 0 {
        raw_write(fd, &digits[i..]);
        // SAFETY: fd was opened above.
        unsafe { close(fd) };
    }
    raw_write(2, b"LEAKED-WORK\n");
}

fn busy(ms: u64) {
    let end = now_ms() + ms;
    while now_ms() < end {
        std::hint::spin_loop();
    }
}

fn spin_ticks() -> ! {
    loop {
        tick();
        busy(4);
    }
}

fn container_id() -> Value {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let bytes = text.as_bytes();
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        run = if hex(b) { run + 1 } else { 0 };
        if run == 64 && bytes.get(i + 1).map_or(true, |&n| !hex(n)) {
            return json!(&text[i + 1 - 64..=i]);
        }
    }
    Value::Null
}

fn status_of(pid: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for line in fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default().lines() {
        if let Some((k, v)) = line.split_once(':') {
            out.insert(k.to_string(), json!(v.trim()));
        }
    }
    out
}

/// Live processes of this uid that are neither this process, its ancestors nor pid 1.
fn leftovers() -> Vec<Value> {
    let mut keep = vec!["1".to_string()];
    let mut pid = std::process::id().to_string();
    while pid != "0" && !keep.contains(&pid) && keep.len() < 64 {
        keep.push(pid.clone());
        pid = status_of(&pid).get("PPid").and_then(Value::as_str).unwrap_or("0").to_string();
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { getuid() }.to_string();
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || keep.contains(&pid) {
            continue;
        }
        let st = status_of(&pid);
        let field = |k: &str| st.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if field("Name").is_empty() || field("State").starts_with('Z') || field("Uid").split_whitespace().next() != Some(uid.as_str()) {
            continue;
        }
        out.push(json!({"pid": pid, "name": field("Name")}));
    }
    out
}

/// What ran after `after_ms`: ticks in memory and in /tmp, live leftover processes, this process's threads.
fn probe(after_ms: u64) -> Value {
    std::thread::sleep(Duration::from_millis(50)); // work hidden from the runner shows itself once the worker runs
    let memory = TICKS.iter().filter(|t| t.load(Ordering::Relaxed) > after_ms).count();
    let file = fs::read_to_string("/tmp/leak.log").unwrap_or_default().lines().filter(|l| l.parse::<u64>().map_or(false, |t| t > after_ms)).count();
    let threads = fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
    json!({"genuine": true, "calls": CALLS.load(Ordering::Relaxed), "memoryTicksAfter": memory, "fileTicksAfter": file,
        "leftovers": leftovers(), "threads": threads, "hijack": null})
}

fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(1) => "EPERM".into(),
        Some(3) => "ESRCH".into(),
        Some(13) => "EACCES".into(),
        Some(30) => "EROFS".into(),
        Some(2) => "ENOENT".into(),
        Some(n) => format!("errno {n}"),
        None => e.kind().to_string(),
    }
}

/// Frames as the runner and the agent speak them, for every run id a container's first calls have, and this
/// call's invocation id; the old protocol's shape too.
fn forged_frames() -> Vec<u8> {
    let output = json!({"forged": FORGED}).to_string();
    let ctx = context();
    let mut ids: Vec<String> = (1..=8).map(|i| i.to_string()).collect();
    ids.push(ctx["invocationId"].as_str().unwrap_or("").to_string());
    let mut out = Vec::new();
    for id in ids {
        let id = json!(id);
        out.extend_from_slice(format!("{{\"t\":\"result\",\"id\":{id},\"ok\":true,\"outputBytes\":{},\"logBytes\":0}}\n{output}", output.len()).as_bytes());
        out.extend_from_slice(format!("{{\"t\":\"end\",\"id\":{id}}}\n").as_bytes());
        out.extend_from_slice(format!("{{\"t\":\"result\",\"id\":{id},\"ok\":true,\"output\":{output},\"logs\":\"\",\"logsTruncated\":false}}\n").as_bytes());
        out.extend_from_slice(format!("{{\"t\":\"result\",\"id\":{id},\"ok\":false,\"error\":null,\"logBytes\":0}}\n").as_bytes());
    }
    out.extend_from_slice(b"{\"t\":\"ready\",\"runtime\":\"rust\",\"protocol\":2}\n{\"t\":\"init_ok\",\"logBytes\":0}\n");
    out
}

/// Bytes that are no frame: invalid UTF-8, NULs, a line separator, 100 KiB without a newline.
fn garbage() -> Vec<u8> {
    let mut out = vec![0xff, 0xfe, 0x00, 0xc3, 0x28, b'\n', 0xe2, 0x80, 0xa8, 0x00, 0x00];
    out.extend(std::iter::repeat(b'{').take(100 << 10));
    out
}

fn context() -> Value {
    // SAFETY: the wrapper returns a NUL-terminated string valid until this thread asks again.
    let text = unsafe { CStr::from_ptr(weft_context_json()) };
    serde_json::from_slice(text.to_bytes()).unwrap_or(Value::Null)
}

fn try_write(path: &str, create: bool) -> String {
    let opened = OpenOptions::new().append(true).create(create).open(path);
    match opened.and_then(|mut f| f.write_all(b"weft-was-here\n")) {
        Ok(()) => "written".into(),
        Err(e) => errno_name(&e),
    }
}

/// Writes everywhere but /tmp: every answer but "written" is a refusal.
fn write_outside() -> Value {
    let mut report = Map::new();
    for path in ["/weft-was-here", "/etc/weft-was-here", "/opt/weft/weft-was-here", "/opt/weft/layer/weft-was-here", "/var/weft-was-here", "/run/weft/weft-was-here", "/root/weft-was-here"] {
        report.insert(path.into(), json!(try_write(path, true)));
    }
    for path in ["/opt/weft/weft-runner", "/opt/weft/layer/weft-function", "/etc/passwd", "/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
        "/proc/sysrq-trigger", "/sys/fs/cgroup/release_agent", "/sys/kernel/uevent_helper", "/proc/1/environ", "/proc/1/mem"]
    {
        report.insert(path.into(), json!(try_write(path, false)));
    }
    json!({"genuine": true, "report": report, "control": try_write("/tmp/weft-was-here", true)})
}

/// Signals the runner (its parent) and pid 1 with everything that would stop or end them, then every process (-1).
fn signals() -> Value {
    // SAFETY: getppid cannot fail.
    let ppid = unsafe { getppid() };
    let mut targeted = Map::new();
    for (target, label) in [(ppid, "parent"), (1, "pid 1")] {
        for sig in [19, 15, 2, 1, 3, 10, 12, 9] {
            // SAFETY: kill with any pid and signal is safe to call; it fails or signals.
            let r = unsafe { kill(target, sig) };
            targeted.insert(format!("{label} {sig}"), json!(if r == 0 { "sent".into() } else { errno_name(&std::io::Error::last_os_error()) }));
        }
    }
    // SAFETY: as above; -1 is every process this one may signal, itself excepted.
    let everyone = [19, 9].map(|sig| unsafe { kill(-1, sig) });
    json!({"genuine": true, "parent": ppid, "targeted": targeted, "everyone": everyone})
}

fn fork_bomb() -> Value {
    let end = now_ms() + 2000;
    let mut forked = 0;
    while now_ms() < end {
        // SAFETY: the child only forks, ticks and spins, none of which allocates.
        match unsafe { fork() } {
            0 => loop {
                // SAFETY: as above.
                unsafe { fork() };
                tick();
                busy(2);
            },
            n if n > 0 => forked += 1,
            _ => break, // the pids limit
        }
    }
    json!({"started": true, "forked": forked, "containerId": container_id()})
}

fn thread_bomb() -> Value {
    let mut started = 0;
    for _ in 0..4096 {
        match std::thread::Builder::new().stack_size(64 << 10).spawn(|| spin_ticks()) {
            Ok(_) => started += 1,
            Err(_) => break,
        }
    }
    json!({"started": true, "threads": started, "containerId": container_id()})
}

fn leak_fork() -> Value {
    // SAFETY: the child only ticks and spins, none of which allocates.
    if unsafe { fork() } == 0 {
        spin_ticks();
    }
    json!({"started": true, "containerId": container_id()})
}

/// Swaps threads so that their count stays what the runner saw after init: a new thread waits until this call's
/// thread has ended (the raw exit system call ends one thread, without unwinding), answers the call in its place
/// on the result pipe, and then works whenever the worker runs, behind every later call.
fn swap_thread(call: u64) -> ! {
    let output = json!({"started": true, "containerId": container_id(), "swapped": true}).to_string();
    let frame = format!("{{\"t\":\"result\",\"id\":\"{call}\",\"ok\":true,\"outputBytes\":{},\"logBytes\":0}}\n{output}", output.len());
    // SAFETY: gettid takes no arguments.
    let tid = unsafe { syscall(SYS_GETTID) };
    std::thread::spawn(move || {
        let gone = format!("/proc/self/task/{tid}");
        let end = now_ms() + 5000;
        while fs::metadata(&gone).is_ok() && now_ms() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        raw_write(4, frame.as_bytes());
        spin_ticks();
    });
    // SAFETY: ends this thread only; it holds no lock the others need (the wrapper releases its queue before a call).
    unsafe { syscall(SYS_EXIT, 0) };
    unreachable!("exit returned");
}

#[inline(never)]
fn recurse(depth: u64, pad: [u8; 512]) -> u64 {
    let pad = std::hint::black_box(pad);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1, pad) + pad[depth as usize % 512] as u64
}

pub fn handler(event: Value) -> Result<Value, Boom> {
    let call = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    // The suite's probe of a function's next call is {"probe": true, ...}.
    let op = if event["probe"] == json!(true) { "probe" } else { event["op"].as_str().unwrap_or("") };
    match op {
        "probe" => Ok(probe(event["afterMs"].as_u64().unwrap_or(u64::MAX))),
        "echo" => Ok(json!({"genuine": true, "value": event["value"].clone()})),
        "forge-stdout" => {
            let forged = forged_frames();
            for fd in [1, 2] {
                raw_write(fd, &forged);
                raw_write(fd, &garbage());
            }
            print!("{}", String::from_utf8_lossy(&forged));
            eprint!("{}", String::from_utf8_lossy(&forged));
            Ok(json!({"genuine": true}))
        }
        "fd4" => {
            let frame = event["frame"].as_str().unwrap_or("");
            for id in 1..=8 {
                raw_write(4, frame.replace("ID", &id.to_string()).as_bytes());
            }
            Ok(json!({"genuine": true}))
        }
        "flood" => {
            let line = [b'x'; 1023];
            let mut out = std::io::stdout().lock();
            for _ in 0..(event["mb"].as_u64().unwrap_or(16) << 10) / 2 {
                let _ = out.write_all(&line);
                let _ = out.write_all(b"\n");
                raw_write(1, &line);
                raw_write(1, b"\n");
            }
            Ok(json!({"genuine": true}))
        }
        "memory" => {
            let mut kept: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                for i in (0..chunk.len()).step_by(4096) {
                    chunk[i] = 1;
                }
                kept.push(std::hint::black_box(chunk));
            }
        }
        "write-outside" => Ok(write_outside()),
        "signals" => Ok(signals()),
        "fork-bomb" => Ok(fork_bomb()),
        "thread-bomb" => Ok(thread_bomb()),
        "leak-fork" => Ok(leak_fork()),
        "leak-thread" => {
            std::thread::spawn(|| spin_ticks());
            Ok(json!({"started": true, "containerId": container_id()}))
        }
        "swap-thread" => swap_thread(call),
        "thread-then-hang" => {
            std::thread::spawn(|| spin_ticks());
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "loop" => loop {
            std::hint::black_box(0);
        },
        "panic" => panic!("on purpose {}", event["n"]),
        "panic-nasty-payload" => std::panic::panic_any(NastyPayload),
        "long-error" => Err(Boom(event["unit"].as_str().unwrap_or("e").repeat(event["times"].as_u64().unwrap_or(1 << 20) as usize))),
        "abort" => std::process::abort(),
        "exit" => std::process::exit(0),
        "segfault" => {
            // SAFETY: none; a write to an unmapped page, on purpose.
            unsafe { (8 as *mut u8).write_volatile(1) };
            Ok(json!({"genuine": true}))
        }
        "stack-overflow" => Ok(json!(recurse(0, [1; 512]))),
        _ => Err(Boom(format!("unknown op {op}"))),
    }
}
