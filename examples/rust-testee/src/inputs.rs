//! Scenario inputs decoded to values: integers, value lists, generators, feature batches
//! (`docs/scenarios.md`, "Numbers" and "Value lists and generators").
//!
//! Exact 64-bit integers. The protocol carries fids and global steps as JSON integers of
//! up to 20 digits (`18446744073709551615`, `-9223372036854775808`). `serde_json` keeps
//! every integer that fits `u64` or `i64` as that integer (its `Number` is a `u64`, an
//! `i64` or, only for a fraction, an exponent or a larger magnitude, an `f64`), so
//! [`parse_int`] reads `as_u64` / `as_i64` and refuses an `f64`: no value ever goes through
//! a double. Scenario files may also spell a fid as a decimal or `0x` hex string.

use serde_json::Value;

/// A value as the hooks see it after numpy's `tolist()`: a Python int, float or list.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    Int(i128),
    Float(f64),
    List(Vec<PyValue>),
}

/// One dataset element: feature name -> value, in the element's (dict) order.
pub type Batch = Vec<(String, PyValue)>;

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 {
        format!(
            "{}...",
            &text[..text.char_indices().nth(77).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// A JSON integer (exact: `u64` or `i64`), or a decimal or `0x` hex string (for values
/// past 2**53 in scenario files). A number with a fraction or an exponent is refused.
pub fn parse_int(value: &Value) -> Result<i128, String> {
    let bad = || format!("expected an integer, got {}", show(value));
    match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else {
                Err(format!("{} (not an exact integer: a float)", bad()))
            }
        }
        Value::String(text) => {
            let text = text.trim();
            let (negative, digits) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.strip_prefix('+').unwrap_or(text)),
            };
            let digits = digits.replace('_', "");
            let magnitude = match digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                Some(hex) => i128::from_str_radix(hex, 16),
                None => digits.parse::<i128>(),
            }
            .map_err(|_| bad())?;
            if digits.starts_with('+') || digits.starts_with('-') {
                return Err(bad());
            }
            Ok(if negative { -magnitude } else { magnitude })
        }
        _ => Err(bad()),
    }
}

/// An integer in `i64` (a global step, an index, a count).
pub fn parse_i64(value: &Value) -> Result<i64, String> {
    let n = parse_int(value)?;
    i64::try_from(n).map_err(|_| format!("{n} is out of range for int64"))
}

/// A 64-bit fid: `[-2**63, 2**64-1]`, a negative one being its int64 reinterpretation.
pub fn parse_fid(value: &Value) -> Result<u64, String> {
    let n = parse_int(value)?;
    if !(i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&n) {
        return Err(format!("{n} is out of range for uint64"));
    }
    Ok(n as u64) // mod 2**64
}

/// A float: a JSON number or one of the strings `"nan"`, `"inf"`, `"-inf"` (Python's
/// `float()` spellings).
pub fn parse_float(value: &Value) -> Result<f64, String> {
    let bad = || format!("expected a number, got {}", show(value));
    match value {
        // as_f64 of a u64 / i64 rounds to nearest as Python's float(int) does; an f64 is
        // serde_json's correctly rounded parse (feature float_roundtrip).
        Value::Number(n) => n.as_f64().ok_or_else(bad),
        Value::String(text) => {
            let lower = text.trim().to_ascii_lowercase();
            let (negative, body) = match lower.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
            };
            let magnitude = match body {
                "nan" => f64::NAN,
                "inf" | "infinity" => f64::INFINITY,
                _ => body.parse().map_err(|_| bad())?,
            };
            Ok(if negative { -magnitude } else { magnitude })
        }
        _ => Err(bad()),
    }
}

/// `obj[key]` as an integer, or `default` when absent.
pub fn int_or(obj: &Value, key: &str, default: i64) -> Result<i64, String> {
    obj.get(key)
        .map_or(Ok(default), parse_i64)
        .map_err(|e| format!("{key}: {e}"))
}

/// `obj[key]` as a float, or `default` when absent.
pub fn float_or(obj: &Value, key: &str, default: f64) -> Result<f64, String> {
    obj.get(key)
        .map_or(Ok(default), parse_float)
        .map_err(|e| format!("{key}: {e}"))
}

/// `obj[key]` as a string, or `default` when absent.
pub fn str_or<'a>(obj: &'a Value, key: &str, default: &'a str) -> Result<&'a str, String> {
    match obj.get(key) {
        None => Ok(default),
        Some(value) => value
            .as_str()
            .ok_or_else(|| format!("{key}: expected a string")),
    }
}

/// `obj[key]` as a bool, or `default` when absent.
pub fn bool_or(obj: &Value, key: &str, default: bool) -> Result<bool, String> {
    match obj.get(key) {
        None => Ok(default),
        Some(value) => value
            .as_bool()
            .ok_or_else(|| format!("{key}: expected a bool")),
    }
}

/// `obj[key]` as a list (empty when absent).
pub fn list<'a>(obj: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match obj.get(key) {
        None => Ok(&[]),
        Some(value) => value
            .as_array()
            .map(Vec::as_slice)
            .ok_or_else(|| format!("{key}: expected a list")),
    }
}

/// Python's `items[index]`: a negative index counts from the end; `None` is IndexError.
pub fn py_index(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 {
        i128::from(index) + len as i128
    } else {
        i128::from(index)
    };
    usize::try_from(i).ok().filter(|&i| i < len)
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The first `count` outputs of SplitMix64 seeded with `seed`.
pub fn splitmix64(seed: u64, count: usize) -> impl Iterator<Item = u64> {
    (1..=count as u64).map(move |i| {
        let state = seed.wrapping_add(GOLDEN_GAMMA.wrapping_mul(i));
        let z = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

/// What a generator yields: integers mod 2**64, or floats (`uniform`).
enum Generated {
    Ints(Vec<u64>),
    Floats(Vec<f64>),
}

fn generate(spec: &Value) -> Result<Generated, String> {
    let gen = str_or(spec, "gen", "")?;
    let count = usize::try_from(int_or(spec, "count", 0)?).map_err(|_| "bad count")?;
    let wrap = |n: i128| n as u64; // mod 2**64, negative values included
    let int = |key: &str, default: i128| -> Result<i128, String> {
        spec.get(key).map_or(Ok(default), parse_int)
    };
    Ok(match gen {
        "range" => {
            let start = int("start", 0)?;
            let step = int("step", 1)?;
            let (start, step) = (wrap(start), wrap(step));
            let values = (0..count as u64).map(|i| start.wrapping_add(i.wrapping_mul(step)));
            Generated::Ints(values.collect())
        }
        "slot_range" => {
            let start = wrap(int("start", 0)?);
            let slot = wrap(int("slot", 0)?);
            let (shift, mask) = match int("version", 2)? {
                1 => (54, (1u64 << 54) - 1),
                _ => (48, (1u64 << 48) - 1),
            };
            let high = slot.wrapping_shl(shift);
            let values = (0..count as u64).map(|i| high | (start.wrapping_add(i) & mask));
            Generated::Ints(values.collect())
        }
        "splitmix64" => Generated::Ints(splitmix64(wrap(int("seed", 0)?), count).collect()),
        "uniform" => {
            let scale = 2f64.powi(-53);
            let values = splitmix64(wrap(int("seed", 0)?), count);
            Generated::Floats(values.map(|x| (x >> 11) as f64 * scale).collect())
        }
        other => return Err(format!("unknown generator {other:?}")),
    })
}

/// A fid list: integers, integer strings and generators, as unsigned 64-bit values.
pub fn fids(spec: &Value) -> Result<Vec<u64>, String> {
    let items = spec.as_array().ok_or("fids: expected a list")?;
    let mut out = Vec::new();
    for item in items {
        if item.get("gen").is_some() {
            match generate(item)? {
                Generated::Ints(values) => out.extend(values),
                Generated::Floats(values) => out.extend(values.iter().map(|&f| f as i64 as u64)),
            }
        } else {
            out.push(parse_fid(item)?);
        }
    }
    Ok(out)
}

/// A feature's dtype: how literals are read and what `tolist()` gives back.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dtype {
    Int64,
    Uint64,
    Int32,
    Float32,
    Float64,
}

impl Dtype {
    fn parse(name: &str) -> Result<Dtype, String> {
        Ok(match name {
            "int64" => Dtype::Int64,
            "uint64" => Dtype::Uint64,
            "int32" => Dtype::Int32,
            "float32" => Dtype::Float32,
            "float64" => Dtype::Float64,
            other => return Err(format!("unknown dtype {other:?}")),
        })
    }

    /// An integer stored in an array of this dtype (numpy's wrapping casts).
    fn store_int(self, n: i128) -> PyValue {
        match self {
            Dtype::Int64 => PyValue::Int(i128::from(n as i64)),
            Dtype::Uint64 => PyValue::Int(i128::from(n as u64)),
            Dtype::Int32 => PyValue::Int(i128::from(n as i32)),
            Dtype::Float32 => PyValue::Float(f64::from(n as f32)),
            Dtype::Float64 => PyValue::Float(n as f64),
        }
    }

    /// A float stored in an array of this dtype.
    fn store_float(self, f: f64) -> PyValue {
        match self {
            Dtype::Float32 => PyValue::Float(f64::from(f as f32)),
            Dtype::Float64 => PyValue::Float(f),
            _ => self.store_int(f as i128),
        }
    }

    /// A literal of a value list or nested array.
    fn literal(self, value: &Value) -> Result<PyValue, String> {
        match self {
            Dtype::Float32 | Dtype::Float64 => {
                if value.is_boolean() {
                    return Err(format!("expected a number, got {value}"));
                }
                Ok(self.store_float(parse_float(value)?))
            }
            Dtype::Uint64 => Ok(self.store_int(i128::from(parse_fid(value)?))),
            _ => Ok(self.store_int(parse_int(value)?)),
        }
    }

    fn nested(self, value: &Value) -> Result<PyValue, String> {
        match value {
            Value::Array(items) => Ok(PyValue::List(
                items
                    .iter()
                    .map(|v| self.nested(v))
                    .collect::<Result<_, _>>()?,
            )),
            scalar => self.literal(scalar),
        }
    }

    /// A value list (literals and generators), flat.
    fn flat(self, spec: &Value) -> Result<Vec<PyValue>, String> {
        let items = spec.as_array().ok_or("values: expected a list")?;
        let mut out = Vec::new();
        for item in items {
            if item.get("gen").is_some() {
                match generate(item)? {
                    Generated::Ints(values) => {
                        out.extend(values.into_iter().map(|v| self.store_int(i128::from(v))))
                    }
                    Generated::Floats(values) => {
                        out.extend(values.into_iter().map(|v| self.store_float(v)))
                    }
                }
            } else {
                out.push(self.literal(item)?);
            }
        }
        Ok(out)
    }
}

/// Flat values cut into nested lists of `shape` (row-major, like `reshape(...).tolist()`).
fn reshape(values: Vec<PyValue>, shape: &[usize]) -> PyValue {
    match shape {
        [] => values
            .into_iter()
            .next()
            .unwrap_or(PyValue::List(Vec::new())),
        [_] => PyValue::List(values),
        [rows, inner @ ..] => {
            let width: usize = inner.iter().product();
            let mut rest = values.into_iter();
            let lists = (0..*rows).map(|_| reshape(rest.by_ref().take(width).collect(), inner));
            PyValue::List(lists.collect())
        }
    }
}

/// A feature of a batch as the hook fetches it (`docs/scenarios.md`, `feature_dump`).
pub fn feature_value(feature: &Value) -> Result<PyValue, String> {
    let dtype = Dtype::parse(str_or(feature, "dtype", "int64")?)?;
    if let Some(rows) = feature.get("ragged") {
        return dtype.nested(rows);
    }
    let dense = feature
        .get("dense")
        .ok_or("a feature needs 'dense' or 'ragged'")?;
    let Some(values) = dense.get("values") else {
        return dtype.nested(dense);
    };
    let values = dtype.flat(values)?;
    let Some(shape) = dense.get("shape") else {
        return Ok(PyValue::List(values));
    };
    let mut dims = Vec::new();
    for dim in shape.as_array().ok_or("shape: expected a list")? {
        dims.push(parse_int(dim)?);
    }
    let known: i128 = dims.iter().filter(|&&d| d >= 0).product();
    let dims: Vec<usize> = dims
        .iter()
        .map(|&d| {
            if d < 0 {
                values.len() / (known.max(1) as usize)
            } else {
                d as usize
            }
        })
        .collect();
    if dims.iter().product::<usize>() != values.len() {
        return Err(format!(
            "cannot reshape {} values into {dims:?}",
            values.len()
        ));
    }
    Ok(reshape(values, &dims))
}

/// One dataset element: its features by name, in order (a repeated name keeps its first
/// position and takes the last value, as a Python dict does).
pub fn batch(features: &Value) -> Result<Batch, String> {
    let mut out: Batch = Vec::new();
    for feature in features
        .as_array()
        .ok_or("a batch must be a list of features")?
    {
        let name = str_or(feature, "name", "")?.to_string();
        let value = feature_value(feature)?;
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => out.push((name, value)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn exact_64_bit_integers() {
        // serde_json keeps them as u64 / i64: no f64 on the way.
        let max = parse("18446744073709551615");
        assert_eq!(max.as_u64(), Some(u64::MAX));
        assert_eq!(parse_int(&max), Ok(18446744073709551615));
        assert_eq!(parse_fid(&max), Ok(u64::MAX));
        let min = parse("-9223372036854775808");
        assert_eq!(min.as_i64(), Some(i64::MIN));
        assert_eq!(parse_i64(&min), Ok(i64::MIN));
        assert_eq!(parse_fid(&min), Ok(1 << 63));
        // 2**53 + 1: not representable as a double, exact here.
        assert_eq!(parse_int(&parse("9007199254740993")), Ok(9007199254740993));
        // Written back exactly.
        assert_eq!(json!(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(json!(i64::MIN).to_string(), "-9223372036854775808");
        // A float is refused even when integral.
        assert!(parse_int(&parse("1e5")).is_err());
        assert!(parse_int(&parse("3.0")).is_err());
        assert!(parse_int(&parse("18446744073709551616")).is_err()); // past u64: an f64
        assert!(parse_fid(&json!("18446744073709551616")).is_err());
    }

    #[test]
    fn integers_in_every_spelling() {
        for (text, want) in [
            ("5", 5i128),
            ("\"18446744073709551615\"", 18446744073709551615),
            ("\"0x8001000000000001\"", 0x8001000000000001),
            ("\"-0x10\"", -16),
        ] {
            assert_eq!(parse_int(&parse(text)), Ok(want), "{text}");
        }
        assert!(parse_int(&parse("true")).is_err());
    }

    #[test]
    fn splitmix64_reference_values() {
        let first: Vec<u64> = splitmix64(0, 2).collect();
        assert_eq!(first, [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]);
    }

    #[test]
    fn generators() {
        let spec = parse(r#"[{"gen":"slot_range","slot":2,"start":"0xffffffffffff","count":2},1]"#);
        assert_eq!(
            fids(&spec).unwrap(),
            [(2 << 48) | 0xFFFF_FFFF_FFFF, 2 << 48, 1]
        );
        let spec = parse(r#"[{"gen":"range","start":-1,"count":2,"step":1}]"#);
        assert_eq!(fids(&spec).unwrap(), [u64::MAX, 0]);
    }

    #[test]
    fn dense_values_reshaped() {
        let feature = parse(r#"{"dense":{"values":[{"gen":"range","count":4}],"shape":[2,2]}}"#);
        let int = PyValue::Int;
        let want = PyValue::List(vec![
            PyValue::List(vec![int(0), int(1)]),
            PyValue::List(vec![int(2), int(3)]),
        ]);
        assert_eq!(feature_value(&feature).unwrap(), want);
    }

    #[test]
    fn python_indexing() {
        assert_eq!(py_index(3, -1), Some(2));
        assert_eq!(py_index(3, 3), None);
        assert_eq!(py_index(3, -4), None);
    }
}
