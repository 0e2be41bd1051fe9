//! The typed configuration error: every variant names the offending field.

use std::fmt;

/// Why a [`SimConfig`](crate::SimConfig) was refused.
///
/// [`SimError::field`] gives the configuration field to blame, so a server
/// can map the error onto the client's JSON key.
#[derive(Debug, Clone, PartialEq)]
pub enum SimError {
    /// A floating-point parameter is NaN or infinite.
    NotFinite {
        /// The configuration field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A parameter that must be strictly positive is zero or negative.
    NotPositive {
        /// The configuration field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A floating-point parameter is outside its allowed closed range.
    OutOfRange {
        /// The configuration field.
        field: &'static str,
        /// The value given.
        value: f64,
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// An integer parameter is outside its allowed closed range.
    IntOutOfRange {
        /// The configuration field.
        field: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// `dt * max(du, dv)` breaks the explicit-Euler diffusion stability bound
    /// `dt * max(Du, Dv) <= h^2 / 4` (5-point Laplacian, h = 1, so 0.25).
    DiffusionUnstable {
        /// The time step.
        dt: f64,
        /// The larger of the two diffusion coefficients.
        max_diffusion: f64,
        /// `dt * max_diffusion`.
        product: f64,
    },
    /// The linear stability bound of the scheme around the rest state
    /// `u = 1, v = 0` for the checkerboard mode (Laplacian eigenvalue −8):
    /// `dt * (8 * Du + F) <= 2` for `u`, `dt * (8 * Dv + F + k) <= 2` for `v`.
    RestStateUnstable {
        /// The species whose bound is broken: `"u"` or `"v"`.
        species: &'static str,
        /// The time step.
        dt: f64,
        /// `8 * Du + F` or `8 * Dv + F + k`.
        rate: f64,
        /// `dt * rate`.
        product: f64,
    },
}

/// The diffusion stability bound `h^2 / 4` for h = 1.
pub const DIFFUSION_BOUND: f64 = 0.25;
/// The bound on `dt * (8 D + decay)` of the rest-state check.
pub const REST_STATE_BOUND: f64 = 2.0;

impl SimError {
    /// The configuration field this error is about. Stability errors name
    /// `dt`, the parameter a client most likely wants to lower.
    pub fn field(&self) -> &'static str {
        match self {
            SimError::NotFinite { field, .. }
            | SimError::NotPositive { field, .. }
            | SimError::OutOfRange { field, .. }
            | SimError::IntOutOfRange { field, .. } => field,
            SimError::DiffusionUnstable { .. } | SimError::RestStateUnstable { .. } => "dt",
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NotFinite { field, value } => {
                write!(f, "{field} must be a finite number, got {value}")
            }
            SimError::NotPositive { field, value } => {
                write!(f, "{field} must be greater than 0, got {value}")
            }
            SimError::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(f, "{field} must be in [{min}, {max}], got {value}"),
            SimError::IntOutOfRange {
                field,
                value,
                min,
                max,
            } => write!(f, "{field} must be in {min}..={max}, got {value}"),
            SimError::DiffusionUnstable {
                dt,
                max_diffusion,
                product,
            } => write!(
                f,
                "dt = {dt} with max(du, dv) = {max_diffusion} gives dt * max(Du, Dv) = {product}, \
                 which breaks the explicit-Euler stability bound dt * max(Du, Dv) <= h^2/4 = \
                 {DIFFUSION_BOUND} (5-point Laplacian, h = 1); lower dt, du or dv"
            ),
            SimError::RestStateUnstable {
                species,
                dt,
                rate,
                product,
            } => {
                let (d, decay) = if *species == "u" {
                    ("Du", "F")
                } else {
                    ("Dv", "F + k")
                };
                write!(
                    f,
                    "dt = {dt} with 8*{d} + {decay} = {rate} gives {product}, which breaks the \
                     explicit-Euler stability bound dt * (8*{d} + {decay}) <= \
                     {REST_STATE_BOUND} (checkerboard mode around the rest state u = 1, v = 0); \
                     lower dt, {d} or {decay}"
                )
            }
        }
    }
}

impl std::error::Error for SimError {}
