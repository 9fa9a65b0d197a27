//! Which addresses a control connection may reach. A name that resolves to
//! loopback, a private network, link-local (cloud metadata lives there) or
//! any other special range is refused unless the operator allowed that
//! range, so DNS cannot turn a granted name into a way into the host's own
//! network. An IPv6 address that embeds an IPv4 one (IPv4-mapped,
//! IPv4-compatible, NAT64, 6to4) is judged by the IPv4 address it reaches.
//! Cloud metadata services are refused whatever ranges are open. An IP
//! address granted literally is the operator's explicit choice and always
//! allowed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Cloud instance-metadata services: refused behind a name whatever ranges
/// the operator opened, because they hand out the machine's credentials.
/// 169.254.169.254 (AWS, GCP, Azure, OpenStack), 100.100.100.200 (Alibaba),
/// fd00:ec2::254 (AWS over IPv6).
pub const METADATA_ADDRESSES: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)),
];

/// Address ranges the operator opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkRules {
    /// Allow loopback (127.0.0.0/8, ::1) behind granted names.
    pub allow_loopback: bool,
    /// Allow private networks (10/8, 172.16/12, 192.168/16, 100.64/10,
    /// fc00::/7, fec0::/10) behind granted names. Never opens
    /// [`METADATA_ADDRESSES`].
    pub allow_private: bool,
}

/// The class of an address, for the rule check and the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address.
    Public,
    /// Loopback.
    Loopback,
    /// A private or shared (carrier-grade NAT) network, or IPv6 site-local.
    Private,
    /// Link-local (169.254.0.0/16, fe80::/10).
    LinkLocal,
    /// A cloud metadata service ([`METADATA_ADDRESSES`]): never opened.
    Metadata,
    /// Unspecified, broadcast, multicast, documentation, benchmarking,
    /// IETF protocol assignments or reserved.
    Special,
}

/// Classify an address. IPv6 addresses that carry an IPv4 address
/// (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
/// `64:ff9b::/96`, 6to4 `2002::/16`) are classified as that IPv4 address;
/// the local-use NAT64 prefix `64:ff9b:1::/48` is at least private.
pub fn classify(ip: IpAddr) -> AddressClass {
    if METADATA_ADDRESSES.contains(&ip) {
        return AddressClass::Metadata;
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if METADATA_ADDRESSES.contains(&IpAddr::V4(ip)) {
        AddressClass::Metadata
    } else if ip.is_loopback() {
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
        // 198.18.0.0/15: benchmarking (RFC 2544).
        || (a == 198 && (b & 0xfe) == 18)
        // 192.0.0.0/24: IETF protocol assignments (RFC 6890).
        || (a == 192 && b == 0 && c == 0)
    {
        AddressClass::Special
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let s = ip.segments();
    let low_v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() {
        AddressClass::Special
    } else if let Some(v4) = ip.to_ipv4_mapped() {
        classify_v4(v4)
    } else if s[..6] == [0; 6] {
        // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
        classify_v4(low_v4)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix: the translator dials the embedded IPv4.
        classify_v4(low_v4)
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        // Local-use NAT64 (RFC 8215): never public, and the embedded IPv4
        // (at the usual /96 position) may be more closed still.
        match classify_v4(low_v4) {
            AddressClass::Public => AddressClass::Private,
            other => other,
        }
    } else if s[0] == 0x2002 {
        // 6to4: the IPv4 address of the relay is bits 16..48.
        classify_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8))
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        // Unique local fc00::/7, and deprecated site-local fec0::/10.
        AddressClass::Private
    } else if s[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if ip.is_multicast() || s[0] == 0x2001 && s[1] == 0x0db8 {
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
            AddressClass::Metadata => {
                return Some(format!(
                    "{ip} is a cloud metadata service, which is never reachable behind a name; grant the address itself if it is really meant"
                ))
            }
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
            ("169.254.169.254", AddressClass::Metadata),
            ("169.254.1.1", AddressClass::LinkLocal),
            ("0.0.0.0", AddressClass::Special),
            ("255.255.255.255", AddressClass::Special),
            ("224.0.0.1", AddressClass::Special),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::ffff:169.254.169.254", AddressClass::Metadata),
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

#[cfg(test)]
mod embedded_and_special {
    use super::*;

    /// Issue 13, item 15: ranges that were treated as public, and metadata
    /// addresses `allow_private` used to open. Each row: the address, its
    /// class, and whether it may be dialed with nothing open, with
    /// `allow_loopback`, with `allow_private`, and with both.
    #[test]
    fn embedded_ipv4_special_ranges_and_metadata() {
        use AddressClass::*;
        #[rustfmt::skip]
        let cases: &[(&str, AddressClass, [bool; 4])] = &[
            // NAT64 64:ff9b::/96 reaches the embedded IPv4.
            ("64:ff9b::7f00:1",         Loopback,  [false, true,  false, true]),
            ("64:ff9b::a00:1",          Private,   [false, false, true,  true]),
            ("64:ff9b::a9fe:a9fe",      Metadata,  [false, false, false, false]),
            ("64:ff9b::808:808",        Public,    [true,  true,  true,  true]),
            // Local-use NAT64 64:ff9b:1::/48: never public.
            ("64:ff9b:1::808:808",      Private,   [false, false, true,  true]),
            ("64:ff9b:1::7f00:1",       Loopback,  [false, true,  false, true]),
            // 6to4 2002::/16 embeds the IPv4 in bits 16..48.
            ("2002:7f00:1::1",          Loopback,  [false, true,  false, true]),
            ("2002:c0a8:101::1",        Private,   [false, false, true,  true]),
            ("2002:6464:64c8::",        Metadata,  [false, false, false, false]),
            ("2002:808:808::1",         Public,    [true,  true,  true,  true]),
            // IPv4-compatible ::a.b.c.d.
            ("::127.0.0.1",             Loopback,  [false, true,  false, true]),
            ("::10.0.0.1",              Private,   [false, false, true,  true]),
            ("::169.254.169.254",       Metadata,  [false, false, false, false]),
            // Site-local fec0::/10.
            ("fec0::1",                 Private,   [false, false, true,  true]),
            ("feff::1",                 Private,   [false, false, true,  true]),
            // Benchmarking 198.18.0.0/15 and IETF 192.0.0.0/24.
            ("198.18.0.1",              Special,   [false, false, false, false]),
            ("198.19.255.255",          Special,   [false, false, false, false]),
            ("198.20.0.1",              Public,    [true,  true,  true,  true]),
            ("192.0.0.8",               Special,   [false, false, false, false]),
            ("::ffff:192.0.0.170",      Special,   [false, false, false, false]),
            ("192.0.1.1",               Public,    [true,  true,  true,  true]),
            // Metadata: closed whatever is open, in every spelling.
            ("169.254.169.254",         Metadata,  [false, false, false, false]),
            ("100.100.100.200",         Metadata,  [false, false, false, false]),
            ("::ffff:100.100.100.200",  Metadata,  [false, false, false, false]),
            ("fd00:ec2::254",           Metadata,  [false, false, false, false]),
            ("100.100.100.201",         Private,   [false, false, true,  true]),
            ("fd00:ec2::253",           Private,   [false, false, true,  true]),
            // Unchanged neighbours.
            ("::1",                     Loopback,  [false, true,  false, true]),
            ("::",                      Special,   [false, false, false, false]),
            ("2606:4700::1111",         Public,    [true,  true,  true,  true]),
        ];
        let rules = [
            NetworkRules::default(),
            NetworkRules { allow_loopback: true, allow_private: false },
            NetworkRules { allow_loopback: false, allow_private: true },
            NetworkRules { allow_loopback: true, allow_private: true },
        ];
        for (ip, class, allowed) in cases {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(classify(addr), *class, "{ip}");
            for (rule, want) in rules.iter().zip(allowed) {
                let refused = rule.refuse(addr);
                assert_eq!(refused.is_none(), *want, "{ip} under {rule:?}: {refused:?}");
                if let Some(why) = refused {
                    assert!(why.contains(&addr.to_string()), "{why}");
                    if *class == Metadata {
                        assert!(why.contains("metadata"), "{why}");
                    }
                }
            }
        }
    }
}
