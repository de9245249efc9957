//! Reads one small text field (`model`) out of a multipart/form-data body without re-encoding
//! it: uploads are forwarded byte for byte, only routing needs to look inside.

/// The boundary parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

/// The value of the text field `name`, if the body has one. Parts are walked by their
/// boundaries; file contents are skipped, never copied.
pub fn text_field(body: &[u8], boundary: &str, name: &str) -> Option<String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = body;
    // Each part starts after a delimiter line and ends at the next delimiter (preceded by CRLF).
    while let Some(at) = find(rest, delimiter) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            return None; // closing delimiter
        }
        let headers_end = find(rest, b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&rest[..headers_end]);
        let content = &rest[headers_end + 4..];
        let end = find(content, delimiter)?;
        if part_name(&headers).as_deref() == Some(name) && !headers.contains("filename=") {
            let value = content[..end]
                .strip_suffix(b"\r\n")
                .unwrap_or(&content[..end]);
            return String::from_utf8(value.to_vec()).ok();
        }
        rest = &content[end..];
    }
    None
}

fn part_name(headers: &str) -> Option<String> {
    headers.lines().find_map(|line| {
        let (header, value) = line.split_once(':')?;
        if !header.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        value.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
        })
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"model.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\nname=\"model\"\x00\xff\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-image-1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n--XyZ--\r\n";

    #[test]
    fn finds_the_model_field_after_a_binary_file_part() {
        assert_eq!(
            text_field(BODY, "XyZ", "model").as_deref(),
            Some("gpt-image-1")
        );
        assert_eq!(text_field(BODY, "XyZ", "prompt").as_deref(), Some("a cat"));
        assert_eq!(
            text_field(BODY, "XyZ", "image"),
            None,
            "file parts are not text fields"
        );
        assert_eq!(text_field(BODY, "XyZ", "missing"), None);
        assert_eq!(text_field(BODY, "other", "model"), None);
        assert_eq!(text_field(b"garbage", "XyZ", "model"), None);
    }

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(boundary("multipart/form-data; boundary=XyZ"), Some("XyZ"));
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\""),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }
}
