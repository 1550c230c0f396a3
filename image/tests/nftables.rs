//! The appliance's firewall (`/etc/nftables.conf`) checked by Debian's own `nft`, in a private network namespace
//! (`unshare -n`) so that the host's ruleset is never read or changed. Needs root and the `nftables` package
//! (`deps/test.txt`); when `nft` is missing the test fails, it does not skip.
//!
//! The rendered ruleset includes the drop-in directory `/etc/nftables.d/*.nft`; here that path is pointed at a
//! temporary directory, to check the base alone (the glob matches nothing), the base plus the example drop-in
//! of the contract in `configure`'s module doc, and that a broken drop-in is refused (so the include is read).

use std::path::Path;

use stackbox_common::cmd::Command;
use stackbox_image::configure::{NFTABLES_DROPIN_DIR, render_nftables};

/// The example drop-in of the contract: what the installer writes for keystone (5000/tcp) and VXLAN (4789/udp).
const EXAMPLE_DROPIN: &str = "table inet stackbox {\n\
\tchain roles {\n\
\t\ttcp dport { 5000 } accept\n\
\t\tudp dport { 4789 } accept\n\
\t}\n\
}\n";

/// Runs `nft ARGS` inside a new network namespace; the error carries argv and stderr.
fn nft_in_netns(args: &[&str]) -> Result<String, String> {
    Command::new("unshare")
        .arg("-n")
        .arg("nft")
        .args(args)
        .run()
        .map(|o| o.stdout)
        .map_err(|e| format!("{e}"))
}

/// Fails (never skips) when Debian's `nft` is not installed.
fn require_nft() {
    if let Err(e) = Command::new("nft").arg("--version").run() {
        panic!(
            "`nft` is needed by this test: apt-get install nftables (listed in deps/test.txt): {e}"
        );
    }
}

/// The rendered ruleset with its drop-in directory moved to `dir`.
fn ruleset_including(dir: &Path) -> String {
    let text = render_nftables();
    let include = format!("include \"{NFTABLES_DROPIN_DIR}/*.nft\"\n");
    assert_eq!(text.matches(&include).count(), 1, "{text}");
    text.replace(&include, &format!("include \"{}/*.nft\"\n", dir.display()))
}

#[test]
fn nft_accepts_the_ruleset_with_and_without_drop_ins() {
    require_nft();
    let tmp = tempfile::tempdir().unwrap();
    let dropins = tmp.path().join("nftables.d");
    std::fs::create_dir(&dropins).unwrap();
    let conf = tmp.path().join("nftables.conf");
    std::fs::write(&conf, ruleset_including(&dropins)).unwrap();
    let conf = conf.to_str().unwrap();

    nft_in_netns(&["-c", "-f", conf]).expect("nft -c refuses the base ruleset");

    std::fs::write(dropins.join("50-roles.nft"), EXAMPLE_DROPIN).unwrap();
    nft_in_netns(&["-c", "-f", conf]).expect("nft -c refuses the ruleset with the example drop-in");

    // A port out of range: nft names the drop-in, which proves the glob was read.
    let broken = EXAMPLE_DROPIN.replace("5000", "99999");
    std::fs::write(dropins.join("60-broken.nft"), broken).unwrap();
    let err = nft_in_netns(&["-c", "-f", conf]).expect_err("a broken drop-in must be refused");
    assert!(err.contains("60-broken.nft"), "{err}");
}

#[test]
fn a_drop_in_opens_its_ports_in_the_input_path() {
    require_nft();
    let tmp = tempfile::tempdir().unwrap();
    let dropins = tmp.path().join("nftables.d");
    std::fs::create_dir(&dropins).unwrap();
    std::fs::write(dropins.join("50-roles.nft"), EXAMPLE_DROPIN).unwrap();
    let conf = tmp.path().join("nftables.conf");
    std::fs::write(&conf, ruleset_including(&dropins)).unwrap();
    // Load for real, but in a namespace of its own, and read back what the kernel holds.
    let listed = Command::new("unshare")
        .arg("-n")
        .arg("sh")
        .arg("-c")
        .arg("nft -f \"$1\" && nft list table inet stackbox")
        .arg("nft-load")
        .arg(&conf)
        .run()
        .expect("loading the ruleset in a network namespace")
        .stdout;
    let roles = listed
        .split("chain roles {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("no chain roles: {listed}"));
    assert!(roles.contains("tcp dport 5000 accept"), "{listed}");
    assert!(roles.contains("udp dport 4789 accept"), "{listed}");
    let input = listed.split("chain input {").nth(1).unwrap_or_default();
    assert!(input.contains("policy drop;"), "{listed}");
    assert!(input.contains("jump roles"), "{listed}");
}
