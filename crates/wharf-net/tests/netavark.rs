//! wharf-net against the real netavark and aardvark-dns, as root: networks,
//! namespaces, DNS by name and alias, isolation between networks, published
//! ports, failures that leave nothing behind, and a host left as it was
//! (links, mounts, firewall). Skipped without root or netavark (setup.sh
//! installs it).
//!
//! Only 127.0.0.1 and the namespaces made here are ever contacted; aardvark
//! runs without forwarding, so no DNS query leaves the machine. Subnets are
//! 10.231.x.0/24, bridges `wnt<N>`, names `wnt-*`: clear of a user's own.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use wharf_net::{
    parse_publish, run_in_netns, AttachRequest, Attached, Error, NetworkOptions, NetworkRequest,
    Networks, DEFAULT_NETAVARK,
};

/// Each test compares host-wide state before and after: one at a time.
static HOST: Mutex<()> = Mutex::new(());

/// What identifies this file's traces in the firewall.
const TEST_MARKERS: [&str; 2] = ["10.231.", "wnt"];

/// Chains netavark creates once for all its networks and leaves, empty, when
/// the last one goes (Podman's too); only their network-specific rules
/// (which carry a test marker) must go.
const NETAVARK_SHARED_CHAINS: [&str; 7] = [
    "NETAVARK_FORWARD",
    "NETAVARK-HOSTPORT-DNAT",
    "NETAVARK-HOSTPORT-MASQ",
    "NETAVARK-HOSTPORT-SETMARK",
    "NETAVARK_ISOLATION_1",
    "NETAVARK_ISOLATION_2",
    "NETAVARK_ISOLATION_3",
];

fn can_run() -> bool {
    if !nix::unistd::geteuid().is_root() || !Path::new(DEFAULT_NETAVARK).exists() {
        eprintln!("skipping: needs root and netavark + aardvark-dns (apt-get install netavark aardvark-dns)");
        return false;
    }
    true
}

/// A store and runtime dir of its own; on drop (pass or fail) detaches the
/// containers and removes the networks it made.
struct Fixture {
    networks: Networks,
    containers: Vec<String>,
    network_names: Vec<String>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let networks = Networks::open(&dir.path().join("networks"), &dir.path().join("run"))
            .unwrap()
            .with_interface_prefix("wnt")
            .unwrap()
            .without_dns_forwarding();
        Fixture {
            networks,
            containers: Vec::new(),
            network_names: Vec::new(),
            dir,
        }
    }

    fn create(&mut self, name: &str, subnet: &str) {
        self.network_names.push(name.to_string());
        let options = NetworkOptions {
            subnet: Some(subnet.parse().unwrap()),
            ..NetworkOptions::default()
        };
        self.networks.create(name, &options).unwrap();
    }

    /// Attaches and reports how long it took.
    fn attach(&mut self, request: &AttachRequest) -> (wharf_net::Result<Attached>, Duration) {
        self.containers.push(request.container_id.clone());
        let start = Instant::now();
        let result = self.networks.attach(request);
        (result, start.elapsed())
    }

    fn detach(&self, id: &str) -> Duration {
        let start = Instant::now();
        self.networks.detach(id).unwrap();
        start.elapsed()
    }

    /// Files aardvark-dns left in this runtime dir: none once all are gone.
    fn aardvark_files(&self) -> Vec<String> {
        let dir = self.dir.path().join("run/netavark/aardvark-dns");
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = self.networks.detach(id);
        }
        for name in &self.network_names {
            let _ = self.networks.remove(name);
        }
    }
}

fn request(id: &str, network: &str, aliases: &[&str], ports: &[&str]) -> AttachRequest {
    AttachRequest {
        container_id: id.to_string(),
        container_name: id.to_string(),
        networks: vec![NetworkRequest {
            name: network.to_string(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            static_ip: None,
        }],
        ports: ports
            .iter()
            .flat_map(|p| parse_publish(p).unwrap())
            .collect(),
        poolable: false,
    }
}

/// The host state the tests must leave as they found it.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    links: BTreeSet<String>,
    mounts: BTreeSet<String>,
    firewall: BTreeSet<String>,
}

impl HostState {
    fn take() -> HostState {
        HostState {
            // "4: eth0: <FLAGS>": without counters or addresses that move.
            links: command_lines("ip", &["-o", "link", "show"])
                .map(|l| l.split(" mtu ").next().unwrap_or_default().to_string())
                .collect(),
            // Without the mount and parent ids.
            mounts: fs::read_to_string("/proc/self/mountinfo")
                .unwrap()
                .lines()
                .map(|l| l.splitn(3, ' ').nth(2).unwrap_or_default().to_string())
                .collect(),
            firewall: command_lines("iptables-save", &[])
                .filter(|l| l.starts_with('-') || l.starts_with(':'))
                .filter(|l| !is_builtin_chain(l))
                .filter(|l| {
                    TEST_MARKERS.iter().any(|m| l.contains(m))
                        || !NETAVARK_SHARED_CHAINS.iter().any(|c| l.contains(c))
                })
                .map(|l| strip_counters(&l))
                .collect(),
        }
    }

    /// Waits (the kernel frees a dead namespace's interfaces a moment later)
    /// up to 5 s for the host to be as `self`; then fails with the difference.
    fn assert_restored(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = HostState::take();
            if now == *self {
                return;
            }
            if Instant::now() > deadline {
                let mut report = String::new();
                for (what, before, after) in [
                    ("links", &self.links, &now.links),
                    ("mounts", &self.mounts, &now.mounts),
                    ("iptables", &self.firewall, &now.firewall),
                ] {
                    for gone in before.difference(after) {
                        report += &format!("{what}: - {gone}\n");
                    }
                    for added in after.difference(before) {
                        report += &format!("{what}: + {added}\n");
                    }
                }
                panic!("the host was not restored (- before only, + after only):\n{report}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

fn command_lines(program: &str, args: &[&str]) -> impl Iterator<Item = String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
}

fn is_builtin_chain(line: &str) -> bool {
    ["INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"]
        .iter()
        .any(|chain| line.starts_with(&format!(":{chain} ")))
}

/// ":CHAIN - [12:345]" -> ":CHAIN -".
fn strip_counters(line: &str) -> String {
    match line.rfind(" [") {
        Some(at) if line.ends_with(']') => line[..at].to_string(),
        _ => line.to_string(),
    }
}

/// Asks the DNS server at `server` for `name`'s A record from inside the
/// namespace at `netns`: None when it answers NXDOMAIN or with no address.
fn resolve(netns: &Path, server: Ipv4Addr, name: &str) -> Option<Ipv4Addr> {
    run_in_netns(netns, || {
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let id = 0x5742;
        let query = dns_query(id, name);
        // aardvark-dns may still be binding just after its first start.
        for _attempt in 0..10 {
            socket.send_to(&query, (server, 53)).unwrap();
            let mut reply = [0u8; 512];
            if let Ok(len) = socket.recv(&mut reply) {
                return first_a_record(&reply[..len], id);
            }
        }
        panic!("no answer from {server}:53 for {name}");
    })
    .unwrap()
}

/// A standard query, recursion desired, one question: `name` IN A.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

/// The first A record of a reply to query `id`.
fn first_a_record(reply: &[u8], id: u16) -> Option<Ipv4Addr> {
    assert_eq!(
        u16::from_be_bytes([reply[0], reply[1]]),
        id,
        "reply to another query"
    );
    let rcode = reply[3] & 0x0f;
    let questions = u16::from_be_bytes([reply[4], reply[5]]);
    let answers = u16::from_be_bytes([reply[6], reply[7]]);
    if rcode != 0 {
        return None;
    }
    let mut at = 12;
    let skip_name = |mut at: usize| -> usize {
        loop {
            match reply[at] {
                0 => return at + 1,
                len if len & 0xc0 == 0xc0 => return at + 2,
                len => at += 1 + len as usize,
            }
        }
    };
    for _ in 0..questions {
        at = skip_name(at) + 4;
    }
    for _ in 0..answers {
        at = skip_name(at);
        let kind = u16::from_be_bytes([reply[at], reply[at + 1]]);
        let len = u16::from_be_bytes([reply[at + 8], reply[at + 9]]) as usize;
        at += 10;
        if kind == 1 && len == 4 {
            return Some(Ipv4Addr::new(
                reply[at],
                reply[at + 1],
                reply[at + 2],
                reply[at + 3],
            ));
        }
        at += len;
    }
    None
}

/// A TCP server made inside `netns` that greets each connection with
/// `greeting`. The socket belongs to the namespace; the serving thread
/// need not.
fn serve_in(netns: &Path, port: u16, greeting: &'static str) {
    let listener = run_in_netns(netns, || TcpListener::bind(("0.0.0.0", port)).unwrap()).unwrap();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(greeting.as_bytes());
        }
    });
}

fn read_greeting(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

fn connect_from(netns: &Path, to: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    run_in_netns(netns, || {
        TcpStream::connect_timeout(&SocketAddr::from((to, port)), Duration::from_secs(1))
    })
    .unwrap()
}

/// Runs `body` with a fresh fixture, one test at a time, and then checks
/// that the host is as it was before (after the fixture's own cleanup).
fn with_host_checked(body: impl FnOnce(&mut Fixture)) {
    let _host = HOST.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let before = HostState::take();
    {
        let mut fx = Fixture::new();
        body(&mut fx);
    }
    before.assert_restored();
}

#[test]
fn containers_resolve_reach_and_publish_only_within_their_networks() {
    with_host_checked(|fx| {
        fx.create("wnt-a", "10.231.1.0/24");
        fx.create("wnt-b", "10.231.2.0/24");

        let (c1, first_a) = fx.attach(&request("wnt-c1", "wnt-a", &["wnt-web"], &[]));
        let (c2, second_a) = fx.attach(&request(
            "wnt-c2",
            "wnt-a",
            &["wnt-db"],
            &["127.0.0.1::8080"],
        ));
        let (c3, first_b) = fx.attach(&request("wnt-c3", "wnt-b", &[], &[]));
        let (c1, c2, c3) = (c1.unwrap(), c2.unwrap(), c3.unwrap());
        eprintln!("attach: first on a network {first_a:?}, second {second_a:?}, first on another {first_b:?}");

        let gateway_a = Ipv4Addr::new(10, 231, 1, 1);
        assert_eq!(c1.interfaces[0].ip, Ipv4Addr::new(10, 231, 1, 2));
        assert_eq!(c2.interfaces[0].ip, Ipv4Addr::new(10, 231, 1, 3));
        assert_eq!(c3.interfaces[0].ip, Ipv4Addr::new(10, 231, 2, 2));
        assert_eq!(c1.interfaces[0].name, "eth0");
        assert_eq!(c1.interfaces[0].gateway, gateway_a);
        assert_eq!(c1.interfaces[0].prefix_len, 24);
        assert_eq!(c1.interfaces[0].mac.len(), 17, "{c1:?}");
        assert_eq!(c1.nameservers, [gateway_a]);
        assert_eq!(c3.nameservers, [Ipv4Addr::new(10, 231, 2, 1)]);
        assert!(c1.netns.starts_with(fx.dir.path()));
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            mounts.contains(&format!(" {} ", c1.netns.display())),
            "netns not pinned"
        );
        assert_eq!(fx.networks.attached("wnt-c2").unwrap().as_ref(), Some(&c2));
        let published = c2.ports[0];
        assert_eq!(published.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_ne!(published.host_port, 0, "a host port was picked");
        assert_eq!(published.container_port, 8080);

        // DNS: names and aliases of the same network only.
        let c2_ip = c2.interfaces[0].ip;
        assert_eq!(resolve(&c1.netns, gateway_a, "wnt-c2"), Some(c2_ip));
        assert_eq!(resolve(&c1.netns, gateway_a, "wnt-db"), Some(c2_ip));
        assert_eq!(
            resolve(&c2.netns, gateway_a, "wnt-web"),
            Some(c1.interfaces[0].ip)
        );
        assert_eq!(resolve(&c1.netns, gateway_a, "wnt-c3"), None);
        assert_eq!(resolve(&c3.netns, c3.nameservers[0], "wnt-c1"), None);

        // Reachability: within a network yes, across networks no.
        serve_in(&c1.netns, 7000, "c1");
        serve_in(&c3.netns, 7000, "c3");
        let stream = connect_from(&c2.netns, c1.interfaces[0].ip, 7000)
            .expect("c2 reaches c1 on their network");
        assert_eq!(read_greeting(stream), "c1");
        let across = connect_from(&c1.netns, c3.interfaces[0].ip, 7000);
        assert!(across.is_err(), "c1 reached c3 on another network");

        // The published port, from the host.
        serve_in(&c2.netns, 8080, "c2 via the host");
        let stream = TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, published.host_port)),
            Duration::from_secs(2),
        )
        .expect("published port reachable on 127.0.0.1");
        assert_eq!(read_greeting(stream), "c2 via the host");

        // Refusals that touch nothing.
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy_port = busy.local_addr().unwrap().port();
        for (port, id) in [(busy_port, "wnt-c4"), (published.host_port, "wnt-c5")] {
            let spec = format!("127.0.0.1:{port}:80");
            let (result, took) = fx.attach(&request(id, "wnt-a", &[], &[&spec]));
            let err = result.unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("port {port} is already in use on 127.0.0.1")
            );
            assert!(took < Duration::from_secs(1), "took {took:?}");
            assert_eq!(fx.networks.attached(id).unwrap(), None);
            assert!(!fx.dir.path().join("run/netns").join(id).exists());
        }
        let mut taken_ip = request("wnt-c6", "wnt-a", &[], &[]);
        taken_ip.networks[0].static_ip = Some(c1.interfaces[0].ip);
        let err = fx.attach(&taken_ip).0.unwrap_err();
        assert_eq!(
            err.to_string(),
            "IP 10.231.1.2 is already in use on network wnt-a"
        );
        let err = fx
            .attach(&request("wnt-c1", "wnt-b", &[], &[]))
            .0
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyAttached(_)), "{err}");

        let err = fx.networks.remove("wnt-a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "network wnt-a is in use by container(s): wnt-c1, wnt-c2"
        );

        let attachments = fx.networks.attachments("wnt-a").unwrap();
        let names: Vec<&str> = attachments
            .iter()
            .map(|a| a.container_name.as_str())
            .collect();
        assert_eq!(names, ["wnt-c1", "wnt-c2"]);
        assert_eq!(attachments[1].aliases, ["wnt-db"]);
        assert_eq!(attachments[0].mac, c1.interfaces[0].mac);
        let docker = fx.networks.get("wnt-a").unwrap().docker_json(&attachments);
        assert_eq!(
            docker["Containers"]["wnt-c2"]["IPv4Address"],
            "10.231.1.3/24"
        );

        let detach_times: Vec<Duration> = ["wnt-c1", "wnt-c2", "wnt-c3"]
            .iter()
            .map(|id| fx.detach(id))
            .collect();
        eprintln!("detach: {detach_times:?} (the last of a network also removes its bridge and aardvark's entries)");
        fx.detach("wnt-c1");
        assert!(!c1.netns.exists());
        assert!(
            fx.aardvark_files().is_empty(),
            "aardvark-dns left {:?}",
            fx.aardvark_files()
        );
        fx.networks.remove("wnt-a").unwrap();
        fx.networks.remove("wnt-b").unwrap();
        assert!(fx.networks.list().unwrap().is_empty());
    });
}

#[test]
fn detach_cleans_up_after_the_namespace_was_lost() {
    with_host_checked(|fx| {
        fx.create("wnt-lost", "10.231.3.0/24");
        let (attached, _) = fx.attach(&request(
            "wnt-l1",
            "wnt-lost",
            &["wnt-alias"],
            &["127.0.0.1::80"],
        ));
        let attached = attached.unwrap();
        // As after a reboot or an `umount` by hand: the namespace dies, its
        // file stays behind, the bridge and firewall rules stay too.
        nix::mount::umount2(&attached.netns, nix::mount::MntFlags::MNT_DETACH).unwrap();
        assert!(attached.netns.exists());
        let took = fx.detach("wnt-l1");
        eprintln!("detach of a lost namespace: {took:?}");
        assert!(!attached.netns.exists());
        assert_eq!(fx.networks.attached("wnt-l1").unwrap(), None);
        assert!(
            fx.aardvark_files().is_empty(),
            "aardvark-dns left {:?}",
            fx.aardvark_files()
        );
        fx.networks.remove("wnt-lost").unwrap();
    });
}

#[test]
fn concurrent_attaches_get_distinct_addresses_and_ports() {
    with_host_checked(|fx| {
        fx.create("wnt-busy", "10.231.4.0/24");
        let ids: Vec<String> = (0..4).map(|i| format!("wnt-p{i}")).collect();
        fx.containers.extend(ids.iter().cloned());
        let attached: Vec<Attached> = thread::scope(|scope| {
            let handles: Vec<_> = ids
                .iter()
                .map(|id| {
                    // Separate handles, as separate `wharf run`s would have.
                    let networks = fx.networks.clone();
                    scope.spawn(move || {
                        networks.attach(&request(id, "wnt-busy", &[], &["127.0.0.1::80"]))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        let ips: BTreeSet<Ipv4Addr> = attached.iter().map(|a| a.interfaces[0].ip).collect();
        let ports: BTreeSet<u16> = attached.iter().map(|a| a.ports[0].host_port).collect();
        assert_eq!((ips.len(), ports.len()), (4, 4), "{attached:?}");
        for id in &ids {
            fx.detach(id);
        }
        fx.networks.remove("wnt-busy").unwrap();
    });
}

#[test]
fn a_failing_netavark_leaves_nothing_and_says_why() {
    with_host_checked(|fx| {
        fx.create("wnt-fail", "10.231.5.0/24");
        let fake = fx.dir.path().join("fake-netavark");
        fs::write(&fake, "#!/bin/sh\necho '{\"error\":\"boom\"}'\nexit 1\n").unwrap();
        fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let real_aardvark = Path::new(wharf_net::DEFAULT_AARDVARK_DNS);
        let failing = fx.networks.clone().with_binaries(&fake, real_aardvark);
        let err = failing
            .attach(&request("wnt-f1", "wnt-fail", &[], &["127.0.0.1::80"]))
            .unwrap_err();
        assert_eq!(err.to_string(), "netavark setup failed: boom");
        assert_eq!(fx.networks.attached("wnt-f1").unwrap(), None);
        assert!(!fx.dir.path().join("run/netns/wnt-f1").exists());

        let no_dns = fx
            .networks
            .clone()
            .with_binaries(Path::new(DEFAULT_NETAVARK), &fake.with_file_name("none"));
        let err = no_dns
            .attach(&request("wnt-f2", "wnt-fail", &[], &[]))
            .unwrap_err();
        assert!(
            err.to_string().contains("aardvark-dns not found at"),
            "{err}"
        );
        fx.containers
            .extend(["wnt-f1".to_string(), "wnt-f2".to_string()]);
        fx.networks.remove("wnt-fail").unwrap();
    });
}
