"""The names of the files in a run directory (see the README's description of a run)."""

CONFIG_FILE = "config.toml"  # every setting; `--config` of it reproduces the run
RESUME_FILE = "resume.safetensors"  # everything an exact resume needs, written after every epoch
MODEL_FILE = "model.safetensors"  # the weights, under PyTorch's state-dict keys
HISTORY_FILE = "history.csv"  # one row per epoch
SUMMARY_FILE = "summary.json"  # the run's final numbers
CURVES_FILE = "curves.png"  # loss and accuracy per epoch
LAYERS_FILE = "layers.csv"  # the layer monitor's samples
LAYERS_PLOT = "layers.png"  # and their plot
CONFUSION_FILE = "confusion.png"  # written by `handgrad evaluate`
