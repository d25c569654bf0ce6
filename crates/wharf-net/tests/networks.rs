//! The network store: create, look up, list, remove, prune. Only files are
//! touched (nothing is set up on the host until a container attaches), so
//! these need neither root nor netavark.

use std::net::Ipv4Addr;

use wharf_net::{Error, Ipv4Cidr, NetworkOptions, Networks, DEFAULT_NETWORK};

struct Store {
    _dir: tempfile::TempDir,
    networks: Networks,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let networks = Networks::open(&dir.path().join("networks"), &dir.path().join("run"))
        .unwrap()
        .with_interface_prefix("wnt")
        .unwrap();
    Store {
        _dir: dir,
        networks,
    }
}

fn names(networks: &Networks) -> Vec<String> {
    let list = networks.list().unwrap();
    list.iter().map(|n| n.name().to_string()).collect()
}

fn with_subnet(subnet: &str) -> NetworkOptions {
    NetworkOptions {
        subnet: Some(subnet.parse().unwrap()),
        ..NetworkOptions::default()
    }
}

#[test]
fn create_get_list_and_the_defaults() {
    let store = store();
    let nets = &store.networks;
    let a = nets.create("alpha", &NetworkOptions::default()).unwrap();
    let b = nets.create("beta", &NetworkOptions::default()).unwrap();
    for n in [&a, &b] {
        assert_eq!(n.subnet().prefix_len(), 24, "{n:?}");
        assert!(n.subnet().to_string().starts_with("10.89."), "{n:?}");
        assert_eq!(n.gateway(), n.subnet().first_host());
        assert!(n.dns_enabled() && !n.internal());
        assert_eq!(n.id().len(), 64);
    }
    assert!(!a.subnet().overlaps(&b.subnet()));
    assert_eq!((a.interface(), b.interface()), ("wnt0", "wnt1"));

    assert_eq!(nets.get("alpha").unwrap(), a);
    assert_eq!(nets.get(&a.id()[..12]).unwrap(), a);
    assert!(matches!(nets.get("gamma"), Err(Error::NetworkNotFound(_))));
    assert_eq!(names(nets), ["alpha", "beta"]);

    // A store of its own (interface prefix "wnt"): its default network is a
    // /24 of 10.100-199.x, not the host default store's 10.88.0.0/16.
    let default = nets.ensure_default().unwrap();
    assert_eq!(default.name(), DEFAULT_NETWORK);
    let subnet = default.subnet();
    let [ten, second, _, _] = subnet.network().octets();
    assert_eq!((ten, subnet.prefix_len()), (10, 24), "{subnet}");
    assert!((100..200).contains(&second), "{subnet}");
    assert!(!subnet.overlaps(&"10.88.0.0/16".parse::<Ipv4Cidr>().unwrap()));
    assert_eq!(default.gateway(), subnet.first_host());
    assert_eq!(nets.ensure_default().unwrap(), default, "created once");

    let docker = a.docker_json(&nets.attachments("alpha").unwrap());
    assert_eq!(docker["Name"], "alpha");
    assert_eq!(docker["Driver"], "bridge");
    assert_eq!(
        docker["IPAM"]["Config"][0]["Gateway"],
        a.gateway().to_string()
    );
    assert_eq!(docker["Containers"], serde_json::json!({}));
}

#[test]
fn explicit_subnet_gateway_and_internal() {
    let store = store();
    let options = NetworkOptions {
        subnet: Some("10.231.50.0/24".parse().unwrap()),
        gateway: Some(Ipv4Addr::new(10, 231, 50, 254)),
        internal: true,
        dns_enabled: false,
    };
    let n = store.networks.create("inner", &options).unwrap();
    assert_eq!(n.gateway(), Ipv4Addr::new(10, 231, 50, 254));
    assert!(n.internal() && !n.dns_enabled());
    assert_eq!(n.docker_json(&[])["Internal"], true);

    let err = store
        .networks
        .create(
            "outside",
            &NetworkOptions {
                gateway: Some(Ipv4Addr::new(10, 231, 52, 1)),
                ..with_subnet("10.231.51.0/24")
            },
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "gateway 10.231.52.1 is not a host address of subnet 10.231.51.0/24"
    );
}

#[test]
fn clear_errors_for_bad_names_duplicates_and_overlaps() {
    let store = store();
    let nets = &store.networks;
    nets.create("web", &with_subnet("10.231.60.0/24")).unwrap();
    let err = nets
        .create("web", &with_subnet("10.231.61.0/24"))
        .unwrap_err();
    assert_eq!(err.to_string(), "network web already exists");
    let err = nets
        .create("wide", &with_subnet("10.231.0.0/16"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "subnet 10.231.0.0/16 overlaps with subnet 10.231.60.0/24 of network web"
    );
    let err = nets.create("-bad", &NetworkOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid network name \"-bad\""),
        "{err}"
    );
    let err = nets.create("none", &NetworkOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "network name \"none\" is reserved");
    assert!(nets.list().unwrap().len() == 1);
}

#[test]
fn remove_and_prune_keep_the_default_network() {
    let store = store();
    let nets = &store.networks;
    nets.ensure_default().unwrap();
    let one = nets.create("one", &NetworkOptions::default()).unwrap();
    nets.create("two", &NetworkOptions::default()).unwrap();
    nets.create("three", &NetworkOptions::default()).unwrap();

    let err = nets.remove(DEFAULT_NETWORK).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the default network bridge cannot be removed"
    );
    nets.remove(&one.id()[..10]).unwrap();
    assert!(matches!(nets.remove("one"), Err(Error::NetworkNotFound(_))));

    let mut pruned = nets.prune().unwrap();
    pruned.sort();
    assert_eq!(pruned, ["three", "two"]);
    assert_eq!(names(nets), [DEFAULT_NETWORK]);
    assert_eq!(nets.prune().unwrap(), Vec::<String>::new());
}

#[test]
fn attach_refuses_bad_requests_before_touching_the_host() {
    use wharf_net::{AttachRequest, NetworkRequest};
    let store = store();
    let nets = &store.networks;
    nets.create("net", &with_subnet("10.231.70.0/24")).unwrap();
    let request = |id: &str, name: &str, network: &str, ip: Option<[u8; 4]>| AttachRequest {
        container_id: id.to_string(),
        container_name: name.to_string(),
        networks: vec![NetworkRequest {
            name: network.to_string(),
            aliases: vec![],
            static_ip: ip.map(Ipv4Addr::from),
        }],
        ports: vec![],
        poolable: false,
    };
    for (req, message) in [
        (
            request("../x", "c", "net", None),
            "invalid container id \"../x\"",
        ),
        (
            request("c1", "bad name", "net", None),
            "invalid container name \"bad name\"",
        ),
        (request("c1", "c", "nope", None), "network nope not found"),
        (
            request("c1", "c", "net", Some([10, 231, 71, 5])),
            "IP 10.231.71.5 is not a host address of subnet 10.231.70.0/24 of network net",
        ),
        (
            request("c1", "c", "net", Some([10, 231, 70, 1])),
            "IP 10.231.70.1 is the gateway of network net",
        ),
    ] {
        let err = nets.attach(&req).unwrap_err().to_string();
        assert!(err.starts_with(message), "{err}");
    }
    let mut twice = request("c1", "c", "net", None);
    twice.networks.push(twice.networks[0].clone());
    assert_eq!(
        nets.attach(&twice).unwrap_err().to_string(),
        "network net is given more than once"
    );
    assert!(nets.attachments("net").unwrap().is_empty());
    assert_eq!(nets.attached("c1").unwrap(), None);
}
