//! Unit tests of the catalog: the embedded data loads, and each rule refuses what it should.

use super::*;

#[test]
fn embedded_catalog_loads_with_both_profiles() {
    let catalog = Catalog::embedded().unwrap();
    assert_eq!(
        catalog.profiles().keys().collect::<Vec<_>>(),
        ["baremetal", "lab"]
    );
    assert_eq!(
        catalog.roles().keys().collect::<Vec<_>>(),
        [
            "compute",
            "console-proxy",
            "management",
            "message-bus",
            "storage-metadata"
        ]
    );
}

#[test]
fn role_figures_match_the_requirements() {
    let c = Catalog::embedded().unwrap();
    let figures = |name: &str| {
        let r = c.role(name).unwrap();
        (r.vcpus.min, r.memory_gb.min, r.impact)
    };
    assert_eq!(figures("management"), (4, 8, 9));
    assert_eq!(figures("message-bus"), (2, 4, 10));
    assert_eq!(figures("storage-metadata"), (4, 16, 8));
    assert_eq!(figures("console-proxy"), (1, 2, 6));
    let compute = c.role("compute").unwrap();
    assert!(compute.virtualization);
    assert_eq!(compute.nics.min, 2);
}

#[test]
fn every_role_opens_its_ports() {
    let c = Catalog::embedded().unwrap();
    let has = |role: &str, port: u16, proto: Protocol| {
        c.role(role)
            .unwrap()
            .ports
            .iter()
            .any(|p| p.port == port && p.protocol == proto)
    };
    assert!(has("management", 8080, Protocol::Tcp));
    assert!(has("management", 5000, Protocol::Tcp));
    assert!(has("message-bus", 5671, Protocol::Tcp));
    assert!(has("storage-metadata", 3306, Protocol::Tcp));
    assert!(has("console-proxy", 80, Protocol::Tcp));
    assert!(has("console-proxy", 443, Protocol::Tcp));
    assert!(has("compute", 4789, Protocol::Udp));
}

#[test]
fn ports_name_their_flavor() {
    let catalog = Catalog::embedded().unwrap();
    let management = &catalog.roles()["management"].ports;
    let flavor = |port: u16| management.iter().find(|p| p.port == port).unwrap().flavor;
    assert_eq!(flavor(8080), Some(Flavor::Cloudstack));
    assert_eq!(flavor(5000), Some(Flavor::Openstack));
    let bus = &catalog.roles()["message-bus"].ports;
    assert!(
        bus.iter().all(|p| p.flavor.is_none()),
        "shared by every flavor"
    );
}

#[test]
fn requirements_add_up_and_nics_take_the_maximum() {
    let c = Catalog::embedded().unwrap();
    let r = c
        .requirements(&["management", "storage-metadata", "compute", "management"])
        .unwrap();
    assert_eq!(r.roles, ["management", "storage-metadata", "compute"]);
    assert_eq!(
        r.vcpus,
        Resource {
            min: 4 + 4 + 2,
            recommended: 8 + 8 + 16
        }
    );
    assert_eq!(r.memory_gb.min, 8 + 16 + 4);
    assert_eq!(r.nics.min, 2);
    assert_eq!(r.virtualization_for, ["compute"]);
    let single = c.requirements(&["message-bus"]).unwrap();
    assert_eq!(single.nics.min, 1);
    assert!(single.virtualization_for.is_empty());
    assert!(single.ports.iter().any(|p| p.port == 25672));
}

#[test]
fn unknown_role_and_profile_are_named() {
    let c = Catalog::embedded().unwrap();
    let err = c.requirements(&["compute", "dns"]).unwrap_err().to_string();
    assert!(
        err.contains("unknown role `dns`") && err.contains("management"),
        "{err}"
    );
    let err = c.profile("prod").unwrap_err().to_string();
    assert!(
        err.contains("unknown profile `prod`") && err.contains("baremetal, lab"),
        "{err}"
    );
}

#[test]
fn profiles_differ_in_strictness() {
    let c = Catalog::embedded().unwrap();
    let bm = c.profile("baremetal").unwrap();
    let lab = c.profile("lab").unwrap();
    assert_eq!(bm.verdicts.no_hardware_virtualization, Verdict::Fail);
    assert_eq!(bm.verdicts.too_few_nics, Verdict::Fail);
    assert_eq!(bm.verdicts.below_minimum, Verdict::Fail);
    assert!(!bm.count_virtual_nics);
    assert_eq!(lab.verdicts.no_hardware_virtualization, Verdict::Warn);
    assert_eq!(lab.verdicts.too_few_nics, Verdict::Warn);
}

#[test]
fn load_dir_reads_the_shipped_tree() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let c = Catalog::load_dir(dir).unwrap();
    assert_eq!(c.profiles().len(), 2);
    let missing = Catalog::load_dir(&dir.join("no-such-dir"))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("no-such-dir/roles.toml: cannot read"),
        "{missing}"
    );
}

#[test]
fn catalog_without_profiles_is_an_error() {
    let err = Catalog::from_sources(("roles.toml".into(), ROLES_TOML.into()), vec![]).unwrap_err();
    assert!(err.to_string().contains("no profile is defined"), "{err}");
}
