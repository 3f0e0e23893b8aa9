//! Port of `monolith/native_training/hooks/ckpt_info.py`: `FidSlotCountSaverListener`
//! counts, before each checkpoint save, how many entries of each slot the hash tables
//! hold, and writes `<model_dir>/ckpt.info-<step>`: a `monolith.CkptInfo` (prost) printed
//! in protobuf text format. And a stand-in for the embedding hash tables it reads, whose
//! dump yields `monolith.hash_table.EntryDump` messages.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::ExampleHooks;
use crate::error::PyError;
use crate::families::{
    hash_tables, HashTable, HookContext, SlotCountHooks, HASH_TABLE_COLLECTION,
    MULTI_HASH_TABLE_COLLECTION,
};
use crate::proto::monolith::hash_table::EntryDump;
use crate::proto::monolith::CkptInfo;
use crate::runtime::{CheckpointSaverListener, Graph, Session};

/// Length of the count vector; slots are clamped to `MAX_SLOT - 1`, never reached since a
/// v2 slot has 15 bits (quirk slot-clamp-unreachable).
pub const MAX_SLOT: u64 = 102_400;

/// The slot of a v2 fid: bits 48..62. Applied to every fid, v1 ones included (quirk
/// v1-fids-counted-by-v2-slot).
pub fn slot_of_v2(fid: u64) -> u64 {
    (fid >> 48) & 0x7FFF
}

/// A table's entries: ids in insertion order, unique. The reference keeps them in the
/// session's store under `<name>/entries` (shared): two tables of one name share them.
#[derive(Default)]
struct Entries {
    ids: Vec<u64>,
    seen: HashSet<u64>,
}

/// The stand-in embedding hash table (`reference/hash_table.py`).
pub struct ExampleHashTable {
    name: String,
    dim: usize,
    device: String,
    entries: Rc<RefCell<Entries>>,
}

impl HashTable for ExampleHashTable {
    fn name(&self) -> &str {
        &self.name
    }

    fn device(&self) -> &str {
        &self.device
    }

    fn assign(&self, _session: &Session, fids: &[u64]) -> Result<(), PyError> {
        let mut entries = self.entries.borrow_mut();
        let Entries { ids, seen } = &mut *entries;
        for &fid in fids {
            if seen.insert(fid) {
                ids.push(fid);
            }
        }
        Ok(())
    }

    fn dump(
        &self,
        _session: &Session,
    ) -> Result<Box<dyn Iterator<Item = EntryDump> + '_>, PyError> {
        let ids = self.entries.borrow().ids.clone();
        let dim = self.dim;
        Ok(Box::new(ids.into_iter().map(move |id| EntryDump {
            id: Some(id as i64), // sfixed64
            num: vec![0.0; dim],
            ..EntryDump::default()
        })))
    }
}

/// Tables by name, per graph (what the store's `<name>/entries` variables are).
#[derive(Default)]
struct TableEntries(RefCell<HashMap<String, Rc<RefCell<Entries>>>>);

/// Writes per-slot fid counts next to each checkpoint.
pub struct FidSlotCountSaverListener {
    model_dir: PathBuf,
    /// Tables grouped by device, devices in first-seen order.
    device_to_tables: Vec<(String, Vec<Rc<dyn HashTable>>)>,
    has_multi_hash_tables: bool,
}

impl FidSlotCountSaverListener {
    pub fn new(model_dir: &Path, graph: &Graph) -> Result<Self, PyError> {
        let all_tables = hash_tables(graph);
        let multi = graph.get_collection(MULTI_HASH_TABLE_COLLECTION).len();
        if all_tables.is_empty() && multi == 0 {
            return Err(PyError::with_message(
                "ValueError",
                "Unable to find hash tables. \
                 It may be caused by creating the listener before calling model_fn",
            ));
        }
        let mut device_to_tables: Vec<(String, Vec<Rc<dyn HashTable>>)> = Vec::new();
        for table in all_tables {
            match device_to_tables
                .iter_mut()
                .find(|(d, _)| d == table.device())
            {
                Some((_, group)) => group.push(table),
                None => device_to_tables.push((table.device().to_string(), vec![table])),
            }
        }
        // One count variable a device, created without reuse: a second listener in one
        // graph raises ValueError at the first device they share.
        for (device, _) in &device_to_tables {
            let name = format!("monolith_fid_slot_count/{}", device.replace(':', "_"));
            graph.create_variable_name(&name)?;
        }
        Ok(FidSlotCountSaverListener {
            model_dir: model_dir.to_path_buf(),
            device_to_tables,
            has_multi_hash_tables: multi > 0,
        })
    }
}

impl CheckpointSaverListener for FidSlotCountSaverListener {
    fn before_save(&self, session: &Session, global_step: i64) -> Result<(), PyError> {
        if self.has_multi_hash_tables {
            return Ok(()); // quirk multi-hash-tables-skip-all
        }
        // Counted per device, then summed over the devices.
        let mut counts: BTreeMap<u64, i64> = BTreeMap::new();
        for (_, tables) in &self.device_to_tables {
            for table in tables {
                for entry in table.dump(session)? {
                    let fid = entry.id.unwrap_or_default() as u64;
                    *counts.entry(slot_of_v2(fid).min(MAX_SLOT - 1)).or_default() += 1;
                }
            }
        }
        let info = CkptInfo {
            slot_counts: counts
                .into_iter()
                .filter(|&(_, n)| n != 0)
                .map(|(slot, n)| (slot as i32, n))
                .collect(),
            ..CkptInfo::default()
        };
        fs::create_dir_all(&self.model_dir)?;
        let path = self.model_dir.join(format!("ckpt.info-{global_step}"));
        fs::write(path, ckpt_info_text(&info))?;
        Ok(())
    }

    fn repr(&self) -> String {
        "<FidSlotCountSaverListener>".to_string()
    }
}

/// `str(CkptInfo)`: protobuf text format, map entries sorted by key, `key: 0` printed
/// (the original's protobuf backend prints a zero key).
pub fn ckpt_info_text(info: &CkptInfo) -> String {
    let mut out = String::new();
    for (key, value) in &info.slot_counts {
        out += &format!("slot_counts {{\n  key: {key}\n  value: {value}\n}}\n");
    }
    for (key, value) in &info.feature_counts {
        out += &format!("feature_counts {{\n  key: {key:?}\n  value: {value}\n}}\n");
    }
    out
}

impl SlotCountHooks for ExampleHooks {
    fn hash_table(&self, graph: &Graph, name: &str, dim: i64, device: &str) -> Rc<dyn HashTable> {
        // The graph's tables by name live in the graph's collections too.
        let registry = match graph.get_collection("__table_entries__").first() {
            Some(r) => r.clone(),
            None => {
                let r: Rc<dyn std::any::Any> = Rc::new(TableEntries::default());
                graph.add_to_collection("__table_entries__", r.clone());
                r
            }
        };
        let registry = registry
            .downcast_ref::<TableEntries>()
            .expect("the table registry");
        let entries = registry
            .0
            .borrow_mut()
            .entry(name.to_string())
            .or_default()
            .clone();
        let table: Rc<dyn HashTable> = Rc::new(ExampleHashTable {
            name: name.to_string(),
            dim: usize::try_from(dim).unwrap_or(0),
            device: device.to_string(),
            entries,
        });
        graph.add_to_collection(HASH_TABLE_COLLECTION, Rc::new(table.clone()));
        table
    }

    fn multi_hash_table(&self, graph: &Graph) {
        graph.add_to_collection(MULTI_HASH_TABLE_COLLECTION, Rc::new(()));
    }

    fn slot_listener(
        &self,
        _ctx: &HookContext,
        graph: &Graph,
        model_dir: &Path,
    ) -> Result<Rc<dyn CheckpointSaverListener>, PyError> {
        Ok(Rc::new(FidSlotCountSaverListener::new(model_dir, graph)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_protobuf_text_format() {
        let info = CkptInfo {
            slot_counts: [(5, 2), (0, 2)].into_iter().collect(),
            ..CkptInfo::default()
        };
        assert_eq!(
            ckpt_info_text(&info),
            "slot_counts {\n  key: 0\n  value: 2\n}\nslot_counts {\n  key: 5\n  value: 2\n}\n"
        );
        assert_eq!(slot_of_v2(1 << 63), 0); // bit 63 is not part of a v2 slot
        assert_eq!(slot_of_v2(u64::MAX), 0x7FFF);
    }
}
