//! Crypto helpers: sealing credentials at rest (AES-256-GCM, HKDF-derived versioned keys, the
//! row as associated data), hashing keys, constant-time compare, secret strength.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::fmt;

/// Why a crypto operation failed. Never carries secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The system random source failed.
    Random,
    /// A sealed value is not in the `v2:<key id>:<hex>` (or legacy `v1:<hex>`) format.
    Malformed,
    /// Authentication failed: wrong key, another row's ciphertext, or the ciphertext was altered.
    Tampered,
    /// Sealed under a key that is neither `ENCRYPTION_KEY` nor `ENCRYPTION_KEY_PREVIOUS`.
    UnknownKey,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CryptoError::Random => "random source unavailable",
            CryptoError::Malformed => "sealed value is malformed",
            CryptoError::Tampered => {
                "sealed value failed authentication (wrong ENCRYPTION_KEY, or another row's value?)"
            }
            CryptoError::UnknownKey => {
                "sealed under an unknown key (set the old one as ENCRYPTION_KEY_PREVIOUS)"
            }
        })
    }
}

impl std::error::Error for CryptoError {}

/// Before key versions: `v1:` + hex(nonce ‖ ciphertext ‖ tag), key = SHA-256 of the secret,
/// no associated data. Still opened (and re-sealed by the re-encrypt route), never written.
const LEGACY_PREFIX: &str = "v1:";
/// `v2:<key id>:` + hex(nonce ‖ ciphertext ‖ tag), key = HKDF-SHA256 of the secret, the row
/// bound as associated data.
const SEAL_PREFIX: &str = "v2:";
const NONCE_LEN: usize = 12;
const HKDF_SALT: &[u8] = b"ai-gateway credential sealing";

/// The row a sealed value belongs to, bound into the ciphertext (AES-GCM associated data): a
/// ciphertext copied to another row, table or organization fails to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    pub org: i64,
    /// The table and column, e.g. `accounts.credential`.
    pub table: &'a str,
    /// The owning row: the account's id, or an upstream key's station.
    pub row: i64,
}

impl Aad<'_> {
    fn bytes(&self) -> Vec<u8> {
        format!("org={};table={};row={}", self.org, self.table, self.row).into_bytes()
    }
}

struct SealKey {
    /// Eight hex characters naming the key inside each ciphertext.
    id: String,
    cipher: Aes256Gcm,
    /// The same secret as the pre-v2 format derived it.
    legacy: Aes256Gcm,
}

impl SealKey {
    fn new(secret: &str) -> Self {
        let key = hkdf_sha256(secret.as_bytes(), HKDF_SALT, b"aes-256-gcm key v2");
        let id = hkdf_sha256(secret.as_bytes(), HKDF_SALT, b"key id v2");
        Self {
            id: hex(&id[..4]),
            cipher: Aes256Gcm::new(&key.into()),
            legacy: Aes256Gcm::new(&Sha256::digest(secret.as_bytes())),
        }
    }
}

/// Seals and opens secrets with AES-256-GCM under keys derived (HKDF-SHA256) from the
/// `ENCRYPTION_KEY` secret and, during a rotation, `ENCRYPTION_KEY_PREVIOUS`.
pub struct SecretBox {
    current: SealKey,
    previous: Option<SealKey>,
}

impl SecretBox {
    pub fn new(current: &str, previous: Option<&str>) -> Self {
        Self {
            current: SealKey::new(current),
            previous: previous.filter(|p| !p.is_empty()).map(SealKey::new),
        }
    }

    /// Encrypts `plaintext` for the row `aad` under the current key with a fresh random nonce.
    pub fn seal(&self, plaintext: &str, aad: &Aad) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let aad = aad.bytes();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: &aad,
        };
        let sealed = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| CryptoError::Malformed)?;
        Ok(format!(
            "{SEAL_PREFIX}{}:{}{}",
            self.current.id,
            hex(&nonce),
            hex(&sealed)
        ))
    }

    /// Decrypts a value sealed for the row `aad` (or a pre-v2 value, which has no row binding).
    pub fn open(&self, sealed: &str, aad: &Aad) -> Result<String, CryptoError> {
        let keys = std::iter::once(&self.current).chain(self.previous.as_ref());
        let plain = if let Some(rest) = sealed.strip_prefix(SEAL_PREFIX) {
            let (id, body) = rest.split_once(':').ok_or(CryptoError::Malformed)?;
            let (nonce, ciphertext) = split_sealed(body)?;
            let mut keys = keys;
            let key = keys.find(|k| k.id == id).ok_or(CryptoError::UnknownKey)?;
            let aad = aad.bytes();
            key.cipher
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| CryptoError::Tampered)?
        } else {
            let body = sealed
                .strip_prefix(LEGACY_PREFIX)
                .ok_or(CryptoError::Malformed)?;
            let (nonce, ciphertext) = split_sealed(body)?;
            let mut keys = keys;
            keys.find_map(|k| {
                k.legacy
                    .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
                    .ok()
            })
            .ok_or(CryptoError::Tampered)?
        };
        String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
    }

    /// Whether `sealed` should be sealed again: an older format, or a key other than the current.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        sealed
            .strip_prefix(SEAL_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_none_or(|(id, _)| id != self.current.id)
    }
}

fn split_sealed(body: &str) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    let bytes = unhex(body).ok_or(CryptoError::Malformed)?;
    if bytes.len() < NONCE_LEN + 16 {
        return Err(CryptoError::Malformed);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    Ok((nonce.to_vec(), ciphertext.to_vec()))
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// HKDF-SHA256 (RFC 5869) with one block of output: 32 bytes of key material.
fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let prk = hmac_sha256(salt, ikm);
    let mut t = info.to_vec();
    t.push(1);
    hmac_sha256(&prk, &t)
}

/// The shortest secret accepted (characters): 32 base64url characters carry 192 bits.
pub const MIN_SECRET_CHARS: usize = 32;
/// Words that mark a value copied from an example rather than generated.
const PLACEHOLDERS: [&str; 10] = [
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "example",
    "secret",
    "password",
    "default",
    "your-",
    "xxxxxxxx",
];

/// Why a required secret (`AUTH_TOKEN`, `JWT_SECRET`, `ENCRYPTION_KEY`) must not be used, or
/// `None` when it is long enough, varied enough and not a placeholder. Never echoes the value.
pub fn secret_weakness(value: Option<&str>) -> Option<&'static str> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Some("is not set");
    };
    if value.chars().count() < MIN_SECRET_CHARS {
        return Some("is shorter than 32 characters");
    }
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return Some("looks like a placeholder");
    }
    let mut distinct: Vec<char> = value.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 12 {
        return Some("has too few distinct characters to be random");
    }
    None
}

/// Lower-case hex SHA-256 of `data`: how gateway keys and invitation tokens are stored.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit compare.
    std::hint::black_box(diff) == 0
}

/// Fills `buf` from the platform's CSPRNG (crypto.getRandomValues in workerd).
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::getrandom(buf).map_err(|_| CryptoError::Random)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random token of `len` base62 characters after `prefix` (rejection sampling: no modulo bias).
pub fn random_token(prefix: &str, len: usize) -> Result<String, CryptoError> {
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    let mut pool = [0u8; 64];
    while out.len() < prefix.len() + len {
        fill_random(&mut pool)?;
        for &byte in pool.iter().filter(|&&b| b < 248) {
            if out.len() == prefix.len() + len {
                break;
            }
            out.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    Ok(out)
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// A display-safe hint of a secret: its first `head` and last 4 characters.
pub fn secret_hint(secret: &str, head: usize) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= head + 4 {
        return "****".to_string();
    }
    let start: String = chars[..head].iter().collect();
    let end: String = chars[chars.len() - 4..].iter().collect();
    format!("{start}…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: Aad<'static> = Aad {
        org: 1,
        table: "accounts.credential",
        row: 7,
    };

    #[test]
    fn seal_round_trips_names_its_key_and_never_contains_plaintext() {
        let sb = SecretBox::new("test-encryption-key", None);
        let sealed = sb.seal("sk-supersecret", &ROW).unwrap();
        assert!(sealed.starts_with(&format!("v2:{}:", sb.current.id)));
        assert!(!sealed.contains("supersecret"));
        assert_eq!(sb.open(&sealed, &ROW).unwrap(), "sk-supersecret");
        assert!(!sb.needs_reseal(&sealed));
        assert_ne!(
            sb.seal("same", &ROW).unwrap(),
            sb.seal("same", &ROW).unwrap()
        );
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_table_or_organization_fails() {
        let sb = SecretBox::new("k", None);
        let sealed = sb.seal("secret", &ROW).unwrap();
        for other in [
            Aad { row: 8, ..ROW },
            Aad { org: 2, ..ROW },
            Aad {
                table: "upstream_keys.key",
                ..ROW
            },
        ] {
            assert_eq!(sb.open(&sealed, &other), Err(CryptoError::Tampered));
        }
    }

    #[test]
    fn rotation_opens_previous_and_legacy_values_and_asks_to_reseal_them() {
        let old = SecretBox::new("old-key", None);
        let sealed_old = old.seal("a", &ROW).unwrap();
        // A v1 value as the old code wrote it: SHA-256 key, no associated data.
        let legacy_cipher = Aes256Gcm::new(&Sha256::digest(b"old-key"));
        let nonce = [7u8; NONCE_LEN];
        let legacy = format!(
            "v1:{}{}",
            hex(&nonce),
            hex(&legacy_cipher
                .encrypt(Nonce::from_slice(&nonce), b"b".as_slice())
                .unwrap())
        );
        let rotated = SecretBox::new("new-key", Some("old-key"));
        assert_eq!(rotated.open(&sealed_old, &ROW).unwrap(), "a");
        assert_eq!(rotated.open(&legacy, &ROW).unwrap(), "b");
        assert!(rotated.needs_reseal(&sealed_old) && rotated.needs_reseal(&legacy));
        let fresh = rotated.seal("a", &ROW).unwrap();
        assert!(!rotated.needs_reseal(&fresh));
        assert_eq!(
            SecretBox::new("new-key", None).open(&sealed_old, &ROW),
            Err(CryptoError::UnknownKey)
        );
    }

    #[test]
    fn open_rejects_wrong_key_tampering_and_garbage() {
        let sealed = SecretBox::new("right", None).seal("secret", &ROW).unwrap();
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        let sb = SecretBox::new("right", None);
        assert_eq!(sb.open(&flipped, &ROW), Err(CryptoError::Tampered));
        for garbage in ["plain", "v1:zz", "v1:00", "v2:abcd", "v2:x:00"] {
            assert!(sb.open(garbage, &ROW).is_err(), "{garbage}");
        }
    }

    #[test]
    fn hkdf_matches_rfc_5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        assert_eq!(
            hex(&hkdf_sha256(&ikm, &salt, &info)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn weak_secrets_are_named_strong_ones_pass() {
        assert_eq!(secret_weakness(None), Some("is not set"));
        assert_eq!(secret_weakness(Some("  ")), Some("is not set"));
        assert_eq!(
            secret_weakness(Some("short-but-random-9f8e")),
            Some("is shorter than 32 characters")
        );
        assert_eq!(
            secret_weakness(Some("changeme-changeme-changeme-changeme")),
            Some("looks like a placeholder")
        );
        assert_eq!(
            secret_weakness(Some(&"ab".repeat(20))),
            Some("has too few distinct characters to be random")
        );
        assert_eq!(
            secret_weakness(Some("Jx3q9LmZ0vR7tYk2WcN8pHs5Fd1GbE4u")),
            None
        );
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn random_tokens_have_prefix_length_and_alphabet() {
        let t = random_token("ag-", 48).unwrap();
        assert_eq!(t.len(), 51);
        assert!(t.starts_with("ag-"));
        assert!(t[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(t, random_token("ag-", 48).unwrap());
    }

    #[test]
    fn hints_hide_the_middle() {
        assert_eq!(secret_hint("ag-abcdefghijklmnop", 5), "ag-ab…mnop");
        assert_eq!(secret_hint("short", 3), "****");
    }
}
