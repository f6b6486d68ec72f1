"""Config fuzzing over every key of every app, walking the schema.

Each case is one override on top of a working command line: a wrong type, an out-of-range value, an
unknown key or a key of another app. It must be refused before any work with the key named (by
Hydra's composition, or by :func:`pointnet.apps.cli.check_config`, the checks every app's ``main``
runs first), or accepted and honoured: a key the app reads, holding the typed value.
"""
from __future__ import annotations

import math
import random
import time

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pointnet.apps.cli import check_config, group_options
from pointnet.apps.config import ConfigError
from pointnet.apps.schema import APPS, register_configs
from pointnet.roles import leaves as config_leaves
from pointnet.roles import under
from tests.faults.conftest import fuzz_budget_s
from tests.helpers import tiny_overrides

CONFIG_NAMES = {name: app.config for name, app in APPS.items()}
SCHEMAS = {name: OmegaConf.structured(app.schema) for name, app in APPS.items()}
LEAVES = sorted({key for schema in SCHEMAS.values() for key, _ in config_leaves(OmegaConf.to_container(schema))})


def in_schema(app: str, key: str) -> bool:
    return OmegaConf.select(SCHEMAS[app], key, default="<absent>") != "<absent>"


def reads(key: str, app: str) -> bool:
    return under(key, APPS[app].reads())


def node_type(app: str, key: str) -> str:
    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(SCHEMAS[app], parent) if parent else SCHEMAS[app]
    return type(node._get_node(name)).__name__


WRONG_TYPES = {"IntegerNode": ["many", "1.5", "[1]"], "FloatNode": ["fast", "[0.1]", "{a: 1}"],
               "BooleanNode": ["maybe", "yes please", "[true]"], "StringNode": ["[a,b]", "{k: v}"],
               "ListConfig": ["notalist", "{a: 1}"], "AnyNode": ["[1,2]", "{a: 1}", "3"]}
OUT_OF_RANGE = {"IntegerNode": ["-1", "0", "-1099511627776"], "FloatNode": ["-1.0", "0.0", "nan", "inf", "-inf"],
                "BooleanNode": ["null"], "StringNode": ["bogus", "''"], "ListConfig": ["[]"], "AnyNode": ["bogus"]}


def other_value(value):
    """A valid-looking value different from the default ``value``."""
    if isinstance(value, bool):
        return str(not value).lower()
    if isinstance(value, (int, float)):
        return str(value + 1)
    if OmegaConf.is_list(value):
        return "[x.off]"
    return "elsewhere" if value is not None else "7"


def case(app: str, key: str, rng: random.Random, defaults) -> tuple[str, str, str]:
    """``(kind, key that must be named, override)`` for one fuzzed setting of ``app``."""
    if not in_schema(app, key):
        return "other_app", key, f"{key}=7"
    if not reads(key, app):
        return "other_app", key, f"{key}={other_value(OmegaConf.select(defaults, key))}"
    kind = rng.choice(["wrong_type", "out_of_range", "unknown_key"])
    kinds = {"wrong_type": WRONG_TYPES, "out_of_range": OUT_OF_RANGE}
    if kind == "unknown_key":
        parent = key.rpartition(".")[0]
        typo = rng.choice([f"{key}s", f"+{parent + '.' if parent else ''}bogus", f"{key[:-1]}"])
        return kind, typo.lstrip("+"), f"{typo}=1"
    return kind, key, f"{key}={rng.choice(kinds[kind][node_type(app, key)])}"


def outcome(app: str, base: list[str], overrides: list[str], defaults) -> tuple[str, str, object]:
    """``("composition"|"refused"|"accepted", message, cfg)`` of ``overrides`` on top of ``base``."""
    try:
        cfg = compose(CONFIG_NAMES[app], [*base, *overrides], return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as error:
        return "composition", f"{error} {error.__cause__}", None
    choices = dict(cfg.hydra.runtime.choices)
    try:
        check_config(app, cfg, defaults, choices, group_options)
    except ConfigError as error:
        return "refused", f"{error.key} {error}", cfg
    return "accepted", "", cfg


def honoured(app: str, key: str, override: str, cfg) -> bool:
    """An accepted override is one the app reads, and the config holds the typed value."""
    typed = OmegaConf.from_dotlist([override.lstrip("+")])
    want, got = OmegaConf.select(typed, key), OmegaConf.select(cfg, key)
    same = want == got or (isinstance(want, float) and isinstance(got, float) and math.isnan(want) and math.isnan(got))
    return reads(key, app) and same


def base_overrides(app: str, tiny_data, checkpoint) -> list[str]:
    data = [o for o in tiny_overrides(tiny_data) if o.startswith("data.")]
    return {"train": tiny_overrides(tiny_data), "prepare": data, "eval": [f"checkpoint={checkpoint}"],
            "predict": [f"checkpoint={checkpoint}", "files=[a.off]"], "export": [f"checkpoint={checkpoint}"]}[app]


@pytest.fixture
def hydra_context():
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="pointnet.configs", version_base="1.3"):
        yield


def test_keys_an_app_has_but_does_not_read_are_refused_all_named(hydra_context, tiny_data, trained_run, fault_log):
    """Every key of an app's schema that it does not read, set at once: refused before work, each one named."""
    for app, name in CONFIG_NAMES.items():
        defaults = compose(name)
        others = [k for k in LEAVES if in_schema(app, k) and not reads(k, app)]
        if not others:
            continue
        overrides = [f"{k}={other_value(OmegaConf.select(defaults, k))}" for k in others]
        result, message, _ = outcome(app, base_overrides(app, tiny_data, trained_run / "last.pt"), overrides, defaults)
        missing = [k for k in others if k not in message]
        fault_log("config_fuzz_other_app", survived=result == "refused" and not missing, cases=len(others), app=app)
        assert result == "refused" and f"not used by pointnet-{app}" in message and not missing, (app, missing)


def test_every_key_an_app_reads_is_refused_naming_it_or_honoured(hydra_context, tiny_data, trained_run, fault_log):
    """Every key once (a random kind of fault each), then random cases while the budget lasts."""
    rng = random.Random(0)
    budget, start = fuzz_budget_s(5.0), time.perf_counter()
    tally: dict[str, int] = {}
    failures = []
    defaults = {app: compose(name) for app, name in CONFIG_NAMES.items()}
    # every key once under the first app that reads it (train reads most), then random (app, key) pairs
    sweep = [(next(app for app in CONFIG_NAMES if reads(key, app)), key) for key in LEAVES]
    while sweep or time.perf_counter() - start < budget:
        app, key = sweep.pop(0) if sweep else (rng.choice(list(CONFIG_NAMES)), rng.choice(LEAVES))
        kind, named, override = case(app, key, rng, defaults[app])
        result, message, cfg = outcome(app, base_overrides(app, tiny_data, trained_run / "last.pt"), [override],
                                       defaults[app])
        if result == "accepted":
            ok = kind in ("out_of_range", "wrong_type") and honoured(app, key, override, cfg)
        else:
            ok = named in message
        tally[f"{kind}:{result}"] = tally.get(f"{kind}:{result}", 0) + 1
        if not ok:
            failures.append((app, kind, override, result, message[:300]))
    fault_log("config_fuzz", survived=not failures, cases=sum(tally.values()),
              seconds=round(time.perf_counter() - start, 2), **{k.replace(":", "_"): v for k, v in sorted(tally.items())})
    assert not failures, failures[:20]
    assert tally.get("out_of_range:refused", 0) > 0 and tally.get("unknown_key:composition", 0) > 0, tally
