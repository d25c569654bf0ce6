use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_a: &Args) -> Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&wharf_linux::features())?
    );
    Ok(0)
}
