//! The OpenStack template context of a node: the shared [`Ctx`] plus what the OpenStack services' files
//! need (region, data plane, virtualization, transport URL, overcommit), the services' ports, database
//! URLs, public URLs and `[keystone_authtoken]` sections, and the OpenStack files rendered from it.

use std::ops::Deref;

use super::endpoints::{DASHBOARD_PATH, api_host, ports};
use crate::certificate::CA_CERT;
use crate::config::{ClusterConfig, Node};
use crate::plan::NodeFacts;
use crate::plan::infrastructure::{self, peers};
use crate::render::{Api, Ctx, Peer, templates};
use crate::secrets::placeholder;

/// The provider network as the agents see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderView {
    /// Physical network label.
    pub name: String,
    /// The NIC it is bridged to.
    pub nic: String,
}

/// Everything the OpenStack templates of one node need; the shared part through `Deref`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenStackCtx {
    /// The shared infrastructure's context.
    pub base: Ctx,
    /// OpenStack region.
    pub region: String,
    /// Data-plane (VXLAN) address.
    pub data_address: String,
    /// Data-plane NIC.
    pub data_nic: String,
    /// Whether this node runs the management plane.
    pub management: bool,
    /// Whether this node runs VMs.
    pub compute: bool,
    /// Whether this node runs in a system container.
    pub in_container: bool,
    /// CPUs online (0: not known); sizes the API services' workers.
    pub cpus: u32,
    /// `kvm` or `qemu`.
    pub virt_type: String,
    /// `rabbit://...` with the password as a placeholder.
    pub transport_url: String,
    /// The steps after which every bus node in `transport_url` is a member of the bus cluster: each
    /// joining node's `rabbitmq.join`. Until then a new node's RabbitMQ runs alone without the
    /// cluster's users, and a service that reaches it is refused (`ACCESS_REFUSED`), which neutron's
    /// agents take as a reason to exit cleanly, for good.
    pub bus_joined: Vec<String>,
    /// Provider network, if any.
    pub provider: Option<ProviderView>,
    /// VXLAN range.
    pub vni_first: u32,
    /// VXLAN range.
    pub vni_last: u32,
    /// Overcommit ratios, formatted.
    pub cpu_ratio: String,
    /// Overcommit ratios, formatted.
    pub ram_ratio: String,
    /// Overcommit ratios, formatted.
    pub disk_ratio: String,
}

impl Deref for OpenStackCtx {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.base
    }
}

fn ratio(x: f64) -> String {
    format!("{x:.1}")
}

/// The APIs haproxy fronts: every service on the management nodes, the console proxy (whose websockets
/// must stick: `balance source`) on the console-proxy nodes, else on the management nodes, and the
/// dashboard on the management nodes, under its path on the console's port.
fn apis(config: &ClusterConfig) -> Vec<Api> {
    let mgmt = peers(config.nodes_with("management"));
    let consoles = {
        let c = peers(config.nodes_with("console-proxy"));
        if c.is_empty() { mgmt.clone() } else { c }
    };
    let api = |name: &str,
               (public_port, internal_port): (u16, u16),
               balance: &str,
               backends: &[Peer]| Api {
        name: name.to_owned(),
        public_port,
        internal_port,
        balance: balance.to_owned(),
        path: None,
        // The console proxy speaks websockets and serves static files: a TCP check is the honest one.
        check_path: (name != "novnc").then(|| "/".to_owned()),
        check_host: false,
        backends: backends.to_vec(),
        // glance keeps images on its node's disk (the file store): one node serves them, the others
        // take over when it is down (images uploaded before are then missing until it is back).
        standby: name == "glance",
    };
    // The dashboard shares the console's port under its path. Its check GETs the login page, which
    // proves Django, its settings and the compressed static files (a 500 otherwise), with the API
    // host as the Host header (Django refuses a host it does not know). Its sessions live in the
    // management nodes' memcached, so any node can serve any request.
    let horizon = Api {
        path: Some(DASHBOARD_PATH.to_owned()),
        check_path: Some(format!("{DASHBOARD_PATH}/auth/login/")),
        check_host: true,
        ..api("horizon", ports::HORIZON, "roundrobin", &mgmt)
    };
    vec![
        api("keystone", ports::KEYSTONE, "roundrobin", &mgmt),
        api("glance", ports::GLANCE, "roundrobin", &mgmt),
        api("placement", ports::PLACEMENT, "roundrobin", &mgmt),
        api("nova", ports::NOVA, "roundrobin", &mgmt),
        api("neutron", ports::NEUTRON, "roundrobin", &mgmt),
        api("novnc", ports::NOVNC, "source", &consoles),
        horizon,
    ]
}

/// Worker processes of an API service on a node with `cpus` CPUs (0: unknown): one per CPU, at least
/// two (so one slow call does not stall the API), at most eight.
pub fn processes(cpus: u32) -> u32 {
    cpus.clamp(2, 8)
}

/// The template context of one node.
pub fn context(config: &ClusterConfig, node: &Node, facts: NodeFacts) -> OpenStackCtx {
    let base = infrastructure::context(config, node, api_host(config), apis(config));
    OpenStackCtx {
        region: config.region.clone(),
        data_address: node.data_address.unwrap_or(node.address).to_string(),
        data_nic: node
            .data_nic
            .clone()
            .unwrap_or_else(|| config.networks.data_nic.clone()),
        management: node.has("management"),
        compute: node.has("compute"),
        in_container: facts.in_container,
        cpus: facts.cpus,
        virt_type: if facts.kvm { "kvm" } else { "qemu" }.to_owned(),
        transport_url: infrastructure::transport_url(&base, "openstack"),
        bus_joined: {
            let leader = infrastructure::Leaders::of(config).bus;
            config
                .nodes_with("message-bus")
                .filter(|n| n.name != leader)
                .map(|n| format!("{}/rabbitmq.join", n.name))
                .collect()
        },
        provider: config.networks.provider.as_ref().map(|p| ProviderView {
            name: p.name.clone(),
            nic: p.nic.clone(),
        }),
        vni_first: config.networks.vxlan.first,
        vni_last: config.networks.vxlan.last,
        cpu_ratio: ratio(config.overcommit.cpu),
        ram_ratio: ratio(config.overcommit.ram),
        disk_ratio: ratio(config.overcommit.disk),
        base,
    }
}

/// The keystone admin credentials for the `openstack` client, as environment variables.
pub fn admin_env(ctx: &OpenStackCtx) -> Vec<(String, String)> {
    [
        ("OS_AUTH_URL", ctx.public_url_keystone() + "/v3"),
        ("OS_USERNAME", "admin".to_owned()),
        ("OS_PASSWORD", placeholder("admin")),
        ("OS_PROJECT_NAME", "admin".to_owned()),
        ("OS_USER_DOMAIN_NAME", "Default".to_owned()),
        ("OS_PROJECT_DOMAIN_NAME", "Default".to_owned()),
        ("OS_IDENTITY_API_VERSION", "3".to_owned()),
        ("OS_REGION_NAME", ctx.region.clone()),
        ("OS_CACERT", CA_CERT.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl OpenStackCtx {
    fn db_url(&self, service: &str, database: &str) -> String {
        format!(
            "mysql+pymysql://{service}:@@secret:db-{service}@@@{}/{database}?ssl_ca={CA_CERT}",
            self.db_host
        )
    }

    /// The public URL of a service on `port` (no port in the URL for 443).
    pub fn public_url(&self, port: u16) -> String {
        if port == 443 {
            format!("https://{}", self.api_host)
        } else {
            format!("https://{}:{port}", self.api_host)
        }
    }
    /// keystone's database URL.
    pub fn db_url_keystone(&self) -> String {
        self.db_url("keystone", "keystone")
    }
    /// glance's database URL.
    pub fn db_url_glance(&self) -> String {
        self.db_url("glance", "glance")
    }
    /// placement's database URL.
    pub fn db_url_placement(&self) -> String {
        self.db_url("placement", "placement")
    }
    /// nova's API database URL.
    pub fn db_url_nova_api(&self) -> String {
        self.db_url("nova", "nova_api")
    }
    /// nova's cell database URL.
    pub fn db_url_nova(&self) -> String {
        self.db_url("nova", "nova")
    }
    /// neutron's database URL.
    pub fn db_url_neutron(&self) -> String {
        self.db_url("neutron", "neutron")
    }
    /// keystone's public URL.
    pub fn public_url_keystone(&self) -> String {
        self.public_url(ports::KEYSTONE.0)
    }
    /// glance's public URL.
    pub fn public_url_glance(&self) -> String {
        self.public_url(ports::GLANCE.0)
    }
    /// The console proxy's public URL.
    pub fn public_url_novnc(&self) -> String {
        self.public_url(ports::NOVNC.0)
    }
    /// Worker processes of an API service on this node (see [`processes`]).
    pub fn api_processes(&self) -> u32 {
        processes(self.cpus)
    }
    /// glance's internal port.
    pub fn internal_port_glance(&self) -> u16 {
        ports::GLANCE.1
    }
    /// nova's internal port.
    pub fn internal_port_nova(&self) -> u16 {
        ports::NOVA.1
    }
    /// neutron's internal port.
    pub fn internal_port_neutron(&self) -> u16 {
        ports::NEUTRON.1
    }
    /// noVNC's internal port.
    pub fn internal_port_novnc(&self) -> u16 {
        ports::NOVNC.1
    }

    /// The `[keystone_authtoken]` section of a service that authenticates as `user`.
    pub fn authtoken(&self, user: &str) -> String {
        format!(
            "[keystone_authtoken]\nwww_authenticate_uri = {url}\nauth_url = {url}\nmemcached_servers = {mc}\nauth_type = password\nproject_domain_name = Default\nuser_domain_name = Default\nproject_name = service\nusername = {user}\npassword = @@secret:user-{user}@@\ncafile = /etc/stackbox/ca.pem\n",
            url = self.public_url_keystone(),
            mc = self.memcached_servers,
        )
    }
}

templates! {
    /// A file of the OpenStack services.
    File over OpenStackCtx {
        /// keystone.
        KeystoneConf => "keystone.conf",
        /// glance.
        GlanceApiConf => "glance-api.conf",
        /// placement.
        PlacementConf => "placement.conf",
        /// nova (controller and compute parts by role).
        NovaConf => "nova.conf",
        /// neutron.
        NeutronConf => "neutron.conf",
        /// ML2 plugin.
        Ml2Conf => "ml2_conf.ini",
        /// linuxbridge agent.
        LinuxbridgeAgent => "linuxbridge_agent.ini",
        /// DHCP agent.
        DhcpAgent => "dhcp_agent.ini",
        /// L3 agent.
        L3Agent => "l3_agent.ini",
        /// metadata agent.
        MetadataAgent => "metadata_agent.ini",
        /// libvirt's QEMU driver.
        QemuConf => "qemu.conf",
        /// /etc/default/nova-consoleproxy.
        NovaConsoleproxy => "nova-consoleproxy",
        /// debconf answers for the OpenStack packages.
        Preseed => "preseed.cfg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_follow_the_cpus_within_bounds() {
        assert_eq!(processes(0), 2);
        assert_eq!(processes(1), 2);
        assert_eq!(processes(2), 2);
        assert_eq!(processes(6), 6);
        assert_eq!(processes(64), 8);
    }
}
