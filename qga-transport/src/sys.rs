//! The gaps in rustix this crate fills: vsock socket addresses (both
//! ways), and taking over a descriptor inherited by socket activation.
#![allow(unsafe_code)]

use rustix::net::addr::{SocketAddrArg, SocketAddrLen, SocketAddrOpaque};
use rustix::net::{AddressFamily, SocketAddrAny};

/// `AF_VSOCK` from `<sys/socket.h>`.
const AF_VSOCK: u16 = 40;

/// `struct sockaddr_vm` from `<linux/vm_sockets.h>`.
#[repr(C)]
struct SockaddrVm {
    svm_family: u16,
    svm_reserved1: u16,
    svm_port: u32,
    svm_cid: u32,
    svm_flags: u8,
    svm_zero: [u8; 3],
}

/// A vsock address: context id and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VsockAddr {
    /// Context id (`VMADDR_CID_ANY` is `u32::MAX`).
    pub cid: u32,
    /// Port.
    pub port: u32,
}

// SAFETY: `with_sockaddr` hands `f` a pointer to a fully initialized
// `sockaddr_vm` that lives on the stack for the whole call, and its exact
// size, which is what the kernel reads for AF_VSOCK.
unsafe impl SocketAddrArg for VsockAddr {
    unsafe fn with_sockaddr<R>(&self, f: impl FnOnce(*const SocketAddrOpaque, SocketAddrLen) -> R) -> R {
        let raw = SockaddrVm {
            svm_family: AF_VSOCK,
            svm_reserved1: 0,
            svm_port: self.port,
            svm_cid: self.cid,
            svm_flags: 0,
            svm_zero: [0; 3],
        };
        f(
            (&raw as *const SockaddrVm).cast::<SocketAddrOpaque>(),
            std::mem::size_of::<SockaddrVm>() as SocketAddrLen,
        )
    }
}

/// The vsock address held by `addr` (a peer's address from `accept`), or
/// `None` if it is not a complete vsock address.
pub fn vsock_addr_of(addr: &SocketAddrAny) -> Option<VsockAddr> {
    if addr.address_family() != AddressFamily::VSOCK
        || (addr.addr_len() as usize) < std::mem::size_of::<SockaddrVm>()
    {
        return None;
    }
    // SAFETY: `as_ptr` points at a `sockaddr_storage` (128 bytes, more
    // than the 16 of `sockaddr_vm`) whose first `addr_len` bytes, checked
    // above to cover a whole `sockaddr_vm`, were written by the kernel;
    // every bit pattern is a valid `SockaddrVm` (integers only), and
    // `read_unaligned` copies it out whatever the alignment.
    let raw = unsafe { addr.as_ptr().cast::<SockaddrVm>().read_unaligned() };
    Some(VsockAddr {
        cid: raw.svm_cid,
        port: raw.svm_port,
    })
}

/// Takes ownership of a descriptor this process inherited under a
/// protocol that hands it over (systemd socket activation). Fails, without
/// taking anything, if the descriptor is not open.
pub fn take_inherited_fd(raw: std::os::fd::RawFd) -> rustix::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
    // SAFETY: the borrow lasts only for this check, which reads the
    // descriptor's flags and fails with EBADF if it is not open.
    rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(raw) })?;
    // SAFETY: the descriptor is open (checked above) and, by the socket
    // activation protocol, was handed to this process for its own use:
    // nothing else in the process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vsock_addresses_decode_as_they_encode() {
        let addr = VsockAddr {
            cid: 7,
            port: 0x1234_5678,
        };
        let any = addr.as_any();
        assert_eq!(any.address_family(), AddressFamily::VSOCK);
        assert_eq!(any.addr_len() as usize, 16);
        assert_eq!(vsock_addr_of(&any), Some(addr));
        let max = VsockAddr {
            cid: u32::MAX,
            port: 1,
        };
        assert_eq!(vsock_addr_of(&max.as_any()), Some(max));
    }

    #[test]
    fn other_families_are_not_vsock_addresses() {
        let inet = SocketAddrAny::from(std::net::SocketAddr::from(([127, 0, 0, 2], 2)));
        assert_eq!(vsock_addr_of(&inet), None);
        let unix = rustix::net::SocketAddrUnix::new_abstract_name(b"qga").unwrap();
        assert_eq!(vsock_addr_of(&SocketAddrAny::from(unix)), None);
    }
}
