//! `slot_count` family: FidSlotCountSaverListener over stand-in hash tables.

use crate::error::{PyError, StepError};
use crate::hooks::ckpt_info::{FidSlotCountSaverListener, HashTable};
use crate::hooks::hook_utils::wrap;
use crate::hooks::CheckpointSaver;
use crate::inputs;
use crate::json::Json;

pub struct SlotCountWorld {
    model_dir: String,
    wrap: String,
    tables: Vec<HashTable>,
    multi_hash_tables: usize,
    saver: Option<CheckpointSaver<[HashTable]>>,
}

impl SlotCountWorld {
    pub fn new(config: &Json, model_dir: String) -> Result<Self, String> {
        let mut tables = Vec::new();
        for spec in inputs::list(config, "tables")? {
            // A table's name and dim change nothing the listener writes.
            let mut table = HashTable::new(inputs::str_or(spec, "device", "")?);
            if let Some(fids) = spec.get("fids") {
                table.assign(&inputs::fids(fids)?);
            }
            tables.push(table);
        }
        let multi = inputs::int_or(config, "multi_hash_tables", 0)?;
        Ok(SlotCountWorld {
            model_dir,
            wrap: inputs::str_or(config, "wrap", "plain")?.to_string(),
            tables,
            multi_hash_tables: usize::try_from(multi).map_err(|_| "bad multi_hash_tables")?,
            saver: None,
        })
    }

    fn create_listener(&mut self) -> Result<(), StepError> {
        let listener =
            FidSlotCountSaverListener::new(&self.model_dir, &self.tables, self.multi_hash_tables)?;
        let wrapped = wrap(&self.wrap, Box::new(listener)).map_err(StepError::Testee)?;
        self.saver = Some(CheckpointSaver::new(vec![wrapped]));
        Ok(())
    }
}

impl super::World for SlotCountWorld {
    fn step(&mut self, op: &str, step: &Json) -> Result<(), StepError> {
        match op {
            "create_listener" => self.create_listener()?,
            "assign" => {
                let index = inputs::int_or(step, "table", 0).map_err(StepError::Testee)?;
                let fids = inputs::fids(step.get("fids").unwrap_or(&Json::Null))
                    .map_err(StepError::Testee)?;
                let table = usize::try_from(index)
                    .ok()
                    .and_then(|i| self.tables.get_mut(i));
                // The reference indexes its list of tables: a missing one raises IndexError
                // (an observation, like any error the step raises), not a testee failure.
                table
                    .ok_or(StepError::Raised(PyError::new("IndexError")))?
                    .assign(&fids);
            }
            "save" => {
                let global_step = inputs::parse_int(step.get("global_step").unwrap_or(&Json::Null))
                    .map_err(StepError::Testee)?;
                if self.saver.is_none() {
                    self.create_listener()?;
                }
                if let Some(saver) = &mut self.saver {
                    saver.save(&self.tables, global_step)?;
                }
            }
            _ => return Err(super::unknown_op(op)),
        }
        Ok(())
    }

    fn advance(&mut self, _seconds: f64) -> Result<(), StepError> {
        Ok(())
    }
}
