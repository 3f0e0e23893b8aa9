//! Scenario inputs decoded to values: integers, value lists, generators, feature batches
//! (`docs/scenarios.md`, "Numbers" and "Value lists and generators").

use crate::json::Json;

/// A value as the hooks see it after `ndarray.tolist()`: a Python int, float or list.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    Int(i128),
    Float(f64),
    List(Vec<PyValue>),
}

/// One dataset element: feature name -> value, in the element's (dict) order.
pub type Batch = Vec<(String, PyValue)>;

/// A JSON integer, an integral JSON number, or a decimal or `0x` hex string.
pub fn parse_int(value: &Json) -> Result<i128, String> {
    let bad = || format!("expected an integer, got {}", value.to_json());
    match value {
        Json::Number(text) => match text.parse::<i128>() {
            Ok(n) => Ok(n),
            Err(_) => {
                let f: f64 = text.parse().map_err(|_| bad())?;
                if f.fract() == 0.0 && f.abs() < 1e38 {
                    Ok(f as i128)
                } else {
                    Err(bad())
                }
            }
        },
        Json::String(text) => {
            let (negative, digits) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.strip_prefix('+').unwrap_or(text)),
            };
            let magnitude = match digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                Some(hex) => i128::from_str_radix(hex, 16),
                None => digits.parse::<i128>(),
            }
            .map_err(|_| bad())?;
            Ok(if negative { -magnitude } else { magnitude })
        }
        _ => Err(bad()),
    }
}

/// A float: a JSON number or one of the strings `"nan"`, `"inf"`, `"-inf"` (Python's
/// `float()` spellings).
pub fn parse_float(value: &Json) -> Result<f64, String> {
    let bad = || format!("expected a number, got {}", value.to_json());
    match value {
        Json::Number(text) => text.parse().map_err(|_| bad()),
        Json::String(text) => {
            let lower = text.trim().to_ascii_lowercase();
            let (sign, body) = match lower.strip_prefix('-') {
                Some(rest) => (-1.0, rest),
                None => (1.0, lower.strip_prefix('+').unwrap_or(&lower)),
            };
            let magnitude = match body {
                "nan" => f64::NAN,
                "inf" | "infinity" => f64::INFINITY,
                _ => body.parse().map_err(|_| bad())?,
            };
            Ok(if sign < 0.0 { -magnitude } else { magnitude })
        }
        _ => Err(bad()),
    }
}

/// `config[key]` as an integer, or `default` when absent.
pub fn int_or(config: &Json, key: &str, default: i128) -> Result<i128, String> {
    config.get(key).map_or(Ok(default), parse_int)
}

/// `config[key]` as a float, or `default` when absent.
pub fn float_or(config: &Json, key: &str, default: f64) -> Result<f64, String> {
    config.get(key).map_or(Ok(default), parse_float)
}

/// `config[key]` as a string, or `default` when absent.
pub fn str_or<'a>(config: &'a Json, key: &str, default: &'a str) -> Result<&'a str, String> {
    match config.get(key) {
        None => Ok(default),
        Some(value) => value
            .as_str()
            .ok_or_else(|| format!("{key}: expected a string")),
    }
}

/// `config[key]` as a bool, or `default` when absent.
pub fn bool_or(config: &Json, key: &str, default: bool) -> Result<bool, String> {
    match config.get(key) {
        None => Ok(default),
        Some(value) => value
            .as_bool()
            .ok_or_else(|| format!("{key}: expected a bool")),
    }
}

/// `config[key]` as a list (empty when absent).
pub fn list<'a>(config: &'a Json, key: &str) -> Result<&'a [Json], String> {
    match config.get(key) {
        None => Ok(&[]),
        Some(value) => value
            .as_array()
            .ok_or_else(|| format!("{key}: expected a list")),
    }
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

fn generate(spec: &Json) -> Result<Generated, String> {
    let gen = str_or(spec, "gen", "")?;
    let count = usize::try_from(int_or(spec, "count", 0)?).map_err(|_| "bad count")?;
    let wrap = |n: i128| n as u64; // mod 2**64, also for negative values
    Ok(match gen {
        "range" => {
            let start = int_or(spec, "start", 0)?;
            let step = int_or(spec, "step", 1)?;
            let values = (0..count as i128).map(|i| wrap(start.wrapping_add(i.wrapping_mul(step))));
            Generated::Ints(values.collect())
        }
        "slot_range" => {
            let start = wrap(int_or(spec, "start", 0)?);
            let slot = int_or(spec, "slot", 0)?;
            let (shift, mask) = match int_or(spec, "version", 2)? {
                1 => (54, (1u64 << 54) - 1),
                _ => (48, (1u64 << 48) - 1),
            };
            let high = wrap(slot.wrapping_shl(shift));
            let values = (0..count as u64).map(|i| high | (start.wrapping_add(i) & mask));
            Generated::Ints(values.collect())
        }
        "splitmix64" => {
            Generated::Ints(splitmix64(wrap(int_or(spec, "seed", 0)?), count).collect())
        }
        "uniform" => {
            let scale = 2f64.powi(-53);
            let values = splitmix64(wrap(int_or(spec, "seed", 0)?), count);
            Generated::Floats(values.map(|x| (x >> 11) as f64 * scale).collect())
        }
        other => return Err(format!("unknown generator {other:?}")),
    })
}

/// A fid list: integers, integer strings and generators, as unsigned 64-bit values.
pub fn fids(spec: &Json) -> Result<Vec<u64>, String> {
    let items = spec.as_array().ok_or("fids: expected a list")?;
    let mut out = Vec::new();
    for item in items {
        if item.get("gen").is_some() {
            match generate(item)? {
                Generated::Ints(values) => out.extend(values),
                Generated::Floats(values) => out.extend(values.iter().map(|&f| f as i64 as u64)),
            }
        } else {
            out.push(parse_int(item)? as u64);
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
    fn literal(self, value: &Json) -> Result<PyValue, String> {
        match self {
            Dtype::Float32 | Dtype::Float64 => Ok(self.store_float(parse_float(value)?)),
            _ => Ok(self.store_int(parse_int(value)?)),
        }
    }

    fn nested(self, value: &Json) -> Result<PyValue, String> {
        match value {
            Json::Array(items) => Ok(PyValue::List(
                items
                    .iter()
                    .map(|v| self.nested(v))
                    .collect::<Result<_, _>>()?,
            )),
            scalar => self.literal(scalar),
        }
    }

    /// A value list (literals and generators), flat.
    fn flat(self, spec: &Json) -> Result<Vec<PyValue>, String> {
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
pub fn feature_value(feature: &Json) -> Result<PyValue, String> {
    let dtype = Dtype::parse(str_or(feature, "dtype", "int64")?)?;
    if let Some(rows) = feature.get("ragged") {
        return dtype.nested(rows);
    }
    let dense = feature
        .get("dense")
        .ok_or("a feature needs 'dense' or 'ragged'")?;
    if dense.get("values").is_none() {
        return dtype.nested(dense);
    }
    let values = dtype.flat(dense.get("values").unwrap_or(&Json::Null))?;
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
pub fn batch(features: &Json) -> Result<Batch, String> {
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

    #[test]
    fn integers_in_every_spelling() {
        for (text, want) in [
            ("5", 5i128),
            ("\"18446744073709551615\"", 18446744073709551615),
            ("\"0x8001000000000001\"", 0x8001000000000001),
            ("\"-0x10\"", -16),
            ("3.0", 3),
        ] {
            assert_eq!(parse_int(&Json::parse(text).unwrap()), Ok(want), "{text}");
        }
        assert!(parse_int(&Json::parse("true").unwrap()).is_err());
    }

    #[test]
    fn splitmix64_reference_values() {
        // SplitMix64 seeded with 0: the well-known first outputs.
        let first: Vec<u64> = splitmix64(0, 2).collect();
        assert_eq!(first, [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]);
    }

    #[test]
    fn generators() {
        let spec =
            Json::parse(r#"[{"gen":"slot_range","slot":2,"start":"0xffffffffffff","count":2},1]"#);
        assert_eq!(
            fids(&spec.unwrap()).unwrap(),
            [(2 << 48) | 0xFFFF_FFFF_FFFF, 2 << 48, 1]
        );
        let spec = Json::parse(r#"[{"gen":"range","start":-1,"count":2,"step":1}]"#).unwrap();
        assert_eq!(fids(&spec).unwrap(), [u64::MAX, 0]);
    }

    #[test]
    fn dense_values_reshaped() {
        let feature =
            Json::parse(r#"{"dense":{"values":[{"gen":"range","count":4}],"shape":[2,2]}}"#);
        let int = |n| PyValue::Int(n);
        let want = PyValue::List(vec![
            PyValue::List(vec![int(0), int(1)]),
            PyValue::List(vec![int(2), int(3)]),
        ]);
        assert_eq!(feature_value(&feature.unwrap()).unwrap(), want);
    }
}
