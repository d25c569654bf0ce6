use anyhow::Result;
use wharf_engine::Engine;

/// List a container's published ports, or the host address of one of them
#[derive(clap::Args)]
pub struct Args {
    /// The container's name or id
    container: String,
    /// A container port, optionally with its protocol (80, 80/tcp, 53/udp)
    private_port: Option<String>,
}

pub fn exec(engine: &Engine, a: Args) -> Result<i32> {
    let ports = engine.ports(&a.container)?;
    let want = a.private_port.as_deref().map(|p| match p.split_once('/') {
        Some((port, proto)) => (port.to_string(), proto.to_string()),
        None => (p.to_string(), "tcp".to_string()),
    });
    let mut shown = 0;
    for p in &ports {
        match &want {
            Some((port, proto)) => {
                if p.container_port.to_string() == *port && p.protocol == *proto {
                    println!("{}:{}", p.host_ip, p.host_port);
                    shown += 1;
                }
            }
            None => {
                println!(
                    "{}/{} -> {}:{}",
                    p.container_port, p.protocol, p.host_ip, p.host_port
                );
                shown += 1;
            }
        }
    }
    if let (Some(p), 0) = (&a.private_port, shown) {
        anyhow::bail!("no public port '{p}' published for {}", a.container);
    }
    Ok(0)
}
