use crate::{Cli, Failure, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// table (ps output) or json (pids).
    #[arg(short, long, default_value = "table")]
    pub format: String,
    pub id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(cli: &Cli, a: &Args) -> Result<i32> {
    super::check_id(&a.id)?;
    let pids = wharf_linux::pids(&cli.root, &a.id).map_err(super::linux_err)?;
    match a.format.as_str() {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            Ok(0)
        }
        "table" => {
            let args = if a.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                a.ps_args.clone()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Failure::from(format!("running ps: {e}")))?;
            if !out.status.success() {
                return Err(Failure::from(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|c| c == "PID")
                .ok_or_else(|| Failure::from("ps output has no PID column"))?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
            Ok(0)
        }
        f => Err(Failure::from(format!(
            "invalid --format {f:?}: table or json"
        ))),
    }
}
