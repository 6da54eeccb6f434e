"""The model: a pool of sample landing files and a seeded plan of actions over it.

The plan is drawn up front from the seed alone, by simulating only the landing area
(what is delivered, which files are bad), never the platform's outcomes, so the same
seed always gives the same steps. The runner (:mod:`tests.history.runner`) executes it.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

from platform_assets.tools.sample import SampleSpec, generate
from tests.history.child import KILL_KINDS, LEDGER_CALLS, LOCAL

START = dt.date(2024, 1, 1)
HEADER = "op,seq,order_id,customer_id,status,amount,currency,created_at,updated_at"
ORDERS, CUSTOMERS = "orders_daily_job", "customers_daily_job"
PUBLISH = ["curated/orders", "marts/daily_orders", "marts/daily_revenue_by_segment"]
BAD_ORDER_BASE = 9_000_000_000
BAD_SEQ_BASE = 9 * 10**15


@dataclass(frozen=True)
class Step:
    """One action: a kind and its resolved arguments (JSON-like values only)."""

    kind: str
    args: dict = field(default_factory=dict)

    def describe(self) -> str:
        """A short one-line form for the failure report."""
        parts = []
        for key, value in self.args.items():
            if key in {"rows", "rng"} or value in (None, False, [], {}):
                continue
            if isinstance(value, float):
                value = f"{value:.2f}"
            elif isinstance(value, list):
                value = "+".join(str(v).removeprefix("cdc-") for v in value)
            elif isinstance(value, dict):
                value = ",".join(
                    f"{k}:{str(v).removeprefix('cdc-')}" for k, v in value.items() if k != "rows"
                )
            parts.append(f"{key}={value}" if value is not True else key)
        return f"{self.kind} " + " ".join(parts)


class Pool:
    """Sample landing files of one sequence, generated once into a scratch folder."""

    def __init__(self, root: Path, seed: int):
        rng = random.Random(f"pool:{seed}")
        self.spec = SampleSpec(START, rng.randint(3, 5), rng.randint(30, 80), seed)
        self.root = root
        generate(self.spec, root)
        self.days = [(START + dt.timedelta(days=n)).isoformat() for n in range(self.spec.days)]
        self.files = {
            day: sorted(p.name for p in self.folder("orders", day).glob("*.csv"))
            for day in self.days
        }

    def folder(self, dataset: str, day: str) -> Path:
        """A day's folder in the pool."""
        return self.root / "landing" / dataset / f"dt={day}"

    def bytes(self, day: str, name: str) -> bytes:
        """One pool file's content."""
        return (self.folder("orders", day) / name).read_bytes()

    def rows(self, day: str, name: str) -> int:
        """How many data rows a pool file has."""
        return self.bytes(day, name).count(b"\n") - 1

    def events(self, day: str) -> list[list[str]]:
        """The day's CDC rows (fields as text), in file order."""
        rows = []
        for name in self.files[day]:
            lines = self.bytes(day, name).decode().splitlines()[1:]
            rows += [line.split(",") for line in lines if line]
        return rows


@dataclass
class Landing:
    """What the plan knows of the landing area: files per day, bad files, history."""

    present: dict[str, set[str]] = field(default_factory=dict)
    bad: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    ran: set[str] = field(default_factory=set)
    copies: int = 0
    bad_count: int = 0

    def delivered(self) -> list[str]:
        """Days with files, in order."""
        return sorted(day for day, names in self.present.items() if names)

    def good_files(self, day: str) -> list[str]:
        """The day's files that are not bad ones."""
        return sorted(n for n in self.present.get(day, set()) if (day, n) not in self.bad)


def _stamp(day: str, seconds: int, micros: int) -> str:
    moment = dt.datetime.fromisoformat(day) + dt.timedelta(seconds=seconds, microseconds=micros)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def bad_rows(rng: random.Random, pool: Pool, day: str, serial: int) -> list[list[str]]:
    """Valid CSV rows with values that fail blocking checks: new orders and late updates."""
    rows = []
    existing = [e for e in pool.events(day) if e[7] <= _stamp(day, 86_000, 0)]
    for n in range(rng.randint(2, 6)):
        flaw = rng.choice(["amount", "status", "currency"])
        seq = str(BAD_SEQ_BASE + serial * 100 + n)
        amount = f"{rng.randint(100, 90_000) / 100:.2f}"
        if existing and rng.random() < 0.4:
            op, _, order, customer, _, _, currency, created, _ = rng.choice(existing)
            op, updated = "U", _stamp(day, 86_399, serial * 100 + n)
        else:
            order = str(BAD_ORDER_BASE + serial * 100 + n)
            customer, currency = str(rng.randint(1, 200)), rng.choice(["USD", "EUR", "GBP"])
            created = _stamp(day, rng.randint(0, 80_000), rng.randint(0, 999_999))
            op, updated = "I", created
        status = rng.choice(["paid", "shipped", "delivered"])
        if flaw == "amount":
            amount = "-" + amount
        elif flaw == "status":
            status = rng.choice(["lost", "PAID", "unknown"])
        else:
            currency = currency.lower()
        rows.append([op, seq, order, customer, status, amount, currency, created, updated])
    return rows


def fixed_rows(rows: list[list[str]]) -> list[list[str]]:
    """The good version of bad rows: the same events with valid values."""
    good = []
    for op, seq, order, customer, status, amount, currency, created, updated in rows:
        status = status if status in {"paid", "shipped", "delivered"} else "paid"
        amount, currency = amount.lstrip("-"), currency.upper()
        good.append([op, seq, order, customer, status, amount, currency, created, updated])
    return good


def render(rows: list[list[str]]) -> str:
    """CSV text with the landing header."""
    return "\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n"


class Planner:
    """Draws a sequence of steps from a seed, tracking the landing area as it goes."""

    def __init__(self, seed: int, pool: Pool, corrections: bool, store: str = LOCAL):
        self.rng = random.Random(f"plan:{seed}")
        self.pool = pool
        self.corrections = corrections
        self.store = store
        self.state = Landing()

    def pending(self) -> dict[str, list[str]]:
        """Pool files not delivered yet, per day (withdrawn days excluded)."""
        out = {}
        for day in self.pool.days:
            if day in self.state.withdrawn:
                continue
            names = [n for n in self.pool.files[day] if n not in self.state.present.get(day, ())]
            if names:
                out[day] = names
        return out

    def window(self) -> list[str]:
        """Days an operator might run: from the start to the last delivered day."""
        delivered = self.state.delivered()
        last = delivered[-1] if delivered else self.pool.days[0]
        return [d for d in self.pool.days if d <= last]

    def days(self) -> tuple[str, str]:
        """A single day (half the time) or a contiguous range within the window."""
        window = self.window()
        first = self.rng.randrange(len(window))
        last = first if self.rng.random() < 0.5 else self.rng.randrange(first, len(window))
        self.state.ran.update(window[first : last + 1])
        return window[first], window[last]

    def late_file(self, day: str, bad: bool = False) -> tuple[str, list[list[str]]]:
        """A new small file of late events for ``day``: valid, or failing blocking checks."""
        self.state.bad_count += 1
        serial = self.state.bad_count
        rows = bad_rows(self.rng, self.pool, day, serial)
        return f"cdc-late-{serial:03d}.csv", rows if bad else fixed_rows(rows)

    def copy_name(self) -> str:
        """A fresh file name for a re-delivered copy."""
        self.state.copies += 1
        return f"cdc-redelivered-{self.state.copies:03d}.csv"

    def choices(self) -> dict[str, float]:
        """Weights of the actions possible in the current state."""
        s, delivered, pending = self.state, self.state.delivered(), self.pending()
        fresh = [d for d in pending if d not in s.present or not s.present[d]]
        weights = {"run": 2.5, "tick": 2.0, "kill": 0.9, "ledger_fault": 0.7}
        if fresh:
            weights["deliver"] = 3.0
        if any(d in delivered for d in pending):
            weights["deliver_rest"] = 1.0
        if delivered:
            weights |= {"redeliver": 1.0, "rewrite_read": 1.5, "concurrent": 0.7}
            if len(s.bad) < 2:
                weights["bad_file"] = 1.0
        if s.bad:
            weights["fix_bad"] = 1.0
        if self.corrections and delivered:
            weights |= {"drop_rows": 0.6, "change_value": 0.6, "withdraw": 0.4}
            if s.withdrawn or any(d < max(s.ran, default="") for d in delivered):
                weights["redeliver_day"] = 0.6
        return weights

    def plan(self) -> list[Step]:
        """The whole sequence: a first delivery, then 3-9 random actions."""
        steps = [self.deliver()]
        for _ in range(self.rng.randint(3, 9)):
            weights = self.choices()
            kind = self.rng.choices(list(weights), weights=list(weights.values()))[0]
            steps.append(getattr(self, kind)())
        return steps

    # -- actions -----------------------------------------------------------------------

    def deliver(self) -> Step:
        """A new day's files, sometimes only some of them (the rest later)."""
        pending = self.pending()
        fresh = [d for d in pending if not self.state.present.get(d)]
        day = fresh[0] if self.rng.random() < 0.7 else self.rng.choice(fresh)
        names = pending[day]
        if len(names) > 1 and self.rng.random() < 0.3:
            names = sorted(self.rng.sample(names, self.rng.randint(1, len(names) - 1)))
        self.state.present.setdefault(day, set()).update(names)
        return Step("deliver", {"day": day, "files": names})

    def deliver_rest(self) -> Step:
        """The remaining files of a partly delivered day."""
        pending = self.pending()
        day = self.rng.choice(sorted(d for d in pending if self.state.present.get(d)))
        self.state.present[day].update(pending[day])
        return Step("deliver", {"day": day, "files": pending[day]})

    def redeliver(self) -> Step:
        """A delivered pool file again under a new name, in its day or a later one."""
        src = self.rng.choice(self.state.delivered())
        names = [n for n in self.state.good_files(src) if n in self.pool.files[src]]
        if not names:
            return self.tick()
        later = [d for d in self.state.delivered() if d >= src]
        dest, name = self.rng.choice(later), self.copy_name()
        self.state.present[dest].add(name)
        return Step(
            "redeliver", {"src": src, "file": self.rng.choice(names), "day": dest, "as": name}
        )

    def rewrite_read(self) -> Step:
        """A file rewritten in place while a run of its day reads it: ``pre``, it is partial
        when the run starts and completed right after the run's first read of it; ``during``,
        it is complete when the run starts and cut while the run reads it. The file may be
        the first of a new day."""
        fresh = [d for d in self.pending() if not self.state.present.get(d)]
        day = self.rng.choice(self.state.delivered() + fresh[:1])
        rows = {n: self.pool.rows(day, n) for n in self.pool.files[day]}
        pending = [n for n in self.pending().get(day, []) if rows[n] >= 3]
        existing = [
            n for n in self.state.good_files(day) if n in self.pool.files[day] and rows[n] >= 3
        ]
        if pending and (not existing or self.rng.random() < 0.6):
            name, new = self.rng.choice(pending), True
        elif existing:
            name, new = self.rng.choice(existing), False
        else:
            return self.tick()
        mode = self.rng.choice(["pre", "during"])
        self.state.present.setdefault(day, set()).add(name)
        force = self.rng.random() < 0.3
        also = also_rows = None
        if mode == "during" and not new and not force:  # the day must change for a run to read
            also, also_rows = self.late_file(day)
            self.state.present[day].add(also)
        self.state.ran.add(day)
        return Step(
            "rewrite_read",
            {
                "day": day,
                "file": name,
                "new": new,
                "mode": mode,
                "cut": self.rng.uniform(0.05, 0.95),
                "also": also,
                "rows": also_rows,
                "force": force,
                "how": self.rng.choice(["inproc", "inproc", "sensor", "child"]),
            },
        )

    def bad_file(self) -> Step:
        """An extra file for a delivered day whose rows fail blocking checks."""
        day = self.rng.choice(self.state.delivered())
        name, rows = self.late_file(day, bad=True)
        self.state.present[day].add(name)
        self.state.bad[(day, name)] = [",".join(r) for r in rows]
        return Step("bad_file", {"day": day, "file": name, "rows": rows})

    def fix_bad(self, final: bool = False) -> Step:
        """Remove a bad file, or replace it with its good version."""
        day, name = self.rng.choice(sorted(self.state.bad))
        rows = [r.split(",") for r in self.state.bad.pop((day, name))]
        how = self.rng.choice(["remove", "replace"])
        if how == "remove":
            self.state.present[day].discard(name)
        good = fixed_rows(rows) if how == "replace" else []
        return Step("fix_bad", {"day": day, "file": name, "how": how, "rows": good, "final": final})

    def run(self) -> Step:
        """A run of one day or a range: in-process, planned (launch) or in a child."""
        job = ORDERS if self.rng.random() < 0.85 else CUSTOMERS
        first, last = self.days()
        ways = {"inproc": 45, "publish": 15, "launch": 25, "child": 15}
        how = self.rng.choices(list(ways), weights=list(ways.values()))[0]
        force = self.rng.random() < 0.2
        return Step("run", {"job": job, "first": first, "last": last, "force": force, "how": how})

    def tick(self) -> Step:
        """Sensor tick(s), their requests executed like the daemon does."""
        which = self.rng.choice(["landing", "late", "both", "both"])
        return Step("tick", {"sensors": which})

    def kill(self) -> Step:
        """A run in a child that SIGKILLs itself at a seeded boundary event (every event, or
        those of one seam kind of the store's: :data:`tests.history.child.KILL_KINDS`)."""
        first, last = self.days()
        kinds = KILL_KINDS[self.store]
        on = self.rng.choices(list(kinds), weights=[w for _, w in kinds.values()])[0]
        return Step(
            "kill",
            {
                "job": ORDERS,
                "first": first,
                "last": last,
                "force": self.rng.random() < 0.3,
                "on": on,
                "at": self.rng.randint(1, kinds[on][0]),
                "then": self.rng.choice([None, "rerun", "publish", "publish_forced", "tick"]),
            },
        )

    def ledger_fault(self) -> Step:
        """A run whose n-th ledger call fails once (in-process or in a child)."""
        first, last = self.days()
        return Step(
            "ledger_fault",
            {
                "job": ORDERS,
                "first": first,
                "last": last,
                "at": self.rng.randint(1, LEDGER_CALLS[self.store]),
                "how": self.rng.choice(["inproc", "child"]),
            },
        )

    def concurrent(self) -> Step:
        """Two children on one day at once, often with a landing change between their starts
        (a pending pool file, or a small file of late events)."""
        day = self.rng.choice(self.state.delivered())
        self.state.ran.add(day)
        order = self.rng.choice(["race", "interleave", "nested"])
        change = None
        if order != "race" or self.rng.random() < 0.6:
            pending = self.pending().get(day, [])
            if pending and self.rng.random() < 0.5:
                change = {"deliver": self.rng.choice(pending)}
            else:
                name, rows = self.late_file(day)
                change = {"late": name, "rows": rows}
            self.state.present[day].add(change.get("deliver") or change["late"])
        return Step(
            "concurrent",
            {
                "day": day,
                "order": order,
                "force_a": order != "race" or self.rng.random() < 0.25,
                "force_b": self.rng.random() < 0.25,
                "change": change,
            },
        )

    # -- corrections (HISTORY_CORRECTIONS=1) ---------------------------------------------

    def _correctable(self) -> tuple[str, str] | None:
        day = self.rng.choice(self.state.delivered())
        names = self.state.good_files(day)
        return (day, self.rng.choice(names)) if names else None

    def drop_rows(self) -> Step:
        """A delivered file rewritten without some of its rows."""
        target = self._correctable()
        if target is None:
            return self.tick()
        day, name = target
        return Step("drop_rows", {"day": day, "file": name, "rng": self.rng.getrandbits(32)})

    def change_value(self) -> Step:
        """An event's amount or status changed, keeping its op, seq and updated_at."""
        target = self._correctable()
        if target is None:
            return self.tick()
        return Step(
            "change_value",
            {
                "day": target[0],
                "file": target[1],
                "field": self.rng.choice(["amount", "status"]),
                "rng": self.rng.getrandbits(32),
            },
        )

    def withdraw(self) -> Step:
        """A whole delivered day withdrawn (its folder deleted)."""
        day = self.rng.choice(self.state.delivered())
        for name in list(self.state.present[day]):
            self.state.bad.pop((day, name), None)
        self.state.present[day] = set()
        self.state.withdrawn.add(day)
        return Step("withdraw", {"day": day})

    def redeliver_day(self) -> Step:
        """An old day delivered again from the pool (after later days were run)."""
        last_run = max(self.state.ran, default="")
        candidates = sorted(self.state.withdrawn) or [
            d for d in self.state.delivered() if d < last_run
        ]
        day = self.rng.choice(candidates)
        self.state.withdrawn.discard(day)
        self.state.present.setdefault(day, set()).update(self.pool.files[day])
        return Step("redeliver_day", {"day": day, "files": self.pool.files[day]})

    def finish(self) -> list[Step]:
        """Steps that make every bad file good before the history settles."""
        steps = []
        while self.state.bad:
            steps.append(self.fix_bad(final=True))
        return steps


def plan(
    seed: int, pool: Pool, corrections: bool, store: str = LOCAL
) -> tuple[list[Step], list[Step]]:
    """The seed's random steps and the closing fixes of bad files (kill and ledger fault
    points drawn from the ``store``'s seams)."""
    planner = Planner(seed, pool, corrections, store)
    steps = planner.plan()
    return steps, planner.finish()
