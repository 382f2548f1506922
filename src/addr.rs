//! The address a channel remembers (`Channel::addr`), kept small.
//!
//! A `SockAddr` is 136 bytes (a whole `sockaddr_storage`) and nearly every channel
//! has one: the peer of an accepted connection. Stored as it is, it was most of the
//! memory of an idle connection. An IPv4 address is kept inline here (6 bytes); an
//! IPv6 or Unix address, rarer, in a box of its own. The whole is 16 bytes.

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use socket2::SockAddr;

/// A socket address, or none, in 16 bytes.
#[derive(Debug, Clone, Default)]
pub(crate) enum StoredAddr {
    #[default]
    None,
    V4(SocketAddrV4),
    V6(Box<SocketAddrV6>),
    Other(Box<SockAddr>),
}

impl StoredAddr {
    pub(crate) fn new(addr: SockAddr) -> StoredAddr {
        match addr.as_socket() {
            Some(SocketAddr::V4(a)) => StoredAddr::V4(a),
            Some(SocketAddr::V6(a)) => StoredAddr::V6(Box::new(a)),
            None => StoredAddr::Other(Box::new(addr)),
        }
    }

    /// The address as a `SockAddr` (built on demand).
    pub(crate) fn get(&self) -> Option<SockAddr> {
        match self {
            StoredAddr::None => None,
            StoredAddr::V4(a) => Some((*a).into()),
            StoredAddr::V6(a) => Some((**a).into()),
            StoredAddr::Other(a) => Some((**a).clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoredAddr;
    use socket2::SockAddr;
    use std::net::SocketAddr;

    #[test]
    fn is_small() {
        assert_eq!(std::mem::size_of::<StoredAddr>(), 16);
    }

    #[test]
    fn keeps_every_kind_of_address() {
        for text in ["127.0.0.1:8007", "[::1]:21", "[fe80::1%2]:80"] {
            let ip: SocketAddr = text.parse().unwrap();
            let stored = StoredAddr::new(ip.into());
            assert_eq!(stored.get().unwrap().as_socket(), Some(ip), "{text}");
        }
        let unix = SockAddr::unix("/tmp/asyncore-addr-test").unwrap();
        let stored = StoredAddr::new(unix.clone());
        assert_eq!(stored.get().unwrap().as_pathname(), unix.as_pathname());
        assert!(StoredAddr::None.get().is_none());
    }
}
