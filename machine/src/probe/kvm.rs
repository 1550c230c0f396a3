//! KVM: is /dev/kvm there, can we open it, and is nested virtualization on.

use serde::{Deserialize, Serialize};

use crate::system::Root;

/// The state of the KVM device and modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmFacts {
    /// `/dev/kvm` exists.
    pub device: bool,
    /// `/dev/kvm` opens read-write (the access QEMU needs).
    pub openable: bool,
    /// Why it could not be opened, when it exists but did not open.
    pub open_error: Option<String>,
    /// The loaded KVM vendor module (`kvm_intel` or `kvm_amd`).
    pub module: Option<String>,
    /// Whether the vendor module has nested virtualization on; `None` when no module is loaded.
    pub nested: Option<bool>,
}

/// Probes /dev/kvm and the KVM modules' parameters.
pub fn probe(root: &Root) -> KvmFacts {
    let path = root.path("/dev/kvm");
    let device = path.exists();
    let (openable, open_error) = if device {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(_) => (true, None),
            Err(e) => (false, Some(e.to_string())),
        }
    } else {
        (false, None)
    };
    let module = ["kvm_intel", "kvm_amd"]
        .into_iter()
        .find(|m| root.exists(&format!("/sys/module/{m}")))
        .map(str::to_owned);
    let nested = module
        .as_ref()
        .and_then(|m| root.attr(&format!("/sys/module/{m}/parameters/nested")))
        .and_then(|v| parse_module_bool(&v));
    KvmFacts {
        device,
        openable,
        open_error,
        module,
        nested,
    }
}

/// A kernel module's boolean parameter: `Y`/`N` or `1`/`0`.
pub fn parse_module_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_bools() {
        assert_eq!(parse_module_bool("Y\n"), Some(true));
        assert_eq!(parse_module_bool("0"), Some(false));
        assert_eq!(parse_module_bool("maybe"), None);
        assert_eq!(parse_module_bool(""), None);
    }
}
