//! Types of guest-exec and guest-exec-status.
