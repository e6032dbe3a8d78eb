"""nnU-Net's own trainer as the peer of bench/nn/training_iteration_bench.cpp: the time of one training
iteration of nnunetv2's nnUNetTrainer (next(dataloader_train) — nnUNetDataLoader + batchgeneratorsv2's
training transforms — then train_step: forward, deep-supervision Dice + CE, backward, clipping, SGD),
on a dataset that nnunetv2 itself plans and preprocesses.

    python nnunet_train_iterations.py --raw RAW_ROOT --dataset 900 --configuration 2d --work DIR \
        --device cpu --iterations 20 --threads 2 [--processes 0]

RAW_ROOT holds DatasetXXX_Name/ (e.g. written by `nnuc synth --preset tiny`). --processes is
nnUNet_n_proc_DA: 0 loads and augments in this process, between steps (so "data_ms" is its cost,
as in nnuc's benchmark); N > 0 uses nnU-Net's background augmenter processes.
Prints one JSON line: {"torch", "nnunetv2", "configuration", "batch", "patch", "iteration_ms",
"data_ms", "step_ms", "iterations"}.
"""
import argparse
import json
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", required=True)
    parser.add_argument("--dataset", type=int, default=900)
    parser.add_argument("--configuration", default="2d")
    parser.add_argument("--work", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--processes", type=int, default=0)
    args = parser.parse_args()

    os.environ["nnUNet_raw"] = os.path.abspath(args.raw)
    os.environ["nnUNet_preprocessed"] = os.path.join(os.path.abspath(args.work), "nnUNet_preprocessed")
    os.environ["nnUNet_results"] = os.path.join(os.path.abspath(args.work), "nnUNet_results")
    os.environ["nnUNet_n_proc_DA"] = "1"  # the planner sets torch's threads from it: must be > 0 there
    os.environ.setdefault("nnUNet_compile", "false")

    import torch
    from importlib.metadata import version
    from batchgenerators.utilities.file_and_folder_operations import join, load_json
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments, preprocess
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

    torch.set_num_threads(args.threads)
    name = maybe_convert_to_dataset_name(args.dataset)
    folder = join(os.environ["nnUNet_preprocessed"], name)
    if not os.path.isfile(join(folder, "nnUNetPlans.json")):
        extract_fingerprints([args.dataset], check_dataset_integrity=False, clean=True, verbose=False)
        plan_experiments([args.dataset])
    if not os.path.isdir(join(folder, f"nnUNetPlans_{args.configuration}")):
        preprocess([args.dataset], configurations=(args.configuration,), num_processes=(1,), verbose=False)

    os.environ["nnUNet_n_proc_DA"] = str(args.processes)
    torch.set_num_threads(args.threads)
    plans = load_json(join(folder, "nnUNetPlans.json"))
    plans["continue_training"] = False  # what run_training.get_trainer_from_args adds
    dataset_json = load_json(join(folder, "dataset.json"))
    trainer = nnUNetTrainer(plans, args.configuration, 0, dataset_json, device=torch.device(args.device))
    trainer.print_to_log_file = lambda *a, **k: None
    trainer.on_train_start()
    trainer.on_train_epoch_start()

    def iteration():
        start = time.perf_counter()
        batch = next(trainer.dataloader_train)
        loaded = time.perf_counter()
        trainer.train_step(batch)  # returns the loss as a numpy value: one host sync, as nnuc's
        if args.device == "cuda":
            torch.cuda.synchronize()
        return loaded - start, time.perf_counter() - loaded

    for _ in range(args.warmup):
        iteration()
    data = step = 0.0
    for _ in range(args.iterations):
        d, s = iteration()
        data += d
        step += s
    n = args.iterations
    cm = trainer.configuration_manager
    print(json.dumps({"torch": torch.__version__, "nnunetv2": version("nnunetv2"), "configuration": args.configuration,
                      "batch": cm.batch_size, "patch": list(cm.patch_size), "iteration_ms": 1e3 * (data + step) / n,
                      "data_ms": 1e3 * data / n, "step_ms": 1e3 * step / n, "iterations": n, "threads": args.threads,
                      "processes": args.processes}))
    sys.stdout.flush()
    os._exit(0)  # nnU-Net's augmenter threads would keep the process alive


if __name__ == "__main__":
    main()
