//! Canonical JSON: the byte form that hashes and signatures are computed over.
//!
//! Objects have their keys sorted by their UTF-8 bytes, there is no
//! insignificant whitespace, and strings use serde_json's escaping. Our
//! documents carry only strings, integers, booleans, arrays and objects, so
//! this matches RFC 8785 (JCS) for everything we produce. We sort explicitly
//! instead of relying on serde_json's map type, because another crate in the
//! build enabling `preserve_order` would otherwise silently change every hash.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Serialises `value` to canonical JSON bytes.
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::with_capacity(256);
    write_value(&value, &mut out)?;
    Ok(out)
}

/// Lower-case hex SHA-256 of `domain`, a newline, then the canonical JSON of `value`.
/// The domain string keeps a policy hash from ever equalling an event hash.
pub fn domain_hash<T: Serialize + ?Sized>(
    domain: &str,
    value: &T,
) -> Result<String, serde_json::Error> {
    let bytes = to_canonical_json(value)?;
    let mut hasher = Sha256::new();
    hasher.update(domain.as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    Ok(hex::encode(hasher.finalize()))
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_whitespace_is_dropped() {
        let v = json!({"b": 1, "a": {"d": [1, 2, {"z": true, "y": null}], "c": "x"}});
        let bytes = to_canonical_json(&v).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"a":{"c":"x","d":[1,2,{"y":null,"z":true}]},"b":1}"#
        );
    }

    #[test]
    fn domain_separates_equal_values() {
        let v = json!({"a": 1});
        assert_ne!(
            domain_hash("one", &v).unwrap(),
            domain_hash("two", &v).unwrap()
        );
        assert_eq!(domain_hash("one", &v).unwrap().len(), 64);
    }

    #[test]
    fn non_ascii_text_is_kept_as_utf8() {
        let bytes = to_canonical_json(&json!({"t": "Политика «Altyncoin»"})).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"t":"Политика «Altyncoin»"}"#
        );
    }
}
