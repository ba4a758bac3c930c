"""The run: owners in fixed-size chunks, each with its own random stream, week by week."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from introrank.model.constants import DEFAULT_CUT_EVERY_DAYS, DEFAULT_HORIZON_DAYS
from introrank.training.cuts import cut_times
from introrank.training.simulate.activity import PairRates, TieState, draw_activity, draw_replies, pair_rates
from introrank.training.simulate.clock import Clock, simulation_span
from introrank.training.simulate.events import Events
from introrank.training.simulate.frames import (
    SimulatedNetwork,
    contacts_frame,
    events_frame,
    ids,
    oracle_frame,
    owners_frame,
)
from introrank.training.simulate.oracle import Oracle, chunk_oracle
from introrank.training.simulate.outcomes import draw_intros
from introrank.training.simulate.population import draw_contacts, draw_owners

WEEKS_PER_REGIME = 4  # the activity regime is redrawn about monthly
OWNERS_PER_CHUNK = 100  # bounds memory; one random stream per chunk, so keep it constant


def _simulate_chunk(rng: np.random.Generator, rates: PairRates,
                    clock: Clock) -> tuple[Events, np.ndarray, np.ndarray]:
    """Events, weekly hazards (pairs × weeks) and first-event times for a slice of pairs."""
    state = TieState.start(rng, rates)
    hazards = np.zeros((len(rates), clock.n_weeks))
    done: list[Events] = []
    pending = Events.empty()
    for week in range(clock.n_weeks):
        if week and week % WEEKS_PER_REGIME == 0:
            state.switch_regimes(rng, rates)
        t0, t1 = clock.week(week)
        alive = rates.entry_week <= week
        hazards[:, week] = np.exp(rates.static_log_hazard + state.dynamic_log_hazard()) * alive
        activity = draw_activity(rng, rates, state, alive, t0, t1)
        replies = draw_replies(rng, activity, rates.reply_p)
        intros = draw_intros(rng, hazards[:, week], rates.referral_share, t0, t1)
        batch = Events.concat([pending, activity, replies, intros])
        batch = batch.take(batch.ts < clock.end)
        now = batch.ts < t1
        state.absorb(batch.take(now), week, t0, t1)
        done.append(batch.take(now))
        pending = batch.take(~now)
    return Events.concat(done), hazards, state.first_ts


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A rich bar on a terminal only, so logs and pipes stay clean."""
    if not (enabled and sys.stdout.isatty()):
        yield lambda done: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("simulating owners", total=total)
        yield lambda done: bar.advance(task, done)


def _run_chunks(seqs: list[np.random.SeedSequence], rates: PairRates, pair_owner: np.ndarray,
                clock: Clock, cuts: np.ndarray, progress: bool) -> tuple[Events, Oracle]:
    """Simulate owners in fixed-size chunks; every chunk has its own random stream."""
    bounds = np.searchsorted(pair_owner, np.arange(len(seqs) + 1) * OWNERS_PER_CHUNK)
    events, oracle = [], []
    with _progress_bar(progress, int(pair_owner[-1]) + 1) as advance:
        for seq, lo, hi in zip(seqs, bounds[:-1], bounds[1:], strict=True):
            chunk_events, hazards, first_ts = _simulate_chunk(
                np.random.default_rng(seq), rates[lo:hi], clock)
            pair, cut, prob = chunk_oracle(hazards, first_ts, clock, cuts)
            events.append(chunk_events.shifted(lo))
            oracle.append((pair + lo, cut, prob))
            advance(int(pair_owner[hi - 1] - pair_owner[lo]) + 1)
    pair, cut, prob = (np.concatenate(part) for part in zip(*oracle, strict=True))
    return Events.concat(events), (pair, cut, prob)


def simulate_network(n_owners: int, seed: int, months: int = 12, start: str = "2025-01-01",
                     progress: bool = False) -> SimulatedNetwork:
    """Simulate ``n_owners`` owners over ``months`` 30-day months; same seed, same network."""
    if n_owners < 1 or months < 1:
        raise ValueError(f"need n_owners >= 1 and months >= 1, got {n_owners} and {months}")
    clock = simulation_span(start, months)
    n_chunks = -(-n_owners // OWNERS_PER_CHUNK)
    profile_seq, decor_seq, *chunk_seqs = np.random.SeedSequence(seed).spawn(2 + n_chunks)
    rng = np.random.default_rng(profile_seq)
    owners = draw_owners(rng, n_owners)
    contacts = draw_contacts(rng, owners, clock.n_weeks)
    rates = pair_rates(rng, owners, contacts)
    cuts = cut_times(clock.start, clock.end, DEFAULT_CUT_EVERY_DAYS, DEFAULT_HORIZON_DAYS)
    events, (pair, cut, prob) = _run_chunks(chunk_seqs, rates, contacts.owner, clock, cuts,
                                            progress)
    owner_ids, contact_ids = ids("o", n_owners), ids("c", len(contacts.owner))
    decor = np.random.default_rng(decor_seq)
    contacts_out = contacts_frame(decor, contacts, owner_ids, contact_ids)
    return SimulatedNetwork(
        owners=owners_frame(decor, owners, owner_ids),
        contacts=contacts_out,
        events=events_frame(events, contacts.owner, owner_ids, contact_ids),
        oracle=oracle_frame(pair, cut, prob, contacts.owner, owner_ids, contact_ids),
    )
