"""CEL engines from PyPI compared on the health checks this project runs.

    python -m bench.cel_engines            # the engines installed here
    python -m bench.cel_engines --project  # tiltrun's own rule evaluation (the library)

The first form measures, for each engine it can import (``celpy`` from cel-python,
``cel`` from common-expression-language, ``cel_expr_python``): which of the CEL
features health checks use it supports (COVERAGE), whether a missing field is an
error and a syntax error is refused, and timings on a cert-manager ``Certificate`` of
the real shape (tests/fixtures/resources/certificate-ready.yaml): compiling a typical
rule, evaluating it with the object converted on each call ("cold"), and evaluating
it against an object converted once ("warm"). The project installs only
cel-expr-python; to compare, install the others in a scratch virtualenv:

    python3 -m venv /tmp/cel && /tmp/cel/bin/pip install pyyaml cel-python \
        common-expression-language cel-expr-python
    PYTHONPATH=. /tmp/cel/bin/python -m bench.cel_engines

``--project`` times ``tiltrun.judge.healthchecks.evaluate`` (what the judge does per
object: bindings, up to three expressions, the reason) for every library check on
its fixtures. Timings are the best of five rounds, in microseconds of CPU;
docs/health-checks.md ("The CEL engine") holds the figures.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "resources"
#: The rule whose speed is measured: what a Ready check looks like.
HEALTH = (
    "self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True'"
    " && c.observedGeneration == self.metadata.generation)"
)
#: (feature, expression, expected value) on the certificate fixture.
COVERAGE = [
    ("exists", "self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')", True),
    (
        "Flux style (filter/all, top-level variables)",
        "status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == "
        "metadata.generation && e.status == 'True')",
        True,
    ),
    ("has", "has(self.status.conditions) && !has(self.status.failedIssuanceAttempts)", True),
    ("optional field", "self.status.?lastFailureTime.orValue('') == ''", True),
    (
        "optional chain",
        "self.?status.?conditions.orValue([]).exists(c, c.type == 'Issuing')",
        False,
    ),
    ("in", "'web.shop.svc' in self.spec.dnsNames", True),
    ("startsWith", "self.status.conditions[0].message.startsWith('Certificate is')", True),
    ("contains", "self.status.conditions.exists(c, c.message.contains('expired'))", True),
    ("matches", "self.status.notAfter.matches('^2026-')", True),
    ("lowerAscii (strings ext)", "self.spec.privateKey.algorithm.lowerAscii() == 'ecdsa'", True),
    ("split (strings ext)", "self.metadata.name.split('-')[0] == 'web'", True),
    ("size", "size(self.status.conditions) == 1", True),
    ("map", "self.status.conditions.map(c, c.type) == ['Ready']", True),
    ("exists_one", "self.status.conditions.exists_one(c, c.status == 'True')", True),
    ("timestamp", "timestamp(self.status.notAfter) > timestamp(self.status.notBefore)", True),
    ("map key with a slash", "self.metadata.labels['tilt.dev/run'] == 'shop'", True),
]
MISSING = "self.status.phase == 'Ready'"
BAD = "self.status.conditions.exists(c, c.type == )"


def variables(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "self": obj,
        **{k: obj[k] for k in ("apiVersion", "kind", "metadata", "spec", "status")},
    }


def best_of(fn: Callable[[], object], rounds: int) -> float:
    """The fastest of five timed batches, in microseconds of CPU per call.

    CPU time (``process_time``) rather than wall-clock time: on a shared machine the
    process waits for a core, and that wait says nothing about what a rule costs.
    """
    fn()
    times = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(rounds):
            fn()
        times.append((time.process_time() - start) / rounds)
    return min(times) * 1e6


class Engine:
    """One engine's compile, evaluate and prepare, behind one face."""

    name = ""

    def compile(self, text: str) -> Any:
        raise NotImplementedError

    def run(self, program: Any, obj: dict[str, Any]) -> Any:
        raise NotImplementedError

    def prepare(self, obj: dict[str, Any]) -> Any:
        raise NotImplementedError

    def run_prepared(self, program: Any, prepared: Any) -> Any:
        raise NotImplementedError


class CelPython(Engine):
    name = "cel-python (celpy, pure Python, interpreted)"

    def __init__(self) -> None:
        self.celpy: Any = importlib.import_module("celpy")
        self.env = self.celpy.Environment()

    def compile(self, text: str) -> Any:
        return self.env.program(self.env.compile(text))

    def prepare(self, obj: dict[str, Any]) -> Any:
        return {k: self.celpy.json_to_cel(v) for k, v in variables(obj).items()}

    def run_prepared(self, program: Any, prepared: Any) -> Any:
        value = program.evaluate(prepared)
        if isinstance(value, Exception):
            raise value
        return value

    def run(self, program: Any, obj: dict[str, Any]) -> Any:
        return self.run_prepared(program, self.prepare(obj))


class CelRust(Engine):
    name = "common-expression-language (cel, Rust)"

    def __init__(self) -> None:
        self.cel: Any = importlib.import_module("cel")

    def compile(self, text: str) -> Any:
        return self.cel.compile(text)

    def run(self, program: Any, obj: dict[str, Any]) -> Any:
        return program.execute(variables(obj))

    def prepare(self, obj: dict[str, Any]) -> Any:
        return self.cel.Context(variables=variables(obj))

    def run_prepared(self, program: Any, prepared: Any) -> Any:
        return program.execute(prepared)


class CelCpp(Engine):
    name = "cel-expr-python (cel-cpp)"

    def __init__(self) -> None:
        module: Any = importlib.import_module("cel_expr_python.cel")
        strings: Any = importlib.import_module("cel_expr_python.ext.ext_strings")
        optional: Any = importlib.import_module("cel_expr_python.ext.ext_optional")
        self.cel = module
        names = ("self", "apiVersion", "kind", "metadata", "spec", "status")
        self.env = module.NewEnv(
            variables={n: module.Type.DYN for n in names},
            extensions=[strings.ExtStrings(), optional.ExtOptional()],
        )

    def compile(self, text: str) -> Any:
        return self.env.compile(text)

    def run(self, program: Any, obj: dict[str, Any]) -> Any:
        return self.run_prepared(program, self.prepare(obj))

    def prepare(self, obj: dict[str, Any]) -> Any:
        return self.env.Activation(variables(obj))

    def run_prepared(self, program: Any, prepared: Any) -> Any:
        value = program.eval(prepared)
        if value.type() == self.cel.Type.ERROR:
            raise RuntimeError(value.value())
        return value.value()


def compare(obj: dict[str, Any]) -> None:
    for make in (CelPython, CelRust, CelCpp):
        try:
            engine = make()
        except ImportError as err:
            print(f"== {make.__name__}: not installed ({err})")
            continue
        print(f"== {engine.name}")
        supported = 0
        for feature, text, want in COVERAGE:
            try:
                ok = engine.run(engine.compile(text), obj) == want
            except Exception as err:
                ok = False
                print(f"   no: {feature}: {type(err).__name__}: {str(err).splitlines()[0][:100]}")
            supported += ok
        print(f"   coverage: {supported}/{len(COVERAGE)}")
        try:
            engine.run(engine.compile(MISSING), obj)
            print("   missing field: no error (!)")
        except Exception:
            print("   missing field: an error")
        try:
            engine.compile(BAD)
            print("   syntax error: compiled (!)")
        except Exception:
            print("   syntax error: refused at compile time")
        timings(engine, obj)


def timings(engine: Engine, obj: dict[str, Any]) -> None:
    program = engine.compile(HEALTH)
    prepared = engine.prepare(obj)
    print(f"   compile: {best_of(lambda: engine.compile(HEALTH), 100):.1f} us")
    print(f"   evaluate, cold: {best_of(lambda: engine.run(program, obj), 1000):.1f} us")
    warm = best_of(lambda: engine.run_prepared(program, prepared), 1000)
    print(f"   evaluate, warm: {warm:.1f} us")


def project() -> None:
    from tiltrun.judge.cel import bind, compile_expression
    from tiltrun.judge.healthchecks import evaluate
    from tiltrun.judge.library import LIBRARY

    obj = yaml.safe_load((FIXTURES / "certificate-ready.yaml").read_text())
    rule = compile_expression(HEALTH)
    bound = bind(obj)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"one rule, object converted per call: {best_of(lambda: rule.evaluate(obj), 2000):.1f} us"
    )
    print(
        f"one rule, object converted once:     {best_of(lambda: rule.evaluate(bound), 2000):.1f} us"
    )
    print(f"converting the object:               {best_of(lambda: bind(obj), 2000):.1f} us")
    print("a library check on each of its fixtures (conversion, up to 3 rules, the reason):")

    for check in LIBRARY:
        stem = {
            "Certificate": "certificate",
            "Cluster": "cnpg-cluster",
            "Rollout": "argo-rollout",
            "Service": "knative-service",
            "Kafka": "strimzi-kafka",
        }[check.kind]
        for path in sorted(FIXTURES.glob(f"{stem}-*.yaml")):
            each = next(d for d in yaml.safe_load_all(path.read_text()) if d)
            cost = best_of(functools.partial(evaluate, check, each), 2000)
            health = evaluate(check, each).health.value
            print(f"{path.stem:32} {health:11} {cost:6.1f} us per object")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", action="store_true", help="time tiltrun's own evaluation")
    if parser.parse_args().project:
        project()
        return
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    compare(yaml.safe_load((FIXTURES / "certificate-ready.yaml").read_text()))


if __name__ == "__main__":
    main()
