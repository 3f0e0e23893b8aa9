//! Port of `monolith/native_training/hooks/feature_engineering_hooks.py`:
//! `FeatureEngineeringSaveHook` buffers the dataset elements fetched by each run
//! (skipping the first run, the iterator's initialisation) and dumps them as a stream of
//! `monolith.io.proto.ExampleBatch` records (prost) to `<model_dir>/features/`: each record
//! is a little-endian uint64 0 (the lagrange header), a little-endian uint64 length, then
//! the serialized message. It flushes at `cap` buffered batches and at `end`.

use std::cell::{Cell, RefCell};
use std::fs;
use std::rc::Rc;

use prost::Message;

use super::ExampleHooks;
use crate::clock::LocalBoxFuture;
use crate::error::{HookResult, PyError};
use crate::events::Events;
use crate::families::{FeatureDumpHooks, HookContext, RunConfig};
use crate::inputs::{Batch, PyValue};
use crate::proto::monolith::io::proto::{
    feature, ExampleBatch, Feature, FeatureListType, FidList, FloatList, NamedFeatureList,
};
use crate::runtime::{Fetch, RunContext, Session, SessionRunHook, Value};

pub const LAGRANGE_HEADER: u64 = 0;

/// `chief_<uid>.pb` for worker 0, else `worker<index>_<uid>.pb`.
pub fn feature_file_name(config: &RunConfig, uid: &str) -> String {
    if config.server_type == "worker" && config.index == 0 {
        format!("chief_{uid}.pb")
    } else {
        format!("worker{}_{uid}.pb", config.index)
    }
}

/// One fetched dataset element as an `ExampleBatch`, built exactly as the original builds
/// it with the Python protobuf API (and failing where it fails).
pub fn to_example_batch(batch: &Batch) -> Result<ExampleBatch, PyError> {
    let mut example_batch = ExampleBatch::default();
    for (name, value) in batch {
        // `value.tolist()`: a 0-d array has no rows to iterate (TypeError).
        let PyValue::List(rows) = value else {
            return Err(PyError::new("TypeError"));
        };
        let mut named_feature_list = NamedFeatureList {
            name: name.clone(),
            r#type: FeatureListType::Individual as i32,
            ..NamedFeatureList::default()
        };
        for row in rows {
            named_feature_list.feature.push(to_feature(row)?);
        }
        example_batch.named_feature_list.push(named_feature_list);
        // Quirk batch-size-last-key: set for every key in turn, the last one wins.
        example_batch.batch_size = rows.len() as i32;
    }
    Ok(example_batch)
}

/// One row as a `Feature`: `float_list` if its first value is a float (quirk
/// float-detection-first-element), else `fid_v2_list` (quirk ints-written-as-fids), also
/// for an empty row (quirk empty-row-fid-list).
fn to_feature(row: &PyValue) -> Result<Feature, PyError> {
    // `len(row)` of a scalar row: quirk scalar-rows-typeerror.
    let PyValue::List(values) = row else {
        return Err(PyError::new("TypeError"));
    };
    let kind = if let Some(PyValue::Float(_)) = values.first() {
        // Quirk float64-as-float-list: every value becomes a 32-bit float (a C cast).
        let floats = values
            .iter()
            .map(|v| match v {
                PyValue::Float(f) => Ok(*f as f32),
                PyValue::Int(n) => Ok(*n as f64 as f32),
                PyValue::List(_) => Err(PyError::new("TypeError")),
            })
            .collect::<Result<Vec<f32>, _>>()?;
        feature::Type::FloatList(FloatList { value: floats })
    } else {
        let fids = values
            .iter()
            .map(|v| match v {
                // A negative or too large int: protobuf's "Value out of range".
                PyValue::Int(n) => u64::try_from(*n).map_err(|_| PyError::new("ValueError")),
                _ => Err(PyError::new("TypeError")),
            })
            .collect::<Result<Vec<u64>, _>>()?;
        feature::Type::FidV2List(FidList { value: fids })
    };
    Ok(Feature { r#type: Some(kind) })
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
    next_element: Fetch,
    cap: i64,
    uuid_fn: RefCell<Box<dyn FnMut() -> String>>,
    events: Events,
    batch_list: RefCell<Vec<Rc<Batch>>>,
    steps: Cell<u64>,
}

impl FeatureEngineeringSaveHook {
    fn save_features(&self) -> Result<(), PyError> {
        let base_dir = format!("{}/features", self.config.model_dir);
        // The original ignores a failure here: the error, if any, comes at the write.
        let _ = fs::create_dir_all(&base_dir);
        let uid = (self.uuid_fn.borrow_mut())();
        let file_path = format!("{base_dir}/{}", feature_file_name(&self.config, &uid));
        let mut records = Vec::new();
        for batch in self.batch_list.borrow().iter() {
            records.extend(frame(&to_example_batch(batch)?.encode_to_vec()));
        }
        // The original's file opens lazily on the first write: no records, no file
        // (quirk lazy-feature-file), yet the save is logged.
        if !self.batch_list.borrow().is_empty() {
            fs::write(&file_path, records)?;
        }
        self.events.info(format!("save to {file_path}"));
        Ok(())
    }
}

impl SessionRunHook for FeatureEngineeringSaveHook {
    fn begin(&self) -> Result<(), PyError> {
        self.batch_list.borrow_mut().clear();
        self.steps.set(0);
        Ok(())
    }

    /// The first run initialises the iterator and fetches nothing (quirk
    /// first-run-skipped); every later one fetches the next element (quirk
    /// hook-fetch-consumes-element).
    fn before_run(&self, _context: &RunContext) -> Result<Fetch, PyError> {
        self.steps.set(self.steps.get() + 1);
        Ok(if self.steps.get() > 1 {
            self.next_element.clone()
        } else {
            Fetch::Nothing
        })
    }

    fn after_run<'a>(
        &'a self,
        _context: &'a RunContext,
        value: Value,
    ) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            if self.steps.get() > 1 {
                let Value::Batch(batch) = value else {
                    return Err(PyError::new("TypeError").into());
                };
                self.batch_list.borrow_mut().push(batch);
                if self.batch_list.borrow().len() as i64 >= self.cap {
                    // Quirk failed-save-retried: a failing save leaves the buffer as it is.
                    self.save_features()?;
                    self.batch_list.borrow_mut().clear();
                }
            }
            Ok(())
        })
    }

    /// Always saves, even with nothing buffered (quirk end-saves-empty-buffer).
    fn end<'a>(&'a self, _session: &'a Rc<Session>) -> LocalBoxFuture<'a, HookResult> {
        Box::pin(async move {
            self.save_features()?;
            self.batch_list.borrow_mut().clear();
            Ok(())
        })
    }
}

impl FeatureDumpHooks for ExampleHooks {
    fn feature_hook(
        &self,
        ctx: &HookContext,
        config: RunConfig,
        next_element: Fetch,
        cap: i64,
        uuid_fn: Box<dyn FnMut() -> String>,
    ) -> Rc<dyn SessionRunHook> {
        Rc::new(FeatureEngineeringSaveHook {
            config,
            next_element,
            cap,
            uuid_fn: RefCell::new(uuid_fn),
            events: ctx.events.clone(),
            batch_list: RefCell::default(),
            steps: Cell::new(0),
        })
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
        let bytes = to_example_batch(&batch).unwrap().encode_to_vec();
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
    fn fid_extremes_and_errors() {
        let row = |v: Vec<PyValue>| PyValue::List(vec![PyValue::List(v)]);
        let batch: Batch = vec![("f".into(), row(vec![PyValue::Int(u64::MAX.into())]))];
        let bytes = to_example_batch(&batch).unwrap().encode_to_vec();
        assert!(bytes.windows(8).any(|w| w == [0xFF; 8]));
        let batch: Batch = vec![("f".into(), row(vec![PyValue::Int(-1)]))];
        assert_eq!(to_example_batch(&batch).unwrap_err().kind, "ValueError");
        let batch: Batch = vec![("f".into(), PyValue::List(vec![PyValue::Int(1)]))];
        assert_eq!(to_example_batch(&batch).unwrap_err().kind, "TypeError");
    }
}
