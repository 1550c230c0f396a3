//! The network of a stackbox node and cluster: the model (one node's NICs, bridge, VLAN, MTU, DHCP or static
//! address with gateway and name servers, VXLAN range; a cluster's provider network) and its one set of
//! rules. The wizard turns its form into this model and the installer checks its cluster configuration
//! with the same rules; the code that applies a network will take the same model.
//!
//! - `model`: the types, as stored (`network.json`) and as written in a cluster configuration;
//! - `names`: host names, DNS labels, Linux interface names;
//! - `address`: host addresses in a subnet, gateways, name servers, subnets and overlaps;
//! - `link`: VLAN ids, MTUs, VXLAN identifiers and ranges;
//! - `provider`: the rules of a provider network on its own;
//! - `host`: the rules of one node's whole network (NICs, bonds, VLAN, bridge, MTUs, addresses, NTP);
//! - `render`: that network as systemd-networkd files and chrony's sources;
//! - `apply`: applying it with automatic rollback (and `cli`, `stackboxd network`).
//!
//! Every rule is a pure function returning a typed error; its `Display` is the wording the wizard shows,
//! and the installer words the same error for its configuration file where its messages differ.

mod address;
pub mod apply;
pub mod cli;
mod host;
mod link;
mod model;
mod names;
mod provider;
mod render;

pub use address::{
    AddressError, DNS_SERVERS_MAX, DnsError, GatewayError, check_dns, check_gateway,
    check_host_address, is_subnet, overlaps,
};
pub use host::{HostError, HostWarning, NTP_SERVERS_MAX, NicFact, check_host, used_nics};
pub use link::{
    MTU_MAX, MTU_MIN, RangeError, VLAN_MAX, VNI_MAX, VniError, check_mtu, check_vlan, check_vni,
};
pub use model::{
    Addressing, Bond, BondMode, DEFAULT_MTU, NetworkSettings, ProviderNetwork, VniRange,
};
pub use names::{
    IFNAME_MAX, IfnameError, NameError, check_hostname, check_ifname, check_label, is_dns_label,
    is_ifname,
};
pub use provider::ProviderError;
pub use render::{
    CHRONY_SOURCES, FILE_PREFIX, GUARD_UNIT, NetworkFile, render_chrony_sources, render_guard_unit,
    render_networkd,
};
