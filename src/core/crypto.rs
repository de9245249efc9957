//! Crypto helpers: sealing credentials at rest (AES-256-GCM), hashing keys, constant-time compare.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::fmt;

/// Why a crypto operation failed. Never carries secret material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The system random source failed.
    Random,
    /// A sealed value is not in the `v1:<hex>` format.
    Malformed,
    /// Authentication failed: wrong key, or the ciphertext was altered.
    Tampered,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CryptoError::Random => "random source unavailable",
            CryptoError::Malformed => "sealed value is malformed",
            CryptoError::Tampered => "sealed value failed authentication (wrong ENCRYPTION_KEY?)",
        })
    }
}

impl std::error::Error for CryptoError {}

const SEAL_PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// Seals and opens secrets with AES-256-GCM under a key derived from the `ENCRYPTION_KEY` secret.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// Derives the 256-bit key as SHA-256 of the secret, so any high-entropy string works.
    pub fn new(secret: &str) -> Self {
        let key = Sha256::digest(secret.as_bytes());
        Self {
            cipher: Aes256Gcm::new(&key),
        }
    }

    /// Encrypts `plaintext` with a fresh random nonce: `v1:` + hex(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .map_err(|_| CryptoError::Malformed)?;
        let mut out = String::with_capacity(SEAL_PREFIX.len() + 2 * (NONCE_LEN + sealed.len()));
        out.push_str(SEAL_PREFIX);
        out.push_str(&hex(&nonce));
        out.push_str(&hex(&sealed));
        Ok(out)
    }

    /// Decrypts a value made by [`SecretBox::seal`].
    pub fn open(&self, sealed: &str) -> Result<String, CryptoError> {
        let body = sealed
            .strip_prefix(SEAL_PREFIX)
            .ok_or(CryptoError::Malformed)?;
        let bytes = unhex(body).ok_or(CryptoError::Malformed)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| CryptoError::Tampered)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
    }
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

    #[test]
    fn seal_round_trips_and_never_contains_plaintext() {
        let sb = SecretBox::new("test-encryption-key");
        let sealed = sb.seal("sk-supersecret").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("supersecret"));
        assert_eq!(sb.open(&sealed).unwrap(), "sk-supersecret");
    }

    #[test]
    fn seal_uses_a_fresh_nonce_each_time() {
        let sb = SecretBox::new("k");
        assert_ne!(sb.seal("same").unwrap(), sb.seal("same").unwrap());
    }

    #[test]
    fn open_rejects_wrong_key_tampering_and_garbage() {
        let sealed = SecretBox::new("right").seal("secret").unwrap();
        assert_eq!(
            SecretBox::new("wrong").open(&sealed),
            Err(CryptoError::Tampered)
        );
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            SecretBox::new("right").open(&flipped),
            Err(CryptoError::Tampered)
        );
        assert_eq!(
            SecretBox::new("right").open("plain"),
            Err(CryptoError::Malformed)
        );
        assert_eq!(
            SecretBox::new("right").open("v1:zz"),
            Err(CryptoError::Malformed)
        );
        assert_eq!(
            SecretBox::new("right").open("v1:00"),
            Err(CryptoError::Malformed)
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
