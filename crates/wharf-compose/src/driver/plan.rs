//! A service as `wharf run` options: the one place that maps the Compose
//! model onto the engine's flags, and the configuration hash that tells a
//! container made from the same configuration from a stale one.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use wharf_engine::{LinuxFlags, NetworkFlags, RunOptions};

use crate::{labels, MountKind, Port, Project, Service, ServiceKind};

/// The label holding [`Plan::hash`], Compose's own key.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// Marks a volume Wharf made for an anonymous volume entry (`- /data`);
/// the value is the service. `down -v` removes these with the named ones.
pub const ANONYMOUS_VOLUME: &str = "dev.wharf.compose.anonymous-volume";

/// What running one service takes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Detached `wharf run` options, labels (with the hash) included.
    pub run: RunOptions,
    /// Of everything that decides the container but the image's content
    /// (compared by image id separately).
    pub hash: String,
    /// Anonymous volumes to make first: (engine name, labels as KEY=VALUE).
    pub anonymous_volumes: Vec<(String, Vec<String>)>,
    /// Host directories of bind mounts with `create_host_path`.
    pub create_host_paths: Vec<String>,
    /// Keys set in the file that only mean something to a Linux container,
    /// for a warning should the service turn out to run as Wasm.
    pub linux_only: Vec<&'static str>,
}

/// The image a service runs: `image:`, else the name Compose gives a built
/// one, `<project>-<service>`.
pub fn image_name(project: &Project, service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{}-{}", project.name, service.name))
}

/// The platform to resolve the image for: `platform:`, else the Wasm one
/// when a containerd Wasm shim is named as `runtime:`.
pub fn platform(service: &Service) -> Option<String> {
    match (&service.platform, service.kind()) {
        (Some(p), _) => Some(p.clone()),
        (None, ServiceKind::Wasm) => Some("wasi/wasm".to_string()),
        (None, ServiceKind::FromImage) => None,
    }
}

/// The engine name of the anonymous volume a service mounts at `target`:
/// stable, so a recreated container finds the data of the one before it
/// (as Compose carries anonymous volumes over).
pub fn anonymous_volume_name(project: &Project, service: &Service, target: &str) -> String {
    let digest = hex::encode(Sha256::digest(target.as_bytes()));
    format!("{}_{}_anon_{}", project.name, service.name, &digest[..12])
}

/// `-p` for one port entry: `[HOST_IP:][HOST_PORT:]CONTAINER_PORT/PROTO`.
pub fn publish_flag(port: &Port) -> String {
    let target = format!("{}/{}", port.target, port.protocol);
    match (&port.host_ip, &port.published) {
        (Some(ip), Some(host)) => format!("{ip}:{host}:{target}"),
        (Some(ip), None) => format!("{ip}::{target}"),
        (None, Some(host)) => format!("{host}:{target}"),
        (None, None) => target,
    }
}

/// Builds the run options of `service` (its container detached, named,
/// labelled, on the project's networks).
pub fn plan(project: &Project, service: &Service) -> Plan {
    let mut volumes = Vec::new();
    let mut tmpfs = Vec::new();
    let mut anonymous_volumes = Vec::new();
    let mut create_host_paths = Vec::new();
    for mount in &service.volumes {
        let mode = if mount.read_only { ":ro" } else { "" };
        match (mount.kind, &mount.source) {
            (MountKind::Volume, Some(key)) => {
                let name = project
                    .volumes
                    .get(key)
                    .map_or_else(|| key.clone(), |v| v.name.clone());
                volumes.push(format!("{name}:{}{mode}", mount.target));
            }
            (MountKind::Volume, None) => {
                let name = anonymous_volume_name(project, service, &mount.target);
                let labels = vec![
                    format!("{}={}", labels::PROJECT, project.name),
                    format!("{ANONYMOUS_VOLUME}={}", service.name),
                ];
                anonymous_volumes.push((name.clone(), labels));
                volumes.push(format!("{name}:{}{mode}", mount.target));
            }
            (MountKind::Bind, Some(source)) => {
                if mount.bind.as_ref().is_some_and(|b| b.create_host_path) {
                    create_host_paths.push(source.clone());
                }
                volumes.push(format!("{source}:{}{mode}", mount.target));
            }
            (MountKind::Tmpfs, _) => tmpfs.push(mount.target.clone()),
            // The loader gives every bind mount its host path.
            (MountKind::Bind, None) => {}
        }
    }

    let mut network_names = Vec::new();
    let mut aliases: Vec<String> = Vec::new();
    for key in service.networks.keys() {
        let name = project
            .networks
            .get(key)
            .map_or_else(|| key.clone(), |n| n.name.clone());
        network_names.push(name);
        // The engine gives a container the same aliases on each of its
        // networks, so the union of the per-network lists is used.
        for alias in project.network_aliases(service, key) {
            if !aliases.contains(&alias) {
                aliases.push(alias);
            }
        }
    }

    let (entrypoint, mut args) = match service.entrypoint.as_deref() {
        None => (None, Vec::new()),
        Some([]) => (Some(String::new()), Vec::new()),
        Some([first, rest @ ..]) => (Some(first.clone()), rest.to_vec()),
    };
    args.extend(service.command.iter().flatten().cloned());

    let limits = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.limits.clone())
        .unwrap_or_default();
    let memory = limits.memory.or(service.mem_limit);

    let image = image_name(project, service);
    let hash = config_hash(project, service, &image, &network_names, &aliases);
    let mut container_labels = project.container_labels(service);
    container_labels.insert(CONFIG_HASH.to_string(), hash.clone());

    let mut linux_only = Vec::new();
    for (key, set) in [
        ("user", service.user.is_some()),
        ("cap_add", !service.cap_add.is_empty()),
        ("cap_drop", !service.cap_drop.is_empty()),
        ("security_opt", !service.security_opt.is_empty()),
        ("read_only", service.read_only),
        ("tmpfs mounts", !tmpfs.is_empty()),
        ("deploy.resources.limits.pids", limits.pids.is_some()),
    ] {
        if set {
            linux_only.push(key);
        }
    }

    let run = RunOptions {
        image,
        args,
        name: Some(project.container_name(service)),
        rm: false,
        detach: true,
        interactive: service.stdin_open,
        tty: service.tty,
        env: service
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        volumes,
        workdir: service.working_dir.clone(),
        entrypoint,
        memory: memory.map(|bytes| bytes.to_string()),
        platform: platform(service),
        network: NetworkFlags {
            network: (!network_names.is_empty()).then(|| network_names.join(",")),
            aliases,
            ip: None,
            publish: service.ports.iter().map(publish_flag).collect(),
            dns: service.dns.clone(),
            add_hosts: service.extra_hosts.clone(),
        },
        linux: LinuxFlags {
            cap_add: service.cap_add.clone(),
            cap_drop: service.cap_drop.clone(),
            security_opt: service.security_opt.clone(),
            read_only: service.read_only,
            cpus: limits.cpus,
            pids_limit: limits.pids,
            tmpfs,
            user: service.user.clone(),
            hostname: service.hostname.clone(),
            ..LinuxFlags::default()
        },
        labels: container_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        // Compose's spelling is the engine's (`on-failure:3`).
        restart: service.restart.map(|policy| policy.to_string()),
        // Recorded, so `wharf stop` outside compose stops it the same way.
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service
            .stop_grace_period
            .map(|d| d.as_secs().min(i64::MAX as u64) as i64),
        ..RunOptions::default()
    };
    Plan {
        run,
        hash,
        anonymous_volumes,
        create_host_paths,
        linux_only,
    }
}

/// sha256 of the service as `config` prints it, less what does not shape
/// its container (how its image is built, what it waits for; Compose
/// leaves out the same), plus the engine names it resolves to.
fn config_hash(
    project: &Project,
    service: &Service,
    image: &str,
    networks: &[String],
    aliases: &[String],
) -> String {
    let mut shaped = service.clone();
    shaped.build = None;
    shaped.depends_on = BTreeMap::new();
    let mut volumes: Vec<String> = service
        .volumes
        .iter()
        .filter_map(|m| m.source.as_ref())
        .filter_map(|key| project.volumes.get(key))
        .map(|v| v.name.clone())
        .collect();
    volumes.sort();
    let value = serde_json::json!({
        "service": shaped,
        "image": image,
        "container_name": project.container_name(service),
        "networks": networks,
        "aliases": aliases,
        "volumes": volumes,
    });
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load, LoadOptions};

    fn project(text: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("compose.yaml"), text).unwrap();
        load(&LoadOptions {
            working_dir: path,
            ..LoadOptions::default()
        })
        .unwrap()
    }

    const FILE: &str = r#"
services:
  gateway:
    image: web:wasm
    runtime: io.containerd.wasmtime.v1
    ports: ["127.0.0.1:8081:8080", "9000", "127.0.0.1::7000/udp"]
    environment: {BACKEND_URL: "http://backend:8080"}
    networks:
      front: {aliases: [gw]}
      back:
  backend:
    build: ./backend
    entrypoint: ["/bin/sh", "-c"]
    command: ["echo hi"]
    volumes: ["data:/data:ro", "/srv:/srv", "/cache"]
    mem_limit: 64m
    deploy: {resources: {limits: {cpus: "0.5", pids: 50}}}
    user: "1000"
    read_only: true
    cap_drop: [ALL]
    hostname: be
    extra_hosts: ["db:10.0.0.5"]
    dns: ["10.0.0.53"]
    depends_on: [gateway]
networks:
  front:
  back:
volumes:
  data:
"#;

    #[test]
    fn a_service_becomes_run_options() {
        let p = project(FILE);
        let gw = plan(&p, &p.services["gateway"]).run;
        assert_eq!(gw.name.as_deref(), Some("app-gateway-1"));
        assert_eq!(gw.image, "web:wasm");
        assert!(gw.detach && !gw.rm);
        assert_eq!(gw.platform.as_deref(), Some("wasi/wasm"), "from the shim");
        assert_eq!(gw.env, ["BACKEND_URL=http://backend:8080"]);
        assert_eq!(
            gw.network.publish,
            ["127.0.0.1:8081:8080/tcp", "9000/tcp", "127.0.0.1::7000/udp"]
        );
        assert_eq!(
            gw.network.network.as_deref(),
            Some("app_back,app_front"),
            "by key order"
        );
        assert_eq!(gw.network.aliases, ["gateway", "gw"]);
        assert!(gw
            .labels
            .contains(&"com.docker.compose.project=app".to_string()));
        assert!(gw
            .labels
            .contains(&"com.docker.compose.service=gateway".to_string()));
        assert!(gw.labels.iter().any(|l| l.starts_with(CONFIG_HASH)));

        let be = plan(&p, &p.services["backend"]);
        assert_eq!(be.run.image, "app-backend", "a built image's name");
        assert_eq!(be.run.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(be.run.args, ["-c", "echo hi"]);
        let anon = anonymous_volume_name(&p, &p.services["backend"], "/cache");
        assert_eq!(
            be.run.volumes,
            [
                "app_data:/data:ro".to_string(),
                "/srv:/srv".to_string(),
                format!("{anon}:/cache")
            ]
        );
        assert_eq!(be.anonymous_volumes[0].0, anon);
        assert_eq!(be.run.memory.as_deref(), Some("67108864"));
        assert_eq!(be.run.linux.cpus, Some(0.5));
        assert_eq!(be.run.linux.pids_limit, Some(50));
        assert_eq!(be.run.linux.user.as_deref(), Some("1000"));
        assert!(be.run.linux.read_only);
        assert_eq!(be.run.linux.cap_drop, ["ALL"]);
        assert_eq!(be.run.linux.hostname.as_deref(), Some("be"));
        assert_eq!(be.run.network.add_hosts, ["db:10.0.0.5"]);
        assert_eq!(be.run.network.dns, ["10.0.0.53"]);
        assert_eq!(be.run.network.network.as_deref(), Some("app_default"));
        assert_eq!(
            be.linux_only,
            [
                "user",
                "cap_drop",
                "read_only",
                "deploy.resources.limits.pids"
            ]
        );
    }

    #[test]
    fn the_hash_follows_the_configuration_but_not_build_or_depends_on() {
        let p = project(FILE);
        let base = plan(&p, &p.services["backend"]).hash;
        assert_eq!(base, plan(&p, &p.services["backend"]).hash, "stable");

        let mut changed = p.clone();
        let be = changed.services.get_mut("backend").unwrap();
        be.build.as_mut().unwrap().dockerfile = "Other".into();
        be.depends_on.clear();
        assert_eq!(plan(&changed, &changed.services["backend"]).hash, base);

        let be = changed.services.get_mut("backend").unwrap();
        be.environment.insert("X".into(), "1".into());
        assert_ne!(plan(&changed, &changed.services["backend"]).hash, base);

        let mut renamed = p.clone();
        renamed.volumes.get_mut("data").unwrap().name = "elsewhere".into();
        assert_ne!(plan(&renamed, &renamed.services["backend"]).hash, base);
    }
}
