"""Shared by the student scenarios: find the course's class (or function) for a *role*, whatever the
course calls it.

TinyTorch courses have spelled the same layer differently over the years (`Conv2d` / `Conv2D`,
`Linear` / `Dense`, ...) and exported it from different places (`tinytorch`, `tinytorch.core.spatial`,
`tinytorch.nn`). A scenario asks for a role (`role("conv2d")`) instead of importing a name, so it runs
against any course. A course may name its own class for a role in `[tool.tinytorch.api]` of its
pyproject.toml (`conv2d = "tinytorch.core.spatial:Conv2D"`); the verifier passes that table to the
scenario as JSON in the environment variable below.

A role that cannot be found ends the scenario with ONE line on stderr saying what was looked for
(never a bare ImportError), because that last line is what the verifier's report shows.

Scenarios run with `python -I`, which leaves the script's folder off sys.path; the verifier copies
this file next to the scenario, and the scenario adds its own folder to sys.path before importing it.
"""
import importlib
import json
import os
import pkgutil
import sys

ROLE_MAP_VARIABLE = "TINYTORCH_API_ROLES"
PACKAGE = "tinytorch"

# role -> (what it is, in words for the error line; spellings TinyTorch has used, preferred first)
ROLES = {
    "tensor": ("tensor class", ("Tensor",)),
    "no_grad": ("no_grad context manager", ("no_grad",)),
    "module": ("Module base class", ("Module",)),
    "module_list": ("module list", ("ModuleList",)),
    "sequential": ("sequential container", ("Sequential",)),
    "linear": ("fully connected layer", ("Linear", "Dense")),
    "dropout": ("dropout layer", ("Dropout",)),
    "flatten": ("flatten layer", ("Flatten",)),
    "relu": ("ReLU activation", ("ReLU",)),
    "conv2d": ("convolution layer", ("Conv2d", "Conv2D", "Convolution2D")),
    "maxpool2d": ("max-pooling layer", ("MaxPool2d", "MaxPool2D", "MaxPooling2D")),
    "multihead_attention": ("multi-head attention layer", ("MultiHeadAttention", "MultiheadAttention")),
    "embedding": ("embedding layer", ("Embedding",)),
    "positional_embedding": ("learned positional embedding", ("PositionalEmbedding", "LearnedPositionalEmbedding",
                                                              "PositionalEncoding")),
    "transformer_block": ("transformer block", ("TransformerBlock",)),
    "layernorm": ("layer normalisation", ("LayerNorm",)),
    "cross_entropy": ("cross-entropy loss", ("CrossEntropyLoss",)),
    "sgd": ("SGD optimizer", ("SGD",)),
    "adam": ("Adam optimizer", ("Adam",)),
    "dataloader": ("data loader", ("DataLoader",)),
    "tensor_dataset": ("tensor dataset", ("TensorDataset",)),
    "trainer": ("trainer", ("Trainer",)),
    "seed_everything": ("seeding function", ("seed_everything",)),
    "make_digits": ("digits data generator", ("make_digits",)),
    "train_test_split": ("train/test split function", ("train_test_split",)),
    "save_model": ("model-saving function", ("save_model",)),
    "load_model": ("model-loading function", ("load_model",)),
    "read_metadata": ("model-file metadata reader", ("read_metadata",)),
    "predictor": ("serving predictor", ("Predictor",)),
    "input_validation_error": ("input validation error", ("InputValidationError",)),
    "build_digits_cnn": ("digits CNN builder", ("build_digits_cnn",)),
}

# Where TinyTorch courses have exported things, searched after the top level; the rest of the
# package is walked only if none of these has the name (importing every module costs time).
USUAL_PLACES = ("tinytorch.nn", "tinytorch.core.tensor", "tinytorch.core.autograd", "tinytorch.core.layers",
                "tinytorch.core.activations", "tinytorch.core.dense", "tinytorch.core.losses",
                "tinytorch.core.optimizers", "tinytorch.core.dataloader", "tinytorch.core.training",
                "tinytorch.core.spatial", "tinytorch.core.attention", "tinytorch.core.transformer",
                "tinytorch.core.mlops", "tinytorch.core.capstone")


def fail(message):
    """End the scenario with one line on stderr (exit code 1), no traceback."""
    sys.exit(message)


def course_role_map():
    """The course's own `[tool.tinytorch.api]` table, as passed by the verifier (may be empty)."""
    text = os.environ.get(ROLE_MAP_VARIABLE, "").strip()
    if not text:
        return {}
    try:
        table = json.loads(text)
    except ValueError:
        fail("%s is not JSON: %r" % (ROLE_MAP_VARIABLE, text[:200]))
    return table if isinstance(table, dict) else {}


def _module(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _declared(role_name, target):
    """The object at "package.module:Name" that the course's pyproject names for a role."""
    module_name, _, attribute = str(target).partition(":")
    module = _module(module_name)
    if module is None or not attribute or not hasattr(module, attribute):
        fail("the course maps role %r to %r in [tool.tinytorch.api] of its pyproject.toml, but the installed "
             "package has no such name" % (role_name, target))
    return getattr(module, attribute)


def _all_modules():
    package = _module(PACKAGE)
    names = [info.name for info in pkgutil.walk_packages(getattr(package, "__path__", []), prefix=PACKAGE + ".")]
    return [m for m in map(_module, names) if m is not None]


def role(role_name):
    """The course's object for `role_name`: the course's own mapping first, then the usual spellings
    at the top level of the package, then in the usual submodules, then anywhere in the package."""
    what, spellings = ROLES[role_name]
    declared = course_role_map().get(role_name)
    if declared:
        return _declared(role_name, declared)
    searched = [PACKAGE] + list(USUAL_PLACES)
    for places in (searched, None):
        modules = [m for m in map(_module, places) if m is not None] if places else _all_modules()
        for spelling in spellings:
            for module in modules:
                if hasattr(module, spelling):
                    return getattr(module, spelling)
    fail("the course exports no %s (looked for %s in %s and every other %s module; name yours for role %r in "
         "[tool.tinytorch.api] of the course's pyproject.toml)"
         % (what, ", ".join(spellings), PACKAGE, PACKAGE, role_name))


def roles(*role_names):
    """Several roles at once: `Conv2d, Linear = roles("conv2d", "linear")`."""
    return tuple(role(name) for name in role_names)


def home_of(obj):
    """The package module that defines `obj` (a class, function or instance), e.g.
    `tinytorch.core.attention`; scenarios put it in failure messages so the report blames that module."""
    return getattr(obj, "__module__", None) or type(obj).__module__
