use anyhow::Result;
use wharf_engine::Engine;

/// `wharf create`: run's flags, the container made but not started.
pub fn exec(engine: &Engine, a: super::run::Args) -> Result<i32> {
    let opts = a.into_options("create")?;
    if opts.detach {
        anyhow::bail!(
            "create does not take -d: it never starts the container; start it detached with wharf start"
        );
    }
    println!("{}", engine.create(&opts)?);
    Ok(0)
}
