//! `slot_count` family: FidSlotCountSaverListener over the hook set's hash tables.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use super::hook_utils::wrap_listener;
use super::{global_step, Scenario, StepError, StepResult};
use crate::error::PyError;
use crate::families::{HashTable, HookUtilsHooks, SlotCountHooks};
use crate::hooks::ExampleHooks;
use crate::inputs;
use crate::runtime::{CheckpointSaver, Graph, Session};

pub struct SlotCountWorld {
    scenario: Scenario,
    hooks: Rc<dyn SlotCountHooks>,
    graph: Graph,
    session: Rc<Session>,
    tables: Vec<Rc<dyn HashTable>>,
    saver: RefCell<Option<CheckpointSaver>>,
}

impl SlotCountWorld {
    pub fn setup(scenario: Scenario, hooks: Rc<dyn SlotCountHooks>) -> Result<Self, StepError> {
        let graph = Graph::default();
        let session = scenario.plain_session(0);
        let specs = inputs::list(&scenario.config, "tables")?;
        let mut tables = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let default_name = format!("table{i}");
            let name = inputs::str_or(spec, "name", &default_name)?;
            let dim = inputs::int_or(spec, "dim", 1)?;
            let device = inputs::str_or(spec, "device", "")?;
            tables.push(hooks.hash_table(&graph, name, dim, device));
        }
        for _ in 0..inputs::int_or(&scenario.config, "multi_hash_tables", 0)? {
            hooks.multi_hash_table(&graph);
        }
        for (table, spec) in tables.iter().zip(specs) {
            let fids = match spec.get("fids") {
                Some(fids) => inputs::fids(fids)?,
                None => Vec::new(),
            };
            if !fids.is_empty() {
                table.assign(&session, &fids)?;
            }
        }
        Ok(SlotCountWorld {
            scenario,
            hooks,
            graph,
            session,
            tables,
            saver: RefCell::new(None),
        })
    }

    fn create_listener(&self) -> StepResult {
        let listener =
            self.hooks
                .slot_listener(&self.scenario.ctx, &self.graph, &self.scenario.model_dir)?;
        let wrappers: Rc<dyn HookUtilsHooks> = match &self.scenario.hooks.hook_utils {
            Some(hooks) => hooks.clone(),
            None => Rc::new(ExampleHooks),
        };
        let kind = inputs::str_or(&self.scenario.config, "wrap", "plain")?;
        let wrapped = wrap_listener(&*wrappers, Some(kind), listener)?;
        *self.saver.borrow_mut() = Some(CheckpointSaver::new(vec![wrapped], self.session.clone()));
        Ok(())
    }

    pub fn step(&self, op: &str, step: &Value) -> Option<StepResult> {
        let result = || -> StepResult {
            match op {
                "create_listener" => self.create_listener()?,
                "assign" => {
                    let index = inputs::int_or(step, "table", 0)?;
                    let at = inputs::py_index(self.tables.len(), index)
                        .ok_or_else(PyError::index_error)?;
                    let fids = inputs::fids(step.get("fids").unwrap_or(&Value::Null))?;
                    self.tables[at].assign(&self.session, &fids)?;
                }
                "save" => {
                    if self.saver.borrow().is_none() {
                        self.create_listener()?;
                    }
                    let step = global_step(step)?;
                    if let Some(saver) = &*self.saver.borrow() {
                        saver.save(step)?;
                    }
                }
                _ => unreachable!(),
            }
            Ok(())
        };
        match op {
            "create_listener" | "assign" | "save" => Some(result()),
            _ => None,
        }
    }
}
