//! Reading what a syslog sink sent over TCP or TLS, for the outputs tests.

/// The messages of RFC 6587 octet-counted frames (`LENGTH SP MESSAGE`) in `bytes`, in order.
pub fn octet_frames(bytes: &[u8]) -> Vec<String> {
    let mut rest = bytes;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ').expect("a length");
        let length: usize = std::str::from_utf8(&rest[..space])
            .expect("digits")
            .parse()
            .expect("a length");
        frames
            .push(String::from_utf8(rest[space + 1..space + 1 + length].to_vec()).expect("UTF-8"));
        rest = &rest[space + 1 + length..];
    }
    frames
}
