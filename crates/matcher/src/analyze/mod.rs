//! Wireshark's TCP expert flags. (Placeholder.)
