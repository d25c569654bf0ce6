//! `cli-p3`: a WASI 0.3 command. `run` prints its arguments and the
//! environment variable `GREETING`, lists `/data` when it exists, and
//! fails (exit status 1, `run` returning `err`) when an argument is `fail`.
#![cfg(target_os = "wasi")]

wasip3::cli::command::export!(Command);

struct Command;

impl wasip3::exports::cli::run::Guest for Command {
    async fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args().collect();
        println!("p3 args: {}", args[1..].join(" "));
        if let Ok(greeting) = std::env::var("GREETING") {
            println!("p3 GREETING={greeting}");
        }
        if let Ok(entries) = std::fs::read_dir("/data") {
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            println!("p3 /data: {}", names.join(" "));
        }
        if args.iter().any(|a| a == "fail") {
            return Err(());
        }
        Ok(())
    }
}
