//! Types of disks and filesystems: guest-get-disks, guest-get-fsinfo.
