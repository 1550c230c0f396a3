//! A compute node: libvirt and QEMU, nova-compute (KVM, or QEMU emulation without VT-x/AMD-V) and, unless
//! the node is also the network node, the linuxbridge agent.

use super::context::{File, OpenStackCtx};
use crate::plan::builder::{NodeSteps, file};

/// A compute node's steps; nova-compute waits for the management leader's nova, the agent for its
/// neutron.
pub fn steps(s: &mut NodeSteps, ctx: &OpenStackCtx, mgmt_leader: &str) {
    let nova_up = format!("{mgmt_leader}/nova.ready");
    let neutron_up = format!("{mgmt_leader}/neutron.ready");
    s.packages(
        "libvirt.packages",
        "install libvirt and QEMU",
        &["hosts"],
        &["libvirt-daemon-system", "qemu-system-x86", "qemu-utils"],
    );
    s.files(
        "libvirt.config",
        "configure libvirt's QEMU driver",
        &["libvirt.packages"],
        vec![file(
            "/etc/libvirt/qemu.conf",
            0o600,
            None,
            File::QemuConf.render(ctx),
        )],
    );
    s.units(
        "libvirt.start",
        "start libvirt",
        &["libvirt.config"],
        &["libvirt.config"],
        &["libvirtd.service"],
        "/var/log/libvirt/libvirtd.log",
    );
    let package = if ctx.virt_type == "kvm" {
        "nova-compute-kvm"
    } else {
        "nova-compute-qemu"
    };
    s.packages(
        "nova.compute-packages",
        &format!("install nova-compute ({package})"),
        &["libvirt.start"],
        // genisoimage writes the config drives (nova's `mkisofs_cmd`); nova-compute does not pull it in.
        &[package, "genisoimage"],
    );
    super::nova::config(s, ctx, &["nova.compute-packages"]);
    s.units(
        "nova.compute-start",
        "start nova-compute",
        &[
            "nova.config",
            "nova.compute-packages",
            "libvirt.start",
            &nova_up,
        ],
        &["nova.config"],
        &["nova-compute.service"],
        "/var/log/nova/nova-compute.log",
    );
    if !ctx.management {
        s.packages(
            "neutron.agent-packages",
            "install the linuxbridge agent",
            &["hosts"],
            &["neutron-linuxbridge-agent"],
        );
        super::neutron::config(s, ctx, &["neutron.agent-packages"], false);
        s.units(
            "neutron.agent-start",
            "start the linuxbridge agent",
            &["neutron.config", &neutron_up],
            &["neutron.config"],
            &["neutron-linuxbridge-agent.service"],
            "/var/log/neutron/neutron-linuxbridge-agent.log",
        );
    }
}
