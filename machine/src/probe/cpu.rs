//! CPU: model, vendor, virtualization flags (consistent across CPUs?) and the online count.

use serde::{Deserialize, Serialize};

use crate::system::Root;

/// What the CPUs are and whether they can virtualize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFacts {
    /// `GenuineIntel`, `AuthenticAMD`, ...
    pub vendor: String,
    /// The model name of the first CPU.
    pub model: String,
    /// Logical CPUs listed in /proc/cpuinfo.
    pub logical: u32,
    /// CPUs online, from /sys/devices/system/cpu/online (falls back to `logical`).
    pub online: u32,
    /// `vmx` (Intel VT-x) or `svm` (AMD-V) when every CPU has it.
    pub virtualization: Option<String>,
    /// How many CPUs have the virtualization flag; differs from `logical` when firmware enabled it on only
    /// some sockets.
    pub virtualization_cpus: u32,
    /// The `hypervisor` flag: this kernel runs under a hypervisor.
    pub hypervisor_flag: bool,
}

/// Parses /proc/cpuinfo (x86 layout: blank-line separated blocks of `key : value`).
pub fn parse_cpuinfo(text: &str) -> Result<CpuFacts, String> {
    let mut vendor = String::new();
    let mut model = String::new();
    let mut logical = 0u32;
    let mut vmx = 0u32;
    let mut svm = 0u32;
    let mut hypervisor = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => logical += 1,
            "vendor_id" if vendor.is_empty() => vendor = value.to_owned(),
            "model name" if model.is_empty() => model = value.to_owned(),
            "flags" => {
                let flags: Vec<&str> = value.split_whitespace().collect();
                vmx += u32::from(flags.contains(&"vmx"));
                svm += u32::from(flags.contains(&"svm"));
                hypervisor |= flags.contains(&"hypervisor");
            }
            _ => {}
        }
    }
    if logical == 0 {
        return Err("no `processor` entry: not an x86 /proc/cpuinfo".into());
    }
    let (flag, count) = if vmx >= svm {
        ("vmx", vmx)
    } else {
        ("svm", svm)
    };
    Ok(CpuFacts {
        vendor,
        model,
        logical,
        online: logical,
        virtualization: (count == logical).then(|| flag.to_owned()),
        virtualization_cpus: count,
        hypervisor_flag: hypervisor,
    })
}

/// CPUs online: /sys/devices/system/cpu/online, else the processors /proc/cpuinfo lists; `None` when
/// neither can be read.
pub fn online(root: &Root) -> Option<u32> {
    root.read("/sys/devices/system/cpu/online")
        .and_then(|list| parse_cpu_list(&list).ok())
        .or_else(|| {
            let info = parse_cpuinfo(&root.read("/proc/cpuinfo")?).ok()?;
            Some(info.logical)
        })
        .filter(|&n| n > 0)
}

/// Parses a kernel CPU list such as `0-3,8-11,16` into a count.
pub fn parse_cpu_list(text: &str) -> Result<u32, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty CPU list".into());
    }
    let mut count = 0u32;
    for part in text.split(',') {
        let bad = || format!("bad CPU list entry `{part}`");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if b < a {
                    return Err(bad());
                }
                count += b - a + 1;
            }
            None => {
                part.parse::<u32>().map_err(|_| bad())?;
                count += 1;
            }
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u32, flags: &str) -> String {
        format!(
            "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Silver 4214\nflags\t\t: {flags}\n\n"
        )
    }

    #[test]
    fn vmx_on_every_cpu() {
        let text: String = (0..4).map(|n| block(n, "fpu vme vmx sse2")).collect();
        let cpu = parse_cpuinfo(&text).unwrap();
        assert_eq!(cpu.logical, 4);
        assert_eq!(cpu.virtualization.as_deref(), Some("vmx"));
        assert_eq!(cpu.vendor, "GenuineIntel");
        assert!(!cpu.hypervisor_flag);
    }

    #[test]
    fn inconsistent_flags_are_not_virtualization() {
        let text = block(0, "fpu vmx") + &block(1, "fpu");
        let cpu = parse_cpuinfo(&text).unwrap();
        assert_eq!(cpu.virtualization, None);
        assert_eq!(cpu.virtualization_cpus, 1);
    }

    #[test]
    fn hypervisor_without_vmx() {
        let cpu = parse_cpuinfo(&block(0, "fpu hypervisor")).unwrap();
        assert!(cpu.hypervisor_flag);
        assert_eq!(cpu.virtualization, None);
    }

    #[test]
    fn must_fail_cpuinfo() {
        assert!(parse_cpuinfo("").is_err());
        assert!(parse_cpuinfo("Processor : ARMv7\nFeatures : swp half\n").is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8-11,16\n").unwrap(), 9);
        assert_eq!(parse_cpu_list("0").unwrap(), 1);
        for bad in ["", "a", "3-1", "0-", "1,,2"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} accepted");
        }
    }
}
