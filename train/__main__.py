"""python -m train {data,train,finetune,export,eval,all} [--work DIR] [--steps N] [--out DIR] [--fixtures DIR]

The whole pipeline behind `make model` (see train/README.md). Sources must already be fetched into WORK/src
(train/make_model.sh does that).
"""
import argparse
import os
import sys
import time


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(prog="python -m train")
    ap.add_argument("stage", choices=["data", "train", "finetune", "export", "eval", "all"])
    ap.add_argument("--work", default=os.path.join(here, "work"))
    ap.add_argument("--steps", type=int, default=None, help="override the step count (smoke tests only)")
    ap.add_argument("--out", default=os.path.join(root, "www", "models"))
    ap.add_argument("--fixtures", default=os.path.join(root, "tests", "fixtures", "embedded"))
    a = ap.parse_args(argv)
    t0 = time.time()
    if a.stage in ("data", "all"):
        from .corpus import prepare
        prepare(a.work)
    if a.stage in ("train", "all"):
        from .trainer import train
        train(a.work, a.steps)
    if a.stage in ("finetune", "all"):
        from .finetune import finetune
        finetune(a.work)
    if a.stage in ("export", "all"):
        from .export import export_all
        export_all(a.work, a.out)
    if a.stage in ("eval", "all"):
        from .evaluate import evaluate_all
        evaluate_all(a.work, a.out, a.fixtures)
    print(f"python -m train {a.stage}: {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
