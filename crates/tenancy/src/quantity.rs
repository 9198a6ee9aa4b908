//! Just enough of Kubernetes quantities to sum quota usage: parse, add, print. Pure.
//!
//! Values are held exactly as whole nano-units in an `i128` (an exbibyte is ~1.2e27 nano-units,
//! far below the limit), so sums never round.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

const NANO: i128 = 1_000_000_000;

/// A parsed quantity, in nano-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Amount(pub i128);

impl Amount {
    /// `n` whole units (`n` pods, `n` CPUs).
    pub fn units(n: i64) -> Amount {
        Amount(i128::from(n) * NANO)
    }

    /// `n` thousandths of a unit (`500` is `500m`).
    pub fn millis(n: i64) -> Amount {
        Amount(i128::from(n) * 1_000_000)
    }

    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// The sum, saturating at the ends of `i128` (far beyond any real quantity).
    pub fn saturating_add(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    /// The difference, saturating.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// Rounded up to a whole unit (Kubernetes counts storage in whole bytes).
    pub fn ceil_units(self) -> Amount {
        let rest = self.0.rem_euclid(NANO);
        if rest == 0 { self } else { Amount(self.0 - rest + NANO) }
    }

    /// True when this is a whole number of units.
    pub fn is_whole(self) -> bool {
        self.0 % NANO == 0
    }

    /// The value in whole units, rounded towards zero.
    pub fn whole_units(self) -> i128 {
        self.0 / NANO
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, other: Amount) -> Amount {
        self.saturating_add(other)
    }
}

impl std::ops::AddAssign for Amount {
    fn add_assign(&mut self, other: Amount) {
        *self = self.saturating_add(other);
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, other: Amount) -> Amount {
        self.saturating_sub(other)
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format(*self))
    }
}

/// Parses `text` (`"4"`, `"500m"`, `"1.5Gi"`, `"2k"`, `"1e3"`); `None` if it is not a quantity.
pub fn parse(text: &str) -> Option<Amount> {
    let text = text.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let multiplier = scale(suffix)?;
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    let fraction_scale = 10_i128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    // Kubernetes keeps nano precision and rounds anything finer up (away from zero).
    let scaled = digits.checked_mul(multiplier)?;
    let value = scaled / fraction_scale + i128::from(scaled % fraction_scale != 0);
    Some(Amount(if negative { -value } else { value }))
}

/// How many nano-units one unit with `suffix` is.
fn scale(suffix: &str) -> Option<i128> {
    let binary = |power: u32| 1024_i128.pow(power) * NANO;
    let decimal = |power: u32| 10_i128.pow(power);
    let factor = match suffix {
        "n" => 1,
        "u" => decimal(3),
        "m" => decimal(6),
        "" => NANO,
        "k" => decimal(12),
        "M" => decimal(15),
        "G" => decimal(18),
        "T" => decimal(21),
        "P" => decimal(24),
        "E" => decimal(27),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => {
            let exponent: i32 = suffix.strip_prefix(['e', 'E'])?.parse().ok()?;
            let power = 10_i128.checked_pow(exponent.unsigned_abs())?;
            return match exponent {
                -9..=-1 => Some(NANO / power),
                0..=18 => Some(NANO * power),
                _ => None,
            };
        }
    };
    Some(factor)
}

/// The canonical text of `amount`: a plain integer when whole, else milli- or nano-units.
pub fn format(amount: Amount) -> String {
    let Amount(value) = amount;
    if value % NANO == 0 {
        format!("{}", value / NANO)
    } else if value % 1_000_000 == 0 {
        format!("{}m", value / 1_000_000)
    } else {
        format!("{value}n")
    }
}

/// Adds every quantity of `used` into `total`; returns the texts that could not be parsed.
pub fn add_all(total: &mut BTreeMap<String, Amount>, used: &BTreeMap<String, Quantity>) -> Vec<String> {
    let mut bad = Vec::new();
    for (resource, quantity) in used {
        match parse(&quantity.0) {
            Some(amount) => {
                let sum = total.entry(resource.clone()).or_default();
                sum.0 = sum.0.saturating_add(amount.0);
            }
            None => bad.push(format!("{resource}={}", quantity.0)),
        }
    }
    bad
}

/// `total` as Quantities.
pub fn to_quantities(total: &BTreeMap<String, Amount>) -> BTreeMap<String, Quantity> {
    total
        .iter()
        .map(|(resource, amount)| (resource.clone(), Quantity(format(*amount))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_suffixes() {
        let cases: &[(&str, i128)] = &[
            ("0", 0),
            ("4", 4 * NANO),
            ("500m", NANO / 2),
            ("1.5", 3 * NANO / 2),
            ("0.1", NANO / 10),
            (".5", NANO / 2),
            ("2k", 2_000 * NANO),
            ("3M", 3_000_000 * NANO),
            ("1G", 1_000_000_000 * NANO),
            ("1T", 1_000_000_000_000 * NANO),
            ("1Ki", 1024 * NANO),
            ("128Mi", 128 * 1024 * 1024 * NANO),
            ("1.5Gi", 3 * 512 * 1024 * 1024 * NANO),
            ("2Ti", 2 * 1024_i128.pow(4) * NANO),
            ("1Ei", 1024_i128.pow(6) * NANO),
            ("1e3", 1_000 * NANO),
            ("1E", 10_i128.pow(18) * NANO),
            ("250u", 250_000),
            ("7n", 7),
            ("-1", -NANO),
            ("+2", 2 * NANO),
            ("1.5n", 2),
            ("0.1n", 1),
            ("-0.5n", -1),
        ];
        for (text, nano) in cases {
            assert_eq!(parse(text), Some(Amount(*nano)), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for text in ["", "m", "Gi", "abc", "1Xi", "1.2.3", "1 Gi", "1e99"] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn rounds_up_to_whole_units() {
        assert_eq!(Amount(NANO / 2).ceil_units(), Amount(NANO));
        assert_eq!(Amount(3 * NANO).ceil_units(), Amount(3 * NANO));
        assert_eq!(Amount(1).ceil_units(), Amount(NANO));
        assert_eq!(Amount(0).ceil_units(), Amount(0));
    }

    #[test]
    fn formats_whole_milli_and_nano() {
        assert_eq!(format(Amount(4 * NANO)), "4");
        assert_eq!(format(Amount(1500 * 1_000_000)), "1500m");
        assert_eq!(format(Amount(7)), "7n");
        assert_eq!(format(Amount(0)), "0");
    }

    #[test]
    fn sums_across_namespaces() {
        let mut total = BTreeMap::new();
        let ns = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        };
        assert!(
            add_all(
                &mut total,
                &ns(&[("requests.cpu", "500m"), ("requests.memory", "1Gi"), ("pods", "2")])
            )
            .is_empty()
        );
        assert!(
            add_all(
                &mut total,
                &ns(&[("requests.cpu", "1500m"), ("requests.memory", "512Mi"), ("pods", "1")])
            )
            .is_empty()
        );
        assert_eq!(
            add_all(&mut total, &ns(&[("pods", "lots")])),
            vec!["pods=lots".to_string()]
        );
        let quantities = to_quantities(&total);
        assert_eq!(quantities["requests.cpu"].0, "2");
        assert_eq!(quantities["requests.memory"].0, (1536_i64 * 1024 * 1024).to_string());
        assert_eq!(quantities["pods"].0, "3");
    }
}
