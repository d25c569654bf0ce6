//! `hello`: Wharf's demo program and end-to-end test guest.
//!
//! The same source builds for wasm32-wasip1 (a module), wasm32-wasip2 (a
//! component) and x86_64-unknown-linux-musl (a static Linux binary), so the
//! same test can run against every kind of container.
//!
//! Usage: `hello [COMMAND ARGS...]`; without a command it prints a greeting.
//! See `run` below for the commands.

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::process::exit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(target_family = "wasm")]
const GREETING: &str = "Hello from WebAssembly!";
#[cfg(not(target_family = "wasm"))]
const GREETING: &str = "Hello from Linux!";

fn main() {
    // A WASI libc starts in `/` (p1 has no working directory, and wasi-libc
    // ignores p2's initial-cwd); Wharf exports a workdir other than `/` as
    // PWD (the convention Go's wasip1 port uses).
    if let Ok(pwd) = std::env::var("PWD") {
        if !pwd.is_empty() {
            let _ = std::env::set_current_dir(&pwd);
        }
    }
    let args: Vec<String> = std::env::args().collect();
    let code = run(&args);
    let _ = io::stdout().flush();
    exit(code);
}

/// Prints `msg` on stderr and returns exit code 1.
fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("hello: {msg}");
    1
}

fn arg(args: &[String], i: usize, what: &str) -> Result<String, i32> {
    args.get(i)
        .cloned()
        .ok_or_else(|| fail(format!("missing argument: {what}")))
}

fn run(args: &[String]) -> i32 {
    match inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn inner(args: &[String]) -> Result<i32, i32> {
    let mut out = io::stdout().lock();
    let Some(cmd) = args.get(1) else {
        println!("{GREETING}");
        return Ok(0);
    };
    match cmd.as_str() {
        "echo" => println!("{}", args[2..].join(" ")),
        "args" => {
            for a in args {
                println!("{a}");
            }
        }
        "env" => {
            let mut vars: Vec<(String, String)> = std::env::vars().collect();
            vars.sort();
            for (k, v) in vars {
                println!("{k}={v}");
            }
        }
        "cat" => {
            let path = arg(args, 2, "PATH")?;
            let data = std::fs::read(&path).map_err(|e| fail(format!("{path}: {e}")))?;
            out.write_all(&data).map_err(fail)?;
        }
        "ls" => {
            let dir = args.get(2).cloned().unwrap_or_else(|| ".".into());
            let entries = std::fs::read_dir(&dir).map_err(|e| fail(format!("{dir}: {e}")))?;
            let mut names = Vec::new();
            for e in entries {
                let e = e.map_err(|e| fail(format!("{dir}: {e}")))?;
                names.push(e.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            for n in names {
                println!("{n}");
            }
        }
        "write" => {
            let path = arg(args, 2, "PATH")?;
            let text = args[3..].join(" ");
            std::fs::write(&path, text).map_err(|e| fail(format!("{path}: {e}")))?;
        }
        "rename" => {
            let from = arg(args, 2, "FROM")?;
            let to = arg(args, 3, "TO")?;
            std::fs::rename(&from, &to).map_err(|e| fail(format!("rename {from} {to}: {e}")))?;
        }
        "pwd" => {
            let dir = std::env::current_dir().map_err(|e| fail(format!("pwd: {e}")))?;
            println!("{}", dir.display());
        }
        "stdin" => {
            let mut buf = Vec::new();
            io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| fail(format!("stdin: {e}")))?;
            out.write_all(&buf).map_err(fail)?;
        }
        "exit" => {
            let n = arg(args, 2, "N")?;
            return n.parse().map_err(|_| fail(format!("bad exit code: {n}")));
        }
        "stderr" => eprintln!("{}", args[2..].join(" ")),
        "trap" => {
            let _ = out.flush();
            std::process::abort();
        }
        "spin" => {
            let mut x: u64 = 0;
            loop {
                x = black_box(x.wrapping_add(1));
            }
        }
        "alloc" => {
            let mb: usize = arg(args, 2, "MB")?
                .parse()
                .map_err(|_| fail("MB must be a number"))?;
            let mut v: Vec<u8> = vec![0; mb << 20];
            // Touch every page so the memory is really committed.
            for i in (0..v.len()).step_by(4096) {
                v[i] = (i as u8) | 1;
            }
            black_box(&v);
            println!("allocated {mb} MiB");
        }
        "recurse" => {
            println!("depth {}", recurse(1));
        }
        "sleep" => {
            let secs: f64 = arg(args, 2, "SECS")?
                .parse()
                .map_err(|_| fail("SECS must be a number"))?;
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
        "lookup" => {
            // Name resolution as the container sees it (its network's DNS).
            use std::net::ToSocketAddrs;
            let name = arg(args, 2, "NAME")?;
            let addrs = (name.as_str(), 0)
                .to_socket_addrs()
                .map_err(|e| fail(format!("lookup {name}: {e}")))?;
            for a in addrs {
                writeln!(out, "{}", a.ip()).map_err(fail)?;
            }
        }
        "connect" => {
            // Sends one line to HOST:PORT and prints the first line back.
            use std::io::BufRead;
            let to = arg(args, 2, "HOST:PORT")?;
            let line = args.get(3).cloned().unwrap_or_else(|| "ping".into());
            let mut s = std::net::TcpStream::connect(to.as_str())
                .map_err(|e| fail(format!("connect {to}: {e}")))?;
            writeln!(s, "{line}").map_err(fail)?;
            let mut reply = String::new();
            io::BufReader::new(s).read_line(&mut reply).map_err(fail)?;
            write!(out, "{reply}").map_err(fail)?;
        }
        "serve" => {
            // Answers each connection's first line with `echo: LINE`, N times.
            use std::io::BufRead;
            let port = arg(args, 2, "PORT")?;
            let n: u32 = args
                .get(3)
                .map_or(Ok(1), |n| n.parse())
                .map_err(|_| fail("N must be a number"))?;
            let listener = std::net::TcpListener::bind(format!("0.0.0.0:{port}"))
                .map_err(|e| fail(format!("listen on {port}: {e}")))?;
            writeln!(out, "listening on {port}").map_err(fail)?;
            out.flush().map_err(fail)?;
            for _ in 0..n {
                let (mut s, _) = listener.accept().map_err(fail)?;
                let mut line = String::new();
                io::BufReader::new(&mut s)
                    .read_line(&mut line)
                    .map_err(fail)?;
                write!(s, "echo: {line}").map_err(fail)?;
            }
        }
        "tick" => {
            let n: u32 = arg(args, 2, "N")?
                .parse()
                .map_err(|_| fail("N must be a number"))?;
            for i in 1..=n {
                writeln!(out, "tick {i}").map_err(fail)?;
                out.flush().map_err(fail)?;
                if i < n {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        _ => {
            println!("{GREETING}");
            println!("args: {}", args[1..].join(" "));
        }
    }
    out.flush().map_err(fail)?;
    Ok(0)
}

/// Where `recurse` would stop: never, but the compiler cannot know that.
static STOP_DEPTH: AtomicU64 = AtomicU64::new(u64::MAX);

/// Recurses until the stack runs out. The runtime-unknown stop condition and
/// the work after the call keep the compiler from turning it into a loop. It
/// keeps everything in locals (no address-taken data), so on Wasm it exhausts
/// the engine's call stack rather than walking off the shadow stack in linear
/// memory.
#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == STOP_DEPTH.load(Ordering::Relaxed) {
        return n;
    }
    let deeper = recurse(n.wrapping_add(1));
    deeper.rotate_left(7) ^ n
}
