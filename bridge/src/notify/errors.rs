//! TWS error codes mapped to stable `error_code` strings clients can switch on.
//!
//! The numeric code stays beside it (`tws_code`); the message text is TWS's own and may
//! change between TWS versions, so clients should not parse it.

/// How the bridge treats a TWS error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Informational; not sent to clients as an error (data-farm OK notices).
    Notice,
    /// Sent to clients as an `error` event.
    Error,
}

/// The stable code and severity for a TWS error code (and its message, for the few
/// codes TWS reuses for several reasons).
pub fn classify(code: i64, message: &str) -> (&'static str, Severity) {
    use Severity::*;
    match code {
        2104 | 2106 | 2107 | 2108 | 2158 => ("DATA_FARM_OK", Notice),
        2103 | 2105 | 2157 => ("DATA_FARM_DOWN", Error),
        2119 => ("DATA_FARM_CONNECTING", Notice),
        1100 => ("CONNECTIVITY_LOST", Error),
        1101 => ("CONNECTIVITY_RESTORED_DATA_LOST", Error),
        1102 => ("CONNECTIVITY_RESTORED", Error),
        326 => ("CLIENT_ID_IN_USE", Error),
        502 => ("TWS_UNREACHABLE", Error),
        504 => ("TWS_NOT_CONNECTED", Error),
        507 => ("TWS_BAD_MESSAGE", Error),
        100 => ("TWS_PACING_VIOLATION", Error),
        103 => ("DUPLICATE_ORDER_ID", Error),
        110 => ("PRICE_OUT_OF_RANGE", Error),
        200 => ("NO_SECURITY_DEFINITION", Error),
        201 => {
            let m = message.to_ascii_lowercase();
            if m.contains("insufficient") || m.contains("buying power") || m.contains("margin") || m.contains("equity")
            {
                ("INSUFFICIENT_FUNDS", Error)
            } else {
                ("ORDER_REJECTED", Error)
            }
        }
        202 => ("ORDER_CANCELLED", Notice),
        321 => ("INVALID_REQUEST", Error),
        354 | 10167 | 10168 => ("MARKET_DATA_NOT_SUBSCRIBED", Error),
        399 => ("ORDER_WARNING", Error),
        10147 | 10148 => ("ORDER_NOT_FOUND", Error),
        2100..=2169 => ("TWS_NOTICE", Notice),
        _ => ("TWS_ERROR", Error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn farm_ok_is_not_an_error() {
        for c in [2104, 2106, 2158] {
            assert_eq!(classify(c, "").1, Severity::Notice);
        }
        assert_eq!(classify(2103, ""), ("DATA_FARM_DOWN", Severity::Error));
        assert_eq!(classify(201, "Order rejected - reason:Insufficient buying power").0, "INSUFFICIENT_FUNDS");
        assert_eq!(classify(201, "Order rejected - reason:price too far").0, "ORDER_REJECTED");
    }
}
