"""Every name a recipe may use, with a one-line description, importable without TensorFlow.

`kproto validate` checks names against these tables so it never imports Keras; at build time the
same names resolve through `keras.losses.get`, `keras.optimizers.get` and friends. A test checks
that every entry here is accepted by Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from kproto.core.errors import RecipeError, not_one_of

# --- Vocabularies: every name below is spelled here once; other modules import the constant or ask a predicate. ---

# What a model learns. A recipe's task is inferred from its target column, or fixed by its family.
Task = Literal["classification", "regression", "reconstruction", "generation", "seq2seq", "ranking", "multi_target"]
TASKS: Final[tuple[Task, ...]] = get_args(Task)
CLASSIFICATION: Final = "classification"
REGRESSION: Final = "regression"
RECONSTRUCTION: Final = "reconstruction"  # autoencoders
GENERATION: Final = "generation"  # GANs
SEQ2SEQ: Final = "seq2seq"  # text to text
RANKING: Final = "ranking"  # recommenders on implicit feedback
MULTI_TARGET: Final = "multi_target"  # several target columns, one output head each (kproto.data.targets)
SUPERVISED_TASKS: Final[tuple[Task, ...]] = (CLASSIFICATION, REGRESSION)


def supervised(task: str) -> bool:
    """A task scored against a target column with the classification or regression metrics."""
    return task in SUPERVISED_TASKS


# How the rows of a data set reach a model (DataInfo.kind, the preprocessing state's `kind`).
InputKind = Literal["table", "image", "image_folder", "text", "window", "pairs", "interactions", "mixed"]
INPUT_KINDS: Final[tuple[InputKind, ...]] = get_args(InputKind)
TABLE: Final = "table"  # numeric and categorical columns
IMAGE: Final = "image"  # pixel columns reshaped by data.shape
IMAGE_FOLDER: Final = "image_folder"  # image files in one folder per class
TEXT: Final = "text"  # one text column, tokenized
WINDOW: Final = "window"  # time-series windows
PAIRS: Final = "pairs"  # seq2seq: input text and target text
INTERACTIONS: Final = "interactions"  # recommenders: users x items
MIXED: Final = "mixed"  # several kinds of columns (text, image paths, table columns): one named model input per kind
IMAGE_KINDS: Final[tuple[InputKind, ...]] = (IMAGE, IMAGE_FOLDER)
LEGACY_KINDS: Final[dict[str, InputKind]] = {"tabular": TABLE}  # names older run folders recorded


def input_kind(name: str) -> InputKind:
    """The input kind a run folder recorded, older spellings mapped to today's (`tabular` → `table`)."""
    return LEGACY_KINDS.get(name, name)  # type: ignore[return-value]


def is_image(kind: str) -> bool:
    """Pixel inputs: images from pixel columns or from folders."""
    return kind in IMAGE_KINDS


# The three splits every data set is cut into, in the order they are reported.
Split = Literal["train", "validation", "test"]
SPLITS: Final[tuple[Split, ...]] = get_args(Split)
TRAIN: Final = "train"
VALIDATION: Final = "validation"
TEST: Final = "test"

# Where a run or a sweep trial stands; `broken` is a run folder whose files cannot be read, `stale` a run left
# `running` by a process that is gone, `pending` a trial not started yet.
Status = Literal["running", "completed", "interrupted", "failed", "broken", "stale", "pending"]
STATUSES: Final[tuple[Status, ...]] = get_args(Status)
RUNNING: Final = "running"
COMPLETED: Final = "completed"
INTERRUPTED: Final = "interrupted"
FAILED: Final = "failed"
BROKEN: Final = "broken"
STALE: Final = "stale"
PENDING: Final = "pending"
STATUS_COLOURS: Final[dict[str, str]] = {
    RUNNING: "yellow",
    COMPLETED: "green",
    INTERRUPTED: "yellow",
    FAILED: "red",
    BROKEN: "red",
    STALE: "red",
    PENDING: "dim",
}

# Keras backends; a recipe may also say `auto` (the family's measured choice).
Backend = Literal["tensorflow", "jax", "torch"]
KERAS_BACKENDS: Final[tuple[Backend, ...]] = get_args(Backend)
TENSORFLOW: Final = "tensorflow"
JAX: Final = "jax"
TORCH: Final = "torch"
AUTO: Final = "auto"
BACKENDS: Final = (AUTO, *KERAS_BACKENDS)


@dataclass(frozen=True)
class Family:
    """A model family: the module that builds it and the traits every other part of kproto reads from here."""

    name: str
    module: str  # defines the recipe's `model:` section (a pydantic class) and `build(spec, info) -> keras.Model`
    spec: str  # the name of that pydantic class in `module`
    description: str
    inputs: tuple[InputKind, ...]  # data kinds it accepts (INPUT_KINDS)
    task: Task | None = None  # a fixed task (reconstruction, generation); None: inferred from the target column
    backend: Backend = "jax"  # the backend `train.backend: auto` picks (measured on CPU, BENCHMARKS.md)
    fused: bool = False  # can train as one compiled JAX loop per epoch (dense layers on in-memory data)
    engine: str | None = None  # a training engine of its own (kproto.training.engines), instead of fit/fused
    needs_target: bool = True  # False: learns from the inputs alone (no data.target)
    augment: bool = True  # data.augment layers can be put in front of the model
    streaming: bool = True  # can train from data streamed off disk
    distribute: bool = True  # can train with train.distribute
    example_data: str = "iris.csv"  # the shipped data `kproto new` starts a recipe from
    custom_objects: tuple[str, ...] = ()  # modules registering the Keras layers its saved models need to load
    phased: bool = False  # trains in phases (a frozen backbone first, then fine-tuning: kproto.training.phases)
    multi_output: bool = False  # can predict several targets (data.target: [a, b]) with one head per target
    extra_inputs: bool = False  # takes columns of several kinds (MIXED input: model.inputs, model.combine)
    scaling: str = "standard"  # how `data.scaling: auto` scales numeric table columns for it (SCALINGS)
    log_skewed: bool = False  # whether `data.log_skewed: auto` logs its skewed positive table columns (LOG_SKEW)

    @property
    def generative(self) -> bool:
        """Learns the inputs' distribution rather than a target (autoencoder, GAN)."""
        return not self.needs_target


_SEQUENCES = ("text", "window", "table", "image")  # an image is read as a sequence of pixel rows
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "feedforward",
            "kproto.models.feedforward",
            "Feedforward",
            "Dense layers for tabular data (units, activation, dropout, normalization).",
            inputs=("table", "image", "image_folder", "window"),
            extra_inputs=True,
            fused=True,
            multi_output=True,
            custom_objects=("kproto.models.tabular_layers",),
            scaling="robust",
            log_skewed=True,
        ),
        Family(
            "cnn",
            "kproto.models.cnn",
            "CNN",
            "Conv2D blocks with pooling and batch norm, then a dense head (images); Conv1D over time for windows.",
            inputs=("image", "image_folder", "window"),
            extra_inputs=True,
            example_data="digits.csv",
            multi_output=True,
        ),
        Family(
            "rnn",
            "kproto.models.recurrent",
            "RNN",
            "Stacked SimpleRNN layers for sequences (text tokens or time-series windows).",
            inputs=_SEQUENCES,
            extra_inputs=True,
            example_data="sunspots.csv",
            multi_output=True,
        ),
        Family(
            "gru",
            "kproto.models.recurrent",
            "GRU",
            "Stacked GRU layers, optionally bidirectional.",
            inputs=_SEQUENCES,
            extra_inputs=True,
            example_data="sunspots.csv",
            multi_output=True,
        ),
        Family(
            "lstm",
            "kproto.models.recurrent",
            "LSTM",
            "Stacked LSTM layers, optionally bidirectional.",
            inputs=_SEQUENCES,
            extra_inputs=True,
            example_data="sunspots.csv",
            multi_output=True,
        ),
        Family(
            "transformer",
            "kproto.models.transformer",
            "Transformer",
            "Transformer encoder blocks with token/position embedding and a pooled head.",
            inputs=_SEQUENCES,
            extra_inputs=True,
            backend="tensorflow",  # TensorFlow's oneDNN kernels train it faster on CPU
            example_data="reviews.csv",
            custom_objects=("kproto.models.layers",),
            multi_output=True,
        ),
        Family(
            "autoencoder",
            "kproto.models.autoencoder",
            "Autoencoder",
            "Dense or convolutional encoder-decoder; reconstruction error as anomaly score.",
            inputs=("table", "image", "image_folder"),
            task="reconstruction",
            fused=True,  # the dense variant; a convolutional spec says so through `fused_capable`
            needs_target=False,
            example_data="digits.csv",
        ),
        Family(
            "gan",
            "kproto.models.gan",
            "GAN",
            "Generator and discriminator trained adversarially; writes sample grids.",
            inputs=("table", "image"),  # numeric rows, or images from pixel columns
            task="generation",
            backend="tensorflow",  # its adversarial step is a TensorFlow function
            engine="gan",
            needs_target=False,
            augment=False,
            streaming=False,
            distribute=False,
            example_data="digits.csv",
        ),
        Family(
            "seq2seq",
            "kproto.models.seq2seq",
            "Seq2Seq",
            "Encoder-decoder from text to text (Transformer, or GRU/LSTM with attention); greedy or beam decoding.",
            inputs=("pairs",),
            task="seq2seq",
            augment=False,
            streaming=False,
            example_data="pronunciations.csv",
            custom_objects=("kproto.models.seq2seq_layers",),
        ),
        Family(
            "recommender",
            "kproto.models.recommender",
            "Recommender",
            "Users x items: matrix factorization, two-tower or neural CF, for ratings or implicit feedback.",
            inputs=("interactions",),
            augment=False,
            streaming=False,
            example_data="movielens.csv",
            custom_objects=("kproto.models.seq2seq_layers", "kproto.models.recommender_layers"),
        ),
        Family(
            "sequential",
            "kproto.models.sequential",
            "Sequential",
            "An explicit list of Keras layers by class name, for anything the families don't cover.",
            inputs=("table", "image", "image_folder", "text", "window"),
            multi_output=True,
        ),
        Family(
            "pretrained",
            "kproto.models.pretrained",
            "Pretrained",
            "A pretrained backbone (Keras Applications, KerasHub preset, .keras file or kproto run) and a new head.",
            inputs=("table", "image", "image_folder", "text"),
            backend="tensorflow",  # KerasHub tokenizers and preset loading run on TensorFlow
            phased=True,
            streaming=False,
            distribute=False,
            example_data="digits.csv",
            custom_objects=("kproto.models.transfer_layers",),
        ),
    )
}


# How `data.scaling` scales numeric table columns (kproto.data.preprocess.fit_numeric).
SCALINGS = {
    "standard": "Numeric columns minus the training mean, divided by the standard deviation.",
    "robust": "Numeric columns minus the training median, divided by the interquartile range (normal units), then "
    "smoothly clipped: z / sqrt(1 + (z / 3)^2) keeps values within ±3.",
    "quantile": "Numeric columns through their training quantiles onto a standard normal's (rank-based: skew and "
    "outliers vanish, values beyond the training range take the end values, within about ±3.1).",
}

# `data.log_skewed`: a numeric table column whose training values are all positive with a skewness above this is
# scaled as log(1 + x) (an income, an area, an age in days: even steps of ratio). Chosen on bench/quality_tables.py:
# concrete's age (skewness 3.3) rose 0.71 points of validation R²; the other suite tables' such columns moved theirs
# by at most 0.12; letting columns with zeros in (OJ's discounts, ames' porch areas) lowered OJ and ames.
LOG_SKEW = 2.0

# Modules that register serializable Keras objects any kproto model may use, besides each family's own.
CUSTOM_OBJECT_MODULES = (
    "kproto.models.layers",
    "kproto.models.input_layers",
    "kproto.models.class_metrics",
    "kproto.training.schedules",
)


def custom_object_modules() -> list[str]:
    """Every module to import before loading a saved model (each registers its Keras objects once imported)."""
    modules = list(CUSTOM_OBJECT_MODULES)
    for entry in FAMILIES.values():
        modules += [m for m in entry.custom_objects if m not in modules]
    return modules


def family_spec(entry: Family) -> type:
    """The pydantic class of a family's `model:` section (imports its module, which does not import Keras)."""
    import importlib

    return getattr(importlib.import_module(entry.module), entry.spec)


def family(name: str) -> Family:
    """The catalog entry of `name`, or a RecipeError naming the choices (Click's wording, with a suggestion)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise RecipeError(f"unknown model type: {not_one_of(name, list(FAMILIES))}", field="model.type") from None


LOSSES: dict[str, str] = {
    "auto": "Chosen from the task: sparse categorical cross-entropy or mean squared error.",
    "mse": "Mean squared error (regression).",
    "mean_squared_error": "Same as mse.",
    "mae": "Mean absolute error (regression, robust to outliers).",
    "mean_absolute_error": "Same as mae.",
    "mape": "Mean absolute percentage error.",
    "msle": "Mean squared logarithmic error.",
    "huber": "Huber loss: squared near zero, absolute far away.",
    "log_cosh": "Logarithm of the hyperbolic cosine of the error.",
    "binary_crossentropy": "Binary cross-entropy (labels one-hot encoded automatically).",
    "binary_focal_crossentropy": "Focal binary cross-entropy for imbalanced classes.",
    "categorical_crossentropy": "Cross-entropy on one-hot labels (encoded automatically).",
    "categorical_focal_crossentropy": "Focal cross-entropy on one-hot labels.",
    "sparse_categorical_crossentropy": "Cross-entropy on integer class labels.",
    "hinge": "Hinge loss (0/1 labels mapped to -1/+1 by Keras).",
    "squared_hinge": "Squared hinge loss.",
    "categorical_hinge": "Multi-class hinge loss on one-hot labels.",
    "kl_divergence": "Kullback-Leibler divergence between label and predicted distributions.",
    "cosine_similarity": "Negative cosine similarity between labels and predictions.",
    "poisson": "Poisson loss for count targets.",
}

OPTIMIZERS: dict[str, str] = {
    "sgd": "Stochastic gradient descent, with momentum and nesterov options.",
    "adam": "Adam: adaptive moments (the default).",
    "adamw": "Adam with decoupled weight decay.",
    "rmsprop": "RMSprop: scaled by a moving average of squared gradients.",
    "adagrad": "Adagrad: per-parameter rates from accumulated squared gradients.",
    "adadelta": "Adadelta: Adagrad without a decaying learning rate.",
    "adamax": "Adamax: Adam with the infinity norm.",
    "nadam": "Adam with Nesterov momentum.",
    "lion": "Lion: sign-based updates, use a smaller learning rate.",
    "ftrl": "Follow-the-regularized-leader.",
    "adafactor": "Adafactor: memory-light adaptive rates.",
}

SCHEDULES: dict[str, str] = {
    "constant": "A fixed learning rate.",
    "step": "Piecewise constant: boundaries (epochs) and values.",
    "exponential": "Multiply by decay_rate every decay_epochs.",
    "cosine": "Cosine decay to alpha * initial rate over the run.",
    "cosine_restarts": "Cosine decay with warm restarts every first_decay_epochs.",
    "polynomial": "Polynomial decay to end_learning_rate over the run.",
    "one_cycle": "Rise to max_learning_rate, then anneal (Smith's 1cycle).",
    "plateau": "Reduce by factor when the monitored metric stops improving for patience epochs.",
}

ACTIVATIONS: dict[str, str] = {
    "relu": "max(x, 0).",
    "leaky_relu": "relu with a small negative slope.",
    "elu": "Exponential linear unit.",
    "selu": "Scaled elu (self-normalizing networks).",
    "sigmoid": "1 / (1 + exp(-x)).",
    "tanh": "Hyperbolic tangent.",
    "softmax": "Normalized exponentials (a distribution).",
    "swish": "x * sigmoid(x).",
    "silu": "Same as swish.",
    "gelu": "Gaussian error linear unit (Transformers).",
    "mish": "x * tanh(softplus(x)).",
    "softplus": "log(1 + exp(x)).",
    "softsign": "x / (1 + |x|).",
    "relu6": "min(max(x, 0), 6).",
    "hard_sigmoid": "Piecewise linear sigmoid.",
    "hard_silu": "Piecewise linear silu.",
    "hard_swish": "Same as hard_silu.",
    "exponential": "exp(x).",
    "linear": "Identity.",
    "celu": "Continuously differentiable elu.",
    "glu": "Gated linear unit.",
    "log_sigmoid": "log(sigmoid(x)).",
    "log_softmax": "log(softmax(x)).",
    "sparsemax": "Sparse alternative to softmax.",
    "squareplus": "Smooth approximation of relu.",
    "tanh_shrink": "x - tanh(x).",
}


@dataclass(frozen=True)
class Metric:
    """A metric a recipe may name in train.metrics: its task, which way is better, and how Keras computes it."""

    name: str
    description: str
    task: str  # classification or regression
    direction: str  # "max" (higher is better) or "min"
    keras_class: str  # the keras.metrics class (on class indices where `sparse_class` is given)
    sparse_class: str | None = None  # the class used when labels are class indices
    one_hot: bool = False  # computed on one-hot labels (so labels are one-hot encoded when it is asked for)
    on_probabilities: bool = False  # thresholds probabilities: wrapped to read them from logits too
    options: tuple[tuple[str, object], ...] = ()  # constructor arguments besides the name


# kproto's own Keras metrics for the classification scores (kproto.models.class_metrics): they take `num_classes`.
CLASS_SCORE = "kproto.models.class_metrics:ClassScore"
CLASS_AUC = "kproto.models.class_metrics:ClassAUC"

METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "accuracy",
            "Share of rows decided right: at the run's threshold (two classes) or argmax.",
            "classification",
            "max",
            "CategoricalAccuracy",
            sparse_class="SparseCategoricalAccuracy",
        ),
        Metric(
            "precision",
            "Two classes: of the rows decided positive (at the run's threshold), the share that are; more: the "
            "macro average over classes.",
            "classification",
            "max",
            CLASS_SCORE,
            options=(("statistic", "precision"),),
        ),
        Metric(
            "recall",
            "Two classes: of the positive rows, the share decided positive (at the run's threshold); more: the "
            "macro average over classes.",
            "classification",
            "max",
            CLASS_SCORE,
            options=(("statistic", "recall"),),
        ),
        Metric(
            "f1",
            "Two classes: F1 of the positive class at the run's threshold; more: macro F1 over classes.",
            "classification",
            "max",
            CLASS_SCORE,
            options=(("statistic", "f1"),),
        ),
        Metric(
            "macro_f1",
            "F1 of each class at the run's decisions, averaged over the classes.",
            "classification",
            "max",
            CLASS_SCORE,
            options=(("statistic", "macro_f1"),),
        ),
        Metric(
            "balanced_accuracy",
            "Recall of each class at the run's decisions, averaged over the classes.",
            "classification",
            "max",
            CLASS_SCORE,
            options=(("statistic", "balanced_accuracy"),),
        ),
        Metric(
            "auc",
            "Two classes: ROC AUC of the positive class's probability; more: one-vs-rest ROC AUC, macro over classes.",
            "classification",
            "max",
            CLASS_AUC,
            options=(("curve", "ROC"),),
        ),
        Metric(
            "pr_auc",
            "Two classes: average precision (area under the precision-recall curve) of the positive class; more: "
            "one-vs-rest, macro over classes.",
            "classification",
            "max",
            CLASS_AUC,
            options=(("curve", "PR"),),
        ),
        Metric(
            "top_k_accuracy",
            "Share whose true class is among the top 5 predictions.",
            "classification",
            "max",
            "TopKCategoricalAccuracy",
            sparse_class="SparseTopKCategoricalAccuracy",
            one_hot=True,
        ),
        Metric("mae", "Mean absolute error.", "regression", "min", "MeanAbsoluteError"),
        Metric("mse", "Mean squared error.", "regression", "min", "MeanSquaredError"),
        Metric("rmse", "Root mean squared error.", "regression", "min", "RootMeanSquaredError"),
        Metric("r2", "Coefficient of determination R².", "regression", "max", "R2Score"),
        Metric("mape", "Mean absolute percentage error.", "regression", "min", "MeanAbsolutePercentageError"),
        Metric(
            "token_accuracy",
            "Share of target tokens predicted right under teacher forcing, padding left out (seq2seq).",
            "seq2seq",
            "max",
            "kproto.models.seq2seq_layers:TokenAccuracy",
        ),
    )
}

# Metric names that only make sense for one task, and those computed on one-hot labels: read off METRICS.
CLASSIFICATION_METRICS = frozenset(m.name for m in METRICS.values() if m.task == "classification")
REGRESSION_METRICS = frozenset(m.name for m in METRICS.values() if m.task == "regression")
ONE_HOT_METRICS = frozenset(m.name for m in METRICS.values() if m.one_hot)

# Which way is better for every other value Keras or kproto logs (Keras metric and loss names, GAN losses): what
# early stopping, the best epoch, `kproto runs --sort` and sweep ranking (Optuna's direction too) all read.
HIGHER_IS_BETTER = frozenset(
    {
        *(m.name for m in METRICS.values() if m.direction == "max"),
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "prc",
        "f1_score",
        "fbeta_score",
        "r2_score",
        "iou",
        "mean_iou",
        "binary_iou",
        "one_hot_iou",
        "one_hot_mean_iou",
        "cosine_similarity",
        "precision_at_recall",
        "recall_at_precision",
        "sensitivity_at_specificity",
        "specificity_at_sensitivity",
        "true_positives",
        "true_negatives",
        "exact_match",
        "bleu",
        "recall_at_k",
        "ndcg_at_k",
        "hit_rate",
        "coverage",
    }
)
LOWER_IS_BETTER = frozenset(
    {
        *(m.name for m in METRICS.values() if m.direction == "min"),
        *(name for name in LOSSES if name != "auto" and name != "cosine_similarity"),
        "loss",
        "g_loss",
        "d_loss",
        "msle",
        "mean_squared_logarithmic_error",
        "log_cosh",
        "logcosh",
        "poisson",
        "kl",
        "kld",
        "kl_divergence",
        "kullback_leibler_divergence",
        "false_positives",
        "false_negatives",
        "mean_absolute_percentage_error",
        "root_mean_squared_error",
        "token_error_rate",
        "ece",
    }
)
SPLIT_PREFIXES = ("val_", "test_", "train_", "validation_")


def metric_direction(monitor: str) -> str:
    """'min' or 'max': which way is better for a logged value such as val_loss, val_accuracy or test_poisson."""
    name = monitor.lower()
    for prefix in SPLIT_PREFIXES:
        if name.startswith(prefix) and name != prefix:
            name = name[len(prefix) :]
            break
    if name in HIGHER_IS_BETTER:
        return "max"
    if name in LOWER_IS_BETTER:
        return "min"
    if any(word in name for word in ("accuracy", "auc", "iou", "precision", "recall", "f1", "r2", "ndcg", "hit_rate")):
        return "max"
    return "min"  # losses and errors of any other name


def lower_is_better(monitor: str) -> bool:
    """True where a smaller value of the logged `monitor` is better."""
    return metric_direction(monitor) == "min"


AUGMENTATIONS: dict[str, str] = {
    "flip": "Random flips of images: horizontal, vertical or horizontal_and_vertical.",
    "rotation": "Random rotation by up to this fraction of a full turn.",
    "zoom": "Random zoom in or out by up to this fraction.",
    "translation": "Random shift by up to this fraction of height and width.",
    "contrast": "Random contrast change by up to this factor.",
    "noise": "Additive Gaussian noise with this standard deviation (images and sequences).",
    "mask": "Randomly zero this fraction of sequence steps (sequences).",
}

ENGINES: dict[str, str] = {
    "auto": "Pick the fastest engine for the family, data size and device.",
    "fit": "Keras model.fit, one call per epoch.",
    "fused": "A whole epoch as one compiled JAX loop (in-memory data, JAX backend).",
}

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
# train.calibrate: how classifier probabilities are calibrated on the validation split after training.
CALIBRATIONS = ("auto", "temperature", "none")
# train.threshold_metric: what `train.threshold: auto` maximises on the validation split (binary classifiers).
THRESHOLD_METRICS = ("f1", "accuracy", "balanced_accuracy", "precision", "recall", "mcc")
# train.baselines: the baselines a run is compared with (which apply depends on the task and the input).
BASELINES: dict[str, str] = {
    "majority": "classification: the training split's class frequencies, whatever the input",
    "mean": "regression: the training split's mean target",
    "linear": "logistic regression (classification) or ridge (regression) on the preprocessed columns",
    "gradient_boosting": "scikit-learn's histogram gradient boosting on the preprocessed columns, defaults",
    "tfidf_linear": "text: TF-IDF of the tokens, then logistic regression (classification) or ridge",
    "last_value": "forecasting windows: the window's last value",
    "seasonal_naive": "forecasting windows: the value one season earlier (data.window.season, or detected)",
    "linear_ar": "forecasting windows: a ridge autoregression on the same window",
    "copy_input": "seq2seq: the input text as the answer",
    "most_frequent": "seq2seq: the training split's most frequent output",
    "global_mean": "rating recommenders: the training mean rating",
    "user_item_bias": "rating recommenders: mean + user bias + item bias",
    "most_popular": "ranking recommenders: the most popular unseen items",
    "pca": "autoencoders: PCA with as many components as the bottleneck",
}
# data.text_standardize: how free text is cut into tokens (kproto/data/tokenizer.py); the first is the default.
TEXT_STANDARDIZE = ("keep_punctuation", "strip_punctuation", "lower", "none")
# kproto explain --method: how a run's predictions are explained (auto: by the kind of input).
EXPLAIN_METHODS = ("auto", "permutation", "integrated_gradients", "occlusion")
# data.balance: how the training split of a classification recipe is rebalanced.
BALANCE = ("none", "oversample", "undersample")
# train.distribute modes and the backend each one needs (None: any).
DISTRIBUTE: dict[str, str | None] = {
    "none": None,
    "mirrored": "tensorflow",  # tf.distribute.MirroredStrategy over this machine's GPUs
    "multi_worker": "tensorflow",  # tf.distribute.MultiWorkerMirroredStrategy over TF_CONFIG's workers
    "data_parallel": "jax",  # keras.distribution.DataParallel
}
