//! The driver the server uses: build a run from a [`SimConfig`], step it,
//! and read its features, growth events and quantised field.

use crate::config::SimConfig;
use crate::error::SimError;
use crate::features::Features;
use crate::growth::{count_row, GrowthEvents};
use crate::model::Model;
use crate::quantize::QuantizedField;
use crate::simd::Kernel;

/// Grids with `grid_size >=` this step their rows in parallel by default.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 128;

/// A running Gray–Scott simulation.
///
/// ```
/// use wavecast_sim::{SimConfig, Simulation};
///
/// let mut sim = Simulation::new(SimConfig::default())?;
/// sim.step_n(100);
/// let features = sim.features();
/// assert_eq!(features.step, 100);
/// let frame = sim.quantize_u8();
/// assert_eq!(frame.data.len(), 64 * 64);
/// # Ok::<(), wavecast_sim::SimError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Simulation {
    config: SimConfig,
    model: Model,
    growth: GrowthEvents,
    threshold: f32,
    step_count: u64,
    parallel_threshold: usize,
}

impl Simulation {
    /// Validates `config` (see [`SimConfig::validate`]) and builds the
    /// seeded initial state.
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        Ok(Self::build(config))
    }

    /// Builds a run checking only what protects memory (`grid_size`,
    /// `growth_event_limit`): no range, finiteness or stability checks.
    /// For tests and experiments, e.g. to watch a run that breaks the
    /// stability bound blow up; never for client input.
    pub fn new_unchecked(config: SimConfig) -> Result<Self, SimError> {
        config.validate_grid()?;
        Ok(Self::build(config))
    }

    fn build(config: SimConfig) -> Self {
        let model = Model::new(&config);
        let threshold = config.activation_threshold as f32;
        let mut growth = GrowthEvents::with_limit(config.growth_event_limit);
        // Step 0: nothing activated yet, but `active` counts the seed.
        let counts = count_row(model.v(), model.v(), threshold);
        growth.record(
            0,
            counts,
            model.row_activations(),
            &[],
            &[],
            model.width(),
            threshold,
            0,
        );
        Self {
            model,
            growth,
            threshold,
            step_count: 0,
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
            config,
        }
    }

    /// The configuration of this run.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Grid side N.
    pub fn grid_size(&self) -> usize {
        self.model.width()
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step_count
    }

    /// Grids with `grid_size >= threshold` step rows in parallel (rayon's
    /// global pool, when it has more than one thread). `usize::MAX` forces
    /// the serial path, 0 the parallel one on a multi-threaded pool. Both
    /// give bit-identical fields.
    pub fn set_parallel_threshold(&mut self, threshold: usize) {
        self.parallel_threshold = threshold;
    }

    /// The current parallel threshold.
    pub fn parallel_threshold(&self) -> usize {
        self.parallel_threshold
    }

    /// Selects the SIMD kernel (default: [`Kernel::detect`]). Every kernel
    /// gives bit-identical fields; one this CPU lacks runs as the next
    /// slower one. For tests and benchmarks.
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.model.set_kernel(kernel);
    }

    /// The SIMD kernel selected.
    pub fn kernel(&self) -> Kernel {
        self.model.kernel()
    }

    /// Sets the temporal blocking of [`Simulation::step_n`]: all but its
    /// last step run `depth` at a time over bands of `band` rows while each
    /// band is in cache. `depth < 2` or `band == 0` turns it off; `depth`
    /// is capped at 64 and `band` at the grid size. Fields are
    /// bit-identical either way; the default is on (depth 8, bands of 64
    /// rows) for grids of 1536 and more, whose buffers outgrow a 32 MiB L3
    /// cache (below that it gains nothing: the step is compute-bound).
    pub fn set_temporal_blocking(&mut self, depth: usize, band: usize) {
        self.model.set_blocking(depth, band);
    }

    /// Whether steps run row-parallel: the grid is at least the threshold
    /// wide and rayon's pool has more than one thread. With one thread (one
    /// core, as under `taskset -c 1`) every parallel step would only hand its
    /// work to that thread and wait, which costs a wake-up per step (it
    /// halved 128² steps/s on one core).
    fn parallel(&self) -> bool {
        self.model.width() >= self.parallel_threshold && rayon::current_num_threads() > 1
    }

    /// Advances one step and records its growth events.
    pub fn step(&mut self) {
        self.step_n(1);
    }

    /// Advances `n` steps; [`Simulation::growth_events`] then describes the
    /// last of them. `n = 0` does nothing.
    pub fn step_n(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let parallel = self.parallel();
        // Only the last step's transitions are reported, so only it counts;
        // the steps before it may run in temporal blocks.
        self.model.advance(n - 1, parallel);
        let counts = self.model.step(parallel, true);
        self.step_count += n;
        self.growth.record(
            self.step_count,
            counts,
            self.model.row_activations(),
            self.model.previous_v(),
            self.model.v(),
            self.model.width(),
            self.threshold,
            self.config.growth_event_limit,
        );
    }

    /// Growth events of the last step (before the first step: step 0, no
    /// events, `active` counting the initial mask).
    pub fn growth_events(&self) -> &GrowthEvents {
        &self.growth
    }

    /// Features of the current state.
    pub fn features(&self) -> Features {
        Features::compute(&self.model, self.threshold, self.step_count)
    }

    /// The potential `v`, row-major.
    pub fn potential(&self) -> &[f32] {
        self.model.v()
    }

    /// The substrate `u`, row-major.
    pub fn substrate(&self) -> &[f32] {
        self.model.u()
    }

    /// True while every cell of both fields is finite.
    pub fn is_finite(&self) -> bool {
        self.model.is_finite()
    }

    /// The potential quantised to one byte per cell.
    pub fn quantize_u8(&self) -> QuantizedField<u8> {
        self.quantize()
    }

    /// The potential quantised to two bytes per cell.
    pub fn quantize_u16(&self) -> QuantizedField<u16> {
        self.quantize()
    }

    fn quantize<T: crate::quantize::Level>(&self) -> QuantizedField<T> {
        QuantizedField::from_values(self.model.v(), self.model.width(), self.model.height())
    }

    /// Quantises the potential into `out`, reusing its buffer (no
    /// allocation once `out` has grown to the grid's size).
    pub fn quantize_into<T: crate::quantize::Level>(&self, out: &mut QuantizedField<T>) {
        out.fill_from(self.model.v(), self.model.width(), self.model.height());
    }
}
