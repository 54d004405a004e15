//! Error numbers as the system words them.

use rustix::io;

/// The system's text for an error number, as C's `strerror` gives it.
pub fn strerror(errno: io::Errno) -> String {
    let text = std::io::Error::from_raw_os_error(errno.raw_os_error()).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// [`strerror`] for a std I/O error.
pub fn io_strerror(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(raw) => strerror(io::Errno::from_raw_os_error(raw)),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_has_no_rust_suffix() {
        assert_eq!(strerror(io::Errno::NOENT), "No such file or directory");
        assert_eq!(strerror(io::Errno::INVAL), "Invalid argument");
        let e = std::io::Error::from_raw_os_error(io::Errno::ACCESS.raw_os_error());
        assert_eq!(io_strerror(&e), "Permission denied");
    }
}
