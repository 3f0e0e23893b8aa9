//! Port of `monolith/native_training/hooks/feature_engineering_hooks.py`:
//! `FeatureEngineeringSaveHook` buffers the dataset elements fetched by each run
//! (skipping the first run, the iterator's initialisation) and dumps them as a stream of
//! `ExampleBatch` records to `<model_dir>/features/`: each record is a little-endian
//! uint64 0 (the lagrange header), a little-endian uint64 length, then the serialized
//! `ExampleBatch`. It flushes at `cap` buffered batches and at `end`.

use std::fs;

use crate::error::PyError;
use crate::events::Events;
use crate::inputs::{Batch, PyValue};
use crate::proto;

pub const LAGRANGE_HEADER: u64 = 0;

/// The parts of an estimator `RunConfig` the hook reads.
pub struct RunConfig {
    pub model_dir: String,
    pub server_type: String,
    pub index: i128,
}

/// `chief_<uid>.pb` for worker 0, else `worker<index>_<uid>.pb`.
pub fn feature_file_name(config: &RunConfig, uid: &str) -> String {
    if config.server_type == "worker" && config.index == 0 {
        format!("chief_{uid}.pb")
    } else {
        format!("worker{}_{uid}.pb", config.index)
    }
}

/// One fetched dataset element as a serialized `monolith.io.proto.ExampleBatch`, built
/// exactly as the original builds it with the Python protobuf API.
pub fn to_example_batch(batch: &Batch) -> Result<Vec<u8>, PyError> {
    let mut out = Vec::new();
    let mut batch_size = 0;
    for (name, value) in batch {
        // `value.tolist()`: a scalar has no rows to iterate.
        let PyValue::List(rows) = value else {
            return Err(PyError::new("TypeError"));
        };
        let mut named_feature_list = Vec::new();
        if !name.is_empty() {
            proto::put_bytes(&mut named_feature_list, 1, name.as_bytes()); // name
        }
        for row in rows {
            proto::put_bytes(&mut named_feature_list, 2, &feature(row)?); // feature
        }
        // type = INDIVIDUAL (0) and id = 0 are proto3 defaults: not written.
        proto::put_bytes(&mut out, 1, &named_feature_list); // named_feature_list
                                                            // Quirk batch-size-last-key: set for every key in turn, the last one wins.
        batch_size = rows.len();
    }
    if batch_size != 0 {
        proto::put_varint_field(&mut out, 3, batch_size as i64); // batch_size
    }
    Ok(out)
}

/// One row as a `Feature`: `float_list` if its first value is a float (quirk
/// float-detection-first-element), else `fid_v2_list` (quirk ints-written-as-fids), also
/// for an empty row (quirk empty-row-fid-list).
fn feature(row: &PyValue) -> Result<Vec<u8>, PyError> {
    // `len(row)` of a scalar row: quirk scalar-rows-typeerror.
    let PyValue::List(values) = row else {
        return Err(PyError::new("TypeError"));
    };
    let mut list = Vec::new();
    let mut out = Vec::new();
    if let Some(PyValue::Float(_)) = values.first() {
        // Quirk float64-as-float-list: every float becomes a 32-bit float.
        let floats = values
            .iter()
            .map(|v| match v {
                PyValue::Float(f) => Ok(*f as f32),
                PyValue::Int(n) => Ok(*n as f64 as f32),
                PyValue::List(_) => Err(PyError::new("TypeError")),
            })
            .collect::<Result<Vec<f32>, _>>()?;
        proto::put_packed_float(&mut list, 1, &floats);
        proto::put_bytes(&mut out, 3, &list); // float_list
    } else {
        let fids = values
            .iter()
            .map(|v| match v {
                PyValue::Int(n) => u64::try_from(*n).map_err(|_| PyError::new("ValueError")),
                _ => Err(PyError::new("TypeError")),
            })
            .collect::<Result<Vec<u64>, _>>()?;
        proto::put_packed_fixed64(&mut list, 1, &fids);
        proto::put_bytes(&mut out, 2, &list); // fid_v2_list
    }
    Ok(out)
}

/// One record of the dump stream: lagrange header, length, payload.
pub fn frame(serialized: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + serialized.len());
    out.extend_from_slice(&LAGRANGE_HEADER.to_le_bytes());
    out.extend_from_slice(&(serialized.len() as u64).to_le_bytes());
    out.extend_from_slice(serialized);
    out
}

/// Dumps the fetched dataset elements as framed `ExampleBatch` files.
pub struct FeatureEngineeringSaveHook {
    config: RunConfig,
    cap: i128,
    uuid_fn: Box<dyn FnMut() -> String>,
    events: Events,
    batch_list: Vec<Batch>,
    steps: u64,
}

impl FeatureEngineeringSaveHook {
    pub fn new(
        config: RunConfig,
        cap: i128,
        uuid_fn: Box<dyn FnMut() -> String>,
        events: Events,
    ) -> Self {
        FeatureEngineeringSaveHook {
            config,
            cap,
            uuid_fn,
            events,
            batch_list: Vec::new(),
            steps: 0,
        }
    }

    pub fn begin(&mut self) {
        self.batch_list.clear();
        self.steps = 0;
    }

    /// Whether this run fetches the iterator's next element for the hook: not in the
    /// first run (quirk first-run-skipped), in every later one (quirk
    /// hook-fetch-consumes-element).
    pub fn before_run(&mut self) -> bool {
        self.steps += 1;
        self.steps > 1
    }

    pub fn after_run(&mut self, element: Option<Batch>) -> Result<(), PyError> {
        if let Some(element) = element {
            self.batch_list.push(element);
            if self.batch_list.len() as i128 >= self.cap {
                // Quirk failed-save-retried: a failing save leaves the buffer as it is.
                self.save_features()?;
                self.batch_list.clear();
            }
        }
        Ok(())
    }

    /// Always saves, even with nothing buffered (quirk end-saves-empty-buffer).
    pub fn end(&mut self) -> Result<(), PyError> {
        self.save_features()?;
        self.batch_list.clear();
        Ok(())
    }

    fn save_features(&mut self) -> Result<(), PyError> {
        let base_dir = format!("{}/features", self.config.model_dir);
        // The original ignores a failure here: the error, if any, comes at the write.
        let _ = fs::create_dir_all(&base_dir);
        let uid = (self.uuid_fn)();
        let file_path = format!("{base_dir}/{}", feature_file_name(&self.config, &uid));
        let mut records = Vec::new();
        for batch in &self.batch_list {
            records.extend(frame(&to_example_batch(batch)?));
        }
        // The original's file opens lazily on the first write: no records, no file
        // (quirk lazy-feature-file), yet the save is logged.
        if !self.batch_list.is_empty() {
            fs::write(&file_path, records)?;
        }
        self.events.log_info(format!("save to {file_path}"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_batch_wire_layout() {
        let int = PyValue::Int;
        let batch: Batch = vec![
            (
                "f".into(),
                PyValue::List(vec![PyValue::List(vec![int(1)]), PyValue::List(vec![])]),
            ),
            (
                "".into(),
                PyValue::List(vec![PyValue::List(vec![PyValue::Float(0.5)])]),
            ),
        ];
        let bytes = to_example_batch(&batch).unwrap();
        #[rustfmt::skip]
        let want = [
            0x0A, 21, 0x0A, 1, b'f', 0x12, 12, 0x12, 10, 0x0A, 8, 1, 0, 0, 0, 0, 0, 0, 0,
            0x12, 2, 0x12, 0,
            0x0A, 10, 0x12, 8, 0x1A, 6, 0x0A, 4, 0, 0, 0, 0x3F,
            0x18, 1,
        ];
        assert_eq!(bytes, want);
    }

    #[test]
    fn negative_fids_and_scalar_rows_raise() {
        let batch: Batch = vec![(
            "f".into(),
            PyValue::List(vec![PyValue::List(vec![PyValue::Int(-1)])]),
        )];
        assert_eq!(to_example_batch(&batch).unwrap_err().kind, "ValueError");
        let batch: Batch = vec![("f".into(), PyValue::List(vec![PyValue::Int(1)]))];
        assert_eq!(to_example_batch(&batch).unwrap_err().kind, "TypeError");
    }
}
