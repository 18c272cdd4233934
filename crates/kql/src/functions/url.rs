//! URLs: `parse_url` and `url_decode`.

use crate::value::Value;

/// `parse_url`: the parts of a URL in the property bag KQL returns.
pub(super) fn parse_url(url: &str) -> Value {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Value::dynamic(serde_json::json!({}));
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest
        .find('/')
        .map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (hostport, ""),
    };
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    Value::dynamic(serde_json::json!({
        "Scheme": scheme,
        "Host": host,
        "Port": port,
        "Path": path,
        "Username": user,
        "Password": password,
        "Query Parameters": params,
        "Fragment": fragment,
    }))
}

/// `url_decode`: percent-decoding; `None` when the result is not UTF-8.
pub(super) fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `parse_path`: a Windows, UNC, Unix or URL path's parts in the property bag Kusto returns.
pub(super) fn parse_path(path: &str) -> Value {
    let (scheme, root) = match path.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (scheme, rest.split(['/', '\\']).next().unwrap_or(""))
        }
        _ => {
            let b = path.as_bytes();
            let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
            ("", if drive { &path[..2] } else { "" })
        }
    };
    let cut = path.rfind(['/', '\\']);
    let (directory, file) = match cut {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => ("", path),
    };
    // A colon in the file name (never the drive's, which sits before a separator) starts an
    // NTFS alternate data stream.
    let (file, stream) = match (cut, file.split_once(':')) {
        (Some(_), Some((name, stream))) => (name, stream),
        _ => (file, ""),
    };
    let directory_name = directory.rsplit(['/', '\\']).next().unwrap_or("");
    let directory_name = if directory_name == root && !scheme.is_empty() {
        ""
    } else {
        directory_name
    };
    let extension = file.rsplit_once('.').map_or("", |(_, ext)| ext);
    Value::dynamic(serde_json::json!({
        "Scheme": scheme,
        "RootPath": root,
        "DirectoryPath": directory,
        "DirectoryName": directory_name,
        "Filename": file,
        "Extension": extension,
        "AlternateDataStreamName": stream,
    }))
}
