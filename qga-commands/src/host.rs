//! `guest-get-host-name`: the node name from `uname(2)`, read on every call
//! so a renamed guest reports its new name.

use qga_protocol::schema::{GuestHostName, NoArgs};

use crate::agent::Agent;
use crate::error::CommandError;

/// Longest host name glibc's `gethostname` hands back in the buffer QEMU's
/// agent passes (`sysconf(_SC_HOST_NAME_MAX)` bytes, NUL included).
const HOST_NAME_MAX: usize = 64;

/// `guest-get-host-name`.
pub(crate) fn host_name(_: &Agent, _: NoArgs) -> Result<GuestHostName, CommandError> {
    host_name_from(rustix::system::uname().nodename().to_bytes())
}

/// The reply for the node name `nodename`. A name that fills QEMU's buffer
/// fails there with `ENAMETOOLONG`.
fn host_name_from(nodename: &[u8]) -> Result<GuestHostName, CommandError> {
    if nodename.len() >= HOST_NAME_MAX {
        return Err(CommandError::HostName(rustix::io::Errno::NAMETOOLONG));
    }
    Ok(GuestHostName {
        host_name: String::from_utf8_lossy(nodename).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name_from(b"guest").unwrap().host_name, "guest");
        assert_eq!(host_name_from(&[b'h'; 63]).unwrap().host_name.len(), 63);
        assert_eq!(
            host_name_from(&[b'h'; 64]).unwrap_err().to_string(),
            "cannot get hostname: File name too long"
        );
        let name = host_name_from(rustix::system::uname().nodename().to_bytes())
            .unwrap()
            .host_name;
        let expected = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(name, expected.trim_end());
    }
}
