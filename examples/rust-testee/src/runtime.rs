//! The simulated TensorFlow runtime the hooks run in (`reference/runtime/`): variables in
//! a store shared by a job's workers, plain sessions that run fetches, monitored sessions
//! that drive `SessionRunHook`s, and a checkpoint saver that calls its listeners.
//!
//! This is the harness side of the seam: a port keeps it as it is and plugs its hooks in
//! through the traits [`SessionRunHook`] and [`CheckpointSaverListener`] (and the family
//! traits of `crate::families`). Only what the corpus observes is modelled: variables are
//! vectors of bools or strings, fetches are a variable, one of its elements, an op
//! (a state change) or a dataset read.
//!
//! Lifecycle (TensorFlow's `session_run_hook`): a monitored session calls `begin` on every
//! hook, then `after_create_session`; each run calls every hook's `before_run`, evaluates
//! the caller's fetch then each hook's fetch (the harness convention: TensorFlow leaves
//! them unordered), then every hook's `after_run`; `end` is called on a normal close and
//! when the session's `with` block ends with `OutOfRangeError` or `StopIteration`, never on
//! another error. Either way the session is closed afterwards.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::clock::LocalBoxFuture;
use crate::error::{HookError, HookResult, PyError};
use crate::inputs::Batch;

/// What a variable holds or a fetch yields.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Bools(Vec<bool>),
    Str(String),
    /// A dataset element (the feature dump's `IteratorGetNext`).
    Batch(Rc<Batch>),
}

impl Value {
    /// Python truthiness of a fetched value.
    pub fn truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Bools(v) => !v.is_empty(),
            Value::Str(s) => !s.is_empty(),
            Value::Batch(b) => !b.is_empty(),
        }
    }

    pub fn as_bools(&self) -> Result<&[bool], PyError> {
        match self {
            Value::Bools(v) => Ok(v),
            _ => Err(PyError::new("TypeError")),
        }
    }
}

/// A named variable: `local` ones belong to one worker, the others (on a parameter
/// server) are shared by every worker of the job.
#[derive(Debug)]
pub struct Variable {
    pub name: String,
    pub initial: Value,
    pub local: bool,
}

pub type Var = Rc<Variable>;

impl Variable {
    pub fn new(name: impl Into<String>, initial: Value, local: bool) -> Var {
        Rc::new(Variable {
            name: name.into(),
            initial,
            local,
        })
    }
}

/// Variable values of one simulated job (one per scenario).
#[derive(Default)]
pub struct VariableStore {
    values: RefCell<HashMap<(Option<usize>, String), Value>>,
}

impl VariableStore {
    fn key(var: &Variable, worker: usize) -> (Option<usize>, String) {
        (var.local.then_some(worker), var.name.clone())
    }

    pub fn read(&self, var: &Variable, worker: usize) -> Value {
        self.values
            .borrow_mut()
            .entry(VariableStore::key(var, worker))
            .or_insert_with(|| var.initial.clone())
            .clone()
    }

    pub fn write(&self, var: &Variable, worker: usize, value: Value) {
        self.values
            .borrow_mut()
            .insert(VariableStore::key(var, worker), value);
    }
}

/// A value read from the store or the data (the dataset of the feature dump).
pub trait Read {
    fn read(&self, session: &Session) -> Result<Value, PyError>;
}

/// A state change a run makes (an assign op).
pub type OpFn = Rc<dyn Fn(&Session) -> Result<(), PyError>>;

/// What a run evaluates.
#[derive(Clone)]
pub enum Fetch {
    /// Nothing (a hook that asks for no fetch; the model's `dummy` op).
    Nothing,
    /// A variable's value.
    Variable(Var),
    /// `var[index]` of a vector variable (`IndexError` out of bounds).
    Element(Var, i64),
    /// A state change (assign ops); yields `Value::None`.
    Op(OpFn),
    /// A read computed once per run: fetched by the model and a hook in one run, it is
    /// one value (one dataset element).
    Read(Rc<dyn Read>),
}

impl Fetch {
    pub fn op(f: impl Fn(&Session) -> Result<(), PyError> + 'static) -> Fetch {
        Fetch::Op(Rc::new(f))
    }
}

/// One run's memo of [`Fetch::Read`] values.
#[derive(Default)]
pub struct Memo(Vec<(*const (), Value)>);

/// A plain session of one worker over the job's store.
pub struct Session {
    store: Rc<VariableStore>,
    pub worker: usize,
    closed: Cell<bool>,
}

impl Session {
    pub fn new(store: Rc<VariableStore>, worker: usize) -> Rc<Session> {
        Rc::new(Session {
            store,
            worker,
            closed: Cell::new(false),
        })
    }

    pub fn close(&self) {
        self.closed.set(true);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    fn check_open(&self) -> Result<(), PyError> {
        if self.closed.get() {
            return Err(PyError::new("RuntimeError")); // Attempted to use a closed Session.
        }
        Ok(())
    }

    /// The store, bypassing the closed check (what a local init op writes through).
    pub fn raw_read(&self, var: &Variable) -> Value {
        self.store.read(var, self.worker)
    }

    pub fn raw_write(&self, var: &Variable, value: Value) {
        self.store.write(var, self.worker, value);
    }

    /// `session.run(fetch)`.
    pub fn run(&self, fetch: &Fetch) -> Result<Value, PyError> {
        self.check_open()?;
        self.evaluate(fetch, &mut Memo::default())
    }

    /// Several fetches as one run: in order, sharing one memo.
    pub fn run_many(&self, fetches: &[&Fetch]) -> Result<Vec<Value>, PyError> {
        self.check_open()?;
        let mut memo = Memo::default();
        fetches
            .iter()
            .map(|f| self.evaluate(f, &mut memo))
            .collect()
    }

    fn position(&self, var: &Variable, index: i64) -> Result<usize, PyError> {
        let size = match self.raw_read(var) {
            Value::Bools(v) => v.len(),
            _ => return Err(PyError::new("TypeError")),
        };
        usize::try_from(index)
            .ok()
            .filter(|&i| i < size)
            .ok_or_else(PyError::index_error)
    }

    /// `var[index]` of a bool vector.
    pub fn element(&self, var: &Variable, index: i64) -> Result<bool, PyError> {
        let at = self.position(var, index)?;
        Ok(self.raw_read(var).as_bools()?[at])
    }

    /// `var[index].assign(value)`.
    pub fn assign_element(&self, var: &Variable, index: i64, value: bool) -> Result<(), PyError> {
        let at = self.position(var, index)?;
        let mut values = self.raw_read(var).as_bools()?.to_vec();
        values[at] = value;
        self.raw_write(var, Value::Bools(values));
        Ok(())
    }

    fn evaluate(&self, fetch: &Fetch, memo: &mut Memo) -> Result<Value, PyError> {
        match fetch {
            Fetch::Nothing => Ok(Value::None),
            Fetch::Variable(var) => Ok(self.raw_read(var)),
            Fetch::Element(var, index) => self.element(var, *index).map(Value::Bool),
            Fetch::Op(op) => op(self).map(|()| Value::None),
            Fetch::Read(read) => {
                let key = Rc::as_ptr(read) as *const ();
                if let Some((_, value)) = memo.0.iter().find(|(k, _)| *k == key) {
                    return Ok(value.clone());
                }
                let value = read.read(self)?;
                memo.0.push((key, value.clone()));
                Ok(value)
            }
        }
    }
}

/// Passed to `before_run` / `after_run`: the raw session, and a way to request a stop.
pub struct RunContext {
    pub session: Rc<Session>,
    stop_requested: Cell<bool>,
}

impl RunContext {
    pub fn request_stop(&self) {
        self.stop_requested.set(true);
    }
}

fn done<'a>() -> LocalBoxFuture<'a, HookResult> {
    Box::pin(async { Ok(()) })
}

/// `tf.estimator.SessionRunHook`: every method is a no-op unless overridden. Methods that
/// may block on the clock (waiting at a barrier, joining a thread, starting one) return a
/// future; hooks are shared (`Rc`), so state lives in `Cell` / `RefCell` fields, never
/// borrowed across an `.await`.
pub trait SessionRunHook {
    fn begin(&self) -> Result<(), PyError> {
        Ok(())
    }
    fn after_create_session<'a>(
        &'a self,
        _session: &'a Rc<Session>,
    ) -> LocalBoxFuture<'a, HookResult> {
        done()
    }
    /// The fetch this hook adds to the run (`SessionRunArgs`).
    fn before_run(&self, _context: &RunContext) -> Result<Fetch, PyError> {
        Ok(Fetch::Nothing)
    }
    /// `value`: what this hook's fetch evaluated to.
    fn after_run<'a>(
        &'a self,
        _context: &'a RunContext,
        _value: Value,
    ) -> LocalBoxFuture<'a, HookResult> {
        done()
    }
    fn end<'a>(&'a self, _session: &'a Rc<Session>) -> LocalBoxFuture<'a, HookResult> {
        done()
    }
}

/// TensorFlow's `MonitoredSession` (a `SingularMonitoredSession`) over a plain session.
pub struct MonitoredSession {
    hooks: Vec<Rc<dyn SessionRunHook>>,
    session: Rc<Session>,
    should_stop: Cell<bool>,
    closed: Cell<bool>,
}

impl MonitoredSession {
    /// Like TensorFlow's constructor: begins the hooks, then creates the session.
    pub async fn create(
        hooks: Vec<Rc<dyn SessionRunHook>>,
        session: Rc<Session>,
    ) -> HookResult<MonitoredSession> {
        for hook in &hooks {
            hook.begin()?;
        }
        for hook in &hooks {
            hook.after_create_session(&session).await?;
        }
        Ok(MonitoredSession {
            hooks,
            session,
            should_stop: Cell::new(false),
            closed: Cell::new(false),
        })
    }

    pub fn raw_session(&self) -> &Rc<Session> {
        &self.session
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    pub fn should_stop(&self) -> bool {
        self.closed.get() || self.should_stop.get()
    }

    /// One hooked run of `fetch`; returns what `fetch` evaluated to.
    pub async fn run(&self, fetch: &Fetch) -> HookResult<Value> {
        if self.closed.get() {
            // TensorFlow drops its session object on close: `'NoneType' object has no
            // attribute 'run'`.
            return Err(HookError::raised("AttributeError"));
        }
        if self.should_stop.get() {
            // "Run called even after should_stop requested."
            return Err(HookError::raised("RuntimeError"));
        }
        let context = RunContext {
            session: self.session.clone(),
            stop_requested: Cell::new(false),
        };
        let mut fetches = vec![fetch.clone()];
        for hook in &self.hooks {
            fetches.push(hook.before_run(&context)?);
        }
        let mut values = self.session.run_many(&fetches.iter().collect::<Vec<_>>())?;
        let hook_values = values.split_off(1);
        for (hook, value) in self.hooks.iter().zip(hook_values) {
            hook.after_run(&context, value).await?;
        }
        if context.stop_requested.get() {
            self.should_stop.set(true);
        }
        Ok(values.remove(0))
    }

    /// TensorFlow's `_close_internal`: `end` on every hook when `ended_normally` (again,
    /// if closed twice), then the session is closed; a second close raises RuntimeError
    /// (`Session is already closed.`), replacing any error of `end`.
    pub async fn close(&self, ended_normally: bool) -> HookResult {
        let mut ended = Ok(());
        if ended_normally {
            for hook in &self.hooks {
                if let Err(e) = hook.end(&self.session).await {
                    ended = Err(e);
                    break;
                }
            }
        }
        if self.closed.get() {
            return Err(HookError::raised("RuntimeError"));
        }
        self.closed.set(true);
        self.session.close();
        ended
    }

    /// `__exit__` of the session's `with` block, ending with `error` (`None`: normally):
    /// closes it, calling `end` only for no error, `OutOfRangeError` or `StopIteration`;
    /// returns whether the error is swallowed (those two).
    pub async fn exit(&self, error: Option<&HookError>) -> HookResult<bool> {
        let normal = match error {
            None => true,
            Some(HookError::Raised(e)) => e.ends_block_normally(),
            Some(HookError::Clock(_)) => false,
        };
        self.close(normal).await?;
        Ok(normal && error.is_some())
    }
}

/// `tf.estimator.CheckpointSaverListener`: every method is a no-op unless overridden.
pub trait CheckpointSaverListener {
    fn begin(&self) -> Result<(), PyError> {
        Ok(())
    }
    fn before_save(&self, _session: &Session, _global_step: i64) -> Result<(), PyError> {
        Ok(())
    }
    fn after_save(&self, _session: &Session, _global_step: i64) -> Result<(), PyError> {
        Ok(())
    }
    fn end(&self, _session: &Session, _global_step: i64) -> Result<(), PyError> {
        Ok(())
    }
    /// Python's `repr`, address-free: a default object repr is `<ClassName>`.
    fn repr(&self) -> String {
        "<CheckpointSaverListener>".to_string()
    }
}

/// Calls its listeners around each save, like `CheckpointSaverHook`: `begin` once (at
/// the first save if not before), then `before_save` on all, then `after_save` on all.
pub struct CheckpointSaver {
    listeners: Vec<Rc<dyn CheckpointSaverListener>>,
    session: Rc<Session>,
    begun: Cell<bool>,
}

impl CheckpointSaver {
    pub fn new(listeners: Vec<Rc<dyn CheckpointSaverListener>>, session: Rc<Session>) -> Self {
        CheckpointSaver {
            listeners,
            session,
            begun: Cell::new(false),
        }
    }

    pub fn begin(&self) -> Result<(), PyError> {
        self.begun.set(true);
        self.listeners.iter().try_for_each(|l| l.begin())
    }

    pub fn save(&self, global_step: i64) -> Result<(), PyError> {
        if !self.begun.get() {
            self.begin()?;
        }
        for listener in &self.listeners {
            listener.before_save(&self.session, global_step)?;
        }
        for listener in &self.listeners {
            listener.after_save(&self.session, global_step)?;
        }
        Ok(())
    }

    pub fn end(&self, global_step: i64) -> Result<(), PyError> {
        for listener in &self.listeners {
            listener.end(&self.session, global_step)?;
        }
        Ok(())
    }
}

/// The scenario's default graph: named collections (`tf.compat.v1.get_collection`) and
/// the variable names taken without reuse.
#[derive(Default)]
pub struct Graph {
    collections: RefCell<HashMap<String, Vec<Rc<dyn std::any::Any>>>>,
    variable_names: RefCell<Vec<String>>,
}

impl Graph {
    pub fn add_to_collection(&self, key: &str, value: Rc<dyn std::any::Any>) {
        self.collections
            .borrow_mut()
            .entry(key.to_string())
            .or_default()
            .push(value);
    }

    pub fn get_collection(&self, key: &str) -> Vec<Rc<dyn std::any::Any>> {
        self.collections
            .borrow()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// Claims a variable name, as `tf.compat.v1.get_variable` without reuse: a second
    /// claim of one name raises `ValueError`.
    pub fn create_variable_name(&self, name: &str) -> Result<(), PyError> {
        let mut names = self.variable_names.borrow_mut();
        if names.iter().any(|n| n == name) {
            return Err(PyError::new("ValueError"));
        }
        names.push(name.to_string());
        Ok(())
    }
}
