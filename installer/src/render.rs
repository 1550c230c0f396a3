//! The configuration files the plan writes, rendered from askama templates in `templates/` with one
//! context per node. Secrets appear only as `@@secret:NAME@@` placeholders, which the executor fills in
//! when it writes the file, so rendered plans, golden files and logs never hold a secret.

use std::ops::Deref;

use askama::Template;

/// One node as other nodes' files refer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Host name.
    pub name: String,
    /// Management address.
    pub address: String,
}

/// The provider network as the agents see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderView {
    /// Physical network label.
    pub name: String,
    /// The NIC it is bridged to.
    pub nic: String,
}

/// An API haproxy fronts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// Frontend and backend name.
    pub name: String,
    /// The port clients use (TLS, haproxy).
    pub public_port: u16,
    /// The port the service listens on, on each management node's address.
    pub internal_port: u16,
    /// haproxy's balance algorithm (`source` for the console proxy, whose websockets must stick).
    pub balance: String,
    /// The path haproxy's health check GETs (any 2xx or 3xx passes); a TCP check when `None`.
    pub check_path: Option<String>,
    /// The nodes serving it.
    pub backends: Vec<Peer>,
}

/// Everything the templates of one node need.
#[derive(Debug, Clone, PartialEq)]
pub struct Ctx {
    /// Cluster name.
    pub cluster: String,
    /// OpenStack region.
    pub region: String,
    /// This node's name.
    pub node_name: String,
    /// This node's roles, comma-separated (for comments).
    pub roles: String,
    /// Management address.
    pub address: String,
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
    /// `kvm` or `qemu`.
    pub virt_type: String,
    /// Every node.
    pub all_nodes: Vec<Peer>,
    /// Whether the database is a Galera cluster (more than one storage-metadata node).
    pub galera: bool,
    /// Galera members' addresses, comma-separated.
    pub galera_members: String,
    /// RabbitMQ nodes.
    pub rabbit_nodes: Vec<Peer>,
    /// `rabbit://...` with the password as a placeholder.
    pub transport_url: String,
    /// memcached servers, `host:11211` comma-separated.
    pub memcached_servers: String,
    /// The public endpoint host (name or address).
    pub api_host: String,
    /// The database host the services connect to.
    pub db_host: String,
    /// APIs behind haproxy.
    pub apis: Vec<Api>,
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

/// Internal (backend) ports: the public port plus 10000, on each management node's address.
pub mod ports {
    /// keystone: public 5000.
    pub const KEYSTONE: (u16, u16) = (5000, 15000);
    /// glance: public 9292.
    pub const GLANCE: (u16, u16) = (9292, 19292);
    /// placement: public 8778.
    pub const PLACEMENT: (u16, u16) = (8778, 18778);
    /// nova: public 8774.
    pub const NOVA: (u16, u16) = (8774, 18774);
    /// neutron: public 9696.
    pub const NEUTRON: (u16, u16) = (9696, 19696);
    /// noVNC console: public 443 (TLS), internal 6080.
    pub const NOVNC: (u16, u16) = (443, 6080);
}

impl Ctx {
    fn db_url(&self, service: &str, database: &str) -> String {
        format!(
            "mysql+pymysql://{service}:@@secret:db-{service}@@@{}/{database}",
            self.db_host
        )
    }

    fn public_url(&self, port: u16) -> String {
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

macro_rules! templates {
    ($($(#[$doc:meta])* $name:ident => $path:literal),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Template)]
            #[template(path = $path, escape = "none")]
            struct $name<'a> {
                ctx: &'a Ctx,
            }

            impl Deref for $name<'_> {
                type Target = Ctx;
                fn deref(&self) -> &Ctx {
                    self.ctx
                }
            }
        )*

        /// A file stackbox renders.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum File {
            $($(#[$doc])* $name,)*
        }

        impl File {
            /// Every renderable file.
            pub const ALL: &[File] = &[$(File::$name,)*];

            /// The template's file name (also the golden file's name).
            pub fn template(self) -> &'static str {
                match self { $(File::$name => $path,)* }
            }

            /// Renders the file for `ctx`.
            pub fn render(self, ctx: &Ctx) -> String {
                let rendered = match self { $(File::$name => $name { ctx }.render(),)* };
                // Rendering only fails when a value's Display fails; none of ours can.
                let mut text = rendered.unwrap_or_else(|e| format!("# render error: {e}\n"));
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text
            }
        }
    };
}

templates! {
    /// /etc/hosts.
    Hosts => "hosts",
    /// MariaDB (and Galera) settings.
    MariadbCnf => "mariadb.cnf",
    /// RabbitMQ's environment: node name and address.
    RabbitmqEnv => "rabbitmq-env.conf",
    /// RabbitMQ's listeners.
    RabbitmqConf => "rabbitmq.conf",
    /// memcached.
    MemcachedConf => "memcached.conf",
    /// haproxy: the public TLS endpoints.
    HaproxyCfg => "haproxy.cfg",
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

/// `/etc/default/<service>` for a uwsgi API service: its bind address and internal port.
pub fn service_default(service: &str, address: &str, port: u16, ini: &str) -> String {
    #[derive(Template)]
    #[template(path = "service-default", escape = "none")]
    struct ServiceDefault<'a> {
        service: &'a str,
        address: &'a str,
        port: u16,
        ini: &'a str,
    }
    let mut text = ServiceDefault {
        service,
        address,
        port,
        ini,
    }
    .render()
    .unwrap_or_else(|e| format!("# render error: {e}\n"));
    text.push('\n');
    text
}
