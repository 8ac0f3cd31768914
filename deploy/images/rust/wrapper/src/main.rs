// weft-function: Weft's worker for the rust runtime, linked with the user's library crate (`function`, renamed by
// the manifest Weft writes) into one binary. It speaks the worker side of the container protocol
// (deploy/images/PROTOCOL.md): frames in on fd 3, frames out on fd 4, stray output on fd 1 and 2, which the runner
// attributes to the oldest call in flight. Nothing here is trusted by the runner: it re-checks every frame.
//
// `concurrency` threads are started before init_ok, so the runner's baseline thread count includes them and a
// thread a handler leaves running retires the container.
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::fmt::Display;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::FromRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const CTL_FD: i32 = 3;
const RES_FD: i32 = 4;
const MAX_HEADER: usize = 64 * 1024;
/**
 * An error's type and message are cut to these (the runner's own cuts), so that a result header stays under
 * MAX_HEADER: an Err or a panic with a long message is a handler error, not a protocol violation.
 */
const MAX_ERROR_TYPE: usize = 200;
const MAX_ERROR_MESSAGE: usize = 16 << 10;
/** A message of control characters grows sixfold as JSON (`\u0001`): it is cut further until it fits this. */
const MAX_ERROR_MESSAGE_JSON: usize = 32 << 10;
/** Events and outputs nest up to 1,000 levels; serde_json recurses, so the call threads get room for it. */
const CALL_STACK_BYTES: usize = 64 << 20;

struct Call {
    id: String,
    ctx: Value,
    event: Vec<u8>,
}

struct Limits {
    output: usize,
}

thread_local! {
    /** The call this thread is running: its context, for weft_context_json. */
    static CONTEXT: RefCell<(Value, CString)> = RefCell::new((Value::Null, CString::default()));
}

/// The current call's context as JSON (invocationId, functionName, functionVersion, memoryMb, deadline,
/// remainingMs, traceId, attempt, rustc), NUL-terminated and valid until this thread's next call of it. The
/// handler's signature has no context; a function that wants it declares
/// `extern "C" { fn weft_context_json() -> *const std::ffi::c_char; }` (see the README).
#[no_mangle]
pub extern "C" fn weft_context_json() -> *const c_char {
    CONTEXT.with(|c| {
        let mut c = c.borrow_mut();
        let mut ctx = c.0.clone();
        if let Value::Object(map) = &mut ctx {
            let deadline = map.get("deadline").and_then(Value::as_f64).unwrap_or(0.0);
            map.insert("remainingMs".into(), json!((deadline - now_ms()).max(0.0).round() as i64));
            if let Some(v) = map.remove("version") {
                map.insert("functionVersion".into(), v);
            }
            map.insert("rustc".into(), json!(env!("WEFT_RUSTC_VERSION")));
        }
        c.1 = CString::new(ctx.to_string()).unwrap_or_default();
        c.1.as_ptr()
    })
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

struct Results(Mutex<File>);

impl Results {
    fn send(&self, header: &Value, payloads: &[&[u8]]) {
        let mut buf = header.to_string().into_bytes();
        buf.push(b'\n');
        for p in payloads {
            buf.extend_from_slice(p);
        }
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if out.write_all(&buf).is_err() {
            std::process::exit(1); // the runner is gone
        }
    }
}

/// The last segment of a type's path, generics dropped: `alloc::string::String` -> `String`.
fn short_type_name<E>() -> String {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_string()
}

fn error_result<E: Display>(result: Result<Value, E>) -> Result<Value, (String, String)> {
    result.map_err(|e| (short_type_name::<E>(), e.to_string()))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the handler panicked".to_string()
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Drops a caught panic's payload. Its drop is the handler's code and may panic in turn, which would end this call
/// thread with the call unanswered: that panic is caught too, and its own payload forgotten, never dropped.
fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

fn parse_event(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    let v = serde::Deserialize::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

fn run_call(call: Call, limits: &Limits, results: &Results) {
    CONTEXT.with(|c| c.borrow_mut().0 = call.ctx);
    let outcome: Result<Value, (String, String)> = match parse_event(&call.event) {
        Err(e) => Err(("EventNotJson".into(), e.to_string())),
        Ok(event) => match catch_unwind(AssertUnwindSafe(|| error_result(function::handler(event)))) {
            Ok(r) => r,
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                drop_payload(payload);
                Err(("Panic".into(), message))
            }
        },
    };
    // print! without a newline stays in Rust's buffer: out before the answer, so the runner has it.
    let _ = std::io::stdout().flush();
    match outcome {
        Ok(value) => match serde_json::to_vec(&value) {
            Ok(out) if out.len() > limits.output => send_error(results, &call.id, "OutputTooLarge", &format!("the output is {} bytes, over the limit of {}", out.len(), limits.output)),
            Ok(out) => results.send(&json!({"t": "result", "id": call.id, "ok": true, "outputBytes": out.len(), "logBytes": 0}), &[&out]),
            Err(e) => send_error(results, &call.id, "OutputNotJson", &e.to_string()),
        },
        Err((kind, message)) => send_error(results, &call.id, &kind, &message),
    }
    // A deep Value is dropped here, on this thread's large stack.
}

fn send_error(results: &Results, id: &str, kind: &str, message: &str) {
    let mut message = clip(message, MAX_ERROR_MESSAGE);
    while json!(message).to_string().len() > MAX_ERROR_MESSAGE_JSON {
        message = clip(message, message.len() / 2);
    }
    let error = json!({"type": clip(kind, MAX_ERROR_TYPE), "message": message});
    results.send(&json!({"t": "result", "id": id, "ok": false, "error": error, "logBytes": 0}), &[]);
}

fn read_frame(ctl: &mut BufReader<File>) -> Option<(Value, Vec<u8>)> {
    let mut line = Vec::new();
    let n = ctl.by_ref().take(MAX_HEADER as u64 + 1).read_until(b'\n', &mut line).ok()?;
    if n == 0 || line.last() != Some(&b'\n') {
        return None;
    }
    let header: Value = serde_json::from_slice(&line).ok()?;
    let bytes = match header["t"].as_str() {
        Some("init") => header["codeBytes"].as_u64(),
        Some("run") => header["eventBytes"].as_u64(),
        _ => Some(0),
    }
    .unwrap_or(0) as usize;
    let mut payload = vec![0u8; bytes];
    ctl.read_exact(&mut payload).ok()?;
    Some((header, payload))
}

fn start_pool(n: usize, limits: Arc<Limits>, results: Arc<Results>) -> std::sync::mpsc::Sender<Call> {
    let (tx, rx) = channel::<Call>();
    let rx: Arc<Mutex<Receiver<Call>>> = Arc::new(Mutex::new(rx));
    for i in 0..n.max(1) {
        let (rx, limits, results) = (rx.clone(), limits.clone(), results.clone());
        std::thread::Builder::new()
            .name(format!("weft-call-{i}"))
            .stack_size(CALL_STACK_BYTES)
            .spawn(move || loop {
                let call = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                    Ok(c) => c,
                    Err(_) => return,
                };
                run_call(call, &limits, &results);
            })
            .expect("starting a call thread");
    }
    tx
}

fn main() {
    // Under memory pressure the kernel picks this process, never the runner.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    // SAFETY: fds 3 and 4 are the pipes the runner gave this process; nothing else owns them.
    let (ctl, res) = unsafe { (File::from_raw_fd(CTL_FD), File::from_raw_fd(RES_FD)) };
    let results = Arc::new(Results(Mutex::new(res)));
    let mut ctl = BufReader::with_capacity(1 << 16, ctl);
    results.send(&json!({"t": "up"}), &[]);
    let mut calls = None;
    while let Some((header, payload)) = read_frame(&mut ctl) {
        match header["t"].as_str() {
            Some("init") if calls.is_none() => {
                drop(payload); // the code is compiled in; the bundle's files are not needed at run time
                if let Some(env) = header["env"].as_object() {
                    for (k, v) in env {
                        if let Some(v) = v.as_str() {
                            std::env::set_var(k, v);
                        }
                    }
                }
                let limits = Arc::new(Limits { output: header["outputLimit"].as_u64().unwrap_or(6 << 20) as usize });
                let n = header["concurrency"].as_u64().unwrap_or(1) as usize;
                calls = Some(start_pool(n, limits, results.clone()));
                results.send(&json!({"t": "init_ok", "logBytes": 0}), &[]);
            }
            Some("run") => {
                let Some(tx) = &calls else { break };
                let id = header["id"].as_str().unwrap_or("").to_string();
                let _ = tx.send(Call { id, ctx: header["ctx"].clone(), event: payload });
            }
            _ => break,
        }
    }
    std::process::exit(0);
}
