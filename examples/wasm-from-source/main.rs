// A small WASI program, compiled inside `wharf build` by Debian's rustc
// (see Dockerfile). It shows it runs as a real WASI guest: its arguments,
// an environment variable the container sets, and a file from the image.
use std::env;
use std::fs;

fn main() {
    println!("Hello from Rust compiled to wasm32-wasi inside wharf build!");
    let args: Vec<String> = env::args().skip(1).collect();
    println!("args: {:?}", args);
    match env::var("GREETING") {
        Ok(v) => println!("GREETING={}", v),
        Err(_) => println!("GREETING is not set"),
    }
    match fs::read_to_string("/etc/built-by.txt") {
        Ok(text) => print!("/etc/built-by.txt: {}", text),
        Err(e) => println!("/etc/built-by.txt: {}", e),
    }
}
