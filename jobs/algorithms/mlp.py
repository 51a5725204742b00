"""A multilayer perceptron in PyTorch; trains on the GPU when the job has one.

``num_layers`` hidden layers of ``hidden_units`` ReLU units (each followed by ``dropout`` when
set) and a linear output: one logit for ``binary_classifier`` (labels 0/1), ``num_classes``
logits for ``multiclass_classifier`` (labels 0 .. num_classes-1), one value for ``regressor``.
Inputs are standardised with the train channel's mean and standard deviation (a regressor's
label too); the statistics are buffers of the network, so the saved model takes raw features.
``epochs`` passes over shuffled mini-batches of ``mini_batch_size`` with ``optimizer`` (adam, adamw
or sgd with momentum 0.9) at ``learning_rate`` and ``weight_decay``.

The device is ``cuda:0`` when ``SM_NUM_GPUS`` > 0 and PyTorch sees a GPU, else the CPU (with
``SM_NUM_CPUS`` threads); the job prints which. After each epoch it prints the train and
validation ``loss`` (log loss, or mean squared error in the label's units) and the problem's metrics.

Model: ``model.pt``, a ``state_dict`` of tensors (loaded with ``torch.load(weights_only=True)``);
the architecture is in ``algorithm.json`` under ``architecture``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from jobs.algorithms.common import check_predictor_labels, class_outputs, predictor_problem, standardizer
from jobs.algorithms.metrics import BINARY, MULTICLASS, REGRESSION, select_metrics, supervised_metrics

if TYPE_CHECKING:
    from jobs.algorithms.runtime import TrainingContext

MODEL_FILE = "model.pt"
_PREDICT_BATCH = 8192


class MLPNet(nn.Module):
    def __init__(
        self, *, input_dim: int, hidden_units: int, num_layers: int, dropout: float, output_dim: int
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for _ in range(num_layers):
            layers += [nn.Linear(width, hidden_units), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden_units
        layers.append(nn.Linear(width, output_dim))
        self.layers = nn.Sequential(*layers)
        self.register_buffer("x_mean", torch.zeros(input_dim))
        self.register_buffer("x_scale", torch.ones(input_dim))
        self.register_buffer("y_mean", torch.zeros(1))
        self.register_buffer("y_scale", torch.ones(1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers((features - self.x_mean) / self.x_scale)


def _predict(net: MLPNet, problem: str, features: np.ndarray, device: torch.device, classes) -> dict:
    net.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(features), _PREDICT_BATCH):
            block = torch.as_tensor(
                features[start : start + _PREDICT_BATCH], dtype=torch.float32, device=device
            )
            logits = net(block)
            if problem == BINARY:
                logits = torch.sigmoid(logits[:, 0])
            elif problem == MULTICLASS:
                logits = torch.softmax(logits, dim=1)
            else:
                logits = logits[:, 0] * net.y_scale + net.y_mean
            parts.append(logits.double().cpu().numpy())
    values = np.concatenate(parts) if parts else np.empty(0)
    if problem == REGRESSION:
        return {"score": values}
    return class_outputs(problem, values, classes)


def train(ctx: TrainingContext) -> None:
    hp = ctx.hyperparameters
    problem = predictor_problem(hp["predictor_type"])
    for dataset in check_predictor_labels(ctx, problem, hp["num_classes"]):
        dataset.require_complete("mlp")
    torch.manual_seed(hp["seed"])
    torch.set_num_threads(ctx.num_cpus)
    use_cuda = ctx.env.num_gpus > 0 and torch.cuda.is_available()
    device = torch.device("cuda:0" if use_cuda else "cpu")
    ctx.log(f"Training on {device}")

    train_data = ctx.train_data
    validation = ctx.channel("validation")
    features, labels = train_data.features, train_data.labels
    classes = None
    output_dim = 1
    if problem == BINARY:
        classes = [0, 1]
    elif problem == MULTICLASS:
        classes = list(range(hp["num_classes"]))
        output_dim = hp["num_classes"]
    architecture = {
        "input_dim": train_data.feature_dim,
        "hidden_units": hp["hidden_units"],
        "num_layers": hp["num_layers"],
        "dropout": hp["dropout"],
        "output_dim": output_dim,
        "activation": "relu",
    }
    net = MLPNet(**{key: value for key, value in architecture.items() if key != "activation"})
    mean, scale = standardizer(features)
    net.x_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
    net.x_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
    if problem == REGRESSION:
        net.y_mean.fill_(float(labels.mean()))
        net.y_scale.fill_(float(labels.std()) or 1.0)
    net.to(device)

    inputs = torch.as_tensor(features, dtype=torch.float32, device=device)
    if problem == MULTICLASS:
        targets = torch.as_tensor(labels, dtype=torch.long, device=device)
        loss_function: nn.Module = nn.CrossEntropyLoss()
    elif problem == BINARY:
        targets = torch.as_tensor(labels, dtype=torch.float32, device=device)
        loss_function = nn.BCEWithLogitsLoss()
    else:
        targets = (torch.as_tensor(labels, dtype=torch.float32, device=device) - net.y_mean) / net.y_scale
        loss_function = nn.MSELoss()
    optimizer = _optimizer(hp, net)
    generator = torch.Generator().manual_seed(hp["seed"])
    batch = min(hp["mini_batch_size"], len(labels))
    for epoch in range(hp["epochs"]):
        net.train()
        order = torch.randperm(len(labels), generator=generator).to(device)
        for start in range(0, len(labels), batch):
            index = order[start : start + batch]
            logits = net(inputs[index])
            output = logits if problem == MULTICLASS else logits[:, 0]
            loss = loss_function(output, targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        values = {}
        for dataset in (train_data, validation):
            if dataset is None:
                continue
            outputs = _predict(net, problem, dataset.features, device, classes)
            standard = supervised_metrics(problem, dataset.labels, outputs, classes)
            values[dataset.channel] = select_metrics("mlp", problem, standard)
        ctx.log_metrics(epoch, values)
    ctx.model_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in net.state_dict().items()}
    torch.save(state, ctx.model_dir / MODEL_FILE)
    ctx.save_model(
        problem=problem,
        feature_dim=train_data.feature_dim,
        files=[MODEL_FILE],
        classes=classes,
        architecture=architecture,
        device=str(device),
    )


def _optimizer(hp: dict, net: nn.Module) -> torch.optim.Optimizer:
    params = net.parameters()
    if hp["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=hp["learning_rate"], momentum=0.9, weight_decay=hp["weight_decay"])
    if hp["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=hp["learning_rate"], weight_decay=hp["weight_decay"])
    return torch.optim.Adam(params, lr=hp["learning_rate"], weight_decay=hp["weight_decay"])


class MLPPredictor:
    def __init__(self, net: MLPNet, problem: str, classes: list | None) -> None:
        self.net = net
        self.problem = problem
        self.classes = classes

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        return _predict(self.net, self.problem, features, torch.device("cpu"), self.classes)


def load(model_dir: Path, manifest: dict) -> MLPPredictor:
    architecture = dict(manifest["architecture"])
    architecture.pop("activation", None)
    net = MLPNet(**architecture)
    state = torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval()
    return MLPPredictor(net, manifest["problem"], manifest.get("classes"))
