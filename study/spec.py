"""Study specification: the YAML file in `search_spaces/`, validated on load.

Errors name the field (`search.k.low`, `resources.workers`, ...) and what was expected. Values of
the trainer's own settings are checked against the trainer's config model, so an impossible k or
τ is caught before any trial starts, whether it is fixed or a bound of the search space.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trainables.core.settings import flat_dotted, has_setting, merge_settings


class SpecError(ValueError):
    """The study spec is invalid; the message names the file and each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- search space ---------------------------------------------------------------------------


class Uniform(_Strict):
    type: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self

    def labelled_bounds(self) -> list[tuple[str, Any]]:
        return [("low", self.low), ("high", self.high)]


class LogUniform(Uniform):
    type: Literal["loguniform"]  # type: ignore[assignment]

    @model_validator(mode="after")
    def _positive(self) -> LogUniform:
        if self.low <= 0 or self.high <= 0:
            raise ValueError(f"a log range needs bounds > 0, got low={self.low}, high={self.high}")
        return self


class IntRange(_Strict):
    type: Literal["int"]
    low: int
    high: int  # inclusive
    log: bool = False

    @model_validator(mode="after")
    def _order(self) -> IntRange:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs bounds > 0, got low={self.low}")
        return self

    def labelled_bounds(self) -> list[tuple[str, Any]]:
        return [("low", self.low), ("high", self.high)]


class Choice(_Strict):
    type: Literal["choice", "grid"]
    values: list[Any] = Field(min_length=1)

    def labelled_bounds(self) -> list[tuple[str, Any]]:
        return [(f"values[{i}]", v) for i, v in enumerate(self.values)]


Param = Annotated[Uniform | LogUniform | IntRange | Choice, Field(discriminator="type")]


# ---- the rest of the spec -------------------------------------------------------------------


class DatasetSpec(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class SearcherSpec(_Strict):
    type: Literal["grid", "random", "optuna"] = "random"
    sampler: Literal["tpe", "nsga2", "random"] = "tpe"
    seed: int | None = 0
    n_startup_trials: int | None = Field(
        None, ge=0, description="TPE: trials drawn at random before the model guides (Optuna's "
        "default 10: a study of 10 trials or fewer is random search)")
    multivariate: bool = Field(False, description="TPE: model the parameters jointly")

    @model_validator(mode="after")
    def _tpe_only(self) -> SearcherSpec:
        tpe = self.type == "optuna" and self.sampler == "tpe"
        for name, off in (("n_startup_trials", None), ("multivariate", False)):
            if getattr(self, name) != off and not tpe:
                raise ValueError(f"{name} applies to type optuna with sampler tpe (got type "
                                 f"{self.type}, sampler {self.sampler})")
        return self


TPE_STARTUP_DEFAULT = 10  # optuna.samplers.TPESampler's n_startup_trials


class SchedulerSpec(_Strict):
    type: Literal["none", "asha", "pbt", "pb2"] = "none"
    grace_period: int | None = Field(
        None, ge=1, description="ASHA: steps before a trial may be stopped (default eval_every)"
    )
    reduction_factor: float = Field(3.0, gt=1)
    perturbation_interval: int | None = Field(
        None, ge=1, description="PBT/PB2: steps between exploits (default checkpoint_every)"
    )
    quantile_fraction: float = Field(0.25, gt=0, le=0.5)
    resample_probability: float = Field(0.25, ge=0, le=1)
    synch: bool = Field(
        False, description="PBT/PB2: every trial waits at each perturbation point until the "
        "whole population has reached it, so each exploit compares trials at the same step")
    mutations: dict[str, Param] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _synch_for_populations(self) -> SchedulerSpec:
        if self.synch and self.type not in ("pbt", "pb2"):
            raise ValueError(f"synch applies to pbt and pb2, not {self.type}")
        return self


class Resources(_Strict):
    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1, gt=0)
    gpus_per_worker: float = Field(0, ge=0)
    train_worker_group: Literal["auto", "always"] = Field(
        "auto", description="auto: a 1-worker trial trains in the Tune trial's own process and "
        "only 2+ workers start a Ray Train worker group (DDP); always: every trial does")

    @property
    def in_process(self) -> bool:
        return self.workers == 1 and self.train_worker_group == "auto"


class Budget(_Strict):
    steps: int = Field(ge=1)
    time_s: float | None = Field(None, gt=0)


class StudySpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    trainer: str | None = Field(None, description="the method; or several under `trainers`")
    trainers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="several methods compared in one study (a grid axis "
        "`trainer`), each with its own fixed settings on top of `fixed`")
    dataset: DatasetSpec
    fixed: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Param] = Field(default_factory=dict)
    searcher: SearcherSpec = SearcherSpec()
    scheduler: SchedulerSpec = SchedulerSpec()
    metric: str | list[str] = "reverse_kl"
    mode: Literal["min", "max"] | list[Literal["min", "max"]] = "min"
    num_samples: int = Field(1, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    resources: Resources = Resources()
    max_concurrent_trials: int = Field(1, ge=1)
    eval_every: int = Field(500, ge=1)
    checkpoint_every: int = Field(500, ge=1)
    eval_samples: int = Field(2500, ge=10)
    eval_features: str = Field(
        "auto", description="feature extractor for FID/PR/DC: auto, raw, inception, "
        "classifier:<dataset> (auto: raw for vectors, the data set's classifier for images)",
    )
    eval_split: Literal["train", "test"] = Field(
        "train", description="the real reference of image metrics (FID, KID, PR/DC): the "
        "training split (the papers') or the test split")
    budget: Budget
    constraints: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="metric -> [low, high]: a trial outside any range "
        "ranks after every trial inside them, in the search (its objective is pushed past the "
        "worst), the results table and the report (e.g. mode_spread: [0.5, 2])")
    max_failures: int = Field(0, ge=0, description="retries of a trial after a worker failure")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints kept per Train run and trial")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        if (self.trainer is None) == (not self.trainers):
            raise ValueError("trainer / trainers: give exactly one (a method name, or a mapping "
                             "of method names to their own fixed settings)")
        if self.trainers and self.searcher.type == "optuna":
            raise ValueError("trainers: several trainers form a grid axis; they need "
                             "searcher.type grid or random")
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        modes = self.mode if isinstance(self.mode, list) else [self.mode] * len(metrics)
        if len(metrics) != len(modes):
            raise ValueError(f"metric and mode need the same length, got {metrics} and {modes}")
        if len(metrics) > 1 and self.searcher.type != "optuna":
            raise ValueError("several metrics (multi-objective) need searcher.type: optuna")
        if len(metrics) > 1 and self.scheduler.type != "none":
            raise ValueError("scheduler.type: a multi-objective study cannot use a scheduler "
                             "(none allowed)")
        for name, (low, high) in self.constraints.items():
            if not low < high:
                raise ValueError(f"constraints.{name}: low ({low}) must be below high ({high})")
        if self.constraints and len(metrics) > 1:
            raise ValueError("constraints apply to a single objective (metric); several "
                             "metrics form a Pareto front instead")
        if self.checkpoint_every % self.eval_every:
            raise ValueError(
                f"checkpoint_every ({self.checkpoint_every}) must be a multiple of eval_every "
                f"({self.eval_every}): checkpoints are taken at evaluation steps"
            )
        overlap = set(flat_dotted(self.fixed)) & set(self.search)
        if overlap:
            raise ValueError(f"{sorted(overlap)} appear both in fixed and in search")
        mutated = set(flat_dotted(self.fixed)) & set(self.scheduler.mutations)
        if mutated and self.scheduler.type in ("pbt", "pb2"):
            raise ValueError(f"{sorted(mutated)} appear both in fixed and in "
                             f"scheduler.mutations: a setting is held fixed or mutated, not both")
        grid = [k for k, p in self.search.items() if isinstance(p, Choice) and p.type == "grid"]
        if grid and self.searcher.type == "optuna":
            raise ValueError(f"grid parameters {grid} need searcher.type grid or random")
        if self.searcher.type == "grid" and any(
            not (isinstance(p, Choice)) for p in self.search.values()
        ):
            raise ValueError("searcher.type grid needs every search parameter as choice/grid")
        if self.scheduler.type in ("pbt", "pb2") and not self.scheduler.mutations:
            raise ValueError("scheduler.mutations: PBT/PB2 need at least one parameter to mutate")
        interval = self.scheduler.perturbation_interval
        if self.scheduler.type in ("pbt", "pb2") and interval and interval % self.checkpoint_every:
            raise ValueError(
                f"scheduler.perturbation_interval ({interval}) must be a multiple of "
                f"checkpoint_every ({self.checkpoint_every}): an exploit copies a checkpoint"
            )
        if self.scheduler.type == "pb2":
            bad = [k for k, p in self.scheduler.mutations.items() if isinstance(p, Choice)]
            if bad:
                raise ValueError(f"scheduler.mutations {bad}: PB2 takes continuous bounds only")
        return self

    @property
    def trainer_names(self) -> list[str]:
        return list(self.trainers) if self.trainers else [str(self.trainer)]

    @property
    def label(self) -> str:
        """The trainer, or the compared trainers as `a vs b vs c`."""
        return " vs ".join(self.trainer_names)

    def fixed_for(self, trainer: str) -> dict[str, Any]:
        return merge_settings(self.fixed, self.trainers.get(trainer, {}))

    @property
    def tune_metric(self) -> str:
        """What Tune and the searcher rank: the metric, or `objective` (the metric pushed past
        the worst for trials outside the constraints) when the spec has constraints."""
        return OBJECTIVE if self.constraints else self.metrics[0]

    @property
    def metrics(self) -> list[str]:
        return self.metric if isinstance(self.metric, list) else [self.metric]

    @property
    def modes(self) -> list[str]:
        return self.mode if isinstance(self.mode, list) else [self.mode] * len(self.metrics)

    def digest(self) -> str:
        """Stable hash of the validated spec: two files that mean the same study hash alike."""
        dumped = self.model_dump(mode="json")
        # Settings added later hash as if absent while at their defaults: old studies resume.
        if not dumped["trainers"]:
            del dumped["trainers"]
        for (*path, key), default in _ADDED_LATER.items():
            node = dumped
            for part in path:
                node = node[part]
            if node.get(key) == default:
                del node[key]
        blob = json.dumps(dumped, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# (path, default) of the settings added after studies existed, absent from their digests.
_ADDED_LATER: dict[tuple[str, ...], object] = {
    ("eval_split",): "train",
    ("resources", "train_worker_group"): "auto",
    ("scheduler", "synch"): False,
    ("searcher", "n_startup_trials"): None,
    ("searcher", "multivariate"): False,
    ("constraints",): {},
}
OBJECTIVE = "objective"  # the constrained objective a trial reports beside its metrics

# Settings that act only after so many steps: (trainer, setting, what happens at that step, and
# whether a value equal to the budget is already too late).
_STEP_SETTINGS = (
    ("selfcond_gan", "recluster_every", "the clusters are first recomputed at step", True),
    ("pgmgan", "lambda_length", "λ reaches lambda_end at step", False),
    ("simplicial", "mi_steps", "the MI head switches off at step", True),
)


def spec_warnings(spec: StudySpec) -> list[str]:
    """What validates but will not do what it seems to within the budget."""
    out = []
    searcher = spec.searcher
    if searcher.type == "optuna" and searcher.sampler == "tpe":
        startup = searcher.n_startup_trials
        startup = TPE_STARTUP_DEFAULT if startup is None else startup
        if spec.num_samples <= startup:
            out.append(f"searcher: TPE draws its first {startup} trials at random "
                       f"(n_startup_trials); num_samples {spec.num_samples} never leaves them, "
                       f"so this is random search: set searcher.n_startup_trials below "
                       f"{spec.num_samples}")
    steps = spec.budget.steps
    for trainer, name, what, equal_too in _STEP_SETTINGS:
        if trainer not in spec.trainer_names:
            continue
        values = [spec.fixed_for(trainer).get(name)]
        if name in spec.search:
            values = [v for _, v in spec.search[name].labelled_bounds()]
        if values == [None]:
            from trainables.registry import get_method

            values = [get_method(trainer).Config.model_fields[name].default]
        late = [v for v in values if isinstance(v, int | float)
                and (v > steps or (equal_too and v == steps))]
        if late:
            out.append(f"{'search' if name in spec.search else 'fixed'}.{name} = {late[0]}: "
                       f"{what} {late[0]}, and the budget is {steps} steps ({trainer}): not "
                       f"within this study (see `study describe {trainer}`)")
    return out

_UNION_TAGS = ("uniform", "loguniform", "int", "choice", "str")


def _loc(err: dict[str, Any]) -> str:
    # Drop pydantic's union tags ("loguniform", "literal['min','max']", "list[...]") so the
    # path reads like the YAML.
    parts = [str(p) for p in err["loc"]
             if p not in _UNION_TAGS and not (isinstance(p, str) and "[" in p)]
    return ".".join(parts)


def suggest(name: str, known: Any) -> str:
    """' (did you mean X?)' with the closest known name, or ''."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(field: str, what: str, known: Any, name: str | None = None) -> str:
    """The one wording of an unknown name (`name`, default the field's last part), with the
    closest valid one when there is one."""
    return f"{field}: unknown {what}{suggest(name or field.rsplit('.', 1)[-1], known)}"


# The spec's sections that are models of their own: their keys, for suggestions.
def _section_keys(section: str) -> list[str]:
    model = StudySpec.model_fields.get(section)
    sub = model.annotation if model is not None else None
    if isinstance(sub, type) and issubclass(sub, BaseModel):
        return list(sub.model_fields)
    return []


def _validation_lines(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, line) for each of pydantic's errors, in the spec's words."""
    out: list[tuple[str, str]] = []
    errors = exc.errors()
    for err in errors:
        if err["type"] == "list_type" and sum(_loc(e) == _loc(err) for e in errors) > 1:
            continue  # a scalar that fails `x | list[x]`: its scalar message says what is allowed
        msg = err["msg"].removeprefix("Value error, ")
        got = f" (got {err['input']!r})" if err["type"] != "missing" and "input" in err else ""
        loc = _loc(err)
        if err["type"] == "extra_forbidden":
            parts = loc.split(".")
            known = list(StudySpec.model_fields) if len(parts) == 1 else \
                _section_keys(parts[0])
            out.append((loc, unknown(loc, "key", known)))
            continue
        if not loc:  # a check across fields: its message names them, the input is the spec
            got = ""
        out.append((loc, f"{loc}: {msg}{got}" if loc else msg))
    return list(dict.fromkeys(out))  # one line per field for a value failing every union member


def format_validation_error(source: str, exc: ValidationError) -> str:
    return "\n".join([f"invalid study spec {source}:",
                      *(f"  {line}" for _, line in _validation_lines(exc))])


def _prune(data: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """A copy of the raw spec without the entries named by failing fields (the deepest key on
    each path that is there), so that the checks of everything else can still run."""
    import copy

    out = copy.deepcopy(data)
    for field in fields:
        parts, node = [p for p in field.split(".") if p], out
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                break
            child = node[part]
            last = i == len(parts) - 1 or not isinstance(child, dict) or parts[i + 1] not in child
            if last:
                del node[part]
                break
            node = child
    return out


def parse_spec(data: Any, source: str = "<spec>") -> StudySpec:
    """The validated spec, or one SpecError naming every problem found in one pass: the
    structure's, then (on what remains valid) the trainer settings', data set's and metric's."""
    if not isinstance(data, dict):
        raise SpecError(f"invalid study spec {source}: expected a mapping at the top level")
    first: list[tuple[str, str]] = []
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        first = _validation_lines(exc)
        try:  # the rest of the spec, checked without the failing entries
            spec = StudySpec.model_validate(_prune(data, [f for f, _ in first if f]))
        except ValidationError:
            raise SpecError(format_validation_error(source, exc)) from None
    bad = [f for f, _ in first if f]
    later = [p for p in _semantic_problems(spec, source)
             if not any(p.startswith((f"{f}:", f"{f}.")) or p.startswith(f"{f}[") for f in bad)]
    problems = [line for _, line in first] + later
    if problems:
        lines = [f"invalid study spec {source}:", *(f"  {p}" for p in dict.fromkeys(problems))]
        raise SpecError("\n".join(lines))
    return spec


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML with each mapping key at most once (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Sections whose keys are trainer settings: a dotted remainder stays one dotted key there (the
# spec takes `partition.steps` as a key and nests it), as in the file.
_SETTING_SECTIONS = ("fixed", "search")


def apply_overrides(data: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """A copy of a parsed spec with `--set PATH=VALUE` applied in order (Hydra-style): PATH is
    dotted (`budget.steps`, `fixed.lr_g`, `fixed.partition.steps`, `trainers.pgmgan.k`),
    VALUE is YAML (`500`, `1e-3`, `[0, 1]`, `{type: grid, values: [1, 2]}`). The result is
    validated like the file."""
    import copy

    out = copy.deepcopy(data)
    for item in sets:
        path, sep, raw = item.partition("=")
        if not sep or not path.strip():
            raise SpecError(f"--set {item!r}: expected PATH=VALUE, e.g. budget.steps=500")
        try:  # numbers first: YAML 1.1 reads 1e-3 (no dot) as a string
            value: Any = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError:
                try:
                    value = yaml.safe_load(raw)
                except yaml.YAMLError as exc:
                    raise SpecError(f"--set {item!r}: the value is not valid YAML: {exc}") \
                        from None
        keys = path.strip().split(".")
        node: Any = out
        i, settings = 0, False
        while i < len(keys) - 1:
            child = node.get(keys[i])
            if child is None:
                if settings:  # the rest is one (dotted) setting name, as a file may write it
                    break
                child = node[keys[i]] = {}
            if not isinstance(child, dict):
                raise SpecError(f"--set {item!r}: {'.'.join(keys[: i + 1])} is "
                                f"{type(child).__name__}, not a mapping")
            settings = settings or (node is out and keys[i] in _SETTING_SECTIONS) or (
                node is out.get("trainers"))
            node, i = child, i + 1
        node[".".join(keys[i:])] = value
    return out


def load_spec(path: str | Path, overrides: list[str] | None = None) -> StudySpec:
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"study spec {path}: is a directory; expected a YAML file "
                        "(e.g. search_spaces/quickstart.yaml)")
    if not path.is_file():
        raise SpecError(f"study spec {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"study spec {path}: not a text file; expected UTF-8 YAML") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise SpecError(f"study spec {path}: not valid YAML: {exc}") from None
    if overrides:
        if not isinstance(data, dict):
            raise SpecError(f"study spec {path}: expected a mapping at the top level")
        data = apply_overrides(data, overrides)
        return parse_spec(data, f"{path} with --set {' '.join(overrides)}")
    return parse_spec(data, str(path))


def _message(err: dict[str, Any]) -> str:
    got = f" (got {err['input']!r})" if "input" in err else ""
    return err["msg"].removeprefix("Value error, ") + got


def _config_errors(cfg_model: type[BaseModel], values: dict[str, Any]) -> list[tuple[str, str]]:
    try:
        cfg_model.model_validate(values)
    except ValidationError as exc:
        return [
            (".".join(str(p) for p in e["loc"]), _message(e)) for e in exc.errors()
        ]
    return []


DATASET_PREFIX = "dataset."


def _option_problem(types: dict[str, Any], field: str, option: str, value: Any,
                    dataset: str) -> str | None:
    """Why `value` cannot be the loader's `option` (unknown, or not of its annotated type)."""
    from pydantic import TypeAdapter

    if option not in types:
        return (f"{field}: unknown option of data set {dataset!r}{suggest(option, types)}; "
                f"expected one of {list(types)}")
    try:
        TypeAdapter(types[option]).validate_python(value, strict=True)
    except ValidationError:
        kind = getattr(types[option], "__name__", None) or str(types[option])
        return f"{field}: expected {kind} (got {value!r})"
    return None


def _dataset_problems(spec: StudySpec) -> list[str]:
    """The data set must exist, and every option (fixed or searched) must be one its loader
    takes, of the type its signature gives."""
    from trainables.data import DatasetError
    from trainables.data.registry import loader_option_types

    try:
        types = loader_option_types(spec.dataset.name)
    except DatasetError:
        from trainables.data.registry import available

        name = spec.dataset.name
        return [f"dataset.name: unknown data set {name!r}{suggest(name, available())}; "
                f"expected one of {available()}"]
    name = spec.dataset.name
    problems = [_option_problem(types, f"dataset.options.{k}", k, v, name)
                for k, v in spec.dataset.options.items()]
    for key, param in spec.search.items():
        if not key.startswith(DATASET_PREFIX):
            continue
        option = key.removeprefix(DATASET_PREFIX)
        if option not in types:
            problems.append(_option_problem(types, f"search.{key}", option, None, name))
            continue
        problems += [_option_problem(types, f"search.{key}.{label}", option, v, name)
                     for label, v in param.labelled_bounds()]
    return [p for p in problems if p]


def _eval_features_problems(spec: StudySpec) -> list[str]:
    from evaluation.classifiers import available_classifiers

    value = spec.eval_features
    if value in ("auto", "raw", "inception"):
        return []
    if value.startswith("classifier:"):
        if value.removeprefix("classifier:") in available_classifiers():
            return []
        return [f"eval_features: no reference classifier {value!r} (expected one of "
                f"{[f'classifier:{n}' for n in available_classifiers()]})"]
    return [f"eval_features: expected auto, raw, inception or classifier:<dataset> "
            f"(got {value!r})"]


def _eval_split_problems(spec: StudySpec) -> list[str]:
    from trainables.data.registry import data_kind

    kind = data_kind(spec.dataset.name)
    if spec.eval_split == "test" and kind != "image":
        return [f"eval_split: test applies to image data; {spec.dataset.name} is {kind} data, "
                "scored against its own mixture (expected train)"]
    return []


def _metric_problems(spec: StudySpec) -> list[str]:
    """Each objective is a metric every trainer reports on this data, and its mode is the
    metric's better direction (evaluation.metric_table)."""
    from evaluation import metric_table
    from trainables.data.registry import data_kind

    kind = data_kind(spec.dataset.name)
    problems = []
    many = isinstance(spec.metric, list)
    for i, (name, mode) in enumerate(zip(spec.metrics, spec.modes, strict=True)):
        field, mode_field = (f"metric[{i}]", f"mode[{i}]") if many else ("metric", "mode")
        row = metric_table.lookup(name)
        for trainer in spec.trainer_names:
            if row is None or not row.reported(kind, trainer):
                have = metric_table.reported(kind, trainer)
                problems.append(f"{field}: trainer {trainer!r} does not report {name!r} on "
                                f"{kind} data ({spec.dataset.name}){suggest(name, have)}; "
                                f"it reports {have}")
        for name_c in spec.constraints if i == 0 else ():
            row_c = metric_table.lookup(name_c)
            for trainer in spec.trainer_names:
                if row_c is None or not row_c.reported(kind, trainer):
                    have = metric_table.reported(kind, trainer)
                    problems.append(f"constraints.{name_c}: trainer {trainer!r} does not "
                                    f"report it on {kind} data{suggest(name_c, have)}")
        if row is not None and row.mode is not None and mode != row.mode:
            better = "higher" if row.mode == "max" else "lower"
            problems.append(f"{mode_field}: {name} is better {better}: "
                            f"expected {row.mode!r} (got {mode!r})")
    return problems


def _semantic_problems(spec: StudySpec, source: str) -> list[str]:
    """Fixed values and every search bound against each trainer's config model, the data set
    and its options, the feature extractor, and (when the data set exists) the metrics."""
    problems = []
    for trainer in spec.trainer_names:
        problems += _trainer_problems(spec, trainer, source)
    data = _dataset_problems(spec)
    problems += data + _eval_features_problems(spec)
    if not any(p.startswith("dataset.name") for p in data):  # its kind says which metrics
        problems += _metric_problems(spec) + _eval_split_problems(spec)
    else:  # no kind to check against: the names at least
        from evaluation import metric_table

        many = isinstance(spec.metric, list)
        problems += [f"metric{f'[{i}]' if many else ''}: unknown metric {m!r}"
                     f"{suggest(m, metric_table.names())}"
                     for i, m in enumerate(spec.metrics) if metric_table.lookup(m) is None]
    return problems


def setting_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every (dotted) setting of a config model: `lr_g`, `partition.steps`, ..."""
    out = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += setting_names(sub, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def _trainer_problems(spec: StudySpec, trainer: str, source: str) -> list[str]:
    from trainables.registry import TrainerError, get_method

    where = f"trainers.{trainer}" if spec.trainers else "trainer"
    try:
        method = get_method(trainer)
        cfg_model = method.Config
    except TrainerError:
        from trainables.registry import METHODS

        return [f"{where}: unknown trainer {trainer!r}{suggest(trainer, METHODS)}; expected "
                f"one of {sorted(METHODS)}"]
    fixed = spec.fixed_for(trainer)
    own = spec.trainers.get(trainer, {})
    of = f"trainer {trainer!r}"
    names = setting_names(cfg_model)
    problems = [unknown(f"{where if f.split('.')[0] in own else 'fixed'}.{f}",
                        f"setting of {of}", names, f) if m.startswith("Extra inputs")
                else f"{where if f.split('.')[0] in own else 'fixed'}.{f}: {m}"
                for f, m in _config_errors(cfg_model, fixed)]
    sections = [("search", spec.search), ("scheduler.mutations", spec.scheduler.mutations)]
    for section, params in sections:
        for name, param in params.items():
            if name.startswith(DATASET_PREFIX) and section == "scheduler.mutations":
                problems.append(f"{section}.{name}: the data set cannot change mid-run")
                continue
            if name.startswith(DATASET_PREFIX):
                continue  # checked with the data set's own options
            if name == "trainer" and spec.trainers:
                problems.append(f"{section}.trainer: the trainers are already the axis "
                                "`trainers` makes")
                continue
            if not has_setting(cfg_model, name):
                problems.append(unknown(f"{section}.{name}", f"setting of {of}", names, name))
                continue
            if section == "scheduler.mutations" and name not in method.mutable:
                problems.append(f"{section}.{name}: {of} cannot change it "
                                f"mid-run (mutable: {list(method.mutable)})")
                continue
            for label, value in param.labelled_bounds():
                errs = _config_errors(cfg_model, merge_settings(fixed, {name: value}))
                problems += [f"{section}.{name}.{label}: {m}" for f, m in errs if f == name]
    return problems


def uses_repeater(spec: StudySpec) -> bool:
    """Optuna cannot take grid_search, so seeds repeat each suggestion through a Repeater."""
    return spec.searcher.type == "optuna"


def num_samples(spec: StudySpec) -> int:
    """Tune's num_samples: under the Repeater each suggestion runs once per seed."""
    return spec.num_samples * len(spec.seeds) if uses_repeater(spec) else spec.num_samples


def total_trials(spec: StudySpec) -> int:
    """How many trials the study runs (grid values x seeds x num_samples; ASHA may stop some
    early, none is skipped)."""
    if uses_repeater(spec):
        return num_samples(spec)
    grid = [len(p.values) for p in spec.search.values()
            if isinstance(p, Choice) and (spec.searcher.type == "grid" or p.type == "grid")]
    grid.append(len(spec.trainer_names))
    return math.prod(grid) * len(spec.seeds) * spec.num_samples
