"""``pointnet-summary MULTIRUN_DIR``: mean ± std over seeds, per recipe, of a sweep's test results.

Reads every finished job of a Hydra multirun (``metrics.json``: last-epoch test accuracy, and test
accuracy and mean class accuracy of ``best.pt``, the checkpoint chosen on validation), adds the
voting accuracy of each job's ``best.pt`` (``--votes`` views per test shape, default 12: view ``v``
is another fixed draw of the points, rotated by ``2 pi v / votes`` about the up axis if the job
trained with rotation augmentation; see ``pointnet.training.evaluation.vote_confusion``), and writes
``summary.md``, ``summary.png`` and ``summary.json`` into the sweep dir (or ``--out``). Voting
re-reads the job's cached test split, so run it where the data set still is.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from omegaconf import OmegaConf

from pointnet.apps.common import data_config, prepare_data
from pointnet.inference.classifier import model_from_state
from pointnet.reporting.summary import Job, read_jobs, write_summary
from pointnet.runtime.threads import set_threads
from pointnet.training.checkpoint import load_checkpoint
from pointnet.training.evaluation import vote_confusion

log = logging.getLogger(__name__)


def vote_accuracy(job: Job, votes: int) -> float:
    """Accuracy of ``job``'s ``best.pt`` on its test split with ``votes`` views per shape."""
    checkpoint = job.path / "best.pt"
    state = load_checkpoint(checkpoint)
    model = model_from_state(state, checkpoint)
    data = data_config(OmegaConf.create({}), state, [])
    _, test_set = prepare_data(data, progress=False)
    if test_set.classes != state["classes"]:
        raise ValueError(f"{checkpoint}: trained on classes {state['classes']}, the data has {test_set.classes}")
    config = state["config"]
    confusion = vote_confusion(model, test_set, data.num_points, votes=votes, rotate=bool(data.augment.rotate),
                               device=torch.device("cpu"), batch_size=config["eval"]["batch_size"],
                               seed=config["seed"])
    return confusion.accuracy


def summarize(sweep_dir: str | Path, votes: int = 12, out_dir: str | Path | None = None) -> str:
    """Summarise ``sweep_dir`` (voting with ``votes`` views; 0 skips voting); returns the markdown table."""
    jobs, unfinished = read_jobs(sweep_dir)
    if votes > 0:
        for job in jobs:
            if (job.path / "best.pt").is_file():
                job.metrics["test/vote_acc"] = vote_accuracy(job, votes)
                log.info("%s: voting accuracy %.4f (%d views)", job.path.name, job.metrics["test/vote_acc"], votes)
    return write_summary(jobs, Path(out_dir or sweep_dir), votes, unfinished)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pointnet-summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", metavar="MULTIRUN_DIR", help="a Hydra multirun dir (multirun/DATE/TIME)")
    parser.add_argument("--votes", type=int, default=12, help="views per test shape for voting (0: no voting)")
    parser.add_argument("--out", default=None, help="where to write summary.md/.png/.json (default: MULTIRUN_DIR)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.votes < 0:
        parser.error(f"--votes must be >= 0, got {args.votes}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_threads(args.threads)
    print(summarize(args.sweep_dir, args.votes, args.out))


if __name__ == "__main__":
    main()
