//! Generic rendering: the configuration files of the shared infrastructure (hosts, MariaDB, RabbitMQ,
//! memcached, haproxy), rendered from askama templates in `templates/` with one [`Ctx`] per node, and the
//! `templates!` macro a flavor uses for its own files over its own context (which dereferences to
//! [`Ctx`]). Secrets appear only as `@@secret:NAME@@` placeholders, which the executor
//! fills in when it writes the file, so rendered plans, golden files and logs never hold a secret.

/// One node as other nodes' files refer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Host name.
    pub name: String,
    /// Management address.
    pub address: String,
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
    /// The path prefix it is served under when it shares its public port with other APIs
    /// (`/dashboard`: haproxy routes that path and everything below it here); `None`: the port's
    /// default backend.
    pub path: Option<String>,
    /// The path haproxy's health check GETs (any 2xx or 3xx passes); a TCP check when `None`.
    pub check_path: Option<String>,
    /// Whether the health check names the API host in its `Host` header (HTTP/1.1): for a service that
    /// refuses requests for hosts it does not serve (Django's `ALLOWED_HOSTS`).
    pub check_host: bool,
    /// The nodes serving it.
    pub backends: Vec<Peer>,
    /// Whether only the first backend serves while it is up, the others standing by (`backup`): for
    /// a service whose data lives on one node's disk (glance's file store, until a shared store).
    pub standby: bool,
}

/// One public port of haproxy: its TLS frontend, the APIs routed by path and the default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    /// The frontend's name: the API's when it is alone on its port, else `public-PORT`.
    pub name: String,
    /// The public port.
    pub port: u16,
    /// `(path, backend)`: requests for the path or below it go to the backend.
    pub routes: Vec<(String, String)>,
    /// The backend of every other request; `None`: haproxy answers 503.
    pub default_backend: Option<String>,
}

/// keepalived's part of a management node: the API address it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrrp {
    /// The API address with the management network's prefix length (`10.20.0.10/24`).
    pub address: String,
    /// The interface the management addresses are on.
    pub interface: String,
    /// The VRRP router id (1 to 255), from the cluster's name so that two clusters on one network differ.
    pub router_id: u8,
    /// This node's priority: the first management node's is highest.
    pub priority: u8,
    /// The other management nodes' addresses (unicast VRRP); empty for the only one.
    pub peers: Vec<String>,
}

/// What the shared infrastructure's templates of one node need; a flavor's context extends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ctx {
    /// Cluster name.
    pub cluster: String,
    /// This node's name.
    pub node_name: String,
    /// This node's roles, comma-separated (for comments).
    pub roles: String,
    /// Management address.
    pub address: String,
    /// Every node.
    pub all_nodes: Vec<Peer>,
    /// Whether this node's database is a Galera member (every storage-metadata node is, from the first).
    pub galera: bool,
    /// Galera members' addresses, comma-separated.
    pub galera_members: String,
    /// RabbitMQ nodes.
    pub rabbit_nodes: Vec<Peer>,
    /// memcached servers, `host:11211` comma-separated.
    pub memcached_servers: String,
    /// The public endpoint host (name or address).
    pub api_host: String,
    /// The database host the services connect to: this node's own Galera member when it has one.
    pub db_host: String,
    /// APIs behind haproxy.
    pub apis: Vec<Api>,
    /// keepalived, on a management node when the API address is one of its own.
    pub vrrp: Option<Vrrp>,
}

impl Ctx {
    /// The frontend that `api`'s public port needs, when `api` is the first of the APIs on that port
    /// (haproxy's configuration declares it there); `None` for the others.
    pub fn frontend(&self, api: &Api) -> Option<Frontend> {
        let on_port: Vec<&Api> = self
            .apis
            .iter()
            .filter(|a| a.public_port == api.public_port)
            .collect();
        if on_port.first().map(|a| &a.name) != Some(&api.name) {
            return None;
        }
        Some(Frontend {
            name: if on_port.len() == 1 {
                api.name.clone()
            } else {
                format!("public-{}", api.public_port)
            },
            port: api.public_port,
            routes: on_port
                .iter()
                .filter_map(|a| a.path.as_ref().map(|p| (p.clone(), a.name.clone())))
                .collect(),
            default_backend: on_port
                .iter()
                .find(|a| a.path.is_none())
                .map(|a| a.name.clone()),
        })
    }
}

/// Declares one askama template struct per file over a context type, and `$file`, the enum that names
/// and renders them. The templates see the context's fields (and, through `Deref`, those of the contexts
/// it extends).
macro_rules! templates {
    ($(#[$enum_doc:meta])* $file:ident over $ctx:ty {
        $($(#[$doc:meta])* $name:ident => $path:literal),* $(,)?
    }) => {
        $(
            $(#[$doc])*
            #[derive(askama::Template)]
            #[template(path = $path, escape = "none")]
            struct $name<'a> {
                ctx: &'a $ctx,
            }

            impl std::ops::Deref for $name<'_> {
                type Target = $ctx;
                fn deref(&self) -> &$ctx {
                    self.ctx
                }
            }
        )*

        $(#[$enum_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $file {
            $($(#[$doc])* $name,)*
        }

        impl $file {
            /// Every renderable file.
            pub const ALL: &[$file] = &[$($file::$name,)*];

            /// The template's file name.
            pub fn template(self) -> &'static str {
                match self { $($file::$name => $path,)* }
            }

            /// Renders the file for `ctx`.
            pub fn render(self, ctx: &$ctx) -> String {
                use askama::Template as _;
                let rendered = match self { $($file::$name => $name { ctx }.render(),)* };
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

pub(crate) use templates;

templates! {
    /// A file of the shared infrastructure.
    File over Ctx {
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
        /// mariadb.service's drop-in: how MariaDB rejoins Galera when it starts.
        MariadbGalera => "mariadb-galera.conf",
        /// keepalived (when the node keeps the API address).
        KeepalivedConf => "keepalived.conf",
    }
}
