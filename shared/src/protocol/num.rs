//! A JSON number that keeps integers looking like integers.
//!
//! TWS reports quantities and prices as decimals, but the seed documents `"quantity": 100`
//! and `"avg_fill_price": 0`. `Num` holds an `f64` and writes integral values without a
//! fraction, so frames match the seed byte-for-byte in value, and clients in typed
//! languages that expect an integer for whole share counts are not surprised.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A decimal quantity or price. Non-finite values serialize as `null`.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Num(pub f64);

/// Largest magnitude below which every integer is exactly representable in an f64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if !v.is_finite() {
            s.serialize_none()
        } else if v.fract() == 0.0 && v.abs() < EXACT_INT {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<f64>::deserialize(d).map(|v| Num(v.unwrap_or(f64::NAN)))
    }
}

/// In TypeScript a `Num` is a `number` (`null` where the field is optional).
#[cfg(feature = "typescript")]
impl ts_rs::TS for Num {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;
    fn name(_: &ts_rs::Config) -> String {
        "number".into()
    }
    fn inline(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }
}

impl From<f64> for Num {
    fn from(v: f64) -> Self {
        Num(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_values_serialize_as_integers() {
        assert_eq!(serde_json::to_string(&Num(100.0)).unwrap(), "100");
        assert_eq!(serde_json::to_string(&Num(0.0)).unwrap(), "0");
        assert_eq!(serde_json::to_string(&Num(150.25)).unwrap(), "150.25");
        assert_eq!(serde_json::to_string(&Num(f64::MAX)).unwrap(), "1.7976931348623157e+308");
        assert_eq!(serde_json::to_string(&Num(f64::NAN)).unwrap(), "null");
    }
}
