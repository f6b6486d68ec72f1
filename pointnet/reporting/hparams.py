"""TensorBoard's HParams for a run: the settings that change results, typed, beside the run's own metrics.

Written with the hparams plugin's protos (what ``tensorboard.plugins.hparams`` summaries hold, without
TensorFlow): an experiment that declares every setting with its type and the metrics by their existing
scalar tags (``val/acc``, ``test/acc``, ...), so the HParams table reads the curves the run already logs
instead of single ``hparam/*`` points. Settings marked ``swept`` (set by the command line or a sweeper)
are flagged as differing, which puts them first in TensorBoard's columns.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

Setting = bool | int | float | str


def _value_type(value: Setting) -> int:
    if isinstance(value, bool):
        return api_pb2.DATA_TYPE_BOOL
    if isinstance(value, (int, float)):
        return api_pb2.DATA_TYPE_FLOAT64
    return api_pb2.DATA_TYPE_STRING


def _dataset(tag: str) -> int:
    """``train/*`` and ``val/*`` metrics as TensorBoard's training and validation sets (others unspecified)."""
    split = tag.split("/", 1)[0]
    return {"train": api_pb2.DATASET_TRAINING, "val": api_pb2.DATASET_VALIDATION}.get(split, api_pb2.DATASET_UNKNOWN)


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    meta = metadata.create_summary_metadata(data)
    return Summary(value=[Summary.Value(tag=tag, metadata=meta, tensor=metadata.NULL_TENSOR)])


def experiment_summary(params: Mapping[str, Setting], metrics: Iterable[tuple[str, str]], swept: set[str]) -> Summary:
    """The experiment: each setting's name and type, and the metrics as ``(group, tag)``: the scalar
    ``tag`` of the run itself (group ``""``) or of its sub-run ``group`` (``"eval"``: ``pointnet-eval``'s)."""
    infos = [api_pb2.HParamInfo(name=name, type=_value_type(value), differs=name in swept)
             for name, value in params.items()]
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(group=group, tag=tag), dataset_type=_dataset(tag))
               for group, tag in metrics]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    return _summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment))


def session_start_summary(params: Mapping[str, Setting], group: str = "") -> Summary:
    """This run's values: bools as bools, numbers as numbers (integers exact), anything else as text."""
    start = plugin_data_pb2.SessionStartInfo(group_name=group)
    for name, value in params.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value = value
        else:
            start.hparams[name].string_value = str(value)
    return _summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start))


def session_end_summary() -> Summary:
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS)
    return _summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))
