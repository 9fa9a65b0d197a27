//! Which addresses a control connection may reach. A name that resolves to
//! loopback, a private network, link-local (cloud metadata lives there) or
//! any other special range is refused unless the operator allowed that
//! range, so DNS cannot turn a granted name into a way into the host's own
//! network. An IP address granted literally is the operator's explicit
//! choice and always allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address ranges the operator opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkRules {
    /// Allow loopback (127.0.0.0/8, ::1) behind granted names.
    pub allow_loopback: bool,
    /// Allow private networks (10/8, 172.16/12, 192.168/16, 100.64/10,
    /// fc00::/7) behind granted names.
    pub allow_private: bool,
}

/// The class of an address, for the rule check and the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address.
    Public,
    /// Loopback.
    Loopback,
    /// A private or shared (carrier-grade NAT) network.
    Private,
    /// Link-local, including the cloud metadata address 169.254.169.254.
    LinkLocal,
    /// Unspecified, broadcast, multicast, documentation or reserved.
    Special,
}

/// Classify an address (IPv4-mapped IPv6 addresses as their IPv4 form).
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        AddressClass::Private
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a >= 240
        || a == 0
    {
        AddressClass::Special
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if first & 0xfe00 == 0xfc00 {
        AddressClass::Private
    } else if first & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if ip.is_unspecified() || ip.is_multicast() || first == 0x2001 && ip.segments()[1] == 0x0db8 {
        AddressClass::Special
    } else {
        AddressClass::Public
    }
}

impl NetworkRules {
    /// Why `ip` may not be dialed, if it may not.
    pub fn refuse(&self, ip: IpAddr) -> Option<String> {
        let (class, flag) = match classify(ip) {
            AddressClass::Public => return None,
            AddressClass::Loopback if self.allow_loopback => return None,
            AddressClass::Private if self.allow_private => return None,
            AddressClass::Loopback => ("a loopback address", Some("--allow-loopback")),
            AddressClass::Private => ("a private-network address", Some("--allow-private")),
            AddressClass::LinkLocal => ("a link-local address (cloud metadata lives there)", None),
            AddressClass::Special => ("a reserved or special-purpose address", None),
        };
        Some(match flag {
            Some(flag) => format!("{ip} is {class}; grant the address itself, or allow the range with {flag}"),
            None => format!("{ip} is {class}; grant the address itself if it is really meant"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let cases = [
            ("8.8.8.8", AddressClass::Public),
            ("127.0.0.1", AddressClass::Loopback),
            ("127.9.9.9", AddressClass::Loopback),
            ("10.1.2.3", AddressClass::Private),
            ("172.16.0.1", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Private),
            ("169.254.169.254", AddressClass::LinkLocal),
            ("0.0.0.0", AddressClass::Special),
            ("255.255.255.255", AddressClass::Special),
            ("224.0.0.1", AddressClass::Special),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::LinkLocal),
            ("fd00::1", AddressClass::Private),
            ("fe80::1", AddressClass::LinkLocal),
            ("2001:db8::1", AddressClass::Special),
            ("2606:4700::1111", AddressClass::Public),
        ];
        for (ip, want) in cases {
            assert_eq!(classify(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn refuses_unless_allowed() {
        let strict = NetworkRules::default();
        assert!(strict.refuse("127.0.0.1".parse().unwrap()).is_some());
        assert!(strict.refuse("93.184.216.34".parse().unwrap()).is_none());
        let open = NetworkRules { allow_loopback: true, allow_private: true };
        assert!(open.refuse("127.0.0.1".parse().unwrap()).is_none());
        assert!(open.refuse("10.0.0.1".parse().unwrap()).is_none());
        assert!(open.refuse("169.254.169.254".parse().unwrap()).is_some(), "metadata stays closed");
    }
}
