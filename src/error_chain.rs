//! An error and its sources as one line of text.

/// The error's text followed by each cause not already part of it: HTTP and database clients
/// keep the TLS, connection and OS details in the source chain, not in their own message.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Layer(String, #[source] Option<Box<Layer>>);

    #[test]
    fn causes_follow_the_error_and_repeated_text_is_left_out() {
        let os = Layer("connection refused".into(), None);
        let repeated = Layer("io: connection refused".into(), Some(Box::new(os)));
        let top = Layer("cannot connect".into(), Some(Box::new(repeated)));
        assert_eq!(one_line(&top), "cannot connect: io: connection refused");
    }
}
