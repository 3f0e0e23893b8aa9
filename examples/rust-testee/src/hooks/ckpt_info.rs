//! Port of `monolith/native_training/hooks/ckpt_info.py`: `FidSlotCountSaverListener`
//! counts, before each checkpoint save, how many entries of each slot the hash tables
//! hold, and writes `<model_dir>/ckpt.info-<step>` as `monolith.CkptInfo` in protobuf
//! text format.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;

use super::CheckpointSaverListener;
use crate::error::PyError;

/// Length of the count vector; slots are clamped to `MAX_SLOT - 1`, never reached since a
/// v2 slot has 15 bits (quirk slot-clamp-unreachable).
pub const MAX_SLOT: u64 = 102_400;

/// The slot of a v2 fid: bits 48..62. Applied to every fid, v1 ones included (quirk
/// v1-fids-counted-by-v2-slot).
pub fn slot_of_v2(fid: u64) -> u64 {
    (fid >> 48) & 0x7FFF
}

/// A stand-in for an embedding hash table: fid -> entry, dumped in insertion order.
pub struct HashTable {
    pub device: String,
    ids: Vec<u64>,
    seen: HashSet<u64>,
}

impl HashTable {
    pub fn new(device: impl Into<String>) -> HashTable {
        HashTable {
            device: device.into(),
            ids: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Inserts or overwrites entries: a fid already present stays one entry.
    pub fn assign(&mut self, fids: &[u64]) {
        for &fid in fids {
            if self.seen.insert(fid) {
                self.ids.push(fid);
            }
        }
    }

    /// The ids of every entry, once each (what a table dump yields).
    pub fn dump(&self) -> &[u64] {
        &self.ids
    }
}

/// Writes per-slot fid counts next to each checkpoint.
pub struct FidSlotCountSaverListener {
    model_dir: PathBuf,
    /// Table indices grouped by device, in first-seen order.
    device_to_tables: Vec<(String, Vec<usize>)>,
    has_multi_hash_tables: bool,
}

impl FidSlotCountSaverListener {
    /// Fails like the original when the graph has neither hash tables nor multi-hash
    /// tables (the listener was created before the model function).
    pub fn new(
        model_dir: impl Into<PathBuf>,
        tables: &[HashTable],
        multi_hash_tables: usize,
    ) -> Result<Self, PyError> {
        if tables.is_empty() && multi_hash_tables == 0 {
            return Err(PyError::with_message(
                "ValueError",
                "Unable to find hash tables. \
                 It may be caused by creating the listener before calling model_fn",
            ));
        }
        let mut device_to_tables: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, table) in tables.iter().enumerate() {
            match device_to_tables
                .iter_mut()
                .find(|(d, _)| *d == table.device)
            {
                Some((_, group)) => group.push(i),
                None => device_to_tables.push((table.device.clone(), vec![i])),
            }
        }
        Ok(FidSlotCountSaverListener {
            model_dir: model_dir.into(),
            device_to_tables,
            has_multi_hash_tables: multi_hash_tables > 0,
        })
    }
}

impl CheckpointSaverListener<[HashTable]> for FidSlotCountSaverListener {
    fn before_save(&mut self, tables: &[HashTable], global_step: i128) -> Result<(), PyError> {
        if self.has_multi_hash_tables {
            return Ok(()); // quirk multi-hash-tables-skip-all
        }
        // Counted per device, then summed over the devices.
        let mut counts: BTreeMap<u64, i64> = BTreeMap::new();
        for (_, group) in &self.device_to_tables {
            for &i in group {
                for &fid in tables[i].dump() {
                    *counts.entry(slot_of_v2(fid).min(MAX_SLOT - 1)).or_default() += 1;
                }
            }
        }
        fs::create_dir_all(&self.model_dir)?;
        let path = self.model_dir.join(format!("ckpt.info-{global_step}"));
        fs::write(path, render_ckpt_info(&counts))?;
        Ok(())
    }
}

/// `str(CkptInfo)` with every non-zero count, keys ascending, `key: 0` printed.
pub fn render_ckpt_info(counts: &BTreeMap<u64, i64>) -> String {
    counts
        .iter()
        .filter(|(_, &n)| n != 0)
        .map(|(slot, n)| format!("slot_counts {{\n  key: {slot}\n  value: {n}\n}}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_protobuf_text_format() {
        let mut table = HashTable::new("");
        table.assign(&[0, 5 << 48, 5 << 48 | 1, 5 << 48, 1 << 63]);
        let mut counts = BTreeMap::new();
        for &fid in table.dump() {
            *counts.entry(slot_of_v2(fid)).or_insert(0) += 1;
        }
        assert_eq!(
            render_ckpt_info(&counts),
            "slot_counts {\n  key: 0\n  value: 2\n}\nslot_counts {\n  key: 5\n  value: 2\n}\n"
        );
    }
}
