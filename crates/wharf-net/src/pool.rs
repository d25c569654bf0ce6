//! Namespaces wired ahead of need: the fast path of a networked start.
//!
//! netavark's setup of one container costs 40-80 ms here (a process, netlink,
//! a dozen iptables runs), and the first and last container of a network pay
//! 200-400 ms more for the bridge and aardvark-dns. So a container that
//! leaves a network does not give its namespace back: while its network has
//! fewer than [`SLOTS_PER_NETWORK`] spare ones, the namespace, its veth, its
//! address and its DNS entry stay wired as a *slot*, and the next container
//! that asks for that network (one network, no fixed address, no published
//! port) takes it over: its record is renamed and its DNS entry renamed in
//! aardvark-dns's file (one signal to reload). Start and exit then cost
//! about a millisecond.
//!
//! What makes that safe:
//! - Only namespaces of containers that could not change them are kept
//!   ([`Attached::poolable`]: the engine says so; a container with
//!   NET_ADMIN, or privileged, is torn down as before), and only once the
//!   container is gone (its processes, and so its sockets, died with it).
//! - A slot's DNS entry answers only to the slot's own id, never to the
//!   name of the container that left it; netavark still knows the namespace
//!   by the id it was set up with ([`Attached::netavark_id`]), so its
//!   teardown finds everything.
//! - Slots do not outlive their use: a keeper process (started with the
//!   first slot, gone with the last) tears down slots idle for [`IDLE`];
//!   `network rm`/`prune` and a lost namespace (a reboot) drop them at once.
//!   A slot's record carries its network's definition, so the keeper needs
//!   nothing but the run-time dir.

use std::fs;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};

use crate::attach::AttachRequest;
use crate::error::{Error, IoContext, Result};
use crate::netavark::container_options;
use crate::netns;
use crate::state::{open_lock_file, Attached};
use crate::store::Networks;

/// Spare namespaces kept per network.
pub const SLOTS_PER_NETWORK: usize = 4;
/// How long a slot may wait for a container before it is torn down.
pub const IDLE: Duration = Duration::from_secs(20);

impl Networks {
    /// Hands a spare namespace of the requested network to `request`'s
    /// container, if there is one and the request can take it. Call with
    /// the lock held.
    pub(crate) fn take_slot(&self, request: &AttachRequest) -> Result<Option<Attached>> {
        let [wanted] = request.networks.as_slice() else {
            return Ok(None);
        };
        if !request.poolable || !request.ports.is_empty() {
            return Ok(None);
        }
        let network = self.get(&wanted.name)?;
        for slot in self.slots()? {
            let address = wanted.static_ip.unwrap_or(slot.interfaces[0].ip);
            if slot.interfaces[0].network != network.name() || slot.interfaces[0].ip != address {
                continue;
            }
            if !netns::is_live(&slot.netns) {
                // Lost (a reboot): clean up what netavark left, move on.
                let _ = self.tear_down_slot(&slot);
                continue;
            }
            let mut taken = slot.clone();
            taken.netavark_id = Some(slot.netavark_id().to_string());
            taken.container_id = request.container_id.clone();
            taken.container_name = request.container_name.clone();
            taken.interfaces[0].aliases = wanted.aliases.clone();
            taken.pooled_since = None;
            taken.networks = Vec::new();
            taken.netns = self.runtime.netns_path(&request.container_id);
            netns::relocate(&slot.netns, &taken.netns)?;
            let mut names = vec![taken.container_name.clone()];
            names.extend(taken.interfaces[0].aliases.iter().cloned());
            // The container's record first: a crash after it leaves two
            // records on one address, which detach of either undoes.
            self.runtime.write_record(&taken)?;
            self.runtime.remove_record(&slot.container_id)?;
            self.rename_dns(network.name(), slot.netavark_id(), &names)?;
            return Ok(Some(taken));
        }
        Ok(None)
    }

    /// Tears down the slots holding an address `request` asks for (a
    /// restarted container wants its address back), so it is free. Call
    /// with the lock held.
    pub(crate) fn free_requested_addresses(&self, request: &AttachRequest) -> Result<()> {
        for slot in self.slots()? {
            let interface = &slot.interfaces[0];
            let wanted = request.networks.iter().any(|n| {
                n.static_ip == Some(interface.ip)
                    && self
                        .get(&n.name)
                        .is_ok_and(|net| net.name() == interface.network)
            });
            if wanted {
                self.tear_down_slot(&slot)?;
            }
        }
        Ok(())
    }

    /// Keeps `attached`'s namespace as a slot if it may be kept and its
    /// network has room; true if it was kept. Call with the lock held.
    pub(crate) fn keep_as_slot(&self, attached: &Attached) -> Result<bool> {
        let [interface] = attached.interfaces.as_slice() else {
            return Ok(false);
        };
        // Without a keeper nothing would tear an idle slot down.
        if self.keeper.is_none()
            || !attached.poolable
            || !attached.ports.is_empty()
            || !netns::is_live(&attached.netns)
        {
            return Ok(false);
        }
        let Some(network) = self.load(&interface.network)? else {
            return Ok(false);
        };
        let spare = self
            .slots()?
            .iter()
            .filter(|s| s.interfaces[0].network == interface.network)
            .count();
        if spare >= SLOTS_PER_NETWORK {
            return Ok(false);
        }
        let slot_id = format!("pool-{}", random_hex(8)?);
        let mut slot = attached.clone();
        slot.netavark_id = Some(attached.netavark_id().to_string());
        slot.container_id = slot_id.clone();
        slot.container_name = slot_id.clone();
        slot.interfaces[0].aliases.clear();
        slot.pooled_since = Some(now());
        slot.networks = vec![network];
        slot.netns = self.runtime.netns_path(&slot_id);
        netns::relocate(&attached.netns, &slot.netns)?;
        // The leaving container's names stop resolving before anything else.
        self.rename_dns(&interface.network, attached.netavark_id(), &[slot_id])?;
        self.runtime.write_record(&slot)?;
        self.runtime.remove_record(&attached.container_id)?;
        self.start_keeper();
        Ok(true)
    }

    /// Tears down the slots idle for `idle` or more (all with zero), of
    /// `network` only when given; returns how many are left. Call with the
    /// lock held.
    pub(crate) fn reap_slots(&self, idle: Duration, network: Option<&str>) -> Result<usize> {
        let mut left = 0;
        for slot in self.slots()? {
            let old = now().saturating_sub(slot.pooled_since.unwrap_or(0)) >= idle.as_secs();
            let ours = network.is_none_or(|n| slot.interfaces[0].network == n);
            if old && ours {
                self.tear_down_slot(&slot)?;
            } else {
                left += 1;
            }
        }
        Ok(left)
    }

    /// The keeper's loop: tears down idle slots until there are none, then
    /// returns. Returns at once if another keeper runs.
    pub fn keep_slots(&self) -> Result<()> {
        let Some(_keeper) = self.keeper_lock()? else {
            return Ok(());
        };
        loop {
            std::thread::sleep(Duration::from_secs(2));
            let _lock = self.runtime.lock()?;
            if self.reap_slots(IDLE, None)? == 0 {
                // Still under the lock: a slot kept after this sees the
                // keeper's lock free (released on return) and starts another.
                return Ok(());
            }
        }
    }

    fn tear_down_slot(&self, slot: &Attached) -> Result<()> {
        let options = container_options(slot, &slot.networks);
        let torn_down = if options.is_empty() || !netns::is_live(&slot.netns) {
            Ok(())
        } else {
            self.netavark.teardown(&slot.netns, &options)
        };
        let removed = netns::remove(&slot.netns);
        self.runtime.remove_record(&slot.container_id)?;
        netns::unmount_if_empty(&self.runtime.netns_dir())?;
        torn_down.and(removed)
    }

    /// Every slot's record.
    fn slots(&self) -> Result<Vec<Attached>> {
        Ok(self
            .runtime
            .all_records()?
            .into_iter()
            .filter(|r| r.pooled_since.is_some() && r.interfaces.len() == 1)
            .collect())
    }

    /// The keeper's lock, if no keeper holds it (held while returned).
    fn keeper_lock(&self) -> Result<Option<Flock<std::fs::File>>> {
        let file = open_lock_file(&self.runtime.keeper_lock_path())?;
        Ok(Flock::lock(file, FlockArg::LockExclusiveNonblock).ok())
    }

    /// Starts a keeper unless one runs (it holds the keeper lock).
    fn start_keeper(&self) {
        let Some(command) = &self.keeper else {
            return;
        };
        // Free (taken and dropped at once): no keeper runs.
        if !matches!(self.keeper_lock(), Ok(Some(_))) {
            return;
        }
        use std::os::unix::process::CommandExt;
        let mut keeper = Command::new(&command[0]);
        keeper
            .args(&command[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own session: a Ctrl-C of the run that started it must
            // not end it.
            .process_group(0);
        // Reaped by init once this process has gone; nothing to wait for.
        let _ = keeper.spawn();
    }

    /// Renames the DNS entry netavark made for `netavark_id` on `network` to
    /// `names`, and has aardvark-dns reload. A network without DNS has no
    /// file: nothing to do.
    fn rename_dns(&self, network: &str, netavark_id: &str, names: &[String]) -> Result<()> {
        let config = self.netavark.config_dir.join("aardvark-dns");
        let path = config.join(network);
        if !path.exists() {
            return Ok(());
        }
        // netavark holds this lock while it edits the same files.
        let lock_path = self.netavark.config_dir.join("aardvark.lock");
        let _lock = Flock::lock(open_lock_file(&lock_path)?, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io(format!("locking {}", lock_path.display()), e.into()))?;
        let mut text = String::new();
        fs::File::open(&path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .context(|| format!("reading {}", path.display()))?;
        let renamed = rename_entry(&text, netavark_id, &names.join(","));
        let temp = config.join(format!(".{network}.{}", std::process::id()));
        fs::File::create(&temp)
            .and_then(|mut f| f.write_all(renamed.as_bytes()))
            .and_then(|()| fs::rename(&temp, &path))
            .context(|| format!("writing {}", path.display()))?;
        let pid = fs::read_to_string(config.join("aardvark.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGHUP,
            );
        }
        Ok(())
    }
}

/// aardvark-dns's network file with the names of the entry `id` replaced:
/// its first line is the network's resolvers, then one line per container,
/// `ID IPV4S IPV6S NAMES` (lists comma-separated, IPV6S often empty).
fn rename_entry(text: &str, id: &str, names: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(' ').collect();
        if n > 0 && fields.len() == 4 && fields[0] == id {
            out.push_str(&format!(
                "{} {} {} {names}",
                fields[0], fields[1], fields[2]
            ));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context(|| "reading /dev/urandom".to_string())?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_entry_named_is_renamed() {
        let text = "10.89.0.1\nabc 10.89.0.2  web,www\nabd 10.89.0.3  db\n";
        assert_eq!(
            rename_entry(text, "abc", "pool-1"),
            "10.89.0.1\nabc 10.89.0.2  pool-1\nabd 10.89.0.3  db\n"
        );
        // The resolvers line is never an entry, even if it looked like one.
        assert_eq!(rename_entry("abc\n", "abc", "x"), "abc\n");
    }
}
