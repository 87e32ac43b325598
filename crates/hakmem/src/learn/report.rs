//! What the ELO driver prints: a line per decision (`HAKMEM_VERBOSE=1`)
//! and a line per knob in the `HAKMEM_STATS=1` report.

use core::sync::atomic::Ordering;

use hak_elo::{Phase, Reason, Step, Transition};
use hak_os::diag::Line;

use super::{enabled, Knob, ACTIVE, KNOBS, START_MS};

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Learn => "LEARN",
        Phase::Frozen => "FROZEN",
        Phase::Canary => "CANARY",
    }
}

/// One line per phase change (`HAKMEM_VERBOSE=1`), with the driver's
/// scored-epoch count.
pub(super) fn log(knob: &Knob, step: &Step, epoch: u64) {
    let Some(t) = step.transition else { return };
    let values = knob.learner.values();
    let value = |i: usize| values.get(i).copied().unwrap_or(0);
    let mut l = Line::new();
    l.s("hakmem: elo ").s(knob.name).s(": ");
    match t {
        Transition::Froze => l.s("froze at ").u(value(step.strategy)),
        Transition::CanaryStarted { challenger } => l.s("canary, challenger ").u(value(challenger)),
        Transition::CanaryPassed => l.s("canary passed, keeps ").u(value(step.strategy)),
        Transition::Relearn(Reason::Drift) => l.s("relearning (cost drift), first tries ").u(value(step.strategy)),
        Transition::Relearn(Reason::ChallengerWon) => {
            l.s("relearning (a challenger won), first tries ").u(value(step.strategy))
        }
    };
    if let Some(r) = step.result {
        l.s(" (last match ")
            .u(values.get(r.first).copied().unwrap_or(0))
            .s(" cost ")
            .u(r.first_cost >> 10)
            .s(" vs ")
            .u(values.get(r.second).copied().unwrap_or(0))
            .s(" cost ")
            .u(r.second_cost >> 10)
            .s(")");
    }
    l.s(" at epoch ").u(epoch).s(", ").u(elapsed_ms()).s(" ms\n").emit();
}

/// Milliseconds since the driver was enabled (for the log lines).
pub(super) fn elapsed_ms() -> u64 {
    hak_os::now_ms().saturating_sub(START_MS.load(Ordering::Relaxed))
}

/// The learners' state for `HAKMEM_STATS=1`: one line per active knob,
/// nothing when the driver is off (a knob a thread is stepping right now
/// is left out).
pub(crate) fn print_stats(fd: i32) {
    if !enabled() {
        return;
    }
    let active = ACTIVE.load(Ordering::Relaxed);
    for (k, knob) in KNOBS.iter().enumerate() {
        if active & (1 << k) != 0 {
            print_knob(knob, fd);
        }
    }
}

fn print_knob(knob: &Knob, fd: i32) {
    let Some((phase, epochs, counts, ratings)) =
        knob.learner.with_learner(|l| (l.phase(), l.epochs(), l.counts(), *l.ratings()))
    else {
        return;
    };
    let values = knob.learner.values();
    let mut l = Line::new();
    l.s("hakmem: elo ")
        .s(knob.name)
        .s(": value=")
        .u(knob.learner.current_value())
        .s(" phase=")
        .s(phase_name(phase))
        .s(" epochs=")
        .u(epochs)
        .s(" matches=")
        .u(counts.matches)
        .s(" freezes=")
        .u(counts.freezes)
        .s(" canaries=")
        .u(counts.canaries)
        .s(" relearns=")
        .u(counts.challenger_wins + counts.drifts + counts.reopens)
        .s(" eliminations=")
        .u(counts.eliminations)
        .s(" ratings=");
    for (i, r) in ratings.iter().enumerate() {
        if i > 0 {
            l.s(",");
        }
        l.u(values.get(i).copied().unwrap_or(0)).s(":").u((*r).max(0) as u64);
    }
    l.s("\n").emit_to(fd);
}
