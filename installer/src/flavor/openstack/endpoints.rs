//! The cloud as its users reach it: the public endpoints (through haproxy, TLS), the host they are on,
//! the services' ports, and the admin's openrc.

use serde::Serialize;

use crate::config::ClusterConfig;

/// Public and internal (backend) ports: the public port plus 10000, on each management node's address.
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
    /// The dashboard (Horizon): public 443 (TLS) under [`super::DASHBOARD_PATH`], beside the console;
    /// internal 18080 (uWSGI, plain HTTP on the management address).
    pub const HORIZON: (u16, u16) = (443, 18080);
}

/// The path the dashboard is served under on the public HTTPS port: haproxy routes it (and everything
/// below it) to Horizon, every other path to the console proxy, whose websockets use `/`.
pub const DASHBOARD_PATH: &str = "/dashboard";

/// The dashboard's URL, as an operator's browser opens it: `https://API-HOST/dashboard/`.
pub fn dashboard_url(config: &ClusterConfig) -> String {
    format!("https://{}{DASHBOARD_PATH}/", api_host(config))
}

/// A public API endpoint of the cloud (through haproxy, TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The OpenStack service (`keystone`, `nova`, ...).
    pub service: &'static str,
    /// What it is for.
    pub kind: &'static str,
    /// Its public URL.
    pub url: String,
}

/// The host name or address clients reach the public endpoints on: the configured public name, else the
/// API address, else the first management node's address.
pub fn api_host(config: &ClusterConfig) -> String {
    config.tls.public_name.clone().unwrap_or_else(|| {
        config
            .networks
            .api_address
            .or_else(|| config.leader("management").map(|n| n.address))
            .map(|a| a.to_string())
            .unwrap_or_default()
    })
}

/// The cloud's public endpoints, as the catalog registers them.
pub fn public_endpoints(config: &ClusterConfig) -> Vec<Endpoint> {
    let host = api_host(config);
    let url = |port: u16, path: &str| {
        if port == 443 {
            format!("https://{host}{path}")
        } else {
            format!("https://{host}:{port}{path}")
        }
    };
    vec![
        Endpoint {
            service: "keystone",
            kind: "identity",
            url: url(ports::KEYSTONE.0, "/v3"),
        },
        Endpoint {
            service: "glance",
            kind: "image",
            url: url(ports::GLANCE.0, ""),
        },
        Endpoint {
            service: "placement",
            kind: "placement",
            url: url(ports::PLACEMENT.0, ""),
        },
        Endpoint {
            service: "nova",
            kind: "compute",
            url: url(ports::NOVA.0, "/v2.1"),
        },
        Endpoint {
            service: "neutron",
            kind: "network",
            url: url(ports::NEUTRON.0, ""),
        },
        Endpoint {
            service: "novnc",
            kind: "VM consoles",
            url: url(ports::NOVNC.0, "/vnc_auto.html"),
        },
    ]
}

/// The admin's credentials as an openrc file for the `openstack` client. `ca_file` is where the
/// cluster's CA certificate will be on the machine that sources the file; it is double-quoted, so
/// `$HOME` in it expands there.
pub fn admin_openrc(config: &ClusterConfig, admin_password: &str, ca_file: &str) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\'', "'\\''"));
    let keystone = public_endpoints(config)
        .into_iter()
        .next()
        .map(|e| e.url)
        .unwrap_or_default();
    format!(
        "# Admin credentials of the stackbox cloud {cluster}. Keep this file private (chmod 600):\n\
         # it holds the admin password. Use it with: . ./admin-openrc.sh && openstack server list\n\
         # The endpoints' CA certificate is /etc/stackbox/ca.pem on the appliance; copy it to {ca}.\n\
         export OS_AUTH_URL={auth}\n\
         export OS_IDENTITY_API_VERSION=3\n\
         export OS_USERNAME=admin\n\
         export OS_PASSWORD={password}\n\
         export OS_PROJECT_NAME=admin\n\
         export OS_USER_DOMAIN_NAME=Default\n\
         export OS_PROJECT_DOMAIN_NAME=Default\n\
         export OS_REGION_NAME={region}\n\
         export OS_CACERT=\"{ca_file}\"\n",
        cluster = config.name,
        ca = ca_file,
        auth = quote(&keystone),
        password = quote(admin_password),
        region = quote(&config.region),
    )
}
