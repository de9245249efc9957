//! The Aliyun WAF challenge page some panels (AnyRouter) answer with instead of JSON:
//! detected, and solved into the `acw_sc__v2` cookie for one retry.
//! A leaf: pure string work, no panel types.

/// The cookie the challenge script computes.
pub const WAF_COOKIE: &str = "acw_sc__v2";
/// Cookies the WAF sets alongside the challenge and expects back.
const WAF_SET_COOKIES: [&str; 2] = ["acw_tc", "cdn_sec_tc"];
/// The challenge's fixed position table: output character `j` is `arg1[POSITIONS[j] - 1]`.
const POSITIONS: [usize; 40] = [
    15, 35, 29, 24, 33, 16, 1, 38, 10, 9, 19, 31, 40, 27, 22, 23, 25, 13, 6, 11, 39, 18, 20, 8, 14,
    21, 32, 26, 2, 30, 7, 4, 17, 5, 3, 28, 34, 37, 12, 36,
];
/// The XOR mask the challenge script embeds.
const MASK: &str = "3000176000856006061501533003690027800375";

/// True for the WAF's HTML challenge page (`var arg1='<40 hex>'`), which arrives with HTTP 200.
pub fn is_waf_challenge(body: &str) -> bool {
    !body.trim_start().starts_with('{') && challenge_arg(body).is_some()
}

/// The `arg1` value of a challenge page: 40 hex digits after `arg1=` and a quote.
fn challenge_arg(body: &str) -> Option<&str> {
    body.match_indices("arg1").find_map(|(at, _)| {
        let rest = body[at + 4..].trim_start().strip_prefix('=')?.trim_start();
        let rest = rest.strip_prefix('\'').or_else(|| rest.strip_prefix('"'))?;
        let arg = rest.get(..40)?;
        arg.bytes().all(|b| b.is_ascii_hexdigit()).then_some(arg)
    })
}

/// Computes `acw_sc__v2` from a challenge page: reorder `arg1` by the position table, then
/// XOR it byte-wise with the mask. None when the page carries no `arg1`.
pub fn solve_challenge(body: &str) -> Option<String> {
    let arg = challenge_arg(body)?.as_bytes();
    let reordered: Vec<u8> = POSITIONS.iter().map(|p| arg[p - 1]).collect();
    let byte = |hex: &[u8]| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok();
    reordered
        .chunks(2)
        .zip(MASK.as_bytes().chunks(2))
        .map(|(a, m)| Some(format!("{:02x}", byte(a)? ^ byte(m)?)))
        .collect()
}

/// Cookies to add for the retry: the solved `acw_sc__v2` plus the WAF's own from Set-Cookie.
pub fn challenge_cookies(body: &str, set_cookie: &[&str]) -> Option<Vec<(String, String)>> {
    let mut cookies = vec![(WAF_COOKIE.to_string(), solve_challenge(body)?)];
    cookies.extend(set_cookie.iter().filter_map(|header| {
        let (name, value) = header.split(';').next()?.trim().split_once('=')?;
        WAF_SET_COOKIES
            .contains(&name)
            .then(|| (name.to_string(), value.to_string()))
    }));
    Some(cookies)
}

#[cfg(test)]
mod tests {
    use super::super::credential::Credential;
    use super::super::family::challenge_error;
    use super::super::PanelAdapter;
    use super::*;
    use crate::core::platform::Platform;

    const CHALLENGE: &str = fixture!("anyrouter_challenge.html");

    #[test]
    fn challenge_page_is_an_account_error_on_every_parser() {
        let a = PanelAdapter::for_platform(Platform::AnyRouter);
        assert!(is_waf_challenge(CHALLENGE));
        assert_eq!(
            a.parse_balance(200, CHALLENGE, 500_000.0),
            Err(challenge_error())
        );
        assert_eq!(
            a.parse_checkin(200, CHALLENGE, 500_000.0),
            Err(challenge_error())
        );
        assert_eq!(a.parse_models(200, CHALLENGE), Err(challenge_error()));
        assert!(challenge_error().is_account_error());
        assert!(!is_waf_challenge(
            r#"{"success":true,"message":"var arg1='x'"}"#
        ));
    }

    #[test]
    fn solves_the_challenge_cookie() {
        // Independent vector: qaiu AcwScV2GeneratorTest.
        assert_eq!(
            solve_challenge(CHALLENGE).as_deref(),
            Some("68d8c25247df18dd66d24165d11084d09bc00db9")
        );
        assert_eq!(solve_challenge("<html>no challenge</html>"), None);
        assert_eq!(solve_challenge("var arg1='12zz';"), None);
        let cookies = challenge_cookies(
            CHALLENGE,
            &["acw_tc=0a1b2c; path=/; HttpOnly", "session=other; Path=/"],
        )
        .unwrap();
        assert_eq!(
            cookies,
            vec![
                (
                    "acw_sc__v2".to_string(),
                    "68d8c25247df18dd66d24165d11084d09bc00db9".to_string()
                ),
                ("acw_tc".to_string(), "0a1b2c".to_string()),
            ]
        );
        let mut retry = PanelAdapter::for_platform(Platform::AnyRouter)
            .self_request(&Credential::Cookie {
                cookie: "session=abc".into(),
                user_id: "12345".into(),
            })
            .unwrap();
        for (name, value) in &cookies {
            retry.add_cookie(name, value);
        }
        assert_eq!(
            retry.headers[0],
            (
                "Cookie",
                "session=abc; acw_sc__v2=68d8c25247df18dd66d24165d11084d09bc00db9; acw_tc=0a1b2c"
                    .to_string()
            )
        );
    }
}
