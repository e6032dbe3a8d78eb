"""nnU-Net's own predictor as the peer of `nnuc predict` (bench/run_predict_comparison.sh), in three steps:

  model    builds an nnU-Net v2 model folder from a plans.json + dataset.json with nnunetv2's own code:
           the configuration's network (get_network_from_plans, deep supervision off), random weights from
           a fixed seed (He-initialised convolutions, random biases, random instance-norm scales and
           shifts, so the logits are far from constant), written as fold_0/checkpoint_final.pth with the
           keys of nnUNetTrainer.save_checkpoint (network_weights, optimizer_state with SGD momentum
           buffers, grad_scaler_state, logging from nnU-Net's own logger with numpy scalars,
           _best_ema, current_epoch, init_args, trainer_name, inference_allowed_mirroring_axes), plus
           plans.json and dataset.json that select nnU-Net's NibabelIO reader/writer.
  predict  times nnUNetPredictor.predict_from_files (read, preprocess, sliding window, export; the
           preprocessing and export worker processes of nnUNetv2_predict, -npp/-nps 3 by default) on
           every case of a folder, after one warm-up case (no mirroring), once per requested run: "tta"
           (mirroring), "notta" (--disable_tta), "probabilities" (mirroring, --save_probabilities),
           "probabilities_f32" (the same with the sliding window's accumulation buffers in f32 instead of
           nnU-Net's fp16, as nnuc accumulates: a fidelity check, not nnU-Net as shipped). Prints one
           JSON line: versions, device, load and warm-up seconds, and per run the total seconds and per
           case the network seconds, the preprocessed shape and when its output file was written.
  stages   predict_from_files_sequential's steps timed one by one per case on the CPU in one process
           (preprocessor.run_case, the sliding window without mirroring, export_prediction_from_logits),
           for bench/run_predict_stages.sh. Prints one JSON line.
  compare  compares two prediction folders case by case: the fraction of voxels whose label differs,
           Dice per foreground label between the two, geometry, and with --probabilities the largest
           absolute difference of the CASE.npz probabilities. Prints one JSON line.

    python nnunet_predict.py model --plans P.json --dataset-json D.json --configuration 3d_fullres --out MODEL
    python nnunet_predict.py predict --model MODEL --input IMAGES --out DIR --device cuda --runs tta notta
    python nnunet_predict.py stages --model MODEL --input IMAGES --out DIR --threads 1
    python nnunet_predict.py compare --reference DIR_A --candidate DIR_B --dataset-json D.json [--probabilities]

Stubs: nnunetv2 imports SimpleITK at import time (imageio/simpleitk_reader_writer.py, the default
preprocessor) and, through nnUNetTrainer (which the predictor imports to find the trainer class),
acvl_utils.morphology imports cc3d (connected-components-3d); prediction of a 3d_fullres model with
NibabelIO calls neither. Where one is not installed (a bare GPU machine lacks both; SimpleITK is too
large to carry), a stub module is put into sys.modules before nnunetv2 is imported; any use of one of
its attributes raises, so a run that succeeds never touched it. imagecodecs, also a declared dependency
of nnunetv2, is imported by none of nnunetv2 2.8.1's modules; only tifffile probes it, inside a
try/except, so it is left missing rather than stubbed (a stub would make tifffile believe it is there).
The stubs are installed at module level so that nnU-Net's spawned worker processes, which re-run this
file as __mp_main__, get them too. NNUC_BENCH_BLOCK_MODULES=SimpleITK,imagecodecs,... makes those
imports fail here, to check on a machine that has them that the benchmark runs without them.
"""
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
import types

STUBBED_IF_MISSING = ("SimpleITK", "cc3d")
STUB_ACCESSES = []  # attribute names looked up on a stub in this process


class _BlockImports(importlib.abc.MetaPathFinder):
    """Makes `import NAME` fail for the names in NNUC_BENCH_BLOCK_MODULES (a test of the stubs)."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            raise ImportError(f"{fullname} is blocked by NNUC_BENCH_BLOCK_MODULES")
        return None


class _StubModule(types.ModuleType):
    """Stands in for a module that is not installed. Any attribute use raises (AttributeError, so that
    getattr(module, name, default) probes still work) and is recorded in STUB_ACCESSES."""

    def __getattr__(self, attribute):
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        STUB_ACCESSES.append(f"{self.__name__}.{attribute}")
        raise AttributeError(f"{self.__name__} is not installed here: nnunet_predict.py put a stub in its place "
                             f"for nnunetv2's import; {self.__name__}.{attribute} was used")


def _install_stubs():
    blocked = [name for name in os.environ.get("NNUC_BENCH_BLOCK_MODULES", "").split(",") if name]
    if blocked:
        sys.meta_path.insert(0, _BlockImports(blocked))
    stubbed = []
    for name in STUBBED_IF_MISSING:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            module = _StubModule(name)
            module.__spec__ = importlib.machinery.ModuleSpec(name, None)
            sys.modules[name] = module
            stubbed.append(name)
    return stubbed


STUBBED = _install_stubs()


def _nnunet_environment(work):
    """nnunetv2.paths warns when these are unset; prediction from a model folder needs none of them."""
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(key, os.path.join(work, key))
    os.environ.setdefault("nnUNet_compile", "false")


# ----------------------------------------------------------------------------------------------- model
def make_model(args):
    _nnunet_environment(args.out)
    import numpy as np
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json, save_json
    from nnunetv2.training.logging.nnunet_logger import MetaLogger
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = load_json(args.plans)
    dataset_json = load_json(args.dataset_json)
    # NIfTI through nibabel: the plans name the reader/writer prediction uses, dataset.json the one
    # planning would pick (nnunetv2.imageio.reader_writer_registry).
    plans["image_reader_writer"] = "NibabelIO"
    dataset_json["overwrite_image_reader_writer"] = "NibabelIO"
    plans["continue_training"] = False  # run_training.get_trainer_from_args adds it; real plans.json carry it
    plans_manager = PlansManager(plans)
    configuration = plans_manager.get_configuration(args.configuration)
    inputs = determine_num_input_channels(plans_manager, configuration, dataset_json)
    outputs = plans_manager.get_label_manager(dataset_json).num_segmentation_heads

    torch.manual_seed(args.seed)
    network = get_network_from_plans(configuration.network_arch_class_name, configuration.network_arch_init_kwargs,
                                     configuration.network_arch_init_kwargs_req_import, inputs, outputs,
                                     allow_init=True, deep_supervision=False)
    generator = torch.Generator().manual_seed(args.seed + 1)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)):
                if module.bias is not None:
                    module.bias.copy_(torch.rand(module.bias.shape, generator=generator) * 0.2 - 0.1)
            elif isinstance(module, (torch.nn.InstanceNorm2d, torch.nn.InstanceNorm3d, torch.nn.BatchNorm2d,
                                     torch.nn.BatchNorm3d, torch.nn.GroupNorm, torch.nn.LayerNorm)):
                if module.weight is not None:
                    module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                    module.bias.copy_(torch.rand(module.bias.shape, generator=generator) - 0.5)
        # Sharper outputs, closer to a trained network's: most voxels far from a tie between labels.
        for name, module in network.named_modules():
            if "seg_layers" in name and isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):
                module.weight.mul_(args.logit_scale)

    # What a trained nnUNetTrainer leaves: SGD (nnU-Net's settings) with momentum buffers after a step,
    # nnU-Net's logger with two epochs of values of the types the trainer logs (numpy scalars among them).
    optimizer = torch.optim.SGD(network.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)
    for parameter in network.parameters():
        parameter.grad = torch.randn(parameter.shape, generator=generator) * 1e-3
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    logger = MetaLogger(args.out, False)
    rng = np.random.default_rng(args.seed)
    for epoch in range(2):
        logger.log("epoch_start_timestamps", time.time(), epoch)
        logger.log("lrs", optimizer.param_groups[0]["lr"], epoch)
        logger.log("train_losses", np.mean(rng.random(4, dtype=np.float32)) - 1, epoch)
        per_class = [np.float64(x) for x in rng.random(max(outputs - 1, 1))]
        logger.log("mean_fg_dice", np.nanmean(per_class), epoch)
        logger.log("dice_per_class_or_region", per_class, epoch)
        logger.log("val_losses", np.mean(rng.random(4, dtype=np.float32)) - 1, epoch)
        logger.log("epoch_end_timestamps", time.time(), epoch)
    mirror_axes = (0, 1) if len(configuration.patch_size) == 2 else (0, 1, 2)  # nnUNetTrainer's choice
    checkpoint = {
        "network_weights": network.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "grad_scaler_state": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                              "_growth_tracker": 7},
        "logging": logger.get_checkpoint(),
        "_best_ema": logger.get_value("ema_fg_dice", step=-1),
        "current_epoch": 2,
        "init_args": {"plans": plans, "configuration": args.configuration, "fold": 0, "dataset_json": dataset_json,
                      "device": torch.device("cuda")},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": mirror_axes,
    }
    os.makedirs(os.path.join(args.out, "fold_0"), exist_ok=True)
    torch.save(checkpoint, os.path.join(args.out, "fold_0", "checkpoint_final.pth"))
    save_json(plans, os.path.join(args.out, "plans.json"), sort_keys=False)
    save_json(dataset_json, os.path.join(args.out, "dataset.json"), sort_keys=False)
    parameters = sum(p.numel() for p in network.parameters())
    print(json.dumps({"model": args.out, "configuration": args.configuration, "network": type(network).__name__,
                      "parameters": parameters, "patch": list(configuration.patch_size), "inputs": inputs,
                      "outputs": outputs, "seed": args.seed, "logit_scale": args.logit_scale, "stubbed": STUBBED}))


# --------------------------------------------------------------------------------------------- predict
def predict(args):
    os.makedirs(args.out, exist_ok=True)
    _nnunet_environment(args.out)
    started = time.perf_counter()
    import torch
    from importlib.metadata import version
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder
    import_s = time.perf_counter() - started

    device = torch.device(args.device)
    if args.device == "cpu":  # as nnUNetv2_predict
        torch.set_num_threads(os.cpu_count())
    else:
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    begin = time.perf_counter()
    predictor = nnUNetPredictor(tile_step_size=args.step_size, use_gaussian=True, use_mirroring=True,
                                perform_everything_on_device=True, device=device, verbose=False, allow_tqdm=False,
                                verbose_preprocessing=False)
    predictor.initialize_from_trained_model_folder(args.model, (0,), "checkpoint_final.pth")
    load_s = time.perf_counter() - begin
    file_ending = predictor.dataset_json["file_ending"]
    cases = create_lists_from_splitted_dataset_folder(args.input, file_ending)
    identifiers = [os.path.basename(files[0])[:-(len(file_ending) + 5)] for files in cases]

    # Per case: the seconds of the sliding window (the logits back on the host) and the shape it ran on.
    network_log = []
    inner = predictor.predict_logits_from_preprocessed_data

    def timed(data):
        begin = time.perf_counter()
        logits = inner(data).cpu()
        network_log.append({"network_s": time.perf_counter() - begin, "preprocessed_shape": list(data.shape[1:])})
        return logits

    predictor.predict_logits_from_preprocessed_data = timed

    def run(files, outputs, folder, mirroring, probabilities, f32_buffers=False):
        if f32_buffers:
            with _F32Buffers():
                return run(files, outputs, folder, mirroring, probabilities)
        os.makedirs(folder, exist_ok=True)
        predictor.use_mirroring = mirroring
        network_log.clear()
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        wall, begin = time.time(), time.perf_counter()
        predictor.predict_from_files(files, outputs, save_probabilities=probabilities, overwrite=True,
                                     num_processes_preprocessing=args.npp, num_processes_segmentation_export=args.nps)
        total = time.perf_counter() - begin
        result = {"mirroring": mirroring, "probabilities": probabilities, "total_s": total, "cases": []}
        if device.type == "cuda":
            result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        for output, log in zip(outputs, network_log):
            written = os.path.getmtime(output + file_ending) - wall
            result["cases"].append({"id": os.path.basename(output), "finished_s": written, **log})
        return result

    # The warm-up (device start, cuDNN's autotuning of the patch's shapes) needs no mirroring: same shapes.
    warmup = run(cases[:1], [os.path.join(args.out, "warmup", identifiers[0])], os.path.join(args.out, "warmup"),
                 False, False)
    runs = {}
    for name in args.runs:
        folder = os.path.join(args.out, name)
        runs[name] = run(cases, [os.path.join(folder, i) for i in identifiers], folder, name != "notta",
                         name.startswith("probabilities"), name == "probabilities_f32")
    cm = predictor.configuration_manager
    print(json.dumps({
        "tool": "nnunetv2", "nnunetv2": version("nnunetv2"), "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "threads": torch.get_num_threads(), "npp": args.npp, "nps": args.nps, "step_size": args.step_size,
        "patch": list(cm.patch_size), "mirror_axes": list(predictor.allowed_mirroring_axes or []),
        "stubbed": STUBBED, "stub_accesses": STUB_ACCESSES, "import_s": import_s, "load_s": load_s,
        "warmup_s": warmup["total_s"], "cases": identifiers, "runs": runs}))
    sys.stdout.flush()


def stages(args):
    """predict_from_files_sequential's three steps, each timed, per case, in this one process with
    torch.set_num_threads(args.threads): preprocessor.run_case (read, transpose, crop, normalize,
    resample), the sliding window (predict_logits_from_preprocessed_data, no mirroring), and
    export_prediction_from_logits (resample the logits back, argmax, un-crop, un-transpose, write)."""
    _nnunet_environment(args.out)
    import torch
    from importlib.metadata import version
    from nnunetv2.inference.export_prediction import export_prediction_from_logits
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.utils import create_lists_from_splitted_dataset_folder

    torch.set_num_threads(args.threads)
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                perform_everything_on_device=False, device=torch.device("cpu"), verbose=False,
                                allow_tqdm=False, verbose_preprocessing=False)
    predictor.initialize_from_trained_model_folder(args.model, (0,), "checkpoint_final.pth")
    file_ending = predictor.dataset_json["file_ending"]
    os.makedirs(args.out, exist_ok=True)
    cases = []
    for files in create_lists_from_splitted_dataset_folder(args.input, file_ending):
        identifier = os.path.basename(files[0])[:-(len(file_ending) + 5)]
        begin = time.perf_counter()
        preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
        data, _, properties = preprocessor.run_case(files, None, predictor.plans_manager,
                                                    predictor.configuration_manager, predictor.dataset_json)
        preprocess_s = time.perf_counter() - begin
        begin = time.perf_counter()
        logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
        network_s = time.perf_counter() - begin
        begin = time.perf_counter()
        export_prediction_from_logits(logits, properties, predictor.configuration_manager, predictor.plans_manager,
                                      predictor.dataset_json, os.path.join(args.out, identifier), False)
        export_s = time.perf_counter() - begin
        cases.append({"id": identifier, "shape": list(properties["shape_before_cropping"]),
                      "preprocessed_shape": list(data.shape[1:]), "preprocess_s": preprocess_s,
                      "network_s": network_s, "export_s": export_s})
    print(json.dumps({"tool": "nnunetv2", "nnunetv2": version("nnunetv2"), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "cases": cases}))
    sys.stdout.flush()


class _F32Buffers:
    """While active, nnU-Net's sliding window accumulates in f32: predict_from_raw_data's module-level
    `torch` becomes a proxy whose zeros() makes f32 where fp16 is asked for (the logits and weight
    buffers), and its compute_gaussian returns the fp16-rounded map as f32. Nothing else changes."""

    def __init__(self):
        import torch
        import nnunetv2.inference.predict_from_raw_data as module
        self.module, self.torch, self.gaussian = module, torch, module.compute_gaussian

    def __enter__(self):
        torch, gaussian = self.torch, self.gaussian

        class TorchProxy:
            def __getattr__(self, name):
                return getattr(torch, name)

            @staticmethod
            def zeros(*args, dtype=None, **kwargs):
                return torch.zeros(*args, dtype=torch.float32 if dtype == torch.float16 else dtype, **kwargs)

        def gaussian_f32(*args, **kwargs):
            return gaussian(*args, **kwargs).float()

        gaussian_f32.cache_clear = gaussian.cache_clear
        self.module.torch, self.module.compute_gaussian = TorchProxy(), gaussian_f32

    def __exit__(self, *exc):
        self.module.torch, self.module.compute_gaussian = self.torch, self.gaussian


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"


# --------------------------------------------------------------------------------------------- compare
def compare(args):
    import numpy as np
    import nibabel

    with open(args.dataset_json) as f:
        dataset_json = json.load(f)
    file_ending = dataset_json["file_ending"]
    labels = sorted({v for k, v in dataset_json["labels"].items() if k != "ignore" and isinstance(v, int) and v > 0})
    identifiers = sorted(name[:-len(file_ending)] for name in os.listdir(args.reference) if name.endswith(file_ending))
    cases = []
    for identifier in identifiers:
        case = {"id": identifier}
        cases.append(case)
        candidate_file = os.path.join(args.candidate, identifier + file_ending)
        if not os.path.isfile(candidate_file):
            case["error"] = f"{candidate_file} is missing"
            continue
        a_image, b_image = nibabel.load(os.path.join(args.reference, identifier + file_ending)), nibabel.load(candidate_file)
        a, b = np.asanyarray(a_image.dataobj), np.asanyarray(b_image.dataobj)
        case["shape"] = list(a.shape)  # nibabel's axis order (x, y, z)
        case["dtypes"] = [str(a.dtype), str(b.dtype)]
        if a.shape != b.shape:
            case["error"] = f"shapes differ: {list(a.shape)} vs {list(b.shape)}"
            continue
        case["affine_max_abs_diff"] = float(np.max(np.abs(a_image.affine - b_image.affine)))
        case["differing_fraction"] = float(np.mean(a != b))
        case["label_fractions"] = {str(l): [float(np.mean(a == l)), float(np.mean(b == l))] for l in [0] + labels}
        dice = {}
        for label in labels:
            x, y = a == label, b == label
            both = int(x.sum()) + int(y.sum())
            dice[str(label)] = 2.0 * float(np.logical_and(x, y).sum()) / both if both else None  # None: absent in both
        case["dice"] = dice
        if args.probabilities:
            p_file, q_file = (os.path.join(d, identifier + ".npz") for d in (args.reference, args.candidate))
            if not os.path.isfile(q_file) or not os.path.isfile(p_file):
                case["probabilities_error"] = f"{q_file if os.path.isfile(p_file) else p_file} is missing"
                continue
            p, q = np.load(p_file)["probabilities"], np.load(q_file)["probabilities"]
            case["probabilities_shape"] = [list(p.shape), list(q.shape)]
            if p.shape != q.shape:
                case["probabilities_error"] = f"shapes differ: {list(p.shape)} vs {list(q.shape)}"
                continue
            difference = np.abs(p.astype(np.float64) - q.astype(np.float64))
            case["probabilities_max_abs_diff"] = float(difference.max())
            case["probabilities_mean_abs_diff"] = float(difference.mean())
    print(json.dumps({"reference": args.reference, "candidate": args.candidate, "labels": labels, "cases": cases}))


def main():
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("model", help="build an nnU-Net model folder with random weights")
    p.add_argument("--plans", required=True)
    p.add_argument("--dataset-json", required=True)
    p.add_argument("--configuration", default="3d_fullres")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=20261204)
    p.add_argument("--logit-scale", type=float, default=5.0, help="factor on the output layers' weights")
    p.set_defaults(handler=make_model)
    p = commands.add_parser("predict", help="time nnUNetPredictor.predict_from_files")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--runs", nargs="+", default=["tta", "notta"],
                   choices=("tta", "notta", "probabilities", "probabilities_f32"))
    p.add_argument("--step-size", type=float, default=0.5)
    p.add_argument("--npp", type=int, default=3, help="preprocessing processes (nnUNetv2_predict -npp)")
    p.add_argument("--nps", type=int, default=3, help="export processes (nnUNetv2_predict -nps)")
    p.set_defaults(handler=predict)
    p = commands.add_parser("stages", help="time preprocessing, sliding window and export of each case")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(handler=stages)
    p = commands.add_parser("compare", help="compare two prediction folders")
    p.add_argument("--reference", required=True)
    p.add_argument("--candidate", required=True)
    p.add_argument("--dataset-json", required=True)
    p.add_argument("--probabilities", action="store_true")
    p.set_defaults(handler=compare)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    main()
