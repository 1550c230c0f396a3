//! `stackboxd network apply --config FILE`: the TOML (or the wizard's network.json) it reads, and the
//! files it must refuse with the key or the line named.

use stackbox_network::cli::read_settings;

const GOOD: &str = r#"hostname = "node1"
management_nic = "eth0"
data_nic = "eth0"
bridge = "br-mgmt"
mtu = 1500
vxlan_min = 1
vxlan_max = 1000
ntp = ["10.20.0.1"]

[addressing]
mode = "static"
address = "10.20.0.21/24"
gateway = "10.20.0.1"
dns = ["10.20.0.1"]
"#;

fn read(name: &str, text: &str) -> Result<stackbox_network::NetworkSettings, String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing the file");
    read_settings(&path)
}

#[test]
fn a_good_file_reads_as_toml_and_as_json() {
    let s = read("net.toml", GOOD).expect("the good file");
    assert_eq!(s.ntp, ["10.20.0.1"]);
    let json = serde_json::to_string(&s).expect("json");
    assert_eq!(read("network.json", &json).expect("the same as JSON"), s);
}

#[test]
fn must_fail_files_name_what_is_wrong() {
    let cases = [
        (
            GOOD.replace("mtu = 1500", "mtu = 1500\nmtus = 9000"),
            "mtus",
        ),
        (GOOD.replace("mtu = 1500", "mtu = \"big\""), "mtu"),
        (
            GOOD.replace("mode = \"static\"", "mode = \"manual\""),
            "manual",
        ),
        (
            GOOD.replace("address = \"10.20.0.21/24\"", "address = \"10.20.0.21\""),
            "address",
        ),
        (GOOD.replace("hostname = \"node1\"\n", ""), "hostname"),
        (GOOD.replace("[addressing]", "[addressing"), "net.toml:10:"),
        (
            GOOD.replace(
                "ntp = [\"10.20.0.1\"]",
                "[[bonds]]\nname = \"bond0\"\nmode = \"roundrobin\"\nnics = [\"eth0\"]",
            ),
            "roundrobin",
        ),
    ];
    for (text, says) in &cases {
        let e = read("net.toml", text).expect_err(says);
        assert!(e.contains(says), "expected {says:?} in: {e}");
    }
    let e = read("network.json", "{\"hostname\": 1}").expect_err("json");
    assert!(e.contains("network.json") && e.contains("hostname"), "{e}");
    let missing =
        read_settings(std::path::Path::new("/nonexistent/net.toml")).expect_err("missing");
    assert!(missing.contains("/nonexistent/net.toml"), "{missing}");
}
