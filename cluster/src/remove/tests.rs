#![allow(clippy::unwrap_used)] // Tests state their expectations by panicking.

use super::*;

fn three() -> ClusterConfig {
    let text = include_str!("../../../examples/three-node.toml");
    toml::from_str(text).unwrap()
}

fn refused(config: &ClusterConfig, node: &str) -> String {
    match judge(config, node, "node1") {
        Err(RemoveError::Refused(why)) => why,
        other => panic!("{node}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_member_that_leads_nothing_leaves_with_the_quorum_warned_of() {
    let config = three();
    let judged = judge(&config, "node3", "node1").unwrap();
    let names: Vec<&str> = judged
        .remaining
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["node1", "node2"]);
    assert_eq!(judged.warnings.len(), 2, "{:?}", judged.warnings);
    assert!(judged.warnings.iter().any(|w| w.contains("Galera")));
    assert!(judged.warnings.iter().any(|w| w.contains("RabbitMQ")));
    // The configuration without the node is written as TOML and reads back the same.
    let text = toml::to_string(&judged.remaining).unwrap();
    let back: ClusterConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, judged.remaining);
}

#[test]
fn no_warning_while_three_quorum_members_remain() {
    let mut config = three();
    let mut fourth = config.nodes[2].clone();
    fourth.name = "node4".into();
    fourth.address = "10.0.0.14".parse().unwrap();
    fourth.data_address = None;
    config.nodes.push(fourth);
    let judged = judge(&config, "node4", "node1").unwrap();
    assert!(judged.warnings.is_empty(), "{:?}", judged.warnings);
}

#[test]
fn strangers_this_node_leaders_and_last_holders_are_refused() {
    let config = three();
    assert!(refused(&config, "node9").contains("not a member"));
    assert!(refused(&config, "node1").contains("this node"));
    let mut led = three();
    led.nodes.swap(0, 1); // node2 now leads management, storage and the bus
    assert!(refused(&led, "node2").contains("leads the management role"));
    let mut only = three();
    only.nodes[2].roles.retain(|r| r != "compute");
    assert!(refused(&only, "node2").contains("only compute node"));
}

#[test]
fn ids_are_the_first_column() {
    assert_eq!(ids("abc node3\n\n def x\n"), ["abc", "def"]);
    assert!(ids("").is_empty());
}
