//! Typed reading and writing of TWS text fields.
//!
//! TWS encodes "no value" as an empty field, or as the maximum double / int
//! (`1.7976931348623157E308`, `2147483647`). Readers map both to `None`; writers emit
//! the empty field, which every TWS client (the official ones and ib_async) reads back
//! as "unset".

use crate::frame::Field;

/// A field could not be decoded. Carries the field's position and what was expected,
/// never the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame ended before field `at`.
    Truncated { at: usize },
    /// Field `at` did not parse as `expected`.
    Bad { at: usize, expected: &'static str },
    /// A count in field `at` is implausible for one frame.
    Count { at: usize },
    /// Field `at` named a condition type we do not know, so the rest cannot be walked.
    Unknown { at: usize, what: &'static str },
    /// A protobuf body that does not decode as the message its id names.
    Protobuf { message: &'static str },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { at } => write!(f, "frame ends before field {at}"),
            DecodeError::Bad { at, expected } => write!(f, "field {at} is not a valid {expected}"),
            DecodeError::Count { at } => write!(f, "field {at} holds an implausible count"),
            DecodeError::Unknown { at, what } => write!(f, "field {at} holds an unknown {what}"),
            DecodeError::Protobuf { message } => write!(f, "protobuf body is not a valid {message}"),
        }
    }
}

impl std::error::Error for DecodeError {}

pub type DResult<T> = Result<T, DecodeError>;

/// TWS's "unset" double.
pub const UNSET_DOUBLE: f64 = f64::MAX;
/// TWS's "unset" int.
pub const UNSET_INT: i64 = i32::MAX as i64;

/// Reads fields one after another.
pub struct FieldReader<'a> {
    fields: &'a [Field<'a>],
    pos: usize,
}

impl<'a> FieldReader<'a> {
    pub fn new(fields: &'a [Field<'a>]) -> Self {
        FieldReader { fields, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.fields.len().saturating_sub(self.pos)
    }

    pub fn str(&mut self) -> DResult<&'a str> {
        let f = self.fields.get(self.pos).ok_or(DecodeError::Truncated { at: self.pos })?;
        self.pos += 1;
        Ok(f.as_ref())
    }

    pub fn string(&mut self) -> DResult<String> {
        self.str().map(str::to_owned)
    }

    /// An integer; empty means 0.
    pub fn int(&mut self) -> DResult<i64> {
        Ok(self.opt_int()?.unwrap_or(0))
    }

    /// An integer; empty or TWS's unset value mean `None`.
    pub fn opt_int(&mut self) -> DResult<Option<i64>> {
        let at = self.pos;
        let s = self.str()?.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let v: i64 = s.parse().map_err(|_| DecodeError::Bad { at, expected: "integer" })?;
        Ok((v != UNSET_INT).then_some(v))
    }

    /// A double; empty or TWS's unset value mean `None`.
    pub fn opt_f64(&mut self) -> DResult<Option<f64>> {
        let at = self.pos;
        let s = self.str()?.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let v: f64 = match s {
            "Infinite" | "Infinity" | "inf" => f64::INFINITY,
            _ => s.parse().map_err(|_| DecodeError::Bad { at, expected: "number" })?,
        };
        Ok((v != UNSET_DOUBLE && !v.is_nan()).then_some(v))
    }

    /// A double; empty means 0.
    pub fn f64(&mut self) -> DResult<f64> {
        Ok(self.opt_f64()?.unwrap_or(0.0))
    }

    /// A boolean sent as `0` / `1` (some fields use `true` / `false`).
    pub fn bool(&mut self) -> DResult<bool> {
        let at = self.pos;
        match self.str()?.trim() {
            "" | "0" | "false" => Ok(false),
            "1" | "true" => Ok(true),
            s => s.parse::<i64>().map(|v| v != 0).map_err(|_| DecodeError::Bad { at, expected: "boolean" }),
        }
    }

    /// A list length; bounded by what the rest of the frame could hold.
    pub fn count(&mut self) -> DResult<usize> {
        let at = self.pos;
        let n = self.int()?;
        if n < 0 || n as usize > self.remaining() {
            return Err(DecodeError::Count { at });
        }
        Ok(n as usize)
    }

    pub fn skip(&mut self, n: usize) -> DResult<()> {
        for _ in 0..n {
            self.str()?;
        }
        Ok(())
    }
}

/// Builds the fields of an outgoing frame.
#[derive(Default, Debug, Clone)]
pub struct FieldWriter {
    pub fields: Vec<String>,
}

impl FieldWriter {
    pub fn new() -> Self {
        FieldWriter { fields: Vec::with_capacity(32) }
    }

    pub fn str(&mut self, v: &str) -> &mut Self {
        self.fields.push(v.to_owned());
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        self.fields.push(v.to_string());
        self
    }

    pub fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        self.fields.push(v.map(|v| v.to_string()).unwrap_or_default());
        self
    }

    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.fields.push(fmt_f64(v));
        self
    }

    pub fn opt_f64(&mut self, v: Option<f64>) -> &mut Self {
        self.fields.push(v.map(fmt_f64).unwrap_or_default());
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.fields.push(if v { "1" } else { "0" }.to_owned());
        self
    }

    /// `n` empty fields.
    pub fn empty(&mut self, n: usize) -> &mut Self {
        for _ in 0..n {
            self.fields.push(String::new());
        }
        self
    }

    pub fn frame(&self) -> Vec<u8> {
        super::frame::encode_frame(&self.fields)
    }
}

/// Formats a double the way TWS does: no exponent for ordinary values, and whole
/// numbers without a fraction.
pub fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        "Infinite".to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Text that TWS sends in its ASCII-7 form from server version
/// [`ENCODE_MSG_ASCII7`](crate::versions::ENCODE_MSG_ASCII7) on: every character beyond
/// ASCII as `\uXXXX` (UTF-16, so a character beyond the BMP is a surrogate pair). Decodes
/// each complete escape as the official clients do; anything else, a lone backslash or
/// an incomplete or unpaired escape, is kept as it came.
pub fn decode_unicode_escapes(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains("\\u") {
        return std::borrow::Cow::Borrowed(s);
    }
    let hex4 = |t: &str| -> Option<u16> {
        let h = t.get(..4)?;
        h.bytes().all(|b| b.is_ascii_hexdigit()).then(|| u16::from_str_radix(h, 16).ok()).flatten()
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\u") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(unit) = hex4(after) else {
            out.push_str("\\u");
            rest = after;
            continue;
        };
        // a high surrogate takes the low one that follows it
        let pair = (0xD800..0xDC00).contains(&unit).then(|| after.get(4..)).flatten().and_then(|t| {
            let low = t.strip_prefix("\\u").and_then(hex4).filter(|l| (0xDC00..0xE000).contains(l))?;
            char::decode_utf16([unit, low]).next()?.ok()
        });
        match pair.or_else(|| char::from_u32(u32::from(unit))) {
            Some(c) => {
                out.push(c);
                rest = &after[if pair.is_some() { 10 } else { 4 }..];
            }
            None => {
                // an unpaired surrogate: not text, kept as sent
                out.push_str(&rest[i..i + 6]);
                rest = &after[4..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The ASCII-7 form TWS sends (the simulator's side of [`decode_unicode_escapes`]).
pub fn encode_unicode_escapes(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod unicode_escape_tests {
    use super::*;

    #[test]
    fn escapes_decode_as_the_official_clients_do_and_anything_else_stays() {
        assert_eq!(decode_unicode_escapes("\\u8ba2\\u5355\\u88ab\\u62d2"), "订单被拒");
        assert_eq!(decode_unicode_escapes("Caf\\u00e9 \\u4e2d \\u12"), "Café 中 \\u12");
        assert_eq!(decode_unicode_escapes("C:\\path\\users \\x \\"), "C:\\path\\users \\x \\");
        assert_eq!(decode_unicode_escapes("\\ud83d\\ude00!"), "😀!");
        assert_eq!(decode_unicode_escapes("lone \\ud83d end"), "lone \\ud83d end");
        assert_eq!(decode_unicode_escapes("\\uZZZZ\\u00"), "\\uZZZZ\\u00");
        for s in ["订单 rejected: 保证金不足 😀", "plain", "a\\b", "€\\u"] {
            assert_eq!(decode_unicode_escapes(&encode_unicode_escapes(s)), s);
        }
    }
}
