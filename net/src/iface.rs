//! Network interfaces: listing them and choosing the ones beacons use.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::NetError;

/// Chooses network interfaces for beacons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceSelector {
    /// The interface with this name (`eth0`, `lo`, `en0`...).
    Name(String),
    /// The interface that has this address.
    Addr(IpAddr),
}

impl fmt::Display for InterfaceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceSelector::Name(n) => write!(f, "interface {n}"),
            InterfaceSelector::Addr(a) => write!(f, "the interface with address {a}"),
        }
    }
}

impl From<IpAddr> for InterfaceSelector {
    fn from(a: IpAddr) -> Self {
        InterfaceSelector::Addr(a)
    }
}

impl From<Ipv4Addr> for InterfaceSelector {
    fn from(a: Ipv4Addr) -> Self {
        InterfaceSelector::Addr(a.into())
    }
}

impl From<&str> for InterfaceSelector {
    /// A string that parses as an IP address selects by address, any other
    /// by name.
    fn from(s: &str) -> Self {
        match s.parse::<IpAddr>() {
            Ok(a) => InterfaceSelector::Addr(a),
            Err(_) => InterfaceSelector::Name(s.to_string()),
        }
    }
}

/// One IPv4 address of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V4Addr {
    /// The address.
    pub ip: Ipv4Addr,
    /// The length of its subnet prefix (24 for a /24).
    pub prefix_len: u8,
    /// Its broadcast address, if the interface has one.
    pub broadcast: Option<Ipv4Addr>,
}

/// A network interface with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its index (IPv6 multicast is joined and sent by index); 0 if the OS
    /// did not tell.
    pub index: u32,
    /// Whether it is a loopback interface.
    pub loopback: bool,
    /// Whether the OS reports it up (true when the OS does not tell).
    pub up: bool,
    /// Its IPv4 addresses.
    pub v4: Vec<V4Addr>,
    /// Its IPv6 addresses.
    pub v6: Vec<Ipv6Addr>,
}

impl Interface {
    /// Whether it matches `sel`.
    pub fn matches(&self, sel: &InterfaceSelector) -> bool {
        match sel {
            InterfaceSelector::Name(n) => &self.name == n,
            InterfaceSelector::Addr(IpAddr::V4(a)) => self.v4.iter().any(|v| v.ip == *a),
            InterfaceSelector::Addr(IpAddr::V6(a)) => self.v6.contains(a),
        }
    }
}

/// Every interface of this host, with its addresses, in name order.
pub fn interfaces() -> Result<Vec<Interface>, NetError> {
    let list = if_addrs::get_if_addrs().map_err(NetError::Interfaces)?;
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for i in list {
        let up = !matches!(i.oper_status, if_addrs::IfOperStatus::Down);
        let loopback = i.is_loopback();
        let e = by_name.entry(i.name.clone()).or_insert_with(|| Interface {
            name: i.name.clone(),
            index: i.index.unwrap_or(0),
            loopback,
            up,
            v4: Vec::new(),
            v6: Vec::new(),
        });
        match i.addr {
            if_addrs::IfAddr::V4(a) => e.v4.push(V4Addr {
                ip: a.ip,
                prefix_len: a.prefixlen,
                // Where the address has no broadcast address, getifaddrs
                // reports the address itself (the "other end" field):
                // that is no broadcast address.
                broadcast: a.broadcast.filter(|b| *b != a.ip),
            }),
            if_addrs::IfAddr::V6(a) => e.v6.push(a.ip),
        }
    }
    Ok(by_name.into_values().collect())
}

/// The interfaces `selectors` choose, from `all`.
///
/// With no selector: every interface that is up and not loopback; if there
/// is none, the loopback interfaces (a host alone still finds its own
/// nodes). Each selector must match an interface.
pub fn select(
    all: &[Interface],
    selectors: &[InterfaceSelector],
) -> Result<Vec<Interface>, NetError> {
    if selectors.is_empty() {
        let chosen: Vec<Interface> = all.iter().filter(|i| i.up && !i.loopback).cloned().collect();
        if !chosen.is_empty() {
            return Ok(chosen);
        }
        return Ok(all.iter().filter(|i| i.loopback).cloned().collect());
    }
    let mut chosen: Vec<Interface> = Vec::new();
    for sel in selectors {
        let Some(i) = all.iter().find(|i| i.matches(sel)) else {
            return Err(NetError::NoSuchInterface(sel.to_string()));
        };
        if !chosen.iter().any(|c| c.name == i.name) {
            chosen.push(i.clone());
        }
    }
    Ok(chosen)
}

pub(crate) fn names(list: &[Interface]) -> String {
    if list.is_empty() {
        return "no interface".into();
    }
    list.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lo() -> Interface {
        Interface {
            name: "lo".into(),
            index: 1,
            loopback: true,
            up: true,
            v4: vec![V4Addr { ip: Ipv4Addr::LOCALHOST, prefix_len: 8, broadcast: None }],
            v6: vec![Ipv6Addr::LOCALHOST],
        }
    }

    fn eth() -> Interface {
        Interface {
            name: "eth0".into(),
            index: 2,
            loopback: false,
            up: true,
            v4: vec![V4Addr {
                ip: Ipv4Addr::new(192, 0, 2, 2),
                prefix_len: 24,
                broadcast: Some(Ipv4Addr::new(192, 0, 2, 255)),
            }],
            v6: vec![],
        }
    }

    #[test]
    fn default_selection_skips_loopback_unless_alone() {
        let all = vec![lo(), eth()];
        assert_eq!(select(&all, &[]).unwrap(), vec![eth()]);
        assert_eq!(select(&[lo()], &[]).unwrap(), vec![lo()]);
    }

    #[test]
    fn selection_by_name_and_address() {
        let all = vec![lo(), eth()];
        assert_eq!(select(&all, &["lo".into()]).unwrap(), vec![lo()]);
        assert_eq!(select(&all, &["127.0.0.1".into()]).unwrap(), vec![lo()]);
        assert_eq!(select(&all, &["eth0".into(), "192.0.2.2".into()]).unwrap(), vec![eth()]);
        let err = select(&all, &["wlan9".into()]).unwrap_err();
        assert!(err.to_string().contains("wlan9"), "{err}");
    }

    #[test]
    fn this_host_has_a_loopback_interface() {
        let all = interfaces().unwrap();
        assert!(all.iter().any(|i| i.loopback), "{all:?}");
    }
}
