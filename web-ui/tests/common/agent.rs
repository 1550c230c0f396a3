//! A node's agent on loopback, as the cluster's other nodes reach it: a real agent listener (mutual TLS
//! 1.3, cluster certificates only) on 127.0.0.1, in its own thread, with credentials from a cluster CA
//! the test keeps in a temporary directory.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use stackbox_cluster::agent::{Agent, AgentPaths};
use stackbox_cluster::coordinator::{Setup, ensure_own_credentials};
use stackbox_cluster::node::NODE_DIR;

/// 127.0.0.1.
pub const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A node's setup in `dir`: its state, and a cluster CA of its own under `dir/ca` unless `ca` names one.
pub fn setup(dir: &Path, ca: Option<&Path>, port: u16) -> Setup {
    let ca = ca.map_or_else(|| dir.join("ca"), Path::to_path_buf);
    std::fs::create_dir_all(&ca).unwrap();
    let paths = stackbox_installer::certificate::Paths {
        ca_cert: ca.join("ca.pem"),
        ca_key: ca.join("ca-key.pem"),
        endpoint: dir.join("endpoint.pem"),
    };
    stackbox_installer::certificate::ensure_ca(&paths.ca_cert, &paths.ca_key).unwrap();
    Setup {
        config: dir.join("cluster.toml"),
        state_dir: dir.to_owned(),
        secrets: dir.join("secrets.toml"),
        ca: paths,
        port,
    }
}

/// A node's agent on loopback; stopped when dropped.
pub struct RunningAgent {
    /// Where it listens (127.0.0.1, a free port).
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningAgent {
    /// node2's agent, with credentials from the CA in `ca` and its state in `dir`, probing the 4-NIC
    /// fixture machine.
    pub fn start(dir: &Path, ca: &Path) -> RunningAgent {
        RunningAgent::start_on(dir, ca, &super::machine("intel-server-4nic"), "node2")
    }

    /// The agent of the node `name` at 127.0.0.1, with credentials from the CA in `ca` and its state in
    /// `dir`, probing (and diagnosing) the machine at `root`.
    pub fn start_on(dir: &Path, ca: &Path, root: &Path, name: &str) -> RunningAgent {
        let node = setup(dir, Some(ca), 0);
        let creds = ensure_own_credentials(&node, name, LOOPBACK).unwrap();
        assert_eq!(creds, dir.join(NODE_DIR));
        let agent = Agent::new(AgentPaths {
            root: root.to_owned(),
            credentials: creds.clone(),
            state: dir.to_owned(),
            ..AgentPaths::default()
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (server, addrs) =
                    stackbox_web::agent::bind("127.0.0.1:0", &creds, agent).unwrap();
                tx.send((addrs[0], server.handle())).unwrap();
                server.await.unwrap();
            });
        });
        let (addr, handle) = rx.recv().expect("the agent's thread died");
        RunningAgent {
            addr,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let h = self.handle.clone();
        std::thread::spawn(move || super::futures_lite_block_on(h.stop(false)))
            .join()
            .ok();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}
