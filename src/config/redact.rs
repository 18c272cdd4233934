//! URLs shown in messages and logs: the password, and only it, is replaced.

/// What a URL's password is shown as.
const REDACTED: &str = "[redacted]";

/// The URL with its password replaced by `[redacted]` and every other byte kept as written.
pub fn redact_url(url: &str) -> String {
    let Some(scheme) = url.find("://") else {
        return url.to_string();
    };
    let start = scheme + 3;
    let rest = &url[start..];
    // In a URL the user info ends at the authority's last `@` and the authority at the first
    // `/`, `?` or `#`. Text that is no URL may hold a password with those characters, so there
    // the last `@` anywhere ends it: more is hidden rather than a password shown.
    let authority = if reqwest::Url::parse(url).is_ok() {
        rest.find(['/', '?', '#']).map_or(rest, |end| &rest[..end])
    } else {
        rest
    };
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{REDACTED}{}", &url[..=start + colon], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact_url("mysql://u:secret@host/db"),
            "mysql://u:[redacted]@host/db"
        );
        assert_eq!(redact_url("mysql://host/db"), "mysql://host/db");
    }

    #[test]
    fn database_passwords_are_redacted_for_display() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/h"),
            "postgres://u:[redacted]@db:5432/h"
        );
        assert_eq!(redact_url("postgres://u@db/h"), "postgres://u@db/h");
    }

    #[test]
    fn only_the_password_is_replaced() {
        assert_eq!(
            redact_url("postgres://u:p@ss@db/h?application_name=a@b"),
            "postgres://u:[redacted]@db/h?application_name=a@b"
        );
        assert_eq!(
            redact_url("postgres://db:5432/h?user=a@b"),
            "postgres://db:5432/h?user=a@b"
        );
    }

    #[test]
    fn text_that_is_no_url_still_hides_what_may_be_a_password() {
        assert_eq!(
            redact_url("postgres://u:pa/ss@db/h"),
            "postgres://u:[redacted]@db/h"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
