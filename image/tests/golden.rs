//! Every file the pipeline renders is compared with a checked-in copy in `tests/golden/` through the
//! workspace's one golden helper ([`stackbox_common::test_utils::golden`]). After an intended change,
//! regenerate them with `UPDATE_GOLDEN=1 cargo test -p stackbox-image --test golden` and review the diff.

use std::path::Path;

use stackbox_common::test_utils::golden;
use stackbox_image::host::Archive;
use stackbox_image::pool::{Indices, render_appliance_sources};
use stackbox_image::spec::Spec;
use stackbox_image::{configure, disk, outputs};

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    golden(&path, actual);
}

#[test]
fn rendered_files_match_their_golden_copies() {
    let spec = Spec::default_spec().unwrap();
    let ids = disk::Ids::from_seed("golden");
    check("fstab", &configure::render_fstab(&ids.esp_id));
    check("hosts", &configure::render_hosts(&spec.hostname));
    check(
        "50-stackbox-dhcp.network",
        &configure::render_networkd_dhcp(),
    );
    check("nftables.conf", &configure::render_nftables());
    check(
        "default-stackbox",
        &configure::render_default(&spec.profile),
    );
    check(
        "stackbox-pool-selftest.service",
        &configure::render_pool_selftest_unit(),
    );
    check("pool-selftest", &configure::render_pool_selftest_script());
    check("stackbox-wizard.service", &configure::render_wizard_unit());
    check(
        "disk-grub.cfg",
        &disk::render_grub_cfg(&spec, "6.1.0-99-amd64", &ids.root_uuid),
    );
    check("early.cfg", &disk::render_early_cfg(&ids.root_uuid));
    check("disk.sfdisk", &disk::render_sfdisk(&ids, 4_000_000));
    check("iso-grub.cfg", &outputs::render_iso_grub_cfg(&spec));
    check("boot.ipxe", &outputs::render_boot_ipxe(&spec));
    let main = Archive {
        uri: "http://mirror.invalid/debian".into(),
        suites: vec!["bookworm".into(), "bookworm-updates".into()],
    };
    let security = Archive {
        uri: "http://mirror.invalid/debian-security".into(),
        suites: vec!["bookworm-security".into()],
    };
    let indices = Indices {
        suites: vec![
            (main.clone(), "bookworm".into(), "x".into(), "y".into()),
            (main, "bookworm-updates".into(), "x".into(), "y".into()),
            (security, "bookworm-security".into(), "x".into(), "y".into()),
        ],
        by_uri: Default::default(),
    };
    check("stackbox-pool.sources", &render_appliance_sources(&indices));
}
