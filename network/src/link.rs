//! The link layer and the overlay: VLAN ids, MTUs, VXLAN network identifiers and ranges of them.

use crate::model::VniRange;

/// The smallest MTU accepted: IPv6's minimum.
pub const MTU_MIN: u32 = 1280;
/// The largest MTU accepted: common jumbo-frame ceiling of data-center switches.
pub const MTU_MAX: u32 = 9216;
/// The largest VLAN id (4095 is reserved, as is 0).
pub const VLAN_MAX: u16 = 4094;
/// The largest VXLAN network identifier (24 bits).
pub const VNI_MAX: u32 = (1 << 24) - 1;

/// A number outside the range its field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// A VLAN id outside 1 to [`VLAN_MAX`].
    #[error(
        "a VLAN id is a whole number from 1 to 4094 (0 and 4095 are reserved); leave it empty for untagged"
    )]
    Vlan,
    /// An MTU outside [`MTU_MIN`] to [`MTU_MAX`].
    #[error("the MTU is a whole number from {MTU_MIN} to {MTU_MAX}")]
    Mtu,
    /// A VXLAN network identifier outside 1 to [`VNI_MAX`].
    #[error("a VXLAN id is a whole number from 1 to {VNI_MAX}")]
    Vni,
}

/// Checks a VLAN id (1 to 4094).
pub fn check_vlan(id: u32) -> Result<u16, RangeError> {
    u16::try_from(id)
        .ok()
        .filter(|v| (1..=VLAN_MAX).contains(v))
        .ok_or(RangeError::Vlan)
}

/// Checks an MTU ([`MTU_MIN`] to [`MTU_MAX`]).
pub fn check_mtu(mtu: u32) -> Result<u32, RangeError> {
    if (MTU_MIN..=MTU_MAX).contains(&mtu) {
        Ok(mtu)
    } else {
        Err(RangeError::Mtu)
    }
}

/// Checks a VXLAN network identifier (1 to [`VNI_MAX`]).
pub fn check_vni(vni: u32) -> Result<u32, RangeError> {
    if (1..=VNI_MAX).contains(&vni) {
        Ok(vni)
    } else {
        Err(RangeError::Vni)
    }
}

/// Why a range of VXLAN network identifiers is refused; `Display` is the wording of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VniError {
    /// The first VNI is not one.
    #[error("must be from 1 to {VNI_MAX}, got {0}")]
    First(u32),
    /// The last VNI is above [`VNI_MAX`].
    #[error("must be at most {VNI_MAX}, got {0}")]
    Last(u32),
    /// The range ends before it starts.
    #[error("{last} is below first ({first})")]
    Reversed {
        /// The first VNI.
        first: u32,
        /// The last VNI.
        last: u32,
    },
}

impl VniError {
    /// The field of the range it is about (`first` or `last`).
    pub fn field(&self) -> &'static str {
        match self {
            VniError::First(_) => "first",
            VniError::Last(_) | VniError::Reversed { .. } => "last",
        }
    }
}

impl VniRange {
    /// Every problem of the range: each end a VNI (1 to [`VNI_MAX`]), the last not below the first. (A last
    /// of 0 is below every valid first, so it is reported as reversed.)
    pub fn check(&self) -> Vec<VniError> {
        let mut errors = Vec::new();
        if check_vni(self.first).is_err() {
            errors.push(VniError::First(self.first));
        }
        if self.last > VNI_MAX {
            errors.push(VniError::Last(self.last));
        }
        if self.last < self.first {
            errors.push(VniError::Reversed {
                first: self.first,
                last: self.last,
            });
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_mtu_and_vni_bounds() {
        assert_eq!(check_vlan(1), Ok(1));
        assert_eq!(check_vlan(4094), Ok(4094));
        for bad in [0, 4095, 70_000] {
            assert_eq!(check_vlan(bad), Err(RangeError::Vlan), "{bad}");
        }
        check_mtu(1280).unwrap();
        check_mtu(9216).unwrap();
        for bad in [0, 1279, 9217] {
            assert_eq!(check_mtu(bad), Err(RangeError::Mtu), "{bad}");
        }
        check_vni(1).unwrap();
        check_vni(VNI_MAX).unwrap();
        assert_eq!(
            check_vni(VNI_MAX + 1).unwrap_err().to_string(),
            "a VXLAN id is a whole number from 1 to 16777215"
        );
        assert_eq!(check_vni(0), Err(RangeError::Vni));
    }

    #[test]
    fn vni_ranges() {
        assert!(VniRange::default().check().is_empty());
        let range = |first, last| VniRange { first, last }.check();
        assert!(range(5, 5).is_empty());
        assert_eq!(range(0, 10), [VniError::First(0)]);
        assert_eq!(
            range(1, 20_000_000)[0].to_string(),
            "must be at most 16777215, got 20000000"
        );
        assert_eq!(range(100, 10)[0].to_string(), "10 is below first (100)");
        assert_eq!(range(100, 10)[0].field(), "last");
        assert_eq!(range(5, 0), [VniError::Reversed { first: 5, last: 0 }]);
        assert_eq!(
            range(VNI_MAX + 1, VNI_MAX + 2),
            [VniError::First(VNI_MAX + 1), VniError::Last(VNI_MAX + 2)]
        );
    }
}
